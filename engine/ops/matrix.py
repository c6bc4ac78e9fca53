"""TF.js's ``tf.linalg`` extras, reached as ``tw.linalg.band_part``, ``tw.linalg.qr`` and
``tw.linalg.gram_schmidt`` (``engine/ops/linalg.py`` re-exports them).

``band_part`` and ``gram_schmidt`` are composites of differentiable ops; ``qr`` runs
numpy's LAPACK QR on the host (no gradient).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine import dtypes
from engine.ops.core import as_tensor, tensor
from engine.tensor import Tensor
from engine.typing import TensorLike


def band_part(a: TensorLike, num_lower: int, num_upper: int) -> Tensor:
    """Keep a band around the diagonal of each matrix, zeroing the rest (TF.js
    ``linalg.bandPart``).

    Element ``(i, j)`` of each innermost matrix is kept when ``i - j <= num_lower`` (or
    ``num_lower < 0``: the whole lower triangle) and ``j - i <= num_upper`` (or
    ``num_upper < 0``). ``band_part(a, 0, -1)`` is the upper triangle, ``(-1, 0)`` the lower,
    ``(0, 0)`` the diagonal.

    Args:
        a: Rank >= 2; the last two axes are the matrices.
        num_lower: Subdiagonals to keep (negative: all).
        num_upper: Superdiagonals to keep (negative: all).

    Returns:
        A Tensor of ``a``'s shape and dtype.

    Raises:
        ValueError: ``a`` of rank < 2, or a band wider than the matrix (as TF.js).

    Example:

    >>> a = tw.reshape(tw.range(1, 10), [3, 3])
    >>> tw.linalg.band_part(a, 0, -1).tolist()
    [[1.0, 2.0, 3.0], [0.0, 5.0, 6.0], [0.0, 0.0, 9.0]]
    """
    from engine.ops.creation import zeros_like
    from engine.ops.math import where

    a = as_tensor(a)
    if a.rank < 2:
        raise ValueError(f"band_part: a must have rank >= 2, got shape {a.shape}")
    lo = dtypes.as_int(num_lower, "band_part: num_lower")
    hi = dtypes.as_int(num_upper, "band_part: num_upper")
    m, n = a.shape[-2:]
    if lo > m or hi > n:
        raise ValueError(
            f"band_part: num_lower ({lo}) must be <= {m} rows and num_upper ({hi}) <= {n} "
            f"columns of matrices of shape {a.shape}"
        )
    i = np.arange(m)[:, None]
    j = np.arange(n)[None, :]
    keep = ((lo < 0) | (i - j <= lo)) & ((hi < 0) | (j - i <= hi))
    return where(tensor(keep, dtype="bool"), a, zeros_like(a))


def gram_schmidt(xs: TensorLike | Sequence[TensorLike]) -> Tensor | list[Tensor]:
    """Orthonormalise vectors by the (modified) Gram-Schmidt process (TF.js
    ``linalg.gramSchmidt``).

    Each vector has its projections on the earlier (already orthonormal) ones removed one
    after another, then is divided by its norm. Built from differentiable ops.

    Args:
        xs: A list of 1-D tensors of one length, or a 2-D tensor whose rows are the vectors;
            no more vectors than their length, and linearly independent.

    Returns:
        Orthonormal vectors in the form given: a list of 1-D Tensors, or a 2-D Tensor.

    Raises:
        ValueError: No vectors, vectors of different lengths or ranks, or more vectors than
            dimensions.

    Example:

    >>> y = tw.linalg.gram_schmidt(tw.tensor([[1.0, 1.0], [1.0, 0.0]]))
    >>> [[round(v, 4) for v in row] for row in y.tolist()]
    [[0.7071, 0.7071], [0.7071, -0.7071]]
    """
    from engine.ops.math import div, mul, sub
    from engine.ops.reduction import norm
    from engine.ops.reduction import sum as reduce_sum
    from engine.ops.shape import stack, unstack

    as_matrix = not isinstance(xs, (list, tuple))
    if as_matrix:
        m = as_tensor(xs)
        if m.rank != 2:
            raise ValueError(
                f"gram_schmidt: a tensor argument must be 2-D (rows are vectors), got {m.shape}"
            )
        vs = unstack(m, 0)
    else:
        vs = [as_tensor(v) for v in xs]
    if not vs:
        raise ValueError("gram_schmidt: needs at least one vector")
    dim = vs[0].shape[0] if vs[0].rank == 1 else -1
    if any(v.rank != 1 or v.shape[0] != dim for v in vs):
        raise ValueError(
            f"gram_schmidt: vectors must be 1-D of one length, got {[v.shape for v in vs]}"
        )
    if len(vs) > dim:
        raise ValueError(
            f"gram_schmidt: {len(vs)} vectors exceed their dimension {dim}; at most {dim} "
            "can be orthonormal"
        )
    ys: list[Tensor] = []
    for x in vs:
        for y in ys:
            x = sub(x, mul(reduce_sum(mul(y, x)), y))
        ys.append(div(x, norm(x, "euclidean")))
    return stack(ys, 0) if as_matrix else ys


def qr(x: TensorLike, full_matrices: bool = False) -> tuple[Tensor, Tensor]:
    """The QR decomposition ``x = q @ r`` of each innermost matrix (TF.js ``linalg.qr``).

    Computed on the host by numpy's LAPACK (Householder reflections, TF.js's method and sign
    convention: ``r``'s diagonal takes the sign opposite to the column's leading entry), so
    ``x`` is read back, the factors are uploaded, and **no gradient** flows through ``qr``.

    Args:
        x: A float tensor of rank >= 2, ``(..., m, n)``.
        full_matrices: ``q`` is ``(..., m, m)`` and ``r`` ``(..., m, n)``; otherwise (the
            default) ``q`` is ``(..., m, k)`` and ``r`` ``(..., k, n)``, ``k = min(m, n)``.

    Returns:
        ``(q, r)``: ``q`` with orthonormal columns, ``r`` upper triangular, in ``x``'s
        float dtype (float32 for integer input).

    Raises:
        ValueError: ``x`` of rank < 2.

    Example:

    >>> q, r = tw.linalg.qr(tw.tensor([[3.0, 1.0], [4.0, 2.0]]))
    >>> bool(tw.all(tw.less(tw.abs(tw.matmul(q, r) - tw.tensor([[3.0, 1.0], [4.0, 2.0]])), 1e-5)))
    True
    """
    x = as_tensor(x)
    if x.rank < 2:
        raise ValueError(f"qr: x must have rank >= 2, got shape {x.shape}")
    dt = x.dtype if x.dtype in ("float32", "float64") else "float32"
    arr = x.numpy().astype(np.float64)
    m, n = x.shape[-2:]
    k = m if full_matrices else min(m, n)
    if arr.size == 0:
        q = np.zeros(x.shape[:-2] + (m, k))
        r = np.zeros(x.shape[:-2] + (k, n))
        if full_matrices or m <= n:
            q[..., np.arange(k), np.arange(k)] = 1.0
    else:
        q, r = np.linalg.qr(arr, mode="complete" if full_matrices else "reduced")
    return tensor(q, dtype=dt), tensor(r, dtype=dt)
