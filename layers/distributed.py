"""Data-parallel ``fit``/``evaluate``/``predict`` across MPI ranks (issue 22).

``DataParallel(model)`` wraps a compiled model (Keras's ``DataParallel`` / Horovod habits):
run the same script on every rank with ``mpiexec -n N python script.py``::

    from layers.distributed import DataParallel

    model.compile(optimizer="adam", loss="categoricalCrossentropy", metrics=["accuracy"])
    dp = DataParallel(model)            # init from the MPI environment
    dp.fit(x, y, batch_size=32, epochs=5, validation_split=0.2)   # 32 per rank
    dp.save("model")                    # rank 0 writes, the others wait

What ``fit`` does:

- rank 0's weights and optimizer state are broadcast to every rank first;
- every epoch draws one permutation of the samples from a seed shared by all ranks
  (``epoch_permutation``); global batch ``k`` is rows ``k*B .. (k+1)*B`` of it with
  ``B = batch_size * size``, and rank ``r`` trains on its ``r``-th part (``shard_bounds``:
  a ragged last batch is split as evenly as possible; a rank left with no rows runs its
  step on one row with weight 0);
- each rank's gradients (of its mean loss) are scaled by its share of the global batch,
  summed with an allreduce in float32 buckets (``engine.distributed.reduce_buckets``) and
  applied by the same optimizer step on every rank, so the weights equal a single process
  training on batches of ``B`` over the same sample order (``tests/test_distributed.py``);
- the step's loss and metrics travel in the same buffers, so batch and epoch logs are the
  global values and every callback sees the same logs on every rank (``stop_training`` is
  also OR-ed over the ranks at each epoch's end, and after each batch when a callback has
  batch hooks);
- only rank 0 shows the progress bar; on other ranks callbacks that write files
  (``ModelCheckpoint``, ``CSVLogger``, ``TensorBoard``) are left out;
- non-trainable weights (BatchNormalization's moving statistics) are averaged over the
  ranks at each epoch's end.

With ``compile(jit=True)`` (the default) the step is traced and compiled in two parts with
the allreduce between them: a *gradients* trace (forward, loss, backward; its outputs are the
log vector and the gradients) and an *update* trace (the optimizer step and the constraints on
the averaged gradients), each an ``engine.trace.TraceCache`` entry per batch signature, so on
the ``cpu`` backend both run as compiled programs after their first replay. Between them the
gradients are packed into buckets and reduced on the host with MPI (``engine.distributed``),
or, on ``cuda`` with one GPU per rank, device to device with NCCL (``gradient_transport``).
``DataParallel.traces`` holds both caches; ``stats["traced_steps"]`` counts the steps that
replayed a trace. ``jit=False`` and ``LossScaleOptimizer`` models keep the eager step (the
allreduce then runs inside ``Model._apply``'s gradient hook).

Validation in ``fit`` (``validation_data``/``validation_split``) and ``evaluate`` split the
samples over the ranks: each rank sums its part's loss and metric values, one allreduce adds
the sums and counts, and every rank logs the global means (as one process evaluating it all).
Arrays only: a ``layers.data`` dataset raises (shard it per rank and use ``train_on_batch``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

import engine as tw
from engine import distributed as dist
from engine.dtypes import as_int
from engine.trace import TraceCache
from engine.typing import DataLike, TensorLike
from layers import callbacks as cbks
from layers import training as tr

__all__ = ["DataParallel", "epoch_permutation"]

#: ``DataParallel.stats`` keys: steps run, steps that replayed the traced step, gradient
#: allreduce calls (buckets), their bytes, and microseconds (packing and copies included).
_STATS = ("steps", "traced_steps", "allreduce_calls", "allreduce_bytes", "allreduce_us")

#: Callbacks that write files: rank 0 only.
_WRITERS = tuple(
    c for c in (cbks.ModelCheckpoint, cbks.CSVLogger, getattr(cbks, "TensorBoard", None)) if c
)


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The sample order of ``epoch`` that every rank of a ``DataParallel.fit`` uses.

    Args:
        seed: The shared seed (``fit(seed=...)``, or the one rank 0 drew and broadcast).
        epoch: The epoch index.
        n: The number of training samples.

    Returns:
        An int64 permutation of ``range(n)``, the same in every process.

    Example:

    >>> from layers.distributed import epoch_permutation
    >>> sorted(epoch_permutation(7, 0, 5).tolist())
    [0, 1, 2, 3, 4]
    """
    return np.random.default_rng([int(seed), int(epoch)]).permutation(int(n))


class _SyncStop(cbks.Callback):
    """At each epoch's end: OR ``stop_training`` over the ranks, average the non-trainable
    weights and copy rank 0's trainable weights to the others, so every rank leaves the epoch
    in the same state (the ranks apply identical updates, but a backend whose compiled and
    uncompiled paths round differently, e.g. while a program compiles in the background,
    could otherwise let them drift apart by float32 ulps)."""

    _runs_ok = True

    def __init__(self, owner: DataParallel) -> None:
        super().__init__()
        self.owner = owner

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.owner._average_non_trainable()
        self.owner._sync_trainable()
        self.owner._sync_stop()


class _ShardedValidation(tr._DatasetValidation):
    """``fit``'s validation over every rank: each evaluates its part of the samples, the
    sums are added with one allreduce (``DataParallel._evaluate_global``)."""

    def __init__(self, owner: DataParallel, data: Any, batch_size: int) -> None:
        self.owner, self.data, self.batch_size = owner, data, batch_size

    def evaluate(self, cb: cbks.CallbackList | None = None) -> Any:
        return self.owner._evaluate_global(self.data, self.batch_size, cb)


class DataParallel:
    """Train, evaluate and predict with one compiled model over every MPI rank.

    Args:
        model: A compiled ``layers.Model`` (the same architecture on every rank).
        comm: An mpi4py communicator; default ``MPI.COMM_WORLD`` (``engine.distributed.init``).
        bucket_mb: Gradient bucket size in MiB (PyTorch DDP's default, 25).
        timeout: Seconds a collective may wait for the other ranks before the job aborts;
            default ``$TENSORWEAVE_DIST_TIMEOUT`` or 300.

    Raises:
        ImportError: mpi4py is not installed (``pip install -e '.[distributed]'``).
        ValueError: ``bucket_mb`` is not positive.

    Example:

    >>> import numpy as np
    >>> import layers
    >>> from engine import distributed
    >>> from layers.distributed import DataParallel
    >>> if distributed.available():
    ...     model = layers.sequential([layers.dense(units=1, input_shape=[2])])
    ...     model.compile(optimizer="sgd", loss="meanSquaredError")
    ...     dp = DataParallel(model)
    ...     h = dp.fit(np.ones((8, 2)), np.zeros((8, 1)), batch_size=2, verbose=0)
    """

    def __init__(
        self,
        model: Any,
        comm: Any = None,
        bucket_mb: float = 25.0,
        timeout: float | None = None,
    ) -> None:
        if isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float)) or bucket_mb <= 0:
            raise ValueError(
                f"DataParallel: bucket_mb must be a positive number, got {bucket_mb!r}"
            )
        self.model = model
        self.comm = dist.init(comm, timeout=timeout)
        self.bucket_bytes = max(4, int(bucket_mb * 1024 * 1024))
        #: Of the last ``fit``: steps, steps that replayed the traced step, gradient
        #: allreduce calls (buckets), their bytes and microseconds (packing included).
        self.stats: dict[str, int] = dict.fromkeys(_STATS, 0)
        #: The traced step's two caches (``compile(jit=True)``): ``"gradients"`` (forward,
        #: loss, backward) and ``"update"`` (optimizer step, constraints), one trace per batch
        #: signature; the gradient allreduce runs between them.
        self.traces: dict[str, TraceCache] = {
            "gradients": TraceCache("the data-parallel gradients step"),
            "update": TraceCache("the data-parallel update step"),
        }
        self._transports: dict[str, Any] = {}

    @property
    def rank(self) -> int:
        """This process's rank (0 logs, saves and broadcasts)."""
        return int(self.comm.Get_rank())

    @property
    def size(self) -> int:
        """The number of ranks."""
        return int(self.comm.Get_size())

    @property
    def is_root(self) -> bool:
        """True on rank 0."""
        return self.rank == 0

    # --- state --------------------------------------------------------------------------------
    def broadcast_state(self) -> None:
        """Copy rank 0's weights and optimizer state to every rank (``fit`` does this first).

        Raises:
            ValueError: The ranks' models differ in weight shapes.
        """
        m = self.model
        mine = [tuple(w.shape) for w in m.weights]
        shapes = dist.broadcast_object(mine)
        if shapes != mine:
            raise ValueError(
                f"DataParallel: rank {self.rank}'s model weight shapes {mine} differ from rank "
                f"0's {shapes}; every rank must build the same model"
            )
        values = [np.ascontiguousarray(w.numpy()) for w in m.weights]
        for v in values:
            dist.broadcast(v)
        m.set_weights(values)
        opt = getattr(m, "optimizer", None)
        if opt is None:
            return
        state = None
        if self.is_root:
            state = [(w["name"], w["tensor"].numpy()) for w in opt.get_weights()]
        state = dist.broadcast_object(state)
        if not self.is_root and (len(state) > 1 or int(state[0][1]) != opt.iterations):
            opt.set_weights(state)

    def _average_non_trainable(self) -> None:
        ws = [w for w in self.model.non_trainable_weights if str(w.dtype).startswith("float")]
        if not ws or self.size == 1:
            return
        avg = dist.allreduce_arrays([w.numpy() for w in ws], self.bucket_bytes, 1.0 / self.size)
        for w, a in zip(ws, avg, strict=True):
            w.assign(tw.tensor(a.astype(w.dtype)))

    def _sync_trainable(self) -> None:
        """Rank 0's trainable weights on every rank (one broadcast per weight)."""
        if self.size == 1:
            return
        for w in self.model.trainable_weights:
            value = np.ascontiguousarray(w.numpy())
            dist.broadcast(value)
            if not self.is_root:
                w.assign(tw.tensor(value, dtype=w.dtype))

    def _sync_stop(self) -> None:
        flag = np.array([1 if self.model.stop_training else 0], dtype=np.int32)
        self.model.stop_training = bool(dist.allreduce(flag, "max")[0])

    def transport(self) -> Any:
        """The gradient allreduce transport for the current backend (a collective the first
        time per backend): ``engine.distributed.NCCLTransport`` on cuda with one GPU per rank,
        else ``MPITransport`` (``engine.distributed.gradient_transport``).

        Returns:
            The transport (its ``name`` is ``"nccl"`` or ``"mpi"``).
        """
        backend = tw.get_backend()
        t = self._transports.get(backend)
        if t is None:
            t = self._transports[backend] = dist.gradient_transport(backend)
        return t

    def _reduce(self, tensors: list, scale: float) -> list:
        """``sum over ranks of scale * t`` for each tensor, bucketed; tensors of the same
        shapes and dtypes."""
        comm = self.transport()

        def count(nbytes: int) -> None:
            self.stats["allreduce_calls"] += 1
            self.stats["allreduce_bytes"] += nbytes

        started = time.perf_counter()
        out = dist.reduce_buckets(comm.buffers(tensors), comm, self.bucket_bytes, scale, count)
        res = [comm.tensor(a, t.shape, t.dtype) for a, t in zip(out, tensors, strict=True)]
        self.stats["allreduce_us"] += int((time.perf_counter() - started) * 1e6)
        return res

    def _hook(self, scale: float):
        """The ``_apply`` hook of one eager step: scale, allreduce, unpack."""

        def hook(stacked: Any, grads: list, params: list) -> tuple[Any, list]:
            live = [i for i, g in enumerate(grads) if g is not None]
            out = self._reduce([grads[i] for i in live] + [stacked], scale)
            new = list(grads)
            for i, t in zip(live, out, strict=False):
                new[i] = t
            return out[-1], new

        return hook

    def _key(self, kind: str, tensors: list, extra: tuple) -> tuple:
        m = self.model
        return (
            kind,
            tuple((t.shape, t.dtype) for t in tensors),
            extra,
            tw.get_backend(),
            id(m.optimizer),
            tuple(id(v) for v in m.trainable_weights),
        )

    def _traced_step(self, d: Any, scale: float) -> np.ndarray:
        """One training step through the two traces with the allreduce between them;
        returns the global log vector."""
        m = self.model
        params = list(m.trainable_weights)
        mask = tuple(w is not None for w in d.ws)
        n_x, n_y = len(d.xs), len(d.ys)
        args = [*d.xs, *d.ys, *(w for w in d.ws if w is not None)]

        def gradients(*a: Any) -> tuple:
            def inner() -> tuple:
                ws = iter(a[n_x + n_y :])
                dd = tr._Data(
                    list(a[:n_x]), list(a[n_x : n_x + n_y]), [next(ws) if k else None for k in mask]
                )
                kept: list = []

                def keep(stacked: Any, grads: list, _params: list) -> tuple[Any, list]:
                    kept.append((stacked, list(grads)))
                    return stacked, [None] * len(grads)  # nothing applied in this trace

                m.__dict__["_gradient_hook"] = keep
                try:
                    m._train_values(dd)
                finally:
                    m.__dict__["_gradient_hook"] = None
                stacked, grads = kept[0]
                return (stacked, *grads)

            return tw.tidy(inner)

        gkey = self._key("gradients", args, mask)
        replayed = gkey in self.traces["gradients"].traces
        out = self.traces["gradients"](gkey, gradients, args)
        stacked, grads = out[0], list(out[1:])
        live = [i for i, g in enumerate(grads) if g is not None]
        reduced = self._reduce([grads[i] for i in live] + [stacked], scale)
        new = reduced[:-1]

        def update(*g: Any) -> tuple:
            def inner() -> tuple:
                full: list = [None] * len(params)
                for i, t in zip(live, g, strict=True):
                    full[i] = t
                m._apply(None, full, params)
                return ()

            return tw.tidy(inner)

        ukey = self._key("update", new, tuple(live))
        replayed = replayed and ukey in self.traces["update"].traces
        self.traces["update"](ukey, update, new)
        self.stats["traced_steps"] += int(replayed)
        return reduced[-1].numpy()

    def _step(self, d: Any, scale: float) -> np.ndarray:
        """One data-parallel step on this rank's rows ``d``: traced and compiled in jit mode,
        else eager with the allreduce in ``Model._apply``'s hook."""
        m = self.model
        with m._steps_lock():
            if m.jit and not m._loss_scaled():
                return tw.tidy(lambda: self._traced_step(d, scale))
            m.__dict__["_gradient_hook"] = self._hook(scale)
            try:
                return m._train_step(d)
            finally:
                m.__dict__["_gradient_hook"] = None

    # --- fit ----------------------------------------------------------------------------------
    def fit(
        self,
        x: DataLike,
        y: DataLike,
        batch_size: int = 32,
        epochs: int = 1,
        verbose: int = 1,
        callbacks: Sequence[cbks.Callback] | cbks.Callback | None = None,
        validation_split: float = 0.0,
        validation_data: Sequence[DataLike] | None = None,
        shuffle: bool = True,
        class_weight: Mapping | None = None,
        sample_weight: TensorLike | None = None,
        initial_epoch: int = 0,
        seed: int | None = None,
    ) -> cbks.History:
        """``Model.fit`` over every rank: each trains on its shard of every global batch.

        Every rank passes the same (full) ``x``/``y``; each reads only its rows.

        Args:
            x: Inputs, as ``Model.fit`` (arrays; the same on every rank).
            y: Targets, as ``Model.fit``.
            batch_size: Samples per rank per step; the global batch is ``batch_size * size``.
            epochs: Index of the epoch to stop at.
            verbose: Progress output on rank 0 (0, 1 or 2, as ``Model.fit``); other ranks
                are silent.
            callbacks: As ``Model.fit``; on ranks other than 0 file-writing callbacks
                (``ModelCheckpoint``, ``CSVLogger``, ``TensorBoard``) are dropped.
            validation_split: Fraction of the samples, from the end, held out.
            validation_data: ``(x_val, y_val[, sample_weight])`` evaluated each epoch (the
                same on every rank); either way the validation samples are split over the
                ranks and the logged ``val_`` values are the global ones.
            shuffle: Draw a new shared permutation every epoch (else the given order).
            class_weight: As ``Model.fit``.
            sample_weight: Per-sample loss weights, shape ``(samples,)``.
            initial_epoch: The epoch to start at.
            seed: The shuffle seed (rank 0's value is used); default one rank 0 draws from
                ``tw.rng()``, so ``tw.set_seed`` makes runs repeatable.

        Returns:
            The ``History`` (global values, identical on every rank).

        Raises:
            RuntimeError: The model is not compiled.
            NotImplementedError: ``x`` is a dataset/generator, or the model overrides
                ``train_step``.
            ValueError: Bad ``batch_size``/``epochs``/``validation_split`` or data, as
                ``Model.fit``.

        Example:

        >>> from engine import distributed
        >>> if distributed.available():
        ...     model = layers.sequential([layers.dense(units=1, input_shape=[2])])
        ...     model.compile(optimizer="adam", loss="meanSquaredError")
        ...     dp = DataParallel(model)
        ...     h = dp.fit(np.ones((8, 2)), np.zeros((8, 1)), batch_size=2, epochs=2, verbose=0)
        ...     assert len(h.history["loss"]) == 2
        """
        m = self.model
        m._check_compiled("fit")
        batch_size = tr._positive_int(batch_size, "DataParallel.fit: batch_size")
        epochs, initial_epoch, verbose = tr._count_args(
            "DataParallel.fit", epochs, initial_epoch, verbose
        )
        if tr._is_batches(x, y):
            raise NotImplementedError(
                "DataParallel.fit takes arrays x and y; for a dataset or generator, shard it "
                "per rank yourself (e.g. dataset.skip(rank)...) and train with train_on_batch"
            )
        if m._custom_step("train"):
            raise NotImplementedError(
                f"DataParallel.fit: model {m.name!r} overrides train_step; its gradients "
                "cannot be averaged over ranks (use the built-in step)"
            )
        if y is None:
            raise ValueError("DataParallel.fit: y (the targets) is required")
        if seed is not None:
            seed = as_int(seed, "DataParallel.fit: seed", minimum=0)
        data = m._data(x, y, sample_weight, class_weight, "fit")
        val = None
        if validation_data is not None:
            val = m._validation(validation_data)
        elif validation_split:
            data, val = tr._split_validation(data, validation_split, "DataParallel.fit")
        if val is not None:
            n_val = dist.broadcast_object(val.n)
            if n_val != val.n:
                raise ValueError(
                    f"DataParallel.fit: rank {self.rank} has {val.n} validation samples, rank "
                    f"0 has {n_val}; pass the same full arrays on every rank"
                )
        n_global = dist.broadcast_object(data.n)
        if n_global != data.n:
            raise ValueError(
                f"DataParallel.fit: rank {self.rank} has {data.n} training samples, rank 0 "
                f"has {n_global}; pass the same full arrays on every rank"
            )
        self.broadcast_state()
        ranks = dist.describe()  # a collective: every rank takes part
        if verbose and self.is_root:  # maps the PID mpiexec reports for a killed rank to it
            print(f"DataParallel: {len(ranks)} ranks ({'; '.join(ranks)})", flush=True)
        if seed is None:
            seed = int(tw.rng().integers(0, 2**31 - 1)) if self.is_root else 0
        seed = int(dist.broadcast_object(seed))

        n, world, me = data.n, self.size, self.rank
        gb = batch_size * world
        steps = math.ceil(n / gb)
        user = cbks.standardize_callbacks(callbacks, "fit")
        if not self.is_root:
            user = [c for c in user if not isinstance(c, _WRITERS)]
        # the same collectives on every rank: sync stop_training after each batch when any
        # rank has a callback with batch hooks
        watch = bool(dist.allreduce(np.array([tr._batch_hooks(user)], np.int32), "max")[0])
        user.append(_SyncStop(self))
        self.stats = dict.fromkeys(_STATS, 0)

        def run_epoch(epoch: int, cb: cbks.CallbackList) -> tuple[np.ndarray, int, bool]:
            perm = epoch_permutation(seed, epoch, n) if shuffle else np.arange(n)
            names = m._logged_names()
            sums = np.zeros(m._n_values, dtype=np.float64)
            count = 0
            complete = True
            for k in range(steps):
                lo, hi = k * gb, min((k + 1) * gb, n)
                size = hi - lo
                a, b = dist.shard_bounds(size, world, me)
                rows = perm[lo + a : lo + b] if b > a else perm[lo : lo + 1]
                cb.on_batch_begin(k, {"batch": k, "size": size})
                vals = self._step(data.take(rows.astype(np.int32)), (b - a) / size)
                self.stats["steps"] += 1
                sums += vals.astype(np.float64) * size
                count += size
                logs: dict[str, Any] = {"batch": k, "size": size}
                logs.update(zip(names, (float(v) for v in m._present(vals)), strict=False))
                cb.on_batch_end(k, logs)
                if watch:
                    self._sync_stop()
                if m.stop_training and k + 1 < steps:
                    complete = False
                    break
            return sums, count, complete

        params = {
            "epochs": epochs,
            "initial_epoch": initial_epoch,
            "samples": n,
            "steps": steps,
            "batch_size": batch_size,
            "verbose": verbose if self.is_root else 0,
            "do_validation": val is not None,
            "metrics": m._log_names(val is not None),
            "global_batch_size": gb,
            "ranks": world,
        }
        return m._loop(
            run_epoch,
            epochs,
            initial_epoch,
            params["verbose"],
            user,
            params,
            None if val is None else _ShardedValidation(self, val, batch_size),
            batch_size,
        )

    # --- evaluate / predict -------------------------------------------------------------------
    def evaluate(
        self,
        x: DataLike,
        y: DataLike,
        batch_size: int = 32,
        verbose: int = 0,
        sample_weight: TensorLike | None = None,
    ) -> float | list[float]:
        """``Model.evaluate`` with the samples split over the ranks; global values.

        Args:
            x: Inputs (the same full arrays on every rank).
            y: Targets.
            batch_size: Samples per batch on each rank.
            verbose: Non-zero prints the values on rank 0.
            sample_weight: Per-sample loss weights.

        Returns:
            As ``Model.evaluate``: a float, or ``[loss, *metrics]``, equal on every rank.

        Raises:
            RuntimeError: The model is not compiled.
            ValueError: Bad ``batch_size`` or data.

        Example:

        >>> from engine import distributed
        >>> if distributed.available():
        ...     model = layers.sequential([layers.dense(units=1, input_shape=[2])])
        ...     model.compile(optimizer="sgd", loss="meanSquaredError")
        ...     loss = DataParallel(model).evaluate(np.ones((4, 2)), np.ones((4, 1)))
        """
        m = self.model
        m._check_compiled("evaluate")
        batch_size = tr._positive_int(batch_size, "DataParallel.evaluate: batch_size")
        d = m._data(x, y, sample_weight, None, "evaluate")
        vals = tr._as_values(self._evaluate_global(d, batch_size))
        out = [float(v) for v in vals]
        if verbose and self.is_root:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in zip(m._eval_names(), out, strict=False)))
        return out[0] if len(out) == 1 else out

    def _evaluate_global(self, d: Any, batch_size: int, cb: Any = None) -> Any:
        """The loss and metrics over all of ``d``: this rank evaluates its part
        (``shard_bounds``), one allreduce adds every rank's value sums and sample counts
        (weighted metrics' weight sums too), so the result is one process's ``evaluate``.
        ``cb``'s test hooks run on every rank: batch hooks with this rank's batches,
        ``on_test_end`` with the global values. A model overriding ``test_step`` evaluates
        everything on every rank (its logs are not sums)."""
        m = self.model
        if m._custom_step("test"):
            return m._evaluate_data(d, batch_size, cb)
        a, b = dist.shard_bounds(d.n, self.size, self.rank)
        names = m._logged_names()
        watch = cb is not None and cb.watches("on_test_batch_begin", "on_test_batch_end")
        shown = cb is not None and cb.watches("on_test_batch_end")
        sums = np.zeros(m._n_values + 1, dtype=np.float64)
        acc = None
        if cb is not None:
            cb.on_test_begin({})
        with m._steps_lock():
            for k, start in enumerate(range(a, b, batch_size)):
                stop = min(start + batch_size, b)
                part = d.take(None, start, stop)
                logs: dict[str, Any] = {"batch": k, "size": stop - start}
                if watch:
                    cb.on_test_batch_begin(k, dict(logs))
                if m.jit:
                    vals, acc = m._traced("test", part, acc)
                    if shown:
                        vals = vals.numpy()
                else:
                    vals = m._test_step(part)
                    sums[:-1] += vals.astype(np.float64) * (stop - start)
                if watch:
                    if shown:
                        logs.update(zip(names, (float(v) for v in m._present(vals)), strict=False))
                    cb.on_test_batch_end(k, logs)
        if acc is not None:
            sums[:-1] = acc.numpy().astype(np.float64)
        sums[-1] = b - a
        dist.allreduce(sums)
        result = m._present(sums[:-1] / sums[-1])
        if cb is not None:
            cb.on_test_end(dict(zip(names, (float(v) for v in result), strict=False)))
        return result

    def predict(self, x: DataLike, batch_size: int = 32) -> Any:
        """``Model.predict`` with the samples split over the ranks; every rank gets all rows.

        Args:
            x: Inputs (the same full arrays on every rank).
            batch_size: Samples per batch on each rank.

        Returns:
            A ``Tensor`` (a list for several outputs) with every sample's prediction, in order.

        Raises:
            ValueError: Bad ``batch_size`` or inputs, as ``Model.predict``.

        Example:

        >>> from engine import distributed
        >>> if distributed.available():
        ...     model = layers.sequential([layers.dense(units=1, input_shape=[2])])
        ...     p = DataParallel(model).predict(np.ones((5, 2)))
        ...     assert p.shape == (5, 1)
        """
        m = self.model
        xs = m._as_inputs(x)
        n = xs[0].shape[0]
        a, b = dist.shard_bounds(n, self.size, self.rank)
        part = None
        if b > a:
            res = m.predict(
                [tw.slice(t, a, b - a) for t in xs] if len(xs) > 1 else tw.slice(xs[0], a, b - a),
                batch_size=batch_size,
            )
            part = [r.numpy() for r in res] if isinstance(res, list) else [res.numpy()]
        pieces = [p for p in dist.broadcast_object_all(part) if p is not None]
        if not pieces:  # no rows at all: the model's own answer (or error) for empty input
            return m.predict(x, batch_size=batch_size)
        outs = [tw.tensor(np.concatenate([p[i] for p in pieces])) for i in range(len(pieces[0]))]
        return outs[0] if len(outs) == 1 else outs

    def save(self, path: str | PathLike[str], **kwargs: Any) -> Path:
        """``Model.save`` on rank 0 only; every rank waits until it is written.

        Args:
            path: Where to save (as ``Model.save``).
            **kwargs: Passed to ``Model.save`` (``include_optimizer``).

        Returns:
            The saved path (on every rank).

        Example:

        >>> from engine import distributed
        >>> if distributed.available():
        ...     import tempfile, os
        ...     model = layers.sequential([layers.dense(units=1, input_shape=[2])])
        ...     p = DataParallel(model).save(os.path.join(tempfile.mkdtemp(), "m"))
        """
        out = self.model.save(path, **kwargs) if self.is_root else None
        out = dist.broadcast_object(str(out) if out is not None else None)
        dist.barrier()
        return Path(out)
