"""Compiled trace programs (``backends/cpu/steps/chunk.py``): a chunk of steps as one numba loop
must train exactly as the Python program does, keep tensors callers hold intact, and decline
(with its reason) what it cannot compile."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

import engine as tw
import layers

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _model(optimizer: str, extra=()):
    tw.set_seed(5)
    model = layers.sequential(
        [
            layers.dense(units=24, activation="relu", input_shape=[20]),
            *extra,
            layers.dense(units=5, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss="categoricalCrossentropy", metrics=["accuracy"])
    return model


def _data(n=200):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)]
    return tw.tensor(x), tw.tensor(y)


def _programs(model):
    return [t.program for t in model._traces["train"].traces.values() if t.program is not None]


def _fit(model, x, y, compile_after, monkeypatch, epochs=3):
    from backends.cpu.steps import program

    monkeypatch.setattr(program, "COMPILE_AFTER", compile_after)
    return [
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False).history
        for _ in range(epochs)
    ]


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_compiled_chunks_train_as_the_python_program(cpu, monkeypatch, optimizer):
    from backends.cpu import kernels as K
    from backends.cpu.steps.chunk import Chunk

    x, y = _data()
    py, nb = _model(optimizer), _model(optimizer)
    h_py = _fit(py, x, y, -1, monkeypatch)
    h_nb = _fit(nb, x, y, 0, monkeypatch)
    chunks = [c for p in _programs(nb) for c in p.chunks.values()]
    assert chunks and all(isinstance(c, Chunk) for c in chunks), chunks
    assert not any(p.chunks for p in _programs(py))
    # small GEMMs run on one BLAS thread either way: the same kernels in the same order
    assert h_nb == h_py
    for a, b in zip(nb.get_weights(), py.get_weights(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert nb.optimizer.iterations == py.optimizer.iterations == 3 * 13
    # every variable's update is one in-place launch over the flat arenas (arena.py)
    for c in chunks:
        (group,) = c.groups
        assert len(group.members) == len(nb.trainable_weights) == 4
        assert group.total == sum(int(np.prod(w.shape)) for w in nb.trainable_weights)
        called = set(map(id, c.names.values()))
        assert id(K.opt_update_ip) in called and id(K.opt_update) not in called


def test_compiled_chunks_keep_held_tensors(cpu, monkeypatch):
    x, y = _data(192)  # no shorter last batch: one program, whose pools the held views are in
    model = _model("adam")
    _fit(model, x, y, 0, monkeypatch, epochs=2)
    snaps = []
    for _ in range(3):
        held = [tw.identity(w) for w in model.weights]  # views of the variables' buffers
        snaps.append((held, [np.array(t.numpy()) for t in held]))
        _fit(model, x, y, 0, monkeypatch, epochs=1)
    for held, kept in snaps:
        for t, k in zip(held, kept, strict=True):
            np.testing.assert_array_equal(t.numpy(), k)
    now = [np.asarray(w) for w in model.get_weights()]
    assert any(not np.array_equal(a, b) for a, b in zip(now, kept, strict=True))


def test_a_step_with_live_ops_is_not_compiled(cpu, monkeypatch, caplog):
    x, y = _data()
    model = _model("adam", extra=(layers.dropout(rate=0.3),))
    with caplog.at_level(logging.INFO, logger="tensorweave.trace"):
        hist = _fit(model, x, y, 0, monkeypatch, epochs=2)
    assert all(np.isfinite(h["loss"][0]) for h in hist)
    reasons = [r for p in _programs(model) for r in p.chunks.values()]
    assert reasons and all(r == "the step has a live op" for r in reasons), reasons
    assert "not compiled: the step has a live op" in caplog.text


def test_programs_wait_until_hot(cpu, monkeypatch):
    x, y = _data()
    model = _model("sgd")
    _fit(model, x, y, 10_000, monkeypatch, epochs=1)
    progs = _programs(model)
    assert progs and all(not p.chunks for p in progs)
    assert sum(p.steps_run for p in progs) > 0


def test_large_gemms_and_updates_run_on_numba_threads(cpu, monkeypatch):
    """GEMMs from SPLIT_GEMM_FLOPS are split over numba's threads and large updates run in
    parallel; both train as the Python program (one-thread GEMMs, serial update) does."""
    import numba

    from backends.cpu import kernels as K
    from backends.cpu.native import cblas
    from backends.cpu.native import threads as T
    from backends.cpu.steps import chunk as compiled

    if numba.get_num_threads() < 2:
        pytest.skip("numba has one thread here: nothing to split")
    monkeypatch.setattr(T.load, "free_cores", lambda *a: float(os.cpu_count() or 1))
    monkeypatch.setattr(compiled.numba, "get_num_threads", lambda: 2)
    split = cblas.split_gemm("f")

    def model():
        tw.set_seed(3)
        m = layers.sequential(
            [
                layers.dense(units=160, activation="relu", input_shape=[256]),
                layers.dense(units=5, activation="softmax"),
            ]
        )
        m.compile(optimizer="adam", loss="categoricalCrossentropy")
        return m

    rng = np.random.default_rng(2)
    x = tw.tensor(rng.normal(size=(192, 256)).astype(np.float32))
    y = tw.tensor(np.eye(5, dtype=np.float32)[rng.integers(0, 5, 192)])
    py, nb = model(), model()
    for m, after in ((py, -1), (nb, 0)):
        monkeypatch.setattr("backends.cpu.steps.program.COMPILE_AFTER", after)
        for _ in range(3):
            m.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
    (chunk,) = [c for p in _programs(nb) for c in p.chunks.values()]
    assert f"{_name(chunk, split)}(P, " in chunk.src  # 64x256x160 and its weight gradient
    assert f"{_name(chunk, K.opt_update_ip_par)}(" in chunk.src  # 41,925 parameters
    # each part sums K in OpenBLAS's order; only its blocking may differ: last bits at most
    for a, b in zip(nb.get_weights(), py.get_weights(), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def _name(chunk, fn) -> str:
    (name,) = [k for k, v in chunk.names.items() if v is fn]
    return name
