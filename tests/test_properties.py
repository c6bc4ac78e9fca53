"""Property-based tests: every public op of ``engine`` on every backend against a numpy oracle.

Each property draws shapes (0-d, empty and broadcasting included), dtypes (float32, int32,
bool where the op takes them) and values (NaN, +-Inf, -0.0, large, tiny and subnormal among
them), runs the op on the backend under test and compares with a plain-numpy float64 formula
written here (never the numpy backend's code): same shape and dtype, NaN and Inf in the same
places, finite values within float32 tolerance (TF.js numerics).

``test_every_public_op_has_a_property`` fails when a public op has neither a property in
``PROPERTIES`` nor a reasoned entry in ``EXCLUDED``.

Inputs whose meaning another part of the project still has to settle are left out, each
where it is drawn: integer division/modulo by zero, NaN/Inf/out-of-range float -> int32 casts,
negative integer powers, out-of-range gather/one_hot indices.

Settings: ``_strategies.PROPS`` (15 examples per op and backend, derandomized, no deadline);
``TENSORWEAVE_PROPERTY_EXAMPLES=200`` runs a deeper search locally.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _strategies import (
    ATOL,
    EPS32,
    PROPS,
    RTOL,
    array,
    assert_matches,
    axis_arg,
    broadcast_pair,
    floats,
    ints,
    np_axes,
    shapes,
    sum_atol,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine as tw

DTYPES = ("float32", "int32", "bool")
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _sigmoid(x):
    x = _f64(x)
    with np.errstate(over="ignore"):
        return np.where(
            x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))
        )


def _softplus(x):
    return np.logaddexp(_f64(x), 0.0)


# =============================================================================================
# Elementwise unary
# =============================================================================================
UNARY = {
    "neg": np.negative,
    "abs": np.abs,
    "sign": np.sign,
    "square": np.square,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "reciprocal": lambda x: 1 / x,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.rint,  # half to even, as TF.js
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "erf": _erf,
    "relu": lambda x: np.where(np.isnan(x), x, np.maximum(x, 0)),
    "softplus": _softplus,
    "logical_not": np.logical_not,
    "is_nan": np.isnan,
    "is_finite": np.isfinite,
}
#: Unary ops that keep int32 (bool inputs become int32 first); every other numeric one
#: computes in float32.
INT_KEEPING = {"neg", "abs", "sign", "square", "relu"}
PREDICATES = {"is_nan", "is_finite", "logical_not"}


def unary_out_dtype(op: str, dt: str) -> str:
    if op in PREDICATES:
        return "bool"
    if op in INT_KEEPING and dt in ("int32", "bool"):
        return "int32"
    return "float32"


@PROPS
@given(data=st.data())
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(backend, op, data):
    dt = data.draw(st.sampled_from(DTYPES), label="dtype")
    x = array(data, dt, data.draw(shapes(), label="shape"))
    if op == "logical_not" or dt == "bool":
        xin = x.astype(bool) if op == "logical_not" else x.astype(np.int32)
    else:
        xin = x
    generic = data.draw(st.booleans(), label="via tw.unary")
    t = tw.tensor(x)
    out = tw.unary(op, t) if generic else getattr(tw, op)(t)
    out_dt = unary_out_dtype(op, dt)
    with np.errstate(all="ignore"):
        if out_dt == "int32":
            expected = UNARY[op](xin.astype(np.int64))
        elif op in PREDICATES:
            expected = UNARY[op](xin if op == "logical_not" else xin.astype(np.float64))
        else:
            expected = UNARY[op](xin.astype(np.float32).astype(np.float64))
    assert_matches(out, expected, out_dt, context=f"{op}({dt} {x!r})")


# =============================================================================================
# Elementwise binary (+ Python operators, + Python-scalar operands)
# =============================================================================================
def _np_floor_div_int(a, b):
    return np.floor_divide(a, b)


BINARY_FLOAT = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "atan2": np.arctan2,
    "squared_difference": lambda a, b: np.square(a - b),
}
#: floor_div and mod follow numpy's float32 definitions (npy_divmod), so their oracle runs in
#: float32: a float64 quotient can floor to the other side of an integer.
BINARY_F32 = {"floor_div": np.floor_divide, "mod": np.mod}
BINARY_INT = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.floor_divide,  # int32 division floors, as TF.js
    "floor_div": np.floor_divide,
    "mod": np.mod,
    "pow": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "squared_difference": lambda a, b: np.square(a - b),
}
COMPARE = {
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
}
LOGIC = {
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_xor": np.logical_xor,
}
OPERATORS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "floor_div": lambda a, b: a // b,
    "mod": lambda a, b: a % b,
    "pow": lambda a, b: a**b,
    "less": lambda a, b: a < b,
    "less_equal": lambda a, b: a <= b,
    "greater": lambda a, b: a > b,
    "greater_equal": lambda a, b: a >= b,
    "equal": lambda a, b: a == b,
    "not_equal": lambda a, b: a != b,
    "logical_and": lambda a, b: a & b,
    "logical_or": lambda a, b: a | b,
    "logical_xor": lambda a, b: a ^ b,
}
ALIASES = {"subtract": "sub", "multiply": "mul"}
BINARY_OPS = sorted({*BINARY_FLOAT, *BINARY_F32, *COMPARE, *LOGIC, *ALIASES, "real_div"})
#: Ops whose int32 zero divisor is still being defined (left out of the integer draws).
INT_DIVISIONS = {"div", "floor_div", "mod"}


def binary_out_dtype(op: str, dt: str) -> str:
    if op in COMPARE or op in LOGIC:
        return "bool"
    if op == "real_div":
        return "float32"
    if dt == "bool":
        dt = "int32"
    if op == "atan2" and dt == "int32":
        return "float32"
    return dt


def _binary_expected(op: str, a: np.ndarray, b: np.ndarray, dt: str):
    with np.errstate(all="ignore"):
        if op in COMPARE:
            if dt == "bool":
                return (
                    COMPARE[op](a, b)
                    if op in ("equal", "not_equal")
                    else COMPARE[op](a.astype(np.int32), b.astype(np.int32))
                )
            return COMPARE[op](a, b)
        if op in LOGIC:
            return LOGIC[op](a.astype(bool), b.astype(bool))
        if op == "real_div":
            return np.divide(_f64(a.astype(np.float32)), _f64(b.astype(np.float32)))
        if dt == "float32":
            if op in BINARY_F32:
                return BINARY_F32[op](a.astype(np.float32), b.astype(np.float32))
            return BINARY_FLOAT[op](_f64(a), _f64(b))
        ai, bi = a.astype(np.int64), b.astype(np.int64)
        if op == "atan2":
            return np.arctan2(_f64(ai), _f64(bi))
        return BINARY_INT[op](ai, bi)


@PROPS
@given(data=st.data())
@pytest.mark.parametrize("op", BINARY_OPS)
def test_binary(backend, op, data):
    base = ALIASES.get(op, op)
    # atan2 of bools returns int32 (KNOWN_BUGS, test_known_bug_atan2_bool)
    dt = data.draw(st.sampled_from(DTYPES if base != "atan2" else DTYPES[:2]), label="dtype")
    shp = data.draw(broadcast_pair(), label="shapes")
    sa, sb = shp.input_shapes
    a = array(data, dt, sa)
    b_elems = None
    if dt == "int32" and base in INT_DIVISIONS:
        b_elems = st.one_of(st.integers(-9, -1), st.integers(1, 9))  # x / 0 is being defined
    elif dt == "int32" and base == "pow":
        b_elems = st.integers(0, 5)  # negative integer powers are being defined
        a = array(data, dt, sa, st.integers(-6, 6))
    elif dt == "bool" and base in INT_DIVISIONS:
        b_elems = st.just(True)
    b = array(data, dt, sb, b_elems)
    how = data.draw(st.sampled_from(["fn", "generic", "operator", "scalar"]), label="call")
    ta = tw.tensor(a)
    result_shape = shp.result_shape
    if how == "scalar" and base in (*BINARY_FLOAT, *BINARY_F32, *COMPARE, *LOGIC):
        # A Python scalar operand adopts the tensor's dtype (weak typing, as TF.js).
        b = b.reshape(-1)[:1].reshape(()) if b.size else np.zeros((), b.dtype)
        if dt == "int32" and base in INT_DIVISIONS and b == 0:
            b = np.ones((), b.dtype)
        out = getattr(tw, op)(ta, b.item())
        result_shape = sa
    elif how == "operator" and base in OPERATORS and op not in ALIASES:
        out = OPERATORS[base](ta, tw.tensor(b))
    elif how == "generic" and base in UNARY_BINARY_PRIMS:
        out = tw.binary(base, ta, tw.tensor(b))
    else:
        out = getattr(tw, op)(ta, tw.tensor(b))
    expected = _binary_expected(base, a, b, dt)
    expected = np.broadcast_to(expected, result_shape)
    assert_matches(out, expected, binary_out_dtype(base, dt), context=f"{op}({a!r}, {b!r})")


UNARY_BINARY_PRIMS = (
    set(BINARY_FLOAT) - {"squared_difference"} | set(BINARY_F32) | set(COMPARE) | set(LOGIC)
)


@PROPS
@given(data=st.data())
def test_where(backend, data):
    shp = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    sc, sa, sb = shp.input_shapes
    cdt = data.draw(st.sampled_from(DTYPES), label="cond dtype")
    dt = data.draw(st.sampled_from(DTYPES), label="dtype")
    c, a, b = array(data, cdt, sc), array(data, dt, sa), array(data, dt, sb)
    out = tw.where(tw.tensor(c), tw.tensor(a), tw.tensor(b))
    assert_matches(out, np.broadcast_to(np.where(c.astype(bool), a, b), shp.result_shape), dt)


@PROPS
@given(data=st.data())
def test_clip_by_value(backend, data):
    dt = data.draw(st.sampled_from(("float32", "int32")), label="dtype")
    x = array(data, dt, data.draw(shapes()))
    bound = st.floats(-5, 5, width=32) if dt == "float32" else st.integers(-20, 20)
    lo, hi = sorted(data.draw(st.tuples(bound, bound)))
    out = tw.clip_by_value(tw.tensor(x), lo, hi)
    with np.errstate(invalid="ignore"):
        assert_matches(out, np.minimum(np.maximum(x, lo), hi), dt)
    if lo < hi:
        with pytest.raises(ValueError, match="clip_min"):
            tw.clip_by_value(tw.tensor(x), hi, lo)


# =============================================================================================
# Activations
# =============================================================================================
def _elu(x, alpha=1.0):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)) * alpha)


def _gelu(x, approximate):
    if approximate:
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return x * 0.5 * (np.tanh(inner) + 1)
    return x * 0.5 * (_erf(x / math.sqrt(2)) + 1)


ACTIVATIONS = {
    # name -> (call(tw, t, params), oracle(x float64, params), params strategy)
    "relu6": (lambda t, p: tw.relu6(t), lambda x, p: np.minimum(UNARY["relu"](x), 6), st.none()),
    "elu": (lambda t, p: tw.elu(t, p), _elu, st.floats(0.1, 2)),
    "selu": (
        lambda t, p: tw.selu(t),
        lambda x, p: 1.0507009873554804934 * _elu(x, 1.6732632423543772848),
        st.none(),
    ),
    "leaky_relu": (
        lambda t, p: tw.leaky_relu(t, p),
        lambda x, p: np.where(x > 0, x, x * p),
        st.floats(0, 1),
    ),
    "softsign": (lambda t, p: tw.softsign(t), lambda x, p: x / (np.abs(x) + 1), st.none()),
    "hard_sigmoid": (
        lambda t, p: tw.hard_sigmoid(t),
        lambda x, p: np.minimum(np.maximum(x * 0.2 + 0.5, 0), 1),
        st.none(),
    ),
    "gelu": (lambda t, p: tw.gelu(t, p), _gelu, st.booleans()),
    "swish": (
        lambda t, p: tw.swish(t, p),
        lambda x, p: x * _sigmoid(x * p),
        st.sampled_from([1.0, 0.5, 2.0]),
    ),
    "mish": (lambda t, p: tw.mish(t), lambda x, p: x * np.tanh(_softplus(x)), st.none()),
    "linear": (lambda t, p: tw.linear(t), lambda x, p: x, st.none()),
}


@PROPS
@given(data=st.data())
@pytest.mark.parametrize("op", sorted(ACTIVATIONS))
def test_activation(backend, op, data):
    call, oracle, params = ACTIVATIONS[op]
    dt = data.draw(st.sampled_from(("float32", "float32", "int32")), label="dtype")
    x = array(data, dt, data.draw(shapes()))
    p = data.draw(params, label="param")
    if isinstance(p, float):
        p = float(np.float32(p))
    out = call(tw.tensor(x), p)
    with np.errstate(all="ignore"):
        expected = oracle(_f64(x), p)
    out_dt = "int32" if op == "linear" and dt == "int32" else "float32"
    # composites round every step to float32: a few ulps more than one rounding
    assert_matches(out, expected, out_dt, rtol=1e-4 if op in ("gelu", "mish") else RTOL)


@PROPS
@given(data=st.data())
def test_prelu(backend, data):
    shp = data.draw(broadcast_pair(), label="shapes")
    x = array(data, "float32", shp.input_shapes[0])
    alpha = array(data, "float32", shp.input_shapes[1], floats(-1, 1, edges=False))
    out = tw.prelu(tw.tensor(x), tw.tensor(alpha))
    with np.errstate(all="ignore"):
        expected = np.where(_f64(x) > 0, _f64(x), _f64(x) * _f64(alpha))
    assert_matches(out, np.broadcast_to(expected, shp.result_shape), "float32")


def _softmax_ref(x, axis, log):
    m = np.max(x, axis=axis, keepdims=True)
    s = x - m
    if log:
        return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))
    e = np.exp(s)
    return e / np.sum(e, axis=axis, keepdims=True)


@PROPS
@given(data=st.data())
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax(backend, op, data):
    shape = data.draw(shapes(min_dims=1, min_side=1))
    x = array(data, "float32", shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    out = getattr(tw, op)(tw.tensor(x), axis)
    with np.errstate(all="ignore"):
        expected = _softmax_ref(_f64(x), axis, op == "log_softmax")
    assert_matches(out, expected, "float32", rtol=1e-4, atol=1e-6)


# =============================================================================================
# Reductions
# =============================================================================================
#: Contractions (sums, products, matmul, conv) see no large finite values: their float32
#: overflow depends on the summation order, which is the backend's choice.
SUM_EDGES = (float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1e-30, 1e-40, 1.0, -1.0, 0.5)


def _reduce_input(data, dtype, min_dims=0):
    shape = data.draw(shapes(min_dims=min_dims), label="shape")
    elems = {"float32": floats(-10, 10, SUM_EDGES), "int32": ints(-50, 50), "bool": None}[dtype]
    return array(data, dtype, shape, elems)


REDUCE = {
    "sum": np.sum,
    "prod": np.prod,
    "max": np.max,
    "min": np.min,
    "any": np.any,
    "all": np.all,
}


@PROPS
@given(data=st.data())
@pytest.mark.parametrize("op", sorted(REDUCE) + ["mean"])
def test_reduce(backend, op, data):
    dt = data.draw(st.sampled_from(DTYPES), label="dtype")
    x = _reduce_input(data, dt)
    if op == "prod" and dt == "int32":
        x = np.clip(x, -3, 3)  # int32 overflow wraps: not the point here
    axis = axis_arg(data, x.ndim)
    keep = data.draw(st.booleans(), label="keepdims")
    axes = np_axes(axis, x.ndim)
    t = tw.tensor(x)
    if op in ("max", "min") and any(x.shape[a] == 0 for a in axes):
        with pytest.raises(ValueError, match="empty"):
            getattr(tw, op)(t, axis, keep)
        return
    out = getattr(tw, op)(t, axis, keep)
    if op in ("any", "all"):
        out_dt = "bool"
    elif op == "mean":
        out_dt = "float32"
    else:
        out_dt = "int32" if dt == "bool" and op in ("sum", "prod") else dt
        out_dt = "int32" if out_dt == "bool" else out_dt
    xv = x.astype(np.float64) if dt == "float32" or op == "mean" else x
    if dt == "bool" and op in ("sum", "prod", "max", "min"):
        xv = x.astype(np.int64)
    with np.errstate(all="ignore"):
        if op == "mean":
            n = int(np.prod([x.shape[a] for a in axes]))
            expected = np.sum(xv, axis=axes, keepdims=keep) * (1.0 / n if n else np.nan)
        else:
            expected = REDUCE[op](xv, axis=axes, keepdims=keep)
    if op == "max" and dt == "bool":
        out_dt = "bool"
        expected = expected.astype(bool)
    if op == "min" and dt == "bool":
        out_dt = "bool"
        expected = expected.astype(bool)
    tol = sum_atol(x.astype(np.float64), axes, keep) if out_dt == "float32" else ATOL
    if op == "mean":
        n = int(np.prod([x.shape[a] for a in axes])) or 1
        tol = tol / n
    assert_matches(out, expected, out_dt, rtol=1e-5 * max(1, x.size), atol=tol)


@PROPS
@given(data=st.data())
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reduce(backend, op, data):
    dt = data.draw(st.sampled_from(DTYPES), label="dtype")
    shape = data.draw(shapes(min_dims=0), label="shape")
    # few distinct values, so ties (first index wins) are common
    elems = {
        "float32": floats(-2, 2, SUM_EDGES).map(lambda v: v if not abs(v) < 2 else float(round(v))),
        "int32": ints(-2, 2),
        "bool": None,
    }[dt]
    x = array(data, dt, shape, elems)
    axis = data.draw(
        st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)) if x.ndim else st.none()
    )
    t = tw.tensor(x)
    flat = x.reshape(-1) if axis is None else x
    ax = 0 if axis is None else axis
    if flat.ndim == 0 or flat.shape[ax] == 0:
        with pytest.raises(ValueError):
            getattr(tw, op)(t, axis)
        return
    out = getattr(tw, op)(t, axis)
    fn = np.argmax if op == "argmax" else np.argmin
    assert_matches(out, fn(flat.astype(np.float64) if dt != "bool" else flat, axis=ax), "int32")


@PROPS
@given(data=st.data())
def test_cumsum(backend, data):
    dt = data.draw(st.sampled_from(DTYPES), label="dtype")
    x = _reduce_input(data, dt, min_dims=1)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    exclusive, reverse = data.draw(st.booleans()), data.draw(st.booleans())
    out = tw.cumsum(tw.tensor(x), axis, exclusive, reverse)
    xv = x.astype(np.float64) if dt == "float32" else x.astype(np.int64)
    v = np.flip(xv, axis) if reverse else xv
    with np.errstate(invalid="ignore"):
        c = np.cumsum(v, axis=axis)
        if exclusive:
            c = (
                np.concatenate(
                    [
                        np.zeros_like(np.take(c, [0], axis)),
                        np.take(c, range(c.shape[axis] - 1), axis),
                    ],
                    axis,
                )
                if c.shape[axis]
                else c
            )
    expected = np.flip(c, axis) if reverse else c
    out_dt = "float32" if dt == "float32" else "int32"
    tol = ATOL + 4 * x.shape[axis] * EPS32 * np.sum(
        np.abs(np.where(np.isfinite(xv), xv, 0)), axis=axis, keepdims=True
    )
    if dt == "float32" and exclusive:
        # exclusive = inclusive - x on some backends: Inf/NaN inputs make a position NaN
        # where a running sum never saw them (TF.js's exclusive cumsum shifts instead).
        pass
    assert_matches(out, expected, out_dt, atol=tol)


def _logsumexp_ref(x, axes, keep):
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keep else np.squeeze(out, axis=axes)


@PROPS
@given(data=st.data())
@pytest.mark.parametrize("op", ["logsumexp", "moments", "norm"])
def test_reduce_composites(backend, op, data):
    x = _reduce_input(data, "float32", min_dims=1)
    axis = axis_arg(data, x.ndim)
    keep = data.draw(st.booleans(), label="keepdims")
    axes = np_axes(axis, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    if n == 0 and op == "logsumexp":
        with pytest.raises(ValueError):
            tw.logsumexp(tw.tensor(x), axis, keep)
        return
    xv = _f64(x)
    tol = sum_atol(np.abs(xv) + 1, axes, keep)
    with np.errstate(all="ignore"):
        if op == "logsumexp":
            out = tw.logsumexp(tw.tensor(x), axis, keep)
            assert_matches(out, _logsumexp_ref(xv, axes, keep), "float32", rtol=1e-4, atol=tol)
        elif op == "moments":
            m, v = tw.moments(tw.tensor(x), axis, keep)
            em = np.sum(xv, axis=axes, keepdims=True) * (1 / n if n else np.nan)
            ev = np.sum(np.square(xv - em), axis=axes, keepdims=keep) * (1 / n if n else np.nan)
            em = em if keep else np.squeeze(em, axis=axes)
            vtol = sum_atol(
                np.square(np.abs(xv) + np.abs(em if keep else np.expand_dims(em, axes))), axes, keep
            )
            assert_matches(m, em, "float32", rtol=1e-4, atol=tol / max(n, 1))
            assert_matches(v, ev, "float32", rtol=1e-4, atol=vtol / max(n, 1))
        else:
            ord_ = data.draw(st.sampled_from(["euclidean", 1, 2, np.inf, -np.inf, 3]), label="ord")
            a = np.abs(xv)
            if ord_ in (np.inf, -np.inf) and n == 0:
                with pytest.raises(ValueError, match="empty"):
                    tw.norm(tw.tensor(x), ord_, axis, keep)
                return
            out = tw.norm(tw.tensor(x), ord_, axis, keep)
            if ord_ in ("euclidean", 2):
                exp = np.sqrt(np.sum(a * a, axis=axes, keepdims=keep))
            elif ord_ == 1:
                exp = np.sum(a, axis=axes, keepdims=keep)
            elif ord_ == np.inf:
                exp = np.max(a, axis=axes, keepdims=keep)
            elif ord_ == -np.inf:
                exp = np.min(a, axis=axes, keepdims=keep)
            else:
                exp = np.sum(a**ord_, axis=axes, keepdims=keep) ** (1 / ord_)
            assert_matches(out, exp, "float32", rtol=1e-4, atol=tol)


# =============================================================================================
# Bugs found by these properties in code this file's author does not own (kept out of the
# draws above; each strict xfail turns into a failure once fixed, so the exclusion goes too)
# =============================================================================================
@pytest.mark.xfail(
    strict=True,
    reason="engine/ops/core.py binary(): bools are cast to int32 in an if/elif chain that "
    "skips the atan2 int32 -> float32 rule, so atan2(bool, bool) is int32 (truncated)",
)
def test_known_bug_atan2_bool(backend):
    out = tw.atan2(tw.tensor([True, False]), tw.tensor([True, True]))
    assert_matches(out, np.arctan2([1.0, 0.0], [1.0, 1.0]), "float32")
