"""Trace programs (``backends/cpu/steps/program.py``): a replay compiled into launches on planned
buffers must give what the step-by-step replay gives, and never change a tensor a caller holds."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
import layers
from engine import trace
from engine.trace import TraceCache
from layers import callbacks as cbks

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def chunks(monkeypatch):
    """The step count of every ``Program.run_many``/``run_rows`` call made during the test."""
    from backends.cpu.steps.program import Program

    seen: list[int] = []
    real = Program._run
    monkeypatch.setattr(
        Program,
        "_run",
        lambda self, run, steps, n, *a: seen.append(n) or real(self, run, steps, n, *a),
    )
    return seen


def _seed_model(jit: bool = True, optimizer="adam", metrics=()):
    tw.set_seed(3)
    model = layers.sequential(
        [
            layers.dense(units=16, activation="relu", input_shape=[12]),
            layers.dense(units=4, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=optimizer, loss="categoricalCrossentropy", metrics=list(metrics), jit=jit
    )
    return model


def _data(n=96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 12)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)]
    return x, y


def test_seed_model_compiles_to_a_program_without_live_ops(cpu):
    x, y = _data()
    model = _seed_model()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    tr = next(iter(model._traces["train"].traces.values()))
    assert tr.program is not None, tr.program_reason
    assert tr.program.num_live == 0
    assert 0 < tr.program.num_launches <= tr.num_kernels


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_program_training_equals_step_replay_and_eager(cpu, monkeypatch, optimizer):
    x, y = _data()
    weights = []
    for jit, programs in ((False, False), (True, False), (True, True)):
        monkeypatch.setattr(trace, "PROGRAMS", programs)
        model = _seed_model(jit, optimizer, metrics=["accuracy"])
        hist = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
        if programs:
            tr = next(iter(model._traces["train"].traces.values()))
            assert tr.program is not None, tr.program_reason
        weights.append(([w.numpy() for w in model.weights], hist.history))
    (w_eager, h_eager), (w_steps, h_steps), (w_prog, h_prog) = weights
    for a, b, c in zip(w_eager, w_steps, w_prog, strict=True):
        np.testing.assert_array_equal(c, b)  # same kernels, same order: bit-equal
        np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-6)
    assert h_prog == h_steps
    np.testing.assert_allclose(h_prog["loss"], h_eager["loss"], rtol=1e-5)


def test_outputs_held_by_the_caller_are_never_overwritten(cpu):
    cache = TraceCache("test fn")

    def f(a):
        return tw.relu(tw.mul(a, 2.0))

    xs = [np.full((3, 4), v, np.float32) for v in (1.0, -1.0, 3.0, 5.0, 7.0, 9.0)]
    kept = [cache("k", f, [tw.tensor(x)]) for x in xs]
    tr = cache.traces["k"]
    assert tr.program is not None, tr.program_reason
    for x, out in zip(xs, kept, strict=True):
        np.testing.assert_array_equal(out.numpy(), np.maximum(2 * x, 0))


def test_variable_values_read_between_steps_stay_put(cpu, monkeypatch):
    from backends.cpu.steps.program import Program

    runs = []
    real_run = Program.run
    monkeypatch.setattr(Program, "run", lambda self, *a: runs.append(1) or real_run(self, *a))
    x, y = _data()
    model = _seed_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)  # trace and program
    runs.clear()
    snaps = []
    for start in range(0, 48, 8):
        held = model.weights[0].read() if hasattr(model.weights[0], "read") else model.weights[0]
        snaps.append((tw.identity(held), held.numpy().copy(), held))
        model.train_on_batch(x[start : start + 8], y[start : start + 8])
    assert len(runs) == 6  # every train_on_batch ran the program
    for ident, copy, _held in snaps:
        np.testing.assert_array_equal(ident.numpy(), copy)
    assert not np.array_equal(snaps[0][1], model.weights[0].numpy())


def test_random_ops_stay_live_and_draw_fresh_values(cpu):
    cache = TraceCache("test fn")

    def f(a):
        return tw.add(a, tw.random_uniform(a.shape))

    x = tw.tensor(np.zeros((4, 4), np.float32))
    outs = [cache("k", f, [x]).numpy() for _ in range(4)]
    tr = cache.traces["k"]
    assert tr.program is not None, tr.program_reason
    assert tr.program.num_live >= 1
    assert not np.array_equal(outs[2], outs[3])


def test_programs_can_be_switched_off(cpu, monkeypatch):
    monkeypatch.setattr(trace, "PROGRAMS", False)
    cache = TraceCache("test fn")
    for _ in range(3):
        cache("k", lambda a: tw.mul(a, 3.0), [tw.tensor(np.ones(5, np.float32))])
    assert cache.traces["k"].program is None


class _Watch(cbks.Callback):
    """A batch hook: forces every batch to run on its own."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_batch_end(self, batch, logs=None):
        self.seen.append(batch)


@pytest.mark.parametrize("shuffle", [False, True])
def test_chunked_epochs_equal_batch_by_batch(cpu, chunks, shuffle):
    x, y = _data(100)  # 12 batches of 8 and one of 4
    results = []
    for watch in (False, True):
        model = _seed_model(metrics=["accuracy"])
        tw.set_seed(5)
        cbs = [_Watch()] if watch else None
        hist = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=shuffle, callbacks=cbs)
        results.append(([w.numpy() for w in model.weights], hist.history))
        if watch:
            assert cbs[0].seen == list(range(13)) * 3
    assert max(chunks) > 1  # the unwatched fit ran batches in chunks
    (w_chunk, h_chunk), (w_each, h_each) = results
    for a, b in zip(w_chunk, w_each, strict=True):
        np.testing.assert_array_equal(a, b)
    assert h_chunk == h_each


def test_concurrent_replays_of_one_program_stay_correct(cpu):
    import threading

    cache = TraceCache("test fn")

    def f(a):
        return tw.relu(tw.add(tw.mul(a, 2.0), 1.0))

    inputs = [np.full((64, 64), v, np.float32) for v in range(-4, 4)]
    for x in inputs[:3]:
        cache("k", f, [tw.tensor(x)])
    assert cache.traces["k"].program is not None
    errors = []

    def work(x):
        try:
            with tw.backend_scope("cpu"):
                for _ in range(50):
                    got = cache("k", f, [tw.tensor(x)]).numpy()
                    np.testing.assert_array_equal(got, np.maximum(2 * x + 1, 0))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(x,)) for x in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_evaluate_runs_chunks_and_equals_eager(cpu, chunks):
    x, y = _data(100)
    out = []
    for jit in (False, True):
        model = _seed_model(jit, metrics=["accuracy"])
        out.append([model.evaluate(x, y, batch_size=8, verbose=0) for _ in range(3)])
    assert max(chunks) > 1
    np.testing.assert_allclose(np.array(out[1], float), np.array(out[0], float), rtol=1e-6)
