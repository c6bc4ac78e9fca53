"""Thread safety (README "Threads"): tidy scopes, tapes and trace captures are per thread,
concurrent predict/evaluate on one model match serial calls, predict beside fit neither breaks
the fit nor reads torn weights, and ``memory()`` stays exact. Bounded stress: a few seconds per
backend. Several threads run Python in turns (the GIL), so these tests exercise interleavings,
not parallel speed."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest

import engine as tw
import layers
from engine import dispatch, trace

THREADS = 4
#: engine.memory.HOOKS: the threads' non-empty tape/observer/recorder stacks
_HOOKS = sys.modules["engine.memory"].HOOKS


@pytest.fixture(autouse=True)
def _frequent_switches():
    """Switch threads every ~10 us instead of every 5 ms, so the interleavings are dense."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def _run_threads(fns: list[Callable[[], None]], timeout: float = 120.0) -> None:
    """Start one thread per function at the same moment (a barrier), join them all and raise
    the first error one of them hit."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(fns))

    def body(fn: Callable[[], None]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(fn,), daemon=True) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), f"threads still running after {timeout} s"
    if errors:
        raise errors[0]


def _model(seed: int = 0, jit: bool = True):
    tw.set_seed(seed)
    m = layers.sequential(
        [
            layers.dense(units=16, activation="relu", input_shape=[6]),
            layers.dense(units=3, activation="softmax"),
        ]
    )
    m.compile(optimizer="sgd", loss="categoricalCrossentropy", metrics=["accuracy"], jit=jit)
    return m


def _inputs(n_sets: int, rows: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.normal(size=(rows, 6)).astype(np.float32) for _ in range(n_sets)]


def _targets(x: np.ndarray) -> np.ndarray:
    return np.eye(3, dtype=np.float32)[np.argmax(x[:, :3], 1)]


def test_concurrent_predict_matches_serial(backend):
    # Distinct inputs per thread; 40 rows in batches of 16 give two batch signatures (16, 8).
    # A fresh twin model (same weights) is hit by all threads at once from its first call, so
    # trace capture and program recording race too; the first model gives the serial answers.
    ref_model, model = _model(), _model()
    xs = _inputs(THREADS)
    serial = [ref_model.predict(tw.tensor(x), batch_size=16).numpy() for x in xs]
    again = [ref_model.predict(tw.tensor(x), batch_size=16).numpy() for x in xs]
    for a, b in zip(serial, again, strict=True):
        np.testing.assert_array_equal(a, b)  # serial replays are deterministic
    results: list[list[np.ndarray]] = [[] for _ in xs]

    def worker(i: int) -> Callable[[], None]:
        def run() -> None:
            x = tw.tensor(xs[i])
            for _ in range(25):
                results[i].append(model.predict(x, batch_size=16).numpy())

        return run

    _run_threads([worker(i) for i in range(THREADS)])
    for i, outs in enumerate(results):
        assert len(outs) == 25
        for out in outs:
            # Same kernels on the same values: identical bits, not just close.
            np.testing.assert_array_equal(out, serial[i], err_msg=f"thread {i}")


def test_concurrent_evaluate_matches_serial(backend):
    model = _model()
    xs = _inputs(THREADS, rows=48)
    serial = [model.evaluate(x, _targets(x), batch_size=16) for x in xs]
    results: list[list] = [[] for _ in xs]

    def worker(i: int) -> Callable[[], None]:
        def run() -> None:
            for _ in range(10):
                results[i].append(model.evaluate(xs[i], _targets(xs[i]), batch_size=16))

        return run

    _run_threads([worker(i) for i in range(THREADS)])
    for i, outs in enumerate(results):
        assert outs == [serial[i]] * 10, f"thread {i}"


def test_tidy_scopes_are_per_thread(backend):
    # One thread keeps opening and closing tidy scopes while the others create tensors
    # outside any scope and inside their own: nothing of theirs may be disposed.
    gc.collect()
    start = tw.memory()["num_tensors"]
    stop = threading.Event()

    def churn() -> None:
        x = tw.tensor(np.arange(8, dtype=np.float32))
        n = 0
        while not stop.is_set() or n < 50:
            with tw.tidy():
                y = tw.mul(tw.add(x, 1.0), 2.0)
            assert y.is_disposed
            n += 1
        x.dispose()

    def user(seed: int) -> Callable[[], None]:
        def run() -> None:
            try:
                rng = np.random.default_rng(seed)
                for _ in range(60):
                    a = rng.normal(size=(5,)).astype(np.float32)
                    outer = tw.tensor(a)  # made outside any scope of this thread
                    kept = tw.tidy(lambda: tw.exp(tw.mul(outer, 0.5)))  # noqa: B023
                    with tw.tidy():
                        inner = tw.square(outer)
                        np.testing.assert_allclose(inner.numpy(), a * a, rtol=1e-6)
                    assert inner.is_disposed
                    assert not outer.is_disposed and not kept.is_disposed
                    np.testing.assert_allclose(kept.numpy(), np.exp(a * 0.5), rtol=1e-5)
                    np.testing.assert_allclose(tw.add(outer, 1.0).numpy(), a + 1.0, rtol=1e-6)
                    tw.dispose([outer, kept])
            finally:
                stop.set()

        return run

    _run_threads([churn] + [user(s) for s in range(THREADS - 1)])
    gc.collect()
    # memory accounting saw every creation and disposal of every thread
    assert tw.memory()["num_tensors"] == start


def test_memory_counts_exact_under_threads(backend):
    gc.collect()
    before = tw.memory()
    x = np.ones((4, 4), np.float32)

    def work() -> None:
        for _ in range(150):
            t = tw.tensor(x)
            u = tw.add(t, t)
            t.dispose()
            del u  # freed by reference counting, possibly while another thread counts

    _run_threads([work] * THREADS)
    gc.collect()
    after = tw.memory()
    for k in ("num_tensors", "num_data_buffers", "num_bytes"):
        assert after[k] == before[k], k


def test_memory_counts_exact_across_short_lived_threads(backend):
    # Tensors made in threads that end before the tensors are freed (here, by the main
    # thread): the counts stay exact, and ended threads' counter shards do not pile up.
    memory_mod = sys.modules["engine.memory"]
    gc.collect()
    before = tw.memory()
    made: list = []

    def make() -> None:
        made.append(tw.add(tw.tensor(np.ones(3, np.float32)), 1.0))

    for _ in range(12):
        t = threading.Thread(target=make)
        t.start()
        t.join()
    assert tw.memory()["num_tensors"] == before["num_tensors"] + 12
    assert len(memory_mod._shards) <= 3  # this thread, the last helper, maybe a leftover
    tw.dispose(made)
    made.clear()
    gc.collect()
    after = tw.memory()
    for k in ("num_tensors", "num_data_buffers", "num_bytes"):
        assert after[k] == before[k], k


def test_gradients_in_two_threads(backend):
    # Thread B's stop_gradient hides the tapes while it runs an op; with process-wide tapes that
    # hid thread A's tape too and A lost parts of its gradient.
    rng = np.random.default_rng(2)
    xa = rng.normal(size=(7,)).astype(np.float32)
    xb = rng.normal(size=(5,)).astype(np.float32)

    def fa(v):
        return tw.sum(tw.mul(tw.mul(v, v), v))  # d/dv = 3 v^2

    def fb(v):
        w = tw.stop_gradient(tw.stop_gradient(tw.mul(v, 2.0)))
        return tw.sum(tw.mul(tw.stop_gradient(w), v))  # d/dv = 2 v

    def run_a() -> None:
        g = tw.grad(fa)
        for _ in range(150):
            np.testing.assert_allclose(g(tw.tensor(xa)).numpy(), 3 * xa * xa, rtol=1e-5)

    def run_b() -> None:
        g = tw.grad(fb)
        for _ in range(150):
            np.testing.assert_allclose(g(tw.tensor(xb)).numpy(), 2 * xb, rtol=1e-5)

    _run_threads([run_a, run_b])
    assert not _HOOKS  # every tape pushed in a thread was popped and unregistered


def test_tape_survives_another_threads_custom_grad(backend):
    # Deterministic interleaving: thread A is in the middle of its gradient tape when thread B
    # runs a custom_grad forward (which hides the tapes while it runs); A's next op must still
    # be recorded on A's tape.
    x = np.array([1.0, 2.0, 3.0], np.float32)
    a_mid, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()
    out: dict[str, np.ndarray] = {}

    def fa(v):
        m = tw.mul(v, v)
        a_mid.set()
        assert b_inside.wait(30)
        return tw.sum(tw.mul(m, v))  # d/dv = 3 v^2

    def run_a() -> None:
        try:
            out["a"] = tw.grad(fa)(tw.tensor(x)).numpy()
        finally:
            a_done.set()

    def forward(v):
        b_inside.set()
        assert a_done.wait(30)
        return tw.mul(v, 2.0), lambda dy: [tw.mul(dy, 2.0)]

    def run_b() -> None:
        assert a_mid.wait(30)
        out["b"] = tw.grad(lambda v: tw.sum(tw.custom_grad(forward)(v)))(tw.tensor(x)).numpy()

    _run_threads([run_a, run_b])
    np.testing.assert_allclose(out["a"], 3 * x * x, rtol=1e-6)
    np.testing.assert_allclose(out["b"], np.full(3, 2.0), rtol=1e-6)
    assert not _HOOKS


def test_observers_and_captures_see_only_their_thread(backend):
    x = tw.tensor(np.ones(3, np.float32))
    _, alone, _, _ = trace.capture(lambda v: tw.exp(tw.neg(v)), [x])  # no other thread
    seen: list[str] = []
    captured: list = []
    stop = threading.Event()

    def observed() -> None:
        dispatch.observers.append(lambda name, *a: seen.append(name))
        try:
            # Another thread's ops must not leak into this capture.
            _, tr, reason, _ = trace.capture(lambda v: tw.exp(tw.neg(v)), [x])
            captured.append((tr, reason))
        finally:
            dispatch.observers.pop()
            stop.set()

    def noisy() -> None:
        while not stop.is_set():
            tw.dispose(tw.sqrt(tw.abs(x)))

    _run_threads([observed, noisy])
    tr, reason = captured[0]
    assert reason is None and tr is not None
    assert tr.num_kernels == alone.num_kernels
    assert set(seen) <= {"neg", "exp"}, seen
    np.testing.assert_allclose(tr.replay([x]).numpy(), np.exp(-np.ones(3)), rtol=1e-6)


def test_predict_beside_fit(backend):
    # fit in one thread while another predicts and evaluates on the same model: the fit must
    # finish unharmed (same weights as an undisturbed twin) and every predict batch must see
    # one consistent set of weights (rows of one batch sum to 1, none is NaN).
    rng = np.random.default_rng(3)
    x = rng.normal(size=(96, 6)).astype(np.float32)
    y = _targets(x)
    twin, model = _model(), _model()
    twin.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    done = threading.Event()
    histories: list = []
    preds: list[np.ndarray] = []

    def train() -> None:
        try:
            histories.append(model.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0))
        finally:
            done.set()

    def infer() -> None:
        xt = tw.tensor(x[:16])
        n = 0
        while not done.is_set() or n < 3:
            preds.append(model.predict(xt, batch_size=16).numpy())
            if n % 4 == 0:
                loss, acc = model.evaluate(x[:32], y[:32], batch_size=16)
                assert np.isfinite(loss) and 0.0 <= acc <= 1.0
            n += 1

    _run_threads([train, infer])
    assert len(histories[0].history["loss"]) == 4
    for p in preds:
        assert p.shape == (16, 3) and np.all(np.isfinite(p))
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    # fit's result does not depend on the predicts beside it. Tolerance, not bits: the cpu
    # backend may choose serial or parallel kernels differently in the two runs.
    for w_fit, w_twin in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(w_fit, w_twin, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        histories[0].history["loss"], twin.history.history["loss"], rtol=1e-5
    )


def test_second_fit_on_one_model_raises_at_once(backend):
    # Deterministic: the first fit waits in its epoch-end callback while the main thread tries
    # a second fit (refused at once, as TF.js) and a predict (served between the steps).
    from layers import callbacks as cbks

    rng = np.random.default_rng(4)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    y = _targets(x)
    model = _model()
    in_fit, release = threading.Event(), threading.Event()
    nested: list[str] = []

    def on_epoch_end(epoch, logs):
        if epoch == 0:
            try:  # a fit from the running fit's own callback is refused too
                model.fit(x, y, epochs=1, verbose=0)
            except RuntimeError as e:
                nested.append(str(e))
            in_fit.set()
            assert release.wait(30)

    cb = cbks.lambda_callback(on_epoch_end=on_epoch_end)
    histories: list = []

    def train() -> None:
        histories.append(model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb]))

    def other() -> None:
        try:
            assert in_fit.wait(30)
            with pytest.raises(RuntimeError, match="already being trained in another thread"):
                model.fit(x, y, epochs=1, verbose=0)
            assert model.predict(x[:4]).shape == (4, 3)
        finally:
            release.set()

    _run_threads([train, other])
    assert len(histories[0].history["loss"]) == 2
    assert nested and "already being trained in this thread" in nested[0]
    model.fit(x, y, epochs=1, verbose=0)  # the model is free again
