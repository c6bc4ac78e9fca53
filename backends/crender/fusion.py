"""Fused elementwise kernels rendered for both dialects (OpenCL C and CUDA C) from one source.

``render_fused(d, expr, variant)`` turns an expression of ``engine.fusion`` (the format is
documented on ``fused_elementwise`` in ``backends.base``) into one program with one kernel:

- ``fused_c`` (``variant == ("c", flags)``): the iteration space collapses to one axis; each
  input is either the whole output (``"f"``: read at ``i``) or a scalar (``"s"``: read at 0).
- ``fused_s`` (``variant == ("s", rank)``): the strided template of ``kernels`` over a collapsed
  space of ``rank`` axes, every input with its own strides (0 on broadcast axes).

Each node is one expression of the shared op table (``ops``), stored in a local of its dtype's C
type, so it is rounded exactly as the unfused kernel's store rounds it. The C compilers may not
contract a product and a sum into a fused multiply-add across nodes (the unfused chain rounds in
between): OpenCL sources say ``#pragma OPENCL FP_CONTRACT OFF``, CUDA sources multiply floats
with ``__fmul_rn`` / ``__dmul_rn`` (never contracted). Results therefore equal the unfused
chain's on the same device.

``FusionOps`` is the mixin that gives ``RenderedBackend`` the ``fused_elementwise`` method.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

import numpy as np

from backends.base import check_fused_elementwise
from backends.crender import kernels as K
from backends.crender import ops
from backends.crender.dialect import CUDADialect, Dialect
from backends.crender.layout import broadcast_strides, collapse, padded

_i32 = np.int32


def _mul(d: Dialect, dtype: str, a: str, b: str) -> str | None:
    """A product the CUDA compiler never contracts into an FMA (None: use the op table)."""
    if isinstance(d, CUDADialect) and dtype in ("float32", "float64"):
        fn = "__fmul_rn" if dtype == "float32" else "__dmul_rn"
        return f"{fn}({a}, {b})"
    return None


def node_expr(
    d: Dialect, op: str, dtype: str, arg_dtypes: Sequence[str], args: Sequence[str]
) -> str:
    """The C expression of one node of ``dtype`` from the named values ``args``."""
    if op == "cast":
        return K.cast_expr(d, arg_dtypes[0], dtype).replace("v0", args[0])
    if op == "where":
        return f"({args[0]} ? {args[1]} : {args[2]})"
    kind = arg_dtypes[0]
    ctype = d.ctype(kind)
    if len(args) == 1:
        if op == "square":
            m = _mul(d, kind, args[0], args[0])
            if m is not None:
                return m
        return ops.expr(ops.UNARY, op, kind, ctype, x=args[0])
    if op == "mul":
        m = _mul(d, kind, args[0], args[1])
        if m is not None:
            return m
    return ops.expr(ops.BINARY, op, kind, ctype, a=args[0], b=args[1])


def render_fused(d: Dialect, expr: tuple, variant: tuple) -> str:
    """One program with the kernel ``fused_c`` or ``fused_s`` (see the module docstring)."""
    in_dts, nodes, outs = expr
    n_in = len(in_dts)
    dts = list(in_dts) + [dt for _, dt, _ in nodes]
    g = d.global_qual
    names = [f"in{k}" for k in range(n_in)]
    params = [f"{g} {d.ctype(dts[v])}* out{k}" for k, v in enumerate(outs)]
    params += [f"{g} const {d.ctype(t)}* {n}" for t, n in zip(in_dts, names, strict=True)]
    mode, arg = variant
    if mode == "c":
        loads = [
            f"{d.ctype(t)} v{k} = in{k}[{'0' if f == 's' else 'i'}];"
            for k, (t, f) in enumerate(zip(in_dts, arg, strict=True))
        ]
        head = f"{d.kernel_prefix} void fused_c({', '.join(params)}, int n) {{"
        index = ""
    else:
        rank = int(arg)
        loads = [f"{d.ctype(t)} v{k} = in{k}[off_in{k}];" for k, t in enumerate(in_dts)]
        strided = K._strided_args(names, rank) if names else K._dims("d", rank)
        head = f"{d.kernel_prefix} void fused_s({', '.join(params)}, int n, {strided}) {{"
        index = K._offsets("i", names, rank)
    lines = [head, f"  int i = {d.global_id()};", "  if (i >= n) return;"]
    if index:
        lines.append("  " + index)
    lines += ["  " + ln for ln in loads]
    for j, (op, dt, args) in enumerate(nodes):
        e = node_expr(d, op, dt, [dts[a] for a in args], [f"v{a}" for a in args])
        t = d.ctype(dt)
        lines.append(f"  {t} v{n_in + j} = ({t})({e});")
    lines += [f"  out{k}[i] = v{v};" for k, v in enumerate(outs)]
    lines.append("}")
    body = "\n" + "\n".join(lines) + "\n"
    pragma = "#pragma OPENCL FP_CONTRACT OFF\n" if not isinstance(d, CUDADialect) else ""
    return pragma + K._program(d, tuple(dict.fromkeys(dts)), body)


class FusionOps:
    """Mixin for ``RenderedBackend``: ``fused_elementwise`` (listed in ``FUSED``)."""

    FUSED = frozenset({"fused_elementwise"})

    def fused_elementwise(
        self: Any,
        expr: tuple,
        bufs: Sequence[Any],
        in_shapes: Sequence[tuple],
        shape: tuple,
        out_shapes: Sequence[tuple],
    ) -> tuple:
        """A fused elementwise chain (``engine.fusion``) in one rendered kernel launch."""
        in_dts, nodes, outs = expr
        n_in = check_fused_elementwise(expr, bufs, in_shapes, out_shapes)
        for dt in {*in_dts, *(dt for _, dt, _ in nodes)}:
            self._check_dtype(dt)
        results = tuple(
            self._empty(s, nodes[v - n_in][1]) for s, v in zip(out_shapes, outs, strict=True)
        )
        n = prod(shape)
        if n == 0:
            return results
        strides = [broadcast_strides(s, shape) for s in in_shapes]
        cshape, sts = collapse(shape, *strides)
        if len(cshape) == 1 and all(st[0] in (0, 1) for st in sts):
            flags = tuple("s" if st[0] == 0 else "f" for st in sts)
            src = self._source(render_fused, expr, ("c", flags))
            self._run1d(src, "fused_c", n, [*results, *bufs, _i32(n)])
        else:
            src = self._source(render_fused, expr, ("s", len(cshape)))
            dims = padded(cshape, sts, "fused_elementwise")
            self._run1d(src, "fused_s", n, [*results, *bufs, _i32(n), *map(_i32, dims)])
        return results
