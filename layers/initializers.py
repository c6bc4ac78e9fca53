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
    """(fan_in, fan_out) as TF.js: kernels are channels last, receptive field times channels."""
    shape = tuple(shape)
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    if len(shape) in (3, 4, 5):
        rf = prod(shape[:-2])
        return float(shape[-2] * rf), float(shape[-1] * rf)
    n = math.sqrt(prod(shape)) if shape else 1.0
    return n, n


class Initializer:
    """Base: ``init(shape, dtype='float32') -> Tensor``."""

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
    class_name = "Zeros"

    def __call__(self, shape, dtype="float32"):
        return tw.zeros(shape, dtype)


class Ones(Initializer):
    class_name = "Ones"

    def __call__(self, shape, dtype="float32"):
        return tw.ones(shape, dtype)


class Constant(Initializer):
    class_name = "Constant"

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return tw.fill(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    class_name = "RandomUniform"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def __call__(self, shape, dtype="float32"):
        return tw.random_uniform(shape, self.minval, self.maxval, dtype, seed=self.seed)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    class_name = "RandomNormal"

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape, dtype="float32"):
        return tw.random_normal(shape, self.mean, self.stddev, dtype, seed=self.seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    class_name = "TruncatedNormal"

    def __call__(self, shape, dtype="float32"):
        return tw.truncated_normal(shape, self.mean, self.stddev, dtype, seed=self.seed)


class Identity(Initializer):
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
    """A (scaled) random orthogonal matrix; higher ranks are flattened to (prod(shape[:-1]), shape[-1])."""

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
    """TF.js VarianceScaling: 'normal' draws a truncated normal with sigma sqrt(scale/n)."""

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
            "__doc__": f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r}).",
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
    return Constant(value)


def glorot_normal(seed: int | None = None) -> Initializer:
    return GlorotNormal(seed)


def glorot_uniform(seed: int | None = None) -> Initializer:
    return GlorotUniform(seed)


def he_normal(seed: int | None = None) -> Initializer:
    return HeNormal(seed)


def he_uniform(seed: int | None = None) -> Initializer:
    return HeUniform(seed)


def identity(gain: float = 1.0) -> Identity:
    return Identity(gain)


def lecun_normal(seed: int | None = None) -> Initializer:
    return LeCunNormal(seed)


def lecun_uniform(seed: int | None = None) -> Initializer:
    return LeCunUniform(seed)


def ones() -> Ones:
    return Ones()


def orthogonal(gain: float = 1.0, seed: int | None = None) -> Orthogonal:
    return Orthogonal(gain, seed)


def random_normal(mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> RandomNormal:
    return RandomNormal(mean, stddev, seed)


def random_uniform(
    minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
) -> RandomUniform:
    return RandomUniform(minval, maxval, seed)


def truncated_normal(
    mean: float = 0.0, stddev: float = 0.05, seed: int | None = None
) -> TruncatedNormal:
    return TruncatedNormal(mean, stddev, seed)


def variance_scaling(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "normal", seed: int | None = None
) -> VarianceScaling:
    return VarianceScaling(scale, mode, distribution, seed)


def zeros() -> Zeros:
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
    return [c.display_name for c in CLASSES]


def get(identifier: Any) -> Initializer:
    """An Initializer from a name ('glorotNormal' / 'glorot_normal'), a config dict or an instance."""
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
    """Keras-JSON form: ``{"class_name": "GlorotNormal", "config": {"seed": None}}``."""
    return {"class_name": init.class_name, "config": init.get_config()}
