"""``python -m bench``: CLI parsing, backend filtering, the JSON schema, the wrong-result flag,
and the noise statistics (spread, adaptive sampling, load, warnings, plot).

Tiny workload sets and one repeat keep these fast; nothing asserts on timings (the sampler's
stopping rule runs on a fake clock).
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import sys
import warnings

import numpy as np
import pytest

import engine as tw
from backends.numpy import NumpyBackend
from bench import data, mnist_numpy, report, runner, stats
from bench.__main__ import main, parse_args
from engine import registry

FAST = ["--quick", "--repeats", "1", "--no-peers", "-q"]


@pytest.fixture
def registry_snapshot():
    """Restore the backend registry (entries and the active choice) after the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tw.list_backends()  # builtins loaded before the snapshot
    entries, active = dict(registry._entries), registry._active
    yield
    registry._entries.clear()
    registry._entries.update(entries)
    registry._active = active


class WrongAdd(NumpyBackend):
    """A numpy backend whose ``add`` is off by one."""

    name = "wrongadd"

    def binary(self, op, a, a_shape, b, b_shape, out_shape, dtype):
        out = super().binary(op, a, a_shape, b, b_shape, out_shape, dtype)
        return out + 1 if op == "add" else out


class RaisingAdd(NumpyBackend):
    """A numpy backend whose ``add`` raises."""

    name = "raisingadd"

    def binary(self, op, a, a_shape, b, b_shape, out_shape, dtype):
        if op == "add":
            raise RuntimeError("kernel exploded")
        return super().binary(op, a, a_shape, b, b_shape, out_shape, dtype)


def run_json(tmp_path, *args: str) -> tuple[int, dict]:
    path = tmp_path / "bench.json"
    code = main([*FAST, "--json", str(path), *args])
    return code, json.loads(path.read_text())


def test_parse_args_defaults_and_lists():
    a = parse_args([])
    assert a.backends is None and a.workloads is None and not a.quick and a.json is None
    a = parse_args(["--backends", "cpu, opencl", "--workloads", "matmul,add_*", "--quick"])
    assert a.backends == ["cpu", "opencl"]
    assert a.workloads == ["matmul", "add_*"]
    assert a.quick


@pytest.mark.parametrize("bad", [["--repeats", "0"], ["--peers", "tensorflow"], ["--nope"]])
def test_parse_args_rejects(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(bad)
    assert exc.value.code == 2


def test_unknown_backend_is_a_usage_error(capsys):
    assert main([*FAST, "--backends", "nmupy"]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'nmupy'" in err and "Did you mean 'numpy'" in err


def test_unknown_workload_is_a_usage_error(capsys):
    assert main([*FAST, "--backends", "numpy", "--workloads", "nosuch"]) == 2
    assert "no workload matches 'nosuch'" in capsys.readouterr().err


def test_progress_goes_to_stderr(capsys, tmp_path):
    args = [
        "--quick",
        "--repeats",
        "1",
        "--no-peers",
        "--backends",
        "numpy",
        "--workloads",
        "add_1m",
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "bench: [1/1] add_1m on numpy" in err
    assert "add_1m" in out and "bench:" not in out
    assert main([*args, "--json", str(tmp_path / "no" / "such" / "x.json")]) == 2


def test_list(capsys):
    assert main(["--quick", "--list", "--backends", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "matmul_256" in out and "train_b32" in out and "backend numpy" in out


def test_json_schema_and_backend_filter(tmp_path, capsys):
    code, doc = run_json(
        tmp_path, "--backends", "numpy", "--workloads", "add_*,sum_rows,matmul_256"
    )
    assert code == 0
    assert doc["schema_version"] == 1 and doc["tool"] == "tensorweave-bench"
    assert doc["quick"] is True and doc["exit_code"] == 0
    assert isinstance(doc["argv"], list) and isinstance(doc["created_utc"], str)
    m = doc["machine"]
    assert isinstance(m["cpu_count"], int) and isinstance(m["numpy"], str)
    for key in ("blas_gflops", "memcpy_gbps"):
        assert isinstance(m["ceilings"][key], float) and m["ceilings"][key] > 0
    assert [t["name"] for t in doc["targets"]] == ["numpy"]
    t = doc["targets"][0]
    assert set(t) == {"name", "kind", "available", "reason", "device", "priority", "ran"}
    assert [w["name"] for w in doc["workloads"]] == ["matmul_256", "add_1m", "sum_rows"]
    for w in doc["workloads"]:
        assert set(w) == {"name", "group", "description", "unit", "flops", "bytes",
                          "ops_per_call", "tolerance"}  # fmt: skip
    assert {r["target"] for r in doc["results"]} == {"numpy"}
    keys = {"workload", "group", "target", "kind", "status", "unit", "tolerance", "first_call_s",
            "median_s", "min_s", "repeats", "inner", "samples_s", "throughput",
            "fraction_of_ceiling", "ratio_vs_numpy", "max_rel_err", "note",
            "max_s", "spread_iqr", "spread_range", "sampling", "load", "warnings",
            "fits_in_l3"}  # fmt: skip
    for r in doc["results"]:
        assert set(r) == keys
        assert r["status"] == "ok" and r["kind"] == "backend"
        for k in ("first_call_s", "median_s", "min_s", "throughput", "fraction_of_ceiling",
                  "max_rel_err"):  # fmt: skip
            assert isinstance(r[k], float), k
        assert r["ratio_vs_numpy"] == 1.0
        assert r["unit"] in ("GFLOP/s", "GB/s") and r["repeats"] == 1
        assert isinstance(r["samples_s"], list) and len(r["samples_s"]) == 1
    assert doc["summary"] == {
        "wrong": [],
        "errors": [],
        "first_call_overhead_s": doc["summary"]["first_call_overhead_s"],
        "noisy": [],  # one sample each (--repeats 1): no spread to be wide
        "loaded": doc["summary"]["loaded"],
    }
    assert "add_1m" in capsys.readouterr().out


def test_wrong_result_is_flagged_and_fails(tmp_path, registry_snapshot, capsys):
    tw.register_backend("wrongadd", WrongAdd, priority=-5)
    code, doc = run_json(
        tmp_path, "--backends", "numpy,wrongadd", "--workloads", "add_1m,matmul_256"
    )
    assert code == 1 and doc["exit_code"] == 1
    rows = {(r["workload"], r["target"]): r for r in doc["results"]}
    bad = rows[("add_1m", "wrongadd")]
    assert bad["status"] == "wrong" and bad["max_rel_err"] > bad["tolerance"]
    for k in ("first_call_s", "median_s", "throughput", "ratio_vs_numpy", "fraction_of_ceiling"):
        assert bad[k] is None, k  # a wrong result is never reported as a speed
    assert rows[("add_1m", "numpy")]["status"] == "ok"
    assert rows[("matmul_256", "wrongadd")]["status"] == "ok"
    assert doc["summary"]["wrong"] == ["add_1m/wrongadd"]
    out = capsys.readouterr().out
    assert "WRONG" in out and "add_1m/wrongadd" in out


def test_raising_backend_is_an_error_row(tmp_path, registry_snapshot):
    tw.register_backend("raisingadd", RaisingAdd, priority=-5)
    code, doc = run_json(tmp_path, "--backends", "raisingadd", "--workloads", "add_1m")
    assert code == 1
    (row,) = doc["results"]
    assert row["status"] == "error" and "kernel exploded" in row["note"]
    assert doc["summary"]["errors"] == ["add_1m/raisingadd"]


def test_unavailable_backend_is_explained(tmp_path, registry_snapshot, capsys):
    def broken_factory():
        raise RuntimeError("no device here")

    tw.register_backend("ghost", broken_factory, priority=-5)
    code, doc = run_json(tmp_path, "--backends", "numpy,ghost", "--workloads", "add_1m")
    assert code == 0
    ghost = next(t for t in doc["targets"] if t["name"] == "ghost")
    assert not ghost["available"] and "no device here" in ghost["reason"]
    assert "ghost" in capsys.readouterr().out
    assert main([*FAST, "--backends", "ghost", "--workloads", "add_1m"]) == 2


def test_plot_needs_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    code = main([*FAST, "--backends", "numpy", "--plot", str(tmp_path / "p.png")])
    assert code == 2
    assert "matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "p.png"
    assert (
        main([*FAST, "--backends", "numpy", "--workloads", "add_1m,matmul_256", "--plot", str(out)])
        == 0
    )
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_idx_reader_and_synthetic_fallback(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    with gzip.open(tmp_path / data.IMAGES, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 2, 28, 28) + images.tobytes())
    with gzip.open(tmp_path / data.LABELS, "wb") as f:
        f.write(struct.pack(">II", 0x801, 2) + bytes([3, 7]))
    np.testing.assert_array_equal(data.read_idx(tmp_path / data.IMAGES), images)
    np.testing.assert_array_equal(data._read_idx(tmp_path / data.IMAGES), images)  # fallback
    x, y, source = data.load_mnist(directory=tmp_path)
    assert x.shape == (2, 784) and x.dtype == np.float32 and "MNIST" in source
    assert y.argmax(1).tolist() == [3, 7]
    x, y, source = data.load_mnist(5, tmp_path / "missing")
    assert x.shape == (5, 784) and y.shape == (5, 10) and "synthetic" in source


def test_numpy_reference_epoch_matches_float64():
    x, y, _ = data.load_mnist(256, "/nonexistent")
    w0 = mnist_numpy.initial_weights(0)
    a = mnist_numpy.NumpyMLP(w0, np.float32)
    b = mnist_numpy.NumpyMLP(w0, np.float64)
    la, lb = a.epoch(x, y, 32), b.epoch(x, y, 32)
    assert abs(la - lb) < 1e-4 * lb
    for p, q in zip(a.w, b.w, strict=True):
        assert np.abs(p - q).max() <= 1e-4 * np.abs(q).max()
    assert not np.allclose(a.w[0], w0[0])  # it trained


def test_training_rows_reference_and_engine(tmp_path):
    code, doc = run_json(tmp_path, "--backends", "numpy", "--workloads", "train_b256")
    rows = {r["target"]: r for r in doc["results"]}
    assert rows["numpy-ref"]["status"] == "ok" and rows["numpy-ref"]["kind"] == "reference"
    assert rows["numpy-ref"]["max_rel_err"] < 1e-3
    # the engine row runs through the public model API (skipped only while it is missing)
    assert rows["numpy"]["status"] in ("ok", "skipped"), rows["numpy"]["note"]
    assert code == (0 if rows["numpy"]["status"] in ("ok", "skipped") else 1)


class LeakyRelu(NumpyBackend):
    """A numpy backend whose relu leaks 1 % of negative inputs: training goes subtly wrong."""

    name = "leakyrelu"

    def unary(self, op, x, shape, dtype):
        if op == "relu":
            return np.where(x > 0, x, np.float32(0.01) * x).astype(x.dtype)
        return super().unary(op, x, shape, dtype)


def test_subtly_wrong_training_is_flagged(tmp_path, registry_snapshot):
    tw.register_backend("leakyrelu", LeakyRelu, priority=-5)
    code, doc = run_json(tmp_path, "--backends", "leakyrelu", "--workloads", "train_b256")
    row = next(r for r in doc["results"] if r["target"] == "leakyrelu")
    if row["status"] == "skipped":
        pytest.skip(row["note"])
    assert row["status"] == "wrong" and row["median_s"] is None
    assert code == 1


# ---------------------------------------------------------------- noise: statistics and warnings


def test_spread_measures():
    xs = [1.0, 1.1, 0.9, 1.3, 1.0, 5.0, 1.05]
    med = float(np.median(xs))
    iqr = float(np.percentile(xs, 75) - np.percentile(xs, 25))
    assert stats.spread_iqr(xs) == pytest.approx(iqr / med)
    assert stats.spread_range(xs) == pytest.approx((5.0 - 0.9) / med)
    assert stats.spread_iqr([2.0, 2.0, 2.0]) == 0.0
    assert stats.spread_iqr([1.0, 3.0, 2.0]) == pytest.approx(0.5)  # 3 samples: half the range
    for bad in ([], [1.0], [0.0, 0.0]):  # no spread without 2 samples and a positive median
        assert stats.spread_iqr(bad) is None and stats.spread_range(bad) is None
    # one outlier among 7 widens the range, not the interquartile range
    assert stats.spread_iqr(xs) < 0.25 < stats.spread_range(xs)


class FakeRun:
    """Samples from a list; each one advances a fake clock by ``cost`` seconds."""

    def __init__(self, values, cost=1.0):
        self.values, self.cost, self.now, self.taken = list(values), cost, 0.0, 0

    def clock(self):
        return self.now

    def take(self):
        self.now += self.cost
        self.taken += 1
        return self.values[self.taken - 1]


@pytest.mark.parametrize(
    "values, start, cap, budget, stop, n",
    [
        ([1.0, 1.0, 1.02, 9, 9], 3, 7, 100, "settled", 3),  # tight at once: no extra sample
        ([1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 9], 3, 7, 100, "settled", 5),  # settles at 5
        ([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 9], 3, 7, 100, "cap", 7),  # never settles
        ([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 9], 3, 7, 4.5, "time", 4),  # a 5th would pass 4.5 s
        ([1.0, 2.0, 3.0, 9], 3, 3, 100, "fixed", 3),  # cap <= start: adaptive off
        ([1.0, 1.0, 9], 1, 5, 100, "settled", 2),  # one sample has no spread: take another
    ],
)
def test_adaptive_sampler_stopping_rule(values, start, cap, budget, stop, n):
    run = FakeRun(values)
    got = stats.adaptive_samples(run.take, start, cap, 0.10, budget, run.clock)
    assert got.stop == stop
    assert got.samples == values[:n] and run.taken == n
    assert got.elapsed_s == pytest.approx(n) and got.start_s == pytest.approx(start)


def test_adaptive_sampler_rejects_bad_arguments():
    run = FakeRun([1.0])
    with pytest.raises(ValueError, match="start must be at least 1 sample, got 0"):
        stats.adaptive_samples(run.take, 0, 5, 0.1, 1.0, run.clock)
    with pytest.raises(ValueError, match="threshold must be a non-negative fraction, got -0.1"):
        stats.adaptive_samples(run.take, 3, 5, -0.1, 1.0, run.clock)
    assert run.taken == 0


def test_load_between_subtracts_our_own_cpu():
    a = stats.Snapshot(wall=10.0, own_cpu_s=5.0, busy_s=100.0, steal_s=1.0)
    b = stats.Snapshot(wall=12.0, own_cpu_s=6.0, busy_s=103.0, steal_s=1.2)
    load = stats.load_between(a, b, 2.5)
    assert load.window_s == 2.0 and load.own_cpus == pytest.approx(0.5)
    assert load.other_cpus == pytest.approx(1.0)  # 3 CPU-s busy in 2 s, 1 of them ours
    assert load.steal_cpus == pytest.approx(0.1) and load.loadavg_1m == 2.5
    assert stats.is_loaded(load, 0.5) and not stats.is_loaded(load, 1.5)
    # without /proc/stat: the load average minus our own use, with one CPU of slack
    blind = stats.load_between(
        stats.Snapshot(10.0, 5.0, None, None), stats.Snapshot(12.0, 6.0, None, None), 2.5
    )
    assert blind.other_cpus is None and blind.own_cpus == pytest.approx(0.5)
    assert stats.is_loaded(blind, 0.5) and not stats.is_loaded(blind, 1.5)
    assert not stats.is_loaded(None, 0.5)
    assert set(load.as_dict()) == {"window_s", "other_cpus", "own_cpus", "steal_cpus",
                                   "loadavg_1m"}  # fmt: skip


def test_load_monitor_window_reaches_back_to_its_minimum(monkeypatch):
    snaps = iter(
        stats.Snapshot(t, 0.0, busy, 0.0)
        for t, busy in [(0.0, 0.0), (0.2, 0.4), (0.9, 1.8), (1.0, 2.0), (1.1, 2.1)]
    )
    monkeypatch.setattr(stats, "snapshot", lambda: next(snaps))
    monitor = stats.LoadMonitor(min_window_s=0.5)  # snapshot at t=0
    monitor.mark()  # t=0.2
    start = monitor.mark()  # t=0.9
    load = monitor.since(start)  # ends at t=1.0: 0.1 s is too short, reaches back to t=0.2
    assert load.window_s == pytest.approx(0.8)
    assert load.other_cpus == pytest.approx(2.0)


def _cfg(**kw):
    return runner.Config.make(True, **kw)


def test_config_repeats_and_adaptive_cap():
    quick = runner.Config.make(True)
    assert (quick.repeats, quick.max_repeats) == (3, 7) and quick.extra_budget_s > 0
    full = runner.Config.make(False)
    assert full.max_repeats > full.repeats
    fixed = runner.Config.make(True, 5)  # --repeats alone: exactly that many samples
    assert fixed.repeats == fixed.max_repeats == 5
    assert runner.Config.make(True, 2, 9).max_repeats == 9
    with pytest.raises(ValueError, match=r"max_repeats \(2\) must be at least repeats \(5\)"):
        runner.Config.make(True, 5, 2)
    with pytest.raises(ValueError, match="noise must be a non-negative fraction, got -1"):
        runner.Config.make(True, noise=-1)


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--repeats", "5", "--max-repeats", "3"], "--max-repeats 3 is below the starting"),
        (["--quick", "--max-repeats", "2"], "--max-repeats 2 is below the starting --repeats 3"),
        (["--noise", "-0.5"], "--noise must be a fraction between 0 and 10, got -0.5"),
    ],
)
def test_parse_args_rejects_bad_sampling(bad, message, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(bad)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_row_warnings():
    cfg = _cfg()  # noise 10 %, loaded from 0.5 other CPUs
    calm = stats.Load(1.0, 0.1, 1.0, 0.0, 1.0)
    busy = stats.Load(1.0, 1.2, 1.0, 0.0, 2.2)
    assert runner.row_warnings(0.05, 3, calm, cfg) == []
    assert runner.row_warnings(0.25, 7, calm, cfg) == ["noisy"]
    assert runner.row_warnings(0.05, 3, busy, cfg) == ["loaded"]
    assert runner.row_warnings(None, 1, busy, cfg) == ["loaded", "1 sample"]
    assert runner.row_warnings(0.25, 7, busy, _cfg(noise=0.5)) == ["loaded"]


def _row(target, median, lo, hi, warnings=(), fraction=None, fits=None, ratio=None):
    return runner.Result(
        "add_1m", "elementwise", target, "backend", "ok", "GB/s", 1e-4,
        first_call_s=2 * median, median_s=median, min_s=lo, max_s=hi, repeats=3, inner=1,
        samples_s=[lo, median, hi], throughput=1.0, fraction_of_ceiling=fraction,
        ratio_vs_numpy=ratio, max_rel_err=0.0, warnings=list(warnings), fits_in_l3=fits,
        spread_iqr=(hi - lo) / 2 / median, spread_range=(hi - lo) / median, sampling="cap",
        load={"window_s": 1.0, "other_cpus": 1.4, "own_cpus": 0.6, "steal_cpus": 0.0,
              "loadavg_1m": 2.0},
    )  # fmt: skip


CEILINGS = {"blas_gflops": 100.0, "blas_size": 512, "memcpy_gbps": 20.0,
            "memcpy_bytes": 128 << 20, "l3_bytes": 32 << 20}  # fmt: skip


def test_table_shows_spread_warnings_and_explains_the_ceiling():
    rows = [
        _row("numpy", 1e-3, 0.9e-3, 1.1e-3, fraction=0.5, ratio=1.0),
        _row("cpu", 5e-4, 2e-4, 2e-3, ["noisy", "loaded"], fraction=1.96, fits=True, ratio=2.0),
    ]
    text = report.table(rows)
    assert "min" in text and "max" in text and "warnings" in text
    assert "900.0 us" in text and "1.10 ms" in text  # numpy row's min and max
    assert "196%*" in text and "50% " in text and "noisy, loaded" in text
    lines = report.legend(rows, CEILINGS, 0.10, 0.5)
    joined = "\n".join(lines)
    assert "128 MiB memory copy (DRAM" in joined and "add_1m/cpu" in joined
    assert "noisy (1 rows)" in joined and "more than 10% of the median" in joined
    assert "loaded (1 rows)" in joined and "at most 1.4 of" in joined
    assert "1 of 2 timed rows carry a noise warning" in joined
    calm = report.legend(rows[:1], CEILINGS, 0.10, 0.5)
    assert not any(w in "\n".join(calm) for w in ("noisy", "loaded", "DRAM"))


def test_json_records_spread_load_and_warnings(tmp_path):
    code, doc = run_json(
        tmp_path, "--backends", "numpy", "--workloads", "add_1m,dispatch_add",
        "--repeats", "2", "--max-repeats", "4", "--noise", "0.2",
    )  # fmt: skip
    assert code == 0
    assert doc["sampling"]["repeats"] == 2 and doc["sampling"]["max_repeats"] == 4
    assert doc["sampling"]["noise_threshold"] == 0.2
    assert isinstance(doc["machine"]["cpu_model"], str) and doc["machine"]["cpu_model"]
    assert doc["machine"]["ceilings"]["memcpy_bytes"] >= 128 << 20
    for r in doc["results"]:
        assert r["status"] == "ok"
        assert 2 <= r["repeats"] == len(r["samples_s"]) <= 4
        assert r["min_s"] == min(r["samples_s"]) and r["max_s"] == max(r["samples_s"])
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["spread_range"] == pytest.approx((r["max_s"] - r["min_s"]) / r["median_s"])
        assert r["spread_iqr"] == pytest.approx(stats.spread_iqr(r["samples_s"]))
        assert r["sampling"] in ("settled", "cap", "time")
        assert (r["sampling"] == "settled") == (r["spread_iqr"] <= 0.2)
        assert ("noisy" in r["warnings"]) == (r["spread_iqr"] > 0.2)
        assert set(r["warnings"]) <= {"noisy", "loaded"}
        assert r["load"]["window_s"] > 0 and r["load"]["own_cpus"] >= 0
        name = f"{r['workload']}/{r['target']}"
        assert (name in doc["summary"]["noisy"]) == ("noisy" in r["warnings"])
        assert (name in doc["summary"]["loaded"]) == ("loaded" in r["warnings"])
    rows = {r["workload"]: r for r in doc["results"]}
    assert rows["add_1m"]["fits_in_l3"] in (True, None)  # 12 MB moved; None: L3 size unknown
    assert rows["dispatch_add"]["fits_in_l3"] is None  # not a GB/s row


def test_plot_figure_has_whiskers_subtitle_and_notes():
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (the plot extra)")
    from matplotlib.container import BarContainer, ErrorbarContainer

    from bench.workloads import all_workloads

    work = [w for w in all_workloads(True) if w.name == "add_1m"]
    rows = [
        _row("numpy", 1e-3, 0.9e-3, 1.1e-3, ratio=1.0),
        _row("cpu", 5e-4, 4e-4, 6e-4, ["loaded"], ratio=2.0),
        _row("numpy-ref", 2e-3, 1.9e-3, 2.1e-3, ratio=0.5),
    ]
    fig = report.figure(rows, work, report.plot_subtitle(True, ["numpy", "cpu", "numpy-ref"]))
    try:
        (ax,) = fig.axes
        assert "--quick run" in ax.get_title() and "cores" in ax.get_title()
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 2  # cpu and numpy-ref; the numpy backend is the baseline (= 1)
        hatch = {c.get_label(): c.patches[0].get_hatch() for c in ax.containers
                 if isinstance(c, BarContainer)}  # fmt: skip
        assert hatch == {"cpu": "//", "numpy-ref": None}  # the loaded row is hatched
        texts = " ".join(t.get_text() for t in fig.texts)
        assert "whiskers" in texts and "numpy-ref: the training epoch hand-written" in texts
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


class FakeWorkload:
    """A workload whose calls only advance a fake clock by the given durations."""

    name, group, unit, tolerance = "fake", "fake", "GB/s", 1e-4

    def __init__(self, durations):
        self.durations, self.now = list(durations), 0.0

    def clock(self):
        return self.now

    def prepare(self, target):
        from bench.common import Prepared

        def call():
            self.now += self.durations.pop(0)
            return 0

        return Prepared(call=call, check=lambda out, i: 0.0)


@pytest.mark.parametrize(
    "extra_budget, n, sampling, warnings",
    [(2.0, 5, "settled", []), (0.0, 3, "time", ["noisy"])],  # 5th sample settles the spread
)
def test_measure_wires_sampler_budget_and_warnings(monkeypatch, extra_budget, n, sampling,
                                                   warnings):  # fmt: skip
    from bench.common import Target

    # first call, warm-up, then samples of 10 ms (an inner loop of 1 call each)
    work = FakeWorkload([0.01, 0.01, 0.01, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    monkeypatch.setattr(runner.time, "perf_counter", work.clock)
    cfg = runner.Config.make(True, extra_budget_s=extra_budget)
    monkeypatch.setattr(stats, "is_loaded", lambda load, cpus: False)  # the real load varies
    res = runner.measure(work, Target("numpy", "backend"), cfg)
    assert res.status == "ok" and res.inner == 1
    assert res.repeats == n == len(res.samples_s) and res.sampling == sampling
    assert res.samples_s == pytest.approx([0.01, 0.02, 0.01, 0.01, 0.01][:n])
    assert res.max_s == pytest.approx(0.02) and res.min_s == pytest.approx(0.01)
    assert res.warnings == warnings
    assert cfg.extra_spent_s == pytest.approx(0.02 if n == 5 else 0.0)
    assert set(res.load) == {"window_s", "other_cpus", "own_cpus", "steal_cpus", "loadavg_1m"}


def test_cold_start_rows_run_in_a_fresh_process_with_empty_caches(tmp_path):
    code, doc = run_json(tmp_path, "--backends", "numpy", "--workloads", "train_b32", "--cold")
    assert code == 0
    (row,) = doc["cold_start"]
    assert row["workload"] == "train_b32" and row["target"] == "numpy", row
    assert 0 < row["first_epoch_s"] < row["process_s"] and math.isfinite(row["loss"])
    with pytest.raises(SystemExit):
        parse_args(["--cold", "--no-cold"])


def test_cold_start_table_shows_errors_and_skips():
    from bench import coldstart

    lines = coldstart.table(
        [
            {"workload": "train_b32", "target": "cpu", "first_epoch_s": 1.5, "setup_s": 0.25,
             "process_s": 3.0, "loss": 2.1},
            {"workload": "train_b32", "target": "jax", "skipped": "jax not installed"},
            {"workload": "train_cnn", "target": "opencl", "error": "exit status 1: boom"},
        ]
    )  # fmt: skip
    assert "1.50 s" in lines[2] and "3.00 s" in lines[2]
    assert "skipped: jax not installed" in lines[3] and "ERROR: exit status 1: boom" in lines[4]


def test_jax_scan_peer_matches_the_jitted_step():
    """The whole-epoch ``lax.scan`` peer runs the same steps as the per-step jit peer (with a
    ragged last batch), so its speed compares like with like."""
    pytest.importorskip("jax", reason="jax not installed (the optional peers extra)")
    from bench import peers

    rng = np.random.default_rng(0)
    w0 = [rng.normal(0, 0.1, s).astype(np.float32) for s in ((6, 5), (5,), (5, 3), (3,))]
    x = rng.normal(size=(11, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 11)]
    runs = []
    for name in ("jax", "jax-scan"):
        call, weights = peers.module(name).prepare_epoch(w0, x, y, 4)
        losses = [call(), call()]
        runs.append((losses, weights()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_cpu_gflops_rows_are_measured_against_the_backends_own_blas():
    """The cpu backend's GFLOP/s rows are a fraction of its own OpenBLAS's peak
    (``cpu_gemm_gflops``), every other row of numpy's matmul peak; without a measured peak
    (NaN) the cpu rows fall back to numpy's."""

    class W:
        flops = 2e9

    def row(target):
        return runner.Result(
            "matmul_1k", "matmul", target, "backend", "ok", "GFLOP/s", 1e-4, median_s=0.01
        )

    rows = [row("cpu"), row("numpy")]
    runner.fill_derived(rows, {"matmul_1k": W()}, {**CEILINGS, "cpu_gemm_gflops": 400.0})
    assert rows[0].fraction_of_ceiling == pytest.approx(200.0 / 400.0)
    assert rows[1].fraction_of_ceiling == pytest.approx(200.0 / 100.0)
    rows = [row("cpu")]
    runner.fill_derived(rows, {"matmul_1k": W()}, {**CEILINGS, "cpu_gemm_gflops": math.nan})
    assert rows[0].fraction_of_ceiling == pytest.approx(2.0)
