"""What every family of ``cpu`` primitives shares: dtype constants, task sizes and
``PrimitiveBase``, the attributes a primitive may use on ``self``.

A primitive checks its arguments, allocates its outputs with ``self._empty`` and describes its
work as launch records (``backends.cpu.launch.Launch``) handed to the backend's scheduler:
``self._submit(launch)`` for one record, ``self._run(n, key, serial, parallel)`` for work with
a serial and a parallel variant (the scheduler alone picks and times one), ``self._launch(fn,
*args)`` for a numpy helper. ``CpuBackend.__init__`` binds ``_submit``, ``_run`` and ``_empty``
to its scheduler's methods (instance attributes: one dict lookup on the eager path).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np

from backends.cpu.launch import Launch

#: Launch records are built on every eager call: the short name keeps primitives readable.
L = Launch

#: Integer dtype of each element width: data movement runs on these views, so float32 and
#: int32 (bool and uint8, float64 and int64) share one compiled kernel.
RAW = {1: np.dtype(np.uint8), 4: np.dtype(np.int32), 8: np.dtype(np.int64)}
F32 = np.dtype(np.float32)
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
INT32 = np.dtype(np.int32)
BOOL = np.dtype(np.bool_)

#: Smallest piece of work one parallel task gets (elements).
MIN_BLOCK = 1 << 14


def prod(xs: Sequence[int]) -> int:
    """The product of ``xs`` (1 for none)."""
    return math.prod(xs)


@functools.lru_cache(maxsize=16)
def scalars(dt: np.dtype) -> tuple:
    """(zero, one) as scalars of ``dt``: kernels then compute in that dtype."""
    return dt.type(0), dt.type(1)


def elements_per_task(total: int) -> int:
    """Elements per parallel task of a flat kernel: about 4 tasks per thread, each at least
    ``MIN_BLOCK``."""
    tasks = 4 * numba.get_num_threads()
    return max(MIN_BLOCK, -(-total // tasks))


def rows_per_task(rows: int, row_len: int) -> int:
    """Rows per parallel task: about 4 tasks per thread, each at least MIN_BLOCK elements."""
    tasks = 4 * numba.get_num_threads()
    by_count = -(-rows // tasks)
    by_size = -(-MIN_BLOCK // max(row_len, 1))
    return max(1, by_count, by_size)


def fill_into(out: np.ndarray, value: Any) -> None:
    """Set every element of ``out`` to ``value`` (a launch; compiled chunks inline it)."""
    out.fill(value)


class PrimitiveBase:
    """The backend state a primitive family uses; ``CpuBackend`` provides it."""

    #: Runs every launch (``backends.cpu.schedule.Scheduler``).
    scheduler: Any
    #: ``scheduler.submit``: run one launch record (or a tuple of them).
    _submit: Callable[[Launch], None]
    #: ``scheduler.run``: the serial or parallel variant of one piece of work.
    _run: Callable[..., None]
    #: ``scheduler.empty``: an output buffer (a trace program's, while one is recorded).
    _empty: Callable[[Any, Any], np.ndarray]
    #: Element count from which kernels may run multi-threaded.
    parallel_threshold: int

    def _launch(self, fn: Any, *args: Any) -> None:
        """Submit ``Launch(fn, args)``: numpy/numba work whose effect depends only on the
        contents of its array arguments (a trace program replays exactly these launches)."""
        self.scheduler.submit(Launch(fn, args))

    _block = staticmethod(elements_per_task)
    _rows_per_task = staticmethod(rows_per_task)
