"""``python -m engine`` (or ``tensorweave-info``): every registered backend, PASS/FAIL with its
reason, and the choice. ``--verbose`` also shows the ``tensorweave`` log lines (DEBUG: why each
backend that failed could not start, which one was selected)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numpy as np

import engine as tw
from engine import registry
from engine.logs import enable_logging


def smoke(name: str) -> str:
    """Run a tiny matmul + softmax + gradient on ``name`` and compare with numpy."""
    with tw.backend_scope(name):
        t0 = time.perf_counter()
        a = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
        x = tw.tensor(a)
        y = tw.softmax(tw.matmul(x, x, transpose_b=True))
        g = tw.grad(lambda v: tw.sum(tw.square(v)))(x)
        ok = np.allclose(g.numpy(), 2 * a, atol=1e-5) and np.allclose(
            y.numpy().sum(-1), 1, atol=1e-5
        )
        ms = (time.perf_counter() - t0) * 1e3
    return f"{'ok' if ok else 'WRONG'} ({ms:.0f} ms)"


def main(argv: list[str] | None = None) -> int:
    """Print the backend table; 0 when a backend was selected, 1 otherwise."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    p = argparse.ArgumentParser(
        prog="python -m engine" if prog in ("", "__main__.py", "-c") else prog,
        description="Every tensorweave backend: PASS/FAIL with the reason, and the one selected.",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show tensorweave's DEBUG log lines on stderr"
    )
    p.add_argument("--version", action="version", version=f"tensorweave {tw.__version__}")
    args = p.parse_args(argv)
    if args.verbose:
        enable_logging(logging.DEBUG)
    try:
        chosen = tw.get_backend()
        choice_error = None
    except registry.BackendError as exc:
        chosen, choice_error = None, str(exc)
    env = os.environ.get(registry.ENV_VAR)
    print(f"tensorweave backends ({registry.ENV_VAR}={env or '<unset>'})")
    for row in tw.list_backends():
        mark = "*" if row["name"] == chosen else " "
        status = "PASS" if row["available"] else "FAIL"
        line = f"{mark} {row['name']:<7} priority {row['priority']:>3}  {status}"
        if row["available"]:
            try:
                line += f"  smoke {smoke(row['name'])}  device: {row['device']}"
            except Exception as exc:  # a backend that starts but computes wrongly
                line += f"  smoke FAILED: {type(exc).__name__}: {exc}"
        else:
            line += f"  {row['reason']}"
        print(line)
    if choice_error:
        print(f"no backend selected: {choice_error}")
        return 1
    print(f"selected: {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
