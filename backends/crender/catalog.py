"""Every program the renderer can produce for a dialect (compile tests walk this list)."""

from __future__ import annotations

from collections.abc import Iterator

from backends.crender import kernels as K
from backends.crender import ops
from backends.crender.dialect import Dialect
from backends.crender.fused import (
    MANY_MAX,
    UPDATES,
    render_softmax,
    render_update,
    render_update_many,
)
from backends.crender.kernels import MAX_RANK, REDUCE_COMBINE
from engine.train import rules

DTYPES = ("float32", "int32", "bool", "float64")


def sources(
    d: Dialect, dtypes: tuple[str, ...] = DTYPES, group: int = 256
) -> Iterator[tuple[str, str]]:
    """(label, source) for every op and template over ``dtypes``."""
    for dt in dtypes:
        for op in ops.UNARY:
            if ops.supports(ops.UNARY, op, dt):
                yield f"unary_{op}_{dt}", K.render_unary(d, op, dt)
        for op in ops.BINARY:
            if ops.supports(ops.BINARY, op, dt):
                yield f"binary_{op}_{dt}", K.render_binary(d, op, dt)
        yield f"where_{dt}", K.render_where(d, dt)
        for dst in dtypes:
            if dst != dt:
                yield f"cast_{dt}_{dst}", K.render_cast(d, dt, dst)
        for op, table in REDUCE_COMBINE.items():
            if ops.KINDS[dt] in table:
                yield f"reduce_{op}_{dt}", K.render_reduce(d, op, dt, group)
        if dt != "bool":
            for op in ("argmax", "argmin"):
                yield f"{op}_{dt}", K.render_arg_reduce(d, op, dt, group)
            yield f"cumsum_{dt}", K.render_cumsum(d, dt)
            for tile, wpt in K.GEMM_CONFIGS:
                yield f"matmul_{dt}_{tile}_{wpt}", K.render_matmul(d, dt, tile, wpt)
        yield f"scatter_add_{dt}", K.render_scatter_add(d, dt)
        yield f"one_hot_{dt}", K.render_one_hot(d, dt)
        yield f"fill_{dt}", K.render_fill(d, dt)
        if dt in ("float32", "float64"):
            yield f"softmax_{dt}", render_softmax(d, dt, group)
            for name in UPDATES:
                for flag in sorted(rules.rule(name).variants):
                    tag = f"{name}{'_flag' if flag else ''}"
                    yield f"{tag}_{dt}", render_update(d, name, dt, flag)
                    for nvars in (1, 2, MANY_MAX):
                        src = render_update_many(d, name, dt, nvars, flag)
                        yield f"{tag}_many{nvars}_{dt}", src
    yield "matmul_naive_float32", K.render_naive_matmul(d, "float32")
    for k in (1, 2, 3, MAX_RANK):
        yield f"ravel_indices_{k}", K.render_ravel_indices(d, k)
    for size in (1, 4, 8):
        yield f"copy_{size}", K.render_copy(d, size)
        yield f"gather_{size}", K.render_gather(d, size)
