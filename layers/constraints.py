"""Weight constraints applied after each optimizer update: maxNorm, minMaxNorm, nonNeg, unitNorm."""

from __future__ import annotations

from typing import Any

import engine as tw
from engine import Tensor
from layers.utils import canonical, lookup, to_snake_case

EPSILON = 1e-7


class Constraint:
    """Base class of weight constraints: ``constraint(weight) -> projected weight``.

    ``fit`` applies a layer's constraints after every optimizer update.
    """

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
    """Rescale so that each norm along ``axis`` is at most ``max_value`` (TF.js ``maxNorm``).

    Args:
        max_value: The largest norm allowed.
        axis: The axis (or axes) the norms run over (0: each output unit's incoming weights of a Dense kernel).
    """

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
    """Move each norm along ``axis`` a fraction ``rate`` of the way into [min_value, max_value].

    TF.js ``minMaxNorm``.

    Args:
        min_value: The smallest norm.
        max_value: The largest norm.
        rate: 1 projects fully; smaller values move part of the way each update.
        axis: The axis (or axes) the norms run over (0: each output unit's incoming weights of a Dense kernel).
    """

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
    """Zero the negative entries (TF.js ``nonNeg``)."""

    class_name = "NonNeg"

    def __call__(self, w):
        return tw.relu(w)


class UnitNorm(Constraint):
    """Divide by the norm along ``axis`` (TF.js ``unitNorm``).

    Args:
        axis: The axis (or axes) the norms run over (0: each output unit's incoming weights of a Dense kernel).
    """

    class_name = "UnitNorm"

    def __init__(self, axis: Any = 0):
        self.axis = _axis(axis)

    def __call__(self, w):
        return tw.div(w, tw.add(_norms(w, self.axis), EPSILON))

    def get_config(self):
        return {"axis": self.axis}


def max_norm(max_value: float = 2.0, axis: Any = 0) -> MaxNorm:
    """A ``MaxNorm`` constraint.

    Args:
        max_value: The largest norm allowed.
        axis: The axis the norms run over.

    Returns:
        The constraint, for ``kernel_constraint=`` and the like.

    Example:

    >>> c = layers.constraints.max_norm(1.0)
    >>> c(tw.tensor([[3.0], [4.0]])).tolist()
    [[0.6000000238418579], [0.800000011920929]]
    """
    return MaxNorm(max_value, axis)


def min_max_norm(
    min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0
) -> MinMaxNorm:
    """A ``MinMaxNorm`` constraint.

    Args:
        min_value: The smallest norm.
        max_value: The largest norm.
        rate: The fraction of the projection applied per update.
        axis: The axis the norms run over.

    Returns:
        The constraint, for ``kernel_constraint=`` and the like.
    """
    return MinMaxNorm(min_value, max_value, rate, axis)


def non_neg() -> NonNeg:
    """A ``NonNeg`` constraint.

    Returns:
        The constraint, for ``kernel_constraint=`` and the like.
    """
    return NonNeg()


def unit_norm(axis: Any = 0) -> UnitNorm:
    """A ``UnitNorm`` constraint.

    Args:
        axis: The axis the norms run over.

    Returns:
        The constraint, for ``kernel_constraint=`` and the like.
    """
    return UnitNorm(axis)


maxNorm, minMaxNorm, nonNeg, unitNorm = max_norm, min_max_norm, non_neg, unit_norm  # noqa: N816
CLASSES = [MaxNorm, MinMaxNorm, NonNeg, UnitNorm]
_TABLE = {canonical(c.class_name): c for c in CLASSES}
for _c in CLASSES:
    _c.display_name = _c.class_name[0].lower() + _c.class_name[1:]


def get(identifier: Any) -> Constraint | None:
    """The constraint an identifier names (what ``kernel_constraint=`` accepts).

    Args:
        identifier: ``None``, a ``Constraint``, a name (``"maxNorm"`` / ``"max_norm"``) or a
            ``{"class_name", "config"}`` dict.

    Returns:
        The constraint, or ``None``.

    Raises:
        ValueError: An unknown name or an identifier of another kind.
    """
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
    """The Keras-JSON form of a constraint, which ``get`` reads back.

    Args:
        c: The constraint, or ``None``.

    Returns:
        ``{"class_name", "config"}``, or ``None``.
    """
    return None if c is None else {"class_name": c.class_name, "config": c.get_config()}
