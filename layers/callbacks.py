"""Training callbacks: the ``Callback`` base, ``History``, early stopping (with
restore-best-weights), checkpoints, LR reduction on plateaus, NaN termination, lambdas and a
tqdm progress bar (``tfjs-compat.md`` §3)."""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import engine as tw
from engine.dtypes import as_int
from engine.hints import did_you_mean

Logs = dict[str, float]


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
        """Before each batch; ``logs`` has ``batch`` and ``size``."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After each batch; ``logs`` has the batch's loss and metrics."""

    # Keras spellings
    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs)


class CallbackList:
    """Dispatches each hook to every callback in order (used by ``fit``).

    Args:
        callbacks: The callbacks.
        model: The model, given to each callback's ``set_model``.
        params: The training parameters, given to each ``set_params``.
    """

    def __init__(self, callbacks: Iterable[Callback], model: Any, params: dict[str, Any]):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_batch_begin", batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._call("on_batch_end", batch, logs)


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it (TF.js ``History``).

    Attributes: ``history`` (logged name -> list of per-epoch values), ``epoch`` (the epochs
    run) and ``params``.
    """

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

    Args:
        filepath: The folder to save to; ``str.format`` fields ``{epoch}`` (from 1) and any
            logged name are filled in.
        monitor: The logged value ``save_best_only`` watches.
        verbose: Print a line for each save.
        save_best_only: Save only when ``monitor`` improves.
        mode: ``"min"``, ``"max"`` or ``"auto"``.

    Raises:
        ValueError: An unknown ``mode``.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        mode: str = "auto",
    ):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.better = _mode_op(mode, monitor, "model_checkpoint")
        self.best = math.nan
        self.saved: list[str] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if not callable(getattr(self.model, "save", None)):
            raise RuntimeError(
                "model_checkpoint needs model.save(path), which this model does not have "
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
        path = self.filepath.format(epoch=epoch + 1, **logs)
        save_atomically(self.model, path)
        self.saved.append(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved the model to {path}")


def save_atomically(model: Any, path: str) -> None:
    """``model.save`` into a temporary sibling folder, then rename it over ``path``.

    Args:
        model: Anything with ``save(folder)``.
        path: The target folder; an existing one is replaced only once the save succeeded.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
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
    """A callback from plain functions: ``lambda_callback(on_epoch_end=lambda epoch, logs: ...)``.

    Args:
        **hooks: Functions named after hooks (``on_train_begin``, ``on_train_end``,
            ``on_epoch_begin``, ``on_epoch_end``, ``on_batch_begin``, ``on_batch_end``), each
            taking the hook's arguments.

    Raises:
        ValueError: A keyword is not a hook name.
    """

    HOOKS = (
        "on_train_begin",
        "on_train_end",
        "on_epoch_begin",
        "on_epoch_end",
        "on_batch_begin",
        "on_batch_end",
    )

    def __init__(self, **hooks: Callable | None):
        super().__init__()
        for name, fn in hooks.items():
            if name not in self.HOOKS:
                raise ValueError(f"lambda_callback: unknown hook {name!r}; hooks: {self.HOOKS}")
            if fn is not None:
                setattr(self, name, fn)


class ProgressBar(Callback):
    """verbose=1: one tqdm bar per epoch (batches, ETA, loss and metrics); verbose=2: one line
    per epoch. When batch logs carry no values (a traced ``fit``), the bar reads the model's
    running means (``model._running_logs()``, one device read) at most every ``interval``
    seconds.

    Args:
        verbose: 1 for a bar per epoch, 2 for one line per epoch.
        file: Where to write (default ``sys.stderr`` for the bar, ``sys.stdout`` for lines).
        interval: Seconds between refreshes of the bar's values.
    """

    def __init__(self, verbose: int = 1, file: Any = None, interval: float = 0.25):
        super().__init__()
        self.verbose = verbose
        self.file = file
        self.interval = float(interval)
        self.bar: Any = None
        self._sums: dict[str, float] = {}
        self._count = 0
        self._last = 0.0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._sums, self._count = {}, 0
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
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
        filepath: The folder, with optional ``{epoch}`` / log-name fields.
        **kwargs: ``ModelCheckpoint``'s other arguments (``monitor``, ``save_best_only``,
            ``mode``, ``verbose``).

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
