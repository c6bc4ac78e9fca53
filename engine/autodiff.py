"""Reverse-mode autodiff: a tape of kernel calls, walked backwards through ``GRADIENTS``.

Only calls that depend on a watched tensor are recorded, so code outside ``grad`` pays nothing
and code inside pays one set lookup per input. Gradient functions are written with engine ops,
so they run on every backend, and nested tapes give higher-order gradients.

Tapes are per thread (``engine.dispatch.tapes``): a ``grad`` in one thread records only that
thread's ops, so several threads may take gradients at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine import dispatch
from engine.tensor import Tensor, Variable


class _Node:
    __slots__ = ("name", "inputs", "attrs", "out")

    def __init__(self, name, inputs, attrs, out):
        self.name = name
        self.inputs = inputs
        self.attrs = attrs
        self.out = out


class Tape:
    """Records the kernel calls reachable from the watched tensors (the engine's autodiff).

    ``grad``, ``value_and_grads`` and ``variable_grads`` use a tape; use one directly to take
    several gradients from one forward pass. Tapes nest (higher-order gradients).

    Args:
        watch: Tensors to differentiate with respect to.
        track_variables: Also watch every trainable ``Variable`` an op reads.

    Example:

    >>> x = tw.tensor([1.0, 2.0])
    >>> with tw.Tape(watch=[x]) as tape:
    ...     y = tw.sum(tw.square(x))
    >>> [g.tolist() for g in tape.gradient(y, [x])]
    [[2.0, 4.0]]
    """

    def __init__(self, watch: Sequence[Tensor] = (), track_variables: bool = False):
        self.nodes: list[_Node] = []
        self.tracked: set[int] = {t.id for t in watch}
        self.track_variables = track_variables
        self.variables: dict[int, Variable] = {}
        #: ids of the tensors the backward pass reads (recorded inputs and outputs); a tidy
        #: scope closing while this tape records hands them to the outer scope instead of
        #: disposing them (as TF.js keeps the tensors a kernel saves for backward).
        self.saved: set[int] = set()

    def record(self, name: str, inputs: Sequence[Tensor], attrs: dict, out: Tensor) -> None:
        """Note one kernel call if an input is watched (called by ``engine.dispatch``).

        Args:
            name: The kernel's name, the key of its gradient in ``engine.gradients``.
            inputs: The call's input tensors.
            attrs: The call's attributes, passed to the gradient function.
            out: The output tensor.
        """
        tracked = self.tracked
        hit = False
        for t in inputs:
            if t.id in tracked:
                hit = True
            elif self.track_variables and isinstance(t, Variable) and t.trainable:
                tracked.add(t.id)
                self.variables[t.id] = t
                hit = True
        if hit:
            tracked.add(out.id)
            self.saved.add(out.id)
            self.saved.update(t.id for t in inputs)
            self.nodes.append(_Node(name, tuple(inputs), attrs, out))

    def __enter__(self):
        dispatch.tapes.append(self)
        return self

    def __exit__(self, *exc):
        dispatch.tapes.remove(self)
        return False

    def gradient(self, y: Tensor, xs: Sequence[Tensor], dy: Tensor | None = None) -> list:
        """The gradients of ``sum(y * dy)`` with respect to each of ``xs``.

        Args:
            y: A tensor computed while the tape recorded.
            xs: Watched tensors.
            dy: The upstream gradient, shaped like ``y`` (default ones).

        Returns:
            One Tensor per ``x`` (shaped like it), or ``None`` where ``x`` does not reach ``y``.

        Raises:
            ValueError: ``dy``'s shape differs from ``y``'s.
            NotImplementedError: A recorded kernel has no registered gradient.
        """
        from engine import ops
        from engine.gradients import GRADIENTS

        if dy is not None:
            dy = ops.as_tensor(dy, y.dtype)
            if dy.shape != y.shape:
                raise ValueError(
                    f"gradient: dy has shape {dy.shape} but the function's output has shape "
                    f"{y.shape}; they must match"
                )
        if y.id not in self.tracked:
            return [None] * len(xs)
        grads: dict[int, Tensor] = {y.id: ops.ones_like(y) if dy is None else dy}
        for node in reversed(self.nodes):
            g = grads.pop(node.out.id, None)
            if g is None:
                continue
            fn = GRADIENTS.get(node.name)
            if fn is None:
                raise NotImplementedError(f"no gradient registered for kernel {node.name!r}")
            in_grads = fn(g, node.inputs, node.out, node.attrs)
            for inp, gi in zip(node.inputs, in_grads, strict=True):
                if gi is None or inp.id not in self.tracked:
                    continue
                if gi.shape != inp.shape:
                    gi = ops.sum_to_shape(gi, inp.shape)
                prev = grads.get(inp.id)
                grads[inp.id] = gi if prev is None else ops.add(prev, gi)
        return [grads.get(x.id) for x in xs]


def _as_list(xs: Any) -> tuple[list[Tensor], bool]:
    if isinstance(xs, (list, tuple)):
        return list(xs), True
    return [xs], False


def _check_y(y: Any, fname: str) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(f"{fname}: the function must return a Tensor, got {type(y).__name__}")
    return y


def _no_path(fname: str, which: str) -> ValueError:
    return ValueError(
        f"{fname}: no path leads from {which} to the function's output; "
        "make sure the output is computed from it with engine ops"
    )


def value_and_grads(f: Callable[..., Tensor]) -> Callable:
    """Wrap ``f`` to return its value and its gradients w.r.t. every argument (TF.js
    ``valueAndGrads``).

    Args:
        f: A function of one or more tensors returning a Tensor.

    Returns:
        A function ``(*xs, dy=None) -> (f(*xs), [df/dx for x in xs])``; ``dy`` weights a
        non-scalar output (default ones). It raises ``TypeError`` when ``f`` returns no Tensor
        or an argument is not float, and ``ValueError`` when an argument does not reach the
        output.

    Example:

    >>> f = lambda a, b: tw.sum(tw.mul(a, b))
    >>> y, (da, db) = tw.value_and_grads(f)(tw.tensor([1.0, 2.0]), tw.tensor([3.0, 4.0]))
    >>> y.item(), da.tolist(), db.tolist()
    (11.0, [3.0, 4.0], [1.0, 2.0])
    """

    def wrapped(*xs, dy: Tensor | None = None):
        from engine import ops

        ts = [ops.as_tensor(x) for x in xs]
        with Tape(watch=ts) as tape:
            y = _check_y(f(*ts), "grads")
        gs = tape.gradient(y, ts, dy)
        for i, g in enumerate(gs):
            if g is None:
                if ts[i].dtype not in ("float32", "float64", "float16"):
                    raise TypeError(
                        f"grads: argument {i} is {ts[i].dtype}; gradients flow only to float "
                        "tensors (cast it to float32 first)"
                    )
                raise _no_path("grads", f"argument {i}")
        return y, gs

    return wrapped


def grads(f: Callable[..., Tensor]) -> Callable:
    """Wrap ``f`` to return its gradients w.r.t. every argument (TF.js ``grads``).

    Args:
        f: A function of one or more tensors returning a Tensor.

    Returns:
        A function ``(*xs, dy=None) -> [df/dx for x in xs]`` (see ``value_and_grads``).

    Example:

    >>> da, db = tw.grads(lambda a, b: tw.sum(tw.mul(a, b)))(tw.tensor([1.0]), tw.tensor([5.0]))
    >>> da.tolist(), db.tolist()
    ([5.0], [1.0])
    """
    vg = value_and_grads(f)
    return lambda *xs, dy=None: vg(*xs, dy=dy)[1]


def value_and_grad(f: Callable[[Tensor], Tensor]) -> Callable:
    """Wrap ``f`` to return its value and its gradient w.r.t. its one argument (TF.js
    ``valueAndGrad``).

    Args:
        f: A function of one tensor returning a Tensor.

    Returns:
        A function ``(x, dy=None) -> (f(x), df/dx)``.

    Example:

    >>> y, g = tw.value_and_grad(lambda x: tw.sum(tw.square(x)))(tw.tensor([3.0]))
    >>> y.item(), g.tolist()
    (9.0, [6.0])
    """
    vg = value_and_grads(f)

    def wrapped(x, dy=None):
        y, (g,) = vg(x, dy=dy)
        return y, g

    return wrapped


def grad(f: Callable[[Tensor], Tensor]) -> Callable:
    """Wrap ``f`` to return its gradient w.r.t. its one argument (TF.js ``grad``).

    Works on every backend: gradients are written with engine ops.

    Args:
        f: A function of one tensor returning a Tensor (a non-scalar output is summed, or
            weighted by ``dy``).

    Returns:
        A function ``(x, dy=None) -> df/dx``, shaped like ``x``. It raises ``TypeError`` when
        ``f`` returns no Tensor or ``x`` is not float, ``ValueError`` when ``x`` does not reach
        the output.

    Example:

    >>> g = tw.grad(lambda x: tw.sum(tw.square(x)))(tw.tensor([1.0, 2.0]))
    >>> g.tolist()
    [2.0, 4.0]
    """
    vg = value_and_grad(f)
    return lambda x, dy=None: vg(x, dy=dy)[1]


def variable_grads(f: Callable[[], Tensor], var_list: Sequence[Variable] | None = None) -> dict:
    """The value of ``f()`` and its gradients w.r.t. variables (TF.js ``variableGrads``).

    Args:
        f: A function of no arguments returning a scalar Tensor.
        var_list: The variables to differentiate; default every trainable variable ``f``
            reads.

    Returns:
        ``{"value": f(), "grads": {variable name: gradient}}``.

    Raises:
        TypeError: ``f`` does not return a Tensor.
        ValueError: ``f``'s output is not a scalar, ``f`` uses no trainable variable, or a
            variable of ``var_list`` does not reach the output.

    Example:

    >>> w = tw.variable([2.0], name="w_doc")
    >>> out = tw.variable_grads(lambda: tw.sum(tw.square(w)))
    >>> out["value"].item(), out["grads"]["w_doc"].tolist()
    (4.0, [4.0])
    """
    if var_list is not None:
        tape = Tape(watch=list(var_list))
    else:
        tape = Tape(track_variables=True)
    with tape:
        y = _check_y(f(), "variable_grads")
    if y.size != 1:
        raise ValueError(f"variable_grads: f must return a scalar, got shape {y.shape}")
    variables = list(var_list) if var_list is not None else list(tape.variables.values())
    if not variables:
        raise ValueError("variable_grads: f uses no trainable variable")
    gs = tape.gradient(y, variables)
    out = {}
    for v, g in zip(variables, gs, strict=True):
        if g is None:
            if var_list is not None:
                raise _no_path("variable_grads", f"variable {v.name!r}")
            continue
        out[v.name] = g
    return {"value": y, "grads": out}


def custom_grad(f: Callable) -> Callable:
    """Give a function a gradient of your own (TF.js ``customGrad``).

    Args:
        f: A function ``f(*xs) -> (y, grad_fn)`` where ``grad_fn(dy)`` returns one gradient
            per ``x``. The ops inside ``f`` are not recorded.

    Returns:
        A function ``(*xs) -> y`` whose gradient is ``grad_fn``.

    Example:

    >>> def f(x):
    ...     return tw.square(x), lambda dy: [tw.mul(dy, 10.0)]
    >>> tw.grad(lambda x: tw.sum(tw.custom_grad(f)(x)))(tw.tensor([1.0])).tolist()
    [10.0]
    """

    def wrapped(*xs):
        from engine import ops

        ts = [ops.as_tensor(x) for x in xs]
        saved = list(dispatch.tapes)
        dispatch.tapes.clear()
        try:
            y, grad_fn = f(*ts)
        finally:
            dispatch.tapes.extend(saved)
        y = ops.identity(y, _record=False)
        attrs = {"grad_fn": grad_fn}
        for tape in dispatch.tapes:
            tape.record("custom", ts, attrs, y)
        return y

    return wrapped


def stop_gradient(x: Tensor) -> Tensor:
    """The same values, with no gradient flowing back through them.

    Args:
        x: The tensor.

    Returns:
        A new Tensor equal to ``x`` that tapes do not record.

    Example:

    >>> tw.grad(lambda x: tw.sum(tw.mul(x, tw.stop_gradient(x))))(tw.tensor([3.0])).tolist()
    [3.0]
    """
    from engine import ops

    return ops.identity(x, _record=False)
