"""Fused engine composites on rendered kernels: softmax, log_softmax and optimizer updates.

Each replaces a chain of primitive launches by one kernel with the composite's arithmetic in
the same order (``engine.ops.activations``, ``engine.train.optimizers``); results can differ from
the chain in the last bit where the C compiler contracts a*b+c into a fused multiply-add.
"""

from __future__ import annotations

import re
from math import prod
from typing import Any

import numpy as np

from backends.crender import kernels as K
from backends.crender.dialect import Dialect
from engine.train import rules

_i32 = np.int32
#: Rows at least this long get a work-group each; shorter rows a thread each.
SOFTMAX_TREE_MIN_R = 128
#: Variables per launch of an ``*_update_many`` kernel: OpenCL promises only 1024 bytes of
#: kernel arguments, and 8 Adam variables take 56 buffers.
MANY_MAX = 8


def render_softmax(d: Dialect, dtype: str, wg: int) -> str:
    """``softmax_tree`` (a work-group per row, local-memory trees for max and sum) and
    ``softmax_serial`` (a thread per row) over the middle axis of (O, R, I); ``log_`` picks
    log_softmax."""
    t, g, s = d.ctype(dtype), d.global_qual, "_f32" if dtype == "float32" else "_f64"
    inf = d.inf(dtype)
    write = """
    {t} z = x[j] - m;
    out[j] = log_ ? z - ls : exp(z) / sum;"""
    write = write.format(t=t)
    body = f"""
{d.kernel_prefix} void softmax_serial({g} {t}* out, {g} const {t}* x, int R, int I, int n,
                                       int log_) {{
  int o = {d.global_id()};
  if (o >= n) return;
  int base = (o / I) * R * I + (o % I);
  {t} m = -{inf};
  for (int r = 0; r < R; ++r) m = tw_max{s}(m, x[base + r * I]);
  {t} sum = ({t})0;
  for (int r = 0; r < R; ++r) sum += exp(x[base + r * I] - m);
  {t} ls = log(sum);
  for (int r = 0; r < R; ++r) {{
    int j = base + r * I;{write}
  }}
}}
{d.kernel_prefix} void softmax_tree({g} {t}* out, {g} const {t}* x, int R, int I, int log_) {{
  {d.local_qual} {t} buf[{wg}];
  int o = {d.group_id()};
  int l = {d.local_id()};
  int base = (o / I) * R * I + (o % I);
  {t} m = -{inf};
  for (int r = l; r < R; r += {wg}) m = tw_max{s}(m, x[base + r * I]);
  buf[l] = m;
  {d.barrier}
  for (int k = {wg // 2}; k > 0; k >>= 1) {{
    if (l < k) buf[l] = tw_max{s}(buf[l], buf[l + k]);
    {d.barrier}
  }}
  m = buf[0];
  {d.barrier}
  {t} sum = ({t})0;
  for (int r = l; r < R; r += {wg}) sum += exp(x[base + r * I] - m);
  buf[l] = sum;
  {d.barrier}
  for (int k = {wg // 2}; k > 0; k >>= 1) {{
    if (l < k) buf[l] = buf[l] + buf[l + k];
    {d.barrier}
  }}
  sum = buf[0];
  {t} ls = log(sum);
  for (int r = l; r < R; r += {wg}) {{
    int j = base + r * I;{write}
  }}
}}
"""
    return K._program(d, (dtype,), body)


#: The optimizer updates rendered here: every rule of ``engine.train.rules`` (each also has a
#: ``<name>_many`` form).
UPDATES: tuple[str, ...] = tuple(rules.RULES)


def _spell(suffix: str) -> dict[str, str]:
    """C spellings of the rule functions (``tw_*`` are the prelude's NaN-aware helpers)."""
    return {
        "**": "pow({0}, {1})",
        "sqrt": "sqrt({0})",
        "abs": "fabs({0})",
        "sign": f"tw_sign{suffix}({{0}})",
        "max": f"tw_max{suffix}({{0}}, {{1}})",
        "clip": f"tw_min{suffix}(tw_max{suffix}({{0}}, {{1}}), {{2}})",
    }


def update_code(name: str, dtype: str, flag: bool) -> tuple[int, tuple[str, ...], str]:
    """(slot count, scalar names, C statements) of the update ``name``'s ``flag`` form: the
    statements read ``w[i]``, ``gr[i]``, ``s0[i]``.. and the scalars ``v_<name>``, and write
    ``nw[i]``, ``ns0[i]``.. (``engine.train.rules``, rendered with the rule's operation order)."""
    r = rules.rule(name)
    var = r.variant(flag)
    t = "float" if dtype == "float32" else "double"
    spell = _spell("_f32" if dtype == "float32" else "_f64")
    body, final = rules.ssa(var.body, ["w", "g", *var.slots])
    stmts = [f"{t} v_w = w[i];", f"{t} v_g = gr[i];"]
    stmts += [f"{t} v_{s} = s{k}[i];" for k, s in enumerate(var.slots)]
    for local, expr in body:
        stmts.append(f"{t} v_{local} = {rules.render_bare(expr, lambda n: 'v_' + n, spell)};")
    stmts += [f"ns{k}[i] = v_{final[s]};" for k, s in enumerate(var.slots)]
    stmts.append(f"nw[i] = v_{final['w']};")
    return len(var.slots), r.packed, " ".join(stmts)


def render_update(d: Dialect, name: str, dtype: str, flag: bool = False) -> str:
    """One elementwise kernel ``name`` applying an optimizer step (its ``flag`` form) to
    contiguous buffers."""
    nslots, scalars, stmts = update_code(name, dtype, flag)
    t, g = d.ctype(dtype), d.global_qual
    params = [f"{g} {t}* nw"] + [f"{g} {t}* ns{k}" for k in range(nslots)]
    params += [f"{g} const {t}* w", f"{g} const {t}* gr"]
    params += [f"{g} const {t}* s{k}" for k in range(nslots)]
    params += [f"{t} v_{s}" for s in scalars] + ["int n"]
    body = f"""
{d.kernel_prefix} void {name}({", ".join(params)}) {{
  int i = {d.global_id()};
  if (i >= n) return;
  {stmts}
}}
"""
    return K._program(d, (dtype,), body)


def render_update_many(d: Dialect, name: str, dtype: str, nvars: int, flag: bool = False) -> str:
    """``<name>_many``: the update ``name`` (its ``flag`` form) of ``nvars`` variables in one
    launch over their concatenated index range (variable ``v`` owns ``[o_v, o_{v+1})``;
    ``o_0 = 0``, the last bound is ``n``)."""
    nslots, scalars, stmts = update_code(name, dtype, flag)
    t, g = d.ctype(dtype), d.global_qual
    params: list[str] = []
    blocks: list[str] = []
    for v in range(nvars):
        params += [f"{g} {t}* nw_{v}"] + [f"{g} {t}* ns{k}_{v}" for k in range(nslots)]
        params += [f"{g} const {t}* w_{v}", f"{g} const {t}* gr_{v}"]
        params += [f"{g} const {t}* s{k}_{v}" for k in range(nslots)]
        code = re.sub(r"\b(nw|ns\d|w|gr|s\d)\[i\]", rf"\1_{v}[i]", stmts)
        guard = f"if (j < o{v + 1}) " if v < nvars - 1 else ""
        start = f"j - o{v}" if v else "j"
        blocks.append(f"{guard}{{ int i = {start}; {code} }}")
    params += [f"{t} v_{s}" for s in scalars]
    params += [f"int o{v}" for v in range(1, nvars)] + ["int n"]
    body = f"""
{d.kernel_prefix} void {name}_many({", ".join(params)}) {{
  int j = {d.global_id()};
  if (j >= n) return;
  {chr(10).join("  " + ("else " if v else "") + b for v, b in enumerate(blocks)).strip()}
}}
"""
    return K._program(d, (dtype,), body)


class FusedOps:
    """Mixin for ``RenderedBackend``: the fused composites listed in its ``fused``."""

    FUSED = frozenset({"softmax", "log_softmax", *UPDATES, *(f"{u}_many" for u in UPDATES)})

    def _softmax(self: Any, x: Any, shape: tuple, dtype: str, axis: int, log_: bool) -> Any:
        self._check_dtype(dtype)
        o, r, i = prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])
        out = self._empty(shape, dtype)
        if o * r * i == 0:
            return out
        src = self._source(render_softmax, dtype, self.group_size)
        if r < SOFTMAX_TREE_MIN_R:
            args = [out, x, _i32(r), _i32(i), _i32(o * i), _i32(log_)]
            self._run1d(src, "softmax_serial", o * i, args)
        else:
            kern = self._kernel(src, "softmax_tree")
            self._launch(kern, (o * i,), (self.group_size,), [out, x, _i32(r), _i32(i), _i32(log_)])
        return out

    def softmax(self, x: Any, shape: tuple, dtype: str, axis: int) -> Any:
        """exp(x - max) / sum along ``axis`` in one kernel."""
        return self._softmax(x, shape, dtype, axis, False)

    def log_softmax(self, x: Any, shape: tuple, dtype: str, axis: int) -> Any:
        """(x - max) - log(sum(exp(x - max))) along ``axis`` in one kernel."""
        return self._softmax(x, shape, dtype, axis, True)

    def _update_scalars(self: Any, name: str, dtype: str, hyper: dict) -> tuple[list, bool]:
        """The scalar kernel arguments of update ``name`` for this step's ``hyper``
        (``engine.train.rules.scalars``, the packer every backend uses) and its flag."""
        values = rules.scalars(name, hyper)
        return [self._scalar(v, dtype) for v in values], rules.rule(name).flag_of(hyper)

    def _update(
        self: Any, name: str, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, hyper: dict
    ) -> tuple:
        self._check_dtype(dtype)
        sc, flag = self._update_scalars(name, dtype, hyper)
        nslots = rules.slot_count(name, flag)
        if len(slots) != nslots:
            raise ValueError(f"{name}: expected {nslots} slot buffers, got {len(slots)}")
        outs = [self._empty(shape, dtype) for _ in range(nslots + 1)]
        n = prod(shape)
        if n:
            self._run1d(
                self._source(render_update, name, dtype, flag),
                name,
                n,
                [*outs, w, g, *slots, *sc, _i32(n)],
            )
        return tuple(outs)

    def _update_many(
        self: Any,
        name: str,
        shapes: list,
        dtype: str,
        ws: list,
        gs: list,
        slots: list,
        hyper: dict,
    ) -> list[tuple]:
        self._check_dtype(dtype)
        sc, flag = self._update_scalars(name, dtype, hyper)
        nslots = rules.slot_count(name, flag)
        if not len(shapes) == len(ws) == len(gs) == len(slots):
            raise ValueError(
                f"{name}_many: {len(shapes)} shapes, {len(ws)} variables, {len(gs)} gradients "
                f"and {len(slots)} slot tuples; expected one of each per variable"
            )
        for sl in slots:
            if len(sl) != nslots:
                raise ValueError(f"{name}_many: expected {nslots} slot buffers, got {len(sl)}")
        sizes = [prod(shape) for shape in shapes]
        if sum(sizes) >= 2**31:
            raise ValueError(f"{name}_many: {sum(sizes)} elements in all, expected < 2**31")
        outs = [tuple(self._empty(shape, dtype) for _ in range(nslots + 1)) for shape in shapes]
        live = [v for v, size in enumerate(sizes) if size]
        for c in range(0, len(live), MANY_MAX):
            part = live[c : c + MANY_MAX]
            args: list[Any] = []
            for v in part:
                args += [*outs[v], ws[v], gs[v], *slots[v]]
            bounds = np.cumsum([sizes[v] for v in part]).tolist()
            args += sc + [_i32(o) for o in bounds]
            src = self._source(render_update_many, name, dtype, len(part), flag)
            self._run1d(src, f"{name}_many", bounds[-1], args)
        return outs


def _single(name: str) -> Any:
    def update(self: Any, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any):
        return self._update(name, shape, dtype, w, g, slots, hyper)

    update.__name__ = update.__qualname__ = name
    update.__doc__ = f"``{name}`` (engine.train.rules) in one kernel: ``(new_w, *new_slots)``."
    return update


def _many(name: str) -> Any:
    def update_many(
        self: Any, shapes: list, dtype: str, ws: list, gs: list, slots: list, **hyper: Any
    ) -> list[tuple]:
        return self._update_many(name, shapes, dtype, ws, gs, slots, hyper)

    update_many.__name__ = update_many.__qualname__ = f"{name}_many"
    update_many.__doc__ = f"Every variable's ``{name}`` in as few launches as ``MANY_MAX`` allows."
    return update_many


# One method per rule and its ``_many`` form: a rule added to engine.train.rules is offered here.
for _name in UPDATES:
    setattr(FusedOps, _name, _single(_name))
    setattr(FusedOps, f"{_name}_many", _many(_name))
