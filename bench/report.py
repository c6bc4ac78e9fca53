"""The table, the JSON document and the plot.

JSON schema (``schema_version`` 1; keys are stable, new keys may be added)::

    {
      "schema_version": 1,
      "tool": "tensorweave-bench",
      "created_utc": "2026-11-24T06:00:00Z",
      "argv": ["--quick"],              # the command-line arguments
      "quick": true,
      "exit_code": 0,                   # 1 when any result is wrong or errored
      "machine": {"platform": str, "python": str, "numpy": str, "cpu_count": int,
                  "ceilings": {"blas_gflops": float, "blas_size": int,
                               "memcpy_gbps": float, "memcpy_bytes": int}},
      "train_data": str,                # where the training workload's data came from
      "targets": [{"name": str, "kind": "backend" | "reference" | "peer",
                   "available": bool, "reason": str | null, "device": str,
                   "priority": int | null, "ran": bool}],
      "workloads": [{"name": str, "group": str, "description": str, "unit": str,
                     "flops": float | null, "bytes": float | null,
                     "ops_per_call": int, "tolerance": float}],
      "results": [{"workload": str, "group": str, "target": str, "kind": str,
                   "status": "ok" | "wrong" | "error" | "skipped",
                   "unit": "GFLOP/s" | "GB/s" | "us/op", "tolerance": float,
                   "first_call_s": float | null,   # first call, compile included
                   "median_s": float | null,       # steady state, per call
                   "min_s": float | null, "repeats": int, "inner": int,
                   "samples_s": [float],
                   "throughput": float | null,     # in "unit" (us/op: lower is better)
                   "fraction_of_ceiling": float | null,  # of blas_gflops or memcpy_gbps
                   "ratio_vs_numpy": float | null, # numpy backend median / this median
                   "max_rel_err": float | null,    # max|got - ref| / max|ref| vs a float64
                                                   # oracle; null: not checked, or wrong
                                                   # shape / non-finite output
                   "note": str | null}],
      "summary": {"wrong": ["workload/target"], "errors": ["workload/target"],
                  "first_call_overhead_s": {"target": float}}
    }

Timings are null for every row whose status is not "ok": a wrong result is never a speed.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from typing import Any

import numpy as np

from bench.runner import Result


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_throughput(r: Result) -> str:
    if r.throughput is None:
        return "-"
    v = r.throughput
    num = f"{v:.3g}" if v < 100 else f"{v:.0f}"
    return f"{num} {r.unit}"


def _check(r: Result) -> str:
    if r.status == "ok":
        return "ok"
    if r.status == "wrong":
        return f"WRONG (> {r.tolerance:.0e})"
    return r.status.upper()


def table(results: list[Result]) -> str:
    """The one table: a row per workload and target."""
    head = ("workload", "target", "first call", "median", "throughput", "of ceil",
            "vs numpy", "max rel err", "check")  # fmt: skip
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for r in results:
        err = "-" if r.max_rel_err is None else f"{r.max_rel_err:.1e}"
        if r.note:
            notes.append(f"{r.workload}/{r.target}: {r.note}")
            err = f"see note {len(notes)}"
        rows.append(
            (
                r.workload,
                r.target,
                fmt_time(r.first_call_s),
                fmt_time(r.median_s),
                fmt_throughput(r),
                "-" if r.fraction_of_ceiling is None else f"{r.fraction_of_ceiling:.0%}",
                "-" if r.ratio_vs_numpy is None else f"{r.ratio_vs_numpy:.2f}x",
                err,
                _check(r),
            )
        )
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    right = {2, 3, 4, 5, 6, 7}

    def line(cells: tuple[str, ...]) -> str:
        out = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    lines = [line(head), "  ".join("-" * w for w in widths)]
    prev = None
    for r, cells in zip(results, rows, strict=True):
        if prev is not None and r.group != prev:
            lines.append("")
        prev = r.group
        lines.append(line(cells))
    for i, n in enumerate(notes, 1):
        lines.append(f"note {i}: {n}")
    return "\n".join(lines)


def first_call_overhead(results: list[Result]) -> dict[str, float]:
    """Per target: sum over workloads of (first call - steady-state median)."""
    out: dict[str, float] = {}
    for r in results:
        if r.first_call_s is not None and r.median_s is not None:
            out[r.target] = out.get(r.target, 0.0) + max(0.0, r.first_call_s - r.median_s)
    return out


def overhead_lines(results: list[Result]) -> list[str]:
    lines = []
    for target, total in first_call_overhead(results).items():
        mine = [r for r in results if r.target == target and r.median_s is not None]
        worst = max(mine, key=lambda r: r.first_call_s - r.median_s)
        lines.append(
            f"  {target:<10} {fmt_time(total):>10} in all; largest {worst.workload} "
            f"(first {fmt_time(worst.first_call_s)}, then {fmt_time(worst.median_s)})"
        )
    return lines


def document(
    argv: list[str],
    quick: bool,
    exit_code: int,
    ceilings: dict[str, Any],
    train_data: str,
    targets: list[dict[str, Any]],
    workloads: list[Any],
    results: list[Result],
) -> dict[str, Any]:
    """The machine-readable report (schema in this module's docstring)."""
    return {
        "schema_version": 1,
        "tool": "tensorweave-bench",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "argv": list(argv),
        "quick": quick,
        "exit_code": exit_code,
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "cpu_count": os.cpu_count() or 0,
            "ceilings": ceilings,
        },
        "train_data": train_data,
        "targets": targets,
        "workloads": [
            {
                "name": w.name,
                "group": w.group,
                "description": w.description,
                "unit": w.unit,
                "flops": None if w.flops is None else float(w.flops),
                "bytes": None if w.bytes is None else float(w.bytes),
                "ops_per_call": int(w.ops_per_call),
                "tolerance": float(w.tolerance),
            }
            for w in workloads
        ],
        "results": [r.as_dict() for r in results],
        "summary": {
            "wrong": [f"{r.workload}/{r.target}" for r in results if r.status == "wrong"],
            "errors": [f"{r.workload}/{r.target}" for r in results if r.status == "error"],
            "first_call_overhead_s": first_call_overhead(results),
        },
    }


def write_json(path: str, doc: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, allow_nan=False)
        f.write("\n")


def check_matplotlib() -> str | None:
    """None when matplotlib imports, else the message to show."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        return (
            f"--plot needs matplotlib ({exc}); install the plot extra: "
            "pip install 'tensorweave[plot]'"
        )
    return None


def plot(path: str, results: list[Result], workloads: list[Any]) -> None:
    """Grouped bars: per workload, each target's speed-up over the numpy backend (log scale).

    Without a numpy-backend row a workload shows steady-state time instead; wrong or failed
    results get no bar, only a red label.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [w.name for w in workloads]
    by = {(r.workload, r.target): r for r in results}
    use_ratio = any(r.ratio_vs_numpy is not None and r.target != "numpy" for r in results)
    targets = [
        t for t in dict.fromkeys(r.target for r in results) if not (use_ratio and t == "numpy")
    ]
    fig, ax = plt.subplots(figsize=(min(16, max(8, 0.7 * len(names) + 2)), 5.5))
    colours = {t: f"C{j % 10}" for j, t in enumerate(targets)}
    present = {n: [t for t in targets if (n, t) in by] for n in names}
    width = 0.8 / max([1, *(len(p) for p in present.values())])
    labelled: set[str] = set()
    for i, n in enumerate(names):
        for k, t in enumerate(present[n]):
            r = by[(n, t)]
            x = i + (k - (len(present[n]) - 1) / 2) * width
            value = r.ratio_vs_numpy if use_ratio else r.median_s
            if r.status != "ok" or value is None:
                if r.status in ("wrong", "error"):
                    ax.text(x, 0.02, r.status.upper(), color="red", rotation=90, ha="center",
                            va="bottom", fontsize=7, transform=ax.get_xaxis_transform())  # fmt: skip
                continue
            label = None if t in labelled else t
            labelled.add(t)
            if use_ratio:  # bars grow from 1: up is faster than numpy, down is slower
                ax.bar(x, value - 1, bottom=1, width=width, color=colours[t], label=label)
            else:
                ax.bar(x, value, width=width, color=colours[t], label=label)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel("speed-up over the numpy backend (= 1)" if use_ratio else "median time (s)")
    ax.set_title("tensorweave bench")
    if labelled:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
