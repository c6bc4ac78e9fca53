"""Memory accounting and scopes: ``tidy``, ``keep``, ``dispose``, ``memory``.

Python frees unreferenced tensors on its own; these exist for TF.js parity and to free device
memory early. Counts are kept per backend by the tensors and buffers themselves.

Threads: tidy scopes are per thread (a thread's ``tidy`` only disposes tensors that thread
created inside it). The counters are sharded per thread: a thread only ever changes its own
shard (a buffer freed in another thread than the one that made it is subtracted there), so no
update is lost and none takes a lock, and ``memory()`` adds the shards up.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

#: The (stack, thread) pairs, over all threads, whose stack made with ``ThreadStack(HOOKS)``
#: (gradient tapes, dispatch observers, trace recorders) is non-empty. Empty means no thread
#: has any, so ``engine.dispatch`` skips reading its own thread's stacks (the common case
#: costs one truth test per op). ``set.add``/``discard`` are atomic, and each pair is only
#: changed by its own thread, when its stack goes from empty to non-empty or back.
HOOKS: set[tuple[int, int]] = set()


class ThreadStack(threading.local):
    """A list-like stack with one list per thread (tidy scopes, gradient tapes, trace
    recorders, dispatch observers): what one thread pushes, only that thread sees. ``items`` is
    the calling thread's list (hot paths read it directly; change it only through the methods
    when the stack registers itself in ``active``)."""

    def __init__(self, active: set[tuple[int, int]] | None = None) -> None:
        self.items: list = []
        self._active = active
        self._key = (id(self), threading.get_ident())

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

    # A stack is registered in ``active`` before its first item goes in and unregistered after
    # its last item went out, so a thread that sees ``active`` empty has nothing to miss.
    def append(self, x: Any) -> None:
        items = self.items
        if not items and self._active is not None:
            self._active.add(self._key)
        items.append(x)

    def extend(self, xs: Any) -> None:
        items = self.items
        xs = list(xs)
        if xs and not items and self._active is not None:
            self._active.add(self._key)
        items.extend(xs)

    def remove(self, x: Any) -> None:
        items = self.items
        items.remove(x)
        if not items and self._active is not None:
            self._active.discard(self._key)

    def pop(self, i: int = -1) -> Any:
        items = self.items
        x = items.pop(i)
        if not items and self._active is not None:
            self._active.discard(self._key)
        return x

    def clear(self) -> None:
        items = self.items
        if items:
            items.clear()
            if self._active is not None:
                self._active.discard(self._key)

    def __repr__(self) -> str:
        return f"ThreadStack({self.items!r})"


def _zeros() -> list[int]:
    return [0, 0, 0]


# Each thread's counters, its shard: backend name -> [tensors, buffers, bytes], plus key None
# -> [moves, 0, 0]. Only the owning thread writes a shard; memory() adds them all up. The
# shards of threads that have ended are folded into _retired when a new thread registers.
_local = threading.local()
_shards: list[tuple[threading.Thread, dict[Any, list[int]]]] = []
_retired: dict[Any, list[int]] = defaultdict(_zeros)
_shards_lock = threading.Lock()


def _new_shard() -> dict[Any, list[int]]:
    """The calling thread's shard, made on its first count. It is installed before it is
    registered, so a finalizer that runs meanwhile (garbage collection) finds it."""
    counts: dict[Any, list[int]] = defaultdict(_zeros)
    _local.counts = counts
    with _shards_lock:
        keep = []
        for th, c in _shards:
            if th.is_alive():
                keep.append((th, c))
                continue
            for name, v in list(c.items()):
                r = _retired[name]
                for i in range(3):
                    r[i] += v[i]
        keep.append((threading.current_thread(), counts))
        _shards[:] = keep
    return counts


_scopes = ThreadStack()


class Storage:
    """One backend buffer; counted while alive."""

    __slots__ = ("buf", "backend", "nbytes", "__weakref__")

    def __init__(self, buf: Any, backend: str, nbytes: int):
        self.buf = buf
        self.backend = backend
        self.nbytes = nbytes
        try:
            c = _local.counts[backend]
        except AttributeError:
            c = _new_shard()[backend]
        c[1] += 1
        c[2] += nbytes

    def __del__(self):
        try:
            c = _local.counts[self.backend]
        except AttributeError:
            c = _new_shard()[self.backend]
        c[1] -= 1
        c[2] -= self.nbytes


def count_tensor(backend: str, delta: int) -> None:
    try:
        c = _local.counts[backend]
    except AttributeError:
        c = _new_shard()[backend]
    c[0] += delta


def track(tensor: Any) -> None:
    """Register a new tensor with the calling thread's innermost tidy scope."""
    scopes = _scopes.items
    if scopes:
        scopes[-1].append(tensor)


def count_move() -> None:
    try:
        c = _local.counts[None]
    except AttributeError:
        c = _new_shard()[None]
    c[0] += 1


def memory() -> dict[str, Any]:
    """Live tensors, buffers and bytes, in total and per backend (TF.js ``memory``).

    Counts cover all threads together; use it to check that a loop does not leak.

    Returns:
        ``{"num_tensors", "num_data_buffers", "num_bytes", "num_moves", "backends"}``, where
        ``backends`` maps each backend holding data to its own three counts and ``num_moves``
        counts tensors moved between backends.

    Example:

    >>> sorted(tw.memory())
    ['backends', 'num_bytes', 'num_data_buffers', 'num_moves', 'num_tensors']

    Compare ``tw.memory()["num_tensors"]`` before and after a training loop (after
    ``gc.collect()``, so garbage from elsewhere does not move the count) to find a leak.
    """
    if getattr(_local, "counts", None) is None:
        _new_shard()  # now, not from a finalizer while the lock below is held
    counts: dict[Any, list[int]] = defaultdict(_zeros)
    with _shards_lock:
        for c in [_retired] + [sh[1] for sh in _shards]:
            for name, v in list(c.items()):
                t = counts[name]
                for i in range(3):
                    t[i] += v[i]
    moves = counts.pop(None, [0])[0]
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
        if obj.dtype == "complex64":  # a ComplexTensor: its data are its two float32 parts
            out.update((id(obj.real), id(obj.imag)))
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
