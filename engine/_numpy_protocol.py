"""What numpy functions do with Tensors: ``Tensor.__array_ufunc__`` and ``__array_function__``.

The rule (also in ``Tensor``'s docstring and the README's "numpy interop"):

- a ufunc in ``UFUNCS`` called plainly (``np.exp(t)``, ``np.add(t, a)``: method ``__call__``,
  no keyword arguments) on Tensors, Python or numpy scalars and numpy arrays of bools, ints or
  floats runs as the engine op and returns a Tensor, so gradients flow through it; the bitwise
  ufuncs in ``BOOL_UFUNCS`` do so when every operand is bool (they are then logical ops);
- a function in ``FUNCTIONS`` (``np.sum``, ``np.reshape``, ``np.concatenate``, ...) runs as
  engine ops and returns a Tensor when its arguments are ones the engine op takes with numpy's
  meaning (no ``out=``, ``dtype=``, ``where=``, ...); ``np.shape``/``np.ndim``/``np.size`` read
  the attributes without copying data to the host;
- everything else (other ufuncs, ``reduce``/``accumulate``/``outer`` methods, ``out=`` or any
  other keyword, lists among the operands, unmapped functions, unsupported arguments) converts
  the Tensors to numpy arrays (``Tensor.numpy()``) and returns numpy's result;
- a numpy array that the engine cannot hold (an int64 beyond int32, strings, complex) sends the
  call to numpy too;
- tensors are immutable: ``out=`` naming a Tensor and ``ufunc.at`` on a Tensor raise TypeError.

Engine results follow the engine's dtype rules (TF.js's: float64 arrays and Python floats meet
float32 tensors as float32, sums of int32 stay int32), so values match numpy's to float32
precision while dtypes may be narrower than numpy's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.tensor import Tensor

_NUMPY = object()  # an adapter's answer: let numpy do it
_MISSING = object()  # an argument the caller did not pass

#: numpy ufunc -> engine op name (``engine.ops``), for plain calls.
UFUNCS: dict[np.ufunc, str] = {
    np.add: "add",
    np.subtract: "sub",
    np.multiply: "mul",
    np.true_divide: "real_div",
    np.floor_divide: "floor_div",
    np.remainder: "mod",
    np.power: "pow",
    np.maximum: "maximum",
    np.minimum: "minimum",
    np.arctan2: "atan2",
    np.matmul: "matmul",
    np.equal: "equal",
    np.not_equal: "not_equal",
    np.less: "less",
    np.less_equal: "less_equal",
    np.greater: "greater",
    np.greater_equal: "greater_equal",
    np.logical_and: "logical_and",
    np.logical_or: "logical_or",
    np.logical_xor: "logical_xor",
    np.logical_not: "logical_not",
    np.negative: "neg",
    np.positive: "identity",
    np.absolute: "abs",
    np.fabs: "abs",
    np.sign: "sign",
    np.square: "square",
    np.sqrt: "sqrt",
    np.exp: "exp",
    np.expm1: "expm1",
    np.log: "log",
    np.log1p: "log1p",
    np.sin: "sin",
    np.cos: "cos",
    np.tan: "tan",
    np.tanh: "tanh",
    np.floor: "floor",
    np.ceil: "ceil",
    np.rint: "round",
    np.isnan: "is_nan",
    np.isfinite: "is_finite",
}

#: Bitwise ufuncs that are logical ops when every operand is bool.
BOOL_UFUNCS: dict[np.ufunc, str] = {
    np.invert: "logical_not",
    np.bitwise_and: "logical_and",
    np.bitwise_or: "logical_or",
    np.bitwise_xor: "logical_xor",
}


def _ops():
    from engine import ops

    return ops


def to_numpy(x: Any) -> Any:
    """``x`` with every Tensor (also inside lists, tuples and dicts) replaced by its array."""
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, list):
        return [to_numpy(v) for v in x]
    if isinstance(x, tuple):
        return tuple(to_numpy(v) for v in x)
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    return x


def _operand(x: Any) -> Any:
    """``x`` as an engine operand (a Tensor, or a Python/numpy scalar), else ``_NUMPY``."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float)):
        return x
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype.kind not in "biuf":
            return _NUMPY
        if isinstance(x, np.generic):
            return x
        try:
            return _ops().tensor(x)
        except (TypeError, ValueError, OverflowError):  # does not fit an engine dtype
            return _NUMPY
    return _NUMPY


def _is_bool(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.dtype == "bool"
    return isinstance(x, (bool, np.bool_)) or (isinstance(x, np.ndarray) and x.dtype == np.bool_)


def _no_out(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = kwargs.get("out", _MISSING)
    if out is None or (isinstance(out, tuple) and all(o is None for o in out)):
        kwargs = {k: v for k, v in kwargs.items() if k != "out"}
    return kwargs


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict[str, Any]) -> Any:
    """``Tensor.__array_ufunc__``: an engine op for a mapped plain call, else numpy's result."""
    outs = kwargs.get("out")
    if outs is not None:
        for o in outs if isinstance(outs, tuple) else (outs,):
            if isinstance(o, Tensor):
                raise TypeError(
                    f"np.{ufunc.__name__}(..., out=<Tensor>): tensors are immutable; pass a "
                    "numpy array as out=, or drop out= to get a new Tensor"
                )
    if method == "at" and inputs and isinstance(inputs[0], Tensor):
        raise TypeError(
            f"np.{ufunc.__name__}.at cannot change a Tensor in place (tensors are immutable); "
            "call it on t.numpy(), or use engine.scatter_add"
        )
    kwargs = _no_out(kwargs)
    name = UFUNCS.get(ufunc)
    if name is None and ufunc in BOOL_UFUNCS and all(_is_bool(x) for x in inputs):
        name = BOOL_UFUNCS[ufunc]
    if name is not None and method == "__call__" and not kwargs:
        operands = [_operand(x) for x in inputs]
        if all(o is not _NUMPY for o in operands):
            return getattr(_ops(), name)(*operands)
    return getattr(ufunc, method)(*to_numpy(inputs), **to_numpy(kwargs))


# --- __array_function__ ----------------------------------------------------------------------


def _axis(axis: Any) -> bool:
    """numpy's axis forms the engine takes: None, an int or a tuple/list of ints."""
    if axis is None or isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return True
    return isinstance(axis, (tuple, list)) and all(
        isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis
    )


def _reduction(op: str, numeric: bool) -> Callable[..., Any]:
    """np.sum/mean/max/... : ``(a, axis, [dtype,] out, keepdims, ...)`` -> engine op."""

    def fn(
        a,
        axis=None,
        dtype=None,
        out=None,
        keepdims=False,
        initial=_MISSING,
        where=_MISSING,
    ):
        if not isinstance(a, Tensor) or not _axis(axis) or dtype is not None or out is not None:
            return _NUMPY
        if initial is not _MISSING or (where is not _MISSING and where is not True):
            return _NUMPY
        if not isinstance(keepdims, (bool, np.bool_)):
            return _NUMPY
        if isinstance(axis, list):
            axis = tuple(axis)
        return getattr(_ops(), op)(a, axis, bool(keepdims))

    if not numeric:  # max/min/any/all have no dtype argument: out is the third

        def fn2(a, axis=None, out=None, keepdims=False, initial=_MISSING, where=_MISSING):
            return fn(a, axis, None, out, keepdims, initial, where)

        return fn2
    return fn


def _moment(root: bool) -> Callable[..., Any]:
    """np.var / np.std with ``ddof=0`` (the population moments) -> engine ``moments``."""

    def fn(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **rest):
        if not isinstance(a, Tensor) or not _axis(axis) or dtype is not None or out is not None:
            return _NUMPY
        if rest or ddof != 0 or not isinstance(keepdims, (bool, np.bool_)):
            return _NUMPY
        if isinstance(axis, list):
            axis = tuple(axis)
        var = _ops().moments(a, axis, bool(keepdims))[1]
        return _ops().sqrt(var) if root else var

    return fn


def _arg(op: str) -> Callable[..., Any]:
    def fn(a, axis=None, out=None, *, keepdims=False):
        if not isinstance(a, Tensor) or out is not None or keepdims:
            return _NUMPY
        if axis is not None and not isinstance(axis, (int, np.integer)):
            return _NUMPY
        return getattr(_ops(), op)(a, None if axis is None else int(axis))

    return fn


def _reshape(a, shape=_MISSING, order="C", *, newshape=_MISSING, copy=None):
    shape = newshape if shape is _MISSING else shape
    if not isinstance(a, Tensor) or order != "C" or shape is _MISSING:
        return _NUMPY
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    if not isinstance(shape, (tuple, list)):
        return _NUMPY
    return _ops().reshape(a, tuple(int(s) for s in shape))


def _transpose(a, axes=None):
    if not isinstance(a, Tensor) or not (axes is None or _axis(axes) and axes != ()):
        return _NUMPY
    return _ops().transpose(a, None if axes is None else [int(x) for x in axes])


def _sequence(arrays: Any) -> list | None:
    """The operands of np.concatenate/np.stack as engine tensors, or None (numpy does it)."""
    if not isinstance(arrays, (list, tuple)) or not arrays:
        return None
    out = []
    for x in arrays:
        o = _operand(x)
        if o is _NUMPY or not isinstance(x, (Tensor, np.ndarray)):
            return None
        out.append(o)
    return out


def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    ts = _sequence(arrays)
    if ts is None or out is not None or dtype is not None or casting != "same_kind":
        return _NUMPY
    if axis is None:
        return _ops().concat([_ops().reshape(t, (-1,)) for t in ts], 0)
    if not isinstance(axis, (int, np.integer)) or any(t.rank == 0 for t in ts):
        return _NUMPY
    return _ops().concat(ts, int(axis))


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    ts = _sequence(arrays)
    if ts is None or out is not None or dtype is not None or casting != "same_kind":
        return _NUMPY
    if not isinstance(axis, (int, np.integer)):
        return _NUMPY
    return _ops().stack(ts, int(axis))


def _dot(a, b, out=None):
    x, y = _operand(a), _operand(b)
    if out is not None or x is _NUMPY or y is _NUMPY:
        return _NUMPY
    rx = x.rank if isinstance(x, Tensor) else 0
    ry = y.rank if isinstance(y, Tensor) else 0
    if rx == 0 or ry == 0:
        return _ops().mul(x, y)
    if rx > 2 or ry > 2:
        return _NUMPY  # numpy's N-d dot is not a batched matmul
    return _ops().matmul(x, y)


def _where(condition, x=_MISSING, y=_MISSING):
    if x is _MISSING or y is _MISSING:
        return _NUMPY  # np.where(c) is np.nonzero(c)
    ops = [_operand(v) for v in (condition, x, y)]
    if any(o is _NUMPY for o in ops):
        return _NUMPY
    return _ops().where(*ops)


def _clip(a, a_min=_MISSING, a_max=_MISSING, out=None, *, min=_MISSING, max=_MISSING, **rest):  # noqa: A002
    lo = a_min if a_min is not _MISSING else min
    hi = a_max if a_max is not _MISSING else max
    lo = None if lo is _MISSING else lo
    hi = None if hi is _MISSING else hi
    if not isinstance(a, Tensor) or out is not None or rest or (lo is None and hi is None):
        return _NUMPY
    bounds = [None if v is None else _operand(v) for v in (lo, hi)]
    if any(b is _NUMPY for b in bounds):
        return _NUMPY
    r = a if bounds[0] is None else _ops().maximum(a, bounds[0])  # numpy: min(max(a, lo), hi)
    return r if bounds[1] is None else _ops().minimum(r, bounds[1])


def _round(a, decimals=0, out=None):
    if not isinstance(a, Tensor) or decimals != 0 or out is not None:
        return _NUMPY
    if a.dtype in ("int32", "bool"):
        return _NUMPY  # numpy keeps the dtype; the engine's round computes in float
    return _ops().round(a)


def _expand_dims(a, axis):
    if not isinstance(a, Tensor) or not isinstance(axis, (int, np.integer)):
        return _NUMPY
    return _ops().expand_dims(a, int(axis))


def _squeeze(a, axis=None):
    if not isinstance(a, Tensor) or not _axis(axis):
        return _NUMPY
    return _ops().squeeze(a, list(axis) if isinstance(axis, tuple) else axis)


def _cumsum(a, axis=None, dtype=None, out=None):
    if not isinstance(a, Tensor) or dtype is not None or out is not None:
        return _NUMPY
    if axis is None:
        return _ops().cumsum(_ops().reshape(a, (-1,)), 0)
    if not isinstance(axis, (int, np.integer)):
        return _NUMPY
    return _ops().cumsum(a, int(axis))


def _broadcast_to(array, shape, subok=False):
    if not isinstance(array, Tensor):
        return _NUMPY
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    return _ops().broadcast_to(array, tuple(int(s) for s in shape))


def _outer(a, b, out=None):
    x, y = _operand(a), _operand(b)
    if out is not None or not isinstance(x, Tensor) or not isinstance(y, Tensor):
        return _NUMPY
    return _ops().outer(_ops().reshape(x, (-1,)), _ops().reshape(y, (-1,)))


def _shape(a):
    return a.shape if isinstance(a, Tensor) else _NUMPY


def _ndim(a):
    return a.rank if isinstance(a, Tensor) else _NUMPY


def _size(a, axis=None):
    if not isinstance(a, Tensor) or not (axis is None or isinstance(axis, (int, np.integer))):
        return _NUMPY
    return a.size if axis is None else a.shape[int(axis)]


#: numpy function -> adapter (numpy's signature; returns an engine result or ``_NUMPY``).
FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.sum: _reduction("sum", True),
    np.prod: _reduction("prod", True),
    np.mean: _reduction("mean", True),
    np.max: _reduction("max", False),
    np.min: _reduction("min", False),
    np.amax: _reduction("max", False),
    np.amin: _reduction("min", False),
    np.any: _reduction("any", False),
    np.all: _reduction("all", False),
    np.var: _moment(False),
    np.std: _moment(True),
    np.argmax: _arg("argmax"),
    np.argmin: _arg("argmin"),
    np.reshape: _reshape,
    np.transpose: _transpose,
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.dot: _dot,
    np.where: _where,
    np.clip: _clip,
    np.round: _round,
    np.around: _round,
    np.expand_dims: _expand_dims,
    np.squeeze: _squeeze,
    np.cumsum: _cumsum,
    np.broadcast_to: _broadcast_to,
    np.outer: _outer,
    np.shape: _shape,
    np.ndim: _ndim,
    np.size: _size,
}

_SIGNATURES: dict[Callable[..., Any], inspect.Signature] = {}


def array_function(func: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    """``Tensor.__array_function__``: engine ops for a mapped function, else numpy's result."""
    adapter = FUNCTIONS.get(func)
    if adapter is not None:
        sig = _SIGNATURES.get(adapter)
        if sig is None:
            sig = _SIGNATURES[adapter] = inspect.signature(adapter)
        try:
            sig.bind(*args, **kwargs)
        except TypeError:  # not a call the adapter knows: numpy checks it and says why
            pass
        else:
            result = adapter(*args, **kwargs)
            if result is not _NUMPY:
                return result
    return func(*to_numpy(args), **to_numpy(kwargs))
