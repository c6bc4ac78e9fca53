"""Fourier transforms (TF.js ``tf.spectral``): ``tw.spectral.fft``, ``ifft``, ``rfft``, ``irfft``.

Each transforms the innermost axis. The transforms are direct DFTs computed as matrix products
with cos/sin matrices built on the host (in float64, with the angle ``2 pi ((j k) mod n) / n``
reduced exactly, then cast to float32), as TF.js's WebGL backend computes them (an O(n^2) DFT).
So they run on every backend with the ordinary float32 matmul, and gradients flow through them.
Results match ``numpy.fft`` within float32 rounding of the largest magnitude (measured: about
2e-7 of it at n = 64 and below 2e-6 at n = 1000 on the numpy, cpu and opencl backends, 4e-7 at
n = 4096 on numpy). The matrices take ``8 n m`` bytes (``n`` in, ``m`` out; 128 MiB for a
4096-point ``fft``), so lengths up to a few thousand are practical; the most recent ones (up to
256 MiB) are kept on the host for reuse. Matrices beyond ``MAX_DFT_ENTRIES`` (an 8192-point
``fft``; a user's ``fft_length`` decides the size) are refused with a ValueError.

Complex tensors are ``engine.tensor.ComplexTensor`` (``engine.ops.complex_ops``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from engine import dtypes
from engine.ops import complex_ops
from engine.tensor import ComplexTensor, Tensor
from engine.typing import TensorLike

__all__ = ["fft", "ifft", "irfft", "rfft"]

_CACHE: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_CACHE_BYTES = 256 * 2**20  # host bytes of DFT matrices kept for reuse
_LOCK = threading.Lock()
#: The largest DFT matrix built (rows x cols entries): 2**26, a 8192-point ``fft`` (512 MiB of
#: float32 matrices, ~2.5 GiB of float64 temporaries while building them). A longer length is
#: refused before anything is allocated instead of exhausting memory.
MAX_DFT_ENTRIES = 2**26


def _matrices(kind: str, rows: int, n: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``(rows, cols)`` matrices for a length-``n`` transform (cached).

    ``"dft"``: ``cos(2 pi j k / n)``, ``sin(2 pi j k / n)``; ``"idft"``: the same over ``n``;
    ``"irdft"``: ``w_j cos / n`` and ``-w_j sin / n`` with ``w_j`` = 1 for the zero (and, for
    even ``n``, the Nyquist) frequency and 2 for the others, which mirror the omitted half.
    """
    if rows * cols > MAX_DFT_ENTRIES:
        raise ValueError(
            f"spectral: a length-{n} transform needs {rows} x {cols} DFT matrices "
            f"({2 * 4 * rows * cols / 2**30:.1f} GiB of float32), above the limit of "
            f"{MAX_DFT_ENTRIES} entries (an 8192-point fft); these transforms are direct O(n^2) "
            "DFTs, as TF.js's WebGL backend computes them"
        )
    key = (kind, rows, n, cols)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    j = np.arange(rows, dtype=np.int64)[:, None]
    k = np.arange(cols, dtype=np.int64)[None, :]
    angle = (2.0 * np.pi / n) * ((j * k) % n).astype(np.float64)
    c, s = np.cos(angle), np.sin(angle)
    if kind == "idft":
        c, s = c / n, s / n
    elif kind == "irdft":
        w = np.full((rows, 1), 2.0)
        w[0] = 1.0
        if n % 2 == 0 and rows > n // 2:
            w[n // 2] = 1.0
        c, s = c * (w / n), s * (-w / n)
    out = (c.astype(np.float32), s.astype(np.float32))
    for a in out:
        a.setflags(write=False)  # shared by every later call
    size = out[0].nbytes * 2
    with _LOCK:
        if size <= _CACHE_BYTES:
            _CACHE[key] = out
            while sum(a.nbytes * 2 for a, _ in _CACHE.values()) > _CACHE_BYTES:
                _CACHE.popitem(last=False)
    return out


def _ops():
    from engine import ops

    return ops


def _rows(x: Tensor) -> Tensor:
    """``x`` as a 2-D ``(batch, inner)`` tensor."""
    return _ops().reshape(x, (-1, x.shape[-1])) if x.rank != 2 else x


def _complex_input(x: TensorLike, op: str) -> ComplexTensor:
    z = x if isinstance(x, ComplexTensor) else _ops().as_tensor(x)
    if not isinstance(z, ComplexTensor):
        raise TypeError(
            f"spectral.{op}: input must be complex64, got a {z.dtype} tensor of shape "
            f"{z.shape}; make one with tw.complex(real, tw.zeros_like(real)), or use "
            "tw.spectral.rfft for real input"
        )
    if z.rank < 1 or z.shape[-1] < 1:
        raise ValueError(
            f"spectral.{op}: input must have rank >= 1 and a non-empty innermost axis, got "
            f"shape {z.shape}"
        )
    return z


def _real_input(x: TensorLike, op: str) -> Tensor:
    o = _ops()
    t = x if isinstance(x, Tensor) else o.as_tensor(x)
    if isinstance(t, ComplexTensor):
        raise TypeError(
            f"spectral.{op}: input must be real (float32), got a complex64 tensor of shape "
            f"{t.shape}; use tw.spectral.fft for complex input"
        )
    if t.rank < 1:
        raise ValueError(f"spectral.{op}: input must have rank >= 1, got shape {t.shape}")
    return t if t.dtype == "float32" else o.cast(t, "float32")


def _fft_length(fft_length: object, op: str) -> int:
    return dtypes.as_int(fft_length, f"spectral.{op}: fft_length", minimum=1)


def _dft(z: ComplexTensor, kind: str) -> ComplexTensor:
    o = _ops()
    n = z.shape[-1]
    if z.size == 0:
        return ComplexTensor(o.zeros(z.shape), o.zeros(z.shape))
    c, s = _matrices(kind, n, n, n)
    ct, st = o.tensor(c), o.tensor(s)
    xr, xi = _rows(z.real), _rows(z.imag)
    if kind == "dft":  # (xr + i xi)(cos - i sin)
        re = o.add(o.matmul(xr, ct), o.matmul(xi, st))
        im = o.sub(o.matmul(xi, ct), o.matmul(xr, st))
    else:  # (xr + i xi)(cos + i sin) / n
        re = o.sub(o.matmul(xr, ct), o.matmul(xi, st))
        im = o.add(o.matmul(xi, ct), o.matmul(xr, st))
    return ComplexTensor(o.reshape(re, z.shape), o.reshape(im, z.shape))


def fft(input: TensorLike) -> ComplexTensor:  # noqa: A002 - TF.js's argument name
    """The discrete Fourier transform over the innermost axis (TF.js ``tf.spectral.fft``).

    ``X[k] = sum_j x[j] exp(-2 pi i j k / n)``, as ``numpy.fft.fft``.

    Args:
        input: A complex64 tensor (``tw.complex``), rank >= 1; leading axes are a batch.

    Returns:
        A complex64 Tensor of ``input``'s shape.

    Raises:
        TypeError: ``input`` is not complex64.
        ValueError: ``input`` is a scalar or its innermost axis is empty.

    Example:

    >>> z = tw.complex([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0])
    >>> (np.round(tw.spectral.fft(z).numpy(), 4) + 0).tolist()  # + 0: no signed zeros
    [(10+0j), (-2+2j), (-2+0j), (-2-2j)]
    """
    return _dft(_complex_input(input, "fft"), "dft")


def ifft(input: TensorLike) -> ComplexTensor:  # noqa: A002
    """The inverse discrete Fourier transform over the innermost axis (TF.js
    ``tf.spectral.ifft``).

    ``x[j] = (1 / n) sum_k X[k] exp(2 pi i j k / n)``, as ``numpy.fft.ifft``.

    Args:
        input: A complex64 tensor, rank >= 1.

    Returns:
        A complex64 Tensor of ``input``'s shape.

    Raises:
        TypeError: ``input`` is not complex64.
        ValueError: ``input`` is a scalar or its innermost axis is empty.
    """
    return _dft(_complex_input(input, "ifft"), "idft")


def rfft(input: TensorLike, fft_length: int | None = None) -> ComplexTensor:  # noqa: A002
    """The DFT of real input over the innermost axis, non-negative frequencies only (TF.js
    ``tf.spectral.rfft``; ``numpy.fft.rfft(x, n=fft_length)``).

    Args:
        input: A real tensor, rank >= 1; computed in float32 (other dtypes are cast to it).
        fft_length: The transform length ``n``: the innermost axis is cut to its first ``n``
            values or padded with zeros to ``n`` (default: its length).

    Returns:
        A complex64 Tensor whose innermost axis has ``n // 2 + 1`` entries.

    Raises:
        TypeError: ``input`` is complex, or ``fft_length`` is not an int.
        ValueError: ``fft_length`` is below 1, or (without it) the innermost axis is empty.

    Example:

    >>> (np.round(tw.spectral.rfft(tw.tensor([1.0, 2.0, 3.0, 4.0])).numpy(), 4) + 0).tolist()
    [(10+0j), (-2+2j), (-2+0j)]
    """
    x = _real_input(input, "rfft")
    n_in = x.shape[-1]
    if fft_length is None:
        if n_in < 1:
            raise ValueError(
                f"spectral.rfft: the innermost axis of shape {x.shape} is empty; give "
                "fft_length >= 1 or a non-empty input"
            )
        n = n_in
    else:
        n = _fft_length(fft_length, "rfft")
    o = _ops()
    m = n // 2 + 1
    out_shape = x.shape[:-1] + (m,)
    rows = min(n_in, n)  # zero padding adds no terms; a shorter transform reads a prefix
    if rows == 0 or x.size == 0:
        return ComplexTensor(o.zeros(out_shape), o.zeros(out_shape))
    if rows < n_in:
        x = o.slice(x, [0] * (x.rank - 1) + [0], [-1] * (x.rank - 1) + [rows])
    c, s = _matrices("dft", rows, n, m)
    xr = _rows(x)
    re = o.matmul(xr, o.tensor(c))
    im = o.neg(o.matmul(xr, o.tensor(s)))
    return ComplexTensor(o.reshape(re, out_shape), o.reshape(im, out_shape))


def irfft(input: TensorLike, fft_length: int | None = None) -> Tensor:  # noqa: A002
    """The inverse of ``rfft``: real output from the non-negative frequencies of a Hermitian
    spectrum, over the innermost axis (TF.js ``tf.spectral.irfft``; ``numpy.fft.irfft``).

    The imaginary parts of the zero frequency (and, for even lengths, of the Nyquist
    frequency) do not contribute, as in numpy and TF.js.

    Args:
        input: A complex64 tensor with ``m`` entries on the innermost axis.
        fft_length: The output length ``n`` (default ``2 * (m - 1)``, TF.js's only choice);
            the first ``n // 2 + 1`` entries are used, missing ones count as zeros.

    Returns:
        A float32 Tensor whose innermost axis has ``n`` entries.

    Raises:
        TypeError: ``input`` is not complex64, or ``fft_length`` is not an int.
        ValueError: ``m < 2`` without ``fft_length``, or ``fft_length`` below 1.

    Example:

    >>> x = tw.tensor([1.0, 2.0, 3.0, 4.0])
    >>> np.round(tw.spectral.irfft(tw.spectral.rfft(x)).numpy(), 4).tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    z = _complex_input(input, "irfft")
    m = z.shape[-1]
    if fft_length is None:
        if m < 2:
            raise ValueError(
                f"spectral.irfft: the innermost axis must have at least 2 entries (the output "
                f"has 2 * (m - 1)), got shape {z.shape}; give fft_length for shorter output"
            )
        n = 2 * (m - 1)
    else:
        n = _fft_length(fft_length, "irfft")
    o = _ops()
    if z.size == 0:
        return o.zeros(z.shape[:-1] + (n,))
    rows = min(m, n // 2 + 1)
    if rows < m:
        z = complex_ops.slice(z, [0] * (z.rank - 1) + [0], [-1] * (z.rank - 1) + [rows])
    c, s = _matrices("irdft", rows, n, n)
    y = o.add(o.matmul(_rows(z.real), o.tensor(c)), o.matmul(_rows(z.imag), o.tensor(s)))
    return o.reshape(y, z.shape[:-1] + (n,))
