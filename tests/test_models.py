"""Sequential and functional models: building, predict, summary, weights, config, data checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import engine as tw
import layers
from layers.data import as_input_list


def _mlp():
    return layers.sequential(
        [
            layers.dense(units=4, activation="relu", input_shape=[3]),
            layers.dropout(rate=0.5),
            layers.dense(units=2, activation="softmax"),
        ]
    )


def test_sequential_basics(backend):
    m = _mlp()
    assert m.built and len(m.layers) == 3
    assert m.input_shapes == [(None, 3)] and m.output_shapes == [(None, 2)]
    assert m.output_names == [m.layers[-1].name] and len(m.input_names) == 1
    assert [w.shape for w in m.weights] == [(3, 4), (4,), (4, 2), (2,)]
    assert m.weights == m.trainable_weights and m.non_trainable_weights == []
    assert m.stop_training is False and m.regularization_losses() == []
    x = np.random.default_rng(0).normal(size=(70, 3)).astype(np.float32)
    p = m.predict(x, batch_size=32)
    assert isinstance(p, tw.Tensor) and p.shape == (70, 2)
    w = m.get_weights()
    np.testing.assert_allclose(p.numpy(), _np_mlp(x, w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.predict_on_batch(x.tolist()).numpy(), p.numpy(), rtol=1e-6)
    outs = m.run([tw.tensor(x)], training=False)
    assert isinstance(outs, list) and len(outs) == 1


def _np_mlp(x, w):
    h = np.maximum(x @ w[0] + w[1], 0)
    z = h @ w[2] + w[3]
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_sequential_add_and_input_dim(backend):
    m = layers.sequential()
    assert not m.built
    m.add(layers.dense(units=3, input_dim=2))
    m.add(layers.dense(units=1))
    assert m.built and m.output_shapes == [(None, 1)]
    m2 = layers.sequential([layers.dense(units=2, batch_input_shape=[None, 5])])
    assert m2.input_shapes == [(None, 5)]
    deferred = layers.sequential([layers.dense(units=2), layers.dense(units=1)])
    assert not deferred.built
    assert deferred.predict(np.zeros((3, 4))).shape == (3, 1)
    assert deferred.built and deferred.input_shapes == [(None, 4)]
    with pytest.raises(TypeError, match="expects a layer"):
        m.add("dense")


def test_training_flag_reaches_dropout_and_batchnorm(backend):
    tw.set_seed(0)
    bn = layers.BatchNormalization()
    m = layers.sequential([layers.dense(units=8, input_shape=[3]), bn, layers.dropout(rate=0.5)])
    x = tw.tensor(np.random.default_rng(1).normal(size=(16, 3)) * 3 + 2)
    a = m.run([x], training=False)[0].numpy()
    np.testing.assert_allclose(a, m.run([x], training=False)[0].numpy())
    assert np.all(bn.get_weights()[2] == 0)
    b = m.run([x], training=True)[0].numpy()
    assert (b == 0).mean() > 0.2  # dropout active
    assert not np.all(bn.get_weights()[2] == 0)  # moving mean updated
    assert len(m.non_trainable_weights) == 2 and len(m.trainable_weights) == 4


def test_functional_multi_io_shared_layer(backend):
    a = layers.input(shape=[3], name="in_a")
    b = layers.input(shape=[3], name="in_b")
    shared = layers.dense(units=2, name="shared")
    ha, hb = shared.apply(a), shared.apply(b)
    merged = layers.concatenate([ha, hb])
    out1 = layers.dense(units=1, name="out1")(merged)
    out2 = layers.activation(activation="softmax", name="out2")(hb)
    m = layers.model(inputs=[a, b], outputs=[out1, out2])
    assert [la.name for la in m.layers][:2] == ["in_a", "in_b"]
    assert m.input_names == ["in_a", "in_b"] and m.output_names == ["out1", "out2"]
    assert m.output_shapes == [(None, 1), (None, 2)]
    assert len(m.weights) == 4  # the shared layer counts once
    assert m.get_layer("shared") is shared
    xa, xb = np.ones((5, 3)), np.zeros((5, 3))
    o1, o2 = m.predict([xa, xb], batch_size=2)
    assert o1.shape == (5, 1) and o2.shape == (5, 2)
    k, bias = shared.get_weights()
    np.testing.assert_allclose(
        o2.numpy(), np.tile(np.exp(bias) / np.exp(bias).sum(), (5, 1)), rtol=1e-5
    )
    d1, d2 = m.predict({"in_a": xa, "in_b": xb})
    np.testing.assert_allclose(d1.numpy(), o1.numpy())
    with pytest.raises(ValueError, match="no layer named"):
        m.get_layer("nope")


def test_model_as_layer_and_nested(backend):
    inner = _mlp()
    x = layers.input(shape=[3])
    y = layers.dense(units=1)(inner(x))
    outer = layers.model(inputs=x, outputs=y)
    assert outer.output_shapes == [(None, 1)]
    assert len(outer.weights) == 6
    data = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(
        outer.predict(data).numpy(), outer.layers[-1](inner.predict(data)).numpy(), rtol=1e-5
    )
    seq = layers.sequential([inner, layers.dense(units=1)])
    assert seq.output_shapes == [(None, 1)]


def test_graph_errors():
    a, b = layers.input(shape=[2]), layers.input(shape=[2])
    y = layers.add([a, b])
    with pytest.raises(ValueError, match="not in the model's inputs"):
        layers.model(inputs=a, outputs=y)
    with pytest.raises(TypeError, match="symbolic"):
        layers.model(inputs=a, outputs=np.zeros(2))
    d = layers.dense(units=1, name="dup")
    with pytest.raises(ValueError, match="unique"):
        layers.model(inputs=a, outputs=[d(a), layers.dense(units=1, name="dup")(a)])
    with pytest.raises(TypeError, match="mix"):
        layers.add([a, np.zeros((1, 2))])


def test_predict_data_errors(backend):
    m = _mlp()
    with pytest.raises(ValueError, match=r"expected shape \(None, 3\).*\(2, 4\)"):
        m.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="batch_size"):
        m.predict(np.zeros((2, 3)), batch_size=0)
    a, b = layers.input(shape=[1], name="da"), layers.input(shape=[2], name="db")
    two = layers.model(inputs=[a, b], outputs=layers.concatenate([a, b]))
    with pytest.raises(ValueError, match="2 input"):
        two.predict(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="missing"):
        two.predict({"da": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="same number of samples"):
        two.predict([np.zeros((2, 1)), np.zeros((3, 2))])
    xs = as_input_list([[1, 2, 3]], m)
    assert len(xs) == 1 and xs[0].shape == (1, 3) and xs[0].dtype == "float32"
    assert as_input_list(tw.tensor([[1, 2, 3]], dtype="int32"), m)[0].dtype == "float32"


def test_get_set_weights(backend):
    m = _mlp()
    new = [np.full(w.shape, i, np.float32) for i, w in enumerate(m.weights)]
    m.set_weights(new)
    for got, want in zip(m.get_weights(), new, strict=False):
        np.testing.assert_array_equal(got, want)
    before = m.get_weights()
    bad = list(new)
    bad[3] = np.zeros((3,))
    with pytest.raises(ValueError, match="shape"):
        m.set_weights(bad)
    with pytest.raises(ValueError, match="expected 4 arrays"):
        m.set_weights(new[:2])
    for got, want in zip(m.get_weights(), before, strict=False):
        np.testing.assert_array_equal(got, want)


def test_summary(backend):
    m = _mlp()
    lines: list[str] = []
    assert m.summary(print_fn=lines.append) is None  # printed once, nothing for a REPL to echo
    text = "\n".join(lines)
    assert "Param #" in text and "Total params: 26" in text and "Trainable params: 26" in text
    assert f"{m.layers[0].name} (Dense)" in text and "[null, 4]" in text

    def captured(model) -> str:
        out: list[str] = []
        model.summary(print_fn=out.append)
        return "\n".join(out)

    bn = layers.sequential([layers.batch_normalization(input_shape=[3])])
    assert "Non-trainable params: 6" in captured(bn)
    a = layers.input(shape=[2], name="sa")
    f = layers.model(inputs=a, outputs=layers.dense(units=1)(a))
    assert "sa[0][0]" in captured(f)


def test_config_round_trip(backend):
    m = layers.sequential(
        [
            layers.conv2d(filters=2, kernel_size=2, input_shape=[4, 4, 1], activation="relu"),
            layers.max_pooling2d(pool_size=2),
            layers.flatten(),
            layers.dense(units=3, kernel_regularizer="l2"),
        ]
    )
    config = json.loads(json.dumps(m.get_config()))
    assert [e["class_name"] for e in config["layers"]] == [
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
    ]
    assert config["layers"][0]["config"]["batch_input_shape"] == [None, 4, 4, 1]
    clone = layers.Sequential.from_config(config)
    clone.set_weights(m.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(clone.predict(x).numpy(), m.predict(x).numpy(), rtol=1e-5)

    a = layers.input(shape=[3], name="fa")
    shared = layers.dense(units=3, name="fshared")
    h = shared(shared(a))
    f = layers.model(inputs=a, outputs=[h, layers.dense(units=1, name="fo")(h)], name="fmodel")
    fc = json.loads(json.dumps(f.get_config()))
    assert fc["input_layers"] == [["fa", 0, 0]] and fc["output_layers"] == [
        ["fshared", 1, 0],
        ["fo", 0, 0],
    ]
    f2 = layers.Model.from_config(fc)
    f2.set_weights(f.get_weights())
    for u, v in zip(f2.predict(x[:, 0, :3, 0]), f.predict(x[:, 0, :3, 0]), strict=False):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-5)


def test_regularization_and_constraints_interface(backend):
    m = layers.sequential(
        [
            layers.dense(
                units=2,
                input_shape=[2],
                kernel_regularizer=layers.regularizers.l1(0.5),
                kernel_constraint="nonNeg",
            )
        ]
    )
    m.set_weights([np.array([[1.0, -1.0], [2.0, -2.0]]), np.zeros(2)])
    losses = m.regularization_losses()
    assert len(losses) == 1 and np.isclose(losses[0].item(), 3.0)
    m.apply_constraints()
    np.testing.assert_array_equal(m.get_weights()[0], [[1, 0], [2, 0]])


def test_keras_style_config_keys(backend):
    spec = {
        "class_name": "LSTM",
        "config": {
            "name": "k_lstm",
            "units": 2,
            "time_major": False,
            "returnSequences": True,
            "dtype": {"class_name": "DTypePolicy", "config": {"name": "float32"}},
        },
    }
    layer = layers.deserialize_layer(spec)
    assert layer.return_sequences and layer.dtype == "float32"
    inp = layers.InputLayer(batch_shape=[None, 4])
    assert inp.output.shape == (None, 4)
    with pytest.raises(ValueError, match="unknown layer class"):
        layers.deserialize_layer({"class_name": "Dense3D", "config": {}})


def test_activity_regularizer(backend):
    dense = layers.dense(
        units=2, input_shape=[2], activity_regularizer=layers.regularizers.l1(0.1), use_bias=False
    )
    inner = layers.sequential([dense])
    outer = layers.sequential([inner])
    inner.set_weights([np.eye(2)])
    x = tw.tensor([[1.0, -2.0], [3.0, 0.0]])
    outer.run([x], training=True)
    losses = outer.regularization_losses()
    assert len(losses) == 1 and np.isclose(
        losses[0].item(), 0.1 * 6 / 2
    )  # per-sample mean, as Keras
    outer.run([x], training=False)
    assert outer.regularization_losses() == []
