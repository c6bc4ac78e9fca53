"""Optimizer updates of the ``cpu`` backend: ``sgd_update`` ... ``ftrl_update``, each one pass
(``K.opt_update``) producing the new value and slots.

The update rules and their per-step scalars are written once in ``engine.train.rules`` and
rendered to numba in ``backends.cpu.opt_kernels`` (``backends.cpu.optgen``); this module packs
the scalars into a ``HostScalars`` launch argument, which a trace program recomputes every step.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from backends.base import numpy_dtype
from backends.cpu import kernels as K
from backends.cpu.launch import HostScalars
from backends.cpu.primitives.common import FLOATS, L, PrimitiveBase
from engine.train import rules


def pack_scalars(name: str, hyper: dict) -> tuple:
    """The host scalars of optimizer update ``name`` for hyperparameters ``hyper`` (what a trace
    program recomputes every step: ``launch.HostScalars``)."""
    return rules.scalars(name, hyper)


def opt_hyper(name: str, hyper: dict) -> tuple:
    """(the step's scalars of optimizer update ``name``, in ``K.OPT_UPDATES`` order, and the
    rule's flag): ``engine.train.rules.scalars``, the packer every backend uses (cached there:
    every variable of a step shares the values)."""
    return rules.scalars(name, hyper), rules.rule(name).flag_of(hyper)


def opt_slots(name: str, flag: bool) -> int:
    """Slot buffers optimizer ``name`` takes with ``flag`` (centered rmsprop has a third,
    ``mg``): ``engine.train.rules``."""
    return rules.slot_count(name, flag)


class OptimizerUpdates(PrimitiveBase):
    """The fused one-pass optimizer updates (``engine.train.optimizers``'s ``<kind>_update``
    hook)."""

    def _update(
        self, name: str, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, hyper: dict
    ) -> tuple:
        """Run ``K.opt_update`` for optimizer ``name``: fresh buffers ``(new_w, *new_slots)``."""
        dt = numpy_dtype(dtype)
        if dt not in FLOATS:
            raise TypeError(f"{name} needs float buffers, got {dt}")
        values, flag = opt_hyper(name, hyper)
        h = np.array(values, dt)
        host = HostScalars(name, h, functools.partial(pack_scalars, name))
        nslots = opt_slots(name, flag)
        if len(slots) != nslots:
            raise ValueError(f"{name}: expected {nslots} slot buffers, got {len(slots)}")
        flat = [w.reshape(-1), g.reshape(-1)] + [s.reshape(-1) for s in slots]
        outs = [self._empty(shape, dt) for _ in range(nslots + 1)]
        oflat = [o.reshape(-1) for o in outs]
        empty = self._empty(0, dt)
        ins = flat[2:] + [empty] * (3 - nslots)
        news = oflat[1:] + [empty] * (3 - nslots)
        n = flat[0].size
        if n:
            args = (K.OPT_CODES[name], flag, flat[0], flat[1], *ins, oflat[0], *news, h)
            self._run(
                n,
                ("opt_update", name, dt.char),
                L(K.opt_update, (*args, 0, n), (12, 13), host),
                lambda: L(K.opt_update_par, (*args, self._block(n)), (12,), host),
            )
        return tuple(outs)


def _method(name: str) -> Any:
    def update(self: Any, shape: tuple, dtype: str, w: Any, g: Any, slots: tuple, **hyper: Any):
        return self._update(name, shape, dtype, w, g, slots, hyper)

    update.__name__ = update.__qualname__ = name
    update.__doc__ = (
        f"``{name}`` (engine.train.rules) in one pass (``K.opt_update``): fresh buffers "
        "``(new_w, *new_slots)``."
    )
    return update


# One method per rule (as crender's FusedOps): a rule added to engine.train.rules is offered here.
for _name in K.OPT_UPDATES:
    setattr(OptimizerUpdates, _name, _method(_name))
