"""complex64 tensors (TF.js ``tf.complex``, ``tf.real``, ``tf.imag``) and the ops that take them.

A complex64 tensor is an ``engine.tensor.ComplexTensor``: two float32 tensors, ``real`` and
``imag``, behind one Tensor face (``dtype == "complex64"``). Every op here computes on the two
parts with the ordinary float32 kernels, so complex64 works on every backend without a backend
kernel of its own, and gradients flow through the parts: differentiate with respect to the real
tensors a complex one is built from (``tw.grad(lambda re, im: f(tw.complex(re, im)))``), which
gives TF's convention for a real-valued loss (``dL/dRe + i dL/dIm``, split in two).

``engine.ops.core`` sends complex operands of ``tensor``, ``cast``, ``reshape``, the elementwise
``unary``/``binary`` ops and ``engine.ops.shape``'s ``transpose``/``slice``/``concat`` here.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import dtypes
from engine.tensor import ComplexTensor, Tensor
from engine.typing import DTypeLike, ShapeLike, TensorLike

__all__ = ["complex", "conj", "imag", "real"]

#: The elementwise ops defined on complex64 (anything else raises a TypeError naming it).
UNARY = ("neg", "abs")
BINARY = ("add", "sub", "mul", "div")


def _ops():
    from engine import ops

    return ops


def _float_part(x: TensorLike, what: str, op: str) -> Tensor:
    """A real operand as a float32 tensor (ints and bools convert; complex is refused)."""
    o = _ops()
    if isinstance(x, ComplexTensor):
        raise TypeError(f"{op}: {what} must be real (float32), got a complex64 tensor")
    t = o.as_tensor(x)
    if isinstance(t, ComplexTensor):
        raise TypeError(f"{op}: {what} must be real (float32), got complex values")
    return t if t.dtype == "float32" else o.cast(t, "float32")


def complex(real: TensorLike, imag: TensorLike) -> ComplexTensor:  # noqa: A001
    """A complex64 tensor from its real and imaginary parts (TF.js ``tf.complex``).

    Args:
        real: The real parts; converted to float32 (ints, bools, float64 too).
        imag: The imaginary parts, of ``real``'s shape (no broadcasting, as TF.js).

    Returns:
        A complex64 Tensor (``engine.tensor.ComplexTensor``) of that shape.

    Raises:
        ValueError: The shapes differ.
        TypeError: A part is already complex.

    Example:

    >>> z = tw.complex([1.0, 2.0], [3.0, -1.0])
    >>> z.dtype, z.numpy().tolist()
    ('complex64', [(1+3j), (2-1j)])
    """
    re = _float_part(real, "real", "complex")
    im = _float_part(imag, "imag", "complex")
    if re.shape != im.shape:
        raise ValueError(
            f"complex: real and imag must have the same shape, got {re.shape} and {im.shape}"
        )
    return ComplexTensor(re, im)


def real(x: TensorLike) -> Tensor:
    """The real parts (TF.js ``tf.real``); a real tensor's values as float32.

    Args:
        x: A complex64 tensor (or a real one, as numpy's ``real``).

    Returns:
        A new float32 Tensor of ``x``'s shape.

    Example:

    >>> tw.real(tw.complex([1.0, 2.0], [3.0, 4.0])).tolist()
    [1.0, 2.0]
    """
    o = _ops()
    if isinstance(x, ComplexTensor):
        return o.identity(x.real)
    x = o.as_tensor(x)
    if isinstance(x, ComplexTensor):
        return x.real
    return o.identity(_float_part(x, "x", "real"))


def imag(x: TensorLike) -> Tensor:
    """The imaginary parts (TF.js ``tf.imag``); zeros for a real tensor.

    Args:
        x: A complex64 tensor (or a real one, as numpy's ``imag``).

    Returns:
        A new float32 Tensor of ``x``'s shape.

    Example:

    >>> tw.imag(tw.complex([1.0, 2.0], [3.0, 4.0])).tolist()
    [3.0, 4.0]
    """
    o = _ops()
    if isinstance(x, ComplexTensor):
        return o.identity(x.imag)
    x = o.as_tensor(x)
    if isinstance(x, ComplexTensor):
        return x.imag
    return o.zeros(x.shape)


def conj(x: TensorLike) -> ComplexTensor:
    """The complex conjugate, ``real - i imag`` (TF's ``conj``); real values give complex64.

    Args:
        x: A complex64 tensor (or a real one).

    Returns:
        A complex64 Tensor of ``x``'s shape.

    Example:

    >>> tw.conj(tw.complex([1.0], [2.0])).numpy().tolist()
    [(1-2j)]
    """
    re, im = _parts(x, "conj")
    return ComplexTensor(re, _ops().neg(im))


# --- the hooks engine.ops.core / engine.ops.shape call --------------------------------------
def is_complex_value(x: Any) -> bool:
    """Whether ``x`` is a complex64 tensor, a complex scalar or a complex numpy array."""
    return isinstance(x, (ComplexTensor, builtins.complex, np.complexfloating)) or (
        isinstance(x, np.ndarray) and x.dtype.kind == "c"
    )


def _parts(x: Any, op: str) -> tuple[Tensor, Tensor]:
    """``(real, imag)`` float32 tensors of any operand (real values get zero imaginary parts)."""
    o = _ops()
    if not isinstance(x, Tensor):
        x = o.as_tensor(x)  # complex host values become a ComplexTensor here
    if isinstance(x, ComplexTensor):
        return x.real, x.imag
    if x.dtype != "float32":
        x = o.cast(x, "float32")
    return x, o.zeros(x.shape)


def from_host(values: Any, shape: ShapeLike | None, dtype: DTypeLike | None) -> ComplexTensor:
    """``tw.tensor`` of complex values, or of any values with a complex ``dtype``.

    The parts are checked as float32 host values (a finite part beyond float32's range
    raises ``ValueError``); a complex value asked for a real dtype raises ``TypeError``.
    """
    if dtype is not None and not dtypes.is_complex(dtype):
        raise TypeError(f"tensor: {dtypes._COMPLEX} (asked for dtype {dtype!r})")
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.complex128)
        except (TypeError, ValueError) as e:
            raise TypeError(f"tensor: cannot convert the values to complex64: {e}") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(
            f"tensor: cannot make a complex64 tensor from numpy dtype {arr.dtype}; expected numbers"
        )
    o = _ops()
    if arr.dtype.kind != "c":
        re = o.tensor(arr.astype(np.float64) if arr.dtype.kind == "b" else arr, shape, "float32")
        return ComplexTensor(re, o.zeros(re.shape))
    return ComplexTensor(o.tensor(arr.real, shape, "float32"), o.tensor(arr.imag, shape, "float32"))


def cast(x: Tensor, dtype: DTypeLike) -> Tensor:
    """``tw.cast`` with a complex64 operand or target: to complex64 (any complex dtype names
    it) the real values get zero imaginary parts; from complex64 to a real dtype the real
    parts are kept (as TF.js)."""
    o = _ops()
    if dtypes.is_complex(dtype):  # complex64 is the one complex dtype, as TF.js
        if isinstance(x, ComplexTensor):
            return x
        return ComplexTensor(*_parts(x, "cast"))
    return o.cast(x.real, dtype)


def reshape(x: ComplexTensor, shape: ShapeLike) -> ComplexTensor:
    """``tw.reshape`` of a complex64 tensor (both parts)."""
    o = _ops()
    return ComplexTensor(o.reshape(x.real, shape), o.reshape(x.imag, shape))


def transpose(x: ComplexTensor, perm: Sequence[int] | None) -> ComplexTensor:
    """``tw.transpose`` of a complex64 tensor (both parts)."""
    o = _ops()
    return ComplexTensor(o.transpose(x.real, perm), o.transpose(x.imag, perm))


def slice(x: ComplexTensor, begin: Any, size: Any) -> ComplexTensor:  # noqa: A001
    """``tw.slice`` of a complex64 tensor (both parts)."""
    o = _ops()
    return ComplexTensor(o.slice(x.real, begin, size), o.slice(x.imag, begin, size))


def concat(xs: Sequence[TensorLike], axis: int) -> ComplexTensor:
    """``tw.concat`` with a complex64 operand: every operand becomes complex64."""
    o = _ops()
    parts = [_parts(x, "concat") for x in xs]
    return ComplexTensor(
        o.concat([p[0] for p in parts], axis), o.concat([p[1] for p in parts], axis)
    )


def _unsupported(op: str) -> TypeError:
    return TypeError(
        f"{op} does not support complex64; on complex64 the elementwise ops are "
        f"{', '.join(UNARY + BINARY)} (and real, imag, conj): apply {op} to tw.real(z) / "
        "tw.imag(z) or tw.abs(z) instead"
    )


def unary(op: str, x: ComplexTensor) -> Tensor:
    """The elementwise unary ops on complex64: ``neg`` and ``abs`` (the magnitude, float32;
    its gradient is 0 at 0 instead of NaN, as TF's ``ComplexAbs``)."""
    o = _ops()
    if op == "neg":
        return ComplexTensor(o.neg(x.real), o.neg(x.imag))
    if op == "abs":
        s = o.add(o.square(x.real), o.square(x.imag))
        zero = o.equal(s, 0.0)
        return o.where(zero, 0.0, o.sqrt(o.where(zero, 1.0, s)))
    raise _unsupported(op)


def binary(op: str, a: Any, b: Any) -> ComplexTensor:
    """The elementwise binary ops with a complex operand: ``add``, ``sub``, ``mul``, ``div``
    (numpy broadcasting; a real operand has zero imaginary parts)."""
    if op not in BINARY:
        raise _unsupported(op)
    o = _ops()
    ar, ai = _parts(a, op)
    br, bi = _parts(b, op)
    if op == "add":
        return ComplexTensor(o.add(ar, br), o.add(ai, bi))
    if op == "sub":
        return ComplexTensor(o.sub(ar, br), o.sub(ai, bi))
    re = o.sub(o.mul(ar, br), o.mul(ai, bi)) if op == "mul" else o.add(o.mul(ar, br), o.mul(ai, bi))
    im = o.add(o.mul(ar, bi), o.mul(ai, br)) if op == "mul" else o.sub(o.mul(ai, br), o.mul(ar, bi))
    if op == "div":  # a * conj(b) / |b|^2; division by 0 follows IEEE, as float division
        d = o.add(o.square(br), o.square(bi))
        re, im = o.div(re, d), o.div(im, d)
    return ComplexTensor(re, im)
