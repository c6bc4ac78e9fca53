"""TF.js's ``tf.linalg`` extras, reached as ``tw.linalg.band_part``, ``tw.linalg.qr`` and
``tw.linalg.gram_schmidt`` (``engine/ops/linalg.py`` re-exports them).

All three are composites of differentiable ops, so gradients flow on every backend.
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

    TF.js's algorithm, composed of differentiable ops (so gradients flow to ``x``):
    ``min(m, n)`` Householder reflections, all batch matrices at once. Reflection ``j`` makes
    ``r[j, j]`` the negated column norm when the pivot is positive and the norm otherwise,
    the last pivot of a square or wide matrix included (numpy's LAPACK leaves that one
    unreflected, so its last column of ``q`` and row of ``r`` may have the other sign).
    Unlike TF.js, an all-zero column gives the identity reflection instead of NaNs.

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
    >>> [[round(v, 4) for v in row] for row in r.tolist()]
    [[-5.0, -2.2], [0.0, -0.4]]
    """
    from engine.ops.core import cast, reshape
    from engine.ops.creation import eye, ones
    from engine.ops.linalg import matmul
    from engine.ops.math import div, equal, greater, mul, neg, sqrt, square, sub, where
    from engine.ops.reduction import sum as reduce_sum
    from engine.ops.shape import broadcast_to, concat, slice, transpose

    x = as_tensor(x)
    if x.rank < 2:
        raise ValueError(f"qr: x must have rank >= 2, got shape {x.shape}")
    if x.dtype not in ("float32", "float64"):
        x = cast(x, "float32")
    dt = x.dtype
    lead = x.shape[:-2]
    m, n = x.shape[-2:]
    b = int(np.prod(lead)) if lead else 1
    r = reshape(x, (b, m, n))
    q = broadcast_to(reshape(eye(m, dtype=dt), (1, m, m)), (b, m, m))
    one = ones((b, 1, 1), dt)
    for j in range(min(m, n)):
        col = slice(r, [0, j, j], [b, m - j, 1])
        norm_x = sqrt(reduce_sum(square(col), 1, keepdims=True))
        rjj = slice(r, [0, j, j], [b, 1, 1])
        s = where(greater(rjj, 0), neg(one), one)
        u1 = sub(rjj, mul(s, norm_x))
        zero_col = equal(norm_x, 0)  # nothing to reflect: the identity (TF.js gives NaN)
        u1 = where(zero_col, one, u1)
        w = div(col, u1)
        if m - j > 1:
            w = concat([one, slice(w, [0, 1, 0], [b, m - j - 1, 1])], 1)
        else:
            w = one
        tau = where(zero_col, mul(one, 0.0), neg(div(mul(s, u1), where(zero_col, one, norm_x))))
        tw_ = mul(tau, w)  # (b, m - j, 1)
        r_end = slice(r, [0, j, 0], [b, m - j, n])
        r_end = sub(r_end, matmul(tw_, matmul(transpose(w, (0, 2, 1)), r_end)))
        r = concat([slice(r, [0, 0, 0], [b, j, n]), r_end], 1) if j else r_end
        q_end = slice(q, [0, 0, j], [b, m, m - j])
        q_end = sub(q_end, matmul(matmul(q_end, w), transpose(tw_, (0, 2, 1))))
        q = concat([slice(q, [0, 0, 0], [b, m, j]), q_end], 2) if j else q_end
    k = m if full_matrices else min(m, n)
    if k < m:
        q = slice(q, [0, 0, 0], [b, m, k])
        r = slice(r, [0, 0, 0], [b, k, n])
    return reshape(q, lead + (m, k)), reshape(r, lead + (k, n))
