"""Where tensorweave keeps files between processes: ``$TENSORWEAVE_CACHE``, else the user cache
folder (``platformdirs.user_cache_dir("tensorweave")``: ``~/.cache/tensorweave`` on Linux,
``~/Library/Caches/tensorweave`` on macOS, ``%LOCALAPPDATA%\\tensorweave\\Cache`` on Windows).

Inside it: ``fusion/`` (generated fused-kernel modules), ``programs/`` (compiled trace programs)
and ``numba/`` (numba's ``cache=True`` machine code for every tensorweave kernel, the package's
own and the generated ones). Nothing is ever written next to the installed package.
``configure_numba_cache`` points ``NUMBA_CACHE_DIR`` at ``numba/`` unless the user has set it;
``backends.cpu`` calls it before it imports numba. Deleting the folder is always safe (the next
run compiles again).
"""

from __future__ import annotations

import os
import sys
import tempfile

ENV_VAR = "TENSORWEAVE_CACHE"
NUMBA_ENV_VAR = "NUMBA_CACHE_DIR"

_fallback: list[str] = []  # one temporary folder per process when the cache is not writable


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


def configure_numba_cache() -> str:
    """Point numba's kernel cache (``cache=True``) at ``<cache root>/numba`` unless
    ``NUMBA_CACHE_DIR`` is already set; returns the folder numba will use. Without this numba
    writes into ``__pycache__`` beside the package's sources (inside site-packages)."""
    current = os.environ.get(NUMBA_ENV_VAR, "")
    if current:
        return current
    path = cache_subdir("numba")
    os.environ[NUMBA_ENV_VAR] = path
    if "numba" in sys.modules:  # imported before us: make its config read the variable now
        from numba.core import config

        config.reload_config()
    return path
