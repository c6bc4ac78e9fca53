"""TF.js's remaining elementwise ops: is_inf, div_no_nan, log_sigmoid and step.

``is_inf``, ``div_no_nan`` and ``log_sigmoid`` are op-table entries (``engine/optable.py``; one
kernel each on every backend, gradients as TF.js's) that ``engine.ops.math`` generates; this
module keeps their import path. ``step`` takes a parameter (``alpha``), so it stays a composite
of differentiable engine ops.
"""

from __future__ import annotations

import numbers

from engine.ops.activations import _float
from engine.ops.creation import ones_like
from engine.ops.math import (  # type: ignore  (generated from the op table)
    div_no_nan,
    greater,
    is_inf,
    is_nan,
    log_sigmoid,
    mul,
    where,
)
from engine.tensor import Tensor
from engine.typing import TensorLike


def step(x: TensorLike, alpha: float = 0.0) -> Tensor:
    """Elementwise Heaviside step (TF.js ``step``): 1 where ``x > 0``, else ``alpha``; NaN
    stays NaN. Its gradient is 0 everywhere, as TF.js's.

    Unlike TF.js, which keeps an int32 input's dtype (and truncates ``alpha``), int32 and bool
    inputs give float32, so a fractional ``alpha`` is kept.

    Args:
        x: A tensor-like value.
        alpha: The value where ``x <= 0``.

    Returns:
        A Tensor of ``x``'s shape (float32 for int32 and bool inputs).

    Raises:
        TypeError: ``alpha`` is not a real number.

    Example:

    >>> tw.step(tw.tensor([-2.0, 0.0, 3.0])).tolist()
    [0.0, 0.0, 1.0]
    >>> tw.step(tw.tensor([-2.0, 0.0, 3.0]), alpha=0.5).tolist()
    [0.5, 0.5, 1.0]
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"step: alpha must be a real number, got {alpha!r}")
    x = _float(x)
    one = ones_like(x)
    stepped = where(greater(x, 0), one, mul(one, float(alpha)))
    return where(is_nan(x), x, stepped)


__all__ = ["div_no_nan", "is_inf", "log_sigmoid", "step"]
