"""``python -m bench.profile``: where a training step's time goes on the ``cpu`` backend.

Trains the bench's seed model (784-128-10 MLP, adam, categorical cross-entropy, MNIST) or its
CNN (``--model cnn``) at a batch size given on the command line and splits the time of one
step into parts, each against its floor measured in the same run::

    python -m bench.profile 32                # seed model, batch 32, 10,000 samples
    python -m bench.profile 256 --peers jax-scan --launches
    python -m bench.profile 32 --model cnn    # bench/train_cnn.py's model, 8,192 samples

Parts (µs per step; a step is one ``fit`` batch, the ragged last batch included):

- **GEMM/conv**: BLAS matmuls (``threads.matmul``: the backend's OpenBLAS,
  ``cblas.get_gemm``) and the conv kernels; floor: their FLOPs at that library's float32 peak
  on this machine (``bench.runner.cpu_gemm_gflops``: best of 1024² and 2048² split over
  numba's threads; numpy's own matmul peak is printed beside it, and is the floor when the
  backend calls numpy's OpenBLAS). ``numpy 1 thr`` is ``np.matmul`` on fresh operands of the
  same shapes and layouts on one BLAS thread, the best of many calls: what those shapes cost
  at best on numpy's BLAS.
- **elementwise/fused**, **reductions/softmax/pool**, **optimizer update**, **gather/one-hot**:
  numba kernels by name; floor: the bytes of their array arguments (each read or written
  once) at this machine's memory-copy speed for a cache-resident buffer (``np.copyto`` of
  4 MiB, read + write counted; the step's working set fits in the L2/L3 caches).
- **host scalars**: the optimizer's per-step scalars (``HostStep``: learning rate, bias
  corrections) and host effects (``EffectStep``: its step count); no floor (a compiled chunk
  tabulates them before its loop).
- **live ops**: ops a program runs through their full backend method (none for these models).
- **Python/dispatch**: the rest of the step, split into the program's replay loop (patching
  per-run buffers into launch arguments, calling each kernel's entry point) and the time
  ``fit`` spends outside the program (batching, the loss read-out, callbacks).

How it measures: the program path is the Python trace program (``backends.cpu.steps.program``)
with compiled chunks switched off (``program.COMPILE_AFTER = -1`` for the run). A program
replays its launches by calling each kernel's entry point directly, not through the
``Scheduler`` (that is what makes it cheaper than eager execution), so the profiler wraps the
program's own steps for the instrumented epochs: each ``LaunchStep``'s entry point, each
``HostStep.run``, ``EffectStep.fn`` and ``LiveStep.invoke`` is replaced by a wrapper that adds
its ``perf_counter_ns`` time to that launch's counter, and the originals are put back after.
Nothing is installed when the profiler is not running, so it costs nothing then. Plain and
instrumented epochs alternate; the instrumented ones give the parts (their wrapper cost,
calibrated in the same process, is taken out of the step's total and shown), the plain ones
the step time without instrumentation. The compiled-chunk path's step time (one numba function
for many steps: everything merged, so it has no parts) is measured on a fresh model with
``COMPILE_AFTER = 0`` (compiled in this process the first time, then numba's disk cache).

Timings on a shared machine are noisy: the header prints the load average and the CPU time
other processes used during the run (``bench.stats``); compare parts within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Parts of a step, in table order (``python`` is the remainder).
PARTS = ("gemm", "elementwise", "reduction", "update", "gather", "host", "live", "python")
LABELS = {
    "gemm": "GEMM/conv",
    "elementwise": "elementwise/fused",
    "reduction": "reductions/softmax/pool",
    "update": "optimizer update",
    "gather": "gather/one-hot",
    "host": "host scalars",
    "live": "live ops",
    "python": "Python/dispatch (rest)",
}
#: Workloads: ``--model`` name -> (default samples, description).
MODELS = {"mlp": (10000, "784-128-10 MLP"), "cnn": (8192, "conv 3x3x16 relu, maxpool 2, dense")}
#: Bytes of the cache-resident memory copy the bandwidth floor is measured with (per buffer).
COPY_BYTES = 4 << 20

_GATHER = ("gather", "scatter", "one_hot", "take", "embedding")
_REDUCE = ("softmax", "reduce", "cce", "max_pool", "arg_reduce", "row_max", "cumsum", "pool")


# --- what a launch is ---------------------------------------------------------------------------
def kernel_name(fn: Any) -> tuple[str, str]:
    """``(name, module)`` of a launch's kernel (a numba dispatcher's Python function)."""
    py = getattr(fn, "py_func", fn)
    name = getattr(py, "__qualname__", None) or getattr(py, "__name__", None) or repr(py)
    return name, getattr(py, "__module__", "") or ""


def classify(fn: Any) -> str:
    """The part (one of ``PARTS``) a launch of kernel ``fn`` belongs to."""
    name, module = kernel_name(fn)
    low = name.lower()
    if "matmul" in low or "gemm" in low or (low.startswith("conv2d") and "conv" in module):
        return "gemm"
    if low.startswith("opt_update") or "opt_kernels" in module or "optgen" in module:
        return "update"
    if any(g in low for g in _GATHER):
        return "gather"
    if any(r in low for r in _REDUCE):
        return "reduction"
    return "elementwise"


def _gemm_shape(metas: Sequence[Any]) -> tuple[int, int, int, int] | None:
    """``(batch, m, n, k)`` of a matmul launch ``(a, b, out)`` from its argument layouts."""
    arrays = [m for m in metas if m is not None]
    if len(arrays) < 3 or arrays[0].ndim < 2 or arrays[1].ndim < 2:
        return None
    a, b, out = arrays[0], arrays[1], arrays[2]
    m, k = a.shape[-2], a.shape[-1]
    n = b.shape[-1]
    batch = int(np.prod(out.shape[:-2])) if out.ndim > 2 else 1
    return batch, m, n, k


def launch_work(fn: Any, args: Sequence[Any], metas: Sequence[Any], sizes: Sequence[int]) -> dict:
    """FLOPs (GEMM/conv launches) and bytes (every launch: its float array arguments, each
    read or written once) of one launch, from its recorded arguments."""
    name, _ = kernel_name(fn)
    nbytes = 0
    for i, m in enumerate(metas):
        if m is None or i in sizes or m.dtype.kind not in "fc":
            continue  # sizes, op codes, stride tables (int64) are not data
        nbytes += int(np.prod(m.shape)) * m.dtype.itemsize
    flops = 0.0
    if "matmul" in name or "gemm" in name:
        shape = _gemm_shape(metas)
        if shape is not None:
            batch, m, n, k = shape
            flops = 2.0 * batch * m * n * k
    elif name.startswith("conv2d"):
        geo = next((a for a in args if isinstance(a, tuple) and len(a) >= 6), None)
        outs = [m for m in metas if m is not None and m.dtype.kind == "f"]
        if geo is not None and outs:
            cin, kh, kw = geo[2], geo[4], geo[5]
            # conv2d: the output is the largest array; the filter gradient reads it (dy)
            out_elems = max(int(np.prod(m.shape)) for m in outs)
            flops = 2.0 * out_elems * kh * kw * cin
    return {"flops": flops, "bytes": nbytes}


# --- instrumentation ------------------------------------------------------------------------------
@dataclass
class Slot:
    """One instrumented program step: its part, name, shape and accumulated time."""

    part: str
    name: str
    detail: str
    flops: float = 0.0
    bytes: int = 0
    ns: int = 0
    calls: int = 0
    gemm: tuple | None = None  # (metas of a, b, out) for the numpy comparison


def _timed(fn: Callable[..., Any], slot: Slot) -> Callable[..., Any]:
    pc = time.perf_counter_ns

    def wrapper(*args: Any) -> Any:
        t0 = pc()
        r = fn(*args)
        slot.ns += pc() - t0
        slot.calls += 1
        return r

    return wrapper


class Instrumented:
    """Timing wrappers for programs' steps: one ``Slot`` per step, made once; ``install``
    puts the wrappers on the steps, ``remove`` puts the originals back."""

    def __init__(self, programs: Sequence[Any]):
        from backends.cpu.steps import program as P

        self.programs = list(programs)
        self.slots: list[Slot] = []
        self._sites: list[tuple[Any, str, Slot]] = []  # (step, attribute, slot)
        self._undo: list[Callable[[], None]] = []
        for prog in self.programs:
            for st in prog.steps:
                kind = type(st)
                if kind is P.LaunchStep:
                    la = st.launch
                    name, _ = kernel_name(la.kernel)
                    shapes = [tuple(m.shape) for m in st.metas if m is not None]
                    work = launch_work(la.kernel, la.args, st.metas, la.sizes)
                    part = classify(la.kernel)
                    slot = Slot(part, name, " ".join(f"{s}" for s in shapes[:3]), **work)
                    if part == "gemm" and "matmul" in name:
                        slot.gemm = tuple(m for m in st.metas if m is not None)[:3]
                    self._site(st, "entry", slot)
                elif kind is P.HostStep:
                    self._site(st, "run", Slot("host", "HostStep", "optimizer scalars"))
                elif kind is P.EffectStep:
                    label = getattr(st.fn, "__name__", "")
                    self._site(st, "fn", Slot("host", "EffectStep", label))
                elif kind is P.LiveStep:
                    self._site(st, "invoke", Slot("live", "LiveStep", repr(st.invoke)[:40]))

    def _site(self, st: Any, attr: str, slot: Slot) -> None:
        self._sites.append((st, attr, slot))
        self.slots.append(slot)

    def install(self) -> None:
        """Wrap every step (once; a second ``install`` before ``remove`` does nothing)."""
        if self._undo:
            return
        for st, attr, slot in self._sites:
            had = attr in vars(st)
            orig = getattr(st, attr)
            setattr(st, attr, _timed(orig, slot))
            self._undo.append(_restorer(st, attr, orig if had else None))

    def remove(self) -> None:
        """Put every step's original back (an instance attribute, or the class's method)."""
        while self._undo:
            self._undo.pop()()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """The wrappers installed inside the block."""
        self.install()
        try:
            yield
        finally:
            self.remove()


def _restorer(st: Any, attr: str, orig: Any) -> Callable[[], None]:
    """Undo one wrapper: the original instance attribute back, or (``orig`` None) the
    instance attribute deleted so the class's method shows again."""
    if orig is None:
        return lambda: delattr(st, attr)
    return lambda: setattr(st, attr, orig)


def wrapper_overhead_ns(n: int = 4000, rounds: int = 15) -> float:
    """What one timing wrapper adds to a call (ns), measured on a no-op function."""
    slot = Slot("host", "noop", "")

    def noop(*args: Any) -> None:
        return None

    wrapped = _timed(noop, slot)
    bare = timed = math.inf  # the best of each loop alone: a difference of noisy pairs can be < 0
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            noop(1, 2)
        t1 = time.perf_counter_ns()
        for _ in range(n):
            wrapped(1, 2)
        t2 = time.perf_counter_ns()
        bare, timed = min(bare, (t1 - t0) / n), min(timed, (t2 - t1) / n)
    best = timed - bare
    return max(0.0, best)


# --- the machine's floors -----------------------------------------------------------------------
def copy_gbps(nbytes: int = COPY_BYTES) -> float:
    """Memory-copy speed (GB/s, read + write) of a cache-resident ``nbytes`` buffer."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    best = math.inf
    for _ in range(30):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * nbytes / best / 1e9


def _like(meta: Any, rng: np.random.Generator) -> np.ndarray:
    """A fresh array with ``meta``'s shape, dtype and (C or transposed) layout."""
    a = rng.standard_normal(meta.shape).astype(meta.dtype)
    if not meta.c_contiguous and meta.ndim == 2:
        t = np.ascontiguousarray(a.T).T
        if t.strides == tuple(meta.strides):
            return t
    return a


def numpy_gemm_us(metas: tuple, reps: int = 200) -> float:
    """Best time (µs) of ``np.matmul`` on fresh operands laid out as ``metas`` (a, b, out),
    on one BLAS thread."""
    from backends.cpu.native.cblas import get_blas

    rng = np.random.default_rng(0)
    a, b = _like(metas[0], rng), _like(metas[1], rng)
    out = np.empty(metas[2].shape, metas[2].dtype)
    blas = get_blas()
    current = blas.get_threads() if blas.ctl is not None else 1
    if blas.ctl is not None:
        blas.set_threads(1)
    try:
        np.matmul(a, b, out=out)
        best = math.inf
        for _ in range(5):
            t0 = time.perf_counter_ns()
            for _ in range(reps // 5):
                np.matmul(a, b, out=out)
            best = min(best, (time.perf_counter_ns() - t0) / (reps // 5))
    finally:
        if blas.ctl is not None:
            blas.set_threads(current)
    return best / 1e3


# --- the run --------------------------------------------------------------------------------------
@dataclass
class Part:
    """One part of a step: µs per step, launches per step and the floor (µs per step)."""

    name: str
    label: str
    us: float
    launches: float
    floor_us: float | None
    flops: float = 0.0
    bytes: float = 0.0
    numpy_us: float | None = None  # GEMM: numpy's matmul on the matmuls' shapes, 1 BLAS thread
    matmul_us: float | None = None  # GEMM: the matmuls' own time (the rest is conv kernels)


@dataclass
class Profile:
    """What ``profile`` measured. Times are µs per step (a ``fit`` batch)."""

    model: str
    batch_size: int
    samples: int
    steps_per_epoch: int
    epochs: int
    parts: list[Part]
    total_us: float  # instrumented epochs, wrapper cost taken out
    plain_us: float  # plain epochs (no instrumentation), the same program path
    wrapper_us: float  # the wrappers' estimated cost per step (taken out of total_us)
    replay_us: float  # of the rest: the program's replay loop
    outside_us: float  # of the rest: fit outside the program
    chunk_us: float | None  # the compiled-chunk path's step (None: not measured)
    chunk_note: str | None
    peers: dict[str, float]  # µs per step of each peer's epoch
    ceilings: dict[str, float]
    load: dict[str, Any]
    launches: list[dict] = field(default_factory=list)

    @property
    def parts_sum_us(self) -> float:
        """The parts added up (the rest counted when positive)."""
        return sum(max(p.us, 0.0) if p.name == "python" else p.us for p in self.parts)


def _workload(model: str, batch: int, samples: int | None, data_dir: str | None) -> Any:
    if model == "mlp":
        from bench.train import TrainWorkload

        return TrainWorkload(batch, samples or MODELS["mlp"][0], data_dir)
    from bench.train_cnn import CnnTrainWorkload

    w = CnnTrainWorkload(False, data_dir, batch_size=batch)
    if samples:
        w.samples = samples
    return w


def _build(w: Any) -> Any:
    import engine as tw
    import layers

    model = layers.sequential(w.model_layers(layers))
    model.compile(optimizer="adam", loss="categoricalCrossentropy")
    model.set_weights([tw.tensor(a) for a in w.initial_weights()])
    return model


def _programs() -> dict[int, Any]:
    from backends.cpu.steps.program import Program

    return {id(o): o for o in gc.get_objects() if isinstance(o, Program)}


@contextlib.contextmanager
def _compile_after(value: int) -> Iterator[None]:
    from backends.cpu.steps import program

    old = program.COMPILE_AFTER
    env = os.environ.pop("TENSORWEAVE_COMPILE_AFTER", None)
    program.COMPILE_AFTER = value
    try:
        yield
    finally:
        program.COMPILE_AFTER = old
        if env is not None:
            os.environ["TENSORWEAVE_COMPILE_AFTER"] = env


def profile(
    model: str = "mlp",
    batch_size: int = 32,
    samples: int | None = None,
    epochs: int = 5,
    chunk: bool = True,
    peers: Sequence[str] = (),
    data_dir: str | None = None,
    say: Callable[[str], None] = lambda s: None,
    quick_ceilings: bool = False,
) -> Profile:
    """Profile one epoch's steps of ``model`` (``"mlp"`` or ``"cnn"``) on the ``cpu``
    backend at ``batch_size``: ``epochs`` plain and ``epochs`` instrumented epochs, alternated
    (after two warm-up epochs), then, with ``chunk``, the compiled-chunk path, and each peer
    in ``peers`` (``bench.peers`` names: ``jax-scan``, ``jax``, ``torch``) on the same data.
    ``samples`` defaults to 10,000 (mlp) or 8,192 (cnn); ``quick_ceilings`` measures the
    sgemm peak on smaller matrices (512² and 1024², as ``python -m bench --quick``)."""
    if model not in MODELS:
        raise ValueError(f"model {model!r}: expected one of {sorted(MODELS)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size {batch_size!r}: expected a positive integer")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs {epochs!r}: expected a positive integer")
    if samples is not None and (not isinstance(samples, int) or samples < 1):
        raise ValueError(f"samples {samples!r}: expected a positive integer or None")
    from bench import peers as peer_mod

    for name in peers:
        if name not in peer_mod.PEERS:
            raise ValueError(f"peer {name!r}: expected one of {list(peer_mod.PEERS)}")

    import engine as tw
    from bench import runner

    w = _workload(model, batch_size, samples, data_dir)
    x, y, _source = w.data()
    n = x.shape[0]
    steps = -(-n // batch_size)
    say("measuring this machine's ceilings (numpy sgemm, memory copy)")
    ceil = runner.measure_ceilings(quick=quick_ceilings)
    ceilings = {
        # the floor is the peak of the library the backend's GEMMs call (its private
        # OpenBLAS, or numpy's); numpy's own peak is kept beside it
        "sgemm_gflops": float(ceil.get("cpu_gemm_gflops") or ceil["blas_gflops"]),
        "numpy_sgemm_gflops": float(ceil["blas_gflops"]),
        "gemm_blas": str(ceil.get("cpu_gemm_blas", "")),
        "copy_gbps": copy_gbps(),
        "dram_copy_gbps": float(ceil["memcpy_gbps"]),
    }
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    cpu0 = _cpu_counters()

    def epoch(m: Any, xt: Any, yt: Any) -> float:
        t0 = time.perf_counter()
        m.fit(xt, yt, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - t0

    with tw.backend_scope("cpu"):
        xt, yt = tw.tensor(x), tw.tensor(y)
        with _compile_after(-1):
            say(f"program path: building, recording and warming up ({steps} steps/epoch)")
            m = _build(w)
            counts0 = {}
            for _ in range(2):
                counts0 = {k: p.steps_run for k, p in _programs().items()}
                epoch(m, xt, yt)
            progs = [p for k, p in _programs().items() if p.steps_run > counts0.get(k, 0)]
            if not progs:
                raise RuntimeError("no trace program ran: the cpu backend did not record one")
            inst = Instrumented(progs)
            over_ns = wrapper_overhead_ns()
            plain, timed, py_secs, snaps = [], [], [], []
            for i in range(epochs):
                say(f"program path: epoch pair {i + 1}/{epochs}")
                plain.append(epoch(m, xt, yt))
                py0 = sum(p.py_seconds for p in progs)
                for sl in inst.slots:
                    sl.ns = sl.calls = 0
                with inst.active():
                    timed.append(epoch(m, xt, yt))
                py_secs.append(sum(p.py_seconds for p in progs) - py0)
                snaps.append([(sl.ns, sl.calls) for sl in inst.slots])
            # the parts of the median instrumented epoch (a mean would let one disturbed
            # epoch push the parts past the median total)
            k = sorted(range(epochs), key=timed.__getitem__)[(epochs - 1) // 2]
            for sl, (ns, calls) in zip(inst.slots, snaps[k], strict=True):
                sl.ns, sl.calls = ns, calls
        chunk_us, chunk_note = None, None
        if chunk:
            say("compiled-chunk path: fresh model, COMPILE_AFTER=0 (compiles once, then cached)")
            try:
                with _compile_after(0):
                    mc = _build(w)
                    t_c = [epoch(mc, xt, yt) for _ in range(2)]  # record + compile/load
                    t_c = [epoch(mc, xt, yt) for _ in range(epochs)]
                chunk_us = statistics.median(t_c) / steps * 1e6
                chunk_note = f"median of {epochs} epochs"
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                chunk_note = f"{type(e).__name__}: {e}"
    peer_us: dict[str, float] = {}
    for name in peers:
        ok, detail = peer_mod.probe(name)
        if not ok:
            say(f"peer {name}: {detail}")
            continue
        say(f"peer {name}: {detail}")
        prep = getattr(peer_mod.module(name), w.peer_epoch)
        call, _weights = prep(w.initial_weights(), x, y, batch_size)
        call()
        call()
        t_p = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            call()
            t_p.append(time.perf_counter() - t0)
        peer_us[name] = statistics.median(t_p) / steps * 1e6

    load1 = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    cpu1 = _cpu_counters()
    per_step = 1.0 / steps  # the slots hold the median instrumented epoch
    calls = sum(s.calls for s in inst.slots)
    wrapper_us = calls * over_ns / 1e3 * per_step
    total_us = timed[k] / steps * 1e6 - wrapper_us
    plain_us = statistics.median(plain) / steps * 1e6
    gf = ceilings["sgemm_gflops"] * 1e9
    bw = ceilings["copy_gbps"] * 1e9
    parts: list[Part] = []
    numpy_cache: dict[tuple, float] = {}
    launches = []
    for s in inst.slots:
        if s.gemm is not None:
            key = tuple((m.shape, m.strides, str(m.dtype)) for m in s.gemm)
            if key not in numpy_cache:
                numpy_cache[key] = numpy_gemm_us(s.gemm)
        launches.append(
            {
                "part": s.part,
                "kernel": s.name,
                "shapes": s.detail,
                "us_per_call": s.ns / 1e3 / s.calls if s.calls else None,
                "calls_per_step": s.calls / steps,
                "flops": s.flops,
                "bytes": s.bytes,
                "numpy_us": None if s.gemm is None else numpy_cache[_gkey(s.gemm)],
            }
        )
    timed_sum = 0.0
    for name in PARTS[:-1]:
        mine = [s for s in inst.slots if s.part == name]
        us = sum(s.ns for s in mine) / 1e3 * per_step
        ncalls = sum(s.calls for s in mine) / steps
        flops = sum(s.flops * s.calls for s in mine) / steps
        nbytes = sum(s.bytes * s.calls for s in mine) / steps
        floor = None
        if name == "gemm":
            floor = flops / gf * 1e6
        elif name in ("elementwise", "reduction", "update", "gather"):
            floor = nbytes / bw * 1e6
        np_us = mm_us = None
        if name == "gemm":
            mm = [s for s in mine if s.gemm is not None]
            np_us = sum(numpy_cache[_gkey(s.gemm)] * s.calls * per_step for s in mm)
            mm_us = sum(s.ns for s in mm) / 1e3 * per_step
        parts.append(Part(name, LABELS[name], us, ncalls, floor, flops, nbytes, np_us, mm_us))
        timed_sum += us
    rest = total_us - timed_sum
    py_us = py_secs[k] / steps * 1e6 - wrapper_us
    replay = py_us - timed_sum
    outside = total_us - py_us
    parts.append(Part("python", LABELS["python"], rest, 0.0, None))
    load = {
        "loadavg_start": [round(v, 2) for v in load0],
        "loadavg_end": [round(v, 2) for v in load1],
        "other_cpus": _other_cpus(cpu0, cpu1),
    }
    return Profile(
        model=model,
        batch_size=batch_size,
        samples=n,
        steps_per_epoch=steps,
        epochs=epochs,
        parts=parts,
        total_us=total_us,
        plain_us=plain_us,
        wrapper_us=wrapper_us,
        replay_us=replay,
        outside_us=outside,
        chunk_us=chunk_us,
        chunk_note=chunk_note,
        peers=peer_us,
        ceilings=ceilings,
        load=load,
        launches=launches,
    )


def _gkey(metas: tuple) -> tuple:
    return tuple((m.shape, m.strides, str(m.dtype)) for m in metas)


def _cpu_counters() -> tuple[float, float, float] | None:
    """(wall s, machine busy s, own CPU s) now, or None without /proc."""
    try:
        with open("/proc/stat") as f:
            cpu = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    hz = float(os.sysconf("SC_CLK_TCK"))
    busy = (sum(cpu) - cpu[3] - cpu[4]) / hz
    t = os.times()
    return time.monotonic(), busy, t.user + t.system + t.children_user + t.children_system


def _other_cpus(a: Any, b: Any) -> float | None:
    """CPUs other processes kept busy on average between two ``_cpu_counters`` readings."""
    if a is None or b is None or b[0] <= a[0]:
        return None
    return round(max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / (b[0] - a[0])), 2)


# --- the report -----------------------------------------------------------------------------------
def _fmt(v: float | None, nd: int = 1) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def format_profile(p: Profile, launches: bool = False) -> str:
    """The profile as a text table (and, with ``launches``, one row per program launch)."""
    c = p.ceilings
    lines = [
        f"bench.profile: {p.model} ({MODELS[p.model][1]}), batch {p.batch_size}, "
        f"{p.samples:,} samples = {p.steps_per_epoch} steps/epoch, cpu backend, "
        f"{p.epochs} plain + {p.epochs} instrumented epochs (medians)",
        f"floors: the backend's sgemm peak {c['sgemm_gflops']:.0f} GFLOP/s (numpy's "
        f"{c.get('numpy_sgemm_gflops', c['sgemm_gflops']):.0f}); memory copy "
        f"{c['copy_gbps']:.0f} GB/s ({COPY_BYTES >> 20} MiB, cache-resident; DRAM "
        f"{c['dram_copy_gbps']:.0f} GB/s)",
        f"GEMMs: {c.get('gemm_blas') or 'unknown'}",
        f"load average {p.load['loadavg_start']} -> {p.load['loadavg_end']}; other processes "
        f"kept {_fmt(p.load['other_cpus'], 2)} CPUs busy during the run",
        "",
        f"{'part':<28}{'launches':>9}{'us/step':>10}{'share':>8}{'floor us':>10}"
        f"{'x floor':>9}  note",
    ]
    total = p.total_us
    for part in p.parts:
        if part.name in ("gather", "live") and part.us == 0 and part.launches == 0:
            continue
        share = f"{100 * part.us / total:.0f}%" if total > 0 else "-"
        ratio = f"{part.us / part.floor_us:.1f}x" if part.floor_us and part.floor_us > 0 else "-"
        note = ""
        if part.name == "gemm":
            note = (
                f"{part.flops / 1e6:.1f} MFLOP; matmuls {_fmt(part.matmul_us)} us, numpy "
                f"1 thr same shapes {_fmt(part.numpy_us)} us"
            )
        elif part.floor_us is not None:
            note = f"{part.bytes / 1e3:.0f} kB moved"
        elif part.name == "python":
            note = (
                f"program replay loop {p.replay_us:.1f} us, fit outside the program "
                f"{p.outside_us:.1f} us"
            )
        lines.append(
            f"{part.label:<28}{_fmt(part.launches, 1) if part.launches else '':>9}"
            f"{part.us:>10.1f}{share:>8}{_fmt(part.floor_us):>10}{ratio:>9}  {note}"
        )
    floor = sum(q.floor_us or 0.0 for q in p.parts)
    lines += [
        f"{'total (instrumented)':<28}{'':>9}{total:>10.1f}{'100%':>8}{floor:>10.1f}"
        f"{(total / floor if floor else math.nan):>8.1f}x  wrappers' cost "
        f"{p.wrapper_us:.1f} us/step taken out",
        f"{'total (plain program)':<28}{'':>9}{p.plain_us:>10.1f}",
    ]
    if p.chunk_us is not None:
        lines.append(
            f"{'compiled chunk (all merged)':<28}{'':>9}{p.chunk_us:>10.1f}"
            f"{'':>8}{floor:>10.1f}{p.chunk_us / floor if floor else math.nan:>8.1f}x"
        )
    elif p.chunk_note:
        lines.append(f"compiled chunk: not measured ({p.chunk_note})")
    for name, us in p.peers.items():
        lines.append(
            f"{'peer ' + name:<28}{'':>9}{us:>10.1f}"
            f"{'':>8}{floor:>10.1f}{us / floor if floor else math.nan:>8.1f}x"
        )
    if launches:
        lines += ["", f"{'part':<12}{'kernel':<24}{'calls':>6}{'us/call':>9}{'floor':>8}  shapes"]
        bw = c["copy_gbps"] * 1e3  # bytes per µs
        gf = c["sgemm_gflops"] * 1e3  # flops per µs
        for la in p.launches:
            fl = la["flops"] / gf if la["flops"] else la["bytes"] / bw if la["bytes"] else None
            extra = "" if la["numpy_us"] is None else f"  (numpy 1 thr {la['numpy_us']:.1f} us)"
            lines.append(
                f"{la['part']:<12}{la['kernel'][:23]:<24}{la['calls_per_step']:>6.2f}"
                f"{_fmt(la['us_per_call']):>9}{_fmt(fl, 2):>8}  {la['shapes']}{extra}"
            )
    return "\n".join(lines)


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer")
    return v


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module docstring); returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("batch", type=_positive, nargs="?", default=32, help="batch size (32)")
    ap.add_argument("--model", choices=sorted(MODELS), default="mlp")
    ap.add_argument("--samples", type=_positive, default=None, help="MNIST samples")
    ap.add_argument("--epochs", type=_positive, default=5, help="epochs per measurement (5)")
    ap.add_argument("--no-chunk", action="store_true", help="skip the compiled-chunk path")
    ap.add_argument("--peers", default="", help="comma-separated: jax-scan, jax, torch")
    ap.add_argument("--launches", action="store_true", help="one row per program launch too")
    ap.add_argument("--data", default=None, help="MNIST folder (bench.data's default)")
    ap.add_argument("--json", default=None, help="write the profile as JSON to this file")
    ap.add_argument("-q", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    from bench import peers as peer_mod

    names = [s.strip() for s in args.peers.split(",") if s.strip()]
    for name in names:
        if name not in peer_mod.PEERS:
            ap.error(f"--peers: unknown peer {name!r} (expected some of {list(peer_mod.PEERS)})")

    def say(s: str) -> None:
        if not args.q:
            print(f"[profile] {s}", file=sys.stderr, flush=True)

    p = profile(
        args.model,
        args.batch,
        args.samples,
        args.epochs,
        chunk=not args.no_chunk,
        peers=names,
        data_dir=args.data,
        say=say,
    )
    print(format_profile(p, launches=args.launches))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(asdict(p), f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
