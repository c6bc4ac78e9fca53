"""numba kernels of the ``cpu`` backend's fused convolution and max pooling (NHWC buffers).

Convolutions use a "full-width plane" layout per image instead of an im2col buffer: the image
is copied, zero-padded, into channel planes ``xp[c, Hp, Wp]`` and the output of filter ``o`` is
computed for every position ``p = oh*Wp + ow`` with ``ow`` running over the whole padded width
(the columns ``ow >= OW`` are computed and thrown away). Then the input cell a filter tap
``(i, j, c)`` reads for output ``p`` is ``xp[c, s*p + i*dh*Wp + j*dw]``: one long, unit-stride
(for stride 1) loop per (filter, tap) that LLVM vectorises, where the NHWC loops over 16
filters or 9 taps are too short to. Gradients use the same layout: ``dy`` is spread into
``dyt[o, p]`` with zeros in the thrown-away columns, so the filter gradient is one dot product
per (filter, tap) and the input gradient one axpy per (filter, tap).

Only equal strides (``sh == sw == s``) are supported (the engine composite handles the rest).
Every kernel processes whole images ``n0:n1``; a ``*_par`` twin splits images over threads.
The filter gradient is summed per fixed block of images (``blocks``, a function of the shape
only), so serial and parallel runs give bitwise the same result.

Max pooling works on NHWC directly (the inner loop runs over channels). ``max_pool_grad``
gives each window's ``dy`` to the first cell (row-major window order) equal to the window's
maximum, as the engine composite (and TF.js, TensorFlow, PyTorch); padding cells never get it
and a NaN window passes none. Windows that tile the image (stride = pool, no padding, no
leftover rows or columns) write ``dx`` once instead of zero-filling and adding.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_OPTS = {"cache": True, "error_model": "numpy", "nogil": True}
_PAR = dict(_OPTS, parallel=True)
# Dot products (filter gradient, bias sums) may reassociate float additions to vectorise.
_RED = dict(_OPTS, fastmath={"reassoc"})
_RED_PAR = dict(_RED, parallel=True)


# =============================================================================================
# replicated rows: the inner loops run over (ow, o) pairs
# =============================================================================================
@njit(**_OPTS)
def _replicate(x, xr, n, ci, h, w, c, o_n, pt, pl, wpo):
    """Input channel ``ci`` of image ``n`` into the padded rows ``xr`` (Hp, Wp*O): each cell
    repeated O times, ``xr[ih + pt, (iw + pl)*O + o] = x[n, ih, iw, ci]``. Padding cells are
    left as they are (zero)."""
    for ih in range(h):
        src = (n * h + ih) * w * c + ci
        dst = (ih + pt) * wpo + pl * o_n
        for iw in range(w):
            v = x[src + iw * c]
            row = xr[dst + iw * o_n : dst + (iw + 1) * o_n]
            for o in range(o_n):
                row[o] = v


@njit(**_OPTS)
def _tile_filter(f, taps, o_n, ow_n, fr):
    """``fr[t, ow*O + o] = f[t, o]`` for each tap ``t = (i*KW + j)*C + c``."""
    row = ow_n * o_n
    for t in range(taps):
        for ow in range(ow_n):
            for o in range(o_n):
                fr[t * row + ow * o_n + o] = f[t * o_n + o]


# =============================================================================================
# conv2d forward (+ optional bias and relu), stride 1
# =============================================================================================
@njit(**_OPTS)
def conv2d(x, f, bias, out, act, geo, n0, n1):
    """``out[n] = act(conv(x[n], f) + bias)`` for images ``n0:n1`` (stride 1).

    ``geo`` = (H, W, C, O, KH, KW, dh, dw, pt, pl, OH, OW); ``bias`` holds O values or none;
    ``act`` 0 linear, 1 relu (NaN passes, as ``max(x, 0)``).
    """
    h, w, c, o_n, kh, kw, dh, dw, pt, pl, oh_n, ow_n = geo
    row = ow_n * o_n
    hp = oh_n + (kh - 1) * dh
    wpo = (ow_n + (kw - 1) * dw) * o_n
    zero = out.dtype.type(0)
    fr = np.empty(kh * kw * c * row, f.dtype)
    _tile_filter(f, kh * kw * c, o_n, ow_n, fr)
    br = np.zeros(row, out.dtype)
    if bias.size > 0:
        _tile_filter(bias, 1, o_n, ow_n, br)
    xr = np.zeros(hp * wpo, x.dtype)
    last = kh * kw - 1
    for n in range(n0, n1):
        for ci in range(c):
            _replicate(x, xr, n, ci, h, w, c, o_n, pt, pl, wpo)
            for oh in range(oh_n):
                orow = out[(n * oh_n + oh) * row : (n * oh_n + oh + 1) * row]
                # the bias joins the first tap of channel 0, the relu the last tap of the
                # last channel: one pass over the row per tap, none extra
                for i in range(kh):
                    base = (oh + i * dh) * wpo
                    for j in range(kw):
                        t = (i * kw + j) * c + ci
                        xs = xr[base + j * dw * o_n : base + j * dw * o_n + row]
                        fs = fr[t * row : (t + 1) * row]
                        first = ci == 0 and i == 0 and j == 0
                        if first and act == 1 and c == 1 and last == 0:
                            # one channel, one tap: the first tap is also the last
                            for k in range(row):
                                v = br[k] + xs[k] * fs[k]
                                orow[k] = v if (v > zero or v != v) else zero
                        elif first:
                            for k in range(row):
                                orow[k] = br[k] + xs[k] * fs[k]
                        elif act == 1 and ci == c - 1 and i * kw + j == last:
                            for k in range(row):
                                v = orow[k] + xs[k] * fs[k]
                                orow[k] = v if (v > zero or v != v) else zero
                        else:
                            for k in range(row):
                                orow[k] += xs[k] * fs[k]


@njit(**_PAR)
def conv2d_par(x, f, bias, out, act, geo, n_images, per_task):
    for t in prange((n_images + per_task - 1) // per_task):
        n0 = t * per_task
        conv2d(x, f, bias, out, act, geo, n0, min(n0 + per_task, n_images))


# =============================================================================================
# conv2d filter gradient (+ bias gradient, + gradient through a fused relu), stride 1
# =============================================================================================
@njit(**_OPTS)
def conv2d_filter_grad_block(x, dy, out, act, geo, n0, n1, acc, bacc):
    """Add the per-(ow, o) filter and bias gradient terms of images ``n0:n1`` into ``acc``
    (taps, OW*O) and ``bacc`` (OW*O, or empty: no bias gradient)."""
    h, w, c, o_n, kh, kw, dh, dw, pt, pl, oh_n, ow_n = geo
    row = ow_n * o_n
    hp = oh_n + (kh - 1) * dh
    wpo = (ow_n + (kw - 1) * dw) * o_n
    zero = acc.dtype.type(0)
    xr = np.zeros(hp * wpo, x.dtype)
    g = np.empty(row, dy.dtype)
    for n in range(n0, n1):
        for ci in range(c):
            _replicate(x, xr, n, ci, h, w, c, o_n, pt, pl, wpo)
            for oh in range(oh_n):
                r0 = (n * oh_n + oh) * row
                dys = dy[r0 : r0 + row]
                if act == 1:
                    outs = out[r0 : r0 + row]
                    if ci == 0 and bacc.size > 0:
                        for k in range(row):
                            v = dys[k] if outs[k] > zero else zero
                            g[k] = v
                            bacc[k] += v
                    else:
                        for k in range(row):
                            g[k] = dys[k] if outs[k] > zero else zero
                else:
                    for k in range(row):
                        g[k] = dys[k]
                    if ci == 0 and bacc.size > 0:
                        for k in range(row):
                            bacc[k] += g[k]
                for i in range(kh):
                    base = (oh + i * dh) * wpo
                    for j in range(kw):
                        t = (i * kw + j) * c + ci
                        xs = xr[base + j * dw * o_n : base + j * dw * o_n + row]
                        a = acc[t * row : (t + 1) * row]
                        for k in range(row):
                            a[k] += xs[k] * g[k]


@njit(**_OPTS)
def _fold(acc, bacc, df, db, blocks, taps, o_n, ow_n):
    """df[t, o] = sum over blocks and ow of acc[b, t, ow*O + o] (db likewise), fixed order."""
    row = ow_n * o_n
    for t in range(taps):
        for o in range(o_n):
            s = acc.dtype.type(0)
            for b in range(blocks):
                for ow in range(ow_n):
                    s += acc[(b * taps + t) * row + ow * o_n + o]
            df[t * o_n + o] = s
    if db.size > 0:
        for o in range(o_n):
            s = acc.dtype.type(0)
            for b in range(blocks):
                for ow in range(ow_n):
                    s += bacc[b * row + ow * o_n + o]
            db[o] = s


@njit(**_OPTS)
def conv2d_filter_grad(x, dy, out, act, geo, n_images, blocks, df, db):
    """Filter (and bias, when ``db`` is not empty) gradients: ``blocks`` fixed blocks of
    images, each summed on its own, then the blocks in order (same bits as the par twin)."""
    h, w, c, o_n, kh, kw, dh, dw, pt, pl, oh_n, ow_n = geo
    taps = kh * kw * c
    row = ow_n * o_n
    per = (n_images + blocks - 1) // blocks
    acc = np.zeros(blocks * taps * row, df.dtype)
    bacc = np.zeros(blocks * row if db.size > 0 else 0, df.dtype)
    for b in range(blocks):
        n0 = min(b * per, n_images)
        conv2d_filter_grad_block(
            x, dy, out, act, geo, n0, min(n0 + per, n_images),
            acc[b * taps * row : (b + 1) * taps * row], bacc[b * row : (b + 1) * row] if db.size > 0 else bacc,
        )  # fmt: skip
    _fold(acc, bacc, df, db, blocks, taps, o_n, ow_n)


@njit(**_PAR)
def conv2d_filter_grad_par(x, dy, out, act, geo, n_images, blocks, df, db):
    """``conv2d_filter_grad`` with the blocks split over threads."""
    h, w, c, o_n, kh, kw, dh, dw, pt, pl, oh_n, ow_n = geo
    taps = kh * kw * c
    row = ow_n * o_n
    per = (n_images + blocks - 1) // blocks
    acc = np.zeros(blocks * taps * row, df.dtype)
    bacc = np.zeros(blocks * row if db.size > 0 else 0, df.dtype)
    for b in prange(blocks):
        n0 = min(b * per, n_images)
        conv2d_filter_grad_block(
            x, dy, out, act, geo, n0, min(n0 + per, n_images),
            acc[b * taps * row : (b + 1) * taps * row], bacc[b * row : (b + 1) * row] if db.size > 0 else bacc,
        )  # fmt: skip
    _fold(acc, bacc, df, db, blocks, taps, o_n, ow_n)


# =============================================================================================
# max pooling (NHWC, inner loop over channels)
# =============================================================================================
@njit(**_OPTS)
def _window(o, k, s, pad, size):
    """Input range [lo, hi) of pooling window ``o`` along one axis (padding cells left out)."""
    lo = o * s - pad
    hi = lo + k
    return max(lo, 0), min(hi, size)


@njit(**_OPTS)
def max_pool(x, out, geo, n0, n1):
    """``out[n, oh, ow, c]`` = max of the window (NaN wins), images ``n0:n1``.

    ``geo`` = (H, W, C, KH, KW, sh, sw, pt, pl, OH, OW).
    """
    h, w, c, kh, kw, sh, sw, pt, pl, oh_n, ow_n = geo
    ninf = out.dtype.type(-np.inf)
    for n in range(n0, n1):
        for oh in range(oh_n):
            h0, h1 = _window(oh, kh, sh, pt, h)
            for ow in range(ow_n):
                w0, w1 = _window(ow, kw, sw, pl, w)
                ob = ((n * oh_n + oh) * ow_n + ow) * c
                m = out[ob : ob + c]
                for ci in range(c):
                    m[ci] = ninf
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        xb = ((n * h + ih) * w + iw) * c
                        xs = x[xb : xb + c]
                        for ci in range(c):
                            v = xs[ci]
                            cur = m[ci]
                            m[ci] = v if (v > cur or v != v) else cur


@njit(**_PAR)
def max_pool_par(x, out, geo, n_images, per_task):
    for t in prange((n_images + per_task - 1) // per_task):
        n0 = t * per_task
        max_pool(x, out, geo, n0, min(n0 + per_task, n_images))


@njit(**_OPTS)
def max_pool_grad(dy, x, out, dx, geo, n0, n1):
    """``dx[n]``: each window's ``dy`` to its first cell equal to the window's max."""
    h, w, c, kh, kw, sh, sw, pt, pl, oh_n, ow_n = geo
    zero = dx.dtype.type(0)
    tiles = sh == kh and sw == kw and pt == 0 and pl == 0 and oh_n * kh == h and ow_n * kw == w
    if not tiles:
        for k in range(n0 * h * w * c, n1 * h * w * c):
            dx[k] = zero
    rem = np.empty(c, dx.dtype)
    for n in range(n0, n1):
        for oh in range(oh_n):
            h0, h1 = _window(oh, kh, sh, pt, h)
            for ow in range(ow_n):
                w0, w1 = _window(ow, kw, sw, pl, w)
                ob = ((n * oh_n + oh) * ow_n + ow) * c
                m = out[ob : ob + c]
                g = dy[ob : ob + c]
                for ci in range(c):
                    rem[ci] = g[ci]
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        xb = ((n * h + ih) * w + iw) * c
                        xs = x[xb : xb + c]
                        d = dx[xb : xb + c]
                        if tiles:
                            for ci in range(c):
                                hit = xs[ci] == m[ci]
                                d[ci] = rem[ci] if hit else zero
                                rem[ci] = zero if hit else rem[ci]
                        else:
                            for ci in range(c):
                                hit = xs[ci] == m[ci]
                                d[ci] += rem[ci] if hit else zero
                                rem[ci] = zero if hit else rem[ci]


@njit(**_PAR)
def max_pool_grad_par(dy, x, out, dx, geo, n_images, per_task):
    for t in prange((n_images + per_task - 1) // per_task):
        n0 = t * per_task
        max_pool_grad(dy, x, out, dx, geo, n0, min(n0 + per_task, n_images))
