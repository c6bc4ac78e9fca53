"""Fused convolution and max pooling (``conv2d``, ``fused_conv2d``, ``conv2d_backprop_filter``,
``max_pool``, ``max_pool_grad``) on every backend: values against numpy formulas, gradients
against central finite differences, second-order gradients against the numpy backend's
composites; on cpu, that the fused kernels run and that backends without them agree."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import engine as tw
from engine import dispatch, registry
from engine.ops.nn import fused_conv2d


def _dtype() -> str:
    return "float64" if registry.backend().capabilities.get("float64") else "float32"


def _np_conv(x, f, padding="valid", dil=(1, 1)):
    """float64 NHWC convolution, stride 1."""
    kh, kw = f.shape[:2]
    ekh, ekw = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    if padding == "same":
        ph, pw = ekh - 1, ekw - 1
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = h - ekh + 1, w - ekw + 1
    out = np.zeros((n, oh, ow, f.shape[3]))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dil[0] : i * dil[0] + oh, j * dil[1] : j * dil[1] + ow, :]
            out += np.einsum("nhwc,co->nhwo", patch, f[i, j])
    return out


def _np_max_pool(x, k, s, padding):
    n, h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // s), -(-w // s)
        th, tw_ = max((oh - 1) * s + k - h, 0), max((ow - 1) * s + k - w, 0)
        x = np.pad(
            x,
            ((0, 0), (th // 2, th - th // 2), (tw_ // 2, tw_ - tw_ // 2), (0, 0)),
            constant_values=-np.inf,
        )
    else:
        oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.full((n, oh, ow, c), -np.inf)
    for i in range(k):
        for j in range(k):
            out = np.maximum(out, x[:, i : i + (oh - 1) * s + 1 : s, j : j + (ow - 1) * s + 1 : s])
    return out


def _fd_check(f: Callable[..., tw.Tensor], xs: Sequence[np.ndarray], seed: int = 0) -> None:
    """Analytic gradients of sum(f(*xs) * w) against central differences."""
    dt = _dtype()
    probe = f(*[tw.tensor(x, dtype=dt) for x in xs])
    w = np.random.default_rng(seed).uniform(0.5, 1.5, size=probe.shape)
    wt = tw.tensor(w, dtype=dt)
    analytic = tw.grads(lambda *a: tw.sum(tw.mul(f(*a), wt)))(*[tw.tensor(x, dtype=dt) for x in xs])
    h = 1e-6 if dt == "float64" else 1e-2
    tol = {"rtol": 1e-5, "atol": 1e-6} if dt == "float64" else {"rtol": 3e-2, "atol": 3e-2}
    base = [np.asarray(x, np.float64) for x in xs]
    for i, (x, a) in enumerate(zip(base, analytic, strict=True)):
        num = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            vals = []
            for sign in (1, -1):
                args = [v.copy() for v in base]
                args[i][idx] += sign * h
                out = f(*[tw.tensor(v, dtype=dt) for v in args]).numpy().astype(np.float64)
                vals.append(float(np.sum(out * w)))
            num[idx] = (vals[0] - vals[1]) / (2 * h)
        np.testing.assert_allclose(a.numpy().astype(np.float64), num, **tol)


CONV_CASES = [
    # x shape, filter shape, padding, dilation
    ((2, 6, 6, 1), (3, 3, 1, 4), "valid", (1, 1)),
    ((2, 5, 7, 3), (3, 2, 3, 5), "same", (1, 1)),
    ((1, 9, 8, 2), (3, 3, 2, 3), "same", (2, 1)),
    ((3, 4, 4, 2), (1, 1, 2, 9), "valid", (1, 1)),
]


@pytest.mark.parametrize("xs,fs,padding,dil", CONV_CASES)
@pytest.mark.parametrize("act", ["linear", "relu"])
def test_fused_conv2d_values(backend, rng, xs, fs, padding, dil, act):
    x = rng.standard_normal(xs).astype(np.float32)
    f = rng.standard_normal(fs).astype(np.float32)
    b = rng.standard_normal(fs[3]).astype(np.float32)
    ref = _np_conv(x.astype(np.float64), f.astype(np.float64), padding, dil) + b
    if act == "relu":
        ref = np.maximum(ref, 0)
    got = fused_conv2d(tw.tensor(x), tw.tensor(f), 1, padding, dil, tw.tensor(b), act)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)
    plain = tw.conv2d(tw.tensor(x), tw.tensor(f), 1, padding, dil)
    np.testing.assert_allclose(
        plain.numpy(), _np_conv(x.astype(np.float64), f.astype(np.float64), padding, dil),
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip
    # no bias, rank-3 input
    got3 = fused_conv2d(tw.tensor(x[0]), tw.tensor(f), 1, padding, dil, None, act)
    ref3 = _np_conv(x[:1].astype(np.float64), f.astype(np.float64), padding, dil)[0]
    np.testing.assert_allclose(got3.numpy(), np.maximum(ref3, 0) if act == "relu" else ref3,
                               rtol=1e-5, atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("xs,fs,padding,dil", CONV_CASES[:3])
def test_conv2d_gradients_fd(backend, rng, xs, fs, padding, dil):
    x = rng.standard_normal(xs)
    f = rng.standard_normal(fs)
    _fd_check(lambda a, k: tw.conv2d(a, k, 1, padding, dil), [x, f])


@pytest.mark.parametrize("xs,fs,padding", [((2, 5, 5, 1), (3, 3, 1, 3), "valid"),
                                           ((1, 4, 5, 2), (3, 3, 2, 2), "same")])  # fmt: skip
def test_fused_conv2d_relu_gradients_fd(backend, rng, xs, fs, padding):
    x = rng.standard_normal(xs)
    f = rng.standard_normal(fs)
    b = rng.standard_normal(fs[3])
    # keep pre-activations away from the relu kink so differences are smooth
    pre = _np_conv(x, f, padding) + b
    b = b + np.where(np.abs(pre).min(axis=(0, 1, 2)) < 0.05, 0.1, 0.0)
    _fd_check(lambda a, k, c: fused_conv2d(a, k, 1, padding, 1, c, "relu"), [x, f, b])


@pytest.mark.parametrize("k,s,padding", [(2, 2, "valid"), (3, 2, "same"), (2, 1, "same"),
                                         (3, 1, "valid")])  # fmt: skip
def test_max_pool_values_and_gradients(backend, rng, k, s, padding):
    x = rng.permutation(2 * 6 * 7 * 3).reshape(2, 6, 7, 3) / 10.0  # distinct: no ties
    got = tw.max_pool(tw.tensor(x.astype(np.float32)), k, s, padding).numpy()
    np.testing.assert_allclose(got, _np_max_pool(x, k, s, padding), rtol=1e-6)
    _fd_check(lambda t: tw.max_pool(t, k, s, padding), [x])


def _np_max_pool_grad(x, dy, k, s, padding):
    """float64 reference of the first-max rule: each window's dy to its first cell (row-major
    window order) equal to the window's max; none in a NaN window; padding never wins."""
    n, h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // s), -(-w // s)
        pt = max((oh - 1) * s + k - h, 0) // 2
        pl = max((ow - 1) * s + k - w, 0) // 2
    else:
        oh, ow, pt, pl = (h - k) // s + 1, (w - k) // s + 1, 0, 0
    dx = np.zeros(x.shape)
    for b, i, j, ch in np.ndindex(n, oh, ow, c):
        cells = [(r, q) for r in range(i * s - pt, i * s - pt + k)
                 for q in range(j * s - pl, j * s - pl + k)
                 if 0 <= r < h and 0 <= q < w]  # fmt: skip
        vals = [x[b, r, q, ch] for r, q in cells]
        if np.isnan(vals).any():
            continue
        r, q = cells[int(np.argmax(vals))]  # argmax: the first maximum
        dx[b, r, q, ch] += dy[b, i, j, ch]
    return dx


@pytest.mark.parametrize("k,s,padding", [(2, 2, "valid"), (3, 2, "same"), (2, 1, "same"),
                                         (3, 1, "valid"), (3, 3, "valid")])  # fmt: skip
def test_max_pool_grad_ties_first_max(backend, rng, k, s, padding):
    # few distinct values: most windows hold a tied maximum
    x = rng.integers(0, 3, (2, 7, 8, 3)).astype(np.float32)
    x[0, 0, :, 0] = 7.0  # a whole tied top row
    dy_shape = tw.max_pool(tw.tensor(x), k, s, padding).shape
    dy = rng.uniform(0.5, 1.5, dy_shape).astype(np.float32)
    g = tw.grad(lambda t: tw.sum(tw.mul(tw.max_pool(t, k, s, padding), tw.tensor(dy))))(
        tw.tensor(x)
    )
    np.testing.assert_allclose(g.numpy(), _np_max_pool_grad(x, dy, k, s, padding), rtol=1e-6)


def test_max_pool_ties_and_nan(backend):
    x = np.ones((1, 4, 4, 2), np.float32)
    x[0, 0, 0, 1] = 0.0  # window (0, 0) of channel 1: tied max at (0, 1), (1, 0), (1, 1)
    x[0, 3, 3, 1] = np.nan
    y, g = tw.value_and_grad(lambda t: tw.sum(tw.max_pool(t, 2, 2, "valid")))(tw.tensor(x))
    y_ref = np.ones((1, 2, 2, 2))
    y_ref[0, 1, 1, 1] = np.nan
    out = tw.max_pool(tw.tensor(x), 2, 2, "valid").numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(y_ref))
    g = g.numpy()
    # one cell per window gets its gradient: the first maximum in row-major window order
    first = np.zeros((4, 4))
    first[::2, ::2] = 1
    np.testing.assert_array_equal(g[0, :, :, 0], first)
    ch1 = first.copy()
    ch1[0, 0], ch1[0, 1] = 0, 1
    ch1[2, 2] = 0  # the window holding a NaN (its max) passes no gradient
    np.testing.assert_array_equal(g[0, :, :, 1], ch1)


def test_max_pool_padded_window_of_minus_inf(backend):
    # 'same' padding: padding cells never win, even against a window of -inf cells
    x = np.full((1, 3, 3, 1), -np.inf, np.float32)
    g = tw.grad(lambda t: tw.sum(tw.max_pool(t, 2, 2, "same")))(tw.tensor(x)).numpy()
    ref = np.zeros((3, 3))
    ref[0, 0] = ref[0, 2] = ref[2, 0] = ref[2, 2] = 1
    np.testing.assert_array_equal(g[0, :, :, 0], ref)


def test_max_pool_grad_gradient_ties(backend, rng):
    """The gradient of max_pool_grad (linear in dy) uses the same first-max cells."""
    x = rng.integers(0, 2, (1, 5, 5, 2)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
    xt, wt = tw.tensor(x), tw.tensor(w)

    def inner(u):
        gx = tw.grad(lambda t: tw.sum(tw.mul(tw.max_pool(t, 3, 2, "same"), u)))(xt)
        return tw.sum(tw.mul(gx, wt))

    u = tw.ones(tw.max_pool(xt, 3, 2, "same").shape)
    got = tw.grad(inner)(u).numpy()
    # d/du_win = w at the window's first max
    ref = np.zeros(got.shape)
    for i, j, ch in np.ndindex(*got.shape[1:]):
        e = np.zeros(got.shape)
        e[0, i, j, ch] = 1
        ref[0, i, j, ch] = np.sum(_np_max_pool_grad(x, e, 3, 2, "same") * w)
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def _second_order(x, f, dy):
    """d/d(x, f) of <grad_f sum(relu(conv) * dy), f> and of the max_pool gradient."""

    def inner(a, k):
        g = tw.grads(lambda u, v: tw.sum(tw.mul(fused_conv2d(u, v, 1, "same", 1, None, "relu"),
                                                tw.tensor(dy))))(a, k)  # fmt: skip
        pooled = tw.grad(lambda u: tw.sum(tw.square(tw.max_pool(u, 2, 2, "same"))))(a)
        return tw.add(tw.sum(tw.square(g[1])), tw.add(tw.sum(tw.square(g[0])),
                                                      tw.sum(tw.square(pooled))))  # fmt: skip

    return [t.numpy() for t in tw.grads(inner)(tw.tensor(x), tw.tensor(f))]


def test_second_order_matches_numpy(backend, rng):
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    f = rng.standard_normal((3, 3, 2, 3)).astype(np.float32)
    dy = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    got = _second_order(x, f, dy)
    with tw.backend_scope("numpy"):
        ref = _second_order(x, f, dy)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


# --- cpu: the fused kernels run -----------------------------------------------------------------
def _kernels(fn: Callable[[], object]) -> list[str]:
    seen: list[str] = []
    obs = lambda name, inputs, attrs, out: seen.append(name)  # noqa: E731
    dispatch.observers.append(obs)
    try:
        fn()
    finally:
        dispatch.observers.remove(obs)
    return seen


def test_cpu_runs_fused_conv_kernels(rng):
    if tw.find_backend("cpu") is None:
        pytest.skip("the cpu backend is unavailable")
    x = tw.tensor(rng.standard_normal((2, 6, 6, 1)).astype(np.float32))
    f = tw.tensor(rng.standard_normal((3, 3, 1, 4)).astype(np.float32))
    b = tw.tensor(rng.standard_normal(4).astype(np.float32))

    def step(a, k, c):
        return tw.sum(tw.max_pool(fused_conv2d(a, k, 1, "valid", 1, c, "relu"), 2))

    with tw.backend_scope("cpu"):
        seen = _kernels(lambda: tw.grads(step)(x, f, b))
        got = [g.numpy() for g in tw.grads(step)(x, f, b)]
        # strides other than 1 keep the composite, and so do many channels (im2col + BLAS is
        # faster there)
        strided = _kernels(lambda: tw.conv2d(x, f, 2, "same"))
        wide_f = tw.tensor(rng.standard_normal((3, 3, 16, 32)).astype(np.float32))
        wide = _kernels(lambda: tw.conv2d(tw.zeros([1, 5, 5, 16]), wide_f, 1, "same"))
    for name in ("fused_conv2d", "conv2d_backprop_filter", "max_pool", "max_pool_grad"):
        assert name in seen, (name, seen)
    assert "relu" not in seen
    assert "conv2d" not in strided and "gather" in strided
    assert "conv2d" not in wide and "matmul" in wide
    with tw.backend_scope("numpy"):
        ref = [g.numpy() for g in tw.grads(step)(x, f, b)]
    for a, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5)


# --- layers.Conv2D calls fused_conv2d ------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "linear", "sigmoid"])
def test_conv2d_layer_uses_fused_conv2d(backend, rng, activation):
    import layers

    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    layer = layers.conv2d(filters=3, kernel_size=3, padding="same", activation=activation)
    seen = _kernels(lambda: layer.apply(tw.tensor(x)))
    k, b = (np.asarray(w, np.float64) for w in layer.get_weights())
    ref = _np_conv(x.astype(np.float64), k, "same") + b
    ref = {"relu": np.maximum(ref, 0), "linear": ref, "sigmoid": 1 / (1 + np.exp(-ref))}[activation]
    np.testing.assert_allclose(layer.apply(tw.tensor(x)).numpy(), ref, rtol=1e-5, atol=1e-5)
    if registry.backend().has("fused_conv2d"):
        assert "fused_conv2d" in seen and "add" not in seen and "relu" not in seen, seen


def test_cpu_cnn_train_step_is_one_program():
    """The small CNN's traced train step compiles to a cpu program with no live ops."""
    if tw.find_backend("cpu") is None:
        pytest.skip("the cpu backend is unavailable")
    import layers

    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
    with tw.backend_scope("cpu"):
        model = layers.sequential([
            layers.conv2d(filters=4, kernel_size=3, activation="relu", input_shape=[8, 8, 1]),
            layers.max_pooling2d(pool_size=2),
            layers.flatten(),
            layers.dense(units=3, activation="softmax"),
        ])  # fmt: skip
        model.compile(optimizer="adam", loss="categoricalCrossentropy")
        model.fit(tw.tensor(x), tw.tensor(y), batch_size=16, epochs=2, verbose=0, shuffle=False)
        (tr,) = model._traces["train"].traces.values()
    assert tr.program is not None, tr.program_reason
    assert tr.program.num_live == 0
