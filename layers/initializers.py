"""Weight initialisers with TF.js formulas; ``get()`` accepts names, configs and instances.

All draw on the host through engine's seeded generators, so ``engine.set_seed(n)`` makes them
reproducible and every backend gets the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import engine as tw
from engine import Tensor
from engine.hints import did_you_mean
from layers.utils import canonical, lookup, prod


def compute_fans(shape: Sequence[int]) -> tuple[float, float]:
    """(fan_in, fan_out) as TF.js: kernels are channels last, receptive field times channels.

    Args:
        shape: A weight shape: ``(in, out)`` or a convolution kernel ``(..., in, out)``.

    Returns:
        ``(fan_in, fan_out)``.

    Example:

    >>> layers.initializers.compute_fans((3, 3, 16, 32))
    (144.0, 288.0)
    """
    shape = tuple(shape)
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    if len(shape) in (3, 4, 5):
        rf = prod(shape[:-2])
        return float(shape[-2] * rf), float(shape[-1] * rf)
    n = math.sqrt(prod(shape)) if shape else 1.0
    return n, n


class Initializer:
    """Base class of weight initializers: ``init(shape, dtype='float32') -> Tensor``.

    Get one by name with ``layers.initializers.get("glorotNormal")`` or a factory such as
    ``layers.initializers.he_normal(seed=1)``; layers take either.

    Example:

    >>> init = layers.initializers.get("ones")
    >>> init((2, 2)).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """

    class_name = "Initializer"

    def __call__(self, shape: Sequence[int], dtype: str = "float32") -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class Zeros(Initializer):
    """All zeros (TF.js ``tf.initializers.zeros``)."""

    class_name = "Zeros"

    def __call__(self, shape, dtype="float32"):
        return tw.zeros(shape, dtype)


class Ones(Initializer):
    """All ones (TF.js ``tf.initializers.ones``)."""

    class_name = "Ones"

    def __call__(self, shape, dtype="float32"):
        return tw.ones(shape, dtype)


class Constant(Initializer):
    """Every value ``value`` (TF.js ``tf.initializers.constant``).

    Args:
        value: The constant.
    """

    class_name = "Constant"

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return tw.fill(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    """Uniform values in ``[minval, maxval)`` (TF.js ``randomUniform``).

    Args:
        minval: The lower bound.
        maxval: The upper bound.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).
    """

    class_name = "RandomUniform"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def __call__(self, shape, dtype="float32"):
        return tw.random_uniform(shape, self.minval, self.maxval, dtype, seed=self.seed)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """Normal values (TF.js ``randomNormal``).

    Args:
        mean: The mean.
        stddev: The standard deviation.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).
    """

    class_name = "RandomNormal"

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape, dtype="float32"):
        return tw.random_normal(shape, self.mean, self.stddev, dtype, seed=self.seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal values redrawn beyond two standard deviations (TF.js ``truncatedNormal``).

    Args:
        mean: The mean.
        stddev: The standard deviation before truncation.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).
    """

    class_name = "TruncatedNormal"

    def __call__(self, shape, dtype="float32"):
        return tw.truncated_normal(shape, self.mean, self.stddev, dtype, seed=self.seed)


class Identity(Initializer):
    """``gain`` times the identity matrix; square 2-D shapes only (TF.js ``identity``).

    Args:
        gain: The diagonal value.
    """

    class_name = "Identity"

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"identity initializer needs a square 2-D shape, got {shape}")
        return tw.tensor(np.eye(shape[0]) * self.gain, dtype=dtype)

    def get_config(self):
        return {"gain": self.gain}


class Orthogonal(Initializer):
    """A (scaled) random orthogonal matrix (TF.js ``orthogonal``); higher ranks are flattened
    to ``(prod(shape[:-1]), shape[-1])``.

    Args:
        gain: The scale.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).
    """

    class_name = "Orthogonal"

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain, self.seed = float(gain), seed

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer needs a shape of rank >= 2, got {shape}")
        rows, cols = prod(shape[:-1]), shape[-1]
        a = tw.rng(self.seed).normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return tw.tensor((self.gain * q).reshape(shape), dtype=dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class VarianceScaling(Initializer):
    """TF.js VarianceScaling: 'normal' draws a truncated normal with sigma sqrt(scale/n).

    ``n`` is the fan chosen by ``mode`` (``compute_fans``); ``"uniform"`` draws from
    ``[-limit, limit)`` with ``limit = sqrt(3 * scale / n)``.

    Args:
        scale: The variance scale (positive).
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"`` (camelCase accepted).
        distribution: ``"normal"`` (truncated), ``"truncated_normal"``,
            ``"untruncated_normal"`` or ``"uniform"``.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Raises:
        ValueError: A non-positive ``scale`` or an unknown ``mode``/``distribution``.
    """

    class_name = "VarianceScaling"
    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTS = ("normal", "truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "normal",
        seed: int | None = None,
    ):
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        mode = _snake(mode)
        distribution = _snake(distribution)
        if mode not in self._MODES:
            raise ValueError(
                f"VarianceScaling: mode must be one of {self._MODES}, got {mode!r}"
                + did_you_mean(mode, self._MODES)
            )
        if distribution not in self._DISTS:
            raise ValueError(
                f"VarianceScaling: distribution must be one of {self._DISTS}, got {distribution!r}"
                + did_you_mean(distribution, self._DISTS)
            )
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution in ("normal", "truncated_normal"):
            return tw.truncated_normal(shape, 0.0, math.sqrt(scale), dtype, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return tw.random_normal(shape, 0.0, math.sqrt(scale), dtype, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return tw.random_uniform(shape, -limit, limit, dtype, seed=self.seed)

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


def _snake(s: str) -> str:
    from layers.utils import to_snake_case

    return to_snake_case(str(s))


def _vs(name: str, scale: float, mode: str, distribution: str) -> type:
    def __init__(self, seed: int | None = None, **_ignored):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(
        name,
        (VarianceScaling,),
        {
            "class_name": name,
            "__init__": __init__,
            "get_config": get_config,
            "__doc__": (
                f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r}).\n\n"
                "Args:\n    seed: A seed for reproducible values (default the global sequence).\n"
            ),
        },
    )


GlorotNormal = _vs("GlorotNormal", 1.0, "fan_avg", "normal")
GlorotUniform = _vs("GlorotUniform", 1.0, "fan_avg", "uniform")
HeNormal = _vs("HeNormal", 2.0, "fan_in", "normal")
HeUniform = _vs("HeUniform", 2.0, "fan_in", "uniform")
LeCunNormal = _vs("LeCunNormal", 1.0, "fan_in", "normal")
LeCunUniform = _vs("LeCunUniform", 1.0, "fan_in", "uniform")

CLASSES = [
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LeCunNormal,
    LeCunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
]
_TABLE: dict[str, type] = {canonical(c.class_name): c for c in CLASSES}
for _c in CLASSES:
    _c.display_name = _c.class_name[0].lower() + _c.class_name[1:]
_TABLE.update(
    {
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "lecunnormal": LeCunNormal,
        "zero": Zeros,
        "one": Ones,
    }
)


# TF.js-style factories: initializers.glorot_normal(seed=1) / initializers.glorotNormal(...)
def constant(value: float = 0.0) -> Constant:
    """A ``Constant`` initializer.

    Args:
        value: The constant.

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return Constant(value)


def glorot_normal(seed: int | None = None) -> Initializer:
    """Glorot (Xavier) normal: truncated normal with variance ``2 / (fan_in + fan_out)``.

    Args:
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return GlorotNormal(seed)


def glorot_uniform(seed: int | None = None) -> Initializer:
    """Glorot (Xavier) uniform: limit ``sqrt(6 / (fan_in + fan_out))``.

    Args:
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return GlorotUniform(seed)


def he_normal(seed: int | None = None) -> Initializer:
    """He normal: truncated normal with variance ``2 / fan_in`` (for ReLU layers).

    Args:
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return HeNormal(seed)


def he_uniform(seed: int | None = None) -> Initializer:
    """He uniform: limit ``sqrt(6 / fan_in)``.

    Args:
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return HeUniform(seed)


def identity(gain: float = 1.0) -> Identity:
    """An ``Identity`` initializer (square 2-D weights).

    Args:
        gain: The diagonal value.

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return Identity(gain)


def lecun_normal(seed: int | None = None) -> Initializer:
    """LeCun normal: truncated normal with variance ``1 / fan_in`` (for selu layers).

    Args:
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return LeCunNormal(seed)


def lecun_uniform(seed: int | None = None) -> Initializer:
    """LeCun uniform: limit ``sqrt(3 / fan_in)``.

    Args:
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return LeCunUniform(seed)


def ones() -> Ones:
    """A ``Ones`` initializer.

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return Ones()


def orthogonal(gain: float = 1.0, seed: int | None = None) -> Orthogonal:
    """An ``Orthogonal`` initializer (the default for recurrent kernels).

    Args:
        gain: The scale.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return Orthogonal(gain, seed)


def random_normal(mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> RandomNormal:
    """A ``RandomNormal`` initializer.

    Args:
        mean: The mean.
        stddev: The standard deviation.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return RandomNormal(mean, stddev, seed)


def random_uniform(
    minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
) -> RandomUniform:
    """A ``RandomUniform`` initializer.

    Args:
        minval: The lower bound.
        maxval: The upper bound.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return RandomUniform(minval, maxval, seed)


def truncated_normal(
    mean: float = 0.0, stddev: float = 0.05, seed: int | None = None
) -> TruncatedNormal:
    """A ``TruncatedNormal`` initializer.

    Args:
        mean: The mean.
        stddev: The standard deviation before truncation.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return TruncatedNormal(mean, stddev, seed)


def variance_scaling(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "normal", seed: int | None = None
) -> VarianceScaling:
    """A ``VarianceScaling`` initializer.

    Args:
        scale: The variance scale (positive).
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"normal"`` (truncated), ``"untruncated_normal"`` or ``"uniform"``.
        seed: A seed for reproducible values (default the global sequence, ``tw.set_seed``).

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return VarianceScaling(scale, mode, distribution, seed)


def zeros() -> Zeros:
    """A ``Zeros`` initializer.

    Returns:
        The initializer, for ``kernel_initializer=`` and the like.
    """
    return Zeros()


glorotNormal, glorotUniform, heNormal, heUniform = (
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
)  # noqa: N816
leCunNormal, leCunUniform, randomNormal, randomUniform = (
    lecun_normal,
    lecun_uniform,
    random_normal,
    random_uniform,
)  # noqa: N816
truncatedNormal, varianceScaling = truncated_normal, variance_scaling  # noqa: N816


def names() -> list[str]:
    """The initializer names ``get`` accepts (TF.js camelCase; snake_case works too).

    Returns:
        The names.
    """
    return [c.display_name for c in CLASSES]


def get(identifier: Any) -> Initializer:
    """The initializer an identifier names (what ``kernel_initializer=`` accepts).

    Args:
        identifier: A name (``"glorotNormal"`` / ``"glorot_normal"``), a Keras config dict
            ``{"class_name", "config"}``, an ``Initializer`` (returned as is), or a callable
            ``(shape, dtype) -> values``.

    Returns:
        An ``Initializer``.

    Raises:
        ValueError: An unknown name or an identifier of another kind.

    Example:

    >>> init = layers.initializers.get({"class_name": "Constant", "config": {"value": 3}})
    >>> init((2,)).tolist()
    [3.0, 3.0]
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return lookup(identifier, _TABLE, "initializer")()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = lookup(identifier["class_name"], _TABLE, "initializer")
        config = {_snake(k): v for k, v in (identifier.get("config") or {}).items()}
        if cls is VarianceScaling or not issubclass(cls, VarianceScaling):
            return cls.from_config(config)
        return cls(seed=config.get("seed"))
    if callable(identifier):
        return _Callable(identifier)
    raise ValueError(
        f"could not interpret initializer {identifier!r}; accepted names: {', '.join(names())}"
    )


class _Callable(Initializer):
    class_name = "Custom"

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, shape, dtype="float32"):
        return tw.cast(tw.as_tensor(self.fn(tuple(shape), dtype)), dtype)


def serialize(init: Initializer) -> dict:
    """The Keras-JSON form of an initializer, which ``get`` reads back.

    Args:
        init: The initializer.

    Returns:
        ``{"class_name": "GlorotNormal", "config": {"seed": None}}`` and the like.
    """
    return {"class_name": init.class_name, "config": init.get_config()}
