"""Optimizer update rules, written once: slots, per-step scalars and the update as expressions.

Every optimizer of ``engine.train.optimizers`` has one :class:`Rule` here, keyed by its fused
kernel name (``"adam_update"``, ...). A rule holds

- ``inputs``: the hyper keywords a backend's ``<kind>_update`` receives (the backend contract
  in ``engine.train.optimizers``); ``t`` is the 1-based step number;
- ``prep``: the per-step scalars, as assignments over the inputs (``rbc1 = 1 / bias(beta1,
  t)``);
- ``variants``: the update, per value of the rule's ``flag`` input (Nesterov momentum,
  centered RMSProp), as assignments over ``w`` (the variable), ``g`` (its gradient), the slots
  and the scalars. The last value assigned to ``w`` is the new variable, to a slot name its new
  slot value;
- ``packed``: the scalars the update reads, in the order a kernel receives them (derived).

The expressions are a small subset of Python: names, numbers (scalar programs only), ``+ - * /
**``, unary ``-`` and the functions in :data:`FUNCTIONS`. They are parsed once into tuples
(``("name", "m")``, ``("const", 1.0)``, ``("+", a, b)``, ``("neg", a)``, ``("call", "sqrt",
a)``) that every backend derives its code from:

- the engine-op composite (``engine.train.optimizers``) evaluates both programs with engine ops
  (:func:`scalar_env` and :func:`apply` with :func:`engine_namespace`), the scalars on the device
  from the optimizer's state;
- the ``cpu`` backend's numba kernels are rendered from them (``backends/cpu/optgen.py`` writes
  ``backends/cpu/opt_kernels.py``) and its numpy twins (``backends/cpu/tiers.py``) evaluate
  them with numpy (:data:`NUMPY`);
- the rendered backends (OpenCL, CUDA) render them to C (``backends/crender/fused.py``).

:func:`scalars` is the one host packer of the per-step scalars every fused backend uses: the
same arithmetic as the composite's device evaluation (step-varying inputs ``lr``, ``t``,
``u_product`` in float32, constants folded in Python floats), so every backend sees the same
values. Bias corrections ``1 - beta^t`` are computed as ``-expm1(t*log(beta))`` in float32
(``bias``): tfjs-compat.md §2's formula at float32 precision, where float32 ``beta^t`` (or
TF.js's running float32 product ``accBeta``) loses the digits that matter when beta is close
to 1 (TF.js's ``1 - accBeta2`` is 1.3e-5 off at step 1 for beta2 = 0.999).

Adding an optimizer: one ``_rule(...)`` entry below and a class in ``optimizers.py`` naming it
(``kernel``); then ``python -m backends.cpu.optgen`` regenerates the numba kernels (a test fails
while the checked-in file is out of date), and every backend offers it.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Node = tuple
Program = tuple[tuple[str, Node], ...]

#: Functions an expression may call, with their arity. ``bias(beta, t)`` is ``1 - beta^t``
#: (scalar programs only); ``max`` propagates NaN (numpy's ``maximum``); ``sign(0) = 0``;
#: ``clip(x, lo, hi) = min(max(x, lo), hi)``.
FUNCTIONS: dict[str, int] = {
    "sqrt": 1,
    "abs": 1,
    "sign": 1,
    "max": 2,
    "clip": 3,
    "log": 1,
    "exp": 1,
    "expm1": 1,
    "bias": 2,
}
#: Functions only the per-step scalar programs may call (evaluated on the host or with engine
#: ops, never rendered into a kernel).
SCALAR_ONLY = frozenset({"log", "exp", "expm1", "bias"})
#: Inputs that change from step to step: float32 on the host (as the composite's device state).
STEP_INPUTS = frozenset({"lr", "t", "u_product"})

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def parse_expr(text: str) -> Node:
    """The expression tree of ``text`` (see the module docstring); ValueError naming what is
    not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"rules: cannot parse {text!r}: {e.msg}") from None
    return _node(tree.body, text)


def _node(n: ast.AST, text: str) -> Node:
    if isinstance(n, ast.Name):
        return ("name", n.id)
    if isinstance(n, ast.Constant) and type(n.value) in (int, float):
        return ("const", float(n.value))
    if isinstance(n, ast.BinOp) and type(n.op) in _BINOPS:
        return (_BINOPS[type(n.op)], _node(n.left, text), _node(n.right, text))
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
        return ("neg", _node(n.operand, text))
    if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and not n.keywords:
        name = n.func.id
        if name not in FUNCTIONS:
            raise ValueError(
                f"rules: unknown function {name!r} in {text!r}; expected one of {sorted(FUNCTIONS)}"
            )
        if len(n.args) != FUNCTIONS[name]:
            raise ValueError(
                f"rules: {name} takes {FUNCTIONS[name]} arguments, got {len(n.args)} in {text!r}"
            )
        return ("call", name, *(_node(a, text) for a in n.args))
    raise ValueError(f"rules: {ast.dump(n)} is not allowed in {text!r}")


def parse_program(text: str) -> Program:
    """``name = expression`` lines (blank lines and ``#`` comments skipped) as a program."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        target, sep, expr = line.partition("=")
        target = target.strip()
        if not sep or not target.isidentifier():
            raise ValueError(f"rules: expected 'name = expression', got {line!r}")
        out.append((target, parse_expr(expr)))
    return tuple(out)


def names(node: Node) -> list[str]:
    """The names ``node`` reads, in order of first appearance."""
    out: list[str] = []

    def walk(n: Node) -> None:
        if n[0] == "name":
            if n[1] not in out:
                out.append(n[1])
        elif n[0] != "const":
            for a in n[2:] if n[0] == "call" else n[1:]:
                walk(a)

    walk(node)
    return out


def calls(node: Node) -> set[str]:
    """The functions ``node`` calls."""
    if node[0] in ("name", "const"):
        return set()
    args = node[2:] if node[0] == "call" else node[1:]
    out = {node[1]} if node[0] == "call" else set()
    for a in args:
        out |= calls(a)
    return out


@dataclass(frozen=True)
class Variant:
    """One form of an update: its slots (local names, in the kernel's slot order) and body."""

    slots: tuple[str, ...]
    body: Program


@dataclass(frozen=True)
class Rule:
    """One optimizer: see the module docstring."""

    kernel: str
    inputs: tuple[str, ...]
    prep: Program
    variants: dict[bool, Variant]
    flag: str | None
    packed: tuple[str, ...]

    def variant(self, flag: bool) -> Variant:
        """The update for ``flag`` (the ``False`` form when the rule has no flag)."""
        return self.variants[bool(flag) and self.flag is not None]

    def flag_of(self, hyper: Mapping[str, Any]) -> bool:
        """The variant ``hyper`` selects."""
        return bool(hyper[self.flag]) if self.flag is not None else False


def _rule(
    kernel: str,
    inputs: str,
    update: str,
    slots: str = "",
    prep: str = "",
    flag: str | None = None,
    flagged: tuple[str, str] | None = None,
) -> Rule:
    """Build and check a rule: ``flagged`` is ``(slots, update)`` of the ``flag`` form."""
    ins = tuple(inputs.split())
    prog = parse_program(prep)
    variants = {False: Variant(tuple(slots.split()), parse_program(update))}
    if flagged is not None:
        variants[True] = Variant(tuple(flagged[0].split()), parse_program(flagged[1]))
    if (flag is None) != (flagged is None) or (flag is not None and flag not in ins):
        raise ValueError(f"rules: {kernel}: a flag input needs its flagged form, and back")
    known = set(ins)
    for target, expr in prog:
        missing = [n for n in names(expr) if n not in known]
        if missing:
            raise ValueError(f"rules: {kernel}: {target} reads undefined {missing}")
        known.add(target)
    scal = known - {flag}
    packed: list[str] = []
    for var in variants.values():
        local = {"w", "g", *var.slots}
        if local & scal:
            raise ValueError(f"rules: {kernel}: {sorted(local & scal)} are slots and scalars")
        for target, expr in var.body:
            bad = calls(expr) & SCALAR_ONLY
            consts = _consts(expr)
            if bad or consts:
                raise ValueError(
                    f"rules: {kernel}: the update of {target} uses {sorted(bad) or consts}; "
                    "compute it in prep (kernels take scalars in the buffers' dtype)"
                )
            for n in names(expr):
                if n not in local and n not in scal:
                    raise ValueError(f"rules: {kernel}: {target} reads undefined {n!r}")
                if n in scal and n not in packed:
                    packed.append(n)
            local.add(target)
        if "w" not in {t for t, _ in var.body}:
            raise ValueError(f"rules: {kernel}: the update never assigns w")
    return Rule(kernel, ins, prog, variants, flag, tuple(packed))


def _consts(node: Node) -> list[float]:
    if node[0] == "const":
        return [node[1]]
    if node[0] == "name":
        return []
    return [c for a in (node[2:] if node[0] == "call" else node[1:]) for c in _consts(a)]


#: Every optimizer's rule, in the cpu kernels' op-code order (``backends.cpu.opt_kernels``).
RULES: dict[str, Rule] = {
    r.kernel: r
    for r in (
        _rule("sgd_update", "lr", "w = w - g * lr"),
        _rule(
            "momentum_update",
            "lr momentum nesterov",
            "a = a * momentum + g\nw = w - a * lr",
            slots="a",
            flag="nesterov",
            flagged=("a", "a = a * momentum + g\nw = w - (g + a * momentum) * lr"),
        ),
        _rule(
            "adam_update",
            "lr beta1 beta2 epsilon t",
            """
            m = m * beta1 + g * c1
            v = v * beta2 + (g * g) * c2
            w = w - ((m * rbc1) / (sqrt(v * rbc2) + epsilon)) * lr
            """,
            slots="m v",
            # reciprocal bias corrections: the kernels multiply (division-bound otherwise)
            prep="c1 = 1 - beta1\nc2 = 1 - beta2\n"
            "rbc1 = 1 / bias(beta1, t)\nrbc2 = 1 / bias(beta2, t)",
        ),
        _rule(
            "adamax_update",
            "lr beta1 beta2 epsilon decay t",
            """
            m = m * beta1 + g * c1
            u = max(u * beta2, abs(g))
            w = w - (m / (u + epsilon)) * lr_c
            """,
            slots="m u",
            prep="c1 = 1 - beta1\nlr_c = lr / ((t - 1) * decay + 1) / bias(beta1, t)",
        ),
        _rule(
            "rmsprop_update",
            "lr decay momentum epsilon centered",
            """
            ms = ms * decay + (g * g) * c
            mom = mom * momentum + (g * lr) / sqrt(ms + epsilon)
            w = w - mom
            """,
            slots="ms mom",
            prep="c = 1 - decay",
            flag="centered",
            flagged=(
                "ms mom mg",
                """
                ms = ms * decay + (g * g) * c
                mg = mg * decay + g * c
                mom = mom * momentum + (g * lr) / sqrt((ms - mg * mg) + epsilon)
                w = w - mom
                """,
            ),
        ),
        _rule(
            "adagrad_update",
            "lr epsilon",
            "acc = acc + g * g\nw = w - (g / sqrt(acc + epsilon)) * lr",
            slots="acc",
        ),
        _rule(
            "adadelta_update",
            "lr rho epsilon",
            """
            ag = ag * rho + (g * g) * c
            upd = (sqrt(au + epsilon) / sqrt(ag + epsilon)) * g
            au = au * rho + (upd * upd) * c
            w = w - upd * lr
            """,
            slots="ag au",
            prep="c = 1 - rho",
        ),
        # Keras 3 optimizers, in Keras's forms
        _rule(
            "adamw_update",
            "lr weight_decay beta1 beta2 epsilon t",
            """
            w = w - (w * weight_decay) * lr
            m = m + (g - m) * c1
            v = v + (g * g - v) * c2
            w = w - (m * alpha) / (sqrt(v) + epsilon)
            """,
            slots="m v",
            prep="c1 = 1 - beta1\nc2 = 1 - beta2\n"
            "alpha = lr * sqrt(bias(beta2, t)) / bias(beta1, t)",
        ),
        _rule(
            "nadam_update",
            "lr beta1 beta2 epsilon t u_product",
            """
            m = m + (g - m) * c1
            v = v + (g * g - v) * c2
            mh = m * cm + g * cg
            w = w - (mh * lr) / (sqrt(v / bc2) + epsilon)
            """,
            slots="m v",
            # u_t = b1*(1 - 0.5*0.96^t); u_product: u_1*...*u_{t-1}
            prep="""
            c1 = 1 - beta1
            c2 = 1 - beta2
            u_t = (1 - exp(t * log(0.96)) * 0.5) * beta1
            u_t1 = (1 - exp((t + 1) * log(0.96)) * 0.5) * beta1
            up_t = u_product * u_t
            up_t1 = up_t * u_t1
            cm = u_t1 / (1 - up_t1)
            cg = (1 - u_t) / (1 - up_t)
            bc2 = bias(beta2, t)
            """,
        ),
        _rule(
            "lion_update",
            "lr beta1 beta2",
            """
            u = m * beta1 + g * c1
            w = w - sign(u) * lr
            m = m * beta2 + g * c2
            """,
            slots="m",
            prep="c1 = 1 - beta1\nc2 = 1 - beta2",
        ),
        _rule(
            "ftrl_update",
            "lr lr_power l1 l2 l2_shrinkage beta",
            """
            g2 = g + w * shrink2
            na = acc + g * g
            pn = na ** q
            lin = lin + (g2 - ((pn - acc ** q) / lr) * w)
            quad = pn / lr + l2x2
            w = (clip(lin, -l1, l1) - lin) / quad
            acc = na
            """,
            slots="acc lin",
            prep="q = -lr_power\nl2x2 = (beta / (lr * 2) + l2) * 2\nshrink2 = 2 * l2_shrinkage",
        ),
    )
}


def rule(kernel: str) -> Rule:
    """The rule of fused kernel ``kernel``; ValueError naming the known ones."""
    r = RULES.get(kernel)
    if r is None:
        raise ValueError(f"unknown optimizer update {kernel!r}; expected one of {sorted(RULES)}")
    return r


def slot_count(kernel: str, flag: bool) -> int:
    """Slot buffers the update ``kernel`` takes with ``flag``."""
    return len(rule(kernel).variant(flag).slots)


# --- evaluation ------------------------------------------------------------------------------
class Namespace:
    """How :func:`evaluate` computes: the five operators and the functions. Values that are
    Python numbers on both sides are folded with Python floats (:data:`PYTHON`)."""

    def __init__(self, ops: Mapping[str, Callable[..., Any]]):
        self.ops = dict(ops)

    def __call__(self, op: str, *args: Any) -> Any:
        return self.ops[op](*args)


def _py_bias(beta: float, t: float) -> float:
    return 1.0 if beta <= 0 else -math.expm1(t * math.log(beta))


PYTHON = Namespace(
    {
        "+": operator.add,
        "-": operator.sub,
        "*": operator.mul,
        "/": operator.truediv,
        "**": operator.pow,
        "neg": operator.neg,
        "sqrt": math.sqrt,
        "abs": abs,
        "sign": lambda x: float(np.sign(x)),
        "max": lambda a, b: a if (a >= b or a != a) else b,
        "clip": lambda x, lo, hi: min(max(x, lo), hi),
        "log": math.log,
        "exp": math.exp,
        "expm1": math.expm1,
    }
)

#: numpy arrays and numpy scalars (the tiers twins, the host packer's float32 scalars and
#: float64 references): each operation in the operands' dtype.
NUMPY = Namespace(
    {
        "+": operator.add,
        "-": operator.sub,
        "*": operator.mul,
        "/": operator.truediv,
        "**": operator.pow,
        "neg": operator.neg,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "sign": np.sign,
        "max": np.maximum,
        "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
        "log": np.log,
        "exp": np.exp,
        "expm1": np.expm1,
    }
)


def _engine_namespace() -> Namespace:
    from engine import ops

    return Namespace(
        {
            "+": ops.add,
            "-": ops.sub,
            "*": ops.mul,
            "/": ops.div,
            "**": ops.pow,
            "neg": ops.neg,
            "sqrt": ops.sqrt,
            "abs": ops.abs,
            "sign": ops.sign,
            "max": ops.maximum,
            "clip": ops.clip_by_value,
            "log": ops.log,
            "exp": ops.exp,
            "expm1": ops.expm1,
        }
    )


def _is_py(v: Any) -> bool:
    return type(v) in (int, float, bool)


def eval_node(node: Node, env: Mapping[str, Any], ns: Namespace) -> Any:
    """``node``'s value with names from ``env``, computed by ``ns``; operations whose operands
    are all Python numbers are folded in Python floats."""
    kind = node[0]
    if kind == "name":
        return env[node[1]]
    if kind == "const":
        return node[1]
    if kind == "call" and node[1] == "bias":  # 1 - beta^t as -expm1(t*log(beta)); 1 if beta <= 0
        beta = eval_node(node[2], env, ns)
        if _is_py(beta) and beta <= 0:
            return 1.0
        t = eval_node(node[3], env, ns)
        if _is_py(beta) and _is_py(t):
            return _py_bias(beta, t)
        return _apply(ns, "neg", _apply(ns, "expm1", _apply(ns, "*", t, _apply(ns, "log", beta))))
    op = node[1] if kind == "call" else kind
    args = [eval_node(a, env, ns) for a in (node[2:] if kind == "call" else node[1:])]
    return _apply(ns, op, *args)


def _apply(ns: Namespace, op: str, *args: Any) -> Any:
    if all(_is_py(a) for a in args):
        return float(PYTHON(op, *args))
    return ns(op, *args)


def evaluate(program: Program, env: Mapping[str, Any], ns: Namespace) -> dict[str, Any]:
    """Run ``program``'s assignments in order over ``env``; the final environment."""
    out = dict(env)
    for target, expr in program:
        out[target] = eval_node(expr, out, ns)
    return out


def _check_hyper(r: Rule, hyper: Mapping[str, Any]) -> None:
    missing = [k for k in r.inputs if k not in hyper]
    extra = [k for k in hyper if k not in r.inputs]
    if missing or extra:
        raise ValueError(
            f"{r.kernel}: hyper keywords {sorted(hyper)} do not match the expected "
            f"{list(r.inputs)} (missing {missing}, unexpected {extra})"
        )


def scalar_env(
    kernel: str, hyper: Mapping[str, Any], ns: Namespace | None = None
) -> dict[str, Any]:
    """Every scalar of ``kernel``'s prep program for one step. Without ``ns``, on the host: the
    step inputs (``lr``, ``t``, ``u_product``) as float32, constants as Python floats, each
    operation in float32 once a step input is involved (as the composite's device evaluation);
    with ``ns`` (``ENGINE`` for the composite), the inputs are used as given."""
    r = rule(kernel)
    _check_hyper(r, hyper)
    env: dict[str, Any] = {}
    for k, v in hyper.items():
        if k == r.flag:
            continue
        if ns is None:
            env[k] = np.float32(v) if k in STEP_INPUTS else float(v)
        else:
            env[k] = v
    with np.errstate(all="ignore"):
        return evaluate(r.prep, env, NUMPY if ns is None else ns)


_PACKERS: dict[tuple, Callable[..., tuple[float, ...]]] = {}
#: kernel -> (constant inputs, step inputs, its flag keyword or "")
_SPLIT: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {}

# numpy spellings of the functions in the host packers :func:`_packer` generates
_NP_SPELL = {
    "sqrt": "np.sqrt({0})",
    "abs": "np.abs({0})",
    "sign": "np.sign({0})",
    "max": "np.maximum({0}, {1})",
    "clip": "np.minimum(np.maximum({0}, {1}), {2})",
    "log": "np.log({0})",
    "exp": "np.exp({0})",
    "expm1": "np.expm1({0})",
}


class NumpyWriter:
    """Writes a rule expression as straight-line numpy source: operations on Python numbers
    only are folded now (in Python floats, as :func:`evaluate` folds them), every other one
    becomes a statement ``_<i> = <numpy expression>`` appended to ``lines``, in the order and
    with the operations :func:`evaluate` would run. ``env`` maps names to a Python number or
    ``("code", <source name>)``; :meth:`walk` returns the same for an expression. Used by the
    specialised host packers here and by the cpu backend's optimizer twins
    (``backends.cpu.tiers``)."""

    def __init__(self, env: dict[str, Any], lines: list[str]):
        self.env, self.lines = env, lines

    def emit(self, op: str, args: list[Any]) -> Any:
        if all(not isinstance(a, tuple) for a in args):
            return float(PYTHON(op, *args))
        code = [a[1] if isinstance(a, tuple) else repr(a) for a in args]
        if op == "neg":
            text = f"-{code[0]}"
        elif op in _NP_SPELL:
            text = _NP_SPELL[op].format(*code)
        else:
            text = f"{code[0]} {op} {code[1]}"
        name = f"_{len(self.lines)}"
        self.lines.append(f"    {name} = {text}")
        return ("code", name)

    def walk(self, node: Node) -> Any:
        kind = node[0]
        if kind == "name":
            return self.env[node[1]]
        if kind == "const":
            return node[1]
        if kind == "call" and node[1] == "bias":
            beta = self.walk(node[2])
            if not isinstance(beta, tuple) and beta <= 0:
                return 1.0
            t = self.walk(node[3])
            if not isinstance(beta, tuple) and not isinstance(t, tuple):
                return _py_bias(beta, t)
            emit = self.emit
            return emit("neg", [emit("expm1", [emit("*", [t, emit("log", [beta])])])])
        op = node[1] if kind == "call" else kind
        return self.emit(op, [self.walk(a) for a in (node[2:] if kind == "call" else node[1:])])


def _packer(kernel: str, consts: tuple[tuple[str, Any], ...]) -> Callable[..., tuple[float, ...]]:
    """``kernel``'s prep program specialised to the constant inputs ``consts``: a generated
    Python function of the step inputs (each float32) returning the packed scalars. Constant
    parts are folded now, in Python floats, and each remaining operation is the numpy scalar
    operation :func:`scalar_env` would run, in the same order (so the values are identical;
    ``tests/test_rules.py`` checks it), at a few microseconds per step instead of ~15."""
    r = rule(kernel)
    env: dict[str, Any] = {k: float(v) for k, v in consts}
    steps = [k for k in r.inputs if k in STEP_INPUTS]
    for k in steps:
        env[k] = ("code", k)
    lines: list[str] = []
    walk = NumpyWriter(env, lines).walk

    for target, expr in r.prep:
        env[target] = walk(expr)
    outs = [f"float({env[k][1]})" if isinstance(env[k], tuple) else repr(env[k]) for k in r.packed]
    head = [f"    {k} = f32({k})" for k in steps]
    src = "\n".join(
        [f"def pack({', '.join(steps)}):", *head, *lines, f"    return ({', '.join(outs)},)"]
    )
    scope: dict[str, Any] = {"np": np, "f32": np.float32}
    exec(compile(src, f"<rules packer {kernel}>", "exec"), scope)  # noqa: S102 (our own text)
    return scope["pack"]


def scalars(kernel: str, hyper: Mapping[str, Any]) -> tuple[float, ...]:
    """The per-step scalars of update ``kernel`` (``rule(kernel).packed`` order) from the hyper
    keywords a backend's ``<kind>_update`` receives: the one packer every fused backend uses.
    The values are those of ``scalar_env(kernel, hyper)`` (float32 arithmetic once a step
    input is involved). A call with constants seen before goes straight to their specialised
    packer (~1.3 us: a step's inputs change every step, so nothing is cached by value).

    Raises:
        ValueError: An unknown kernel, hyper keywords other than the rule's inputs, or a value
            that is not a number.
    """
    split = _SPLIT.get(kernel)
    if split is not None and len(hyper) == len(split[0]) + len(split[1]) + (split[2] in hyper):
        try:  # these constants' specialised packer
            pack = _PACKERS.get((kernel, *[hyper[k] for k in split[0]]))
            if pack is not None:
                return pack(*[hyper[k] for k in split[1]])
        except (KeyError, TypeError, ValueError):
            pass  # the checks below say what is wrong
    # first use of these constants, or bad hyper: check, then specialise
    r = rule(kernel)
    _check_hyper(r, hyper)
    bad = {k: v for k, v in hyper.items() if not isinstance(v, (int, float, np.number))}
    if bad:
        raise ValueError(f"{kernel}: hyper values must be numbers, got {bad!r}")
    split = _SPLIT[kernel] = (
        tuple(k for k in r.inputs if k not in STEP_INPUTS and k != r.flag),
        tuple(k for k in r.inputs if k in STEP_INPUTS),
        r.flag or "",  # a flag keyword (nesterov, centered) is not a packer input
    )
    consts = tuple((k, float(hyper[k])) for k in split[0])
    pack = _packer(kernel, consts)
    if len(_PACKERS) > 64:
        _PACKERS.clear()
    _PACKERS[(kernel, *(hyper[k] for k in split[0]))] = pack
    return pack(*(hyper[k] for k in split[1]))


def apply(
    kernel: str,
    flag: bool,
    w: Any,
    g: Any,
    slots: Sequence[Any],
    env: Mapping[str, Any],
    ns: Namespace,
) -> tuple:
    """``(new w, *new slots)`` of one step of ``kernel`` computed by ``ns``, from the scalars
    ``env`` (``scalar_env``'s result, or ``packed`` names bound to values)."""
    var = rule(kernel).variant(flag)
    if len(slots) != len(var.slots):
        raise ValueError(f"{kernel}: expected {len(var.slots)} slot buffers, got {len(slots)}")
    local = dict(env)
    local.update(w=w, g=g)
    local.update(zip(var.slots, slots, strict=True))
    out = evaluate(var.body, local, ns)
    return (out["w"], *(out[s] for s in var.slots))


# --- rendering ---------------------------------------------------------------------------------
def render(node: Node, name: Callable[[str], str], spell: Mapping[str, str]) -> str:
    """``node`` as source text: every operation parenthesised, names through ``name``, function
    ``f`` through the template ``spell[f]`` (``{0}``, ``{1}``, ... its arguments; an operator
    in ``spell``, such as ``"**"``, is rendered the same way)."""
    kind = node[0]
    if kind == "name":
        return name(node[1])
    if kind == "const":
        return repr(node[1])
    if kind == "neg":
        return f"(-{render(node[1], name, spell)})"
    if kind == "call":
        args = [_bare(render(a, name, spell)) for a in node[2:]]
        return spell[node[1]].format(*args)
    if kind in spell:  # an operator the target spells as a function (C's pow)
        return spell[kind].format(*(_bare(render(a, name, spell)) for a in node[1:]))
    return f"({render(node[1], name, spell)} {kind} {render(node[2], name, spell)})"


def render_bare(node: Node, name: Callable[[str], str], spell: Mapping[str, str]) -> str:
    """``render`` without the outermost parentheses (an assignment's right-hand side)."""
    return _bare(render(node, name, spell))


def _bare(text: str) -> str:
    """``text`` without one pair of parentheses enclosing all of it."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(text) - 1:
            return text
    return text[1:-1]


def ssa(body: Program, inputs: Sequence[str]) -> tuple[list[tuple[str, Node]], dict[str, str]]:
    """``body`` with every assignment to a fresh local (``<name>_<k>``; inputs keep their
    names): the assignments with names rewritten, and each name's final local."""
    current = {n: n for n in inputs}
    count: dict[str, int] = {}
    out = []
    for target, expr in body:
        expr = _rename(expr, current)
        count[target] = count.get(target, 0) + 1
        local = f"{target}_{count[target]}"
        out.append((local, expr))
        current[target] = local
    return out, current


def _rename(node: Node, current: Mapping[str, str]) -> Node:
    if node[0] == "name":
        return ("name", current.get(node[1], node[1]))
    if node[0] == "const":
        return node
    if node[0] == "call":
        return ("call", node[1], *(_rename(a, current) for a in node[2:]))
    return (node[0], *(_rename(a, current) for a in node[1:]))


_ENGINE: list[Namespace] = []


def engine_namespace() -> Namespace:
    """Engine ops (the composite update); built on first use (engine.ops imports late)."""
    if not _ENGINE:
        _ENGINE.append(_engine_namespace())
    return _ENGINE[0]
