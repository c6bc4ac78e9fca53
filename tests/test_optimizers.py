"""Optimizers: each update rule against a numpy (float64) transcription of tfjs-compat.md §2."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
from engine import train

EPS = 1e-7
STEPS = 5


def _grads(rng, shape, steps):
    return [rng.normal(size=shape) * s for s in np.linspace(1.0, 0.1, steps)]


# --- numpy references (g = gradient, t = 1-based step) -------------------------------------------


def ref_sgd(w, gs, lr):
    for g in gs:
        w = w - lr * g
    return w


def ref_momentum(w, gs, lr, m, nesterov=False):
    a = np.zeros_like(w)
    for g in gs:
        a = m * a + g
        w = w - lr * (g + m * a) if nesterov else w - lr * a
    return w


def ref_adam(w, gs, lr, b1=0.9, b2=0.999, eps=EPS):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(gs, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w


def ref_adamax(w, gs, lr, b1=0.9, b2=0.999, eps=EPS, decay=0.0):
    m = np.zeros_like(w)
    u = np.zeros_like(w)
    for t, g in enumerate(gs, 1):
        lr_t = lr / (1 + decay * (t - 1))
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g))
        w = w - lr_t / (1 - b1**t) * m / (u + eps)
    return w


def ref_rmsprop(w, gs, lr, decay=0.9, mom=0.0, eps=EPS, centered=False):
    ms = np.zeros_like(w)
    mg = np.zeros_like(w)
    M = np.zeros_like(w)
    for g in gs:
        ms = decay * ms + (1 - decay) * g * g
        if centered:
            mg = decay * mg + (1 - decay) * g
            M = mom * M + lr * g / np.sqrt(ms - mg * mg + eps)
        else:
            M = mom * M + lr * g / np.sqrt(ms + eps)
        w = w - M
    return w


def ref_adagrad(w, gs, lr, init=0.1):
    acc = np.full_like(w, init)
    for g in gs:
        acc = acc + g * g
        w = w - lr * g / np.sqrt(acc + EPS)
    return w


def ref_adadelta(w, gs, lr, rho=0.95, eps=EPS):
    ag = np.zeros_like(w)
    au = np.zeros_like(w)
    for g in gs:
        ag = rho * ag + (1 - rho) * g * g
        upd = np.sqrt(au + eps) / np.sqrt(ag + eps) * g
        au = rho * au + (1 - rho) * upd * upd
        w = w - lr * upd
    return w


CASES = [
    ("sgd", lambda: train.sgd(0.1), lambda w, gs: ref_sgd(w, gs, 0.1)),
    ("momentum", lambda: train.momentum(0.1, 0.9), lambda w, gs: ref_momentum(w, gs, 0.1, 0.9)),
    (
        "nesterov",
        lambda: train.momentum(0.1, 0.9, use_nesterov=True),
        lambda w, gs: ref_momentum(w, gs, 0.1, 0.9, True),
    ),
    ("adam", lambda: train.adam(0.05), lambda w, gs: ref_adam(w, gs, 0.05)),
    (
        "adam_custom",
        lambda: train.adam(0.01, 0.8, 0.99, 1e-3),
        lambda w, gs: ref_adam(w, gs, 0.01, 0.8, 0.99, 1e-3),
    ),
    ("adamax", lambda: train.adamax(0.02), lambda w, gs: ref_adamax(w, gs, 0.02)),
    (
        "adamax_decay",
        lambda: train.adamax(0.02, decay=0.5),
        lambda w, gs: ref_adamax(w, gs, 0.02, decay=0.5),
    ),
    ("rmsprop", lambda: train.rmsprop(0.01), lambda w, gs: ref_rmsprop(w, gs, 0.01)),
    (
        "rmsprop_momentum",
        lambda: train.rmsprop(0.01, 0.8, 0.5),
        lambda w, gs: ref_rmsprop(w, gs, 0.01, 0.8, 0.5),
    ),
    (
        "rmsprop_centered",
        lambda: train.rmsprop(0.01, momentum=0.3, centered=True),
        lambda w, gs: ref_rmsprop(w, gs, 0.01, mom=0.3, centered=True),
    ),
    ("adagrad", lambda: train.adagrad(0.1), lambda w, gs: ref_adagrad(w, gs, 0.1)),
    ("adagrad_init", lambda: train.adagrad(0.1, 0.5), lambda w, gs: ref_adagrad(w, gs, 0.1, 0.5)),
    ("adadelta", lambda: train.adadelta(1.0), lambda w, gs: ref_adadelta(w, gs, 1.0)),
    (
        "adadelta_custom",
        lambda: train.adadelta(0.5, 0.9, 1e-4),
        lambda w, gs: ref_adadelta(w, gs, 0.5, 0.9, 1e-4),
    ),
]


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_update_rule_matches_formula(backend, name, make, ref):
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(3, 4))
    gs = _grads(rng, (3, 4), STEPS)
    w = tw.variable(tw.tensor(w0), name=f"w_{name}")
    opt = make()
    for g in gs:
        opt.apply_gradients([(tw.tensor(g), w)])
    assert opt.iterations == STEPS
    np.testing.assert_allclose(w.numpy(), ref(w0, gs), rtol=1e-4, atol=1e-5)


def test_apply_gradients_by_name_dict(backend):
    w = tw.variable(tw.tensor([1.0, 2.0]), name="by_name_w")
    opt = train.sgd(0.5)
    opt.apply_gradients({"by_name_w": tw.tensor([1.0, -1.0])})
    np.testing.assert_allclose(w.numpy(), [0.5, 2.5])
    with pytest.raises(ValueError, match="no live variable"):
        opt.apply_gradients({"no_such_variable_anywhere": tw.tensor([1.0])})


def test_minimize_finds_variables_and_returns_cost(backend):
    w = tw.variable(tw.tensor([3.0, -2.0]), name="min_w")
    frozen = tw.variable(tw.tensor([1.0]), trainable=False, name="min_frozen")
    opt = train.sgd(0.1)
    cost = opt.minimize(lambda: tw.sum(tw.square(w)) * tw.sum(frozen), return_cost=True)
    assert cost.item() == pytest.approx(13.0)
    np.testing.assert_allclose(w.numpy(), [3.0 - 0.6, -2.0 + 0.4], rtol=1e-6)
    np.testing.assert_allclose(frozen.numpy(), [1.0])
    assert opt.minimize(lambda: tw.sum(tw.square(w))) is None
    # var_list restricts the update
    v = tw.variable(tw.tensor([1.0]), name="min_v")
    opt.minimize(lambda: tw.sum(tw.square(w)) + tw.sum(v), var_list=[v])
    np.testing.assert_allclose(v.numpy(), [0.9], rtol=1e-6)


def test_minimize_converges(backend):
    w = tw.variable(tw.tensor([5.0, -3.0]), name="conv_w")
    opt = train.adam(0.2)
    for _ in range(200):
        opt.minimize(lambda: tw.sum(tw.square(w - 1.0)))
    np.testing.assert_allclose(w.numpy(), [1.0, 1.0], atol=0.05)


def test_weights_roundtrip_continues_identically(backend):
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=(4,))
    gs = _grads(rng, (4,), 6)
    a = tw.variable(tw.tensor(w0), name="rt_a")
    opt = train.adam(0.05)
    for g in gs[:3]:
        opt.apply_gradients([(tw.tensor(g), a)])
    state = opt.get_weights()
    assert state[0]["name"] == "iter" and state[0]["tensor"].dtype == "int32"
    assert [s["name"] for s in state[1:]] == ["rt_a/m", "rt_a/v"]
    b = tw.variable(tw.tensor(a.numpy()), name="rt_a")  # same name: a restored model
    opt2 = train.adam(0.05)
    opt2.set_weights([(s["name"], s["tensor"].numpy()) for s in state])
    assert opt2.iterations == 3
    for g in gs[3:]:
        opt.apply_gradients([(tw.tensor(g), a)])
        opt2.apply_gradients([(tw.tensor(g), b)])
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6)
    np.testing.assert_allclose(a.numpy(), ref_adam(w0, gs, 0.05), rtol=1e-4, atol=1e-6)


def test_set_weights_rejects_unknown_slot(backend):
    with pytest.raises(ValueError, match="unknown slot"):
        train.adam().set_weights([{"name": "w/nope", "tensor": tw.zeros([2])}])


def test_configs_and_string_table():
    cases = {
        "sgd": ("SGD", {"learning_rate": 0.01}),
        "adam": ("Adam", {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7}),
        "rmsprop": (
            "RMSProp",
            {
                "learning_rate": 0.001,
                "decay": 0.9,
                "momentum": 0.0,
                "epsilon": 1e-7,
                "centered": False,
            },
        ),
        "adagrad": ("Adagrad", {"learning_rate": 0.01, "initial_accumulator_value": 0.1}),
        "adadelta": ("Adadelta", {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7}),
        "adamax": (
            "Adamax",
            {"learning_rate": 0.002, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "decay": 0.0},
        ),
        "momentum": ("Momentum", {"learning_rate": 0.01, "momentum": 0.9, "use_nesterov": False}),
    }
    for name, (cls, cfg) in cases.items():
        for spelling in (name, name.upper(), cls, cls.lower()):
            opt = train.get(spelling)
            assert opt.class_name == cls
            assert opt.get_config() == pytest.approx(cfg)
    assert tw.train.adam is train.adam  # engine.train loads lazily as tw.train
    assert train.get("RMS_Prop").class_name == "RMSProp"
    assert train.get("Ada_Grad").class_name == "Adagrad"
    opt = train.adam(0.3)
    assert train.get(opt) is opt
    rebuilt = train.get({"class_name": "Adam", "config": opt.get_config()})
    assert rebuilt.get_config() == opt.get_config()
    with pytest.raises(ValueError, match="adam.*adamax|adamax.*adam"):
        train.get("adamw_unknown")
    with pytest.raises(TypeError):
        train.get(42)


def test_centered_rmsprop_stays_finite_with_tiny_gradients(backend):
    # TF.js's sqrt(ms - (mg^2 + eps)) gives NaN here; ours must not.
    w = tw.variable(tw.tensor([1.0, 1.0]), name="tiny_w")
    opt = train.rmsprop(0.01, centered=True)
    for _ in range(3):
        opt.apply_gradients([(tw.tensor([1e-6, 1e-5]), w)])
    assert np.all(np.isfinite(w.numpy()))


def test_adadelta_is_not_plain_sgd(backend):
    w = tw.variable(tw.tensor([1.0]), name="ad_w")
    opt = train.adadelta(1.0)
    opt.apply_gradients([(tw.tensor([0.5]), w)])
    assert abs(w.numpy()[0] - 0.5) > 0.1  # plain sgd(1.0) would give 0.5


def test_gradient_shape_mismatch_is_an_error(backend):
    w = tw.variable(tw.zeros([2]), name="bad_shape_w")
    with pytest.raises(ValueError, match="shape"):
        train.sgd(0.1).apply_gradients([(tw.zeros([3]), w)])


@pytest.mark.parametrize("make", [lambda: train.sgd(0.1), lambda: train.adam(0.1)])
def test_a_bad_gradient_changes_no_variable(backend, make):
    ok = tw.variable(tw.ones([2]), name="ok_before_bad")
    bad = tw.variable(tw.ones([2]), name="bad_after_ok")
    opt = make()
    with pytest.raises(ValueError, match="'bad_after_ok' has shape"):
        opt.apply_gradients([(tw.ones([2]), ok), (tw.ones([3]), bad)])
    np.testing.assert_array_equal(ok.numpy(), [1.0, 1.0])
    assert opt.iterations == 0


def test_fused_kernel_is_used_when_backend_offers_it(backend, monkeypatch):
    be = tw.backend()
    calls = []

    def adam_update(shape, dtype, w, g, slots, *, lr, beta1, beta2, epsilon, t):
        calls.append((shape, dtype, t))
        wn = be.to_numpy(w, shape, dtype).astype(np.float64)
        gn = be.to_numpy(g, shape, dtype).astype(np.float64)
        m, v = (be.to_numpy(s, shape, dtype).astype(np.float64) for s in slots)
        m = beta1 * m + (1 - beta1) * gn
        v = beta2 * v + (1 - beta2) * gn * gn
        wn = wn - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + epsilon)
        return tuple(be.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in (wn, m, v))

    monkeypatch.setattr(be, "adam_update", adam_update, raising=False)
    monkeypatch.setattr(be, "has", lambda k: k == "adam_update")
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(2, 3))
    gs = _grads(rng, (2, 3), 3)
    w = tw.variable(tw.tensor(w0), name="fused_w")
    opt = train.adam(0.1)
    for g in gs:
        opt.apply_gradients([(tw.tensor(g), w)])
    assert [c[2] for c in calls] == [1, 2, 3]
    np.testing.assert_allclose(w.numpy(), ref_adam(w0, gs, 0.1), rtol=1e-5, atol=1e-6)


def test_one_update_many_call_per_dtype_when_backend_offers_it(backend, monkeypatch):
    """A backend with ``adam_update_many`` gets every variable of a dtype in one call, and the
    result is the per-variable formula."""
    be = tw.backend()
    calls = []

    def adam_update_many(shapes, dtype, ws, gs, slots, **hyper):
        calls.append((list(shapes), dtype))
        outs = []
        for shape, w, g, sl in zip(shapes, ws, gs, slots, strict=True):
            wn, gn, m, v = (be.to_numpy(b, shape, dtype).astype(np.float64) for b in (w, g, *sl))
            b1, b2, t = hyper["beta1"], hyper["beta2"], hyper["t"]
            m = b1 * m + (1 - b1) * gn
            v = b2 * v + (1 - b2) * gn * gn
            step = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + hyper["epsilon"])
            wn = wn - hyper["lr"] * step
            outs.append(tuple(be.from_numpy(np.ascontiguousarray(a, dtype)) for a in (wn, m, v)))
        return outs

    monkeypatch.setattr(be, "adam_update_many", adam_update_many, raising=False)
    monkeypatch.setattr(be, "has", lambda k: k in ("adam_update", "adam_update_many"))
    rng = np.random.default_rng(4)
    w0s = [rng.normal(size=(2, 3)), rng.normal(size=(4,))]
    gss = [_grads(rng, w0.shape, 3) for w0 in w0s]
    ws = [tw.variable(tw.tensor(w0), name=f"many_w{i}") for i, w0 in enumerate(w0s)]
    opt = train.adam(0.1)
    for k in range(3):
        opt.apply_gradients([(tw.tensor(gs[k]), w) for gs, w in zip(gss, ws, strict=True)])
    assert calls == [([(2, 3), (4,)], "float32")] * 3
    for w, w0, gs in zip(ws, w0s, gss, strict=True):
        np.testing.assert_allclose(w.numpy(), ref_adam(w0, gs, 0.1), rtol=1e-5, atol=1e-6)
