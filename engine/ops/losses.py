"""Loss composites a backend may fuse: ``categorical_crossentropy`` (TF.js's formula).

With ``q = p / sum(p)`` (or ``q = softmax(p)`` from logits), ``c = clip(q, eps, 1 - eps)`` and
``eps = 1e-7``: ``loss = -sum(t * log(c))`` along ``axis``, one value per sample. A backend that
lists ``categorical_crossentropy`` computes it in one pass per row; its gradient (in
``engine.gradients``) runs the backend's ``categorical_crossentropy_grad`` when it has one.
The backend methods (last axis, ``target`` and ``output`` of one shape)::

    categorical_crossentropy(target, output, shape, dtype, from_logits) -> buf  # shape[:-1]
    categorical_crossentropy_grad(dy, target, output, shape, dtype, from_logits) -> buf  # shape
"""

from __future__ import annotations

from typing import Any

from engine import dispatch, registry
from engine.ops.activations import softmax
from engine.ops.core import as_tensor, cast, normalize_axis, reshape
from engine.ops.math import (
    clip_by_value,
    div,
    greater_equal,
    less_equal,
    log,
    logical_and,
    mul,
    neg,
    sub,
    where,
)
from engine.ops.reduction import sum as reduce_sum
from engine.tensor import Tensor, Variable
from engine.typing import TensorLike

#: The clipping epsilon (TF.js's ``epsilon()`` on float32).
CCE_EPSILON = 1e-7


def _float(x: Any, dtype: str | None = None) -> Tensor:
    x = as_tensor(x)
    want = dtype or (x.dtype if x.dtype in ("float32", "float64") else "float32")
    return x if x.dtype == want else cast(x, want)


def needs_grad(t: Tensor) -> bool:
    """True when an active gradient tape follows ``t`` (so a gradient must reach it)."""
    for tape in dispatch.tapes:
        if t.id in tape.tracked:
            return True
        if tape.track_variables and isinstance(t, Variable) and t.trainable:
            return True
    return False


def categorical_crossentropy(
    target: TensorLike, output: TensorLike, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """Per-sample ``-sum(t * log(clip(q, eps, 1 - eps)))`` along ``axis``.

    ``q = output / sum(output)`` (TF.js renormalises probabilities), or ``softmax(output)``
    when ``from_logits``. Float dtypes are kept; other dtypes compute in float32.

    Args:
        target: One-hot (or soft) targets.
        output: Probabilities, or logits when ``from_logits``.
        from_logits: ``output`` holds unnormalised logits.
        axis: The class axis.

    Returns:
        One loss per sample: ``output``'s shape without ``axis``.

    Example:

    >>> t = tw.tensor([[0.0, 1.0]])
    >>> [round(v, 4) for v in tw.categorical_crossentropy(t, tw.tensor([[0.5, 0.5]])).tolist()]
    [0.6931]
    """
    p = _float(output)
    t = _float(target, p.dtype)
    axis = normalize_axis(axis, p.rank, "categorical_crossentropy")
    eps = CCE_EPSILON
    be = registry.backend()
    if (
        p.rank >= 1
        and t.shape == p.shape
        and axis == p.rank - 1
        and be.has("categorical_crossentropy")
    ):
        shape, dt, logits = p.shape, p.dtype, bool(from_logits)
        attrs = {"axis": axis, "from_logits": logits, "target_grad": needs_grad(t)}
        return dispatch.run(
            "categorical_crossentropy",
            (t, p),
            attrs,
            shape[:-1],
            dt,
            lambda b, tb, pb: b.categorical_crossentropy(tb, pb, shape, dt, logits),
        )
    if from_logits:
        q = softmax(p, axis)
    else:
        q = div(p, reduce_sum(p, axis, keepdims=True))
    c = clip_by_value(q, eps, 1 - eps)
    return neg(reduce_sum(mul(t, log(c)), axis))


def _probabilities(p: Tensor, axis: int, from_logits: bool) -> tuple[Tensor, Tensor | None]:
    """``(q, s)``: the renormalised probabilities and their row sums (None from logits)."""
    if from_logits:
        return softmax(p, axis), None
    s = reduce_sum(p, axis, keepdims=True)
    return div(p, s), s


def categorical_crossentropy_grad(
    dy: Tensor, target: Tensor, output: Tensor, from_logits: bool, axis: int
) -> Tensor:
    """d loss / d output of ``categorical_crossentropy``, times the per-sample ``dy``.

    With ``g = -t / q`` where ``eps <= q <= 1 - eps`` (the clip passes the gradient) and 0
    elsewhere: ``(g - sum(g * q)) / s`` for probabilities, ``q * (g - sum(g * q))`` from
    logits. One kernel when the backend lists ``categorical_crossentropy_grad`` and no active
    tape needs to differentiate this gradient again; else engine ops.
    """
    keep = output.shape[:axis] + (1,) + output.shape[axis + 1 :]
    be = registry.backend()
    if (
        be.has("categorical_crossentropy_grad")
        and axis == output.rank - 1
        and target.shape == output.shape
        and dy.dtype == output.dtype
        and not any(needs_grad(x) for x in (dy, target, output))
    ):
        shape, dt, logits = output.shape, output.dtype, bool(from_logits)
        return dispatch.run(
            "categorical_crossentropy_grad",
            (dy, target, output),
            {"axis": axis, "from_logits": logits},
            shape,
            dt,
            lambda b, db, tb, pb: b.categorical_crossentropy_grad(db, tb, pb, shape, dt, logits),
        )
    eps = CCE_EPSILON
    q, s = _probabilities(output, axis, from_logits)
    inside = logical_and(greater_equal(q, eps), less_equal(q, 1 - eps))
    g = where(inside, neg(div(target, clip_by_value(q, eps, 1 - eps))), 0.0)
    centred = sub(g, reduce_sum(mul(g, q), axis, keepdims=True))
    scaled = mul(centred, q) if from_logits else div(centred, s)
    return mul(scaled, reshape(dy, keep))


def categorical_crossentropy_target_grad(
    dy: Tensor, output: Tensor, from_logits: bool, axis: int
) -> Tensor:
    """d loss / d target: ``-log(clip(q, eps, 1 - eps))`` times the per-sample ``dy``."""
    keep = output.shape[:axis] + (1,) + output.shape[axis + 1 :]
    q, _ = _probabilities(output, axis, from_logits)
    c = clip_by_value(q, CCE_EPSILON, 1 - CCE_EPSILON)
    return mul(neg(log(c)), reshape(dy, keep))
