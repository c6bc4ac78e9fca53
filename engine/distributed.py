"""Collectives for data-parallel training across processes and machines, on MPI (mpi4py).

The engine side of issue 22: start from the MPI environment (``mpiexec``/``mpirun`` set it
up), know this process's ``rank`` and the world ``size``, and average gradients with
``allreduce``. Nothing here is a transport of our own: every collective is an MPI call made
through mpi4py's buffer interface (the uppercase ``Allreduce``/``Bcast`` on numpy arrays).
``layers.distributed.DataParallel`` builds the training loop on top of it.

mpi4py is optional (``pip install -e '.[distributed]'`` brings it and MPICH's runtime); this
module imports it only when ``init()`` (or a collective) is first called, so importing
``engine`` never needs it. ``available()`` says whether it can be used.

Gradients are packed into a few large buffers (buckets, 25 MiB by default, as PyTorch DDP):
each bucket is one flat float32 numpy array and one ``Allreduce`` call, rather than one call
per variable. ``bucket_plan`` shows how arrays are grouped.

Failures never hang the job:

- an uncaught exception on any rank prints ``tensorweave.distributed: rank R of N failed ...``
  and calls ``MPI_Abort``, which ends every rank with a non-zero status (``init`` installs
  this ``sys.excepthook``; ``abort_on_error=False`` leaves the hook alone);
- a rank killed by a signal: MPICH's ``mpiexec`` (hydra) ends the others and reports the
  PID and signal (``describe()`` maps PIDs to ranks);
- a rank that stops taking part (hung, or a lost peer the launcher does not notice): every
  collective here is non-blocking (``Iallreduce``/``Ibcast``) and polled with a timeout
  (``TENSORWEAVE_DIST_TIMEOUT`` seconds, default 300, or ``init(timeout=...)``); when it
  expires the waiting rank aborts the job naming itself and the collective.

Transports (``gradient_transport``): gradients go through host memory and MPI
(``MPITransport``) on every backend, except on ``cuda`` with one GPU per rank, where they are
reduced device to device with NCCL (``cupy.cuda.nccl``, ``NCCLTransport``). The rule is
``choose_transport``: NCCL when the backend is ``cuda``, there is more than one rank, every
rank can load NCCL and no two ranks share a GPU (call ``use_local_gpu()`` before the first
cuda op so rank ``r`` of a host takes GPU ``local_rank() % count``);
``TENSORWEAVE_DIST_TRANSPORT=mpi`` forces MPI, ``=nccl`` insists on NCCL (an error naming the
missing condition otherwise). The NCCL path has never run on a GPU in this project's tests
(none was available): its packing is the same code as MPI's, tested with a fake communicator.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_BUCKET_BYTES",
    "MPITransport",
    "NCCLTransport",
    "abort",
    "allreduce",
    "allreduce_arrays",
    "available",
    "barrier",
    "broadcast",
    "broadcast_object",
    "broadcast_object_all",
    "bucket_plan",
    "choose_transport",
    "describe",
    "gradient_transport",
    "init",
    "is_initialized",
    "local_rank",
    "rank",
    "reduce_buckets",
    "ring_allreduce_seconds",
    "shard_bounds",
    "size",
    "use_local_gpu",
]

#: Bucket size of ``allreduce_arrays`` (bytes): 25 MiB, PyTorch DDP's default.
DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024
#: seconds an aborting rank waits after printing why, so the launcher can forward the output
ABORT_GRACE_S = 0.3

#: ``_wait``: polls before sleeping, and the sleep between later polls (seconds).
_HOT_POLLS = 200
_POLL_SLEEP = 5e-5

_state: dict[str, Any] = {"comm": None, "timeout": None, "hook": None, "local_rank": None}
_lock = threading.Lock()


def available() -> bool:
    """Whether mpi4py (and with it an MPI library) can be imported.

    Returns:
        True when ``init()`` can work; False without the ``distributed`` extra.

    Example:

    >>> from engine import distributed
    >>> isinstance(distributed.available(), bool)
    True
    """
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "engine.distributed needs mpi4py and an MPI runtime: pip install -e '.[distributed]' "
            f"(or pip install mpi4py mpich); import failed: {exc}"
        ) from exc
    return MPI


def _env_timeout() -> float:
    raw = os.environ.get("TENSORWEAVE_DIST_TIMEOUT", "300")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"TENSORWEAVE_DIST_TIMEOUT={raw!r} is not a number of seconds (expected e.g. 300)"
        ) from None
    if not value > 0:
        raise ValueError(f"TENSORWEAVE_DIST_TIMEOUT={raw!r} must be a positive number of seconds")
    return value


def init(comm: Any = None, timeout: float | None = None, abort_on_error: bool = True) -> Any:
    """Start from the MPI environment (Horovod's ``hvd.init()``); safe to call again.

    Run the script under ``mpiexec -n N python script.py``; run plainly it is one rank of a
    world of size 1 (MPI's singleton start), so the same script works either way.

    Args:
        comm: An mpi4py communicator to use instead of ``MPI.COMM_WORLD``.
        timeout: Seconds a collective may wait for the other ranks before the job is
            aborted (a hung or lost peer); default ``$TENSORWEAVE_DIST_TIMEOUT`` or 300.
        abort_on_error: Install a ``sys.excepthook`` that prints which rank failed and calls
            ``MPI_Abort``, so an exception on one rank ends every rank instead of leaving
            them waiting in a collective.

    Returns:
        The mpi4py communicator in use.

    Raises:
        ImportError: mpi4py is not installed (the message says how to install it).
        ValueError: ``timeout`` is not a positive number.

    Example:

    >>> from engine import distributed
    >>> if distributed.available():
    ...     _ = distributed.init()
    ...     assert 0 <= distributed.rank() < distributed.size()
    """
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"init: timeout must be a positive number of seconds, got {timeout!r}")
    else:
        timeout = _env_timeout()
    MPI = _mpi()
    with _lock:
        if comm is None:
            comm = _state["comm"] if _state["comm"] is not None else MPI.COMM_WORLD
        comm.Set_errhandler(MPI.ERRORS_RETURN)  # errors raise in Python, then abort (below)
        _state["comm"] = comm
        _state["timeout"] = float(timeout)
        if abort_on_error and _state["hook"] is None:
            previous = sys.excepthook

            def hook(kind: type, exc: BaseException, tb: Any) -> None:
                # the one-line reason first: the launcher may drop output still in flight
                # when the job is torn down, and the traceback is the part that can go
                _announce(f"{kind.__name__}: {exc}")
                try:
                    previous(kind, exc, tb)
                finally:
                    abort(f"{kind.__name__}: {exc}", announced=True)

            _state["hook"] = hook
            sys.excepthook = hook
    return comm


def is_initialized() -> bool:
    """Whether ``init()`` has run in this process.

    Returns:
        True after ``init()``.
    """
    return _state["comm"] is not None


def _comm() -> Any:
    if _state["comm"] is None:
        init()
    return _state["comm"]


def rank() -> int:
    """This process's rank, 0 to ``size() - 1`` (initialises from the environment if needed).

    Returns:
        The rank in the communicator (0 is the root: it logs, saves and broadcasts).

    Example:

    >>> from engine import distributed
    >>> if distributed.available():
    ...     assert distributed.rank() >= 0
    """
    return int(_comm().Get_rank())


def size() -> int:
    """The number of ranks (processes) in the job.

    Returns:
        The world size (1 when run without ``mpiexec``).

    Example:

    >>> from engine import distributed
    >>> if distributed.available():
    ...     assert distributed.size() >= 1
    """
    return int(_comm().Get_size())


def local_rank() -> int:
    """This process's rank among the ranks on its machine (to pick a GPU per process).

    Returns:
        0 to (ranks on this host) - 1.
    """
    if _state["local_rank"] is None:
        MPI = _mpi()
        node = _comm().Split_type(MPI.COMM_TYPE_SHARED)
        _state["local_rank"] = int(node.Get_rank())
        node.Free()
    return _state["local_rank"]


def describe() -> list[str]:
    """One line per rank: rank, host and PID (a collective: every rank must call it).

    MPICH's ``mpiexec`` reports a killed process by PID and host; this maps them to ranks.

    Returns:
        ``["rank 0: host vm, pid 1234", ...]`` on every rank.
    """
    mine = (rank(), socket.gethostname(), os.getpid())
    return [f"rank {r}: host {h}, pid {p}" for r, h, p in broadcast_object_all(mine)]


def broadcast_object_all(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (pickled ``allgather``), in rank order.

    Args:
        obj: A picklable value.

    Returns:
        The list of every rank's value.
    """
    return list(_comm().allgather(obj))


def _announce(reason: str) -> None:
    """Print ``tensorweave.distributed: rank R of N failed: <reason>`` on stderr, flushed."""
    comm = _state["comm"]
    who = f"rank {comm.Get_rank()} of {comm.Get_size()}" if comm is not None else "a rank"
    sys.stderr.write(f"tensorweave.distributed: {who} failed: {reason}; aborting every rank\n")
    sys.stderr.flush()


def abort(reason: str, code: int = 1, announced: bool = False) -> None:
    """End every rank of the job now (``MPI_Abort``) after printing why on stderr.

    Args:
        reason: What went wrong; the line printed names this rank and the world size.
        code: The exit status the launcher reports.
        announced: The reason line was already printed (by the exception hook).
    """
    if not announced:
        _announce(reason)
    sys.stdout.flush()
    sys.stderr.flush()
    comm = _state["comm"]
    if comm is None:
        os._exit(code)
    time.sleep(ABORT_GRACE_S)  # let the launcher forward what this rank printed
    comm.Abort(code)


def _wait(req: Any, what: str) -> None:
    """Poll ``req`` until it completes; abort the job after the collective timeout."""
    timeout = _state["timeout"] or _env_timeout()
    deadline = time.monotonic() + timeout
    spins = 0
    while not req.Test():
        if time.monotonic() > deadline:
            abort(
                f"{what} did not complete within {timeout:g} s (TENSORWEAVE_DIST_TIMEOUT): "
                "another rank is hung or gone"
            )
        # poll hot for a short while (a collective usually completes within microseconds once
        # every rank is in it), then yield the core in short sleeps to the ranks still computing
        spins += 1
        if spins > _HOT_POLLS:
            time.sleep(_POLL_SLEEP)


def barrier() -> None:
    """Wait until every rank gets here (with the collective timeout).

    Example:

    >>> from engine import distributed
    >>> if distributed.available():
    ...     distributed.barrier()
    """
    _wait(_comm().Ibarrier(), "barrier")


def allreduce(array: np.ndarray, op: str = "sum") -> np.ndarray:
    """Combine ``array`` over every rank, in place (one MPI ``Iallreduce``, then polled).

    Args:
        array: A C-contiguous numpy array (any MPI-mapped dtype); every rank passes the
            same shape and dtype.
        op: ``"sum"``, ``"max"`` or ``"min"``.

    Returns:
        ``array``, now holding the combined values (identical on every rank).

    Raises:
        ValueError: ``op`` is not one of those, or ``array`` is not a C-contiguous ndarray.

    Example:

    >>> import numpy as np
    >>> from engine import distributed
    >>> if distributed.available():
    ...     total = distributed.allreduce(np.ones(3, np.float32))
    ...     assert float(total[0]) == distributed.size()
    """
    MPI = _mpi()
    ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise ValueError(f"allreduce: op must be one of {sorted(ops)}, got {op!r}")
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise ValueError(
            f"allreduce: expected a C-contiguous numpy array, got {type(array).__name__}"
        )
    if array.size:
        _wait(_comm().Iallreduce(MPI.IN_PLACE, array, op=ops[op]), f"allreduce({op})")
    return array


def broadcast(array: np.ndarray, root: int = 0) -> np.ndarray:
    """Copy rank ``root``'s ``array`` into every rank's ``array``, in place (MPI ``Ibcast``).

    Args:
        array: A C-contiguous numpy array of the same shape and dtype on every rank.
        root: The rank whose values win.

    Returns:
        ``array``, holding the root's values.

    Raises:
        ValueError: ``array`` is not a C-contiguous ndarray.
    """
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise ValueError(
            f"broadcast: expected a C-contiguous numpy array, got {type(array).__name__}"
        )
    if array.size:
        _wait(_comm().Ibcast(array, root=root), "broadcast")
    return array


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """Rank ``root``'s ``obj`` on every rank (pickled; for small values such as a seed).

    Args:
        obj: A picklable value (only the root's is used).
        root: The rank whose value is sent.

    Returns:
        The root's value.
    """
    return _comm().bcast(obj, root=root)


def bucket_plan(nbytes: Sequence[int], bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> list[list[int]]:
    """Group arrays, in order, into buckets of at most ``bucket_bytes`` (DDP's packing).

    A bucket closes when the next array would overflow it; an array larger than a bucket
    gets one of its own. Every rank computes the same plan from the same sizes.

    Args:
        nbytes: The size in bytes of each array, in order.
        bucket_bytes: The bucket capacity (positive).

    Returns:
        Lists of array indices, one list per bucket.

    Raises:
        ValueError: ``bucket_bytes`` is not positive.

    Example:

    >>> from engine.distributed import bucket_plan
    >>> bucket_plan([40, 40, 40, 200, 8], bucket_bytes=100)
    [[0, 1], [2], [3], [4]]
    """
    if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes <= 0:
        raise ValueError(f"bucket_plan: bucket_bytes must be a positive int, got {bucket_bytes!r}")
    plan: list[list[int]] = []
    used = 0
    for i, nb in enumerate(nbytes):
        if plan and plan[-1] and used + nb <= bucket_bytes:
            plan[-1].append(i)
            used += nb
        else:
            plan.append([i])
            used = nb
    return plan


def reduce_buckets(
    arrays: Sequence[Any],
    comm: Any,
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    scale: float = 1.0,
    on_bucket: Callable[[int], None] | None = None,
) -> list[Any]:
    """Sum ``scale * array`` over the ranks for each array, packed into float32 buckets, with
    any communicator ``comm`` (``MPITransport``, ``NCCLTransport``, or a test's fake).

    Each bucket (``bucket_plan``) is one flat float32 buffer made by ``comm.xp`` (numpy, or
    CuPy for device buffers): this rank's arrays are scaled into it in order, it is reduced
    in place with one ``comm.allreduce_sum(buffer)``, and the results are views of it.

    Args:
        arrays: Arrays of ``comm.xp`` (any float dtype), the same shapes in the same order on
            every rank.
        comm: Has ``xp`` (an array module with ``empty``/``multiply``) and
            ``allreduce_sum(buffer)`` (an in-place sum over the ranks); optionally
            ``scope()``, a context the packing runs in (NCCL: the cuda backend's stream).
        bucket_bytes: Bucket capacity in bytes (float32 elements times 4).
        scale: Multiplies this rank's contribution (e.g. its share of the global batch).
        on_bucket: Called with each bucket's byte size before it is reduced (accounting).

    Returns:
        float32 arrays of the input shapes (views of the buckets), the sums over ranks.

    Example:

    >>> import numpy as np
    >>> from engine.distributed import reduce_buckets
    >>> class Twice:  # a fake 2-rank world whose other rank sends the same values
    ...     xp = np
    ...     def allreduce_sum(self, buf):
    ...         buf *= 2
    >>> [a.tolist() for a in reduce_buckets([np.ones(2), np.ones((1, 1))], Twice(), scale=0.5)]
    [[1.0, 1.0], [[1.0]]]
    """
    with getattr(comm, "scope", contextlib.nullcontext)():  # NCCL: the backend's stream
        return _reduce_buckets(arrays, comm, bucket_bytes, scale, on_bucket)


def _reduce_buckets(
    arrays: Sequence[Any],
    comm: Any,
    bucket_bytes: int,
    scale: float,
    on_bucket: Callable[[int], None] | None,
) -> list[Any]:
    xp = comm.xp
    f32 = np.float32
    out: list[Any] = [None] * len(arrays)
    for bucket in bucket_plan([int(a.size) * 4 for a in arrays], bucket_bytes):
        total = sum(int(arrays[i].size) for i in bucket)
        buf = xp.empty(total, dtype=f32)
        at = 0
        for i in bucket:
            n = int(arrays[i].size)
            xp.multiply(arrays[i].reshape(-1), f32(scale), out=buf[at : at + n])
            at += n
        if on_bucket is not None:
            on_bucket(int(buf.nbytes))
        comm.allreduce_sum(buf)
        at = 0
        for i in bucket:
            n = int(arrays[i].size)
            out[i] = buf[at : at + n].reshape(arrays[i].shape)
            at += n
    return out


def allreduce_arrays(
    arrays: Sequence[np.ndarray],
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    scale: float = 1.0,
    on_bucket: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Sum ``scale * array`` over every rank for each array, packed into float32 buckets.

    Each bucket (``bucket_plan``) is copied into one flat float32 buffer, reduced with one
    ``Allreduce`` and unpacked, so a model with many variables costs a few MPI calls
    (``reduce_buckets`` with ``MPITransport``).

    Args:
        arrays: The arrays, the same shapes in the same order on every rank.
        bucket_bytes: Bucket capacity in bytes (float32 elements times 4).
        scale: Multiplies this rank's contribution (e.g. its share of the global batch).
        on_bucket: Called with each bucket's byte size before it is reduced (accounting).

    Returns:
        float32 arrays of the input shapes, the sums over ranks.

    Example:

    >>> import numpy as np
    >>> from engine import distributed
    >>> if distributed.available():
    ...     out = distributed.allreduce_arrays([np.ones(2), np.ones((2, 2))], scale=0.5)
    ...     assert out[1].shape == (2, 2)
    """
    host = [np.asarray(a) for a in arrays]
    return reduce_buckets(host, MPITransport(), bucket_bytes, scale, on_bucket)


# --- gradient transports ---------------------------------------------------------------------------
#: ``TENSORWEAVE_DIST_TRANSPORT`` values.
TRANSPORTS = ("auto", "mpi", "nccl")


def choose_transport(
    backend: str,
    world: int,
    nccl_on_every_rank: bool,
    one_gpu_per_rank: bool,
    requested: str = "auto",
) -> str:
    """The selection rule of the gradient allreduce: ``"nccl"`` or ``"mpi"``.

    NCCL (device to device) when the backend is ``cuda``, there is more than one rank, every
    rank can load ``cupy.cuda.nccl`` and no two ranks share a GPU; MPI through host memory
    otherwise. ``requested="mpi"`` always gives MPI; ``"nccl"`` gives NCCL or raises naming the
    missing condition (for a world of one, NCCL is allowed: a one-rank communicator).

    Args:
        backend: The backend the model trains on.
        world: The number of ranks.
        nccl_on_every_rank: Every rank imported ``cupy.cuda.nccl`` and it reports available.
        one_gpu_per_rank: No two ranks use the same (host, GPU).
        requested: ``"auto"``, ``"mpi"`` or ``"nccl"`` (``$TENSORWEAVE_DIST_TRANSPORT``).

    Returns:
        ``"nccl"`` or ``"mpi"``.

    Raises:
        ValueError: ``requested`` is not one of ``TRANSPORTS``, or ``"nccl"`` was requested
            where it cannot work.

    Example:

    >>> from engine.distributed import choose_transport
    >>> choose_transport("cuda", 4, True, True), choose_transport("cpu", 4, False, False)
    ('nccl', 'mpi')
    """
    if requested not in TRANSPORTS:
        raise ValueError(
            f"gradient transport must be one of {TRANSPORTS} (TENSORWEAVE_DIST_TRANSPORT), "
            f"got {requested!r}"
        )
    missing = []
    if backend != "cuda":
        missing.append(f"the backend is {backend!r}, not 'cuda'")
    if not nccl_on_every_rank:
        missing.append("cupy.cuda.nccl is not available on every rank")
    if not one_gpu_per_rank:
        missing.append("two ranks share a GPU (call engine.distributed.use_local_gpu() first)")
    if requested == "mpi":
        return "mpi"
    if requested == "nccl":
        if missing:
            raise ValueError("gradient transport 'nccl' was requested but " + "; ".join(missing))
        return "nccl"
    return "nccl" if world > 1 and not missing else "mpi"


class MPITransport:
    """Host buffers reduced with MPI ``Iallreduce`` (with the collective timeout)."""

    name = "mpi"
    xp = np

    def buffers(self, tensors: Sequence[Any]) -> list[np.ndarray]:
        """The tensors' values as host numpy arrays.

        Args:
            tensors: ``engine`` tensors.

        Returns:
            One numpy array per tensor.
        """
        return [t.numpy() for t in tensors]

    def tensor(self, array: np.ndarray, shape: tuple, dtype: str) -> Any:
        """A tensor of ``shape``/``dtype`` holding ``array`` (uploaded to the current backend).

        Args:
            array: A reduced host array.
            shape: The tensor's shape.
            dtype: The tensor's dtype.

        Returns:
            An ``engine`` tensor.
        """
        import engine as tw

        return tw.tensor(np.asarray(array).reshape(shape), dtype=dtype)

    def allreduce_sum(self, buf: np.ndarray) -> None:
        """Sum ``buf`` over the ranks in place.

        Args:
            buf: A contiguous float32 numpy array.
        """
        allreduce(buf)


class NCCLTransport:
    """CUDA buffers reduced device to device with NCCL (``cupy.cuda.nccl``) on the cuda
    backend's stream; a collective that does not finish within the timeout aborts the NCCL
    communicator and the job (NCCL itself never times out).

    Never executed on a GPU in this project's tests (none was available); the bucket packing
    it uses is ``reduce_buckets``, tested with a fake communicator.

    Args:
        backend: The ``cuda`` backend instance (its ``cp`` module and ``stream``).
    """

    name = "nccl"

    def __init__(self, backend: Any) -> None:
        from cupy.cuda import nccl

        self._nccl = nccl
        self.be = backend
        self.xp = backend.cp
        self.stream = backend.stream
        uid = nccl.get_unique_id() if rank() == 0 else None
        uid = broadcast_object(uid)
        with self.xp.cuda.Device(backend.device_id):
            self.comm = nccl.NcclCommunicator(size(), uid, rank())

    def scope(self) -> Any:
        """The cuda backend's stream as a context: packing, the reduction and unpacking are
        queued behind the kernels that made the gradients.

        Returns:
            The CuPy stream (a context manager).
        """
        return self.stream

    def buffers(self, tensors: Sequence[Any]) -> list[Any]:
        """The tensors' device buffers (flat CuPy arrays, no copy).

        Args:
            tensors: ``engine`` tensors on the cuda backend.

        Returns:
            One CuPy array per tensor, shaped as the tensor.
        """
        return [t.buffer_on("cuda").reshape(t.shape) for t in tensors]

    def tensor(self, array: Any, shape: tuple, dtype: str) -> Any:
        """A cuda tensor over ``array`` (a reduced device buffer; cast when ``dtype`` differs).

        Args:
            array: A CuPy array.
            shape: The tensor's shape.
            dtype: The tensor's dtype.

        Returns:
            An ``engine`` tensor on the cuda backend.
        """
        from engine.memory import Storage
        from engine.tensor import Tensor

        with self.stream:
            flat = self.xp.ascontiguousarray(array.reshape(-1).astype(dtype, copy=False))
        return Tensor(Storage(flat, "cuda", self.be.nbytes(flat)), tuple(shape), dtype)

    def allreduce_sum(self, buf: Any) -> None:
        """Sum ``buf`` over the ranks in place with ``ncclAllReduce`` on the backend's stream,
        then wait for it (polled, with the collective timeout).

        Args:
            buf: A contiguous float32 CuPy array.
        """
        nccl = self._nccl
        if not buf.size:
            return
        self.comm.allReduce(
            buf.data.ptr, buf.data.ptr, buf.size, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, self.stream.ptr
        )
        timeout = _state["timeout"] or _env_timeout()
        deadline = time.monotonic() + timeout
        while not self.stream.done:
            check = getattr(self.comm, "check_async_error", None)
            if check is not None:
                check()  # an NCCL error on a peer raises here
            if time.monotonic() > deadline:
                self.comm.abort()
                abort(
                    f"NCCL allreduce did not complete within {timeout:g} s "
                    "(TENSORWEAVE_DIST_TIMEOUT): another rank is hung or gone"
                )
            time.sleep(_POLL_SLEEP)


def _nccl_usable() -> bool:
    try:
        from cupy.cuda import nccl
    except Exception:  # no CuPy, or CuPy without its NCCL module
        return False
    return bool(getattr(nccl, "available", True))


def use_local_gpu() -> int | None:
    """Make GPU ``local_rank() % count`` CuPy's current device, so each rank of a host gets
    its own GPU; call it before the first cuda op (the cuda backend keeps the device it
    starts on). A no-op without CuPy or a GPU.

    Returns:
        The device id chosen, or None.
    """
    try:
        import cupy
    except ImportError:
        return None
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # CuPy without a driver or device
        return None
    if count < 1:
        return None
    dev = local_rank() % count
    cupy.cuda.Device(dev).use()
    return dev


def gradient_transport(backend: str, requested: str | None = None) -> Any:
    """The gradient allreduce transport of this job (a collective: every rank calls it).

    Every rank reports whether it can load NCCL and which (host, GPU) it uses;
    ``choose_transport`` decides the same way on every rank.

    Args:
        backend: The backend the model trains on (``engine.get_backend()``).
        requested: ``"auto"``, ``"mpi"`` or ``"nccl"``; default
            ``$TENSORWEAVE_DIST_TRANSPORT`` or ``"auto"``.

    Returns:
        An ``NCCLTransport`` or an ``MPITransport``.

    Raises:
        ValueError: A bad ``requested``, or ``"nccl"`` where it cannot work.

    Example:

    >>> from engine import distributed
    >>> if distributed.available():
    ...     assert distributed.gradient_transport("numpy").name == "mpi"
    """
    if requested is None:
        requested = os.environ.get("TENSORWEAVE_DIST_TRANSPORT", "auto").strip().lower() or "auto"
    if requested not in TRANSPORTS:  # before the collective: every rank raises alike
        choose_transport(backend, 1, False, False, requested)
    gpu = None
    be = None
    usable = False
    if backend == "cuda" and requested != "mpi":
        from engine import registry

        be = registry.instance_of("cuda")
        gpu = (socket.gethostname(), int(be.device_id))
        usable = _nccl_usable()
    facts = broadcast_object_all((usable, gpu))
    gpus = [g for _, g in facts]
    one_each = None not in gpus and len(set(gpus)) == len(gpus)
    kind = choose_transport(backend, size(), all(u for u, _ in facts), one_each, requested)
    return NCCLTransport(be) if kind == "nccl" else MPITransport()


def shard_bounds(count: int, parts: int, index: int) -> tuple[int, int]:
    """``[start, stop)`` of part ``index`` when ``count`` items are split into ``parts``
    consecutive parts whose sizes differ by at most one (``numpy.array_split``).

    Args:
        count: Items to split (>= 0).
        parts: Number of parts (>= 1).
        index: Which part, 0 to ``parts - 1``.

    Returns:
        ``(start, stop)``; empty (start == stop) when ``count < parts`` leaves this part none.

    Raises:
        ValueError: A negative count, ``parts`` < 1 or ``index`` out of range.

    Example:

    >>> from engine.distributed import shard_bounds
    >>> [shard_bounds(5, 2, i) for i in range(2)]
    [(0, 3), (3, 5)]
    """
    if count < 0 or parts < 1 or not 0 <= index < parts:
        raise ValueError(
            f"shard_bounds: need count >= 0, parts >= 1 and 0 <= index < parts, got "
            f"count={count}, parts={parts}, index={index}"
        )
    base, extra = divmod(count, parts)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def ring_allreduce_seconds(
    nbytes: float, ranks: int, bandwidth: float, latency: float = 5e-6, buckets: int = 1
) -> float:
    """The ring allreduce cost model: ``2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency``
    per bucket's message steps (README "Data-parallel training").

    Args:
        nbytes: Bytes reduced per step (all buckets).
        ranks: N, the number of ranks.
        bandwidth: Bytes per second of each link.
        latency: Seconds per message (one of the 2 (N-1) steps of each bucket).
        buckets: How many allreduce calls the bytes are split into.

    Returns:
        Seconds per training step spent in the allreduce.

    Example:

    >>> from engine.distributed import ring_allreduce_seconds
    >>> round(ring_allreduce_seconds(1e9, 2, 1e9, latency=0.0), 3)
    1.0
    """
    if ranks <= 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth + 2 * (ranks - 1) * latency * max(
        1, math.ceil(buckets)
    )
