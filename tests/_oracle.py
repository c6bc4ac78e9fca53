"""Shared helpers for the conformance suite: numpy (float64) oracles and comparisons."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import engine as tw

#: float32 tolerances against a float64 oracle (room for backends with fused multiply-add and
#: vendor math libraries; tight enough to catch a wrong formula).
RTOL = 2e-5
ATOL = 2e-6


def check(
    t: tw.Tensor,
    expected,
    dtype: str | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """``t`` has ``expected``'s shape, the given dtype, and its values (NaNs in the same places)."""
    assert isinstance(t, tw.Tensor), f"expected a Tensor, got {type(t).__name__}"
    exp = np.asarray(expected)
    got = t.numpy()
    assert t.shape == exp.shape, f"shape {t.shape} != expected {exp.shape}"
    assert got.shape == exp.shape, f"numpy() shape {got.shape} != {exp.shape}"
    if dtype is not None:
        assert t.dtype == dtype, f"dtype {t.dtype} != expected {dtype}"
        np_dt = np.bool_ if dtype == "bool" else np.dtype(dtype)
        assert got.dtype == np_dt, f"numpy() dtype {got.dtype} != {np_dt}"
    if exp.dtype.kind in "biu" and got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, exp)
    else:
        np.testing.assert_allclose(
            got.astype(np.float64), exp.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True
        )


def f32(a) -> np.ndarray:
    """Values as float32 (what the engine sees), then float64 for the oracle."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def numeric_grads(
    f: Callable[..., tw.Tensor],
    xs: Sequence[np.ndarray],
    weights: np.ndarray,
    eps: float = 1e-2,
    wrt: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Central differences of sum(f(*xs) * weights), f evaluated by the engine in float32 and
    the weighted sum taken on the host in float64."""

    def objective(vals):
        out = f(*[tw.tensor(v.astype(np.float32)) for v in vals]).numpy().astype(np.float64)
        return float(np.sum(out * weights))

    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    out = []
    for i in range(len(xs)) if wrt is None else wrt:
        g = np.zeros_like(xs[i])
        for idx in np.ndindex(xs[i].shape):
            plus = [x.copy() for x in xs]
            minus = [x.copy() for x in xs]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (objective(plus) - objective(minus)) / (2 * eps)
        out.append(g)
    return out


def check_grads(
    f: Callable[..., tw.Tensor],
    *xs: np.ndarray,
    eps: float = 1e-2,
    rtol: float = 2e-2,
    atol: float = 2e-3,
    seed: int = 0,
    wrt: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Compare ``tw.grads`` of sum(f * w) (w random) with central differences."""
    ts = [np.asarray(x, dtype=np.float32) for x in xs]
    probe = f(*[tw.tensor(x) for x in ts])
    w = np.random.default_rng(seed).uniform(0.5, 1.5, size=probe.shape)
    wt = tw.tensor(w.astype(np.float32))
    idx = list(range(len(ts))) if wrt is None else list(wrt)

    def objective(*args):
        full = [tw.tensor(x) for x in ts]
        for j, a in zip(idx, args, strict=True):
            full[j] = a
        return tw.sum(tw.mul(f(*full), wt))

    analytic = tw.grads(objective)(*[tw.tensor(ts[j]) for j in idx])
    numeric = numeric_grads(f, ts, w.astype(np.float32).astype(np.float64), eps, idx)
    for j, a, n in zip(idx, analytic, numeric, strict=True):
        assert a.shape == ts[j].shape, f"grad {j}: shape {a.shape} != input shape {ts[j].shape}"
        np.testing.assert_allclose(
            a.numpy().astype(np.float64), n, rtol=rtol, atol=atol, err_msg=f"gradient of input {j}"
        )
    return [a.numpy() for a in analytic]
