"""Interoperability with TensorFlow.js itself: TF.js (in Node) loads models saved by tensorweave
and reproduces their predictions (and, with the optimizer state, their next training step), and
tensorweave loads models saved by TF.js with the same predictions and next step.

Needs ``node`` and ``npm``; ``@tensorflow/tfjs`` (pure JavaScript) is installed once into a per-user
cache (``$TENSORWEAVE_TFJS_CACHE`` or ``~/.cache/tensorweave-tfjs/<version>``). The tests skip,
saying why, when node or npm is missing or the install fails (no network).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import engine as tw
import layers
from engine import train
from layers.saving import load_model, save_model

L = layers
TFJS_VERSION = "4.22.0"
NODE_TIMEOUT_S = 180
NPM_TIMEOUT_S = 300

HELPER_JS = r"""
// tensorweave <-> TF.js interop helper: node helper.js <tfjs module dir> <command> ...
const fs = require('fs');
const path = require('path');
const tf = require(process.argv[2]);

function tensorJSON(t) {
  return {shape: t.shape, dtype: t.dtype, data: Array.from(t.dataSync())};
}
function fromJSON(o) {
  return tf.tensor(o.data, o.shape, o.dtype);
}

async function loadModel(dir) {
  const modelJSON = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
    const specs = [];
    const bufs = [];
    for (const group of manifest) {
      for (const p of group.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
      specs.push(...group.weights);
    }
    const buf = Buffer.concat(bufs);
    return [specs, buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)];
  });
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

async function saveModel(model, dir, includeOptimizer) {
  await model.save(tf.io.withSaveHandler(async (a) => {
    fs.mkdirSync(dir, {recursive: true});
    const json = {
      modelTopology: a.modelTopology, format: a.format, generatedBy: a.generatedBy,
      convertedBy: a.convertedBy, weightsManifest: [{paths: ['./weights.bin'], weights: a.weightSpecs}],
    };
    if (a.trainingConfig) json.trainingConfig = a.trainingConfig;
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData));
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }), {includeOptimizer});
}

const L = tf.layers;
const BUILDERS = {
  mlp() {
    const m = tf.sequential();
    m.add(L.dense({units: 6, activation: 'relu', inputShape: [4], kernelInitializer: 'heNormal'}));
    m.add(L.dense({units: 3, activation: 'softmax'}));
    m.compile({optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy']});
    return {model: m, inputs: [tf.randomUniform([5, 4], -1, 1, 'float32', 1)],
            target: tf.oneHot(tf.tensor1d([0, 1, 2, 1, 0], 'int32'), 3).toFloat(), includeOptimizer: true};
  },
  convnet() {
    const m = tf.sequential();
    m.add(L.conv2d({filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 2]}));
    m.add(L.batchNormalization());
    m.add(L.maxPooling2d({poolSize: 2}));
    m.add(L.depthwiseConv2d({kernelSize: 2, depthMultiplier: 2, padding: 'same'}));
    m.add(L.separableConv2d({filters: 4, kernelSize: 2, activation: 'tanh'}));
    m.add(L.conv2dTranspose({filters: 2, kernelSize: 2, strides: 2}));
    m.add(L.upSampling2d({size: [2, 2]}));
    m.add(L.zeroPadding2d({padding: 1}));
    m.add(L.averagePooling2d({poolSize: 2}));
    m.add(L.globalAveragePooling2d({}));
    m.add(L.dropout({rate: 0.2}));
    m.add(L.dense({units: 2}));
    m.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
    return {model: m, inputs: [tf.randomUniform([3, 8, 8, 2], -1, 1, 'float32', 2)], target: tf.ones([3, 2])};
  },
  rnn() {
    const m = tf.sequential();
    m.add(L.embedding({inputDim: 10, outputDim: 4, inputLength: 5}));
    m.add(L.bidirectional({layer: L.lstm({units: 3, returnSequences: true})}));
    m.add(L.timeDistributed({layer: L.dense({units: 2, activation: 'sigmoid'})}));
    m.add(L.gru({units: 3, returnSequences: true}));
    m.add(L.simpleRNN({units: 2}));
    m.add(L.repeatVector({n: 2}));
    m.add(L.flatten());
    m.compile({optimizer: 'rmsprop', loss: 'meanSquaredError'});
    return {model: m, inputs: [tf.randomUniform([3, 5], 0, 10, 'int32', 3)], target: tf.ones([3, 4])};
  },
  cells() {
    // issue 21: Embedding(maskZero) masks into the generic RNN layer with cells
    const m = tf.sequential();
    m.add(L.embedding({inputDim: 10, outputDim: 4, inputLength: 6, maskZero: true}));
    m.add(L.rnn({cell: L.lstmCell({units: 3}), returnSequences: true}));
    m.add(L.rnn({cell: L.stackedRNNCells({cells: [L.gruCell({units: 3}), L.simpleRNNCell({units: 2})]})}));
    m.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
    const ids = tf.tensor2d([[1, 2, 3, 0, 0, 0], [0, 0, 4, 5, 6, 7], [8, 0, 9, 1, 0, 2]], [3, 6], 'int32');
    return {model: m, inputs: [ids], target: tf.ones([3, 2])};
  },
  masking() {
    // issue 21: Masking into an RNN(SimpleRNNCell) and a Bidirectional GRU
    const m = tf.sequential();
    m.add(L.masking({maskValue: 0, inputShape: [5, 2]}));
    m.add(L.rnn({cell: L.simpleRNNCell({units: 3}), returnSequences: true}));
    m.add(L.bidirectional({layer: L.gru({units: 2})}));
    m.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
    const x = tf.randomUniform([3, 5, 2], -1, 1, 'float32', 6).mul(
        tf.tensor3d([1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1], [3, 5, 1]));
    return {model: m, inputs: [x], target: tf.ones([3, 4])};
  },
  functional() {
    const a = tf.input({shape: [6], name: 'in_a'});
    const b = tf.input({shape: [6], name: 'in_b'});
    const da = L.dense({units: 6, activation: 'elu'}).apply(a);
    const db = L.dense({units: 6, activation: 'selu'}).apply(b);
    const cat = L.concatenate().apply([da, db]);
    const sum = L.add().apply([da, db]);
    const mul = L.multiply().apply([da, sum]);
    const avg = L.average().apply([mul, db]);
    const ln = L.layerNormalization().apply(avg);
    const r = L.reshape({targetShape: [3, 4]}).apply(cat);
    const p = L.permute({dims: [2, 1]}).apply(r);
    const c1 = L.conv1d({filters: 2, kernelSize: 2, activation: 'softplus'}).apply(p);
    const mp = L.maxPooling1d({poolSize: 1}).apply(c1);
    const g = L.globalMaxPooling1d().apply(mp);
    const act = L.activation({activation: 'softsign'}).apply(ln);
    const out1 = L.dense({units: 2, activation: 'hardSigmoid'}).apply(L.concatenate().apply([g, act]));
    const out2 = L.dense({units: 1, activation: 'tanh'}).apply(act);
    const m = tf.model({inputs: [a, b], outputs: [out1, out2]});
    m.compile({optimizer: 'adam', loss: ['meanSquaredError', 'meanAbsoluteError']});
    return {model: m, inputs: [tf.randomUniform([4, 6], -1, 1, 'float32', 4), tf.randomUniform([4, 6], -1, 1, 'float32', 5)],
            target: [tf.ones([4, 2]), tf.zeros([4, 1])]};
  },
};

async function main() {
  await tf.setBackend('cpu');
  const cmd = process.argv[3];
  if (cmd === 'build') {
    const outDir = process.argv[4];
    for (const name of process.argv.slice(5)) {
      const spec = BUILDERS[name]();
      const m = spec.model;
      // one training epoch so batch-norm statistics and optimizer slots are non-trivial
      await m.fit(spec.inputs.length === 1 ? spec.inputs[0] : spec.inputs, spec.target, {epochs: 1, batchSize: 8, verbose: 0, shuffle: false});
      const dir = path.join(outDir, name);
      await saveModel(m, dir, !!spec.includeOptimizer);
      let out = m.predict(spec.inputs.length === 1 ? spec.inputs[0] : spec.inputs);
      out = Array.isArray(out) ? out : [out];
      const expected = {inputs: spec.inputs.map(tensorJSON), outputs: out.map(tensorJSON)};
      if (spec.includeOptimizer) {
        // the next training step, to compare with a resumed tensorweave model
        await m.trainOnBatch(spec.inputs[0], spec.target);
        expected.target = tensorJSON(spec.target);
        expected.after_step = m.getWeights().map(tensorJSON);
      }
      fs.writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected));
    }
  } else if (cmd === 'predict') {
    const dir = process.argv[4];
    const req = JSON.parse(fs.readFileSync(process.argv[5], 'utf8'));
    const m = await loadModel(dir);
    const xs = req.inputs.map(fromJSON);
    let out = m.predict(xs.length === 1 ? xs[0] : xs);
    out = Array.isArray(out) ? out : [out];
    const res = {outputs: out.map(tensorJSON), optimizer: m.optimizer ? m.optimizer.getClassName() : null,
                 weight_names: m.weights.map(w => w.originalName)};
    if (req.target && m.optimizer) {
      await m.trainOnBatch(xs.length === 1 ? xs[0] : xs, fromJSON(req.target));
      res.after_step = m.getWeights().map(tensorJSON);
    }
    fs.writeFileSync(process.argv[6], JSON.stringify(res));
  } else {
    throw new Error('unknown command ' + cmd);
  }
}
main().catch((e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1); });
"""


def _cache_root() -> Path:
    env = os.environ.get("TENSORWEAVE_TFJS_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tensorweave-tfjs"


def _tail(text: str, n: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= n else "..." + text[-n:]


def _install_tfjs(npm: str) -> Path:
    """The @tensorflow/tfjs module folder, installed into the cache on first use."""
    root = _cache_root() / TFJS_VERSION
    module = root / "node_modules" / "@tensorflow" / "tfjs"
    if (module / "package.json").exists():
        return module
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{TFJS_VERSION}-", dir=root.parent))
    try:
        (staging / "package.json").write_text(
            json.dumps({"name": "tensorweave-tfjs-cache", "private": True})
        )
        cmd = [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"@tensorflow/tfjs@{TFJS_VERSION}",
        ]
        try:
            proc = subprocess.run(
                cmd, cwd=staging, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            pytest.skip(
                f"npm install @tensorflow/tfjs@{TFJS_VERSION} took over {NPM_TIMEOUT_S} s (no network?)"
            )
        if proc.returncode != 0:
            pytest.skip(
                f"npm install @tensorflow/tfjs@{TFJS_VERSION} failed (no network?): {_tail(proc.stderr or proc.stdout)}"
            )
        try:
            os.rename(staging, root)  # atomic: a concurrent run either wins or finds it done
        except OSError:
            if not (module / "package.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return module


@pytest.fixture(scope="module")
def tfjs(tmp_path_factory) -> Callable[..., None]:
    """Run the helper script under node with TF.js: ``tfjs("build", outdir, name, ...)``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("node is not installed (needed to run TensorFlow.js)")
    if npm is None:
        pytest.skip("npm is not installed (needed to install @tensorflow/tfjs)")
    module = _install_tfjs(npm)
    helper = tmp_path_factory.mktemp("tfjs") / "helper.js"
    helper.write_text(HELPER_JS)

    def run(*args: str) -> None:
        try:
            proc = subprocess.run(
                [node, str(helper), str(module), *map(str, args)],
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"TF.js helper {args[0]} ran over {NODE_TIMEOUT_S} s")
        if proc.returncode != 0:
            pytest.fail(f"TF.js helper {args[0]} failed:\n{_tail(proc.stderr, 4000)}")

    return run


def _tensor_json(a: np.ndarray) -> dict:
    dtype = "int32" if a.dtype.kind in "iu" else "float32"
    return {"shape": list(a.shape), "dtype": dtype, "data": a.reshape(-1).tolist()}


def _from_json(o: dict) -> np.ndarray:
    return np.asarray(o["data"], dtype=np.int32 if o["dtype"] == "int32" else np.float32).reshape(
        o["shape"]
    )


def _outputs(model: layers.Model, xs: list[np.ndarray]) -> list[np.ndarray]:
    out = model.predict(xs[0] if len(xs) == 1 else xs)
    return [o.numpy() for o in (out if isinstance(out, list) else [out])]


# --- tensorweave saves, TF.js loads --------------------------------------------------------------------
def _tw_dense() -> tuple[layers.Model, list[np.ndarray]]:
    m = L.sequential(
        [
            L.dense(units=5, activation="relu", input_shape=[4], kernel_initializer="heUniform"),
            L.batch_normalization(),
            L.dropout(rate=0.3),
            L.gaussian_noise(stddev=0.1),
            L.alpha_dropout(rate=0.2),
            L.activation(activation="hardSigmoid"),
            L.dense(units=3, activation="softmax"),
        ]
    )
    return m, [np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)]


def _tw_conv2d() -> tuple[layers.Model, list[np.ndarray]]:
    m = L.sequential(
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
    return m, [np.random.default_rng(1).normal(size=(2, 8, 8, 2)).astype(np.float32)]


def _tw_conv1d() -> tuple[layers.Model, list[np.ndarray]]:
    m = L.sequential(
        [
            L.Conv1D(4, 2, activation="elu", input_shape=[8, 2]),
            L.MaxPooling1D(pool_size=2),
            L.AveragePooling1D(pool_size=1),
            L.Permute(dims=[2, 1]),
            L.Reshape(target_shape=[-1, 2]),
            L.LayerNormalization(),
            L.GlobalAveragePooling1D(),
            L.RepeatVector(2),
            L.Flatten(),
        ]
    )
    return m, [np.random.default_rng(2).normal(size=(3, 8, 2)).astype(np.float32)]


def _tw_recurrent() -> tuple[layers.Model, list[np.ndarray]]:
    m = L.sequential(
        [
            L.Embedding(input_dim=6, output_dim=4, input_length=5),
            L.Bidirectional(L.LSTM(3, return_sequences=True)),
            L.TimeDistributed(L.Dense(2, activation="sigmoid")),
            L.GRU(3, return_sequences=True),
            L.SimpleRNN(2, return_sequences=True),
            L.GlobalMaxPooling1D(),
        ]
    )
    return m, [np.random.default_rng(3).integers(0, 6, size=(3, 5)).astype(np.float32)]


def _tw_functional() -> tuple[layers.Model, list[np.ndarray]]:
    a = L.input(shape=[4], name="in_a")
    b = L.input(shape=[4], name="in_b")
    da = L.Dense(4, activation="selu")(a)
    db = L.Dense(4, activation="softplus")(b)
    merged = [
        L.Add()([da, db]),
        L.Multiply()([da, db]),
        L.Maximum()([da, db]),
        L.Minimum()([da, db]),
        L.Average()([da, db]),
    ]
    out1 = L.Dense(2, activation="softmax")(L.Concatenate()(merged))
    out2 = L.Dense(1, activation="tanh")(L.BatchNormalization()(da))
    rng = np.random.default_rng(4)
    return L.model(inputs=[a, b], outputs=[out1, out2]), [
        rng.normal(size=(3, 4)).astype(np.float32) for _ in range(2)
    ]


def _tw_cells() -> tuple[layers.Model, list[np.ndarray]]:
    """Issue 21: Masking and Embedding(mask_zero) masks into the generic RNN layer with cells."""
    ids = L.input(shape=[6], dtype="int32")
    seq = L.input(shape=[5, 2])
    x = L.Embedding(input_dim=6, output_dim=3, mask_zero=True)(ids)
    x = L.RNN(L.LSTMCell(3), return_sequences=True)(x)
    x = L.RNN(L.StackedRNNCells([L.GRUCell(3), L.SimpleRNNCell(2)]))(x)
    # not Bidirectional(RNN(cell)): TF.js 4.22 cannot build that one (its Bidirectional reuses a
    # config whose cell RNN.fromConfig replaced by an instance)
    y = L.RNN(L.GRUCell(2), go_backwards=True)(L.Masking()(seq))
    rng = np.random.default_rng(7)
    id_data = np.array([[1, 2, 3, 0, 0, 0], [0, 0, 4, 5, 1, 2], [3, 0, 5, 1, 0, 2]], np.int32)
    seq_data = rng.normal(size=(3, 5, 2)).astype(np.float32)
    seq_data[0, 3:] = 0.0
    seq_data[1, :2] = 0.0
    seq_data[2, 1] = 0.0
    return L.model(inputs=[ids, seq], outputs=[x, y]), [id_data, seq_data]


TW_MODELS = {
    "cells": _tw_cells,
    "dense": _tw_dense,
    "conv2d": _tw_conv2d,
    "conv1d": _tw_conv1d,
    "recurrent": _tw_recurrent,
    "functional": _tw_functional,
}


@pytest.mark.parametrize("name", sorted(TW_MODELS))
def test_tfjs_loads_tensorweave_model(tfjs, tmp_path, name):
    tw.set_seed(11)
    model, xs = TW_MODELS[name]()
    save_model(model, tmp_path / "m")
    (tmp_path / "req.json").write_text(json.dumps({"inputs": [_tensor_json(x) for x in xs]}))
    tfjs("predict", tmp_path / "m", tmp_path / "req.json", tmp_path / "res.json")
    res = json.loads((tmp_path / "res.json").read_text())
    ours = _outputs(model, xs)
    assert len(res["outputs"]) == len(ours)
    for mine, theirs in zip(ours, res["outputs"], strict=True):
        np.testing.assert_allclose(mine, _from_json(theirs), rtol=1e-4, atol=1e-5)
    assert res["optimizer"] is None


def test_tfjs_resumes_tensorweave_training(tfjs, tmp_path):
    """With include_optimizer, TF.js compiles the model and its next step equals ours."""
    tw.set_seed(12)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=6)]
    model = L.sequential(
        [
            L.dense(units=5, activation="tanh", input_shape=[4]),
            L.dense(units=3, activation="softmax"),
        ]
    )
    model.compile(optimizer=train.adam(0.01), loss="categoricalCrossentropy", metrics=["accuracy"])
    for _ in range(3):
        model.train_on_batch(x, y)
    save_model(model, tmp_path / "m", include_optimizer=True)
    req = {"inputs": [_tensor_json(x)], "target": _tensor_json(y)}
    (tmp_path / "req.json").write_text(json.dumps(req))
    tfjs("predict", tmp_path / "m", tmp_path / "req.json", tmp_path / "res.json")
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["optimizer"] == "Adam"
    model.train_on_batch(x, y)
    for mine, theirs in zip(model.get_weights(), res["after_step"], strict=True):
        np.testing.assert_allclose(mine, _from_json(theirs), rtol=1e-4, atol=1e-5)


# --- TF.js saves, tensorweave loads --------------------------------------------------------------------
TFJS_MODELS = ["mlp", "convnet", "rnn", "cells", "masking", "functional"]


@pytest.fixture(scope="module")
def tfjs_saved(tfjs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tfjs_saved")
    tfjs("build", out, *TFJS_MODELS)
    return out


@pytest.mark.parametrize("name", TFJS_MODELS)
def test_tensorweave_loads_tfjs_model(tfjs_saved, name):
    folder = tfjs_saved / name
    doc = json.loads((folder / "model.json").read_text())
    assert doc["generatedBy"].startswith("TensorFlow.js")
    expected = json.loads((folder / "expected.json").read_text())
    model = load_model(folder)
    xs = [_from_json(i) for i in expected["inputs"]]
    xs = [x.astype(np.float32) for x in xs]
    ours = _outputs(model, xs)
    assert len(ours) == len(expected["outputs"])
    for mine, theirs in zip(ours, expected["outputs"], strict=True):
        np.testing.assert_allclose(mine, _from_json(theirs), rtol=1e-4, atol=1e-5)
    if "after_step" in expected:
        assert model.is_compiled and model.optimizer.class_name == "Adam"
        model.train_on_batch(xs[0], _from_json(expected["target"]))
        for mine, theirs in zip(model.get_weights(), expected["after_step"], strict=True):
            np.testing.assert_allclose(mine, _from_json(theirs), rtol=1e-4, atol=1e-5)
