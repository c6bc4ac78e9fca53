"""Reductions, arg-reductions, cumsum and the reduction composites against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from _oracle import check, f32
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine as tw

REDUCE = {"sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min}
AXES = [None, 0, 1, -1, -3, (0, 2), (2, -3), (0, 1, 2), ()]


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("op", sorted(REDUCE))
def test_reduce_float32_axes(backend, op, axis):
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(2, 3, 4)).astype(np.float32)
    for keepdims in (False, True):
        out = getattr(tw, op)(tw.tensor(x), axis=axis, keepdims=keepdims)
        check(out, REDUCE[op](f32(x), axis=axis, keepdims=keepdims), "float32", rtol=1e-5)


@pytest.mark.parametrize("op", ["sum", "prod", "max", "min"])
def test_reduce_int32_stays_int32(backend, op):
    x = np.array([[3, -1, 2], [4, 5, -6]], dtype=np.int32)
    for axis in (None, 0, -1):
        check(getattr(tw, op)(tw.tensor(x), axis=axis), REDUCE[op](x, axis=axis), "int32")


def test_mean_of_int_is_float32(backend):
    x = np.array([[1, 2], [4, 4]], dtype=np.int32)
    check(tw.mean(tw.tensor(x), 1), np.array([1.5, 4.0]), "float32")


def test_sum_of_bool_counts(backend):
    x = np.array([[True, False, True], [True, True, True]])
    check(tw.sum(tw.tensor(x)), np.int32(5), "int32")
    check(tw.sum(tw.tensor(x), 1), np.array([2, 3]), "int32")


@pytest.mark.parametrize("op", ["any", "all"])
def test_any_all(backend, op):
    fn = np.any if op == "any" else np.all
    x = np.array([[True, False, True], [False, False, False]])
    for axis in (None, 0, 1, (0, 1), -1):
        for keepdims in (False, True):
            out = getattr(tw, op)(tw.tensor(x), axis, keepdims)
            check(out, fn(x, axis=axis, keepdims=keepdims), "bool")
    check(getattr(tw, op)(tw.tensor([0.0, 2.0])), fn(np.array([0.0, 2.0])), "bool")


def test_reduce_scalar_input(backend):
    x = tw.scalar(2.5)
    for op in ("sum", "mean", "max", "min", "prod"):
        check(getattr(tw, op)(x), np.float64(2.5), "float32")


def test_reduce_size_zero(backend):
    x = np.zeros((2, 0, 3), np.float32)
    check(tw.sum(tw.tensor(x)), np.float64(0), "float32")
    check(tw.sum(tw.tensor(x), 1), np.zeros((2, 3)), "float32")
    check(tw.sum(tw.tensor(x), 2, keepdims=True), np.zeros((2, 0, 1)), "float32")
    check(tw.prod(tw.tensor(x), 1), np.ones((2, 3)), "float32")
    check(tw.max(tw.tensor(x), 2), np.zeros((2, 0)), "float32")
    check(tw.any(tw.tensor(x.astype(bool)), 1), np.zeros((2, 3), bool), "bool")
    check(tw.all(tw.tensor(x.astype(bool)), 1), np.ones((2, 3), bool), "bool")
    with pytest.raises(ValueError, match=r"max.*empty.*\(2, 0, 3\)"):
        tw.max(tw.tensor(x), 1)
    with np.errstate(all="ignore"):
        assert np.isnan(tw.mean(tw.tensor(x)).item())


def test_reduce_size_one_dims(backend):
    x = np.arange(6, dtype=np.float32).reshape(1, 6, 1)
    check(tw.sum(tw.tensor(x), (0, 2)), x.sum((0, 2)), "float32")
    check(tw.max(tw.tensor(x), 0, keepdims=True), x.max(0, keepdims=True), "float32")


def test_reduce_bad_axis_names_op(backend):
    with pytest.raises(ValueError, match="sum: axis 3 is out of range"):
        tw.sum(tw.ones((2, 2)), 3)
    with pytest.raises(ValueError, match="axis -3"):
        tw.mean(tw.ones((2, 2)), -3)


def test_reduce_max_min_with_inf_and_nan(backend):
    x = np.array([[-np.inf, 1.0, 2.0], [np.nan, 0.0, 1.0]], dtype=np.float32)
    check(tw.max(tw.tensor(x), 1), np.max(x, 1), "float32")
    check(tw.min(tw.tensor(x), 1), np.min(x, 1), "float32")


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reduce(backend, op):
    fn = np.argmax if op == "argmax" else np.argmin
    x = np.random.default_rng(1).normal(size=(3, 4, 5)).astype(np.float32)
    for axis in (0, 1, 2, -1):
        check(getattr(tw, op)(tw.tensor(x), axis), fn(x, axis=axis).astype(np.int32), "int32")
    check(getattr(tw, op)(tw.tensor(x)), np.int32(fn(x)), "int32")
    xi = np.array([[1, 5, 5], [7, 7, 0]], np.int32)  # ties: the first index
    check(getattr(tw, op)(tw.tensor(xi), 1), fn(xi, axis=1).astype(np.int32), "int32")
    check(getattr(tw, op)(tw.tensor([True, False, True])), fn([True, False, True]), "int32")


def test_arg_reduce_ties_first_index(backend):
    x = np.array([[2.0, 2.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    check(tw.argmax(tw.tensor(x), 1), np.array([0, 0]), "int32")
    check(tw.argmin(tw.tensor(x), 1), np.array([2, 0]), "int32")


def test_arg_reduce_errors(backend):
    with pytest.raises(ValueError, match="argmax"):
        tw.argmax(tw.zeros((2, 0)), 1)
    with pytest.raises(ValueError, match="argmin"):
        tw.argmin(tw.scalar(1.0), 0)


def _np_cumsum(x, axis, exclusive, reverse):
    if reverse:
        x = np.flip(x, axis)
    out = np.cumsum(x, axis=axis)
    if exclusive:
        out = out - x
    return np.flip(out, axis) if reverse else out


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum(backend, exclusive, reverse):
    x = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    for axis in (0, 1, -1):
        out = tw.cumsum(tw.tensor(x), axis, exclusive, reverse)
        check(out, _np_cumsum(f32(x), axis, exclusive, reverse), "float32", atol=1e-5)
    xi = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    out = tw.cumsum(tw.tensor(xi), 1, exclusive, reverse)
    check(out, _np_cumsum(xi, 1, exclusive, reverse).astype(np.int32), "int32")


def test_cumsum_edge_shapes(backend):
    check(tw.cumsum(tw.tensor(np.zeros((0, 3), np.float32)), 0), np.zeros((0, 3)), "float32")
    check(tw.cumsum(tw.tensor([True, True, False])), np.array([1, 2, 2]), "int32")


def test_logsumexp(backend):
    x = np.random.default_rng(3).normal(size=(2, 3, 4)).astype(np.float32)
    x64 = f32(x)
    for axis in (None, 1, -1, (0, 2)):
        for keepdims in (False, True):
            m = np.max(x64, axis=axis, keepdims=True)
            ref = np.log(np.sum(np.exp(x64 - m), axis=axis, keepdims=True)) + m
            if not keepdims:
                ref = np.squeeze(ref, axis=axis) if axis is not None else ref.reshape(())
            check(tw.logsumexp(tw.tensor(x), axis, keepdims), ref, "float32", rtol=1e-5)


def test_logsumexp_is_stable(backend):
    x = np.array([[1000.0, 1000.0], [-1000.0, -1001.0]], np.float32)
    ref = np.array([1000 + np.log(2), -1000 + np.log1p(np.exp(-1.0))])
    check(tw.logsumexp(tw.tensor(x), 1), ref, "float32", rtol=1e-6)
    inf = np.array([[-np.inf, -np.inf], [-np.inf, 0.0], [np.inf, 1.0]], np.float32)
    check(tw.logsumexp(tw.tensor(inf), 1), np.array([-np.inf, 0.0, np.inf]), "float32")


def test_moments(backend):
    x = np.random.default_rng(4).normal(size=(4, 3, 2)).astype(np.float32)
    for axis in (None, 0, (0, 1), -1):
        for keepdims in (False, True):
            m, v = tw.moments(tw.tensor(x), axis, keepdims)
            check(m, np.mean(f32(x), axis=axis, keepdims=keepdims), "float32", atol=1e-6)
            check(v, np.var(f32(x), axis=axis, keepdims=keepdims), "float32", atol=1e-6)


@pytest.mark.parametrize("ord_", ["euclidean", 2, 1, np.inf, -np.inf, 3])
def test_norm(backend, ord_):
    x = np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32)
    x64 = f32(x)
    for axis in (None, 0, -1):
        if ord_ in ("euclidean", 2):
            ref = np.sqrt(np.sum(x64**2, axis=axis))
        elif ord_ == np.inf:
            ref = np.max(np.abs(x64), axis=axis)
        elif ord_ == -np.inf:
            ref = np.min(np.abs(x64), axis=axis)
        else:
            ref = np.sum(np.abs(x64) ** ord_, axis=axis) ** (1 / ord_)
        check(tw.norm(tw.tensor(x), ord_, axis), ref, "float32", rtol=1e-5)
    with pytest.raises(ValueError, match="norm: unsupported ord"):
        tw.norm(tw.tensor(x), -2)


def test_tensor_method_forms(backend):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tw.tensor(x)
    check(t.sum(1), x.sum(1), "float32")
    check(t.mean(0, keepdims=True), x.mean(0, keepdims=True), "float32")
    check(t.max(), x.max(), "float32")
    check(t.min(-1), x.min(-1), "float32")
    check(t.argmax(1), x.argmax(1), "int32")


# --- properties ----------------------------------------------------------------------------
@st.composite
def _array_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    x = draw(hnp.arrays(np.float32, shape, elements=st.floats(-10, 10, width=32)))
    rank = len(shape)
    if rank == 0:
        axis = None
    else:
        axis = draw(
            st.one_of(
                st.none(),
                st.integers(-rank, rank - 1),
                st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True).map(
                    tuple
                ),
            )
        )
    return x, axis


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(xa=_array_and_axis(), op=st.sampled_from(["sum", "max", "min", "mean"]), keep=st.booleans())
def test_property_reductions(backend, xa, op, keep):
    x, axis = xa
    axes = range(x.ndim) if axis is None else np.atleast_1d(axis)
    empty = any(x.shape[a] == 0 for a in axes)
    if op in ("max", "min") and empty:
        with pytest.raises(ValueError):
            getattr(tw, op)(tw.tensor(x), axis, keep)
        return
    if op == "mean" and empty:
        return  # nan, checked in test_reduce_size_zero
    out = getattr(tw, op)(tw.tensor(x), axis, keep)
    check(out, REDUCE[op](f32(x), axis=axis, keepdims=keep), "float32", rtol=1e-5, atol=1e-4)
