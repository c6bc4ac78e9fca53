"""The ``cpu`` backend's scheduler: runs launch records, serially or split over threads.

A primitive hands the scheduler its work as launch records (``backends.cpu.launch``): one
record (:meth:`Scheduler.submit`), or a serial and a parallel variant of the same work with its
size and kernel family (:meth:`Scheduler.run`). The scheduler alone decides which variant
runs and times it:

- below ``parallel_threshold`` elements (times ``scale`` for cheap kernels) it runs serially;
- with ``adaptive`` off, parallel above it;
- while a trace step is collected (:meth:`Scheduler.collect`) by a fixed rule,
  ``RECORD_PAR_MIN``, so the same model gives the same program (and its compiled chunk is
  found in the disk cache) in every process;
- otherwise the adaptive chooser: it measures both variants per kernel family and size band
  (the median of each path's last 5 runs), runs the faster one, re-measures the other every
  ``PROBE_EVERY`` calls (4x as rarely when it lost by more than 25%), and stays serial while
  other processes hold cores (``backends.cpu.native.threads.load``): a static split over both cores of
  a loaded 2-core machine waits for a time slice.

While a step is collected, every launch the scheduler runs on the collecting thread is appended
to the collection, with the buffers the primitives allocated (:meth:`Scheduler.empty`) and a
note when the step moved data to or from the host (:meth:`Scheduler.host_transfer`): trace
programs are built from that list (``backends.cpu.steps``). Launches of other threads (eager
ops meanwhile) run as usual and are not collected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from backends.cpu.launch import Launch, Launches
from backends.cpu.native import threads

#: Default element count from which kernels run in parallel. Measured on 2 cores (best of 300,
#: us, serial/parallel): add 64K 10.1/8.5, 32K 5.4/6.3; exp 32K 16.3/11.8; row sums are ~2x
#: cheaper per element, so reductions use twice this (sum 128K 8.8/8.2, 64K 6.3/7.4).
PARALLEL_THRESHOLD = 1 << 16
#: While a trace step is collected, kernels from this many elements run parallel, smaller ones
#: serially (a compiled program then runs its GEMMs on every BLAS thread instead).
RECORD_PAR_MIN = 1 << 18
#: In adaptive mode, every this many calls of a kernel family re-measure the path not taken
#: (4x as many when that path was more than 25% slower).
PROBE_EVERY = 8


def band(key: Any, n: int) -> tuple:
    """The adaptive chooser's statistics key: the kernel family and the size within a factor of
    4. Per-element times differ by size (1M float32 elements fit in L3, 4M do not): pooled, a
    1M add measured serial-fast made 4M adds run serially, 2x slower."""
    return (key, n.bit_length() >> 1)


@dataclass(eq=False)
class FamilyStats:
    """What the adaptive chooser measured for one kernel family and size band; the lists are
    indexed by path, 0 serial and 1 parallel."""

    ns: list[float] = field(default_factory=lambda: [0.0, 0.0])  # median ns/element
    calls: int = 0
    runs: list[int] = field(default_factory=lambda: [0, 0])  # the first of each is a warm-up
    samples: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))


class Collection:
    """What one traced op did while collected: the launches it ran, the buffers it allocated,
    and whether it moved data between host and backend (then a program cannot replay it from
    its launches)."""

    __slots__ = ("launches", "allocs", "host_transfer")

    def __init__(self) -> None:
        self.launches: list[Launch] = []
        self.allocs: list[np.ndarray] = []
        self.host_transfer = False


_OPEN_LOCK = threading.Lock()


class _Local(threading.local):
    """Per-thread state: the collection open on this thread (a class default, so reading it
    is a plain attribute lookup: a missing thread-local attribute costs ~0.3 us)."""

    collection: Collection | None = None


class Scheduler:
    """Runs launch records for one backend instance (see the module docstring)."""

    def __init__(self, parallel_threshold: int = PARALLEL_THRESHOLD, adaptive: bool = True):
        #: Element count from which kernels may run multi-threaded (0: always, huge: never).
        self.parallel_threshold = int(parallel_threshold)
        #: Pick serial or parallel per kernel family by measured speed (False: always parallel
        #: above the threshold).
        self.adaptive = bool(adaptive)
        #: What the chooser measured, per ``band(key, n)``.
        self.stats: dict[Any, FamilyStats] = {}
        #: Other processes' CPU use (``free_cores()``).
        self.load: Any = threads.load
        self._tl = _Local()
        #: How many threads have a collection open: while 0 (eager work, the common case) the
        #: hot paths skip the thread-local read (~80 ns each, a tiny op's few percent).
        self._open = 0

    # --- collecting a trace step ------------------------------------------------------------
    def collecting(self) -> Collection | None:
        """The collection of the current thread's traced op, if one is open."""
        return self._tl.collection

    @contextmanager
    def collect(self) -> Iterator[Collection]:
        """Collect the launches this thread runs inside the block (one traced op)."""
        prev = self._tl.collection
        c = self._tl.collection = Collection()
        with _OPEN_LOCK:
            self._open += 1
        try:
            yield c
        finally:
            self._tl.collection = prev
            with _OPEN_LOCK:
                self._open -= 1

    def empty(self, shape: Any, dtype: Any) -> np.ndarray:
        """A fresh output buffer; a collected op's allocations are noted (a program plans them
        once and reuses them every run)."""
        out = np.empty(shape, dtype)
        if self._open:
            c = self._tl.collection
            if c is not None:
                c.allocs.append(out)
        return out

    def host_transfer(self) -> None:
        """Note that the current op moves data between host and backend (an upload of values
        drawn on the host): a program runs such an op in full every step."""
        if self._open:
            c = self._tl.collection
            if c is not None:
                c.host_transfer = True

    # --- running ----------------------------------------------------------------------------
    def submit(self, launch: Launch) -> None:
        """Run one launch now (and collect it when a step is collected)."""
        launch.kernel(*launch.args)
        if self._open:
            c = self._tl.collection
            if c is not None:
                c.launches.append(launch)

    def _submit_all(self, work: Launches) -> None:
        if type(work) is Launch:
            self.submit(work)
        else:
            for launch in work:
                self.submit(launch)

    def run(
        self,
        n: int,
        key: Any,
        serial: Launches,
        parallel: Launches | Callable[[], Launches] | None,
        scale: int = 1,
    ) -> bool:
        """Run ``serial`` or ``parallel`` (the same work over ``n`` elements of kernel family
        ``key``; ``scale`` multiplies the threshold for cheap kernels), timed for the adaptive
        chooser. ``parallel`` may be None (no parallel variant: ``serial`` runs) or a function
        returning the parallel records, called only when they run (their block sizes cost a
        look at numba's thread count, which tiny calls should not pay). Returns True when the
        parallel variant ran."""
        if parallel is None or n < scale * self.parallel_threshold or n <= 1:
            if type(serial) is Launch:  # the common case, kept short: tiny ops are ~2 us
                serial.kernel(*serial.args)
                if self._open:
                    c = self._tl.collection
                    if c is not None:
                        c.launches.append(serial)
            else:
                self._submit_all(serial)
            return False
        if not self.adaptive:
            self._submit_all(parallel() if callable(parallel) else parallel)
            return True
        if self._open and self._tl.collection is not None:
            # A trace program keeps this choice for good: a fixed rule, not the chooser's
            # warm-up probes, so the same model gives the same program in every process.
            use_par = n >= scale * RECORD_PAR_MIN
            if use_par:
                self._submit_all(parallel() if callable(parallel) else parallel)
            else:
                self._submit_all(serial)
            return use_par
        st, use_par = self._choose(n, key)
        t0 = time.perf_counter_ns()
        if use_par:
            self._submit_all(parallel() if callable(parallel) else parallel)
        else:
            self._submit_all(serial)
        self._record(st, use_par, (time.perf_counter_ns() - t0) / n)
        return use_par

    def _choose(self, n: int, key: Any) -> tuple[FamilyStats, bool]:
        k = band(key, n)
        st = self.stats.get(k)
        if st is None:
            st = self.stats[k] = FamilyStats()
        st.calls += 1
        if st.runs[1] < 2:
            use_par = True  # the first run of each path is a warm-up (it may compile)
        elif st.runs[0] < 2:
            use_par = False
        elif self.load.free_cores() < numba.get_num_threads() - 0.5:
            # Other processes hold cores: a static split would wait for a time slice (a 100 us
            # kernel took 1.3 ms), and probing the parallel path would cost as much.
            use_par = False
        else:
            serial, parallel = st.ns
            use_par = parallel <= serial
            # Re-measure the path not taken; rarely when it lost by far (each probe of the
            # slower path costs the gap: 0.3 ms on a 4M-element add).
            lo, hi = (parallel, serial) if use_par else (serial, parallel)
            every = PROBE_EVERY if hi < 1.25 * lo else 4 * PROBE_EVERY
            if st.calls % every == 0:
                use_par = not use_par
        return st, use_par

    @staticmethod
    def _record(st: FamilyStats, use_par: bool, ns: float) -> None:
        i = 1 if use_par else 0
        st.runs[i] += 1
        if st.runs[i] == 1:
            return  # warm-up run, not recorded
        samples = st.samples[i]
        samples.append(ns)
        if len(samples) > 5:
            del samples[0]
        st.ns[i] = sorted(samples)[len(samples) // 2]  # median of the last 5: ignores outliers
