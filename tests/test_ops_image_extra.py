"""The rest of TF.js's ``tf.image`` ops and three small core ops (issue 21): the
non_max_suppression family, rotate_with_offset, transform, grayscale_to_rgb,
rgb_to_grayscale, threshold, setdiff1d(_async), bitwise_and and broadcast_args.

Each runs on every backend against a hand-written numpy reference: a literal loop port of
TF.js 4.22's algorithm (``nonMaxSuppressionImpl_``, the CPU kernels of ``Transform`` and
``RotateWithOffset``, ``threshold``'s ``otsu``), written differently from the engine's
vectorised code, plus values copied from TF.js's own unit tests (``*_test.ts`` beside those
ops). Also the argument errors, the gradients the composites carry, and the docstring
examples."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest
from _oracle import check, check_grads

import engine as tw

MODULES = ["engine.ops.nms", "engine.ops.image_extra", "engine.ops.int_ops"]


def _f32(a):
    return tw.tensor(np.asarray(a, dtype=np.float32), dtype="float32")


def _i32(a):
    return tw.tensor(np.asarray(a, dtype=np.int32), dtype="int32")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    mod = importlib.import_module(name)
    with tw.backend_scope("numpy"):
        res = doctest.testmod(mod, extraglobs={"tw": tw}, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0


# --- non-maximum suppression --------------------------------------------------------------------
def _np_nms(boxes, scores, max_out, iou_thr, score_thr, sigma):
    """TF.js's nonMaxSuppressionImpl_ step by step: the best candidate is searched for on
    each round (instead of a sorted queue), IoU per pair as in intersectionOverUnion."""
    boxes = np.asarray(boxes, np.float32).astype(np.float64)
    scores = np.asarray(scores, np.float32).astype(np.float64)
    max_out = min(max_out, len(scores))

    def iou(i, j):
        yi0, yi1 = min(boxes[i, 0], boxes[i, 2]), max(boxes[i, 0], boxes[i, 2])
        xi0, xi1 = min(boxes[i, 1], boxes[i, 3]), max(boxes[i, 1], boxes[i, 3])
        yj0, yj1 = min(boxes[j, 0], boxes[j, 2]), max(boxes[j, 0], boxes[j, 2])
        xj0, xj1 = min(boxes[j, 1], boxes[j, 3]), max(boxes[j, 1], boxes[j, 3])
        ai, aj = (yi1 - yi0) * (xi1 - xi0), (yj1 - yj0) * (xj1 - xj0)
        if ai <= 0 or aj <= 0:
            return 0.0
        inter = max(min(yi1, yj1) - max(yi0, yj0), 0.0) * max(min(xi1, xj1) - max(xi0, xj0), 0.0)
        return inter / (ai + aj - inter)

    scale = -0.5 / sigma if sigma > 0 else 0.0
    cands = [[float(scores[i]), i, 0] for i in range(len(scores)) if scores[i] > score_thr]
    sel, sel_scores = [], []
    while len(sel) < max_out and cands:
        k = max(range(len(cands)), key=lambda t: (cands[t][0], -cands[t][1]))
        score, i, begin = cands.pop(k)
        original = score
        if original < score_thr:
            break
        ignore = False
        for j in range(len(sel) - 1, begin - 1, -1):
            v = iou(i, sel[j])
            if v >= iou_thr:
                ignore = True
                break
            score *= math.exp(scale * v * v) if v <= iou_thr else 0.0
            if score <= score_thr:
                break
        begin = len(sel)
        if not ignore:
            if score == original:
                sel.append(i)
                sel_scores.append(score)
            elif score > score_thr:
                cands.append([score, i, begin])
    return sel, sel_scores


CLUSTERS = [
    [0, 0, 1, 1],
    [0, 0.1, 1, 1.1],
    [0, -0.1, 1, 0.9],
    [0, 10, 1, 11],
    [0, 10.1, 1, 11.1],
    [0, 100, 1, 101],
]
CLUSTER_SCORES = [0.9, 0.75, 0.6, 0.95, 0.5, 0.3]


def test_nms_tfjs_unit_test_values(backend):
    b, s = _f32(CLUSTERS), _f32(CLUSTER_SCORES)
    nms = tw.image.non_max_suppression
    for n, want in ((3, [3, 0, 5]), (2, [3, 0]), (30, [3, 0, 5])):
        got = nms(b, s, n, 0.5, 0)
        assert got.dtype == "int32" and got.tolist() == want
    flipped = [[1, 1, 0, 0], [0, 0.1, 1, 1.1], [0, 0.9, 1, -0.1], [0, 10, 1, 11]]
    flipped += [[1, 10.1, 0, 11.1], [1, 101, 0, 100]]
    assert nms(_f32(flipped), s, 3, 0.5, 0).tolist() == [3, 0, 5]
    assert nms(_f32([[0, 0, 1, 1]]), _f32([0.9]), 3, 0.5, 0).tolist() == [0]
    assert nms(_f32([[0, 0, 1, 1]] * 10), _f32([0.9] * 10), 3, 0.5, 0).tolist() == [0]
    assert nms([[0, 0, 1, 1], [0, 1, 1, 2]], [1, 2], 10).tolist() == [1, 0]  # tensor-likes
    empty = nms(tw.zeros([0, 4]), tw.zeros([0]), 10)
    assert empty.shape == (0,) and empty.dtype == "int32"
    scores = tw.div(_f32([0, 1, -2, -4, 4, -4]), _f32([0.15, 0.2, 0.25, 0.5, 0.7, 1.2]))
    assert nms(b, scores, 2, 0.5, 0).tolist() == [4, 1]
    assert tw.image.non_max_suppression_async(b, s, 3, 0.5, 0).tolist() == [3, 0, 5]

    idx, sc = tw.image.non_max_suppression_with_score(b, s, 6, 1.0, 0, 0.5)
    assert idx.tolist() == [3, 0, 1, 5, 4, 2] and sc.dtype == "float32"
    np.testing.assert_allclose(sc.numpy(), [0.95, 0.9, 0.384, 0.3, 0.256, 0.197], atol=1e-3)
    idx2, sc2 = tw.image.non_max_suppression_with_score_async(b, s, 6, 1.0, 0, 0.5)
    assert idx2.tolist() == idx.tolist() and sc2.tolist() == sc.tolist()

    pad = tw.image.non_max_suppression_padded
    for args, want, valid in (
        ((5, 0.5, 0.0, True), [3, 0, 5, 0, 0], 3),
        ((6, 0.5, 0.4, True), [3, 0, 0, 0, 0, 0], 2),
        ((5, 0.5, 0.0, False), [3, 0, 5], 3),
        ((50, 0.5, 0.0, True), [3, 0, 5, 0, 0, 0], 3),  # padding stops at num_boxes
    ):
        got, v = pad(b, s, *args)
        assert got.tolist() == want and v.shape == () and v.dtype == "int32" and v.item() == valid
    got, v = tw.image.non_max_suppression_padded_async(b, s, 5, 0.5, 0.0, True)
    assert got.tolist() == [3, 0, 5, 0, 0] and v.item() == 3


@pytest.mark.parametrize("sigma", [0.0, 0.3, 1.0])
def test_nms_matches_reference_with_ties(backend, sigma):
    rng = np.random.default_rng(1)
    n = 60
    y0, x0 = rng.uniform(0, 8, n), rng.uniform(0, 8, n)
    boxes = np.stack([y0, x0, y0 + rng.uniform(-3, 3, n), x0 + rng.uniform(-3, 3, n)], 1)
    boxes[:3] = [[1, 1, 1, 4], [2, 2, 2, 2], [0, 0, 3, 3]]  # zero-area boxes: IoU 0
    boxes = boxes.astype(np.float32)
    scores = (rng.integers(0, 8, n) / 8).astype(np.float32)  # many ties: lowest index first
    for iou_thr, score_thr, max_out in ((0.5, -np.inf, 100), (0.3, 0.2, 12), (0.0, 0.1, 60)):
        want, want_scores = _np_nms(boxes, scores, max_out, iou_thr, score_thr, sigma)
        idx, sc = tw.image.non_max_suppression_with_score(
            _f32(boxes), _f32(scores), max_out, iou_thr, score_thr, sigma
        )
        assert idx.tolist() == want, (iou_thr, score_thr)
        np.testing.assert_array_equal(sc.numpy(), np.asarray(want_scores, np.float32))
        if sigma == 0.0:
            got = tw.image.non_max_suppression(
                _f32(boxes), _f32(scores), max_out, iou_thr, score_thr
            )
            assert got.tolist() == want


def test_nms_errors(backend):
    b, s = _f32(CLUSTERS), _f32(CLUSTER_SCORES)
    nms = tw.image.non_max_suppression
    with pytest.raises(ValueError, match=r"boxes must have shape \(num_boxes, 4\), got \(6, 3\)"):
        nms(_f32(np.zeros((6, 3))), s, 3)
    with pytest.raises(ValueError, match=r"scores must have shape \(6,\)"):
        nms(b, _f32([1, 2]), 3)
    with pytest.raises(ValueError, match=r"iou_threshold must be in \[0, 1\], got 1.5"):
        nms(b, s, 3, 1.5)
    with pytest.raises(ValueError, match="soft_nms_sigma must be in"):
        tw.image.non_max_suppression_with_score(b, s, 3, 0.5, 0.0, 2.0)
    with pytest.raises(ValueError, match="max_output_size"):
        nms(b, s, -1)
    with pytest.raises(TypeError, match="boxes must be float32"):
        nms(tw.tensor(np.ones((6, 4), bool)), s, 3)
    with pytest.raises(TypeError, match="score_threshold must be a number"):
        nms(b, s, 3, 0.5, "0")
    with pytest.raises(TypeError, match="pad_to_max_output_size must be a bool"):
        tw.image.non_max_suppression_padded(b, s, 3, 0.5, 0.0, 1)


# --- transform and rotate_with_offset -----------------------------------------------------------
def _js_round(v):
    return math.floor(v + 0.5) if v - math.floor(v) >= 0.5 else math.floor(v)


def _map_coord(v, n, mode):
    """mapCoord from TF.js's Transform.ts, one coordinate at a time."""
    if mode == "reflect":
        if v < 0:
            if n <= 1:
                v = 0.0
            else:
                sz2 = 2 * n
                if v < sz2:
                    v = sz2 * math.trunc(-v / sz2) + v
                v = v + sz2 if v < -n else -v - 1
        elif v > n - 1:
            if n <= 1:
                v = 0.0
            else:
                sz2 = 2 * n
                v -= sz2 * math.trunc(v / sz2)
                if v >= n:
                    v = sz2 - v - 1
        return max(0, min(v, n - 1))
    if mode == "wrap":
        if v < 0:
            v = 0.0 if n <= 1 else v + n * (math.trunc(-v / (n - 1)) + 1)
        elif v > n - 1:
            v = 0.0 if n <= 1 else v - n * math.trunc(v / (n - 1))
        return max(0, min(v, n - 1))
    if mode == "nearest":
        return max(0, min(v, n - 1))
    return v


def _np_transform(img, transforms, interp, mode, fill, out_hw):
    """TF.js's CPU Transform kernel, pixel by pixel (for every image of the batch)."""
    b, h, w, c = img.shape
    oh, ow = out_hw
    out = np.full((b, oh, ow, c), fill, np.float64)

    def read(bi, y, x, ch):
        return float(img[bi, y, x, ch]) if 0 <= y < h and 0 <= x < w else fill

    for bi in range(b):
        t = [float(v) for v in transforms[0 if len(transforms) == 1 else bi]]
        for oy in range(oh):
            for ox in range(ow):
                k = t[6] * ox + t[7] * oy + 1
                if k == 0:
                    continue
                x = _map_coord((t[0] * ox + t[1] * oy + t[2]) / k, w, mode)
                y = _map_coord((t[3] * ox + t[4] * oy + t[5]) / k, h, mode)
                for ch in range(c):
                    if interp == "nearest":
                        out[bi, oy, ox, ch] = read(bi, _js_round(y), _js_round(x), ch)
                        continue
                    y0, x0 = math.floor(y), math.floor(x)
                    y1, x1 = y0 + 1, x0 + 1
                    top = (x1 - x) * read(bi, y0, x0, ch) + (x - x0) * read(bi, y0, x1, ch)
                    bot = (x1 - x) * read(bi, y1, x0, ch) + (x - x0) * read(bi, y1, x1, ch)
                    out[bi, oy, ox, ch] = (y1 - y) * top + (y - y0) * bot
    return out


TFJS_IMAGE = [1, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0]
TFJS_TRANSFORM = [[0, 0.5, 1, -1, 2, 3, 0, 0]]


@pytest.mark.parametrize(
    "interp,mode,want",
    [
        ("nearest", "constant", [1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("bilinear", "constant", [1, 0, 1, 1, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("bilinear", "reflect", [1, 0, 1, 1, 0.5, 0.5, 0.5, 0.5, 1, 0, 1, 0, 0, 0.5, 0.5, 0]),
        ("bilinear", "wrap", [1, 0, 1, 1, 0.5, 1, 0.5, 0.5, 1, 1, 0, 1, 0.5, 0.5, 0.5, 0.5]),
        ("bilinear", "nearest", [1, 0, 1, 1, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0]),
    ],
)
def test_transform_tfjs_unit_test_values(backend, interp, mode, want):
    img = _f32(np.reshape(TFJS_IMAGE, (1, 4, 4, 1)))
    got = tw.image.transform(img, _f32(TFJS_TRANSFORM), interp, mode)
    check(got, np.reshape(want, (1, 4, 4, 1)), "float32", atol=1e-6)


def test_transform_matches_reference(backend):
    rng = np.random.default_rng(2)
    img = rng.uniform(-1, 1, (2, 5, 6, 2)).astype(np.float32)
    per_image = np.array(
        [[0.9, -0.3, 1.2, 0.4, 1.1, -2.0, 0.01, -0.02], [-1.0, 0.2, 9.5, 0.1, 1.3, -1.7, 0.0, 0.0]],
        np.float32,
    )
    shared = np.array([[1.7, 0.4, -3.1, -0.6, 1.9, -2.2, 0.0, 0.0]], np.float32)
    zero_k = np.array([[1, 0, 0, 0, 1, 0, -0.5, 0]], np.float32)  # k == 0 at x == 2
    for interp in ("nearest", "bilinear"):
        for mode in ("constant", "reflect", "wrap", "nearest"):
            for t, out_hw in ((per_image, (5, 6)), (shared, (4, 7)), (zero_k, (3, 4))):
                got = tw.image.transform(_f32(img), _f32(t), interp, mode, -0.5, out_hw)
                want = _np_transform(img, t, interp, mode, -0.5, out_hw)
                check(got, want, "float32", atol=1e-5)
    extreme = np.reshape([1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1], (1, 4, 4, 1))
    got = tw.image.transform(_f32(extreme), _f32([1, 0, 0, 0, 1, 0, -1, 0]))  # (8,) is (1, 8)
    check(got, np.reshape([1] + [0] * 7 + [1] + [0] * 7, (1, 4, 4, 1)), "float32")
    t = _f32(per_image)
    check_grads(lambda x: tw.image.transform(x, t, "bilinear", "reflect"), img[:, :3, :4])


def test_transform_errors(backend):
    img, t = tw.zeros([2, 3, 3, 1]), _f32(TFJS_TRANSFORM)
    with pytest.raises(ValueError, match="interpolation must be 'nearest' or 'bilinear'"):
        tw.image.transform(img, t, "cubic")
    with pytest.raises(ValueError, match="fill_mode must be"):
        tw.image.transform(img, t, "nearest", "mirror")
    with pytest.raises(ValueError, match="image must have rank 4"):
        tw.image.transform(tw.zeros([3, 3, 1]), t)
    with pytest.raises(ValueError, match=r"transforms must have shape \(2, 8\)"):
        tw.image.transform(img, tw.zeros([3, 8]))
    with pytest.raises(TypeError, match="image must be float32"):
        tw.image.transform(_i32(np.zeros((1, 2, 2, 1))), t)
    with pytest.raises(TypeError, match="transforms must be float32"):
        tw.image.transform(img, _i32([[1, 0, 0, 0, 1, 0, 0, 0]]))
    with pytest.raises(ValueError, match="output_shape must be"):
        tw.image.transform(img, t, output_shape=[3])


def _np_rotate(img, radians, fill, center):
    """TF.js's CPU RotateWithOffset kernel, pixel by pixel."""
    b, h, w, c = img.shape
    cx = w * (center if np.isscalar(center) else center[0])
    cy = h * (center if np.isscalar(center) else center[1])
    sin, cos = math.sin(radians), math.cos(radians)
    out = np.zeros(img.shape, np.float64)
    for bi, row, col, ch in np.ndindex(b, h, w, c):
        x = _js_round((col - cx) * cos - (row - cy) * sin + cx)
        y = _js_round((col - cx) * sin + (row - cy) * cos + cy)
        value = fill if np.isscalar(fill) else (255 if ch == 3 else fill[ch])
        if 0 <= x < w and 0 <= y < h:
            value = img[bi, y, x, ch]
        out[bi, row, col, ch] = value
    return out


def test_rotate_with_offset_matches_reference(backend):
    img = np.random.default_rng(3).uniform(0, 255, (2, 5, 7, 4)).astype(np.float32)
    for radians, fill, center in (
        (math.pi / 2, 0, 0.5),
        (-math.pi / 2, 0, 0.5),
        (math.pi / 4, 255, [0.25, 0.75]),
        (0.3, [10, 20, 30], [0.5, 0.1]),
        (2.5, 7.5, 0.0),
    ):
        got = tw.image.rotate_with_offset(_f32(img), radians, fill, center)
        check(got, _np_rotate(img, radians, fill, center), "float32")
    one = _f32(np.arange(9).reshape(1, 3, 3, 1))
    got = tw.image.rotate_with_offset(one, math.pi / 2, 0, 1 / 3)  # about pixel (1, 1)
    check(got, np.arange(9).reshape(3, 3).T[::-1].reshape(1, 3, 3, 1), "float32")
    check_grads(lambda x: tw.image.rotate_with_offset(x, 0.7, 1.0), img[:1, :3, :4, :1] / 255)


def test_rotate_with_offset_errors(backend):
    with pytest.raises(TypeError, match="image must be float32"):
        tw.image.rotate_with_offset(_i32(np.ones((1, 1, 1, 4))), math.pi / 2)
    with pytest.raises(ValueError, match="image must have rank 4"):
        tw.image.rotate_with_offset(tw.zeros([2, 2, 3]), 1.0)
    with pytest.raises(ValueError, match="radians must be a finite number"):
        tw.image.rotate_with_offset(tw.zeros([1, 2, 2, 3]), float("nan"))
    with pytest.raises(ValueError, match="fill_value must be a number or 3 numbers"):
        tw.image.rotate_with_offset(tw.zeros([1, 2, 2, 3]), 1.0, [1, 2])
    with pytest.raises(ValueError, match="center must be a number or 2 numbers"):
        tw.image.rotate_with_offset(tw.zeros([1, 2, 2, 3]), 1.0, 0, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="has 5"):
        tw.image.rotate_with_offset(tw.zeros([1, 2, 2, 5]), 1.0, [1, 2, 3])


# --- grayscale, threshold -----------------------------------------------------------------------
def test_grayscale_conversions(backend):
    rgb = _i32([[16, 24, 56], [1, 2, 9]])
    got = tw.image.rgb_to_grayscale(rgb)  # TF.js's test: int32 truncates
    assert got.dtype == "int32" and got.shape == (2, 1) and got.tolist() == [[25], [2]]
    got = tw.image.rgb_to_grayscale(_f32([[[[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]]]))
    check(got, [[[[1.8149], [2.8148]]]], "float32", atol=1e-5)
    x = np.random.default_rng(4).uniform(0, 255, (2, 1, 3, 2, 3)).astype(np.float32)
    want = x.astype(np.float64) @ np.array([0.2989, 0.5870, 0.1140])
    check(tw.image.rgb_to_grayscale(_f32(x)), want[..., None], "float32")
    check_grads(tw.image.rgb_to_grayscale, x[0, 0] / 255)
    g = np.arange(6, dtype=np.int32).reshape(1, 2, 3, 1)
    check(tw.image.grayscale_to_rgb(_i32(g)), np.repeat(g, 3, -1), "int32")
    check_grads(tw.image.grayscale_to_rgb, x[0, 0, :, :, :1])
    with pytest.raises(ValueError, match=r"last axis of size 3 .*got shape \(1, 1, 3, 2\)"):
        tw.image.rgb_to_grayscale(tw.zeros([1, 1, 3, 2]))
    with pytest.raises(ValueError, match="rank >= 2"):
        tw.image.rgb_to_grayscale(tw.zeros([3]))
    with pytest.raises(ValueError, match="last axis of size 1"):
        tw.image.grayscale_to_rgb(tw.zeros([2, 3]))


#: The 7 x 10 x 3 image of TF.js's threshold_test.ts and its expected outputs (1 = 255).
THRESHOLD_IMAGE = [
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    254,
    253,
    252,
    235,
    195,
    252,
    234,
    192,
    255,
    254,
    253,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    253,
    245,
    237,
    247,
    198,
    107,
    239,
    156,
    43,
    236,
    139,
    68,
    246,
    201,
    139,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    252,
    239,
    235,
    241,
    171,
    122,
    233,
    125,
    44,
    250,
    221,
    183,
    252,
    240,
    229,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    251,
    233,
    227,
    229,
    105,
    42,
    249,
    221,
    190,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    254,
    247,
    245,
    243,
    184,
    144,
    255,
    254,
    254,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    253,
    244,
    241,
    249,
    217,
    206,
    251,
    231,
    224,
    251,
    230,
    223,
    250,
    225,
    217,
    250,
    224,
    215,
    250,
    228,
    220,
    247,
    235,
    231,
    235,
    234,
    234,
    255,
    255,
    255,
    255,
    253,
    253,
    252,
    235,
    230,
    253,
    243,
    240,
    251,
    233,
    226,
    253,
    242,
    238,
    254,
    247,
    244,
    252,
    235,
    230,
    242,
    232,
    229,
    240,
    240,
    240,
    255,
    255,
    255,
]
THRESHOLD_BIN07 = "1111111111111100111111110111111111011111111111111111111111111111111111"
THRESHOLD_BIN07_INV = "0000000000000011000000001000000000100000000000000000000000000000000000"
THRESHOLD_OTSU = "1111111111111000111111100111111111011111111101111111111111111111111111"
THRESHOLD_OTSU_INV = "0000000000000111000000011000000000100000000010000000000000000000000000"


def _bits(t):
    vals = t.numpy().ravel()
    assert set(vals.tolist()) <= {0, 255}
    return "".join("1" if v == 255 else "0" for v in vals)


def _np_otsu(gray):
    """threshold's otsu() from TF.js, one split at a time, in float32 (sums of float32
    products accumulated in float64, then rounded, as the CPU backend's sum)."""
    r = np.round(gray.astype(np.float64).ravel())
    hist = np.zeros(256, np.float32)
    for v in r:
        if v < 256:
            hist[int(v)] += 1
    total = np.float32(r.size)
    best, best_var = -1, np.float32(0)
    for i in range(255):
        first, second = hist[: i + 1], hist[i + 1 :]
        n1 = np.float32(np.sum(first.astype(np.float64)))
        n2 = np.float32(np.sum(second.astype(np.float64)))
        s1 = np.float32(np.sum((first * np.arange(i + 1, dtype=np.float32)).astype(np.float64)))
        second_idx = np.arange(255 - i, dtype=np.float32) + np.float32(i + 1)
        s2 = np.float32(np.sum((second * second_idx).astype(np.float64)))
        with np.errstate(invalid="ignore", divide="ignore"):
            d = s1 / n1 - s2 / n2
            var = (n1 / total) * (n2 / total) * d * d
        if var > best_var:
            best, best_var = i, var
    return best


def test_threshold_tfjs_unit_test_values(backend):
    img = np.reshape(THRESHOLD_IMAGE, (7, 10, 3))
    for dt in ("float32", "int32"):
        x = tw.tensor(img.astype(dt), dtype=dt)
        out = tw.image.threshold(x, "binary", False, 0.7)
        assert out.shape == (7, 10, 1) and out.dtype == "int32"
        assert _bits(out) == THRESHOLD_BIN07
        assert _bits(tw.image.threshold(x, "binary", True, 0.7)) == THRESHOLD_BIN07_INV
        assert _bits(tw.image.threshold(x, "otsu")) == THRESHOLD_OTSU
        assert _bits(tw.image.threshold(x, "otsu", True)) == THRESHOLD_OTSU_INV
    small = _f32(np.reshape([144, 255, 51, 13, 32, 59, 222, 100, 51, 69, 71, 222], (2, 2, 3)))
    assert tw.image.threshold(small).numpy().ravel().tolist() == [255, 0, 255, 0]


def test_threshold_matches_reference(backend):
    rng = np.random.default_rng(5)
    luma = np.array([0.2989, 0.5870, 0.1140], np.float32)
    for shape, dt in (((6, 9, 3), "float32"), ((5, 8, 1), "int32"), ((4, 4, 1), "float32")):
        img = rng.integers(0, 300, shape).astype(dt)  # values above 255 miss the histogram
        if shape[2] == 3:
            f = img.astype(np.float32)
            gray = (f[..., 0] * luma[0] + f[..., 1] * luma[1]) + f[..., 2] * luma[2]
        else:
            gray = img[..., 0].astype(np.float32)
        for method, inv, level in (
            ("binary", False, 0.3),
            ("binary", True, 0.55),
            ("otsu", False, 0.5),
        ):
            cut = np.float32(_np_otsu(gray)) if method == "otsu" else np.float32(level) * 255
            hit = gray <= cut if inv else gray > cut
            got = tw.image.threshold(tw.tensor(img, dtype=dt), method, inv, level)
            check(got, np.where(hit, 255, 0).astype(np.int32)[..., None], "int32")
    flat = tw.image.threshold(_f32(np.full((2, 2, 1), 7.0)), "otsu")  # no split: -1, all 255
    assert flat.numpy().ravel().tolist() == [255] * 4


def test_threshold_errors(backend):
    with pytest.raises(ValueError, match=r"image must have shape \(height, width, 1 or 3"):
        tw.image.threshold(tw.zeros([2, 2, 2]))
    with pytest.raises(ValueError, match=r"image must have shape"):
        tw.image.threshold(tw.zeros([1, 2, 2, 3]))
    with pytest.raises(TypeError, match="int32 or float32, got bool"):
        tw.image.threshold(tw.tensor(np.ones((2, 2, 1), bool)))
    with pytest.raises(ValueError, match="method must be 'binary' or 'otsu'"):
        tw.image.threshold(tw.zeros([2, 2, 1]), "mean")
    with pytest.raises(ValueError, match="non-negative"):
        tw.image.threshold(_f32(np.full((2, 2, 1), -3.0)), "otsu")
    with pytest.raises(TypeError, match="thresh_value must be a number"):
        tw.image.threshold(tw.zeros([2, 2, 1]), "binary", False, "half")


# --- setdiff1d, bitwise_and, broadcast_args -----------------------------------------------------
def test_setdiff1d(backend):
    out, idx = tw.setdiff1d_async(_i32([1, 2, 3, 4]), _i32([1, 2]))
    assert out.dtype == "int32" and idx.dtype == "int32"
    assert out.tolist() == [3, 4] and idx.tolist() == [2, 3]
    out, idx = tw.setdiff1d([1, 2, 3, 4], [1, 3])  # tensor-likes: float32
    assert out.dtype == "float32" and out.tolist() == [2.0, 4.0] and idx.tolist() == [1, 3]
    out, idx = tw.setdiff1d(_f32([1, 2, 3, 4]), _f32([4, 3, 2, 1]))
    assert out.shape == (0,) and idx.shape == (0,) and out.dtype == "float32"
    rng = np.random.default_rng(6)
    x = rng.integers(-5, 6, 40).astype(np.float32)
    x[[3, 9]] = np.nan
    x[5] = -0.0
    y = np.array([0.0, 2, np.nan, 7], np.float32)  # JS Set: NaN matches NaN, -0 matches 0
    keep = [i for i, v in enumerate(x) if not (np.isnan(v) or v in (0.0, 2.0, 7.0))]
    out, idx = tw.setdiff1d(_f32(x), _f32(y))
    assert idx.tolist() == keep
    check(out, x[keep], "float32")
    out, _ = tw.setdiff1d(_f32([np.nan, 1.0]), _f32([1.0]))  # without NaN in y, NaN stays
    assert np.isnan(out.numpy()[0]) and out.shape == (1,)
    w = _f32([0.5, 4.0])  # d/dx sum(w * setdiff1d(x, [2])[0]): w at the kept places, 0 else
    (g,) = tw.grads(lambda t: tw.sum(tw.mul(tw.setdiff1d(t, _f32([2.0]))[0], w)))(_f32([1, 2, 3]))
    check(g, [0.5, 0.0, 4.0], "float32")
    with pytest.raises(TypeError, match="same dtype, got float32 and int32"):
        tw.setdiff1d(_f32([1]), _i32([1]))
    with pytest.raises(ValueError, match=r"x must be a vector \(rank 1\), got shape \(4, 1\)"):
        tw.setdiff1d(tw.zeros([4, 1]), tw.zeros([4]))
    with pytest.raises(ValueError, match=r"y must be a vector"):
        tw.setdiff1d(tw.zeros([4]), tw.zeros([4, 1]))


def test_bitwise_and(backend):
    got = tw.bitwise_and(_i32([0, 5, 3, 14]), _i32([5, 0, 7, 11]))
    assert got.dtype == "int32" and got.tolist() == [0, 0, 3, 10]
    rng = np.random.default_rng(7)
    a = rng.integers(-(2**31), 2**31, (3, 50), dtype=np.int64).astype(np.int32)
    b = rng.integers(-(2**31), 2**31, (3, 50), dtype=np.int64).astype(np.int32)
    edge = [-1, 0, 2**31 - 1, -(2**31), -(2**31), 255, -256, 65535]
    a[0, :8], b[0, :8] = edge, [7, -1, -1, -1, 2**31 - 1, -1, 511, -65536]
    check(tw.bitwise_and(_i32(a), _i32(b)), a & b, "int32")
    assert tw.bitwise_and(_i32(np.zeros((0, 2))), _i32(np.zeros((0, 2)))).shape == (0, 2)
    with pytest.raises(TypeError, match="must be int32, got float32 and int32"):
        tw.bitwise_and(_f32([1]), _i32([1]))
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(1,\)"):
        tw.bitwise_and(_i32([1, 2]), _i32([1]))


def test_broadcast_args(backend):
    for s0, s1, want in (
        ([1, 1], [1, 1], [1, 1]),
        ([1, 1], [4, 2], [4, 2]),
        ([1, 6], [3, 1], [3, 6]),
        ([1, 6], [3, 1, 1, 1], [3, 1, 1, 6]),
        ([1, 6, -1], [3, 1, 1, 1], [3, 1, 6, -1]),
        ([], [2, 0], [2, 0]),
    ):
        got = tw.broadcast_args(_i32(s0), _i32(s1))
        assert got.dtype == "int32" and got.tolist() == want
    assert tw.broadcast_args([5, 1], [3]).tolist() == [5, 3]
    with pytest.raises(ValueError, match=r"shapes \[1, 2\] and \[1, 3\] do not broadcast"):
        tw.broadcast_args(_i32([1, 2]), _i32([1, 3]))
    with pytest.raises(ValueError, match=r"s0 must be a vector \(rank 1\)"):
        tw.broadcast_args(_i32([[1, 1], [1, 1]]), _i32([1, 1]))
    with pytest.raises(TypeError, match="s1 must be int32, got float32"):
        tw.broadcast_args(_i32([1]), _f32([1]))
    with pytest.raises(TypeError, match="s0 must hold integers"):
        tw.broadcast_args([1.5], [1])
