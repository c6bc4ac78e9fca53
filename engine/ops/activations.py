"""Activation functions (TF.js formulas); softmax and log_softmax may be fused by a backend."""

from __future__ import annotations

import math
from typing import Any

from engine import dispatch, registry
from engine.autodiff import stop_gradient
from engine.ops.core import as_tensor, cast, normalize_axis
from engine.ops.math import (
    add,
    div,
    exp,
    expm1,
    greater,
    log,
    maximum,
    minimum,
    mul,
    relu,
    sigmoid,
    softplus,
    sub,
    tanh,
    where,
)
from engine.ops.reduction import max as reduce_max
from engine.ops.reduction import sum as reduce_sum
from engine.tensor import Tensor

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float(x: Any) -> Tensor:
    x = as_tensor(x)
    return x if x.dtype in ("float32", "float64") else cast(x, "float32")


def relu6(x: Any) -> Tensor:
    return minimum(relu(x), 6.0)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    x = _float(x)
    return where(greater(x, 0), x, mul(expm1(minimum(x, 0.0)), alpha))


def selu(x: Any) -> Tensor:
    x = _float(x)
    return mul(where(greater(x, 0), x, mul(expm1(minimum(x, 0.0)), SELU_ALPHA)), SELU_SCALE)


def leaky_relu(x: Any, alpha: float = 0.2) -> Tensor:
    """max(alpha*x, x); TF.js's default alpha is 0.2."""
    x = _float(x)
    return where(greater(x, 0), x, mul(x, alpha))


def prelu(x: Any, alpha: Any) -> Tensor:
    x = _float(x)
    return where(greater(x, 0), x, mul(x, alpha))


def softsign(x: Any) -> Tensor:
    from engine.ops.math import abs

    x = _float(x)
    return div(x, add(abs(x), 1.0))


def hard_sigmoid(x: Any) -> Tensor:
    """clip(0.2*x + 0.5, 0, 1), as tfjs-layers."""
    return minimum(maximum(add(mul(_float(x), 0.2), 0.5), 0.0), 1.0)


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """x * Phi(x); tanh approximation when ``approximate``."""
    from engine.ops.math import erf

    x = _float(x)
    if approximate:
        inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), math.sqrt(2 / math.pi))
        return mul(mul(x, 0.5), add(tanh(inner), 1.0))
    return mul(mul(x, 0.5), add(erf(mul(x, 1 / math.sqrt(2))), 1.0))


def swish(x: Any, beta: float = 1.0) -> Tensor:
    x = _float(x)
    return mul(x, sigmoid(mul(x, beta) if beta != 1.0 else x))


def mish(x: Any) -> Tensor:
    x = _float(x)
    return mul(x, tanh(softplus(x)))


def linear(x: Any) -> Tensor:
    return as_tensor(x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x - max) / sum, along ``axis`` (the last by default)."""
    x = _float(x)
    axis = normalize_axis(axis, x.rank, "softmax")
    be = registry.backend()
    if be.has("softmax"):
        shape, dt = x.shape, x.dtype
        return dispatch.run(
            "softmax",
            (x,),
            {"axis": axis},
            shape,
            dt,
            lambda b, buf: b.softmax(buf, shape, dt, axis),
        )
    e = exp(sub(x, stop_gradient(reduce_max(x, axis, keepdims=True))))
    return div(e, reduce_sum(e, axis, keepdims=True))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x), along ``axis``."""
    x = _float(x)
    axis = normalize_axis(axis, x.rank, "log_softmax")
    be = registry.backend()
    if be.has("log_softmax"):
        shape, dt = x.shape, x.dtype
        return dispatch.run(
            "log_softmax",
            (x,),
            {"axis": axis},
            shape,
            dt,
            lambda b, buf: b.log_softmax(buf, shape, dt, axis),
        )
    shifted = sub(x, stop_gradient(reduce_max(x, axis, keepdims=True)))
    return sub(shifted, log(reduce_sum(exp(shifted), axis, keepdims=True)))
