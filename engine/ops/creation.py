"""Tensor creation: constants, ranges and seeded random tensors.

Random values are drawn on the host from numpy's Philox generator and uploaded, so one seed
gives the same numbers on every backend (weights initialised on ``cpu`` equal those on
``cuda``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import dispatch, dtypes
from engine.ops.core import as_tensor, cast, tensor
from engine.ops.shape import one_hot
from engine.tensor import Tensor, Variable
from engine.typing import DTypeLike, ShapeLike, TensorLike

_seed_state = {"seed": None, "counter": 0}


def set_seed(seed: int | None) -> None:
    """Seed the global random sequence so later random ops are reproducible.

    Initialisers, dropout, ``fit``'s shuffling and the ``random_*`` ops without their own
    ``seed`` draw from it; values are drawn on the host, so one seed gives the same numbers
    on every backend.

    Args:
        seed: An int, or ``None`` to go back to unseeded (fresh entropy) draws.

    Example:

    >>> tw.set_seed(42)
    >>> a = tw.random_uniform([3]).tolist()
    >>> tw.set_seed(42)
    >>> a == tw.random_uniform([3]).tolist()
    True
    >>> tw.set_seed(None)  # back to fresh entropy
    """
    _seed_state["seed"] = dtypes.as_int(seed, "set_seed: seed", minimum=0, allow_none=True)
    _seed_state["counter"] = 0


def rng(seed: int | None = None) -> np.random.Generator:
    """The numpy generator random ops draw from.

    Args:
        seed: A seed for a generator of its own; ``None`` takes the next generator of the
            global sequence (``set_seed``), or an unseeded one when no global seed is set.

    Returns:
        A ``numpy.random.Generator`` (Philox).
    """
    if seed is not None:
        return np.random.Generator(np.random.Philox(dtypes.as_int(seed, "seed", minimum=0)))
    base = _seed_state["seed"]
    if base is None:
        return np.random.default_rng()
    _seed_state["counter"] += 1
    return np.random.Generator(np.random.Philox(key=base, counter=_seed_state["counter"]))


def _shape(shape: Any, op: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        items = list(shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be a sequence of ints, got {shape!r}") from None
    out = dtypes.as_ints(items, f"{op}: shape")
    if any(s < 0 for s in out):
        raise ValueError(f"{op}: shape {out} has a negative dimension")
    return out


def fill(shape: ShapeLike, value: float | int | bool, dtype: DTypeLike | None = None) -> Tensor:
    """A tensor of ``shape`` filled with ``value`` (TF.js ``fill``).

    Args:
        shape: The shape.
        value: A scalar.
        dtype: The dtype; default bool for a bool ``value``, else float32 (as TF.js).

    Returns:
        The new Tensor.

    Raises:
        ValueError: ``value`` is not a scalar, does not fit ``dtype`` (NaN or 2**40 into
            int32, 1e300 into float32), or ``shape`` has a negative dimension.

    Example:

    >>> tw.fill([2, 2], 7).tolist()
    [[7.0, 7.0], [7.0, 7.0]]
    """
    shape = _shape(shape, "fill")
    if dtype is None:
        dt = "bool" if isinstance(value, bool) else "int32" if isinstance(value, int) else "float32"
        dt = "float32" if dt == "int32" else dt  # numbers are float32 by default, as TF.js
    else:
        dt = dtypes.as_dtype(dtype)
    if np.ndim(value) != 0:
        raise ValueError(f"fill: value must be a scalar, got {value!r}")
    value = dtypes.to_host_array(value, dt, "fill").item()
    return dispatch.run(
        "fill",
        (),
        {"shape": shape, "value": value},
        shape,
        dt,
        lambda be: be.fill(shape, value, dt),
    )


def zeros(shape: ShapeLike, dtype: DTypeLike = "float32") -> Tensor:
    """A tensor of zeros (TF.js ``zeros``).

    Args:
        shape: The shape.
        dtype: The dtype.

    Returns:
        The new Tensor.

    Example:

    >>> tw.zeros([2, 3]).shape
    (2, 3)
    """
    return fill(shape, 0, dtype)


def ones(shape: ShapeLike, dtype: DTypeLike = "float32") -> Tensor:
    """A tensor of ones (TF.js ``ones``).

    Args:
        shape: The shape.
        dtype: The dtype.

    Returns:
        The new Tensor.

    Example:

    >>> tw.ones([2], dtype="int32").tolist()
    [1, 1]
    """
    return fill(shape, 1, dtype)


def zeros_like(x: TensorLike) -> Tensor:
    """Zeros with the shape and dtype of ``x`` (``False`` for bool).

    Args:
        x: A tensor-like value.

    Returns:
        The new Tensor.
    """
    x = as_tensor(x)
    return fill(x.shape, False if x.dtype == "bool" else 0, x.dtype)


def ones_like(x: TensorLike) -> Tensor:
    """Ones with the shape and dtype of ``x`` (``True`` for bool).

    Args:
        x: A tensor-like value.

    Returns:
        The new Tensor.
    """
    x = as_tensor(x)
    return fill(x.shape, True if x.dtype == "bool" else 1, x.dtype)


def eye(num_rows: int, num_columns: int | None = None, dtype: DTypeLike = "float32") -> Tensor:
    """An identity matrix (TF.js ``eye``).

    Args:
        num_rows: Rows.
        num_columns: Columns (default ``num_rows``; a rectangular matrix otherwise).
        dtype: The dtype.

    Returns:
        A ``(num_rows, num_columns)`` Tensor with ones on the diagonal.

    Example:

    >>> tw.eye(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    n = dtypes.as_int(num_rows, "eye: num_rows", minimum=0)
    m = n if num_columns is None else dtypes.as_int(num_columns, "eye: num_columns", minimum=0)
    idx = np.arange(n, dtype=np.int32)
    return one_hot(tensor(idx, dtype="int32"), m, 1, 0, dtypes.as_dtype(dtype))


def range(
    start: float, stop: float | None = None, step: float = 1, dtype: DTypeLike = "float32"
) -> Tensor:  # noqa: A001
    """Evenly spaced values in ``[start, stop)`` (TF.js ``range``).

    Args:
        start: The first value (or, without ``stop``, the end of ``[0, start)``).
        stop: The end, excluded.
        step: The spacing (may be negative; not 0).
        dtype: The dtype.

    Returns:
        A 1-D Tensor.

    Raises:
        ValueError: ``step`` is 0.

    Example:

    >>> tw.range(0, 5, 2).tolist()
    [0.0, 2.0, 4.0]
    """
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("range: step must not be 0")
    dt = dtypes.as_dtype(dtype)
    return tensor(np.arange(start, stop, step), dtype=dt)


def linspace(start: float, stop: float, num: int) -> Tensor:
    """``num`` evenly spaced float32 values from ``start`` to ``stop``, both included.

    Args:
        start: The first value.
        stop: The last value.
        num: How many values (positive).

    Returns:
        A 1-D float32 Tensor.

    Raises:
        ValueError: ``num`` is not positive.

    Example:

    >>> tw.linspace(0, 1, 3).tolist()
    [0.0, 0.5, 1.0]
    """
    num = dtypes.as_int(num, "linspace: num")
    if num <= 0:
        raise ValueError(f"linspace: num must be positive, got {num}")
    return tensor(np.linspace(start, stop, num), dtype="float32")


def _random(name: str, shape: tuple[int, ...], dt: str, attrs: dict, draw) -> Tensor:
    """A kernel whose invoke draws ``draw(generator)`` on the host at each call and uploads it:
    replaying a trace draws fresh values from the global seed sequence, in eager order."""
    from engine.ops.core import check_dtype_supported

    check_dtype_supported(dt, name)
    seed = attrs.get("seed")
    np_dt = dtypes.to_numpy_dtype(dt)

    def invoke(be: Any) -> Any:
        arr = np.array(draw(rng(seed)), dtype=np_dt, order="C").reshape(shape)
        return be.from_numpy(arr)

    return dispatch.run(name, (), attrs, shape, dt, invoke)


def random_uniform(
    shape: Sequence[int],
    minval: float = 0,
    maxval: float = 1,
    dtype: DTypeLike = "float32",
    seed: int | None = None,
) -> Tensor:
    """Uniformly distributed values in ``[minval, maxval)`` (TF.js ``randomUniform``).

    Args:
        shape: The shape.
        minval: The lower bound, included.
        maxval: The upper bound, excluded.
        dtype: float32, float64 or int32 (integers in ``[int(minval), int(maxval))``).
        seed: A seed for this call; default the global sequence (``set_seed``).

    Returns:
        The new Tensor.

    Example:

    >>> x = tw.random_uniform([2, 3], minval=-1, maxval=1, seed=0)
    >>> x.shape, bool(tw.all(tw.less(tw.abs(x), 1)))
    ((2, 3), True)
    """
    shape = _shape(shape, "random_uniform")
    dt = dtypes.as_dtype(dtype)
    attrs = {"minval": minval, "maxval": maxval, "seed": seed}
    if dt == "int32":
        lo, hi = int(minval), int(maxval)
        return _random("random_uniform", shape, dt, attrs, lambda g: g.integers(lo, hi, size=shape))
    return _random(
        "random_uniform", shape, dt, attrs, lambda g: g.uniform(minval, maxval, size=shape)
    )


def random_normal(
    shape: Sequence[int],
    mean: float = 0,
    stddev: float = 1,
    dtype: DTypeLike = "float32",
    seed: int | None = None,
) -> Tensor:
    """Normally distributed values (TF.js ``randomNormal``).

    Args:
        shape: The shape.
        mean: The mean.
        stddev: The standard deviation.
        dtype: float32 or float64.
        seed: A seed for this call; default the global sequence (``set_seed``).

    Returns:
        The new Tensor.

    Example:

    >>> tw.random_normal([2, 2], seed=1).shape
    (2, 2)
    """
    shape = _shape(shape, "random_normal")
    attrs = {"mean": mean, "stddev": stddev, "seed": seed}
    return _random(
        "random_normal",
        shape,
        dtypes.as_dtype(dtype),
        attrs,
        lambda g: g.normal(mean, stddev, size=shape),
    )


def truncated_normal(
    shape: Sequence[int],
    mean: float = 0,
    stddev: float = 1,
    dtype: DTypeLike = "float32",
    seed: int | None = None,
) -> Tensor:
    """Normal values, redrawn when more than two standard deviations from the mean.

    Args:
        shape: The shape.
        mean: The mean.
        stddev: The standard deviation before truncation.
        dtype: float32 or float64.
        seed: A seed for this call; default the global sequence (``set_seed``).

    Returns:
        The new Tensor, every value within ``mean +- 2 * stddev``.
    """
    shape = _shape(shape, "truncated_normal")
    n = int(np.prod(shape))

    def draw(g: np.random.Generator) -> np.ndarray:
        out = g.normal(0, 1, size=n)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = g.normal(0, 1, size=int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * stddev + mean).reshape(shape)

    attrs = {"mean": mean, "stddev": stddev, "seed": seed}
    return _random("truncated_normal", shape, dtypes.as_dtype(dtype), attrs, draw)


def variable(
    initial_value: TensorLike,
    trainable: bool = True,
    name: str | None = None,
    dtype: DTypeLike | None = None,
) -> Variable:
    """A mutable tensor whose value ``assign`` replaces (TF.js ``variable``).

    Trainable variables are what ``tw.variable_grads`` and the optimizers differentiate and
    update.

    Args:
        initial_value: The initial value (converted as ``tensor`` does).
        trainable: Whether gradients are taken with respect to it.
        name: A name (a unique default otherwise).
        dtype: Cast the initial value to this dtype.

    Returns:
        A ``Variable``.

    Example:

    >>> v = tw.variable([1.0, 2.0])
    >>> _ = v.assign(tw.tensor([3.0, 4.0]))
    >>> v.tolist()
    [3.0, 4.0]
    """
    t = as_tensor(initial_value)
    if dtype is not None:
        t = cast(t, dtype)
    s = t._live()
    return Variable(s, t.shape, t.dtype, trainable=trainable, name=name)
