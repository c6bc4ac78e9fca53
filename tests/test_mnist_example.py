"""The seed example (examples/mnist_mlp.py) trains on the shipped MNIST digits."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from layers import datasets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _example():
    spec = importlib.util.spec_from_file_location(
        "mnist_mlp", os.path.join(ROOT, "examples", "mnist_mlp.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _need_mnist() -> None:
    """Skip, naming why, where the MNIST files are not beside the checkout (a bare clone)."""
    try:
        datasets.data_dir()
    except FileNotFoundError as e:
        pytest.skip(f"the MNIST data is not available here: {e}")


def test_mnist_reader_and_checksums(tmp_path, monkeypatch):
    _need_mnist()
    images, labels = datasets.load_mnist()
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x, y = datasets.mnist_arrays(n=100)
    assert x.shape == (100, 784) and 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (100, 10) and np.array_equal(np.argmax(y, 1), labels[:100])
    # TENSORWEAVE_DATA points elsewhere; a corrupt copy fails its checksum
    src = datasets.data_dir()
    (tmp_path / "mnist").mkdir()
    for name in ("SHA256SUMS", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "mnist" / name).write_bytes((src / "mnist" / name).read_bytes())
    raw = bytearray((src / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    raw[-10] ^= 0xFF
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(bytes(raw))
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    assert datasets.data_dir() == tmp_path
    with pytest.raises(ValueError, match="sha256"):
        datasets.load_mnist()


@pytest.mark.slow
def test_mnist_mlp_learns():
    _need_mnist()
    # 3,000 images (2,400 train, 600 validate), 2 epochs: a quick version of the 5-epoch run
    # (a few seconds on an idle CPU; the full run reaches val_acc 0.9585 on every backend)
    out = _example().run(epochs=2, batch_size=32, samples=3000, verbose=0, seed=0)
    assert len(out["history"]["val_acc"]) == 2
    assert out["history"]["loss"][1] < out["history"]["loss"][0]
    assert out["val_acc"] >= 0.85, out["history"]  # seed 0 reaches about 0.89
