"""Issue 21 layers on every backend: advanced activations (ReLU, LeakyReLU, PReLU, ELU,
ThresholdedReLU, Softmax), Cropping2D, GaussianDropout, SpatialDropout1D, Dot and the
preprocessing layers (Rescaling, CenterCrop, Resizing, CategoryEncoding).

Each is checked against a numpy formula written here (the resize reference is a per-pixel loop
transcribed from TF.js's CPU kernels, independent of the layer's vectorised gather form), with
input (and PReLU alpha) gradients by central differences, its config round trip, training vs
inference behaviour for the noise layers, bad arguments, and a TF.js-format save/load round trip.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from layer_harness import check_gradients, make_input, run_layer_test

import engine as tw
import layers
from layers.saving import load_model, save_model


def _away_from(x: np.ndarray, points=(0.0,), gap: float = 0.05) -> np.ndarray:
    """Move values near a kink so central differences stay on one side of it."""
    x = x.copy()
    for p in points:
        x[np.abs(x - p) < gap] = p + 0.3
    return x


# --- advanced activations ------------------------------------------------------------------------
def test_relu_leaky_elu_thresholded(backend):
    x = _away_from(make_input((3, 5)) * 2, (0.0, 1.5, 1.0))
    run_layer_test(
        layers.ReLU,
        {"max_value": 1.5},
        (3, 5),
        (3, 5),
        expected_trainable=0,
        reference=lambda x, w: np.clip(x, 0, 1.5),
        input_data=x,
    )
    run_layer_test(
        layers.ReLU, {}, (3, 5), (3, 5), reference=lambda x, w: np.maximum(x, 0), input_data=x
    )
    run_layer_test(
        layers.LeakyReLU,
        {},
        (3, 5),
        (3, 5),
        expected_trainable=0,
        reference=lambda x, w: np.where(x > 0, x, 0.3 * x),
        input_data=x,
    )
    run_layer_test(
        layers.LeakyReLU,
        {"alpha": 0.1},
        (3, 5),
        (3, 5),
        reference=lambda x, w: np.where(x > 0, x, 0.1 * x),
        input_data=x,
    )
    run_layer_test(
        layers.ELU,
        {"alpha": 0.7},
        (3, 5),
        (3, 5),
        reference=lambda x, w: np.where(x > 0, x, 0.7 * np.expm1(np.minimum(x, 0))),
        input_data=x,
    )
    run_layer_test(
        layers.ThresholdedReLU,
        {"theta": 1.0},
        (3, 5),
        (3, 5),
        reference=lambda x, w: x * (x > 1.0),
        input_data=x,
    )
    assert layers.LeakyReLU().alpha == 0.3 and layers.ELU().alpha == 1.0
    assert layers.ThresholdedReLU().theta == 1.0 and layers.ReLU().max_value is None


@pytest.mark.parametrize("shared_axes", [None, [1], [1, 2]])
def test_prelu(backend, shared_axes):
    x = _away_from(make_input((2, 3, 4)))
    layer = run_layer_test(
        layers.PReLU,
        {
            "alpha_initializer": {
                "class_name": "RandomUniform",
                "config": {"minval": 0.1, "maxval": 0.5, "seed": 1},
            },
            "shared_axes": shared_axes,
        },
        (2, 3, 4),
        (2, 3, 4),
        expected_trainable=1,
        reference=lambda x, w: np.where(x > 0, x, w[0][None] * x),
        input_data=x,
    )
    alpha = layer.get_weights()[0]
    want = [3, 4]
    for a in shared_axes or ():
        want[a - 1] = 1
    assert alpha.shape == tuple(want) and np.all((alpha >= 0.1) & (alpha <= 0.5))
    # alpha's gradient in closed form: sum over the shared axes of min(x, 0) * R
    r = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    res = tw.variable_grads(
        lambda: tw.sum(tw.mul(layer(tw.tensor(x)), tw.tensor(r))), var_list=[layer.alpha]
    )
    want_g = (np.minimum(x, 0) * r).sum(axis=(0,) + tuple(shared_axes or ()), keepdims=True)[0]
    np.testing.assert_allclose(res["grads"][layer.alpha.name].numpy(), want_g, rtol=1e-4, atol=1e-5)


def test_prelu_default_zeros_and_trains(backend):
    """Default alpha is zeros (TF.js), i.e. plain ReLU, and fit moves it."""
    p = layers.PReLU(input_shape=[3])
    m = layers.sequential([p])
    x = -np.abs(make_input((16, 3))) - 0.5
    np.testing.assert_allclose(m.predict(x).numpy(), 0.0)
    m.compile(optimizer="sgd", loss="meanSquaredError")
    m.fit(x, 0.5 * x, epochs=3, batch_size=16, verbose=0)
    assert np.all(p.get_weights()[0] > 0)  # pulled towards the target slope 0.5


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_softmax(backend, axis):
    def ref(x, w):
        axes = tuple(axis) if isinstance(axis, list) else axis
        e = np.exp(x - x.max(axis=axes, keepdims=True))
        return e / e.sum(axis=axes, keepdims=True)

    run_layer_test(
        layers.Softmax,
        {"axis": axis},
        (2, 3, 4),
        (2, 3, 4),
        expected_trainable=0,
        reference=ref,
    )


def test_activation_argument_errors():
    with pytest.raises(ValueError, match="ReLU: max_value"):
        layers.ReLU(max_value=-1)
    with pytest.raises(TypeError, match="LeakyReLU: alpha"):
        layers.LeakyReLU(alpha="big")
    with pytest.raises(ValueError, match="LeakyReLU: alpha"):
        layers.LeakyReLU(alpha=float("nan"))
    with pytest.raises(ValueError, match="ELU: alpha"):
        layers.ELU(alpha=-0.5)
    with pytest.raises(ValueError, match="ThresholdedReLU: theta"):
        layers.ThresholdedReLU(theta=-1)
    with pytest.raises(ValueError, match="PReLU: shared_axes"):
        layers.PReLU(shared_axes=[0])
    with pytest.raises(TypeError, match="PReLU: shared_axes"):
        layers.PReLU(shared_axes="1")
    with pytest.raises(ValueError, match="shared_axes entry 3 is beyond"):
        layers.PReLU(shared_axes=[3])(np.zeros((1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="Softmax: axis"):
        layers.Softmax(axis=[])
    with pytest.raises(ValueError, match="Softmax: axis"):
        layers.Softmax(axis=1.5)
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        layers.Softmax(axis=3)(np.zeros((1, 2), np.float32))
    p = layers.PReLU()
    p(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="axis 1 of size 3"):
        p(np.zeros((1, 4), np.float32))


# --- cropping, noise, dot ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cropping, box",
    [(1, (1, 1, 1, 1)), ((1, 2), (1, 1, 2, 2)), (((0, 2), (3, 1)), (0, 2, 3, 1))],
)
def test_cropping2d(backend, cropping, box):
    t, b, le, r = box
    run_layer_test(
        layers.Cropping2D,
        {"cropping": cropping},
        (2, 5, 7, 3),
        (2, 5 - t - b, 7 - le - r, 3),
        expected_trainable=0,
        reference=lambda x, w: x[:, t : 5 - b, le : 7 - r, :],
    )


def test_cropping2d_errors():
    with pytest.raises(ValueError, match="Cropping2D: cropping"):
        layers.Cropping2D(cropping=-1)
    with pytest.raises(ValueError, match="Cropping2D: cropping"):
        layers.Cropping2D(cropping=[1, 2, 3])
    with pytest.raises(ValueError, match="channels_first"):
        layers.Cropping2D(data_format="channels_first")
    assert layers.Cropping2D(data_format="channelsLast").data_format == "channels_last"
    with pytest.raises(ValueError, match="leaves nothing of axis 1"):
        layers.Cropping2D(cropping=((2, 2), (0, 0)))(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="rank 4"):
        layers.Cropping2D(cropping=1)(np.zeros((1, 4, 4), np.float32))


def test_gaussian_dropout(backend):
    run_layer_test(
        layers.GaussianDropout,
        {"rate": 0.3},
        (3, 4),
        (3, 4),
        expected_trainable=0,
        reference=lambda x, w: x,  # inference is the identity
    )
    g = layers.GaussianDropout(0.2, seed=7)
    x = np.ones((200, 50), np.float32)
    y = g(x, training=True).numpy()
    assert abs(y.mean() - 1) < 0.03 and abs(y.std() - math.sqrt(0.2 / 0.8)) < 0.03
    np.testing.assert_array_equal(y, g(x, training=True).numpy())  # seeded
    z = np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(g(z, training=True).numpy(), z)  # multiplicative noise
    np.testing.assert_array_equal(layers.GaussianDropout(0.0)(x, training=True).numpy(), x)
    # training gradient: d(x * noise)/dx is the noise itself (same seed, same noise)
    xs = make_input((4, 5))
    noise = g(np.ones((4, 5), np.float32), training=True).numpy()
    gx = tw.grad(lambda t: tw.sum(g(t, training=True)))(tw.tensor(xs)).numpy()
    np.testing.assert_allclose(gx, noise, rtol=1e-6)


def test_spatial_dropout1d(backend):
    run_layer_test(
        layers.SpatialDropout1D,
        {"rate": 0.4},
        (2, 5, 3),
        (2, 5, 3),
        expected_trainable=0,
        reference=lambda x, w: x,
    )
    tw.set_seed(5)
    s = layers.SpatialDropout1D(0.4)
    y = s(np.ones((40, 6, 30), np.float32), training=True).numpy()
    assert np.all(y == y[:, :1, :])  # whole channels: the same on every step
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.6)}
    assert 0.3 < (y[:, 0, :] == 0).mean() < 0.5
    x = make_input((3, 4, 5))
    y1 = layers.SpatialDropout1D(0.5, seed=3)(x, training=True).numpy()
    y2 = layers.SpatialDropout1D(0.5, seed=3)(x, training=True).numpy()
    np.testing.assert_array_equal(y1, y2)
    kept = y1 != 0
    np.testing.assert_allclose(y1[kept], 2 * x[kept], rtol=1e-6)


def test_noise_errors():
    for cls in (layers.GaussianDropout, layers.SpatialDropout1D):
        with pytest.raises(ValueError, match=f"{cls.__name__}: rate"):
            cls(rate=1.0)
        with pytest.raises(ValueError, match=f"{cls.__name__}: rate"):
            cls(rate=-0.1)
        with pytest.raises(TypeError, match=f"{cls.__name__}: rate"):
            cls(rate="0.5")
    with pytest.raises(ValueError, match="rank 3"):
        layers.SpatialDropout1D(0.5)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="SpatialDropout1D: noise_shape"):
        layers.SpatialDropout1D(0.5, noise_shape=[None, 1, 3])
    spec = {"class_name": "SpatialDropout1D", "config": {"rate": 0.5, "noise_shape": None}}
    assert layers.deserialize_layer(spec).rate == 0.5  # as Keras and TF.js write it


def _l2n(x, axis):
    return x / np.sqrt(np.maximum((x * x).sum(axis=axis, keepdims=True), 1e-7))


@pytest.mark.parametrize(
    "shapes, axes, normalize, ref",
    [
        ([(3, 4), (3, 4)], 1, False, lambda x, y: (x * y).sum(1, keepdims=True)),
        ([(3, 4), (3, 4)], -1, True, lambda x, y: (_l2n(x, 1) * _l2n(y, 1)).sum(1)[:, None]),
        ([(2, 3, 4), (2, 4, 5)], [2, 1], False, lambda x, y: np.einsum("bij,bjk->bik", x, y)),
        ([(2, 3, 4), (2, 3, 5)], 1, False, lambda x, y: np.einsum("bij,bik->bjk", x, y)),
        ([(2, 3, 4), (2, 5, 4)], [-1, 2], False, lambda x, y: np.einsum("bij,bkj->bik", x, y)),
        ([(2, 3, 4), (2, 4)], [2, 1], False, lambda x, y: np.einsum("bij,bj->bi", x, y)),
        (
            [(2, 3, 4), (2, 3, 5)],
            [1, 1],
            True,
            lambda x, y: np.einsum("bij,bik->bjk", _l2n(x, 1), _l2n(y, 1)),
        ),
    ],
)
def test_dot(backend, shapes, axes, normalize, ref):
    want_shape = ref(np.zeros(shapes[0]), np.zeros(shapes[1])).shape
    run_layer_test(
        layers.Dot,
        {"axes": axes, "normalize": normalize},
        shapes,
        want_shape,
        expected_trainable=0,
        reference=lambda xs, w: ref(xs[0].astype(np.float64), xs[1].astype(np.float64)),
    )


def test_dot_factory_and_errors():
    a, b = layers.input(shape=[3]), layers.input(shape=[3])
    assert layers.dot([a, b], axes=1).shape == (None, 1)
    assert isinstance(layers.dot(axes=1), layers.Dot)
    with pytest.raises(ValueError, match="batch axis 0"):
        layers.Dot(axes=0)
    with pytest.raises(ValueError, match="Dot: axes"):
        layers.Dot(axes=[1, 2, 3])
    with pytest.raises(TypeError, match="Dot: axes"):
        layers.Dot(axes="1")
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Dot(axes=1)([a, b, a])
    with pytest.raises(ValueError, match="differ in size"):
        layers.Dot(axes=1)([a, layers.input(shape=[4])])
    with pytest.raises(ValueError, match="not a non-batch axis"):
        layers.Dot(axes=2)([a, b])


# --- preprocessing -------------------------------------------------------------------------------
def test_rescaling(backend):
    run_layer_test(
        layers.Rescaling,
        {"scale": 1 / 255, "offset": -0.5},
        (2, 3, 4),
        (2, 3, 4),
        expected_trainable=0,
        reference=lambda x, w: x / 255 - 0.5,
    )
    out = layers.Rescaling(2.0)(np.array([[1, 2]], np.int32))
    assert out.dtype == "float32" and out.tolist() == [[2.0, 4.0]]
    with pytest.raises(TypeError, match="Rescaling: scale"):
        layers.Rescaling(scale=None)
    with pytest.raises(ValueError, match="Rescaling: offset"):
        layers.Rescaling(scale=1.0, offset=float("inf"))


def _resize_ref(img, h, w, method, align, half):
    """TF.js's resizeBilinear / resizeNearestNeighbor CPU kernels, pixel by pixel."""
    b, ih, iw, c = img.shape
    eff_in = [ih - 1 if align and h > 1 else ih, iw - 1 if align and w > 1 else iw]
    eff_out = [h - 1 if align and h > 1 else h, w - 1 if align and w > 1 else w]
    rr, cr = eff_in[0] / eff_out[0], eff_in[1] / eff_out[1]
    out = np.zeros((b, h, w, c))
    for r in range(h):
        for q in range(w):
            if method == "nearest":
                sr = rr * (r + 0.5) if half else rr * r
                sc = cr * (q + 0.5) if half else cr * q
                nr = min(ih - 1, math.floor(sr + 0.5) if align else math.floor(sr))
                nc = min(iw - 1, math.floor(sc + 0.5) if align else math.floor(sc))
                if half:
                    nr, nc = max(0, nr), max(0, nc)
                out[:, r, q] = img[:, nr, nc]
                continue
            sr = rr * (r + 0.5) - 0.5 if half else rr * r
            sc = cr * (q + 0.5) - 0.5 if half else cr * q
            r0, c0 = max(0, math.floor(sr)), max(0, math.floor(sc))
            r1, c1 = min(ih - 1, math.ceil(sr)), min(iw - 1, math.ceil(sc))
            fr, fc = sr - r0, sc - c0
            top = img[:, r0, c0] + (img[:, r0, c1] - img[:, r0, c0]) * fc
            bot = img[:, r1, c0] + (img[:, r1, c1] - img[:, r1, c0]) * fc
            out[:, r, q] = top + (bot - top) * fr
    return out


@pytest.mark.parametrize(
    "size, interpolation",
    [((7, 3), "bilinear"), ((2, 9), "bilinear"), ((7, 3), "nearest"), ((1, 1), "bilinear")],
)
def test_resizing(backend, size, interpolation):
    h, w = size
    run_layer_test(
        layers.Resizing,
        {"height": h, "width": w, "interpolation": interpolation},
        (2, 4, 5, 2),
        (2, h, w, 2),
        expected_trainable=0,
        # TF.js passes !cropToAspectRatio as alignCorners: the default aligns corners
        reference=lambda x, _: _resize_ref(x.astype(np.float64), h, w, interpolation, True, False),
        check_grads=interpolation == "bilinear",
    )


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resizing_crop_to_aspect_ratio(backend, interpolation):
    # 4x8 input to a 3x3 target: the central 4x4 window, then a resize without aligned corners
    run_layer_test(
        layers.Resizing,
        {"height": 3, "width": 3, "interpolation": interpolation, "crop_to_aspect_ratio": True},
        (1, 4, 8, 2),
        (1, 3, 3, 2),
        expected_trainable=0,
        reference=lambda x, _: _resize_ref(
            x[:, :, 2:6].astype(np.float64), 3, 3, interpolation, False, False
        ),
        check_grads=False,
    )


def test_resize_helpers_half_pixel(backend):
    from layers.preprocessing import resize_images

    x = make_input((1, 5, 4, 2))
    for method, size in (("bilinear", (8, 3)), ("nearest", (3, 7)), ("bilinear", (2, 2))):
        got = resize_images(tw.tensor(x), *size, method, False, True).numpy()
        want = _resize_ref(x.astype(np.float64), *size, method, False, True)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_resizing_errors():
    with pytest.raises(ValueError, match="Resizing: interpolation"):
        layers.Resizing(2, 2, interpolation="bicubic")
    with pytest.raises(ValueError, match="Resizing: height"):
        layers.Resizing(0, 2)
    with pytest.raises(TypeError, match="Resizing: width"):
        layers.Resizing(2, "2")
    with pytest.raises(TypeError, match="crop_to_aspect_ratio"):
        layers.Resizing(2, 2, crop_to_aspect_ratio="yes")
    with pytest.raises(ValueError, match="rank 4"):
        layers.Resizing(2, 2)(np.zeros((2, 2, 2), np.float32))


@pytest.mark.parametrize("in_hw, out_hw", [((6, 7), (3, 4)), ((5, 5), (5, 2)), ((3, 4), (5, 4))])
def test_center_crop(backend, in_hw, out_hw):
    (ih, iw), (h, w) = in_hw, out_hw

    def ref(x, _):
        if ih < h or iw < w:  # smaller: resized (bilinear, no aligned corners), as TF.js
            return _resize_ref(x.astype(np.float64), h, w, "bilinear", False, False)
        top, left = (ih - h) // 2, (iw - w) // 2
        return x[:, top : top + h, left : left + w]

    run_layer_test(
        layers.CenterCrop,
        {"height": h, "width": w},
        (2, ih, iw, 2),
        (2, h, w, 2),
        expected_trainable=0,
        reference=ref,
    )


def test_center_crop_errors():
    with pytest.raises(ValueError, match="CenterCrop: height"):
        layers.CenterCrop(height=-1, width=2)
    with pytest.raises(ValueError, match="CenterCrop: width"):
        layers.CenterCrop(height=1, width=2.5)


def _encode_ref(ids, n, mode):
    ids = ids.reshape(ids.shape[0], -1)
    out = np.zeros((ids.shape[0], n))
    for i, row in enumerate(ids):
        counts = np.bincount(row, minlength=n)
        out[i] = counts if mode == "count" else counts > 0
    return out


@pytest.mark.parametrize(
    "mode, shape", [("multiHot", (4, 3)), ("count", (4, 5)), ("oneHot", (4,)), ("one_hot", (4, 1))]
)
def test_category_encoding(backend, mode, shape):
    layer = run_layer_test(
        layers.CategoryEncoding,
        {"num_tokens": 6, "output_mode": mode},
        shape,
        (4, 6),
        expected_trainable=0,
        input_dtype="int32",
        reference=lambda x, _: _encode_ref(x, 6, mode.lower().replace("_", "")),
    )
    assert layer.get_config()["output_mode"] in ("multi_hot", "count", "one_hot")
    floats = np.array([[0.0, 2.7, 5.2]], np.float32)  # truncated to ids 0, 2, 5
    if mode != "oneHot" and mode != "one_hot":
        np.testing.assert_array_equal(
            layer(floats).numpy(), _encode_ref(np.array([[0, 2, 5]]), 6, "count")
        )


def test_category_encoding_errors(backend):
    enc = layers.CategoryEncoding(num_tokens=3)
    assert enc.output_mode == "multi_hot"  # TF.js's default
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\).*got 3"):
        enc(np.array([[0, 3]], np.int32))
    with pytest.raises(ValueError, match=r"got -1"):
        enc(np.array([[-1, 0]], np.int32))
    with pytest.raises(ValueError, match="oneHot"):
        layers.CategoryEncoding(3, output_mode="oneHot")(np.array([[0, 1]], np.int32))
    with pytest.raises(ValueError, match="rank 1 or 2"):
        enc(np.zeros((1, 2, 2), np.int32))
    with pytest.raises(ValueError, match="CategoryEncoding: output_mode"):
        layers.CategoryEncoding(3, output_mode="tfIdf")
    with pytest.raises(ValueError, match="CategoryEncoding: num_tokens"):
        layers.CategoryEncoding(0)


def test_category_encoding_in_compiled_fit(backend, caplog):
    """fit's steps stay compiled (no host read of the ids while a step is captured)."""
    ids = layers.input(shape=[3], dtype="int32")
    m = layers.model(inputs=ids, outputs=layers.Dense(1)(layers.CategoryEncoding(5, "count")(ids)))
    m.compile(optimizer="sgd", loss="meanSquaredError")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (32, 3)).astype(np.int32)
    y = _encode_ref(x, 5, "count").sum(1, keepdims=True).astype(np.float32)
    with caplog.at_level("WARNING", logger="tensorweave.trace"):
        hist = m.fit(x, y, epochs=4, batch_size=8, verbose=0)
    assert not [r for r in caplog.records if "eagerly" in r.getMessage()], caplog.text
    assert hist.history["loss"][-1] < hist.history["loss"][0]


# --- TF.js-format save/load ----------------------------------------------------------------------
def _all_layers_model() -> layers.Model:
    img = layers.input(shape=[6, 8, 2], name="img")
    ids = layers.input(shape=[3], dtype="int32", name="ids")
    x = layers.Rescaling(scale=0.5, offset=0.1)(img)
    x = layers.Resizing(5, 6, interpolation="bilinear")(x)
    x = layers.CenterCrop(4, 4)(x)
    x = layers.Cropping2D(cropping=((1, 0), (0, 1)))(x)
    x = layers.PReLU(
        shared_axes=[1, 2],
        alpha_initializer={"class_name": "RandomUniform", "config": {"minval": 0.1, "maxval": 0.3}},
    )(x)
    x = layers.LeakyReLU(alpha=0.2)(x)
    x = layers.Reshape(target_shape=[9, 2])(x)
    x = layers.SpatialDropout1D(rate=0.3)(x)
    x = layers.GaussianDropout(rate=0.2)(x)
    x = layers.ELU(alpha=0.5)(x)
    x = layers.ThresholdedReLU(theta=0.1)(x)
    x = layers.ReLU(max_value=2.0)(x)
    x = layers.Flatten()(x)
    enc = layers.CategoryEncoding(num_tokens=18, output_mode="count")(ids)
    dot = layers.Dot(axes=1, normalize=True)([x, enc])
    sm = layers.Softmax(axis=-1)(layers.Dense(3)(x))
    return layers.model(inputs=[img, ids], outputs=[dot, sm])


def test_tfjs_format_round_trip(backend, tmp_path):
    tw.set_seed(2)
    model = _all_layers_model()
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(3, 6, 8, 2)).astype(np.float32), rng.integers(0, 18, (3, 3))]
    xs[1] = xs[1].astype(np.int32)
    before = [o.numpy() for o in model.predict(xs)]
    save_model(model, tmp_path / "m")
    topo = json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]
    confs = {e["class_name"]: e["config"] for e in topo["config"]["layers"]}
    # TF.js's class names and (snake_case, as TF.js writes them) config keys and values
    assert confs["ReLU"]["max_value"] == 2.0 and confs["LeakyReLU"]["alpha"] == 0.2
    assert confs["PReLU"]["shared_axes"] == [1, 2]
    assert confs["PReLU"]["alpha_initializer"]["class_name"] == "RandomUniform"
    assert confs["ELU"]["alpha"] == 0.5 and confs["ThresholdedReLU"]["theta"] == 0.1
    assert confs["Softmax"]["axis"] == -1 and confs["Dot"] == {**confs["Dot"], "axes": 1}
    assert confs["Dot"]["normalize"] is True
    assert confs["Cropping2D"]["cropping"] == [[1, 0], [0, 1]]
    assert confs["Cropping2D"]["data_format"] == "channels_last"
    assert confs["Resizing"]["interpolation"] == "bilinear"
    assert confs["Resizing"]["crop_to_aspect_ratio"] is False
    assert (confs["CenterCrop"]["height"], confs["CenterCrop"]["width"]) == (4, 4)
    assert confs["CategoryEncoding"]["output_mode"] == "count"
    assert confs["CategoryEncoding"]["num_tokens"] == 18
    assert (confs["Rescaling"]["scale"], confs["Rescaling"]["offset"]) == (0.5, 0.1)
    assert confs["GaussianDropout"]["rate"] == 0.2 and confs["SpatialDropout1D"]["rate"] == 0.3
    loaded = load_model(tmp_path / "m")
    assert loaded.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(before, loaded.predict(xs), strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)


def test_loads_tfjs_camel_case_config():
    """A layer config as TF.js's JS objects spell it (camelCase keys and values) loads too."""
    spec = {
        "class_name": "CategoryEncoding",
        "config": {"numTokens": 4, "outputMode": "oneHot", "name": "enc_tfjs"},
    }
    enc = layers.deserialize_layer(spec)
    assert (enc.num_tokens, enc.output_mode) == (4, "one_hot")
    res = layers.deserialize_layer(
        {"class_name": "Resizing", "config": {"height": 2, "width": 3, "cropToAspectRatio": True}}
    )
    assert res.crop_to_aspect_ratio is True
    prelu = layers.deserialize_layer(
        {"class_name": "PReLU", "config": {"sharedAxes": 1, "alphaInitializer": "ones"}}
    )
    assert prelu.shared_axes == [1]
    check_gradients(prelu, [make_input((2, 3, 2))])


def test_loads_configs_as_tfjs_writes_them(tmp_path):
    """TF.js 4.22's JSON for these layers (captured from tf.LayersModel.save): SpatialDropout1D
    carries ``noise_shape: null`` (it extends Dropout), GaussianDropout has no seed, numbers
    may be integral (``alpha: 1``, ``max_value: 2``)."""
    m = layers.sequential(
        [
            layers.SpatialDropout1D(rate=0.3, input_shape=[4, 3]),
            layers.GaussianDropout(rate=0.2),
            layers.ELU(),
            layers.ReLU(max_value=2.0),
            layers.Softmax(axis=-1),
        ]
    )
    save_model(m, tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    doc = json.loads(path.read_text())
    tfjs_configs = {
        "SpatialDropout1D": {"rate": 0.3, "noise_shape": None, "seed": None},
        "GaussianDropout": {"rate": 0.2},
        "ELU": {"alpha": 1},
        "ReLU": {"max_value": 2},
        "Softmax": {"axis": -1},
    }
    for entry in doc["modelTopology"]["config"]["layers"]:
        conf = entry["config"]
        keep = {
            k: conf[k] for k in ("name", "trainable", "dtype", "batch_input_shape") if k in conf
        }
        entry["config"] = {**keep, **tfjs_configs[entry["class_name"]]}
    path.write_text(json.dumps(doc))
    loaded = load_model(tmp_path / "m")
    x = make_input((2, 4, 3)) * 3
    np.testing.assert_allclose(loaded.predict(x).numpy(), m.predict(x).numpy(), rtol=1e-6)
    assert [type(la) for la in loaded.layers] == [type(la) for la in m.layers]
    assert loaded.layers[1].seed is None and loaded.layers[3].max_value == 2.0
