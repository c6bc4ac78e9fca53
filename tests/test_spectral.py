"""complex64 tensors, ``tw.spectral`` (fft, ifft, rfft, irfft) and ``tw.signal`` (frame, stft,
windows) on every backend, against numpy.fft and numpy references, with gradients by finite
differences and the error cases."""

from __future__ import annotations

import doctest
import gc
import importlib

import numpy as np
import pytest

import engine as tw
from tests._oracle import check_grads

RNG = np.random.default_rng(7)


def _c(shape, rng=RNG) -> np.ndarray:
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)


def _close(t: tw.Tensor, ref, rel: float = 1e-5) -> None:
    """``t`` equals ``ref`` (float64/complex128) within float32 rounding of a transform: the
    error is measured against the largest magnitude, as DFT rounding errors are."""
    ref = np.asarray(ref)
    got = t.numpy()
    assert got.shape == ref.shape, f"shape {got.shape} != {ref.shape}"
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    err = float(np.abs(got.astype(np.complex128) - ref).max()) if ref.size else 0.0
    assert err <= rel * scale, f"max error {err:.3g} > {rel:g} * {scale:.3g}"


# --- complex64 tensors ---------------------------------------------------------------------------
def test_complex_real_imag_round_trip(backend):
    re = RNG.normal(size=(2, 3)).astype(np.float32)
    im = RNG.normal(size=(2, 3)).astype(np.float32)
    z = tw.complex(re, im)
    assert isinstance(z, tw.Tensor) and z.dtype == "complex64" and z.shape == (2, 3)
    assert z.rank == 2 and z.size == 6 and z.backend == backend
    got = z.numpy()
    assert got.dtype == np.complex64
    np.testing.assert_array_equal(got, re + 1j * im)
    np.testing.assert_array_equal(tw.real(z).numpy(), re)
    np.testing.assert_array_equal(tw.imag(z).numpy(), im)
    assert tw.real(z).dtype == "float32" and tw.imag(z).dtype == "float32"
    # host complex arrays and scalars round trip; reals into complex64 get zero imaginary parts
    arr = _c((4,))
    t = tw.tensor(arr)
    assert t.dtype == "complex64" and t.backend == backend
    np.testing.assert_array_equal(t.numpy(), arr)
    np.testing.assert_array_equal(np.asarray(t), arr)
    assert tw.tensor(2 - 3j).item() == 2 - 3j
    np.testing.assert_array_equal(tw.tensor([1, 2], dtype="complex64").numpy(), [1, 2])
    assert tw.tensor(1 + 1j, shape=[2, 2]).numpy().tolist() == [[1 + 1j] * 2] * 2
    # real/imag of real tensors, as numpy; ints become float32 parts
    np.testing.assert_array_equal(tw.real(tw.tensor([1.0, 2.0])).numpy(), [1, 2])
    np.testing.assert_array_equal(tw.imag(tw.tensor([1.0, 2.0])).numpy(), [0, 0])
    assert tw.complex(tw.tensor([1, 2], dtype="int32"), [0, 1]).numpy().tolist() == [1, 2 + 1j]
    # cast: to complex64 adds zero imaginary parts, from complex64 keeps the real parts (TF.js)
    assert tw.cast(tw.tensor([1.5]), "complex64").numpy().tolist() == [1.5 + 0j]
    assert tw.cast(z, "complex64") is z
    np.testing.assert_array_equal(tw.cast(z, "float32").numpy(), re)
    assert "complex64" in repr(z)
    # a complex tensor made on another backend moves with its parts, as real tensors do
    with tw.backend_scope("numpy"):
        w = tw.tensor(arr)
    _close(tw.spectral.fft(w * 2.0), np.fft.fft(2.0 * arr.astype(np.complex128)))


def test_complex_arithmetic_matches_numpy(backend):
    a, b = _c((2, 3)), _c((3,))
    za, zb = tw.tensor(a), tw.tensor(b)
    x = RNG.normal(size=(2, 1)).astype(np.float32)
    a64, b64 = a.astype(np.complex128), b.astype(np.complex128)
    for got, ref in [
        (tw.add(za, zb), a64 + b64),
        (za - zb, a64 - b64),
        (za * zb, a64 * b64),
        (tw.div(za, zb), a64 / b64),
        (-za, -a64),
        (za + tw.tensor(x), a64 + x),
        (tw.tensor(x) * za, x * a64),
        (za * (2 - 1j), a64 * (2 - 1j)),
        (1j - za, 1j - a64),
        (za + b, a64 + b64),  # a numpy complex array operand
        (tw.conj(za), np.conj(a64)),
        (za.conj(), np.conj(a64)),
    ]:
        assert got.dtype == "complex64"
        _close(got, ref, 1e-6)
    m = tw.abs(za)
    assert m.dtype == "float32"
    np.testing.assert_allclose(m.numpy(), np.abs(a64), rtol=1e-6)
    np.testing.assert_allclose(abs(tw.complex([0.0, 3.0], [0.0, 4.0])).numpy(), [0.0, 5.0])


def test_complex_shape_ops(backend):
    a = _c((2, 3, 4))
    z = tw.tensor(a)
    for got, ref in [
        (tw.reshape(z, [6, 4]), a.reshape(6, 4)),
        (z.reshape(4, 6), a.reshape(4, 6)),
        (tw.transpose(z, [2, 0, 1]), a.transpose(2, 0, 1)),
        (z.T, a.T),
        (tw.slice(z, [0, 1, 1], [2, 2, -1]), a[:, 1:3, 1:]),
        (z[1, ::2, -1], a[1, ::2, -1]),
        (tw.concat([z, z[:, :1]], axis=1), np.concatenate([a, a[:, :1]], axis=1)),
        (tw.concat([z, tw.ones([2, 3, 1])], axis=-1), np.concatenate([a, np.ones((2, 3, 1))], -1)),
        (tw.stack([z, z], axis=1), np.stack([a, a], axis=1)),
        (tw.expand_dims(z, 0), a[None]),
        (tw.squeeze(tw.expand_dims(z, 2)), a),
    ]:
        assert got.dtype == "complex64"
        np.testing.assert_array_equal(got.numpy(), ref)
    assert [r.numpy().tolist() for r in z[0, 0]] == a[0, 0].tolist()


def test_complex_memory_tidy_keep_dispose(backend):
    z0 = tw.complex([1.0], [2.0])
    y = tw.tidy(lambda: tw.mul(z0, 2.0))
    assert not y.is_disposed and y.numpy().tolist() == [2 + 4j]
    with tw.tidy():
        tmp = z0 * 3.0
        kept = tw.keep(z0 + 1.0)
    assert tmp.is_disposed and not kept.is_disposed
    assert kept.numpy().tolist() == [2 + 2j]
    kept.dispose()
    assert kept.is_disposed
    with pytest.raises(RuntimeError, match="disposed"):
        kept.numpy()
    gc.collect()
    before = tw.memory()["num_tensors"]
    for _ in range(3):
        tw.tidy(lambda: tw.spectral.fft(z0 * z0))
    gc.collect()
    assert tw.memory()["num_tensors"] == before


def test_complex_unsupported_ops_name_complex64(backend):
    z = tw.complex([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(TypeError, match=r"exp does not support complex64.*tw\.real"):
        tw.exp(z)
    with pytest.raises(TypeError, match=r"maximum does not support complex64"):
        tw.maximum(z, 1.0)
    with pytest.raises(TypeError, match=r"does not support complex64"):
        tw.sum(z)
    with pytest.raises(ValueError, match=r"complex: real and imag must have the same shape"):
        tw.complex([1.0, 2.0], [1.0])
    with pytest.raises(TypeError, match=r"complex: real must be real"):
        tw.complex(z, [1.0, 2.0])
    with pytest.raises(TypeError, match=r"complex values are not supported"):
        tw.tensor([1 + 1j], dtype="float32")
    with pytest.raises(ValueError, match=r"1e\+300 is too large for float32"):
        tw.tensor(np.array([1.0 + 1e300j]))  # each part is checked as float32 host values


# --- spectral --------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 17, 64])
def test_fft_ifft_match_numpy(backend, n):
    rng = np.random.default_rng(n)
    a = _c((2, 3, n), rng)
    z = tw.tensor(a)
    f = tw.spectral.fft(z)
    assert f.dtype == "complex64" and f.shape == a.shape
    _close(f, np.fft.fft(a.astype(np.complex128)))
    _close(tw.spectral.ifft(z), np.fft.ifft(a.astype(np.complex128)))
    _close(tw.spectral.ifft(f), a.astype(np.complex128))
    v = _c((n,), rng)  # rank 1
    _close(tw.spectral.fft(v), np.fft.fft(v.astype(np.complex128)))


@pytest.mark.parametrize(
    "n, fft_length", [(8, None), (7, None), (1, None), (8, 5), (8, 12), (6, 6)]
)
def test_rfft_matches_numpy(backend, n, fft_length):
    x = np.random.default_rng(n).normal(size=(3, n)).astype(np.float32)
    r = tw.spectral.rfft(tw.tensor(x), fft_length)
    m = (fft_length or n) // 2 + 1
    assert r.dtype == "complex64" and r.shape == (3, m)
    _close(r, np.fft.rfft(x.astype(np.float64), n=fft_length))
    r1 = tw.spectral.rfft(x[0], fft_length)  # rank 1, host input
    _close(r1, np.fft.rfft(x[0].astype(np.float64), n=fft_length))


@pytest.mark.parametrize("m, fft_length", [(5, None), (2, None), (9, None), (5, 9), (5, 4), (3, 1)])
def test_irfft_matches_numpy(backend, m, fft_length):
    a = _c((2, 2, m), np.random.default_rng(m))
    y = tw.spectral.irfft(tw.tensor(a), fft_length)
    n = fft_length or 2 * (m - 1)
    assert y.dtype == "float32" and y.shape == (2, 2, n)
    _close(y, np.fft.irfft(a.astype(np.complex128), n=fft_length))


def test_rfft_irfft_round_trip_and_long_lengths(backend):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 10)).astype(np.float32)
    _close(tw.spectral.irfft(tw.spectral.rfft(tw.tensor(x))), x)
    _close(tw.spectral.irfft(tw.spectral.rfft(tw.tensor(x[:, :9])), 9), x[:, :9])
    # a few thousand points: the host matrices (float64 angles, exact j*k mod n) keep the
    # error at float32 rounding of the largest magnitude
    n = 2500
    a = _c((1, n), rng)
    _close(tw.spectral.fft(tw.tensor(a)), np.fft.fft(a.astype(np.complex128)), 1e-5)
    _close(tw.spectral.rfft(tw.tensor(a.real)), np.fft.rfft(a.real.astype(np.float64)), 1e-5)


def test_spectral_gradients(backend):
    rng = np.random.default_rng(5)
    re, im = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))

    def parts(z):
        return tw.concat([tw.real(z), tw.imag(z)], axis=-1)

    check_grads(lambda r, i: parts(tw.spectral.fft(tw.complex(r, i))), re, im)
    check_grads(lambda r, i: parts(tw.spectral.ifft(tw.complex(r, i))), re, im)
    check_grads(lambda r, i: tw.spectral.irfft(tw.complex(r, i)), re, im)
    check_grads(lambda r, i: tw.spectral.irfft(tw.complex(r, i), 7), re, im)
    check_grads(lambda x: parts(tw.spectral.rfft(x)), re)
    check_grads(lambda x: parts(tw.spectral.rfft(x, 8)), re)
    check_grads(lambda x: parts(tw.spectral.rfft(x, 3)), re)
    check_grads(lambda r, i: tw.abs(tw.complex(r, i) * tw.complex(i, r)), re, im)
    check_grads(lambda r, i: parts(tw.complex(r, i) / (tw.complex(i, r) + 3.0)), re, im)
    # TF's convention for a real loss L(Y), Y = fft(z): dL/dRe z + i dL/dIm z = n ifft(G)
    g = _c((2, 5), rng).astype(np.complex128)
    gr, gi = (tw.tensor(g.real.astype(np.float32)), tw.tensor(g.imag.astype(np.float32)))

    def loss(r, i):
        y = tw.spectral.fft(tw.complex(r, i))
        return tw.sum(tw.real(y) * gr + tw.imag(y) * gi)

    d_re, d_im = tw.grads(loss)(tw.tensor(re.astype(np.float32)), tw.tensor(im.astype(np.float32)))
    np.testing.assert_allclose(
        d_re.numpy() + 1j * d_im.numpy(), 5 * np.fft.ifft(g), rtol=1e-4, atol=1e-5
    )
    # abs has gradient 0 (not NaN) at 0, as TF's ComplexAbs
    d0 = tw.grads(lambda r, i: tw.sum(tw.abs(tw.complex(r, i))))(tw.zeros([2]), tw.zeros([2]))
    assert [d.numpy().tolist() for d in d0] == [[0.0, 0.0], [0.0, 0.0]]


def test_spectral_errors():
    z = tw.complex([1.0, 2.0], [0.0, 0.0])
    x = tw.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=r"spectral\.fft: input must be complex64, got a float32"):
        tw.spectral.fft(x)
    with pytest.raises(TypeError, match=r"spectral\.ifft: input must be complex64"):
        tw.spectral.ifft([1.0, 2.0])
    with pytest.raises(TypeError, match=r"spectral\.irfft: input must be complex64"):
        tw.spectral.irfft(x)
    with pytest.raises(TypeError, match=r"spectral\.rfft: input must be real"):
        tw.spectral.rfft(z)
    with pytest.raises(ValueError, match=r"spectral\.fft: input must have rank >= 1"):
        tw.spectral.fft(tw.tensor(1 + 1j))
    with pytest.raises(ValueError, match=r"spectral\.rfft: fft_length must be an integer >= 1"):
        tw.spectral.rfft(x, 0)
    with pytest.raises(
        ValueError, match=r"spectral\.rfft: fft_length must be an integer, got 2\.5"
    ):
        tw.spectral.rfft(x, 2.5)
    with pytest.raises(TypeError, match=r"spectral\.rfft: fft_length must be an int, got '4'"):
        tw.spectral.rfft(x, "4")
    with pytest.raises(
        ValueError, match=r"spectral\.irfft: the innermost axis must have at least 2"
    ):
        tw.spectral.irfft(tw.complex([1.0], [0.0]))
    with pytest.raises(ValueError, match=r"spectral\.irfft: fft_length must be an integer >= 1"):
        tw.spectral.irfft(z, -2)
    with pytest.raises(ValueError, match=r"spectral\.rfft: the innermost axis of shape \(0,\)"):
        tw.spectral.rfft(tw.zeros([0]))


# --- signal ----------------------------------------------------------------------------------
def _frame_ref(x: np.ndarray, length: int, step: int, pad_end: bool, pad_value: float):
    """TF.js's frame loop, on the last axis."""
    n = x.shape[-1]
    out, start = [], 0
    while start + length <= n:
        out.append(x[..., start : start + length])
        start += step
    if pad_end:
        while start < n:
            part = x[..., start:n]
            fill = np.full(x.shape[:-1] + (start + length - n,), pad_value, x.dtype)
            out.append(np.concatenate([part, fill], axis=-1))
            start += step
    if not out:
        return np.zeros(x.shape[:-1] + (0, length), x.dtype)
    return np.stack(out, axis=-2)


@pytest.mark.parametrize(
    "n, length, step, pad_end",
    [(10, 4, 2, False), (10, 4, 3, False), (10, 4, 3, True), (9, 3, 3, False), (9, 3, 3, True),
     (5, 7, 2, False), (5, 7, 2, True), (6, 1, 1, False), (6, 2, 5, True)],
)  # fmt: skip
def test_frame_matches_tfjs_loop(backend, n, length, step, pad_end):
    x = np.arange(2 * n, dtype=np.float32).reshape(2, n) - 3.5
    got = tw.signal.frame(tw.tensor(x), length, step, pad_end=pad_end, pad_value=-9.0)
    ref = _frame_ref(x, length, step, pad_end, -9.0)
    assert got.shape == ref.shape and got.dtype == "float32"
    np.testing.assert_array_equal(got.numpy(), ref)
    got1 = tw.signal.frame(x[1], length, step, pad_end)  # rank 1, as TF.js
    np.testing.assert_array_equal(got1.numpy(), _frame_ref(x[1], length, step, pad_end, 0))


def test_frame_keeps_int32(backend):
    x = tw.tensor(np.arange(6, dtype=np.int32))
    f = tw.signal.frame(x, 3, 2, pad_end=True, pad_value=-1)
    assert f.dtype == "int32"
    assert f.numpy().tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, -1]]


@pytest.mark.parametrize("n", [1, 2, 5, 8, 9])
def test_windows_match_numpy(backend, n):
    # even lengths are periodic (numpy's symmetric window of n + 1, last point dropped), odd
    # lengths symmetric, as TF.js; a length of 1 gives [1.0] (TF.js: NaN)
    hann = np.hanning(n + 1)[:-1] if n % 2 == 0 else np.hanning(n)
    hamming = np.hamming(n + 1)[:-1] if n % 2 == 0 else np.hamming(n)
    h = tw.signal.hann_window(n)
    assert h.dtype == "float32" and h.shape == (n,)
    np.testing.assert_allclose(h.numpy(), hann, atol=1e-6)
    np.testing.assert_allclose(tw.signal.hamming_window(n).numpy(), hamming, atol=1e-6)


@pytest.mark.parametrize(
    "length, step, fft_length, window, pad_end",
    [(8, 4, None, "hann", False), (6, 2, None, "hamming", False), (6, 3, 10, None, True),
     (5, 5, 4, "hann", False), (4, 1, 4, "custom", False)],
)  # fmt: skip
def test_stft_matches_numpy(backend, length, step, fft_length, window, pad_end):
    x = np.random.default_rng(length).normal(size=(2, 20)).astype(np.float32)
    fns = {
        "hann": tw.signal.hann_window,
        "hamming": tw.signal.hamming_window,
        "custom": lambda k: np.linspace(0.5, 1.0, k),
        None: None,
    }
    kw = {} if window == "hann" else {"window_fn": fns[window]}
    got = tw.signal.stft(tw.tensor(x), length, step, fft_length, pad_end=pad_end, **kw)
    n = fft_length or int(2 ** np.ceil(np.log2(length)))
    frames = _frame_ref(x.astype(np.float64), length, step, pad_end, 0.0)
    if window is not None:
        frames = frames * np.asarray(fns[window](length), dtype=np.float32).astype(np.float64)
    ref = np.fft.rfft(frames, n=n)
    assert got.dtype == "complex64" and got.shape == ref.shape
    _close(got, ref)
    _close(tw.signal.stft(x[0], length, step, fft_length, pad_end=pad_end, **kw), ref[0])


def test_signal_gradients(backend):
    x = np.random.default_rng(2).normal(size=(2, 9))
    check_grads(lambda s: tw.signal.frame(s, 4, 2, pad_end=True), x)

    def stft_parts(s):
        z = tw.signal.stft(s, 4, 2, 6)
        return tw.concat([tw.real(z), tw.imag(z)], axis=-1)

    check_grads(stft_parts, x)


def test_signal_errors():
    x = tw.tensor([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"signal\.frame: frame_length must be an integer >= 1"):
        tw.signal.frame(x, 0, 1)
    with pytest.raises(ValueError, match=r"signal\.frame: frame_step must be an integer >= 1"):
        tw.signal.frame(x, 2, -1)
    with pytest.raises(ValueError, match=r"signal\.frame: frame_step must be an integer, got 1\.5"):
        tw.signal.frame(x, 2, 1.5)
    with pytest.raises(TypeError, match=r"signal\.frame: pad_end must be a bool, got 'yes'"):
        tw.signal.frame(x, 2, 1, pad_end="yes")
    with pytest.raises(TypeError, match=r"signal\.frame: pad_value must be a real number"):
        tw.signal.frame(x, 2, 1, True, pad_value=1j)
    with pytest.raises(ValueError, match=r"signal\.frame: signal must have rank >= 1"):
        tw.signal.frame(tw.scalar(1.0), 1, 1)
    with pytest.raises(TypeError, match=r"signal\.frame: signal must be real"):
        tw.signal.frame(tw.complex(x, x), 2, 1)
    with pytest.raises(
        ValueError, match=r"signal\.hann_window: window_length must be an integer >= 1"
    ):
        tw.signal.hann_window(0)
    with pytest.raises(TypeError, match=r"signal\.hamming_window: window_length must be an int"):
        tw.signal.hamming_window("8")
    with pytest.raises(ValueError, match=r"signal\.stft: fft_length must be an integer >= 1"):
        tw.signal.stft(x, 2, 1, 0)
    with pytest.raises(ValueError, match=r"signal\.stft: frame_step must be an integer >= 1"):
        tw.signal.stft(x, 2, 0)
    with pytest.raises(TypeError, match=r"signal\.stft: window_fn must be a function"):
        tw.signal.stft(x, 2, 1, window_fn="hann")
    with pytest.raises(
        ValueError, match=r"signal\.stft: window_fn\(2\) must give a real tensor of shape \(2,\)"
    ):
        tw.signal.stft(x, 2, 1, window_fn=lambda k: tw.ones([k + 1]))
    with pytest.raises(TypeError, match=r"signal\.stft: signal must be real"):
        tw.signal.stft(tw.complex(x, x), 2, 1)


def test_namespaces_are_exported():
    assert tw.spectral.fft is tw.ops.spectral.fft and tw.signal.stft is tw.ops.signal.stft
    for name in ("complex", "real", "imag", "conj", "signal", "spectral"):
        assert name in tw.__all__
    assert {"fft", "ifft", "rfft", "irfft"} <= set(tw.spectral.__all__)
    assert {"frame", "stft", "hann_window", "hamming_window"} <= set(tw.signal.__all__)


@pytest.mark.parametrize(
    "module", ["engine.ops.complex_ops", "engine.ops.spectral", "engine.ops.signal"]
)
def test_docstring_examples_run(module):
    with tw.backend_scope("numpy"):
        result = doctest.testmod(
            importlib.import_module(module),
            extraglobs={"tw": tw, "np": np},
            optionflags=doctest.NORMALIZE_WHITESPACE,
        )
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("op", ["fft", "ifft", "rfft", "irfft"])
def test_a_huge_length_is_refused_before_allocating(op):
    """``fft_length`` comes from the user: a transform whose DFT matrices would exceed the
    limit is a ValueError naming the length, raised before the matrices are built."""
    import tracemalloc

    from engine.ops import spectral

    n = 10**6
    if op in ("fft", "ifft"):
        x = tw.complex(tw.zeros([n]), tw.zeros([n]))
        call = lambda: getattr(tw.spectral, op)(x)  # noqa: E731
    elif op == "rfft":  # (a short input with a long fft_length needs only a few matrix rows)
        call = lambda: tw.spectral.rfft(tw.zeros([n]), n)  # noqa: E731
    else:
        z = tw.complex(tw.zeros([n // 2 + 1]), tw.zeros([n // 2 + 1]))
        call = lambda: tw.spectral.irfft(z, n)  # noqa: E731
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"length-{n} transform needs .* above the limit"):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak
    assert spectral.MAX_DFT_ENTRIES == 2**26
