"""The bench's workloads: op micro-benchmarks, dispatch overhead and the seed model's epoch.

A workload makes its inputs on the host once, computes a float64 numpy oracle once, and for each
target (an engine backend, the hand-written numpy reference or a peer framework) ``prepare``s a
:class:`Prepared`: a ``call`` that the runner times and a ``check`` that compares its output with
the oracle (max relative error, see :func:`rel_err`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import engine as tw
from bench.common import Prepared, Target, rel_err
from bench.train import TrainWorkload
from bench.train_cnn import CnnTrainWorkload


@dataclass
class Workload:
    """One op workload on engine backends."""

    name: str
    group: str
    description: str
    make_inputs: Callable[[np.random.Generator], dict[str, np.ndarray]]
    run: Callable[[dict[str, tw.Tensor]], tw.Tensor]
    oracle: Callable[[dict[str, np.ndarray]], np.ndarray]
    flops: float | None = None
    bytes: float | None = None
    tolerance: float = 1e-4
    ops_per_call: int = 1
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def unit(self) -> str:
        if self.ops_per_call > 1:
            return "us/op"
        return "GFLOP/s" if self.flops is not None else "GB/s"

    def _data(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if "inputs" not in self._cache:
            inputs = self.make_inputs(np.random.default_rng(0))
            self._cache["inputs"] = inputs
            self._cache["ref"] = np.asarray(
                self.oracle({k: v.astype(np.float64) for k, v in inputs.items()})
            )
        return self._cache["inputs"], self._cache["ref"]

    def prepare(self, target: Target) -> Prepared | None:
        """Move the inputs to the active backend (call inside its ``backend_scope``)."""
        if target.kind != "backend":
            return None
        inputs, ref = self._data()
        tensors = {k: tw.tensor(v) for k, v in inputs.items()}
        return Prepared(
            call=lambda: self.run(tensors),
            check=lambda out, _i: rel_err(out.numpy(), ref),
            ops_per_call=self.ops_per_call,
        )


def _normal(*shapes: tuple[int, ...], names: str = "abc") -> Callable:
    def make(rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            n: rng.standard_normal(s, dtype=np.float32) for n, s in zip(names, shapes, strict=False)
        }

    return make


def _softmax64(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _conv2d_same64(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    kh, kw = f.shape[:2]
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))
    return np.einsum("nhwcij,ijco->nhwo", win, f, optimize=True)


def _dispatch_run(k: int) -> Callable[[dict[str, tw.Tensor]], tw.Tensor]:
    def run(t: dict[str, tw.Tensor]) -> tw.Tensor:
        a, b = t["a"], t["b"]
        out = tw.add(a, b)
        for _ in range(k - 1):
            out = tw.add(a, b)
        return out

    return run


def _human(n: int) -> str:
    return f"{n // (1 << 20)}m" if n % (1 << 20) == 0 else str(n)


def op_workloads(quick: bool) -> list[Workload]:
    """The op micro-benchmarks (smaller sizes with ``quick``)."""
    ws: list[Workload] = []
    for n in (256, 512, 1024) if quick else (256, 512, 1024, 2048):
        ws.append(
            Workload(
                f"matmul_{n}",
                "matmul",
                f"float32 ({n},{n}) @ ({n},{n})",
                _normal((n, n), (n, n)),
                lambda t: tw.matmul(t["a"], t["b"]),
                lambda d: d["a"] @ d["b"],
                flops=2.0 * n**3,
            )
        )
    # 1m fits the L3 cache (thread start-up and dispatch costs show), 4m is a mid size
    # (48 MB of traffic per add: just past a 32 MB L3), 16m is DRAM-bound.
    sizes = (1 << 20,) if quick else (1 << 20, 1 << 22, 1 << 24)
    for n in sizes:
        ws.append(
            Workload(
                f"add_{_human(n)}",
                "elementwise",
                f"a + b on {n:,} float32",
                _normal((n,), (n,)),
                lambda t: tw.add(t["a"], t["b"]),
                lambda d: d["a"] + d["b"],
                bytes=12.0 * n,
            )
        )
    for n in sizes:
        ws.append(
            Workload(
                f"chain3_{_human(n)}",
                "elementwise",
                f"relu(a * b + c) on {n:,} float32 (3 ops; bytes = 3 reads + 1 write)",
                _normal((n,), (n,), (n,)),
                lambda t: tw.relu(tw.add(tw.mul(t["a"], t["b"]), t["c"])),
                lambda d: np.maximum(d["a"] * d["b"] + d["c"], 0),
                bytes=16.0 * n,
            )
        )
    # sum_rows / max_rows: 16M elements (quick 1M); the _4m rows: 4M elements (2048, 2048).
    shapes = [("", (1024, 1024) if quick else (4096, 4096)), ("_4m", (2048, 2048))]
    for suffix, (rows, cols) in shapes:
        n = rows * cols
        ws.append(
            Workload(
                f"sum_rows{suffix}",
                "reduction",
                f"sum over the last axis of ({rows},{cols})",
                _normal((rows, cols)),
                lambda t: tw.sum(t["a"], axis=-1),
                lambda d: d["a"].sum(axis=-1),
                bytes=4.0 * n,
            )
        )
        ws.append(
            Workload(
                f"max_rows{suffix}",
                "reduction",
                f"max over the last axis of ({rows},{cols})",
                _normal((rows, cols)),
                lambda t: tw.max(t["a"], axis=-1),
                lambda d: d["a"].max(axis=-1),
                bytes=4.0 * n,
            )
        )
    srows = 1024 if quick else 4096
    ws.append(
        Workload(
            "softmax",
            "reduction",
            f"softmax over the last axis of ({srows},1024)",
            _normal((srows, 1024)),
            lambda t: tw.softmax(t["a"]),
            lambda d: _softmax64(d["a"]),
            bytes=8.0 * srows * 1024,
        )
    )
    for cin, cout in ((1, 16), (16, 32)):
        ws.append(
            Workload(
                f"conv2d_{cin}to{cout}",
                "conv2d",
                f"conv2d 'same' (32,28,28,{cin}) * (3,3,{cin},{cout})",
                _normal((32, 28, 28, cin), (3, 3, cin, cout)),
                lambda t: tw.conv2d(t["a"], t["b"], 1, "same"),
                lambda d: _conv2d_same64(d["a"], d["b"]),
                flops=2.0 * 32 * 28 * 28 * cout * 9 * cin,
            )
        )
    k = 100
    ws.append(
        Workload(
            "dispatch_add",
            "dispatch",
            f"per-op overhead: a + b on 4 float32, {k} ops a call",
            _normal((4,), (4,)),
            _dispatch_run(k),
            lambda d: d["a"] + d["b"],
            ops_per_call=k,
        )
    )
    return ws


def all_workloads(quick: bool, data_dir: str | None = None) -> list[Any]:
    """Every workload in table order."""
    samples = 1024 if quick else None
    return [
        *op_workloads(quick),
        *(TrainWorkload(b, samples, data_dir) for b in (32, 256)),
        CnnTrainWorkload(quick, data_dir),
    ]


def select(workloads: list[Any], patterns: list[str] | None) -> list[Any]:
    """Workloads whose name or group matches one of ``patterns`` (fnmatch; a group or name)."""
    if not patterns:
        return workloads
    unknown = [
        p
        for p in patterns
        if not any(fnmatch.fnmatch(w.name, p) or fnmatch.fnmatch(w.group, p) for w in workloads)
    ]
    if unknown:
        names = ", ".join(w.name for w in workloads)
        groups = ", ".join(dict.fromkeys(w.group for w in workloads))
        raise ValueError(
            f"no workload matches {', '.join(map(repr, unknown))}; groups: {groups}; names: {names}"
        )
    return [
        w
        for w in workloads
        if any(fnmatch.fnmatch(w.name, p) or fnmatch.fnmatch(w.group, p) for p in patterns)
    ]
