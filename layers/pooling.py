"""Pooling layers (channels last): max / average pooling 1-D and 2-D, and global pooling."""

from __future__ import annotations

from typing import Any

import engine as tw
from layers.base import Layer
from layers.convolutional import _data_format
from layers.utils import as_int_tuple, check_padding, conv_out_length


class _Pooling(Layer):
    rank = 2
    mode = "max"

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        n = self.rank
        self.pool_size = as_int_tuple(pool_size, n, "pool_size")
        self.strides = self.pool_size if strides is None else as_int_tuple(strides, n, "strides")
        self.padding = check_padding(padding)
        self.data_format = _data_format(data_format)
        self.ndim = n + 2

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        for s, k in zip(tuple(input_shape)[1:-1], self.pool_size, strict=False):
            if s is not None and self.padding == "valid" and s < k:
                raise self._bad_input(
                    tuple(input_shape), f"spatial sizes of at least pool_size {self.pool_size}"
                )

    def _pool(self, x):
        fn = tw.max_pool if self.mode == "max" else tw.avg_pool
        return fn(x, self.pool_size, self.strides, self.padding)

    def call(self, inputs, training=False):
        if self.rank == 1:
            x = tw.expand_dims(inputs, 1)
            fn = tw.max_pool if self.mode == "max" else tw.avg_pool
            out = fn(x, (1, self.pool_size[0]), (1, self.strides[0]), self.padding)
            return tw.squeeze(out, 1)
        return self._pool(inputs)

    def compute_output_shape(self, input_shape):
        spatial = tuple(
            conv_out_length(s, k, st, 1, self.padding)
            for s, k, st in zip(input_shape[1:-1], self.pool_size, self.strides, strict=False)
        )
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps of ``(batch, steps, channels)`` (TF.js
    ``tf.layers.maxPooling1d``).

    Args:
        pool_size: The window, an int.
        strides: The stride, an int (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.max_pooling1d(pool_size=3)(tw.ones([1, 6, 2])).shape
    (1, 2, 2)
    """

    rank, mode = 1, "max"


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps of ``(batch, steps, channels)`` (TF.js
    ``tf.layers.averagePooling1d``).

    Args:
        pool_size: The window, an int.
        strides: The stride, an int (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.average_pooling1d(pool_size=2)(tw.ones([1, 6, 3])).shape
    (1, 3, 3)
    """

    rank, mode = 1, "avg"


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of ``(batch, height, width, channels)`` (TF.js
    ``tf.layers.maxPooling2d``).

    Args:
        pool_size: The window, an int or ``(ph, pw)``.
        strides: The stride, an int or ``(ph, pw)`` (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.max_pooling2d(pool_size=2, strides=2)(tw.ones([1, 28, 28, 8])).shape
    (1, 14, 14, 8)
    """

    rank, mode = 2, "max"


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of ``(batch, height, width, channels)``; ``"same"``
    padding cells are left out of the count (TF.js ``tf.layers.averagePooling2d``).

    Args:
        pool_size: The window, an int or ``(ph, pw)``.
        strides: The stride, an int or ``(ph, pw)`` (default ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.average_pooling2d(pool_size=2)(tw.ones([1, 4, 4, 3])).shape
    (1, 2, 2, 3)
    """

    rank, mode = 2, "avg"


class _GlobalPooling(Layer):
    rank = 2
    mode = "avg"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)
        self.keepdims = bool(keepdims)
        self.ndim = self.rank + 2

    def call(self, inputs, training=False, mask=None):
        axes = tuple(range(1, self.rank + 1))
        if mask is not None and self.rank == 1:  # leave masked steps out (Keras)
            m = tw.expand_dims(tw.cast(mask, "float32"), -1)
            if self.mode == "avg":
                total = tw.sum(tw.mul(inputs, m), 1, keepdims=self.keepdims)
                return tw.div(total, tw.maximum(tw.sum(m, 1, keepdims=self.keepdims), 1.0))
            inputs = tw.where(tw.cast(m, "bool"), inputs, tw.fill(inputs.shape, -3.4e38))
        fn = tw.mean if self.mode == "avg" else tw.max
        return fn(inputs, axes, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.keepdims:
            config["keepdims"] = True
        return config


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps of ``(batch, steps, channels)`` (TF.js ``globalAveragePooling1d``).

    Args:
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        keepdims: Keep the pooled axes with size 1.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.global_average_pooling1d()(tw.ones([2, 5, 3])).shape
    (2, 3)
    """

    rank, mode = 1, "avg"


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps of ``(batch, steps, channels)`` (TF.js ``globalMaxPooling1d``).

    Args:
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        keepdims: Keep the pooled axes with size 1.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.global_max_pooling1d(keepdims=True)(tw.ones([2, 5, 3])).shape
    (2, 1, 3)
    """

    rank, mode = 1, "max"


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width of ``(batch, height, width, channels)`` (TF.js
    ``globalAveragePooling2d``).

    Args:
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        keepdims: Keep the pooled axes with size 1.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.global_average_pooling2d()(tw.ones([2, 4, 4, 3])).shape
    (2, 3)
    """

    rank, mode = 2, "avg"


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width of ``(batch, height, width, channels)`` (TF.js
    ``globalMaxPooling2d``).

    Args:
        data_format: ``"channels_last"`` (``None`` means the same); ``"channels_first"`` raises
            ``ValueError``.
        keepdims: Keep the pooled axes with size 1.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Example:

    >>> layers.global_max_pooling2d()(tw.ones([2, 4, 4, 3])).shape
    (2, 3)
    """

    rank, mode = 2, "max"
