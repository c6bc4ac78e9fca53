"""compile(loss_weights=..., weighted_metrics=...) and sample-weighted metrics against numpy
(issue 20 item 2): the total loss is sum_i w_i * loss_i with the per-output losses logged
unweighted (Keras), weighted metrics are sum(w * v) / sum(w) over the batch and the epoch and
are named as Keras 3 names them."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
import layers


def _two_outputs(seed=0):
    tw.set_seed(seed)
    x = layers.input(shape=[3])
    h = layers.dense(units=4, activation="tanh", name="lw_hidden")(x)
    a = layers.dense(units=2, name="lw_out_a")(h)
    b = layers.dense(units=1, activation="sigmoid", name="lw_out_b")(h)
    return layers.model(inputs=x, outputs=[a, b])


def _data(n=13, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    ya = rng.normal(size=(n, 2)).astype(np.float32)
    yb = (rng.random((n, 1)) > 0.5).astype(np.float32)
    sw = rng.uniform(0.1, 2.0, size=n).astype(np.float32)
    return x, ya, yb, sw


def _reference(model, x, ya, yb, sw, lw):
    """Loss, per-output losses and metrics of the Keras semantics, in numpy."""
    pa, pb = (t.numpy().astype(np.float64) for t in model.predict(x))
    la = ((pa - ya) ** 2).mean(1) * sw  # mse, sample-weighted, mean over the batch
    eps = 1e-7
    pbc = np.clip(pb, eps, 1 - eps)
    lb = (-(yb * np.log(pbc) + (1 - yb) * np.log(1 - pbc))).mean(1) * sw
    mae_a = np.abs(pa - ya).mean(1)
    acc_b = ((pb > 0.5) == (yb == 1)).astype(np.float64).mean(1)
    return {
        "loss": lw[0] * la.mean() + lw[1] * lb.mean(),
        "lw_out_a_loss": la.mean(),
        "lw_out_b_loss": lb.mean(),
        "lw_out_a_mae": mae_a.mean(),
        "lw_out_a_weighted_mae": (mae_a * sw).sum() / sw.sum(),
        "lw_out_b_acc": (acc_b * sw).sum() / sw.sum(),
    }


@pytest.mark.parametrize("form", ["list", "dict"])
@pytest.mark.parametrize("jit", [True, False])
def test_evaluate_matches_numpy(form, jit):
    model = _two_outputs()
    lw = (0.25, 3.0)
    weights = list(lw) if form == "list" else {"lw_out_a": lw[0], "lw_out_b": lw[1]}
    model.compile(
        optimizer="sgd",
        loss=["mse", "binaryCrossentropy"],
        loss_weights=weights,
        metrics={"lw_out_a": ["mae"]},
        weighted_metrics={"lw_out_a": ["mae"], "lw_out_b": ["acc"]},
        jit=jit,
    )
    assert model.metrics_names == [
        "loss",
        "lw_out_a_loss",
        "lw_out_b_loss",
        "lw_out_a_mae",
        "lw_out_a_weighted_mae",
        "lw_out_b_acc",
    ]
    x, ya, yb, sw = _data()
    ref = _reference(model, x, ya, yb, sw, lw)
    # batches of 4 over 13 samples: the epoch values must be the exact weighted means
    got = model.evaluate(x, [ya, yb], sample_weight=sw, batch_size=4)
    np.testing.assert_allclose(got, [ref[k] for k in model.metrics_names], rtol=2e-5, atol=1e-6)
    one = model.test_on_batch(x, [ya, yb], sample_weight=sw)
    np.testing.assert_allclose(one, [ref[k] for k in model.metrics_names], rtol=2e-5, atol=1e-6)


def test_fit_minimises_the_weighted_total():
    """The gradient step follows sum_i w_i * loss_i: an output with weight 0 does not train
    its own head, and the logged loss is the weighted total."""
    model = _two_outputs(seed=3)
    model.compile(optimizer="sgd", loss=["mse", "binaryCrossentropy"], loss_weights=[1.0, 0.0])
    head_b = [w.numpy().copy() for w in model.get_layer("lw_out_b").weights]
    x, ya, yb, _ = _data(n=16)
    before = model.evaluate(x, [ya, yb], batch_size=16)
    hist = model.fit(x, [ya, yb], epochs=2, batch_size=8, verbose=0, shuffle=False)
    after = [w.numpy() for w in model.get_layer("lw_out_b").weights]
    for b, a in zip(head_b, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(hist.history) == {"loss", "lw_out_a_loss", "lw_out_b_loss"}
    np.testing.assert_allclose(before[0], before[1], rtol=1e-6)  # total = 1 * a + 0 * b
    assert hist.history["loss"][-1] < before[0]


def test_fit_epoch_weighted_metric_matches_numpy_jit_and_eager():
    """With lr 0 the weights stay put, so the epoch's weighted metric is the weighted mean
    over all samples (not a mean of batch means), traced and eager alike."""
    for jit in (True, False):
        model = _two_outputs()
        model.compile(
            optimizer=tw.train.sgd(0.0),
            loss=["mse", "binaryCrossentropy"],
            weighted_metrics=["mae"],
            jit=jit,
        )
        x, ya, yb, sw = _data(n=20)
        pa, pb = (t.numpy().astype(np.float64) for t in model.predict(x))
        h = model.fit(x, [ya, yb], sample_weight=sw, batch_size=6, epochs=1, verbose=0)
        for name, p, y in (("lw_out_a_mae", pa, ya), ("lw_out_b_mae", pb, yb)):
            v = np.abs(p - y).mean(1)
            np.testing.assert_allclose(h.history[name][0], (v * sw).sum() / sw.sum(), rtol=2e-5)


def test_class_weight_applies_to_weighted_metrics_single_output():
    tw.set_seed(0)
    model = layers.sequential([layers.dense(units=3, activation="softmax", input_shape=[4])])
    model.compile(
        optimizer="sgd",
        loss="categoricalCrossentropy",
        metrics=["accuracy"],
        weighted_metrics=["accuracy"],
        loss_weights=2.0,
    )
    # "accuracy" logs as TF.js's "acc"; the weighted one clashes with it: "weighted_acc"
    assert model.metrics_names == ["loss", "acc", "weighted_acc"]
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    labels = rng.integers(0, 3, size=30)
    y = np.eye(3, dtype=np.float32)[labels]
    cw = {0: 1.0, 1: 5.0, 2: 0.5}
    p = model.predict(x).numpy().astype(np.float64)
    hit = (p.argmax(1) == labels).astype(np.float64)
    w = np.array([cw[int(c)] for c in labels])
    ce = -np.log(np.clip((p * y).sum(1), 1e-7, 1.0))
    vals = model.evaluate(x, y, sample_weight=w, batch_size=7)
    np.testing.assert_allclose(vals[0], 2.0 * (ce * w).mean(), rtol=2e-5)
    np.testing.assert_allclose(vals[1], hit.mean(), rtol=1e-6)
    np.testing.assert_allclose(vals[2], (hit * w).sum() / w.sum(), rtol=1e-6)
    model.compile(
        optimizer=tw.train.sgd(0.0), loss="categoricalCrossentropy", weighted_metrics=["accuracy"]
    )
    h = model.fit(x, y, class_weight=cw, batch_size=7, epochs=1, verbose=0)
    np.testing.assert_allclose(h.history["acc"][0], (hit * w).sum() / w.sum(), rtol=1e-6)


def test_weighted_metrics_without_weights_equal_the_plain_metrics():
    model = _two_outputs()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    x, ya, yb, _ = _data()
    vals = dict(zip(model.metrics_names, model.evaluate(x, [ya, yb], batch_size=5), strict=True))
    for out in ("lw_out_a", "lw_out_b"):
        np.testing.assert_allclose(vals[f"{out}_weighted_mae"], vals[f"{out}_mae"], rtol=1e-6)


def test_zero_weights_give_zero_weighted_metric():
    model = _two_outputs()
    model.compile(optimizer="sgd", loss="mse", weighted_metrics=["mae"])
    x, ya, yb, _ = _data(n=4)
    vals = model.evaluate(x, [ya, yb], sample_weight=np.zeros(4), batch_size=4)
    assert vals[3] == 0.0 and vals[4] == 0.0


@pytest.mark.parametrize(
    "bad, match",
    [
        ([1.0], "got 1 loss_weights for a model with 2"),
        ({"nope": 1.0}, "not outputs"),
        (2.0, "is one number but the model has 2"),
        ([1.0, "x"], "finite number"),
        ([1.0, float("nan")], "finite number"),
        ("heavy", "finite number"),
    ],
)
def test_bad_loss_weights_raise_before_any_change(bad, match):
    model = _two_outputs()
    model.compile(optimizer="sgd", loss="mse")
    before = list(model.metrics_names)
    with pytest.raises(ValueError, match=match):
        model.compile(optimizer="adam", loss="mae", loss_weights=bad, metrics=["mae"])
    assert model.metrics_names == before
    assert model.loss == "mse"


def test_bad_weighted_metric_name_raises():
    model = _two_outputs()
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile(optimizer="sgd", loss="mse", weighted_metrics=["maee"])


def test_precision_recall_weighted():
    t = tw.tensor([1.0, 0.0, 1.0, 1.0])
    p = tw.tensor([0.9, 0.8, 0.2, 0.7])
    w = np.array([2.0, 3.0, 1.0, 0.5], dtype=np.float32)
    tn, pn = t.numpy(), p.numpy() > 0.5
    tp = (w * (pn & (tn == 1))).sum()
    fp = (w * (pn & (tn == 0))).sum()
    fn = (w * (~pn & (tn == 1))).sum()
    prec = layers.metrics.precision(t, p, sample_weight=w).item()
    rec = layers.metrics.recall(t, p, sample_weight=w).item()
    np.testing.assert_allclose(prec, tp / (tp + fp), rtol=1e-6)
    np.testing.assert_allclose(rec, tp / (tp + fn), rtol=1e-6)
    with pytest.raises(ValueError, match="one weight per sample"):
        layers.metrics.precision(t, p, sample_weight=[1.0, 2.0])


def test_weighted_metrics_run_on_every_backend(backend):
    model = _two_outputs()
    model.compile(
        optimizer="sgd", loss=["mse", "mae"], loss_weights=[0.5, 2.0], weighted_metrics=["mae"]
    )
    x, ya, yb, sw = _data()
    pa, pb = (t.numpy().astype(np.float64) for t in model.predict(x))
    got = model.evaluate(x, [ya, yb], sample_weight=sw, batch_size=4)
    la = ((pa - ya) ** 2).mean(1) * sw
    lb = np.abs(pb - yb).mean(1)
    np.testing.assert_allclose(got[0], 0.5 * la.mean() + 2.0 * (lb * sw).mean(), rtol=1e-4)
    np.testing.assert_allclose(got[4], (lb * sw).sum() / sw.sum(), rtol=1e-4)
    h = model.fit(x, [ya, yb], sample_weight=sw, batch_size=4, epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in h.history.values())


def test_saved_training_config_keeps_loss_weights_and_weighted_metrics(tmp_path):
    model = _two_outputs()
    model.compile(
        optimizer="sgd",
        loss=["mse", "binaryCrossentropy"],
        loss_weights={"lw_out_a": 0.25, "lw_out_b": 3.0},
        weighted_metrics=["mae"],
    )
    x, ya, yb, sw = _data()
    expected = model.evaluate(x, [ya, yb], sample_weight=sw, batch_size=4)
    model.save(tmp_path / "m", include_optimizer=True)
    loaded = layers.load_model(tmp_path / "m")
    assert loaded.metrics_names == model.metrics_names
    got = loaded.evaluate(x, [ya, yb], sample_weight=sw, batch_size=4)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
