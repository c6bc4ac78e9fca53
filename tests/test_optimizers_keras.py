"""Keras 3 optimizer features: AdamW/Nadam/Lion/Ftrl, gradient clipping, learning-rate schedules
(also inside traced and compiled ``fit``) and the ``LearningRateScheduler`` callback, each
against a numpy (float64) transcription of Keras 3's formulas (keras/src/optimizers/*.py,
schedules/learning_rate_schedule.py, base_optimizer.py)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import engine as tw
import layers
from engine import registry, train
from engine.train import schedules as S

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

STEPS = 5
SHAPES = [(3, 4), (5,)]


# --- numpy references: step(w, g, state, t, lr) -> w, with state a dict updated in place ---------
def ref_adamw(wd=0.004, b1=0.9, b2=0.999, eps=1e-7):
    def step(w, g, s, t, lr):
        m, v = s.get("m", np.zeros_like(w)), s.get("v", np.zeros_like(w))
        w = w - w * wd * lr
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        s["m"], s["v"] = m, v
        return w - (m * alpha) / (np.sqrt(v) + eps)

    return step


def ref_nadam(b1=0.9, b2=0.999, eps=1e-7):
    def step(w, g, s, t, lr):
        m, v = s.get("m", np.zeros_like(w)), s.get("v", np.zeros_like(w))
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        # Keras multiplies its u_product variable once per step, before the variables' updates
        if s.get("u_t") != t:
            s["u_prod"] = s.get("u_prod", 1.0) * u_t
            s["u_t"] = t
        u_prod = s["u_prod"]
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_t1 * m / (1 - u_prod * u_t1) + (1 - u_t) * g / (1 - u_prod)
        v_hat = v / (1 - b2**t)
        s["m"], s["v"] = m, v
        return w - (m_hat * lr) / (np.sqrt(v_hat) + eps)

    return step


def ref_lion(b1=0.9, b2=0.99):
    def step(w, g, s, t, lr):
        m = s.get("m", np.zeros_like(w))
        w = w - lr * np.sign(m * b1 + g * (1 - b1))
        s["m"] = m * b2 + g * (1 - b2)
        return w

    return step


def ref_ftrl(power=-0.5, init=0.1, l1=0.0, l2=0.0, shrink=0.0, beta=0.0):
    def step(w, g, s, t, lr):
        acc, lin = s.get("acc", np.full_like(w, init)), s.get("lin", np.zeros_like(w))
        l2_reg = l2 + beta / (2.0 * lr)
        g2 = g + 2 * shrink * w
        new_acc = acc + g * g
        lin = lin + (g2 - ((new_acc**-power - acc**-power) / lr) * w)
        quadratic = new_acc**-power / lr + 2 * l2_reg
        w = (np.clip(lin, -l1, l1) - lin) / quadratic
        s["acc"], s["lin"] = new_acc, lin
        return w

    return step


def ref_sgd():
    return lambda w, g, s, t, lr: w - lr * g


CASES = {
    "adamw": (lambda lr: train.adamw(lr, weight_decay=0.1), ref_adamw(wd=0.1), 0.05),
    "nadam": (lambda lr: train.nadam(lr, beta1=0.8, beta2=0.99), ref_nadam(0.8, 0.99), 0.05),
    "lion": (lambda lr: train.lion(lr, beta1=0.8, beta2=0.95), ref_lion(0.8, 0.95), 0.01),
    "ftrl": (
        lambda lr: train.ftrl(
            lr,
            learning_rate_power=-0.6,
            initial_accumulator_value=0.2,
            l1_regularization_strength=0.01,
            l2_regularization_strength=0.05,
            l2_shrinkage_regularization_strength=0.02,
            beta=0.3,
        ),
        ref_ftrl(-0.6, 0.2, 0.01, 0.05, 0.02, 0.3),
        0.2,
    ),
}


def _run(opt, ref, lr_at, clip=None, steps=STEPS, seed=3):
    """``steps`` of ``opt.apply_gradients`` on two variables; returns (got, want) per variable.
    ``clip(gs)`` clips the reference's gradients of one step."""
    rng = np.random.default_rng(seed)
    w0 = [rng.normal(size=s) for s in SHAPES]
    vs = [tw.variable(tw.tensor(w.astype(np.float32))) for w in w0]
    want = [w.copy() for w in w0]
    states = [{} for _ in SHAPES]
    for t in range(1, steps + 1):
        gs = [rng.normal(size=s) * 2.0 for s in SHAPES]
        opt.apply_gradients(
            [(tw.tensor(g.astype(np.float32)), v) for g, v in zip(gs, vs, strict=True)]
        )
        if clip is not None:
            gs = clip(gs)
        lr = lr_at(t - 1)
        want = [ref(w, g, s, t, lr) for w, g, s in zip(want, gs, states, strict=True)]
    return [v.numpy() for v in vs], want


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_optimizer_matches_keras_formulas(backend, name):
    make, ref, lr = CASES[name]
    opt = make(lr)
    got, want = _run(opt, ref, lambda _: lr)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5, err_msg=name)
    assert opt.iterations == STEPS
    if registry.backend().name in ("cpu", "opencl"):  # fused like the other optimizers
        assert registry.backend().has(opt.kernel)


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_optimizer_with_a_schedule(backend, name):
    make, ref, lr = CASES[name]
    sched = S.ExponentialDecay(lr, decay_steps=2, decay_rate=0.5)
    got, want = _run(make(sched), ref, lambda step: lr * 0.5 ** (step / 2))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5, err_msg=name)


def _clip_norm(c):
    return lambda gs: [g * c / max(np.linalg.norm(g), c) for g in gs]


def _clip_global(c):
    def clip(gs):
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
        return [g * (c * min(1 / norm, 1 / c)) for g in gs]

    return clip


CLIPS = {
    "clipnorm": (3.0, _clip_norm(3.0)),  # the (3, 4) gradients get clipped, the (5,) ones not all
    "clipvalue": (1.5, lambda gs: [np.clip(g, -1.5, 1.5) for g in gs]),
    "global_clipnorm": (4.0, _clip_global(4.0)),
}


@pytest.mark.parametrize("kind", sorted(CLIPS))
@pytest.mark.parametrize("opt_name", ["sgd", "adamw"])
def test_gradient_clipping(backend, kind, opt_name):
    value, clip = CLIPS[kind]
    if opt_name == "sgd":
        lr, make, ref = 0.1, train.sgd, ref_sgd
    else:
        lr, make, ref = (
            0.05,
            lambda *a, **k: train.adamw(*a, weight_decay=0.1, **k),
            lambda: ref_adamw(wd=0.1),
        )
    opt = make(lr, **{kind: value})
    got, want = _run(opt, ref(), lambda _: lr, clip=clip)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)
    _, unclipped = _run(make(lr), ref(), lambda _: lr)  # the clipping mattered
    assert not np.allclose(unclipped[0], want[0], rtol=1e-3)
    assert opt.get_config()[kind] == value


def test_clipping_does_not_touch_small_gradients():
    w = tw.variable(tw.tensor([0.3, -0.4]))
    train.sgd(1.0, clipnorm=1.0).apply_gradients([(tw.tensor([0.3, 0.4]), w)])
    np.testing.assert_allclose(w.numpy(), [0.0, -0.8], atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"clipnorm": -1.0}, "clipnorm must be a positive finite number or None, got -1.0"),
        ({"clipvalue": float("nan")}, "clipvalue must be a positive finite number"),
        ({"global_clipnorm": "1"}, "global_clipnorm must be a positive finite number.*'1'"),
        ({"clipnorm": 0}, "clipnorm must be a positive"),
        ({"clipnorm": True}, "clipnorm must be a positive"),
        ({"clipnorm": 1.0, "global_clipnorm": 1.0}, "only one of.*clipnorm=1.0, global_clipnorm"),
        ({"clipvalue": 1.0, "clipnorm": 2.0}, "only one of"),
    ],
)
def test_bad_clip_values_raise_naming_them(kwargs, match):
    for make in (train.sgd, train.adam, train.lion, train.Adagrad):
        with pytest.raises(ValueError, match=match):
            make(0.1, **kwargs)


# --- schedules ------------------------------------------------------------------------------------
SCHEDULE_CASES = [
    (
        S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5),
        lambda s: 0.1 * 0.5 ** (s / 10),
    ),
    (
        S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
        lambda s: 0.1 * 0.5 ** math.floor(s / 10),
    ),
    (
        S.InverseTimeDecay(0.2, decay_steps=5, decay_rate=0.5),
        lambda s: 0.2 / (1 + 0.5 * s / 5),
    ),
    (
        S.InverseTimeDecay(0.2, decay_steps=5, decay_rate=0.5, staircase=True),
        lambda s: 0.2 / (1 + 0.5 * math.floor(s / 5)),
    ),
    (
        S.PiecewiseConstantDecay([10, 25], [1.0, 0.5, 0.1]),
        lambda s: 1.0 if s <= 10 else (0.5 if s <= 25 else 0.1),
    ),
    (
        S.CosineDecay(0.1, decay_steps=20, alpha=0.1),
        lambda s: 0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 20) / 20)) + 0.1),
    ),
    (
        S.CosineDecay(0.01, decay_steps=20, alpha=0.0, warmup_target=0.1, warmup_steps=8),
        lambda s: (
            0.01 + (0.1 - 0.01) * s / 8
            if s < 8
            else 0.1 * 0.5 * (1 + math.cos(math.pi * (min(s, 28) - 8) / 20))
        ),
    ),
]


@pytest.mark.parametrize("case", range(len(SCHEDULE_CASES)), ids=lambda i: f"schedule{i}")
def test_schedule_values(case):
    sched, want = SCHEDULE_CASES[case]
    steps = [0, 1, 4, 8, 10, 11, 19, 25, 26, 28, 40]
    for s in steps:
        assert sched(s) == pytest.approx(want(s), rel=1e-6, abs=1e-8), (sched, s)
    with tw.backend_scope("numpy"):  # the device form (what the composite update runs)
        dev = [sched(tw.scalar(float(s))).item() for s in steps]
    np.testing.assert_allclose(dev, [sched(s) for s in steps], rtol=1e-6, atol=1e-9)
    again = type(sched).from_config(sched.get_config())
    assert [again(s) for s in steps] == [sched(s) for s in steps]
    assert S.deserialize(S.serialize(sched)).get_config() == sched.get_config()


def test_schedule_module_examples():
    result = doctest.testmod(S, extraglobs={"tw": tw}, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: S.ExponentialDecay(0.1, 0, 0.5), "decay_steps must be > 0, got 0"),
        (lambda: S.InverseTimeDecay(0.1, -1, 0.5), "decay_steps must be > 0, got -1"),
        (lambda: S.CosineDecay(0.1, 10, warmup_steps=-2), "warmup_steps must be >= 0, got -2"),
        (lambda: S.CosineDecay(0.1, 10, alpha="x"), "alpha must be a number, got 'x'"),
        (lambda: S.PiecewiseConstantDecay([1, 2], [1.0, 0.5]), "one more entry than boundaries"),
        (lambda: S.PiecewiseConstantDecay([5, 2], [1.0, 0.5, 0.1]), "increase strictly"),
        (lambda: S.deserialize({"class_name": "Nope"}), "unknown learning-rate schedule 'Nope'"),
    ],
)
def test_bad_schedule_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_is_read_per_step_and_not_settable():
    opt = train.sgd(S.PiecewiseConstantDecay([1], [0.5, 0.1]))
    w = tw.variable(tw.tensor([1.0]))
    lrs = []
    for _ in range(3):
        lrs.append(opt.learning_rate)
        opt.apply_gradients([(tw.tensor([1.0]), w)])
    assert lrs == pytest.approx([0.5, 0.5, 0.1])
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.5 - 0.5 - 0.1], rtol=1e-6)
    with pytest.raises(TypeError, match="cannot be set to 0.3"):
        opt.learning_rate = 0.3
    plain = train.sgd(0.1)
    plain.apply_gradients([(tw.tensor([1.0]), w)])
    with pytest.raises(ValueError, match="before the first step"):
        plain.learning_rate = S.ExponentialDecay(0.1, 1, 0.5)
    fresh = train.sgd(0.1)
    fresh.learning_rate = S.ExponentialDecay(0.1, 1, 0.5)  # allowed before any step
    assert fresh.schedule is not None


# --- inside fit: traced on every backend, compiled chunks on cpu ------------------------------------
def _dense_model(optimizer):
    tw.set_seed(4)
    model = layers.sequential([layers.dense(units=3, input_shape=[4])])
    model.compile(optimizer=optimizer, loss="meanSquaredError")
    return model


def _dense_data(n=32):
    rng = np.random.default_rng(9)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32)


def _dense_reference(model, x, y, ref, lr_at, epochs, batch=8, epoch_lr=None, clip=None):
    """The weights after ``epochs`` of unshuffled mini-batch training of ``model``'s dense
    layer with MSE, in float64; ``lr_at(step)`` or ``epoch_lr(epoch)`` gives each step's rate,
    ``clip`` clips each step's gradients."""
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_weights())
    states = [{}, {}]
    t = 0
    for epoch in range(epochs):
        for i in range(0, len(x), batch):
            xb, yb = x[i : i + batch].astype(np.float64), y[i : i + batch].astype(np.float64)
            dy = 2 * (xb @ kernel + bias - yb) / yb.size
            t += 1
            lr = epoch_lr(epoch) if epoch_lr else lr_at(t - 1)
            gk, gb = xb.T @ dy, dy.sum(0)
            if clip is not None:
                gk, gb = clip([gk, gb])
            kernel = ref(kernel, gk, states[0], t, lr)
            bias = ref(bias, gb, states[1], t, lr)
    return kernel, bias


@pytest.mark.parametrize("name", ["sgd", "nadam"])
def test_schedule_inside_traced_fit(backend, name):
    """The traced step replays its kernels; the rate must still follow the schedule per step
    (fused kernels read it on the host, the composite computes it on the device)."""
    sched = S.CosineDecay(0.02, decay_steps=6, alpha=0.1, warmup_target=0.1, warmup_steps=3)
    opt = train.sgd(sched) if name == "sgd" else train.nadam(sched)
    ref = ref_sgd() if name == "sgd" else ref_nadam()
    model = _dense_model(opt)
    x, y = _dense_data()
    want = _dense_reference(model, x, y, ref, sched, epochs=3)
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert opt.iterations == 12
    for got, w in zip(model.get_weights(), want, strict=True):
        np.testing.assert_allclose(np.asarray(got), w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["sgd", "adamw", "ftrl"])
def test_schedule_inside_compiled_chunks(cpu, monkeypatch, name):
    """cpu with compiled programs forced from the first replay: a chunk computes the per-step
    optimizer scalars before its call, so the schedule must still move every step (adamw also
    clips by the global norm inside the chunk)."""
    from backends.cpu.steps import program
    from backends.cpu.steps.chunk import Chunk

    monkeypatch.setattr(program, "COMPILE_AFTER", 0)
    sched = S.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    make, ref = {
        "sgd": (train.sgd, ref_sgd()),
        "adamw": (
            lambda s: train.adamw(s, weight_decay=0.1, global_clipnorm=0.05),
            ref_adamw(wd=0.1),
        ),
        "ftrl": (lambda s: train.ftrl(s, l2_regularization_strength=0.01), ref_ftrl(l2=0.01)),
    }[name]
    model = _dense_model(make(sched))
    x, y = _dense_data()
    clip = _clip_global(0.05) if name == "adamw" else None
    want = _dense_reference(model, x, y, ref, sched, epochs=4, clip=clip)
    for _ in range(4):  # as tests/test_compiled.py: later fits run compiled chunks
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    traces = model._traces["train"].traces.values()
    chunks = [c for t in traces if t.program is not None for c in t.program.chunks.values()]
    assert chunks and all(isinstance(c, Chunk) for c in chunks), chunks
    assert all(len(c.groups) == 1 for c in chunks)  # the update merged into one arena launch
    assert model.optimizer.iterations == 16
    for got, w in zip(model.get_weights(), want, strict=True):
        np.testing.assert_allclose(np.asarray(got), w, rtol=1e-4, atol=1e-6)


def test_learning_rate_scheduler_sets_the_rate_each_epoch(backend, capsys):
    model = _dense_model(train.sgd(0.1))
    x, y = _dense_data()
    cb = layers.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1), verbose=1)
    want = _dense_reference(model, x, y, ref_sgd(), None, 3, epoch_lr=lambda e: 0.1 / (e + 1))
    h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[cb])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05" in capsys.readouterr().out
    for got, w in zip(model.get_weights(), want, strict=True):
        np.testing.assert_allclose(np.asarray(got), w, rtol=1e-4, atol=1e-6)


def test_learning_rate_scheduler_checks():
    one_arg = layers.callbacks.learning_rate_scheduler(lambda epoch: 0.01 * (epoch + 1))
    model = _dense_model(train.adam(0.5))
    x, y = _dense_data(8)
    h = model.fit(x, y, epochs=2, verbose=0, callbacks=[one_arg])
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.02])
    with pytest.raises(TypeError, match="schedule must be a function"):
        layers.callbacks.LearningRateScheduler(0.1)
    with pytest.raises(ValueError, match="verbose"):
        layers.callbacks.LearningRateScheduler(lambda e: 0.1, verbose=-1)
    bad = layers.callbacks.LearningRateScheduler(lambda e, lr: "fast")
    with pytest.raises(ValueError, match="must return a float, got str 'fast' at epoch 0"):
        _dense_model("sgd").fit(x, y, epochs=1, verbose=0, callbacks=[bad])
    scheduled = _dense_model(train.sgd(S.ExponentialDecay(0.1, 1, 0.5)))
    ok = layers.callbacks.LearningRateScheduler(lambda e, lr: lr)
    with pytest.raises(TypeError, match="schedule"):
        scheduled.fit(x, y, epochs=1, verbose=0, callbacks=[ok])


# --- strings, configs, saving ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "cls", "lr"),
    [("adamw", "AdamW", 0.001), ("nadam", "Nadam", 0.001), ("lion", "Lion", 0.001)]
    + [("ftrl", "Ftrl", 0.001), ("AdamW", "AdamW", 0.001)],
)
def test_compile_strings(name, cls, lr):
    model = _dense_model(name)
    assert type(model.optimizer).__name__ == cls
    assert model.optimizer.learning_rate == lr
    with pytest.raises(ValueError, match="did you mean 'adamw'"):
        train.get("adamww")


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip_with_schedule_and_clipping(name):
    make, _, lr = CASES[name]
    opt = make(S.InverseTimeDecay(lr, 2, 0.5))
    cfg = {**opt.get_config(), "clipnorm": 2.0}
    again = train.get({"class_name": opt.class_name, "config": cfg})
    assert type(again) is type(opt) and again.clipnorm == 2.0
    assert again.get_config() == cfg
    assert again.learning_rate == pytest.approx(lr)
    assert isinstance(again.schedule, S.InverseTimeDecay)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match=r"beta1 must be in \(0, 1\], got 0"):
        train.lion(0.1, beta1=0)
    with pytest.raises(ValueError, match="learning_rate_power must be <= 0, got 0.5"):
        train.ftrl(0.1, learning_rate_power=0.5)
    with pytest.raises(ValueError, match="l1_regularization_strength must be >= 0, got -1"):
        train.ftrl(0.1, l1_regularization_strength=-1)
    with pytest.raises(ValueError, match="weight_decay must be a float, got None"):
        train.adamw(0.1, weight_decay=None)
    with pytest.raises(ValueError, match="learning_rate must be a number or a learning-rate"):
        train.nadam("fast")


@pytest.mark.parametrize("name", ["nadam", "ftrl"])
def test_slots_save_and_load_with_the_model(tmp_path, name):
    """``include_optimizer`` saves the slots (and ``iter``, from which Nadam's momentum product
    is re-derived): the loaded model trains on exactly as the original."""
    model = _dense_model(name)
    x, y = _dense_data()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    loaded = layers.load_model(model.save(tmp_path / "m", include_optimizer=True))
    assert type(loaded.optimizer) is type(model.optimizer)
    names = [w["name"].split("/")[-1] for w in loaded.optimizer.get_weights()]
    assert names.count(model.optimizer.slot_names[0]) == 2
    assert loaded.optimizer.iterations == model.optimizer.iterations == 4
    for m in (model, loaded):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


# --- the fused kernels themselves ----------------------------------------------------------------
NEW_KERNELS = {  # hyper keywords of each optimizer's fused kernel (optimizers.py docstring)
    "adamw_update": (
        2,
        {"lr": 0.01, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-7, "t": 3},
    ),
    "nadam_update": (
        2,
        {"lr": 0.01, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-7, "t": 3, "u_product": 0.5},
    ),
    "lion_update": (1, {"lr": 0.01, "beta1": 0.9, "beta2": 0.99}),
    "ftrl_update": (
        2,
        {"lr": 0.1, "lr_power": -0.5, "l1": 0.01, "l2": 0.1, "l2_shrinkage": 0.1, "beta": 0.2},
    ),
}


def test_rendered_update_equals_update_many(backend):
    """opencl/cuda: one variable's kernel and the merged ``*_many`` kernel agree exactly
    (``apply_gradients`` uses the merged one)."""
    be = registry.backend()
    if backend not in ("opencl", "cuda"):
        pytest.skip(f"{backend} has no rendered update kernels")
    rng = np.random.default_rng(2)
    shapes = [(4, 3), (7,)]
    for name, (nslots, hyper) in NEW_KERNELS.items():
        host = [
            [np.abs(rng.normal(size=s)).astype(np.float32) for _ in range(2 + nslots)]
            for s in shapes
        ]
        dev = [[be.from_numpy(a) for a in arrays] for arrays in host]
        many = getattr(be, name + "_many")(
            shapes,
            "float32",
            [d[0] for d in dev],
            [d[1] for d in dev],
            [d[2:] for d in dev],
            **hyper,
        )
        for shape, d, outs in zip(shapes, dev, many, strict=True):
            one = getattr(be, name)(shape, "float32", d[0], d[1], tuple(d[2:]), **hyper)
            for a, b in zip(one, outs, strict=True):
                np.testing.assert_array_equal(
                    be.to_numpy(a, shape, "float32"), be.to_numpy(b, shape, "float32")
                )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cpu_in_place_kernel_equals_the_one_pass_kernel(dtype):
    """The arena form (``opt_update_ip``, what compiled chunks launch) of the new codes."""
    from backends.cpu import kernels as K
    from backends.cpu.primitives.optim import opt_hyper

    rng = np.random.default_rng(4)
    n = 517
    for name, (nslots, hyper) in NEW_KERNELS.items():
        values, flag = opt_hyper(name, hyper)
        assert len(values) == len(K.OPT_UPDATES[name])
        h = np.array(values, dtype)
        w, g = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        slots = [np.abs(rng.standard_normal(n)).astype(dtype) + 0.1 for _ in range(3)]
        outs = [np.full(n, np.nan, dtype) for _ in range(4)]
        K.opt_update(K.OPT_CODES[name], flag, w, g, *slots, *outs, h, 0, n)
        assert not np.isnan(outs[: 1 + nslots]).any(), name
        assert np.isnan(outs[1 + nslots :]).all(), name
        mine = [w.copy()] + [s.copy() for s in slots]
        K.opt_update_ip(K.OPT_CODES[name], flag, mine[0], g, *mine[1:], h, 0, n)
        for j in range(1 + nslots):
            np.testing.assert_array_equal(mine[j], outs[j], err_msg=f"{name} {j}")
        for j in range(1 + nslots, 4):
            np.testing.assert_array_equal(mine[j], slots[j - 1])


def test_cuda_update_kernels_stay_single_precision():
    """float32 kernels must not fall into double arithmetic (``pow`` in Ftrl, ``sqrt``)."""
    from test_crender import _need_compiler, compile_ptx

    from backends.crender.dialect import CUDA
    from backends.crender.fused import render_update

    _need_compiler()
    for name in NEW_KERNELS:
        ptx = compile_ptx(render_update(CUDA, name, "float32"), name)
        assert ".entry" in ptx and ".f64" not in ptx, name


OLD_SEVEN = {
    "sgd": lambda lr: train.sgd(lr),
    "momentum": lambda lr: train.momentum(lr, 0.9, use_nesterov=True),
    "adam": lambda lr: train.adam(lr),
    "adamax": lambda lr: train.adamax(lr, decay=0.1),
    "rmsprop": lambda lr: train.rmsprop(lr, momentum=0.5, centered=True),
    "adagrad": lambda lr: train.adagrad(lr),
    "adadelta": lambda lr: train.adadelta(lr),
}


@pytest.mark.parametrize("name", sorted(OLD_SEVEN))
def test_tfjs_optimizers_follow_a_schedule(backend, name):
    """A piecewise schedule trains exactly as setting the rate by hand at the boundary."""
    make = OLD_SEVEN[name]
    rng = np.random.default_rng(6)
    w0 = rng.normal(size=(4, 3)).astype(np.float32)
    gs = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(4)]
    runs = []
    for scheduled in (True, False):
        opt = make(S.PiecewiseConstantDecay([1], [0.05, 0.02]) if scheduled else 0.05)
        w = tw.variable(tw.tensor(w0))
        for step, g in enumerate(gs):
            if not scheduled and step == 2:
                opt.learning_rate = 0.02
            opt.apply_gradients([(tw.tensor(g), w)])
        runs.append(w.numpy())
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-6, atol=1e-7)
    assert not np.allclose(runs[0], w0)
