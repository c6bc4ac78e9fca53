"""Index checks of gather, gather_nd, scatter_nd and scatter_add on every backend (issue 18),
and clear errors for tensors too large for an OpenCL/CUDA device.

Every coordinate of an index vector is checked against its own dimension, negative indices are
errors (TF.js), the error names the op, the bad index, its position and the shape, and the
check runs without a host read of the indices, so traced steps stay traced.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
from _oracle import check

import engine as tw
from backends.crender.backend import INT32_MAX, DeviceMemoryError, RenderedBackend
from backends.crender.dialect import OPENCL
from engine import registry
from engine.trace import capture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _x(shape, dtype=np.float32):
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


# --- gather ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("axis", "idx", "bad", "pos"),
    [
        (0, [[0, 1], [3, 0]], 3, (1, 0)),  # past the end of axis 0 (size 3)
        (1, [1, 4], 4, (1,)),  # past the end of axis 1 (size 4)
        (0, [0, -1], -1, (1,)),  # negative: an error, as TF.js (no wrap-around)
        (1, [[-4]], -4, (0, 0)),
    ],
)
def test_gather_rejects_each_bad_index(backend, axis, idx, bad, pos):
    x = tw.tensor(_x((3, 4)))
    size = x.shape[axis]
    with pytest.raises(IndexError) as info:
        tw.gather(x, idx, axis)
    msg = str(info.value)
    assert msg.startswith(f"gather: indices must be in [0, {size}) for axis {axis}"), msg
    assert "shape (3, 4)" in msg and f"the first bad one is {bad} at position {pos}" in msg
    assert ("negative" in msg) == (bad < 0)


def test_gather_good_and_empty(backend):
    x = _x((3, 4, 2))
    for axis, idx in ((0, [[2, 0], [1, 1]]), (1, [3, 0, 3]), (2, [1])):
        check(tw.gather(tw.tensor(x), idx, axis), np.take(x, idx, axis), "float32")
    check(tw.gather(tw.tensor(x), np.zeros((0, 2), np.int32), 1), x[:, :0].reshape(3, 0, 2, 2))
    # no index to check: even an empty axis is fine
    check(tw.gather(tw.zeros((0, 2)), np.zeros(0, np.int32), 0), np.zeros((0, 2), np.float32))
    with pytest.raises(IndexError, match=r"\[0, 0\).*first bad one is 0"):
        tw.gather(tw.zeros((0, 2)), [0], 0)


# --- gather_nd ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("idx", "bad_vec", "pos", "coord", "value"),
    [
        ([[0, 5]], [0, 5], (0,), 1, 5),  # linear index 5 is in range: must still fail
        ([[1, 1], [3, 0]], [3, 0], (1,), 0, 3),  # coordinate 0 past the end
        ([[1, -1]], [1, -1], (0,), 1, -1),  # negative
        ([[[0, 0], [1, 1]], [[2, 1], [0, 2]]], [0, 2], (1, 1), 1, 2),  # nested position
    ],
)
def test_gather_nd_checks_each_coordinate(backend, idx, bad_vec, pos, coord, value):
    x = tw.tensor(_x((3, 2)))
    with pytest.raises(IndexError) as info:
        tw.gather_nd(x, idx)
    msg = str(info.value)
    assert msg.startswith(f"gather_nd: index {bad_vec} at position {pos} of the indices"), msg
    assert "out of range for shape (3, 2)" in msg
    dim = (3, 2)[coord]
    assert f"coordinate {coord} is {value}, expected 0 <= it < {dim}" in msg
    assert ("negative" in msg) == (value < 0)


def test_gather_nd_good_and_empty(backend):
    x = _x((3, 4, 2))
    i1 = np.array([[2], [0]], np.int32)
    i2 = np.array([[[0, 3], [2, 1]]], np.int32)
    i3 = np.array([[2, 3, 1], [0, 0, 0], [1, 2, 1]], np.int32)
    check(tw.gather_nd(tw.tensor(x), i1), x[i1[:, 0]], "float32")
    check(tw.gather_nd(tw.tensor(x), i2), x[i2[..., 0], i2[..., 1]], "float32")
    check(tw.gather_nd(tw.tensor(x), i3), x[i3[:, 0], i3[:, 1], i3[:, 2]], "float32")
    xi = _x((3, 4), np.int32)
    check(tw.gather_nd(tw.tensor(xi), [[2, 3], [0, 1]]), xi[[2, 0], [3, 1]], "int32")
    # no index vectors, and index vectors of length 0 (whole tensor per row)
    check(tw.gather_nd(tw.tensor(x), np.zeros((0, 2), np.int32)), np.zeros((0, 2), np.float32))
    check(tw.gather_nd(tw.tensor(x), np.zeros((2, 0), np.int32)), np.stack([x, x]), "float32")
    with pytest.raises(ValueError, match=r"gather_nd: index depth 4 .* exceeds the rank"):
        tw.gather_nd(tw.tensor(x), [[0, 0, 0, 0]])


# --- scatter_nd / scatter_add ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("idx", "bad_vec", "pos", "coord", "value"),
    [
        ([[0, 5]], [0, 5], (0,), 1, 5),
        ([[0, 1], [3, 1]], [3, 1], (1,), 0, 3),
        ([[-2, 0]], [-2, 0], (0,), 0, -2),  # corrupted the OpenCL heap before the check
        ([[2, 1], [0, -1]], [0, -1], (1,), 1, -1),
    ],
)
def test_scatter_nd_checks_each_coordinate(backend, idx, bad_vec, pos, coord, value):
    upd = tw.tensor(np.ones(len(idx), np.float32))
    with pytest.raises(IndexError) as info:
        tw.scatter_nd(idx, upd, (3, 2))
    msg = str(info.value)
    assert msg.startswith(f"scatter_nd: index {bad_vec} at position {pos} of the indices"), msg
    assert f"out of range for shape (3, 2): coordinate {coord} is {value}" in msg


def test_scatter_nd_good_and_empty(backend):
    idx = np.array([[0, 1], [2, 0], [0, 1], [2, 1]], np.int32)
    upd = np.array([1.0, 2.0, 4.0, 8.0], np.float32)
    ref = np.zeros((3, 2), np.float32)
    np.add.at(ref, (idx[:, 0], idx[:, 1]), upd)  # duplicates add up
    check(tw.scatter_nd(idx, tw.tensor(upd), (3, 2)), ref, "float32")
    rows = np.array([[3], [1], [3]], np.int32)
    u = _x((3, 2, 2), np.int32)
    ref = np.zeros((4, 2, 2), np.int32)
    np.add.at(ref, rows[:, 0], u)
    check(tw.scatter_nd(rows, tw.tensor(u), (4, 2, 2)), ref, "int32")
    empty = tw.scatter_nd(np.zeros((0, 2), np.int32), tw.zeros((0,)), (3, 2))
    check(empty, np.zeros((3, 2), np.float32), "float32")
    with pytest.raises(ValueError, match=r"scatter_nd: updates must have shape \(2,\)"):
        tw.scatter_nd([[0, 0], [1, 1]], tw.ones((3,)), (3, 2))
    with pytest.raises(ValueError, match="scatter_nd: index depth 3"):
        tw.scatter_nd([[0, 0, 0]], tw.ones((1,)), (3, 2))


def test_scatter_add_checks_indices(backend):
    u = _x((2, 3, 2))
    idx = np.array([1, 3, 0], np.int32)
    ref = np.zeros((2, 4, 2), np.float32)
    np.add.at(ref, (slice(None), idx), u)
    check(tw.scatter_add(tw.tensor(u), idx, 1, 4), ref, "float32")
    for bad, pos in (([1, 4, 0], 1), ([0, 1, -1], 2)):
        with pytest.raises(IndexError, match=rf"scatter_add: index \[{bad[pos]}\] at position"):
            tw.scatter_add(tw.tensor(u), bad, 1, 4)
    with pytest.raises(ValueError, match="scatter_add: updates of shape"):
        tw.scatter_add(tw.tensor(u), [0, 1], 1, 4)


def test_one_hot_keeps_off_value_out_of_range(backend):
    out = tw.one_hot([0, 3, -1, 2], 3).numpy()
    np.testing.assert_array_equal(
        out, np.eye(3, dtype=np.float32)[[0, 0, 0, 2]] * [[1], [0], [0], [1]]
    )


def test_later_ops_work_after_index_errors(backend):
    x = tw.tensor(_x((3, 2)))
    for bad in (
        lambda: tw.scatter_nd([[-2, 0]], tw.ones((1,)), (3, 2)),
        lambda: tw.scatter_nd([[0, 5]] * 64, tw.ones((64,)), (3, 2)),
        lambda: tw.gather_nd(x, [[7, 0]]),
        lambda: tw.gather(x, [1 << 30]),
    ):
        with pytest.raises(IndexError):
            bad()
    ref = np.zeros((3, 2), np.float32)
    ref[1, 1] = 5
    check(tw.scatter_nd([[1, 1]], tw.tensor([5.0]), (3, 2)), ref, "float32")
    check(tw.add(tw.gather_nd(x, [[2, 1]]), 1), np.array([6.0], np.float32), "float32")


def test_index_checks_stay_traced(backend):
    """No host read of the indices: the step traces, and a replay with a bad index raises."""
    x = tw.tensor(_x((3, 2)))

    def step(x, idx):
        return tw.add(tw.gather_nd(x, idx), tw.sum(tw.scatter_nd(idx, tw.ones((2,)), (3, 2))))

    good = tw.tensor([[0, 1], [2, 0]], dtype="int32")
    _, tr, reason, _ = capture(step, [x, good])
    assert tr is not None, reason
    for idx in ([[2, 1], [1, 0]], [[0, 0], [0, 0]]):  # replays (cpu: then a program)
        out = tr.replay([x, tw.tensor(idx, dtype="int32")])
        xs = _x((3, 2))
        ref = xs[[i for i, _ in idx], [j for _, j in idx]] + 2
        np.testing.assert_allclose(out.numpy(), ref)
    with pytest.raises(IndexError, match=r"gather_nd: index \[0, 5\] at position \(1,\)"):
        tr.replay([x, tw.tensor([[0, 1], [0, 5]], dtype="int32")])


def _need_opencl() -> None:
    """Skip, with the registry's reason, where the opencl backend cannot start."""
    row = next((r for r in tw.list_backends() if r["name"] == "opencl"), None)
    if row is None or not row["available"]:
        pytest.skip(f"backend 'opencl' unavailable: {row['reason'] if row else 'not registered'}")


def test_opencl_process_survives_bad_scatter():
    """The -2 index that corrupted PoCL's heap (a later op aborted the process) is now an
    IndexError, and the process goes on computing and exits cleanly."""
    _need_opencl()
    code = textwrap.dedent(
        """
        import numpy as np, engine as tw
        for idx in ([[-2, 0]], [[0, 5]], [[3, 1]]):
            try:
                tw.scatter_nd(idx * 32, tw.ones((32,)), (3, 2))
                raise SystemExit("no IndexError for %r" % (idx,))
            except IndexError:
                pass
        a = tw.tensor(np.arange(4096, dtype=np.float32).reshape(64, 64))
        for _ in range(20):
            a = tw.add(tw.matmul(a, tw.ones((64, 64))) * 0, a)
        assert float(tw.sum(a).numpy()) == float(np.arange(4096).sum())
        print("survived")
        """
    )
    env = dict(os.environ, TENSORWEAVE_BACKEND="opencl")
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0 and "survived" in res.stdout, res.stdout + res.stderr


# --- the rendered OpenCL C of the index kernels, run on the host ---------------------------------
_CC = shutil.which("cc") or shutil.which("gcc")
_C_PRELUDE = r"""
#include <math.h>
typedef unsigned char uchar; typedef unsigned int uint; typedef unsigned long ulong;
#define __kernel
#define __global
static int tw_gid;
#define get_global_id(d) (tw_gid)
static int atomic_min(volatile int* p, int v) { int o = *p; if (v < o) *p = v; return o; }
static int atomic_add(volatile int* p, int v) { int o = *p; *p = o + v; return o; }
static unsigned atomic_cmpxchg(volatile unsigned* p, unsigned c, unsigned v)
{ unsigned o = *p; if (o == c) *p = v; return o; }
void tw_set_gid(int g) { tw_gid = g; }
"""


class _HostBuffer:
    """Host bytes with a canary tail: a kernel writing past the end is caught."""

    def __init__(self, nbytes: int) -> None:
        self.a = np.full(nbytes + 64, 0xAB, np.uint8)
        self.nbytes = nbytes

    def intact(self) -> bool:
        return bool((self.a[self.nbytes :] == 0xAB).all())


class _HostC(RenderedBackend):
    """The rendered OpenCL C compiled as C by the host compiler, each 1-D launch run serially
    over its global ids: checks the index kernels and the backend's error-cell wiring where
    no OpenCL driver can build programs (only barrier-free 1-D kernels are supported)."""

    name = "hostc"
    dialect = OPENCL

    def __init__(self, workdir: str) -> None:
        super().__init__()
        self.workdir = workdir
        self.libs: dict[str, Any] = {}
        self.capabilities = {
            "dtypes": ("float32", "int32", "bool"),
            "float64": False,
            "gather_checks_indices": True,
        }

    def device_info(self) -> str:
        return "OpenCL C run as host C"

    def _alloc(self, nbytes: int, dtype: str) -> _HostBuffer:
        return _HostBuffer(nbytes)

    def _kernel(self, source: str, name: str) -> Any:
        key = hashlib.sha1(source.encode()).hexdigest()[:16]
        if key not in self.libs:
            c, so = os.path.join(self.workdir, f"{key}.c"), os.path.join(self.workdir, f"{key}.so")
            with open(c, "w") as f:
                f.write(_C_PRELUDE + source)
            subprocess.run([_CC, "-shared", "-fPIC", "-O1", "-w", "-o", so, c, "-lm"], check=True)
            self.libs[key] = ctypes.CDLL(so)
        return self.libs[key], getattr(self.libs[key], name)

    def _launch(self, kernel: Any, groups: tuple, local: tuple, args: list) -> None:
        lib, fn = kernel
        assert len(groups) == 1, "1-D launches only"
        conv = {np.int32: ctypes.c_int, np.float32: ctypes.c_float, np.uint8: ctypes.c_ubyte}
        cargs = [
            a.a.ctypes.data_as(ctypes.c_void_p) if isinstance(a, _HostBuffer) else conv[type(a)](a)
            for a in args
        ]
        for g in range(groups[0] * local[0]):
            lib.tw_set_gid(g)
            fn(*cargs)
        assert all(a.intact() for a in args if isinstance(a, _HostBuffer)), "wrote past a buffer"

    def from_numpy(self, array: np.ndarray) -> _HostBuffer:
        buf = _HostBuffer(array.nbytes)
        buf.a[: array.nbytes] = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        return buf

    def to_numpy(self, buf: _HostBuffer, shape: tuple, dtype: str) -> np.ndarray:
        dt = np.dtype(np.bool_ if dtype == "bool" else dtype)
        return buf.a[: int(np.prod(shape)) * dt.itemsize].view(dt).reshape(shape).copy()


@pytest.mark.skipif(_CC is None, reason="no host C compiler (cc/gcc) to run the OpenCL C")
def test_rendered_index_kernels_run_as_host_c(tmp_path):
    assert registry.register_backend("hostc", lambda: _HostC(str(tmp_path)), -1)
    try:
        with tw.backend_scope("hostc"):
            x = tw.tensor(_x((3, 2)))
            i3 = np.array([[1, 2, 3], [0, 0, 1]], np.int32)
            x3 = _x((2, 3, 4))
            check(tw.gather_nd(tw.tensor(x3), i3), x3[i3[:, 0], i3[:, 1], i3[:, 2]], "float32")
            check(tw.gather_nd(x, np.zeros((0, 2), np.int32)), np.zeros(0, np.float32))
            check(tw.gather_nd(x, np.zeros((2, 0), np.int32)), np.stack([_x((3, 2))] * 2))
            check(tw.gather(x, [[2], [0]], 0), _x((3, 2))[[[2], [0]]], "float32")
            ref = np.zeros((3, 2), np.float32)
            ref[2, 1], ref[0, 1] = 5, 2
            check(tw.scatter_nd([[2, 1], [0, 1], [2, 1]], tw.tensor([1.0, 2.0, 4.0]), (3, 2)), ref)
            bad = {
                r"gather_nd: index \[0, 5\] at position \(0,\)": lambda: tw.gather_nd(x, [[0, 5]]),
                r"scatter_nd: index \[-2, 0\] at position \(1,\)": lambda: tw.scatter_nd(
                    [[1, 1], [-2, 0]], tw.ones((2,)), (3, 2)
                ),
                r"scatter_add: index \[3\] at position \(1,\)": lambda: tw.scatter_add(
                    tw.ones((2,)), [1, 3], 0, 3
                ),
                r"first bad one is 3 at position \(1, 0\)": lambda: tw.gather(x, [[0], [3]]),
            }
            for pattern, fn in bad.items():
                with pytest.raises(IndexError, match=pattern):
                    fn()

            def step(x, idx):
                return tw.gather_nd(x, idx)

            _, tr, reason, _ = capture(step, [x, tw.tensor([[0, 1], [2, 0]], dtype="int32")])
            assert tr is not None, reason  # the device check needs no host read
            out = tr.replay([x, tw.tensor([[2, 1], [1, 0]], dtype="int32")])
            np.testing.assert_array_equal(out.numpy(), [5.0, 2.0])
            with pytest.raises(IndexError, match=r"gather_nd: index \[0, 5\] at position \(1,\)"):
                tr.replay([x, tw.tensor([[0, 1], [0, 5]], dtype="int32")])
    finally:
        registry.remove_backend("hostc")


# --- tensors too large for the device ----------------------------------------------------------
class _FakeDevice(RenderedBackend):
    """A rendered backend whose runtime must never be reached: the size checks come first."""

    name = "fake"
    dialect = OPENCL
    max_alloc_bytes = 1000
    global_mem_bytes = 4000
    max_alloc_name = "CL_DEVICE_MAX_MEM_ALLOC_SIZE"

    def device_info(self) -> str:
        return "a fake device"

    def _alloc(self, nbytes, dtype):
        raise AssertionError(f"allocated {nbytes} bytes")

    def _kernel(self, source, name):
        raise AssertionError(f"built {name}")

    def _launch(self, kernel, groups, local, args):
        raise AssertionError("launched")


def test_too_large_raises_before_allocating():
    be = _FakeDevice()
    with pytest.raises(DeviceMemoryError) as info:
        be.fill((300,), 0, "float32")
    err = info.value
    assert isinstance(err, MemoryError)
    assert (err.op, err.shape, err.nbytes, err.limit) == ("fill", (300,), 1200, 1000)
    assert str(err).startswith("fill: a float32 tensor of shape (300,) needs 1200 bytes")
    assert "CL_DEVICE_MAX_MEM_ALLOC_SIZE of 1000 bytes" in str(err)
    with pytest.raises(
        DeviceMemoryError, match=r"^binary add: a float32 tensor of shape \(20, 20\)"
    ):
        be.binary("add", None, (20, 1), None, (1, 20), (20, 20), "float32")
    with pytest.raises(DeviceMemoryError, match=r"^pad: "):  # the op called, not its inner fill
        be.pad(None, (10, 10), "float32", ((0, 20), (0, 0)), 0)
    be.max_alloc_bytes = None
    with pytest.raises(DeviceMemoryError, match="the global memory of 4000 bytes"):
        be.fill((1001,), 0, "float32")
    be.global_mem_bytes = None
    with pytest.raises(DeviceMemoryError, match=r"at most 2147483647 elements .*32-bit"):
        be.fill((INT32_MAX + 1,), 0, "bool")


def test_opencl_too_large_names_op_shape_and_limit():
    _need_opencl()
    with tw.backend_scope("opencl"):
        be = registry.instance_of("opencl")
        limit = be.device.max_mem_alloc_size
        n = limit // 8 + 1  # float64: one element more than the largest allocation
        with pytest.raises(DeviceMemoryError) as info:
            tw.zeros((n,), "float64" if be.capabilities["float64"] else "float32")
        msg = str(info.value)
        assert msg.startswith("fill: a float") and f"shape ({n},)" in msg, msg
        assert f"of {limit} bytes" in msg and "CL_DEVICE_MAX_MEM_ALLOC_SIZE" in msg
        big = int(np.sqrt(limit // 4)) + 1  # a broadcast whose result exceeds the limit
        with pytest.raises(DeviceMemoryError, match=rf"^binary mul: .*shape \({big}, {big}\)"):
            tw.mul(
                tw.tensor(np.ones((big, 1), np.float32)), tw.tensor(np.ones((1, big), np.float32))
            )
        if INT32_MAX < limit:
            with pytest.raises(DeviceMemoryError, match="32-bit"):
                tw.zeros((INT32_MAX + 1,), "bool")
