"""numpy functions on Tensors (issue 21 item 4): mapped ones run as engine ops, the rest in numpy.

The rule lives in ``engine/_numpy_protocol.py`` (and Tensor's docstring): a mapped ufunc called
plainly, or a mapped function with arguments the engine op takes, returns a Tensor holding
numpy's values (to float32 precision), and gradients flow through it; everything else returns
numpy's own result; nothing raises for want of an override, and ``np.asarray(t)`` still works.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
from engine import _numpy_protocol as proto

RTOL, ATOL = 2e-6, 1e-6


def _check(got, want, what):
    assert isinstance(got, tw.Tensor), f"{what}: expected a Tensor, got {type(got).__name__}"
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.dtype == np.bool_:
        assert got.dtype == "bool", what
        np.testing.assert_array_equal(got.numpy(), want, err_msg=what)
    else:
        np.testing.assert_allclose(got.numpy(), want, rtol=RTOL, atol=ATOL, err_msg=what)


def _inputs(rng):
    a = rng.uniform(0.5, 2.0, size=(3, 4)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, size=(4,)).astype(np.float32)
    s = rng.normal(size=(3, 4)).astype(np.float32)
    s[0, :3] = [0.0, 0.5, 2.5]  # sign of zero, rint's halves to even
    return a, b, s


#: Unary ufunc -> the input it needs (a: positive, s: signed).
UNARY_INPUT = {
    "sqrt": "a",
    "log": "a",
    "log1p": "a",
}


def test_every_mapped_unary_ufunc_gives_a_tensor(backend, rng):
    a, _, s = _inputs(rng)
    special = np.array([1.0, np.nan, np.inf, -np.inf], np.float32)
    for ufunc, name in proto.UFUNCS.items():
        if ufunc.nin != 1 or name.startswith("logical"):
            continue
        x = a if ufunc.__name__ in UNARY_INPUT else s
        if name in ("is_nan", "is_finite"):
            x = special
        _check(ufunc(tw.tensor(x)), ufunc(x), f"np.{ufunc.__name__} on {backend}")


def test_every_mapped_binary_ufunc_gives_a_tensor(backend, rng):
    a, b, s = _inputs(rng)
    for ufunc, name in proto.UFUNCS.items():
        if ufunc.nin != 2 or name.startswith("logical"):
            continue
        if ufunc is np.matmul:
            x, y = s, rng.normal(size=(4, 2)).astype(np.float32)
        else:
            # pow on positives; the rest on signed values against a row of x (equal values)
            x, y = (a, b) if name == "pow" else (s, s[1].copy())
        what = f"np.{ufunc.__name__} on {backend}"
        want = ufunc(x, y)
        _check(ufunc(tw.tensor(x), tw.tensor(y)), want, what + " (tensor, tensor)")
        _check(ufunc(tw.tensor(x), y), want, what + " (tensor, ndarray)")
        _check(ufunc(x, tw.tensor(y)), want, what + " (ndarray, tensor)")
    # scalars: Python and numpy ones, on either side; operators on ndarrays route here too
    t = tw.tensor(s)
    _check(np.multiply(t, 2.5), s * 2.5, "np.multiply(t, 2.5)")
    _check(np.subtract(np.float32(1.5), t), 1.5 - s, "np.subtract(np.float32, t)")
    _check(np.power(tw.tensor(a), 2), a**2, "np.power(t, 2)")
    _check(s + t, s + s, "ndarray + tensor")
    _check(b < tw.tensor(a), b < a, "ndarray < tensor")
    _check(np.float32(3) * t, 3 * s, "np.float32 * tensor")


def test_logical_and_bitwise_on_bools(backend, rng):
    p = rng.random((3, 4)) > 0.5
    q = rng.random((4,)) > 0.5
    for ufunc in (np.logical_and, np.logical_or, np.logical_xor, np.bitwise_and, np.bitwise_or):
        _check(ufunc(tw.tensor(p), q), ufunc(p, q), f"np.{ufunc.__name__}")
    for ufunc in (np.logical_not, np.invert):
        _check(ufunc(tw.tensor(p)), ufunc(p), f"np.{ufunc.__name__}")
    # bitwise on ints is not logical: numpy computes it
    ints = np.array([5, 6], np.int32)
    got = np.bitwise_and(tw.tensor(ints), 3)
    assert isinstance(got, np.ndarray) and got.tolist() == [1, 2]


def test_int_tensors_follow_numpy_meaning(backend):
    x = np.array([7, -7, 6, 0], np.int32)
    t = tw.tensor(x)
    _check(np.true_divide(t, 2), x / 2, "true_divide on int32 divides in floating point")
    _check(np.floor_divide(t, 2), x // 2, "floor_divide")
    _check(np.remainder(t, 3), x % 3, "remainder takes the divisor's sign")
    _check(np.sum(t), x.sum(), "np.sum")
    _check(np.mean(t), x.mean(), "np.mean of ints is a float mean")
    # an int64 array that int32 cannot hold goes to numpy rather than failing
    big = np.array([2**40, 1, 2, 3], np.int64)
    got = np.add(t, big)
    assert isinstance(got, np.ndarray) and got.tolist() == (x + big).tolist()


def _function_cases(rng):
    """(label, numpy function, args builder) — the builder maps a leaf converter over args."""
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    m = rng.normal(size=(3, 4)).astype(np.float32)
    v = rng.normal(size=(4,)).astype(np.float32)
    w = rng.normal(size=(4, 2)).astype(np.float32)
    pos = rng.random((2, 3)) > 0.4
    return [
        ("sum", np.sum, lambda T: ((T(x),), {})),
        ("sum axis keepdims", np.sum, lambda T: ((T(x),), {"axis": (0, 2), "keepdims": True})),
        ("prod axis", np.prod, lambda T: ((T(m),), {"axis": 1})),
        ("mean axis", np.mean, lambda T: ((T(x), -1), {})),
        ("max", np.max, lambda T: ((T(x),), {"axis": 1})),
        ("min keepdims", np.min, lambda T: ((T(x),), {"axis": 0, "keepdims": True})),
        ("amax", np.amax, lambda T: ((T(m),), {})),
        ("any", np.any, lambda T: ((T(pos),), {"axis": 1})),
        ("all", np.all, lambda T: ((T(pos),), {})),
        ("var", np.var, lambda T: ((T(x),), {"axis": 2})),
        ("std", np.std, lambda T: ((T(m),), {})),
        ("argmax", np.argmax, lambda T: ((T(m),), {"axis": 1})),
        ("argmin flat", np.argmin, lambda T: ((T(x),), {})),
        ("reshape", np.reshape, lambda T: ((T(x), (6, -1)), {})),
        ("reshape shape=", np.reshape, lambda T: ((T(x),), {"shape": (4, 6)})),
        ("transpose", np.transpose, lambda T: ((T(x),), {})),
        ("transpose axes", np.transpose, lambda T: ((T(x), (1, 0, 2)), {})),
        ("concatenate", np.concatenate, lambda T: (([T(m), m],), {"axis": 0})),
        ("concatenate axis None", np.concatenate, lambda T: (([T(m), T(v)],), {"axis": None})),
        ("stack", np.stack, lambda T: (([T(m), m, T(m)],), {"axis": 1})),
        ("dot matrix", np.dot, lambda T: ((T(m), T(w)), {})),
        ("dot vector", np.dot, lambda T: ((T(v), v), {})),
        ("dot scalar", np.dot, lambda T: ((T(m), 2.0), {})),
        ("where", np.where, lambda T: ((T(m) > 0, T(m), 0.0), {})),
        ("clip", np.clip, lambda T: ((T(m), -0.5, 0.5), {})),
        ("clip one-sided", np.clip, lambda T: ((T(m), None, 0.25), {})),
        ("clip min > max", np.clip, lambda T: ((T(m), 1.0, -1.0), {})),
        ("round", np.round, lambda T: ((T(np.array([0.5, 1.5, -2.5, 2.4], np.float32)),), {})),
        ("expand_dims", np.expand_dims, lambda T: ((T(m), 1), {})),
        ("squeeze", np.squeeze, lambda T: ((T(x[:1]),), {"axis": 0})),
        ("cumsum", np.cumsum, lambda T: ((T(m),), {"axis": 1})),
        ("cumsum flat", np.cumsum, lambda T: ((T(m),), {})),
        ("broadcast_to", np.broadcast_to, lambda T: ((T(v), (3, 4)), {})),
        ("outer", np.outer, lambda T: ((T(v), T(v)), {})),
    ]


def test_every_mapped_function_gives_a_tensor(backend, rng):
    covered = set()
    for label, fn, build in _function_cases(rng):
        args, kwargs = build(tw.tensor)
        want_args, want_kwargs = build(lambda a: a)
        _check(fn(*args, **kwargs), fn(*want_args, **want_kwargs), f"np.{label} on {backend}")
        covered.add(fn)
    shape_fns = {np.shape, np.ndim, np.size, np.around, np.amin}
    assert set(proto.FUNCTIONS) - covered <= shape_fns, "a mapped function without a case"


def test_shape_queries_read_no_data():
    with tw.backend_scope("numpy"):
        t = tw.zeros([2, 3])
        assert (np.shape(t), np.ndim(t), np.size(t), np.size(t, 1)) == ((2, 3), 2, 6, 3)
        assert np.around(tw.tensor([1.5])).tolist() == [2.0]
        assert np.amin(tw.tensor([3.0, 1.0])).item() == 1.0


def test_unmapped_calls_return_numpy_results(backend, rng):
    m = rng.normal(size=(3, 4)).astype(np.float32)
    t = tw.tensor(m)
    mask = m > 0
    cases = {
        "add.reduce": (lambda a: np.add.reduce(a, axis=1)),
        "add.accumulate": (lambda a: np.add.accumulate(a)),
        "multiply.outer": (lambda a: np.multiply.outer(a[0], a[1])),
        "exp2 (no engine op)": (lambda a: np.exp2(a)),
        "sinh": (lambda a: np.sinh(a)),
        "exp dtype=": (lambda a: np.exp(a, dtype=np.float64)),
        "linalg.norm": (lambda a: np.linalg.norm(a)),
        "median": (lambda a: np.median(a, axis=0)),
        "sort": (lambda a: np.sort(a, axis=1)),
        "sum dtype=": (lambda a: np.sum(a, dtype=np.float64)),
        "sum where=": (lambda a: np.sum(a, where=mask)),
        "mean out-less keepdims list": (lambda a: np.mean([a, a], axis=0)),
        "var ddof=1": (lambda a: np.var(a, ddof=1)),
        "where one argument": (lambda a: np.where(a > 0)[1]),
        "dot 3-d": (lambda a: np.dot(np.stack([a, a]), np.transpose(a))),
        "reshape order F": (lambda a: np.reshape(a, (4, 3), order="F")),
        "round decimals": (lambda a: np.round(a, 2)),
        "allclose": (lambda a: np.allclose(a, m)),
    }
    for label, f in cases.items():
        got, want = f(t), f(m)
        assert not isinstance(got, tw.Tensor), f"{label}: expected numpy's result, got a Tensor"
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-6, err_msg=label)


def test_out_writes_numpy_arrays_and_rejects_tensors(backend, rng):
    m = rng.normal(size=(3, 4)).astype(np.float32)
    t = tw.tensor(m)
    buf = np.empty((3, 4), np.float32)
    got = np.add(t, 1.0, out=buf)
    assert got is buf
    np.testing.assert_allclose(buf, m + 1, rtol=RTOL)
    got = np.exp(t, out=buf)
    assert got is buf
    np.testing.assert_allclose(buf, np.exp(m), rtol=1e-6)
    row = np.empty((3,), np.float32)
    assert np.sum(t, axis=1, out=row) is row
    np.testing.assert_allclose(row, m.sum(axis=1), rtol=1e-5)
    acc = m.copy()
    acc += t  # in place on the ndarray: numpy with out=(acc,)
    np.testing.assert_allclose(acc, 2 * m, rtol=RTOL)
    with pytest.raises(TypeError, match=r"np.add\(\.\.\., out=<Tensor>\): tensors are immutable"):
        np.add(m, 1.0, out=t)
    with pytest.raises(TypeError, match=r"np.add.at cannot change a Tensor in place"):
        np.add.at(t, [0], 1.0)


def test_gradient_flows_through_numpy_calls(backend, rng):
    m = rng.normal(size=(3, 4)).astype(np.float32)
    g = tw.grad(lambda x: tw.sum(np.exp(x)))(tw.tensor(m))
    np.testing.assert_allclose(g.numpy(), np.exp(m), rtol=1e-5)
    g = tw.grad(lambda x: np.mean(np.square(np.tanh(x) * 2.0)))(tw.tensor(m))
    t = np.tanh(m.astype(np.float64))
    np.testing.assert_allclose(g.numpy(), 8 * t * (1 - t**2) / m.size, rtol=1e-4, atol=1e-6)
    g = tw.grad(lambda x: np.sum(np.clip(np.concatenate([x, x], axis=1), -0.5, 0.5)))(tw.tensor(m))
    np.testing.assert_allclose(g.numpy(), 2.0 * (np.abs(m) < 0.5), rtol=1e-6)


def test_asarray_and_variables_keep_working():
    with tw.backend_scope("numpy"):
        t = tw.tensor([[1, 2]], dtype="int32")
        a = np.asarray(t)
        assert isinstance(a, np.ndarray) and a.dtype == np.int32 and a.tolist() == [[1, 2]]
        assert np.array(t, dtype=np.float64).dtype == np.float64
        v = tw.variable(tw.tensor([0.0, 1.0]))
        assert isinstance(np.exp(v), tw.Tensor) and np.exp(v).tolist()[0] == 1.0
