"""No silent narrowing (README "Numerics"): integer arguments, host conversions, dtypes, the
float -> int32 cast and integer division by zero, plus did-you-mean hints for every string
identifier."""

from __future__ import annotations

import re

import numpy as np
import pytest

import engine as tw
import layers
from engine import registry
from engine.dtypes import as_int

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


@pytest.fixture
def numpy_scope():
    with tw.backend_scope("numpy"):
        yield


# --- integer arguments ------------------------------------------------------------------------
@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), 3.0, np.float32(3.0)])
def test_as_int_accepts_ints_and_integral_floats(value):
    out = as_int(value, "units")
    assert out == 3 and type(out) is int


@pytest.mark.parametrize(
    "value, error",
    [
        (2.5, ValueError),
        (np.float64(0.5), ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (True, TypeError),
        (np.bool_(False), TypeError),
        ("3", TypeError),
        (None, TypeError),
        ([3], TypeError),
    ],
)
def test_as_int_rejects_bools_and_non_integral_values(value, error):
    with pytest.raises(error, match=r"units .*" + re.escape(repr(value))):
        as_int(value, "units")


def test_as_int_minimum_and_none():
    with pytest.raises(ValueError, match=r"epochs must be an integer >= 1, got 0"):
        as_int(0, "epochs", minimum=1)
    assert as_int(None, "filters", allow_none=True) is None


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: layers.dense(units=2.5), r"Dense: units .*2\.5"),
        (lambda: layers.dense(units=True), r"Dense: units .*True"),
        (lambda: layers.dense(units=0), r"Dense: units .*>= 1, got 0"),
        (lambda: layers.conv2d(filters=2.5, kernel_size=3), r"Conv2D: filters .*2\.5"),
        (lambda: layers.conv2d(filters=4, kernel_size=2.5), r"Conv2D: kernel_size .*2\.5"),
        (lambda: layers.conv2d(filters=4, kernel_size=(3, 1.5)), r"kernel_size .*1\.5"),
        (lambda: layers.conv2d(filters=4, kernel_size=3, strides=1.5), r"strides .*1\.5"),
        (lambda: layers.conv1d(filters=4, kernel_size=3, dilation_rate=True), r"dilation_rate"),
        (lambda: layers.max_pooling2d(pool_size=2.5), r"pool_size .*2\.5"),
        (lambda: layers.lstm(units=3.3), r"LSTM: units .*3\.3"),
        (lambda: layers.simple_rnn(units=False), r"SimpleRNN: units .*False"),
        (lambda: layers.embedding(input_dim=10.5, output_dim=2), r"input_dim .*10\.5"),
        (lambda: layers.repeat_vector(n=1.5), r"RepeatVector: n .*1\.5"),
        (lambda: layers.reshape(target_shape=[2, 1.5]), r"target_shape .*1\.5"),
    ],
)
def test_layer_constructors_reject_non_integral_sizes(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"input_shape": [2.5]}, ValueError, r"shape \[2\.5\] entry .*2\.5"),
        ({"batch_input_shape": [None, True]}, TypeError, r"shape .*True"),
        ({"input_dim": 3.5}, ValueError, r"Dense: input_dim .*3\.5"),
        ({"input_shape": [3], "batch_size": 0.5}, ValueError, r"Dense: batch_size .*0\.5"),
        ({"dtype": "complex64"}, TypeError, r"complex values are not supported"),
    ],
)
def test_layer_base_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        layers.dense(units=1, **kwargs)


def test_layer_constructors_accept_integral_floats_and_numpy_ints():
    assert layers.dense(units=2.0).units == 2
    assert layers.dense(units=np.int64(3)).units == 3
    conv = layers.conv2d(filters=np.int32(4), kernel_size=(3.0, np.int64(2)), strides=2.0)
    assert (conv.filters, conv.kernel_size, conv.strides) == (4, (3, 2), (2, 2))
    assert layers.lstm(units=4.0).units == 4
    d = layers.dense(units=1, input_shape=[3.0, None], dtype=np.float32)
    assert d._batch_input_shape == (None, 3, None) and d.dtype == "float32"


def _model():
    m = layers.sequential([layers.dense(units=1, input_shape=[3], kernel_initializer="ones")])
    m.compile(optimizer="sgd", loss="meanSquaredError")
    return m


X, Y = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 1.5}, r"fit: epochs .*1\.5"),
        ({"epochs": True}, r"fit: epochs .*True"),
        ({"batch_size": 2.5}, r"fit: batch_size .*2\.5"),
        ({"batch_size": True}, r"fit: batch_size .*True"),
        ({"initial_epoch": 0.5}, r"fit: initial_epoch .*0\.5"),
        ({"steps_per_epoch": 1.5}, r"fit: steps_per_epoch .*1\.5"),
        ({"verbose": 0.5}, r"fit: verbose .*0\.5"),
        ({"verbose": 3}, r"fit: verbose must be 0, 1 or 2, got 3"),
    ],
)
def test_fit_rejects_non_integral_counts_before_training(numpy_scope, kwargs, match):
    m = _model()
    before = [np.array(w) for w in m.get_weights()]
    with pytest.raises((TypeError, ValueError), match=match):
        m.fit(X, Y, **{"verbose": 0, **kwargs})
    for b, w in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(b, np.array(w))  # nothing ran


def test_fit_accepts_integral_floats(numpy_scope):
    history = _model().fit(X, Y, epochs=2.0, batch_size=np.int64(2), verbose=0)
    assert history.epoch == [0, 1]


def test_evaluate_predict_and_callbacks_check_their_counts(numpy_scope):
    m = _model()
    with pytest.raises(ValueError, match=r"evaluate: batch_size .*1\.5"):
        m.evaluate(X, Y, batch_size=1.5)
    with pytest.raises(ValueError, match=r"predict: batch_size .*2\.5"):
        m.predict(X, batch_size=2.5)
    with pytest.raises(TypeError, match=r"predict: batch_size .*True"):
        m.predict(X, batch_size=True)
    with pytest.raises(ValueError, match=r"predict: verbose .*0\.5"):
        m.predict(X, verbose=0.5)
    with pytest.raises(ValueError, match=r"evaluate: verbose .*1\.5"):
        m.evaluate(X, Y, verbose=1.5)
    with pytest.raises(ValueError, match=r"patience .*1\.5"):
        layers.callbacks.EarlyStopping(patience=1.5)
    with pytest.raises(ValueError, match=r"cooldown .*0\.5"):
        layers.callbacks.ReduceLROnPlateau(cooldown=0.5)


def test_fit_inputs_are_converted_without_narrowing(numpy_scope):
    m = _model()
    with pytest.raises(TypeError, match=r"complex values are not supported"):
        m.fit(X * (1 + 1j), Y, verbose=0)
    with pytest.raises(ValueError, match=r"1e\+300 is too large for float32"):
        m.fit(np.full((4, 3), 1e300), Y, verbose=0)
    with pytest.raises(TypeError, match=r"complex values are not supported"):
        m.predict(X.astype(np.complex64))


# --- host values into tensors -------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, dtype, match",
    [
        (np.array([1, 2**40], np.int64), None, r"1099511627776 does not fit int32"),
        (2**40, "int32", r"1099511627776 does not fit int32"),
        (-(2**31) - 1, "int32", r"-2147483649 does not fit int32"),
        (np.array([2**32], np.uint64), "int32", r"4294967296 does not fit int32"),
        (2**70, "int32", r"1180591620717411303424 does not fit int32"),
        ([1.0, float("nan")], "int32", r"nan does not fit int32"),
        ([float("inf")], "int32", r"inf does not fit int32"),
        ([3e9], "int32", r"3000000000\.0 does not fit int32"),
        (np.array([1.0, 1e300]), None, r"1e\+300 is too large for float32"),
        (-1e39, "float32", r"-1e\+39 is too large for float32"),
        (2147483648.0, "int32", r"2147483648\.0 does not fit int32"),
        (np.int64(2**40), None, r"1099511627776 does not fit int32"),
        (np.float64(-1e300), None, r"-1e\+300 is too large for float32"),
    ],
)
def test_host_values_that_do_not_fit_raise(numpy_scope, values, dtype, match):
    with pytest.raises(ValueError, match=match):
        tw.tensor(values, dtype=dtype)


def test_host_values_that_fit_convert(numpy_scope):
    t = tw.tensor(np.array([INT_MIN, INT_MAX], np.int64))
    assert t.dtype == "int32" and t.numpy().tolist() == [INT_MIN, INT_MAX]
    assert tw.tensor([1.7, -1.7, -2147483648.9], dtype="int32").numpy().tolist() == [
        1,
        -1,
        INT_MIN,
    ]  # truncation toward zero, as TF.js
    f = tw.tensor([np.inf, -np.inf, np.nan, 3.4028235e38]).numpy()  # not overflow
    assert np.isposinf(f[0]) and np.isneginf(f[1]) and np.isnan(f[2]) and np.isfinite(f[3])
    assert tw.tensor(2**40).dtype == "float32"  # Python numbers are float32, as TF.js
    assert tw.tensor(np.zeros(2, np.float16)).dtype == "float32"  # widening loses nothing


def test_scalar_operands_fill_and_assign_are_checked(numpy_scope):
    i = tw.tensor(np.array([1, 2], np.int32))
    with pytest.raises(ValueError, match=r"1099511627776 does not fit int32"):
        tw.add(i, 2**40)
    with pytest.raises(ValueError, match=r"nan does not fit int32"):
        tw.fill([2], float("nan"), "int32")
    with pytest.raises(ValueError, match=r"1e\+300 is too large for float32"):
        tw.fill([2], 1e300)
    v = tw.variable(tw.tensor(np.array([0, 0], np.int32)))
    with pytest.raises(ValueError, match=r"4294967296 does not fit int32"):
        v.assign([1, 2**32])
    assert v.numpy().tolist() == [0, 0]


def test_shapes_and_counts_of_creation_ops_are_checked(numpy_scope):
    with pytest.raises(ValueError, match=r"fill: shape .*2\.5"):
        tw.zeros([2.5, 2])
    with pytest.raises(TypeError, match=r"shape .*True"):
        tw.ones([True])
    with pytest.raises(ValueError, match=r"tensor: shape .*1\.5"):
        tw.tensor([1.0, 2.0, 3.0], shape=[1.5, 2])
    with pytest.raises(ValueError, match=r"reshape: shape .*0\.5"):
        tw.reshape(tw.zeros([4]), [8, 0.5])
    with pytest.raises(ValueError, match=r"linspace: num .*2\.5"):
        tw.linspace(0, 1, 2.5)
    with pytest.raises(ValueError, match=r"eye: num_rows .*1\.5"):
        tw.eye(1.5)
    assert tw.zeros([2.0, np.int64(3)]).shape == (2, 3)
    with pytest.raises(ValueError, match=r"seed .*1\.5"):
        tw.random_uniform([2], seed=1.5)
    with pytest.raises(ValueError, match=r"set_seed: seed .*0\.5"):
        tw.set_seed(0.5)


def _backends_without_float16() -> list[str]:
    names = [b["name"] for b in registry.list_backends() if b.get("available")]
    return [n for n in names if not registry.instance_of(n).capabilities.get("float16")]


@pytest.mark.parametrize("dtype", ["float16", np.float16, "half"])
def test_float16_is_rejected_naming_backends_without_it(dtype):
    others = _backends_without_float16()
    if not others:
        pytest.skip("every available backend declares float16")
    for name in others:
        with tw.backend_scope(name):
            pattern = rf"float16 is not supported on backend '{name}'.*use float32"
            with pytest.raises(TypeError, match=pattern):
                tw.tensor([1.0], dtype=dtype)
            with pytest.raises(TypeError, match=pattern):
                tw.cast(tw.tensor([1.0]), dtype)
            with pytest.raises(TypeError, match=rf"float16.*backend '{name}'"):
                layers.dense(units=1, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float16", np.float16, "half"])
def test_float16_is_accepted_where_the_backend_declares_it(numpy_scope, dtype):
    assert registry.instance_of("numpy").capabilities["float16"]
    assert tw.tensor([1.0], dtype=dtype).dtype == "float16"
    assert tw.cast(tw.tensor([1.0]), dtype).dtype == "float16"
    with pytest.raises(ValueError, match=r"70000\.0 is too large for float16"):
        tw.tensor([1.0, 70000.0], dtype=dtype)  # no silent overflow to an infinity


def test_other_float_widths_are_rejected(numpy_scope):
    if np.dtype(np.longdouble) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(TypeError, match=r"is not supported; use float32"):
        tw.tensor([1.0], dtype=np.longdouble)
    with pytest.raises(TypeError, match=r"is not supported; use float32"):
        tw.cast(tw.tensor([1.0]), np.longdouble)


@pytest.mark.parametrize(
    "make",
    [
        # complex values into a real dtype (complex64 tensors: tests/test_spectral.py)
        lambda: tw.tensor([1 + 0j], dtype="float32"),
        lambda: tw.tensor(np.array([1 + 2j], np.complex64), dtype="int32"),
        lambda: tw.fill([2], 1j),
    ],
)
def test_complex_input_raises_type_error(numpy_scope, make):
    with pytest.raises(TypeError, match=r"complex values are not supported"):
        make()


# --- device rules, the same on every backend ----------------------------------------------------
EDGE = np.float32([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.7, -2.7, -2147483648.0, 0.0])
EDGE_INT = [0, INT_MAX, INT_MIN, INT_MAX, INT_MIN, 2, -2, INT_MIN, 0]


def test_float_to_int32_cast_rule(backend):
    t = tw.tensor(EDGE)
    assert tw.cast(t, "int32").numpy().tolist() == EDGE_INT
    assert tw.cast(t, "bool").numpy().tolist() == [True] * 8 + [False]
    assert tw.cast(tw.tensor(np.float32(np.nan)), "int32").item() == 0  # 0-d too
    if registry.instance_of(backend).capabilities.get("float64"):
        d = tw.cast(t, "float64")
        assert tw.cast(d, "int32").numpy().tolist() == EDGE_INT


def test_float_to_int32_cast_rule_in_fused_kernels(backend):
    be = registry.instance_of(backend)
    if not be.has("fused_elementwise"):
        pytest.skip(f"backend {backend!r} has no fused_elementwise")
    expr = (("float32",), (("cast", "int32", (0,)),), (1,))
    (out,) = be.fused_elementwise(expr, [be.from_numpy(EDGE.copy())], [(9,)], (9,), [(9,)])
    assert be.to_numpy(out, (9,), "int32").reshape(-1).tolist() == EDGE_INT


def test_integer_division_and_modulo_by_zero_give_zero(backend):
    a = tw.tensor(np.array([7, -7, 0, INT_MIN, 5, -5], np.int32))
    b = tw.tensor(np.array([0, 0, 0, 0, -2, 2], np.int32))
    assert tw.div(a, b).numpy().tolist() == [0, 0, 0, 0, -3, -3]
    assert tw.floor_div(a, b).numpy().tolist() == [0, 0, 0, 0, -3, -3]
    assert tw.mod(a, b).numpy().tolist() == [0, 0, 0, 0, -1, 1]
    # floats follow IEEE: x / 0 is +-inf, 0 / 0 is NaN
    f = tw.div(tw.tensor([1.0, -1.0, 0.0]), tw.tensor([0.0, 0.0, 0.0])).numpy()
    assert np.isposinf(f[0]) and np.isneginf(f[1]) and np.isnan(f[2])


# --- did-you-mean hints -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "lookup, wrong, right",
    [
        (lambda s: tw.train.get(s), "adma", "adam"),
        (lambda s: tw.train.get(s), "rmsprp", "rmsprop"),
        (lambda s: tw.train.get({"class_name": s}), "Adm", "Adam"),
        (lambda s: layers.losses.get(s), "meanSquaredEror", "meanSquaredError"),
        (lambda s: layers.metrics.get(s), "acuracy", "accuracy"),
        (lambda s: layers.initializers.get(s), "glorotNormall", "glorotNormal"),
        (lambda s: layers.regularizers.get(s), "l1l3", "l1l2"),
        (lambda s: layers.regularizers.get({"class_name": s}), "L1L3", "L1L2"),
        (lambda s: layers.constraints.get(s), "maxNom", "maxNorm"),
        (lambda s: layers.activations.get(s), "rellu", "relu"),
        (lambda s: layers.base.get_layer_class(s), "Dens", "Dense"),
    ],
)
def test_unknown_identifiers_suggest_the_closest_name(lookup, wrong, right):
    with pytest.raises(ValueError, match=rf"{wrong!r} \(did you mean {right!r}\?\)"):
        lookup(wrong)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: layers.conv2d(filters=1, kernel_size=1, padding="vaild"), "'valid'"),
        (lambda: layers.initializers.VarianceScaling(mode="fan_ni"), "'fan_in'"),
        (lambda: layers.initializers.VarianceScaling(distribution="unifrom"), "'uniform'"),
        (lambda: layers.callbacks.EarlyStopping(mode="mx"), "'max'"),
    ],
)
def test_option_strings_suggest_the_closest_value(make, match):
    with pytest.raises(ValueError, match=rf"did you mean {match}\?"):
        make()


def test_compile_and_topology_carry_the_hint(numpy_scope):
    m = layers.sequential([layers.dense(units=1, input_shape=[3])])
    with pytest.raises(ValueError, match=r"did you mean 'adam'"):
        m.compile(optimizer="adma", loss="meanSquaredError")
    with pytest.raises(ValueError, match=r"did you mean 'meanSquaredError'"):
        m.compile(optimizer="adam", loss="meanSquaredEror")
    topology = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {
                    "class_name": "Dens",
                    "config": {"name": "d", "units": 1, "batch_input_shape": [None, 3]},
                }
            ],
        },
    }
    with pytest.raises(Exception, match=r"'Dens' \(did you mean 'Dense'\?\)"):
        layers.saving.model_from_topology(topology)


def test_no_hint_when_nothing_is_close():
    with pytest.raises(ValueError) as e:
        tw.train.get("xyzzy")
    assert "did you mean" not in str(e.value) and "accepted names" in str(e.value)
