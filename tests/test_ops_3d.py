"""conv3d, conv3d_transpose, max_pool3d, avg_pool3d, dilation2d and max_pool_with_argmax
against numpy loops on every backend, their gradients against finite differences, the
first-max gradient rule on ties, bad input, and the module's doctests."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import engine as tw


def _geom(size, k, s, d, padding):
    """(output size, pad before) by TF's rules."""
    ek = (k - 1) * d + 1
    if padding == "valid":
        return (size - ek) // s + 1, 0
    out = -(-size // s)
    return out, max((out - 1) * s + ek - size, 0) // 2


def np_conv3d(x, w, strides, padding, dil):
    n, dd, hh, ww, c = x.shape
    kd, kh, kw, _, o = w.shape
    (od, pd), (oh, ph), (ow, pw) = (
        _geom(sz, k, s, d, padding)
        for sz, k, s, d in zip((dd, hh, ww), (kd, kh, kw), strides, dil, strict=True)
    )
    out = np.zeros((n, od, oh, ow, o))
    for a in range(od):
        for b in range(oh):
            for e in range(ow):
                for i in range(kd):
                    for j in range(kh):
                        for m in range(kw):
                            z = a * strides[0] + i * dil[0] - pd
                            y = b * strides[1] + j * dil[1] - ph
                            q = e * strides[2] + m * dil[2] - pw
                            if 0 <= z < dd and 0 <= y < hh and 0 <= q < ww:
                                out[:, a, b, e] += x[:, z, y, q] @ w[i, j, m]
    return out


def np_conv3d_transpose(x, w, out_shape, strides, padding):
    """The adjoint of np_conv3d: scatter each input cell times the kernel."""
    n, od, oh, ow, ic = x.shape
    kd, kh, kw, oc, _ = w.shape
    _, dd, hh, ww, _ = out_shape
    pads = [
        _geom(sz, k, s, 1, padding)[1]
        for sz, k, s in zip((dd, hh, ww), (kd, kh, kw), strides, strict=True)
    ]
    out = np.zeros(out_shape)
    for a in range(od):
        for b in range(oh):
            for e in range(ow):
                for i in range(kd):
                    for j in range(kh):
                        for m in range(kw):
                            z = a * strides[0] + i - pads[0]
                            y = b * strides[1] + j - pads[1]
                            q = e * strides[2] + m - pads[2]
                            if 0 <= z < dd and 0 <= y < hh and 0 <= q < ww:
                                out[:, z, y, q] += x[:, a, b, e] @ w[i, j, m].T
    return out


def np_pool3d(x, k, s, padding, mode):
    n, dd, hh, ww, c = x.shape
    (od, pd), (oh, ph), (ow, pw) = (
        _geom(sz, kk, ss, 1, padding) for sz, kk, ss in zip((dd, hh, ww), k, s, strict=True)
    )
    out = np.zeros((n, od, oh, ow, c))
    for a in range(od):
        for b in range(oh):
            for e in range(ow):
                z, y, q = a * s[0] - pd, b * s[1] - ph, e * s[2] - pw
                win = x[:, max(z, 0) : z + k[0], max(y, 0) : y + k[1], max(q, 0) : q + k[2]]
                red = win.max if mode == "max" else win.mean
                out[:, a, b, e] = red((1, 2, 3))
    return out


def np_dilation2d(x, f, strides, padding, dil):
    n, hh, ww, c = x.shape
    fh, fw, _ = f.shape
    (oh, ph), (ow, pw) = (
        _geom(sz, k, s, d, padding)
        for sz, k, s, d in zip((hh, ww), (fh, fw), strides, dil, strict=True)
    )
    out = np.full((n, oh, ow, c), -np.inf)
    for b in range(oh):
        for e in range(ow):
            for i in range(fh):
                for j in range(fw):
                    y, q = b * strides[0] + i * dil[0] - ph, e * strides[1] + j * dil[1] - pw
                    if 0 <= y < hh and 0 <= q < ww:
                        out[:, b, e] = np.maximum(out[:, b, e], x[:, y, q] + f[i, j])
    return out


def np_argmax_pool(x, k, s, padding, include_batch):
    """TF.js's maxPoolPositions: strict '>' scan in row-major window order."""
    n, hh, ww, c = x.shape
    (oh, ph), (ow, pw) = (
        _geom(sz, kk, ss, 1, padding) for sz, kk, ss in zip((hh, ww), k, s, strict=True)
    )
    vals = np.zeros((n, oh, ow, c))
    idx = np.zeros((n, oh, ow, c), np.int64)
    for bi in range(n):
        for b in range(oh):
            for e in range(ow):
                for ch in range(c):
                    best, pos = -np.inf, -1
                    for i in range(k[0]):
                        for j in range(k[1]):
                            y, q = b * s[0] + i - ph, e * s[1] + j - pw
                            if 0 <= y < hh and 0 <= q < ww and x[bi, y, q, ch] > best:
                                best = x[bi, y, q, ch]
                                pos = (y * ww + q) * c + ch
                                if include_batch:
                                    pos += bi * hh * ww * c
                    vals[bi, b, e, ch], idx[bi, b, e, ch] = best, pos
    return vals, idx


def _rand(rng, *shape):
    return rng.normal(size=shape).astype(np.float32)


CONV_CASES = [
    # x shape, kernel (kd, kh, kw), strides, padding, dilations
    ((2, 4, 5, 4, 2), (2, 3, 2), (1, 1, 1), "valid", (1, 1, 1)),
    ((1, 5, 4, 6, 3), (3, 2, 3), (2, 1, 2), "same", (1, 1, 1)),
    ((1, 5, 6, 5, 2), (2, 2, 2), (1, 1, 1), "same", (2, 1, 2)),
    ((2, 6, 5, 5, 1), (2, 3, 2), (1, 2, 1), "valid", (2, 1, 1)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"c{i}" for i in range(len(CONV_CASES))])
def test_conv3d(backend, case):
    shape, k, st, pd, dil = case
    rng = np.random.default_rng(0)
    x, w = _rand(rng, *shape), _rand(rng, *k, shape[-1], 3)
    got = tw.conv3d(x, w, st, pd, dil).numpy()
    np.testing.assert_allclose(got, np_conv3d(x, w, st, pd, dil), rtol=1e-4, atol=1e-4)


def test_conv3d_unbatched_and_int_strides(backend):
    rng = np.random.default_rng(1)
    x, w = _rand(rng, 4, 4, 4, 2), _rand(rng, 2, 2, 2, 2, 1)
    got = tw.conv3d(x, w, 2, "same").numpy()
    assert got.shape == (2, 2, 2, 1)
    np.testing.assert_allclose(
        got, np_conv3d(x[None], w, (2, 2, 2), "same", (1, 1, 1))[0], rtol=1e-4, atol=1e-4
    )


TRANSPOSE_CASES = [
    # output shape, kernel, strides, padding
    ((2, 4, 5, 4, 2), (2, 2, 3), (2, 2, 1), "valid"),
    ((1, 5, 4, 6, 3), (3, 2, 2), (2, 1, 2), "same"),
    ((1, 4, 4, 4, 1), (2, 2, 2), (2, 2, 2), "same"),
]


def _transpose_in_shape(out_shape, k, st, pd, ic):
    sp = [_geom(s, kk, ss, 1, pd)[0] for s, kk, ss in zip(out_shape[1:4], k, st, strict=True)]
    return (out_shape[0], *sp, ic)


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=["valid", "same", "same_even"])
def test_conv3d_transpose(backend, case):
    out_shape, k, st, pd = case
    rng = np.random.default_rng(2)
    ic = 2
    x = _rand(rng, *_transpose_in_shape(out_shape, k, st, pd, ic))
    w = _rand(rng, *k, out_shape[-1], ic)
    got = tw.conv3d_transpose(x, w, out_shape, st, pd).numpy()
    want = np_conv3d_transpose(x, w, out_shape, st, pd)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # without the batch axis in output_shape, and the adjoint identity <conv(y), x> = <y, T(x)>
    got2 = tw.conv3d_transpose(x, w, out_shape[1:], st, pd).numpy()
    np.testing.assert_allclose(got2, got, rtol=1e-6, atol=1e-6)
    y = _rand(rng, *out_shape)
    lhs = float(np.sum(np_conv3d(y, w, st, pd, (1, 1, 1)) * x))
    np.testing.assert_allclose(lhs, float(np.sum(y * got)), rtol=1e-3)


POOL_CASES = [
    ((2, 4, 5, 4, 2), (2, 2, 2), (2, 2, 2), "valid"),
    ((1, 5, 4, 5, 3), (3, 2, 2), (2, 1, 2), "same"),
    ((1, 3, 5, 4, 1), (2, 3, 2), (1, 1, 1), "same"),
    ((2, 5, 5, 3, 1), (3, 2, 1), (1, 2, 1), "valid"),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[f"p{i}" for i in range(len(POOL_CASES))])
def test_pool3d(backend, case, mode):
    shape, k, st, pd = case
    x = _rand(np.random.default_rng(3), *shape)
    fn = tw.max_pool3d if mode == "max" else tw.avg_pool3d
    got = fn(x, k, st, pd).numpy()
    np.testing.assert_allclose(got, np_pool3d(x, k, st, pd, mode), rtol=1e-5, atol=1e-5)


def test_pool3d_default_strides_and_unbatched(backend):
    x = _rand(np.random.default_rng(4), 4, 4, 6, 2)
    got = tw.max_pool3d(x, (2, 2, 3)).numpy()
    np.testing.assert_allclose(got, np_pool3d(x[None], (2, 2, 3), (2, 2, 3), "valid", "max")[0])


DILATION_CASES = [
    ((2, 5, 6, 2), (2, 3), (1, 1), "valid", (1, 1)),
    ((1, 6, 5, 3), (3, 2), (2, 1), "same", (1, 1)),
    ((1, 6, 6, 2), (2, 2), (1, 1), "same", (2, 2)),
]


@pytest.mark.parametrize("case", DILATION_CASES, ids=["valid", "same_stride", "same_dilated"])
def test_dilation2d(backend, case):
    shape, fk, st, pd, dil = case
    rng = np.random.default_rng(5)
    x, f = _rand(rng, *shape), _rand(rng, *fk, shape[-1])
    got = tw.dilation2d(x, f, st, pd, dil).numpy()
    np.testing.assert_allclose(got, np_dilation2d(x, f, st, pd, dil), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "k,st,pd,batch",
    [
        ((2, 2), (2, 2), "valid", False),
        ((3, 2), (1, 2), "same", True),
        ((2, 3), (1, 1), "same", False),
    ],
)
def test_max_pool_with_argmax(backend, k, st, pd, batch):
    x = _rand(np.random.default_rng(6), 2, 5, 6, 3)
    x[0, :2, :2, 0] = 1.5  # a tie: the first cell in row-major order wins
    result, indexes = tw.max_pool_with_argmax(x, k, st, pd, batch)
    want_v, want_i = np_argmax_pool(x, k, st, pd, batch)
    assert indexes.dtype == "int32"
    np.testing.assert_allclose(result.numpy(), want_v, rtol=1e-6)
    np.testing.assert_array_equal(indexes.numpy(), want_i)
    flat = x.reshape(-1) if batch else x.reshape(2, -1)
    picked = flat[want_i] if batch else np.take_along_axis(flat, want_i.reshape(2, -1), 1)
    np.testing.assert_array_equal(picked.reshape(want_v.shape), want_v)


# --- gradients ---------------------------------------------------------------------------------


def _fd_check(fn, arrays, wrt, rng, n_probe=5, eps=1e-2, tol=2e-2):
    """tw gradients of sum(fn(*xs) * R) w.r.t. ``arrays[i] for i in wrt`` vs central
    differences at a few coordinates (float32 engine, float64 sums)."""
    coeff = None

    def loss(*ts):
        nonlocal coeff
        out = fn(*ts)
        if coeff is None:
            coeff = rng.normal(size=out.shape).astype(np.float32)
        return tw.sum(tw.mul(out, tw.tensor(coeff)))

    loss(*[tw.tensor(a) for a in arrays])
    gs = tw.grads(loss)(*[tw.tensor(a) for a in arrays])
    for i in wrt:
        g = gs[i].numpy()
        assert g.shape == arrays[i].shape
        for flat in rng.choice(arrays[i].size, size=n_probe, replace=False):
            idx = np.unravel_index(flat, arrays[i].shape)
            vals = []
            for d in (eps, -eps):
                a = [v.copy() for v in arrays]
                a[i][idx] += d
                vals.append(float(loss(*[tw.tensor(v) for v in a]).numpy()))
            num = (vals[0] - vals[1]) / (2 * eps)
            assert abs(num - g[idx]) <= tol * (1 + abs(num)), (i, idx, num, g[idx])


def test_conv3d_gradients(backend):
    rng = np.random.default_rng(7)
    x, w = _rand(rng, 1, 4, 4, 3, 2), _rand(rng, 2, 2, 2, 2, 2)
    _fd_check(lambda a, b: tw.conv3d(a, b, (2, 1, 1), "same", 1), [x, w], [0, 1], rng)
    _fd_check(lambda a, b: tw.conv3d(a, b, 1, "valid", (1, 2, 1)), [x, w], [0, 1], rng)


def test_conv3d_transpose_gradients(backend):
    rng = np.random.default_rng(8)
    out_shape = (1, 4, 4, 3, 2)
    x = _rand(rng, *_transpose_in_shape(out_shape, (2, 2, 2), (2, 2, 1), "same", 3))
    w = _rand(rng, 2, 2, 2, 2, 3)
    _fd_check(
        lambda a, b: tw.conv3d_transpose(a, b, out_shape, (2, 2, 1), "same"), [x, w], [0, 1], rng
    )


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pool3d_gradient(backend, padding):
    rng = np.random.default_rng(9)
    # distinct values far apart, so a finite-difference step never changes a window's winner
    x = (rng.permutation(2 * 4 * 4 * 3 * 2).astype(np.float32) * 0.1).reshape(2, 4, 4, 3, 2)
    _fd_check(lambda a: tw.max_pool3d(a, 2, (1, 2, 2), padding), [x], [0], rng, n_probe=8)


def test_max_pool3d_gradient_ties_go_to_the_first_cell(backend):
    x = np.ones((1, 2, 2, 2, 1), np.float32)
    g = tw.grad(lambda t: tw.sum(tw.max_pool3d(t, 2)))(tw.tensor(x)).numpy()
    want = np.zeros_like(x)
    want[0, 0, 0, 0, 0] = 1.0
    np.testing.assert_array_equal(g, want)
    # overlapping 'same' windows: each window's dy lands on its own first max, adding up
    g = tw.grad(lambda t: tw.sum(tw.max_pool3d(t, 2, 1, "same")))(tw.tensor(x)).numpy()
    assert g.sum() == 8.0 and g[0, 0, 0, 0, 0] == 1.0 and g[0, 1, 1, 1, 0] == 1.0


def test_avg_pool3d_gradient(backend):
    rng = np.random.default_rng(10)
    x = _rand(rng, 1, 3, 4, 3, 2)
    _fd_check(lambda a: tw.avg_pool3d(a, 2, 1, "same"), [x], [0], rng)


def test_dilation2d_gradients(backend):
    rng = np.random.default_rng(11)
    x = (rng.permutation(1 * 5 * 5 * 2).astype(np.float32) * 0.1).reshape(1, 5, 5, 2)
    f = (rng.permutation(2 * 2 * 2).astype(np.float32) * 0.037).reshape(2, 2, 2)
    _fd_check(lambda a, b: tw.dilation2d(a, b, 1, "same"), [x, f], [0, 1], rng, n_probe=6)


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    x5, w5 = np.zeros((1, 3, 3, 3, 2), np.float32), np.zeros((2, 2, 2, 2, 1), np.float32)
    with pytest.raises(ValueError, match="NCDHW"):
        tw.conv3d(x5, w5, data_format="NCDHW")
    with pytest.raises(ValueError, match="rank 5"):
        tw.conv3d(np.zeros((3, 3), np.float32), w5)
    with pytest.raises(ValueError, match="in-channels 3"):
        tw.conv3d(x5, np.zeros((2, 2, 2, 3, 1), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        tw.conv3d(x5, np.zeros((4, 2, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match="padding must be"):
        tw.max_pool3d(x5, 2, padding="full")
    with pytest.raises(ValueError, match="strides must be"):
        tw.avg_pool3d(x5, 2, (1, 1))
    with pytest.raises(ValueError, match="must be \\(2, 2, 2\\)"):
        tw.conv3d_transpose(np.zeros((1, 3, 3, 3, 1), np.float32), w5, (1, 4, 4, 4, 2), 2)
    with pytest.raises(ValueError, match="output channels"):
        tw.conv3d_transpose(np.zeros((1, 2, 2, 2, 1), np.float32), w5, (1, 4, 4, 4, 3), 2)
    with pytest.raises(ValueError, match="depth"):
        tw.dilation2d(np.zeros((1, 4, 4, 2), np.float32), np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="NCHW"):
        tw.dilation2d(np.zeros((1, 4, 4, 2), np.float32), np.zeros((2, 2, 2)), data_format="NCHW")
    with pytest.raises(ValueError, match="rank 4"):
        tw.max_pool_with_argmax(x5, 2)


def test_docstring_examples_run():
    mod = importlib.import_module("engine.ops.nn3d")
    with tw.backend_scope("numpy"):
        result = doctest.testmod(
            mod,
            extraglobs={"tw": tw},
            optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        )
    assert result.attempted >= 6 and result.failed == 0
