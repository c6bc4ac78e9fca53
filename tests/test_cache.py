"""One robust cache (issue 17 item 5): everything under ``$TENSORWEAVE_CACHE``, bad entries
rebuilt with one warning, two processes filling one cache at once.

The processes train a small model on the cpu backend with its training loop compiled
(``TENSORWEAVE_COMPILE_AFTER=0``), so every kind of cache file exists: generated fused-kernel
modules (``fusion/``), compiled training loops (``programs/``), numba's index (``.nbi``) and
data (``.nbc``) files (``numba/``) and the compile records (``compile_times.json``). numba's
files for the package's own kernels are copied in from this process's cache so the runs only
compile the generated code."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import numpy as np
import engine as tw, layers
tw.set_backend("cpu")
tw.set_seed(5)
rng = np.random.default_rng(0)
x = rng.normal(size=(96, 12)).astype(np.float32)
y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 96)]
m = layers.sequential([layers.dense(units=8, activation="tanh", input_shape=[12]),
                       layers.dense(units=3, activation="softmax")])
m.compile(optimizer="adam", loss="categoricalCrossentropy")
m.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
print(repr([float(np.asarray(w, np.float64).sum()) for w in m.get_weights()]))
"""


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(
        TENSORWEAVE_CACHE=str(cache),
        TENSORWEAVE_COMPILE_AFTER="0",
        TENSORWEAVE_BACKEND="cpu",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def _start(cache: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        env=_env(cache),
        cwd=cache.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> tuple[list[float], str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


def _files(cache: Path, pattern: str) -> list[Path]:
    return sorted(p for p in cache.rglob(pattern) if p.is_file())


@pytest.fixture
def cache(cpu, tmp_path) -> Path:
    """An empty cache root holding numba's files for the package's own kernels."""
    from backends.cpu import kernels as K

    root = tmp_path / "twcache"
    mine = Path(K.opt_update_ip._cache._cache_path)  # this process's numba cache folder
    if mine.is_dir():
        shutil.copytree(mine, root / "numba" / mine.name)
    return root


def test_two_processes_fill_one_cache_then_bad_entries_are_rebuilt(cache):
    # two processes fill the same empty cache at once: both succeed, with the same weights
    beside = set(ROOT.joinpath("backends").rglob("*.nb[ic]"))  # older runs may have left some
    a, b = _start(cache), _start(cache)
    wa, err_a = _finish(a)
    wb, err_b = _finish(b)
    np.testing.assert_allclose(wa, wb, rtol=1e-6)
    assert "WARNING" not in err_a + err_b, err_a + err_b
    kinds = {
        "fused module": _files(cache / "fusion", "tw_fused_*.py"),
        "program module": _files(cache / "programs", "tw_prog_*.py"),
        "numba index": _files(cache / "numba", "*.nbi"),
        "numba data": _files(cache / "numba", "*.nbc"),
        "records": [cache / "compile_times.json"],
    }
    for kind, files in kinds.items():
        assert files and all(f.is_file() for f in files), kind
    assert set(ROOT.joinpath("backends").rglob("*.nb[ic]")) <= beside  # none beside the sources

    # damage one entry of each kind the runs use: truncated, garbled
    def truncate(p: Path) -> None:
        p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 2)])

    def garble(p: Path) -> None:
        p.write_bytes(b"\x80\x04garbage" * 4)

    damaged = [kinds["fused module"][0], kinds["program module"][0]]
    truncate(damaged[0])
    garble(damaged[1])
    progs = [p for p in kinds["numba index"] if p.name.startswith("tw_prog_")]
    assert progs, kinds["numba index"]
    truncate(progs[0])  # the compiled loop's index: numba raises UnpicklingError/EOFError
    data = [p for p in kinds["numba data"] if p.name.startswith("kernels.")]
    garble(data[0])
    index = [p for p in kinds["numba index"] if p.name.startswith("tw_fused_")]
    garble(index[0])
    garble(kinds["records"][0])

    wc, err_c = _finish(_start(cache))
    np.testing.assert_allclose(wc, wa, rtol=1e-6)
    warnings = [line for line in err_c.splitlines() if "WARNING" in line]
    assert all("tensorweave.cache" in w and "rebuilt" in w for w in warnings), err_c
    for p in (damaged[0], damaged[1], progs[0], index[0], kinds["records"][0]):
        assert sum(str(p) in w for w in warnings) == 1, (p, err_c)
    # a numba data file is only read when its function is loaded; when it was, it was warned
    # about under its index's name, once, and rebuilt
    assert len(warnings) <= 6, err_c
    # rebuilt: the next run reads every entry without a word
    wd, err_d = _finish(_start(cache))
    np.testing.assert_allclose(wd, wa, rtol=1e-6)
    assert "WARNING" not in err_d, err_d


def test_atomic_write_keeps_the_first_writer(tmp_path):
    from backends.cache import atomic_write

    p = tmp_path / "m.py"
    assert atomic_write(str(p), "first", replace=False)
    assert not atomic_write(str(p), "second", replace=False)
    assert p.read_text() == "first"
    assert atomic_write(str(p), b"third")
    assert p.read_bytes() == b"third"
    assert sorted(os.listdir(tmp_path)) == ["m.py"]  # no temporary file left behind


def test_unreadable_records_warn_once_and_read_empty(tmp_path, monkeypatch, caplog):
    from backends import cache

    monkeypatch.setenv("TENSORWEAVE_CACHE", str(tmp_path))
    (tmp_path / cache.RECORDS).write_text('[{"kind": "chunk_compile", "si')
    with caplog.at_level(logging.WARNING, logger="tensorweave.cache"):
        assert cache.read_records() == []
        assert cache.read_records() == []
    assert len([r for r in caplog.records if "rebuilt" in r.getMessage()]) == 1
    cache.add_record("chunk_compile", 10, 1.5)
    assert cache.read_records() == [{"kind": "chunk_compile", "size": 10, "seconds": 1.5}]


def test_child_env_hands_the_numba_folder_to_workers_without_touching_os_environ(
    tmp_path, monkeypatch
):
    """The compile workers cache where this process looks (``child_env``); ``os.environ`` keeps
    the user's values, and a user's ``NUMBA_CACHE_DIR`` (numba's ``config.CACHE_DIR``) wins."""
    from numba.core import config

    from backends import cache

    monkeypatch.setenv("TENSORWEAVE_CACHE", str(tmp_path / "tw"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(config, "CACHE_DIR", "")
    before = dict(os.environ)
    env = cache.child_env()
    assert env["NUMBA_CACHE_DIR"] == cache.numba_cache_dir() == str(tmp_path / "tw" / "numba")
    assert {k: v for k, v in env.items() if k != "NUMBA_CACHE_DIR"} == before
    assert dict(os.environ) == before
    assert cache.child_env({"A": "1"}) == {"A": "1", "NUMBA_CACHE_DIR": env["NUMBA_CACHE_DIR"]}
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "mine"))
    assert cache.child_env()["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")
