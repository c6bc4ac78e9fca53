"""The one dispatch point every op passes through.

``run`` picks the active backend, moves inputs that live elsewhere, calls the kernel, wraps the
result in a Tensor, and records the call on every active gradient tape (and trace) that
follows one of its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine import memory, registry
from engine.tensor import Tensor

# Active gradient tapes (engine.autodiff pushes/pops) and observers (tracing, profiling).
tapes: list = []
observers: list[Callable] = []


def run(
    name: str,
    inputs: Sequence[Tensor],
    attrs: dict[str, Any],
    shape: tuple[int, ...],
    dtype: str,
    invoke: Callable[..., Any],
) -> Tensor:
    """Run kernel ``name``: ``invoke(backend, *buffers)`` returns the output buffer."""
    name_be = registry.get_backend()
    be = registry.instance_of(name_be)
    bufs = [t.buffer_on(name_be) for t in inputs]
    buf = invoke(be, *bufs)
    out = Tensor(memory.Storage(buf, name_be, be.nbytes(buf)), shape, dtype)
    if tapes:
        for tape in tapes:
            tape.record(name, inputs, attrs, out)
    if observers:
        for obs in observers:
            obs(name, inputs, attrs, out)
    return out


def from_host(array, dtype: str) -> Tensor:
    """A tensor on the active backend holding a copy of ``array`` (already the right dtype)."""
    name_be = registry.get_backend()
    be = registry.instance_of(name_be)
    buf = be.from_numpy(array)
    return Tensor(memory.Storage(buf, name_be, be.nbytes(buf)), tuple(array.shape), dtype)
