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


def _npy_header(shape, dtype="<f4") -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _zip(path, entries):
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def _names(*names) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(names))
    return buf.getvalue()


def test_zip_bomb_is_refused_before_it_is_decompressed(tmp_path, model):
    """An entry whose header promises a (2, 1) kernel but which inflates to 64 MiB is refused
    from its declared size, before a byte of it is inflated (tracemalloc sees no big block)."""
    import tracemalloc

    path = tmp_path / "bomb.npz"
    bomb = _npy_header((2, 1)) + bytes(64 << 20)
    bias = _npy_header((1,)) + bytes(4)
    _zip(path, {"w00000.npy": bomb, "w00001.npy": bias, "names.npy": _names("k", "b")})
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"w00000.npy declares \d+ bytes"):
            model.load_weights(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak


def test_huge_declared_shape_is_refused_without_allocating(tmp_path, model):
    """A header declaring 10**12 floats is compared with the model's shape, never allocated."""
    path = tmp_path / "huge.npz"
    huge = _npy_header((10**12,)) + bytes(8)
    bias = _npy_header((1,)) + bytes(4)
    _zip(path, {"w00000.npy": huge, "w00001.npy": bias, "names.npy": _names("k", "b")})
    with pytest.raises(ValueError, match=r"saved weight 'k' has shape \(1000000000000,\)"):
        model.load_weights(path)
