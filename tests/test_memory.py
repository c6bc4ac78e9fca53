"""tidy / keep / dispose / memory(): counts stay flat, disposed tensors fail clearly."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from _oracle import check

import engine as tw


def _counts() -> tuple[int, int, int]:
    gc.collect()
    m = tw.memory()
    return m["num_tensors"], m["num_data_buffers"], m["num_bytes"]


def test_memory_reports_counts_per_backend(backend):
    before = tw.memory()
    assert {"num_tensors", "num_data_buffers", "num_bytes", "num_moves", "backends"} <= set(before)
    t = tw.zeros((10, 10))
    after = tw.memory()
    assert after["num_tensors"] == before["num_tensors"] + 1
    assert after["num_data_buffers"] >= before["num_data_buffers"] + 1
    assert after["num_bytes"] >= before["num_bytes"] + 400
    assert after["backends"][backend]["num_tensors"] >= 1
    t.dispose()
    assert tw.memory()["num_tensors"] == before["num_tensors"]


def test_dispose_frees_buffer(backend):
    start = _counts()
    t = tw.ones((32,))
    assert _counts()[0] == start[0] + 1
    tw.dispose(t)
    assert t.is_disposed
    assert _counts() == start
    t.dispose()  # disposing twice is harmless
    assert _counts() == start


def test_dispose_containers(backend):
    start = _counts()
    objs = {"a": tw.ones((2,)), "b": [tw.zeros((3,)), (tw.scalar(1.0),)]}
    tw.dispose(objs)
    assert _counts() == start
    assert objs["a"].is_disposed and objs["b"][1][0].is_disposed


def test_tidy_function_disposes_intermediates_and_keeps_result(backend):
    x = tw.tensor([1.0, 2.0, 3.0])
    start = _counts()

    def work():
        a = tw.exp(x)
        b = tw.mul(a, 2.0)
        return tw.sum(b)

    out = tw.tidy(work)
    assert _counts()[0] == start[0] + 1
    assert out.item() == pytest.approx(2 * np.exp([1.0, 2.0, 3.0]).sum(), rel=1e-6)
    assert not x.is_disposed  # created outside the scope


def test_tidy_returns_containers(backend):
    start = _counts()
    out = tw.tidy(lambda: {"a": tw.ones((2,)) * 2.0, "b": [tw.zeros((1,)) + 1.0]})
    assert _counts()[0] == start[0] + 2
    check(out["a"], np.array([2.0, 2.0]), "float32")
    check(out["b"][0], np.array([1.0]), "float32")


def test_tidy_context_manager(backend):
    start = _counts()
    with tw.tidy():
        a = tw.ones((4,))
        b = a + 1.0
        kept = tw.keep(b * 3.0)
    assert a.is_disposed and b.is_disposed
    assert not kept.is_disposed
    check(kept, np.full(4, 6.0), "float32")
    assert _counts()[0] == start[0] + 1


def test_tidy_name_form_and_decorator(backend):
    out = tw.tidy("named", lambda: tw.ones((2,)) + 1.0)
    check(out, np.full(2, 2.0), "float32")

    @tw.tidied
    def f(x):
        return tw.square(x) + 1.0

    start = _counts()
    r = f(tw.tensor([2.0]))
    assert _counts()[0] == start[0] + 1  # only the result survives
    check(r, np.array([5.0]), "float32")


def test_nested_tidy(backend):
    start = _counts()
    with tw.tidy():
        outer = tw.ones((2,))
        inner_result = tw.tidy(lambda: tw.ones((2,)) * 5.0)
        assert not inner_result.is_disposed  # returned from the inner scope, now owned by outer
        total = tw.keep(outer + inner_result)
    assert inner_result.is_disposed and outer.is_disposed
    check(total, np.full(2, 6.0), "float32")
    assert _counts()[0] == start[0] + 1


def test_tidy_disposes_on_exception(backend):
    start = _counts()
    created = []

    def boom():
        created.append(tw.ones((3,)))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        tw.tidy(boom)
    assert created[0].is_disposed
    assert _counts() == start


def test_thousand_ops_in_tidy_leave_memory_unchanged(backend):
    x = tw.tensor(np.linspace(0, 1, 16, dtype=np.float32))
    tw.tidy(lambda: tw.sum(tw.tanh(x * 2.0)))  # warm any caches first
    start = _counts()

    held = []  # Python references would keep buffers alive; tidy must free them anyway

    def loop():
        y = x
        for _ in range(1000):
            y = tw.tanh(y * 0.5 + 0.1)
            held.append(y)
        return None

    tw.tidy(loop)
    assert _counts() == start
    assert all(t.is_disposed for t in held)


def test_training_like_loop_memory_flat(backend):
    w = tw.variable(tw.tensor([[0.5], [-0.5]]), name="mem_w")
    x, y = tw.tensor([[1.0, 2.0], [3.0, 4.0]]), tw.tensor([[1.0], [2.0]])

    def step():
        g = tw.grad(lambda v: tw.mean(tw.square(tw.matmul(x, v) - y)))(w)
        w.assign(w - g * 0.01)

    tw.tidy(step)
    start = _counts()
    for _ in range(20):
        tw.tidy(step)
    assert _counts() == start
    assert tw.memory()["backends"][backend]["num_tensors"] >= 1
    assert not w.is_disposed


def test_grad_with_inner_tidy_keeps_memory_flat(backend):
    x, w = tw.tensor([1.0, 2.0]), tw.tensor([3.0, 4.0])

    def step():
        return tw.grad(lambda t: tw.tidy(lambda: tw.sum(tw.exp(t) * w)))(x)

    tw.tidy(step)
    start = _counts()
    for _ in range(5):
        g = tw.tidy(step)
        g.dispose()
    assert _counts() == start


def test_variables_survive_tidy(backend):
    with tw.tidy():
        v = tw.variable(tw.ones((2,)))
        v.assign(tw.zeros((2,)))
    assert not v.is_disposed
    check(v, np.zeros(2), "float32")


def test_using_a_disposed_tensor_raises_clearly(backend):
    t = tw.tensor([1.0, 2.0])
    t.dispose()
    with pytest.raises(RuntimeError, match=r"tensor \d+ \(shape \(2,\), float32\) was disposed"):
        t.numpy()
    with pytest.raises(RuntimeError, match="was disposed"):
        tw.add(t, 1.0)
    with pytest.raises(RuntimeError, match="keep"):
        _ = t.backend
    assert "disposed" in repr(t)
    with tw.tidy():
        inner = tw.ones((2,))
    with pytest.raises(RuntimeError, match="was disposed"):
        tw.exp(inner)
