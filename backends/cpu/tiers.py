"""Tiered kernels: the ``cpu`` backend never waits for numba's compiler.

A numba kernel compiles on its first call for each argument-type signature (seconds each; the
seed model's first step needs a dozen of them). With tiers on (the default;
``TENSORWEAVE_TIERS=0`` restores compile-on-first-call), a call of a kernel listed in
``FALLBACKS`` whose signature is not compiled yet goes through :func:`_miss` instead of numba's
compiler:

1. the signature's machine code is in numba's on-disk cache (``<cache>/numba``): it is loaded
   (milliseconds) and the call runs compiled, as before;
2. otherwise the call runs the kernel's numpy implementation (``FALLBACKS``: numpy ufuncs and
   BLAS on the same host buffers, the arguments and effect of the numba kernel), and the
   signature is sent to a **compile worker**: one long-lived child Python process (started on
   the first miss, ended with this one) that calls ``dispatcher.compile(sig)``, so numba
   writes its cache file. numba holds the GIL while it compiles, so compiling in a thread
   would stall training just the same; the worker runs beside it on another core (at the same
   priority: a lower one starved it on a busy machine, leaving training on the slower numpy
   path for longer);
3. when the worker reports the signature done, the kernel's next call loads it from the cache
   and runs compiled from then on (numba dispatches it natively; the hook is not called again).

Trace programs (``backends.cpu.steps.program``) call a pending kernel's twin directly
(``entry_for``: no failed numba dispatch per call) and, when ``generation`` changes, look again
between two steps, so the swap to compiled code happens between steps. The worker takes the
queued signature whose kernel's twins have cost the most time so far (serial kernels first).

The worker compiles one signature at a time, serial kernels before their ``prange`` twins. When
the process exits, it hands the worker what is still queued: the worker fills the cache for the
next process for at most ``DRAIN_SECONDS`` (``TENSORWEAVE_TIERS_DRAIN``; 0: it ends with the
process), then exits. A killed parent closes the worker's input: it exits after its current
compile.

The swap happens between kernel calls. Every kernel is a function of its array arguments only,
so a step that runs some kernels on numpy and some compiled computes the same values as either.

**Results.** The numpy implementations compute the same formulas in the buffers' dtype.
Elementwise arithmetic, comparisons, ``where``, max/min and the optimizer updates are
bit-identical (IEEE operations in the same order; numba does not contract to FMA without
fastmath). Sums may round differently (numba's kernels add in reassociated vector partial sums,
numpy pairwise), and exp/log/tanh differ by up to ~1 ulp (numba's kernels use their own
vectorised float32 versions): each value is within a few float32 ulps of the compiled one.
Training from the same start, the weights after N steps then agree to ``TOLERANCE`` (relative,
per tensor, max norm) for the seed model: tests/test_cold_start.py checks it against a run
with ``TENSORWEAVE_TIERS=0``.

Signatures hold dtypes, dimensions and layouts, never sizes (the backend passes flat 1-D
buffers and sizes as ``int64`` arguments): a model of other widths or batch size reuses every
compiled kernel. ``cblas.split_gemm`` (a large GEMM over numba's threads) is tiered too
(``install_split``: one OpenBLAS call meanwhile). Kernels without a twin still compile on first
call: the float32 max/min bit-trick reductions (``reduce_f32_extreme_*``), the convolution and
pooling kernels (``backends/cpu/conv.py``) and fused kernels with int32 arithmetic; compiled
trace chunks have their own worker (``backends.cpu.steps.chunk``).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import heapq
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from backends.cache import child_env
from backends.cpu import kernels as _K
from backends.numpy.backend import float_to_int32
from engine import optable as _optable

ENV_VAR = "TENSORWEAVE_TIERS"
#: When the process exits, the worker may go on compiling the signatures still queued (so the
#: next process finds them in the cache) for at most this many seconds, then exits; 0 ends it
#: with the process. ``TENSORWEAVE_TIERS_DRAIN`` sets it.
DRAIN_SECONDS = 60.0
#: Max relative difference (per weight tensor, max norm) between a run whose first steps ran
#: on the numpy implementations and one that only ran compiled kernels (float32; measured 4e-9
#: after 9 Adam steps of a small MLP; the slack covers Adam amplifying a differently rounded
#: near-zero gradient over longer runs).
TOLERANCE = 1e-5

_log = logging.getLogger("tensorweave.tiers")


def drain_seconds() -> float:
    """How long compile workers may go on filling the cache after the process exits
    (``TENSORWEAVE_TIERS_DRAIN``, else ``DRAIN_SECONDS``; 0: they end with it)."""
    try:
        return float(os.environ.get("TENSORWEAVE_TIERS_DRAIN", DRAIN_SECONDS))
    except ValueError:
        return DRAIN_SECONDS


def enabled() -> bool:
    """Tiers are on unless ``TENSORWEAVE_TIERS`` is ``0`` (or ``false``/``off``/``no``)."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "off", "no")


# =============================================================================================
# numpy implementations: same arguments and effect as the numba kernels in kernels.py
# =============================================================================================
def _view(a: np.ndarray, shape: np.ndarray, st: np.ndarray, k: int) -> np.ndarray:
    """Operand ``k`` of a strided kernel as an array of the (collapsed) output shape."""
    return as_strided(
        a,
        shape=tuple(int(s) for s in shape),
        strides=tuple(int(s) * a.itemsize for s in st[k]),
        writeable=False,
    )


def _store(out: np.ndarray, res: Any, start: int, stop: int) -> None:
    """``out[start:stop]`` = elements ``start:stop`` of the full (flattened) result."""
    res = np.asarray(res)
    if start == 0 and stop == out.size:
        np.copyto(out, res.reshape(-1), casting="unsafe")
    else:
        np.copyto(out[start:stop], res.reshape(-1)[start:stop], casting="unsafe")


def _twin(op: Any) -> Callable[..., np.ndarray]:
    """The numpy twin of an op-table entry's float kernel (engine/optable.py)."""
    return op.twin or op.numpy


#: Twins of the generated kernels' ops (``backends/cpu/elementwise.py``), by op code. Integer
#: and predicate kernels use the op table's numpy reference (the numpy backend's kernel, cast
#: to the output dtype as that backend casts), which the cpu kernels match exactly.
_UNARY_TWINS = tuple(_twin(_optable.UNARY[n]) for n in _K.UNARY_FLOAT)
_BINARY_TWINS = tuple(_twin(_optable.BINARY[n]) for n in _K.BINARY_ARITH)
_CMP_TWINS = tuple(_optable.BINARY[n].numpy for n in _K.BINARY_CMP)
_UNARY_INT_TWINS = tuple(_optable.UNARY[n].numpy for n in _K.UNARY_INT)
_UNARY_PRED_TWINS = tuple(_optable.UNARY[n].numpy for n in _K.UNARY_PRED)
_BINARY_INT_TWINS = tuple(_optable.BINARY[n].numpy for n in _K.BINARY_ARITH)


def _unary_float_np(op: int, v: np.ndarray, one: Any) -> np.ndarray:
    return _UNARY_TWINS[op](v)


def unary_float(op: int, x: np.ndarray, out: np.ndarray, one: Any, start: int, stop: int) -> None:
    with np.errstate(all="ignore"):
        out[start:stop] = _unary_float_np(op, x[start:stop], one)


def unary_float_par(op: int, x: np.ndarray, out: np.ndarray, one: Any, block: int) -> None:
    unary_float(op, x, out, one, 0, x.size)


def unary_int(op: int, x: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
    with np.errstate(all="ignore"):
        _store(out[start:stop], _UNARY_INT_TWINS[op](x[start:stop]), 0, stop - start)


def unary_int_par(op: int, x: np.ndarray, out: np.ndarray, block: int) -> None:
    unary_int(op, x, out, 0, x.size)


def unary_pred(op: int, x: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
    with np.errstate(all="ignore"):
        _store(out[start:stop], _UNARY_PRED_TWINS[op](x[start:stop]), 0, stop - start)


def unary_pred_par(op: int, x: np.ndarray, out: np.ndarray, block: int) -> None:
    unary_pred(op, x, out, 0, x.size)


def binary_int(op, a, b, out, shape, st, start, stop) -> None:  # noqa: ANN001
    with np.errstate(all="ignore"):
        res = _BINARY_INT_TWINS[op](_view(a, shape, st, 0), _view(b, shape, st, 1))
    _store(out, res, start, stop)


def binary_int_par(op, a, b, out, shape, st, block) -> None:  # noqa: ANN001
    binary_int(op, a, b, out, shape, st, 0, out.size)


def _binary_float_np(op: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _BINARY_TWINS[op](x, y)


def binary_float(op, a, b, out, shape, st, start, stop) -> None:  # noqa: ANN001
    with np.errstate(all="ignore"):
        res = _binary_float_np(op, _view(a, shape, st, 0), _view(b, shape, st, 1))
    _store(out, res, start, stop)


def binary_float_par(op, a, b, out, shape, st, block) -> None:  # noqa: ANN001
    binary_float(op, a, b, out, shape, st, 0, out.size)


def binary_cmp(op, a, b, out, shape, st, start, stop) -> None:  # noqa: ANN001
    res = _CMP_TWINS[op](_view(a, shape, st, 0), _view(b, shape, st, 1))
    _store(out, res, start, stop)


def binary_cmp_par(op, a, b, out, shape, st, block) -> None:  # noqa: ANN001
    binary_cmp(op, a, b, out, shape, st, 0, out.size)


def where(c, a, b, out, shape, st, start, stop) -> None:  # noqa: ANN001
    res = np.where(_view(c, shape, st, 0), _view(a, shape, st, 1), _view(b, shape, st, 2))
    _store(out, res, start, stop)


def where_par(c, a, b, out, shape, st, block) -> None:  # noqa: ANN001
    where(c, a, b, out, shape, st, 0, out.size)


def _reduce_axis1(op: int, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Reduce axis 1 of ``x`` as the kernels do (max/min propagate NaN)."""
    if dtype == np.bool_:
        return np.any(x, axis=1) if op in (2, 4) else np.all(x, axis=1)
    if op == 0:
        return np.add.reduce(x, axis=1, dtype=dtype)
    if op == 1:
        return np.multiply.reduce(x, axis=1, dtype=dtype)
    return np.max(x, axis=1) if op == 2 else np.min(x, axis=1)


def reduce_rows(op, x, out, r, zero, one, start, stop) -> None:  # noqa: ANN001
    if stop > start:
        rows = x[start * r : stop * r].reshape(stop - start, r)
        with np.errstate(all="ignore"):
            out[start:stop] = _reduce_axis1(op, rows, out.dtype)


def reduce_rows_par(op, x, out, r, zero, one, rows_per_task) -> None:  # noqa: ANN001
    reduce_rows(op, x, out, r, zero, one, 0, out.size)


def reduce_mid(op, x, out, r, q, p0, p1, q0, q1) -> None:  # noqa: ANN001
    if p1 > p0 and q1 > q0:
        xs = x.reshape(-1, r, q)[p0:p1, :, q0:q1]
        with np.errstate(all="ignore"):
            out.reshape(-1, q)[p0:p1, q0:q1] = _reduce_axis1(op, xs, out.dtype)


def reduce_mid_par(op, x, out, p_rows, r, q, q_chunk) -> None:  # noqa: ANN001
    reduce_mid(op, x, out, r, q, 0, p_rows, 0, q)


def _chunked(x2: np.ndarray, chunk: int) -> list[np.ndarray]:
    """The rows of ``x2`` (n, r) cut into chunks of ``chunk`` along axis 1, as
    ``(n, chunks, chunk)`` blocks: the whole ones, then the shorter last one."""
    r = x2.shape[1]
    whole = r // chunk
    parts = [x2[:, : whole * chunk].reshape(x2.shape[0], whole, chunk)] if whole else []
    if whole * chunk < r:
        parts.append(x2[:, whole * chunk :].reshape(x2.shape[0], 1, r - whole * chunk))
    return parts


def reduce_rows_split(op, x, partial, r, k, chunk, zero, one, t0, t1) -> None:  # noqa: ANN001
    # partial[p*k + c] = reduce of chunk c of row p (rows of r elements, chunks of ``chunk``)
    if t1 <= t0:
        return
    rows = partial.size // k
    with np.errstate(all="ignore"):
        res = [
            _reduce_axis1(op, blk.reshape(-1, blk.shape[2]), partial.dtype).reshape(rows, -1)
            for blk in _chunked(x[: rows * r].reshape(rows, r), chunk)
        ]
    partial[t0:t1] = np.concatenate(res, axis=1).reshape(-1)[t0:t1]


def reduce_rows_split_par(op, x, partial, r, k, chunk, zero, one) -> None:  # noqa: ANN001
    reduce_rows_split(op, x, partial, r, k, chunk, zero, one, 0, partial.size)


def reduce_mid_split(op, x, partial, r, q, k, chunk_rows, t0, t1) -> None:  # noqa: ANN001
    # partial[p, c, :] = reduce over rows [c*chunk_rows, ...) of x[p, :, :] for t = p*k + c
    if t1 <= t0:
        return
    rows = partial.size // (k * q)
    x3 = x[: rows * r * q].reshape(rows, r, q)
    res = []
    with np.errstate(all="ignore"):
        for c in range(k):
            blk = x3[:, c * chunk_rows : min(r, (c + 1) * chunk_rows), :]
            res.append(_reduce_axis1(op, blk, partial.dtype))
    full = np.stack(res, axis=1).reshape(-1)
    partial[t0 * q : t1 * q] = full[t0 * q : t1 * q]


def reduce_mid_split_par(op, x, partial, r, q, k, chunk_rows) -> None:  # noqa: ANN001
    reduce_mid_split(op, x, partial, r, q, k, chunk_rows, 0, partial.size // q)


def cumsum(x, out, r, q, exclusive, reverse, p0, p1) -> None:  # noqa: ANN001
    # sequential along axis 1 of (P, R, Q), as the kernel adds: the same values
    if p1 <= p0 or r == 0:
        return
    xs = x.reshape(-1, r, q)[p0:p1]
    os_ = out.reshape(-1, r, q)[p0:p1]
    if reverse:
        xs, os_ = xs[:, ::-1], os_[:, ::-1]
    with np.errstate(all="ignore"):
        if exclusive:
            os_[:, 0] = 0
            if r > 1:
                os_[:, 1:] = np.add.accumulate(xs[:, :-1], axis=1, dtype=out.dtype)
        else:
            os_[...] = np.add.accumulate(xs, axis=1, dtype=out.dtype)


def cumsum_par(x, out, p_rows, r, q, exclusive, reverse, rows_per_task) -> None:  # noqa: ANN001
    cumsum(x, out, r, q, exclusive, reverse, 0, p_rows)


def scatter_add(u, idx, out, d, q, m, p0, p1, q0, q1) -> None:  # noqa: ANN001
    # out[p, idx[i], j] += u[p, i, j] in index order (numpy's add.at: the same sums)
    if p1 > p0 and q1 > q0 and m > 0:
        o = out.reshape(-1, d, q)[p0:p1, :, q0:q1]
        src = u.reshape(-1, m, q)[p0:p1, :, q0:q1]
        with np.errstate(all="ignore"):
            np.add.at(o, (slice(None), idx[:m]), src)


def scatter_add_par(u, idx, out, p_rows, d, q, m, q_chunk) -> None:  # noqa: ANN001
    scatter_add(u, idx, out, d, q, m, 0, p_rows, 0, q)


def matmul_int(a, b, out, m, k, n, ta, tb, t0, t1) -> None:  # noqa: ANN001
    # out[bi] = op(a[bi]) @ op(b[bi]) for flat output rows t = bi*m + i in [t0, t1); int32
    # products and sums wrap modulo 2**32 in any order: the kernel's values
    if t1 <= t0 or n == 0:
        return
    b0, b1 = t0 // m, (t1 - 1) // m + 1
    a3 = a.reshape(-1, k, m).transpose(0, 2, 1) if ta else a.reshape(-1, m, k)
    b3 = b.reshape(-1, n, k).transpose(0, 2, 1) if tb else b.reshape(-1, k, n)
    with np.errstate(all="ignore"):
        res = np.matmul(a3[b0:b1], b3[b0:b1]).astype(out.dtype, copy=False)
    out.reshape(-1, n)[t0:t1] = res.reshape(-1, n)[t0 - b0 * m : t1 - b0 * m]


def matmul_int_par(a, b, out, batch, m, k, n, ta, tb, rows_per_task) -> None:  # noqa: ANN001
    matmul_int(a, b, out, m, k, n, ta, tb, 0, batch * m)


def softmax(x, out, r, q, log, zero, p0, p1) -> None:  # noqa: ANN001
    if p1 <= p0:
        return
    xs = x.reshape(-1, r, q)[p0:p1]
    with np.errstate(all="ignore"):
        m = np.max(xs, axis=1, keepdims=True)
        d = xs - m
        e = np.exp(d)
        s = np.add.reduce(e, axis=1, keepdims=True, dtype=x.dtype)
        res = (d - np.log(s)) if log else e / s
    out.reshape(-1, r, q)[p0:p1] = res


def softmax_par(x, out, p_rows, r, q, log, zero, rows_per_task) -> None:  # noqa: ANN001
    softmax(x, out, r, q, log, zero, 0, p_rows)


def bias_act(out, bias, bias_step, n, act, alpha, one, r0, r1) -> None:  # noqa: ANN001
    if r1 <= r0:
        return
    o = out[r0 * n : r1 * n].reshape(r1 - r0, n)
    zero = one - one
    with np.errstate(all="ignore"):
        if bias.size:
            o += bias[0] if bias_step == 0 else bias[:n]
        if act == 1:
            o[...] = np.where((o > zero) | (o != o), o, zero)
        elif act == 2:
            v = np.where((o > zero) | (o != o), o, zero)
            o[...] = np.where(v > one * 6, one * 6, v)
        elif act == 3:
            o[...] = np.where(o > zero, o, np.expm1(o))
        elif act == 4:
            e = np.exp(-np.abs(o))
            o[...] = np.where(o >= zero, one, e) / (one + e)
        elif act == 5:
            o[...] = np.tanh(o)
        elif act == 6:
            o[...] = np.where(o > zero, o, o * alpha)


def bias_act_par(out, bias, bias_step, m, n, act, alpha, one, rows_per_task) -> None:  # noqa: ANN001
    bias_act(out, bias, bias_step, n, act, alpha, one, 0, m)


def _cce_q(x: np.ndarray, logits: bool, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Rows' unnormalised probabilities and their sums (kept dims)."""
    if logits:
        q = np.exp(x - np.max(x, axis=1, keepdims=True))
    else:
        q = x
    return q, np.add.reduce(q, axis=1, keepdims=True, dtype=dtype)


def cce(t, x, out, r, logits, eps, one_m_eps, zero, p0, p1) -> None:  # noqa: ANN001
    if p1 <= p0:
        return
    xs = x[p0 * r : p1 * r].reshape(-1, r)
    ts = t[p0 * r : p1 * r].reshape(-1, r)
    with np.errstate(all="ignore"):
        q, s = _cce_q(xs, logits, x.dtype)
        v = q / s
        c = np.where(v < eps, eps, np.where(v > one_m_eps, one_m_eps, v))
        out[p0:p1] = -np.add.reduce(ts * np.log(c), axis=1, dtype=x.dtype)


def cce_par(t, x, out, p_rows, r, logits, eps, one_m_eps, zero, rows_per_task) -> None:  # noqa: ANN001
    cce(t, x, out, r, logits, eps, one_m_eps, zero, 0, p_rows)


def cce_grad(dy, t, x, out, r, logits, eps, one_m_eps, zero, p0, p1) -> None:  # noqa: ANN001
    if p1 <= p0:
        return
    xs = x[p0 * r : p1 * r].reshape(-1, r)
    ts = t[p0 * r : p1 * r].reshape(-1, r)
    with np.errstate(all="ignore"):
        q, s = _cce_q(xs, logits, x.dtype)
        v = q / s
        g = np.where((v >= eps) & (v <= one_m_eps), -ts / v, zero)
        dot = np.add.reduce(g * v, axis=1, keepdims=True, dtype=x.dtype)
        d = dy[p0:p1].reshape(-1, 1)
        res = (v * (g - dot)) * d if logits else ((g - dot) / s) * d
    out[p0 * r : p1 * r] = res.reshape(-1)


def cce_grad_par(dy, t, x, out, p_rows, r, logits, eps, one_m_eps, zero, rows_per_task) -> None:  # noqa: ANN001
    cce_grad(dy, t, x, out, r, logits, eps, one_m_eps, zero, 0, p_rows)


def arg_reduce(is_max, x, bits, out, r, q, p0, p1) -> None:  # noqa: ANN001
    # numpy's argmax/argmin: the first index of the extreme, the first NaN wins, -0.0 == 0.0
    if p1 > p0:
        xs = x.reshape(-1, r, q)[p0:p1]
        res = np.argmax(xs, axis=1) if is_max else np.argmin(xs, axis=1)
        out.reshape(-1, q)[p0:p1] = res


def arg_reduce_par(is_max, x, bits, out, p_rows, r, q, rows_per_task) -> None:  # noqa: ANN001
    arg_reduce(is_max, x, bits, out, r, q, 0, p_rows)


def gather(x, idx, out, d, q, m, t0, t1) -> None:  # noqa: ANN001
    # out[p, i, :] = x[p, idx[i], :] for flat rows t = p*m + i in [t0, t1) (indices checked)
    if t1 > t0 and q > 0:
        x3 = x.reshape(-1, d, q)
        if t0 == 0 and t1 * q == out.size:  # all rows (the epoch's shuffle): one take
            np.take(x3, idx[:m], axis=1, out=out.reshape(x3.shape[0], m, q))
            return
        rows = out.reshape(-1, q)
        full = x3[:, idx[:m], :].reshape(-1, q)
        rows[t0:t1] = full[t0:t1]


def gather_par(x, idx, out, d, q, m, rows_per_task) -> None:  # noqa: ANN001
    if q > 0:
        gather(x, idx, out, d, q, m, 0, out.size // q)


def _opt_apply(op, flag, w, g, s0, s1, s2, nw, n0, n1, n2, h) -> None:  # noqa: ANN001
    """``opt_update``'s rule evaluated with numpy: the same operations in the same order and
    dtype as the rendered numba loop (``_opt_twin``)."""
    name = _OPT_NAMES[int(op)]
    fn = _opt_twins.get((name, bool(flag)))
    if fn is None:
        fn = _opt_twins[name, bool(flag)] = _opt_twin(name, bool(flag))
    with np.errstate(all="ignore"):
        res = fn(w, g, s0, s1, s2, h)
    for i, dst in enumerate((n0, n1, n2)[: len(res) - 1]):
        dst[...] = res[i + 1]
    nw[...] = res[0]


_opt_twins: dict[tuple[str, bool], Callable[..., tuple]] = {}


def _opt_twin(name: str, flag: bool) -> Callable[..., tuple]:
    """``rules.apply(name, flag, ..., rules.NUMPY)`` as a generated Python function of
    ``(w, g, s0, s1, s2, h)`` returning ``(new w, *new slots)``: each operation the evaluator
    runs on an array or a numpy scalar, in the same order and types (operations on Python
    numbers only are folded now, in Python floats, as the evaluator folds them), without the
    evaluator's per-node dispatch (~0.3 ms a call for Adam)."""
    from engine.train import rules

    r = rules.rule(name)
    var = r.variant(flag)
    env: dict[str, Any] = {"w": ("code", "w"), "g": ("code", "g")}
    for j, slot in enumerate(var.slots):
        env[slot] = ("code", f"s{j}")
    lines = []
    for j, p in enumerate(r.packed):
        env[p] = ("code", f"h{j}")
        lines.append(f"    h{j} = h[{j}]")

    walk = rules.NumpyWriter(env, lines).walk

    for target, expr in var.body:
        env[target] = walk(expr)
    outs = [env[k] for k in ("w", *var.slots)]
    text = ", ".join(v[1] if isinstance(v, tuple) else repr(v) for v in outs)
    src = "\n".join(["def update(w, g, s0, s1, s2, h):", *lines, f"    return ({text},)"])
    scope: dict[str, Any] = {"np": np}
    exec(compile(src, f"<tiers twin {name}>", "exec"), scope)  # noqa: S102 (our own text)
    return scope["update"]


_OPT_NAMES = list(_K.OPT_UPDATES)


def opt_update(op, flag, w, g, s0, s1, s2, nw, n0, n1, n2, h, start, stop) -> None:  # noqa: ANN001
    sl = slice(start, stop)
    _opt_apply(op, flag, w[sl], g[sl], s0[sl], s1[sl], s2[sl], nw[sl], n0[sl], n1[sl], n2[sl], h)


def opt_update_par(op, flag, w, g, s0, s1, s2, nw, n0, n1, n2, h, block) -> None:  # noqa: ANN001
    opt_update(op, flag, w, g, s0, s1, s2, nw, n0, n1, n2, h, 0, w.size)


def opt_update_ip(op, flag, w, g, s0, s1, s2, h, start, stop) -> None:  # noqa: ANN001
    sl = slice(start, stop)
    w, g, s0, s1, s2 = w[sl], g[sl], s0[sl], s1[sl], s2[sl]
    _opt_apply(op, flag, w, g, s0, s1, s2, w, s0, s1, s2, h)


def opt_update_ip_par(op, flag, w, g, s0, s1, s2, h, block) -> None:  # noqa: ANN001
    opt_update_ip(op, flag, w, g, s0, s1, s2, h, 0, w.size)


#: Kernel name (in ``backends.cpu.kernels``) -> its numpy implementation.
FALLBACKS: dict[str, Callable[..., None]] = {
    f.__name__: f
    for f in (
        unary_float,
        unary_float_par,
        unary_int,
        unary_int_par,
        unary_pred,
        unary_pred_par,
        binary_int,
        binary_int_par,
        reduce_rows_split,
        reduce_rows_split_par,
        reduce_mid_split,
        reduce_mid_split_par,
        cumsum,
        cumsum_par,
        scatter_add,
        scatter_add_par,
        matmul_int,
        matmul_int_par,
        binary_float,
        binary_float_par,
        binary_cmp,
        binary_cmp_par,
        where,
        where_par,
        reduce_rows,
        reduce_rows_par,
        reduce_mid,
        reduce_mid_par,
        softmax,
        softmax_par,
        bias_act,
        bias_act_par,
        cce,
        cce_par,
        cce_grad,
        cce_grad_par,
        opt_update,
        opt_update_par,
        opt_update_ip,
        opt_update_ip_par,
        arg_reduce,
        arg_reduce_par,
        gather,
        gather_par,
    )
}


# =============================================================================================
# Dispatch: numba's compile-on-miss hook, the cache check and the compile worker
# =============================================================================================
_lock = threading.RLock()


class _Entry:
    """A tiered dispatcher: its display name, numpy twin, the worker's way to find it
    (``("K", name)``: ``backends.cpu.kernels.<name>``; ``("file", path, module, attr)``: a
    generated module) and its compile priority (0 first: serial kernels; 1: ``prange``
    twins, which the backend's chooser may never pick)."""

    __slots__ = ("name", "disp", "twin", "spec", "priority", "counted")

    def __init__(self, name: str, disp: Any, twin: Callable, spec: tuple, priority: int):
        self.name, self.disp, self.twin, self.spec, self.priority = name, disp, twin, spec, priority

        def counted(*args: Any) -> Any:  # a twin call, counted and timed (``_send_next``)
            _fallbacks[name] += 1
            t0 = time.perf_counter()
            try:
                return twin(*args)
            finally:
                _twin_seconds[name] += time.perf_counter() - t0

        self.counted = counted


#: signature id -> "queued" | "pending" | "done" | "failed"; ids index ``_keys``
_state: dict[int, str] = {}
_keys: list[tuple[_Entry, tuple]] = []  # signature id -> (entry, numba signature)
_ids: dict[tuple, int] = {}  # (entry, *arg keys) -> signature id (numba's typeof: ~20 us/arg)
_queue: list[tuple[int, int]] = []  # heap of (priority, id) not sent to the worker yet
_inflight: list[int] = []  # the id the worker compiles now (one at a time, so order holds)
#: Counters for tests and logs: fallback calls, cache loads, worker compiles per kernel.
_stats: dict[str, collections.Counter] = {
    "fallback": collections.Counter(),
    "loaded": collections.Counter(),
    "compiled": collections.Counter(),
    "sync": collections.Counter(),
}
_fallbacks = _stats["fallback"]
_twin_seconds: collections.Counter = collections.Counter()  # kernel name -> seconds in twins
_installed: dict[int, _Entry] = {}  # id(dispatcher) -> its entry
_worker: list[Any] = []  # [_Worker] once started
_worker_failed: list[str] = []
#: Bumped whenever the worker reports a signature (done or failed): trace programs that call
#: twins directly (``entry_for``) look again between two steps when it changed.
generation = 0


def stats() -> dict[str, dict[str, int]]:
    """Per-kernel counts: ``fallback`` (calls run on numpy), ``loaded`` (signatures loaded from
    the disk cache), ``compiled`` (signatures the worker compiled), ``sync`` (compiled in this
    process: the worker failed or could not start). Generated fused kernels count as
    ``fused``."""
    return {k: dict(v) for k, v in _stats.items()}


def pending() -> int:
    """Signatures waiting for the worker or being compiled by it."""
    with _lock:
        return sum(1 for s in _state.values() if s in ("queued", "pending"))


def wait_idle(timeout: float = 600.0) -> bool:
    """Block until the worker reported every signature sent to it (True), or ``timeout``
    seconds passed (False). Training never needs this; tests and benchmarks do."""
    end = time.monotonic() + timeout
    while pending():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def worker_pid() -> int | None:
    """The compile worker's process id, None when none runs."""
    return _worker[0].proc.pid if _worker and _worker[0].proc.poll() is None else None


def _try_load(disp: Any, sig: tuple) -> Any:
    """The entry point of ``sig`` from memory or numba's disk cache, else None (no compile)."""
    from numba.core.compiler_lock import global_compiler_lock

    try:
        with global_compiler_lock:
            existing = disp.overloads.get(sig)
            if existing is not None:
                return existing.entry_point
            cres = disp._cache.load_overload(sig, disp.targetctx)
            if cres is None:
                return None
            if not cres.objectmode:
                disp.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
            disp.add_overload(cres)
            return cres.entry_point
    except Exception as e:  # numba internals moved or a bad cache entry: compile as usual
        _log.debug("tensorweave: cache load of %s failed: %s", disp.py_func.__name__, e)
        return None


class _Worker:
    """The compile worker: a child Python process fed pickled requests. A plain subprocess, not
    ``multiprocessing``: its spawn start re-imports the user's ``__main__``, which re-runs a
    training script that has no ``if __name__ == "__main__"`` guard."""

    def __init__(self) -> None:
        env = child_env()  # os.environ and the numba cache folder this process uses
        env[ENV_VAR] = "0"  # the worker compiles; it never tiers
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from backends.cpu.tiers import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self.reader = threading.Thread(target=self._read, name="tensorweave-tiers", daemon=True)
        self.reader.start()

    def send(self, ident: int) -> bool:
        """Ask for signature ``ident`` (called with ``_lock`` held)."""
        entry, sig = _keys[ident]
        try:
            pickle.dump((ident, entry.spec, sig), self.proc.stdin)
            self.proc.stdin.flush()
            return True
        except (OSError, ValueError, pickle.PicklingError) as e:
            _log.debug("tensorweave: compile request for %s not sent: %s", entry.name, e)
            return False

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            try:
                ident, ok, info = pickle.load(out)
            except Exception:  # EOF: the worker exited; whatever is pending compiles in-process
                with _lock:
                    for key, st in _state.items():
                        if st in ("queued", "pending"):
                            _state[key] = "failed"
                    _worker_failed.append("the compile worker exited")
                return
            entry, sig = _keys[ident]
            global generation
            with _lock:
                _state[ident] = "done" if ok else "failed"
                generation += 1
                if _inflight and _inflight[0] == ident:
                    _inflight.clear()
                _send_next(self)
            if ok:
                _stats["compiled"][entry.name] += 1
                _log.info("tensorweave: compiled %s%s in %.1f s (worker)", entry.name, sig, info)
            else:
                _log.warning(
                    "tensorweave: compile worker could not compile %s: %s", entry.name, info
                )

    def close(self) -> None:
        """At exit: hand the worker every queued signature and a deadline, then close its
        input. It compiles them into the cache for the next process (for at most
        ``DRAIN_SECONDS``), then exits; with ``DRAIN_SECONDS`` 0 it is ended now."""
        drain = drain_seconds()
        with _lock:
            if drain > 0:
                while _queue:
                    _, ident = heapq.heappop(_queue)
                    if not self.send(ident):
                        break
                with contextlib.suppress(OSError, ValueError):
                    pickle.dump((-1, ("drain", time.time() + drain), None), self.proc.stdin)
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()
        if drain <= 0:
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _next_queued() -> int:
    """Remove and return the most urgent queued signature: serial kernels before ``prange``
    twins, then the kernel whose twins took the most time so far (the compile that saves
    training the most), then the first asked for (``_lock`` held)."""
    best = min(
        range(len(_queue)),
        key=lambda j: (_queue[j][0], -_twin_seconds[_keys[_queue[j][1]][0].name], _queue[j][1]),
    )
    _, ident = _queue[best]
    _queue[best] = _queue[-1]
    _queue.pop()
    heapq.heapify(_queue)
    return ident


def _send_next(w: _Worker) -> None:
    """Send the most urgent queued signature when the worker is free (``_lock`` held)."""
    while not _inflight and _queue:
        ident = _next_queued()
        if w.send(ident):
            _state[ident] = "pending"
            _inflight.append(ident)
        else:
            _state[ident] = "failed"


def _shutdown() -> None:
    if _worker:
        _worker[0].close()


def _get_worker() -> _Worker | None:
    """The running worker (started on first use); None once it failed or exited."""
    if _worker_failed:
        return None
    if _worker:
        return _worker[0]
    try:
        _worker.append(_Worker())
    except OSError as e:
        _worker_failed.append(str(e))
        _log.warning("tensorweave: no compile worker (%s); kernels compile on first call", e)
        return None
    atexit.register(_shutdown)
    return _worker[0]


def _arg_key(a: Any) -> Any:
    """What numba's type of ``a`` depends on, cheaply (arrays: dtype, dims, layout, flags)."""
    if isinstance(a, np.ndarray):
        f = a.flags
        return (a.dtype, a.ndim, f.c_contiguous, f.f_contiguous, f.writeable, f.aligned)
    return type(a)


def _compile_here(disp: Any, args: tuple) -> Callable:
    from numba.core.dispatcher import Dispatcher

    return Dispatcher._compile_for_args(disp, *args)


def _miss(entry: _Entry, args: tuple) -> Callable:
    """numba found no compiled signature for this call: what to call instead. (Tiers switched
    off: new signatures compile here; those already queued keep their twin until done.)"""
    fast = (entry, *map(_arg_key, args))
    key = _ids.get(fast)
    st = None if key is None else _state.get(key)
    if st == "pending" or st == "queued":  # while the worker compiles: no typing, no locks
        return entry.counted
    if not enabled():
        return _compile_here(entry.disp, args)
    if key is None:
        sig = tuple(entry.disp.typeof_pyval(a) for a in args)
        with _lock:
            key = _ids.get(fast)
            if key is None:
                key = _ids[fast] = len(_keys)
                _keys.append((entry, sig))
    sig = _keys[key][1]
    if st is None or st == "done":
        hit = _try_load(entry.disp, sig)
        if hit is not None:
            _stats["loaded"][entry.name] += 1
            return hit
    if st is None:
        w = _get_worker()
        with _lock:
            if key not in _state:
                if w is None:
                    _state[key] = "failed"
                else:
                    _state[key] = "queued"
                    heapq.heappush(_queue, (entry.priority, key))
                    _send_next(w)
            st = _state[key]
    if st == "pending" or st == "queued":
        return entry.counted
    # failed in (or never reached) the worker, or the cache file did not appear: as numba would
    _stats["sync"][entry.name] += 1
    return _compile_here(entry.disp, args)


def entry_for(disp: Any, args: tuple) -> tuple[Callable, bool]:
    """What a replay of a launch of ``disp`` with ``args`` (the kind of arguments it was
    recorded with) should call, skipping numba's type dispatch: ``(entry point, False)`` when
    the machine code is in the process or in numba's disk cache (loaded now: milliseconds);
    ``(numpy twin, True)`` while the worker compiles it (ask again once ``generation``
    changed: the swap to compiled code happens between two steps); else ``(disp, False)``
    (not tiered, or failed in the worker: numba's own dispatch)."""
    entry = _installed.get(id(disp))
    if entry is None:
        return disp, False
    key = _ids.get((entry, *map(_arg_key, args)))
    if key is None:
        return disp, False
    st = _state.get(key)
    if st == "pending" or st == "queued":
        return entry.counted, True
    if st == "done":
        hit = _try_load(disp, _keys[key][1])
        if hit is not None:
            _stats["loaded"][entry.name] += 1
            return hit, False
    return disp, False


def _hook(entry: _Entry) -> None:
    """Route ``entry.disp``'s compile-on-miss through :func:`_miss` (numba's C dispatcher
    calls ``self._compile_for_args`` when no compiled signature matches a call)."""

    def compile_for_args(*args: Any, **kws: Any) -> Callable:
        if kws:  # never from the backend; numba's own path
            return type(entry.disp)._compile_for_args(entry.disp, *args, **kws)
        return _miss(entry, args)

    entry.disp._compile_for_args = compile_for_args
    _installed[id(entry.disp)] = entry


def install(kernels: Any) -> None:
    """Route the compile-on-miss of every ``FALLBACKS`` kernel in module ``kernels`` through
    :func:`_miss` (idempotent). ``TENSORWEAVE_TIERS`` is read at each miss, so it can be
    switched at run time; off, a miss compiles in this process as numba does."""
    for name, twin in FALLBACKS.items():
        disp = getattr(kernels, name, None)
        if disp is None or id(disp) in _installed:
            continue
        _hook(_Entry(name, disp, twin, ("K", name), 1 if name.endswith("_par") else 0))
    install_split()


def _split_twin(char: str) -> Callable[..., None] | None:
    """The twin of ``cblas.split_gemm(char)``: the same GEMM (addresses, leading dimensions)
    as one ``cblas_?gemm`` call through ctypes on ``parts`` OpenBLAS threads, as ``np.matmul``
    runs it (a last-bit difference at most, as the split itself). None without OpenBLAS."""
    from backends.cpu.native import cblas

    blas = cblas.get_gemm()
    if blas.ctl is None:
        return None
    try:
        gemm = cblas.c_gemm(char)
    except cblas.CblasUnavailable:
        return None

    def split_gemm(parts, ta, tb, m, n, k, a, lda, b, ldb, c, ldc) -> None:  # noqa: ANN001
        current = blas.get_threads()
        if parts > current:
            blas.set_threads(int(parts))
        try:
            gemm(101, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc)
        finally:
            if parts > current:
                blas.set_threads(current)

    return split_gemm


def install_split() -> None:
    """Tier ``backends.cpu.native.cblas.split_gemm`` (a large GEMM over numba's threads, ~2 s
    to compile): until the worker compiled it, a call runs one OpenBLAS GEMM (``_split_twin``).
    Nothing happens without an OpenBLAS (the split is then never used)."""
    try:
        from backends.cpu.native import cblas

        for char in "fd":
            disp = cblas.split_gemm(char)
            if id(disp) in _installed:
                continue
            twin = _split_twin(char)
            if twin is not None:
                _hook(_Entry("split_gemm", disp, twin, ("split", char), 0))
    except Exception as e:  # noqa: BLE001 - no OpenBLAS reachable: nothing to tier
        _log.debug("tensorweave: split_gemm not tiered: %s", e)


def install_fused(module: Any, path: str, expr: tuple, pattern: tuple) -> None:
    """Tier a generated fused kernel module (``backends.cpu.fusion``): ``kernel`` and
    ``kernel_par`` run :func:`fused_twin` until the worker compiled them. Expressions with
    int32 arithmetic have no twin and compile on first call."""
    for attr, par in (("kernel", False), ("kernel_par", True)):
        twin = fused_twin(expr, pattern, par)
        disp = getattr(module, attr)
        if twin is None or id(disp) in _installed:
            continue
        spec = ("file", path, module.__name__, attr)
        _hook(_Entry("fused", disp, twin, spec, 1 if par else 0))


# =============================================================================================
# numpy twins of generated fused kernels (backends/cpu/fusion.py's node templates)
# =============================================================================================
def _node_np(op: str, dt: str, arg_dts: list[str], vals: list[np.ndarray]) -> np.ndarray:
    """One fused node in numpy, as fusion.node_expr renders it (float and bool nodes)."""
    if op == "cast":
        x = vals[0]
        if dt == "bool":
            return x != 0
        if dt == "int32" and arg_dts[0] in ("float32", "float64"):
            return float_to_int32(x)
        return x.astype(dt)
    if op == "where":
        return np.where(vals[0], vals[1], vals[2])
    entry = _optable.OPS[op]
    return (entry.numpy if entry.bool_result else _twin(entry))(*vals)


def _twin_ok(expr: tuple) -> bool:
    in_dts, nodes, _ = expr
    dts = list(in_dts) + [dt for _, dt, _ in nodes]
    for op, dt, args in nodes:
        kinds = {dts[a] for a in args}
        if "int32" in kinds and op not in ("cast", "where"):
            return False  # int32 arithmetic wraps and floors unlike numpy: no twin
        if op == "cast" and dt == "int32" and "bool" in kinds:
            continue
        if op not in ("cast", "where") and op not in _optable.OPS:
            return False
    return True


def fused_twin(expr: tuple, pattern: tuple, par: bool) -> Callable | None:
    """The numpy twin of a generated ``kernel`` (``par``: ``kernel_par``) with the same
    arguments, or None when the expression has no twin."""
    if not _twin_ok(expr):
        return None
    in_dts, nodes, outs = expr
    n_in, n_out = len(in_dts), len(outs)
    dts = list(in_dts) + [dt for _, dt, _ in nodes]
    flat = pattern[0] == "flat"

    def twin(*args: Any) -> None:
        o, i = args[:n_out], args[n_out : n_out + n_in]
        rest = args[n_out + n_in :]
        total = o[0].size
        start, stop = (0, total) if par else (rest[-2], rest[-1])
        if flat:
            vals = [x[0] if f == "s" else x[start:stop] for x, f in zip(i, pattern[1], strict=True)]
        else:
            shape, st = rest[0], rest[1]
            vals = [_view(x, shape, st, k).reshape(-1)[start:stop] for k, x in enumerate(i)]
        with np.errstate(all="ignore"):
            for op, dt, a in nodes:
                r = _node_np(op, dt, [dts[k] for k in a], [vals[k] for k in a])
                vals.append(np.asarray(r).astype(dt, copy=False))
        for k, v in enumerate(outs):
            o[k][start:stop] = vals[v]

    return twin


def _serve() -> None:
    """The worker's loop: read ``(id, spec, sig)``, compile, answer ``(id, ok, seconds or
    error)``."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the answer stream
    inp = sys.stdin.buffer
    import importlib.util

    from backends.cpu import kernels as K

    modules: dict[str, Any] = {}
    deadline = None
    while True:
        try:
            ident, spec, sig = pickle.load(inp)
        except EOFError:
            return
        if spec[0] == "drain":  # the parent exits: finish the backlog until then
            deadline = spec[1]
            continue
        if deadline is not None and time.time() > deadline:
            return
        t0 = time.perf_counter()
        try:
            if spec[0] == "K":
                disp = getattr(K, spec[1])
            elif spec[0] == "split":
                from backends.cpu.native import cblas

                disp = cblas.split_gemm(spec[1])
            else:
                _, path, name, attr = spec
                mod = modules.get(path)
                if mod is None:
                    mspec = importlib.util.spec_from_file_location(name, path)
                    mod = importlib.util.module_from_spec(mspec)
                    sys.modules[name] = mod
                    mspec.loader.exec_module(mod)
                    modules[path] = mod
                disp = getattr(mod, attr)
            disp.compile(sig)
            answer = (ident, True, time.perf_counter() - t0)
        except Exception as e:  # report it; the parent compiles in-process and shows the error
            answer = (ident, False, f"{type(e).__name__}: {e}")
        try:
            pickle.dump(answer, out)
            out.flush()
        except OSError:  # the parent has exited: keep filling the cache until the deadline
            pass
