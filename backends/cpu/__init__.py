"""The ``cpu`` backend: multi-threaded numba kernels on numpy buffers (priority 2).

The package, by concern:

- ``backend``: ``CpuBackend``: start-up, capability flags, registry glue;
- ``primitives``: the primitives, one module per concern (``memory``, ``elementwise``,
  ``reduce``, ``matmul``, ``layout``, ``gather_scatter``, ``nn``, ``optim``), mixins of
  ``CpuBackend``. Each checks its arguments, allocates its outputs and describes its work as
  launch records (``launch``);
- ``schedule``: runs launch records, choosing and timing the serial or parallel variant, and
  collects a traced op's launches for the step compiler;
- ``kernels``, ``conv``, ``fusion``, ``tiers``: the numba kernels, generated fused kernels and
  their numpy twins while a worker compiles them;
- ``native``: OpenBLAS from numba (``cblas``: a private copy with kernels picked for the CPU,
  or numpy's), thread and load control (``threads``),
  streaming stores (``stream``);
- ``steps``: the step compiler, passes over a traced step's launch records: ``program``,
  ``chunk`` (compiled loops over many steps) and ``arena`` (merged optimizer updates).

Environment: importing the package changes no environment variable and no numba setting. It
sends numba's machine code for tensorweave's own kernels to ``<cache root>/numba`` unless
``NUMBA_CACHE_DIR`` is set (``backends.cache.install_numba_cache``: a cache locator for the
package's files only; numba fixes a function's cache folder when the function is defined, so this
runs at import, before any kernel module), and the compile workers get the folder in their
environment (``backends.cache.child_env``). A ``CpuBackend`` sets libgomp's and OpenBLAS's idle
spin when it starts, restoring ``os.environ`` at once (``native.threads.start``).
"""

from backends.cache import harden_numba_cache, install_numba_cache

# numba's cache=True kernels of this package go under the tensorweave cache, never into
# site-packages; this must run before a kernel module is imported (backends.cpu.backend imports
# them)
install_numba_cache()
harden_numba_cache()

from backends.cpu.backend import CpuBackend  # noqa: E402

__all__ = ["CpuBackend"]
