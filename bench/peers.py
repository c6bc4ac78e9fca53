"""Optional peer frameworks (PyTorch on CPU, JAX) running the seed model's training epoch
(and, PyTorch only, the ``train_cnn`` epoch: ``prepare_cnn_epoch``, same contract).

Each peer exposes ``prepare_epoch(w0, x, y, batch_size) -> (call, weights)``: ``call()`` runs
one epoch in order (no shuffle) from the current state and returns the epoch's sample-weighted
mean loss; ``weights()`` returns ``[W1, b1, W2, b2]`` as numpy. Same math as
``bench.mnist_numpy``: softmax, TF.js categorical crossentropy (renormalise, clip), Adam with
lr 0.001, betas (0.9, 0.999), eps 1e-7. Nothing here is imported unless the peer is installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from bench.mnist_numpy import BETA1, BETA2, EPS, LR

#: Peer name -> the package it needs. ``torch``: PyPI's PyTorch, eager. ``jax``: a jitted train
#: step called once per batch (what a Keras-on-JAX or hand-written JAX loop does). ``jax-scan``:
#: the whole epoch in one jitted ``lax.scan`` over the batches (JAX's fastest form: no Python
#: between steps), the ragged last batch through the jitted step. ``pip install -e '.[peers]'``.
PEERS = ("torch", "jax", "jax-scan")
_PACKAGE = {"torch": "torch", "jax": "jax", "jax-scan": "jax"}


def probe(name: str) -> tuple[bool, str]:
    """``(available, detail)``: the version and device, or why the peer is skipped."""
    pkg = _PACKAGE[name]
    if importlib.util.find_spec(pkg) is None:
        return False, f"{pkg} not installed (optional peer; `pip install -e '.[peers]'` to compare)"
    try:
        mod = importlib.import_module(pkg)
    except Exception as exc:  # an install that cannot import is reported, not raised
        return False, f"{pkg} failed to import: {type(exc).__name__}: {exc}"
    version = getattr(mod, "__version__", "?")
    if name == "torch":
        return True, f"torch {version} (CPU, {mod.get_num_threads()} threads)"
    form = "whole epoch in one jitted lax.scan" if name == "jax-scan" else "jitted step"
    return True, f"jax {version} ({mod.default_backend()}, {form})"


def module(name: str) -> ModuleType:
    """This module's implementation namespace for peer ``name``."""
    return {"torch": _Torch, "jax": _Jax, "jax-scan": _JaxScan}[name]  # type: ignore[return-value]


class _Torch:
    @staticmethod
    def prepare_epoch(
        w0: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch_size: int
    ) -> tuple[Callable[[], float], Callable[[], list[np.ndarray]]]:
        import torch

        params = [torch.tensor(w, dtype=torch.float32, requires_grad=True) for w in w0]
        opt = torch.optim.Adam(params, lr=LR, betas=(BETA1, BETA2), eps=EPS)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def step(xb: Any, yb: Any) -> float:
            w1, b1, w2, b2 = params
            p = torch.softmax(torch.relu(xb @ w1 + b1) @ w2 + b2, dim=1)
            q = torch.clamp(p / p.sum(dim=1, keepdim=True), EPS, 1 - EPS)
            loss = -(yb * torch.log(q)).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return float(loss.detach())

        def call() -> float:
            total = 0.0
            for s in range(0, xt.shape[0], batch_size):
                xb, yb = xt[s : s + batch_size], yt[s : s + batch_size]
                total += step(xb, yb) * xb.shape[0]
            return total / xt.shape[0]

        return call, lambda: [p.detach().numpy().copy() for p in params]

    @staticmethod
    def prepare_cnn_epoch(
        w0: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch_size: int
    ) -> tuple[Callable[[], float], Callable[[], list[np.ndarray]]]:
        """The ``train_cnn`` epoch (bench/train_cnn.py): ``w0`` = [K (3,3,1,16), b, W, c],
        ``x`` NHWC (n, 28, 28, 1). Eager PyTorch: conv2d + relu, ``F.max_pool2d``, linear,
        softmax, the same crossentropy and Adam. The batch goes in as a channels-last view of
        the NHWC array, so the convolution and pooling run channels-last and the pooled
        (N, C, 13, 13) tensor, permuted back to NHWC, flattens as a view in the engine's
        (13, 13, 16) order. ``F.max_pool2d`` gives a tied window maximum's gradient to the
        first maximum in row-major window order, the engine's rule."""
        import torch
        import torch.nn.functional as F

        params = [torch.tensor(w, dtype=torch.float32, requires_grad=True) for w in w0]
        opt = torch.optim.Adam(params, lr=LR, betas=(BETA1, BETA2), eps=EPS)
        xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

        def step(xb: Any, yb: Any) -> float:
            k, b, w, c = params
            h = torch.relu(F.conv2d(xb.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1), b))
            pooled = F.max_pool2d(h, 2)  # (N, C, 13, 13), channels-last memory
            flat = pooled.permute(0, 2, 3, 1).reshape(xb.shape[0], -1)
            p = torch.softmax(flat @ w + c, dim=1)
            q = torch.clamp(p / p.sum(dim=1, keepdim=True), EPS, 1 - EPS)
            loss = -(yb * torch.log(q)).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return float(loss.detach())

        def call() -> float:
            total = 0.0
            for s in range(0, xt.shape[0], batch_size):
                xb, yb = xt[s : s + batch_size], yt[s : s + batch_size]
                total += step(xb, yb) * xb.shape[0]
            return total / xt.shape[0]

        return call, lambda: [p.detach().numpy().copy() for p in params]


Epoch = tuple[Callable[[], float], Callable[[], list[np.ndarray]]]


def _mlp_loss(params: list[Any], xb: Any, yb: Any) -> Any:
    import jax
    import jax.numpy as jnp

    w1, b1, w2, b2 = params
    p = jax.nn.softmax(jax.nn.relu(xb @ w1 + b1) @ w2 + b2, axis=1)
    q = jnp.clip(p / p.sum(axis=1, keepdims=True), EPS, 1 - EPS)
    return -(yb * jnp.log(q)).sum(axis=1).mean()


def _cnn_loss(params: list[Any], xb: Any, yb: Any) -> Any:
    """``train_cnn``'s model: conv 3x3 (valid) + bias + relu, 2x2 max pool, flatten (NHWC
    order), dense, softmax, the same crossentropy."""
    import jax
    import jax.numpy as jnp

    k, b, w, c = params
    h = jax.lax.conv_general_dilated(
        xb, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    h = jax.nn.relu(h + b)
    pooled = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    p = jax.nn.softmax(pooled.reshape(xb.shape[0], -1) @ w + c, axis=1)
    q = jnp.clip(p / p.sum(axis=1, keepdims=True), EPS, 1 - EPS)
    return -(yb * jnp.log(q)).sum(axis=1).mean()


def _jax_step(loss_fn: Callable[..., Any]) -> Callable[..., Any]:
    """``loss_fn``'s Adam step as a pure JAX function ``(params, m, v, t, xb, yb) ->
    (params, m, v, loss)`` (not jitted: the peers jit it alone or inside a scan)."""
    import jax
    import jax.numpy as jnp

    def step(params: list[Any], m: list[Any], v: list[Any], t: Any, xb: Any, yb: Any):
        loss, g = jax.value_and_grad(loss_fn)(params, xb, yb)
        m = [BETA1 * mi + (1 - BETA1) * gi for mi, gi in zip(m, g, strict=True)]
        v = [BETA2 * vi + (1 - BETA2) * gi * gi for vi, gi in zip(v, g, strict=True)]
        c1, c2 = 1 - BETA1**t, 1 - BETA2**t
        params = [
            p - LR * (mi / c1) / (jnp.sqrt(vi / c2) + EPS)
            for p, mi, vi in zip(params, m, v, strict=True)
        ]
        return params, m, v, loss

    return step


def _jax_state(w0: list[np.ndarray]) -> dict[str, Any]:
    import jax.numpy as jnp

    return {
        "params": [jnp.asarray(w) for w in w0],
        "m": [jnp.zeros_like(jnp.asarray(w)) for w in w0],
        "v": [jnp.zeros_like(jnp.asarray(w)) for w in w0],
        "t": jnp.float32(0),
    }


def _scan_epoch(
    loss_fn: Callable[..., Any], w0: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int
) -> Epoch:
    """One jitted ``lax.scan`` over the epoch's full batches (the data pre-split into
    ``(batches, batch, ...)`` on the device once, outside the timed call), then the jitted step
    for a ragged last batch: no Python between steps."""
    import jax
    import jax.numpy as jnp

    raw = _jax_step(loss_fn)
    step = jax.jit(raw)

    @jax.jit
    def epoch(params: list[Any], m: list[Any], v: list[Any], t: Any, xs: Any, ys: Any):
        def body(carry: Any, b: Any) -> Any:
            p, mm, vv, tt = carry
            tt = tt + 1
            p, mm, vv, loss = raw(p, mm, vv, tt, b[0], b[1])
            return (p, mm, vv, tt), loss

        (params, m, v, t), losses = jax.lax.scan(body, (params, m, v, t), (xs, ys))
        return params, m, v, t, losses.sum()

    n = x.shape[0]
    full = n // batch
    cut = full * batch
    xs = jnp.asarray(x[:cut].reshape(full, batch, *x.shape[1:]))
    ys = jnp.asarray(y[:cut].reshape(full, batch, *y.shape[1:]))
    xt, yt = jnp.asarray(x[cut:]), jnp.asarray(y[cut:])
    state = _jax_state(w0)

    def call() -> float:
        p, m, v, t = state["params"], state["m"], state["v"], state["t"]
        total = 0.0
        if full:
            p, m, v, t, s = epoch(p, m, v, t, xs, ys)
            total += float(s) * batch
        if n > cut:
            t = t + 1
            p, m, v, loss = step(p, m, v, t, xt, yt)
            total += float(loss) * (n - cut)
        state["params"], state["m"], state["v"], state["t"] = p, m, v, t
        return total / n

    return call, lambda: [np.asarray(p) for p in state["params"]]


def _step_epoch(
    loss_fn: Callable[..., Any], w0: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int
) -> Epoch:
    """The jitted step called from Python once per batch."""
    import jax
    import jax.numpy as jnp

    step = jax.jit(_jax_step(loss_fn))
    state = _jax_state(w0)
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def call() -> float:
        total = 0.0
        p, m, v, t = state["params"], state["m"], state["v"], state["t"]
        for s in range(0, x.shape[0], batch):
            t = t + 1
            xb, yb = xj[s : s + batch], yj[s : s + batch]
            p, m, v, loss = step(p, m, v, t, xb, yb)
            total += float(loss) * xb.shape[0]
        state["params"], state["m"], state["v"], state["t"] = p, m, v, t
        return total / x.shape[0]

    return call, lambda: [np.asarray(p) for p in state["params"]]


class _JaxScan:
    @staticmethod
    def prepare_epoch(w0: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int) -> Epoch:
        return _scan_epoch(_mlp_loss, w0, x, y, batch)

    @staticmethod
    def prepare_cnn_epoch(w0: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int) -> Epoch:
        return _scan_epoch(_cnn_loss, w0, x, y, batch)


class _Jax:
    @staticmethod
    def prepare_epoch(w0: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int) -> Epoch:
        return _step_epoch(_mlp_loss, w0, x, y, batch)

    @staticmethod
    def prepare_cnn_epoch(w0: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int) -> Epoch:
        return _step_epoch(_cnn_loss, w0, x, y, batch)
