"""3-D convolution and pooling layers over ``(batch, depth, height, width, channels)``:
Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D (TF.js ``tf.layers.conv3d``, ...).

Channels last only: ``data_format="channels_first"`` raises ``ValueError``. Configs use the
TF.js/Keras names (``kernel_size``, ``dilation_rate``, ``pool_size``, ...), so saved models
load both ways.
"""

from __future__ import annotations

import engine as tw
from layers.convolutional import Conv2D, Conv2DTranspose
from layers.pooling import _Pooling


class Conv3D(Conv2D):
    """3-D convolution over ``(batch, depth, height, width, channels)`` volumes (TF.js
    ``tf.layers.conv3d``).

    The kernel has shape ``(kd, kh, kw, in_channels, filters)``.

    Args:
        filters: The number of output channels.
        kernel_size: The window, an int or ``(kd, kh, kw)``.
        strides: The stride, an int or ``(sd, sh, sw)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(in / stride)``).
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        dilation_rate: The dilation, an int or ``(dd, dh, dw)``.
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

    >>> layers.conv3d(filters=4, kernel_size=3, padding="same")(tw.ones([1, 4, 5, 6, 2])).shape
    (1, 4, 5, 6, 4)
    """

    rank = 3

    def call(self, inputs, training=False):
        out = tw.conv3d(inputs, self.kernel, self.strides, self.padding, self.dilation_rate)
        return self._finish(out)


class Conv3DTranspose(Conv2DTranspose):
    """Transposed 3-D convolution (TF.js ``tf.layers.conv3dTranspose``), e.g. to upsample
    volumes.

    The kernel has shape ``(kd, kh, kw, filters, in_channels)``, as TF.js. Each output axis
    has size ``in * stride`` (``"same"``) or ``in * stride + max(kernel - stride, 0)``
    (``"valid"``).

    Args:
        filters: The number of output channels.
        kernel_size: The window, an int or ``(kd, kh, kw)``.
        strides: The stride, an int or ``(sd, sh, sw)``.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        dilation_rate: Must be 1 (TF.js supports no other; its config leaves the key out, and
            so does ``get_config``); other values raise ``ValueError``.
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

    >>> layers.conv3d_transpose(filters=2, kernel_size=2, strides=2)(tw.ones([1, 2, 3, 3, 4])).shape
    (1, 4, 6, 6, 2)
    """

    rank = 3

    def _dilation_error(self) -> str:
        return f"Conv3DTranspose: dilation_rate must be 1, got {list(self.dilation_rate)}"

    def call(self, inputs, training=False):
        out_shape = (inputs.shape[0],) + self._spatial_out(inputs.shape) + (self.filters,)
        out = tw.conv3d_transpose(inputs, self.kernel, out_shape, self.strides, self.padding)
        return self._finish(out)

    def get_config(self):
        config = super().get_config()
        config.pop("dilation_rate")  # as TF.js's Conv3DTranspose.getConfig
        return config


class _Pooling3D(_Pooling):
    rank = 3

    def _pool(self, x):
        fn = tw.max_pool3d if self.mode == "max" else tw.avg_pool3d
        return fn(x, self.pool_size, self.strides, self.padding)


class MaxPooling3D(_Pooling3D):
    """Max over ``pool_size`` windows of ``(batch, depth, height, width, channels)`` (TF.js
    ``tf.layers.maxPooling3d``); padding cells never win.

    Args:
        pool_size: The window, an int or ``(pd, ph, pw)`` (default ``(2, 2, 2)``).
        strides: The stride, an int or ``(sd, sh, sw)`` (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.max_pooling3d(pool_size=2)(tw.ones([1, 4, 4, 6, 3])).shape
    (1, 2, 2, 3, 3)
    """

    mode = "max"


class AveragePooling3D(_Pooling3D):
    """Mean over ``pool_size`` windows of ``(batch, depth, height, width, channels)``;
    ``"same"`` padding cells are left out of the count (TF.js ``tf.layers.averagePooling3d``).

    Args:
        pool_size: The window, an int or ``(pd, ph, pw)`` (default ``(2, 2, 2)``).
        strides: The stride, an int or ``(sd, sh, sw)`` (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.average_pooling3d(pool_size=2, padding="same")(tw.ones([1, 3, 4, 5, 2])).shape
    (1, 2, 2, 3, 2)
    """

    mode = "avg"
