"""Inverse trigonometric and hyperbolic ops as composites: asin, acos, atan, sinh, cosh, asinh,
acosh and atanh (TF.js names in snake_case).

Each is built from differentiable engine ops (atan2, sqrt, expm1, log1p, where, ...), so
gradients come from those ops' rules and the ops run on every backend. The formulas are the
numerically careful ones (no cancellation near 0 or near the ends of the domain, no
overflow of ``x * x`` for large ``|x|``); values match numpy's float32 results within float32
tolerance, and outside the domain the result is NaN, as numpy's. Branches use the
"double where": the branch not taken is fed a harmless value, so its gradient is never
``0 * inf``. Integer and bool inputs compute in float32, as TF.js.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.ops.activations import _float
from engine.ops.math import abs as _abs
from engine.ops.math import (
    add,
    atan2,
    div,
    exp,
    expm1,
    greater,
    is_nan,
    less,
    log,
    log1p,
    mul,
    neg,
    sqrt,
    sub,
    where,
)
from engine.tensor import Tensor
from engine.typing import TensorLike

_LN2 = 0.6931471805599453
#: Above this ``|x|``, asinh/acosh use ``log(|x|) + ln 2`` (the dropped term is ``1/(4 x^2)``,
#: below float32's resolution, and ``x * x`` would overflow near 1.8e19).
_BIG = 1e4


def _keep_nan(x: Tensor, y: Tensor) -> Tensor:
    """``y``, with ``x``'s NaNs passed through (branch selection alone may drop them)."""
    return where(is_nan(x), x, y)


def _odd(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``sign(x) * f(|x|)`` for an odd ``f`` that needs ``x >= 0``, with the gradient at 0 right
    (``abs``'s gradient is 0 there) and ``f`` only ever seeing non-negative values."""
    negative = less(x, 0)
    pos = where(negative, 0, x)
    mag = where(negative, neg(x), 0)
    return where(negative, neg(f(mag)), f(pos))


def atan(x: TensorLike) -> Tensor:
    """Elementwise arctangent, in radians (TF.js ``atan``), as ``atan2(x, 1)``.

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape, values in ``[-pi/2, pi/2]``.

    Example:

    >>> [round(v, 4) for v in tw.atan(tw.tensor([-1.0, 0.0, 1.0])).tolist()]
    [-0.7854, 0.0, 0.7854]
    """
    x = _float(x)
    return atan2(x, 1)


def _sqrt_one_minus_sq(x: Tensor) -> Tensor:
    """``sqrt(1 - x^2)`` as ``sqrt((1 - x)(1 + x))``: exact near ``|x| = 1``; NaN past it."""
    return sqrt(mul(sub(1, x), add(x, 1)))


def asin(x: TensorLike) -> Tensor:
    """Elementwise arcsine, in radians (TF.js ``asin``).

    Computed as ``atan2(x, sqrt((1 - x)(1 + x)))``, accurate up to ``|x| = 1``; NaN for
    ``|x| > 1``, as numpy.

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape, values in ``[-pi/2, pi/2]``.

    Example:

    >>> [round(v, 4) for v in tw.asin(tw.tensor([-1.0, 0.5, 1.0])).tolist()]
    [-1.5708, 0.5236, 1.5708]
    """
    x = _float(x)
    return atan2(x, _sqrt_one_minus_sq(x))


def acos(x: TensorLike) -> Tensor:
    """Elementwise arccosine, in radians (TF.js ``acos``).

    Computed as ``atan2(sqrt((1 - x)(1 + x)), x)``, accurate up to ``|x| = 1``; NaN for
    ``|x| > 1``, as numpy.

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape, values in ``[0, pi]``.

    Example:

    >>> [round(v, 4) for v in tw.acos(tw.tensor([-1.0, 0.5, 1.0])).tolist()]
    [3.1416, 1.0472, 0.0]
    """
    x = _float(x)
    return atan2(_sqrt_one_minus_sq(x), x)


def sinh(x: TensorLike) -> Tensor:
    """Elementwise hyperbolic sine (TF.js ``sinh``).

    For ``|x| <= 1`` it is ``(t + t / (t + 1)) / 2`` with ``t = expm1(x)`` (no cancellation near
    0); beyond, ``exp(x - ln 2) - exp(-x - ln 2)``, which stays finite up to ``|x|`` of about
    89 where ``exp(x)`` alone would overflow float32.

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape.

    Example:

    >>> [round(v, 4) for v in tw.sinh(tw.tensor([-1.0, 0.0, 2.0])).tolist()]
    [-1.1752, 0.0, 3.6269]
    """
    x = _float(x)
    big = greater(_abs(x), 1)
    small_x = where(big, 0, x)
    t = expm1(small_x)
    small = mul(add(t, div(t, add(t, 1))), 0.5)
    large = sub(exp(sub(x, _LN2)), exp(sub(neg(x), _LN2)))
    return _keep_nan(x, where(big, large, small))


def cosh(x: TensorLike) -> Tensor:
    """Elementwise hyperbolic cosine (TF.js ``cosh``), as ``exp(x - ln 2) + exp(-x - ln 2)``
    (no cancellation; finite up to ``|x|`` of about 89, as numpy's float32).

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape, values ``>= 1``.

    Example:

    >>> [round(v, 4) for v in tw.cosh(tw.tensor([-1.0, 0.0, 2.0])).tolist()]
    [1.5431, 1.0, 3.7622]
    """
    x = _float(x)
    return add(exp(sub(x, _LN2)), exp(sub(neg(x), _LN2)))


def _asinh_pos(a: Tensor) -> Tensor:
    """asinh for ``a >= 0``: ``log1p(a + a^2 / (1 + sqrt(1 + a^2)))``, or ``log(a) + ln 2``
    for ``a > 1e4``."""
    big = greater(a, _BIG)
    s = where(big, 0, a)
    sq = mul(s, s)
    small = log1p(add(s, div(sq, add(sqrt(add(sq, 1)), 1))))
    large = add(log(where(big, a, 1)), _LN2)
    return where(big, large, small)


def asinh(x: TensorLike) -> Tensor:
    """Elementwise inverse hyperbolic sine (TF.js ``asinh``).

    Odd by construction: for ``a = |x|``, ``log1p(a + a^2 / (1 + sqrt(1 + a^2)))`` (accurate
    near 0), and ``log(a) + ln 2`` for ``a > 1e4`` (where ``a^2`` would lose or overflow).

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape.

    Example:

    >>> [round(v, 4) for v in tw.asinh(tw.tensor([-1.0, 0.0, 2.0])).tolist()]
    [-0.8814, 0.0, 1.4436]
    """
    x = _float(x)
    return _keep_nan(x, _odd(_asinh_pos, x))


def acosh(x: TensorLike) -> Tensor:
    """Elementwise inverse hyperbolic cosine (TF.js ``acosh``).

    With ``t = x - 1``: ``log1p(t + sqrt(2t + t^2))`` (accurate near ``x = 1``), and
    ``log(x) + ln 2`` for ``x > 1e4``; NaN for ``x < 1``, as numpy.

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape, values ``>= 0``.

    Example:

    >>> [round(v, 4) for v in tw.acosh(tw.tensor([1.0, 2.0, 10.0])).tolist()]
    [0.0, 1.317, 2.9932]
    """
    x = _float(x)
    big = greater(x, _BIG)
    out_of_domain = less(x, 1)
    t = sub(where(big, 1, where(out_of_domain, 1, x)), 1)
    small = log1p(add(t, sqrt(mul(t, add(t, 2)))))
    large = add(log(where(big, x, 1)), _LN2)
    return _keep_nan(x, where(out_of_domain, float("nan"), where(big, large, small)))


def _atanh_pos(a: Tensor) -> Tensor:
    """atanh for ``a >= 0``: ``log1p(2a / (1 - a)) / 2`` (``1 - a`` is exact near 1)."""
    return mul(log1p(div(mul(a, 2), sub(1, a))), 0.5)


def atanh(x: TensorLike) -> Tensor:
    """Elementwise inverse hyperbolic tangent (TF.js ``atanh``).

    Odd by construction: ``log1p(2a / (1 - a)) / 2`` for ``a = |x|``; ``+-inf`` at ``+-1`` and
    NaN for ``|x| > 1``, as numpy.

    Args:
        x: A tensor-like value; ints and bools compute in float32.

    Returns:
        A Tensor of ``x``'s shape.

    Example:

    >>> [round(v, 4) for v in tw.atanh(tw.tensor([-0.5, 0.0, 0.5])).tolist()]
    [-0.5493, 0.0, 0.5493]
    """
    x = _float(x)
    return _keep_nan(x, _odd(_atanh_pos, x))


__all__ = ["acos", "acosh", "asin", "asinh", "atan", "atanh", "cosh", "sinh"]
