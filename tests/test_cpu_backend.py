"""cpu-backend specifics: serial/parallel identity, strided broadcasting, dtype keeping, fused
softmax. The general op conformance runs through tests/test_ops*.py (the ``backend`` fixture).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import engine as tw  # noqa: E402
from backends.cpu import CpuBackend  # noqa: E402
from backends.cpu.launch import broadcast_strides as strided  # noqa: E402
from backends.cpu.schedule import band  # noqa: E402
from backends.numpy import NumpyBackend  # noqa: E402

SERIAL = 1 << 62  # a threshold no test array reaches
PARALLEL = 0  # every non-trivial kernel call takes the prange path


@pytest.fixture(scope="module")
def cpu() -> CpuBackend:
    # adaptive=False: a threshold of 0 then really forces the parallel kernels.
    return CpuBackend(adaptive=False)


@pytest.fixture(scope="module")
def ref() -> NumpyBackend:
    return NumpyBackend()


def both(cpu: CpuBackend, fn):
    """``fn()`` run serially and in parallel; returns both results."""
    saved = cpu.parallel_threshold
    try:
        cpu.parallel_threshold = SERIAL
        a = fn()
        cpu.parallel_threshold = PARALLEL
        b = fn()
    finally:
        cpu.parallel_threshold = saved
    return a, b


def assert_identical(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)  # bit-level for floats up to NaN == NaN


def rand(rng, shape, dtype="float32"):
    if dtype == "float32":
        return np.ascontiguousarray(rng.standard_normal(shape).astype(np.float32))
    if dtype == "int32":
        return np.ascontiguousarray(rng.integers(-50, 50, shape).astype(np.int32))
    return np.ascontiguousarray(rng.random(shape) < 0.5)


# --- serial vs parallel ------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["add", "mul", "div", "mod", "pow", "maximum", "less", "equal"])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_binary_serial_parallel_identical(cpu, ref, rng, op, dtype):
    a = rand(rng, (37, 1, 129), dtype)
    b = rand(rng, (1, 53, 129), dtype)
    if op == "pow":
        b = np.abs(b) % 4 if dtype == "int32" else np.abs(b)
    out_shape = (37, 53, 129)
    s, p = both(cpu, lambda: cpu.binary(op, a, a.shape, b, b.shape, out_shape, dtype))
    assert_identical(s, p)
    expected = ref.binary(op, a, a.shape, b, b.shape, out_shape, dtype)
    if dtype == "int32" or s.dtype == np.bool_:
        assert_identical(s, expected)
    else:
        np.testing.assert_allclose(s, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["neg", "abs", "exp", "tanh", "sigmoid", "relu", "round", "is_nan"])
def test_unary_serial_parallel_identical(cpu, rng, op):
    x = rand(rng, (70_001,))
    x[::97] = np.nan
    s, p = both(cpu, lambda: cpu.unary(op, x, x.shape, "float32"))
    assert_identical(s, p)


@pytest.mark.parametrize(
    ("shape", "axes"),
    [((300_000,), (0,)), ((3, 150_001), (1,)), ((513, 257), (0,)), ((40, 30, 50), (0, 2))],
)
@pytest.mark.parametrize("op", ["sum", "prod", "max", "min"])
def test_reduce_serial_parallel_identical(cpu, ref, rng, shape, axes, op):
    x = rand(rng, shape)
    if op == "prod":
        x = (1 + x * 1e-3).astype(np.float32)
    s, p = both(cpu, lambda: cpu.reduce(op, x, shape, "float32", axes))
    assert_identical(s, p)
    np.testing.assert_allclose(s, ref.reduce(op, x, shape, "float32", axes), rtol=1e-4)


def test_other_kernels_serial_parallel_identical(cpu, ref, rng):
    x = rand(rng, (64, 1500))
    for axis in (0, 1):
        s, p = both(cpu, lambda axis=axis: cpu.arg_reduce("argmax", x, x.shape, "float32", axis))
        assert_identical(s, p)
        assert_identical(s, ref.arg_reduce("argmax", x, x.shape, "float32", axis))
        s, p = both(cpu, lambda axis=axis: cpu.cumsum(x, x.shape, "float32", axis, True, True))
        assert_identical(s, p)
        s, p = both(cpu, lambda axis=axis: cpu.softmax(x, x.shape, "float32", axis))
        assert_identical(s, p)
    idx = rng.integers(0, 1500, 900).astype(np.int32)
    g, gp = both(cpu, lambda: cpu.gather(x, x.shape, "float32", idx, idx.shape, 1))
    assert_identical(g, gp)
    assert_identical(g, ref.gather(x, x.shape, "float32", idx, idx.shape, 1))
    s, p = both(cpu, lambda: cpu.scatter_add(g, g.shape, "float32", idx, idx.shape, 1, 1500))
    assert_identical(s, p)
    assert_identical(s, ref.scatter_add(g, g.shape, "float32", idx, idx.shape, 1, 1500))
    c = rand(rng, (64, 1), "bool")
    s, p = both(
        cpu, lambda: cpu.where(c, c.shape, x, x.shape, x[:1], (1, 1500), x.shape, "float32")
    )
    assert_identical(s, p)
    a, b = rand(rng, (2, 300, 70), "int32"), rand(rng, (2, 90, 70), "int32")
    s, p = both(cpu, lambda: cpu.matmul(a, a.shape, b, b.shape, "int32", False, True))
    assert_identical(s, p)
    assert_identical(s, ref.matmul(a, a.shape, b, b.shape, "int32", False, True))


# --- broadcasting through strides ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        ((3, 4), (3, 4)),
        ((3, 1), (1, 4)),
        ((), (2, 3)),
        ((5,), (4, 1)),
        ((2, 1, 3, 1), (1, 4, 1, 5)),
        ((1, 1, 7), (6, 1, 1)),
        ((0, 3), (1, 3)),
        ((4, 0), (4, 1)),
        ((1, 0), (5, 1)),
        ((1,), ()),
        ((2, 3, 4), (2, 1, 4)),
    ],
)
@pytest.mark.parametrize("threshold", [SERIAL, PARALLEL])
def test_broadcasting_matches_numpy(cpu, ref, rng, sa, sb, threshold):
    a, b = rand(rng, sa), rand(rng, sb)
    out_shape = np.broadcast_shapes(sa, sb)
    saved, cpu.parallel_threshold = cpu.parallel_threshold, threshold
    try:
        for op in ("sub", "less_equal", "greater"):
            got = cpu.binary(op, a, sa, b, sb, out_shape, "float32")
            assert got.shape == out_shape and got.flags.c_contiguous
            assert_identical(got, ref.binary(op, a, sa, b, sb, out_shape, "float32"))
        c = rand(rng, sb, "bool")
        got = cpu.where(c, sb, a, sa, b, sb, out_shape, "float32")
        assert_identical(got, ref.where(c, sb, a, sa, b, sb, out_shape, "float32"))
    finally:
        cpu.parallel_threshold = saved


def test_strides_collapse_and_broadcast_with_zero_stride():
    shape, st = strided(((4, 5), (4, 5)), (4, 5))
    assert shape.tolist() == [20] and st.tolist() == [[1], [1]]
    shape, st = strided(((4, 1), (1, 5)), (4, 5))
    assert shape.tolist() == [4, 5] and st.tolist() == [[1, 0], [0, 1]]
    shape, st = strided(((), (1, 1)), (1, 1))
    assert shape.tolist() == [1] and st.tolist() == [[0], [0]]


def test_binary_never_materialises_broadcast_inputs(cpu):
    a = np.arange(3, dtype=np.float32).reshape(3, 1)
    b = np.arange(4, dtype=np.float32).reshape(1, 4)
    out = cpu.binary("add", a, a.shape, b, b.shape, (3, 4), "float32")
    np.testing.assert_array_equal(out, a + b)
    assert not np.shares_memory(out, a) and not np.shares_memory(out, b)


# --- dtypes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["exp", "sigmoid", "softplus", "erf", "rsqrt", "round", "sign"])
def test_float32_stays_float32(cpu, rng, op):
    x = np.abs(rand(rng, (1000,))) + np.float32(0.1)
    out = cpu.unary(op, x, x.shape, "float32")
    assert out.dtype == np.float32
    y = rand(rng, (1000,))
    for bop in ("add", "div", "pow", "atan2", "mod"):
        assert cpu.binary(bop, x, x.shape, y, y.shape, x.shape, "float32").dtype == np.float32
    for rop in ("sum", "prod", "max"):
        assert cpu.reduce(rop, x, x.shape, "float32", (0,)).dtype == np.float32
    assert cpu.softmax(x, x.shape, "float32", 0).dtype == np.float32


def test_float32_exp_accuracy(cpu):
    x = np.linspace(-110, 95, 200_003, dtype=np.float32)
    x = np.concatenate([x, np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)])
    got = cpu.unary("exp", x, x.shape, "float32")
    with np.errstate(over="ignore"):
        exact = np.exp(x.astype(np.float64))
        want = exact.astype(np.float32)
    normal = np.isfinite(want) & (want > np.finfo(np.float32).tiny)
    ulps = np.abs(got[normal] - exact[normal]) / np.spacing(want[normal])
    assert ulps.max() <= 1.0
    sub = want <= np.finfo(np.float32).tiny
    assert np.abs(got[sub] - want[sub]).max() <= np.float32(1.5e-45)  # one subnormal step
    assert np.isnan(got[-5]) and got[-4] == np.inf and got[-3] == 0 and got[-2] == got[-1] == 1


@pytest.mark.parametrize(
    ("op", "values", "max_ulp"),
    [
        ("log", np.geomspace(1e-45, 3e38, 300_001), 1.0),
        ("tanh", np.linspace(-12, 12, 300_001), 1.5),
    ],
)
def test_float32_log_tanh_accuracy_and_specials(cpu, ref, op, values, max_ulp):
    x = values.astype(np.float32)
    got = cpu.unary(op, x, x.shape, "float32")
    exact = getattr(np, op)(x.astype(np.float64))
    want = exact.astype(np.float32)
    ok = np.isfinite(want) & (np.abs(want) > np.finfo(np.float32).tiny)
    ulps = np.abs(got[ok] - exact[ok]) / np.spacing(np.abs(want[ok]))
    assert ulps.max() <= max_ulp
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1.0], np.float32)
    with np.errstate(all="ignore"):
        want_s = ref.unary(op, specials, specials.shape, "float32")
    got_s = cpu.unary(op, specials, specials.shape, "float32")
    assert_identical(got_s, want_s)
    assert np.signbit(got_s[4]) == np.signbit(want_s[4])


def test_int32_semantics(cpu, ref):
    v = np.array([-(2**31), -7, -3, -1, 0, 1, 3, 7, 2**31 - 1], np.int32)
    a, b = v[:, None], v[None, :]
    for op in ("div", "floor_div", "mod", "pow", "mul", "add", "sub", "maximum"):
        bb = np.abs(b) % 5 if op == "pow" else b
        got = cpu.binary(op, a, a.shape, bb, bb.shape, (9, 9), "int32")
        assert got.dtype == np.int32
        with np.errstate(all="ignore"):
            assert_identical(got, ref.binary(op, a, a.shape, bb, bb.shape, (9, 9), "int32"))
    assert (
        cpu.binary("div", v, v.shape, np.zeros_like(v), v.shape, v.shape, "int32").tolist()
        == [0] * 9
    )
    for op in ("neg", "abs", "sign", "square", "relu", "is_nan", "is_finite"):
        assert_identical(cpu.unary(op, v, v.shape, "int32"), ref.unary(op, v, v.shape, "int32"))
    with pytest.raises(TypeError, match="int32"):
        cpu.unary("exp", v, v.shape, "int32")


def test_float_edge_semantics(cpu, ref):
    v = np.array([-np.inf, -2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, np.inf, np.nan], np.float32)
    a, b = v[:, None], v[None, :]
    with np.errstate(all="ignore"):
        for op in ("floor_div", "mod", "div", "maximum", "minimum", "less", "equal"):
            got = cpu.binary(op, a, a.shape, b, b.shape, (11, 11), "float32")
            assert_identical(got, ref.binary(op, a, a.shape, b, b.shape, (11, 11), "float32"))
        for op in ("round", "sign", "floor", "ceil", "relu", "abs", "is_nan", "is_finite"):
            assert_identical(
                cpu.unary(op, v, v.shape, "float32"), ref.unary(op, v, v.shape, "float32")
            )
    x = np.array([[1, np.nan, 3, np.nan], [2, 2, -0.0, 0.0]], np.float32)
    for op in ("argmax", "argmin"):
        assert_identical(
            cpu.arg_reduce(op, x, x.shape, "float32", 1),
            ref.arg_reduce(op, x, x.shape, "float32", 1),
        )
    for op in ("max", "min"):
        assert_identical(
            cpu.reduce(op, x, x.shape, "float32", (1,)), ref.reduce(op, x, x.shape, "float32", (1,))
        )


def test_bool_logic(cpu, ref):
    t = np.array([True, False])
    a, b = t[:, None], t[None, :]
    for op in ("logical_and", "logical_or", "logical_xor", "equal", "not_equal"):
        assert_identical(
            cpu.binary(op, a, a.shape, b, b.shape, (2, 2), "bool"),
            ref.binary(op, a, a.shape, b, b.shape, (2, 2), "bool"),
        )
    assert cpu.unary("logical_not", t, t.shape, "bool").tolist() == [False, True]
    x = np.array([[True, False, True], [True, True, True]])
    assert cpu.reduce("any", x, x.shape, "bool", (0, 1)).tolist() is True
    assert cpu.reduce("all", x, x.shape, "bool", (1,)).tolist() == [False, True]


def test_reduce_empty_axes(cpu):
    x = np.zeros((3, 0, 2), np.float32)
    assert cpu.reduce("sum", x, x.shape, "float32", (1,)).tolist() == [[0, 0]] * 3
    assert cpu.reduce("prod", x, x.shape, "float32", (1,)).tolist() == [[1, 1]] * 3
    assert cpu.reduce("sum", x, x.shape, "float32", (0, 2)).shape == (0,)
    y = np.ones((1, 4), np.float32)
    out = cpu.reduce("sum", y, y.shape, "float32", (0,))
    assert out.tolist() == [1, 1, 1, 1] and not np.shares_memory(out, y)


# --- fused composites ----------------------------------------------------------------------------
def test_fused_softmax_matches_composite(rng):
    x = rng.standard_normal((4, 7, 5)).astype(np.float32) * 10
    x[0, 0, 0] = 80  # a large logit: the max shift must keep exp finite
    with tw.backend_scope("cpu") as be:
        assert be.has("softmax") and be.has("log_softmax")
        for axis in (-1, 1, 0):
            t = tw.tensor(x)
            got = tw.softmax(t, axis).numpy()
            got_log = tw.log_softmax(t, axis).numpy()
            with tw.backend_scope("numpy"):
                want = tw.softmax(tw.tensor(x), axis).numpy()
                want_log = tw.log_softmax(tw.tensor(x), axis).numpy()
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(got_log, want_log, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got.sum(axis), 1, rtol=1e-5)


def test_fused_softmax_gradient_matches_composite(rng):
    x = rng.standard_normal((3, 6)).astype(np.float32)
    w = rng.standard_normal((3, 6)).astype(np.float32)

    def grads(name):
        with tw.backend_scope(name):
            xt, wt = tw.tensor(x), tw.tensor(w)
            g1 = tw.grad(lambda v: tw.sum(tw.mul(tw.softmax(v), wt)))(xt).numpy()
            g2 = tw.grad(lambda v: tw.sum(tw.mul(tw.log_softmax(v), wt)))(xt).numpy()
        return g1, g2

    for got, want in zip(grads("cpu"), grads("numpy"), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_softmax_propagates_nan(cpu):
    x = np.array([[1, np.nan, 2], [1, 2, 3]], np.float32)
    out = cpu.softmax(x, x.shape, "float32", 1)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


def test_float_matmul_uses_blas_and_matches(cpu, ref, rng):
    for ta in (False, True):
        for tb in (False, True):
            a = rand(rng, (3, 20, 30) if ta else (3, 30, 20))
            b = rand(rng, (3, 40, 20) if tb else (3, 20, 40))
            got = cpu.matmul(a, a.shape, b, b.shape, "float32", ta, tb)
            assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (3, 30, 40)
            np.testing.assert_allclose(
                got, ref.matmul(a, a.shape, b, b.shape, "float32", ta, tb), rtol=1e-5, atol=1e-5
            )


def test_registered_and_complete():
    assert CpuBackend.missing_primitives() == []
    assert "cpu" in [r["name"] for r in tw.list_backends() if r["available"]]


def test_adaptive_chooser_measures_both_paths_and_keeps_results(rng):
    be = CpuBackend(parallel_threshold=1 << 14, adaptive=True)
    fixed = CpuBackend(adaptive=False)
    x, y = rand(rng, (300, 700)), rand(rng, (1, 700))
    want = fixed.binary("mul", x, x.shape, y, y.shape, x.shape, "float32")
    for _ in range(40):
        assert_identical(be.binary("mul", x, x.shape, y, y.shape, x.shape, "float32"), want)
        assert_identical(
            be.reduce("sum", x, x.shape, "float32", (1,)),
            fixed.reduce("sum", x, x.shape, "float32", (1,)),
        )
    for key in (("binary", "mul", "f"), ("reduce", 0, "f")):
        st = be.scheduler.stats[band(key, x.size)]
        (ser_ns, par_ns), calls, (ser_runs, par_runs) = st.ns, st.calls, st.runs
        assert calls == 40 and ser_runs >= 2 and par_runs >= 2
        assert ser_ns > 0 and par_ns > 0
    # tiny calls never consult the chooser
    t = rand(rng, (5,))
    be.unary("exp", t, t.shape, "float32")
    assert not [k for k in be.scheduler.stats if k[0][0] == "unary"]
