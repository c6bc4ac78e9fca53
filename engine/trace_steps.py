"""The records a trace capture builds (``engine.trace``) and the fusion pass rewrites
(``engine.fusion``): named tuples, told apart by their ``kind`` field.

- ``Ref(kind, index)``: where an op's input, a trace output or an assigned value comes from:
  ``SLOT`` (the result of an earlier op), ``ARG`` (a positional argument), ``VAR`` (a
  variable) or ``CONST`` (a tensor captured as a constant).
- ``RecOp(kind=OP, name, invoke, ins, slots, multi, meta)``: one dispatched kernel; ``invoke``
  is the dispatch closure, ``ins`` its input refs, ``slots`` its result slots, ``multi`` whether
  it returns several buffers, ``meta`` its ``OpMeta`` (attrs, input and output shapes/dtypes).
- ``RecAssign(kind=ASSIGN, var, ref)``: variable ``var`` takes the value of ``ref``.
- ``RecHost(kind=HOST, fn)``: Python-side work replayed at this point (counters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "ARG",
    "ASSIGN",
    "CONST",
    "HOST",
    "OP",
    "SLOT",
    "VAR",
    "RecAssign",
    "RecHost",
    "RecOp",
    "Ref",
]

# reference kinds
SLOT, ARG, VAR, CONST = 0, 1, 2, 3
# step kinds
OP, ASSIGN, HOST = 0, 1, 2


class Ref(NamedTuple):
    """Where a value comes from: ``kind`` (SLOT, ARG, VAR, CONST) and its ``index``."""

    kind: int
    index: int


class RecOp(NamedTuple):
    """One recorded kernel call."""

    kind: int
    name: str
    invoke: Callable[..., Any]
    ins: tuple[Ref, ...]
    slots: tuple[int, ...]
    multi: bool
    meta: Any


class RecAssign(NamedTuple):
    """A variable assignment."""

    kind: int
    var: int
    ref: Ref


class RecHost(NamedTuple):
    """A host-side effect."""

    kind: int
    fn: Callable[[], None]
