"""Weight constraints applied after each optimizer update: maxNorm, minMaxNorm, nonNeg, unitNorm."""

from __future__ import annotations

from typing import Any

import engine as tw
from engine import Tensor
from layers.utils import canonical, lookup, to_snake_case

EPSILON = 1e-7


class Constraint:
    """Base: ``constraint(weight) -> projected weight``."""

    class_name = "Constraint"

    def __call__(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


def _norms(w: Tensor, axis: Any) -> Tensor:
    return tw.sqrt(tw.sum(tw.square(w), axis, keepdims=True))


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


class MaxNorm(Constraint):
    """Rescale so that each norm along ``axis`` is at most ``max_value``."""

    class_name = "MaxNorm"

    def __init__(self, max_value: float = 2.0, axis: Any = 0):
        self.max_value, self.axis = float(max_value), _axis(axis)

    def __call__(self, w):
        n = _norms(w, self.axis)
        desired = tw.clip_by_value(n, 0.0, self.max_value)
        return tw.mul(w, tw.div(desired, tw.add(n, EPSILON)))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each norm along ``axis`` a fraction ``rate`` of the way into [min_value, max_value]."""

    class_name = "MinMaxNorm"

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0
    ):
        self.min_value, self.max_value, self.rate, self.axis = (
            float(min_value),
            float(max_value),
            float(rate),
            _axis(axis),
        )

    def __call__(self, w):
        n = _norms(w, self.axis)
        desired = tw.add(
            tw.mul(tw.clip_by_value(n, self.min_value, self.max_value), self.rate),
            tw.mul(n, 1.0 - self.rate),
        )
        return tw.mul(w, tw.div(desired, tw.add(n, EPSILON)))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    """Zero the negative entries."""

    class_name = "NonNeg"

    def __call__(self, w):
        return tw.relu(w)


class UnitNorm(Constraint):
    """Divide by the norm along ``axis``."""

    class_name = "UnitNorm"

    def __init__(self, axis: Any = 0):
        self.axis = _axis(axis)

    def __call__(self, w):
        return tw.div(w, tw.add(_norms(w, self.axis), EPSILON))

    def get_config(self):
        return {"axis": self.axis}


def max_norm(max_value: float = 2.0, axis: Any = 0) -> MaxNorm:
    return MaxNorm(max_value, axis)


def min_max_norm(
    min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0
) -> MinMaxNorm:
    return MinMaxNorm(min_value, max_value, rate, axis)


def non_neg() -> NonNeg:
    return NonNeg()


def unit_norm(axis: Any = 0) -> UnitNorm:
    return UnitNorm(axis)


maxNorm, minMaxNorm, nonNeg, unitNorm = max_norm, min_max_norm, non_neg, unit_norm  # noqa: N816
CLASSES = [MaxNorm, MinMaxNorm, NonNeg, UnitNorm]
_TABLE = {canonical(c.class_name): c for c in CLASSES}
for _c in CLASSES:
    _c.display_name = _c.class_name[0].lower() + _c.class_name[1:]


def get(identifier: Any) -> Constraint | None:
    """None, a Constraint, a name ('maxNorm' / 'max_norm') or a config dict."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        return lookup(identifier, _TABLE, "constraint")()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = lookup(identifier["class_name"], _TABLE, "constraint")
        return cls.from_config(
            {to_snake_case(k): v for k, v in (identifier.get("config") or {}).items()}
        )
    raise ValueError(
        f"could not interpret constraint {identifier!r}; accepted names: maxNorm, minMaxNorm, nonNeg, unitNorm"
    )


def serialize(c: Constraint | None) -> dict | None:
    return None if c is None else {"class_name": c.class_name, "config": c.get_config()}
