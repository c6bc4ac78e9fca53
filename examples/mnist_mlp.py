"""The seed example: a dense MLP on the MNIST test digits (10,000 images).

Dense 128 relu on 784 inputs, Dense 10 softmax, adam, categorical crossentropy, accuracy;
trains on the first 8,000 images and validates on the last 2,000 (``validation_split=0.2``).
Needs tensorweave installed (``pip install -e .`` or ``pip install .``) and the data folder
holding ``mnist/``: ``--data DIR`` or ``$TENSORWEAVE_DATA`` (a source checkout also finds
``../shared/data``).

    python examples/mnist_mlp.py [--epochs 5] [--batch-size 32] [--backend numpy] [--samples 10000]
                                 [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import engine as tw
import layers
from layers.callbacks import Callback
from layers.datasets import mnist_arrays


class EpochTimer(Callback):
    """Records the wall time of each epoch (training and validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        tw.backend().synchronize()
        self.times.append(time.perf_counter() - self._start)


def build_model() -> Any:
    """Dense 128 relu on 784 inputs, Dense 10 softmax, compiled with adam."""
    model = layers.sequential(
        [
            layers.dense(units=128, activation="relu", input_shape=[784]),
            layers.dense(units=10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categoricalCrossentropy", metrics=["accuracy"])
    return model


def run(
    epochs: int = 5,
    batch_size: int = 32,
    samples: int = 10000,
    verbose: int = 1,
    seed: int | None = 0,
    data: str | None = None,
) -> dict[str, Any]:
    """Train on the first ``samples`` images (the last 20% of them validate); returns the
    history, the final validation accuracy and the per-epoch times. ``data`` is the folder
    holding ``mnist/`` (default ``$TENSORWEAVE_DATA``)."""
    if seed is not None:
        tw.set_seed(seed)
    x, y = mnist_arrays(data, n=samples)
    model = build_model()
    timer = EpochTimer()
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=0.2,
        verbose=verbose,
        callbacks=[timer],
    )
    return {
        "backend": tw.get_backend(),
        "history": history.history,
        "val_acc": history.history["val_acc"][-1],
        "epoch_times": timer.times,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--backend", default=None, help="backend name (default: the best available)")
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument(
        "--data", default=None, help="folder holding mnist/ (default: $TENSORWEAVE_DATA)"
    )
    args = p.parse_args(argv)
    if args.backend:
        tw.set_backend(args.backend)
    try:
        out = run(args.epochs, args.batch_size, args.samples, args.verbose, data=args.data)
    except FileNotFoundError as exc:
        print(f"mnist_mlp: {exc}", file=sys.stderr)
        return 2
    times = ", ".join(f"{t:.2f}s" for t in out["epoch_times"])
    print(f"backend {out['backend']}: val_acc {out['val_acc']:.4f}; epoch times {times}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
