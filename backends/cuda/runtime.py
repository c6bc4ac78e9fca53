"""CuPy runtime for the ``cuda`` backend: device probe and a per-device module cache.

Programs are compiled by NVRTC through ``cupy.RawModule`` once per (kernel source, device) and
cached process-wide (CuPy also keeps its own on-disk cache of the compiled binaries).
"""

from __future__ import annotations

from typing import Any

_modules: dict[tuple[str, int], Any] = {}
_functions: dict[tuple[str, int, str], Any] = {}
_builds = [0]


def import_cupy() -> Any:
    """CuPy with a usable device, or an error that says which part is missing."""
    try:
        import cupy
    except ImportError as exc:
        raise RuntimeError(
            f"the cuda backend needs CuPy (pip install cupy-cuda12x): {exc}"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, no device
        raise RuntimeError(f"CuPy cannot reach a CUDA device: {type(exc).__name__}: {exc}") from exc
    if count < 1:
        raise RuntimeError("CuPy found no CUDA device (getDeviceCount() == 0)")
    return cupy


def build_count() -> int:
    """Modules compiled so far in this process."""
    return _builds[0]


def function(cupy: Any, device_id: int, source: str, name: str) -> Any:
    """Kernel ``name`` of ``source`` compiled for ``device_id`` (compiled once, then cached)."""
    fn = _functions.get((source, device_id, name))
    if fn is not None:
        return fn
    module = _modules.get((source, device_id))
    if module is None:
        module = cupy.RawModule(code=source, options=("--std=c++14",))
        try:
            module.compile()
        except Exception as exc:
            raise RuntimeError(
                f"NVRTC failed on the CUDA source of kernel {name!r}: {exc}"
            ) from exc
        _builds[0] += 1
        _modules[(source, device_id)] = module
    fn = _functions[(source, device_id, name)] = module.get_function(name)
    return fn
