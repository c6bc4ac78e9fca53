"""The cpu kernels' short-row paths (``kernels.SHORT_ROW``): softmax, categorical cross-entropy
and its gradient over rows of a few elements (a classifier's classes) run as flat loops over
the whole block of rows. They must compute what the row loops do: the same formulas, NaN
propagation, clipping, and only the rows asked for."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu import kernels as K

EPS = np.float32(1e-7)
ONE_M_EPS = np.float32(1 - 1e-7)
ZERO = np.float32(0)


def _softmax64(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=1, keepdims=True)


def _probs(rng: np.random.Generator, p: int, r: int) -> np.ndarray:
    x = rng.random((p, r)).astype(np.float32) + np.float32(0.01)
    return (x / x.sum(axis=1, keepdims=True) * np.float32(1.5)).astype(np.float32)  # unnormalised


@pytest.mark.parametrize("r", [1, 2, 10, K.SHORT_ROW - 1])
@pytest.mark.parametrize("rows", [(0, 7), (3, 7)])
def test_softmax_short_rows(r: int, rows: tuple[int, int]) -> None:
    rng = np.random.default_rng(r)
    x = (rng.standard_normal((7, r)) * 4).astype(np.float32)
    if r > 1:
        x[5, 0] = -np.inf  # exp(-inf - max) = 0 (a row of one -inf is NaN, as numpy's)
    out = np.full(x.size, 7.0, np.float32)
    p0, p1 = rows
    K.softmax(x.ravel(), out, r, 1, False, ZERO, p0, p1)
    got = out.reshape(7, r)
    np.testing.assert_allclose(
        got[p0:], _softmax64(x[p0:].astype(np.float64)), rtol=2e-6, atol=1e-7
    )
    assert np.all(got[:p0] == 7.0)  # rows outside [p0, p1) untouched


def test_softmax_short_rows_propagate_nan() -> None:
    x = np.array([[1, np.nan, 2], [1, 2, 3], [np.inf, 0, 1]], np.float32)
    out = np.empty(x.size, np.float32)
    K.softmax(x.ravel(), out, 3, 1, False, ZERO, 0, 3)
    got = out.reshape(3, 3)
    assert np.all(np.isnan(got[0]))  # a NaN in the row: every output NaN (max is NaN)
    np.testing.assert_allclose(got[1], _softmax64(x[1:2].astype(np.float64))[0], rtol=2e-6)
    with np.errstate(invalid="ignore"):
        ref = _softmax64(x[2:3].astype(np.float64))[0]
    np.testing.assert_array_equal(np.isnan(got[2]), np.isnan(ref))


@pytest.mark.parametrize("r", [2, 10, K.SHORT_ROW - 1])
def test_cce_and_grad_short_rows(r: int) -> None:
    rng = np.random.default_rng(10 + r)
    p = 9
    x = _probs(rng, p, r)
    x[4, 0] = 0.0  # clipped to eps: zero gradient there
    t = np.zeros((p, r), np.float32)
    t[np.arange(p), rng.integers(0, r, p)] = 1
    t[4, 0] = 1
    dy = rng.standard_normal(p).astype(np.float32)
    loss = np.full(p, 7.0, np.float32)
    grad = np.full(p * r, 7.0, np.float32)
    K.cce(t.ravel(), x.ravel(), loss, r, False, EPS, ONE_M_EPS, ZERO, 2, p)
    K.cce_grad(dy, t.ravel(), x.ravel(), grad, r, False, EPS, ONE_M_EPS, ZERO, 2, p)
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    s = x64.sum(axis=1, keepdims=True)
    q = x64 / s
    c = np.clip(q, float(EPS), float(ONE_M_EPS))
    np.testing.assert_allclose(loss[2:], -(t64 * np.log(c)).sum(axis=1)[2:], rtol=1e-5)
    assert np.all(loss[:2] == 7.0)
    inside = (q >= float(EPS)) & (q <= float(ONE_M_EPS))
    g = np.where(inside, -t64 / np.where(q == 0, 1, q), 0.0)
    dot = (g * q).sum(axis=1, keepdims=True)
    ref = (g - dot) / s * dy[:, None].astype(np.float64)
    got = grad.reshape(p, r)
    np.testing.assert_allclose(got[2:], ref[2:], rtol=1e-5, atol=1e-6)
    assert np.all(got[:2] == 7.0)
    assert got[4, 0] == pytest.approx(ref[4, 0])  # the clipped entry: only the dot term


def test_cce_short_rows_nan_row() -> None:
    x = np.array([[0.5, np.nan], [0.25, 0.75]], np.float32)
    t = np.array([[1, 0], [0, 1]], np.float32)
    loss = np.empty(2, np.float32)
    grad = np.empty(4, np.float32)
    K.cce(t.ravel(), x.ravel(), loss, 2, False, EPS, ONE_M_EPS, ZERO, 0, 2)
    K.cce_grad(
        np.ones(2, np.float32), t.ravel(), x.ravel(), grad, 2, False, EPS, ONE_M_EPS, ZERO, 0, 2
    )
    assert np.isnan(loss[0]) and np.isfinite(loss[1])
    assert np.all(np.isnan(grad[:2])) and np.all(np.isfinite(grad[2:]))
