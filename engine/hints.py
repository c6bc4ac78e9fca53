"""Did-you-mean hints for misspelt string identifiers (optimizers, losses, metrics,
initializers, layer classes, ...)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def _key(name: str) -> str:
    """Spelling-insensitive form: 'glorotNormal', 'glorot_normal', 'GlorotNormal' alike."""
    return str(name).replace("_", "").replace("-", "").lower()


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one edit ('adma' -> 'adam': 1)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def closest(identifier: object, names: Iterable[str]) -> str | None:
    """The accepted name nearest to ``identifier`` (ignoring case, ``_`` and ``-``): fewest
    edits (at most a third of its length, at least 2 allowed), else difflib's best match."""
    keys: dict[str, str] = {}
    for n in sorted(set(names)):
        keys.setdefault(_key(n), n)
    key = _key(str(identifier))
    if not key or not keys:
        return None
    limit = max(2, len(key) // 3)
    scored = sorted(
        (_distance(key, k), -difflib.SequenceMatcher(None, key, k).ratio(), k) for k in keys
    )
    if scored[0][0] <= limit:
        return keys[scored[0][2]]
    close = difflib.get_close_matches(key, list(keys), 1)
    return keys[close[0]] if close else None


def did_you_mean(identifier: object, names: Iterable[str]) -> str:
    """``" (did you mean 'adam'?)"`` for the name ``closest`` to ``identifier``, or ``""``."""
    best = closest(identifier, names)
    return f" (did you mean {best!r}?)" if best is not None else ""
