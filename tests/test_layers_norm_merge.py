"""Normalisation and merge layers, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from layer_harness import make_input, run_layer_test

import engine as tw
import layers


def _bn(x, mean, var, gamma, beta, eps=1e-3):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def test_batch_normalization_inference(backend):
    def ref(x, w):
        gamma, beta, mm, mv = w
        return _bn(x, mm, mv, gamma, beta)

    layer = run_layer_test(
        layers.BatchNormalization,
        {
            "gamma_initializer": "randomNormal",
            "beta_initializer": "randomNormal",
            "moving_variance_initializer": {"class_name": "Constant", "config": {"value": 2.0}},
        },
        (4, 3),
        (4, 3),
        expected_trainable=2,
        expected_non_trainable=2,
        reference=ref,
    )
    assert [w.name.split("/")[-1] for w in layer.weights] == [
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ]


def test_batch_normalization_training(backend):
    x = make_input((6, 2, 3)) * 2 + 1
    layer = run_layer_test(
        layers.BatchNormalization,
        {"momentum": 0.9},
        (6, 2, 3),
        (6, 2, 3),
        expected_trainable=2,
        expected_non_trainable=2,
        training=True,
        input_data=x,
        reference=lambda x, w: _bn(x, x.mean((0, 1)), x.var((0, 1)), 1, 0),
    )
    bn = layers.BatchNormalization(momentum=0.9)
    bn(x, training=True)
    gamma, beta, mm, mv = bn.get_weights()
    np.testing.assert_allclose(mm, 0.1 * x.mean((0, 1)), rtol=1e-4)
    np.testing.assert_allclose(mv, 0.9 + 0.1 * x.var((0, 1)), rtol=1e-4)
    out = bn(x, training=False).numpy()  # inference uses the moving statistics
    np.testing.assert_allclose(out, _bn(x, mm, mv, 1, 0), rtol=1e-4, atol=1e-5)
    assert layer.get_config()["momentum"] == 0.9 and layer.get_config()["epsilon"] == 1e-3


def test_batch_normalization_axis(backend):
    run_layer_test(
        layers.BatchNormalization,
        {"axis": 1},
        (4, 2, 3),
        (4, 2, 3),
        expected_trainable=2,
        expected_non_trainable=2,
        training=True,
        reference=lambda x, w: _bn(
            x, x.mean((0, 2), keepdims=True), x.var((0, 2), keepdims=True), 1, 0
        ),
    )


def test_layer_normalization(backend):
    def ref(x, w):
        m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return _bn(x, m, v, w[0], w[1])

    run_layer_test(
        layers.LayerNormalization,
        {"gamma_initializer": "randomNormal"},
        (3, 2, 4),
        (3, 2, 4),
        expected_trainable=2,
        reference=ref,
    )


@pytest.mark.parametrize(
    "cls,fn",
    [
        (layers.Add, lambda a, b, c: a + b + c),
        (layers.Multiply, lambda a, b, c: a * b * c),
        (layers.Average, lambda a, b, c: (a + b + c) / 3),
        (layers.Maximum, lambda a, b, c: np.maximum(np.maximum(a, b), c)),
        (layers.Minimum, lambda a, b, c: np.minimum(np.minimum(a, b), c)),
    ],
)
def test_merge(backend, cls, fn):
    run_layer_test(
        cls,
        {},
        [(2, 3), (2, 3), (2, 3)],
        (2, 3),
        expected_trainable=0,
        reference=lambda xs, w: fn(*xs),
    )


def test_subtract_concatenate(backend):
    run_layer_test(
        layers.Subtract, {}, [(2, 3), (2, 3)], (2, 3), reference=lambda xs, w: xs[0] - xs[1]
    )
    run_layer_test(
        layers.Concatenate,
        {},
        [(2, 3), (2, 1)],
        (2, 4),
        reference=lambda xs, w: np.concatenate(xs, -1),
    )
    run_layer_test(
        layers.Concatenate,
        {"axis": 1},
        [(2, 1, 3), (2, 2, 3)],
        (2, 3, 3),
        reference=lambda xs, w: np.concatenate(xs, 1),
    )


def test_merge_errors(backend):
    with pytest.raises(ValueError, match="one shape"):
        layers.Add()([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="at least 2"):
        layers.Add()(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="match except on axis"):
        layers.Concatenate()([np.zeros((2, 3, 1)), np.zeros((2, 4, 1))])
    a, b = layers.input(shape=[3]), layers.input(shape=[4])
    with pytest.raises(ValueError, match="one shape"):
        layers.add([a, b])
    tw.scalar(0.0)
