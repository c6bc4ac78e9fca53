"""Advanced activation layers (TF.js ``tfjs-layers/src/layers/advanced_activations.ts``):
ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax.

Config keys and defaults are TF.js's (saved snake_case, as TF.js writes them): ``max_value``,
``alpha``, ``alpha_initializer``/``alpha_regularizer``/``alpha_constraint``/``shared_axes``,
``theta``, ``axis``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

import engine as tw
from engine.dtypes import as_int
from layers import constraints as _constraints
from layers import initializers as _initializers
from layers import regularizers as _regularizers
from layers.base import Layer


def as_float(
    value: Any, name: str, minimum: float | None = None, allow_none: bool = False
) -> float | None:
    """``value`` as a finite Python float, for layer arguments such as ``alpha`` or ``rate``.

    Args:
        value: The argument (a real number; ``None`` only when ``allow_none``).
        name: How the error names it (``"LeakyReLU: alpha"``).
        minimum: The smallest accepted value, if any.
        allow_none: Return ``None`` for ``None``.

    Returns:
        The float (or ``None``).

    Raises:
        TypeError: A bool or a non-number.
        ValueError: NaN, an infinity or a value below ``minimum``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return out


class ReLU(Layer):
    """Rectified linear unit ``max(x, 0)``, optionally capped at ``max_value`` (TF.js
    ``tf.layers.reLU``).

    Args:
        max_value: The largest output (``None``: no cap); a number >= 0.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``max_value`` is negative, NaN or infinite (``TypeError`` for a
            non-number).

    Example:

    >>> layers.relu(max_value=1.5)(tw.tensor([[-1.0, 0.5, 3.0]])).tolist()
    [[0.0, 0.5, 1.5]]
    """

    supports_masking = True

    def __init__(self, max_value: float | None = None, **kwargs: Any):
        max_value = as_float(max_value, "ReLU: max_value", minimum=0.0, allow_none=True)
        super().__init__(**kwargs)
        self.max_value = max_value

    def call(self, inputs, training=False):
        out = tw.relu(inputs)
        if self.max_value is not None:
            out = tw.minimum(out, self.max_value)
        return out

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value}


class LeakyReLU(Layer):
    """Leaky rectifier: ``x`` for ``x > 0``, else ``alpha * x`` (TF.js ``tf.layers.leakyReLU``).

    Args:
        alpha: The slope below zero (default 0.3, as TF.js and Keras).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``alpha`` is NaN or infinite (``TypeError`` for a non-number).

    Example:

    >>> layers.leaky_relu()(tw.tensor([[-1.0, 2.0]])).tolist()
    [[-0.30000001192092896, 2.0]]
    """

    supports_masking = True

    def __init__(self, alpha: float = 0.3, **kwargs: Any):
        alpha = as_float(alpha, "LeakyReLU: alpha")
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs, training=False):
        return tw.leaky_relu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x > 0``, else ``alpha * x`` with a learned ``alpha`` per
    input element (TF.js ``tf.layers.prelu``).

    ``alpha`` has the input's shape without the batch axis; axes named in ``shared_axes`` get
    size 1, so one slope is shared along them (``shared_axes=[1, 2]`` after a 2-D convolution:
    one slope per channel).

    Args:
        alpha_initializer: Initializer of ``alpha`` (default ``"zeros"``, as TF.js).
        alpha_regularizer: Penalty on ``alpha``.
        alpha_constraint: Constraint projected onto ``alpha`` after each update.
        shared_axes: An axis (>= 1) or a list of axes along which ``alpha`` is shared.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: A shared axis below 1; at build, a shared axis beyond the input's rank
            or an unknown size on a non-shared axis.

    Example:

    >>> p = layers.prelu(alpha_initializer="ones", shared_axes=[1])
    >>> p(tw.tensor([[[-2.0, 1.0], [3.0, -4.0]]])).tolist(), p.get_weights()[0].shape
    ([[[-2.0, 1.0], [3.0, -4.0]]], (1, 2))
    """

    min_ndim = 2
    supports_masking = True

    def __init__(
        self,
        alpha_initializer: Any = "zeros",
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: int | Sequence[int] | None = None,
        **kwargs: Any,
    ):
        if shared_axes is None:
            axes = None
        elif isinstance(shared_axes, numbers.Number):
            axes = [as_int(shared_axes, "PReLU: shared_axes", minimum=1)]
        elif isinstance(shared_axes, (list, tuple)):
            axes = [as_int(a, f"PReLU: shared_axes {shared_axes!r} entry", 1) for a in shared_axes]
        else:
            raise TypeError(
                f"PReLU: shared_axes must be an int or a list of ints, got {shared_axes!r}"
            )
        init = _initializers.get(alpha_initializer)
        reg = _regularizers.get(alpha_regularizer)
        con = _constraints.get(alpha_constraint)
        super().__init__(**kwargs)
        self.alpha_initializer = init
        self.alpha_regularizer = reg
        self.alpha_constraint = con
        self.shared_axes = axes
        self.alpha = None

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        rank = len(tuple(input_shape))
        for a in self.shared_axes or ():
            if a >= rank:
                raise ValueError(
                    f"PReLU {self.name!r}: shared_axes entry {a} is beyond the input's axes "
                    f"1..{rank - 1} (shape {tuple(input_shape)})"
                )

    def build(self, input_shape):
        shape = list(tuple(input_shape)[1:])
        for a in self.shared_axes or ():
            shape[a - 1] = 1
        if any(s is None for s in shape):
            raise ValueError(
                f"PReLU {self.name!r}: every non-shared input axis needs a known size, got "
                f"shape {tuple(input_shape)} with shared_axes {self.shared_axes}"
            )
        self.alpha = self.add_weight(
            "alpha",
            shape,
            self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )
        self.ndim = len(tuple(input_shape))
        shared = set(self.shared_axes or ())
        self._input_axes = {
            i: tuple(input_shape)[i] for i in range(1, self.ndim) if i not in shared
        }
        self.built = True

    def call(self, inputs, training=False):
        return tw.prelu(inputs, self.alpha)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": _initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": _regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": _constraints.serialize(self.alpha_constraint),
            "shared_axes": None if self.shared_axes is None else list(self.shared_axes),
        }


class ELU(Layer):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)`` (TF.js
    ``tf.layers.elu``).

    TF.js 4.x refuses any ``alpha`` but 1.0 (NotImplementedError); here any finite
    ``alpha`` >= 0 works, as in Keras.

    Args:
        alpha: The scale of the negative part (default 1.0).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``alpha`` negative, NaN or infinite (``TypeError`` for a non-number).

    Example:

    >>> layers.elu()(tw.tensor([[0.0, 2.0]])).tolist()
    [[0.0, 2.0]]
    """

    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any):
        alpha = as_float(alpha, "ELU: alpha", minimum=0.0)
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs, training=False):
        return tw.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class ThresholdedReLU(Layer):
    """``x`` where ``x > theta``, else 0 (TF.js ``tf.layers.thresholdedReLU``).

    Its input gradient is 1 where ``x > theta`` and 0 elsewhere; TF.js 4.x cannot train through
    this layer ("gradient function not found for Greater").

    Args:
        theta: The threshold (default 1.0), a number >= 0.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``theta`` negative, NaN or infinite (``TypeError`` for a non-number).

    Example:

    >>> layers.thresholded_relu(theta=1.0)(tw.tensor([[0.5, 1.0, 2.0]])).tolist()
    [[0.0, 0.0, 2.0]]
    """

    supports_masking = True

    def __init__(self, theta: float = 1.0, **kwargs: Any):
        theta = as_float(theta, "ThresholdedReLU: theta", minimum=0.0)
        super().__init__(**kwargs)
        self.theta = theta

    def call(self, inputs, training=False):
        x = inputs if inputs.dtype == "float32" else tw.cast(inputs, "float32")
        return tw.mul(x, tw.cast(tw.greater(x, self.theta), "float32"))

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}


class Softmax(Layer):
    """Softmax along ``axis``: ``exp(x) / sum(exp(x))`` (TF.js ``tf.layers.softmax``).

    ``axis`` may be a list of axes: the normalisation then runs over all of them together
    (``exp(x - logsumexp(x, axes))``). The default is the last axis, as Keras and TF.js's
    documentation say (TF.js 4.x's code uses axis 1 when none is given, the same for rank-2
    inputs; saved configs always carry the axis, so loading is unaffected). Any single axis
    works here; TF.js 4.x's softmax refuses one that is not the last ("Softmax along a
    non-last dimension is not yet supported").

    Args:
        axis: An axis or a list of axes (negative counts from the end).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: At call time, an axis outside the input's rank (``TypeError`` for a
            non-integer axis).

    Example:

    >>> layers.softmax()(tw.tensor([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """

    supports_masking = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any):
        if isinstance(axis, (list, tuple)):
            if not axis:
                raise ValueError("Softmax: axis must be an int or a non-empty list, got []")
            ax: int | list[int] = [as_int(a, f"Softmax: axis {axis!r} entry") for a in axis]
        else:
            ax = as_int(axis, "Softmax: axis")
        super().__init__(**kwargs)
        self.axis = ax

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        if isinstance(input_shape, list):
            return
        rank = len(tuple(input_shape))
        for a in self.axis if isinstance(self.axis, list) else [self.axis]:
            if not -rank <= a < rank:
                raise ValueError(
                    f"Softmax {self.name!r}: axis {a} is out of range for an input of rank "
                    f"{rank} (shape {tuple(input_shape)})"
                )

    def call(self, inputs, training=False):
        x = inputs if inputs.dtype == "float32" else tw.cast(inputs, "float32")
        if isinstance(self.axis, list):
            if len(self.axis) == 1:
                return tw.softmax(x, self.axis[0])
            return tw.exp(tw.sub(x, tw.logsumexp(x, self.axis, keepdims=True)))
        return tw.softmax(x, self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
