"""The cuda backend: without a usable GPU its factory raises with the reason (and the registry
records it); with one, programs are cached and op chains never read back to the host. Kernel
semantics run in test_crender on every rendered backend, cuda included when it starts."""

from __future__ import annotations

import numpy as np
import pytest


def _start():
    from backends.cuda import CudaBackend

    try:
        return CudaBackend(), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


_BE, _REASON = _start()
needs_gpu = pytest.mark.skipif(_BE is None, reason=f"cuda backend unavailable: {_REASON}")


def test_factory_raises_with_the_reason_without_a_gpu():
    if _BE is not None:
        pytest.skip(f"a usable GPU is present: {_BE.device_info()}")
    assert _REASON.startswith("RuntimeError: ")
    assert any(w in _REASON for w in ("CuPy", "CUDA", "cupy"))


def test_registry_records_why_cuda_is_unavailable():
    from engine import registry

    be = registry.find_backend("cuda")
    entry = registry._entries["cuda"]
    if _BE is not None:
        assert be is not None and entry.reason is None
    else:
        assert be is None and entry.reason and "RuntimeError" in entry.reason


def test_missing_cupy_is_named(monkeypatch):
    import builtins

    from backends.cuda import runtime

    real = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy":
            raise ImportError("No module named 'cupy'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    with pytest.raises(RuntimeError, match="needs CuPy"):
        runtime.import_cupy()


@needs_gpu
def test_device_info_and_capabilities():
    info = _BE.device_info()
    assert "CUDA device" in info and "MiB" in info
    assert _BE.capabilities["float64"] is True


@needs_gpu
def test_program_cache_compiles_nothing_the_second_time():
    from backends.cuda import runtime

    def step(n):
        a = _BE.from_numpy(np.ones((n, 5), np.float32))
        y = _BE.binary("mul", a, (n, 5), a, (n, 5), (n, 5), "float32")
        return _BE.to_numpy(_BE.reduce("sum", y, (n, 5), "float32", (1,)), (n,), "float32")

    step(3)
    before = runtime.build_count()
    np.testing.assert_array_equal(step(7), np.full(7, 5, np.float32))
    assert runtime.build_count() == before


@needs_gpu
def test_op_chain_reads_nothing_back(monkeypatch):
    reads = []
    real = _BE.cp.asnumpy
    monkeypatch.setattr(
        _BE.cp, "asnumpy", lambda a, *k, **kw: reads.append(a.shape) or real(a, *k, **kw)
    )
    x = _BE.from_numpy(np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32))
    y = _BE.matmul(x, (1, 4, 6), x, (1, 4, 6), "float32", False, True)
    z = _BE.reduce("max", _BE.unary("exp", y, (1, 4, 4), "float32"), (1, 4, 4), "float32", (2,))
    assert reads == []
    _BE.to_numpy(z, (1, 4), "float32")
    assert len(reads) == 1
