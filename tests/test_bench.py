"""``python -m bench``: CLI parsing, backend filtering, the JSON schema and the wrong-result flag.

Tiny workload sets and one repeat keep these fast; nothing asserts on timings.
"""

from __future__ import annotations

import gzip
import json
import struct
import sys
import warnings

import numpy as np
import pytest

import engine as tw
from backends.numpy import NumpyBackend
from bench import data, mnist_numpy
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
            "fraction_of_ceiling", "ratio_vs_numpy", "max_rel_err", "note"}  # fmt: skip
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
