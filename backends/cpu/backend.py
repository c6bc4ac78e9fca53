"""The ``cpu`` backend: numba kernels on C-contiguous numpy buffers.

``CpuBackend`` is its start-up, capability flags and registry glue; the primitives live in
``backends.cpu.primitives``, one module per concern, composed here as mixins:

- ``memory``: ``from_numpy``, ``to_numpy``, ``fill``;
- ``elementwise``: ``unary``, ``binary``, ``where``, ``cast``, ``fused_elementwise``;
- ``reduce``: ``reduce``, ``arg_reduce``, ``cumsum``;
- ``matmul``: ``matmul``, ``fused_matmul``;
- ``layout``: ``transpose``, ``reshape``, ``slice``, ``concat``, ``pad``;
- ``gather_scatter``: ``gather``, ``scatter_add``, ``ravel_indices``, ``one_hot``;
- ``nn``: ``softmax``, ``log_softmax``, ``categorical_crossentropy(_grad)``, ``conv2d``,
  ``fused_conv2d``, ``conv2d_backprop_filter``, ``max_pool``, ``max_pool_grad``;
- ``optim``: the fused optimizer updates (``sgd_update`` ... ``ftrl_update``).

Each primitive checks its arguments, allocates its outputs (``_empty``) and then describes its
work as launch records (``backends.cpu.launch.Launch``: kernel, positional arguments, the
positions of the sizes, host scalars). It hands them to the backend's scheduler
(``backends.cpu.schedule``): ``self._submit(launch)`` for one record, ``self._run(n, key,
serial, parallel)`` for work with a serial and a parallel variant, where the scheduler alone
decides which runs and times it. Trace programs are built from the records the scheduler ran
(``backends.cpu.steps``), so a primitive never knows whether it is being recorded.

Elementwise ops, where, reductions, arg-reductions, cumsum, gather/scatter_add, int32 matmul
and the fused softmax/log_softmax run as numba kernels (``backends.cpu.kernels``), serial below
``parallel_threshold`` elements and split over threads with ``prange`` above it. Float matmul
goes to BLAS through numpy's matmul. Pure data movement where numpy is already a single
allocation-free pass (transpose copy, reshape, slice, concat, pad, cast, fill, one_hot) uses
numpy directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numba

from backends.base import PRIMITIVES, Backend
from backends.cpu import kernels as K
from backends.cpu import steps, tiers
from backends.cpu.native import cblas
from backends.cpu.native import threads as T
from backends.cpu.primitives.elementwise import ElementwisePrimitives
from backends.cpu.primitives.gather_scatter import GatherScatterPrimitives
from backends.cpu.primitives.layout import LayoutPrimitives
from backends.cpu.primitives.matmul import MatmulPrimitives
from backends.cpu.primitives.memory import MemoryPrimitives
from backends.cpu.primitives.nn import CONV_DIRECT_MAX, NNPrimitives
from backends.cpu.primitives.optim import OptimizerUpdates
from backends.cpu.primitives.reduce import ReducePrimitives
from backends.cpu.schedule import PARALLEL_THRESHOLD, Scheduler

# Kernels not compiled yet run on numpy while a worker process compiles them (tiers.py).
tiers.install(K)


class CpuBackend(
    MemoryPrimitives,
    ElementwisePrimitives,
    ReducePrimitives,
    MatmulPrimitives,
    LayoutPrimitives,
    GatherScatterPrimitives,
    NNPrimitives,
    OptimizerUpdates,
    Backend,
):
    """Multi-threaded CPU kernels compiled with numba (lazily, per dtype, cached on disk).

    The primitives come from the mixins of ``backends.cpu.primitives`` (listed before
    ``Backend``, whose stubs raise for a primitive nobody implements)."""

    name = "cpu"
    fused: ClassVar[frozenset[str]] = frozenset(
        {
            "softmax",
            "log_softmax",
            "fused_matmul",
            "categorical_crossentropy",
            "categorical_crossentropy_grad",
            "conv2d",
            "fused_conv2d",
            "conv2d_backprop_filter",
            "max_pool",
            "max_pool_grad",
            "fused_elementwise",
            *K.OPT_UPDATES,
        }
    )
    #: Kernel methods a trace program replays from their launch records (backends/cpu/steps/
    #: program.py): every one but the host transfers, which say so to the scheduler
    #: (``Scheduler.host_transfer``; such an op runs live in programs). Each allocates its
    #: outputs with ``_empty``, computes only through launch records submitted to
    #: ``self.scheduler`` and never reads buffer contents on the host.
    recordable: ClassVar[frozenset[str]] = (
        frozenset(PRIMITIVES) - {"from_numpy", "to_numpy"}
    ) | fused
    capabilities: ClassVar[dict[str, Any]] = {
        "dtypes": ("float32", "int32", "bool", "float64"),
        "float64": True,
        "gather_checks_indices": True,
    }

    def __init__(self, parallel_threshold: int = PARALLEL_THRESHOLD, adaptive: bool = True) -> None:
        # process-wide thread settings, once (libgomp's and OpenBLAS's idle spin; os.environ
        # is restored: backends.cpu.native.threads.start)
        T.start()
        # the OpenBLAS the GEMMs call, chosen now: a bad TENSORWEAVE_BLAS, or a private copy
        # asked for and unusable, makes the backend unavailable with the reason (cblas.py)
        cblas.get_gemm()
        #: Runs every launch: the serial/parallel choice, its timing, and the collection of a
        #: traced step's launches (``backends.cpu.schedule``).
        self.scheduler = Scheduler(parallel_threshold, adaptive)
        self._submit = self.scheduler.submit
        self._run = self.scheduler.run
        self._empty = self.scheduler.empty

    @property
    def parallel_threshold(self) -> int:
        """Element count from which kernels may run multi-threaded (0: always, huge: never)."""
        return self.scheduler.parallel_threshold

    @parallel_threshold.setter
    def parallel_threshold(self, value: int) -> None:
        self.scheduler.parallel_threshold = int(value)

    @property
    def adaptive(self) -> bool:
        """Above the threshold, pick serial or parallel per kernel family by measured speed
        (False: always parallel above the threshold). On a shared 2-core machine a busy core
        makes a 2-thread kernel wait for a time slice, 2x slower than serial; the chooser then
        stays serial until a periodic probe finds parallel faster again."""
        return self.scheduler.adaptive

    @adaptive.setter
    def adaptive(self, value: bool) -> None:
        self.scheduler.adaptive = bool(value)

    def device_info(self) -> str:
        return (
            f"host CPU via numba {numba.__version__} ({numba.get_num_threads()} threads); "
            f"GEMMs: {cblas.describe()}"
        )

    def prefers(self, kernel: str, **shapes: Any) -> bool:
        """The direct conv kernels below ``CONV_DIRECT_MAX`` input x output channels; im2col +
        BLAS (the engine's composite) above, where it measures faster."""
        if kernel in ("conv2d", "fused_conv2d") and "f_shape" in shapes:
            _, _, c, o = shapes["f_shape"]
            return self.has(kernel) and c * o < CONV_DIRECT_MAX
        return self.has(kernel)

    # --- trace programs (backends/cpu/steps/) ---------------------------------------------
    def trace_recorder(self, arg_bufs: Sequence[Any], var_bufs: Sequence[Any]) -> Any:
        """Start recording a trace program (engine.trace calls this for one replay)."""
        return steps.record(self, arg_bufs, var_bufs)
