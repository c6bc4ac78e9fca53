"""The ``cuda`` backend: kernels rendered by ``backends.crender`` run as CuPy RawModules;
matmul goes to cuBLAS through ``cupy.matmul``. Buffers are flat CuPy arrays from CuPy's memory
pool; nothing is read back to the host except by ``to_numpy``."""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.base import numpy_dtype
from backends.crender.backend import RenderedBackend
from backends.crender.dialect import CUDA
from backends.cuda import runtime


class CudaBackend(RenderedBackend):
    """Every primitive on the current CUDA device; the factory raises when none is usable."""

    name = "cuda"
    dialect = CUDA

    def __init__(self) -> None:
        super().__init__()
        self.cp = runtime.import_cupy()
        self.device_id = self.cp.cuda.runtime.getDevice()
        props = self.cp.cuda.runtime.getDeviceProperties(self.device_id)
        self.props = props
        self.pool = self.cp.get_default_memory_pool()
        # Every allocation, copy and launch goes on this stream: a non-blocking stream keeps
        # host-to-device uploads from waiting on the legacy default stream (a host sync).
        self.stream = self.cp.cuda.Stream(non_blocking=True)
        self.group_size = min(256, int(props["maxThreadsPerBlock"]))
        self.local_mem_bytes = int(props["sharedMemPerBlock"])
        self.global_mem_bytes = int(props["totalGlobalMem"])
        self.capabilities = {
            "dtypes": ("float32", "int32", "bool", "float64"),
            "float64": True,
            "max_work_group_size": int(props["maxThreadsPerBlock"]),
            # index checks run in a kernel (one 4-byte flag read, no copy of the indices)
            "gather_checks_indices": True,
        }
        # Prove the toolchain works now (NVRTC, driver, launch) rather than on the first op.
        probe = self.to_numpy(self.fill((4,), 3, "int32"), (4,), "int32")
        if probe.tolist() != [3, 3, 3, 3]:
            raise RuntimeError(f"CUDA device {self.device_info()} computed a wrong probe result")

    def device_info(self) -> str:
        p = self.props
        name = p["name"].decode() if isinstance(p["name"], bytes) else str(p["name"])
        return (
            f"CUDA device {self.device_id}: {name} (sm_{p['major']}{p['minor']}, "
            f"{p['multiProcessorCount']} SMs, {p['totalGlobalMem'] / 2**20:.0f} MiB, "
            f"CuPy {self.cp.__version__})"
        )

    # -- runtime hooks -------------------------------------------------------------------
    def _alloc(self, nbytes: int, dtype: str) -> Any:
        nd = numpy_dtype(dtype)
        with self.stream:
            return self.cp.empty(nbytes // nd.itemsize, dtype=nd)

    def _kernel(self, source: str, name: str) -> Any:
        return runtime.function(self.cp, self.device_id, source, name)

    def _launch(self, kernel: Any, groups: tuple, local: tuple, args: list) -> None:
        with self.stream:
            kernel(groups, local, tuple(args))

    # -- host transfer -------------------------------------------------------------------
    def from_numpy(self, array: np.ndarray) -> Any:
        dtype = "bool" if array.dtype == np.bool_ else str(array.dtype)
        self._check_dtype(dtype)
        self._check_size(array.shape, dtype, array.nbytes)
        out = self._alloc(array.nbytes, dtype)
        if array.size:
            out.set(np.ascontiguousarray(array).reshape(-1), stream=self.stream)
        return out

    def to_numpy(self, buf: Any, shape: tuple, dtype: str) -> np.ndarray:
        return self.cp.asnumpy(buf, stream=self.stream).reshape(shape)

    def nbytes(self, buf: Any) -> int:
        return int(buf.nbytes)

    def synchronize(self) -> None:
        self.stream.synchronize()

    # -- cuBLAS matmul -------------------------------------------------------------------
    def matmul(
        self,
        a: Any,
        a_shape: tuple,
        b: Any,
        b_shape: tuple,
        dtype: str,
        transpose_a: bool,
        transpose_b: bool,
    ) -> Any:
        self._check_dtype(dtype)
        x, y = a.reshape(a_shape), b.reshape(b_shape)
        if transpose_a:
            x = x.transpose(0, 2, 1)
        if transpose_b:
            y = y.transpose(0, 2, 1)
        with self.stream:
            return self.cp.ascontiguousarray(self.cp.matmul(x, y)).reshape(-1)
