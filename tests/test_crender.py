"""The shared C renderer: op table coverage, layout helpers, every generated source compiles
(OpenCL on the installed OpenCL device, CUDA to PTX with NVRTC or ``nvcc -ptx``), and the
rendered kernels match the numpy reference on edge values on every rendered backend that runs."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import warnings

import numpy as np
import pytest

from backends.base import BINARY_OPS, UNARY_OPS, out_dtype_binary, out_dtype_unary
from backends.crender import kernels as K
from backends.crender import layout, ops
from backends.crender.catalog import sources
from backends.crender.dialect import CUDA, OPENCL
from backends.numpy import NumpyBackend

CUDA_ARCH = "compute_75"  # atomicAdd(double*) needs sm_60+; NVRTC 13 starts at compute_75


# -- op table ------------------------------------------------------------------------------
def test_op_table_covers_every_elementwise_op():
    assert set(ops.UNARY) == set(UNARY_OPS)
    assert set(ops.BINARY) == set(BINARY_OPS)
    for op in UNARY_OPS:
        kinds = set(ops.UNARY[op])
        assert kinds == {"b"} if op == "logical_not" else "f" in kinds, op
    for op in BINARY_OPS:
        assert ops.BINARY[op], op


def test_expr_errors_name_the_op_and_dtype():
    with pytest.raises(TypeError, match="'sqrt'.*'int32'"):
        ops.expr(ops.UNARY, "sqrt", "int32", "int", x="v")
    with pytest.raises(ValueError, match="'nope'"):
        ops.expr(ops.UNARY, "nope", "float32", "float", x="v")


def test_dialects_differ_only_in_attributes():
    cl_src = K.render_binary(OPENCL, "add", "float32")
    cu_src = K.render_binary(CUDA, "add", "float32")
    assert "__kernel void binary_add_c" in cl_src and "__global const float*" in cl_src
    assert 'extern "C" __global__ void binary_add_c' in cu_src and "__global" not in cu_src.replace(
        "__global__", ""
    )
    red = K.render_reduce(CUDA, "sum", "float32", 256)
    assert "__shared__ float buf[256]" in red and "__syncthreads();" in red
    assert "__local float buf[256]" in K.render_reduce(OPENCL, "sum", "float32", 256)


# -- layout --------------------------------------------------------------------------------
def test_broadcast_strides_and_collapse():
    assert layout.broadcast_strides((3, 1), (2, 3, 4)) == [0, 1, 0]
    shape, (a, b) = layout.collapse((2, 3, 4), [12, 4, 1], [0, 1, 0])
    assert shape == [2, 3, 4] and a == [12, 4, 1] and b == [0, 1, 0]
    shape, (a, b) = layout.collapse((2, 3, 4), [12, 4, 1], [12, 4, 1])
    assert shape == [24] and a == [1] and b == [1]
    shape, (a,) = layout.collapse((1, 1), [1, 1])
    assert shape == [1] and a == [0]


def test_padded_rejects_too_many_axes():
    with pytest.raises(ValueError, match="at most 6"):
        layout.padded([2] * 7, [[1] * 7], "copy")


def test_split_axes():
    assert layout.split_axes((2, 3, 4), (1,)) == (2, 3, 4)
    assert layout.split_axes((2, 3, 4), (0, 1)) == (1, 6, 4)
    assert layout.split_axes((2, 1, 4), (0, 2)) == (1, 8, 1)
    assert layout.split_axes((2, 3, 4), (0, 2)) is None


# -- OpenCL sources build ------------------------------------------------------------------
def _opencl_context():
    try:
        import pyopencl as cl

        from backends.opencl.devices import chosen

        entry = chosen(probe=True)
    except Exception as exc:  # no pyopencl, no platform, no device
        return None, f"no OpenCL device: {type(exc).__name__}: {exc}"
    return (cl, cl.Context([entry.device]), entry), None


_CL, _CL_REASON = _opencl_context()
_CL_DTYPES = ("float32", "int32", "bool") + (
    ("float64",) if _CL and "cl_khr_fp64" in _CL[2].device.extensions else ()
)
_CL_SOURCES = dict(sources(OPENCL, _CL_DTYPES))


@pytest.mark.parametrize("label", sorted(_CL_SOURCES))
def test_opencl_source_builds(label):
    if _CL is None:
        pytest.skip(_CL_REASON)
    cl, ctx, _ = _CL
    cl.Program(ctx, _CL_SOURCES[label]).build()  # raises with the build log on any error


# -- CUDA sources compile to PTX -----------------------------------------------------------
def _nvrtc():
    """``(module, why_not)``: cuda.bindings' NVRTC when it loads, else why it did not."""
    try:
        from cuda.bindings import nvrtc

        err, *_ = nvrtc.nvrtcVersion()
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return None, f"nvrtcVersion returned {err}"
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return nvrtc, ""


_NVRTC, _NVRTC_WHY = _nvrtc()
# The test extra installs cuda-bindings and the NVRTC wheels: there, a compiler that does not
# load is a broken install and must fail the PTX checks, not skip them silently.
_BINDINGS = importlib.util.find_spec("cuda") is not None and (
    importlib.util.find_spec("cuda.bindings") is not None
)


def _need_compiler() -> None:
    if _NVRTC is not None or _NVCC is not None:
        return
    if _BINDINGS:
        pytest.fail(
            "cuda.bindings is installed but its NVRTC does not load "
            f"({_NVRTC_WHY}); install the NVRTC wheel matching cuda-bindings' major version "
            "(nvidia-cuda-nvrtc-cu12 for 12.x, nvidia-cuda-nvrtc for 13.x)"
        )
    pytest.skip("no CUDA compiler: cuda.bindings is not installed and nvcc is absent")


_NVCC = shutil.which("nvcc") or (
    "/usr/local/bin/nvcc" if os.path.exists("/usr/local/bin/nvcc") else None
)


def compile_ptx(source: str, name: str) -> str:
    """PTX of ``source`` via NVRTC, or ``nvcc -ptx``; raises with the compiler log on error."""
    if _NVRTC is not None:
        nv = _NVRTC
        _, prog = nv.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], [])
        opts = [f"--gpu-architecture={CUDA_ARCH}".encode()]
        (res,) = nv.nvrtcCompileProgram(prog, len(opts), opts)
        if res != nv.nvrtcResult.NVRTC_SUCCESS:
            _, size = nv.nvrtcGetProgramLogSize(prog)
            log = b" " * size
            nv.nvrtcGetProgramLog(prog, log)
            raise AssertionError(f"NVRTC failed on {name}:\n{log.decode(errors='replace')}")
        _, size = nv.nvrtcGetPTXSize(prog)
        ptx = b" " * size
        nv.nvrtcGetPTX(prog, ptx)
        nv.nvrtcDestroyProgram(prog)
        return ptx.decode(errors="replace")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, f"{name}.cu"), os.path.join(tmp, f"{name}.ptx")
        with open(src, "w") as f:
            f.write(source)
        arch = CUDA_ARCH.replace("compute", "sm")
        run = subprocess.run(
            [_NVCC, "-ptx", f"-arch={arch}", src, "-o", out], capture_output=True, text=True
        )
        if run.returncode:
            raise AssertionError(f"nvcc failed on {name}:\n{run.stderr}")
        with open(out) as f:
            return f.read()


_CU_SOURCES = dict(sources(CUDA))


@pytest.mark.parametrize("label", sorted(_CU_SOURCES))
def test_cuda_source_compiles_to_ptx(label):
    _need_compiler()
    ptx = compile_ptx(_CU_SOURCES[label], label)
    assert ".entry" in ptx


@pytest.mark.parametrize("op", ["exp", "log", "sqrt", "tanh", "sigmoid", "softplus", "erf"])
def test_cuda_float32_math_stays_single_precision(op):
    # The C++ overloads must pick the float versions (sin/cos/tan are excluded: CUDA's own
    # sinf slow path uses double arithmetic for huge arguments).
    _need_compiler()
    ptx = compile_ptx(K.render_unary(CUDA, op, "float32"), op)
    assert ".f64" not in ptx


# -- semantics identical to the numpy reference, on every rendered backend ------------------
REF = NumpyBackend()


def _make(name: str):
    if name == "opencl":
        from backends.opencl import OpenCLBackend

        return OpenCLBackend()
    from backends.cuda import CudaBackend

    return CudaBackend()


_BACKENDS: dict = {}


@pytest.fixture(params=["opencl", "cuda"], scope="module")
def be(request):
    name = request.param
    if name not in _BACKENDS:
        try:
            _BACKENDS[name] = _make(name)
        except Exception as exc:  # no driver, no device, no CuPy/pyopencl
            _BACKENDS[name] = f"{type(exc).__name__}: {exc}"
    if isinstance(_BACKENDS[name], str):
        pytest.skip(f"backend {name!r} unavailable: {_BACKENDS[name]}")
    return _BACKENDS[name]


_F = np.array(
    [
        0.0,
        -0.0,
        0.5,
        1.5,
        2.5,
        -0.5,
        -2.5,
        1e-8,
        -3.7,
        3.7,
        20.0,
        -20.0,
        100.0,
        -100.0,
        np.inf,
        -np.inf,
        np.nan,
        7.0,
        -7.0,
        0.3,
    ],
    np.float32,
)
_I = np.array([0, 1, -1, 2, -2, 7, -7, 3, -3, 13, 2**31 - 1, -(2**31), 5, -5, 100, -100], np.int32)
_B = np.array([True, False, True, False, True, True, False, False])
_VALUES = {"float32": _F, "int32": _I, "bool": _B}
_INEXACT = {
    "exp",
    "log",
    "log1p",
    "expm1",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sigmoid",
    "erf",
    "softplus",
    "pow",
    "atan2",
    "sqrt",
    "rsqrt",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "log_sigmoid",
}


def _same(got, want, op):
    if op in _INEXACT and want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-30, equal_nan=True, err_msg=op)
    else:
        np.testing.assert_array_equal(got, want, err_msg=op)


def _cases(table, names):
    for op in names:
        for dt in ("float32", "int32", "bool"):
            if ops.supports(table, op, dt):
                yield op, dt


@pytest.mark.parametrize("op, dtype", list(_cases(ops.UNARY, UNARY_OPS)))
def test_unary_matches_numpy(be, op, dtype):
    x = _VALUES[dtype]
    if op in ("log", "sqrt", "rsqrt", "log1p"):
        x = np.abs(x)
    out_dt = out_dtype_unary(op, dtype)
    got = be.to_numpy(be.unary(op, be.from_numpy(x), x.shape, dtype), x.shape, out_dt)
    _same(got, REF.unary(op, x, x.shape, dtype), op)


@pytest.mark.parametrize("op, dtype", list(_cases(ops.BINARY, BINARY_OPS)))
def test_binary_matches_numpy_on_all_pairs(be, op, dtype):
    v = _VALUES[dtype]
    a, b = v[:, None], v[None, :]  # broadcasting every value against every value
    if op == "pow" and dtype == "float32":
        a = np.abs(a)
    out_shape = (v.size, v.size)
    out_dt = out_dtype_binary(op, dtype)
    got = be.binary(op, be.from_numpy(a), a.shape, be.from_numpy(b), b.shape, out_shape, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = REF.binary(op, a, a.shape, b, b.shape, out_shape, dtype)
    _same(be.to_numpy(got, out_shape, out_dt), want, op)


@pytest.mark.parametrize("src, dst", [(s, d) for s in _VALUES for d in _VALUES if s != d])
def test_cast_matches_numpy(be, src, dst):
    x = _VALUES[src]
    got = be.to_numpy(be.cast(be.from_numpy(x), x.shape, src, dst), x.shape, dst)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(got, REF.cast(x, x.shape, src, dst))


def _dev(be, a):
    if isinstance(a, np.ndarray):
        return be.from_numpy(a)
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return [be.from_numpy(x) for x in a]
    return a


def _check(be, method, *args, out_shape, out_dtype, exact=True):
    """Run ``method`` on both backends (numpy arrays in ``args`` are uploaded) and compare."""
    got = getattr(be, method)(*[_dev(be, a) for a in args])
    want = getattr(REF, method)(*args)
    got = be.to_numpy(got, out_shape, out_dtype)
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize("axes", [(0,), (1,), (2,), (0, 2), (0, 1, 2), (1, 2)])
def test_reduce_matches_numpy(be, op, axes):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 300, 5)).astype(np.float32)
    if op == "prod":
        x = (1 + 0.001 * x).astype(np.float32)
    out_shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    got = be.to_numpy(
        be.reduce(op, be.from_numpy(x), x.shape, "float32", axes), out_shape, "float32"
    )
    np.testing.assert_allclose(
        got, REF.reduce(op, x, x.shape, "float32", axes), rtol=2e-5, atol=1e-4
    )
    xi = rng.integers(-50, 50, size=(4, 200, 3)).astype(np.int32)
    shape_i = tuple(s for i, s in enumerate(xi.shape) if i not in axes)
    got = be.to_numpy(be.reduce(op, be.from_numpy(xi), xi.shape, "int32", axes), shape_i, "int32")
    np.testing.assert_array_equal(got, REF.reduce(op, xi, xi.shape, "int32", axes))


def test_reduce_max_propagates_nan_and_bool_any_all(be):
    x = np.array([[1, np.nan, 3], [4, 5, 6]], np.float32)
    got = be.to_numpy(be.reduce("max", be.from_numpy(x), x.shape, "float32", (1,)), (2,), "float32")
    np.testing.assert_array_equal(got, [np.nan, 6])
    b = np.array([[True, False], [True, True], [False, False]])
    for op in ("any", "all"):
        got = be.to_numpy(be.reduce(op, be.from_numpy(b), b.shape, "bool", (1,)), (3,), "bool")
        np.testing.assert_array_equal(got, REF.reduce(op, b, b.shape, "bool", (1,)))


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reduce_first_index_on_ties_and_nan(be, op):
    x = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [np.nan, 1, np.nan, 5], [0, -1, -1, 0]], np.float32)
    for axis in (0, 1):
        _check(be, "arg_reduce", op, x, (4, 4), "float32", axis, out_shape=(4,), out_dtype="int32")
    big = np.zeros(5000, np.int32)
    big[[1234, 4000]] = 9 if op == "argmax" else -9
    _check(be, "arg_reduce", op, big, (5000,), "int32", 0, out_shape=(), out_dtype="int32")
    nan = np.zeros(3000, np.float32)
    nan[[2500, 2000]] = np.nan  # the tree path: the first NaN wins
    _check(be, "arg_reduce", op, nan, (3000,), "float32", 0, out_shape=(), out_dtype="int32")


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_matches_numpy(be, exclusive, reverse):
    x = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 7
    for axis in range(3):
        _check(
            be,
            "cumsum",
            x,
            x.shape,
            "int32",
            axis,
            exclusive,
            reverse,
            out_shape=x.shape,
            out_dtype="int32",
        )


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_batched_transposed_odd_sizes(be, ta, tb):
    rng = np.random.default_rng(2)
    b, m, k, n = 3, 37, 45, 33
    a = rng.normal(size=(b, k, m) if ta else (b, m, k)).astype(np.float32)
    c = rng.normal(size=(b, n, k) if tb else (b, k, n)).astype(np.float32)
    got = be.matmul(be.from_numpy(a), a.shape, be.from_numpy(c), c.shape, "float32", ta, tb)
    want = REF.matmul(a, a.shape, c, c.shape, "float32", ta, tb)
    np.testing.assert_allclose(be.to_numpy(got, (b, m, n), "float32"), want, rtol=1e-4, atol=1e-4)
    ai, ci = (a * 10).astype(np.int32), (c * 10).astype(np.int32)
    got = be.matmul(be.from_numpy(ai), a.shape, be.from_numpy(ci), c.shape, "int32", ta, tb)
    np.testing.assert_array_equal(
        be.to_numpy(got, (b, m, n), "int32"), REF.matmul(ai, a.shape, ci, c.shape, "int32", ta, tb)
    )


def test_shape_primitives_match_numpy(be):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    _check(
        be,
        "transpose",
        x,
        x.shape,
        "float32",
        (2, 0, 3, 1),
        out_shape=(4, 2, 5, 3),
        out_dtype="float32",
    )
    _check(
        be,
        "slice",
        x,
        x.shape,
        "float32",
        (1, 2, 3, 0),
        (1, 2, 2, 3),
        (1, -1, -2, 2),
        out_shape=(1, 2, 2, 3),
        out_dtype="float32",
    )
    _check(
        be,
        "slice",
        x,
        x.shape,
        "float32",
        (0, 0, 0, 0),
        (2, 0, 4, 5),
        (1, 1, 1, 1),
        out_shape=(2, 0, 4, 5),
        out_dtype="float32",
    )
    y = x[:, :2] + 1000
    _check(
        be,
        "concat",
        [x, y],
        [x.shape, y.shape],
        "float32",
        1,
        out_shape=(2, 5, 4, 5),
        out_dtype="float32",
    )
    b = x > 50
    _check(
        be,
        "pad",
        b,
        b.shape,
        "bool",
        ((0, 1), (2, 0), (1, 1), (0, 0)),
        True,
        out_shape=(3, 5, 6, 5),
        out_dtype="bool",
    )
    _check(
        be,
        "pad",
        x,
        x.shape,
        "float32",
        ((1, 0), (0, 0), (0, 2), (1, 1)),
        -1.5,
        out_shape=(3, 3, 6, 7),
        out_dtype="float32",
    )


def test_gather_scatter_one_hot_fill_where(be):
    x = np.arange(60, dtype=np.int32).reshape(3, 4, 5)
    idx = np.array([[3, 0], [3, 1]], np.int32)
    _check(
        be,
        "gather",
        x,
        x.shape,
        "int32",
        idx,
        idx.shape,
        1,
        out_shape=(3, 2, 2, 5),
        out_dtype="int32",
    )
    u = np.random.default_rng(3).normal(size=(3, 2, 2, 5)).astype(np.float32)
    _check(
        be,
        "scatter_add",
        u,
        u.shape,
        "float32",
        idx,
        idx.shape,
        1,
        4,
        out_shape=(3, 4, 5),
        out_dtype="float32",
        exact=False,
    )
    ui = (u * 10).astype(np.int32)
    _check(
        be,
        "scatter_add",
        ui,
        ui.shape,
        "int32",
        idx,
        idx.shape,
        1,
        4,
        out_shape=(3, 4, 5),
        out_dtype="int32",
    )
    oh = np.array([0, 2, -1, 3, 1], np.int32)
    _check(be, "one_hot", oh, oh.shape, 3, 5, -2, "int32", out_shape=(5, 3), out_dtype="int32")
    _check(be, "one_hot", oh, oh.shape, 3, 1, 0, "bool", out_shape=(5, 3), out_dtype="bool")
    _check(be, "fill", (2, 3), 2.7, "int32", out_shape=(2, 3), out_dtype="int32")
    c = np.array([[True], [False]])
    a = np.arange(3, dtype=np.float32)
    bb = np.float32(-1) * np.ones((2, 1), np.float32)
    _check(
        be,
        "where",
        c,
        c.shape,
        a,
        a.shape,
        bb,
        bb.shape,
        (2, 3),
        "float32",
        out_shape=(2, 3),
        out_dtype="float32",
    )


def test_zero_size_tensors(be):
    z = np.zeros((0, 3), np.float32)
    buf = be.from_numpy(z)
    assert be.to_numpy(be.unary("exp", buf, z.shape, "float32"), z.shape, "float32").shape == (0, 3)
    s = be.reduce("sum", buf, z.shape, "float32", (0,))
    np.testing.assert_array_equal(be.to_numpy(s, (3,), "float32"), [0, 0, 0])


@pytest.mark.parametrize("op", ["sum", "max", "min"])
def test_long_reductions_split_in_chunks(be, op):
    # Few outputs over a long axis take the chunked tree (partials, then a second pass).
    x = np.random.default_rng(4).normal(size=(2, 200_003)).astype(np.float32)
    for axes, out_shape in (((0, 1), ()), ((1,), (2,))):
        got = be.to_numpy(
            be.reduce(op, be.from_numpy(x), x.shape, "float32", axes), out_shape, "float32"
        )
        want = getattr(np, op)(x.astype(np.float64), axis=axes)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-3)


@pytest.mark.parametrize("config", K.GEMM_CONFIGS)
def test_matmul_every_tiling(be, config, monkeypatch):
    tile, wpt = config
    # Leave exactly enough local memory for this tiling so the backend picks it.
    monkeypatch.setattr(be, "local_mem_bytes", 2 * tile * (tile + 1) * 4)
    assert be._gemm_config("float32") == config
    rng = np.random.default_rng(5)
    a = rng.normal(size=(2, 70, 33)).astype(np.float32)
    b = rng.normal(size=(2, 33, 129)).astype(np.float32)
    got = be.matmul(be.from_numpy(a), a.shape, be.from_numpy(b), b.shape, "float32", False, False)
    np.testing.assert_allclose(
        be.to_numpy(got, (2, 70, 129), "float32"), a @ b, rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("log_", [False, True])
@pytest.mark.parametrize("shape", [(3, 7, 5), (3, 300, 5), (2, 1000)])
def test_fused_softmax_matches_the_composite(be, log_, shape):
    x = (np.random.default_rng(6).normal(size=shape) * 30).astype(np.float32)
    x.flat[0] = -np.inf
    for axis in range(len(shape)):
        z = x - x.max(axis, keepdims=True)
        if log_:
            want = z - np.log(np.exp(z).sum(axis, keepdims=True))
        else:
            want = np.exp(z) / np.exp(z).sum(axis, keepdims=True)
        fn = be.log_softmax if log_ else be.softmax
        got = be.to_numpy(fn(be.from_numpy(x), shape, "float32", axis), shape, "float32")
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_fused_optimizer_updates_match_the_composites(be):
    from backends.crender.fused import UPDATES

    assert {"softmax", "log_softmax", *UPDATES} <= be.fused
    rng = np.random.default_rng(7)
    w, g, a, v = (rng.normal(size=(5, 7)).astype(np.float32) for _ in range(4))
    v = np.abs(v)
    f = np.float32
    dev = [be.from_numpy(t) for t in (w, g, a, v)]

    def run(name, slots, **hyper):
        outs = getattr(be, name)(
            w.shape, "float32", dev[0], dev[1], tuple(dev[2 : 2 + slots]), **hyper
        )
        return [be.to_numpy(o, w.shape, "float32") for o in outs]

    (nw,) = run("sgd_update", 0, lr=0.1)
    np.testing.assert_allclose(nw, w - g * f(0.1), rtol=1e-6)
    for nesterov in (False, True):
        nw, na = run("momentum_update", 1, lr=0.1, momentum=0.9, nesterov=nesterov)
        acc = a * f(0.9) + g
        step = g + acc * f(0.9) if nesterov else acc
        np.testing.assert_allclose(na, acc, rtol=1e-6)
        np.testing.assert_allclose(nw, w - step * f(0.1), rtol=1e-6)
    nw, m, vv = run("adam_update", 2, lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-7, t=3)
    em = a * f(0.9) + g * f(1 - 0.9)
    ev = v * f(0.999) + g * g * f(1 - 0.999)
    step = (em / f(1 - 0.9**3)) / (np.sqrt(ev / f(1 - 0.999**3)) + f(1e-7))
    np.testing.assert_allclose(m, em, rtol=1e-6)
    np.testing.assert_allclose(vv, ev, rtol=1e-6)
    np.testing.assert_allclose(nw, w - step * f(0.01), rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "nslots", "hyper"),
    [
        ("sgd_update", 0, {"lr": 0.1}),
        ("momentum_update", 1, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("adam_update", 2, {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "t": 3}),
    ],
)
def test_update_many_equals_one_update_per_variable(be, name, nslots, hyper):
    """``<kind>_update_many`` over more variables than one launch takes (``MANY_MAX``), one of
    them empty, gives exactly what each variable's own update kernel gives."""
    from backends.crender.fused import MANY_MAX

    rng = np.random.default_rng(8)
    shapes = [(5, 7), (3,), (0, 4), (130, 3), *[(k + 1, 2) for k in range(MANY_MAX)]]
    host = [
        [np.abs(rng.normal(size=s)).astype(np.float32) for _ in range(2 + nslots)] for s in shapes
    ]
    dev = [[be.from_numpy(a) for a in arrays] for arrays in host]
    got = getattr(be, name + "_many")(
        shapes,
        "float32",
        [d[0] for d in dev],
        [d[1] for d in dev],
        [tuple(d[2:]) for d in dev],
        **hyper,
    )
    assert len(got) == len(shapes)
    for shape, d, outs in zip(shapes, dev, got, strict=True):
        want = getattr(be, name)(shape, "float32", d[0], d[1], tuple(d[2:]), **hyper)
        assert len(outs) == len(want) == 1 + nslots
        for o, w in zip(outs, want, strict=True):
            np.testing.assert_array_equal(
                be.to_numpy(o, shape, "float32"), be.to_numpy(w, shape, "float32")
            )


def test_update_many_rejects_mismatched_lists(be):
    w = be.from_numpy(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="2 shapes, 1 variables"):
        be.sgd_update_many([(3,), (3,)], "float32", [w], [w], [()], lr=0.1)
    with pytest.raises(ValueError, match="expected 2 slot buffers, got 1"):
        be.adam_update_many(
            [(3,)], "float32", [w], [w], [(w,)], lr=0.1, beta1=0.9, beta2=0.9, epsilon=1e-7, t=1
        )
