"""The TF.js core ops added for issue 21 item 2 (the non-elementwise ones) on every backend,
against numpy references written here (loops over TF.js's formulas where numpy has no
function), their argument and index errors, gradients by central differences for the
composites TF.js differentiates, and their docstrings (Keras style, examples run)."""

from __future__ import annotations

import doctest
import importlib
import itertools

import numpy as np
import pytest
from _oracle import check, check_grads

import engine as tw

EXTRA_MODULES = [
    "engine.ops.accumulate",
    "engine.ops.contraction",
    "engine.ops.image",
    "engine.ops.layout",
    "engine.ops.matrix",
    "engine.ops.random_ops",
    "engine.ops.search",
    "engine.ops.segment",
]


def _rand(shape, seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)


def _i32(a):
    return tw.tensor(np.asarray(a, dtype=np.int32), dtype="int32")


# --- einsum -------------------------------------------------------------------------------------
EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("bij,bkj->bik", [(2, 2, 3), (2, 4, 3)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,jk", [(2, 3), (3, 2)]),  # implicit output: ik
    ("abc,cd->dba", [(2, 3, 4), (4, 2)]),
    ("ij,k->i", [(2, 3), (4,)]),  # letters only one side has, dropped from the output
    ("ij->ji", [(2, 3)]),
    ("ijk->k", [(2, 3, 4)]),
    ("ij->", [(3, 3)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
]


@pytest.mark.parametrize(
    "eq,shapes", EINSUM_CASES, ids=[c[0] + str(i) for i, c in enumerate(EINSUM_CASES)]
)
def test_einsum_matches_numpy(backend, eq, shapes):
    xs = [_rand(s, i) for i, s in enumerate(shapes)]
    out = tw.einsum(eq, *[tw.tensor(x) for x in xs])
    check(out, np.einsum(eq, *[x.astype(np.float64) for x in xs]), "float32", rtol=1e-5, atol=1e-5)


def test_einsum_gradients(backend):
    check_grads(
        lambda a, b: tw.einsum("bij,bkj->bik", a, b), _rand((2, 2, 3), 1), _rand((2, 4, 3), 2)
    )
    check_grads(lambda a, b: tw.einsum("ij,k->i", a, b), _rand((2, 3), 3), _rand((4,), 4))


@pytest.mark.parametrize(
    "eq,shapes,err",
    [
        ("...i,i->", [(2, 3), (3,)], "ellipsis"),
        ("ii->i", [(3, 3)], "repeated"),
        ("ij,jk,kl->il", [(2, 2)] * 3, "one or two"),
        ("ij,jk->ik", [(2, 3), (4, 2)], "sizes 3 and 4"),
        ("ijk,jk->i", [(2, 3), (3, 2)], "has 3 subscripts"),
        ("ij->iz", [(2, 3)], "appear in no operand"),
        ("ij,jk->ik", [(2, 3)], "names 2 operand"),
    ],
)
def test_einsum_rejects(backend, eq, shapes, err):
    with pytest.raises(ValueError, match=err):
        tw.einsum(eq, *[tw.ones(s) for s in shapes])


# --- cumprod, add_n, euclidean_norm, moving_average ---------------------------------------------
def _np_cumprod(x, axis, exclusive, reverse):
    x = np.moveaxis(x.astype(np.float64), axis, -1)
    if reverse:
        x = x[..., ::-1]
    if exclusive:
        x = np.concatenate([np.ones_like(x[..., :1]), x[..., :-1]], -1)
    y = np.cumprod(x, -1)
    if reverse:
        y = y[..., ::-1]
    return np.moveaxis(y, -1, axis)


@pytest.mark.parametrize("exclusive,reverse", list(itertools.product([False, True], repeat=2)))
def test_cumprod_matches_numpy(backend, exclusive, reverse):
    x = _rand((3, 7), 5, -2, 2)
    x[1, 3] = 0.0  # a zero: exact, no log/exp
    for axis in (0, 1, -1):
        out = tw.cumprod(tw.tensor(x), axis, exclusive, reverse)
        check(out, _np_cumprod(x, axis, exclusive, reverse), "float32", rtol=1e-5, atol=1e-6)
    xi = np.array([[1, -2, 3, 2], [2, 0, 5, 1]], np.int32)
    out = tw.cumprod(tw.tensor(xi, dtype="int32"), 1, exclusive, reverse)
    check(out, _np_cumprod(xi, 1, exclusive, reverse).astype(np.int32), "int32")


def test_cumprod_gradient_with_a_zero(backend):
    x = _rand((2, 5), 6, 0.5, 1.5)
    x[0, 2] = 0.0
    check_grads(lambda t: tw.cumprod(t, 1), x)
    check_grads(lambda t: tw.cumprod(t, 1, exclusive=True, reverse=True), x)


def test_add_n_euclidean_norm_moving_average(backend):
    xs = [_rand((2, 3), i) for i in range(4)]
    check(
        tw.add_n([tw.tensor(x) for x in xs]),
        np.sum([x.astype(np.float64) for x in xs], 0),
        "float32",
    )
    with pytest.raises(ValueError, match="empty"):
        tw.add_n([])
    with pytest.raises(ValueError, match="tensor 1 has"):
        tw.add_n([tw.ones([2]), tw.ones([3])])
    x = _rand((3, 4), 9)
    check(
        tw.euclidean_norm(tw.tensor(x), 1), np.linalg.norm(x.astype(np.float64), axis=1), "float32"
    )
    check(
        tw.euclidean_norm(tw.tensor([[3, 4]], dtype="int32"), None, keepdims=True),
        [[5.0]],
        "float32",
    )
    v, n = _rand((3,), 1), _rand((3,), 2)
    d, step = 0.9, 3
    plain = v + (n - v) * (1 - d)
    check(tw.moving_average(tw.tensor(v), tw.tensor(n), d, zero_debias=False), plain, "float32")
    debiased = v + (n - v) * (1 - d) / (1 - d**step)
    check(tw.moving_average(tw.tensor(v), tw.tensor(n), d, step), debiased, "float32", rtol=1e-5)
    with pytest.raises(ValueError, match="needs step"):
        tw.moving_average(tw.tensor(v), tw.tensor(n), d)


# --- layout: meshgrid, diag, mirror_pad, space/batch/depth, ensure_shape ------------------------
@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_meshgrid_matches_numpy(backend, indexing):
    vs = [_rand((n,), n) for n in (2, 3, 4)]
    for k in (1, 2, 3):
        got = tw.meshgrid(*[tw.tensor(v) for v in vs[:k]], indexing=indexing)
        exp = np.meshgrid(*vs[:k], indexing=indexing)
        assert len(got) == k
        for g, e in zip(got, exp, strict=True):
            check(g, e, "float32")
    with pytest.raises(ValueError, match="indexing"):
        tw.meshgrid(tw.ones([2]), indexing="yx")


def test_diag_matches_numpy(backend):
    check(tw.diag(tw.tensor([1.0, -2.0, 3.0])), np.diag([1.0, -2.0, 3.0]), "float32")
    x = _rand((2, 3), 4)
    exp = np.zeros((2, 3, 2, 3))
    for i, j in np.ndindex(2, 3):
        exp[i, j, i, j] = x[i, j]
    check(tw.diag(tw.tensor(x)), exp, "float32")
    check(tw.diag(tw.tensor(np.array([True, False]))), np.diag([True, False]), "bool")
    with pytest.raises(ValueError, match="rank >= 1"):
        tw.diag(tw.scalar(1.0))
    check_grads(tw.diag, _rand((3,), 5))


@pytest.mark.parametrize("mode", ["reflect", "symmetric"])
def test_mirror_pad_matches_numpy(backend, mode):
    x = _rand((3, 4), 7)
    most = 3 if mode == "symmetric" else 2
    for pads in ([[1, 2], [0, 3]], [[most, 0], [2, 1]], [[0, 0], [0, 0]]):
        out = tw.mirror_pad(tw.tensor(x), pads, mode)
        check(out, np.pad(x, pads, mode=mode), "float32")
    with pytest.raises(ValueError, match="out of range"):
        tw.mirror_pad(tw.tensor(x), [[most + 1, 0], [0, 0]], mode)
    with pytest.raises(ValueError, match="mode"):
        tw.mirror_pad(tw.tensor(x), [[1, 1], [1, 1]], "edge")
    with pytest.raises(ValueError, match="scalar"):
        tw.mirror_pad(tw.scalar(1.0), [], mode)
    check_grads(lambda t: tw.mirror_pad(t, [[2, 1], [1, 2]], mode), x)


def _np_space_to_batch(x, block, pads):
    m = len(block)
    p = np.pad(x, [(0, 0), *pads] + [(0, 0)] * (x.ndim - 1 - m))
    b = x.shape[0]
    grid = [p.shape[1 + i] // block[i] for i in range(m)]
    out = np.zeros((b * int(np.prod(block)), *grid, *x.shape[1 + m :]), x.dtype)
    for k, off in enumerate(np.ndindex(*block)):
        for n in range(b):
            sl = tuple(slice(off[i], None, block[i]) for i in range(m))
            out[k * b + n] = p[n][sl]
    return out


@pytest.mark.parametrize(
    "shape,block,pads",
    [
        ((2, 4, 6, 3), [2, 3], [[0, 0], [0, 0]]),
        ((1, 3, 5, 2), [2, 2], [[1, 0], [0, 1]]),
        ((3, 5, 2), [5], [[0, 0]]),
        ((2, 2, 3, 2, 1), [2, 1], [[0, 0], [1, 2]]),
    ],
)
def test_space_to_batch_and_back(backend, shape, block, pads):
    x = _rand(shape, 8)
    out = tw.space_to_batch_nd(tw.tensor(x), block, pads)
    check(out, _np_space_to_batch(x, block, pads), "float32")
    back = tw.batch_to_space_nd(out, block, pads)
    check(back, x, "float32")


def test_space_batch_errors_and_gradient(backend):
    with pytest.raises(ValueError, match="not divisible"):
        tw.space_to_batch_nd(tw.ones([1, 3, 3, 1]), [2, 2], [[0, 0], [0, 0]])
    with pytest.raises(ValueError, match="not divisible"):
        tw.batch_to_space_nd(tw.ones([3, 1, 1, 1]), [2, 2], [[0, 0], [0, 0]])
    with pytest.raises(ValueError, match="exceed"):
        tw.batch_to_space_nd(tw.ones([4, 1, 1, 1]), [2, 2], [[2, 1], [0, 0]])
    check_grads(lambda t: tw.space_to_batch_nd(t, [2, 2], [[1, 1], [0, 0]]), _rand((1, 2, 4, 1), 9))
    check_grads(
        lambda t: tw.batch_to_space_nd(t, [2, 1], [[1, 0], [0, 0]]), _rand((2, 2, 2, 1), 10)
    )


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
def test_depth_to_space_matches_loops(backend, fmt):
    b, h, w, s, c2 = 2, 2, 3, 2, 3
    x = _rand((b, h, w, s * s * c2), 11)
    exp = np.zeros((b, h * s, w * s, c2), np.float32)
    for n, i, j, di, dj, k in np.ndindex(b, h, w, s, s, c2):
        exp[n, i * s + di, j * s + dj, k] = x[n, i, j, (di * s + dj) * c2 + k]
    if fmt == "NCHW":
        x, exp = x.transpose(0, 3, 1, 2), exp.transpose(0, 3, 1, 2)
    check(tw.depth_to_space(tw.tensor(np.ascontiguousarray(x)), s, fmt), exp, "float32")
    with pytest.raises(ValueError, match="divisible"):
        tw.depth_to_space(tw.ones([1, 1, 1, 6]), 2)
    with pytest.raises(ValueError, match=">= 2"):
        tw.depth_to_space(tw.ones([1, 1, 1, 4]), 1)


def test_ensure_shape(backend):
    x = tw.ones([2, 3])
    assert tw.ensure_shape(x, [2, 3]) is x
    assert tw.ensure_shape(x, [None, -1]) is x
    with pytest.raises(ValueError, match=r"\(2, 3\) is not compatible"):
        tw.ensure_shape(x, [3, None])
    with pytest.raises(ValueError, match="not compatible"):
        tw.ensure_shape(x, [2, 3, 1])


# --- search: unique, argwhere, boolean_mask, search_sorted, in_top_k ----------------------------
def _np_unique_first(rows):
    seen, values, inv = {}, [], []
    for r in rows:
        key = tuple(np.atleast_1d(r).tolist())
        if key not in seen:
            seen[key] = len(values)
            values.append(r)
        inv.append(seen[key])
    return np.array(values), np.array(inv, np.int32)


def test_unique_matches_first_occurrence_order(backend):
    x = np.array([4, 1, 4, 3, 1, 1, 9], np.int32)
    values, idx = tw.unique(tw.tensor(x, dtype="int32"))
    ev, ei = _np_unique_first(x)
    check(values, ev, "int32")
    check(idx, ei, "int32")
    f = np.array([0.5, -0.0, 0.0, 0.5, 2.0], np.float32)  # -0.0 and 0.0 are one value
    values, idx = tw.unique(tw.tensor(f))
    check(values, [0.5, -0.0, 2.0], "float32")
    check(idx, [0, 1, 1, 0, 2], "int32")
    values, idx = tw.unique(tw.tensor([np.nan, 1.0, np.nan]))  # one NaN, as TF.js
    check(values, [np.nan, 1.0], "float32")
    check(idx, [0, 1, 0], "int32")
    m = np.array([[1, 0, 1, 2], [3, 5, 3, 4]], np.float32)
    values, idx = tw.unique(tw.tensor(m), axis=1)
    ev, ei = _np_unique_first(m.T)
    check(values, ev.T, "float32")
    check(idx, ei, "int32")
    check(tw.gather(values, idx, 1), m, "float32")  # the indices rebuild x
    with pytest.raises(ValueError, match="rank >= 1"):
        tw.unique(tw.scalar(1.0))


def test_argwhere_and_boolean_mask(backend):
    c = np.array([[True, False, True], [False, False, True]])
    check(tw.argwhere(tw.tensor(c)), np.argwhere(c).astype(np.int32), "int32")
    check(tw.where_async(tw.tensor([0.0, 2.0, 0.0])), [[1]], "int32")
    check(tw.argwhere(tw.zeros([2, 2])), np.zeros((0, 2), np.int32), "int32")
    x = _rand((2, 2, 3, 2), 12)
    mask = np.array([[True, False, True], [False, True, True]])
    got = tw.boolean_mask(tw.tensor(x), tw.tensor(mask), axis=1)
    exp = x.reshape(2, 6, 2)[:, mask.reshape(-1)]
    check(got, exp, "float32")
    check(
        tw.boolean_mask(tw.tensor([1, 2, 3]), tw.tensor([False, False, False])),
        np.zeros(0),
        "float32",
    )
    with pytest.raises(ValueError, match="must match"):
        tw.boolean_mask(tw.tensor(x), tw.tensor(mask), axis=0)
    m1 = tw.tensor(np.array([True, False, True]))
    check_grads(lambda t: tw.boolean_mask(t, m1, axis=1), _rand((2, 3), 13))


@pytest.mark.parametrize("side", ["left", "right"])
def test_search_sorted_matches_numpy(backend, side):
    seq = np.sort(np.round(_rand((3, 6), 14, -2, 2), 1), axis=1)
    vals = np.round(_rand((3, 5), 15, -2.5, 2.5), 1)
    vals[:, 0] = seq[:, 2]  # exact hits, where left and right differ
    exp = np.stack([np.searchsorted(s, v, side=side) for s, v in zip(seq, vals, strict=True)])
    check(tw.search_sorted(tw.tensor(seq), tw.tensor(vals), side), exp.astype(np.int32), "int32")
    fn = tw.lower_bound if side == "left" else tw.upper_bound
    s1, v1 = np.array([1, 3, 3, 7], np.int32), np.array([0, 3, 8, 5], np.int32)
    exp1 = np.searchsorted(s1, v1, side=side).astype(np.int32)
    check(fn(tw.tensor(s1, dtype="int32"), tw.tensor(v1, dtype="int32")), exp1, "int32")
    with pytest.raises(ValueError, match="leading shapes"):
        tw.search_sorted(tw.ones([2, 3]), tw.ones([3, 3]), side)
    with pytest.raises(ValueError, match="side"):
        tw.search_sorted(tw.ones([3]), tw.ones([3]), "middle")


def _np_in_top_k(p, t, k):
    out = np.zeros(t.shape, bool)
    for i in np.ndindex(t.shape):
        order = sorted(range(p.shape[-1]), key=lambda j: -p[i][j])  # stable, as JS sort
        out[i] = t[i] in order[:k]
    return out


def test_in_top_k_matches_stable_sort(backend):
    p = np.round(_rand((4, 3, 5), 16, 0, 1), 1)  # rounding makes ties
    p[0, 0] = 0.5
    t = np.random.default_rng(17).integers(0, 5, size=(4, 3)).astype(np.int32)
    for k in (1, 2, 5):
        check(
            tw.in_top_k(tw.tensor(p), tw.tensor(t, dtype="int32"), k), _np_in_top_k(p, t, k), "bool"
        )
    with pytest.raises(IndexError, match="in_top_k"):
        tw.in_top_k(tw.tensor(p), tw.tensor(np.full((4, 3), 5, np.int32), dtype="int32"), 1).numpy()
    with pytest.raises(ValueError, match="k must be"):
        tw.in_top_k(tw.tensor(p), tw.tensor(t, dtype="int32"), 6)


# --- segment: unsorted_segment_sum, bincount, dense_bincount, tensor_scatter_update -------------
def test_unsorted_segment_sum(backend):
    x = _rand((5, 3), 18)
    ids = np.array([2, 0, 2, 3, 0], np.int32)
    exp = np.zeros((4, 3))
    np.add.at(exp, ids, x.astype(np.float64))
    check(tw.unsorted_segment_sum(tw.tensor(x), _i32(ids), 4), exp, "float32")
    x2 = _rand((2, 3, 2), 19)
    ids2 = np.array([[0, 1, 1], [2, 0, 1]], np.int32)
    exp2 = np.zeros((3, 2))
    np.add.at(exp2, ids2.reshape(-1), x2.reshape(6, 2).astype(np.float64))
    check(tw.unsorted_segment_sum(tw.tensor(x2), _i32(ids2), 3), exp2, "float32")
    xi = np.array([1, 2, 3], np.int32)
    check(
        tw.unsorted_segment_sum(tw.tensor(xi, dtype="int32"), _i32([1, 1, 0]), 2), [3, 3], "int32"
    )
    with pytest.raises(IndexError, match="unsorted_segment_sum"):
        tw.unsorted_segment_sum(tw.tensor(x), _i32([0, 1, 4, 0, 0]), 4).numpy()
    with pytest.raises(IndexError, match="negative"):
        tw.unsorted_segment_sum(tw.tensor(x), _i32([0, -1, 0, 0, 0]), 4).numpy()
    with pytest.raises(ValueError, match="leading"):
        tw.unsorted_segment_sum(tw.tensor(x), _i32([0, 1]), 4)
    with pytest.raises(ValueError, match="num_segments 1000000000000 exceeds 2147483647"):
        tw.unsorted_segment_sum(tw.tensor(x), _i32(ids), 10**12)
    check_grads(lambda t: tw.unsorted_segment_sum(t, _i32(ids), 4), x)


def test_bincount_and_dense_bincount(backend):
    x = np.array([1, 1, 4, 0, 7, 4, 1], np.int32)  # 7 >= size: ignored, as TF.js
    w = _rand((7,), 20)
    size = 6
    counts = np.bincount(x[x < size], minlength=size)
    weighted = np.bincount(x[x < size], weights=w[x < size].astype(np.float64), minlength=size)
    check(tw.bincount(_i32(x), None, size), counts.astype(np.float32), "float32")
    check(tw.bincount(_i32(x), tw.tensor(w), size), weighted, "float32")
    check(
        tw.bincount(_i32(x), tw.tensor([], dtype="int32"), size), counts.astype(np.int32), "int32"
    )
    check(
        tw.bincount(
            _i32(
                [],
            ),
            None,
            3,
        ),
        np.zeros(3),
        "float32",
    )
    m = np.array([[0, 2, 2, 9], [3, 3, 3, 1]], np.int32)
    dense = np.stack([np.bincount(r[r < 4], minlength=4) for r in m]).astype(np.float32)
    check(tw.dense_bincount(_i32(m), None, 4), dense, "float32")
    check(
        tw.dense_bincount(_i32(m), None, 4, binary_output=True),
        (dense > 0).astype(np.float32),
        "float32",
    )
    mw = np.arange(8, dtype=np.float32).reshape(2, 4)
    expw = np.zeros((2, 4))
    for r, c in np.ndindex(2, 4):
        if m[r, c] < 4:
            expw[r, m[r, c]] += mw[r, c]
    check(tw.dense_bincount(_i32(m), tw.tensor(mw), 4), expw, "float32")
    check(tw.dense_bincount(_i32(x), None, size), counts.astype(np.float32), "float32")
    with pytest.raises(IndexError, match="non-negative"):
        tw.bincount(_i32([1, -3]), None, 4)
    with pytest.raises(ValueError, match="rank 1"):
        tw.bincount(_i32(m), None, 4)
    with pytest.raises(ValueError, match="shape of x"):
        tw.bincount(_i32(x), tw.ones([3]), 4)


def _np_scatter_update(x, idx, upd):
    out = x.copy()
    k = idx.shape[-1]
    for pos in np.ndindex(idx.shape[:-1]):
        out[tuple(idx[pos])] = upd[pos]  # in order: the last write wins
    del k
    return out


def test_tensor_scatter_update(backend):
    x = _rand((4, 3), 21)
    idx = np.array([[1], [3], [1]], np.int32)
    upd = _rand((3, 3), 22)
    check(
        tw.tensor_scatter_update(tw.tensor(x), _i32(idx), tw.tensor(upd)),
        _np_scatter_update(x, idx, upd),
        "float32",
    )
    idx2 = np.array([[[0, 2], [3, 1]], [[0, 2], [2, 0]]], np.int32)
    upd2 = _rand((2, 2), 23)
    check(
        tw.tensor_scatter_update(tw.tensor(x), _i32(idx2), tw.tensor(upd2)),
        _np_scatter_update(x, idx2, upd2),
        "float32",
    )
    xb = np.array([True, False, True])
    got = tw.tensor_scatter_update(
        tw.tensor(xb), _i32([[0], [1]]), tw.tensor(np.array([False, True]))
    )
    check(got, [False, True, True], "bool")
    with pytest.raises(IndexError, match="tensor_scatter_update"):
        tw.tensor_scatter_update(tw.tensor(x), _i32([[4]]), tw.tensor(upd[:1])).numpy()
    with pytest.raises(ValueError, match="updates must have shape"):
        tw.tensor_scatter_update(tw.tensor(x), _i32(idx), tw.ones([3, 2]))
    with pytest.raises(TypeError, match="dtype"):
        tw.tensor_scatter_update(tw.tensor(x), _i32(idx), tw.ones([3, 3], dtype="int32"))
    i = _i32(idx)
    check_grads(lambda a, b: tw.tensor_scatter_update(a, i, b), x, upd)


def test_tensor_scatter_update_many_duplicates_on_the_host_path(backend):
    rng = np.random.default_rng(24)
    idx = rng.integers(0, 50, size=(2100, 1)).astype(np.int32)  # > 2048: host dedup
    upd = rng.uniform(-1, 1, size=2100).astype(np.float32)
    x = np.zeros(50, np.float32)
    check(
        tw.tensor_scatter_update(tw.tensor(x), _i32(idx), tw.tensor(upd)),
        _np_scatter_update(x, idx, upd),
        "float32",
    )


# --- random ------------------------------------------------------------------------------------
def test_random_ops_seeded_and_distributed(backend):
    a = tw.random_uniform_int([4000], -3, 4, seed=5)
    b = tw.random_uniform_int([4000], -3, 4, seed=5)
    assert a.dtype == "int32" and a.tolist() == b.tolist()
    assert sorted(set(a.tolist())) == list(range(-3, 4))
    with tw.backend_scope("numpy"):
        ref = tw.random_uniform_int([4000], -3, 4, seed=5).tolist()
    assert a.tolist() == ref  # drawn on the host: one seed, one sequence on every backend
    n = tw.random_standard_normal([20000], seed=6).numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    g = tw.random_gamma([20000], 0.5, 2.0, seed=7).numpy()
    assert g.dtype == np.float32 and (g >= 0).all()
    assert abs(g.mean() - 1.0) < 0.05 and abs(g.var() - 2.0) < 0.2  # mean a*b, var a*b^2
    gi = tw.random_gamma([10], 3.0, dtype="int32", seed=8)
    assert gi.dtype == "int32"
    tw.set_seed(3)
    first = tw.random_gamma([5], 2.0).tolist()
    tw.set_seed(3)
    assert tw.random_gamma([5], 2.0).tolist() == first
    tw.set_seed(None)
    with pytest.raises(ValueError, match="greater than minval"):
        tw.random_uniform_int([2], 3, 3)
    with pytest.raises(ValueError, match="must be > 0"):
        tw.random_gamma([2], 0.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        tw.random_standard_normal([2], dtype="int32")


def test_random_ops_draw_afresh_in_replayed_traces(backend):
    """They draw on the host at each call: a replayed trace must not fold them into
    constants (engine.trace.EFFECT_KERNELS lists them)."""
    from engine import trace

    def step(x):
        u = tw.cast(tw.random_uniform_int([64], 0, 1 << 30), "float32")
        return x + tw.random_gamma([64], 2.0) + tw.random_standard_normal([64]) + u

    x = tw.zeros([64])
    tw.set_seed(11)
    try:
        first, tr, reason, _ = trace.capture(step, [x])
        assert tr is not None, reason
        a, b = tr.replay([x]), tr.replay([x])
    finally:
        tw.set_seed(None)
    assert not np.array_equal(a.numpy(), first.numpy())
    assert not np.array_equal(a.numpy(), b.numpy())


# --- image -------------------------------------------------------------------------------------
def _np_resize_bilinear(img, nh, nw, align, half):
    b, h, w, c = img.shape
    out = np.zeros((b, nh, nw, c))
    eh = h - 1 if align and nh > 1 else h
    ew = w - 1 if align and nw > 1 else w
    sh = eh / (nh - 1 if align and nh > 1 else nh)
    sw = ew / (nw - 1 if align and nw > 1 else nw)
    for r in range(nh):
        fr = sh * (r + 0.5) - 0.5 if half else sh * r
        r0 = max(0, int(np.floor(fr)))
        r1 = min(h - 1, int(np.ceil(fr)))
        dr = fr - r0
        for q in range(nw):
            fq = sw * (q + 0.5) - 0.5 if half else sw * q
            q0 = max(0, int(np.floor(fq)))
            q1 = min(w - 1, int(np.ceil(fq)))
            dq = fq - q0
            top = img[:, r0, q0] + (img[:, r0, q1] - img[:, r0, q0]) * dq
            bot = img[:, r1, q0] + (img[:, r1, q1] - img[:, r1, q0]) * dq
            out[:, r, q] = top + (bot - top) * dr
    return out


def _np_resize_nearest(img, nh, nw, align, half):
    b, h, w, c = img.shape

    def src(old, new, i):
        e_in = old - 1 if align and new > 1 else old
        e_out = new - 1 if align and new > 1 else new
        f = e_in / e_out * (i + 0.5 if half else i)
        j = min(old - 1, int(np.floor(f + 0.5)) if align else int(np.floor(f)))
        return max(0, j) if half else j

    out = np.zeros((b, nh, nw, c), img.dtype)
    for r, q in np.ndindex(nh, nw):
        out[:, r, q] = img[:, src(h, nh, r), src(w, nw, q)]
    return out


FLAGS = [(False, False), (True, False), (False, True)]


@pytest.mark.parametrize("align,half", FLAGS)
def test_resizes_match_tfjs_formulas(backend, align, half):
    img = _rand((2, 3, 4, 2), 25)
    for nh, nw in ((5, 7), (2, 3), (1, 1), (6, 2)):
        got = tw.image.resize_bilinear(tw.tensor(img), [nh, nw], align, half)
        check(
            got,
            _np_resize_bilinear(img.astype(np.float64), nh, nw, align, half),
            "float32",
            atol=1e-5,
        )
        got = tw.image.resize_nearest_neighbor(tw.tensor(img), [nh, nw], align, half)
        check(got, _np_resize_nearest(img, nh, nw, align, half), "float32")
    single = tw.image.resize_bilinear(tw.tensor(img[0]), [5, 7], align, half)
    check(
        single,
        _np_resize_bilinear(img[:1].astype(np.float64), 5, 7, align, half)[0],
        "float32",
        atol=1e-5,
    )
    ints = tw.tensor(np.arange(8, dtype=np.int32).reshape(1, 2, 4, 1), dtype="int32")
    assert tw.image.resize_bilinear(ints, [3, 3], align, half).dtype == "float32"
    assert tw.image.resize_nearest_neighbor(ints, [3, 3], align, half).dtype == "int32"


def test_resize_errors_and_gradient(backend):
    with pytest.raises(ValueError, match="align_corners=False"):
        tw.image.resize_bilinear(tw.ones([1, 2, 2, 1]), [3, 3], True, True)
    with pytest.raises(ValueError, match="rank 3 or 4"):
        tw.image.resize_nearest_neighbor(tw.ones([2, 2]), [3, 3])
    with pytest.raises(ValueError, match="size"):
        tw.image.resize_bilinear(tw.ones([1, 2, 2, 1]), [0, 3])
    check_grads(
        lambda t: tw.image.resize_bilinear(t, [3, 5], half_pixel_centers=True),
        _rand((1, 2, 3, 1), 26),
    )
    img = _rand((2, 2, 3, 2), 27)
    check(tw.image.flip_left_right(tw.tensor(img)), img[:, :, ::-1], "float32")


def _np_crop_and_resize(img, boxes, ind, ch, cw, method, extrap):
    _, h, w, c = img.shape
    out = np.zeros((len(boxes), ch, cw, c))
    for n, (y1, x1, y2, x2) in enumerate(boxes.astype(np.float64)):
        im = img[ind[n]].astype(np.float64)
        hs = (y2 - y1) * (h - 1) / (ch - 1) if ch > 1 else 0
        ws = (x2 - x1) * (w - 1) / (cw - 1) if cw > 1 else 0
        for y in range(ch):
            yi = y1 * (h - 1) + y * hs if ch > 1 else 0.5 * (y1 + y2) * (h - 1)
            for x in range(cw):
                xi = x1 * (w - 1) + x * ws if cw > 1 else 0.5 * (x1 + x2) * (w - 1)
                if yi < 0 or yi > h - 1 or xi < 0 or xi > w - 1:
                    out[n, y, x] = extrap
                elif method == "nearest":
                    out[n, y, x] = im[int(np.floor(yi + 0.5)), int(np.floor(xi + 0.5))]
                else:
                    t, b_ = int(np.floor(yi)), int(np.ceil(yi))
                    lft, rgt = int(np.floor(xi)), int(np.ceil(xi))
                    top = im[t, lft] + (im[t, rgt] - im[t, lft]) * (xi - lft)
                    bot = im[b_, lft] + (im[b_, rgt] - im[b_, lft]) * (xi - lft)
                    out[n, y, x] = top + (bot - top) * (yi - t)
    return out


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_crop_and_resize_matches_tfjs_formula(backend, method):
    img = _rand((2, 5, 6, 2), 28)
    boxes = np.array(
        [[0.0, 0.0, 1.0, 1.0], [0.1, 0.2, 0.7, 0.9], [0.8, 0.6, 0.2, 0.1], [-0.2, 0.3, 0.5, 1.3]],
        np.float32,
    )
    ind = np.array([0, 1, 1, 0], np.int32)
    for ch, cw in ((3, 4), (1, 2), (1, 1)):
        got = tw.image.crop_and_resize(
            tw.tensor(img), tw.tensor(boxes), _i32(ind), [ch, cw], method, -1.0
        )
        check(got, _np_crop_and_resize(img, boxes, ind, ch, cw, method, -1.0), "float32", atol=1e-5)
    with pytest.raises(IndexError, match="box_ind"):
        tw.image.crop_and_resize(
            tw.tensor(img), tw.tensor(boxes), _i32([0, 1, 2, 0]), [2, 2], method
        )
    b, i = tw.tensor(boxes[1:3]), _i32(ind[1:3])
    check_grads(lambda t: tw.image.crop_and_resize(t, b, i, [2, 3], method), img)


# --- linalg ------------------------------------------------------------------------------------
def test_band_part_matches_numpy(backend):
    a = _rand((2, 4, 5), 29)
    for lo, hi in ((0, -1), (-1, 0), (0, 0), (1, 2), (-1, -1), (3, 0)):
        i, j = np.arange(4)[:, None], np.arange(5)[None, :]
        keep = ((lo < 0) | (i - j <= lo)) & ((hi < 0) | (j - i <= hi))
        check(tw.linalg.band_part(tw.tensor(a), lo, hi), np.where(keep, a, 0), "float32")
    with pytest.raises(ValueError, match="num_lower"):
        tw.linalg.band_part(tw.tensor(a), 5, 0)
    check_grads(lambda t: tw.linalg.band_part(t, 1, 0), a[0])


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)])
@pytest.mark.parametrize("full", [False, True])
def test_qr_factors(backend, shape, full):
    x = _rand(shape, 30)
    q, r = tw.linalg.qr(tw.tensor(x), full_matrices=full)
    m, n = shape[-2:]
    k = m if full else min(m, n)
    assert q.shape == shape[:-2] + (m, k) and r.shape == shape[:-2] + (k, n)
    qn, rn = q.numpy().astype(np.float64), r.numpy().astype(np.float64)
    np.testing.assert_allclose(qn @ rn, x, atol=1e-5)
    np.testing.assert_allclose(
        np.swapaxes(qn, -1, -2) @ qn, np.broadcast_to(np.eye(k), qn.shape[:-2] + (k, k)), atol=1e-5
    )
    np.testing.assert_allclose(np.tril(rn, -1), 0, atol=1e-6)
    # the factors are unique up to the signs of r's rows: compare with LAPACK's that way
    # (the first min(m, n) of them; further columns of a full q only span the complement)
    nq, nr = np.linalg.qr(x.astype(np.float64), mode="complete" if full else "reduced")
    d = min(m, n)
    sg = np.sign(np.diagonal(rn, axis1=-2, axis2=-1)) * np.sign(np.diagonal(nr, axis1=-2, axis2=-1))
    np.testing.assert_allclose(rn[..., :d, :], sg[..., :, None] * nr[..., :d, :], atol=2e-5)
    np.testing.assert_allclose(rn[..., d:, :], 0, atol=1e-6)
    np.testing.assert_allclose(qn[..., :, :d], nq[..., :, :d] * sg[..., None, :], atol=2e-5)
    with pytest.raises(ValueError, match="rank >= 2"):
        tw.linalg.qr(tw.ones([3]))


def test_qr_sign_convention_zero_column_and_gradient(backend):
    q, r = tw.linalg.qr(tw.tensor([[3.0, 1.0], [4.0, 2.0]]))
    check(r, [[-5.0, -2.2], [0.0, -0.4]], "float32", atol=1e-6)  # TF.js reflects the last pivot
    check(q, [[-0.6, 0.8], [-0.8, -0.6]], "float32", atol=1e-6)
    z = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 2.0]], np.float32)
    q, r = tw.linalg.qr(tw.tensor(z))
    assert np.isfinite(q.numpy()).all() and np.isfinite(r.numpy()).all()
    np.testing.assert_allclose(q.numpy() @ r.numpy(), z, atol=1e-6)
    x = _rand((3, 2), 33) + np.array([[2, 0], [0, 2], [0, 0]], np.float32)  # full rank
    check_grads(lambda t: tw.linalg.qr(t)[0], x, eps=1e-3)
    check_grads(lambda t: tw.linalg.qr(t)[1], x, eps=1e-3)


def test_gram_schmidt(backend):
    x = _rand((3, 4), 31)
    y = tw.linalg.gram_schmidt(tw.tensor(x))
    yn = y.numpy().astype(np.float64)
    np.testing.assert_allclose(yn @ yn.T, np.eye(3), atol=1e-5)
    q, _ = np.linalg.qr(x.T.astype(np.float64))  # same spans, row by row: up to sign
    np.testing.assert_allclose(np.abs(np.sum(yn * q.T, axis=1)), 1, atol=1e-5)
    ys = tw.linalg.gram_schmidt([tw.tensor(r) for r in x])
    assert isinstance(ys, list) and len(ys) == 3
    check(tw.stack(ys), yn, "float32", atol=1e-6)
    with pytest.raises(ValueError, match="exceed"):
        tw.linalg.gram_schmidt(tw.ones([3, 2]))
    check_grads(tw.linalg.gram_schmidt, _rand((2, 3), 32), eps=1e-3)


# --- documentation -----------------------------------------------------------------------------
def test_namespaced_ops_are_documented():
    """tw.image.* and tw.linalg.{band_part, qr, gram_schmidt} are not in engine.__all__, so
    test_docs's check does not reach them: check them here with its rule."""
    from test_docs import _problems

    fns = {f"engine.image.{n}": getattr(tw.image, n) for n in tw.image.__all__}
    fns.update(
        {f"engine.linalg.{n}": getattr(tw.linalg, n) for n in ("band_part", "qr", "gram_schmidt")}
    )
    bad = {n: p for n, f in fns.items() if (p := _problems(n, f))}
    assert not bad, bad
    for name, f in fns.items():
        assert "Example:" in (f.__doc__ or ""), name


@pytest.mark.parametrize("module", EXTRA_MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    with tw.backend_scope("numpy"):
        result = doctest.testmod(
            mod,
            extraglobs={"tw": tw},
            optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
            verbose=False,
        )
    assert result.attempted > 0, f"{module} has no >>> examples"
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {module}"
