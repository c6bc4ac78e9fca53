"""Image ops (TF.js ``tf.image``): ``tw.image.resize_bilinear``, ``resize_nearest_neighbor``,
``flip_left_right`` and ``crop_and_resize`` here; ``rotate_with_offset``, ``transform``,
``grayscale_to_rgb``, ``rgb_to_grayscale`` and ``threshold`` from ``image_extra.py``; the
``non_max_suppression`` family from ``nms.py``.

Images are NHWC: ``(batch, height, width, channels)`` (resizes also take one image of rank
3). The sampling positions depend only on the shapes and flags (and, for
``crop_and_resize``, on the boxes, read back to the host once), so they are computed on the
host with TF.js's formulas and the pixels are gathered and blended on the device: the
results carry the gradient with respect to the images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine import dtypes
from engine.ops.core import as_tensor, cast, reshape, tensor
from engine.ops.image_extra import (
    grayscale_to_rgb,
    rgb_to_grayscale,
    rotate_with_offset,
    threshold,
    transform,
)
from engine.ops.math import add, mul, sub, where
from engine.ops.nms import (
    non_max_suppression,
    non_max_suppression_async,
    non_max_suppression_padded,
    non_max_suppression_padded_async,
    non_max_suppression_with_score,
    non_max_suppression_with_score_async,
)
from engine.ops.shape import _index_tensor, gather, reverse
from engine.tensor import Tensor
from engine.typing import TensorLike

__all__ = [
    "crop_and_resize",
    "flip_left_right",
    "grayscale_to_rgb",
    "non_max_suppression",
    "non_max_suppression_async",
    "non_max_suppression_padded",
    "non_max_suppression_padded_async",
    "non_max_suppression_with_score",
    "non_max_suppression_with_score_async",
    "resize_bilinear",
    "resize_nearest_neighbor",
    "rgb_to_grayscale",
    "rotate_with_offset",
    "threshold",
    "transform",
]


def _batched(images: TensorLike, op: str) -> tuple[Tensor, bool]:
    x = as_tensor(images)
    if x.rank not in (3, 4):
        raise ValueError(f"{op}: images must have rank 3 or 4 (NHWC), got shape {x.shape}")
    return (reshape(x, (1,) + x.shape), True) if x.rank == 3 else (x, False)


def _size(size: Sequence[int], op: str) -> tuple[int, int]:
    s = dtypes.as_ints(list(size), f"{op}: size")
    if len(s) != 2 or min(s) < 1:
        raise ValueError(f"{op}: size must be [new_height, new_width] of positive ints, got {size}")
    return s[0], s[1]


def _scale(old: int, new: int, align_corners: bool) -> float:
    eff_in = old - 1 if align_corners and new > 1 else old
    eff_out = new - 1 if align_corners and new > 1 else new
    return eff_in / eff_out


def _check_flags(align_corners: bool, half_pixel_centers: bool, op: str) -> None:
    if align_corners and half_pixel_centers:
        raise ValueError(f"{op}: half_pixel_centers=True needs align_corners=False")


def _lerp_axis(x: Tensor, axis: int, new: int, align_corners: bool, half: bool) -> Tensor:
    old = x.shape[axis]
    scale = _scale(old, new, align_corners)
    r = np.arange(new, dtype=np.float64)
    src = scale * (r + 0.5) - 0.5 if half else scale * r
    lo = np.maximum(0, np.floor(src)).astype(np.int32)
    hi = np.minimum(old - 1, np.ceil(src)).astype(np.int32)
    frac = src - lo
    a = gather(x, tensor(lo, dtype="int32"), axis, _checked=True)
    b = gather(x, tensor(hi, dtype="int32"), axis, _checked=True)
    view = [1] * x.rank
    view[axis] = new
    w = tensor(frac.reshape(view), dtype=x.dtype)
    return add(a, mul(sub(b, a), w))


def resize_bilinear(
    images: TensorLike,
    size: Sequence[int],
    align_corners: bool = False,
    half_pixel_centers: bool = False,
) -> Tensor:
    """Resize with bilinear interpolation (TF.js ``image.resizeBilinear``).

    Output pixel ``r`` samples source position ``r * scale`` (``(r + 0.5) * scale - 0.5``
    with ``half_pixel_centers``), ``scale = old / new`` (``(old - 1) / (new - 1)`` with
    ``align_corners``), clamped to the image, as TF.js's kernels.

    Args:
        images: ``(batch, h, w, c)`` or ``(h, w, c)``.
        size: ``[new_height, new_width]``.
        align_corners: Align the corner pixels of input and output.
        half_pixel_centers: Sample at pixel centres (TF2's default resize behaviour).

    Returns:
        A float Tensor ``(batch, new_height, new_width, c)`` (no batch axis for a rank-3
        input); integer images give float32, as TF.js.

    Raises:
        ValueError: A bad rank or size, or both flags set.

    Example:

    >>> img = tw.reshape(tw.tensor([0.0, 1.0]), [1, 1, 2, 1])
    >>> tw.image.resize_bilinear(img, [1, 4]).numpy().ravel().tolist()
    [0.0, 0.5, 1.0, 1.0]
    """
    _check_flags(align_corners, half_pixel_centers, "resize_bilinear")
    x, single = _batched(images, "resize_bilinear")
    nh, nw = _size(size, "resize_bilinear")
    if x.dtype not in ("float32", "float64"):
        x = cast(x, "float32")
    y = _lerp_axis(x, 1, nh, align_corners, half_pixel_centers)
    y = _lerp_axis(y, 2, nw, align_corners, half_pixel_centers)
    return reshape(y, y.shape[1:]) if single else y


def _nearest(old: int, new: int, align_corners: bool, half: bool) -> np.ndarray:
    scale = _scale(old, new, align_corners)
    r = np.arange(new, dtype=np.float64)
    src = scale * (r + 0.5) if half else scale * r
    idx = np.floor(src + 0.5) if align_corners else np.floor(src)  # JS Math.round: half up
    idx = np.minimum(old - 1, idx)
    if half:
        idx = np.maximum(0, idx)
    return idx.astype(np.int32)


def resize_nearest_neighbor(
    images: TensorLike,
    size: Sequence[int],
    align_corners: bool = False,
    half_pixel_centers: bool = False,
) -> Tensor:
    """Resize by taking the nearest source pixel (TF.js ``image.resizeNearestNeighbor``).

    Source row of output row ``r``: ``floor(r * scale)`` (``round`` with
    ``align_corners``; ``floor((r + 0.5) * scale)`` with ``half_pixel_centers``), clamped to
    the image, as TF.js's kernels.

    Args:
        images: ``(batch, h, w, c)`` or ``(h, w, c)``.
        size: ``[new_height, new_width]``.
        align_corners: Align the corner pixels of input and output.
        half_pixel_centers: Sample at pixel centres.

    Returns:
        A Tensor ``(batch, new_height, new_width, c)`` of the images' dtype (no batch axis
        for a rank-3 input).

    Raises:
        ValueError: A bad rank or size, or both flags set.

    Example:

    >>> img = tw.reshape(tw.tensor([1.0, 2.0]), [1, 2, 1])
    >>> tw.image.resize_nearest_neighbor(img, [1, 4]).numpy().ravel().tolist()
    [1.0, 1.0, 2.0, 2.0]
    """
    _check_flags(align_corners, half_pixel_centers, "resize_nearest_neighbor")
    x, single = _batched(images, "resize_nearest_neighbor")
    nh, nw = _size(size, "resize_nearest_neighbor")
    rows = _nearest(x.shape[1], nh, align_corners, half_pixel_centers)
    cols = _nearest(x.shape[2], nw, align_corners, half_pixel_centers)
    y = gather(x, tensor(rows, dtype="int32"), 1, _checked=True)
    y = gather(y, tensor(cols, dtype="int32"), 2, _checked=True)
    return reshape(y, y.shape[1:]) if single else y


def flip_left_right(image: TensorLike) -> Tensor:
    """Mirror images horizontally (TF.js ``image.flipLeftRight``).

    Args:
        image: ``(batch, h, w, c)`` (TF.js's rank 4), or one ``(h, w, c)`` image.

    Returns:
        A Tensor of the same shape with the width axis reversed.

    Raises:
        ValueError: Rank not 3 or 4.

    Example:

    >>> img = tw.reshape(tw.tensor([1.0, 2.0, 3.0]), [1, 1, 3, 1])
    >>> tw.image.flip_left_right(img).numpy().ravel().tolist()
    [3.0, 2.0, 1.0]
    """
    x = as_tensor(image)
    if x.rank not in (3, 4):
        raise ValueError(f"flip_left_right: image must have rank 4 (or 3), got shape {x.shape}")
    return reverse(x, x.rank - 2)


def crop_and_resize(
    image: TensorLike,
    boxes: TensorLike,
    box_ind: TensorLike,
    crop_size: Sequence[int],
    method: str = "bilinear",
    extrapolation_value: float = 0.0,
) -> Tensor:
    """Crop boxes out of a batch of images and resize each crop (TF.js
    ``image.cropAndResize``).

    Box ``(y1, x1, y2, x2)`` is in normalised coordinates (0 to 1 spans the image; ``y1 >
    y2`` flips the crop); crop row ``y`` samples image row ``y1 * (h - 1) + y * (y2 - y1) *
    (h - 1) / (crop_h - 1)`` (the box centre when ``crop_h`` is 1), columns alike, as TF.js.
    Samples outside the image take ``extrapolation_value``. ``boxes`` and ``box_ind`` are
    read back to the host; the result carries the gradient with respect to ``image`` (not
    the boxes).

    Args:
        image: ``(batch, h, w, c)``.
        boxes: ``(num_boxes, 4)`` float boxes.
        box_ind: int32 ``(num_boxes,)``: which image each box crops, in ``[0, batch)``.
        crop_size: ``[crop_height, crop_width]`` (positive).
        method: ``"bilinear"`` or ``"nearest"``.
        extrapolation_value: The value of samples outside the image.

    Returns:
        A float32 Tensor ``(num_boxes, crop_height, crop_width, c)``.

    Raises:
        ValueError: Bad shapes, crop size or method.
        IndexError: A ``box_ind`` entry outside ``[0, batch)``.

    Example:

    >>> img = tw.reshape(tw.range(0, 16), [1, 4, 4, 1])
    >>> boxes = tw.tensor([[0.0, 0.0, 1.0, 1.0]])
    >>> out = tw.image.crop_and_resize(img, boxes, tw.tensor([0], dtype="int32"), [2, 2])
    >>> out.numpy().ravel().tolist()
    [0.0, 3.0, 12.0, 15.0]
    """
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"crop_and_resize: method must be 'bilinear' or 'nearest', got {method!r}")
    x = as_tensor(image)
    if x.rank != 4:
        raise ValueError(f"crop_and_resize: image must have rank 4 (NHWC), got shape {x.shape}")
    if x.dtype != "float32":
        x = cast(x, "float32")
    b = as_tensor(boxes)
    bi = _index_tensor(box_ind, "crop_and_resize")
    ch, cw = _size(crop_size, "crop_and_resize")
    if b.rank != 2 or b.shape[1] != 4 or bi.shape != (b.shape[0],):
        raise ValueError(
            f"crop_and_resize: boxes must have shape (num_boxes, 4) and box_ind (num_boxes,), "
            f"got {b.shape} and {bi.shape}"
        )
    batch, h, w, c = x.shape
    nb = b.shape[0]
    ind = bi.numpy().astype(np.int64)
    bad = (ind < 0) | (ind >= batch)
    if bad.any():
        i = int(np.argmax(bad))
        raise IndexError(
            f"crop_and_resize: box_ind must be in [0, {batch}) (the batch of image shape "
            f"{x.shape}), got {int(ind[i])} at position {i}"
        )
    bx = b.numpy().astype(np.float64)
    y1, x1, y2, x2 = (bx[:, i][:, None] for i in range(4))

    def coords(lo: np.ndarray, hi: np.ndarray, n: int, dim: int) -> np.ndarray:
        if n > 1:
            return lo * (dim - 1) + np.arange(n)[None, :] * ((hi - lo) * (dim - 1) / (n - 1))
        return np.broadcast_to(0.5 * (lo + hi) * (dim - 1), (lo.shape[0], 1))

    ys = coords(y1, y2, ch, h)[:, :, None]  # (nb, ch, 1)
    xs = coords(x1, x2, cw, w)[:, None, :]  # (nb, 1, cw)
    valid = (ys >= 0) & (ys <= h - 1) & (xs >= 0) & (xs <= w - 1)  # (nb, ch, cw)
    base = (ind * h * w)[:, None, None]
    flat = reshape(x, (batch * h * w, c))

    def take(yi: np.ndarray, xi: np.ndarray) -> Tensor:
        yi = np.clip(yi, 0, h - 1).astype(np.int64)
        xi = np.clip(xi, 0, w - 1).astype(np.int64)
        lin = np.broadcast_to(base + yi * w + xi, (nb, ch, cw)).astype(np.int32)
        return gather(flat, tensor(lin, dtype="int32"), 0, _checked=True)  # (nb, ch, cw, c)

    if method == "nearest":
        out = take(np.floor(ys + 0.5), np.floor(xs + 0.5))
    else:
        top, bottom = np.floor(ys), np.ceil(ys)
        left, right = np.floor(xs), np.ceil(xs)
        yl = tensor(np.broadcast_to(ys - top, (nb, ch, cw))[..., None], dtype="float32")
        xl = tensor(np.broadcast_to(xs - left, (nb, ch, cw))[..., None], dtype="float32")
        tl, tr = take(top, left), take(top, right)
        bl, br = take(bottom, left), take(bottom, right)
        t = add(tl, mul(sub(tr, tl), xl))
        bo = add(bl, mul(sub(br, bl), xl))
        out = add(t, mul(sub(bo, t), yl))
    mask = tensor(np.broadcast_to(valid, (nb, ch, cw))[..., None], dtype="bool")
    return where(mask, out, tensor(float(extrapolation_value), dtype="float32"))
