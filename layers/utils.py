"""Helpers shared by the layers package: identifier spelling, shapes, unique names."""

from __future__ import annotations

import itertools
import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.hints import did_you_mean

Shape = tuple  # a shape whose entries are ints or None (unknown, usually the batch)


def canonical(name: str) -> str:
    """Spelling-insensitive key: 'glorotNormal', 'glorot_normal', 'GlorotNormal' -> 'glorotnormal'."""
    return name.replace("_", "").replace("-", "").lower()


def to_snake_case(name: str) -> str:
    """'hardSigmoid' -> 'hard_sigmoid'; already-snake names are returned unchanged."""
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def to_camel_case(name: str) -> str:
    """'hard_sigmoid' -> 'hardSigmoid'."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def lookup(identifier: str, table: dict[str, Any], kind: str) -> Any:
    """``table[canonical(identifier)]`` or a ValueError listing the accepted names."""
    key = canonical(identifier)
    if key in table:
        return table[key]
    names = sorted({getattr(v, "display_name", None) or k for k, v in table.items()})
    hint = did_you_mean(identifier, names)
    raise ValueError(f"unknown {kind} {identifier!r}{hint}; accepted names: {', '.join(names)}")


def as_int_tuple(value: Any, n: int, name: str, minimum: int | None = 1) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints as a tuple of ``n`` ints, each ``>= minimum``
    (``engine.dtypes.as_int``: bools and non-integral numbers such as 2.5 are rejected)."""
    from engine.dtypes import as_int

    if isinstance(value, (numbers.Number, np.bool_)):
        return (as_int(value, name, minimum),) * n
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of {n} ints, got {value!r}") from None
    out = tuple(as_int(v, f"{name} {value!r} entry", minimum) for v in items)
    if len(out) != n:
        raise ValueError(f"{name} must be an int or a sequence of {n} ints, got {value!r}")
    return out


def normalize_shape(shape: Any) -> Shape:
    """A shape (list/tuple, ints or None) as a tuple."""
    if shape is None:
        return None
    from engine.dtypes import as_int

    if isinstance(shape, int):
        return (shape,)
    out = []
    for s in shape:
        v = None if s is None else as_int(s, f"shape {shape!r} entry")
        out.append(None if v is None or v < 0 else v)
    return tuple(out)


def check_padding(padding: str) -> str:
    p = str(padding).lower()
    if p not in ("valid", "same"):
        hint = did_you_mean(p, ("valid", "same"))
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}{hint}")
    return p


def conv_out_length(
    size: int | None, k: int, stride: int, dilation: int, padding: str
) -> int | None:
    """Output length of a convolution or pooling along one axis (TF rules)."""
    if size is None:
        return None
    ek = (k - 1) * dilation + 1
    if padding == "same":
        return -(-size // stride)
    return max((size - ek) // stride + 1, 0)


def deconv_out_length(size: int | None, k: int, stride: int, padding: str) -> int | None:
    """Output length of a transposed convolution along one axis."""
    if size is None:
        return None
    if padding == "valid":
        return size * stride + max(k - stride, 0)
    return size * stride


_name_counters: dict[str, itertools.count] = {}
_used_names: set[str] = set()


def unique_name(prefix: str) -> str:
    """TF.js-style default names: ``dense_Dense1``, ``dense_Dense2``, ..."""
    counter = _name_counters.setdefault(prefix, itertools.count(1))
    while True:
        name = f"{prefix}{next(counter)}"
        if name not in _used_names:
            _used_names.add(name)
            return name


def reserve_name(name: str) -> None:
    _used_names.add(name)


def prod(shape: Sequence[int]) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out
