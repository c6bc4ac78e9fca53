"""Cropping2D: trim rows and columns off ``(batch, height, width, channels)`` images (TF.js
``tf.layers.cropping2D``)."""

from __future__ import annotations

import numbers
from typing import Any

import engine as tw
from engine.dtypes import as_int
from layers.base import Layer
from layers.convolutional import _data_format


def _pair(q: Any, what: str) -> tuple[int, int]:
    if isinstance(q, numbers.Number):
        n = as_int(q, what, 0)
        return (n, n)
    if not isinstance(q, (list, tuple)) or len(q) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {q!r}")
    return (as_int(q[0], what, 0), as_int(q[1], what, 0))


class Cropping2D(Layer):
    """Remove rows from the top and bottom and columns from the left and right of
    ``(batch, height, width, channels)`` images (TF.js ``tf.layers.cropping2D``).

    Args:
        cropping: ``n`` (every side), ``(rows, cols)`` (symmetric) or
            ``((top, bottom), (left, right))``; each a non-negative int.
        data_format: ``"channels_last"`` (``None`` and TF.js's ``"channelsLast"`` mean the
            same); ``"channels_first"`` raises ``ValueError``.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: A malformed or negative ``cropping``; at call time, a crop that leaves no
            rows or columns.

    Example:

    >>> layers.cropping2d(cropping=((1, 0), (1, 2)))(tw.ones([1, 4, 5, 2])).shape
    (1, 3, 2, 2)
    """

    ndim = 4

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs):
        if isinstance(cropping, numbers.Number):
            crop = (_pair(cropping, "Cropping2D: cropping"),) * 2
        else:
            if not isinstance(cropping, (list, tuple)) or len(cropping) != 2:
                raise ValueError(
                    "Cropping2D: cropping must be an int, (rows, cols) or "
                    f"((top, bottom), (left, right)), got {cropping!r}"
                )
            crop = tuple(_pair(q, "Cropping2D: cropping") for q in cropping)
        fmt = _data_format(data_format)
        super().__init__(**kwargs)
        self.cropping: tuple[tuple[int, int], tuple[int, int]] = crop  # type: ignore[assignment]
        self.data_format = fmt

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        for axis, (a, b) in zip((1, 2), self.cropping, strict=True):
            size = tuple(input_shape)[axis]
            if size is not None and a + b >= size:
                raise ValueError(
                    f"Cropping2D {self.name!r}: cropping {a} + {b} leaves nothing of axis "
                    f"{axis} (size {size}) of the input of shape {tuple(input_shape)}"
                )

    def call(self, inputs, training=False):
        _, h, w, _ = inputs.shape
        (t, bo), (le, r) = self.cropping
        return tw.slice(inputs, [0, t, le, 0], [-1, h - t - bo, w - le - r, -1])

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        (t, bo), (le, r) = self.cropping
        return (b, None if h is None else h - t - bo, None if w is None else w - le - r, c)

    def get_config(self):
        return {
            **super().get_config(),
            "cropping": [list(p) for p in self.cropping],
            "data_format": self.data_format,
        }
