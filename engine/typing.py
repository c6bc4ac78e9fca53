"""Type aliases for the public API's annotations (``from engine.typing import TensorLike``).

They are ordinary runtime objects (unions), so ``typing.get_type_hints`` and the API reference
resolve them; annotations elsewhere stay strings (``from __future__ import annotations``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.tensor import Tensor

#: Anything an op converts to a Tensor: a Tensor, a numpy array or scalar, a Python number or
#: bool, or (nested) sequences of them. Python numbers become float32, as JS numbers in TF.js.
TensorLike = Tensor | np.ndarray | np.generic | float | int | bool | Sequence[Any]

#: A dtype: ``"float32"``, ``"int32"``, ``"bool"``, ``"float64"`` (where the backend has it), or
#: a numpy dtype / type naming one of them.
DTypeLike = str | np.dtype | type

#: What ``fit``, ``evaluate`` and ``predict`` take as ``x`` or ``y``: one tensor-like value for a
#: single-input (single-output) model, else a list of them or a dict keyed by input/output name.
DataLike = TensorLike | Mapping[str, TensorLike]

#: A shape: a sequence of non-negative ints.
ShapeLike = Sequence[int]

#: The axes of a reduction: one (negative counts from the end), several, or ``None`` for all.
AxisLike = int | Sequence[int] | None

__all__ = ["AxisLike", "DataLike", "DTypeLike", "ShapeLike", "TensorLike"]
