"""Backend registry and selection, with TF.js semantics (tfjs-compat.md §1).

Factories are stored lazily; nothing is probed at import. The active backend is the highest
priority whose factory succeeds (ties go to the first registered). ``TENSORWEAVE_BACKEND``
and ``set_backend`` are strict: a backend that cannot start raises with its reason. Names are
matched regardless of case (``TENSORWEAVE_BACKEND=CPU`` selects ``cpu``); an unknown name
raises with a did-you-mean hint.

Automatic selection is quiet: a backend that cannot start (``cuda`` without a GPU) is logged at
DEBUG on the ``tensorweave.registry`` logger, never warned about; ``python -m engine`` lists
every backend with its reason.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from backends.base import Backend
from engine.logs import LOGGER_NAME

_log = logging.getLogger(f"{LOGGER_NAME}.registry")

ENV_VAR = "TENSORWEAVE_BACKEND"


class BackendError(RuntimeError):
    """A backend could not be found or started; the message gives the reason.

    Raised by ``set_backend``/``backend_scope`` and by the first op when
    ``TENSORWEAVE_BACKEND`` names a backend that cannot start (never a silent fallback).
    """


@dataclass
class _Entry:
    name: str
    factory: Callable[[], Backend]
    priority: int | Callable[[], int]
    order: int
    instance: Backend | None = None
    reason: str | None = None  # why the factory failed, once tried
    tried: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved_priority(self) -> int:
        if callable(self.priority):
            try:
                return int(self.priority())
            except Exception:  # a priority probe that fails ranks the backend last
                return -(10**9)
        return int(self.priority)


_entries: dict[str, _Entry] = {}
_order = 0
_active: str | None = None
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        import backends

        backends.register_builtin_backends(register_backend)


def register_backend(
    name: str, factory: Callable[[], Backend], priority: int | Callable[[], int] = 1
) -> bool:
    """Register a backend under ``name``; it is created lazily, on first use.

    Args:
        name: The backend's name (non-empty).
        factory: A callable returning the ``backends.base.Backend`` instance; an exception
            from it marks the backend unavailable, with the exception as the reason.
        priority: Higher wins the automatic choice; a callable is evaluated when choosing.

    Returns:
        ``True`` when registered; ``False`` (with a warning) when the name was taken, in
        which case the first registration is kept.

    Raises:
        ValueError: ``name`` is not a non-empty string.
    """
    global _order
    if not isinstance(name, str) or not name:
        raise ValueError(f"backend name must be a non-empty string, got {name!r}")
    if name in _entries:
        warnings.warn(f"backend {name!r} is already registered; keeping the first", stacklevel=2)
        return False
    _order += 1
    _entries[name] = _Entry(name, factory, priority, _order)
    return True


def remove_backend(name: str) -> None:
    """Forget a backend and its instance; removing the active one re-selects lazily.

    Args:
        name: The backend's name (any case).

    Raises:
        BackendError: No backend has that name.
    """
    global _active
    _load_builtins()
    name = _resolve(name, "remove_backend")
    del _entries[name]
    if _active == name:
        _active = None


def _canonical(name: str) -> str | None:
    """The registered name ``name`` refers to: itself, else the one registered name equal to it
    ignoring case; None when there is none (or several differ only in case)."""
    if name in _entries:
        return name
    if not isinstance(name, str):
        return None
    folded = [n for n in _entries if n.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _unknown_message(name: str) -> str:
    names = sorted(_entries)
    by_folded = {n.casefold(): n for n in names}
    hint = difflib.get_close_matches(str(name).casefold(), list(by_folded), n=1)
    msg = f"unknown backend {name!r}; registered backends: {', '.join(names) or 'none'}"
    if hint:
        msg += f". Did you mean {by_folded[hint[0]]!r}?"
    return msg


def _resolve(name: str, source: str) -> str:
    """The registered name for ``name`` (case-insensitive), or a BackendError with a hint."""
    canonical = _canonical(name)
    if canonical is None:
        raise BackendError(f"{source}: {_unknown_message(name)}")
    return canonical


def _start(entry: _Entry) -> Backend | None:
    """Instantiate a backend once; remember the failure reason."""
    if entry.instance is not None:
        return entry.instance
    if entry.tried and entry.reason:
        return None
    entry.tried = True
    try:
        instance = entry.factory()
        if not isinstance(instance, Backend):
            raise TypeError(f"factory returned {type(instance).__name__}, expected a Backend")
        missing = type(instance).missing_primitives()
        if missing:
            raise TypeError(f"missing primitives: {', '.join(missing)}")
    except Exception as exc:  # any failure makes the backend unavailable, with its reason
        entry.reason = f"{type(exc).__name__}: {exc}"
        return None
    entry.instance = instance
    entry.reason = None
    return instance


def _sorted_entries() -> list[_Entry]:
    return sorted(_entries.values(), key=lambda e: (-e.resolved_priority(), e.order))


def _select_best() -> str:
    for entry in _sorted_entries():
        if _start(entry) is not None:
            _log.debug("selected backend %r (priority %d)", entry.name, entry.resolved_priority())
            return entry.name
        _log.debug("backend %r is unavailable: %s", entry.name, entry.reason)
    raise BackendError(
        "no backend could start: " + "; ".join(f"{e.name}: {e.reason}" for e in _entries.values())
    )


def _start_strict(name: str, source: str) -> str:
    """Start the backend ``name`` (any case) or raise with the reason; returns its registered
    name."""
    name = _resolve(name, source)
    instance = _start(_entries[name])
    if instance is None:
        raise BackendError(
            f"{source}: backend {name!r} cannot start: {_entries[name].reason}. "
            f"Registered backends: {', '.join(sorted(_entries))}"
        )
    return name


def get_backend() -> str:
    """The name of the active backend, choosing it now if nothing has chosen it yet.

    The choice is ``TENSORWEAVE_BACKEND`` when set (strict: a backend that cannot start
    raises), else the highest-priority backend that starts.

    Returns:
        The backend's registered name (``"cpu"``, ``"numpy"``, ``"opencl"``, ``"cuda"``).

    Raises:
        BackendError: ``TENSORWEAVE_BACKEND`` names a backend that is unknown or cannot start.

    Example:

    >>> with tw.backend_scope("numpy"):
    ...     tw.get_backend()
    'numpy'
    """
    global _active
    if _active is None or _active not in _entries:
        _load_builtins()
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            _active = _start_strict(env, f"{ENV_VAR}={env}")
        else:
            _active = _select_best()
    return _active


def backend() -> Backend:
    """The active backend object (kernels and device information).

    Returns:
        The started ``backends.base.Backend`` of ``get_backend()``.
    """
    return _entries[get_backend()].instance  # type: ignore[return-value]


def find_backend(name: str) -> Backend | None:
    """The backend object named ``name``, started if needed.

    Args:
        name: The backend's name (any case).

    Returns:
        The ``backends.base.Backend``, or ``None`` if the name is unknown or it cannot start.
    """
    _load_builtins()
    canonical = _canonical(name)
    return None if canonical is None else _start(_entries[canonical])


def set_backend(name: str) -> bool:
    """Make ``name`` the active backend for later ops (TF.js ``setBackend``, synchronous).

    Args:
        name: The backend's name, any case (``"CPU"`` is ``"cpu"``).

    Returns:
        ``True`` (as TF.js; failures raise instead of returning ``False``).

    Raises:
        BackendError: The backend is unknown or cannot start; the message says why.
    """
    global _active
    _load_builtins()
    _active = _start_strict(name, "set_backend")
    return True


def list_backends() -> list[dict[str, Any]]:
    """Every registered backend, best first; starts each one to find out if it works.

    ``python -m engine`` prints this table.

    Returns:
        One dict per backend: ``name``, ``priority``, ``available`` (bool), ``reason`` (why
        it cannot start, else empty) and ``device`` (a description of the hardware).

    Example:

    >>> "numpy" in [row["name"] for row in tw.list_backends()]
    True
    """
    _load_builtins()
    rows = []
    for entry in _sorted_entries():
        instance = _start(entry)
        device = ""
        if instance is not None:
            try:
                device = instance.device_info()
            except Exception as exc:
                device = f"? ({exc})"
        rows.append(
            {
                "name": entry.name,
                "priority": entry.resolved_priority(),
                "available": instance is not None,
                "reason": entry.reason,
                "device": device,
            }
        )
    return rows


@contextlib.contextmanager
def backend_scope(name: str) -> Iterator[Backend]:
    """Run a ``with`` block on backend ``name``, then restore the previous choice.

    Args:
        name: The backend's name (any case).

    Yields:
        The started backend object.

    Raises:
        BackendError: The backend is unknown or cannot start.

    Example:

    >>> with tw.backend_scope("numpy"):
    ...     tw.tensor([1.0]).backend
    'numpy'
    """
    global _active
    previous = _active
    set_backend(name)
    try:
        yield _entries[_active].instance  # type: ignore[index]
    finally:
        _active = previous


def instance_of(name: str) -> Backend:
    """The started instance of a registered backend (for data movement)."""
    entry = _entries.get(name)
    if entry is None or entry.instance is None:
        raise BackendError(f"backend {name!r} holding this tensor is no longer available")
    return entry.instance


def reset_for_tests() -> None:
    """Forget the active choice (tests use this after changing the environment)."""
    global _active
    _active = None
