"""The cpu backend's thread control (backends/cpu/native/threads.py) and the bench's 4M rows."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import numba  # noqa: E402

from backends.cpu import CpuBackend  # noqa: E402
from backends.cpu.launch import Launch  # noqa: E402
from backends.cpu.native import cblas as cblas_mod  # noqa: E402
from backends.cpu.native import threads as T  # noqa: E402
from backends.cpu.schedule import band  # noqa: E402


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _write(tmp_path, busy_user: int, idle: int, own_utime: int, own_stime: int) -> None:
    (tmp_path / "stat").write_text(
        f"cpu  {busy_user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    )
    fields = ["S"] + ["0"] * 10 + [str(own_utime), str(own_stime)] + ["0"] * 30
    (tmp_path / "self").write_text("1234 (python (x) y) " + " ".join(fields) + "\n")


def _monitor(tmp_path, clock: _Clock) -> T.LoadMonitor:
    m = T.LoadMonitor(
        window_s=0.1,
        refresh_s=0.025,
        hold_s=0.3,
        stat_path=str(tmp_path / "stat"),
        self_path=str(tmp_path / "self"),
        clock=clock,
    )
    m._hz = 100.0
    return m


def test_cpu_load_monitor_counts_other_processes_only(tmp_path):
    clock = _Clock()
    _write(tmp_path, busy_user=1000, idle=5000, own_utime=300, own_stime=100)
    m = _monitor(tmp_path, clock)
    assert m.available
    assert m.foreign() == 0.0  # one sample: no window yet
    # 0.2 s later: 40 busy ticks on the machine, 25 of them ours -> 15 ticks = 0.75 cores
    clock.t += 0.2
    _write(tmp_path, busy_user=1040, idle=5000, own_utime=320, own_stime=105)
    assert m.foreign() == pytest.approx(0.75)
    assert m.free_cores(2) == pytest.approx(1.25)
    # Cached until refresh_s passed, even if the counters moved.
    _write(tmp_path, busy_user=1140, idle=5000, own_utime=320, own_stime=105)
    clock.t += 0.01
    assert m.foreign() == pytest.approx(0.75)
    # The load stops: the peak is held for hold_s, then the value drops.
    for _ in range(20):
        clock.t += 0.05
        m.foreign()
    assert m.foreign() == 0.0
    # A load that starts shows at once.
    clock.t += 0.05
    _write(tmp_path, busy_user=1160, idle=5000, own_utime=320, own_stime=105)
    assert m.foreign() > 0.5


def test_cpu_load_monitor_busy_own_process_is_not_foreign(tmp_path):
    clock = _Clock()
    _write(tmp_path, busy_user=0, idle=0, own_utime=0, own_stime=0)
    m = _monitor(tmp_path, clock)
    m.foreign()
    for step in range(1, 6):  # we use both cores, nobody else does
        clock.t += 0.05
        _write(tmp_path, busy_user=10 * step, idle=0, own_utime=10 * step, own_stime=0)
        assert m.foreign() == 0.0


def test_cpu_load_monitor_without_proc_is_harmless(tmp_path):
    m = T.LoadMonitor(stat_path=str(tmp_path / "missing"), self_path=str(tmp_path / "missing"))
    assert not m.available
    assert m.foreign() == 0.0


def test_cpu_blas_threads_policy():
    assert T.blas_threads_for(T.SMALL_GEMM_FLOPS / 2, 2) == 1  # small GEMM: one thread
    assert T.blas_threads_for(2.0 * 512**3, 2) == 2
    assert T.blas_threads_for(2.0 * 512**3, 1) == 1
    assert T.blas_threads_for(10.0, 1) == 1


@pytest.mark.parametrize(
    "a_shape,b_shape",
    [((32, 784), (784, 128)), ((256, 256), (256, 256)), ((3, 64, 40), (3, 40, 8))],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_threads_matmul_matches_numpy_and_restores_threads(a_shape, b_shape, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    ctl = cblas_mod.get_blas().ctl
    before = ctl.get_num_threads() if ctl is not None else None
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    out = np.empty(ref.shape, dtype)
    T.matmul(a, b, out)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    again = np.empty(ref.shape, dtype)
    T.matmul(a, b, again)
    np.testing.assert_array_equal(out, again)  # the thread choice depends on the shape only
    if ctl is not None:
        assert ctl.get_num_threads() == before


def test_cpu_par_runs_serially_while_other_processes_hold_cores():
    if numba.get_num_threads() < 2:
        pytest.skip("needs at least 2 numba threads")

    class Load:
        free = 0.0

        def free_cores(self, ncpu=None):
            return self.free

    be = CpuBackend()
    load = Load()
    sched = be.scheduler
    sched.load = load
    ran: list[str] = []
    serial = Launch(ran.append, ("serial",))
    parallel = Launch(ran.append, ("parallel",))

    def decide() -> bool:
        par = sched.run(n, "k", serial, parallel)
        assert ran.pop() == ("parallel" if par else "serial")  # the variant it says it ran
        return par

    n = 4 * be.parallel_threshold
    load.free = numba.get_num_threads() - 1.0
    # The first runs of a kernel family warm both paths whatever the load ...
    assert [decide() for _ in range(4)] == [True, True, False, False]
    # ... then a loaded machine runs serially, probes included
    assert not any(decide() for _ in range(20))
    st = sched.stats[band("k", n)]
    assert st.runs[1] == 2
    load.free = float(numba.get_num_threads())
    st.samples[0][:] = st.samples[1][:] = []
    st.ns[:] = [2.0, 1.0]  # parallel measured faster
    st.calls = 0  # the next call is not a probe call
    assert decide()
    # adaptive=False (always parallel above the threshold) ignores the load
    forced = CpuBackend(adaptive=False)
    forced.scheduler.load = Load()
    assert forced.scheduler.run(n, "k", serial, parallel)
    assert ran.pop() == "parallel"
    # Results do not depend on the path: a loaded machine gives the same bits.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    s = (n,)
    load.free = 0.0
    serial = be.binary("add", x, s, y, s, s, "float32")
    np.testing.assert_array_equal(serial, forced.binary("add", x, s, y, s, s, "float32"))
    np.testing.assert_array_equal(serial, x + y)


def test_cpu_bench_has_the_issue_4m_rows():
    from bench.workloads import op_workloads

    names = {w.name: w for w in op_workloads(quick=False)}
    for name in ("add_4m", "chain3_4m", "sum_rows_4m", "max_rows_4m"):
        assert name in names
    inputs = names["add_4m"].make_inputs(np.random.default_rng(0))
    assert inputs["a"].shape == (4 * 1024 * 1024,) and inputs["a"].dtype == np.float32
    inputs = names["max_rows_4m"].make_inputs(np.random.default_rng(0))
    assert inputs["a"].shape == (2048, 2048)
    quick = {w.name for w in op_workloads(quick=True)}
    assert "add_4m" not in quick and "add_1m" in quick


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "a_shape,b_shape", [((300, 700), (300, 700)), ((300, 700), (1, 700)), ((300, 700), ())]
)
def test_cpu_large_serial_arith_is_bit_identical_to_the_kernels(op, dtype, a_shape, b_shape):
    import warnings

    rng = np.random.default_rng(2)
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    a.reshape(-1)[:4] = [0.0, np.inf, np.nan, -0.0]  # 0/0, inf-inf, nan, -0.0 cases
    if b.size > 4:
        b.reshape(-1)[:4] = [0.0, np.inf, 1.0, 0.0]
    out_shape = np.broadcast_shapes(a_shape, b_shape)
    serial = CpuBackend(parallel_threshold=1024)
    serial._par = lambda *args, **kw: False  # the chooser (or a loaded machine) says serial
    kernels = CpuBackend(parallel_threshold=1 << 60)  # the numba serial kernel
    dt = np.dtype(dtype).name
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide/overflow warnings must not leak
        got = serial.binary(op, a, a_shape, b, b_shape, out_shape, dt)
    want = kernels.binary(op, a, a_shape, b, b_shape, out_shape, dt)
    assert got.dtype == want.dtype == dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
