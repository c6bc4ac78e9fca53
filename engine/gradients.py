"""The gradient table: ``GRADIENTS[kernel](dy, inputs, out, attrs) -> grads per input``.

Written with engine ops only, so every backend shares it; ``None`` means "no gradient".
Broadcast gradients come back at the broadcast shape; the tape reduces them to each input's
shape with ``sum_to_shape``.
"""

from __future__ import annotations

import numpy as np

from engine import ops, optable
from engine.tensor import Tensor

GRADIENTS: dict = {}


def gradient(*names: str):
    def register(fn):
        for n in names:
            GRADIENTS[n] = fn
        return fn

    return register


def _float(x: Tensor) -> bool:
    return x.dtype in ("float32", "float64", "float16")


# --- elementwise: the op table's rules (engine/optable.py) -------------------------------------
def _unary(rule):
    if rule == optable.ZERO_GRAD:
        rule = _zero_rule

    def fn(dy, inputs, out, attrs):
        (x,) = inputs
        if not _float(x):
            return [None]
        return [rule(dy, x, out)]

    return fn


def _zero_rule(dy, x, y):
    return ops.zeros_like(x)


def _binary(rule):
    def fn(dy, inputs, out, attrs):
        a, b = inputs
        if not _float(a):
            return [None, None]
        return list(rule(dy, a, b, out))

    return fn


def _no_gradient(dy, inputs, out, attrs):
    return [None] * len(inputs)


for _name, _op in optable.OPS.items():
    if _op.grad is None:
        GRADIENTS[_name] = _no_gradient
    else:
        GRADIENTS[_name] = (_unary if _op.arity == 1 else _binary)(_op.grad)


gradient("argmax", "argmin", "any", "all", "one_hot", "fill", "ravel_indices")(_no_gradient)


@gradient("where")
def _where(dy, inputs, out, attrs):
    c, _, _ = inputs
    zero = ops.zeros_like(dy)
    return [None, ops.where(c, dy, zero), ops.where(c, zero, dy)]


@gradient("cast")
def _cast(dy, inputs, out, attrs):
    (x,) = inputs
    return [ops.cast(dy, x.dtype) if _float(x) and _float(dy) else None]


@gradient("reshape", "identity")
def _reshape(dy, inputs, out, attrs):
    return [ops.reshape(dy, inputs[0].shape)]


# --- reductions -------------------------------------------------------------------------------
def _keep_shape(x: Tensor, axes) -> tuple:
    return tuple(1 if i in axes else s for i, s in enumerate(x.shape))


@gradient("sum")
def _sum(dy, inputs, out, attrs):
    (x,) = inputs
    if not _float(x):
        return [None]
    return [ops.broadcast_to(ops.reshape(dy, _keep_shape(x, attrs["axes"])), x.shape)]


@gradient("prod")
def _prod(dy, inputs, out, attrs):
    (x,) = inputs
    if not _float(x):
        return [None]
    axes = attrs["axes"]
    shape = _keep_shape(x, axes)
    # d prod / d x_i = product of the others; not out / x_i, which is nan where x_i == 0.
    is_zero = ops.equal(x, 0.0)
    nonzero = ops.where(is_zero, ops.ones_like(x), x)
    prod_nz = ops.prod(nonzero, axes, keepdims=True)
    zeros = ops.sum(ops.cast(is_zero, x.dtype), axes, keepdims=True)
    others = ops.where(
        ops.equal(zeros, 0.0),
        ops.div(prod_nz, nonzero),
        ops.where(ops.logical_and(is_zero, ops.equal(zeros, 1.0)), prod_nz, ops.zeros_like(x)),
    )
    return [ops.mul(ops.reshape(dy, shape), others)]


@gradient("reduce_max", "reduce_min")
def _max(dy, inputs, out, attrs):
    (x,) = inputs
    if not _float(x):
        return [None]
    shape = _keep_shape(x, attrs["axes"])
    mask = ops.cast(ops.equal(x, ops.reshape(out, shape)), dy.dtype)
    return [ops.mul(mask, ops.reshape(dy, shape))]


@gradient("cumsum")
def _cumsum(dy, inputs, out, attrs):
    return [ops.cumsum(dy, attrs["axis"], attrs["exclusive"], not attrs["reverse"])]


# --- linear algebra ---------------------------------------------------------------------------
@gradient("matmul")
def _matmul(dy, inputs, out, attrs):
    from engine.ops.linalg import _mm3

    a, b = inputs
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    if not ta and not tb:
        return [_mm3(dy, b, False, True), _mm3(a, dy, True, False)]
    if not ta and tb:
        return [_mm3(dy, b, False, False), _mm3(dy, a, True, False)]
    if ta and not tb:
        return [_mm3(b, dy, False, True), _mm3(a, dy, False, False)]
    return [_mm3(b, dy, True, True), _mm3(dy, a, True, True)]


# --- shape ops --------------------------------------------------------------------------------
@gradient("transpose")
def _transpose(dy, inputs, out, attrs):
    perm = attrs["perm"]
    return [ops.transpose(dy, tuple(np.argsort(perm)))]


@gradient("slice")
def _slice(dy, inputs, out, attrs):
    (x,) = inputs
    begin, size, step = attrs["begin"], attrs["size"], attrs["step"]
    if all(s == 1 for s in step):
        return [ops.pad(dy, [(b, d - b - s) for b, s, d in zip(begin, size, x.shape, strict=True)])]
    grids = np.meshgrid(
        *[np.arange(s) * st + b for b, s, st in zip(begin, size, step, strict=True)], indexing="ij"
    )
    lin = (
        np.ravel_multi_index(grids, x.shape).reshape(-1).astype(np.int32)
        if dy.size
        else np.zeros(0, np.int32)
    )
    flat = ops.scatter_add(
        ops.reshape(dy, (-1,)), ops.tensor(lin, dtype="int32"), 0, x.size, _checked=True
    )
    return [ops.reshape(flat, x.shape)]


@gradient("concat")
def _concat(dy, inputs, out, attrs):
    axis = attrs["axis"]
    return ops.split(dy, [t.shape[axis] for t in inputs], axis)


@gradient("pad")
def _pad(dy, inputs, out, attrs):
    (x,) = inputs
    return [ops.slice(dy, [a for a, _ in attrs["paddings"]], x.shape)]


@gradient("gather")
def _gather(dy, inputs, out, attrs):
    x, idx = inputs
    # the forward gather checked these indices
    return [ops.scatter_add(dy, idx, attrs["axis"], x.shape[attrs["axis"]], _checked=True), None]


@gradient("scatter_add")
def _scatter_add(dy, inputs, out, attrs):
    _, idx = inputs
    return [ops.gather(dy, idx, attrs["axis"], _checked=True), None]


# --- fused composites a backend may provide ----------------------------------------------------
@gradient("conv2d", "fused_conv2d")
def _conv2d(dy, inputs, out, attrs):
    """Fused stride-1 convolution (+ bias, + relu): the filter and bias gradients in one
    kernel (``conv2d_backprop_filter``), the input gradient through ``conv2d_input_grad``."""
    from engine.ops.nn import conv2d_backprop_filter, conv2d_input_grad

    x, f = inputs[0], inputs[1]
    pads, dil, act = attrs["pads"], attrs["dilations"], attrs["activation"]
    packed = conv2d_backprop_filter(x, dy, out, pads, dil, act)
    nf = f.size
    df = ops.reshape(ops.slice(packed, [0], [nf]), f.shape)
    dz = dy if act == "linear" else ops.mul(dy, ops.cast(ops.greater(out, 0), dy.dtype))
    dx = conv2d_input_grad(dz, f, x.shape, 1, ("explicit", pads), dil)
    if len(inputs) == 2:
        return [dx, df]
    return [dx, df, ops.slice(packed, [nf], [f.shape[3]])]


@gradient("conv2d_backprop_filter")
def _conv2d_backprop_filter(g, inputs, out, attrs):
    """P = [filter_grad(x, dz), sum(dz)] with dz = mask * dy: linear in dy, bilinear in x."""
    from engine.ops.nn import conv2d, conv2d_input_grad

    x, dy = inputs[0], inputs[1]
    kh, kw = attrs["kernel"]
    pads, dil = attrs["pads"], attrs["dilations"]
    c, o = x.shape[3], dy.shape[3]
    nf = kh * kw * c * o
    gf = ops.reshape(ops.slice(g, [0], [nf]), (kh, kw, c, o))
    gb = ops.slice(g, [nf], [o])
    mask = None
    if len(inputs) == 3:
        mask = ops.cast(ops.greater(inputs[2], 0), dy.dtype)
    d_dy = ops.add(conv2d(x, gf, 1, ("explicit", pads), dil), gb)
    dz = dy
    if mask is not None:
        d_dy = ops.mul(d_dy, mask)
        dz = ops.mul(dy, mask)
    dx = conv2d_input_grad(dz, gf, x.shape, 1, ("explicit", pads), dil)
    return [dx, d_dy] + ([None] if mask is not None else [])


@gradient("max_pool")
def _max_pool(dy, inputs, out, attrs):
    from engine.ops.nn import max_pool_grad

    (x,) = inputs
    return [max_pool_grad(dy, x, out, attrs["pool"], attrs["strides"], attrs["pads"])]


@gradient("max_pool_grad")
def _max_pool_grad(g, inputs, out, attrs):
    """Linear in dy: each window takes g at its first cell equal to the max; x, out: none."""
    from engine.ops.nn import _first_max_mask, _pool_cols

    _, x, pooled = inputs
    pool, strides, pads = attrs["pool"], attrs["strides"], attrs["pads"]
    mask = _first_max_mask(x, pooled, pool, strides, pads, g.dtype)
    gc = _pool_cols(g, pool, strides, pads, 0.0)
    return [ops.sum(ops.mul(mask, gc), 3), None, None]


@gradient("softmax")
def _softmax(dy, inputs, out, attrs):
    axis = attrs["axis"]
    return [ops.mul(out, ops.sub(dy, ops.sum(ops.mul(dy, out), axis, keepdims=True)))]


@gradient("log_softmax")
def _log_softmax(dy, inputs, out, attrs):
    axis = attrs["axis"]
    return [ops.sub(dy, ops.mul(ops.exp(out), ops.sum(dy, axis, keepdims=True)))]


@gradient("fused_matmul")
def _fused_matmul(dy, inputs, out, attrs):
    """dy through the activation (read from the output), then the matmul and bias gradients."""
    a, b = inputs[0], inputs[1]
    act = attrs["activation"]
    if act == "relu":
        dz = ops.mul(dy, ops.cast(ops.greater(out, 0), dy.dtype))
    elif act == "relu6":
        dz = ops.mul(dy, ops.cast(ops.logical_and(ops.greater(out, 0), ops.less(out, 6)), dy.dtype))
    elif act == "elu":  # alpha 1: y + 1 = exp(x) where x <= 0
        dz = ops.where(ops.greater(out, 0), dy, ops.mul(dy, ops.add(out, 1.0)))
    elif act == "sigmoid":
        dz = ops.mul(dy, ops.mul(out, ops.sub(1.0, out)))
    elif act == "tanh":
        dz = ops.mul(dy, ops.sub(1.0, ops.square(out)))
    elif act == "leakyrelu":  # alpha >= 0, so out > 0 exactly where the input is
        dz = ops.where(ops.greater(out, 0), dy, ops.mul(dy, attrs["alpha"]))
    else:
        dz = dy
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    if not ta and not tb:
        da, db = ops.matmul(dz, b, False, True), ops.matmul(a, dz, True, False)
    elif not ta and tb:
        da, db = ops.matmul(dz, b), ops.matmul(dz, a, True, False)
    elif ta and not tb:
        da, db = ops.matmul(b, dz, False, True), ops.matmul(a, dz)
    else:
        da, db = ops.matmul(b, dz, True, True), ops.matmul(dz, a, True, True)
    return [da, db] if len(inputs) == 2 else [da, db, dz]


@gradient("categorical_crossentropy")
def _categorical_crossentropy(dy, inputs, out, attrs):
    from engine.ops.losses import (
        categorical_crossentropy_grad,
        categorical_crossentropy_target_grad,
    )

    t, p = inputs
    axis, logits = attrs["axis"], attrs["from_logits"]
    dp = categorical_crossentropy_grad(dy, t, p, logits, axis)
    dt = categorical_crossentropy_target_grad(dy, p, logits, axis) if attrs["target_grad"] else None
    return [dt, dp]


@gradient("custom")
def _custom(dy, inputs, out, attrs):
    gs = attrs["grad_fn"](dy)
    gs = list(gs) if isinstance(gs, (list, tuple)) else [gs]
    if len(gs) != len(inputs):
        raise ValueError(
            f"custom_grad: the gradient function returned {len(gs)} gradients for "
            f"{len(inputs)} inputs"
        )
    return [None if g is None else ops.as_tensor(g) for g in gs]
