"""Fusion of recorded elementwise chains into one generated kernel per chain (issue 10).

``fuse(steps, backend, outputs)`` rewrites the raw step list of an ``engine.trace`` capture
(the named tuples of ``engine.trace_steps``: ``RecOp``, ``RecAssign``, ``RecHost``) when
the backend offers ``fused_elementwise`` (``backends.base``): each group of elementwise ops
found below becomes ONE ``RecOp`` step named ``"fused_elementwise"`` whose invoke calls
``be.fused_elementwise(expr, bufs, in_shapes, shape, out_shapes)``. Other backends, and
``TENSORWEAVE_FUSION=0``, get the steps unchanged.

What is a member
----------------
- *Compute* ops: ``unary`` (every ``UNARY_OPS`` name), ``binary`` (every ``BINARY_OPS`` name),
  ``where`` and ``cast``, for the dtypes of ``FUSABLE`` (the ones every backend's unfused kernels
  define), with a single output whose shape is the numpy broadcast of the inputs.
- *View* ops: ``reshape``, ``identity`` and ``stop_gradient`` (all ``be.reshape``) that only add
  or drop size-1 axes. A view joins the group of the op producing its input and is an alias in
  the expression (no code); when its result is needed outside the group the view step is
  re-emitted right after the fused step, reading the fused step's output (still a view, no
  copy). Views never start a group.

Grouping rules (greedy, in program order)
-----------------------------------------
1. All members of a group have the same *iteration space*: their output shapes are equal once
   size-1 axes are dropped (``Q``; at most ``MAX_RANK`` axes). Smaller operands (a bias row, a
   scalar, a ``(N, 1)`` column) are external inputs read with broadcasting; an op whose output
   is smaller than its consumer's is never a member of the consumer's group (it would be
   recomputed per element), it ends its own group instead.
2. A compute op joins the groups of the members producing its inputs (all of them when legal,
   else the latest legal one, else it starts a group).
3. The fused step runs at the position of the group's last compute member ``L``. A merge is
   legal only if (a) no non-member step before ``L`` reads a member's result (op input or
   ``_ASSIGN`` value): it would run before the value exists, and this also excludes every
   cycle through a non-member; (b) no member reads a variable (``_VAR``) that an ``_ASSIGN``
   between that member and ``L`` replaces (it must see the old value). Moving elementwise ops
   later past ``_HOST`` steps is safe: their invokes read no Python-side state.
4. At most ``MAX_NODES`` compute members and ``MAX_INPUTS`` external inputs per group. A group
   with fewer than two compute members is left as it was.

Materialised results (the fused step's outputs, a multi-output step when there are several)
---------------------------------------------------------------------------------------------
A member's result is written to memory when a non-member step reads it (a later non-fused op or
an ``_ASSIGN``), when it is a trace output (``outputs``), or when a re-emitted view reads it;
all other intermediates live only in registers. Without ``outputs`` (``None``) the pass cannot
tell trace outputs apart, so it keeps every member result (conservative: the same launches are
saved, no memory traffic is). Results nothing reads and that are no trace output are dropped.

The expression (``expr``) is the hashable ``(in_dtypes, nodes, outs)`` documented on
``fused_elementwise`` in ``backends.base``; identical chains anywhere give equal expressions, so
backends cache one kernel per expression (and dtypes and broadcast pattern).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from backends.base import (
    BINARY_OPS,
    COMPARISON_OPS,
    PREDICATE_OPS,
    UNARY_OPS,
    out_dtype_binary,
    out_dtype_unary,
)
from engine.optable import OPS
from engine.trace_steps import ARG, ASSIGN, CONST, HOST, OP, SLOT, VAR, RecOp, Ref

# Reference and step kinds (engine.trace_steps, shared with engine.trace)
_SLOT, _ARG, _VAR, _CONST = SLOT, ARG, VAR, CONST
_OP, _ASSIGN, _HOST = OP, ASSIGN, HOST

#: ``TENSORWEAVE_FUSION=0`` turns the pass off (for debugging and before/after comparisons).
ENABLED = os.environ.get("TENSORWEAVE_FUSION", "1") != "0"
#: The name of the fused steps and of the backend method they call.
KERNEL = "fused_elementwise"
#: Limits per fused kernel: compute nodes, external inputs, axes of the iteration space.
MAX_NODES = 64
MAX_INPUTS = 24
MAX_RANK = 6

VIEW_OPS = frozenset({"reshape", "identity", "stop_gradient"})
_FLOATS = ("float32", "float64")
#: (op, input dtype) pairs a fused kernel must implement: exactly the unfused kernels' domain,
#: the dtype kinds of each op-table entry (engine/optable.py). Comparisons on bool other than
#: (not_)equal never reach a kernel (the engine compares bools as int32).
FUSABLE: frozenset[tuple[str, str]] = frozenset(
    (name, dt)
    for name, op in OPS.items()
    for dt in ("float32", "float64", "int32", "bool")
    if op.supports(dt)
    and not (name in COMPARISON_OPS and dt == "bool" and name not in ("equal", "not_equal"))
)
_DTYPES = frozenset({"float32", "float64", "int32", "bool"})

assert PREDICATE_OPS <= frozenset(UNARY_OPS)


def _squeeze(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(s) for s in shape if s != 1)


def _broadcasts(shape: Sequence[int], out: Sequence[int]) -> bool:
    if len(shape) > len(out):
        return False
    pad = len(out) - len(shape)
    return all(s == 1 or s == o for s, o in zip(shape, out[pad:], strict=True))


def _compute_node(st: RecOp) -> tuple[str, str] | None:
    """``(op, result dtype)`` when the recorded op is a fusable elementwise compute op."""
    name, ins, slots, multi, meta = st.name, st.ins, st.slots, st.multi, st.meta
    if multi or len(slots) != 1 or len(meta.outputs) != 1 or len(ins) != len(meta.inputs):
        return None
    out_shape, out_dt = meta.outputs[0]
    in_dts = [dt for _, dt in meta.inputs]
    if not all(_broadcasts(s, out_shape) for s, _ in meta.inputs):
        return None
    if any(dt not in _DTYPES for dt in (*in_dts, out_dt)):
        return None
    n = len(in_dts)
    if name in UNARY_OPS and n == 1:
        ok = (name, in_dts[0]) in FUSABLE and out_dt == out_dtype_unary(name, in_dts[0])
        ok = ok and tuple(meta.inputs[0][0]) == tuple(out_shape)
    elif name in BINARY_OPS and n == 2:
        ok = in_dts[0] == in_dts[1] and (name, in_dts[0]) in FUSABLE
        ok = ok and out_dt == out_dtype_binary(name, in_dts[0])
    elif name == "where" and n == 3:
        ok = in_dts[0] == "bool" and in_dts[1] == in_dts[2] == out_dt
    elif name == "cast" and n == 1:
        ok = meta.attrs.get("dtype") == out_dt and tuple(meta.inputs[0][0]) == tuple(out_shape)
    else:
        return None
    return (name, out_dt) if ok else None


def _is_view(st: RecOp) -> bool:
    name, ins, slots, multi, meta = st.name, st.ins, st.slots, st.multi, st.meta
    if name not in VIEW_OPS or multi or len(ins) != 1 or len(slots) != 1:
        return False
    if len(meta.inputs) != 1 or len(meta.outputs) != 1:
        return False
    (in_shape, in_dt), (out_shape, out_dt) = meta.inputs[0], meta.outputs[0]
    return in_dt == out_dt and _squeeze(in_shape) == _squeeze(out_shape)


def _eff_shape(x_shape: Sequence[int], consumer: Sequence[int]) -> tuple[int, ...]:
    """The shape over ``Q = squeeze(consumer)`` that reads ``x`` as broadcasting it to
    ``consumer`` does (same element order as ``x``'s buffer)."""
    pad = (1,) * (len(consumer) - len(x_shape)) + tuple(x_shape)
    return tuple(c if x != 1 else 1 for x, c in zip(pad, consumer, strict=True) if c != 1)


class _Group:
    __slots__ = ("q", "nodes", "views", "last")

    def __init__(self, q: tuple[int, ...], pos: int):
        self.q = q
        self.nodes = [pos]  # compute members (positions, ascending)
        self.views: list[int] = []
        self.last = pos


def fuse(steps: list[tuple], backend: str, outputs: Iterable[Any] | None = None) -> list[tuple]:
    """The steps with each fusable elementwise group replaced by one ``fused_elementwise`` op.

    ``outputs``: the trace's output references (``(kind, index)`` or None each) or None when
    unknown (then every member result stays materialised). See the module docstring."""
    if not ENABLED or not _backend_fuses(backend):
        return steps
    out_slots = None
    if outputs is not None:
        out_slots = {r.index for r in outputs if r is not None and r.kind == _SLOT}
    return fuse_steps(steps, out_slots)


def _backend_fuses(backend: str) -> bool:
    from engine import registry

    try:
        be = registry.instance_of(backend)
    except Exception:
        return False
    return bool(be.has(KERNEL))


def fuse_steps(steps: list[tuple], out_slots: set[int] | None) -> list[tuple]:
    """The pass itself, for any backend: ``out_slots`` are the slots the trace returns (None:
    unknown, keep every member result)."""
    producer: dict[int, int] = {}
    uses: dict[int, list[int]] = {}
    assigns: dict[int, list[int]] = {}
    for p, st in enumerate(steps):
        if st.kind == _OP:
            for r in st.ins:
                if r.kind == _SLOT:
                    uses.setdefault(r.index, []).append(p)
            for s in st.slots:
                producer[s] = p
        elif st.kind == _ASSIGN:
            assigns.setdefault(st.var, []).append(p)
            if st.ref.kind == _SLOT:
                uses.setdefault(st.ref.index, []).append(p)

    group_of: dict[int, _Group] = {}
    node_of: dict[int, tuple[str, str]] = {}

    def member_group(ref: Ref) -> _Group | None:
        if ref.kind != _SLOT:
            return None
        p = producer.get(ref.index)
        return None if p is None else group_of.get(p)

    def legal(groups: list[_Group], pos: int) -> bool:
        nodes = [q for g in groups for q in g.nodes] + [pos]
        members = set(nodes).union(*(g.views for g in groups))
        if len(nodes) > MAX_NODES:
            return False
        ext = set()
        for q in nodes:
            for r in steps[q].ins:
                if not (r.kind == _SLOT and producer.get(r.index) in members):
                    ext.add(r)
        if len(ext) > MAX_INPUTS:
            return False
        for q in members:
            if q == pos:
                continue
            for s in steps[q].slots:
                if any(u < pos and u not in members for u in uses.get(s, ())):
                    return False
        for q in nodes:
            for r in steps[q].ins:
                if r.kind == _VAR and any(q < a < pos for a in assigns.get(r.index, ())):
                    return False
        return True

    for p, st in enumerate(steps):
        if st.kind != _OP:
            continue
        if _is_view(st):
            g = member_group(st.ins[0])
            if g is not None:
                g.views.append(p)
                group_of[p] = g
            continue
        node = _compute_node(st)
        if node is None:
            continue
        q = _squeeze(st.meta.outputs[0][0])
        if len(q) > MAX_RANK:
            continue
        node_of[p] = node
        cands: list[_Group] = []
        for r in st.ins:
            g = member_group(r)
            if g is not None and g.q == q and all(g is not c for c in cands):
                cands.append(g)
        choice: list[_Group] = []
        if cands and legal(cands, p):
            choice = cands
        else:
            for g in sorted(cands, key=lambda g: -g.last):
                if legal([g], p):
                    choice = [g]
                    break
        if not choice:
            group_of[p] = _Group(q, p)
            continue
        g = choice[0]
        for other in choice[1:]:
            g.nodes += other.nodes
            g.views += other.views
            for m in other.nodes + other.views:
                group_of[m] = g
        g.nodes.append(p)
        g.nodes.sort()
        g.views.sort()
        g.last = p
        group_of[p] = g

    groups = {id(g): g for g in group_of.values() if len(g.nodes) >= 2}
    if not groups:
        return steps
    fused: dict[int, list[tuple]] = {}  # position of L -> the steps replacing it
    drop: set[int] = set()
    for g in groups.values():
        fused[g.last] = _build(steps, g, producer, uses, node_of, out_slots)
        drop.update(g.nodes)
        drop.update(g.views)
    out: list[tuple] = []
    for p, st in enumerate(steps):
        if p in fused:
            out.extend(fused[p])
        elif p not in drop:
            out.append(st)
    return out


def _build(
    steps: list[tuple],
    g: _Group,
    producer: dict[int, int],
    uses: dict[int, list[int]],
    node_of: dict[int, tuple[str, str]],
    out_slots: set[int] | None,
) -> list[tuple]:
    """The fused step of group ``g`` followed by the view steps needed outside it."""
    from engine.trace import OpMeta

    members = set(g.nodes) | set(g.views)
    # which member results leave the group
    needed: set[int] = set()  # positions
    for m in members:
        s = steps[m].slots[0]
        outside = any(u not in members for u in uses.get(s, ()))
        if outside or out_slots is None or s in out_slots:
            needed.add(m)
    for v in sorted(g.views, reverse=True):  # a needed view needs its source
        if v in needed:
            needed.add(producer[steps[v].ins[0].index])

    nodes_set = set(g.nodes)

    def source(pos: int) -> int:  # the compute member a view chain aliases
        while pos not in nodes_set:
            pos = producer[steps[pos].ins[0].index]
        return pos

    inputs: list[tuple] = []  # (ref, eff_shape, dtype)
    in_index: dict[tuple, int] = {}
    node_index: dict[int, int] = {}
    raw_nodes: list[tuple] = []
    for q in g.nodes:
        st = steps[q]
        consumer = st.meta.outputs[0][0]
        args: list[tuple[str, int]] = []
        for r, (shape, dt) in zip(st.ins, st.meta.inputs, strict=True):
            p = producer.get(r.index) if r.kind == _SLOT else None
            if p is not None and p in members:
                args.append(("n", node_index[source(p)]))
                continue
            key = (r, _eff_shape(shape, consumer))
            k = in_index.get(key)
            if k is None:
                k = in_index[key] = len(inputs)
                inputs.append((r, key[1], dt))
            args.append(("i", k))
        node_index[q] = len(raw_nodes)
        op, dt = node_of[q]
        raw_nodes.append((op, dt, args))
    n_in = len(inputs)
    nodes = tuple(
        (op, dt, tuple(k if kind == "i" else n_in + k for kind, k in args))
        for op, dt, args in raw_nodes
    )
    out_pos = [q for q in g.nodes if q in needed]
    expr = (
        tuple(dt for _, _, dt in inputs),
        nodes,
        tuple(n_in + node_index[q] for q in out_pos),
    )
    in_shapes = tuple(e for _, e, _ in inputs)
    out_meta = tuple(tuple(steps[q].meta.outputs[0]) for q in out_pos)
    out_shapes = tuple(tuple(s) for s, _ in out_meta)
    multi = len(out_pos) != 1
    invoke = _invoke(expr, in_shapes, g.q, out_shapes, multi)
    meta = OpMeta(
        {"expr": expr, "shape": g.q, "ops": tuple(steps[q].name for q in g.nodes)},
        tuple(zip(in_shapes, (dt for _, _, dt in inputs), strict=True)),
        out_meta,
    )
    ins = tuple(r for r, _, _ in inputs)
    slots = tuple(steps[q].slots[0] for q in out_pos)
    result = [RecOp(_OP, KERNEL, invoke, ins, slots, multi, meta)] if out_pos else []
    result += [steps[v] for v in g.views if v in needed]
    return result


def _invoke(expr: tuple, in_shapes: tuple, shape: tuple, out_shapes: tuple, multi: bool) -> Any:
    if multi:

        def invoke_multi(be: Any, *bufs: Any) -> Any:
            return be.fused_elementwise(expr, bufs, in_shapes, shape, out_shapes)

        return invoke_multi

    def invoke(be: Any, *bufs: Any) -> Any:
        return be.fused_elementwise(expr, bufs, in_shapes, shape, out_shapes)[0]

    return invoke
