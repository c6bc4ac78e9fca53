"""Dtypes: ``float32`` (the default, as TF.js), ``int32``, ``bool``; ``float64`` and ``float16``
on request.

No silent narrowing (README "Numerics"): host values that do not fit the target dtype raise
``ValueError`` naming the value and the dtype (``to_host_array``); complex values are rejected
here (``is_complex`` names complex dtypes: complex64 tensors are two float32 parts behind
``engine.tensor.ComplexTensor``, made by ``engine.ops.complex_ops``); integer arguments
(``units``, ``epochs``, ...) go through ``as_int``, which rejects bools and non-integral
numbers.

``float16`` (for mixed precision, ``layers.mixed_precision``) is supported on backends whose
``capabilities["float16"]`` is true (the numpy backend); elsewhere ``as_dtype("float16")``
raises a ``TypeError`` naming the active backend. Other float widths (``longdouble``) are
rejected everywhere. Inference never picks float16: a float16 numpy array becomes a float32
tensor unless ``dtype="float16"`` is asked for.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

DTYPES = ("float32", "int32", "bool", "float64", "float16")
_RANK = {"bool": 0, "int32": 1, "float16": 2, "float32": 3, "float64": 4}
_ALIASES = {
    "float": "float32",
    "float32": "float32",
    "int": "int32",
    "int32": "int32",
    "bool": "bool",
    "float64": "float64",
    "float16": "float16",
    "half": "float16",
}


def as_dtype(dtype: Any) -> str:
    """Normalise a dtype given as a name, numpy dtype or Python type.

    ``float16`` (``"half"``, ``np.float16``) is accepted only when the active backend's
    capabilities declare it; otherwise a ``TypeError`` names the backend (``check_float16``).
    """
    if dtype is None:
        return "float32"
    if dtype is bool:
        return "bool"
    if dtype is int:
        return "int32"
    if dtype is float:
        return "float32"
    if isinstance(dtype, str) and dtype in _ALIASES:
        out = _ALIASES[dtype]
        if out == "float16":
            check_float16(f"dtype {dtype!r}")
        return out
    if dtype is complex:
        raise TypeError(f"unsupported dtype {dtype!r}: {_COMPLEX}")
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        np_dtype = None
    if np_dtype is not None:
        if np_dtype == np.bool_:
            return "bool"
        if np_dtype.kind in "iu":
            return "int32"  # the values are range-checked when converted (to_host_array)
        if np_dtype == np.float64:
            return "float64"
        if np_dtype == np.float32:
            return "float32"
        if np_dtype == np.float16:
            check_float16(f"dtype {dtype!r}")
            return "float16"
        if np_dtype.kind == "f":
            raise TypeError(
                f"unsupported dtype {dtype!r}: {np_dtype.name} is not supported; use float32 "
                "(or float64/float16 where the backend supports it)"
            )
        if np_dtype.kind == "c":
            raise TypeError(f"unsupported dtype {dtype!r}: {_COMPLEX}")
    raise TypeError(f"unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")


def backend_has_float16(backend_name: str | None = None) -> bool:
    """Whether a backend (default: the active one) declares ``capabilities["float16"]``."""
    from engine import registry  # dtypes is imported by the registry's modules

    name = backend_name or registry.get_backend()
    return bool(registry.instance_of(name).capabilities.get("float16"))


def check_float16(what: str, backend_name: str | None = None) -> None:
    """Raise ``TypeError`` naming the backend when it has no float16 (``what`` asked for it)."""
    from engine import registry

    name = backend_name or registry.get_backend()
    if not backend_has_float16(name):
        raise TypeError(
            f"{what}: float16 is not supported on backend {name!r} (its capabilities declare "
            "no float16); use float32, or the numpy backend (TENSORWEAVE_BACKEND=numpy or "
            "tw.set_backend('numpy')), which computes in float16"
        )


_COMPLEX = (
    "complex values are not supported here (the imaginary part would be lost); pass the real "
    "part explicitly, e.g. np.real(x). complex64 tensors (tw.complex(real, imag), "
    "tw.tensor(<complex array>)) go to the ops that take them: tw.spectral, tw.signal.stft, "
    "tw.real/imag/abs and arithmetic"
)


def is_complex(dtype: Any) -> bool:
    """Whether ``dtype`` names a complex dtype (``"complex64"``, ``complex``, numpy's complex
    types); complex64 tensors are ``engine.tensor.ComplexTensor`` faces, not backend dtypes."""
    if isinstance(dtype, str):
        return dtype in ("complex64", "complex", "complex128")
    if dtype is complex:
        return True
    if dtype is None or dtype is bool or dtype is int or dtype is float:
        return False
    try:
        return np.dtype(dtype).kind == "c"
    except TypeError:
        return False


def infer_dtype(array: np.ndarray) -> str:
    """TF.js-style inference: floats (even float64) -> float32, ints -> int32, bool -> bool."""
    kind = array.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int32"
    if kind == "f":
        return "float32"
    if kind == "c":
        raise TypeError(_COMPLEX)
    raise TypeError(
        f"cannot make a tensor from values of numpy dtype {array.dtype}; "
        "expected numbers or booleans"
    )


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_F32_MAX = float(np.finfo(np.float32).max)
_F16_MAX = float(np.finfo(np.float16).max)


def _first(array: np.ndarray, bad: np.ndarray) -> Any:
    """The first value of ``array`` where ``bad`` holds, for the error message."""
    return array.reshape(-1)[int(np.argmax(bad.reshape(-1)))].item()


def to_host_array(values: Any, dtype: str, op: str = "tensor") -> np.ndarray:
    """``values`` as a C-contiguous numpy array of ``dtype``, refusing silent narrowing.

    - complex values raise TypeError;
    - into int32: floats are truncated toward zero (as TF.js); NaN, infinities and values
      outside [-2**31, 2**31 - 1] (ints of any width too) raise ValueError;
    - into float32: finite values beyond float32's range (about 3.4e38), which would become
      infinities, raise ValueError; rounding to the nearest float32 is not narrowing;
    - into float16 likewise: finite values beyond 65504 raise ValueError;
    - into bool: nonzero is True.
    """
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    kind = arr.dtype.kind
    if arr.ndim == 0 and kind in "biuf":  # scalars (operands, fill values): checks in Python
        return _scalar(arr, dtype, op)
    if kind == "c":
        raise TypeError(f"{op}: {_COMPLEX}")
    if kind == "O" and dtype != "bool":
        arr = _from_objects(arr, dtype, op)
        kind = arr.dtype.kind
    if dtype == "int32":
        if kind == "f":
            with np.errstate(invalid="ignore"):
                hi, lo = np.float64(2.0**31), np.float64(-(2.0**31) - 1)
                bad = ~np.isfinite(arr) | (arr >= hi) | (arr <= lo)
            if bad.any():
                v = _first(arr, bad)
                raise ValueError(
                    f"{op}: value {v!r} does not fit int32 (NaN, infinities and values outside "
                    f"[{INT32_MIN}, {INT32_MAX}] cannot be converted); pass float32 values "
                    "or clip them first"
                )
            arr = np.trunc(arr)
        elif kind in "iu" and arr.dtype.itemsize >= 4 and arr.dtype != np.int32 and arr.size:
            if arr.max() > INT32_MAX or arr.min() < INT32_MIN:
                bad = (arr > INT32_MAX) | (arr < INT32_MIN)
                raise ValueError(
                    f"{op}: value {_first(arr, bad)!r} does not fit int32 (range "
                    f"[{INT32_MIN}, {INT32_MAX}]); TF.js has no int64 tensors: use float32 "
                    "values or smaller integers"
                )
    with np.errstate(over="ignore", invalid="ignore"):
        # np.array, not np.ascontiguousarray: the latter turns a 0-d array into shape (1,)
        out = np.array(arr, dtype=to_numpy_dtype(dtype), order="C")
    if dtype == "float16" and kind in "fiu" and (kind != "f" or arr.dtype.itemsize > 2):
        advice = "use float32 or scale the values"
        _check_overflow(arr, out, op, f"float16 (largest {_F16_MAX:.6g})", advice)
    elif dtype == "float32" and kind == "f" and arr.dtype.itemsize > 4:
        advice = "pass dtype='float64' where the backend supports it, or scale the values"
        _check_overflow(arr, out, op, f"float32 (largest {_F32_MAX:.7g})", advice)
    return out


def _check_overflow(arr: np.ndarray, out: np.ndarray, op: str, target: str, advice: str) -> None:
    """Raise when a finite value of ``arr`` became an infinity in ``out``, its narrowed copy."""
    inf = np.isinf(out)
    if inf.any():
        bad = inf & np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{op}: value {_first(arr, bad)!r} is too large for {target}; it would become "
                f"an infinity: {advice}"
            )


def _scalar(arr: np.ndarray, dtype: str, op: str) -> np.ndarray:
    """``to_host_array`` for a 0-d bool/int/float array, with the same rules."""
    v = arr.item()
    if dtype == "int32" and not isinstance(v, bool):
        if isinstance(v, float):
            if not (v == v and -(2.0**31) - 1 < v < 2.0**31):
                raise ValueError(
                    f"{op}: value {v!r} does not fit int32 (NaN, infinities and values outside "
                    f"[{INT32_MIN}, {INT32_MAX}] cannot be converted); pass float32 values "
                    "or clip them first"
                )
            v = int(v)  # truncation toward zero
        elif not INT32_MIN <= v <= INT32_MAX:
            raise ValueError(
                f"{op}: value {v!r} does not fit int32 (range [{INT32_MIN}, {INT32_MAX}]); "
                "TF.js has no int64 tensors: use float32 values or smaller integers"
            )
    elif dtype == "float32" and isinstance(v, float) and arr.dtype.itemsize > 4:
        if abs(v) > _F32_MAX and abs(v) != float("inf") and _overflows_f32(v):
            raise ValueError(
                f"{op}: value {v!r} is too large for float32 (largest {_F32_MAX:.7g}); it "
                "would become an infinity: pass dtype='float64' where the backend supports "
                "it, or scale the values"
            )
    elif dtype == "float16" and not isinstance(v, bool) and abs(v) > _F16_MAX:
        if abs(v) != float("inf") and not np.isnan(v):
            with np.errstate(over="ignore"):
                overflows = bool(np.isinf(np.float16(v)))
            if overflows:
                raise ValueError(
                    f"{op}: value {v!r} is too large for float16 (largest {_F16_MAX:.6g}); it "
                    "would become an infinity: use float32 or scale the values"
                )
    return np.array(v if dtype != "bool" else bool(v), dtype=to_numpy_dtype(dtype))


def _overflows_f32(v: float) -> bool:
    with np.errstate(over="ignore"):
        return bool(np.isinf(np.float32(v)))


def _from_objects(arr: np.ndarray, dtype: str, op: str) -> np.ndarray:
    """An object array (Python ints beyond 64 bits, mixed content) as a numeric array."""
    for v in arr.reshape(-1):
        if isinstance(v, complex):
            raise TypeError(f"{op}: {_COMPLEX}")
        if isinstance(v, numbers.Integral) and not isinstance(v, bool):
            if dtype == "int32" and not INT32_MIN <= int(v) <= INT32_MAX:
                raise ValueError(f"{op}: value {int(v)} does not fit int32")
    try:
        return arr.astype(np.float64 if dtype in ("float32", "float64") else np.int64)
    except (OverflowError, TypeError, ValueError) as e:
        raise ValueError(f"{op}: cannot convert the values to {dtype}: {e}") from None


def as_ints(values: Any, name: str) -> tuple[int, ...]:
    """A sequence of ``as_int`` values (a shape) as a tuple; entries that are plain ints take a
    fast path, so hot callers such as ``reshape`` pay nothing for the check."""
    out = tuple(values)
    if all(type(v) is int for v in out):
        return out
    return tuple(as_int(v, f"{name} {values!r} entry") for v in out)


def as_int(
    value: Any,
    name: str,
    minimum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """``value`` as a Python int, for integer arguments such as ``units`` or ``epochs``.

    Accepted: Python and numpy integers, and floats with an integral value (``2.0`` -> 2, as in
    JavaScript, where 2.0 and 2 are the same number, so TF.js configs may carry either).
    Rejected with an error naming ``name`` and the value: bools (TypeError), non-integral or
    non-finite numbers (ValueError), anything else (TypeError), and values below ``minimum``
    (ValueError). ``None`` is returned as is when ``allow_none``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got the bool {value!r}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real):
        f = float(value)
        if not f.is_integer():
            raise ValueError(
                f"{name} must be an integer, got {value!r} (a non-integral number is not "
                "rounded silently)"
            )
        out = int(f)
    else:
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return out


def upcast(a: str, b: str) -> str:
    """The dtype two operands are brought to (bool < int32 < float16 < float32 < float64)."""
    return a if _RANK[a] >= _RANK[b] else b


def to_numpy_dtype(dtype: str) -> np.dtype:
    return np.dtype(np.bool_ if dtype == "bool" else dtype)


def is_float(dtype: str) -> bool:
    """Whether ``dtype`` is a floating dtype (float16, float32 or float64)."""
    return dtype in ("float32", "float64", "float16")
