"""More seeded random tensors: random_uniform_int, random_standard_normal, random_gamma,
multinomial.

As ``engine.ops.creation``'s random ops, values are drawn on the host from numpy's Philox
generator (a ``seed`` of their own, or the global ``set_seed`` sequence) and uploaded, so
one seed gives the same numbers on every backend. TF.js's own generator (seedrandom's
alea) is not reproduced: the same seed gives other numbers than in TF.js, from the same
distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine import dtypes
from engine.ops.creation import _random, _shape, random_uniform
from engine.tensor import Tensor
from engine.typing import DTypeLike, TensorLike


def random_uniform_int(
    shape: Sequence[int], minval: int, maxval: int, seed: int | None = None
) -> Tensor:
    """Uniformly distributed int32 values in ``[minval, maxval)`` (TF.js
    ``randomUniformInt``).

    Args:
        shape: The shape.
        minval: The lower bound, included.
        maxval: The upper bound, excluded (greater than ``minval``).
        seed: A seed for this call; default the global sequence (``set_seed``).

    Returns:
        An int32 Tensor.

    Raises:
        ValueError: ``maxval <= minval``, or bounds outside int32.

    Example:

    >>> x = tw.random_uniform_int([1000], 2, 5, seed=0)
    >>> x.dtype, sorted(set(x.tolist()))
    ('int32', [2, 3, 4])
    """
    shape = _shape(shape, "random_uniform_int")
    lo = dtypes.as_int(minval, "random_uniform_int: minval")
    hi = dtypes.as_int(maxval, "random_uniform_int: maxval")
    if hi <= lo:
        raise ValueError(f"random_uniform_int: maxval {hi} must be greater than minval {lo}")
    if lo < -(2**31) or hi > 2**31:
        raise ValueError(f"random_uniform_int: [{lo}, {hi}) does not fit int32")
    attrs = {"minval": lo, "maxval": hi, "seed": seed}
    return _random(
        "random_uniform_int", shape, "int32", attrs, lambda g: g.integers(lo, hi, size=shape)
    )


def random_standard_normal(
    shape: Sequence[int], dtype: DTypeLike = "float32", seed: int | None = None
) -> Tensor:
    """Values from the standard normal distribution, mean 0 and standard deviation 1 (TF.js
    ``randomStandardNormal``).

    Args:
        shape: The shape.
        dtype: float32 or float64 (where the backend supports it).
        seed: A seed for this call; default the global sequence (``set_seed``).

    Returns:
        The new Tensor.

    Raises:
        TypeError: A dtype that is not a float type.

    Example:

    >>> x = tw.random_standard_normal([20000], seed=3)
    >>> abs(float(tw.mean(x).item())) < 0.05
    True
    """
    shape = _shape(shape, "random_standard_normal")
    dt = dtypes.as_dtype(dtype)
    if dt not in ("float32", "float64"):
        raise TypeError(f"random_standard_normal: dtype must be float32 or float64, got {dt}")
    return _random(
        "random_standard_normal",
        shape,
        dt,
        {"seed": seed},
        lambda g: g.standard_normal(size=shape),
    )


def random_gamma(
    shape: Sequence[int],
    alpha: float,
    beta: float = 1.0,
    dtype: DTypeLike = "float32",
    seed: int | None = None,
) -> Tensor:
    """Values from a gamma distribution (TF.js ``randomGamma``).

    TF.js documents ``beta`` as the inverse scale (rate), but its sampler multiplies the
    standard gamma draw by ``beta`` (``RandGamma`` stores ``1 / beta`` and multiplies by its
    inverse), so its values have mean ``alpha * beta``. This op matches what TF.js returns:
    a draw of ``Gamma(alpha, scale=beta)``, mean ``alpha * beta``, variance
    ``alpha * beta**2``. int32 rounds the values, as TF.js.

    Args:
        shape: The shape.
        alpha: The shape parameter (> 0).
        beta: The factor applied to a ``Gamma(alpha, 1)`` draw (> 0, default 1).
        dtype: float32 or int32 (as TF.js), or float64 where the backend supports it.
        seed: A seed for this call; default the global sequence (``set_seed``).

    Returns:
        The new Tensor.

    Raises:
        ValueError: ``alpha`` or ``beta`` not positive.
        TypeError: An unsupported dtype.

    Example:

    >>> x = tw.random_gamma([20000], 2.0, 3.0, seed=1)
    >>> abs(float(tw.mean(x).item()) - 6.0) < 0.2
    True
    """
    import numpy as np

    shape = _shape(shape, "random_gamma")
    dt = dtypes.as_dtype(dtype)
    if dt not in ("float32", "float64", "int32"):
        raise TypeError(f"random_gamma: dtype must be float32 or int32, got {dt}")
    alpha, beta = float(alpha), float(beta)
    if not (alpha > 0 and beta > 0):
        raise ValueError(f"random_gamma: alpha ({alpha}) and beta ({beta}) must be > 0")

    def draw(g: np.random.Generator) -> np.ndarray:
        out = g.gamma(alpha, beta, size=shape)
        return np.round(out) if dt == "int32" else out

    attrs = {"alpha": alpha, "beta": beta, "seed": seed}
    return _random("random_gamma", shape, dt, attrs, draw)


def multinomial(
    logits: TensorLike, num_samples: int, seed: int | None = None, normalized: bool = False
) -> Tensor:
    """Draw class indices from categorical distributions (TF.js ``multinomial``).

    Each row of ``logits`` is one distribution over its last axis: unnormalised log
    probabilities, or probabilities when ``normalized`` is true. Sampling runs on the device:
    the row's cumulative probabilities are compared with uniform draws (from the same host
    generator as the other random ops), so a seed gives the same samples on every backend
    (not TF.js's numbers). Rows of probabilities need not sum exactly to 1: draws are scaled by
    the row's total.

    Args:
        logits: A 1-D ``[classes]`` or 2-D ``[batch, classes]`` float tensor.
        num_samples: Samples to draw per row (>= 1).
        seed: A seed for this call; default the global sequence (``set_seed``).
        normalized: Whether ``logits`` already holds probabilities.

    Returns:
        An int32 Tensor ``[num_samples]`` (1-D input) or ``[batch, num_samples]``.

    Raises:
        ValueError: ``logits`` not 1-D or 2-D, no classes, or ``num_samples`` < 1.

    Example:

    >>> s = tw.multinomial(tw.tensor([0.0, 0.0, 100.0]), 5, seed=1)
    >>> s.tolist()
    [2, 2, 2, 2, 2]
    """
    from engine.ops.activations import softmax
    from engine.ops.core import as_tensor, cast, reshape
    from engine.ops.math import greater_equal, minimum, mul
    from engine.ops.reduction import cumsum
    from engine.ops.reduction import sum as rsum

    x = as_tensor(logits)
    if x.rank not in (1, 2):
        raise ValueError(f"multinomial: logits must be 1-D or 2-D, got shape {x.shape}")
    n = dtypes.as_int(num_samples, "multinomial: num_samples")
    if n < 1:
        raise ValueError(f"multinomial: num_samples must be >= 1, got {n}")
    classes = x.shape[-1]
    if classes < 1:
        raise ValueError(f"multinomial: logits need at least one class, got shape {x.shape}")
    rows = reshape(x, (-1, classes))
    if rows.dtype not in ("float32", "float64"):
        rows = cast(rows, "float32")
    probs = rows if normalized else softmax(rows, -1)
    cdf = cumsum(probs, axis=-1)  # [batch, classes]
    total = reshape(cdf[:, classes - 1 :], (-1, 1, 1))
    batch = rows.shape[0]
    u = mul(random_uniform((batch, n, 1), 0.0, 1.0, rows.dtype, seed), total)  # [batch, n, 1]
    # the sample is the number of cumulative bins the draw passed: sum(u >= cdf)
    passed = greater_equal(u, reshape(cdf, (batch, 1, classes)))
    idx = minimum(rsum(cast(passed, "int32"), -1), classes - 1)  # [batch, n]
    return reshape(idx, (n,)) if x.rank == 1 else idx
