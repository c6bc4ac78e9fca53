"""The ``cpu`` backend: numba kernels on C-contiguous numpy buffers.

Elementwise ops, where, reductions, arg-reductions, cumsum, gather/scatter_add, int32 matmul
and the fused softmax/log_softmax run as numba kernels (``backends.cpu.kernels``), serial below
``parallel_threshold`` elements and split over threads with ``prange`` above it. Float matmul
goes to BLAS through numpy's matmul. Pure data movement where numpy is already a single
allocation-free pass (transpose copy, reshape, slice, concat, pad, cast, fill, one_hot) uses
numpy directly.

Each primitive checks its arguments, allocates its outputs (``_empty``) and then describes its
work as launch records (``backends.cpu.launch.Launch``: kernel, positional arguments, the
positions of the sizes, host scalars). It hands them to the backend's scheduler
(``backends.cpu.schedule``): ``self._submit(launch)`` for one record, ``self._run(n, key,
serial, parallel)`` for work with a serial and a parallel variant, where the scheduler alone
decides which runs and times it. Trace programs are built from the records the scheduler ran
(``backends.cpu.steps``), so a primitive never knows whether it is being recorded.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numba
import numpy as np

from backends.base import (
    PRIMITIVES,
    Backend,
    check_coordinates,
    check_indices,
    numpy_dtype,
    ravel_coordinates,
)
from backends.cpu import conv as CV
from backends.cpu import fusion, steps, tiers
from backends.cpu import kernels as K
from backends.cpu.launch import HostScalars, Launch, broadcast_strides
from backends.cpu.native import stream as S
from backends.cpu.native import threads as T
from backends.cpu.schedule import PARALLEL_THRESHOLD, Scheduler
from engine.train import rules  # noqa: E402

L = Launch

# Kernels not compiled yet run on numpy while a worker process compiles them (tiers.py).
tiers.install(K)

_UNARY_FLOAT = {name: i for i, name in enumerate(K.UNARY_FLOAT)}
_UNARY_INT = {name: i for i, name in enumerate(K.UNARY_INT)}
_UNARY_PRED = {name: i for i, name in enumerate(K.UNARY_PRED)}
_BINARY_ARITH = {name: i for i, name in enumerate(K.BINARY_ARITH)}
_BINARY_CMP = {name: i for i, name in enumerate(K.BINARY_CMP)}
_REDUCE = {name: i for i, name in enumerate(K.REDUCE)}
_ACTIVATIONS = {name: i for i, name in enumerate(K.FUSED_ACTIVATIONS)}
_REDUCE_IDENTITY = {"sum": 0, "prod": 1, "any": False, "all": True}

# Correctly rounded in numpy's loops as in ours (bit-identical results): binary() runs large
# serial calls of these through numpy.
_NP_ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}


def _ufunc_into(uf: Any, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``uf(a, b, out=out)`` without numpy's floating-point warnings (numba kernels raise
    none)."""
    with np.errstate(all="ignore"):
        uf(a, b, out=out)


_NO_BITS = np.empty(0, np.int32)
_RAW = {1: np.dtype(np.uint8), 4: np.dtype(np.int32), 8: np.dtype(np.int64)}
_F32 = np.dtype(np.float32)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INT32 = np.dtype(np.int32)
_BOOL = np.dtype(np.bool_)

#: Direct (fused) conv2d below this many input x output channels, im2col + BLAS from it.
#: Measured on (32, 28, 28, c) * (3, 3, c, o), forward / filter gradient ms, fused vs im2col:
#: c*o 16 1.1/3.3; 64 1.3/2.0 and 4.5/11.2; 128 2.1/1.2 and 6.0/12.6; 256 2.9/1.8 and 9.7/5.8
#: (8x32); 512 6.6/4.3 and 17.7/17.7; 1024 15.4/9.2 and 36.7/27.7.
CONV_DIRECT_MAX = 256
#: Smallest piece of work one parallel task gets (elements).
MIN_BLOCK = 1 << 14
#: Parallel float add/sub/mul/div of same-shape contiguous operands with an output of
#: [STREAM_MIN_BYTES, STREAM_MAX_BYTES) is written with non-temporal stores (``stream.py``,
#: x86-64). Below, the output would stay in cache for its reader; from 32 MiB (glibc's largest
#: mmap threshold) every fresh output is new zero-filled pages, whose lines the kernel's zeroing
#: already brought into cache: streaming lost there (add_16m 1.37x -> 1.04x numpy).
STREAM_MIN_BYTES = 8 << 20
STREAM_MAX_BYTES = 32 << 20
#: Rows longer than this reduce in chunks of this many elements (a multiple of the kernels'
#: 4096-element summation block), in parallel when large enough.
SPLIT_CHUNK = 1 << 16


def _prod(xs: Sequence[int]) -> int:
    return math.prod(xs)


@functools.lru_cache(maxsize=4096)
def _reduce_plan(shape: tuple, axes: tuple) -> tuple[tuple, tuple]:
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
        p = _prod(grp[0] for grp in groups[:g])
        q = _prod(grp[0] for grp in groups[g + 1 :])
        steps.append((p, groups[g][0], q))
        del groups[g]
        if 0 < g < len(groups) and groups[g - 1][1] == groups[g][1]:
            groups[g - 1][0] *= groups[g][0]
            del groups[g]
    return out_shape, tuple(steps)


@functools.lru_cache(maxsize=16)
def _scalars(dt: np.dtype) -> tuple:
    """(zero, one) as scalars of ``dt``: kernels then compute in that dtype."""
    return dt.type(0), dt.type(1)


def _pack_scalars(name: str, hyper: dict) -> tuple:
    """The host scalars of optimizer update ``name`` for hyperparameters ``hyper`` (what a trace
    program recomputes every step: ``launch.HostScalars``)."""
    return _opt_hyper(name, hyper)[0]


def _opt_hyper(name: str, hyper: dict) -> tuple:
    """(the step's scalars of optimizer update ``name``, in ``K.OPT_UPDATES`` order, and the
    rule's flag): ``engine.train.rules.scalars``, the packer every backend uses (cached there:
    every variable of a step shares the values)."""
    return rules.scalars(name, hyper), rules.rule(name).flag_of(hyper)


def _cast_into(out: np.ndarray, x: np.ndarray) -> None:
    """Cast ``x`` into ``out``: float to int32 truncates toward zero, NaN gives 0 and values
    beyond int32's range saturate (README "Numerics", as every backend)."""
    if out.dtype == np.int32 and x.dtype.kind == "f":
        x = np.where(np.isnan(x), 0.0, np.clip(x, -2147483648.0, 2147483647.0, dtype=np.float64))
    np.copyto(out, x, casting="unsafe")


def _fill_into(out: np.ndarray, value: Any) -> None:
    out.fill(value)


def _concat_into(out: np.ndarray, axis: int, *xs: np.ndarray) -> None:
    np.concatenate(xs, axis=axis, out=out)


def _pad_into(out: np.ndarray, x: np.ndarray, inner: tuple, value: Any) -> None:
    out.fill(value)
    out[inner] = x


def _one_hot_into(out: np.ndarray, idx: np.ndarray, depth: int, on: Any, off: Any) -> None:
    out.fill(off)
    if out.size:
        flat = out.reshape(-1, depth)
        valid = (idx >= 0) & (idx < depth)
        flat[np.nonzero(valid)[0], idx[valid]] = on


def _ravel_into(
    out: np.ndarray, indices: np.ndarray, ishape: tuple, dims: tuple, op: str, shape: tuple
) -> None:
    """Check every coordinate of ``indices`` (IndexError naming ``op``), then write their
    row-major linear indices into ``out`` (a Python launch: programs replay it every step)."""
    ind = indices.reshape(ishape)
    check_coordinates(ind, dims, op, shape)
    out.reshape(-1)[...] = ravel_coordinates(ind, dims).reshape(-1)


@functools.lru_cache(maxsize=8)
def _none(dt: np.dtype) -> np.ndarray:
    """A shared empty array of ``dt``: the "no bias / no output" argument of conv kernels."""
    return np.empty(0, dt)


def _opt_slots(name: str, flag: bool) -> int:
    """Slot buffers optimizer ``name`` takes with ``flag`` (centered rmsprop has a third,
    ``mg``): ``engine.train.rules``."""
    return rules.slot_count(name, flag)


class CpuBackend(Backend):
    """Multi-threaded CPU kernels compiled with numba (lazily, per dtype, cached on disk)."""

    name = "cpu"
    fused: ClassVar[frozenset[str]] = frozenset(
        {
            "softmax",
            "log_softmax",
            "fused_matmul",
            "categorical_crossentropy",
            "categorical_crossentropy_grad",
            "conv2d",
            "fused_conv2d",
            "conv2d_backprop_filter",
            "max_pool",
            "max_pool_grad",
            "fused_elementwise",
            *K.OPT_UPDATES,
        }
    )
    #: Kernel methods a trace program replays from their launch records (backends/cpu/steps/
    #: program.py): every one but the host transfers, which say so to the scheduler
    #: (``Scheduler.host_transfer``; such an op runs live in programs). Each allocates its
    #: outputs with ``_empty``, computes only through launch records submitted to
    #: ``self.scheduler`` and never reads buffer contents on the host.
    recordable: ClassVar[frozenset[str]] = (
        frozenset(PRIMITIVES) - {"from_numpy", "to_numpy"}
    ) | fused
    capabilities: ClassVar[dict[str, Any]] = {
        "dtypes": ("float32", "int32", "bool", "float64"),
        "float64": True,
        "gather_checks_indices": True,
    }

    def __init__(self, parallel_threshold: int = PARALLEL_THRESHOLD, adaptive: bool = True) -> None:
        # process-wide thread settings, once (libgomp's and OpenBLAS's idle spin; os.environ
        # is restored: backends.cpu.native.threads.start)
        T.start()
        #: Runs every launch: the serial/parallel choice, its timing, and the collection of a
        #: traced step's launches (``backends.cpu.schedule``).
        self.scheduler = Scheduler(parallel_threshold, adaptive)
        self._submit = self.scheduler.submit
        self._run = self.scheduler.run
        self._empty = self.scheduler.empty

    @property
    def parallel_threshold(self) -> int:
        """Element count from which kernels may run multi-threaded (0: always, huge: never)."""
        return self.scheduler.parallel_threshold

    @parallel_threshold.setter
    def parallel_threshold(self, value: int) -> None:
        self.scheduler.parallel_threshold = int(value)

    @property
    def adaptive(self) -> bool:
        """Above the threshold, pick serial or parallel per kernel family by measured speed
        (False: always parallel above the threshold). On a shared 2-core machine a busy core
        makes a 2-thread kernel wait for a time slice, 2x slower than serial; the chooser then
        stays serial until a periodic probe finds parallel faster again."""
        return self.scheduler.adaptive

    @adaptive.setter
    def adaptive(self, value: bool) -> None:
        self.scheduler.adaptive = bool(value)

    def device_info(self) -> str:
        return f"host CPU via numba {numba.__version__} ({numba.get_num_threads()} threads)"

    def prefers(self, kernel: str, **shapes: Any) -> bool:
        """The direct conv kernels below ``CONV_DIRECT_MAX`` input x output channels; im2col +
        BLAS (the engine's composite) above, where it measures faster."""
        if kernel in ("conv2d", "fused_conv2d") and "f_shape" in shapes:
            _, _, c, o = shapes["f_shape"]
            return self.has(kernel) and c * o < CONV_DIRECT_MAX
        return self.has(kernel)

    # --- launches and trace programs (backends/cpu/launch.py, schedule.py, steps/) ----------
    def _launch(self, fn: Any, *args: Any) -> None:
        """Submit ``Launch(fn, args)``: numpy/numba work whose effect depends only on the
        contents of its array arguments (a trace program replays exactly these launches)."""
        self.scheduler.submit(Launch(fn, args))

    def trace_recorder(self, arg_bufs: Sequence[Any], var_bufs: Sequence[Any]) -> Any:
        """Start recording a trace program (engine.trace calls this for one replay)."""
        return steps.record(self, arg_bufs, var_bufs)

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _block(total: int) -> int:
        tasks = 4 * numba.get_num_threads()
        return max(MIN_BLOCK, -(-total // tasks))

    @staticmethod
    def _rows_per_task(rows: int, row_len: int) -> int:
        """Rows per parallel task: about 4 tasks per thread, each at least MIN_BLOCK elements."""
        tasks = 4 * numba.get_num_threads()
        by_count = -(-rows // tasks)
        by_size = -(-MIN_BLOCK // max(row_len, 1))
        return max(1, by_count, by_size)

    # --- transfer ---------------------------------------------------------------------------
    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        self.scheduler.host_transfer()
        return np.array(array, copy=True, order="C")

    def to_numpy(self, buf: np.ndarray, shape: tuple, dtype: str) -> np.ndarray:
        self.scheduler.host_transfer()
        return np.array(buf, copy=True).reshape(shape)

    # --- elementwise ------------------------------------------------------------------------
    def unary(self, op: str, x: np.ndarray, shape: tuple, dtype: str) -> np.ndarray:
        xf = x.reshape(-1)
        n = xf.size
        dt = x.dtype
        if op in _UNARY_PRED:
            if op == "logical_not" and dt != _BOOL:
                raise TypeError(f"unary {op!r} needs a bool input, got {dt}")
            out = self._empty(shape, _BOOL)
            if n:
                code, of = _UNARY_PRED[op], out.reshape(-1)
                self._run(
                    n,
                    ("unary", op, dt.char),
                    L(K.unary_pred, (code, xf, of, 0, n), (3, 4)),
                    lambda: L(K.unary_pred_par, (code, xf, of, self._block(n)), (3,)),
                )
            return out
        out = self._empty(shape, dt)
        if dt in _FLOATS:
            code = _UNARY_FLOAT.get(op)
            if code is None:
                raise ValueError(f"unknown unary op {op!r}; expected one of {sorted(_UNARY_FLOAT)}")
            if n:
                one, of = _scalars(dt)[1], out.reshape(-1)
                self._run(
                    n,
                    ("unary", op, dt.char),
                    L(K.unary_float, (code, xf, of, one, 0, n), (4, 5)),
                    lambda: L(K.unary_float_par, (code, xf, of, one, self._block(n)), (4,)),
                )
            return out
        if dt == _INT32:
            code = _UNARY_INT.get(op)
            if code is None:
                raise TypeError(
                    f"unary {op!r} is not defined for int32 (the engine computes it in float32); "
                    f"int32 supports {sorted(_UNARY_INT)} and the predicates"
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
        code = _BINARY_CMP.get(op)
        if code is not None:
            fn, fn_par, out_dt = K.binary_cmp, K.binary_cmp_par, _BOOL
            if code == 4 or code == 5:  # a > b is b < a: one kernel loop fewer to compile
                code -= 2
                a, a_shape, b, b_shape = b, b_shape, a, a_shape
        else:
            code = _BINARY_ARITH.get(op)
            if code is None:
                raise ValueError(
                    f"unknown binary op {op!r}; expected one of "
                    f"{sorted(_BINARY_ARITH) + sorted(_BINARY_CMP)}"
                )
            if dt in _FLOATS:
                fn, fn_par = K.binary_float, K.binary_float_par
            elif dt == _INT32:
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
            uf = _NP_ARITH.get(op) if out_dt in _FLOATS else None
            args = (code, a.reshape(-1), b.reshape(-1), out.reshape(-1), shape, st)
            if uf is not None and n >= self.parallel_threshold:
                # Large serial runs (the chooser's or a loaded machine's pick): numpy's loop is
                # 10-20% faster than ours there (same IEEE results; ~0.5 us slower on tiny ones).
                serial = L(_ufunc_into, (uf, a.reshape(a_shape), b.reshape(b_shape), out))
            else:
                serial = L(fn, (*args, 0, n), (6, 7))
            if n < self.parallel_threshold:
                self._submit(serial)
                return out
            if (
                STREAM_MIN_BYTES <= out.nbytes < STREAM_MAX_BYTES
                and code in S.OPS
                and out_dt in _FLOATS
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
            raw = _RAW[a.dtype.itemsize]
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
        self._launch(_cast_into, out, x)
        return out

    # --- reductions -------------------------------------------------------------------------
    def reduce(
        self, op: str, x: np.ndarray, shape: tuple, dtype: str, axes: Sequence[int]
    ) -> np.ndarray:
        code = _REDUCE.get(op)
        if code is None:
            raise ValueError(f"unknown reduce op {op!r}; expected one of {list(K.REDUCE)}")
        dt = x.dtype
        if (dt == _BOOL) != (op in ("any", "all")) and op not in ("max", "min"):
            raise TypeError(
                f"reduce {op!r} is not defined for dtype {dt} (any/all need bool input, "
                "sum/prod need numbers; the engine casts first)"
            )
        out_shape, steps = _reduce_plan(tuple(shape), tuple(axes))
        if _prod(out_shape) == 0:
            return self._empty(out_shape, dt)
        if x.size == 0:
            if op not in _REDUCE_IDENTITY:
                raise ValueError(f"reduce {op!r}: cannot reduce an empty axis of shape {shape}")
            out = self._empty(out_shape, dt)
            self._launch(_fill_into, out, _REDUCE_IDENTITY[op])
            return out
        if not steps:  # only size-1 axes reduced: a fresh copy
            out = self._empty(out_shape, dt)
            self._launch(np.copyto, out, x.reshape(out_shape))
            return out
        zero, one = _scalars(dt)
        cur = x.reshape(-1)
        for p, r, q in steps:
            cur = self._reduce_prq(code, cur, p, r, q, zero, one)
        return cur.reshape(out_shape)

    def _reduce_prq(
        self, code: int, x: np.ndarray, p: int, r: int, q: int, zero, one
    ) -> np.ndarray:
        total = p * r * q
        nt = numba.get_num_threads()
        if q == 1 and (code == 2 or code == 3) and x.dtype == _F32:
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
        p, r, q = _prod(shape[:axis]), shape[axis], _prod(shape[axis + 1 :])
        out = self._empty(shape[:axis] + shape[axis + 1 :], np.int32)
        if out.size == 0:
            return out
        if r == 0:
            raise ValueError(f"{op}: cannot take {op} over an empty axis (shape {shape})")
        xf, of = x.reshape(-1), out.reshape(-1)
        is_max = op == "argmax"
        bits = xf.view(np.int32) if (q == 1 and x.dtype == np.float32) else _NO_BITS
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
        p, r, q = _prod(shape[:axis]), shape[axis], _prod(shape[axis + 1 :])
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

    # --- linear algebra ---------------------------------------------------------------------
    def matmul(
        self,
        a: np.ndarray,
        a_shape: tuple,
        b: np.ndarray,
        b_shape: tuple,
        dtype: str,
        transpose_a: bool,
        transpose_b: bool,
    ) -> np.ndarray:
        if a.dtype in _FLOATS:
            # BLAS (sgemm/dgemm) through numpy; transposed views need no copy.
            av = a.transpose(0, 2, 1) if transpose_a else a
            bv = b.transpose(0, 2, 1) if transpose_b else b
            out = self._empty((a_shape[0], av.shape[1], bv.shape[2]), a.dtype)
            if a_shape[0] == 1:
                self._launch(T.matmul, av[0], bv[0], out[0])
            else:
                self._launch(T.matmul, av, bv, out)
            return out
        if a.dtype != _INT32:
            raise TypeError(
                f"matmul is not defined for dtype {a.dtype}; expected float32/float64/int32"
            )
        batch = a_shape[0]
        m = a_shape[2] if transpose_a else a_shape[1]
        k = a_shape[1] if transpose_a else a_shape[2]
        n = b_shape[1] if transpose_b else b_shape[2]
        out = self._empty((batch, m, n), np.int32)
        rows = batch * m
        if out.size == 0:
            return out
        args = (a.reshape(-1), b.reshape(-1), out.reshape(-1))
        ta, tb = transpose_a, transpose_b
        serial = L(K.matmul_int, (*args, m, k, n, ta, tb, 0, rows), (3, 4, 5, 8, 9))
        par = (
            (
                lambda: L(
                    K.matmul_int_par,
                    (*args, batch, m, k, n, ta, tb, self._rows_per_task(rows, n * k)),
                    (3, 4, 5, 6, 9),
                )
            )
            if rows > 1
            else None
        )
        self._run(rows * n * max(k, 1) // 8, "matmul", serial, par)
        return out

    # --- data movement (numpy is already one allocation-free pass) --------------------------
    def transpose(self, x: np.ndarray, shape: tuple, dtype: str, perm: Sequence[int]) -> np.ndarray:
        view = x.transpose(perm)
        out = self._empty(view.shape, x.dtype)
        self._launch(np.copyto, out, view)
        return out

    def reshape(self, x: np.ndarray, shape: tuple, dtype: str, new_shape: tuple) -> np.ndarray:
        return x.reshape(new_shape)

    def slice(
        self,
        x: np.ndarray,
        shape: tuple,
        dtype: str,
        begin: Sequence[int],
        size: Sequence[int],
        step: Sequence[int],
    ) -> np.ndarray:
        index = tuple(
            slice(b, b + s * st if b + s * st >= 0 else None, st) if s else slice(0, 0)
            for b, s, st in zip(begin, size, step, strict=True)
        )
        view = x[index]
        if view.flags.c_contiguous:
            return view
        out = self._empty(view.shape, x.dtype)
        self._launch(np.copyto, out, view)
        return out

    def concat(
        self, xs: Sequence[np.ndarray], shapes: Sequence[tuple], dtype: str, axis: int
    ) -> np.ndarray:
        out_shape = list(xs[0].shape)
        out_shape[axis] = sum(x.shape[axis] for x in xs)
        out = self._empty(tuple(out_shape), xs[0].dtype)
        self._launch(_concat_into, out, axis, *xs)
        return out

    def pad(
        self,
        x: np.ndarray,
        shape: tuple,
        dtype: str,
        paddings: Sequence[tuple[int, int]],
        value: Any,
    ) -> np.ndarray:
        out_shape = tuple(s + lo + hi for s, (lo, hi) in zip(shape, paddings, strict=True))
        out = self._empty(out_shape, x.dtype)
        inner = tuple(slice(lo, lo + s) for s, (lo, _) in zip(shape, paddings, strict=True))
        self._launch(_pad_into, out, x.reshape(shape), inner, value)
        return out

    def gather(
        self,
        x: np.ndarray,
        shape: tuple,
        dtype: str,
        indices: np.ndarray,
        indices_shape: tuple,
        axis: int,
        check: bool = False,
    ) -> np.ndarray:
        p, d, q = _prod(shape[:axis]), shape[axis], _prod(shape[axis + 1 :])
        if check:  # a launch: a trace program checks every batch's indices too
            self._launch(check_indices, indices, d, tuple(shape), axis)
        m = _prod(indices_shape)
        out = self._empty(
            tuple(shape[:axis]) + tuple(indices_shape) + tuple(shape[axis + 1 :]), x.dtype
        )
        if out.size == 0:
            return out
        raw = _RAW[x.dtype.itemsize]  # a copy: one kernel per element width
        args = (x.reshape(-1).view(raw), indices.reshape(-1), out.reshape(-1).view(raw), d, q, m)
        self._run(
            out.size,
            "gather",
            L(K.gather, (*args, 0, p * m), (3, 4, 5, 6, 7)),
            lambda: L(K.gather_par, (*args, self._rows_per_task(p * m, q)), (3, 4, 5, 6)),
        )
        return out

    def scatter_add(
        self,
        updates: np.ndarray,
        updates_shape: tuple,
        dtype: str,
        indices: np.ndarray,
        indices_shape: tuple,
        axis: int,
        dim: int,
    ) -> np.ndarray:
        lead = tuple(updates_shape[:axis])
        trail = tuple(updates_shape[axis + len(indices_shape) :])
        p, q, m = _prod(lead), _prod(trail), _prod(indices_shape)
        out = self._empty(lead + (dim,) + trail, updates.dtype)
        self._launch(_fill_into, out, 0)
        if out.size == 0 or m == 0:
            return out
        args = (updates.reshape(-1), indices.reshape(-1), out.reshape(-1))

        def parallel() -> Launch:
            per_p = max(1, -(-2 * numba.get_num_threads() // p))
            q_chunk = max(-(-q // per_p), min(q, 256))
            return L(K.scatter_add_par, (*args, p, dim, q, m, q_chunk), (3, 4, 5, 6, 7))

        self._run(
            updates.size,
            "scatter_add",
            L(K.scatter_add, (*args, dim, q, m, 0, p, 0, q), (3, 4, 5, 6, 7, 8, 9)),
            parallel,
        )
        return out

    def ravel_indices(
        self, indices: np.ndarray, indices_shape: tuple, dims: tuple, op: str, shape: tuple
    ) -> np.ndarray:
        out = self._empty(tuple(indices_shape[:-1]), np.int32)
        self._launch(_ravel_into, out, indices, tuple(indices_shape), tuple(dims), op, tuple(shape))
        return out

    def one_hot(
        self, indices: np.ndarray, shape: tuple, depth: int, on: Any, off: Any, dtype: str
    ) -> np.ndarray:
        out = self._empty(tuple(shape) + (depth,), numpy_dtype(dtype))
        self._launch(_one_hot_into, out, indices.reshape(-1), depth, on, off)
        return out

    def fill(self, shape: tuple, value: Any, dtype: str) -> np.ndarray:
        out = self._empty(shape, numpy_dtype(dtype))
        self._launch(_fill_into, out, value)
        return out

    # --- fused composites -------------------------------------------------------------------
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
        return fusion.run(self, expr, bufs, in_shapes, shape, out_shapes)

    def _softmax(self, x: np.ndarray, shape: tuple, axis: int, log: bool) -> np.ndarray:
        if x.dtype not in _FLOATS:
            raise TypeError(f"softmax needs a float input, got {x.dtype}")
        p, r, q = _prod(shape[:axis]), shape[axis], _prod(shape[axis + 1 :])
        out = self._empty(shape, x.dtype)
        if out.size == 0:
            return out
        xf, of = x.reshape(-1), out.reshape(-1)
        zero = _scalars(x.dtype)[0]
        serial = L(K.softmax, (xf, of, r, q, log, zero, 0, p), (2, 3, 6, 7))
        par = (
            (
                lambda: L(
                    K.softmax_par,
                    (xf, of, p, r, q, log, zero, self._rows_per_task(p, r * q)),
                    (2, 3, 4, 7),
                )
            )
            if p > 1
            else None
        )
        self._run(x.size, "softmax", serial, par)
        return out

    def softmax(self, x: np.ndarray, shape: tuple, dtype: str, axis: int) -> np.ndarray:
        """exp(x - max) / sum along ``axis`` in one pass per row (fused engine composite)."""
        return self._softmax(x, shape, axis, False)

    def log_softmax(self, x: np.ndarray, shape: tuple, dtype: str, axis: int) -> np.ndarray:
        """(x - max) - log(sum(exp(x - max))) along ``axis`` (fused engine composite)."""
        return self._softmax(x, shape, axis, True)

    def fused_matmul(
        self,
        a: np.ndarray,
        a_shape: tuple,
        b: np.ndarray,
        b_shape: tuple,
        bias: np.ndarray | None,
        bias_shape: tuple | None,
        dtype: str,
        transpose_a: bool,
        transpose_b: bool,
        activation: str,
        alpha: float,
    ) -> np.ndarray:
        """``activation(op(a) @ op(b) + bias)`` for 2-D float operands: BLAS, then one numba
        pass over the fresh product for bias and activation. ``bias`` is None, a scalar or a
        row of N values."""
        if a.dtype not in _FLOATS:
            raise TypeError(f"fused_matmul needs float operands, got {a.dtype}")
        code = _ACTIVATIONS.get(activation)
        if code is None:
            raise ValueError(
                f"fused_matmul: unknown activation {activation!r}; expected one of "
                f"{list(K.FUSED_ACTIVATIONS)}"
            )
        av = a.reshape(a_shape)
        bv = b.reshape(b_shape)
        av = av.T if transpose_a else av
        bv = bv.T if transpose_b else bv
        out = self._empty((av.shape[0], bv.shape[1]), np.result_type(av, bv))
        self._launch(T.matmul, av, bv, out)
        m, n = out.shape
        if out.size == 0 or (bias is None and code == 0):
            return out
        bflat = self._empty(0, out.dtype) if bias is None else bias.reshape(-1)
        step = 0 if bflat.size == 1 else 1
        one = _scalars(out.dtype)[1]
        al = out.dtype.type(alpha)
        of = out.reshape(-1)
        serial = L(K.bias_act, (of, bflat, step, n, code, al, one, 0, m), (3, 7, 8))
        par = (
            (
                lambda: L(
                    K.bias_act_par,
                    (of, bflat, step, m, n, code, al, one, self._rows_per_task(m, n)),
                    (3, 4, 8),
                )
            )
            if m > 1
            else None
        )
        self._run(out.size, ("fused_matmul", code, out.dtype.char), serial, par)
        return out

    def _cce_args(self, x: np.ndarray, shape: tuple) -> tuple:
        if x.dtype not in _FLOATS:
            raise TypeError(f"categorical_crossentropy needs float inputs, got {x.dtype}")
        dt = x.dtype
        return _prod(shape[:-1]), shape[-1], dt.type(1e-7), dt.type(1 - 1e-7), _scalars(dt)[0]

    def categorical_crossentropy(
        self, t: np.ndarray, x: np.ndarray, shape: tuple, dtype: str, from_logits: bool
    ) -> np.ndarray:
        """Per-row ``-sum(t * log(clip(q, eps, 1 - eps)))`` over the last axis, ``q`` the
        renormalised ``x`` (or its softmax), in one pass per row (fused engine composite)."""
        p, r, eps, hi, zero = self._cce_args(x, shape)
        out = self._empty(shape[:-1], x.dtype)
        if out.size == 0:
            return out
        tf, xf, of = t.reshape(-1), x.reshape(-1), out.reshape(-1)
        lg = bool(from_logits)
        serial = L(K.cce, (tf, xf, of, r, lg, eps, hi, zero, 0, p), (3, 8, 9))
        par = (
            (
                lambda: L(
                    K.cce_par,
                    (tf, xf, of, p, r, lg, eps, hi, zero, self._rows_per_task(p, r)),
                    (3, 4, 9),
                )
            )
            if p > 1
            else None
        )
        self._run(x.size, ("cce", x.dtype.char), serial, par)
        return out

    def categorical_crossentropy_grad(
        self,
        dy: np.ndarray,
        t: np.ndarray,
        x: np.ndarray,
        shape: tuple,
        dtype: str,
        from_logits: bool,
    ) -> np.ndarray:
        """d ``categorical_crossentropy`` / d x times the per-row ``dy``, one pass per row."""
        p, r, eps, hi, zero = self._cce_args(x, shape)
        out = self._empty(shape, x.dtype)
        if out.size == 0:
            return out
        args = (dy.reshape(-1), t.reshape(-1), x.reshape(-1), out.reshape(-1))
        lg = bool(from_logits)
        serial = L(K.cce_grad, (*args, r, lg, eps, hi, zero, 0, p), (4, 9, 10))
        par = (
            (
                lambda: L(
                    K.cce_grad_par,
                    (*args, p, r, lg, eps, hi, zero, self._rows_per_task(p, r)),
                    (4, 5, 10),
                )
            )
            if p > 1
            else None
        )
        self._run(x.size, ("cce_grad", x.dtype.char), serial, par)
        return out

    # --- fused convolution and max pooling (backends/cpu/conv.py; engine/ops/nn.py) ---------
    @staticmethod
    def _conv_geo(x_shape: tuple, f_shape: tuple, pads: tuple, dilations: tuple) -> tuple:
        """The ``geo`` tuple of ``backends.cpu.conv`` for a stride-1 convolution."""
        _, h, w, c = x_shape
        kh, kw, _, o = f_shape
        dh, dw = int(dilations[0]), int(dilations[1])
        (pt, pb), (pl, pr) = pads
        oh = h + pt + pb - (kh - 1) * dh
        ow = w + pl + pr - (kw - 1) * dw
        return tuple(int(v) for v in (h, w, c, o, kh, kw, dh, dw, pt, pl, oh, ow))

    def _images_per_task(self, n: int) -> int:
        return max(1, -(-n // (4 * numba.get_num_threads())))

    def conv2d(
        self,
        x: np.ndarray,
        x_shape: tuple,
        f: np.ndarray,
        f_shape: tuple,
        bias: np.ndarray | None,
        dtype: str,
        pads: tuple,
        dilations: tuple,
        activation: str,
    ) -> np.ndarray:
        """Stride-1 NHWC convolution, optionally + bias and relu, in one pass per image
        (fused engine composite; ``backends.cpu.conv.conv2d``)."""
        if x.dtype not in _FLOATS or f.dtype != x.dtype:
            raise TypeError(f"conv2d needs float operands of one dtype, got {x.dtype}, {f.dtype}")
        geo = self._conv_geo(x_shape, f_shape, pads, dilations)
        n = x_shape[0]
        out = self._empty((n, geo[10], geo[11], f_shape[3]), x.dtype)
        if out.size == 0:
            return out
        act = 1 if activation == "relu" else 0
        b = _none(x.dtype) if bias is None else bias.reshape(-1)
        args = (x.reshape(-1), f.reshape(-1), b, out.reshape(-1), act, geo)
        serial = L(CV.conv2d, (*args, 0, n), (6, 7))
        par = (
            (lambda: L(CV.conv2d_par, (*args, n, self._images_per_task(n)), (6, 7)))
            if n > 1
            else None
        )
        self._run(out.size * x_shape[3], ("conv2d", x.dtype.char), serial, par)
        return out

    def fused_conv2d(
        self,
        x: np.ndarray,
        x_shape: tuple,
        f: np.ndarray,
        f_shape: tuple,
        bias: np.ndarray | None,
        dtype: str,
        pads: tuple,
        dilations: tuple,
        activation: str,
    ) -> np.ndarray:
        """``activation(conv2d(x, f) + bias)``, stride 1, linear or relu (one kernel)."""
        return self.conv2d(x, x_shape, f, f_shape, bias, dtype, pads, dilations, activation)

    def conv2d_backprop_filter(
        self,
        x: np.ndarray,
        x_shape: tuple,
        dy: np.ndarray,
        dy_shape: tuple,
        out: np.ndarray | None,
        dtype: str,
        pads: tuple,
        dilations: tuple,
        activation: str,
    ) -> np.ndarray:
        """Filter gradient (KH*KW*C*O values) then bias gradient (O values) of a stride-1
        convolution, through the relu read from ``out`` when given, in one pass over ``dy``."""
        if x.dtype not in _FLOATS or dy.dtype != x.dtype:
            raise TypeError(f"conv2d_backprop_filter needs float operands, got {x.dtype}")
        n, oh, ow, o = dy_shape
        kh = (x_shape[1] + sum(pads[0]) - oh) // int(dilations[0]) + 1
        kw = (x_shape[2] + sum(pads[1]) - ow) // int(dilations[1]) + 1
        geo = self._conv_geo(x_shape, (kh, kw, x_shape[3], o), pads, dilations)
        nf = kh * kw * x_shape[3] * o
        res = self._empty(nf + o, x.dtype)
        act = 1 if activation == "relu" and out is not None else 0
        ob = _none(x.dtype) if act == 0 else out.reshape(-1)
        blocks = max(1, min(n, 4))
        args = (x.reshape(-1), dy.reshape(-1), ob, act, geo, n, blocks, res[:nf], res[nf:])
        if n == 0:
            self._launch(_fill_into, res, 0)
        elif n > 1:
            serial = L(CV.conv2d_filter_grad, args, (5, 6))
            par = L(CV.conv2d_filter_grad_par, args, (5, 6))
            self._run(dy.size * x_shape[3], ("conv2d_bpf", x.dtype.char), serial, par)
        else:
            self._submit(L(CV.conv2d_filter_grad, args, (5, 6)))
        return res

    def max_pool(
        self,
        x: np.ndarray,
        x_shape: tuple,
        dtype: str,
        pool: tuple,
        strides: tuple,
        pads: tuple,
    ) -> np.ndarray:
        """NHWC max pooling (padding cells never win; NaN does) in one pass."""
        geo, out_shape = self._pool_geo(x_shape, pool, strides, pads)
        if x.dtype not in _FLOATS:
            raise TypeError(f"max_pool needs a float input, got {x.dtype}")
        out = self._empty(out_shape, x.dtype)
        n = x_shape[0]
        if out.size == 0:
            return out
        args = (x.reshape(-1), out.reshape(-1), geo)
        serial = L(CV.max_pool, (*args, 0, n), (3, 4))
        par = (
            (lambda: L(CV.max_pool_par, (*args, n, self._images_per_task(n)), (3, 4)))
            if n > 1
            else None
        )
        self._run(x.size, ("max_pool", x.dtype.char), serial, par)
        return out

    def max_pool_grad(
        self,
        dy: np.ndarray,
        x: np.ndarray,
        out: np.ndarray,
        x_shape: tuple,
        dtype: str,
        pool: tuple,
        strides: tuple,
        pads: tuple,
    ) -> np.ndarray:
        """Gradient of ``max_pool``: each window's ``dy`` to its first cell (row-major window
        order) equal to its max, as TF.js; none in a NaN window."""
        geo, _ = self._pool_geo(x_shape, pool, strides, pads)
        dx = self._empty(x_shape, x.dtype)
        n = x_shape[0]
        if dx.size == 0:
            return dx
        args = (dy.reshape(-1), x.reshape(-1), out.reshape(-1), dx.reshape(-1), geo)
        serial = L(CV.max_pool_grad, (*args, 0, n), (5, 6))
        par = (
            (lambda: L(CV.max_pool_grad_par, (*args, n, self._images_per_task(n)), (5, 6)))
            if n > 1
            else None
        )
        self._run(x.size, ("max_pool_grad", x.dtype.char), serial, par)
        return dx

    @staticmethod
    def _pool_geo(x_shape: tuple, pool: tuple, strides: tuple, pads: tuple) -> tuple:
        n, h, w, c = x_shape
        kh, kw = pool
        sh, sw = strides
        (pt, pb), (pl, pr) = pads
        oh = (h + pt + pb - kh) // sh + 1
        ow = (w + pl + pr - kw) // sw + 1
        geo = tuple(int(v) for v in (h, w, c, kh, kw, sh, sw, pt, pl, oh, ow))
        return geo, (n, oh, ow, c)

    # --- optimizer one-pass updates (engine.train.optimizers: the ``<kind>_update`` hook) -----
    def _update(
        self, name: str, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, hyper: dict
    ) -> tuple:
        """Run ``K.opt_update`` for optimizer ``name``: fresh buffers ``(new_w, *new_slots)``."""
        dt = numpy_dtype(dtype)
        if dt not in _FLOATS:
            raise TypeError(f"{name} needs float buffers, got {dt}")
        values, flag = _opt_hyper(name, hyper)
        h = np.array(values, dt)
        host = HostScalars(name, h, functools.partial(_pack_scalars, name))
        nslots = _opt_slots(name, flag)
        if len(slots) != nslots:
            raise ValueError(f"{name}: expected {nslots} slot buffers, got {len(slots)}")
        flat = [w.reshape(-1), g.reshape(-1)] + [s.reshape(-1) for s in slots]
        outs = [self._empty(shape, dt) for _ in range(nslots + 1)]
        oflat = [o.reshape(-1) for o in outs]
        empty = self._empty(0, dt)
        ins = flat[2:] + [empty] * (3 - nslots)
        news = oflat[1:] + [empty] * (3 - nslots)
        n = flat[0].size
        if n:
            args = (K.OPT_CODES[name], flag, flat[0], flat[1], *ins, oflat[0], *news, h)
            self._run(
                n,
                ("opt_update", name, dt.char),
                L(K.opt_update, (*args, 0, n), (12, 13), host),
                lambda: L(K.opt_update_par, (*args, self._block(n)), (12,), host),
            )
        return tuple(outs)

    def sgd_update(self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper) -> tuple:
        """``w - g*lr`` in one pass."""
        return self._update("sgd_update", shape, dtype, w, g, slots, hyper)

    def momentum_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper
    ) -> tuple:
        """Momentum (optionally Nesterov): new value and accumulator in one pass."""
        return self._update("momentum_update", shape, dtype, w, g, slots, hyper)

    def adam_update(self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper) -> tuple:
        """Adam: new value, m and v in one pass."""
        return self._update("adam_update", shape, dtype, w, g, slots, hyper)

    def adamax_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper
    ) -> tuple:
        """Adamax: new value, m and u in one pass."""
        return self._update("adamax_update", shape, dtype, w, g, slots, hyper)

    def rmsprop_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper
    ) -> tuple:
        """RMSProp (optionally centered): new value, ms, mom (and mg) in one pass."""
        return self._update("rmsprop_update", shape, dtype, w, g, slots, hyper)

    def adagrad_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper
    ) -> tuple:
        """Adagrad: new value and accumulator in one pass."""
        return self._update("adagrad_update", shape, dtype, w, g, slots, hyper)

    def adadelta_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper
    ) -> tuple:
        """Adadelta: new value and both accumulators in one pass."""
        return self._update("adadelta_update", shape, dtype, w, g, slots, hyper)

    def adamw_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper
    ) -> tuple:
        """AdamW (Keras 3): new value, m and v in one pass."""
        return self._update("adamw_update", shape, dtype, w, g, slots, hyper)

    def nadam_update(
        self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper
    ) -> tuple:
        """Nadam (Keras 3): new value, m and v in one pass."""
        return self._update("nadam_update", shape, dtype, w, g, slots, hyper)

    def lion_update(self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper) -> tuple:
        """Lion (Keras 3): new value and momentum in one pass."""
        return self._update("lion_update", shape, dtype, w, g, slots, hyper)

    def ftrl_update(self, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper) -> tuple:
        """FTRL (Keras 3): new value, accumulator and linear term in one pass."""
        return self._update("ftrl_update", shape, dtype, w, g, slots, hyper)
