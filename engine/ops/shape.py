"""Shape ops: transpose, slicing, concat, pad, gather/scatter, tile and their composites."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from backends.base import check_indices
from engine import dispatch, registry
from engine.ops import complex_ops
from engine.ops.core import as_tensor, cast, normalize_axis, reshape, tensor
from engine.tensor import ComplexTensor, Tensor
from engine.typing import AxisLike, ShapeLike, TensorLike


def transpose(x: TensorLike, perm: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (TF.js ``transpose``).

    Args:
        x: The tensor.
        perm: The new order of the axes; ``None`` reverses them.

    Returns:
        A Tensor with axis ``i`` of size ``x.shape[perm[i]]``.

    Raises:
        ValueError: ``perm`` is not a permutation of the axes.

    Example:

    >>> tw.transpose(tw.ones([2, 3, 4]), [2, 0, 1]).shape
    (4, 2, 3)
    """
    x = as_tensor(x)
    if isinstance(x, ComplexTensor):
        return complex_ops.transpose(x, perm)
    perm = tuple(reversed(range(x.rank))) if perm is None else tuple(int(p) for p in perm)
    if sorted(perm) != list(range(x.rank)):
        raise ValueError(
            f"transpose: perm {perm} is not a permutation of the {x.rank} axes of shape {x.shape}"
        )
    if perm == tuple(range(x.rank)):
        return x
    shape = tuple(x.shape[p] for p in perm)
    src, dt = x.shape, x.dtype
    return dispatch.run(
        "transpose",
        (x,),
        {"perm": perm},
        shape,
        dt,
        lambda be, b: be.transpose(b, src, dt, perm),
    )


def expand_dims(x: TensorLike, axis: int = 0) -> Tensor:
    """Insert an axis of size 1 at ``axis`` (TF.js ``expandDims``).

    Args:
        x: The tensor.
        axis: Where the new axis goes, in ``[-(rank + 1), rank]``.

    Returns:
        A Tensor of rank ``x.rank + 1``.

    Example:

    >>> tw.expand_dims(tw.ones([2, 3]), -1).shape
    (2, 3, 1)
    """
    x = as_tensor(x)
    axis = normalize_axis(axis, x.rank + 1, "expand_dims")
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x: TensorLike, axis: AxisLike = None) -> Tensor:
    """Drop axes of size 1 (TF.js ``squeeze``).

    Args:
        x: The tensor.
        axis: The axes to drop (each must have size 1); ``None`` drops all size-1 axes.

    Returns:
        The squeezed Tensor.

    Raises:
        ValueError: An axis in ``axis`` does not have size 1.

    Example:

    >>> tw.squeeze(tw.ones([1, 3, 1])).shape
    (3,)
    """
    x = as_tensor(x)
    if axis is None:
        axes = {i for i, s in enumerate(x.shape) if s == 1}
    else:
        axes = {
            normalize_axis(a, x.rank, "squeeze")
            for a in (axis if isinstance(axis, (list, tuple)) else [axis])
        }
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(
                    f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1"
                )
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))


def slice(  # noqa: A001
    x: TensorLike, begin: int | Sequence[int], size: int | Sequence[int] | None = None
) -> Tensor:
    """``x[begin : begin + size]`` per axis; size -1 means to the end (TF.js ``slice``).

    Args:
        x: The tensor.
        begin: The start on each axis (missing trailing axes start at 0).
        size: The length on each axis; -1 or missing means to the end.

    Returns:
        The slice.

    Raises:
        ValueError: ``begin``/``size`` have more entries than ``x`` has axes, or go out of range.

    Example:

    >>> tw.slice(tw.range(0, 10), 2, 3).tolist()
    [2.0, 3.0, 4.0]
    """
    x = as_tensor(x)
    if isinstance(x, ComplexTensor):
        return complex_ops.slice(x, begin, size)
    begin = [begin] if isinstance(begin, int) else list(begin)
    begin += [0] * (x.rank - len(begin))
    if size is None:
        size = [-1] * x.rank
    size = [size] if isinstance(size, int) else list(size)
    size += [-1] * (x.rank - len(size))
    if len(begin) != x.rank or len(size) != x.rank:
        raise ValueError(
            f"slice: begin {begin} and size {size} must have at most {x.rank} entries "
            f"for shape {x.shape}"
        )
    b2, s2 = [], []
    for i, (b, s, d) in enumerate(zip(begin, size, x.shape, strict=True)):
        if not 0 <= b <= d:
            raise ValueError(f"slice: begin {begin} is out of range for shape {x.shape} (axis {i})")
        s = d - b if s == -1 else s
        if s < 0 or b + s > d:
            raise ValueError(
                f"slice: begin {begin} + size {size} exceeds shape {x.shape} (axis {i})"
            )
        b2.append(b)
        s2.append(s)
    return _slice(x, tuple(b2), tuple(s2), (1,) * x.rank)


def _slice(x: Tensor, begin: tuple, size: tuple, step: tuple) -> Tensor:
    if begin == (0,) * x.rank and size == x.shape and step == (1,) * x.rank:
        return x
    src, dt = x.shape, x.dtype
    return dispatch.run(
        "slice",
        (x,),
        {"begin": begin, "size": size, "step": step},
        size,
        dt,
        lambda be, b: be.slice(b, src, dt, begin, size, step),
    )


def strided_slice_index(x: Tensor, index: Any) -> Tensor:
    """``x[index]``, what ``Tensor.__getitem__`` runs: ints, slices with steps, ``None``,
    ``...``; an int tensor or list gathers on the first axis.

    Args:
        x: The tensor.
        index: A numpy-style basic index, or an int tensor / list of ints.

    Returns:
        The indexed Tensor.

    Raises:
        IndexError: Too many indices, several ellipses, an index out of range, or a gather on an axis other than the first.

    Example:

    >>> x = tw.reshape(tw.range(0, 6), [2, 3])
    >>> x[1, ::2].tolist(), x[:, None].shape
    ([3.0, 5.0], (2, 1, 3))
    """
    if not isinstance(index, tuple):
        index = (index,)
    if builtins.any(isinstance(i, (Tensor, list, np.ndarray)) for i in index):
        if len(index) != 1:
            raise IndexError("indexing with a tensor or list is supported on the first axis only")
        i0 = index[0]
        is_bool = i0.dtype == "bool" if isinstance(i0, Tensor) else np.asarray(i0).dtype == np.bool_
        if is_bool:
            raise IndexError(
                "boolean mask indexing is not supported; use where(mask, x, other) or "
                "gather(x, indices) with int32 indices"
            )
        return gather(x, index[0], 0)
    n_ell = builtins.sum(1 for i in index if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_real = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if n_real > x.rank:
        raise IndexError(f"too many indices ({n_real}) for a tensor of rank {x.rank}")
    if n_ell == 0:
        index = index + (Ellipsis,)
    full: list = []
    for i in index:
        if i is Ellipsis:
            full.extend([builtins.slice(None)] * (x.rank - n_real))
        else:
            full.append(i)
    begin, size, step, out_shape = [], [], [], []
    axis = 0
    for i in full:
        if i is None:
            out_shape.append(1)
            continue
        d = x.shape[axis]
        if isinstance(i, (int, np.integer)):
            j = int(i) + d if i < 0 else int(i)
            if not 0 <= j < d:
                raise IndexError(f"index {i} is out of range for axis {axis} of size {d}")
            begin.append(j)
            size.append(1)
            step.append(1)
        elif isinstance(i, builtins.slice):
            start, stop, st = i.indices(d)
            n = len(range(start, stop, st))
            begin.append(start if n else 0)
            size.append(n)
            step.append(st if n else 1)
            out_shape.append(n)
        else:
            raise IndexError(f"unsupported index {i!r}; use ints, slices, None or ...")
        axis += 1
    out = _slice(x, tuple(begin), tuple(size), tuple(step))
    return reshape(out, tuple(out_shape))


def reverse(x: TensorLike, axis: AxisLike = None) -> Tensor:
    """Reverse the order of the values along ``axis`` (TF.js ``reverse``).

    Args:
        x: The tensor.
        axis: The axis or axes to reverse; ``None`` reverses all.

    Returns:
        A Tensor of ``x``'s shape.

    Example:

    >>> tw.reverse(tw.tensor([1, 2, 3])).tolist()
    [3.0, 2.0, 1.0]
    """
    x = as_tensor(x)
    axes = (
        range(x.rank)
        if axis is None
        else [
            normalize_axis(a, x.rank, "reverse")
            for a in (axis if isinstance(axis, (list, tuple)) else [axis])
        ]
    )
    begin, step = [0] * x.rank, [1] * x.rank
    for a in axes:
        if x.shape[a] > 1:
            begin[a], step[a] = x.shape[a] - 1, -1
    return _slice(x, tuple(begin), x.shape, tuple(step))


def concat(xs: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (TF.js ``concat``).

    Args:
        xs: The tensors (at least one); every dimension but ``axis`` must match.
        axis: The axis to join along.

    Returns:
        The joined Tensor.

    Raises:
        ValueError: No tensors, or shapes that differ off ``axis``.

    Example:

    >>> tw.concat([tw.ones([2, 1]), tw.zeros([2, 2])], axis=1).tolist()
    [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    from engine import dtypes

    ts = [as_tensor(t) for t in xs]
    if not ts:
        raise ValueError("concat: needs at least one tensor")
    if builtins.any(isinstance(t, ComplexTensor) for t in ts):
        return complex_ops.concat(ts, axis)
    dt = ts[0].dtype
    for t in ts[1:]:
        if t.dtype != dt:  # upcast the running result, as binary ops do pairwise
            dt = dtypes.upcast(dt, t.dtype)
    ts = [cast(t, dt) for t in ts]
    rank = ts[0].rank
    if rank == 0:
        raise ValueError("concat: cannot concatenate scalars; use stack")
    axis = normalize_axis(axis, rank, "concat")
    for t in ts:
        if t.rank != rank or builtins.any(
            t.shape[i] != ts[0].shape[i] for i in range(rank) if i != axis
        ):
            raise ValueError(f"concat: shapes {[t.shape for t in ts]} differ outside axis {axis}")
    if len(ts) == 1:
        return ts[0]
    shapes = tuple(t.shape for t in ts)
    shape = list(ts[0].shape)
    shape[axis] = builtins.sum(s[axis] for s in shapes)
    shape = tuple(shape)
    return dispatch.run(
        "concat",
        tuple(ts),
        {"axis": axis},
        shape,
        dt,
        lambda be, *bs: be.concat(list(bs), shapes, dt, axis),
    )


def stack(xs: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis (TF.js ``stack``).

    Args:
        xs: The tensors (at least one), all of one shape.
        axis: Where the new axis goes.

    Returns:
        A Tensor of rank ``rank + 1``.

    Raises:
        ValueError: No tensors, or shapes that differ.

    Example:

    >>> tw.stack([tw.tensor([1, 2]), tw.tensor([3, 4])], axis=1).tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    ts = [as_tensor(t) for t in xs]
    if not ts:
        raise ValueError("stack: needs at least one tensor")
    if builtins.any(t.shape != ts[0].shape for t in ts):
        raise ValueError(f"stack: all shapes must match, got {[t.shape for t in ts]}")
    axis = normalize_axis(axis, ts[0].rank + 1, "stack")
    return concat([expand_dims(t, axis) for t in ts], axis)


def unstack(x: TensorLike, axis: int = 0) -> list[Tensor]:
    """Split into the slices along ``axis``, dropping it (TF.js ``unstack``).

    Args:
        x: The tensor.
        axis: The axis to unstack.

    Returns:
        A list of ``x.shape[axis]`` Tensors.

    Example:

    >>> [t.tolist() for t in tw.unstack(tw.tensor([[1, 2], [3, 4]]))]
    [[1.0, 2.0], [3.0, 4.0]]
    """
    x = as_tensor(x)
    axis = normalize_axis(axis, x.rank, "unstack")
    return [squeeze(p, axis) for p in split(x, x.shape[axis], axis)] if x.shape[axis] else []


def split(x: TensorLike, num_or_size_splits: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split along ``axis`` into equal parts or parts of given sizes (TF.js ``split``).

    Args:
        x: The tensor.
        num_or_size_splits: The number of equal parts, or the sizes (one may be -1).
        axis: The axis to split.

    Returns:
        A list of Tensors.

    Raises:
        ValueError: The axis does not divide evenly, or the sizes do not add up.

    Example:

    >>> [t.shape for t in tw.split(tw.ones([5, 2]), [2, -1])]
    [(2, 2), (3, 2)]
    """
    x = as_tensor(x)
    axis = normalize_axis(axis, x.rank, "split")
    d = x.shape[axis]
    if isinstance(num_or_size_splits, int):
        n = num_or_size_splits
        if n <= 0 or d % n:
            raise ValueError(f"split: axis {axis} of size {d} cannot be split into {n} equal parts")
        sizes = [d // n] * n
    else:
        sizes = list(num_or_size_splits)
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = d - (builtins.sum(sizes) + 1)
        if builtins.sum(sizes) != d or builtins.any(s < 0 for s in sizes):
            raise ValueError(
                f"split: sizes {num_or_size_splits} do not add up to {d} (axis {axis})"
            )
    out, start = [], 0
    for s in sizes:
        begin = [0] * x.rank
        size = list(x.shape)
        begin[axis], size[axis] = start, s
        out.append(_slice(x, tuple(begin), tuple(size), (1,) * x.rank))
        start += s
    return out


def pad(x: TensorLike, paddings: Sequence[Sequence[int]], constant_value: float = 0) -> Tensor:
    """Pad with a constant (TF.js ``pad``).

    Args:
        x: The tensor.
        paddings: One ``(before, after)`` pair per axis.
        constant_value: The fill value.

    Returns:
        The padded Tensor.

    Raises:
        ValueError: Not one non-negative pair per axis.

    Example:

    >>> tw.pad(tw.tensor([1, 2]), [[1, 2]]).tolist()
    [0.0, 1.0, 2.0, 0.0, 0.0]
    """
    x = as_tensor(x)
    pads = tuple((int(a), int(b)) for a, b in paddings)
    if len(pads) != x.rank or builtins.any(a < 0 or b < 0 for a, b in pads):
        raise ValueError(
            f"pad: paddings {paddings} must give a non-negative (before, after) pair "
            f"for each of the {x.rank} axes of shape {x.shape}"
        )
    if builtins.all(p == (0, 0) for p in pads):
        return x
    shape = tuple(s + a + b for s, (a, b) in zip(x.shape, pads, strict=True))
    src, dt = x.shape, x.dtype
    return dispatch.run(
        "pad",
        (x,),
        {"paddings": pads, "value": constant_value},
        shape,
        dt,
        lambda be, b: be.pad(b, src, dt, pads, constant_value),
    )


def _index_tensor(indices: Any, op: str) -> Tensor:
    if isinstance(indices, Tensor):
        idx = indices
    else:
        arr = np.asarray(indices)
        if arr.dtype.kind == "b" or (arr.dtype.kind == "f" and not np.all(arr == np.trunc(arr))):
            raise TypeError(f"{op}: indices must be integers, got {arr.dtype} values")
        idx = tensor(arr, dtype="int32")
    if idx.dtype != "int32":
        raise TypeError(f"{op}: indices must be int32, got {idx.dtype}; use cast(indices, 'int32')")
    return idx


def gather(x: TensorLike, indices: TensorLike, axis: int = 0, _checked: bool = False) -> Tensor:
    """Take slices of ``x`` along ``axis`` at ``indices`` (int32).

    Every index must be in ``[0, x.shape[axis])``; anything else raises an IndexError naming
    the range, the axis, the shape and the first bad index with its position. Negative
    indices are errors too (as TF.js's ``gather`` on the CPU; no Python-style wrap-around).
    Backends with ``capabilities["gather_checks_indices"]`` check in the kernel (no host read
    of the indices, so traced steps stay traced); others read the indices first.

    Args:
        x: The tensor.
        indices: int32 indices (any shape).
        axis: The axis to take from.
        _checked: Internal: the caller has checked the indices.

    Returns:
        A Tensor of shape ``x.shape[:axis] + indices.shape + x.shape[axis + 1:]``.

    Raises:
        IndexError: An index is outside ``[0, x.shape[axis])``.

    Example:

    >>> tw.gather(tw.tensor([10, 20, 30]), tw.tensor([2, 0], dtype="int32")).tolist()
    [30.0, 10.0]
    """
    x = as_tensor(x)
    idx = _index_tensor(indices, "gather")
    axis = normalize_axis(axis, x.rank, "gather")
    check = False
    if not _checked and idx.size:
        be = registry.instance_of(registry.get_backend())
        if be.capabilities.get("gather_checks_indices"):
            check = True  # the kernel raises: no host read, so traced steps stay traced
        else:
            check_indices(idx.numpy(), x.shape[axis], x.shape, axis)
    shape = x.shape[:axis] + idx.shape + x.shape[axis + 1 :]
    src, dt, ishape = x.shape, x.dtype, idx.shape
    if check:

        def invoke(be: Any, b: Any, i: Any) -> Any:
            return be.gather(b, src, dt, i, ishape, axis, check=True)
    else:

        def invoke(be: Any, b: Any, i: Any) -> Any:
            return be.gather(b, src, dt, i, ishape, axis)

    return dispatch.run("gather", (x, idx), {"axis": axis}, shape, dt, invoke)


def scatter_add(
    updates: TensorLike, indices: TensorLike, axis: int, dim: int, _checked: bool = False
) -> Tensor:
    """The adjoint of gather: a tensor with ``dim`` rows on ``axis`` where each slice of
    ``updates`` is added at its index (duplicates add up).

    ``updates`` has shape ``lead + indices.shape + trail`` (``lead`` the ``axis`` first
    dimensions); the result has shape ``lead + (dim,) + trail``. Every index must be in
    ``[0, dim)``; anything else (negative indices included, as TF.js) raises an IndexError
    naming the bad index, its position and the shape, checked on the device without a host
    read. The engine's own callers (gather's gradient, im2col) pass ``_checked=True``.

    Args:
        updates: The slices to add, of shape ``lead + indices.shape + trail``.
        indices: int32 indices.
        axis: The axis of the result the indices address.
        dim: The result's size on ``axis``.
        _checked: Internal: the caller has checked the indices.

    Returns:
        A Tensor of shape ``lead + (dim,) + trail``.

    Raises:
        ValueError: ``dim`` is negative.
        IndexError: An index is outside ``[0, dim)``.

    Example:

    >>> tw.scatter_add(tw.tensor([1, 2, 3]), tw.tensor([0, 2, 0], dtype="int32"), 0, 3).tolist()
    [4.0, 0.0, 2.0]
    """
    u = as_tensor(updates)
    idx = _index_tensor(indices, "scatter_add")
    dim = int(dim)
    if dim < 0:
        raise ValueError(f"scatter_add: dim must be >= 0, got {dim}")
    if not 0 <= axis <= u.rank - idx.rank or u.shape[axis : axis + idx.rank] != idx.shape:
        raise ValueError(
            f"scatter_add: updates of shape {u.shape} must have the indices' shape {idx.shape} "
            f"at axis {axis}"
        )
    shape = u.shape[:axis] + (dim,) + u.shape[axis + idx.rank :]
    if not _checked and idx.size:
        col = reshape(idx, idx.shape + (1,))
        idx = reshape(_ravel_checked(col, (dim,), "scatter_add", shape), idx.shape)
    ushape, dt, ishape = u.shape, u.dtype, idx.shape
    return dispatch.run(
        "scatter_add",
        (u, idx),
        {"axis": axis, "dim": dim},
        shape,
        dt,
        lambda be, b, i: be.scatter_add(b, ushape, dt, i, ishape, axis, dim),
    )


def _ravel_checked(indices: Tensor, dims: tuple, op: str, shape: tuple) -> Tensor:
    """Linear indices of the index vectors on the last axis of ``indices`` in ``dims``, each
    coordinate checked against its own dimension by the backend's ``ravel_indices`` (an
    IndexError naming ``op``, the bad index, its position and ``shape``; no host read)."""
    ishape = indices.shape
    dims = tuple(int(v) for v in dims)
    return dispatch.run(
        "ravel_indices",
        (indices,),
        {"dims": dims},
        ishape[:-1],
        "int32",
        lambda be, i: be.ravel_indices(i, ishape, dims, op, shape),
    )


def _linear_indices(indices: Tensor, shape: tuple, op: str) -> Tensor:
    """Checked row-major linear indices of ``indices`` (..., K) into the first K axes of
    ``shape`` (ValueError when K exceeds the rank, IndexError for a bad coordinate)."""
    if indices.rank == 0:
        raise ValueError(f"{op}: indices must have at least one axis, got a scalar")
    k = indices.shape[-1]
    if k > len(shape):
        raise ValueError(
            f"{op}: index depth {k} (the last axis of indices of shape {indices.shape}) "
            f"exceeds the rank of shape {shape}"
        )
    return _ravel_checked(indices, shape[:k], op, shape)


def gather_nd(x: TensorLike, indices: TensorLike) -> Tensor:
    """Gather slices addressed by the last axis of ``indices`` (TF ``gatherND``).

    The result has shape ``indices.shape[:-1] + x.shape[K:]`` (K = ``indices.shape[-1]``).
    Coordinate ``j`` of every index vector must be in ``[0, x.shape[j])``: each is checked
    against its own dimension (``[0, 5]`` on shape (3, 2) is an error, not element [2, 1]),
    negative ones included (as TF.js), with an IndexError naming the index, its position and
    the shape; the check runs on the device, so traced steps stay traced.

    Args:
        x: The tensor.
        indices: int32 index vectors along the last axis, ``(..., K)``.

    Returns:
        A Tensor of shape ``indices.shape[:-1] + x.shape[K:]``.

    Raises:
        IndexError: A coordinate is out of range.

    Example:

    >>> x = tw.tensor([[1, 2], [3, 4]])
    >>> tw.gather_nd(x, tw.tensor([[1, 0], [0, 1]], dtype="int32")).tolist()
    [3.0, 2.0]
    """
    x = as_tensor(x)
    idx = _index_tensor(indices, "gather_nd")
    lin = _linear_indices(idx, x.shape, "gather_nd")
    k = idx.shape[-1]
    flat = reshape(x, (-1,) + x.shape[k:]) if k else reshape(x, (1,) + x.shape)
    return gather(flat, lin, 0, _checked=True)


def scatter_nd(indices: TensorLike, updates: TensorLike, shape: ShapeLike) -> Tensor:
    """Zeros of ``shape`` with ``updates`` added at ``indices`` (TF ``scatterND``).

    ``indices`` (..., K) addresses the first K axes of ``shape``; ``updates`` has shape
    ``indices.shape[:-1] + shape[K:]``; duplicates add up. Every coordinate is checked
    against its own dimension (negative ones are errors, as TF.js) with an IndexError naming
    the index, its position and the shape, before anything is written.

    Args:
        indices: int32 index vectors ``(..., K)``.
        updates: Values of shape ``indices.shape[:-1] + shape[K:]``.
        shape: The result's shape.

    Returns:
        A Tensor of ``shape``.

    Raises:
        IndexError: A coordinate is out of range.

    Example:

    >>> tw.scatter_nd(tw.tensor([[1], [1]], dtype="int32"), tw.tensor([5.0, 1.0]), [3]).tolist()
    [0.0, 6.0, 0.0]
    """
    idx = _index_tensor(indices, "scatter_nd")
    shape = tuple(int(s) for s in shape)
    if builtins.any(s < 0 for s in shape):
        raise ValueError(f"scatter_nd: shape {shape} has a negative dimension")
    u = as_tensor(updates)
    lin = _linear_indices(idx, shape, "scatter_nd")
    k = idx.shape[-1]
    want = idx.shape[:-1] + shape[k:]
    if u.shape != want:
        raise ValueError(
            f"scatter_nd: updates must have shape {want} (indices.shape[:-1] + shape[{k}:]) "
            f"for indices of shape {idx.shape} and shape {shape}, got {u.shape}"
        )
    n = int(np.prod(shape[:k]))
    out = scatter_add(u, lin, 0, n, _checked=True)
    return reshape(out, shape)


def tile(x: TensorLike, reps: Sequence[int]) -> Tensor:
    """Repeat ``x`` ``reps[i]`` times along axis ``i`` (TF.js ``tile``).

    Args:
        x: The tensor.
        reps: One repeat count per axis.

    Returns:
        A Tensor of shape ``x.shape[i] * reps[i]``.

    Raises:
        ValueError: ``reps`` does not have one non-negative entry per axis.

    Example:

    >>> tw.tile(tw.tensor([1, 2]), [2]).tolist()
    [1.0, 2.0, 1.0, 2.0]
    """
    x = as_tensor(x)
    reps = [int(r) for r in reps]
    if len(reps) != x.rank or builtins.any(r < 0 for r in reps):
        raise ValueError(
            f"tile: reps {reps} must give a non-negative count for each of the {x.rank} axes"
        )
    for axis, r in enumerate(reps):
        if r != 1:
            idx = np.tile(np.arange(x.shape[axis], dtype=np.int32), r)
            x = gather(x, tensor(idx, dtype="int32"), axis, _checked=True)
    return x


def broadcast_to(x: TensorLike, shape: ShapeLike) -> Tensor:
    """Broadcast to ``shape`` by numpy rules (TF.js ``broadcastTo``).

    Args:
        x: The tensor.
        shape: The target shape.

    Returns:
        A Tensor of ``shape``.

    Raises:
        ValueError: ``x`` cannot be broadcast to ``shape``.

    Example:

    >>> tw.broadcast_to(tw.tensor([1, 2]), [2, 2]).tolist()
    [[1.0, 2.0], [1.0, 2.0]]
    """
    from engine.ops.core import broadcast_shapes
    from engine.ops.creation import fill
    from engine.ops.math import where

    x = as_tensor(x)
    shape = tuple(int(s) for s in shape)
    if broadcast_shapes(x.shape, shape, "broadcast_to") != shape:
        raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}")
    if x.shape == shape:
        return x
    return where(fill(shape, True, "bool"), x, x)


def one_hot(
    indices: TensorLike,
    depth: int,
    on_value: float = 1,
    off_value: float = 0,
    dtype: str = "float32",
) -> Tensor:
    """One-hot rows of length ``depth`` (TF.js ``oneHot``); out-of-range indices give all
    ``off_value``.

    Args:
        indices: Integer class indices (any shape).
        depth: The number of classes.
        on_value: The value at the index.
        off_value: The value elsewhere.
        dtype: The result's dtype.

    Returns:
        A Tensor of shape ``indices.shape + (depth,)``.

    Example:

    >>> tw.one_hot(tw.tensor([0, 2], dtype="int32"), 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    from engine.dtypes import as_dtype

    idx = _index_tensor(indices, "one_hot")
    if int(depth) < 0:
        raise ValueError(f"one_hot: depth must be >= 0, got {depth}")
    depth = int(depth)
    dt = as_dtype(dtype)
    ishape = idx.shape
    return dispatch.run(
        "one_hot",
        (idx,),
        {"depth": depth},
        ishape + (depth,),
        dt,
        lambda be, i: be.one_hot(i, ishape, depth, on_value, off_value, dt),
    )


def top_k(x: TensorLike, k: int = 1, sorted: bool = True) -> tuple[Tensor, Tensor]:  # noqa: A002
    """The ``k`` largest values along the last axis and their int32 indices (TF.js ``topk``).

    Args:
        x: The tensor (rank >= 1).
        k: How many, in ``[0, x.shape[-1]]``.
        sorted: Accepted for TF.js compatibility; the values always come largest first.

    Returns:
        ``(values, indices)``, each of shape ``x.shape[:-1] + (k,)``.

    Raises:
        ValueError: ``k`` is out of range or ``x`` is a scalar.

    Example:

    >>> values, indices = tw.top_k(tw.tensor([1, 5, 3]), 2)
    >>> values.tolist(), indices.tolist()
    ([5.0, 3.0], [1, 2])
    """
    from engine.autodiff import stop_gradient
    from engine.ops.math import where
    from engine.ops.reduction import argmax

    x = as_tensor(x)
    if x.rank == 0 or not 0 <= k <= x.shape[-1]:
        raise ValueError(f"top_k: k={k} must be in [0, {x.shape[-1] if x.rank else 0}]")
    from engine.ops.math import logical_and, logical_not, logical_or
    from engine.ops.reduction import any as reduce_any

    work = stop_gradient(x) if x.dtype != "bool" else cast(x, "int32")
    low = float("-inf") if work.dtype.startswith("float") else -(2**31)
    n = x.shape[-1]
    taken = None
    idxs = []
    for _ in range(k):
        i = argmax(work if taken is None else where(taken, low, work), -1)
        if taken is not None:
            # When every value left equals ``low`` (-inf), argmax may land on a taken
            # position: take the first free one instead.
            clash = reduce_any(logical_and(one_hot(i, n, dtype="bool"), taken), -1)
            i = where(clash, argmax(logical_not(taken), -1), i)
        idxs.append(i)
        hit = one_hot(i, n, dtype="bool")
        taken = hit if taken is None else logical_or(taken, hit)
    if not idxs:
        empty = x.shape[:-1] + (0,)
        return reshape(tensor([], dtype=x.dtype), empty), reshape(tensor([], dtype="int32"), empty)
    indices = stack(idxs, -1)
    flat = reshape(x, (-1, x.shape[-1]))
    rows = np.arange(flat.shape[0], dtype=np.int32)[:, None] * x.shape[-1]
    lin = reshape(indices, (-1, k)) + tensor(rows, dtype="int32")
    values = reshape(
        gather(reshape(x, (-1,)), reshape(lin, (-1,)), 0, _checked=True), indices.shape
    )
    return values, indices
