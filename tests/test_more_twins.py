"""numpy twins of the cpu kernels that had none (issue 17 item 3: a cold cache never compiles
on the training thread): integer and predicate elementwise kernels, the split reductions,
cumsum, scatter_add and the integer matmul, each against its compiled numba kernel. The
``_par`` twins run the same numpy code over the whole range; each is checked against the
serial kernel's result (so the test compiles serial kernels only)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu import kernels as K
from backends.cpu import tiers
from backends.cpu.launch import broadcast_strides
from engine import optable

_RNG = np.random.default_rng(11)
F, I32 = np.float32, np.int32


def _kernel(name: str, args: list) -> list:
    """Run the numba kernel ``name`` (compiled here, never a twin) on copies of ``args``."""
    a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    disp = getattr(K, name)
    disp.compile(tuple(disp.typeof_pyval(v) for v in a))
    disp(*a)
    return a


def _twin(name: str, args: list) -> list:
    a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    tiers.FALLBACKS[name](*a)
    return a


def _check(name: str, args: list, par_args: list | None, out: int, par_out: int, exact=True):
    ref = _kernel(name, args)[out]
    got = _twin(name, args)[out]
    cmp = np.testing.assert_array_equal if exact else _close
    cmp(got, ref, err_msg=name)
    if par_args is not None:
        cmp(_twin(name + "_par", par_args)[par_out], ref, err_msg=name + "_par")


def _close(got, ref, err_msg=""):
    np.testing.assert_allclose(got, ref, rtol=4e-6, atol=1e-6, err_msg=err_msg)


def test_every_kernel_has_a_twin_unless_listed() -> None:
    """Kernels the backend launches that still compile on first call: said here, not hidden."""
    launched = [n for n in dir(K) if not n.startswith("_") and hasattr(getattr(K, n), "overloads")]
    helpers = {"advance_offsets", "unravel_offsets", "n_blocks", "float_divmod"}
    extreme = {n for n in launched if n.startswith("reduce_f32_extreme")}  # bit tricks
    missing = set(launched) - set(tiers.FALLBACKS) - helpers - extreme
    assert not missing, sorted(missing)


def test_integer_and_predicate_elementwise_twins() -> None:
    x = _RNG.integers(-50, 50, 60).astype(I32)
    for op, name in enumerate(K.UNARY_INT):
        v = np.abs(x) if name in ("sqrt", "rsqrt", "log") else x
        args = [op, v, np.empty(60, I32), 0, 60]
        _check("unary_int", args, [op, v, np.empty(60, I32), 1024], 2, 2)
    xf = _RNG.standard_normal(60).astype(F)
    xf[:3] = [np.nan, np.inf, -np.inf]
    for op, name in enumerate(K.UNARY_PRED):
        if "f" not in optable.UNARY[name].kinds:
            continue
        args = [op, xf, np.empty(60, np.bool_), 0, 60]
        _check("unary_pred", args, [op, xf, np.empty(60, np.bool_), 1024], 2, 2)
    a = _RNG.integers(-1000, 1000, (3, 20)).astype(I32)
    b = _RNG.integers(1, 30, (1, 20)).astype(I32)  # no zero divisors, small exponents
    shape, st = broadcast_strides(((3, 20), (1, 20)), (3, 20))
    for op, name in enumerate(K.BINARY_ARITH):
        if "i" not in optable.BINARY[name].kinds:
            continue
        bb = np.minimum(b, 3) if name == "pow" else b
        args = [op, a.reshape(-1), bb.reshape(-1), np.empty(60, I32), shape, st, 0, 60]
        par = [op, a.reshape(-1), bb.reshape(-1), np.empty(60, I32), shape, st, 1024]
        _check("binary_int", args, par, 3, 3)


@pytest.mark.parametrize("dtype", [F, I32])
def test_cumsum_scatter_add_and_int_matmul_twins(dtype) -> None:
    x = (_RNG.standard_normal((4, 9, 5)) * 10).astype(dtype)
    for exclusive in (False, True):
        for reverse in (False, True):
            args = [x.reshape(-1), np.empty(x.size, dtype), 9, 5, exclusive, reverse, 0, 4]
            par = [x.reshape(-1), np.empty(x.size, dtype), 4, 9, 5, exclusive, reverse, 1]
            _check("cumsum", args, par, 1, 1)
    # scatter_add with repeated indices: in index order, as the kernel
    u = _RNG.standard_normal((2, 6, 5)).astype(dtype)
    idx = np.array([3, 0, 3, 1, 3, 0], I32)
    out0 = _RNG.standard_normal((2, 4, 5)).astype(dtype)
    args = [u.reshape(-1), idx, out0.reshape(-1), 4, 5, 6, 0, 2, 0, 5]
    par = [u.reshape(-1), idx, out0.reshape(-1), 2, 4, 5, 6, 2]
    _check("scatter_add", args, par, 2, 2)
    if dtype is I32:  # matmul_int: batched, transposed operands, wrapping products
        big = _RNG.integers(-(2**20), 2**20, (2, 7, 3)).astype(I32)  # op(a): (2, 3, 7)
        b = _RNG.integers(-(2**20), 2**20, (2, 7, 4)).astype(I32)
        out = np.empty(2 * 3 * 4, I32)
        args = [big.reshape(-1), b.reshape(-1), out, 3, 7, 4, True, False, 0, 6]
        par = [big.reshape(-1), b.reshape(-1), out, 2, 3, 7, 4, True, False, 2]
        _check("matmul_int", args, par, 2, 2)
        part = [big.reshape(-1), b.reshape(-1), np.zeros(24, I32), 3, 7, 4, True, False, 2, 5]
        np.testing.assert_array_equal(_twin("matmul_int", part)[2], _kernel("matmul_int", part)[2])


def test_split_reduction_twins() -> None:
    x = _RNG.standard_normal((3, 23)).astype(F)
    z, o = F(0), F(1)
    for op in range(4):
        k, chunk = 3, 8  # chunks of 8, 8, 7
        args = [op, x.reshape(-1), np.empty(3 * k, F), 23, k, chunk, z, o, 0, 3 * k]
        par = [op, x.reshape(-1), np.empty(3 * k, F), 23, k, chunk, z, o]
        _check("reduce_rows_split", args, par, 2, 2, exact=op >= 2)
        part = [op, x.reshape(-1), np.zeros(3 * k, F), 23, k, chunk, z, o, 2, 7]
        _close(_twin("reduce_rows_split", part)[2], _kernel("reduce_rows_split", part)[2])
    y = _RNG.standard_normal((2, 11, 4)).astype(F)
    for op in range(4):
        k, rows = 3, 4  # row blocks of 4, 4, 3
        args = [op, y.reshape(-1), np.empty(2 * k * 4, F), 11, 4, k, rows, 0, 2 * k]
        par = [op, y.reshape(-1), np.empty(2 * k * 4, F), 11, 4, k, rows]
        _check("reduce_mid_split", args, par, 2, 2, exact=op >= 2)
