"""Matrix products: matmul (batched, with transposes), dot, outer, and ``fused_matmul``
(matmul + bias + activation, one kernel on backends that offer it)."""

from __future__ import annotations

from engine import dispatch, registry
from engine.ops.core import _pair, broadcast_shapes, cast, reshape
from engine.ops.shape import broadcast_to
from engine.tensor import Tensor
from engine.typing import TensorLike


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


def matmul(
    a: TensorLike, b: TensorLike, transpose_a: bool = False, transpose_b: bool = False
) -> Tensor:
    """Matrix product over the last two axes (TF.js ``matMul``); leading (batch) axes
    broadcast.

    1-D operands are treated as a row (a) or column (b) vector, as numpy does.

    Args:
        a: The left operand, rank >= 1.
        b: The right operand, rank >= 1.
        transpose_a: Use ``a``'s last two axes transposed.
        transpose_b: Use ``b``'s last two axes transposed.

    Returns:
        A Tensor of shape ``batch + (m, n)`` (without the vector axes of 1-D operands).

    Raises:
        ValueError: A scalar operand, inner dimensions that differ, or batch axes that do
            not broadcast.

    Example:

    >>> a = tw.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> tw.matmul(a, a).tolist()
    [[7.0, 10.0], [15.0, 22.0]]
    >>> tw.matmul(tw.ones([5, 2, 3]), tw.ones([3, 4])).shape
    (5, 2, 4)
    """
    a, b = _pair(a, b)
    if a.dtype == "bool":
        a, b = cast(a, "float32"), cast(b, "float32")
    if a.rank == 0 or b.rank == 0:
        raise ValueError(
            f"matmul: operands must have rank >= 1, got shapes {a.shape} and {b.shape}"
        )
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


def dot(a: TensorLike, b: TensorLike) -> Tensor:
    """Dot product of vectors/matrices (rank 1 or 2), as TF.js ``dot``.

    Args:
        a: A vector or matrix.
        b: A vector or matrix.

    Returns:
        A scalar for two vectors, else the matrix(-vector) product.

    Raises:
        ValueError: An operand of rank > 2, or inner dimensions that differ.

    Example:

    >>> tw.dot(tw.tensor([1.0, 2.0]), tw.tensor([3.0, 4.0])).item()
    11.0
    """
    a, b = _pair(a, b)
    if a.rank > 2 or b.rank > 2:
        raise ValueError(f"dot: operands must have rank 1 or 2, got {a.shape} and {b.shape}")
    return matmul(a, b)


def outer(a: TensorLike, b: TensorLike) -> Tensor:
    """Outer product of two vectors (TF.js ``outerProduct``).

    Args:
        a: A vector of length m.
        b: A vector of length n.

    Returns:
        An ``(m, n)`` Tensor, ``a[i] * b[j]``.

    Raises:
        ValueError: An operand is not 1-D.

    Example:

    >>> tw.outer(tw.tensor([1.0, 2.0]), tw.tensor([3.0, 4.0])).tolist()
    [[3.0, 4.0], [6.0, 8.0]]
    """
    a, b = _pair(a, b)
    if a.rank != 1 or b.rank != 1:
        raise ValueError(f"outer: operands must be vectors, got {a.shape} and {b.shape}")
    return matmul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


#: Activations ``fused_matmul`` accepts (TF.js ``tf.fused.matMul`` names, plus ``tanh``).
FUSED_ACTIVATIONS = ("linear", "relu", "relu6", "elu", "sigmoid", "tanh", "leakyrelu")


def _activate(x: Tensor, activation: str, alpha: float) -> Tensor:
    """The composite activation of ``fused_matmul`` (the engine's own activation ops)."""
    from engine.ops import activations as act
    from engine.ops import math as m

    if activation == "linear":
        return x
    if activation == "relu":
        return m.relu(x)
    if activation == "relu6":
        return act.relu6(x)
    if activation == "elu":
        return act.elu(x)
    if activation == "sigmoid":
        return m.sigmoid(x)
    if activation == "tanh":
        return m.tanh(x)
    return act.leaky_relu(x, alpha)


def _row_bias(bias: Tensor, n: int) -> bool:
    """A bias the fused kernel takes: a scalar, or a row of ``n`` values ((n,) or (1, n))."""
    if bias.rank <= 2 and bias.size == 1:
        return True
    return bias.shape in ((n,), (1, n))


def fused_matmul(
    a: TensorLike,
    b: TensorLike,
    bias: TensorLike | None = None,
    activation: str | None = None,
    transpose_a: bool = False,
    transpose_b: bool = False,
    leakyrelu_alpha: float = 0.2,
) -> Tensor:
    """``activation(matmul(a, b) + bias)``, as TF.js's ``tf.fused.matMul``.

    ``activation`` is one of ``FUSED_ACTIVATIONS`` (None means ``'linear'``; ``'elu'`` has
    alpha 1; ``'leakyrelu'`` uses ``leakyrelu_alpha``). A backend that lists ``fused_matmul``
    runs 2-D float operands with a scalar or row bias as one kernel; everything else is the
    composite matmul + add + activation. The backend method::

        fused_matmul(a, a_shape, b, b_shape, bias, bias_shape, dtype, transpose_a,
                     transpose_b, activation, alpha) -> buf  # (M, N); bias None, size 1 or N

    Args:
        a: The left operand.
        b: The right operand.
        bias: Added to the product (broadcast), or ``None``.
        activation: One of ``FUSED_ACTIVATIONS`` (any case), or ``None`` for linear.
        transpose_a: Use ``a`` transposed.
        transpose_b: Use ``b`` transposed.
        leakyrelu_alpha: The negative slope for ``"leakyrelu"``.

    Returns:
        ``activation(matmul(a, b) + bias)``.

    Raises:
        ValueError: An unknown activation or inner dimensions that differ.

    Example:

    >>> x, w = tw.tensor([[1.0, -2.0]]), tw.tensor([[1.0], [1.0]])
    >>> tw.fused_matmul(x, w, bias=tw.tensor([0.5]), activation="relu").tolist()
    [[0.0]]
    """
    act = "linear" if activation is None else str(activation).lower().replace("_", "")
    if act not in FUSED_ACTIVATIONS:
        raise ValueError(
            f"fused_matmul: unknown activation {activation!r}; expected one of "
            f"{', '.join(FUSED_ACTIVATIONS)} (or None)"
        )
    alpha = float(leakyrelu_alpha)
    a, b = _pair(a, b)
    if bias is not None and not isinstance(bias, Tensor):
        from engine.ops.core import as_tensor

        bias = as_tensor(bias, a.dtype if a.dtype != "bool" else "float32")
    be = registry.backend()
    if (
        a.rank == 2
        and b.rank == 2
        and a.dtype in ("float32", "float64")
        and (
            bias is None
            or (
                bias.dtype == a.dtype
                and _row_bias(bias, (b.shape[0] if transpose_b else b.shape[1]))
            )
        )
        and (act != "leakyrelu" or alpha >= 0)  # the gradient reads the sign from the output
        and (bias is not None or act != "linear")
        and be.has("fused_matmul")
    ):
        ta, tb = bool(transpose_a), bool(transpose_b)
        m = a.shape[1] if ta else a.shape[0]
        ka = a.shape[0] if ta else a.shape[1]
        kb = b.shape[1] if tb else b.shape[0]
        n = b.shape[0] if tb else b.shape[1]
        if ka != kb:
            raise ValueError(
                f"fused_matmul: inner dimensions differ: shape {a.shape}"
                f"{' (transposed)' if ta else ''} x shape {b.shape}"
                f"{' (transposed)' if tb else ''} gives {ka} vs {kb}"
            )
        sa, sb, dt = a.shape, b.shape, a.dtype
        sbias = None if bias is None else bias.shape
        inputs = (a, b) if bias is None else (a, b, bias)
        attrs = {"transpose_a": ta, "transpose_b": tb, "activation": act, "alpha": alpha}

        def invoke(be, x, y, *z):
            return be.fused_matmul(x, sa, y, sb, z[0] if z else None, sbias, dt, ta, tb, act, alpha)

        return dispatch.run("fused_matmul", inputs, attrs, (m, n), dt, invoke)
    from engine.ops.math import add

    out = matmul(a, b, transpose_a, transpose_b)
    if bias is not None:
        out = add(out, bias)
    return _activate(out, act, alpha)


# TF.js's tf.linalg extras, so tw.linalg.band_part / qr / gram_schmidt work (engine/ops/matrix.py)
from engine.ops.matrix import band_part, gram_schmidt, qr  # noqa: E402, F401
