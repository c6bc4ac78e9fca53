"""Dtypes: ``float32`` (the default, as TF.js), ``int32``, ``bool``; ``float64`` on request."""

from __future__ import annotations

from typing import Any

import numpy as np

DTYPES = ("float32", "int32", "bool", "float64")
_RANK = {"bool": 0, "int32": 1, "float32": 2, "float64": 3}
_ALIASES = {
    "float": "float32",
    "float32": "float32",
    "int": "int32",
    "int32": "int32",
    "bool": "bool",
    "float64": "float64",
}


def as_dtype(dtype: Any) -> str:
    """Normalise a dtype given as a name, numpy dtype or Python type."""
    if dtype is None:
        return "float32"
    if dtype is bool:
        return "bool"
    if dtype is int:
        return "int32"
    if dtype is float:
        return "float32"
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        np_dtype = None
    if np_dtype is not None:
        if np_dtype == np.bool_:
            return "bool"
        if np_dtype.kind in "iu":
            return "int32"
        if np_dtype == np.float64:
            return "float64"
        if np_dtype.kind == "f":
            return "float32"
    raise TypeError(f"unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")


def infer_dtype(array: np.ndarray) -> str:
    """TF.js-style inference: floats (even float64) -> float32, ints -> int32, bool -> bool."""
    kind = array.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int32"
    if kind == "f":
        return "float32"
    raise TypeError(
        f"cannot make a tensor from values of numpy dtype {array.dtype}; "
        "expected numbers or booleans"
    )


def upcast(a: str, b: str) -> str:
    """The dtype two operands are brought to (bool < int32 < float32 < float64)."""
    return a if _RANK[a] >= _RANK[b] else b


def to_numpy_dtype(dtype: str) -> np.dtype:
    return np.dtype(np.bool_ if dtype == "bool" else dtype)


def is_float(dtype: str) -> bool:
    return dtype in ("float32", "float64")
