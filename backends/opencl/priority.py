"""Registry priority of the ``opencl`` backend, computed from the device it would use.

cuda is 4, cpu 2, numpy 1. With a GPU, OpenCL ranks 3: above the CPU backends, below CUDA.
With only a CPU (or accelerator) device it ranks 0, below numpy as well: a CPU OpenCL driver
(PoCL) compiles each new kernel in 0.1-1 s and rarely beats numba or numpy, so it should run
only when asked for (``TENSORWEAVE_BACKEND=opencl``). Ties would go to the first registered
backend, and opencl is registered before numpy, which is why CPU-only is 0 and not 1.
With no device at all it is -1 (the factory then fails with the reason).
"""

from __future__ import annotations

from backends.opencl.devices import DeviceEntry, chosen

GPU_PRIORITY = 3
CPU_PRIORITY = 0
NO_DEVICE_PRIORITY = -1


def priority(entries: list[DeviceEntry] | None = None) -> int:
    """3 when the chosen device is a GPU, 0 for any other device, -1 with none."""
    try:
        entry = chosen(entries)
    except RuntimeError:
        return NO_DEVICE_PRIORITY
    return GPU_PRIORITY if entry.kind == "gpu" else CPU_PRIORITY
