"""Elementwise arithmetic, comparison and logic ops (thin names over the primitives).

One function per entry of the op table (``engine/optable.py``) is generated here, with its
docstring from the entry's ``doc`` and ``example``; ``div`` (its own docstring), ``real_div``,
``squared_difference``, ``where`` and ``clip_by_value`` are written out.
"""

from __future__ import annotations

from collections.abc import Callable

from engine import dispatch, optable
from engine.ops.core import _pair, as_tensor, binary, broadcast_shapes, cast, unary
from engine.tensor import Tensor
from engine.typing import TensorLike


def _examples(op: optable.Op) -> str:
    return (
        f"\n\n    Example:\n\n    {op.example.replace(chr(10), chr(10) + '    ')}"
        if op.example
        else ""
    )


def _u(op: optable.Op) -> Callable[[TensorLike], Tensor]:
    name = op.name

    def fn(x: TensorLike) -> Tensor:
        return unary(name, x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""Elementwise {op.doc}.

    Args:
        x: A tensor-like value; ints and bools compute in float32 where the op needs floats.

    Returns:
        A Tensor of ``x``'s shape.{_examples(op)}
    """
    return fn


def _b(op: optable.Op) -> Callable[[TensorLike, TensorLike], Tensor]:
    name = op.name

    def fn(a: TensorLike, b: TensorLike) -> Tensor:
        return binary(name, a, b)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""Elementwise {op.doc}, with numpy broadcasting.

    Args:
        a: The first operand.
        b: The second operand; a Python number takes the other operand's dtype.

    Returns:
        A Tensor of the broadcast shape.

    Raises:
        ValueError: The shapes cannot be broadcast.{_examples(op)}
    """
    return fn


#: The public functions generated from the op table (``tw.exp``, ``tw.add``, ...).
GENERATED: tuple[str, ...] = tuple(n for n, op in optable.OPS.items() if op.public)
for _op in optable.OPS.values():
    if _op.public:
        globals()[_op.name] = (_u if _op.arity == 1 else _b)(_op)
del _op

#: TF.js's long names of ``sub`` and ``mul``.
subtract, multiply = globals()["sub"], globals()["mul"]


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
    return unary("square", binary("sub", a, b))


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
    return binary("minimum", binary("maximum", x, clip_min), clip_max)


__all__ = [
    *GENERATED,
    "clip_by_value",
    "div",
    "multiply",
    "real_div",
    "squared_difference",
    "subtract",
    "where",
]
