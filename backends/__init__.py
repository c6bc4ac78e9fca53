"""Backend packages. Importing this package imports no concrete backend.

``register_builtin_backends`` registers lazy factories; each backend module is imported only
when its factory runs, so a missing CuPy or OpenCL driver costs nothing until it is chosen.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

# backends.base derives the elementwise contract from the engine's op table (engine/optable.py);
# importing the engine package first keeps ``import backends.base`` free of an import circle.
import engine as _engine  # noqa: F401


def _lazy(module: str, cls: str) -> Callable:
    def factory():
        return getattr(importlib.import_module(module), cls)()

    factory.__name__ = f"make_{cls}"
    return factory


def _opencl_priority() -> int:
    mod = importlib.import_module("backends.opencl.priority")
    return mod.priority()


# name -> (module, class, priority); priority may be a callable probed at selection.
BUILTIN = {
    "cuda": ("backends.cuda", "CudaBackend", 4),
    "opencl": ("backends.opencl", "OpenCLBackend", _opencl_priority),
    "cpu": ("backends.cpu", "CpuBackend", 2),
    "numpy": ("backends.numpy", "NumpyBackend", 1),
}


def register_builtin_backends(register: Callable) -> None:
    for name, (module, cls, priority) in BUILTIN.items():
        register(name, _lazy(module, cls), priority)
