"""Memory accounting and scopes: ``tidy``, ``keep``, ``dispose``, ``memory``.

Python frees unreferenced tensors on its own; these exist for TF.js parity and to free device
memory early. Counts are kept per backend by the tensors and buffers themselves.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

# backend name -> [tensors, buffers, bytes]
_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
_scopes: list[list] = []
_moves = [0]


class Storage:
    """One backend buffer; counted while alive."""

    __slots__ = ("buf", "backend", "nbytes", "__weakref__")

    def __init__(self, buf: Any, backend: str, nbytes: int):
        self.buf = buf
        self.backend = backend
        self.nbytes = nbytes
        c = _counts[backend]
        c[1] += 1
        c[2] += nbytes

    def __del__(self):
        c = _counts.get(self.backend)
        if c is not None:
            c[1] -= 1
            c[2] -= self.nbytes


def count_tensor(backend: str, delta: int) -> None:
    _counts[backend][0] += delta


def track(tensor: Any) -> None:
    """Register a new tensor with the innermost tidy scope."""
    if _scopes:
        _scopes[-1].append(tensor)


def count_move() -> None:
    _moves[0] += 1


def memory() -> dict[str, Any]:
    """Live tensors, buffers and bytes, in total and per backend."""
    per = {
        name: {"num_tensors": c[0], "num_data_buffers": c[1], "num_bytes": c[2]}
        for name, c in _counts.items()
        if any(c)
    }
    return {
        "num_tensors": sum(c[0] for c in _counts.values()),
        "num_data_buffers": sum(c[1] for c in _counts.values()),
        "num_bytes": sum(c[2] for c in _counts.values()),
        "num_moves": _moves[0],
        "backends": per,
    }


def _collect(obj: Any, out: set) -> None:
    from engine.tensor import Tensor

    if isinstance(obj, Tensor):
        out.add(id(obj))
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _collect(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _collect(o, out)


class _Tidy:
    """``with tidy():`` disposes the tensors created inside, except kept ones."""

    def __enter__(self):
        _scopes.append([])
        return self

    def __exit__(self, *exc):
        self.close(None)
        return False

    def close(self, result: Any) -> None:
        from engine import dispatch

        created = _scopes.pop()
        spare: set[int] = set()
        _collect(result, spare)
        outer = _scopes[-1] if _scopes else None
        tapes = dispatch.tapes
        for t in created:
            # Tensors an active gradient tape will read in its backward pass survive too.
            if id(t) in spare or t._kept or (tapes and any(t.id in tp.saved for tp in tapes)):
                if outer is not None:
                    outer.append(t)
            else:
                t.dispose()


def tidy(fn: Callable | None = None, *args: Any, **kwargs: Any) -> Any:
    """``tidy(fn)`` runs fn and disposes every tensor it created but did not return;
    ``with tidy():`` does the same for a block. Decorating a function works too."""
    if fn is None:
        return _Tidy()
    if isinstance(fn, str):  # TF.js allows tidy(name, fn)
        fn, args = args[0], args[1:]
    scope = _Tidy().__enter__()
    try:
        result = fn(*args, **kwargs)
    except BaseException:
        scope.close(None)
        raise
    scope.close(result)
    return result


def tidied(fn: Callable) -> Callable:
    """Decorator form of ``tidy``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return tidy(fn, *args, **kwargs)

    return wrapper


def keep(t: Any) -> Any:
    """Keep a tensor alive past the enclosing tidy scopes."""
    t._kept = True
    return t


def dispose(obj: Any) -> None:
    """Dispose a tensor, or every tensor in a list, tuple or dict."""
    from engine.tensor import Tensor

    if isinstance(obj, Tensor):
        obj.dispose()
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            dispose(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            dispose(o)
