"""ConvLSTM2D: an LSTM whose input and recurrent transforms are 2-D convolutions (TF.js
``tf.layers.convLstm2d``), over ``(batch, time, height, width, channels)``.

TF.js's cell: with the kernel ``(kh, kw, in, 4*filters)`` and the recurrent kernel
``(kh, kw, filters, 4*filters)`` split into gates i, f, c, o on the last axis,
``x_g = conv2d(x, kernel_g, strides, padding, dilation_rate) + bias_g`` and
``h_g = conv2d(h, recurrent_kernel_g, 1, "same")``; then ``i = rec_act(x_i + h_i)``,
``f = rec_act(x_f + h_f)``, ``c = f*c + i*act(x_c + h_c)``, ``o = rec_act(x_o + h_o)``,
``h = o*act(c)``. The states start at zeros of the output's spatial shape.
"""

from __future__ import annotations

from typing import Any

import engine as tw
from engine import Tensor
from engine.dtypes import as_int
from layers.convolutional import _data_format
from layers.recurrent import _RNN, LSTM
from layers.utils import as_int_tuple, check_padding, conv_out_length


class ConvLSTM2D(_RNN):
    """Convolutional LSTM over ``(batch, time, height, width, channels)`` (TF.js
    ``tf.layers.convLstm2d``); states ``[h, c]`` of shape ``(batch, oh, ow, filters)``.

    Call it on a 5-D sequence; ``initial_state=[h, c]`` replaces the zero initial states, and
    a ``(batch, time)`` mask skips masked steps. Without ``return_sequences`` the output is the
    last step's ``(batch, oh, ow, filters)``; with it, ``(batch, time, oh, ow, filters)``.

    Args:
        filters: The number of output channels (the state's channels).
        kernel_size: The window of both convolutions, an int or ``(kh, kw)``.
        strides: The input convolution's stride, an int or ``(sh, sw)``.
        padding: The input convolution's padding, ``"valid"`` or ``"same"`` (the recurrent
            convolution always uses ``"same"`` and stride 1).
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        dilation_rate: The input convolution's dilation, an int or ``(dh, dw)``.
        unit_forget_bias: Initialise the forget gate's bias to ones (off by default, as
            tfjs-layers).
        activation: The activation of the candidate and output (default ``"tanh"``).
        recurrent_activation: The gates' activation (default ``"hard_sigmoid"``, as TF.js).
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
        dropout: Fraction of the input dropped in training (one mask per gate, fixed over time).
        recurrent_dropout: Fraction of the state ``h`` dropped in training (one mask per gate).
        return_sequences: Return every step's output instead of the last.
        return_state: Also return the final states (a list ``[output, h, c]``).
        go_backwards: Process the sequence in reverse.
        stateful: Must be ``False`` (``True`` raises ``ValueError``).
        unroll: Accepted for Keras/TF.js configs; the loop is the same either way.
        implementation: Accepted for Keras configs; ignored.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``stateful=True``, ``channels_first``, or bad sizes.

    Example:

    >>> layer = layers.conv_lstm2d(filters=3, kernel_size=3, padding="same")
    >>> layer(tw.ones([2, 4, 5, 5, 1])).shape
    (2, 5, 5, 3)
    """

    gates, n_states = 4, 2
    ndim = 5
    default_recurrent_activation = "hard_sigmoid"

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        unit_forget_bias: bool = False,
        **kwargs: Any,
    ):
        filters = as_int(filters, "ConvLSTM2D: filters", minimum=1)
        if kernel_size is None:
            raise ValueError("ConvLSTM2D: kernel_size is required")
        kernel_size = as_int_tuple(kernel_size, 2, "ConvLSTM2D: kernel_size")
        strides = as_int_tuple(strides, 2, "ConvLSTM2D: strides")
        dilation_rate = as_int_tuple(dilation_rate, 2, "ConvLSTM2D: dilation_rate")
        padding = check_padding(padding)
        data_format = _data_format(data_format)
        if "units" in kwargs:
            raise TypeError("ConvLSTM2D takes filters, not units")
        super().__init__(filters, **kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.data_format = data_format
        self.dilation_rate = dilation_rate
        self.unit_forget_bias = bool(unit_forget_bias)

    # --- shapes -------------------------------------------------------------------------------------
    def _spatial_out(self, seq: tuple) -> tuple:
        return tuple(
            conv_out_length(s, k, st, d, self.padding)
            for s, k, st, d in zip(
                seq[2:4], self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        )

    def check_input_shape(self, input_shape):
        seq, states = self._split(input_shape)
        if len(seq) != 5:
            raise self._bad_input(seq, "rank 5 (batch, time, height, width, channels)")
        if self.built and seq[-1] is not None and seq[-1] != self.kernel.shape[2]:
            raise self._bad_input(seq, f"{self.kernel.shape[2]} channels on the last axis")
        for s, k, d in zip(seq[2:4], self.kernel_size, self.dilation_rate, strict=True):
            if s is not None and self.padding == "valid" and s < (k - 1) * d + 1:
                raise self._bad_input(
                    seq,
                    f"height and width of at least the (dilated) kernel size "
                    f"{self.kernel_size} with padding 'valid'",
                )
        if states and len(states) != self.n_states:
            raise ValueError(
                f"layer {self.name!r} (ConvLSTM2D) takes 2 initial states [h, c], got {len(states)}"
            )
        want = (seq[0],) + self._spatial_out(seq) + (self.filters,)
        for s in states:
            if len(s) != 4 or any(
                a is not None and b is not None and a != b for a, b in zip(s, want, strict=True)
            ):
                raise ValueError(
                    f"layer {self.name!r}: initial states must have shape {want}, got {s}"
                )

    def build(self, input_shape):
        seq, _ = self._split(input_shape)
        c = seq[-1]
        if c is None:
            raise ValueError(
                f"ConvLSTM2D {self.name!r}: the channel dimension must be known, got shape {seq}"
            )
        g = 4 * self.filters
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_size + (c, g),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            self.kernel_size + (self.filters, g),
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

    _bias_initializer = LSTM._bias_initializer  # units == filters

    def compute_output_shape(self, input_shape):
        seq, _ = self._split(input_shape)
        spatial = self._spatial_out(seq) + (self.filters,)
        out = (seq[0], seq[1]) + spatial if self.return_sequences else (seq[0],) + spatial
        if self.return_state:
            return [out] + [(seq[0],) + spatial] * 2
        return out

    # --- computing ----------------------------------------------------------------------------------
    def _input_conv(self, x: Tensor, masks: list[Tensor] | None) -> Tensor:
        """``conv2d(x, kernel) + bias`` with the 4 gates on the last axis; ``masks`` (dropout)
        gives each gate its own masked input."""
        conv = lambda t, k: tw.conv2d(t, k, self.strides, self.padding, self.dilation_rate)  # noqa: E731
        if masks is None:
            out = conv(x, self.kernel)
        else:
            kernels = tw.split(self.kernel, 4, 3)
            out = tw.concat(
                [conv(tw.mul(x, m), k) for m, k in zip(masks, kernels, strict=True)], -1
            )
        return tw.add(out, self.bias) if self.use_bias else out

    def _recurrent_conv(self, h: Tensor, masks: list[Tensor] | None) -> Tensor:
        if masks is None:
            return tw.conv2d(h, self.recurrent_kernel, 1, "same")
        kernels = tw.split(self.recurrent_kernel, 4, 3)
        return tw.concat(
            [tw.conv2d(tw.mul(h, m), k, 1, "same") for m, k in zip(masks, kernels, strict=True)],
            -1,
        )

    def call(self, inputs, training=False, mask=None):
        if isinstance(inputs, list):
            x, init = inputs[0], list(inputs[1:])
        else:
            x, init = inputs, []
        if isinstance(mask, list):
            mask = mask[0]
        if x.dtype != "float32":
            x = tw.cast(x, "float32")
        b, t, hh, ww, c = x.shape
        oh, ow = self._spatial_out(x.shape)
        state_shape = (b, oh, ow, self.filters)
        xmasks = hmasks = None
        if training and 0 < self.dropout < 1:
            xmasks = [tw.dropout(tw.ones((b, hh, ww, c)), self.dropout) for _ in range(4)]
        if training and 0 < self.recurrent_dropout < 1:
            hmasks = [tw.dropout(tw.ones(state_shape), self.recurrent_dropout) for _ in range(4)]
        if xmasks is None:  # one convolution over every step at once
            xw = self._input_conv(tw.reshape(x, (b * t, hh, ww, c)), None)
            steps = tw.unstack(tw.reshape(xw, (b, t, oh, ow, 4 * self.filters)), 1)
        else:
            steps = [self._input_conv(s, xmasks) for s in tw.unstack(x, 1)]
        h, cc = init if init else [tw.zeros(state_shape), tw.zeros(state_shape)]
        order = range(t - 1, -1, -1) if self.go_backwards else range(t)
        masks = tw.unstack(tw.cast(mask, "bool"), 1) if mask is not None else None
        outputs: list[Tensor] = []
        for i in order:
            z = tw.add(steps[i], self._recurrent_conv(h, hmasks))
            zi, zf, zc, zo = tw.split(z, 4, 3)
            gi = self.recurrent_activation(zi)
            gf = self.recurrent_activation(zf)
            c_new = tw.add(tw.mul(gf, cc), tw.mul(gi, self.activation(zc)))
            h_new = tw.mul(self.recurrent_activation(zo), self.activation(c_new))
            if masks is not None:
                m = tw.reshape(masks[i], (b, 1, 1, 1))
                h_new, c_new = tw.where(m, h_new, h), tw.where(m, c_new, cc)
            h, cc = h_new, c_new
            if self.return_sequences:
                outputs.append(h)
        result = tw.stack(outputs, 1) if self.return_sequences else h
        if self.return_state:
            return [result, h, cc]
        return result

    def get_config(self):
        config = super().get_config()
        config.pop("units")
        config.update(
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=list(self.dilation_rate),
            unit_forget_bias=self.unit_forget_bias,
        )
        return config
