"""The composite elementwise ops (engine/ops/trig.py, engine/ops/elementwise_extra.py) on every
backend against numpy (float64 oracles on float32 inputs), NaN/Inf/domain edges included, and
their gradients by central differences."""

from __future__ import annotations

import numpy as np
import pytest
from _oracle import check, check_grads, f32

import engine as tw

NAN, INF = np.nan, np.inf

#: name -> (numpy oracle, inputs: inside the domain, its edges, outside it, NaN and +-inf)
TRIG = {
    "asin": (np.arcsin, [-1.5, -1.0, -0.99999, -0.5, -1e-6, 0.0, 1e-6, 0.7, 0.99999, 1.0, 2.0]),
    "acos": (np.arccos, [-1.5, -1.0, -0.99999, -0.5, -1e-6, 0.0, 1e-6, 0.7, 0.99999, 1.0, 2.0]),
    "atan": (np.arctan, [-1e30, -50.0, -1.0, -1e-6, 0.0, 1e-7, 0.5, 3.0, 1e30]),
    "sinh": (
        np.sinh,
        [-89.0, -30.0, -1.5, -1.0, -1e-6, 0.0, 1e-7, 0.3, 1.0, 1.01, 20.0, 88.9, 100.0],
    ),
    "cosh": (np.cosh, [-89.0, -30.0, -1.0, -1e-6, 0.0, 1e-7, 0.3, 1.0, 20.0, 88.9, 100.0]),
    "asinh": (
        np.arcsinh,
        [-3e38, -1e20, -1e4, -9e3, -2.0, -1e-6, 0.0, 1e-7, 0.5, 3.0, 1.01e4, 1e25],
    ),
    "acosh": (
        np.arccosh,
        [-2.0, 0.0, 0.5, 0.99999, 1.0, 1.00001, 1.5, 3.0, 9e3, 1.1e4, 1e25, 3e38],
    ),
    "atanh": (np.arctanh, [-2.0, -1.0, -0.99999, -0.5, -1e-6, 0.0, 1e-7, 0.3, 0.99999, 1.0, 1.5]),
}


@pytest.mark.parametrize("name", sorted(TRIG))
def test_trig_matches_numpy(backend, name):
    oracle, values = TRIG[name]
    x = np.array(values + [NAN, INF, -INF], np.float32)
    with np.errstate(all="ignore"):
        expected = oracle(f32(x)).astype(np.float32)  # past float32's range: inf, as numpy's
    check(getattr(tw, name)(tw.tensor(x)), expected, "float32")


def test_trig_random_values_and_int_inputs(backend):
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, 64).astype(np.float32)
    w = rng.uniform(-10, 10, 64).astype(np.float32)
    for name, vals in [("asin", u), ("acos", u), ("atanh", u * 0.999), ("atan", w),
                       ("sinh", w), ("cosh", w), ("asinh", w), ("acosh", np.abs(w) + 1)]:  # fmt: skip
        check(getattr(tw, name)(tw.tensor(vals)), TRIG[name][0](f32(vals)), "float32")
    ints = np.array([-1, 0, 1, 2], np.int32)
    with np.errstate(all="ignore"):
        check(
            tw.asin(tw.tensor(ints, dtype="int32")), np.arcsin(ints.astype(np.float64)), "float32"
        )
        check(
            tw.acosh(tw.tensor(ints, dtype="int32")), np.arccosh(ints.astype(np.float64)), "float32"
        )


@pytest.mark.parametrize(
    "name,values",
    [
        ("asin", [-0.9, -0.3, 0.0, 0.4, 0.8]),
        ("acos", [-0.9, -0.3, 0.0, 0.4, 0.8]),
        ("atan", [-3.0, -0.3, 0.0, 0.4, 2.0]),
        ("sinh", [-2.5, -1.0, 0.0, 0.9, 1.2, 3.0]),
        ("cosh", [-2.5, -1.0, 0.0, 0.9, 1.2, 3.0]),
        ("asinh", [-40.0, -2.0, 0.0, 0.5, 3.0]),
        ("acosh", [1.2, 1.5, 3.0, 10.0]),
        ("atanh", [-0.8, -0.3, 0.0, 0.4, 0.7]),
    ],
)
def test_trig_gradients(backend, name, values):
    check_grads(getattr(tw, name), np.array(values, np.float32), eps=1e-3)


def test_trig_gradient_at_zero_and_no_nan_from_the_branch_not_taken(backend):
    # d/dx at 0: asinh, atanh, atan, asin and sinh have slope 1 (an abs-based form would give 0)
    for name in ("asinh", "atanh", "atan", "asin", "sinh"):
        (g,) = tw.grads(lambda t, name=name: tw.sum(getattr(tw, name)(t)))(tw.tensor([0.0]))
        check(g, [1.0], rtol=1e-5, atol=1e-6)
    # huge inputs: the gradient is finite (the small-|x| branch never sees them)
    big = tw.tensor(np.array([-1e30, 1e30], np.float32))
    for name, expected in [("asinh", 1 / np.abs(f32([-1e30, 1e30]))), ("atan", [0.0, 0.0])]:
        (g,) = tw.grads(lambda t, name=name: tw.sum(getattr(tw, name)(t)))(big)
        check(g, expected, rtol=1e-4, atol=1e-30)
    (g,) = tw.grads(lambda t: tw.sum(tw.acosh(t)))(tw.tensor(np.array([1e30], np.float32)))
    check(g, [1e-30], rtol=1e-4, atol=1e-36)


def test_is_inf(backend):
    x = np.array([0.0, -1.5, INF, -INF, NAN, 3e38], np.float32)
    check(tw.is_inf(tw.tensor(x)), np.isinf(x), "bool")
    check(
        tw.is_inf(tw.tensor(np.array([[1, -5]], np.int32), dtype="int32")), [[False, False]], "bool"
    )
    check(tw.is_inf(tw.tensor([True, False])), [False, False], "bool")


def test_div_no_nan(backend):
    a = np.array([[1.0, -2.0, 0.0, NAN, INF, 3.0]], np.float32)
    b = np.array([[2.0, 0.0, 0.0, 0.0, 0.0, -4.0]], np.float32)
    with np.errstate(all="ignore"):
        expected = np.where(b == 0, 0.0, f32(a) / f32(b))
    check(tw.div_no_nan(tw.tensor(a), tw.tensor(b)), expected, "float32")
    # broadcasting, and a Python-number denominator
    col = np.array([[1.0], [0.0]], np.float32)
    check(tw.div_no_nan(tw.tensor(a[:, :3]), tw.tensor(col)), [[1.0, -2.0, 0.0], [0.0, 0.0, 0.0]])
    check(tw.div_no_nan(tw.tensor([1.0, 2.0]), 0), [0.0, 0.0], "float32")
    with pytest.raises(ValueError, match="broadcast"):
        tw.div_no_nan(tw.tensor([1.0, 2.0]), tw.tensor([1.0, 2.0, 3.0]))


def test_div_no_nan_gradient(backend):
    a = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    b = np.array([2.0, 0.0, -1.5, 0.0], np.float32)
    ga, gb = tw.grads(lambda x, y: tw.sum(tw.div_no_nan(x, y)))(tw.tensor(a), tw.tensor(b))
    nz = b != 0
    check(ga, np.where(nz, 1 / np.where(nz, f32(b), 1), 0.0), "float32")
    check(gb, np.where(nz, -f32(a) / np.where(nz, f32(b), 1) ** 2, 0.0), "float32")
    check_grads(tw.div_no_nan, a, np.array([2.0, 1.0, -1.5, 0.7], np.float32), eps=1e-3)


def test_log_sigmoid(backend):
    x = np.array([-200.0, -30.0, -1.0, 0.0, 1e-6, 2.0, 30.0, 200.0, NAN, INF, -INF], np.float32)
    with np.errstate(invalid="ignore"):
        expected = -np.logaddexp(0.0, -f32(x))
    check(tw.log_sigmoid(tw.tensor(x)), expected, "float32")
    check(tw.log_sigmoid(tw.tensor(np.array([0, 1], np.int32), dtype="int32")),
          -np.logaddexp(0.0, -np.array([0.0, 1.0])), "float32")  # fmt: skip
    check_grads(tw.log_sigmoid, np.array([-4.0, -0.5, 0.0, 1.0, 5.0], np.float32), eps=1e-3)


def test_step(backend):
    x = np.array([-INF, -2.0, -0.0, 0.0, 1e-30, 3.0, INF, NAN], np.float32)
    for alpha in (0.0, 0.5, -2.0):
        expected = np.where(np.isnan(x), np.nan, np.where(x > 0, 1.0, alpha))
        check(tw.step(tw.tensor(x), alpha), expected, "float32")
    check(tw.step(tw.tensor(np.array([-1, 0, 2], np.int32), dtype="int32"), 0.25),
          [0.25, 0.25, 1.0], "float32")  # fmt: skip
    (g,) = tw.grads(lambda t: tw.sum(tw.step(t, 0.3)))(tw.tensor([-1.0, 0.0, 2.0]))
    check(g, [0.0, 0.0, 0.0], "float32")
    with pytest.raises(TypeError, match="alpha must be a real number, got 'a'"):
        tw.step(tw.tensor([1.0]), "a")
