"""The ``train_cnn`` workload: a small CNN's training epoch on MNIST, and its references.

Model (channels last): Conv2D(16 filters, 3x3, valid, relu) -> MaxPooling2D(2) -> Flatten ->
Dense(10, softmax); Adam (lr 0.001, TF.js defaults), categorical crossentropy, batch 32, no
shuffle. ``NumpyCNN`` is the same epoch written by hand in numpy (forward, backward, Adam): in
float64 it is the oracle every row is checked against, in float32 the ``numpy-ref`` row.

Samples: the first 8,192 MNIST test images (``--quick``: 1,024). At batch 32 that is 256 steps:
about 0.5-1 s on the ``cpu`` backend and 2-3 s on the ``numpy`` backend on a 2-core machine,
long enough for a stable median, short enough for a few repeats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.mnist_numpy import EPS, NumpyModel, softmax_crossentropy
from bench.train import TrainWorkload

FILTERS, KERNEL, POOL, SIDE, CLASSES = 16, 3, 2, 28, 10
CONV_SIDE = SIDE - KERNEL + 1  # 26
POOL_SIDE = CONV_SIDE // POOL  # 13
FLAT = POOL_SIDE * POOL_SIDE * FILTERS  # 2704
SAMPLES, QUICK_SAMPLES = 8192, 1024


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """Glorot-uniform kernels and zero biases: ``[K (3,3,1,16), b (16,), W (2704,10), c (10,)]``."""
    rng = np.random.default_rng(seed)

    def glorot(shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    k2 = KERNEL * KERNEL
    return [
        glorot((KERNEL, KERNEL, 1, FILTERS), k2, k2 * FILTERS),
        np.zeros(FILTERS, np.float32),
        glorot((FLAT, CLASSES), FLAT, CLASSES),
        np.zeros(CLASSES, np.float32),
    ]


def epoch_flops(n: int) -> float:
    """Multiply-add FLOPs of one epoch on ``n`` samples: the convolution forward and filter
    gradient, the dense forward, weight gradient and input gradient."""
    conv = 2 * CONV_SIDE * CONV_SIDE * FILTERS * KERNEL * KERNEL
    dense = 2 * FLAT * CLASSES
    return float(n * (2 * conv + 3 * dense))


def _windows(x: np.ndarray) -> np.ndarray:
    """(B, 26, 26, 3, 3) patches of (B, 28, 28) images."""
    return np.lib.stride_tricks.sliding_window_view(x, (KERNEL, KERNEL), axis=(1, 2))


def _first_max(blocks: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """Mask of each 2x2 window's first cell (row-major) equal to its max, shaped as ``blocks``
    (B, 13, 2, 13, 2, C): the max-pool gradient rule of TF.js, TensorFlow, PyTorch and the
    engine (one cell per window gets the window's gradient)."""
    bsz, a, _, b, _, ch = blocks.shape
    eq = (blocks == pooled[:, :, None, :, None, :]).transpose(0, 1, 3, 5, 2, 4)
    eq = eq.reshape(bsz, a, b, ch, POOL * POOL)
    first = eq & (np.cumsum(eq, axis=-1) == 1)
    return first.reshape(bsz, a, b, ch, POOL, POOL).transpose(0, 1, 4, 2, 5, 3)


class NumpyCNN(NumpyModel):
    """The CNN's forward and backward written out by hand (state, Adam, epoch: NumpyModel)."""

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One batch: forward, backward, Adam. ``x`` (B, 28, 28, 1). Returns the mean loss."""
        k, b, w, c = self.w
        bsz = x.shape[0]
        win = _windows(x[..., 0])  # (B, 26, 26, 3, 3)
        kk = k[:, :, 0, :]  # (3, 3, 16)
        a = np.einsum("bhwij,ijo->bhwo", win, kk) + b
        h = np.maximum(a, 0)
        blocks = h.reshape(bsz, POOL_SIDE, POOL, POOL_SIDE, POOL, FILTERS)
        pooled = blocks.max(axis=(2, 4))  # (B, 13, 13, 16)
        flat = pooled.reshape(bsz, FLAT)
        loss, dz = softmax_crossentropy(flat @ w + c, y, self.dtype.type(EPS))
        g_w = flat.T @ dz
        g_c = dz.sum(axis=0)
        dpool = (dz @ w.T).reshape(bsz, POOL_SIDE, 1, POOL_SIDE, 1, FILTERS)
        dh = (_first_max(blocks, pooled) * dpool).reshape(bsz, CONV_SIDE, CONV_SIDE, FILTERS)
        da = dh * (a > 0)
        g_k = np.einsum("bhwij,bhwo->ijo", win, da)[:, :, None, :]
        g_b = da.sum(axis=(0, 1, 2))
        self._adam([g_k, g_b, g_w, g_c])
        return loss


class CnnTrainWorkload(TrainWorkload):
    """One epoch of the small CNN; the checks of :class:`bench.train.TrainWorkload` (weights
    after ``CHECK_STEPS`` batches within ``tolerance`` of the float64 hand-written epoch, the
    full epoch's loss and weights within ``EPOCH_TOLERANCE``)."""

    def __init__(self, quick: bool, data_dir: str | None = None, batch_size: int = 32):
        super().__init__(batch_size, QUICK_SAMPLES if quick else SAMPLES, data_dir)
        self.name = "train_cnn"

    @property
    def description(self) -> str:
        x, _, source = self.data()
        return (
            f"fit 1 epoch, {x.shape[0]:,} samples, batch {self.batch_size}, conv 3x3x16 relu, "
            f"maxpool 2, dense 10 softmax, adam ({source})"
        )

    @property
    def flops(self) -> float:
        return epoch_flops(self.data()[0].shape[0])

    def data(self) -> tuple[np.ndarray, np.ndarray, str]:
        if "data" not in self._cache:
            x, y, source = super().data()
            self._cache["data"] = (x.reshape(-1, SIDE, SIDE, 1), y, source)
        return self._cache["data"]

    reference = NumpyCNN
    peer_epoch = "prepare_cnn_epoch"

    @staticmethod
    def initial_weights() -> list[np.ndarray]:
        return initial_weights(0)

    def model_layers(self, layers: Any) -> list[Any]:
        return [
            layers.conv2d(
                filters=FILTERS, kernel_size=KERNEL, activation="relu", input_shape=[SIDE, SIDE, 1]
            ),
            layers.max_pooling2d(pool_size=POOL),
            layers.flatten(),
            layers.dense(units=CLASSES, activation="softmax"),
        ]
