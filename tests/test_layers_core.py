"""Core layers, activations, initialisers, regularisers and constraints, on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from layer_harness import make_input, run_layer_test

import engine as tw
import layers
from layers import activations, constraints, initializers, regularizers

SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


_ERF = np.vectorize(math.erf)
NP_ACTS = {
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0))),
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "linear": lambda x: x,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hardSigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "tanh": np.tanh,
    "softmax": _softmax,
    "logSoftmax": lambda x: np.log(_softmax(x)),
    "gelu": lambda x: 0.5 * x * (1 + _ERF(x / np.sqrt(2))),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "swish": lambda x: x / (1 + np.exp(-x)),
}


def test_dense(backend):
    run_layer_test(
        layers.Dense,
        {"units": 3, "activation": "tanh"},
        (4, 5),
        (4, 3),
        expected_trainable=2,
        reference=lambda x, w: np.tanh(x @ w[0] + w[1]),
    )


def test_dense_rank3_no_bias(backend):
    run_layer_test(
        layers.Dense,
        {"units": 2, "use_bias": False},
        (2, 3, 4),
        (2, 3, 2),
        expected_trainable=1,
        reference=lambda x, w: x @ w[0],
    )


@pytest.mark.parametrize("name", sorted(NP_ACTS))
def test_activation(backend, name):
    x = make_input((3, 4))
    x[np.abs(x) < 0.05] = 0.3  # keep away from kinks for the finite differences
    run_layer_test(
        layers.Activation,
        {"activation": name},
        (3, 4),
        (3, 4),
        expected_trainable=0,
        reference=lambda x, w: NP_ACTS[name](x.astype(np.float64)),
        input_data=x,
    )


def test_activation_snake_case_and_errors(backend):
    y = layers.activation(activation="hard_sigmoid")(np.array([[-3.0, 0.0, 1.0]]))
    np.testing.assert_allclose(y.numpy(), [[0.0, 0.5, 0.7]], atol=1e-6)
    assert activations.get("log_softmax") is activations.get("logSoftmax")
    with pytest.raises(ValueError, match="hardSigmoid"):
        layers.Activation("nope")


def test_dropout(backend):
    run_layer_test(
        layers.Dropout,
        {"rate": 0.5},
        (3, 4),
        (3, 4),
        expected_trainable=0,
        reference=lambda x, w: x,
    )
    tw.set_seed(3)
    d = layers.Dropout(0.5)
    x = np.ones((50, 40), np.float32)
    y = d(x, training=True).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.35 < (y == 0).mean() < 0.65
    noise = layers.Dropout(0.5, noise_shape=[None, 1])(x, training=True).numpy()
    assert np.all(noise == noise[:, :1])


def test_flatten_reshape_permute_repeat(backend):
    run_layer_test(
        layers.Flatten,
        {},
        (2, 3, 4),
        (2, 12),
        expected_trainable=0,
        reference=lambda x, w: x.reshape(2, -1),
    )
    run_layer_test(
        layers.Reshape,
        {"target_shape": [-1, 2]},
        (2, 3, 4),
        (2, 6, 2),
        expected_trainable=0,
        reference=lambda x, w: x.reshape(2, 6, 2),
    )
    run_layer_test(
        layers.Permute,
        {"dims": [2, 1]},
        (2, 3, 4),
        (2, 4, 3),
        expected_trainable=0,
        reference=lambda x, w: x.transpose(0, 2, 1),
    )
    run_layer_test(
        layers.RepeatVector,
        {"n": 3},
        (2, 4),
        (2, 3, 4),
        expected_trainable=0,
        reference=lambda x, w: np.repeat(x[:, None], 3, 1),
    )


def test_embedding(backend):
    layer = run_layer_test(
        layers.Embedding,
        {"input_dim": 6, "output_dim": 3, "mask_zero": True},
        (2, 4),
        (2, 4, 3),
        expected_trainable=1,
        input_dtype="int32",
        reference=lambda x, w: w[0][x],
    )
    mask = layer.compute_mask(tw.tensor([[0, 2]], dtype="int32"))
    assert mask.numpy().tolist() == [[False, True]]


def test_gaussian_noise_and_alpha_dropout(backend):
    run_layer_test(
        layers.GaussianNoise,
        {"stddev": 0.5},
        (3, 4),
        (3, 4),
        expected_trainable=0,
        reference=lambda x, w: x,
    )
    run_layer_test(
        layers.AlphaDropout,
        {"rate": 0.3},
        (3, 4),
        (3, 4),
        expected_trainable=0,
        reference=lambda x, w: x,
    )
    x = np.zeros((200, 50), np.float32)
    noisy = layers.GaussianNoise(0.5)(x, training=True).numpy()
    assert 0.4 < noisy.std() < 0.6
    ad = layers.AlphaDropout(0.2)(make_input((400, 50)), training=True).numpy()
    assert (
        abs(ad.mean()) < 0.1 and 0.85 < ad.std() < 1.15
    )  # self-normalising: mean 0, variance 1 kept


def test_wrong_input_errors(backend):
    d = layers.Dense(2)
    d(np.zeros((1, 3), np.float32))
    w = d.get_weights()
    with pytest.raises(ValueError, match="axis -1 of size 3"):
        d(np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="rank >= 2"):
        layers.Dense(2)(np.zeros((3,), np.float32))
    with pytest.raises(ValueError, match="cannot reshape"):
        layers.Reshape([5])(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="unknown argument"):
        layers.Dense(2, kernel_init="zeros")
    np.testing.assert_array_equal(d.get_weights()[0], w[0])


def test_set_weights_checks_before_changing(backend):
    d = layers.Dense(2, input_shape=[3])
    d(np.zeros((1, 3), np.float32))
    before = d.get_weights()
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        d.set_weights([np.ones((3, 2)), np.ones((3,))])
    with pytest.raises(ValueError, match="expected 2 arrays"):
        d.set_weights([np.ones((3, 2))])
    np.testing.assert_array_equal(d.get_weights()[0], before[0])
    d.set_weights([np.ones((3, 2)), np.ones(2)])
    np.testing.assert_array_equal(d.get_weights()[0], np.ones((3, 2)))


def test_default_names_unique():
    a, b = layers.Dense(1), layers.Dense(1)
    assert a.name.startswith("dense_Dense") and a.name != b.name
    assert layers.Conv2D(1, 1).name.startswith("conv2d_Conv2D")


def test_trainable_flag(backend):
    d = layers.Dense(2)
    d(np.zeros((1, 3), np.float32))
    d.trainable = False
    assert d.trainable_weights == [] and len(d.non_trainable_weights) == 2
    assert d.get_config()["trainable"] is False
    d.trainable = True
    assert len(d.trainable_weights) == 2


# --- initialisers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,shape,check",
    [
        ("zeros", (3, 4), lambda a: np.all(a == 0)),
        ("ones", (3, 4), lambda a: np.all(a == 1)),
        ("identity", (4, 4), lambda a: np.array_equal(a, np.eye(4))),
        ("orthogonal", (6, 4), lambda a: np.allclose(a.T @ a, np.eye(4), atol=1e-5)),
        ("orthogonal", (4, 6), lambda a: np.allclose(a @ a.T, np.eye(4), atol=1e-5)),
        (
            "glorotNormal",
            (200, 300),
            lambda a: (
                abs(a.std() - math.sqrt(2 / 500) * 0.88) < 0.005
                and np.abs(a).max() <= 2 * math.sqrt(2 / 500) + 1e-6
            ),
        ),
        (
            "glorot_uniform",
            (200, 300),
            lambda a: (
                np.abs(a).max() <= math.sqrt(6 / 500) and abs(a.std() - math.sqrt(2 / 500)) < 0.003
            ),
        ),
        ("heNormal", (3, 3, 20, 30), lambda a: np.abs(a).max() <= 2 * math.sqrt(2 / 180) + 1e-6),
        ("heUniform", (400, 10), lambda a: np.abs(a).max() <= math.sqrt(6 / 400)),
        ("leCunNormal", (400, 10), lambda a: np.abs(a).max() <= 2 * math.sqrt(1 / 400) + 1e-6),
        ("lecun_uniform", (400, 10), lambda a: np.abs(a).max() <= math.sqrt(3 / 400)),
        ("randomNormal", (300, 100), lambda a: abs(a.std() - 0.05) < 0.002),
        ("randomUniform", (300, 100), lambda a: np.abs(a).max() <= 0.05),
        ("truncatedNormal", (300, 100), lambda a: np.abs(a).max() <= 0.1 + 1e-6),
        ("varianceScaling", (400, 10), lambda a: np.abs(a).max() <= 2 * math.sqrt(1 / 400) + 1e-6),
    ],
)
def test_initializers(backend, name, shape, check):
    a = initializers.get(name)(shape).numpy()
    assert a.shape == shape and a.dtype == np.float32
    assert check(a)


def test_initializer_config_and_errors():
    c = initializers.get({"class_name": "Constant", "config": {"value": 2.5}})
    assert np.all(c((2,)).numpy() == 2.5)
    vs = initializers.get(
        {
            "class_name": "VarianceScaling",
            "config": {"scale": 2, "mode": "fanIn", "distribution": "uniform"},
        }
    )
    assert vs.mode == "fan_in" and vs.scale == 2
    assert initializers.serialize(initializers.get("glorot_normal")) == {
        "class_name": "GlorotNormal",
        "config": {"seed": None},
    }
    assert initializers.compute_fans((3, 3, 4, 8)) == (36.0, 72.0)
    with pytest.raises(ValueError, match="glorotNormal"):
        initializers.get("glorotNormale")
    with pytest.raises(ValueError, match="glorotNormal"):
        layers.Dense(2, kernel_initializer="nope")
    tw.set_seed(7)
    a = initializers.get("glorotNormal")((3, 3)).numpy()
    tw.set_seed(7)
    assert np.array_equal(a, initializers.get("glorotNormal")((3, 3)).numpy())


# --- regularisers and constraints ---------------------------------------------------------------
def test_regularizers(backend):
    w = np.array([[1.0, -2.0], [0.5, 0.0]], np.float32)
    assert np.isclose(regularizers.l1()(tw.tensor(w)).item(), 0.01 * 3.5)
    assert np.isclose(regularizers.l2(0.1)(tw.tensor(w)).item(), 0.1 * 5.25)
    assert np.isclose(regularizers.get("l1l2")(tw.tensor(w)).item(), 0.01 * 3.5 + 0.01 * 5.25)
    d = layers.Dense(
        2,
        kernel_regularizer="l2",
        bias_regularizer={"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0}},
    )
    d(np.zeros((1, 2), np.float32))
    d.set_weights([w, np.array([1.0, -1.0])])
    losses = d.regularization_losses()
    assert len(losses) == 2
    assert np.isclose(sum(t.item() for t in losses), 0.01 * 5.25 + 0.5 * 2)
    with pytest.raises(ValueError, match="l1l2"):
        regularizers.get("l3")


def test_constraints(backend):
    w = np.array([[3.0, -0.1], [4.0, 0.2]], np.float32)
    n = np.sqrt((w**2).sum(0, keepdims=True))
    np.testing.assert_allclose(
        constraints.get("maxNorm")(tw.tensor(w)).numpy(),
        w * np.minimum(n, 2) / (n + 1e-7),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        constraints.get("unit_norm")(tw.tensor(w)).numpy(), w / (n + 1e-7), rtol=1e-5
    )
    np.testing.assert_allclose(constraints.get("nonNeg")(tw.tensor(w)).numpy(), np.maximum(w, 0))
    mm = constraints.min_max_norm(min_value=0.5, max_value=1.0, rate=0.5)
    np.testing.assert_allclose(
        mm(tw.tensor(w)).numpy(), w * (0.5 * np.clip(n, 0.5, 1) + 0.5 * n) / (n + 1e-7), rtol=1e-5
    )
    d = layers.Dense(2, kernel_constraint="nonNeg", bias_constraint=constraints.max_norm(1.0))
    d(np.zeros((1, 2), np.float32))
    d.set_weights([w, np.array([3.0, 4.0])])
    d.apply_constraints()
    assert d.get_weights()[0].min() >= 0
    np.testing.assert_allclose(np.linalg.norm(d.get_weights()[1]), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="maxNorm"):
        constraints.get("maxnorms")
