"""Every primitive of the kernel contract in plain numpy (buffers are numpy arrays).

float16 (``capabilities["float16"]``, for mixed precision) is numpy's native half type:
elementwise kernels compute in float16 as numpy does (each result rounded to float16); matmul,
sum/prod reductions and cumsum accumulate in float32 and round the result to float16 once, as
GPUs' half-precision matmuls and reductions do (a float16 accumulator loses every small term
of a long sum).
"""

from __future__ import annotations

import numpy as np

from backends.base import (
    Backend,
    check_coordinates,
    check_indices,
    numpy_dtype,
    ravel_coordinates,
)
from engine import optable as _optable


def _c(a):
    """A C-contiguous array; unlike np.ascontiguousarray, keeps 0-d arrays 0-d."""
    return np.asarray(a, order="C")


# The elementwise kernels are the op table's numpy references (engine/optable.py).
UNARY = {name: op.numpy for name, op in _optable.UNARY.items()}


def float_to_int32(x: np.ndarray) -> np.ndarray:
    """The engine's float -> int32 cast (README "Numerics"), every backend alike: truncation
    toward zero, NaN -> 0, out of range (infinities too) saturates to INT32_MIN / INT32_MAX."""
    y = np.where(np.isnan(x), 0.0, np.clip(x, -2147483648.0, 2147483647.0, dtype=np.float64))
    return np.trunc(y, out=y).astype(np.int32)  # np.where gives an array, 0-d ones too


BINARY = {name: op.numpy for name, op in _optable.BINARY.items()}

REDUCE = {
    "sum": np.sum,
    "prod": np.prod,
    "max": np.max,
    "min": np.min,
    "any": np.any,
    "all": np.all,
}


class NumpyBackend(Backend):
    """Reference implementation: simple, obviously right, not fast."""

    name = "numpy"
    capabilities = {
        "dtypes": ("float32", "int32", "bool", "float64", "float16"),
        "float64": True,
        "float16": True,
        "gather_checks_indices": True,
    }

    def device_info(self) -> str:
        return f"host CPU via numpy {np.__version__}"

    def from_numpy(self, array):
        return np.array(array, copy=True, order="C")

    def to_numpy(self, buf, shape, dtype):
        return np.array(buf, copy=True).reshape(shape)

    def unary(self, op, x, shape, dtype):
        with np.errstate(all="ignore"):
            out = UNARY[op](x)
        return _c(out)

    def binary(self, op, a, a_shape, b, b_shape, out_shape, dtype):
        with np.errstate(all="ignore"):
            out = BINARY[op](a, b)
        if out.dtype != np.bool_:
            out = out.astype(numpy_dtype(dtype), copy=False)
        return _c(np.broadcast_to(out, out_shape))

    def where(self, cond, c_shape, a, a_shape, b, b_shape, out_shape, dtype):
        return _c(np.broadcast_to(np.where(cond, a, b), out_shape))

    def cast(self, x, shape, dtype_from, dtype_to):
        if dtype_to == "int32" and dtype_from.startswith("float"):
            return float_to_int32(x)
        return x.astype(numpy_dtype(dtype_to))

    def reduce(self, op, x, shape, dtype, axes):
        with np.errstate(all="ignore"):  # NaN/Inf inputs give NaN/Inf, as every backend
            if x.dtype == np.float16 and op in ("sum", "prod"):  # float32 accumulator
                out = REDUCE[op](x, axis=tuple(axes), dtype=np.float32)
            else:
                out = REDUCE[op](x, axis=tuple(axes))
        return _c(np.asarray(out, dtype=numpy_dtype(dtype)))

    def arg_reduce(self, op, x, shape, dtype, axis):
        fn = np.argmax if op == "argmax" else np.argmin
        return _c(fn(x, axis=axis).astype(np.int32))

    def cumsum(self, x, shape, dtype, axis, exclusive, reverse):
        if reverse:
            x = np.flip(x, axis)
        with np.errstate(all="ignore"):
            acc = np.float32 if x.dtype == np.float16 else x.dtype  # float32 accumulator
            out = np.cumsum(x, axis=axis, dtype=acc).astype(x.dtype, copy=False)
        if exclusive:
            # shift by one (inclusive - x turns a running Inf into NaN and loses precision)
            shifted = np.zeros_like(out)
            dst = [slice(None)] * out.ndim
            src = [slice(None)] * out.ndim
            dst[axis], src[axis] = slice(1, None), slice(None, -1)
            shifted[tuple(dst)] = out[tuple(src)]
            out = shifted
        if reverse:
            out = np.flip(out, axis)
        return _c(out)

    def matmul(self, a, a_shape, b, b_shape, dtype, transpose_a, transpose_b):
        if transpose_a:
            a = a.transpose(0, 2, 1)
        if transpose_b:
            b = b.transpose(0, 2, 1)
        with np.errstate(all="ignore"):
            if a.dtype == np.float16:  # float32 accumulation, one rounding (as GPUs)
                out = np.matmul(a.astype(np.float32), b.astype(np.float32))
                return _c(out.astype(np.float16))
            return _c(np.matmul(a, b))

    def transpose(self, x, shape, dtype, perm):
        return _c(x.transpose(perm))

    def reshape(self, x, shape, dtype, new_shape):
        return x.reshape(new_shape)

    def slice(self, x, shape, dtype, begin, size, step):
        index = tuple(
            slice(b, b + s * st if b + s * st >= 0 else None, st) if s else slice(0, 0)
            for b, s, st in zip(begin, size, step, strict=True)
        )
        return _c(x[index])

    def concat(self, xs, shapes, dtype, axis):
        return np.concatenate(xs, axis=axis)

    def pad(self, x, shape, dtype, paddings, value):
        return np.pad(x, paddings, constant_values=value)

    def gather(self, x, shape, dtype, indices, indices_shape, axis, check=False):
        if check:
            check_indices(indices, shape[axis], shape, axis)
        return _c(np.take(x, indices, axis=axis))

    def scatter_add(self, updates, updates_shape, dtype, indices, indices_shape, axis, dim):
        lead = updates_shape[:axis]
        trail = updates_shape[axis + len(indices_shape) :]
        out = np.zeros(lead + (dim,) + trail, dtype=updates.dtype)
        # an explicit count: -1 is ambiguous when a trailing dimension is 0
        u = updates.reshape(lead + (int(np.prod(indices_shape, dtype=np.int64)),) + trail)
        with np.errstate(all="ignore"):
            np.add.at(out, (slice(None),) * axis + (indices.reshape(-1),), u)
        return out

    def ravel_indices(self, indices, indices_shape, dims, op, shape):
        ind = indices.reshape(indices_shape)
        check_coordinates(ind, tuple(dims), op, shape)
        return _c(ravel_coordinates(ind, tuple(dims)))

    def one_hot(self, indices, shape, depth, on, off, dtype):
        out = np.full(tuple(shape) + (depth,), off, dtype=numpy_dtype(dtype))
        if out.size == 0:
            return out
        idx = indices.reshape(-1)
        flat = out.reshape(-1, depth)
        valid = (idx >= 0) & (idx < depth)
        flat[np.nonzero(valid)[0], idx[valid]] = on
        return out

    def fill(self, shape, value, dtype):
        return np.full(shape, value, dtype=numpy_dtype(dtype))
