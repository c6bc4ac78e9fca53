"""PyOpenCL runtime: one context and queue per device, pooled buffers, a program cache.

Programs are cached per (kernel source, device), process-wide, so a training loop builds
nothing after its first step; ``build_count()`` says how many builds ran (tests use it).
"""

from __future__ import annotations

from typing import Any

import pyopencl as cl
import pyopencl.tools as cl_tools

from backends.cache import opencl_cache_dir

_contexts: dict[int, tuple[cl.Context, cl.CommandQueue, cl_tools.MemoryPool]] = {}
_programs: dict[tuple[str, int], cl.Program] = {}
_kernels: dict[tuple[str, int, str], cl.Kernel] = {}
_builds = [0]


class CLBuffer:
    """A device allocation from the memory pool (``mem`` is None for zero bytes)."""

    __slots__ = ("mem", "nbytes")

    def __init__(self, mem: Any, nbytes: int) -> None:
        self.mem = mem
        self.nbytes = nbytes


def device_state(device: cl.Device) -> tuple[cl.Context, cl.CommandQueue, cl_tools.MemoryPool]:
    """The shared (context, queue, memory pool) of ``device``."""
    key = device.int_ptr
    if key not in _contexts:
        ctx = cl.Context([device])
        queue = cl.CommandQueue(ctx)
        _contexts[key] = (ctx, queue, cl_tools.MemoryPool(cl_tools.ImmediateAllocator(queue)))
    return _contexts[key]


def build_count() -> int:
    """Programs built so far in this process."""
    return _builds[0]


def kernel(device: cl.Device, source: str, name: str) -> cl.Kernel:
    """Kernel ``name`` of ``source`` built for ``device`` (built once, then cached)."""
    dev = device.int_ptr
    kern = _kernels.get((source, dev, name))
    if kern is not None:
        return kern
    prog = _programs.get((source, dev))
    if prog is None:
        ctx = device_state(device)[0]
        try:
            prog = cl.Program(ctx, source).build(cache_dir=opencl_cache_dir())
        except cl.RuntimeError as exc:
            raise RuntimeError(
                f"OpenCL build of kernel {name!r} failed on {device.name}: {exc}"
            ) from exc
        _builds[0] += 1
        _programs[(source, dev)] = prog
    kern = _kernels[(source, dev, name)] = cl.Kernel(prog, name)
    return kern
