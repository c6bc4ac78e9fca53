"""The kernel contract implemented once on rendered C kernels, over a small device runtime.

A subclass (``opencl``, ``cuda``) supplies the dialect and five runtime methods: ``_alloc``,
``_kernel`` (compile-and-cache a program, return one kernel), ``_launch``, ``from_numpy`` and
``to_numpy``. Every other primitive here only renders sources and launches kernels, so op
chains never read data back to the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod
from typing import Any, ClassVar

import numpy as np

from backends.base import (
    PRIMITIVES,
    Backend,
    check_coordinates,
    check_indices,
    numpy_dtype,
    out_dtype_binary,
    out_dtype_unary,
)
from backends.crender import kernels as K
from backends.crender.dialect import Dialect
from backends.crender.fused import FusedOps
from backends.crender.fusion import FusionOps
from backends.crender.layout import (
    broadcast_strides,
    collapse,
    padded,
    split_axes,
    strides_of,
)

_i32 = np.int32
#: Kernels index elements with 32-bit ``int``: no buffer may hold more elements than this.
INT32_MAX = 2**31 - 1


class DeviceMemoryError(MemoryError):
    """A tensor too large for the device, raised before anything is allocated or launched.

    Raised when a result (or an upload) would need more bytes than one allocation may have
    (OpenCL's ``CL_DEVICE_MAX_MEM_ALLOC_SIZE``; the global memory size on CUDA) or than the
    device's global memory, or more than 2**31 - 1 elements (the kernels index with 32-bit
    ints). The message names the op, the shape, the bytes requested and the device's limit;
    the same fields are attributes (``op`` is the outermost primitive that was running).
    """

    def __init__(
        self, shape: tuple, dtype: str, nbytes: int, limit: int, what: str, device: str
    ) -> None:
        self.op: str | None = None
        self.shape, self.dtype, self.nbytes, self.limit = tuple(shape), dtype, nbytes, limit
        self.what, self.device = what, device
        super().__init__(self._message())

    def _message(self) -> str:
        n = prod(self.shape)
        if self.what == "elements":
            need = f"{n} elements ({self.nbytes} bytes)"
            lim = f"at most {self.limit} elements per buffer (kernels index with 32-bit ints)"
        else:
            need = f"{self.nbytes} bytes ({self.nbytes / 2**30:.2f} GiB)"
            lim = f"{self.what} of {self.limit} bytes ({self.limit / 2**30:.2f} GiB)"
        return (
            f"{self.op or 'allocation'}: a {self.dtype} tensor of shape {self.shape} needs "
            f"{need}, more than {self.device} allows: {lim}"
        )

    def name_op(self, op: str) -> None:
        self.op = op
        self.args = (self._message(),)


#: Primitives whose first argument names the operation (``binary("add", ...)``).
_NAMED_BY_FIRST = frozenset({"unary", "binary", "reduce", "arg_reduce"})


def _naming(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its DeviceMemoryError naming ``name`` (outer calls overwrite inner ones,
    so ``pad`` reports ``pad``, not the ``fill`` it runs first)."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except DeviceMemoryError as exc:
            first = args[0] if args and isinstance(args[0], str) else None
            exc.name_op(f"{name} {first}" if first and name in _NAMED_BY_FIRST else name)
            raise

    method.__name__ = fn.__name__
    method.__qualname__ = getattr(fn, "__qualname__", name)
    method.__doc__ = fn.__doc__
    method._names_op = True  # type: ignore[attr-defined]
    return method


def _name_ops(cls: type) -> None:
    """Wrap every primitive and fused method ``cls`` defines itself (see ``_naming``)."""
    for name in (*PRIMITIVES, *getattr(cls, "fused", ())):
        fn = cls.__dict__.get(name)
        if callable(fn) and not getattr(fn, "_names_op", False):
            setattr(cls, name, _naming(name, fn))


#: Reductions run one thread per output unless the reduced axis is long and outputs are few.
TREE_MIN_R = 128
TREE_MAX_OUT = 4096
#: A long reduction with few outputs is split into at most this many chunks per output.
TREE_MAX_PARTS = 64


class RenderedBackend(FusionOps, FusedOps, Backend):
    """Primitives on kernels from ``backends.crender``; see the module docstring."""

    dialect: ClassVar[Dialect]
    fused: ClassVar[frozenset[str]] = FusedOps.FUSED | FusionOps.FUSED
    #: Work-group size of 1-D launches and local-memory trees (a power of two).
    group_size: int = 256
    #: Local (shared) memory per work-group, in bytes.
    local_mem_bytes: int = 48 * 1024
    #: The largest single allocation and the global memory, in bytes (None: unknown); a
    #: larger tensor raises DeviceMemoryError before anything is allocated or launched.
    max_alloc_bytes: int | None = None
    global_mem_bytes: int | None = None
    #: What ``max_alloc_bytes`` is called on this device (for error messages).
    max_alloc_name: str = "the largest single allocation"

    def __init__(self) -> None:
        self._sources: dict[tuple, str] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _name_ops(cls)

    # -- runtime hooks -------------------------------------------------------------------
    def _alloc(self, nbytes: int, dtype: str) -> Any:
        raise NotImplementedError

    def _kernel(self, source: str, name: str) -> Any:
        raise NotImplementedError

    def _launch(self, kernel: Any, groups: tuple, local: tuple, args: list) -> None:
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------
    def _check_dtype(self, dtype: str) -> None:
        if dtype == "float64" and not self.capabilities.get("float64"):
            raise TypeError(
                f"backend {self.name!r}: dtype 'float64' is not supported on "
                f"{self.device_info()} (capabilities['float64'] is False); use float32"
            )
        if dtype not in ("float32", "int32", "bool", "float64"):
            raise TypeError(f"backend {self.name!r}: unknown dtype {dtype!r}")

    def _source(self, render: Callable[..., str], *args: Any) -> str:
        key = (render.__name__, *args)
        src = self._sources.get(key)
        if src is None:
            src = self._sources[key] = render(self.dialect, *args)
        return src

    def _check_size(self, shape: Sequence[int], dtype: str, nbytes: int) -> None:
        """Raise DeviceMemoryError unless a ``dtype`` buffer of ``shape`` (``nbytes``) fits
        the device's allocation limit, its global memory and 32-bit kernel indexing."""
        limits = (
            (self.max_alloc_bytes, self.max_alloc_name),
            (self.global_mem_bytes, "the global memory"),
        )
        for limit, what in limits:
            if limit is not None and nbytes > limit:
                raise DeviceMemoryError(shape, dtype, nbytes, limit, what, self.device_info())
        if prod(shape) > INT32_MAX:
            raise DeviceMemoryError(shape, dtype, nbytes, INT32_MAX, "elements", self.device_info())

    def _empty(self, shape: Sequence[int], dtype: str) -> Any:
        self._check_dtype(dtype)
        shape = tuple(int(v) for v in shape)
        nbytes = prod(shape) * numpy_dtype(dtype).itemsize
        self._check_size(shape, dtype, nbytes)
        return self._alloc(nbytes, dtype)

    def _run1d(self, source: str, name: str, n: int, args: list) -> None:
        gs = self.group_size
        self._launch(self._kernel(source, name), ((n + gs - 1) // gs,), (gs,), args)

    def _scalar(self, value: Any, dtype: str) -> Any:
        if dtype == "bool":
            return np.uint8(bool(value))
        return np.asarray(value).astype(numpy_dtype(dtype))[()]

    def _elementwise(
        self, source: str, name: str, out_shape: tuple, out_dtype: str, inputs: list
    ) -> Any:
        """Run ``{name}_c`` or ``{name}_s`` over ``inputs``: (buffer, shape) pairs."""
        out = self._empty(out_shape, out_dtype)
        n = prod(out_shape)
        if n == 0:
            return out
        bufs = [b for b, _ in inputs]
        strides = [broadcast_strides(s, out_shape) for _, s in inputs]
        shape, sts = collapse(out_shape, *strides)
        if len(shape) == 1 and all(st[0] == 1 for st in sts):
            self._run1d(source, f"{name}_c", n, [out, *bufs, _i32(n)])
        else:
            dims = padded(shape, sts, name)
            self._run1d(source, f"{name}_s{len(shape)}", n, [out, *bufs, _i32(n), *map(_i32, dims)])
        return out

    def _copy(
        self,
        dst: Any,
        src: Any,
        itemsize: int,
        shape: Sequence[int],
        dbase: int,
        dst_strides: Sequence[int],
        sbase: int,
        src_strides: Sequence[int],
    ) -> None:
        n = prod(shape)
        if n == 0:
            return
        shp, sts = collapse(shape, dst_strides, src_strides)
        dims = padded(shp, sts, "copy")
        args = [dst, src, _i32(n), _i32(dbase), _i32(sbase), *map(_i32, dims)]
        self._run1d(self._source(K.render_copy, itemsize), f"copy{len(shp)}", n, args)

    # -- primitives ----------------------------------------------------------------------
    def unary(self, op: str, x: Any, shape: tuple, dtype: str) -> Any:
        self._check_dtype(dtype)
        src = self._source(K.render_unary, op, dtype)
        return self._elementwise(
            src, f"unary_{op}", shape, out_dtype_unary(op, dtype), [(x, shape)]
        )

    def binary(
        self, op: str, a: Any, a_shape: tuple, b: Any, b_shape: tuple, out_shape: tuple, dtype: str
    ) -> Any:
        self._check_dtype(dtype)
        src = self._source(K.render_binary, op, dtype)
        out_dt = out_dtype_binary(op, dtype)
        return self._elementwise(
            src, f"binary_{op}", out_shape, out_dt, [(a, a_shape), (b, b_shape)]
        )

    def where(
        self,
        cond: Any,
        c_shape: tuple,
        a: Any,
        a_shape: tuple,
        b: Any,
        b_shape: tuple,
        out_shape: tuple,
        dtype: str,
    ) -> Any:
        self._check_dtype(dtype)
        src = self._source(K.render_where, dtype)
        inputs = [(cond, c_shape), (a, a_shape), (b, b_shape)]
        return self._elementwise(src, "where", out_shape, dtype, inputs)

    def cast(self, x: Any, shape: tuple, dtype_from: str, dtype_to: str) -> Any:
        self._check_dtype(dtype_from)
        self._check_dtype(dtype_to)
        src = self._source(K.render_cast, dtype_from, dtype_to)
        return self._elementwise(src, "cast", shape, dtype_to, [(x, shape)])

    def _orient(self, x: Any, shape: tuple, dtype: str, axes: Sequence[int]) -> tuple:
        """(x, (O, R, I)), transposing first when the reduced axes are not one block."""
        split = split_axes(shape, axes)
        if split is None:
            perm = [a for a in range(len(shape)) if a not in axes] + list(axes)
            x = self.transpose(x, shape, dtype, perm)
            shape = tuple(shape[p] for p in perm)
            split = split_axes(shape, range(len(shape) - len(axes), len(shape)))
        return x, split

    def reduce(self, op: str, x: Any, shape: tuple, dtype: str, axes: Sequence[int]) -> Any:
        self._check_dtype(dtype)
        x, (o, r, i) = self._orient(x, shape, dtype, axes)
        return self._reduce_ori(op, x, o, r, i, dtype)

    def _reduce_ori(self, op: str, x: Any, o: int, r: int, i: int, dtype: str) -> Any:
        """Reduce the middle axis of (O, R, I): a tree per output when R is long and outputs
        are few (split in up to ``TREE_MAX_PARTS`` chunks, then reduced again), else a loop
        per output thread."""
        out = self._empty((o * i,), dtype)
        if o * i == 0:
            return out
        src = self._source(K.render_reduce, op, dtype, self.group_size)
        if r < TREE_MIN_R or o * i > TREE_MAX_OUT:
            args = [out, x, _i32(r), _i32(i), _i32(o * i)]
            self._run1d(src, f"reduce_{op}_serial", o * i, args)
            return out
        parts = (
            min(TREE_MAX_PARTS, -(-r // (self.group_size * 16))) if o * i < TREE_MAX_PARTS else 1
        )
        chunk = -(-r // parts)
        parts = -(-r // chunk)
        dest = out if parts == 1 else self._empty((o * parts * i,), dtype)
        kern = self._kernel(src, f"reduce_{op}_tree")
        args = [dest, x, _i32(r), _i32(i), _i32(chunk), _i32(parts)]
        self._launch(kern, (o * i, parts), (self.group_size, 1), args)
        return out if parts == 1 else self._reduce_ori(op, dest, o, parts, i, dtype)

    def arg_reduce(self, op: str, x: Any, shape: tuple, dtype: str, axis: int) -> Any:
        self._check_dtype(dtype)
        o, r, i = prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])
        out = self._empty((o * i,), "int32")
        if o * i == 0:
            return out
        src = self._source(K.render_arg_reduce, op, dtype, self.group_size)
        if r < TREE_MIN_R or o * i > TREE_MAX_OUT:
            self._run1d(src, f"{op}_serial", o * i, [out, x, _i32(r), _i32(i), _i32(o * i)])
        else:
            kern = self._kernel(src, op)
            self._launch(kern, (o * i,), (self.group_size,), [out, x, _i32(r), _i32(i)])
        return out

    def cumsum(
        self, x: Any, shape: tuple, dtype: str, axis: int, exclusive: bool, reverse: bool
    ) -> Any:
        self._check_dtype(dtype)
        o, r, i = prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])
        out = self._empty(shape, dtype)
        if o * i * r:
            args = [out, x, _i32(r), _i32(i), _i32(o * i), _i32(exclusive), _i32(reverse)]
            self._run1d(self._source(K.render_cumsum, dtype), "cumsum", o * i, args)
        return out

    def matmul(
        self,
        a: Any,
        a_shape: tuple,
        b: Any,
        b_shape: tuple,
        dtype: str,
        transpose_a: bool,
        transpose_b: bool,
    ) -> Any:
        self._check_dtype(dtype)
        nb = a_shape[0]
        m, k = (a_shape[2], a_shape[1]) if transpose_a else (a_shape[1], a_shape[2])
        n = b_shape[1] if transpose_b else b_shape[2]
        out = self._empty((nb, m, n), dtype)
        if nb * m * n == 0:
            return out
        sam, sak = (1, m) if transpose_a else (k, 1)
        sbk, sbn = (1, k) if transpose_b else (n, 1)
        tile, wpt = self._gemm_config(dtype)
        kern = self._kernel(self._source(K.render_matmul, dtype, tile, wpt), "gemm")
        groups = ((n + tile - 1) // tile, (m + tile - 1) // tile, nb)
        ints = (m, n, k, m * k, sam, sak, k * n, sbk, sbn)
        self._launch(kern, groups, (tile // wpt, tile // wpt, 1), [out, a, b, *map(_i32, ints)])
        return out

    def _gemm_config(self, dtype: str) -> tuple[int, int]:
        size = numpy_dtype(dtype).itemsize
        for tile, wpt in K.GEMM_CONFIGS:
            if (
                2 * tile * (tile + 1) * size <= self.local_mem_bytes
                and (tile // wpt) ** 2 <= self.group_size
            ):
                return tile, wpt
        raise RuntimeError(
            f"backend {self.name!r}: no GEMM tiling fits {self.local_mem_bytes} bytes of local memory"
        )

    def transpose(self, x: Any, shape: tuple, dtype: str, perm: Sequence[int]) -> Any:
        self._check_dtype(dtype)
        out_shape = tuple(shape[p] for p in perm)
        out = self._empty(out_shape, dtype)
        st = strides_of(shape)
        size = numpy_dtype(dtype).itemsize
        self._copy(out, x, size, out_shape, 0, strides_of(out_shape), 0, [st[p] for p in perm])
        return out

    def reshape(self, x: Any, shape: tuple, dtype: str, new_shape: tuple) -> Any:
        return x

    def slice(
        self, x: Any, shape: tuple, dtype: str, begin: tuple, size: tuple, step: tuple
    ) -> Any:
        self._check_dtype(dtype)
        out = self._empty(size, dtype)
        st = strides_of(shape)
        sbase = sum(b * s for b, s in zip(begin, st, strict=True)) if prod(size) else 0
        src_st = [s * p for s, p in zip(st, step, strict=True)]
        itemsize = numpy_dtype(dtype).itemsize
        self._copy(out, x, itemsize, size, 0, strides_of(size), sbase, src_st)
        return out

    def concat(self, xs: list, shapes: Sequence[tuple], dtype: str, axis: int) -> Any:
        self._check_dtype(dtype)
        out_shape = list(shapes[0])
        out_shape[axis] = sum(s[axis] for s in shapes)
        out = self._empty(out_shape, dtype)
        ost = strides_of(out_shape)
        itemsize, start = numpy_dtype(dtype).itemsize, 0
        for x, s in zip(xs, shapes, strict=True):
            self._copy(out, x, itemsize, s, start * ost[axis], ost, 0, strides_of(s))
            start += s[axis]
        return out

    def pad(self, x: Any, shape: tuple, dtype: str, paddings: Sequence, value: Any) -> Any:
        out_shape = tuple(s + a + b for s, (a, b) in zip(shape, paddings, strict=True))
        out = self.fill(out_shape, value, dtype)
        ost = strides_of(out_shape)
        base = sum(a * st for (a, _), st in zip(paddings, ost, strict=True))
        self._copy(out, x, numpy_dtype(dtype).itemsize, shape, base, ost, 0, strides_of(shape))
        return out

    def _ravel(
        self, indices: Any, rows: int, dims: Sequence[int], on_error: Callable[[Any], None]
    ) -> Any:
        """Linear indices (int32, ``rows``) of the (rows, K) int32 index vectors ``indices``
        in ``dims``, each coordinate checked on the device. The kernel writes only inside its
        buffers and lowers an error cell to the first bad position; one 4-byte read (no host
        copy of the indices) tells whether to call ``on_error(indices)``, which raises."""
        k = len(dims)
        if k == 0:  # zero-length index vectors: every one addresses the whole tensor
            return self.fill((rows,), 0, "int32")
        out = self._empty((rows,), "int32")
        if rows == 0:
            return out
        err = self.fill((1,), INT32_MAX, "int32")
        args = [out, indices, err, _i32(rows), *map(_i32, dims)]
        self._run1d(self._source(K.render_ravel_indices, k), "ravel_indices", rows, args)
        if int(self.to_numpy(err, (1,), "int32")[0]) != INT32_MAX:
            on_error(indices)
            raise AssertionError("the device flagged an index the host check accepts")
        return out

    def ravel_indices(
        self, indices: Any, indices_shape: tuple, dims: Sequence[int], op: str, shape: tuple
    ) -> Any:
        dims = tuple(int(v) for v in dims)
        rows = prod(indices_shape[:-1])

        def on_error(buf: Any) -> None:
            host = self.to_numpy(buf, tuple(indices_shape), "int32")
            check_coordinates(host, dims, op, tuple(shape))

        return self._ravel(indices, rows, dims, on_error)

    def gather(
        self,
        x: Any,
        shape: tuple,
        dtype: str,
        indices: Any,
        indices_shape: tuple,
        axis: int,
        check: bool = False,
    ) -> Any:
        self._check_dtype(dtype)
        o, d, i = prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])
        nidx = prod(indices_shape)
        if check and nidx:

            def on_error(buf: Any) -> None:
                host = self.to_numpy(buf, tuple(indices_shape), "int32")
                check_indices(host, d, tuple(shape), axis)

            self._ravel(indices, nidx, (d,), on_error)  # raises before the gather launches
        out = self._empty((o * nidx * i,), dtype)
        n = o * nidx * i
        if n:
            src = self._source(K.render_gather, numpy_dtype(dtype).itemsize)
            self._run1d(src, "gather", n, [out, x, indices, *map(_i32, (nidx, d, i, n))])
        return out

    def scatter_add(
        self,
        updates: Any,
        updates_shape: tuple,
        dtype: str,
        indices: Any,
        indices_shape: tuple,
        axis: int,
        dim: int,
    ) -> Any:
        o = prod(updates_shape[:axis])
        i = prod(updates_shape[axis + len(indices_shape) :])
        nidx = prod(indices_shape)
        out = self.fill((o * dim * i,), 0, dtype)
        n = o * nidx * i
        if n:
            src = self._source(K.render_scatter_add, dtype)
            self._run1d(
                src, "scatter_add", n, [out, updates, indices, *map(_i32, (nidx, dim, i, n))]
            )
        return out

    def one_hot(self, indices: Any, shape: tuple, depth: int, on: Any, off: Any, dtype: str) -> Any:
        self._check_dtype(dtype)
        n = prod(shape) * depth
        out = self._empty((n,), dtype)
        if n:
            args = [
                out,
                indices,
                _i32(depth),
                self._scalar(on, dtype),
                self._scalar(off, dtype),
                _i32(n),
            ]
            self._run1d(self._source(K.render_one_hot, dtype), "one_hot", n, args)
        return out

    def fill(self, shape: Sequence[int], value: Any, dtype: str) -> Any:
        self._check_dtype(dtype)
        out = self._empty(shape, dtype)
        n = prod(shape)
        if n:
            args = [out, self._scalar(value, dtype), _i32(n)]
            self._run1d(self._source(K.render_fill, dtype), "fill", n, args)
        return out


_name_ops(RenderedBackend)
for _name in RenderedBackend.fused:  # the mixins' methods (``_name_ops`` wraps own ones only)
    _fn = getattr(RenderedBackend, _name, None)
    if callable(_fn) and not getattr(_fn, "_names_op", False):
        setattr(RenderedBackend, _name, _naming(_name, _fn))
