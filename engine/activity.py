"""Say what the engine is doing when it is not computing: compiles and cache loads.

``working(what)`` wraps a piece of work that may take a while (a first-ever compile, loading a
compiled program from the cache). When it lasts longer than ``SHOW_AFTER`` seconds, every
listener (``listen``; ``layers.callbacks.ProgressBar`` during ``fit``) is told ``what`` from a
timer thread, so a progress bar can show it while the work still runs, and told ``None`` when it
ends; the ``tensorweave`` logger records what it was and how long it took (INFO). Work shorter
than that stays silent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

#: Seconds of work after which listeners hear about it and an INFO line is logged.
SHOW_AFTER = 1.0

_log = logging.getLogger("tensorweave.activity")
_listeners: list[Callable[[str | None], None]] = []
_lock = threading.Lock()


def listen(fn: Callable[[str | None], None]) -> Callable[[], None]:
    """Call ``fn(what)`` when long work starts and ``fn(None)`` when it ends; returns a function
    that removes ``fn``. ``fn`` may run on a timer thread and must not raise."""
    with _lock:
        _listeners.append(fn)

    def remove() -> None:
        with _lock:
            if fn in _listeners:
                _listeners.remove(fn)

    return remove


def _tell(what: str | None) -> None:
    with _lock:
        listeners = list(_listeners)
    for fn in listeners:
        try:
            fn(what)
        except Exception:  # a display problem never breaks the work
            _log.debug("activity listener %r failed", fn, exc_info=True)


@contextlib.contextmanager
def working(what: str) -> Iterator[None]:
    """Run the ``with`` body as ``what`` (for example ``"compiling the train step (first run on
    this machine)"``): listeners hear of it after ``SHOW_AFTER`` seconds, and when it took that
    long an INFO line says how long."""
    shown = threading.Event()

    def show() -> None:
        shown.set()
        _tell(what)

    timer = threading.Timer(SHOW_AFTER, show)
    timer.daemon = True
    start = time.perf_counter()
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()  # a show() already running finishes first, so None always follows it
        took = time.perf_counter() - start
        if shown.is_set():
            _tell(None)
        if took >= SHOW_AFTER:
            _log.info("%s took %.1f s", what, took)
