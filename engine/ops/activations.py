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
from engine.typing import TensorLike

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float(x: Any) -> Tensor:
    x = as_tensor(x)
    return x if x.dtype in ("float32", "float64", "float16") else cast(x, "float32")


def relu6(x: TensorLike) -> Tensor:
    """``min(max(x, 0), 6)``, elementwise (TF.js ``relu6``).

    Args:
        x: The tensor (ints compute in float32).

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.relu6(tw.tensor([-1.0, 3.0, 9.0])).tolist()
    [0.0, 3.0, 6.0]
    """
    return minimum(relu(x), 6.0)


def elu(x: TensorLike, alpha: float = 1.0) -> Tensor:
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)`` (TF.js ``elu``).

    Args:
        x: The tensor (ints compute in float32).
        alpha: The scale of the negative part.

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.elu(tw.tensor([1.0, 0.0])).tolist()
    [1.0, 0.0]
    """
    x = _float(x)
    return where(greater(x, 0), x, mul(expm1(minimum(x, 0.0)), alpha))


def selu(x: TensorLike) -> Tensor:
    """Scaled ELU: ``scale * elu(x, alpha)`` with the self-normalising constants (TF.js
    ``selu``).

    Args:
        x: The tensor (ints compute in float32).

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> round(tw.selu(tw.tensor([1.0])).item(), 4)
    1.0507
    """
    x = _float(x)
    return mul(where(greater(x, 0), x, mul(expm1(minimum(x, 0.0)), SELU_ALPHA)), SELU_SCALE)


def leaky_relu(x: TensorLike, alpha: float = 0.2) -> Tensor:
    """``x`` where ``x > 0``, else ``alpha * x`` (TF.js ``leakyRelu``; default alpha 0.2).

    Args:
        x: The tensor (ints compute in float32).
        alpha: The slope for negative values.

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.leaky_relu(tw.tensor([-10.0, 2.0])).tolist()
    [-2.0, 2.0]
    """
    x = _float(x)
    return where(greater(x, 0), x, mul(x, alpha))


def prelu(x: TensorLike, alpha: TensorLike) -> Tensor:
    """Leaky ReLU with a learned slope: ``x`` where ``x > 0``, else ``alpha * x`` (TF.js
    ``prelu``).

    Args:
        x: The tensor (ints compute in float32).
        alpha: The slopes, broadcast against ``x``.

    Returns:
        A float Tensor of the broadcast shape.

    Example:

    >>> tw.prelu(tw.tensor([-2.0, 2.0]), tw.tensor([0.5, 0.5])).tolist()
    [-1.0, 2.0]
    """
    x = _float(x)
    return where(greater(x, 0), x, mul(x, alpha))


def softsign(x: TensorLike) -> Tensor:
    """``x / (1 + |x|)``, elementwise.

    Args:
        x: The tensor (ints compute in float32).

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.softsign(tw.tensor([1.0, -3.0])).tolist()
    [0.5, -0.75]
    """
    from engine.ops.math import abs

    x = _float(x)
    return div(x, add(abs(x), 1.0))


def hard_sigmoid(x: TensorLike) -> Tensor:
    """``clip(0.2 * x + 0.5, 0, 1)``, elementwise, as tfjs-layers.

    Args:
        x: The tensor (ints compute in float32).

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.hard_sigmoid(tw.tensor([-5.0, 0.0, 5.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return minimum(maximum(add(mul(_float(x), 0.2), 0.5), 0.0), 1.0)


def gelu(x: TensorLike, approximate: bool = False) -> Tensor:
    """``x * Phi(x)``, Phi the standard normal CDF (Keras ``gelu``).

    Args:
        x: The tensor (ints compute in float32).
        approximate: Use the tanh approximation.

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.gelu(tw.tensor([0.0])).tolist()
    [0.0]
    """
    from engine.ops.math import erf

    x = _float(x)
    if approximate:
        inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), math.sqrt(2 / math.pi))
        return mul(mul(x, 0.5), add(tanh(inner), 1.0))
    return mul(mul(x, 0.5), add(erf(mul(x, 1 / math.sqrt(2))), 1.0))


def swish(x: TensorLike, beta: float = 1.0) -> Tensor:
    """``x * sigmoid(beta * x)``, elementwise (SiLU for ``beta = 1``).

    Args:
        x: The tensor (ints compute in float32).
        beta: The sigmoid's scale.

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.swish(tw.tensor([0.0])).tolist()
    [0.0]
    """
    x = _float(x)
    return mul(x, sigmoid(mul(x, beta) if beta != 1.0 else x))


def mish(x: TensorLike) -> Tensor:
    """``x * tanh(softplus(x))``, elementwise.

    Args:
        x: The tensor (ints compute in float32).

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.mish(tw.tensor([0.0])).tolist()
    [0.0]
    """
    x = _float(x)
    return mul(x, tanh(softplus(x)))


def linear(x: TensorLike) -> Tensor:
    """The identity activation: ``x`` unchanged.

    Args:
        x: The tensor.

    Returns:
        ``x`` as a Tensor.

    Example:

    >>> tw.linear([1.0]).tolist()
    [1.0]
    """
    return as_tensor(x)


def softmax(x: TensorLike, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis``, computed stably (TF.js ``softmax``).

    Args:
        x: The tensor (ints compute in float32).
        axis: The axis that sums to 1 (the last by default).

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> tw.softmax(tw.tensor([[1.0, 1.0]])).tolist()
    [[0.5, 0.5]]
    """
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


def log_softmax(x: TensorLike, axis: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``axis`` (TF.js ``logSoftmax``).

    Args:
        x: The tensor (ints compute in float32).
        axis: The axis to normalise (the last by default).

    Returns:
        A float Tensor of ``x``'s shape.

    Example:

    >>> [round(v, 4) for v in tw.log_softmax(tw.tensor([0.0, 0.0])).tolist()]
    [-0.6931, -0.6931]
    """
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
