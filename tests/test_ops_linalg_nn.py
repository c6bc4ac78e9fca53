"""matmul/dot/outer and the neural-network ops (conv, pool, batch_norm, dropout, activations,
softmax) against float64 numpy oracles written out loop by loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _oracle import check, f32

import engine as tw

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _rand(shape, seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)


# --- matmul ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_transposes(backend, ta, tb):
    a, b = _rand((3, 4), 1), _rand((4, 5), 2)
    a_in = a.T.copy() if ta else a
    b_in = b.T.copy() if tb else b
    out = tw.matmul(tw.tensor(a_in), tw.tensor(b_in), transpose_a=ta, transpose_b=tb)
    check(out, f32(a) @ f32(b), "float32", rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((2, 3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((3, 4), (2, 4, 2)),
        ((1, 3, 4), (4, 2)),
        ((4,), (4, 3)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4,)),
        ((0, 3, 4), (4, 2)),
        ((3, 0), (0, 2)),
    ],
)
def test_matmul_batch_and_vectors(backend, sa, sb):
    a, b = _rand(sa, 3), _rand(sb, 4)
    check(tw.matmul(tw.tensor(a), tw.tensor(b)), np.matmul(f32(a), f32(b)), "float32", atol=1e-6)


def test_matmul_batch_transposed(backend):
    a, b = _rand((2, 1, 4, 3), 5), _rand((3, 5, 4), 6)
    out = tw.matmul(tw.tensor(a), tw.tensor(b), transpose_a=True, transpose_b=True)
    ref = np.matmul(np.swapaxes(f32(a), -1, -2), np.swapaxes(f32(b), -1, -2))
    check(out, ref, "float32", atol=1e-6)


def test_matmul_dtypes_and_operator(backend):
    a = np.arange(6, dtype=np.int32).reshape(2, 3) - 2
    b = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    check(tw.matmul(tw.tensor(a), tw.tensor(b)), a @ b, "int32")
    check(tw.tensor(a) @ tw.tensor(b), a @ b, "int32")
    check(a.astype(np.float32) @ tw.tensor(b.astype(np.float32)), f32(a) @ f32(b), "float32")
    m = np.array([[True, False], [True, True]])
    check(tw.matmul(tw.tensor(m), tw.tensor(m)), m.astype(float) @ m.astype(float), "float32")


def test_matmul_errors_name_shapes(backend):
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ.*\(2, 3\).*\(4, 5\)"):
        tw.matmul(tw.ones((2, 3)), tw.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul \(batch dims\).*\(2,\).*\(3,\)"):
        tw.matmul(tw.ones((2, 3, 4)), tw.ones((3, 4, 5)))
    with pytest.raises(ValueError, match="rank >= 1"):
        tw.matmul(tw.scalar(1.0), tw.ones((2,)))


def test_dot_and_outer(backend):
    a, b, m = _rand((3,), 7), _rand((3,), 8), _rand((3, 2), 9)
    check(tw.dot(tw.tensor(a), tw.tensor(b)), np.dot(f32(a), f32(b)), "float32")
    check(tw.dot(tw.tensor(a), tw.tensor(m)), f32(a) @ f32(m), "float32")
    check(tw.dot(tw.tensor(m.T.copy()), tw.tensor(a)), f32(m).T @ f32(a), "float32")
    check(tw.outer(tw.tensor(a), tw.tensor(b)), np.outer(f32(a), f32(b)), "float32")
    with pytest.raises(ValueError, match="dot: operands must have rank 1 or 2"):
        tw.dot(tw.ones((2, 2, 2)), tw.ones((2,)))
    with pytest.raises(ValueError, match="outer: operands must be vectors"):
        tw.outer(tw.ones((2, 2)), tw.ones((2,)))


# --- convolution oracles ----------------------------------------------------------------------
def _geometry(size, k, stride, dil, padding):
    ek = (k - 1) * dil + 1
    if padding == "valid":
        return (size - ek) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + ek - size, 0)
    return out, total // 2, total - total // 2


def np_patches(x, kh, kw, strides, padding, dil, pad_value=0.0):
    """(n, oh, ow, kh, kw, c) patches and the pad amounts."""
    n, h, w, c = x.shape
    (sh, sw), (dh, dw) = strides, dil
    oh, pt, pb = _geometry(h, kh, sh, dh, padding)
    ow, pl, pr = _geometry(w, kw, sw, dw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=pad_value)
    out = np.zeros((n, oh, ow, kh, kw, c))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    out[:, i, j, a, b] = xp[:, i * sh + a * dh, j * sw + b * dw]
    return out, (pt, pb, pl, pr)


def np_conv2d(x, f, strides=(1, 1), padding="valid", dil=(1, 1)):
    p, _ = np_patches(x, f.shape[0], f.shape[1], strides, padding, dil)
    return np.einsum("nijabc,abco->nijo", p, f)


def np_depthwise(x, f, strides=(1, 1), padding="valid", dil=(1, 1)):
    p, _ = np_patches(x, f.shape[0], f.shape[1], strides, padding, dil)
    out = np.einsum("nijabc,abcm->nijcm", p, f)
    return out.reshape(out.shape[:3] + (-1,))


def np_conv2d_transpose(y, f, out_shape, strides, padding):
    """Scatter each output pixel back through the filter (the adjoint of np_conv2d)."""
    n, h, w, c = out_shape
    kh, kw = f.shape[:2]
    sh, sw = strides
    _, pt, pb = _geometry(h, kh, sh, 1, padding)
    _, pl, pr = _geometry(w, kw, sw, 1, padding)
    big = np.zeros((n, h + pt + pb, w + pl + pr, c))
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            for a in range(kh):
                for b in range(kw):
                    big[:, i * sh + a, j * sw + b] += y[:, i, j] @ f[a, b].T
    return big[:, pt : pt + h, pl : pl + w]


CONV_CASES = [
    # x shape, filter (kh, kw, oc), strides, padding, dilations
    ((2, 5, 5, 3), (3, 3, 4), (1, 1), "valid", (1, 1)),
    ((1, 6, 5, 2), (3, 2, 3), (2, 2), "same", (1, 1)),
    ((1, 7, 6, 2), (2, 3, 2), (1, 2), "same", (1, 1)),
    ((2, 7, 7, 1), (3, 3, 2), (1, 1), "valid", (2, 2)),
    ((1, 5, 6, 2), (2, 2, 2), (3, 1), "same", (2, 1)),
    ((1, 1, 1, 3), (1, 1, 2), (1, 1), "valid", (1, 1)),
]


@pytest.mark.parametrize("xs,fs,strides,padding,dil", CONV_CASES)
def test_conv2d(backend, xs, fs, strides, padding, dil):
    x = _rand(xs, 10)
    f = _rand(fs[:2] + (xs[3], fs[2]), 11)
    out = tw.conv2d(tw.tensor(x), tw.tensor(f), strides, padding, dil)
    check(out, np_conv2d(f32(x), f32(f), strides, padding, dil), "float32", rtol=1e-5, atol=1e-5)


def test_conv2d_rank3_input_and_errors(backend):
    x, f = _rand((5, 5, 2), 12), _rand((3, 3, 2, 1), 13)
    check(
        tw.conv2d(tw.tensor(x), tw.tensor(f), 1, "SAME"),
        np_conv2d(f32(x)[None], f32(f), padding="same")[0],
        "float32",
        atol=1e-5,
    )
    with pytest.raises(
        ValueError, match=r"conv2d: filter in-channels 3 .* must equal input channels 2"
    ):
        tw.conv2d(tw.tensor(x), tw.ones((3, 3, 3, 1)))
    with pytest.raises(ValueError, match="conv2d: input must be rank 4"):
        tw.conv2d(tw.ones((2, 2)), tw.tensor(f))
    with pytest.raises(ValueError, match="does not fit"):
        tw.conv2d(tw.ones((1, 2, 2, 2)), tw.tensor(f))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        tw.conv2d(tw.tensor(x), tw.tensor(f), 1, "full")


@pytest.mark.parametrize("stride,padding,dil", [(1, "valid", 1), (2, "same", 1), (1, "same", 2)])
def test_conv1d(backend, stride, padding, dil):
    x, f = _rand((2, 9, 3), 14), _rand((3, 3, 2), 15)
    out = tw.conv1d(tw.tensor(x), tw.tensor(f), stride, padding, dil)
    ref = np_conv2d(f32(x)[:, None], f32(f)[None], (1, stride), padding, (1, dil))[:, 0]
    check(out, ref, "float32", atol=1e-5)
    out2 = tw.conv1d(tw.tensor(x[0]), tw.tensor(f), stride, padding, dil)
    check(out2, ref[0], "float32", atol=1e-5)


@pytest.mark.parametrize(
    "out_shape,strides,padding",
    [
        ((1, 5, 5, 2), (1, 1), "valid"),
        ((2, 6, 5, 2), (2, 2), "same"),
        ((1, 7, 7, 1), (2, 2), "valid"),
    ],
)
def test_conv2d_transpose(backend, out_shape, strides, padding):
    kh, kw, ic = 3, 3, 3
    f = _rand((kh, kw, out_shape[3], ic), 16)
    oh, _, _ = _geometry(out_shape[1], kh, strides[0], 1, padding)
    ow, _, _ = _geometry(out_shape[2], kw, strides[1], 1, padding)
    y = _rand((out_shape[0], oh, ow, ic), 17)
    out = tw.conv2d_transpose(tw.tensor(y), tw.tensor(f), out_shape, strides, padding)
    ref = np_conv2d_transpose(f32(y), f32(f), out_shape, strides, padding)
    check(out, ref, "float32", atol=1e-5)
    # adjointness: <conv(x), y> == <x, conv_t(y)>
    x = _rand(out_shape, 18)
    lhs = np.sum(np_conv2d(f32(x), f32(f), strides, padding) * f32(y))
    assert np.isclose(lhs, np.sum(f32(x) * out.numpy()), rtol=1e-4)
    with pytest.raises(ValueError, match="conv2d_transpose"):
        tw.conv2d_transpose(tw.tensor(y), tw.tensor(f), out_shape[:3] + (5,), strides, padding)


@pytest.mark.parametrize(
    "xs,k,m,strides,padding,dil",
    [
        ((2, 5, 5, 3), 3, 1, (1, 1), "valid", (1, 1)),
        ((1, 6, 6, 2), 3, 2, (2, 2), "same", (1, 1)),
        ((1, 7, 7, 2), 2, 2, (1, 1), "valid", (2, 2)),
    ],
)
def test_depthwise_conv2d(backend, xs, k, m, strides, padding, dil):
    x, f = _rand(xs, 19), _rand((k, k, xs[3], m), 20)
    out = tw.depthwise_conv2d(tw.tensor(x), tw.tensor(f), strides, padding, dil)
    check(out, np_depthwise(f32(x), f32(f), strides, padding, dil), "float32", atol=1e-5)


def test_separable_conv2d(backend):
    x, dw, pw = _rand((1, 5, 5, 2), 21), _rand((3, 3, 2, 2), 22), _rand((1, 1, 4, 3), 23)
    out = tw.separable_conv2d(tw.tensor(x), tw.tensor(dw), tw.tensor(pw), 1, "same")
    ref = np_conv2d(np_depthwise(f32(x), f32(dw), padding="same"), f32(pw))
    check(out, ref, "float32", atol=1e-5)


POOL_CASES = [
    ((2, 4, 4, 3), 2, None, "valid"),
    ((1, 5, 5, 2), 3, 2, "same"),
    ((1, 5, 4, 1), (2, 3), (1, 2), "same"),
    ((1, 6, 6, 2), 3, 1, "valid"),
]


@pytest.mark.parametrize("xs,pool,strides,padding", POOL_CASES)
def test_pooling(backend, xs, pool, strides, padding):
    x = _rand(xs, 24, -5, 5)
    kh, kw = (pool, pool) if isinstance(pool, int) else pool
    st = (
        (kh, kw) if strides is None else (strides, strides) if isinstance(strides, int) else strides
    )
    p, _ = np_patches(f32(x), kh, kw, st, padding, (1, 1), pad_value=np.nan)
    ref_max = np.nanmax(p, axis=(3, 4))
    ref_avg = np.nanmean(p, axis=(3, 4))  # padding cells are not counted, as TF
    check(tw.max_pool(tw.tensor(x), pool, strides, padding), ref_max, "float32")
    check(tw.avg_pool(tw.tensor(x), pool, strides, padding), ref_avg, "float32", atol=1e-6)
    check(tw.max_pool(tw.tensor(x[0]), pool, strides, padding), ref_max[0], "float32")


def test_max_pool_all_negative_same_padding(backend):
    x = -np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    out = tw.max_pool(tw.tensor(x), 2, 2, "same")  # padding cells never win
    check(out, np.array([[[[-1], [-3]], [[-7], [-9]]]], np.float64), "float32")


def test_batch_norm(backend):
    x = _rand((4, 3), 25, -2, 2)
    mean, var = _rand((3,), 26), _rand((3,), 27, 0.5, 2)
    off, scale = _rand((3,), 28), _rand((3,), 29)
    ref = (f32(x) - f32(mean)) / np.sqrt(f32(var) + 1e-3)
    check(tw.batch_norm(tw.tensor(x), tw.tensor(mean), tw.tensor(var)), ref, "float32", atol=1e-5)
    out = tw.batch_norm(
        tw.tensor(x), tw.tensor(mean), tw.tensor(var), tw.tensor(off), tw.tensor(scale), 1e-5
    )
    ref = (f32(x) - f32(mean)) / np.sqrt(f32(var) + 1e-5) * f32(scale) + f32(off)
    check(out, ref, "float32", atol=1e-5)
    x4 = _rand((2, 2, 2, 3), 30)
    out = tw.batch_norm(tw.tensor(x4), tw.tensor(mean), tw.tensor(var), None, tw.tensor(scale))
    ref = (f32(x4) - f32(mean)) / np.sqrt(f32(var) + 1e-3) * f32(scale)
    check(out, ref, "float32", atol=1e-5)


def test_local_response_normalization(backend):
    x = _rand((1, 2, 2, 6), 31)
    r, bias, alpha, beta = 2, 1.0, 0.5, 0.75
    x64 = f32(x)
    sq = np.zeros_like(x64)
    for d in range(6):
        sq[..., d] = np.sum(x64[..., max(0, d - r) : d + r + 1] ** 2, -1)
    ref = x64 / (bias + alpha * sq) ** beta
    out = tw.local_response_normalization(tw.tensor(x), r, bias, alpha, beta)
    check(out, ref, "float32", atol=1e-5)


# --- dropout ----------------------------------------------------------------------------------
def test_dropout(backend):
    x = np.ones((100, 100), np.float32) * 2
    check(tw.dropout(tw.tensor(x), 0.0), x, "float32")
    out = tw.dropout(tw.tensor(x), 0.3, seed=7).numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2 / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.03, f"dropped fraction {1 - kept.mean()} far from 0.3"
    again = tw.dropout(tw.tensor(x), 0.3, seed=7).numpy()
    np.testing.assert_array_equal(out, again)
    other = tw.dropout(tw.tensor(x), 0.3, seed=8).numpy()
    assert not np.array_equal(out, other)
    cols = tw.dropout(tw.tensor(x), 0.5, noise_shape=(1, 100), seed=3).numpy()
    assert np.all((cols == 0).all(0) | (cols != 0).all(0)), "noise_shape must broadcast the mask"
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\)"):
        tw.dropout(tw.tensor(x), 1.0)


def test_dropout_reproducible_with_set_seed(backend):
    x = tw.ones((50,))
    tw.set_seed(123)
    a = [tw.dropout(x, 0.5).numpy() for _ in range(2)]
    tw.set_seed(123)
    b = [tw.dropout(x, 0.5).numpy() for _ in range(2)]
    tw.set_seed(None)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])


# --- activations ------------------------------------------------------------------------------
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(x, 0)


ACTIVATIONS = {
    "relu6": (lambda x: tw.relu6(x), lambda x: np.clip(x, 0, 6)),
    "elu": (lambda x: tw.elu(x), lambda x: np.where(x > 0, x, np.expm1(x))),
    "elu_alpha": (lambda x: tw.elu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    "selu": (
        lambda x: tw.selu(x),
        lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    ),
    "leaky_relu": (lambda x: tw.leaky_relu(x), lambda x: np.where(x > 0, x, 0.2 * x)),
    "leaky_relu_01": (lambda x: tw.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "softsign": (lambda x: tw.softsign(x), lambda x: x / (1 + np.abs(x))),
    "gelu": (lambda x: tw.gelu(x), lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    "gelu_tanh": (
        lambda x: tw.gelu(x, approximate=True),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    ),
    "swish": (lambda x: tw.swish(x), lambda x: x * _sigmoid(x)),
    "swish_beta": (lambda x: tw.swish(x, 2.0), lambda x: x * _sigmoid(2 * x)),
    "mish": (lambda x: tw.mish(x), lambda x: x * np.tanh(_softplus(x))),
    "hard_sigmoid": (lambda x: tw.hard_sigmoid(x), lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    "relu": (lambda x: tw.relu(x), lambda x: np.maximum(x, 0)),
    "sigmoid": (lambda x: tw.sigmoid(x), _sigmoid),
    "softplus": (lambda x: tw.softplus(x), _softplus),
    "linear": (lambda x: tw.linear(x), lambda x: x),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation(backend, name):
    fn, ref = ACTIVATIONS[name]
    x = np.array([[-8.0, -3.0, -1.0, -0.25, 0.0], [0.25, 1.0, 3.0, 7.0, 8.0]], np.float32)
    check(fn(tw.tensor(x)), ref(f32(x)), "float32", rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["relu6", "elu", "leaky_relu", "softsign"])
def test_activation_of_int_input_is_float(backend, name):
    fn, ref = ACTIVATIONS[name]
    x = np.array([-3, 0, 2, 9], np.int32)
    check(fn(tw.tensor(x)), ref(x.astype(np.float64)), "float32" if name != "relu6" else None)


def test_prelu(backend):
    x = _rand((2, 3), 32, -2, 2)
    alpha = np.array([0.1, 0.2, 0.3], np.float32)
    ref = np.where(f32(x) > 0, f32(x), f32(alpha) * f32(x))
    check(tw.prelu(tw.tensor(x), tw.tensor(alpha)), ref, "float32")


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(backend, axis):
    x = _rand((3, 4, 2), 33, -3, 3)
    check(tw.softmax(tw.tensor(x), axis), _np_softmax(f32(x), axis), "float32", rtol=1e-5)
    ref = np.log(_np_softmax(f32(x), axis))
    check(tw.log_softmax(tw.tensor(x), axis), ref, "float32", rtol=1e-5, atol=1e-6)


def test_softmax_is_stable_and_defaults_to_last_axis(backend):
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]], np.float32)
    check(tw.softmax(tw.tensor(x)), _np_softmax(f32(x), -1), "float32", rtol=1e-5)
    check(tw.log_softmax(tw.tensor(x)), np.log(_np_softmax(f32(x), -1)), "float32", rtol=1e-5)
    check(tw.softmax(tw.tensor([1, 2])), _np_softmax(np.array([1.0, 2.0]), 0), "float32")
    check(tw.softmax(tw.tensor(np.zeros((2, 1), np.float32))), np.ones((2, 1)), "float32")
    with pytest.raises(ValueError, match="softmax: axis 2 is out of range"):
        tw.softmax(tw.ones((2, 2)), 2)
