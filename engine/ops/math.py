"""Elementwise arithmetic, comparison and logic ops (thin names over the primitives)."""

from __future__ import annotations

from typing import Any

from engine import dispatch
from engine.ops.core import _pair, as_tensor, binary, broadcast_shapes, cast, unary
from engine.tensor import Tensor


def _u(op: str):
    def fn(x: Any) -> Tensor:
        return unary(op, x)

    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op}."
    return fn


def _b(op: str):
    def fn(a: Any, b: Any) -> Tensor:
        return binary(op, a, b)

    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op} with numpy broadcasting."
    return fn


neg = _u("neg")
abs = _u("abs")  # noqa: A001 - public op name
sign = _u("sign")
square = _u("square")
sqrt = _u("sqrt")
rsqrt = _u("rsqrt")
exp = _u("exp")
log = _u("log")
log1p = _u("log1p")
expm1 = _u("expm1")
reciprocal = _u("reciprocal")
floor = _u("floor")
ceil = _u("ceil")
round = _u("round")  # noqa: A001
sin = _u("sin")
cos = _u("cos")
tan = _u("tan")
tanh = _u("tanh")
sigmoid = _u("sigmoid")
erf = _u("erf")
relu = _u("relu")
softplus = _u("softplus")
logical_not = _u("logical_not")
is_nan = _u("is_nan")
is_finite = _u("is_finite")

add = _b("add")
sub = _b("sub")
mul = _b("mul")
floor_div = _b("floor_div")
mod = _b("mod")
pow = _b("pow")  # noqa: A001
maximum = _b("maximum")
minimum = _b("minimum")
atan2 = _b("atan2")
equal = _b("equal")
not_equal = _b("not_equal")
less = _b("less")
less_equal = _b("less_equal")
greater = _b("greater")
greater_equal = _b("greater_equal")
logical_and = _b("logical_and")
logical_or = _b("logical_or")
logical_xor = _b("logical_xor")

subtract, multiply = sub, mul


def div(a: Any, b: Any) -> Tensor:
    """a / b; int32 operands divide with floor, as TF.js."""
    return binary("div", a, b)


def real_div(a: Any, b: Any) -> Tensor:
    """a / b in floating point, whatever the dtypes."""
    a, b = _pair(a, b)
    if a.dtype not in ("float32", "float64"):
        a, b = cast(a, "float32"), cast(b, "float32")
    return binary("div", a, b)


def squared_difference(a: Any, b: Any) -> Tensor:
    return square(sub(a, b))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise choice: ``a`` where ``condition`` is true, else ``b`` (broadcasting)."""
    cond = as_tensor(condition)
    if cond.dtype != "bool":
        cond = cast(cond, "bool")
    a, b = _pair(a, b)
    shape = broadcast_shapes(broadcast_shapes(cond.shape, a.shape, "where"), b.shape, "where")
    sc, sa, sb, dt = cond.shape, a.shape, b.shape, a.dtype
    return dispatch.run(
        "where",
        (cond, a, b),
        {},
        shape,
        dt,
        lambda be, c, x, y: be.where(c, sc, x, sa, y, sb, shape, dt),
    )


def clip_by_value(x: Any, clip_min: Any, clip_max: Any) -> Tensor:
    """Clamp into [clip_min, clip_max]."""
    if not isinstance(clip_min, Tensor) and not isinstance(clip_max, Tensor):
        if clip_min > clip_max:
            raise ValueError(
                f"clip_by_value: clip_min ({clip_min}) must be <= clip_max ({clip_max})"
            )
    return minimum(maximum(x, clip_min), clip_max)
