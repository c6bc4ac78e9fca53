"""Recurrent layers with TF.js formulas and defaults: SimpleRNN, LSTM (gates i, f, c, o), GRU
(gates z, r, h; reset before the recurrent product), the generic ``RNN`` layer with its cells
(SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, or a custom cell), plus the Bidirectional and
TimeDistributed wrappers.

Defaults as TF.js: kernel glorotNormal, recurrent kernel orthogonal, bias zeros, recurrent
activation hardSigmoid. In the SimpleRNN/LSTM/GRU layers the input projection of every step is one
matmul over the whole sequence; a cell projects one step at a time (same weights, same math).

Masks (from ``Masking`` or ``Embedding(mask_zero=True)``) follow Keras/TF.js: at a masked step the
states are carried over unchanged and the output repeats the previous step's output (zeros before
the first unmasked step), so the last output is that of the last unmasked step.
"""

from __future__ import annotations

import inspect
from typing import Any

import engine as tw
from engine import Tensor
from engine.dtypes import as_int
from layers import activations as _activations
from layers import constraints as _constraints
from layers import initializers as _initializers
from layers import regularizers as _regularizers
from layers.base import Layer, deserialize_layer, serialize_layer
from layers.utils import to_snake_case


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


def _init_cell_args(
    obj: Any,
    units: Any,
    activation: Any,
    recurrent_activation: Any,
    use_bias: Any,
    kernel_initializer: Any,
    recurrent_initializer: Any,
    bias_initializer: Any,
    kernel_regularizer: Any,
    recurrent_regularizer: Any,
    bias_regularizer: Any,
    activity_regularizer: Any,
    kernel_constraint: Any,
    recurrent_constraint: Any,
    bias_constraint: Any,
    dropout: Any,
    recurrent_dropout: Any,
    implementation: Any,
) -> None:
    """Store the arguments shared by the recurrent layers and their cells on ``obj``."""
    obj.units = units
    obj.activation = _activations.get(activation)
    rec = (
        recurrent_activation
        if recurrent_activation is not None
        else obj.default_recurrent_activation
    )
    obj.recurrent_activation = _activations.get(rec) if rec is not None else None
    obj.use_bias = bool(use_bias)
    obj.kernel_initializer = _initializers.get(kernel_initializer)
    obj.recurrent_initializer = _initializers.get(recurrent_initializer)
    obj.bias_initializer = _initializers.get(bias_initializer)
    obj.kernel_regularizer = _regularizers.get(kernel_regularizer)
    obj.recurrent_regularizer = _regularizers.get(recurrent_regularizer)
    obj.bias_regularizer = _regularizers.get(bias_regularizer)
    obj.activity_regularizer = _regularizers.get(activity_regularizer)
    obj.kernel_constraint = _constraints.get(kernel_constraint)
    obj.recurrent_constraint = _constraints.get(recurrent_constraint)
    obj.bias_constraint = _constraints.get(bias_constraint)
    obj.dropout = min(1.0, max(0.0, float(dropout)))
    obj.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
    obj.implementation = implementation
    obj.kernel = obj.recurrent_kernel = obj.bias = None


def _build_weights(obj: Any, features: Any, shape: Any) -> None:
    """Create ``kernel`` (features, gates*units), ``recurrent_kernel`` and ``bias`` on ``obj``."""
    if features is None:
        raise ValueError(
            f"{obj.class_name} {obj.name!r}: the feature dimension must be known, got shape {shape}"
        )
    g = obj.gates * obj.units
    obj.kernel = obj.add_weight(
        "kernel",
        (features, g),
        obj.kernel_initializer,
        regularizer=obj.kernel_regularizer,
        constraint=obj.kernel_constraint,
    )
    obj.recurrent_kernel = obj.add_weight(
        "recurrent_kernel",
        (obj.units, g),
        obj.recurrent_initializer,
        regularizer=obj.recurrent_regularizer,
        constraint=obj.recurrent_constraint,
    )
    if obj.use_bias:
        obj.bias = obj.add_weight(
            "bias",
            (g,),
            obj._bias_initializer(),
            regularizer=obj.bias_regularizer,
            constraint=obj.bias_constraint,
        )


def _cell_config(obj: Any) -> dict:
    """The config keys shared by the recurrent layers and their cells (TF.js names, snake_case)."""
    config = {
        "units": obj.units,
        "activation": obj.activation.name,
        "use_bias": obj.use_bias,
        "kernel_initializer": _initializers.serialize(obj.kernel_initializer),
        "recurrent_initializer": _initializers.serialize(obj.recurrent_initializer),
        "bias_initializer": _initializers.serialize(obj.bias_initializer),
        "kernel_regularizer": _regularizers.serialize(obj.kernel_regularizer),
        "recurrent_regularizer": _regularizers.serialize(obj.recurrent_regularizer),
        "bias_regularizer": _regularizers.serialize(obj.bias_regularizer),
        "activity_regularizer": _regularizers.serialize(obj.activity_regularizer),
        "kernel_constraint": _constraints.serialize(obj.kernel_constraint),
        "recurrent_constraint": _constraints.serialize(obj.recurrent_constraint),
        "bias_constraint": _constraints.serialize(obj.bias_constraint),
        "dropout": obj.dropout,
        "recurrent_dropout": obj.recurrent_dropout,
    }
    if obj.recurrent_activation is not None:
        config["recurrent_activation"] = obj.recurrent_activation.name
    if obj.implementation is not None:
        config["implementation"] = obj.implementation
    return config


# --- the step math, shared by the layers (SimpleRNN, LSTM, GRU) and the cells ------------------------
# ``xw`` is the step's input projection (x @ kernel, plus the bias); ``rmask`` the recurrent dropout.
def _simple_step(obj: Any, xw: Tensor, states: list[Tensor], rmask: Tensor | None):
    h = states[0] if rmask is None else tw.mul(states[0], rmask)
    out = obj.activation(tw.add(xw, tw.matmul(h, obj.recurrent_kernel)))
    return out, [out]


def _lstm_step(obj: Any, xw: Tensor, states: list[Tensor], rmask: Tensor | None):
    h, c = states
    if rmask is not None:
        h = tw.mul(h, rmask)
    z = tw.add(xw, tw.matmul(h, obj.recurrent_kernel))
    z0, z1, z2, z3 = tw.split(z, 4, 1)
    i = obj.recurrent_activation(z0)
    f = obj.recurrent_activation(z1)
    c = tw.add(tw.mul(f, c), tw.mul(i, obj.activation(z2)))
    o = obj.recurrent_activation(z3)
    h = tw.mul(o, obj.activation(c))
    return h, [h, c]


def _gru_step(obj: Any, xw: Tensor, states: list[Tensor], rmask: Tensor | None):
    h_prev = states[0]
    h = h_prev if rmask is None else tw.mul(h_prev, rmask)
    u = obj.units
    rk1 = tw.slice(obj.recurrent_kernel, (0, 0), (u, 2 * u))
    rk2 = tw.slice(obj.recurrent_kernel, (0, 2 * u), (u, u))
    x_z, x_r, x_h = tw.split(xw, 3, 1)
    r_z, r_r = tw.split(tw.matmul(h, rk1), 2, 1)
    z = obj.recurrent_activation(tw.add(x_z, r_z))
    r = obj.recurrent_activation(tw.add(x_r, r_r))
    hh = obj.activation(tw.add(x_h, tw.matmul(tw.mul(r, h), rk2)))
    out = tw.add(tw.mul(z, h_prev), tw.mul(tw.sub(1.0, z), hh))
    return out, [out]


def _time_loop(
    step: Any,
    xs: list[Tensor],
    states: list[Tensor],
    mask: Any,
    go_backwards: bool,
    return_sequences: bool,
    out_dim: int,
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Run ``step(x_t, states) -> (output, new_states)`` over the steps ``xs``.

    Where ``mask`` (batch, steps) is false the states are carried over and the output repeats
    the previous one (zeros before the first unmasked step). Returns the last output, the
    outputs in processing order (empty unless ``return_sequences``) and the final states.
    """
    t = len(xs)
    b = xs[0].shape[0] if t else 0
    order = range(t - 1, -1, -1) if go_backwards else range(t)
    masks = tw.unstack(tw.cast(mask, "bool"), 1) if mask is not None else None
    outputs: list[Tensor] = []
    prev_out = tw.zeros((b, out_dim))
    for i in order:
        out, new_states = step(xs[i], states)
        if masks is not None:
            m = tw.reshape(masks[i], (b, 1))
            out = tw.where(m, out, prev_out)
            new_states = [tw.where(m, ns, s) for ns, s in zip(new_states, states, strict=True)]
        states, prev_out = new_states, out
        if return_sequences:
            outputs.append(out)
    return prev_out, outputs, list(states)


def _check_mask(layer: Layer, mask: Any, x: Tensor) -> Any:
    """The sequence mask of a call (the first of a list), checked against ``x``'s (batch, steps)."""
    if isinstance(mask, list):
        mask = mask[0]
    if mask is not None and tuple(mask.shape) != tuple(x.shape[:2]):
        raise ValueError(
            f"layer {layer.name!r} ({layer.class_name}): the mask must have shape (batch, steps) = "
            f"{tuple(x.shape[:2])}, got {tuple(mask.shape)}"
        )
    return mask


class _Recurrent(Layer):
    """What the recurrent layers share: ``initial_state`` in calls, split input shapes, masks."""

    ndim = 3
    supports_masking = True

    def __call__(
        self, inputs: Any, training: bool | None = None, initial_state: Any = None, **kwargs: Any
    ) -> Any:
        """Call on a sequence; ``initial_state`` (a list of (batch, size) tensors) overrides zeros."""
        if initial_state is not None:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            inputs = [inputs, *states]
        return super().__call__(inputs, training, **kwargs)

    apply = __call__

    def _split(self, input_shape):
        """(sequence shape, [initial state shapes]) from a single shape or a list."""
        if isinstance(input_shape, list):
            return tuple(input_shape[0]), [tuple(s) for s in input_shape[1:]]
        return tuple(input_shape), []

    def _n_states(self) -> int:
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        n = self._n_states()
        if self.return_sequences and mask is not None:
            out = tw.reverse(mask, 1) if self.go_backwards else mask
            return [out] + [None] * n if self.return_state else out
        return [None] * (1 + n) if self.return_state else None


class _RNN(_Recurrent):
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
        _init_cell_args(
            self,
            units,
            activation,
            recurrent_activation,
            use_bias,
            kernel_initializer,
            recurrent_initializer,
            bias_initializer,
            kernel_regularizer,
            recurrent_regularizer,
            bias_regularizer,
            activity_regularizer,
            kernel_constraint,
            recurrent_constraint,
            bias_constraint,
            dropout,
            recurrent_dropout,
            implementation,
        )
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)

    def _n_states(self) -> int:
        return self.n_states

    # --- shapes -------------------------------------------------------------------------------------
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
        _build_weights(self, seq[-1], seq)
        self.built = True

    def _bias_initializer(self):
        return self.bias_initializer

    def compute_output_shape(self, input_shape):
        seq, _ = self._split(input_shape)
        out = (seq[0], seq[1], self.units) if self.return_sequences else (seq[0], self.units)
        if self.return_state:
            return [out] + [(seq[0], self.units)] * self.n_states
        return out

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
        mask = _check_mask(self, mask, x)
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
        last, outputs, states = _time_loop(
            lambda xt, st: self.step(xt, st, rmask),
            tw.unstack(xw, 1),
            states,
            mask,
            self.go_backwards,
            self.return_sequences,
            self.units,
        )
        result = tw.stack(outputs, 1) if self.return_sequences else last
        if self.return_state:
            return [result] + list(states)
        return result

    _bias_in_input = True

    def get_config(self):
        return {
            **super().get_config(),
            **_cell_config(self),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
        }


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
        return _simple_step(self, xw, states, rmask)


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
        return _lstm_step(self, xw, states, rmask)

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
        return _gru_step(self, xw, states, rmask)

    def get_config(self):
        return {**super().get_config(), "reset_after": False}


# --- cells and the generic RNN layer ------------------------------------------------------------------
def _state_sizes(cell: Any) -> list[int]:
    """``cell.state_size`` as a list of ints (one per state)."""
    size = cell.state_size
    sizes = list(size) if isinstance(size, (list, tuple)) else [size]
    where = f"{getattr(cell, 'class_name', type(cell).__name__)}.state_size"
    return [as_int(s, where, minimum=1) for s in sizes]


def _output_size(cell: Any) -> int:
    """The size of a cell's output: ``cell.output_size`` if it has one, else its first state's."""
    size = getattr(cell, "output_size", None)
    return _state_sizes(cell)[0] if size is None else int(size)


def _check_cell(cell: Any, where: str) -> Layer:
    """``cell`` itself (a config dict deserialized) after checking it follows the cell protocol."""
    if isinstance(cell, dict):
        cell = deserialize_layer(cell)
    if not isinstance(cell, Layer) or getattr(cell, "state_size", None) is None:
        raise TypeError(
            f"{where}: a cell is a Layer with a `state_size` (an int or a list of ints) and "
            f"`call(inputs, states) -> (output, new_states)`, got {type(cell).__name__}"
        )
    _state_sizes(cell)  # raises on a bad state_size
    return cell


def _call_cell(cell: Layer, x: Tensor, states: list[Tensor], training: bool):
    """One step of ``cell``: ``(output, new_states)``, checked and with ``new_states`` a list."""
    kwargs = {}
    try:
        if "training" in inspect.signature(cell.call).parameters:
            kwargs["training"] = training
    except (TypeError, ValueError):  # a builtin or C callable: call it without training
        pass
    result = cell.call(x, list(states), **kwargs)
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise TypeError(
            f"{cell.class_name} {cell.name!r}: call(inputs, states) must return "
            f"(output, new_states), got {type(result).__name__}"
        )
    out, new = result
    new = list(new) if isinstance(new, (list, tuple)) else [new]
    if len(new) != len(states):
        raise ValueError(
            f"{cell.class_name} {cell.name!r}: call returned {len(new)} state(s), its "
            f"state_size says {len(states)}"
        )
    return out, new


def _reset_dropout_masks(cell: Any) -> None:
    """Forget a cell's per-sequence dropout masks (and those of stacked cells)."""
    if hasattr(cell, "_dropout_mask"):
        cell._dropout_mask = cell._recurrent_dropout_mask = None
    for sub in getattr(cell, "cells", []):
        _reset_dropout_masks(sub)


class _Cell(Layer):
    """Shared machinery of the built-in cells: arguments, weights, dropout masks, config."""

    gates = 1
    n_states = 1
    default_recurrent_activation: str | None = None
    _step = staticmethod(_simple_step)

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
        implementation: int | None = None,
        **kwargs: Any,
    ):
        units = as_int(units, f"{type(self).__name__}: units", minimum=1)
        super().__init__(**kwargs)
        _init_cell_args(
            self,
            units,
            activation,
            recurrent_activation,
            use_bias,
            kernel_initializer,
            recurrent_initializer,
            bias_initializer,
            kernel_regularizer,
            recurrent_regularizer,
            bias_regularizer,
            activity_regularizer,
            kernel_constraint,
            recurrent_constraint,
            bias_constraint,
            dropout,
            recurrent_dropout,
            implementation,
        )
        self._dropout_mask = self._recurrent_dropout_mask = None

    @property
    def state_size(self) -> int | list[int]:
        """The size of each state: ``units``, or ``[units, units]`` for the LSTM's ``[h, c]``."""
        return self.units if self.n_states == 1 else [self.units] * self.n_states

    @property
    def output_size(self) -> int:
        """The size of the cell's output (``units``)."""
        return self.units

    def _bias_initializer(self):
        return self.bias_initializer

    def check_input_shape(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        if len(shape) != 2:
            raise self._bad_input(shape, "rank 2 (batch, features): one step of a sequence")
        if self.built and shape[-1] is not None and shape[-1] != self.kernel.shape[0]:
            raise self._bad_input(shape, f"{self.kernel.shape[0]} features on the last axis")

    def build(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        _build_weights(self, shape[-1], shape)
        self.built = True

    def call(self, inputs: Any, states: Any = None, training: bool = False, **kwargs: Any) -> Any:
        """One step: ``(output, new_states)`` for ``inputs`` (batch, features) and ``states``.

        Called with a list ``[inputs, *states]`` and no ``states`` (TF.js ``cell.call``), it
        returns the TF.js list ``[output, *new_states]`` instead. Dropout masks are drawn once per
        sequence (the ``RNN`` layer resets them before each call).

        Args:
            inputs: One step of the sequence, (batch, features).
            states: The current states, a list of (batch, units) tensors.
            training: Apply ``dropout``/``recurrent_dropout``.
            **kwargs: Ignored (Keras passes e.g. ``mask``).

        Returns:
            ``(output, new_states)``.
        """
        tfjs_style = states is None and isinstance(inputs, (list, tuple))
        if tfjs_style:
            inputs, states = inputs[0], list(inputs[1:])
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != self.n_states:
            raise ValueError(
                f"{self.class_name} {self.name!r} takes {self.n_states} state(s), got {len(states)}"
            )
        if not self.built:
            self._maybe_build(tuple(inputs.shape))
        x = inputs if inputs.dtype == "float32" else tw.cast(inputs, "float32")
        b, f = x.shape
        if training and 0 < self.dropout < 1:
            if self._dropout_mask is None or self._dropout_mask.shape != (b, f):
                self._dropout_mask = tw.dropout(tw.ones((b, f)), self.dropout)
            x = tw.mul(x, self._dropout_mask)
        rmask = None
        if training and 0 < self.recurrent_dropout < 1:
            if self._recurrent_dropout_mask is None or self._recurrent_dropout_mask.shape != (
                b,
                self.units,
            ):
                self._recurrent_dropout_mask = tw.dropout(
                    tw.ones((b, self.units)), self.recurrent_dropout
                )
            rmask = self._recurrent_dropout_mask
        xw = tw.matmul(x, self.kernel)
        if self.use_bias:
            xw = tw.add(xw, self.bias)
        out, new_states = type(self)._step(self, xw, states, rmask)
        return [out, *new_states] if tfjs_style else (out, new_states)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        return (shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), **_cell_config(self)}


class SimpleRNNCell(_Cell):
    """One step of ``SimpleRNN`` for the generic ``RNN`` layer (TF.js ``tf.layers.simpleRNNCell``):
    ``h = activation(x @ kernel + h @ recurrent_kernel + bias)``; one state of size ``units``.

    Same weights (``kernel``, ``recurrent_kernel``, ``bias``) and math as ``SimpleRNN``.

    Args:
        units: The size of the state and output.
        activation: The activation (default ``"tanh"``).
        use_bias: Whether to add a bias.
        kernel_initializer: Initializer for the input kernel (default ``"glorotNormal"``).
        recurrent_initializer: Initializer for the recurrent kernel (default ``"orthogonal"``).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the input kernel.
        recurrent_regularizer: Penalty on the recurrent kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Accepted for TF.js configs; not applied by a cell.
        kernel_constraint: Constraint on the input kernel.
        recurrent_constraint: Constraint on the recurrent kernel.
        bias_constraint: Constraint on the bias.
        dropout: Fraction of the inputs dropped in training (one mask per sequence).
        recurrent_dropout: Fraction of the recurrent state dropped in training.
        **kwargs: Layer arguments (``name``, ``trainable``, ...; see ``Layer``).

    Example:

    >>> rnn = layers.rnn(cell=layers.simple_rnn_cell(units=4), return_sequences=True)
    >>> rnn(tw.ones([2, 5, 3])).shape
    (2, 5, 4)
    """

    gates, n_states = 1, 1
    _step = staticmethod(_simple_step)

    def __init__(self, units: int, **kwargs: Any):
        if kwargs.get("recurrent_activation") is not None:
            raise TypeError("SimpleRNNCell has no recurrent_activation argument")
        kwargs.pop("recurrent_activation", None)
        kwargs.pop("implementation", None)
        super().__init__(units, **kwargs)


class LSTMCell(_Cell):
    """One step of ``LSTM`` for the generic ``RNN`` layer (TF.js ``tf.layers.lstmCell``); states
    ``[h, c]``, gate order i, f, c, o, gates' default activation ``"hard_sigmoid"``.

    Same weights (``kernel`` (features, 4*units), ``recurrent_kernel``, ``bias``) and math as
    ``LSTM``, so ``RNN(LSTMCell(n))`` computes what ``LSTM(n)`` does with the same weights.

    Args:
        units: The size of the states and output.
        activation: The activation of the candidate and output (default ``"tanh"``).
        recurrent_activation: The gates' activation (default ``"hard_sigmoid"``).
        use_bias: Whether to add a bias.
        kernel_initializer: Initializer for the input kernel (default ``"glorotNormal"``).
        recurrent_initializer: Initializer for the recurrent kernel (default ``"orthogonal"``).
        bias_initializer: Initializer for the bias.
        unit_forget_bias: Initialise the forget gate's bias to ones (off by default, as TF.js).
        kernel_regularizer: Penalty on the input kernel.
        recurrent_regularizer: Penalty on the recurrent kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Accepted for TF.js configs; not applied by a cell.
        kernel_constraint: Constraint on the input kernel.
        recurrent_constraint: Constraint on the recurrent kernel.
        bias_constraint: Constraint on the bias.
        dropout: Fraction of the inputs dropped in training (one mask per sequence).
        recurrent_dropout: Fraction of the recurrent state dropped in training.
        implementation: Accepted for TF.js/Keras configs; ignored.
        **kwargs: Layer arguments (``name``, ``trainable``, ...; see ``Layer``).

    Example:

    >>> cell = layers.lstm_cell(units=4)
    >>> out, h, c = layers.rnn(cell=cell, return_state=True)(tw.ones([2, 5, 3]))
    >>> cell.state_size, out.shape, c.shape
    ([4, 4], (2, 4), (2, 4))
    """

    gates, n_states = 4, 2
    default_recurrent_activation = "hard_sigmoid"
    _step = staticmethod(_lstm_step)

    def __init__(self, units: int, unit_forget_bias: bool = False, **kwargs: Any):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    _bias_initializer = LSTM._bias_initializer

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """One step of ``GRU`` for the generic ``RNN`` layer (TF.js ``tf.layers.gruCell``); gate order
    z, r, h, ``reset_after=False``, gates' default activation ``"hard_sigmoid"``.

    Same weights (``kernel`` (features, 3*units), ``recurrent_kernel``, ``bias``) and math as
    ``GRU``.

    Args:
        units: The size of the state and output.
        reset_after: Must be ``False`` (the reset-after variant is not supported, as TF.js).
        activation: The activation of the candidate (default ``"tanh"``).
        recurrent_activation: The gates' activation (default ``"hard_sigmoid"``).
        use_bias: Whether to add a bias.
        kernel_initializer: Initializer for the input kernel (default ``"glorotNormal"``).
        recurrent_initializer: Initializer for the recurrent kernel (default ``"orthogonal"``).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the input kernel.
        recurrent_regularizer: Penalty on the recurrent kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Accepted for TF.js configs; not applied by a cell.
        kernel_constraint: Constraint on the input kernel.
        recurrent_constraint: Constraint on the recurrent kernel.
        bias_constraint: Constraint on the bias.
        dropout: Fraction of the inputs dropped in training (one mask per sequence).
        recurrent_dropout: Fraction of the recurrent state dropped in training.
        implementation: Accepted for TF.js/Keras configs; ignored.
        **kwargs: Layer arguments (``name``, ``trainable``, ...; see ``Layer``).

    Raises:
        ValueError: ``reset_after=True``.

    Example:

    >>> layers.rnn(cell=layers.gru_cell(units=4))(tw.ones([2, 5, 3])).shape
    (2, 4)
    """

    gates, n_states = 3, 1
    default_recurrent_activation = "hard_sigmoid"
    _step = staticmethod(_gru_step)

    def __init__(self, units: int, reset_after: bool = False, **kwargs: Any):
        if reset_after:
            raise ValueError(
                "GRUCell: reset_after=True is not supported (as TF.js); use reset_after=False"
            )
        super().__init__(units, **kwargs)

    def get_config(self):
        return {**super().get_config(), "reset_after": False}


class StackedRNNCells(Layer):
    """Several cells run one after the other at each step, as one cell (TF.js
    ``tf.layers.stackedRNNCells``): cell ``i + 1`` reads cell ``i``'s output.

    Its states are the cells' states as one flat list in *reverse* cell order (TF.js): two
    ``LSTMCell``s have the states ``[h2, c2, h1, c1]``, so the first state is the last cell's
    output. ``RNN(StackedRNNCells([a, b]))`` computes what ``RNN(a, return_sequences=True)``
    followed by ``RNN(b)`` does with the same weights. Passing a list of cells to ``RNN`` stacks
    them the same way.

    Args:
        cells: The cells (instances, or ``{"class_name", "config"}`` dicts), first to last.
        **kwargs: Layer arguments (``name``, ``trainable``, ...; see ``Layer``).

    Raises:
        ValueError: ``cells`` is empty.
        TypeError: An entry is not a cell.

    Example:

    >>> cells = layers.stacked_rnn_cells(
    ...     cells=[layers.lstm_cell(units=4), layers.gru_cell(units=2)]
    ... )
    >>> cells.state_size
    [2, 4, 4]
    >>> layers.rnn(cell=cells)(tw.ones([2, 5, 3])).shape
    (2, 2)
    """

    def __init__(self, cells: Any, **kwargs: Any):
        if isinstance(cells, (Layer, dict)) or not isinstance(cells, (list, tuple)):
            raise TypeError(
                f"StackedRNNCells: cells must be a list of cells, got {type(cells).__name__}"
            )
        if not cells:
            raise ValueError("StackedRNNCells: cells must hold at least one cell, got []")
        checked = [_check_cell(c, "StackedRNNCells") for c in cells]
        super().__init__(**kwargs)
        self.cells = checked
        self._sublayers = list(checked)

    @property
    def state_size(self) -> list[int]:
        """Every cell's state sizes, as one list in reverse cell order (TF.js)."""
        return [s for cell in reversed(self.cells) for s in _state_sizes(cell)]

    @property
    def output_size(self) -> int:
        """The last cell's output size."""
        return _output_size(self.cells[-1])

    def build(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        for cell in self.cells:
            if isinstance(cell, _Cell):
                cell.check_input_shape(shape)
            cell._maybe_build(shape)
            shape = (shape[0], _output_size(cell))
        self.built = True

    def call(self, inputs: Any, states: Any = None, training: bool = False, **kwargs: Any) -> Any:
        """One step through every cell: ``(last cell's output, new_states)``.

        Args:
            inputs: One step of the sequence, (batch, features).
            states: The states, flat in reverse cell order (see ``state_size``).
            training: Training mode, passed to the cells.
            **kwargs: Ignored.

        Returns:
            ``(output, new_states)``, the states in the same order as ``states``.
        """
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        per_cell: list[list[Tensor]] = []
        rest = list(states)
        for cell in reversed(self.cells):
            n = len(_state_sizes(cell))
            per_cell.append(rest[:n])
            rest = rest[n:]
        per_cell.reverse()
        x = inputs
        new_per_cell = []
        for cell, st in zip(self.cells, per_cell, strict=True):
            x, new = _call_cell(cell, x, st, training)
            new_per_cell.append(new)
        return x, [s for new in reversed(new_per_cell) for s in new]

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        return (shape[0], self.output_size)

    def get_config(self):
        return {**super().get_config(), "cells": [serialize_layer(c) for c in self.cells]}


class RNN(_Recurrent):
    """The generic recurrent layer: runs a cell over the time axis (TF.js ``tf.layers.rnn``).

    ``cell`` is ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, ``StackedRNNCells`` (or a list of
    cells, stacked), or a custom cell: any ``Layer`` with

    - ``state_size``: an int, or a list of ints for several states (the first is the output
      size unless the cell has an ``output_size``);
    - ``call(inputs, states)`` (optionally with ``training``) that takes one step (batch,
      features) and the list of states (batch, size) and returns ``(output, new_states)``;
    - optionally ``build(input_shape)`` creating its weights for the step shape (batch, features).

    Masks from ``Masking`` or ``Embedding(mask_zero=True)`` are used as by ``LSTM``: masked steps
    carry the states over and repeat the previous output. ``initial_state=[...]`` in a call
    replaces the zero initial states. Saved as TF.js/Keras save it (``class_name: "RNN"`` with
    the cell's ``{class_name, config}``); a custom cell needs its class registered (a
    ``Layer`` subclass is, under its class name) and a ``get_config`` to be saved.

    Args:
        cell: The cell: an instance, a ``{"class_name", "config"}`` dict, or a list of cells.
        return_sequences: Return every step's output ``(batch, steps, size)`` instead of the
            last ``(batch, size)``.
        return_state: Also return the final states (a list ``[output, *states]``).
        go_backwards: Process the sequence in reverse (the outputs come in processing order).
        stateful: Must be ``False`` (stateful RNNs are not supported; ``True`` raises
            ``ValueError``).
        unroll: Accepted for TF.js/Keras configs; the loop is the same either way.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``stateful=True``, or a TF.js config with constants (``num_constants``).
        TypeError: ``cell`` does not follow the cell protocol.

    Example:

    A custom cell (a minimal RNN: ``h = tanh(x @ w + h @ u)``):

    >>> class MinimalRNNCell(layers.Layer):
    ...     def __init__(self, units, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.units = units
    ...         self.state_size = units
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight("kernel", (input_shape[-1], self.units))
    ...         self.u = self.add_weight("recurrent_kernel", (self.units, self.units))
    ...     def call(self, inputs, states):
    ...         h = tw.tanh(tw.add(tw.matmul(inputs, self.w), tw.matmul(states[0], self.u)))
    ...         return h, [h]
    >>> rnn = layers.rnn(cell=MinimalRNNCell(8), return_sequences=True)
    >>> rnn(tw.ones([2, 5, 3])).shape
    (2, 5, 8)
    >>> [w.shape for w in rnn.weights]
    [(3, 8), (8, 8)]
    >>> _ = layers.LAYER_CLASSES.pop("MinimalRNNCell")  # (only to keep the registry clean here)
    """

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(list(cell))
        elif cell is None:
            raise TypeError("RNN: the cell argument is missing")
        cell = _check_cell(cell, "RNN")
        if stateful:
            raise ValueError(f"{type(self).__name__}: stateful=True is not supported")
        super().__init__(**kwargs)
        self.cell = cell
        self._sublayers = [cell]
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """A new ``RNN`` from its config (ours, Keras's, or TF.js's, which repeats the cell's
        config keys at the top level: those are dropped).

        Args:
            config: The layer config, with ``cell`` a ``{"class_name", "config"}`` dict.

        Returns:
            The layer.

        Raises:
            ValueError: The config asks for constants (``num_constants``), not supported.
        """
        config = dict(config)
        cell = config.get("cell")
        num_constants = config.pop("numConstants", config.pop("num_constants", None))
        if num_constants:
            raise ValueError(f"RNN: constants are not supported, got num_constants={num_constants}")
        if isinstance(cell, dict):
            cell_keys = set(cell.get("config") or {}) | {"cells"}
            own = set(inspect.signature(cls.__init__).parameters) | set(
                inspect.signature(Layer.__init__).parameters
            )
            for key in list(config):
                snake = to_snake_case(key)
                if key in cell_keys and snake not in own:
                    del config[key]
        return super().from_config(config)

    def _n_states(self) -> int:
        return len(_state_sizes(self.cell))

    def check_input_shape(self, input_shape):
        seq, states = self._split(input_shape)
        if len(seq) != 3:
            raise self._bad_input(seq, "rank 3 (batch, timesteps, features)")
        if states:
            sizes = _state_sizes(self.cell)
            if len(states) != len(sizes):
                raise ValueError(
                    f"layer {self.name!r} (RNN) takes {len(sizes)} initial state(s), got {len(states)}"
                )
            for s, n in zip(states, sizes, strict=True):
                if len(s) != 2 or (s[1] is not None and s[1] != n):
                    raise ValueError(
                        f"layer {self.name!r}: initial states must have shapes (batch, size) for "
                        f"the sizes {sizes}, got {s}"
                    )
        if isinstance(self.cell, (_Cell, StackedRNNCells)):
            step = (seq[0],) + seq[2:]
            first = self.cell.cells[0] if isinstance(self.cell, StackedRNNCells) else self.cell
            if isinstance(first, _Cell):
                first.check_input_shape(step)

    def build(self, input_shape):
        seq, _ = self._split(input_shape)
        self.cell._maybe_build((seq[0],) + tuple(seq[2:]))
        self.built = True

    def compute_output_shape(self, input_shape):
        seq, _ = self._split(input_shape)
        size = _output_size(self.cell)
        out = (seq[0], seq[1], size) if self.return_sequences else (seq[0], size)
        if self.return_state:
            return [out] + [(seq[0], s) for s in _state_sizes(self.cell)]
        return out

    def call(self, inputs, training=False, mask=None):
        if isinstance(inputs, list):
            x, init = inputs[0], list(inputs[1:])
        else:
            x, init = inputs, []
        mask = _check_mask(self, mask, x)
        if x.dtype != "float32":
            x = tw.cast(x, "float32")
        b = x.shape[0]
        states = init if init else [tw.zeros((b, s)) for s in _state_sizes(self.cell)]
        _reset_dropout_masks(self.cell)
        try:
            last, outputs, states = _time_loop(
                lambda xt, st: _call_cell(self.cell, xt, st, bool(training)),
                tw.unstack(x, 1),
                states,
                mask,
                self.go_backwards,
                self.return_sequences,
                _output_size(self.cell),
            )
        finally:
            _reset_dropout_masks(self.cell)
        result = tw.stack(outputs, 1) if self.return_sequences else last
        if self.return_state:
            return [result] + list(states)
        return result

    def get_config(self):
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "cell": serialize_layer(self.cell),
        }


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
        if not isinstance(self.layer, _Recurrent):
            raise TypeError(
                f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU, RNN), got {self.layer.class_name}"
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
        # TF.js: the input mask for sequences (the backward output is reversed back), else none
        if isinstance(mask, list):
            mask = mask[0]
        out = mask if self.return_sequences else None
        masks = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            return masks + [None] * (2 * self.forward_layer._n_states())
        return masks if len(masks) > 1 else masks[0]

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode}
