"""Memory accounting and scopes: ``tidy``, ``keep``, ``dispose``, ``memory``.

Python frees unreferenced tensors on its own; these exist for TF.js parity and to free device
memory early. Counts are kept per backend by the tensors and buffers themselves.

Threads: tidy scopes are per thread (a thread's ``tidy`` only disposes tensors that thread
created inside it); the counters are process-wide and updated under a lock, so ``memory()``
stays exact while several threads create and free tensors.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any


class ThreadStack(threading.local):
    """A list-like stack with one list per thread (tidy scopes, gradient tapes, trace
    recorders, dispatch observers): what one thread pushes, only that thread sees. ``items`` is
    the calling thread's list (hot paths read it directly)."""

    def __init__(self) -> None:
        self.items: list = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator:
        return iter(self.items)

    def __getitem__(self, i: Any) -> Any:
        return self.items[i]

    def __contains__(self, x: Any) -> bool:
        return x in self.items

    def append(self, x: Any) -> None:
        self.items.append(x)

    def extend(self, xs: Any) -> None:
        self.items.extend(xs)

    def remove(self, x: Any) -> None:
        self.items.remove(x)

    def pop(self, i: int = -1) -> Any:
        return self.items.pop(i)

    def clear(self) -> None:
        self.items.clear()

    def __repr__(self) -> str:
        return f"ThreadStack({self.items!r})"


# backend name -> [tensors, buffers, bytes]; changed only under _lock. A re-entrant lock: a
# Storage/Tensor finalizer may run (garbage collection) in a thread that holds it.
_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
_lock = threading.RLock()
_scopes = ThreadStack()
_moves = [0]


class Storage:
    """One backend buffer; counted while alive."""

    __slots__ = ("buf", "backend", "nbytes", "__weakref__")

    def __init__(self, buf: Any, backend: str, nbytes: int):
        self.buf = buf
        self.backend = backend
        self.nbytes = nbytes
        with _lock:
            c = _counts[backend]
            c[1] += 1
            c[2] += nbytes

    def __del__(self):
        with _lock:
            c = _counts.get(self.backend)
            if c is not None:
                c[1] -= 1
                c[2] -= self.nbytes


def count_tensor(backend: str, delta: int) -> None:
    with _lock:
        _counts[backend][0] += delta


def track(tensor: Any) -> None:
    """Register a new tensor with the calling thread's innermost tidy scope."""
    scopes = _scopes.items
    if scopes:
        scopes[-1].append(tensor)


def count_move() -> None:
    with _lock:
        _moves[0] += 1


def memory() -> dict[str, Any]:
    """Live tensors, buffers and bytes, in total and per backend (TF.js ``memory``).

    Counts cover all threads together; use it to check that a loop does not leak.

    Returns:
        ``{"num_tensors", "num_data_buffers", "num_bytes", "num_moves", "backends"}``, where
        ``backends`` maps each backend holding data to its own three counts and ``num_moves``
        counts tensors moved between backends.

    Example:

    >>> before = tw.memory()["num_tensors"]
    >>> _ = tw.tidy(lambda: tw.sum(tw.ones([3])).item())
    >>> tw.memory()["num_tensors"] == before
    True
    """
    with _lock:
        counts = {name: tuple(c) for name, c in _counts.items()}
        moves = _moves[0]
    per = {
        name: {"num_tensors": c[0], "num_data_buffers": c[1], "num_bytes": c[2]}
        for name, c in counts.items()
        if any(c)
    }
    return {
        "num_tensors": sum(c[0] for c in counts.values()),
        "num_data_buffers": sum(c[1] for c in counts.values()),
        "num_bytes": sum(c[2] for c in counts.values()),
        "num_moves": moves,
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
        _scopes.items.append([])
        return self

    def __exit__(self, *exc):
        self.close(None)
        return False

    def close(self, result: Any) -> None:
        from engine import dispatch

        scopes = _scopes.items
        created = scopes.pop()
        spare: set[int] = set()
        _collect(result, spare)
        outer = scopes[-1] if scopes else None
        tapes = dispatch.tapes.items  # this thread's tapes
        for t in created:
            # Tensors an active gradient tape will read in its backward pass survive too.
            if id(t) in spare or t._kept or (tapes and any(t.id in tp.saved for tp in tapes)):
                if outer is not None:
                    outer.append(t)
            else:
                t.dispose()


def tidy(fn: Callable | None = None, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` and dispose every tensor it created but did not return (TF.js ``tidy``).

    ``with tidy():`` does the same for a block; ``tw.tidied`` is the decorator form. Tensors
    passed to ``keep`` survive.

    Scopes are per thread: a scope only collects the tensors its own thread creates, so a
    ``tidy`` in one thread never disposes another thread's tensors. A tensor made in one
    thread may still be used and kept in another.

    Args:
        fn: The function to run; ``None`` returns a context manager for a ``with`` block. A
            string first argument is taken as a name, as TF.js's ``tidy(name, fn)``.
        *args: Positional arguments for ``fn``.
        **kwargs: Keyword arguments for ``fn``.

    Returns:
        What ``fn`` returns (its tensors, also inside lists, tuples and dicts, survive), or
        the scope's context manager when ``fn`` is ``None``.

    Example:

    >>> x = tw.tensor([1.0, 2.0])
    >>> y = tw.tidy(lambda: tw.sum(tw.square(tw.add(x, 1))))
    >>> y.item()
    13.0
    >>> with tw.tidy():
    ...     tmp = tw.mul(x, 2)
    >>> tmp.is_disposed
    True
    """
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
    """Decorator form of ``tidy``: every call of ``fn`` runs in its own scope.

    Args:
        fn: The function to wrap.

    Returns:
        The wrapped function.

    Example:

    >>> @tw.tidied
    ... def loss(x):
    ...     return tw.mean(tw.square(x))
    >>> loss(tw.tensor([3.0])).item()
    9.0
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return tidy(fn, *args, **kwargs)

    return wrapper


def keep(t: Any) -> Any:
    """Keep a tensor alive past the enclosing tidy scopes (TF.js ``keep``).

    Args:
        t: The tensor.

    Returns:
        ``t`` itself.

    Example:

    >>> with tw.tidy():
    ...     kept = tw.keep(tw.ones([2]))
    >>> kept.is_disposed
    False
    """
    t._kept = True
    return t


def dispose(obj: Any) -> None:
    """Free a tensor's buffer now (TF.js ``dispose``); using it afterwards raises.

    Args:
        obj: A Tensor, or a list, tuple or dict of them (nested); other values are ignored.
    """
    from engine.tensor import Tensor

    if isinstance(obj, Tensor):
        obj.dispose()
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            dispose(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            dispose(o)
