"""Weight penalties added to the training loss: l1, l2, l1l2 (TF.js defaults 0.01)."""

from __future__ import annotations

from typing import Any

import engine as tw
from engine import Tensor
from engine.hints import did_you_mean
from layers.utils import canonical, lookup, to_snake_case


class Regularizer:
    """Base class of weight penalties: ``reg(weight) -> scalar penalty``.

    Example:

    >>> reg = layers.regularizers.l2(0.5)
    >>> reg(tw.tensor([1.0, 2.0])).item()
    2.5
    """

    class_name = "Regularizer"

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        return cls(**config)


class L1L2(Regularizer):
    """The penalty ``l1 * sum(|w|) + l2 * sum(w^2)`` (TF.js ``tf.regularizers.l1l2``).

    Args:
        l1: The L1 factor.
        l2: The L2 factor.
    """

    class_name = "L1L2"

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x: Tensor) -> Tensor:
        out = tw.scalar(0.0)
        if self.l1:
            out = tw.add(out, tw.mul(tw.sum(tw.abs(x)), self.l1))
        if self.l2:
            out = tw.add(out, tw.mul(tw.sum(tw.square(x)), self.l2))
        return out

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"L1L2(l1={self.l1}, l2={self.l2})"


def l1(l1: float = 0.01) -> L1L2:  # noqa: E741
    """An L1 penalty ``l1 * sum(|w|)`` (TF.js ``tf.regularizers.l1``).

    Args:
        l1: The factor.

    Returns:
        An ``L1L2`` regularizer, for ``kernel_regularizer=`` and the like.
    """
    return L1L2(l1=l1)


def l2(l2: float = 0.01) -> L1L2:
    """An L2 penalty ``l2 * sum(w^2)`` (TF.js ``tf.regularizers.l2``).

    Args:
        l2: The factor.

    Returns:
        An ``L1L2`` regularizer.

    Example:

    >>> d = layers.dense(units=2, kernel_regularizer=layers.regularizers.l2(0.01))
    """
    return L1L2(l2=l2)


def l1l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Both penalties, ``l1 * sum(|w|) + l2 * sum(w^2)`` (also ``l1_l2``).

    Args:
        l1: The L1 factor.
        l2: The L2 factor.

    Returns:
        An ``L1L2`` regularizer.
    """
    return L1L2(l1=l1, l2=l2)


l1_l2 = l1l2
_TABLE = {"l1": l1, "l2": l2, "l1l2": l1l2}


def get(identifier: Any) -> Regularizer | None:
    """The regularizer an identifier names (what ``kernel_regularizer=`` accepts).

    Args:
        identifier: ``None``, a ``Regularizer``, a name (``"l1"``, ``"l2"``, ``"l1l2"``; TF.js
            default factor 0.01) or a ``{"class_name": "L1L2", "config": ...}`` dict.

    Returns:
        The regularizer, or ``None``.

    Raises:
        ValueError: An unknown name or class.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        return lookup(identifier, _TABLE, "regularizer")()
    if isinstance(identifier, dict) and "class_name" in identifier:
        if canonical(identifier["class_name"]) != "l1l2":
            hint = did_you_mean(identifier["class_name"], ["L1L2"])
            raise ValueError(
                f"unknown regularizer class {identifier['class_name']!r}{hint}; accepted: L1L2"
            )
        config = {to_snake_case(k): v for k, v in (identifier.get("config") or {}).items()}
        return L1L2(**config)
    raise ValueError(
        f"could not interpret regularizer {identifier!r}; accepted names: l1, l2, l1l2"
    )


def serialize(reg: Regularizer | None) -> dict | None:
    """The Keras-JSON form of a regularizer, which ``get`` reads back.

    Args:
        reg: The regularizer, or ``None``.

    Returns:
        ``{"class_name": "L1L2", "config": {"l1": ..., "l2": ...}}``, or ``None``.
    """
    return None if reg is None else {"class_name": reg.class_name, "config": reg.get_config()}
