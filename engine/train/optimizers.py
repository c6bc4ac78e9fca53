"""Optimizers with TensorFlow.js's update rules and defaults (``docs/tfjs-compat.md`` §2).

Each optimizer keeps per-variable slot variables (moments, accumulators) keyed by the
variable's name, and one ``_update(var, grad, slots)`` that computes the new value of the
variable and of its slots with engine ops. Two deliberate deviations from TF.js 4.x, where TF.js
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
step, exactly the keywords documented on each class's ``_update`` (``Adam``: ``lr, beta1,
beta2, epsilon, t``; ``Adamax``: ``lr_t, beta1, beta2, epsilon, t``; ``SGD``: ``lr``;
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
per-variable updates into one launch over flat arenas, ``backends/cpu/arena.py``.)

Device state
------------
Values that change from step to step live in non-trainable scalar variables (``_state``), so a
traced training step replays correctly: the learning rate (``learning_rate`` is a Python
property mirroring it; setting it assigns the variable), and for Adam and Adamax, TF.js-style,
the 1-based step number ``t`` (float32, exact to 2^24) from which the bias corrections
``1 - beta^t`` are computed on the device, advanced with an op after each step. The composite ``_update`` takes ``_device_hyper()``,
where those values are scalar tensors. ``iterations`` is a Python mirror counted on the host
(also on replay); setting it (``set_weights``) re-derives the device state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from engine import dispatch, ops, registry, trace
from engine.autodiff import Tape
from engine.hints import did_you_mean
from engine.memory import tidy
from engine.tensor import Tensor, Variable, find_variables

EPSILON = 1e-7


def _eps(epsilon: float | None) -> float:
    return EPSILON if epsilon is None else float(epsilon)


def _bias_correction(beta: float, t: Tensor) -> Tensor:
    """``1 - beta^t`` on the device as ``-expm1(t * log(beta))``: float32 ``beta^t`` loses
    the digits that matter when beta is close to 1."""
    if beta <= 0:
        return ops.fill((), 1.0, "float32")
    return ops.neg(ops.expm1(ops.mul(t, math.log(beta))))


class Optimizer:
    """Base class of the optimizers: gradient application, slot state, config and weights.

    Use the factories (``tw.train.sgd``, ``tw.train.adam``, ...) or ``compile``'s strings;
    subclasses define ``_update`` (the rule, in engine ops) and may name a fused kernel.

    Args:
        learning_rate: The step size.
    """

    class_name: ClassVar[str] = "Optimizer"
    #: Names of the per-variable slots, in the order ``_update`` takes and returns them.
    slot_names: ClassVar[tuple[str, ...]] = ()
    #: The fused backend kernel that can replace ``_update``.
    kernel: ClassVar[str] = ""

    def __init__(self, learning_rate: float):
        self._state: dict[str, Variable] = {}
        self._lr = float(learning_rate)
        self._iterations = 0
        self._slots: dict[str, list[Variable]] = {}
        self._vars: dict[str, Variable] = {}

    # --- step-varying state ----------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate (a Python float; setting it updates the device copy too)."""
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._lr = float(value)
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

    def _state_values(self) -> dict[str, float]:
        """The device state's values before step ``iterations + 1``."""
        return {"lr": self._lr}

    def _ensure_state(self) -> dict[str, Variable]:
        if not self._state:
            self._state = {
                k: ops.variable(ops.scalar(v, "float32"), trainable=False)
                for k, v in self._state_values().items()
            }
        return self._state

    def _device_hyper(self, state: dict[str, Variable]) -> dict[str, Any]:
        """The keyword arguments of this step's composite ``_update`` (scalar tensors for the
        values that change between steps)."""
        return {**self._hyper(), "lr": state["lr"]}

    def _advance_state(self, state: dict[str, Variable]) -> None:
        """Move the device state on by one step, with ops."""

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
        pairs = [(g, var) for g, var in self._pairs(grads) if g is not None]
        for g, var in pairs:  # every check before any variable changes
            if g.shape != var.shape:
                raise ValueError(
                    f"{self.class_name}.apply_gradients: gradient of {var.name!r} has shape "
                    f"{g.shape}, the variable has shape {var.shape}"
                )
        be = registry.backend()
        fused = bool(self.kernel) and be.has(self.kernel)
        many = fused and be.has(self.kernel + "_many")
        state = self._ensure_state()
        with tidy():
            hyper: dict[str, Any] | None = None
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
                    new = self._update(var, ops.cast(g, var.dtype), tuple(slots), **hyper)
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
        return {"learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Optimizer:
        """A new optimizer of this class from ``get_config()`` output.

        Args:
            config: The hyperparameters, snake_case keys.

        Returns:
            The optimizer (with fresh state).
        """
        return cls(**dict(config))

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

    def _update(self, var: Tensor, grad: Tensor, slots: tuple[Tensor, ...], **hyper: Any) -> tuple:
        """``(new value, *new slots)`` for one variable."""
        raise NotImplementedError

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
        # trace program computes them once per step: backends.cpu.compiled).
        invoke.host_key = (id(self), kernel, dtype)  # type: ignore[attr-defined]
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

    def _update(self, var, grad, slots, *, lr):
        return (ops.sub(var, ops.mul(grad, lr)),)


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

    def __init__(self, learning_rate: float, momentum: float, use_nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum = float(momentum)
        self.use_nesterov = bool(use_nesterov)

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "momentum": self.momentum,
            "use_nesterov": self.use_nesterov,
        }

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.learning_rate, "momentum": self.momentum, "nesterov": self.use_nesterov}

    def _update(self, var, grad, slots, *, lr, momentum, nesterov):
        (a,) = slots
        a = ops.add(ops.mul(a, momentum), grad)
        step = ops.add(grad, ops.mul(a, momentum)) if nesterov else a
        return ops.sub(var, ops.mul(step, lr)), a


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
    kernel = "adam_update"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float | None = None,
    ):
        super().__init__(learning_rate)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = _eps(epsilon)

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
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

    def _state_values(self) -> dict[str, float]:
        return {"lr": self._lr, "t": float(self.iterations + 1)}

    def _device_hyper(self, state: dict[str, Variable]) -> dict[str, Any]:
        return {
            "lr": state["lr"],
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "bc1": _bias_correction(self.beta1, state["t"]),
            "bc2": _bias_correction(self.beta2, state["t"]),
        }

    def _advance_state(self, state: dict[str, Variable]) -> None:
        state["t"].assign(ops.add(state["t"], 1.0))

    def _update(self, var, grad, slots, *, lr, beta1, beta2, epsilon, bc1, bc2):
        """``bc1``, ``bc2``: the bias corrections ``1 - beta^t`` of this step."""
        m, v = slots
        m = ops.add(ops.mul(m, beta1), ops.mul(grad, 1 - beta1))
        v = ops.add(ops.mul(v, beta2), ops.mul(ops.square(grad), 1 - beta2))
        m_hat = ops.div(m, bc1)
        v_hat = ops.div(v, bc2)
        step = ops.div(m_hat, ops.add(ops.sqrt(v_hat), epsilon))
        return ops.sub(var, ops.mul(step, lr)), m, v


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
    kernel = "adamax_update"

    def __init__(
        self,
        learning_rate: float = 0.002,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float | None = None,
        decay: float = 0.0,
    ):
        super().__init__(learning_rate)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = _eps(epsilon)
        self.decay = float(decay)

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "decay": self.decay,
        }

    def _hyper(self) -> dict[str, Any]:
        return {
            "lr_t": self.learning_rate / (1 + self.decay * self.iterations),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "t": self.iterations + 1,
        }

    def _state_values(self) -> dict[str, float]:
        return {"lr": self._lr, "t": float(self.iterations + 1)}

    def _device_hyper(self, state: dict[str, Variable]) -> dict[str, Any]:
        t = state["t"]
        lr_t = ops.div(state["lr"], ops.add(ops.mul(ops.sub(t, 1.0), self.decay), 1.0))
        return {
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "lr_c": ops.div(lr_t, _bias_correction(self.beta1, t)),
        }

    def _advance_state(self, state: dict[str, Variable]) -> None:
        state["t"].assign(ops.add(state["t"], 1.0))

    def _update(self, var, grad, slots, *, beta1, beta2, epsilon, lr_c):
        """``lr_c``: this step's ``lr_t / (1 - beta1^t)``."""
        m, u = slots
        m = ops.add(ops.mul(m, beta1), ops.mul(grad, 1 - beta1))
        u = ops.maximum(ops.mul(u, beta2), ops.abs(grad))
        step = ops.div(m, ops.add(u, epsilon))
        return ops.sub(var, ops.mul(step, lr_c)), m, u


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
        learning_rate: float,
        decay: float = 0.9,
        momentum: float = 0.0,
        epsilon: float | None = None,
        centered: bool = False,
    ):
        super().__init__(learning_rate)
        self.decay = float(decay)
        self.momentum = float(momentum)
        self.epsilon = _eps(epsilon)
        self.centered = bool(centered)

    @property
    def slot_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("rms", "momentum", "mg") if self.centered else ("rms", "momentum")

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
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

    def _update(self, var, grad, slots, *, lr, decay, momentum, epsilon, centered):
        ms, mom = slots[0], slots[1]
        ms = ops.add(ops.mul(ms, decay), ops.mul(ops.square(grad), 1 - decay))
        if centered:
            mg = ops.add(ops.mul(slots[2], decay), ops.mul(grad, 1 - decay))
            denom = ops.sqrt(ops.add(ops.sub(ms, ops.square(mg)), epsilon))
        else:
            denom = ops.sqrt(ops.add(ms, epsilon))
        mom = ops.add(ops.mul(mom, momentum), ops.div(ops.mul(grad, lr), denom))
        new = ops.sub(var, mom)
        return (new, ms, mom, mg) if centered else (new, ms, mom)


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

    def __init__(self, learning_rate: float, initial_accumulator_value: float = 0.1):
        super().__init__(learning_rate)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "initial_accumulator_value": self.initial_accumulator_value,
        }

    def _initial_slot(self, var: Variable, name: str) -> Tensor:
        return ops.fill(var.shape, self.initial_accumulator_value, var.dtype)

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.learning_rate, "epsilon": EPSILON}

    def _update(self, var, grad, slots, *, lr, epsilon):
        (acc,) = slots
        acc = ops.add(acc, ops.square(grad))
        step = ops.div(grad, ops.sqrt(ops.add(acc, epsilon)))
        return ops.sub(var, ops.mul(step, lr)), acc


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
        self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float | None = None
    ):
        super().__init__(learning_rate)
        self.rho = float(rho)
        self.epsilon = _eps(epsilon)

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "rho": self.rho, "epsilon": self.epsilon}

    def _hyper(self) -> dict[str, Any]:
        return {"lr": self.learning_rate, "rho": self.rho, "epsilon": self.epsilon}

    def _update(self, var, grad, slots, *, lr, rho, epsilon):
        acc_g, acc_u = slots
        acc_g = ops.add(ops.mul(acc_g, rho), ops.mul(ops.square(grad), 1 - rho))
        upd = ops.mul(
            ops.div(ops.sqrt(ops.add(acc_u, epsilon)), ops.sqrt(ops.add(acc_g, epsilon))), grad
        )
        acc_u = ops.add(ops.mul(acc_u, rho), ops.mul(ops.square(upd), 1 - rho))
        return ops.sub(var, ops.mul(upd, lr)), acc_g, acc_u


# --- factories (TF.js ``tf.train.*``) ------------------------------------------------------------


def sgd(learning_rate: float) -> SGD:
    """Plain gradient descent, ``w -= learning_rate * g`` (TF.js ``tf.train.sgd``).

    Args:
        learning_rate: The step size.

    Returns:
        An ``SGD`` optimizer for ``compile`` or ``minimize``.

    Example:

    >>> opt = tw.train.sgd(0.1)
    >>> model = layers.sequential([layers.dense(units=1, input_shape=[2])])
    >>> model.compile(optimizer=opt, loss="meanSquaredError")
    >>> model.optimizer is opt
    True
    """
    return SGD(learning_rate)


def momentum(learning_rate: float, momentum: float, use_nesterov: bool = False) -> Momentum:
    """Gradient descent with (optionally Nesterov) momentum (TF.js ``tf.train.momentum``).

    Args:
        learning_rate: The step size.
        momentum: The momentum (0.9 is usual).
        use_nesterov: Use Nesterov momentum.

    Returns:
        A ``Momentum`` optimizer.
    """
    return Momentum(learning_rate, momentum, use_nesterov)


def adam(
    learning_rate: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float | None = None,
) -> Adam:
    """The Adam optimizer (TF.js ``tf.train.adam``); ``compile(optimizer="adam")`` builds
    one with these defaults.

    Args:
        learning_rate: The step size.
        beta1: Decay of the first-moment estimate.
        beta2: Decay of the second-moment estimate.
        epsilon: Added to the denominator (default 1e-7, as TF.js on float32).

    Returns:
        An ``Adam`` optimizer.

    Example:

    >>> w = tw.variable([1.0, -1.0])
    >>> opt = tw.train.adam(0.1)
    >>> opt.minimize(lambda: tw.sum(tw.square(w)))
    >>> [round(v, 4) for v in w.tolist()], opt.iterations
    ([0.9, -0.9], 1)
    """
    return Adam(learning_rate, beta1, beta2, epsilon)


def adamax(
    learning_rate: float = 0.002,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float | None = None,
    decay: float = 0.0,
) -> Adamax:
    """Adamax (infinity-norm Adam) with optional learning-rate decay (TF.js
    ``tf.train.adamax``).

    Args:
        learning_rate: The step size.
        beta1: Decay of the first-moment estimate.
        beta2: Decay of the infinity norm.
        epsilon: Added to the denominator (default 1e-7).
        decay: Learning-rate decay per step.

    Returns:
        An ``Adamax`` optimizer.
    """
    return Adamax(learning_rate, beta1, beta2, epsilon, decay)


def rmsprop(
    learning_rate: float,
    decay: float = 0.9,
    momentum: float = 0.0,
    epsilon: float | None = None,
    centered: bool = False,
) -> RMSProp:
    """RMSProp, optionally centered; epsilon inside the square root (TF.js
    ``tf.train.rmsprop``).

    Args:
        learning_rate: The step size.
        decay: Decay of the mean square of the gradients.
        momentum: Momentum of the update.
        epsilon: Added inside the square root (default 1e-7).
        centered: Normalise by the gradients' variance instead of their mean square.

    Returns:
        An ``RMSProp`` optimizer.
    """
    return RMSProp(learning_rate, decay, momentum, epsilon, centered)


def adagrad(learning_rate: float, initial_accumulator_value: float = 0.1) -> Adagrad:
    """Adagrad: per-weight steps scaled by the accumulated squared gradients (TF.js
    ``tf.train.adagrad``).

    Args:
        learning_rate: The step size.
        initial_accumulator_value: The accumulators' starting value.

    Returns:
        An ``Adagrad`` optimizer.
    """
    return Adagrad(learning_rate, initial_accumulator_value)


def adadelta(
    learning_rate: float = 0.001, rho: float = 0.95, epsilon: float | None = None
) -> Adadelta:
    """Adadelta, the published algorithm (TF.js ``tf.train.adadelta``, without its bug).

    Args:
        learning_rate: The step size.
        rho: Decay of the accumulators.
        epsilon: Added inside the square roots (default 1e-7).

    Returns:
        An ``Adadelta`` optimizer.
    """
    return Adadelta(learning_rate, rho, epsilon)


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
}

CLASSES: dict[str, type[Optimizer]] = {
    c.class_name: c for c in (SGD, Momentum, Adam, Adamax, RMSProp, Adagrad, Adadelta)
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
