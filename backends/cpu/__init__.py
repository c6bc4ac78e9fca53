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
- ``native``: numpy's OpenBLAS from numba (``cblas``), thread and load control (``threads``),
  streaming stores (``stream``);
- ``steps``: the step compiler, passes over a traced step's launch records: ``program``,
  ``chunk`` (compiled loops over many steps) and ``arena`` (merged optimizer updates).

Environment: importing the package sets ``NUMBA_CACHE_DIR`` (unless set) so numba's kernel
cache, and the compile workers', lives under the tensorweave cache; nothing else. A
``CpuBackend`` sets libgomp's and OpenBLAS's idle spin when it starts, restoring ``os.environ``
at once (``native.threads.start``).
"""

from backends.cache import configure_numba_cache, harden_numba_cache

# numba's cache=True kernels go under the tensorweave cache, never into site-packages; this must
# run before numba is imported (backends.cpu.backend imports it)
configure_numba_cache()
harden_numba_cache()

from backends.cpu.backend import CpuBackend  # noqa: E402

__all__ = ["CpuBackend"]
