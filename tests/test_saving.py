"""Saving and loading in the TF.js layers format (tfjs-compat §5): round trips of every layer
class on every backend, the manifest layout, sharded and quantised manifests, malformed input,
atomic saves and optimizer-state resume."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import engine as tw
import layers
from engine import train
from layers import saving, tfjs_format
from layers.saving import ModelLoadError, load_model, save_model

L = layers


def _inputs(model: layers.Model, seed: int = 0, n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = (n,) + tuple(t.shape[1:])
        consumers = [
            la
            for la in model.layers
            if any(nd.inputs and nd.inputs[0] is t for nd in la._inbound_nodes)
        ]
        if t.dtype == "int32" or any(isinstance(la, L.Embedding) for la in consumers):
            out.append(rng.integers(0, 6, size=shape).astype(np.int32))
        else:
            out.append(rng.normal(size=shape).astype(np.float32))
    return out


def _predict(model: layers.Model, xs: list[np.ndarray]) -> list[np.ndarray]:
    out = model.predict(xs[0] if len(xs) == 1 else xs)
    return [o.numpy() for o in (out if isinstance(out, list) else [out])]


# --- models covering every layer class --------------------------------------------------------------
def _dense_stack() -> layers.Model:
    return L.sequential(
        [
            L.dense(units=5, activation="relu", input_shape=[4], kernel_initializer="heUniform"),
            L.batch_normalization(),
            L.dropout(rate=0.3),
            L.gaussian_noise(stddev=0.1),
            L.alpha_dropout(rate=0.2),
            L.activation(activation="hardSigmoid"),
            L.dense(
                units=3,
                activation="softmax",
                kernel_initializer={
                    "class_name": "VarianceScaling",
                    "config": {"scale": 2.0, "mode": "fan_in"},
                },
            ),
        ]
    )


def _conv2d_stack() -> layers.Model:
    return L.sequential(
        [
            L.Conv2D(3, 3, padding="same", activation="relu", input_shape=[8, 8, 2]),
            L.MaxPooling2D(pool_size=2),
            L.DepthwiseConv2D(kernel_size=2, depth_multiplier=2, padding="same"),
            L.SeparableConv2D(4, 2, activation="tanh"),
            L.Conv2DTranspose(2, 2, strides=2),
            L.UpSampling2D(size=2),
            L.ZeroPadding2D(padding=1),
            L.AveragePooling2D(pool_size=2),
            L.GlobalMaxPooling2D(),
            L.Dense(2),
        ]
    )


def _conv2d_flat() -> layers.Model:
    return L.sequential(
        [
            L.Conv2D(2, 3, input_shape=[6, 6, 1]),
            L.GlobalAveragePooling2D(),
            L.RepeatVector(3),
            L.Flatten(),
        ]
    )


def _conv1d_stack() -> layers.Model:
    return L.sequential(
        [
            L.Conv1D(4, 2, activation="elu", input_shape=[8, 2]),
            L.MaxPooling1D(pool_size=2),
            L.AveragePooling1D(pool_size=1),
            L.Permute(dims=[2, 1]),
            L.Reshape(target_shape=[-1, 2]),
            L.LayerNormalization(),
            L.GlobalAveragePooling1D(),
        ]
    )


def _recurrent_stack() -> layers.Model:
    return L.sequential(
        [
            L.Embedding(input_dim=6, output_dim=4, input_length=5),
            L.Bidirectional(L.LSTM(3, return_sequences=True)),
            L.TimeDistributed(L.Dense(2, activation="sigmoid")),
            L.GRU(3, return_sequences=True),
            L.SimpleRNN(2, return_sequences=True),
            L.GlobalMaxPooling1D(),
        ]
    )


def _functional() -> layers.Model:
    a = L.input(shape=[4], name="in_a")
    b = L.input(shape=[4], name="in_b")
    da = L.Dense(4, activation="selu")(a)
    db = L.Dense(4, activation="swish")(b)
    merged = [
        L.Add()([da, db]),
        L.Subtract()([da, db]),
        L.Multiply()([da, db]),
        L.Maximum()([da, db]),
        L.Minimum()([da, db]),
        L.Average()([da, db]),
    ]
    cat = L.Concatenate()(merged)
    out1 = L.Dense(2, activation="softplus")(cat)
    out2 = L.Dense(1, activation="tanh")(L.BatchNormalization()(da))
    return L.model(inputs=[a, b], outputs=[out1, out2])


def _nested() -> layers.Model:
    inner = L.sequential([L.Dense(3, activation="relu", input_shape=[4]), L.Dense(2)])
    x = L.input(shape=[4])
    return L.model(inputs=x, outputs=L.Dense(1)(inner(x)))


def _issue21_layers() -> layers.Model:
    """Advanced activations, cropping, noise, Dot and preprocessing layers (issue 21)."""
    img = L.input(shape=[6, 8, 2])
    ids = L.input(shape=[3], dtype="int32")
    x = L.Resizing(5, 6)(L.Rescaling(scale=0.5, offset=0.1)(img))
    x = L.Cropping2D(cropping=((1, 0), (0, 1)))(L.CenterCrop(4, 4)(x))
    x = L.LeakyReLU(alpha=0.2)(L.PReLU(shared_axes=[1, 2], alpha_initializer="ones")(x))
    x = L.SpatialDropout1D(rate=0.3)(L.Reshape(target_shape=[9, 2])(x))
    x = L.ThresholdedReLU(theta=0.1)(L.ELU(alpha=0.5)(L.GaussianDropout(rate=0.2)(x)))
    x = L.Flatten()(L.ReLU(max_value=2.0)(x))
    enc = L.CategoryEncoding(num_tokens=18, output_mode="count")(ids)
    return L.model(inputs=[img, ids], outputs=[L.Dot(axes=1)([x, enc]), L.Softmax()(x)])


def _issue21_recurrent() -> layers.Model:
    """Masking, Embedding(mask_zero) masks and the generic RNN layer with every cell (issue 21)."""
    ids = L.input(shape=[5], dtype="int32")
    seq = L.input(shape=[4, 3])
    x = L.Embedding(input_dim=6, output_dim=3, mask_zero=True)(ids)
    x = L.RNN(L.LSTMCell(3), return_sequences=True)(x)
    x = L.RNN(L.SimpleRNNCell(2), return_sequences=True, go_backwards=True)(x)
    x = L.RNN(L.StackedRNNCells([L.GRUCell(2), L.LSTMCell(2)]))(x)
    y = L.RNN(L.GRUCell(2))(L.Masking(mask_value=0.5)(seq))
    return L.model(inputs=[ids, seq], outputs=[x, y])


def _volumes() -> layers.Model:
    """3-D convolution and pooling, ConvLSTM2D (issue 21)."""
    vol = L.input(shape=[4, 4, 4, 1])
    v = L.Conv3D(2, 2, padding="same", activation="relu")(vol)
    v = L.AveragePooling3D(pool_size=2)(L.Conv3DTranspose(2, 2, strides=2)(L.MaxPooling3D()(v)))
    seq = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True)(v)  # depth as time
    return L.model(inputs=vol, outputs=L.Flatten()(L.ConvLSTM2D(1, 2)(seq)))


def _random_width() -> layers.Model:
    """RandomWidth (issue 21): identity in predict, its unknown width pooled away."""
    img = L.input(shape=[4, 6, 2])
    x = L.RandomWidth(factor=[-0.2, 0.3], interpolation="nearest", seed=5)(img)
    return L.model(inputs=img, outputs=L.Dense(2)(L.GlobalAveragePooling2D()(x)))


BUILDERS: dict[str, Callable[[], layers.Model]] = {
    "volumes": _volumes,
    "issue21": _issue21_layers,
    "issue21_recurrent": _issue21_recurrent,
    "random_width": _random_width,
    "dense": _dense_stack,
    "conv2d": _conv2d_stack,
    "conv2d_flat": _conv2d_flat,
    "conv1d": _conv1d_stack,
    "recurrent": _recurrent_stack,
    "functional": _functional,
}


def _classes_used(model: layers.Model) -> set[str]:
    out = set()
    for la in model.layers:
        out.add(la.class_name)
        for sub in la._sublayers:
            out.add(sub.class_name)
    return out


def test_every_layer_class_is_covered():
    """Each registered layer class appears in a round-tripped model (aliases count as their class)."""
    used: set[str] = set()
    for build in BUILDERS.values():
        used |= _classes_used(build())
    registered = {
        cls.__name__ for name, cls in layers.LAYER_CLASSES.items() if name == cls.__name__
    }
    missing = registered - used - {"Model", "Sequential"}
    assert not missing, f"add these layer classes to a round-trip model: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_round_trip_predictions(backend, name, tmp_path):
    tw.set_seed(1)
    model = BUILDERS[name]()
    xs = _inputs(model)
    before = _predict(model, xs)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model)
    assert [la.name for la in loaded.layers] == [la.name for la in model.layers]
    assert loaded.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(before, _predict(loaded, xs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_frozen_layer_round_trip(tmp_path):
    model = L.sequential([L.dense(units=3, input_shape=[2], name="a"), L.dense(units=2, name="b")])
    model.layers[0].trainable = False
    save_model(model, tmp_path / "m")
    names = [w["name"] for w in _doc(tmp_path / "m")["weightsManifest"][0]["weights"]]
    assert names == ["b/kernel", "b/bias", "a/kernel", "a/bias"]
    loaded = load_model(tmp_path / "m")
    assert not loaded.layers[0].trainable and len(loaded.trainable_weights) == 2
    for x, y in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_nested_model_round_trip(tmp_path):
    model = _nested()
    xs = _inputs(model)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(
        _predict(model, xs)[0], _predict(loaded, xs)[0], rtol=1e-6, atol=1e-6
    )


# --- the format --------------------------------------------------------------------------------------
def _doc(path: Path) -> dict:
    return json.loads((path / "model.json").read_text())


def test_model_json_layout(tmp_path):
    model = L.sequential(
        [
            L.dense(units=3, input_shape=[2], name="dense_Dense1"),
            L.batch_normalization(name="bn"),
            L.dense(units=1, name="out"),
        ]
    )
    save_model(model, f"file://{tmp_path / 'm'}")
    assert sorted(os.listdir(tmp_path / "m")) == ["model.json", "weights.bin"]
    doc = _doc(tmp_path / "m")
    assert doc["format"] == "layers-model"
    assert doc["generatedBy"].startswith("tensorweave")
    assert doc["convertedBy"] is None
    assert "trainingConfig" not in doc
    topo = doc["modelTopology"]
    assert topo["class_name"] == "Sequential"
    assert topo["keras_version"].startswith("tfjs-layers") and topo["backend"] == "tensor_flow.js"
    first = topo["config"]["layers"][0]
    assert first["class_name"] == "Dense"
    assert first["config"]["batch_input_shape"] == [None, 2]
    assert first["config"]["kernel_initializer"]["class_name"] == "GlorotNormal"
    assert "use_bias" in first["config"]
    (group,) = doc["weightsManifest"]
    assert group["paths"] == ["weights.bin"]
    names = [w["name"] for w in group["weights"]]
    # trainable weights first, batch-norm statistics after the later layer's kernel
    assert names == [
        "dense_Dense1/kernel",
        "dense_Dense1/bias",
        "bn/gamma",
        "bn/beta",
        "out/kernel",
        "out/bias",
        "bn/moving_mean",
        "bn/moving_variance",
    ]
    data = (tmp_path / "m" / "weights.bin").read_bytes()
    expected = b"".join(np.ascontiguousarray(w, dtype="<f4").tobytes() for w in model.get_weights())
    assert data == expected


def test_functional_topology_and_json_path(tmp_path):
    model = _functional()
    save_model(model, tmp_path / "f")
    topo = _doc(tmp_path / "f")["modelTopology"]
    assert topo["class_name"] == "Model"
    conf = topo["config"]
    assert conf["input_layers"] == [["in_a", 0, 0], ["in_b", 0, 0]]
    entry = next(e for e in conf["layers"] if e["class_name"] == "Concatenate")
    assert len(entry["inbound_nodes"][0]) == 6 and entry["inbound_nodes"][0][0][1:3] == [0, 0]
    loaded = load_model(tmp_path / "f" / "model.json")
    xs = _inputs(model)
    for a, b in zip(_predict(model, xs), _predict(loaded, xs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_wrapped_layer_weight_names(tmp_path):
    model = L.sequential(
        [
            L.Bidirectional(L.LSTM(2), name="bi", input_shape=[3, 2]),
            L.RepeatVector(2),
            L.TimeDistributed(L.Dense(1), name="td"),
        ]
    )
    save_model(model, tmp_path / "m")
    names = [w["name"] for w in _doc(tmp_path / "m")["weightsManifest"][0]["weights"]]
    inner = model.layers[0].forward_layer.name
    assert names[:3] == [
        f"bi/forward_{inner}/kernel",
        f"bi/forward_{inner}/recurrent_kernel",
        f"bi/forward_{inner}/bias",
    ]
    assert names[3].startswith("bi/backward_") and names[-2:] == ["td/kernel", "td/bias"]


def _rewrite(path: Path, doc: dict, files: dict[str, bytes]) -> None:
    for f in path.iterdir():
        if f.suffix == ".bin":
            f.unlink()
    (path / "model.json").write_text(json.dumps(doc))
    for name, data in files.items():
        (path / name).write_bytes(data)


def test_sharded_and_quantised_manifest(tmp_path):
    tw.set_seed(3)
    model = L.sequential(
        [
            L.dense(units=4, activation="tanh", input_shape=[3], name="d1"),
            L.batch_normalization(name="bn"),
            L.dense(units=2, name="d2"),
        ]
    )
    save_model(model, tmp_path / "m")
    doc = _doc(tmp_path / "m")
    weights = dict(
        zip(
            [w["name"] for w in doc["weightsManifest"][0]["weights"]],
            model.get_weights(),
            strict=True,
        )
    )
    order = list(weights)
    # group 1: plain float32, split in three shards at arbitrary byte offsets
    plain = order[:4]
    blob = b"".join(weights[n].astype("<f4").tobytes() for n in plain)
    cuts = [0, 5, 23, len(blob)]
    shards = {f"group1-shard{i + 1}of3.bin": blob[cuts[i] : cuts[i + 1]] for i in range(3)}
    # group 2: d2/kernel uint8, d2/bias float16, bn statistics uint16, in reverse order (names matter)
    expected = {n: weights[n] for n in plain}
    specs2, chunks2 = [], []
    for n in reversed(order[4:]):
        w = weights[n]
        spec = {"name": n, "shape": list(w.shape), "dtype": "float32"}
        if n == "d2/kernel" or n.startswith("bn/"):
            qd, top = ("uint8", 255) if n == "d2/kernel" else ("uint16", 65535)
            lo, hi = float(w.min()), float(w.max())
            scale = (hi - lo) / top if hi > lo else 1.0
            q = np.round((w - lo) / scale).astype(qd)
            spec["quantization"] = {"dtype": qd, "scale": scale, "min": lo}
            chunks2.append(q.astype("<u2" if qd == "uint16" else "u1").tobytes())
            expected[n] = (q.astype(np.float64) * scale + lo).astype(np.float32)
        else:
            spec["quantization"] = {"dtype": "float16"}
            chunks2.append(w.astype("<f2").tobytes())
            expected[n] = w.astype(np.float16).astype(np.float32)
        specs2.append(spec)
    data2 = b"".join(chunks2)
    files = dict(shards)
    files["group2-shard1of2.bin"], files["group2-shard2of2.bin"] = data2[:7], data2[7:]
    doc["weightsManifest"] = [
        {
            "paths": list(shards),
            "weights": [s for s in doc["weightsManifest"][0]["weights"] if s["name"] in plain],
        },
        {"paths": ["group2-shard1of2.bin", "group2-shard2of2.bin"], "weights": specs2},
    ]
    _rewrite(tmp_path / "m", doc, files)
    loaded = load_model(tmp_path / "m")
    got = dict(zip([n for n, _ in saving.weight_names(loaded)], loaded.get_weights(), strict=True))
    for n in order:
        np.testing.assert_array_equal(got[n], expected[n], err_msg=n)
    model.set_weights([expected[n] for n in order])
    xs = _inputs(model)
    np.testing.assert_allclose(
        _predict(loaded, xs)[0], _predict(model, xs)[0], rtol=1e-6, atol=1e-6
    )


def test_quantised_int32_and_bool_decode(tmp_path):
    folder = tmp_path / "q"
    folder.mkdir()
    specs = [
        {
            "name": "a",
            "shape": [3],
            "dtype": "int32",
            "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0},
        },
        {"name": "b", "shape": [2], "dtype": "bool"},
    ]
    (folder / "w.bin").write_bytes(bytes([0, 3, 10]) + bytes([1, 0]))
    decoded = tfjs_format.decode_group(folder, {"paths": ["w.bin"], "weights": specs}, 0, "test")
    np.testing.assert_array_equal(
        decoded[0].value, np.round(np.array([-1.0, 0.5, 4.0])).astype(np.int32)
    )
    assert decoded[0].value.dtype == np.int32
    np.testing.assert_array_equal(decoded[1].value, [True, False])


# --- malformed input ---------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path) -> Path:
    model = L.sequential(
        [L.dense(units=4, input_shape=[3], name="d1"), L.dense(units=2, name="d2")]
    )
    return save_model(model, tmp_path / "m")


def _edit(path: Path, fn: Callable[[dict], None]) -> None:
    doc = _doc(path)
    fn(doc)
    (path / "model.json").write_text(json.dumps(doc))


def _error(path: Path) -> str:
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    return str(info.value)


def test_truncated_weights(saved):
    data = (saved / "weights.bin").read_bytes()
    (saved / "weights.bin").write_bytes(data[:-5])
    msg = _error(saved)
    assert "weights.bin" in msg and "truncated" in msg and "d2/bias" in msg


def test_missing_weight_file(saved):
    (saved / "weights.bin").unlink()
    msg = _error(saved)
    assert "weights.bin" in msg and "missing" in msg and "d1/kernel" in msg


def test_extra_bytes(saved):
    with open(saved / "weights.bin", "ab") as f:
        f.write(b"\0" * 8)
    msg = _error(saved)
    assert "weights.bin" in msg and "disagree" in msg


def test_shape_disagrees_with_model(saved):
    def swap(doc):
        doc["weightsManifest"][0]["weights"][0]["shape"] = [4, 3]

    _edit(saved, swap)
    msg = _error(saved)
    assert "d1/kernel" in msg and "[4, 3]" in msg and "[3, 4]" in msg and "weights.bin" in msg


def test_topology_disagrees_with_weights(saved):
    def grow(doc):
        doc["modelTopology"]["config"]["layers"][1]["config"]["units"] = 3

    _edit(saved, grow)
    msg = _error(saved)
    assert "d2/kernel" in msg and "shape" in msg


def test_dtype_disagrees(saved):
    def retype(doc):
        doc["weightsManifest"][0]["weights"][1]["dtype"] = "int32"

    _edit(saved, retype)
    msg = _error(saved)
    assert "d1/bias" in msg and "int32" in msg and "float32" in msg


def test_unsupported_dtype(saved):
    def retype(doc):
        doc["weightsManifest"][0]["weights"][1]["dtype"] = "float64"

    _edit(saved, retype)
    assert "float64" in _error(saved)


def test_unknown_layer_class(saved):
    def rename(doc):
        doc["modelTopology"]["config"]["layers"][1]["class_name"] = "FancyDense"

    _edit(saved, rename)
    msg = _error(saved)
    assert "FancyDense" in msg and "'d2'" in msg and "model.json" in msg


def test_invalid_json(saved):
    (saved / "model.json").write_text('{"modelTopology": {"class_name": ')
    msg = _error(saved)
    assert "model.json" in msg and "invalid JSON" in msg and "line 1" in msg


def test_unknown_and_missing_weights(saved):
    def rename(doc):
        doc["weightsManifest"][0]["weights"][0]["name"] = "elsewhere/kernel"

    _edit(saved, rename)
    msg = _error(saved)
    assert "elsewhere/kernel" in msg and "matches no weight" in msg


def test_missing_weight_in_manifest(saved):
    def drop(doc):
        specs = doc["weightsManifest"][0]["weights"]
        doc["weightsManifest"][0]["weights"] = specs[:-1]

    _edit(saved, drop)
    data = (saved / "weights.bin").read_bytes()
    (saved / "weights.bin").write_bytes(data[:-8])
    msg = _error(saved)
    assert "d2/bias" in msg and "lacks" in msg


def test_bad_quantisation(saved):
    def quant(doc):
        doc["weightsManifest"][0]["weights"][0]["quantization"] = {"dtype": "uint4"}

    _edit(saved, quant)
    assert "uint4" in _error(saved)


def test_missing_path_and_other_formats(tmp_path, saved):
    with pytest.raises(ModelLoadError, match="no such"):
        load_model(tmp_path / "nowhere")
    _edit(saved, lambda doc: doc.update(format="graph-model"))
    assert "graph-model" in _error(saved)
    with pytest.raises(ValueError, match="unsupported location"):
        load_model("https://example.com/model.json")


def test_load_error_is_value_error(saved):
    (saved / "weights.bin").write_bytes(b"")
    with pytest.raises(ValueError):
        load_model(saved)


# --- atomic saves ------------------------------------------------------------------------------------
def _pair() -> tuple[layers.Model, layers.Model]:
    tw.set_seed(5)
    a = L.sequential([L.dense(units=3, input_shape=[2], name="d")])
    b = L.sequential([L.dense(units=3, input_shape=[2], name="d")])
    b.set_weights([w + 1.0 for w in a.get_weights()])
    return a, b


def _assert_holds(path: Path, model: layers.Model) -> None:
    loaded = load_model(path)
    for x, y in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_failure_mid_write_keeps_previous_save(tmp_path, monkeypatch):
    a, b = _pair()
    target = tmp_path / "m"
    save_model(a, target)
    real = saving._write_file

    def full_disk(path, data):
        if path.name == "weights.bin":
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(saving, "_write_file", full_disk)
    with pytest.raises(OSError, match="No space"):
        save_model(b, target)
    _assert_holds(target, a)
    assert _leftovers(tmp_path) == []
    monkeypatch.setattr(saving, "_write_file", real)
    save_model(b, target)
    _assert_holds(target, b)
    assert _leftovers(tmp_path) == []


def test_failure_at_swap_keeps_previous_save(tmp_path, monkeypatch):
    a, b = _pair()
    target = tmp_path / "m"
    save_model(a, target)

    def crash(stage, tgt):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(saving, "_swap_in", crash)
    with pytest.raises(OSError):
        save_model(b, target)
    _assert_holds(target, a)
    assert _leftovers(tmp_path) == []


def test_rename_fallback(tmp_path, monkeypatch):
    """Without renameat2 the swap uses two renames; a failure in between restores the old folder."""
    a, b = _pair()
    target = tmp_path / "m"
    save_model(a, target)
    monkeypatch.setattr(saving, "_exchange", lambda x, y: False)
    real_rename = os.rename

    def failing(src, dst):
        if Path(dst) == target and ".tmp-" in Path(src).name:  # the staged folder moving in
            raise OSError(errno.EIO, "I/O error")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(OSError):
        save_model(b, target)
    monkeypatch.setattr(os, "rename", real_rename)
    _assert_holds(target, a)
    assert _leftovers(tmp_path) == []
    save_model(b, target)
    _assert_holds(target, b)
    assert _leftovers(tmp_path) == []


def test_resave_keeps_other_files_and_drops_old_shards(tmp_path):
    a, b = _pair()
    target = tmp_path / "m"
    save_model(a, target)
    (target / "README.txt").write_text("notes")
    doc = _doc(target)
    data = (target / "weights.bin").read_bytes()
    doc["weightsManifest"][0]["paths"] = ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    _rewrite(target, doc, {"group1-shard1of2.bin": data[:4], "group1-shard2of2.bin": data[4:]})
    _assert_holds(target, a)
    save_model(b, target)
    assert sorted(os.listdir(target)) == ["README.txt", "model.json", "weights.bin"]
    assert (target / "README.txt").read_text() == "notes"
    _assert_holds(target, b)


def test_save_rejects_json_path_and_unbuilt_model(tmp_path):
    a, _ = _pair()
    with pytest.raises(ValueError, match="folder"):
        save_model(a, tmp_path / "model.json")
    with pytest.raises(ValueError, match="not built"):
        save_model(L.sequential([L.dense(units=2)]), tmp_path / "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        save_model(a, tmp_path / "file")


@pytest.mark.parametrize("mode", [0o751, 0o555, 0o700])
def test_resave_keeps_folder_mode(tmp_path, mode):
    """A save over an existing folder keeps its permission bits (a staging folder made by
    mkdtemp is 0700; the target must not inherit that), read-only ones included."""
    a, b = _pair()
    target = tmp_path / "m"
    save_model(a, target)
    os.chmod(target, mode)
    save_model(b, target)
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    _assert_holds(target, b)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o277])
def test_new_folder_honours_umask(tmp_path, mask):
    a, _ = _pair()
    old = os.umask(mask)
    try:
        save_model(a, tmp_path / "m")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m").st_mode) == 0o777 & ~mask


def test_save_through_symlink_keeps_the_link(tmp_path):
    """Saving to a symlink to a folder writes into the folder it points to; the link stays a
    link (and a later load through it sees the new model)."""
    a, b = _pair()
    real = tmp_path / "store" / "model-v1"
    save_model(a, real)
    os.chmod(real, 0o750)
    link = tmp_path / "current"
    os.symlink(real, link)
    assert save_model(b, link) == real
    assert link.is_symlink() and os.readlink(link) == str(real)
    _assert_holds(real, b)
    _assert_holds(link, b)
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o750
    assert _leftovers(tmp_path) == [] and _leftovers(real.parent) == []
    relative = tmp_path / "rel"
    os.symlink("store/model-v1", relative)
    save_model(a, relative)
    assert os.readlink(relative) == "store/model-v1"
    _assert_holds(real, a)


def _killed_save(target: Path) -> None:
    """Run a save in a child process that dies (os._exit) after writing model.json."""
    code = (
        "import os, sys\n"
        "import layers as L\n"
        "from layers import saving\n"
        "real = saving._write_file\n"
        "def dying(path, data):\n"
        "    real(path, data)\n"
        "    os._exit(9)\n"
        "saving._write_file = dying\n"
        "m = L.sequential([L.dense(units=3, input_shape=[2], name='d')])\n"
        "saving.save_model(m, sys.argv[1])\n"
    )
    env = dict(os.environ, TENSORWEAVE_BACKEND="numpy")
    done = subprocess.run([sys.executable, "-c", code, str(target)], env=env, check=False)
    assert done.returncode == 9


def test_next_save_removes_temp_folders_of_a_killed_save(tmp_path):
    a, b = _pair()
    target = tmp_path / "m"
    save_model(a, target)
    _killed_save(target)
    left = _leftovers(tmp_path)
    assert len(left) == 1 and left[0].startswith(".m.tmp-"), left
    _assert_holds(target, a)  # the killed save left the old model whole
    save_model(b, target)
    assert _leftovers(tmp_path) == []
    _assert_holds(target, b)


def test_stale_temp_folders_only_when_dead_or_old(tmp_path):
    """Only this target's staging/backup folders are removed, and only when their process is
    gone or they are older than STALE_AFTER_S; a live process's recent save is left alone."""
    a, _ = _pair()
    target = tmp_path / "m"
    save_model(a, target)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    live_pid = os.getppid()
    names = {
        f".m.tmp-{dead_pid}-0123456789ab": False,  # dead process: removed
        f".m.old-{dead_pid}-0123456789ab": False,
        f".m.tmp-{live_pid}-0123456789ab": True,  # live process, recent: kept
        f".m.tmp-{live_pid}-aaaaaaaaaaaa": False,  # live pid but two days old: removed
        f".other.tmp-{dead_pid}-0123456789ab": True,  # another target's: kept
        ".m.tmp-notes": True,  # not our pattern: kept
        f".m.tmp-{os.getpid()}-0123456789ab": True,  # this process (another thread's save)
    }
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "weights.bin").write_bytes(b"x")
    two_days = time.time() - 2 * 86400
    os.utime(tmp_path / f".m.tmp-{live_pid}-aaaaaaaaaaaa", (two_days, two_days))
    removed = saving.remove_stale_temp_folders(target)
    assert sorted(p.name for p in removed) == sorted(n for n, keep in names.items() if not keep)
    assert sorted(_leftovers(tmp_path)) == sorted(n for n, keep in names.items() if keep)
    _assert_holds(target, a)


# --- training config and optimizer state ------------------------------------------------------------
OPTIMIZERS = {
    "sgd": lambda: train.sgd(0.1),
    "momentum": lambda: train.momentum(0.05, 0.9, use_nesterov=True),
    "adam": lambda: train.adam(0.01),
    "adamax": lambda: train.adamax(0.01, decay=0.01),
    "rmsprop": lambda: train.rmsprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: train.adagrad(0.05),
    "adadelta": lambda: train.adadelta(1.0),
}


def _trainable_model() -> layers.Model:
    return L.sequential(
        [
            L.dense(units=5, activation="tanh", input_shape=[3], name="h"),
            L.batch_normalization(name="bn"),
            L.dense(units=2, activation="softmax", name="o"),
        ]
    )


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_resume_takes_the_same_step(backend, opt, tmp_path):
    tw.set_seed(7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, size=6)]
    model = _trainable_model()
    model.compile(optimizer=OPTIMIZERS[opt](), loss="categoricalCrossentropy", metrics=["accuracy"])
    for _ in range(2):
        model.train_on_batch(x, y)
    save_model(model, tmp_path / "m", include_optimizer=True)
    doc = _doc(tmp_path / "m")
    tc = doc["trainingConfig"]
    assert tc["loss"] == "categorical_crossentropy" and tc["metrics"] == ["accuracy"]
    assert tc["optimizer_config"]["class_name"] == model.optimizer.class_name
    opt_specs = [w for w in doc["weightsManifest"][0]["weights"] if w.get("group") == "optimizer"]
    assert opt_specs[0] == {"name": "iter", "shape": [], "dtype": "int32", "group": "optimizer"}

    resumed = load_model(tmp_path / "m")
    assert resumed.is_compiled and type(resumed.optimizer) is type(model.optimizer)
    assert resumed.optimizer.get_config() == model.optimizer.get_config()
    assert resumed.optimizer.iterations == model.optimizer.iterations == 2
    l1 = model.train_on_batch(x, y)
    l2 = resumed.train_on_batch(x, y)
    np.testing.assert_allclose(l1, l2, rtol=1e-5, atol=1e-6)
    for a, b in zip(model.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_without_optimizer_no_training_config(tmp_path):
    model = _trainable_model()
    model.compile(optimizer="adam", loss="mse")
    save_model(model, tmp_path / "m")
    doc = _doc(tmp_path / "m")
    assert "trainingConfig" not in doc
    assert all("group" not in w for w in doc["weightsManifest"][0]["weights"])
    assert not load_model(tmp_path / "m").is_compiled


def test_include_optimizer_needs_compile(tmp_path):
    with pytest.raises(ValueError, match="compile"):
        save_model(_trainable_model(), tmp_path / "m", include_optimizer=True)


def test_tfjs_training_config_spellings(tmp_path):
    """TF.js writes camelCase optimizer settings; Keras adds keys we do not use."""
    model = _trainable_model()
    model.compile(optimizer="sgd", loss="mse")
    save_model(model, tmp_path / "m", include_optimizer=True)

    def tfjs(doc):
        doc["trainingConfig"] = {
            "loss": "mean_squared_error",
            "metrics": ["accuracy"],
            "optimizer_config": {
                "class_name": "Adam",
                "config": {"learningRate": 0.02, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6},
            },
        }
        doc["weightsManifest"][0]["weights"] = [
            w for w in doc["weightsManifest"][0]["weights"] if w.get("group") != "optimizer"
        ]

    _edit(tmp_path / "m", tfjs)
    data = (tmp_path / "m" / "weights.bin").read_bytes()
    (tmp_path / "m" / "weights.bin").write_bytes(data[:-4])  # drop the sgd 'iter'
    loaded = load_model(tmp_path / "m")
    assert loaded.optimizer.get_config() == {
        "learning_rate": 0.02,
        "beta1": 0.8,
        "beta2": 0.99,
        "epsilon": 1e-6,
    }

    def keras(doc):
        doc["trainingConfig"]["optimizer_config"] = {
            "class_name": "Adam",
            "config": {
                "name": "Adam",
                "learning_rate": 0.003,
                "beta_1": 0.9,
                "beta_2": 0.999,
                "epsilon": 1e-7,
                "amsgrad": True,
            },
        }

    _edit(tmp_path / "m", keras)
    with pytest.warns(UserWarning, match="amsgrad"):
        loaded = load_model(tmp_path / "m")
    assert loaded.optimizer.learning_rate == pytest.approx(0.003)
    assert not load_model(tmp_path / "m", compile=False).is_compiled

    def unknown(doc):
        doc["trainingConfig"]["optimizer_config"] = {
            "class_name": "Adafactor",  # Keras has it, we do not
            "config": {"learning_rate": 0.1},
        }

    _edit(tmp_path / "m", unknown)
    with pytest.warns(UserWarning, match="Adafactor.*uncompiled"):
        loaded = load_model(tmp_path / "m")
    assert not loaded.is_compiled


# --- Keras JSON spellings ----------------------------------------------------------------------------
def test_keras3_functional_json(tmp_path):
    """A Keras 3 style topology (Functional, batch_shape, DTypePolicy, dict inbound nodes)."""
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2) / 10
    bias = np.array([0.5, -0.5], np.float32)

    def tensor(name):
        return {
            "class_name": "__keras_tensor__",
            "config": {"shape": [None, 3], "dtype": "float32", "keras_history": [name, 0, 0]},
        }

    dtype = {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }
    topology = {
        "class_name": "Functional",
        "config": {
            "name": "functional",
            "trainable": True,
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "name": "x",
                    "config": {
                        "batch_shape": [None, 3],
                        "dtype": "float32",
                        "sparse": False,
                        "ragged": False,
                        "name": "x",
                    },
                    "inbound_nodes": [],
                },
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "name": "dense",
                    "build_config": {"input_shape": [None, 3]},
                    "config": {
                        "name": "dense",
                        "trainable": True,
                        "dtype": dtype,
                        "units": 2,
                        "lora_rank": None,
                        "activation": "relu",
                        "use_bias": True,
                        "kernel_initializer": {
                            "module": "keras.initializers",
                            "class_name": "GlorotUniform",
                            "config": {"seed": None},
                        },
                        "bias_initializer": {"class_name": "Zeros", "config": {}},
                        "kernel_regularizer": None,
                        "bias_regularizer": None,
                        "kernel_constraint": None,
                        "bias_constraint": None,
                    },
                    "inbound_nodes": [{"args": [tensor("x")], "kwargs": {}}],
                },
            ],
            "input_layers": ["x", 0, 0],
            "output_layers": ["dense", 0, 0],
        },
    }
    folder = tmp_path / "k"
    folder.mkdir()
    doc = {
        "format": "layers-model",
        "modelTopology": {
            "keras_version": "3.0",
            "backend": "tensorflow",
            "model_config": topology,
        },
        "weightsManifest": [
            {
                "paths": ["w.bin"],
                "weights": [
                    {"name": "dense/kernel", "shape": [3, 2], "dtype": "float32"},
                    {"name": "dense/bias", "shape": [2], "dtype": "float32"},
                ],
            }
        ],
    }
    (folder / "model.json").write_text(json.dumps(doc))
    (folder / "w.bin").write_bytes(kernel.tobytes() + bias.tobytes())
    model = load_model(folder)
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    np.testing.assert_allclose(
        model.predict(x).numpy(), np.maximum(x @ kernel + bias, 0), rtol=1e-6
    )


def test_keras2_converter_sequential(tmp_path):
    """tfjs_converter output of a Keras 2 model: model_config/training_config in modelTopology,
    an explicit InputLayer, Keras-only neutral keys and ``:0``-free layer/weight names."""
    kernel = (np.arange(2 * 2 * 1 * 2, dtype=np.float32).reshape(2, 2, 1, 2) - 3) / 4
    bias = np.array([0.1, -0.2], np.float32)
    topology = {
        "keras_version": "2.15.0",
        "backend": "tensorflow",
        "model_config": {
            "class_name": "Sequential",
            "config": {
                "name": "sequential",
                "layers": [
                    {
                        "class_name": "InputLayer",
                        "config": {
                            "batch_input_shape": [None, 3, 3, 1],
                            "dtype": "float32",
                            "sparse": False,
                            "ragged": False,
                            "name": "conv2d_input",
                        },
                    },
                    {
                        "class_name": "Conv2D",
                        "config": {
                            "name": "conv2d",
                            "trainable": True,
                            "dtype": "float32",
                            "filters": 2,
                            "kernel_size": [2, 2],
                            "strides": [1, 1],
                            "padding": "valid",
                            "data_format": "channels_last",
                            "dilation_rate": [1, 1],
                            "groups": 1,
                            "activation": "linear",
                            "use_bias": True,
                            "kernel_initializer": {
                                "class_name": "GlorotUniform",
                                "config": {"seed": None},
                            },
                            "bias_initializer": {"class_name": "Zeros", "config": {}},
                            "kernel_regularizer": None,
                            "bias_regularizer": None,
                            "activity_regularizer": None,
                            "kernel_constraint": None,
                            "bias_constraint": None,
                        },
                    },
                    {
                        "class_name": "Flatten",
                        "config": {
                            "name": "flatten",
                            "trainable": True,
                            "dtype": "float32",
                            "data_format": "channels_last",
                        },
                    },
                ],
            },
        },
        "training_config": {
            "loss": "mse",
            "metrics": None,
            "weighted_metrics": None,
            "loss_weights": None,
            "optimizer_config": {
                "class_name": "SGD",
                "config": {
                    "name": "SGD",
                    "learning_rate": 0.05,
                    "momentum": 0.0,
                    "nesterov": False,
                },
            },
        },
    }
    folder = tmp_path / "k2"
    folder.mkdir()
    doc = {
        "format": "layers-model",
        "generatedBy": "keras v2.15.0",
        "convertedBy": "TensorFlow.js Converter v4.22.0",
        "modelTopology": topology,
        "weightsManifest": [
            {
                "paths": ["group1-shard1of1.bin"],
                "weights": [
                    {"name": "conv2d/kernel", "shape": [2, 2, 1, 2], "dtype": "float32"},
                    {"name": "conv2d/bias", "shape": [2], "dtype": "float32"},
                ],
            }
        ],
    }
    (folder / "model.json").write_text(json.dumps(doc))
    (folder / "group1-shard1of1.bin").write_bytes(kernel.tobytes() + bias.tobytes())
    model = load_model(folder)
    assert model.is_compiled and model.optimizer.class_name == "SGD"
    topology["training_config"]["optimizer_config"]["config"]["momentum"] = 0.9
    (folder / "model.json").write_text(json.dumps(doc))
    assert load_model(folder).optimizer.get_config() == {
        "learning_rate": 0.05,
        "momentum": 0.9,
        "use_nesterov": False,
    }
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    want = np.zeros((1, 2, 2, 2), np.float32)
    for i in range(2):
        for j in range(2):
            want[0, i, j] = np.tensordot(x[0, i : i + 2, j : j + 2, :], kernel, axes=3) + bias
    np.testing.assert_allclose(model.predict(x).numpy(), want.reshape(1, -1), rtol=1e-5, atol=1e-6)


def test_files_are_synced_before_the_swap(tmp_path, monkeypatch):
    a, b = _pair()
    target = tmp_path / "m"
    save_model(a, target)
    synced: list[str] = []
    real_fsync, real_swap = os.fsync, saving._swap_in

    def fsync(fd):
        synced.append(
            os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else str(fd)
        )
        real_fsync(fd)

    def swap(stage, tgt):
        assert stage.parent == tgt.parent  # staged beside the target, so the rename is atomic
        assert sorted(os.listdir(stage)) == ["model.json", "weights.bin"]
        if os.path.exists("/proc/self/fd"):
            assert {Path(p).name for p in synced} >= {"model.json", "weights.bin", stage.name}
        else:
            assert len(synced) >= 3
        return real_swap(stage, tgt)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(saving, "_swap_in", swap)
    save_model(b, target)
    _assert_holds(target, b)


def test_public_api(tmp_path):
    """``model.save`` and ``layers.load_model`` (api.md) go through this module."""
    model = L.sequential([L.dense(units=2, input_shape=[3])])
    model.compile(optimizer="adam", loss="mse")
    model.save(f"file://{tmp_path / 'm'}", include_optimizer=True)
    loaded = layers.load_model(f"file://{tmp_path / 'm' / 'model.json'}")
    assert loaded.is_compiled
    x = np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(model.predict(x).numpy(), loaded.predict(x).numpy())
