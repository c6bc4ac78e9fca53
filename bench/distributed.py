"""The data-parallel row of ``python -m bench`` (issue 22): the W1 epoch (``train_b32``: the
seed model, adam, global batch 32) trained with ``layers.distributed.DataParallel`` under
``mpiexec -n 1`` and ``mpiexec -n 2``, each rank pinned to one thread, and the ring
allreduce cost model checked against the 2-rank measurement.

Run by ``python -m bench`` (not ``--quick``) when mpi4py and ``mpiexec`` are installed (its
``--json`` output holds the row as ``data_parallel``: ``measure()``'s dict); by hand: ``python -m bench.distributed [--backend cpu] [--samples 10000] [--data DIR]``. Each
rank runs ``python -m bench.distributed --worker``, which prints one ``RESULT {json}`` line on
rank 0.

Cost model (README "Data-parallel training"): a ring allreduce of ``B`` bytes over ``N``
ranks sends ``2 (N-1)/N * B`` bytes per rank in ``2 (N-1)`` steps, so it takes
``t = 2 (N-1)/N * B / bw + 2 (N-1) * lat``. ``lat`` and ``bw`` are measured here with an
8-byte and a 16 MiB allreduce; the model's prediction for the gradient buffer is printed
beside the allreduce time measured inside the training steps.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

import numpy as np

GLOBAL_BATCH = 32


def _allreduce_seconds(nbytes: int, repeats: int) -> float:
    from engine import distributed as dist

    buf = np.zeros(max(1, nbytes // 4), dtype=np.float32)
    dist.allreduce(buf)  # warm-up
    dist.barrier()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeats):
            dist.allreduce(buf)
        best = min(best, (time.perf_counter() - t) / repeats)
    return best


def worker(backend: str, samples: int | None, data: str | None) -> None:
    """One rank: time a warm epoch of DataParallel training; rank 0 prints ``RESULT``."""
    import engine as tw
    import layers
    from bench.data import load_mnist
    from engine import distributed as dist
    from layers.distributed import DataParallel

    tw.set_backend(backend)
    tw.set_seed(0)
    x, y, source = load_mnist(samples, data)
    model = layers.sequential(
        [
            layers.dense(units=128, activation="relu", input_shape=[784]),
            layers.dense(units=10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categoricalCrossentropy")
    dp = DataParallel(model)
    per_rank = GLOBAL_BATCH // dp.size
    dp.fit(x[: 8 * GLOBAL_BATCH], y[: 8 * GLOBAL_BATCH], batch_size=per_rank, verbose=0, seed=1)
    dist.barrier()
    t = time.perf_counter()
    dp.fit(x, y, batch_size=per_rank, verbose=0, seed=2)
    dist.barrier()
    epoch = time.perf_counter() - t
    stats = dict(dp.stats)
    lat = _allreduce_seconds(8, 200) if dp.size > 1 else 0.0
    big = 16 * 1024 * 1024
    bw_time = _allreduce_seconds(big, 5) if dp.size > 1 else 0.0
    if dist.rank() == 0:
        out = {
            "ranks": dp.size,
            "backend": tw.get_backend(),
            "samples": int(x.shape[0]),
            "source": source,
            "epoch_s": epoch,
            "steps": stats["steps"],
            "bytes_per_step": stats["allreduce_bytes"] / max(1, stats["steps"]),
            "buckets_per_step": stats["allreduce_calls"] / max(1, stats["steps"]),
            "allreduce_s_per_step": stats["allreduce_us"] * 1e-6 / max(1, stats["steps"]),
            "lat_8B_s": lat,
            "allreduce_16MiB_s": bw_time,
        }
        print("RESULT " + json.dumps(out), flush=True)


def _launch(n: int, backend: str, samples: int | None, data: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("TENSORWEAVE_BACKEND", None)
    cmd = [shutil.which("mpiexec") or "mpiexec", "-n", str(n), sys.executable, "-m"]
    cmd += ["bench.distributed", "--worker", "--backend", backend]
    if samples:
        cmd += ["--samples", str(samples)]
    if data:
        cmd += ["--data", data]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(
        f"mpiexec -n {n} failed (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-800:]}"
    )


def unavailable() -> str | None:
    """Why the data-parallel row cannot run here (None when it can)."""
    from engine import distributed as dist

    if not dist.available():
        return "mpi4py is not installed (pip install -e '.[distributed]')"
    if shutil.which("mpiexec") is None:
        return "no mpiexec on PATH (pip install mpich)"
    return None


def measure(
    backend: str = "cpu", samples: int | None = None, data: str | None = None
) -> dict[str, Any]:
    """Run W1 under ``mpiexec -n 1`` and ``-n 2`` and fit the ring model: the data-parallel
    row of ``python -m bench --json`` (``data_parallel``).

    Returns:
        ``{"skipped": reason}`` when mpi4py or mpiexec is missing; else both runs' results
        (``ranks_1``, ``ranks_2``: epoch seconds, steps, bytes and buckets per step, measured
        allreduce seconds per step), throughputs and their ratio, and the ring model's
        fitted ``bw_Bps``/``lat_s`` and predicted ``model_allreduce_s_per_step``.
    """
    from engine.distributed import ring_allreduce_seconds

    why = unavailable()
    if why:
        return {"skipped": why}
    one = _launch(1, backend, samples, data)
    two = _launch(2, backend, samples, data)
    n = one["samples"]
    lat = two["lat_8B_s"] / 2  # 2 (N-1) = 2 message steps for N = 2
    bw = (2 * (2 - 1) / 2) * 16 * 1024 * 1024 / max(two["allreduce_16MiB_s"] - 2 * lat, 1e-12)
    b = two["bytes_per_step"]
    model = ring_allreduce_seconds(b, 2, bw, lat, buckets=round(two["buckets_per_step"]))
    thr1, thr2 = n / one["epoch_s"], n / two["epoch_s"]
    return {
        "workload": "train_b32",
        "backend": one["backend"],
        "samples": n,
        "source": one["source"],
        "global_batch": GLOBAL_BATCH,
        "ranks_1": one,
        "ranks_2": two,
        "throughput_1": thr1,
        "throughput_2": thr2,
        "throughput_ratio": thr2 / thr1,
        "step_s_2": two["epoch_s"] / max(1, two["steps"]),
        "bw_Bps": bw,
        "lat_s": lat,
        "model_allreduce_s_per_step": model,
    }


def lines(row: dict[str, Any]) -> list[str]:
    """The bench's printed data-parallel lines for a ``measure()`` result.

    Args:
        row: What ``measure`` returned.

    Returns:
        The lines (one saying why when the row was skipped).
    """
    if "skipped" in row:
        return [f"data-parallel: skipped: {row['skipped']}"]
    one, two = row["ranks_1"], row["ranks_2"]
    b, step2 = two["bytes_per_step"], row["step_s_2"]
    return [
        f"data-parallel ({row['backend']} backend, W1 = train_b32: {row['samples']:,} samples, "
        f"global batch {GLOBAL_BATCH}, one thread per rank, {row['source']}, traced step):",
        f"  ranks 1: epoch {one['epoch_s']:.2f} s, {row['throughput_1']:,.0f} samples/s",
        f"  ranks 2: epoch {two['epoch_s']:.2f} s, {row['throughput_2']:,.0f} samples/s, "
        f"throughput ratio {row['throughput_ratio']:.2f}x",
        f"  allreduce per step: {b / 1e6:.3f} MB in {two['buckets_per_step']:.0f} bucket(s); "
        f"measured {two['allreduce_s_per_step'] * 1e6:.0f} us/step "
        f"({100 * two['allreduce_s_per_step'] / step2:.0f}% of a {step2 * 1e3:.2f} ms step, "
        "packing and host copies included)",
        f"  ring model 2(N-1)/N*B/bw + 2(N-1)*lat with bw {row['bw_Bps'] / 1e9:.2f} GB/s, lat "
        f"{row['lat_s'] * 1e6:.1f} us (from 16 MiB and 8 B allreduces): "
        f"{row['model_allreduce_s_per_step'] * 1e6:.0f} us/step",
    ]


def section(backend: str = "cpu", samples: int | None = None, data: str | None = None) -> list[str]:
    """The bench's data-parallel lines: epoch time and throughput at 1 and 2 ranks, their
    ratio, and the allreduce cost model against the measured allreduce.

    Args:
        backend: The backend every rank trains on.
        samples: Training samples (default: the bench's W1 set).
        data: The folder holding ``mnist/`` (default: the bench's lookup).

    Returns:
        The printed lines (``lines(measure(...))``).
    """
    return lines(measure(backend, samples, data))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help="run as one rank (under mpiexec)")
    p.add_argument("--backend", default="cpu")
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--data", default=None)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.backend, args.samples, args.data)
        return 0
    print("\n".join(section(args.backend, args.samples, args.data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
