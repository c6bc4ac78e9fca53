"""Reading the data sets shipped with the project (never downloaded): MNIST in gzip'd IDX.

The data root (the folder holding ``mnist/``) is the ``root`` argument when given, else
``$TENSORWEAVE_DATA``. In a source checkout (a ``pyproject.toml`` beside ``engine/`` and
``layers/``) it may also be ``../shared/data`` or ``shared/data`` relative to the checkout; an
installed package looks nowhere else, and a missing root raises ``FileNotFoundError`` saying
what to set. Files are checked against the ``SHA256SUMS`` list of the data root before use.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np

ENV_VAR = "TENSORWEAVE_DATA"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _in_checkout() -> bool:
    """True when this package runs from a source checkout rather than an installed copy."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "engine").is_dir()


def data_dir() -> Path:
    """The data root: ``$TENSORWEAVE_DATA``, else (source checkout only) ``../shared/data`` or
    ``shared/data`` beside the checkout. Raises ``FileNotFoundError`` naming where it looked and
    what to set; a ``$TENSORWEAVE_DATA`` that is not a folder is an error, never skipped.

    Returns:
        The data root folder.

    Raises:
        FileNotFoundError: No data folder was found, or ``$TENSORWEAVE_DATA`` is not a folder.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"{ENV_VAR}={env!r} is not a folder; set it to the folder that holds mnist/"
            )
        return path
    candidates = []
    if _in_checkout():
        candidates = [PROJECT_ROOT.parent / "shared" / "data", PROJECT_ROOT / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    looked = f" (looked in {', '.join(str(c) for c in candidates)})" if candidates else ""
    raise FileNotFoundError(
        f"no data folder{looked}: set {ENV_VAR} to the folder that holds mnist/ "
        "(t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, SHA256SUMS), or pass root="
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (optionally gzip'd) as a numpy array: big-endian magic with the element type
    in byte 3 and the rank in byte 4, one big-endian uint32 per dimension, then row-major data.

    Args:
        path: The file (``.gz`` is decompressed).

    Returns:
        The array, with the file's element type and shape.

    Raises:
        ValueError: Not an IDX file, an unknown element type, or a size that does not match.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4].hex()})")
    code, rank = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    dims = struct.unpack(f">{rank}I", raw[4 : 4 + 4 * rank])
    dtype = np.dtype(_IDX_DTYPES[code])
    body = raw[4 + 4 * rank :]
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(body) != expected:
        raise ValueError(
            f"{path}: expected {expected} data bytes for shape {dims}, found {len(body)}"
        )
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _checksums(folders: list[Path]) -> dict[str, str]:
    """Resolved path -> sha256 from the SHA256SUMS files in ``folders``."""
    out: dict[str, str] = {}
    for folder in folders:
        f = folder / "SHA256SUMS"
        if f.is_file():
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2:
                    rel = parts[1].lstrip("*")
                    # relative to the list's folder, or to the data root above it ("mnist/...")
                    for base in (folder, folder.parent):
                        out.setdefault(str((base / rel).resolve()), parts[0].lower())
    return out


def verify(path: str | os.PathLike) -> None:
    """Check ``path`` against a SHA256SUMS list in its folder or the one above.

    Args:
        path: The file.

    Raises:
        ValueError: No list names the file, or its sha256 differs.
    """
    path = Path(path).resolve()
    expected = _checksums([path.parent, path.parent.parent]).get(str(path))
    if expected is None:
        raise ValueError(f"{path}: no SHA256SUMS entry (in {path.parent} or above) lists this file")
    h = hashlib.sha256(path.read_bytes()).hexdigest()
    if h != expected:
        raise ValueError(
            f"{path}: sha256 {h} does not match SHA256SUMS ({expected}); the file is corrupt"
        )


def _mnist_folder(root: Path) -> Path:
    if (root / "t10k-images-idx3-ubyte.gz").is_file():
        return root
    return root / "mnist"


def load_mnist(
    root: str | os.PathLike | None = None, check: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test set shipped with the project: ``(images uint8 (10000, 28, 28), labels
    uint8 (10000,))``. ``root`` is the data root or the mnist folder itself (default
    ``data_dir()``: ``$TENSORWEAVE_DATA``); ``check`` verifies the files' SHA256SUMS.

    Args:
        root: The data root or the mnist folder (default ``data_dir()``).
        check: Verify the files against SHA256SUMS first.

    Returns:
        ``(images, labels)``: uint8 arrays of shapes ``(10000, 28, 28)`` and ``(10000,)``.

    Raises:
        FileNotFoundError: A file is missing (the message says what to set).
        ValueError: A checksum or the file format is wrong.
    """
    base = Path(root) if root is not None else data_dir()
    folder = _mnist_folder(base)
    img_path = folder / "t10k-images-idx3-ubyte.gz"
    lbl_path = folder / "t10k-labels-idx1-ubyte.gz"
    for p in (img_path, lbl_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"MNIST file {p} is missing (data root {base}; pass root= or set {ENV_VAR} to "
                "the folder that holds mnist/)"
            )
        if check:
            verify(p)
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


def mnist_arrays(
    root: str | os.PathLike | None = None, n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ready for a dense model: ``x`` float32 (N, 784) in [0, 1], ``y`` one-hot float32
    (N, 10); the first ``n`` samples when given.

    Args:
        root: The data root or the mnist folder (default ``data_dir()``).
        n: Keep only the first ``n`` samples.

    Returns:
        ``(x, y)`` numpy arrays, ready for ``model.fit(x, y)``.

    Raises:
        FileNotFoundError: The files are missing (see ``load_mnist``).
    """
    images, labels = load_mnist(root)
    if n is not None:
        images, labels = images[:n], labels[:n]
    x = images.reshape(images.shape[0], -1).astype(np.float32) / 255.0
    y = np.eye(10, dtype=np.float32)[labels]
    return x, y
