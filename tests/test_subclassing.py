"""Subclassed models and overridable steps (issue 20 item 4): a ``layers.Model`` subclass with
layers as attributes and ``call(inputs, training=None)`` builds on its first batch, trains like
the equivalent Sequential model, evaluates, predicts and saves/loads its weights; overridden
``train_step``/``test_step`` are used by fit/evaluate."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import engine as tw
import layers


class MLP(layers.Model):
    def __init__(self, hidden=8, out=3, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [layers.dense(units=hidden, activation="relu")]  # tracked in a list
        self.heads = {"main": layers.dense(units=out, activation="softmax")}  # and a dict

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x)
        return self.heads["main"](x)


def _data(n=40, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.eye(k, dtype=np.float32)[np.argmax(x @ rng.normal(size=(d, k)), 1)]
    return x, y


def _pair(seed=0):
    """A subclassed MLP and the same Sequential model with the same initial weights."""
    tw.set_seed(seed)
    seq = layers.sequential(
        [
            layers.dense(units=8, activation="relu", input_shape=[4]),
            layers.dense(units=3, activation="softmax"),
        ]
    )
    sub = MLP()
    sub.build((None, 4))
    sub.set_weights(seq.get_weights())
    return sub, seq


def test_layers_tracked_and_built_on_first_batch():
    m = MLP()
    assert m.weights == [] and not m.built
    assert [la.name for la in m.layers] == [m.blocks[0].name, m.heads["main"].name]
    x, _ = _data(n=5)
    out = m.predict(x)  # builds from the first batch's shape
    assert out.shape == (5, 3)
    assert m.built and [tuple(w.shape) for w in m.weights] == [(4, 8), (8,), (8, 3), (3,)]
    assert m.input_shapes == [(None, 4)] and m.output_shapes == [(None, 3)]
    assert m.output_names == ["output_1"]
    lines = []
    m.summary(print_fn=lines.append)
    assert "Total params: 67" in lines


def test_nested_models_and_late_appends_are_tracked():
    class Outer(layers.Model):
        def __init__(self):
            super().__init__()
            self.inner = MLP(hidden=4, out=2)
            self.extra = []

        def call(self, inputs, training=None):
            x = self.inner(inputs, training=training)
            for la in self.extra:
                x = la(x)
            return x

    m = Outer()
    m.extra.append(layers.dense(units=1))  # appended after assignment: still tracked
    m.build((None, 3))
    assert len(m.trainable_weights) == 6
    m.inner.trainable = False
    assert len(m.trainable_weights) == 2 and len(m.non_trainable_weights) == 4


def test_subclass_trains_like_sequential_numpy():
    with tw.backend_scope("numpy"):
        sub, seq = _pair()
        x, y = _data()
        for m in (sub, seq):
            m.compile(optimizer=tw.train.sgd(0.1), loss="categoricalCrossentropy", metrics=["acc"])
        hs = sub.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        hq = seq.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        for a, b in zip(sub.get_weights(), seq.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(hs.history["loss"], hq.history["loss"], rtol=1e-5)
        assert hs.history["acc"] == pytest.approx(hq.history["acc"])
        assert sub._traces["train"].traces and not sub._traces["train"].eager  # traced
        np.testing.assert_allclose(sub.evaluate(x, y), seq.evaluate(x, y), rtol=1e-5)
        np.testing.assert_allclose(sub.predict(x).numpy(), seq.predict(x).numpy(), rtol=1e-5)


def test_subclass_trains_like_sequential_on_every_backend(backend):
    sub, seq = _pair(seed=1)
    x, y = _data(n=24)
    for m in (sub, seq):
        m.compile(optimizer=tw.train.adam(0.01), loss="categoricalCrossentropy")
    sub.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    seq.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(sub.get_weights(), seq.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sub.predict(x).numpy(), seq.predict(x).numpy(), atol=1e-5)


def test_compile_before_build_resolves_on_first_batch_and_checks_names_early():
    m = MLP()
    with pytest.raises(ValueError, match="unknown metric"):
        m.compile(optimizer="sgd", loss="categoricalCrossentropy", metrics=["acuracy"])
    with pytest.raises(ValueError, match="unknown loss .categoricalCrosentropy"):
        m.compile(optimizer="sgd", loss="categoricalCrosentropy")
    m.compile(optimizer="sgd", loss="categoricalCrossentropy", metrics=["accuracy"])
    x, y = _data(n=16)
    batches = [(x[:8], y[:8]), (x[8:], y[8:])]  # a dataset: built before the loop starts
    h = m.fit(batches, epochs=1, verbose=0)
    assert m.metrics_names == ["loss", "acc"] and set(h.history) == {"loss", "acc"}


def test_multi_input_dict_output_subclass():
    class TwoHeads(layers.Model):
        def __init__(self):
            super().__init__()
            self.a = layers.dense(units=2)
            self.b = layers.dense(units=1)

        def call(self, inputs, training=None):
            left, right = inputs
            h = tw.concat([left, right], 1)
            return {"reg": self.a(h), "score": self.b(h)}

    m = TwoHeads()
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(12, 2)), rng.normal(size=(12, 3))
    ya, yb = rng.normal(size=(12, 2)), rng.normal(size=(12, 1))
    m.compile(optimizer="sgd", loss={"reg": "mse", "score": "mae"}, loss_weights={"score": 0.5})
    h = m.fit([x1, x2], {"reg": ya, "score": yb}, epochs=1, batch_size=4, verbose=0)
    assert m.output_names == ["reg", "score"] and m.input_names == ["input_1", "input_2"]
    assert set(h.history) == {"loss", "reg_loss", "score_loss"}
    loss, la, lb = m.evaluate([x1, x2], [ya, yb])
    np.testing.assert_allclose(loss, la + 0.5 * lb, rtol=1e-5)
    pa, pb = m.predict([x1, x2])
    assert pa.shape == (12, 2) and pb.shape == (12, 1)


def test_save_weights_round_trip(tmp_path):
    m = MLP()
    x, y = _data(n=16)
    m.compile(optimizer="adam", loss="categoricalCrossentropy")
    m.fit(x, y, epochs=1, verbose=0)
    path = m.save_weights(tmp_path / "mlp.weights.npz")
    assert path.exists()
    fresh = MLP()
    with pytest.raises(ValueError, match="has not been built"):
        fresh.load_weights(path)
    fresh.build((None, 4))
    fresh.load_weights(path)
    for a, b in zip(m.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fresh.predict(x).numpy(), m.predict(x).numpy())
    other = MLP(hidden=5)
    other.build((None, 4))
    before = other.get_weights()
    with pytest.raises(ValueError, match="has shape"):
        other.load_weights(path)
    for a, b in zip(before, other.get_weights(), strict=True):  # nothing assigned
        np.testing.assert_array_equal(a, b)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a file written by save_weights"):
        fresh.load_weights(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="no weights yet"):
        MLP().save_weights(tmp_path / "x.npz")


def test_topology_save_of_subclass_raises_clearly(tmp_path):
    m = MLP()
    m.build((None, 4))
    with pytest.raises(NotImplementedError, match="subclassed model.*save_weights"):
        m.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()
    with pytest.raises(NotImplementedError, match="cannot be serialized"):
        m.get_config()


class Counting(MLP):
    """Counts its steps and logs an extra value; the update is written out by hand."""

    def __init__(self):
        super().__init__()
        self.train_calls = 0
        self.test_calls = 0

    def train_step(self, data):
        x, y = data[0], data[1]
        sw = data[2] if len(data) == 3 else None
        params = self.trainable_weights
        with tw.Tape(watch=params) as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sw)
        grads = tape.gradient(loss, params)
        self.optimizer.apply_gradients(zip(grads, params, strict=True))
        self.train_calls += 1
        logs = {"loss": loss, **self.compute_metrics(x, y, y_pred, sw)}
        logs["double_loss"] = tw.mul(loss, 2.0)
        return logs

    def test_step(self, data):
        self.test_calls += 1
        logs = super().test_step(data)
        logs["calls"] = self.test_calls
        return logs


def test_custom_train_step_is_used_and_matches_the_builtin_step(caplog):
    x, y = _data(n=20)
    tw.set_seed(5)
    ref = MLP()
    ref.build((None, 4))
    custom = Counting()
    custom.build((None, 4))
    custom.set_weights(ref.get_weights())
    for m in (ref, custom):
        m.compile(optimizer=tw.train.sgd(0.1), loss="categoricalCrossentropy", metrics=["acc"])
    with caplog.at_level(logging.INFO, logger="tensorweave.trace"):
        h = custom.fit(
            x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, validation_data=(x, y)
        )
    hr = ref.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, validation_data=(x, y))
    assert custom.train_calls == 6  # 3 batches x 2 epochs
    assert custom.test_calls == 6  # validation: 3 batches x 2 epochs
    assert sum("overrides train_step" in r.getMessage() for r in caplog.records) == 1
    assert set(h.history) == {
        "loss",
        "acc",
        "double_loss",
        "val_loss",
        "val_acc",
        "val_calls",
    }
    np.testing.assert_allclose(h.history["loss"], hr.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        h.history["double_loss"], 2 * np.array(hr.history["loss"]), rtol=1e-5
    )
    np.testing.assert_allclose(h.history["val_loss"], hr.history["val_loss"], rtol=1e-5)
    for a, b in zip(custom.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    vals = custom.evaluate(x, y, batch_size=10)
    assert len(vals) == 3 and vals[2] == pytest.approx(7.5)  # calls 7 and 8, mean
    assert custom.train_on_batch(x[:4], y[:4])[0] > 0 and custom.train_calls == 7


def test_custom_step_must_return_a_dict():
    class Bad(MLP):
        def train_step(self, data):
            return 1.0

    m = Bad()
    m.compile(optimizer="sgd", loss="mse")
    x, y = _data(n=4)
    with pytest.raises(TypeError, match="must return a dict"):
        m.fit(x, y, verbose=0)


def test_compute_loss_applies_weights_and_regularisation():
    tw.set_seed(0)
    model = layers.sequential(
        [layers.dense(units=1, input_shape=[2], kernel_regularizer=layers.regularizers.l2())]
    )
    model.compile(optimizer="sgd", loss="mse", loss_weights=3.0)
    x = np.ones((4, 2), np.float32)
    y = np.zeros((4, 1), np.float32)
    sw = np.array([1.0, 0.0, 2.0, 1.0], np.float32)
    pred = model(tw.tensor(x))
    p = pred.numpy()
    per = ((p - y) ** 2).mean(1)
    no_reg = model.compute_loss(x, y, pred, sw, training=False).item()
    np.testing.assert_allclose(no_reg, 3.0 * (per * sw).mean(), rtol=1e-5)
    reg = sum(float(r.numpy().sum()) for r in model.regularization_losses())
    np.testing.assert_allclose(model.compute_loss(x, y, pred, sw).item(), no_reg + reg, rtol=1e-5)
    with pytest.raises(ValueError, match="one weight per sample"):
        model.compute_loss(x, y, pred, [1.0, 2.0])


def test_subclass_as_a_layer_of_a_functional_model(tmp_path):
    inner = MLP(hidden=4, out=2)
    x = layers.input(shape=[3])
    y = layers.dense(units=1)(inner(x))  # builds the subclass from the symbolic shape
    m = layers.model(inputs=x, outputs=y)
    assert len(m.trainable_weights) == 6
    m.compile(optimizer="sgd", loss="mse")
    before = inner.get_weights()
    m.fit(np.ones((4, 3)), np.zeros((4, 1)), verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, inner.get_weights(), strict=True))
    with pytest.raises(NotImplementedError, match="subclassed model"):
        m.save(tmp_path / "m")


def test_compile_that_does_not_fit_the_outputs_raises_on_every_fit():
    m = MLP()
    m.compile(optimizer="sgd", loss=["mse", "mae"])  # one output, two losses
    x, y = _data(n=8)
    for _ in range(2):
        with pytest.raises(ValueError, match="got 2 losses for a model with 1 output"):
            m.fit(x, y, verbose=0)
    m.compile(optimizer="sgd", loss="mse", loss_weights=2.0)  # now built: resolved at once
    assert m.metrics_names == ["loss"]
    p = m.predict(x).numpy()
    np.testing.assert_allclose(m.evaluate(x, y), 2 * ((p - y) ** 2).mean(), rtol=1e-5)
