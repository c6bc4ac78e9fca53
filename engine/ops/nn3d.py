"""3-D convolution and pooling (NDHWC), plus ``dilation2d`` and ``max_pool_with_argmax``.

Every op here is a composite of existing differentiable ops, so all backends run it and its
gradient comes from theirs: a 3-D im2col is one ``gather`` with host-computed flat indices
into the padded volume (cached and uploaded once, as ``engine.ops.nn`` does for 2-D), a
convolution is that gather and one ``matmul``, its transpose is the ``matmul`` with the
filter transposed and one ``scatter_add``. The window-max ops (``max_pool3d``,
``dilation2d``) carry their own gradient (``custom_grad``): each window's ``dy`` goes to ONE
cell, the first (in window order) equal to the window's maximum, as TF.js, TensorFlow and
``max_pool``; padding cells never get it.

Only the channels-last layouts (``"NDHWC"``, ``"NHWC"``) are supported; any other
``data_format`` raises ``ValueError``.

(The module is not called ``conv3d``: a submodule named like the function ``engine.ops.conv3d``
would shadow it, or be shadowed by it.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.autodiff import custom_grad
from engine.ops.activations import _float
from engine.ops.core import reshape
from engine.ops.linalg import matmul
from engine.ops.math import add, cast, div, equal, mul
from engine.ops.nn import _constant, _im2col, conv_output_size
from engine.ops.nn import max_pool as _max_pool2d
from engine.ops.reduction import argmax, cumsum
from engine.ops.reduction import max as reduce_max
from engine.ops.reduction import sum as reduce_sum
from engine.ops.shape import gather, pad, scatter_add
from engine.ops.shape import slice as tslice
from engine.tensor import Tensor
from engine.typing import TensorLike


def _ints(v: Any, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or ``n`` positive ints as a tuple of ``n`` ints."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        out = (int(v),) * n
    else:
        try:
            out = tuple(int(i) for i in v)
        except TypeError:
            raise ValueError(f"{op}: {name} must be an int or {n} ints, got {v!r}") from None
        if len(out) != n:
            raise ValueError(f"{op}: {name} must be an int or {n} ints, got {v!r}")
    if min(out) < 1:
        raise ValueError(f"{op}: {name} must be positive, got {v!r}")
    return out


def _triple(v: Any, name: str, op: str) -> tuple[int, int, int]:
    return _ints(v, 3, name, op)


def _check_format(data_format: str, expected: str, op: str) -> None:
    if str(data_format).upper() != expected:
        raise ValueError(
            f"{op}: data_format {data_format!r} is not supported; only {expected!r} "
            "(channels last) is"
        )


def _padding(padding: Any, op: str) -> str:
    p = str(padding).lower() if isinstance(padding, str) else padding
    if p not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    return p


def _geometry3d(x_shape: tuple, k: tuple, strides: tuple, padding: str, dil: tuple, op: str):
    """(output (od, oh, ow), pads ((front, back), (top, bottom), (left, right)))."""
    outs, pads = [], []
    for size, kk, s, d in zip(x_shape[1:4], k, strides, dil, strict=True):
        o, before, after = conv_output_size(size, kk, s, d, padding)
        outs.append(o)
        pads.append((before, after))
    if min(outs) <= 0:
        raise ValueError(
            f"{op}: window {k} (dilation {dil}) does not fit input of shape {x_shape} with "
            f"padding {padding!r}"
        )
    return tuple(outs), tuple(pads)


@functools.lru_cache(maxsize=128)
def _patch_indices_3d(
    padded: tuple, k: tuple, strides: tuple, dil: tuple, out: tuple
) -> np.ndarray:
    """Flat (od, oh, ow, kd, kh, kw) indices into a padded (dp*hp*wp) volume."""
    (_, hp, wp), (kd, kh, kw), (sd, sh, sw), (dd, dh, dw), (od, oh, ow) = (
        padded,
        k,
        strides,
        dil,
        out,
    )
    a = np.arange(od)[:, None, None, None, None, None] * sd
    a = a + np.arange(kd)[None, None, None, :, None, None] * dd
    b = np.arange(oh)[None, :, None, None, None, None] * sh
    b = b + np.arange(kh)[None, None, None, None, :, None] * dh
    c = np.arange(ow)[None, None, :, None, None, None] * sw
    c = c + np.arange(kw)[None, None, None, None, None, :] * dw
    return np.ascontiguousarray(((a * hp + b) * wp + c).reshape(-1).astype(np.int32))


@functools.lru_cache(maxsize=128)
def _valid_counts_3d(shape: tuple, pads: tuple, k: tuple, strides: tuple, out: tuple) -> np.ndarray:
    """How many real (unpadded) cells each pooling window covers, shaped (1, od, oh, ow, 1)."""
    padded = tuple(s + p[0] + p[1] for s, p in zip(shape, pads, strict=True))
    ones = np.pad(np.ones(shape, np.float32), pads).reshape(-1)
    idx = _patch_indices_3d(padded, k, strides, (1, 1, 1), out)
    kk = k[0] * k[1] * k[2]
    return ones[idx].reshape(out + (kk,)).sum(-1).reshape((1,) + out + (1,))


class _Windows:
    """The windows of an (N, *spatial, C) tensor: flat indices into its padded volume."""

    def __init__(self, x_shape: tuple, pads: tuple, idx: Tensor, out: tuple, k: int):
        self.x_shape, self.pads, self.idx, self.out, self.k = x_shape, pads, idx, out, k
        self.padded = tuple(s + p[0] + p[1] for s, p in zip(x_shape[1:-1], pads, strict=True))
        self.volume = int(np.prod(self.padded))
        self.p = int(np.prod(out))

    def cols(self, t: Tensor, pad_value: float) -> Tensor:
        """(N, P, K, C): every window's cells, padding cells ``pad_value``."""
        n, c = t.shape[0], t.shape[-1]
        tp = pad(t, ((0, 0),) + self.pads + ((0, 0),), pad_value)
        g = gather(reshape(tp, (n, self.volume, c)), self.idx, 1, _checked=True)
        return reshape(g, (n, self.p, self.k, c))

    def scatter(self, g: Tensor) -> Tensor:
        """The adjoint of ``cols``: (N, P, K, C) summed back into an unpadded x-shaped tensor."""
        n, c = g.shape[0], g.shape[-1]
        flat = scatter_add(
            reshape(g, (n, self.p * self.k, c)), self.idx, 1, self.volume, _checked=True
        )
        full = reshape(flat, (n,) + self.padded + (c,))
        return tslice(full, (0,) + tuple(p[0] for p in self.pads) + (0,), self.x_shape)


def _windows_3d(x_shape: tuple, k: tuple, strides: tuple, padding: str, dil: tuple, op: str):
    out, pads = _geometry3d(x_shape, k, strides, padding, dil, op)
    padded = tuple(s + p[0] + p[1] for s, p in zip(x_shape[1:4], pads, strict=True))
    idx = _constant(_patch_indices_3d, (padded, k, strides, dil, out), "int32")
    return _Windows(x_shape, pads, idx, out, k[0] * k[1] * k[2])


def _first_max(cols: Tensor, pooled: Tensor, dtype: str) -> Tensor:
    """(N, P, K, C) 0/1 mask of the first cell of each window equal to its max (NaN cells
    never match)."""
    eq = cast(
        equal(cols, reshape(pooled, (pooled.shape[0], pooled.shape[1], 1, pooled.shape[2]))), dtype
    )
    return mul(eq, cast(equal(cumsum(eq, 2, exclusive=True), 0), dtype))


def _window_max(x: Tensor, win: _Windows, f: Tensor | None) -> Tensor:
    """(N, P, C) max over each window of ``x`` (plus ``f`` (K, C) when given; padding cells
    never win), with the first-max gradient to ``x`` and to ``f``."""

    def forward(*ts: Tensor):
        xt = ts[0]
        cols = win.cols(xt, float("-inf"))
        if f is not None:
            cols = add(cols, ts[1])
        out = reduce_max(cols, 2)

        def grad_fn(dy: Tensor):
            marked = win.cols(xt, float("nan"))  # padding cells never match the max
            if f is not None:
                marked = add(marked, ts[1])
            mask = _first_max(marked, out, dy.dtype)
            n, p, c = dy.shape
            g = mul(mask, reshape(dy, (n, p, 1, c)))
            dx = win.scatter(g)
            if f is None:
                return [dx]
            return [dx, reduce_sum(g, (0, 1))]

        return out, grad_fn

    return custom_grad(forward)(x) if f is None else custom_grad(forward)(x, f)


def _batch5(x: Tensor, op: str) -> tuple[Tensor, bool]:
    squeeze = x.rank == 4
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    if x.rank != 5:
        raise ValueError(
            f"{op}: input must be rank 5 (batch, depth, height, width, channels) or 4, got "
            f"shape {x.shape}"
        )
    return x, squeeze


def conv3d(
    x: TensorLike,
    filter: TensorLike,  # noqa: A002
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    dilations: int | Sequence[int] = 1,
    data_format: str = "NDHWC",
) -> Tensor:
    """3-D convolution, NDHWC input and ``(kd, kh, kw, in, out)`` filter (TF.js ``conv3d``).

    Args:
        x: Input ``(batch, depth, height, width, in)`` (or without the batch axis).
        filter: The kernel ``(kd, kh, kw, in, out)``.
        strides: The stride, one int or ``(sd, sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        dilations: The dilation rate, one int or ``(dd, dh, dw)``.
        data_format: ``"NDHWC"``, the only layout supported.

    Returns:
        The output ``(batch, out_depth, out_height, out_width, out)``.

    Raises:
        ValueError: Ranks or channel counts that do not match, a window that does not fit, or
            another ``data_format``.

    Example:

    >>> tw.conv3d(tw.ones([1, 3, 4, 4, 1]), tw.ones([2, 3, 3, 1, 2])).shape
    (1, 2, 2, 2, 2)
    """
    _check_format(data_format, "NDHWC", "conv3d")
    x, f = _float(x), _float(filter)
    x, squeeze = _batch5(x, "conv3d")
    if f.rank != 5:
        raise ValueError(f"conv3d: filter must be rank 5 (kd, kh, kw, in, out), got {f.shape}")
    if f.shape[3] != x.shape[4]:
        raise ValueError(
            f"conv3d: filter in-channels {f.shape[3]} (shape {f.shape}) must equal input "
            f"channels {x.shape[4]} (shape {x.shape})"
        )
    k = tuple(f.shape[:3])
    st = _triple(strides, "strides", "conv3d")
    dil = _triple(dilations, "dilations", "conv3d")
    win = _windows_3d(x.shape, k, st, _padding(padding, "conv3d"), dil, "conv3d")
    n, c, o = x.shape[0], x.shape[4], f.shape[4]
    cols = win.cols(x, 0.0)
    out = matmul(reshape(cols, (n * win.p, win.k * c)), reshape(f, (win.k * c, o)))
    out = reshape(out, (n,) + win.out + (o,))
    return reshape(out, out.shape[1:]) if squeeze else out


def conv3d_transpose(
    x: TensorLike,
    filter: TensorLike,  # noqa: A002
    output_shape: Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
) -> Tensor:
    """Transposed 3-D convolution, the adjoint of ``conv3d`` (TF.js ``conv3dTranspose``).

    Args:
        x: Input ``(batch, depth, height, width, in)`` (or without the batch axis).
        filter: The kernel ``(kd, kh, kw, out, in)``, as TF.js.
        output_shape: The output shape ``(batch, depth, height, width, out)``, with or
            without the batch axis.
        strides: The stride of the forward convolution, one int or ``(sd, sh, sw)``.
        padding: The padding of the forward convolution, ``"valid"`` or ``"same"``.

    Returns:
        A Tensor of ``output_shape``.

    Raises:
        ValueError: Channel counts that do not match the filter, or an input whose spatial
            shape is not what ``conv3d`` of ``output_shape`` would give.

    Example:

    >>> tw.conv3d_transpose(tw.ones([1, 2, 2, 2, 1]), tw.ones([2, 2, 2, 3, 1]),
    ...                     [1, 4, 4, 4, 3], 2).shape
    (1, 4, 4, 4, 3)
    """
    x, f = _float(x), _float(filter)
    x, squeeze = _batch5(x, "conv3d_transpose")
    if f.rank != 5:
        raise ValueError(
            f"conv3d_transpose: filter must be rank 5 (kd, kh, kw, out, in), got {f.shape}"
        )
    shape = tuple(int(s) for s in output_shape)
    if len(shape) == 4:
        shape = (x.shape[0],) + shape
    if len(shape) != 5 or shape[0] != x.shape[0]:
        raise ValueError(
            f"conv3d_transpose: output_shape {tuple(output_shape)} must be (batch, depth, "
            f"height, width, channels) with batch {x.shape[0]}"
        )
    k, oc, ic = tuple(f.shape[:3]), f.shape[3], f.shape[4]
    if ic != x.shape[4] or shape[4] != oc:
        raise ValueError(
            f"conv3d_transpose: filter {f.shape} needs input channels {ic} (got {x.shape[4]}) "
            f"and output channels {oc} (got {shape[4]})"
        )
    st = _triple(strides, "strides", "conv3d_transpose")
    pd = _padding(padding, "conv3d_transpose")
    win = _windows_3d(shape, k, st, pd, (1, 1, 1), "conv3d_transpose")
    if tuple(x.shape[1:4]) != win.out:
        raise ValueError(
            f"conv3d_transpose: input spatial shape {tuple(x.shape[1:4])} must be {win.out} "
            f"for output shape {shape}, strides {st} and padding {pd!r}"
        )
    n = x.shape[0]
    cols = matmul(reshape(x, (n * win.p, ic)), reshape(f, (win.k * oc, ic)), transpose_b=True)
    out = win.scatter(reshape(cols, (n, win.p, win.k, oc)))
    return reshape(out, out.shape[1:]) if squeeze else out


def _pool3d(x: Any, pool_size: Any, strides: Any, padding: str, data_format: str, op: str):
    _check_format(data_format, "NDHWC", op)
    x = _float(x)
    x, squeeze = _batch5(x, op)
    k = _triple(pool_size, "pool_size", op)
    st = k if strides is None else _triple(strides, "strides", op)
    pd = _padding(padding, op)
    win = _windows_3d(x.shape, k, st, pd, (1, 1, 1), op)
    n, c = x.shape[0], x.shape[4]
    if op == "max_pool3d":
        out = _window_max(x, win, None)
    else:
        out = reduce_sum(win.cols(x, 0.0), 2)
        if any(p for pp in win.pads for p in pp):
            key = (tuple(x.shape[1:4]), win.pads, k, st, win.out)
            counts = _constant(_valid_counts_3d, key, "float32")
            out = div(out, reshape(counts, (1, win.p, 1)))
        else:
            out = mul(out, 1.0 / win.k)
    out = reshape(out, (n,) + win.out + (c,))
    return reshape(out, out.shape[1:]) if squeeze else out


def max_pool3d(
    x: TensorLike,
    pool_size: int | Sequence[int] = 1,
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
    data_format: str = "NDHWC",
) -> Tensor:
    """3-D max pooling, NDHWC (TF.js ``maxPool3d``); padding cells never win.

    The gradient goes to the first cell (in depth, row, column order) of each window equal to
    its maximum, as TF.js and ``max_pool``.

    Args:
        x: Input ``(batch, depth, height, width, channels)`` (or without the batch axis).
        pool_size: The window, one int or ``(pd, ph, pw)`` (TF.js ``filterSize``).
        strides: The stride, one int or ``(sd, sh, sw)`` (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"NDHWC"``, the only layout supported.

    Returns:
        The pooled Tensor.

    Raises:
        ValueError: A wrong rank, a window that does not fit, or another ``data_format``.

    Example:

    >>> tw.max_pool3d(tw.reshape(tw.range(0, 8), [1, 2, 2, 2, 1]), 2).numpy().ravel().tolist()
    [7.0]
    """
    return _pool3d(x, pool_size, strides, padding, data_format, "max_pool3d")


def avg_pool3d(
    x: TensorLike,
    pool_size: int | Sequence[int] = 1,
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
    data_format: str = "NDHWC",
) -> Tensor:
    """3-D average pooling, NDHWC (TF.js ``avgPool3d``); ``"same"`` padding cells are left out
    of the count, as TF.

    Args:
        x: Input ``(batch, depth, height, width, channels)`` (or without the batch axis).
        pool_size: The window, one int or ``(pd, ph, pw)`` (TF.js ``filterSize``).
        strides: The stride, one int or ``(sd, sh, sw)`` (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"NDHWC"``, the only layout supported.

    Returns:
        The pooled Tensor.

    Raises:
        ValueError: A wrong rank, a window that does not fit, or another ``data_format``.

    Example:

    >>> tw.avg_pool3d(tw.reshape(tw.range(0, 8), [1, 2, 2, 2, 1]), 2).numpy().ravel().tolist()
    [3.5]
    """
    return _pool3d(x, pool_size, strides, padding, data_format, "avg_pool3d")


def _pair(v: Any, name: str, op: str) -> tuple[int, int]:
    return _ints(v, 2, name, op)


def _windows_2d(x: Tensor, k: tuple, strides: tuple, padding: str, dil: tuple, op: str):
    """The 2-D windows of ``x`` (N, H, W, C) through ``engine.ops.nn``'s cached im2col
    indices."""
    from engine.ops.nn import _geometry, _indices_tensor

    _, out, pads = _geometry(x.shape, k[0], k[1], strides, padding, dil)
    if min(out) <= 0:
        raise ValueError(
            f"{op}: window {k} (dilation {dil}) does not fit input of shape {x.shape} with "
            f"padding {padding!r}"
        )
    hp, wp = x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1])
    key = (hp, wp, k[0], k[1], strides[0], strides[1], dil[0], dil[1], out[0], out[1])
    return _Windows(x.shape, pads, _indices_tensor(key), out, k[0] * k[1])


def dilation2d(
    x: TensorLike,
    filter: TensorLike,  # noqa: A002
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    dilations: int | Sequence[int] = 1,
    data_format: str = "NHWC",
) -> Tensor:
    """Grayscale morphological dilation (TF.js ``dilation2d``): the max over each window of
    ``x + filter``, per channel.

    ``out[b, y, x, c] = max over (i, j) of x[b, y*sh + i*dh - top, x*sw + j*dw - left, c] +
    filter[i, j, c]``, skipping cells outside ``x``. The gradient goes to the first cell (row
    major) reaching the maximum, for ``x`` and ``filter``, as TensorFlow.

    Args:
        x: Input ``(batch, height, width, depth)`` (or without the batch axis).
        filter: The structuring function ``(fh, fw, depth)``.
        strides: The stride, one int or ``(sh, sw)``.
        padding: ``"valid"`` or ``"same"``.
        dilations: The dilation rate, one int or ``(dh, dw)``.
        data_format: ``"NHWC"``, the only layout supported.

    Returns:
        The output ``(batch, out_height, out_width, depth)``.

    Raises:
        ValueError: Ranks or depths that do not match, a window that does not fit, or
            another ``data_format``.

    Example:

    >>> x = tw.reshape(tw.range(0, 9), [1, 3, 3, 1])
    >>> tw.dilation2d(x, tw.zeros([2, 2, 1])).numpy().ravel().tolist()
    [4.0, 5.0, 7.0, 8.0]
    """
    _check_format(data_format, "NHWC", "dilation2d")
    x, f = _float(x), _float(filter)
    squeeze = x.rank == 3
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    if x.rank != 4:
        raise ValueError(f"dilation2d: input must be rank 3 or 4, got shape {x.shape}")
    if f.rank != 3:
        raise ValueError(f"dilation2d: filter must be rank 3 (fh, fw, depth), got {f.shape}")
    if f.shape[2] != x.shape[3]:
        raise ValueError(
            f"dilation2d: input depth {x.shape[3]} (shape {x.shape}) must equal filter depth "
            f"{f.shape[2]} (shape {f.shape})"
        )
    if f.dtype != x.dtype:
        f = cast(f, x.dtype)
    st = _pair(strides, "strides", "dilation2d")
    dil = _pair(dilations, "dilations", "dilation2d")
    pd = _padding(padding, "dilation2d")
    win = _windows_2d(x, tuple(f.shape[:2]), st, pd, dil, "dilation2d")
    out = _window_max(x, win, reshape(f, (win.k, f.shape[2])))
    out = reshape(out, (x.shape[0],) + win.out + (x.shape[3],))
    return reshape(out, out.shape[1:]) if squeeze else out


@functools.lru_cache(maxsize=64)
def _argmax_positions(
    h: int, w: int, pads: tuple, k: tuple, strides: tuple, out: tuple
) -> np.ndarray:
    """(oh*ow*kh*kw,) the unpadded flat position ``y * w + x`` of each window cell (-1 for
    padding cells)."""
    from engine.ops.nn import _patch_indices

    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    pos = np.full((hp, wp), -1, np.int64)
    pos[pads[0][0] : pads[0][0] + h, pads[1][0] : pads[1][0] + w] = np.arange(h * w).reshape(h, w)
    idx = _patch_indices(hp, wp, k[0], k[1], strides[0], strides[1], 1, 1, out[0], out[1])
    return pos.reshape(-1)[idx].astype(np.int32)


def max_pool_with_argmax(
    x: TensorLike,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
    include_batch_in_index: bool = False,
) -> tuple[Tensor, Tensor]:
    """2-D max pooling that also returns where each maximum is (TF.js ``maxPoolWithArgmax``).

    The index of a maximum at ``[b, y, x, c]`` is flattened to ``(y * width + x) * channels
    + c``, or ``((b * height + y) * width + x) * channels + c`` with
    ``include_batch_in_index``; on ties it is the first cell of the window (row major), the
    one ``max_pool``'s gradient goes to. Padding cells are never chosen, except in a
    ``"same"`` window whose real cells are all ``-inf``: its index is then not meaningful.

    Args:
        x: Input ``(batch, height, width, channels)``.
        pool_size: The window, one int or ``(ph, pw)`` (TF.js ``filterSize``).
        strides: The stride, one int or ``(sh, sw)`` (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        include_batch_in_index: Count the batch in the flattened indices.

    Returns:
        ``(result, indexes)``: the pooled Tensor (as ``max_pool``, differentiable) and the
        int32 indexes of the same shape (TF.js's ``{result, indexes}``).

    Raises:
        ValueError: A wrong rank or a window that does not fit.

    Example:

    >>> x = tw.tensor([[[[1.0], [4.0]], [[3.0], [2.0]]]])
    >>> result, indexes = tw.max_pool_with_argmax(x, 2)
    >>> result.numpy().ravel().tolist(), indexes.numpy().ravel().tolist()
    ([4.0], [1])
    """
    x = _float(x)
    if x.rank != 4:
        raise ValueError(
            f"max_pool_with_argmax: input must be rank 4 (batch, height, width, channels), "
            f"got shape {x.shape}"
        )
    k = _pair(pool_size, "pool_size", "max_pool_with_argmax")
    st = k if strides is None else _pair(strides, "strides", "max_pool_with_argmax")
    pd = _padding(padding, "max_pool_with_argmax")
    result = _max_pool2d(x, k, st, pd)
    n, h, w, c = x.shape
    cols, out, pads, _ = _im2col(x, k[0], k[1], st, pd, 1, float("-inf"))
    kk = k[0] * k[1]
    p = out[0] * out[1]
    which = argmax(reshape(cols, (n, p, kk, c)), 2)  # (n, p, c): first max of each window
    flat = add(which, _constant(_window_offsets, (p, kk), "int32"))
    key = (h, w, pads, k, st, out)
    pos = gather(_constant(_argmax_positions, key, "int32"), flat, 0, _checked=True)
    idx = add(mul(pos, c), _constant(_channel_ids, (c,), "int32"))
    if include_batch_in_index:
        idx = add(idx, _constant(_batch_offsets, (n, h * w * c), "int32"))
    return result, reshape(idx, (n,) + out + (c,))


def _window_offsets(p: int, k: int) -> np.ndarray:
    """(1, p, 1): the flat offset ``window * k`` of each window's first cell."""
    return (np.arange(p, dtype=np.int32) * k).reshape(1, p, 1)


def _channel_ids(c: int) -> np.ndarray:
    return np.arange(c, dtype=np.int32)


def _batch_offsets(n: int, size: int) -> np.ndarray:
    return (np.arange(n, dtype=np.int32) * size).reshape(n, 1, 1)
