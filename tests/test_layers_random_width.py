"""RandomWidth (TF.js tf.layers.randomWidth): a random-width resize in training, identity in
inference; the resampling checked against TF.js's resize kernels written out in numpy
(test_layers_extra._resize_ref), on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from _oracle import check_grads
from layer_harness import make_input
from test_layers_extra import _resize_ref

import engine as tw
import layers


@pytest.mark.parametrize(
    "factor, width", [((0.5, 0.5), 6), ((-0.5, -0.5), 2), ((0.375, 0.375), 6), ((-1, -1), 1)]
)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_width_training_resizes(backend, factor, width, interpolation):
    # a one-point range fixes the factor: width = Math.round(4 * (1 + f)), at least 1
    # (4 * 1.375 = 5.5 rounds up to 6, as Math.round)
    x = make_input((2, 3, 4, 2))
    layer = layers.RandomWidth(factor, interpolation=interpolation, seed=3)
    out = layer(tw.tensor(x), training=True)
    assert out.shape == (2, 3, width, 2) and out.dtype == "float32"
    want = _resize_ref(x.astype(np.float64), 3, width, interpolation, False, False)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5)
    # int inputs give float32, as Resizing
    xi = np.arange(24, dtype=np.int32).reshape(1, 3, 4, 2)
    got = layer(tw.tensor(xi, dtype="int32"), training=True)
    assert got.dtype == "float32"
    np.testing.assert_allclose(
        got.numpy(), _resize_ref(xi.astype(np.float64), 3, width, interpolation, False, False),
        rtol=1e-5, atol=1e-4,
    )  # fmt: skip
    if interpolation == "bilinear":
        check_grads(lambda t: layer(t, training=True), x, eps=1e-2)


def test_random_width_symbolic_width_is_unknown():
    img = layers.input(shape=[3, 4, 2])
    assert layers.RandomWidth(0.2)(img).shape == (None, 3, None, 2)


def test_random_width_inference_is_identity_and_config(backend):
    x = make_input((2, 3, 5, 2))
    layer = layers.RandomWidth(0.4, interpolation="nearest", seed=7)
    np.testing.assert_array_equal(layer(tw.tensor(x)).numpy(), x)
    cfg = layer.get_config()
    assert (cfg["factor"], cfg["interpolation"], cfg["seed"]) == (0.4, "nearest", 7)
    clone = layers.RandomWidth.from_config(cfg)
    assert clone.get_config() == cfg
    # same seed, same sequence of widths; every width within round(5 * [0.6, 1.4])
    widths = [layer(tw.tensor(x), training=True).shape[2] for _ in range(12)]
    assert widths == [clone(tw.tensor(x), training=True).shape[2] for _ in range(12)]
    assert all(3 <= w <= 7 for w in widths) and len(set(widths)) > 1, widths
    assert layers.RandomWidth((0.1, 0.3)).get_config()["factor"] == [0.1, 0.3]


def test_random_width_errors():
    for bad in (0, -0.5, "a", True, (0.1,), (0.3, 0.1), (-1.5, 0.2), None):
        with pytest.raises(ValueError, match="RandomWidth: factor"):
            layers.RandomWidth(bad)
    with pytest.raises(ValueError, match="RandomWidth: interpolation"):
        layers.RandomWidth(0.2, interpolation="bicubic")
    with pytest.raises((TypeError, ValueError), match="RandomWidth: seed"):
        layers.RandomWidth(0.2, seed=1.5)
    with pytest.raises(ValueError):
        layers.RandomWidth(0.2)(tw.ones([3, 4, 2]), training=True)
