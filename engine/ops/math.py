"""Elementwise arithmetic, comparison and logic ops (thin names over the primitives)."""

from __future__ import annotations

from engine import dispatch
from engine.ops.core import _pair, as_tensor, binary, broadcast_shapes, cast, unary
from engine.tensor import Tensor
from engine.typing import TensorLike

#: What each generated op computes, for its docstring (``x``; ``a`` and ``b`` for binary ops).
_MEANING = {
    "neg": "``-x``",
    "abs": "``|x|``",
    "sign": "-1, 0 or 1 by the sign of ``x``",
    "square": "``x * x``",
    "sqrt": "the square root of ``x``",
    "rsqrt": "``1 / sqrt(x)``",
    "exp": "``e ** x``",
    "log": "the natural logarithm of ``x``",
    "log1p": "``log(1 + x)``, accurate for small ``x``",
    "expm1": "``exp(x) - 1``, accurate for small ``x``",
    "reciprocal": "``1 / x``",
    "floor": "``x`` rounded down",
    "ceil": "``x`` rounded up",
    "round": "``x`` rounded to the nearest integer, halves to even (as TF.js)",
    "sin": "the sine of ``x`` (radians)",
    "cos": "the cosine of ``x`` (radians)",
    "tan": "the tangent of ``x`` (radians)",
    "tanh": "the hyperbolic tangent of ``x``",
    "sigmoid": "``1 / (1 + exp(-x))``",
    "erf": "the Gauss error function of ``x``",
    "relu": "``max(x, 0)``",
    "softplus": "``log(1 + exp(x))``",
    "logical_not": "``not x`` (bool)",
    "is_nan": "whether ``x`` is NaN (bool)",
    "is_finite": "whether ``x`` is finite (bool)",
    "add": "``a + b``",
    "sub": "``a - b``",
    "mul": "``a * b``",
    "floor_div": "``floor(a / b)`` (int32 by 0 gives 0 on every backend, as TF.js's CPU backend)",
    "mod": "``a mod b`` with the sign of ``b``, as TF.js (int32 mod 0 gives 0 on every backend)",
    "pow": "``a ** b``",
    "maximum": "the larger of ``a`` and ``b``",
    "minimum": "the smaller of ``a`` and ``b``",
    "atan2": "the angle of the point ``(b, a)``: ``atan(a / b)`` in the right quadrant",
    "equal": "``a == b`` (bool)",
    "not_equal": "``a != b`` (bool)",
    "less": "``a < b`` (bool)",
    "less_equal": "``a <= b`` (bool)",
    "greater": "``a > b`` (bool)",
    "greater_equal": "``a >= b`` (bool)",
    "logical_and": "``a and b`` (bool)",
    "logical_or": "``a or b`` (bool)",
    "logical_xor": "``a xor b`` (bool)",
}


def _u(op: str):
    def fn(x: TensorLike) -> Tensor:
        return unary(op, x)

    fn.__name__ = op
    fn.__doc__ = f"""Elementwise {_MEANING[op]}.

    Args:
        x: A tensor-like value; ints and bools compute in float32 where the op needs floats.

    Returns:
        A Tensor of ``x``'s shape.
    """
    return fn


def _b(op: str):
    def fn(a: TensorLike, b: TensorLike) -> Tensor:
        return binary(op, a, b)

    fn.__name__ = op
    fn.__doc__ = f"""Elementwise {_MEANING[op]}, with numpy broadcasting.

    Args:
        a: The first operand.
        b: The second operand; a Python number takes the other operand's dtype.

    Returns:
        A Tensor of the broadcast shape.

    Raises:
        ValueError: The shapes cannot be broadcast.
    """
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


def div(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``a / b``; int32 operands divide with floor, as TF.js.

    Integer division by zero gives 0 on every backend (TF.js's CPU backend stores
    ``Math.floor(a / 0)``, an infinity, in an Int32Array, which makes it 0); float division
    follows IEEE (``±inf``, NaN for ``0 / 0``). README "Numerics" has the other rules.

    Args:
        a: The dividend.
        b: The divisor.

    Returns:
        A Tensor of the broadcast shape.

    Example:

    >>> tw.div(tw.tensor([7, -7], dtype="int32"), 2).tolist()
    [3, -4]
    >>> tw.div(tw.tensor([7.0]), 2).tolist()
    [3.5]
    """
    return binary("div", a, b)


def real_div(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``a / b`` in floating point, whatever the dtypes.

    Args:
        a: The dividend.
        b: The divisor.

    Returns:
        A float Tensor of the broadcast shape.

    Example:

    >>> tw.real_div(tw.tensor([7], dtype="int32"), 2).tolist()
    [3.5]
    """
    a, b = _pair(a, b)
    if a.dtype not in ("float32", "float64"):
        a, b = cast(a, "float32"), cast(b, "float32")
    return binary("div", a, b)


def squared_difference(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise ``(a - b) ** 2``, with broadcasting.

    Args:
        a: The first operand.
        b: The second operand.

    Returns:
        A Tensor of the broadcast shape.

    Example:

    >>> tw.squared_difference(tw.tensor([1.0, 5.0]), 3).tolist()
    [4.0, 4.0]
    """
    return square(sub(a, b))


def where(condition: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise choice: ``a`` where ``condition`` is true, else ``b`` (TF.js ``where``).

    Args:
        condition: Cast to bool; broadcast with ``a`` and ``b``.
        a: Values taken where ``condition`` is true.
        b: Values taken elsewhere.

    Returns:
        A Tensor of the broadcast shape.

    Raises:
        ValueError: The shapes cannot be broadcast.

    Example:

    >>> tw.where(tw.tensor([True, False]), tw.tensor([1.0, 2.0]), 0).tolist()
    [1.0, 0.0]
    """
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


def clip_by_value(x: TensorLike, clip_min: TensorLike, clip_max: TensorLike) -> Tensor:
    """Clamp every value into ``[clip_min, clip_max]`` (TF.js ``clipByValue``).

    Args:
        x: The tensor.
        clip_min: The lower bound (scalar or broadcastable tensor).
        clip_max: The upper bound.

    Returns:
        A Tensor of the broadcast shape.

    Raises:
        ValueError: Scalar bounds with ``clip_min > clip_max``.

    Example:

    >>> tw.clip_by_value(tw.tensor([-2.0, 0.5, 3.0]), -1, 1).tolist()
    [-1.0, 0.5, 1.0]
    """
    if not isinstance(clip_min, Tensor) and not isinstance(clip_max, Tensor):
        if clip_min > clip_max:
            raise ValueError(
                f"clip_by_value: clip_min ({clip_min}) must be <= clip_max ({clip_max})"
            )
    return minimum(maximum(x, clip_min), clip_max)
