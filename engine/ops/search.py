"""Searching and selecting: unique, argwhere (TF.js ``whereAsync``), boolean_mask,
setdiff1d (TF.js ``setdiff1dAsync``), search_sorted / lower_bound / upper_bound and in_top_k.

``unique``, ``argwhere``, ``boolean_mask`` and ``setdiff1d`` have data-dependent output
shapes, so they read their input (the mask, the condition, the values) back to the host, as
TF.js's async versions do; a traced step that calls them is not replayable. The values they
return are then gathered on the device, so ``unique``'s and ``setdiff1d``'s values and
``boolean_mask``'s result are differentiable with respect to the data. The other ops run on
the device.
"""

from __future__ import annotations

import numpy as np

from engine.ops.core import as_tensor, cast, normalize_axis, reshape, tensor
from engine.ops.shape import _ravel_checked, gather
from engine.tensor import Tensor
from engine.typing import TensorLike


def unique(x: TensorLike, axis: int = 0) -> tuple[Tensor, Tensor]:
    """The distinct values (or slices along ``axis``) in order of first appearance, and
    where each element went (TF.js ``unique``).

    Runs on the host (the number of distinct values decides the output shape): ``x`` is read
    back, then the values are gathered on the device, so they carry ``x``'s gradient.

    Args:
        x: The tensor (rank >= 1).
        axis: The axis whose slices are compared.

    Returns:
        ``(values, indices)``: ``values`` holds the distinct slices along ``axis``;
        ``indices`` (int32, length ``x.shape[axis]``) gives for each slice of ``x`` its
        position in ``values``, so ``gather(values, indices, axis)`` rebuilds ``x``.

    Raises:
        ValueError: ``x`` is a scalar.

    Example:

    >>> values, indices = tw.unique(tw.tensor([1, 1, 2, 4, 4, 4, 7, 8, 8]))
    >>> values.tolist(), indices.tolist()
    ([1.0, 2.0, 4.0, 7.0, 8.0], [0, 0, 1, 2, 2, 2, 3, 4, 4])
    """
    x = as_tensor(x)
    if x.rank == 0:
        raise ValueError("unique: x must have rank >= 1, got a scalar")
    axis = normalize_axis(axis, x.rank, "unique")
    arr = np.moveaxis(x.numpy(), axis, 0)
    if arr.dtype.kind == "f":
        arr = arr + 0.0  # -0.0 and 0.0 are one value (TF.js keys values by their string)
    n = arr.shape[0]
    if n == 0:
        return x, tensor(np.zeros(0, np.int32), dtype="int32")
    rows = arr.reshape(n, -1)
    if rows.shape[1] == 1:  # plain values: NaNs count as one value, as TF.js's string keys
        _, first, inv = np.unique(rows[:, 0], return_index=True, return_inverse=True)
    else:
        _, first, inv = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # the distinct values by first appearance
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    inverse = rank[np.asarray(inv).reshape(-1)].astype(np.int32)
    firsts = first[order]
    values = gather(x, tensor(np.asarray(firsts, np.int32), dtype="int32"), axis, _checked=True)
    return values, tensor(inverse, dtype="int32")


def argwhere(condition: TensorLike) -> Tensor:
    """The coordinates of the true (nonzero) elements, in row-major order (TF.js
    ``whereAsync``).

    Reads ``condition`` back to the host (the count decides the output shape).

    Args:
        condition: A tensor; nonzero values count as true.

    Returns:
        An int32 Tensor of shape ``(number of true elements, condition.rank)``.

    Example:

    >>> tw.argwhere(tw.tensor([[True, False], [False, True]])).tolist()
    [[0, 0], [1, 1]]
    """
    c = as_tensor(condition)
    found = np.argwhere(c.numpy())  # (count, rank); a 0-d condition gives (1, 0) or (0, 0)
    return tensor(found.astype(np.int32).reshape(found.shape[0], c.rank), dtype="int32")


def where_async(condition: TensorLike) -> Tensor:
    """TF.js's name for ``argwhere`` (synchronous here): the coordinates of the true
    elements.

    Args:
        condition: A tensor; nonzero values count as true.

    Returns:
        An int32 Tensor of shape ``(number of true elements, condition.rank)``.

    Example:

    >>> tw.where_async(tw.tensor([0, 3, 0, 5])).tolist()
    [[1], [3]]
    """
    return argwhere(condition)


def boolean_mask(x: TensorLike, mask: TensorLike, axis: int = 0) -> Tensor:
    """The slices of ``x`` where ``mask`` is true (TF.js ``booleanMaskAsync``).

    ``mask`` covers axes ``axis .. axis + mask.rank - 1`` of ``x``; those axes collapse into
    one holding the selected slices in row-major order. The mask is read back to the host
    (the count decides the shape); the selection is a gather on the device, so the result
    carries ``x``'s gradient.

    Args:
        x: The tensor.
        mask: A bool tensor (rank >= 1) whose shape equals
            ``x.shape[axis : axis + mask.rank]``.
        axis: The first axis the mask covers.

    Returns:
        A Tensor of shape ``x.shape[:axis] + (count,) + x.shape[axis + mask.rank:]``.

    Raises:
        ValueError: A scalar mask, or a mask shape that does not match ``x``.

    Example:

    >>> x = tw.tensor([[1, 2], [3, 4], [5, 6]])
    >>> tw.boolean_mask(x, tw.tensor([True, False, True])).tolist()
    [[1.0, 2.0], [5.0, 6.0]]
    """
    x, m = as_tensor(x), as_tensor(mask)
    if m.rank == 0:
        raise ValueError("boolean_mask: mask must have rank >= 1, got a scalar")
    axis = normalize_axis(axis, x.rank, "boolean_mask") if x.rank else axis
    if x.shape[axis : axis + m.rank] != m.shape:
        raise ValueError(
            f"boolean_mask: mask of shape {m.shape} must match x.shape[{axis}:"
            f"{axis + m.rank}] of x of shape {x.shape}"
        )
    merged = int(np.prod(m.shape))  # explicit: -1 cannot be inferred when a later axis is 0
    flat = reshape(x, x.shape[:axis] + (merged,) + x.shape[axis + m.rank :])
    keep = np.flatnonzero(m.numpy().reshape(-1)).astype(np.int32)
    return gather(flat, tensor(keep, dtype="int32"), axis, _checked=True)


def search_sorted(sorted_sequence: TensorLike, values: TensorLike, side: str = "left") -> Tensor:
    """Where each value would go in a sorted sequence to keep it sorted (TF.js
    ``searchSorted``).

    Each row (last axis) of ``sorted_sequence`` is searched for the matching row of
    ``values``. The result counts the sequence elements ``< v`` (``side="left"``, the first
    suitable index) or ``<= v`` (``side="right"``, the last). It runs on the device as a
    comparison of every value with every element, ``O(N * M)`` per row, which suits the
    short sequences (bucket boundaries) this is used for. The sequence is not checked to be
    sorted (as TF.js).

    Args:
        sorted_sequence: Rank >= 1, sorted ascending along the last axis.
        values: Values to place, with the same leading shape (all but the last axis).
        side: ``"left"`` or ``"right"``.

    Returns:
        An int32 Tensor of ``values``' shape.

    Raises:
        ValueError: An unknown side, a scalar, or leading shapes that differ.

    Example:

    >>> seq = tw.tensor([0.0, 3.0, 9.0, 10.0, 10.0])
    >>> tw.search_sorted(seq, tw.tensor([0.0, 4.0, 10.0])).tolist()
    [0, 2, 3]
    >>> tw.search_sorted(seq, tw.tensor([0.0, 4.0, 10.0]), side="right").tolist()
    [1, 2, 5]
    """
    from engine.ops.core import _pair
    from engine.ops.math import less, less_equal
    from engine.ops.reduction import sum as reduce_sum

    if side not in ("left", "right"):
        raise ValueError(f"search_sorted: side must be 'left' or 'right', got {side!r}")
    s, v = _pair(sorted_sequence, values)
    if s.rank == 0 or v.rank == 0:
        raise ValueError(
            f"search_sorted: sorted_sequence {s.shape} and values {v.shape} must have rank >= 1"
        )
    if s.shape[:-1] != v.shape[:-1]:
        raise ValueError(
            f"search_sorted: the leading shapes (all but the last axis) of sorted_sequence "
            f"{s.shape} and values {v.shape} must match"
        )
    if s.dtype == "bool":
        s, v = cast(s, "int32"), cast(v, "int32")
    cmp = less if side == "left" else less_equal
    below = cmp(reshape(s, s.shape[:-1] + (1, s.shape[-1])), reshape(v, v.shape + (1,)))
    return reduce_sum(cast(below, "int32"), -1)


def lower_bound(sorted_sequence: TensorLike, values: TensorLike) -> Tensor:
    """``search_sorted(sorted_sequence, values, "left")`` (TF.js ``lowerBound``).

    Args:
        sorted_sequence: Rank >= 1, sorted ascending along the last axis.
        values: Values to place, with the same leading shape.

    Returns:
        An int32 Tensor of ``values``' shape: for each value, the count of elements ``< v``.

    Example:

    >>> tw.lower_bound(tw.tensor([1.0, 2.0, 2.0, 3.0]), tw.tensor([2.0])).tolist()
    [1]
    """
    return search_sorted(sorted_sequence, values, "left")


def upper_bound(sorted_sequence: TensorLike, values: TensorLike) -> Tensor:
    """``search_sorted(sorted_sequence, values, "right")`` (TF.js ``upperBound``).

    Args:
        sorted_sequence: Rank >= 1, sorted ascending along the last axis.
        values: Values to place, with the same leading shape.

    Returns:
        An int32 Tensor of ``values``' shape: for each value, the count of elements ``<= v``.

    Example:

    >>> tw.upper_bound(tw.tensor([1.0, 2.0, 2.0, 3.0]), tw.tensor([2.0])).tolist()
    [3]
    """
    return search_sorted(sorted_sequence, values, "right")


def in_top_k(predictions: TensorLike, targets: TensorLike, k: int = 1) -> Tensor:
    """Whether each target class is among the ``k`` highest predictions (TF.js
    ``inTopKAsync``, synchronous here).

    Ties rank as TF.js's stable sort does: among equal scores the lower class index comes
    first, so the target's rank is the count of higher scores plus the count of equal scores
    at lower indices. Runs on the device; every target is checked to be a class index.

    Args:
        predictions: Scores of rank >= 2, classes on the last axis (at least ``k`` of them).
        targets: int32 class indices of shape ``predictions.shape[:-1]``.
        k: How many top classes count as a hit (>= 1).

    Returns:
        A bool Tensor of ``targets``' shape.

    Raises:
        ValueError: Shapes that do not match, or ``k`` out of range.
        IndexError: A target outside ``[0, classes)``.

    Example:

    >>> p = tw.tensor([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    >>> tw.in_top_k(p, tw.tensor([1, 1], dtype="int32"), 1).tolist()
    [True, False]
    """
    from engine import dtypes
    from engine.ops.math import equal, greater, less, logical_and, logical_or, where
    from engine.ops.reduction import sum as reduce_sum
    from engine.ops.shape import _index_tensor, one_hot

    p = as_tensor(predictions)
    t = _index_tensor(targets, "in_top_k")
    k = dtypes.as_int(k, "in_top_k: k")
    if p.rank < 2 or t.shape != p.shape[:-1]:
        raise ValueError(
            f"in_top_k: predictions (rank >= 2) of shape {p.shape} and targets of shape "
            f"{t.shape} must satisfy targets.shape == predictions.shape[:-1]"
        )
    n = p.shape[-1]
    if not 1 <= k <= n:
        raise ValueError(f"in_top_k: k must be in [1, {n}] (the class count), got {k}")
    if p.dtype == "bool":
        p = cast(p, "int32")
    if t.size:
        col = reshape(t, t.shape + (1,))
        t = reshape(_ravel_checked(col, (n,), "in_top_k", p.shape), t.shape)
    hit = one_hot(t, n, dtype="bool")
    zero = tensor(0, dtype=p.dtype)
    target = reshape(reduce_sum(where(hit, p, zero), -1), t.shape + (1,))
    classes = tensor(np.arange(n, dtype=np.int32), dtype="int32")
    before = less(classes, reshape(t, t.shape + (1,)))
    ahead = logical_or(greater(p, target), logical_and(equal(p, target), before))
    rank = reduce_sum(cast(ahead, "int32"), -1)
    return less(rank, k)


def setdiff1d(x: TensorLike, y: TensorLike) -> tuple[Tensor, Tensor]:
    """The values of ``x`` that are not in ``y``, in ``x``'s order with duplicates kept, and
    their positions in ``x`` (TF.js ``setdiff1dAsync``).

    Membership is JavaScript's ``Set``: ``-0.0`` equals ``0.0`` and NaN equals NaN. Both
    vectors are read back to the host (the count decides the output shape); the values are
    then gathered on the device, so they carry ``x``'s gradient (TF.js's have none).

    Args:
        x: A vector of values to keep.
        y: A vector of values to remove, of ``x``'s dtype.

    Returns:
        ``(values, indices)``: ``values`` of ``x``'s dtype and int32 ``indices`` with
        ``values[i] == x[indices[i]]``.

    Raises:
        ValueError: ``x`` or ``y`` is not a vector.
        TypeError: The dtypes differ.

    Example:

    >>> out, idx = tw.setdiff1d(tw.tensor([1, 2, 3, 4, 5, 6]), tw.tensor([1, 3, 5]))
    >>> out.tolist(), idx.tolist()
    ([2.0, 4.0, 6.0], [1, 3, 5])
    """
    a, b = as_tensor(x), as_tensor(y)
    if a.dtype != b.dtype:
        raise TypeError(f"setdiff1d: x and y must have the same dtype, got {a.dtype} and {b.dtype}")
    for name, t in (("x", a), ("y", b)):
        if t.rank != 1:
            raise ValueError(f"setdiff1d: {name} must be a vector (rank 1), got shape {t.shape}")
    xv, yv = a.numpy(), b.numpy()
    drop = np.isin(xv, yv)
    if xv.dtype.kind == "f" and np.isnan(yv).any():
        drop |= np.isnan(xv)
    keep = np.flatnonzero(~drop).astype(np.int32)
    indices = tensor(keep, dtype="int32")
    return gather(a, indices, 0, _checked=True), indices


def setdiff1d_async(x: TensorLike, y: TensorLike) -> tuple[Tensor, Tensor]:
    """TF.js's ``setdiff1dAsync``, synchronous here: ``setdiff1d``.

    Args:
        x: A vector of values to keep.
        y: A vector of values to remove, of ``x``'s dtype.

    Returns:
        ``(values, indices)`` as ``setdiff1d``.

    Example:

    >>> out, idx = tw.setdiff1d_async(tw.tensor([1, 2, 3, 4]), tw.tensor([1, 2]))
    >>> out.tolist(), idx.tolist()
    ([3.0, 4.0], [2, 3])
    """
    return setdiff1d(x, y)
