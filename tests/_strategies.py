"""Hypothesis strategies and the oracle comparison shared by the property tests.

Values are drawn as the engine sees them (float32, int32, bool); oracles compute in float64
(or exact integers) with plain numpy and are rounded to the result dtype before comparing, so
float32 overflow to +-inf is part of the expected value.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine as tw

#: Examples per (op, backend); ``TENSORWEAVE_PROPERTY_EXAMPLES`` raises it for a deeper local run.
MAX_EXAMPLES = int(os.environ.get("TENSORWEAVE_PROPERTY_EXAMPLES", "20"))

#: One settings object for every property: few examples, reproducible (derandomize) so CI
#: failures replay, no deadline (numba compiles a kernel on its first call), no database.
PROPS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),  # no slow 'explain'
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

F32_MAX = float(np.finfo(np.float32).max)
#: float32 tolerances against a float64 oracle (as tests/_oracle.py; room for fused
#: multiply-add and vendor libm, tight enough to catch a wrong formula).
RTOL = 2e-5
ATOL = 2e-6
EPS32 = float(np.finfo(np.float32).eps)

#: Edge values every float property sees: NaN, +-Inf, signed zeros, large, tiny, subnormal.
EDGE_FLOATS = (
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    0.0,
    1e30,
    -1e30,
    3.0e38,
    -3.0e38,
    1e-30,
    -1e-30,
    1e-40,  # subnormal
    1.0,
    -1.0,
    0.5,
    -0.5,
    2.5,
    -2.5,
)


def floats(lo: float = -10.0, hi: float = 10.0, edges: Sequence[float] | bool = True):
    """float32 element values in [lo, hi], mixed with ``edges`` (EDGE_FLOATS when True)."""
    base = st.floats(lo, hi, width=32, allow_nan=False, allow_infinity=False)
    if edges is False:
        return base
    pool = EDGE_FLOATS if edges is True else tuple(edges)
    return st.one_of(base, base, st.sampled_from(pool))


def ints(lo: int = -50, hi: int = 50):
    return st.integers(lo, hi)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 3):
    """Shapes of rank 0..3 with sides 0..3 (0-d and empty included)."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcast_pair(min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 3):
    """Two mutually broadcastable shapes and their broadcast result."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def array(data, dtype: str, shape: tuple, elements=None) -> np.ndarray:
    """Draw an array of the engine ``dtype`` ("float32", "int32", "bool") and ``shape``."""
    if dtype == "float32":
        return data.draw(
            hnp.arrays(np.float32, shape, elements=floats() if elements is None else elements)
        )
    if dtype == "int32":
        return data.draw(
            hnp.arrays(np.int32, shape, elements=ints() if elements is None else elements)
        )
    if dtype == "bool":
        return data.draw(
            hnp.arrays(np.bool_, shape, elements=st.booleans() if elements is None else elements)
        )
    raise AssertionError(f"unknown dtype {dtype}")


def axis_arg(data, rank: int, multi: bool = True):
    """An ``axis`` argument for a tensor of ``rank``: None, an int (maybe negative) or a tuple."""
    choices = [st.none()]
    if rank:
        choices.append(st.integers(-rank, rank - 1))
        if multi:
            choices.append(
                st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True).map(
                    tuple
                )
            )
    return data.draw(st.one_of(*choices))


def np_axes(axis, rank: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(rank))
    if isinstance(axis, tuple):
        return tuple(sorted(a % rank for a in axis))
    return (axis % rank,)


def np_dtype(dtype: str) -> np.dtype:
    return np.dtype(np.bool_ if dtype == "bool" else dtype)


def to_f32(x) -> np.ndarray:
    """float64 values rounded to float32 (overflow gives +-inf, as the engine computes)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(x, dtype=np.float64).astype(np.float32)


def assert_matches(
    t: tw.Tensor,
    expected,
    dtype: str,
    rtol: float = RTOL,
    atol=ATOL,
    context: str = "",
) -> None:
    """``t`` has ``expected``'s shape and ``dtype``; ints and bools are equal; floats have NaN
    and +-Inf in the same places and finite values within ``atol + rtol*|expected|``
    (``atol`` may be an array broadcasting to the shape, e.g. a sum-of-magnitudes bound).

    ``expected`` float values are rounded to float32 first, so an oracle value beyond the
    float32 range is +-Inf; a result within ``rtol`` of the float32 maximum may round either way.
    """
    assert isinstance(t, tw.Tensor), f"expected a Tensor, got {type(t).__name__}"
    exp = np.asarray(expected)
    got = t.numpy()
    where = f" ({context})" if context else ""
    assert t.shape == exp.shape, f"shape {t.shape} != expected {exp.shape}{where}"
    assert got.shape == exp.shape, f"numpy() shape {got.shape} != {exp.shape}{where}"
    assert t.dtype == dtype, f"dtype {t.dtype} != expected {dtype}{where}"
    assert got.dtype == np_dtype(dtype), f"numpy() dtype {got.dtype} != {dtype}{where}"
    if dtype in ("int32", "bool"):
        exp = exp.astype(np_dtype(dtype))
        bad = got != exp
    else:
        e = to_f32(exp).astype(np.float64)
        g = got.astype(np.float64)
        tol = np.broadcast_to(np.asarray(atol, dtype=np.float64), e.shape) + rtol * np.where(
            np.isfinite(e), np.abs(e), 0
        )
        en, gn = np.isnan(e), np.isnan(g)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(g - e)
            near_max = (np.abs(np.where(np.isinf(e), g, e)) >= F32_MAX * (1 - rtol)) & (
                np.sign(g) == np.sign(e)
            )
            close = np.where(np.isinf(e) | np.isinf(g), (g == e) | near_max, diff <= tol)
        bad = (en != gn) | (~en & ~gn & ~close)
    if bad.any():
        idx = np.argwhere(bad)[:8] if bad.ndim else [()]
        rows = ", ".join(
            f"{tuple(int(i) for i in ix)}: got {got[tuple(ix)]!r} expected {exp[tuple(ix)]!r}"
            for ix in idx
        )
        raise AssertionError(f"{int(bad.sum())} of {bad.size} values differ{where}: {rows}")


def sum_atol(x: np.ndarray, axes: tuple[int, ...], keepdims: bool = False, scale: float = 4.0):
    """An absolute tolerance for sums over ``axes``: scale * n * eps32 * sum(|x|) (float32
    summation in any order stays within it), plus ATOL. NaN/Inf inputs contribute 0 (their
    outputs are compared exactly)."""
    a = np.abs(np.where(np.isfinite(x), x, 0).astype(np.float64))
    n = int(np.prod([x.shape[i] for i in axes])) if axes else 1
    s = a.sum(axis=axes, keepdims=keepdims) if axes else a
    return ATOL + scale * max(n, 1) * EPS32 * s
