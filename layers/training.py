"""The training loop: ``compile``, ``fit``, ``fit_dataset``, ``evaluate``, ``train_on_batch``
with TF.js semantics (``docs/tfjs-compat.md`` §2-3).

``TrainingMixin`` is mixed into ``layers.models.Model``; it relies on the model's
``run(inputs, training)``, ``trainable_weights``, ``weights``, ``input_shapes``,
``output_shapes``, ``input_names``, ``output_names``, ``regularization_losses()`` and
``apply_constraints()``.

Per batch: loss = sum over outputs of ``loss_weight * mean(per-sample loss * weight)``, plus
the regularisation penalties; its gradients update the trainable weights. Weighted metrics
(``compile(weighted_metrics=...)``) add their weighted sum and their weight sum to the step's
value vector, so epoch values are exact weighted means; ``_present`` divides them.

A model class that overrides ``train_step``/``test_step`` (Keras 3) has them called once per
batch, eagerly, with ``(x, y[, sample_weight])``; their dicts of logs are averaged by batch
size. ``compute_loss``/``compute_metrics`` give such a step the compiled loss and metrics. Every step runs inside ``tw.tidy``, so
``tw.memory()`` stays flat across epochs. Epoch logs are batch-size-weighted means. Validation
(and ``evaluate``) compute the same losses without the regularisation term, as TF.js does.

With ``compile(..., jit=True)`` (the default) each step runs through an ``engine.trace``
cache keyed by the batch's shapes and dtypes, which weights are absent, the backend and the
trainable variables: the first step of a signature is captured, later ones replay its kernels
(a signature that cannot be traced runs eagerly, the reason logged once on
``tensorweave.trace``). Loss and metric sums then accumulate on the device, in a float32
vector per epoch read at the epoch's end; batch logs carry the batch's values only when a
callback other than the progress bar and the history reads them (those batches synchronise),
and the progress bar reads the running means at most ``PROGRESS_INTERVAL`` times a second.
``jit=False`` keeps the eager loop, which reads every batch's values.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import engine as tw
from engine import Tensor, activity, registry
from engine.autodiff import Tape
from engine.dtypes import as_int
from engine.trace import STEPS_PER_CALL, TraceCache
from engine.typing import DataLike, TensorLike
from layers import callbacks as cbks
from layers import losses as losses_mod
from layers import metrics as metrics_mod
from layers.data import Dataset as DatasetType
from layers.data import _convert, _is_array_like, as_input_list, split_inputs

if TYPE_CHECKING:  # annotations only: optimizers load on first compile
    from engine.train import Optimizer

_trace_log = logging.getLogger("tensorweave.trace")

#: Guards the lazy creation of each model's step lock (``TrainingMixin._steps_lock``).
_LOCK_GUARD = threading.Lock()


def _one_fit_at_a_time(loop: Callable) -> Callable:
    """Wraps the epoch loop of ``fit``/``fit_dataset``: while one runs on a model, another on
    the same model (from any thread, or from a callback) raises at once, as TF.js does,
    instead of interleaving its steps with the first one's."""

    @functools.wraps(loop)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK_GUARD:
            owner = self.__dict__.get("_fit_thread")
            if owner is not None:
                where = "this thread" if owner == threading.get_ident() else "another thread"
                raise RuntimeError(
                    f"fit: model {self.name!r} is already being trained in {where}; another "
                    "fit() call is ongoing (predict/evaluate may run beside it)"
                )
            self.__dict__["_fit_thread"] = threading.get_ident()
        try:
            return loop(self, *args, **kwargs)
        finally:
            self.__dict__["_fit_thread"] = None

    return guarded


def _shape_str(shape: Sequence[Any]) -> str:
    return (
        "("
        + ", ".join("None" if s is None else str(s) for s in shape)
        + (",)" if len(shape) == 1 else ")")
    )


class _Data:
    """Converted arrays of one fit/evaluate call: inputs, targets and per-output weights."""

    def __init__(self, xs: list[Tensor], ys: list[Tensor], ws: list[Tensor | None]):
        self.xs, self.ys, self.ws = xs, ys, ws

    @property
    def n(self) -> int:
        return self.xs[0].shape[0]

    def take(self, idx: np.ndarray | None, start: int = 0, stop: int = 0) -> _Data:
        """The rows ``idx`` (a gather), or the contiguous rows ``start:stop`` when idx is None."""
        if idx is None:

            def pick(t: Tensor) -> Tensor:
                if start == 0 and stop == t.shape[0]:
                    return t
                return tw.slice(t, start, stop - start)
        else:
            it = tw.tensor(idx, dtype="int32")

            def pick(t: Tensor) -> Tensor:
                return tw.gather(t, it, 0, _checked=True)

        return _Data(
            [pick(t) for t in self.xs],
            [pick(t) for t in self.ys],
            [None if w is None else pick(w) for w in self.ws],
        )


#: Seconds between two reads of the running loss by the progress bar (jit mode).
PROGRESS_INTERVAL = 0.25


def _watching(callbacks: Sequence[Any], hooks: tuple[str, ...]) -> bool:
    """True when a callback other than the progress bar and the history implements one of
    ``hooks`` (under any of its names: ``layers.callbacks.HOOKS``)."""
    return any(
        not getattr(c, "_runs_ok", False) and cbks.implementation(c, h) is not None
        for c in callbacks
        for h in hooks
    )


def _batch_hooks(callbacks: Sequence[Any]) -> bool:
    """True when a callback other than the progress bar and the history implements a train
    batch hook (then every batch runs on its own, with its hooks around it); callbacks
    that only inherit ``Callback``'s no-op batch hooks do not count."""
    return _watching(callbacks, ("on_train_batch_begin", "on_train_batch_end"))


def _needs_batch_values(callbacks: Sequence[Any]) -> bool:
    """True when a callback other than the progress bar and the history reads batch logs."""
    return _watching(callbacks, ("on_train_batch_end",))


def _dedupe_names(names: Sequence[str]) -> list[str]:
    """Logged names with repeats numbered as TF.js's ``getDedupedMetricsNames``: a name
    that occurs more than once becomes ``<name>_0``, ``<name>_1``, ... in order; unique
    names are kept."""
    out = []
    for i, name in enumerate(names):
        if names.count(name) > 1:
            name = f"{name}_{list(names[:i]).count(name)}"
        out.append(name)
    return out


class TrainingMixin:
    """compile / fit / evaluate / train_on_batch for models (TF.js ``LayersModel`` semantics)."""

    optimizer: Any = None
    jit: bool = False
    _running: Any = None
    loss_functions: list = []
    metrics_names: list[str] = []
    is_compiled: bool = False
    stop_training: bool = False

    # --- compile ------------------------------------------------------------------------------
    def compile(
        self,
        optimizer: str | Optimizer | Mapping[str, Any],
        loss: str | Callable | Sequence[str | Callable] | Mapping[str, str | Callable],
        metrics: Sequence[str | Callable] | Mapping[str, Any] | None = None,
        jit: bool = True,
        loss_weights: float | Sequence[float] | Mapping[str, float] | None = None,
        weighted_metrics: Sequence[str | Callable] | Mapping[str, Any] | None = None,
    ) -> None:
        """Configure the model for training: optimizer, loss and metrics (TF.js ``compile``).

        Everything is checked before the model changes; recompiling keeps the weights, and a
        string optimizer starts fresh. A subclassed model that has not run yet resolves its
        losses and metrics against its outputs on its first batch (names are checked now).

        Args:
            optimizer: An optimizer name of tfjs-compat §2 in any case (``"adam"``, ``"sgd"``,
                ``"rmsprop"``, ...; default hyperparameters) or an ``engine.train.Optimizer``
                instance such as ``tw.train.adam(1e-3)``. When the model or one of its layers
                has the ``mixed_float16`` dtype policy (``layers.mixed_precision``) it is
                wrapped in an ``engine.train.LossScaleOptimizer`` (dynamic loss scaling), as
                Keras 3 does.
            loss: A loss name in TF.js camelCase or Keras snake_case
                (``"categoricalCrossentropy"`` / ``"categorical_crossentropy"``), a callable
                ``(y_true, y_pred) -> per-sample Tensor``, a list with one loss per output, or
                a dict keyed by output name.
            metrics: ``None``, a list of metric names or callables applied to every output
                (``"accuracy"``/``"acc"`` picks the accuracy matching the loss), or a dict
                keyed by output name.
            jit: ``True`` (default) traces the train, test and predict steps on their first
                batch of each shape signature and replays the recorded kernels afterwards;
                ``False`` runs eagerly, for debugging.
            loss_weights: Scales of the per-output losses (Keras): the loss minimised and
                logged as ``loss`` is ``sum_i w_i * loss_i`` (plus regularisation); the
                per-output losses (``<output>_loss``) are logged unweighted. A list with one
                number per output, a dict by output name (missing outputs weigh 1), or one
                number for a single-output model.
            weighted_metrics: Metrics, given as ``metrics``, computed with the sample weights
                (``sample_weight`` and ``class_weight``) applied: the weighted mean
                ``sum(w * value) / sum(w)`` of the per-sample values, over the batch and over
                the epoch. Logged under the metric's name as Keras 3 does
                (``weighted_<name>`` when ``metrics`` already logs that name).

        Raises:
            ValueError: A loss or metric name is unknown, a loss is missing, or a list/dict
                does not match the model's outputs, or ``loss_weights`` is not a number,
                list or dict of finite numbers matching them.

        Example:

        >>> model = layers.sequential([layers.dense(units=1, input_shape=[3])])
        >>> model.compile(optimizer="sgd", loss="meanSquaredError", metrics=["mae"])
        >>> model.metrics_names
        ['loss', 'mae']
        >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
        >>> model.metrics_names
        ['loss', 'mae', 'weighted_mae']
        """
        from engine import train

        opt = train.get(optimizer)
        if self._mixed_float16() and not isinstance(opt, train.LossScaleOptimizer):
            opt = train.LossScaleOptimizer(opt)  # Keras 3: dynamic loss scaling under mixed
        _check_loss_weights_type(loss_weights)
        if self._outputs_unknown():
            # a subclassed model before its first batch: check the names now, resolve later
            if loss is None:
                raise ValueError("compile: a loss is required, e.g. loss='meanSquaredError'")
            for v in loss.values() if isinstance(loss, Mapping) else _as_seq(loss):
                losses_mod.get(v)
            for ms in (metrics, weighted_metrics):
                vals = ms.values() if isinstance(ms, Mapping) else _as_seq(ms)
                for m in (e for v in vals for e in _as_seq(v)):
                    if not metrics_mod.is_per_output(m):
                        metrics_mod.get(m)
            self._pending_compile = (loss, metrics, loss_weights, weighted_metrics)
            self.loss_functions, self._metric_entries, self._weighted_entries = [], [], []
            self._loss_weights = None
            self.metrics_names = ["loss"]
        else:
            self._resolve_compile(loss, metrics, loss_weights, weighted_metrics)
        self.optimizer = opt
        self.loss = loss
        self.compile_metrics = metrics
        self.loss_weights = loss_weights
        self.weighted_metrics = weighted_metrics
        self.jit = bool(jit)
        self._traces = {
            "train": TraceCache("train step"),
            "test": TraceCache("test step"),
            "predict": TraceCache("predict step"),
        }
        self.is_compiled = True

    def _mixed_float16(self) -> bool:
        """Whether the model or one of its layers has the ``mixed_float16`` dtype policy."""
        walk = getattr(self, "_walk", None)
        layers_ = [self, *(walk() if walk is not None else ())]
        return any(
            getattr(lay.__dict__.get("_dtype_policy"), "name", None) == "mixed_float16"
            for lay in layers_
        )

    def _loss_scaled(self) -> bool:
        """True when the optimizer scales the loss (``LossScaleOptimizer``): its train steps
        run eagerly, since skipping a step on overflow reads one bool on the host (logged
        once on ``tensorweave.trace``)."""
        if not hasattr(self.optimizer, "scale_loss"):
            return False
        if self.jit and not self.__dict__.get("_loss_scale_logged"):
            self._loss_scale_logged = True
            _trace_log.info(
                "model %r uses a LossScaleOptimizer: its train steps run eagerly, not traced "
                "(a step whose gradients overflow is skipped on the host)",
                self.name,
            )
        return True

    def _as_inputs(self, x: Any) -> list[Tensor]:
        """``x`` as one float32 Tensor per model input (``layers.data.as_input_list``)."""
        return as_input_list(x, self)

    def _outputs_unknown(self) -> bool:
        """True while the model's outputs are not known (a subclassed model before it ran)."""
        return False

    def _resolve_compile(
        self, loss: Any, metrics: Any, loss_weights: Any, weighted_metrics: Any
    ) -> None:
        """Resolve losses, loss weights and metrics against the outputs; set them together."""
        names = list(self.output_names)
        shapes = [tuple(s) for s in self.output_shapes]
        loss_fns = self._resolve_losses(loss, names)
        lw = _resolve_loss_weights(loss_weights, names)
        metric_entries = self._resolve_metrics(metrics, names, shapes, loss_fns)
        weighted = self._resolve_metrics(weighted_metrics, names, shapes, loss_fns)
        multi = len(names) > 1
        taken = {e[1] for e in metric_entries}
        weighted_entries = []
        for i, logged, fn in weighted:
            if logged in taken:  # Keras 3: a name metrics already logs gets "weighted_"
                prefix = f"{names[i]}_" if multi else ""
                logged = prefix + "weighted_" + logged[len(prefix) :]
            taken.add(logged)
            weighted_entries.append((i, logged, fn))
        self.loss_functions = loss_fns
        self._loss_weights = lw
        self._metric_entries = metric_entries
        self._weighted_entries = weighted_entries
        self._pending_compile = None
        self.metrics_names = (
            ["loss"]
            + ([f"{n}_loss" for n in names] if multi else [])
            + [e[1] for e in metric_entries]
            + [e[1] for e in weighted_entries]
        )

    def _finish_compile(self) -> None:
        """Resolve a compile that waited for the model's outputs (subclassed models)."""
        pending = self.__dict__.get("_pending_compile")
        if pending is not None and not self._outputs_unknown():
            self._resolve_compile(*pending)

    @property
    def _n_values(self) -> int:
        """Length of a step's value vector: the logged values, then one weight sum per
        weighted metric (``_present`` turns it into the logged values)."""
        return len(self.metrics_names) + len(self.__dict__.get("_weighted_entries") or ())

    def _present(self, x: np.ndarray) -> np.ndarray:
        """The logged values from a step's value vector (or a sum or mean of them): each
        weighted metric's weighted sum divided by its weight sum (0 when the weights sum
        to 0, as Keras's ``divide_no_nan``)."""
        k = len(self.__dict__.get("_weighted_entries") or ())
        n = len(self.metrics_names)
        if not k:
            return x
        out = np.array(x[:n], dtype=np.float64)
        den = np.asarray(x[n : n + k], dtype=np.float64)
        safe = np.where(den != 0, den, 1.0)
        out[n - k : n] = np.where(den != 0, out[n - k : n] / safe, 0.0)
        return out

    @staticmethod
    def _resolve_losses(loss: Any, names: list[str]) -> list:
        n = len(names)
        if isinstance(loss, Mapping):
            unknown = sorted(set(loss) - set(names))
            if unknown:
                raise ValueError(
                    f"compile: loss dict has keys {unknown} that are not outputs; outputs: {names}"
                )
            missing = [k for k in names if k not in loss]
            if missing:
                raise ValueError(
                    f"compile: loss dict lacks outputs {missing}; give a loss for every output {names}"
                )
            return [losses_mod.get(loss[k]) for k in names]
        if isinstance(loss, (list, tuple)):
            if len(loss) != n:
                raise ValueError(
                    f"compile: got {len(loss)} losses for a model with {n} output(s) {names}; "
                    "give one per output, a dict by output name, or a single loss for all"
                )
            return [losses_mod.get(v) for v in loss]
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='meanSquaredError'")
        fn = losses_mod.get(loss)
        return [fn] * n

    @staticmethod
    def _resolve_metrics(
        metrics: Any, names: list[str], shapes: list[tuple], loss_fns: list
    ) -> list:
        """[(output index, logged name, function)], outputs in order, then metrics in order."""
        n = len(names)
        if metrics is None:
            per = [[] for _ in names]
        elif isinstance(metrics, Mapping):
            unknown = sorted(set(metrics) - set(names))
            if unknown:
                raise ValueError(
                    f"compile: metrics dict has keys {unknown} that are not outputs; outputs: {names}"
                )
            per = []
            for k in names:
                v = metrics.get(k, [])
                per.append(list(v) if isinstance(v, (list, tuple)) else [v])
        else:
            items = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
            per = [items for _ in names]
        entries = []
        for i, items in enumerate(per):
            for m in items:
                if metrics_mod.is_per_output(m):
                    fn = metrics_mod.resolve_per_output(m, shapes[i], loss_fns[i])
                    short = metrics_mod.PER_OUTPUT[m.lower()]
                else:
                    fn = metrics_mod.get(m)
                    short = m if isinstance(m, str) else getattr(m, "__name__", type(m).__name__)
                entries.append((i, f"{names[i]}_{short}" if n > 1 else short, fn))
        return entries

    # --- overridable steps (Keras 3) ---------------------------------------------------------
    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on one batch; override it to customise training (Keras 3).

        ``fit`` (and ``train_on_batch``) call it once per batch with ``data = (x, y)`` or
        ``(x, y, sample_weight)`` (the weights include ``class_weight``): Tensors, a list of
        them for several inputs/outputs. It returns a dict of logs (Tensors or numbers);
        ``fit`` logs, per epoch, the batch-size-weighted mean of each value. The built-in
        step (this method, which an override may call with ``super().train_step(data)``)
        computes the compiled loss, applies one optimizer step and returns the loss and
        metrics. An overridden step runs eagerly (not traced: the reason is logged once on
        ``tensorweave.trace``). Inside one, use ``self(x, training=True)`` for the forward
        pass, ``self.compute_loss(x, y, y_pred, sample_weight)`` for the compiled loss,
        ``tw.Tape`` (or ``tw.variable_grads``) for gradients,
        ``self.optimizer.apply_gradients(zip(grads, variables))`` for the update and
        ``self.compute_metrics(x, y, y_pred, sample_weight)`` for the compiled metrics.

        Args:
            data: The batch: ``(x, y)`` or ``(x, y, sample_weight)``.

        Returns:
            ``{name: value}``: the built-in step gives ``metrics_names``'s values as floats.

        Example:

        >>> import numpy as np
        >>> class Counting(layers.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.d = layers.dense(units=1)
        ...         self.steps = 0
        ...     def call(self, inputs, training=None):
        ...         return self.d(inputs)
        ...     def train_step(self, data):
        ...         x, y = data[0], data[1]
        ...         sw = data[2] if len(data) == 3 else None
        ...         params = self.trainable_weights
        ...         with tw.Tape(watch=params) as tape:
        ...             y_pred = self(x, training=True)
        ...             loss = self.compute_loss(x, y, y_pred, sw)
        ...         grads = tape.gradient(loss, params)
        ...         self.optimizer.apply_gradients(zip(grads, params))
        ...         self.steps += 1
        ...         return {"loss": loss, **self.compute_metrics(x, y, y_pred, sw), "steps": self.steps}
        >>> m = Counting()
        >>> m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        >>> h = m.fit(np.ones((8, 2)), np.zeros((8, 1)), batch_size=4, epochs=1, verbose=0)
        >>> m.steps, sorted(h.history)
        (2, ['loss', 'mae', 'steps'])
        """
        d = self._step_data(data, "train_step")
        with self._steps_lock():
            vals = self._present(self._train_values(d).numpy())
        return dict(zip(self._logged_names(), (float(v) for v in vals), strict=False))

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step on one batch; override it to customise ``evaluate`` and
        validation (Keras 3).

        Called with ``(x, y)`` or ``(x, y, sample_weight)`` as ``train_step``; returns a dict
        of logs, averaged over the batches by batch size (``val_``-prefixed in ``fit``).
        An overridden step runs eagerly. The built-in step returns the compiled loss
        (without regularisation) and metrics.

        Args:
            data: The batch: ``(x, y)`` or ``(x, y, sample_weight)``.

        Returns:
            ``{name: value}``.

        Example:

        >>> import numpy as np
        >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
        >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        >>> sorted(model.test_step((tw.ones([4, 2]), tw.zeros([4, 1]))))
        ['loss', 'mae']
        """
        d = self._step_data(data, "test_step")
        with self._steps_lock():
            vals = self._present(self._test_values(d).numpy())
        return dict(zip(self._logged_names(), (float(v) for v in vals), strict=False))

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Tensor:
        """The compiled loss of one batch, for a custom ``train_step`` (Keras 3).

        ``sum_i loss_weight_i * mean(loss_i(y_i, y_pred_i) * sample_weight)`` over the
        outputs, plus, when ``training``, the regularisation penalties of the weights and
        of the last forward pass; gradients flow through it.

        Args:
            x: The inputs (unused; accepted for Keras's signature).
            y: The targets: a Tensor/array, or a list/dict for several outputs.
            y_pred: The model's outputs for the batch (``self(x, training=True)``).
            sample_weight: ``None``, per-sample weights (shape ``(batch,)``), or a list
                with one (or None) per output.
            training: Add the regularisation penalties.

        Returns:
            A scalar Tensor.

        Raises:
            RuntimeError: The model is not compiled.
            ValueError: ``y`` or ``sample_weight`` does not match the outputs.

        Example:

        >>> model = layers.sequential([layers.dense(units=1, input_shape=[2], kernel_initializer="ones")])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> x = tw.ones([2, 2])
        >>> model.compute_loss(x, tw.zeros([2, 1]), model(x)).item()
        4.0
        """
        self._check_compiled("compute_loss")
        if y_pred is None:
            raise ValueError("compute_loss: y_pred is required (the model's outputs for x)")
        outs = self._flat_preds(y_pred)
        ys = self._targets(y)
        per_out = self._losses(outs, _Data([], ys, self._step_weights(sample_weight, ys)))
        total = self._total(per_out)
        if training:
            for r in self.regularization_losses():
                total = tw.add(total, tw.sum(r))
        return total

    def compute_metrics(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> dict[str, Tensor]:
        """The compiled metrics (and weighted metrics) of one batch, for a custom step.

        Args:
            x: The inputs (unused; accepted for Keras's signature).
            y: The targets, as for ``compute_loss``.
            y_pred: The model's outputs for the batch.
            sample_weight: Weights for the ``weighted_metrics``, as for ``compute_loss``.

        Returns:
            ``{logged name: scalar Tensor}``, in ``metrics_names`` order (losses excluded).

        Raises:
            RuntimeError: The model is not compiled.

        Example:

        >>> model = layers.sequential([layers.dense(units=1, input_shape=[2], kernel_initializer="ones")])
        >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        >>> x = tw.ones([2, 2])
        >>> {k: v.item() for k, v in model.compute_metrics(x, tw.zeros([2, 1]), model(x)).items()}
        {'mae': 2.0}
        """
        self._check_compiled("compute_metrics")
        outs = self._flat_preds(y_pred)
        ys = self._targets(y)
        d = _Data([], ys, self._step_weights(sample_weight, ys))
        out: dict[str, Tensor] = {}
        for i, name, fn in self._metric_entries:
            out[name] = tw.mean(fn(ys[i], outs[i]))
        for i, name, fn in self.__dict__.get("_weighted_entries") or ():
            num, den = metrics_mod.weighted_terms(fn, ys[i], outs[i], d.ws[i])
            nonzero = tw.greater(tw.abs(den), 0.0)
            out[name] = tw.where(nonzero, tw.div(num, tw.where(nonzero, den, 1.0)), 0.0)
        return out

    def _flat_preds(self, y_pred: Any) -> list[Tensor]:
        flat = getattr(self, "_flat_outputs", None)
        preds = flat(y_pred) if flat is not None else _as_seq(y_pred)
        return [p if isinstance(p, Tensor) else _convert(p, "y_pred") for p in preds]

    def _step_weights(self, sample_weight: Any, ys: list[Tensor]) -> list[Tensor | None]:
        """Per-output weight Tensors from a step's ``sample_weight`` (None, one array for
        every output, or a list with one, or None, per output)."""
        n = len(ys)
        if sample_weight is None:
            return [None] * n
        if isinstance(sample_weight, (list, tuple)) and n > 1:
            if len(sample_weight) != n:
                raise ValueError(
                    f"sample_weight is a list of {len(sample_weight)} entries for {n} outputs; "
                    "give one (or None) per output"
                )
            parts = list(sample_weight)
        else:
            parts = [sample_weight] * n
        out: list[Tensor | None] = []
        for w, y in zip(parts, ys, strict=True):
            if w is None:
                out.append(None)
                continue
            t = _convert(w, "sample_weight")
            if t.size != y.shape[0]:
                raise ValueError(
                    f"sample_weight has {t.size} values but there are {y.shape[0]} samples; "
                    "give one weight per sample"
                )
            out.append(tw.reshape(t, (y.shape[0],)))
        return out

    def _step_data(self, data: Any, what: str) -> _Data:
        """A step's ``(x, y)`` / ``(x, y, sample_weight)`` as a ``_Data``."""
        if not isinstance(data, (list, tuple)) or len(data) not in (2, 3):
            raise ValueError(
                f"{what}: data must be (x, y) or (x, y, sample_weight), got "
                f"{type(data).__name__}"
                + (f" of length {len(data)}" if isinstance(data, (list, tuple)) else "")
            )
        self._check_compiled(what)
        xs = self._as_inputs(data[0])
        ys = self._targets(data[1])
        return _Data(xs, ys, self._step_weights(data[2] if len(data) == 3 else None, ys))

    def _custom_step(self, kind: str) -> bool:
        """True when the model's class overrides ``train_step`` / ``test_step``."""
        name = f"{kind}_step"
        return getattr(type(self), name) is not getattr(TrainingMixin, name)

    def _run_custom(self, kind: str, d: _Data) -> dict[str, float]:
        """An overridden ``train_step``/``test_step`` on one batch, eagerly, inside
        ``tw.tidy``; its logs as floats."""
        seen = self.__dict__.setdefault("_custom_logged", set())
        if self.jit and kind not in seen:
            seen.add(kind)
            _trace_log.info(
                "model %r overrides %s_step: its steps run eagerly, not traced (a user "
                "step may read values on the host or return Python numbers)",
                self.name,
                kind,
            )
        call_arg = getattr(self, "_call_arg", None)
        x = (
            call_arg(d.xs)
            if call_arg is not None and getattr(self, "_subclassed_model", False)
            else (d.xs[0] if len(d.xs) == 1 else list(d.xs))
        )
        y = d.ys[0] if len(d.ys) == 1 else list(d.ys)
        if all(w is None for w in d.ws):
            data: tuple = (x, y)
        else:
            data = (x, y, d.ws[0] if len(d.ws) == 1 else list(d.ws))
        step = self.train_step if kind == "train" else self.test_step
        out: dict[str, float] = {}

        def body() -> None:
            logs = step(data)
            if not isinstance(logs, Mapping):
                raise TypeError(
                    f"{type(self).__name__}.{kind}_step must return a dict of logs "
                    f"{{name: value}}, got {type(logs).__name__}"
                )
            for k, v in logs.items():
                out[str(k)] = _log_float(v, f"{kind}_step log {k!r}")

        with self._steps_lock():
            tw.tidy(body)
        self.__dict__.setdefault("_custom_names", {})[kind] = list(out)
        return out

    def _evaluate_custom(
        self, d: _Data, batch_size: int, cb: cbks.CallbackList | None
    ) -> dict[str, float]:
        """``_evaluate_data`` with an overridden ``test_step``: its logs' size-weighted means."""
        if cb is not None:
            cb.on_test_begin({})
        sums = _LogSums()
        for k, start in enumerate(range(0, d.n, batch_size)):
            stop = min(start + batch_size, d.n)
            logs: dict[str, Any] = {"batch": k, "size": stop - start}
            if cb is not None:
                cb.on_test_batch_begin(k, dict(logs))
            step_logs = self._run_custom("test", d.take(None, start, stop))
            sums.add(step_logs, stop - start)
            logs.update(step_logs)
            if cb is not None:
                cb.on_test_batch_end(k, logs)
        means = {k: v / d.n for k, v in sums.sums.items()}
        if cb is not None:
            cb.on_test_end(dict(means))
        return means

    def _eval_names(self) -> list[str]:
        """The names of ``evaluate``'s values (an overridden test_step's log keys)."""
        if self._custom_step("test"):
            return list(self.__dict__.get("_custom_names", {}).get("test", []))
        return self._logged_names()

    def _check_compiled(self, what: str) -> None:
        if not self.is_compiled:
            raise RuntimeError(
                f"{what}: the model is not compiled; call model.compile(optimizer=..., loss=...) "
                f"before {what}"
            )
        self._finish_compile()

    # --- data conversion ------------------------------------------------------------------------
    def _targets(self, y: Any) -> list[Tensor]:
        names = list(self.output_names)
        parts = split_inputs(y, names, "target")
        out = []
        for i, (p, name) in enumerate(zip(parts, names, strict=False)):
            t = _convert(p, f"target {name!r}")
            if t.rank == 1:
                t = tw.reshape(t, (t.shape[0], 1))
            out_shape = tuple(self.output_shapes[i])
            fn = self.loss_functions[i]
            if fn is losses_mod.sparse_categorical_crossentropy:
                expected = out_shape[:-1] + (1,)
                if t.rank == len(expected) - 1:  # (N, T) labels for (N, T, C) outputs
                    t = tw.reshape(t, t.shape + (1,))
            elif losses_mod.canonical_name(fn) is not None:
                expected = out_shape
            else:
                expected = (None,) + tuple(None for _ in t.shape[1:])
            if len(t.shape) != len(expected) or any(
                e is not None and e != g for e, g in zip(expected[1:], t.shape[1:], strict=False)
            ):
                raise ValueError(
                    f"target for output {name!r}: expected shape {_shape_str(expected)} (the "
                    f"model's output has shape {_shape_str(out_shape)}), received an array of shape "
                    f"{_shape_str(t.shape)}"
                )
            out.append(t)
        return out

    def _weights(
        self, ys: list[Tensor], sample_weight: Any, class_weight: Any
    ) -> list[Tensor | None]:
        names = list(self.output_names)
        n_out = len(names)
        sws: list[Any] = [None] * n_out
        if sample_weight is not None:
            if isinstance(sample_weight, Mapping) or (
                isinstance(sample_weight, (list, tuple)) and n_out > 1
            ):
                sws = split_inputs(sample_weight, names, "sample_weight")
            else:
                sws = [sample_weight] * n_out
        cws = _standardize_class_weight(class_weight, names)
        out: list[Tensor | None] = []
        for i, (y, sw, cw) in enumerate(zip(ys, sws, cws, strict=False)):
            w = None
            if sw is not None:
                arr = sw.numpy() if isinstance(sw, Tensor) else np.asarray(sw, dtype=np.float32)
                arr = arr.astype(np.float32).reshape(-1)
                if arr.shape[0] != y.shape[0]:
                    raise ValueError(
                        f"sample_weight for output {names[i]!r} has {arr.shape[0]} values but there are "
                        f"{y.shape[0]} samples; give one weight per sample"
                    )
                w = arr
            if cw is not None:
                cwa = _class_weights(y.numpy(), cw, names[i])
                w = cwa if w is None else w * cwa
            out.append(None if w is None else tw.tensor(w, dtype="float32"))
        return out

    def _data(
        self, x: Any, y: Any, sample_weight: Any = None, class_weight: Any = None, what: str = "fit"
    ) -> _Data:
        xs = self._as_inputs(x)
        ys = self._targets(y)
        counts_x = [t.shape[0] for t in xs]
        counts_y = [t.shape[0] for t in ys]
        if len(set(counts_x + counts_y)) > 1:
            raise ValueError(
                f"{what}: x and y must have the same number of samples; x has "
                f"{counts_x[0] if len(counts_x) == 1 else counts_x} and y has "
                f"{counts_y[0] if len(counts_y) == 1 else counts_y}"
            )
        if counts_x[0] == 0:
            raise ValueError(f"{what}: x has no samples")
        return _Data(xs, ys, self._weights(ys, sample_weight, class_weight))

    def _validation(self, validation_data: Any) -> _Data:
        if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be (x, y) or (x, y, sample_weight), got "
                f"{type(validation_data).__name__}"
                + (
                    f" of length {len(validation_data)}"
                    if hasattr(validation_data, "__len__")
                    else ""
                )
            )
        vx, vy = validation_data[0], validation_data[1]
        sw = validation_data[2] if len(validation_data) == 3 else None
        return self._data(vx, vy, sw, None, "validation_data")

    # --- one batch ----------------------------------------------------------------------------------
    def _losses(self, outs: list[Tensor], d: _Data) -> list[Tensor]:
        out = []
        for fn, y, p, w in zip(self.loss_functions, d.ys, outs, d.ws, strict=False):
            per = fn(y, p)
            if per.rank > 1:
                per = tw.mean(per, tuple(range(1, per.rank)))
            if w is not None:
                if per.rank == 0:
                    per = tw.mul(tw.mean(w), per)
                else:
                    per = tw.mul(per, w)
            out.append(tw.mean(per))
        return out

    def _total(self, per_out: list[Tensor]) -> Tensor:
        """``sum_i w_i * loss_i`` with the compiled ``loss_weights`` (Keras)."""
        lw = self.__dict__.get("_loss_weights")
        if lw is None:
            return _sum(per_out)
        return _sum([v if w == 1.0 else tw.mul(v, w) for v, w in zip(per_out, lw, strict=True)])

    def _metric_values(self, outs: list[Tensor], d: _Data) -> list[Tensor]:
        """The metrics' batch means, then for each weighted metric its weighted sum and,
        last, its weight sum (both divided by the batch size; see ``_present``)."""
        values = [tw.mean(fn(d.ys[i], outs[i])) for i, _, fn in self._metric_entries]
        dens = []
        for i, _, fn in self.__dict__.get("_weighted_entries") or ():
            num, den = metrics_mod.weighted_terms(fn, d.ys[i], outs[i], d.ws[i])
            values.append(num)
            dens.append(den)
        return values + dens

    def _train_values(self, d: _Data) -> Tensor:
        """One optimizer step on ``d``; returns the loss (and metrics) as a float32 vector."""
        params = list(self.trainable_weights)
        tape = Tape(watch=params)
        with tape:
            outs = self.run(d.xs, training=True)
            per_out = self._losses(outs, d)
            total = self._total(per_out)
            for r in self.regularization_losses():
                total = tw.add(total, tw.sum(r))
            scale_loss = getattr(self.optimizer, "scale_loss", None)  # LossScaleOptimizer
            target = total if scale_loss is None else scale_loss(total)
        grads = tape.gradient(target, params) if params else []
        stacked = self._stack_logs(total, per_out, outs, d)
        return self._apply(stacked, grads, params)

    def _stack_logs(self, total: Tensor, per_out: list, outs: list, d: _Data) -> Tensor:
        """Loss, per-output losses (several outputs, unweighted) and metrics as one float32
        vector (``_n_values`` long)."""
        values = [total] + (per_out if len(per_out) > 1 else []) + self._metric_values(outs, d)
        return tw.stack([tw.cast(tw.reshape(v, ()), "float32") for v in values])

    def _apply(self, stacked: Tensor | None, grads: list, params: list) -> Tensor | None:
        """Apply the gradients and the constraints; returns ``stacked``. While
        ``layers.distributed.DataParallel`` trains, its hook first combines ``stacked`` and
        the gradients over the ranks (allreduce)."""
        hook = self.__dict__.get("_gradient_hook")
        if hook is not None:
            stacked, grads = hook(stacked, grads, params)
        pairs = [(g, v) for g, v in zip(grads, params, strict=False) if g is not None]
        if pairs:
            self.optimizer.apply_gradients(pairs)
            self.apply_constraints()
        return stacked

    def _test_values(self, d: _Data) -> Tensor:
        outs = self.run(d.xs, training=False)
        per_out = self._losses(outs, d)
        return self._stack_logs(self._total(per_out), per_out, outs, d)

    def _steps_lock(self) -> threading.RLock:
        """The lock every forward/train/test step of this model holds: steps from several
        threads run one at a time, so a predict beside ``fit`` sees the weights between two
        optimizer steps and concurrent predicts never share a step's buffers."""
        lock = self.__dict__.get("_steps_lock_")
        if lock is None:
            with _LOCK_GUARD:
                lock = self.__dict__.setdefault("_steps_lock_", threading.RLock())
        return lock

    def _train_step(self, d: _Data) -> np.ndarray:
        """One eager optimizer step; the logs come back to the host."""
        with self._steps_lock():
            return tw.tidy(lambda: self._train_values(d).numpy())

    def _test_step(self, d: _Data) -> np.ndarray:
        with self._steps_lock():
            return tw.tidy(lambda: self._test_values(d).numpy())

    def _traced(self, kind: str, d: _Data, acc: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(values, acc + values * batch size)`` for one batch, through the trace cache of
        ``kind`` ("train" or "test")."""
        n_x, n_y = len(d.xs), len(d.ys)
        mask = tuple(w is not None for w in d.ws)
        size = float(d.n)
        if acc is None:
            acc = tw.zeros([self._n_values])
        args = [*d.xs, *d.ys, *(w for w in d.ws if w is not None), acc]
        body = self._train_values if kind == "train" else self._test_values

        def fn(*a: Tensor) -> tuple[Tensor, Tensor]:
            def inner() -> tuple[Tensor, Tensor]:
                ws_it = iter(a[n_x + n_y : -1])
                ws = [next(ws_it) if m else None for m in mask]
                dd = _Data(list(a[:n_x]), list(a[n_x : n_x + n_y]), ws)
                values = body(dd)
                return values, tw.add(a[-1], tw.mul(values, size))

            return tw.tidy(inner)

        with self._steps_lock():
            cache, sig = self._traces[kind], self._signature(kind, args, mask)
            if sig in cache.traces:
                return cache(sig, fn, args)
            # a new step: its capture, and on a machine's first run the kernels' compiles
            with activity.working(f"preparing the {kind} step (tracing, compiling kernels)"):
                return cache(sig, fn, args)

    def _traced_steps(
        self,
        kind: str,
        data: _Data,
        rows: Callable[[], _Data],
        size: int,
        steps: int,
        acc: Tensor | None,
        steps_left: int | None = None,
    ) -> tuple[Tensor, Tensor] | None:
        """Like ``_traced`` for ``steps`` consecutive batches of ``size`` rows, in one call of
        the engine's traced execution (``TraceCache.run_steps``): ``rows()`` gives those rows
        of ``data`` in batch order, and is only called when the steps run. None when nothing
        ran. ``steps_left``: the steps this fit still runs, these included (the backend's
        compile cost model weighs a compile against them)."""
        mask = tuple(w is not None for w in data.ws)
        full = [*data.xs, *data.ys, *(w for w in data.ws if w is not None)]
        shapes = [((size,) + t.shape[1:], t.dtype) for t in full]
        shapes.append(((self._n_values,), "float32") if acc is None else (acc.shape, acc.dtype))
        n_args = len(shapes)

        def args() -> list[Tensor]:
            d = rows()
            a = acc if acc is not None else tw.zeros([self._n_values])
            return [*d.xs, *d.ys, *(w for w in d.ws if w is not None), a]

        ranges = [(k * size, (k + 1) * size) for k in range(steps)]
        with self._steps_lock():
            return self._traces[kind].run_steps(
                self._signature(kind, shapes, mask),
                args,
                range(n_args - 1),
                ranges,
                {1: n_args - 1},
                steps_left=steps_left,
            )

    def _signature(self, kind: str, args: list, mask: tuple) -> tuple:
        """The trace key of a step; ``args`` are its tensors or their ``(shape, dtype)``."""
        return (
            kind,
            tuple(a if type(a) is tuple else (a.shape, a.dtype) for a in args),
            mask,
            registry.get_backend(),
            id(self.optimizer),
            tuple(id(v) for v in self.trainable_weights) if kind == "train" else (),
        )

    def _forward(self, xs: list[Tensor]) -> list[Tensor]:
        """``run(xs, training=False)``, traced when the model was compiled with ``jit``."""
        with self._steps_lock():
            if not self.jit:
                return self.run(xs, training=False)
            key = ("predict", tuple((t.shape, t.dtype) for t in xs), registry.get_backend())
            return self._traces["predict"](
                key, lambda *a: tw.tidy(lambda: list(self.run(list(a), training=False))), xs
            )

    def _running_logs(self) -> dict[str, float] | None:
        """The running epoch means (jit mode; one device read), for the progress bar."""
        r = self._running
        if r is None or r.acc is None or not r.count:
            return None
        return dict(
            zip(
                self._logged_names(),
                (float(v) for v in self._present(r.sums() / r.count)),
                strict=False,
            )
        )

    def _logged_names(self) -> list[str]:
        """``metrics_names`` as logged (history, callbacks): repeats numbered ``_0``, ``_1``,
        ... as TF.js does (``metrics=["acc", "acc"]`` logs ``acc_0`` and ``acc_1``)."""
        return _dedupe_names(self.metrics_names)

    def _evaluate_data(
        self, d: _Data, batch_size: int, cb: cbks.CallbackList | None = None
    ) -> np.ndarray:
        """The mean loss and metrics over ``d``; with ``cb``, its test hooks are called
        (``on_test_begin``, per batch when some callback has test batch hooks, and
        ``on_test_end`` with the values)."""
        if self._custom_step("test"):
            return self._evaluate_custom(d, batch_size, cb)
        if cb is None:
            return self._evaluate_batches(d, batch_size)
        cb.on_test_begin({})
        if cb.watches("on_test_batch_begin", "on_test_batch_end"):
            values = cb.watches("on_test_batch_end")
            names = self._logged_names()
            sums = np.zeros(len(names), dtype=np.float64)
            acc = None
            for k, start in enumerate(range(0, d.n, batch_size)):
                stop = min(start + batch_size, d.n)
                logs: dict[str, Any] = {"batch": k, "size": stop - start}
                cb.on_test_batch_begin(k, dict(logs))
                part = d.take(None, start, stop)
                if self.jit:
                    vals, acc = self._traced("test", part, acc)
                    if values:
                        shown = self._present(vals.numpy())
                        logs.update(zip(names, (float(v) for v in shown), strict=False))
                else:
                    vals = self._test_step(part)
                    sums += vals.astype(np.float64) * (stop - start)
                    logs.update(zip(names, (float(v) for v in self._present(vals)), strict=False))
                cb.on_test_batch_end(k, logs)
            result = (acc.numpy().astype(np.float64) if acc is not None else sums) / d.n
            result = self._present(result)
        else:
            result = self._evaluate_batches(d, batch_size)
        cb.on_test_end(dict(zip(self._logged_names(), (float(v) for v in result), strict=False)))
        return result

    def _evaluate_batches(self, d: _Data, batch_size: int) -> np.ndarray:
        if self.jit:
            acc = None
            start = 0
            while start < d.n:
                full = min((d.n - start) // batch_size, STEPS_PER_CALL)
                if full >= 2:  # equal batches in one call of the traced step when possible
                    first, end = start, start + full * batch_size
                    res = self._traced_steps(
                        "test",
                        d,
                        functools.partial(d.take, None, first, end),
                        batch_size,
                        full,
                        acc,
                    )
                    if res is not None:
                        acc = res[1]
                        start += full * batch_size
                        continue
                stop = min(start + batch_size, d.n)
                _, acc = self._traced("test", d.take(None, start, stop), acc)
                start = stop
            return self._present(acc.numpy().astype(np.float64) / d.n)
        sums = np.zeros(self._n_values, dtype=np.float64)
        for start in range(0, d.n, batch_size):
            stop = min(start + batch_size, d.n)
            sums += self._test_step(d.take(None, start, stop)).astype(np.float64) * (stop - start)
        return self._present(sums / d.n)

    # --- fit ---------------------------------------------------------------------------------------
    def fit(
        self,
        x: DataLike | Iterable[Any],
        y: DataLike | None = None,
        batch_size: int = 32,
        epochs: int = 1,
        verbose: int = 1,
        callbacks: Sequence[cbks.Callback] | cbks.Callback | None = None,
        validation_split: float = 0.0,
        validation_data: Sequence[DataLike] | None = None,
        shuffle: bool | str = True,
        class_weight: Mapping | None = None,
        sample_weight: TensorLike | None = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
    ) -> cbks.History:
        """Train the model on arrays or batches for a fixed number of epochs (TF.js ``fit``).

        Each batch runs one optimizer step inside ``tw.tidy``. Epoch logs hold the
        batch-size-weighted means of the loss and metrics (``val_``-prefixed for validation).

        Threads: ``predict``/``evaluate`` on this model from other threads during ``fit`` are
        safe: every step of the model holds its lock, so they run between two optimizer steps
        (or runs of steps) and see one consistent set of weights, and the fit is unaffected.
        A second ``fit`` of the same model while one runs raises ``RuntimeError`` at once.

        Data as Keras: arrays ``x``/``y``, or in ``x`` alone a ``layers.data.Dataset``, a
        generator or any iterable of batches (``(x, y)``, ``(x, y, sample_weight)`` or
        ``{"xs": x, "ys": y}``). A dataset gives one pass per epoch (``batch_size`` and
        ``shuffle`` do not apply: ``batch`` and ``shuffle`` it); with ``steps_per_epoch``,
        epochs draw that many batches from one running iterator (needed with ``repeat()``; a
        finite dataset or list starts a new pass when it runs out). A generator can be read
        only once: without ``steps_per_epoch`` it trains one epoch, then training stops
        with a "ran out of data" warning, as Keras.

        Args:
            x: Input data: a Tensor, numpy array or nested list for a single-input model; a
                list of them (one per input) or a dict keyed by input name otherwise; or a
                dataset of batches (above).
            y: Targets, shaped like the model's outputs (list/dict for several outputs);
                ``None`` when ``x`` is a dataset.
            batch_size: Samples per optimizer step (positive int; the last batch may be
                smaller). Also the batch size of array ``validation_data``.
            epochs: Index of the epoch to stop at (trains epochs ``initial_epoch`` to
                ``epochs - 1``).
            verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
            callbacks: A ``layers.callbacks.Callback`` or a list of them (``EarlyStopping``,
                ``ModelCheckpoint``, ``CSVLogger``, ...), or TF.js's dict of hook functions
                (``{"onEpochEnd": fn}``, ``{"on_epoch_end": fn}``) or a list of such dicts.
                Every Keras hook is called (the test hooks around each validation run).
            validation_split: Fraction in (0, 1) of the samples, taken from the end before
                shuffling (as TF.js), held out for validation. Ignored when
                ``validation_data`` is given.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``, or
                a dataset of batches, evaluated at the end of every epoch.
            shuffle: Shuffle the training samples before every epoch (``"batch"`` counts as
                ``True``). Arrays only.
            class_weight: ``{class index: weight}`` (or, as TF.js, a list of weights indexed
                by class: ``[1, 2, 0.5]``) scaling each sample's loss by its target
                class; for several outputs, a dict keyed by output name or a list with one
                per output.
            sample_weight: Per-sample loss weights, shape ``(samples,)`` (arrays only; a
                dataset's batches carry their own).
            initial_epoch: The epoch to start at (to resume an earlier run).
            steps_per_epoch: Batches per epoch; default ``ceil(samples / batch_size)``, or
                one pass over a dataset.
            validation_steps: Batches of a validation dataset evaluated per epoch (required
                for an endless one); ``None`` reads one pass.

        Returns:
            A ``layers.History`` whose ``history`` maps every logged name (``"loss"``,
            metric names, ``"val_loss"``, ...) to a list of per-epoch floats and whose
            ``epoch`` lists the epochs run.

        Raises:
            RuntimeError: The model is not compiled.
            ValueError: Bad ``batch_size``, ``validation_split`` or ``steps_per_epoch``,
                ``x``/``y`` shapes or sample counts that do not match the model, ``y`` missing
                for arrays or given with a dataset, or an endless dataset without
                ``steps_per_epoch``.

        Example:

        >>> import numpy as np
        >>> model = layers.sequential([layers.dense(units=1, input_shape=[3])])
        >>> model.compile(optimizer="sgd", loss="meanSquaredError")
        >>> history = model.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=2, verbose=0)
        >>> history.epoch, len(history.history["loss"])
        ([0, 1], 2)
        """
        self._check_compiled("fit")
        batch_size = _positive_int(batch_size, "fit: batch_size")
        epochs, initial_epoch, verbose = _count_args("fit", epochs, initial_epoch, verbose)
        if steps_per_epoch is not None:
            steps_per_epoch = _positive_int(steps_per_epoch, "fit: steps_per_epoch")
        if validation_steps is not None:
            validation_steps = _positive_int(validation_steps, "fit: validation_steps")
        if _is_batches(x, y):
            if y is not None:
                raise ValueError(
                    "fit: y must not be given when x is a dataset, generator or iterable of "
                    "batches (each batch carries its targets: (x, y) or {'xs': x, 'ys': y})"
                )
            if sample_weight is not None:
                raise ValueError(
                    "fit: sample_weight cannot be used with a dataset; give per-sample weights "
                    "as each batch's third entry, (x, y, sample_weight)"
                )
            if validation_split:
                raise ValueError(
                    f"fit: validation_split={validation_split!r} needs arrays; with a dataset, "
                    "pass validation_data (arrays or another dataset)"
                )
            return _fit_batches(
                self,
                "fit",
                x,
                epochs=epochs,
                initial_epoch=initial_epoch,
                verbose=verbose,
                callbacks=callbacks,
                steps=steps_per_epoch,
                steps_name="steps_per_epoch",
                class_weight=class_weight,
                validation_data=validation_data,
                validation_steps=validation_steps,
                validation_batch_size=batch_size,
            )
        if y is None:
            raise ValueError(
                "fit: y (the targets) is required when x is an array; or pass a layers.data "
                "Dataset, a generator or a list of (x, y) batches as x"
            )
        data = self._data(x, y, sample_weight, class_weight, "fit")
        val: _Data | None = None
        if validation_data is not None:
            val = self._validation(validation_data)
        elif validation_split:
            data, val = _split_validation(
                data, validation_split, "fit", "; use a smaller split or more data"
            )
        n = data.n
        steps = steps_per_epoch or math.ceil(n / batch_size)
        batches = _BatchStream(n, batch_size, bool(shuffle), steps_per_epoch)
        params = {
            "epochs": epochs,
            "initial_epoch": initial_epoch,
            "samples": n,
            "steps": steps,
            "batch_size": batch_size,
            "verbose": verbose,
            "do_validation": val is not None,
            "metrics": self._log_names(val is not None),
        }

        def run_epoch(epoch: int, cb: cbks.CallbackList) -> tuple[np.ndarray, int, bool]:
            run = self._running = _Running(self, cb)
            complete = True
            todo = list(batches.epoch())
            together = self.jit and not run.values and not _batch_hooks(cb.callbacks)
            # no batch hook at all (no progress bar either): a run of batches needs no calls
            hooked = cb.implements("on_train_batch_begin", "on_train_batch_end")
            b = 0
            while b < len(todo):
                # runs of equal-size batches go in one call when nothing watches each batch
                left = (epochs - epoch - 1) * steps + len(todo) - b  # this fit's steps to go
                done = run.train_steps(data, todo[b : b + STEPS_PER_CALL], left) if together else 0
                for k in range(b, b + max(done, 1)) if done == 0 or hooked else ():
                    idx, start, stop = todo[k]
                    size = len(idx) if idx is not None else stop - start
                    if hooked:
                        cb.on_batch_begin(k, {"batch": k, "size": size})
                    logs = {"batch": k, "size": size}
                    if not done:
                        logs.update(run.train(data.take(idx, start, stop)))
                    if hooked:
                        cb.on_batch_end(k, logs)
                b += max(done, 1)
                if self.stop_training and b < steps:
                    complete = False
                    break
            self._running = None
            return run.sums(), run.count, complete

        return self._loop(
            run_epoch, epochs, initial_epoch, verbose, callbacks, params, val, batch_size
        )

    def _log_names(self, with_val: bool) -> list[str]:
        names = self._logged_names()
        return names + ([f"val_{k}" for k in names] if with_val else [])

    @_one_fit_at_a_time
    def _loop(
        self, run_epoch, epochs, initial_epoch, verbose, callbacks, params, val, batch_size
    ) -> cbks.History:
        history = cbks.History()
        user = cbks.standardize_callbacks(callbacks, "fit")
        extra = [cbks.ProgressBar(verbose)] if verbose else []
        cb = cbks.CallbackList(extra + user + [history], self, params)
        self.history = history
        self.stop_training = False
        names = self._logged_names()
        last: dict[str, float] = {}
        cb.on_train_begin({})
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch, {})
            ran = run_epoch(epoch, cb)
            if ran is None:  # the input ran out before this epoch's first batch
                break
            sums, count, complete = ran
            logs: dict[str, float] = {}
            if count and isinstance(sums, dict):  # an overridden train_step's logs
                logs.update({k: v / count for k, v in sums.items()})
            elif count:
                logs.update(
                    zip(names, (float(v) for v in self._present(sums / count)), strict=False)
                )
            if val is not None and complete:
                if isinstance(val, _DatasetValidation):
                    vals = val.evaluate(cb)
                else:
                    vals = self._evaluate_data(val, batch_size, cb)
                if isinstance(vals, dict):  # an overridden test_step's logs
                    logs.update({f"val_{k}": v for k, v in vals.items()})
                else:
                    logs.update(
                        zip((f"val_{k}" for k in names), (float(v) for v in vals), strict=False)
                    )
            cb.on_epoch_end(epoch, logs)
            last = logs
            if self.stop_training:
                break
        cb.on_train_end(dict(last))  # as Keras: the last epoch's logs
        return history

    def fit_dataset(
        self,
        dataset: Iterable[Any],
        epochs: int = 1,
        batches_per_epoch: int | None = None,
        validation_data: Any = None,
        verbose: int = 1,
        callbacks: Sequence[cbks.Callback] | cbks.Callback | None = None,
        class_weight: Mapping | None = None,
        initial_epoch: int = 0,
        validation_batch_size: int = 32,
        validation_batches: int | None = None,
    ) -> cbks.History:
        """Train on a dataset of batches (TF.js ``fitDataset``).

        Without ``batches_per_epoch`` every epoch is one pass over the dataset; with it, epochs
        draw that many batches from one running iterator (restarted when a re-iterable
        dataset runs out). A one-shot generator is read once: when it runs out (after the
        first epoch, or within ``batches_per_epoch``), training stops with a warning, as Keras.
        ``model.fit(dataset, steps_per_epoch=...)`` does the same with Keras's names.

        Args:
            dataset: A ``layers.data.Dataset``, a generator or any iterable of batches, each
                ``(x, y)``, ``(x, y, sample_weight)`` or TF.js's ``{"xs": x, "ys": y}``.
            epochs: Index of the epoch to stop at.
            batches_per_epoch: Batches per epoch, or ``None`` for one pass over ``dataset``
                (required for an endless dataset, ``repeat()``).
            validation_data: ``(x, y[, sample_weight])`` arrays or a dataset of batches,
                evaluated at the end of every epoch.
            verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
            callbacks: A ``layers.callbacks.Callback`` or a list of them.
            class_weight: ``{class index: weight}`` scaling each sample's loss.
            initial_epoch: The epoch to start at.
            validation_batch_size: Batch size for array ``validation_data``.
            validation_batches: Batches of a validation dataset evaluated per epoch (TF.js
                ``validationBatches``); ``None`` reads one pass.

        Returns:
            A ``layers.History`` of the per-epoch logs, as ``fit``.

        Raises:
            RuntimeError: The model is not compiled.
            TypeError: ``dataset`` is not iterable.
            ValueError: A bad ``batches_per_epoch``, an endless dataset without it, or a batch
                that does not match the model.

        Example:

        >>> import numpy as np
        >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
        >>> model.compile(optimizer="sgd", loss="meanSquaredError")
        >>> batches = [(np.ones((4, 2)), np.zeros((4, 1)))] * 3
        >>> model.fit_dataset(batches, epochs=2, verbose=0).epoch
        [0, 1]
        """
        self._check_compiled("fit_dataset")
        epochs, initial_epoch, verbose = _count_args("fit_dataset", epochs, initial_epoch, verbose)
        validation_batch_size = _positive_int(
            validation_batch_size, "fit_dataset: validation_batch_size"
        )
        if batches_per_epoch is not None:
            batches_per_epoch = _positive_int(batches_per_epoch, "fit_dataset: batches_per_epoch")
        if validation_batches is not None:
            validation_batches = _positive_int(
                validation_batches, "fit_dataset: validation_batches"
            )
        return _fit_batches(
            self,
            "fit_dataset",
            dataset,
            epochs=epochs,
            initial_epoch=initial_epoch,
            verbose=verbose,
            callbacks=callbacks,
            steps=batches_per_epoch,
            steps_name="batches_per_epoch",
            class_weight=class_weight,
            validation_data=validation_data,
            validation_steps=validation_batches,
            validation_batch_size=validation_batch_size,
        )

    # --- evaluate / train_on_batch ---------------------------------------------------------------------
    def evaluate(
        self,
        x: DataLike | Iterable[Any],
        y: DataLike | None = None,
        batch_size: int = 32,
        verbose: int = 0,
        sample_weight: TensorLike | None = None,
        callbacks: Any = None,
        steps: int | None = None,
    ) -> float | list[float]:
        """The loss and metrics of the model on ``x``/``y``, computed in batches.

        As TF.js, the regularisation penalties are not included in the loss.

        Safe to call from several threads at once (each batch holds the model's lock; the
        results equal serial calls), and beside ``fit`` in another thread.

        Args:
            x: Inputs, as for ``fit``; or a ``layers.data.Dataset``, a generator or an
                iterable of ``(x, y[, sample_weight])`` / ``{"xs": x, "ys": y}`` batches
                (then without ``y``, and ``batch_size`` is not used).
            y: Targets, as for ``fit`` (not with a dataset).
            batch_size: Samples per batch (positive int).
            verbose: Non-zero prints one line with every value.
            sample_weight: Per-sample loss weights, shape ``(samples,)``.
            callbacks: Callbacks (objects, dicts of hook functions, or a list) whose
                ``on_test_begin``/``on_test_end`` (with the values) and
                ``on_test_batch_begin``/``on_test_batch_end`` (with ``batch``, ``size`` and
                the batch's values) are called, as Keras.
            steps: Evaluate at most this many batches (required for an endless dataset);
                ``None`` reads all of ``x``.

        Returns:
            Python floats in ``model.metrics_names`` order: a float when the model logs only
            the loss, else a list ``[loss, *metrics]``. (TF.js returns scalar tensors.)

        Raises:
            RuntimeError: The model is not compiled.
            ValueError: A bad ``batch_size`` or data that does not match the model.

        Example:

        >>> import numpy as np
        >>> model = layers.sequential([layers.dense(units=1, input_shape=[3])])
        >>> model.compile(optimizer="sgd", loss="meanSquaredError", metrics=["mae"])
        >>> loss, mae = model.evaluate(np.ones((8, 3)), np.zeros((8, 1)))
        >>> isinstance(loss, float) and isinstance(mae, float)
        True
        """
        self._check_compiled("evaluate")
        batch_size = _positive_int(batch_size, "evaluate: batch_size")
        verbose = as_int(verbose, "evaluate: verbose", minimum=0)
        user = cbks.standardize_callbacks(callbacks, "evaluate")
        if steps is not None:
            steps = _positive_int(steps, "evaluate: steps")
        if _is_batches(x, y):
            if y is not None or sample_weight is not None:
                raise ValueError(
                    "evaluate: y and sample_weight must not be given when x is a dataset, "
                    "generator or iterable of batches (each batch carries them)"
                )
            source = _DatasetValidation(self, x, steps, "evaluate")
            cb = None
            if user:
                params = {"steps": steps if steps is not None else source.src.steps}
                cb = cbks.CallbackList(user, self, {**params, "verbose": verbose})
            vals = _as_values(source.evaluate(cb))
        else:
            if y is None:
                raise ValueError(
                    "evaluate: y (the targets) is required when x is an array; or pass a "
                    "layers.data Dataset, a generator or a list of (x, y) batches as x"
                )
            vals = self._evaluate_arrays(x, y, batch_size, verbose, sample_weight, user, steps)
        if verbose:
            print(
                " - ".join(f"{k}: {v:.4f}" for k, v in zip(self._eval_names(), vals, strict=False))
            )
        return vals[0] if len(vals) == 1 else vals

    def _evaluate_arrays(
        self,
        x: Any,
        y: Any,
        batch_size: int,
        verbose: int,
        sample_weight: Any,
        user: list,
        steps: int | None,
    ) -> list[float]:
        d = self._data(x, y, sample_weight, None, "evaluate")
        if steps is not None and steps * batch_size < d.n:  # Keras: the first `steps` batches
            d = d.take(None, 0, steps * batch_size)
        cb = None
        if user:
            params = {"batch_size": batch_size, "steps": math.ceil(d.n / batch_size)}
            cb = cbks.CallbackList(user, self, {**params, "samples": d.n, "verbose": verbose})
        return _as_values(self._evaluate_data(d, batch_size, cb))

    def evaluate_dataset(
        self, dataset: Iterable[Any], batches: int | None = None
    ) -> float | list[float]:
        """``evaluate`` over a dataset of batches (TF.js ``evaluateDataset``).

        Args:
            dataset: A ``layers.data.Dataset``, a generator or any iterable of ``(x, y)``,
                ``(x, y, sample_weight)`` or ``{"xs": x, "ys": y}`` batches.
            batches: Evaluate at most this many batches (TF.js ``batches``; required for an
                endless dataset); ``None`` reads one pass.

        Returns:
            A float (loss only) or a list ``[loss, *metrics]``: sample-weighted means over
            every batch, in ``model.metrics_names`` order.

        Raises:
            RuntimeError: The model is not compiled.
            TypeError: ``dataset`` is not iterable.
            ValueError: An endless dataset without ``batches``, or no batches at all.
        """
        self._check_compiled("evaluate_dataset")
        if batches is not None:
            batches = _positive_int(batches, "evaluate_dataset: batches")
        source = _DatasetValidation(self, dataset, batches, "evaluate_dataset", "batches")
        vals = _as_values(source.evaluate())
        return vals[0] if len(vals) == 1 else vals

    def train_on_batch(
        self,
        x: DataLike,
        y: DataLike,
        sample_weight: TensorLike | None = None,
        class_weight: Mapping | None = None,
    ) -> float | list[float]:
        """Run one optimizer step on exactly this batch (TF.js ``trainOnBatch``).

        Args:
            x: The batch's inputs, as for ``fit``.
            y: The batch's targets.
            sample_weight: Per-sample loss weights, shape ``(batch,)``.
            class_weight: ``{class index: weight}`` scaling each sample's loss.

        Returns:
            The loss before the step (a float), or ``[loss, *metrics]`` when metrics are
            compiled.

        Raises:
            RuntimeError: The model is not compiled.
        """
        self._check_compiled("train_on_batch")
        d = self._data(x, y, sample_weight, class_weight, "train_on_batch")
        if self._custom_step("train"):
            vals = list(self._run_custom("train", d).values())
        elif self.jit and not self._loss_scaled():
            vals = [float(v) for v in self._present(self._traced("train", d, None)[0].numpy())]
        else:
            vals = [float(v) for v in self._present(self._train_step(d))]
        return vals[0] if len(vals) == 1 else vals

    def test_on_batch(
        self, x: DataLike, y: DataLike, sample_weight: TensorLike | None = None
    ) -> float | list[float]:
        """The loss and metrics on one batch, without training.

        Args:
            x: The batch's inputs, as for ``fit``.
            y: The batch's targets.
            sample_weight: Per-sample loss weights, shape ``(batch,)``.

        Returns:
            A float (loss only) or a list ``[loss, *metrics]``.

        Raises:
            RuntimeError: The model is not compiled.
        """
        self._check_compiled("test_on_batch")
        d = self._data(x, y, sample_weight, None, "test_on_batch")
        if self._custom_step("test"):
            vals = list(self._run_custom("test", d).values())
        elif self.jit:
            vals = [float(v) for v in self._present(self._traced("test", d, None)[0].numpy())]
        else:
            vals = [float(v) for v in self._present(self._test_step(d))]
        return vals[0] if len(vals) == 1 else vals


class _DatasetValidation:
    """Evaluation over a dataset of batches (``fit``/``fit_dataset`` validation, ``evaluate``):
    one pass, or at most ``steps`` batches; a one-shot generator continues where it stopped."""

    def __init__(
        self,
        model: TrainingMixin,
        dataset: Iterable[Any],
        steps: int | None = None,
        what: str = "validation",
        steps_name: str = "steps",
    ):
        self.model = model
        self.dataset = dataset
        self.steps, self.what = steps, what
        self.src = _BatchSource(dataset, what)
        self.src.check_finite(steps, steps_name)

    def _batches(self) -> Iterator[Any]:
        it = self.src.open()
        try:
            yield from (it if self.steps is None else itertools.islice(it, self.steps))
        finally:
            self.src.close()

    def evaluate(self, cb: cbks.CallbackList | None = None) -> np.ndarray:
        """The mean loss and metrics over every batch; ``cb``'s test hooks are called."""
        m = self.model
        _build_from_first_batch(m, self.src)
        names = m._logged_names()
        values = cb is not None and cb.watches("on_test_batch_end")
        sums = np.zeros(m._n_values, dtype=np.float64)
        acc = None
        count = 0
        if cb is not None:
            cb.on_test_begin({})
        custom = m._custom_step("test")
        custom_sums = _LogSums()
        for k, item in enumerate(self._batches()):
            bx, by, bw = _unpack_batch(item)
            d = m._data(bx, by, bw, None, self.what)
            logs: dict[str, Any] = {"batch": k, "size": d.n}
            if cb is not None:
                cb.on_test_batch_begin(k, dict(logs))
            if custom:
                step_logs = m._run_custom("test", d)
                custom_sums.add(step_logs, d.n)
                logs.update(step_logs)
            elif m.jit:
                vals, acc = m._traced("test", d, acc)
                if values:
                    shown = m._present(vals.numpy())
                    logs.update(zip(names, (float(v) for v in shown), strict=False))
            else:
                vals = m._test_step(d)
                sums += vals.astype(np.float64) * d.n
                logs.update(zip(names, (float(v) for v in m._present(vals)), strict=False))
            if cb is not None:
                cb.on_test_batch_end(k, logs)
            count += d.n
        if count == 0:
            raise ValueError(
                f"{self.what}: the dataset yielded no batches"
                + (
                    " (a generator or iterator can be read only once; pass a layers.data "
                    "Dataset or a list to read it again)"
                    if self.src.one_shot
                    else ""
                )
            )
        if custom:
            means = {k: v / count for k, v in custom_sums.sums.items()}
            if cb is not None:
                cb.on_test_end(dict(means))
            return means
        if acc is not None:
            sums = acc.numpy().astype(np.float64)
        result = m._present(sums / count)
        if cb is not None:
            cb.on_test_end(dict(zip(names, (float(v) for v in result), strict=False)))
        return result


class _Running:
    """One epoch's loss and metric sums: on the host (eager) or in a device vector (jit)."""

    def __init__(self, model: TrainingMixin, cb: cbks.CallbackList):
        self.model = model
        self.custom = model._custom_step("train")
        self.jit = model.jit and not self.custom and not model._loss_scaled()
        self.values = not self.jit or _needs_batch_values(cb.callbacks)
        self.names = model._logged_names()  # fixed for the epoch: looked up once, not per step
        self._sums = np.zeros(model._n_values, dtype=np.float64)
        self._custom_sums = _LogSums()
        self.acc: Tensor | None = None
        self.count = 0

    def train(self, d: _Data) -> dict[str, float]:
        """One step; returns the batch's values when they are to be logged."""
        if self.custom:  # an overridden train_step: eager, its logs averaged by batch size
            logs = self.model._run_custom("train", d)
            self._custom_sums.add(logs, d.n)
            self.count += d.n
            return logs
        names = self.names
        if not self.jit:
            vals = self.model._train_step(d)
            self._sums += vals.astype(np.float64) * d.n
            self.count += d.n
            return dict(zip(names, (float(v) for v in self.model._present(vals)), strict=False))
        values, self.acc = self.model._traced("train", d, self.acc)
        self.count += d.n
        if self.values:
            shown = self.model._present(values.numpy())
            return dict(zip(names, (float(v) for v in shown), strict=False))
        return {}

    def train_steps(self, data: _Data, todo: list, steps_left: int | None = None) -> int:
        """Run the leading batches of ``todo`` that share one size in one call of the traced
        step (jit mode); returns how many ran (0: run the next batch on its own). ``steps_left``:
        the steps the fit still runs (for the backend's compile cost model)."""
        sizes = [len(i) if i is not None else stop - start for i, start, stop in todo]
        n = 1
        while n < len(sizes) and sizes[n] == sizes[0]:
            n += 1
        if n < 2:
            return 0
        start = todo[0][1]
        if todo[0][0] is None and all(todo[k][1] == start + k * sizes[0] for k in range(n)):

            def rows() -> _Data:
                return data.take(None, start, start + n * sizes[0])
        else:
            idx = [todo[k][0] for k in range(n)]
            if any(i is None for i in idx):
                return 0

            def rows() -> _Data:
                return data.take(np.concatenate(idx))

        res = self.model._traced_steps("train", data, rows, sizes[0], n, self.acc, steps_left)
        if res is None:
            return 0
        self.acc = res[1]
        self.count += n * sizes[0]
        return n

    def sums(self) -> np.ndarray | dict[str, float]:
        if self.custom:
            return self._custom_sums.sums
        if self.acc is not None:
            return self.acc.numpy().astype(np.float64)
        return self._sums


def _unpack_batch(item: Any) -> tuple[Any, Any, Any]:
    if isinstance(item, Mapping):
        if "xs" in item and "ys" in item:
            return item["xs"], item["ys"], item.get("sample_weight")
        if "x" in item and "y" in item:
            return item["x"], item["y"], item.get("sample_weight")
    if isinstance(item, (list, tuple)) and len(item) in (2, 3):
        return item[0], item[1], item[2] if len(item) == 3 else None
    raise ValueError(
        "each dataset element must be (x, y), (x, y, sample_weight) or {'xs': x, 'ys': y}, got "
        f"{type(item).__name__}"
    )


# --- datasets, generators and iterables of batches (issue 20 item 1) -----------------------------
def _is_batch_item(e: Any) -> bool:
    """An element of a list of batches: an ``(x, y[, w])`` tuple or an ``{"xs", "ys"}`` dict."""
    if isinstance(e, tuple):
        return len(e) in (2, 3)
    return isinstance(e, Mapping) and (("xs" in e and "ys" in e) or ("x" in e and "y" in e))


def _is_batches(v: Any, targets: Any = None) -> bool:
    """True when ``v`` is a source of batches (a ``layers.data.Dataset``, a generator or other
    iterator, an iterable that is not a sequence, or, when no ``targets`` are given, a
    list/tuple of batch tuples/dicts) rather than arrays."""
    if isinstance(v, (DatasetType, Iterator)):
        return True
    if isinstance(v, (list, tuple)):
        if targets is not None:  # nested lists of rows, or one array per input
            return False
        if len(v) in (2, 3) and _is_array_like(v[0]):
            return False  # (x, y[, w]) arrays
        return bool(v) and all(_is_batch_item(e) for e in v)
    if isinstance(v, (str, bytes, Mapping)) or _is_array_like(v):
        return False
    return isinstance(v, Iterable)


class _BatchSource:
    """Batches from a Dataset, a one-shot iterator (a generator) or a re-iterable (a list):
    ``open`` starts a pass (the same iterator again for a one-shot source), ``next`` reads on,
    ``close`` ends the pass (never closing the user's own iterator)."""

    def __init__(self, source: Any, what: str):
        if isinstance(source, (str, bytes, Mapping)) or not isinstance(source, Iterable):
            raise TypeError(
                f"{what}: expected a layers.data Dataset, a generator or an iterable of batches "
                f"((x, y) tuples or {{'xs': x, 'ys': y}} dicts), got {type(source).__name__}"
            )
        self.source, self.what = source, what
        self.one_shot = isinstance(source, Iterator)
        if isinstance(source, DatasetType):
            self.size: float | None = source.size
        elif not self.one_shot and hasattr(source, "__len__"):
            self.size = len(source)
        else:
            self.size = None
        self._it: Iterator[Any] | None = None
        self._pending: list[Any] = []

    @property
    def steps(self) -> int | None:
        """Batches in one pass when known and finite (the progress bar's total)."""
        return None if self.size is None or self.size == math.inf else int(self.size)

    def check_finite(self, steps: int | None, steps_name: str) -> None:
        if steps is None and self.size == math.inf:
            raise ValueError(
                f"{self.what}: the dataset is endless (repeat() without a count); give "
                f"{steps_name} to say how many batches make an epoch"
            )

    def open(self) -> Iterator[Any]:
        self.close()
        self._it = iter(self.source)
        return self._it

    def next(self, restart: bool) -> Any:
        """The next batch; a re-iterable source that runs out restarts when ``restart``.
        Raises StopIteration when nothing is left."""
        if self._pending:
            return self._pending.pop()
        if self._it is None:
            self.open()
        try:
            return next(self._it)  # type: ignore[arg-type]
        except StopIteration:
            if not restart or self.one_shot:
                raise
        return next(self.open())

    def exhausted(self) -> bool:
        """True when a one-shot source has nothing left (reads one batch ahead to know)."""
        if not self.one_shot or self._pending:
            return False
        try:
            self._pending.append(next(self.source))
        except StopIteration:
            return True
        return False

    def close(self) -> None:
        if self._it is not None and self._it is not self.source:
            close = getattr(self._it, "close", None)
            if close is not None:
                close()
        self._it = None


def _build_from_first_batch(model: Any, src: _BatchSource) -> None:
    """Build a subclassed model that has not run yet on the source's first batch, so its
    outputs (and the logged names) are known before the loop starts; the batch is kept
    for the loop (a one-shot source) or read again (a re-iterable one)."""
    if not model._outputs_unknown():
        return
    try:
        item = src.next(restart=False)
    except StopIteration:
        src.close()
        return
    if src.one_shot:
        src._pending.append(item)
    else:
        src.close()
    model._as_inputs(_batch_x(item))


def _batch_x(item: Any) -> Any:
    """The inputs of a batch for ``predict``: ``xs`` of a dict, the first entry of a tuple
    (Keras's ``(x,)``, ``(x, y)``, ``(x, y, w)``), else the element itself."""
    if isinstance(item, Mapping):
        for k in ("xs", "x"):
            if k in item:
                return item[k]
    if isinstance(item, tuple) and len(item) in (1, 2, 3):
        return item[0]
    return item


def _predict_batches(
    model: Any, source: Any, steps: int | None, user: list, verbose: int
) -> Tensor | list[Tensor]:
    """``predict`` over a dataset of batches: the outputs of every batch (at most ``steps``),
    concatenated along the first axis; ``user`` callbacks get the predict hooks."""
    src = _BatchSource(source, "predict")
    src.check_finite(steps, "steps")
    cb = None
    if user:
        params = {"steps": steps if steps is not None else src.steps, "verbose": verbose}
        cb = cbks.CallbackList(user, model, params)
        cb.on_predict_begin({})
    pieces: list[list[Tensor]] = []
    it = src.open()
    try:
        for k, item in enumerate(it if steps is None else itertools.islice(it, steps)):
            xs = model._as_inputs(_batch_x(item))
            logs: dict[str, Any] = {"batch": k, "size": xs[0].shape[0]}
            if cb is not None:
                cb.on_predict_batch_begin(k, dict(logs))
            pieces.append(model._forward(xs))
            if cb is not None:
                logs["outputs"] = pieces[-1][0] if len(pieces[-1]) == 1 else list(pieces[-1])
                cb.on_predict_batch_end(k, logs)
    finally:
        src.close()
    if cb is not None:
        cb.on_predict_end({})
    if not pieces:
        raise ValueError("predict: the dataset yielded no batches")
    outs = [p[0] if len(pieces) == 1 else tw.concat(list(p), 0) for p in zip(*pieces, strict=True)]
    return outs[0] if len(outs) == 1 else outs


def _fit_batches(
    model: Any,
    what: str,
    source: Any,
    *,
    epochs: int,
    initial_epoch: int,
    verbose: int,
    callbacks: Any,
    steps: int | None,
    steps_name: str,
    class_weight: Any,
    validation_data: Any,
    validation_steps: int | None,
    validation_batch_size: int,
) -> cbks.History:
    """``fit``/``fit_dataset`` over batches. Without ``steps`` every epoch is one pass (one
    pass in all for a one-shot generator: training then stops with a warning, as Keras);
    with it, epochs draw ``steps`` batches from one running iterator, restarted when a
    re-iterable source runs out (a one-shot one that runs out stops training, warning)."""
    src = _BatchSource(source, what)
    src.check_finite(steps, steps_name)
    _build_from_first_batch(model, src)
    val: Any = None
    if validation_data is not None:
        if _is_batches(validation_data):
            val = _DatasetValidation(
                model,
                validation_data,
                validation_steps,
                "validation_data",
                "validation_batches" if what == "fit_dataset" else "validation_steps",
            )
        else:
            val = model._validation(validation_data)
    params = {
        "epochs": epochs,
        "initial_epoch": initial_epoch,
        "steps": steps if steps is not None else src.steps,
        "verbose": verbose,
        "do_validation": val is not None,
        "metrics": model._log_names(val is not None),
    }

    def ran_out(message: str) -> None:
        import warnings

        warnings.warn(
            f"{what}: the input ran out of data {message}; interrupting training. Make sure "
            "the dataset or generator can give the batches asked for (a generator can be read "
            "only once: pass layers.data.generator(fn) or a list to train several epochs, or "
            "use repeat() with steps)",
            UserWarning,
            stacklevel=4,
        )
        model.stop_training = True

    def run_epoch(epoch: int, cb: cbks.CallbackList) -> tuple[np.ndarray, int, bool] | None:
        if steps is None:
            src.open()
        run = model._running = _Running(model, cb)
        b = 0
        try:
            while steps is None or b < steps:
                try:
                    item = src.next(restart=steps is not None)
                except StopIteration:
                    if steps is not None:
                        ran_out(f"after {b} batches of epoch {epoch + 1} ({steps_name}={steps})")
                    break
                bx, by, bw = _unpack_batch(item)
                d = model._data(bx, by, bw, class_weight, what)
                cb.on_batch_begin(b, {"batch": b, "size": d.n})
                logs = {"batch": b, "size": d.n}
                logs.update(run.train(d))
                cb.on_batch_end(b, logs)
                b += 1
                if model.stop_training:
                    break
        finally:
            model._running = None
            if steps is None:
                src.close()
        if run.count == 0:
            if model.stop_training:
                return None  # ran out before the epoch's first batch: not an epoch
            if epoch > initial_epoch:
                ran_out(f"at the start of epoch {epoch + 1}")
                return None
            raise ValueError(f"{what}: the dataset yielded no batches")
        if epoch + 1 < epochs and not model.stop_training and src.exhausted():
            ran_out(f"after epoch {epoch + 1} ({b} batches)")
            return run.sums(), run.count, True
        return run.sums(), run.count, not model.stop_training

    try:
        return model._loop(
            run_epoch,
            epochs,
            initial_epoch,
            verbose,
            callbacks,
            params,
            val,
            validation_batch_size,
        )
    finally:
        src.close()


class _BatchStream:
    """Batches of row indices for each epoch: reshuffled every epoch when ``shuffle``;
    with ``steps_per_epoch`` epochs take that many batches from a continuing stream."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, steps: int | None):
        self.n, self.batch_size, self.shuffle, self.steps = n, batch_size, shuffle, steps
        self._pending: list[tuple[np.ndarray | None, int, int]] = []

    def _one_pass(self) -> list[tuple[np.ndarray | None, int, int]]:
        perm = tw.rng().permutation(self.n).astype(np.int32) if self.shuffle else None
        out = []
        for start in range(0, self.n, self.batch_size):
            stop = min(start + self.batch_size, self.n)
            out.append((None if perm is None else perm[start:stop], start, stop))
        return out

    def epoch(self) -> Iterator[tuple[np.ndarray | None, int, int]]:
        if self.steps is None:
            yield from self._one_pass()
            return
        for _ in range(self.steps):
            if not self._pending:
                self._pending = self._one_pass()
            yield self._pending.pop(0)


def _is_weight_table(v: Any) -> bool:
    """A list/tuple/array of numbers: TF.js's array form of one ``{class: weight}`` table."""
    if isinstance(v, np.ndarray):
        return v.ndim == 1 and v.dtype.kind in "iuf"
    return (
        isinstance(v, (list, tuple))
        and len(v) > 0
        and all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in v)
    )


def _standardize_class_weight(class_weight: Any, names: list[str]) -> list[Any]:
    """One ``{class: weight}`` table (or None) per output, from ``class_weight`` as TF.js's
    ``standardizeClassWeights`` reads it: a table for every output; a dict keyed by output
    name; a list with one table (or None) per output. A table is a dict or, as a JavaScript
    array is indexed by class, a list of weights (``[1, 2, 0.5]`` is ``{0: 1, 1: 2, 2: 0.5}``).
    """
    n_out = len(names)
    if class_weight is None:
        return [None] * n_out
    if _is_weight_table(class_weight):
        return [dict(enumerate(class_weight))] * n_out
    if isinstance(class_weight, Mapping):
        if n_out == 1 and names[0] in class_weight:
            tables = [class_weight[names[0]]]
        elif n_out > 1 and set(class_weight) <= set(names):
            tables = [class_weight.get(k) for k in names]
        else:
            tables = [class_weight] * n_out
    elif isinstance(class_weight, (list, tuple)):
        if len(class_weight) != n_out:
            raise ValueError(
                f"class_weight is a list of {len(class_weight)} entries but the model has "
                f"{n_out} output(s) {names}; give one {{class: weight}} dict (or None) per "
                "output, or one list of weights indexed by class"
            )
        tables = list(class_weight)
    else:
        raise TypeError(
            f"class_weight must be a dict {{class: weight}}, a list of weights indexed by class, "
            f"or one of those per output; got {type(class_weight).__name__} {class_weight!r}"
        )
    out: list[Any] = []
    for name, t in zip(names, tables, strict=True):
        if t is not None and _is_weight_table(t):
            t = dict(enumerate(t))
        if t is not None and not isinstance(t, Mapping):
            raise TypeError(
                f"class_weight for output {name!r} must be a dict {{class: weight}} or a list "
                f"of weights indexed by class, got {type(t).__name__} {t!r}"
            )
        out.append(t)
    return out


def _class_weights(y: np.ndarray, class_weight: Mapping, output: str) -> np.ndarray:
    y = y.reshape(y.shape[0], -1)
    classes = np.argmax(y, axis=1) if y.shape[1] > 1 else np.round(y[:, 0]).astype(np.int64)
    table = {int(k): float(v) for k, v in class_weight.items()}
    present = sorted({int(c) for c in np.unique(classes)})
    missing = [c for c in present if c not in table]
    if missing:
        raise ValueError(
            f"class_weight for output {output!r} has no weight for classes {missing} "
            f"(classes present in y: {present}); list every class"
        )
    return np.array([table[int(c)] for c in classes], dtype=np.float32)


def _split_validation(data: _Data, split: Any, where: str, hint: str = "") -> tuple[_Data, _Data]:
    """``data`` cut for ``validation_split``: (the leading rows to train on, the last
    ``split`` of them to validate on); ``hint`` ends the message of a split leaving none."""
    if not 0.0 < float(split) < 1.0:
        raise ValueError(
            f"{where}: validation_split must be between 0 and 1 (exclusive), got {split}"
        )
    split_at = int(math.floor(data.n * (1.0 - float(split))))
    if split_at < 1:
        raise ValueError(
            f"{where}: validation_split={split} leaves no training samples out of {data.n}{hint}"
        )
    return data.take(None, 0, split_at), data.take(None, split_at, data.n)


def _positive_int(v: Any, name: str) -> int:
    """``v`` as an int >= 1 (``engine.dtypes.as_int``: 2.0 is 2; 2.5, True, "2" raise)."""
    return as_int(v, name, minimum=1)


def _count_args(where: str, epochs: Any, initial_epoch: Any, verbose: Any) -> tuple[int, int, int]:
    """``epochs``, ``initial_epoch`` (ints >= 0) and ``verbose`` (0, 1 or 2), checked before
    anything runs: ``epochs=1.5`` raises instead of running one epoch."""
    epochs = as_int(epochs, f"{where}: epochs", minimum=0)
    initial_epoch = as_int(initial_epoch, f"{where}: initial_epoch", minimum=0)
    verbose = as_int(verbose, f"{where}: verbose", minimum=0)
    if verbose > 2:
        raise ValueError(f"{where}: verbose must be 0, 1 or 2, got {verbose!r}")
    return epochs, initial_epoch, verbose


def _as_seq(v: Any) -> list:
    """``v`` as a list: a list/tuple as is, ``None`` as empty, anything else in a list."""
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def _check_loss_weights_type(loss_weights: Any) -> None:
    """Raise unless ``loss_weights`` is None, a number, or a list/tuple/dict of numbers."""
    if loss_weights is None:
        return
    if isinstance(loss_weights, Mapping):
        values = list(loss_weights.values())
    elif isinstance(loss_weights, (list, tuple)):
        values = list(loss_weights)
    else:
        values = [loss_weights]
    bad = [v for v in values if not _is_number(v) or not math.isfinite(float(v))]
    if bad:
        raise ValueError(
            f"compile: loss_weights must be a finite number, or a list or dict of finite numbers "
            f"(one per output), got {loss_weights!r}"
        )


def _resolve_loss_weights(loss_weights: Any, names: list[str]) -> list[float] | None:
    """One float per output (Keras ``loss_weights``), or None when every output weighs 1."""
    _check_loss_weights_type(loss_weights)
    if loss_weights is None:
        return None
    n = len(names)
    if isinstance(loss_weights, Mapping):
        unknown = sorted(set(loss_weights) - set(names))
        if unknown:
            raise ValueError(
                f"compile: loss_weights dict has keys {unknown} that are not outputs; outputs: "
                f"{names}"
            )
        out = [float(loss_weights.get(k, 1.0)) for k in names]
    elif isinstance(loss_weights, (list, tuple)):
        if len(loss_weights) != n:
            raise ValueError(
                f"compile: got {len(loss_weights)} loss_weights for a model with {n} output(s) "
                f"{names}; give one per output, or a dict by output name"
            )
        out = [float(v) for v in loss_weights]
    else:
        if n != 1:
            raise ValueError(
                f"compile: loss_weights={loss_weights!r} is one number but the model has {n} "
                f"outputs {names}; give a list with one weight per output or a dict by name"
            )
        out = [float(loss_weights)]
    return None if all(v == 1.0 for v in out) else out


class _LogSums:
    """Batch-size-weighted sums of an overridden step's logs, keys in first-seen order."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}

    def add(self, logs: Mapping[str, float], n: int) -> None:
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + v * n


def _log_float(v: Any, what: str) -> float:
    """A step's log value (a Tensor of one value, numpy scalar or number) as a float."""
    if isinstance(v, Tensor):
        if v.size != 1:
            raise ValueError(f"{what}: expected one value, got a Tensor of shape {v.shape}")
        return float(v.numpy().reshape(()))
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: expected a number or a scalar Tensor, got {v!r}") from None
    if arr.size != 1:
        raise ValueError(f"{what}: expected one value, got shape {arr.shape}")
    return float(arr.reshape(()))


def _as_values(vals: Any) -> list[float]:
    """Evaluation results as a list of floats (an overridden test_step gives a dict)."""
    if isinstance(vals, Mapping):
        return [float(v) for v in vals.values()]
    return [float(v) for v in vals]


def _sum(values: list[Tensor]) -> Tensor:
    total = values[0]
    for t in values[1:]:
        total = tw.add(total, t)
    return total
