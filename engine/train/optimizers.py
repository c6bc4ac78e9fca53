"""Optimizers with TensorFlow.js's update rules and defaults (``docs/tfjs-compat.md`` §2).

Each optimizer keeps per-variable slot variables (moments, accumulators) keyed by the
variable's name. Its update rule is written once, in ``engine.train.rules`` (its slots, its
per-step scalars and the update as small expressions, under the name of its fused ``kernel``):
``_update`` evaluates that rule with engine ops (the composite, for backends without fused
kernels), the cpu backend's numba kernels and the rendered backends' C kernels are generated
from it, and ``rules.scalars`` packs every fused kernel's per-step scalars. Two deliberate deviations from TF.js 4.x, where TF.js
has bugs: centered RMSProp adds epsilon inside the square root (``sqrt(ms - mg^2 + eps)``; TF.js
subtracts it and gives NaN for small gradients), and Adadelta follows the published algorithm
(TF.js reads its accumulators in an order that makes every step equal to plain SGD).

Fused updates
-------------
Before running the composite update, ``apply_gradients`` asks the active backend
``backend.has("<kind>_update")`` (``sgd_update``, ``momentum_update``, ``adam_update``,
``adamax_update``, ``rmsprop_update``, ``adagrad_update``, ``adadelta_update``). A backend that
offers one implements::

    def adam_update(self, shape: tuple, dtype: str, w, g, slots: tuple, **hyper) -> tuple

``w``, ``g`` and each entry of ``slots`` are that backend's buffers (dense, row-major, all of
``shape`` and ``dtype``); the method returns fresh buffers ``(new_w, *new_slots)`` in the order
of ``slots`` (it may not modify its inputs). ``hyper`` holds the Python floats/bools of the
step, exactly the inputs of its rule in ``engine.train.rules`` (``Adam``: ``lr, beta1,
beta2, epsilon, t``; ``Adamax``: ``lr, beta1, beta2, epsilon, decay, t``; ``SGD``: ``lr``;
``Momentum``: ``lr, momentum, nesterov``; ``RMSProp``: ``lr, decay, momentum, epsilon,
centered``; ``Adagrad``: ``lr, epsilon``; ``Adadelta``: ``lr, rho, epsilon``), where ``t`` is the
1-based step number. Slot order is each class's ``slot_names``. The fused kernel runs through
``engine.dispatch.run_multi`` and reads ``hyper`` when it is invoked, so a replayed trace
(``engine.trace``) passes the values of the step being replayed.

A backend that also offers ``"<kind>_update_many"`` updates every variable of one dtype in a
step with one call (and as few launches as it can)::

    def adam_update_many(self, shapes: list, dtype: str, ws: list, gs: list, slots: list,
                         **hyper) -> list[tuple]

with ``slots[k]`` the slot buffers of variable ``k``; it returns ``(new_w, *new_slots)`` per
variable. (The ``cpu`` backend has no such kernel: its compiled trace programs merge the
per-variable updates into one launch over flat arenas, ``backends/cpu/steps/arena.py``.)

Device state
------------
Values that change from step to step live in non-trainable scalar variables (``_state``), so a
traced training step replays correctly: the learning rate (``learning_rate`` is a Python
property mirroring it; setting it assigns the variable), and for Adam and Adamax, TF.js-style,
the 1-based step number ``t`` (float32, exact to 2^24) from which the bias corrections
``1 - beta^t`` are computed on the device, advanced with an op after each step. The composite
``_update`` takes ``_device_hyper()``: the rule's scalars evaluated with engine ops on that
state (scalar tensors), the same program ``rules.scalars`` evaluates on the host.
``iterations`` is a Python mirror counted on the host (also on replay); setting it
(``set_weights``) re-derives the device state.

Keras 3 additions
-----------------
- ``AdamW``, ``Nadam``, ``Lion`` and ``Ftrl`` (compile strings ``"adamw"``, ``"nadam"``,
  ``"lion"``, ``"ftrl"``, Keras's defaults) follow Keras 3's formulas (keras/src/optimizers),
  with fused kernels ``adamw_update``, ``nadam_update``, ``lion_update``, ``ftrl_update``
  (hyper keywords: ``lr, weight_decay, beta1, beta2, epsilon, t``; ``lr, beta1, beta2,
  epsilon, t, u_product`` where ``u_product`` is Nadam's momentum product over the steps before
  ``t``; ``lr, beta1, beta2``; ``lr, lr_power, l1, l2, l2_shrinkage, beta``). Keras's
  ``beta_1``/``beta_2`` are spelled ``beta1``/``beta2`` as in ``Adam`` (saved Keras configs load
  through the topology loader's alias). Not carried over: ``amsgrad``, ``use_ema``,
  ``exclude_from_weight_decay``, ``gradient_accumulation_steps``, and ``weight_decay`` on the
  other optimizers.
- ``clipnorm`` / ``clipvalue`` / ``global_clipnorm`` on every optimizer (``Optimizer``), applied
  with ops to the gradients before the update, so traces and compiled chunks replay them.
- A learning-rate schedule (``engine.train.schedules``) may replace the learning rate: the fused
  kernels read ``schedule(iterations)`` on the host when invoked (so a replayed or compiled
  step, which recomputes its host scalars per step, follows it); the composite evaluates it on
  the device from a float32 step counter in ``_state`` (``step``).
- Saving (``model.save(..., include_optimizer=True)``): the training config holds
  ``get_config()`` (a schedule as ``{"class_name", "config"}``, clip settings when set), the
  weights hold ``iter`` and every slot (AdamW/Nadam ``m``, ``v``; Lion ``m``; Ftrl
  ``accumulator``, ``linear``). Nadam's momentum product is not stored: it is re-derived from
  ``iter``. TF.js has none of these optimizers, so TF.js cannot load such a training config;
  save without ``include_optimizer`` for TF.js.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from engine import dispatch, ops, registry, trace
from engine.autodiff import Tape
from engine.hints import did_you_mean
from engine.memory import tidy
from engine.tensor import Tensor, Variable, find_variables
from engine.train import rules
from engine.train import schedules as _schedules
from engine.train.schedules import LearningRateSchedule

EPSILON = 1e-7


def _eps(epsilon: float | None) -> float:
    return EPSILON if epsilon is None else float(epsilon)


def _check_lr(who: str, value: Any, name: str = "learning_rate") -> float:
    """A fixed learning rate (or other hyperparameter ``name``) as a finite float, or
    ValueError naming the value."""
    try:
        if isinstance(value, (bool, str)):
            raise TypeError
        out = float(value)
    except (TypeError, ValueError):
        what = " or a learning-rate schedule (engine.train.schedules)"
        raise ValueError(
            f"{who}: {name} must be a number{what if name == 'learning_rate' else ''}, "
            f"got {value!r}"
        ) from None
    if not math.isfinite(out):
        raise ValueError(f"{who}: {name} must be finite, got {value!r}")
    return out


def _check_clip(who: str, clip: dict[str, Any]) -> dict[str, float | None]:
    """Validate ``clipnorm`` / ``clipvalue`` / ``global_clipnorm`` (positive finite numbers
    or None, at most one set); ValueError names the bad value."""
    out: dict[str, float | None] = {}
    for name, value in clip.items():
        if value is None:
            out[name] = None
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok or (hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0):
            try:
                v = float(value)
            except (TypeError, ValueError):
                v = math.nan
            if math.isfinite(v) and v > 0:
                out[name] = v
                continue
        raise ValueError(f"{who}: {name} must be a positive finite number or None, got {value!r}")
    given = [k for k, v in out.items() if v is not None]
    if len(given) > 1:
        raise ValueError(
            f"{who}: only one of clipnorm, clipvalue and global_clipnorm can be set (as Keras); "
            "got " + ", ".join(f"{k}={clip[k]!r}" for k in given)
        )
    return out


class Optimizer:
    """Base class of the optimizers: gradient application, slot state, config and weights.

    Use the factories (``tw.train.sgd``, ``tw.train.adam``, ...) or ``compile``'s strings;
    subclasses define ``_update`` (the rule, in engine ops) and may name a fused kernel.

    Every optimizer takes the keywords ``clipnorm``, ``clipvalue`` and ``global_clipnorm``
    (Keras 3): each gradient is clipped before the update, ``clipvalue`` element by element
    to ``[-clipvalue, clipvalue]``, ``clipnorm`` to an L2 norm of at most ``clipnorm``
    (``g * clipnorm / max(||g||, clipnorm)``), ``global_clipnorm`` all gradients of a step
    together by their global norm ``sqrt(sum ||g||^2)``. At most one of the three may be set.

    Args:
        learning_rate: The step size: a number, or a schedule
            (``engine.train.schedules``) evaluated at ``iterations`` every step.
        clipnorm: Clip each gradient's L2 norm to this (positive) value.
        clipvalue: Clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: Clip the global norm of all the step's gradients to this value.

    Raises:
        ValueError: A clip value that is not a positive finite number, more than one of
            them, or a learning rate that is neither a finite number nor a schedule.
    """

    class_name: ClassVar[str] = "Optimizer"
    #: Names of the per-variable slots, in the order ``_update`` takes and returns them.
    slot_names: ClassVar[tuple[str, ...]] = ()
    #: The fused backend kernel that can replace ``_update``.
    kernel: ClassVar[str] = ""
    #: Keep the 1-based step number ``t`` in the device state (bias corrections).
    counts_steps: ClassVar[bool] = False

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        clip = _check_clip(
            self.class_name,
            {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm},
        )
        self._schedule: LearningRateSchedule | None = None
        if isinstance(learning_rate, Mapping) and "class_name" in learning_rate:
            learning_rate = _schedules.deserialize(learning_rate)  # a saved config
        if isinstance(learning_rate, LearningRateSchedule):
            self._schedule = learning_rate
            self._lr = float(learning_rate(0))
        else:
            self._lr = _check_lr(self.class_name, learning_rate)
        self.clipnorm: float | None = clip["clipnorm"]
        self.clipvalue: float | None = clip["clipvalue"]
        self.global_clipnorm: float | None = clip["global_clipnorm"]
        self._state: dict[str, Variable] = {}
        self._iterations = 0
        self._slots: dict[str, list[Variable]] = {}
        self._vars: dict[str, Variable] = {}

    # --- step-varying state ----------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a Python float; with a schedule, its value at
        ``iterations``). Setting a number updates the device copy too; a schedule can be set
        before the first step (Keras: an optimizer built with a schedule cannot be given a
        number)."""
        if self._schedule is not None:
            return float(self._schedule(self._iterations))
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value: float | LearningRateSchedule) -> None:
        if isinstance(value, LearningRateSchedule):
            if self._state:
                raise ValueError(
                    f"{self.class_name}: a learning-rate schedule must be set before the first "
                    f"step (this optimizer has applied {self._iterations}); build a new "
                    "optimizer with learning_rate=<schedule>"
                )
            self._schedule = value
            return
        if self._schedule is not None:
            raise TypeError(
                f"{self.class_name}: this optimizer's learning rate is the schedule "
                f"{self._schedule!r}, so it cannot be set to {value!r} (as Keras); build the "
                "optimizer with a number to change its learning rate during training"
            )
        self._lr = _check_lr(self.class_name, value)
        var = self._state.get("lr")
        if var is not None:
            var.assign(ops.scalar(self._lr, "float32"))

    @property
    def iterations(self) -> int:
        """Steps applied so far."""
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations = int(value)
        for name, v in self._state_values().items():
            var = self._state.get(name)
            if var is not None:
                var.assign(ops.scalar(v, "float32"))

    @property
    def schedule(self) -> LearningRateSchedule | None:
        """The learning-rate schedule, or None for a fixed (settable) learning rate."""
        return self._schedule

    def _state_values(self) -> dict[str, float]:
        """The device state's values before step ``iterations + 1`` (``lr``, or with a
        schedule the step count ``step`` it is evaluated at; ``t`` when ``counts_steps``)."""
        out = {"step": float(self._iterations)} if self._schedule is not None else {"lr": self._lr}
        if self.counts_steps:
            out["t"] = float(self._iterations + 1)
        return out

    def _device_lr(self, state: dict[str, Variable]) -> Any:
        """This step's learning rate as a scalar tensor (the schedule's, on the device)."""
        if self._schedule is not None:
            return self._schedule(state["step"])
        return state["lr"]

    def _base_config(self) -> dict[str, Any]:
        """``learning_rate`` (a schedule serialized as ``{"class_name", "config"}``) and the
        clip settings that are set: the entries every ``get_config`` starts with."""
        lr: Any = self._lr if self._schedule is None else _schedules.serialize(self._schedule)
        out: dict[str, Any] = {"learning_rate": lr}
        for k in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    def _clip_gradients(
        self, pairs: list[tuple[Tensor, Variable]]
    ) -> list[tuple[Tensor, Variable]]:
        """Keras 3's ``_clip_gradients`` with ops: ``clipnorm`` per gradient, else
        ``global_clipnorm`` over all, else ``clipvalue`` per element."""
        if self.clipnorm is not None:
            c = self.clipnorm
            out = []
            for g, v in pairs:
                norm = ops.sqrt(ops.sum(ops.square(g)))
                out.append((ops.div(ops.mul(g, c), ops.maximum(norm, c)), v))
            return out
        if self.global_clipnorm is not None and pairs:
            c = self.global_clipnorm
            total = None
            for g, _ in pairs:
                sq = ops.sum(ops.square(g))
                total = sq if total is None else ops.add(total, sq)
            norm = ops.sqrt(total)
            # c * min(1/norm, 1/c), plus (norm - norm): NaN when the norm is not finite (Keras)
            scale = ops.add(
                ops.mul(ops.minimum(ops.reciprocal(norm), 1.0 / c), c), ops.sub(norm, norm)
            )
            return [(ops.mul(g, ops.cast(scale, g.dtype)), v) for g, v in pairs]
        if self.clipvalue is not None:
            c = self.clipvalue
            return [(ops.clip_by_value(g, -c, c), v) for g, v in pairs]
        return pairs

    def _ensure_state(self) -> dict[str, Variable]:
        if not self._state:
            self._state = {
                k: ops.variable(ops.scalar(v, "float32"), trainable=False)
                for k, v in self._state_values().items()
            }
        return self._state

    def _device_hyper(self, state: dict[str, Variable]) -> tuple[dict[str, Any], bool]:
        """This step's scalars for the composite ``_update`` (``engine.train.rules``: the
        rule's prep evaluated with engine ops, the step-varying inputs ``lr``, ``t`` and
        ``u_product`` read from the device state) and the rule's flag."""
        hyper = self._hyper()
        hyper["lr"] = self._device_lr(state)
        for k in ("t", "u_product"):
            if k in hyper:
                hyper[k] = state[k]
        env = rules.scalar_env(self.kernel, hyper, rules.engine_namespace())
        return env, rules.rule(self.kernel).flag_of(hyper)

    def _advance_state(self, state: dict[str, Variable]) -> None:
        """Move the device state on by one step, with ops."""
        for k in ("step", "t"):
            if k in state:
                state[k].assign(ops.add(state[k], 1.0))

    def _count_step(self) -> None:
        self._iterations += 1

    # --- public API -----------------------------------------------------------------------
    def minimize(
        self,
        f: Callable[[], Tensor],
        return_cost: bool = False,
        var_list: Sequence[Variable] | None = None,
    ) -> Tensor | None:
        """Compute ``f()``, its gradients, and apply one step (TF.js ``minimize``).

        Args:
            f: A function of no arguments returning a scalar Tensor (the cost).
            return_cost: Return the cost instead of disposing it.
            var_list: The variables to update; default every trainable variable ``f`` reads.

        Returns:
            The cost (a scalar Tensor) when ``return_cost``, else ``None``.

        Raises:
            ValueError: ``f`` returns no scalar Tensor, uses no trainable variable, or no
                variable receives a gradient.

        Example:

        >>> w = tw.variable([1.0])
        >>> opt = tw.train.sgd(0.1)
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
        variables = list(var_list) if var_list is not None else list(tape.variables.values())
        if not variables:
            raise ValueError("minimize: f uses no trainable variable; pass var_list")
        gs = tape.gradient(y, variables)
        pairs = [(g, v) for g, v in zip(gs, variables, strict=False) if g is not None]
        if not pairs:
            raise ValueError("minimize: no variable receives a gradient from f")
        self.apply_gradients(pairs)
        if return_cost:
            return y
        y.dispose()
        return None

    def apply_gradients(
        self, grads: Mapping[str, Tensor] | Iterable[tuple[Tensor, Variable]]
    ) -> None:
        """Apply one optimizer step with given gradients (TF.js ``applyGradients``).

        Every shape is checked before any variable changes.

        Args:
            grads: ``{variable name: gradient}`` (as ``variable_grads`` returns) or an
                iterable of ``(gradient, variable)`` pairs; ``None`` gradients are skipped.

        Raises:
            ValueError: A gradient's shape differs from its variable's, or a name matches no
                live variable (or several).
        """
        pairs = self._checked_pairs(grads)
        be = registry.backend()
        fused = bool(self.kernel) and be.has(self.kernel)
        many = fused and be.has(self.kernel + "_many")
        state = self._ensure_state()
        with tidy():
            pairs = self._clip_gradients(pairs)
            hyper: tuple[dict[str, Any], bool] | None = None
            updates: list[tuple[Variable, list[Variable], list[Tensor]]] = []
            for g, var in pairs:
                slots = self._get_slots(var)
                if many:
                    continue
                if fused:
                    new = self._run_fused(var, g, slots)
                else:
                    if hyper is None:
                        hyper = self._device_hyper(state)
                    new = self._update(var, ops.cast(g, var.dtype), tuple(slots), *hyper)
                updates.append((var, slots, new))
            if many:
                updates = self._run_fused_many(pairs)
            for var, slots, new in updates:
                var.assign(new[0])
                for s, v in zip(slots, new[1:], strict=False):
                    s.assign(v)
            self._advance_state(state)
        self._count_step()
        trace.host_effect(self._count_step)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (snake_case), so ``type(opt)(**opt.get_config())``
        rebuilds it.

        Returns:
            A JSON-ready dict of hyperparameters.
        """
        return self._base_config()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Optimizer:
        """A new optimizer of this class from ``get_config()`` output.

        Args:
            config: The hyperparameters, snake_case keys (a ``learning_rate`` dict is a
                serialized schedule).

        Returns:
            The optimizer (with fresh state).
        """
        config = dict(config)
        if isinstance(config.get("learning_rate"), Mapping):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def get_weights(self) -> list[dict[str, Any]]:
        """The optimizer's state in TF.js ``getWeights`` order (saved with
        ``include_optimizer``).

        Returns:
            TF.js ``NamedTensor`` dicts: ``{"name": "iter", "tensor": int32 scalar}`` first,
            then slot by slot (``slot_names`` order), that slot of every variable seen, in the
            order the variables were first updated: for Adam ``iter``, every ``<var>/m``,
            then every ``<var>/v``, as TF.js (whose ``setWeights`` splits the list by
            position) and the saved model files.

        Example:

        >>> opt = tw.train.adam(0.1)
        >>> a, b = tw.variable(tw.zeros([2]), name="gw_a"), tw.variable(tw.zeros([1]), name="gw_b")
        >>> opt.apply_gradients([(tw.ones([2]), a), (tw.ones([1]), b)])
        >>> [w["name"] for w in opt.get_weights()]
        ['iter', 'gw_a/m', 'gw_b/m', 'gw_a/v', 'gw_b/v']
        """
        out: list[dict[str, Any]] = [
            {"name": "iter", "tensor": ops.scalar(self.iterations, "int32")}
        ]
        for k, sname in enumerate(self.slot_names):
            for vname, slots in self._slots.items():
                out.append({"name": f"{vname}/{sname}", "tensor": ops.identity(slots[k])})
        return out

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Restore state saved by ``get_weights`` (TF.js ``setWeights``).

        Everything is checked before the optimizer changes.

        Args:
            weights: ``{"name", "tensor"}`` dicts or ``(name, tensor)`` pairs, in any order
                (``iter`` sets ``iterations``; ``<variable>/<slot>`` a slot); or, as TF.js,
                bare values by position: the iteration count, then slot by slot that slot of
                every variable this optimizer has updated, in ``get_weights`` order.

        Raises:
            ValueError: An entry names an unknown slot, a variable lacks some of its slots,
                bare values do not match the variables this optimizer knows, or named and
                bare entries are mixed.
        """
        items = list(weights)
        named_flags = [
            isinstance(w, Mapping)
            or (isinstance(w, (tuple, list)) and len(w) == 2 and isinstance(w[0], str))
            for w in items
        ]
        if items and not any(named_flags):
            items = self._positional(items)
        elif not all(named_flags):
            raise ValueError(
                f"{self.class_name}.set_weights: mix of named entries and bare values; give "
                "every entry as {'name', 'tensor'} / (name, tensor), or every one bare in "
                "get_weights order"
            )
        named: list[tuple[str, Any]] = []
        for w in items:
            if isinstance(w, Mapping):
                named.append((w["name"], w["tensor"]))
            else:
                name, value = w
                named.append((name, value))
        iterations: int | None = None
        slots: dict[str, dict[str, Any]] = {}
        for name, value in named:
            if name == "iter":
                iterations = int(ops.as_tensor(value).numpy().reshape(()))
                continue
            vname, _, sname = name.rpartition("/")
            if sname not in self.slot_names:
                raise ValueError(
                    f"{self.class_name}.set_weights: unknown slot {name!r}; this optimizer has "
                    f"slots {list(self.slot_names)} (named '<variable>/<slot>') and 'iter'"
                )
            slots.setdefault(vname, {})[sname] = value
        for vname, by_slot in slots.items():
            missing = [s for s in self.slot_names if s not in by_slot]
            if missing:
                raise ValueError(
                    f"{self.class_name}.set_weights: variable {vname!r} lacks slots {missing}"
                )
        new_slots = {
            vname: [ops.as_tensor(by_slot[s], "float32") for s in self.slot_names]
            for vname, by_slot in slots.items()
        }
        if iterations is not None:
            self.iterations = iterations
        for vname, vals in new_slots.items():
            self._slots[vname] = [
                ops.variable(ops.identity(v), trainable=False, name=f"{vname}/{s}")
                for v, s in zip(vals, self.slot_names, strict=False)
            ]

    def _positional(self, values: list[Any]) -> list[tuple[str, Any]]:
        """Bare TF.js-order values (``iter``, then slot by slot) named after the variables
        this optimizer has updated."""
        vnames = list(self._slots)
        expected = 1 + len(self.slot_names) * len(vnames)
        if not vnames or len(values) != expected:
            raise ValueError(
                f"{self.class_name}.set_weights: got {len(values)} bare values; by position "
                f"they must be the iteration count then {len(self.slot_names)} slot(s) "
                f"{list(self.slot_names)} for each of the {len(vnames)} variable(s) this "
                f"optimizer has updated ({expected} values)"
                + ("" if vnames else "; a fresh optimizer needs named entries")
            )
        out: list[tuple[str, Any]] = [("iter", values[0])]
        rest = iter(values[1:])
        for sname in self.slot_names:
            for vname in vnames:
                out.append((f"{vname}/{sname}", next(rest)))
        return out

    def dispose(self) -> None:
        """Dispose the slot and state variables; the next step starts from fresh state."""
        for slots in self._slots.values():
            for s in slots:
                s.dispose()
        self._slots.clear()
        for v in self._state.values():
            v.dispose()
        self._state = {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.class_name}({args})"

    # --- per optimizer ----------------------------------------------------------------------
    def _hyper(self) -> dict[str, Any]:
        """The keyword arguments of this step's fused kernel (Python values)."""
        raise NotImplementedError

    def _update(
        self,
        var: Tensor,
        grad: Tensor,
        slots: tuple[Tensor, ...],
        env: dict[str, Any],
        flag: bool,
    ) -> tuple:
        """``(new value, *new slots)`` for one variable: the rule of ``kernel``
        (``engine.train.rules``) evaluated with engine ops on the scalars ``env``."""
        return rules.apply(self.kernel, flag, var, grad, slots, env, rules.engine_namespace())

    def _initial_slot(self, var: Variable, name: str) -> Tensor:
        return ops.zeros_like(var)

    # --- helpers -----------------------------------------------------------------------------
    def _get_slots(self, var: Variable) -> list[Variable]:
        slots = self._slots.get(var.name)
        if slots is None or any(s.shape != var.shape for s in slots):
            slots = [
                ops.variable(self._initial_slot(var, s), trainable=False, name=f"{var.name}/{s}")
                for s in self.slot_names
            ]
            self._slots[var.name] = slots
        return slots

    def _run_fused(self, var: Variable, g: Tensor, slots: list[Variable]) -> list[Tensor]:
        kernel, shape, dtype = self.kernel, var.shape, var.dtype

        def invoke(be: Any, w: Any, gb: Any, *sb: Any) -> Any:
            # hyper is read at call time: a replayed trace sees the step being replayed
            return getattr(be, kernel)(shape, dtype, w, gb, sb, **self._hyper())

        # Updates with the same key pass the backend the same host scalars within a step (a
        # trace program computes them once per step: backends.cpu.steps.chunk).
        invoke.host_key = (id(self), kernel, dtype)  # type: ignore[attr-defined]
        # Where those scalars come from: a trace program recomputes them from this every step
        # (backends.cpu.launch.HostScalars) instead of calling the backend method again.
        invoke.hyper = self._hyper  # type: ignore[attr-defined]
        return dispatch.run_multi(
            kernel,
            (var, ops.cast(g, dtype), *slots),
            {},
            [(shape, dtype)] * (1 + len(slots)),
            invoke,
        )

    def _run_fused_many(
        self, pairs: list[tuple[Tensor, Variable]]
    ) -> list[tuple[Variable, list[Variable], list[Tensor]]]:
        """The backend's ``<kind>_update_many``: one call per dtype for all ``pairs``."""
        kernel, k = self.kernel + "_many", 1 + len(self.slot_names)
        by_dtype: dict[str, list[tuple[Tensor, Variable]]] = {}
        for g, var in pairs:
            by_dtype.setdefault(var.dtype, []).append((g, var))
        updates = []
        for dtype, group in by_dtype.items():
            shapes = [var.shape for _, var in group]
            slots = [self._get_slots(var) for _, var in group]

            def invoke(be: Any, *bufs: Any, shapes: list = shapes, dtype: str = dtype) -> Any:
                per = [bufs[i : i + 1 + k] for i in range(0, len(bufs), 1 + k)]
                res = getattr(be, kernel)(
                    shapes,
                    dtype,
                    [b[0] for b in per],
                    [b[1] for b in per],
                    [tuple(b[2:]) for b in per],
                    **self._hyper(),
                )
                return [buf for new in res for buf in new]

            invoke.host_key = (id(self), kernel, dtype)  # type: ignore[attr-defined]
            inputs = [
                t
                for (g, var), sl in zip(group, slots, strict=True)
                for t in (var, ops.cast(g, dtype), *sl)
            ]
            metas = [(shape, dtype) for shape in shapes for _ in range(k)]
            outs = dispatch.run_multi(kernel, inputs, {}, metas, invoke)
            for j, ((_, var), sl) in enumerate(zip(group, slots, strict=True)):
                updates.append((var, sl, outs[j * k : (j + 1) * k]))
        return updates

    def _checked_pairs(self, grads: Any, who: str | None = None) -> list[tuple[Tensor, Variable]]:
        """``grads``' ``(gradient, variable)`` pairs without the ``None`` gradients, every
        shape checked before any variable changes (the ValueError names ``who``, default
        ``class_name``)."""
        pairs = [(g, var) for g, var in self._pairs(grads) if g is not None]
        for g, var in pairs:
            if g.shape != var.shape:
                raise ValueError(
                    f"{who or self.class_name}.apply_gradients: gradient of {var.name!r} has "
                    f"shape {g.shape}, the variable has shape {var.shape}"
                )
        return pairs

    def _pairs(self, grads: Any) -> list[tuple[Tensor, Variable]]:
        if isinstance(grads, Mapping):
            pairs = []
            for name, g in grads.items():
                pairs.append((g, self._lookup(name)))
            return pairs
        pairs = []
        for item in grads:
            g, v = item
            if not isinstance(v, Variable):
                raise TypeError(
                    f"{self.class_name}.apply_gradients: expected (gradient, Variable) pairs, got "
                    f"a {type(v).__name__} in second place"
                )
            self._vars[v.name] = v
            pairs.append((g, v))
        return pairs

    def _lookup(self, name: str) -> Variable:
        v = self._vars.get(name)
        if v is not None and not v.is_disposed:
            return v
        # A variable this optimizer has not met yet: find the live one with that name.
        found = find_variables(name)
        if len(found) != 1:
            why = "no live variable has" if not found else f"{len(found)} live variables have"
            raise ValueError(
                f"{self.class_name}.apply_gradients: {why} the name {name!r}; pass a list of "
                "(gradient, variable) pairs instead"
            )
        self._vars[name] = found[0]
        return found[0]


class SGD(Optimizer):
    """Plain gradient descent: ``w -= lr * g`` (build with ``tw.train.sgd``).

    Args:
        learning_rate: The step size ``lr``.
    """

    class_name = "SGD"
    kernel = "sgd_update"

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.learning_rate}


class Momentum(Optimizer):
    """Momentum: ``a = m*a + g``; ``w -= lr*a``, or with Nesterov ``w -= lr*(g + m*a)``.

    Args:
        learning_rate: The step size ``lr``.
        momentum: The momentum ``m``.
        use_nesterov: Use Nesterov momentum.
    """

    class_name = "Momentum"
    slot_names = ("momentum",)
    kernel = "momentum_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule,
        momentum: float,
        use_nesterov: bool = False,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.momentum = float(momentum)
        self.use_nesterov = bool(use_nesterov)

    def get_config(self) -> dict[str, Any]:
        return {
            **self._base_config(),
            "momentum": self.momentum,
            "use_nesterov": self.use_nesterov,
        }

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.learning_rate, "momentum": self.momentum, "nesterov": self.use_nesterov}


class Adam(Optimizer):
    """Adam: ``m = b1*m + (1-b1)*g``; ``v = b2*v + (1-b2)*g^2``;
    ``w -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)``.

    Args:
        learning_rate: The step size ``lr``.
        beta1: Decay ``b1`` of the first moment.
        beta2: Decay ``b2`` of the second moment.
        epsilon: ``eps`` (default 1e-7, ``tw.epsilon()``).
    """

    class_name = "Adam"
    slot_names = ("m", "v")
    counts_steps = True
    kernel = "adam_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float | None = None,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = _eps(epsilon)

    def get_config(self) -> dict[str, Any]:
        return {
            **self._base_config(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
        }

    def _hyper(self) -> dict[str, Any]:
        return {
            "lr": self.learning_rate,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "t": self.iterations + 1,
        }


class Adamax(Optimizer):
    """Adamax: ``lr_t = lr/(1+decay*iterations)``; ``m = b1*m + (1-b1)*g``;
    ``u = max(b2*u, |g|)``; ``w -= lr_t/(1-b1^t) * m/(u+eps)``.

    Args:
        learning_rate: The step size ``lr``.
        beta1: Decay ``b1`` of the first moment.
        beta2: Decay ``b2`` of the infinity norm.
        epsilon: ``eps`` (default 1e-7).
        decay: Learning-rate decay per step.
    """

    class_name = "Adamax"
    slot_names = ("m", "v")
    counts_steps = True
    kernel = "adamax_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.002,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float | None = None,
        decay: float = 0.0,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = _eps(epsilon)
        self.decay = float(decay)

    def get_config(self) -> dict[str, Any]:
        return {
            **self._base_config(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "decay": self.decay,
        }

    def _hyper(self) -> dict[str, Any]:
        return {
            "lr": self.learning_rate,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "decay": self.decay,
            "t": self.iterations + 1,
        }


class RMSProp(Optimizer):
    """RMSProp: ``ms = decay*ms + (1-decay)*g^2``; ``M = mom*M + lr*g/sqrt(ms+eps)``
    (centered: ``mg = decay*mg + (1-decay)*g`` and ``sqrt(ms - mg^2 + eps)``); ``w -= M``.

    Args:
        learning_rate: The step size ``lr``.
        decay: Decay of the mean square ``ms``.
        momentum: The momentum ``mom``.
        epsilon: ``eps`` (default 1e-7).
        centered: Subtract the squared mean gradient (variance instead of mean square).
    """

    class_name = "RMSProp"
    kernel = "rmsprop_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule,
        decay: float = 0.9,
        momentum: float = 0.0,
        epsilon: float | None = None,
        centered: bool = False,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.decay = float(decay)
        self.momentum = float(momentum)
        self.epsilon = _eps(epsilon)
        self.centered = bool(centered)

    @property
    def slot_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("rms", "momentum", "mg") if self.centered else ("rms", "momentum")

    def get_config(self) -> dict[str, Any]:
        return {
            **self._base_config(),
            "decay": self.decay,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }

    def _hyper(self) -> dict[str, Any]:
        return {
            "lr": self.learning_rate,
            "decay": self.decay,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad: ``acc += g^2`` (from ``initial_accumulator_value``);
    ``w -= lr*g/sqrt(acc + 1e-7)``.

    Args:
        learning_rate: The step size ``lr``.
        initial_accumulator_value: The starting value of ``acc``.
    """

    class_name = "Adagrad"
    slot_names = ("accumulator",)
    kernel = "adagrad_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule,
        initial_accumulator_value: float = 0.1,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.initial_accumulator_value = float(initial_accumulator_value)

    def get_config(self) -> dict[str, Any]:
        return {
            **self._base_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
        }

    def _initial_slot(self, var: Variable, name: str) -> Tensor:
        return ops.fill(var.shape, self.initial_accumulator_value, var.dtype)

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.learning_rate, "epsilon": EPSILON}


class Adadelta(Optimizer):
    """The published algorithm (Zeiler 2012, as Keras): ``accG = rho*accG + (1-rho)*g^2``;
    ``upd = sqrt(accU+eps)/sqrt(accG+eps) * g``; ``accU = rho*accU + (1-rho)*upd^2``;
    ``w -= lr*upd``. (TF.js 4.x's adadelta reduces to plain SGD: a bug not copied.)

    The default learning rate is 0.001 (``tf.train.adadelta()``, Keras); tfjs-layers' string
    ``'adadelta'`` builds lr 1.0 instead, while ours builds 0.001.

    Args:
        learning_rate: The step size ``lr``.
        rho: Decay of both accumulators.
        epsilon: ``eps`` (default 1e-7).
    """

    class_name = "Adadelta"
    slot_names = ("accum_grad", "accum_var")
    kernel = "adadelta_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        rho: float = 0.95,
        epsilon: float | None = None,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.rho = float(rho)
        self.epsilon = _eps(epsilon)

    def get_config(self) -> dict[str, Any]:
        return {**self._base_config(), "rho": self.rho, "epsilon": self.epsilon}

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.learning_rate, "rho": self.rho, "epsilon": self.epsilon}


# --- Keras 3 optimizers ---------------------------------------------------------------------------


def _unit_interval(who: str, name: str, value: Any) -> float:
    """``value`` as a float in (0, 1], or ValueError naming it."""
    v = _check_lr(who, value, name)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"{who}: {name} must be in (0, 1], got {value!r}")
    return v


class AdamW(Optimizer):
    """AdamW, Keras 3's formulas: decoupled weight decay ``w -= w*wd*lr``, then Adam as Keras
    writes it: ``m += (g - m)*(1 - b1)``; ``v += (g^2 - v)*(1 - b2)``;
    ``w -= m*alpha / (sqrt(v) + eps)`` with ``alpha = lr*sqrt(1 - b2^t)/(1 - b1^t)``.

    Args:
        learning_rate: The step size ``lr`` (a number or a schedule).
        weight_decay: The decay ``wd`` (multiplied by the step's learning rate).
        beta1: Decay ``b1`` of the first moment.
        beta2: Decay ``b2`` of the second moment.
        epsilon: ``eps``.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.

    Raises:
        ValueError: A bad learning rate or clip value, or ``weight_decay`` None.
    """

    class_name = "AdamW"
    slot_names = ("m", "v")
    counts_steps = True
    kernel = "adamw_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        weight_decay: float = 0.004,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-7,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float, got None")
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.weight_decay = float(weight_decay)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = float(epsilon)

    def get_config(self) -> dict[str, Any]:
        return {
            **self._base_config(),
            "weight_decay": self.weight_decay,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
        }

    def _hyper(self) -> dict[str, Any]:
        return {
            "lr": self.learning_rate,
            "weight_decay": self.weight_decay,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "t": self.iterations + 1,
        }


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum), Keras 3's formulas: with
    ``u_t = b1*(1 - 0.5*0.96^t)`` and ``U_t = u_1*...*u_t``: ``m += (g - m)*(1 - b1)``;
    ``v += (g^2 - v)*(1 - b2)``; ``m_hat = u_{t+1}*m/(1 - U_t*u_{t+1}) + (1 - u_t)*g/(1 -
    U_t)``; ``w -= lr*m_hat / (sqrt(v/(1 - b2^t)) + eps)``.

    Args:
        learning_rate: The step size ``lr`` (a number or a schedule).
        beta1: Decay ``b1`` of the first moment.
        beta2: Decay ``b2`` of the second moment.
        epsilon: ``eps``.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
    """

    class_name = "Nadam"
    slot_names = ("m", "v")
    counts_steps = True
    kernel = "nadam_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-7,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = float(epsilon)
        self._u_cache: tuple[int, np.float32] = (0, np.float32(1.0))

    def get_config(self) -> dict[str, Any]:
        return {
            **self._base_config(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
        }

    def _u_product(self, n: int) -> float:
        """``U_n = u_1*...*u_n`` in float32 (as the device accumulates it), cached."""
        k, p = self._u_cache
        if k > n:
            k, p = 0, np.float32(1.0)
        while k < n:
            k += 1
            hyper = {**self._hyper_at(k), "u_product": p}
            p = rules.scalar_env(self.kernel, hyper)["up_t"]  # U_k = U_{k-1} * u_k
        self._u_cache = (k, p)
        return float(p)

    def _hyper_at(self, t: int) -> dict[str, Any]:
        return {
            "lr": self.learning_rate,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "t": t,
        }

    def _hyper(self) -> dict[str, Any]:
        return {
            **self._hyper_at(self.iterations + 1),
            "u_product": self._u_product(self.iterations),
        }

    def _state_values(self) -> dict[str, float]:
        return {
            **super()._state_values(),
            "u_product": self._u_product(self.iterations),
        }

    def _advance_state(self, state: dict[str, Variable]) -> None:
        # U_t = U_{t-1} * u_t, the rule's up_t (engine.train.rules), on the device
        state["u_product"].assign(self._device_hyper(state)[0]["up_t"])
        super()._advance_state(state)


class Lion(Optimizer):
    """Lion, Keras 3's formulas: ``w -= lr*sign(b1*m + (1 - b1)*g)``;
    ``m = b2*m + (1 - b2)*g``.

    Args:
        learning_rate: The step size ``lr`` (a number or a schedule).
        beta1: Mix of momentum and gradient in the sign, in (0, 1].
        beta2: Decay of the momentum.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.

    Raises:
        ValueError: ``beta1`` outside (0, 1] (Lion would degenerate to SignSGD).
    """

    class_name = "Lion"
    slot_names = ("m",)
    kernel = "lion_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.99,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        self.beta1 = _unit_interval("Lion", "beta1", beta1)
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.beta2 = float(beta2)

    def get_config(self) -> dict[str, Any]:
        return {**self._base_config(), "beta1": self.beta1, "beta2": self.beta2}

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.learning_rate, "beta1": self.beta1, "beta2": self.beta2}


class Ftrl(Optimizer):
    """FTRL-Proximal, Keras 3's formulas: with ``p = -learning_rate_power``,
    ``l2' = l2 + beta/(2*lr)``, ``g' = g + 2*l2_shrinkage*w``, ``n' = n + g^2``:
    ``z += g' - (n'^p - n^p)/lr * w``; ``w = (clip(z, -l1, l1) - z) / (n'^p/lr + 2*l2')``;
    ``n = n'``.

    Args:
        learning_rate: The step size ``lr`` (a number or a schedule).
        learning_rate_power: ``<= 0``; 0 keeps the rate fixed.
        initial_accumulator_value: The accumulators' start (``>= 0``).
        l1_regularization_strength: ``l1 >= 0``.
        l2_regularization_strength: ``l2 >= 0``.
        l2_shrinkage_regularization_strength: ``>= 0``, the magnitude penalty.
        beta: Added to ``l2`` as ``beta/(2*lr)``.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.

    Raises:
        ValueError: A positive ``learning_rate_power`` or a negative accumulator or strength.
    """

    class_name = "Ftrl"
    slot_names = ("accumulator", "linear")
    kernel = "ftrl_update"

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        values = {
            "initial_accumulator_value": initial_accumulator_value,
            "l1_regularization_strength": l1_regularization_strength,
            "l2_regularization_strength": l2_regularization_strength,
            "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength,
            "beta": beta,
            "learning_rate_power": learning_rate_power,
        }
        checked = {k: _check_lr("Ftrl", v, k) for k, v in values.items()}
        for k, v in checked.items():
            if k == "learning_rate_power" and v > 0:
                raise ValueError(f"Ftrl: learning_rate_power must be <= 0, got {values[k]!r}")
            if k not in ("learning_rate_power", "beta") and v < 0:
                raise ValueError(f"Ftrl: {k} must be >= 0, got {values[k]!r}")
        super().__init__(
            learning_rate,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
        )
        self.learning_rate_power = checked["learning_rate_power"]
        self.initial_accumulator_value = checked["initial_accumulator_value"]
        self.l1_regularization_strength = checked["l1_regularization_strength"]
        self.l2_regularization_strength = checked["l2_regularization_strength"]
        self.l2_shrinkage_regularization_strength = checked["l2_shrinkage_regularization_strength"]
        self.beta = checked["beta"]

    def get_config(self) -> dict[str, Any]:
        return {
            **self._base_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }

    def _initial_slot(self, var: Variable, name: str) -> Tensor:
        if name == "accumulator":
            return ops.fill(var.shape, self.initial_accumulator_value, var.dtype)
        return ops.zeros_like(var)

    def _hyper(self) -> dict[str, Any]:
        return {
            "lr": self.learning_rate,
            "lr_power": self.learning_rate_power,
            "l1": self.l1_regularization_strength,
            "l2": self.l2_regularization_strength,
            "l2_shrinkage": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }


# --- factories (TF.js ``tf.train.*``) ------------------------------------------------------------


def sgd(learning_rate: float | LearningRateSchedule, **clip: float | None) -> SGD:
    """Plain gradient descent, ``w -= learning_rate * g`` (TF.js ``tf.train.sgd``).

    Args:
        learning_rate: The step size.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        An ``SGD`` optimizer for ``compile`` or ``minimize``.

    Example:

    >>> opt = tw.train.sgd(0.1)
    >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
    >>> model.compile(optimizer=opt, loss="meanSquaredError")
    >>> model.optimizer is opt
    True
    """
    return SGD(learning_rate, **clip)


def momentum(
    learning_rate: float | LearningRateSchedule,
    momentum: float,
    use_nesterov: bool = False,
    **clip: float | None,
) -> Momentum:
    """Gradient descent with (optionally Nesterov) momentum (TF.js ``tf.train.momentum``).

    Args:
        learning_rate: The step size.
        momentum: The momentum (0.9 is usual).
        use_nesterov: Use Nesterov momentum.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        A ``Momentum`` optimizer.
    """
    return Momentum(learning_rate, momentum, use_nesterov, **clip)


def adam(
    learning_rate: float | LearningRateSchedule = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float | None = None,
    **clip: float | None,
) -> Adam:
    """The Adam optimizer (TF.js ``tf.train.adam``); ``compile(optimizer="adam")`` builds
    one with these defaults.

    Args:
        learning_rate: The step size.
        beta1: Decay of the first-moment estimate.
        beta2: Decay of the second-moment estimate.
        epsilon: Added to the denominator (default 1e-7, as TF.js on float32).
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        An ``Adam`` optimizer.

    Example:

    >>> w = tw.variable([1.0, -1.0])
    >>> opt = tw.train.adam(0.1)
    >>> opt.minimize(lambda: tw.sum(tw.square(w)))
    >>> [round(v, 4) for v in w.tolist()], opt.iterations
    ([0.9, -0.9], 1)
    """
    return Adam(learning_rate, beta1, beta2, epsilon, **clip)


def adamax(
    learning_rate: float | LearningRateSchedule = 0.002,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float | None = None,
    decay: float = 0.0,
    **clip: float | None,
) -> Adamax:
    """Adamax (infinity-norm Adam) with optional learning-rate decay (TF.js
    ``tf.train.adamax``).

    Args:
        learning_rate: The step size.
        beta1: Decay of the first-moment estimate.
        beta2: Decay of the infinity norm.
        epsilon: Added to the denominator (default 1e-7).
        decay: Learning-rate decay per step.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        An ``Adamax`` optimizer.
    """
    return Adamax(learning_rate, beta1, beta2, epsilon, decay, **clip)


def rmsprop(
    learning_rate: float | LearningRateSchedule,
    decay: float = 0.9,
    momentum: float = 0.0,
    epsilon: float | None = None,
    centered: bool = False,
    **clip: float | None,
) -> RMSProp:
    """RMSProp, optionally centered; epsilon inside the square root (TF.js
    ``tf.train.rmsprop``).

    Args:
        learning_rate: The step size.
        decay: Decay of the mean square of the gradients.
        momentum: Momentum of the update.
        epsilon: Added inside the square root (default 1e-7).
        centered: Normalise by the gradients' variance instead of their mean square.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        An ``RMSProp`` optimizer.
    """
    return RMSProp(learning_rate, decay, momentum, epsilon, centered, **clip)


def adagrad(
    learning_rate: float | LearningRateSchedule,
    initial_accumulator_value: float = 0.1,
    **clip: float | None,
) -> Adagrad:
    """Adagrad: per-weight steps scaled by the accumulated squared gradients (TF.js
    ``tf.train.adagrad``).

    Args:
        learning_rate: The step size.
        initial_accumulator_value: The accumulators' starting value.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        An ``Adagrad`` optimizer.
    """
    return Adagrad(learning_rate, initial_accumulator_value, **clip)


def adadelta(
    learning_rate: float | LearningRateSchedule = 0.001,
    rho: float = 0.95,
    epsilon: float | None = None,
    **clip: float | None,
) -> Adadelta:
    """Adadelta, the published algorithm (TF.js ``tf.train.adadelta``, without its bug).

    Args:
        learning_rate: The step size.
        rho: Decay of the accumulators.
        epsilon: Added inside the square roots (default 1e-7).
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        An ``Adadelta`` optimizer.
    """
    return Adadelta(learning_rate, rho, epsilon, **clip)


def adamw(
    learning_rate: float | LearningRateSchedule = 0.001,
    weight_decay: float = 0.004,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-7,
    **clip: float | None,
) -> AdamW:
    """AdamW (Keras 3 ``keras.optimizers.AdamW``): Adam with decoupled weight decay;
    ``compile(optimizer="adamw")`` builds one with these defaults.

    Args:
        learning_rate: The step size (a number or a schedule).
        weight_decay: Decay of the weights per step, times the learning rate.
        beta1: Decay of the first-moment estimate.
        beta2: Decay of the second-moment estimate.
        epsilon: Added to the denominator.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        An ``AdamW`` optimizer.
    """
    return AdamW(learning_rate, weight_decay, beta1, beta2, epsilon, **clip)


def nadam(
    learning_rate: float | LearningRateSchedule = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-7,
    **clip: float | None,
) -> Nadam:
    """Nadam, Adam with Nesterov momentum (Keras 3 ``keras.optimizers.Nadam``).

    Args:
        learning_rate: The step size (a number or a schedule).
        beta1: Decay of the first-moment estimate.
        beta2: Decay of the second-moment estimate.
        epsilon: Added to the denominator.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        A ``Nadam`` optimizer.
    """
    return Nadam(learning_rate, beta1, beta2, epsilon, **clip)


def lion(
    learning_rate: float | LearningRateSchedule = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.99,
    **clip: float | None,
) -> Lion:
    """Lion, sign-of-momentum updates (Keras 3 ``keras.optimizers.Lion``).

    Args:
        learning_rate: The step size (a number or a schedule); typically 3-10x smaller
            than AdamW's.
        beta1: Mix of momentum and gradient inside the sign, in (0, 1].
        beta2: Decay of the momentum.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        A ``Lion`` optimizer.

    Example:

    >>> w = tw.variable([1.0, -1.0])
    >>> tw.train.lion(0.1).minimize(lambda: tw.sum(tw.square(w)))
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -0.9]
    """
    return Lion(learning_rate, beta1, beta2, **clip)


def ftrl(
    learning_rate: float | LearningRateSchedule = 0.001,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
    **clip: float | None,
) -> Ftrl:
    """FTRL-Proximal (Keras 3 ``keras.optimizers.Ftrl``).

    Args:
        learning_rate: The step size (a number or a schedule).
        learning_rate_power: ``<= 0``: how the per-weight rate falls with the accumulator.
        initial_accumulator_value: The accumulators' start (``>= 0``).
        l1_regularization_strength: L1 strength (``>= 0``).
        l2_regularization_strength: L2 strength (``>= 0``).
        l2_shrinkage_regularization_strength: L2 shrinkage (magnitude) strength (``>= 0``).
        beta: Added to the L2 strength as ``beta/(2*lr)``.
        **clip: ``clipnorm``, ``clipvalue`` or ``global_clipnorm`` (``Optimizer``).

    Returns:
        An ``Ftrl`` optimizer.
    """
    return Ftrl(
        learning_rate,
        learning_rate_power,
        initial_accumulator_value,
        l1_regularization_strength,
        l2_regularization_strength,
        l2_shrinkage_regularization_strength,
        beta,
        **clip,
    )


# --- string identifiers (tfjs-compat §2) ---------------------------------------------------------

#: What each compile string builds: the defaults of the string table of tfjs-compat.md §2.
_STRING_TABLE: dict[str, Callable[[], Optimizer]] = {
    "sgd": lambda: SGD(0.01),
    "momentum": lambda: Momentum(0.01, 0.9),
    "adam": lambda: Adam(0.001, 0.9, 0.999, EPSILON),
    "rmsprop": lambda: RMSProp(0.001, 0.9, 0.0, EPSILON),
    "adagrad": lambda: Adagrad(0.01, 0.1),
    "adadelta": lambda: Adadelta(0.001, 0.95, EPSILON),
    "adamax": lambda: Adamax(0.002, 0.9, 0.999, EPSILON, 0.0),
    # Keras 3 optimizers (no TF.js string): Keras's defaults
    "adamw": lambda: AdamW(),
    "nadam": lambda: Nadam(),
    "lion": lambda: Lion(),
    "ftrl": lambda: Ftrl(),
}

CLASSES: dict[str, type[Optimizer]] = {
    c.class_name: c
    for c in (SGD, Momentum, Adam, Adamax, RMSProp, Adagrad, Adadelta, AdamW, Nadam, Lion, Ftrl)
}


def _key(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def get(identifier: Any) -> Optimizer:
    """The optimizer an identifier names (what ``compile(optimizer=...)`` accepts).

    Args:
        identifier: A string (``'adam'``, ``'Adam'``, ``'RMSProp'``, ``'rms_prop'``,
            ``'momentum'``, ...: any case, camelCase or snake_case; defaults of tfjs-compat
            §2), a ``{"class_name", "config"}`` dict, or an ``Optimizer`` (returned as is).

    Returns:
        An ``Optimizer``; a string or dict gives a new one with fresh state.

    Raises:
        ValueError: An unknown name or class name (the message suggests the closest).
        TypeError: Any other kind of identifier.

    Example:

    >>> opt = tw.train.get("rmsProp")
    >>> type(opt).__name__, opt.learning_rate
    ('RMSProp', 0.001)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        factory = _STRING_TABLE.get(_key(identifier))
        if factory is None:
            hint = did_you_mean(identifier, _STRING_TABLE)
            raise ValueError(
                f"unknown optimizer {identifier!r}{hint}; accepted names: "
                f"{', '.join(sorted(_STRING_TABLE))} (any case, camelCase or snake_case, e.g. "
                f"'Adam', 'RMSProp'), or an optimizer instance such as engine.train.adam(0.01)"
            )
        return factory()
    if isinstance(identifier, Mapping) and "class_name" in identifier:
        cls = {_key(k): c for k, c in CLASSES.items()}.get(_key(identifier["class_name"]))
        if cls is None:
            hint = did_you_mean(identifier["class_name"], CLASSES)
            raise ValueError(
                f"unknown optimizer class {identifier['class_name']!r}{hint}; "
                f"known: {sorted(CLASSES)}"
            )
        return cls.from_config(identifier.get("config", {}))
    raise TypeError(
        f"cannot interpret {identifier!r} as an optimizer: pass a name such as 'adam' or an "
        "optimizer instance such as engine.train.adam(0.01)"
    )
