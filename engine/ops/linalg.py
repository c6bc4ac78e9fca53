"""Matrix products: matmul (batched, with transposes), dot, outer."""

from __future__ import annotations

from typing import Any

from engine import dispatch
from engine.ops.core import _pair, broadcast_shapes, cast, reshape
from engine.ops.shape import broadcast_to
from engine.tensor import Tensor


def _mm3(a: Tensor, b: Tensor, ta: bool, tb: bool) -> Tensor:
    """The primitive: 3-D operands with equal batch size."""
    m = a.shape[2] if ta else a.shape[1]
    n = b.shape[1] if tb else b.shape[2]
    shape = (a.shape[0], m, n)
    sa, sb, dt = a.shape, b.shape, a.dtype
    return dispatch.run(
        "matmul",
        (a, b),
        {"transpose_a": ta, "transpose_b": tb},
        shape,
        dt,
        lambda be, x, y: be.matmul(x, sa, y, sb, dt, ta, tb),
    )


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False) -> Tensor:
    """Matrix product over the last two axes; leading (batch) axes broadcast.

    1-D operands are treated as a row (a) or column (b) vector, as numpy does."""
    a, b = _pair(a, b)
    if a.dtype == "bool":
        a, b = cast(a, "float32"), cast(b, "float32")
    if a.rank == 0 or b.rank == 0:
        raise ValueError(f"matmul: operands must have rank >= 1, got shapes {a.shape} and {b.shape}")
    va, vb = a.rank == 1, b.rank == 1
    if va:
        a = reshape(a, (1, a.shape[0]))
    if vb:
        b = reshape(b, (b.shape[0], 1))
    ka = a.shape[-2] if transpose_a else a.shape[-1]
    kb = b.shape[-1] if transpose_b else b.shape[-2]
    if ka != kb:
        raise ValueError(
            f"matmul: inner dimensions differ: shape {a.shape}{' (transposed)' if transpose_a else ''}"
            f" x shape {b.shape}{' (transposed)' if transpose_b else ''} gives {ka} vs {kb}"
        )
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], "matmul (batch dims)")
    nb = 1
    for s in batch:
        nb *= s
    if a.shape[:-2] != batch:
        a = broadcast_to(a, batch + a.shape[-2:])
    if b.shape[:-2] != batch:
        b = broadcast_to(b, batch + b.shape[-2:])
    a3 = reshape(a, (nb,) + a.shape[-2:])
    b3 = reshape(b, (nb,) + b.shape[-2:])
    out = _mm3(a3, b3, bool(transpose_a), bool(transpose_b))
    shape = batch + out.shape[1:]
    if va:
        shape = shape[:-2] + shape[-1:]
    if vb:
        shape = shape[:-1]
    return reshape(out, shape)


def dot(a: Any, b: Any) -> Tensor:
    """Dot product of vectors/matrices (rank 1 or 2), as TF.js ``dot``."""
    a, b = _pair(a, b)
    if a.rank > 2 or b.rank > 2:
        raise ValueError(f"dot: operands must have rank 1 or 2, got {a.shape} and {b.shape}")
    return matmul(a, b)


def outer(a: Any, b: Any) -> Tensor:
    """Outer product of two vectors."""
    a, b = _pair(a, b)
    if a.rank != 1 or b.rank != 1:
        raise ValueError(f"outer: operands must be vectors, got {a.shape} and {b.shape}")
    return matmul(reshape(a, (-1, 1)), reshape(b, (1, -1)))
