"""The ``opencl`` backend: kernels rendered by ``backends.crender`` and run with PyOpenCL."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyopencl as cl

from backends.base import numpy_dtype
from backends.crender.backend import RenderedBackend
from backends.crender.dialect import OPENCL
from backends.opencl import runtime
from backends.opencl.devices import DeviceEntry, chosen
from backends.opencl.runtime import CLBuffer

_launch_lock = threading.Lock()


class OpenCLBackend(RenderedBackend):
    """Every primitive on one OpenCL device (chosen by ``backends.opencl.devices``)."""

    name = "opencl"
    dialect = OPENCL

    def __init__(self, entry: DeviceEntry | None = None) -> None:
        super().__init__()
        self.entry = entry or chosen(probe=True)
        self.device = self.entry.device
        self.context, self.queue, self.pool = runtime.device_state(self.device)
        fp64 = "cl_khr_fp64" in self.device.extensions or bool(self.device.double_fp_config)
        wg = min(256, self.device.max_work_group_size)
        self.group_size = 1 << (wg.bit_length() - 1)
        self.local_mem_bytes = self.device.local_mem_size
        self.max_alloc_bytes = int(self.device.max_mem_alloc_size)
        self.global_mem_bytes = int(self.device.global_mem_size)
        self.max_alloc_name = "CL_DEVICE_MAX_MEM_ALLOC_SIZE"
        self.capabilities = {
            "dtypes": ("float32", "int32", "bool") + (("float64",) if fp64 else ()),
            "float64": fp64,
            "max_work_group_size": self.device.max_work_group_size,
            # index checks run in a kernel (one 4-byte flag read, no copy of the indices),
            # so traced steps with gather stay traced
            "gather_checks_indices": True,
        }

    def device_info(self) -> str:
        d = self.device
        return (
            f"OpenCL {self.entry.platform} / {self.entry.name} ({self.entry.kind}, "
            f"{d.max_compute_units} compute units, {d.global_mem_size / 2**20:.0f} MiB, "
            f"float64 {'yes' if self.capabilities['float64'] else 'no'})"
        )

    # -- runtime hooks -------------------------------------------------------------------
    def _alloc(self, nbytes: int, dtype: str) -> CLBuffer:
        return CLBuffer(self.pool.allocate(nbytes) if nbytes else None, nbytes)

    def _kernel(self, source: str, name: str) -> cl.Kernel:
        return runtime.kernel(self.device, source, name)

    def _launch(self, kernel: cl.Kernel, groups: tuple, local: tuple, args: list) -> None:
        glob = tuple(g * n for g, n in zip(groups, local, strict=True))
        args = [a.mem if isinstance(a, CLBuffer) else a for a in args]
        # A cl.Kernel holds its arguments: setting them and enqueueing must not interleave
        # with another thread's launch of the same (cached, shared) kernel.
        with _launch_lock:
            kernel(self.queue, glob, local, *args)

    # -- host transfer -------------------------------------------------------------------
    def from_numpy(self, array: np.ndarray) -> CLBuffer:
        dtype = "bool" if array.dtype == np.bool_ else str(array.dtype)
        self._check_dtype(dtype)
        self._check_size(array.shape, dtype, array.nbytes)
        buf = self._alloc(array.nbytes, dtype)
        if array.nbytes:
            # A private copy: the write is asynchronous and the caller may reuse its array.
            host = np.array(array, copy=True, order="C")
            cl.enqueue_copy(self.queue, buf.mem, host, is_blocking=False)
        return buf

    def to_numpy(self, buf: CLBuffer, shape: tuple, dtype: str) -> np.ndarray:
        out = np.empty(shape, dtype=numpy_dtype(dtype))
        if out.nbytes:
            cl.enqueue_copy(self.queue, out, buf.mem, is_blocking=True)
        return out

    def nbytes(self, buf: Any) -> int:
        return int(buf.nbytes)

    def synchronize(self) -> None:
        self.queue.finish()
