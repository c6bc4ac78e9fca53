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
                  "cpu_model": str,
                  "ceilings": {"blas_gflops": float, "blas_size": int,   # numpy's matmul
                               "cpu_gemm_gflops": float | null,  # the cpu backend's BLAS
                               "cpu_gemm_blas": str,      # which (backends/cpu/native/cblas.py)
                               "memcpy_gbps": float,   # DRAM: the copy is 4 L3s or more
                               "memcpy_bytes": int, "l3_bytes": int | null}},
      "sampling": {"repeats": int, "max_repeats": int,  # start / cap of the samples per row
                   "noise_threshold": float,            # IQR / median for more samples, "noisy"
                   "load_threshold_cpus": float,        # other processes' CPUs for "loaded"
                   "adaptive_budget_s": float, "extra_budget_s": float,
                   "extra_spent_s": float, "min_sample_s": float},
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
                   "min_s": float | null, "max_s": float | null,
                   "repeats": int,                 # samples taken (len(samples_s))
                   "inner": int, "samples_s": [float],
                   "spread_iqr": float | null,     # interquartile range / median
                   "spread_range": float | null,   # (max - min) / median
                   "sampling": "settled" | "cap" | "time" | "fixed" | "single" | null,
                   "load": {"window_s": float, "other_cpus": float | null,
                            "own_cpus": float | null, "steal_cpus": float | null,
                            "loadavg_1m": float | null} | null,
                   "warnings": ["noisy" | "loaded" | "1 sample"],
                   "fits_in_l3": bool | null,      # GB/s rows: bytes per call <= one L3
                   "throughput": float | null,     # in "unit" (us/op: lower is better)
                   "fraction_of_ceiling": float | null,  # of blas_gflops or memcpy_gbps
                   "ratio_vs_numpy": float | null, # numpy backend median / this median
                   "max_rel_err": float | null,    # max|got - ref| / max|ref| vs a float64
                                                   # oracle; null: not checked, or wrong
                                                   # shape / non-finite output
                   "note": str | null}],
      "summary": {"wrong": ["workload/target"], "errors": ["workload/target"],
                  "first_call_overhead_s": {"target": float},
                  "noisy": ["workload/target"], "loaded": ["workload/target"]}
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

from bench import stats
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


def fmt_fraction(r: Result) -> str:
    """Percent of the machine's ceiling; ``*`` marks a value above 100 % (see the legend)."""
    f = r.fraction_of_ceiling
    if f is None:
        return "-"
    return f"{f:.0%}*" if f > 1.0 else f"{f:.0%} "


def table(results: list[Result]) -> str:
    """The one table: a row per workload and target, then notes (errors, skips)."""
    head = ("workload", "target", "first call", "min", "median", "max", "throughput",
            "of ceil", "vs numpy", "max rel err", "check", "warnings")  # fmt: skip
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
                fmt_time(r.min_s),
                fmt_time(r.median_s),
                fmt_time(r.max_s),
                fmt_throughput(r),
                fmt_fraction(r),
                "-" if r.ratio_vs_numpy is None else f"{r.ratio_vs_numpy:.2f}x",
                err,
                _check(r),
                ", ".join(r.warnings),
            )
        )
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    right = {2, 3, 4, 5, 6, 7, 8, 9}

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


def _names(rows: list[Result], limit: int = 8) -> str:
    names = [f"{r.workload}/{r.target}" for r in rows]
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


def legend(
    results: list[Result], ceilings: dict[str, Any], noise: float, load_cpus: float
) -> list[str]:
    """The lines under the table that explain its markers and warnings (only those present)."""
    timed = [r for r in results if r.median_s is not None]
    out = []
    if timed:
        out.append(
            "min / median / max: seconds per call over the row's samples (a short call is "
            "repeated in a loop and each sample is that loop's average)"
        )
    above = [r for r in timed if r.fraction_of_ceiling is not None and r.fraction_of_ceiling > 1]
    if above:
        l3 = ceilings.get("l3_bytes")
        cached = [r for r in above if r.fits_in_l3]
        out.append(
            f"* of ceil above 100 %: the ceilings are numpy's BLAS matmul (the cpu backend's "
            f"own OpenBLAS for its rows) and a "
            f"{ceilings['memcpy_bytes'] >> 20} MiB memory copy (DRAM bandwidth, read + write). "
            "Data that fits in a cache moves faster than DRAM"
            + (
                f"; these rows move at most one L3 ({l3 >> 20} MiB) per call: {_names(cached)}"
                if cached and l3
                else ""
            )
            + ". Above 100 % is expected there; elsewhere it means the ceiling was measured "
            "while the machine was busier than during the row."
        )
    noisy = [r for r in timed if "noisy" in r.warnings]
    if noisy:
        out.append(
            f"noisy ({len(noisy)} rows): the middle half of the samples still spans more than "
            f"{noise:.0%} of the median after extra samples (see min / max): "
            f"{_names(noisy)}"
        )
    loaded = [r for r in timed if "loaded" in r.warnings]
    if loaded:
        worst = max((r.load or {}).get("other_cpus") or 0.0 for r in loaded)
        out.append(
            f"loaded ({len(loaded)} rows): other processes kept {load_cpus:g} CPUs or more "
            f"busy while the row ran (at most {worst:.1f} of {os.cpu_count()}); "
            "its times are slower than on an idle machine by an unknown factor"
        )
    single = [r for r in timed if "1 sample" in r.warnings]
    if single:
        out.append(
            f"1 sample ({len(single)} rows): timed once (a long call, or --repeats 1); "
            "the spread is unknown"
        )
    if noisy or loaded:
        out.append(
            f"{len({id(r) for r in noisy + loaded})} of {len(timed)} timed rows carry a "
            "noise warning: treat their times and ratios as rough; for numbers to quote, rerun "
            "on an idle machine"
        )
    return out


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
    config: Any = None,
) -> dict[str, Any]:
    """The machine-readable report (schema in this module's docstring); ``config`` is the
    run's :class:`bench.runner.Config` (its sampling settings go under ``"sampling"``)."""
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
            "cpu_model": stats.cpu_model(),
            "ceilings": ceilings,
        },
        "sampling": None if config is None else sampling_settings(config),
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
            "noisy": [f"{r.workload}/{r.target}" for r in results if "noisy" in r.warnings],
            "loaded": [f"{r.workload}/{r.target}" for r in results if "loaded" in r.warnings],
        },
    }


def sampling_settings(config: Any) -> dict[str, Any]:
    """The sampling rules a run used (for the JSON and the header)."""
    return {
        "repeats": config.repeats,
        "max_repeats": max(config.repeats, config.max_repeats),
        "noise_threshold": config.noise,
        "load_threshold_cpus": config.load_cpus,
        "adaptive_budget_s": config.adaptive_budget_s,
        "extra_budget_s": config.extra_budget_s,
        "extra_spent_s": round(config.extra_spent_s, 3),
        "min_sample_s": config.min_sample_s,
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


def plot_subtitle(quick: bool, targets: list[str]) -> str:
    """The plot's subtitle: the machine (CPU model, cores) and the mode (quick/full, targets)."""
    return (
        f"{stats.cpu_model()}, {os.cpu_count()} cores; "
        f"{'--quick' if quick else 'full'} run; targets: {', '.join(targets)}"
    )


def _whiskers(r: Result, base: Result | None, use_ratio: bool) -> tuple[float, float] | None:
    """(low, high) around the bar: min..max of the samples; for a ratio, the lowest and highest
    ratio that this row's and the numpy row's samples allow."""
    if r.min_s is None or r.max_s is None:
        return None
    if not use_ratio:
        return r.min_s, r.max_s
    if base is None or base.min_s is None or base.max_s is None:
        return None
    return base.min_s / r.max_s, base.max_s / r.min_s


def figure(results: list[Result], workloads: list[Any], subtitle: str | None = None) -> Any:
    """The plot as a matplotlib Figure (see :func:`plot`); needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    names = [w.name for w in workloads]
    by = {(r.workload, r.target): r for r in results}
    use_ratio = any(r.ratio_vs_numpy is not None and r.target != "numpy" for r in results)
    targets = [
        t for t in dict.fromkeys(r.target for r in results) if not (use_ratio and t == "numpy")
    ]
    fig, ax = plt.subplots(figsize=(min(16, max(8, 0.7 * len(names) + 2)), 6.2))
    colours = {t: f"C{j % 10}" for j, t in enumerate(targets)}
    present = {n: [t for t in targets if (n, t) in by] for n in names}
    width = 0.8 / max([1, *(len(p) for p in present.values())])
    labelled: set[str] = set()
    hatched = False
    for i, n in enumerate(names):
        base = by.get((n, "numpy"))
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
            warned = bool(set(r.warnings) & {"noisy", "loaded"})
            hatched |= warned
            style = {"width": width, "color": colours[t], "label": label,
                     "hatch": "//" if warned else None, "edgecolor": "white"}  # fmt: skip
            if use_ratio:  # bars grow from 1: up is faster than numpy, down is slower
                ax.bar(x, value - 1, bottom=1, **style)
            else:
                ax.bar(x, value, **style)
            whisk = _whiskers(r, base, use_ratio)
            if whisk is not None:
                lo, hi = min(whisk[0], value), max(whisk[1], value)
                ax.errorbar(x, value, yerr=[[value - lo], [hi - value]], fmt="none",
                            ecolor="black", elinewidth=0.8, capsize=2)  # fmt: skip
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel("speed-up over the numpy backend (= 1)" if use_ratio else "median time (s)")
    ax.set_title("tensorweave bench" + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    handles, _ = ax.get_legend_handles_labels()
    if hatched:
        handles.append(Patch(facecolor="white", hatch="//", edgecolor="dimgrey",
                             label="noisy or loaded (see the table)"))  # fmt: skip
    if handles:
        ax.legend(handles=handles, fontsize=8)
    notes = [
        "bars: median; whiskers: "
        + (
            "lowest..highest ratio the samples allow (this row's and numpy's min..max)"
            if use_ratio
            else "fastest..slowest sample"
        )  # fmt: skip
    ]
    if "numpy-ref" in targets:
        notes.append("numpy-ref: the training epoch hand-written in numpy (no tensorweave)")
    fig.text(0.01, 0.01, "\n".join(notes), fontsize=7, ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.02 + 0.02 * len(notes), 1, 1))
    return fig


def plot(
    path: str, results: list[Result], workloads: list[Any], subtitle: str | None = None
) -> None:
    """Write a PNG of grouped bars: per workload, each target's speed-up over the numpy backend
    (log scale) with whiskers for the spread of the samples.

    Without a numpy-backend row a workload shows steady-state time instead; wrong or failed
    results get no bar, only a red label; rows with a noise warning are hatched. ``subtitle``
    names the machine and the mode (:func:`plot_subtitle`).
    """
    import matplotlib.pyplot as plt

    fig = figure(results, workloads, subtitle)
    fig.savefig(path, dpi=120)
    plt.close(fig)
