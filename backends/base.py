"""The kernel contract every backend implements.

A backend stores tensor data in its own buffer objects (a numpy array, a CuPy array, an
OpenCL buffer wrapper, ...). The engine never looks inside a buffer: it only passes buffers
back to the backend's kernels, together with the shapes and dtypes it has already checked.

Conventions for every primitive:
- Buffers are dense and row-major (C order) with the shape the engine tracks.
- Shapes are tuples of ints; dtypes are the strings ``"float32"``, ``"int32"``, ``"bool"``
  (and ``"float64"`` where ``capabilities["float64"]`` is true).
- Inputs of a binary op already share a dtype (the engine casts first); broadcasting follows
  numpy rules and the engine passes the broadcast ``out_shape``.
- Kernels never modify their inputs and always return a fresh buffer (``reshape`` may return a
  view that shares storage, since the engine never writes to buffers in place).

Optional hooks (the engine checks for them): ``prefers(kernel, **shapes)`` says per operand
shapes whether to use a fused kernel (default: whenever offered); ``trace_recorder(arg_bufs,
var_bufs)`` compiles a trace's replay into a backend program (engine/trace.py documents the
recorder's calls; backends/cpu/steps/program.py is the one implementation).

A backend may additionally offer fused versions of engine composites (``softmax``,
``log_softmax``, ``conv2d``, optimizer updates, ...): it lists their names in ``fused`` and
implements a method of the same name; the engine calls it instead of the composite.
Fusable composites and where their method signatures are documented:
- ``softmax``, ``log_softmax``: ``(x, shape, dtype, axis) -> buf`` (engine/ops/activations.py)
- ``fused_matmul``: matmul + bias + activation (engine/ops/linalg.py ``fused_matmul``)
- ``categorical_crossentropy`` and ``categorical_crossentropy_grad`` (engine/ops/losses.py)
- ``<kind>_update`` one-pass optimizer updates for sgd, momentum, adam, adamax, rmsprop,
  adagrad, adadelta (engine/train/optimizers.py, module docstring)
- ``fused_elementwise``: a chain of elementwise ops from a trace in one kernel (engine/fusion.py
  finds the chains; backends/cpu/fusion.py and backends/crender/fusion.py implement it)::

      fused_elementwise(expr, bufs, in_shapes, shape, out_shapes) -> tuple[buf, ...]

  ``expr = (in_dtypes, nodes, outs)`` is hashable (cache kernels by it): ``in_dtypes`` the dtype
  of each input buffer; ``nodes`` a tuple of ``(op, dtype, args)`` in evaluation order, ``op`` a
  ``UNARY_OPS`` / ``BINARY_OPS`` name, ``"where"`` (args cond, a, b) or ``"cast"`` (to ``dtype``
  from its argument's dtype), ``dtype`` the node's result dtype, ``args`` value indices: ``k <
  len(in_dtypes)`` is input ``k``, ``len(in_dtypes) + j`` is node ``j``; ``outs`` the value
  indices (nodes) to write, one returned buffer each, in order. Each node means exactly the
  primitive of that name on its argument dtype (``binary`` arguments share a dtype, ``unary``
  on float/int32 as ``engine.fusion.FUSABLE`` lists) and is rounded to its dtype, so results
  equal the unfused chain's (to float32 tolerance; the cpu and rendered kernels are
  bit-identical to their unfused ones). ``shape`` is the iteration space (at most 6 axes not of
  size 1); input ``k`` of shape ``in_shapes[k]`` broadcasts to ``shape`` by numpy rules; output
  ``k`` is a fresh buffer of shape ``out_shapes[k]`` (same element count as ``shape``) holding
  the node's values in row-major order of ``shape``. Inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from engine import optable as _optable

# The elementwise ops come from the engine's op table (engine/optable.py): name -> meaning.
# A backend implements every ``UNARY_OPS`` name in ``unary`` and every ``BINARY_OPS`` name in
# ``binary`` for the dtype kinds the entry lists (``optable.OPS[name].kinds``: f float, i int32,
# b bool); tests/test_optable.py checks that every backend does.
UNARY_OPS: dict[str, str] = {name: op.doc for name, op in _optable.UNARY.items()}
BINARY_OPS: dict[str, str] = {name: op.doc for name, op in _optable.BINARY.items()}

COMPARISON_OPS = _optable.COMPARISON_OPS
LOGICAL_OPS = _optable.LOGICAL_OPS
PREDICATE_OPS = _optable.PREDICATE_OPS
INT_UNARY_OPS = _optable.INT_UNARY_OPS

REDUCE_OPS = ("sum", "prod", "max", "min", "any", "all")
ARG_REDUCE_OPS = ("argmax", "argmin")

# The primitive methods a backend must implement, with their signatures.
PRIMITIVES: dict[str, str] = {
    "from_numpy": "(array: np.ndarray) -> buf  # host to device; array is C-contiguous",
    "to_numpy": "(buf, shape, dtype) -> np.ndarray  # device to host",
    "unary": "(op, x, shape, dtype) -> buf  # op in UNARY_OPS; out dtype is bool for predicates",
    "binary": "(op, a, a_shape, b, b_shape, out_shape, dtype) -> buf  # op in BINARY_OPS",
    "where": "(cond, c_shape, a, a_shape, b, b_shape, out_shape, dtype) -> buf",
    "cast": "(x, shape, dtype_from, dtype_to) -> buf  # float->int32: trunc, NaN->0, saturate",
    "reduce": "(op, x, shape, dtype, axes) -> buf  # axes sorted, non-empty; output drops them",
    "arg_reduce": "(op, x, shape, dtype, axis) -> int32 buf  # first index on ties",
    "cumsum": "(x, shape, dtype, axis, exclusive, reverse) -> buf",
    "matmul": "(a, a_shape, b, b_shape, dtype, transpose_a, transpose_b) -> buf  # 3-D, equal batch",
    "transpose": "(x, shape, dtype, perm) -> buf",
    "reshape": "(x, shape, dtype, new_shape) -> buf  # may share storage",
    "slice": "(x, shape, dtype, begin, size, step) -> buf  # step may be negative",
    "concat": "(xs, shapes, dtype, axis) -> buf",
    "pad": "(x, shape, dtype, paddings, value) -> buf  # paddings: ((before, after), ...)",
    "gather": "(x, shape, dtype, indices, indices_shape, axis, check=False) -> buf  # indices "
    "int32, in range; check=True (only with capabilities['gather_checks_indices']): raise "
    "base.check_indices's IndexError instead",
    "scatter_add": "(updates, updates_shape, dtype, indices, indices_shape, axis, dim) -> buf  "
    "# indices int32, in [0, dim) (the engine checks them first)",
    "ravel_indices": "(indices, indices_shape, dims, op, shape) -> int32 buf  # indices "
    "(..., K) int32, K == len(dims); out (...) = row-major linear index of each K-vector in "
    "dims; raises base.check_coordinates's IndexError (naming op and shape) when a coordinate "
    "is outside [0, dims[j]), without writing outside any buffer",
    "one_hot": "(indices, shape, depth, on, off, dtype) -> buf  # indices int32",
    "fill": "(shape, value, dtype) -> buf",
}


class Backend:
    """Base class of every backend; subclasses implement every name in ``PRIMITIVES``."""

    name: ClassVar[str] = "base"
    #: Fused overrides of engine composites this backend implements (method names).
    fused: ClassVar[frozenset[str]] = frozenset()
    #: What the backend supports; the engine checks these before dispatching.
    capabilities: ClassVar[dict[str, Any]] = {
        "dtypes": ("float32", "int32", "bool"),
        "float64": False,
    }

    def device_info(self) -> str:
        """One line naming the device the kernels run on."""
        return "host"

    def nbytes(self, buf: Any) -> int:
        """Bytes held by one buffer (for ``engine.memory()``)."""
        return int(buf.nbytes)

    def synchronize(self) -> None:
        """Wait until queued kernels finish (a no-op on synchronous backends)."""

    def has(self, kernel: str) -> bool:
        """True when the backend offers a fused kernel for the composite ``kernel``."""
        return kernel in self.fused

    def prefers(self, kernel: str, **shapes: Any) -> bool:
        """Use the fused ``kernel`` for operands of these shapes? (Default: whenever offered;
        a backend overrides it where its composite measures faster for some shapes.)"""
        return self.has(kernel)

    @classmethod
    def missing_primitives(cls) -> list[str]:
        """Primitive names this class leaves unimplemented."""
        return [
            name
            for name in PRIMITIVES
            if getattr(cls, name, None) is getattr(Backend, name, None)
            or not callable(getattr(cls, name, None))
        ]

    # Each primitive raises until a subclass implements it; the registry checks
    # ``missing_primitives`` before a backend is ever used.
    def _missing(self, name: str) -> None:
        raise NotImplementedError(f"backend {self.name!r} does not implement primitive {name!r}")


def _stub(name: str):
    def method(self, *args, **kwargs):
        self._missing(name)

    method.__name__ = name
    method.__doc__ = PRIMITIVES[name]
    return method


for _name in PRIMITIVES:
    setattr(Backend, _name, _stub(_name))


def _position(flat: int, shape: tuple) -> tuple[int, ...]:
    return tuple(int(v) for v in np.unravel_index(flat, shape)) if shape else ()


def check_indices(indices: np.ndarray, size: int, shape: tuple, axis: int) -> None:
    """Raise the engine's gather IndexError unless every index is in ``[0, size)`` (host
    backends whose ``capabilities["gather_checks_indices"]`` is True run this themselves, so
    a traced step needs no host read of the indices). Negative indices are errors, as in
    TF.js's ``gather`` on the CPU (no Python-style wrap-around)."""
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= size:
            bad = (indices < 0) | (indices >= size)
            flat = int(np.argmax(bad.reshape(-1)))
            value = int(indices.reshape(-1)[flat])
            note = " (negative indices are not allowed)" if value < 0 else ""
            raise IndexError(
                f"gather: indices must be in [0, {size}) for axis {axis} of shape {shape}, "
                f"got values from {lo} to {hi}; the first bad one is {value} at position "
                f"{_position(flat, indices.shape)} of the indices{note}"
            )


def check_coordinates(indices: np.ndarray, dims: tuple, op: str, shape: tuple) -> None:
    """Raise ``op``'s IndexError unless coordinate ``j`` of every index vector (the last axis
    of ``indices``, of length ``len(dims)``) is in ``[0, dims[j])``: each coordinate is checked
    against its own dimension, so ``[0, 5]`` on shape (3, 2) is an error even though its
    linear index 5 is in range. The message names the first bad vector, its position in
    ``indices`` and the offending coordinate. Negative coordinates are errors (as TF.js)."""
    k = len(dims)
    if indices.size == 0 or k == 0:
        return
    rows = indices.reshape(-1, k)
    bad = (rows < 0) | (rows >= np.asarray(dims, dtype=np.int64))
    if not bad.any():
        return
    row, j = divmod(int(np.argmax(bad.reshape(-1))), k)
    value = int(rows[row, j])
    note = " (negative indices are not allowed)" if value < 0 else ""
    raise IndexError(
        f"{op}: index {rows[row].tolist()} at position {_position(row, indices.shape[:-1])} "
        f"of the indices (shape {tuple(indices.shape)}) is out of range for shape "
        f"{tuple(shape)}: coordinate {j} is {value}, expected 0 <= it < {dims[j]}{note}"
    )


def ravel_coordinates(indices: np.ndarray, dims: tuple) -> np.ndarray:
    """Row-major linear indices (int32, shape ``indices.shape[:-1]``) of checked index
    vectors: the host implementation of ``ravel_indices`` after ``check_coordinates``."""
    k = len(dims)
    out_shape = indices.shape[:-1]
    if k == 0 or indices.size == 0:
        return np.zeros(out_shape, np.int32)
    strides = np.ones(k, np.int64)
    for j in range(k - 2, -1, -1):
        strides[j] = strides[j + 1] * dims[j + 1]
    lin = indices.reshape(-1, k).astype(np.int64) @ strides
    return lin.astype(np.int32).reshape(out_shape)


def check_fused_elementwise(
    expr: tuple, bufs: Sequence[Any], in_shapes: Sequence[tuple], out_shapes: Sequence[tuple]
) -> int:
    """The input count of a ``fused_elementwise`` expression, after checking that the buffers
    and shapes match it (ValueError naming what was expected)."""
    n_in, n_out = len(expr[0]), len(expr[2])
    if len(bufs) != n_in or len(in_shapes) != n_in or len(out_shapes) != n_out:
        raise ValueError(
            f"fused_elementwise: {n_in} inputs and {n_out} outputs expected, got "
            f"{len(bufs)} buffers, {len(in_shapes)} input shapes, {len(out_shapes)} output shapes"
        )
    return n_in


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype for an engine dtype name."""
    return np.dtype(np.bool_ if dtype == "bool" else dtype)


def out_dtype_unary(op: str, dtype: str) -> str:
    return "bool" if op in PREDICATE_OPS or op in LOGICAL_OPS else dtype


def out_dtype_binary(op: str, dtype: str) -> str:
    return "bool" if op in COMPARISON_OPS or op in LOGICAL_OPS else dtype
