"""cpu backend's streaming (non-temporal store) kernels: the same bits as numpy for every
alignment, block split and size, and used by the backend only where it measured faster."""

from __future__ import annotations

import numpy as np
import pytest

import backends.cpu.primitives.elementwise as E
import engine as tw
from backends.cpu import CpuBackend
from backends.cpu import kernels as K
from backends.cpu.launch import broadcast_strides
from backends.cpu.native import stream as S

pytestmark = pytest.mark.skipif(
    not S.AVAILABLE, reason="non-temporal store kernels need x86-64 (llvm.x86.sse.sfence)"
)

OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}
DTYPES = (np.float32, np.float64)
SIZES = (0, 1, 15, 16, 17, 1000, (1 << 20) + 3)


def _stream(op, a, b, block, out_off=0, serial=False):
    """The streaming kernel into ``out[out_off:]`` of a fresh buffer (misaligned for off > 0)."""
    n = a.size
    shape, st = broadcast_strides(((n,), (n,)), (n,))
    buf = np.full(n + out_off, np.nan, a.dtype)
    out = buf[out_off:]
    code = K.BINARY_ARITH.index(op)
    if serial:
        S.arith_stream(code, a, b, out, shape, st, 0, n)
    else:
        S.arith_stream_par(code, a, b, out, shape, st, block)
    assert np.isnan(buf[:out_off]).all()  # nothing written before the view
    return out


def _same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.view(np.uint8), np.ascontiguousarray(want).view(np.uint8))


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("n", SIZES)
def test_stream_matches_numpy(rng, dt, op, n):
    a, b = (rng.standard_normal(n).astype(dt) for _ in range(2))
    b[::7] = 0  # div: inf and nan as numpy gives them
    with np.errstate(all="ignore"):
        want = OPS[op](a, b)
    for block in (max(n, 1), 1000, 4099):  # one block; blocks not a multiple of a vector
        _same_bits(_stream(op, a, b, block), want)
    _same_bits(_stream(op, a, b, 1, serial=True), want)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("out_off", [1, 3, 5])
@pytest.mark.parametrize("in_off", [0, 1, 3])
def test_stream_misaligned(rng, dt, out_off, in_off):
    n = 50_000 + 7
    a = rng.standard_normal(n + in_off).astype(dt)[in_off:]
    b = rng.standard_normal(n + 2 * in_off).astype(dt)[2 * in_off :]
    for block in (n, 3000, 2048 * 3 + 5):
        _same_bits(_stream("add", a, b, block, out_off), a + b)
        _same_bits(_stream("mul", a, b, block, out_off), a * b)


@pytest.fixture
def streaming(monkeypatch):
    """The backend's streaming path from 1 MiB; counts its calls."""
    calls = []
    kernel = S.arith_stream_par

    def spy(*args):
        calls.append(args[3].nbytes)
        kernel(*args)

    monkeypatch.setattr(E, "STREAM_MIN_BYTES", 1 << 20)
    monkeypatch.setattr(S, "arith_stream_par", spy)
    return calls


def test_backend_streams_only_same_shape_arithmetic_in_its_window(rng, streaming):
    n = (1 << 20) // 4 + 5  # float32 elements: just above the lowered threshold
    be = CpuBackend(adaptive=False)
    be.parallel_threshold = 0
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    _same_bits(be.binary("add", a, (n,), b, (n,), (n,), "float32"), a + b)
    _same_bits(be.binary("div", a, (n,), b, (n,), (n,), "float32"), a / b)
    assert len(streaming) == 2
    m, r = rng.standard_normal((200, 1)), rng.standard_normal((1000,))  # broadcast: plain
    _same_bits(be.binary("mul", m, m.shape, r, r.shape, (200, 1000), "float64"), m * r)
    _same_bits(be.binary("maximum", a, (n,), b, (n,), (n,), "float32"), np.maximum(a, b))
    small = a[:1000]
    _same_bits(be.binary("sub", small, (1000,), small, (1000,), (1000,), "float32"), small - small)
    big = np.zeros(E.STREAM_MAX_BYTES // 4, np.float32)  # from 32 MiB: plain stores
    _same_bits(be.binary("add", big, big.shape, big, big.shape, big.shape, "float32"), big)
    assert len(streaming) == 2


def test_public_add_streams(cpu, rng, streaming):
    n = (1 << 20) // 4 + 1000
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    for _ in range(4):  # the adaptive chooser's first runs try both paths
        _same_bits(tw.add(tw.tensor(a), tw.tensor(b)).numpy(), a + b)
    assert streaming
