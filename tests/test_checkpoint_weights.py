"""``ModelCheckpoint(save_weights_only=True)`` (Keras): each save is ``model.save_weights``,
atomic, loadable with ``load_weights``; works for subclassed models."""

from __future__ import annotations

import os

import numpy as np
import pytest

import engine as tw
import layers
from layers import callbacks as cbks


@pytest.fixture(autouse=True)
def _numpy():
    with tw.backend_scope("numpy"):
        yield


class Tiny(layers.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.dense(units=4, activation="relu")
        self.out = layers.dense(units=1)

    def call(self, inputs, training=None):
        return self.out(self.hidden(inputs))


class Record(cbks.Callback):
    """The model's weights at each epoch end (listed before the checkpoint)."""

    def __init__(self):
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    return x, y


def test_weights_only_checkpoint_of_best_epoch_loads_back(tmp_path):
    x, y = _data()
    vx, vy = _data(1)
    m = Tiny()
    m.compile(optimizer=tw.train.sgd(0.05), loss="mse")
    rec = Record()
    ck = cbks.model_checkpoint(
        tmp_path / "best.weights.npz",
        save_best_only=True,
        save_weights_only=True,
        monitor="val_loss",
    )
    h = m.fit(
        x, y, epochs=5, batch_size=8, verbose=0, validation_data=(vx, vy), callbacks=[rec, ck]
    )
    best = int(np.argmin(h.history["val_loss"]))
    assert sorted(os.listdir(tmp_path)) == ["best.weights.npz"]  # no temporary files left
    assert len(ck.saved) >= 1
    fresh = Tiny()
    fresh(x[:1])  # a subclassed model builds on its first batch, then loads
    fresh.load_weights(tmp_path / "best.weights.npz")
    for a, b in zip(fresh.get_weights(), rec.weights[best], strict=True):
        np.testing.assert_array_equal(a, b)


def test_weights_only_checkpoint_per_epoch_and_atomic(tmp_path, monkeypatch):
    x, y = _data()
    m = layers.sequential([layers.dense(units=1, input_shape=[3])])
    m.compile(optimizer="sgd", loss="mse")
    ck = cbks.model_checkpoint(
        str(tmp_path / "ck" / "e{epoch}.weights.npz"), save_weights_only=True
    )
    m.fit(x, y, epochs=2, verbose=0, callbacks=[ck])
    assert sorted(os.listdir(tmp_path / "ck")) == ["e1.weights.npz", "e2.weights.npz"]
    before = (tmp_path / "ck" / "e2.weights.npz").read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    ck = cbks.model_checkpoint(str(tmp_path / "ck" / "e2.weights.npz"), save_weights_only=True)
    with pytest.raises(OSError, match="disk full"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[ck])
    monkeypatch.undo()
    # the failed save left the previous file whole and no temporary file behind
    assert (tmp_path / "ck" / "e2.weights.npz").read_bytes() == before
    assert sorted(os.listdir(tmp_path / "ck")) == ["e1.weights.npz", "e2.weights.npz"]


def test_save_weights_only_must_be_a_bool(tmp_path):
    with pytest.raises(TypeError, match=r"save_weights_only must be a bool, got 'yes'"):
        cbks.model_checkpoint(tmp_path / "w.npz", save_weights_only="yes")
