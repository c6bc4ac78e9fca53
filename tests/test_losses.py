"""Losses: the fourteen formulas of tfjs-compat.md §2 against numpy (float64), names and get()."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
from layers import losses

EPS = 1e-7


def _softplus(x):
    return np.logaddexp(0.0, x)


def _l2n(x):
    return x / np.sqrt(np.maximum(np.sum(x * x, -1, keepdims=True), EPS))


def _cce(t, p):
    p = p / p.sum(-1, keepdims=True)
    p = np.clip(p, EPS, 1 - EPS)
    return -np.sum(t * np.log(p), -1)


def _bce(t, p):
    # the clip bounds as float32 holds them (1 - 1e-7 rounds to 1 - 2**-23), as on every backend
    y = np.clip(p, np.float32(EPS), np.float32(1 - EPS)).astype(np.float64)
    z = np.log(y / (1 - y))
    return np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))), -1)


REFS = {
    "meanSquaredError": lambda t, p: np.mean((p - t) ** 2, -1),
    "meanAbsoluteError": lambda t, p: np.mean(np.abs(p - t), -1),
    "meanAbsolutePercentageError": lambda t, p: (
        100 * np.mean(np.abs((t - p) / np.clip(np.abs(t), EPS, None)), -1)
    ),
    "meanSquaredLogarithmicError": lambda t, p: np.mean(
        (np.log(1 + np.clip(p, EPS, None)) - np.log(1 + np.clip(t, EPS, None))) ** 2, -1
    ),
    "hinge": lambda t, p: np.mean(np.maximum(0, 1 - t * p), -1),
    "squaredHinge": lambda t, p: np.mean(np.maximum(0, 1 - t * p) ** 2, -1),
    "categoricalHinge": lambda t, p: np.maximum(0, 1 + np.max((1 - t) * p, -1) - np.sum(t * p, -1)),
    "logcosh": lambda t, p: np.mean((p - t) + _softplus(-2 * (p - t)) - np.log(2), -1),
    "categoricalCrossentropy": _cce,
    "binaryCrossentropy": _bce,
    "kullbackLeiblerDivergence": lambda t, p: np.sum(
        t * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1)), -1
    ),
    "poisson": lambda t, p: np.mean(p - t * np.log(p + EPS), -1),
    "cosineProximity": lambda t, p: -np.sum(_l2n(t) * _l2n(p), -1),
}


def _data(name, rng, shape=(6, 5)):
    if name in ("categoricalCrossentropy", "kullbackLeiblerDivergence", "categoricalHinge"):
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        p = rng.uniform(0.01, 1.0, size=shape)
        p.flat[0] = 0.0  # exercises the eps clipping
        return t, p
    if name in ("binaryCrossentropy", "poisson"):
        t = rng.integers(0, 2, size=shape).astype(np.float64)
        p = rng.uniform(0.0, 1.0, size=shape)
        p.flat[0], p.flat[1] = 0.0, 1.0
        return t, p
    if name in ("hinge", "squaredHinge"):
        return rng.choice([-1.0, 1.0], size=shape), rng.normal(size=shape)
    t = rng.normal(size=shape)
    if name == "meanAbsolutePercentageError":
        t.flat[0] = 0.0
    if name == "meanSquaredLogarithmicError":
        t = np.abs(t)
    return t, rng.normal(size=shape)


@pytest.mark.parametrize("name", sorted(REFS))
def test_loss_matches_formula(backend, name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    for shape in ((6, 5), (2, 3, 4)):
        t, p = _data(name, rng, shape)
        t, p = t.astype(np.float32), p.astype(np.float32)
        got = losses.get(name)(tw.tensor(t), tw.tensor(p))
        exp = REFS[name](t.astype(np.float64), p.astype(np.float64))
        assert got.shape == exp.shape
        np.testing.assert_allclose(got.numpy(), exp, rtol=2e-4, atol=2e-5)


def test_sparse_categorical_crossentropy(backend):
    rng = np.random.default_rng(5)
    p = rng.uniform(0.01, 1, size=(7, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=7)
    exp = _cce(np.eye(4)[labels], p.astype(np.float64))
    for lab in (labels, labels.reshape(7, 1), labels.astype(np.float32)):
        got = losses.sparse_categorical_crossentropy(
            tw.tensor(lab.astype(np.float32)), tw.tensor(p)
        )
        np.testing.assert_allclose(got.numpy(), exp, rtol=1e-4)
    with pytest.raises(ValueError, match="labels"):
        losses.sparse_categorical_crossentropy(tw.tensor(np.zeros(6, np.float32)), tw.tensor(p))


def test_from_logits(backend):
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(5, 3)).astype(np.float32)
    t = np.eye(3)[rng.integers(0, 3, 5)].astype(np.float32)
    sm = np.exp(logits - logits.max(-1, keepdims=True))
    sm = sm / sm.sum(-1, keepdims=True)
    got = losses.categorical_crossentropy(tw.tensor(t), tw.tensor(logits), from_logits=True)
    np.testing.assert_allclose(got.numpy(), _cce(t, sm), rtol=1e-4)
    tb = rng.integers(0, 2, size=(5, 3)).astype(np.float32)
    got = losses.binary_crossentropy(tw.tensor(tb), tw.tensor(logits), from_logits=True)
    exp = np.mean(np.maximum(logits, 0) - logits * tb + np.log1p(np.exp(-np.abs(logits))), -1)
    np.testing.assert_allclose(got.numpy(), exp, rtol=1e-4)


def test_names_aliases_and_spellings():
    pairs = {
        "mse": "meanSquaredError",
        "MSE": "meanSquaredError",
        "mean_squared_error": "meanSquaredError",
        "MeanSquaredError": "meanSquaredError",
        "mae": "meanAbsoluteError",
        "mape": "meanAbsolutePercentageError",
        "msle": "meanSquaredLogarithmicError",
        "kld": "kullbackLeiblerDivergence",
        "kullback_leibler_divergence": "kullbackLeiblerDivergence",
        "cosine": "cosineProximity",
        "cosine_proximity": "cosineProximity",
        "categorical_crossentropy": "categoricalCrossentropy",
        "sparse_categorical_crossentropy": "sparseCategoricalCrossentropy",
        "binary_crossentropy": "binaryCrossentropy",
        "squared_hinge": "squaredHinge",
        "categorical_hinge": "categoricalHinge",
        "log_cosh": "logcosh",
    }
    for alias, name in pairs.items():
        assert losses.get(alias) is losses.LOSSES[name], alias
    assert len(losses.LOSSES) == 14
    assert losses.mse is losses.mean_squared_error
    assert losses.categoricalCrossentropy is losses.categorical_crossentropy

    def custom(t, p):
        return tw.sum(p, -1)

    assert losses.get(custom) is custom
    with pytest.raises(ValueError) as e:
        losses.get("meanSquareError")
    assert "mean_squared_error" in str(e.value) and "mse" in str(e.value)
    with pytest.raises(TypeError):
        losses.get(3)
