"""How noisy a measurement is: spread of the samples, adaptive sampling, machine load.

Nothing here runs a workload; :mod:`bench.runner` feeds it samples and clock readings, so the
statistics and the stopping rule can be tested with a fake clock.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# ---------------------------------------------------------------------------- spread


def spread_iqr(samples: Sequence[float]) -> float | None:
    """Interquartile range over the median (0.1 = the middle half of the samples spans 10 %
    of the median); None with fewer than 2 samples or a median of 0.

    Quartiles interpolate linearly between sorted samples (numpy's default), so with 3
    samples the IQR is half the range; one outlier among 7 or more barely moves it.
    """
    if len(samples) < 2:
        return None
    xs = sorted(samples)
    med = statistics.median(xs)
    if med <= 0:
        return None
    return (_quantile(xs, 0.75) - _quantile(xs, 0.25)) / med


def spread_range(samples: Sequence[float]) -> float | None:
    """(max - min) / median; None with fewer than 2 samples or a median of 0."""
    if len(samples) < 2:
        return None
    med = statistics.median(samples)
    if med <= 0:
        return None
    return (max(samples) - min(samples)) / med


def _quantile(xs: Sequence[float], q: float) -> float:
    """Linear interpolation between the sorted ``xs`` (numpy.percentile's 'linear')."""
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# ---------------------------------------------------------------------------- sampler


@dataclass
class Sampling:
    """What :func:`adaptive_samples` took and why it stopped.

    ``stop`` is ``"fixed"`` (adaptive sampling off: exactly the start count), ``"settled"``
    (spread at or below the threshold), ``"cap"`` (the sample cap was reached while still
    noisy) or ``"time"`` (the next sample would have passed the time budget while still noisy).
    """

    samples: list[float]
    stop: str
    elapsed_s: float  # time spent taking every sample (by the given clock)
    start_s: float  # of which the first ``start`` samples took this long


def adaptive_samples(
    take: Callable[[], float],
    start: int,
    cap: int,
    threshold: float,
    budget_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> Sampling:
    """Take ``start`` samples, then more while :func:`spread_iqr` exceeds ``threshold``.

    ``take()`` runs the work once and returns one sample (seconds per call). More samples are
    taken one at a time until the spread is at most ``threshold``, ``cap`` samples are taken,
    or the next sample (predicted as the mean time per sample so far, by ``clock``) would
    bring the time spent past ``budget_s``. ``cap <= start`` turns the adaptive part off.
    """
    if start < 1:
        raise ValueError(f"start must be at least 1 sample, got {start}")
    if threshold < 0:
        raise ValueError(f"threshold must be a non-negative fraction, got {threshold}")
    t0 = clock()
    samples = [take() for _ in range(start)]
    first = clock() - t0
    if cap <= start:
        return Sampling(samples, "fixed", first, first)
    while True:
        spent = clock() - t0
        spread = spread_iqr(samples)
        if spread is not None and spread <= threshold:
            return Sampling(samples, "settled", spent, first)
        if len(samples) >= cap:
            return Sampling(samples, "cap", spent, first)
        if spent + spent / len(samples) > budget_s:
            return Sampling(samples, "time", spent, first)
        samples.append(take())


# ---------------------------------------------------------------------------- load


@dataclass
class Snapshot:
    """CPU counters at one moment (None where the system does not provide them)."""

    wall: float  # time.monotonic()
    own_cpu_s: float  # this process (every thread), time.process_time()
    busy_s: float | None  # every CPU, every process: user+nice+system+irq+softirq+steal
    steal_s: float | None  # time a hypervisor gave our virtual CPUs to someone else


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat() -> tuple[float, float] | tuple[None, None]:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None, None
    if not fields or fields[0] != "cpu" or len(fields) < 8:
        return None, None
    v = [int(x) for x in fields[1:9]] + [0] * 8  # old kernels have no steal column
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / _TICK, steal / _TICK


def snapshot() -> Snapshot:
    """The counters now."""
    busy, steal = _proc_stat()
    return Snapshot(time.monotonic(), time.process_time(), busy, steal)


def loadavg_1m() -> float | None:
    """The 1-minute load average, or None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


@dataclass
class Load:
    """How busy the machine was over a window, in CPUs (1.0 = one core fully busy)."""

    window_s: float
    other_cpus: float | None  # other processes (and hypervisor steal), averaged over the window
    own_cpus: float | None  # this process, every thread
    steal_cpus: float | None  # part of other_cpus: CPU time the hypervisor took
    loadavg_1m: float | None  # at the end of the window

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if v is None else round(v, 3)) for k, v in vars(self).items()}


def load_between(a: Snapshot, b: Snapshot, loadavg: float | None = None) -> Load:
    """The load between two snapshots: others = every CPU's busy time minus this process's."""
    wall = b.wall - a.wall
    if wall <= 0:
        return Load(0.0, None, None, None, loadavg)
    own = max(0.0, b.own_cpu_s - a.own_cpu_s) / wall
    other = steal = None
    if a.busy_s is not None and b.busy_s is not None:
        other = max(0.0, (b.busy_s - a.busy_s) / wall - own)
        steal = max(0.0, (b.steal_s - a.steal_s) / wall)  # type: ignore[operator]
    return Load(wall, other, own, steal, loadavg)


class LoadMonitor:
    """Snapshots taken as the run goes; a row's load is measured over at least ``min_window_s``.

    /proc/stat counts in ticks (10 ms on Linux), each CPU's counter off by up to a tick at
    each reading, so over a short window a few ticks would read as a large fraction of a
    CPU; the window of a shorter row reaches back to the latest earlier snapshot (the row's
    first call, or the rows before it) that makes it ``min_window_s`` long.
    """

    def __init__(self, min_window_s: float = 0.5) -> None:
        self.min_window_s = min_window_s
        self._snaps: list[Snapshot] = [snapshot()]

    def mark(self) -> Snapshot:
        """Record a snapshot now (the start of a row) and return it."""
        s = snapshot()
        self._snaps.append(s)
        del self._snaps[:-64]  # the last 64 are plenty to reach back a second
        return s

    def since(self, start: Snapshot) -> Load:
        """The load from ``start`` (or earlier, to span ``min_window_s``) until now."""
        end = self.mark()
        first = start
        for s in reversed(self._snaps[:-1]):
            if s.wall <= start.wall:
                first = s
                if end.wall - s.wall >= self.min_window_s:
                    break
        return load_between(first, end, loadavg_1m())


def is_loaded(load: Load | None, threshold_cpus: float) -> bool:
    """True when other processes took ``threshold_cpus`` or more while the row ran.

    Without /proc/stat (not Linux) the 1-minute load average minus this process's own CPU
    use stands in, compared with the threshold plus one (the average lags behind).
    """
    if load is None:
        return False
    if load.other_cpus is not None:
        return load.other_cpus >= threshold_cpus
    if load.loadavg_1m is not None and load.own_cpus is not None:
        return load.loadavg_1m - load.own_cpus >= threshold_cpus + 1.0
    return False


# ---------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform.processor()``), or "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    name = line.split(":", 1)[1].strip()
                    if name:
                        return " ".join(name.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def l3_bytes() -> int | None:
    """The size of one last-level (L3) cache in bytes, or None when the system does not say."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        entries = []
    for entry in entries:
        try:
            with open(f"{base}/{entry}/level", encoding="ascii") as f:
                if f.read().strip() != "3":
                    continue
            with open(f"{base}/{entry}/size", encoding="ascii") as f:
                text = f.read().strip().upper()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        try:
            return int(text.rstrip("KMG")) * scale
        except ValueError:
            return None
    try:
        size = os.sysconf("SC_LEVEL3_CACHE_SIZE")
        return size if size > 0 else None
    except (AttributeError, ValueError, OSError):
        return None
