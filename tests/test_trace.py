"""Traced training (``compile(jit=True)``) against eager training, on every backend."""

from __future__ import annotations

import gc
import logging

import numpy as np
import pytest

import engine as tw
import layers
from engine import dispatch, registry, train
from engine.trace import TraceCache, capture
from layers import callbacks as cbks

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 5)).astype(np.float32)
Y = RNG.normal(size=(200, 3)).astype(np.float32)

OPTIMIZERS = {
    "sgd": lambda: train.sgd(0.05),
    "momentum": lambda: train.momentum(0.05, 0.9),
    "nesterov": lambda: train.momentum(0.05, 0.9, use_nesterov=True),
    "adam": lambda: train.adam(0.01),
    "adamax": lambda: train.adamax(0.01, decay=0.01),
    "rmsprop": lambda: train.rmsprop(0.01, momentum=0.5),
    "rmsprop_centered": lambda: train.rmsprop(0.01, momentum=0.3, centered=True),
    "adagrad": lambda: train.adagrad(0.05),
    "adadelta": lambda: train.adadelta(1.0),
}


def _mlp(jit: bool, optimizer=None, extra=tuple, loss="meanSquaredError", metrics=("mae",)):
    """A small MLP; ``extra()`` makes the layers between its two dense layers."""
    tw.set_seed(7)
    model = layers.sequential(
        [layers.dense(units=6, activation="relu", input_shape=[5]), *extra(), layers.dense(units=3)]
    )
    model.compile(
        optimizer=optimizer() if optimizer else "adam",
        loss=loss,
        metrics=list(metrics),
        jit=jit,
    )
    return model


def _fit_both(backend, make, **fit):
    out = []
    for jit in (False, True):
        model = make(jit)
        tw.set_seed(11)
        hist = model.fit(X, Y, verbose=0, **fit)
        out.append((model, hist, [w.numpy() for w in model.weights]))
    return out


def _assert_same(a, b):
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_allclose(wb, wa, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_traced_equals_eager_every_optimizer(backend, name):
    # 200 samples in batches of 4: 50 steps, all but the first replayed
    (_, he, we), (m, hj, wj) = _fit_both(
        backend, lambda jit: _mlp(jit, OPTIMIZERS[name]), batch_size=4, shuffle=False
    )
    cache = m._traces["train"]
    assert len(cache.traces) == 1 and not cache.eager
    assert m.optimizer.iterations == 50
    _assert_same(we, wj)
    np.testing.assert_allclose(hj.history["loss"], he.history["loss"], rtol=1e-5)


def test_dropout_batch_norm_noise_same_seed(backend):
    def extra():
        return (
            layers.dropout(rate=0.3),
            layers.batch_normalization(),
            layers.gaussian_noise(stddev=0.1),
            layers.alpha_dropout(rate=0.2),
        )

    (me, he, we), (mj, hj, wj) = _fit_both(
        backend, lambda jit: _mlp(jit, extra=extra), batch_size=32, epochs=2
    )
    assert not mj._traces["train"].eager and len(mj._traces["train"].traces) == 2
    _assert_same(we, wj)  # includes the moving mean and variance
    np.testing.assert_allclose(hj.history["loss"], he.history["loss"], rtol=1e-5)


def test_reduce_lr_on_plateau_is_seen_by_replays(backend):
    def make(jit):
        return _mlp(jit, lambda: train.sgd(0.05))

    def fit(model, reduce):
        tw.set_seed(3)
        cb = [cbks.reduce_lr_on_plateau(monitor="loss", patience=1, min_delta=1e9, factor=0.1)]
        model.fit(X, Y, batch_size=50, epochs=3, verbose=0, callbacks=cb if reduce else None)
        return [w.numpy() for w in model.weights]

    eager, traced, plain = make(False), make(True), make(True)
    we, wj, wp = fit(eager, True), fit(traced, True), fit(plain, False)
    assert traced.optimizer.learning_rate == pytest.approx(0.05 * 0.01)
    _assert_same(we, wj)
    assert not np.allclose(wj[0], wp[0], rtol=1e-4)


def test_host_read_falls_back_with_reason(backend, caplog):
    def peeking_mse(y, p):
        if float(tw.max(p)) > 1e9:  # data-dependent Python control flow
            raise AssertionError
        return tw.mean(tw.square(tw.sub(y, p)), -1)

    with caplog.at_level(logging.WARNING, logger="tensorweave.trace"):
        (_, he, we), (m, hj, wj) = _fit_both(
            backend, lambda jit: _mlp(jit, loss=peeking_mse), batch_size=40, epochs=2
        )
    reasons = list(m._traces["train"].eager.values())
    assert reasons and "host" in reasons[0]
    assert sum("runs eagerly" in r.message for r in caplog.records) == 1
    _assert_same(we, wj)


def test_short_last_batch_gets_its_own_trace(backend):
    x, y = X[:70], Y[:70]
    out = []
    for jit in (False, True):
        m = _mlp(jit)
        tw.set_seed(1)
        m.fit(x, y, batch_size=32, epochs=2, verbose=0)
        out.append([w.numpy() for w in m.weights])
    shapes = sorted(k[1][0][0][0] for k in m._traces["train"].traces)
    assert shapes == [6, 32]
    _assert_same(*out)


def test_memory_flat_across_epochs(backend):
    m = _mlp(True, extra=lambda: (layers.dropout(rate=0.2),))
    seen = []

    def snapshot(epoch, logs):
        # Count only what is reachable: earlier tests leave cyclic garbage that the
        # collector frees at arbitrary times, which would move the global count.
        gc.collect()
        seen.append(tw.memory())

    cb = cbks.lambda_callback(on_epoch_end=snapshot)
    m.fit(X, Y, batch_size=32, epochs=4, verbose=0, callbacks=[cb], validation_split=0.2)
    for mem in seen[2:]:
        assert mem["num_tensors"] == seen[1]["num_tensors"]
        assert mem["num_bytes"] == seen[1]["num_bytes"]


def test_evaluate_and_predict_traced_equal_eager(backend):
    me, mj = _mlp(False), _mlp(True)
    ev_e = me.evaluate(X, Y, batch_size=64)
    ev_j = mj.evaluate(X, Y, batch_size=64)
    np.testing.assert_allclose(ev_j, ev_e, rtol=1e-6)
    assert len(mj._traces["test"].traces) == 2  # 64 and the last 8
    np.testing.assert_allclose(mj.predict(X, 64).numpy(), me.predict(X, 64).numpy(), rtol=1e-6)
    assert len(mj._traces["predict"].traces) == 2


def test_replay_dispatches_nothing_and_tracks_variables(backend):
    v = tw.variable(tw.tensor([1.0, 2.0]), name="trace_v")

    def step(x):
        y = tw.add(tw.mul(x, v), 1.0)
        v.assign(tw.add(v, y))
        return [y, tw.sum(y)]

    out, tr, reason, _ = capture(step, [tw.tensor([1.0, 1.0])])
    assert reason is None and tr is not None
    np.testing.assert_allclose(v.numpy(), [3.0, 5.0])
    seen = []
    dispatch.observers.append(lambda *a: seen.append(a[0]))
    try:
        y, s = tr.replay([tw.tensor([2.0, 0.0])])
    finally:
        dispatch.observers.pop()
    assert seen == []
    np.testing.assert_allclose(y.numpy(), [7.0, 1.0])  # reads v's current value
    np.testing.assert_allclose(s.numpy(), 8.0)
    np.testing.assert_allclose(v.numpy(), [10.0, 6.0])


def test_cache_falls_back_for_tensors_read_on_host(backend):
    cache = TraceCache("demo")
    calls = []

    def fn(x):
        calls.append(1)
        return tw.mul(x, 2.0) if float(tw.sum(x)) > 0 else tw.neg(x)

    for v in ([1.0], [-1.0]):
        out = cache("k", fn, [tw.tensor(v)])
    assert out.numpy().tolist() == [1.0]  # eager both times: not replayed with the wrong branch
    assert len(calls) == 2 and "host" in cache.eager["k"]


def test_same_tensor_twice_is_part_of_the_signature(backend):
    cache = TraceCache("alias")

    def fn(a, b):
        return tw.sub(a, b)

    x, y = tw.tensor([1.0, 2.0]), tw.tensor([5.0, 5.0])
    cache("k", fn, [x, x])  # captured with both arguments the same tensor
    cache("k", fn, [x, x])
    assert cache("k", fn, [x, y]).numpy().tolist() == [-4.0, -3.0]
    assert len(cache.traces) == 2


def test_fit_dataset_and_train_on_batch_traced_equal_eager(backend):
    batches = [(X[i : i + 40], Y[i : i + 40]) for i in range(0, 200, 40)]
    out = []
    for jit in (False, True):
        m = _mlp(jit, lambda: train.momentum(0.05, 0.9))
        m.fit_dataset(batches, epochs=2, verbose=0)
        vals = [m.train_on_batch(X[:16], Y[:16]) for _ in range(3)]
        out.append(([w.numpy() for w in m.weights], vals))
    _assert_same(out[0][0], out[1][0])
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-5)


def _embedding_model(jit: bool):
    tw.set_seed(2)
    model = layers.sequential(
        [
            layers.embedding(input_dim=20, output_dim=4, input_length=5),
            layers.flatten(),
            layers.dense(units=3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categoricalCrossentropy", jit=jit)
    return model


def test_embedding_models_trace_and_check_indices_in_the_kernel(backend, caplog):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 20, size=(48, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 48)]
    weights = []
    with caplog.at_level(logging.WARNING, logger="tensorweave.trace"):
        for jit in (False, True):
            model = _embedding_model(jit)
            model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
            weights.append([w.numpy() for w in model.weights])
    if registry.instance_of(backend).capabilities.get(
        "gather_checks_indices"
    ):  # no host read of the indices: the step traces
        assert not model._traces["train"].eager, model._traces["train"].eager
    _assert_same(*weights)
    # an index out of range: a clear error, and the weights of the completed steps
    bad = x.copy()
    bad[20, 2] = 25
    model = _embedding_model(True)
    model.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0, shuffle=False)
    with pytest.raises(IndexError, match=r"\[0, 20\).*got values from \d+ to 25"):
        model.fit(bad, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    ref = _embedding_model(True)
    ref.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0, shuffle=False)
    ref.fit(bad[:16], y[:16], batch_size=8, epochs=1, verbose=0, shuffle=False)
    _assert_same([w.numpy() for w in ref.weights], [w.numpy() for w in model.weights])
    assert model.optimizer.iterations == ref.optimizer.iterations == 4
