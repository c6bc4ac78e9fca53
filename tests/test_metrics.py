"""Metrics against numpy formulas, plus name resolution (incl. per-output 'accuracy')."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
from layers import losses, metrics


def _t(a):
    return tw.tensor(np.asarray(a, dtype=np.float32))


def test_binary_accuracy(backend):
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, size=(8, 3)).astype(np.float32)
    p = rng.uniform(size=(8, 3)).astype(np.float32)
    p[0, 0] = 0.5  # exactly the threshold counts as 0
    exp = np.mean(t == (p > 0.5), -1)
    np.testing.assert_allclose(metrics.binary_accuracy(_t(t), _t(p)).numpy(), exp)


def test_categorical_and_sparse_accuracy(backend):
    rng = np.random.default_rng(1)
    p = rng.uniform(size=(9, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=9)
    exp = (np.argmax(p, -1) == labels).astype(np.float32)
    assert 0 < exp.mean() < 1
    np.testing.assert_allclose(
        metrics.categorical_accuracy(_t(np.eye(4)[labels]), _t(p)).numpy(), exp
    )
    for lab in (labels, labels.reshape(9, 1)):
        np.testing.assert_allclose(metrics.sparse_categorical_accuracy(_t(lab), _t(p)).numpy(), exp)


def test_precision_recall(backend):
    t = np.array([[1], [1], [0], [0], [1], [0]], np.float32)
    p = np.array([[0.9], [0.2], [0.7], [0.1], [0.6], [0.5]], np.float32)
    # predicted positive (> 0.5): rows 0, 2, 4 -> tp 2, fp 1; fn 1 (row 1)
    assert metrics.precision(_t(t), _t(p)).item() == pytest.approx(2 / 3)
    assert metrics.recall(_t(t), _t(p)).item() == pytest.approx(2 / 3)
    zero = np.zeros((3, 1), np.float32)
    assert metrics.precision(_t(zero), _t(zero)).item() == 0.0
    assert metrics.recall(_t(zero), _t(zero + 0.9)).item() == 0.0


def test_top_k(backend):
    rng = np.random.default_rng(2)
    p = rng.uniform(size=(20, 6)).astype(np.float32)
    labels = rng.integers(0, 6, size=20)
    for k in (1, 2, 3, 5):
        rank = np.argsort(-p, -1)[:, :k]
        exp = np.array([labels[i] in rank[i] for i in range(20)], np.float32)
        got = metrics.top_k_categorical_accuracy(_t(np.eye(6)[labels]), _t(p), k=k)
        np.testing.assert_allclose(got.numpy(), exp)
        got = metrics.sparse_top_k_categorical_accuracy(_t(labels), _t(p), k=k)
        np.testing.assert_allclose(got.numpy(), exp)
    # k=1 equals categorical accuracy
    np.testing.assert_allclose(
        metrics.top_k_categorical_accuracy(_t(np.eye(6)[labels]), _t(p), k=1).numpy(),
        metrics.categorical_accuracy(_t(np.eye(6)[labels]), _t(p)).numpy(),
    )


def test_losses_are_metrics():
    for name in losses.LOSSES:
        assert metrics.get(name) is losses.LOSSES[name]
    for alias in ("mse", "mae", "mape", "msle", "kld", "cosine"):
        assert metrics.get(alias) is losses.get(alias)


def test_names():
    assert metrics.get("binaryAccuracy") is metrics.binary_accuracy
    assert metrics.get("categorical_accuracy") is metrics.categorical_accuracy
    assert metrics.get("sparseCategoricalAccuracy") is metrics.sparse_categorical_accuracy
    assert metrics.get("recall") is metrics.recall
    assert metrics.get("Precision") is metrics.precision
    assert metrics.get("top_k_categorical_accuracy") is metrics.top_k_categorical_accuracy
    assert metrics.get("sparseTopKCategoricalAccuracy") is metrics.sparse_top_k_categorical_accuracy
    with pytest.raises(ValueError) as e:
        metrics.get("acuracy")
    assert "accuracy" in str(e.value) and "precision" in str(e.value)


def test_accuracy_resolution():
    r = metrics.resolve_per_output
    assert r("accuracy", (None, 1), losses.mean_squared_error) is metrics.binary_accuracy
    assert r("acc", (None, 3), losses.binary_crossentropy) is metrics.binary_accuracy
    assert (
        r("acc", (None, 3), losses.sparse_categorical_crossentropy)
        is metrics.sparse_categorical_accuracy
    )
    assert r("Accuracy", (None, 3), losses.categorical_crossentropy) is metrics.categorical_accuracy
    assert r("ce", (None, 3), losses.categorical_crossentropy) is losses.categorical_crossentropy
