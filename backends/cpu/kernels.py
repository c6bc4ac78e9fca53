"""numba kernels of the ``cpu`` backend.

Design, to keep numba's first-call compile cost small:

- Few generic kernels, each parametrised by an integer op code; the ``if op == ...`` chain sits
  *outside* the element loops, so every loop is a tight, vectorisable loop for one op. A kernel
  compiles once per dtype signature (lazily, on first use) and is cached on disk.
- Every kernel is a serial "range" function working on flat, C-contiguous buffers (elements
  ``start:stop`` or task ranges); a ``*_par`` twin splits the work into blocks with ``prange``
  and calls the serial one per block. Small ops call the serial kernel directly, so they pay
  neither threading overhead nor the (slower) parallel compile.
- Broadcasting is strided indexing: each operand has an element stride per (collapsed) output
  dimension, 0 along broadcast dimensions. Nothing is materialised.
- Indices are cast to ``uint64`` before indexing: numba then skips its negative-index
  wraparound check, which otherwise blocks vectorisation.
- Scalars of the data dtype (``one``, ``zero``) are passed in by the caller, so float32 kernels
  compute in float32 (a numba ``1.0`` literal is float64 and would promote the whole expression).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types, uint64
from numba.extending import intrinsic, overload

_OPTS = {"cache": True, "error_model": "numpy", "nogil": True}
_PAR = {"cache": True, "error_model": "numpy", "nogil": True, "parallel": True}
# Reductions may reassociate float additions (vector partial sums); nothing else changes.
_RED = {"cache": True, "error_model": "numpy", "nogil": True, "fastmath": {"reassoc"}}
_RED_PAR = dict(_RED, parallel=True)
_RED_INLINE = {"error_model": "numpy", "fastmath": {"reassoc"}}  # for overload helpers
_INL = {"cache": True, "error_model": "numpy", "nogil": True, "inline": "always"}
# Only for max/min of blocks already checked to hold no NaN.
_FAST = {
    "cache": True,
    "error_model": "numpy",
    "nogil": True,
    "fastmath": {"nnan", "nsz", "reassoc"},
}

# --- op codes (the backend maps names to these); the elementwise ones come from the op table
REDUCE = ("sum", "prod", "max", "min", "any", "all")


@njit(**_OPTS)
def n_blocks(total, block):
    return (total + block - 1) // block


# =============================================================================================
# Vectorisable float32 exp, log and tanh. numba's np.exp/log/tanh call libm's scalar functions
# (10-40x slower than numpy's SIMD loops); these Cephes-style versions are branch-free, so LLVM
# vectorises loops that use them. Max errors measured against float64: exp 0.99 ulp over
# [-110, 95], log 0.77 ulp over all positive floats, tanh 1.27 ulp (numpy's own float32 loops:
# 2.4, 3.3 and 1.4 ulp). inf/-inf/nan/-0.0 and subnormals behave as numpy's.
# =============================================================================================
@intrinsic
def _pow2(typingctx, fk):
    """2**k as float32 for a float32 holding an integer k in [-126, 127], via exponent bits."""
    if fk != types.float32:
        return None

    def codegen(context, builder, signature, args):
        f32, i32 = ir.FloatType(), ir.IntType(32)
        y = builder.fadd(args[0], ir.Constant(f32, 12582912.0 + 127.0))  # 1.5*2**23 + bias
        e = builder.sub(builder.bitcast(y, i32), ir.Constant(i32, 0x4B400000))
        return builder.bitcast(builder.shl(e, ir.Constant(i32, 23)), f32)

    return types.float32(types.float32), codegen


@intrinsic
def _clamp32(typingctx, x, lo, hi):
    """min(max(x, lo), hi) as two selects (NaN passes through)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        v, lo, hi = args
        v = builder.select(builder.fcmp_ordered(">", v, hi), hi, v)
        return builder.select(builder.fcmp_ordered("<", v, lo), lo, v)

    return types.float32(types.float32, types.float32, types.float32), codegen


_MAGIC = np.float32(12582912.0)  # 1.5 * 2**23: (x + M) - M rounds x to an integer


@njit(**_OPTS)
def _expf32(x0):
    x = _clamp32(x0, np.float32(-104.0), np.float32(89.0))
    fn = (x * np.float32(1.44269504088896341) + _MAGIC) - _MAGIC
    r = x - fn * np.float32(0.693359375) - fn * np.float32(-2.12194440e-4)
    z = r * r
    p = np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * z + r + np.float32(1.0)
    # Scale by 2**n in two exact steps so the subnormal and overflow ranges round once.
    fn1 = (fn * np.float32(0.5) + _MAGIC) - _MAGIC
    return p * _pow2(fn1) * _pow2(fn - fn1)


def fast_exp(x):
    """exp: the vectorisable kernel for float32, np.exp otherwise (numba-only helper)."""
    return np.exp(x)


@overload(fast_exp, jit_options={"error_model": "numpy"})
def _fast_exp_impl(x):
    if x == types.float32:
        return lambda x: _expf32(x)
    return lambda x: np.exp(x)


@njit(**_OPTS)
def _tanhf32(x):
    """Cephes tanhf, branch-free (vectorisable): a polynomial below |x| 0.625, else
    1 - 2/(exp(2|x|) + 1) with the sign of x; +-1 for large |x|, NaN stays NaN."""
    ax = abs(x)
    s = x * x
    p = np.float32(-5.70498872745e-3) * s + np.float32(2.06390887954e-2)
    p = p * s - np.float32(5.37397155531e-2)
    p = p * s + np.float32(1.33314422036e-1)
    p = p * s - np.float32(3.33332819422e-1)
    small = p * s * x + x
    e = _expf32(_clamp32(ax + ax, np.float32(-104.0), np.float32(88.0)))
    big = np.float32(1.0) - np.float32(2.0) / (e + np.float32(1.0))
    big = big if x >= 0 else -big
    small = x if x == 0 else small  # keeps the sign of -0.0
    return small if ax < np.float32(0.625) else big


@intrinsic
def _frexp_mant32(typingctx, x):
    """The mantissa of a positive normal float32 scaled into [0.5, 1) (frexpf's fraction)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        f32, i32 = ir.FloatType(), ir.IntType(32)
        b = builder.bitcast(args[0], i32)
        b = builder.or_(builder.and_(b, ir.Constant(i32, 0x807FFFFF)), ir.Constant(i32, 0x3F000000))
        return builder.bitcast(b, f32)

    return types.float32(types.float32), codegen


@intrinsic
def _frexp_exp32(typingctx, x):
    """frexpf's exponent of a positive normal float32, as a float32."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        f32, i32 = ir.FloatType(), ir.IntType(32)
        b = builder.lshr(builder.bitcast(args[0], i32), ir.Constant(i32, 23))
        e = builder.sub(builder.and_(b, ir.Constant(i32, 0xFF)), ir.Constant(i32, 126))
        return builder.sitofp(e, f32)

    return types.float32(types.float32), codegen


@intrinsic
def _i32_as_f32(typingctx, x):
    """The float32 whose bits are the int32 ``x`` (a register move, no memory)."""
    if x != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(**_OPTS)
def _logf32(x0):
    """Cephes logf, branch-free (vectorisable); subnormals are pre-scaled by 2**25;
    log(0) = -inf, log(x < 0) = nan, log(inf) = inf, nan stays nan."""
    tiny = x0 < np.float32(1.17549435e-38)
    x = x0 * np.float32(33554432.0) if tiny else x0
    e = _frexp_exp32(x) - (np.float32(25.0) if tiny else np.float32(0.0))
    m = _frexp_mant32(x)
    lo = m < np.float32(0.707106781186547524)
    e = e - np.float32(1.0) if lo else e
    f = (m + m - np.float32(1.0)) if lo else (m - np.float32(1.0))
    z = f * f
    y = np.float32(7.0376836292e-2) * f - np.float32(1.1514610310e-1)
    y = y * f + np.float32(1.1676998740e-1)
    y = y * f - np.float32(1.2420140846e-1)
    y = y * f + np.float32(1.4249322787e-1)
    y = y * f - np.float32(1.6668057665e-1)
    y = y * f + np.float32(2.0000714765e-1)
    y = y * f - np.float32(2.4999993993e-1)
    y = y * f + np.float32(3.3333331174e-1)
    y = y * f * z
    y = y + np.float32(-2.12194440e-4) * e
    y = y - np.float32(0.5) * z
    r = f + y + np.float32(0.693359375) * e
    r = x0 if x0 == np.float32(np.inf) else r
    r = np.float32(-np.inf) if x0 == 0 else r
    return np.float32(np.nan) if (x0 < 0 or x0 != x0) else r


def fast_log(x):
    """log: the vectorisable kernel for float32, np.log otherwise (numba-only helper)."""
    return np.log(x)


@overload(fast_log, jit_options={"error_model": "numpy"})
def _fast_log_impl(x):
    if x == types.float32:
        return lambda x: _logf32(x)
    return lambda x: np.log(x)


def fast_tanh(x):
    """tanh: the vectorisable kernel for float32, np.tanh otherwise (numba-only helper)."""
    return np.tanh(x)


@overload(fast_tanh, jit_options={"error_model": "numpy"})
def _fast_tanh_impl(x):
    if x == types.float32:
        return lambda x: _tanhf32(x)
    return lambda x: np.tanh(x)


# =============================================================================================
# Strided iteration over a (collapsed) output shape
# =============================================================================================
@njit(**_OPTS)
def unravel_offsets(shape, st, start, idx, off):
    """Multi-index of flat ``start`` into ``idx`` and each operand's offset into ``off``."""
    rem = start
    for k in range(off.size):
        off[k] = 0
    for d in range(shape.size - 1, -1, -1):
        q = rem % shape[d]
        rem //= shape[d]
        idx[d] = q
        for k in range(off.size):
            off[k] += q * st[k, d]


@njit(**_OPTS)
def advance_offsets(shape, st, idx, off, n):
    """Move the odometer ``n`` steps along the last dimension (never past its end)."""
    last = shape.size - 1
    idx[last] += n
    for k in range(off.size):
        off[k] += n * st[k, last]
    d = last
    while d > 0 and idx[d] == shape[d]:
        for k in range(off.size):
            off[k] -= shape[d] * st[k, d]
        idx[d] = 0
        d -= 1
        idx[d] += 1
        for k in range(off.size):
            off[k] += st[k, d]


@njit(**_OPTS)
def float_divmod(a, b):
    """numpy's npy_divmod for floats: (floor quotient, remainder with the sign of b)."""
    mod = np.fmod(a, b)
    if b == 0:
        return a / b, mod
    div = (a - mod) / b
    if mod != 0:
        if (b < 0) != (mod < 0):
            mod += b
            div -= 1
    else:
        mod = np.copysign(mod - mod, b)
    if div != 0:
        fd = np.floor(div)
        if div - fd > 0.5:
            fd += 1
    else:
        fd = np.copysign(div - div, a / b)
    return fd, mod


# =============================================================================================
# Elementwise unary and binary kernels: rendered from the engine's op table (engine/optable.py)
# by backends/cpu/elementwise.py into a module in the cache, which imports the helpers above.
# Op codes are positions in these name tuples.
# =============================================================================================
from backends.cpu import elementwise as _elementwise  # noqa: E402  (needs the helpers above)

_ELT = _elementwise.module()
UNARY_FLOAT: tuple[str, ...] = _ELT.UNARY_FLOAT
UNARY_INT: tuple[str, ...] = _ELT.UNARY_INT
UNARY_PRED: tuple[str, ...] = _ELT.UNARY_PRED
BINARY_ARITH: tuple[str, ...] = _ELT.BINARY_ARITH
BINARY_CMP: tuple[str, ...] = _ELT.BINARY_CMP
unary_float, unary_float_par = _ELT.unary_float, _ELT.unary_float_par
unary_int, unary_int_par = _ELT.unary_int, _ELT.unary_int_par
unary_pred, unary_pred_par = _ELT.unary_pred, _ELT.unary_pred_par
binary_float, binary_float_par = _ELT.binary_float, _ELT.binary_float_par
binary_int, binary_int_par = _ELT.binary_int, _ELT.binary_int_par
binary_cmp, binary_cmp_par = _ELT.binary_cmp, _ELT.binary_cmp_par
_f_call, _f_binary_call, _i_binary_call = _ELT._f_call, _ELT._f_binary_call, _ELT._i_binary_call
#: The table's numba helpers (``_sigmoid``, ``_softplus``, ...), for the fused kernels.
globals().update({n: getattr(_ELT, n) for n in _elementwise.helper_names()})


@njit(**_OPTS)
def where(c, a, b, out, shape, st, start, stop):
    """out = a where c else b, three strided operands."""
    last = shape.size - 1
    idx = np.empty(shape.size, np.int64)
    off = np.empty(3, np.int64)
    unravel_offsets(shape, st, start, idx, off)
    sc = st[0, last]
    sa = st[1, last]
    sb = st[2, last]
    pos = start
    while pos < stop:
        n = min(shape[last] - idx[last], stop - pos)
        ic = off[0]
        ia = off[1]
        ib = off[2]
        for i in range(n):
            out[uint64(pos + i)] = (
                a[uint64(ia + i * sa)] if c[uint64(ic + i * sc)] else b[uint64(ib + i * sb)]
            )
        pos += n
        advance_offsets(shape, st, idx, off, n)


@njit(**_PAR)
def where_par(c, a, b, out, shape, st, block):
    total = out.size
    for k in prange(n_blocks(total, block)):
        s = k * block
        where(c, a, b, out, shape, st, s, min(s + block, total))


# =============================================================================================
# Reductions. Layouts: rows (P, R) reduce each contiguous row; mid (P, R, Q) reduce axis 1.
# =============================================================================================
# Helpers compiled with their own flags; LLVM inlines them with per-instruction flags intact.
@njit(**_OPTS)
def _has_nan(xs):
    acc = False
    for i in range(xs.size):
        acc |= xs[i] != xs[i]
    return acc


@njit(**_OPTS)
def _first_nan(xs):
    for i in range(xs.size):
        if xs[i] != xs[i]:
            return i
    return -1


@njit(**_FAST)
def _fast_max(xs):
    """max of a NaN-free block (no-NaN fast-math lets LLVM vectorise the reduction)."""
    m = xs[0]
    for i in range(xs.size):
        v = xs[i]
        m = v if v > m else m
    return m


@njit(**_FAST)
def _fast_min(xs):
    m = xs[0]
    for i in range(xs.size):
        v = xs[i]
        m = v if v < m else m
    return m


@njit(**_OPTS)
def _f32_extreme_bits(is_max, b):
    """Bits of the max (min) of float32 values given as their int32 bits, NaN propagating.

    LLVM will not vectorise a float max reduction from numba's IR, but it does vectorise an
    int32 one: map each float to a key that orders like the float (flip the magnitude bits of
    negatives), reduce the keys, flip back. NaNs are spotted in the same pass by their bits."""
    absmask = np.int32(0x7FFFFFFF)
    inf = np.int32(0x7F800000)
    s31 = np.int32(31)
    n = b.size
    nan = False
    if is_max:
        m = np.int32(-(2**31))
        for i in range(n):
            v = b[i]
            k = np.int32(v ^ np.int32(np.int32(v >> s31) & absmask))
            m = k if k > m else m
            nan |= np.int32(v & absmask) > inf
    else:
        m = np.int32(2**31 - 1)
        for i in range(n):
            v = b[i]
            k = np.int32(v ^ np.int32(np.int32(v >> s31) & absmask))
            m = k if k < m else m
            nan |= np.int32(v & absmask) > inf
    if nan:
        for i in range(n):
            if np.int32(b[i] & absmask) > inf:
                return b[i]
    return np.int32(m ^ np.int32(np.int32(m >> s31) & absmask))


@njit(**_OPTS)
def reduce_f32_extreme_rows(is_max, b, out, r, start, stop):
    """Row max/min of float32 data viewed as int32 bits; ``out`` is int32 (bits) too."""
    for p in range(start, stop):
        out[p] = _f32_extreme_bits(is_max, b[p * r : (p + 1) * r])


@njit(**_PAR)
def reduce_f32_extreme_rows_par(is_max, b, out, r, rows_per_task):
    total = out.size
    for k in prange(n_blocks(total, rows_per_task)):
        s = k * rows_per_task
        reduce_f32_extreme_rows(is_max, b, out, r, s, min(s + rows_per_task, total))


@njit(**_PAR)
def reduce_f32_extreme_split_par(is_max, b, partial, p_rows, r, k, chunk):
    for t in prange(p_rows * k):
        p = t // k
        c = t % k
        s = p * r + c * chunk
        partial[t] = _f32_extreme_bits(is_max, b[s : s + min(chunk, r - c * chunk)])


@njit(**_OPTS)
def _first_equal(xs, v):
    """First index holding ``v``: a vectorised any() per 64-element chunk, then a scan."""
    n = xs.size
    for c in range(0, n, 64):
        blk = xs[c : min(n, c + 64)]
        hit = False
        for i in range(blk.size):
            hit |= blk[i] == v
        if hit:
            for i in range(blk.size):
                if blk[i] == v:
                    return c + i
    return 0


def row_max(xs):
    """NaN-propagating max of a 1-D array (numba-only helper; vectorised for float32)."""
    return np.max(xs)


@overload(row_max, jit_options={"error_model": "numpy"})
def _row_max_impl(xs):
    if xs.dtype == types.float32:

        def f32(xs):
            # a bitcast, not a 1-element array: that allocation was most of a short row's max
            return _i32_as_f32(_f32_extreme_bits(True, xs.view(np.int32)))

        return f32

    def generic(xs):
        if _has_nan(xs):
            return xs[_first_nan(xs)]
        return _fast_max(xs)

    return generic


@njit(**_RED)
def _sum_fast(xs, zero):
    """Sum with reassociation allowed (vector partial sums), in 4096-element blocks."""
    n = xs.size
    total = zero
    for b0 in range(0, n, 4096):
        blk = xs[b0 : min(n, b0 + 4096)]
        s = zero
        for i in range(blk.size):
            s += blk[i]
        total += s
    return total


# Reductions are generated per dtype family with ``overload`` so that a bool kernel compiles
# only any/all code and a numeric kernel only sum/prod/max/min code (half the compile time).
def _reduce_seg(op, x, base, n, zero, one):
    """Reduce ``x[base:base+n]`` (n >= 1 for max/min). numba-only helper."""
    raise NotImplementedError


def _seg_numeric(op, x, base, n, zero, one):
    xs = x[base : base + n]
    if op == 0:
        return _sum_fast(xs, zero)
    if op == 1:
        p = one
        for i in range(n):
            p *= xs[i]
        return p
    # Per L1-sized block: NaN check (an OR reduction), then a vectorised max/min.
    m = xs[0]
    for b0 in range(0, n, 4096):
        blk = xs[b0 : min(n, b0 + 4096)]
        if _has_nan(blk):
            return blk[_first_nan(blk)]
        if op == 2:
            bm = _fast_max(blk)
            m = bm if bm > m else m
        else:
            bm = _fast_min(blk)
            m = bm if bm < m else m
    return m


def _seg_logical(op, x, base, n, zero, one):
    # any (op 4; max of bools is any) / all (op 5; min is all)
    xs = x[base : base + n]
    if op == 2 or op == 4:
        acc = False
        for i in range(n):
            acc |= xs[i]
        return acc
    acc = True
    for i in range(n):
        acc &= xs[i]
    return acc


@overload(_reduce_seg, jit_options=_RED_INLINE)
def _reduce_seg_impl(op, x, base, n, zero, one):
    return _seg_logical if x.dtype == types.boolean else _seg_numeric


def _combine_rows(op, o, row):
    """o[j] = op(o[j], row[j]) for each j (numba-only helper)."""
    raise NotImplementedError


def _combine_numeric(op, o, row):
    nq = o.size
    if op == 0:
        for j in range(nq):
            o[j] += row[j]
    elif op == 1:
        for j in range(nq):
            o[j] *= row[j]
    elif op == 2:
        for j in range(nq):
            v = row[j]
            m = o[j]
            o[j] = v if (v > m or v != v) else m
    else:
        for j in range(nq):
            v = row[j]
            m = o[j]
            o[j] = v if (v < m or v != v) else m


def _combine_logical(op, o, row):
    if op == 2 or op == 4:
        for j in range(o.size):
            o[j] = o[j] or row[j]
    else:
        for j in range(o.size):
            o[j] = o[j] and row[j]


@overload(_combine_rows, jit_options=_RED_INLINE)
def _combine_rows_impl(op, o, row):
    return _combine_logical if o.dtype == types.boolean else _combine_numeric


@njit(**_RED)
def reduce_rows(op, x, out, r, zero, one, start, stop):
    """out[p] = reduce(x[p*r:(p+1)*r]) for rows p in [start, stop)."""
    for p in range(start, stop):
        out[p] = _reduce_seg(op, x, p * r, r, zero, one)


@njit(**_RED_PAR)
def reduce_rows_par(op, x, out, r, zero, one, rows_per_task):
    total = out.size
    for k in prange(n_blocks(total, rows_per_task)):
        s = k * rows_per_task
        reduce_rows(op, x, out, r, zero, one, s, min(s + rows_per_task, total))


@njit(**_RED)
def reduce_rows_split(op, x, partial, r, k, chunk, zero, one, t0, t1):
    """partial[p*k + c] = reduce of chunk c (``chunk`` elements) of row p, tasks [t0, t1)."""
    for t in range(t0, t1):
        p = t // k
        s = (t % k) * chunk
        partial[t] = _reduce_seg(op, x, p * r + s, min(chunk, r - s), zero, one)


@njit(**_RED_PAR)
def reduce_rows_split_par(op, x, partial, r, k, chunk, zero, one):
    for t in prange(partial.size):
        reduce_rows_split(op, x, partial, r, k, chunk, zero, one, t, t + 1)


@njit(**_RED)
def reduce_mid(op, x, out, r, q, p0, p1, q0, q1):
    """out[p, j] = reduce over i of x[p, i, j] for p in [p0, p1), j in [q0, q1); r >= 1."""
    nq = q1 - q0
    for p in range(p0, p1):
        o = out[p * q + q0 : p * q + q1]
        first = x[p * r * q + q0 : p * r * q + q1]
        for j in range(nq):
            o[j] = first[j]
        for i in range(1, r):
            _combine_rows(op, o, x[(p * r + i) * q + q0 : (p * r + i) * q + q1])


@njit(**_RED)
def reduce_mid_split(op, x, partial, r, q, k, chunk_rows, t0, t1):
    """partial[p, c, :] = reduce over rows [c*chunk_rows, (c+1)*chunk_rows) of x[p, :, :],
    for tasks t = p*k + c in [t0, t1): long reductions over a leading axis, in row blocks."""
    for t in range(t0, t1):
        p = t // k
        i0 = (t % k) * chunk_rows
        i1 = min(r, i0 + chunk_rows)
        o = partial[t * q : (t + 1) * q]
        first = x[(p * r + i0) * q : (p * r + i0 + 1) * q]
        for j in range(q):
            o[j] = first[j]
        for i in range(i0 + 1, i1):
            _combine_rows(op, o, x[(p * r + i) * q : (p * r + i + 1) * q])


@njit(**_RED_PAR)
def reduce_mid_split_par(op, x, partial, r, q, k, chunk_rows):
    n_tasks = partial.size // q
    for t in prange(n_tasks):
        reduce_mid_split(op, x, partial, r, q, k, chunk_rows, t, t + 1)


@njit(**_RED_PAR)
def reduce_mid_par(op, x, out, p_rows, r, q, q_chunk):
    nqc = n_blocks(q, q_chunk)
    for t in prange(p_rows * nqc):
        p = t // nqc
        c = t % nqc
        q0 = c * q_chunk
        reduce_mid(op, x, out, r, q, p, p + 1, q0, min(q0 + q_chunk, q))


@njit(**_OPTS)
def arg_reduce(is_max, x, bits, out, r, q, p0, p1):
    """out[p, j] = first index i of the max (min) of x[p, :, j]; NaN wins (numpy).
    ``bits`` is float32 ``x`` viewed as int32 (fast path), or an empty int32 array."""
    for p in range(p0, p1):
        if q == 1:
            # Two vectorised passes: NaN check and max/min, then the first index holding it.
            row = x[p * r : (p + 1) * r]
            if bits.size:
                # float32: the vectorised int32-key extreme (NaN included), then its index.
                e = _f32_extreme_bits(is_max, bits[p * r : (p + 1) * r])
                if np.int32(e & np.int32(0x7FFFFFFF)) > np.int32(0x7F800000):
                    out[p] = _first_nan(row)
                else:
                    tmp = np.empty(1, np.int32)
                    tmp[0] = e
                    # float compare: -0.0 == 0.0, so ties between zeros go to the first.
                    out[p] = _first_equal(row, tmp.view(np.float32)[0])
            elif _has_nan(row):
                out[p] = _first_nan(row)
            else:
                out[p] = _first_equal(row, _fast_max(row) if is_max else _fast_min(row))
        else:
            o = out[p * q : (p + 1) * q]
            best = x[p * r * q : p * r * q + q].copy()
            for j in range(q):
                o[j] = 0
            for i in range(1, r):
                row = x[(p * r + i) * q : (p * r + i + 1) * q]
                for j in range(q):
                    v = row[j]
                    m = best[j]
                    if m == m and (v != v or ((v > m) if is_max else (v < m))):
                        best[j] = v
                        o[j] = i


@njit(**_PAR)
def arg_reduce_par(is_max, x, bits, out, p_rows, r, q, rows_per_task):
    for k in prange(n_blocks(p_rows, rows_per_task)):
        s = k * rows_per_task
        arg_reduce(is_max, x, bits, out, r, q, s, min(s + rows_per_task, p_rows))


@njit(**_OPTS)
def cumsum(x, out, r, q, exclusive, reverse, p0, p1):
    """Cumulative sum along axis 1 of (P, R, Q), sequential in the scan direction."""
    for p in range(p0, p1):
        base = p * r * q
        for t in range(r):
            i = r - 1 - t if reverse else t
            o = out[base + i * q : base + (i + 1) * q]
            if t == 0:
                if exclusive:
                    for j in range(q):
                        o[j] = 0
                else:
                    xi = x[base + i * q : base + (i + 1) * q]
                    for j in range(q):
                        o[j] = xi[j]
            else:
                ip = i + 1 if reverse else i - 1
                prev = out[base + ip * q : base + (ip + 1) * q]
                src = x[
                    base + (ip if exclusive else i) * q : base + ((ip if exclusive else i) + 1) * q
                ]
                for j in range(q):
                    o[j] = prev[j] + src[j]


@njit(**_PAR)
def cumsum_par(x, out, p_rows, r, q, exclusive, reverse, rows_per_task):
    for k in prange(n_blocks(p_rows, rows_per_task)):
        s = k * rows_per_task
        cumsum(x, out, r, q, exclusive, reverse, s, min(s + rows_per_task, p_rows))


# =============================================================================================
# Gather / scatter_add on (P, D, Q) <-> (P, M, Q) views
# =============================================================================================
@njit(**_OPTS)
def gather(x, idx, out, d, q, m, t0, t1):
    """out[p, i, :] = x[p, idx[i], :] for flat rows t = p*m + i in [t0, t1)."""
    p = t0 // m
    i = t0 % m
    for t in range(t0, t1):
        src = (p * d + idx[i]) * q
        dst = t * q
        for j in range(q):
            out[uint64(dst + j)] = x[uint64(src + j)]
        i += 1
        if i == m:
            i = 0
            p += 1


@njit(**_PAR)
def gather_par(x, idx, out, d, q, m, rows_per_task):
    total = out.size // q
    for k in prange(n_blocks(total, rows_per_task)):
        s = k * rows_per_task
        gather(x, idx, out, d, q, m, s, min(s + rows_per_task, total))


@njit(**_OPTS)
def scatter_add(u, idx, out, d, q, m, p0, p1, q0, q1):
    """out[p, idx[i], j] += u[p, i, j], in index order (as numpy's add.at)."""
    for p in range(p0, p1):
        for i in range(m):
            dst = (p * d + idx[i]) * q
            src = (p * m + i) * q
            o = out[dst + q0 : dst + q1]
            s = u[src + q0 : src + q1]
            for j in range(q1 - q0):
                o[j] += s[j]


@njit(**_PAR)
def scatter_add_par(u, idx, out, p_rows, d, q, m, q_chunk):
    nqc = n_blocks(q, q_chunk)
    for t in prange(p_rows * nqc):
        p = t // nqc
        c = t % nqc
        q0 = c * q_chunk
        scatter_add(u, idx, out, d, q, m, p, p + 1, q0, min(q0 + q_chunk, q))


# =============================================================================================
# Integer matmul (BLAS has no int32 GEMM): i-k-j order, vectorised inner loop, wraps like int32
# =============================================================================================
@njit(**_OPTS)
def matmul_int(a, b, out, m, k, n, ta, tb, t0, t1):
    """out[bi] = op(a[bi]) @ op(b[bi]) for flat output rows t = bi*m + i in [t0, t1)."""
    brow = np.empty(n, out.dtype)
    for t in range(t0, t1):
        bi = t // m
        i = t % m
        o = out[t * n : (t + 1) * n]
        for j in range(n):
            o[j] = 0
        for kk in range(k):
            av = a[bi * m * k + (kk * m + i if ta else i * k + kk)]
            if tb:
                for j in range(n):
                    brow[j] = b[bi * k * n + j * k + kk]
            else:
                row = b[bi * k * n + kk * n : bi * k * n + (kk + 1) * n]
                for j in range(n):
                    brow[j] = row[j]
            for j in range(n):
                o[j] += av * brow[j]


@njit(**_PAR)
def matmul_int_par(a, b, out, batch, m, k, n, ta, tb, rows_per_task):
    total = batch * m
    for c in prange(n_blocks(total, rows_per_task)):
        s = c * rows_per_task
        matmul_int(a, b, out, m, k, n, ta, tb, s, min(s + rows_per_task, total))


# =============================================================================================
# Fused composites: softmax / log_softmax over axis 1 of (P, R, Q)
# =============================================================================================
#: Rows shorter than this (a classifier's 10 classes) are done as flat loops over the whole
#: block of rows, with each row's max or sum spread over a scratch row: a loop over 10
#: elements does not vectorise, one over 2,560 does (softmax of 256 x 10: 17 us -> 7 us).
#: Every element gets the same operations as in the row loops, so the results are the same.
SHORT_ROW = 32


@njit(**_OPTS)
def _softmax_short_rows(x, out, r, zero, p0, p1):
    """softmax along contiguous rows of ``r`` (short) elements, rows p in [p0, p1)."""
    n = (p1 - p0) * r
    base = p0 * r
    xs = x[base : base + n]
    o = out[base : base + n]
    bits = xs.view(np.int32)
    spread = np.empty(n, x.dtype)  # each row's max, then each row's sum, per element
    for t in range(0, n, r):
        m = _i32_as_f32(_f32_extreme_bits(True, bits[t : t + r]))  # row_max, view made once
        for i in range(t, t + r):
            spread[i] = m
    for j in range(n):
        o[j] = fast_exp(xs[j] - spread[j])
    for t in range(0, n, r):
        s = _sum_fast(o[t : t + r], zero)
        for i in range(t, t + r):
            spread[i] = s
    for j in range(n):
        o[j] = o[j] / spread[j]


@njit(**_OPTS)
def softmax(x, out, r, q, log, zero, p0, p1):
    """softmax (or log_softmax) along axis 1 of (P, R, Q), rows p in [p0, p1)."""
    if q == 1 and not log and r < SHORT_ROW:
        _softmax_short_rows(x, out, r, zero, p0, p1)
        return
    if q == 1:
        for p in range(p0, p1):
            xs = x[p * r : (p + 1) * r]
            o = out[p * r : (p + 1) * r]
            m = row_max(xs)
            for i in range(r):
                o[i] = fast_exp(xs[i] - m)
            s = _sum_fast(o, zero)
            if log:
                ls = np.log(s)
                for i in range(r):
                    o[i] = (xs[i] - m) - ls
            else:
                for i in range(r):
                    o[i] = o[i] / s
        return
    m = np.empty(q, x.dtype)
    s = np.empty(q, x.dtype)
    for p in range(p0, p1):
        base = p * r * q
        for j in range(q):
            m[j] = x[base + j]
            s[j] = zero
        for i in range(1, r):
            row = x[base + i * q : base + (i + 1) * q]
            for j in range(q):
                v = row[j]
                m[j] = v if (v > m[j] or v != v) else m[j]
        for i in range(r):
            row = x[base + i * q : base + (i + 1) * q]
            o = out[base + i * q : base + (i + 1) * q]
            for j in range(q):
                e = fast_exp(row[j] - m[j])
                s[j] += e
                if not log:
                    o[j] = e
        for i in range(r):
            row = x[base + i * q : base + (i + 1) * q]
            o = out[base + i * q : base + (i + 1) * q]
            if log:
                for j in range(q):
                    o[j] = (row[j] - m[j]) - np.log(s[j])
            else:
                for j in range(q):
                    o[j] = o[j] / s[j]


@njit(**_PAR)
def softmax_par(x, out, p_rows, r, q, log, zero, rows_per_task):
    for k in prange(n_blocks(p_rows, rows_per_task)):
        s = k * rows_per_task
        softmax(x, out, r, q, log, zero, s, min(s + rows_per_task, p_rows))


# =============================================================================================
# Fused matmul epilogue: bias + activation in place on the fresh (M, N) product
# =============================================================================================
#: Activation codes of ``bias_act`` (engine.ops.linalg.FUSED_ACTIVATIONS order).
FUSED_ACTIVATIONS = ("linear", "relu", "relu6", "elu", "sigmoid", "tanh", "leakyrelu")


@njit(**_OPTS)
def bias_act(out, bias, bias_step, n, act, alpha, one, r0, r1):
    """``out[r, j] = act(out[r, j] + bias[j * bias_step])`` for rows r in [r0, r1), in place.

    ``bias`` is empty for no bias; ``bias_step`` is 1 for a row of N values, 0 for a scalar.
    Each activation has its own loop (the same formulas as the unary kernels)."""
    zero = one - one
    six = one * 6
    has_bias = bias.size > 0
    for r in range(r0, r1):
        o = out[r * n : (r + 1) * n]
        if has_bias:
            if bias_step == 0:
                b0 = bias[0]
                for j in range(n):
                    o[j] += b0
            else:
                for j in range(n):
                    o[j] += bias[j]
        if act == 1:
            for j in range(n):
                v = o[j]
                o[j] = v if (v > zero or v != v) else zero
        elif act == 2:
            for j in range(n):
                v = o[j]
                v = v if (v > zero or v != v) else zero
                o[j] = six if v > six else v
        elif act == 3:
            for j in range(n):
                v = o[j]
                if not v > zero:
                    o[j] = np.expm1(v)
        elif act == 4:
            for j in range(n):
                v = o[j]
                e = fast_exp(-abs(v))
                o[j] = (one if v >= zero else e) / (one + e)
        elif act == 5:
            for j in range(n):
                o[j] = fast_tanh(o[j])
        elif act == 6:
            for j in range(n):
                v = o[j]
                o[j] = v if v > zero else v * alpha


@njit(**_PAR)
def bias_act_par(out, bias, bias_step, m, n, act, alpha, one, rows_per_task):
    for k in prange(n_blocks(m, rows_per_task)):
        s = k * rows_per_task
        bias_act(out, bias, bias_step, n, act, alpha, one, s, min(s + rows_per_task, m))


# =============================================================================================
# Fused categorical crossentropy (TF.js formula) over contiguous rows, and its gradient
# =============================================================================================
@njit(**_OPTS)
def _cce_probs(xs, q, logits, zero):
    """Fill ``q`` with the row's unnormalised probabilities; return their sum."""
    r = xs.size
    if logits:
        m = row_max(xs)
        for i in range(r):
            q[i] = fast_exp(xs[i] - m)
    else:
        for i in range(r):
            q[i] = xs[i]
    return _sum_fast(q, zero)


@njit(**_RED)
def _cce_short_rows(t, x, out, r, eps, one_m_eps, zero, p0, p1):
    """``cce`` of probabilities (not logits) in short rows (``SHORT_ROW``), as flat loops."""
    n = (p1 - p0) * r
    base = p0 * r
    xs = x[base : base + n]
    ts = t[base : base + n]
    spread = np.empty(n, x.dtype)  # each row's sum per element, then each term
    for k in range(0, n, r):
        s = _sum_fast(xs[k : k + r], zero)
        for i in range(k, k + r):
            spread[i] = s
    for j in range(n):
        v = xs[j] / spread[j]
        c = eps if v < eps else (one_m_eps if v > one_m_eps else v)
        spread[j] = ts[j] * fast_log(c)
    for k in range(0, n, r):
        acc = zero
        for i in range(k, k + r):
            acc += spread[i]
        out[p0 + k // r] = -acc


@njit(**_RED)
def _cce_grad_short_rows(dy, t, x, out, r, eps, one_m_eps, zero, p0, p1):
    """``cce_grad`` of probabilities (not logits) in short rows (``SHORT_ROW``), as flat
    loops; each row's sum, dot product and ``dy`` are spread over scratch rows."""
    n = (p1 - p0) * r
    base = p0 * r
    xs = x[base : base + n]
    ts = t[base : base + n]
    o = out[base : base + n]
    sums = np.empty(n, x.dtype)
    g = np.empty(n, x.dtype)
    gq = np.empty(n, x.dtype)  # g * q, then each row's dot product
    d = np.empty(n, x.dtype)
    for k in range(0, n, r):
        s = _sum_fast(xs[k : k + r], zero)
        for i in range(k, k + r):
            sums[i] = s
    for j in range(n):
        v = xs[j] / sums[j]
        gi = -ts[j] / v if (v >= eps and v <= one_m_eps) else zero
        g[j] = gi
        gq[j] = gi * v
    for k in range(0, n, r):
        dot = zero
        for i in range(k, k + r):
            dot += gq[i]
        dk = dy[p0 + k // r]
        for i in range(k, k + r):
            gq[i] = dot
            d[i] = dk
    for j in range(n):
        o[j] = ((g[j] - gq[j]) / sums[j]) * d[j]


@njit(**_RED)
def cce(t, x, out, r, logits, eps, one_m_eps, zero, p0, p1):
    """out[p] = -sum_i t[p, i] * log(clip(q[p, i], eps, 1 - eps)) for rows p in [p0, p1),
    q = x / sum(x) or softmax(x) (``logits``)."""
    if not logits and r < SHORT_ROW:
        _cce_short_rows(t, x, out, r, eps, one_m_eps, zero, p0, p1)
        return
    q = np.empty(r, x.dtype)
    for p in range(p0, p1):
        xs = x[p * r : (p + 1) * r]
        ts = t[p * r : (p + 1) * r]
        s = _cce_probs(xs, q, logits, zero)
        acc = zero
        for i in range(r):
            v = q[i] / s
            c = eps if v < eps else (one_m_eps if v > one_m_eps else v)
            acc += ts[i] * fast_log(c)
        out[p] = -acc


@njit(**_RED_PAR)
def cce_par(t, x, out, p_rows, r, logits, eps, one_m_eps, zero, rows_per_task):
    for k in prange(n_blocks(p_rows, rows_per_task)):
        s = k * rows_per_task
        cce(t, x, out, r, logits, eps, one_m_eps, zero, s, min(s + rows_per_task, p_rows))


@njit(**_RED)
def cce_grad(dy, t, x, out, r, logits, eps, one_m_eps, zero, p0, p1):
    """d cce / d x times dy[p]: with g = -t/q where eps <= q <= 1 - eps (else 0),
    (g - sum(g q)) / s for probabilities, q (g - sum(g q)) from logits."""
    if not logits and r < SHORT_ROW:
        _cce_grad_short_rows(dy, t, x, out, r, eps, one_m_eps, zero, p0, p1)
        return
    q = np.empty(r, x.dtype)
    g = np.empty(r, x.dtype)
    for p in range(p0, p1):
        xs = x[p * r : (p + 1) * r]
        ts = t[p * r : (p + 1) * r]
        o = out[p * r : (p + 1) * r]
        s = _cce_probs(xs, q, logits, zero)
        dot = zero
        for i in range(r):
            v = q[i] / s
            q[i] = v
            gi = -ts[i] / v if (v >= eps and v <= one_m_eps) else zero
            g[i] = gi
            dot += gi * v
        d = dy[p]
        if logits:
            for i in range(r):
                o[i] = (q[i] * (g[i] - dot)) * d
        else:
            for i in range(r):
                o[i] = ((g[i] - dot) / s) * d


@njit(**_RED_PAR)
def cce_grad_par(dy, t, x, out, p_rows, r, logits, eps, one_m_eps, zero, rows_per_task):
    for k in prange(n_blocks(p_rows, rows_per_task)):
        s = k * rows_per_task
        cce_grad(dy, t, x, out, r, logits, eps, one_m_eps, zero, s, min(s + rows_per_task, p_rows))


# =============================================================================================
# Optimizer one-pass updates: read w, g and the slots once, write the new value and slots once.
# Rendered from engine/train/rules.py (one rule per optimizer) into opt_kernels.py by
# ``python -m backends.cpu.optgen``; ``h`` holds the step's scalars (engine.train.rules.scalars).
# =============================================================================================
from backends.cpu.opt_kernels import (  # noqa: E402, F401 (re-exported: K.opt_update, ...)
    OPT_CODES,
    OPT_UPDATES,
    opt_update,
    opt_update_ip,
    opt_update_ip_par,
    opt_update_par,
)
