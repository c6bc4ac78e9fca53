"""The training-epoch workload: the seed model through the public model API, and its peers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import engine as tw
from bench import mnist_numpy
from bench.common import Prepared, Skip, Target, rel_err
from bench.data import load_mnist


def _fro_err(got: np.ndarray, ref: np.ndarray) -> float:
    """||got - ref|| / ||ref|| (inf on a shape mismatch or a non-finite value)."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape or not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.linalg.norm(got - ref) / max(float(np.linalg.norm(ref)), 1e-30))


class TrainWorkload:
    """One epoch of the seed model (Dense 128 relu, Dense 10 softmax, adam, categorical CE).

    Engine backends run it through the public model API; ``numpy-ref`` is the hand-written
    numpy epoch; peers (torch, jax) run their own implementation of the same epoch. All start
    from the same weights. Two checks against the hand-written epoch run in float64:

    - tight (``tolerance``, the row's ``max_rel_err``): the weights after the first
      ``CHECK_STEPS`` batches, from a fresh model trained the same way on those samples;
    - loose (``EPOCH_TOLERANCE``): the timed epoch's loss and final weights. A float32 epoch
      drifts for real (a ReLU input within rounding of 0 flips sign and changes the later Adam
      steps; JAX on CPU was measured at 6e-3 after 313 steps), so this only catches gross errors.
    """

    group = "train"
    tolerance = 1e-3
    ops_per_call = 1
    bytes = None
    unit = "GFLOP/s"
    CHECK_STEPS = 4
    EPOCH_TOLERANCE = 5e-2

    def __init__(self, batch_size: int, samples: int | None, data_dir: str | None = None):
        self.batch_size = batch_size
        self.samples = samples
        self.data_dir = data_dir
        self.name = f"train_b{batch_size}"
        self._cache: dict[str, Any] = {}

    @property
    def description(self) -> str:
        x, _, source = self.data()
        return (
            f"fit 1 epoch, {x.shape[0]:,} samples, batch {self.batch_size}, "
            f"784-128-10 MLP, adam ({source})"
        )

    @property
    def flops(self) -> float:
        return mnist_numpy.epoch_flops(self.data()[0].shape[0])

    def data(self) -> tuple[np.ndarray, np.ndarray, str]:
        if "data" not in self._cache:
            self._cache["data"] = load_mnist(self.samples, self.data_dir)
        return self._cache["data"]

    def _short(self) -> tuple[np.ndarray, np.ndarray]:
        x, y, _ = self.data()
        n = self.CHECK_STEPS * self.batch_size
        return x[:n], y[:n]

    # --- what a subclass changes for another model ------------------------------------------
    #: The hand-written model (float64: the oracle; float32: the ``numpy-ref`` row).
    reference: type = mnist_numpy.NumpyMLP
    #: The peer module's function preparing this epoch: ``(w0, x, y, batch) -> (call, weights)``.
    peer_epoch = "prepare_epoch"

    @staticmethod
    def initial_weights() -> list[np.ndarray]:
        return mnist_numpy.initial_weights(0)

    def model_layers(self, layers: Any) -> list[Any]:
        """The model's layers, built through the public layers API."""
        return [
            layers.dense(units=128, activation="relu", input_shape=[784]),
            layers.dense(units=10, activation="softmax"),
        ]

    def oracle(self, short: bool = False) -> tuple[list[np.ndarray], float]:
        """Weights and loss after one float64 epoch of the hand-written model (or its start)."""
        key = f"oracle{short}"
        if key not in self._cache:
            x, y = self._short() if short else self.data()[:2]
            ref = self.reference(self.initial_weights(), np.float64)
            loss = ref.epoch(x, y, self.batch_size)
            self._cache[key] = (ref.w, loss)
        return self._cache[key]

    def check_short(self, weights: list[Any]) -> float:
        """Max relative error (``rel_err``) of the weights after ``CHECK_STEPS`` batches."""
        ref_w, _ = self.oracle(short=True)
        if len(weights) != len(ref_w):
            return float("inf")
        return max(rel_err(np.asarray(w), r) for w, r in zip(weights, ref_w, strict=True))

    def check_epoch(self, weights: list[Any], loss: float) -> str | None:
        """None when the epoch's loss and weights are within ``EPOCH_TOLERANCE``, else why not."""
        ref_w, ref_loss = self.oracle()
        if len(weights) != len(ref_w) or not np.isfinite(float(loss)):
            return f"full epoch: loss {loss}, {len(weights)} weight tensors"
        w_err = max(_fro_err(np.asarray(w), r) for w, r in zip(weights, ref_w, strict=True))
        l_err = abs(float(loss) - ref_loss) / max(abs(ref_loss), 1e-30)
        if max(w_err, l_err) > self.EPOCH_TOLERANCE:
            return (
                f"full epoch off the float64 reference: loss rel err {l_err:.1e}, weights "
                f"{w_err:.1e} (> {self.EPOCH_TOLERANCE:.0e})"
            )
        return None

    def prepare(self, target: Target) -> Prepared:
        x, y, _ = self.data()
        w0 = self.initial_weights()
        bs = self.batch_size
        xs, ys = self._short()
        if target.kind == "reference":
            model = self.reference(w0, np.float32)

            def short_ref() -> list[np.ndarray]:
                fresh = self.reference(w0, np.float32)
                fresh.epoch(xs, ys, bs)
                return fresh.w

            return self._prepared(lambda: model.epoch(x, y, bs), lambda: model.w, short_ref)
        if target.kind == "peer":
            prep = getattr(target.module, self.peer_epoch, None)
            if prep is None:
                raise Skip(f"peer {target.name} has no {self.name} epoch")
            call, weights = prep(w0, x, y, bs)

            def short_peer() -> list[np.ndarray]:
                c, w = prep(w0, xs, ys, bs)
                c()
                return w()

            return self._prepared(call, weights, short_peer)
        return self._prepare_engine(x, y, w0, bs)

    def _prepared(
        self,
        call: Callable[[], float],
        weights: Callable[[], list[Any]],
        short_run: Callable[[], list[Any]],
    ) -> Prepared:
        return Prepared(
            call=call,
            check=lambda _loss, i: None if i else self.check_short(short_run()),
            sanity=lambda loss: self.check_epoch(weights(), loss),
            repeatable=False,
        )

    def _prepare_engine(
        self, x: np.ndarray, y: np.ndarray, w0: list[np.ndarray], bs: int
    ) -> Prepared:
        import layers

        if not hasattr(layers, "sequential"):
            raise Skip("the layers model API is not available yet (layers.sequential)")

        def build() -> Any:
            try:
                model = layers.sequential(self.model_layers(layers))
            except AttributeError as e:
                raise Skip(f"the layers model API is not available yet ({e})") from e
            for n in ("compile", "fit", "get_weights", "set_weights"):
                if not hasattr(model, n):
                    raise Skip(f"the layers model API is not available yet (model.{n})")
            model.compile(optimizer="adam", loss="categoricalCrossentropy")
            model.set_weights([tw.tensor(w) for w in w0])
            return model

        def fit(model: Any, xt: Any, yt: Any) -> float:
            history = model.fit(xt, yt, batch_size=bs, epochs=1, verbose=0, shuffle=False)
            return float(history.history["loss"][0])

        def weights_of(model: Any) -> list[np.ndarray]:
            return [np.asarray(w) for w in model.get_weights()]

        def short_run() -> list[np.ndarray]:
            fresh = build()
            xs, ys = self._short()
            fit(fresh, tw.tensor(xs), tw.tensor(ys))
            return weights_of(fresh)

        model = build()
        xt, yt = tw.tensor(x), tw.tensor(y)
        return self._prepared(lambda: fit(model, xt, yt), lambda: weights_of(model), short_run)
