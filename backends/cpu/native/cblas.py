"""numpy's OpenBLAS called from numba: ``cblas_?gemm`` bound by symbol, and a GEMM split
over numba's threads.

Compiled chunks (``backends.cpu.steps.chunk``) call BLAS from inside one numba function. OpenBLAS's own
threads there either sleep between GEMMs (waking them costs as much as the second thread
saves for a 32x784x128 GEMM) or spin and then starve any parallel numba kernel of its core.
So a chunk keeps OpenBLAS on one thread and runs a large GEMM as one single-threaded GEMM per
numba thread (``split_gemm``), on the same threads as its parallel kernels: no second pool.
Each part computes whole rows or columns of C with the same K loop, so C is the one-call
result up to the blocking OpenBLAS picks per shape (last-bit differences at most).

**Which OpenBLAS** (``TENSORWEAVE_BLAS``). numpy's OpenBLAS picks its kernels once, when numpy
loads, and follows ``OPENBLAS_CORETYPE`` when that is set: a container or VM often pins it
to an older core (this project's build machines set ``Haswell`` on AVX-512 CPUs, where the
SkylakeX kernels run the seed model's GEMMs 1.6-1.9x faster). So the backend's GEMMs call a
private copy of OpenBLAS (the ``scipy-openblas32`` wheel, numpy's and SciPy's own build,
loaded ``RTLD_LOCAL`` beside numpy's) whose kernels OpenBLAS picks from the CPU itself:

- ``auto`` (default): the private copy when ``scipy-openblas32`` is installed and passes a
  self-check, else numpy's;
- ``numpy``: numpy's OpenBLAS (``np.matmul``'s bits, and its ``OPENBLAS_CORETYPE``);
- ``openblas32``: the private copy or an error.

``TENSORWEAVE_BLAS_CORETYPE`` pins the private copy's kernels (an ``OPENBLAS_CORETYPE`` name,
e.g. ``Haswell``); numpy's own ``OPENBLAS_CORETYPE`` is left to numpy. :func:`describe` says
which library and kernels a process uses (``python -m engine`` and the bench print it). The
private copy runs on one thread (its workers sleep after ~2**16 cycles); parallel GEMMs are
split over numba's threads as above.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from backends.cpu import fusion


class CblasUnavailable(RuntimeError):
    """OpenBLAS cannot be called from numba here (the reason is the message)."""


#: ``TENSORWEAVE_BLAS`` values (module docstring).
BLAS_CHOICES = ("auto", "numpy", "openblas32")


class Blas:
    """An OpenBLAS library's threadpoolctl controller and its C thread getter/setter
    (``ctl`` None when there is no OpenBLAS). ``private`` is True for tensorweave's own copy
    (:func:`get_gemm`), False for numpy's (:func:`get_blas`)."""

    def __init__(self, ctl: Any = None, private: bool = False) -> None:
        self.ctl: Any = ctl
        self.private = private
        if ctl is None and not private:
            self.ctl = _numpy_controller()
        self._bind_threads()

    @property
    def corename(self) -> str:
        """OpenBLAS's kernel family (``openblas_get_corename``: ``Haswell``, ``SkylakeX``...)."""
        return str(getattr(self.ctl, "architecture", "") or "") if self.ctl is not None else ""

    @property
    def ilp64(self) -> bool:
        """True when the library takes 64-bit integer sizes (numpy's ``scipy_openblas64_``)."""
        return "64" in (getattr(self.ctl, "filepath", "") or "").rsplit("/", 1)[-1]

    def symbol(self, name: str) -> Any:
        """The library's C function ``name`` (its ``scipy_`` prefix and suffix added), or None."""
        return self.ctl._get_symbol(name) if self.ctl is not None else None

    def _bind_threads(self) -> None:
        """The C getter and setter themselves: threadpoolctl's methods cost ~1.5 us a call."""
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


def _numpy_controller() -> Any:
    """threadpoolctl's controller of numpy's own OpenBLAS (pthreads builds), or None."""
    ctl: Any = None
    try:
        ctls = _threadpoolctl().ThreadpoolController().select(internal_api="openblas")
        # numpy's own OpenBLAS (scipy, torch, tensorweave's private copy... may load others)
        mine = [c for c in ctls.lib_controllers if "numpy" in c.filepath]
        # never the private copy (get_gemm), whatever numpy was built with
        others = [c for c in ctls.lib_controllers if "scipy_openblas32" not in c.filepath]
        for c in mine or others[:1]:
            if c.threading_layer == "pthreads":  # threads.py's spin logic is theirs
                ctl = c
    except Exception:  # noqa: BLE001 - an optional optimisation only
        ctl = None
    return ctl


def _threadpoolctl() -> Any:
    # threadpoolctl's import sets KMP_DUPLICATE_LIB_OK for the whole process (Intel's
    # OpenMP reads it when it loads; nothing here loads it): the user's value is kept
    kmp = os.environ.get("KMP_DUPLICATE_LIB_OK")
    import threadpoolctl

    if kmp is None:
        os.environ.pop("KMP_DUPLICATE_LIB_OK", None)
    return threadpoolctl


_blas: Blas | None = None


def get_blas() -> Blas:
    """The process's ``Blas`` for numpy's OpenBLAS (``np.matmul``'s), made on first use."""
    global _blas
    if _blas is None:
        _blas = Blas()
    return _blas


class BlasChoiceError(RuntimeError):
    """``TENSORWEAVE_BLAS`` asked for a library that cannot be used (the reason is the message)."""


def blas_choice() -> str:
    """``TENSORWEAVE_BLAS`` (default ``auto``); a ValueError naming the value if unknown."""
    v = os.environ.get("TENSORWEAVE_BLAS", "auto").strip().lower() or "auto"
    if v not in BLAS_CHOICES:
        raise ValueError(f"TENSORWEAVE_BLAS={v!r}: expected one of {', '.join(BLAS_CHOICES)}")
    return v


def _private_path() -> str:
    """The shared library of the ``scipy-openblas32`` wheel (found without importing it: its
    helpers load the library themselves, before the core type is set)."""
    import glob
    import importlib.util

    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.origin:
        raise BlasChoiceError("scipy-openblas32 is not installed")
    libdir = os.path.join(os.path.dirname(spec.origin), "lib")
    found = sorted(
        f
        for pat in ("*scipy_openblas*.so*", "*scipy_openblas*.dylib", "*scipy_openblas*.dll")
        for f in glob.glob(os.path.join(libdir, pat))
    )
    if not found:
        raise BlasChoiceError(f"scipy-openblas32 has no library in {libdir}")
    return found[0]


_loaded: list[Any] = []  # the private library's handle, held for the process


def _private_blas() -> Blas:
    """Load the private OpenBLAS with its kernels picked from the CPU (or
    ``TENSORWEAVE_BLAS_CORETYPE``), one thread, a short idle spin; check one GEMM against
    float64 numpy. BlasChoiceError says why it cannot be used."""
    from backends.cpu.native.threads import scoped_env

    path = _private_path()
    core = os.environ.get("TENSORWEAVE_BLAS_CORETYPE") or None
    env = {"OPENBLAS_CORETYPE": core}
    if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
        env["OPENBLAS_THREAD_TIMEOUT"] = "16"
    with scoped_env(env):
        try:
            _loaded.append(ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL))
        except OSError as e:
            raise BlasChoiceError(f"cannot load {path}: {e}") from e
    real = os.path.realpath(path)
    ctls = _threadpoolctl().ThreadpoolController().select(internal_api="openblas")
    mine = [c for c in ctls.lib_controllers if os.path.realpath(c.filepath) == real]
    if not mine:
        raise BlasChoiceError(f"threadpoolctl does not see {path} after loading it")
    blas = Blas(mine[0], private=True)
    blas.set_threads(1)
    _self_check(blas)
    if core and blas.corename.lower() != core.lower():
        # OpenBLAS ignores a name it does not know, and maps some to a family it has
        import warnings

        warnings.warn(
            f"tensorweave: TENSORWEAVE_BLAS_CORETYPE={core!r} was not applied as given: the "
            f"private OpenBLAS runs its {blas.corename} kernels (an unknown name, or one this "
            "build maps to another family; OPENBLAS_CORETYPE's names, e.g. 'Haswell', "
            "'SkylakeX', 'Zen')",
            RuntimeWarning,
            stacklevel=3,
        )
    return blas


def _self_check(blas: Blas) -> None:
    """One 67x45x131 sgemm (odd sizes: every kernel edge) against float64 numpy."""
    try:
        gemm = _ctypes_gemm(blas, "f")
    except CblasUnavailable as e:
        raise BlasChoiceError(f"the private OpenBLAS: {e}") from e
    rng = np.random.default_rng(0)
    m, n, k = 67, 45, 131
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    gemm(101, 111, 111, m, n, k, 1.0, a.ctypes.data, k, b.ctypes.data, n, 0.0, c.ctypes.data, n)
    want = a.astype(np.float64) @ b.astype(np.float64)
    err = float(np.max(np.abs(c - want))) if np.isfinite(c).all() else math.inf
    if not err < 1e-3:
        raise BlasChoiceError(
            f"the private OpenBLAS ({blas.corename} kernels) failed its self-check: "
            f"max error {err:.3g} on a {m}x{k} @ {k}x{n} sgemm"
        )


_gemm: list[Blas] = []
_gemm_note: list[str] = []


def get_gemm() -> Blas:
    """The ``Blas`` the backend's GEMMs call (module docstring, "Which OpenBLAS"): the
    private copy, or numpy's (:func:`get_blas`) with ``TENSORWEAVE_BLAS=numpy`` or when the
    copy is missing or fails its check (a warning then says why, once). Raises
    BlasChoiceError with ``TENSORWEAVE_BLAS=openblas32`` when the copy cannot be used, and
    ValueError for an unknown ``TENSORWEAVE_BLAS``."""
    if _gemm:
        return _gemm[0]
    choice = blas_choice()
    blas = None
    if choice != "numpy":
        try:
            blas = _private_blas()
        except BlasChoiceError as e:
            if choice == "openblas32":
                raise
            _gemm_note.append(str(e))
            if "not installed" not in str(e):  # a broken copy is news; a missing one is not
                import warnings

                warnings.warn(
                    f"tensorweave: GEMMs use numpy's OpenBLAS: {e}", RuntimeWarning, stacklevel=2
                )
    _gemm.append(blas if blas is not None else get_blas())
    return _gemm[0]


def describe() -> str:
    """One line: which OpenBLAS the cpu backend's GEMMs call, with which kernels, and
    numpy's (e.g. ``private scipy-openblas32 (SkylakeX kernels); numpy's: Haswell``)."""
    try:
        g = get_gemm()
    except (BlasChoiceError, ValueError) as e:
        return f"unavailable: {e}"
    np_blas = get_blas()
    pin = os.environ.get("OPENBLAS_CORETYPE")
    np_desc = (np_blas.corename or "no OpenBLAS") + (
        f" (OPENBLAS_CORETYPE={pin})" if pin and np_blas.ctl is not None else ""
    )
    if g.private:
        ver = getattr(g.ctl, "version", "") or ""
        return f"private scipy-openblas32 {ver} ({g.corename} kernels); numpy's: {np_desc}"
    why = f" ({_gemm_note[0]})" if _gemm_note else ""
    return f"numpy's OpenBLAS: {np_desc}{why}"


class Cblas:
    """The GEMM library's (:func:`get_gemm`) ``cblas_sgemm``/``cblas_dgemm`` and thread
    getter/setter as numba external functions (called by symbol, so the compiled chunk can be
    cached on disk; the symbols are bound to the library with ``llvmlite.binding.add_symbol``;
    the symbol names say the integer width, so a chunk cached for another width is another
    file)."""

    def __init__(self) -> None:
        import llvmlite.binding as ll
        from numba import types

        blas = get_gemm()
        if blas.ctl is None:
            raise CblasUnavailable(
                "numpy's OpenBLAS is not reachable (no threadpoolctl controller)"
            )
        sym = blas.symbol
        ilp64 = blas.ilp64
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
                raise CblasUnavailable(f"OpenBLAS ({blas.ctl.filepath}) has no {name}")
            local = f"tensorweave_{name}{'_ilp64' if ilp64 else ''}"
            ll.add_symbol(local, ctypes.cast(f, ctypes.c_void_p).value)
            self.fns[name] = types.ExternalFunction(local, sig)


_cblas: list[Cblas] = []


def get_cblas() -> Cblas:
    if not _cblas:
        _cblas.append(Cblas())
    return _cblas[0]


@functools.cache
def c_gemm(char: str) -> Callable[..., None]:
    """The GEMM library's ``cblas_sgemm`` (``char`` ``f``) or ``cblas_dgemm`` (``d``) through
    ctypes (the program path's one-thread GEMM and ``tiers``' twin of ``split_gemm``):
    ``(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)`` with addresses for
    ``a``, ``b``, ``c``. Raises CblasUnavailable without OpenBLAS."""
    return _ctypes_gemm(get_gemm(), char)


def _ctypes_gemm(blas: Blas, char: str) -> Callable[..., None]:
    """``blas``'s ``cblas_?gemm`` as a ctypes function (:func:`c_gemm`)."""
    name = "cblas_sgemm" if char == "f" else "cblas_dgemm"
    sym = blas.symbol(name)
    if sym is None:
        raise CblasUnavailable(f"no {name} in {getattr(blas.ctl, 'filepath', 'any OpenBLAS')}")
    idx = ctypes.c_int64 if blas.ilp64 else ctypes.c_int32
    real = ctypes.c_float if char == "f" else ctypes.c_double
    ci, p = ctypes.c_int32, ctypes.c_void_p
    proto = ctypes.CFUNCTYPE(None, ci, ci, ci, idx, idx, idx, real, p, idx, p, idx, real, p, idx)
    return proto(ctypes.cast(sym, ctypes.c_void_p).value)


def gemm_operands(a: Any, b: Any, out: Any) -> tuple[int, int, int, int, int, int, int] | None:
    """``(ta, lda, tb, ldb, m, n, k)`` when numpy's matmul would hand ``a @ b -> out`` to
    ``cblas_?gemm`` (2-D, one float dtype, no dimension of 1, BLAS-able strides, C-contiguous
    ``out``, ``a`` and ``b`` not overlapping: else numpy uses gemv, dot, syrk or its own
    loops); None otherwise. The compiled chunks' GEMM launches follow the same rule."""
    if a.ndim != 2 or b.ndim != 2 or out.ndim != 2 or not out.flags.c_contiguous:
        return None
    char = a.dtype.char
    if char not in "fd" or b.dtype.char != char or out.dtype.char != char:
        return None
    m, k = a.shape
    n = b.shape[1]
    if min(m, n, k) <= 1:
        return None
    ta, tb = blasable(a), blasable(b)
    if ta is None or tb is None or np.shares_memory(a, b):
        return None
    return ta[0], ta[1], tb[0], tb[1], m, n, k


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
    # named by the bound symbol (its integer width): each library's split is its own file
    name = f"tw_split_{names['G'].symbol}"
    return fusion.load_module(folder, name, text, names).split_gemm
