"""Trace programs for the ``cpu`` backend: a replay as a flat list of kernel launches.

``engine.trace`` replays a captured step by calling each op's ``invoke`` (a backend method:
argument checks, strides, a serial/parallel choice, allocations, then one or a few numba or
BLAS calls). For a small model that Python work is most of a step. A *program* records, during
one replay, the launches those methods make (``CpuBackend._launch`` and every ``K.<kernel>``
call) and the buffers they allocate (``CpuBackend._empty``), then replays only the launches:

- **Baked buffers.** Every buffer allocated during recording and not seen outside the step is
  kept by the program and reused every run (the trace's intermediates and gradients are planned
  once). Launch arguments that are such buffers, or views of them, are stored as they are.
- **Dynamic buffers.** The step's arguments (the batch), the variables' buffers at the start of
  the step and the results of *live* steps change every run. Arguments that lie in their memory
  are rebuilt per run as the same view (offset, shape, strides) of the new buffer.
- **Escaping buffers.** Values the step returns or assigns to variables leave the program. Each
  is drawn per run from a small pool and only reused once nothing outside holds it
  (``sys.getrefcount``), so a tensor a caller kept never changes under it.
- **Live steps.** An op whose method is not in the backend's ``recordable`` set (host uploads,
  hence random draws) runs through its ``invoke`` every time, exactly as in a normal replay.
- **Host arguments.** A recordable method whose launch takes scalars computed on the host per
  call (an optimizer's learning rate and bias corrections) registers them with
  ``CpuBackend._host_args``; the program re-runs that op's ``invoke`` in refresh mode, which
  only rewrites those scalars in place before the launch.

Recording gives up (the trace keeps its normal replay, the reason logged) when a buffer the step
depends on is not C-contiguous or two of them overlap.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from sys import getrefcount
from threading import get_ident
from time import perf_counter
from typing import Any

import numpy as np

from backends.base import PRIMITIVES

_log = logging.getLogger("tensorweave.trace")

#: Steps a program runs in Python (and is timed) before ``backends.cpu.compiled``'s cost model
#: decides whether compiling it into one numba loop pays off; -1 never compiles, 0 compiles at
#: once without asking the cost model. ``TENSORWEAVE_COMPILE_AFTER`` sets it (and, when set,
#: compiles after that many steps without asking the cost model).
COMPILE_AFTER = int(os.environ.get("TENSORWEAVE_COMPILE_AFTER", "128"))

#: How many buffers one escaping value may cycle through before the program stops tracking the
#: ones still held outside (they then belong to their holders).
POOL_LIMIT = 4


class GiveUp(Exception):
    """Recording cannot produce a correct program; the reason is the message."""


def _root(a: np.ndarray) -> np.ndarray:
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


class _Base:
    """A buffer that changes every run, seen during recording as ``array``."""

    __slots__ = ("array", "lo", "hi", "index")

    def __init__(self, array: np.ndarray, index: int):
        self.array = array
        self.index = index
        self.lo, self.hi = _extent(array)


class ArgMeta:
    """Shape, strides and dtype of a recorded launch argument (not the array: holding a pooled
    buffer would keep the pool from reusing it)."""

    __slots__ = ("shape", "strides", "dtype", "ndim", "c_contiguous")

    @staticmethod
    def of(a: Any) -> Any:
        if not isinstance(a, np.ndarray):
            return None
        m = ArgMeta()
        m.shape, m.strides, m.dtype, m.ndim = a.shape, a.strides, a.dtype, a.ndim
        m.c_contiguous = a.flags.c_contiguous
        return m


class _StepRec:
    """What one op did while recorded."""

    __slots__ = ("entered", "launches", "allocs", "host")

    def __init__(self) -> None:
        self.entered: set[str] = set()
        self.launches: list[tuple] = []
        self.allocs: list[np.ndarray] = []
        self.host: list[np.ndarray] = []


class _KernelProxy:
    """Stands in for ``backends.cpu.kernels`` while recording: kernel calls become launches."""

    def __init__(self, module: Any, rec: Recorder):
        self._module = module
        self._rec = rec

    def __getattr__(self, name: str) -> Any:
        obj = getattr(self._module, name)
        if hasattr(obj, "py_func"):  # a numba dispatcher
            rec = self._rec

            def launch(*args: Any) -> None:
                rec.launch(obj, args, {})

            return launch
        return obj


class Recorder:
    """Collects one replay's launches; ``finish`` turns them into a ``Program``.

    The engine calls ``begin()`` / ``end(invoke, in_bufs, results)`` around each op,
    ``assign(var_index, buf)`` and ``host(fn)`` for the other steps, then
    ``finish(out_bufs)`` (a buffer or None per trace output)."""

    def __init__(self, backend: Any, arg_bufs: Sequence[Any], var_bufs: Sequence[Any]):
        self.backend = backend
        self.items: list[
            tuple
        ] = []  # ("op", invoke, in_bufs, results, _StepRec) / ("assign", vi, buf) / ("host", fn)
        self.cur: _StepRec | None = None
        self.arg_bufs = list(arg_bufs)
        self.var_bufs = list(var_bufs)
        self._kernels: Any = None
        self._wrapped: list[str] = []
        self.thread = get_ident()

    # --- hooks from the backend ---------------------------------------------------------
    # (calls from other threads, e.g. eager ops meanwhile, run as usual and are not recorded)
    def launch(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        fn(*args, **kwargs)
        if self.cur is not None and get_ident() == self.thread:
            self.cur.launches.append((fn, args, kwargs))

    def allocated(self, a: np.ndarray) -> None:
        if self.cur is not None and get_ident() == self.thread:
            self.cur.allocs.append(a)

    def host_args(self, arrays: tuple) -> None:
        if self.cur is not None and get_ident() == self.thread:
            self.cur.host.extend(arrays)

    def entered(self, name: str) -> None:
        if self.cur is not None and get_ident() == self.thread:
            self.cur.entered.add(name)

    # --- hooks from the engine ----------------------------------------------------------
    def close(self) -> None:
        """Stop recording: the backend's methods and kernels are its own again."""
        be = self.backend
        with _start_lock:
            if be._rec is self:
                from backends.cpu import backend as module

                module.K = self._kernels
                for name in self._wrapped:
                    be.__dict__.pop(name, None)
                be._rec = None

    def begin(self) -> None:
        self.cur = _StepRec()

    def end(self, invoke: Callable, in_bufs: Sequence[Any], results: Sequence[Any]) -> None:
        self.items.append(("op", invoke, list(in_bufs), list(results), self.cur))
        self.cur = None

    def assign(self, var_index: int, buf: Any) -> None:
        self.items.append(("assign", var_index, buf))

    def host(self, fn: Callable[[], None]) -> None:
        self.items.append(("host", fn))

    def finish(self, out_bufs: Sequence[Any]) -> Program:
        """The program of the recorded replay; raises ``GiveUp`` with a reason."""
        self.close()
        prog = _Builder(self, out_bufs).build()
        prog.backend = self.backend
        self.items.clear()
        return prog


def _marking(rec: Recorder, name: str, method: Callable) -> Callable:
    def marked(*args: Any, **kwargs: Any) -> Any:
        rec.entered(name)
        return method(*args, **kwargs)

    return marked


def start(be: Any, arg_bufs: Sequence[Any], var_bufs: Sequence[Any]) -> Recorder | None:
    """Put backend ``be`` in recording mode for one replay; the engine then calls the
    recorder's hooks and ``finish`` (or ``close`` when the replay fails). None while another
    thread records."""
    from backends.cpu import backend as module

    with _start_lock:  # two threads' first replays must not both install their hooks
        if be._rec is not None:
            return None
        rec = Recorder(be, arg_bufs, var_bufs)
        rec._kernels = module.K
        rec._wrapped = []
        for name in sorted(set(PRIMITIVES) | set(be.fused)):
            attr = getattr(be, name, None)
            if callable(attr):
                be.__dict__[name] = _marking(rec, name, attr)
                rec._wrapped.append(name)
        module.K = _KernelProxy(module.K, rec)
        be._rec = rec
        return rec


_start_lock = threading.Lock()


class _Builder:
    def __init__(self, rec: Recorder, out_bufs: Sequence[Any]):
        self.rec = rec
        self.out_bufs = list(out_bufs)
        self.bases: list[_Base] = []
        self.internal: dict[int, np.ndarray] = {}  # id(root) -> root, allocated by baked ops
        self.pooled: dict[int, int] = {}  # id(root) -> base index of its pool
        self.pool_roots: list[np.ndarray] = []

    def _baked(self, st: _StepRec) -> bool:
        return bool(st.entered) and st.entered <= self.rec.backend.recordable

    def build(self) -> Program:
        rec = self.rec
        nargs = len(rec.arg_bufs)
        for i, a in enumerate(rec.arg_bufs + rec.var_bufs):
            if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
                what = f"argument {i}" if i < nargs else f"variable {i - nargs}"
                raise GiveUp(f"{what} is not a C-contiguous numpy buffer")
            self._add_base(a)
        spans = sorted((b.lo, b.hi) for b in self.bases if b.hi > b.lo)
        for (_, h0), (l1, _) in zip(spans, spans[1:], strict=False):
            if l1 < h0:
                raise GiveUp("two of the step's argument or variable buffers overlap")
        for it in rec.items:
            if it[0] == "op" and self._baked(it[4]):
                for a in it[4].allocs:
                    self.internal[id(_root(a))] = _root(a)
        # values leaving the program: pooled when they live in memory a baked op allocated
        escaping = [b for b in self.out_bufs if b is not None]
        escaping += [it[2] for it in rec.items if it[0] == "assign"]
        for b in escaping:
            if isinstance(b, np.ndarray):
                r = _root(b)
                if id(r) in self.internal and id(r) not in self.pooled:
                    self.pooled[id(r)] = len(self.bases)
                    self.pool_roots.append(r)
                    self._add_base(r)
        items: list[tuple] = []
        srcs: list[tuple | None] = []  # per item: (fn, specs, kspecs, recorded args) of launches
        for it in rec.items:
            if it[0] == "assign":
                items.append((_ASSIGN, it[1], self._spec(it[2])))
                srcs.append(None)
            elif it[0] == "host":
                items.append((_HOST, it[1]))
                srcs.append(None)
            else:
                _, invoke, in_bufs, results, st = it
                if self._baked(st):
                    if st.host:
                        items.append((_REFRESH, invoke, len(in_bufs), st.host))
                        srcs.append(None)
                    for fn, args, kwargs in st.launches:
                        items.append(self._launch_item(fn, args, kwargs))
                        specs = [self._spec(a) for a in args]
                        kspecs = {k: self._spec(v) for k, v in kwargs.items()}
                        srcs.append((fn, specs, kspecs, [ArgMeta.of(a) for a in args]))
                else:
                    specs = [self._spec(b) for b in in_bufs]
                    first = len(self.bases)
                    for r in results:
                        if isinstance(r, np.ndarray):
                            self._add_base(r)
                        else:
                            self.bases.append(None)  # type: ignore[arg-type]
                    items.append((_LIVE, invoke, specs, first, len(results)))
                    srcs.append(None)
        outs = [None if b is None else self._spec(b) for b in self.out_bufs]
        return Program(
            items,
            outs,
            [(a.shape, a.dtype) for a in rec.arg_bufs],
            [(a.shape, a.dtype) for a in rec.var_bufs],
            self.pool_roots,
            len(self.bases),
            srcs,
        )

    def _add_base(self, a: np.ndarray) -> None:
        self.bases.append(_Base(a, len(self.bases)))

    def _spec(self, a: Any) -> tuple:
        """How to find ``a`` in a run: baked as is, or a view of a per-run buffer."""
        if not isinstance(a, np.ndarray):
            return (_BAKED, a)
        for b in self.bases:
            if b is None:
                continue
            if a is b.array:
                return (_DYN, b.index, None)
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
                    return (_DYN, b.index, a.shape)  # a reshape of the whole buffer
                return (_DYN, b.index, (a.shape, a.dtype, off, a.strides))
        if a.size and id(_root(a)) in self.pooled:  # pragma: no cover - bases cover pools
            raise GiveUp("internal error: a pooled buffer outside its base")
        return (_BAKED, a)

    def _launch_item(self, fn: Callable, args: tuple, kwargs: dict) -> tuple:
        fn = _entry_point(fn, args, kwargs)
        specs = [self._spec(a) for a in args]
        kspecs = {k: self._spec(v) for k, v in kwargs.items()}
        patches = [(i, s) for i, s in enumerate(specs) if s[0] == _DYN]
        kpatches = [(k, s) for k, s in kspecs.items() if s[0] == _DYN]
        template = [s[1] if s[0] == _BAKED else None for s in specs]
        kw = {k: (s[1] if s[0] == _BAKED else None) for k, s in kspecs.items()}
        if not patches and not kpatches:
            return (_CALL, fn, tuple(template), kw)
        return (_PATCHED, fn, template, kw, patches, kpatches)


def _entry_point(fn: Callable, args: tuple, kwargs: dict) -> Callable:
    """The compiled overload a numba dispatcher picked for these arguments, called directly:
    a run passes arguments of the same types every time (same dtypes, shapes and layouts),
    so the dispatcher's per-call type matching is skipped."""
    overloads = getattr(fn, "overloads", None)
    if overloads is None or kwargs:
        return fn
    try:
        cres = overloads.get(tuple(fn.typeof_pyval(a) for a in args))
    except Exception:  # an argument numba cannot type here: keep the dispatcher
        return fn
    return fn if cres is None else cres.entry_point


# program item kinds
_CALL, _PATCHED, _LIVE, _REFRESH, _ASSIGN, _HOST = range(6)
# spec kinds
_BAKED, _DYN = 0, 1


class Program:
    """A compiled replay: ``run(arg_bufs, var_bufs) -> (out_bufs, [(var_index, buf), ...])``."""

    def __init__(
        self,
        items: list[tuple],
        outs: list,
        arg_meta: list,
        var_meta: list,
        pool_roots: list[np.ndarray],
        nbases: int,
        src: list | None = None,
    ):
        self.items = items
        self.src = src if src is not None else [None] * len(items)
        self.outs = outs
        self.arg_meta = arg_meta
        self.var_meta = var_meta
        self.nbases = nbases
        first_pool = len(arg_meta) + len(var_meta)
        self.pools = [(first_pool + i, [r]) for i, r in enumerate(pool_roots)]
        self.backend: Any = None
        self._lock = threading.Lock()  # one run at a time: the planned buffers are shared
        self.steps_run = 0
        self._chunks: dict[tuple, Any] = {}  # carry pattern -> compiled Chunk or GiveUp reason
        self.py_seconds = 0.0  # time spent in the Python program (for the cost model) ...
        self.py_steps = 0  # ... over this many steps
        self.steps_left: int | None = None  # told by the caller (fit): steps still to run

    def assign_specs(self) -> list[tuple[int, tuple]]:
        """``(variable index, spec)`` of the step's assignments, in order."""
        return [(it[1], it[2]) for it in self.items if it[0] == _ASSIGN]

    def _chunk(self, carry: dict[int, int]) -> Any:
        """The compiled chunk for ``carry`` once the program is hot and it is ready, else None
        (``compiled.chunk_for`` decides, compiles or loads it, and keeps it in ``_chunks``)."""
        if COMPILE_AFTER < 0 or self.steps_run < COMPILE_AFTER:
            return None
        from backends.cpu import compiled

        return compiled.chunk_for(self, carry)

    @property
    def num_launches(self) -> int:
        """Kernel launches (and live ops) per run."""
        return sum(1 for it in self.items if it[0] in (_CALL, _PATCHED, _LIVE))

    @property
    def num_live(self) -> int:
        """Ops that run through their full backend method every run."""
        return sum(1 for it in self.items if it[0] == _LIVE)

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

    def _step(self, arg_bufs: Sequence[Any], var_bufs: Sequence[Any]) -> tuple[list, list]:
        dyn: list[Any] = [None] * self.nbases
        i = 0
        for metas, bufs in ((self.arg_meta, arg_bufs), (self.var_meta, var_bufs)):
            for (shape, dtype), b in zip(metas, bufs, strict=True):
                if b.shape != shape or not b.flags.c_contiguous or b.dtype != dtype:
                    b = np.ascontiguousarray(b, dtype=dtype).reshape(shape)
                dyn[i] = b
                i += 1
        for index, pool in self.pools:
            dyn[index] = _free_buffer(pool)
        be = self.backend
        assigns = []
        for it in self.items:
            kind = it[0]
            if kind == _CALL:
                it[1](*it[2], **it[3])
            elif kind == _PATCHED:
                _, fn, args, kw, patches, kpatches = it
                for pos, s in patches:
                    base = dyn[s[1]]
                    view = s[2]
                    if view is None:
                        args[pos] = base
                    elif not view or type(view[0]) is int:
                        args[pos] = base.reshape(view)
                    else:
                        args[pos] = _resolve(dyn, s)
                for k, s in kpatches:
                    kw[k] = _resolve(dyn, s)
                try:
                    fn(*args, **kw)
                finally:
                    for pos, _ in patches:
                        args[pos] = None
                    for k, _ in kpatches:
                        kw[k] = None
            elif kind == _LIVE:
                _, invoke, specs, first, nres = it
                res = invoke(be, *[_get(dyn, s) for s in specs])
                if nres == 1 and not isinstance(res, (list, tuple)):
                    dyn[first] = res
                else:
                    for j, r in enumerate(res):
                        dyn[first + j] = r
            elif kind == _REFRESH:
                _refresh(be, it)
            elif kind == _ASSIGN:
                assigns.append((it[1], _get(dyn, it[2])))
            else:
                it[1]()
        outs = [None if s is None else _get(dyn, s) for s in self.outs]
        return outs, assigns


def _refresh(be: Any, it: tuple) -> None:
    """Run a ``_REFRESH`` item: the op's method rewrites its host arrays in place."""
    _, invoke, nin, host = it
    tl = be._tl
    tl.refresh = list(host)
    try:
        invoke(be, *([None] * nin))
    finally:
        left, tl.refresh = tl.refresh, None
    if left:
        raise RuntimeError("a refreshed op registered fewer host arrays than recorded")


def _get(dyn: list, s: tuple) -> Any:
    return s[1] if s[0] == _BAKED else _resolve(dyn, s)


def _resolve(dyn: list, s: tuple) -> np.ndarray:
    base = dyn[s[1]]
    view = s[2]
    if view is None:
        return base
    if not view or type(view[0]) is int:
        return base.reshape(view)
    shape, dtype, off, strides = view
    return np.ndarray(shape, dtype, buffer=base, offset=off, strides=strides)


def _free_buffer(pool: list[np.ndarray]) -> np.ndarray:
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
    """getrefcount of a pooled buffer nobody else holds, measured as ``_free_buffer`` sees it."""
    for b in [np.empty(1)]:
        return getrefcount(b)
    raise AssertionError("unreachable")


_BASELINE = _baseline()
