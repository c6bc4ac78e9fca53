"""Recurrent layers and wrappers against numpy step loops (TF.js formulas), on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from layer_harness import make_input, run_layer_test

import engine as tw
import layers


def hsig(x):
    return np.clip(0.2 * x + 0.5, 0, 1)


def np_rnn(x, w, cell, n_states, go_backwards=False, return_sequences=False, mask=None):
    kernel, rec, bias = w[:3]
    b, t, _ = x.shape
    units = rec.shape[0]
    states = [np.zeros((b, units)) for _ in range(n_states)]
    outs, prev = [], np.zeros((b, units))
    for i in range(t - 1, -1, -1) if go_backwards else range(t):
        out, new = cell(x[:, i] @ kernel + bias, states, rec)
        if mask is not None:
            m = mask[:, i : i + 1]
            out = np.where(m, out, prev)
            new = [np.where(m, a, s) for a, s in zip(new, states, strict=False)]
        states, prev = new, out
        outs.append(out)
    return (np.stack(outs, 1) if return_sequences else prev), states


def simple_cell(xw, states, rec):
    h = np.tanh(xw + states[0] @ rec)
    return h, [h]


def lstm_cell(xw, states, rec):
    h, c = states
    z = xw + h @ rec
    z0, z1, z2, z3 = np.split(z, 4, 1)
    i, f, o = hsig(z0), hsig(z1), hsig(z3)
    c = f * c + i * np.tanh(z2)
    h = o * np.tanh(c)
    return h, [h, c]


def gru_cell(xw, states, rec):
    h = states[0]
    u = h.shape[1]
    xz, xr, xh = np.split(xw, 3, 1)
    rz, rr = np.split(h @ rec[:, : 2 * u], 2, 1)
    z, r = hsig(xz + rz), hsig(xr + rr)
    hh = np.tanh(xh + (r * h) @ rec[:, 2 * u :])
    out = z * h + (1 - z) * hh
    return out, [out]


@pytest.mark.parametrize("return_sequences,go_backwards", [(False, False), (True, True)])
def test_simple_rnn(backend, return_sequences, go_backwards):
    kw = {"units": 3, "return_sequences": return_sequences, "go_backwards": go_backwards}
    shape = (2, 4, 3) if return_sequences else (2, 3)
    run_layer_test(
        layers.SimpleRNN,
        kw,
        (2, 4, 2),
        shape,
        expected_trainable=3,
        reference=lambda x, w: np_rnn(x, w, simple_cell, 1, go_backwards, return_sequences)[0],
    )


def test_lstm(backend):
    layer = run_layer_test(
        layers.LSTM,
        {"units": 2, "return_state": True, "bias_initializer": "randomNormal"},
        (2, 3, 2),
        [(2, 2), (2, 2), (2, 2)],
        expected_trainable=3,
        reference=lambda x, w: (lambda o, s: [o, s[0], s[1]])(*np_rnn(x, w, lstm_cell, 2)),
    )
    assert layer.weights[0].shape == (2, 8) and layer.weights[1].shape == (2, 8)
    bias = layers.LSTM(3, unit_forget_bias=True)
    bias(np.zeros((1, 2, 2), np.float32))
    np.testing.assert_array_equal(
        bias.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    )  # unit forget bias


def test_gru(backend):
    run_layer_test(
        layers.GRU,
        {"units": 2, "return_sequences": True},
        (2, 3, 2),
        (2, 3, 2),
        expected_trainable=3,
        reference=lambda x, w: np_rnn(x, w, gru_cell, 1, return_sequences=True)[0],
    )


def test_recurrent_defaults(backend):
    lstm = layers.LSTM(4)
    lstm(np.zeros((1, 2, 3), np.float32))
    rec = lstm.get_weights()[1]
    assert rec.shape == (4, 16)
    np.testing.assert_allclose(rec @ rec.T, np.eye(4), atol=1e-5)  # orthogonal recurrent kernel
    config = lstm.get_config()
    assert config["recurrent_activation"] == "hard_sigmoid"
    assert config["kernel_initializer"]["class_name"] == "GlorotNormal"
    assert config["recurrent_initializer"]["class_name"] == "Orthogonal"


def test_masking_through_embedding(backend):
    emb = layers.Embedding(5, 2, mask_zero=True)
    rnn = layers.SimpleRNN(3, return_sequences=True)
    inp = layers.input(shape=[4])
    model = layers.model(inputs=inp, outputs=rnn(emb(inp)))
    ids = np.array([[1, 2, 0, 0], [3, 0, 4, 0]])
    got = model.predict(ids).numpy()
    x = emb.get_weights()[0][ids]
    want, _ = np_rnn(x, rnn.get_weights(), simple_cell, 1, return_sequences=True, mask=ids != 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        got[0, 3], got[0, 1], rtol=1e-6
    )  # masked steps repeat the last output


def test_rnn_dropout_training(backend):
    tw.set_seed(0)
    layer = layers.LSTM(3, dropout=0.5, recurrent_dropout=0.5)
    x = make_input((2, 3, 2))
    a = layer(x, training=False).numpy()
    assert not np.allclose(a, layer(x, training=True).numpy())
    np.testing.assert_allclose(a, layer(x).numpy())


def test_bidirectional(backend):
    def ref(x, w):
        fw, _ = np_rnn(x, w[:3], simple_cell, 1, return_sequences=True)
        bw, _ = np_rnn(x, w[3:], simple_cell, 1, go_backwards=True, return_sequences=True)
        return np.concatenate([fw, bw[:, ::-1]], -1)

    run_layer_test(
        layers.Bidirectional,
        {"layer": layers.SimpleRNN(2, return_sequences=True)},
        (2, 3, 2),
        (2, 3, 4),
        expected_trainable=6,
        reference=ref,
    )


def test_bidirectional_sum_states(backend):
    layer = layers.Bidirectional(layers.GRU(2, return_state=True), merge_mode="sum")
    out = layer(make_input((2, 3, 2)))
    assert [t.shape for t in out] == [(2, 2), (2, 2), (2, 2)]
    np.testing.assert_allclose(
        out[0].numpy(), out[1].numpy() + out[2].numpy(), rtol=1e-5, atol=1e-6
    )


def test_time_distributed(backend):
    run_layer_test(
        layers.TimeDistributed,
        {"layer": {"class_name": "Dense", "config": {"units": 2}}},
        (2, 3, 4),
        (2, 3, 2),
        expected_trainable=2,
        reference=lambda x, w: x @ w[0] + w[1],
    )
    td = layers.TimeDistributed(layers.Conv2D(2, 2))
    assert td(make_input((2, 3, 4, 4, 1))).shape == (2, 3, 3, 3, 2)


def test_recurrent_errors(backend):
    with pytest.raises(ValueError, match="rank 3"):
        layers.LSTM(2)(np.zeros((2, 3), np.float32))
    layer = layers.GRU(2)
    layer(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match="3 features"):
        layer(np.zeros((1, 2, 4), np.float32))
    with pytest.raises(TypeError, match="recurrent layer"):
        layers.Bidirectional(layers.Dense(2))
    with pytest.raises(ValueError, match="reset_after"):
        layers.GRU(2, reset_after=True)


def test_initial_state(backend):
    x = make_input((2, 3, 2))
    h0, c0 = make_input((2, 2), seed=5), make_input((2, 2), seed=6)
    layer = layers.LSTM(2)
    got = layer(x, initial_state=[h0, c0]).numpy()

    def run_from(states):
        kernel, rec, bias = layer.get_weights()
        for i in range(3):
            _, states = lstm_cell(x[:, i] @ kernel + bias, states, rec)
        return states[0]

    np.testing.assert_allclose(got, run_from([h0, c0]), rtol=1e-4, atol=1e-5)
    # symbolic: states as extra model inputs
    xi, hi, ci = layers.input(shape=[3, 2]), layers.input(shape=[2]), layers.input(shape=[2])
    model = layers.model(inputs=[xi, hi, ci], outputs=layer(xi, initial_state=[hi, ci]))
    np.testing.assert_allclose(model.predict([x, h0, c0]).numpy(), got, rtol=1e-5)
    with pytest.raises(ValueError, match="initial state"):
        layer(x, initial_state=[h0])
