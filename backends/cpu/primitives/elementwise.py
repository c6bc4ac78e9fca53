"""Elementwise primitives of the ``cpu`` backend: ``unary``, ``binary``, ``where``, ``cast``
and ``fused_elementwise``.

The numba kernels and their op codes are generated from the engine's op table
(``engine.optable`` -> ``backends.cpu.elementwise`` -> ``backends.cpu.kernels``); this module
only picks the kernel for an op and dtype and describes the call as launch records. Large
serial float add/sub/mul/div run through numpy's loop (bit-identical, faster there); large
parallel ones of one shape may use non-temporal stores (``backends.cpu.native.stream``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backends.base import numpy_dtype
from backends.cpu import fusion
from backends.cpu import kernels as K
from backends.cpu.launch import broadcast_strides
from backends.cpu.native import stream as S
from backends.cpu.primitives.common import BOOL, FLOATS, INT32, RAW, L, PrimitiveBase, scalars

UNARY_FLOAT = {name: i for i, name in enumerate(K.UNARY_FLOAT)}
UNARY_INT = {name: i for i, name in enumerate(K.UNARY_INT)}
UNARY_PRED = {name: i for i, name in enumerate(K.UNARY_PRED)}
BINARY_ARITH = {name: i for i, name in enumerate(K.BINARY_ARITH)}
BINARY_CMP = {name: i for i, name in enumerate(K.BINARY_CMP)}

# Correctly rounded in numpy's loops as in ours (bit-identical results): binary() runs large
# serial calls of these through numpy.
NP_ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}

#: Parallel float add/sub/mul/div of same-shape contiguous operands with an output of
#: [STREAM_MIN_BYTES, STREAM_MAX_BYTES) is written with non-temporal stores (``stream.py``,
#: x86-64). Below, the output would stay in cache for its reader; from 32 MiB (glibc's largest
#: mmap threshold) every fresh output is new zero-filled pages, whose lines the kernel's zeroing
#: already brought into cache: streaming lost there (add_16m 1.37x -> 1.04x numpy).
STREAM_MIN_BYTES = 8 << 20
STREAM_MAX_BYTES = 32 << 20


def ufunc_into(uf: Any, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``uf(a, b, out=out)`` without numpy's floating-point warnings (numba kernels raise
    none)."""
    with np.errstate(all="ignore"):
        uf(a, b, out=out)


def cast_into(out: np.ndarray, x: np.ndarray) -> None:
    """Cast ``x`` into ``out``: float to int32 truncates toward zero, NaN gives 0 and values
    beyond int32's range saturate (README "Numerics", as every backend)."""
    if out.dtype == np.int32 and x.dtype.kind == "f":
        x = np.where(np.isnan(x), 0.0, np.clip(x, -2147483648.0, 2147483647.0, dtype=np.float64))
    np.copyto(out, x, casting="unsafe")


class ElementwisePrimitives(PrimitiveBase):
    """Unary, binary, where, cast and fused elementwise chains."""

    def unary(self, op: str, x: np.ndarray, shape: tuple, dtype: str) -> np.ndarray:
        xf = x if x.ndim == 1 else x.reshape(-1)
        n = xf.size
        dt = x.dtype
        if op in UNARY_PRED:
            if op == "logical_not" and dt != BOOL:
                raise TypeError(f"unary {op!r} needs a bool input, got {dt}")
            out = self._empty(shape, BOOL)
            if n:
                code, of = UNARY_PRED[op], out.reshape(-1)
                self._run(
                    n,
                    ("unary", op, dt.char),
                    L(K.unary_pred, (code, xf, of, 0, n), (3, 4)),
                    lambda: L(K.unary_pred_par, (code, xf, of, self._block(n)), (3,)),
                )
            return out
        out = self._empty(shape, dt)
        if dt in FLOATS:
            code = UNARY_FLOAT.get(op)
            if code is None:
                raise ValueError(f"unknown unary op {op!r}; expected one of {sorted(UNARY_FLOAT)}")
            if n:
                one, of = scalars(dt)[1], (out if out.ndim == 1 else out.reshape(-1))
                self._run(
                    n,
                    ("unary", op, dt.char),
                    L(K.unary_float, (code, xf, of, one, 0, n), (4, 5)),
                    lambda: L(K.unary_float_par, (code, xf, of, one, self._block(n)), (4,)),
                )
            return out
        if dt == INT32:
            code = UNARY_INT.get(op)
            if code is None:
                raise TypeError(
                    f"unary {op!r} is not defined for int32 (the engine computes it in float32); "
                    f"int32 supports {sorted(UNARY_INT)} and the predicates"
                )
            if n:
                of = out.reshape(-1)
                self._run(
                    n,
                    ("unary", op, dt.char),
                    L(K.unary_int, (code, xf, of, 0, n), (3, 4)),
                    lambda: L(K.unary_int_par, (code, xf, of, self._block(n)), (3,)),
                )
            return out
        raise TypeError(
            f"unary {op!r} is not defined for dtype {dt}; expected float32/float64/int32"
        )

    def binary(
        self,
        op: str,
        a: np.ndarray,
        a_shape: tuple,
        b: np.ndarray,
        b_shape: tuple,
        out_shape: tuple,
        dtype: str,
    ) -> np.ndarray:
        dt = a.dtype
        code = BINARY_CMP.get(op)
        if code is not None:
            fn, fn_par, out_dt = K.binary_cmp, K.binary_cmp_par, BOOL
            if code == 4 or code == 5:  # a > b is b < a: one kernel loop fewer to compile
                code -= 2
                a, a_shape, b, b_shape = b, b_shape, a, a_shape
        else:
            code = BINARY_ARITH.get(op)
            if code is None:
                raise ValueError(
                    f"unknown binary op {op!r}; expected one of "
                    f"{sorted(BINARY_ARITH) + sorted(BINARY_CMP)}"
                )
            if dt in FLOATS:
                fn, fn_par = K.binary_float, K.binary_float_par
            elif dt == INT32:
                fn, fn_par = K.binary_int, K.binary_int_par
            else:
                raise TypeError(
                    f"binary {op!r} is not defined for dtype {dt}; expected float or int32"
                )
            out_dt = dt
        out = self._empty(out_shape, out_dt)
        n = out.size
        if n:
            shape, st = broadcast_strides((a_shape, b_shape), tuple(out_shape))
            uf = NP_ARITH.get(op) if out_dt in FLOATS else None
            args = (
                code,
                a if a.ndim == 1 else a.reshape(-1),
                b if b.ndim == 1 else b.reshape(-1),
                out if out.ndim == 1 else out.reshape(-1),
                shape,
                st,
            )
            thr = self.parallel_threshold
            if uf is not None and n >= thr:
                # Large serial runs (the chooser's or a loaded machine's pick): numpy's loop is
                # 10-20% faster than ours there (same IEEE results; ~0.5 us slower on tiny ones).
                serial = L(ufunc_into, (uf, a.reshape(a_shape), b.reshape(b_shape), out))
            else:
                serial = L(fn, (*args, 0, n), (6, 7))
            if n < thr:
                self._submit(serial)
                return out
            if (
                STREAM_MIN_BYTES <= out.nbytes < STREAM_MAX_BYTES
                and code in S.OPS
                and out_dt in FLOATS
                and S.AVAILABLE
                and a_shape == b_shape == tuple(out_shape)
                and b.dtype == dt
                and a.flags.c_contiguous
                and b.flags.c_contiguous
            ):
                fn_par = S.arith_stream_par
            self._run(
                n,
                ("binary", op, dt.char),
                serial,
                lambda: L(fn_par, (*args, self._block(n)), (6,)),
            )
        return out

    def where(
        self,
        cond: np.ndarray,
        c_shape: tuple,
        a: np.ndarray,
        a_shape: tuple,
        b: np.ndarray,
        b_shape: tuple,
        out_shape: tuple,
        dtype: str,
    ) -> np.ndarray:
        out = self._empty(out_shape, a.dtype)
        n = out.size
        if n:
            shape, st = broadcast_strides((c_shape, a_shape, b_shape), tuple(out_shape))
            # Pure data movement: run on same-width integer views, so float32 and int32 share
            # one compiled kernel (and bool/uint8, float64/int64).
            raw = RAW[a.dtype.itemsize]
            args = (
                cond.reshape(-1),
                a.reshape(-1).view(raw),
                b.reshape(-1).view(raw),
                out.reshape(-1).view(raw),
                shape,
                st,
            )
            self._run(
                n,
                "where",
                L(K.where, (*args, 0, n), (6, 7)),
                lambda: L(K.where_par, (*args, self._block(n)), (6,)),
            )
        return out

    def cast(self, x: np.ndarray, shape: tuple, dtype_from: str, dtype_to: str) -> np.ndarray:
        # One numpy pass; float -> int is a C cast, which truncates toward zero.
        out = self._empty(x.shape, numpy_dtype(dtype_to))
        self._launch(cast_into, out, x)
        return out

    def fused_elementwise(
        self,
        expr: tuple,
        bufs: Sequence[np.ndarray],
        in_shapes: Sequence[tuple],
        shape: tuple,
        out_shapes: Sequence[tuple],
    ) -> tuple:
        """A fused elementwise chain (``engine.fusion``; contract in ``backends.base``) in one
        generated numba kernel (``backends.cpu.fusion``): outputs from ``_empty``, one launch
        record, no host reads."""
        return fusion.run(self.scheduler, expr, bufs, in_shapes, shape, out_shapes)
