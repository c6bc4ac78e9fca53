"""Activation functions by name (TF.js camelCase or Keras snake_case): ``get('hardSigmoid')``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import engine as tw
from engine import Tensor
from layers.utils import canonical, lookup


class Activation:
    """A named elementwise (or last-axis) function; serialised by its snake_case name.

    Layers hold one for ``activation=``; calling it applies the function.

    Args:
        name: The snake_case name (``"hard_sigmoid"``), as Keras JSON writes it.
        fn: The function of a Tensor.

    Example:

    >>> relu = layers.activations.get("relu")
    >>> relu(tw.tensor([-1.0, 2.0])).tolist(), relu.display_name
    ([0.0, 2.0], 'relu')
    """

    def __init__(self, name: str, fn: Callable[[Tensor], Tensor]):
        self.name = name  # snake_case, as Keras JSON
        self.fn = fn

    @property
    def display_name(self) -> str:
        from layers.utils import to_camel_case

        return to_camel_case(self.name)

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def _linear(x: Tensor) -> Tensor:
    return x


_ALL = [
    Activation("elu", tw.elu),
    Activation("selu", tw.selu),
    Activation("relu", tw.relu),
    Activation("relu6", tw.relu6),
    Activation("linear", _linear),
    Activation("sigmoid", tw.sigmoid),
    Activation("hard_sigmoid", tw.hard_sigmoid),
    Activation("softplus", tw.softplus),
    Activation("softsign", tw.softsign),
    Activation("tanh", tw.tanh),
    Activation("softmax", tw.softmax),
    Activation("log_softmax", tw.log_softmax),
    Activation("gelu", tw.gelu),
    Activation("mish", tw.mish),
    Activation("swish", tw.swish),
]
_TABLE = {canonical(a.name): a for a in _ALL}

elu, selu, relu, relu6, linear, sigmoid, hard_sigmoid, softplus, softsign = _ALL[:9]
tanh, softmax, log_softmax, gelu, mish, swish = _ALL[9:]
hardSigmoid, logSoftmax = hard_sigmoid, log_softmax  # noqa: N816  (TF.js spelling)


def names() -> list[str]:
    """Accepted activation names (snake_case; camelCase spellings work too).

    Returns:
        The names.
    """
    return [a.name for a in _ALL]


def get(identifier: Any) -> Activation:
    """The activation an identifier names (what ``activation=`` accepts).

    Args:
        identifier: A name (``"relu"``, ``"hardSigmoid"`` / ``"hard_sigmoid"``), ``None``
            (linear), an ``Activation``, a ``{"class_name": ...}`` dict, or any callable.

    Returns:
        An ``Activation``.

    Raises:
        ValueError: An unknown name or an identifier of another kind.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        return lookup(identifier, _TABLE, "activation")
    if isinstance(identifier, dict) and "class_name" in identifier:
        return get(identifier["class_name"])
    if callable(identifier):
        return Activation(getattr(identifier, "__name__", "custom"), identifier)
    raise ValueError(
        f"could not interpret activation {identifier!r}; accepted names: {', '.join(names())}"
    )


def serialize(activation: Activation) -> str:
    """The name Keras JSON stores for an activation.

    Args:
        activation: The activation.

    Returns:
        Its snake_case name.
    """
    return activation.name
