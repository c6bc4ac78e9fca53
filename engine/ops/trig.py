"""Inverse trigonometric and hyperbolic ops: asin, acos, atan, sinh, cosh, asinh, acosh and
atanh (TF.js names in snake_case).

They are op-table entries (``engine/optable.py``): one kernel each on every backend (libm's
functions, numpy's on the ``numpy`` backend), gradients as TF.js's (``asin``: ``dy /
sqrt(1 - x^2)``, ``acosh``: ``dy / sqrt(x^2 - 1)``, ...). ``engine.ops.math`` generates the
functions; this module keeps their import path. Integer and bool inputs compute in float32,
as TF.js; outside an op's domain the result is NaN, as numpy's.

>>> print(*(f"{v:.4f}" for v in tw.asinh(tw.tensor([-1.0, 0.0, 2.0])).tolist()))
-0.8814 0.0000 1.4436
>>> print(*(f"{v:.4f}" for v in tw.acos(tw.tensor([1.0, 0.5, 2.0])).tolist()))
0.0000 1.0472 nan
"""

from __future__ import annotations

from engine.ops.math import acos, acosh, asin, asinh, atan, atanh, cosh, sinh  # type: ignore

__all__ = ["acos", "acosh", "asin", "asinh", "atan", "atanh", "cosh", "sinh"]
