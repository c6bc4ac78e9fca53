"""Mixed precision (issue 20 item 7): dtype policies, float16 on the numpy backend, dynamic loss
scaling (``LossScaleOptimizer``) against a numpy reference, and the clear error on backends
without float16."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
import layers
from engine import registry
from engine.train import LossScaleOptimizer
from layers import mixed_precision as mp


@pytest.fixture(autouse=True)
def _float32_policy_after():
    yield
    mp.set_global_policy("float32")


@pytest.fixture
def numpy_scope():
    with tw.backend_scope("numpy"):
        yield


def _without_float16() -> list[str]:
    names = [b["name"] for b in registry.list_backends() if b.get("available")]
    return [n for n in names if not registry.instance_of(n).capabilities.get("float16")]


# --- the policy API ---------------------------------------------------------------------------
def test_policy_names_and_dtypes(numpy_scope):
    p = mp.DTypePolicy("mixed_float16")
    assert (p.name, p.compute_dtype, p.variable_dtype, p.is_mixed) == (
        "mixed_float16",
        "float16",
        "float32",
        True,
    )
    q = mp.Policy("float32")  # Keras 2's name
    assert (q.compute_dtype, q.variable_dtype, q.is_mixed) == ("float32", "float32", False)
    assert mp.DTypePolicy(np.float32).name == "float32"
    assert mp.DTypePolicy.from_config(p.get_config()) == p
    assert mp.get({"class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}) == p
    assert repr(p) == '<DTypePolicy "mixed_float16">'
    with pytest.raises(ValueError, match=r"'mixed_bfloat16' is not supported.*mixed_float16"):
        mp.DTypePolicy("mixed_bfloat16")
    with pytest.raises(ValueError, match=r"'float16' \(float16 variables\).*'mixed_float16'"):
        mp.DTypePolicy("float16")
    with pytest.raises(TypeError, match=r"unsupported dtype 'nope'"):
        mp.DTypePolicy("nope")


def test_global_policy_applies_to_layers_made_afterwards(numpy_scope):
    before = layers.dense(units=2)
    assert mp.global_policy().name == "float32"
    mp.set_global_policy("mixed_float16")
    assert mp.global_policy() == mp.DTypePolicy("mixed_float16")
    after = layers.dense(units=2)
    own = layers.dense(units=2, dtype="float32")
    by_policy = layers.dense(units=2, dtype=mp.DTypePolicy("float32"))
    assert before.dtype_policy.name == "float32"  # layers made earlier keep theirs
    assert after.dtype_policy.name == "mixed_float16" and after.compute_dtype == "float16"
    assert after.dtype == "float32"  # the variable dtype, as Keras's layer.dtype
    assert own.compute_dtype == "float32" and by_policy.compute_dtype == "float32"
    with pytest.raises(ValueError, match=r"mixed_bfloat16"):
        mp.set_global_policy("mixed_bfloat16")
    assert mp.global_policy().name == "mixed_float16"  # a bad name changes nothing
    mp.set_global_policy(None)
    assert mp.global_policy().name == "float32"


def test_mixed_layer_config_round_trip(numpy_scope):
    d = layers.dense(units=3, dtype="mixed_float16")
    cfg = d.get_config()
    assert cfg["dtype"] == "mixed_float16"
    cfg.pop("name")
    assert layers.Dense.from_config(cfg).dtype_policy.name == "mixed_float16"
    keras3 = {"units": 3, "dtype": {"class_name": "DTypePolicy", "config": {"name": "float32"}}}
    assert layers.Dense.from_config(keras3).dtype_policy.name == "float32"


def test_mixed_layer_computes_in_float16_with_float32_weights(numpy_scope):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7)).astype(np.float32)
    d = layers.dense(units=4, activation="tanh", dtype="mixed_float16")
    y = d(x)
    assert y.dtype == "float16"
    assert d.kernel.dtype == "float32" and d.bias.dtype == "float32"
    assert isinstance(d.kernel, tw.Variable)  # the attribute is the variable again after call
    k16, b16 = d.kernel.numpy().astype(np.float16), d.bias.numpy().astype(np.float16)
    pre = (x.astype(np.float16).astype(np.float32) @ k16.astype(np.float32)).astype(np.float16)
    ref = np.tanh(pre + b16)
    np.testing.assert_allclose(y.numpy().astype(np.float32), ref, atol=2e-3)
    # the gradient reaches the float32 kernel through the cast
    g = tw.grad(
        lambda k: tw.sum(tw.matmul(tw.cast(tw.tensor(x), "float16"), tw.cast(k, "float16")))
    )(d.kernel)
    assert g.dtype == "float32"
    np.testing.assert_allclose(g.numpy(), np.repeat(x.sum(0)[:, None], 4, 1), rtol=2e-3)


# --- training under mixed_float16 ----------------------------------------------------------------
def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    w = rng.normal(size=(8, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.argmax(x @ w, 1)]
    return x, y


def _fit(policy: str, epochs: int = 4):
    mp.set_global_policy(policy)
    init = layers.initializers
    m = layers.sequential(
        [
            layers.dense(
                units=16,
                activation="relu",
                input_shape=[8],
                kernel_initializer=init.glorot_uniform(seed=1),
            ),
            # Keras's advice: the output layer (softmax) in float32
            layers.dense(
                units=3,
                activation="softmax",
                dtype="float32",
                kernel_initializer=init.glorot_uniform(seed=2),
            ),
        ]
    )
    m.compile(optimizer="adam", loss="categoricalCrossentropy", metrics=["accuracy"])
    x, y = _data()
    hist = m.fit(x, y, epochs=epochs, batch_size=32, shuffle=False, verbose=0)
    mp.set_global_policy("float32")
    return m, hist.history["loss"]


def test_dense_model_trains_under_mixed_float16_close_to_float32(numpy_scope):
    m16, loss16 = _fit("mixed_float16")
    m32, loss32 = _fit("float32")
    assert loss16[-1] < loss16[0] * 0.95  # it learns
    assert isinstance(m16.optimizer, LossScaleOptimizer)  # compile wrapped it (Keras 3)
    assert not isinstance(m32.optimizer, LossScaleOptimizer)
    assert m16.optimizer.skipped_steps == 0 and m16.optimizer.iterations == 4 * 8
    assert all(w.dtype == "float32" for w in m16.weights)
    x, _ = _data()
    hidden = m16.layers[0](x)
    assert hidden.dtype == "float16"  # float16 activations
    out16, out32 = m16.predict(x).numpy(), m32.predict(x).numpy()
    assert out16.dtype == np.float32  # the float32 output layer
    np.testing.assert_allclose(loss16, loss32, rtol=5e-3)  # float16 tolerance
    np.testing.assert_allclose(out16, out32, atol=1e-2)
    for a, b in zip(m16.get_weights(), m32.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-2)


def test_compile_keeps_a_given_loss_scale_optimizer(numpy_scope):
    mp.set_global_policy("mixed_float16")
    m = layers.sequential([layers.dense(units=1, input_shape=[2])])
    opt = LossScaleOptimizer(tw.train.sgd(0.1), initial_scale=4.0)
    m.compile(optimizer=opt, loss="mse")
    assert m.optimizer is opt
    m.train_on_batch(np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32))
    assert opt.iterations == 1 and opt.good_steps == 1


# --- LossScaleOptimizer against a numpy reference ----------------------------------------------------
def _reference_steps(w0: float, coef: float, lr: float, scale: float, growth: int, steps: int):
    """SGD on loss = w * coef with the gradient taken in float16, dynamic loss scaling."""
    w, good, trail = np.float32(w0), 0, []
    for _ in range(steps):
        with np.errstate(over="ignore"):  # d(scale * loss)/dw in float16: may overflow
            g16 = np.float16(np.float16(scale) * np.float16(coef))
        g = np.float32(g16) * np.float32(1.0 / scale)
        if np.isfinite(g):
            w = np.float32(w - np.float32(lr) * g)
            good += 1
            if good >= growth:
                scale, good = scale * 2.0, 0
        else:
            scale, good = scale / 2.0, 0
        trail.append((float(w), scale))
    return trail


@pytest.mark.parametrize("coef, growth", [(100.0, 2000), (3.0, 3)])
def test_loss_scale_skips_on_overflow_halves_and_doubles_after_good_steps(
    numpy_scope, coef, growth
):
    w = tw.variable([1.0])
    c = tw.tensor([coef], dtype="float16")
    opt = LossScaleOptimizer(tw.train.sgd(0.01), dynamic_growth_steps=growth)
    assert opt.loss_scale == 2.0**15
    got = []
    for _ in range(10):
        opt.minimize(lambda: tw.cast(tw.sum(tw.mul(tw.cast(w, "float16"), c)), "float32"))
        got.append((w.tolist()[0], opt.loss_scale))
    ref = _reference_steps(1.0, coef, 0.01, 2.0**15, growth, 10)
    assert [s for _, s in got] == [s for _, s in ref]
    np.testing.assert_allclose([v for v, _ in got], [v for v, _ in ref], rtol=1e-6)
    if coef == 100.0:  # 32768 * 100 overflows float16 (max 65504) until the scale is 512
        assert opt.skipped_steps == 6 and opt.iterations == 4
        assert got[0] == (1.0, 2.0**14)  # the first step is skipped, w unchanged
    else:  # 32768 * 3 overflows once; then 3 good steps double the scale, and so on
        assert opt.skipped_steps >= 1 and max(s for _, s in got[1:]) > got[1][1]


def test_loss_scale_skip_leaves_inner_state_untouched(numpy_scope):
    w = tw.variable([1.0, 2.0])
    opt = LossScaleOptimizer("adam", initial_scale=2.0)
    opt.apply_gradients([(tw.tensor([2.0, 2.0]), w)])
    before = [x["tensor"].numpy().copy() for x in opt.get_weights()] + [w.numpy().copy()]
    opt.apply_gradients([(tw.tensor([np.nan, 1.0]), w)])
    after = [x["tensor"].numpy() for x in opt.get_weights()] + [w.numpy()]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert opt.loss_scale == 1.0 and opt.iterations == 1 and opt.skipped_steps == 1  # halved
    with pytest.raises(ValueError, match=r"gradient of .* has shape \(3,\)"):
        opt.apply_gradients([(tw.ones([3]), w)])
    assert opt.loss_scale == 1.0 and opt.skipped_steps == 1  # nothing changed


def test_loss_scale_optimizer_arguments_are_checked():
    for bad in (0.0, -1.0, float("inf"), True, "big"):
        with pytest.raises(ValueError, match=r"initial_scale must be a positive finite number"):
            LossScaleOptimizer("sgd", initial_scale=bad)
    with pytest.raises(ValueError, match=r"dynamic_growth_steps must be an integer >= 1"):
        LossScaleOptimizer("sgd", dynamic_growth_steps=0)
    with pytest.raises(TypeError, match=r"already a LossScaleOptimizer"):
        LossScaleOptimizer(LossScaleOptimizer("sgd"))
    opt = LossScaleOptimizer(tw.train.adam(0.01))
    assert opt.class_name == "Adam" and opt.get_config() == opt.inner_optimizer.get_config()
    opt.learning_rate = 0.5
    assert opt.inner_optimizer.learning_rate == 0.5


# --- backends without float16 -------------------------------------------------------------------------
def test_mixed_float16_raises_naming_backends_without_float16():
    others = _without_float16()
    if not others:
        pytest.skip("every available backend declares float16")
    with tw.backend_scope("numpy"):
        built = layers.dense(units=2, dtype="mixed_float16")
        built(np.ones((1, 3), np.float32))
    for name in others:
        with tw.backend_scope(name):
            mp.set_global_policy("mixed_float16")
            pattern = rf"backend '{name}' does not support.*numpy backend.*'float32' policy"
            with pytest.raises(TypeError, match=pattern):
                layers.sequential([layers.dense(units=2, input_shape=[3])])
            with pytest.raises(TypeError, match=pattern):
                layers.dense(units=2)
            with pytest.raises(TypeError, match=pattern):  # a mixed layer made elsewhere
                built(np.ones((1, 3), np.float32))
            mp.set_global_policy("float32")


# --- float16 tensors on the numpy backend ----------------------------------------------------------------
def test_float16_ops_on_numpy_match_numpy_float16(numpy_scope):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(6, 5)).astype(np.float16)
    b = (rng.random((6, 5)) + 0.5).astype(np.float16)
    ta, tb = tw.tensor(a, dtype="float16"), tw.tensor(b, dtype="float16")
    assert ta.dtype == "float16" and tw.tensor(a).dtype == "float32"  # inference: float32
    with np.errstate(all="ignore"):
        cases = {
            "add": (tw.add(ta, tb), a + b),
            "sub": (tw.sub(ta, tb), a - b),
            "mul": (tw.mul(ta, tb), a * b),
            "div": (tw.div(ta, tb), a / b),
            "exp": (tw.exp(ta), np.exp(a)),
            "tanh": (tw.tanh(ta), np.tanh(a)),
            "relu": (tw.relu(ta), np.maximum(a, np.float16(0))),
            "sigmoid": (tw.sigmoid(ta), (1 / (1 + np.exp(-a.astype(np.float32))))),
            "max": (tw.max(ta, 1), a.max(1)),
            # sums and matmuls accumulate in float32 and round once
            "sum": (tw.sum(ta, 0), a.astype(np.float32).sum(0)),
            "mean": (tw.mean(ta), a.astype(np.float32).mean()),
            "matmul": (
                tw.matmul(ta, tw.transpose(tb)),
                a.astype(np.float32) @ b.astype(np.float32).T,
            ),
            "softmax": (tw.softmax(ta), _softmax(a.astype(np.float32))),
        }
    for name, (got, want) in cases.items():
        assert got.dtype == "float16", name
        want16 = np.asarray(want).astype(np.float16).astype(np.float32)
        # within a few float16 ulps (2**-10 relative) of numpy's float16 result
        np.testing.assert_allclose(
            got.numpy().astype(np.float32), want16, rtol=4e-3, atol=1e-3, err_msg=name
        )
    assert tw.add(ta, tw.ones([5])).dtype == "float32"  # float16 + float32 upcasts
    assert tw.add(ta, 1.5).dtype == "float16"  # a Python scalar adopts float16
    assert tw.cast(ta, "int32").numpy().tolist() == np.trunc(a).astype(np.int32).tolist()


def test_float16_sum_of_many_small_terms_keeps_them(numpy_scope):
    x = tw.fill([4096], 1.0, "float16")
    assert tw.sum(x).item() == 4096.0  # a float16 accumulator would stop at 2048


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
