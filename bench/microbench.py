"""Quick cpu-vs-numpy backend micro-benchmark (not a test): ``python -m bench.microbench``.

Prints the best (minimum) time of each case on both backends and the speed-up (numpy time / cpu time,
so > 1 means cpu is faster). Kernels are warmed up (compiled) before timing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from backends.cpu import CpuBackend
from backends.numpy import NumpyBackend


def _median_time(fn: Callable[[], object], repeat: int, min_time: float = 0.2) -> float:
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < min_time and len(times) < 10000):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.min(times))  # the least disturbed run: robust on a shared machine


def _cases(n: int) -> list[tuple[str, Callable]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    xa = np.abs(x)
    m = int(np.sqrt(n))
    xm = x[: m * m].reshape(m, m).copy()
    row = y[:m].reshape(1, m).copy()
    s = (n,)

    def chain(be):
        t = be.binary("mul", x, s, y, s, s, "float32")
        t = be.binary("add", t, s, x, s, s, "float32")
        return be.binary("maximum", t, s, y, s, s, "float32")

    cases: list[tuple[str, Callable]] = [
        (f"add {n:,} f32", lambda be: be.binary("add", x, s, y, s, s, "float32")),
        (f"mul+add+maximum chain {n:,}", chain),
        (
            f"add broadcast row ({m}x{m})+(1x{m})",
            lambda be: be.binary("add", xm, xm.shape, row, row.shape, xm.shape, "float32"),
        ),
        (f"less {n:,} -> bool", lambda be: be.binary("less", x, s, y, s, s, "float32")),
        (f"relu {n:,}", lambda be: be.unary("relu", x, s, "float32")),
        (f"exp {n:,}", lambda be: be.unary("exp", x, s, "float32")),
        (f"tanh {n:,}", lambda be: be.unary("tanh", x, s, "float32")),
        (f"log |x| {n:,}", lambda be: be.unary("log", xa, s, "float32")),
        (f"sum all {n:,}", lambda be: be.reduce("sum", x, s, "float32", (0,))),
        (f"max all {n:,}", lambda be: be.reduce("max", x, s, "float32", (0,))),
        (f"sum rows ({m}x{m}) axis 1", lambda be: be.reduce("sum", xm, xm.shape, "float32", (1,))),
        (f"sum cols ({m}x{m}) axis 0", lambda be: be.reduce("sum", xm, xm.shape, "float32", (0,))),
        (f"argmax rows ({m}x{m})", lambda be: be.arg_reduce("argmax", xm, xm.shape, "float32", 1)),
        (
            f"softmax rows ({m}x{m})",
            lambda be: (
                be.softmax(xm, xm.shape, "float32", 1) if be.has("softmax") else _np_softmax(xm)
            ),
        ),
    ]
    for k in (256, 512, 1024):
        a = rng.standard_normal((1, k, k)).astype(np.float32)
        b = rng.standard_normal((1, k, k)).astype(np.float32)
        cases.append(
            (
                f"matmul {k}",
                lambda be, a=a, b=b: be.matmul(a, a.shape, b, b.shape, "float32", False, False),
            )
        )
    # im2col-sized gather / scatter_add (32x32x16 images, 3x3 kernel, batch 8)
    idx = (
        (
            np.arange(30)[:, None, None, None] * 32
            + np.arange(3)[None, None, :, None] * 32
            + np.arange(30)[None, :, None, None]
            + np.arange(3)[None, None, None, :]
        )
        .reshape(-1)
        .astype(np.int32)
    )
    img = rng.standard_normal((8, 32 * 32, 16)).astype(np.float32)
    cols = rng.standard_normal((8, idx.size, 16)).astype(np.float32)
    cases.append(
        (
            "gather im2col 8x32x32x16 k3",
            lambda be: be.gather(img, img.shape, "float32", idx, idx.shape, 1),
        )
    )
    cases.append(
        (
            "scatter_add col2im 8x32x32x16 k3",
            lambda be: be.scatter_add(cols, cols.shape, "float32", idx, idx.shape, 1, 1024),
        )
    )
    return cases


def _np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _dispatch_overhead(repeat: int) -> list[tuple[str, float, float]]:
    """Per-op time through the engine on tiny tensors, in microseconds."""
    import engine as tw

    rows = []
    for name, fn in (
        ("engine add (2x3)", lambda a, b: tw.add(a, b)),
        ("engine exp (2x3)", lambda a, b: tw.exp(a)),
        ("engine sum (2x3)", lambda a, b: tw.sum(a)),
        ("engine matmul (2x3)@(3x2)", lambda a, b: tw.matmul(a, tw.transpose(b))),
    ):
        res = {}
        for be in ("numpy", "cpu"):
            with tw.backend_scope(be):
                a = tw.tensor(np.ones((2, 3), np.float32))
                b = tw.tensor(np.ones((2, 3), np.float32))
                res[be] = _median_time(lambda fn=fn, a=a, b=b: fn(a, b), repeat) * 1e6
        rows.append((name, res["numpy"], res["cpu"]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=1 << 22, help="elements of the large cases")
    ap.add_argument("-r", "--repeat", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per case")
    args = ap.parse_args()
    cpu, ref = CpuBackend(), NumpyBackend()
    print(f"{cpu.device_info()}")
    print(f"{'case':44s} {'numpy ms':>10s} {'cpu ms':>10s} {'speed-up':>9s}")
    for name, fn in _cases(args.n):
        # Alternate the two backends over a few rounds so both see the same machine load.
        t_ref = t_cpu = float("inf")
        for _ in range(args.rounds):
            t_ref = min(t_ref, _median_time(lambda fn=fn: fn(ref), args.repeat))
            t_cpu = min(t_cpu, _median_time(lambda fn=fn: fn(cpu), args.repeat))
        print(f"{name:44s} {t_ref * 1e3:10.3f} {t_cpu * 1e3:10.3f} {t_ref / t_cpu:8.2f}x")
    print(f"{'dispatch (tiny tensors)':44s} {'numpy us':>10s} {'cpu us':>10s}")
    for name, t_ref, t_cpu in _dispatch_overhead(args.repeat * 20):
        print(f"{name:44s} {t_ref:10.2f} {t_cpu:10.2f} {t_ref / t_cpu:8.2f}x")


if __name__ == "__main__":
    main()
