"""Explicit launches on the ``cpu`` backend (issue 16 item 3): primitives describe their work as
``Launch`` records that the scheduler runs; a traced step's program is a list of typed steps
built from those records, and optimizer scalars are recomputed from their ``HostScalars``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import engine as tw  # noqa: E402
import layers  # noqa: E402
from backends.cpu import CpuBackend  # noqa: E402
from backends.cpu.launch import HostScalars, Launch  # noqa: E402
from backends.cpu.steps.program import (  # noqa: E402
    AssignStep,
    EffectStep,
    HostStep,
    LaunchStep,
    LiveStep,
)


def test_a_primitive_submits_launch_records_that_replay_its_result():
    be = CpuBackend(adaptive=False)
    x = np.linspace(-2, 2, 1000, dtype=np.float32)
    with be.scheduler.collect() as c:
        out = be.unary("exp", x, x.shape, "float32")
    assert len(c.launches) == 1 and not c.host_transfer
    (launch,) = c.launches
    assert isinstance(launch, Launch) and hasattr(launch.kernel, "py_func")
    assert launch.sizes and all(type(launch.args[i]) is int for i in launch.sizes)
    assert any(o is out or (isinstance(o, np.ndarray) and o.base is out) for o in launch.args)
    assert [id(a) for a in c.allocs] == [id(out)]
    want = out.copy()
    out[...] = 0
    launch.run()  # the record alone computes the result again
    np.testing.assert_array_equal(out, want)
    # outside a collection nothing is kept
    be.unary("exp", x, x.shape, "float32")
    assert len(c.launches) == 1


def test_host_transfers_are_noted():
    be = CpuBackend()
    with be.scheduler.collect() as c:
        be.from_numpy(np.ones(3, np.float32))
    assert c.host_transfer and not c.launches


def test_optimizer_scalars_are_recomputed_from_their_record():
    be = CpuBackend(adaptive=False)
    w = np.ones(64, np.float32)
    g = np.full(64, 0.5, np.float32)
    slots = (np.zeros(64, np.float32), np.zeros(64, np.float32))
    hyper = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "t": 1}
    with be.scheduler.collect() as c:
        be.adam_update((64,), "float32", w, g, slots, **hyper)
    (launch,) = c.launches
    host = launch.host
    assert isinstance(host, HostScalars) and host.kernel == "adam_update"
    assert any(a is host.values for a in launch.args)
    with be.scheduler.collect() as later:
        be.adam_update((64,), "float32", w, g, slots, **{**hyper, "t": 7})
    host.refresh({**hyper, "t": 7})  # what a program does before the launch each step
    np.testing.assert_array_equal(host.values, later.launches[0].host.values)
    assert not np.array_equal(host.values, launch.host.pack(hyper))


def test_a_programs_steps_are_typed_records(cpu):
    tw.set_seed(3)
    model = layers.sequential(
        [
            layers.dense(units=8, activation="relu", input_shape=[6]),
            layers.dense(units=3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categoricalCrossentropy", jit=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    tr = next(iter(model._traces["train"].traces.values()))
    prog = tr.program
    assert prog is not None, tr.program_reason
    kinds = {type(s) for s in prog.steps}
    assert kinds <= {LaunchStep, HostStep, LiveStep, AssignStep, EffectStep}
    assert LaunchStep in kinds and AssignStep in kinds and LiveStep not in kinds
    hosts = [s for s in prog.steps if type(s) is HostStep]
    assert hosts and all(h.scalars[0].kernel == "adam_update" for h in hosts)
    for s in prog.steps:
        if type(s) is LaunchStep:  # every per-run argument is patched in by position
            assert all(s.template[i] is None for i, _ in s.patches)


def _check_sizes(c, what: str, bad: list) -> None:
    for la in c.launches:
        for i in la.sizes:
            v = la.args[i]
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                bad.append((what, la.name, i, type(v).__name__))


@pytest.mark.parametrize("thr", [0, 1 << 60], ids=["parallel", "serial"])
def test_every_primitives_sizes_are_marked_in_its_records(thr):
    """The ``sizes`` of each primitive's launch records point at non-negative integers (the
    arguments a size-generic compiler turns into run-time parameters)."""
    bad: list = []
    be = CpuBackend(parallel_threshold=thr, adaptive=False)
    rng = np.random.default_rng(0)
    f = rng.normal(size=(6, 50)).astype(np.float32)
    i = rng.integers(0, 5, size=(6, 50)).astype(np.int32)
    big = rng.normal(size=(3, 70000)).astype(np.float32)
    sched = be.scheduler
    ops = {
        "unary": lambda: be.unary("exp", f, f.shape, "float32"),
        "unary_int": lambda: be.unary("neg", i, i.shape, "int32"),
        "unary_pred": lambda: be.unary("is_nan", f, f.shape, "float32"),
        "binary": lambda: be.binary("add", f, f.shape, f[:1], (1, 50), f.shape, "float32"),
        "binary_int": lambda: be.binary("mul", i, i.shape, i, i.shape, i.shape, "int32"),
        "cmp": lambda: be.binary("greater", f, f.shape, f, f.shape, f.shape, "float32"),
        "where": lambda: be.where(f > 0, f.shape, f, f.shape, f, f.shape, f.shape, "float32"),
        "sum_rows": lambda: be.reduce("sum", f, f.shape, "float32", (1,)),
        "sum_cols": lambda: be.reduce("sum", f, f.shape, "float32", (0,)),
        "max_rows": lambda: be.reduce("max", f, f.shape, "float32", (1,)),
        "sum_long": lambda: be.reduce("sum", big, big.shape, "float32", (1,)),
        "max_long": lambda: be.reduce("max", big, big.shape, "float32", (1,)),
        "sum_lead": lambda: be.reduce(
            "sum", big.reshape(3, 700, 100), (3, 700, 100), "float32", (1,)
        ),
        "argmax": lambda: be.arg_reduce("argmax", f, f.shape, "float32", 1),
        "cumsum": lambda: be.cumsum(f, f.shape, "float32", 1, False, False),
        "matmul_int": lambda: be.matmul(
            i[None, :, :5], (1, 6, 5), i[None, :5, :], (1, 5, 50), "int32", False, False
        ),
        "gather": lambda: be.gather(f, f.shape, "float32", np.array([0, 2], np.int32), (2,), 0),
        "scatter": lambda: be.scatter_add(
            f, f.shape, "float32", np.array([0, 1, 1, 0, 2, 2], np.int32), (6,), 0, 3
        ),
        "softmax": lambda: be.softmax(f, f.shape, "float32", 1),
        "fused_matmul": lambda: be.fused_matmul(
            f,
            f.shape,
            f.T.copy(),
            (50, 6),
            np.ones(6, np.float32),
            (6,),
            "float32",
            False,
            False,
            "relu",
            0.0,
        ),
        "cce": lambda: be.categorical_crossentropy(np.abs(f), np.abs(f), f.shape, "float32", False),
        "cce_grad": lambda: be.categorical_crossentropy_grad(
            np.ones(6, np.float32), np.abs(f), np.abs(f), f.shape, "float32", False
        ),
        "adam": lambda: be.adam_update(
            f.shape, "float32", f, f, (f, f), lr=0.1, beta1=0.9, beta2=0.99, epsilon=1e-7, t=1
        ),
    }
    x = rng.normal(size=(4, 8, 8, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    ops["conv"] = lambda: be.conv2d(
        x, x.shape, w, w.shape, None, "float32", ((1, 1), (1, 1)), (1, 1), "relu"
    )
    ops["conv_bpf"] = lambda: be.conv2d_backprop_filter(
        x,
        x.shape,
        np.ones((4, 8, 8, 4), np.float32),
        (4, 8, 8, 4),
        None,
        "float32",
        ((1, 1), (1, 1)),
        (1, 1),
        "linear",
    )
    ops["max_pool"] = lambda: be.max_pool(x, x.shape, "float32", (2, 2), (2, 2), ((0, 0), (0, 0)))
    ops["max_pool_grad"] = lambda: be.max_pool_grad(
        np.ones((4, 4, 4, 3), np.float32),
        x,
        be.max_pool(x, x.shape, "float32", (2, 2), (2, 2), ((0, 0), (0, 0))),
        x.shape,
        "float32",
        (2, 2),
        (2, 2),
        ((0, 0), (0, 0)),
    )
    for name, fn in ops.items():
        with sched.collect() as c:
            fn()
        _check_sizes(c, name, bad)
        assert c.launches, name
    assert bad == []
