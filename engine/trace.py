"""Trace one call of a function, replay it later without Python op dispatch.

``capture(fn, args)`` runs ``fn(*args)`` eagerly once while a recorder listens to
``engine.dispatch`` (kernel calls and host uploads) and to ``Variable`` (assignments, creation,
host reads). The result is a ``Trace``: the list of ``invoke(backend, *buffers)`` calls with the
references of their inputs, the variable assignments and host-side effects in program order,
and the references of the outputs. ``Trace.replay(args)`` walks that list calling each kernel
directly: no Tensor objects, no shape inference, no tape.

An op input is one of: a tensor produced earlier in the trace (a slot), a ``Variable`` (its
*current* buffer is read at replay, since ``assign`` swaps storage), a positional argument of
``fn`` (bound per replay), or any other tensor that existed before the capture or was uploaded
from the host during it (a constant: its buffer is kept alive by the trace).

A capture fails, and ``fn`` still completes eagerly, when the function reads a tensor back to
the host (data-dependent control flow), creates variables (first-call state: optimizer slots,
lazily built layers; such a capture is retried), or uses a tensor made outside dispatch.
Kernels whose inputs are all constants are folded into constants at capture. ``TraceCache``
keeps one trace per signature and logs why a signature runs eagerly, once, on
the ``tensorweave.trace`` logger.

Programs: when the backend has ``trace_recorder(arg_bufs, var_bufs)``, a trace's first replay
runs under the recorder it returns (None: busy, try later), calling ``begin()`` and
``end(invoke, in_bufs, results)`` around each op, ``assign(var_index, buf)`` and ``host(fn)``
for the other steps, ``finish(out_bufs)`` (returns the program; raising keeps the step replay,
the reason logged) and always ``close()``. Later replays call ``program.run(arg_bufs,
var_bufs) -> (out_bufs, [(var_index, buf), ...])``; ``replay_batches`` calls
``program.run_many(steps, var_bufs, carry)`` for several consecutive steps at once, or, when
the program has it, ``program.run_rows(fixed, batched, ranges, var_bufs, carry)``, which takes
the whole argument buffers and each step's row range instead of a view per step.

Threads: a capture records only the ops of its own thread (``dispatch.recorders`` is per
thread), so two threads may capture at once. One trace may be replayed from several threads at
once: step replay allocates fresh buffers per call, only one thread records the program, and a
program serialises its runs (its planned buffers are shared).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

from engine import dispatch, fusion, registry
from engine.memory import HOOKS as _HOOKS
from engine.memory import Storage, count_tensor
from engine.tensor import Tensor, Variable, _ids
from engine.trace_steps import (
    ARG,
    ASSIGN,
    CONST,
    HOST,
    OP,
    SLOT,
    VAR,
    RecAssign,
    RecHost,
    RecOp,
    Ref,
)

log = logging.getLogger("tensorweave.trace")

#: Kernels with a side effect (they draw from the global RNG): never dropped as dead code.
EFFECT_KERNELS = frozenset(
    {
        "random_uniform",
        "random_normal",
        "truncated_normal",
        "random_uniform_int",
        "random_standard_normal",
        "random_gamma",
    }
)

# reference and step kinds (engine.trace_steps)
_SLOT, _ARG, _VAR, _CONST = SLOT, ARG, VAR, CONST
_OP, _ASSIGN, _HOST = OP, ASSIGN, HOST

#: How many captures of one signature may be retried (each fails only by creating variables).
MAX_RETRIES = 3

#: Let backends compile replays into programs (``Backend.trace_recorder``); False keeps the
#: step-by-step replay (for debugging and for comparing the two).
PROGRAMS = os.environ.get("TENSORWEAVE_PROGRAMS", "1") != "0"

#: Most consecutive steps a caller should hand ``TraceCache.run_steps`` at once: between two
#: calls it can report progress and stop (``fit``'s progress bar, ``stop_training``).
STEPS_PER_CALL = 64


class OpMeta(NamedTuple):
    """What a recorded op was: its attrs and the (shape, dtype) of its inputs and outputs."""

    attrs: dict[str, Any]
    inputs: tuple[tuple[tuple[int, ...], str], ...]
    outputs: tuple[tuple[tuple[int, ...], str], ...]


class ReplayOp(NamedTuple):
    """A planned step of ``Trace.steps``: run ``invoke(backend, *buffers of ins)`` into the
    slots ``outs`` (several when ``multi``), then free the slots ``frees``."""

    invoke: Callable
    ins: tuple[Ref, ...]
    outs: tuple[int, ...]
    multi: bool
    frees: tuple[int, ...]


class ReplayAssign(NamedTuple):
    """A planned step of ``Trace.steps``: variable ``var`` takes the value ``ref`` names, then
    the slots ``frees`` are freed."""

    var: int
    ref: Ref
    frees: tuple[int, ...]


class ReplayHost(NamedTuple):
    """A planned step of ``Trace.steps``: call ``fn()`` (Python-side state, e.g. counters)."""

    fn: Callable[[], None]


class _Recorder:
    """Listens to dispatch during one capture and builds the step list (``RecOp``,
    ``RecAssign``, ``RecHost`` of ``engine.trace_steps``: the records ``engine.fusion.fuse``
    rewrites)."""

    def __init__(self, args: Sequence[Tensor], backend: str):
        self.backend = backend
        self.start_id = next(_ids)
        self.arg_of = {a.id: i for i, a in reversed(list(enumerate(args)))}
        self.slot_of: dict[int, int] = {}
        self.nslots = 0
        self.const_of: dict[int, int] = {}
        self.consts: list[Storage] = []
        self.var_of: dict[int, int] = {}
        self.vars: list[Variable] = []
        self.steps: list[RecOp | RecAssign | RecHost] = []
        self.failed: str | None = None
        self.retry = False

    # --- hooks ---------------------------------------------------------------------------------
    def op(
        self,
        name: str,
        inputs: Sequence[Tensor],
        invoke: Callable,
        outs: Sequence[Tensor],
        multi: bool = False,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        if self.failed:
            return
        ins = tuple(self._ref(t) for t in inputs)
        if name not in EFFECT_KERNELS and all(r.kind == _CONST for r in ins):
            for o in outs:  # a pure function of constants: fold it, keeping its result
                self.upload(o)
            return
        slots = []
        for o in outs:
            self.slot_of[o.id] = self.nslots
            slots.append(self.nslots)
            self.nslots += 1
        meta = OpMeta(
            attrs or {},
            tuple((t.shape, t.dtype) for t in inputs),
            tuple((o.shape, o.dtype) for o in outs),
        )
        self.steps.append(RecOp(_OP, name, invoke, ins, tuple(slots), multi, meta))

    def upload(self, t: Tensor) -> None:
        if not self.failed:
            self.const_of[t.id] = len(self.consts)
            self.consts.append(t._live())

    def assign(self, var: Variable, value: Tensor) -> None:
        if not self.failed:
            self.steps.append(RecAssign(_ASSIGN, self._var(var), self._ref(value)))

    def host_read(self, t: Tensor) -> None:
        if not self.failed:
            self.failed = f"the step reads a tensor of shape {t.shape} back to the host"

    def variable_created(self, var: Variable) -> None:
        if not self.failed:
            self.failed = f"the step creates variable {var.name!r} (first-call state)"
            self.retry = True

    def host_effect(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` again at this point of every replay (Python-side state, e.g. counters)."""
        if not self.failed:
            self.steps.append(RecHost(_HOST, fn))

    # --- references ----------------------------------------------------------------------------
    def _var(self, v: Variable) -> int:
        i = self.var_of.get(v.id)
        if i is None:
            i = self.var_of[v.id] = len(self.vars)
            self.vars.append(v)
        return i

    def _ref(self, t: Tensor) -> Ref:
        i = self.arg_of.get(t.id)
        if i is not None:
            return Ref(_ARG, i)
        i = self.slot_of.get(t.id)
        if i is not None:
            return Ref(_SLOT, i)
        if isinstance(t, Variable):
            return Ref(_VAR, self._var(t))
        i = self.const_of.get(t.id)
        if i is not None:
            return Ref(_CONST, i)
        if t.id >= self.start_id:
            self.failed = f"a tensor of shape {t.shape} was made outside engine.dispatch"
            return Ref(_CONST, 0)
        s = t._live()
        if s.backend != self.backend:
            t.buffer_on(self.backend)
            s = t._live()
        self.const_of[t.id] = len(self.consts)
        self.consts.append(s)
        return Ref(_CONST, self.const_of[t.id])


class Trace:
    """A recorded call: replay it with new positional tensors of the same shapes and dtypes."""

    def __init__(self, rec: _Recorder, out_refs: list, out_meta: list, treedef: Any):
        self.backend = rec.backend
        self.vars = rec.vars
        self.consts = rec.consts
        self.nslots = rec.nslots
        self._out_refs = out_refs
        self._out_meta = out_meta
        self._treedef = treedef
        self.steps = self._plan(fusion.fuse(rec.steps, rec.backend, out_refs), out_refs)
        self.const_bufs = [s.buf for s in self.consts]
        #: The backend's compiled replay (``Backend.trace_recorder``), once recorded.
        self.program: Any = None
        #: Why no program was recorded (None while untried or when there is one).
        self.program_reason: str | None = None
        self._program_tried = False
        self._program_attempts = 0
        self._record_lock = threading.Lock()

    @property
    def num_kernels(self) -> int:
        """Kernel launches per replay."""
        return sum(1 for s in self.steps if type(s) is ReplayOp)

    def _plan(
        self, steps: list[RecOp | RecAssign | RecHost], out_refs: list
    ) -> list[ReplayOp | ReplayAssign | ReplayHost]:
        """Drop ops whose results are never used, and free each slot after its last use."""
        live = {r.index for r in out_refs if r is not None and r.kind == _SLOT}
        kept: list[RecOp | RecAssign | RecHost] = []
        for st in reversed(steps):
            if st.kind == _OP:
                if st.name not in EFFECT_KERNELS and not any(o in live for o in st.slots):
                    continue
                live.update(r.index for r in st.ins if r.kind == _SLOT)
            elif st.kind == _ASSIGN and st.ref.kind == _SLOT:
                live.add(st.ref.index)
            kept.append(st)
        kept.reverse()
        keep_to_end = {r.index for r in out_refs if r is not None and r.kind == _SLOT}
        last: dict[int, int] = {}
        for pos, st in enumerate(kept):
            if st.kind == _OP:
                for r in st.ins:
                    if r.kind == _SLOT:
                        last[r.index] = pos
                for o in st.slots:
                    last.setdefault(o, pos)
            elif st.kind == _ASSIGN and st.ref.kind == _SLOT:
                last[st.ref.index] = pos
        frees: dict[int, list[int]] = {}
        for slot, pos in last.items():
            if slot not in keep_to_end:
                frees.setdefault(pos, []).append(slot)
        out: list[ReplayOp | ReplayAssign | ReplayHost] = []
        for pos, st in enumerate(kept):
            f = tuple(frees.get(pos, ()))
            if st.kind == _OP:
                out.append(ReplayOp(st.invoke, st.ins, st.slots, st.multi, f))
            elif st.kind == _ASSIGN:
                out.append(ReplayAssign(st.var, st.ref, f))
            else:
                out.append(ReplayHost(st.fn))
        return out

    def replay(self, args: Sequence[Tensor]) -> Any:
        """Run the recorded kernels on ``args``; returns outputs shaped as the captured ones.

        The first replay also records the backend's compiled program when it offers one
        (``trace_recorder``); later replays run that program instead of the step list."""
        name = self.backend
        be = registry.instance_of(name)
        if self.program is not None:
            return self._run_program(be, args)
        hook = None
        if not self._program_tried and PROGRAMS and hasattr(be, "trace_recorder"):
            with self._record_lock:  # one thread records; the others replay step by step
                if not self._program_tried:
                    self._program_tried = True
                    bufs = [a.buffer_on(name) for a in args]
                    hook = be.trace_recorder(bufs, [v.buffer_on(name) for v in self.vars])
                    if hook is None:  # the backend is busy recording another trace: later
                        self._program_tried = False
        try:
            return self._replay(be, args, hook)
        except Exception:
            if hook is not None and self._program_attempts < 3:
                self._program_tried = False  # the step failed (bad input?): record another
            raise
        finally:
            if hook is not None:
                self._program_attempts += 1
                hook.close()

    def _run_program(self, be: Any, args: Sequence[Tensor]) -> Any:
        name = self.backend
        try:
            outs, assigns = self.program.run(
                [a.buffer_on(name) for a in args], [v.buffer_on(name) for v in self.vars]
            )
        except Exception as e:
            self._apply(be, getattr(e, "completed_assigns", ()))
            raise
        return self._program_results(be, outs, assigns)

    def replay_batches(
        self,
        args: Sequence[Tensor],
        batched: Sequence[int],
        ranges: Sequence[tuple[int, int]],
        carry: dict[int, int],
        steps_left: int | None = None,
    ) -> Any:
        """Consecutive replays in one call of the backend's program: call k takes rows
        ``ranges[k]`` (along axis 0) of each ``args[i]`` for ``i`` in ``batched``, the other
        arguments as given, except those ``carry`` feeds (``{output index: argument index}``)
        from call k - 1's outputs. Every range must give the traced shapes. Returns the last
        call's outputs. Needs ``self.program`` (callers check it). ``steps_left``: how many
        calls the caller still makes, these included (None: unknown); a program with a
        ``steps_left`` attribute (the cpu backend's compile cost model) is told."""
        name = self.backend
        be = registry.instance_of(name)
        fixed = [a.buffer_on(name) for a in args]
        var_bufs = [v.buffer_on(name) for v in self.vars]
        program = self.program
        if hasattr(program, "steps_left"):
            program.steps_left = steps_left
        if hasattr(program, "run_rows"):  # the program finds the rows itself
            call = lambda: program.run_rows(fixed, batched, ranges, var_bufs, carry)  # noqa: E731
        else:
            steps = []
            for start, stop in ranges:
                bufs = list(fixed)
                for i in batched:
                    t = args[i]
                    rank = len(t.shape)
                    bufs[i] = be.slice(
                        fixed[i],
                        t.shape,
                        t.dtype,
                        (start,) + (0,) * (rank - 1),
                        (stop - start,) + t.shape[1:],
                        (1,) * rank,
                    )
                steps.append(bufs)
            call = lambda: program.run_many(steps, var_bufs, carry)  # noqa: E731
        try:
            outs, assigns = call()
        except Exception as e:  # keep the steps that completed, as a loop of calls would
            self._apply(be, getattr(e, "completed_assigns", ()))
            raise
        return self._program_results(be, outs, assigns)

    def _apply(self, be: Any, assigns: Sequence[tuple[int, Any]]) -> None:
        """Give the variables the buffers a program assigned them."""
        name, nbytes, vars_ = self.backend, be.nbytes, self.vars
        for vi, buf in assigns:
            _set_storage(vars_[vi], Storage(buf, name, nbytes(buf)))

    def _program_results(self, be: Any, outs: list, assigns: list) -> Any:
        name = self.backend
        nbytes = be.nbytes
        self._apply(be, assigns)
        outs_t: list[Tensor | None] = []
        for buf, meta in zip(outs, self._out_meta, strict=True):
            outs_t.append(None if meta is None else Tensor(Storage(buf, name, nbytes(buf)), *meta))
        return _unflatten(self._treedef, iter(outs_t))

    def _replay(self, be: Any, args: Sequence[Tensor], hook: Any) -> Any:
        name = self.backend
        nbytes = be.nbytes

        # Slots hold the ops' raw buffers; only a value that leaves the replay (an output, an
        # assigned variable value) is wrapped in a counted Storage, once per slot.
        slots: list[Any] = [None] * self.nslots
        wrapped: dict[int, Storage] = {}
        argst = []
        for a in args:
            a.buffer_on(name)
            argst.append(a._live())
        consts = self.const_bufs
        vars_ = self.vars

        def storage_of(r: Ref) -> Storage:
            k, i = r
            if k == _SLOT:
                s = wrapped.get(i)
                if s is None:
                    b = slots[i]
                    s = wrapped[i] = Storage(b, name, nbytes(b))
                return s
            if k == _ARG:
                return argst[i]
            if k == _CONST:
                return self.consts[i]
            return vars_[i]._live()

        for st in self.steps:
            kind = type(st)
            if kind is ReplayOp:
                invoke, ins, outs, multi, frees = st
                bufs = [
                    slots[i]
                    if k == _SLOT
                    else consts[i]
                    if k == _CONST
                    else argst[i].buf
                    if k == _ARG
                    else vars_[i].buffer_on(name)
                    for k, i in ins
                ]
                if hook is None:
                    res = invoke(be, *bufs)
                else:
                    hook.begin()
                    res = invoke(be, *bufs)
                    hook.end(invoke, bufs, res if multi else (res,))
                if multi:
                    for o, b in zip(outs, res, strict=True):
                        slots[o] = b
                else:
                    slots[outs[0]] = res
            elif kind is ReplayAssign:
                vi, r, frees = st
                s = storage_of(r)
                if hook is not None:
                    hook.assign(vi, s.buf)
                _set_storage(vars_[vi], s)
            else:
                if hook is not None:
                    hook.host(st.fn)
                st.fn()
                continue
            for i in frees:
                slots[i] = None
        outs_t: list[Tensor | None] = []
        for r, meta in zip(self._out_refs, self._out_meta, strict=True):
            outs_t.append(None if r is None else Tensor(storage_of(r), meta[0], meta[1]))
        if hook is not None:
            self._finish_program(hook, [None if t is None else t._live().buf for t in outs_t])
        return _unflatten(self._treedef, iter(outs_t))

    def _finish_program(self, hook: Any, out_bufs: list) -> None:
        try:
            self.program = hook.finish(out_bufs)
        except Exception as e:  # the normal replay stays correct; say why it is kept
            self.program_reason = f"{type(e).__name__}: {e}"
            log.info("no %s program for this trace: %s", self.backend, self.program_reason)


def _set_storage(var: Variable, s: Storage) -> None:
    old = var._live()
    if old.backend != s.backend:
        count_tensor(old.backend, -1)
        count_tensor(s.backend, 1)
    var._storage = s


def _flatten(obj: Any, out: list) -> Any:
    """Flatten nested lists/tuples of tensors (and None) into ``out``; returns the tree."""
    if type(obj) in (list, tuple):
        return (type(obj), [_flatten(o, out) for o in obj])
    if obj is None or isinstance(obj, Tensor):
        out.append(obj)
        return None
    raise TypeError(f"the function returns a {type(obj).__name__}, not tensors")


def _unflatten(tree: Any, it: Any) -> Any:
    if tree is None:
        return next(it)
    kind, items = tree
    return kind(_unflatten(t, it) for t in items)


def current() -> _Recorder | None:
    """The recorder of the capture in progress, if any."""
    return dispatch.recorders[-1] if dispatch.recorders else None


def host_effect(fn: Callable[[], None]) -> None:
    """Register ``fn`` to run at this point of every replay of the capture in progress (no-op
    outside a capture). For Python-side state kept in step with the device, e.g. a counter."""
    rec = current()
    if rec is not None:
        rec.host_effect(fn)


def capture(
    fn: Callable[..., Any], args: Sequence[Tensor]
) -> tuple[Any, Trace | None, str | None, bool]:
    """Run ``fn(*args)`` eagerly while recording. Returns ``(outputs, trace, reason, retry)``:
    ``trace`` is None when the call cannot be replayed (``reason`` says why; ``retry`` is True
    when a later capture may succeed)."""
    if dispatch.recorders:
        return fn(*args), None, "nested capture", False
    rec = _Recorder(args, registry.get_backend())
    dispatch.recorders.append(rec)
    try:
        result = fn(*args)
    finally:
        dispatch.recorders.remove(rec)
    if rec.failed:
        return result, None, rec.failed, rec.retry
    flat: list = []
    try:
        tree = _flatten(result, flat)
    except TypeError as e:
        return result, None, str(e), False
    refs = []
    meta = []
    for t in flat:
        if t is None:
            refs.append(None)
            meta.append(None)
            continue
        refs.append(rec._ref(t))
        meta.append((t.shape, t.dtype))
    if rec.failed:
        return result, None, rec.failed, rec.retry
    return result, Trace(rec, refs, meta, tree), None, False


class TraceCache:
    """Traces of one function by signature: the first call of a signature captures, later calls
    replay; a signature that cannot be traced runs eagerly, its reason logged once. At most
    ``max_traces`` signatures are kept; further ones run eagerly."""

    def __init__(self, what: str, max_traces: int = 32):
        self.what = what
        self.max_traces = max_traces
        self.traces: dict[Hashable, Trace] = {}
        self.eager: dict[Hashable, str] = {}
        self.attempts: dict[Hashable, int] = {}

    def clear(self) -> None:
        self.traces.clear()
        self.eager.clear()
        self.attempts.clear()

    def __call__(self, key: Hashable, fn: Callable[..., Any], args: Sequence[Tensor]) -> Any:
        """``fn(*args)``, replayed from the trace of ``key`` when there is one. ``key`` must
        determine everything ``fn`` does apart from the values of ``args``."""
        if len({id(a) for a in args}) != len(args):  # the same tensor twice: part of the key
            first: dict[int, int] = {}
            key = (key, tuple(first.setdefault(id(a), i) for i, a in enumerate(args)))
        tr = self.traces.get(key)
        # (HOOKS: no thread has a tape or recorder, so this one has none either)
        hooked = _HOOKS and (dispatch.tapes or dispatch.recorders)
        if tr is not None and not hooked:
            return tr.replay(args)
        if key in self.eager or hooked:
            return fn(*args)
        if len(self.traces) >= self.max_traces:
            self._give_up(key, args, f"more than {self.max_traces} signatures")
            return fn(*args)
        out, tr, reason, retry = capture(fn, args)
        if tr is not None:
            self.traces[key] = tr
            return out
        n = self.attempts.get(key, 0) + 1
        self.attempts[key] = n
        if not retry or n >= MAX_RETRIES:
            self._give_up(key, args, reason or "unknown")
        return out

    def run_steps(
        self,
        key: Hashable,
        args: Callable[[], Sequence[Tensor]],
        batched: Sequence[int],
        ranges: Sequence[tuple[int, int]],
        carry: dict[int, int],
        steps_left: int | None = None,
    ) -> Any | None:
        """Run the traced step of ``key`` once per row range, in one call of what the backend
        compiled for it: step k takes rows ``ranges[k]`` (axis 0) of ``args()[i]`` for ``i`` in
        ``batched``, the other arguments whole, except those ``carry`` feeds
        (``{output index: argument index}``) from step k - 1's outputs. Every range must give
        the traced shapes. Returns the last step's outputs, or None when nothing ran (no trace
        of ``key`` yet, the backend compiled nothing for it, a gradient tape or capture is
        listening, or an argument appears twice): the caller then runs the steps one by one.
        ``args`` is only called when the steps run. ``steps_left``: how many steps the caller
        still runs, these included (None: unknown), for the backend's compile cost model."""
        if _HOOKS and (dispatch.tapes or dispatch.recorders):
            return None
        tr = self.traces.get(key)
        if tr is None or tr.program is None:
            return None
        bufs = list(args())
        if len({id(a) for a in bufs}) != len(bufs):
            return None
        return tr.replay_batches(bufs, batched, ranges, carry, steps_left=steps_left)

    def _give_up(self, key: Hashable, args: Sequence[Tensor], reason: str) -> None:
        self.eager[key] = reason
        shapes = ", ".join(f"{t.dtype}{list(t.shape)}" for t in args)
        log.warning(
            "%s runs eagerly on %s for arguments (%s): %s",
            self.what,
            registry.get_backend(),
            shapes,
            reason,
        )
