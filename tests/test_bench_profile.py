"""bench.profile: the per-step profiler runs, accounts for every launch once, and its parts
add up to the step (no timing assertions beyond that sanity check)."""

from __future__ import annotations

import pytest

from bench import profile as prof


@pytest.fixture(scope="module")
def small() -> prof.Profile:
    # 20 full batches of 32: no ragged last batch, so every step runs the same program
    return prof.profile("mlp", 32, samples=640, epochs=2, chunk=False, quick_ceilings=True)


def test_every_launch_is_timed_once_per_step(small: prof.Profile) -> None:
    from backends.cpu.steps import program as P

    progs = [p for p in prof._programs().values() if p.arg_meta[0][0] == (32, 784)]
    assert progs, "the seed model's batch-32 program was not recorded"
    prog = max(progs, key=lambda p: p.steps_run)
    launch = sum(1 for s in prog.steps if type(s) is P.LaunchStep)
    host = sum(1 for s in prog.steps if type(s) in (P.HostStep, P.EffectStep))
    by = {p.name: p for p in small.parts}
    timed = sum(p.launches for n, p in by.items() if n not in ("host", "python"))
    assert timed == pytest.approx(launch)
    assert by["host"].launches == pytest.approx(host)
    assert by["gemm"].launches == pytest.approx(5)  # 2 forward, 3 backward matmuls
    assert by["update"].launches == pytest.approx(4)  # one Adam update per variable
    # the seed model's GEMM FLOPs per step: 2*32*(784*128 + 128*10) forward, 2x that backward
    # less the input gradient nobody needs (784-wide dX is not computed)
    fwd = 2 * 32 * (784 * 128 + 128 * 10)
    assert by["gemm"].flops == pytest.approx(fwd + fwd + 2 * 32 * 128 * 10)


def test_parts_sum_to_the_step(small: prof.Profile) -> None:
    for p in small.parts:
        if p.name != "python":
            assert p.us >= 0, p
    assert small.total_us > 0 and small.plain_us > 0
    # the timed parts may not exceed the step (a launch counted twice would)
    assert small.parts_sum_us == pytest.approx(small.total_us, rel=0.10)
    assert small.replay_us + small.outside_us == pytest.approx(
        next(p.us for p in small.parts if p.name == "python"), abs=1e-6
    )


def test_wrappers_are_removed(small: prof.Profile) -> None:
    from backends.cpu.steps import program as P

    for prog in prof._programs().values():
        for st in prog.steps:
            if type(st) is P.HostStep:
                assert "run" not in vars(st)
            elif type(st) is P.EffectStep:
                assert not getattr(st.fn, "__qualname__", "").endswith("_timed.<locals>.wrapper")
            elif type(st) is P.LaunchStep:
                assert not getattr(st.entry, "__qualname__", "").endswith("_timed.<locals>.wrapper")


def test_report_names_every_part(small: prof.Profile) -> None:
    text = prof.format_profile(small, launches=True)
    for name in ("gemm", "elementwise", "reduction", "update", "host", "python"):
        assert prof.LABELS[name] in text
    assert "opt_update" in text and "matmul" in text


def test_classify() -> None:
    from backends.cpu import kernels as K
    from backends.cpu import opt_kernels as O
    from backends.cpu.native import threads

    assert prof.classify(threads.matmul) == "gemm"
    assert prof.classify(K.softmax) == "reduction"
    assert prof.classify(K.gather) == "gather"
    assert prof.classify(K.bias_act) == "elementwise"
    assert prof.classify(O.opt_update) == "update"


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"batch_size": 0}, "batch_size 0"),
        ({"model": "rnn"}, "model 'rnn'"),
        ({"epochs": 0}, "epochs 0"),
        ({"samples": -5}, "samples -5"),
        ({"peers": ["keras"]}, "peer 'keras'"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        prof.profile(**kwargs)


def test_cli_rejects_a_bad_batch(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        prof.main(["0"])
    assert e.value.code == 2
    assert "'0': expected a positive integer" in capsys.readouterr().err
