"""Tensor creation: constants, ranges and seeded random tensors.

Random values are drawn on the host from numpy's Philox generator and uploaded, so one seed
gives the same numbers on every backend (weights initialised on ``cpu`` equal those on
``cuda``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import dispatch, dtypes
from engine.ops.core import as_tensor, cast, tensor
from engine.ops.shape import one_hot
from engine.tensor import Tensor, Variable

_seed_state = {"seed": None, "counter": 0}


def set_seed(seed: int | None) -> None:
    """Make later random ops (initialisers, dropout, shuffling) reproducible."""
    _seed_state["seed"] = None if seed is None else int(seed)
    _seed_state["counter"] = 0


def rng(seed: int | None = None) -> np.random.Generator:
    """A generator: from ``seed`` if given, else the next one of the global seed sequence."""
    if seed is not None:
        return np.random.Generator(np.random.Philox(int(seed)))
    base = _seed_state["seed"]
    if base is None:
        return np.random.default_rng()
    _seed_state["counter"] += 1
    return np.random.Generator(np.random.Philox(key=base, counter=_seed_state["counter"]))


def _shape(shape: Any, op: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be a sequence of ints, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise ValueError(f"{op}: shape {out} has a negative dimension")
    return out


def fill(shape: Sequence[int], value: Any, dtype: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with ``value``; a value that does not fit ``dtype`` (NaN or
    2**40 into int32, 1e300 into float32, a complex number) raises, as ``tensor`` does."""
    shape = _shape(shape, "fill")
    if dtype is None:
        dt = "bool" if isinstance(value, bool) else "int32" if isinstance(value, int) else "float32"
        dt = "float32" if dt == "int32" else dt  # numbers are float32 by default, as TF.js
    else:
        dt = dtypes.as_dtype(dtype)
    if np.ndim(value) != 0:
        raise ValueError(f"fill: value must be a scalar, got {value!r}")
    value = dtypes.to_host_array(value, dt, "fill").item()
    return dispatch.run(
        "fill",
        (),
        {"shape": shape, "value": value},
        shape,
        dt,
        lambda be: be.fill(shape, value, dt),
    )


def zeros(shape: Sequence[int], dtype: Any = "float32") -> Tensor:
    return fill(shape, 0, dtype)


def ones(shape: Sequence[int], dtype: Any = "float32") -> Tensor:
    return fill(shape, 1, dtype)


def zeros_like(x: Any) -> Tensor:
    x = as_tensor(x)
    return fill(x.shape, False if x.dtype == "bool" else 0, x.dtype)


def ones_like(x: Any) -> Tensor:
    x = as_tensor(x)
    return fill(x.shape, True if x.dtype == "bool" else 1, x.dtype)


def eye(num_rows: int, num_columns: int | None = None, dtype: Any = "float32") -> Tensor:
    """Identity matrix (rectangular when ``num_columns`` is given)."""
    n = int(num_rows)
    m = n if num_columns is None else int(num_columns)
    idx = np.arange(n, dtype=np.int32)
    return one_hot(tensor(idx, dtype="int32"), m, 1, 0, dtypes.as_dtype(dtype))


def range(
    start: float, stop: float | None = None, step: float = 1, dtype: Any = "float32"
) -> Tensor:  # noqa: A001
    """Evenly spaced values in [start, stop) (TF.js ``range``)."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("range: step must not be 0")
    dt = dtypes.as_dtype(dtype)
    return tensor(np.arange(start, stop, step), dtype=dt)


def linspace(start: float, stop: float, num: int) -> Tensor:
    if num <= 0:
        raise ValueError(f"linspace: num must be positive, got {num}")
    return tensor(np.linspace(start, stop, int(num)), dtype="float32")


def _random(name: str, shape: tuple[int, ...], dt: str, attrs: dict, draw) -> Tensor:
    """A kernel whose invoke draws ``draw(generator)`` on the host at each call and uploads it:
    replaying a trace draws fresh values from the global seed sequence, in eager order."""
    from engine.ops.core import check_dtype_supported

    check_dtype_supported(dt, name)
    seed = attrs.get("seed")
    np_dt = dtypes.to_numpy_dtype(dt)

    def invoke(be: Any) -> Any:
        arr = np.array(draw(rng(seed)), dtype=np_dt, order="C").reshape(shape)
        return be.from_numpy(arr)

    return dispatch.run(name, (), attrs, shape, dt, invoke)


def random_uniform(
    shape: Sequence[int],
    minval: float = 0,
    maxval: float = 1,
    dtype: Any = "float32",
    seed: int | None = None,
) -> Tensor:
    """Uniform values in [minval, maxval)."""
    shape = _shape(shape, "random_uniform")
    dt = dtypes.as_dtype(dtype)
    attrs = {"minval": minval, "maxval": maxval, "seed": seed}
    if dt == "int32":
        lo, hi = int(minval), int(maxval)
        return _random("random_uniform", shape, dt, attrs, lambda g: g.integers(lo, hi, size=shape))
    return _random(
        "random_uniform", shape, dt, attrs, lambda g: g.uniform(minval, maxval, size=shape)
    )


def random_normal(
    shape: Sequence[int],
    mean: float = 0,
    stddev: float = 1,
    dtype: Any = "float32",
    seed: int | None = None,
) -> Tensor:
    shape = _shape(shape, "random_normal")
    attrs = {"mean": mean, "stddev": stddev, "seed": seed}
    return _random(
        "random_normal",
        shape,
        dtypes.as_dtype(dtype),
        attrs,
        lambda g: g.normal(mean, stddev, size=shape),
    )


def truncated_normal(
    shape: Sequence[int],
    mean: float = 0,
    stddev: float = 1,
    dtype: Any = "float32",
    seed: int | None = None,
) -> Tensor:
    """Normal values, redrawn when more than two standard deviations from the mean."""
    shape = _shape(shape, "truncated_normal")
    n = int(np.prod(shape))

    def draw(g: np.random.Generator) -> np.ndarray:
        out = g.normal(0, 1, size=n)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = g.normal(0, 1, size=int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * stddev + mean).reshape(shape)

    attrs = {"mean": mean, "stddev": stddev, "seed": seed}
    return _random("truncated_normal", shape, dtypes.as_dtype(dtype), attrs, draw)


def variable(
    initial_value: Any, trainable: bool = True, name: str | None = None, dtype: Any = None
) -> Variable:
    """A mutable, optionally trainable tensor."""
    t = as_tensor(initial_value)
    if dtype is not None:
        t = cast(t, dtype)
    s = t._live()
    return Variable(s, t.shape, t.dtype, trainable=trainable, name=name)
