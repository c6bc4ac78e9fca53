"""``Model.load_weights`` treats the ``.npz`` as untrusted: a malformed ``names`` entry or a
weight of a non-numeric dtype is a ValueError naming the file, raised before any weight
changes (no half-loaded model)."""

from __future__ import annotations

import numpy as np
import pytest

import layers as L  # noqa: N812


@pytest.fixture
def model():
    return L.sequential([L.Dense(units=1, input_shape=[2], kernel_initializer="ones")])


K = np.full((2, 1), 5, np.float32)
B = np.zeros((1,), np.float32)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"w00000": K, "w00001": B, "names": np.array("x")}, r"names"),
        ({"w00000": K, "w00001": B, "names": np.array(["a"])}, r"names"),
        ({"w00000": K, "w00001": B + 1j, "names": np.array(["a", "b"])}, r"w00001.*complex"),
        ({"w00000": K, "w00001": np.array(["1"]), "names": np.array(["a", "b"])}, r"w00001"),
    ],
    ids=["names_scalar", "names_short", "complex_bias", "string_bias"],
)
def test_malformed_archive_is_refused_before_any_change(tmp_path, model, arrays, match):
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match=rf"not a file written by save_weights.*{match}"):
        model.load_weights(path)
    for w, b in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)


def test_round_trip_still_loads(tmp_path, model):
    other = L.sequential([L.Dense(units=1, input_shape=[2], kernel_initializer="zeros")])
    model.load_weights(other.save_weights(tmp_path / "w.npz"))
    np.testing.assert_array_equal(model.weights[0].numpy(), np.zeros((2, 1), np.float32))
