"""Dynamic loss scaling for mixed precision (Keras 3 ``keras.optimizers.LossScaleOptimizer``).

Under the ``mixed_float16`` policy (``layers.mixed_precision``) activations and their gradients
are float16, whose smallest normal value is about 6e-5: small gradients underflow to zero.
The loss is multiplied by a large *scale* before differentiation (``scale_loss``) and the
gradients are divided by it again before the update (``apply_gradients``). When a scaled
gradient overflows (an infinity or NaN anywhere), the step is skipped, no variable or slot
changes, and the scale is halved; after ``dynamic_growth_steps`` consecutive finite steps the
scale doubles. ``Model.compile`` wraps the optimizer in one automatically under
``mixed_float16``, as Keras 3 does.

The finiteness check reads one bool back to the host per step, so a step under a
``LossScaleOptimizer`` is not traced: it runs eagerly (the reason is logged once on
``tensorweave.trace``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine import ops
from engine.autodiff import Tape
from engine.dtypes import as_int
from engine.memory import tidy
from engine.tensor import Tensor, Variable
from engine.train.optimizers import Optimizer


class LossScaleOptimizer(Optimizer):
    """An optimizer wrapper that scales the loss and skips steps whose gradients overflow.

    Keras 3 semantics: the scale starts at ``initial_scale`` (2**15); a step whose unscaled
    gradients hold an infinity or NaN is skipped (no variable, slot or ``iterations`` change
    of the inner optimizer) and halves the scale; ``dynamic_growth_steps`` finite steps in a
    row double it. Everything else (``learning_rate``, ``iterations``, config, weights, the
    saved optimizer) is the inner optimizer's, so a saved model records the inner optimizer
    and ``compile`` wraps it again under ``mixed_float16``.

    Args:
        inner_optimizer: The optimizer that applies the unscaled gradients (an ``Optimizer``
            instance or anything ``engine.train.get`` accepts: ``"adam"``, ...).
        initial_scale: The first loss scale (a positive finite number; default 2**15).
        dynamic_growth_steps: Finite steps in a row after which the scale doubles (a
            positive int; default 2000).

    Raises:
        ValueError: ``initial_scale`` is not a positive finite number, or
            ``dynamic_growth_steps`` is below 1.
        TypeError: ``inner_optimizer`` is a ``LossScaleOptimizer`` (no double wrapping).

    Example:

    >>> w = tw.variable([1.0])
    >>> opt = tw.train.LossScaleOptimizer(tw.train.sgd(0.1), initial_scale=8.0)
    >>> opt.apply_gradients([(tw.tensor([8.0]), w)])  # a scaled gradient: 8 / 8 = 1
    >>> w.tolist(), opt.loss_scale
    ([0.8999999761581421], 8.0)
    >>> opt.apply_gradients([(tw.tensor([float("inf")]), w)])  # overflow: skipped, halved
    >>> w.tolist(), opt.loss_scale
    ([0.8999999761581421], 4.0)
    """

    def __init__(
        self,
        inner_optimizer: Any,
        initial_scale: float = 2.0**15,
        dynamic_growth_steps: int = 2000,
    ):
        from engine.train.optimizers import get

        if isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError(
                "LossScaleOptimizer: inner_optimizer is already a LossScaleOptimizer; wrap the "
                "plain optimizer once"
            )
        try:
            scale = float(initial_scale)
        except (TypeError, ValueError):
            scale = float("nan")
        if isinstance(initial_scale, bool) or not (math.isfinite(scale) and scale > 0):
            raise ValueError(
                f"LossScaleOptimizer: initial_scale must be a positive finite number, got "
                f"{initial_scale!r}"
            )
        growth = as_int(dynamic_growth_steps, "LossScaleOptimizer: dynamic_growth_steps", 1)
        self.inner_optimizer: Optimizer = get(inner_optimizer)
        self.initial_scale = scale
        self.dynamic_growth_steps: int = growth
        self._scale = scale
        self._good_steps = 0
        self._skipped = 0

    # --- the scale ----------------------------------------------------------------------------
    @property
    def loss_scale(self) -> float:
        """The current loss scale (a Python float; Keras's ``dynamic_scale``)."""
        return self._scale

    dynamic_scale = loss_scale

    @property
    def good_steps(self) -> int:
        """Finite steps since the scale last changed (Keras's ``step_counter``)."""
        return self._good_steps

    @property
    def skipped_steps(self) -> int:
        """Steps skipped so far because their gradients overflowed."""
        return self._skipped

    def scale_loss(self, loss: Tensor) -> Tensor:
        """``loss * loss_scale``: differentiate this, then pass the gradients to
        ``apply_gradients`` (which divides them by the scale again).

        Args:
            loss: The scalar loss (float32).

        Returns:
            The scaled loss, a Tensor of ``loss``'s dtype.

        Example:

        >>> opt = tw.train.LossScaleOptimizer("sgd", initial_scale=4.0)
        >>> opt.scale_loss(tw.scalar(0.5)).item()
        2.0
        """
        return ops.mul(loss, self._scale)

    def apply_gradients(
        self, grads: Mapping[str, Tensor] | Iterable[tuple[Tensor, Variable]]
    ) -> None:
        """Unscale the gradients and apply them with the inner optimizer, or skip the step.

        Args:
            grads: Scaled gradients: ``{variable name: gradient}`` or ``(gradient, variable)``
                pairs (``None`` gradients are ignored), as ``Optimizer.apply_gradients``.

        Raises:
            ValueError: As the inner optimizer's ``apply_gradients`` (shapes are checked
                before any change).

        Example:

        >>> w = tw.variable([0.0])
        >>> opt = tw.train.LossScaleOptimizer("sgd", initial_scale=2.0, dynamic_growth_steps=1)
        >>> opt.apply_gradients([(tw.tensor([2.0]), w)])
        >>> opt.loss_scale  # one finite step with dynamic_growth_steps=1: doubled
        4.0
        """
        pairs = self.inner_optimizer._checked_pairs(grads, "LossScaleOptimizer")
        if not pairs:
            return
        inv = 1.0 / self._scale
        with tidy():
            unscaled = [(ops.mul(ops.cast(g, var.dtype), inv), var) for g, var in pairs]
            finite = _all_finite(unscaled)
            ok = bool(finite.item())  # the host branch (Keras: a cond on the device)
            if ok:
                self.inner_optimizer.apply_gradients(unscaled)
        if ok:
            self._good_steps += 1
            if self._good_steps >= self.dynamic_growth_steps:
                self._scale *= 2.0
                self._good_steps = 0
        else:
            self._scale /= 2.0
            self._good_steps = 0
            self._skipped += 1

    def minimize(
        self,
        f: Any,
        return_cost: bool = False,
        var_list: Sequence[Variable] | None = None,
    ) -> Tensor | None:
        """Compute ``f()``, differentiate the scaled cost and apply one (possibly skipped) step.

        Args:
            f: A function of no arguments returning a scalar Tensor (the cost).
            return_cost: Return the (unscaled) cost instead of disposing it.
            var_list: The variables to update; default every trainable variable ``f`` reads.

        Returns:
            The cost when ``return_cost``, else ``None``.

        Raises:
            ValueError: ``f`` returns no scalar Tensor or no variable receives a gradient.

        Example:

        >>> w = tw.variable([1.0])
        >>> opt = tw.train.LossScaleOptimizer(tw.train.sgd(0.1))
        >>> opt.minimize(lambda: tw.sum(tw.square(w)), return_cost=True).item()
        1.0
        >>> [round(v, 4) for v in w.tolist()]
        [0.8]
        """
        tape = Tape(watch=list(var_list)) if var_list is not None else Tape(track_variables=True)
        with tape:
            y = f()
            if not isinstance(y, Tensor) or y.size != 1:
                raise ValueError(
                    "minimize: f must return a scalar Tensor, got "
                    + (f"shape {y.shape}" if isinstance(y, Tensor) else type(y).__name__)
                )
            scaled = self.scale_loss(y)
        variables = list(var_list) if var_list is not None else list(tape.variables.values())
        gs = tape.gradient(scaled, variables) if variables else []
        pairs = [(g, v) for g, v in zip(gs, variables, strict=False) if g is not None]
        if not pairs:
            raise ValueError("minimize: no variable receives a gradient from f")
        self.apply_gradients(pairs)
        scaled.dispose()
        if return_cost:
            return y
        y.dispose()
        return None

    # --- everything else is the inner optimizer's -----------------------------------------------
    @property
    def class_name(self) -> str:  # type: ignore[override]
        """The inner optimizer's class name (what a saved model records)."""
        return self.inner_optimizer.class_name

    @property
    def slot_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """The inner optimizer's slot names."""
        return self.inner_optimizer.slot_names

    @property
    def learning_rate(self) -> float:
        """The inner optimizer's learning rate (settable)."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self) -> int:
        """The inner optimizer's applied steps (skipped steps do not count)."""
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self.inner_optimizer.iterations = value

    @property
    def schedule(self) -> Any:
        """The inner optimizer's learning-rate schedule, or None."""
        return self.inner_optimizer.schedule

    def get_config(self) -> dict[str, Any]:
        """The inner optimizer's config (a saved model records the inner optimizer).

        Returns:
            A JSON-ready dict of the inner optimizer's hyperparameters.
        """
        return self.inner_optimizer.get_config()

    def get_weights(self) -> list[dict[str, Any]]:
        """The inner optimizer's state (``Optimizer.get_weights``).

        Returns:
            TF.js ``NamedTensor`` dicts, ``iter`` first.
        """
        return self.inner_optimizer.get_weights()

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Restore the inner optimizer's state (``Optimizer.set_weights``).

        Args:
            weights: What ``get_weights`` returned.
        """
        self.inner_optimizer.set_weights(weights)

    def dispose(self) -> None:
        """Dispose the inner optimizer's state."""
        self.inner_optimizer.dispose()

    def __getattr__(self, name: str) -> Any:
        # called only for names not found on the wrapper: the inner optimizer's internals
        # (``_slots``, ``_pairs``, ...) for code that inspects a compiled model's optimizer
        inner = self.__dict__.get("inner_optimizer")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    def __repr__(self) -> str:
        return (
            f"LossScaleOptimizer({self.inner_optimizer!r}, loss_scale={self._scale}, "
            f"dynamic_growth_steps={self.dynamic_growth_steps})"
        )


def _all_finite(pairs: list[tuple[Tensor, Variable]]) -> Tensor:
    """A bool scalar: every element of every gradient is finite."""
    flags = [ops.all(ops.is_finite(g)) for g, _ in pairs]
    out = flags[0]
    for f in flags[1:]:
        out = ops.logical_and(out, f)
    return out
