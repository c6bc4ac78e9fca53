"""Converting user data (tensors, numpy, lists, dicts) into the model's list of input tensors."""

from __future__ import annotations

from typing import Any

import numpy as np

import engine as tw
from engine import Tensor


def _convert(x: Any, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x if x.dtype == "float32" else tw.cast(x, "float32")
    try:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biufc":
            arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{what}: cannot convert {type(x).__name__} to a float32 tensor ({e})"
        ) from None
    try:  # checked conversion: complex values and finite values beyond float32 raise
        return tw.tensor(arr, dtype="float32")
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what}: {e}") from None


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (Tensor, np.ndarray)) or hasattr(x, "__array__")


def split_inputs(x: Any, names: list[str], kind: str = "input") -> list[Any]:
    """``x`` (one array, a list, or a dict keyed by name) as one entry per name, unconverted.

    Args:
        x: One array (single input), a list in ``names`` order, or a dict keyed by name.
        names: The model's input (or output) names.
        kind: ``"input"`` or ``"target"``, for error messages.

    Returns:
        One entry per name.

    Raises:
        ValueError: A dict with missing or unknown keys, or a list of the wrong length.
    """
    n = len(names)
    if isinstance(x, dict):
        missing = [k for k in names if k not in x]
        if missing:
            raise ValueError(
                f"{kind} dict is missing {missing}; expected keys {names}, got {sorted(x)}"
            )
        extra = sorted(set(x) - set(names))
        if extra:
            raise ValueError(f"{kind} dict has unknown keys {extra}; expected keys {names}")
        return [x[k] for k in names]
    if isinstance(x, (list, tuple)):
        if (
            n > 1
            or (len(x) == 1 and _is_array_like(x[0]))
            or (x and all(_is_array_like(e) for e in x) and n == len(x))
        ):
            if len(x) != n:
                raise ValueError(
                    f"the model has {n} {kind}(s) {names}, got a list of {len(x)} arrays"
                )
            return list(x)
    if n != 1:
        raise ValueError(f"the model has {n} {kind}s {names}; pass a list or a dict of {n} arrays")
    return [x]


def as_input_list(x: Any, model: Any) -> list[Tensor]:
    """``x`` as a list of float32 tensors, one per model input, with shapes checked.

    Args:
        x: What ``fit``/``predict`` accept: an array, a list, or a dict keyed by input name.
        model: The model whose ``input_names`` and ``input_shapes`` to match.

    Returns:
        One float32 Tensor per model input.

    Raises:
        TypeError: A value cannot be converted to float32.
        ValueError: A shape does not match the model, or sample counts differ.
    """
    shapes = list(getattr(model, "input_shapes", []) or [])
    names = list(getattr(model, "input_names", []) or [])
    if not names:  # a Sequential model that does not know its input shape yet
        if isinstance(x, dict) or (
            isinstance(x, (list, tuple)) and len(x) == 1 and _is_array_like(x[0])
        ):
            x = list(x.values())[0] if isinstance(x, dict) else x[0]
        return [_convert(x, "input")]
    parts = split_inputs(x, names, "input")
    out = [_convert(p, f"input {name!r}") for p, name in zip(parts, names, strict=False)]
    for t, shape, name in zip(out, shapes, names, strict=False):
        if len(t.shape) != len(shape) or any(
            e is not None and e != g for e, g in zip(shape[1:], t.shape[1:], strict=False)
        ):
            raise ValueError(
                f"input {name!r}: expected shape {tuple(shape)} (None = any size), got an array of shape {t.shape}"
            )
    counts = {t.shape[0] for t in out}
    if len(counts) > 1:
        raise ValueError(
            f"all inputs must have the same number of samples, got {[t.shape[0] for t in out]}"
        )
    return out
