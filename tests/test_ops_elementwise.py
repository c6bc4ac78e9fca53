"""Elementwise ops (unary, binary, comparisons, logic, where) against numpy on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from _oracle import check, f32
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine as tw
from engine import optable

_FLOAT_OPS = [n for n, op in optable.OPS.items() if "f" in op.kinds]
_INT_OPS = [n for n, op in optable.OPS.items() if "i" in op.kinds]
_BOOL_OPS = [n for n, op in optable.OPS.items() if "b" in op.kinds]
_SHAPES = {1: [(3, 5)], 2: [(3, 5), (5,)]}


def _fn(name):
    """The public function of an op-table entry (``tw.<name>``); for an entry whose public
    function is hand-written (``public=False``: ``div``, ``bitwise_and``, whose TF.js wrapper
    refuses broadcasting), the primitive itself through ``core.unary``/``core.binary``."""
    op = optable.OPS[name]
    if op.public:
        return getattr(tw, name)
    from engine.ops.core import binary, unary

    if op.arity == 1:
        return lambda x: unary(name, x)
    return lambda a, b: binary(name, a, b)


def _ref(op, *xs):
    with np.errstate(all="ignore"):
        return op.numpy(*xs)


# --- the op table's conformance suite: every entry, every dtype kind, against its numpy
# reference (engine/optable.py), on every backend ---------------------------------------------
@pytest.mark.parametrize("name", _FLOAT_OPS)
def test_float32_matches_reference(backend, name):
    op = optable.OPS[name]
    g = np.random.default_rng(1)
    xs = [
        span.sample(g, shape)
        for span, shape in zip(op.test_domain(), _SHAPES[op.arity], strict=True)
    ]
    got = _fn(name)(*[tw.tensor(x) for x in xs])
    want = _ref(op, *[f32(x) for x in xs])  # computed in float64 from the float32 inputs
    if op.bool_result:
        check(got, want, "bool")
    else:
        check(got, want, "float32", rtol=2e-5, atol=1e-6)


def _ints(arity):
    a = np.array([[-7, -3, -1, 0, 1, 2, 5, 9]], np.int32)
    b = np.array([[3], [-2], [1], [0]], np.int32)  # divisor 0 included: x/0 and x%0 give 0
    return (a,) if arity == 1 else (a, b)


@pytest.mark.parametrize("name", _INT_OPS)
def test_int32_matches_reference(backend, name):
    op = optable.OPS[name]
    xs = _ints(op.arity)
    got = _fn(name)(*[tw.tensor(x, dtype="int32") for x in xs])
    check(got, _ref(op, *xs), op.out_dtype("int32"), atol=0)


@pytest.mark.parametrize("name", _BOOL_OPS)
def test_bool_matches_reference(backend, name):
    op = optable.OPS[name]
    xs = (np.array([[True], [False]]), np.array([True, False, True]))[: op.arity]
    got = _fn(name)(*[tw.tensor(x) for x in xs])
    check(got, _ref(op, *xs), op.out_dtype("bool"))


@pytest.mark.parametrize("op", ["exp", "neg", "sqrt", "abs"])
@pytest.mark.parametrize("shape", [(), (0,), (1,), (2, 0, 3), (1, 1, 1)])
def test_unary_edge_shapes(backend, op, shape):
    entry = optable.OPS[op]
    x = entry.test_domain()[0].sample(np.random.default_rng(2), shape)
    check(_fn(op)(tw.tensor(x)), _ref(entry, f32(x)), "float32")


@pytest.mark.parametrize("op", sorted(n for n, o in optable.UNARY.items() if not o.bool_result))
def test_unary_int32_stays_int_or_computes_in_float32(backend, op):
    x = np.array([[-3, -1, 0], [1, 2, 7]], dtype=np.int32)
    entry = optable.OPS[op]
    if "i" in entry.kinds:  # an int32 kernel: int32 in, int32 out
        check(_fn(op)(tw.tensor(x)), _ref(entry, x).astype(np.int32), "int32")
    else:  # transcendental ops on ints compute in float32, as TF.js
        x = (
            np.abs(x) + 1
            if op in ("acosh",)
            else np.clip(x, -0.5, 0.5)
            if op in ("asin", "acos", "atanh")
            else x
        )
        check(_fn(op)(tw.tensor(x)), _ref(entry, x.astype(np.float64)), "float32", rtol=1e-5)


def test_unary_bool_input(backend):
    b = np.array([True, False, True])
    check(tw.neg(tw.tensor(b)), -b.astype(np.int32), "int32")
    check(tw.exp(tw.tensor(b)), np.exp(b.astype(np.float64)), "float32")


def test_round_half_to_even(backend):
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6], dtype=np.float32)
    check(tw.round(tw.tensor(x)), np.array([-2, -2, -0, 0, 2, 2, 0, -1.0]), "float32", atol=0)


def test_stable_at_extremes(backend):
    x = tw.tensor([-100.0, -30.0, 0.0, 30.0, 100.0])
    check(tw.sigmoid(x), 1 / (1 + np.exp(-f32(x.numpy()))), "float32", rtol=1e-5, atol=1e-30)
    check(tw.softplus(x), np.logaddexp(f32(x.numpy()), 0), "float32")


def test_predicates(backend):
    x = np.array([1.0, np.nan, np.inf, -np.inf, 0.0], dtype=np.float32)
    check(tw.is_nan(tw.tensor(x)), np.isnan(x), "bool")
    check(tw.is_finite(tw.tensor(x)), np.isfinite(x), "bool")
    check(tw.is_nan(tw.tensor([1, 2])), np.array([False, False]), "bool")


def test_special_values_propagate(backend):
    x = np.array([np.nan, np.inf, -np.inf, -1.0, 0.0], dtype=np.float32)
    with np.errstate(all="ignore"):
        check(tw.exp(tw.tensor(x)), np.exp(x.astype(np.float64)), "float32")
        check(tw.log(tw.tensor(x)), np.log(x.astype(np.float64)), "float32")
        check(tw.sqrt(tw.tensor(x)), np.sqrt(x.astype(np.float64)), "float32")


# --- binary ---------------------------------------------------------------------------------
BINARY = {
    **{n: op.numpy for n, op in optable.BINARY.items() if op.family == "arith"},
    "squared_difference": lambda a, b: (a - b) ** 2,
}

SHAPE_PAIRS = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((4, 1, 3), (2, 1)),
    ((), (2, 2)),
    ((1,), (0,)),
    ((2, 1), (1, 0)),
]


def _binary_inputs(op, sa, sb, seed=3):
    g = np.random.default_rng(seed)
    entry = optable.OPS.get(op)
    spans = entry.test_domain() if entry else (optable.Span(-3, 3),) * 2
    return spans[0].sample(g, sa), spans[1].sample(g, sb)


@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
def test_binary_broadcasting(backend, op, sa, sb):
    a, b = _binary_inputs(op, sa, sb)
    check(getattr(tw, op)(tw.tensor(a), tw.tensor(b)), BINARY[op](f32(a), f32(b)), "float32")
    # and the other way round
    check(getattr(tw, op)(tw.tensor(b), tw.tensor(a)), BINARY[op](f32(b), f32(a)), "float32")


def test_binary_incompatible_shapes_name_op_and_shapes(backend):
    with pytest.raises(ValueError, match=r"mul.*\(2, 3\).*\(4,\)"):
        tw.mul(tw.ones((2, 3)), tw.ones((4,)))


def test_pow_int32(backend):
    a = np.array([-2, 0, 3, 5], dtype=np.int32)
    b = np.array([3, 2, 0, 2], dtype=np.int32)
    check(tw.pow(tw.tensor(a), tw.tensor(b)), np.power(a, b), "int32")


def test_float_mod_and_floor_div_follow_sign_of_divisor(backend):
    a = np.array([-7.5, 7.5, -7.5, 7.5], dtype=np.float32)
    b = np.array([2.0, -2.0, -2.0, 2.0], dtype=np.float32)
    check(tw.mod(tw.tensor(a), tw.tensor(b)), np.mod(a, b), "float32")
    check(tw.floor_div(tw.tensor(a), tw.tensor(b)), np.floor_divide(a, b), "float32")


def test_real_div_of_ints_is_float(backend):
    check(tw.real_div(tw.tensor([7, -7]), tw.tensor([2, 2])), np.array([3.5, -3.5]), "float32")


def test_bool_arithmetic_promotes_to_int32(backend):
    a = np.array([True, False, True])
    check(tw.add(tw.tensor(a), tw.tensor(a)), a.astype(np.int32) * 2, "int32")


@pytest.mark.parametrize(
    "left,right,expected_dtype",
    [
        ("int32", 2, "int32"),
        ("float32", 2, "float32"),
        ("int32", 2.5, "float32"),
        ("float32", 2.5, "float32"),
        ("int32", "float32", "float32"),
        ("bool", "int32", "int32"),
    ],
)
def test_dtype_promotion(backend, left, right, expected_dtype):
    av = np.array([0, 2, 3]).astype(np.bool_ if left == "bool" else left)
    a = tw.tensor(av)
    b = right if not isinstance(right, str) else tw.tensor(np.array([1, 0, 2]), dtype=right)
    rhs = right if not isinstance(right, str) else np.array([1, 0, 2])
    expected = av.astype(np.float64) + np.asarray(rhs, dtype=np.float64)
    check(tw.add(a, b), expected.astype(np.dtype(expected_dtype)), expected_dtype)


# --- comparisons and logic ---------------------------------------------------------------------
COMPARE = {n: op.numpy for n, op in optable.BINARY.items() if op.family == "compare"}


@pytest.mark.parametrize("op", sorted(COMPARE))
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_comparisons(backend, op, dtype):
    a = np.array([[1, 2, 3], [3, 2, 1]]).astype(dtype)
    b = np.array([2, 2, 2]).astype(dtype)
    check(getattr(tw, op)(tw.tensor(a), tw.tensor(b)), COMPARE[op](a, b), "bool")
    check(getattr(tw, op)(tw.tensor(a), 2), COMPARE[op](a, 2), "bool")


def test_equal_on_bool(backend):
    a, b = np.array([True, False, True]), np.array([True, True, False])
    check(tw.equal(tw.tensor(a), tw.tensor(b)), a == b, "bool")
    check(tw.not_equal(tw.tensor(a), tw.tensor(b)), a != b, "bool")


def test_comparisons_with_nan(backend):
    a = tw.tensor([np.nan, 1.0])
    check(tw.equal(a, a), np.array([False, True]), "bool")
    check(tw.not_equal(a, a), np.array([True, False]), "bool")
    check(tw.less(a, 2.0), np.array([False, True]), "bool")


def test_logical_ops_cast_numbers_to_bool(backend):
    check(tw.logical_and(tw.tensor([0, 2, 3]), tw.tensor([1, 1, 0])), [False, True, False], "bool")
    check(tw.logical_not(tw.tensor([0.0, 2.5])), [True, False], "bool")


@pytest.mark.parametrize(
    "sc,sa,sb", [((2, 3), (2, 3), (2, 3)), ((3,), (2, 3), ()), ((2, 1), (1, 3), (2, 3))]
)
def test_where_broadcasts(backend, sc, sa, sb):
    g = np.random.default_rng(4)
    c = g.uniform(size=sc) > 0.5
    a = g.normal(size=sa).astype(np.float32)
    b = g.normal(size=sb).astype(np.float32)
    check(tw.where(tw.tensor(c), tw.tensor(a), tw.tensor(b)), np.where(c, a, b), "float32")


def test_where_int_and_numeric_condition(backend):
    c = np.array([0, 1, 2])
    a, b = np.array([1, 2, 3], np.int32), np.array([7, 8, 9], np.int32)
    check(tw.where(tw.tensor(c), tw.tensor(a), tw.tensor(b)), np.where(c, a, b), "int32")


def test_clip_by_value(backend):
    x = np.linspace(-3, 3, 13).astype(np.float32)
    check(tw.clip_by_value(tw.tensor(x), -1, 2), np.clip(x, -1, 2), "float32")
    check(
        tw.clip_by_value(tw.tensor([-5, 0, 5], dtype="int32"), -1, 2), np.array([-1, 0, 2]), "int32"
    )
    with pytest.raises(ValueError, match="clip_min"):
        tw.clip_by_value(tw.tensor(x), 2, -1)


# --- properties ----------------------------------------------------------------------------
_finite = st.floats(-100, 100, width=32, allow_nan=False)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(["add", "sub", "mul", "maximum", "minimum", "squared_difference"]),
    data=st.data(),
)
def test_property_broadcasting_binary(backend, shapes, op, data):
    sa, sb = shapes.input_shapes
    a = data.draw(hnp.arrays(np.float32, sa, elements=_finite))
    b = data.draw(hnp.arrays(np.float32, sb, elements=_finite))
    out = getattr(tw, op)(tw.tensor(a), tw.tensor(b))
    assert out.shape == shapes.result_shape
    check(out, BINARY[op](f32(a), f32(b)), "float32", rtol=1e-5, atol=1e-4)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(sorted(COMPARE)),
    data=st.data(),
)
def test_property_broadcasting_compare_int(backend, shapes, op, data):
    sa, sb = shapes.input_shapes
    a = data.draw(hnp.arrays(np.int32, sa, elements=st.integers(-3, 3)))
    b = data.draw(hnp.arrays(np.int32, sb, elements=st.integers(-3, 3)))
    check(getattr(tw, op)(tw.tensor(a), tw.tensor(b)), COMPARE[op](a, b), "bool")
