"""Cold start on the ``cpu`` backend (issue 17): kernels not compiled yet run on their numpy
twins (``backends.cpu.tiers``) while a worker process compiles them, and training switches to
the compiled kernels once the worker is done, with the weights of a run that only ever ran
compiled kernels (``TENSORWEAVE_TIERS=0``) within ``tiers.TOLERANCE``.

The end-to-end tests run a fresh Python process on an empty cache folder (nothing compiled,
nothing on disk). The kernel tests compare each numpy twin with its compiled kernel directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from engine import optable

pytest.importorskip("numba")

from backends.cpu import kernels as K  # noqa: E402
from backends.cpu import tiers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small seed-like model: the same kernels (and signatures) as the seed model at any size.
_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from numba.core import event

    compiled = []  # numba functions compiled in this process (not loaded from the cache)

    class Listen(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            d = ev.data.get("dispatcher")
            compiled.append(getattr(getattr(d, "py_func", None), "__name__", "?"))

    event.register("numba:compile", Listen())
    import engine as tw
    import layers
    from backends.cpu import tiers

    tw.set_backend("cpu")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 64)]
    model = layers.sequential([
        layers.dense(units=16, activation="relu", input_shape=[12]),
        layers.dense(units=4, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categoricalCrossentropy")
    w0 = [rng.standard_normal(w.shape).astype(np.float32) * 0.3 for w in model.get_weights()]
    model.set_weights([tw.tensor(w) for w in w0])
    xt, yt = tw.tensor(x), tw.tensor(y)

    def fit(n):  # n steps of batch 8
        model.fit(xt[: 8 * n], yt[: 8 * n], batch_size=8, epochs=1, shuffle=False, verbose=0)

    tiered = set(tiers.FALLBACKS) | {"kernel", "kernel_par"}  # + generated fused kernels
    out = {"enabled": tiers.enabled()}
    fit(1)
    out["first"] = {k: dict(v) for k, v in tiers.stats().items()}
    out["first_compiled"] = sorted(set(compiled) & tiered)
    out["idle"] = tiers.wait_idle(300)
    fit(8)  # traced steps: fused kernels appear, new signatures for the worker
    out["idle"] = out["idle"] and tiers.wait_idle(300)
    before = tiers.stats()["fallback"]
    fit(8)
    out["later_fallback"] = {
        k: v - before.get(k, 0) for k, v in tiers.stats()["fallback"].items() if v > before.get(k, 0)
    }
    out["stats"] = tiers.stats()
    out["compiled"] = sorted(set(compiled) & tiered)
    out["worker"] = tiers.worker_pid()
    np.savez(sys.argv[1], *[np.asarray(w) for w in model.get_weights()])
    print("RESULT " + json.dumps(out))
    """
)


def _run(script: str, cache: str, *args: str, tiers_on: bool = True) -> dict:
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)  # the cache goes under TENSORWEAVE_CACHE
    env.update(
        TENSORWEAVE_CACHE=cache,
        TENSORWEAVE_TIERS="1" if tiers_on else "0",
        TENSORWEAVE_COMPILE_AFTER="-1",  # the compiled chunk is not tiered (a 10-20 s compile)
        PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""),
    )
    p = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, p.stdout[-2000:] + p.stderr[-2000:]
    return json.loads(line[-1][len("RESULT ") :])


def test_first_step_runs_before_compiling_then_swaps_with_equal_weights(tmp_path) -> None:
    cache = str(tmp_path / "cache")
    got = _run(_SCRIPT, cache, str(tmp_path / "tiered.npz"))
    assert got["enabled"]
    # the first step ran on numpy: no tiered kernel compiled in this process
    assert got["first_compiled"] == []
    first = got["first"]["fallback"]
    for name in ("bias_act", "softmax", "cce", "cce_grad"):
        assert first.get(name, 0) + first.get(name + "_par", 0) > 0, first
    assert any(k.startswith("opt_update") for k in first), first
    # the worker compiled every signature; later steps loaded them and never fell back again
    assert got["idle"]
    assert got["later_fallback"] == {}, got["later_fallback"]
    assert sum(got["stats"]["compiled"].values()) >= len(first)
    assert sum(got["stats"]["loaded"].values()) >= len(first)
    assert got["compiled"] == [] and got["stats"]["sync"] == {}
    # the same training on compiled kernels only (their cache files are there now)
    ref = _run(_SCRIPT, cache, str(tmp_path / "ref.npz"), tiers_on=False)
    assert not ref["enabled"] and ref["worker"] is None and ref["first"]["fallback"] == {}
    a, b = np.load(tmp_path / "tiered.npz"), np.load(tmp_path / "ref.npz")
    assert len(a.files) == len(b.files) == 4
    for k in a.files:
        err = np.max(np.abs(a[k] - b[k])) / np.max(np.abs(b[k]))
        assert err <= tiers.TOLERANCE, (k, err)


_ONE_MISS = textwrap.dedent(
    """
    import json
    import numpy as np
    from backends.cpu import kernels as K, tiers
    a = np.ones(5, np.float32)
    out = np.empty(5, np.float32)
    K.unary_float(0, a, out, np.float32(1), 0, 5)  # compiled, loaded, or the twin + a request
    assert (out == -1).all()
    print("RESULT " + json.dumps({"pid": tiers.worker_pid(), "stats": tiers.stats()}))
    """
)


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_worker_fills_the_cache_after_exit_then_ends(tmp_path) -> None:
    cache = str(tmp_path / "cache")
    got = _run(_ONE_MISS, cache)
    assert got["stats"]["fallback"] == {"unary_float": 1}
    assert isinstance(got["pid"], int)
    # the process exited at once; its worker finishes the queued compile, then exits too
    assert _wait_gone(got["pid"], tiers.DRAIN_SECONDS + 30), "worker outlived its deadline"
    again = _run(_ONE_MISS, cache)  # the next process loads what the worker left
    assert again["stats"]["loaded"] == {"unary_float": 1}
    assert again["stats"]["fallback"] == {} and again["pid"] is None


def test_worker_ends_with_the_process_without_drain(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TENSORWEAVE_TIERS_DRAIN", "0")
    got = _run(_ONE_MISS, str(tmp_path / "cache"))
    assert got["stats"]["fallback"] == {"unary_float": 1}
    assert _wait_gone(got["pid"], 5), "worker still runs after its parent exited"


def test_a_dead_worker_means_compiling_here(tmp_path) -> None:
    script = textwrap.dedent(
        """
        import json, os, signal
        import numpy as np
        from backends.cpu import kernels as K, tiers
        a = np.arange(6, dtype=np.float64)
        out = np.empty(6, np.float64)
        K.unary_float(3, a, out, np.float64(1), 0, 6)  # the twin; the worker gets the request
        first = tiers.stats()
        os.kill(tiers.worker_pid(), signal.SIGKILL)
        assert tiers.wait_idle(30)  # the reader sees the worker gone: nothing is pending
        out[:] = 0
        K.unary_float(3, a, out, np.float64(1), 0, 6)  # compiled in this process, as numba does
        assert (out == a * a).all()
        K.unary_float(3, a, out, np.float64(1), 0, 6)  # compiled: the hook is not called again
        b = np.arange(6, dtype=np.float32)  # a new signature: no worker to ask, compiled here
        K.unary_float(3, b, b.copy(), np.float32(1), 0, 6)
        print("RESULT " + json.dumps({"first": first, "then": tiers.stats()}))
        """
    )
    got = _run(script, str(tmp_path / "cache"))
    assert got["first"]["fallback"] == {"unary_float": 1}
    assert got["then"]["fallback"] == {"unary_float": 1}
    assert got["then"]["sync"] == {"unary_float": 2}


# --- each numpy twin against its compiled kernel ---------------------------------------------
def _compiled(name: str, *args: object) -> None:
    """Run the numba kernel ``name`` (compiled or loaded here, never the numpy twin)."""
    disp = getattr(K, name)
    disp.compile(tuple(disp.typeof_pyval(a) for a in args))
    disp(*args)


def _both(name: str, args: list, outs: list[int]) -> tuple[list, list]:
    """Outputs (argument positions ``outs``) of the kernel and of its twin on copies."""
    a1 = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    a2 = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
    _compiled(name, *a1)
    tiers.FALLBACKS[name](*a2)
    return [a1[i] for i in outs], [a2[i] for i in outs]


def _close(got: np.ndarray, ref: np.ndarray, exact: bool) -> None:
    if exact:
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=4e-6, atol=1e-7)


F = np.float32
_EXACT_UNARY = (
    "neg", "abs", "sign", "square", "sqrt", "rsqrt", "reciprocal", "floor", "ceil", "round",
    "relu", "erf",
)  # fmt: skip
_RNG = np.random.default_rng(7)


def _data(*shape: int) -> np.ndarray:
    return _RNG.standard_normal(shape).astype(F)


@pytest.mark.parametrize("par", [False, True])
def test_elementwise_twins(par: bool) -> None:
    from backends.cpu.launch import broadcast_strides as _strided

    x = _data(3, 40)
    x[0, :4] = [np.nan, -0.0, 0.0, np.inf]
    sfx = "_par" if par else ""
    for op in range(len(K.UNARY_FLOAT)):
        v = np.abs(x) if K.UNARY_FLOAT[op] in ("sqrt", "rsqrt", "log") else x
        tail = [1024] if par else [0, v.size]
        args = [op, v.reshape(-1), np.empty(v.size, F), F(1), *tail]
        (got,), (ref,) = _both("unary_float" + sfx, args, [2])
        # correctly rounded (or computed in float64 and rounded) in both; the others are
        # numba's own float32 exp/log/tanh or libm calls against numpy's SIMD loops
        exact = K.UNARY_FLOAT[op] in _EXACT_UNARY
        if exact:
            np.testing.assert_array_equal(got, ref, err_msg=K.UNARY_FLOAT[op])
        else:
            np.testing.assert_allclose(got, ref, rtol=5e-7, atol=1e-30, err_msg=K.UNARY_FLOAT[op])
    b = _data(1, 40)
    b[0, 1] = np.nan
    shape, st = _strided(((3, 40), (1, 40)), (3, 40))
    for op, name in enumerate(K.BINARY_ARITH):
        if "f" not in optable.BINARY[name].kinds:
            continue  # an int-only entry (bitwise_and): no float kernel to twin
        tail = [1024] if par else [0, 120]
        args = [op, x.reshape(-1), b.reshape(-1), np.empty(120, F), shape, st, *tail]
        (got,), (ref,) = _both("binary_float" + sfx, args, [3])
        if name in ("pow", "atan2"):
            np.testing.assert_allclose(got, ref, rtol=5e-7, err_msg=name)
        else:
            np.testing.assert_array_equal(got, ref, err_msg=name)
    for op in (0, 1, 2, 3, 6, 7, 8):
        tail = [1024] if par else [0, 120]
        args = [op, x.reshape(-1), b.reshape(-1), np.empty(120, np.bool_), shape, st, *tail]
        (got,), (ref,) = _both("binary_cmp" + sfx, args, [3])
        np.testing.assert_array_equal(got, ref, err_msg=K.BINARY_CMP[op])
    c = (_data(3, 1) > 0).reshape(-1)
    shape3, st3 = _strided(((3, 1), (3, 40), (1, 40)), (3, 40))
    xi, bi = x.view(np.int32).reshape(-1), b.view(np.int32).reshape(-1)
    tail = [1024] if par else [0, 120]
    args = [c, xi, bi, np.empty(120, np.int32), shape3, st3, *tail]
    (got,), (ref,) = _both("where" + sfx, args, [3])
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("par", [False, True])
def test_reduction_and_fused_twins(par: bool) -> None:
    sfx = "_par" if par else ""
    x = _data(6, 5, 7)
    flat = x.reshape(-1)
    z, o = F(0), F(1)
    for op in range(4):
        tail = [2] if par else [0, 30]
        args = [op, flat, np.empty(30, F), 7, z, o, *tail]
        (got,), (ref,) = _both("reduce_rows" + sfx, args, [2])
        _close(got, ref, exact=op >= 2)
        tail = [6, 5, 7, 3] if par else [5, 7, 0, 6, 0, 7]
        args = [op, flat, np.empty(42, F), *tail]
        (got,), (ref,) = _both("reduce_mid" + sfx, args, [2])
        _close(got, ref, exact=True)  # row by row in both: the same order of additions
    for q in (1, 7):
        for log in (False, True):
            r = 5 if q == 7 else 35
            tail = [6, r, q, log, z, 2] if par else [r, q, log, z, 0, 6]
            args = [flat, np.empty(210, F), *tail] if not par else [flat, np.empty(210, F), *tail]
            (got,), (ref,) = _both("softmax" + sfx, args, [1])
            _close(got, ref, exact=False)
    for act in range(len(K.FUSED_ACTIVATIONS)):
        for bias, step in ((_data(7), 1), (_data(1), 0), (np.empty(0, F), 1)):
            tail = [30, 7, act, F(0.2), o, 4] if par else [7, act, F(0.2), o, 0, 30]
            args = [flat.copy(), bias, step, *tail]
            (got,), (ref,) = _both("bias_act" + sfx, args, [0])
            exact = K.FUSED_ACTIVATIONS[act] in ("linear", "relu", "relu6", "leakyrelu")
            _close(got, ref, exact=exact)
    t = np.eye(7, dtype=F)[_RNG.integers(0, 7, 30)].reshape(-1)
    probs = np.abs(flat) + F(0.01)
    for logits, xs in ((True, flat), (False, probs)):
        eps, ome = F(1e-7), F(1 - 1e-7)
        tail = [30, 7, logits, eps, ome, z, 4] if par else [7, logits, eps, ome, z, 0, 30]
        (got,), (ref,) = _both("cce" + sfx, [t, xs, np.empty(30, F), *tail], [2])
        _close(got, ref, exact=False)
        dy = _data(30)
        args = [dy, t, xs, np.empty(210, F), *tail]
        (got,), (ref,) = _both("cce_grad" + sfx, args, [3])
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(K.OPT_UPDATES))
def test_optimizer_twins_are_exact(name: str) -> None:
    from backends.cpu.primitives.optim import opt_hyper, opt_slots

    hyper = {
        "sgd_update": {"lr": 0.1},
        "momentum_update": {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        "adam_update": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "t": 3},
        "adamax_update": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7,
                          "decay": 0.1, "t": 3},
        "rmsprop_update": {"lr": 0.01, "decay": 0.9, "momentum": 0.5, "epsilon": 1e-7,
                           "centered": True},
        "adagrad_update": {"lr": 0.1, "epsilon": 1e-7},
        "adadelta_update": {"lr": 1.0, "rho": 0.95, "epsilon": 1e-7},
        "adamw_update": {"lr": 0.01, "weight_decay": 0.004, "beta1": 0.9, "beta2": 0.999,
                         "epsilon": 1e-7, "t": 3},
        "nadam_update": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "t": 3,
                         "u_product": 0.9},
        "lion_update": {"lr": 0.01, "beta1": 0.9, "beta2": 0.99},
        "ftrl_update": {"lr": 0.1, "lr_power": -0.5, "l1": 0.01, "l2": 0.01,
                        "l2_shrinkage": 0.0, "beta": 0.0},
    }[name]  # fmt: skip
    scalars, flag = opt_hyper(name, hyper)
    h = np.array(scalars, F)
    k = opt_slots(name, flag)
    n = 50
    w, g = _data(n), _data(n)
    slots = [np.abs(_data(n)) + F(0.1) if i < k else np.empty(0, F) for i in range(3)]
    news = [np.empty(n, F) if i < k else np.empty(0, F) for i in range(3)]
    op = K.OPT_CODES[name]
    args = [op, flag, w, g, *slots, np.empty(n, F), *news, h, 0, n]
    got, ref = _both("opt_update", args, [7, 8, 9, 10][: k + 1])
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    args = [op, flag, w, g, *slots, h, 0, n]
    got, ref = _both("opt_update_ip", args, [2, 4, 5, 6][: k + 1])
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("par", [False, True])
def test_fused_kernel_twins(par: bool) -> None:
    from backends.cpu import fusion
    from backends.cpu.launch import broadcast_strides as _strided

    f, b = "float32", "bool"
    expr = (
        (f, f),
        (
            ("mul", f, (0, 1)),
            ("exp", f, (2,)),
            ("relu", f, (3,)),
            ("greater", b, (2, 0)),
            ("where", f, (5, 4, 1)),
            ("cast", "int32", (6,)),
            ("logical_not", b, (5,)),
        ),
        (6, 7, 8, 4),
    )
    x, y = _data(4, 10), _data(1, 10)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    shape, st = _strided(((4, 10), (1, 10)), (4, 10))
    pattern = ("strided", tuple(int(st[k, -1]) for k in range(2)))
    outs = [np.empty(40, F), np.empty(40, np.int32), np.empty(40, bool), np.empty(40, F)]
    ins = [x.reshape(-1), y.reshape(-1)]
    tail = [shape, st, 1024] if par else [shape, st, 0, 40]
    serial, kpar = fusion.kernels(expr, pattern)
    disp = kpar if par else serial
    ref = [o.copy() for o in outs]
    disp.compile(tuple(disp.typeof_pyval(a) for a in [*ref, *ins, *tail]))
    disp(*ref, *ins, *tail)
    got = [o.copy() for o in outs]
    tiers.fused_twin(expr, pattern, par)(*got, *ins, *tail)
    # through exp (numba's float32 exp vs numpy's: within an ulp) but for the boolean output
    np.testing.assert_allclose(got[0], ref[0], rtol=5e-7)
    np.testing.assert_allclose(got[3], ref[3], rtol=5e-7)
    assert np.abs(got[1] - ref[1]).max() <= 1  # truncation of values an ulp apart
    np.testing.assert_array_equal(got[2], ref[2])
    # an expression with int32 arithmetic has no twin (it compiles on first call)
    i = "int32"
    assert tiers.fused_twin(((i, i), (("add", i, (0, 1)),), (2,)), ("flat", "ff"), par) is None


@pytest.mark.parametrize("par", [False, True])
def test_arg_reduce_and_gather_twins(par: bool) -> None:
    sfx = "_par" if par else ""
    x = _data(4, 6, 5)
    x[1, 2, 0] = np.nan
    x[2, :, 3] = 0.0
    x[2, 1, 3] = -0.0
    x[3, 4, 1] = x[3, 2, 1] = 9.0  # ties: the first index
    flat = x.reshape(-1)
    for is_max in (True, False):
        for r, q in ((6, 5), (30, 1)):
            bits = flat.view(np.int32) if q == 1 else np.empty(0, np.int32)
            p = flat.size // (r * q)
            tail = [p, r, q, 2] if par else [r, q, 0, p]
            args = [is_max, flat, bits, np.empty(p * q, np.int32)]
            (got,), (ref,) = _both("arg_reduce" + sfx, [*args[:3], args[3], *tail], [3])
            np.testing.assert_array_equal(got, ref)
    idx = np.array([5, 0, 2, 2], np.int32)
    raw = flat.view(np.int32)
    tail = [6, 5, 4, 3] if par else [6, 5, 4, 0, 16]
    (got,), (ref,) = _both("gather" + sfx, [raw, idx, np.empty(80, np.int32), *tail], [2])
    np.testing.assert_array_equal(got, ref)
