"""Preprocessing layers (TF.js ``tfjs-layers/src/layers/preprocessing``): Rescaling,
CenterCrop, Resizing, CategoryEncoding.

Images are ``(batch, height, width, channels)``. Resampling is built from ``gather`` along one
axis at a time plus arithmetic with host-computed index and weight tables (the formulas of
TF.js's ``resizeBilinear``/``resizeNearestNeighbor`` kernels), so it runs, and differentiates,
on every backend.

Checked against TF.js 4.22 in node (eager outputs, and models saved by either side loaded by
the other). TF.js 4.22 itself mis-computes symbolic shapes of some of these layers: CenterCrop
and CategoryEncoding overwrite their input's shape in place, and Resizing reports a rank-3
output and cannot run inside a loaded model, so TF.js fails to load some models that use them
(tensorweave loads them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import engine as tw
from engine import trace as _trace
from engine.dtypes import as_int
from layers.advanced_activations import as_float
from layers.base import Layer
from layers.utils import canonical


def _f32(x: tw.Tensor) -> tw.Tensor:
    return x if x.dtype == "float32" else tw.cast(x, "float32")


def resize_axis(
    x: tw.Tensor,
    axis: int,
    out: int,
    method: str = "bilinear",
    align_corners: bool = False,
    half_pixel_centers: bool = False,
) -> tw.Tensor:
    """Resample one axis of ``x`` to ``out`` entries, as TF.js's image resize kernels.

    Source coordinate of output index ``i``: ``ratio * i`` (``ratio * (i + 0.5) - 0.5`` with
    ``half_pixel_centers``), where ``ratio = in / out``, or ``(in - 1) / (out - 1)`` with
    ``align_corners`` and ``out > 1``. Bilinear blends the two neighbouring entries
    (``floor``/``ceil`` clamped into range); nearest takes ``floor`` (``round`` half up with
    ``align_corners``).

    Args:
        x: A float tensor.
        axis: The axis to resample.
        out: Its new size (>= 1).
        method: ``"bilinear"`` or ``"nearest"``.
        align_corners: Map the first and last entries onto each other exactly.
        half_pixel_centers: Sample at pixel centres (TF 2's ``tf.image.resize``).

    Returns:
        ``x`` with ``out`` entries on ``axis``.
    """
    size = x.shape[axis]
    if align_corners and out > 1:
        ratio = (size - 1) / (out - 1)
    else:
        ratio = size / out
    i = np.arange(out, dtype=np.float64)
    if method == "nearest":
        src = ratio * (i + 0.5) if half_pixel_centers else ratio * i
        idx = np.floor(src + 0.5) if align_corners else np.floor(src)
        idx = np.minimum(size - 1, idx)
        if half_pixel_centers:
            idx = np.maximum(0, idx)
        if out == size and np.array_equal(idx, np.arange(size)):
            return x
        return tw.gather(x, tw.tensor(idx.astype(np.int32), dtype="int32"), axis)
    src = ratio * (i + 0.5) - 0.5 if half_pixel_centers else ratio * i
    lo = np.maximum(0, np.floor(src))
    hi = np.minimum(size - 1, np.ceil(src))
    frac = (src - lo).astype(np.float32)
    lo_t = tw.tensor(lo.astype(np.int32), dtype="int32")
    hi_t = tw.tensor(hi.astype(np.int32), dtype="int32")
    shape = [1] * x.rank
    shape[axis] = out
    a = tw.gather(x, lo_t, axis)
    b = tw.gather(x, hi_t, axis)
    return tw.add(a, tw.mul(tw.sub(b, a), tw.tensor(frac.reshape(shape))))


def resize_images(
    x: tw.Tensor,
    height: int,
    width: int,
    method: str = "bilinear",
    align_corners: bool = False,
    half_pixel_centers: bool = False,
) -> tw.Tensor:
    """Resize ``(batch, height, width, channels)`` images as TF.js's ``tf.image.resizeBilinear``
    / ``resizeNearestNeighbor`` (columns first, then rows, as their kernels blend).

    Args:
        x: The images (cast to float32).
        height: The new height.
        width: The new width.
        method: ``"bilinear"`` or ``"nearest"``.
        align_corners: TF.js's ``alignCorners``.
        half_pixel_centers: TF.js's ``halfPixelCenters``.

    Returns:
        The float32 images of shape ``(batch, height, width, channels)``.
    """
    x = _f32(x)
    x = resize_axis(x, 2, width, method, align_corners, half_pixel_centers)
    return resize_axis(x, 1, height, method, align_corners, half_pixel_centers)


def _image_size(value: Any, name: str) -> int:
    return as_int(value, name, minimum=1)


class Rescaling(Layer):
    """``x * scale + offset``, in float32 (TF.js ``tf.layers.rescaling``): e.g.
    ``scale=1/255`` maps pixel bytes to ``[0, 1]``.

    Args:
        scale: The factor.
        offset: Added after scaling (default 0).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``scale`` or ``offset`` NaN or infinite (``TypeError`` for a non-number).

    Example:

    >>> layers.rescaling(scale=0.5, offset=1.0)(tw.tensor([[2.0, 4.0]])).tolist()
    [[2.0, 3.0]]
    """

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any):
        scale = as_float(scale, "Rescaling: scale")
        offset = as_float(0.0 if offset is None else offset, "Rescaling: offset")
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset

    def call(self, inputs, training=False):
        return tw.add(tw.mul(_f32(inputs), self.scale), self.offset)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class CenterCrop(Layer):
    """Crop the central ``height x width`` window of ``(batch, rows, cols, channels)`` images
    (TF.js ``tf.layers.centerCrop``).

    The window starts at row ``(rows - height) // 2`` and column ``(cols - width) // 2``
    (Keras). An image smaller than the target in either dimension is resized to it instead
    (bilinear, ``align_corners`` false), as TF.js does. TF.js 4.x starts the window at column 1
    when ``cols - width`` is 1 (its ``wBuffer`` is bumped from 0 to 1): a TF.js bug not copied.
    The output is float32.

    Args:
        height: The output height (>= 1).
        width: The output width (>= 1).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``height`` or ``width`` not a positive integer; an input that is not rank 4.

    Example:

    >>> x = tw.reshape(tw.range(0, 16), [1, 4, 4, 1])
    >>> layers.center_crop(height=2, width=2)(x).numpy()[0, :, :, 0].tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """

    ndim = 4

    def __init__(self, height: int, width: int, **kwargs: Any):
        height = _image_size(height, "CenterCrop: height")
        width = _image_size(width, "CenterCrop: width")
        super().__init__(**kwargs)
        self.height, self.width = height, width

    def call(self, inputs, training=False):
        x = _f32(inputs)
        _, h, w, _ = x.shape
        if h < self.height or w < self.width:
            return resize_images(x, self.height, self.width, "bilinear")
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return tw.slice(x, [0, top, left, 0], [-1, self.height, self.width, -1])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


_INTERPOLATIONS = ("bilinear", "nearest")


class Resizing(Layer):
    """Resize ``(batch, rows, cols, channels)`` images to ``height x width`` (TF.js
    ``tf.layers.resizing``).

    As TF.js 4.x computes it: with ``crop_to_aspect_ratio`` false (the default) the resize uses
    ``align_corners`` (TF.js passes ``!cropToAspectRatio`` as ``resizeBilinear``'s
    ``alignCorners``), no half-pixel centres. With ``crop_to_aspect_ratio`` true, TF.js only
    turns ``align_corners`` off and never crops (a TF.js bug); here the central window of the
    target's aspect ratio is cropped first (as Keras), then resized with ``align_corners`` off,
    so both agree whenever the aspect ratios already match. The output is float32.

    Args:
        height: The output height (>= 1).
        width: The output width (>= 1).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        crop_to_aspect_ratio: Crop to the target aspect ratio before resizing (see above).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``height``/``width`` not positive integers or an unknown
            ``interpolation``; an input that is not rank 4.

    Example:

    >>> x = tw.reshape(tw.tensor([0.0, 3.0]), [1, 1, 2, 1])
    >>> layers.resizing(height=1, width=4)(x).numpy()[0, 0, :, 0].tolist()
    [0.0, 1.0, 2.0, 3.0]
    """

    ndim = 4

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        **kwargs: Any,
    ):
        height = _image_size(height, "Resizing: height")
        width = _image_size(width, "Resizing: width")
        if not isinstance(interpolation, str) or interpolation.lower() not in _INTERPOLATIONS:
            raise ValueError(
                f"Resizing: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}"
            )
        if not isinstance(crop_to_aspect_ratio, (bool, np.bool_)):
            raise TypeError(
                f"Resizing: crop_to_aspect_ratio must be a bool, got {crop_to_aspect_ratio!r}"
            )
        super().__init__(**kwargs)
        self.height, self.width = height, width
        self.interpolation = interpolation.lower()
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)

    def _crop_box(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Keras's central crop to the target aspect ratio: (top, left, rows, cols)."""
        ch = max(min(h, int(float(w * self.height) / self.width)), 1)
        cw = max(min(w, int(float(h * self.width) / self.height)), 1)
        return int(float(h - ch) / 2), int(float(w - cw) / 2), ch, cw

    def call(self, inputs, training=False):
        x = _f32(inputs)
        if self.crop_to_aspect_ratio:
            _, h, w, _ = x.shape
            top, left, ch, cw = self._crop_box(h, w)
            if (ch, cw) != (h, w):
                x = tw.slice(x, [0, top, left, 0], [-1, ch, cw, -1])
        return resize_images(
            x,
            self.height,
            self.width,
            self.interpolation,
            align_corners=not self.crop_to_aspect_ratio,
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
        }


#: canonical spelling -> the snake_case name saved in configs (as TF.js writes it).
_OUTPUT_MODES = {"onehot": "one_hot", "multihot": "multi_hot", "count": "count"}


class CategoryEncoding(Layer):
    """Encode integer category ids in ``[0, num_tokens)`` as dense float32 vectors (TF.js
    ``tf.layers.categoryEncoding``).

    - ``"multiHot"`` (default): ``(batch, n)`` ids -> ``(batch, num_tokens)`` with 1 where a
      row holds that id;
    - ``"count"``: the same with how many times each id occurs;
    - ``"oneHot"``: ``(batch,)`` or ``(batch, 1)`` ids -> ``(batch, num_tokens)``.

    A ``(batch,)`` input counts as ``(batch, 1)`` in every mode (TF.js would take a rank-1
    input of ``multiHot``/``count`` as one sample and drop the batch axis). Ids are checked on
    the host before encoding, as TF.js does, except inside the compiled steps of
    ``fit``/``evaluate``/``predict`` (a host read would force them to run eagerly), where
    gather's device-side index check raises an IndexError instead; float ids are truncated to
    int32 first.
    ``count_weights`` and the ``"int"``/``"tfIdf"`` modes are not supported.

    Args:
        num_tokens: The number of categories (>= 1).
        output_mode: ``"multiHot"``, ``"count"`` or ``"oneHot"`` (snake_case accepted; configs
            save ``multi_hot``/``count``/``one_hot``, as TF.js's JSON).
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: ``num_tokens`` not a positive integer or an unknown ``output_mode``; at
            call time, an id outside ``[0, num_tokens)``, or an input of rank above 2
            (``oneHot``: more than one id per row).

    Example:

    >>> enc = layers.category_encoding(num_tokens=4, output_mode="count")
    >>> enc(tw.tensor([[0, 1, 1], [3, 3, 3]], dtype="int32")).tolist()
    [[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]]
    """

    def __init__(self, num_tokens: int, output_mode: str = "multiHot", **kwargs: Any):
        num_tokens = as_int(num_tokens, "CategoryEncoding: num_tokens", minimum=1)
        mode = _OUTPUT_MODES.get(canonical(output_mode)) if isinstance(output_mode, str) else None
        if mode is None:
            raise ValueError(
                "CategoryEncoding: output_mode must be 'multiHot', 'count' or 'oneHot' "
                f"(or multi_hot/one_hot), got {output_mode!r}"
            )
        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.output_mode = mode

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        shape = tuple(input_shape)
        if not 1 <= len(shape) <= 2:
            raise self._bad_input(shape, "(batch,) or (batch, ids) (rank 1 or 2)")
        if self.output_mode == "one_hot" and len(shape) == 2 and shape[1] not in (1, None):
            raise self._bad_input(shape, "(batch,) or (batch, 1) for output_mode 'oneHot'")

    def call(self, inputs, training=False):
        idx = inputs if inputs.dtype == "int32" else tw.cast(inputs, "int32")
        if idx.rank == 1:
            idx = tw.reshape(idx, (idx.shape[0], 1))
        if self.output_mode == "one_hot" and idx.shape[1] != 1:
            raise self._bad_input(inputs.shape, "(batch,) or (batch, 1) for output_mode 'oneHot'")
        # Checked on the host as TF.js does, except while a compiled step is being captured:
        # a host read there would make every training step run eagerly (and replays never
        # run this check); there a gather of zeros checks the ids on the device instead.
        if idx.size and _trace.current() is None:
            host = idx.numpy()
            lo, hi = int(host.min()), int(host.max())
            if lo < 0 or hi >= self.num_tokens:
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"CategoryEncoding {self.name!r}: input ids must be in [0, {self.num_tokens}) "
                    f"(num_tokens={self.num_tokens}), got {bad}"
                )
        elif idx.size:
            idx = tw.add(idx, tw.gather(tw.zeros((self.num_tokens,), "int32"), idx))
        hot = tw.one_hot(idx, self.num_tokens)  # (batch, n, num_tokens)
        if self.output_mode == "count":
            return tw.sum(hot, 1)
        if self.output_mode == "one_hot":
            return tw.reshape(hot, (idx.shape[0], self.num_tokens))
        return tw.max(hot, 1)

    def compute_output_shape(self, input_shape):
        return (tuple(input_shape)[0], self.num_tokens)

    def get_config(self):
        return {
            **super().get_config(),
            "num_tokens": self.num_tokens,
            "output_mode": self.output_mode,
        }


__all__ = [
    "CategoryEncoding",
    "CenterCrop",
    "RandomWidth",
    "Rescaling",
    "Resizing",
    "resize_axis",
    "resize_images",
]


class RandomWidth(Layer):
    """During training, resize ``(batch, rows, cols, channels)`` images to a random width (TF.js
    ``tf.layers.randomWidth``); inference (``training=False``) passes them through unchanged.

    Each training call draws one factor ``f`` uniformly from ``[1 + lower, 1 + upper)`` and
    resizes the whole batch to ``round(cols * f)`` columns (at least 1), rows unchanged, with
    the ``Resizing`` layer's resampling (TF.js's ``resizeBilinear``/``resizeNearestNeighbor``
    with their defaults: no ``align_corners``, no half-pixel centres). The output is float32.
    The symbolic output width is unknown (``None``).

    Args:
        factor: A positive number ``f`` (the range ``[-f, f]``) or a pair ``(lower, upper)``
            with ``-1 <= lower <= upper`` (as TF.js, whose check lets a factor of exactly
            ``-1`` through; a width that rounds to 0 becomes 1).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: A seed for the layer's own generator of factors (default the global sequence);
            kept in the config.
        **kwargs: Layer arguments (``input_shape``, ``name``, ``trainable``, ...; see
            ``Layer``).

    Raises:
        ValueError: A ``factor`` that is not as above, or an unknown ``interpolation``; an
            input that is not rank 4.

    Example:

    >>> rw = layers.random_width(factor=(0.5, 0.5), seed=1)
    >>> x = tw.ones([1, 2, 4, 1])
    >>> rw(x, training=True).shape
    (1, 2, 6, 1)
    >>> rw(x).shape  # inference: unchanged
    (1, 2, 4, 1)
    """

    ndim = 4

    def __init__(
        self,
        factor: float | tuple[float, float],
        interpolation: str = "bilinear",
        seed: int | None = None,
        **kwargs: Any,
    ):
        bounds = _width_bounds(factor)
        if not isinstance(interpolation, str) or interpolation.lower() not in _INTERPOLATIONS:
            raise ValueError(
                f"RandomWidth: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}"
            )
        seed = as_int(seed, "RandomWidth: seed", allow_none=True)
        super().__init__(**kwargs)
        self.factor = factor if isinstance(factor, (int, float)) else [bounds[0], bounds[1]]
        self.width_lower, self.width_upper = bounds
        self.interpolation = interpolation.lower()
        self.seed = seed
        self._rng = tw.rng(seed) if seed is not None else None

    def call(self, inputs, training=False):
        if not training:
            return inputs
        x = _f32(inputs)
        _, h, w, _ = x.shape
        gen = self._rng if self._rng is not None else tw.rng(None)
        f = float(np.float32(gen.uniform(1.0 + self.width_lower, 1.0 + self.width_upper)))
        new_w = max(int(np.floor(f * w + 0.5)), 1)  # TF.js's Math.round: halves round up
        return resize_images(x, h, new_w, self.interpolation)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], None, input_shape[3])

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }


def _width_bounds(factor: Any) -> tuple[float, float]:
    """RandomWidth's ``(lower, upper)`` from ``factor``, checked as TF.js checks it."""
    if isinstance(factor, (list, tuple)) and len(factor) == 2:
        lo, hi = (as_float(v, "RandomWidth: factor") for v in factor)
    elif isinstance(factor, (int, float, np.number)) and not isinstance(factor, bool):
        f = float(factor)
        if not f > 0:
            raise ValueError(
                f"RandomWidth: factor must be a positive number or a pair of numbers, got {factor!r}"
            )
        lo, hi = -f, f
    else:
        raise ValueError(
            f"RandomWidth: factor must be a positive number or a pair of numbers, got {factor!r}"
        )
    if lo < -1.0 or hi < -1.0:
        raise ValueError(f"RandomWidth: factor must have values of at least -1, got {factor!r}")
    if hi < lo:
        raise ValueError(
            f"RandomWidth: factor's upper bound {hi} is less than its lower bound {lo}"
        )
    return lo, hi
