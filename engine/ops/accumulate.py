"""Accumulating composites: cumprod, add_n, euclidean_norm and moving_average.

Each is built from differentiable ops (slice, pad, mul, add, ...), so gradients come from
those ops' rules and work on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.ops.core import as_tensor, cast, normalize_axis, reshape
from engine.ops.math import add, div, mul, pow, sub
from engine.ops.reduction import norm
from engine.ops.shape import pad, slice
from engine.ops.shape import reverse as _reverse
from engine.tensor import Tensor
from engine.typing import AxisLike, TensorLike


def _shift_in_ones(x: Tensor, axis: int, s: int) -> Tensor:
    """``x`` moved ``s`` places toward the end of ``axis``, ones coming in at the start."""
    n = x.shape[axis]
    size = list(x.shape)
    size[axis] = n - s
    head = slice(x, [0] * x.rank, size)
    pads = [(0, 0)] * x.rank
    pads[axis] = (s, 0)
    return pad(head, pads, 1)


def cumprod(x: TensorLike, axis: int = 0, exclusive: bool = False, reverse: bool = False) -> Tensor:
    """The cumulative product along ``axis`` (TF.js ``cumprod``).

    Computed as a log-step scan of products (``ceil(log2(n))`` shifted multiplies), so zeros
    and negative values are exact (no ``exp(cumsum(log))``) and the gradient is that of the
    multiplies, zeros included. Bools multiply as int32, as ``cumsum``.

    Args:
        x: The tensor.
        axis: The axis to accumulate along.
        exclusive: Each output excludes its own element (the first is 1).
        reverse: Accumulate from the end.

    Returns:
        A Tensor of ``x``'s shape.

    Example:

    >>> tw.cumprod(tw.tensor([1, 2, 3, 4])).tolist()
    [1.0, 2.0, 6.0, 24.0]
    >>> tw.cumprod(tw.tensor([1, 2, 3, 4]), exclusive=True, reverse=True).tolist()
    [24.0, 12.0, 4.0, 1.0]
    """
    x = as_tensor(x)
    if x.dtype == "bool":
        x = cast(x, "int32")
    scalar = x.rank == 0
    if scalar:
        x = reshape(x, (1,))
    axis = normalize_axis(axis, x.rank, "cumprod")
    n = x.shape[axis]
    if reverse:
        x = _reverse(x, axis)
    if exclusive and n:
        x = _shift_in_ones(x, axis, 1)
    s = 1
    while s < n:
        x = mul(x, _shift_in_ones(x, axis, s))
        s *= 2
    if reverse:
        x = _reverse(x, axis)
    return reshape(x, ()) if scalar else x


def add_n(tensors: Sequence[TensorLike]) -> Tensor:
    """The elementwise sum of a list of tensors of one shape and dtype (TF.js ``addN``).

    Args:
        tensors: At least one tensor; all must have the same shape and dtype (as TF.js, no
            broadcasting).

    Returns:
        A Tensor of that shape and dtype.

    Raises:
        ValueError: An empty list, or shapes or dtypes that differ.

    Example:

    >>> tw.add_n([tw.tensor([1, 2]), tw.tensor([3, 4]), tw.tensor([5, 6])]).tolist()
    [9.0, 12.0]
    """
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("add_n: needs at least one tensor, got an empty list")
    for i, t in enumerate(ts[1:], 1):
        if t.shape != ts[0].shape or t.dtype != ts[0].dtype:
            raise ValueError(
                f"add_n: every tensor must have the shape and dtype of the first "
                f"({ts[0].shape}, {ts[0].dtype}); tensor {i} has ({t.shape}, {t.dtype})"
            )
    out = ts[0]
    for t in ts[1:]:
        out = add(out, t)
    return out


def euclidean_norm(x: TensorLike, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
    """``sqrt(sum(x ** 2))`` over ``axis`` (TF.js ``euclideanNorm``). Integer inputs give
    float32.

    Args:
        x: The tensor.
        axis: The axis or axes to reduce; ``None`` reduces all.
        keepdims: Keep the reduced axes with size 1.

    Returns:
        The norms.

    Example:

    >>> tw.euclidean_norm(tw.tensor([[3.0, 4.0], [6.0, 8.0]]), axis=1).tolist()
    [5.0, 10.0]
    """
    x = as_tensor(x)
    if x.dtype not in ("float32", "float64"):
        x = cast(x, "float32")
    return norm(x, "euclidean", axis, keepdims)


def moving_average(
    v: TensorLike,
    x: TensorLike,
    decay: float | TensorLike,
    step: float | TensorLike | None = None,
    zero_debias: bool = True,
) -> Tensor:
    """One step of an exponential moving average (TF.js ``movingAverage``).

    Returns ``v + (x - v) * (1 - decay)``; with ``zero_debias`` the update is divided by
    ``1 - decay ** step`` (Adam's bias correction), which then needs ``step``.

    Args:
        v: The current average.
        x: The new value, of ``v``'s shape.
        decay: The decay factor, usually close to 1.
        step: The step count (from 1); required when ``zero_debias`` is True.
        zero_debias: Correct the bias toward the zero initial value (TF.js default True).

    Returns:
        The new average, of ``v``'s shape.

    Raises:
        ValueError: ``zero_debias`` without a ``step``, or ``v`` and ``x`` of different shapes.

    Example:

    >>> tw.moving_average(tw.tensor([0.0]), tw.tensor([10.0]), 0.5, zero_debias=False).tolist()
    [5.0]
    >>> tw.moving_average(tw.tensor([0.0]), tw.tensor([10.0]), 0.5, step=1).tolist()
    [10.0]
    """
    v, x = as_tensor(v), as_tensor(x)
    if v.shape != x.shape:
        raise ValueError(f"moving_average: v {v.shape} and x {x.shape} must have one shape")
    d = as_tensor(decay, v.dtype)
    update = mul(sub(x, v), sub(1.0, d))
    if zero_debias:
        if step is None:
            raise ValueError("moving_average: zero_debias=True needs step (the step count)")
        update = div(update, sub(1.0, pow(d, as_tensor(step, v.dtype))))
    return add(v, update)
