"""Thread control for the ``cpu`` backend on a shared machine.

Two problems made the backend's multi-threaded kernels unreliable on a small (2-core) shared box:

- **Other processes.** A static split over all cores waits for its slowest thread; when another
  process holds one core, our second thread waits for a scheduler time slice (~1.5 ms on Linux
  6.x), so a 100 us kernel took 1.3 ms. :class:`LoadMonitor` measures the CPU time other
  processes used over the last ~0.1 s (``/proc/stat`` minus ``/proc/self/stat``, read at most
  every 25 ms, ~40 us a read); the backend runs serially while too few cores are free.
- **OpenBLAS's idle threads.** After a GEMM, OpenBLAS's worker threads spin (with
  ``sched_yield``) for 2**28 cycles (~0.1 s) before sleeping, fighting numba's threads for the
  cores: a 2-thread GEMM followed by two parallel elementwise kernels took 1.4 ms instead of
  0.24 ms. :func:`configure_openblas` shortens the spin to 2**16 cycles (~25 us, the way
  ``GOMP_SPINCOUNT`` limits OpenMP's) when the backend starts (:func:`start`); :func:`matmul` runs small
  GEMMs (under ``SMALL_GEMM_FLOPS``) on one BLAS thread and larger 2-D ones as one
  single-threaded GEMM per numba thread (``cblas.split_gemm``: 181-193 us for 256^3 against
  193-203 us on OpenBLAS's two threads), so only batched GEMMs still wake OpenBLAS's workers.
  While other processes hold a core (:data:`load`), larger GEMMs run on one BLAS thread too
  (as the compiled chunks' do): a split waits for a time slice.

Everything degrades to a no-op where it cannot apply (no ``/proc``, no OpenBLAS, no
threadpoolctl, a user's own ``OPENBLAS_THREAD_TIMEOUT``).

**Process-wide settings** (:func:`start`, called once when a ``CpuBackend`` is made, never on
import): libgomp's idle spin (``GOMP_SPINCOUNT=20000``, unless the user set it or
``OMP_WAIT_POLICY``) and OpenBLAS's (2**16 cycles, unless the user set
``OPENBLAS_THREAD_TIMEOUT``). Both libraries read their environment when they load or are told
to re-read it, so each variable is set only around that moment and ``os.environ`` is restored
right after: child processes and the user's code see the environment they had. The settings
themselves stay for the process (libgomp reads its spin count once; ``set_spin`` changes
OpenBLAS's). A threading layer numba had already started before the backend keeps its spin.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from backends.cpu.native import cblas
from backends.cpu.native.cblas import Blas, get_blas

#: GEMMs below this many flops (2*m*n*k per batch entry) run on one BLAS thread: a 2-thread
#: 32x784x128 GEMM saves ~25 us but its workers then slow the next numba kernels by ~100 us.
SMALL_GEMM_FLOPS = 16e6
#: GEMMs from this many flops run in the private OpenBLAS (``cblas.get_gemm``) split over
#: numba's threads, as the compiled chunks' (``steps.chunk.SPLIT_GEMM_FLOPS``): no OpenBLAS
#: worker is woken, so the split pays from a smaller size than ``SMALL_GEMM_FLOPS`` (a
#: 32x784x128 GEMM, SkylakeX kernels: 41 us on one thread, 23 us in two halves).
PRIVATE_SPLIT_FLOPS = 2e6
#: OpenBLAS worker spin before sleeping, as log2(cycles) (OpenBLAS's default is 28).
OPENBLAS_TIMEOUT = 16
#: OpenBLAS's own default (what a process that never imported tensorweave has).
OPENBLAS_DEFAULT_TIMEOUT = 28


class LoadMonitor:
    """Cores' worth of CPU time used by *other* processes lately (Linux ``/proc``).

    ``foreign()`` is cached and refreshed at most every ``refresh_s``; each estimate covers the
    last ``window_s`` or more (the counters tick every 10 ms, so shorter windows are noisy) and
    the value is the highest estimate of the last ``hold_s``.
    """

    def __init__(
        self,
        window_s: float = 0.1,
        refresh_s: float = 0.025,
        hold_s: float = 0.3,
        stat_path: str = "/proc/stat",
        self_path: str = "/proc/self/stat",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.refresh_s = refresh_s
        self.hold_s = hold_s
        self._stat_path = stat_path
        self._self_path = self_path
        self._clock = clock
        self._hz = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        self._ncpu = os.cpu_count() or 1  # cached: the call reads /sys (~7 us)
        self._samples: deque = deque()
        self._peaks: deque = deque()
        self._value = 0.0
        self._next = -float("inf")
        self._lock = threading.Lock()
        self.available = self._read() is not None

    def _read(self) -> tuple[int, int] | None:
        """(busy ticks of the whole machine, ticks of this process), or None."""
        try:
            with open(self._stat_path) as f:
                cpu = [int(v) for v in f.readline().split()[1:9]]
            with open(self._self_path) as f:
                own = f.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError, IndexError):
            return None
        if len(cpu) < 5:
            return None
        busy = sum(cpu) - cpu[3] - cpu[4]  # all but idle and iowait (steal counts as busy)
        return busy, int(own[11]) + int(own[12])  # utime + stime

    def foreign(self) -> float:
        """Cores' worth of CPU other processes (and the hypervisor) used lately; 0.0 when
        unknown."""
        if not self.available:
            return 0.0
        now = self._clock()
        if now < self._next:
            return self._value
        with self._lock:
            if now < self._next:
                return self._value
            self._next = now + self.refresh_s
            s = self._read()
            if s is None:
                return self._value
            q = self._samples
            q.append((now, *s))
            while len(q) > 2 and now - q[1][0] >= self.window_s:
                q.popleft()
            t0, b0, o0 = q[0]
            span = now - t0
            if span >= 0.5 * self.window_s:
                value = max(0.0, ((s[0] - b0) - (s[1] - o0)) / self._hz / span)
                # The highest estimate of the last hold_s: a load that pauses for a moment
                # (or a low estimate from the 10 ms tick counters) does not flip us back.
                peaks = self._peaks
                peaks.append((now, value))
                while now - peaks[0][0] > self.hold_s:
                    peaks.popleft()
                self._value = max(v for _, v in peaks)
            return self._value

    def free_cores(self, ncpu: int | None = None) -> float:
        """Cores not used by other processes (of ``ncpu``, default all)."""
        return (ncpu or self._ncpu) - self.foreign()


#: The process-wide monitor the backend consults.
load = LoadMonitor()


_configured = False


#: libgomp's idle spin before its threads sleep (iterations; its default is 300,000): on a
#: loaded 2-core machine the default spin starved the other processes and made our parallel
#: kernels 5-10x slower than serial ones. Sleeping at once (OMP_WAIT_POLICY=PASSIVE) costs
#: ~25-50 us of wake-up per parallel call; this short spin keeps it at ~3-5 us.
GOMP_SPINCOUNT = "20000"

_started: list[bool] = []


def start() -> None:
    """The process-wide settings of the module docstring, once per process (what a
    ``CpuBackend`` does when it is made). ``os.environ`` is as it was afterwards."""
    if _started:
        return
    _started.append(True)
    import numba

    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        numba.get_num_threads()  # the user's settings: start the threading layer as is
    else:
        with scoped_env({"GOMP_SPINCOUNT": GOMP_SPINCOUNT}):
            numba.get_num_threads()  # loads numba's threading layer (and libgomp) now
    configure_openblas()


class scoped_env:
    """Set (or, for None, remove) environment variables inside the block; restore them after.
    One lock: two threads loading libraries at once see their own settings."""

    _lock = threading.RLock()

    def __init__(self, values: dict[str, str | None]):
        self.values = values

    def __enter__(self) -> None:
        self._lock.acquire()
        self.old = {k: os.environ.get(k) for k in self.values}
        for k, v in self.values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __exit__(self, *exc: object) -> None:
        try:
            for k, v in self.old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        finally:
            self._lock.release()


def configure_openblas(timeout: int = OPENBLAS_TIMEOUT) -> bool:
    """Make OpenBLAS's idle workers sleep after ~2**timeout cycles instead of 2**28.

    OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` when it loads (numpy's import, before us): set it
    while OpenBLAS re-reads its environment (then restore ``os.environ``) and stop the worker
    threads, which restart on the next threaded call with the new timeout. Skipped when the
    user set a timeout. Returns True if applied."""
    if _spin:
        return set_spin(timeout)
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ or "GOTO_THREAD_TIMEOUT" in os.environ:
        return False
    blas = get_blas()
    if blas.ctl is None:
        return False
    lib = blas.ctl.dynlib
    try:
        lib.openblas_read_env, lib.blas_thread_shutdown_  # noqa: B018 - both must exist
    except AttributeError:
        return False
    _spin.append(-1)
    return set_spin(timeout)


_spin: list[int] = []  # [current timeout] once configure_openblas took the setting over


def set_spin(timeout: int) -> bool:
    """Change the idle-spin timeout ``configure_openblas`` set (~100 us: the workers restart).
    A compiled trace program whose only threaded work is BLAS keeps its workers spinning
    through a step (2**20 cycles), so the next GEMM does not wait for them to wake up.
    False when the setting is not ours."""
    if not _spin:
        return False
    if _spin[0] == timeout:
        return True
    lib = get_blas().ctl.dynlib
    with scoped_env({"OPENBLAS_THREAD_TIMEOUT": str(int(timeout))}):
        lib.openblas_read_env()
    lib.blas_thread_shutdown_()
    _spin[0] = timeout
    return True


def blas_threads_for(flops: float, current: int) -> int:
    """BLAS threads for a GEMM of ``flops`` when OpenBLAS is set to ``current``: one for small
    GEMMs, else ``current``.

    Shape only, never the machine's load: OpenBLAS's 1-thread path sums in another order (its
    small-matrix kernels), so a load-based choice would make results vary from run to run."""
    if current > 1 and flops < SMALL_GEMM_FLOPS:
        return 1
    return current


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``np.matmul(a, b, out=out)`` on the BLAS thread count :func:`blas_threads_for` picks
    (restored afterwards, so other code in the process sees its own setting); a 2-D float GEMM
    it gives several threads runs as ``cblas.split_gemm`` over numba's threads, or on one
    BLAS thread while another process holds a core (``load``). The split and the one-thread
    call may differ in the last bits, so, like a compiled chunk's, such a GEMM's bits can
    depend on the machine's load; GEMMs under ``SMALL_GEMM_FLOPS`` never do."""
    global _configured
    if not _configured:
        _configured = True
        configure_openblas()
    gemm = cblas.get_gemm()
    if gemm.private:
        ops = cblas.gemm_operands(a, b, out)
        if ops is not None:
            _private_gemm(a, b, out, ops, gemm)
            return
    blas = get_blas()
    if blas.ctl is None:
        np.matmul(a, b, out=out)
        return
    m, k = a.shape[-2], a.shape[-1]
    n = b.shape[-1]
    flops = 2.0 * m * n * k * (out.size // max(m * n, 1))
    current = blas.get_threads() or 1
    want = blas_threads_for(flops, current)
    if want > 1:
        if load.foreign() > 0.5:
            # Another process holds a core: a static split over every core (ours or
            # OpenBLAS's) waits for a time slice; one thread is 2-3x faster then (a
            # 256x784x128 GEMM on a loaded 2-core machine: 0.42 ms against 1.4 ms split).
            # The compiled chunks (backends.cpu.steps.chunk) choose the same way.
            want = 1
        elif _split(a, b, out, blas, current):
            return
    # NaN/Inf operands are legal input (IEEE results, as every backend): no RuntimeWarning
    with np.errstate(invalid="ignore", over="ignore"):
        if want == current:
            np.matmul(a, b, out=out)
            return
        blas.set_threads(want)
        try:
            np.matmul(a, b, out=out)
        finally:
            blas.set_threads(current)


def _private_gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, ops: tuple, gemm: Blas) -> None:
    """``a @ b -> out`` in the private OpenBLAS (``cblas.get_gemm``, always one thread there):
    from ``PRIVATE_SPLIT_FLOPS`` split over numba's threads (``cblas.split_gemm``) unless
    another process holds a core, else one call."""
    import numba

    ta, lda, tb, ldb, m, n, k = ops
    char = a.dtype.char
    parts = numba.get_num_threads()
    if gemm.get_threads() != 1:  # threadpoolctl's limits reach every OpenBLAS, ours included
        gemm.set_threads(1)
    a_p, b_p, c_p = a.ctypes.data, b.ctypes.data, out.ctypes.data
    if parts > 1 and 2.0 * m * n * k >= PRIVATE_SPLIT_FLOPS and load.foreign() <= 0.5:
        cblas.split_gemm(char)(parts, ta, tb, m, n, k, a_p, lda, b_p, ldb, c_p, n)
        return
    cblas.c_gemm(char)(101, ta, tb, m, n, k, 1.0, a_p, lda, b_p, ldb, 0.0, c_p, n)


_no_split: list[bool] = []


def _split(a: np.ndarray, b: np.ndarray, out: np.ndarray, blas: Blas, current: int) -> bool:
    """Run a 2-D float GEMM as one single-threaded ``cblas_?gemm`` per numba thread
    (``cblas.split_gemm``) instead of on OpenBLAS's threads, whose idle spin would then hold
    the cores numba's kernels need. False (nothing done) when numpy would not call gemm."""
    import numba

    parts = numba.get_num_threads()
    if _no_split or parts < 2:
        return False
    ops = cblas.gemm_operands(a, b, out)
    if ops is None:
        return False  # numpy would use gemv, dot, syrk or no BLAS at all
    ta, lda, tb, ldb, m, n, k = ops
    char = a.dtype.char
    try:
        fn = cblas.split_gemm(char)
    except cblas.CblasUnavailable:
        _no_split.append(True)
        return False
    blas.set_threads(1)
    try:
        fn(parts, ta, tb, m, n, k, a.ctypes.data, lda, b.ctypes.data, ldb, out.ctypes.data, n)
    finally:
        blas.set_threads(current)
    return True
