"""Backend registry semantics (tfjs-compat.md §1) with fake backends, data movement between
backends, and ``python -m engine``.

Registry state is global: the ``registry_sandbox`` fixture empties it for a test and restores
it afterwards, so nothing here leaks into other tests.
"""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from _oracle import check

import engine as tw
from backends.base import PRIMITIVES, Backend
from backends.numpy import NumpyBackend
from engine import registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry_sandbox(monkeypatch):
    """An empty registry (builtins marked loaded so they stay out), restored afterwards."""
    saved = (dict(registry._entries), registry._active, registry._order, registry._builtins_loaded)
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    registry._entries.clear()
    registry._active = None
    registry._builtins_loaded = True
    try:
        yield registry
    finally:
        registry._entries.clear()
        registry._entries.update(saved[0])
        registry._active, registry._order, registry._builtins_loaded = saved[1:]


def fake_backend_class(name: str, omit: tuple[str, ...] = ()) -> type[Backend]:
    """A Backend subclass named ``name`` delegating every primitive to numpy, counting calls."""

    def delegate(prim):
        def method(self, *args, **kwargs):
            self.calls[prim] += 1
            return getattr(self._np, prim)(*args, **kwargs)

        method.__name__ = prim
        return method

    ns = {p: delegate(p) for p in PRIMITIVES if p not in omit}

    def __init__(self):
        self._np = NumpyBackend()
        self.calls = Counter()

    ns["__init__"] = __init__
    ns["name"] = name
    ns["device_info"] = lambda self: f"fake device {name}"
    return type(f"Fake{name.title()}Backend", (Backend,), ns)


def make_factory(name: str, log: list | None = None, omit: tuple[str, ...] = ()):
    cls = fake_backend_class(name, omit)

    def factory():
        if log is not None:
            log.append(name)
        return cls()

    return factory


def failing_factory(message: str):
    def factory():
        raise RuntimeError(message)

    return factory


# --- selection -----------------------------------------------------------------------------------
def test_highest_priority_wins(registry_sandbox):
    tw.register_backend("low", make_factory("low"), 1)
    tw.register_backend("high", make_factory("high"), 5)
    tw.register_backend("mid", make_factory("mid"), 3)
    assert tw.get_backend() == "high"
    assert [r["name"] for r in tw.list_backends()] == ["high", "mid", "low"]


def test_default_priority_is_one_and_ties_go_to_first_registered(registry_sandbox):
    tw.register_backend("first", make_factory("first"))
    tw.register_backend("second", make_factory("second"))
    tw.register_backend("third", make_factory("third"), 1)
    assert tw.get_backend() == "first"
    assert {r["name"]: r["priority"] for r in tw.list_backends()} == {
        "first": 1,
        "second": 1,
        "third": 1,
    }


def test_duplicate_name_keeps_first(registry_sandbox):
    assert tw.register_backend("dup", make_factory("dup"), 2) is True
    with pytest.warns(UserWarning, match="'dup' is already registered; keeping the first"):
        assert tw.register_backend("dup", failing_factory("second factory used"), 9) is False
    assert tw.get_backend() == "dup"
    assert tw.list_backends()[0]["priority"] == 2


def test_register_rejects_bad_names(registry_sandbox):
    with pytest.raises(ValueError, match="non-empty string"):
        tw.register_backend("", make_factory("x"))


def _quiet_selection(caplog) -> str:
    """Run automatic selection: no warning may be emitted; returns the DEBUG log text of the
    ``tensorweave.registry`` logger (where unavailable backends are reported)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.DEBUG, logger="tensorweave.registry"):
            try:
                tw.get_backend()
            finally:
                text = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records)
    return text


def test_failing_factory_skipped_quietly_and_logged(registry_sandbox, caplog):
    tw.register_backend("broken", failing_factory("no device found"), 10)
    tw.register_backend("works", make_factory("works"), 1)
    text = _quiet_selection(caplog)
    assert tw.get_backend() == "works"
    assert (
        "tensorweave.registry DEBUG backend 'broken' is unavailable: "
        "RuntimeError: no device found" in text
    )
    row = {r["name"]: r for r in tw.list_backends()}["broken"]
    assert row["available"] is False and "no device found" in row["reason"]
    assert tw.find_backend("broken") is None


def test_factory_returning_non_backend_is_unavailable(registry_sandbox, caplog):
    tw.register_backend("weird", lambda: object(), 3)
    tw.register_backend("ok", make_factory("ok"))
    assert "expected a Backend" in _quiet_selection(caplog)
    assert tw.get_backend() == "ok"


def test_missing_primitives_rejected_listing_them(registry_sandbox, caplog):
    tw.register_backend("partial", make_factory("partial", omit=("cumsum", "pad")), 5)
    tw.register_backend("full", make_factory("full"), 1)
    assert "missing primitives: cumsum, pad" in _quiet_selection(caplog)
    assert tw.get_backend() == "full"
    with pytest.raises(
        tw.BackendError, match="'partial' cannot start: .*missing primitives: cumsum, pad"
    ):
        tw.set_backend("partial")
    assert fake_backend_class("x", omit=("gather",)).missing_primitives() == ["gather"]
    assert fake_backend_class("y").missing_primitives() == []


def test_no_backend_at_all(registry_sandbox, caplog):
    tw.register_backend("a", failing_factory("nope"))
    with pytest.raises(tw.BackendError, match="no backend could start: a: RuntimeError: nope"):
        _quiet_selection(caplog)  # the failure itself is loud; the log has the detail too
    assert "backend 'a' is unavailable: RuntimeError: nope" in caplog.text


def test_get_backend_known_before_any_op_and_factories_are_lazy(registry_sandbox):
    log: list = []
    tw.register_backend("lazy_a", make_factory("lazy_a", log), 2)
    tw.register_backend("lazy_b", make_factory("lazy_b", log), 1)
    assert log == []  # registration runs nothing
    assert tw.get_backend() == "lazy_a"  # chosen synchronously, no op has run
    assert log == ["lazy_a"]  # only the winner was started
    assert tw.backend().calls == Counter()
    tw.get_backend()
    assert log == ["lazy_a"]  # started once


def test_callable_priority(registry_sandbox):
    tw.register_backend("probed", make_factory("probed"), lambda: 7)
    tw.register_backend("static", make_factory("static"), 5)
    tw.register_backend("bad_probe", make_factory("bad_probe"), lambda: 1 / 0)
    assert tw.get_backend() == "probed"
    rows = tw.list_backends()
    assert [r["name"] for r in rows] == ["probed", "static", "bad_probe"]
    assert rows[0]["priority"] == 7


def test_python_m_engine_subprocess_equivalent_in_process(registry_sandbox):
    tw.register_backend("one", make_factory("one"), 2)
    tw.register_backend("two", failing_factory("driver missing"), 3)
    rows = {r["name"]: r for r in tw.list_backends()}
    assert rows["one"]["available"] and rows["one"]["device"] == "fake device one"
    assert not rows["two"]["available"] and "driver missing" in rows["two"]["reason"]


# --- explicit choice: env var and set_backend are strict ---------------------------------------------
def test_env_override_selects(registry_sandbox, monkeypatch):
    tw.register_backend("best", make_factory("best"), 10)
    tw.register_backend("chosen", make_factory("chosen"), 1)
    monkeypatch.setenv(registry.ENV_VAR, "chosen")
    assert tw.get_backend() == "chosen"


def test_env_override_unknown_name_raises_with_hint(registry_sandbox, monkeypatch):
    tw.register_backend("opencl_fake", make_factory("opencl_fake"), 1)
    tw.register_backend("numpy_fake", make_factory("numpy_fake"), 1)
    monkeypatch.setenv(registry.ENV_VAR, "numpy_fak")
    with pytest.raises(tw.BackendError) as info:
        tw.get_backend()
    msg = str(info.value)
    assert "TENSORWEAVE_BACKEND=numpy_fak" in msg
    assert "registered backends: numpy_fake, opencl_fake" in msg
    assert "Did you mean 'numpy_fake'?" in msg
    assert registry._active is None  # nothing was chosen behind the user's back


def test_env_override_failing_backend_raises_never_falls_back(registry_sandbox, monkeypatch):
    tw.register_backend("fallback", make_factory("fallback"), 10)
    tw.register_backend("wanted", failing_factory("GPU out of memory"), 1)
    monkeypatch.setenv(registry.ENV_VAR, "wanted")
    for _ in range(2):  # stays strict on a second call too
        with pytest.raises(
            tw.BackendError, match="'wanted' cannot start: RuntimeError: GPU out of memory"
        ):
            tw.get_backend()
    with pytest.raises(tw.BackendError, match="GPU out of memory"):
        tw.tensor([1.0])  # an op does not fall back either


def test_set_backend_and_errors(registry_sandbox):
    tw.register_backend("a", make_factory("a"), 2)
    tw.register_backend("b", make_factory("b"), 1)
    tw.register_backend("bad", failing_factory("kaputt"), 0)
    assert tw.get_backend() == "a"
    assert tw.set_backend("b") is True
    assert tw.get_backend() == "b" and tw.backend().name == "b"
    with pytest.raises(
        tw.BackendError, match="set_backend: unknown backend 'c'; registered backends: a, b, bad"
    ):
        tw.set_backend("c")
    with pytest.raises(tw.BackendError, match="Did you mean 'bad'"):
        tw.set_backend("bda")
    with pytest.raises(
        tw.BackendError,
        match="'bad' cannot start: RuntimeError: kaputt.*Registered backends: a, b, bad",
    ):
        tw.set_backend("bad")
    assert tw.get_backend() == "b"  # a failed switch leaves the choice alone


def test_backend_scope_restores(registry_sandbox):
    tw.register_backend("outer", make_factory("outer"), 2)
    tw.register_backend("inner", make_factory("inner"), 1)
    assert tw.get_backend() == "outer"
    with tw.backend_scope("inner") as be:
        assert be.name == "inner" and tw.get_backend() == "inner"
        with tw.backend_scope("outer"):
            assert tw.get_backend() == "outer"
        assert tw.get_backend() == "inner"
    assert tw.get_backend() == "outer"
    with pytest.raises(RuntimeError, match="boom"), tw.backend_scope("inner"):
        raise RuntimeError("boom")
    assert tw.get_backend() == "outer"


def test_remove_backend(registry_sandbox):
    tw.register_backend("x", make_factory("x"), 2)
    tw.register_backend("y", make_factory("y"), 1)
    assert tw.get_backend() == "x"
    tw.remove_backend("x")
    assert tw.get_backend() == "y"
    with pytest.raises(tw.BackendError, match="unknown backend 'x'"):
        tw.remove_backend("x")


# --- kernels run on the active backend; data moves when needed ----------------------------------
def test_ops_run_on_the_active_backend(registry_sandbox):
    tw.register_backend("k1", make_factory("k1"), 1)
    t = tw.tensor([1.0, 2.0])
    y = tw.exp(t)
    assert y.backend == "k1"
    assert tw.backend().calls["unary"] == 1
    check(y, np.exp([1.0, 2.0]), "float32")


def test_data_moves_between_backends_and_is_counted(registry_sandbox):
    tw.register_backend("left", make_factory("left"), 2)
    tw.register_backend("right", make_factory("right"), 1)
    x = tw.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert x.backend == "left"
    moves = tw.memory()["num_moves"]
    before_counts = tw.memory()["backends"]
    with tw.backend_scope("right") as right:
        assert x.backend == "left"  # switching moves nothing by itself
        assert tw.memory()["num_moves"] == moves
        y = x * 2.0
        assert y.backend == "right" and x.backend == "right"  # moved on first read
        assert right.calls["from_numpy"] >= 1
    assert tw.memory()["num_moves"] == moves + 1
    after = tw.memory()["backends"]
    assert after["right"]["num_tensors"] >= 2
    left_after = after.get("left", {"num_tensors": 0})["num_tensors"]
    assert left_after == before_counts["left"]["num_tensors"] - 1
    z = x + y  # back on "left": both move, values intact
    assert z.backend == "left"
    assert tw.memory()["num_moves"] == moves + 3
    check(z, np.arange(6).reshape(2, 3) * 3.0, "float32")
    x.numpy()  # reading to the host is not a move
    assert tw.memory()["num_moves"] == moves + 3


def test_switching_back_and_forth_loses_nothing(registry_sandbox):
    tw.register_backend("p", make_factory("p"), 2)
    tw.register_backend("q", make_factory("q"), 1)
    vals = {
        "float32": np.array([[1.5, -2.25], [3.0, 1e-8]], np.float32),
        "int32": np.array([[7, -8], [2**30, 0]], np.int32),
        "bool": np.array([[True, False], [False, True]]),
    }
    ts = {k: tw.tensor(v) for k, v in vals.items()}
    v = tw.variable(tw.tensor([1.0, 2.0]), name="moving_var")
    for i in range(6):
        name = "p" if i % 2 else "q"
        with tw.backend_scope(name):
            for k, t in ts.items():
                ts[k] = tw.identity(t)
                assert ts[k].backend == name and ts[k].dtype == k
                np.testing.assert_array_equal(ts[k].numpy(), vals[k])
            v.assign(v + 1.0)
            assert v.backend == name
    check(v, np.array([7.0, 8.0]), "float32")


def test_gradients_across_backends(registry_sandbox):
    tw.register_backend("g1", make_factory("g1"), 2)
    tw.register_backend("g2", make_factory("g2"), 1)
    x = tw.tensor([1.0, 2.0, 3.0])
    with tw.backend_scope("g2"):
        g = tw.grad(lambda t: tw.sum(t * t))(x)
    assert g.backend == "g2"
    check(g, np.array([2.0, 4.0, 6.0]), "float32")


def test_removed_backend_holding_a_tensor_fails_clearly(registry_sandbox):
    tw.register_backend("gone", make_factory("gone"), 2)
    tw.register_backend("stay", make_factory("stay"), 1)
    x = tw.tensor([1.0])
    tw.remove_backend("gone")
    with pytest.raises(tw.BackendError, match="'gone' holding this tensor is no longer available"):
        tw.exp(x)


_REAL = [r["name"] for r in tw.list_backends() if r["available"]]
_ENV = os.environ.get(registry.ENV_VAR, "").strip()
# With TENSORWEAVE_BACKEND set (tox's per-backend runs), only moves to and from that backend.
_PAIRS = [p for p in itertools.permutations(_REAL, 2) if not _ENV or _ENV in p]


@pytest.mark.skipif(not _PAIRS, reason=f"needs two available real backends, have {_REAL}")
@pytest.mark.parametrize("src,dst", _PAIRS or [("none", "none")])
def test_real_backends_move_data(src, dst):
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    with tw.backend_scope(src):
        a = tw.tensor(x)
        i = tw.tensor(np.array([1, -2, 3], np.int32))
        b = tw.tensor(np.array([True, False]))
    moves = tw.memory()["num_moves"]
    with tw.backend_scope(dst):
        out = tw.matmul(a, a, transpose_b=True)
        check(out, x.astype(np.float64) @ x.T, "float32", rtol=1e-5, atol=1e-5)
        check(tw.identity(i), np.array([1, -2, 3]), "int32")
        check(tw.identity(b), np.array([True, False]), "bool")
    assert tw.memory()["num_moves"] == moves + 3
    with tw.backend_scope(src):
        check(a + 1.0, x + 1.0, "float32")


# --- python -m engine -------------------------------------------------------------------------
def _run_engine_main(env_value: str | None):
    env = dict(os.environ)
    env.pop(registry.ENV_VAR, None)
    if env_value is not None:
        env[registry.ENV_VAR] = env_value
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "engine"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_python_m_engine_prints_pass_fail():
    proc = _run_engine_main("numpy")
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {
        ln.split()[1] if ln.startswith("*") else ln.split()[0]: ln
        for ln in out.splitlines()[1:]
        if ln.strip()
    }
    for name in ("numpy", "cpu", "opencl", "cuda"):
        assert name in lines, f"{name} missing from:\n{out}"
        assert ("PASS" in lines[name]) != ("FAIL" in lines[name])
    assert (
        lines["numpy"].startswith("*") and "PASS" in lines["numpy"] and "smoke ok" in lines["numpy"]
    )
    assert "selected: numpy" in out
    for name, line in lines.items():
        if "FAIL" in line and name in ("cpu", "opencl", "cuda"):
            assert len(line.split("FAIL", 1)[1].strip()) > 0, f"FAIL without a reason: {line}"


def test_python_m_engine_unknown_env_fails_with_hint():
    proc = _run_engine_main("nmupy")
    assert proc.returncode == 1
    assert "no backend selected" in proc.stdout
    assert "Did you mean 'numpy'?" in proc.stdout
