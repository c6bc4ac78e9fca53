"""Training callbacks: the ``Callback`` base, ``History``, early stopping (with
restore-best-weights), checkpoints, LR reduction on plateaus, NaN termination, lambdas, a CSV
logger, TensorBoard event files and a tqdm progress bar (``tfjs-compat.md`` §3).

Hooks: ``fit`` calls ``on_train_begin/end``, ``on_epoch_begin/end`` and
``on_train_batch_begin/end`` (and, for its validation, the test hooks); ``evaluate`` calls
``on_test_begin/end`` and ``on_test_batch_begin/end``; ``predict`` calls
``on_predict_begin/end`` and ``on_predict_batch_begin/end``. A callback may implement a hook
under its Keras name, Keras's older ``on_batch_begin/end`` for the train batch hooks, or TF.js's
camelCase name (``onEpochEnd``, ``onBatchEnd``, ...; ``HOOKS`` lists them all), and ``fit``
also takes TF.js's plain dicts of functions: ``callbacks={"onEpochEnd": fn}``.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import engine as tw
from engine.dtypes import as_int
from engine.hints import did_you_mean

Logs = dict[str, float]

#: Every hook, by its Keras name, with the other names a callback may implement it under, in
#: the order they are looked up (Keras's older batch names, then TF.js's camelCase).
HOOKS: dict[str, tuple[str, ...]] = {
    "on_train_begin": ("onTrainBegin",),
    "on_train_end": ("onTrainEnd",),
    "on_epoch_begin": ("onEpochBegin",),
    "on_epoch_end": ("onEpochEnd",),
    "on_train_batch_begin": ("on_batch_begin", "onTrainBatchBegin", "onBatchBegin"),
    "on_train_batch_end": ("on_batch_end", "onTrainBatchEnd", "onBatchEnd"),
    "on_test_begin": ("onTestBegin",),
    "on_test_end": ("onTestEnd",),
    "on_test_batch_begin": ("onTestBatchBegin",),
    "on_test_batch_end": ("onTestBatchEnd",),
    "on_predict_begin": ("onPredictBegin",),
    "on_predict_end": ("onPredictEnd",),
    "on_predict_batch_begin": ("onPredictBatchBegin",),
    "on_predict_batch_end": ("onPredictBatchEnd",),
}

#: Any accepted hook name -> its Keras name.
HOOK_NAMES: dict[str, str] = {
    name: hook for hook, others in HOOKS.items() for name in (hook, *others)
}


class Callback:
    """Base class of training callbacks: override any ``on_*`` hook (TF.js ``CustomCallback``).

    ``fit`` sets ``self.model`` and ``self.params`` (epochs, steps, metrics, ...) before
    training; a hook may set ``self.model.stop_training = True`` to stop (after the current
    batch, or at the end of the epoch from an epoch hook).

    Example:

    >>> class CountEpochs(layers.callbacks.Callback):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.seen = 0
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         self.seen += 1
    >>> import numpy as np
    >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
    >>> model.compile(optimizer="sgd", loss="meanSquaredError")
    >>> counter = CountEpochs()
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=3, verbose=0, callbacks=[counter])
    >>> counter.seen
    3
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        """Attach the model being trained (called by ``fit``).

        Args:
            model: The model.
        """
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Receive the training parameters (called by ``fit``).

        Args:
            params: ``epochs``, ``steps``, ``samples``, ``batch_size``, ``verbose``,
                ``do_validation`` and ``metrics``.
        """
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """After the last epoch (or when training stops)."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Before each epoch (``epoch`` counts from 0, or from ``initial_epoch``)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """After each epoch and its validation; ``logs`` holds the epoch's values."""

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Before each training batch (Keras's older name of ``on_train_batch_begin``)."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After each training batch (Keras's older name of ``on_train_batch_end``)."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Before each training batch; ``logs`` has ``batch`` and ``size``. The default
        calls ``on_batch_begin``."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After each training batch; ``logs`` has ``batch``, ``size`` and the batch's loss
        and metrics. The default calls ``on_batch_end``."""
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Before ``evaluate`` (and before ``fit``'s validation at each epoch's end)."""

    def on_test_end(self, logs: Logs | None = None) -> None:
        """After ``evaluate`` or a validation run; ``logs`` has the loss and metrics (no
        ``val_`` prefix)."""

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Before each evaluation batch; ``logs`` has ``batch`` and ``size``."""

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After each evaluation batch; ``logs`` has ``batch``, ``size`` and the batch's loss
        and metrics."""

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Before ``predict``."""

    def on_predict_end(self, logs: Logs | None = None) -> None:
        """After ``predict``."""

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Before each prediction batch; ``logs`` has ``batch`` and ``size``."""

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After each prediction batch; ``logs`` has ``batch``, ``size`` and ``outputs``
        (the batch's output Tensor, a list for several outputs)."""


def _overrides(cb: Any, name: str) -> bool:
    """True when ``cb`` implements ``name`` itself: an instance attribute, or a class method
    other than ``Callback``'s default."""
    if name in getattr(cb, "__dict__", {}):
        return callable(cb.__dict__[name])
    fn = getattr(type(cb), name, None)
    if fn is None:
        return False
    return not (isinstance(cb, Callback) and fn is getattr(Callback, name, None))


def implementation(cb: Any, hook: str) -> Callable | None:
    """The function ``cb`` implements ``hook`` with, or None when it does not.

    Looks up the Keras name first, then the other names of ``HOOKS[hook]`` (for the train
    batch hooks ``on_batch_begin/end``, then TF.js's ``onBatchBegin/End``).

    Args:
        cb: A callback.
        hook: A Keras hook name (a key of ``HOOKS``).

    Returns:
        The bound method or function, or None.
    """
    for name in (hook, *HOOKS[hook]):
        if _overrides(cb, name):
            return getattr(cb, name)
    return None


def standardize_callbacks(callbacks: Any, where: str = "fit") -> list[Any]:
    """``fit``'s ``callbacks`` argument as a list of callback objects (TF.js
    ``standardizeCallbacks``): a callback, a dict of hook functions, or a list of either.

    Args:
        callbacks: ``None``, a ``Callback`` (or any object with ``set_model`` and hooks), a
            dict such as ``{"onEpochEnd": fn}`` / ``{"on_epoch_end": fn}``, or a list of them.
        where: The calling function, for error messages.

    Returns:
        The callbacks; each dict became a ``LambdaCallback``.

    Raises:
        TypeError: An entry is neither a callback nor a dict (a string, say).
        ValueError: A dict key is not a hook name.

    Example:

    >>> seen = []
    >>> cbs = layers.callbacks.standardize_callbacks({"onEpochEnd": lambda e, logs: seen.append(e)})
    >>> type(cbs[0]).__name__
    'LambdaCallback'
    """
    if callbacks is None:
        return []
    if isinstance(callbacks, (Callback, Mapping)) or not isinstance(callbacks, (list, tuple)):
        items = [callbacks]
    else:
        items = list(callbacks)
    out: list[Any] = []
    for i, c in enumerate(items):
        if isinstance(c, Mapping):
            out.append(LambdaCallback(**{str(k): v for k, v in c.items()}))
        elif isinstance(c, Callback) or (
            callable(getattr(c, "set_model", None)) and any(_overrides(c, n) for n in HOOK_NAMES)
        ):
            out.append(c)
        else:
            at = f" (entry {i})" if isinstance(callbacks, (list, tuple)) else ""
            raise TypeError(
                f"{where}: callbacks must be Callback objects or dicts of hook functions such "
                f"as {{'on_epoch_end': fn}} or {{'onEpochEnd': fn}}, or a list of them; got "
                f"{type(c).__name__} {c!r}{at}"
            )
    return out


class CallbackList:
    """Dispatches each hook to every callback that implements it, in order (used by
    ``fit``, ``evaluate`` and ``predict``).

    Each callback's implementation of each hook is looked up once, here (``implementation``):
    Keras names, Keras's older batch names and TF.js's camelCase names all work.

    Args:
        callbacks: The callbacks.
        model: The model, given to each callback's ``set_model``.
        params: The parameters, given to each ``set_params``.
    """

    def __init__(self, callbacks: Iterable[Any], model: Any, params: dict[str, Any]):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            if callable(getattr(cb, "set_params", None)):
                cb.set_params(params)
        self._impl: dict[str, list[tuple[Any, Callable]]] = {}
        for hook in HOOKS:
            found = [(cb, implementation(cb, hook)) for cb in self.callbacks]
            self._impl[hook] = [(cb, fn) for cb, fn in found if fn is not None]

    def implements(self, *hooks: str) -> bool:
        """True when any callback (the progress bar and the history included) implements one
        of ``hooks``: with none, calling them does nothing and may be skipped."""
        return any(self._impl[h] for h in hooks)

    def watches(self, *hooks: str) -> bool:
        """True when a callback that needs every batch on its own implements one of
        ``hooks`` (the progress bar and the history tolerate batches run several at once)."""
        return any(not getattr(cb, "_runs_ok", False) for h in hooks for cb, _ in self._impl[h])

    def _call(self, hook: str, *args: Any) -> None:
        for _, fn in self._impl[hook]:
            fn(*args)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_train_batch_end", batch, logs)

    on_batch_begin = on_train_batch_begin
    on_batch_end = on_train_batch_end

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._call("on_test_begin", logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_predict_batch_end", batch, logs)


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it (TF.js ``History``).

    Attributes: ``history`` (logged name -> list of per-epoch values), ``epoch`` (the epochs
    run) and ``params``.
    """

    #: fine with batches run several at once (fit then runs them in one call)
    _runs_ok: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


def _mode_op(mode: str, monitor: str, who: str) -> Callable[[float, float], bool]:
    mode = mode.lower()
    if mode not in ("auto", "min", "max"):
        hint = did_you_mean(mode, ("auto", "min", "max"))
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}{hint}")
    if mode == "max" or (mode == "auto" and "acc" in monitor):
        return lambda a, b: a > b
    return lambda a, b: a < b


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs. ``mode='auto'`` maximises names containing ``acc`` and minimises the rest.
    ``baseline``: training stops unless the monitored value beats it within ``patience``.
    ``restore_best_weights``: at the end, put back the weights of the best epoch (TF.js
    cannot: #8488).

    Args:
        monitor: The logged value to watch (``"val_loss"``, ``"acc"``, ...).
        min_delta: The smallest change that counts as an improvement.
        patience: Epochs without improvement before stopping.
        verbose: Print a line when stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        baseline: A value the monitored quantity must beat, or ``None``.
        restore_best_weights: Restore the best epoch's weights when training ends.

    Raises:
        ValueError: A negative ``patience`` or an unknown ``mode``.

    Example:

    >>> import numpy as np
    >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
    >>> model.compile(optimizer="sgd", loss="meanSquaredError")
    >>> stop = layers.callbacks.early_stopping(monitor="loss", patience=0, min_delta=1e9)
    >>> len(model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=10, verbose=0,
    ...               callbacks=[stop]).epoch)
    2
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
    ):
        patience = as_int(patience, "early_stopping: patience", minimum=0)
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.better = _mode_op(mode, monitor, "early_stopping")
        self.maximize = self.better(1.0, 0.0)
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.nan
        self.best_epoch: int | None = None
        self.best_weights: list | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = None
        self.best_weights = None
        if self.baseline is not None:
            self.best = float(self.baseline)
        else:
            self.best = -math.inf if self.maximize else math.inf

    def _improved(self, current: float) -> bool:
        delta = self.min_delta if self.maximize else -self.min_delta
        return self.better(current - delta, self.best)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"early_stopping: metric {self.monitor!r} is not in the logs (available: "
                f"{sorted(logs or {})}); for val_* metrics pass validation data",
                stacklevel=2,
            )
            return
        if self._improved(current):
            self.best = current
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.model)
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            _restore(self.model, self.best_weights)
            if self.verbose:
                print(f"Restored the weights of epoch {self.best_epoch} (best {self.monitor})")
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch}: early stopping")


def _snapshot(model: Any) -> list:
    """Copies of the model's weight values (buffers are never written in place, so
    sharing them with the variables is safe)."""
    return [tw.keep(tw.identity(w)) for w in model.weights]


def _restore(model: Any, values: list) -> None:
    for w, v in zip(model.weights, values, strict=False):
        w.assign(v)


class ModelCheckpoint(Callback):
    """Save the model after each epoch to ``filepath`` (``{epoch}`` and log names may appear
    in it, e.g. ``'ckpt/e{epoch:02d}'``); with ``save_best_only`` only when ``monitor``
    improves. Each save writes a temporary folder next to the target and renames it into
    place, so an interrupted save never leaves a half-written model.

    With ``save_weights_only`` (Keras) each save is ``model.save_weights(filepath)``: one
    ``.npz`` file of the weights, written to a temporary file renamed over the target (also
    atomic), which ``model.load_weights`` reads back. It works for subclassed models, whose
    topology ``save`` cannot write.

    Args:
        filepath: The folder (the file, with ``save_weights_only``) to save to;
            ``str.format`` fields ``{epoch}`` (from 1) and any logged name are filled in.
        monitor: The logged value ``save_best_only`` watches.
        verbose: Print a line for each save.
        save_best_only: Save only when ``monitor`` improves.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        save_weights_only: Save only the weights (``model.save_weights``) instead of the
            whole model.

    Raises:
        ValueError: An unknown ``mode``.
        TypeError: ``save_weights_only`` is not a bool.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> m = layers.sequential([layers.dense(units=1, input_shape=[2])])
    >>> m.compile(optimizer="sgd", loss="mse")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ck = layers.callbacks.ModelCheckpoint(
    ...         os.path.join(tmp, "e{epoch}.weights.npz"), save_weights_only=True
    ...     )
    ...     _ = m.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0, callbacks=[ck])
    ...     sorted(os.listdir(tmp))
    ['e1.weights.npz', 'e2.weights.npz']
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        mode: str = "auto",
        save_weights_only: bool = False,
    ):
        super().__init__()
        if not isinstance(save_weights_only, bool):
            raise TypeError(
                f"model_checkpoint: save_weights_only must be a bool, got {save_weights_only!r}"
            )
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = bool(save_weights_only)
        self.better = _mode_op(mode, monitor, "model_checkpoint")
        self.best = math.nan
        self.saved: list[str] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        method = "save_weights" if self.save_weights_only else "save"
        if not callable(getattr(self.model, method, None)):
            raise RuntimeError(
                f"model_checkpoint needs model.{method}(path), which this model does not have "
                "(save/load is not available in this build)"
            )
        self.best = -math.inf if self.better(1.0, 0.0) else math.inf

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"model_checkpoint: {self.monitor!r} is not in the logs "
                    f"(available: {sorted(logs)}); not saving",
                    stacklevel=2,
                )
                return
            if not self.better(current, self.best):
                return
            self.best = current
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"model_checkpoint: filepath {self.filepath!r} cannot be filled from "
                f"{['epoch', *sorted(logs)]}: {type(e).__name__}: {e}"
            ) from None
        if self.save_weights_only:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.model.save_weights(path)  # atomic: a temporary file renamed over path
        else:
            save_atomically(self.model, path)
        self.saved.append(path)
        if self.verbose:
            what = "the weights" if self.save_weights_only else "the model"
            print(f"Epoch {epoch + 1}: saved {what} to {path}")


def save_atomically(model: Any, path: str) -> None:
    """``model.save`` into a temporary sibling folder, then rename it over ``path``.

    Args:
        model: Anything with ``save(folder)``.
        path: The target folder; an existing one is replaced only once the save succeeded.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    if os.path.isdir(path) and os.listdir(path) and not os.path.isfile(f"{path}/model.json"):
        raise FileExistsError(
            f"model_checkpoint: {path!r} is a folder that is not a saved model (no model.json); "
            "refusing to replace it, which would delete its files"
        )
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=parent)
    try:
        model.save(tmp)
        if os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=".old-" + os.path.basename(path) + "-", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training", file=sys.stderr)
            self.model.stop_training = True


class ReduceLROnPlateau(Callback):
    """Multiply the optimizer's learning rate by ``factor`` when ``monitor`` stops improving
    for ``patience`` epochs (Keras semantics; ``lr`` is added to the logs).

    Args:
        monitor: The logged value to watch.
        factor: The multiplier (below 1).
        patience: Epochs without improvement before reducing.
        verbose: Print a line on each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        min_delta: The smallest change that counts as an improvement.
        cooldown: Epochs to wait after a reduction before counting again.
        min_lr: The learning rate never goes below this.

    Raises:
        ValueError: ``factor >= 1``, a negative ``patience``/``cooldown`` or an unknown
            ``mode``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ):
        patience = as_int(patience, "reduce_lr_on_plateau: patience", minimum=0)
        cooldown = as_int(cooldown, "reduce_lr_on_plateau: cooldown", minimum=0)
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"reduce_lr_on_plateau: factor must be < 1, got {factor}")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.min_delta = abs(float(min_delta))
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self.better = _mode_op(mode, monitor, "reduce_lr_on_plateau")
        self.maximize = self.better(1.0, 0.0)
        self.wait = 0
        self.cooldown_counter = 0
        self.best = math.inf

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best = -math.inf if self.maximize else math.inf

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs if logs is not None else {}
        opt = self.model.optimizer
        logs["lr"] = opt.learning_rate
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"reduce_lr_on_plateau: {self.monitor!r} is not in the logs "
                f"(available: {sorted(logs)})",
                stacklevel=2,
            )
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        delta = self.min_delta if self.maximize else -self.min_delta
        if self.better(current - delta, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                new_lr = max(opt.learning_rate * self.factor, self.min_lr)
                if new_lr < opt.learning_rate:
                    opt.learning_rate = new_lr
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: learning rate reduced to {new_lr:.4g}")
                self.cooldown_counter = self.cooldown
                self.wait = 0


class LambdaCallback(Callback):
    """A callback from plain functions: ``lambda_callback(on_epoch_end=lambda epoch, logs: ...)``
    (TF.js ``CustomCallback``; ``fit`` builds one from a dict such as ``{"onEpochEnd": fn}``).

    Args:
        **hooks: Functions named after hooks, each taking the hook's arguments: any Keras
            name (``on_train_begin``, ``on_epoch_end``, ``on_train_batch_end``,
            ``on_test_end``, ``on_predict_batch_end``, ...), Keras's ``on_batch_begin/end``,
            or TF.js's camelCase (``onTrainBegin``, ``onEpochEnd``, ``onBatchEnd``, ...).
            ``None`` values are skipped.

    Raises:
        ValueError: A keyword is not a hook name, two keywords name one hook, or TF.js's
            ``onYield`` is given (``fit`` runs synchronously: nothing to yield to).
        TypeError: A value is not callable.
    """

    HOOKS = tuple(HOOK_NAMES)

    def __init__(self, **hooks: Callable | None):
        super().__init__()
        seen: dict[str, str] = {}
        for name, fn in hooks.items():
            if name == "onYield":
                raise ValueError(
                    "lambda_callback: onYield is not supported: fit runs synchronously, so "
                    "there is no event loop to yield to; use onBatchEnd / on_train_batch_end"
                )
            hook = HOOK_NAMES.get(name)
            if hook is None:
                raise ValueError(
                    f"lambda_callback: unknown hook {name!r}{did_you_mean(name, HOOK_NAMES)}; "
                    f"hooks: {sorted(HOOK_NAMES)}"
                )
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(
                    f"lambda_callback: hook {name!r} must be a function, got "
                    f"{type(fn).__name__} {fn!r}"
                )
            # on_batch_end and on_train_batch_end are one hook; onBatchEnd is TF.js's name
            if hook in seen:
                raise ValueError(
                    f"lambda_callback: {seen[hook]!r} and {name!r} name the same hook {hook!r}; "
                    "give one"
                )
            seen[hook] = name
            setattr(self, name, fn)


class ProgressBar(Callback):
    """verbose=1: one tqdm bar per epoch (batches, ETA, loss and metrics); verbose=2: one line
    per epoch. When batch logs carry no values (a traced ``fit``), the bar reads the model's
    running means (``model._running_logs()``, one device read) at most every ``interval``
    seconds. Work that is not training and takes over a second (a first-ever compile, a cache
    load: ``engine.activity``) shows in the bar's postfix while it runs.

    Args:
        verbose: 1 for a bar per epoch, 2 for one line per epoch.
        file: Where to write (default ``sys.stderr`` for the bar, ``sys.stdout`` for lines).
        interval: Seconds between refreshes of the bar's values.
    """

    #: fine with batches run several at once (fit then runs them in one call)
    _runs_ok: ClassVar[bool] = True

    def __init__(self, verbose: int = 1, file: Any = None, interval: float = 0.25):
        super().__init__()
        self.verbose = verbose
        self.file = file
        self.interval = float(interval)
        self.bar: Any = None
        self._sums: dict[str, float] = {}
        self._count = 0
        self._last = 0.0
        self._unlisten: Callable[[], None] | None = None

    def _status(self, what: str | None) -> None:
        """``engine.activity`` listener: what the engine is busy with, in the postfix."""
        bar = self.bar
        if bar is not None:
            bar.set_postfix_str(f"{what}..." if what else "", refresh=True)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._sums, self._count = {}, 0
        if self.verbose == 1 and self._unlisten is None:
            from engine import activity

            self._unlisten = activity.listen(self._status)
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.params.get("steps"),
                desc=f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}",
                unit="batch",
                file=self.file,
                leave=True,
                dynamic_ncols=True,
            )

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        size = logs.get("size", 1)
        self._count += size
        values = False
        for k, v in logs.items():
            if k not in ("batch", "size"):
                values = True
                self._sums[k] = self._sums.get(k, 0.0) + v * size
        if self.bar is not None:
            self.bar.update(1)
            last = batch + 1 == self.params.get("steps")
            if values:
                if batch % 10 == 0 or last:
                    self.bar.set_postfix(
                        {k: f"{s / self._count:.4f}" for k, s in self._sums.items()},
                        refresh=False,
                    )
                return
            now = time.monotonic()
            running = getattr(self.model, "_running_logs", None)
            if running is not None and (last or now - self._last >= self.interval):
                self._last = now
                means = running()
                if means:
                    self.bar.set_postfix({k: f"{v:.4f}" for k, v in means.items()}, refresh=False)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        text = {k: f"{v:.4f}" for k, v in (logs or {}).items()}
        if self.bar is not None:
            self.bar.set_postfix(text, refresh=True)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            line = " - ".join(f"{k}: {v}" for k, v in text.items())
            print(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')} - {line}", file=self.file)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (Keras ``CSVLogger``).

    The header is ``epoch`` (counting from 0) then the first epoch's log names, sorted;
    rows follow Python's ``csv`` "excel" dialect (``\\r\\n`` line ends) with ``separator``
    between fields. A name missing from a later epoch's logs is written ``NA``; names that
    first appear later are left out (the header is fixed). The file is opened when training
    begins, flushed after each row and closed when training ends.

    Args:
        filename: The CSV file.
        separator: One character between fields.
        append: Append to an existing file (its header is kept, no second header is written)
            instead of overwriting it.

    Raises:
        TypeError: ``filename`` is not a path.
        ValueError: ``separator`` is not one character.

    Example:

    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
    >>> model.compile(optimizer="sgd", loss="meanSquaredError")
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
    ...               callbacks=[layers.callbacks.csv_logger(path)])
    >>> open(path).read().splitlines()[0]
    'epoch,loss'
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(
                f"csv_logger: filename must be a path (str or os.PathLike), got "
                f"{type(filename).__name__} {filename!r}"
            )
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"csv_logger: separator must be one character, got {separator!r}")
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = bool(append)
        self.keys: list[str] | None = None
        self._file: Any = None
        self._writer: Any = None
        self._header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                self._header = not bool(f.readline())
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.keys = None
        self._writer = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self._file is None:  # used outside fit: open on first use
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
            sep = self.sep

            class Dialect(csv.excel):
                delimiter = sep

            self._writer = csv.DictWriter(
                self._file, fieldnames=["epoch", *self.keys], dialect=Dialect
            )
            if self._header:
                self._writer.writeheader()
        row: dict[str, Any] = {"epoch": epoch}
        row.update({k: _csv_value(logs[k]) if k in logs else "NA" for k in self.keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None


def _csv_value(v: Any) -> Any:
    """A log value as Keras's CSVLogger writes it: strings as they are, sequences as
    ``"[a, b]"``, numbers as numbers."""
    if isinstance(v, str):
        return v
    if isinstance(v, Iterable):
        return f"[{', '.join(str(x) for x in v)}]"
    return v


class TensorBoard(Callback):
    """Write the logs as TensorBoard event files (Keras ``TensorBoard``), through the
    ``tensorboardX`` writer (``pip install 'tensorweave[tensorboard]'``).

    Training values go to ``<log_dir>/train`` and validation values (``val_`` names, the
    prefix dropped) to ``<log_dir>/validation``, as scalars tagged ``epoch_<name>`` at step
    ``epoch``, so TensorBoard overlays ``epoch_loss`` of both runs. With ``histogram_freq=N``
    every ``N``-th epoch (``epoch % N == 0``) also writes a histogram of each weight, tagged
    with the weight's name (``dense_Dense1/kernel``). With ``update_freq="batch"`` (or an
    integer ``N``: every ``N`` batches) the training batches' values are written too, tagged
    ``batch_<name>`` at the running batch count (those batches then read their values back
    and do not run several at a time).

    Args:
        log_dir: The folder for the event files.
        histogram_freq: Epochs between weight histograms; 0 writes none.
        update_freq: ``"epoch"``, ``"batch"`` or a positive number of batches.

    Raises:
        ImportError: ``tensorboardX`` is not installed (the message names the extra).
        ValueError: A negative ``histogram_freq`` or a bad ``update_freq``.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike = "logs",
        histogram_freq: int = 0,
        update_freq: str | int = "epoch",
    ):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise ImportError(
                "layers.callbacks.TensorBoard writes event files through tensorboardX, which "
                "is not installed; install the extra: pip install 'tensorweave[tensorboard]' "
                "(or pip install 'tensorboardX>=2.6')"
            ) from e
        histogram_freq = as_int(histogram_freq, "tensorboard: histogram_freq", minimum=0)
        if isinstance(update_freq, str):
            if update_freq not in ("epoch", "batch"):
                raise ValueError(
                    f"tensorboard: update_freq must be 'epoch', 'batch' or a positive number "
                    f"of batches, got {update_freq!r}{did_you_mean(update_freq, ('epoch', 'batch'))}"
                )
            every = 0 if update_freq == "epoch" else 1
        else:
            every = as_int(update_freq, "tensorboard: update_freq", minimum=1)
        super().__init__()
        self._summary_writer = SummaryWriter
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.update_freq = update_freq
        self._every = every
        self._writers: dict[str, Any] = {}
        self._step = 0
        if every:  # only then a batch hook (epoch-only logging keeps batches running together)
            self.on_train_batch_end = self._batch_end  # type: ignore[method-assign]

    def _writer(self, run: str) -> Any:
        w = self._writers.get(run)
        if w is None:
            w = self._writers[run] = self._summary_writer(os.path.join(self.log_dir, run))
        return w

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._step = 0

    def _batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._step += 1
        if self._step % self._every:
            return
        for k, v in (logs or {}).items():
            if k not in ("batch", "size") and _is_number(v):
                self._writer("train").add_scalar(f"batch_{k}", float(v), self._step)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for k, v in (logs or {}).items():
            if not _is_number(v):
                continue
            if k.startswith("val_"):
                self._writer("validation").add_scalar(f"epoch_{k[4:]}", float(v), epoch)
            else:
                self._writer("train").add_scalar(f"epoch_{k}", float(v), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for w in self.model.weights:
                self._writer("train").add_histogram(w.name, w.numpy(), epoch)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}


def _is_number(v: Any) -> bool:
    return (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        or (hasattr(v, "dtype") and getattr(v, "shape", None) == ())
    )


# --- factories (TF.js ``tf.callbacks.*`` style) --------------------------------------------------


def early_stopping(**kwargs: Any) -> EarlyStopping:
    """An ``EarlyStopping`` callback (TF.js ``tf.callbacks.earlyStopping``).

    Args:
        **kwargs: ``EarlyStopping``'s arguments (``monitor``, ``patience``, ``min_delta``,
            ``mode``, ``baseline``, ``restore_best_weights``, ``verbose``).

    Returns:
        The callback, for ``fit(callbacks=[...])``.
    """
    return EarlyStopping(**kwargs)


def model_checkpoint(filepath: str | os.PathLike, **kwargs: Any) -> ModelCheckpoint:
    """A ``ModelCheckpoint`` callback that saves the model after each epoch.

    Args:
        filepath: The folder (the weights file with ``save_weights_only=True``), with
            optional ``{epoch}`` / log-name fields.
        **kwargs: ``ModelCheckpoint``'s other arguments (``monitor``, ``save_best_only``,
            ``mode``, ``verbose``, ``save_weights_only``).

    Returns:
        The callback.
    """
    return ModelCheckpoint(filepath, **kwargs)


def terminate_on_nan() -> TerminateOnNaN:
    """A ``TerminateOnNaN`` callback: stop as soon as a batch loss is NaN or infinite.

    Returns:
        The callback.
    """
    return TerminateOnNaN()


def reduce_lr_on_plateau(**kwargs: Any) -> ReduceLROnPlateau:
    """A ``ReduceLROnPlateau`` callback.

    Args:
        **kwargs: ``ReduceLROnPlateau``'s arguments (``monitor``, ``factor``, ``patience``,
            ``min_delta``, ``cooldown``, ``min_lr``, ``mode``, ``verbose``).

    Returns:
        The callback.
    """
    return ReduceLROnPlateau(**kwargs)


def lambda_callback(**hooks: Callable | None) -> LambdaCallback:
    """A callback from plain functions, one per hook (TF.js ``CustomCallback`` args).

    Args:
        **hooks: ``on_epoch_end=lambda epoch, logs: ...`` and the like.

    Returns:
        A ``LambdaCallback``.

    Example:

    >>> import numpy as np
    >>> losses = []
    >>> cb = layers.callbacks.lambda_callback(
    ...     on_epoch_end=lambda epoch, logs: losses.append(logs["loss"])
    ... )
    >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
    >>> model.compile(optimizer="sgd", loss="meanSquaredError")
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0, callbacks=cb)
    >>> len(losses)
    2
    """
    return LambdaCallback(**hooks)


def csv_logger(
    filename: str | os.PathLike, separator: str = ",", append: bool = False
) -> CSVLogger:
    """A ``CSVLogger``: each epoch's logs as a row of a CSV file (Keras ``CSVLogger``).

    Args:
        filename: The CSV file.
        separator: One character between fields.
        append: Append to an existing file instead of overwriting it.

    Returns:
        The callback.
    """
    return CSVLogger(filename, separator, append)


def tensorboard(
    log_dir: str | os.PathLike = "logs", histogram_freq: int = 0, update_freq: str | int = "epoch"
) -> TensorBoard:
    """A ``TensorBoard`` callback writing event files under ``log_dir`` (needs the
    ``tensorboard`` extra: tensorboardX).

    Args:
        log_dir: The folder for the event files (``train/`` and ``validation/`` runs).
        histogram_freq: Epochs between weight histograms; 0 writes none.
        update_freq: ``"epoch"``, ``"batch"`` or a positive number of batches.

    Returns:
        The callback.

    Raises:
        ImportError: tensorboardX is not installed.
    """
    return TensorBoard(log_dir, histogram_freq, update_freq)


def progress_bar(verbose: int = 1, file: Any = None) -> ProgressBar:
    """The progress display ``fit(verbose=...)`` adds by itself.

    Args:
        verbose: 1 for a tqdm bar per epoch, 2 for one line per epoch.
        file: Where to write.

    Returns:
        A ``ProgressBar``.
    """
    return ProgressBar(verbose, file)


earlyStopping = early_stopping  # noqa: N816


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch (Keras 3
    ``LearningRateScheduler``): ``schedule(epoch, lr)`` gets the 0-based epoch and the current
    rate and returns the new one (a one-argument ``schedule(epoch)`` works too). Each epoch's
    rate is added to its logs as ``learning_rate``.

    The optimizer must have a fixed learning rate: one built with a learning-rate schedule
    (``engine.train.schedules``) refuses to be set (TypeError, as Keras).

    Args:
        schedule: ``(epoch, lr) -> lr`` or ``epoch -> lr``, returning a float.
        verbose: 1 prints the rate set at each epoch.

    Raises:
        TypeError: ``schedule`` is not callable.
        ValueError: A bad ``verbose``; during training, ``schedule`` returns something other
            than a finite float.

    Example:

    >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
    >>> model.compile(optimizer=tw.train.sgd(0.1), loss="meanSquaredError")
    >>> halve = layers.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    >>> h = model.fit(tw.ones([4, 2]), tw.ones([4, 1]), epochs=3, verbose=0, callbacks=[halve])
    >>> h.history["learning_rate"]
    [0.05, 0.025, 0.0125]
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0):
        if not callable(schedule):
            raise TypeError(
                f"learning_rate_scheduler: schedule must be a function (epoch, lr) -> lr, got "
                f"{type(schedule).__name__} {schedule!r}"
            )
        verbose = as_int(verbose, "learning_rate_scheduler: verbose", minimum=0)
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose
        try:
            import inspect

            inspect.signature(schedule).bind(0, 0.0)
            self._two_args = True
        except TypeError:
            self._two_args = False
        except ValueError:  # no signature (some builtins): Keras's (epoch, lr) call
            self._two_args = True

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        opt = getattr(self.model, "optimizer", None)
        if opt is None or not hasattr(opt, "learning_rate"):
            raise ValueError(
                "learning_rate_scheduler: the model has no optimizer with a learning_rate; "
                "compile it first"
            )
        lr = float(opt.learning_rate)
        new = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        import numbers

        if isinstance(new, bool) or not isinstance(new, numbers.Real):
            raise ValueError(
                f"learning_rate_scheduler: the schedule must return a float, got "
                f"{type(new).__name__} {new!r} at epoch {epoch}"
            )
        if not math.isfinite(float(new)):
            raise ValueError(
                f"learning_rate_scheduler: the schedule returned {new!r} at epoch {epoch}; "
                "expected a finite float"
            )
        opt.learning_rate = float(new)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}."
            )

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


def learning_rate_scheduler(
    schedule: Callable[..., float], verbose: int = 0
) -> LearningRateScheduler:
    """A ``LearningRateScheduler`` callback (Keras ``keras.callbacks.LearningRateScheduler``).

    Args:
        schedule: ``(epoch, lr) -> lr`` or ``epoch -> lr``.
        verbose: 1 prints the rate set at each epoch.

    Returns:
        The callback.
    """
    return LearningRateScheduler(schedule, verbose)
