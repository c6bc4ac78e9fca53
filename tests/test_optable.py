"""The elementwise op table (engine/optable.py) is complete.

Every entry must be implemented everywhere it is derived to: the kernel contract, the public
function, the gradient table, the ``numpy`` backend, the ``cpu`` backend's generated kernels and
fused-kernel templates, and the rendered backends (one OpenCL program and one CUDA program per
dtype holding every entry's kernel must build; CUDA through the NVRTC/nvcc path of
tests/test_crender.py). It must also have a test domain on which its reference is finite, and a
finite gradient on its gradient domain where it has one. tests/test_ops_elementwise.py (values
against the reference on every backend) and tests/test_gradients.py (finite differences)
iterate over the same table.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine as tw
from backends import base
from backends.crender import kernels as CK
from backends.crender.dialect import CUDA, OPENCL
from backends.numpy import NumpyBackend
from engine import fusion, optable
from engine.gradients import GRADIENTS

_DTYPE = {"f": "float32", "i": "int32", "b": "bool"}
CASES = [(n, _DTYPE[k]) for n, op in optable.OPS.items() for k in op.kinds]


def _inputs(op: optable.Op, dtype: str) -> list[np.ndarray]:
    g = np.random.default_rng(0)
    if dtype == "float32":
        return [s.sample(g, (4, 3)) for s in op.test_domain()]
    if dtype == "int32":
        return [g.integers(-5, 6, size=(4, 3)).astype(np.int32) for _ in range(op.arity)]
    return [g.integers(0, 2, size=(4, 3)).astype(bool) for _ in range(op.arity)]


def test_the_contract_the_functions_and_the_gradients_come_from_the_table():
    assert list(base.UNARY_OPS) == list(optable.UNARY)
    assert list(base.BINARY_OPS) == list(optable.BINARY)
    for name, op in optable.OPS.items():
        assert name in GRADIENTS, f"{name}: no entry in engine.gradients.GRADIENTS"
        if op.public:
            fn = getattr(tw, name, None)
            assert callable(fn) and fn.__doc__, f"{name}: tw.{name} missing or undocumented"
        if op.family == "arith" and "f" in op.kinds:
            assert op.grad is not None, f"{name}: a float op needs a gradient (or ZERO_GRAD)"


def test_table_checks_reject_an_incomplete_entry():
    # the import-time checks name the entry and what is missing
    bad = optable.Op("bad", 1, "fi", "arith", "x", np.negative, {"f": "(-{x})"}, {"f": "-{x}"})
    optable.OPS["bad"] = optable.UNARY["bad"] = bad
    try:
        with pytest.raises(ValueError, match=r"'bad': c expressions for kinds \['f'\]"):
            optable._check_table()
    finally:
        del optable.OPS["bad"], optable.UNARY["bad"]


@pytest.mark.parametrize("name, dtype", CASES)
def test_numpy_backend_implements_every_entry(name, dtype):
    op = optable.OPS[name]
    be = NumpyBackend()
    xs = _inputs(op, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if op.arity == 1:
            out = be.unary(name, xs[0], xs[0].shape, dtype)
        else:
            out = be.binary(name, xs[0], xs[0].shape, xs[1], xs[1].shape, xs[0].shape, dtype)
    assert out.shape == xs[0].shape
    assert out.dtype == base.numpy_dtype(op.out_dtype(dtype)), (name, dtype, out.dtype)


def test_cpu_kernels_have_a_branch_for_every_entry():
    from backends.cpu import elementwise as E

    src = E.render()
    families = [
        (E.UNARY_FLOAT, "f", "x"),
        (E.UNARY_INT, "i", "x"),
        (E.UNARY_PRED, None, "x"),
        (E.BINARY_ARITH, "f", "ab"),
        (E.BINARY_ARITH, "i", "ab"),
        (E.BINARY_CMP, None, "ab"),
    ]
    covered = set()
    for names, kind, _ in families:
        for name in names:
            op = optable.OPS[name]
            for k in [kind] if kind else op.kinds:
                if k not in op.kinds:
                    continue
                e = op.numba[k].format(one="one", zero="zero", x="v", a="x", b="y")
                if name not in E._SWAPPED:  # greater/greater_equal run as swapped less/...
                    assert e in src, f"{name} ({k}): its numba expression is not in the kernels"
                covered.add((name, _DTYPE[k]))
    assert covered >= set(CASES), sorted(set(CASES) - covered)


@pytest.mark.parametrize("name, dtype", CASES)
def test_cpu_fused_kernels_render_every_entry(name, dtype):
    from backends.cpu import fusion as cpu_fusion

    op = optable.OPS[name]
    if (name, dtype) not in fusion.FUSABLE:
        assert op.bool_result and dtype == "bool", f"{name} on {dtype} is not fusable"
        return
    args = ["v0", "v1"][: op.arity]
    e = cpu_fusion.node_expr(name, op.out_dtype(dtype), [dtype] * op.arity, args)
    compile(e, name, "eval")  # a Python expression numba can compile


def _program(d, dtype: str) -> str:
    """One program holding every entry's elementwise kernel for ``dtype``."""
    bodies = []
    for name, op in optable.OPS.items():
        if not op.supports(dtype):
            continue
        render = CK.render_unary if op.arity == 1 else CK.render_binary
        src = render(d, name, dtype)
        prefix = CK._program(d, (*[dtype] * op.arity, op.out_dtype(dtype)), "")
        assert src.startswith(prefix)
        bodies.append(src[len(prefix) :])
    return CK._program(d, (dtype, "bool"), "".join(bodies))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_opencl_builds_every_entry(dtype):
    from test_crender import _CL, _CL_REASON

    if _CL is None:
        pytest.skip(_CL_REASON)
    cl, ctx, _ = _CL
    cl.Program(ctx, _program(OPENCL, dtype)).build()  # raises with the build log on error


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_cuda_compiles_every_entry_to_ptx(dtype):
    from test_crender import _need_compiler, compile_ptx

    _need_compiler()
    ptx = compile_ptx(_program(CUDA, dtype), f"optable_{dtype}")
    for name, op in optable.OPS.items():
        if op.supports(dtype):
            kernel = f"{'unary' if op.arity == 1 else 'binary'}_{name}"
            assert kernel in ptx, f"{kernel} ({dtype}) is not in the PTX"


@pytest.mark.parametrize("name", [n for n, op in optable.OPS.items() if "f" in op.kinds])
def test_every_float_entry_has_a_domain_and_a_finite_gradient(name):
    op = optable.OPS[name]
    xs = _inputs(op, "float32")
    with np.errstate(all="ignore"):
        ref = op.numpy(*[x.astype(np.float64) for x in xs])
    assert np.isfinite(np.asarray(ref, dtype=np.float64)).all(), (
        f"{name}: the reference is not finite on its test domain; give the entry a domain="
    )
    if op.grad is None or op.grad == optable.ZERO_GRAD:
        return
    g = np.random.default_rng(1)
    with tw.backend_scope("numpy"):
        ts = [tw.tensor(s.sample(g, (4, 3))) for s in op.gradient_domain()]
        y = getattr(tw, name)(*ts)
        rule = op.grad(tw.ones_like(y), *ts, y)
        for k, gk in enumerate([rule] if op.arity == 1 else rule):
            assert gk is None or np.isfinite(gk.numpy()).all(), f"{name}: gradient {k} not finite"


def test_primitive_refuses_a_dtype_without_a_kernel(backend):
    """An entry's kinds gate the primitive: an int-only entry on floats is a TypeError naming
    the op and the dtypes it has, never another kernel's result."""
    from engine.ops.core import binary

    with pytest.raises(
        TypeError, match=r"bitwise_and is not defined for dtype float32; expected int32"
    ):
        binary("bitwise_and", tw.tensor([1.5]), tw.tensor([2.5]))
