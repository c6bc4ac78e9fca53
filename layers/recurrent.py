"""Recurrent layers with TF.js formulas and defaults: SimpleRNN, LSTM (gates i, f, c, o), GRU
(gates z, r, h; reset before the recurrent product), plus the Bidirectional and TimeDistributed
wrappers.

Defaults as TF.js: kernel glorotNormal, recurrent kernel orthogonal, bias zeros, recurrent
activation hardSigmoid. The input projection of every step is one matmul over the whole sequence.
"""

from __future__ import annotations

from typing import Any

import engine as tw
from engine import Tensor
from engine.dtypes import as_int
from layers import activations as _activations
from layers import constraints as _constraints
from layers import initializers as _initializers
from layers import regularizers as _regularizers
from layers.base import Layer, deserialize_layer, serialize_layer


class _ForgetBias(_initializers.Initializer):
    """LSTM bias: the base initialiser everywhere except ones for the forget gate."""

    class_name = "Zeros"

    def __init__(self, base: _initializers.Initializer, units: int):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return tw.concat(
            [self.base((u,), dtype), tw.ones((u,), dtype), self.base((2 * u,), dtype)], 0
        )


class _RNN(Layer):
    """Shared machinery: weights, dropout masks, masking, direction, returned values."""

    gates = 1
    n_states = 1
    ndim = 3
    default_recurrent_activation: str | None = None

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorotNormal",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        implementation: int | None = None,
        **kwargs: Any,
    ):
        units = as_int(units, f"{type(self).__name__}: units", minimum=1)
        if stateful:
            raise ValueError(f"{type(self).__name__}: stateful=True is not supported")
        super().__init__(**kwargs)
        self.units = units
        self.activation = _activations.get(activation)
        rec = (
            recurrent_activation
            if recurrent_activation is not None
            else self.default_recurrent_activation
        )
        self.recurrent_activation = _activations.get(rec) if rec is not None else None
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.recurrent_initializer = _initializers.get(recurrent_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = _regularizers.get(recurrent_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.recurrent_constraint = _constraints.get(recurrent_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)
        self.implementation = implementation
        self.kernel = self.recurrent_kernel = self.bias = None

    def __call__(
        self, inputs: Any, training: bool | None = None, initial_state: Any = None, **kwargs: Any
    ) -> Any:
        """Call on a sequence; ``initial_state`` (a list of (batch, units) tensors) overrides zeros."""
        if initial_state is not None:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            inputs = [inputs, *states]
        return super().__call__(inputs, training, **kwargs)

    apply = __call__

    # --- shapes -------------------------------------------------------------------------------------
    def _split(self, input_shape):
        """(sequence shape, [initial state shapes]) from a single shape or a list."""
        if isinstance(input_shape, list):
            return tuple(input_shape[0]), [tuple(s) for s in input_shape[1:]]
        return tuple(input_shape), []

    def check_input_shape(self, input_shape):
        seq, states = self._split(input_shape)
        if len(seq) != 3:
            raise self._bad_input(seq, "rank 3 (batch, timesteps, features)")
        if self.built and seq[-1] is not None and seq[-1] != self.kernel.shape[0]:
            raise self._bad_input(seq, f"{self.kernel.shape[0]} features on the last axis")
        if states and len(states) != self.n_states:
            raise ValueError(
                f"layer {self.name!r} ({self.class_name}) takes {self.n_states} initial state(s), got {len(states)}"
            )
        for s in states:
            if len(s) != 2 or (s[1] is not None and s[1] != self.units):
                raise ValueError(
                    f"layer {self.name!r}: initial states must have shape (batch, {self.units}), got {s}"
                )

    def build(self, input_shape):
        seq, _ = self._split(input_shape)
        f = seq[-1]
        if f is None:
            raise ValueError(
                f"{self.class_name} {self.name!r}: the feature dimension must be known, got shape {seq}"
            )
        g = self.gates * self.units
        self.kernel = self.add_weight(
            "kernel",
            (f, g),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            (self.units, g),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (g,),
                self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    def _bias_initializer(self):
        return self.bias_initializer

    def compute_output_shape(self, input_shape):
        seq, _ = self._split(input_shape)
        out = (seq[0], seq[1], self.units) if self.return_sequences else (seq[0], self.units)
        if self.return_state:
            return [out] + [(seq[0], self.units)] * self.n_states
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        if self.return_sequences and mask is not None:
            out = tw.reverse(mask, 1) if self.go_backwards else mask
            return [out] + [None] * self.n_states if self.return_state else out
        return [None] * (1 + self.n_states) if self.return_state else None

    # --- computing ----------------------------------------------------------------------------------
    def step(
        self, xw: Tensor, states: list[Tensor], rmask: Tensor | None
    ) -> tuple[Tensor, list[Tensor]]:
        raise NotImplementedError

    def call(self, inputs, training=False, mask=None):
        if isinstance(inputs, list):
            x, init = inputs[0], list(inputs[1:])
        else:
            x, init = inputs, []
        if isinstance(mask, list):
            mask = mask[0]
        b, t, f = x.shape
        if x.dtype != "float32":
            x = tw.cast(x, "float32")
        if training and 0 < self.dropout < 1:
            x = tw.mul(x, tw.reshape(tw.dropout(tw.ones((b, f)), self.dropout), (b, 1, f)))
        rmask = None
        if training and 0 < self.recurrent_dropout < 1:
            rmask = tw.dropout(tw.ones((b, self.units)), self.recurrent_dropout)
        xw = tw.reshape(
            tw.matmul(tw.reshape(x, (b * t, f)), self.kernel), (b, t, self.gates * self.units)
        )
        if self.use_bias and self._bias_in_input:
            xw = tw.add(xw, self.bias)
        states = init if init else [tw.zeros((b, self.units)) for _ in range(self.n_states)]
        order = range(t - 1, -1, -1) if self.go_backwards else range(t)
        steps = tw.unstack(xw, 1)
        masks = tw.unstack(tw.cast(mask, "bool"), 1) if mask is not None else None
        outputs: list[Tensor] = []
        prev_out = tw.zeros((b, self.units))
        for i in order:
            out, new_states = self.step(steps[i], states, rmask)
            if masks is not None:
                m = tw.reshape(masks[i], (b, 1))
                out = tw.where(m, out, prev_out)
                new_states = [tw.where(m, ns, s) for ns, s in zip(new_states, states, strict=False)]
            states, prev_out = new_states, out
            if self.return_sequences:
                outputs.append(out)
        result = tw.stack(outputs, 1) if self.return_sequences else prev_out
        if self.return_state:
            return [result] + list(states)
        return result

    _bias_in_input = True

    def get_config(self):
        config = {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": _initializers.serialize(self.recurrent_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": _regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": _constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": _constraints.serialize(self.recurrent_constraint),
            "bias_constraint": _constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
        }
        if self.recurrent_activation is not None:
            config["recurrent_activation"] = self.recurrent_activation.name
        if self.implementation is not None:
            config["implementation"] = self.implementation
        return config


class SimpleRNN(_RNN):
    """A fully connected RNN, ``h = activation(x @ kernel + h @ recurrent_kernel + bias)`` (TF.js
    ``tf.layers.simpleRNN``).

    Call it on ``(batch, steps, features)``; ``initial_state=[...]`` (``(batch, units)``
    tensors) replaces the zero initial states, and an ``Embedding(mask_zero=True)`` mask skips
    padded steps.

    Args:
        units: The size of the state and output.
        activation: The activation of the output/candidate (default ``"tanh"``).
        recurrent_activation: The gates' activation (``None``: the layer's default).
        use_bias: Whether to add biases.
        kernel_initializer: Initializer for the input kernel.
        recurrent_initializer: Initializer for the recurrent kernel (default ``"orthogonal"``).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the input kernel.
        recurrent_regularizer: Penalty on the recurrent kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the output.
        kernel_constraint: Constraint on the input kernel.
        recurrent_constraint: Constraint on the recurrent kernel.
        bias_constraint: Constraint on the bias.
        dropout: Fraction of the inputs dropped in training (clipped to ``[0, 1]``).
        recurrent_dropout: Fraction of the recurrent state dropped in training.
        return_sequences: Return every step's output ``(batch, steps, units)`` instead of the
            last ``(batch, units)``.
        return_state: Also return the final states (a list ``[output, *states]``).
        go_backwards: Process the sequence in reverse.
        stateful: Must be ``False`` (stateful RNNs are not supported; ``True`` raises
            ``ValueError``).
        unroll: Accepted for Keras/TF.js configs; the loop is the same either way.
        implementation: Accepted for Keras configs; ignored.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``stateful=True``.

    Example:

    >>> layers.simple_rnn(units=4)(tw.ones([2, 5, 3])).shape
    (2, 4)
    """

    gates, n_states = 1, 1

    def __init__(self, units: int, **kwargs: Any):
        if kwargs.get("recurrent_activation") is not None:
            raise TypeError("SimpleRNN has no recurrent_activation argument")
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, **kwargs)

    def step(self, xw, states, rmask):
        h = states[0] if rmask is None else tw.mul(states[0], rmask)
        out = self.activation(tw.add(xw, tw.matmul(h, self.recurrent_kernel)))
        return out, [out]


class LSTM(_RNN):
    """Long short-term memory; states ``[h, c]``; gate order i, f, c, o as TF.js (TF.js
    ``tf.layers.lstm``).

    Call it on ``(batch, steps, features)``; ``initial_state=[...]`` (``(batch, units)``
    tensors) replaces the zero initial states, and an ``Embedding(mask_zero=True)`` mask skips
    padded steps.
    The gates' default activation is ``"hard_sigmoid"``, as TF.js.

    Args:
        units: The size of the state and output.
        unit_forget_bias: Initialise the forget gate's bias to ones (off by default, as
            tfjs-layers; Keras turns it on).
        activation: The activation of the output/candidate (default ``"tanh"``).
        recurrent_activation: The gates' activation (``None``: the layer's default).
        use_bias: Whether to add biases.
        kernel_initializer: Initializer for the input kernel.
        recurrent_initializer: Initializer for the recurrent kernel (default ``"orthogonal"``).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the input kernel.
        recurrent_regularizer: Penalty on the recurrent kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the output.
        kernel_constraint: Constraint on the input kernel.
        recurrent_constraint: Constraint on the recurrent kernel.
        bias_constraint: Constraint on the bias.
        dropout: Fraction of the inputs dropped in training (clipped to ``[0, 1]``).
        recurrent_dropout: Fraction of the recurrent state dropped in training.
        return_sequences: Return every step's output ``(batch, steps, units)`` instead of the
            last ``(batch, units)``.
        return_state: Also return the final states (a list ``[output, *states]``).
        go_backwards: Process the sequence in reverse.
        stateful: Must be ``False`` (stateful RNNs are not supported; ``True`` raises
            ``ValueError``).
        unroll: Accepted for Keras/TF.js configs; the loop is the same either way.
        implementation: Accepted for Keras configs; ignored.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``stateful=True``.

    Example:

    >>> out, h, c = layers.lstm(units=4, return_state=True)(tw.ones([2, 5, 3]))
    >>> out.shape, h.shape, c.shape
    ((2, 4), (2, 4), (2, 4))
    """

    gates, n_states = 4, 2
    default_recurrent_activation = "hard_sigmoid"

    def __init__(self, units: int, unit_forget_bias: bool = False, **kwargs: Any):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        return (
            _ForgetBias(self.bias_initializer, self.units)
            if self.unit_forget_bias
            else self.bias_initializer
        )

    def step(self, xw, states, rmask):
        h, c = states
        if rmask is not None:
            h = tw.mul(h, rmask)
        z = tw.add(xw, tw.matmul(h, self.recurrent_kernel))
        z0, z1, z2, z3 = tw.split(z, 4, 1)
        i = self.recurrent_activation(z0)
        f = self.recurrent_activation(z1)
        c = tw.add(tw.mul(f, c), tw.mul(i, self.activation(z2)))
        o = self.recurrent_activation(z3)
        h = tw.mul(o, self.activation(c))
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit; gate order z, r, h; ``h = z*h_prev + (1-z)*hh`` (TF.js ``tf.layers.gru``,
    ``reset_after=False``).

    Call it on ``(batch, steps, features)``; ``initial_state=[...]`` (``(batch, units)``
    tensors) replaces the zero initial states, and an ``Embedding(mask_zero=True)`` mask skips
    padded steps.
    The gates' default activation is ``"hard_sigmoid"``, as TF.js.

    Args:
        units: The size of the state and output.
        reset_after: Must be ``False``: the reset-after variant (Keras 2 / CuDNN) is not
            supported, as in TF.js.
        activation: The activation of the output/candidate (default ``"tanh"``).
        recurrent_activation: The gates' activation (``None``: the layer's default).
        use_bias: Whether to add biases.
        kernel_initializer: Initializer for the input kernel.
        recurrent_initializer: Initializer for the recurrent kernel (default ``"orthogonal"``).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the input kernel.
        recurrent_regularizer: Penalty on the recurrent kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the output.
        kernel_constraint: Constraint on the input kernel.
        recurrent_constraint: Constraint on the recurrent kernel.
        bias_constraint: Constraint on the bias.
        dropout: Fraction of the inputs dropped in training (clipped to ``[0, 1]``).
        recurrent_dropout: Fraction of the recurrent state dropped in training.
        return_sequences: Return every step's output ``(batch, steps, units)`` instead of the
            last ``(batch, units)``.
        return_state: Also return the final states (a list ``[output, *states]``).
        go_backwards: Process the sequence in reverse.
        stateful: Must be ``False`` (stateful RNNs are not supported; ``True`` raises
            ``ValueError``).
        unroll: Accepted for Keras/TF.js configs; the loop is the same either way.
        implementation: Accepted for Keras configs; ignored.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``stateful=True`` or ``reset_after=True``.

    Example:

    >>> layers.gru(units=4, return_sequences=True)(tw.ones([2, 5, 3])).shape
    (2, 5, 4)
    """

    gates, n_states = 3, 1
    default_recurrent_activation = "hard_sigmoid"

    def __init__(self, units: int, reset_after: bool = False, **kwargs: Any):
        if reset_after:
            raise ValueError(
                "GRU: reset_after=True is not supported (as TF.js); use reset_after=False"
            )
        super().__init__(units, **kwargs)

    def step(self, xw, states, rmask):
        h_prev = states[0]
        h = h_prev if rmask is None else tw.mul(h_prev, rmask)
        u = self.units
        rk1 = tw.slice(self.recurrent_kernel, (0, 0), (u, 2 * u))
        rk2 = tw.slice(self.recurrent_kernel, (0, 2 * u), (u, u))
        x_z, x_r, x_h = tw.split(xw, 3, 1)
        r_z, r_r = tw.split(tw.matmul(h, rk1), 2, 1)
        z = self.recurrent_activation(tw.add(x_z, r_z))
        r = self.recurrent_activation(tw.add(x_r, r_r))
        hh = self.activation(tw.add(x_h, tw.matmul(tw.mul(r, h), rk2)))
        out = tw.add(tw.mul(z, h_prev), tw.mul(tw.sub(1.0, z), hh))
        return out, [out]

    def get_config(self):
        return {**super().get_config(), "reset_after": False}


class _Wrapper(Layer):
    def __init__(self, layer: Any, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = deserialize_layer(layer)
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.class_name} wraps a layer, got {type(layer).__name__}")
        self.layer = layer
        self._sublayers = [layer]

    def get_config(self):
        return {**super().get_config(), "layer": serialize_layer(self.layer)}


class TimeDistributed(_Wrapper):
    """Apply ``layer`` to every time step of ``(batch, timesteps, ...)`` (TF.js
    ``tf.layers.timeDistributed``).

    Args:
        layer: The layer to apply (one set of weights shared by all steps).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> td = layers.time_distributed(layer=layers.dense(units=2))
    >>> td(tw.ones([4, 10, 3])).shape
    (4, 10, 2)
    """

    min_ndim = 3
    supports_masking = True

    def _inner(self, input_shape):
        return (
            None
            if input_shape[0] is None or input_shape[1] is None
            else input_shape[0] * input_shape[1],
        ) + tuple(input_shape[2:])

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        self.layer.check_input_shape(self._inner(tuple(input_shape)))

    def build(self, input_shape):
        self.layer._maybe_build((None,) + tuple(input_shape[2:]))
        self.built = True

    def call(self, inputs, training=False):
        b, t = inputs.shape[:2]
        y = self.layer._call_eager(tw.reshape(inputs, (b * t,) + inputs.shape[2:]), training)
        return tw.reshape(y, (b, t) + y.shape[1:])

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])


class Bidirectional(_Wrapper):
    """Run a recurrent layer forwards and a copy backwards and merge the results (TF.js
    ``tf.layers.bidirectional``).

    Args:
        layer: The recurrent layer (``SimpleRNN``, ``GRU``, ``LSTM``).
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"``, or ``None`` for a
            list ``[forward, backward]``.
        backward_layer: The backward layer; default a copy of ``layer`` with ``go_backwards``
            flipped.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: An unknown ``merge_mode``.

    Example:

    >>> bi = layers.bidirectional(layer=layers.lstm(units=4))
    >>> bi(tw.ones([2, 5, 3])).shape
    (2, 8)
    """

    ndim = 3

    def __init__(
        self,
        layer: Any,
        merge_mode: str | None = "concat",
        backward_layer: Any = None,
        **kwargs: Any,
    ):
        super().__init__(layer, **kwargs)
        if not isinstance(self.layer, _RNN):
            raise TypeError(
                f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), got {self.layer.class_name}"
            )
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(
                f"Bidirectional: merge_mode must be 'concat', 'sum', 'mul', 'ave' or None, got {merge_mode!r}"
            )
        self.merge_mode = merge_mode
        self.forward_layer = self.layer
        if backward_layer is None:
            config = self.layer.get_config()
            config["name"] = "backward_" + self.layer.name
            config["go_backwards"] = not config.get("go_backwards", False)
            config.pop("batch_input_shape", None)
            backward_layer = type(self.layer).from_config(config)
        elif isinstance(backward_layer, dict):
            backward_layer = deserialize_layer(backward_layer)
        self.backward_layer = backward_layer
        self._sublayers = [self.forward_layer, self.backward_layer]
        self.return_sequences = self.layer.return_sequences
        self.return_state = self.layer.return_state

    def check_input_shape(self, input_shape):
        self.forward_layer.check_input_shape(input_shape)

    def build(self, input_shape):
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        self.built = True

    def _merge(self, a, b):
        if self.merge_mode == "concat":
            return tw.concat([a, b], -1)
        if self.merge_mode == "sum":
            return tw.add(a, b)
        if self.merge_mode == "mul":
            return tw.mul(a, b)
        if self.merge_mode == "ave":
            return tw.mul(tw.add(a, b), 0.5)
        return [a, b]

    def call(self, inputs, training=False, mask=None):
        fw = self.forward_layer._call_eager(inputs, training, mask)
        bw = self.backward_layer._call_eager(inputs, training, mask)
        fw_states, bw_states = [], []
        if self.return_state:
            fw, fw_states = fw[0], fw[1:]
            bw, bw_states = bw[0], bw[1:]
        if self.return_sequences:
            bw = tw.reverse(bw, 1)
        out = self._merge(fw, bw)
        out = out if isinstance(out, list) else [out]
        if self.return_state:
            return out + list(fw_states) + list(bw_states)
        return out if len(out) > 1 else out[0]

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], shape[1:]
        if self.merge_mode == "concat":
            out = [tuple(shape[:-1]) + (shape[-1] * 2,)]
        elif self.merge_mode is None:
            out = [tuple(shape), tuple(shape)]
        else:
            out = [tuple(shape)]
        if self.return_state:
            return out + list(states) * 2
        return out if len(out) > 1 else out[0]

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode}
