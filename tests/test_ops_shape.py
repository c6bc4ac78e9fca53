"""Shape ops: reshape, transpose, slicing, concat, gather/scatter, tile, pad, cast, top_k..."""

from __future__ import annotations

import numpy as np
import pytest
from _oracle import check
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine as tw


def _x(shape=(2, 3, 4), dtype=np.float32, seed=0):
    g = np.random.default_rng(seed)
    if dtype == np.bool_:
        return g.uniform(size=shape) > 0.5
    return (g.normal(size=shape) * 5).astype(dtype)


DTYPES = [np.float32, np.int32, np.bool_]
DT = {np.float32: "float32", np.int32: "int32", np.bool_: "bool"}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_reshape(backend, dtype):
    x = _x(dtype=dtype)
    for shape in [(6, 4), (-1,), (4, -1, 2), (1, 24, 1), (2, 3, 4)]:
        check(tw.reshape(tw.tensor(x), shape), x.reshape(shape), DT[dtype])
    check(tw.reshape(tw.scalar(3.0), (1, 1)), np.full((1, 1), 3.0), "float32")
    check(tw.reshape(tw.zeros((0, 3)), (3, 0)), np.zeros((3, 0)), "float32")


def test_reshape_errors_name_shapes(backend):
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        tw.reshape(tw.ones((2, 3)), (4, 2))
    with pytest.raises(ValueError, match="at most one"):
        tw.reshape(tw.ones((2, 3)), (-1, -1))
    with pytest.raises(ValueError, match="reshape"):
        tw.reshape(tw.ones((2, 3)), (4, -1))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_transpose(backend, dtype):
    x = _x(dtype=dtype)
    check(tw.transpose(tw.tensor(x)), x.T, DT[dtype])
    for perm in [(0, 2, 1), (2, 0, 1), (1, 0, 2), (0, 1, 2)]:
        check(tw.transpose(tw.tensor(x), perm), x.transpose(perm), DT[dtype])
    check(tw.tensor(x[0]).T, x[0].T, DT[dtype])
    with pytest.raises(ValueError, match=r"transpose: perm \(0, 0, 1\)"):
        tw.transpose(tw.tensor(x), (0, 0, 1))


def test_transpose_edge_shapes(backend):
    check(tw.transpose(tw.zeros((0, 2, 1))), np.zeros((1, 2, 0)), "float32")
    check(tw.transpose(tw.scalar(1.0)), np.float64(1), "float32")


def test_expand_dims_and_squeeze(backend):
    x = _x((2, 1, 3))
    for axis in (0, 1, 3, -1, -4):
        check(tw.expand_dims(tw.tensor(x), axis), np.expand_dims(x, axis), "float32")
    check(tw.squeeze(tw.tensor(x)), np.squeeze(x), "float32")
    check(tw.squeeze(tw.tensor(x), 1), np.squeeze(x, 1), "float32")
    check(tw.squeeze(tw.tensor(x), [-2]), np.squeeze(x, -2), "float32")
    with pytest.raises(ValueError, match=r"squeeze: axis 0 of shape \(2, 1, 3\) has size 2"):
        tw.squeeze(tw.tensor(x), 0)
    check(tw.expand_dims(tw.scalar(2.0), 0), np.array([2.0]), "float32")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_concat(backend, dtype):
    a, b = _x((2, 3, 1), dtype, 1), _x((2, 3, 2), dtype, 2)
    check(tw.concat([tw.tensor(a), tw.tensor(b)], 2), np.concatenate([a, b], 2), DT[dtype])
    check(tw.concat([tw.tensor(a), tw.tensor(b)], -1), np.concatenate([a, b], -1), DT[dtype])
    c = _x((1, 3, 1), dtype, 3)
    check(tw.concat([tw.tensor(a), tw.tensor(c), tw.tensor(a)], 0), np.concatenate([a, c, a]))
    e = np.zeros((2, 0, 1), dtype)
    check(tw.concat([tw.tensor(a), tw.tensor(e)], 1), np.concatenate([a, e], 1), DT[dtype])
    check(tw.concat([tw.tensor(a)], 1), a, DT[dtype])


def test_concat_mixed_dtypes_and_errors(backend):
    out = tw.concat([tw.tensor([1, 2]), tw.tensor([0.5])], 0)
    check(out, np.array([1, 2, 0.5]), "float32")
    with pytest.raises(ValueError, match=r"concat: shapes \[\(2, 3\), \(3, 3\)\] differ"):
        tw.concat([tw.ones((2, 3)), tw.ones((3, 3))], 1)
    with pytest.raises(ValueError, match="concat"):
        tw.concat([tw.scalar(1.0), tw.scalar(2.0)])


def test_stack_unstack(backend):
    xs = [_x((2, 3), seed=i) for i in range(3)]
    for axis in (0, 1, 2, -1):
        check(tw.stack([tw.tensor(x) for x in xs], axis), np.stack(xs, axis), "float32")
    check(tw.stack([tw.scalar(1, "int32"), tw.scalar(2, "int32")]), np.array([1, 2]), "int32")
    x = _x((3, 2, 4))
    for axis in (0, 1, -1):
        parts = tw.unstack(tw.tensor(x), axis)
        expected = [np.take(x, i, axis) for i in range(x.shape[axis])]
        assert len(parts) == len(expected)
        for p, e in zip(parts, expected, strict=True):
            check(p, e, "float32")
    with pytest.raises(ValueError, match="stack: all shapes must match"):
        tw.stack([tw.ones((2,)), tw.ones((3,))])


def test_split(backend):
    x = _x((4, 6))
    for p, e in zip(tw.split(tw.tensor(x), 3, 1), np.split(x, 3, 1), strict=True):
        check(p, e, "float32")
    parts = tw.split(tw.tensor(x), [1, -1, 2], 0)
    for p, e in zip(parts, [x[:1], x[1:2], x[2:]], strict=True):
        check(p, e, "float32")
    parts = tw.split(tw.tensor(x), [0, 6], -1)
    check(parts[0], x[:, :0], "float32")
    with pytest.raises(ValueError, match="split: axis 1 of size 6 cannot be split into 4"):
        tw.split(tw.tensor(x), 4, 1)
    with pytest.raises(ValueError, match="do not add up"):
        tw.split(tw.tensor(x), [1, 2], 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_slice(backend, dtype):
    x = _x((3, 4, 5), dtype)
    check(tw.slice(tw.tensor(x), [1, 0, 2], [2, -1, 3]), x[1:3, :, 2:5], DT[dtype])
    check(tw.slice(tw.tensor(x), [1], [1]), x[1:2], DT[dtype])
    check(tw.slice(tw.tensor(x), 2), x[2:], DT[dtype])
    check(tw.slice(tw.tensor(x), [0, 4], [3, 0]), x[:, 4:4], DT[dtype])
    with pytest.raises(ValueError, match=r"slice: begin \[0, 3.*exceeds shape \(3, 4, 5\)"):
        tw.slice(tw.tensor(x), [0, 3], [1, 2])
    with pytest.raises(ValueError, match="slice: begin"):
        tw.slice(tw.tensor(x), [4])
    with pytest.raises(ValueError, match=r"slice: begin \[0, 0, 0, 0\].*at most 3 entries"):
        tw.slice(tw.tensor(x), [0, 0, 0, 0])


INDICES = [
    (1,),
    (-1,),
    (slice(None, None, -1),),
    (slice(1, None),),
    (Ellipsis, 1),
    (Ellipsis, slice(None, None, -2)),
    (None, 1),
    (slice(None), None, 2),
    (1, Ellipsis, None),
    (slice(-2, None), slice(None, None, 2), slice(3, 0, -1)),
    (slice(None, None, 3), -2, slice(4, None, -3)),
    (0, 0, 0),
    (slice(2, 1),),
    (Ellipsis,),
    (slice(10, -10, -1), slice(-10, 10)),
]


@pytest.mark.parametrize("index", INDICES, ids=str)
def test_getitem(backend, index):
    x = _x((3, 4, 5))
    check(tw.tensor(x)[index], x[index], "float32")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_property_getitem_matches_numpy(backend, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    index = data.draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True))
    check(tw.tensor(x)[index], x[index], "float32")


def test_getitem_int_lists_and_tensors_gather(backend):
    x = _x((4, 3))
    check(tw.tensor(x)[[2, 0, 2]], x[[2, 0, 2]], "float32")
    check(tw.tensor(x)[tw.tensor([3, 1], dtype="int32")], x[[3, 1]], "float32")
    check(tw.tensor(x)[np.array([[0], [1]])], x[np.array([[0], [1]])], "float32")


def test_getitem_errors(backend):
    t = tw.ones((2, 3))
    with pytest.raises(IndexError, match="index 2 is out of range for axis 0 of size 2"):
        t[2]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        t[..., ...]
    with pytest.raises(IndexError):
        t["a"]
    with pytest.raises(IndexError, match="boolean mask"):
        t[tw.tensor([True, False])]
    with pytest.raises(IndexError, match="boolean mask"):
        t[[True, False]]


def test_reverse(backend):
    x = _x((2, 3, 4))
    check(tw.reverse(tw.tensor(x)), x[::-1, ::-1, ::-1], "float32")
    check(tw.reverse(tw.tensor(x), 1), x[:, ::-1], "float32")
    check(tw.reverse(tw.tensor(x), [0, -1]), x[::-1, :, ::-1], "float32")
    check(tw.reverse(tw.zeros((0, 2)), 0), np.zeros((0, 2)), "float32")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_gather(backend, dtype):
    x = _x((3, 4, 2), dtype)
    idx = np.array([[2, 0], [1, 1]], np.int32)
    for axis in (0, 1, -1):
        ax = axis % 3
        i = idx % x.shape[ax]
        check(tw.gather(tw.tensor(x), tw.tensor(i), axis), np.take(x, i, axis), DT[dtype])
    check(tw.gather(tw.tensor(x), [3, 0, 0], 1), np.take(x, [3, 0, 0], 1), DT[dtype])
    check(tw.gather(tw.tensor(x), np.zeros(0, np.int32), 0), x[:0], DT[dtype])
    check(tw.gather(tw.tensor(x), 1, 0), x[1], DT[dtype])


def test_gather_errors(backend):
    with pytest.raises(IndexError, match=r"gather: indices must be in \[0, 3\).*from -1 to 0"):
        tw.gather(tw.ones((3, 2)), [0, -1])
    with pytest.raises(TypeError, match="gather: indices must be int32, got float32"):
        tw.gather(tw.ones((3, 2)), tw.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="gather: indices must be int32, got bool"):
        tw.gather(tw.ones((3, 2)), tw.tensor([True, False]))
    with pytest.raises(TypeError, match="gather: indices must be integers"):
        tw.gather(tw.ones((3, 2)), [0.5])
    with pytest.raises(TypeError, match="gather: indices must be integers, got bool"):
        tw.gather(tw.ones((3, 2)), [True, False])


def test_gather_nd(backend):
    x = _x((3, 4, 2))
    idx = np.array([[0, 1], [2, 3], [1, 0]], np.int32)
    check(tw.gather_nd(tw.tensor(x), tw.tensor(idx)), x[idx[:, 0], idx[:, 1]], "float32")
    idx3 = np.array([[[0, 1, 1]], [[2, 3, 0]]], np.int32)
    ref = x[idx3[..., 0], idx3[..., 1], idx3[..., 2]]
    check(tw.gather_nd(tw.tensor(x), idx3), ref, "float32")
    check(tw.gather_nd(tw.tensor(x), [[2]]), x[[2]], "float32")


def test_scatter_nd(backend):
    idx = np.array([[0, 1], [2, 0], [0, 1]], np.int32)
    upd = np.array([1.0, 2.0, 4.0], np.float32)
    ref = np.zeros((3, 2), np.float32)
    np.add.at(ref, (idx[:, 0], idx[:, 1]), upd)  # duplicates add up
    check(tw.scatter_nd(idx, tw.tensor(upd), (3, 2)), ref, "float32")
    rows = np.array([[1], [3]], np.int32)
    u = np.arange(6, dtype=np.int32).reshape(2, 3)
    ref = np.zeros((4, 3), np.int32)
    ref[[1, 3]] = u
    check(tw.scatter_nd(rows, tw.tensor(u), [4, 3]), ref, "int32")


def test_scatter_add(backend):
    u = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    idx = np.array([1, 1, 0], np.int32)
    ref = np.zeros((2, 4, 2), np.float32)
    np.add.at(ref, (slice(None), idx), u)
    check(tw.scatter_add(tw.tensor(u), tw.tensor(idx), 1, 4), ref, "float32")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_tile(backend, dtype):
    x = _x((2, 3), dtype)
    for reps in [(1, 1), (2, 1), (1, 3), (2, 2), (0, 2)]:
        check(tw.tile(tw.tensor(x), reps), np.tile(x, reps), DT[dtype])
    with pytest.raises(ValueError, match="tile: reps"):
        tw.tile(tw.tensor(x), (2,))


def test_pad(backend):
    x = _x((2, 3))
    pads = ((1, 0), (2, 3))
    check(tw.pad(tw.tensor(x), pads), np.pad(x, pads), "float32")
    check(tw.pad(tw.tensor(x), pads, 1.5), np.pad(x, pads, constant_values=1.5), "float32")
    xi = np.arange(3, dtype=np.int32)
    check(tw.pad(tw.tensor(xi), [(0, 2)], 7), np.pad(xi, (0, 2), constant_values=7), "int32")
    check(tw.pad(tw.zeros((0, 1)), [(1, 1), (0, 0)]), np.zeros((2, 1)), "float32")
    with pytest.raises(ValueError, match="pad: paddings"):
        tw.pad(tw.tensor(x), [(1, 1)])
    with pytest.raises(ValueError, match="pad"):
        tw.pad(tw.tensor(x), [(1, -1), (0, 0)])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_pad_reverse_stack_where_dtypes(backend, dtype):
    x = _x((2, 3), dtype, 5)
    pads = ((0, 1), (2, 0))
    check(tw.pad(tw.tensor(x), pads), np.pad(x, pads), DT[dtype])
    check(tw.reverse(tw.tensor(x), -1), x[:, ::-1], DT[dtype])
    check(tw.stack([tw.tensor(x), tw.tensor(x[::-1].copy())], 1), np.stack([x, x[::-1]], 1))
    c = np.array([True, False, True])
    y = _x((2, 3), dtype, 6)
    check(tw.where(tw.tensor(c), tw.tensor(x), tw.tensor(y)), np.where(c, x, y), DT[dtype])
    check(tw.split(tw.tensor(x), [2, 1], 1)[1], x[:, 2:], DT[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_broadcast_to(backend, dtype):
    x = _x((3, 1), dtype)
    for shape in [(3, 4), (2, 3, 1), (2, 3, 5), (3, 0)]:
        check(tw.broadcast_to(tw.tensor(x), shape), np.broadcast_to(x, shape), DT[dtype])
    check(tw.broadcast_to(tw.scalar(2, "int32"), (2, 2)), np.full((2, 2), 2), "int32")
    with pytest.raises(ValueError, match="broadcast_to"):
        tw.broadcast_to(tw.tensor(x), (2, 2))
    with pytest.raises(ValueError, match="broadcast_to"):
        tw.broadcast_to(tw.tensor(x), (3,))


CASTS = [
    ("float32", "int32", [-2.7, -0.5, 0.0, 1.9, 3.0]),
    ("float32", "bool", [-2.7, 0.0, 0.5]),
    ("int32", "float32", [-3, 0, 7]),
    ("int32", "bool", [-3, 0, 7]),
    ("bool", "float32", [True, False]),
    ("bool", "int32", [True, False]),
]


@pytest.mark.parametrize("src,dst,values", CASTS)
def test_cast(backend, src, dst, values):
    x = tw.tensor(values, dtype=src)
    ref = np.asarray(values, dtype=np.float64)
    if dst == "int32":
        ref = np.trunc(ref).astype(np.int32)  # toward zero, as TF.js
    elif dst == "bool":
        ref = ref != 0
    check(tw.cast(x, dst), ref, dst)
    check(x.astype(dst), ref, dst)


def test_cast_same_dtype_and_bad_dtype(backend):
    x = tw.tensor([1.0])
    check(tw.cast(x, "float32"), np.array([1.0]), "float32")
    with pytest.raises(TypeError, match="unsupported dtype"):
        tw.cast(x, "string")


def test_one_hot(backend):
    idx = np.array([[0, 2], [1, 5]], np.int32)
    ref = np.zeros((2, 2, 3), np.float32)
    for i in np.ndindex(idx.shape):
        if idx[i] < 3:
            ref[i + (idx[i],)] = 1
    check(tw.one_hot(tw.tensor(idx), 3), ref, "float32")
    check(tw.one_hot([0, -1, 1], 2, 5, -1, "int32"), np.array([[5, -1], [-1, -1], [-1, 5]]))
    check(
        tw.one_hot(tw.tensor([1, 0], dtype="int32"), 2, dtype="bool"),
        np.array([[0, 1], [1, 0]], bool),
    )
    with pytest.raises(TypeError, match="one_hot: indices must be int32"):
        tw.one_hot(tw.tensor([0.0]), 2)


def test_top_k(backend):
    x = np.array([[1.0, 5.0, 3.0, 5.0], [-1.0, -2.0, 0.0, 7.0]], np.float32)
    vals, idx = tw.top_k(tw.tensor(x), 3)
    ref_idx = np.array([[1, 3, 2], [3, 2, 0]])  # ties: the lower index first
    check(idx, ref_idx, "int32")
    check(vals, np.take_along_axis(x, ref_idx, 1), "float32")
    v1, i1 = tw.top_k(tw.tensor(x[0]))
    check(v1, np.array([5.0]), "float32")
    check(i1, np.array([1]), "int32")
    v0, i0 = tw.top_k(tw.tensor(x), 0)
    assert v0.shape == (2, 0) and i0.shape == (2, 0)
    vi, ii = tw.top_k(tw.tensor([3, 9, -2], dtype="int32"), 2)
    check(vi, np.array([9, 3]), "int32")
    check(ii, np.array([1, 0]), "int32")
    with pytest.raises(ValueError, match="top_k"):
        tw.top_k(tw.tensor(x), 5)


def test_top_k_with_infinities(backend):
    x = np.array([-np.inf, 1.0, -np.inf], np.float32)
    vals, idx = tw.top_k(tw.tensor(x), 3)
    check(idx, np.array([1, 0, 2]), "int32")
    check(vals, np.array([1.0, -np.inf, -np.inf]), "float32")
