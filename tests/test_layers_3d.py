"""Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D and ConvLSTM2D on every backend:
forward against numpy (ConvLSTM2D against TF.js's cell formulas), gradients, config round
trips, a few fit steps, the TF.js-format save/load round trip, bad input, and the modules'
doctests."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from layer_harness import make_input, run_layer_test
from test_ops_3d import np_conv3d, np_conv3d_transpose, np_pool3d

import engine as tw
import layers
from layers.saving import load_model, save_model


@pytest.mark.parametrize(
    "padding,strides,dilation", [("valid", 1, 1), ("same", 2, 1), ("same", 1, 2)]
)
def test_conv3d_layer(backend, padding, strides, dilation):
    kw = {
        "filters": 2,
        "kernel_size": (2, 3, 2),
        "padding": padding,
        "strides": strides,
        "dilation_rate": dilation,
        "activation": "tanh",
    }
    s, d = (strides,) * 3, (dilation,) * 3
    run_layer_test(
        layers.Conv3D,
        kw,
        (2, 4, 5, 4, 2),
        expected_trainable=2,
        reference=lambda x, w: np.tanh(np_conv3d(x, w[0], s, padding, d) + w[1]),
    )


@pytest.mark.parametrize("padding,strides", [("valid", (2, 1, 2)), ("same", 2)])
def test_conv3d_transpose_layer(backend, padding, strides):
    st = (strides,) * 3 if isinstance(strides, int) else strides
    layer = run_layer_test(
        layers.Conv3DTranspose,
        {"filters": 2, "kernel_size": (2, 3, 2), "strides": strides, "padding": padding},
        (2, 2, 3, 2, 3),
        expected_trainable=2,
        reference=lambda x, w: (
            np_conv3d_transpose(
                x, w[0], _deconv_shape(x.shape, (2, 3, 2), st, padding, 2), st, padding
            )
            + w[1]
        ),
    )
    assert layer.kernel.shape == (2, 3, 2, 2, 3)


def _deconv_shape(shape, k, st, padding, filters):
    sp = [
        s * t if padding == "same" else s * t + max(kk - t, 0)
        for s, kk, t in zip(shape[1:4], k, st, strict=True)
    ]
    return (shape[0], *sp, filters)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("padding,strides", [("valid", None), ("same", (1, 2, 2))])
def test_pooling3d_layers(backend, mode, padding, strides):
    cls = layers.MaxPooling3D if mode == "max" else layers.AveragePooling3D
    k = (2, 2, 3)
    st = k if strides is None else strides
    run_layer_test(
        cls,
        {"pool_size": k, "strides": strides, "padding": padding},
        (2, 4, 5, 6, 2),
        expected_trainable=0,
        reference=lambda x, w: np_pool3d(x, k, st, padding, mode),
        check_grads=mode == "avg",  # max: ties/kinks make central differences unreliable
    )


# --- ConvLSTM2D ----------------------------------------------------------------------------------


def _np_conv2d(x, w, strides, padding, dil):
    """NHWC conv2d by the 3-D reference with a depth of one."""
    out = np_conv3d(x[:, None], w[None], (1, *strides), padding, (1, *dil))
    return out[:, 0]


def np_conv_lstm(x, kernel, rec, bias, strides, padding, dil, go_backwards=False):
    """TF.js ConvLSTM2DCell with tanh and hardSigmoid, every step's h, and the last (h, c)."""

    def hard_sigmoid(v):
        return np.clip(0.2 * v + 0.5, 0.0, 1.0)

    f = rec.shape[2]
    ks, rs = np.split(kernel, 4, 3), np.split(rec, 4, 3)
    bs = np.split(bias, 4) if bias is not None else [0.0] * 4
    t = x.shape[1]
    h = c = None
    hs = []
    for step in range(t - 1, -1, -1) if go_backwards else range(t):
        xt = x[:, step]
        xs = [_np_conv2d(xt, k, strides, padding, dil) + b for k, b in zip(ks, bs, strict=True)]
        if h is None:
            h = c = np.zeros(xs[0].shape[:-1] + (f,))
        hh = [_np_conv2d(h, r, (1, 1), "same", (1, 1)) for r in rs]
        i = hard_sigmoid(xs[0] + hh[0])
        fg = hard_sigmoid(xs[1] + hh[1])
        c = fg * c + i * np.tanh(xs[2] + hh[2])
        h = hard_sigmoid(xs[3] + hh[3]) * np.tanh(c)
        hs.append(h)
    return np.stack(hs, 1), h, c


@pytest.mark.parametrize(
    "kw",
    [
        {"padding": "same", "return_sequences": True},
        {"padding": "valid", "strides": (1, 2), "return_state": True},
        {"padding": "same", "dilation_rate": 2, "go_backwards": True, "return_sequences": True},
    ],
    ids=["same_seq", "valid_strided_state", "dilated_backwards"],
)
def test_conv_lstm2d(backend, kw):
    kwargs = {"filters": 2, "kernel_size": (3, 2), "bias_initializer": "randomNormal", **kw}
    st = kw.get("strides", (1, 1))
    dil = (kw.get("dilation_rate", 1),) * 2

    def reference(x, w):
        seq, h, c = np_conv_lstm(
            x, w[0], w[1], w[2], st, kw["padding"], dil, kw.get("go_backwards", False)
        )
        out = seq if kw.get("return_sequences") else h
        return [out, h, c] if kw.get("return_state") else out

    layer = run_layer_test(
        layers.ConvLSTM2D,
        kwargs,
        (2, 3, 5, 4, 2),
        expected_trainable=3,
        reference=reference,
        grad_tol=6e-2,
    )
    assert layer.kernel.shape == (3, 2, 2, 8) and layer.recurrent_kernel.shape == (3, 2, 2, 8)


def test_conv_lstm2d_initial_state_mask_and_forget_bias(backend):
    x = make_input((2, 3, 4, 4, 1), seed=3)
    layer = layers.ConvLSTM2D(2, 3, padding="same", unit_forget_bias=True, return_state=True)
    out, h, c = layer(x)
    np.testing.assert_array_equal(layer.bias.numpy(), [0, 0, 1, 1, 0, 0, 0, 0])
    ws = [w.numpy() for w in layer.weights]
    h0 = np.random.default_rng(1).normal(size=(2, 4, 4, 2)).astype(np.float32)
    c0 = np.random.default_rng(2).normal(size=(2, 4, 4, 2)).astype(np.float32)
    got = layer(tw.tensor(x), initial_state=[tw.tensor(h0), tw.tensor(c0)])
    # the reference started from (h0, c0): run one step at a time
    h_ref, c_ref = h0, c0
    for t in range(3):
        h_ref, c_ref = _np_step(x[:, t], h_ref, c_ref, ws)
    np.testing.assert_allclose(got[1].numpy(), h_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[2].numpy(), c_ref, rtol=1e-4, atol=1e-4)
    # a masked last step keeps the states of the step before
    mask = tw.tensor(np.array([[1, 1, 0], [1, 1, 1]], bool))
    masked = layer(tw.tensor(x), mask=mask)
    two = layer(tw.tensor(x[:, :2]))
    np.testing.assert_allclose(masked[1].numpy()[0], two[1].numpy()[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(masked[1].numpy()[1], h.numpy()[1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="initial states must have shape"):
        layer(tw.tensor(x), initial_state=[tw.zeros((2, 3, 3, 2)), tw.zeros((2, 3, 3, 2))])


def _np_step(xt, h, c, ws):
    """One TF.js ConvLSTM2D step from (h, c) with 'same' padding and stride 1: (h, c)."""
    kernel, rec, bias = ws

    def hs(v):
        return np.clip(0.2 * v + 0.5, 0.0, 1.0)

    gates = zip(np.split(kernel, 4, 3), np.split(rec, 4, 3), np.split(bias, 4), strict=True)
    z = [
        _np_conv2d(xt, k, (1, 1), "same", (1, 1)) + b + _np_conv2d(h, r, (1, 1), "same", (1, 1))
        for k, r, b in gates
    ]
    c = hs(z[1]) * c + hs(z[0]) * np.tanh(z[2])
    return hs(z[3]) * np.tanh(c), c


# --- training, saving ----------------------------------------------------------------------------


def _volume_model() -> layers.Model:
    return layers.sequential(
        [
            layers.Conv3D(3, 2, padding="same", activation="relu", input_shape=[4, 4, 4, 1]),
            layers.MaxPooling3D(pool_size=2),
            layers.Conv3DTranspose(2, 2, strides=2),
            layers.AveragePooling3D(pool_size=(2, 2, 2), padding="same"),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )


def _conv_lstm_model() -> layers.Model:
    return layers.sequential(
        [
            layers.ConvLSTM2D(
                2, 3, padding="same", return_sequences=True, input_shape=[3, 4, 4, 1]
            ),
            layers.ConvLSTM2D(2, 2, dropout=0.2, recurrent_dropout=0.2),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )


def test_fit_reduces_the_loss(backend):
    tw.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4, 4, 4, 1)).astype(np.float32)
    y = x.mean(axis=(1, 2, 3)).astype(np.float32)
    model = _volume_model()
    model.compile(optimizer=tw.train.adam(0.01), loss="meanSquaredError")
    hist = model.fit(x, y, epochs=6, batch_size=8, verbose=0)
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_conv_lstm2d_fit_step(backend):
    tw.set_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 4, 4, 1)).astype(np.float32)
    y = rng.normal(size=(4, 1)).astype(np.float32)
    model = _conv_lstm_model()
    model.compile(optimizer="sgd", loss="meanSquaredError")
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    after = model.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("build", [_volume_model, _conv_lstm_model], ids=["volume", "conv_lstm"])
def test_tfjs_save_load_round_trip(backend, build, tmp_path):
    tw.set_seed(2)
    model = build()
    x = np.random.default_rng(3).normal(size=(2,) + tuple(model.inputs[0].shape[1:]))
    x = x.astype(np.float32)
    before = model.predict(x).numpy()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.get_config() == model.get_config()
    assert [type(la) for la in loaded.layers] == [type(la) for la in model.layers]
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.predict(x).numpy(), before, rtol=1e-5, atol=1e-6)


def test_tfjs_camel_case_config_loads():
    """A config as TF.js writes it (camelCase keys, channelsLast) builds the same layers."""
    conv = layers.deserialize_layer(
        {
            "class_name": "Conv3D",
            "config": {
                "filters": 2,
                "kernelSize": [1, 2, 3],
                "strides": [1, 1, 1],
                "padding": "same",
                "dataFormat": "channelsLast",
                "dilationRate": [1, 1, 1],
                "useBias": False,
            },
        }
    )
    assert conv.kernel_size == (1, 2, 3) and not conv.use_bias
    lstm = layers.deserialize_layer(
        {
            "class_name": "ConvLSTM2D",
            "config": {"filters": 3, "kernelSize": [3, 3], "returnSequences": True},
        }
    )
    assert lstm.filters == 3 and lstm.return_sequences
    assert layers.get_layer_class("MaxPool3D") is layers.MaxPooling3D
    assert layers.get_layer_class("AvgPool3D") is layers.AveragePooling3D


# --- bad input -----------------------------------------------------------------------------------


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="channels_first"):
        layers.Conv3D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="channels_first"):
        layers.MaxPooling3D(data_format="channelsFirst")
    with pytest.raises(ValueError, match="channels_first"):
        layers.ConvLSTM2D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="dilation_rate must be 1"):
        layers.Conv3DTranspose(2, 2, dilation_rate=2)
    with pytest.raises(ValueError, match="stateful"):
        layers.ConvLSTM2D(2, 3, stateful=True)
    with pytest.raises(ValueError, match="padding"):
        layers.ConvLSTM2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="rank 5"):
        layers.Conv3D(2, 2)(tw.ones([1, 4, 4, 1]))
    with pytest.raises(ValueError, match="rank 5"):
        layers.ConvLSTM2D(2, 2)(tw.ones([1, 4, 4, 1]))
    with pytest.raises(ValueError, match="kernel size"):
        layers.ConvLSTM2D(2, 3)(tw.ones([1, 2, 2, 2, 1]))


@pytest.mark.parametrize("module", ["layers.convolutional3d", "layers.conv_lstm"])
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    with tw.backend_scope("numpy"):
        result = doctest.testmod(
            mod,
            extraglobs={"tw": tw, "layers": layers},
            optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        )
    assert result.attempted > 0 and result.failed == 0
