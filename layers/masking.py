"""The ``Masking`` layer: marks padded time steps so that later layers skip them (Keras/TF.js
masking).

A mask is a boolean (batch, steps) tensor that flows with the data through a model: layers that
support masking pass it on (``Dense``, ``Activation``, ``Dropout``, ``TimeDistributed``, the
recurrent layers with ``return_sequences=True``, ...), recurrent layers use it (a masked step
carries the states over and repeats the previous output) and global 1-D pooling leaves masked
steps out. ``Embedding(mask_zero=True)`` starts a mask too.
"""

from __future__ import annotations

from typing import Any

import engine as tw
from engine import Tensor
from layers.base import Layer


class Masking(Layer):
    """Mask the time steps whose features all equal ``mask_value`` (TF.js ``tf.layers.masking``).

    For input (batch, steps, features) the mask is ``any(input != mask_value, axis=-1)``, a
    (batch, steps) boolean tensor passed on to the next layers (a recurrent layer then skips
    those steps); the output is the input with the masked steps set to zero.

    Args:
        mask_value: The padding value (default ``0.0``).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        TypeError: ``mask_value`` is not a number.

    Example:

    >>> x = tw.tensor([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]])
    >>> masking = layers.masking(mask_value=0.0)
    >>> masking(x).tolist()
    [[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]]
    >>> masking.compute_mask(x).tolist()
    [[True, False, True]]

    In a model, the LSTM below ignores the padded (all-zero) steps:

    >>> model = layers.sequential([
    ...     layers.masking(mask_value=0.0, input_shape=[3, 2]),
    ...     layers.lstm(units=4),
    ... ])
    >>> model.predict(x).shape
    (1, 4)
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise TypeError(f"Masking: mask_value must be a number, got {mask_value!r}")
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def check_input_shape(self, input_shape: Any) -> None:
        super().check_input_shape(input_shape)
        if isinstance(input_shape, list) or len(tuple(input_shape)) < 2:
            raise self._bad_input(input_shape, "rank >= 2 (batch, ..., features)")

    def _keep(self, inputs: Tensor, keepdims: bool) -> Tensor:
        return tw.any(tw.not_equal(inputs, self.mask_value), -1, keepdims=keepdims)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        return tw.mul(inputs, tw.cast(self._keep(inputs, True), inputs.dtype))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor:
        """The mask ``any(inputs != mask_value, axis=-1)``; an incoming mask is replaced.

        Args:
            inputs: The layer's input.
            mask: The incoming mask (ignored, as Keras/TF.js).

        Returns:
            A boolean tensor of ``inputs``'s shape without the last axis.
        """
        if isinstance(inputs, list):
            inputs = inputs[0]
        return self._keep(inputs, False)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}
