"""Data movement of the ``cpu`` backend: ``transpose``, ``reshape``, ``slice``, ``concat``,
``pad``. numpy is already one allocation-free pass for each, so they launch numpy helpers;
``reshape`` and contiguous slices are views (no launch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backends.cpu.primitives.common import PrimitiveBase


def concat_into(out: np.ndarray, axis: int, *xs: np.ndarray) -> None:
    """``out = concatenate(xs, axis)`` (a launch; compiled chunks inline it)."""
    np.concatenate(xs, axis=axis, out=out)


def pad_into(out: np.ndarray, x: np.ndarray, inner: tuple, value: Any) -> None:
    """``out`` filled with ``value``, ``x`` written at the slices ``inner``."""
    out.fill(value)
    out[inner] = x


class LayoutPrimitives(PrimitiveBase):
    """Transpose, reshape, slice, concat and pad."""

    def transpose(self, x: np.ndarray, shape: tuple, dtype: str, perm: Sequence[int]) -> np.ndarray:
        view = x.transpose(perm)
        out = self._empty(view.shape, x.dtype)
        self._launch(np.copyto, out, view)
        return out

    def reshape(self, x: np.ndarray, shape: tuple, dtype: str, new_shape: tuple) -> np.ndarray:
        return x.reshape(new_shape)

    def slice(
        self,
        x: np.ndarray,
        shape: tuple,
        dtype: str,
        begin: Sequence[int],
        size: Sequence[int],
        step: Sequence[int],
    ) -> np.ndarray:
        index = tuple(
            slice(b, b + s * st if b + s * st >= 0 else None, st) if s else slice(0, 0)
            for b, s, st in zip(begin, size, step, strict=True)
        )
        view = x[index]
        if view.flags.c_contiguous:
            return view
        out = self._empty(view.shape, x.dtype)
        self._launch(np.copyto, out, view)
        return out

    def concat(
        self, xs: Sequence[np.ndarray], shapes: Sequence[tuple], dtype: str, axis: int
    ) -> np.ndarray:
        out_shape = list(xs[0].shape)
        out_shape[axis] = sum(x.shape[axis] for x in xs)
        out = self._empty(tuple(out_shape), xs[0].dtype)
        self._launch(concat_into, out, axis, *xs)
        return out

    def pad(
        self,
        x: np.ndarray,
        shape: tuple,
        dtype: str,
        paddings: Sequence[tuple[int, int]],
        value: Any,
    ) -> np.ndarray:
        out_shape = tuple(s + lo + hi for s, (lo, hi) in zip(shape, paddings, strict=True))
        out = self._empty(out_shape, x.dtype)
        inner = tuple(slice(lo, lo + s) for s, (lo, _) in zip(shape, paddings, strict=True))
        self._launch(pad_into, out, x.reshape(shape), inner, value)
        return out
