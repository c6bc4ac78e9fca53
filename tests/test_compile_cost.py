"""The compile cost model of ``backends/cpu/steps/chunk.py`` (issue 17 item 3) and the engine's
"busy" reports (``engine.activity``, item 4).

A short fit never compiles its training loop (counted); a long one compiles it in a worker
process while the steps go on in Python, swaps the compiled chunk in between chunks, and ends
with the weights of a fit that never compiled. The estimates come from recorded compiles."""

from __future__ import annotations

import io
import logging
import time

import numpy as np
import pytest

import engine as tw
import layers


@pytest.fixture
def fresh(cpu, monkeypatch, tmp_path):
    """The cpu backend (conftest's ``cpu``), compile records in an empty cache root (the cost
    model's defaults apply) and no ``TENSORWEAVE_COMPILE_AFTER`` override."""
    monkeypatch.setenv("TENSORWEAVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TENSORWEAVE_COMPILE_AFTER", raising=False)


def _model():
    tw.set_seed(3)
    m = layers.sequential(
        [
            layers.dense(units=12, activation="relu", input_shape=[20]),
            layers.dense(units=5, activation="softmax"),
        ]
    )
    m.compile(optimizer="adam", loss="categoricalCrossentropy")
    return m


def _data(n=400):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)]
    return tw.tensor(x), tw.tensor(y)


def _chunks(model):
    return [
        c
        for t in model._traces["train"].traces.values()
        if t.program is not None
        for c in t.program.chunks.values()
    ]


class _Count:
    """Counts the compiles and loads of chunks, and the background compiles started."""

    def __init__(self, monkeypatch):
        from backends.cpu.steps import chunk as compiled

        self.ensured = 0
        self.workers = 0
        ensure, worker = compiled.Chunk._ensure, compiled._Worker.__init__

        def counting_ensure(chunk, args):
            done = chunk.compiled
            ok = ensure(chunk, args)
            self.ensured += ok and not done
            return ok

        def counting_worker(w, *a):
            self.workers += 1
            worker(w, *a)

        monkeypatch.setattr(compiled.Chunk, "_ensure", counting_ensure)
        monkeypatch.setattr(compiled._Worker, "__init__", counting_worker)


def test_a_short_fit_does_not_compile(fresh, monkeypatch, caplog):
    from backends.cpu.steps import chunk as compiled
    from backends.cpu.steps import program

    monkeypatch.setattr(program, "COMPILE_AFTER", 8)  # ask the cost model early
    count = _Count(monkeypatch)
    x, y = _data()
    m = _model()
    with caplog.at_level(logging.INFO, logger="tensorweave.trace"):
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)  # 50 steps
    assert count.ensured == 0 and count.workers == 0
    refused = _chunks(m)
    assert refused and all(isinstance(c, compiled._Refused) for c in refused), refused
    assert any("does not pay off" in r.getMessage() for r in caplog.records)
    # the same program, told of a long fit, says yes (the answer depends on the steps left)
    (prog,) = [t.program for t in m._traces["train"].traces.values() if t.program is not None]
    assert prog.py_steps > 0 and prog.py_seconds > 0
    per_step = prog.py_seconds / prog.py_steps
    prog.steps_left = int(3 * compiled.DEFAULT_COMPILE_S / (per_step * compiled.SAVED_FRACTION))
    assert compiled.decide(prog, 100, cached=False)[0]
    prog.steps_left = 10
    assert not compiled.decide(prog, 100, cached=False)[0]


def test_a_long_fit_compiles_beside_training_and_ends_with_the_same_weights(fresh, monkeypatch):
    from backends.cpu.steps import chunk as compiled
    from backends.cpu.steps import program

    monkeypatch.setattr(program, "COMPILE_AFTER", 8)
    monkeypatch.setattr(compiled, "DEFAULT_COMPILE_S", 1e-6)  # every compile pays off
    monkeypatch.setattr(compiled.Chunk, "cached", lambda self: False)  # never a plain load
    x, y = _data()
    ref, m = _model(), _model()
    monkeypatch.setattr(program, "COMPILE_AFTER", -1)
    for _ in range(3):
        ref.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    monkeypatch.setattr(program, "COMPILE_AFTER", 8)
    count = _Count(monkeypatch)
    m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)  # decides in epoch 2
    (chunk,) = _chunks(m)
    assert isinstance(chunk, compiled.Chunk) and chunk.mode == "background"
    assert count.workers == 1 and not chunk.compiled  # the fit did not wait for it
    deadline = time.monotonic() + 240
    while chunk.worker.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert chunk.worker.proc.poll() == 0, "the background compile failed or took over 240 s"
    m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)  # swapped in
    assert chunk.compiled and count.ensured == 1 and count.workers == 1, (
        chunk.failed,
        chunk.worker.poll() if chunk.worker else None,
    )
    assert m.optimizer.iterations == ref.optimizer.iterations == 3 * 25
    for a, b in zip(m.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the compile was recorded for the next estimate
    from backends import cache

    kinds = {r["kind"] for r in cache.read_records()}
    assert {"chunk_compile", "chunk_load"} <= kinds, kinds


def test_estimates_follow_recorded_compiles(fresh):
    from backends import cache
    from backends.cpu.steps import chunk as compiled

    assert compiled.compile_estimate(100, cached=False) == compiled.DEFAULT_COMPILE_S
    assert compiled.compile_estimate(100, cached=True) == compiled.DEFAULT_LOAD_S
    assert compiled.saved_fraction() == compiled.SAVED_FRACTION
    cache.add_record("chunk_compile", 100, 4.0)
    cache.add_record("chunk_compile", 1000, 20.0)
    cache.add_record("chunk_saving", 100, 0.5)
    assert compiled.compile_estimate(100, cached=False) == pytest.approx(4.0)
    assert compiled.compile_estimate(200, cached=False) == pytest.approx(8.0)  # per line
    assert compiled.compile_estimate(900, cached=False) == pytest.approx(18.0)
    assert compiled.saved_fraction() == 0.5


def test_long_work_shows_in_the_progress_bar_and_the_log(monkeypatch, caplog):
    from engine import activity
    from layers.callbacks import ProgressBar

    monkeypatch.setattr(activity, "SHOW_AFTER", 0.01)
    heard: list = []
    remove = activity.listen(heard.append)
    try:
        with caplog.at_level(logging.INFO, logger="tensorweave.activity"):
            with activity.working("compiling the train step"):
                time.sleep(0.2)
            with activity.working("never shown"):
                pass
    finally:
        remove()
    assert heard[:2] == ["compiling the train step", None]
    assert "never shown" not in heard
    assert any("compiling the train step took" in r.getMessage() for r in caplog.records)
    # the bar shows it in its postfix while the work runs
    out = io.StringIO()
    bar = ProgressBar(verbose=1, file=out)
    bar.set_params({"epochs": 1, "steps": 4})
    bar.on_epoch_begin(0)
    with activity.working("loading the compiled training loop"):
        time.sleep(0.2)
        shown = bar.bar.postfix
    bar.on_train_end()
    assert "loading the compiled training loop" in (shown or ""), shown
    assert "loading the compiled training loop" in out.getvalue()


def test_the_cost_line_adds_up(fresh):
    """The logged reason multiplies the steps it counts: those left minus those run while the
    compile goes on beside training (it read '2373 steps left x 1.045 ms = 0.00 s')."""
    import re
    from types import SimpleNamespace

    from backends.cpu.steps import chunk as compiled

    for left, expect in ((3_000, False), (100_000, True)):
        prog = SimpleNamespace(py_seconds=0.5, py_steps=1000, steps_left=left, steps_run=100)
        yes, why = compiled.decide(prog, 100, cached=False)
        assert yes is expect, why
        m = re.match(r"\((\d+) steps left - (\d+) run during the compile\) x ([\d.]+) ms", why)
        assert m, why
        steps = int(m[1]) - int(m[2])
        gain = float(re.search(r"= ([\d.]+) s", why)[1])
        assert gain == pytest.approx(steps * float(m[3]) / 1e3, abs=0.01), why
        assert int(m[1]) == left and int(m[2]) == min(left, 20_000), why
