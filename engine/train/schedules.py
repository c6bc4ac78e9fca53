"""Learning-rate schedules with Keras 3's formulas and argument names (snake_case).

A schedule is a callable on the optimizer's step (the number of steps applied before this one,
0 for the first): pass one wherever a learning rate goes (``tw.train.adam(schedule)``,
``Adam(learning_rate=schedule)``) and the optimizer uses ``schedule(iterations)`` on every
step, also in traced and compiled training (the fused kernels read it on the host per step; the
composite update computes it on the device from a step counter).

Called with a Python/numpy number a schedule returns a Python float, computed in float32 as
Keras does; called with a scalar ``Tensor`` it returns a float32 scalar ``Tensor`` built from
engine ops (how the optimizer evaluates it on the device). A subclass implements
``_compute(step, m)`` with the arithmetic of :class:`_HostMath` / :class:`_DeviceMath` so both
work, and ``get_config``.

Example:

>>> lr = tw.train.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> round(lr(0), 6), round(lr(10), 6), round(lr(20), 6)
(0.1, 0.05, 0.025)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from engine import ops
from engine.tensor import Tensor

_f32 = np.float32


def _number(value: Any, who: str, name: str) -> Any:
    """``value`` as a finite float (an int stays an int, as Keras's configs keep step counts),
    or ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{who}: {name} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{who}: {name} must be finite, got {value!r}")
    return int(value) if isinstance(value, (int, np.integer)) else out


class _HostMath:
    """float32 scalar arithmetic on the host (numpy scalars)."""

    @staticmethod
    def const(x: Any) -> Any:
        return _f32(x)

    add = staticmethod(lambda a, b: _f32(a + b))
    sub = staticmethod(lambda a, b: _f32(a - b))
    mul = staticmethod(lambda a, b: _f32(a * b))
    div = staticmethod(lambda a, b: _f32(np.divide(a, b)))
    pow = staticmethod(lambda a, b: _f32(np.power(a, b)))
    floor = staticmethod(lambda a: _f32(np.floor(a)))
    cos = staticmethod(lambda a: _f32(np.cos(a)))
    minimum = staticmethod(lambda a, b: _f32(np.minimum(a, b)))
    less = staticmethod(lambda a, b: bool(a < b))
    less_equal = staticmethod(lambda a, b: bool(a <= b))
    greater = staticmethod(lambda a, b: bool(a > b))
    logical_and = staticmethod(lambda a, b: bool(a and b))
    to_float = staticmethod(lambda c: _f32(1.0 if c else 0.0))

    @staticmethod
    def where(c: bool, a: Any, b: Any) -> Any:
        return a if c else b


class _DeviceMath:
    """The same arithmetic as scalar engine ops (float32 tensors)."""

    @staticmethod
    def const(x: Any) -> Tensor:
        return ops.scalar(float(x), "float32")

    add = staticmethod(ops.add)
    sub = staticmethod(ops.sub)
    mul = staticmethod(ops.mul)
    div = staticmethod(ops.div)
    pow = staticmethod(ops.pow)
    floor = staticmethod(ops.floor)
    cos = staticmethod(ops.cos)
    minimum = staticmethod(ops.minimum)
    less = staticmethod(ops.less)
    less_equal = staticmethod(ops.less_equal)
    greater = staticmethod(ops.greater)
    logical_and = staticmethod(ops.logical_and)
    to_float = staticmethod(lambda c: ops.cast(c, "float32"))
    where = staticmethod(ops.where)


class LearningRateSchedule:
    """Base class of the schedules: ``schedule(step)`` is the learning rate of the step that
    follows ``step`` applied steps (Keras ``LearningRateSchedule``)."""

    class_name: ClassVar[str] = "LearningRateSchedule"

    def __call__(self, step: Any) -> Any:
        """The learning rate at ``step``.

        Args:
            step: Steps applied so far: a number (gives a Python float) or a scalar Tensor
                (gives a float32 scalar Tensor).

        Returns:
            The learning rate.
        """
        if isinstance(step, Tensor):
            return self._compute(ops.cast(step, "float32"), _DeviceMath)
        return float(self._compute(_f32(step), _HostMath))

    def _compute(self, step: Any, m: Any) -> Any:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so ``type(s)(**s.get_config())`` rebuilds it."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LearningRateSchedule:
        """A schedule of this class from ``get_config()`` output."""
        return cls(**dict(config))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.class_name}({args})"


class _RateDecay(LearningRateSchedule):
    """The arguments, checks, config and decay exponent ``step / decay_steps`` (floored with
    ``staircase``) that ``ExponentialDecay`` and ``InverseTimeDecay`` share."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool,
        name: str,
    ):
        who = self.class_name
        self.initial_learning_rate = _number(initial_learning_rate, who, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, who, "decay_steps")
        self.decay_rate = _number(decay_rate, who, "decay_rate")
        if self.decay_steps <= 0:
            raise ValueError(f"{who}: decay_steps must be > 0, got {decay_steps!r}")
        self.staircase = bool(staircase)
        self.name = str(name)

    def _exponent(self, step: Any, m: Any) -> Any:
        p = m.div(step, m.const(self.decay_steps))
        return m.floor(p) if self.staircase else p

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (with ``staircase``,
    the exponent is ``floor(step / decay_steps)``).

    Args:
        initial_learning_rate: The learning rate at step 0.
        decay_steps: Steps per factor of ``decay_rate`` (> 0).
        decay_rate: The decay factor.
        staircase: Decay in whole intervals.
        name: Kept for Keras compatibility.

    Raises:
        ValueError: ``decay_steps <= 0`` or a value that is not a finite number.
    """

    class_name = "ExponentialDecay"

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def _compute(self, step: Any, m: Any) -> Any:
        p = self._exponent(step, m)
        return m.mul(m.const(self.initial_learning_rate), m.pow(m.const(self.decay_rate), p))


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (with ``staircase``,
    ``floor(step / decay_steps)``).

    Args:
        initial_learning_rate: The learning rate at step 0.
        decay_steps: How often the decay applies (> 0).
        decay_rate: The decay rate.
        staircase: Decay in whole intervals.
        name: Kept for Keras compatibility.

    Raises:
        ValueError: ``decay_steps <= 0`` or a value that is not a finite number.
    """

    class_name = "InverseTimeDecay"

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def _compute(self, step: Any, m: Any) -> Any:
        denom = m.add(m.const(1.0), m.mul(m.const(self.decay_rate), self._exponent(step, m)))
        return m.div(m.const(self.initial_learning_rate), denom)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary.

    Args:
        boundaries: Strictly increasing step numbers.
        values: One more learning rate than ``boundaries``.
        name: Kept for Keras compatibility.

    Raises:
        ValueError: The lengths do not match, the boundaries do not increase, or an entry is
            not a finite number.
    """

    class_name = "PiecewiseConstantDecay"

    def __init__(
        self, boundaries: Sequence[float], values: Sequence[float], name: str = "PiecewiseConstant"
    ):
        who = self.class_name
        b = [_number(x, who, f"boundaries[{i}]") for i, x in enumerate(boundaries)]
        v = [_number(x, who, f"values[{i}]") for i, x in enumerate(values)]
        if len(b) != len(v) - 1:
            raise ValueError(
                f"{who}: values must have one more entry than boundaries; got "
                f"boundaries={list(boundaries)} ({len(b)}) and values={list(values)} ({len(v)})"
            )
        if any(hi <= lo for lo, hi in zip(b, b[1:], strict=False)):
            raise ValueError(f"{who}: boundaries must increase strictly, got {list(boundaries)}")
        self.boundaries = b
        self.values = v
        self.name = str(name)

    def _compute(self, step: Any, m: Any) -> Any:
        b, v = self.boundaries, self.values
        if not b:
            return m.add(m.mul(step, m.const(0.0)), m.const(v[0]))
        result = m.mul(m.to_float(m.less_equal(step, m.const(b[0]))), m.const(v[0]))
        last = m.mul(m.to_float(m.greater(step, m.const(b[-1]))), m.const(v[-1]))
        result = m.add(result, last)
        for low, high, value in zip(b[:-1], b[1:], v[1:-1], strict=True):
            inside = m.logical_and(m.greater(step, m.const(low)), m.less_equal(step, m.const(high)))
            result = m.add(result, m.mul(m.to_float(inside), m.const(value)))
        return result

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warm-up (Keras 3).

    Without ``warmup_target``: ``lr * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps))
    + alpha)`` with ``s = min(step, decay_steps)`` and ``lr = initial_learning_rate``. With
    ``warmup_target``: for ``step < warmup_steps`` the rate goes linearly from
    ``initial_learning_rate`` to ``warmup_target``; then the cosine decay runs from
    ``warmup_target`` over ``decay_steps`` (``s = min(step, decay_steps + warmup_steps) -
    warmup_steps``).

    Args:
        initial_learning_rate: The learning rate at step 0.
        decay_steps: Steps of the decay (> 0).
        alpha: The final rate as a fraction of the decay's starting rate.
        name: Kept for Keras compatibility.
        warmup_target: The rate reached at the end of the warm-up (None: no warm-up).
        warmup_steps: Steps of the warm-up (>= 0).

    Raises:
        ValueError: ``decay_steps <= 0``, ``warmup_steps < 0`` or a value that is not a finite
            number.

    Example:

    >>> lr = tw.train.schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)
    >>> [round(lr(s), 4) for s in (0, 2, 4, 9, 14, 20)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """

    class_name = "CosineDecay"

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ):
        who = self.class_name
        self.initial_learning_rate = _number(initial_learning_rate, who, "initial_learning_rate")
        self.decay_steps = _number(decay_steps, who, "decay_steps")
        if self.decay_steps <= 0:
            raise ValueError(f"{who}: decay_steps must be > 0, got {decay_steps!r}")
        self.alpha = _number(alpha, who, "alpha")
        self.name = str(name)
        self.warmup_target = (
            None if warmup_target is None else _number(warmup_target, who, "warmup_target")
        )
        self.warmup_steps = _number(warmup_steps, who, "warmup_steps")
        if self.warmup_steps < 0:
            raise ValueError(f"{who}: warmup_steps must be >= 0, got {warmup_steps!r}")

    def _decay(self, step: Any, decay_from: Any, m: Any) -> Any:
        fraction = m.div(step, m.const(self.decay_steps))
        cosine = m.mul(m.const(0.5), m.add(m.const(1.0), m.cos(m.mul(m.const(math.pi), fraction))))
        decayed = m.add(m.mul(m.const(1.0 - self.alpha), cosine), m.const(self.alpha))
        return m.mul(decay_from, decayed)

    def _compute(self, step: Any, m: Any) -> Any:
        initial = m.const(self.initial_learning_rate)
        if self.warmup_target is None:
            return self._decay(m.minimum(step, m.const(self.decay_steps)), initial, m)
        target, warm = m.const(self.warmup_target), m.const(self.warmup_steps)
        step = m.minimum(step, m.const(self.decay_steps + self.warmup_steps))
        warmup = m.add(m.mul(m.sub(target, initial), m.div(step, warm)), initial)
        decay = self._decay(m.sub(step, warm), target, m)
        return m.where(m.less(step, warm), warmup, decay)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


#: The schedule classes by Keras class name.
SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    c.class_name: c
    for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay)
}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a schedule (what an optimizer's ``get_config`` holds).

    Args:
        schedule: A schedule.

    Returns:
        A JSON-ready dict.
    """
    return {"class_name": schedule.class_name, "config": schedule.get_config()}


def deserialize(config: Mapping[str, Any]) -> LearningRateSchedule:
    """The schedule ``serialize`` described.

    Args:
        config: ``{"class_name", "config"}``.

    Returns:
        A new schedule.

    Raises:
        ValueError: An unknown class name.
    """
    cls = SCHEDULES.get(str(config.get("class_name")))
    if cls is None:
        raise ValueError(
            f"unknown learning-rate schedule {config.get('class_name')!r}; "
            f"known: {sorted(SCHEDULES)}"
        )
    return cls.from_config(config.get("config", {}))
