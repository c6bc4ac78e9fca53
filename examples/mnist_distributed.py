"""The seed model trained data-parallel over MPI ranks (issue 22).

Dense 128 relu on 784 inputs, Dense 10 softmax, adam, categorical crossentropy, accuracy, on
the same MNIST split as ``examples/mnist_mlp.py`` (the first 8,000 of the 10,000 test digits
train, the last 2,000 validate). Every rank loads the same arrays and trains on its shard of
each global batch (``--batch-size`` per rank, times the number of ranks; the default 16 per
rank on 2 ranks gives the seed example's global batch of 32). Only rank 0 prints; its last
line reads ``backend cpu: ranks 2, val_acc 0.9512; epoch times 1.10s, ...``.

    mpiexec -n 2 python examples/mnist_distributed.py [--epochs 5] [--batch-size 16]
                                                      [--backend cpu] [--data DIR]

Across machines, list them in a hostfile (``host:slots`` per line) and give it to mpiexec;
every machine needs the same checkout, environment and data path:

    mpiexec -f hosts -n 4 python examples/mnist_distributed.py --data /shared/data

Needs the ``distributed`` extra (``pip install -e '.[distributed]'``: mpi4py and MPICH).
On ``cuda`` each rank of a machine takes its own GPU (``engine.distributed.use_local_gpu``),
and with more than one GPU the gradients are reduced with NCCL (a path not yet run on a GPU).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from mnist_mlp import EpochTimer, build_model  # the seed example, beside this file

import engine as tw
from engine import distributed as dist
from layers.datasets import mnist_arrays
from layers.distributed import DataParallel


def run(
    epochs: int = 5,
    batch_size: int = 16,
    samples: int = 10000,
    verbose: int = 1,
    seed: int = 0,
    data: str | None = None,
) -> dict[str, Any]:
    """Train data-parallel on the first ``samples`` images (the last 20% validate); returns
    the history, the final validation accuracy, the ranks and the per-epoch times."""
    tw.set_seed(seed)
    x, y = mnist_arrays(data, n=samples)
    dp = DataParallel(build_model())
    timer = EpochTimer()
    history = dp.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=0.2,
        verbose=verbose,
        callbacks=[timer],
        seed=seed,
    )
    return {
        "backend": tw.get_backend(),
        "ranks": dp.size,
        "history": history.history,
        "val_acc": history.history["val_acc"][-1],
        "epoch_times": timer.times,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=16, help="samples per rank per step")
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--backend", default=None, help="backend name (default: the best available)")
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument(
        "--data", default=None, help="folder holding mnist/ (default: $TENSORWEAVE_DATA)"
    )
    args = p.parse_args(argv)
    if not dist.available():
        print(
            "mnist_distributed: needs mpi4py and MPI: pip install -e '.[distributed]'",
            file=sys.stderr,
        )
        return 2
    dist.use_local_gpu()  # with CuPy: GPU local_rank % count, before any cuda op (NCCL)
    if args.backend:
        tw.set_backend(args.backend)
    try:
        out = run(args.epochs, args.batch_size, args.samples, args.verbose, data=args.data)
    except FileNotFoundError as exc:
        print(f"mnist_distributed: rank {dist.rank()}: {exc}", file=sys.stderr)
        dist.abort(str(exc), code=2)  # every rank stops, not only this one
        return 2
    if dist.rank() == 0:
        times = ", ".join(f"{t:.2f}s" for t in out["epoch_times"])
        print(
            f"backend {out['backend']}: ranks {out['ranks']}, val_acc {out['val_acc']:.4f}; "
            f"epoch times {times}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
