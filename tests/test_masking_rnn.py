"""Masking and mask propagation into recurrent layers, and the generic RNN layer with its cells
(issue 21 item 1), against numpy step loops (Keras/TF.js mask semantics: a masked step carries
the states over and repeats the previous output, zeros before the first unmasked step)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from layer_harness import check_gradients
from test_layers_recurrent import gru_cell, lstm_cell, np_rnn, simple_cell

import engine as tw
import layers
from engine import train
from layers.saving import load_model, save_model

L = layers

REFERENCE = {
    "SimpleRNN": (L.SimpleRNN, L.SimpleRNNCell, simple_cell, 1),
    "LSTM": (L.LSTM, L.LSTMCell, lstm_cell, 2),
    "GRU": (L.GRU, L.GRUCell, gru_cell, 1),
}


def _padded(seed: int = 0) -> np.ndarray:
    """(3, 5, 2) sequences with all-zero (padded) steps at the start, middle and end."""
    x = np.random.default_rng(seed).normal(size=(3, 5, 2)).astype(np.float32)
    x[0, 3:] = 0.0  # trailing padding
    x[1, :2] = 0.0  # leading padding: the outputs there are zeros
    x[2, 2] = 0.0  # a gap: the state is carried over it
    return x


class _MinimalRNNCell(L.Layer):
    """A custom cell (the Keras guide's minimal RNN): ``h = tanh(x @ kernel + h @ recurrent)``.

    The leading underscore keeps it out of the layer registry (it is test-only)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "glorotUniform")
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, self.units), "orthogonal"
        )
        self.built = True

    def call(self, inputs, states):
        h = tw.tanh(
            tw.add(tw.matmul(inputs, self.kernel), tw.matmul(states[0], self.recurrent_kernel))
        )
        return h, [h]


# --- Masking -----------------------------------------------------------------------------------------
def test_masking_layer(backend):
    x = _padded()
    x[0, 1, 1] = -1.0  # one feature equal to mask_value does not mask the step
    x[2, 4] = -1.0
    layer = L.Masking(mask_value=-1.0)
    keep = np.any(x != -1.0, axis=-1)
    np.testing.assert_array_equal(layer(x).numpy(), x * keep[..., None])
    mask = layer.compute_mask(tw.tensor(x))
    assert mask.dtype == "bool"
    np.testing.assert_array_equal(mask.numpy(), keep)
    assert keep[0, 1] and not keep[2, 4]
    config = layer.get_config()
    assert config["mask_value"] == -1.0
    assert L.Masking.from_config({"maskValue": 2.0, "name": "m_tfjs"}).mask_value == 2.0


def test_masking_errors():
    with pytest.raises(TypeError, match="mask_value must be a number"):
        L.Masking(mask_value="0")
    with pytest.raises(ValueError, match="rank >= 2"):
        L.Masking()(np.zeros((3,), np.float32))
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, steps\)"):
        L.LSTM(2)(np.ones((2, 3, 1), np.float32), mask=tw.ones((2, 4), "bool"))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_masking_into_recurrent_layers(backend, name):
    """Masking -> SimpleRNN/LSTM/GRU in a Sequential model equals the numpy loop with the mask."""
    cls, _, cell, n_states = REFERENCE[name]
    x = _padded()
    keep = np.any(x != 0, axis=-1)
    rnn = cls(3, return_sequences=True, bias_initializer="randomNormal")
    model = L.sequential([L.Masking(input_shape=[5, 2]), rnn])
    got = model.predict(x).numpy()
    want, _ = np_rnn(x, rnn.get_weights(), cell, n_states, return_sequences=True, mask=keep)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # masked steps repeat the previous output; zeros before the first unmasked step
    np.testing.assert_array_equal(got[1, :2], 0.0)
    np.testing.assert_array_equal(got[0, 3], got[0, 2])
    np.testing.assert_array_equal(got[0, 4], got[0, 2])
    np.testing.assert_array_equal(got[2, 2], got[2, 1])
    assert not np.allclose(got[2, 3], got[2, 2])
    # return_sequences=False: the output of the last unmasked step
    last = cls(3, bias_initializer="randomNormal")
    last_model = L.sequential([L.Masking(input_shape=[5, 2]), last])
    out = last_model.predict(x).numpy()
    seq, _ = np_rnn(x, last.get_weights(), cell, n_states, return_sequences=True, mask=keep)
    np.testing.assert_allclose(out, seq[:, -1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out[0], seq[0, 2], rtol=1e-4, atol=1e-5)


def test_embedding_mask_zero_into_lstm(backend):
    ids = np.array([[3, 1, 0, 0], [0, 2, 4, 0], [1, 2, 3, 4]], np.int32)
    emb = L.Embedding(5, 3, mask_zero=True, input_length=4)
    lstm = L.LSTM(2, return_sequences=True)
    model = L.sequential([emb, lstm, L.TimeDistributed(L.Dense(1))])
    got = model.predict(ids).numpy()
    x = emb.get_weights()[0][ids]
    seq, _ = np_rnn(x, lstm.get_weights(), lstm_cell, 2, return_sequences=True, mask=ids != 0)
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(got, seq @ kernel + bias, rtol=1e-4, atol=1e-5)


def test_mask_propagation_through_layers(backend):
    """Dense/TimeDistributed on 3-D input pass the mask on (Keras), the LSTM uses it; the
    Bidirectional layer passes it on for sequences; a layer without masking support drops it."""
    x = _padded(1)
    keep = np.any(x != 0, axis=-1)
    inp = L.input(shape=[5, 2])
    masked = L.Masking()(inp)
    dense = L.Dense(3, activation="tanh")
    td = L.TimeDistributed(L.Dense(3))
    lstm = L.LSTM(2)
    model = L.model(inputs=inp, outputs=lstm(td(dense(masked))))
    got = model.predict(x).numpy()
    h = np.tanh(x @ dense.get_weights()[0] + dense.get_weights()[1])
    h = h @ td.get_weights()[0] + td.get_weights()[1]
    want, _ = np_rnn(h, lstm.get_weights(), lstm_cell, 2, mask=keep)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # without the mask the padded steps would count: the test can tell the difference
    unmasked, _ = np_rnn(h, lstm.get_weights(), lstm_cell, 2)
    assert not np.allclose(got, unmasked, atol=1e-3)

    mask = tw.tensor(keep)
    bi = L.Bidirectional(L.LSTM(2, return_sequences=True))
    np.testing.assert_array_equal(bi.compute_mask(tw.tensor(x), mask).numpy(), keep)
    bi_none = L.Bidirectional(L.GRU(2, return_sequences=True, return_state=True), merge_mode=None)
    out_masks = bi_none.compute_mask(tw.tensor(x), mask)
    assert len(out_masks) == 4 and out_masks[2:] == [None, None]
    assert L.Bidirectional(L.LSTM(2)).compute_mask(tw.tensor(x), mask) is None
    assert L.Flatten().compute_mask(tw.tensor(x), mask) is None


def test_bidirectional_masked_matches_reference(backend):
    x = _padded(2)
    keep = np.any(x != 0, axis=-1)
    bi = L.Bidirectional(L.RNN(L.SimpleRNNCell(2), return_sequences=True))
    model = L.sequential([L.Masking(input_shape=[5, 2]), bi])
    got = model.predict(x).numpy()
    w = bi.get_weights()
    fw, _ = np_rnn(x, w[:3], simple_cell, 1, return_sequences=True, mask=keep)
    bw, _ = np_rnn(x, w[3:], simple_cell, 1, go_backwards=True, return_sequences=True, mask=keep)
    np.testing.assert_allclose(got, np.concatenate([fw, bw[:, ::-1]], -1), rtol=1e-4, atol=1e-5)


# --- the generic RNN layer ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_rnn_cell_equals_layer(backend, name):
    """RNN(<X>Cell) computes what the X layer does with the same weights, masks included."""
    cls, cell_cls, _, n_states = REFERENCE[name]
    x = _padded(3)
    mask = tw.tensor(np.any(x != 0, axis=-1))
    for kw in ({"return_sequences": True, "return_state": True}, {"go_backwards": True}):
        layer = cls(3, bias_initializer="randomNormal", **kw)
        rnn = L.RNN(cell_cls(3), **kw)
        want = layer(x, mask=mask)
        rnn(x)
        rnn.set_weights(layer.get_weights())
        got = rnn(x, mask=mask)
        want, got = (v if isinstance(v, list) else [v] for v in (want, got))
        assert len(got) == len(want) == (1 + n_states if kw.get("return_state") else 1)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert [w.shape for w in rnn.weights] == [w.shape for w in layer.weights]


def test_stacked_cells_equal_stacked_layers(backend):
    x = _padded(4)
    mask = tw.tensor(np.any(x != 0, axis=-1))
    stacked = L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]), return_state=True)
    out = stacked(x, mask=mask)
    assert stacked.cell.state_size == [2, 3, 3]  # TF.js: states in reverse cell order
    assert [t.shape for t in out] == [(3, 2), (3, 2), (3, 3), (3, 3)]
    first = L.LSTM(3, return_sequences=True, return_state=True)
    second = L.GRU(2, return_state=True)
    weights = stacked.get_weights()
    first(x)
    first.set_weights(weights[:3])
    seq, h1, c1 = first(x, mask=mask)
    second(seq)
    second.set_weights(weights[3:])
    y, h2 = second(seq, mask=mask)
    for a, b in zip(out, [y, h2, h1, c1], strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    # a list of cells is stacked too
    as_list = L.RNN([L.LSTMCell(3), L.GRUCell(2)])
    as_list(x)
    as_list.set_weights(weights)
    np.testing.assert_allclose(as_list(x, mask=mask).numpy(), y.numpy(), rtol=1e-5, atol=1e-6)


def test_rnn_initial_state_and_symbolic_shapes(backend):
    x = np.random.default_rng(5).normal(size=(2, 3, 2)).astype(np.float32)
    h0 = np.random.default_rng(6).normal(size=(2, 2)).astype(np.float32)
    c0 = np.random.default_rng(7).normal(size=(2, 2)).astype(np.float32)
    lstm = L.LSTM(2)
    want = lstm(x, initial_state=[h0, c0]).numpy()
    rnn = L.RNN(L.LSTMCell(2))
    rnn(x)
    rnn.set_weights(lstm.get_weights())
    np.testing.assert_allclose(rnn(x, initial_state=[h0, c0]).numpy(), want, rtol=1e-5, atol=1e-6)
    xi, hi, ci = L.input(shape=[3, 2]), L.input(shape=[2]), L.input(shape=[2])
    model = L.model(inputs=[xi, hi, ci], outputs=rnn(xi, initial_state=[hi, ci]))
    np.testing.assert_allclose(model.predict([x, h0, c0]).numpy(), want, rtol=1e-5, atol=1e-6)
    seq = L.RNN(L.GRUCell(4), return_sequences=True, return_state=True)(L.input(shape=[7, 3]))
    assert [t.shape for t in seq] == [(None, 7, 4), (None, 4)]
    with pytest.raises(ValueError, match="initial state"):
        rnn(x, initial_state=[h0])


def test_custom_cell_matches_numpy_and_trains(backend):
    """A custom cell (state_size + call(inputs, states)) in RNN: numpy loop with a mask, and fit."""
    tw.set_seed(3)
    x = _padded(5)
    keep = np.any(x != 0, axis=-1)
    cell = _MinimalRNNCell(4)
    model = L.sequential(
        [L.Masking(input_shape=[5, 2]), L.RNN(cell, return_sequences=True), L.Dense(1)]
    )
    got = model.predict(x).numpy()
    kernel, rec = cell.get_weights()
    dk, db = model.layers[-1].get_weights()
    seq, _ = np_rnn(
        x,
        [kernel, rec, np.zeros(4, np.float32)],
        _np_min,
        1,
        return_sequences=True,
        mask=keep,
    )
    np.testing.assert_allclose(got, seq @ dk + db, rtol=1e-4, atol=1e-5)

    rng = np.random.default_rng(0)
    xs = rng.normal(size=(32, 5, 2)).astype(np.float32)
    ys = (0.5 * np.cumsum(xs[..., :1], axis=1)).astype(np.float32)  # a running sum: causal
    model.compile(optimizer=train.adam(0.05), loss="meanSquaredError")
    history = model.fit(xs, ys, epochs=8, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses


def _np_min(xw, states, rec):
    h = np.tanh(xw + states[0] @ rec)
    return h, [h]


def test_cell_called_directly(backend):
    """A cell takes one step: Keras style ``call(x, states) -> (output, states)`` and TF.js
    style ``call([x, *states]) -> [output, *states]``, building itself on first use."""
    x = np.random.default_rng(8).normal(size=(2, 3)).astype(np.float32)
    h = np.random.default_rng(9).normal(size=(2, 4)).astype(np.float32)
    c = np.random.default_rng(10).normal(size=(2, 4)).astype(np.float32)
    cell = L.LSTMCell(4, bias_initializer="randomNormal")
    out, (h1, c1) = cell.call(tw.tensor(x), [tw.tensor(h), tw.tensor(c)])
    kernel, rec, bias = cell.get_weights()
    want_out, (want_h, want_c) = lstm_cell(x @ kernel + bias, [h, c], rec)
    for got, want in ((out, want_out), (h1, want_h), (c1, want_c)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    listed = cell.call([tw.tensor(x), tw.tensor(h), tw.tensor(c)])
    assert isinstance(listed, list) and len(listed) == 3
    np.testing.assert_allclose(listed[2].numpy(), want_c, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="takes 2 state"):
        cell.call(tw.tensor(x), [tw.tensor(h)])


def test_rnn_dropout_masks_per_sequence(backend):
    tw.set_seed(0)
    rnn = L.RNN(L.LSTMCell(3, dropout=0.5, recurrent_dropout=0.5))
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype(np.float32)
    a = rnn(x).numpy()
    assert not np.allclose(a, rnn(x, training=True).numpy())
    np.testing.assert_allclose(a, rnn(x).numpy())
    assert rnn.cell._dropout_mask is None  # not kept beyond the call


def test_masked_gradients_by_finite_differences():
    """Masking -> LSTM -> Dense: weight gradients by central differences; d/dx is zero at the
    padded steps and matches finite differences elsewhere."""
    with tw.backend_scope("numpy"):
        tw.set_seed(4)
        x = _padded(6)
        model = L.sequential(
            [L.Masking(input_shape=[5, 2]), L.LSTM(3, return_sequences=True), L.Dense(2)]
        )
        check_gradients(model, [x], wrt_inputs=False, eps=1e-2, rtol=5e-2, atol=5e-3)
        coeff = np.random.default_rng(1).normal(size=(3, 5, 2)).astype(np.float32)

        def f(t):
            return tw.sum(tw.mul(model(t), tw.tensor(coeff)))

        g = tw.grad(f)(tw.tensor(x)).numpy()
        keep = np.any(x != 0, axis=-1)
        np.testing.assert_array_equal(g[~keep], 0.0)
        for idx in [(0, 1, 0), (1, 3, 1), (2, 4, 0)]:
            plus, minus = x.copy(), x.copy()
            plus[idx] += 1e-2
            minus[idx] -= 1e-2
            num = (float(f(tw.tensor(plus)).numpy()) - float(f(tw.tensor(minus)).numpy())) / 2e-2
            assert abs(num - g[idx]) <= 5e-3 + 5e-2 * abs(num), (idx, num, g[idx])


# --- configs, saving, errors -------------------------------------------------------------------------
def test_rnn_config_round_trip_and_tfjs_config():
    rnn = L.RNN(L.StackedRNNCells([L.LSTMCell(3, unit_forget_bias=True), L.SimpleRNNCell(2)]))
    config = json.loads(json.dumps(rnn.get_config()))
    assert config["cell"]["class_name"] == "StackedRNNCells"
    assert [c["class_name"] for c in config["cell"]["config"]["cells"]] == [
        "LSTMCell",
        "SimpleRNNCell",
    ]
    again = L.RNN.from_config(config)
    assert again.get_config() == rnn.get_config()
    # TF.js's RNN.getConfig repeats the cell's keys at the top level (camelCase in memory)
    tfjs = {
        "name": "rnn_RNN7",
        "trainable": True,
        "batchInputShape": [None, 4, 2],
        "dtype": "float32",
        "units": 3,
        "activation": "tanh",
        "recurrentActivation": "hard_sigmoid",
        "unitForgetBias": True,
        "returnSequences": True,
        "returnState": False,
        "goBackwards": False,
        "stateful": False,
        "unroll": False,
        "cell": {
            "class_name": "LSTMCell",
            "config": {
                "name": "lstm_cell_LSTMCell7",
                "trainable": True,
                "dtype": "float32",
                "units": 3,
                "activation": "tanh",
                "recurrentActivation": "hard_sigmoid",
                "useBias": True,
                "unitForgetBias": True,
                "dropout": 0,
                "recurrentDropout": 0,
                "implementation": 2,
            },
        },
    }
    layer = L.deserialize_layer({"class_name": "RNN", "config": tfjs})
    assert isinstance(layer.cell, L.LSTMCell) and layer.cell.unit_forget_bias
    assert layer.return_sequences and layer.cell.units == 3
    with pytest.raises(ValueError, match="num_constants"):
        L.RNN.from_config({**tfjs, "numConstants": 1})


def test_rnn_save_load_round_trip_and_tfjs_weight_names(tmp_path):
    with tw.backend_scope("numpy"):
        tw.set_seed(2)
        ids = L.input(shape=[4], dtype="int32", name="ids")
        x = L.Embedding(5, 3, mask_zero=True, name="emb")(ids)
        x = L.RNN(L.LSTMCell(3), return_sequences=True, name="rnn_a")(x)
        x = L.Bidirectional(L.RNN(L.SimpleRNNCell(2), return_sequences=True, name="fw"), name="bi")(
            x
        )
        x = L.RNN([L.GRUCell(2), L.SimpleRNNCell(2)], name="rnn_b")(x)
        model = L.model(inputs=ids, outputs=L.Dense(1, name="out")(x))
        data = np.array([[1, 2, 0, 0], [0, 4, 3, 1]], np.int32)
        before = model.predict(data).numpy()
        save_model(model, tmp_path / "m")
        doc = json.loads((tmp_path / "m" / "model.json").read_text())
        names = [w["name"] for w in doc["weightsManifest"][0]["weights"]]
        assert names[:4] == [
            "emb/embeddings",
            "rnn_a/kernel",
            "rnn_a/recurrent_kernel",
            "rnn_a/bias",
        ]
        assert "rnn_b/RNNCell_0/kernel" in names and "rnn_b/RNNCell_1/bias" in names
        assert "bi/forward_fw/kernel" in names and "bi/backward_fw/recurrent_kernel" in names
        loaded = load_model(tmp_path / "m")
        np.testing.assert_allclose(loaded.predict(data).numpy(), before, rtol=1e-6, atol=1e-6)
        assert loaded.get_config() == model.get_config()


def test_rnn_errors():
    with pytest.raises(ValueError, match="stateful=True is not supported"):
        L.RNN(L.LSTMCell(2), stateful=True)
    with pytest.raises(TypeError, match="state_size"):
        L.RNN(L.Dense(2))
    with pytest.raises(TypeError, match="cell argument is missing"):
        L.RNN(None)
    with pytest.raises(ValueError, match="at least one cell"):
        L.StackedRNNCells([])
    with pytest.raises(TypeError, match="list of cells"):
        L.StackedRNNCells(L.LSTMCell(2))
    with pytest.raises(ValueError, match="reset_after"):
        L.GRUCell(2, reset_after=True)
    with pytest.raises(TypeError, match="recurrent_activation"):
        L.SimpleRNNCell(2, recurrent_activation="sigmoid")
    with pytest.raises(ValueError, match="rank 3"):
        L.RNN(L.LSTMCell(2))(np.zeros((2, 3), np.float32))
    rnn = L.RNN(L.GRUCell(2))
    rnn(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match="3 features"):
        rnn(np.zeros((1, 2, 4), np.float32))

    class _BadCell(L.Layer):
        state_size = 2

        def call(self, inputs, states):
            return inputs

    with pytest.raises(TypeError, match=r"must return \(output, new_states\)"):
        L.RNN(_BadCell())(np.zeros((1, 2, 2), np.float32))
