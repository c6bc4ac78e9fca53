"""Reductions over any set of axes, arg-reductions, cumsum and the composites built on them."""

from __future__ import annotations

import builtins
from typing import Any

from engine import dispatch
from engine.ops.core import as_tensor, cast, normalize_axes, normalize_axis, reshape
from engine.ops.math import abs, exp, log, mul, sqrt, square, sub
from engine.tensor import Tensor


def _reduce(op: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    if op in ("any", "all") and x.dtype != "bool":
        x = cast(x, "bool")
    elif op in ("sum", "prod") and x.dtype == "bool":
        x = cast(x, "int32")
    axes = normalize_axes(axis, x.rank, op)
    axes = tuple(a for a in axes if a < x.rank)
    if not axes:
        return x
    if op in ("max", "min") and builtins.any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{op}: cannot reduce an empty axis of shape {x.shape}")
    out_shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    shape, dt = x.shape, x.dtype
    out = dispatch.run(
        op if op not in ("max", "min") else f"reduce_{op}",
        (x,),
        {"axes": axes},
        out_shape,
        dt,
        lambda be, b: be.reduce(op, b, shape, dt, axes),
    )
    if keepdims:
        out = reshape(out, tuple(1 if i in axes else s for i, s in enumerate(shape)))
    return out


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (an int, a tuple, or None for all)."""
    return _reduce("sum", x, axis, keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _reduce("prod", x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("min", x, axis, keepdims)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("any", x, axis, keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce("all", x, axis, keepdims)


def _count(x: Tensor, axis: Any) -> int:
    axes = normalize_axes(axis, x.rank, "mean")
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean (float32 for integer inputs)."""
    x = as_tensor(x)
    if x.dtype not in ("float32", "float64"):
        x = cast(x, "float32")
    n = _count(x, axis)
    return mul(sum(x, axis, keepdims), 1.0 / n if n else float("nan"))


def _arg(op: str, x: Any, axis: Any) -> Tensor:
    x = as_tensor(x)
    if x.dtype == "bool":
        x = cast(x, "int32")
    if axis is None:
        x = reshape(x, (-1,))
        axis = 0
    if x.rank == 0:
        raise ValueError(f"{op}: needs a tensor of rank >= 1")
    axis = normalize_axis(axis, x.rank, op)
    if x.shape[axis] == 0:
        raise ValueError(f"{op}: cannot take {op} over an empty axis (shape {x.shape})")
    out_shape = x.shape[:axis] + x.shape[axis + 1 :]
    shape, dt = x.shape, x.dtype
    return dispatch.run(
        op,
        (x,),
        {"axis": axis},
        out_shape,
        "int32",
        lambda be, b: be.arg_reduce(op, b, shape, dt, axis),
    )


def argmax(x: Any, axis: Any = None) -> Tensor:
    """Index of the largest value along ``axis`` (the first one on ties); None flattens."""
    return _arg("argmax", x, axis)


def argmin(x: Any, axis: Any = None) -> Tensor:
    return _arg("argmin", x, axis)


def cumsum(x: Any, axis: int = 0, exclusive: bool = False, reverse: bool = False) -> Tensor:
    """Cumulative sum along ``axis``."""
    x = as_tensor(x)
    if x.dtype == "bool":
        x = cast(x, "int32")
    axis = normalize_axis(axis, x.rank, "cumsum")
    shape, dt = x.shape, x.dtype
    exclusive, reverse = builtins.bool(exclusive), builtins.bool(reverse)
    return dispatch.run(
        "cumsum",
        (x,),
        {"axis": axis, "exclusive": exclusive, "reverse": reverse},
        shape,
        dt,
        lambda be, b: be.cumsum(b, shape, dt, axis, exclusive, reverse),
    )


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) computed stably."""
    from engine.autodiff import stop_gradient
    from engine.ops.math import is_finite, where

    x = as_tensor(x)
    m = stop_gradient(max(x, axis, keepdims=True))
    m = where(is_finite(m), m, 0.0)  # all -inf (or an inf) gives -inf (inf), not nan
    out = log(sum(exp(sub(x, m)), axis, keepdims=True)) + m
    if not keepdims:
        axes = normalize_axes(axis, x.rank, "logsumexp")
        out = reshape(out, tuple(s for i, s in enumerate(x.shape) if i not in axes))
    return out


def moments(x: Any, axis: Any = None, keepdims: bool = False) -> tuple[Tensor, Tensor]:
    """(mean, variance) over ``axis``."""
    x = as_tensor(x)
    m = mean(x, axis, keepdims=True)
    var = mean(square(sub(x, m)), axis, keepdims)
    if not keepdims:
        axes = normalize_axes(axis, x.rank, "moments")
        m = reshape(m, tuple(s for i, s in enumerate(x.shape) if i not in axes))
    return m, var


def norm(x: Any, ord: Any = "euclidean", axis: Any = None, keepdims: bool = False) -> Tensor:
    """Vector norms: 'euclidean'/2, 1, inf, -inf, or any p > 0 (TF.js ``norm``)."""
    x = as_tensor(x)
    if ord in ("euclidean", "fro", 2):
        return sqrt(sum(square(x), axis, keepdims))
    if ord == 1:
        return sum(abs(x), axis, keepdims)
    if ord == float("inf"):
        return max(abs(x), axis, keepdims)
    if ord == float("-inf"):
        return min(abs(x), axis, keepdims)
    if isinstance(ord, (int, float)) and ord > 0:
        from engine.ops.math import pow

        return pow(sum(pow(abs(x), float(ord)), axis, keepdims), 1.0 / ord)
    raise ValueError(f"norm: unsupported ord {ord!r}; expected 'euclidean', 1, 2, inf, -inf or p>0")
