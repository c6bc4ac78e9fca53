"""Training-time noise layers beside ``Dropout``/``GaussianNoise``/``AlphaDropout``:
GaussianDropout and SpatialDropout1D (TF.js ``noise.ts`` and ``core.ts``)."""

from __future__ import annotations

import math
from typing import Any

import engine as tw
from engine.dtypes import as_int
from layers.advanced_activations import as_float
from layers.base import Layer


def _rate(value: Any, where: str) -> float:
    rate = as_float(value, f"{where}: rate")
    if not 0 <= rate < 1:
        raise ValueError(f"{where}: rate must be in [0, 1), got {value!r}")
    return rate


class GaussianDropout(Layer):
    """During training, multiply the input by normal noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` (TF.js ``tf.layers.gaussianDropout``).

    Inference (``predict``, ``training=False``) passes the input through unchanged.

    Args:
        rate: The drop probability the noise stands for, in ``[0, 1)``; 0 is the identity.
        seed: A seed for the noise (default the global sequence); kept in the config.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``rate`` outside ``[0, 1)`` (``TypeError`` for a non-number).

    Example:

    >>> g = layers.gaussian_dropout(rate=0.2)
    >>> g(tw.ones([1, 3])).tolist()  # inference: unchanged
    [[1.0, 1.0, 1.0]]
    """

    supports_masking = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any):
        rate = _rate(rate, "GaussianDropout")
        seed = as_int(seed, "GaussianDropout: seed", allow_none=True)
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1 - self.rate))
        return tw.mul(inputs, tw.random_normal(inputs.shape, 1.0, stddev, seed=self.seed))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class SpatialDropout1D(Layer):
    """Dropout of whole channels of ``(batch, steps, channels)`` sequences: during training each
    (sample, channel) pair is zeroed on every step at once with probability ``rate`` and the
    kept ones are scaled by ``1 / (1 - rate)`` (TF.js ``tf.layers.spatialDropout1d``).

    Inference passes the input through unchanged.

    Args:
        rate: The drop probability, in ``[0, 1)``.
        seed: A seed for the masks (default the global sequence).
        noise_shape: Only ``None``: the mask's shape is fixed; the key exists because TF.js and
            Keras configs carry it (this layer extends Dropout there).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``rate`` outside ``[0, 1)`` or a ``noise_shape``; an input that is not
            rank 3.

    Example:

    >>> s = layers.spatial_dropout1d(rate=0.5)
    >>> s(tw.ones([1, 2, 3])).tolist()  # inference: unchanged
    [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]
    """

    ndim = 3
    supports_masking = True

    def __init__(
        self, rate: float, seed: int | None = None, noise_shape: None = None, **kwargs: Any
    ):
        rate = _rate(rate, "SpatialDropout1D")
        seed = as_int(seed, "SpatialDropout1D: seed", allow_none=True)
        if noise_shape is not None:
            raise ValueError(
                "SpatialDropout1D: noise_shape is always (batch, 1, channels); only None is "
                f"accepted (TF.js and Keras write it in configs), got {noise_shape!r}"
            )
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        b, _, c = inputs.shape
        return tw.dropout(inputs, self.rate, (b, 1, c), self.seed)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": None,
            "seed": self.seed,
        }
