"""Where tensorweave keeps files between processes: ``$TENSORWEAVE_CACHE``, else the user cache
folder (``platformdirs.user_cache_dir("tensorweave")``: ``~/.cache/tensorweave`` on Linux,
``~/Library/Caches/tensorweave`` on macOS, ``%LOCALAPPDATA%\\tensorweave\\Cache`` on Windows).

Inside it: ``fusion/`` (generated fused-kernel modules), ``programs/`` (compiled trace programs),
``numba/`` (numba's ``cache=True`` machine code for every tensorweave kernel, the package's own
and the generated ones), ``pocl/`` and ``pyopencl/`` (the OpenCL backend's kernel binaries:
PoCL's cache unless ``POCL_CACHE_DIR`` is set, PyOpenCL's) and ``compile_times.json`` (how long past compiles took, for the
compile cost model of ``backends.cpu.steps.chunk``). Nothing is ever written next to the installed
package. ``install_numba_cache`` sends numba's machine code for tensorweave's kernels to
``numba/`` unless the user has set ``NUMBA_CACHE_DIR`` (no environment variable or numba setting
is changed; ``backends.cpu`` calls it before it imports a kernel module), and ``child_env`` hands
the folder to the compile workers. Deleting the folder is always safe (the next run compiles
again).

Robustness: every file tensorweave writes here is written whole to a temporary file and moved
into place (``atomic_write``), so a reader never sees half a file and two processes sharing the
folder never corrupt it. A corrupt, truncated or stale entry (a generated module whose text is
not what its name promises, a numba index ``.nbi`` or data ``.nbc`` file numba cannot unpickle,
an unreadable ``compile_times.json``) is removed and rebuilt, with one WARNING on the
``tensorweave.cache`` logger per entry (``harden_numba_cache`` installs the numba side).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

ENV_VAR = "TENSORWEAVE_CACHE"
NUMBA_ENV_VAR = "NUMBA_CACHE_DIR"

_fallback: list[str] = []  # one temporary folder per process when the cache is not writable
_log = logging.getLogger("tensorweave.cache")
_warned: set[str] = set()
_warn_lock = threading.Lock()


def cache_root() -> str:
    """The cache folder (not created): ``$TENSORWEAVE_CACHE`` or the user cache folder."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return os.path.abspath(os.path.expanduser(env))
    try:
        import platformdirs
    except ImportError:  # a dependency, but keep working without it
        return os.path.join(os.path.expanduser("~"), ".cache", "tensorweave")
    return platformdirs.user_cache_dir("tensorweave", appauthor=False)


def cache_subdir(name: str) -> str:
    """``<cache root>/<name>``, created; a per-process temporary folder when that cannot be
    created or written (a read-only home), so tensorweave still runs, only without reuse."""
    path = os.path.join(cache_root(), name)
    try:
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise OSError(f"{path} is not writable")
    except OSError:
        if not _fallback:
            _fallback.append(tempfile.mkdtemp(prefix="tensorweave-cache-"))
        path = os.path.join(_fallback[0], name)
        os.makedirs(path, exist_ok=True)
    return path


def numba_cache_dir() -> str:
    """The folder numba's ``cache=True`` machine code of tensorweave's kernels goes to: the
    user's ``NUMBA_CACHE_DIR`` (numba's ``config.CACHE_DIR``) when set, else
    ``<cache root>/numba`` (created)."""
    from numba.core import config

    return config.CACHE_DIR or cache_subdir("numba")


def _tensorweave_file(path: str) -> bool:
    """True for a source file of this package (``backends/``) or one it generated (under the
    cache root or the per-process fallback folder)."""
    path = os.path.abspath(path)
    roots = [_PACKAGE, cache_root(), *_fallback]
    return any(path.startswith(os.path.abspath(r) + os.sep) for r in roots)


_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_locator: list[Any] = []


def install_numba_cache() -> None:
    """Send numba's ``cache=True`` machine code for tensorweave's kernels (the package's own and
    the generated modules') to ``<cache root>/numba`` instead of ``__pycache__`` beside the
    sources (inside site-packages), unless the user set ``NUMBA_CACHE_DIR``, which then wins.

    It changes no environment variable and no numba setting: it puts a cache locator for
    tensorweave's own files first in numba's list, so other code's numba functions cache where
    numba puts them by default. numba fixes a function's cache folder when the function is
    decorated, so this runs before any kernel module is imported (``backends.cpu`` calls it
    first). A child process that should share the folder gets it from ``child_env``.
    Idempotent."""
    if _locator:
        return
    from numba.core import caching, config

    class TensorweaveCacheLocator(caching.UserProvidedCacheLocator):
        """numba's locator for a user-given folder, with ``numba_cache_dir()`` as the folder,
        for tensorweave's files only and only while ``NUMBA_CACHE_DIR`` is unset."""

        def __init__(self, py_func: Any, py_file: str) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            sub = self.get_suitable_cache_subpath(py_file)
            self._cache_path = os.path.join(numba_cache_dir(), sub)

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if config.CACHE_DIR or not _tensorweave_file(py_file):
                return None  # numba's own locators decide
            return super(caching.UserProvidedCacheLocator, cls).from_function(py_func, py_file)

    caching.CacheImpl._locator_classes.insert(0, TensorweaveCacheLocator)
    _locator.append(TensorweaveCacheLocator)


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) for a child process of tensorweave's (the
    compile workers) with ``NUMBA_CACHE_DIR`` set to ``numba_cache_dir()``, so the child caches
    machine code where this process looks for it (the per-process fallback folder too).
    ``os.environ`` itself is not changed."""
    env = dict(os.environ if base is None else base)
    env[NUMBA_ENV_VAR] = numba_cache_dir()
    return env


def configure_opencl_cache() -> str:
    """Point PoCL's kernel cache at ``<cache root>/pocl`` unless ``POCL_CACHE_DIR`` is set (it
    must run before PoCL loads; ``backends.opencl`` calls it on import); returns the folder.
    PyOpenCL's own binary cache goes to ``opencl_cache_dir()`` (``Program.build(cache_dir=)``).
    """
    current = os.environ.get("POCL_CACHE_DIR", "")
    if current:
        return current
    path = cache_subdir("pocl")
    os.environ["POCL_CACHE_DIR"] = path
    return path


def opencl_cache_dir() -> str:
    """``<cache root>/pyopencl``, created: where PyOpenCL caches built program binaries."""
    return cache_subdir("pyopencl")


def warn_rebuilt(path: str, why: str) -> None:
    """One WARNING (per path and process) that a cache entry was bad and is being rebuilt."""
    with _warn_lock:
        if path in _warned:
            return
        _warned.add(path)
    _log.warning("cache entry %s is %s; removed, it is rebuilt", path, why)


def atomic_write(path: str, data: bytes | str, *, replace: bool = True) -> bool:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then move it into
    place (readers see the old file or the whole new one, never a part). With
    ``replace=False`` an existing file is kept (returns False): the first writer wins, so a file
    numba stamps by its modification time does not change under another process."""
    folder = os.path.dirname(path) or "."
    mode = "w" if isinstance(data, str) else "wb"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tw-", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            f.write(data)
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic and never overwrites
        except FileExistsError:
            return False
        except OSError:  # no hard links here (some file systems): fall back to a rename
            if os.path.exists(path):
                return False
            os.replace(tmp, path)
            return True
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# --- compile records: how long compiles took on this machine ------------------------------------
RECORDS = "compile_times.json"
_records_lock = threading.Lock()


def read_records() -> list[dict[str, Any]]:
    """The recorded compiles (``[{"kind", "size", "seconds"}, ...]``, oldest first); an unreadable
    file is removed with one warning and reads as empty."""
    path = os.path.join(cache_root(), RECORDS)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, list) or not all(
            isinstance(r, dict) and isinstance(r.get("seconds"), int | float) for r in data
        ):
            raise ValueError("not a list of records")
        return data
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        warn_rebuilt(path, f"unreadable ({type(e).__name__})")
        with contextlib.suppress(OSError):
            os.unlink(path)
        return []


def add_record(kind: str, size: int, seconds: float, keep: int = 200) -> None:
    """Record one compile (``kind``: what was compiled, ``size``: its source lines)."""
    with _records_lock:
        records = read_records()[-(keep - 1) :]
        records.append({"kind": kind, "size": int(size), "seconds": round(float(seconds), 4)})
        try:
            root = cache_root()
            os.makedirs(root, exist_ok=True)
            atomic_write(os.path.join(root, RECORDS), json.dumps(records))
        except OSError:  # a read-only cache: no records, the defaults stand
            pass


# --- numba's own cache files ----------------------------------------------------------------------
def _ours(path: str) -> bool:
    """True for a file under the folder numba caches tensorweave's kernels in."""
    root = numba_cache_dir()
    return os.path.abspath(path).startswith(os.path.abspath(root) + os.sep)


def _discard_numba_entry(cache_file: Any, why: str) -> None:
    """Remove a function's index and every data file of it."""
    folder = cache_file._cache_path
    base = cache_file._index_name[: -len(".nbi")]
    warn_rebuilt(cache_file._index_path, why)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name == cache_file._index_name or (
            name.startswith(base + ".") and name.endswith(".nbc")
        ):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """An advisory lock on the file ``path`` names (POSIX); a no-op where ``fcntl`` is
    missing."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def harden_numba_cache() -> None:
    """Make numba's on-disk cache (for files under ``numba_cache_dir()``: tensorweave's folder,
    or the user's ``NUMBA_CACHE_DIR``) survive bad files and concurrent writers:

    - an index (``.nbi``) or data (``.nbc``) file numba cannot read (truncated, garbled: numba
      raises ``UnpicklingError``/``EOFError``) is removed with one warning and the function is
      compiled again (and saved afresh) instead of failing every later run;
    - numba writes each file atomically already (temporary file + ``os.replace``) but updates an
      index by read-modify-write, so two processes adding signatures at once could pair an index
      entry with the other's data file: saves hold a lock on the folder's
      ``.tensorweave.lock``.

    Idempotent; patches ``numba.core.caching`` once per process."""
    from numba.core import caching

    if getattr(caching, "_tensorweave_hardened", False):
        return
    caching._tensorweave_hardened = True
    cls = caching.IndexDataCacheFile
    load_index, load_data, save = cls._load_index, cls._load_data, cls.save

    def _load_index(self: Any) -> dict:
        try:
            return load_index(self)
        except Exception as e:
            if not _ours(self._index_path):
                raise
            _discard_numba_entry(self, f"unreadable ({type(e).__name__})")
            return {}

    def _load_data(self: Any, name: str) -> Any:
        try:
            return load_data(self, name)
        except OSError:
            raise  # numba's load() treats a missing data file as a miss
        except Exception as e:
            if not _ours(self._index_path):
                raise
            _discard_numba_entry(self, f"unreadable ({type(e).__name__})")
            raise OSError(f"bad cache file {name}") from e

    def _save(self: Any, key: Any, data: Any) -> None:
        with _file_lock(os.path.join(self._cache_path, ".tensorweave.lock")):
            save(self, key, data)

    cls._load_index, cls._load_data, cls.save = _load_index, _load_data, _save

    load_overload = caching.Cache.load_overload

    def _load_overload(self: Any, sig: Any, target_context: Any) -> Any:
        try:
            return load_overload(self, sig, target_context)
        except Exception as e:  # unpickled but not rebuildable: a stale or garbled entry
            cf = self._cache_file
            if not _ours(cf._index_path):
                raise
            _discard_numba_entry(cf, f"not loadable ({type(e).__name__}: {e})")
            return None

    caching.Cache.load_overload = _load_overload
