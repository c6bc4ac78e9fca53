"""The seed model's training epoch written by hand in numpy: forward, backward, Adam.

Dense 128 relu on 784 inputs, Dense 10 softmax, categorical crossentropy (TF.js semantics:
renormalise, clip to [eps, 1 - eps], mean over the batch), Adam (lr 0.001, beta1 0.9,
beta2 0.999, eps 1e-7, TF.js bias correction). No autodiff; every gradient is spelled out.
Run in float32 it is the bench's ``numpy-ref`` row; in float64 it is the oracle every
training row is checked against.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LR, BETA1, BETA2, EPS = 0.001, 0.9, 0.999, 1e-7
HIDDEN, CLASSES, INPUTS = 128, 10, 784


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """Glorot-uniform kernels and zero biases, as ``[W1, b1, W2, b2]`` in float32."""
    rng = np.random.default_rng(seed)

    def glorot(fan_in: int, fan_out: int) -> np.ndarray:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)

    return [
        glorot(INPUTS, HIDDEN),
        np.zeros(HIDDEN, np.float32),
        glorot(HIDDEN, CLASSES),
        np.zeros(CLASSES, np.float32),
    ]


def epoch_flops(n: int) -> float:
    """Multiply-add FLOPs of one epoch on ``n`` samples (forward, weight grads, hidden grad)."""
    fwd = 2 * (INPUTS * HIDDEN + HIDDEN * CLASSES)
    bwd = 2 * (INPUTS * HIDDEN + 2 * HIDDEN * CLASSES)
    return float(n * (fwd + bwd))


def softmax_crossentropy(z: np.ndarray, y: np.ndarray, eps: Any) -> tuple[float, np.ndarray]:
    """Mean categorical crossentropy of softmax(z) with TF.js semantics (renormalise, clip to
    [eps, 1 - eps]) and its gradient with respect to the logits ``z``."""
    bsz = z.shape[0]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    s = p.sum(axis=1, keepdims=True)
    q = p / s
    c = np.clip(q, eps, 1 - eps)
    loss = float(-(y * np.log(c)).sum(axis=1).mean())
    # backward: mean, -y log c, clip, renormalise, softmax
    dc = -y / c / bsz
    dq = dc * ((q >= eps) & (q <= 1 - eps))
    dp = dq / s - (dq * p).sum(axis=1, keepdims=True) / (s * s)
    return loss, p * (dp - (dp * p).sum(axis=1, keepdims=True))


class NumpyModel:
    """A hand-written model's state (weights and Adam moments) in one dtype, its Adam step and
    its epoch loop; subclasses write ``step`` (forward, backward, ``self._adam(grads)``)."""

    def __init__(self, weights: list[np.ndarray], dtype: type = np.float32):
        self.dtype = np.dtype(dtype)
        self.w = [np.array(p, dtype=self.dtype) for p in weights]
        self.m = [np.zeros_like(p) for p in self.w]
        self.v = [np.zeros_like(p) for p in self.w]
        self.t = 0

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One batch: forward, backward, Adam update. Returns the batch's mean loss."""
        raise NotImplementedError

    def _adam(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        one = self.dtype.type(1)
        b1, b2 = self.dtype.type(BETA1), self.dtype.type(BETA2)
        c1 = one - b1**self.t
        c2 = one - b2**self.t
        lr, eps = self.dtype.type(LR), self.dtype.type(EPS)
        for i, g in enumerate(grads):
            g = g.astype(self.dtype, copy=False)
            self.m[i] = b1 * self.m[i] + (one - b1) * g
            self.v[i] = b2 * self.v[i] + (one - b2) * (g * g)
            self.w[i] = self.w[i] - lr * (self.m[i] / c1) / (np.sqrt(self.v[i] / c2) + eps)

    def epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
        """One epoch in order (no shuffle); returns the sample-weighted mean loss (as ``fit``)."""
        x = x.astype(self.dtype, copy=False)
        y = y.astype(self.dtype, copy=False)
        total = 0.0
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            total += self.step(xb, yb) * xb.shape[0]
        return total / x.shape[0]


class NumpyMLP(NumpyModel):
    """The seed model: Dense 128 relu, Dense 10 softmax."""

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        w1, b1, w2, b2 = self.w
        a1 = x @ w1 + b1
        h = np.maximum(a1, 0)
        loss, dz = softmax_crossentropy(h @ w2 + b2, y, self.dtype.type(EPS))
        g_w2 = h.T @ dz
        g_b2 = dz.sum(axis=0)
        dh = (dz @ w2.T) * (a1 > 0)
        g_w1 = x.T @ dh
        g_b1 = dh.sum(axis=0)
        self._adam([g_w1, g_b1, g_w2, g_b2])
        return loss
