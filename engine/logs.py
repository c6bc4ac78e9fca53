"""The ``tensorweave`` logger: quiet by default, and every line names its source when shown.

Every tensorweave message goes to a child of the ``tensorweave`` logger (``tensorweave.registry``
for backend selection, ``tensorweave.trace`` for traces and programs). The library configures no
output of its own beyond this:

* when the application has configured logging (the root logger has a handler), records simply
  propagate to it and appear in the application's format;
* otherwise WARNING and above go to stderr as ``tensorweave.trace: WARNING: <message>``, in place
  of Python's bare last-resort line; INFO and DEBUG (which backend could not start, and why)
  stay silent.

``enable_logging(level)`` adds a stderr handler with that format at ``level`` (``python -m
engine --verbose`` uses it); ``logging.getLogger("tensorweave").setLevel(...)`` or the
application's own logging configuration work as for any library.
"""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "tensorweave"
FORMAT = "%(name)s: %(levelname)s: %(message)s"

logger = logging.getLogger(LOGGER_NAME)


class _FallbackHandler(logging.Handler):
    """WARNING+ to stderr with the logger's name, only while the application configured no
    logging of its own (then records propagate to the root's handlers instead)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers or any(
            not isinstance(h, _FallbackHandler) for h in logger.handlers
        ):
            return  # the application (or enable_logging) shows it
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # never let a log line break a computation
            self.handleError(record)


if not any(isinstance(h, _FallbackHandler) for h in logger.handlers):
    logger.addHandler(_FallbackHandler())


def enable_logging(level: int | str = logging.INFO) -> logging.Handler:
    """Show tensorweave's log lines at ``level`` and above on stderr, each prefixed with its
    logger name (``tensorweave.registry: DEBUG: ...``). Returns the handler (pass it to
    ``logging.getLogger("tensorweave").removeHandler`` to undo)."""
    if isinstance(level, str):
        name = level.upper()
        if not isinstance(logging.getLevelName(name), int):
            raise ValueError(
                f"unknown log level {level!r}; expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )
        level = logging.getLevelName(name)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return handler
