"""Conversion, shape helpers and the generic elementwise dispatchers used by every op."""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.base import LOGICAL_OPS, out_dtype_binary, out_dtype_unary
from engine import dispatch, dtypes, registry
from engine.optable import BINARY as _BINARY_TABLE
from engine.optable import INT_UNARY_OPS  # unary ops with int32 kernels (others: float32)
from engine.optable import KINDS as _KINDS
from engine.tensor import ComplexTensor, Tensor
from engine.typing import DTypeLike, ShapeLike, TensorLike

Shape = tuple[int, ...]


def tensor(
    values: TensorLike, shape: ShapeLike | None = None, dtype: DTypeLike | None = None
) -> Tensor:
    """A tensor from nested lists, numbers, numpy arrays or another tensor (TF.js ``tensor``).

    The data is uploaded to the active backend (``tw.get_backend()``). Nothing is narrowed
    silently (``engine.dtypes.to_host_array``); floats into int32 truncate toward zero, as
    TF.js.

    Args:
        values: A Python number or bool, (nested) lists of them, a numpy array or a Tensor.
        shape: Reshape the values to this shape; a single value fills the whole shape.
        dtype: ``"float32"``, ``"int32"``, ``"bool"`` or ``"float64"`` (where the backend
            supports it). Without it, Python numbers (ints too) give float32 as in TF.js,
            Python bools give bool, and numpy arrays keep their kind (ints -> int32,
            floats -> float32, bools -> bool).

    Returns:
        A new Tensor (``values`` itself for a Tensor with no dtype/shape change).

    Raises:
        ValueError: The number of values does not fill ``shape``, or a value does not fit
            ``dtype`` (an int64 2**40 or NaN into int32, 1e300 into float32).
        TypeError: ``dtype`` is unknown or not supported by the backend, or the values are
            complex.

    Example:

    >>> x = tw.tensor([[1, 2], [3, 4]])
    >>> x.shape, x.dtype
    ((2, 2), 'float32')
    >>> tw.tensor([1, 2, 3, 4], shape=[2, 2], dtype="int32").tolist()
    [[1, 2], [3, 4]]
    """
    if isinstance(values, Tensor):
        t = values if dtype is None else cast(values, dtype)
        return t if shape is None else reshape(t, shape)
    arr = np.asarray(values)
    if arr.dtype.kind == "c" or isinstance(values, complex) or dtypes.is_complex(dtype):
        return _complex_ops().from_host(arr, shape, dtype)  # a complex64 ComplexTensor
    if dtype is not None:
        dt = dtypes.as_dtype(dtype)
    elif arr.dtype.kind == "O":
        dt = "float32"  # Python ints beyond 64 bits: numbers are float32, as in TF.js
    else:
        dt = dtypes.infer_dtype(arr)
        if dt == "int32" and not isinstance(values, (np.ndarray, np.generic)):
            dt = "float32"  # Python numbers are float32, as JS numbers in TF.js
    check_dtype_supported(dt, "tensor")
    arr = dtypes.to_host_array(arr, dt, "tensor")
    if shape is not None:
        shape = dtypes.as_ints(shape, "tensor: shape")
        if arr.size == 1 and int(np.prod(shape)) != 1:
            arr = np.full(shape, arr.reshape(()), dtype=arr.dtype)
        elif arr.size != int(np.prod(shape)):
            raise ValueError(
                f"tensor: {arr.size} values cannot fill shape {shape} "
                f"({int(np.prod(shape))} elements)"
            )
        arr = arr.reshape(shape)
    return dispatch.from_host(arr, dt)


def check_dtype_supported(dtype: str, op: str, backend_name: str | None = None) -> None:
    """float64 (float16) only where the backend's ``capabilities["float64"]`` (``["float16"]``)
    says so."""
    if dtype == "float16":
        dtypes.check_float16(op, backend_name)
    if dtype == "float64":
        name = backend_name or registry.get_backend()
        be = registry.instance_of(name)
        if not be.capabilities.get("float64"):
            raise TypeError(
                f"{op}: backend {name!r} does not support float64 "
                f"(capabilities['float64'] is False); use float32"
            )


def scalar(value: float | int | bool, dtype: DTypeLike | None = None) -> Tensor:
    """A rank-0 tensor (TF.js ``scalar``).

    Args:
        value: A Python number or bool.
        dtype: The dtype (default as ``tensor``: float32 for numbers).

    Returns:
        A Tensor of shape ``()``.

    Example:

    >>> tw.scalar(3).item()
    3.0
    """
    return tensor(value, (), dtype)


def as_tensor(x: TensorLike, dtype: str | None = None) -> Tensor:
    """``x`` as a Tensor, converting only when it is not one already.

    Args:
        x: A tensor-like value.
        dtype: The dtype a Python scalar takes when that loses nothing (weak typing, as the
            other operand of a binary op); ignored for Tensors and arrays.

    Returns:
        ``x`` itself when it is a Tensor, else a new Tensor.
    """
    if isinstance(x, Tensor):
        return x
    if dtype is not None and isinstance(x, (bool, int, float, np.number, np.bool_)):
        # A Python scalar takes the other operand's dtype when that loses nothing: bools go
        # anywhere, ints into int32/float, floats into floats; otherwise int32 / float32.
        if isinstance(x, (bool, np.bool_)):
            return tensor(x, None, dtype)
        if isinstance(x, (int, np.integer)):
            return tensor(x, None, "int32" if dtype == "bool" else dtype)
        return tensor(x, None, dtype if dtypes.is_float(dtype) else "float32")
    return tensor(x)


def _complex_ops() -> Any:
    """engine.ops.complex_ops, where complex64 operands go (imported on first use)."""
    from engine.ops import complex_ops

    return complex_ops


def _is_complex(x: Any) -> bool:
    """A complex64 tensor, complex scalar or complex numpy array (``binary`` sends them on)."""
    return isinstance(x, (ComplexTensor, complex, np.complexfloating)) or (
        type(x) is np.ndarray and x.dtype.kind == "c"
    )


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Bring two operands to tensors of one dtype (Python scalars adopt the other's dtype)."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        b = as_tensor(b, a.dtype)
    elif isinstance(b, Tensor) and not isinstance(a, Tensor):
        a = as_tensor(a, b.dtype)
    else:
        a, b = as_tensor(a), as_tensor(b)
    if a.dtype != b.dtype:
        dt = dtypes.upcast(a.dtype, b.dtype)
        a, b = cast(a, dt), cast(b, dt)
    return a, b


def broadcast_shapes(a: Shape, b: Shape, op: str = "op") -> Shape:
    """The shape two shapes broadcast to (numpy rules).

    Args:
        a: The first shape.
        b: The second shape.
        op: The op name to put in the error message.

    Returns:
        The broadcast shape.

    Raises:
        ValueError: The shapes cannot be broadcast (the message names the op and shapes).

    Example:

    >>> tw.broadcast_shapes((2, 1), (3,))
    (2, 3)
    """
    if a == b:
        return a
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(pa, pb, strict=True):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ValueError(
                f"{op}: shapes {tuple(a)} and {tuple(b)} cannot be broadcast together "
                "(each dimension must match or be 1); reshape or expand_dims one operand"
            )
    return tuple(out)


def normalize_axis(axis: int, rank: int, op: str = "op") -> int:
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of rank {rank}")
    return int(axis) % max(rank, 1)


def normalize_axes(axis: Any, rank: int, op: str = "op") -> tuple[int, ...]:
    """Sorted unique axes; None means all."""
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, (list, tuple)):
        axes = {normalize_axis(a, rank, op) for a in axis}
        return tuple(sorted(axes))
    return (normalize_axis(axis, rank, op),)


def unary(op: str, x: TensorLike) -> Tensor:
    """Run an elementwise unary primitive by name (the function behind ``tw.exp`` etc.).

    Args:
        op: The primitive's name (``"exp"``, ``"relu"``, ...; see ``backends.base``).
        x: The operand; ints and bools are cast to float32 for transcendental ops.

    Returns:
        A Tensor of ``x``'s shape.
    """
    if isinstance(x, ComplexTensor):
        return _complex_ops().unary(op, x)
    x = as_tensor(x)
    if op in LOGICAL_OPS:
        if x.dtype != "bool":
            x = cast(x, "bool")
    elif op not in INT_UNARY_OPS and not dtypes.is_float(x.dtype):
        x = cast(x, "float32")  # transcendental ops on ints compute in float32, as TF.js
    elif x.dtype == "bool":
        x = cast(x, "int32")
    out_dt = out_dtype_unary(op, x.dtype)
    return dispatch.run(
        op, (x,), {}, x.shape, out_dt, lambda be, b: be.unary(op, b, x.shape, x.dtype)
    )


def binary(op: str, a: TensorLike, b: TensorLike) -> Tensor:
    """Run an elementwise binary primitive by name, with broadcasting (behind ``tw.add`` etc.).

    Args:
        op: The primitive's name (``"add"``, ``"less"``, ...; see ``backends.base``).
        a: The first operand.
        b: The second operand; a Python scalar takes the other operand's dtype.

    Returns:
        A Tensor of the broadcast shape.

    Raises:
        ValueError: The shapes cannot be broadcast.
        TypeError: The op has no kernel for the operands' dtype (``bitwise_and`` on floats).
    """
    if (a.__class__ is not Tensor or b.__class__ is not Tensor) and (
        _is_complex(a) or _is_complex(b)
    ):  # two plain Tensors (the common case) skip the complex checks
        return _complex_ops().binary(op, a, b)
    a, b = _pair(a, b)
    if op in LOGICAL_OPS and a.dtype != "bool":
        a, b = cast(a, "bool"), cast(b, "bool")
    elif op == "atan2" and a.dtype in ("bool", "int32"):
        a, b = cast(a, "float32"), cast(b, "float32")  # atan2 is a float op, as TF.js
    elif op not in LOGICAL_OPS and a.dtype == "bool" and op not in ("equal", "not_equal"):
        a, b = cast(a, "int32"), cast(b, "int32")
    shape = broadcast_shapes(a.shape, b.shape, op)
    dt = a.dtype
    entry = _BINARY_TABLE.get(op)
    if entry is not None and _KINDS.get(dt) not in entry.kinds:  # e.g. bitwise_and on floats
        names = {"f": "float32/float64", "i": "int32", "b": "bool"}
        raise TypeError(
            f"{op} is not defined for dtype {dt}; expected "
            f"{' or '.join(names[k] for k in entry.kinds)}"
        )
    out_dt = out_dtype_binary(op, dt)
    sa, sb = a.shape, b.shape
    return dispatch.run(
        op,
        (a, b),
        {},
        shape,
        out_dt,
        lambda be, x, y: be.binary(op, x, sa, y, sb, shape, dt),
    )


def cast(x: TensorLike, dtype: DTypeLike) -> Tensor:
    """Convert to ``dtype`` on the device, the same on every backend (README "Numerics").

    Float to int32 truncates toward zero, as TF.js; NaN gives 0 (as TF.js), and values beyond
    int32's range, infinities included, saturate to -2**31 or 2**31 - 1 (TF.js wraps them
    modulo 2**32 and maps infinities to 0; we do not copy that). Nonzero to bool is True.
    Host values given to ``tensor`` are checked instead: they raise when they do not fit.

    Args:
        x: The tensor.
        dtype: The target dtype.

    Returns:
        ``x`` itself when it already has ``dtype``, else a new Tensor.

    Raises:
        TypeError: ``dtype`` is unknown or not supported by the backend.

    Example:

    >>> tw.cast(tw.tensor([1.7, -1.7]), "int32").tolist()
    [1, -1]
    """
    x = as_tensor(x)
    if isinstance(x, ComplexTensor) or dtypes.is_complex(dtype):
        return _complex_ops().cast(x, dtype)
    dt = dtypes.as_dtype(dtype)
    if x.dtype == dt:
        return x
    check_dtype_supported(dt, "cast")
    src = x.dtype
    return dispatch.run(
        "cast",
        (x,),
        {"dtype": dt},
        x.shape,
        dt,
        lambda be, b: be.cast(b, x.shape, src, dt),
    )


def reshape(x: TensorLike, shape: ShapeLike) -> Tensor:
    """The same values in a new shape (TF.js ``reshape``).

    Args:
        x: The tensor.
        shape: The new shape; one dimension may be -1 (inferred from the size).

    Returns:
        A Tensor of ``shape``.

    Raises:
        ValueError: The sizes differ or more than one dimension is -1.

    Example:

    >>> tw.reshape(tw.range(0, 6), [2, -1]).shape
    (2, 3)
    """
    x = as_tensor(x)
    if isinstance(x, ComplexTensor):
        return _complex_ops().reshape(x, shape)
    shape = dtypes.as_ints(
        shape if isinstance(shape, (list, tuple)) else (shape,), "reshape: shape"
    )
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: at most one dimension may be -1, got {shape}")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or x.size % known:
            raise ValueError(
                f"reshape: cannot reshape shape {x.shape} ({x.size} elements) into {shape}"
            )
        shape = tuple(x.size // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != x.size or any(s < 0 for s in shape):
        raise ValueError(
            f"reshape: cannot reshape shape {x.shape} ({x.size} elements) into {shape} "
            f"({int(np.prod(shape))} elements)"
        )
    if shape == x.shape:
        return x
    return dispatch.run(
        "reshape",
        (x,),
        {"shape": shape},
        shape,
        x.dtype,
        lambda be, b: be.reshape(b, x.shape, x.dtype, shape),
    )


def identity(x: TensorLike, _record: bool = True) -> Tensor:
    """A new tensor with the same values.

    Args:
        x: The tensor.
        _record: Internal: ``False`` hides the copy from gradient tapes (``stop_gradient``).

    Returns:
        A new Tensor equal to ``x``.
    """
    x = as_tensor(x)
    if _record:
        return dispatch.run(
            "identity",
            (x,),
            {},
            x.shape,
            x.dtype,
            lambda be, b: be.reshape(b, x.shape, x.dtype, x.shape),
        )
    saved = list(dispatch.tapes)
    dispatch.tapes.clear()
    try:
        return dispatch.run(
            "stop_gradient",
            (x,),
            {},
            x.shape,
            x.dtype,
            lambda be, b: be.reshape(b, x.shape, x.dtype, x.shape),
        )
    finally:
        dispatch.tapes.extend(saved)


def sum_to_shape(g: Tensor, shape: Shape) -> Tensor:
    """Sum a broadcast gradient back to the operand's shape (the one broadcast-gradient helper).

    Args:
        g: A gradient of the broadcast shape.
        shape: The shape the operand had before broadcasting.

    Returns:
        ``g`` summed over the broadcast axes, of ``shape``.
    """
    from engine.ops.reduction import sum as reduce_sum

    if g.shape == tuple(shape):
        return g
    extra = len(g.shape) - len(shape)
    axes = list(range(extra))
    for i, s in enumerate(shape):
        if s == 1 and g.shape[extra + i] != 1:
            axes.append(extra + i)
    if axes:
        g = reduce_sum(g, tuple(axes), keepdims=True)
    return reshape(g, shape)
