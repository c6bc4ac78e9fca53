"""``einsum``: Einstein summation over one or two operands, lowered to transpose, sum,
reshape and one batched ``matmul`` (so gradients come from those ops' rules)."""

from __future__ import annotations

import builtins

from engine.ops.core import as_tensor, reshape
from engine.ops.linalg import matmul
from engine.ops.reduction import sum as reduce_sum
from engine.ops.shape import transpose
from engine.tensor import Tensor
from engine.typing import TensorLike


def _parse(equation: str, n: int) -> tuple[list[str], str]:
    eq = equation.replace(" ", "")
    if "." in eq:
        raise ValueError(f"einsum: ellipsis ('...') is not supported (as TF.js), got {equation!r}")
    if eq.count("->") > 1:
        raise ValueError(f"einsum: equation {equation!r} has more than one '->'")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != n:
        raise ValueError(
            f"einsum: equation {equation!r} names {len(terms)} operand(s) but {n} were given"
        )
    for t in [*terms, out]:
        if not builtins.all(c.isalpha() for c in t):
            raise ValueError(f"einsum: subscripts must be letters, got {t!r} in {equation!r}")
    for t in terms:
        if len(set(t)) != len(t):
            raise ValueError(
                f"einsum: a subscript repeated within one operand ({t!r} in {equation!r}, a "
                "diagonal or trace) is not supported (as TF.js)"
            )
    if not arrow:  # implicit output: the letters that appear once, in alphabetical order
        letters = "".join(terms)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(set(out)) != len(out):
        raise ValueError(f"einsum: output subscripts {out!r} repeat a letter")
    missing = set(out) - set("".join(terms))
    if missing:
        raise ValueError(
            f"einsum: output subscripts {sorted(missing)} appear in no operand of {equation!r}"
        )
    return terms, out


def _sum_out(x: Tensor, sub: str, keep: set[str]) -> tuple[Tensor, str]:
    axes = [i for i, c in enumerate(sub) if c not in keep]
    if axes:
        x = reduce_sum(x, axes)
        sub = "".join(c for c in sub if c in keep)
    return x, sub


def _arrange(x: Tensor, sub: str, order: str) -> Tensor:
    perm = [sub.index(c) for c in order]
    return transpose(x, perm) if perm != list(range(len(perm))) else x


def einsum(equation: str, *tensors: TensorLike) -> Tensor:
    """Einstein summation (TF.js ``einsum``): ``"ij,jk->ik"`` is a matrix product,
    ``"bij,bjk->bik"`` a batched one, ``"i,i->"`` a dot product, ``"ij->ji"`` a transpose.

    As TF.js: one or two operands, no ellipsis, no subscript repeated within one operand
    (no traces or diagonals), and each subscript's dimensions must be equal (no broadcasting).
    Without ``->`` the output is the subscripts that appear once, in alphabetical order.

    Args:
        equation: The subscripts, e.g. ``"ij,jk->ik"``.
        *tensors: One or two tensors, one per comma-separated term.

    Returns:
        The result, with one axis per output subscript.

    Raises:
        ValueError: A malformed or unsupported equation, a term whose length is not its
            operand's rank, or a subscript with different sizes.

    Example:

    >>> a = tw.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> tw.einsum("ij,jk->ik", a, a).tolist()
    [[7.0, 10.0], [15.0, 22.0]]
    >>> tw.einsum("ij->j", a).tolist()
    [4.0, 6.0]
    """
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str, got {equation!r}")
    if len(tensors) not in (1, 2):
        raise ValueError(f"einsum: supports one or two operands (as TF.js), got {len(tensors)}")
    xs = [as_tensor(t) for t in tensors]
    if len(xs) == 2 and xs[0].dtype != xs[1].dtype:
        raise TypeError(
            f"einsum: operands must have one dtype, got {xs[0].dtype} and {xs[1].dtype}"
        )
    terms, out = _parse(equation, len(xs))
    sizes: dict[str, int] = {}
    for x, t in zip(xs, terms, strict=True):
        if len(t) != x.rank:
            raise ValueError(
                f"einsum: term {t!r} has {len(t)} subscripts but its operand has shape {x.shape}"
            )
        for c, d in zip(t, x.shape, strict=True):
            if sizes.setdefault(c, d) != d:
                raise ValueError(
                    f"einsum: subscript {c!r} has sizes {sizes[c]} and {d} in {equation!r}"
                )
    if len(xs) == 1:
        x, sub = _sum_out(xs[0], terms[0], set(out))
        return _arrange(x, sub, out)

    (a, b), (sa, sb) = xs, terms
    a, sa = _sum_out(a, sa, set(out) | set(sb))  # letters only a has and the output drops
    b, sb = _sum_out(b, sb, set(out) | set(sa))
    batch = [c for c in out if c in sa and c in sb]
    contract = [c for c in sa if c in sb and c not in out]
    am = [c for c in sa if c not in sb]
    bn = [c for c in sb if c not in sa]

    def size(cs: list[str]) -> int:
        n = 1
        for c in cs:
            n *= sizes[c]
        return n

    a3 = reshape(
        _arrange(a, sa, "".join(batch + am + contract)), (size(batch), size(am), size(contract))
    )
    b3 = reshape(
        _arrange(b, sb, "".join(batch + contract + bn)), (size(batch), size(contract), size(bn))
    )
    prod = matmul(a3, b3)
    got = batch + am + bn
    y = reshape(prod, tuple(sizes[c] for c in got))
    return _arrange(y, "".join(got), out)
