"""Shared layer test harness (after Keras's ``run_layer_test``).

``run_layer_test(cls, kwargs, input_shape, ...)`` checks, on the active backend:
output shape (eager and symbolic), trainable / non-trainable weight counts, numerics against a
numpy formula, gradients of a weighted output sum (input and weights) against central finite
differences, and the config round trip through the class registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import engine as tw
import layers
from layers.base import deserialize_layer, serialize_layer


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _np(t: Any) -> np.ndarray:
    return t.numpy() if isinstance(t, tw.Tensor) else np.asarray(t)


def make_input(
    shape: Sequence[int], seed: int = 0, dtype: str = "float32", high: int = 5
) -> np.ndarray:
    """Deterministic test data: normals for floats, integers in [0, high) for ints."""
    rng = np.random.default_rng(seed)
    if dtype == "int32":
        return rng.integers(0, high, size=shape).astype(np.int32)
    return rng.normal(size=shape).astype(np.float32)


def _weighted_sum(outs: list, coeffs: list[np.ndarray]) -> tw.Tensor:
    total = None
    for o, c in zip(outs, coeffs, strict=False):
        term = tw.sum(tw.mul(o, tw.tensor(c)))
        total = term if total is None else tw.add(total, term)
    return total


def check_gradients(
    layer: layers.Layer,
    inputs: list[np.ndarray],
    training: bool = False,
    wrt_inputs: bool = True,
    wrt_weights: bool = True,
    eps: float = 1e-2,
    rtol: float = 5e-2,
    atol: float = 5e-2,
    n_probe: int = 4,
    seed: int = 0,
) -> None:
    """engine gradients of ``sum(layer(x) * R)`` against central differences on a few coordinates."""
    rng = np.random.default_rng(seed)
    single = len(inputs) == 1
    xs = [tw.tensor(x) for x in inputs]

    def out_list(*ts):
        y = layer(ts[0] if single else list(ts), training=training)
        return _as_list(y)

    coeffs = [rng.normal(size=o.shape).astype(np.float32) for o in out_list(*xs)]

    def f(*ts):
        return _weighted_sum(out_list(*ts), coeffs)

    def f_np(values: list[np.ndarray]) -> float:
        return float(f(*[tw.tensor(v) for v in values]).numpy().astype(np.float64))

    if wrt_inputs:
        float_idx = [i for i, x in enumerate(inputs) if x.dtype.kind == "f"]
        gs = tw.grads(lambda *ts: f(*ts))(*xs)
        for i in float_idx:
            g = _np(gs[i])
            assert g.shape == inputs[i].shape
            for flat in rng.choice(
                inputs[i].size, size=min(n_probe, inputs[i].size), replace=False
            ):
                idx = np.unravel_index(flat, inputs[i].shape)
                plus = [v.copy() for v in inputs]
                minus = [v.copy() for v in inputs]
                plus[i][idx] += eps
                minus[i][idx] -= eps
                num = (f_np(plus) - f_np(minus)) / (2 * eps)
                assert abs(num - g[idx]) <= atol + rtol * abs(num), (
                    f"d/dinput{i}{idx}: engine {g[idx]:.5f} vs finite difference {num:.5f}"
                )
    if wrt_weights and layer.trainable_weights:
        ws = layer.trainable_weights
        res = tw.variable_grads(lambda: f(*xs), var_list=ws)
        for w in ws:
            g = _np(res["grads"][w.name])
            base = w.numpy().astype(np.float32)
            for flat in rng.choice(base.size, size=min(n_probe, base.size), replace=False):
                idx = np.unravel_index(flat, base.shape)
                vals = []
                for d in (eps, -eps):
                    v = base.copy()
                    v[idx] += d
                    w.assign(tw.tensor(v))
                    vals.append(float(f(*xs).numpy()))
                w.assign(tw.tensor(base))
                num = (vals[0] - vals[1]) / (2 * eps)
                assert abs(num - g[idx]) <= atol + rtol * abs(num), (
                    f"d/d{w.name}{idx}: engine {g[idx]:.5f} vs finite difference {num:.5f}"
                )


def check_config_round_trip(
    layer: layers.Layer, inputs: list[np.ndarray] | None = None, training: bool = False
) -> layers.Layer:
    """get_config -> JSON -> registry -> from_config gives an equivalent layer (same outputs with
    the same weights)."""
    spec = serialize_layer(layer)
    spec = json.loads(json.dumps(spec))
    assert spec["class_name"] in layers.LAYER_CLASSES
    clone = deserialize_layer(spec)
    assert type(clone) is type(layer)
    assert clone.get_config() == spec["config"]
    if inputs is not None:
        arg = inputs[0] if len(inputs) == 1 else list(inputs)
        clone(arg, training=training)
        clone.set_weights(layer.get_weights())
        a = [_np(t) for t in _as_list(layer(arg, training=training))]
        b = [_np(t) for t in _as_list(clone(arg, training=training))]
        for u, v in zip(a, b, strict=False):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5)
    return clone


def run_layer_test(
    cls: type,
    kwargs: dict | None = None,
    input_shape: Sequence[int] | list[Sequence[int]] = (2, 3),
    expected_output_shape: Any = None,
    expected_trainable: int | None = None,
    expected_non_trainable: int = 0,
    reference: Callable[..., Any] | None = None,
    input_data: Any = None,
    input_dtype: str = "float32",
    training: bool = False,
    check_grads: bool = True,
    grad_wrt_weights: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-4,
    grad_tol: float = 5e-2,
) -> layers.Layer:
    """Build ``cls(**kwargs)`` on data of ``input_shape`` and run every check (see module doc).

    ``reference(inputs, weights)`` gets numpy inputs (one array, or a list for several) and the
    layer's weights as numpy arrays in ``layer.weights`` order, and returns the expected output(s).
    """
    kwargs = dict(kwargs or {})
    multi = bool(input_shape) and isinstance(input_shape[0], (list, tuple))
    shapes = [tuple(s) for s in input_shape] if multi else [tuple(input_shape)]
    if input_data is None:
        inputs = [make_input(s, seed=i, dtype=input_dtype) for i, s in enumerate(shapes)]
    else:
        inputs = (
            [np.asarray(d) for d in _as_list(input_data)] if multi else [np.asarray(input_data)]
        )
    arg = list(inputs) if multi else inputs[0]

    # eager call: builds, output shape, weight counts
    layer = cls(**kwargs)
    assert not layer.built
    out = layer(arg, training=training)
    assert layer.built
    outs = _as_list(out)
    if expected_output_shape is not None:
        expected = (
            expected_output_shape
            if isinstance(expected_output_shape, list)
            else [expected_output_shape]
        )
        assert [tuple(o.shape) for o in outs] == [tuple(e) for e in expected]
    for o in outs:
        assert isinstance(o, tw.Tensor)
    if expected_trainable is not None:
        assert len(layer.trainable_weights) == expected_trainable, [
            w.name for w in layer.trainable_weights
        ]
    assert len(layer.non_trainable_weights) == expected_non_trainable, [
        w.name for w in layer.non_trainable_weights
    ]
    assert len(layer.weights) == len(layer.trainable_weights) + expected_non_trainable
    for w in layer.weights:
        assert w.name.startswith(layer.name + "/") or any(
            w.name.startswith(s.name + "/") for s in layer._sublayers
        )

    # numerics against numpy
    if reference is not None:
        want = reference(arg if not multi else list(inputs), [w.numpy() for w in layer.weights])
        wants = _as_list(want)
        assert len(wants) == len(outs)
        for o, w_ in zip(outs, wants, strict=False):
            np.testing.assert_allclose(
                o.numpy(), np.asarray(w_, dtype=np.float64), rtol=rtol, atol=atol
            )

    # symbolic call: same shapes with the batch dimension unknown
    sym_layer = cls(**kwargs)
    sym_in = [layers.input(shape=s[1:], dtype=input_dtype) for s in shapes]
    sym_out = _as_list(sym_layer(sym_in if multi else sym_in[0]))
    assert [t.shape for t in sym_out] == [(None,) + tuple(o.shape[1:]) for o in outs]
    m = layers.model(inputs=sym_in, outputs=sym_out)
    m.set_weights(layer.get_weights())
    if not training:
        got = m.predict(list(inputs) if multi else inputs[0])
        for a, b in zip(_as_list(got), outs, strict=False):
            np.testing.assert_allclose(_np(a), b.numpy(), rtol=1e-5, atol=1e-5)

    # gradients
    if check_grads:
        check_gradients(
            layer,
            inputs,
            training=training,
            wrt_inputs=input_dtype == "float32",
            wrt_weights=grad_wrt_weights,
            rtol=grad_tol,
            atol=grad_tol,
        )

    # config round trip
    check_config_round_trip(layer, inputs, training=training and False)
    return layer
