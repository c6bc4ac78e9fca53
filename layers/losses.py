"""Loss functions with TF.js's formulas (``docs/tfjs-compat.md`` §2).

Every loss takes ``(y_true, y_pred)`` and returns the per-sample loss: reduced over the last
axis only (shape ``y_pred.shape[:-1]``); the training loop takes the (weighted) mean over
samples. ``eps`` is 1e-7 as in TF.js. Names resolve through ``get``: TF.js camelCase
(``'meanSquaredError'``), Keras snake_case (``'mean_squared_error'``), any case, and the
aliases ``mse``, ``mae``, ``mape``, ``msle``, ``kld``, ``cosine``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import engine as tw
from engine import Tensor
from engine.hints import did_you_mean
from engine.typing import TensorLike

EPS = 1e-7
LossFn = Callable[[Any, Any], Tensor]


def _prep(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    t = tw.as_tensor(y_true)
    p = tw.as_tensor(y_pred)
    if t.dtype != "float32":
        t = tw.cast(t, "float32")
    if p.dtype != "float32":
        p = tw.cast(p, "float32")
    return t, p


def mean_squared_error(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """mean((p - t)^2) over the last axis.

    As TF.js; ``compile(loss="meanSquaredError")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.

    Example:

    >>> t, p = tw.tensor([[0.0, 0.0]]), tw.tensor([[1.0, 3.0]])
    >>> layers.losses.mean_squared_error(t, p).tolist()
    [5.0]
    """
    t, p = _prep(y_true, y_pred)
    return tw.mean(tw.square(tw.sub(p, t)), -1)


def mean_absolute_error(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """mean(|p - t|) over the last axis.

    As TF.js; ``compile(loss="meanAbsoluteError")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.

    Example:

    >>> t, p = tw.tensor([[0.0, 0.0]]), tw.tensor([[1.0, -3.0]])
    >>> layers.losses.mean_absolute_error(t, p).tolist()
    [2.0]
    """
    t, p = _prep(y_true, y_pred)
    return tw.mean(tw.abs(tw.sub(p, t)), -1)


def mean_absolute_percentage_error(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """100 * mean(|(t - p) / clip(|t|, eps, inf)|).

    As TF.js; ``compile(loss="meanAbsolutePercentageError")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    diff = tw.div(tw.sub(t, p), tw.maximum(tw.abs(t), EPS))
    return tw.mul(tw.mean(tw.abs(diff), -1), 100.0)


def mean_squared_logarithmic_error(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """mean((log(1 + clip(p, eps)) - log(1 + clip(t, eps)))^2).

    As TF.js; ``compile(loss="meanSquaredLogarithmicError")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    a = tw.log1p(tw.maximum(p, EPS))
    b = tw.log1p(tw.maximum(t, EPS))
    return tw.mean(tw.square(tw.sub(a, b)), -1)


def hinge(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """mean(max(0, 1 - t*p)) (targets are used as given, as in TF.js).

    As TF.js; ``compile(loss="hinge")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    return tw.mean(tw.relu(tw.sub(1.0, tw.mul(t, p))), -1)


def squared_hinge(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """mean(max(0, 1 - t*p)^2).

    As TF.js; ``compile(loss="squaredHinge")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    return tw.mean(tw.square(tw.relu(tw.sub(1.0, tw.mul(t, p)))), -1)


def categorical_hinge(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """max(0, 1 + max((1 - t)*p) - sum(t*p)).

    As TF.js; ``compile(loss="categoricalHinge")`` names it.

    Args:
        y_true: Targets (one-hot or soft), classes on the last axis.
        y_pred: Predicted probabilities, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    pos = tw.sum(tw.mul(t, p), -1)
    neg = tw.max(tw.mul(tw.sub(1.0, t), p), -1)
    return tw.relu(tw.add(tw.sub(neg, pos), 1.0))


def logcosh(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """mean(d + softplus(-2d) - ln 2), d = p - t.

    As TF.js; ``compile(loss="logcosh")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    d = tw.sub(p, t)
    return tw.mean(tw.sub(tw.add(d, tw.softplus(tw.mul(d, -2.0))), math.log(2.0)), -1)


def categorical_crossentropy(
    y_true: TensorLike, y_pred: TensorLike, from_logits: bool = False
) -> Tensor:
    """-sum(t * log(clip(p / sum(p), eps, 1 - eps))); softmax first when ``from_logits``.

    As TF.js; ``compile(loss="categoricalCrossentropy")`` names it.

    Args:
        y_true: Targets (one-hot or soft), classes on the last axis.
        y_pred: Predicted probabilities (or logits), shaped like ``y_true``.
        from_logits: ``y_pred`` holds logits rather than probabilities.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.

    Example:

    >>> t, p = tw.tensor([[0.0, 1.0]]), tw.tensor([[0.5, 0.5]])
    >>> round(layers.losses.categorical_crossentropy(t, p).item(), 4)
    0.6931
    """
    t, p = _prep(y_true, y_pred)
    # The engine composite (one fused kernel, and a one-pass gradient, where the backend has it).
    return tw.categorical_crossentropy(t, p, from_logits, -1)


def sparse_categorical_crossentropy(
    y_true: TensorLike, y_pred: TensorLike, from_logits: bool = False
) -> Tensor:
    """Integer class labels (shape ``y_pred.shape[:-1]``, optionally with a trailing 1) turned
    one-hot, then categorical crossentropy.

    As TF.js; ``compile(loss="sparseCategoricalCrossentropy")`` names it. Like tfjs-layers,
    the probabilities are first clipped to ``[eps, 1 - eps]`` and only then renormalised and
    clipped again by categorical crossentropy:
    ``-log(clip(c_k / sum(c), eps, 1 - eps))`` with ``c = clip(p, eps, 1 - eps)`` and ``k``
    the label, so rows that do not sum to 1 (or hold zeros) give TF.js's values. With
    ``from_logits`` the logits are not clipped (tfjs-layers clips them too, which squashes
    every logit into ``[eps, 1 - eps]``; we do not copy that).

    Args:
        y_true: Integer class labels, shape ``y_pred.shape[:-1]`` (or with a trailing 1).
        y_pred: Class probabilities (or logits), classes on the last axis.
        from_logits: ``y_pred`` holds logits rather than probabilities.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.

    Raises:
        ValueError: The labels do not match the predictions' shape.

    Example:

    >>> labels, p = tw.tensor([1], dtype="int32"), tw.tensor([[0.5, 0.5]])
    >>> round(layers.losses.sparse_categorical_crossentropy(labels, p).item(), 4)
    0.6931
    """
    t = tw.as_tensor(y_true)
    p = tw.as_tensor(y_pred)
    if p.dtype != "float32":
        p = tw.cast(p, "float32")
    labels = tw.cast(tw.floor(tw.cast(t, "float32")) if t.dtype != "int32" else t, "int32")
    n_classes = p.shape[-1]
    if labels.size * n_classes != p.size:
        raise ValueError(
            f"sparse_categorical_crossentropy: {labels.size} labels (shape {labels.shape}) do not "
            f"match predictions of shape {p.shape}: expected one integer label per row, shape "
            f"{p.shape[:-1]} or {p.shape[:-1] + (1,)}"
        )
    one_hot = tw.reshape(tw.one_hot(tw.reshape(labels, (-1,)), n_classes), p.shape)
    if not from_logits:
        p = tw.clip_by_value(p, EPS, 1 - EPS)  # tfjs-layers losses.ts, before renormalising
    return categorical_crossentropy(one_hot, p, from_logits)


def binary_crossentropy(
    y_true: TensorLike, y_pred: TensorLike, from_logits: bool = False
) -> Tensor:
    """With y = clip(p, eps, 1-eps), z = log(y/(1-y)) (or z = p from logits):
    mean(relu(z) - z*t + log1p(exp(-|z|))).

    As TF.js; ``compile(loss="binaryCrossentropy")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions (probabilities, or logits), shaped like ``y_true``.
        from_logits: ``y_pred`` holds logits rather than probabilities.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.

    Example:

    >>> t, p = tw.tensor([[1.0]]), tw.tensor([[0.5]])
    >>> round(layers.losses.binary_crossentropy(t, p).item(), 4)
    0.6931
    """
    t, p = _prep(y_true, y_pred)
    if from_logits:
        z = p
    else:
        y = tw.clip_by_value(p, EPS, 1 - EPS)
        z = tw.log(tw.div(y, tw.sub(1.0, y)))
    per = tw.add(tw.sub(tw.relu(z), tw.mul(z, t)), tw.log1p(tw.exp(tw.neg(tw.abs(z)))))
    return tw.mean(per, -1)


def kullback_leibler_divergence(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """sum(t * log(clip(t, eps, 1) / clip(p, eps, 1))).

    As TF.js; ``compile(loss="kullbackLeiblerDivergence")`` names it.

    Args:
        y_true: Targets (one-hot or soft), classes on the last axis.
        y_pred: Predicted probabilities, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    tc = tw.clip_by_value(t, EPS, 1.0)
    pc = tw.clip_by_value(p, EPS, 1.0)
    return tw.sum(tw.mul(t, tw.log(tw.div(tc, pc))), -1)


def poisson(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """mean(p - t*log(p + eps)).

    As TF.js; ``compile(loss="poisson")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    return tw.mean(tw.sub(p, tw.mul(t, tw.log(tw.add(p, EPS)))), -1)


def _l2_normalize(x: Tensor) -> Tensor:
    sq = tw.sum(tw.square(x), -1, keepdims=True)
    return tw.div(x, tw.sqrt(tw.maximum(sq, EPS)))


def cosine_proximity(y_true: TensorLike, y_pred: TensorLike) -> Tensor:
    """-sum(l2norm(t) * l2norm(p)), l2norm(x) = x / sqrt(max(sum(x^2), eps)).

    As TF.js; ``compile(loss="cosineProximity")`` names it.

    Args:
        y_true: Targets.
        y_pred: Predictions, shaped like ``y_true``.

    Returns:
        The per-sample loss, shape ``y_pred.shape[:-1]``.
    """
    t, p = _prep(y_true, y_pred)
    return tw.neg(tw.sum(tw.mul(_l2_normalize(t), _l2_normalize(p)), -1))


# TF.js camelCase name -> function (the canonical names).
LOSSES: dict[str, LossFn] = {
    "meanSquaredError": mean_squared_error,
    "meanAbsoluteError": mean_absolute_error,
    "meanAbsolutePercentageError": mean_absolute_percentage_error,
    "meanSquaredLogarithmicError": mean_squared_logarithmic_error,
    "hinge": hinge,
    "squaredHinge": squared_hinge,
    "categoricalHinge": categorical_hinge,
    "logcosh": logcosh,
    "categoricalCrossentropy": categorical_crossentropy,
    "sparseCategoricalCrossentropy": sparse_categorical_crossentropy,
    "binaryCrossentropy": binary_crossentropy,
    "kullbackLeiblerDivergence": kullback_leibler_divergence,
    "poisson": poisson,
    "cosineProximity": cosine_proximity,
}

ALIASES: dict[str, str] = {
    "mse": "meanSquaredError",
    "mae": "meanAbsoluteError",
    "mape": "meanAbsolutePercentageError",
    "msle": "meanSquaredLogarithmicError",
    "kld": "kullbackLeiblerDivergence",
    "kl_divergence": "kullbackLeiblerDivergence",
    "cosine": "cosineProximity",
    "log_cosh": "logcosh",
}

# short names
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence = kullback_leibler_divergence
cosine = cosine_proximity
log_cosh = logcosh

# TF.js camelCase spellings of the functions
meanSquaredError = mean_squared_error  # noqa: N816
meanAbsoluteError = mean_absolute_error  # noqa: N816
meanAbsolutePercentageError = mean_absolute_percentage_error  # noqa: N816
meanSquaredLogarithmicError = mean_squared_logarithmic_error  # noqa: N816
squaredHinge = squared_hinge  # noqa: N816
categoricalHinge = categorical_hinge  # noqa: N816
categoricalCrossentropy = categorical_crossentropy  # noqa: N816
sparseCategoricalCrossentropy = sparse_categorical_crossentropy  # noqa: N816
binaryCrossentropy = binary_crossentropy  # noqa: N816
kullbackLeiblerDivergence = kullback_leibler_divergence  # noqa: N816
cosineProximity = cosine_proximity  # noqa: N816


def normalize_name(name: str) -> str:
    """The lookup key of a name: case, underscores and dashes ignored.

    Args:
        name: A loss name.

    Returns:
        The key (``"meanSquaredError"`` and ``"mean_squared_error"`` give the same).
    """
    return name.replace("_", "").replace("-", "").lower()


def _table() -> dict[str, str]:
    out = {normalize_name(k): k for k in LOSSES}
    out.update({normalize_name(k): v for k, v in ALIASES.items()})
    return out


_KEYS = _table()


def canonical_name(identifier: Any) -> str | None:
    """The TF.js camelCase name of a loss string or function.

    Args:
        identifier: A loss name in any spelling, or a loss function.

    Returns:
        The canonical name (``"meanSquaredError"``), or ``None`` for an unknown name or a
        callable that is not one of ours.
    """
    if isinstance(identifier, str):
        return _KEYS.get(normalize_name(identifier))
    for name, fn in LOSSES.items():
        if fn is identifier:
            return name
    return None


def accepted_names() -> list[str]:
    """Every accepted loss spelling: the camelCase names, their snake_case forms, aliases.

    Returns:
        The sorted names.
    """
    snake = [_snake(k) for k in LOSSES]
    return sorted(set(LOSSES) | set(snake) | set(ALIASES))


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def get(identifier: Any) -> LossFn:
    """The loss function an identifier names (what ``compile(loss=...)`` accepts).

    Args:
        identifier: A name in any spelling (``"categoricalCrossentropy"``,
            ``"categorical_crossentropy"``, ``"mse"``, ...) or a callable
            ``(y_true, y_pred) -> per-sample tensor`` (returned as is).

    Returns:
        The loss function.

    Raises:
        ValueError: An unknown name (the message suggests the closest).
        TypeError: Neither a string nor a callable.

    Example:

    >>> layers.losses.get("mse") is layers.losses.mean_squared_error
    True
    """
    if isinstance(identifier, str):
        name = _KEYS.get(normalize_name(identifier))
        if name is None:
            hint = did_you_mean(identifier, accepted_names())
            raise ValueError(
                f"unknown loss {identifier!r}{hint}; accepted names: {', '.join(accepted_names())} "
                "(any case), or a callable (y_true, y_pred) -> per-sample loss"
            )
        return LOSSES[name]
    if callable(identifier):
        return identifier
    raise TypeError(
        f"cannot interpret {identifier!r} as a loss: pass a name such as "
        "'categoricalCrossentropy' or a callable (y_true, y_pred) -> per-sample loss"
    )
