"""Timing: first call (compile) apart from steady state, warm-up, repeats, correctness checks."""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import engine as tw
from bench import stats
from bench.common import Prepared, Skip, Target


@dataclass
class Config:
    """How hard to measure; ``quick`` trades precision for a run under a minute.

    Each row starts with ``repeats`` samples and takes more, one at a time, while the
    spread of its samples (interquartile range / median) is above ``noise``, up to
    ``max_repeats`` samples and ``adaptive_budget_s`` of sampling for the row; the extra
    samples of the whole run share ``extra_budget_s``. ``max_repeats <= repeats`` turns the
    adaptive part off.
    """

    quick: bool = False
    repeats: int = 7
    warmup: int = 2
    min_repeats: int = 3
    min_sample_s: float = 0.05  # an inner loop makes each timed sample at least this long
    budget_s: float = 10.0  # steady-state time per (workload, target) before repeats shrink
    long_call_s: float = 30.0  # a steady call longer than this is timed once
    max_repeats: int = 21
    noise: float = 0.10  # IQR / median above which a row gets more samples, then a warning
    adaptive_budget_s: float = 5.0  # a row's sampling time (start samples included) for extras
    extra_budget_s: float = 60.0  # extra samples' time, whole run
    extra_spent_s: float = 0.0  # of which spent so far
    load_cpus: float = 0.5  # other processes busy on this many CPUs: the row is "loaded"

    @classmethod
    def make(
        cls,
        quick: bool,
        repeats: int | None = None,
        max_repeats: int | None = None,
        **kw: Any,
    ) -> Config:
        """The defaults for a full or ``quick`` run. ``repeats`` alone fixes the sample count
        (no adaptive sampling); with ``max_repeats`` it is the count to start from."""
        if quick:
            quick_kw = {"max_repeats": 7, "adaptive_budget_s": 0.5, "extra_budget_s": 2.0}
            base = cls(quick, 3, 1, 2, 0.01, 1.0, 1.0, **{**quick_kw, **kw})
        else:
            base = cls(False, **kw)
        if repeats is not None:
            base.repeats = max(1, repeats)
            base.min_repeats = min(base.min_repeats, base.repeats)
            base.max_repeats = base.repeats
        if max_repeats is not None:
            if max_repeats < base.repeats:
                raise ValueError(
                    f"max_repeats ({max_repeats}) must be at least repeats ({base.repeats})"
                )
            base.max_repeats = max_repeats
        if base.noise < 0:
            raise ValueError(f"noise must be a non-negative fraction, got {base.noise}")
        return base


@dataclass
class Result:
    """One row of the table: a workload on one target."""

    workload: str
    group: str
    target: str
    kind: str
    status: str  # "ok" | "wrong" | "error" | "skipped"
    unit: str
    tolerance: float
    first_call_s: float | None = None
    median_s: float | None = None
    min_s: float | None = None
    repeats: int = 0
    inner: int = 0
    samples_s: list[float] = field(default_factory=list)
    max_s: float | None = None
    spread_iqr: float | None = None  # interquartile range / median of the samples
    spread_range: float | None = None  # (max - min) / median
    sampling: str | None = None  # why sampling stopped: fixed, settled, cap, time, single
    load: dict[str, float | None] | None = None  # stats.Load while the row ran
    warnings: list[str] = field(default_factory=list)  # "noisy", "loaded", "1 sample"
    fits_in_l3: bool | None = None  # GB/s rows: the bytes moved per call fit in one L3
    throughput: float | None = None
    fraction_of_ceiling: float | None = None
    ratio_vs_numpy: float | None = None
    max_rel_err: float | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["max_rel_err"] is not None and not math.isfinite(d["max_rel_err"]):
            d["max_rel_err"] = None  # shape mismatch or non-finite output (see note)
        return d


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


@contextlib.contextmanager
def _scope(target: Target) -> Iterator[None]:
    if target.kind == "backend":
        with tw.backend_scope(target.name):
            yield
        return
    # References and peers run with OpenBLAS as a plain numpy program has it: the cpu backend
    # shortens its workers' idle spin process-wide (backends.cpu.native.threads), which would slow
    # their threaded GEMMs (measured: hand-written numpy b32 epoch 150 ms default, 175 ms short).
    from backends.cpu.native import threads

    ours = threads.set_spin(threads.OPENBLAS_DEFAULT_TIMEOUT)
    try:
        yield
    finally:
        if ours:
            threads.set_spin(threads.OPENBLAS_TIMEOUT)


def _wrong(res: Result) -> None:
    res.status = "wrong"
    if res.max_rel_err is not None and not math.isfinite(res.max_rel_err):
        res.note = "wrong shape or non-finite values"


def _bad(err: float | None, tol: float) -> bool:
    return err is not None and not (math.isfinite(err) and err <= tol)


def measure(
    workload: Any, target: Target, cfg: Config, monitor: stats.LoadMonitor | None = None
) -> Result | None:
    """Time ``workload`` on ``target``; None when the workload does not apply to it.

    ``monitor`` measures the machine's load as the run goes (a fresh one when None).
    """
    res = Result(
        workload.name, workload.group, target.name, target.kind, "ok", workload.unit,
        workload.tolerance,
    )  # fmt: skip
    gc.collect()
    try:
        with _scope(target):
            prepared = workload.prepare(target)
            if prepared is None:
                return None
            _time(prepared, target, cfg, res, monitor or stats.LoadMonitor())
    except Skip as exc:
        res.status, res.note = "skipped", str(exc)
    except Exception as exc:  # a backend that raises is reported in its row, never hidden
        res.status, res.note = "error", _describe(exc)
    if res.status != "ok":  # no speed is ever reported for a wrong or failed result
        res.first_call_s = res.median_s = res.min_s = res.max_s = None
        res.spread_iqr = res.spread_range = res.sampling = None
        res.samples_s, res.warnings = [], []
    return res


def _time(
    p: Prepared, target: Target, cfg: Config, res: Result, monitor: stats.LoadMonitor
) -> None:
    clock = time.perf_counter
    monitor.mark()  # the window may reach back over the first call when the rest is short
    t0 = clock()
    out = p.call()
    target.sync()
    res.first_call_s = clock() - t0
    started = monitor.mark()  # the steady state starts: warm-up and samples
    res.max_rel_err = p.check(out, 0)
    if _bad(res.max_rel_err, res.tolerance):
        _wrong(res)
        return
    problem = p.sanity(out) if p.sanity else None
    if problem:
        _wrong(res)
        res.note = problem
        return
    single = res.first_call_s
    warmups = max(1, cfg.warmup)  # one at least: it measures the steady state
    for _ in range(warmups):
        t0 = clock()
        out = p.call()
        target.sync()
        single = clock() - t0
        if single * (warmups + cfg.repeats) > cfg.budget_s:
            break  # long calls: one warm-up is enough
    inner, samples, stop = 1, [single], "single"
    if single <= cfg.long_call_s:  # else the (steady) warm-up call is the one sample
        if p.repeatable:
            inner = int(min(10_000, max(1, math.ceil(cfg.min_sample_s / max(single, 1e-9)))))
        start, cap = cfg.repeats, max(cfg.repeats, cfg.max_repeats)
        if single * inner * start > cfg.budget_s:
            start = max(cfg.min_repeats, int(cfg.budget_s / max(single * inner, 1e-9)))
            cap = start  # already over the row's budget: no extra samples
        planned = single * inner * start
        left = max(0.0, cfg.extra_budget_s - cfg.extra_spent_s)
        budget = min(cfg.adaptive_budget_s, planned + left)
        last = [out]

        def take() -> float:
            t0 = clock()
            for _ in range(inner):
                last[0] = p.call()
            target.sync()
            return (clock() - t0) / inner

        got = stats.adaptive_samples(take, start, cap, cfg.noise, budget, clock)
        cfg.extra_spent_s += max(0.0, got.elapsed_s - got.start_s)
        samples, stop, out = got.samples, got.stop, last[0]
        if stop == "fixed" and cfg.max_repeats > cfg.repeats:
            stop = "time"  # the row's time budget left no room for extra samples
    load = monitor.since(started)
    again = p.check(out, 1)
    if again is not None:
        res.max_rel_err = max(res.max_rel_err or 0.0, again)
        if _bad(again, res.tolerance):
            _wrong(res)
            return
    res.samples_s = samples
    res.median_s = statistics.median(samples)
    res.min_s, res.max_s = min(samples), max(samples)
    res.repeats, res.inner, res.sampling = len(samples), inner, stop
    res.spread_iqr = stats.spread_iqr(samples)
    res.spread_range = stats.spread_range(samples)
    res.load = load.as_dict()
    res.warnings = row_warnings(res.spread_iqr, len(samples), load, cfg)


def row_warnings(
    spread: float | None, n_samples: int, load: stats.Load | None, cfg: Config
) -> list[str]:
    """The warning codes of a timed row: ``"noisy"`` (the spread stayed above ``cfg.noise``),
    ``"loaded"`` (other processes were busy on ``cfg.load_cpus`` CPUs or more) and
    ``"1 sample"`` (one sample: the spread is unknown)."""
    out = []
    if spread is not None and spread > cfg.noise:
        out.append("noisy")
    if stats.is_loaded(load, cfg.load_cpus):
        out.append("loaded")
    if n_samples < 2:
        out.append("1 sample")
    return out


def fill_derived(results: list[Result], workloads: dict[str, Any], ceilings: dict) -> None:
    """Throughput, fraction of the machine's ceiling, and the ratio to the numpy backend."""
    base = {
        r.workload: r.median_s
        for r in results
        if r.target == "numpy" and r.kind == "backend" and r.status == "ok"
    }
    for r in results:
        if r.status != "ok" or not r.median_s:
            continue
        w = workloads[r.workload]
        if r.unit == "us/op":
            r.throughput = r.median_s / w.ops_per_call * 1e6
        elif r.unit == "GFLOP/s":
            r.throughput = w.flops / r.median_s / 1e9
            # the cpu backend's rows against the OpenBLAS it calls (its private copy may run
            # other kernels than numpy's); the rest against numpy's matmul
            own = ceilings.get("cpu_gemm_gflops")
            ceil = own if r.target == "cpu" and own and math.isfinite(own) else None
            r.fraction_of_ceiling = r.throughput / (ceil or ceilings["blas_gflops"])
        else:
            r.throughput = w.bytes / r.median_s / 1e9
            r.fraction_of_ceiling = r.throughput / ceilings["memcpy_gbps"]
            l3 = ceilings.get("l3_bytes")
            r.fits_in_l3 = None if not l3 else bool(w.bytes <= l3)
        if r.workload in base:
            r.ratio_vs_numpy = base[r.workload] / r.median_s


def memcpy_bytes(l3: int | None) -> int:
    """The memory-copy buffer: 128 MiB, or 4 L3 caches if larger (at most 512 MiB), so the
    copy runs from DRAM, not from a cache."""
    return int(min(512 << 20, max(128 << 20, 4 * (l3 or 0))))


def ceiling_sizes(quick: bool) -> tuple[int, int]:
    """The square matmul sizes the GEMM ceilings are the best of."""
    return (512, 1024) if quick else (1024, 2048)


def cpu_gemm_gflops(sizes: tuple[int, ...], numpy_gflops: float) -> tuple[float | None, str]:
    """The cpu backend's float32 GEMM peak (GFLOP/s, best of square ``sizes``) and which
    OpenBLAS it calls (``cblas.describe``). With its private OpenBLAS that is a split over
    numba's threads, as the backend runs a large GEMM; with numpy's, ``numpy_gflops``; None
    (and the reason) when the backend cannot run."""
    try:
        import numba

        from backends.cpu.native import cblas

        g = cblas.get_gemm()
        desc = cblas.describe()
        if not g.private:
            return numpy_gflops, desc
        split = cblas.split_gemm("f")
        parts = numba.get_num_threads()
    except Exception as e:  # noqa: BLE001 - reported, not fatal: a ceiling is context only
        return None, f"unavailable: {e}"
    best = 0.0
    for n in sizes:
        a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
        c = np.empty_like(a)
        p = a.ctypes.data
        for i in range(6):  # the first is a warm-up (and the split's compile)
            t0 = time.perf_counter()
            split(parts, 111, 111, n, n, n, p, n, p, n, c.ctypes.data, n)
            if i:
                best = max(best, 2.0 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best, desc


def measure_ceilings(quick: bool, cpu_gemm: bool = True) -> dict[str, Any]:
    """The host's own ceilings, measured now: numpy BLAS float32 matmul and memory copy.

    The copy's buffer is well over the L3 cache (:func:`memcpy_bytes`), so ``memcpy_gbps`` is
    DRAM bandwidth: rows whose data fits in a cache can go faster than this "ceiling".
    """
    gflops, size = 0.0, 0
    for n in ceiling_sizes(quick):
        a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
        a @ a  # warm-up (thread pool start)
        for _ in range(5):
            t0 = time.perf_counter()
            a @ a
            rate = 2.0 * n**3 / (time.perf_counter() - t0) / 1e9
            if rate > gflops:
                gflops, size = rate, n
    l3 = stats.l3_bytes()
    nbytes = memcpy_bytes(l3)
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best_copy = math.inf
    for _ in range(5 if quick else 10):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best_copy = min(best_copy, time.perf_counter() - t0)
    tw_gflops: float | None = None
    tw_blas = "not measured"
    if cpu_gemm:  # (``python -m bench`` measures it after its rows: see its main)
        tw_gflops, tw_blas = cpu_gemm_gflops(ceiling_sizes(quick), gflops)
    return {
        "blas_gflops": gflops,
        "blas_size": size,
        "cpu_gemm_gflops": tw_gflops,
        "cpu_gemm_blas": tw_blas,
        "memcpy_gbps": 2.0 * nbytes / best_copy / 1e9,  # read + write, like the GB/s rows
        "memcpy_bytes": nbytes,
        "l3_bytes": l3,
    }
