"""MNIST for the training workload: the shipped IDX files, or synthetic data of the same shape.

The IDX reader is ``layers.datasets.read_idx`` when that module imports, else the small one
here. The folder is ``--data``, else ``$TENSORWEAVE_DATA/mnist``, else (in a source checkout
only) ``../shared/data/mnist`` relative to the checkout; an installed package looks nowhere else.
Without the files the bench trains on synthetic data and says so.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

_PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the folder holding ``bench/``
#: ``../shared/data/mnist`` beside a source checkout; None in an installed package.
DEFAULT_MNIST_DIR: Path | None = (
    _PROJECT_ROOT.parent / "shared" / "data" / "mnist"
    if (_PROJECT_ROOT / "pyproject.toml").is_file()
    else None
)
IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"


def _read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one gzip IDX file: big-endian uint32 magic, one uint32 per dimension, raw uint8."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    if magic >> 8 != 0x08:  # 0x0000 08 NN: unsigned byte data, NN dimensions
        raise ValueError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {dims} values, found {data.size}")
    return data.reshape(dims)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """One IDX file as a numpy array (the project's reader in ``layers.datasets`` if present)."""
    try:
        from layers.datasets import read_idx as project_reader
    except Exception:  # layers missing or broken: the bench still runs on its own reader
        return _read_idx(path)
    return project_reader(path)


def default_dir() -> Path | None:
    """``$TENSORWEAVE_DATA/mnist``, else the checkout's ``../shared/data/mnist`` (None when
    installed)."""
    env = os.environ.get("TENSORWEAVE_DATA", "").strip()
    return Path(env).expanduser() / "mnist" if env else DEFAULT_MNIST_DIR


def load_mnist(
    n: int | None = None, directory: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, source)``: x float32 (n, 784) in [0, 1], y one-hot float32 (n, 10).

    Reads the real MNIST test set when present, else makes synthetic data of the same shape
    (``source`` says which).
    """
    folder = Path(directory) if directory is not None else default_dir()
    images = labels = None
    if folder is not None:
        images, labels = folder / IMAGES, folder / LABELS
    if images is not None and labels is not None and images.is_file() and labels.is_file():
        x = read_idx(images).reshape(-1, 784)
        lab = read_idx(labels).astype(np.int64)
        source = f"MNIST ({folder})"
    else:
        rng = np.random.default_rng(1234)
        count = 10_000 if n is None else n
        lab = rng.integers(0, 10, size=count)
        x = (rng.random((count, 784)) * 255).astype(np.uint8)
        where = f"in {folder}" if folder is not None else "found: set TENSORWEAVE_DATA or --data"
        source = f"synthetic (no MNIST {where})"
    if n is not None:
        x, lab = x[:n], lab[:n]
    xf = np.ascontiguousarray(x, dtype=np.float32) / np.float32(255)
    y = np.zeros((len(lab), 10), dtype=np.float32)
    y[np.arange(len(lab)), lab] = 1
    return xf, y, source
