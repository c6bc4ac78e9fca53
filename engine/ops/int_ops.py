"""Small int32 ops from TF.js: ``bitwise_and`` (TF.js ``bitwiseAnd``) and ``broadcast_args``
(TF.js ``broadcastArgs``).

``bitwise_and`` is one entry of the elementwise op table (``engine.optable``), so every
backend runs it as one kernel; this wrapper adds TF.js's int32 and same-shape checks. It has
no gradient (int32, as TF.js). ``broadcast_args`` works on shape vectors, which are read back
to the host as TF.js's CPU kernel does.
"""

from __future__ import annotations

import numpy as np

from engine.ops.core import as_tensor, binary, tensor
from engine.tensor import Tensor
from engine.typing import TensorLike

__all__ = ["bitwise_and", "broadcast_args"]

_BYTES = np.arange(256, dtype=np.int32)
#: (a & b) for every pair of bytes, row a * 256 + b; the top byte's table is signed (two's
#: complement), so the sum of the four bytes times 256**k is the int32 result.
_AND = (_BYTES[:, None] & _BYTES[None, :]).reshape(-1)
_AND_TOP = np.where(_AND >= 128, _AND - 256, _AND).astype(np.int32)


def bitwise_and(x: TensorLike, y: TensorLike) -> Tensor:
    """Elementwise bitwise AND of two int32 tensors (TF.js ``bitwiseAnd``).

    Two's complement, as JavaScript's ``&``: ``-1 & y == y``. Like TF.js, the shapes must be
    equal (no broadcasting). One kernel on every backend; int32, so no gradient.

    Args:
        x: An int32 tensor.
        y: An int32 tensor of the same shape.

    Returns:
        An int32 Tensor of that shape.

    Raises:
        TypeError: Either operand is not int32 (Python lists are float32: pass
            ``dtype="int32"`` or a numpy int array).
        ValueError: The shapes differ.

    Example:

    >>> x = tw.tensor([0, 5, 3, 14], dtype="int32")
    >>> y = tw.tensor([5, 0, 7, 11], dtype="int32")
    >>> tw.bitwise_and(x, y).tolist()
    [0, 0, 3, 10]
    """
    a, b = as_tensor(x), as_tensor(y)
    if a.dtype != "int32" or b.dtype != "int32":
        raise TypeError(
            f"bitwise_and: x and y must be int32, got {a.dtype} and {b.dtype}; use "
            "cast(t, 'int32') or tensor(values, dtype='int32')"
        )
    if a.shape != b.shape:
        raise ValueError(
            f"bitwise_and: x and y must have the same shape, got {a.shape} and {b.shape}"
        )
    return binary("bitwise_and", a, b)


def _shape_vector(s: TensorLike, name: str) -> list[int]:
    if isinstance(s, Tensor):
        if s.dtype != "int32":
            raise TypeError(f"broadcast_args: {name} must be int32, got {s.dtype}")
        arr = s.numpy()
    else:
        arr = np.asarray(s)
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.trunc(arr)):
            arr = arr.astype(np.int64)
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"broadcast_args: {name} must hold integers, got {s!r}")
    if arr.ndim != 1:
        raise ValueError(f"broadcast_args: {name} must be a vector (rank 1), got shape {arr.shape}")
    return [int(v) for v in arr]


def broadcast_args(s0: TensorLike, s1: TensorLike) -> Tensor:
    """The shape that shapes ``s0`` and ``s1`` broadcast to (TF.js ``broadcastArgs``).

    TF.js's rule, from the last axis: a 1 takes the other size, equal sizes stay, anything
    else is an error (so an unknown ``-1`` passes through where the other side is 1). The
    shape vectors are read back to the host.

    Args:
        s0: A shape: an int32 vector (or a list of ints).
        s1: Another shape.

    Returns:
        An int32 vector Tensor: the broadcast shape.

    Raises:
        ValueError: A shape that is not a vector, or sizes that do not broadcast.
        TypeError: A non-int32 tensor or non-integer values.

    Example:

    >>> tw.broadcast_args([1, 6], [3, 1, 1, 1]).tolist()
    [3, 1, 1, 6]
    """
    a, b = _shape_vector(s0, "s0"), _shape_vector(s1, "s1")
    n = max(len(a), len(b))
    pa, pb = [1] * (n - len(a)) + a, [1] * (n - len(b)) + b
    out = []
    for da, db in zip(pa, pb, strict=True):
        if da == 1:
            out.append(db)
        elif db == 1 or da == db:
            out.append(da)
        else:
            raise ValueError(
                f"broadcast_args: shapes {a} and {b} do not broadcast (sizes {da} and {db})"
            )
    return tensor(np.asarray(out, dtype=np.int32).reshape(-1), dtype="int32")
