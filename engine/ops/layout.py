"""Layout composites: meshgrid, diag, mirror_pad, space_to_batch_nd, batch_to_space_nd,
depth_to_space and ensure_shape.

All are built from reshape, transpose, pad, slice, gather and where, so their gradients come
from those ops' rules on every backend.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import numpy as np

from engine import dtypes
from engine.ops.core import as_tensor, reshape, tensor
from engine.ops.shape import broadcast_to, gather, pad, slice, transpose
from engine.tensor import Tensor
from engine.typing import TensorLike


def meshgrid(*tensors: TensorLike, indexing: str = "xy") -> list[Tensor]:
    """Coordinate grids from 1-D coordinate vectors (TF.js ``meshgrid``, numpy's rules).

    TF.js takes two vectors; any number works here. Inputs of higher rank are flattened,
    as TF.js does.

    Args:
        *tensors: The coordinate vectors ``x1, ..., xn`` (lengths ``n1, ..., nn``).
        indexing: ``"xy"`` (Cartesian: the first two output axes swap, so the grids have
            shape ``(n2, n1, n3, ...)``) or ``"ij"`` (matrix: shape ``(n1, n2, ...)``).

    Returns:
        A list of n Tensors of that shape; grid ``i`` repeats ``xi`` along its own axis.

    Raises:
        ValueError: ``indexing`` is neither ``"xy"`` nor ``"ij"``.

    Example:

    >>> X, Y = tw.meshgrid(tw.tensor([1, 2, 3]), tw.tensor([4, 5]))
    >>> X.tolist(), Y.tolist()
    ([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[4.0, 4.0, 4.0], [5.0, 5.0, 5.0]])
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    ts = [reshape(as_tensor(t), (-1,)) for t in tensors]
    if not ts:
        return []
    sizes = [t.shape[0] for t in ts]
    axes = list(range(len(ts)))
    if indexing == "xy" and len(ts) >= 2:
        axes[0], axes[1] = 1, 0  # vector i lies along output axis axes[i]
    shape = [0] * len(ts)
    for i, a in enumerate(axes):
        shape[a] = sizes[i]
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[axes[i]] = sizes[i]
        out.append(broadcast_to(reshape(t, view), shape))
    return out


def diag(x: TensorLike) -> Tensor:
    """A tensor with ``x`` on its diagonal (TF.js ``diag``): for ``x`` of shape ``s`` the
    result has shape ``s + s`` and ``out[i..., i...] = x[i...]``, zero elsewhere.

    Args:
        x: The diagonal values (rank >= 1).

    Returns:
        A Tensor of rank ``2 * x.rank`` and ``x``'s dtype.

    Raises:
        ValueError: ``x`` is a scalar.

    Example:

    >>> tw.diag(tw.tensor([1, 2])).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    from engine.ops.creation import eye, zeros_like
    from engine.ops.math import where

    x = as_tensor(x)
    if x.rank == 0:
        raise ValueError("diag: x must have rank >= 1, got a scalar")
    n = x.size
    flat = reshape(x, (n, 1))
    out = where(eye(n, dtype="bool"), flat, zeros_like(flat))
    return reshape(out, x.shape + x.shape)


def _mirror_indices(d: int, before: int, after: int, symmetric: bool) -> np.ndarray:
    i = np.arange(-before, d + after)
    if symmetric:
        i = np.where(i < 0, -i - 1, i)
        i = np.where(i >= d, 2 * d - 1 - i, i)
    else:
        i = np.abs(i)
        i = np.where(i >= d, 2 * (d - 1) - i, i)
    return i.astype(np.int32)


def mirror_pad(x: TensorLike, paddings: Sequence[Sequence[int]], mode: str) -> Tensor:
    """Pad with a mirror image of ``x`` at each edge (TF.js ``mirrorPad``).

    ``"reflect"`` mirrors without the edge value (``[1, 2, 3]`` padded by 2 gives
    ``[3, 2, 1, 2, 3, 2, 1]``), so each padding is at most ``dim - 1``; ``"symmetric"``
    repeats the edge value (``[2, 1, 1, 2, 3, 3, 2]``), each padding at most ``dim``.

    Args:
        x: The tensor.
        paddings: One ``(before, after)`` pair per axis.
        mode: ``"reflect"`` or ``"symmetric"``.

    Returns:
        The padded Tensor.

    Raises:
        ValueError: An unknown mode, not one pair per axis, or a padding out of range.

    Example:

    >>> tw.mirror_pad(tw.tensor([1, 2, 3]), [[2, 2]], "reflect").tolist()
    [3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]
    >>> tw.mirror_pad(tw.tensor([1, 2, 3]), [[2, 2]], "symmetric").tolist()
    [2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0]
    """
    if mode not in ("reflect", "symmetric"):
        raise ValueError(f"mirror_pad: mode must be 'reflect' or 'symmetric', got {mode!r}")
    x = as_tensor(x)
    if x.rank == 0:
        raise ValueError("mirror_pad: x must have rank >= 1, got a scalar (as TF.js)")
    pads = [tuple(dtypes.as_ints(p, "mirror_pad: paddings")) for p in paddings]
    if len(pads) != x.rank or builtins.any(len(p) != 2 for p in pads):
        raise ValueError(
            f"mirror_pad: paddings {paddings} must give one (before, after) pair for each of "
            f"the {x.rank} axes of shape {x.shape}"
        )
    symmetric = mode == "symmetric"
    for axis, ((a, b), d) in enumerate(zip(pads, x.shape, strict=True)):
        most = d if symmetric else d - 1
        if not (0 <= a <= most and 0 <= b <= most):
            raise ValueError(
                f"mirror_pad: padding ({a}, {b}) on axis {axis} of size {d} is out of range; "
                f"{mode} mode allows 0 to {max(most, 0)}"
            )
    for axis, ((a, b), d) in enumerate(zip(pads, x.shape, strict=True)):
        if a or b:
            idx = tensor(_mirror_indices(d, a, b, symmetric), dtype="int32")
            x = gather(x, idx, axis, _checked=True)
    return x


def _ints(v: Sequence[int], op: str, what: str) -> list[int]:
    return list(dtypes.as_ints(list(v), f"{op}: {what}"))


def space_to_batch_nd(
    x: TensorLike, block_shape: Sequence[int], paddings: Sequence[Sequence[int]]
) -> Tensor:
    """Move blocks of the spatial axes into the batch axis (TF.js ``spaceToBatchND``).

    ``x`` has shape ``[batch] + spatial + rest`` with M = ``len(block_shape)`` spatial axes.
    The spatial axes are zero-padded by ``paddings``, cut into ``block_shape`` blocks, and
    the block offsets go to the batch axis: the result has shape
    ``[batch * prod(block_shape)] + [(spatial[i] + pads[i]) / block_shape[i]] + rest``.

    Args:
        x: The tensor, rank >= 1 + M.
        block_shape: M block sizes (each >= 1).
        paddings: M ``(before, after)`` pairs (non-negative); each padded size must divide
            by its block size.

    Returns:
        The rearranged Tensor.

    Raises:
        ValueError: Bad block sizes or paddings, or a padded size not divisible.

    Example:

    >>> x = tw.reshape(tw.range(1, 5), [1, 2, 2, 1])
    >>> tw.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]).shape
    (4, 1, 1, 1)
    """
    x = as_tensor(x)
    block = _ints(block_shape, "space_to_batch_nd", "block_shape")
    m = len(block)
    pads = [tuple(_ints(p, "space_to_batch_nd", "paddings")) for p in paddings]
    if builtins.any(b < 1 for b in block) or x.rank < 1 + m:
        raise ValueError(
            f"space_to_batch_nd: block_shape {block} must hold sizes >= 1 for at most "
            f"rank - 1 spatial axes of shape {x.shape}"
        )
    if len(pads) != m or builtins.any(len(p) != 2 or min(p) < 0 for p in pads):
        raise ValueError(f"space_to_batch_nd: paddings {paddings} must give {m} non-negative pairs")
    padded = [x.shape[1 + i] + pads[i][0] + pads[i][1] for i in range(m)]
    for i in range(m):
        if padded[i] % block[i]:
            raise ValueError(
                f"space_to_batch_nd: padded size {padded[i]} of spatial axis {i} (shape "
                f"{x.shape}, paddings {pads[i]}) is not divisible by block size {block[i]}"
            )
    rest = list(x.shape[1 + m :])
    batch = x.shape[0]
    y = pad(x, [(0, 0), *pads, *[(0, 0)] * len(rest)])
    split = [batch]
    for i in range(m):
        split += [padded[i] // block[i], block[i]]
    y = reshape(y, split + rest)
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)]
    perm += list(range(1 + 2 * m, 1 + 2 * m + len(rest)))
    y = transpose(y, perm)
    nb = batch * int(np.prod(block))
    return reshape(y, [nb] + [padded[i] // block[i] for i in range(m)] + rest)


def batch_to_space_nd(
    x: TensorLike, block_shape: Sequence[int], crops: Sequence[Sequence[int]]
) -> Tensor:
    """The inverse of ``space_to_batch_nd``: move blocks of the batch axis back into the
    spatial axes, then crop (TF.js ``batchToSpaceND``).

    ``x`` has shape ``[batch] + spatial + rest``; ``batch`` must divide by
    ``prod(block_shape)``. The result has shape
    ``[batch / prod(block_shape)] + [spatial[i] * block_shape[i] - crops[i]] + rest``.

    Args:
        x: The tensor, rank >= 1 + M (M = ``len(block_shape)``).
        block_shape: M block sizes (each >= 1).
        crops: M ``(start, end)`` pairs (non-negative) cut from each grown spatial axis.

    Returns:
        The rearranged Tensor.

    Raises:
        ValueError: Bad block sizes or crops, or a batch not divisible by the block count.

    Example:

    >>> x = tw.reshape(tw.range(1, 5), [4, 1, 1, 1])
    >>> tw.batch_to_space_nd(x, [2, 2], [[0, 0], [0, 0]]).numpy().ravel().tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    x = as_tensor(x)
    block = _ints(block_shape, "batch_to_space_nd", "block_shape")
    m = len(block)
    cr = [tuple(_ints(c, "batch_to_space_nd", "crops")) for c in crops]
    if builtins.any(b < 1 for b in block) or x.rank < 1 + m:
        raise ValueError(
            f"batch_to_space_nd: block_shape {block} must hold sizes >= 1 for at most "
            f"rank - 1 spatial axes of shape {x.shape}"
        )
    if len(cr) != m or builtins.any(len(c) != 2 or min(c) < 0 for c in cr):
        raise ValueError(f"batch_to_space_nd: crops {crops} must give {m} non-negative pairs")
    prod = int(np.prod(block))
    if x.shape[0] % prod:
        raise ValueError(
            f"batch_to_space_nd: batch {x.shape[0]} of shape {x.shape} is not divisible by "
            f"prod(block_shape) = {prod}"
        )
    spatial = list(x.shape[1 : 1 + m])
    rest = list(x.shape[1 + m :])
    grown = [spatial[i] * block[i] for i in range(m)]
    for i in range(m):
        if cr[i][0] + cr[i][1] > grown[i]:
            raise ValueError(
                f"batch_to_space_nd: crops {cr[i]} exceed the grown size {grown[i]} of "
                f"spatial axis {i}"
            )
    nb = x.shape[0] // prod
    y = reshape(x, block + [nb] + spatial + rest)
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    y = reshape(transpose(y, perm), [nb] + grown + rest)
    begin = [0] + [c[0] for c in cr] + [0] * len(rest)
    size = [nb] + [grown[i] - cr[i][0] - cr[i][1] for i in range(m)] + rest
    return slice(y, begin, size)


def depth_to_space(x: TensorLike, block_size: int, data_format: str = "NHWC") -> Tensor:
    """Move depth into blocks of space (TF.js ``depthToSpace``).

    For NHWC input ``(b, h, w, c)`` the result is ``(b, h * s, w * s, c / s**2)`` with
    ``out[b, i*s + di, j*s + dj, k] = x[b, i, j, (di * s + dj) * c / s**2 + k]`` (NCHW alike,
    TF's DCR order).

    Args:
        x: A rank-4 tensor.
        block_size: The block size ``s`` (>= 2, as TF.js); the depth must divide by ``s**2``.
        data_format: ``"NHWC"`` or ``"NCHW"``.

    Returns:
        The rearranged Tensor.

    Raises:
        ValueError: Not rank 4, a block size below 2, a depth not divisible by ``s**2`` or
            an unknown data format.

    Example:

    >>> x = tw.reshape(tw.range(1, 5), [1, 1, 1, 4])
    >>> tw.depth_to_space(x, 2).numpy()[0, :, :, 0].tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    x = as_tensor(x)
    s = dtypes.as_int(block_size, "depth_to_space: block_size")
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(
            f"depth_to_space: data_format must be 'NHWC' or 'NCHW', got {data_format!r}"
        )
    if x.rank != 4:
        raise ValueError(f"depth_to_space: x must have rank 4, got shape {x.shape}")
    if s < 2:
        raise ValueError(f"depth_to_space: block_size must be >= 2, got {s}")
    if data_format == "NHWC":
        b, h, w, c = x.shape
    else:
        b, c, h, w = x.shape
    if c % (s * s):
        raise ValueError(
            f"depth_to_space: depth {c} of shape {x.shape} is not divisible by "
            f"block_size**2 = {s * s}"
        )
    c2 = c // (s * s)
    if data_format == "NHWC":
        y = transpose(reshape(x, (b, h, w, s, s, c2)), (0, 1, 3, 2, 4, 5))
        return reshape(y, (b, h * s, w * s, c2))
    y = transpose(reshape(x, (b, s, s, c2, h, w)), (0, 3, 4, 1, 5, 2))
    return reshape(y, (b, c2, h * s, w * s))


def ensure_shape(x: TensorLike, shape: Sequence[int | None]) -> Tensor:
    """``x`` itself after checking its shape (TF.js ``ensureShape``).

    Args:
        x: The tensor.
        shape: The expected shape; ``None`` (or -1) entries match any size.

    Returns:
        ``x`` unchanged.

    Raises:
        ValueError: The rank or a known dimension differs.

    Example:

    >>> tw.ensure_shape(tw.ones([2, 3]), [None, 3]).shape
    (2, 3)
    """
    x = as_tensor(x)
    want = [None if d is None or d == -1 else dtypes.as_int(d, "ensure_shape") for d in shape]
    if len(want) != x.rank or builtins.any(
        w is not None and w != d for w, d in zip(want, x.shape, strict=True)
    ):
        raise ValueError(
            f"ensure_shape: the shape of x {x.shape} is not compatible with the expected "
            f"shape {tuple(want)}"
        )
    return x
