"""Fusion of recorded elementwise chains into one generated kernel per chain (issue 10).

``fuse(steps, backend)`` rewrites the raw step list of an ``engine.trace`` capture; it is the
identity until the pass lands.
"""

from __future__ import annotations


def fuse(steps: list[tuple], backend: str) -> list[tuple]:
    """The steps with fusable elementwise chains replaced by one op each."""
    return steps
