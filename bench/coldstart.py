"""Cold-start rows of ``python -m bench`` (issue 17): what a new user waits for.

For each training workload (``train_b32``, ``train_b256``, ``train_cnn``) and each target
(every available engine backend; ``torch`` and ``jax`` when installed), a fresh Python process
with empty caches builds the model and trains ONE epoch, the first one, on the same data and
from the same weights as the steady-state rows. Empty caches: ``TENSORWEAVE_CACHE`` (numba's
machine code, generated kernels, compiled training loops), PoCL's and PyOpenCL's kernel caches
(``POCL_CACHE_DIR``, ``XDG_CACHE_HOME``), torch inductor's and Triton's
(``TORCHINDUCTOR_CACHE_DIR``, ``TRITON_CACHE_DIR``) all point into a new temporary folder,
removed afterwards. JAX keeps no disk cache unless configured to.

Columns: ``first epoch`` (the first ``fit`` / epoch call, compiles included), ``setup``
(building the model, loading the data), ``process`` (the whole process: interpreter start,
imports, setup, first epoch). The first epoch's loss is checked for finiteness only: the
steady-state rows check results against the oracle.

Run by ``python -m bench`` (not ``--quick``: about 20 processes take minutes, see
``bench/README.md``; ``--cold`` adds them to a quick run, ``--no-cold`` drops them); by hand:
``python -m bench.coldstart [--quick] [--backends cpu,numpy] [--workloads train_b32]``. Each
process runs ``python -m bench.coldstart --worker WORKLOAD TARGET`` and prints one
``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

TIMEOUT_S = 600.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(workload: str, target: str, quick: bool, data: str | None) -> dict[str, Any]:
    """In the fresh process: set up ``workload`` on ``target``, time its first epoch."""
    t0 = time.perf_counter()
    from bench import peers, runner
    from bench.common import Target
    from bench.workloads import all_workloads

    (w,) = [w for w in all_workloads(quick, data) if w.name == workload]
    if target in peers.PEERS:
        ok, detail = peers.probe(target)
        if not ok:
            return {"skipped": detail}
        tgt = Target(target, "peer", detail, peers.module(target))
    else:
        import engine as tw

        tgt = Target(target, "backend", tw.find_backend(target).device_info())
    with runner._scope(tgt):
        w.data()
        prepared = w.prepare(tgt)
        t1 = time.perf_counter()
        loss = prepared.call()
        tgt.sync()
        t2 = time.perf_counter()
    return {
        "setup_s": t1 - t0,
        "first_epoch_s": t2 - t1,
        "loss": float(loss) if loss is not None else None,
    }


def run_one(workload: str, target: str, quick: bool, data: str | None) -> dict[str, Any]:
    """One cold process; its ``RESULT`` plus ``process_s`` (or ``error``)."""
    tmp = tempfile.mkdtemp(prefix="tw-cold-")
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)
    env.update(
        TENSORWEAVE_CACHE=os.path.join(tmp, "tensorweave"),
        POCL_CACHE_DIR=os.path.join(tmp, "pocl"),
        XDG_CACHE_HOME=tmp,
        TORCHINDUCTOR_CACHE_DIR=os.path.join(tmp, "inductor"),
        TRITON_CACHE_DIR=os.path.join(tmp, "triton"),
        PYTHONPATH=os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")])),
    )
    cmd = [sys.executable, "-m", "bench.coldstart", "--worker", workload, target]
    cmd += (["--quick"] if quick else []) + (["--data", data] if data else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT_S, cwd=tmp
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result in {TIMEOUT_S:.0f} s"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    took = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            out = json.loads(line[len("RESULT ") :])
            out["process_s"] = took
            return out
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit status {proc.returncode}: {tail}"}


def rows(
    workloads: list[str], targets: list[str], quick: bool, data: str | None, say: Any = None
) -> list[dict[str, Any]]:
    """Every (workload, target) cold run, in order; ``say(message)`` reports progress."""
    out = []
    for w in workloads:
        for t in targets:
            if say:
                say(f"cold start: {w} on {t} (fresh process, empty caches) ...")
            r = run_one(w, t, quick, data)
            r.update(workload=w, target=t)
            out.append(r)
    return out


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


def table(results: list[dict[str, Any]]) -> list[str]:
    """The section's lines."""
    lines = [
        "cold start: first epoch in a fresh process with empty caches (compiles included)",
        f"  {'workload':<11} {'target':<8} {'first epoch':>12} {'setup':>9} {'process':>9}",
    ]
    for r in results:
        head = f"  {r['workload']:<11} {r['target']:<8}"
        if "skipped" in r:
            lines.append(f"{head} skipped: {r['skipped']}")
        elif "error" in r:
            lines.append(f"{head} ERROR: {r['error']}")
        else:
            bad = r.get("loss") is not None and not math.isfinite(r["loss"])
            lines.append(
                f"{head} {_s(r['first_epoch_s']):>12} {_s(r['setup_s']):>9} "
                f"{_s(r['process_s']):>9}" + ("  (loss not finite)" if bad else "")
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.coldstart", description=__doc__.split("\n")[0]
    )
    p.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "TARGET"), help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="the --quick sample counts")
    p.add_argument("--data", default=None, help="MNIST folder")
    p.add_argument("--backends", default=None, help="comma-separated (default: every available)")
    p.add_argument("--workloads", default="train_b32,train_b256,train_cnn")
    p.add_argument("--no-peers", action="store_true", help="skip torch/jax")
    args = p.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(*args.worker, args.quick, args.data)), flush=True)
        return 0
    import engine as tw
    from bench import peers

    targets = (
        args.backends.split(",")
        if args.backends
        else [r["name"] for r in tw.list_backends() if r["available"]]
    )
    if not args.no_peers:
        targets += [n for n in peers.PEERS if peers.probe(n)[0]]
    res = rows(
        args.workloads.split(","),
        targets,
        args.quick,
        args.data,
        lambda m: print(f"bench: {m}", file=sys.stderr, flush=True),
    )
    print("\n".join(table(res)))
    return 1 if any("error" in r for r in res) else 0


if __name__ == "__main__":
    sys.exit(main())
