"""The one dispatch point every op passes through.

``run`` picks the active backend, moves inputs that live elsewhere, calls the kernel, wraps the
result in a Tensor, and records the call on every active gradient tape (and trace) that
follows one of its inputs. ``run_multi`` does the same for kernels with several outputs
(fused optimizer updates); ``recorders`` are the active ``engine.trace`` captures.

``tapes``, ``observers`` and ``recorders`` are per thread (``engine.memory.ThreadStack``):
a tape, observer or trace capture sees only the ops of the thread that installed it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine import memory, registry
from engine.tensor import Tensor, recorders

# Active gradient tapes (engine.autodiff pushes/pops) and observers (tracing, profiling), per
# thread. The hot paths read ``.items``, the calling thread's list.
tapes = memory.ThreadStack(memory.HOOKS)
observers = memory.ThreadStack(memory.HOOKS)
_HOOKS = memory.HOOKS  # non-empty while any thread has a tape, observer or recorder
__all__ = ["from_host", "observers", "recorders", "run", "run_multi", "tapes"]


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
    if _HOOKS:
        for tape in tapes.items:
            tape.record(name, inputs, attrs, out)
        for obs in observers.items:
            obs(name, inputs, attrs, out)
        recs = recorders.items
        if recs:
            recs[-1].op(name, inputs, invoke, (out,), False, attrs)
    return out


def run_multi(
    name: str,
    inputs: Sequence[Tensor],
    attrs: dict[str, Any],
    outputs: Sequence[tuple[tuple[int, ...], str]],
    invoke: Callable[..., Sequence[Any]],
) -> list[Tensor]:
    """Run kernel ``name`` with several outputs: ``invoke(backend, *buffers)`` returns one
    buffer per ``(shape, dtype)`` of ``outputs``. Not recorded on gradient tapes."""
    name_be = registry.get_backend()
    be = registry.instance_of(name_be)
    bufs = [t.buffer_on(name_be) for t in inputs]
    res = invoke(be, *bufs)
    outs = [
        Tensor(memory.Storage(b, name_be, be.nbytes(b)), shape, dtype)
        for b, (shape, dtype) in zip(res, outputs, strict=True)
    ]
    if _HOOKS:
        for obs in observers.items:
            for out in outs:
                obs(name, inputs, attrs, out)
        recs = recorders.items
        if recs:
            recs[-1].op(name, inputs, invoke, outs, True, attrs)
    return outs


def from_host(array, dtype: str) -> Tensor:
    """A tensor on the active backend holding a copy of ``array`` (already the right dtype)."""
    name_be = registry.get_backend()
    be = registry.instance_of(name_be)
    buf = be.from_numpy(array)
    out = Tensor(memory.Storage(buf, name_be, be.nbytes(buf)), tuple(array.shape), dtype)
    if _HOOKS:
        recs = recorders.items
        if recs:
            recs[-1].upload(out)
    return out
