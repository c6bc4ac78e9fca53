"""Convolution layers (channels last): Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D,
SeparableConv2D, plus ZeroPadding2D and UpSampling2D."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

import engine as tw
from engine.dtypes import as_int
from layers import activations as _activations
from layers import constraints as _constraints
from layers import initializers as _initializers
from layers import regularizers as _regularizers
from layers.base import Layer
from layers.utils import as_int_tuple, check_padding, conv_out_length, deconv_out_length

#: Activation functions ``tw.fused_conv2d`` applies itself, by the name it takes.
_FUSABLE = {_activations.linear.fn: "linear", tw.relu: "relu"}


def _data_format(value: str | None) -> str:
    fmt = (value or "channels_last").lower()
    if fmt in ("channelslast", "channels_last"):
        return "channels_last"
    if fmt in ("channelsfirst", "channels_first"):
        raise ValueError(
            "data_format 'channels_first' is not supported; tensorweave layers are channels last"
        )
    raise ValueError(f"data_format must be 'channels_last', got {value!r}")


class _Conv(Layer):
    """Shared arguments and weights of the convolution layers."""

    rank = 2

    def __init__(
        self,
        filters: int | None = None,
        kernel_size: Any = None,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
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
        n = self.rank
        where = type(self).__name__
        if kernel_size is None:
            raise ValueError(f"{where}: kernel_size is required")
        filters = as_int(filters, f"{where}: filters", minimum=1, allow_none=True)
        kernel_size = as_int_tuple(kernel_size, n, f"{where}: kernel_size")
        strides = as_int_tuple(strides, n, f"{where}: strides")
        dilation_rate = as_int_tuple(dilation_rate, n, f"{where}: dilation_rate")
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = check_padding(padding)
        self.data_format = _data_format(data_format)
        self.dilation_rate = dilation_rate
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.ndim = n + 2
        self.kernel = self.bias = None

    def _channels(self, input_shape) -> int:
        c = input_shape[-1]
        if c is None:
            raise ValueError(
                f"{self.class_name} {self.name!r}: the channel dimension must be known, got shape {input_shape}"
            )
        self._input_axes = {-1: c}
        return c

    def _add_bias(self, units: int) -> None:
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _finish(self, out):
        if self.use_bias:
            out = tw.add(out, self.bias)
        return self.activation(out)

    def _spatial_out(self, input_shape) -> tuple:
        return tuple(
            conv_out_length(s, k, st, d, self.padding)
            for s, k, st, d in zip(
                input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, strict=False
            )
        )

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        if isinstance(input_shape, list):
            return
        for s, k, d in zip(
            tuple(input_shape)[1:-1], self.kernel_size, self.dilation_rate, strict=False
        ):
            if s is not None and self.padding == "valid" and s < (k - 1) * d + 1:
                raise self._bad_input(
                    tuple(input_shape),
                    f"spatial sizes of at least the (dilated) kernel size {self.kernel_size} with padding 'valid'",
                )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": _constraints.serialize(self.kernel_constraint),
            "bias_constraint": _constraints.serialize(self.bias_constraint),
        }


class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)`` images (TF.js
    ``tf.layers.conv2d``).

    The kernel has shape ``(kh, kw, in_channels, filters)``.

    Args:
        filters: The number of output channels.
        kernel_size: The window, an int or ``(kh, kw)``.
        strides: The stride, an int or ``(sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        dilation_rate: The dilation, an int or ``(dh, dw)``.
        activation: Activation name or callable applied to the output (``None``: linear).
        use_bias: Whether to add a bias per output channel.
        kernel_initializer: Initializer for the kernel (default ``"glorotNormal"``).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the output.
        kernel_constraint: Constraint on the kernel.
        bias_constraint: Constraint on the bias.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> conv = layers.conv2d(filters=8, kernel_size=3, padding="same", activation="relu")
    >>> conv(tw.ones([1, 28, 28, 1])).shape
    (1, 28, 28, 8)
    """

    rank = 2

    def __init__(self, filters: int, kernel_size: Any, **kwargs: Any):
        super().__init__(filters, kernel_size, **kwargs)

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_size + (c, self.filters),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs, training=False):
        # One fused conv + bias (+ relu) where the backend fuses it; other activations after it.
        act = _FUSABLE.get(self.activation.fn)
        bias = self.bias if self.use_bias else None
        out = tw.fused_conv2d(
            inputs, self.kernel, self.strides, self.padding, self.dilation_rate, bias,
            act or "linear",
        )  # fmt: skip
        return out if act is not None else self.activation(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._spatial_out(input_shape) + (self.filters,)


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)`` (TF.js ``tf.layers.conv1d``).

    The kernel has shape ``(kernel_size, in_channels, filters)``.

    Args:
        filters: The number of output channels.
        kernel_size: The window length (an int or a one-element sequence).
        strides: The stride, an int.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        dilation_rate: The dilation, an int.
        activation: Activation name or callable applied to the output (``None``: linear).
        use_bias: Whether to add a bias per output channel.
        kernel_initializer: Initializer for the kernel (default ``"glorotNormal"``).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the output.
        kernel_constraint: Constraint on the kernel.
        bias_constraint: Constraint on the bias.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.conv1d(filters=4, kernel_size=3)(tw.ones([2, 10, 1])).shape
    (2, 8, 4)
    """

    rank = 1

    def __init__(self, filters: int, kernel_size: Any, padding: str = "valid", **kwargs: Any):
        causal = str(padding).lower() == "causal"
        super().__init__(filters, kernel_size, padding="valid" if causal else padding, **kwargs)
        if causal:
            self.padding = "causal"  # left-pad (k-1)*dilation zeros, so step t sees only steps <= t

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_size + (c, self.filters),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self._add_bias(self.filters)
        self.built = True

    def _left_pad(self) -> int:
        return (self.kernel_size[0] - 1) * self.dilation_rate[0]

    def check_input_shape(self, input_shape):
        if self.padding == "causal":
            Layer.check_input_shape(self, input_shape)
        else:
            super().check_input_shape(input_shape)

    def _spatial_out(self, input_shape):
        if self.padding != "causal":
            return super()._spatial_out(input_shape)
        s = input_shape[1]
        return (
            None
            if s is None
            else conv_out_length(
                s + self._left_pad(),
                self.kernel_size[0],
                self.strides[0],
                self.dilation_rate[0],
                "valid",
            ),
        )

    def call(self, inputs, training=False):
        x, padding = inputs, self.padding
        if padding == "causal":
            x, padding = tw.pad(x, ((0, 0), (self._left_pad(), 0), (0, 0))), "valid"
        out = tw.conv1d(x, self.kernel, self.strides[0], padding, self.dilation_rate[0])
        return self._finish(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._spatial_out(input_shape) + (self.filters,)


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution (TF.js ``tf.layers.conv2dTranspose``), e.g. to upsample.

    The kernel has shape ``(kh, kw, filters, in_channels)``, as TF.js.

    Args:
        filters: The number of output channels.
        kernel_size: The window, an int or ``(kh, kw)``.
        strides: The stride, an int or ``(sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        dilation_rate: The dilation, an int or ``(dh, dw)``.
        activation: Activation name or callable applied to the output (``None``: linear).
        use_bias: Whether to add a bias per output channel.
        kernel_initializer: Initializer for the kernel (default ``"glorotNormal"``).
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Penalty on the kernel.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the output.
        kernel_constraint: Constraint on the kernel.
        bias_constraint: Constraint on the bias.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.conv2d_transpose(filters=2, kernel_size=2, strides=2)(tw.ones([1, 4, 4, 3])).shape
    (1, 8, 8, 2)
    """

    rank = 2

    def __init__(self, filters: int, kernel_size: Any, **kwargs: Any):
        super().__init__(filters, kernel_size, **kwargs)
        if any(d != 1 for d in self.dilation_rate):
            raise ValueError(self._dilation_error())

    def _dilation_error(self) -> str:
        return "Conv2DTranspose: dilation_rate other than 1 is not supported"

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_size + (self.filters, c),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self._add_bias(self.filters)
        self.built = True

    def check_input_shape(self, input_shape):
        Layer.check_input_shape(self, input_shape)

    def _spatial_out(self, input_shape):
        return tuple(
            deconv_out_length(s, k, st, self.padding)
            for s, k, st in zip(input_shape[1:-1], self.kernel_size, self.strides, strict=False)
        )

    def call(self, inputs, training=False):
        out_shape = (inputs.shape[0],) + self._spatial_out(inputs.shape) + (self.filters,)
        return self._finish(
            tw.conv2d_transpose(inputs, self.kernel, out_shape, self.strides, self.padding)
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._spatial_out(input_shape) + (self.filters,)


class DepthwiseConv2D(_Conv):
    """Per-channel 2-D convolution (TF.js ``tf.layers.depthwiseConv2d``).

    The depthwise kernel has shape ``(kh, kw, in_channels, depth_multiplier)``; the output has
    ``in_channels * depth_multiplier`` channels.

    Args:
        kernel_size: The window, an int or ``(kh, kw)``.
        depth_multiplier: Output channels per input channel.
        depthwise_initializer: Initializer for the depthwise kernel.
        depthwise_regularizer: Penalty on it.
        depthwise_constraint: Constraint on it.
        strides: The stride, an int or ``(sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        dilation_rate: The dilation, an int or ``(dh, dw)``.
        activation: Activation name or callable applied to the output (``None``: linear).
        use_bias: Whether to add a bias per output channel.
        bias_initializer: Initializer for the bias.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the output.
        bias_constraint: Constraint on the bias.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.depthwise_conv2d(kernel_size=3, depth_multiplier=2)(tw.ones([1, 5, 5, 3])).shape
    (1, 3, 3, 6)
    """

    rank = 2

    def __init__(
        self,
        kernel_size: Any,
        depth_multiplier: int = 1,
        depthwise_initializer: Any = "glorotNormal",
        depthwise_regularizer: Any = None,
        depthwise_constraint: Any = None,
        **kwargs: Any,
    ):
        depth_multiplier = as_int(depth_multiplier, "DepthwiseConv2D: depth_multiplier", 1)
        super().__init__(None, kernel_size, **kwargs)
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = _initializers.get(depthwise_initializer)
        self.depthwise_regularizer = _regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = _constraints.get(depthwise_constraint)
        self.depthwise_kernel = None

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel",
            self.kernel_size + (c, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        self._add_bias(c * self.depth_multiplier)
        self.built = True

    def call(self, inputs, training=False):
        out = tw.depthwise_conv2d(
            inputs, self.depthwise_kernel, self.strides, self.padding, self.dilation_rate
        )
        return self._finish(out)

    def compute_output_shape(self, input_shape):
        c = input_shape[-1]
        return (
            (input_shape[0],)
            + self._spatial_out(input_shape)
            + (None if c is None else c * self.depth_multiplier,)
        )

    def get_config(self):
        config = super().get_config()
        for k in ("filters", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(k)
        config.update(
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=_initializers.serialize(self.depthwise_initializer),
            depthwise_regularizer=_regularizers.serialize(self.depthwise_regularizer),
            depthwise_constraint=_constraints.serialize(self.depthwise_constraint),
        )
        return config


class SeparableConv2D(_Conv):
    """A depthwise convolution then a 1x1 pointwise convolution to ``filters`` channels (TF.js
    ``tf.layers.separableConv2d``).

    Args:
        filters: The number of output channels.
        kernel_size: The window, an int or ``(kh, kw)``.
        depth_multiplier: Depthwise output channels per input channel.
        depthwise_initializer: Initializer for the depthwise kernel.
        pointwise_initializer: Initializer for the pointwise kernel.
        depthwise_regularizer: Penalty on the depthwise kernel.
        pointwise_regularizer: Penalty on the pointwise kernel.
        depthwise_constraint: Constraint on the depthwise kernel.
        pointwise_constraint: Constraint on the pointwise kernel.
        strides: The stride, an int or ``(sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        dilation_rate: The dilation, an int or ``(dh, dw)``.
        activation: Activation name or callable applied to the output (``None``: linear).
        use_bias: Whether to add a bias per output channel.
        bias_initializer: Initializer for the bias.
        bias_regularizer: Penalty on the bias.
        activity_regularizer: Penalty on the output.
        bias_constraint: Constraint on the bias.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.separable_conv2d(filters=4, kernel_size=3)(tw.ones([1, 5, 5, 3])).shape
    (1, 3, 3, 4)
    """

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        depth_multiplier: int = 1,
        depthwise_initializer: Any = "glorotNormal",
        pointwise_initializer: Any = "glorotNormal",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        **kwargs: Any,
    ):
        depth_multiplier = as_int(depth_multiplier, "SeparableConv2D: depth_multiplier", 1)
        super().__init__(filters, kernel_size, **kwargs)
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = _initializers.get(depthwise_initializer)
        self.pointwise_initializer = _initializers.get(pointwise_initializer)
        self.depthwise_regularizer = _regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = _regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = _constraints.get(depthwise_constraint)
        self.pointwise_constraint = _constraints.get(pointwise_constraint)
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape):
        c = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel",
            self.kernel_size + (c, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            (1, 1, c * self.depth_multiplier, self.filters),
            self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
        )
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs, training=False):
        out = tw.separable_conv2d(
            inputs,
            self.depthwise_kernel,
            self.pointwise_kernel,
            self.strides,
            self.padding,
            self.dilation_rate,
        )
        return self._finish(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._spatial_out(input_shape) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        for k in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(k)
        config.update(
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=_initializers.serialize(self.depthwise_initializer),
            pointwise_initializer=_initializers.serialize(self.pointwise_initializer),
            depthwise_regularizer=_regularizers.serialize(self.depthwise_regularizer),
            pointwise_regularizer=_regularizers.serialize(self.pointwise_regularizer),
            depthwise_constraint=_constraints.serialize(self.depthwise_constraint),
            pointwise_constraint=_constraints.serialize(self.pointwise_constraint),
        )
        return config


class ZeroPadding2D(Layer):
    """Pad rows and columns of ``(batch, height, width, channels)`` with zeros.

    Args:
        padding: ``n``, ``(rows, cols)`` or ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.zero_padding2d(padding=(1, 2))(tw.ones([1, 2, 2, 1])).shape
    (1, 4, 6, 1)
    """

    ndim = 4

    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)
        if isinstance(padding, numbers.Number):
            padding = as_int(padding, "ZeroPadding2D: padding", 0)
            pads = ((padding, padding), (padding, padding))
        else:
            p = list(padding)
            if len(p) != 2:
                raise ValueError(
                    f"ZeroPadding2D: padding must be an int, 2 ints or 2 pairs, got {padding!r}"
                )
            pads = tuple(
                (as_int(q, "ZeroPadding2D: padding", 0),) * 2
                if isinstance(q, numbers.Number)
                else tuple(as_int(v, "ZeroPadding2D: padding", 0) for v in q)
                for q in p
            )
        self.padding = pads

    def call(self, inputs, training=False):
        return tw.pad(inputs, ((0, 0),) + self.padding + ((0, 0),))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        (t, bo), (le, r) = self.padding
        return (b, None if h is None else h + t + bo, None if w is None else w + le + r, c)

    def get_config(self):
        return {
            **super().get_config(),
            "padding": [list(p) for p in self.padding],
            "data_format": self.data_format,
        }


class UpSampling2D(Layer):
    """Upsample rows and columns by ``size``: repeat them (``nearest``) or interpolate
    (``bilinear``).

    Args:
        size: The factors, an int or ``(rows, cols)``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        interpolation: ``"nearest"`` or ``"bilinear"``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: An unknown ``interpolation``.

    Example:

    >>> layers.up_sampling2d(size=2)(tw.ones([1, 2, 3, 1])).shape
    (1, 4, 6, 1)
    """

    ndim = 4

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.size = as_int_tuple(size, 2, "size")
        self.data_format = _data_format(data_format)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
            )
        self.interpolation = interpolation

    @staticmethod
    def _lerp_axis(x, axis: int, size: int, out: int):
        """Linear resampling of one axis as tf.image.resizeBilinear (align_corners False)."""
        src = np.arange(out) * (size / out)
        lo = np.floor(src).astype(np.int32)
        hi = np.minimum(lo + 1, size - 1).astype(np.int32)
        frac = (src - lo).astype(np.float32)
        shape = [1] * x.rank
        shape[axis] = out
        a = tw.gather(x, tw.tensor(lo, dtype="int32"), axis)
        b = tw.gather(x, tw.tensor(hi, dtype="int32"), axis)
        return tw.add(a, tw.mul(tw.sub(b, a), tw.tensor(frac.reshape(shape))))

    def call(self, inputs, training=False):
        b, h, w, c = inputs.shape
        sh, sw = self.size
        if self.interpolation == "bilinear":
            return self._lerp_axis(self._lerp_axis(inputs, 1, h, h * sh), 2, w, w * sw)
        x = tw.reshape(inputs, (b, h, 1, w, 1, c))
        x = tw.tile(x, (1, 1, sh, 1, sw, 1))
        return tw.reshape(x, (b, h * sh, w * sw, c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (
            b,
            None if h is None else h * self.size[0],
            None if w is None else w * self.size[1],
            c,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "size": list(self.size),
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }
