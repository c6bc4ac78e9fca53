"""The ``cpu`` backend's step compiler: passes over a traced step's launch records.

- ``program``: a trace step recorded as typed steps over launch records and replayed without
  the backend's Python methods (planned buffers, per-run views, pooled outputs);
- ``chunk``: a program's steps rendered as one numba loop over many training steps, with the
  cost model deciding when compiling pays off and a worker process compiling beside training;
- ``arena``: an optimizer's per-variable updates merged into one in-place launch inside a chunk.

``record(backend, arg_bufs, var_bufs)`` starts recording one replay (``engine.trace`` drives
it through ``CpuBackend.trace_recorder``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backends.cpu.steps import chunk
from backends.cpu.steps.program import GiveUp, Program, Recorder

__all__ = ["GiveUp", "Program", "Recorder", "record"]


def record(backend: Any, arg_bufs: Sequence[Any], var_bufs: Sequence[Any]) -> Recorder:
    """A recorder for one replay on ``backend`` whose program compiles chunks when the cost
    model says so (``chunk.chunk_for``)."""
    return Recorder(backend, arg_bufs, var_bufs, chunker=chunk.chunk_for)
