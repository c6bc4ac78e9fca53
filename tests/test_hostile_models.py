"""Model files are untrusted input: every hostile model of :mod:`hostile_models` makes
``load_model`` raise ``ModelLoadError`` without reading outside its folder, hanging or
allocating much; a fuzz test mutates a real save's ``model.json`` and weights and asserts the
loader either loads or raises ``ModelLoadError``, nothing else."""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import resource
import signal
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine as tw
import layers as L  # noqa: N812
from engine import train
from layers import saving
from layers.saving import ModelLoadError, load_model, save_model

sys.path.insert(0, str(Path(__file__).parent))
from hostile_models import CASES, SECRET_MARK, build_corpus  # noqa: E402

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="FIFOs, symlinks and rlimits as on Linux"
)

#: Headroom over the process's current address space while a hostile model loads: a loader
#: that tries a large allocation fails (and the test with it) instead of exhausting memory.
HEADROOM = 1 << 30
#: A loader that hangs (a FIFO, /dev/zero) is interrupted after this long.
HANG_S = 60
#: Fuzz examples (a fixed, derandomised set); ``TENSORWEAVE_FUZZ_EXAMPLES`` asks for a longer,
#: random run.
FUZZ_EXAMPLES = int(os.environ.get("TENSORWEAVE_FUZZ_EXAMPLES", "150"))


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


class Hung(Exception):
    """Raised by the watchdog when a load takes longer than HANG_S."""


@contextlib.contextmanager
def bounded() -> Iterator[None]:
    """Run the body with its address space capped at the current size + HEADROOM and an
    alarm after HANG_S (a hang guard, not a timing assertion)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hung(f"load_model still running after {HANG_S} s")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_bytes() + HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(HANG_S)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class OpenSpy:
    """Records every path opened or stat'ed through ``open``/``os.open``/``os.stat``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.paths: list[str] = []
        for mod, name in ((builtins, "open"), (io, "open"), (os, "open"), (os, "stat")):
            real = getattr(mod, name)
            monkeypatch.setattr(mod, name, self._wrap(real))

    def _wrap(self, real: Any) -> Any:
        def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(path, (str, bytes, os.PathLike)):
                self.paths.append(os.fsdecode(path))
            return real(path, *args, **kwargs)

        return spy


def _outside(path: str, root: Path) -> bool:
    real = os.path.realpath(path)
    forbidden = [os.path.realpath(root / "outside"), "/dev", "/etc", "/proc"]
    return any(real == f or real.startswith(f + os.sep) for f in forbidden)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_model_is_refused(name, tmp_path, monkeypatch):
    (case,) = build_corpus(tmp_path, [name])
    with bounded(), pytest.raises(ModelLoadError) as info:
        spy = OpenSpy(monkeypatch)
        try:
            load_model(case.path, **case.kwargs)
        finally:
            monkeypatch.undo()
    msg = str(info.value)
    assert str(case.path) in msg, f"the message should name the model's file: {msg}"
    assert "MemoryError" not in msg and not isinstance(info.value.__cause__, MemoryError), msg
    assert SECRET_MARK.decode() not in msg
    touched = [p for p in spy.paths if _outside(p, tmp_path)]
    assert touched == [], f"{case.what}: opened or stat'ed outside the model folder: {touched}"


def test_escapes_do_not_leak_outside_sizes(tmp_path):
    """The refusal of a path outside the folder says nothing about what lies there."""
    cases = build_corpus(tmp_path, ["etc_passwd", "symlink_out", "dotdot_escape"])
    sizes = {
        str(os.stat("/etc/passwd").st_size),
        str((tmp_path / "outside/secret.bin").stat().st_size),
    }
    for case in cases:
        with pytest.raises(ModelLoadError) as info:
            load_model(case.path)
        assert not any(s in str(info.value) for s in sizes), str(info.value)


def test_quantised_scale_must_be_finite(tmp_path):
    """A NaN scale no longer loads NaN weights: both the JSON literal and the string are refused
    by name; a finite scale of the same model loads."""
    (bad,) = build_corpus(tmp_path / "a", ["nan_scale_string"])
    with pytest.raises(ModelLoadError, match="scale") as info:
        load_model(bad.path)
    assert "d1/kernel" in str(info.value)
    from hostile_models import _quantised

    good = tmp_path / "good"
    build_corpus(tmp_path / "b", ["size_long"])  # any copy of the base model
    import shutil

    shutil.copytree(tmp_path / "b" / "base_dense", good)
    _quantised("0.5", "-1.0")(good, tmp_path)
    model = load_model(good)
    kernel = model.get_weights()[0]
    np.testing.assert_array_equal(kernel.ravel(), np.arange(12) * 0.5 - 1.0)


def test_swap_between_check_and_open_is_caught(tmp_path, monkeypatch):
    """If the folder changes between resolving a path and opening it (simulated: the resolved
    path points outside), the opened file's real location is checked before reading."""
    from layers import tfjs_format

    (case,) = build_corpus(tmp_path, ["size_long"])
    folder = tmp_path / "base_dense"
    secret = str(tmp_path / "outside" / "secret.bin")
    monkeypatch.setattr(tfjs_format, "resolve_inside", lambda folder, rel, label: secret)
    with pytest.raises(ModelLoadError, match="changed while it was opened") as info:
        load_model(folder)
    assert SECRET_MARK.decode() not in str(info.value)


def test_symlinks_inside_the_folder_still_load(tmp_path):
    """Confinement refuses escapes, not links that stay in the folder."""
    (case,) = build_corpus(tmp_path, ["size_long"])
    base = tmp_path / "base_dense"
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "data").mkdir()
    os.replace(base / "weights.bin", folder / "data" / "w.bin")
    (folder / "model.json").write_bytes((base / "model.json").read_bytes())
    os.symlink("data/w.bin", folder / "weights.bin")
    model = load_model(folder)
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]


def test_max_weight_bytes_admits_what_fits(tmp_path):
    (case,) = build_corpus(tmp_path, ["over_limit"])
    with pytest.raises(ModelLoadError, match="max_weight_bytes"):
        load_model(case.path, max_weight_bytes=103)
    load_model(case.path, max_weight_bytes=104)  # exactly the 104 bytes of the weights
    for bad in (-1, 1.5, "big", True):
        with pytest.raises(ValueError, match="max_weight_bytes must be"):
            load_model(case.path, max_weight_bytes=bad)


# --- fuzz ------------------------------------------------------------------------------------------
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 8),
    st.sampled_from([-1, 0, 2**31 - 1, 2**31, 2**40, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=6),
    st.sampled_from(["Dense", "float32", "int32", "uint8", "../x.bin", "/dev/zero", "weights.bin"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def fuzz_bases(tmp_path_factory) -> list[tuple[Path, dict, bytes]]:
    """Two real saves: a trained Sequential with its optimizer state, and a functional model
    with an embedding, an LSTM and a merge."""
    tw.set_seed(1)
    seq = L.sequential(
        [
            L.dense(units=4, input_shape=[3], name="d1"),
            L.batch_normalization(name="bn"),
            L.dense(units=2, activation="softmax", name="d2"),
        ]
    )
    seq.compile(optimizer=train.adam(0.01), loss="categoricalCrossentropy")
    seq.train_on_batch(np.ones((2, 3), np.float32), np.eye(2, dtype=np.float32))
    tokens = L.input(shape=[5], name="tokens", dtype="int32")
    extra = L.input(shape=[2], name="extra")
    seq_out = L.LSTM(3, name="lstm")(L.Embedding(input_dim=7, output_dim=2, name="emb")(tokens))
    out = L.Dense(1, name="head")(L.Concatenate(name="cat")([seq_out, extra]))
    fn = L.model(inputs=[tokens, extra], outputs=out)
    out = []
    root = tmp_path_factory.mktemp("fuzz")
    for name, model, opt in (("seq", seq, True), ("fn", fn, False)):
        folder = save_model(model, root / name, include_optimizer=opt)
        doc = json.loads((folder / "model.json").read_text())
        out.append((folder, doc, (folder / "weights.bin").read_bytes()))
    return out


def _slots(node: Any, out: list) -> list:
    """Every ``(container, key)`` of a JSON value, depth first."""
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for k, v in items:
        out.append((node, k))
        _slots(v, out)
    return out


def _mutate_json(data: st.DataObject, doc: Any) -> Any:
    """Replace, delete or add one to three values anywhere in ``doc`` (a copy); every node is
    equally likely, so most land in layer configs and manifest entries."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, 3))):
        slots = _slots(doc, [])
        if not slots:
            return data.draw(_VALUES)
        parent, key = data.draw(st.sampled_from(slots[::-1]))  # leaves first
        node = parent[key]
        action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            del parent[key]
        elif action == "add" and isinstance(node, dict):
            node[data.draw(st.sampled_from(["units", "shape", "paths", "dtype", "x"]))] = data.draw(
                _VALUES
            )
        elif action == "add" and isinstance(node, list):
            node.append(data.draw(_VALUES))
        else:
            parent[key] = data.draw(_VALUES)
    return doc


def _mutate_bytes(data: st.DataObject, blob: bytes) -> bytes:
    out = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["flip", "cut", "grow"]))
        if op == "flip" and out:
            i = data.draw(st.integers(0, len(out) - 1))
            out[i] = data.draw(st.integers(0, 255))
        elif op == "cut" and out:
            i = data.draw(st.integers(0, len(out) - 1))
            del out[i : i + data.draw(st.integers(1, 16))]
        else:
            i = data.draw(st.integers(0, len(out)))
            out[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    return bytes(out)


@pytest.mark.skipif(
    os.environ.get("TENSORWEAVE_BACKEND", "numpy").casefold() != "numpy",
    reason="the loader is backend-independent; the fuzz runs once, on the numpy backend",
)
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize="TENSORWEAVE_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzz_loader_loads_or_raises_model_load_error(fuzz_bases, tmp_path, data):
    folder, doc, weights = data.draw(st.sampled_from(fuzz_bases))
    target = Path(tempfile.mkdtemp(dir=tmp_path))  # tmp_path is shared by the examples
    what = data.draw(st.sampled_from(["json", "json", "json", "text", "weights", "both"]))
    text = json.dumps(doc)
    if what in ("json", "both"):
        text = json.dumps(_mutate_json(data, doc))
    raw = text.encode()
    if what == "text":
        raw = _mutate_bytes(data, raw)
    blob = _mutate_bytes(data, weights) if what in ("weights", "both") else weights
    (target / "model.json").write_bytes(raw)
    (target / "weights.bin").write_bytes(blob)
    with tw.backend_scope("numpy"), warnings.catch_warnings(), bounded():
        warnings.simplefilter("ignore")
        try:
            load_model(target)
        except ModelLoadError as e:
            assert "MemoryError" not in str(e) and not isinstance(e.__cause__, MemoryError), str(e)


def test_fuzz_bases_load(fuzz_bases):
    """The unmutated fuzz bases load (so the fuzz explores around valid models)."""
    (seq, _, _), (fn, _, _) = fuzz_bases
    assert saving.load_model(seq).optimizer is not None
    assert len(saving.load_model(fn).weights) == 6
