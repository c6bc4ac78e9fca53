"""The ``cpu`` backend: multi-threaded numba kernels on numpy buffers (priority 2)."""

from backends.cpu.backend import CpuBackend

__all__ = ["CpuBackend"]
