"""OpenBLAS from numba (``backends/cpu/native/cblas.py``): the GEMM split over numba's threads
must equal ``np.matmul`` for every transpose, dtype, split direction and part count; which
library the GEMMs call is ``tests/test_blas_choice.py``."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def cb():
    from backends.cpu.native import cblas

    try:
        cblas.get_cblas()
    except cblas.CblasUnavailable as e:
        pytest.skip(f"no cblas binding: {e}")
    return cblas


@pytest.fixture
def numpy_gemm(monkeypatch):
    """The GEMM library set to numpy's OpenBLAS (``TENSORWEAVE_BLAS=numpy``) for one test."""
    from backends.cpu.native import cblas

    monkeypatch.setattr(cblas, "_gemm", [cblas.get_blas()])


def _operand(rng, rows, cols, trans, dtype):
    """A (rows x cols) operand laid out as numpy hands it to BLAS: C order or a transpose."""
    if trans:
        return rng.normal(size=(cols, rows)).astype(dtype).T
    return rng.normal(size=(rows, cols)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize(
    ("m", "n", "k", "parts"),
    [
        (32, 128, 784, 2),  # short M: split along N
        (784, 128, 32, 2),  # long M: split along rows
        (300, 70, 50, 3),  # uneven parts, last one short
        (17, 33, 9, 4),  # N smaller than 4 parts of 16: fewer parts
        (200, 40, 64, 1),
    ],
)
def test_split_gemm_equals_matmul(cb, dtype, ta, tb, m, n, k, parts):
    rng = np.random.default_rng(m + n + k)
    a = _operand(rng, m, k, ta, dtype)
    b = _operand(rng, k, n, tb, dtype)
    (tra, lda), (trb, ldb) = cb.blasable(a), cb.blasable(b)
    assert (tra == 112) == ta and (trb == 112) == tb
    c = np.full((m, n), np.nan, dtype)
    fn = cb.split_gemm(np.dtype(dtype).char)
    fn(parts, tra, trb, m, n, k, a.ctypes.data, lda, b.ctypes.data, ldb, c.ctypes.data, n)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, a @ b, rtol=tol, atol=tol * k)


def test_blasable_names_numpys_layouts(cb):
    a = np.zeros((6, 4), np.float32)
    assert cb.blasable(a) == (111, 4)
    assert cb.blasable(a.T) == (112, 4)
    assert cb.blasable(np.zeros((6, 8), np.float32)[:, :4]) == (111, 8)
    assert cb.blasable(a[::2]) == (111, 8)
    assert cb.blasable(np.zeros((6, 8), np.float32)[:, ::2]) is None


def test_cpu_matmul_splits_large_gemms_over_numba_threads(cb, numpy_gemm, monkeypatch):
    """``threads.matmul`` runs GEMMs from SMALL_GEMM_FLOPS as ``split_gemm`` (OpenBLAS's own
    threads stay idle), leaves small ones and syrk-like products to numpy, and restores
    OpenBLAS's thread count."""
    import numba

    from backends.cpu.native import cblas as cblas_mod
    from backends.cpu.native import threads as T

    if numba.get_num_threads() < 2:
        pytest.skip("numba has one thread here: nothing to split")
    if cblas_mod.get_blas().ctl is None:
        pytest.skip("numpy's OpenBLAS is not reachable (no threadpoolctl controller)")
    calls = []
    real = cb.split_gemm
    monkeypatch.setattr(cb, "split_gemm", lambda char: calls.append(char) or real(char))
    monkeypatch.setattr(T, "load", _Load(0.0))  # an idle machine (the split's condition)
    before = cblas_mod.get_blas().get_threads()
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 256)).astype(np.float32)
    b = rng.normal(size=(300, 200)).astype(np.float32)
    out = np.empty((256, 200), np.float32)
    T.matmul(a.T, b, out)  # 30.7 MFLOP, A transposed
    np.testing.assert_allclose(out, a.T @ b, rtol=1e-5, atol=1e-4)
    assert calls == ["f"]
    small = np.empty((8, 8), np.float64)
    T.matmul(np.ones((8, 8)), np.ones((8, 8)), small)
    sq = np.empty((300, 300), np.float32)
    T.matmul(a, a.T, sq)  # one buffer on both sides: numpy's syrk
    np.testing.assert_allclose(sq, a @ a.T, rtol=1e-5, atol=1e-3)
    assert calls == ["f"]
    assert cblas_mod.get_blas().get_threads() == before


class _Load:
    """A stand-in for ``threads.load``: other processes use ``cpus`` CPUs."""

    def __init__(self, cpus: float):
        self.cpus = cpus

    def foreign(self) -> float:
        return self.cpus


def test_cpu_matmul_runs_on_one_thread_while_another_process_holds_a_core(
    cb, numpy_gemm, monkeypatch
):
    """Under load a large GEMM is neither split nor given OpenBLAS's threads (a static split
    waits for a time slice): one BLAS thread, the thread count restored after."""
    from backends.cpu.native import cblas as cblas_mod
    from backends.cpu.native import threads as T

    blas = cblas_mod.get_blas()
    if blas.ctl is None:
        pytest.skip("numpy's OpenBLAS is not reachable (no threadpoolctl controller)")
    calls, seen = [], []
    monkeypatch.setattr(cb, "split_gemm", lambda char: calls.append(char))
    monkeypatch.setattr(T, "load", _Load(1.5))
    real_matmul = np.matmul
    monkeypatch.setattr(
        np, "matmul", lambda *a, **k: seen.append(blas.get_threads()) or real_matmul(*a, **k)
    )
    before = blas.get_threads()
    rng = np.random.default_rng(1)
    a = rng.normal(size=(256, 784)).astype(np.float32)
    b = rng.normal(size=(784, 128)).astype(np.float32)
    out = np.empty((256, 128), np.float32)
    T.matmul(a, b, out)  # 51 MFLOP: split on an idle machine
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
    assert calls == []
    assert seen == [1]
    assert blas.get_threads() == before
