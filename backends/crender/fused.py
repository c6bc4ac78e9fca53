"""Fused engine composites on rendered kernels: softmax, log_softmax and optimizer updates.

Each replaces a chain of primitive launches by one kernel with the composite's arithmetic in
the same order (``engine.ops.activations``, ``engine.train.optimizers``); results can differ from
the chain in the last bit where the C compiler contracts a*b+c into a fused multiply-add.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from math import prod
from typing import Any

import numpy as np

from backends.crender import kernels as K
from backends.crender.dialect import Dialect

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


# name -> (slot count, scalar argument names, statements computing nw and ns0.. from w, gr, s0..)
UPDATES: dict[str, tuple[int, tuple[str, ...], str]] = {
    "sgd_update": (0, ("lr",), "nw[i] = w[i] - gr[i] * lr;"),
    "momentum_update": (
        1,
        ("lr", "mom", "nesterov"),
        "T a = s0[i] * mom + gr[i]; ns0[i] = a;"
        " T step = nesterov ? gr[i] + a * mom : a; nw[i] = w[i] - step * lr;",
    ),
    "adam_update": (
        2,
        ("lr", "b1", "c1", "b2", "c2", "bc1", "bc2", "eps"),
        "T m = s0[i] * b1 + gr[i] * c1; T v = s1[i] * b2 + (gr[i] * gr[i]) * c2;"
        " ns0[i] = m; ns1[i] = v;"
        " T step = (m / bc1) / (sqrt(v / bc2) + eps); nw[i] = w[i] - step * lr;",
    ),
    # Keras 3 optimizers, in the forms of their composites (engine.train.optimizers)
    "adamw_update": (
        2,
        ("lr", "wd", "c1", "c2", "alpha", "eps"),
        "T wdec = w[i] - (w[i] * wd) * lr; T m = s0[i] + (gr[i] - s0[i]) * c1;"
        " T v = s1[i] + (gr[i] * gr[i] - s1[i]) * c2; ns0[i] = m; ns1[i] = v;"
        " nw[i] = wdec - (m * alpha) / (sqrt(v) + eps);",
    ),
    "nadam_update": (
        2,
        ("c1", "c2", "cm", "cg", "bc2", "lr", "eps"),
        "T m = s0[i] + (gr[i] - s0[i]) * c1; T v = s1[i] + (gr[i] * gr[i] - s1[i]) * c2;"
        " ns0[i] = m; ns1[i] = v; T mh = m * cm + gr[i] * cg;"
        " nw[i] = w[i] - (mh * lr) / (sqrt(v / bc2) + eps);",
    ),
    "lion_update": (
        1,
        ("lr", "b1", "c1", "b2", "c2"),
        "T u = s0[i] * b1 + gr[i] * c1; T st = u > 0 ? lr : (u < 0 ? -lr : u * lr);"
        " nw[i] = w[i] - st; ns0[i] = s0[i] * b2 + gr[i] * c2;",
    ),
    "ftrl_update": (
        2,
        ("lr", "q", "l1", "l2x2", "sh2"),
        "T g2 = gr[i] + w[i] * sh2; T na = s0[i] + gr[i] * gr[i]; T pn = pow(na, q);"
        " T lin = s1[i] + (g2 - ((pn - pow(s0[i], q)) / lr) * w[i]); T quad = pn / lr + l2x2;"
        " T cl = lin > -l1 ? lin : -l1; cl = cl < l1 ? cl : l1;"
        " ns0[i] = na; ns1[i] = lin; nw[i] = (cl - lin) / quad;",
    ),
}


def _nadam(
    lr: float, beta1: float, beta2: float, epsilon: float, t: int, u_product: float
) -> tuple:
    """Nadam's scalars: ``u_t = b1*(1 - 0.5*0.96^t)``, ``U_t = u_product*u_t``;
    ``cm = u_{t+1}/(1 - U_t*u_{t+1})``, ``cg = (1 - u_t)/(1 - U_t)``, ``bc2 = 1 - b2^t``."""
    u_t = beta1 * (1 - 0.5 * 0.96**t)
    u_t1 = beta1 * (1 - 0.5 * 0.96 ** (t + 1))
    up_t = u_product * u_t
    cm = u_t1 / (1 - up_t * u_t1)
    cg = (1 - u_t) / (1 - up_t)
    return (1 - beta1, 1 - beta2, cm, cg, 1 - beta2**t, lr, epsilon)


# name -> hyper keywords -> scalar values in UPDATES order (Python floats, as the composite).
HYPER: dict[str, Callable[..., tuple]] = {
    "sgd_update": lambda lr: (lr,),
    "momentum_update": lambda lr, momentum, nesterov: (lr, momentum, int(nesterov)),
    "adam_update": lambda lr, beta1, beta2, epsilon, t: (
        lr,
        beta1,
        1 - beta1,
        beta2,
        1 - beta2,
        1 - beta1**t,
        1 - beta2**t,
        epsilon,
    ),
    "adamw_update": lambda lr, weight_decay, beta1, beta2, epsilon, t: (
        lr,
        weight_decay,
        1 - beta1,
        1 - beta2,
        lr * math.sqrt(1 - beta2**t) / (1 - beta1**t),
        epsilon,
    ),
    "nadam_update": _nadam,
    "lion_update": lambda lr, beta1, beta2: (lr, beta1, 1 - beta1, beta2, 1 - beta2),
    "ftrl_update": lambda lr, lr_power, l1, l2, l2_shrinkage, beta: (
        lr,
        -lr_power,
        l1,
        2 * (l2 + beta / (2 * lr)),
        2 * l2_shrinkage,
    ),
}


def render_update(d: Dialect, name: str, dtype: str) -> str:
    """One elementwise kernel ``name`` applying an optimizer step to contiguous buffers."""
    nslots, scalars, stmts = UPDATES[name]
    t, g = d.ctype(dtype), d.global_qual
    params = [f"{g} {t}* nw"] + [f"{g} {t}* ns{k}" for k in range(nslots)]
    params += [f"{g} const {t}* w", f"{g} const {t}* gr"]
    params += [f"{g} const {t}* s{k}" for k in range(nslots)]
    params += [f"int {s}" if s == "nesterov" else f"{t} {s}" for s in scalars] + ["int n"]
    body = f"""
{d.kernel_prefix} void {name}({", ".join(params)}) {{
  int i = {d.global_id()};
  if (i >= n) return;
  {stmts.replace("T ", f"{t} ")}
}}
"""
    return K._program(d, (dtype,), body)


def render_update_many(d: Dialect, name: str, dtype: str, nvars: int) -> str:
    """``<name>_many``: the update ``name`` of ``nvars`` variables in one launch over their
    concatenated index range (variable ``v`` owns ``[o_v, o_{v+1})``; ``o_0 = 0``, the last
    bound is ``n``)."""
    nslots, scalars, stmts = UPDATES[name]
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
        blocks.append(f"{guard}{{ int i = {start}; {code.replace('T ', f'{t} ')} }}")
    params += [f"int {s}" if s == "nesterov" else f"{t} {s}" for s in scalars]
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

    def _update_scalars(self: Any, name: str, dtype: str, hyper: dict) -> list:
        """The scalar kernel arguments of update ``name`` for this step's ``hyper``."""
        return [
            _i32(v) if s == "nesterov" else self._scalar(v, dtype)
            for s, v in zip(UPDATES[name][1], HYPER[name](**hyper), strict=True)
        ]

    def _update(
        self: Any, name: str, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, hyper: dict
    ) -> tuple:
        self._check_dtype(dtype)
        nslots = UPDATES[name][0]
        if len(slots) != nslots:
            raise ValueError(f"{name}: expected {nslots} slot buffers, got {len(slots)}")
        outs = [self._empty(shape, dtype) for _ in range(nslots + 1)]
        n = prod(shape)
        if n:
            sc = self._update_scalars(name, dtype, hyper)
            self._run1d(
                self._source(render_update, name, dtype),
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
        nslots = UPDATES[name][0]
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
        sc = self._update_scalars(name, dtype, hyper)
        live = [v for v, size in enumerate(sizes) if size]
        for c in range(0, len(live), MANY_MAX):
            part = live[c : c + MANY_MAX]
            args: list[Any] = []
            for v in part:
                args += [*outs[v], ws[v], gs[v], *slots[v]]
            bounds = np.cumsum([sizes[v] for v in part]).tolist()
            args += sc + [_i32(o) for o in bounds]
            src = self._source(render_update_many, name, dtype, len(part))
            self._run1d(src, f"{name}_many", bounds[-1], args)
        return outs

    def sgd_update_many(
        self, shapes: list, dtype: str, ws: list, gs: list, slots: list, **hyper: Any
    ) -> list[tuple]:
        """Every variable's ``sgd_update`` in as few launches as ``MANY_MAX`` allows."""
        return self._update_many("sgd_update", shapes, dtype, ws, gs, slots, hyper)

    def momentum_update_many(
        self, shapes: list, dtype: str, ws: list, gs: list, slots: list, **hyper: Any
    ) -> list[tuple]:
        """Every variable's ``momentum_update`` in as few launches as ``MANY_MAX`` allows."""
        return self._update_many("momentum_update", shapes, dtype, ws, gs, slots, hyper)

    def adam_update_many(
        self, shapes: list, dtype: str, ws: list, gs: list, slots: list, **hyper: Any
    ) -> list[tuple]:
        """Every variable's ``adam_update`` in as few launches as ``MANY_MAX`` allows."""
        return self._update_many("adam_update", shapes, dtype, ws, gs, slots, hyper)

    def sgd_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any
    ) -> tuple:
        return self._update("sgd_update", shape, dtype, w, g, slots, hyper)

    def momentum_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any
    ) -> tuple:
        return self._update("momentum_update", shape, dtype, w, g, slots, hyper)

    def adam_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any
    ) -> tuple:
        return self._update("adam_update", shape, dtype, w, g, slots, hyper)

    def adamw_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any
    ) -> tuple:
        """AdamW (Keras 3) in one kernel."""
        return self._update("adamw_update", shape, dtype, w, g, slots, hyper)

    def adamw_update_many(
        self, shapes: list, dtype: str, ws: list, gs: list, slots: list, **hyper: Any
    ) -> list[tuple]:
        """Every variable's ``adamw_update`` in as few launches as ``MANY_MAX`` allows."""
        return self._update_many("adamw_update", shapes, dtype, ws, gs, slots, hyper)

    def nadam_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any
    ) -> tuple:
        """Nadam (Keras 3) in one kernel."""
        return self._update("nadam_update", shape, dtype, w, g, slots, hyper)

    def nadam_update_many(
        self, shapes: list, dtype: str, ws: list, gs: list, slots: list, **hyper: Any
    ) -> list[tuple]:
        """Every variable's ``nadam_update`` in as few launches as ``MANY_MAX`` allows."""
        return self._update_many("nadam_update", shapes, dtype, ws, gs, slots, hyper)

    def lion_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any
    ) -> tuple:
        """Lion (Keras 3) in one kernel."""
        return self._update("lion_update", shape, dtype, w, g, slots, hyper)

    def lion_update_many(
        self, shapes: list, dtype: str, ws: list, gs: list, slots: list, **hyper: Any
    ) -> list[tuple]:
        """Every variable's ``lion_update`` in as few launches as ``MANY_MAX`` allows."""
        return self._update_many("lion_update", shapes, dtype, ws, gs, slots, hyper)

    def ftrl_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any
    ) -> tuple:
        """FTRL (Keras 3) in one kernel."""
        return self._update("ftrl_update", shape, dtype, w, g, slots, hyper)

    def ftrl_update_many(
        self, shapes: list, dtype: str, ws: list, gs: list, slots: list, **hyper: Any
    ) -> list[tuple]:
        """Every variable's ``ftrl_update`` in as few launches as ``MANY_MAX`` allows."""
        return self._update_many("ftrl_update", shapes, dtype, ws, gs, slots, hyper)
