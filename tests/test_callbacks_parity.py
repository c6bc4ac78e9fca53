"""TF.js / Keras parity of the training API (issue 20 items 5-6): every Keras hook name and
TF.js's dicts of hooks, CSVLogger, TensorBoard event files, model.input/output(_shape),
de-duplicated metric names, list class_weight, sparse CCE's clip and the optimizer's weight
order. References are computed here with numpy."""

from __future__ import annotations

import csv
import glob
import os
import struct
import sys

import numpy as np
import pytest

import engine as tw
import layers
from engine import train
from layers import callbacks as cbks
from layers import losses
from layers import training as training_mod

EPS = 1e-7


@pytest.fixture
def np_backend():
    """Callback plumbing is backend-independent: run it on the numpy reference backend."""
    with tw.backend_scope("numpy"):
        yield


def _data(n=10, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    labels = rng.integers(0, k, size=n)
    labels[:k] = np.arange(k)  # every class present
    return x, np.eye(k, dtype=np.float32)[labels], labels


def _model(d=3, k=3, act="softmax"):
    tw.set_seed(0)
    return layers.sequential([layers.dense(units=k, activation=act, input_shape=[d])])


def _cce_rows(p, y):
    """TF.js categorical crossentropy per row, in float64."""
    p = np.asarray(p, np.float64)
    q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -np.sum(y * np.log(q), -1)


# --- hooks -------------------------------------------------------------------------------------------


class AllHooks(cbks.Callback):
    """Overrides every Keras hook (and no legacy name) and records (hook, index, logs)."""

    def __init__(self):
        super().__init__()
        self.events = []

    def _rec(self, name, *args):
        index = args[0] if len(args) == 2 else None
        logs = args[-1]
        self.events.append((name, index, dict(logs) if logs is not None else None))


for _hook in cbks.HOOKS:
    if _hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
                 "on_predict_begin", "on_predict_end"):  # fmt: skip

        def _m(self, logs=None, _h=_hook):
            self._rec(_h, logs)
    else:

        def _m(self, i, logs=None, _h=_hook):
            self._rec(_h, i, logs)

    setattr(AllHooks, _hook, _m)


def test_every_keras_hook_is_called_with_keras_logs(np_backend):
    x, y, _ = _data(n=10)
    xv, yv = x[:4], y[:4]
    m = _model()
    m.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy", metrics=["acc"])
    rec = AllHooks()
    h = m.fit(x, y, batch_size=5, epochs=2, verbose=0, shuffle=False,
              validation_data=(xv, yv), callbacks=[rec])  # fmt: skip
    names = [(e[0], e[1]) for e in rec.events]
    epoch = [
        ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
        ("on_train_batch_begin", 1), ("on_train_batch_end", 1),
        ("on_test_begin", None), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
        ("on_test_end", None),
    ]  # fmt: skip
    assert names == [
        ("on_train_begin", None),
        ("on_epoch_begin", 0), *epoch, ("on_epoch_end", 0),
        ("on_epoch_begin", 1), *epoch, ("on_epoch_end", 1),
        ("on_train_end", None),
    ]  # fmt: skip
    ev = {(n, i): logs for n, i, logs in rec.events[-12:]}  # the second epoch
    assert ev[("on_train_batch_begin", 0)] == {"batch": 0, "size": 5}
    assert set(ev[("on_train_batch_end", 1)]) == {"batch", "size", "loss", "acc"}
    # the test hooks carry unprefixed names; on_test_end holds what val_* logs
    assert set(ev[("on_test_batch_end", 0)]) == {"batch", "size", "loss", "acc"}
    assert ev[("on_test_batch_end", 0)]["size"] == 4
    assert ev[("on_test_end", None)] == {
        "loss": h.history["val_loss"][1],
        "acc": h.history["val_acc"][1],
    }
    val_ref = _cce_rows(m.predict(xv).numpy(), yv).mean()
    np.testing.assert_allclose(ev[("on_test_end", None)]["loss"], val_ref, rtol=1e-5)
    # as Keras, on_train_end receives the last epoch's logs
    assert rec.events[-1][2] == {k: v[-1] for k, v in h.history.items()}

    # evaluate and predict call their hooks too
    rec.events.clear()
    loss, acc = m.evaluate(x, y, batch_size=4, callbacks=rec)
    assert [e[:2] for e in rec.events] == [
        ("on_test_begin", None),
        *[(f"on_test_batch_{w}", b) for b in range(3) for w in ("begin", "end")],
        ("on_test_end", None),
    ]
    assert rec.events[-1][2] == {"loss": loss, "acc": acc}
    sizes = [e[2]["size"] for e in rec.events if e[0] == "on_test_batch_end"]
    batch_losses = [e[2]["loss"] for e in rec.events if e[0] == "on_test_batch_end"]
    assert sizes == [4, 4, 2]
    np.testing.assert_allclose(np.dot(sizes, batch_losses) / 10, loss, rtol=1e-5)
    rec.events.clear()
    probs = m.predict(x, batch_size=4, callbacks=[rec]).numpy()
    assert [e[:2] for e in rec.events] == [
        ("on_predict_begin", None),
        *[(f"on_predict_batch_{w}", b) for b in range(3) for w in ("begin", "end")],
        ("on_predict_end", None),
    ]
    outs = [e[2]["outputs"].numpy() for e in rec.events if e[0] == "on_predict_batch_end"]
    np.testing.assert_array_equal(np.concatenate(outs), probs)


class TrainBatchEndOnly(cbks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append((batch, logs["size"], logs["loss"]))


class CamelCase(cbks.Callback):
    """TF.js method names on a Callback subclass."""

    def __init__(self):
        super().__init__()
        self.events = []

    def onTrainBegin(self, logs=None):  # noqa: N802
        self.events.append("train_begin")

    def onEpochEnd(self, epoch, logs=None):  # noqa: N802
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def onBatchEnd(self, batch, logs=None):  # noqa: N802
        self.events.append(f"batch_end {batch}")


class EpochOnly(cbks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        pass


def test_on_train_batch_end_and_camel_case_methods_are_called(np_backend):
    x, y, _ = _data(n=10)
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy")
    only, camel = TrainBatchEndOnly(), CamelCase()
    m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=[only, camel])
    assert [(b, s) for b, s, _ in only.seen] == [(0, 4), (1, 4), (2, 2)]
    p = m.predict(x).numpy()
    ref = [_cce_rows(p[a:b], y[a:b]).mean() for a, b in ((0, 4), (4, 8), (8, 10))]
    np.testing.assert_allclose([v for _, _, v in only.seen], ref, rtol=1e-5)
    assert camel.events == [
        "train_begin", "batch_end 0", "batch_end 1", "batch_end 2", "epoch_end 0 ['loss']",
    ]  # fmt: skip


def test_only_real_batch_hooks_disable_chunked_steps(tmp_path):
    assert not training_mod._batch_hooks([EpochOnly(), cbks.History(), cbks.ProgressBar(0)])
    assert not training_mod._batch_hooks([cbks.early_stopping(), cbks.csv_logger(tmp_path / "a")])
    assert not training_mod._batch_hooks([cbks.lambda_callback(onEpochEnd=print)])
    assert training_mod._batch_hooks([TrainBatchEndOnly()])
    assert training_mod._batch_hooks([CamelCase()])
    assert training_mod._batch_hooks([cbks.lambda_callback(onBatchBegin=print)])
    assert not training_mod._needs_batch_values([cbks.lambda_callback(onBatchBegin=print)])
    assert training_mod._needs_batch_values([cbks.terminate_on_nan()])


# --- TF.js's dicts of hooks ----------------------------------------------------------------------


def test_tfjs_dict_callbacks(np_backend):
    x, y, _ = _data(n=8)
    m = _model()
    m.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy")
    seen = []
    h = m.fit(x, y, epochs=2, verbose=0, callbacks={"on_epoch_end": lambda e, logs: seen.append(e)})
    assert seen == [0, 1]
    losses_seen = []
    h = m.fit(x, y, epochs=2, verbose=0,
              callbacks={"onEpochEnd": lambda e, logs: losses_seen.append(logs["loss"])})  # fmt: skip
    assert losses_seen == h.history["loss"]
    events = []
    m.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[
        {"onTrainBegin": lambda logs: events.append("begin")},
        {"onBatchEnd": lambda b, logs: events.append(f"batch {b} {logs['size']}")},
        EpochOnly(),
    ])  # fmt: skip
    assert events == ["begin", "batch 0 4", "batch 1 4"]


def test_bad_callbacks_raise_before_training(np_backend):
    x, y, _ = _data(n=8)
    m = _model()
    m.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy")
    w0 = [w.numpy().copy() for w in m.weights]
    with pytest.raises(TypeError, match=r"dicts of hook functions.*got str 'on_epoch_end'"):
        m.fit(x, y, verbose=0, callbacks="on_epoch_end")
    with pytest.raises(TypeError, match=r"got int 3 \(entry 1\)"):
        m.fit(x, y, verbose=0, callbacks=[EpochOnly(), 3])
    with pytest.raises(ValueError, match=r"unknown hook 'onEpochEnnd' \(did you mean 'onEpochEnd'"):
        m.fit(x, y, verbose=0, callbacks={"onEpochEnnd": print})
    with pytest.raises(ValueError, match="onYield is not supported"):
        m.fit(x, y, verbose=0, callbacks={"onYield": print})
    with pytest.raises(TypeError, match="hook 'onEpochEnd' must be a function, got int"):
        m.fit(x, y, verbose=0, callbacks={"onEpochEnd": 1})
    with pytest.raises(ValueError, match="name the same hook 'on_train_batch_end'"):
        cbks.lambda_callback(on_batch_end=print, onBatchEnd=print)
    assert m.optimizer.iterations == 0
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(w0, m.weights, strict=True))


# --- CSVLogger ------------------------------------------------------------------------------------


def test_csv_logger_keras_semantics(np_backend, tmp_path):
    x, y, _ = _data(n=12)
    m = _model()
    m.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy", metrics=["acc"])
    path = tmp_path / "log.csv"
    h = m.fit(x[:8], y[:8], epochs=3, verbose=0, validation_data=(x[8:], y[8:]),
              callbacks=[cbks.csv_logger(path)])  # fmt: skip
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == 4  # csv's excel dialect, as Keras
    rows = list(csv.reader(path.read_text().splitlines()))
    keys = sorted(h.history)
    assert rows[0] == ["epoch", *keys] == ["epoch", "acc", "loss", "val_acc", "val_loss"]
    for e, row in enumerate(rows[1:]):
        assert int(row[0]) == e
        assert [float(v) for v in row[1:]] == [h.history[k][e] for k in keys]  # exact repr
    # append: no second header, rows continue; separator
    h2 = m.fit(x[:8], y[:8], epochs=2, verbose=0, callbacks=[cbks.csv_logger(path, append=True)])
    rows = list(csv.reader(path.read_text().splitlines()))
    assert len(rows) == 6 and rows[0][0] == "epoch" and rows[4][0] == "0"
    # as Keras, the appended rows hold this run's logs (here no val_*), under the old header
    assert rows[5] == ["1", repr(h2.history["acc"][1]), repr(h2.history["loss"][1])]
    semi = tmp_path / "semi.csv"
    m.fit(x[:8], y[:8], epochs=1, verbose=0, callbacks=[cbks.csv_logger(semi, separator=";")])
    assert semi.read_text().splitlines()[0] == "epoch;acc;loss"
    # append=False overwrites
    m.fit(x[:8], y[:8], epochs=1, verbose=0, callbacks=[cbks.csv_logger(path)])
    assert len(path.read_text().splitlines()) == 2
    with pytest.raises(ValueError, match="separator must be one character, got ';;'"):
        cbks.csv_logger(path, separator=";;")
    with pytest.raises(TypeError, match="filename must be a path"):
        cbks.csv_logger(3)


def test_csv_logger_missing_keys_are_na(tmp_path):
    log = cbks.CSVLogger(tmp_path / "na.csv")
    log.on_train_begin()
    log.on_epoch_end(0, {"b": 2.5, "a": 1.0})
    log.on_epoch_end(1, {"a": 3.0, "c": 9.0})
    log.on_train_end()
    assert (tmp_path / "na.csv").read_text().splitlines() == ["epoch,a,b", "0,1.0,2.5", "1,3.0,NA"]


# --- TensorBoard ----------------------------------------------------------------------------------


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path: str) -> list[bytes]:
    """The TFRecord framing TensorBoard reads: u64 length, masked CRC32C of the length, the
    data, masked CRC32C of the data; both checksums verified."""
    out = []
    with open(path, "rb") as f:
        blob = f.read()
    pos = 0
    while pos < len(blob):
        header = blob[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", blob[pos + 8 : pos + 12])
        assert hcrc == _masked(_crc32c(header))
        data = blob[pos + 12 : pos + 12 + length]
        (dcrc,) = struct.unpack("<I", blob[pos + 12 + length : pos + 16 + length])
        assert dcrc == _masked(_crc32c(data))
        out.append(data)
        pos += 16 + length
    return out


def _events(run_dir: str) -> tuple[dict, dict]:
    """{tag: {step: value}} of the scalars and {tag: {step: HistogramProto}} of a run."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event
    except ImportError:
        from tensorboardX.proto.event_pb2 import Event
    files = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    assert len(files) == 1, files
    scalars: dict = {}
    hists: dict = {}
    for rec in _records(files[0]):
        ev = Event.FromString(rec)
        for v in ev.summary.value:
            if v.HasField("histo"):
                hists.setdefault(v.tag, {})[ev.step] = v.histo
            else:
                value = v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0]
                scalars.setdefault(v.tag, {})[ev.step] = value
    return scalars, hists


def test_tensorboard_event_files(np_backend, tmp_path):
    pytest.importorskip("tensorboardX", reason="TensorBoard needs the tensorboard extra")
    x, y, _ = _data(n=12)
    m = _model()
    m.compile(optimizer=train.sgd(0.5), loss="categoricalCrossentropy", metrics=["acc"])
    snapshots = []
    snap = cbks.lambda_callback(
        on_epoch_end=lambda e, logs: snapshots.append({w.name: w.numpy() for w in m.weights})
    )
    board = cbks.tensorboard(tmp_path / "tb", histogram_freq=2)
    assert not training_mod._batch_hooks([board])
    h = m.fit(x[:8], y[:8], epochs=3, verbose=0, validation_data=(x[8:], y[8:]),
              callbacks=[snap, board])  # fmt: skip
    tr, hists = _events(str(tmp_path / "tb" / "train"))
    va, vhists = _events(str(tmp_path / "tb" / "validation"))
    assert set(tr) == {"epoch_loss", "epoch_acc"} and set(va) == {"epoch_loss", "epoch_acc"}
    for k in ("loss", "acc"):
        np.testing.assert_allclose([tr[f"epoch_{k}"][e] for e in range(3)], h.history[k], rtol=1e-6)
        np.testing.assert_allclose(
            [va[f"epoch_{k}"][e] for e in range(3)], h.history[f"val_{k}"], rtol=1e-6
        )
    assert vhists == {}
    assert set(hists) == {w.name for w in m.weights}
    for tag, by_step in hists.items():
        assert sorted(by_step) == [0, 2]  # epoch % histogram_freq == 0
        for step, hp in by_step.items():
            w = snapshots[step][tag].astype(np.float64)
            assert hp.num == w.size
            np.testing.assert_allclose([hp.min, hp.max], [w.min(), w.max()], rtol=1e-6)
            np.testing.assert_allclose(hp.sum, w.sum(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(hp.sum_squares, (w**2).sum(), rtol=1e-5)
            assert sum(hp.bucket) == w.size

    batch_board = cbks.tensorboard(tmp_path / "tb2", update_freq=2)
    assert training_mod._batch_hooks([batch_board])
    h = m.fit(x, y, epochs=1, batch_size=2, verbose=0, shuffle=False, callbacks=[batch_board])
    tr, _ = _events(str(tmp_path / "tb2" / "train"))
    assert sorted(tr["batch_loss"]) == [2, 4, 6] and list(tr["epoch_loss"]) == [0]


def test_tensorboard_without_tensorboardx_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import raises ImportError
    with pytest.raises(ImportError, match=r"tensorweave\[tensorboard\]"):
        cbks.tensorboard(tmp_path)


def test_tensorboard_bad_arguments(tmp_path):
    pytest.importorskip("tensorboardX", reason="TensorBoard needs the tensorboard extra")
    with pytest.raises(ValueError, match=r"update_freq .* got 'epochs' \(did you mean 'epoch'"):
        cbks.tensorboard(tmp_path, update_freq="epochs")
    with pytest.raises(ValueError, match="histogram_freq"):
        cbks.tensorboard(tmp_path, histogram_freq=-1)


# --- model.input / output ----------------------------------------------------------------------------


def test_model_input_output_and_shapes():
    seq = layers.sequential(
        [layers.dense(units=4, input_shape=[3]), layers.dense(units=2, name="top")]
    )
    assert isinstance(seq.input, layers.SymbolicTensor)
    assert seq.input.shape == (None, 3) and seq.input.dtype == "float32"
    assert seq.output.shape == (None, 2) and seq.output.layer.name == "top"
    assert seq.input_shape == (None, 3) and seq.output_shape == (None, 2)
    a = layers.input(shape=[5], name="pa")
    b = layers.input(shape=[2, 4], name="pb", dtype="int32")
    out1 = layers.dense(units=1, name="o1")(a)
    out2 = layers.dense(units=6, name="o2")(layers.flatten()(b))
    fn = layers.model(inputs=[a, b], outputs=[out1, out2])
    assert fn.input == [a, b] and fn.output == [out1, out2]
    assert fn.input[1].dtype == "int32"
    assert fn.input_shape == [(None, 5), (None, 2, 4)]
    assert fn.output_shape == [(None, 1), (None, 6)]
    single = layers.model(inputs=a, outputs=out1)
    assert single.input is a and single.output is out1 and single.output_shape == (None, 1)
    unbuilt = layers.sequential([layers.dense(units=2)])
    with pytest.raises(AttributeError, match="has no input yet"):
        _ = unbuilt.input_shape
    with pytest.raises(AttributeError, match="has no output yet"):
        _ = unbuilt.output
    unbuilt.build((None, 7))
    assert unbuilt.input_shape == (None, 7) and unbuilt.output_shape == (None, 2)


# --- metric names -------------------------------------------------------------------------------------


def test_dedupe_rule_matches_tfjs():
    # tfjs-layers training.ts getDedupedMetricsNames: `${label}_${count before i}` if repeated
    assert training_mod._dedupe_names(["loss", "acc", "mse", "acc", "acc"]) == [
        "loss", "acc_0", "mse", "acc_1", "acc_2",
    ]  # fmt: skip
    assert training_mod._dedupe_names(["loss", "a_loss"]) == ["loss", "a_loss"]


def test_repeated_metrics_are_numbered_in_history(np_backend):
    x, y, _ = _data(n=12)
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy",
              metrics=["mse", "acc", "mse"])  # fmt: skip
    assert m.metrics_names == ["loss", "mse", "acc", "mse"]  # as TF.js's metricsNames
    h = m.fit(x[:8], y[:8], epochs=1, verbose=0, validation_data=(x[8:], y[8:]))
    assert list(h.history) == [
        "loss", "mse_0", "acc", "mse_1", "val_loss", "val_mse_0", "val_acc", "val_mse_1",
    ]  # fmt: skip
    assert h.params["metrics"] == list(h.history)
    p = m.predict(x).numpy().astype(np.float64)
    mse = ((p - y) ** 2).mean(-1)
    np.testing.assert_allclose(h.history["mse_0"], [mse[:8].mean()], rtol=1e-5)
    np.testing.assert_allclose(h.history["mse_1"], [mse[:8].mean()], rtol=1e-5)
    np.testing.assert_allclose(h.history["val_mse_1"], [mse[8:].mean()], rtol=1e-5)


# --- class_weight ----------------------------------------------------------------------------------------


def test_list_class_weight_equals_dict(backend):
    x, y, labels = _data(n=12)
    cw = [1.0, 2.0, 0.5]
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy")
    h = m.fit(x, y, batch_size=12, epochs=1, verbose=0, class_weight=cw)
    ref = (_cce_rows(m.predict(x).numpy(), y) * np.array(cw)[labels]).mean()
    np.testing.assert_allclose(h.history["loss"], [ref], rtol=1e-5)
    trained = []
    for weights in (cw, {0: 1.0, 1: 2.0, 2: 0.5}, np.array(cw), [cw]):
        m = _model()
        m.compile(optimizer=train.sgd(0.3), loss="categoricalCrossentropy")
        m.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, class_weight=weights)
        trained.append([w.numpy() for w in m.weights])
    for other in trained[1:]:
        for a, b in zip(trained[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
    m = _model()
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy")
    loss = m.train_on_batch(x, y, class_weight=cw)
    np.testing.assert_allclose(loss, ref, rtol=1e-5)


def test_class_weight_per_output_and_errors(np_backend):
    x, y, labels = _data(n=9)
    inp = layers.input(shape=[3], name="cin")
    o1 = layers.dense(units=3, activation="softmax", name="c1")(inp)
    o2 = layers.dense(units=3, activation="softmax", name="c2")(inp)
    tw.set_seed(0)
    m = layers.model(inputs=inp, outputs=[o1, o2])
    m.compile(optimizer=train.sgd(0.0), loss="categoricalCrossentropy")
    h = m.fit(x, [y, y], batch_size=9, epochs=1, verbose=0,
              class_weight=[[1.0, 2.0, 3.0], None])  # fmt: skip
    p1, p2 = (t.numpy() for t in m.predict(x))
    l1 = (_cce_rows(p1, y) * np.array([1.0, 2.0, 3.0])[labels]).mean()
    l2 = _cce_rows(p2, y).mean()
    np.testing.assert_allclose(h.history["c1_loss"], [l1], rtol=1e-5)
    np.testing.assert_allclose(h.history["c2_loss"], [l2], rtol=1e-5)
    with pytest.raises(ValueError, match=r"list of 3 entries but the model has 2 output"):
        m.fit(x, [y, y], verbose=0, class_weight=[{0: 1}, {0: 1}, {0: 1}])
    with pytest.raises(TypeError, match="class_weight for output 'c2' must be a dict"):
        m.fit(x, [y, y], verbose=0, class_weight=[{0: 1, 1: 1, 2: 1}, "x"])
    single = _model()
    single.compile(optimizer=train.sgd(0.1), loss="categoricalCrossentropy")
    with pytest.raises(ValueError, match=r"no weight for classes \[2\]"):
        single.fit(x, y, verbose=0, class_weight=[1.0, 2.0])
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        single.fit(x, y, verbose=0, class_weight="balanced")
    assert single.optimizer.iterations == 0


# --- sparse categorical crossentropy --------------------------------------------------------------


def test_sparse_cce_clips_before_renormalising(backend):
    p = np.array(
        [[0.0, 0.5, 0.2], [0.3, 0.3, 0.3], [1.0, 0.0, 0.0], [0.9, 0.6, 0.1], [0.2, 0.2, 0.6]],
        np.float32,
    )
    labels = np.array([0, 2, 1, 1, 2])
    c = np.clip(p.astype(np.float64), EPS, 1 - EPS)  # tfjs-layers losses.ts
    ref = _cce_rows(c, np.eye(3)[labels])
    got = losses.sparse_categorical_crossentropy(tw.tensor(labels, dtype="int32"), tw.tensor(p))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-4)
    # the unclipped formula differs on the rows with zeros: the test can tell them apart
    assert abs(_cce_rows(p, np.eye(3)[labels])[0] - ref[0]) > 0.1
    # through compile: the model's loss uses the same formula
    m = layers.sequential([layers.dense(units=3, input_shape=[3], use_bias=False)])
    m.compile(optimizer="sgd", loss="sparseCategoricalCrossentropy")
    m.layers[0].set_weights([np.eye(3, dtype=np.float32)])
    np.testing.assert_allclose(m.evaluate(p, labels.astype(np.float32)), ref.mean(), rtol=1e-4)
    # from logits: no clip of the logits (tfjs-layers would squash them into [eps, 1-eps])
    z = np.array([[2.0, -1.0, 0.5]], np.float32)
    got = losses.sparse_categorical_crossentropy(
        tw.tensor([0], dtype="int32"), tw.tensor(z), from_logits=True
    )
    sm = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    np.testing.assert_allclose(got.numpy(), -np.log(sm[:, 0]), rtol=1e-5)


# --- optimizer weights order ---------------------------------------------------------------------------------------


def test_optimizer_weights_in_tfjs_order(backend):
    rng = np.random.default_rng(3)
    a = tw.variable(tw.tensor(rng.normal(size=(2, 3)).astype(np.float32)), name="ow_a")
    b = tw.variable(tw.tensor(rng.normal(size=(3,)).astype(np.float32)), name="ow_b")
    grads = [
        (rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(3,)).astype(np.float32))
        for _ in range(4)
    ]
    opt = train.adam(0.01)
    for ga, gb in grads[:2]:
        opt.apply_gradients([(tw.tensor(ga), a), (tw.tensor(gb), b)])
    state = opt.get_weights()
    assert [s["name"] for s in state] == ["iter", "ow_a/m", "ow_b/m", "ow_a/v", "ow_b/v"]
    assert int(state[0]["tensor"].numpy()) == 2
    # numpy reference of Adam's moments after two steps
    for k, (_name, shape) in enumerate((("a", (2, 3)), ("b", (3,)))):
        g = [gr[k].astype(np.float64) for gr in grads[:2]]
        m1 = 0.1 * g[0]
        m1 = 0.9 * m1 + 0.1 * g[1]
        v1 = 0.001 * g[0] ** 2
        v1 = 0.999 * v1 + 0.001 * g[1] ** 2
        np.testing.assert_allclose(state[1 + k]["tensor"].numpy(), m1, rtol=1e-5)
        np.testing.assert_allclose(state[3 + k]["tensor"].numpy(), v1, rtol=1e-5)
        assert state[1 + k]["tensor"].shape == shape
    # TF.js's setWeights by position: bare values in that order
    a2 = tw.variable(tw.tensor(a.numpy()), name="ow_a")
    b2 = tw.variable(tw.tensor(b.numpy()), name="ow_b")
    opt2 = train.adam(0.01)
    opt2.apply_gradients([(tw.zeros([2, 3]), a2), (tw.zeros([3]), b2)])  # meets a2, b2
    a2.assign(tw.tensor(a.numpy()))
    b2.assign(tw.tensor(b.numpy()))
    opt2.set_weights([s["tensor"].numpy() for s in state])
    assert opt2.iterations == 2
    for ga, gb in grads[2:]:
        opt.apply_gradients([(tw.tensor(ga), a), (tw.tensor(gb), b)])
        opt2.apply_gradients([(tw.tensor(ga), a2), (tw.tensor(gb), b2)])
    np.testing.assert_allclose(a2.numpy(), a.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b2.numpy(), b.numpy(), rtol=1e-6)
    # named entries in any order, validated before anything changes
    before = opt2.iterations
    with pytest.raises(ValueError, match="mix of named entries and bare values"):
        opt2.set_weights([("iter", 7), np.zeros(3)])
    with pytest.raises(ValueError, match="got 3 bare values"):
        opt2.set_weights([np.int32(7), np.zeros((2, 3)), np.zeros(3)])
    with pytest.raises(ValueError, match="lacks slots"):
        opt2.set_weights([("iter", 9), ("ow_a/m", np.zeros((2, 3)))])
    assert opt2.iterations == before
    with pytest.raises(ValueError, match="a fresh optimizer needs named entries"):
        train.adam().set_weights([np.int32(1), np.zeros(3), np.zeros(3)])
