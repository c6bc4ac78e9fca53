"""Shared pieces of the bench: targets, prepared calls, the error measure, skips."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine as tw


class Skip(Exception):
    """The workload cannot run on this target (the message says why)."""


@dataclass
class Target:
    """Something the bench runs on: an engine backend, the numpy reference, or a peer."""

    name: str
    kind: str  # "backend" | "reference" | "peer"
    device: str = ""
    module: Any = None  # peers: their implementation module

    def sync(self) -> None:
        if self.kind == "backend":
            tw.find_backend(self.name).synchronize()


@dataclass
class Prepared:
    """What the runner times (``call``) and checks (``check(output, index)`` -> error or None)."""

    call: Callable[[], Any]
    check: Callable[[Any, int], float | None]
    ops_per_call: int = 1
    repeatable: bool = True  # False: each call is long; no inner loop calibration
    sanity: Callable[[Any], str | None] | None = None  # first output -> why it is wrong, or None


def rel_err(got: Any, ref: np.ndarray) -> float:
    """max |got - ref| / max |ref| (inf on a shape mismatch or a non-finite value)."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape:
        return float("inf")
    if not np.all(np.isfinite(got)):
        return float("inf")
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    return diff / max(scale, 1e-30)
