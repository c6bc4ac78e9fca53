"""Shared fixtures: ``backend`` runs a test once per available backend (others skip, naming why).

With ``TENSORWEAVE_BACKEND`` set (as tox's per-backend envs do) only that backend runs.
A new backend joins every conformance test by being registered; no test edits needed.
"""

from __future__ import annotations

import os
import warnings

import pytest

import engine as tw
from engine import registry

# Tiered cpu kernels (backends/cpu/tiers.py) run numpy twins until numba's cache holds a
# kernel, so bits would depend on what earlier tests compiled (fused vs unfused paths are
# compared bit for bit). Tests run compiled kernels only; test_cold_start.py turns tiers on.
os.environ.setdefault("TENSORWEAVE_TIERS", "0")


def _rows() -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tw.list_backends()


_ROWS = _rows()
_ENV = os.environ.get(registry.ENV_VAR, "").strip()
BACKEND_NAMES = [r["name"] for r in _ROWS if not _ENV or r["name"].casefold() == _ENV.casefold()]
_REASONS = {r["name"]: r["reason"] for r in _ROWS}


@pytest.fixture(params=BACKEND_NAMES)
def backend(request) -> str:
    """The name of the backend under test, made active for the test's duration."""
    name = request.param
    if _REASONS.get(name):
        pytest.skip(f"backend {name!r} unavailable: {_REASONS[name]}")
    with tw.backend_scope(name):
        yield name


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture
def cpu():
    """Run the test on the ``cpu`` backend (skipped, with the reason, where it cannot start)."""
    try:
        registry.instance_of("cpu")
    except Exception as e:  # pragma: no cover - cpu is in the base install
        pytest.skip(f"backend 'cpu' unavailable: {e}")
    with tw.backend_scope("cpu"):
        yield
