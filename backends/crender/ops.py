"""The elementwise op table: every UNARY_OPS/BINARY_OPS name as a C expression per dtype kind.

Kinds: ``f`` (float32/float64), ``i`` (int32), ``b`` (bool stored as one unsigned byte).
Expressions use ``{x}`` (unary), ``{a}``/``{b}`` (binary), ``{T}`` (the C type) and ``{S}``
(the helper-function suffix of the dtype); helpers live in ``PRELUDE`` and follow numpy
exactly where C differs (floor division, modulo sign, NaN-propagating max/min, int pow).
"""

from __future__ import annotations

from backends.base import BINARY_OPS, UNARY_OPS

KINDS = {"float32": "f", "float64": "f", "int32": "i", "bool": "b"}

_CMP = {
    "equal": "({a} == {b})",
    "not_equal": "({a} != {b})",
    "less": "({a} < {b})",
    "less_equal": "({a} <= {b})",
    "greater": "({a} > {b})",
    "greater_equal": "({a} >= {b})",
}

UNARY: dict[str, dict[str, str]] = {
    "neg": {"f": "(-{x})", "i": "((int)(0u - (unsigned int){x}))"},
    "abs": {"f": "fabs({x})", "i": "(({x}) < 0 ? (int)(0u - (unsigned int){x}) : ({x}))"},
    "sign": {"f": "tw_sign{S}({x})", "i": "((int)({x} > 0) - (int)({x} < 0))"},
    "square": {"f": "({x} * {x})", "i": "((int)((unsigned int){x} * (unsigned int){x}))"},
    "sqrt": {"f": "sqrt({x})"},
    "rsqrt": {"f": "(({T})1 / sqrt({x}))"},
    "exp": {"f": "exp({x})"},
    "log": {"f": "log({x})"},
    "log1p": {"f": "log1p({x})"},
    "expm1": {"f": "expm1({x})"},
    "reciprocal": {"f": "(({T})1 / {x})"},
    "floor": {"f": "floor({x})"},
    "ceil": {"f": "ceil({x})"},
    "round": {"f": "rint({x})"},
    "sin": {"f": "sin({x})"},
    "cos": {"f": "cos({x})"},
    "tan": {"f": "tan({x})"},
    "tanh": {"f": "tw_tanh{S}({x})"},
    "sigmoid": {"f": "tw_sigmoid{S}({x})"},
    "erf": {"f": "erf({x})"},
    "relu": {"f": "(({x}) > 0 || ({x}) != ({x}) ? ({x}) : ({T})0)", "i": "(({x}) > 0 ? ({x}) : 0)"},
    "softplus": {"f": "tw_softplus{S}({x})"},
    "logical_not": {"b": "(!{x})"},
    "is_nan": {"f": "(({x}) != ({x}))", "i": "0"},
    "is_finite": {"f": "tw_isfinite{S}({x})", "i": "1"},
}

BINARY: dict[str, dict[str, str]] = {
    "add": {"f": "({a} + {b})", "i": "((int)((unsigned int){a} + (unsigned int){b}))"},
    "sub": {"f": "({a} - {b})", "i": "((int)((unsigned int){a} - (unsigned int){b}))"},
    "mul": {"f": "({a} * {b})", "i": "((int)((unsigned int){a} * (unsigned int){b}))"},
    "div": {"f": "({a} / {b})", "i": "tw_floordiv_i({a}, {b})"},
    "floor_div": {"f": "tw_floordiv{S}({a}, {b})", "i": "tw_floordiv_i({a}, {b})"},
    "mod": {"f": "tw_mod{S}({a}, {b})", "i": "tw_mod_i({a}, {b})"},
    "pow": {"f": "pow({a}, {b})", "i": "tw_pow_i({a}, {b})"},
    "maximum": {"f": "tw_max{S}({a}, {b})", "i": "(({a}) > ({b}) ? ({a}) : ({b}))"},
    "minimum": {"f": "tw_min{S}({a}, {b})", "i": "(({a}) < ({b}) ? ({a}) : ({b}))"},
    "atan2": {"f": "atan2({a}, {b})"},
    **{name: {"f": e, "i": e, "b": e} for name, e in _CMP.items()},
    "logical_and": {"b": "({a} && {b})"},
    "logical_or": {"b": "({a} || {b})"},
    "logical_xor": {"b": "(({a} != 0) != ({b} != 0))"},
}

# Float helpers, rendered once per float dtype ({T} type, {S} suffix, {FN} function prefix).
PRELUDE_FLOAT = """
{FN} {T} tw_sign{S}({T} x) {{ return x > 0 ? ({T})1 : (x < 0 ? ({T})-1 : x); }}
{FN} {T} tw_tanh{S}({T} x) {{
  /* +-1 where the rounded tanh is +-1 (PoCL's tanh(-inf) is -0.99999994) */
  return fabs(x) > {TANH1} ? copysign(({T})1, x) : tanh(x);
}}
{FN} {T} tw_sigmoid{S}({T} x) {{
  if (x >= 0) return ({T})1 / (({T})1 + exp(-x));
  {T} e = exp(x); return e / (({T})1 + e);
}}
{FN} {T} tw_softplus{S}({T} x) {{
  return (x > 0 ? x : ({T})0) + log1p(exp(-fabs(x)));
}}
{FN} int tw_isfinite{S}({T} x) {{ return x == x && fabs(x) <= {MAXV}; }}
{FN} {T} tw_max{S}({T} a, {T} b) {{ return a != a ? a : (b != b ? b : (a > b ? a : b)); }}
{FN} {T} tw_min{S}({T} a, {T} b) {{ return a != a ? a : (b != b ? b : (a < b ? a : b)); }}
{FN} {T} tw_mod{S}({T} a, {T} b) {{
  {T} m = fmod(a, b);
  if (b == 0) return m;
  if (m != 0) {{ if ((b < 0) != (m < 0)) m += b; }} else {{ m = copysign(({T})0, b); }}
  return m;
}}
{FN} {T} tw_floordiv{S}({T} a, {T} b) {{
  if (b == 0) return a / b;
  {T} m = fmod(a, b);
  {T} d = (a - m) / b;
  if (m != 0 && ((b < 0) != (m < 0))) d -= ({T})1;
  if (d == 0) return copysign(({T})0, a / b);
  {T} f = floor(d);
  if (d - f > ({T})0.5) f += ({T})1;
  return f;
}}
"""

PRELUDE_INT = """
{FN} int tw_floordiv_i(int a, int b) {
  if (b == 0) return 0;
  if (b == -1) return (int)(0u - (unsigned int)a);
  int q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
  return q;
}
{FN} int tw_mod_i(int a, int b) {
  if (b == 0 || b == -1) return 0;
  int r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
{FN} int tw_pow_i(int a, int b) {
  unsigned int r = 1u, base = (unsigned int)a;
  if (b < 0) b = 0;
  while (b) { if (b & 1) r *= base; base *= base; b >>= 1; }
  return (int)r;
}
"""

SUFFIX = {"float32": "_f32", "float64": "_f64", "int32": "_i32", "bool": "_b"}
_MAXV = {"float32": "3.402823466e+38f", "float64": "1.7976931348623157e+308"}
#: Beyond these |x|, tanh(x) rounds to +-1 (2*exp(-2x) is below half an ulp of 1).
_TANH1 = {"float32": "9.1f", "float64": "19.1"}


def prelude(fn_prefix: str, ctypes: dict[str, str]) -> str:
    """Helper functions for every float dtype in ``ctypes`` plus the int helpers."""
    parts = [PRELUDE_INT.replace("{FN}", fn_prefix)]
    for dt in ("float32", "float64"):
        if dt in ctypes:
            parts.append(
                PRELUDE_FLOAT.format(
                    FN=fn_prefix, T=ctypes[dt], S=SUFFIX[dt], MAXV=_MAXV[dt], TANH1=_TANH1[dt]
                )
            )
    return "".join(parts)


def supports(table: dict[str, dict[str, str]], op: str, dtype: str) -> bool:
    """True when ``op`` has an expression for ``dtype``."""
    return KINDS[dtype] in table.get(op, {})


def expr(table: dict[str, dict[str, str]], op: str, dtype: str, ctype: str, **names: str) -> str:
    """The C expression of ``op`` for ``dtype`` with operand names substituted."""
    entry = table.get(op)
    if entry is None:
        raise ValueError(f"unknown elementwise op {op!r}; expected one of {', '.join(table)}")
    kind = KINDS[dtype]
    if kind not in entry:
        kinds = {"f": "float", "i": "int32", "b": "bool"}
        have = ", ".join(kinds[k] for k in entry)
        raise TypeError(f"op {op!r} is not defined for dtype {dtype!r} (defined for: {have})")
    return entry[kind].format(T=ctype, S=SUFFIX[dtype], **names)


assert set(UNARY) == set(UNARY_OPS), set(UNARY) ^ set(UNARY_OPS)
assert set(BINARY) == set(BINARY_OPS), set(BINARY) ^ set(BINARY_OPS)
