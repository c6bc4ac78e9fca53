"""Elementwise fusion (``engine/fusion.py``): what the pass fuses and what it leaves alone, the
fused kernels of every backend against the unfused primitives (bit for bit) and the numpy
oracle, CUDA sources compiled to PTX, and traced training with fusion against eager training."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw
import layers
from backends.base import BINARY_OPS, UNARY_OPS, out_dtype_binary, out_dtype_unary
from backends.crender.dialect import CUDA, OPENCL
from backends.crender.fusion import render_fused
from backends.numpy import NumpyBackend
from engine import fusion, registry, trace
from engine.trace import capture

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

REF = NumpyBackend()
KERNEL = fusion.KERNEL


# -- helpers -------------------------------------------------------------------------------
def _raw(fn, args, monkeypatch):
    """(raw steps, trace) of capturing ``fn(*args)``, the pass switched off."""
    seen = []

    def spy(steps, backend, outputs=None):
        seen.append(list(steps))
        return steps

    monkeypatch.setattr(fusion, "fuse", spy)
    out, tr, reason, _ = capture(fn, args)
    assert reason is None, reason
    return seen[-1], tr


def _out_slots(tr):
    return {r[1] for r in tr._out_refs if r is not None and r[0] == trace._SLOT}


def _fused(steps):
    return [st for st in steps if st[0] == trace._OP and st[1] == KERNEL]


def _names(steps):
    return [st[1] for st in steps if st[0] == trace._OP]


@pytest.fixture
def numpy_scope():
    with tw.backend_scope("numpy"):
        yield


def test_step_kinds_match_engine_trace():
    assert (fusion._SLOT, fusion._ARG, fusion._VAR, fusion._CONST) == (
        trace._SLOT,
        trace._ARG,
        trace._VAR,
        trace._CONST,
    )
    assert (fusion._OP, fusion._ASSIGN, fusion._HOST) == (trace._OP, trace._ASSIGN, trace._HOST)


# -- the pass --------------------------------------------------------------------------------
def test_bias_add_and_activation_become_one_step(numpy_scope, monkeypatch):
    x, b = tw.tensor(np.ones((4, 3), np.float32)), tw.tensor(np.ones(3, np.float32))
    raw, tr = _raw(lambda x, b: tw.relu(tw.add(x, b)), [x, b], monkeypatch)
    assert _names(raw) == ["add", "relu"]
    new = fusion.fuse_steps(raw, _out_slots(tr))
    assert _names(new) == [KERNEL]
    st = new[0]
    expr = st[6].attrs["expr"]
    assert expr == (
        ("float32", "float32"),
        (("add", "float32", (0, 1)), ("relu", "float32", (2,))),
        (3,),
    )
    assert st[3] == raw[0][3] and st[4] == raw[1][4] and not st[5]  # only relu's slot
    assert st[6].inputs == (((4, 3), "float32"), ((1, 3), "float32"))
    assert st[6].attrs["shape"] == (4, 3)
    # trace outputs unknown: every member result stays materialised
    keep = fusion.fuse_steps(raw, None)
    assert keep[0][4] == (raw[0][4][0], raw[1][4][0]) and keep[0][5]


def test_results_read_outside_stay_materialised_and_block_later_members(numpy_scope, monkeypatch):
    def fn(x):
        a = tw.exp(x)
        b = tw.mul(a, 2.0)
        return tw.add(b, tw.sum(a))  # sum reads a between b and the add

    raw, tr = _raw(fn, [tw.tensor([1.0, 2.0, 3.0])], monkeypatch)
    assert _names(raw) == ["exp", "mul", "sum", "add"]
    new = fusion.fuse_steps(raw, _out_slots(tr))
    assert _names(new) == [KERNEL, "sum", "add"]
    assert new[0][4] == (raw[0][4][0], raw[1][4][0])  # a for sum, b for add
    assert new[0][6].attrs["ops"] == ("exp", "mul")


def test_reductions_and_shape_changes_break_chains(numpy_scope, monkeypatch):
    def fn(x, s):
        r = tw.mul(tw.sum(tw.exp(x), 1), 2.0)  # exp | sum | mul: nothing to fuse
        return tw.add(r, tw.mul(s, 3.0))  # mul of a scalar stays out of the (2,) group

    raw, tr = _raw(fn, [tw.tensor(np.ones((2, 3), np.float32)), tw.tensor(1.0)], monkeypatch)
    new = fusion.fuse_steps(raw, _out_slots(tr))
    assert [st.meta.attrs["ops"] for st in _fused(new)] == [("mul", "add")]
    assert "exp" in _names(new) and "sum" in _names(new)
    mul_s = [st for st in new if st[0] == trace._OP and st[1] == "mul"]
    assert len(mul_s) == 1 and mul_s[0][6].outputs[0][0] == ()


def test_a_member_reading_a_variable_is_not_moved_past_its_assignment(numpy_scope, monkeypatch):
    v = tw.variable(tw.tensor([1.0, 2.0]), name="fusion_v")

    def before(x):
        t = tw.mul(x, v)  # reads the old value
        v.assign(tw.neg(x))
        return tw.add(t, 1.0)

    def after(x):
        t = tw.mul(x, v)
        y = tw.add(t, 1.0)
        v.assign(tw.neg(x))
        return y

    raw, tr = _raw(before, [tw.tensor([3.0, 4.0])], monkeypatch)
    assert not _fused(fusion.fuse_steps(raw, _out_slots(tr)))
    raw, tr = _raw(after, [tw.tensor([3.0, 4.0])], monkeypatch)
    assert [st.meta.attrs["ops"] for st in _fused(fusion.fuse_steps(raw, _out_slots(tr)))] == [
        ("mul", "add")
    ]


def test_views_are_looked_through_and_re_emitted_when_needed(numpy_scope, monkeypatch):
    x = tw.tensor([1.0, 2.0, 3.0, 4.0])

    def internal(x):
        return tw.add(tw.reshape(tw.mul(x, 2.0), (1, 4)), 1.0)

    raw, tr = _raw(internal, [x], monkeypatch)
    assert _names(raw) == ["mul", "reshape", "add"]
    new = fusion.fuse_steps(raw, _out_slots(tr))
    assert _names(new) == [KERNEL] and new[0][4] == raw[2][4]
    assert new[0][6].attrs["shape"] == (4,)

    def returned(x):
        r = tw.reshape(tw.mul(x, 2.0), (1, 4))
        return [tw.add(r, 1.0), r]

    raw, tr = _raw(returned, [x], monkeypatch)
    new = fusion.fuse_steps(raw, _out_slots(tr))
    assert _names(new) == [KERNEL, "reshape"]  # the view reads the materialised product
    assert new[0][4] == (raw[0][4][0], raw[2][4][0]) and new[1] is raw[1]


def test_only_backends_with_the_capability_fuse(monkeypatch):
    with tw.backend_scope("numpy"):
        x = tw.tensor([1.0, 2.0])
        raw, _ = _raw(lambda x: tw.relu(tw.add(x, 1.0)), [x], monkeypatch)
    monkeypatch.undo()
    assert not registry.instance_of("numpy").has(KERNEL)
    assert fusion.fuse(raw, "numpy") is raw
    assert fusion.fuse(raw, "no-such-backend") is raw
    for name in ("cpu", "opencl"):
        try:
            be = registry.instance_of(name)
        except Exception:
            continue
        assert be.has(KERNEL)
        assert _names(fusion.fuse(raw, name)) == [KERNEL]
        monkeypatch.setattr(fusion, "ENABLED", False)
        assert fusion.fuse(raw, name) is raw
        monkeypatch.setattr(fusion, "ENABLED", True)


# -- traces with fusion replay like eager code ------------------------------------------------
@pytest.fixture(params=["conservative", "known_outputs"])
def fusion_mode(request, monkeypatch):
    """``conservative``: the pass as engine.trace calls it (trace outputs unknown);
    ``known_outputs``: the pass told the trace outputs (only needed results materialised)."""
    if request.param == "known_outputs":
        plan = trace.Trace._plan

        def planned(self, steps, out_refs):
            if fusion._backend_fuses(self.backend):
                steps = fusion.fuse_steps(steps, _out_slots_of(out_refs))
            return plan(self, steps, out_refs)

        monkeypatch.setattr(fusion, "ENABLED", False)
        monkeypatch.setattr(trace.Trace, "_plan", planned)
    return request.param


def _out_slots_of(out_refs):
    return {r[1] for r in out_refs if r is not None and r[0] == trace._SLOT}


def _fns():
    v = tw.variable(tw.tensor([[0.5, -1.0, 2.0]]), name="fusion_w")

    def chain(x, b):
        y = tw.add(tw.mul(x, b), 1.0)
        z = tw.where(tw.greater(y, 0.5), tw.sqrt(tw.abs(y)), tw.neg(y))
        return [z, tw.sum(y)]

    def with_var(x, b):
        t = tw.mul(x, v)
        v.assign(tw.add(v, tw.mul(b, 0.5)))
        return tw.sub(tw.exp(t), b)

    def ints_and_bools(x, b):
        i = tw.cast(tw.mul(x, 10.0), "int32")
        m = tw.logical_and(tw.greater(i, 3), tw.less(b, 0.0))
        return [tw.cast(m, "float32"), tw.mod(tw.add(i, 7), 5), tw.reshape(i, (3, 1, 3))]

    return [chain, with_var, ints_and_bools]


def test_fused_traces_replay_like_eager(backend, fusion_mode):
    rng = np.random.default_rng(0)
    for fn in _fns():
        x0 = tw.tensor(rng.normal(size=(3, 3)).astype(np.float32))
        b0 = tw.tensor(rng.normal(size=(1, 3)).astype(np.float32))
        _, tr, reason, _ = capture(fn, [x0, b0])
        assert reason is None, reason
        x = rng.normal(size=(3, 3)).astype(np.float32)
        b = rng.normal(size=(1, 3)).astype(np.float32)
        state = [v.numpy() for v in tr.vars]
        got = tr.replay([tw.tensor(x), tw.tensor(b)])
        got_vars = [v.numpy() for v in tr.vars]
        for v, s in zip(tr.vars, state, strict=True):
            v.assign(tw.tensor(s))
        want = fn(tw.tensor(x), tw.tensor(b))
        got = got if isinstance(got, list) else [got]
        want = want if isinstance(want, list) else [want]
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-7)
        for g, v in zip(got_vars, tr.vars, strict=True):
            np.testing.assert_allclose(g, v.numpy(), rtol=1e-6)


# -- fused kernels: unfused primitives and the numpy oracle -----------------------------------
def _fusing_backend(name):
    be = registry.instance_of(name)
    if not be.has(KERNEL):
        pytest.skip(f"backend {name!r} has no fused_elementwise")
    return be


def _bcast(a_shape, b_shape):
    return tuple(np.broadcast_shapes(a_shape, b_shape))


def _unfused(be, expr, arrays, in_shapes, shape):
    """Evaluate ``expr`` node by node with ``be``'s primitives; host arrays of ``shape``."""
    in_dts, nodes, outs = expr
    vals = [(be.from_numpy(np.array(a, order="C")), tuple(s), dt)
            for a, s, dt in zip(arrays, in_shapes, in_dts, strict=True)]  # fmt: skip
    for op, dt, args in nodes:
        xs = [vals[a] for a in args]
        if op == "cast":
            (b, s, src), = xs  # fmt: skip
            vals.append((be.cast(b, s, src, dt), s, dt))
        elif op == "where":
            (c, sc, _), (a, sa, adt), (b, sb, _) = xs
            s = _bcast(_bcast(sc, sa), sb)
            vals.append((be.where(c, sc, a, sa, b, sb, s, adt), s, dt))
        elif len(xs) == 1:
            (b, s, src), = xs  # fmt: skip
            vals.append((be.unary(op, b, s, src), s, dt))
        else:
            (a, sa, src), (b, sb, _) = xs
            s = _bcast(sa, sb)
            vals.append((be.binary(op, a, sa, b, sb, s, src), s, dt))
    res = []
    for v in outs:
        b, s, dt = vals[v]
        res.append(np.broadcast_to(be.to_numpy(b, s, dt), shape))
    return res


def _check(be, expr, arrays, in_shapes, shape, out_shapes=None):
    out_shapes = out_shapes or [shape] * len(expr[2])
    bufs = [be.from_numpy(np.array(a, order="C")) for a in arrays]
    got = be.fused_elementwise(expr, bufs, list(in_shapes), shape, list(out_shapes))
    assert len(got) == len(expr[2])
    same = _unfused(be, expr, arrays, in_shapes, shape)
    oracle = _unfused(REF, expr, arrays, in_shapes, shape)
    n_in = len(expr[0])
    for g, s, o, v, os_ in zip(got, same, oracle, expr[2], out_shapes, strict=True):
        dt = expr[1][v - n_in][1]
        g = be.to_numpy(g, tuple(os_), dt).reshape(shape)
        assert g.dtype == np.dtype(bool if dt == "bool" else dt)
        np.testing.assert_array_equal(g, s, err_msg=f"{expr[1][v - n_in]} vs unfused")
        if dt in ("float32", "float64"):
            np.testing.assert_allclose(g, o, rtol=2e-6, atol=1e-6, err_msg=str(expr[1]))
        else:
            np.testing.assert_array_equal(g, o, err_msg=str(expr[1]))


def _values(dtype, shape, rng):
    n = int(np.prod(shape))
    if dtype == "bool":
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    if dtype == "int32":
        edge = [0, 1, -1, 7, -7, 2**31 - 1, -(2**31)]
        v = np.concatenate([edge, rng.integers(-60, 60, max(n - len(edge), 0))])[:n]
        return rng.permutation(v).astype(np.int32).reshape(shape)
    edge = [0.0, -0.0, 0.5, -0.5, 1.0, 2.5, -2.5, np.inf, -np.inf, np.nan, 1e30]
    v = np.concatenate([edge, rng.normal(size=max(n - len(edge), 0)) * 3])[:n]
    return rng.permutation(v).astype(dtype).reshape(shape)


def _dtypes(be):
    return ("float32", "int32", "bool") + (("float64",) if be.capabilities.get("float64") else ())


def test_every_fusable_op_matches_unfused_and_numpy(backend):
    be = _fusing_backend(backend)
    rng = np.random.default_rng(1)
    shape = (4, 5, 6)
    with np.errstate(all="ignore"):
        for dt in _dtypes(be):
            expr = _all_ops_expr(dt, _dtypes(be))  # one kernel per dtype and pattern
            a, col, sca = _values(dt, shape, rng), _values(dt, (5, 1), rng), _values(dt, (), rng)
            cond = _values("bool", shape, rng)
            _check(be, expr, [a, col, cond], [shape, (5, 1), shape], shape)  # strided
            _check(be, expr, [sca, a, cond], [(), shape, shape], shape)  # flat, a scalar


def test_fused_chains_with_broadcasting_match(backend):
    be = _fusing_backend(backend)
    rng = np.random.default_rng(2)
    f, i, b = "float32", "int32", "bool"
    with np.errstate(all="ignore"):
        # bias add + relu, both materialised
        expr = ((f, f), (("add", f, (0, 1)), ("relu", f, (2,))), (2, 3))
        _check(be, expr, [_values(f, (32, 10), rng), _values(f, (1, 10), rng)],
               [(32, 10), (1, 10)], (32, 10))  # fmt: skip
        # loss-like: x / sum, clipped, log, times targets; a (32, 1) column and two scalars
        x = np.abs(_values(f, (32, 10), rng)) + 0.1
        expr = (
            (f, f, f, f, f),
            (
                ("div", f, (0, 1)),
                ("maximum", f, (5, 2)),
                ("minimum", f, (6, 3)),
                ("log", f, (7,)),
                ("mul", f, (4, 8)),
                ("neg", f, (9,)),
            ),
            (6, 10),
        )
        arrays = [x, x.sum(1, keepdims=True), np.float32(1e-7), np.float32(1 - 1e-7),
                  _values(f, (32, 10), rng)]  # fmt: skip
        _check(be, expr, arrays, [(32, 10), (32, 1), (), (), (32, 10)], (32, 10))
        # int32 arithmetic (wrapping, floor division and modulo by zero) then a cast
        expr = (
            (i, i),
            (
                ("mul", i, (0, 1)),
                ("add", i, (2, 0)),
                ("floor_div", i, (3, 1)),
                ("mod", i, (3, 1)),
                ("maximum", i, (4, 5)),
                ("cast", f, (6,)),
                ("sub", f, (7, 7)),
                ("greater_equal", b, (6, 0)),
            ),
            (6, 7, 8, 9),
        )
        _check(be, expr, [_values(i, (3, 4, 5), rng), _values(i, (4, 1), rng)],
               [(3, 4, 5), (4, 1)], (3, 4, 5))  # fmt: skip
        # bools: comparisons, logic, where, casts both ways
        expr = (
            (f, f, b),
            (
                ("greater", b, (0, 1)),
                ("logical_and", b, (3, 2)),
                ("logical_not", b, (4,)),
                ("where", f, (5, 0, 1)),
                ("cast", f, (4,)),
                ("cast", i, (5,)),
                ("not_equal", b, (3, 2)),
                ("logical_xor", b, (9, 2)),
                ("cast", b, (0,)),
            ),
            (6, 7, 8, 10, 11),
        )
        _check(be, expr, [_values(f, (3, 1, 5), rng), _values(f, (1, 4, 1), rng),
                          _values(b, (), rng)], [(3, 1, 5), (1, 4, 1), ()], (3, 4, 5))  # fmt: skip
        # float -> int32 casts of NaN, infinities and out-of-range values
        edge = np.float32([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.7, -2.7, 0.0])
        expr = ((f,), (("cast", i, (0,)), ("cast", f, (1,))), (1, 2))
        _check(be, expr, [edge], [(8,)], (8,))
        # outputs of other shapes of the same size (views of the iteration space)
        expr = ((f,), (("exp", f, (0,)), ("mul", f, (1, 1))), (1, 2))
        _check(be, expr, [_values(f, (6, 4), rng)], [(6, 4)], (6, 4), [(1, 6, 4), (24,)])
        # scalars and empty tensors
        expr = ((f, f), (("sub", f, (0, 1)), ("square", f, (2,))), (3,))
        _check(be, expr, [np.float32(3), np.float32(1)], [(), ()], ())
        got = be.fused_elementwise(expr, [be.from_numpy(np.zeros((0, 5), np.float32))] * 2,
                                   [(0, 5), (1, 5)], (0, 5), [(0, 5)])  # fmt: skip
        assert be.to_numpy(got[0], (0, 5), f).shape == (0, 5)
        if be.capabilities.get("float64"):
            d = "float64"
            expr = ((d, d), (("mul", d, (0, 1)), ("add", d, (2, 0)), ("tanh", d, (3,))), (4,))
            _check(be, expr, [_values(d, (7, 3), rng), _values(d, (3,), rng)],
                   [(7, 3), (1, 3)], (7, 3))  # fmt: skip


def test_cpu_kernels_are_generated_into_the_cache_dir(monkeypatch, tmp_path):
    try:
        be = registry.instance_of("cpu")
    except Exception as e:
        pytest.skip(f"backend 'cpu' unavailable: {e}")
    from backends.cpu import fusion as cf

    monkeypatch.setenv("TENSORWEAVE_CACHE", str(tmp_path))
    monkeypatch.setattr(cf, "_dir", [])
    assert cf.cache_dir() == str(tmp_path / "fusion")
    monkeypatch.setattr(cf, "_kernels", {})
    expr = (("float32",), (("neg", "float32", (0,)), ("abs", "float32", (1,))), (2,))
    x = np.float32([[-1.5, 2.0]])
    (out,) = be.fused_elementwise(expr, [x], [(1, 2)], (1, 2), [(1, 2)])
    np.testing.assert_array_equal(out, [[1.5, 2.0]])
    files = sorted(p.name for p in (tmp_path / "fusion").glob("tw_fused_*.py"))
    assert len(files) == 1 and repr(expr) in (tmp_path / "fusion" / files[0]).read_text()
    kernel = cf.kernels(expr, ("flat", ("f",)))
    assert cf.kernels(expr, ("flat", ("f",))) is kernel  # cached by expression and pattern


# -- CUDA and OpenCL sources ----------------------------------------------------------------
def _ptx(source: str, name: str) -> str:
    from test_crender import compile_ptx

    return compile_ptx(source, name)


def _all_ops_expr(dt, dtypes=("float32", "int32", "bool", "float64")):
    """One expression applying every fusable op of ``dt`` to inputs 0 and 1 (casts to every
    other of ``dtypes``, a where on input 2), all results outputs."""
    nodes = []
    for op in sorted(UNARY_OPS):
        if (op, dt) in fusion.FUSABLE:
            nodes.append((op, out_dtype_unary(op, dt), (0,)))
    for op in sorted(BINARY_OPS):
        if (op, dt) in fusion.FUSABLE:
            nodes.append((op, out_dtype_binary(op, dt), (0, 1)))
    for to in dtypes:
        if to != dt:
            nodes.append(("cast", to, (0,)))
    nodes.append(("where", dt, (2, 0, 1)))
    return ((dt, dt, "bool"), tuple(nodes), tuple(range(3, 3 + len(nodes))))


_SOURCES = {
    f"{dt}_{v[0]}": (_all_ops_expr(dt), v)
    for dt in ("float32", "float64", "int32", "bool")
    for v in (("c", ("f", "s", "f")), ("s", 3))
}


@pytest.mark.parametrize("label", sorted(_SOURCES))
def test_cuda_fused_sources_compile_to_ptx(label):
    from test_crender import _need_compiler

    _need_compiler()
    expr, variant = _SOURCES[label]
    ptx = _ptx(render_fused(CUDA, expr, variant), label)
    assert ".entry fused_" in ptx


def test_cuda_fused_float32_stays_single_precision_without_fma():
    from test_crender import _need_compiler

    _need_compiler()
    f = "float32"
    nodes = [("mul", f, (0, 1)), ("add", f, (2, 1)), ("square", f, (3,)), ("sub", f, (4, 0))]
    for op in ("exp", "log", "sqrt", "tanh", "sigmoid", "softplus", "erf", "relu"):
        nodes.append((op, f, (len(nodes) + 2,)))
    expr = ((f, f), tuple(nodes), (len(nodes) + 1,))
    ptx = _ptx(render_fused(CUDA, expr, ("c", ("f", "f"))), "single")
    assert ".f64" not in ptx
    plain = ((f, f, f), (("mul", f, (0, 1)), ("add", f, (3, 2))), (4,))
    body = _ptx(render_fused(CUDA, plain, ("c", ("f", "f", "f"))), "mad")
    assert "fma" not in body and "mul.rn.f32" in body  # no contraction across nodes


def test_opencl_fused_sources_forbid_contraction():
    src = render_fused(OPENCL, (("float32",), (("square", "float32", (0,)),), (1,)), ("s", 2))
    assert src.startswith("#pragma OPENCL FP_CONTRACT OFF")
    assert "__kernel void fused_s(" in src


# -- training -------------------------------------------------------------------------------
def _data(n=64, d=12, k=4):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]
    return x, y


def _seed(jit):
    tw.set_seed(3)
    m = layers.sequential([layers.dense(units=16, activation="relu", input_shape=[12]),
                           layers.dense(units=4, activation="softmax")])  # fmt: skip
    m.compile(optimizer="adam", loss="categoricalCrossentropy", metrics=["accuracy"], jit=jit)
    return m


def _selu_mse(jit):
    tw.set_seed(5)
    m = layers.sequential([layers.dense(units=8, activation="selu", input_shape=[12]),
                           layers.dense(units=4, activation="sigmoid")])  # fmt: skip
    m.compile(optimizer="rmsprop", loss="meanSquaredError", metrics=["mae"], jit=jit)
    return m


def _fit(make, jit, monkeypatch, fuse=True):
    monkeypatch.setattr(fusion, "ENABLED", fuse)
    x, y = _data()
    m = make(jit)
    tw.set_seed(11)
    h = m.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    kernels = [t.num_kernels for t in m._traces["train"].traces.values()] if jit else []
    return [w.numpy() for w in m.weights], h.history, kernels


@pytest.mark.parametrize("make", [_seed, _selu_mse], ids=["seed", "selu_mse"])
def test_traced_training_with_fusion_equals_eager(backend, make, monkeypatch):
    we, he, _ = _fit(make, False, monkeypatch)
    wf, hf, kf = _fit(make, True, monkeypatch)
    wu, hu, ku = _fit(make, True, monkeypatch, fuse=False)
    for a, b in zip(we, wf, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    for key in he:
        np.testing.assert_allclose(hf[key], he[key], rtol=1e-5, atol=1e-7)
    if registry.instance_of(backend).has(KERNEL):
        assert kf[0] < ku[0], (kf, ku)  # fewer launches per step
    if backend in ("cpu", "opencl"):  # fused kernels round exactly as the unfused ones
        for a, b in zip(wu, wf, strict=True):
            np.testing.assert_array_equal(b, a)
        assert hf == hu


def test_cpu_program_bakes_fused_launches(monkeypatch):
    """``fused_elementwise`` is recordable: a cpu trace program has no live op left."""
    try:
        be = registry.instance_of("cpu")
    except Exception as e:
        pytest.skip(f"backend 'cpu' unavailable: {e}")
    assert KERNEL in be.recordable
    with tw.backend_scope("cpu"):
        we, he, _ = _fit(_seed, False, monkeypatch)
        x, y = _data()
        m = _seed(True)
        tw.set_seed(11)
        h = m.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    tr = next(iter(m._traces["train"].traces.values()))
    assert tr.program is not None and tr.program.num_live == 0, tr.program_reason
    for a, b in zip(we, [w.numpy() for w in m.weights], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.history["loss"], he["loss"], rtol=1e-5)
