"""Which OpenBLAS the cpu backend's GEMMs call (``backends/cpu/native/cblas.py``, "Which
OpenBLAS"): tensorweave's private copy (``scipy-openblas32``, kernels picked from the CPU or
``TENSORWEAVE_BLAS_CORETYPE``) or numpy's; ``TENSORWEAVE_BLAS`` chooses, bad values and a
broken copy are errors or warnings that name the reason, and ``os.environ`` is left as it was.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from backends.cpu.native import cblas

HAVE_PRIVATE = importlib.util.find_spec("scipy_openblas32") is not None
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def fresh(monkeypatch):
    """``get_gemm`` as in a new process (no library chosen yet) for one test."""
    monkeypatch.setattr(cblas, "_gemm", [])
    monkeypatch.setattr(cblas, "_gemm_note", [])
    return cblas


def _probe(env: dict[str, str | None]) -> dict:
    """``get_gemm()`` in a new process with ``env`` changed (None removes a variable)."""
    code = (
        "import json, os\n"
        "before = dict(os.environ)\n"
        "from backends.cpu.native import cblas\n"
        "g = cblas.get_gemm()\n"
        "print(json.dumps({'private': g.private, 'core': g.corename, "
        "'numpy_core': cblas.get_blas().corename, 'describe': cblas.describe(), "
        "'env_same': dict(os.environ) == before}))\n"
    )
    e = dict(os.environ)
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=e, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_unknown_choice_is_a_value_error_naming_it(fresh, monkeypatch):
    monkeypatch.setenv("TENSORWEAVE_BLAS", "mkl")
    with pytest.raises(ValueError, match=r"TENSORWEAVE_BLAS='mkl'.*auto, numpy, openblas32"):
        fresh.get_gemm()
    assert fresh._gemm == []  # nothing chosen: the next call asks again


def test_numpy_choice_uses_numpys_openblas(fresh, monkeypatch):
    monkeypatch.setenv("TENSORWEAVE_BLAS", "numpy")
    g = fresh.get_gemm()
    assert g is fresh.get_blas() and not g.private
    assert "numpy's OpenBLAS" in fresh.describe()


def test_missing_copy_falls_back_quietly_under_auto_and_fails_when_asked_for(fresh, monkeypatch):
    def missing():
        raise fresh.BlasChoiceError("scipy-openblas32 is not installed")

    monkeypatch.setattr(fresh, "_private_path", missing)
    monkeypatch.setenv("TENSORWEAVE_BLAS", "openblas32")
    with pytest.raises(fresh.BlasChoiceError, match="not installed"):
        fresh.get_gemm()
    monkeypatch.setenv("TENSORWEAVE_BLAS", "auto")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing optional library is not news
        g = fresh.get_gemm()
    assert g is fresh.get_blas()
    assert "not installed" in fresh.describe()


def test_a_copy_failing_its_self_check_is_a_warning_and_numpys_is_used(fresh, monkeypatch):
    def broken(blas):
        raise fresh.BlasChoiceError("the private OpenBLAS (X kernels) failed its self-check")

    if not HAVE_PRIVATE:
        pytest.skip("scipy-openblas32 is not installed (the test extra installs it)")
    monkeypatch.setattr(fresh, "_self_check", broken)
    monkeypatch.delenv("TENSORWEAVE_BLAS", raising=False)
    with pytest.warns(RuntimeWarning, match="GEMMs use numpy's OpenBLAS: .*self-check"):
        g = fresh.get_gemm()
    assert g is fresh.get_blas()


@pytest.mark.skipif(not HAVE_PRIVATE, reason="scipy-openblas32 is not installed")
def test_private_copy_picks_its_kernels_from_the_cpu_not_numpys_pin():
    """``OPENBLAS_CORETYPE`` pins numpy's kernels only; the copy detects the CPU itself (as a
    process without the pin would), ``TENSORWEAVE_BLAS_CORETYPE`` pins it, and the
    environment the user sees afterwards is unchanged."""
    free = _probe({"OPENBLAS_CORETYPE": None, "TENSORWEAVE_BLAS": None})
    pinned_numpy = _probe({"OPENBLAS_CORETYPE": "Haswell", "TENSORWEAVE_BLAS": None})
    assert free["private"] and pinned_numpy["private"]
    assert pinned_numpy["numpy_core"] == "Haswell"
    assert pinned_numpy["core"] == free["core"]
    assert "OPENBLAS_CORETYPE=Haswell" in pinned_numpy["describe"]
    mine = _probe({"TENSORWEAVE_BLAS_CORETYPE": "Sandybridge", "TENSORWEAVE_BLAS": None})
    assert mine["core"] == "Sandybridge"
    assert free["env_same"] and pinned_numpy["env_same"] and mine["env_same"]


@pytest.mark.skipif(not HAVE_PRIVATE, reason="scipy-openblas32 is not installed")
def test_private_copy_runs_on_one_thread_and_serves_the_backends_gemms(fresh, monkeypatch):
    """The copy keeps one thread (parallel GEMMs are numba splits); ``threads.matmul`` sends
    2-D GEMMs to it (small: one call; large on an idle machine: the split; under load: one
    call), and the rest (batched, gemv-like, syrk-like) to ``np.matmul``."""
    import numba

    from backends.cpu.native import threads as T

    monkeypatch.delenv("TENSORWEAVE_BLAS", raising=False)
    g = fresh.get_gemm()
    assert g.private and g.get_threads() == 1
    calls: list[str] = []
    real_split, real_c = fresh.split_gemm, fresh.c_gemm
    monkeypatch.setattr(fresh, "split_gemm", lambda ch: calls.append("split") or real_split(ch))
    monkeypatch.setattr(fresh, "c_gemm", lambda ch: calls.append("one") or real_c(ch))
    real_np = np.matmul
    monkeypatch.setattr(np, "matmul", lambda *a, **k: calls.append("numpy") or real_np(*a, **k))

    class Load:
        def __init__(self, cpus):
            self.cpus = cpus

        def foreign(self):
            return self.cpus

    rng = np.random.default_rng(3)

    def run(a_shape, b_shape, load, dtype=np.float32):
        monkeypatch.setattr(T, "load", Load(load))
        a = rng.standard_normal(a_shape).astype(dtype)
        b = rng.standard_normal(b_shape).astype(dtype)
        out = np.empty(a_shape[:-1] + b_shape[-1:], dtype)
        calls.clear()
        T.matmul(a, b, out)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        tol = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * a_shape[-1])
        return list(calls)

    assert run((32, 60), (60, 128), 0.0) == ["one"]  # 0.5 MFLOP: one call
    big = "split" if numba.get_num_threads() > 1 else "one"
    assert run((32, 784), (784, 128), 0.0) == [big]  # 6.4 MFLOP
    assert run((256, 784), (784, 128), 0.0) == [big]
    assert run((256, 784), (784, 128), 1.5) == ["one"]
    assert run((256, 784), (784, 128), 0.0, np.float64) == [big]
    assert run((3, 20, 30), (3, 30, 40), 0.0) == ["numpy"]  # batched: numpy's
    assert run((1, 30), (30, 40), 0.0) == ["numpy"]  # gemv-shaped: numpy's
    assert g.get_threads() == 1
    g.set_threads(2)  # as threadpoolctl's threadpool_limits does to every OpenBLAS
    assert run((32, 60), (60, 128), 0.0) == ["one"]
    assert g.get_threads() == 1


def test_self_check_catches_a_wrong_or_missing_gemm(fresh):
    """The check compares with float64 numpy: a "library" whose sgemm leaves C unwritten, or
    that has none, fails it with the reason."""
    import ctypes

    ci, p, fl = ctypes.c_int32, ctypes.c_void_p, ctypes.c_float
    proto = ctypes.CFUNCTYPE(None, ci, ci, ci, ci, ci, ci, fl, p, ci, p, ci, fl, p, ci)
    noop = proto(lambda *args: None)

    class Fake:
        corename, ilp64, ctl = "Fake", False, None

        def __init__(self, fn):
            self.fn = fn

        def symbol(self, name):
            return self.fn

    with pytest.raises(fresh.BlasChoiceError, match="Fake kernels.*self-check.*max error inf"):
        fresh._self_check(Fake(noop))
    with pytest.raises(fresh.BlasChoiceError, match="no cblas_sgemm"):
        fresh._self_check(Fake(None))


@pytest.mark.skipif(not HAVE_PRIVATE, reason="scipy-openblas32 is not installed")
def test_a_core_pin_openblas_does_not_apply_is_a_warning_naming_it():
    """OpenBLAS ignores an unknown core name silently; tensorweave says so, with the value
    and the kernels that run instead."""
    code = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "from backends.cpu.native import cblas\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    cblas._gemm.clear()\n"
        "    g = cblas.get_gemm()\n"
        "print(g.private, [str(x.message) for x in w])\n"
    )
    env = dict(os.environ, TENSORWEAVE_BLAS_CORETYPE="NoSuchCore")
    env.pop("TENSORWEAVE_BLAS", None)
    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "TENSORWEAVE_BLAS_CORETYPE='NoSuchCore' was not applied" in text
