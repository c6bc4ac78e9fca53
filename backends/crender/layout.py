"""Shape arithmetic for the strided templates: strides, broadcasting, collapsing, (O, R, I)."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

from backends.crender.kernels import MAX_RANK

Shape = tuple[int, ...]


def strides_of(shape: Sequence[int]) -> list[int]:
    """Row-major element strides."""
    out, acc = [], 1
    for s in reversed(shape):
        out.append(acc)
        acc *= s
    return out[::-1]


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Strides reading a ``shape`` operand at ``out_shape`` positions (0 on broadcast axes)."""
    pad = len(out_shape) - len(shape)
    st = strides_of(shape)
    return [0] * pad + [
        0 if s == 1 and o != 1 else t for s, o, t in zip(shape, out_shape[pad:], st, strict=True)
    ]


def collapse(shape: Sequence[int], *strides: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 axes and merge neighbours every stride list walks contiguously."""
    dims = [(s, [st[k] for st in strides]) for k, s in enumerate(shape) if s != 1]
    out: list[tuple[int, list[int]]] = []
    for s, st in dims:
        if out and all(p == q * s for p, q in zip(out[-1][1], st, strict=True)):
            out[-1] = (out[-1][0] * s, st)
        else:
            out.append((s, st))
    if not out:
        out = [(1, [0] * len(strides))]
    return [s for s, _ in out], [[st[k] for _, st in out] for k in range(len(strides))]


def padded(shape: list[int], strides: list[list[int]], what: str) -> list[int]:
    """Scalar arguments for a strided template of rank ``len(shape)``: sizes, then strides."""
    if len(shape) > MAX_RANK:
        raise ValueError(
            f"{what}: the iteration space {tuple(shape)} still has {len(shape)} axes after "
            f"merging contiguous ones; the strided kernels take at most {MAX_RANK}"
        )
    args = list(shape)
    for st in strides:
        args += list(st)
    return args


def is_contiguous(shape: Sequence[int], strides: Sequence[int]) -> bool:
    return all(
        s == 1 or st == c for s, st, c in zip(shape, strides, strides_of(shape), strict=True)
    )


def split_axes(shape: Shape, axes: Sequence[int]) -> tuple[int, int, int] | None:
    """(O, R, I) when the reduced ``axes`` form one block once size-1 axes are ignored."""
    live = [a for a in range(len(shape)) if shape[a] != 1]
    red = [a for a in live if a in axes]
    if not red:
        return prod(shape), 1, 1
    first, last = live.index(red[0]), live.index(red[-1])
    if live[first : last + 1] != red:
        return None
    o = prod(shape[a] for a in live[:first])
    r = prod(shape[a] for a in red)
    return o, r, prod(shape[a] for a in live[last + 1 :])
