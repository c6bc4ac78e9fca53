"""Metrics: accuracies, precision/recall, top-k, and every loss (``tfjs-compat.md`` §2).

A metric takes ``(y_true, y_pred)`` and returns per-sample values (accuracies, losses) or one
value for the batch (precision, recall); the training loop logs the mean of what it returns,
averaged over batches weighted by batch size (as TF.js).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import engine as tw
from engine import Tensor
from engine.hints import did_you_mean
from engine.typing import TensorLike
from layers import losses as _losses

MetricFn = Callable[[Any, Any], Tensor]
THRESHOLD = 0.5


def _prep(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    t = tw.as_tensor(y_true)
    p = tw.as_tensor(y_pred)
    return (
        t if t.dtype == "float32" else tw.cast(t, "float32"),
        p if p.dtype == "float32" else tw.cast(p, "float32"),
    )


def binary_accuracy(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """``mean(t == (p > 0.5))`` over the last axis (TF.js ``binaryAccuracy``).

    ``compile(metrics=["binaryAccuracy"])`` names it.

    Args:
        y_true: 0/1 targets.
        y_pred: Probabilities, shaped like ``y_true``.

    Returns:
        Per-sample accuracies, shape ``y_pred.shape[:-1]``.

    Example:

    >>> t, p = tw.tensor([[1.0], [0.0]]), tw.tensor([[0.9], [0.7]])
    >>> layers.metrics.binary_accuracy(t, p).tolist()
    [1.0, 0.0]
    """
    t, p = _prep(y_true, y_pred)
    hit = tw.equal(t, tw.cast(tw.greater(p, THRESHOLD), "float32"))
    return tw.mean(tw.cast(hit, "float32"), -1)


def categorical_accuracy(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """``argmax(t) == argmax(p)`` per sample (TF.js ``categoricalAccuracy``).

    ``compile(metrics=["categoricalAccuracy"])`` names it.

    Args:
        y_true: One-hot targets.
        y_pred: Class scores, shaped like ``y_true``.

    Returns:
        Per-sample 0/1 values, shape ``y_pred.shape[:-1]``.

    Example:

    >>> t, p = tw.tensor([[0.0, 1.0]]), tw.tensor([[0.3, 0.7]])
    >>> layers.metrics.categorical_accuracy(t, p).tolist()
    [1.0]
    """
    t, p = _prep(y_true, y_pred)
    return tw.cast(tw.equal(tw.argmax(t, -1), tw.argmax(p, -1)), "float32")


def _labels(y_true: Any, y_pred: Tensor) -> Tensor:
    t = tw.as_tensor(y_true)
    if t.dtype != "int32":
        t = tw.cast(tw.floor(tw.cast(t, "float32")), "int32")
    lead = y_pred.shape[:-1]
    if t.size != math.prod(lead):
        raise ValueError(
            f"sparse metric: labels of shape {t.shape} do not match predictions of shape "
            f"{y_pred.shape}: expected shape {lead} or {lead + (1,)}"
        )
    return tw.reshape(t, lead)


def sparse_categorical_accuracy(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """``label == argmax(p)`` per sample, with integer labels (TF.js ``sparseCategoricalAccuracy``).

    ``compile(metrics=["sparseCategoricalAccuracy"])`` names it.

    Args:
        y_true: Integer labels, shape ``y_pred.shape[:-1]`` (or with a trailing 1).
        y_pred: Class scores.

    Returns:
        Per-sample 0/1 values.

    Raises:
        ValueError: The labels do not match the predictions' shape.

    Example:

    >>> labels, p = tw.tensor([1, 0], dtype="int32"), tw.tensor([[0.3, 0.7], [0.4, 0.6]])
    >>> layers.metrics.sparse_categorical_accuracy(labels, p).tolist()
    [1.0, 0.0]
    """
    p = tw.as_tensor(y_pred)
    return tw.cast(tw.equal(_labels(y_true, p), tw.argmax(p, -1)), "float32")


def _per_sample_weight(sample_weight: Any, like: Tensor) -> Tensor:
    """``sample_weight`` (one value per sample) shaped to broadcast against ``like``."""
    w = tw.as_tensor(sample_weight)
    w = w if w.dtype == "float32" else tw.cast(w, "float32")
    n = like.shape[0] if like.rank else 1
    if w.size != n:
        raise ValueError(
            f"sample_weight has {w.size} values but y_pred has {n} samples (shape "
            f"{like.shape}); give one weight per sample"
        )
    return tw.reshape(w, (n,) + (1,) * max(like.rank - 1, 0)) if like.rank else tw.reshape(w, ())


def _confusion(
    y_true: Any, y_pred: Any, sample_weight: Any = None
) -> tuple[Tensor, Tensor, Tensor]:
    t, p = _prep(y_true, y_pred)
    pred = tw.cast(tw.greater(p, THRESHOLD), "float32")
    pos = tw.cast(tw.equal(t, 1.0), "float32")
    if sample_weight is not None:  # each sample's counts weigh its weight (Keras)
        w = _per_sample_weight(sample_weight, pred)
        pred_w = tw.mul(pred, w)
        tp = tw.sum(tw.mul(pred_w, pos))
        fp = tw.sum(tw.mul(pred_w, tw.sub(1.0, pos)))
        fn = tw.sum(tw.mul(tw.mul(tw.sub(1.0, pred), w), pos))
        return tp, fp, fn
    tp = tw.sum(tw.mul(pred, pos))
    fp = tw.sum(tw.mul(pred, tw.sub(1.0, pos)))
    fn = tw.sum(tw.mul(tw.sub(1.0, pred), pos))
    return tp, fp, fn


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    return tw.where(tw.greater(den, 0.0), tw.div(num, tw.maximum(den, 1.0)), 0.0)


def precision(y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
    """tp / (tp + fp) with predictions thresholded at 0.5 (0 when nothing is predicted
    positive). One value for the batch. TF.js only counts predictions exactly equal to 1,
    which reads 0 for sigmoid outputs: not copied.

    Args:
        y_true: 0/1 targets.
        y_pred: Probabilities, shaped like ``y_true``.
        sample_weight: Optional weight per sample: each sample counts its weight in tp and
            fp (Keras), as in ``compile(weighted_metrics=["precision"])``.

    Returns:
        A scalar Tensor.

    Example:

    >>> t, p = tw.tensor([1.0, 0.0, 1.0]), tw.tensor([0.9, 0.8, 0.2])
    >>> layers.metrics.precision(t, p).item()
    0.5
    >>> layers.metrics.precision(t, p, sample_weight=[3.0, 1.0, 1.0]).item()
    0.75
    """
    tp, fp, _ = _confusion(y_true, y_pred, sample_weight)
    return _safe_ratio(tp, tw.add(tp, fp))


def recall(y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
    """tp / (tp + fn) with predictions thresholded at 0.5 (0 without positive targets).

    One value for the batch.

    Args:
        y_true: 0/1 targets.
        y_pred: Probabilities, shaped like ``y_true``.
        sample_weight: Optional weight per sample: each sample counts its weight in tp and
            fn (Keras).

    Returns:
        A scalar Tensor.

    Example:

    >>> t, p = tw.tensor([1.0, 0.0, 1.0, 1.0]), tw.tensor([0.9, 0.8, 0.2, 0.7])
    >>> round(layers.metrics.recall(t, p).item(), 4)
    0.6667
    >>> layers.metrics.recall(t, p, sample_weight=[1.0, 1.0, 0.0, 1.0]).item()
    1.0
    """
    tp, _, fn = _confusion(y_true, y_pred, sample_weight)
    return _safe_ratio(tp, tw.add(tp, fn))


def _in_top_k(p: Tensor, labels: Tensor, k: int) -> Tensor:
    # the target is in the top k when fewer than k classes score strictly higher (TF in_top_k)
    n = p.shape[-1]
    target = tw.sum(tw.mul(p, tw.one_hot(labels, n)), -1, keepdims=True)
    higher = tw.sum(tw.cast(tw.greater(p, target), "float32"), -1)
    return tw.cast(tw.less(higher, float(k)), "float32")


def top_k_categorical_accuracy(y_true: TensorLike, y_pred: TensorLike, k: int = 5) -> Tensor:
    """1 where ``argmax(t)`` is among the ``k`` highest predictions, else 0 (TF.js
    ``topKCategoricalAccuracy``).

    ``compile(metrics=["topKCategoricalAccuracy"])`` names it.

    Args:
        y_true: One-hot targets.
        y_pred: Class scores.
        k: How many top classes count.

    Returns:
        Per-sample 0/1 values.

    Example:

    >>> t, p = tw.tensor([[0.0, 0.0, 1.0]]), tw.tensor([[0.5, 0.3, 0.2]])
    >>> layers.metrics.top_k_categorical_accuracy(t, p, k=2).tolist()
    [0.0]
    """
    t, p = _prep(y_true, y_pred)
    return _in_top_k(p, tw.argmax(t, -1), k)


def sparse_top_k_categorical_accuracy(y_true: TensorLike, y_pred: TensorLike, k: int = 5) -> Tensor:
    """1 where the integer label is among the ``k`` highest predictions, else 0.

    ``compile(metrics=["sparseTopKCategoricalAccuracy"])`` names it.

    Args:
        y_true: Integer labels.
        y_pred: Class scores.
        k: How many top classes count.

    Returns:
        Per-sample 0/1 values.

    Raises:
        ValueError: The labels do not match the predictions' shape.

    Example:

    >>> labels, p = tw.tensor([1], dtype="int32"), tw.tensor([[0.5, 0.3, 0.2]])
    >>> layers.metrics.sparse_top_k_categorical_accuracy(labels, p, k=2).tolist()
    [1.0]
    """
    p = tw.as_tensor(y_pred)
    if p.dtype != "float32":
        p = tw.cast(p, "float32")
    return _in_top_k(p, _labels(y_true, p), k)


METRICS: dict[str, MetricFn] = {
    "binaryAccuracy": binary_accuracy,
    "categoricalAccuracy": categorical_accuracy,
    "sparseCategoricalAccuracy": sparse_categorical_accuracy,
    "precision": precision,
    "recall": recall,
    "topKCategoricalAccuracy": top_k_categorical_accuracy,
    "sparseTopKCategoricalAccuracy": sparse_top_k_categorical_accuracy,
}
ALIASES: dict[str, str] = {
    "top_k": "topKCategoricalAccuracy",
    "topK": "topKCategoricalAccuracy",
    "sparse_top_k": "sparseTopKCategoricalAccuracy",
    "sparseTopK": "sparseTopKCategoricalAccuracy",
}

# TF.js camelCase spellings and short names
binaryAccuracy = binary_accuracy  # noqa: N816
categoricalAccuracy = categorical_accuracy  # noqa: N816
sparseCategoricalAccuracy = sparse_categorical_accuracy  # noqa: N816
topKCategoricalAccuracy = top_k_categorical_accuracy  # noqa: N816
sparseTopKCategoricalAccuracy = sparse_top_k_categorical_accuracy  # noqa: N816
top_k = top_k_categorical_accuracy
sparse_top_k = sparse_top_k_categorical_accuracy

# every loss is also a metric
mean_squared_error = mse = MSE = _losses.mean_squared_error
mean_absolute_error = mae = MAE = _losses.mean_absolute_error
mean_absolute_percentage_error = mape = MAPE = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = msle = MSLE = _losses.mean_squared_logarithmic_error
hinge = _losses.hinge
squared_hinge = _losses.squared_hinge
categorical_hinge = _losses.categorical_hinge
logcosh = _losses.logcosh
categorical_crossentropy = _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
binary_crossentropy = _losses.binary_crossentropy
kullback_leibler_divergence = kld = _losses.kullback_leibler_divergence
poisson = _losses.poisson
cosine_proximity = cosine = _losses.cosine_proximity

#: Strings resolved per output by the training loop (``acc`` -> binary, categorical or sparse
#: accuracy; ``ce`` -> the matching crossentropy), logged under the short name.
PER_OUTPUT = {"accuracy": "acc", "acc": "acc", "crossentropy": "ce", "ce": "ce"}

_norm = _losses.normalize_name


def _table() -> dict[str, MetricFn]:
    out: dict[str, MetricFn] = {}
    for name, fn in _losses.LOSSES.items():
        out[_norm(name)] = fn
    for alias, name in _losses.ALIASES.items():
        out[_norm(alias)] = _losses.LOSSES[name]
    for name, fn in METRICS.items():
        out[_norm(name)] = fn
    for alias, name in ALIASES.items():
        out[_norm(alias)] = METRICS[name]
    return out


_KEYS = _table()


def accepted_names() -> list[str]:
    """Every metric string ``get`` and ``compile`` accept (other cases and spellings aside).

    Returns:
        The sorted names (metrics, losses, aliases and ``"accuracy"``-style per-output names).
    """
    return sorted(
        set(PER_OUTPUT)
        | set(METRICS)
        | {_losses._snake(k) for k in METRICS}
        | set(ALIASES)
        | set(_losses.accepted_names())
    )


def get(identifier: Any) -> MetricFn:
    """A metric function from a name (camelCase, snake_case, any case, aliases ``mse``,
    ``top_k``, ...) or a callable (returned as is). ``'accuracy'`` depends on the output and
    loss: the training loop resolves it with ``resolve_per_output``.

    Args:
        identifier: A metric or loss name in any spelling, or a callable
            ``(y_true, y_pred) -> values`` (returned as is).

    Returns:
        The metric function.

    Raises:
        ValueError: An unknown name (the message suggests the closest).
        TypeError: Neither a string nor a callable.

    Example:

    >>> layers.metrics.get("categoricalAccuracy") is layers.metrics.categorical_accuracy
    True
    """
    if isinstance(identifier, str):
        fn = _KEYS.get(_norm(identifier))
        if fn is None:
            hint = did_you_mean(identifier, accepted_names())
            raise ValueError(
                f"unknown metric {identifier!r}{hint}; accepted names: {', '.join(accepted_names())} "
                "(any case), or a callable (y_true, y_pred) -> values"
            )
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(
        f"cannot interpret {identifier!r} as a metric: pass a name such as 'accuracy' or a "
        "callable (y_true, y_pred) -> values"
    )


def resolve_per_output(name: str, output_shape: tuple, loss_fn: Any) -> MetricFn:
    """``'accuracy'``/``'acc'``/``'crossentropy'``/``'ce'`` for one output, as TF.js: the binary
    form when the output's last dimension is 1 or the loss is binary crossentropy, the sparse
    form when the loss is sparse categorical crossentropy, the categorical form otherwise.

    Args:
        name: ``"accuracy"``, ``"acc"``, ``"crossentropy"`` or ``"ce"`` (any case).
        output_shape: The output's shape.
        loss_fn: The output's loss function.

    Returns:
        The metric function for that output.
    """
    kind = PER_OUTPUT[name.lower()]
    last = output_shape[-1] if output_shape else None
    if last == 1 or loss_fn is _losses.binary_crossentropy:
        return binary_accuracy if kind == "acc" else _losses.binary_crossentropy
    if loss_fn is _losses.sparse_categorical_crossentropy:
        return (
            sparse_categorical_accuracy
            if kind == "acc"
            else _losses.sparse_categorical_crossentropy
        )
    return categorical_accuracy if kind == "acc" else _losses.categorical_crossentropy


def _takes_sample_weight(fn: Any) -> bool:
    try:
        return "sample_weight" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def weighted_mean(values: TensorLike, sample_weight: TensorLike | None = None) -> Tensor:
    """The sample-weighted mean of per-sample metric values (Keras's weighted ``Mean``):
    ``sum(w * v) / sum(w)``, 0 when the weights sum to 0. Values with axes beyond the
    first are averaged over them first (one value per sample).

    Args:
        values: Per-sample values, first axis the samples (what a metric function returns).
        sample_weight: One weight per sample, or ``None`` for the plain mean.

    Returns:
        A scalar Tensor.

    Raises:
        ValueError: The number of weights differs from the number of samples.

    Example:

    >>> v = tw.tensor([1.0, 0.0, 1.0])
    >>> layers.metrics.weighted_mean(v, [2.0, 1.0, 1.0]).item()
    0.75
    """
    num, den = _weighted_sums(tw.as_tensor(values), sample_weight)
    nonzero = tw.greater(tw.abs(den), 0.0)
    return tw.where(nonzero, tw.div(num, tw.where(nonzero, den, 1.0)), 0.0)


def _weighted_sums(v: Tensor, sample_weight: Any) -> tuple[Tensor, Tensor]:
    """``(mean(w * v), mean(w))`` over the samples (both over the sample count)."""
    v = v if v.dtype == "float32" else tw.cast(v, "float32")
    if v.rank > 1:
        v = tw.mean(v, tuple(range(1, v.rank)))
    if sample_weight is None:
        return tw.mean(v), tw.ones([])
    if v.rank == 0:
        return v, tw.ones([])
    w = _per_sample_weight(sample_weight, v)
    return tw.mean(tw.mul(v, w)), tw.mean(w)


def weighted_terms(
    fn: MetricFn, y_true: TensorLike, y_pred: TensorLike, sample_weight: TensorLike | None
) -> tuple[Tensor, Tensor]:
    """The two sums the training loop accumulates for a weighted metric (``compile(
    weighted_metrics=...)``): ``(mean(w * value), mean(w))`` over the batch, so the
    weighted mean over any number of batches is the ratio of their size-weighted sums.

    A metric that takes ``sample_weight`` itself (``precision``, ``recall``) gets the
    weights and its value is returned with weight 1; a metric giving one value per batch
    (no per-sample values) cannot be weighted and is returned as is, with weight 1.

    Args:
        fn: A metric function ``(y_true, y_pred) -> per-sample values``.
        y_true: Targets.
        y_pred: Predictions.
        sample_weight: One weight per sample, or ``None`` (then the plain mean, weight 1).

    Returns:
        ``(weighted sum / samples, weight sum / samples)`` as scalar Tensors.

    Example:

    >>> t, p = tw.tensor([[1.0], [0.0]]), tw.tensor([[0.9], [0.7]])
    >>> num, den = layers.metrics.weighted_terms(
    ...     layers.metrics.binary_accuracy, t, p, tw.tensor([3.0, 1.0])
    ... )
    >>> num.item() / den.item()
    0.75
    """
    if sample_weight is not None and _takes_sample_weight(fn):
        return tw.reshape(fn(y_true, y_pred, sample_weight=sample_weight), ()), tw.ones([])
    return _weighted_sums(tw.as_tensor(fn(y_true, y_pred)), sample_weight)


def is_per_output(identifier: Any) -> bool:
    """Whether a metric identifier depends on the output (``"accuracy"``, ``"ce"``, ...).

    Args:
        identifier: A metric identifier.

    Returns:
        ``True`` for the per-output strings, which ``resolve_per_output`` resolves.
    """
    return isinstance(identifier, str) and identifier.lower() in PER_OUTPUT
