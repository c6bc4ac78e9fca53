"""TF.js's ``tf.losses``: weighted, reduced losses over whole tensors (``engine.losses``).

Each loss computes an elementwise loss with the formula of tfjs-core's
``src/ops/losses/*.ts`` and hands it to ``compute_weighted_loss``, which multiplies by
``weights`` (numpy broadcasting, either way) and reduces it by ``reduction``:

- ``Reduction.NONE``: the weighted losses, unreduced;
- ``Reduction.SUM``: their sum;
- ``Reduction.MEAN``: the sum divided by ``sum(weights)`` (by the element count without
  weights); when ``weights`` has fewer elements than the losses, that result is further
  divided by ``losses.size / weights.size``, as TF.js does;
- ``Reduction.SUM_BY_NONZERO_WEIGHTS`` (the default): the sum divided by the number of
  nonzero weights once broadcast against the losses (by the element count without weights).
  All-zero weights give 0 / 0 = NaN, as in TF.js.

Positional order and defaults are TF.js's (``weights`` third, then the loss's own parameter,
then ``reduction``), in snake_case like the rest of the engine (``mean_squared_error`` for
``meanSquaredError``). Labels and predictions must have one shape; float32/float64 inputs keep
their dtype, others compute in float32. Everything is a composite of differentiable engine ops,
so gradients flow to predictions, labels and weights on every backend.

These differ from ``layers.losses`` (the ``compile(loss=...)`` functions): those return one
loss per sample, reduced over the last axis only.
"""

from __future__ import annotations

import enum
import math
from typing import Any

from engine.ops.activations import log_softmax
from engine.ops.core import as_tensor, broadcast_shapes, cast
from engine.ops.losses import _float
from engine.ops.math import (
    abs,
    add,
    div,
    exp,
    log,
    log1p,
    minimum,
    mul,
    neg,
    not_equal,
    relu,
    square,
    sub,
)
from engine.ops.reduction import mean as reduce_mean
from engine.ops.reduction import sum as reduce_sum
from engine.ops.shape import broadcast_to
from engine.tensor import Tensor
from engine.typing import TensorLike

__all__ = [
    "Reduction",
    "absolute_difference",
    "compute_weighted_loss",
    "cosine_distance",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
]


class Reduction(enum.IntEnum):
    """How ``compute_weighted_loss`` reduces the weighted losses (TF.js ``tf.Reduction``).

    The values are TF.js's: ``NONE`` 0, ``MEAN`` 1, ``SUM`` 2, ``SUM_BY_NONZERO_WEIGHTS`` 3
    (every loss's default). Wherever a reduction is taken, a member, its value or its name in
    any case (``"mean"``, ``"sum_by_nonzero_weights"``) is accepted.

    Args:
        value: The member's value (``Reduction(1)`` is ``Reduction.MEAN``).

    Example:

    >>> from engine.losses import Reduction
    >>> Reduction.SUM_BY_NONZERO_WEIGHTS.value, Reduction(1).name
    (3, 'MEAN')
    """

    NONE = 0
    MEAN = 1
    SUM = 2
    SUM_BY_NONZERO_WEIGHTS = 3


def _reduction(reduction: Any, op: str) -> Reduction:
    if isinstance(reduction, Reduction):
        return reduction
    if isinstance(reduction, int) and not isinstance(reduction, bool) and 0 <= reduction <= 3:
        return Reduction(reduction)
    if isinstance(reduction, str):
        key = reduction.strip().upper().replace("-", "_")
        if key in Reduction.__members__:
            return Reduction[key]
    raise ValueError(
        f"{op}: reduction must be a Reduction (NONE, MEAN, SUM or SUM_BY_NONZERO_WEIGHTS), "
        f"its value 0-3 or its name, got {reduction!r}"
    )


def _number(value: Any, name: str, op: str, low: float, high: float = math.inf) -> float:
    """``value`` as a float in ``[low, high]``, else a clear error naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:  # numpy scalars and one-element tensors are fine
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{op}: {name} must be a number, got {value!r}") from None
    value = float(value)
    if not (low <= value <= high):
        raise ValueError(f"{op}: {name} must be in [{low}, {high}], got {value}")
    return value


def _pair(labels: TensorLike, predictions: TensorLike, op: str) -> tuple[Tensor, Tensor]:
    """Float tensors of one dtype and one shape (TF.js's ``assertShapesMatch``)."""
    p = _float(predictions)
    t = _float(labels, p.dtype)
    if t.shape != p.shape:
        raise ValueError(
            f"{op}: labels and predictions must have the same shape, got {t.shape} and {p.shape}"
        )
    return t, p


def compute_weighted_loss(
    losses: TensorLike,
    weights: TensorLike | None = None,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """Weight and reduce a tensor of losses (TF.js ``tf.losses.computeWeightedLoss``).

    ``weighted = losses * weights`` (numpy broadcasting; without weights, ``losses``), then:
    ``NONE`` returns ``weighted``; ``SUM`` its sum; ``MEAN`` ``sum(weighted) / sum(weights)``,
    divided again by ``losses.size / weights.size`` when that is above 1 (``mean(losses)``
    without weights); ``SUM_BY_NONZERO_WEIGHTS`` ``sum(weighted)`` divided by the number of
    nonzero entries of ``weights`` broadcast against ``losses`` (``losses.size`` without
    weights). All-zero weights give NaN, as in TF.js.

    Args:
        losses: The losses, any shape (``[batch, d1, ..., dN]`` in TF.js's words).
        weights: ``None``, a scalar, or a tensor broadcastable with ``losses`` (rank 0 or the
            rank of ``losses`` with dimensions 1 or equal, as TF.js documents).
        reduction: A ``Reduction``, its value or its name.

    Returns:
        A scalar Tensor, or the weighted losses for ``Reduction.NONE``.

    Raises:
        ValueError: ``weights`` does not broadcast with ``losses``, or ``reduction`` is not a
            reduction.

    Example:

    >>> from engine import losses
    >>> losses.compute_weighted_loss(tw.tensor([1.0, 2.0, 3.0]), [1.0, 0.0, 1.0]).item()
    2.0
    >>> losses.compute_weighted_loss([1.0, 2.0, 3.0], 2.0, reduction="sum").item()
    12.0
    """
    red = _reduction(reduction, "compute_weighted_loss")
    x = _float(losses)
    w = None
    if weights is not None:
        w = as_tensor(weights)
        if w.dtype != x.dtype:
            w = cast(w, x.dtype)
        broadcast_shapes(x.shape, w.shape, "compute_weighted_loss (losses and weights)")
    weighted = x if w is None else mul(x, w)
    if red is Reduction.NONE:
        return weighted
    if red is Reduction.SUM:
        return reduce_sum(weighted)
    if red is Reduction.MEAN:
        if w is None:
            return reduce_mean(weighted)
        result = div(reduce_sum(weighted), reduce_sum(w))
        factor = x.size / w.size if w.size else math.inf
        return div(result, factor) if factor > 1 else result
    # SUM_BY_NONZERO_WEIGHTS
    if w is None:
        return div(reduce_sum(weighted), float(x.size))
    spread = broadcast_to(w, weighted.shape)  # weighted = x * w has the broadcast shape
    nonzero = cast(reduce_sum(not_equal(spread, 0.0)), x.dtype)
    return div(reduce_sum(weighted), nonzero)


def absolute_difference(
    labels: TensorLike,
    predictions: TensorLike,
    weights: TensorLike | None = None,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """``|labels - predictions|``, weighted and reduced (TF.js ``absoluteDifference``).

    Args:
        labels: The targets.
        predictions: The predictions, shaped like ``labels``.
        weights: ``None``, a scalar or a tensor broadcastable with the losses.
        reduction: A ``Reduction`` (default ``SUM_BY_NONZERO_WEIGHTS``), value or name.

    Returns:
        A scalar Tensor (the elementwise losses for ``Reduction.NONE``).

    Raises:
        ValueError: The shapes differ, the weights do not broadcast, or a bad reduction.

    Example:

    >>> from engine import losses
    >>> losses.absolute_difference([1.0, 2.0], [2.0, 4.0]).item()
    1.5
    """
    t, p = _pair(labels, predictions, "absolute_difference")
    return compute_weighted_loss(abs(sub(t, p)), weights, reduction)


def cosine_distance(
    labels: TensorLike,
    predictions: TensorLike,
    axis: int,
    weights: TensorLike | None = None,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """``1 - sum(labels * predictions, axis)``, weighted and reduced (TF.js ``cosineDistance``).

    As in TF.js the inputs are not normalised: pass unit vectors along ``axis``. The
    elementwise losses keep ``axis`` with size 1, so ``weights`` shaped like ``labels``
    broadcast them (and count every nonzero weight for ``SUM_BY_NONZERO_WEIGHTS``).

    Args:
        labels: The targets (unit-normalised along ``axis``).
        predictions: The predictions, shaped like ``labels`` (unit-normalised).
        axis: The axis the dot product runs along.
        weights: ``None``, a scalar or a tensor broadcastable with the losses.
        reduction: A ``Reduction`` (default ``SUM_BY_NONZERO_WEIGHTS``), value or name.

    Returns:
        A scalar Tensor (the losses, ``axis`` kept with size 1, for ``Reduction.NONE``).

    Raises:
        ValueError: The shapes differ, ``axis`` is out of range, the weights do not
            broadcast, or a bad reduction.

    Example:

    >>> from engine import losses
    >>> losses.cosine_distance([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]], 1).item()
    0.5
    """
    t, p = _pair(labels, predictions, "cosine_distance")
    losses = sub(1.0, reduce_sum(mul(t, p), axis, keepdims=True))
    return compute_weighted_loss(losses, weights, reduction)


def hinge_loss(
    labels: TensorLike,
    predictions: TensorLike,
    weights: TensorLike | None = None,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """``relu(1 - (2 * labels - 1) * predictions)``, weighted and reduced (TF.js ``hingeLoss``).

    Labels are 0/1 and mapped to -1/1 first, as TF.js does.

    Args:
        labels: The 0/1 targets.
        predictions: The predictions (scores), shaped like ``labels``.
        weights: ``None``, a scalar or a tensor broadcastable with the losses.
        reduction: A ``Reduction`` (default ``SUM_BY_NONZERO_WEIGHTS``), value or name.

    Returns:
        A scalar Tensor (the elementwise losses for ``Reduction.NONE``).

    Raises:
        ValueError: The shapes differ, the weights do not broadcast, or a bad reduction.

    Example:

    >>> from engine import losses
    >>> losses.hinge_loss([1.0, 0.0], [0.5, 0.5], reduction="none").tolist()
    [0.5, 1.5]
    """
    t, p = _pair(labels, predictions, "hinge_loss")
    signs = sub(mul(2.0, t), 1.0)
    return compute_weighted_loss(relu(sub(1.0, mul(signs, p))), weights, reduction)


def huber_loss(
    labels: TensorLike,
    predictions: TensorLike,
    weights: TensorLike | None = None,
    delta: float = 1.0,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """The Huber loss, weighted and reduced (TF.js ``huberLoss``).

    With ``e = |predictions - labels|``, ``q = min(e, delta)``: ``0.5 * q**2 + delta * (e - q)``
    (quadratic up to ``delta``, linear beyond).

    Args:
        labels: The targets.
        predictions: The predictions, shaped like ``labels``.
        weights: ``None``, a scalar or a tensor broadcastable with the losses.
        delta: Where the loss turns from quadratic to linear (>= 0).
        reduction: A ``Reduction`` (default ``SUM_BY_NONZERO_WEIGHTS``), value or name.

    Returns:
        A scalar Tensor (the elementwise losses for ``Reduction.NONE``).

    Raises:
        ValueError: The shapes differ, ``delta`` is negative, the weights do not broadcast,
            or a bad reduction.
        TypeError: ``delta`` is not a number.

    Example:

    >>> from engine import losses
    >>> losses.huber_loss([0.0, 0.0], [0.5, 3.0], reduction="none").tolist()
    [0.125, 2.5]
    """
    d = _number(delta, "delta", "huber_loss", 0.0)
    t, p = _pair(labels, predictions, "huber_loss")
    error = abs(sub(p, t))
    quadratic = minimum(error, d)
    linear = sub(error, quadratic)
    losses = add(mul(0.5, square(quadratic)), mul(d, linear))
    return compute_weighted_loss(losses, weights, reduction)


def log_loss(
    labels: TensorLike,
    predictions: TensorLike,
    weights: TensorLike | None = None,
    epsilon: float = 1e-7,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """Binary log loss, weighted and reduced (TF.js ``logLoss``).

    ``-labels * log(predictions + eps) - (1 - labels) * log(1 - predictions + eps)``.

    Args:
        labels: The 0/1 (or soft) targets.
        predictions: Probabilities, shaped like ``labels``.
        weights: ``None``, a scalar or a tensor broadcastable with the losses.
        epsilon: Added inside the logarithms (>= 0) so that 0 and 1 stay finite.
        reduction: A ``Reduction`` (default ``SUM_BY_NONZERO_WEIGHTS``), value or name.

    Returns:
        A scalar Tensor (the elementwise losses for ``Reduction.NONE``).

    Raises:
        ValueError: The shapes differ, ``epsilon`` is negative, the weights do not broadcast,
            or a bad reduction.
        TypeError: ``epsilon`` is not a number.

    Example:

    >>> from engine import losses
    >>> round(losses.log_loss([1.0, 0.0], [0.5, 0.5]).item(), 4)
    0.6931
    """
    eps = _number(epsilon, "epsilon", "log_loss", 0.0)
    t, p = _pair(labels, predictions, "log_loss")
    l1 = neg(mul(t, log(add(p, eps))))
    l2 = mul(sub(1.0, t), log(add(sub(1.0, p), eps)))
    return compute_weighted_loss(sub(l1, l2), weights, reduction)


def mean_squared_error(
    labels: TensorLike,
    predictions: TensorLike,
    weights: TensorLike | None = None,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """``(labels - predictions)**2``, weighted and reduced (TF.js ``meanSquaredError``).

    Args:
        labels: The targets.
        predictions: The predictions, shaped like ``labels``.
        weights: ``None``, a scalar or a tensor broadcastable with the losses.
        reduction: A ``Reduction`` (default ``SUM_BY_NONZERO_WEIGHTS``), value or name.

    Returns:
        A scalar Tensor (the elementwise losses for ``Reduction.NONE``).

    Raises:
        ValueError: The shapes differ, the weights do not broadcast, or a bad reduction.

    Example:

    >>> from engine import losses
    >>> losses.mean_squared_error([[0.0, 0.0]], [[1.0, 3.0]]).item()
    5.0
    >>> losses.mean_squared_error([[0.0, 0.0]], [[1.0, 3.0]], weights=[[1.0, 0.0]]).item()
    1.0
    """
    t, p = _pair(labels, predictions, "mean_squared_error")
    return compute_weighted_loss(square(sub(t, p)), weights, reduction)


def sigmoid_cross_entropy(
    multi_class_labels: TensorLike,
    logits: TensorLike,
    weights: TensorLike | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """Sigmoid cross entropy from logits, weighted and reduced (TF.js ``sigmoidCrossEntropy``).

    With ``z`` the labels and ``x`` the logits, computed stably as
    ``max(x, 0) - x * z + log1p(exp(-|x|))``. A positive ``label_smoothing`` first moves the
    labels toward 1/2: ``z * (1 - label_smoothing) + 0.5 * label_smoothing``.

    Args:
        multi_class_labels: The 0/1 (or soft) targets, one per logit.
        logits: Unscaled scores, shaped like the labels.
        weights: ``None``, a scalar or a tensor broadcastable with the losses.
        label_smoothing: In ``[0, 1]``; 0 leaves the labels alone.
        reduction: A ``Reduction`` (default ``SUM_BY_NONZERO_WEIGHTS``), value or name.

    Returns:
        A scalar Tensor (the elementwise losses for ``Reduction.NONE``).

    Raises:
        ValueError: The shapes differ, ``label_smoothing`` is outside ``[0, 1]``, the weights
            do not broadcast, or a bad reduction.
        TypeError: ``label_smoothing`` is not a number.

    Example:

    >>> from engine import losses
    >>> round(losses.sigmoid_cross_entropy([1.0, 0.0], [0.0, 0.0]).item(), 4)
    0.6931
    """
    ls = _number(label_smoothing, "label_smoothing", "sigmoid_cross_entropy", 0.0, 1.0)
    z, x = _pair(multi_class_labels, logits, "sigmoid_cross_entropy")
    if ls > 0:
        z = add(mul(z, 1.0 - ls), 0.5 * ls)
    losses = add(sub(relu(x), mul(x, z)), log1p(exp(neg(abs(x)))))
    return compute_weighted_loss(losses, weights, reduction)


def softmax_cross_entropy(
    onehot_labels: TensorLike,
    logits: TensorLike,
    weights: TensorLike | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction | int | str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Tensor:
    """Softmax cross entropy from logits, weighted and reduced (TF.js ``softmaxCrossEntropy``).

    Per row along the last axis: ``-sum(labels * (logits - logsumexp(logits)))``, so the
    elementwise losses have the shape of ``logits`` without its last axis (weights: a scalar
    or a tensor of that shape, as TF.js documents). A positive ``label_smoothing`` first
    spreads the labels: ``labels * (1 - label_smoothing) + label_smoothing / num_classes``,
    with ``num_classes`` the size of the last axis (TF.js reads ``shape[1]``, the same axis
    for the usual ``[batch, classes]``).

    The gradient w.r.t. the logits is ``softmax(logits) * sum(labels) - labels``, TF.js's
    ``softmax - labels`` for labels that sum to 1. TF.js's custom gradient w.r.t. the labels
    (``labels - softmax``) is not the derivative of its loss; ours is,
    ``-(logits - logsumexp(logits))``.

    Args:
        onehot_labels: One-hot (or soft) targets, ``[batch, num_classes]`` or any rank >= 1.
        logits: Unscaled scores, shaped like the labels.
        weights: ``None``, a scalar or a tensor broadcastable with the per-row losses.
        label_smoothing: In ``[0, 1]``; 0 leaves the labels alone.
        reduction: A ``Reduction`` (default ``SUM_BY_NONZERO_WEIGHTS``), value or name.

    Returns:
        A scalar Tensor (the per-row losses for ``Reduction.NONE``).

    Raises:
        ValueError: The shapes differ, a scalar input, ``label_smoothing`` is outside
            ``[0, 1]``, the weights do not broadcast, or a bad reduction.
        TypeError: ``label_smoothing`` is not a number.

    Example:

    >>> from engine import losses
    >>> round(losses.softmax_cross_entropy([[0.0, 1.0]], [[0.0, 0.0]]).item(), 4)
    0.6931
    """
    ls = _number(label_smoothing, "label_smoothing", "softmax_cross_entropy", 0.0, 1.0)
    t, x = _pair(onehot_labels, logits, "softmax_cross_entropy")
    if x.rank == 0:
        raise ValueError("softmax_cross_entropy: labels and logits must have rank >= 1, got ()")
    if ls > 0 and x.shape[-1]:
        t = add(mul(t, 1.0 - ls), ls / x.shape[-1])
    losses = neg(reduce_sum(mul(t, log_softmax(x, -1)), -1))
    return compute_weighted_loss(losses, weights, reduction)
