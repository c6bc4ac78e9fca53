"""Kernel templates rendered for a dialect. Each ``render_*`` returns one program's source.

Index arithmetic is 32-bit ``int`` (tensors stay below 2**31 elements). Strided templates take
sizes and strides as scalar arguments, one kernel per rank up to ``MAX_RANK`` in the same
program, so one build serves every shape; callers collapse shapes first (``layout.collapse``).
"""

from __future__ import annotations

from backends.base import out_dtype_binary, out_dtype_unary
from backends.crender import ops
from backends.crender.dialect import Dialect

MAX_RANK = 6
#: GEMM tilings (tile x tile outputs per work-group, wpt x wpt per thread), best first; the
#: first whose two local tiles fit the device's local memory is used. 64/8 runs 5x faster
#: than 32/4 on PoCL (register blocking matters more than occupancy there).
GEMM_CONFIGS = ((64, 8), (32, 4), (16, 2))


def _program(d: Dialect, dtypes: tuple[str, ...], body: str) -> str:
    ctypes = {dt: d.ctype(dt) for dt in dtypes if dt in ("float32", "float64")}
    return d.preamble(dtypes) + ops.prelude(d.fn_prefix, ctypes) + body


def _dims(prefix: str, rank: int) -> str:
    return ", ".join(f"int {prefix}{k}" for k in range(rank))


def _offsets(index: str, names: list[str], rank: int) -> str:
    """Statements turning a flat output ``index`` into one offset per strided operand."""
    lines = [f"int rem = {index};"] + [f"int off_{n} = 0;" for n in names]
    for k in reversed(range(rank)):
        last = k == 0
        lines.append(
            f"{{ int c = {'rem' if last else f'rem % d{k}'};" + ("" if last else f" rem /= d{k};")
        )
        lines += [f"  off_{n} += c * s{n}{k};" for n in names]
        lines.append("}")
    return "\n  ".join(lines)


def _strided_args(names: list[str], rank: int) -> str:
    return ", ".join([_dims("d", rank)] + [_dims(f"s{n}", rank) for n in names])


def render_elementwise(
    d: Dialect, name: str, in_dtypes: list[str], out_dtype: str, expression: str
) -> str:
    """``{name}_c`` (same shape, contiguous) and ``{name}_s1`` .. ``{name}_s{MAX_RANK}``
    (broadcasting through strides, one kernel per rank of the collapsed iteration space).

    Inputs are named ``in0``, ``in1``, ...; ``expression`` reads their values as ``v0``, ``v1``.
    """
    g = d.global_qual
    names = [f"in{k}" for k in range(len(in_dtypes))]
    params = ", ".join(
        [f"{g} {d.ctype(out_dtype)}* out"]
        + [f"{g} const {d.ctype(t)}* {n}" for t, n in zip(in_dtypes, names, strict=True)]
    )
    load_c = " ".join(
        f"{d.ctype(t)} v{k} = {n}[i];"
        for k, (t, n) in enumerate(zip(in_dtypes, names, strict=True))
    )
    load_s = " ".join(
        f"{d.ctype(t)} v{k} = {n}[off_{n}];"
        for k, (t, n) in enumerate(zip(in_dtypes, names, strict=True))
    )
    store = f"out[i] = ({d.ctype(out_dtype)})({expression});"
    body = f"""
{d.kernel_prefix} void {name}_c({params}, int n) {{
  int i = {d.global_id()};
  if (i >= n) return;
  {load_c}
  {store}
}}
"""
    for r in range(1, MAX_RANK + 1):
        body += f"""
{d.kernel_prefix} void {name}_s{r}({params}, int n, {_strided_args(names, r)}) {{
  int i = {d.global_id()};
  if (i >= n) return;
  {_offsets("i", names, r)}
  {load_s}
  {store}
}}
"""
    return _program(d, (*in_dtypes, out_dtype), body)


def render_unary(d: Dialect, op: str, dtype: str) -> str:
    out = out_dtype_unary(op, dtype)
    e = ops.expr(ops.UNARY, op, dtype, d.ctype(dtype), x="v0")
    return render_elementwise(d, f"unary_{op}", [dtype], out, e)


def render_binary(d: Dialect, op: str, dtype: str) -> str:
    out = out_dtype_binary(op, dtype)
    e = ops.expr(ops.BINARY, op, dtype, d.ctype(dtype), a="v0", b="v1")
    return render_elementwise(d, f"binary_{op}", [dtype, dtype], out, e)


def render_where(d: Dialect, dtype: str) -> str:
    return render_elementwise(d, "where", ["bool", dtype, dtype], dtype, "v0 ? v1 : v2")


def cast_expr(d: Dialect, src: str, dst: str) -> str:
    """C expression converting ``v0`` of ``src`` to ``dst`` (README "Numerics": float to int
    truncates toward zero, NaN gives 0, out-of-range values saturate to INT_MIN / INT_MAX)."""
    if dst == "bool":
        return "v0 != 0"
    if dst == "int32" and src in ("float32", "float64"):
        return (
            "((v0 != v0) ? 0 : (v0 >= 2147483648.0) ? 2147483647 : "
            "(v0 < -2147483648.0) ? (-2147483647 - 1) : (int)v0)"
        )
    return f"({d.ctype(dst)})v0"


def render_cast(d: Dialect, src: str, dst: str) -> str:
    return render_elementwise(d, "cast", [src], dst, cast_expr(d, src, dst))


REDUCE_INIT = {
    "sum": {"f": "0", "i": "0", "b": "0"},
    "prod": {"f": "1", "i": "1", "b": "1"},
    "max": {"f": "-{INF}", "i": "(-2147483647 - 1)", "b": "0"},
    "min": {"f": "{INF}", "i": "2147483647", "b": "1"},
    "any": {"b": "0"},
    "all": {"b": "1"},
}
REDUCE_COMBINE = {
    "sum": {"f": "({a} + {b})", "i": "(int)((unsigned int){a} + (unsigned int){b})"},
    "prod": {"f": "({a} * {b})", "i": "(int)((unsigned int){a} * (unsigned int){b})"},
    "max": {"f": "tw_max{S}({a}, {b})", "i": "({a} > {b} ? {a} : {b})", "b": "({a} | {b})"},
    "min": {"f": "tw_min{S}({a}, {b})", "i": "({a} < {b} ? {a} : {b})", "b": "({a} & {b})"},
    "any": {"b": "({a} | {b})"},
    "all": {"b": "({a} & {b})"},
}


def render_reduce(d: Dialect, op: str, dtype: str, wg: int) -> str:
    """Reduce the middle axis of an (O, R, I) view. ``{op}_tree``: one work-group per output
    and chunk of R (a local-memory tree over ``wg`` threads) writing partials (O, P, I);
    ``{op}_serial``: one thread per output."""
    kind = ops.KINDS[dtype]
    if kind not in REDUCE_COMBINE[op]:
        raise TypeError(f"reduce {op!r} is not defined for dtype {dtype!r}")
    t, g = d.ctype(dtype), d.global_qual
    init = REDUCE_INIT[op][kind].format(INF=d.inf(dtype) if kind == "f" else "")
    s = ops.SUFFIX[dtype]

    def comb(a: str, b: str) -> str:
        return REDUCE_COMBINE[op][kind].format(a=a, b=b, S=s)

    body = f"""
{d.kernel_prefix} void reduce_{op}_tree({g} {t}* out, {g} const {t}* x, int R, int I, int chunk,
                                       int P) {{
  {d.local_qual} {t} buf[{wg}];
  int o = {d.group_id(0)}, p = {d.group_id(1)};
  int l = {d.local_id()};
  {g} const {t}* base = x + (o / I) * R * I + (o % I);
  int r1 = (p + 1) * chunk < R ? (p + 1) * chunk : R;
  {t} acc = ({t})({init});
  for (int r = p * chunk + l; r < r1; r += {wg}) acc = {comb("acc", "base[r * I]")};
  buf[l] = acc;
  {d.barrier}
  for (int s = {wg // 2}; s > 0; s >>= 1) {{
    if (l < s) buf[l] = {comb("buf[l]", "buf[l + s]")};
    {d.barrier}
  }}
  if (l == 0) out[((o / I) * P + p) * I + (o % I)] = buf[0];
}}
{d.kernel_prefix} void reduce_{op}_serial({g} {t}* out, {g} const {t}* x, int R, int I, int n) {{
  int o = {d.global_id()};
  if (o >= n) return;
  {g} const {t}* base = x + (o / I) * R * I + (o % I);
  {t} acc = ({t})({init});
  for (int r = 0; r < R; ++r) acc = {comb("acc", "base[r * I]")};
  out[o] = acc;
}}
"""
    return _program(d, (dtype,), body)


def render_arg_reduce(d: Dialect, op: str, dtype: str, wg: int) -> str:
    """argmax/argmin over the middle axis of (O, R, I): first index on ties, NaN wins (numpy).
    ``{op}``: a work-group per output with a local-memory tree; ``{op}_serial``: a thread each."""
    t, g = d.ctype(dtype), d.global_qual
    cmp = ">" if op == "argmax" else "<"
    if ops.KINDS[dtype] == "f":
        better = (
            f"(bi >= 0 && (ai < 0 || (av != av ? (bv != bv && bi < ai) : "
            f"(bv != bv || bv {cmp} av || (bv == av && bi < ai)))))"
        )
    else:
        better = f"(bi >= 0 && (ai < 0 || bv {cmp} av || (bv == av && bi < ai)))"
    fn = f"tw_better_{op}"
    body = f"""
{d.fn_prefix} int {fn}({t} av, int ai, {t} bv, int bi) {{ return {better}; }}
{d.kernel_prefix} void {op}({g} int* out, {g} const {t}* x, int R, int I) {{
  {d.local_qual} {t} bv_[{wg}];
  {d.local_qual} int bi_[{wg}];
  int o = {d.group_id()};
  int l = {d.local_id()};
  {g} const {t}* base = x + (o / I) * R * I + (o % I);
  {t} v = ({t})0;
  int vi = -1;
  for (int r = l; r < R; r += {wg}) {{
    {t} c = base[r * I];
    if ({fn}(v, vi, c, r)) {{ v = c; vi = r; }}
  }}
  bv_[l] = v; bi_[l] = vi;
  {d.barrier}
  for (int s = {wg // 2}; s > 0; s >>= 1) {{
    if (l < s && {fn}(bv_[l], bi_[l], bv_[l + s], bi_[l + s])) {{
      bv_[l] = bv_[l + s]; bi_[l] = bi_[l + s];
    }}
    {d.barrier}
  }}
  if (l == 0) out[o] = bi_[0];
}}
{d.kernel_prefix} void {op}_serial({g} int* out, {g} const {t}* x, int R, int I, int n) {{
  int o = {d.global_id()};
  if (o >= n) return;
  {g} const {t}* base = x + (o / I) * R * I + (o % I);
  {t} v = ({t})0;
  int vi = -1;
  for (int r = 0; r < R; ++r) {{
    {t} c = base[r * I];
    if ({fn}(v, vi, c, r)) {{ v = c; vi = r; }}
  }}
  out[o] = vi;
}}
"""
    return _program(d, (dtype,), body)


def render_cumsum(d: Dialect, dtype: str) -> str:
    """Scan the middle axis of (O, R, I), one thread per (o, i); exclusive writes the sum
    before adding x (a shift, not inclusive - x, which is NaN after an Inf), the reverse scan
    walks r downwards (both as the numpy reference)."""
    t, g = d.ctype(dtype), d.global_qual
    add = ops.BINARY["add"][ops.KINDS[dtype]].format(a="acc", b="v")
    body = f"""
{d.kernel_prefix} void cumsum({g} {t}* out, {g} const {t}* x, int R, int I, int n,
                                 int exclusive, int reverse) {{
  int o = {d.global_id()};
  if (o >= n) return;
  int base = (o / I) * R * I + (o % I);
  {t} acc = ({t})0;
  for (int k = 0; k < R; ++k) {{
    int j = base + (reverse ? R - 1 - k : k) * I;
    {t} v = x[j];
    {t} before = acc;
    acc = {add};
    out[j] = exclusive ? before : acc;
  }}
}}
"""
    return _program(d, (dtype,), body)


def render_matmul(d: Dialect, dtype: str, tile: int = 32, wpt: int = 4) -> str:
    """Batched tiled GEMM ``gemm`` with local-memory tiles of ``tile`` x ``tile``; each thread
    computes ``wpt`` x ``wpt`` outputs. Transposes come in through the element strides."""
    t, g, lq = d.ctype(dtype), d.global_qual, d.local_qual
    rt = tile // wpt
    mad = "acc[p][q] += av[p] * bv[q];"
    if dtype == "int32":
        mad = "acc[p][q] = (int)((unsigned int)acc[p][q] + (unsigned int)av[p] * (unsigned int)bv[q]);"
    body = f"""
{d.kernel_prefix} void gemm({g} {t}* C, {g} const {t}* A, {g} const {t}* B, int M, int N, int K,
                             int sab, int sam, int sak, int sbb, int sbk, int sbn) {{
  {lq} {t} As[{tile}][{tile} + 1];
  {lq} {t} Bs[{tile}][{tile} + 1];
  int tx = {d.local_id(0)}, ty = {d.local_id(1)};
  int bn = {d.group_id(0)} * {tile}, bm = {d.group_id(1)} * {tile}, b = {d.group_id(2)};
  {g} const {t}* Ab = A + b * sab;
  {g} const {t}* Bb = B + b * sbb;
  {t} acc[{wpt}][{wpt}];
  for (int p = 0; p < {wpt}; ++p) for (int q = 0; q < {wpt}; ++q) acc[p][q] = ({t})0;
  for (int k0 = 0; k0 < K; k0 += {tile}) {{
    for (int p = 0; p < {wpt}; ++p) for (int q = 0; q < {wpt}; ++q) {{
      int r = ty + p * {rt}, c = tx + q * {rt};
      int gm = bm + r, gk = k0 + c;
      As[c][r] = (gm < M && gk < K) ? Ab[gm * sam + gk * sak] : ({t})0;
      int gk2 = k0 + r, gn = bn + c;
      Bs[r][c] = (gk2 < K && gn < N) ? Bb[gk2 * sbk + gn * sbn] : ({t})0;
    }}
    {d.barrier}
    for (int k = 0; k < {tile}; ++k) {{
      {t} av[{wpt}], bv[{wpt}];
      for (int p = 0; p < {wpt}; ++p) av[p] = As[k][ty + p * {rt}];
      for (int q = 0; q < {wpt}; ++q) bv[q] = Bs[k][tx + q * {rt}];
      for (int p = 0; p < {wpt}; ++p) for (int q = 0; q < {wpt}; ++q) {mad}
    }}
    {d.barrier}
  }}
  for (int p = 0; p < {wpt}; ++p) for (int q = 0; q < {wpt}; ++q) {{
    int m = bm + ty + p * {rt}, n = bn + tx + q * {rt};
    if (m < M && n < N) C[(b * M + m) * N + n] = acc[p][q];
  }}
}}
"""
    return _program(d, (dtype,), body)


def render_naive_matmul(d: Dialect, dtype: str) -> str:
    """One thread per output, no local memory: the baseline the tiled GEMM is measured against."""
    t, g = d.ctype(dtype), d.global_qual
    body = f"""
{d.kernel_prefix} void gemm_naive({g} {t}* C, {g} const {t}* A, {g} const {t}* B,
                                   int M, int N, int K) {{
  int n = {d.global_id(0)}, m = {d.global_id(1)};
  if (m >= M || n >= N) return;
  {t} acc = ({t})0;
  for (int k = 0; k < K; ++k) acc += A[m * K + k] * B[k * N + n];
  C[m * N + n] = acc;
}}
"""
    return _program(d, (dtype,), body)


def render_copy(d: Dialect, itemsize: int) -> str:
    """``copy1`` .. ``copy{MAX_RANK}``: dst[dbase + sum c*sd] = src[sbase + sum c*ss] over a
    strided iteration space (serves transpose, slice with any steps, concat and pad)."""
    u, g = d.move_type(itemsize), d.global_qual
    body = ""
    for r in range(1, MAX_RANK + 1):
        body += f"""
{d.kernel_prefix} void copy{r}({g} {u}* dst, {g} const {u}* src, int n, int dbase, int sbase,
                               {_strided_args(["dst", "src"], r)}) {{
  int i = {d.global_id()};
  if (i >= n) return;
  {_offsets("i", ["dst", "src"], r)}
  dst[dbase + off_dst] = src[sbase + off_src];
}}
"""
    return _program(d, (), body)


def render_fill(d: Dialect, dtype: str) -> str:
    t, g = d.ctype(dtype), d.global_qual
    body = f"""
{d.kernel_prefix} void fill({g} {t}* out, {t} value, int n) {{
  int i = {d.global_id()};
  if (i < n) out[i] = value;
}}
"""
    return _program(d, (dtype,), body)


def render_gather(d: Dialect, itemsize: int) -> str:
    """out (O, N, I) = x (O, D, I) at idx (N) along the middle axis."""
    u, g = d.move_type(itemsize), d.global_qual
    body = f"""
{d.kernel_prefix} void gather({g} {u}* out, {g} const {u}* x, {g} const int* idx,
                               int N, int D, int I, int n) {{
  int i = {d.global_id()};
  if (i >= n) return;
  int o = i / (N * I), r = i % (N * I);
  out[i] = x[(o * D + idx[r / I]) * I + r % I];
}}
"""
    return _program(d, (), body)


def render_scatter_add(d: Dialect, dtype: str) -> str:
    """out (O, D, I) += updates (O, N, I) at idx (N), with atomics (out starts zeroed)."""
    t, g = d.ctype(dtype), d.global_qual
    target = "out + (o * D + idx[r / I]) * I + r % I"
    if dtype == "bool":
        update = f"if (u[i]) *({target}) = 1;"
    else:
        update = d.atomic_add(dtype, f"{target}", "u[i]")
    body = f"""
{d.kernel_prefix} void scatter_add({g} {t}* out, {g} const {t}* u, {g} const int* idx,
                                    int N, int D, int I, int n) {{
  int i = {d.global_id()};
  if (i >= n) return;
  int o = i / (N * I), r = i % (N * I);
  {update}
}}
"""
    return _program(d, (dtype,), body)


def render_ravel_indices(d: Dialect, k: int) -> str:
    """``ravel_indices``: out (N) = the row-major linear index of idx (N, K) in dims
    ``d0 .. d{K-1}``, each coordinate checked against its own dimension. A bad row writes 0
    and lowers ``err[0]`` (preset to INT_MAX by the caller) to its flat position in ``idx``,
    so the host learns of the first bad coordinate with one 4-byte read and no kernel ever
    reads or writes outside its buffers."""
    g = d.global_qual
    dims = "".join(f", int d{j}" for j in range(k))
    lines = [f"c = idx[i * {k} + {j}];" for j in range(k)]
    steps = "\n  ".join(
        f"{ln} if (c < 0 || c >= d{j}) {{ if (bad < 0) bad = {j}; }} else lin = lin * d{j} + c;"
        for j, ln in enumerate(lines)
    )
    body = f"""
{d.kernel_prefix} void ravel_indices({g} int* out, {g} const int* idx, {g} int* err, int n{dims}) {{
  int i = {d.global_id()};
  if (i >= n) return;
  int lin = 0, bad = -1, c;
  {steps}
  if (bad >= 0) {{
    {d.atomic_min_int("err", f"i * {k} + bad")}
    lin = 0;
  }}
  out[i] = lin;
}}
"""
    return _program(d, (), body)


def render_one_hot(d: Dialect, dtype: str) -> str:
    t, g = d.ctype(dtype), d.global_qual
    body = f"""
{d.kernel_prefix} void one_hot({g} {t}* out, {g} const int* idx, int depth, {t} on, {t} off,
                                int n) {{
  int i = {d.global_id()};
  if (i >= n) return;
  out[i] = idx[i / depth] == i % depth ? on : off;
}}
"""
    return _program(d, (dtype,), body)
