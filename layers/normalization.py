"""BatchNormalization (TF.js defaults: momentum 0.99, epsilon 1e-3) and LayerNormalization."""

from __future__ import annotations

from typing import Any

import engine as tw
from layers import constraints as _constraints
from layers import initializers as _initializers
from layers import regularizers as _regularizers
from layers.base import Layer


def _axes(axis: Any, rank: int, name: str) -> tuple[int, ...]:
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for a in axes:
        a = int(a)
        if not -rank <= a < rank or a % rank == 0:
            raise ValueError(
                f"{name}: axis {a} is out of range for inputs of rank {rank} (the batch axis 0 is not allowed)"
            )
        out.append(a % rank)
    return tuple(sorted(out))


class _Norm(Layer):
    def __init__(
        self,
        axis: Any = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)
        self.gamma = self.beta = None
        self.min_ndim = 2

    def _build_params(self, input_shape) -> tuple[tuple, tuple]:
        rank = len(input_shape)
        self._norm_axes = _axes(self.axis, rank, self.class_name)
        shape = tuple(input_shape[a] for a in self._norm_axes)
        if any(s is None for s in shape):
            raise ValueError(
                f"{self.class_name} {self.name!r}: axis {self.axis} of input shape {input_shape} must be known"
            )
        self._input_axes = {a: input_shape[a] for a in self._norm_axes}
        self._rank = rank
        self._bshape = tuple(input_shape[a] if a in self._norm_axes else 1 for a in range(rank))
        if self.scale:
            self.gamma = self.add_weight(
                "gamma",
                shape,
                self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
            )
        if self.center:
            self.beta = self.add_weight(
                "beta",
                shape,
                self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
            )
        return shape, self._bshape

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        if self.built and len(input_shape) != self._rank:
            raise self._bad_input(tuple(input_shape), f"rank {self._rank}")

    def _b(self, t):
        return None if t is None else tw.reshape(t, self._bshape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": _initializers.serialize(self.beta_initializer),
            "gamma_initializer": _initializers.serialize(self.gamma_initializer),
            "beta_regularizer": _regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": _regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": _constraints.serialize(self.beta_constraint),
            "gamma_constraint": _constraints.serialize(self.gamma_constraint),
        }


class BatchNormalization(_Norm):
    """Batch normalization (TF.js ``tf.layers.batchNormalization``).

    Normalises with batch statistics in training (updating the moving statistics by
    ``moving = moving - (moving - batch) * (1 - momentum)``) and with the moving statistics in
    inference.

    Args:
        axis: The feature axis (or axes) that keep their own statistics (the last by default;
            not 0).
        momentum: The moving statistics' momentum.
        epsilon: Added to the variance.
        center: Learn an offset ``beta``.
        scale: Learn a scale ``gamma``.
        beta_initializer: Initializer for ``beta``.
        gamma_initializer: Initializer for ``gamma``.
        moving_mean_initializer: Initializer for the moving mean.
        moving_variance_initializer: Initializer for the moving variance.
        beta_regularizer: Penalty on ``beta``.
        gamma_regularizer: Penalty on ``gamma``.
        beta_constraint: Constraint on ``beta``.
        gamma_constraint: Constraint on ``gamma``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: An axis out of range or of unknown size.

    Example:

    >>> bn = layers.batch_normalization()
    >>> bn(tw.tensor([[1.0, 2.0], [3.0, 4.0]])).shape  # inference: moving statistics
    (2, 2)
    """

    def __init__(
        self,
        axis: Any = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ):
        super().__init__(
            axis,
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        self.momentum = float(momentum)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        shape, _ = self._build_params(input_shape)
        self.moving_mean = self.add_weight(
            "moving_mean", shape, self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", shape, self.moving_variance_initializer, trainable=False
        )
        self.built = True

    def call(self, inputs, training=False):
        x = inputs
        if training:
            red = tuple(a for a in range(x.rank) if a not in self._norm_axes)
            mean, var = tw.moments(x, red, keepdims=True)
            decay = 1.0 - self.momentum
            m_new, v_new = (
                tw.reshape(tw.stop_gradient(mean), self.moving_mean.shape),
                tw.reshape(tw.stop_gradient(var), self.moving_variance.shape),
            )
            self.moving_mean.assign(
                tw.sub(self.moving_mean, tw.mul(tw.sub(self.moving_mean, m_new), decay))
            )
            self.moving_variance.assign(
                tw.sub(self.moving_variance, tw.mul(tw.sub(self.moving_variance, v_new), decay))
            )
        else:
            mean, var = self._b(self.moving_mean), self._b(self.moving_variance)
        return tw.batch_norm(x, mean, var, self._b(self.beta), self._b(self.gamma), self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update(
            momentum=self.momentum,
            moving_mean_initializer=_initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=_initializers.serialize(self.moving_variance_initializer),
        )
        return config


class LayerNormalization(_Norm):
    """Normalise each sample over ``axis``, then scale and shift (TF.js
    ``tf.layers.layerNormalization``).

    Args:
        axis: The axis or axes to normalise over (the last by default; not 0).
        epsilon: Added to the variance.
        center: Learn an offset ``beta``.
        scale: Learn a scale ``gamma``.
        beta_initializer: Initializer for ``beta``.
        gamma_initializer: Initializer for ``gamma``.
        beta_regularizer: Penalty on ``beta``.
        gamma_regularizer: Penalty on ``gamma``.
        beta_constraint: Constraint on ``beta``.
        gamma_constraint: Constraint on ``gamma``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: An axis out of range or of unknown size.

    Example:

    >>> ln = layers.layer_normalization()
    >>> [round(v, 3) for v in ln(tw.tensor([[1.0, 3.0]])).numpy()[0].tolist()]
    [-1.0, 1.0]
    """

    def build(self, input_shape):
        self._build_params(input_shape)
        self.built = True

    def call(self, inputs, training=False):
        mean, var = tw.moments(inputs, self._norm_axes, keepdims=True)
        return tw.batch_norm(
            inputs, mean, var, self._b(self.beta), self._b(self.gamma), self.epsilon
        )
