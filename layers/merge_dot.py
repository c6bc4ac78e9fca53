"""Dot: the per-sample dot product of two inputs along given axes (TF.js ``tf.layers.dot``,
Keras ``batch_dot``)."""

from __future__ import annotations

import numbers
from typing import Any

import engine as tw
from engine.dtypes import as_int
from layers.base import Layer
from layers.merge import _factory
from layers.utils import prod

#: TF.js's ``epsilon()``: the floor of the squared norm in ``l2Normalize``.
_EPS = 1e-7


def _l2_normalize(x: tw.Tensor, axis: int) -> tw.Tensor:
    """``x / sqrt(max(sum(x^2, axis), eps))``, as TF.js's ``l2Normalize``."""
    sq = tw.sum(tw.square(x), axis, keepdims=True)
    return tw.div(x, tw.sqrt(tw.maximum(sq, _EPS)))


class Dot(Layer):
    """Per-sample dot product of two inputs, contracting ``axes`` (TF.js ``tf.layers.dot``).

    For inputs ``x`` of shape ``(batch, *a)`` and ``y`` of shape ``(batch, *b)`` the result
    sums ``x * y`` over one axis of each (same size) and keeps the other axes of ``x`` then
    those of ``y``; a result with no axes but the batch gets a trailing axis of size 1
    (``(batch, 1)``), as Keras's ``batch_dot``. TF.js supports ranks 2 and 3; any rank >= 2
    works here.

    Args:
        axes: One axis for both inputs or a pair ``[axis_x, axis_y]``; negative counts from the
            end; the batch axis 0 cannot be contracted.
        normalize: L2-normalise both inputs along their axis first, so the result is the cosine
            similarity.
        **kwargs: Layer arguments (``name``, ``dtype``, ...; see ``Layer``).

    Raises:
        TypeError: ``axes`` is neither an int nor a list.
        ValueError: ``axes`` is malformed or names the batch axis; at call time, not exactly
            two inputs, an axis outside an input's rank, or contracted axes of different
            sizes.

    Example:

    >>> a, b = tw.tensor([[1.0, 2.0]]), tw.tensor([[3.0, 4.0]])
    >>> layers.Dot(axes=1)([a, b]).tolist()
    [[11.0]]
    """

    def __init__(self, axes: int | list[int], normalize: bool = False, **kwargs: Any):
        if isinstance(axes, numbers.Number):
            ax: int | list[int] = as_int(axes, "Dot: axes")
            pair = [ax, ax]
        elif not isinstance(axes, (list, tuple)):
            raise TypeError(f"Dot: axes must be an int or a pair of ints, got {axes!r}")
        elif len(axes) == 2:
            ax = [as_int(a, f"Dot: axes {axes!r} entry") for a in axes]
            pair = ax
        else:
            raise ValueError(f"Dot: axes must be an int or a pair of ints, got {axes!r}")
        if 0 in pair:
            raise ValueError(f"Dot: axes cannot contract the batch axis 0, got {axes!r}")
        if not isinstance(normalize, (bool, int)):
            raise TypeError(f"Dot: normalize must be a bool, got {normalize!r}")
        super().__init__(**kwargs)
        self.axes = ax
        self.normalize = bool(normalize)

    def _pair(self, shapes: list) -> tuple[int, int]:
        raw = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        out = []
        for a, s in zip(raw, shapes, strict=True):
            rank = len(s)
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(
                    f"Dot {self.name!r}: axis {a} is not a non-batch axis of an input of shape "
                    f"{tuple(s)}"
                )
            out.append(a % rank)
        return out[0], out[1]

    def check_input_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(
                f"layer {self.name!r} (Dot) needs a list of exactly 2 inputs, got {input_shape}"
            )
        s1, s2 = (tuple(s) for s in input_shape)
        if len(s1) < 2 or len(s2) < 2:
            raise ValueError(
                f"layer {self.name!r} (Dot): inputs need rank >= 2 (batch included), got "
                f"{input_shape}"
            )
        a1, a2 = self._pair([s1, s2])
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(
                f"layer {self.name!r} (Dot): contracted axes differ in size: axis {a1} of "
                f"{s1} is {s1[a1]}, axis {a2} of {s2} is {s2[a2]}"
            )

    def call(self, inputs, training=False):
        x, y = (t if t.dtype == "float32" else tw.cast(t, "float32") for t in inputs)
        a1, a2 = self._pair([x.shape, y.shape])
        if self.normalize:
            x, y = _l2_normalize(x, a1), _l2_normalize(y, a2)
        b = x.shape[0]
        xo = [i for i in range(1, x.rank) if i != a1]
        yo = [i for i in range(1, y.rank) if i != a2]
        k = x.shape[a1]
        xs, ys = [x.shape[i] for i in xo], [y.shape[i] for i in yo]
        xt = tw.reshape(tw.transpose(x, [0, *xo, a1]), (b, prod(xs), k))
        yt = tw.reshape(tw.transpose(y, [0, a2, *yo]), (b, k, prod(ys)))
        out_shape = (b, *xs, *ys)
        return tw.reshape(tw.matmul(xt, yt), out_shape if len(out_shape) > 1 else (b, 1))

    def compute_output_shape(self, input_shape):
        s1, s2 = (tuple(s) for s in input_shape)
        a1, a2 = self._pair([s1, s2])
        out = [s1[0]] + [d for i, d in enumerate(s1) if i not in (0, a1)]
        out += [d for i, d in enumerate(s2) if i not in (0, a2)]
        return tuple(out) if len(out) > 1 else (out[0], 1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


dot = _factory(Dot, "Per-sample dot product of two inputs")
