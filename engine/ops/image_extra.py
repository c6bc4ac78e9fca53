"""More TF.js ``tf.image`` ops: ``rotate_with_offset``, ``transform``, ``grayscale_to_rgb``,
``rgb_to_grayscale`` and ``threshold`` (exported in ``tw.image``).

``rotate_with_offset`` and ``transform`` compute where each output pixel samples the image
on the host, in float64 as TF.js 4.22's CPU kernels do (``RotateWithOffset.ts``,
``Transform.ts``), from the shapes, the angle and the (read back) transform matrices; the
pixels are then gathered, masked and blended on the device. TF.js registers no gradient for
either; here the results carry the gradient with respect to the image (gather and where
rules), not to the transforms. ``grayscale_to_rgb`` (a tile) and ``rgb_to_grayscale`` (a
weighted sum) are device composites, differentiable as in TF.js. ``threshold`` returns
int32 0/255 values, which have no gradient (as in TF.js); its Otsu threshold is found on
the host from a 256-bin histogram.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from engine import dtypes
from engine.ops.core import as_tensor, cast, reshape, tensor
from engine.ops.math import add, greater, less_equal, mul, where
from engine.ops.reduction import sum as reduce_sum
from engine.ops.shape import gather, slice, tile
from engine.tensor import Tensor
from engine.typing import TensorLike

__all__ = ["grayscale_to_rgb", "rgb_to_grayscale", "rotate_with_offset", "threshold", "transform"]

#: Luma weights (CCIR 601) TF.js uses in ``rgbToGrayscale`` and ``threshold``.
_LUMA = (0.2989, 0.5870, 0.1140)


def _number(value: object, name: str, op: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def _numbers(value: object, n: int, name: str, op: str) -> list[float]:
    """A number, or a sequence of exactly ``n`` numbers, as a list of floats."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return [float(value)]
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{op}: {name} must be a number or {n} numbers, got {value!r}")
    vals = list(value)
    if len(vals) != n:
        raise ValueError(f"{op}: {name} must be a number or {n} numbers, got {value!r}")
    return [_number(v, f"{name} entry", op) for v in vals]


def _float_image(image: TensorLike, op: str) -> Tensor:
    x = as_tensor(image)
    if x.rank != 4:
        raise ValueError(
            f"{op}: image must have rank 4 (batch, height, width, channels), got {x.shape}"
        )
    if not dtypes.is_float(x.dtype):
        raise TypeError(
            f"{op}: image must be float32 (as TF.js), got {x.dtype}; use cast(image, 'float32')"
        )
    return x


def _js_round(v: np.ndarray) -> np.ndarray:
    """JavaScript's ``Math.round``: the nearest integer, halves toward +inf (NaN stays)."""
    f = np.floor(v)
    return f + (v - f >= 0.5)


def _fill(values: list[float], channels: int, dtype: str) -> Tensor:
    return tensor(np.asarray(values[0] if len(values) == 1 else values[:channels]), dtype=dtype)


def rotate_with_offset(
    image: TensorLike,
    radians: float,
    fill_value: float | Sequence[float] = 0,
    center: float | Sequence[float] = 0.5,
) -> Tensor:
    """Rotate images counter-clockwise about a centre (TF.js ``image.rotateWithOffset``).

    Output pixel ``(row, col)`` takes the input pixel at
    ``round((col - cx) * cos(a) - (row - cy) * sin(a) + cx)`` (column) and
    ``round((col - cx) * sin(a) + (row - cy) * cos(a) + cy)`` (row), rounding halves up, as
    TF.js's kernel; positions outside the image take ``fill_value``. The centre in pixels is
    ``(cx, cy) = (width * center_x, height * center_y)``.

    Args:
        image: float32 ``(batch, height, width, channels)``.
        radians: The rotation angle (a finite number).
        fill_value: One value for every channel, or ``[red, green, blue]`` (then a fourth,
            alpha, channel is filled with 255 and more channels are an error).
        center: The centre of rotation as fractions of the width and height: one number for
            both, or ``[center_x, center_y]``.

    Returns:
        A Tensor of the image's shape and dtype (differentiable with respect to the image;
        TF.js registers no gradient).

    Raises:
        ValueError: A rank other than 4, a non-finite angle, a fill or centre list of the
            wrong length, or an RGB fill for more than 4 channels.
        TypeError: A non-float image or a non-numeric argument.

    Example:

    >>> img = tw.reshape(tw.range(0, 9), [1, 3, 3, 1])
    >>> out = tw.image.rotate_with_offset(img, 3.141592653589793 / 2, 0, 1 / 3)  # about (1, 1)
    >>> out.numpy().reshape(3, 3).tolist()
    [[2.0, 5.0, 8.0], [1.0, 4.0, 7.0], [0.0, 3.0, 6.0]]
    """
    op = "rotate_with_offset"
    x = _float_image(image, op)
    angle = _number(radians, "radians", op)
    if not math.isfinite(angle):
        raise ValueError(f"{op}: radians must be a finite number, got {radians!r}")
    fills = _numbers(fill_value, 3, "fill_value", op)
    centre = _numbers(center, 2, "center", op)
    b, h, w, c = x.shape
    if len(fills) == 3:
        if c > 4:
            raise ValueError(
                f"{op}: an RGB fill_value fills 3 channels (and alpha, 255, as a 4th); image "
                f"of shape {x.shape} has {c}: give one fill value"
            )
        fills = fills + [255.0]
    cx, cy = w * centre[0], h * centre[-1]
    sin, cos = math.sin(angle), math.cos(angle)
    rows, cols = np.meshgrid(
        np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij"
    )
    src_x = _js_round((cols - cx) * cos - (rows - cy) * sin + cx)
    src_y = _js_round((cols - cx) * sin + (rows - cy) * cos + cy)
    inside = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
    lin = np.where(inside, src_y * w + src_x, 0).astype(np.int32)
    flat = reshape(x, (b, h * w, c))
    out = gather(flat, tensor(lin, dtype="int32"), 1, _checked=True)  # (b, h, w, c)
    mask = tensor(inside[None, :, :, None], dtype="bool")
    return where(mask, out, _fill(fills, c, x.dtype))


def _map_coord(v: np.ndarray, n: int, mode: str) -> np.ndarray:
    """TF.js's ``mapCoord`` (Transform.ts) for one axis of length ``n``."""
    if mode == "constant":
        return v
    if mode == "nearest":
        return np.clip(v, 0, n - 1)
    v = v.copy()
    if n <= 1:
        v[(v < 0) | (v > n - 1)] = 0.0
        return np.clip(v, 0, n - 1)
    with np.errstate(invalid="ignore"):
        lo, hi = v < 0, v > n - 1
        if mode == "reflect":
            sz2 = 2.0 * n
            a = v[lo]
            a = np.where(a < sz2, sz2 * np.trunc(-a / sz2) + a, a)
            v[lo] = np.where(a < -n, a + sz2, -a - 1)
            a = v[hi]
            a = a - sz2 * np.trunc(a / sz2)
            v[hi] = np.where(a >= n, sz2 - a - 1, a)
        else:  # wrap
            sz = n - 1.0
            a = v[lo]
            v[lo] = a + n * (np.trunc(-a / sz) + 1)
            a = v[hi]
            v[hi] = a - n * np.trunc(a / sz)
    return np.clip(v, 0, n - 1)


def transform(
    image: TensorLike,
    transforms: TensorLike,
    interpolation: str = "nearest",
    fill_mode: str = "constant",
    fill_value: float = 0,
    output_shape: Sequence[int] | None = None,
) -> Tensor:
    """Apply projective transforms to images (TF.js ``image.transform``).

    A transform row ``[a0, a1, a2, b0, b1, b2, c0, c1]`` maps output pixel ``(x, y)`` to the
    input point ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y + 1``
    (the inverse of the image's motion); ``k == 0`` gives ``fill_value``. Points outside the
    image are first mapped by ``fill_mode`` (TF.js's ``mapCoord``): ``"constant"`` leaves
    them (they read ``fill_value``), ``"reflect"`` mirrors about the edge pixels (``dcba|abcd|
    dcba``), ``"wrap"`` repeats (``abcd|abcd|abcd``), ``"nearest"`` clamps; then
    ``"nearest"`` interpolation reads the pixel at the rounded point (halves up), and
    ``"bilinear"`` blends the four around it (neighbours outside the image read
    ``fill_value``). Every image in the batch is transformed (TF.js 4.22's CPU kernel returns
    after the first image and leaves the others at ``fill_value``: a bug not copied).

    Args:
        image: float32 ``(batch, height, width, channels)``.
        transforms: float32 ``(batch, 8)`` (one per image), ``(1, 8)`` or ``(8,)`` (one for
            all).
        interpolation: ``"nearest"`` or ``"bilinear"``.
        fill_mode: ``"constant"``, ``"reflect"``, ``"wrap"`` or ``"nearest"``.
        fill_value: The value of points outside the image (``"constant"`` mode and bilinear
            neighbours).
        output_shape: ``[height, width]`` of the output (default: the image's).

    Returns:
        A Tensor ``(batch, out_height, out_width, channels)`` of the image's dtype
        (differentiable with respect to the image; TF.js registers no gradient).

    Raises:
        ValueError: Bad shapes, an unknown mode, or a bad ``output_shape``.
        TypeError: A non-float image or transforms (as TF.js), or a non-numeric fill.

    Example:

    >>> img = tw.reshape(tw.range(0, 4), [1, 2, 2, 1])
    >>> shift = tw.tensor([[1, 0, 1, 0, 1, 0, 0, 0]])  # output x reads input x + 1
    >>> tw.image.transform(img, shift).numpy().ravel().tolist()
    [1.0, 0.0, 3.0, 0.0]
    """
    op = "transform"
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(
            f"{op}: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
        )
    if fill_mode not in ("constant", "reflect", "wrap", "nearest"):
        raise ValueError(
            f"{op}: fill_mode must be 'constant', 'reflect', 'wrap' or 'nearest', got {fill_mode!r}"
        )
    fill = _number(fill_value, "fill_value", op)
    x = _float_image(image, op)
    t = as_tensor(transforms)
    if not dtypes.is_float(t.dtype):
        raise TypeError(f"{op}: transforms must be float32 (as TF.js), got {t.dtype}")
    b, h, w, c = x.shape
    if t.rank == 1:
        t = reshape(t, (1,) + t.shape)
    if t.rank != 2 or t.shape[1] != 8 or t.shape[0] not in (1, b):
        raise ValueError(
            f"{op}: transforms must have shape ({b}, 8), (1, 8) or (8,) for image {x.shape}, "
            f"got {as_tensor(transforms).shape}"
        )
    if output_shape is None:
        oh, ow = h, w
    else:
        shp = dtypes.as_ints(list(output_shape), f"{op}: output_shape")
        if len(shp) != 2 or min(shp) < 1:
            raise ValueError(
                f"{op}: output_shape must be [height, width] of positive ints, got {output_shape}"
            )
        oh, ow = shp
    m = t.numpy().astype(np.float64)[:, :, None, None]  # (T, 8, 1, 1)
    oy, ox = np.meshgrid(
        np.arange(oh, dtype=np.float64), np.arange(ow, dtype=np.float64), indexing="ij"
    )
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        k = m[:, 6] * ox + m[:, 7] * oy + 1  # (T, oh, ow), JS's evaluation order
        projected = k != 0
        ks = np.where(projected, k, 1.0)
        in_x = _map_coord((m[:, 0] * ox + m[:, 1] * oy + m[:, 2]) / ks, w, fill_mode)
        in_y = _map_coord((m[:, 3] * ox + m[:, 4] * oy + m[:, 5]) / ks, h, fill_mode)
    shape = (b, oh, ow)
    in_x, in_y = np.broadcast_to(in_x, shape), np.broadcast_to(in_y, shape)
    base = (np.arange(b) * (h * w))[:, None, None]
    flat = reshape(x, (b * h * w, c))
    fill_t = tensor(fill, dtype=x.dtype)

    def read(yy: np.ndarray, xx: np.ndarray) -> Tensor:
        with np.errstate(invalid="ignore"):
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        lin = np.where(ok, base + np.where(ok, yy, 0) * w + np.where(ok, xx, 0), 0)
        got = gather(flat, tensor(lin.astype(np.int32), dtype="int32"), 0, _checked=True)
        return where(tensor(ok[..., None], dtype="bool"), got, fill_t)

    def weight(v: np.ndarray) -> Tensor:
        return tensor(v[..., None].astype(x.dtype), dtype=x.dtype)

    with np.errstate(invalid="ignore"):
        if interpolation == "nearest":
            out = read(_js_round(in_y), _js_round(in_x))
        else:
            yf, xf = np.floor(in_y), np.floor(in_x)
            yc, xc = yf + 1, xf + 1
            ax, bx = weight(xc - in_x), weight(in_x - xf)
            top = add(mul(ax, read(yf, xf)), mul(bx, read(yf, xc)))
            bottom = add(mul(ax, read(yc, xf)), mul(bx, read(yc, xc)))
            out = add(mul(weight(yc - in_y), top), mul(weight(in_y - yf), bottom))
    if not projected.all():
        keep = np.broadcast_to(projected, shape)[..., None]
        out = where(tensor(keep, dtype="bool"), out, fill_t)
    return out


def grayscale_to_rgb(image: TensorLike) -> Tensor:
    """Repeat a grayscale channel three times (TF.js ``image.grayscaleToRGB``).

    Args:
        image: A tensor of rank >= 2 whose last axis has size 1.

    Returns:
        A Tensor of the same dtype with a last axis of size 3 (a tile: differentiable).

    Raises:
        ValueError: Rank below 2 or a last axis other than 1.

    Example:

    >>> tw.image.grayscale_to_rgb(tw.tensor([[1.0], [2.0]])).tolist()
    [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    """
    x = as_tensor(image)
    if x.rank < 2 or x.shape[-1] != 1:
        raise ValueError(
            f"grayscale_to_rgb: image must have rank >= 2 and a last axis of size 1, got shape "
            f"{x.shape}"
        )
    return tile(x, [1] * (x.rank - 1) + [3])


def rgb_to_grayscale(image: TensorLike) -> Tensor:
    """Luma of RGB images (TF.js ``image.rgbToGrayscale``):
    ``0.2989 * r + 0.5870 * g + 0.1140 * b``, computed in float32.

    Args:
        image: A tensor of rank >= 2 whose last axis holds ``[r, g, b]``.

    Returns:
        A Tensor of the image's dtype with a last axis of size 1 (int32 images truncate, as
        TF.js's cast; float images are differentiable).

    Raises:
        ValueError: Rank below 2 or a last axis other than 3.

    Example:

    >>> gray = tw.image.rgb_to_grayscale(tw.tensor([[10.0, 20.0, 30.0]]))
    >>> gray.shape, round(gray.item(), 3)
    ((1, 1), 18.149)
    """
    x = as_tensor(image)
    if x.rank < 2 or x.shape[-1] != 3:
        raise ValueError(
            f"rgb_to_grayscale: image must have rank >= 2 and a last axis of size 3 (r, g, b), "
            f"got shape {x.shape}"
        )
    luma = tensor(np.asarray(_LUMA, dtype=np.float32), dtype="float32")
    gray = reduce_sum(mul(cast(x, "float32"), luma), -1, keepdims=True)
    return cast(gray, x.dtype)


def _otsu(gray: np.ndarray) -> float:
    """TF.js's ``otsu`` on ``bincount(round(gray), size=256)``: float32 arithmetic, sums in
    float64 rounded to float32 (as the CPU backend's sum), the first best split wins; -1
    when no split separates anything."""
    g = gray.astype(np.float64).reshape(-1)
    r = np.nan_to_num(np.round(g), nan=0.0)  # round half to even; cast NaN -> 0, as TF.js
    if r.size and r.min() < 0:
        raise ValueError(
            f"threshold: method 'otsu' needs non-negative grayscale values (TF.js's bincount "
            f"rejects them), got {float(g[np.argmin(r)])}"
        )
    hist = np.bincount(r[r < 256].astype(np.int64), minlength=256).astype(np.float32)
    idx = np.arange(256, dtype=np.float32)
    total = np.float32(g.size)
    cum_n = np.cumsum(hist.astype(np.float64))
    cum_s = np.cumsum((hist * idx).astype(np.float64))
    best, best_var = -1.0, np.float32(0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for i in range(255):
            n1 = np.float32(cum_n[i])
            n2 = np.float32(cum_n[-1] - cum_n[i])
            s1 = np.float32(cum_s[i])
            s2 = np.float32(cum_s[-1] - cum_s[i])  # integer sums: exact in float64
            w1, w2 = n1 / total, n2 / total
            diff = s1 / n1 - s2 / n2
            var = w1 * w2 * diff * diff
            if var > best_var:
                best, best_var = float(i), var
    return best


def threshold(
    image: TensorLike,
    method: str = "binary",
    inverted: bool = False,
    thresh_value: float = 0.5,
) -> Tensor:
    """Binarise an image to 0 / 255 (TF.js ``image.threshold``).

    The grayscale value (the image itself with one channel; ``0.2989 r + 0.5870 g + 0.1140
    b`` in float32 with three) is compared with ``thresh_value * 255`` (``"binary"``) or with
    the Otsu threshold of its 256-bin histogram of rounded values (``"otsu"``, found on the
    host; values above 255 fall outside the histogram, negative ones are an error as in
    TF.js). Pixels above the threshold give 255 (``inverted``: pixels at or below it).

    Args:
        image: int32 or float32 ``(height, width, channels)``, channels 1 or 3, values in
            ``[0, 255]``.
        method: ``"binary"`` or ``"otsu"``.
        inverted: Swap 0 and 255.
        thresh_value: The binary threshold as a fraction of 255.

    Returns:
        An int32 Tensor ``(height, width, 1)`` of 0 and 255 (one channel, as TF.js; no
        gradient).

    Raises:
        ValueError: A bad rank, channel count or method, or negative values with ``"otsu"``.
        TypeError: A dtype other than int32/float32, or a non-numeric ``thresh_value``.

    Example:

    >>> img = tw.tensor([[[100.0], [200.0]]])
    >>> tw.image.threshold(img).numpy().ravel().tolist()
    [0, 255]
    """
    op = "threshold"
    x = as_tensor(image)
    if x.rank != 3 or x.shape[2] not in (1, 3):
        raise ValueError(
            f"{op}: image must have shape (height, width, 1 or 3 channels), got {x.shape}"
        )
    if x.dtype not in ("int32", "float32"):
        raise TypeError(f"{op}: image dtype must be int32 or float32, got {x.dtype}")
    if method not in ("binary", "otsu"):
        raise ValueError(f"{op}: method must be 'binary' or 'otsu', got {method!r}")
    if not isinstance(inverted, (bool, np.bool_)):
        raise TypeError(f"{op}: inverted must be a bool, got {inverted!r}")
    level = _number(thresh_value, "thresh_value", op)
    h, w, c = x.shape
    if c == 3:
        f = cast(x, "float32")
        r, g, b = (slice(f, [0, 0, k], [h, w, 1]) for k in range(3))
        gray = add(add(mul(r, _LUMA[0]), mul(g, _LUMA[1])), mul(b, _LUMA[2]))
    else:
        gray = x
    if method == "otsu":
        cut = np.float32(_otsu(gray.numpy()))
    else:
        cut = np.float32(level) * np.float32(255)
    cut_t = tensor(cut, dtype="float32")
    if gray.dtype != "float32":
        gray = cast(gray, "float32")
    hit = less_equal(gray, cut_t) if inverted else greater(gray, cut_t)
    return where(hit, tensor(255, dtype="int32"), tensor(0, dtype="int32"))
