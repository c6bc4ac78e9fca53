"""Reductions of the ``cpu`` backend: ``reduce`` (sum, prod, max, min, any, all over any
axes), ``arg_reduce`` (argmax, argmin) and ``cumsum``.

``reduce_plan`` turns the reduced axes into passes over (P, R, Q) views; each pass picks a row,
split-row or middle-axis kernel of ``backends.cpu.kernels``. Splitting depends on the shape
only, so serial and parallel runs give bit-identical results.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numba
import numpy as np

from backends.cpu import kernels as K
from backends.cpu.launch import Launch
from backends.cpu.primitives.common import (
    BOOL,
    F32,
    MIN_BLOCK,
    L,
    PrimitiveBase,
    fill_into,
    prod,
    scalars,
)

REDUCE = {name: i for i, name in enumerate(K.REDUCE)}
REDUCE_IDENTITY = {"sum": 0, "prod": 1, "any": False, "all": True}
#: Rows longer than this reduce in chunks of this many elements (a multiple of the kernels'
#: 4096-element summation block), in parallel when large enough.
SPLIT_CHUNK = 1 << 16
#: The "no int32 view" argument of ``arg_reduce`` (only float32 rows compare as int32 keys).
NO_BITS = np.empty(0, np.int32)


@functools.lru_cache(maxsize=4096)
def reduce_plan(shape: tuple, axes: tuple) -> tuple[tuple, tuple]:
    """Output shape and the (P, R, Q) passes that reduce ``axes`` of ``shape``.

    Adjacent kept / reduced dims merge into groups (size-1 dims are dropped); each pass reduces
    the last remaining reduced group as the middle axis of a (P, R, Q) view.
    """
    red_axes = set(axes)
    out_shape = tuple(s for i, s in enumerate(shape) if i not in red_axes)
    groups: list[list] = []
    for i, s in enumerate(shape):
        if s == 1:
            continue
        red = i in red_axes
        if groups and groups[-1][1] == red:
            groups[-1][0] *= s
        else:
            groups.append([s, red])
    steps = []
    while any(g[1] for g in groups):
        g = max(i for i, grp in enumerate(groups) if grp[1])
        p = prod(grp[0] for grp in groups[:g])
        q = prod(grp[0] for grp in groups[g + 1 :])
        steps.append((p, groups[g][0], q))
        del groups[g]
        if 0 < g < len(groups) and groups[g - 1][1] == groups[g][1]:
            groups[g - 1][0] *= groups[g][0]
            del groups[g]
    return out_shape, tuple(steps)


class ReducePrimitives(PrimitiveBase):
    """Reductions, arg-reductions and cumulative sums."""

    def reduce(
        self, op: str, x: np.ndarray, shape: tuple, dtype: str, axes: Sequence[int]
    ) -> np.ndarray:
        code = REDUCE.get(op)
        if code is None:
            raise ValueError(f"unknown reduce op {op!r}; expected one of {list(K.REDUCE)}")
        dt = x.dtype
        if (dt == BOOL) != (op in ("any", "all")) and op not in ("max", "min"):
            raise TypeError(
                f"reduce {op!r} is not defined for dtype {dt} (any/all need bool input, "
                "sum/prod need numbers; the engine casts first)"
            )
        out_shape, steps = reduce_plan(tuple(shape), tuple(axes))
        if prod(out_shape) == 0:
            return self._empty(out_shape, dt)
        if x.size == 0:
            if op not in REDUCE_IDENTITY:
                raise ValueError(f"reduce {op!r}: cannot reduce an empty axis of shape {shape}")
            out = self._empty(out_shape, dt)
            self._launch(fill_into, out, REDUCE_IDENTITY[op])
            return out
        if not steps:  # only size-1 axes reduced: a fresh copy
            out = self._empty(out_shape, dt)
            self._launch(np.copyto, out, x.reshape(out_shape))
            return out
        zero, one = scalars(dt)
        cur = x.reshape(-1)
        for p, r, q in steps:
            cur = self._reduce_prq(code, cur, p, r, q, zero, one)
        return cur.reshape(out_shape)

    def _reduce_prq(
        self, code: int, x: np.ndarray, p: int, r: int, q: int, zero, one
    ) -> np.ndarray:
        total = p * r * q
        nt = numba.get_num_threads()
        if q == 1 and (code == 2 or code == 3) and x.dtype == F32:
            return self._f32_extreme_rows(code == 2, x, p, r).view(np.float32)
        out = self._empty(p * q, x.dtype)
        if q == 1 and r > SPLIT_CHUNK:
            # Long rows: fixed-size chunk partials, then the partials. The chunking depends on
            # the shape only, so serial and parallel runs give bit-identical sums.
            k = -(-r // SPLIT_CHUNK)
            partial = self._empty(p * k, x.dtype)
            args = (code, x, partial, r, k, SPLIT_CHUNK, zero, one)
            self._run(
                total,
                ("reduce", code, x.dtype.char),
                L(K.reduce_rows_split, (*args, 0, p * k), (3, 4, 5, 8, 9)),
                lambda: L(K.reduce_rows_split_par, args, (3, 4, 5)),
                2,
            )
            self._submit(L(K.reduce_rows, (code, partial, out, k, zero, one, 0, p), (3, 6, 7)))
        elif q == 1:
            serial = L(K.reduce_rows, (code, x, out, r, zero, one, 0, p), (3, 6, 7))
            par = (
                (
                    lambda: L(
                        K.reduce_rows_par,
                        (code, x, out, r, zero, one, self._rows_per_task(p, r)),
                        (3, 6),
                    )
                )
                if p > 1
                else None
            )
            self._run(total, ("reduce", code, x.dtype.char), serial, par, 2)
        elif p < 8 and r * q > 2 * SPLIT_CHUNK and r >= 4:
            # Few, long reductions over a leading axis: blocks of rows into partial rows, then
            # the partials. Blocking depends on the shape only (serial == parallel, bitwise).
            chunk_rows = max(2, SPLIT_CHUNK // q)
            k = -(-r // chunk_rows)
            partial = self._empty(p * k * q, x.dtype)
            args = (code, x, partial, r, q, k, chunk_rows)
            self._run(
                total,
                ("reduce", code, x.dtype.char),
                L(K.reduce_mid_split, (*args, 0, p * k), (3, 4, 5, 6, 7, 8)),
                lambda: L(K.reduce_mid_split_par, args, (3, 4, 5, 6)),
                2,
            )
            self._submit(
                L(K.reduce_mid, (code, partial, out, k, q, 0, p, 0, q), (3, 4, 5, 6, 7, 8))
            )
        else:
            per_p = max(1, -(-4 * nt // p))
            q_chunk = max(-(-q // per_p), min(q, 256))
            self._run(
                total,
                ("reduce", code, x.dtype.char),
                L(K.reduce_mid, (code, x, out, r, q, 0, p, 0, q), (3, 4, 5, 6, 7, 8)),
                lambda: L(K.reduce_mid_par, (code, x, out, p, r, q, q_chunk), (3, 4, 5, 6)),
                2,
            )
        return out

    def _f32_extreme_rows(self, is_max: bool, x: np.ndarray, p: int, r: int) -> np.ndarray:
        """Row max/min of float32 through the vectorised int32-key kernel (returns bits)."""
        b = x.view(np.int32)
        out = self._empty(p, np.int32)
        nt = numba.get_num_threads()
        serial = L(K.reduce_f32_extreme_rows, (is_max, b, out, r, 0, p), (3, 4, 5))
        if p * r < 2 * self.parallel_threshold:
            self._submit(serial)
            return out
        par: Launch | tuple[Launch, ...]
        if p >= 2 * nt:
            per = self._rows_per_task(p, r)
            par = L(K.reduce_f32_extreme_rows_par, (is_max, b, out, r, per), (3, 4))
        else:
            k = max(1, min(-(-4 * nt // p), -(-r // MIN_BLOCK)))
            chunk = -(-r // k)
            k = -(-r // chunk)
            partial = self._empty(p * k, np.int32)
            par = (
                L(
                    K.reduce_f32_extreme_split_par,
                    (is_max, b, partial, p, r, k, chunk),
                    (3, 4, 5, 6),
                ),
                L(K.reduce_f32_extreme_rows, (is_max, partial, out, k, 0, p), (3, 4, 5)),
            )
        self._run(p * r, ("reduce_f32", is_max), serial, par, 2)
        return out

    def arg_reduce(self, op: str, x: np.ndarray, shape: tuple, dtype: str, axis: int) -> np.ndarray:
        if op not in ("argmax", "argmin"):
            raise ValueError(f"unknown arg-reduce op {op!r}; expected 'argmax' or 'argmin'")
        p, r, q = prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])
        out = self._empty(shape[:axis] + shape[axis + 1 :], np.int32)
        if out.size == 0:
            return out
        if r == 0:
            raise ValueError(f"{op}: cannot take {op} over an empty axis (shape {shape})")
        xf, of = x.reshape(-1), out.reshape(-1)
        is_max = op == "argmax"
        bits = xf.view(np.int32) if (q == 1 and x.dtype == np.float32) else NO_BITS
        serial = L(K.arg_reduce, (is_max, xf, bits, of, r, q, 0, p), (4, 5, 6, 7))
        par = (
            (
                lambda: L(
                    K.arg_reduce_par,
                    (is_max, xf, bits, of, p, r, q, self._rows_per_task(p, r * q)),
                    (4, 5, 6, 7),
                )
            )
            if p > 1
            else None
        )
        self._run(x.size, ("arg_reduce", q == 1, x.dtype.char), serial, par, 2)
        return out

    def cumsum(
        self, x: np.ndarray, shape: tuple, dtype: str, axis: int, exclusive: bool, reverse: bool
    ) -> np.ndarray:
        p, r, q = prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])
        out = self._empty(shape, x.dtype)
        if out.size == 0:
            return out
        xf, of = x.reshape(-1), out.reshape(-1)
        ex, rev = bool(exclusive), bool(reverse)
        serial = L(K.cumsum, (xf, of, r, q, ex, rev, 0, p), (2, 3, 6, 7))
        par = (
            (
                lambda: L(
                    K.cumsum_par,
                    (xf, of, p, r, q, ex, rev, self._rows_per_task(p, r * q)),
                    (2, 3, 4, 7),
                )
            )
            if p > 1
            else None
        )
        self._run(x.size, "cumsum", serial, par)
        return out
