"""Data-parallel training on MPI (issue 22): ``engine.distributed`` and
``layers.distributed.DataParallel``.

The multi-rank tests run ``mpiexec -n 2 python tests/_distributed_worker.py ...`` in a
subprocess with a timeout (each rank pinned to one thread), and skip, naming the reason, when
mpi4py or ``mpiexec`` is absent (``pip install -e '.[distributed]'``; the ``test`` extra
brings them, so CI runs them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine import distributed as dist
from engine import registry

ROOT = Path(__file__).resolve().parents[1]
WORKER = str(ROOT / "tests" / "_distributed_worker.py")
MPIEXEC = shutil.which("mpiexec")

needs_mpi = pytest.mark.skipif(
    not dist.available() or MPIEXEC is None,
    reason="mpi4py or mpiexec is not installed (pip install -e '.[distributed]')",
)


def _mpirun(mode: str, backend: str, timeout: float, **env: str) -> tuple[int, str, float]:
    environ = dict(os.environ)
    environ.pop(registry.ENV_VAR, None)
    environ.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **env)
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")])
    start = time.monotonic()
    proc = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, WORKER, mode, backend],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
        cwd=ROOT,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def _backend_or_skip(name: str) -> None:
    chosen = os.environ.get(registry.ENV_VAR, "").strip().casefold()
    if chosen and chosen != name:
        pytest.skip(f"{registry.ENV_VAR}={chosen} limits this run to another backend")
    rows = {r["name"]: r["reason"] for r in __import__("engine").list_backends()}
    if rows.get(name):
        pytest.skip(f"backend {name!r} unavailable: {rows[name]}")


# --- pure helpers (no MPI needed) ----------------------------------------------------------------
def test_bucket_plan_packs_in_order_and_isolates_big_arrays():
    assert dist.bucket_plan([40, 40, 40, 200, 8], bucket_bytes=100) == [[0, 1], [2], [3], [4]]
    assert dist.bucket_plan([], bucket_bytes=100) == []
    assert dist.bucket_plan([4] * 10, bucket_bytes=1 << 20) == [list(range(10))]
    with pytest.raises(ValueError, match="bucket_bytes must be a positive int, got 0"):
        dist.bucket_plan([4], bucket_bytes=0)


def test_shard_bounds_cover_every_row_once():
    for count in (0, 1, 5, 16, 17):
        for parts in (1, 2, 3, 4):
            spans = [dist.shard_bounds(count, parts, i) for i in range(parts)]
            assert spans[0][0] == 0 and spans[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
            sizes = [b - a for a, b in spans]
            assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="index=2"):
        dist.shard_bounds(4, 2, 2)


def test_epoch_permutation_is_shared_and_changes_per_epoch():
    from layers.distributed import epoch_permutation

    a, b = epoch_permutation(3, 0, 50), epoch_permutation(3, 0, 50)
    assert np.array_equal(a, b) and sorted(a.tolist()) == list(range(50))
    assert not np.array_equal(a, epoch_permutation(3, 1, 50))


def test_ring_cost_model():
    # 2 (N-1)/N * bytes / bandwidth: a 2-rank ring moves the buffer once each way
    assert dist.ring_allreduce_seconds(1e6, 2, 1e9, latency=0.0) == pytest.approx(1e-3)
    assert dist.ring_allreduce_seconds(1e6, 1, 1e9) == 0.0
    assert dist.ring_allreduce_seconds(0, 4, 1e9, latency=1e-5, buckets=2) == pytest.approx(1.2e-4)


class _FakeComm:
    """A communicator standing in for MPI or NCCL: a world of ``ranks`` identical ranks (the
    others send what this one sends), recording each bucket's size."""

    xp = np

    def __init__(self, ranks: int = 2):
        self.ranks, self.calls, self.inside = ranks, [], False

    @contextlib.contextmanager
    def scope(self):  # NCCLTransport: its stream; every bucket must be reduced inside it
        self.inside = True
        yield
        self.inside = False

    def allreduce_sum(self, buf):
        assert self.inside
        assert buf.dtype == np.float32 and buf.ndim == 1 and buf.flags.c_contiguous
        self.calls.append(buf.size)
        buf *= self.ranks


def test_reduce_buckets_packs_scales_and_unpacks_in_order():
    rng = np.random.default_rng(0)
    arrays = [
        rng.normal(size=(3, 4)).astype(np.float32),
        rng.normal(size=5),  # float64: reduced in float32
        rng.normal(size=(2, 2, 2)).astype(np.float16),
        rng.normal(size=(30,)).astype(np.float32),  # bigger than a bucket: its own
        np.zeros((0, 3), np.float32),
    ]
    comm = _FakeComm(ranks=2)
    seen = []
    out = dist.reduce_buckets(arrays, comm, bucket_bytes=100, scale=0.25, on_bucket=seen.append)
    assert comm.calls == [12 + 5 + 8, 30, 0]  # 100 B = 25 floats: [0, 1, 2] [3] [4]
    assert seen == [4 * n for n in comm.calls] and not comm.inside
    for a, o in zip(arrays, out, strict=True):
        assert o.shape == a.shape and o.dtype == np.float32
        np.testing.assert_allclose(o, 2 * 0.25 * a.astype(np.float32), rtol=1e-6)


def test_transport_selection_rule():
    choose = dist.choose_transport
    assert choose("cuda", 2, True, True) == "nccl"  # cuda, >1 rank, NCCL everywhere, own GPUs
    assert choose("cuda", 1, True, True) == "mpi"  # a world of one: nothing to reduce
    assert choose("cuda", 4, False, True) == "mpi"  # some rank lacks NCCL
    assert choose("cuda", 4, True, False) == "mpi"  # two ranks on one GPU
    for backend in ("cpu", "numpy", "opencl"):
        assert choose(backend, 4, True, True) == "mpi"
    assert choose("cuda", 4, True, True, requested="mpi") == "mpi"
    assert choose("cuda", 1, True, True, requested="nccl") == "nccl"
    with pytest.raises(ValueError, match="'nccl' was requested but two ranks share a GPU"):
        choose("cuda", 2, True, False, requested="nccl")
    with pytest.raises(ValueError, match="the backend is 'cpu', not 'cuda'"):
        choose("cpu", 2, True, True, requested="nccl")
    with pytest.raises(ValueError, match="must be one of .* got 'gloo'"):
        choose("cuda", 2, True, True, requested="gloo")


def test_init_rejects_a_bad_timeout_before_touching_mpi(monkeypatch):
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got -1"):
        dist.init(timeout=-1)
    monkeypatch.setenv("TENSORWEAVE_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="TENSORWEAVE_DIST_TIMEOUT='soon'"):
        dist.init()


# --- under mpiexec -n 2 ----------------------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
def test_two_ranks_equal_one_process_with_the_global_batch(backend_name):
    """sgd and adam: 2 ranks x batch 8 give the weights of 1 process x batch 16 over the same
    per-epoch order (ragged last batches, one leaving rank 1 no rows), to float32 tolerance;
    both ranks end with identical weights, the logs are the global loss. The steps ran the
    traced step (compiled programs on cpu); validation split over the ranks equals one
    process's evaluate, also with sample weights."""
    _backend_or_skip(backend_name)
    rc, out, _ = _mpirun("equiv", backend_name, timeout=240)
    assert rc == 0, out[-3000:]
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    res = json.loads(line[len("RESULT ") :])
    assert set(res) == {"sgd", "adam"}
    for opt, r in res.items():
        assert r["ranks_equal"], opt
        assert r["moved"] > 1e-3, (opt, r)  # training changed the weights
        assert r["max_diff"] < 2e-6, (opt, r)
        np.testing.assert_allclose(r["loss"], r["ref_loss"], rtol=1e-5, err_msg=opt)
        assert r["steps"] == 3 * 7  # 3 epochs of ceil(n / 16) global batches
        assert r["allreduce_calls"] == r["steps"]  # one bucket: one Allreduce per step
        # the traced path: every signature (full batch, ragged last) captured once, then
        # replayed; nothing fell back to eager; on cpu both halves are compiled programs
        assert r["eager"] == [] and r["signatures"] == 2, (opt, r)
        assert r["steps"] - 2 * r["signatures"] <= r["traced_steps"] < r["steps"], (opt, r)
        assert r["program"] == r["update_program"] == (backend_name == "cpu"), (opt, r)
        # validation (23 rows: 12 + 11) and evaluate (sample weights) over both ranks
        np.testing.assert_allclose(r["val"], r["ref_val"], rtol=1e-5, err_msg=opt)
        np.testing.assert_allclose(r["dp_eval"], r["ref_eval"], rtol=1e-5, err_msg=opt)


@needs_mpi
def test_a_rank_that_raises_ends_every_rank_and_is_named():
    rc, out, took = _mpirun("raise", "numpy", timeout=60)
    assert rc != 0, out[-3000:]
    assert "RuntimeError: boom on purpose" in out
    assert "rank 1 of 2 failed" in out
    assert "finished without noticing" not in out
    assert took < 30, took


@needs_mpi
def test_a_killed_rank_ends_every_rank():
    rc, out, took = _mpirun("kill", "numpy", timeout=60)
    assert rc != 0, out[-3000:]
    assert "signal 9" in out or "Killed" in out, out[-3000:]
    assert "finished without noticing" not in out
    assert took < 30, took


@needs_mpi
def test_a_hung_rank_times_out_the_collective_and_aborts():
    rc, out, took = _mpirun("hang", "numpy", timeout=60, TENSORWEAVE_DIST_TIMEOUT="3")
    assert rc != 0, out[-3000:]
    assert "rank 0 of 2 failed" in out and "did not complete within 3 s" in out, out[-3000:]
    assert "finished without noticing" not in out
    assert took < 30, took


@needs_mpi
def test_single_rank_fit_matches_plain_fit(monkeypatch):
    """Run without mpiexec, DataParallel is a world of one: same weights as Model.fit."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # init's abort hook: not in pytest
    import engine as tw
    import layers
    from layers.distributed import DataParallel, epoch_permutation

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)

    def build():
        tw.set_seed(5)
        m = layers.sequential([layers.dense(units=1, input_shape=[3])])
        m.compile(optimizer="sgd", loss="meanSquaredError")
        return m

    with tw.backend_scope("numpy"):
        a, b = build(), build()
        dp = DataParallel(a)
        assert (dp.rank, dp.size) == (0, 1)
        dp.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=4)
        for e in range(2):
            p = epoch_permutation(4, e, 40)
            b.fit(x[p], y[p], batch_size=8, epochs=1, shuffle=False, verbose=0)
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
        with pytest.raises(ValueError, match="batch_size"):
            dp.fit(x, y, batch_size=0)
        with pytest.raises(NotImplementedError, match="takes arrays x and y"):
            dp.fit([(x, y)], None)


@needs_mpi
@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
def test_fit_runs_the_traced_step_and_jit_false_the_eager_one(backend_name, monkeypatch):
    """A world of one: with jit the DataParallel step replays its two traces (programs on
    cpu), with ``jit=False`` it runs eagerly; both give plain ``fit``'s weights."""
    _backend_or_skip(backend_name)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    import engine as tw
    import layers
    from layers.distributed import DataParallel, epoch_permutation

    rng = np.random.default_rng(0)
    x = rng.normal(size=(36, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)

    def build(jit):
        tw.set_seed(5)
        m = layers.sequential([layers.dense(units=1, input_shape=[3])])
        m.compile(optimizer="adam", loss="meanSquaredError", jit=jit)
        return m

    with tw.backend_scope(backend_name):
        ref = build(True)
        for e in range(2):
            p = epoch_permutation(4, e, 36)
            ref.fit(x[p], y[p], batch_size=8, epochs=1, shuffle=False, verbose=0)
        for jit in (True, False):
            dp = DataParallel(build(jit))
            assert dp.transport().name == "mpi"
            dp.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=4)
            for wa, wb in zip(dp.model.get_weights(), ref.get_weights(), strict=True):
                np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
            grads, update = dp.traces["gradients"], dp.traces["update"]
            assert dp.stats["steps"] == 10
            if not jit:
                assert dp.stats["traced_steps"] == 0 and not grads.traces and not update.traces
                continue
            assert not grads.eager and not update.eager
            assert len(grads.traces) == 2 and len(update.traces) == 1  # batches of 8 and 4
            assert dp.stats["traced_steps"] >= 10 - 4, dp.stats
            programs = [t.program is not None for c in (grads, update) for t in c.traces.values()]
            assert all(programs) if backend_name == "cpu" else not any(programs)
        with pytest.raises(ValueError, match="'nccl' was requested but the backend is"):
            dist.gradient_transport(backend_name, "nccl")


@needs_mpi
@pytest.mark.parametrize("module", ["engine.distributed", "layers.distributed"])
def test_docstrings_follow_the_house_rule_and_examples_run(module, monkeypatch):
    """tests/test_docs.py's rule (Args:/Returns: sections) and doctests, for these modules,
    which ``engine.__all__``/``layers.__all__`` do not export (mpi4py is optional)."""
    import doctest
    import importlib
    import inspect

    import engine as tw
    import layers

    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import test_docs
    finally:
        sys.path.remove(str(ROOT / "tests"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    mod = importlib.import_module(module)
    problems = {}
    for n in mod.__all__:
        obj = getattr(mod, n)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        members = [(n, obj)]
        if inspect.isclass(obj):
            members += [
                (f"{n}.{k}", v)
                for k, v in inspect.getmembers(obj, inspect.isfunction)
                if not k.startswith("_")
            ]
        for name, o in members:
            if p := test_docs._problems(f"{module}.{name}", o):
                problems[name] = p
    assert not problems, problems
    with tw.backend_scope("numpy"):
        result = doctest.testmod(
            mod,
            extraglobs={"tw": tw, "layers": layers},
            optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        )
    assert result.attempted > 0 and result.failed == 0, result


@needs_mpi
def test_bench_data_parallel_section_runs_both_world_sizes():
    from bench import distributed as bench_dp

    row = bench_dp.measure("numpy", samples=256)  # what python -m bench --json stores
    doc = json.loads(json.dumps(row, allow_nan=False))
    assert doc["ranks_1"]["ranks"] == 1 and doc["ranks_2"]["ranks"] == 2, doc
    assert doc["throughput_ratio"] == pytest.approx(doc["throughput_2"] / doc["throughput_1"])
    assert doc["ranks_2"]["bytes_per_step"] == 4 * (784 * 128 + 128 + 128 * 10 + 10 + 1)
    assert doc["bw_Bps"] > 0 and doc["model_allreduce_s_per_step"] > 0, doc
    lines = bench_dp.lines(row)
    assert bench_dp.lines({"skipped": "no mpi"}) == ["data-parallel: skipped: no mpi"]
    text = "\n".join(lines)
    assert lines[0].startswith("data-parallel (numpy backend"), text
    assert "ranks 1: epoch" in text and "ranks 2: epoch" in text and "throughput ratio" in text
    assert "in 1 bucket(s)" in text and "ring model" in text


@needs_mpi
@pytest.mark.slow
def test_mnist_distributed_example_reaches_093_on_two_ranks():
    """``mpiexec -n 2 python examples/mnist_distributed.py`` (issue 22 item 5); ~15 s."""
    from layers import datasets

    try:
        datasets.mnist_arrays(n=10)
    except FileNotFoundError as exc:
        pytest.skip(f"MNIST data not found: {exc}")
    _backend_or_skip("cpu")
    environ = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    environ["OPENBLAS_NUM_THREADS"] = "1"
    environ.pop(registry.ENV_VAR, None)
    example = str(ROOT / "examples" / "mnist_distributed.py")
    proc = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, example, "--verbose", "0", "--backend", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
        cwd=ROOT,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, lines  # rank 0 only prints
    last = lines[-1]
    assert last.startswith("backend cpu: ranks 2, val_acc "), last
    val_acc = float(last.split("val_acc ")[1].split(";")[0])
    assert val_acc >= 0.93, last
    assert "; epoch times " in last and last.count("s,") == 4, last
