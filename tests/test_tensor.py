"""The Tensor API: attributes, conversions, operators, indexing, dtype inference, Variable."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from _oracle import check

import engine as tw


def test_attributes(backend):
    t = tw.tensor(np.zeros((2, 3, 4), np.float32))
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.dtype == "float32"
    assert t.rank == 3 and t.ndim == 3
    assert t.size == 24
    assert t.backend == backend
    s = tw.scalar(1.5)
    assert s.shape == () and s.rank == 0 and s.size == 1
    e = tw.zeros((3, 0))
    assert e.size == 0 and e.shape == (3, 0)


def test_conversions(backend):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tw.tensor(x)
    out = t.numpy()
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, x)
    out[0, 0] = 99  # a copy: the tensor is unchanged
    assert t.numpy()[0, 0] == 0
    assert t.tolist() == x.tolist()
    np.testing.assert_array_equal(np.asarray(t), x)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert tw.scalar(2.5).item() == 2.5 and isinstance(tw.scalar(2.5).item(), float)
    seven = tw.tensor(np.array([[7]]))
    assert seven.item() == 7 and isinstance(seven.item(), int)
    assert tw.scalar(True).item() is True
    assert float(tw.scalar(1.5)) == 1.5 and int(tw.scalar(3)) == 3
    assert bool(tw.scalar(0)) is False
    with pytest.raises(ValueError, match=r"truth value of a tensor of shape \(2, 3\) is ambiguous"):
        bool(t)
    with pytest.raises(
        ValueError, match=r"item\(\) needs a tensor with one element, got shape \(2, 3\)"
    ):
        t.item()
    assert len(t) == 2
    rows = list(t)
    assert len(rows) == 2
    check(rows[1], x[1], "float32")
    with pytest.raises(TypeError, match="scalar"):
        len(tw.scalar(1.0))
    r = repr(t)
    assert "shape=(2, 3)" in r and "float32" in r and backend in r


def test_scalar_tensor_round_trip(backend):
    for v, dt in [(3.0, "float32"), (4, "int32"), (False, "bool")]:
        t = tw.tensor(v, dtype=dt)
        assert t.shape == ()
        assert t.numpy().shape == ()
        check(t + t if dt != "bool" else t, np.asarray(v + v if dt != "bool" else v), dt)


@pytest.mark.parametrize(
    "values,dtype",
    [
        (1.5, "float32"),
        (3, "float32"),  # Python numbers are float32, as TF.js
        ([1, 2, 3], "float32"),
        ([1.0, 2.5], "float32"),
        (np.array([1, 2], np.int64), "int32"),
        (np.array([1, 2], np.int32), "int32"),
        (np.array([1.0], np.float64), "float32"),
        ([True, False], "bool"),
        (np.array([True]), "bool"),
        (True, "bool"),
    ],
)
def test_dtype_inference(backend, values, dtype):
    assert tw.tensor(values).dtype == dtype


def test_explicit_dtype_and_shape(backend):
    check(tw.tensor([1.7, -2.7], dtype="int32"), np.array([1, -2]), "int32")
    check(tw.tensor([0, 3], dtype="bool"), np.array([False, True]), "bool")
    check(tw.tensor([1, 2, 3, 4], shape=(2, 2)), np.array([[1, 2], [3, 4]]), "float32")
    check(tw.tensor(5.0, shape=(2, 3)), np.full((2, 3), 5.0), "float32")
    check(tw.tensor(tw.tensor([1.5, 2.5]), dtype="int32"), np.array([1, 2]), "int32")
    with pytest.raises(ValueError, match=r"tensor: 3 values cannot fill shape \(2, 2\)"):
        tw.tensor([1, 2, 3], shape=(2, 2))
    with pytest.raises(TypeError, match="cannot make a tensor"):
        tw.tensor(["a", "b"])
    with pytest.raises(TypeError, match="unsupported dtype"):
        tw.tensor([1], dtype="string")


# TF.js infers float32 for JS numbers; we follow it for Python ints inside lists too.
def test_int_list_is_float32_but_numpy_int_is_int32(backend):
    assert tw.tensor([1, 2]).dtype == "float32"
    assert tw.tensor(np.arange(3)).dtype == "int32"


OPS = [
    (operator.add, np.add),
    (operator.sub, np.subtract),
    (operator.mul, np.multiply),
    (operator.truediv, np.divide),
    (operator.floordiv, np.floor_divide),
    (operator.mod, np.mod),
    (operator.pow, np.power),
]


@pytest.mark.parametrize("op,ref", OPS, ids=lambda f: getattr(f, "__name__", str(f)))
def test_operators_and_reflected(backend, op, ref):
    a = np.array([[1.5, 2.0, 3.0]], np.float32)
    b = np.array([[2.0], [0.5]], np.float32)
    check(
        op(tw.tensor(a), tw.tensor(b)),
        ref(a.astype(np.float64), b.astype(np.float64)),
        "float32",
        rtol=1e-5,
    )
    check(op(tw.tensor(a), 2.0), ref(a.astype(np.float64), 2.0), "float32", rtol=1e-5)
    check(op(3.0, tw.tensor(a)), ref(3.0, a.astype(np.float64)), "float32", rtol=1e-5)
    check(
        op(b, tw.tensor(a)), ref(b.astype(np.float64), a.astype(np.float64)), "float32", rtol=1e-5
    )


def test_unary_and_comparison_operators(backend):
    x = np.array([-1.5, 0.0, 2.0], np.float32)
    t = tw.tensor(x)
    check(-t, -x, "float32")
    check(+t, x, "float32")
    check(abs(t), np.abs(x), "float32")
    check(t < 0.0, x < 0, "bool")
    check(t <= 0.0, x <= 0, "bool")
    check(t > 0.0, x > 0, "bool")
    check(t >= 0.0, x >= 0, "bool")
    check(t == 0.0, x == 0, "bool")
    check(t != 0.0, x != 0, "bool")
    check(1.0 < t, 1 < x, "bool")
    b = tw.tensor([True, False, True])
    c = tw.tensor([True, True, False])
    check(~b, np.array([False, True, False]), "bool")
    check(b & c, np.array([True, False, False]), "bool")
    check(b | c, np.array([True, True, True]), "bool")
    check(b ^ c, np.array([False, True, True]), "bool")
    assert hash(t) != hash(tw.tensor(x))  # hashable by identity (usable in sets and dicts)


def test_python_scalar_weak_typing(backend):
    i = tw.tensor(np.array([1, 2, 3], np.int32))
    check(i + 1, np.array([2, 3, 4]), "int32")
    check(2 * i, np.array([2, 4, 6]), "int32")
    check(i / 2, np.array([0, 1, 1]), "int32")  # int32 division floors, as TF.js
    check(i * 0.5, np.array([0.5, 1.0, 1.5]), "float32")  # a float scalar upgrades
    check(i**2, np.array([1, 4, 9]), "int32")
    f = tw.tensor([1.0, 2.0])
    check(f + 1, np.array([2.0, 3.0]), "float32")
    check(tw.tensor([True, False]) + 1, np.array([2, 1]), "int32")
    check(tw.tensor([True, False]) * 3, np.array([3, 0]), "int32")
    check(tw.tensor([True, False]) * 0.5, np.array([0.5, 0.0]), "float32")
    check(tw.tensor([True, False]) & True, np.array([True, False]), "bool")
    check(i + np.float32(2.5), np.array([3.5, 4.5, 5.5]), "float32")
    check(i + np.int64(2), np.array([3, 4, 5]), "int32")
    check(f * True, np.array([1.0, 2.0]), "float32")


def test_matmul_operator(backend):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    check(tw.tensor(a) @ tw.tensor(a.T.copy()), a.astype(np.float64) @ a.T, "float32")
    check(a @ tw.tensor(a.T.copy()), a.astype(np.float64) @ a.T, "float32")


def test_numpy_array_on_the_left_defers_to_tensor(backend):
    a = np.ones((2,), np.float32)
    out = a + tw.tensor([1.0, 2.0])
    assert isinstance(out, tw.Tensor)
    check(out, np.array([2.0, 3.0]), "float32")


INDEXES = [
    (0,),
    (-1,),
    (slice(None, None, -1),),
    (slice(None, None, -2), 1),
    (None,),
    (Ellipsis, None),
    (Ellipsis, -1),
    (1, Ellipsis),
    (slice(1, 3), None, slice(None, None, -1)),
    (np.int64(1),),
]


@pytest.mark.parametrize("index", INDEXES, ids=str)
def test_getitem(backend, index):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    check(tw.tensor(x)[index], x[index], "float32")


def test_getitem_lists_and_tensors(backend):
    x = np.arange(12, dtype=np.int32).reshape(4, 3)
    t = tw.tensor(x)
    check(t[[0, 3, 3]], x[[0, 3, 3]], "int32")
    check(t[tw.tensor(np.array([2, 1]))], x[[2, 1]], "int32")
    check(t[tw.tensor(np.array([2]))[0]], x[2], "int32")  # an int32 scalar tensor indexes
    with pytest.raises(IndexError, match="first axis only"):
        t[[0], 1]


def test_variable_assign_errors(backend):
    v = tw.variable(tw.zeros((2, 2)), name="tv")
    with pytest.raises(
        ValueError,
        match=r"Variable 'tv'.assign: expected shape \(2, 2\) float32, got shape \(3,\) float32",
    ):
        v.assign(tw.zeros((3,)))
    with pytest.raises(ValueError, match="got shape \\(2, 2\\) int32"):
        v.assign(tw.zeros((2, 2), "int32"))
    v.assign(tw.ones((2, 2)))
    check(v, np.ones((2, 2)), "float32")
    assert "tv" in repr(v)


def test_variable_is_a_tensor_and_works_in_ops(backend):
    v = tw.variable(tw.tensor([1.0, 2.0]))
    check(v * 2.0, np.array([2.0, 4.0]), "float32")
    check(tw.exp(v), np.exp([1.0, 2.0]), "float32")
    before = (v * 1.0).numpy()
    v.assign(tw.tensor([5.0, 6.0]))
    np.testing.assert_array_equal(before, [1.0, 2.0])  # earlier results are unaffected
    check(v, np.array([5.0, 6.0]), "float32")


def test_methods(backend):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tw.tensor(x)
    check(t.reshape(3, 2), x.reshape(3, 2), "float32")
    check(t.reshape((6,)), x.reshape(6), "float32")
    check(t.transpose(), x.T, "float32")
    check(t.astype("int32"), x.astype(np.int32), "int32")
    check(t.flatten(), x.reshape(-1), "float32")
    c = t.clone()
    assert c is not t and c.id != t.id
    check(c, x, "float32")


def test_error_messages_name_op_and_shapes(backend):
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(2,\) cannot be broadcast"):
        tw.ones((2, 3)) + tw.ones((2,))
    with pytest.raises(ValueError, match=r"where: shapes"):
        tw.where(tw.ones((2,), "bool"), tw.ones((3,)), tw.ones((3,)))
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(2, 3\)"):
        tw.ones((2, 3)) @ tw.ones((2, 3))
    with pytest.raises(ValueError, match=r"concat: shapes"):
        tw.concat([tw.ones((2, 3)), tw.ones((2, 2))], 0)


def test_seeded_random_reproducible(backend):
    a = tw.random_normal((5,), seed=1).numpy()
    b = tw.random_normal((5,), seed=1).numpy()
    np.testing.assert_array_equal(a, b)
    tw.set_seed(77)
    c = tw.random_uniform((5,)).numpy()
    tw.set_seed(77)
    d = tw.random_uniform((5,)).numpy()
    tw.set_seed(None)
    np.testing.assert_array_equal(c, d)


def test_float64_only_where_supported(backend):
    if tw.backend().capabilities.get("float64"):
        x = tw.tensor([1.0, 1e-12], dtype="float64")
        assert x.dtype == "float64"
        y = tw.exp(x) - 1.0
        assert y.dtype == "float64"
        np.testing.assert_allclose(y.numpy(), np.expm1([1.0, 1e-12]), rtol=1e-9, atol=1e-15)
        check(tw.cast(tw.tensor([1.5]), "float64"), np.array([1.5]), "float64")
    else:
        with pytest.raises(TypeError, match=f"backend '{backend}' does not support float64"):
            tw.tensor([1.0], dtype="float64")
        with pytest.raises(TypeError, match="does not support float64"):
            tw.cast(tw.tensor([1.0]), "float64")


def test_epsilon():
    assert tw.epsilon() == 1e-7
