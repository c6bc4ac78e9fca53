"""Index-driven primitives of the ``cpu`` backend: ``gather``, ``scatter_add``,
``ravel_indices`` and ``one_hot``.

Gather and scatter run numba kernels (gather on same-width integer views: one kernel per element
width). Index checks are launches too, so a trace program checks every step's indices without
a host read in the engine.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from backends.base import check_coordinates, check_indices, numpy_dtype, ravel_coordinates
from backends.cpu import kernels as K
from backends.cpu.launch import Launch
from backends.cpu.primitives.common import RAW, L, PrimitiveBase, fill_into, prod


def one_hot_into(out: np.ndarray, idx: np.ndarray, depth: int, on: Any, off: Any) -> None:
    out.fill(off)
    if out.size:
        flat = out.reshape(-1, depth)
        valid = (idx >= 0) & (idx < depth)
        flat[np.nonzero(valid)[0], idx[valid]] = on


def ravel_into(
    out: np.ndarray, indices: np.ndarray, ishape: tuple, dims: tuple, op: str, shape: tuple
) -> None:
    """Check every coordinate of ``indices`` (IndexError naming ``op``), then write their
    row-major linear indices into ``out`` (a Python launch: programs replay it every step)."""
    ind = indices.reshape(ishape)
    check_coordinates(ind, dims, op, shape)
    out.reshape(-1)[...] = ravel_coordinates(ind, dims).reshape(-1)


class GatherScatterPrimitives(PrimitiveBase):
    """Gather, scatter-add, coordinate raveling and one-hot."""

    def gather(
        self,
        x: np.ndarray,
        shape: tuple,
        dtype: str,
        indices: np.ndarray,
        indices_shape: tuple,
        axis: int,
        check: bool = False,
    ) -> np.ndarray:
        p, d, q = prod(shape[:axis]), shape[axis], prod(shape[axis + 1 :])
        if check:  # a launch: a trace program checks every batch's indices too
            self._launch(check_indices, indices, d, tuple(shape), axis)
        m = prod(indices_shape)
        out = self._empty(
            tuple(shape[:axis]) + tuple(indices_shape) + tuple(shape[axis + 1 :]), x.dtype
        )
        if out.size == 0:
            return out
        raw = RAW[x.dtype.itemsize]  # a copy: one kernel per element width
        args = (x.reshape(-1).view(raw), indices.reshape(-1), out.reshape(-1).view(raw), d, q, m)
        self._run(
            out.size,
            "gather",
            L(K.gather, (*args, 0, p * m), (3, 4, 5, 6, 7)),
            lambda: L(K.gather_par, (*args, self._rows_per_task(p * m, q)), (3, 4, 5, 6)),
        )
        return out

    def scatter_add(
        self,
        updates: np.ndarray,
        updates_shape: tuple,
        dtype: str,
        indices: np.ndarray,
        indices_shape: tuple,
        axis: int,
        dim: int,
    ) -> np.ndarray:
        lead = tuple(updates_shape[:axis])
        trail = tuple(updates_shape[axis + len(indices_shape) :])
        p, q, m = prod(lead), prod(trail), prod(indices_shape)
        out = self._empty(lead + (dim,) + trail, updates.dtype)
        self._launch(fill_into, out, 0)
        if out.size == 0 or m == 0:
            return out
        args = (updates.reshape(-1), indices.reshape(-1), out.reshape(-1))

        def parallel() -> Launch:
            per_p = max(1, -(-2 * numba.get_num_threads() // p))
            q_chunk = max(-(-q // per_p), min(q, 256))
            return L(K.scatter_add_par, (*args, p, dim, q, m, q_chunk), (3, 4, 5, 6, 7))

        self._run(
            updates.size,
            "scatter_add",
            L(K.scatter_add, (*args, dim, q, m, 0, p, 0, q), (3, 4, 5, 6, 7, 8, 9)),
            parallel,
        )
        return out

    def ravel_indices(
        self, indices: np.ndarray, indices_shape: tuple, dims: tuple, op: str, shape: tuple
    ) -> np.ndarray:
        out = self._empty(tuple(indices_shape[:-1]), np.int32)
        self._launch(ravel_into, out, indices, tuple(indices_shape), tuple(dims), op, tuple(shape))
        return out

    def one_hot(
        self, indices: np.ndarray, shape: tuple, depth: int, on: Any, off: Any, dtype: str
    ) -> np.ndarray:
        out = self._empty(tuple(shape) + (depth,), numpy_dtype(dtype))
        self._launch(one_hot_into, out, indices.reshape(-1), depth, on, off)
        return out
