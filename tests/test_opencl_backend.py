"""The opencl backend: device choice, priority, float64 capability, program cache and no host
round trips (the kernels' semantics are checked on every rendered backend in test_crender)."""

from __future__ import annotations

import numpy as np
import pytest

pyopencl = pytest.importorskip("pyopencl", reason="pyopencl is not installed")

from backends.opencl import devices  # noqa: E402
from backends.opencl import priority as prio  # noqa: E402
from backends.opencl.devices import DeviceEntry  # noqa: E402


def _fake(*kinds: str) -> list[DeviceEntry]:
    return [
        DeviceEntry(i // 2, i % 2, f"Platform {i // 2}", f"Device {kind} {i}", kind)
        for i, kind in enumerate(kinds)
    ]


# -- device choice and priority (fake device lists) ----------------------------------------
def test_ranking_prefers_gpu_then_accelerator_then_cpu():
    entries = _fake("cpu", "accelerator", "gpu", "cpu")
    assert [e.kind for e in devices.ranked(entries)] == ["gpu", "accelerator", "cpu", "cpu"]
    assert devices.choose(entries).kind == "gpu"
    assert devices.choose(_fake("cpu", "accelerator")).kind == "accelerator"


def test_choose_by_index_and_by_name():
    entries = _fake("cpu", "gpu", "cpu")
    assert devices.choose(entries, "1:0").name == "Device cpu 2"
    assert devices.choose(entries, " 0:1 ").kind == "gpu"
    assert devices.choose(entries, "device CPU 2").device_index == 0
    assert devices.choose(entries, "platform 0").kind == "gpu"  # best match among names


@pytest.mark.parametrize(
    "spec, message",
    [("3:0", "no device 3:0"), ("7", "expected 'platform:device'"), ("tpu", "matches no device")],
)
def test_choose_rejects_bad_specs_naming_them(spec, message):
    with pytest.raises(ValueError, match=message) as info:
        devices.choose(_fake("cpu", "gpu"), spec)
    assert repr(spec) in str(info.value) and "Device gpu 1" in str(info.value)


def test_choose_without_devices_says_so():
    with pytest.raises(RuntimeError, match="no OpenCL device"):
        devices.choose([])


def test_priority_heuristic_with_fake_devices(monkeypatch):
    monkeypatch.delenv(devices.ENV_VAR, raising=False)
    assert prio.priority(_fake("cpu", "gpu")) == prio.GPU_PRIORITY == 3
    assert prio.priority(_fake("cpu")) == prio.CPU_PRIORITY == 0
    assert prio.priority(_fake("accelerator", "cpu")) == 0
    assert prio.priority([]) == -1
    monkeypatch.setenv(devices.ENV_VAR, "0:0")  # explicitly the CPU on a GPU machine
    assert prio.priority(_fake("cpu", "gpu")) == 0


def test_priority_orders_opencl_against_cpu_and_numpy():
    from backends import BUILTIN

    cpu, numpy_ = BUILTIN["cpu"][2], BUILTIN["numpy"][2]
    assert prio.GPU_PRIORITY > cpu and prio.CPU_PRIORITY < numpy_ < cpu


# -- the real device -----------------------------------------------------------------------
def _backend():
    from backends.opencl import OpenCLBackend

    try:
        return OpenCLBackend()
    except Exception as exc:
        pytest.skip(f"no usable OpenCL device: {type(exc).__name__}: {exc}")


@pytest.fixture(scope="module")
def be():
    return _backend()


def test_real_device_priority_and_info(be):
    expected = 3 if be.entry.kind == "gpu" else 0
    assert prio.priority() == expected
    info = be.device_info()
    assert be.entry.platform in info and be.entry.name in info
    assert "compute units" in info and "MiB" in info


def test_env_var_selects_the_device(monkeypatch, be):
    from backends.opencl import OpenCLBackend

    e = be.entry
    monkeypatch.setenv(devices.ENV_VAR, f"{e.platform_index}:{e.device_index}")
    assert OpenCLBackend().entry.name == e.name
    monkeypatch.setenv(devices.ENV_VAR, e.name[:6].lower())
    assert OpenCLBackend().entry.name == e.name
    monkeypatch.setenv(devices.ENV_VAR, "no-such-device-xyz")
    with pytest.raises(ValueError, match="no-such-device-xyz"):
        OpenCLBackend()


def test_registry_records_a_bad_device_spec(monkeypatch):
    from backends import BUILTIN, _lazy
    from engine import registry

    monkeypatch.setenv(devices.ENV_VAR, "9:9")
    module, cls, _ = BUILTIN["opencl"]
    entry = registry._Entry("opencl_probe", _lazy(module, cls), 0, 0)
    assert registry._start(entry) is None
    assert "ValueError" in entry.reason and "no device 9:9" in entry.reason


def test_float64_capability_error(be, monkeypatch):
    monkeypatch.setitem(be.capabilities, "float64", False)
    with pytest.raises(TypeError, match="float64.*not supported"):
        be.from_numpy(np.zeros(3, np.float64))
    with pytest.raises(TypeError, match="float64"):
        be.fill((2,), 1.0, "float64")


def test_float64_runs_where_supported(be):
    if not be.capabilities["float64"]:
        pytest.skip(f"{be.device_info()} has no float64")
    x = np.linspace(-1, 1, 1001)
    got = be.to_numpy(
        be.reduce("sum", be.from_numpy(np.exp(x)), x.shape, "float64", (0,)), (), "float64"
    )
    assert got == pytest.approx(np.exp(x).sum(), rel=1e-14)


def test_program_cache_builds_nothing_the_second_time(be):
    from backends.opencl import runtime

    def step(n):
        a = be.from_numpy(np.ones((n, 5), np.float32))
        y = be.binary("mul", a, (n, 5), a, (n, 5), (n, 5), "float32")
        s = be.reduce("sum", y, (n, 5), "float32", (1,))
        return be.to_numpy(
            be.matmul(a, (1, n, 5), a, (1, n, 5), "float32", True, False), (1, 5, 5), "float32"
        ), s

    step(3)
    before = runtime.build_count()
    step(3)
    step(7)  # another shape reuses the same programs
    assert runtime.build_count() == before


def test_op_chain_reads_nothing_back(be, monkeypatch):
    from backends.opencl import backend as mod

    reads = []
    real = mod.cl.enqueue_copy

    def spy(queue, dest, src, **kw):
        if isinstance(dest, np.ndarray):
            reads.append(dest.shape)
        return real(queue, dest, src, **kw)

    monkeypatch.setattr(mod.cl, "enqueue_copy", spy)
    x = be.from_numpy(np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32))
    y = be.matmul(x, (1, 4, 6), x, (1, 4, 6), "float32", False, True)
    z = be.reduce("max", be.unary("exp", y, (1, 4, 4), "float32"), (1, 4, 4), "float32", (2,))
    w = be.transpose(
        be.slice(z, (1, 4), "float32", (0, 3), (1, 4), (1, -1)), (1, 4), "float32", (1, 0)
    )
    assert reads == []
    be.to_numpy(w, (4, 1), "float32")
    assert reads == [(4, 1)]


def test_training_loop_builds_nothing_after_its_first_epoch(be):
    import engine as tw
    import layers
    from backends.opencl import runtime

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
    with tw.backend_scope("opencl"):
        tw.set_seed(0)
        model = layers.sequential(
            [
                layers.dense(units=8, activation="relu", input_shape=[4]),
                layers.dense(units=3, activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["acc"])
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        before = runtime.build_count()
        hist = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        assert runtime.build_count() == before
    assert np.isfinite(hist.history["loss"]).all()


def test_chosen_with_probe_skips_devices_that_cannot_build(monkeypatch):
    monkeypatch.delenv(devices.ENV_VAR, raising=False)
    entries = _fake("gpu", "cpu")
    broken = {entries[0].name}
    monkeypatch.setattr(
        devices, "can_build", lambda e: f"{e.label}: cannot build" if e.name in broken else None
    )
    assert devices.chosen(entries).kind == "gpu"  # without probe: the ranking alone
    assert devices.chosen(entries, probe=True).kind == "cpu"  # the gpu's compiler fails
    broken.add(entries[1].name)
    with pytest.raises(RuntimeError, match="no OpenCL device can build") as info:
        devices.chosen(entries, probe=True)
    assert info.value.args[0].count("cannot build") == 2  # names every failure
    monkeypatch.setenv(devices.ENV_VAR, "0:0")  # an explicit choice is never replaced
    with pytest.raises(RuntimeError, match="names a device that cannot build"):
        devices.chosen(entries, probe=True)


def test_can_build_on_the_real_device(be):
    assert devices.can_build(be.entry) is None  # the backend only starts on a device that builds
