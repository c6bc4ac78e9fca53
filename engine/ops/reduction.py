"""Reductions over any set of axes, arg-reductions, cumsum and the composites built on them."""

from __future__ import annotations

import builtins
from typing import Any

from engine import dispatch
from engine.ops.core import as_tensor, cast, normalize_axes, normalize_axis, reshape
from engine.ops.math import abs, exp, log, mul, sqrt, square, sub
from engine.tensor import Tensor
from engine.typing import AxisLike, TensorLike


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


def sum(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """The sum over ``axis`` (TF.js ``sum``). Bools sum as int32.

    Args:
        x: The tensor.
        axis: The axis or axes to reduce (negative counts from the end); ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The reduced Tensor.

    Example:

    >>> tw.sum(tw.tensor([[1, 2], [3, 4]]), axis=0).tolist()
    [4.0, 6.0]
    """
    return _reduce("sum", x, axis, keepdims)


def prod(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
    """The product over ``axis`` (TF.js ``prod``).

    Args:
        x: The tensor.
        axis: The axis or axes to reduce (negative counts from the end); ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The reduced Tensor.

    Example:

    >>> tw.prod(tw.tensor([[1, 2], [3, 4]]), axis=1).tolist()
    [2.0, 12.0]
    """
    return _reduce("prod", x, axis, keepdims)


def max(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """The largest value over ``axis`` (TF.js ``max``). An empty axis raises ``ValueError``.

    Args:
        x: The tensor.
        axis: The axis or axes to reduce (negative counts from the end); ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The reduced Tensor.

    Example:

    >>> tw.max(tw.tensor([[1, 5], [3, 4]]), axis=1, keepdims=True).tolist()
    [[5.0], [4.0]]
    """
    return _reduce("max", x, axis, keepdims)


def min(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """The smallest value over ``axis`` (TF.js ``min``). An empty axis raises ``ValueError``.

    Args:
        x: The tensor.
        axis: The axis or axes to reduce (negative counts from the end); ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The reduced Tensor.

    Example:

    >>> tw.min(tw.tensor([[1, 5], [3, 4]])).item()
    1.0
    """
    return _reduce("min", x, axis, keepdims)


def any(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether any value over ``axis`` is true (nonzero) (TF.js ``any``). The result is bool.

    Args:
        x: The tensor.
        axis: The axis or axes to reduce (negative counts from the end); ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The reduced Tensor.

    Example:

    >>> tw.any(tw.tensor([[True, False], [False, False]]), axis=1).tolist()
    [True, False]
    """
    return _reduce("any", x, axis, keepdims)


def all(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every value over ``axis`` is true (nonzero) (TF.js ``all``). The result is bool.

    Args:
        x: The tensor.
        axis: The axis or axes to reduce (negative counts from the end); ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The reduced Tensor.

    Example:

    >>> tw.all(tw.tensor([1, 2, 0]) > 0).item()
    False
    """
    return _reduce("all", x, axis, keepdims)


def _count(x: Tensor, axis: Any) -> int:
    axes = normalize_axes(axis, x.rank, "mean")
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def mean(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
    """The arithmetic mean over ``axis`` (TF.js ``mean``). Integer inputs give float32.

    Args:
        x: The tensor.
        axis: The axis or axes to reduce (negative counts from the end); ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The reduced Tensor.

    Example:

    >>> tw.mean(tw.tensor([[1, 2], [3, 4]]), axis=1).tolist()
    [1.5, 3.5]
    """
    x = as_tensor(x)
    if x.dtype not in ("float32", "float64", "float16"):
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


def argmax(x: TensorLike, axis: int | None = None) -> Tensor:
    """The index of the largest value along ``axis`` (TF.js ``argMax``); first one on ties.

    Args:
        x: The tensor (rank >= 1).
        axis: The axis to search; ``None`` searches the flattened tensor. (TF.js's default
            is axis 0.)

    Returns:
        An int32 Tensor without ``axis``.

    Raises:
        ValueError: ``x`` is a scalar or the axis is empty.

    Example:

    >>> tw.argmax(tw.tensor([[1, 9, 3], [7, 2, 7]]), axis=1).tolist()
    [1, 0]
    """
    return _arg("argmax", x, axis)


def argmin(x: TensorLike, axis: int | None = None) -> Tensor:
    """The index of the smallest value along ``axis`` (TF.js ``argMin``); first one on ties.

    Args:
        x: The tensor (rank >= 1).
        axis: The axis to search; ``None`` searches the flattened tensor.

    Returns:
        An int32 Tensor without ``axis``.

    Raises:
        ValueError: ``x`` is a scalar or the axis is empty.

    Example:

    >>> tw.argmin(tw.tensor([4, 1, 1])).item()
    1
    """
    return _arg("argmin", x, axis)


def cumsum(x: TensorLike, axis: int = 0, exclusive: bool = False, reverse: bool = False) -> Tensor:
    """The cumulative sum along ``axis`` (TF.js ``cumsum``).

    Args:
        x: The tensor.
        axis: The axis to accumulate along.
        exclusive: Each output excludes its own element (starts from 0).
        reverse: Accumulate from the end.

    Returns:
        A Tensor of ``x``'s shape.

    Example:

    >>> tw.cumsum(tw.tensor([1, 2, 3])).tolist()
    [1.0, 3.0, 6.0]
    >>> tw.cumsum(tw.tensor([1, 2, 3]), exclusive=True, reverse=True).tolist()
    [5.0, 3.0, 0.0]
    """
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


def logsumexp(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, computed stably (TF.js ``logSumExp``).

    Args:
        x: The tensor.
        axis: The axis or axes to reduce; ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The reduced Tensor.

    Example:

    >>> round(tw.logsumexp(tw.tensor([1000.0, 1000.0])).item(), 3)
    1000.693
    """
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


def moments(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> tuple[Tensor, Tensor]:
    """The mean and (population) variance over ``axis`` (TF.js ``moments``).

    Args:
        x: The tensor.
        axis: The axis or axes to reduce; ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        ``(mean, variance)``.

    Example:

    >>> m, v = tw.moments(tw.tensor([1.0, 2.0, 3.0, 4.0]))
    >>> m.item(), v.item()
    (2.5, 1.25)
    """
    x = as_tensor(x)
    m = mean(x, axis, keepdims=True)
    var = mean(square(sub(x, m)), axis, keepdims)
    if not keepdims:
        axes = normalize_axes(axis, x.rank, "moments")
        m = reshape(m, tuple(s for i, s in enumerate(x.shape) if i not in axes))
    return m, var


def norm(
    x: TensorLike,
    ord: str | float = "euclidean",
    axis: AxisLike = None,
    keepdims: bool = False,
) -> Tensor:
    """A vector norm over ``axis`` (TF.js ``norm``).

    Args:
        x: The tensor.
        ord: ``"euclidean"`` (or ``"fro"``, 2), 1, ``inf``, ``-inf`` or any ``p > 0``.
        axis: The axis or axes to reduce; ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The norms.

    Raises:
        ValueError: An unsupported ``ord``.

    Example:

    >>> tw.norm(tw.tensor([3.0, -4.0])).item(), tw.norm(tw.tensor([3.0, -4.0]), 1).item()
    (5.0, 7.0)
    """
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
