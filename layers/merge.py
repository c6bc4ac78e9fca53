"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""

from __future__ import annotations

from typing import Any

import engine as tw
from layers.base import Layer


class _Merge(Layer):
    """Elementwise merge of two or more tensors of one shape."""

    def check_input_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(
                f"layer {self.name!r} ({self.class_name}) needs a list of at least 2 inputs, got {input_shape}"
            )
        first = tuple(input_shape[0])
        for s in input_shape[1:]:
            s = tuple(s)
            if len(s) != len(first) or any(
                a is not None and b is not None and a != b
                for a, b in zip(first[1:], s[1:], strict=False)
            ):
                raise ValueError(
                    f"layer {self.name!r} ({self.class_name}): all inputs must have one shape, got {input_shape}"
                )

    def compute_output_shape(self, input_shape):
        out = list(input_shape[0])
        for s in input_shape[1:]:
            out = [a if a is not None else b for a, b in zip(out, s, strict=False)]
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        return None

    def _merge(self, a, b):
        raise NotImplementedError

    def call(self, inputs, training=False):
        out = inputs[0]
        for t in inputs[1:]:
            out = self._merge(out, t)
        return out


class Add(_Merge):
    """Elementwise sum of the inputs (TF.js ``tf.layers.add``).

    Args:
        **kwargs: Layer arguments (``name``, ``dtype``, ...; see ``Layer``).

    Call it on a list of at least two tensors (or symbolic tensors) of one shape.

    Example:

    >>> layers.Add()([tw.ones([2, 3]), tw.ones([2, 3])]).tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """

    def _merge(self, a, b):
        return tw.add(a, b)


class Subtract(_Merge):
    """The first input minus the second (exactly two inputs).

    Args:
        **kwargs: Layer arguments (``name``, ``dtype``, ...; see ``Layer``).

    Call it on a list of at least two tensors (or symbolic tensors) of one shape.

    Example:

    >>> layers.Subtract()([tw.ones([1, 2]), tw.ones([1, 2])]).tolist()
    [[0.0, 0.0]]
    """

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        if len(input_shape) != 2:
            raise ValueError(
                f"layer {self.name!r} (Subtract) needs exactly 2 inputs, got {len(input_shape)}"
            )

    def _merge(self, a, b):
        return tw.sub(a, b)


class Multiply(_Merge):
    """Elementwise product of the inputs (TF.js ``tf.layers.multiply``).

    Args:
        **kwargs: Layer arguments (``name``, ``dtype``, ...; see ``Layer``).

    Call it on a list of at least two tensors (or symbolic tensors) of one shape.

    Example:

    >>> layers.Multiply()([tw.fill([1, 2], 3), tw.fill([1, 2], 2)]).tolist()
    [[6.0, 6.0]]
    """

    def _merge(self, a, b):
        return tw.mul(a, b)


class Maximum(_Merge):
    """Elementwise maximum of the inputs (TF.js ``tf.layers.maximum``).

    Args:
        **kwargs: Layer arguments (``name``, ``dtype``, ...; see ``Layer``).

    Example:

    >>> layers.Maximum()([tw.tensor([[1.0, 5.0]]), tw.tensor([[3.0, 2.0]])]).tolist()
    [[3.0, 5.0]]
    """

    def _merge(self, a, b):
        return tw.maximum(a, b)


class Minimum(_Merge):
    """Elementwise minimum of the inputs (TF.js ``tf.layers.minimum``).

    Args:
        **kwargs: Layer arguments (``name``, ``dtype``, ...; see ``Layer``).

    Example:

    >>> layers.Minimum()([tw.tensor([[1.0, 5.0]]), tw.tensor([[3.0, 2.0]])]).tolist()
    [[1.0, 2.0]]
    """

    def _merge(self, a, b):
        return tw.minimum(a, b)


class Average(_Merge):
    """Elementwise mean of the inputs (TF.js ``tf.layers.average``).

    Args:
        **kwargs: Layer arguments (``name``, ``dtype``, ...; see ``Layer``).

    Call it on a list of at least two tensors (or symbolic tensors) of one shape.

    Example:

    >>> layers.Average()([tw.zeros([1, 2]), tw.ones([1, 2])]).tolist()
    [[0.5, 0.5]]
    """

    def call(self, inputs, training=False):
        out = inputs[0]
        for t in inputs[1:]:
            out = tw.add(out, t)
        return tw.mul(out, 1.0 / len(inputs))


class Concatenate(_Merge):
    """Join the inputs along ``axis`` (TF.js ``tf.layers.concatenate``).

    Args:
        axis: The axis to join along (the last by default); every other size must match.
        **kwargs: Layer arguments (``name``, ``dtype``, ...; see ``Layer``).

    Example:

    >>> a, b = layers.input(shape=[3]), layers.input(shape=[2])
    >>> layers.concatenate([a, b]).shape
    (None, 5)
    """

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def check_input_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(
                f"layer {self.name!r} (Concatenate) needs a list of at least 2 inputs, got {input_shape}"
            )
        rank = len(input_shape[0])
        if (
            any(len(s) != rank for s in input_shape)
            or not -rank <= self.axis < rank
            or self.axis % rank == 0
        ):
            raise ValueError(
                f"layer {self.name!r} (Concatenate): inputs of one rank and a non-batch axis needed, got {input_shape} axis {self.axis}"
            )
        ax = self.axis % rank
        for d in range(1, rank):
            if d == ax:
                continue
            sizes = {s[d] for s in input_shape if s[d] is not None}
            if len(sizes) > 1:
                raise ValueError(
                    f"layer {self.name!r} (Concatenate): inputs must match except on axis {self.axis}, got {input_shape}"
                )

    def call(self, inputs, training=False):
        return tw.concat(list(inputs), self.axis)

    def compute_output_shape(self, input_shape):
        rank = len(input_shape[0])
        ax = self.axis % rank
        out = list(super().compute_output_shape(input_shape))
        sizes = [s[ax] for s in input_shape]
        out[ax] = None if any(s is None for s in sizes) else sum(sizes)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _factory(cls: type, doc: str):
    def make(inputs: Any = None, **kwargs: Any) -> Any:
        layer = cls(**kwargs)
        return layer if inputs is None else layer(inputs)

    make.__name__ = make.__qualname__ = cls.__name__.lower()
    make.__doc__ = (
        f"{doc}: a ``{cls.__name__}`` layer, or (given ``inputs``) the layer applied to them, "
        "as Keras.\n\n"
        "Args:\n"
        "    inputs: A list of tensors or symbolic tensors to merge, or ``None``.\n"
        f"    **kwargs: ``{cls.__name__}``'s arguments.\n\n"
        "Returns:\n"
        f"    The merged tensor when ``inputs`` is given, else the ``{cls.__name__}`` layer.\n"
    )
    return make


add = _factory(Add, "Sum of the inputs")
subtract = _factory(Subtract, "Difference of two inputs")
multiply = _factory(Multiply, "Product of the inputs")
average = _factory(Average, "Mean of the inputs")
maximum = _factory(Maximum, "Elementwise maximum of the inputs")
minimum = _factory(Minimum, "Elementwise minimum of the inputs")
concatenate = _factory(Concatenate, "Concatenation of the inputs")
