"""Size-generic compiled training loops (issue 17 item 2): a chunk's source holds structure and
dtypes, its sizes are run-time arguments, so a model that differs only in widths, input width,
batch size or sample count runs the machine code compiled for the first one (counted: no
compile, no disk load) and trains exactly as the Python program does."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
import layers

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _model(width: int, hidden: int):
    tw.set_seed(7)
    m = layers.sequential(
        [
            layers.dense(units=hidden, activation="relu", input_shape=[width]),
            layers.dense(units=5, activation="softmax"),
        ]
    )
    m.compile(optimizer="adam", loss="categoricalCrossentropy")
    return m


def _data(n: int, width: int):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, width)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)]
    return tw.tensor(x), tw.tensor(y)


def _fit(width, hidden, n, batch, compile_after, monkeypatch):
    from backends.cpu.steps import program

    monkeypatch.setattr(program, "COMPILE_AFTER", compile_after)
    m = _model(width, hidden)
    x, y = _data(n, width)
    for _ in range(2):
        m.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    chunks = [
        c
        for t in m._traces["train"].traces.values()
        if t.program is not None
        for c in t.program.chunks.values()
    ]
    return m, chunks


def test_other_sizes_reuse_the_compiled_chunk_and_train_the_same(cpu, monkeypatch):
    from backends.cpu.steps import chunk as compiled

    _, first = _fit(20, 12, 64, 16, 0, monkeypatch)  # compiles (or reuses an earlier test's)
    assert first and all(isinstance(c, compiled.Chunk) and c.compiled for c in first), first
    assert all(16 in c.sizes for c in first)  # the batch size is an argument, not source
    before = dict(compiled.events)
    # other input width, hidden width, batch size and sample count (a shorter last batch)
    m, other = _fit(33, 30, 100, 8, 0, monkeypatch)
    assert other and all(isinstance(c, compiled.Chunk) and c.compiled for c in other), other
    after = dict(compiled.events)
    assert after.get("compiled", 0) == before.get("compiled", 0), (before, after)
    assert after.get("loaded", 0) == before.get("loaded", 0), (before, after)
    assert after.get("reused", 0) >= before.get("reused", 0) + len(other)
    sources = {c.module[1] for c in first}
    assert {c.module[1] for c in other} <= sources
    assert any(not np.array_equal(a.sizes, b.sizes) for a in first for b in other)
    # the sizes read at run time are the right ones: the weights of the Python program
    ref, none = _fit(33, 30, 100, 8, -1, monkeypatch)
    assert not none
    assert m.optimizer.iterations == ref.optimizer.iterations == 2 * 13
    for a, b in zip(m.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
