"""Neural-network ops (channels last): convolutions and pooling via im2col, batch norm, dropout.

im2col is one ``gather`` with host-computed patch indices (cached), so its gradient is one
``scatter_add`` and every backend gets convolutions from two primitives and a matmul.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import registry
from engine.ops.activations import _float
from engine.ops.core import reshape, tensor
from engine.ops.creation import random_uniform
from engine.ops.linalg import matmul
from engine.ops.math import add, div, floor, mul, rsqrt, sub
from engine.ops.reduction import max as reduce_max
from engine.ops.reduction import sum as reduce_sum
from engine.ops.shape import gather, pad, scatter_add
from engine.tensor import Tensor


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
    """(output size, pad before, pad after) along one axis, TF rules."""
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
    sh, sw = _pair(strides, "strides")
    dh, dw = _pair(dilations, "dilations")
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
    x: Any, filter: Any, strides: Any = 1, padding: str = "valid", dilations: Any = 1
) -> Tensor:  # noqa: A002
    """2-D convolution, NHWC input and (kh, kw, in, out) filter, as TF.js ``conv2d``."""
    x, f = _float(x), _float(filter)
    squeeze = x.rank == 3
    if squeeze:
        x = reshape(x, (1,) + x.shape)
    _check_conv(x, f, "conv2d")
    kh, kw, c, oc = f.shape
    cols, (oh, ow), _, _ = _im2col(x, kh, kw, strides, padding, dilations)
    n = x.shape[0]
    out = matmul(reshape(cols, (n * oh * ow, kh * kw * c)), reshape(f, (kh * kw * c, oc)))
    out = reshape(out, (n, oh, ow, oc))
    return reshape(out, out.shape[1:]) if squeeze else out


def conv1d(
    x: Any, filter: Any, stride: int = 1, padding: str = "valid", dilation: int = 1
) -> Tensor:  # noqa: A002
    """1-D convolution, NWC input and (k, in, out) filter."""
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
    x: Any,
    filter: Any,
    output_shape: Sequence[int],
    strides: Any = 1,
    padding: str = "valid",  # noqa: A002
) -> Tensor:
    """The adjoint of conv2d: filter is (kh, kw, out_channels, in_channels), as TF.js."""
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


def conv2d_input_grad(dy: Tensor, f: Tensor, x_shape: tuple, strides, padding, dilations) -> Tensor:
    """Gradient of conv2d with respect to its input (col2im of dy @ filter^T)."""
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
    dxp = scatter_add(dcols, _indices_tensor(key), 1, hp * wp)
    dxp = reshape(dxp, (n, hp, wp, c))
    from engine.ops.shape import slice as tslice

    return tslice(dxp, (0, pads[0][0], pads[1][0], 0), x_shape)


def depthwise_conv2d(
    x: Any, filter: Any, strides: Any = 1, padding: str = "valid", dilations: Any = 1
) -> Tensor:  # noqa: A002
    """Per-channel convolution; filter (kh, kw, in, multiplier); output channels in*multiplier."""
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
    x, depthwise_filter, pointwise_filter, strides=1, padding="valid", dilations=1
) -> Tensor:
    """Depthwise convolution followed by a 1x1 pointwise convolution."""
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
    pad_value = float("-inf") if op == "max_pool" else 0.0
    cols, (oh, ow), pads, _ = _im2col(x, kh, kw, strides, padding, 1, pad_value)
    n, c = x.shape[0], x.shape[3]
    cols = reshape(cols, (n, oh, ow, kh * kw, c))
    if op == "max_pool":
        out = reduce_max(cols, 3)
    else:
        out = reduce_sum(cols, 3)
        if any(p for pp in pads for p in pp):
            sh, sw = _pair(strides, "strides")
            key = (x.shape[1], x.shape[2], tuple(pads), kh, kw, sh, sw, oh, ow)
            out = div(out, _constant(_pool_counts, key, "float32"))
        else:
            out = mul(out, 1.0 / (kh * kw))
    return reshape(out, out.shape[1:]) if squeeze else out


def max_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> Tensor:
    """Max pooling (NHWC); padding cells never win, as TF."""
    return _pool(x, pool_size, strides, padding, "max_pool")


def avg_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> Tensor:
    """Average pooling (NHWC); 'same' padding cells are left out of the count, as TF."""
    return _pool(x, pool_size, strides, padding, "avg_pool")


def batch_norm(
    x: Any,
    mean: Any,
    variance: Any,
    offset: Any = None,
    scale: Any = None,
    variance_epsilon: float = 0.001,
) -> Tensor:
    """(x - mean) / sqrt(variance + eps) * scale + offset (TF.js ``batchNorm``)."""
    x = _float(x)
    inv = rsqrt(add(variance, variance_epsilon))
    if scale is not None:
        inv = mul(inv, scale)
    out = mul(sub(x, mean), inv)
    return add(out, offset) if offset is not None else out


def dropout(
    x: Any, rate: float, noise_shape: Sequence[int] | None = None, seed: int | None = None
) -> Tensor:
    """Zero each element with probability ``rate`` and scale the rest by 1/(1-rate)."""
    x = _float(x)
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if rate == 0:
        return x
    keep = 1.0 - rate
    mask = floor(add(random_uniform(noise_shape or x.shape, seed=seed), keep))
    return mul(x, mul(mask, 1.0 / keep))


def local_response_normalization(
    x: Any, depth_radius: int = 5, bias: float = 1, alpha: float = 1, beta: float = 0.5
) -> Tensor:
    """x / (bias + alpha * sum of squares over nearby channels) ** beta (NHWC)."""
    from engine.ops.math import pow, square

    x = _float(x)
    c = x.shape[-1]
    sq = square(x)
    padded = pad(sq, ((0, 0),) * (x.rank - 1) + ((depth_radius, depth_radius),))
    idx = (np.arange(c)[:, None] + np.arange(2 * depth_radius + 1)[None, :]).astype(np.int32)
    windows = gather(padded, tensor(idx, dtype="int32"), x.rank - 1, _checked=True)
    s = reduce_sum(windows, -1)
    return div(x, pow(add(mul(s, alpha), bias), beta))
