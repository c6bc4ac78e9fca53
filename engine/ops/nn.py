"""Neural-network ops (channels last): convolutions and pooling via im2col, batch norm, dropout.

im2col is one ``gather`` with host-computed patch indices (cached), so its gradient is one
``scatter_add`` and every backend gets convolutions from two primitives and a matmul.

A backend may fuse (``Backend.fused``; signatures below, buffers NHWC and C-contiguous):

- ``conv2d`` / ``fused_conv2d``: ``(x, x_shape, f, f_shape, bias, dtype, pads, dilations,
  activation) -> buf`` for stride 1; ``bias`` is None or O values, ``activation`` "linear" or
  "relu", ``pads`` ((top, bottom), (left, right)).
- ``conv2d_backprop_filter``: ``(x, x_shape, dy, dy_shape, out, dtype, pads, dilations,
  activation) -> buf``: the filter gradient (KH*KW*C*O values) then the bias gradient (O),
  through the relu (read from ``out``, None when linear).
- ``max_pool``: ``(x, x_shape, dtype, pool, strides, pads) -> buf``; ``max_pool_grad``:
  ``(dy, x, out, x_shape, dtype, pool, strides, pads) -> buf``.

Max-pool gradient rule (as TF.js ``maxPoolPositions`` + ``maxPoolBackprop``, TensorFlow's
``MaxPoolGrad`` and PyTorch): each window's ``dy`` goes to ONE input cell, the first cell (in
row-major window order) equal to the window's maximum; padding cells never get it, and a
window whose maximum is NaN passes no gradient. Overlapping windows add up.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import dispatch, registry
from engine.ops.activations import _float
from engine.ops.core import reshape, tensor
from engine.ops.creation import random_uniform
from engine.ops.linalg import matmul
from engine.ops.math import add, cast, div, equal, floor, greater, mul, rsqrt, sub
from engine.ops.reduction import cumsum
from engine.ops.reduction import max as reduce_max
from engine.ops.reduction import sum as reduce_sum
from engine.ops.shape import concat, gather, pad, scatter_add
from engine.ops.shape import slice as tslice
from engine.tensor import Tensor
from engine.typing import TensorLike


def _pair(v: Any, name: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v}")
    return v


def conv_output_size(
    size: int, k: int, stride: int, dilation: int, padding: str
) -> tuple[int, int, int]:
    """The output size and padding of a convolution along one axis, by TF's rules.

    Args:
        size: The input size.
        k: The kernel size.
        stride: The stride.
        dilation: The dilation rate.
        padding: ``"valid"`` or ``"same"``.

    Returns:
        ``(output size, pad before, pad after)``.

    Example:

    >>> tw.conv_output_size(5, 3, 2, 1, "same")
    (3, 1, 1)
    """
    ek = (k - 1) * dilation + 1
    if padding == "valid":
        out = (size - ek) // stride + 1
        return max(out, 0), 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + ek - size, 0)
        return out, total // 2, total - total // 2
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


@functools.lru_cache(maxsize=256)
def _patch_indices(
    hp: int, wp: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int, ow: int
) -> np.ndarray:
    """Flat (oh, ow, kh, kw) indices into a padded (hp*wp) image."""
    r = np.arange(oh)[:, None, None, None] * sh + np.arange(kh)[None, None, :, None] * dh
    c = np.arange(ow)[None, :, None, None] * sw + np.arange(kw)[None, None, None, :] * dw
    return np.ascontiguousarray((r * wp + c).reshape(-1).astype(np.int32))


_constants: dict = {}


def _constant(build: Any, key: tuple, dtype: str) -> Tensor:
    """``build(*key)`` (a host array) as a tensor on the active backend, uploaded once."""
    from engine.memory import keep

    k = (registry.get_backend(), build.__name__) + key
    t = _constants.get(k)
    if t is None or t.is_disposed:
        t = keep(tensor(build(*key), dtype=dtype))
        _constants[k] = t
    return t


def _indices_tensor(key: tuple) -> Tensor:
    """The patch-index tensor for ``key`` on the active backend."""
    return _constant(_patch_indices, key, "int32")


def _pool_counts(
    h: int, w: int, pads: tuple, kh: int, kw: int, sh: int, sw: int, oh: int, ow: int
) -> np.ndarray:
    """How many real (unpadded) cells each pooling window covers, shaped (1, oh, ow, 1)."""
    cnt = np.pad(np.ones((h, w), np.float32), pads).reshape(-1)
    idx = _patch_indices(h + sum(pads[0]), w + sum(pads[1]), kh, kw, sh, sw, 1, 1, oh, ow)
    return cnt[idx].reshape(oh, ow, kh * kw).sum(-1).reshape(1, oh, ow, 1)


def _geometry(x_shape, kh, kw, strides, padding, dilations):
    """((sh, sw, dh, dw), (oh, ow), pads); ``padding`` is 'valid', 'same' or, internally,
    ``("explicit", ((top, bottom), (left, right)))`` (the gradients of fused kernels)."""
    sh, sw = _pair(strides, "strides")
    dh, dw = _pair(dilations, "dilations")
    if isinstance(padding, tuple) and padding and padding[0] == "explicit":
        pads = tuple(tuple(int(v) for v in p) for p in padding[1])
        oh = (x_shape[1] + sum(pads[0]) - (kh - 1) * dh - 1) // sh + 1
        ow = (x_shape[2] + sum(pads[1]) - (kw - 1) * dw - 1) // sw + 1
        return (sh, sw, dh, dw), (oh, ow), pads
    if isinstance(padding, str):
        padding = padding.lower()
    oh, pt, pb = conv_output_size(x_shape[1], kh, sh, dh, padding)
    ow, pl, pr = conv_output_size(x_shape[2], kw, sw, dw, padding)
    return (sh, sw, dh, dw), (oh, ow), ((pt, pb), (pl, pr))


def _im2col(x: Tensor, kh: int, kw: int, strides, padding, dilations, pad_value=0.0):
    """(N, oh*ow*kh*kw, C) patches of ``x`` (N, H, W, C), plus the geometry."""
    (sh, sw, dh, dw), (oh, ow), pads = _geometry(x.shape, kh, kw, strides, padding, dilations)
    if oh <= 0 or ow <= 0:
        raise ValueError(
            f"kernel {kh}x{kw} (dilation {dh}x{dw}) does not fit input of shape {x.shape} "
            f"with padding {padding!r}"
        )
    xp = pad(x, ((0, 0), pads[0], pads[1], (0, 0)), pad_value)
    n, hp, wp, c = xp.shape
    key = (hp, wp, kh, kw, sh, sw, dh, dw, oh, ow)
    cols = gather(reshape(xp, (n, hp * wp, c)), _indices_tensor(key), 1, _checked=True)
    return cols, (oh, ow), pads, key


def _check_conv(x: Tensor, f: Tensor, op: str, depthwise: bool = False) -> None:
    if x.rank != 4:
        raise ValueError(
            f"{op}: input must be rank 4 (batch, height, width, channels), got shape {x.shape}"
        )
    if f.rank != 4:
        raise ValueError(
            f"{op}: filter must be rank 4 (height, width, in, out), got shape {f.shape}"
        )
    if f.shape[2] != x.shape[3]:
        raise ValueError(
            f"{op}: filter in-channels {f.shape[2]} (shape {f.shape}) must equal input channels "
            f"{x.shape[3]} (shape {x.shape})"
        )


def conv2d(
    x: TensorLike,
    filter: TensorLike,  # noqa: A002
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    dilations: int | Sequence[int] = 1,
) -> Tensor:
    """2-D convolution, NHWC input and ``(kh, kw, in, out)`` filter, as TF.js ``conv2d``.

    Args:
        x: Input ``(batch, height, width, in)`` (or without the batch axis).
        filter: The kernel ``(kh, kw, in, out)``.
        strides: The stride, one int or ``(sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        dilations: The dilation rate, one int or ``(dh, dw)``.

    Returns:
        The output ``(batch, out_height, out_width, out)``.

    Raises:
        ValueError: Ranks or channel counts that do not match.

    Example:

    >>> tw.conv2d(tw.ones([1, 4, 4, 1]), tw.ones([3, 3, 1, 2])).shape
    (1, 2, 2, 2)
    """
    x, f = _float(x), _float(filter)
    squeeze = x.rank == 3
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    _check_conv(x, f, "conv2d")
    out = _fused_conv(x, f, None, strides, padding, dilations, "linear", "conv2d")
    if out is None:
        out = _conv2d_composite(x, f, strides, padding, dilations)
    return reshape(out, out.shape[1:]) if squeeze else out


def _conv2d_composite(x: Tensor, f: Tensor, strides, padding, dilations) -> Tensor:
    kh, kw, c, oc = f.shape
    cols, (oh, ow), _, _ = _im2col(x, kh, kw, strides, padding, dilations)
    n = x.shape[0]
    out = matmul(reshape(cols, (n * oh * ow, kh * kw * c)), reshape(f, (kh * kw * c, oc)))
    return reshape(out, (n, oh, ow, oc))


def _fused_conv(
    x: Tensor, f: Tensor, bias: Tensor | None, strides, padding, dilations, act: str, name: str
) -> Tensor | None:
    """The backend's fused ``name`` kernel (stride 1, float, linear/relu), or None."""
    be = registry.backend()
    if not be.prefers(name, x_shape=x.shape, f_shape=f.shape):
        return None
    if act not in ("linear", "relu") or x.dtype != f.dtype:
        return None
    if bias is not None and (bias.dtype != x.dtype or bias.shape != (f.shape[3],)):
        return None
    (sh, sw, dh, dw), (oh, ow), pads = _geometry(x.shape, f.shape[0], f.shape[1], strides,
                                                  padding, dilations)  # fmt: skip
    if (sh, sw) != (1, 1):
        return None
    if oh <= 0 or ow <= 0:
        raise ValueError(
            f"kernel {f.shape[0]}x{f.shape[1]} (dilation {dh}x{dw}) does not fit input of shape "
            f"{x.shape} with padding {padding!r}"
        )
    xs, fs, dt, dil = x.shape, f.shape, x.dtype, (dh, dw)
    attrs = {"pads": pads, "dilations": dil, "activation": act, "bias": bias is not None}
    out_shape = (xs[0], oh, ow, fs[3])
    inputs = (x, f) if bias is None else (x, f, bias)

    def invoke(b, xb, fb, *bb):
        return getattr(b, name)(xb, xs, fb, fs, bb[0] if bb else None, dt, pads, dil, act)

    return dispatch.run(name, inputs, attrs, out_shape, dt, invoke)


def fused_conv2d(
    x: TensorLike,
    filter: TensorLike,  # noqa: A002
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    dilations: int | Sequence[int] = 1,
    bias: TensorLike | None = None,
    activation: str | None = "linear",
    leakyrelu_alpha: float = 0.2,
) -> Tensor:
    """``activation(conv2d(x, filter) + bias)``, as TF.js ``tf.fused.conv2d`` (NHWC).

    ``activation`` is one of ``FUSED_ACTIVATIONS`` (None: ``'linear'``). Where the backend
    fuses convolutions (stride 1, float) the bias and a linear or relu activation run in the
    convolution kernel, and any other activation after it; else conv2d, add, activation.

    Args:
        x: Input ``(batch, height, width, in)``.
        filter: The kernel ``(kh, kw, in, out)``.
        strides: The stride, one int or ``(sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        dilations: The dilation rate, one int or ``(dh, dw)``.
        bias: Added per output channel, or ``None``.
        activation: One of ``FUSED_ACTIVATIONS``, or ``None`` for linear.
        leakyrelu_alpha: The negative slope for ``"leakyrelu"``.

    Returns:
        ``activation(conv2d(x, filter) + bias)``.

    Raises:
        ValueError: An unknown activation, or shapes that do not match.
    """
    from engine.ops.core import as_tensor
    from engine.ops.linalg import FUSED_ACTIVATIONS, _activate

    act = "linear" if activation is None else str(activation).lower().replace("_", "")
    if act not in FUSED_ACTIVATIONS:
        raise ValueError(
            f"fused_conv2d: unknown activation {activation!r}; expected one of "
            f"{', '.join(FUSED_ACTIVATIONS)} (or None)"
        )
    x, f = _float(x), _float(filter)
    squeeze = x.rank == 3
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    _check_conv(x, f, "fused_conv2d")
    b = None if bias is None else as_tensor(bias, x.dtype)
    inner = act if act in ("linear", "relu") else "linear"
    out = _fused_conv(x, f, b, strides, padding, dilations, inner, "fused_conv2d")
    if out is None:
        out = conv2d(x, f, strides, padding, dilations)
        if b is not None:
            out = add(out, b)
        out = _activate(out, act, float(leakyrelu_alpha))
    elif inner != act:
        out = _activate(out, act, float(leakyrelu_alpha))
    return reshape(out, out.shape[1:]) if squeeze else out


def conv2d_backprop_filter(
    x: Tensor, dy: Tensor, out: Tensor | None, pads: tuple, dilations: tuple, act: str
) -> Tensor:
    """The filter gradient (KH*KW*C*O values) then the bias gradient (O values) of a stride-1
    ``fused_conv2d`` with output ``out`` (read for the relu), as one flat tensor."""
    kh = (x.shape[1] + pads[0][0] + pads[0][1] - dy.shape[1]) // dilations[0] + 1
    kw = (x.shape[2] + pads[1][0] + pads[1][1] - dy.shape[2]) // dilations[1] + 1
    c, o = x.shape[3], dy.shape[3]
    size = kh * kw * c * o + o
    be = registry.backend()
    relu_out = out if act == "relu" else None
    if be.has("conv2d_backprop_filter") and x.dtype == dy.dtype:
        xs, ds, dt = x.shape, dy.shape, x.dtype
        attrs = {"pads": pads, "dilations": dilations, "activation": act, "kernel": (kh, kw)}
        inputs = (x, dy) if relu_out is None else (x, dy, relu_out)

        def invoke(b, xb, db, *ob):
            return b.conv2d_backprop_filter(
                xb, xs, db, ds, ob[0] if ob else None, dt, pads, dilations, act
            )

        return dispatch.run("conv2d_backprop_filter", inputs, attrs, (size,), dt, invoke)
    dz = dy if relu_out is None else mul(dy, cast(greater(relu_out, 0), dy.dtype))
    padding = ((0, 0), pads[0], pads[1], (0, 0))
    cols, _, _, _ = _im2col(pad(x, padding), kh, kw, 1, "valid", dilations)
    n, oh, ow = dy.shape[:3]
    m = n * oh * ow
    df = matmul(reshape(cols, (m, kh * kw * c)), reshape(dz, (m, o)), transpose_a=True)
    db = reduce_sum(reshape(dz, (m, o)), 0)
    return concat([reshape(df, (-1,)), db], 0)


def conv1d(
    x: TensorLike,
    filter: TensorLike,  # noqa: A002
    stride: int = 1,
    padding: str = "valid",
    dilation: int = 1,
) -> Tensor:
    """1-D convolution, NWC input and ``(k, in, out)`` filter (TF.js ``conv1d``).

    Args:
        x: Input ``(batch, width, in)`` (or without the batch axis).
        filter: The kernel ``(k, in, out)``.
        stride: The stride.
        padding: ``"valid"`` or ``"same"``.
        dilation: The dilation rate.

    Returns:
        The output ``(batch, out_width, out)``.

    Raises:
        ValueError: Ranks or channel counts that do not match.

    Example:

    >>> tw.conv1d(tw.ones([1, 5, 1]), tw.ones([3, 1, 1])).tolist()
    [[[3.0], [3.0], [3.0]]]
    """
    x, f = _float(x), _float(filter)
    squeeze = x.rank == 2
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    if x.rank != 3 or f.rank != 3:
        raise ValueError(
            f"conv1d: input must be rank 3 and filter rank 3, got {x.shape} and {f.shape}"
        )
    out = conv2d(
        reshape(x, (x.shape[0], 1) + x.shape[1:]),
        reshape(f, (1,) + f.shape),
        (1, stride),
        padding,
        (1, dilation),
    )
    out = reshape(out, (out.shape[0],) + out.shape[2:])
    return reshape(out, out.shape[1:]) if squeeze else out


def conv2d_transpose(
    x: TensorLike,
    filter: TensorLike,  # noqa: A002
    output_shape: Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
) -> Tensor:
    """Transposed convolution, the adjoint of ``conv2d`` (TF.js ``conv2dTranspose``).

    Args:
        x: Input ``(batch, height, width, in_channels)``.
        filter: The kernel ``(kh, kw, out_channels, in_channels)``, as TF.js.
        output_shape: The output shape, with or without the batch axis.
        strides: The stride.
        padding: ``"valid"`` or ``"same"``.

    Returns:
        A Tensor of ``output_shape``.

    Raises:
        ValueError: The channel counts do not match the filter.

    Example:

    >>> tw.conv2d_transpose(tw.ones([1, 2, 2, 1]), tw.ones([2, 2, 1, 1]), [1, 4, 4, 1], 2).shape
    (1, 4, 4, 1)
    """
    x, f = _float(x), _float(filter)
    squeeze = x.rank == 3
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    output_shape = tuple(int(s) for s in output_shape)
    if len(output_shape) == 3:
        output_shape = (x.shape[0],) + output_shape
    kh, kw, oc, ic = f.shape
    if ic != x.shape[3] or output_shape[3] != oc:
        raise ValueError(
            f"conv2d_transpose: filter {f.shape} needs input channels {ic} (got {x.shape[3]}) "
            f"and output channels {oc} (got {output_shape[3]})"
        )
    out = conv2d_input_grad(x, f, output_shape, strides, padding, 1)
    return reshape(out, out.shape[1:]) if squeeze else out


def conv2d_input_grad(
    dy: Tensor,
    f: Tensor,
    x_shape: tuple,
    strides: int | Sequence[int],
    padding: str,
    dilations: int | Sequence[int],
) -> Tensor:
    """The gradient of ``conv2d`` with respect to its input (col2im of ``dy @ filter^T``).

    Args:
        dy: The output gradient ``(batch, oh, ow, out)``.
        f: The filter ``(kh, kw, in, out)``.
        x_shape: The input's shape.
        strides: The convolution's stride.
        padding: Its padding.
        dilations: Its dilation.

    Returns:
        A Tensor of ``x_shape``.
    """
    kh, kw, c, oc = f.shape
    n = x_shape[0]
    _, (oh, ow), pads = _geometry(x_shape, kh, kw, strides, padding, dilations)
    if dy.shape[1:3] != (oh, ow):
        raise ValueError(
            f"conv2d_transpose: input spatial shape {dy.shape[1:3]} must be {(oh, ow)} for output shape {x_shape}"
        )
    hp = x_shape[1] + pads[0][0] + pads[0][1]
    wp = x_shape[2] + pads[1][0] + pads[1][1]
    sh, sw = _pair(strides, "strides")
    dh, dw = _pair(dilations, "dilations")
    key = (hp, wp, kh, kw, sh, sw, dh, dw, oh, ow)
    dcols = matmul(reshape(dy, (n * oh * ow, oc)), reshape(f, (kh * kw * c, oc)), transpose_b=True)
    dcols = reshape(dcols, (n, oh * ow * kh * kw, c))
    dxp = scatter_add(dcols, _indices_tensor(key), 1, hp * wp, _checked=True)
    dxp = reshape(dxp, (n, hp, wp, c))
    from engine.ops.shape import slice as tslice

    return tslice(dxp, (0, pads[0][0], pads[1][0], 0), x_shape)


def depthwise_conv2d(
    x: TensorLike,
    filter: TensorLike,  # noqa: A002
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    dilations: int | Sequence[int] = 1,
) -> Tensor:
    """Per-channel convolution (TF.js ``depthwiseConv2d``).

    Args:
        x: Input ``(batch, height, width, in)``.
        filter: The kernel ``(kh, kw, in, multiplier)``.
        strides: The stride, one int or ``(sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        dilations: The dilation rate, one int or ``(dh, dw)``.

    Returns:
        The output ``(batch, oh, ow, in * multiplier)``.

    Raises:
        ValueError: Ranks or channel counts that do not match.

    Example:

    >>> tw.depthwise_conv2d(tw.ones([1, 3, 3, 2]), tw.ones([3, 3, 2, 1])).tolist()
    [[[[9.0, 9.0]]]]
    """
    x, f = _float(x), _float(filter)
    squeeze = x.rank == 3
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    _check_conv(x, f, "depthwise_conv2d")
    kh, kw, c, m = f.shape
    cols, (oh, ow), _, _ = _im2col(x, kh, kw, strides, padding, dilations)
    n = x.shape[0]
    cols = reshape(cols, (n * oh * ow, kh * kw, c, 1))
    out = reduce_sum(mul(cols, reshape(f, (kh * kw, c, m))), 1)
    out = reshape(out, (n, oh, ow, c * m))
    return reshape(out, out.shape[1:]) if squeeze else out


def separable_conv2d(
    x: TensorLike,
    depthwise_filter: TensorLike,
    pointwise_filter: TensorLike,
    strides: int | Sequence[int] = 1,
    padding: str = "valid",
    dilations: int | Sequence[int] = 1,
) -> Tensor:
    """A depthwise convolution followed by a 1x1 pointwise convolution (TF.js
    ``separableConv2d``).

    Args:
        x: Input ``(batch, height, width, in)``.
        depthwise_filter: ``(kh, kw, in, multiplier)``.
        pointwise_filter: ``(1, 1, in * multiplier, out)``.
        strides: The stride, one int or ``(sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        dilations: The dilation rate, one int or ``(dh, dw)``.

    Returns:
        The output ``(batch, oh, ow, out)``.

    Raises:
        ValueError: Shapes that do not match.
    """
    return conv2d(
        depthwise_conv2d(x, depthwise_filter, strides, padding, dilations),
        pointwise_filter,
        1,
        "valid",
    )


def _pool(x: Any, pool_size: Any, strides: Any, padding: str, op: str) -> Tensor:
    x = _float(x)
    squeeze = x.rank == 3
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    if x.rank != 4:
        raise ValueError(
            f"{op}: input must be rank 4 (batch, height, width, channels), got {x.shape}"
        )
    kh, kw = _pair(pool_size, "pool_size")
    strides = (kh, kw) if strides is None else strides
    if op == "max_pool":
        out = _max_pool(x, kh, kw, strides, padding)
        return reshape(out, out.shape[1:]) if squeeze else out
    cols, (oh, ow), pads, _ = _im2col(x, kh, kw, strides, padding, 1, 0.0)
    n, c = x.shape[0], x.shape[3]
    out = reduce_sum(reshape(cols, (n, oh, ow, kh * kw, c)), 3)
    if any(p for pp in pads for p in pp):
        sh, sw = _pair(strides, "strides")
        key = (x.shape[1], x.shape[2], tuple(pads), kh, kw, sh, sw, oh, ow)
        out = div(out, _constant(_pool_counts, key, "float32"))
    else:
        out = mul(out, 1.0 / (kh * kw))
    return reshape(out, out.shape[1:]) if squeeze else out


def _max_pool(x: Tensor, kh: int, kw: int, strides: Any, padding: str) -> Tensor:
    """NHWC max pooling: the backend's ``max_pool`` kernel, else the im2col composite. Either
    way the tape sees one ``max_pool`` op, so its gradient is ``max_pool_grad`` (the
    first-max rule) on every backend, not the tie-splitting gradient of ``max``."""
    (sh, sw, _, _), (oh, ow), pads = _geometry(x.shape, kh, kw, strides, padding, 1)
    if oh <= 0 or ow <= 0:
        raise ValueError(
            f"pool {kh}x{kw} does not fit input of shape {x.shape} with padding {padding!r}"
        )
    xs, dt, pool, st = x.shape, x.dtype, (kh, kw), (sh, sw)
    attrs = {"pool": pool, "strides": st, "pads": pads}
    if registry.backend().has("max_pool"):
        return dispatch.run(
            "max_pool",
            (x,),
            attrs,
            (xs[0], oh, ow, xs[3]),
            dt,
            lambda b, xb: b.max_pool(xb, xs, dt, pool, st, pads),
        )
    saved = list(dispatch.tapes)
    dispatch.tapes.clear()  # the composite's own ops are not differentiated
    try:
        out = reduce_max(_pool_cols(x, pool, st, pads, float("-inf")), 3)
    finally:
        dispatch.tapes.extend(saved)
    for tape in dispatch.tapes:
        tape.record("max_pool", (x,), attrs, out)
    return out


def _pool_cols(t: Tensor, pool: tuple, strides: tuple, pads: tuple, pad_value: float) -> Tensor:
    """(N, OH, OW, KH*KW, C) windows of ``t`` with explicit ``pads``."""
    tp = pad(t, ((0, 0), pads[0], pads[1], (0, 0)), pad_value)
    cols, (oh, ow), _, _ = _im2col(tp, pool[0], pool[1], strides, "valid", 1)
    return reshape(cols, (t.shape[0], oh, ow, pool[0] * pool[1], t.shape[3]))


def _first_max_mask(x: Tensor, pooled: Tensor, pool: tuple, strides: tuple, pads: tuple,
                    dtype: str) -> Tensor:  # fmt: skip
    """(N, OH, OW, KH*KW, C) 0/1 mask of the first cell of each window equal to its max.

    Padding cells are NaN here, so they never match; nor does anything in a NaN window."""
    n, oh, ow, c = pooled.shape
    cols = _pool_cols(x, pool, strides, pads, float("nan"))
    eq = cast(equal(cols, reshape(pooled, (n, oh, ow, 1, c))), dtype)
    before = cumsum(eq, 3, exclusive=True)  # matches earlier in the window
    return mul(eq, cast(equal(before, 0), dtype))


def max_pool_grad(dy: Tensor, x: Tensor, out: Tensor, pool: tuple, strides: tuple, pads: tuple):
    """Gradient of ``max_pool``: each window's ``dy`` to the first cell (row-major window
    order) equal to its max, as TF.js, TensorFlow and PyTorch; none in a NaN window."""
    be = registry.backend()
    if be.has("max_pool_grad") and dy.dtype == x.dtype == out.dtype:
        xs, dt = x.shape, x.dtype
        return dispatch.run(
            "max_pool_grad",
            (dy, x, out),
            {"pool": pool, "strides": strides, "pads": pads},
            xs,
            dt,
            lambda b, db, xb, ob: b.max_pool_grad(db, xb, ob, xs, dt, pool, strides, pads),
        )
    n, oh, ow, c = out.shape
    mask = _first_max_mask(x, out, pool, strides, pads, dy.dtype)
    dcols = mul(mask, reshape(dy, (n, oh, ow, 1, c)))
    hp = x.shape[1] + pads[0][0] + pads[0][1]
    wp = x.shape[2] + pads[1][0] + pads[1][1]
    key = (hp, wp, pool[0], pool[1], strides[0], strides[1], 1, 1, oh, ow)
    dcols = reshape(dcols, (n, oh * ow * pool[0] * pool[1], c))
    dxp = reshape(
        scatter_add(dcols, _indices_tensor(key), 1, hp * wp, _checked=True), (n, hp, wp, c)
    )
    return tslice(dxp, (0, pads[0][0], pads[1][0], 0), x.shape)


def max_pool(
    x: TensorLike,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
) -> Tensor:
    """2-D max pooling, NHWC (TF.js ``maxPool``); padding cells never win, as TF.

    Args:
        x: Input ``(batch, height, width, channels)``.
        pool_size: The window, one int or ``(ph, pw)``.
        strides: The stride (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.

    Returns:
        The pooled Tensor.

    Example:

    >>> tw.max_pool(tw.reshape(tw.range(0, 16), [1, 4, 4, 1]), 2).numpy().ravel().tolist()
    [5.0, 7.0, 13.0, 15.0]
    """
    return _pool(x, pool_size, strides, padding, "max_pool")


def avg_pool(
    x: TensorLike,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: str = "valid",
) -> Tensor:
    """2-D average pooling, NHWC (TF.js ``avgPool``); ``"same"`` padding cells are left out
    of the count, as TF.

    Args:
        x: Input ``(batch, height, width, channels)``.
        pool_size: The window, one int or ``(ph, pw)``.
        strides: The stride (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.

    Returns:
        The pooled Tensor.

    Example:

    >>> tw.avg_pool(tw.reshape(tw.range(0, 16), [1, 4, 4, 1]), 2).numpy().ravel().tolist()
    [2.5, 4.5, 10.5, 12.5]
    """
    return _pool(x, pool_size, strides, padding, "avg_pool")


def batch_norm(
    x: TensorLike,
    mean: TensorLike,
    variance: TensorLike,
    offset: TensorLike | None = None,
    scale: TensorLike | None = None,
    variance_epsilon: float = 0.001,
) -> Tensor:
    """``(x - mean) / sqrt(variance + eps) * scale + offset`` (TF.js ``batchNorm``).

    Args:
        x: The tensor.
        mean: The mean (broadcast against ``x``).
        variance: The variance.
        offset: Added last, or ``None``.
        scale: Multiplied in, or ``None``.
        variance_epsilon: ``eps``.

    Returns:
        The normalised Tensor.

    Example:

    >>> tw.batch_norm(tw.tensor([1.0, 3.0]), 2.0, 1.0, variance_epsilon=0.0).tolist()
    [-1.0, 1.0]
    """
    x = _float(x)
    inv = rsqrt(add(variance, variance_epsilon))
    if scale is not None:
        inv = mul(inv, scale)
    out = mul(sub(x, mean), inv)
    return add(out, offset) if offset is not None else out


def dropout(
    x: TensorLike, rate: float, noise_shape: Sequence[int] | None = None, seed: int | None = None
) -> Tensor:
    """Zero each element with probability ``rate`` and scale the rest by ``1 / (1 - rate)``
    (TF.js ``dropout``).

    Args:
        x: The tensor.
        rate: The drop probability, in ``[0, 1)``.
        noise_shape: The mask's shape, broadcast against ``x`` (default ``x``'s shape).
        seed: A seed for the mask (default the global sequence).

    Returns:
        A Tensor of ``x``'s shape (``x`` itself for rate 0).

    Raises:
        ValueError: ``rate`` is outside ``[0, 1)``.

    Example:

    >>> y = tw.dropout(tw.ones([1000]), 0.5, seed=0)
    >>> sorted(set(y.tolist()))
    [0.0, 2.0]
    """
    x = _float(x)
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if rate == 0:
        return x
    keep = 1.0 - rate
    mask = floor(add(random_uniform(noise_shape or x.shape, seed=seed), keep))
    return mul(x, mul(mask, 1.0 / keep))


def local_response_normalization(
    x: TensorLike, depth_radius: int = 5, bias: float = 1, alpha: float = 1, beta: float = 0.5
) -> Tensor:
    """``x / (bias + alpha * sum of squares over nearby channels) ** beta``, NHWC (TF.js
    ``localResponseNormalization``).

    Args:
        x: Input ``(batch, height, width, channels)``.
        depth_radius: Channels on each side in the sum.
        bias: The additive constant.
        alpha: The scale of the sum.
        beta: The exponent.

    Returns:
        A Tensor of ``x``'s shape.
    """
    from engine.ops.math import pow, square

    x = _float(x)
    c = x.shape[-1]
    sq = square(x)
    padded = pad(sq, ((0, 0),) * (x.rank - 1) + ((depth_radius, depth_radius),))
    idx = (np.arange(c)[:, None] + np.arange(2 * depth_radius + 1)[None, :]).astype(np.int32)
    windows = gather(padded, tensor(idx, dtype="int32"), x.rank - 1, _checked=True)
    s = reduce_sum(windows, -1)
    return div(x, pow(add(mul(s, alpha), bias), beta))
