"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, Embedding,
GaussianNoise, AlphaDropout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import engine as tw
from engine import Tensor
from engine.dtypes import as_int
from layers import activations as _activations
from layers import constraints as _constraints
from layers import initializers as _initializers
from layers import regularizers as _regularizers
from layers.base import Layer
from layers.utils import prod

#: Activation functions ``tw.fused_matmul`` applies itself, by the name it takes.
_FUSABLE = {
    _activations.linear.fn: "linear",
    tw.relu: "relu",
    tw.relu6: "relu6",
    tw.elu: "elu",
    tw.sigmoid: "sigmoid",
    tw.tanh: "tanh",
}


def _conf_init(x) -> dict:
    return _initializers.serialize(x)


class Dense(Layer):
    """A densely connected layer: ``activation(x @ kernel + bias)`` (TF.js ``tf.layers.dense``).

    Acts on the last axis: an input ``(batch, ..., in)`` gives ``(batch, ..., units)``; the
    kernel has shape ``(in, units)``.

    Args:
        units: Output size (positive int).
        activation: An activation name (``"relu"``, ``"softmax"``, ...) or callable; ``None``
            is linear.
        use_bias: Whether to add a bias vector.
        kernel_initializer: Initializer for the kernel (default ``"glorotNormal"``, as TF.js).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the kernel (``"l2"``, ``layers.regularizers.l2(...)``).
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the layer's output.
        kernel_constraint: Constraint projected onto the kernel after each update.
        bias_constraint: Constraint projected onto the bias after each update.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``units`` is not a positive int; ``TypeError`` for unknown arguments.

    Example:

    >>> d = layers.dense(units=4, activation="relu", input_shape=[3])
    >>> model = layers.sequential([d])
    >>> model.predict(tw.ones([2, 3])).shape, d.get_weights()[0].shape
    ((2, 4), (3, 4))
    """

    min_ndim = 2
    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorotNormal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        units = as_int(units, "Dense: units", minimum=1)
        super().__init__(**kwargs)
        self.units = units
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.kernel = self.bias = None

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Dense {self.name!r}: the last input dimension must be known, got shape {input_shape}"
            )
        self.kernel = self.add_weight(
            "kernel",
            (in_dim, self.units),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (self.units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self._input_axes = {-1: in_dim}
        self.built = True

    def call(self, inputs, training=False):
        x = inputs
        if x.dtype not in ("float32", "float16"):  # float16: a mixed_float16 policy
            x = tw.cast(x, "float32")
        if x.rank == 2:
            # One fused matmul + bias + activation where the activation is one it knows.
            act = _FUSABLE.get(self.activation.fn)
            out = tw.fused_matmul(x, self.kernel, self.bias if self.use_bias else None, act)
            return out if act is not None else self.activation(out)
        lead = x.shape[:-1]
        out = tw.reshape(
            tw.matmul(tw.reshape(x, (-1, x.shape[-1])), self.kernel), lead + (self.units,)
        )
        if self.use_bias:
            out = tw.add(out, self.bias)
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": _conf_init(self.kernel_initializer),
            "bias_initializer": _conf_init(self.bias_initializer),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": _constraints.serialize(self.kernel_constraint),
            "bias_constraint": _constraints.serialize(self.bias_constraint),
        }


class Activation(Layer):
    """Apply an activation function to the input (TF.js ``tf.layers.activation``).

    Args:
        activation: A name (``"relu"``, ``"softmax"``, ``"tanh"``, ...) or a callable.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: An unknown activation name.

    Example:

    >>> layers.activation(activation="relu")(tw.tensor([[-1.0, 2.0]])).tolist()
    [[0.0, 2.0]]
    """

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation)

    def call(self, inputs, training=False):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


class Dropout(Layer):
    """During training, zero a fraction ``rate`` of the inputs and scale the rest by 1/(1-rate).

    TF.js ``tf.layers.dropout``; inference passes the input through.

    Args:
        rate: The drop probability, in ``[0, 1)``.
        noise_shape: The mask's shape, broadcast against the input (``None`` entries take the
            input's size).
        seed: A seed for the masks (default the global sequence).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``rate`` outside ``[0, 1)``.

    Example:

    >>> d = layers.dropout(rate=0.5)
    >>> d(tw.ones([2, 3])).tolist()  # inference: unchanged
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not 0 <= float(rate) < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self.seed = seed

    def _noise_shape(self, x: Tensor):
        if self.noise_shape is None:
            return None
        return tuple(
            d if n is None else int(n) for n, d in zip(self.noise_shape, x.shape, strict=False)
        )

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return tw.dropout(inputs, self.rate, self._noise_shape(inputs), self.seed)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }


class Flatten(Layer):
    """Collapse every non-batch dimension into one (TF.js ``tf.layers.flatten``).

    Args:
        data_format: Kept in the config for Keras/TF.js compatibility; the values are flattened
            in their stored (row-major) order either way.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.flatten()(tw.ones([2, 3, 4])).shape
    (2, 12)
    """

    min_ndim = 2

    def __init__(self, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"

    def call(self, inputs, training=False):
        if inputs.rank == 2:
            return inputs
        return tw.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if any(s is None for s in rest) else prod(rest))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape the non-batch dimensions to ``target_shape`` (TF.js ``tf.layers.reshape``).

    Args:
        target_shape: The new shape without the batch axis; one entry may be -1.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: The sizes do not match.

    Example:

    >>> layers.reshape(target_shape=[3, 2])(tw.ones([4, 6])).shape
    (4, 3, 2)
    """

    def __init__(self, target_shape: Sequence[int], **kwargs: Any):
        target = tuple(
            -1 if s is None else as_int(s, f"Reshape: target_shape {target_shape!r} entry")
            for s in target_shape
        )
        super().__init__(**kwargs)
        self.target_shape = target
        if sum(s == -1 for s in self.target_shape) > 1:
            raise ValueError(f"Reshape: at most one -1 in target_shape, got {self.target_shape}")

    def _resolve(self, rest: Sequence[int | None]) -> tuple:
        if any(s is None for s in rest):
            return tuple(None if s == -1 else s for s in self.target_shape)
        total = prod(rest)
        known = prod(s for s in self.target_shape if s != -1)
        if -1 in self.target_shape:
            if known == 0 or total % known:
                raise ValueError(
                    f"Reshape {self.name!r}: cannot reshape input of shape {tuple(rest)} ({total} values) to {self.target_shape}"
                )
            return tuple(total // known if s == -1 else s for s in self.target_shape)
        if known != total:
            raise ValueError(
                f"Reshape {self.name!r}: cannot reshape input of shape {tuple(rest)} ({total} values) to {self.target_shape}"
            )
        return self.target_shape

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        self._resolve(tuple(input_shape)[1:])

    def call(self, inputs, training=False):
        return tw.reshape(inputs, (inputs.shape[0],) + self._resolve(inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Permute the non-batch dimensions (TF.js ``tf.layers.permute``).

    Args:
        dims: A permutation of ``1..rank-1`` (1-based, as Keras: ``(2, 1)`` swaps two axes).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``dims`` is not a permutation of ``1..n``.

    Example:

    >>> layers.permute(dims=[2, 1])(tw.ones([1, 2, 3])).shape
    (1, 3, 2)
    """

    def __init__(self, dims: Sequence[int], **kwargs: Any):
        dims = tuple(as_int(d, f"Permute: dims {dims!r} entry") for d in dims)
        super().__init__(**kwargs)
        self.dims = dims
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"Permute: dims must be a permutation of 1..{len(self.dims)}, got {self.dims}"
            )
        self.ndim = len(self.dims) + 1

    def call(self, inputs, training=False):
        return tw.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """Repeat the input ``n`` times: ``(batch, features) -> (batch, n, features)``.

    Args:
        n: The number of repeats.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.repeat_vector(n=3)(tw.ones([2, 4])).shape
    (2, 3, 4)
    """

    ndim = 2

    def __init__(self, n: int, **kwargs: Any):
        n = as_int(n, "RepeatVector: n", minimum=1)
        super().__init__(**kwargs)
        self.n = n

    def call(self, inputs, training=False):
        return tw.tile(tw.expand_dims(inputs, 1), (1, self.n, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Embedding(Layer):
    """Look up rows of an ``(input_dim, output_dim)`` table for integer inputs (TF.js
    ``tf.layers.embedding``).

    Args:
        input_dim: The vocabulary size (indices in ``[0, input_dim)``).
        output_dim: The size of each vector.
        embeddings_initializer: Initializer for the table.
        embeddings_regularizer: Penalty on the table.
        activity_regularizer: Penalty on the output.
        embeddings_constraint: Constraint on the table.
        mask_zero: Index 0 is padding: emit a mask for later (recurrent) layers.
        input_length: The fixed sequence length, if any (sets ``input_shape``).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> e = layers.embedding(input_dim=10, output_dim=4)
    >>> e(tw.tensor([[1, 2, 3]], dtype="int32")).shape
    (1, 3, 4)
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "randomUniform",
        embeddings_regularizer: Any = None,
        activity_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        input_length: Any = None,
        **kwargs: Any,
    ):
        if (
            input_length is not None
            and kwargs.get("input_shape") is None
            and kwargs.get("batch_input_shape") is None
        ):
            length = (
                list(input_length) if isinstance(input_length, (list, tuple)) else [input_length]
            )
            kwargs["input_shape"] = length
        input_dim = as_int(input_dim, "Embedding: input_dim", minimum=1)
        output_dim = as_int(output_dim, "Embedding: output_dim", minimum=1)
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = _initializers.get(embeddings_initializer)
        self.embeddings_regularizer = _regularizers.get(embeddings_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.embeddings_constraint = _constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
        )
        self.built = True

    def call(self, inputs, training=False):
        idx = inputs if inputs.dtype == "int32" else tw.cast(inputs, "int32")
        return tw.gather(self.embeddings, idx, 0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return tw.not_equal(inputs, tw.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _conf_init(self.embeddings_initializer),
            "embeddings_regularizer": _regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": _constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "input_length": self.input_length,
        }


class GaussianNoise(Layer):
    """During training, add zero-mean normal noise of standard deviation ``stddev``.

    Inference passes the input through.

    Args:
        stddev: The noise's standard deviation.
        seed: A seed for the noise.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).
    """

    supports_masking = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.seed = seed

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return tw.add(inputs, tw.random_normal(inputs.shape, 0.0, self.stddev, seed=self.seed))

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class AlphaDropout(Layer):
    """Dropout that keeps the self-normalising mean and variance (for selu networks).

    Active only in training (``fit``); inference passes the input through.

    Args:
        rate: The drop probability, in ``[0, 1)``.
        noise_shape: The mask's shape, broadcast against the input.
        seed: A seed for the masks.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).
    """

    supports_masking = True
    _ALPHA = 1.6732632423543772848170429916717
    _SCALE = 1.0507009873554804934193349852946

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not 0 <= float(rate) < 1:
            raise ValueError(f"AlphaDropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self.seed = seed

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = (
            inputs.shape
            if self.noise_shape is None
            else tuple(
                d if n is None else int(n)
                for n, d in zip(self.noise_shape, inputs.shape, strict=False)
            )
        )
        alpha_p = -self._ALPHA * self._SCALE
        kept = tw.cast(
            tw.greater_equal(tw.random_uniform(shape, seed=self.seed), self.rate), "float32"
        )
        a = ((1 - self.rate) * (1 + self.rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * self.rate
        x = tw.add(tw.mul(inputs, kept), tw.mul(tw.sub(1.0, kept), alpha_p))
        return tw.add(tw.mul(x, a), b)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }
