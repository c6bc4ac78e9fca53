"""engine.losses (TF.js's tf.losses) against numpy references written from tfjs-core's formulas.

Each reference below transcribes ``tfjs-core/src/ops/losses/<name>.ts``: the elementwise loss,
then ``computeWeightedLoss`` (weights multiplied with numpy broadcasting; NONE, SUM, MEAN with
its ``losses.size / weights.size`` factor, SUM_BY_NONZERO_WEIGHTS dividing by the nonzero
count of the weights broadcast against the losses). Every loss runs on every backend, for every
reduction, without weights, with scalar weights and with broadcast weights holding zeros.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
from engine import losses as L
from engine.losses import Reduction

REDUCTIONS = list(Reduction)


def ref_weighted(losses, weights, reduction):
    """tfjs-core compute_weighted_loss.ts, in float64."""
    losses = np.asarray(losses, np.float64)
    w = None if weights is None else np.asarray(weights, np.float64)
    weighted = losses if w is None else losses * w
    if reduction == Reduction.NONE:
        return weighted
    if reduction == Reduction.SUM:
        return weighted.sum()
    if reduction == Reduction.MEAN:
        if w is None:
            return weighted.mean()
        result = weighted.sum() / w.sum()
        factor = losses.size / w.size
        return result / factor if factor > 1 else result
    if w is None:
        return weighted.sum() / losses.size
    spread = w * np.ones(losses.shape)
    return weighted.sum() / np.count_nonzero(spread != 0)


def _unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _data(rng):
    """labels/predictions per loss (4 x 3), each loss's elementwise numpy reference."""
    p = rng.normal(size=(4, 3))
    binary = (rng.random((4, 3)) > 0.5).astype(np.float64)
    probs = rng.uniform(0.05, 0.95, size=(4, 3))
    onehot = np.eye(3)[rng.integers(0, 3, size=4)]
    return binary, p, probs, onehot


def _ref_sigmoid(z, x, ls=0.0):
    if ls > 0:
        z = z * (1 - ls) + 0.5 * ls
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def _ref_softmax(t, x, ls=0.0):
    if ls > 0:
        t = t * (1 - ls) + ls / t.shape[1]
    m = x.max(axis=-1, keepdims=True)
    logp = x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return -(t * logp).sum(axis=-1)


def _ref_huber(t, p, delta=1.0):
    e = np.abs(p - t)
    q = np.minimum(e, delta)
    return 0.5 * q**2 + delta * (e - q)


def _ref_log(t, p, eps=1e-7):
    return -t * np.log(p + eps) - (1 - t) * np.log(1 - p + eps)


def _cases(rng):
    """name -> (engine call, labels, predictions, elementwise reference, loss shape)."""
    binary, p, probs, onehot = _data(rng)
    t = rng.normal(size=(4, 3))
    a, b = _unit_rows(rng.normal(size=(4, 3))), _unit_rows(rng.normal(size=(4, 3)))
    return {
        "absolute_difference": (L.absolute_difference, {}, t, p, np.abs(t - p)),
        "mean_squared_error": (L.mean_squared_error, {}, t, p, (t - p) ** 2),
        "cosine_distance": (
            L.cosine_distance,
            {"axis": 1},
            a,
            b,
            1 - (a * b).sum(axis=1, keepdims=True),
        ),
        "hinge_loss": (
            L.hinge_loss,
            {},
            binary,
            p,
            np.maximum(1 - (2 * binary - 1) * p, 0),
        ),
        "huber_loss": (L.huber_loss, {"delta": 0.7}, t, p, _ref_huber(t, p, 0.7)),
        "log_loss": (L.log_loss, {"epsilon": 1e-4}, binary, probs, _ref_log(binary, probs, 1e-4)),
        "sigmoid_cross_entropy": (
            L.sigmoid_cross_entropy,
            {"label_smoothing": 0.2},
            binary,
            4 * p,
            _ref_sigmoid(binary, 4 * p, 0.2),
        ),
        "softmax_cross_entropy": (
            L.softmax_cross_entropy,
            {"label_smoothing": 0.1},
            onehot,
            3 * p,
            _ref_softmax(onehot, 3 * p, 0.1),
        ),
    }


def _weights(loss_shape, rng):
    """No weights, a scalar, a broadcast tensor with a zero, a full tensor with zeros."""
    out = [None, 0.5]
    if len(loss_shape) == 2:
        col = rng.uniform(0.5, 2.0, size=(loss_shape[0], 1))
        col[1, 0] = 0.0
        out.append(col)
    full = rng.uniform(0.5, 2.0, size=loss_shape)
    full.flat[::3] = 0.0
    out.append(full)
    return out


@pytest.mark.parametrize(
    "name",
    [
        "absolute_difference",
        "mean_squared_error",
        "cosine_distance",
        "hinge_loss",
        "huber_loss",
        "log_loss",
        "sigmoid_cross_entropy",
        "softmax_cross_entropy",
    ],
)
def test_loss_matches_tfjs_formula(backend, name):
    rng = np.random.default_rng(sum(map(ord, name)))
    fn, kwargs, labels, preds, elementwise = _cases(rng)[name]
    weight_options = _weights(elementwise.shape, rng)
    if name == "cosine_distance":  # weights shaped like the labels broadcast the (4, 1) losses
        weight_options.append(rng.uniform(0.5, 2.0, size=(4, 3)) * (rng.random((4, 3)) > 0.3))
    lab = tw.tensor(labels.astype(np.float32))
    pre = tw.tensor(preds.astype(np.float32))
    for w in weight_options:
        for red in REDUCTIONS:
            wt = None if w is None else (w if np.isscalar(w) else tw.tensor(w.astype(np.float32)))
            got = fn(lab, pre, weights=wt, reduction=red, **kwargs)
            want = ref_weighted(elementwise, w, red)
            assert isinstance(got, tw.Tensor) and got.dtype == "float32"
            assert got.shape == np.shape(want), (name, red, w)
            np.testing.assert_allclose(
                got.numpy(), want, rtol=2e-5, atol=2e-6, err_msg=f"{name} {red!r} weights={w}"
            )


def test_compute_weighted_loss_reductions(backend):
    rng = np.random.default_rng(1)
    losses = rng.random((2, 3, 4))
    cases = [None, 2.0, np.array([[[1.0]], [[0.0]]]), rng.random((1, 3, 1)), rng.random((3, 4))]
    cases.append(np.where(rng.random((2, 3, 4)) > 0.5, rng.random((2, 3, 4)), 0.0))
    for w in cases:
        for red in REDUCTIONS:
            wt = w if w is None or np.isscalar(w) else tw.tensor(w.astype(np.float32))
            got = L.compute_weighted_loss(tw.tensor(losses.astype(np.float32)), wt, red)
            np.testing.assert_allclose(
                got.numpy(), ref_weighted(losses, w, red), rtol=2e-5, atol=2e-6
            )


def test_mean_factor_and_nonzero_count_follow_tfjs():
    """The two rules that differ from a plain weighted mean, with hand-checkable numbers."""
    with tw.backend_scope("numpy"):
        losses = tw.tensor([[1.0, 2.0], [3.0, 4.0]])
        # MEAN with (2, 1) weights: sum(l * w) / sum(w) / (4 / 2)
        w = tw.tensor([[1.0], [3.0]])
        assert L.compute_weighted_loss(losses, w, Reduction.MEAN).item() == pytest.approx(
            (1 + 2 + 9 + 12) / 4 / 2
        )
        # SUM_BY_NONZERO_WEIGHTS counts broadcast weights: (2, 1) [[0], [3]] -> 2 nonzero
        w = tw.tensor([[0.0], [3.0]])
        assert L.compute_weighted_loss(losses, w).item() == pytest.approx((9 + 12) / 2)
        # all-zero weights: 0 / 0, as TF.js
        assert np.isnan(L.compute_weighted_loss(losses, 0.0).item())


def test_reduction_spellings_and_defaults():
    with tw.backend_scope("numpy"):
        t, p = [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]
        want = {0: [1.0, 4.0, 9.0], 1: 14 / 3, 2: 14.0, 3: 14 / 3}
        for red, value in want.items():
            for spelling in (Reduction(red), red, Reduction(red).name.lower()):
                got = L.mean_squared_error(t, p, reduction=spelling)
                np.testing.assert_allclose(got.numpy(), value, rtol=1e-6)
        assert L.mean_squared_error(t, p).item() == pytest.approx(14 / 3)
        assert tw.losses is L


def test_bad_arguments_raise_clearly():
    with tw.backend_scope("numpy"):
        with pytest.raises(ValueError, match=r"huber_loss: labels and predictions.*\(2,\).*\(3,\)"):
            L.huber_loss([1.0, 2.0], [1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match="reduction must be.*'average'"):
            L.log_loss([1.0], [0.5], reduction="average")
        with pytest.raises(ValueError, match="reduction must be"):
            L.compute_weighted_loss([1.0], reduction=True)
        with pytest.raises(ValueError, match=r"label_smoothing must be in \[0.0, 1.0\], got 1.5"):
            L.softmax_cross_entropy([[1.0, 0.0]], [[1.0, 2.0]], label_smoothing=1.5)
        with pytest.raises(TypeError, match="delta must be a number, got 'big'"):
            L.huber_loss([1.0], [1.0], delta="big")
        with pytest.raises(ValueError, match=r"compute_weighted_loss \(losses and weights\)"):
            L.mean_squared_error([[1.0, 2.0]], [[1.0, 2.0]], weights=[1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match="axis 2 is out of range"):
            L.cosine_distance([[1.0, 0.0]], [[1.0, 0.0]], 2)


def _fd(f, x, eps=1e-6):
    """Central finite differences of a float64 numpy function."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


@pytest.mark.parametrize("name", ["huber_loss", "sigmoid_cross_entropy", "softmax_cross_entropy"])
def test_gradient_matches_finite_differences(backend, name):
    """d loss / d predictions (weighted, SUM_BY_NONZERO_WEIGHTS) against the reference's slope."""
    rng = np.random.default_rng(7)
    fn, kwargs, labels, preds, elementwise = _cases(rng)[name]
    w = _weights(elementwise.shape, rng)[-1]
    ref = {
        "huber_loss": lambda x: _ref_huber(labels, x, 0.7),
        "sigmoid_cross_entropy": lambda x: _ref_sigmoid(labels, x, 0.2),
        "softmax_cross_entropy": lambda x: _ref_softmax(labels, x, 0.1),
    }[name]
    want = _fd(lambda x: ref_weighted(ref(x), w, Reduction.SUM_BY_NONZERO_WEIGHTS), preds)
    lab, wt = tw.tensor(labels.astype(np.float32)), tw.tensor(w.astype(np.float32))
    got = tw.grad(lambda x: fn(lab, x, wt, **kwargs))(tw.tensor(preds.astype(np.float32)))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-3, atol=1e-5)


def test_gradient_reaches_weights_and_labels(backend):
    """MEAN: d/dw of sum(l * w) / sum(w) is (l - loss) / sum(w); labels get -2 (p - t) / n."""
    t = np.array([[0.0, 1.0], [2.0, 0.5]])
    p = np.array([[1.0, 3.0], [0.0, 0.5]])
    w = np.array([[1.0, 2.0], [0.5, 1.0]])
    sq = (t - p) ** 2
    loss = (sq * w).sum() / w.sum()
    lab, pre = tw.tensor(t.astype(np.float32)), tw.tensor(p.astype(np.float32))
    gw = tw.grad(lambda v: L.mean_squared_error(lab, pre, v, Reduction.MEAN))(
        tw.tensor(w.astype(np.float32))
    )
    np.testing.assert_allclose(gw.numpy(), (sq - loss) / w.sum(), rtol=1e-5, atol=1e-6)
    gl = tw.grad(lambda v: L.mean_squared_error(v, pre))(lab)
    np.testing.assert_allclose(gl.numpy(), -2 * (p - t) / 4, rtol=1e-5, atol=1e-6)
