"""TF.js's remaining elementwise ops as composites: is_inf, div_no_nan, log_sigmoid and step.

Each is built from differentiable engine ops (where, div, softplus, ...), so gradients come
from those ops' rules and the ops run on every backend.
"""

from __future__ import annotations

import numbers

from engine.ops.activations import _float
from engine.ops.core import _pair, as_tensor
from engine.ops.creation import ones_like
from engine.ops.math import (
    div,
    equal,
    greater,
    is_finite,
    is_nan,
    logical_and,
    logical_not,
    mul,
    neg,
    softplus,
    where,
)
from engine.tensor import Tensor
from engine.typing import TensorLike


def is_inf(x: TensorLike) -> Tensor:
    """Elementwise: whether ``x`` is ``+inf`` or ``-inf`` (TF.js ``isInf``).

    Args:
        x: A tensor-like value; int32 and bool values are never infinite (all False).

    Returns:
        A bool Tensor of ``x``'s shape.

    Example:

    >>> tw.is_inf(tw.tensor([1.0, float("inf"), float("-inf"), float("nan")])).tolist()
    [False, True, True, False]
    """
    x = as_tensor(x)
    return logical_and(logical_not(is_finite(x)), logical_not(is_nan(x)))


def div_no_nan(a: TensorLike, b: TensorLike) -> Tensor:
    """``a / b``, but 0 wherever ``b == 0`` (TF.js ``divNoNan``), with numpy broadcasting.

    Where ``b == 0`` the result is 0 whatever ``a`` is (``0 / 0``, ``1 / 0`` and ``nan / 0``
    all give 0), and the gradient there is 0 for both operands. Elsewhere it is ``div``, dtype
    rules included.

    Args:
        a: The numerator.
        b: The denominator; a Python number takes the other operand's dtype.

    Returns:
        A Tensor of the broadcast shape.

    Raises:
        ValueError: The shapes cannot be broadcast.

    Example:

    >>> tw.div_no_nan(tw.tensor([1.0, 2.0, 0.0]), tw.tensor([2.0, 0.0, 0.0])).tolist()
    [0.5, 0.0, 0.0]
    """
    a, b = _pair(a, b)
    zero = equal(b, 0)
    safe_b = where(zero, ones_like(b), b)  # the division never sees 0, so no inf/NaN gradient
    q = div(a, safe_b)
    return where(zero, 0, q)


def log_sigmoid(x: TensorLike) -> Tensor:
    """Elementwise ``log(sigmoid(x))`` (TF.js ``logSigmoid``), as ``-softplus(-x)``: finite
    for large negative ``x`` where ``log(sigmoid(x))`` would give ``-inf``.

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape, values ``<= 0``.

    Example:

    >>> [round(v, 4) for v in tw.log_sigmoid(tw.tensor([-200.0, 0.0, 3.0])).tolist()]
    [-200.0, -0.6931, -0.0486]
    """
    x = _float(x)
    return neg(softplus(neg(x)))


def step(x: TensorLike, alpha: float = 0.0) -> Tensor:
    """Elementwise Heaviside step (TF.js ``step``): 1 where ``x > 0``, else ``alpha``; NaN
    stays NaN. Its gradient is 0 everywhere, as TF.js's.

    Unlike TF.js, which keeps an int32 input's dtype (and truncates ``alpha``), int32 and bool
    inputs give float32, so a fractional ``alpha`` is kept.

    Args:
        x: A tensor-like value.
        alpha: The value where ``x <= 0``.

    Returns:
        A Tensor of ``x``'s shape (float32 for int32 and bool inputs).

    Raises:
        TypeError: ``alpha`` is not a real number.

    Example:

    >>> tw.step(tw.tensor([-2.0, 0.0, 3.0])).tolist()
    [0.0, 0.0, 1.0]
    >>> tw.step(tw.tensor([-2.0, 0.0, 3.0]), alpha=0.5).tolist()
    [0.5, 0.5, 1.0]
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"step: alpha must be a real number, got {alpha!r}")
    x = _float(x)
    one = ones_like(x)
    stepped = where(greater(x, 0), one, mul(one, float(alpha)))
    return where(is_nan(x), x, stepped)


__all__ = ["div_no_nan", "is_inf", "log_sigmoid", "step"]
