"""numpy's OpenBLAS called from numba: ``cblas_?gemm`` bound by symbol, and a GEMM split
over numba's threads.

Compiled chunks (``backends.cpu.steps.chunk``) call BLAS from inside one numba function. OpenBLAS's own
threads there either sleep between GEMMs (waking them costs as much as the second thread
saves for a 32x784x128 GEMM) or spin and then starve any parallel numba kernel of its core.
So a chunk keeps OpenBLAS on one thread and runs a large GEMM as one single-threaded GEMM per
numba thread (``split_gemm``), on the same threads as its parallel kernels: no second pool.
Each part computes whole rows or columns of C with the same K loop, so C is the one-call
result up to the blocking OpenBLAS picks per shape (last-bit differences at most).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from backends.cpu import fusion


class CblasUnavailable(RuntimeError):
    """numpy's OpenBLAS cannot be called from numba here (the reason is the message)."""


class Blas:
    """OpenBLAS's thread count through threadpoolctl (None when there is no OpenBLAS)."""

    def __init__(self) -> None:
        self.ctl: Any = None
        try:
            # threadpoolctl's import sets KMP_DUPLICATE_LIB_OK for the whole process (Intel's
            # OpenMP reads it when it loads; nothing here loads it): the user's value is kept
            kmp = os.environ.get("KMP_DUPLICATE_LIB_OK")
            import threadpoolctl

            if kmp is None:
                os.environ.pop("KMP_DUPLICATE_LIB_OK", None)
            ctls = threadpoolctl.ThreadpoolController().select(internal_api="openblas")
            # numpy's own OpenBLAS (scipy, torch... may load others): the one np.matmul calls
            mine = [c for c in ctls.lib_controllers if "numpy" in c.filepath]
            for ctl in mine or ctls.lib_controllers[:1]:
                if ctl.threading_layer == "pthreads":  # the spin/timeout logic below is theirs
                    self.ctl = ctl
        except Exception:  # noqa: BLE001 - an optional optimisation only
            self.ctl = None
        # the C getter and setter themselves: threadpoolctl's methods cost ~1.5 us a call
        self.get_threads: Callable[[], int] = lambda: self.ctl.get_num_threads() or 1
        self.set_threads: Callable[[int], Any] = lambda n: self.ctl.set_num_threads(n)
        if self.ctl is not None:
            try:
                get_c = self.ctl._get_symbol("openblas_get_num_threads")
                set_c = self.ctl._get_symbol("openblas_set_num_threads")
                if get_c is not None and set_c is not None:
                    self.get_threads, self.set_threads = get_c, set_c
            except Exception:  # noqa: BLE001 - keep threadpoolctl's methods
                pass


_blas: Blas | None = None


def get_blas() -> Blas:
    """The process's ``Blas`` (numpy's OpenBLAS through threadpoolctl), made on first use."""
    global _blas
    if _blas is None:
        _blas = Blas()
    return _blas


class Cblas:
    """numpy's OpenBLAS ``cblas_sgemm``/``cblas_dgemm`` and thread getter/setter as numba
    external functions (called by symbol, so the compiled chunk can be cached on disk; the
    symbols are bound to numpy's library with ``llvmlite.binding.add_symbol``)."""

    def __init__(self) -> None:
        import llvmlite.binding as ll
        from numba import types

        blas = get_blas()
        if blas.ctl is None:
            raise CblasUnavailable(
                "numpy's OpenBLAS is not reachable (no threadpoolctl controller)"
            )
        sym = blas.ctl._get_symbol
        ilp64 = "64" in (getattr(blas.ctl, "filepath", "") or "").rsplit("/", 1)[-1]
        idx = types.int64 if ilp64 else types.int32
        ci, p = types.int32, types.int64
        sigs = {
            "cblas_sgemm": types.void(
                ci, ci, ci, idx, idx, idx, types.float32, p, idx, p, idx, types.float32, p, idx
            ),
            "cblas_dgemm": types.void(
                ci, ci, ci, idx, idx, idx, types.float64, p, idx, p, idx, types.float64, p, idx
            ),
            "openblas_get_num_threads": ci(),
            "openblas_set_num_threads": types.void(ci),
        }
        self.fns: dict[str, Any] = {}
        for name, sig in sigs.items():
            f = sym(name)
            if f is None:
                raise CblasUnavailable(f"numpy's OpenBLAS has no {name}")
            local = f"tensorweave_{name}{'_ilp64' if ilp64 else ''}"
            ll.add_symbol(local, ctypes.cast(f, ctypes.c_void_p).value)
            self.fns[name] = types.ExternalFunction(local, sig)


_cblas: list[Cblas] = []


def get_cblas() -> Cblas:
    if not _cblas:
        _cblas.append(Cblas())
    return _cblas[0]


def blasable(a: Any) -> tuple[int, int] | None:
    """(trans, ld) as numpy's matmul passes a 2-D operand (its ``ArgMeta``) to cblas, or None
    if numpy would not call BLAS with it."""
    sz = a.dtype.itemsize
    s0, s1 = a.strides
    d0, d1 = a.shape
    if s1 == sz and s0 % sz == 0 and s0 // sz >= d1:
        return 111, s0 // sz  # CblasNoTrans
    if s0 == sz and s1 % sz == 0 and s1 // sz >= d0:
        return 112, s1 // sz  # CblasTrans
    return None


_SPLIT_SRC = """\
from numba import njit, prange


@njit(parallel=True, nogil=True, cache=True)
def split_gemm(parts, ta, tb, m, n, k, a, lda, b, ldb, c, ldc):
    if m >= 64 * parts:  # whole rows of C per part (A's rows, C's rows)
        step = -(-(-(-m // parts)) // 16) * 16
        for t in prange(-(-m // step)):
            m0 = t * step
            ao = m0 * lda if ta == 111 else m0
            G(101, ta, tb, min(m, m0 + step) - m0, n, k, ONE, a + ao * SZ, lda,
              b, ldb, ZERO, c + m0 * ldc * SZ, ldc)
    else:  # whole columns of C per part (B's columns)
        step = -(-(-(-n // parts)) // 16) * 16
        for t in prange(-(-n // step)):
            n0 = t * step
            bo = n0 if tb == 111 else n0 * ldb
            G(101, ta, tb, m, min(n, n0 + step) - n0, k, ONE, a, lda,
              b + bo * SZ, ldb, ZERO, c + n0 * SZ, ldc)
"""


@functools.cache
def split_gemm(char: str) -> Any:
    """``split_gemm(parts, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)`` for dtype char ``f`` or
    ``d``: row-major C = op(A) @ op(B) (alpha 1, beta 0; ``a``, ``b``, ``c`` are addresses) as
    up to ``parts`` single-threaded ``cblas_?gemm`` calls in a numba ``prange``, each part a
    multiple of 16 rows (when M >= 64 * parts) or columns of C."""
    fn = "cblas_sgemm" if char == "f" else "cblas_dgemm"
    real = np.float32 if char == "f" else np.float64
    names = {"G": get_cblas().fns[fn], "ONE": real(1.0), "ZERO": real(0.0)}
    names["SZ"] = np.dtype(real).itemsize
    folder = os.path.join(os.path.dirname(fusion.cache_dir()), "programs")
    os.makedirs(folder, exist_ok=True)
    text = f"# G = {names['G']}\n{_SPLIT_SRC}"
    return fusion.load_module(folder, f"tw_split_{fn}", text, names).split_gemm
