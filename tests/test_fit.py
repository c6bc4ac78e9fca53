"""compile / fit / evaluate semantics of tfjs-compat.md §2-3 on small data, on every backend."""

from __future__ import annotations

import gc
import io
import os

import numpy as np
import pytest

import engine as tw
import layers
from engine import train
from layers import callbacks as cbks
from layers import losses


def _data(n=50, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, k))
    y = np.eye(k, dtype=np.float32)[np.argmax(x @ w, 1)]
    return x, y


def _model(d=4, k=3, act="softmax", hidden=8, **dense_kw):
    tw.set_seed(0)
    return layers.sequential(
        [
            layers.dense(units=hidden, activation="relu", input_shape=[d], **dense_kw),
            layers.dense(units=k, activation=act),
        ]
    )


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=False))


def _per_sample_cce(model, x, y):
    p = model.predict(x).numpy().astype(np.float64)
    p = np.clip(p / p.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    return -np.sum(y * np.log(p), -1)


class Recorder(cbks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []
        self.batch_logs = []
        self.epoch_logs = []
        self.weights = []
        self.memory = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_train_end(self, logs=None):
        self.events.append("train_end")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch}")
        self.epoch_logs.append(dict(logs))
        self.weights.append(_weights(self.model))
        gc.collect()  # cyclic garbage of earlier tests must not count
        mem = tw.memory()
        self.memory.append((mem["num_tensors"], mem["num_data_buffers"], mem["num_bytes"]))

    def on_batch_begin(self, batch, logs=None):
        self.events.append(f"batch_begin {batch}")

    def on_batch_end(self, batch, logs=None):
        self.events.append(f"batch_end {batch}")
        self.batch_logs.append(dict(logs))


# --- compile ------------------------------------------------------------------------------------


def test_compile_stores_and_resolves(backend):
    m = _model()
    assert not m.is_compiled
    m.compile(optimizer="Adam", loss="categorical_crossentropy", metrics=["acc", "mse"])
    assert m.is_compiled
    assert isinstance(m.optimizer, train.Adam)
    assert m.loss_functions == [losses.categorical_crossentropy]
    assert m.metrics_names == ["loss", "acc", "mse"]
    m.compile(optimizer="momentum", loss="mse")
    assert isinstance(m.optimizer, train.Momentum) and m.metrics_names == ["loss"]


def test_compile_errors_list_accepted_names(backend):
    m = _model()
    with pytest.raises(ValueError, match="adam"):
        m.compile(optimizer="adamw_nope", loss="mse")
    with pytest.raises(ValueError, match="categoricalCrossentropy"):
        m.compile(optimizer="sgd", loss="categorical_crossentropyy")
    with pytest.raises(ValueError, match="accuracy"):
        m.compile(optimizer="sgd", loss="mse", metrics=["acuracy"])
    assert not m.is_compiled and m.optimizer is None


def test_fit_and_evaluate_before_compile_say_compile(backend):
    m = _model()
    x, y = _data()
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(x, y, verbose=0)
    with pytest.raises(RuntimeError, match="compile"):
        m.evaluate(x, y)


def test_recompile_keeps_weights_string_optimizer_fresh(backend):
    x, y = _data()
    m = _model()
    m.compile(optimizer="adam", loss="categoricalCrossentropy")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    w = _weights(m)
    old = m.optimizer
    assert old.iterations == 4
    m.compile(optimizer="adam", loss="categoricalCrossentropy")
    assert _same(_weights(m), w)
    assert m.optimizer is not old and m.optimizer.iterations == 0
    m.compile(optimizer=old, loss="categoricalCrossentropy")
    assert m.optimizer is old and old.iterations == 4


# --- fit semantics ---------------------------------------------------------------------------------


def test_history_logs_and_batch_weighted_means(backend):
    x, y = _data(n=45)
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy", metrics=["accuracy"])
    rec = Recorder()
    h = m.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=True, callbacks=[rec])
    assert h.epoch == [0, 1, 2]
    assert list(h.history) == ["loss", "acc"]
    assert all(len(v) == 3 for v in h.history.values())
    assert h.params["epochs"] == 3 and h.params["samples"] == 45 and h.params["steps"] == 6
    assert m.history is h
    # lr 0: every epoch sees the same weights, so the epoch loss is the per-sample mean
    per = _per_sample_cce(m, x, y)
    np.testing.assert_allclose(h.history["loss"], [per.mean()] * 3, rtol=1e-4)
    acc = np.mean(np.argmax(m.predict(x).numpy(), 1) == np.argmax(y, 1))
    np.testing.assert_allclose(h.history["acc"], [acc] * 3, rtol=1e-5)
    sizes = [b["size"] for b in rec.batch_logs[:6]]
    assert sizes == [8, 8, 8, 8, 8, 5]
    assert all({"loss", "acc", "batch", "size"} <= set(b) for b in rec.batch_logs)


def test_hook_order(backend):
    x, y = _data(n=20)
    m = _model()
    m.compile(optimizer="sgd", loss="mse")
    rec = Recorder()
    m.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=rec)
    assert rec.events == [
        "train_begin",
        "epoch_begin 0", "batch_begin 0", "batch_end 0", "batch_begin 1", "batch_end 1", "epoch_end 0",
        "epoch_begin 1", "batch_begin 0", "batch_end 0", "batch_begin 1", "batch_end 1", "epoch_end 1",
        "train_end",
    ]  # fmt: skip


def test_initial_epoch(backend):
    x, y = _data(n=20)
    m = _model()
    m.compile(optimizer="sgd", loss="mse")
    h = m.fit(x, y, epochs=4, initial_epoch=2, verbose=0)
    assert h.epoch == [2, 3]


def test_validation_split_takes_last_rows_before_shuffling(backend):
    x, y = _data(n=50)
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy", metrics=["acc"])
    h = m.fit(x, y, epochs=2, batch_size=7, validation_split=0.2, verbose=0)
    split = 40  # floor(50 * 0.8)
    per = _per_sample_cce(m, x, y)
    np.testing.assert_allclose(h.history["loss"], [per[:split].mean()] * 2, rtol=1e-4)
    np.testing.assert_allclose(h.history["val_loss"], [per[split:].mean()] * 2, rtol=1e-4)
    assert h.params["samples"] == 40
    ev = m.evaluate(x[split:], y[split:], batch_size=3)
    assert isinstance(ev[0], float) and isinstance(ev[1], float)
    assert ev[0] == pytest.approx(h.history["val_loss"][0], rel=1e-5)
    assert ev[1] == pytest.approx(h.history["val_acc"][0], rel=1e-5)
    assert list(h.history) == ["loss", "acc", "val_loss", "val_acc"]


def test_validation_data_with_sample_weight(backend):
    x, y = _data(n=30)
    vx, vy = _data(n=12, seed=1)
    sw = np.linspace(0.5, 2.0, 12).astype(np.float32)
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy")
    h = m.fit(x, y, epochs=1, verbose=0, validation_data=(vx, vy, sw), validation_split=0.5)
    assert h.params["samples"] == 30  # validation_data overrides validation_split
    per = _per_sample_cce(m, vx, vy)
    assert h.history["val_loss"][0] == pytest.approx(np.mean(per * sw), rel=1e-4)


def test_shuffle_is_seeded_and_matters(backend):
    x, y = _data(n=40)

    def run(seed, shuffle=True):
        m = _model()
        m.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy")
        tw.set_seed(seed)
        m.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=shuffle)
        return _weights(m)

    a, b, c = run(1), run(1), run(2)
    assert _same(a, b)
    assert not _same(a, c)
    assert _same(run(1, False), run(2, False))


def test_sample_weight_scales_per_sample_loss(backend):
    x, y = _data(n=16)
    sw = np.where(np.arange(16) % 2 == 0, 3.0, 0.5).astype(np.float32)
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy")
    h = m.fit(x, y, epochs=1, batch_size=16, verbose=0, sample_weight=sw, shuffle=False)
    assert h.history["loss"][0] == pytest.approx(np.mean(_per_sample_cce(m, x, y) * sw), rel=1e-4)
    # a uniform weight of 2 with lr 0.1 is the same step as lr 0.2 without weights
    m1, m2 = _model(), _model()
    m1.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy")
    m2.compile(optimizer=train.sgd(0.2), loss="categoricalCrossentropy")
    m1.train_on_batch(x, y, sample_weight=np.full(16, 2.0, np.float32))
    m2.train_on_batch(x, y)
    for a, b in zip(_weights(m1), _weights(m2), strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_class_weight(backend):
    x, y = _data(n=24)
    labels = np.argmax(y, 1)
    cw = {0: 1.0, 1: 2.5, 2: 0.25}
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy")
    h = m.fit(x, y, epochs=1, batch_size=5, verbose=0, class_weight=cw)
    w = np.array([cw[c] for c in labels])
    assert h.history["loss"][0] == pytest.approx(np.mean(_per_sample_cce(m, x, y) * w), rel=1e-4)
    before = _weights(m)
    with pytest.raises(ValueError, match="class_weight.*classes \\[2\\]"):
        m.fit(x, y, verbose=0, class_weight={0: 1.0, 1: 1.0})
    assert _same(before, _weights(m))


def test_regularisation_in_training_loss_not_in_validation(backend):
    x, y = _data(n=20)
    m = _model(kernel_regularizer=layers.regularizers.l2(0.1))
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy")
    h = m.fit(x, y, epochs=1, batch_size=20, verbose=0, validation_data=(x, y))
    kernel = m.layers[0].trainable_weights[0].numpy().astype(np.float64)
    penalty = 0.1 * np.sum(kernel**2)
    assert h.history["loss"][0] - h.history["val_loss"][0] == pytest.approx(penalty, rel=1e-3)


def test_training_learns(backend):
    x, y = _data(n=200)
    m = _model(hidden=16)
    m.compile(optimizer=train.adam(0.05), loss="categoricalCrossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    assert h.history["acc"][-1] > 0.85


def test_sparse_and_binary_targets(backend):
    x, y = _data(n=30)
    labels = np.argmax(y, 1)
    m = _model()
    m.compile(optimizer="adam", loss="sparseCategoricalCrossentropy", metrics=["accuracy"])
    h = m.fit(x, labels, epochs=1, verbose=0)
    assert m._metric_entries[0][2] is layers.metrics.sparse_categorical_accuracy
    assert set(h.history) == {"loss", "acc"}
    b = _model(k=1, act="sigmoid")
    b.compile(optimizer="adam", loss="binaryCrossentropy", metrics=["acc", "precision", "recall"])
    h = b.fit(x, (labels > 0).astype(np.float32), epochs=1, verbose=0)
    assert list(h.history) == ["loss", "acc", "precision", "recall"]


# --- errors before weight changes ---------------------------------------------------------------------


def test_errors_before_any_weight_change(backend):
    x, y = _data(n=20)
    m = _model()
    m.compile(optimizer="adam", loss="categoricalCrossentropy", metrics=["acc"])
    before = _weights(m)
    with pytest.raises(ValueError, match=r"\(None, 4\).*\(20, 5\)"):
        m.fit(np.zeros((20, 5), np.float32), y, verbose=0)
    with pytest.raises(ValueError, match=r"expected shape \(None, 3\).*received.*\(20, 2\)"):
        m.fit(x, y[:, :2], verbose=0)
    with pytest.raises(ValueError, match="20.*19"):
        m.fit(x, y[:19], verbose=0)
    for bad in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="validation_split"):
            m.fit(x, y, validation_split=bad, verbose=0)
    with pytest.raises(ValueError, match="no training samples"):
        m.fit(x[:1], y[:1], validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        m.fit(x, y, sample_weight=np.ones(5), verbose=0)
    with pytest.raises(ValueError, match="validation_data"):
        m.fit(x, y, validation_data=(x,), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape \(None, 3\)"):
        m.fit(x, y, validation_data=(x, y[:, :1]), verbose=0)
    with pytest.raises(ValueError, match="20.*19"):
        m.evaluate(x, y[:19])
    assert _same(before, _weights(m))
    assert m.optimizer.iterations == 0


# --- callbacks ----------------------------------------------------------------------------------------


def _diverging(n=40):
    """Training targets y, validation targets the opposite class: val_loss rises as we fit."""
    x, y = _data(n=n)
    return x, y, (x, y[:, ::-1].copy())


def test_early_stopping_patience_and_restore_best_weights(backend):
    x, y, val = _diverging()
    m = _model()
    m.compile(optimizer=train.adam(0.05), loss="categoricalCrossentropy")
    rec = Recorder()
    es = cbks.early_stopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = m.fit(x, y, epochs=20, batch_size=10, verbose=0, validation_data=val, callbacks=[es, rec])
    vl = h.history["val_loss"]
    best = int(np.argmin(vl))
    assert len(vl) == best + 3  # stopped after 2 epochs without improvement
    assert es.stopped_epoch == len(vl) - 1
    assert _same(_weights(m), rec.weights[best])
    assert not _same(_weights(m), rec.weights[-1])


def test_early_stopping_without_restore_keeps_last_weights(backend):
    x, y, val = _diverging()
    m = _model()
    m.compile(optimizer=train.adam(0.05), loss="categoricalCrossentropy")
    rec = Recorder()
    h = m.fit(x, y, epochs=20, verbose=0, validation_data=val,
              callbacks=[cbks.early_stopping(patience=1), rec])  # fmt: skip
    assert len(h.epoch) < 20
    assert _same(_weights(m), rec.weights[-1])


def test_early_stopping_modes_min_delta_baseline(backend):
    es = cbks.early_stopping(monitor="val_acc")
    assert es.maximize
    es = cbks.early_stopping(monitor="loss", mode="max")
    assert es.maximize
    with pytest.raises(ValueError, match="mode"):
        cbks.early_stopping(mode="sideways")
    x, y = _data(n=20)
    m = _model()
    m.compile(optimizer=train.sgd(0.01), loss="categoricalCrossentropy")
    # improvements smaller than min_delta do not count
    h = m.fit(
        x,
        y,
        epochs=10,
        verbose=0,
        callbacks=[cbks.early_stopping(monitor="loss", min_delta=10.0, patience=2)],
    )
    assert len(h.epoch) == 3
    # an unreachable baseline stops after `patience` epochs
    h = m.fit(
        x,
        y,
        epochs=10,
        verbose=0,
        callbacks=[cbks.early_stopping(monitor="loss", baseline=-1.0, patience=3)],
    )
    assert len(h.epoch) == 3


def test_stop_training_from_batch_callback(backend):
    x, y = _data(n=40)
    m = _model()
    m.compile(optimizer="sgd", loss="mse")

    def stop(batch, logs):
        if batch == 1:
            m.stop_training = True

    rec = Recorder()
    h = m.fit(x, y, epochs=5, batch_size=10, verbose=0, validation_split=0.25,
              callbacks=[cbks.lambda_callback(on_batch_end=stop), rec])  # fmt: skip
    assert h.epoch == [0]
    assert rec.events.count("batch_end 1") == 1 and "batch_begin 2" not in rec.events
    assert m.optimizer.iterations == 2


def test_terminate_on_nan_and_reduce_lr(backend):
    x, y = _data(n=20)
    m = _model()
    m.compile(optimizer=train.sgd(1e30), loss="mse")
    h = m.fit(x, y * 1e20, epochs=5, batch_size=5, verbose=0, callbacks=[cbks.terminate_on_nan()])
    assert len(h.epoch) == 1
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="mse")
    h = m.fit(x, y, epochs=4, verbose=0,
              callbacks=[cbks.reduce_lr_on_plateau(monitor="loss", factor=0.5, patience=1)])  # fmt: skip
    assert h.history["lr"] == [0.0] * 4  # never below min_lr (0)
    m.compile(optimizer=train.sgd(1e-9), loss="mse")
    h = m.fit(x, y, epochs=4, verbose=0,
              callbacks=[cbks.reduce_lr_on_plateau(monitor="loss", factor=0.5, patience=1)])  # fmt: skip
    # logged before the epoch's reduction (as Keras); no improvement from epoch 1 on
    assert h.history["lr"] == pytest.approx([1e-9, 1e-9, 5e-10, 2.5e-10], rel=1e-9, abs=0)
    assert m.optimizer.learning_rate == pytest.approx(1.25e-10, rel=1e-9)


def test_model_checkpoint(backend, tmp_path, monkeypatch):
    x, y, val = _diverging(n=20)
    m = _model()
    m.compile(optimizer=train.adam(0.05), loss="categoricalCrossentropy")
    if not callable(getattr(m, "save", None)):
        with pytest.raises(RuntimeError, match="model.save"):
            m.fit(x, y, epochs=1, verbose=0, callbacks=[cbks.model_checkpoint(tmp_path / "ck")])

    saved = []

    def fake_save(path):
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "model.json"), "w") as f:
            f.write(str(len(saved)))
        saved.append(path)

    monkeypatch.setattr(m, "save", fake_save, raising=False)
    ck = cbks.model_checkpoint(tmp_path / "best", save_best_only=True)
    h = m.fit(x, y, epochs=4, verbose=0, validation_data=val, callbacks=[ck])
    n_best = 1 + sum(
        1
        for a, b in zip(
            h.history["val_loss"][1:], np.minimum.accumulate(h.history["val_loss"]), strict=False
        )
        if a < b
    )
    assert len(saved) == n_best
    assert all(p != str(tmp_path / "best") for p in saved)  # written elsewhere, then renamed
    assert (tmp_path / "best" / "model.json").read_text() == str(n_best - 1)
    assert sorted(os.listdir(tmp_path)) == ["best"]  # no temporary folders left
    ck = cbks.model_checkpoint(str(tmp_path / "e{epoch}"))
    m.fit(x, y, epochs=2, verbose=0, callbacks=[ck])
    assert (tmp_path / "e1").is_dir() and (tmp_path / "e2").is_dir()


def test_progress_bar_output(backend, capsys):
    x, y = _data(n=20)
    m = _model()
    m.compile(optimizer="sgd", loss="mse", metrics=["acc"])
    buf = io.StringIO()
    m.fit(x, y, epochs=2, batch_size=5, verbose=0, callbacks=[cbks.progress_bar(1, file=buf)])
    text = buf.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "loss=" in text and "acc=" in text
    m.fit(x, y, epochs=1, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    m.fit(x, y, epochs=1, verbose=1)
    assert "Epoch 1/1" in capsys.readouterr().err


# --- memory, multi-output, datasets --------------------------------------------------------------------


def test_memory_flat_across_epochs(backend):
    x, y = _data(n=40)
    m = _model()
    m.compile(optimizer="adam", loss="categoricalCrossentropy", metrics=["acc"])
    rec = Recorder()
    m.fit(x, y, epochs=20, batch_size=8, verbose=0, validation_split=0.2, callbacks=[rec])
    assert rec.memory[0] == rec.memory[-1], rec.memory


def _two_outputs():
    tw.set_seed(0)
    inp = layers.input(shape=[4], name="x")
    h = layers.dense(units=8, activation="relu", name="hidden").apply(inp)
    a = layers.dense(units=3, activation="softmax", name="cls").apply(h)
    b = layers.dense(units=1, name="reg").apply(h)
    return layers.model(inputs=inp, outputs=[a, b])


def test_multi_output_logs_and_validation(backend):
    x, y = _data(n=30)
    r = (x.sum(1, keepdims=True) * 0.5).astype(np.float32)
    m = _two_outputs()
    m.compile(optimizer=train.sgd(0.0), loss={"cls": "categoricalCrossentropy", "reg": "mse"},
              metrics=["accuracy"])  # fmt: skip
    assert m.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_acc", "reg_acc"]
    h = m.fit(x, {"cls": y, "reg": r}, epochs=2, batch_size=7, verbose=0, validation_split=0.3)
    keys = ["loss", "cls_loss", "reg_loss", "cls_acc", "reg_acc"]
    assert list(h.history) == keys + [f"val_{k}" for k in keys]
    split = 21
    p_cls, p_reg = (t.numpy().astype(np.float64) for t in m.predict(x))
    pc = np.clip(p_cls / p_cls.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    ce = -np.sum(y * np.log(pc), -1)
    se = ((p_reg - r) ** 2)[:, 0]
    assert h.history["val_cls_loss"][0] == pytest.approx(ce[split:].mean(), rel=1e-4)
    assert h.history["val_reg_loss"][0] == pytest.approx(se[split:].mean(), rel=1e-4)
    assert h.history["val_loss"][0] == pytest.approx(
        ce[split:].mean() + se[split:].mean(), rel=1e-4
    )
    assert h.history["cls_loss"][0] == pytest.approx(ce[:split].mean(), rel=1e-4)
    acc = np.mean(np.argmax(p_cls, 1) == np.argmax(y, 1))
    ev = m.evaluate([x], [y, r])
    assert ev[3] == pytest.approx(acc, rel=1e-5)
    with pytest.raises(ValueError, match="lacks outputs"):
        m.compile(optimizer="sgd", loss={"cls": "mse"})
    with pytest.raises(ValueError, match="2 output"):
        m.compile(optimizer="sgd", loss=["mse"])


def test_multi_output_trains_both(backend):
    x, y = _data(n=60)
    r = (x.sum(1, keepdims=True) * 0.5).astype(np.float32)
    m = _two_outputs()
    m.compile(optimizer=train.adam(0.05), loss=["categoricalCrossentropy", "mse"])
    h = m.fit(x, [y, r], epochs=10, batch_size=16, verbose=0)
    assert h.history["reg_loss"][-1] < 0.5 * h.history["reg_loss"][0]
    assert h.history["cls_loss"][-1] < h.history["cls_loss"][0]
    assert h.history["loss"][-1] == pytest.approx(
        h.history["cls_loss"][-1] + h.history["reg_loss"][-1], rel=1e-5
    )


def test_steps_per_epoch(backend):
    x, y = _data(n=20)
    m = _model()
    m.compile(optimizer="sgd", loss="mse")
    rec = Recorder()
    m.fit(x, y, epochs=2, batch_size=8, steps_per_epoch=5, verbose=0, callbacks=[rec])
    assert m.optimizer.iterations == 10
    assert [b["size"] for b in rec.batch_logs] == [8, 8, 4, 8, 8, 4, 8, 8, 4, 8]


def test_fit_dataset(backend):
    x, y = _data(n=40)
    batches = [(x[i : i + 10], y[i : i + 10]) for i in range(0, 40, 10)]
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy", metrics=["acc"])
    h = m.fit_dataset(batches, epochs=2, validation_data=(x, y), verbose=0)
    assert m.optimizer.iterations == 8
    per = _per_sample_cce(m, x, y)
    np.testing.assert_allclose(h.history["loss"], [per.mean()] * 2, rtol=1e-4)
    np.testing.assert_allclose(h.history["val_loss"], [per.mean()] * 2, rtol=1e-4)
    # TF.js-style dict elements, validation from batches, batches_per_epoch over a generator
    dicts = [{"xs": bx, "ys": by} for bx, by in batches]
    h = m.fit_dataset(dicts, epochs=1, validation_data=batches[:2], verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(per[:20].mean(), rel=1e-4)
    gen = (b for b in batches * 3)
    h = m.fit_dataset(gen, epochs=3, batches_per_epoch=3, verbose=0)
    assert len(h.epoch) == 3 and m.optimizer.iterations == 8 + 4 + 9
    # a one-shot iterator that runs out stops training with a warning
    with pytest.warns(UserWarning, match="ran out"):
        h = m.fit_dataset(iter(batches), epochs=3, batches_per_epoch=3, verbose=0)
    assert len(h.epoch) == 2
    assert m.evaluate_dataset(batches)[0] == pytest.approx(per.mean(), rel=1e-4)


def test_train_on_batch_and_evaluate_types(backend):
    x, y = _data(n=16)
    m = _model()
    m.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy")
    loss0 = m.evaluate(x, y)
    assert isinstance(loss0, float)
    out = m.train_on_batch(x, y)
    assert isinstance(out, float) and out == pytest.approx(loss0, rel=1e-5)
    assert m.evaluate(x, y) < loss0
    m.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy", metrics=["acc"])
    out = m.train_on_batch(x, y)
    assert isinstance(out, list) and len(out) == 2
    # tensors and nested lists are accepted as data too
    h = m.fit(
        tw.tensor(x), y.tolist(), epochs=1, verbose=0, validation_data=(tw.tensor(x), tw.tensor(y))
    )
    assert set(h.history) == {"loss", "acc", "val_loss", "val_acc"}


def test_batch_hooks_are_called_only_when_a_callback_has_one(backend, monkeypatch):
    """With no batch hook anywhere (no progress bar, only epoch hooks), fit makes no
    per-batch callback calls; a callback with a batch hook gets every batch, in order."""
    calls = []
    real = cbks.CallbackList._call

    def counting(self, hook, *args):
        if "batch" in hook:
            calls.append(hook)
        return real(self, hook, *args)

    monkeypatch.setattr(cbks.CallbackList, "_call", counting)
    x, y = _data(n=64)
    m = _model()
    m.compile(optimizer="sgd", loss="categoricalCrossentropy")
    ends = []
    m.fit(x, y, batch_size=8, epochs=1, verbose=0,
          callbacks=[cbks.lambda_callback(on_epoch_end=lambda e, logs: ends.append(e))])  # fmt: skip
    assert ends == [0] and calls == []
    seen = []
    m.fit(x, y, batch_size=8, epochs=1, verbose=0,
          callbacks=[cbks.lambda_callback(on_batch_end=lambda b, logs: seen.append(b))])  # fmt: skip
    assert seen == list(range(8))
    assert calls.count("on_train_batch_end") == 8
