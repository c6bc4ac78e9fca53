"""C expressions of every elementwise op, from the engine's op table (``engine/optable.py``).

Kinds: ``f`` (float32/float64), ``i`` (int32), ``b`` (bool stored as one unsigned byte).
Expressions use ``{x}`` (unary), ``{a}``/``{b}`` (binary), ``{T}`` (the C type) and ``{S}``
(the helper-function suffix of the dtype); helpers (each entry's ``c_helpers`` and
``c_int_helpers``) make up ``prelude`` and follow numpy exactly where C differs (floor
division, modulo sign, NaN-propagating max/min, int pow).
"""

from __future__ import annotations

from engine import optable

KINDS = {"float32": "f", "float64": "f", "int32": "i", "bool": "b"}

UNARY: dict[str, dict[str, str]] = {n: dict(op.c) for n, op in optable.UNARY.items()}
BINARY: dict[str, dict[str, str]] = {n: dict(op.c) for n, op in optable.BINARY.items()}

# Float helpers, rendered once per float dtype ({T} type, {S} suffix, {FN} function prefix),
# and int helpers, rendered once ({FN}), in table order.
PRELUDE_FLOAT = "".join(op.c_helpers for op in optable.OPS.values())
PRELUDE_INT = "".join(op.c_int_helpers for op in optable.OPS.values())

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
