"""Signal ops (TF.js ``tf.signal``): ``tw.signal.frame``, ``stft``, ``hann_window`` and
``hamming_window``.

``frame`` gathers overlapping windows of the innermost axis with one host-built index table
(so it carries gradients); ``stft`` frames, multiplies by a window and takes
``tw.spectral.rfft`` of each frame, as TF.js. TF.js's ``frame`` and ``stft`` take a 1-D
signal; here leading axes are a batch (as TF's Python ``tf.signal``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from engine import dtypes
from engine.ops import spectral
from engine.tensor import ComplexTensor, Tensor
from engine.typing import TensorLike

__all__ = ["frame", "hamming_window", "hann_window", "stft"]


def _ops():
    from engine import ops

    return ops


def _cosine_window(window_length: int, a: float, b: float, op: str) -> Tensor:
    """TF.js's ``cosineWindow``: ``a - b cos(2 pi i / d)`` with ``d`` the length for even
    lengths (periodic) and the length - 1 for odd ones (symmetric)."""
    n = dtypes.as_int(window_length, f"signal.{op}: window_length", minimum=1)
    if n == 1:  # TF.js divides 0 by 0 here (a NaN); TF's Python gives [1.0]
        return _ops().ones([1])
    d = n if n % 2 == 0 else n - 1
    i = np.arange(n, dtype=np.float64)
    return _ops().tensor(a - b * np.cos(2.0 * np.pi * i / d), dtype="float32")


def hann_window(window_length: int) -> Tensor:
    """A Hann window (TF.js ``tf.signal.hannWindow``): ``0.5 - 0.5 cos(2 pi i / d)``.

    ``d`` is ``window_length`` when it is even (a periodic window, for spectral analysis) and
    ``window_length - 1`` when it is odd, as TF.js. A length of 1 gives ``[1.0]`` (TF.js
    gives NaN there).

    Args:
        window_length: The number of samples, >= 1.

    Returns:
        A float32 Tensor of shape ``(window_length,)``.

    Raises:
        ValueError: ``window_length`` is below 1 or not integral.
        TypeError: ``window_length`` is not a number.

    Example:

    >>> tw.signal.hann_window(4).tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    return _cosine_window(window_length, 0.5, 0.5, "hann_window")


def hamming_window(window_length: int) -> Tensor:
    """A Hamming window (TF.js ``tf.signal.hammingWindow``): ``0.54 - 0.46 cos(2 pi i / d)``,
    with ``d`` as in ``hann_window``.

    Args:
        window_length: The number of samples, >= 1.

    Returns:
        A float32 Tensor of shape ``(window_length,)``.

    Raises:
        ValueError: ``window_length`` is below 1 or not integral.
        TypeError: ``window_length`` is not a number.
    """
    return _cosine_window(window_length, 0.54, 0.46, "hamming_window")


def frame(
    signal: TensorLike,
    frame_length: int,
    frame_step: int,
    pad_end: bool = False,
    pad_value: float = 0,
) -> Tensor:
    """Overlapping frames of the innermost axis (TF.js ``tf.signal.frame``).

    Frame ``f`` holds ``signal[..., f * frame_step : f * frame_step + frame_length]``. Without
    ``pad_end`` only whole frames are taken (none when the signal is shorter than a frame, as
    TF.js); with it frames start at every multiple of ``frame_step`` below the length, and the
    missing samples are ``pad_value``.

    Args:
        signal: A tensor of rank >= 1 (TF.js: 1-D); leading axes are a batch.
        frame_length: Samples per frame, >= 1.
        frame_step: Samples between frame starts, >= 1.
        pad_end: Also take the frames that run past the end, padded.
        pad_value: The value of the padding.

    Returns:
        A Tensor of shape ``signal.shape[:-1] + (frames, frame_length)`` and ``signal``'s
        dtype.

    Raises:
        ValueError: ``frame_length`` or ``frame_step`` is below 1 or not integral, or
            ``signal`` is a scalar.
        TypeError: They are not numbers, ``pad_end`` is not a bool, ``pad_value`` is not a
            real number, or ``signal`` is complex.

    Example:

    >>> tw.signal.frame(tw.tensor([1, 2, 3, 4, 5]), 3, 1).tolist()
    [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0]]
    """
    o = _ops()
    length = dtypes.as_int(frame_length, "signal.frame: frame_length", minimum=1)
    step = dtypes.as_int(frame_step, "signal.frame: frame_step", minimum=1)
    if not isinstance(pad_end, (bool, np.bool_)):
        raise TypeError(f"signal.frame: pad_end must be a bool, got {pad_end!r}")
    if isinstance(pad_value, (bool, np.bool_)) or not isinstance(pad_value, numbers.Real):
        raise TypeError(f"signal.frame: pad_value must be a real number, got {pad_value!r}")
    x = o.as_tensor(signal)
    if isinstance(x, ComplexTensor):
        raise TypeError(
            f"signal.frame: signal must be real, got a complex64 tensor of shape {x.shape}; "
            "frame tw.real(z) and tw.imag(z)"
        )
    if x.rank < 1:
        raise ValueError(f"signal.frame: signal must have rank >= 1, got shape {x.shape}")
    n = x.shape[-1]
    if pad_end:
        frames = -(-n // step)
    else:
        frames = (n - length) // step + 1 if n >= length else 0
    if frames == 0:
        return o.zeros(x.shape[:-1] + (0, length), x.dtype)
    needed = (frames - 1) * step + length
    if needed > n:
        x = o.pad(x, [(0, 0)] * (x.rank - 1) + [(0, needed - n)], pad_value)
    idx = np.arange(frames, dtype=np.int64)[:, None] * step + np.arange(length)[None, :]
    return o.gather(x, o.tensor(idx.astype(np.int32), dtype="int32"), x.rank - 1, _checked=True)


def _enclosing_power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


def stft(
    signal: TensorLike,
    frame_length: int,
    frame_step: int,
    fft_length: int | None = None,
    window_fn: Callable[[int], TensorLike] | None = hann_window,
    pad_end: bool = False,
    pad_value: float = 0,
) -> ComplexTensor:
    """The short-time Fourier transform (TF.js ``tf.signal.stft``): ``rfft`` of each
    windowed frame.

    ``rfft(frame(signal, frame_length, frame_step) * window_fn(frame_length), fft_length)``.

    Args:
        signal: A real tensor of rank >= 1 (TF.js: 1-D); leading axes are a batch.
        frame_length: Samples per frame, >= 1.
        frame_step: Samples between frame starts, >= 1.
        fft_length: The FFT length (default: the smallest power of two >= ``frame_length``,
            as TF.js); frames are padded with zeros to it (or cut, when shorter).
        window_fn: ``window_fn(frame_length)`` gives the window, shape ``(frame_length,)``
            (default ``hann_window``); ``None`` for no window.
        pad_end: Also take frames that run past the end (``frame``'s ``pad_end``; TF's
            Python ``stft`` has it, TF.js does not).
        pad_value: The value those frames are padded with.

    Returns:
        A complex64 Tensor of shape ``signal.shape[:-1] + (frames, fft_length // 2 + 1)``.

    Raises:
        ValueError: ``frame_length``, ``frame_step`` or ``fft_length`` is below 1, or the
            window has the wrong shape.
        TypeError: A length is not an int, ``window_fn`` is not callable, or ``signal`` is
            complex.

    Example:

    >>> tw.signal.stft(tw.ones([16]), 8, 4).shape
    (3, 5)
    """
    length = dtypes.as_int(frame_length, "signal.stft: frame_length", minimum=1)
    dtypes.as_int(frame_step, "signal.stft: frame_step", minimum=1)
    if fft_length is None:
        n = _enclosing_power_of_two(length)
    else:
        n = dtypes.as_int(fft_length, "signal.stft: fft_length", minimum=1)
    if window_fn is not None and not callable(window_fn):
        raise TypeError(
            f"signal.stft: window_fn must be a function of the frame length (e.g. "
            f"tw.signal.hann_window) or None, got {window_fn!r}"
        )
    o = _ops()
    x = o.as_tensor(signal)
    if isinstance(x, ComplexTensor):
        raise TypeError(
            f"signal.stft: signal must be real, got a complex64 tensor of shape {x.shape}"
        )
    if x.rank < 1:
        raise ValueError(f"signal.stft: signal must have rank >= 1, got shape {x.shape}")
    if x.dtype != "float32":
        x = o.cast(x, "float32")
    window = None
    if window_fn is not None:
        window = o.as_tensor(window_fn(length))
        if isinstance(window, ComplexTensor) or window.shape != (length,):
            raise ValueError(
                f"signal.stft: window_fn({length}) must give a real tensor of shape "
                f"({length},), got {window.dtype} of shape {window.shape}"
            )
    frames = frame(x, length, frame_step, pad_end, pad_value)
    if window is not None:
        frames = o.mul(frames, window if window.dtype == "float32" else o.cast(window, "float32"))
    return spectral.rfft(frames, n)
