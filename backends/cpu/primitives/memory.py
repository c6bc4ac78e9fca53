"""Buffers in and out of the ``cpu`` backend: ``from_numpy``, ``to_numpy``, ``fill``.

A buffer is a C-contiguous numpy array. The host transfers tell the scheduler so
(``Scheduler.host_transfer``): a trace program runs them live every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.base import numpy_dtype
from backends.cpu.primitives.common import PrimitiveBase, fill_into


class MemoryPrimitives(PrimitiveBase):
    """Host transfers and constant fills."""

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        self.scheduler.host_transfer()
        return np.array(array, copy=True, order="C")

    def to_numpy(self, buf: np.ndarray, shape: tuple, dtype: str) -> np.ndarray:
        self.scheduler.host_transfer()
        return np.array(buf, copy=True).reshape(shape)

    def fill(self, shape: tuple, value: Any, dtype: str) -> np.ndarray:
        out = self._empty(shape, numpy_dtype(dtype))
        self._launch(fill_into, out, value)
        return out
