"""The ``cpu`` backend: multi-threaded numba kernels on numpy buffers (priority 2)."""

from backends.cache import configure_numba_cache, harden_numba_cache

# numba's cache=True kernels go under the tensorweave cache, never into site-packages; this must
# run before numba is imported (backends.cpu.backend imports it)
configure_numba_cache()
harden_numba_cache()

from backends.cpu.backend import CpuBackend  # noqa: E402

__all__ = ["CpuBackend"]
