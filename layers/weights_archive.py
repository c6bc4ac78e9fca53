"""Reading a ``save_weights`` archive (an ``.npz``) as untrusted input.

Every entry's ``.npy`` header (shape, dtype) is read and checked before any array data is
decompressed: a header that declares a huge shape, or an entry whose declared size does not
match its header, is refused without allocating it (a "zip bomb" costs nothing). Only then are
the arrays read, and each read is bounded by the size its header promised.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ArchiveError", "CountMismatch", "ShapeMismatch", "read_weights"]

# names are layer/weight paths; a generous bound on one name's characters
_MAX_NAME_CHARS = 4096
# an .npy header is at most this long (numpy's own default limit)
_MAX_HEADER = 10_000


class ArchiveError(ValueError):
    """The archive is not a well-formed ``save_weights`` file."""


def _header(zf: zipfile.ZipFile, entry: str) -> tuple[tuple[int, ...], np.dtype]:
    with zf.open(entry) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_HEADER)
        else:
            raise ArchiveError(f"{entry} has .npy format version {version}, expected 1.0-3.0")
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _check_size(info: zipfile.ZipInfo, shape: tuple[int, ...], dtype: np.dtype) -> None:
    data = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size > data + _MAX_HEADER + 128:
        raise ArchiveError(
            f"{info.filename} declares {info.file_size} bytes but its header promises "
            f"{shape} {dtype} ({data} bytes)"
        )


def read_weights(
    target: Path, expected: list[tuple[int, ...]]
) -> tuple[list[np.ndarray], list[str]]:
    """The arrays and saved names of ``target``, checked against ``expected`` shapes.

    Args:
        target: The ``.npz`` written by ``Model.save_weights``.
        expected: The model's weight shapes, in order.

    Returns:
        ``(values, names)``: one array per weight (real numbers), and the saved weight names.

    Raises:
        ArchiveError: The file is not a ``save_weights`` archive (entries, a non-numeric
            dtype, a declared size its header does not promise).
        CountMismatch: It holds another number of weights than ``expected``.
        ShapeMismatch: A weight's shape differs from ``expected``.
        Nothing is decompressed beyond the ``.npy`` headers (and the names) before these
        checks pass.
        zipfile.BadZipFile, OSError, EOFError: The file is not a readable zip.

    Example:
        >>> import numpy as np, tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = os.path.join(d, "w.npz")
        ...     np.savez(p, w00000=np.ones(2, np.float32), names=np.array(["k"]))
        ...     read_weights(Path(p), [(2,)])[1]
        ['k']
    """
    with zipfile.ZipFile(target) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        keys = sorted(k[:-4] for k in infos if k.startswith("w") and k.endswith(".npy"))
        if "names.npy" not in infos or keys != [f"w{i:05d}" for i in range(len(keys))]:
            raise ArchiveError("missing entries")
        shape, dtype = _header(zf, "names.npy")
        if shape != (len(keys),):
            raise ArchiveError(f"names has shape {shape}, expected ({len(keys)},)")
        if dtype.kind != "U" or dtype.itemsize > 4 * _MAX_NAME_CHARS:
            raise ArchiveError(f"names has dtype {dtype}, expected strings")
        _check_size(infos["names.npy"], shape, dtype)
        headers: list[tuple[tuple[int, ...], np.dtype]] = []
        for k in keys:
            shape, dtype = _header(zf, k + ".npy")
            if dtype.kind not in "biuf" or dtype.hasobject:
                raise ArchiveError(f"{k} has dtype {dtype}, expected real numbers")
            _check_size(infos[k + ".npy"], shape, dtype)
            headers.append((shape, dtype))
        names = [str(n) for n in _load(zf, "names.npy")]
        if len(keys) != len(expected):
            raise CountMismatch(names)
        for i, (n, (shape, _), want) in enumerate(zip(names, headers, expected, strict=True)):
            if shape != tuple(want):
                raise ShapeMismatch(i, n, shape)
        values = [_load(zf, k + ".npy") for k in keys]
    return values, names


class CountMismatch(ValueError):
    """The archive holds another number of weights than the model (``names``: the saved ones)."""

    def __init__(self, names: list[str]):
        super().__init__(f"{len(names)} saved weights")
        self.names = names


class ShapeMismatch(ValueError):
    """Saved weight ``index`` (saved as ``name``) has shape ``saved``, not the model's."""

    def __init__(self, index: int, name: str, saved: tuple[int, ...]):
        super().__init__(f"saved weight {name!r} has shape {saved}")
        self.index, self.name, self.saved = index, name, saved


def _load(zf: zipfile.ZipFile, entry: str) -> Any:
    with zf.open(entry) as f:
        return np.lib.format.read_array(f, allow_pickle=False, max_header_size=_MAX_HEADER)
