"""engine.train.rules: each optimizer written once, rendered or evaluated on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
from engine import registry
from engine.train import optimizers as O
from engine.train import rules

#: One optimizer per rule and flag, with non-default hyperparameters where that exercises more.
FACTORIES = {
    ("sgd_update", False): lambda: O.SGD(0.1),
    ("momentum_update", False): lambda: O.Momentum(0.1, 0.9),
    ("momentum_update", True): lambda: O.Momentum(0.1, 0.9, use_nesterov=True),
    ("adam_update", False): lambda: O.Adam(0.05, 0.8, 0.99),
    ("adamax_update", False): lambda: O.Adamax(0.02, decay=0.1),
    ("rmsprop_update", False): lambda: O.RMSProp(0.01, momentum=0.5),
    ("rmsprop_update", True): lambda: O.RMSProp(0.01, momentum=0.5, centered=True),
    ("adagrad_update", False): lambda: O.Adagrad(0.1, 0.2),
    ("adadelta_update", False): lambda: O.Adadelta(1.0),
    ("adamw_update", False): lambda: O.AdamW(0.01, weight_decay=0.1),
    ("nadam_update", False): lambda: O.Nadam(0.01),
    ("lion_update", False): lambda: O.Lion(0.01),
    ("ftrl_update", False): lambda: O.Ftrl(
        0.1,
        l1_regularization_strength=0.01,
        l2_regularization_strength=0.01,
        l2_shrinkage_regularization_strength=0.01,
        beta=0.1,
    ),
}
CASES = [(k, f) for k, r in rules.RULES.items() for f in sorted(r.variants)]
STEPS = 3


def test_every_rule_and_flag_is_tested_and_has_an_optimizer():
    """A rule added to the table without a test case or an optimizer class fails here."""
    assert sorted(FACTORIES) == sorted(CASES)
    kernels = {
        cls.kernel
        for cls in vars(O).values()
        if isinstance(cls, type) and issubclass(cls, O.Optimizer) and cls is not O.Optimizer
    }
    assert set(rules.RULES) <= kernels


def test_generated_cpu_kernels_are_up_to_date():
    """backends/cpu/opt_kernels.py is what ``python -m backends.cpu.optgen`` writes now."""
    from backends.cpu import optgen

    with open(optgen.PATH, encoding="utf-8") as f:
        on_disk = f.read()
    assert on_disk == optgen.render(), "run: python -m backends.cpu.optgen"


def test_every_rule_has_a_kernel_on_every_fused_backend(backend):
    """cpu: an op code, a numba loop per flag and a numpy twin; opencl/cuda: the method and its
    ``_many`` form, with C rendered for every flag. (numpy runs the composite: no kernels.)"""
    be = registry.backend()
    if backend == "numpy":
        assert not any(be.has(k) for k in rules.RULES)
        return
    for name, r in rules.RULES.items():
        assert be.has(name), (backend, name)
        if backend == "cpu":
            from backends.cpu import kernels as K
            from backends.cpu import opt_kernels, optgen, tiers

            assert K.OPT_UPDATES[name] == r.packed
            for flag in r.variants:
                assert hasattr(opt_kernels, optgen._fn_name(name, flag, False))
                assert hasattr(opt_kernels, optgen._fn_name(name, flag, True))
            assert "opt_update" in tiers.FALLBACKS
        else:
            from backends.crender.fused import render_update, render_update_many

            assert be.has(name + "_many"), (backend, name)
            for flag in r.variants:
                assert f"void {name}(" in render_update(be.dialect, name, "float32", flag)
                src = render_update_many(be.dialect, name, "float64", 2, flag)
                assert f"void {name}_many(" in src


def _reference(name: str, flag: bool, hypers, w0, gs, slots0):
    """``STEPS`` steps of the rule evaluated in float64 numpy (scalars in Python floats)."""
    w, slots, u_product = w0.astype(np.float64), [s.astype(np.float64) for s in slots0], 1.0
    for k, g in enumerate(gs):
        hyper = {key: float(v) if not isinstance(v, bool) else v for key, v in hypers[k].items()}
        if "u_product" in hyper:
            hyper["u_product"] = u_product
        env = rules.scalar_env(name, hyper, rules.NUMPY)
        if "up_t" in env:
            u_product = env["up_t"]
        w, *slots = rules.apply(name, flag, w, g.astype(np.float64), slots, env, rules.NUMPY)
    return w, slots


@pytest.mark.parametrize(("name", "flag"), CASES, ids=[f"{n}-{int(f)}" for n, f in CASES])
def test_update_equals_a_float64_evaluation_of_its_rule(backend, name, flag):
    """Every optimizer on every backend (the composite on numpy, the numba kernel on cpu, the
    rendered ``_many`` kernel on opencl/cuda) against the float64 numpy evaluation of the same
    rule, for a few steps."""
    rng = np.random.default_rng(5)
    w0 = rng.normal(size=(4, 5)).astype(np.float32)
    gs = [(rng.normal(size=(4, 5)) * s).astype(np.float32) for s in (1.0, 0.5, 0.2)][:STEPS]
    opt = FACTORIES[(name, flag)]()
    host_hypers = []  # each step's hyper keywords, as the step ran
    var = tw.variable(tw.tensor(w0), name=f"rules_{name}_{int(flag)}")
    slots0 = [s.numpy().copy() for s in opt._get_slots(var)]
    for g in gs:
        host_hypers.append(opt._hyper())
        opt.apply_gradients([(tw.tensor(g), var)])
    want_w, want_slots = _reference(name, flag, host_hypers, w0, gs, slots0)
    np.testing.assert_allclose(var.numpy(), want_w, rtol=2e-5, atol=1e-6, err_msg=name)
    for s, want in zip(opt._get_slots(var), want_slots, strict=True):
        np.testing.assert_allclose(s.numpy(), want, rtol=2e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("t", [1, 10, 1000])
def test_cpu_and_rendered_backends_pack_identical_scalars(t):
    """The cpu and opencl/cuda backends get their scalars from the one packer: identical
    values, and the bias corrections are ``1 - beta^t`` to float32 precision."""
    from backends.cpu.primitives.optim import opt_hyper
    from backends.crender.fused import FusedOps

    class Host:  # the rendered backends' scalar conversion, without a device
        _update_scalars = FusedOps._update_scalars

        @staticmethod
        def _scalar(v, dtype):
            return np.array(v, dtype)

    hypers = {
        "adam_update": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "t": t},
        "adamax_update": {
            "lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "decay": 0.1, "t": t,
        },
        "adamw_update": {
            "lr": 1e-3, "weight_decay": 4e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7,
            "t": t,
        },
        "nadam_update": {
            "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "t": t,
            "u_product": O.Nadam(1e-3)._u_product(t - 1),
        },
    }  # fmt: skip
    for name, hyper in hypers.items():
        cpu = np.array(opt_hyper(name, hyper)[0], np.float32)
        rendered, _ = Host()._update_scalars(name, "float32", hyper)
        np.testing.assert_array_equal(cpu, np.array(rendered, np.float32), err_msg=name)
    env = rules.scalar_env("adam_update", hypers["adam_update"])
    for beta, key in ((0.9, "rbc1"), (0.999, "rbc2")):
        np.testing.assert_allclose(1 / env[key], 1 - beta**t, rtol=2e-7)


@pytest.mark.parametrize("t", [1, 10, 1000])
def test_the_composite_computes_the_packers_scalars_on_the_device(t):
    """The engine-op composite evaluates the same scalar program on the device state: on the
    numpy backend its values are the host packer's, bit for bit."""
    with tw.backend_scope("numpy"):
        for opt in (O.Adam(1e-3), O.AdamW(1e-3), O.Adamax(2e-3, decay=0.1), O.Nadam(1e-3)):
            opt.iterations = t - 1
            env, _ = opt._device_hyper(opt._ensure_state())
            host = rules.scalars(opt.kernel, opt._hyper())
            device = [_value(env[k]) for k in rules.rule(opt.kernel).packed]
            np.testing.assert_array_equal(
                np.array(device, np.float32), np.array(host, np.float32), err_msg=opt.kernel
            )


def _value(v) -> float:
    return float(v.numpy()) if hasattr(v, "numpy") else float(v)


def test_bad_hyper_and_bad_rules_are_named():
    with pytest.raises(ValueError, match=r"missing \['t'\]"):
        rules.scalars("adam_update", {"lr": 0.1, "beta1": 0.9, "beta2": 0.9, "epsilon": 1e-7})
    with pytest.raises(ValueError, match="unknown optimizer update 'adom_update'"):
        rules.scalars("adom_update", {})
    with pytest.raises(ValueError, match="must be numbers"):
        rules.scalars("sgd_update", {"lr": "fast"})
    with pytest.raises(ValueError, match="unknown function 'tanh'"):
        rules.parse_expr("tanh(g)")
    with pytest.raises(ValueError, match="compute it in prep"):
        rules._rule("x_update", "lr", "w = w - g * 0.5 * lr")
    with pytest.raises(ValueError, match="reads undefined 'beta'"):
        rules._rule("x_update", "lr", "w = w - g * beta")


@pytest.mark.parametrize("t", [1, 10, 1000])
def test_the_specialised_host_packer_equals_the_rule_evaluation(t):
    """``scalars`` runs a packer specialised to the constant inputs: the same values as
    evaluating the rule's scalar program (``scalar_env``), for every rule."""
    for name, r in rules.RULES.items():
        opt = FACTORIES[(name, max(r.variants))]()
        opt.iterations = t - 1
        hyper = opt._hyper()
        env = rules.scalar_env(name, hyper)
        assert rules.scalars(name, hyper) == tuple(float(env[k]) for k in r.packed), name
