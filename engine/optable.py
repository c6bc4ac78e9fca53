"""The elementwise op table: every elementwise primitive, defined once.

Each :class:`Op` holds what every part of tensorweave needs to know about one elementwise op:
its name and arity, the dtype kinds it has kernels for, the numpy reference (the ``numpy``
backend's kernel and the tests' oracle), its gradient (engine ops, as in ``engine.gradients``),
a C expression per kind for the rendered backends (``backends/crender``: OpenCL and CUDA), a
numba expression per kind for the ``cpu`` kernels and fused kernels, the input ranges the tests
draw from, and a one-line doc for the public function. Everything else is derived from it:

- ``backends.base.UNARY_OPS`` / ``BINARY_OPS`` (the kernel contract) and the op families;
- the public functions ``engine.ops.math`` generates (``tw.exp``, ``tw.asinh``, ...);
- the elementwise entries of ``engine.gradients.GRADIENTS``;
- the ``numpy`` backend's tables, ``backends.crender.ops``'s tables and C prelude;
- the ``cpu`` backend's kernels, op codes and per-element dispatch (``backends/cpu/elementwise.py``
  renders them to a numba module in the cache), its fused-kernel templates and numpy twins;
- tests/test_ops_elementwise.py, tests/test_gradients.py and tests/test_optable.py (which fails
  when an entry is missing on some backend or lacks a test domain or gradient).

The engine never imports a backend: the table holds expressions as strings that the backends
render. Expression conventions:

- C (``c``): ``{x}`` (unary), ``{a}``/``{b}`` (binary), ``{T}`` the C type of the operands,
  ``{S}`` the helper suffix of the dtype (``_f32``, ``_f64``, ``_i32``, ``_b``). ``c_helpers``
  is C source rendered once per float dtype with ``{FN}`` (function qualifier), ``{T}``,
  ``{S}``, ``{MAXV}`` (the largest finite value) and ``{TANH1}``; braces are doubled.
  ``c_int_helpers`` is rendered once, with ``{FN}`` only (single braces are literal).
- numba (``numba``): ``{x}`` / ``{a}``/``{b}`` are plain local names (they may appear more than
  once), ``{one}`` and ``{zero}`` the operand dtype's 1 and 0 (float kinds; a numba ``1.0``
  literal is float64 and would promote float32 arithmetic). The names available are ``np``,
  ``math``, the vectorisable ``fast_exp``/``fast_log``/``fast_tanh``, ``float_divmod`` (numpy's
  float divmod) and every function that an entry's ``numba_helpers`` defines (numba source,
  each function decorated ``@njit(**_OPTS)``). Int expressions compute in int64 and are stored
  wrapped to int32, as numpy's int32 arithmetic wraps. Expressions of the bool-result families
  (``compare``, ``logical``, ``predicate``) must work for every kind the entry lists, since the
  ``cpu`` kernel of those families is one kernel for all dtypes.
- ``numba_call`` lists the kinds whose numba expression is libm-bound (no SIMD): those ops share
  one element loop with a per-element switch instead of getting a loop each, which keeps the
  kernel's compile time down.

Kinds: ``f`` float (float32/float64; the ``numpy`` backend also float16), ``i`` int32, ``b``
bool. Families: ``arith`` (the result has the input dtype), ``compare`` (-> bool), ``logical``
(bool -> bool), ``predicate`` (unary -> bool).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# Gradients are written with engine ops; ``engine.ops`` imports this module, so it is looked
# up when a gradient runs, not at import.


class _LazyOps:
    def __getattr__(self, name: str) -> Any:
        from engine import ops as _ops

        return getattr(_ops, name)


ops: Any = _LazyOps()

KINDS = {"float16": "f", "float32": "f", "float64": "f", "int32": "i", "bool": "b"}
KIND_NAMES = {"f": "float", "i": "int32", "b": "bool"}
FAMILIES = ("arith", "compare", "logical", "predicate")


@dataclass(frozen=True)
class Span:
    """An input range for the tests: uniform in ``[lo, hi]``; with ``signed``, in
    ``[lo, hi]`` or ``[-hi, -lo]`` with a random sign (for ops with a kink or pole at 0)."""

    lo: float
    hi: float
    signed: bool = False

    def sample(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        """float32 values drawn from this span."""
        x = rng.uniform(self.lo, self.hi, size=shape)
        if self.signed:
            x = x * rng.choice(np.array([-1.0, 1.0]), size=shape)
        return np.asarray(x, dtype=np.float32)


#: The gradient of a piecewise-constant op (sign, floor, ...): zero wherever it is defined.
ZERO_GRAD = "zero"


@dataclass(frozen=True)
class Op:
    """One elementwise op; the module docstring describes the expression conventions."""

    name: str
    arity: int
    kinds: str
    family: str
    doc: str
    numpy: Callable[..., np.ndarray]
    c: Mapping[str, str]
    numba: Mapping[str, str]
    #: Unary ``(dy, x, y) -> dx``; binary ``(dy, a, b, y) -> [da, db]`` (float inputs only;
    #: int inputs get no gradient); ``ZERO_GRAD``; None for the bool-result families.
    grad: Callable[..., Any] | str | None = None
    c_helpers: str = ""
    c_int_helpers: str = ""
    numba_helpers: str = ""
    numba_call: str = ""
    #: numpy twin of the ``cpu`` float kernel (same formula, for tiers) when ``numpy`` differs.
    twin: Callable[..., np.ndarray] | None = None
    #: Conformance-test input span per operand (float inputs); default ``Span(-3, 3)``.
    domain: tuple[Span, ...] | None = None
    #: Finite-difference gradient test span per operand; default ``domain``.
    grad_domain: tuple[Span, ...] | None = None
    #: Finite-difference step of the gradient test.
    grad_eps: float = 1e-2
    #: ``engine.ops.math`` generates ``tw.<name>``; False where a hand-written function is kept.
    public: bool = True
    #: Doctest lines for the generated function's docstring (``>>>`` and results).
    example: str = ""

    @property
    def bool_result(self) -> bool:
        return self.family != "arith"

    def supports(self, dtype: str) -> bool:
        """True when the op has kernels for ``dtype``'s kind."""
        return KINDS.get(dtype, "?") in self.kinds

    def out_dtype(self, dtype: str) -> str:
        """The result dtype for inputs of ``dtype``."""
        return "bool" if self.bool_result else dtype

    def test_domain(self) -> tuple[Span, ...]:
        return self.domain or (Span(-3, 3),) * self.arity

    def gradient_domain(self) -> tuple[Span, ...]:
        return self.grad_domain or self.test_domain()


# =============================================================================================
# numpy references (the numpy backend's kernels; inputs already share a dtype)
# =============================================================================================
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, np.zeros((), x.dtype)).astype(x.dtype, copy=False)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so neither branch overflows.
    x = np.asarray(x)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.floor_divide(a, np.where(b == 0, 1, b)) * (b != 0)


def _float_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C's pow (as TF.js's Math.pow): numpy computes x ** 0.5 as sqrt(x) when the exponent
    is a scalar, giving NaN for -inf and -0 for -0 where pow gives +inf and +0."""
    out = np.power(a, b)
    fix = (b == 0.5) & ((a == 0) | np.isneginf(a))
    return np.where(fix, np.abs(a), out) if fix.any() else out


def _mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "i":
        return np.mod(a, np.where(b == 0, 1, b)) * (b != 0)
    return np.mod(a, b)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _int_div(a, b) if a.dtype.kind == "i" else np.divide(a, b)


def _div_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "i":
        return _int_div(a, b)
    zero = b == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.divide(a, np.where(zero, np.ones((), b.dtype), b))
    return np.where(zero, np.zeros((), q.dtype), q)


def _is_inf(x: np.ndarray) -> np.ndarray:
    return np.isinf(x)


# numpy twins of the cpu kernels' formulas where they differ from the reference (tiers.py)
def _twin_sign(v: np.ndarray) -> np.ndarray:
    one, zero = v.dtype.type(1), v.dtype.type(0)
    return np.where(v > 0, one, np.where(v < 0, -one, np.where(v == 0, zero, v)))


def _twin_relu(v: np.ndarray) -> np.ndarray:
    zero = v.dtype.type(0)
    return np.where((v > zero) | (v != v), v, zero)


def _twin_sigmoid(v: np.ndarray) -> np.ndarray:
    one = v.dtype.type(1)
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, one, e) / (one + e)


def _twin_softplus(v: np.ndarray) -> np.ndarray:
    one = v.dtype.type(1)
    log2 = np.log(one + one)
    pos = v + np.log1p(np.exp(-v))
    neg = np.log1p(np.exp(v))
    return np.where(v == 0, log2, np.where(v > 0, pos, np.where(v < 0, neg, v)))


def _twin_erf(v: np.ndarray) -> np.ndarray:
    f = np.frompyfunc(math.erf, 1, 1)
    return f(v.astype(np.float64)).astype(v.dtype)


def _twin_maximum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where((x >= y) | (x != x), x, y)


def _twin_minimum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where((x <= y) | (x != x), x, y)


# =============================================================================================
# Shared helper sources
# =============================================================================================
_C_SOFTPLUS = """
{FN} {T} tw_softplus{S}({T} x) {{
  return (x > 0 ? x : ({T})0) + log1p(exp(-fabs(x)));
}}
"""
_NB_SOFTPLUS = """
@njit(**_OPTS)
def _softplus(v, one):
    # numpy's logaddexp(v, 0), in the input precision.
    if v == 0:
        return np.log(one + one)
    if v > 0:
        return v + np.log1p(np.exp(-v))
    if v < 0:
        return np.log1p(np.exp(v))
    return v  # nan
"""
_NB_SIGMOID = """
@njit(**_OPTS)
def _sigmoid(v, one):
    # The reference's two branches with e = exp(-|x|): 1/(1+e) for x >= 0, e/(1+e) else.
    e = fast_exp(-abs(v))
    return (one if v >= 0 else e) / (one + e)
"""
_NB_IPOW = """
@njit(**_OPTS)
def _ipow(x, y):
    # int64 power by squaring; a negative exponent counts as 0 (TF.js's int pow)
    r = np.int64(1)
    e = y
    base = x
    while e > 0:
        if e & 1:
            r *= base
        base *= base
        e >>= 1
    return r
"""
_C_FLOORDIV_I = """
{FN} int tw_floordiv_i(int a, int b) {
  if (b == 0) return 0;
  if (b == -1) return (int)(0u - (unsigned int)a);
  int q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
  return q;
}
"""
_I_WRAP = "((int)((unsigned int){a} {op} (unsigned int){b}))"
_NB_IDIV = "(0 if {b} == 0 else np.int64({a}) // np.int64({b}))"


def _inv(f: Callable[[Any], Any]) -> Callable[..., Any]:
    """``dy * f(x)`` as a unary gradient rule."""
    return lambda dy, x, y: ops.mul(dy, f(x))


def _f(name: str, doc: str, np_fn: Callable, c: str, nb: str, grad: Any, **kw: Any) -> Op:
    """A float-only unary arith op."""
    return Op(name, 1, "f", "arith", doc, np_fn, {"f": c}, {"f": nb}, grad, **kw)


def _cmp(name: str, sym: str, doc: str, np_fn: Callable) -> Op:
    e = f"({{a}} {sym} {{b}})"
    return Op(
        name, 2, "fib", "compare", doc, np_fn, {"f": e, "i": e, "b": e}, dict.fromkeys("fib", e)
    )


# =============================================================================================
# The table. Order matters only for the cpu kernels' op codes (stable for the existing ops).
# =============================================================================================
_UNARY_LIST: list[Op] = [
    Op(
        "neg",
        1,
        "fi",
        "arith",
        "``-x``",
        np.negative,
        {"f": "(-{x})", "i": "((int)(0u - (unsigned int){x}))"},
        {"f": "-{x}", "i": "-np.int64({x})"},
        lambda dy, x, y: ops.neg(dy),
    ),
    Op(
        "abs",
        1,
        "fi",
        "arith",
        "``|x|``",
        np.abs,
        {"f": "fabs({x})", "i": "(({x}) < 0 ? (int)(0u - (unsigned int){x}) : ({x}))"},
        {"f": "abs({x})", "i": "abs(np.int64({x}))"},
        lambda dy, x, y: ops.mul(dy, ops.sign(x)),
        grad_domain=(Span(0.2, 2, signed=True),),
    ),
    Op(
        "sign",
        1,
        "fi",
        "arith",
        "-1, 0 or 1 by the sign of ``x``",
        np.sign,
        {"f": "tw_sign{S}({x})", "i": "((int)({x} > 0) - (int)({x} < 0))"},
        {
            "f": "({one} if {x} > 0 else (-{one} if {x} < 0 else ({zero} if {x} == 0 else {x})))",
            "i": "(1 if {x} > 0 else (-1 if {x} < 0 else 0))",
        },
        ZERO_GRAD,
        twin=_twin_sign,
        c_helpers="{FN} {T} tw_sign{S}({T} x) {{ return x > 0 ? ({T})1 : (x < 0 ? ({T})-1 : x); }}\n",
    ),
    Op(
        "square",
        1,
        "fi",
        "arith",
        "``x * x``",
        np.square,
        {"f": "({x} * {x})", "i": "((int)((unsigned int){x} * (unsigned int){x}))"},
        {"f": "{x} * {x}", "i": "np.int64({x}) * np.int64({x})"},
        lambda dy, x, y: ops.mul(dy, ops.mul(x, 2.0)),
    ),
    _f(
        "sqrt",
        "the square root of ``x``",
        np.sqrt,
        "sqrt({x})",
        "np.sqrt({x})",
        lambda dy, x, y: ops.div(dy, ops.mul(y, 2.0)),
        domain=(Span(0.01, 5),),
        grad_domain=(Span(0.5, 3),),
    ),
    _f(
        "rsqrt",
        "``1 / sqrt(x)``",
        lambda x: 1 / np.sqrt(x),
        "(({T})1 / sqrt({x}))",
        "{one} / np.sqrt({x})",
        lambda dy, x, y: ops.mul(dy, ops.mul(ops.div(y, x), -0.5)),
        domain=(Span(0.1, 5),),
        grad_domain=(Span(0.5, 3),),
        grad_eps=1e-3,
    ),
    _f(
        "exp",
        "``e ** x``",
        np.exp,
        "exp({x})",
        "fast_exp({x})",
        lambda dy, x, y: ops.mul(dy, y),
        domain=(Span(-5, 5),),
    ),
    _f(
        "log",
        "the natural logarithm of ``x``",
        np.log,
        "log({x})",
        "fast_log({x})",
        lambda dy, x, y: ops.div(dy, x),
        domain=(Span(0.01, 5),),
        grad_domain=(Span(0.5, 3),),
    ),
    _f(
        "log1p",
        "``log(1 + x)``, accurate for small ``x``",
        np.log1p,
        "log1p({x})",
        "np.log1p({x})",
        lambda dy, x, y: ops.div(dy, ops.add(x, 1.0)),
        domain=(Span(-0.9, 5),),
        grad_domain=(Span(-0.5, 2),),
        numba_call="f",
    ),
    _f(
        "expm1",
        "``exp(x) - 1``, accurate for small ``x``",
        np.expm1,
        "expm1({x})",
        "np.expm1({x})",
        lambda dy, x, y: ops.mul(dy, ops.add(y, 1.0)),
        numba_call="f",
    ),
    _f(
        "reciprocal",
        "``1 / x``",
        np.reciprocal,
        "(({T})1 / {x})",
        "{one} / {x}",
        lambda dy, x, y: ops.neg(ops.mul(dy, ops.square(y))),
        domain=(Span(0.2, 5),),
        grad_domain=(Span(0.5, 3),),
        grad_eps=1e-3,
    ),
    _f("floor", "``x`` rounded down", np.floor, "floor({x})", "np.floor({x})", ZERO_GRAD),
    _f("ceil", "``x`` rounded up", np.ceil, "ceil({x})", "np.ceil({x})", ZERO_GRAD),
    _f(
        "round",
        "``x`` rounded to the nearest integer, halves to even (as TF.js)",
        np.rint,
        "rint({x})",
        "np.rint({x})",
        ZERO_GRAD,
    ),
    _f(
        "sin",
        "the sine of ``x`` (radians)",
        np.sin,
        "sin({x})",
        "np.sin({x})",
        _inv(lambda x: ops.cos(x)),
        domain=(Span(-4, 4),),
        numba_call="f",
    ),
    _f(
        "cos",
        "the cosine of ``x`` (radians)",
        np.cos,
        "cos({x})",
        "np.cos({x})",
        lambda dy, x, y: ops.neg(ops.mul(dy, ops.sin(x))),
        domain=(Span(-4, 4),),
        numba_call="f",
    ),
    _f(
        "tan",
        "the tangent of ``x`` (radians)",
        np.tan,
        "tan({x})",
        "np.tan({x})",
        lambda dy, x, y: ops.mul(dy, ops.add(ops.square(y), 1.0)),
        domain=(Span(-1.2, 1.2),),
        grad_domain=(Span(-1, 1),),
        grad_eps=1e-3,
        numba_call="f",
    ),
    _f(
        "tanh",
        "the hyperbolic tangent of ``x``",
        np.tanh,
        "tw_tanh{S}({x})",
        "fast_tanh({x})",
        lambda dy, x, y: ops.mul(dy, ops.sub(1.0, ops.square(y))),
        domain=(Span(-4, 4),),
        c_helpers="""{FN} {T} tw_tanh{S}({T} x) {{
  /* +-1 where the rounded tanh is +-1 (PoCL's tanh(-inf) is -0.99999994) */
  return fabs(x) > {TANH1} ? copysign(({T})1, x) : tanh(x);
}}
""",
    ),
    _f(
        "sigmoid",
        "``1 / (1 + exp(-x))``",
        _sigmoid,
        "tw_sigmoid{S}({x})",
        "_sigmoid({x}, {one})",
        lambda dy, x, y: ops.mul(dy, ops.mul(y, ops.sub(1.0, y))),
        domain=(Span(-6, 6),),
        twin=_twin_sigmoid,
        numba_helpers=_NB_SIGMOID,
        c_helpers="""{FN} {T} tw_sigmoid{S}({T} x) {{
  if (x >= 0) return ({T})1 / (({T})1 + exp(-x));
  {T} e = exp(x); return e / (({T})1 + e);
}}
""",
    ),
    _f(
        "erf",
        "the Gauss error function of ``x``",
        lambda x: _erf(x).astype(x.dtype),
        "erf({x})",
        # The reference rounds float64 erf to the output dtype; do exactly that.
        "math.erf(np.float64({x}))",
        _inv(lambda x: ops.mul(ops.exp(ops.neg(ops.square(x))), 2 / math.sqrt(math.pi))),
        domain=(Span(-2.5, 2.5),),
        grad_domain=(Span(-2, 2),),
        numba_call="f",
        twin=_twin_erf,
    ),
    Op(
        "relu",
        1,
        "fi",
        "arith",
        "``max(x, 0)``",
        lambda x: np.maximum(x, np.zeros((), x.dtype)),
        {"f": "(({x}) > 0 || ({x}) != ({x}) ? ({x}) : ({T})0)", "i": "(({x}) > 0 ? ({x}) : 0)"},
        {"f": "({x} if ({x} > {zero} or {x} != {x}) else {zero})", "i": "({x} if {x} > 0 else 0)"},
        lambda dy, x, y: ops.mul(dy, ops.cast(ops.greater(x, 0), dy.dtype)),
        twin=_twin_relu,
        grad_domain=(Span(0.1, 2, signed=True),),
    ),
    _f(
        "softplus",
        "``log(1 + exp(x))``",
        _softplus,
        "tw_softplus{S}({x})",
        "_softplus({x}, {one})",
        _inv(lambda x: ops.sigmoid(x)),
        domain=(Span(-6, 6),),
        numba_call="f",
        twin=_twin_softplus,
        c_helpers=_C_SOFTPLUS,
        numba_helpers=_NB_SOFTPLUS,
    ),
    # --- TF.js's inverse trigonometric and hyperbolic ops (gradients as TF.js's) -------------
    _f(
        "asin",
        "the arcsine of ``x``, in radians (NaN outside ``[-1, 1]``)",
        np.arcsin,
        "asin({x})",
        "np.arcsin({x})",
        lambda dy, x, y: ops.div(dy, ops.sqrt(ops.sub(1.0, ops.square(x)))),
        domain=(Span(-0.95, 0.95),),
        grad_domain=(Span(-0.8, 0.8),),
        numba_call="f",
        example='>>> print(*(f"{v:.4f}" for v in tw.asin(tw.tensor([-1.0, 0.5, 1.0])).tolist()))\n'
        "-1.5708 0.5236 1.5708",
    ),
    _f(
        "acos",
        "the arccosine of ``x``, in radians (NaN outside ``[-1, 1]``)",
        np.arccos,
        "acos({x})",
        "np.arccos({x})",
        lambda dy, x, y: ops.neg(ops.div(dy, ops.sqrt(ops.sub(1.0, ops.square(x))))),
        domain=(Span(-0.95, 0.95),),
        grad_domain=(Span(-0.8, 0.8),),
        numba_call="f",
        example='>>> print(*(f"{v:.4f}" for v in tw.acos(tw.tensor([-1.0, 0.5, 1.0])).tolist()))\n'
        "3.1416 1.0472 0.0000",
    ),
    _f(
        "atan",
        "the arctangent of ``x``, in radians",
        np.arctan,
        "atan({x})",
        "np.arctan({x})",
        lambda dy, x, y: ops.div(dy, ops.add(ops.square(x), 1.0)),
        numba_call="f",
        example='>>> print(*(f"{v:.4f}" for v in tw.atan(tw.tensor([-1.0, 0.0, 1.0])).tolist()))\n'
        "-0.7854 0.0000 0.7854",
    ),
    _f(
        "sinh",
        "the hyperbolic sine of ``x``",
        np.sinh,
        "sinh({x})",
        "np.sinh({x})",
        _inv(lambda x: ops.cosh(x)),
        numba_call="f",
        example='>>> print(*(f"{v:.4f}" for v in tw.sinh(tw.tensor([-1.0, 0.0, 2.0])).tolist()))\n'
        "-1.1752 0.0000 3.6269",
    ),
    _f(
        "cosh",
        "the hyperbolic cosine of ``x``",
        np.cosh,
        "cosh({x})",
        "np.cosh({x})",
        _inv(lambda x: ops.sinh(x)),
        numba_call="f",
        example='>>> print(*(f"{v:.4f}" for v in tw.cosh(tw.tensor([-1.0, 0.0, 2.0])).tolist()))\n'
        "1.5431 1.0000 3.7622",
    ),
    _f(
        "asinh",
        "the inverse hyperbolic sine of ``x``",
        np.arcsinh,
        "asinh({x})",
        "np.arcsinh({x})",
        lambda dy, x, y: ops.div(dy, ops.sqrt(ops.add(ops.square(x), 1.0))),
        numba_call="f",
        example='>>> print(*(f"{v:.4f}" for v in tw.asinh(tw.tensor([-1.0, 0.0, 2.0])).tolist()))\n'
        "-0.8814 0.0000 1.4436",
    ),
    _f(
        "acosh",
        "the inverse hyperbolic cosine of ``x`` (NaN below 1)",
        np.arccosh,
        "acosh({x})",
        "np.arccosh({x})",
        # TF.js's dy / sqrt(x^2 - 1), factored so that x^2 cannot overflow
        lambda dy, x, y: ops.div(dy, ops.mul(ops.sqrt(ops.sub(x, 1.0)), ops.sqrt(ops.add(x, 1.0)))),
        domain=(Span(1, 5),),
        grad_domain=(Span(1.5, 3),),
        numba_call="f",
        example='>>> print(*(f"{v:.4f}" for v in tw.acosh(tw.tensor([1.0, 2.0, 10.0])).tolist()))\n'
        "0.0000 1.3170 2.9932",
    ),
    _f(
        "atanh",
        "the inverse hyperbolic tangent of ``x`` (+-inf at +-1, NaN beyond)",
        np.arctanh,
        "atanh({x})",
        "np.arctanh({x})",
        lambda dy, x, y: ops.div(dy, ops.sub(1.0, ops.square(x))),
        domain=(Span(-0.9, 0.9),),
        grad_domain=(Span(-0.7, 0.7),),
        numba_call="f",
        example='>>> print(*(f"{v:.4f}" for v in tw.atanh(tw.tensor([-0.5, 0.0, 0.5])).tolist()))\n'
        "-0.5493 0.0000 0.5493",
    ),
    _f(
        "log_sigmoid",
        "``log(sigmoid(x))`` (TF.js ``logSigmoid``), as ``-softplus(-x)``: "
        "finite for large negative ``x``",
        lambda x: -_softplus(-x),
        "(-tw_softplus{S}(-({x})))",
        "-_softplus(-{x}, {one})",
        _inv(lambda x: ops.sigmoid(ops.neg(x))),
        domain=(Span(-6, 6),),
        numba_call="f",
        twin=lambda v: -_twin_softplus(-v),
        example='>>> print(*(f"{v:.4f}" for v in tw.log_sigmoid(tw.tensor([-200.0, 0.0, 3.0])).tolist()))\n'
        "-200.0000 -0.6931 -0.0486",
    ),
    # --- bool results -------------------------------------------------------------------------
    Op(
        "logical_not",
        1,
        "b",
        "logical",
        "``not x`` (bool)",
        np.logical_not,
        {"b": "(!{x})"},
        {"b": "not {x}"},
    ),
    Op(
        "is_nan",
        1,
        "fi",
        "predicate",
        "whether ``x`` is NaN (bool)",
        np.isnan,
        {"f": "(({x}) != ({x}))", "i": "0"},
        dict.fromkeys("fi", "{x} != {x}"),
    ),
    Op(
        "is_finite",
        1,
        "fi",
        "predicate",
        "whether ``x`` is finite (bool)",
        np.isfinite,
        {"f": "tw_isfinite{S}({x})", "i": "1"},
        dict.fromkeys("fi", "({x} - {x}) == 0"),
        c_helpers="{FN} int tw_isfinite{S}({T} x) {{ return x == x && fabs(x) <= {MAXV}; }}\n",
    ),
    Op(
        "is_inf",
        1,
        "fi",
        "predicate",
        "whether ``x`` is ``+inf`` or ``-inf`` (TF.js ``isInf``; bool)",
        _is_inf,
        {"f": "tw_isinf{S}({x})", "i": "0"},
        dict.fromkeys("fi", "({x} == {x} and ({x} - {x}) != 0)"),
        c_helpers="{FN} int tw_isinf{S}({T} x) {{ return fabs(x) > {MAXV}; }}\n",
        example='>>> tw.is_inf(tw.tensor([1.0, float("inf"), float("-inf"), float("nan")])).tolist()'
        "\n[False, True, True, False]",
    ),
]

_BINARY_LIST: list[Op] = [
    Op("add", 2, "fi", "arith", "``a + b``", np.add,
       {"f": "({a} + {b})", "i": _I_WRAP.replace("{op}", "+")},
       {"f": "{a} + {b}", "i": "np.int64({a}) + np.int64({b})"},
       lambda dy, a, b, y: [dy, dy]),
    Op("sub", 2, "fi", "arith", "``a - b``", np.subtract,
       {"f": "({a} - {b})", "i": _I_WRAP.replace("{op}", "-")},
       {"f": "{a} - {b}", "i": "np.int64({a}) - np.int64({b})"},
       lambda dy, a, b, y: [dy, ops.neg(dy)]),
    Op("mul", 2, "fi", "arith", "``a * b``", np.multiply,
       {"f": "({a} * {b})", "i": _I_WRAP.replace("{op}", "*")},
       {"f": "{a} * {b}", "i": "np.int64({a}) * np.int64({b})"},
       lambda dy, a, b, y: [ops.mul(dy, b), ops.mul(dy, a)]),
    Op("div", 2, "fi", "arith", "``a / b`` (int32: floor division, as TF.js; x/0 -> 0)", _div,
       {"f": "({a} / {b})", "i": "tw_floordiv_i({a}, {b})"},
       {"f": "{a} / {b}", "i": _NB_IDIV},
       lambda dy, a, b, y: [ops.div(dy, b), ops.neg(ops.mul(dy, ops.div(y, b)))],
       c_int_helpers=_C_FLOORDIV_I, numba_call="i", public=False,
       domain=(Span(-3, 3), Span(0.3, 3, signed=True)), grad_domain=(Span(-2, 2), Span(0.5, 2))),
    Op("floor_div", 2, "fi", "arith",
       "``floor(a / b)`` (int32 by 0 gives 0 on every backend, as TF.js's CPU backend)",
       lambda a, b: _int_div(a, b) if a.dtype.kind == "i" else np.floor_divide(a, b),
       {"f": "tw_floordiv{S}({a}, {b})", "i": "tw_floordiv_i({a}, {b})"},
       {"f": "float_divmod({a}, {b})[0]", "i": _NB_IDIV},
       lambda dy, a, b, y: [ops.zeros_like(a), None],
       numba_call="fi", domain=(Span(-3, 3), Span(0.3, 3, signed=True)),
       grad_domain=(Span(0.1, 0.9), Span(1.3, 1.9)),
       c_helpers="""{FN} {T} tw_floordiv{S}({T} a, {T} b) {{
  if (b == 0) return a / b;
  {T} m = fmod(a, b);
  {T} d = (a - m) / b;
  if (m != 0 && ((b < 0) != (m < 0))) d -= ({T})1;
  if (d == 0) return copysign(({T})0, a / b);
  {T} f = floor(d);
  if (d - f > ({T})0.5) f += ({T})1;
  return f;
}}
"""),
    Op("mod", 2, "fi", "arith",
       "``a mod b`` with the sign of ``b``, as TF.js (int32 mod 0 gives 0 on every backend)",
       _mod, {"f": "tw_mod{S}({a}, {b})", "i": "tw_mod_i({a}, {b})"},
       {"f": "(np.fmod({a}, {b}) if {b} == 0 else float_divmod({a}, {b})[1])",
        "i": "(0 if {b} == 0 else np.int64({a}) % np.int64({b}))"},
       lambda dy, a, b, y: [dy, ops.neg(ops.mul(dy, ops.floor(ops.div(a, b))))],
       numba_call="fi", domain=(Span(-3, 3), Span(0.3, 3, signed=True)),
       # a/b well inside (1, 2): floor is locally constant
       grad_domain=(Span(2.1, 2.5), Span(1.3, 1.9)), grad_eps=1e-3,
       c_helpers="""{FN} {T} tw_mod{S}({T} a, {T} b) {{
  {T} m = fmod(a, b);
  if (b == 0) return m;
  if (m != 0) {{ if ((b < 0) != (m < 0)) m += b; }} else {{ m = copysign(({T})0, b); }}
  return m;
}}
""",
       c_int_helpers="""
{FN} int tw_mod_i(int a, int b) {
  if (b == 0 || b == -1) return 0;
  int r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
"""),
    Op("pow", 2, "fi", "arith", "``a ** b``",
       lambda a, b: (np.power(a, np.where(b < 0, 0, b)) if a.dtype.kind == "i" else _float_pow(a, b)),
       {"f": "pow({a}, {b})", "i": "tw_pow_i({a}, {b})"},
       {"f": "np.power({a}, {b})", "i": "_ipow(np.int64({a}), np.int64({b}))"},
       lambda dy, a, b, y: [
           ops.mul(dy, ops.mul(b, ops.pow(a, ops.sub(b, 1.0)))),
           ops.mul(dy, ops.where(ops.greater(a, 0),
                                 ops.mul(y, ops.log(ops.where(ops.greater(a, 0), a, ops.ones_like(a)))),
                                 ops.zeros_like(y))),
       ],
       numba_call="fi", numba_helpers=_NB_IPOW, twin=np.power,
       domain=(Span(0.1, 3.1), Span(-3, 3)), grad_domain=(Span(0.5, 2), Span(-1.5, 1.5)),
       grad_eps=1e-3,
       c_int_helpers="""
{FN} int tw_pow_i(int a, int b) {
  unsigned int r = 1u, base = (unsigned int)a;
  if (b < 0) b = 0;
  while (b) { if (b & 1) r *= base; base *= base; b >>= 1; }
  return (int)r;
}
"""),
    Op("maximum", 2, "fi", "arith", "the larger of ``a`` and ``b``", np.maximum,
       {"f": "tw_max{S}({a}, {b})", "i": "(({a}) > ({b}) ? ({a}) : ({b}))"},
       {"f": "({a} if ({a} >= {b} or {a} != {a}) else {b})", "i": "max({a}, {b})"},
       lambda dy, a, b, y: [ops.where(ops.greater_equal(a, b), dy, 0.0),
                            ops.where(ops.greater_equal(a, b), 0.0, dy)],
       twin=_twin_maximum, grad_eps=1e-3,
       c_helpers="{FN} {T} tw_max{S}({T} a, {T} b) "
       "{{ return a != a ? a : (b != b ? b : (a > b ? a : b)); }}\n"),
    Op("minimum", 2, "fi", "arith", "the smaller of ``a`` and ``b``", np.minimum,
       {"f": "tw_min{S}({a}, {b})", "i": "(({a}) < ({b}) ? ({a}) : ({b}))"},
       {"f": "({a} if ({a} <= {b} or {a} != {a}) else {b})", "i": "min({a}, {b})"},
       lambda dy, a, b, y: [ops.where(ops.less_equal(a, b), dy, 0.0),
                            ops.where(ops.less_equal(a, b), 0.0, dy)],
       twin=_twin_minimum, grad_eps=1e-3,
       c_helpers="{FN} {T} tw_min{S}({T} a, {T} b) "
       "{{ return a != a ? a : (b != b ? b : (a < b ? a : b)); }}\n"),
    Op("atan2", 2, "f", "arith",
       "the angle of the point ``(b, a)``: ``atan(a / b)`` in the right quadrant", np.arctan2,
       {"f": "atan2({a}, {b})"}, {"f": "np.arctan2({a}, {b})"},
       lambda dy, a, b, y: [
           ops.mul(dy, ops.div(b, ops.add(ops.square(a), ops.square(b)))),
           ops.neg(ops.mul(dy, ops.div(a, ops.add(ops.square(a), ops.square(b))))),
       ],
       numba_call="f", grad_domain=(Span(-2, 2), Span(0.5, 2)), grad_eps=1e-3),
    _cmp("equal", "==", "``a == b`` (bool)", np.equal),
    _cmp("not_equal", "!=", "``a != b`` (bool)", np.not_equal),
    _cmp("less", "<", "``a < b`` (bool)", np.less),
    _cmp("less_equal", "<=", "``a <= b`` (bool)", np.less_equal),
    _cmp("greater", ">", "``a > b`` (bool)", np.greater),
    _cmp("greater_equal", ">=", "``a >= b`` (bool)", np.greater_equal),
    Op("logical_and", 2, "b", "logical", "``a and b`` (bool)", np.logical_and,
       {"b": "({a} && {b})"}, {"b": "(bool({a}) and bool({b}))"}),
    Op("logical_or", 2, "b", "logical", "``a or b`` (bool)", np.logical_or,
       {"b": "({a} || {b})"}, {"b": "(bool({a}) or bool({b}))"}),
    Op("logical_xor", 2, "b", "logical", "``a xor b`` (bool)", np.logical_xor,
       {"b": "(({a} != 0) != ({b} != 0))"}, {"b": "(bool({a}) != bool({b}))"}),
    # --- TF.js's divNoNan ---------------------------------------------------------------------
    Op("div_no_nan", 2, "fi", "arith",
       "``a / b``, but 0 wherever ``b == 0`` (TF.js ``divNoNan``; the gradient there is 0 for "
       "both operands; int32 divides as ``div``)", _div_no_nan,
       {"f": "(({b}) == 0 ? ({T})0 : ({a}) / ({b}))", "i": "tw_floordiv_i({a}, {b})"},
       {"f": "(({b} - {b}) if {b} == 0 else {a} / {b})", "i": _NB_IDIV},
       lambda dy, a, b, y: [ops.div_no_nan(dy, b),
                            ops.neg(ops.mul(dy, ops.div_no_nan(y, b)))],
       numba_call="i", domain=(Span(-3, 3), Span(0.3, 3, signed=True)),
       grad_domain=(Span(-2, 2), Span(0.5, 2)), grad_eps=1e-3,
       example=">>> tw.div_no_nan(tw.tensor([1.0, 2.0, 0.0]), tw.tensor([2.0, 0.0, 0.0])).tolist()"
       "\n[0.5, 0.0, 0.0]"),
    # --- TF.js's bitwiseAnd (int32 only; engine.ops.int_ops keeps its same-shape check) ------
    Op("bitwise_and", 2, "i", "arith", "``a & b`` bit by bit (two's complement, int32)",
       np.bitwise_and, {"i": "(({a}) & ({b}))"}, {"i": "({a} & {b})"}, public=False),
]  # fmt: skip

UNARY: dict[str, Op] = {op.name: op for op in _UNARY_LIST}
BINARY: dict[str, Op] = {op.name: op for op in _BINARY_LIST}
OPS: dict[str, Op] = {**UNARY, **BINARY}


def _check_table() -> None:
    """Structural checks every entry must pass: import fails otherwise, with a ValueError
    naming the entry and what is wrong."""
    for op in OPS.values():
        unary = op.name in UNARY
        problems = [
            (op.family not in FAMILIES, f"family {op.family!r} is not one of {FAMILIES}"),
            (op.arity != (1 if unary else 2), f"arity {op.arity} in the {'un' if unary else 'bin'}"
             "ary table"),
            (not op.kinds or not set(op.kinds) <= set("fib"), f"kinds {op.kinds!r}: use f, i, b"),
            (set(op.c) != set(op.kinds), f"c expressions for kinds {sorted(op.c)}, expected "
             f"one per kind of {op.kinds!r}"),
            (set(op.numba) != set(op.kinds), f"numba expressions for kinds {sorted(op.numba)}, "
             f"expected one per kind of {op.kinds!r}"),
            (not set(op.numba_call) <= set(op.kinds), f"numba_call {op.numba_call!r} names a "
             f"kind not in {op.kinds!r}"),
            (any(s is not None and len(s) != op.arity for s in (op.domain, op.grad_domain)),
             "domain/grad_domain need one Span per operand"),
            (op.family == "arith" and "f" in op.kinds and op.grad is None,
             "a float op needs a gradient (ZERO_GRAD for a piecewise-constant one)"),
            (op.family == "logical" and op.kinds != "b", "logical ops take bool only"),
        ]  # fmt: skip
        for bad, what in problems:
            if bad:
                raise ValueError(f"engine.optable entry {op.name!r}: {what}")


_check_table()

COMPARISON_OPS = frozenset(n for n, op in BINARY.items() if op.family == "compare")
LOGICAL_OPS = frozenset(n for n, op in OPS.items() if op.family == "logical")
PREDICATE_OPS = frozenset(n for n, op in UNARY.items() if op.family == "predicate")
#: Unary ops with int32 kernels: the engine keeps int32 for them (others compute in float32).
INT_UNARY_OPS = frozenset(n for n, op in UNARY.items() if "i" in op.kinds)


def fingerprint() -> str:
    """A hash of every entry's expressions (for caches of code rendered from the table)."""
    h = hashlib.sha1()
    for op in OPS.values():
        h.update(
            repr(
                (
                    op.name,
                    op.arity,
                    op.kinds,
                    op.family,
                    sorted(op.c.items()),
                    sorted(op.numba.items()),
                    op.c_helpers,
                    op.c_int_helpers,
                    op.numba_helpers,
                    op.numba_call,
                )
            ).encode()
        )
    return h.hexdigest()


__all__ = [
    "BINARY",
    "COMPARISON_OPS",
    "INT_UNARY_OPS",
    "LOGICAL_OPS",
    "OPS",
    "PREDICATE_OPS",
    "UNARY",
    "ZERO_GRAD",
    "Op",
    "Span",
    "fingerprint",
]
