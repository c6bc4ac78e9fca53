"""Fused composites on every backend: ``fused_matmul`` (matmul + bias + activation) and
``categorical_crossentropy`` (values against the numpy formula, gradients against finite
differences and the exact formula, clipped regions included); on cpu, that the fused kernels
actually run, and the one-pass optimizer updates against the composite ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import engine as tw
from engine import dispatch, registry

EPS = 1e-7
ACTIVATIONS = ["linear", "relu", "relu6", "elu", "sigmoid", "tanh", "leakyrelu"]


def _f64() -> bool:
    return bool(registry.backend().capabilities.get("float64"))


def _dtype() -> str:
    """float64 where the backend has it (tight finite differences), else float32."""
    return "float64" if _f64() else "float32"


def _fd_grads(
    f: Callable[..., tw.Tensor],
    xs: Sequence[np.ndarray],
    dtype: str,
    steps: Sequence[np.ndarray | float] | None = None,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(analytic, central-difference) gradients of sum(f(*xs) * w), w random."""
    probe = f(*[tw.tensor(x, dtype=dtype) for x in xs])
    w = np.random.default_rng(seed).uniform(0.5, 1.5, size=probe.shape)
    wt = tw.tensor(w, dtype=dtype)
    analytic = tw.grads(lambda *a: tw.sum(tw.mul(f(*a), wt)))(
        *[tw.tensor(x, dtype=dtype) for x in xs]
    )

    def objective(vals: list[np.ndarray]) -> float:
        out = f(*[tw.tensor(v, dtype=dtype) for v in vals]).numpy().astype(np.float64)
        return float(np.sum(out * w))

    base = [np.asarray(x, np.float64) for x in xs]
    numeric = []
    for i, x in enumerate(base):
        h = np.broadcast_to(np.asarray(1e-6 if steps is None else steps[i], np.float64), x.shape)
        if dtype == "float32" and steps is None:
            h = np.full(x.shape, 1e-2)
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus = [v.copy() for v in base]
            minus = [v.copy() for v in base]
            plus[i][idx] += h[idx]
            minus[i][idx] -= h[idx]
            g[idx] = (objective(plus) - objective(minus)) / (2 * h[idx])
        numeric.append(g)
    return [a.numpy().astype(np.float64) for a in analytic], numeric


def _tols(dtype: str) -> dict:
    return {"rtol": 1e-5, "atol": 1e-7} if dtype == "float64" else {"rtol": 3e-2, "atol": 3e-3}


# --- fused_matmul ---------------------------------------------------------------------------
def _act_np(z: np.ndarray, act: str, alpha: float = 0.2) -> np.ndarray:
    if act == "relu":
        return np.maximum(z, 0)
    if act == "relu6":
        return np.minimum(np.maximum(z, 0), 6)
    if act == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if act == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if act == "tanh":
        return np.tanh(z)
    if act == "leakyrelu":
        return np.where(z > 0, z, alpha * z)
    return z


def _operands(m: int, k: int, n: int, ta: bool, tb: bool, scale: float, seed: int):
    """a, b (stored transposed when asked), bias, and the plain a @ b."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (m, k)) * scale
    b = rng.uniform(-1, 1, (k, n))
    bias = rng.uniform(-1, 1, n)
    return (a.T.copy() if ta else a), (b.T.copy() if tb else b), bias, a @ b


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_fused_matmul_values(backend, act, with_bias, ta, tb):
    a, b, bias, prod = _operands(5, 4, 3, ta, tb, 4.0, 1)
    for dtype in ("float32", "float64") if _f64() else ("float32",):
        args = [tw.tensor(a, dtype=dtype), tw.tensor(b, dtype=dtype)]
        bt = tw.tensor(bias, dtype=dtype) if with_bias else None
        out = tw.fused_matmul(*args, bt, act, ta, tb)
        ref = _act_np(prod + (bias if with_bias else 0), act)
        assert out.shape == (5, 3) and out.dtype == dtype
        tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-5, "atol": 2e-6}
        np.testing.assert_allclose(out.numpy(), ref, **tol)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_fused_matmul_gradients(backend, act, with_bias, ta, tb):
    dtype = _dtype()
    # relu6: large enough inputs that some outputs pass 6; float32 finite differences need
    # every pre-activation away from a kink by more than the step.
    scale = 4.0 if act == "relu6" else 1.5
    a, b, bias, _ = _operands(4, 3, 5, ta, tb, scale, 2)
    xs = [a, b, bias] if with_bias else [a, b]

    def f(x, y, z=None):
        return tw.fused_matmul(x, y, z, act, ta, tb)

    if dtype == "float32":
        z = (a.T if ta else a) @ (b.T if tb else b) + (bias if with_bias else 0)
        if np.min(np.abs(z)) < 0.05 or np.min(np.abs(z - 6)) < 0.05:
            pytest.skip("a pre-activation sits within the float32 step of a kink")
    analytic, numeric = _fd_grads(f, xs, dtype)
    for i, (g, n) in enumerate(zip(analytic, numeric, strict=True)):
        assert g.shape == xs[i].shape
        np.testing.assert_allclose(g, n, **_tols(dtype), err_msg=f"input {i} ({act})")


def test_fused_matmul_bias_shapes_and_leaky_alpha(backend):
    a, b, _, prod = _operands(3, 4, 2, False, False, 1.0, 3)
    for bias in (np.array([0.5, -0.25]), np.array([[0.5, -0.25]]), np.array(0.75)):
        out = tw.fused_matmul(
            tw.tensor(a, dtype="float32"),
            tw.tensor(b, dtype="float32"),
            tw.tensor(bias, dtype="float32"),
            "leakyRelu",
            leakyrelu_alpha=0.1,
        )
        np.testing.assert_allclose(
            out.numpy(), _act_np(prod + bias, "leakyrelu", 0.1), rtol=2e-5, atol=2e-6
        )
    # A bias of the full output shape (composite everywhere) and a negative alpha.
    full = np.arange(6.0).reshape(3, 2) / 7
    out = tw.fused_matmul(
        tw.tensor(a, dtype="float32"),
        tw.tensor(b, dtype="float32"),
        tw.tensor(full, dtype="float32"),
        "leakyrelu",
        leakyrelu_alpha=-0.5,
    )
    np.testing.assert_allclose(
        out.numpy(), _act_np(prod + full, "leakyrelu", -0.5), rtol=2e-5, atol=2e-6
    )
    # Batched operands fall back to the composite and keep matmul's semantics.
    x = np.random.default_rng(4).uniform(-1, 1, (2, 3, 4))
    out = tw.fused_matmul(
        tw.tensor(x, dtype="float32"), tw.tensor(b, dtype="float32"), None, "relu"
    )
    np.testing.assert_allclose(out.numpy(), np.maximum(x @ b, 0), rtol=2e-5, atol=2e-6)
    with pytest.raises(ValueError, match="activation"):
        tw.fused_matmul(tw.tensor(a), tw.tensor(b), None, "softmax")
    with pytest.raises(ValueError, match="inner dimensions"):
        tw.fused_matmul(tw.tensor(a), tw.tensor(a), None, "relu")


# --- categorical_crossentropy ---------------------------------------------------------------
def _cce_np(t: np.ndarray, p: np.ndarray, logits: bool) -> np.ndarray:
    if logits:
        e = np.exp(p - p.max(-1, keepdims=True))
        q = e / e.sum(-1, keepdims=True)
    else:
        q = p / p.sum(-1, keepdims=True)
    return -np.sum(t * np.log(np.clip(q, EPS, 1 - EPS)), -1)


def _cce_grad_np(t: np.ndarray, p: np.ndarray, logits: bool) -> np.ndarray:
    """The exact gradient of the clipped formula (d loss / d p, per unit dy)."""
    if logits:
        e = np.exp(p - p.max(-1, keepdims=True))
        q = e / e.sum(-1, keepdims=True)
    else:
        s = p.sum(-1, keepdims=True)
        q = p / s
    inside = (q >= EPS) & (q <= 1 - EPS)
    g = np.where(inside, -t / np.clip(q, EPS, 1 - EPS), 0.0)
    centred = g - np.sum(g * q, -1, keepdims=True)
    return q * centred if logits else centred / s


def _cce_inputs(logits: bool, clipped: bool, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, (4, 6))
    t /= t.sum(-1, keepdims=True)
    if logits:
        p = rng.uniform(-2, 2, (4, 6))
        if clipped:  # softmax saturates: q ~ 1 - 1e-17 and q ~ 1e-18 in rows 0-1
            p[0] = [40, 0, 1, -40, 0.5, 2]
            p[1] = [-30, 10, 12, -25, 11, 9.5]
    else:
        p = rng.uniform(0.05, 2, (4, 6))
        if clipped:  # q below eps, q above 1 - eps, and a q between them in the same row
            p[0] = [1.0, 1e-10, 3e-11, 2e-10, 5e-11, 1e-10]
            p[1, 2] = 1e-12
            p[2] = [0.3, 1e-11, 0.7, 4e-11, 2e-12, 0.2]
    return t, p


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("clipped", [False, True])
def test_cce_values(backend, logits, clipped):
    t, p = _cce_inputs(logits, clipped)
    for dtype in ("float32", "float64") if _f64() else ("float32",):
        out = tw.categorical_crossentropy(
            tw.tensor(t, dtype=dtype), tw.tensor(p, dtype=dtype), logits
        )
        assert out.shape == (4,) and out.dtype == dtype
        tp = (t, p) if dtype == "float64" else (t.astype(np.float32), p.astype(np.float32))
        ref = _cce_np(*(x.astype(np.float64) for x in tp), logits)
        tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-5}
        np.testing.assert_allclose(out.numpy(), ref, **tol)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("clipped", [False, True])
def test_cce_gradients(backend, logits, clipped):
    dtype = _dtype()
    t, p = _cce_inputs(logits, clipped)

    def f(tt, pp):
        return tw.categorical_crossentropy(tt, pp, logits)

    if dtype == "float32":
        if clipped:
            pytest.skip("float32 finite differences cannot resolve steps below the clip bound")
        steps = None
    elif logits:
        steps = [1e-6, 1e-6]
    else:  # steps well inside each piece: a tenth of the way to the nearest clip bound
        s = p.sum(-1, keepdims=True)
        q = p / s
        to_bound = np.minimum(np.abs(q - EPS), np.abs(q - (1 - EPS))) * s
        steps = [1e-6, np.minimum(1e-6, 0.1 * to_bound)]
    analytic, numeric = _fd_grads(f, [t, p], dtype, steps)
    np.testing.assert_allclose(analytic[1], numeric[1], **_tols(dtype), err_msg="d/d output")
    np.testing.assert_allclose(analytic[0], numeric[0], **_tols(dtype), err_msg="d/d target")


@pytest.mark.parametrize("logits", [False, True])
def test_cce_gradient_exact_formula(backend, logits):
    """The clipped regions against the closed form, in every dtype the backend has."""
    t, p = _cce_inputs(logits, True, seed=6)
    dy = np.array([0.5, 2.0, -1.0, 1.5])
    for dtype in ("float32", "float64") if _f64() else ("float32",):
        tt = tw.tensor(t, dtype=dtype)
        g = tw.grad(lambda x, tt=tt: tw.categorical_crossentropy(tt, x, logits))(
            tw.tensor(p, dtype=dtype), dy=tw.tensor(dy, dtype=dtype)
        )
        tp = [x.astype(dtype).astype(np.float64) for x in (t, p)]
        ref = _cce_grad_np(*tp, logits) * dy[:, None]
        tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-4, "atol": 1e-6}
        np.testing.assert_allclose(g.numpy(), ref, **tol)


def test_cce_other_axis_and_broadcast_target(backend):
    t, p = _cce_inputs(False, False, seed=7)
    out = tw.categorical_crossentropy(tw.tensor(t.T.copy()), tw.tensor(p.T.copy()), axis=0)
    np.testing.assert_allclose(out.numpy(), _cce_np(t, p, False), rtol=1e-5, atol=1e-5)
    row = t[:1]
    out = tw.categorical_crossentropy(tw.tensor(row), tw.tensor(p))
    np.testing.assert_allclose(
        out.numpy(), _cce_np(np.broadcast_to(row, p.shape), p, False), rtol=1e-5, atol=1e-5
    )


def test_cce_second_order(backend):
    """Gradients of the gradient go through engine ops (no second-order fused kernel)."""
    t, p = _cce_inputs(True, False, seed=8)
    tt = tw.tensor(t, dtype="float32")

    def first(x):
        return tw.sum(
            tw.square(tw.grad(lambda y: tw.sum(tw.categorical_crossentropy(tt, y, True)))(x))
        )

    got = tw.grad(first)(tw.tensor(p, dtype="float32")).numpy()
    with tw.backend_scope("numpy"):
        ref = tw.grad(first)(tw.tensor(p, dtype="float32")).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


# --- cpu: the fused kernels run ---------------------------------------------------------------
def _kernels(fn: Callable[[], object]) -> list[str]:
    seen: list[str] = []

    def obs(name, inputs, attrs, out):
        seen.append(name)

    dispatch.observers.append(obs)
    try:
        fn()
    finally:
        dispatch.observers.remove(obs)
    return seen


@pytest.fixture
def cpu():
    if tw.find_backend("cpu") is None:
        pytest.skip("the cpu backend is unavailable")
    with tw.backend_scope("cpu"):
        yield


def test_cpu_runs_fused_kernels(cpu):
    a, b, bias, _ = _operands(4, 3, 5, False, False, 1.0, 9)
    at, bt, zt = (tw.tensor(x, dtype="float32") for x in (a, b, bias))
    seen = _kernels(
        lambda: tw.grads(lambda x, y, z: tw.sum(tw.fused_matmul(x, y, z, "relu")))(at, bt, zt)
    )
    assert seen.count("fused_matmul") == 1 and "relu" not in seen and "matmul" in seen
    t, p = _cce_inputs(False, True)
    tt, pt = tw.tensor(t, dtype="float32"), tw.tensor(p, dtype="float32")
    seen = _kernels(lambda: tw.grad(lambda x: tw.sum(tw.categorical_crossentropy(tt, x)))(pt))
    assert "categorical_crossentropy" in seen and "categorical_crossentropy_grad" in seen
    assert "log" not in seen  # no composite forward, and the target needs no gradient
    # Without the gradient kernel the fused forward differentiates through engine ops.
    be = registry.backend()
    fused = type(be).fused
    want = tw.grad(lambda x: tw.sum(tw.categorical_crossentropy(tt, x)))(pt).numpy()
    try:
        type(be).fused = fused - {"categorical_crossentropy_grad"}
        seen = _kernels(lambda: tw.grad(lambda x: tw.sum(tw.categorical_crossentropy(tt, x)))(pt))
        got = tw.grad(lambda x: tw.sum(tw.categorical_crossentropy(tt, x)))(pt).numpy()
    finally:
        type(be).fused = fused
    assert "categorical_crossentropy" in seen and "categorical_crossentropy_grad" not in seen
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_cpu_dense_layer_matches_composite(cpu):
    from layers.core import Dense

    x = np.random.default_rng(10).uniform(-1, 1, (6, 5)).astype(np.float32)
    for act in ("relu", "elu", "sigmoid", "tanh", "relu6", "linear", "softmax"):
        d = Dense(4, activation=act, bias_initializer="glorotUniform")
        seen = _kernels(lambda: d(tw.tensor(x)))  # noqa: B023
        fused = d(tw.tensor(x)).numpy()
        assert "fused_matmul" in seen
        k, bias = d.kernel.numpy(), d.bias.numpy()
        comp = d.activation(tw.add(tw.matmul(tw.tensor(x), tw.tensor(k)), tw.tensor(bias)))
        np.testing.assert_allclose(fused, comp.numpy(), rtol=1e-6, atol=1e-7, err_msg=act)


# --- cpu: one-pass optimizer updates against the composite updates ---------------------------
OPTIMIZERS = {
    "sgd": lambda o: o.SGD(0.1),
    "momentum": lambda o: o.Momentum(0.05, 0.9),
    "nesterov": lambda o: o.Momentum(0.05, 0.9, True),
    "adam": lambda o: o.Adam(0.01),
    "adamax": lambda o: o.Adamax(0.01, decay=0.05),
    "rmsprop": lambda o: o.RMSProp(0.01, momentum=0.5),
    "rmsprop_centered": lambda o: o.RMSProp(0.01, decay=0.8, momentum=0.5, centered=True),
    "adagrad": lambda o: o.Adagrad(0.1),
    "adadelta": lambda o: o.Adadelta(1.0),
}


def _train(make, fused: bool, monkeypatch, shape=(70, 33), steps=20) -> list[np.ndarray]:
    """Variable and slots after ``steps`` updates with seeded gradients."""
    from backends.cpu.backend import CpuBackend
    from engine.train import optimizers

    full = CpuBackend.fused
    monkeypatch.setattr(
        CpuBackend, "fused", full if fused else frozenset(n for n in full if "_update" not in n)
    )
    rng = np.random.default_rng(11)
    w = tw.variable(tw.tensor(rng.standard_normal(shape).astype(np.float32)), name="fused_w")
    opt = make(optimizers)
    kernels = _kernels(
        lambda: [
            opt.apply_gradients(
                [(tw.tensor(rng.standard_normal(shape).astype(np.float32) * 0.3), w)]
            )
            for _ in range(steps)
        ]
    )
    assert (opt.kernel in kernels) == fused
    out = [w.numpy()] + [s.numpy() for s in opt._slots[w.name]]
    opt.dispose()
    w.dispose()
    monkeypatch.setattr(CpuBackend, "fused", full)
    return out


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_cpu_fused_optimizer_updates_match_composite(cpu, monkeypatch, name):
    fused = _train(OPTIMIZERS[name], True, monkeypatch)
    composite = _train(OPTIMIZERS[name], False, monkeypatch)
    assert len(fused) == len(composite)
    for i, (f, c) in enumerate(zip(fused, composite, strict=True)):
        np.testing.assert_allclose(f, c, rtol=1e-5, atol=1e-6, err_msg=f"{name}: output {i}")


def test_cpu_fused_optimizer_large_and_float64(cpu, monkeypatch):
    """Above the parallel threshold (the prange path) and in float64."""
    for shape in ((300, 301),):
        fused = _train(OPTIMIZERS["adam"], True, monkeypatch, shape, steps=3)
        composite = _train(OPTIMIZERS["adam"], False, monkeypatch, shape, steps=3)
        for f, c in zip(fused, composite, strict=True):
            np.testing.assert_allclose(f, c, rtol=1e-5, atol=1e-6)
    be = registry.backend()
    rng = np.random.default_rng(12)
    w, g, m, v = (rng.standard_normal(50) for _ in range(4))
    v = np.abs(v)
    nw, nm, nv = be.adam_update(
        (50,), "float64", w, g, (m, v), lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-7, t=3
    )
    em = m * 0.9 + g * (1 - 0.9)
    ev = v * 0.999 + g * g * (1 - 0.999)
    step = (em / (1 - 0.9**3)) / (np.sqrt(ev / (1 - 0.999**3)) + 1e-7)
    np.testing.assert_allclose(nm, em, rtol=1e-14)
    np.testing.assert_allclose(nv, ev, rtol=1e-14)
    np.testing.assert_allclose(nw, w - step * 0.01, rtol=1e-6)


# --- cpu: the in-place update kernel (compiled chunks' flat arenas) -----------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cpu_in_place_optimizer_kernel_equals_the_one_pass_kernel(dtype):
    from backends.cpu import kernels as K

    rng = np.random.default_rng(3)
    n = 1003
    hyper = {  # one value per scalar each optimizer reads (kernels.OPT_UPDATES)
        "sgd_update": [1e-2],
        "momentum_update": [1e-2, 0.9],
        "adam_update": [1e-3, 0.9, 0.1, 0.999, 0.001, 0.19, 0.002, 1e-7],
        "adamax_update": [2e-3, 0.9, 0.1, 0.999, 1e-7],
        "rmsprop_update": [1e-3, 0.9, 0.1, 0.5, 1e-7],
        "adagrad_update": [1e-2, 1e-7],
        "adadelta_update": [1.0, 0.95, 0.05, 1e-7],
    }
    for name, values in hyper.items():
        for flag in (False, True):
            w, g = (rng.standard_normal(n).astype(dtype) for _ in range(2))
            slots = [np.abs(rng.standard_normal(n)).astype(dtype) for _ in range(3)]
            h = np.array(values, dtype)
            op = K.OPT_CODES[name]
            outs = [np.full(n, np.nan, dtype) for _ in range(4)]
            K.opt_update(op, flag, w, g, *slots, *outs, h, 0, n)
            used = 1 + {"sgd_update": 0, "momentum_update": 1, "adagrad_update": 1}.get(
                name, 3 if name == "rmsprop_update" and flag else 2
            )
            for par in (False, True):
                mine = [w.copy()] + [s.copy() for s in slots]
                if par:
                    K.opt_update_ip_par(op, flag, *mine[:1], g, *mine[1:], h, 100)
                else:
                    K.opt_update_ip(op, flag, *mine[:1], g, *mine[1:], h, 0, n)
                for j in range(used):
                    np.testing.assert_array_equal(mine[j], outs[j], err_msg=f"{name} {flag} {j}")
                for j in range(used, 4):  # unused slots are left alone
                    np.testing.assert_array_equal(mine[j], slots[j - 1])
                assert np.isnan(outs[used:]).all()
