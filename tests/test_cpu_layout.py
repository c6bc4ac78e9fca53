"""The ``cpu`` package's layout (issue 16 item 4): every module imports on its own (no import
circle), and the process environment is the user's: importing the backend changes nothing,
and starting it only changes what libgomp and OpenBLAS read, restoring ``os.environ`` after."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("numba")

ROOT = pathlib.Path(__file__).resolve().parent.parent
CPU = ROOT / "backends" / "cpu"


def _modules() -> list[str]:
    names = []
    for path in sorted(CPU.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _python(code: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_every_cpu_module_imports_alone():
    """Each module of ``backends/cpu`` imported first, in a process where nothing of the
    project is loaded yet (one process; the project's modules are dropped between imports),
    so a circle broken only by import order would fail here."""
    modules = _modules()
    assert {
        "backends.cpu.launch",
        "backends.cpu.schedule",
        "backends.cpu.steps.program",
        *(f"backends.cpu.primitives.{m}" for m in PRIMITIVE_MODULES.values()),
        "backends.cpu.primitives.common",
    } <= set(modules)
    code = f"""
import importlib, sys
failed = []
for name in {modules!r}:
    for key in [k for k in sys.modules if k.split(".")[0] in ("backends", "engine", "layers")]:
        del sys.modules[key]
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append(f"{{name}}: {{type(e).__name__}}: {{e}}")
print("\\n".join(failed))
"""
    out = _python(code).strip()
    assert out == "", out


#: Where each family of primitives lives (``backends/cpu/primitives/<module>.py``).
PRIMITIVE_MODULES = {
    "from_numpy": "memory",
    "to_numpy": "memory",
    "fill": "memory",
    "unary": "elementwise",
    "binary": "elementwise",
    "where": "elementwise",
    "cast": "elementwise",
    "fused_elementwise": "elementwise",
    "reduce": "reduce",
    "arg_reduce": "reduce",
    "cumsum": "reduce",
    "matmul": "matmul",
    "fused_matmul": "matmul",
    "transpose": "layout",
    "reshape": "layout",
    "slice": "layout",
    "concat": "layout",
    "pad": "layout",
    "gather": "gather_scatter",
    "scatter_add": "gather_scatter",
    "ravel_indices": "gather_scatter",
    "one_hot": "gather_scatter",
    "softmax": "nn",
    "log_softmax": "nn",
    "categorical_crossentropy": "nn",
    "categorical_crossentropy_grad": "nn",
    "conv2d": "nn",
    "fused_conv2d": "nn",
    "conv2d_backprop_filter": "nn",
    "max_pool": "nn",
    "max_pool_grad": "nn",
}


def test_each_primitive_lives_in_the_module_named_for_its_concern():
    """Every primitive and fused kernel ``CpuBackend`` offers is defined in
    ``backends/cpu/primitives/<concern>.py`` (the optimizer updates in ``optim.py``), none in
    ``backend.py``, and no primitive is left to ``Backend``'s raising stub."""
    from backends.base import PRIMITIVES
    from backends.cpu import CpuBackend
    from backends.cpu import kernels as K

    assert CpuBackend.missing_primitives() == []
    expected = dict(PRIMITIVE_MODULES, **{name: "optim" for name in K.OPT_UPDATES})
    offered = set(PRIMITIVES) | set(CpuBackend.fused)
    assert offered == set(expected), sorted(offered ^ set(expected))
    wrong = {
        name: getattr(CpuBackend, name).__module__
        for name, module in expected.items()
        if getattr(CpuBackend, name).__module__ != f"backends.cpu.primitives.{module}"
    }
    assert wrong == {}, wrong


def test_no_private_name_crosses_a_cpu_module():
    """No module of ``backends/cpu`` imports another's underscore name or reads one as an
    attribute of a module it imported (issue 16 item 3)."""
    import re

    one_line = re.compile(r"^\s*from (backends\.cpu[\w.]*) import ([^(\n]+)$", re.M)
    grouped = re.compile(r"^\s*from (backends\.cpu[\w.]*) import \(([^)]*)\)", re.M)
    hits = []
    for path in sorted(CPU.rglob("*.py")):
        text = path.read_text()
        modules = set()
        for source, names in one_line.findall(text) + grouped.findall(text):
            for item in names.split("#")[0].replace("\n", " ").split(","):
                name, _, alias = item.strip().partition(" as ")
                if name.startswith("_"):
                    hits.append(f"{path.name}: from {source} import {name}")
                modules.add(alias or name)
        for name in filter(None, modules):
            hits += [
                f"{path.name}: {name}.{attr}"
                for attr in re.findall(rf"\b{name}\.(_[a-z]\w*)", text)
                if not attr.startswith("__")
            ]
    assert hits == [], hits


def test_compiled_chunks_know_the_primitives_numpy_helpers():
    """``steps/chunk.py`` inlines some numpy launches, recognised by function name; those names
    are the primitives' helpers (a rename there would silently stop chunks compiling)."""
    import re

    from backends.cpu.primitives import common, layout

    source = (CPU / "steps" / "chunk.py").read_text()
    named = set(re.findall(r'getattr\(fn, "__name__", ""\) == "(\w+)"', source))
    helpers = {common.fill_into.__name__, layout.concat_into.__name__}
    assert named == helpers, (named, helpers)


def test_importing_and_starting_the_backend_keeps_os_environ():
    """``import backends.cpu`` changes no environment variable, ``NUMBA_CACHE_DIR`` included
    (numba's folder for the package's kernels is set by a cache locator, and the compile workers
    get it in their own environment: ``backends.cache``); making a ``CpuBackend`` and running a
    parallel kernel and a GEMM leaves ``os.environ`` as it was too, GOMP_SPINCOUNT,
    OPENBLAS_THREAD_TIMEOUT and threadpoolctl's KMP_DUPLICATE_LIB_OK included."""
    unset = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT", "NUMBA_CACHE_DIR")
    env = {k: v for k, v in os.environ.items() if k not in (*unset, "KMP_DUPLICATE_LIB_OK")}
    code = """
import json, os
before = dict(os.environ)
import backends.cpu
imported = dict(os.environ)
import numpy as np
be = backends.cpu.CpuBackend(parallel_threshold=0, adaptive=False)
x = np.arange(1 << 12, dtype=np.float32)
be.unary("neg", x, x.shape, "float32")  # a parallel kernel (the threading layer is loaded)
a = np.ones((64, 64), np.float32)
be.matmul(a[None], (1, 64, 64), a[None], (1, 64, 64), "float32", False, False)
started = dict(os.environ)
print(json.dumps([before == imported, before == started,
                  sorted(set(imported.items()) ^ set(before.items())),
                  sorted(set(started.items()) ^ set(before.items()))]))
"""
    same_import, same_start, diff_import, diff_start = json.loads(
        _python(code, env).strip().splitlines()[-1]
    )
    assert same_import, diff_import
    assert same_start, diff_start


def test_layers_run_traced_steps_through_the_engine_only():
    """``layers/`` hands runs of batches to ``engine.trace`` (``TraceCache.run_steps``) and
    names none of a backend's programs or chunks (issue 16 item 5)."""
    import re

    banned = re.compile(
        r"CHUNK_STEPS|\.program\b|replay_batches|_traced_chunk|train_chunk|backends\.cpu|steps_run"
    )
    hits = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted((ROOT / "layers").glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if banned.search(line)
    ]
    assert hits == [], hits
    assert "run_steps(" in (ROOT / "layers" / "training.py").read_text()
