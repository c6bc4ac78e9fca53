"""Trace programs for the ``cpu`` backend: a replay as a flat list of launch records.

``engine.trace`` replays a captured step by calling each op's ``invoke`` (a backend method:
argument checks, strides, a serial/parallel choice, allocations, then one or a few numba or
BLAS launches). For a small model that Python work is most of a step. A *program* is built from
one replay whose ops ran under the scheduler's collection (``backends.cpu.schedule``): each op's
launch records (``backends.cpu.launch.Launch``) and the buffers it allocated. Later runs replay
only the launches, as typed steps (``LaunchStep``, ``LiveStep``, ``HostStep``, ``AssignStep``,
``EffectStep``):

- **Baked buffers.** Every buffer allocated during recording and not seen outside the step is
  kept by the program and reused every run (the trace's intermediates and gradients are planned
  once). Launch arguments that are such buffers, or views of them, are stored as they are.
- **Dynamic buffers.** The step's arguments (the batch), the variables' buffers at the start of
  the step and the results of *live* steps change every run. Arguments that lie in their memory
  are rebuilt per run as the same view (offset, shape, strides) of the new buffer (``Dyn``).
- **Escaping buffers.** Values the step returns or assigns to variables leave the program. Each
  is drawn per run from a small pool and only reused once nothing outside holds it
  (``sys.getrefcount``), so a tensor a caller kept never changes under it.
- **Live steps.** An op that moved data between host and backend (``from_numpy``: random
  draws), or whose results are neither buffers it allocated nor views of its inputs, runs
  through its ``invoke`` every time, exactly as in a normal replay.
- **Host scalars.** A launch whose record carries ``HostScalars`` (an optimizer's learning rate
  and bias corrections) gets a ``HostStep`` before it: each run asks the op's ``invoke.hyper()``
  (the optimizer's hyperparameters of the step) and rewrites the scalars in place with the
  record's packer. An op with host scalars but no ``hyper`` runs live.

Recording gives up (the trace keeps its normal replay, the reason logged) when a buffer the step
depends on is not C-contiguous or two of them overlap.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from sys import getrefcount
from time import perf_counter
from typing import Any, NamedTuple

import numpy as np

from backends.cpu import tiers
from backends.cpu.launch import HostScalars, Launch

_log = logging.getLogger("tensorweave.trace")

#: Steps a program runs in Python (and is timed) before ``backends.cpu.steps.chunk``'s cost model
#: decides whether compiling it into one numba loop pays off; -1 never compiles, 0 compiles at
#: once without asking the cost model. ``TENSORWEAVE_COMPILE_AFTER`` sets it (and, when set,
#: compiles after that many steps without asking the cost model).
COMPILE_AFTER = int(os.environ.get("TENSORWEAVE_COMPILE_AFTER", "128"))

#: How many buffers one escaping value may cycle through before the program stops tracking the
#: ones still held outside (they then belong to their holders).
POOL_LIMIT = 4


class GiveUp(Exception):
    """Recording cannot produce a correct program; the reason is the message."""


def root_of(a: np.ndarray) -> np.ndarray:
    """The array owning ``a``'s memory (``a`` itself when it owns it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _extent(a: np.ndarray) -> tuple[int, int]:
    """First and one-past-last byte address the array can touch."""
    lo = hi = a.__array_interface__["data"][0]
    for n, s in zip(a.shape, a.strides, strict=True):
        if n == 0:
            return lo, lo
        if s < 0:
            lo += s * (n - 1)
        else:
            hi += s * (n - 1)
    return lo, hi + a.itemsize


# --- where a launch argument comes from in a run ------------------------------------------------
class Baked(NamedTuple):
    """The value recorded, used as is every run (a planned buffer, a constant, a size)."""

    value: Any


class View(NamedTuple):
    """A strided or reinterpreting view of a per-run buffer."""

    shape: tuple
    dtype: np.dtype
    offset: int  # bytes from the buffer's start
    strides: tuple


class Dyn(NamedTuple):
    """A per-run buffer ``base`` (an index into the run's buffers: the arguments, then the
    variables, then pools and live results), whole (``view`` None), reshaped (``view`` a
    shape) or as a ``View``."""

    base: int
    view: tuple | View | None = None


Spec = Baked | Dyn


def resolve(dyn: list, s: Spec) -> Any:
    """The value of ``s`` in a run whose per-run buffers are ``dyn``."""
    if type(s) is Baked:
        return s.value
    base = dyn[s.base]
    view = s.view
    if view is None:
        return base
    if type(view) is View:
        return np.ndarray(
            view.shape, view.dtype, buffer=base, offset=view.offset, strides=view.strides
        )
    return base.reshape(view)


def is_whole(s: Spec) -> bool:
    """True when ``s`` is a whole per-run buffer (possibly reshaped)."""
    return type(s) is Dyn and type(s.view) is not View


class Pool(NamedTuple):
    """The buffers one escaping value cycles through; ``base`` is its per-run buffer index."""

    base: int
    buffers: list[np.ndarray]


class ArgMeta(NamedTuple):
    """Shape, strides and dtype of a recorded launch argument (not the array: holding a pooled
    buffer would keep the pool from reusing it)."""

    shape: tuple
    strides: tuple
    dtype: np.dtype
    ndim: int
    c_contiguous: bool

    @staticmethod
    def of(a: Any) -> ArgMeta | None:
        if not isinstance(a, np.ndarray):
            return None
        return ArgMeta(a.shape, a.strides, a.dtype, a.ndim, a.flags.c_contiguous)


# --- program steps ------------------------------------------------------------------------------
@dataclass(eq=False)
class LaunchStep:
    """A recorded launch, replayed with the per-run buffers patched in."""

    launch: Launch  # as recorded (its args are the recording run's buffers)
    specs: tuple[Spec, ...]  # where each argument comes from in a run
    metas: tuple[ArgMeta | None, ...]  # each argument's layout as recorded
    entry: Callable[..., Any]  # the kernel's compiled entry point for these argument types
    template: list  # the arguments, per-run ones as None (filled in for the call)
    patches: tuple[tuple[int, Dyn], ...]  # (argument position, spec) of the per-run ones
    #: ``entry`` is the kernel's numpy twin while tiers' worker compiles it (``tiers.py``)
    twin: bool = False

    @property
    def kernel(self) -> Callable[..., Any]:
        return self.launch.kernel


@dataclass(eq=False)
class HostStep:
    """Recompute host scalars for the next launches: ``scalars[i].refresh(hyper())``."""

    hyper: Callable[[], dict[str, Any]]
    scalars: tuple[HostScalars, ...]
    key: Any  # launches of one key get the same scalars within a step (``invoke.host_key``)

    def packed(self) -> list:
        """This step's values for each of ``scalars``, in order: packed once per update kernel
        (the launches of one kernel in a step share them)."""
        hyper = self.hyper()
        out, kernel, values = [], None, None
        for s in self.scalars:
            if s.kernel != kernel:
                kernel, values = s.kernel, s.pack(hyper)
            out.append(values)
        return out

    def run(self) -> None:
        for s, values in zip(self.scalars, self.packed(), strict=True):
            np.copyto(s.values, values)


@dataclass(eq=False)
class LiveStep:
    """An op run through its ``invoke`` every run; its results become per-run buffers
    ``first .. first + count - 1``."""

    invoke: Callable[..., Any]
    specs: tuple[Spec, ...]
    first: int
    count: int


@dataclass(eq=False)
class AssignStep:
    """Variable ``var`` takes the value ``spec``."""

    var: int
    spec: Spec


@dataclass(eq=False)
class EffectStep:
    """A host-side effect of the step (an optimizer's step count)."""

    fn: Callable[[], None]


Step = LaunchStep | HostStep | LiveStep | AssignStep | EffectStep


# --- recording ----------------------------------------------------------------------------------
@dataclass(eq=False)
class _OpRecord:
    invoke: Callable[..., Any]
    in_bufs: list
    results: list
    launches: list[Launch]
    allocs: list[np.ndarray]
    host_transfer: bool


@dataclass(eq=False)
class _AssignRecord:
    var: int
    buf: Any


class Recorder:
    """Collects one replay's launches; ``finish`` turns them into a ``Program``.

    The engine calls ``begin()`` / ``end(invoke, in_bufs, results)`` around each op,
    ``assign(var_index, buf)`` and ``host(fn)`` for the other steps, then
    ``finish(out_bufs)`` (a buffer or None per trace output), and ``close()`` in any case.
    Between ``begin`` and ``end`` the backend's scheduler collects the launches this thread
    runs (``Scheduler.collect``); nothing of the backend is replaced."""

    def __init__(
        self,
        backend: Any,
        arg_bufs: Sequence[Any],
        var_bufs: Sequence[Any],
        chunker: Callable[[Program, dict[int, int]], Any] | None = None,
    ):
        self.backend = backend
        self.chunker = chunker  # given to the program (``Program.chunker``)
        self.items: list[_OpRecord | _AssignRecord | EffectStep] = []
        self.arg_bufs = list(arg_bufs)
        self.var_bufs = list(var_bufs)
        self._open: Any = None  # the scheduler's collection context of the current op

    def begin(self) -> None:
        self._open = self.backend.scheduler.collect()
        self._collection = self._open.__enter__()

    def end(self, invoke: Callable, in_bufs: Sequence[Any], results: Sequence[Any]) -> None:
        c = self._collection
        self._leave()
        self.items.append(
            _OpRecord(invoke, list(in_bufs), list(results), c.launches, c.allocs, c.host_transfer)
        )

    def _leave(self) -> None:
        if self._open is not None:
            ctx, self._open = self._open, None
            ctx.__exit__(None, None, None)

    def assign(self, var_index: int, buf: Any) -> None:
        self.items.append(_AssignRecord(var_index, buf))

    def host(self, fn: Callable[[], None]) -> None:
        self.items.append(EffectStep(fn))

    def close(self) -> None:
        """Stop collecting (after ``finish``, or when the replay failed)."""
        self._leave()

    def finish(self, out_bufs: Sequence[Any]) -> Program:
        """The program of the recorded replay; raises ``GiveUp`` with a reason."""
        self.close()
        prog = _Builder(self, out_bufs).build()
        prog.backend = self.backend
        prog.chunker = self.chunker
        self.items.clear()
        return prog


class _Base:
    """A buffer that changes every run, seen during recording as ``array``."""

    __slots__ = ("array", "lo", "hi", "index")

    def __init__(self, array: np.ndarray, index: int):
        self.array = array
        self.index = index
        self.lo, self.hi = _extent(array)


def _baked_op(op: _OpRecord) -> bool:
    """True when ``op`` can be replayed from its launches: no host transfer, and each result is
    a buffer it allocated or a view of one of its inputs."""
    if op.host_transfer:
        return False
    if any(la.host is not None for la in op.launches) and getattr(op.invoke, "hyper", None) is None:
        return False  # host scalars nobody can recompute
    own = {id(root_of(a)) for a in op.allocs}
    own.update(id(root_of(b)) for b in op.in_bufs if isinstance(b, np.ndarray))
    return all(not isinstance(r, np.ndarray) or id(root_of(r)) in own for r in op.results)


class _Builder:
    def __init__(self, rec: Recorder, out_bufs: Sequence[Any]):
        self.rec = rec
        self.out_bufs = list(out_bufs)
        self.bases: list[_Base | None] = []
        self.internal: dict[int, np.ndarray] = {}  # id(root) -> root, allocated by baked ops
        self.pooled: dict[int, int] = {}  # id(root) -> base index of its pool
        self.pool_roots: list[np.ndarray] = []

    def build(self) -> Program:
        rec = self.rec
        nargs = len(rec.arg_bufs)
        for i, a in enumerate(rec.arg_bufs + rec.var_bufs):
            if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
                what = f"argument {i}" if i < nargs else f"variable {i - nargs}"
                raise GiveUp(f"{what} is not a C-contiguous numpy buffer")
            self._add_base(a)
        spans = sorted((b.lo, b.hi) for b in self.bases if b is not None and b.hi > b.lo)
        for (_, h0), (l1, _) in zip(spans, spans[1:], strict=False):
            if l1 < h0:
                raise GiveUp("two of the step's argument or variable buffers overlap")
        baked = {id(it) for it in rec.items if type(it) is _OpRecord and _baked_op(it)}
        for it in rec.items:
            if id(it) in baked:
                for a in it.allocs:
                    self.internal[id(root_of(a))] = root_of(a)
        # values leaving the program: pooled when they live in memory a baked op allocated
        escaping = [b for b in self.out_bufs if b is not None]
        escaping += [it.buf for it in rec.items if type(it) is _AssignRecord]
        for b in escaping:
            if isinstance(b, np.ndarray):
                r = root_of(b)
                if id(r) in self.internal and id(r) not in self.pooled:
                    self.pooled[id(r)] = len(self.bases)
                    self.pool_roots.append(r)
                    self._add_base(r)
        steps: list[Step] = []
        for it in rec.items:
            if type(it) is _AssignRecord:
                steps.append(AssignStep(it.var, self._spec(it.buf)))
            elif type(it) is EffectStep:
                steps.append(it)
            elif id(it) in baked:
                host = tuple(la.host for la in it.launches if la.host is not None)
                if host:
                    key = getattr(it.invoke, "host_key", None)
                    steps.append(HostStep(it.invoke.hyper, host, key))
                steps += [self._launch_step(la) for la in it.launches]
            else:
                specs = tuple(self._spec(b) for b in it.in_bufs)
                first = len(self.bases)
                for r in it.results:
                    if isinstance(r, np.ndarray):
                        self._add_base(r)
                    else:
                        self.bases.append(None)
                steps.append(LiveStep(it.invoke, specs, first, len(it.results)))
        outs = [None if b is None else self._spec(b) for b in self.out_bufs]
        return Program(
            steps,
            outs,
            [(a.shape, a.dtype) for a in rec.arg_bufs],
            [(a.shape, a.dtype) for a in rec.var_bufs],
            self.pool_roots,
            len(self.bases),
        )

    def _add_base(self, a: np.ndarray) -> None:
        self.bases.append(_Base(a, len(self.bases)))

    def _spec(self, a: Any) -> Spec:
        """How to find ``a`` in a run: baked as is, or a view of a per-run buffer."""
        if not isinstance(a, np.ndarray):
            return Baked(a)
        for b in self.bases:
            if b is None:
                continue
            if a is b.array:
                return Dyn(b.index)
            if a.size == 0:
                continue
            lo, hi = _extent(a)
            if b.lo <= lo and hi <= b.hi:
                if not b.array.flags.c_contiguous:
                    raise GiveUp("a kernel argument is a view of a non-contiguous live result")
                off = a.__array_interface__["data"][0] - b.lo
                if (
                    off == 0
                    and a.flags.c_contiguous
                    and a.nbytes == b.array.nbytes
                    and a.dtype == b.array.dtype
                ):
                    return Dyn(b.index, a.shape)  # a reshape of the whole buffer
                return Dyn(b.index, View(a.shape, a.dtype, off, a.strides))
        if a.size and id(root_of(a)) in self.pooled:  # pragma: no cover - bases cover pools
            raise GiveUp("internal error: a pooled buffer outside its base")
        return Baked(a)

    def _launch_step(self, launch: Launch) -> LaunchStep:
        args = launch.args
        specs = tuple(self._spec(a) for a in args)
        patches = tuple((i, s) for i, s in enumerate(specs) if type(s) is Dyn)
        template = [s.value if type(s) is Baked else None for s in specs]
        metas = tuple(ArgMeta.of(a) for a in args)
        entry, twin = _entry_point(launch)
        return LaunchStep(launch, specs, metas, entry, template, patches, twin)


def _entry_point(launch: Launch) -> tuple[Callable, bool]:
    """The compiled overload a numba dispatcher picked for these arguments, called directly:
    a run passes arguments of the same types every time (same dtypes, shapes and layouts),
    so the dispatcher's per-call type matching is skipped. While tiers' worker compiles it,
    the kernel's numpy twin, called directly too (then True)."""
    fn = launch.kernel
    overloads = getattr(fn, "overloads", None)
    if overloads is None:
        return fn, False
    try:
        cres = overloads.get(tuple(fn.typeof_pyval(a) for a in launch.args))
    except Exception:  # an argument numba cannot type here: keep the dispatcher
        return fn, False
    if cres is not None:
        return cres.entry_point, False
    return tiers.entry_for(fn, launch.args)


class Program:
    """A compiled replay: ``run(arg_bufs, var_bufs) -> (out_bufs, [(var_index, buf), ...])``."""

    def __init__(
        self,
        steps: list[Step],
        outs: list[Spec | None],
        arg_meta: list,
        var_meta: list,
        pool_roots: list[np.ndarray],
        nbases: int,
    ):
        self.steps = steps
        self.outs = outs
        self.arg_meta = arg_meta
        self.var_meta = var_meta
        self.nbases = nbases
        first_pool = len(arg_meta) + len(var_meta)
        #: each escaping value's pool of buffers
        self.pools = [Pool(first_pool + i, [r]) for i, r in enumerate(pool_roots)]
        self.backend: Any = None
        #: ``chunker(program, carry)``: the compiled chunk to run now, or None (the Python
        #: program runs); ``backends.cpu.steps.chunk.chunk_for`` when built by ``steps.record``
        self.chunker: Callable[[Program, dict[int, int]], Any] | None = None
        self._lock = threading.Lock()  # one run at a time: the planned buffers are shared
        self.steps_run = 0
        #: carry pattern -> compiled chunk, or why there is none (``backends.cpu.steps.chunk``)
        self.chunks: dict[tuple, Any] = {}
        self.py_seconds = 0.0  # time spent in the Python program (for the cost model) ...
        self.py_steps = 0  # ... over this many steps
        self.steps_left: int | None = None  # told by the caller (fit): steps still to run
        #: launches running a numpy twin, and tiers' generation they were resolved at: once
        #: the worker reports, they are resolved again between two steps (``_retier``)
        self._twins = [s for s in steps if type(s) is LaunchStep and s.twin]
        self._tier_gen = tiers.generation

    def assign_specs(self) -> list[tuple[int, Spec]]:
        """``(variable index, spec)`` of the step's assignments, in order."""
        return [(s.var, s.spec) for s in self.steps if type(s) is AssignStep]

    def _chunk(self, carry: dict[int, int]) -> Any:
        """The compiled chunk for ``carry`` once the program is hot and it is ready, else None
        (the ``chunker`` decides, compiles or loads it, and keeps it in ``chunks``)."""
        if self.chunker is None or COMPILE_AFTER < 0 or self.steps_run < COMPILE_AFTER:
            return None
        return self.chunker(self, carry)

    @property
    def num_launches(self) -> int:
        """Kernel launches (and live ops) per run."""
        return sum(1 for s in self.steps if type(s) in (LaunchStep, LiveStep))

    @property
    def num_live(self) -> int:
        """Ops that run through their full backend method every run."""
        return sum(1 for s in self.steps if type(s) is LiveStep)

    def run(self, arg_bufs: Sequence[Any], var_bufs: Sequence[Any]) -> tuple[list, list]:
        """One step: the outputs and the ``(variable index, buffer)`` assignments in order."""
        return self.run_many([arg_bufs], var_bufs, {})

    def run_many(
        self, steps: Sequence[Sequence[Any]], var_bufs: Sequence[Any], carry: dict[int, int]
    ) -> tuple[list, list]:
        """Consecutive steps: ``steps[k]`` are step k's argument buffers, except the arguments
        ``carry`` maps from an output index of step k - 1 (``{out: arg}``); each step sees the
        variable values the previous one assigned. Returns the last step's outputs and each
        assigned variable's final buffer (in the order of first assignment). Only the current
        buffers are held between steps, so the pools keep cycling through two buffers."""
        return self._run(
            lambda chunk: chunk.run(steps, var_bufs), lambda: steps, len(steps), var_bufs, carry
        )

    def run_rows(
        self,
        fixed: Sequence[Any],
        batched: Sequence[int],
        ranges: Sequence[tuple[int, int]],
        var_bufs: Sequence[Any],
        carry: dict[int, int],
    ) -> tuple[list, list]:
        """``run_many`` where step k takes rows ``ranges[k]`` of ``fixed[i]`` for ``i`` in
        ``batched`` and ``fixed[i]`` itself otherwise. A compiled chunk finds the rows by
        offset, with no view per step."""

        def steps() -> list[list[Any]]:
            out = []
            for start, stop in ranges:
                bufs = list(fixed)
                for i in batched:
                    bufs[i] = fixed[i][start:stop]
                out.append(bufs)
            return out

        return self._run(
            lambda chunk: chunk.run_rows(fixed, batched, ranges, var_bufs),
            steps,
            len(ranges),
            var_bufs,
            carry,
        )

    def _run(
        self,
        compiled: Callable[[Any], Any],
        steps: Callable[[], Sequence[Sequence[Any]]],
        n: int,
        var_bufs: Sequence[Any],
        carry: dict[int, int],
    ) -> tuple[list, list]:
        with self._lock:
            chunk = self._chunk(carry)
            res = compiled(chunk) if chunk is not None else None
            if res is None:
                t0 = perf_counter()
                res = self._run_many(steps(), var_bufs, carry)
                self.py_seconds += perf_counter() - t0
                self.py_steps += n
            self.steps_run += n
            return res

    def _run_many(
        self, steps: Sequence[Sequence[Any]], var_bufs: Sequence[Any], carry: dict[int, int]
    ) -> tuple[list, list]:
        var_cur = list(var_bufs)
        final: dict[int, Any] = {}
        outs: list = []
        try:
            for k, arg_bufs in enumerate(steps):
                if self._twins and tiers.generation != self._tier_gen:
                    self._retier()
                if k and carry:
                    arg_bufs = list(arg_bufs)
                    for o, a in carry.items():
                        arg_bufs[a] = outs[o]
                outs, step_assigns = self._step(arg_bufs, var_cur)
                for vi, b in step_assigns:
                    var_cur[vi] = final[vi] = b
                step_assigns = None
        except Exception as e:  # the steps before the failing one stand, as in a loop
            e.completed_assigns = list(final.items())  # type: ignore[attr-defined]
            raise
        return outs, list(final.items())

    def _retier(self) -> None:
        """Between two steps: launches that ran numpy twins call the compiled kernels the
        worker finished (loaded from numba's disk cache), the others keep their twins."""
        self._tier_gen = tiers.generation
        left = []
        for st in self._twins:
            entry, twin = tiers.entry_for(st.kernel, st.launch.args)
            st.entry, st.twin = entry, twin
            if twin:
                left.append(st)
        self._twins = left

    def _step(self, arg_bufs: Sequence[Any], var_bufs: Sequence[Any]) -> tuple[list, list]:
        dyn: list[Any] = [None] * self.nbases
        i = 0
        for metas, bufs in ((self.arg_meta, arg_bufs), (self.var_meta, var_bufs)):
            for (shape, dtype), b in zip(metas, bufs, strict=True):
                if b.shape != shape or not b.flags.c_contiguous or b.dtype != dtype:
                    b = np.ascontiguousarray(b, dtype=dtype).reshape(shape)
                dyn[i] = b
                i += 1
        for pool in self.pools:
            dyn[pool.base] = free_buffer(pool.buffers)
        be = self.backend
        assigns = []
        for st in self.steps:
            kind = type(st)
            if kind is LaunchStep:
                patches = st.patches
                if not patches:
                    st.entry(*st.template)
                    continue
                args = st.template
                for pos, s in patches:
                    base = dyn[s.base]
                    view = s.view
                    if view is None:
                        args[pos] = base
                    elif type(view) is View:
                        args[pos] = resolve(dyn, s)
                    else:
                        args[pos] = base.reshape(view)
                try:
                    st.entry(*args)
                finally:
                    for pos, _ in patches:
                        args[pos] = None
            elif kind is HostStep:
                st.run()
            elif kind is LiveStep:
                res = st.invoke(be, *[resolve(dyn, s) for s in st.specs])
                if st.count == 1 and not isinstance(res, (list, tuple)):
                    dyn[st.first] = res
                else:
                    for j, r in enumerate(res):
                        dyn[st.first + j] = r
            elif kind is AssignStep:
                assigns.append((st.var, resolve(dyn, st.spec)))
            else:
                st.fn()
        outs = [None if s is None else resolve(dyn, s) for s in self.outs]
        return outs, assigns


def free_buffer(pool: list[np.ndarray]) -> np.ndarray:
    """A buffer of the pool nothing outside the program holds (a new one if all are held):
    only the pool's list, the loop variable and getrefcount's argument refer to it."""
    for b in pool:
        if getrefcount(b) <= _BASELINE:
            return b
    fresh = np.empty_like(pool[0])
    if len(pool) >= POOL_LIMIT:
        del pool[0]  # held outside for a while: it is its holders' now
    pool.append(fresh)
    return fresh


def _baseline() -> int:
    """getrefcount of a pooled buffer nobody else holds, measured as ``free_buffer`` sees it."""
    for b in [np.empty(1)]:
        return getrefcount(b)
    raise AssertionError("unreachable")


_BASELINE = _baseline()
