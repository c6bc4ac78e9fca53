"""First contact (issue 23): what a new user meets before writing any model code.

Importing is quiet, the README's first example runs as pasted, ``summary()`` prints once,
``__version__`` is the installed version, backend names ignore case, caches and data paths
follow the environment (never the source tree or site-packages), and log lines name their
source. Subprocesses give a fresh interpreter where import-time behaviour is under test.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import engine as tw
import layers
from backends import cache
from engine import registry
from layers import datasets

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, *args: str, env: dict | None = None, cwd: Path | None = None, timeout=300):
    """Run ``python <args> -c code`` in a fresh interpreter (cwd outside the source tree unless
    given), returning the completed process."""
    full_env = {**os.environ, **(env or {})}
    for key, value in list(full_env.items()):
        if value is None:
            del full_env[key]
    return subprocess.run(
        [sys.executable, *args, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(cwd) if cwd else None,
        timeout=timeout,
    )


# --- quiet import, logging with a source ------------------------------------------------------
def test_import_and_backend_choice_emit_no_warning(tmp_path):
    # -W error turns any warning (ours or a dependency's) into a failure; the automatic choice
    # runs too, so a backend that cannot start here (cuda without a GPU) must stay quiet
    proc = _run(
        "import engine, layers; print(engine.get_backend())",
        "-W",
        "error",
        env={registry.ENV_VAR: None},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip() in {r["name"] for r in tw.list_backends()}


def test_log_lines_name_their_source_and_debug_stays_quiet(tmp_path):
    code = (
        "import logging, engine\n"
        "engine.get_backend()\n"  # its DEBUG lines must not show
        "logging.getLogger('tensorweave.trace').warning('fit runs eagerly: %s', 'why')\n"
    )
    proc = _run(code, env={registry.ENV_VAR: None}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "tensorweave.trace: WARNING: fit runs eagerly: why\n"
    # an application that configures logging gets the record in its own format, once
    code = (
        "import logging, engine\n"
        "logging.basicConfig(format='APP %(name)s %(message)s')\n"
        "logging.getLogger('tensorweave.trace').warning('once')\n"
    )
    proc = _run(code, cwd=tmp_path)
    assert proc.stderr == "APP tensorweave.trace once\n", proc.stderr


def test_enable_logging_shows_debug_lines_with_their_source():
    from engine.logs import enable_logging

    assert callable(tw.log)  # the natural-log op, not shadowed by the logging module
    logger = logging.getLogger("tensorweave")
    before = logger.level
    handler = enable_logging("debug")
    try:
        assert handler.level == logging.DEBUG and logger.isEnabledFor(logging.DEBUG)
        assert handler.formatter.format(
            logging.LogRecord("tensorweave.registry", logging.DEBUG, "", 0, "msg", (), None)
        ) == ("tensorweave.registry: DEBUG: msg")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        enable_logging("loud")


# --- the README's first example ----------------------------------------------------------------
def _readme_first_python_block() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert match, "README.md has no ```python block"
    return match.group(1)


def test_readme_first_example_runs_as_written(tmp_path):
    src = _readme_first_python_block()
    assert "x_train" in src and "model.fit(" in src  # still the model example
    # run it as pasted, in a folder outside the checkout, on the reference backend (bounded: the
    # example's own data is 1,000 rows and 5 epochs)
    proc = _run(
        src,
        env={registry.ENV_VAR: "numpy", "TENSORWEAVE_CACHE": str(tmp_path / "cache")},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.splitlines()[0] == "numpy"
    assert out.count("Total params: 101,770") == 1  # summary printed once
    val_acc = re.findall(r"^\[([0-9., ]+)\]$", out, re.M)
    assert val_acc, out
    values = [float(v) for v in val_acc[0].split(",")]
    assert len(values) == 5 and values[-1] >= 0.9, values  # the toy task is learnable


# --- summary, version, metadata ------------------------------------------------------------------
def _pyproject() -> dict:
    """pyproject.toml's [project] table (tomllib is in the standard library from 3.11)."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_summary_prints_once_and_returns_none(capsys):
    with tw.backend_scope("numpy"):
        model = layers.sequential([layers.dense(units=2, input_shape=[3])])
        assert model.summary() is None
        printed = capsys.readouterr().out
        assert printed.count("Total params: 8") == 1
        lines: list[str] = []
        assert model.summary(print_fn=lines.append) is None
        assert capsys.readouterr().out == ""  # print_fn replaced print
        assert "\n".join(lines) + "\n" == printed  # one call per line, the same table


def test_version_matches_installed_metadata():
    assert tw.__version__ == importlib.metadata.version("tensorweave")
    declared = _pyproject()["version"]
    assert tw.__version__ == declared


def test_package_metadata_files():
    meta = _pyproject()
    assert meta["license"] == {"text": "Apache-2.0"}
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()
    assert any(c.startswith("License :: OSI Approved :: Apache") for c in meta["classifiers"])
    assert any(d.startswith("platformdirs") for d in meta["dependencies"])
    for pkg in ("engine", "layers", "backends"):
        assert (ROOT / pkg / "py.typed").is_file()
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    # console commands point at callables that exist
    scripts = meta["scripts"]
    assert set(scripts) == {"tensorweave-bench", "tensorweave-info"}
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target


def test_info_command_reports_the_version(capsys):
    from engine.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tensorweave {tw.__version__}"


def test_nothing_in_the_packages_points_outside_the_repository():
    offenders = []
    for pkg in ("engine", "layers", "backends", "bench", "examples"):
        for path in (ROOT / pkg).rglob("*.py"):
            if "shared/spec" in path.read_text():
                offenders.append(str(path.relative_to(ROOT)))
    assert "shared/spec" not in (ROOT / "README.md").read_text()
    assert offenders == []


# --- backend names ignore case -------------------------------------------------------------------
@pytest.fixture
def keep_active_backend(monkeypatch):
    """Restore the active backend after a test that changes it."""
    saved = registry._active
    yield monkeypatch
    registry._active = saved


def test_backend_names_ignore_case(keep_active_backend):
    monkeypatch = keep_active_backend
    assert tw.set_backend("NumPy") is True
    assert tw.get_backend() == "numpy"
    assert tw.find_backend("NUMPY") is tw.find_backend("numpy") is not None
    with tw.backend_scope("NUMPY") as be:
        assert be.name == "numpy" and tw.get_backend() == "numpy"
    monkeypatch.setenv(registry.ENV_VAR, "NUMPY")
    registry.reset_for_tests()
    assert tw.get_backend() == "numpy"
    monkeypatch.setenv(registry.ENV_VAR, "numpyy")
    registry.reset_for_tests()
    with pytest.raises(tw.BackendError, match=r"numpyy.*Did you mean 'numpy'\?"):
        tw.get_backend()
    with pytest.raises(tw.BackendError, match=r"Did you mean 'numpy'\?"):
        tw.set_backend("NUMPYY")


# --- caches and data follow the environment ------------------------------------------------------
def test_cache_dir_follows_tensorweave_cache(tmp_path):
    """numba's machine code for the package's kernels and the generated ones goes under
    ``$TENSORWEAVE_CACHE/numba`` while importing changes no environment variable and no numba
    setting: another module's ``cache=True`` function caches where numba puts it by default, and
    the compile workers get the folder in their own environment (``cache.child_env``)."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "userfn.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n"
    )
    code = (
        "import json, os, sys\n"
        "before = dict(os.environ)\n"
        "import numba.core.config as c\n"
        "from backends import cache\n"
        "from backends.cpu import fusion, kernels as K\n"
        "import userfn\n"
        "print(json.dumps([before == dict(os.environ), os.environ.get('NUMBA_CACHE_DIR'),\n"
        "    c.CACHE_DIR, fusion.cache_dir(), fusion.float_to_int32._cache._cache_path,\n"
        "    K.unary_float._cache._cache_path, userfn.f._cache._cache_path,\n"
        "    cache.child_env()['NUMBA_CACHE_DIR']]))\n"
    )
    root = tmp_path / "twcache"
    path = os.pathsep.join(filter(None, [str(user), os.environ.get("PYTHONPATH")]))
    env = {"TENSORWEAVE_CACHE": str(root), "NUMBA_CACHE_DIR": None, "PYTHONPATH": path}
    proc = _run(code, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    same, numba_env, numba_config, fusion_dir, own, generated, users, child = json.loads(
        proc.stdout.strip().splitlines()[-1]
    )
    assert same and numba_env is None and numba_config == ""
    assert fusion_dir == str(root / "fusion")
    assert own.startswith(str(root / "numba"))  # not __pycache__ beside the sources
    assert generated.startswith(str(root / "numba"))  # the op-table module in the cache
    assert users == str(user / "__pycache__")  # numba's default for other code
    assert child == str(root / "numba")
    # a user's NUMBA_CACHE_DIR wins, even when numba was imported first
    mine = tmp_path / "mine"
    proc = _run(
        "import numba, os\nfrom backends.cpu import fusion\nfrom backends import cache\n"
        "print(os.environ['NUMBA_CACHE_DIR'], fusion.float_to_int32._cache._cache_path)\n"
        "print(cache.child_env()['NUMBA_CACHE_DIR'])",
        env={"TENSORWEAVE_CACHE": str(root), "NUMBA_CACHE_DIR": str(mine)},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    (given, kernel_cache), (child,) = (line.split() for line in proc.stdout.splitlines()[-2:])
    assert given == child == str(mine) and kernel_cache.startswith(str(mine))


def test_cache_root_defaults_to_the_user_cache_dir(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    assert cache.cache_root() == platformdirs.user_cache_dir("tensorweave", appauthor=False)
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "x"))
    assert cache.cache_root() == str(tmp_path / "x")
    assert cache.cache_subdir("fusion") == str(tmp_path / "x" / "fusion")
    assert (tmp_path / "x" / "fusion").is_dir()


def test_data_dir_comes_from_the_environment_with_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="TENSORWEAVE_DATA=.*nowhere.*is not a folder"):
        datasets.data_dir()
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    assert datasets.data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="MNIST file .* is missing.*TENSORWEAVE_DATA"):
        datasets.load_mnist()
    # an installed package (no checkout around it) looks nowhere but the environment
    monkeypatch.delenv(datasets.ENV_VAR)
    monkeypatch.setattr(datasets, "_in_checkout", lambda: False)
    with pytest.raises(FileNotFoundError, match="set TENSORWEAVE_DATA to the folder"):
        datasets.data_dir()
