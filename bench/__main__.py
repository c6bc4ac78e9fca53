"""``python -m bench``: every available backend on the same work, one table.

Usage::

    python -m bench [--quick] [--backends numpy,cpu] [--workloads matmul,train_b32]
                    [--peers torch,jax | --no-peers] [--repeats N] [--max-repeats M]
                    [--noise F] [--data DIR] [--json FILE] [--plot FILE.png] [--list]

Exit status: 0 when every result matched the float64 numpy oracle, 1 when any target computed
a wrong result or raised, 2 on a usage error. Progress goes to stderr, the table to stdout.
Noise never changes the exit status: rows timed while the spread stayed wide or the machine
was busy carry a warning in the table and the JSON instead.
See ``bench/README.md`` for the workloads, the method and the JSON schema (``bench.report``).
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np

import engine as tw
from bench import peers, report, runner, stats
from bench.common import Target
from bench.workloads import all_workloads, select


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Compare tensorweave's backends (and optional peers) on the same work.",
    )
    p.add_argument(
        "--backends",
        type=_csv,
        default=None,
        help="comma-separated backend names (default: every available one)",
    )
    p.add_argument(
        "--workloads",
        type=_csv,
        default=None,
        help="comma-separated workload names, groups or fnmatch patterns",
    )
    p.add_argument(
        "--peers",
        type=_csv,
        default=None,
        help=f"peer frameworks for the training rows (default: installed of {','.join(peers.PEERS)})",
    )
    p.add_argument("--no-peers", action="store_true", help="skip torch/jax peers")
    cold = p.add_mutually_exclusive_group()
    cold.add_argument(
        "--cold",
        action="store_true",
        help="add the cold-start rows to a --quick run (a full run has them)",
    )
    cold.add_argument(
        "--no-cold",
        action="store_true",
        help="skip the cold-start rows (each train workload's first epoch in a fresh process)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats (< 1 min)")
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed samples per row to start with (default 7, quick 3); alone, exactly this many",
    )
    p.add_argument(
        "--max-repeats",
        type=int,
        default=None,
        help="at most this many samples for a noisy row (default 21, quick 7)",
    )
    p.add_argument(
        "--noise",
        type=float,
        default=None,
        metavar="F",
        help="spread (interquartile range / median) above which a row gets more samples and "
        "then a 'noisy' warning (default 0.10)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="MNIST folder (default $TENSORWEAVE_DATA/mnist; in a source checkout "
        "../shared/data/mnist; synthetic data when absent)",
    )
    p.add_argument("--json", metavar="FILE", default=None, help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png", default=None, help="bar chart (needs matplotlib)")
    p.add_argument("--list", action="store_true", help="list workloads and backends, then exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)  # fmt: skip
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be at least 1")
    if args.max_repeats is not None:
        start = args.repeats or (3 if args.quick else 7)
        if args.max_repeats < start:
            p.error(f"--max-repeats {args.max_repeats} is below the starting --repeats {start}")
    if args.noise is not None and not 0 <= args.noise < 10:
        p.error(f"--noise must be a fraction between 0 and 10, got {args.noise}")
    if args.peers is not None:
        bad = [n for n in args.peers if n not in peers.PEERS]
        if bad:
            p.error(f"unknown peer {bad[0]!r}; known peers: {', '.join(peers.PEERS)}")
    return args


def _backend_rows() -> list[dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tw.list_backends()


def _unknown(name: str, names: list[str]) -> str:
    msg = f"unknown backend {name!r}; registered backends: {', '.join(sorted(names))}"
    hint = difflib.get_close_matches(name, names, n=1)
    return msg + (f". Did you mean {hint[0]!r}?" if hint else "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    say = (
        (lambda _m: None)
        if args.quiet
        else (lambda m: print(f"bench: {m}", file=sys.stderr, flush=True))
    )

    def fail(msg: str) -> int:
        print(f"python -m bench: error: {msg}", file=sys.stderr)
        return 2

    if args.plot:
        problem = report.check_matplotlib()
        if problem:
            return fail(problem)
    for path in (args.json, args.plot):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            return fail(f"cannot write {path}: no folder {folder}")
    rows = _backend_rows()
    names = [r["name"] for r in rows]
    wanted = args.backends or names
    for n in wanted:
        if n not in names:
            return fail(_unknown(n, names))
    rows = [r for r in rows if r["name"] in wanted]
    rows.sort(key=lambda r: r["name"] != "numpy")  # the baseline first, then by priority
    try:
        workloads = select(all_workloads(args.quick, args.data), args.workloads)
    except ValueError as exc:
        return fail(str(exc))

    if args.list:
        for w in workloads:
            print(f"{w.name:<14} {w.group:<12} {w.description}")
        for r in rows:
            state = r["device"] if r["available"] else f"unavailable: {r['reason']}"
            print(f"backend {r['name']:<8} {state}")
        return 0

    training = any(w.group == "train" for w in workloads)
    targets, info = _targets(rows, args, training)
    if not any(t.kind == "backend" for t in targets):
        return fail("no requested backend is available: "
                    + "; ".join(f"{r['name']}: {r['reason']}" for r in rows))  # fmt: skip

    started = time.perf_counter()
    monitor = stats.LoadMonitor()
    load_start = stats.loadavg_1m()
    say("measuring the machine's ceilings (numpy BLAS, memory copy)")
    # the cpu backend's own GEMM peak is measured after the rows: with an empty cache its
    # split GEMM is still being compiled on the other core now, which halves it
    ceilings = runner.measure_ceilings(args.quick, cpu_gemm=False)
    train_data = ""
    if training:
        train_data = next(w for w in workloads if w.group == "train").data()[2]
        say(f"training data: {train_data}")
    jobs = [(w, t) for w in workloads for t in targets if w.group == "train" or t.kind == "backend"]
    extra = {} if args.noise is None else {"noise": args.noise}
    cfg = runner.Config.make(args.quick, args.repeats, args.max_repeats, **extra)
    # steady state is the long-run speed: the cpu backend compiles its training loop after 128
    # steps as a long fit does, instead of weighing each 1-epoch fit against the compile (its
    # cost model; the cold-start rows below keep it, as a user's first fit has it)
    forced = "TENSORWEAVE_COMPILE_AFTER" not in os.environ
    if forced:
        os.environ["TENSORWEAVE_COMPILE_AFTER"] = "128"
    try:
        results = _run(jobs, cfg, say, monitor)
    finally:
        if forced:
            del os.environ["TENSORWEAVE_COMPILE_AFTER"]
    if any(t.name == "cpu" and t.kind == "backend" for t in targets):
        peak, which = runner.cpu_gemm_gflops(
            runner.ceiling_sizes(args.quick), ceilings["blas_gflops"]
        )
        ceilings.update(cpu_gemm_gflops=peak, cpu_gemm_blas=which)
    runner.fill_derived(results, {w.name: w for w in workloads}, ceilings)
    bad = [r for r in results if r.status in ("wrong", "error")]
    code = 1 if bad else 0

    print(_header(args, ceilings, train_data, info, cfg, load_start))
    print(report.table(results))
    explained = report.legend(results, ceilings, cfg.noise, cfg.load_cpus)
    if explained:
        print("\n".join(explained))
    print("\nfirst call minus steady state (compile, caches), summed per target:")
    print("\n".join(report.overhead_lines(results)) or "  (none)")
    skipped = sum(r.status == "skipped" for r in results)
    print(f"\n{len(results)} rows in {time.perf_counter() - started:.1f} s; ", end="")
    if bad:
        print("WRONG or failed: " + ", ".join(f"{r.workload}/{r.target}" for r in bad))
    else:
        print("every result matched the float64 numpy oracle"
              + (f" ({skipped} rows skipped, see notes)" if skipped else ""))  # fmt: skip
    cold_rows: list[dict[str, Any]] = []
    dp_row: dict[str, Any] | None = None
    if training and (args.cold or not (args.quick or args.no_cold)):
        # issue 17: each train workload's first epoch in a fresh process with empty caches,
        # on every target that ran (bench/coldstart.py; not in --quick unless --cold)
        from bench import coldstart

        ran = [t.name for t in targets if t.kind != "reference"]
        trains = [w.name for w in workloads if w.group == "train"]
        cold_rows = coldstart.rows(trains, ran, args.quick, args.data, say)
        print("\n" + "\n".join(coldstart.table(cold_rows)))
        if any("error" in r for r in cold_rows):  # a first run that fails is a failure
            code = 1
    if training and not args.quick and not args.workloads:
        # issue 22: W1 at 1 and 2 MPI ranks (bench/distributed.py; a line saying why when
        # mpi4py is absent). Not in --quick: it starts two mpiexec jobs (~10 s).
        from bench import distributed as data_parallel

        dp_backend = "cpu" if "cpu" in wanted else wanted[0]
        say(f"data-parallel row: mpiexec -n 1 and -n 2 on {dp_backend}")
        try:
            dp_row = data_parallel.measure(dp_backend, None, args.data)
            print("\n" + "\n".join(data_parallel.lines(dp_row)))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            dp_row = {"error": str(exc)}
            print(f"\ndata-parallel: failed: {exc}")
    if args.json:
        doc = report.document(
            argv, args.quick, code, ceilings, train_data, info, workloads, results, cfg
        )
        doc["cold_start"] = cold_rows  # [] when not run (--quick, --no-cold)
        doc["data_parallel"] = dp_row  # bench/distributed.measure(); None when not run
        report.write_json(args.json, doc)
        say(f"wrote {args.json}")
    if args.plot:
        ran = list(dict.fromkeys(r.target for r in results))
        report.plot(args.plot, results, workloads, report.plot_subtitle(args.quick, ran))
        say(f"wrote {args.plot}")
    return code


def _targets(
    rows: list[dict[str, Any]], args: argparse.Namespace, training: bool
) -> tuple[list[Target], list[dict[str, Any]]]:
    """What runs (available backends, then the numpy reference and installed peers for the
    training rows) and what the report says about every candidate, available or not."""
    targets: list[Target] = []
    info: list[dict[str, Any]] = []
    for r in rows:
        info.append({"name": r["name"], "kind": "backend", "available": r["available"],
                     "reason": r["reason"], "device": r["device"], "priority": r["priority"],
                     "ran": r["available"]})  # fmt: skip
        if r["available"]:
            targets.append(Target(r["name"], "backend", r["device"]))
    if not training or not targets:
        return targets, info
    targets.append(Target("numpy-ref", "reference", "hand-written numpy epoch"))
    info.append({"name": "numpy-ref", "kind": "reference", "available": True, "reason": None,
                 "device": "hand-written numpy (no autodiff)", "priority": None, "ran": True})  # fmt: skip
    for name in [] if args.no_peers else (args.peers or list(peers.PEERS)):
        ok, detail = peers.probe(name)
        info.append({"name": name, "kind": "peer", "available": ok,
                     "reason": None if ok else detail, "device": detail if ok else "",
                     "priority": None, "ran": ok})  # fmt: skip
        if ok:
            targets.append(Target(name, "peer", detail, peers.module(name)))
    return targets, info


def _run(
    jobs: list[tuple[Any, Target]], cfg: runner.Config, say, monitor: stats.LoadMonitor
) -> list[runner.Result]:
    """Measure every (workload, target) pair in order, reporting progress."""
    results: list[runner.Result] = []
    for i, (w, t) in enumerate(jobs, 1):
        say(f"[{i}/{len(jobs)}] {w.name} on {t.name} ...")
        t0 = time.perf_counter()
        res = runner.measure(w, t, cfg, monitor)
        spent = f"[{time.perf_counter() - t0:.1f} s]"
        if res is None:
            continue
        results.append(res)
        if res.status == "ok":
            first = report.fmt_time(res.first_call_s)
            warn = f" [{', '.join(res.warnings)}]" if res.warnings else ""
            say(f"    {report.fmt_time(res.median_s)} (first call {first}, {res.repeats} "
                f"samples) {spent}{warn}")  # fmt: skip
        else:
            why = res.note or f"max rel err {res.max_rel_err:.2e}"
            say(f"    {res.status.upper()}: {why} {spent}")
    return results


def _header(
    args: argparse.Namespace,
    ceilings: dict,
    train_data: str,
    info: list[dict],
    cfg: runner.Config,
    load_start: float | None,
) -> str:
    load = "unknown" if load_start is None else f"{load_start:.2f}"
    lines = [
        f"tensorweave bench{' --quick' if args.quick else ''}: {stats.cpu_model()}, "
        f"{os.cpu_count()} cores, numpy {np.__version__}, python {sys.version.split()[0]}; "
        f"1-minute load average at the start {load}",
        f"machine ceilings: numpy BLAS {ceilings['blas_gflops']:.1f} GFLOP/s (float32 "
        f"{ceilings['blas_size']}^3 matmul), memory copy {ceilings['memcpy_gbps']:.1f} GB/s "
        "(read + write)",
    ]
    if ceilings.get("cpu_gemm_gflops"):
        lines.append(
            f"cpu backend's GEMMs: {ceilings['cpu_gemm_gflops']:.1f} GFLOP/s (float32, same "
            f"sizes, measured after the rows); {ceilings['cpu_gemm_blas']}"
        )
    for t in info:
        if t["kind"] == "reference":
            continue
        kind = "peer" if t["kind"] == "peer" else "backend"
        state = t["device"] if t["available"] else f"unavailable: {t['reason']}"
        lines.append(f"  {kind} {t['name']:<8} {state}")
    if train_data:
        lines.append(f"training data: {train_data}")
    if not any(t["name"] == "numpy" and t["kind"] == "backend" and t["ran"] for t in info):
        lines.append("vs numpy: not computed, the numpy backend is not in this run (--backends)")
    lines.append(
        "median: steady state per call after warm-up; first call: compilation included; "
        "vs numpy: numpy backend time / this time"
    )
    if cfg.max_repeats > cfg.repeats:
        lines.append(
            f"samples: {cfg.repeats} per row, up to {cfg.max_repeats} while the interquartile "
            f"range exceeds {cfg.noise:.0%} of the median (time-capped); warnings: noisy = "
            f"still wider, loaded = other processes busy on {cfg.load_cpus:g}+ CPUs"
        )
    else:
        lines.append(
            f"samples: {cfg.repeats} per row (fixed); warnings: noisy = interquartile range "
            f"over {cfg.noise:.0%} of the median, loaded = other processes busy on "
            f"{cfg.load_cpus:g}+ CPUs"
        )
    lines.append(
        "max rel err: max|got - ref| / max|ref| against a float64 numpy oracle"
        + (" (train: weights after 4 batches; the full epoch must also be within 5e-2)"
           if train_data else "")
    )  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
