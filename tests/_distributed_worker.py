"""Worker for tests/test_distributed.py, run as ``mpiexec -n 2 python tests/_distributed_worker.py
MODE BACKEND`` (not collected by pytest).

MODE ``equiv``: for sgd and adam, a 2-rank ``DataParallel.fit`` (per-rank batch 8, ragged
last batches, one of them leaving rank 1 no rows) is compared on rank 0 with a plain
one-process ``fit`` at batch 16 over the same per-epoch sample order, from the same initial
weights, through the traced/compiled step; the per-epoch validation (23 samples, split 12/11
over the ranks) and ``DataParallel.evaluate`` (with sample weights) are compared with one
process's ``evaluate`` on the final weights. Prints one JSON line ``RESULT {...}`` on rank 0.
MODE ``raise`` / ``kill`` / ``hang``: rank 1 raises, SIGKILLs itself, or stops taking part
(sleeps) at its third batch, while rank 0 waits in the gradient allreduce.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

import engine as tw
import layers
from engine import distributed as dist
from layers.callbacks import Callback
from layers.distributed import DataParallel, epoch_permutation


def build(optimizer: str):
    model = layers.sequential(
        [
            layers.dense(units=16, activation="relu", input_shape=[8]),
            layers.dense(units=3, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss="categoricalCrossentropy", metrics=["accuracy"])
    return model


def data(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return x, y


class RanksEqual(Callback):
    """Each epoch's end, before DataParallel's own sync copies rank 0's weights: are the
    ranks' weights bitwise equal (the identical updates alone keep them so)?"""

    def __init__(self) -> None:
        super().__init__()
        self.equal: list[bool] = []

    def on_epoch_end(self, epoch, logs=None):
        mine = [w.numpy() for w in self.model.trainable_weights]
        everyone = dist.broadcast_object_all(mine)
        self.equal.append(
            all(np.array_equal(a, b) for o in everyone[1:] for a, b in zip(mine, o, strict=True))
        )


def equiv() -> None:
    results = {}
    # 101 = 6 * 16 + 5 (last global batch split 3 / 2); 97 = 6 * 16 + 1 (rank 1 gets no rows)
    for optimizer, n in (("sgd", 97), ("adam", 101)):
        tw.set_seed(100 + dist.rank())  # different initial weights per rank: rank 0's must win
        x, y = data(n)
        model = build(optimizer)
        dp = DataParallel(model)
        dp.broadcast_state()
        initial = [w.numpy().copy() for w in model.weights]
        epochs, seed = 3, 11
        xv, yv = data(23, seed=2)
        wv = np.random.default_rng(3).uniform(size=23).astype(np.float32)
        check = RanksEqual()
        hist = dp.fit(
            x,
            y,
            batch_size=8,
            epochs=epochs,
            verbose=0,
            seed=seed,
            validation_data=(xv, yv),
            callbacks=[check],
        )
        dp_eval = dp.evaluate(xv, yv, batch_size=4, sample_weight=wv)
        mine = [w.numpy() for w in model.weights]
        grads_trace = next(iter(dp.traces["gradients"].traces.values()))
        traced = {
            "traced_steps": dp.stats["traced_steps"],
            "eager": sorted(map(str, [*dp.traces["gradients"].eager.values()])),
            "signatures": len(dp.traces["gradients"].traces),
            "program": grads_trace.program is not None,
            "update_program": all(
                t.program is not None for t in dp.traces["update"].traces.values()
            ),
        }
        everyone = dist.broadcast_object_all(mine)
        if dist.rank() != 0:
            continue
        same = all(
            np.array_equal(a, b) for other in everyone[1:] for a, b in zip(mine, other, strict=True)
        )
        ref = build(optimizer)
        ref.set_weights(initial)
        ref_loss = []
        for e in range(epochs):
            perm = epoch_permutation(seed, e, n)
            h = ref.fit(x[perm], y[perm], batch_size=16, epochs=1, shuffle=False, verbose=0)
            ref_loss.append(h.history["loss"][0])
        diff = max(
            float(np.max(np.abs(a - b))) for a, b in zip(mine, ref.get_weights(), strict=True)
        )
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(mine, initial, strict=True))
        results[optimizer] = {
            "max_diff": diff,
            "moved": moved,
            "ranks_equal": same and check.equal == [True] * epochs,
            "loss": hist.history["loss"],
            "ref_loss": ref_loss,
            "steps": dp.stats["steps"],
            "val": [hist.history["val_loss"][-1], hist.history["val_acc"][-1]],
            "ref_val": model.evaluate(xv, yv, batch_size=8),
            "dp_eval": dp_eval,
            "ref_eval": model.evaluate(xv, yv, batch_size=4, sample_weight=wv),
            **traced,
            "allreduce_calls": dp.stats["allreduce_calls"],
        }
    if dist.rank() == 0:
        print("RESULT " + json.dumps(results), flush=True)


class Fail(Callback):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def on_batch_end(self, batch, logs=None):
        if dist.rank() != 1 or batch != 2:
            return
        if self.mode == "raise":
            raise RuntimeError("boom on purpose")
        if self.mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.mode == "hang":
            time.sleep(120)


def failing(mode: str) -> None:
    x, y = data(400)
    dp = DataParallel(build("sgd"))
    print(f"READY rank {dist.rank()}", flush=True)
    # rank 1's callback has batch hooks; rank 0 gets none, so it goes straight on to the
    # next step's allreduce and waits there for rank 1
    cbs = [Fail(mode)] if dist.rank() == 1 else []
    dp.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=cbs)
    print(f"rank {dist.rank()} finished without noticing the failure", flush=True)


if __name__ == "__main__":
    mode, backend = sys.argv[1], sys.argv[2]
    tw.set_backend(backend)
    if mode == "equiv":
        equiv()
    else:
        failing(mode)
