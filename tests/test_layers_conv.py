"""Convolution, pooling, padding and upsampling layers against numpy loops, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from layer_harness import run_layer_test

import layers


def _pads(size, k, s, d, padding):
    ek = (k - 1) * d + 1
    if padding == "valid":
        return (size - ek) // s + 1, 0
    out = -(-size // s)
    total = max((out - 1) * s + ek - size, 0)
    return out, total // 2


def np_conv2d(x, w, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Reference NHWC convolution with a (kh, kw, in, out) kernel, TF padding rules."""
    n, h, wd, c = x.shape
    kh, kw, _, oc = w.shape
    oh, pt = _pads(h, kh, strides[0], dilation[0], padding)
    ow, pl = _pads(wd, kw, strides[1], dilation[1], padding)
    xp = np.zeros((n, h + 2 * kh * dilation[0], wd + 2 * kw * dilation[1], c))
    xp[:, pt : pt + h, pl : pl + wd] = x
    out = np.zeros((n, oh, ow, oc))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    out[:, i, j] += (
                        xp[:, i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1]]
                        @ w[a, b]
                    )
    return out


def np_depthwise(x, w, strides=(1, 1), padding="valid"):
    kh, kw, c, m = w.shape
    outs = [
        np_conv2d(x[..., ci : ci + 1], w[:, :, ci : ci + 1, :], strides, padding) for ci in range(c)
    ]
    return np.concatenate(outs, -1)


def np_pool(x, k, s, padding, mode):
    n, h, wd, c = x.shape
    oh, pt = _pads(h, k[0], s[0], 1, padding)
    ow, pl = _pads(wd, k[1], s[1], 1, padding)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s[0] - pt, j * s[1] - pl
            win = x[:, max(r0, 0) : r0 + k[0], max(c0, 0) : c0 + k[1]]
            out[:, i, j] = win.max((1, 2)) if mode == "max" else win.mean((1, 2))
    return out


@pytest.mark.parametrize(
    "padding,strides,dilation", [("valid", 1, 1), ("same", 2, 1), ("same", 1, 2)]
)
def test_conv2d(backend, padding, strides, dilation):
    kw = {
        "filters": 3,
        "kernel_size": (2, 3),
        "padding": padding,
        "strides": strides,
        "dilation_rate": dilation,
        "activation": "tanh",
    }
    s, d = (strides, strides), (dilation, dilation)
    run_layer_test(
        layers.Conv2D,
        kw,
        (2, 5, 5, 2),
        expected_trainable=2,
        reference=lambda x, w: np.tanh(np_conv2d(x, w[0], s, padding, d) + w[1]),
    )


def test_conv1d(backend):
    run_layer_test(
        layers.Conv1D,
        {"filters": 2, "kernel_size": 3, "padding": "same", "use_bias": False},
        (2, 5, 3),
        (2, 5, 2),
        expected_trainable=1,
        reference=lambda x, w: np_conv2d(x[:, None], w[0][None], (1, 1), "same")[:, 0],
    )


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_transpose(backend, padding):
    def ref(x, w):
        # the adjoint of conv2d: scatter each input pixel times the kernel
        k, s = 3, 2
        n, h, wd, _ = x.shape
        oh = h * s + max(k - s, 0) if padding == "valid" else h * s
        full = np.zeros((n, (h - 1) * s + k, (wd - 1) * s + k, w[0].shape[2]))
        for i in range(h):
            for j in range(wd):
                full[:, i * s : i * s + k, j * s : j * s + k] += np.einsum(
                    "nc,abfc->nabf", x[:, i, j], w[0]
                )
        pad = max((h - 1) * s + k - oh, 0) // 2 if padding == "same" else 0
        return full[:, pad : pad + oh, pad : pad + oh] + w[1]

    run_layer_test(
        layers.Conv2DTranspose,
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": padding},
        (2, 3, 3, 2),
        expected_trainable=2,
        reference=ref,
    )


def test_depthwise_and_separable(backend):
    run_layer_test(
        layers.DepthwiseConv2D,
        {"kernel_size": 2, "depth_multiplier": 2},
        (2, 4, 4, 3),
        (2, 3, 3, 6),
        expected_trainable=2,
        reference=lambda x, w: np_depthwise(x, w[0]) + w[1],
    )
    run_layer_test(
        layers.SeparableConv2D,
        {"filters": 2, "kernel_size": 2, "padding": "same"},
        (2, 3, 3, 2),
        (2, 3, 3, 2),
        expected_trainable=3,
        reference=lambda x, w: np_conv2d(np_depthwise(x, w[0], padding="same"), w[1]) + w[2],
    )


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling2d(backend, mode, padding):
    cls = layers.MaxPooling2D if mode == "max" else layers.AveragePooling2D
    run_layer_test(
        cls,
        {"pool_size": 2, "strides": 2, "padding": padding},
        (2, 5, 5, 2),
        expected_trainable=0,
        reference=lambda x, w: np_pool(x, (2, 2), (2, 2), padding, mode),
    )


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling1d(backend, mode):
    cls = layers.MaxPooling1D if mode == "max" else layers.AveragePooling1D
    run_layer_test(
        cls,
        {"pool_size": 2},
        (2, 5, 3),
        (2, 2, 3),
        expected_trainable=0,
        reference=lambda x, w: np_pool(x[:, None], (1, 2), (1, 2), "valid", mode)[:, 0],
    )


def test_global_pooling(backend):
    run_layer_test(
        layers.GlobalAveragePooling1D, {}, (2, 4, 3), (2, 3), reference=lambda x, w: x.mean(1)
    )
    run_layer_test(
        layers.GlobalMaxPooling1D, {}, (2, 4, 3), (2, 3), reference=lambda x, w: x.max(1)
    )
    run_layer_test(
        layers.GlobalAveragePooling2D,
        {},
        (2, 3, 4, 3),
        (2, 3),
        reference=lambda x, w: x.mean((1, 2)),
    )
    run_layer_test(
        layers.GlobalMaxPooling2D, {}, (2, 3, 4, 3), (2, 3), reference=lambda x, w: x.max((1, 2))
    )


def test_zero_padding_and_upsampling(backend):
    run_layer_test(
        layers.ZeroPadding2D,
        {"padding": ((1, 0), (2, 1))},
        (1, 2, 2, 2),
        (1, 3, 5, 2),
        reference=lambda x, w: np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0))),
    )
    run_layer_test(
        layers.UpSampling2D,
        {"size": (2, 3)},
        (1, 2, 2, 2),
        (1, 4, 6, 2),
        reference=lambda x, w: x.repeat(2, 1).repeat(3, 2),
    )


def test_conv_errors(backend):
    with pytest.raises(ValueError, match="rank 4"):
        layers.Conv2D(2, 3)(np.zeros((2, 5, 5), np.float32))
    c = layers.Conv2D(2, 3)
    c(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match="axis -1 of size 2"):
        c(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="kernel size"):
        layers.Conv2D(2, 3)(np.zeros((1, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="channels_first"):
        layers.Conv2D(2, 3, data_format="channels_first")


def test_up_sampling_bilinear(backend):
    def ref(x, w):
        def lerp(a, axis, out):
            size = a.shape[axis]
            src = np.arange(out) * (size / out)
            lo = np.floor(src).astype(int)
            hi = np.minimum(lo + 1, size - 1)
            shape = [1] * a.ndim
            shape[axis] = out
            f = (src - lo).reshape(shape)
            return np.take(a, lo, axis) * (1 - f) + np.take(a, hi, axis) * f

        return lerp(lerp(x, 1, 4), 2, 6)

    run_layer_test(
        layers.UpSampling2D,
        {"size": (2, 3), "interpolation": "bilinear"},
        (1, 2, 2, 2),
        (1, 4, 6, 2),
        reference=ref,
    )


def test_conv1d_causal(backend):
    layer = run_layer_test(
        layers.Conv1D,
        {"filters": 2, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
        (2, 6, 3),
        (2, 6, 2),
        expected_trainable=2,
        reference=lambda x, w: (
            np_conv2d(
                np.pad(x, ((0, 0), (4, 0), (0, 0)))[:, None], w[0][None], (1, 1), "valid", (1, 2)
            )[:, 0]
            + w[1]
        ),
    )
    assert layer.get_config()["padding"] == "causal"


def test_global_pooling_with_mask(backend):
    inp = layers.input(shape=[4])
    emb = layers.Embedding(5, 2, mask_zero=True)
    x = emb(inp)
    model = layers.model(
        inputs=inp, outputs=[layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)]
    )
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    avg, mx = model.predict(ids)
    vecs = emb.get_weights()[0][ids]
    keep = (ids != 0)[..., None]
    np.testing.assert_allclose(avg.numpy(), (vecs * keep).sum(1) / keep.sum(1), rtol=1e-5)
    np.testing.assert_allclose(mx.numpy(), np.where(keep, vecs, -np.inf).max(1), rtol=1e-5)
