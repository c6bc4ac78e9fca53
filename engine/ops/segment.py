"""Scatter-style composites: unsorted_segment_sum, bincount, dense_bincount and
tensor_scatter_update, built on ``scatter_add`` (whose gradient is a gather) and ``where``.

Indices are checked: ``unsorted_segment_sum`` and ``tensor_scatter_update`` on the device
(an IndexError naming the op, the bad index, its position and the shape; no host read, so
traced steps stay traced), ``bincount``/``dense_bincount`` on the host (their values are
read back once to reject negative ones, as TF.js's kernels do).
"""

from __future__ import annotations

import numpy as np

from engine import dtypes
from engine.ops.core import as_tensor, cast, reshape, tensor
from engine.ops.shape import _index_tensor, _linear_indices, _ravel_checked, scatter_add, slice
from engine.tensor import Tensor
from engine.typing import TensorLike


def unsorted_segment_sum(x: TensorLike, segment_ids: TensorLike, num_segments: int) -> Tensor:
    """Sum the slices of ``x`` that share a segment id (TF.js ``unsortedSegmentSum``).

    ``segment_ids`` has the shape of the leading axes of ``x`` (TF.js: a vector of length
    ``x.shape[0]``); ``out[s] = sum of x[i...] over the positions i with segment_ids[i] == s``,
    zero for ids that never occur. Every id must be in ``[0, num_segments)``: an id outside
    raises an IndexError (TF drops negative ids silently; here they are an error, as
    ``gather``'s are). The gradient with respect to ``x`` is a gather of the output gradient.

    Args:
        x: The data.
        segment_ids: int32 ids of shape ``x.shape[:k]`` (usually k = 1).
        num_segments: The number of segments (>= 0).

    Returns:
        A Tensor of shape ``(num_segments,) + x.shape[k:]`` and ``x``'s dtype (bool sums as
        int32).

    Raises:
        ValueError: ``segment_ids``' shape is not a prefix of ``x``'s, or ``num_segments`` < 0
            or > 2**31 - 1.
        IndexError: An id outside ``[0, num_segments)``.

    Example:

    >>> x = tw.tensor([[1, 2], [3, 4], [5, 6]])
    >>> tw.unsorted_segment_sum(x, tw.tensor([1, 0, 1], dtype="int32"), 2).tolist()
    [[3.0, 4.0], [6.0, 8.0]]
    """
    x = as_tensor(x)
    ids = _index_tensor(segment_ids, "unsorted_segment_sum")
    n = dtypes.as_int(num_segments, "unsorted_segment_sum: num_segments", minimum=0)
    if n > dtypes.INT32_MAX:
        raise ValueError(
            f"unsorted_segment_sum: num_segments {n} exceeds {dtypes.INT32_MAX}: segment ids "
            "are int32, so no id could reach the segments above that"
        )
    if x.dtype == "bool":
        x = cast(x, "int32")
    k = ids.rank
    if x.shape[:k] != ids.shape:
        raise ValueError(
            f"unsorted_segment_sum: segment_ids of shape {ids.shape} must match the leading "
            f"axes of x of shape {x.shape}"
        )
    rest = x.shape[k:]
    m = ids.size
    out_shape = (n,) + rest
    flat_ids = reshape(ids, (m, 1))
    if m:
        flat_ids = _ravel_checked(flat_ids, (n,), "unsorted_segment_sum", out_shape)
    else:
        flat_ids = reshape(flat_ids, (0,))
    return scatter_add(reshape(x, (m,) + rest), flat_ids, 0, n, _checked=True)


def _check_bins(x: Tensor, op: str) -> None:
    xa = x.numpy()
    if xa.size and int(xa.min()) < 0:
        pos = np.unravel_index(int(np.argmax(xa.reshape(-1) < 0)), xa.shape)
        raise IndexError(
            f"{op}: x must be non-negative (bin indices), got {int(xa[pos])} at position "
            f"{tuple(int(p) for p in pos)} of x of shape {x.shape}"
        )


def _bincount(
    op: str, x: TensorLike, weights: TensorLike | None, size: int, binary: bool, ranks: tuple
) -> Tensor:
    from engine.ops.creation import ones
    from engine.ops.math import add, greater, greater_equal, where

    xi = _index_tensor(x, op)
    if xi.rank not in ranks:
        raise ValueError(f"{op}: x must have rank {' or '.join(map(str, ranks))}, got {xi.shape}")
    size = dtypes.as_int(size, f"{op}: size", minimum=0)
    w = None if weights is None else as_tensor(weights)
    if w is not None and w.size == 0:
        dt, w = w.dtype, None  # TF.js: an empty weights tensor counts, in its dtype
    elif w is not None:
        if w.shape != xi.shape:
            raise ValueError(
                f"{op}: weights of shape {w.shape} must have the shape of x {xi.shape} "
                "(or be empty)"
            )
        dt = "int32" if w.dtype == "bool" else w.dtype
        w = cast(w, dt)
    else:
        dt = "float32"
    _check_bins(xi, op)
    rows = xi.shape[0] if xi.rank == 2 else 1
    width = size + 1  # values >= size land in a spare bin that is cut off
    clamped = where(greater_equal(xi, size), tensor(size, dtype="int32"), xi)
    if xi.rank == 2:
        offsets = tensor(np.arange(rows, dtype=np.int32)[:, None] * width, dtype="int32")
        clamped = add(clamped, offsets)
    vals = ones(xi.shape, dt) if w is None or binary else w
    flat = reshape(clamped, (-1,))
    counts = scatter_add(reshape(vals, (-1,)), flat, 0, rows * width, _checked=True)
    counts = reshape(counts, (rows, width))
    if binary:
        counts = cast(greater(counts, tensor(0, dtype=dt)), dt)
    counts = slice(counts, [0, 0], [rows, size])
    return counts if xi.rank == 2 else reshape(counts, (size,))


def bincount(x: TensorLike, weights: TensorLike | None, size: int) -> Tensor:
    """Count (or sum ``weights`` for) each value of a vector of non-negative ints (TF.js
    ``bincount``).

    ``out[v]`` is the number of times ``v`` occurs in ``x`` (with ``weights``: the sum of the
    weights at those positions); values ``>= size`` are ignored, as TF.js. ``x`` is read back
    once to reject negative values.

    Args:
        x: A rank-1 int32 tensor of non-negative values.
        weights: ``None``, an empty tensor, or a tensor of ``x``'s shape.
        size: The number of bins (>= 0).

    Returns:
        A rank-1 Tensor of length ``size``, in the weights' dtype (an empty weights tensor
        counts in its dtype; ``None`` counts in float32, as TF.js's default ``[]``).

    Raises:
        ValueError: ``x`` is not rank 1, or weights of another shape.
        IndexError: A negative value in ``x``.

    Example:

    >>> tw.bincount(tw.tensor([1, 1, 3, 7], dtype="int32"), None, 5).tolist()
    [0.0, 2.0, 0.0, 1.0, 0.0]
    """
    return _bincount("bincount", x, weights, size, False, (1,))


def dense_bincount(
    x: TensorLike, weights: TensorLike | None, size: int, binary_output: bool = False
) -> Tensor:
    """``bincount`` of a vector, or of each row of a matrix (TF.js ``denseBincount``, same
    argument order).

    Args:
        x: A rank-1 or rank-2 int32 tensor of non-negative values; values ``>= size`` are
            ignored.
        weights: ``None``, an empty tensor, or a tensor of ``x``'s shape.
        size: The number of bins (>= 0).
        binary_output: Give 1 for every bin that occurs instead of counts (weights ignored).

    Returns:
        A Tensor of shape ``(size,)`` (rank-1 ``x``) or ``(x.shape[0], size)``, in the
        weights' dtype (float32 without weights).

    Raises:
        ValueError: ``x`` not of rank 1 or 2, or weights of another shape.
        IndexError: A negative value in ``x``.

    Example:

    >>> x = tw.tensor([[1, 1, 2], [0, 3, 3]], dtype="int32")
    >>> tw.dense_bincount(x, None, 4).tolist()
    [[0.0, 2.0, 1.0, 0.0], [1.0, 0.0, 0.0, 2.0]]
    >>> tw.dense_bincount(x, None, 4, binary_output=True).tolist()
    [[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]]
    """
    return _bincount("dense_bincount", x, weights, size, bool(binary_output), (1, 2))


def tensor_scatter_update(x: TensorLike, indices: TensorLike, updates: TensorLike) -> Tensor:
    """A copy of ``x`` with the slices at ``indices`` replaced by ``updates`` (TF.js
    ``tensorScatterUpdate``).

    ``indices`` (..., K) addresses the first K axes of ``x``; ``updates`` has shape
    ``indices.shape[:-1] + x.shape[K:]``. When an index repeats, the last update wins (as
    TF.js's CPU kernel): up to 2048 index vectors that is decided on the device (an
    ``n x n`` comparison); beyond, the linear indices are read back to the host for it, so
    such a call does not stay inside a traced step. Every coordinate is checked on the device (an IndexError naming the
    index, its position and the shape). Gradients flow to ``x`` (zero at replaced slices)
    and to the winning ``updates``.

    Args:
        x: The tensor to update.
        indices: int32 index vectors ``(..., K)``.
        updates: The new slices (a non-Tensor takes ``x``'s dtype).

    Returns:
        A Tensor of ``x``'s shape and dtype.

    Raises:
        ValueError: ``updates`` of the wrong shape, or an index depth beyond ``x``'s rank.
        TypeError: ``updates`` of another dtype.
        IndexError: A coordinate out of range.

    Example:

    >>> x = tw.tensor([1, 2, 3, 4])
    >>> idx = tw.tensor([[0], [2], [0]], dtype="int32")
    >>> tw.tensor_scatter_update(x, idx, tw.tensor([9, 8, 7])).tolist()
    [7.0, 2.0, 8.0, 4.0]
    """
    from engine.ops.creation import ones, zeros_like
    from engine.ops.math import equal, greater, logical_and, where
    from engine.ops.reduction import any as reduce_any

    x = as_tensor(x)
    idx = _index_tensor(indices, "tensor_scatter_update")
    u = updates if isinstance(updates, Tensor) else tensor(updates, dtype=x.dtype)
    if u.dtype != x.dtype:
        raise TypeError(
            f"tensor_scatter_update: updates must have x's dtype {x.dtype}, got {u.dtype}"
        )
    lin = _linear_indices(idx, x.shape, "tensor_scatter_update")
    k = idx.shape[-1]
    want = idx.shape[:-1] + x.shape[k:]
    if u.shape != want:
        raise ValueError(
            f"tensor_scatter_update: updates must have shape {want} (indices.shape[:-1] + "
            f"x.shape[{k}:]) for indices of shape {idx.shape} and x of shape {x.shape}, "
            f"got {u.shape}"
        )
    orig = x.dtype
    if orig == "bool":
        x, u = cast(x, "int32"), cast(u, "int32")
    rest = x.shape[k:]
    n = int(np.prod(x.shape[:k]))
    m = int(np.prod(idx.shape[:-1]))
    lin = reshape(lin, (m,))
    uf = reshape(u, (m,) + rest)
    if m > 1:  # last write wins: drop each update whose slot a later one also writes
        if m <= 2048:
            same = equal(reshape(lin, (m, 1)), reshape(lin, (1, m)))
            later = tensor(np.triu(np.ones((m, m), bool), 1), dtype="bool")
            shadowed = reduce_any(logical_and(same, later), 1)
        else:  # the m x m comparison would be large: find the last writes on the host
            li = lin.numpy()
            last = np.zeros(m, bool)
            last[m - 1 - np.unique(li[::-1], return_index=True)[1]] = True
            shadowed = tensor(~last, dtype="bool")
        uf = where(reshape(shadowed, (m,) + (1,) * len(rest)), zeros_like(uf), uf)
    written = greater(scatter_add(ones((m,), "int32"), lin, 0, n, _checked=True), 0)
    placed = scatter_add(uf, lin, 0, n, _checked=True)
    out = where(reshape(written, (n,) + (1,) * len(rest)), placed, reshape(x, (n,) + rest))
    out = reshape(out, x.shape)
    return cast(out, "bool") if orig == "bool" else out
