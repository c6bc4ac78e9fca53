"""A corpus of hostile saved models: :func:`build_corpus` writes one model folder per case under
``root`` (each a real save, then edited) and returns the cases. Every case must make
``load_model`` raise ``ModelLoadError`` promptly, without reading anything outside its folder
(``root / "outside"`` holds the files an escape would reach) and without a large allocation.

Also runnable as a script against any checkout, to compare loaders::

    python tests/hostile_models.py        # one line per case: what load_model did
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The text of the file outside the model folders that escapes would reach; it has exactly
#: the size the base model's weights need, so a loader that follows the path loads it.
SECRET_MARK = b"TOPSECRET-"
#: A size beyond anything a test may allocate (an int32 shape's largest dimension).
HUGE = 2**31 - 1


@dataclass
class Case:
    """One hostile model: ``path`` is what to pass to ``load_model``; ``what`` says what is wrong."""

    name: str
    path: Path
    what: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def _base(folder: Path, kind: str = "dense", optimizer: bool = False) -> Path:
    import layers as L  # noqa: N812
    from engine import train
    from layers.saving import save_model

    if kind == "dense":
        model = L.sequential([L.Dense(4, input_shape=[3], name="d1"), L.Dense(2, name="d2")])
    elif kind == "conv":
        model = L.sequential(
            [L.Conv2D(2, 3, input_shape=[5, 5, 1], name="c1"), L.Flatten(), L.Dense(1, name="d")]
        )
    else:
        model = L.sequential(
            [L.Embedding(input_dim=6, output_dim=3, input_length=4, name="e"), L.Flatten()]
        )
    if optimizer:
        model.compile(optimizer=train.adam(0.01), loss="meanSquaredError")
    return save_model(model, folder, include_optimizer=optimizer)


def _doc(folder: Path) -> dict:
    return json.loads((folder / "model.json").read_text())


def _put(folder: Path, doc: Any) -> None:
    (folder / "model.json").write_text(json.dumps(doc))


def _edit(fn: Callable[[dict], Any]) -> Callable[[Path, Path], None]:
    def apply(folder: Path, outside: Path) -> None:
        doc = _doc(folder)
        fn(doc)
        _put(folder, doc)

    return apply


def _group(doc: dict) -> dict:
    return doc["weightsManifest"][0]


def _layer(doc: dict, i: int) -> dict:
    return doc["modelTopology"]["config"]["layers"][i]["config"]


def _spec(doc: dict, i: int) -> dict:
    return _group(doc)["weights"][i]


def _paths(*paths: Any) -> Callable[[Path, Path], None]:
    return _edit(lambda doc: _group(doc).__setitem__("paths", list(paths)))


def _weights_symlink(dest: Callable[[Path], str]) -> Callable[[Path, Path], None]:
    def apply(folder: Path, outside: Path) -> None:
        (folder / "weights.bin").unlink()
        os.symlink(dest(outside), folder / "weights.bin")

    return apply


def _out_dir_link(folder: Path, outside: Path) -> None:
    os.symlink(outside, folder / "sub")
    _paths("sub/secret.bin")(folder, outside)


def _fifo(name: str) -> Callable[[Path, Path], None]:
    def apply(folder: Path, outside: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)

    return apply


def _directory(folder: Path, outside: Path) -> None:
    (folder / "shard").mkdir()
    _paths("shard")(folder, outside)


def _resize(delta: int) -> Callable[[Path, Path], None]:
    def apply(folder: Path, outside: Path) -> None:
        data = (folder / "weights.bin").read_bytes()
        (folder / "weights.bin").write_bytes(data[:delta] if delta < 0 else data + b"\0" * delta)

    return apply


def _text(text: str | bytes) -> Callable[[Path, Path], None]:
    def apply(folder: Path, outside: Path) -> None:
        data = text.encode() if isinstance(text, str) else text
        (folder / "model.json").write_bytes(data)

    return apply


def _sparse_json(folder: Path, outside: Path) -> None:
    with open(folder / "model.json", "r+b") as f:
        f.truncate(300 * 2**20)  # sparse: no disk used, but a loader that reads it reads 300 MB


def _replace_text(old: str, new: str) -> Callable[[Path, Path], None]:
    def apply(folder: Path, outside: Path) -> None:
        text = (folder / "model.json").read_text()
        assert old in text, old
        (folder / "model.json").write_text(text.replace(old, new, 1))

    return apply


def _deep_topology(folder: Path, outside: Path) -> None:
    text = (folder / "model.json").read_text()
    n = 100_000
    (folder / "model.json").write_text(
        text.replace('"name": "d2"', '"name": "d2", "deep": ' + "[" * n + "]" * n, 1)
    )


def _quantised(scale: Any, minimum: Any = 0.0) -> Callable[[Path, Path], None]:
    """d1/kernel stored as uint8 with the given scale and min (written raw, so NaN stays NaN)."""

    def apply(folder: Path, outside: Path) -> None:
        doc = _doc(folder)
        specs = _group(doc)["weights"]
        data = (folder / "weights.bin").read_bytes()
        n = int(np.prod(specs[0]["shape"]))
        specs[0]["quantization"] = {"dtype": "uint8", "scale": 1.0, "min": 0.0}
        text = json.dumps(doc).replace(
            '"scale": 1.0, "min": 0.0', f'"scale": {scale}, "min": {minimum}', 1
        )
        (folder / "model.json").write_text(text)
        (folder / "weights.bin").write_bytes(bytes(range(n)) + data[4 * n :])

    return apply


def _duplicate_name(doc: dict) -> None:
    _spec(doc, 3)["name"] = _spec(doc, 1)["name"]  # d2/bias [2] renamed d1/bias [4]


def _missing_weight(folder: Path, outside: Path) -> None:
    doc = _doc(folder)
    _group(doc)["weights"].pop()
    _put(folder, doc)
    _resize(-8)(folder, outside)


def _optimizer_escape(folder: Path, outside: Path) -> None:
    doc = _doc(folder)
    specs = _group(doc)["weights"]
    model_part = [s for s in specs if s.get("group") != "optimizer"]
    opt_part = [s for s in specs if s.get("group") == "optimizer"]
    nbytes = sum(int(np.prod(s["shape"])) * 4 for s in model_part)
    data = (folder / "weights.bin").read_bytes()
    (folder / "weights.bin").write_bytes(data[:nbytes])
    (outside / "opt.bin").write_bytes(data[nbytes:])
    doc["weightsManifest"] = [
        {"paths": ["weights.bin"], "weights": model_part},
        {"paths": ["../outside/opt.bin"], "weights": opt_part},
    ]
    _put(folder, doc)


def _shard_escape(folder: Path, outside: Path) -> None:
    data = (folder / "weights.bin").read_bytes()
    (folder / "weights.bin").write_bytes(data[:16])
    _paths("weights.bin", "../outside/secret_tail.bin")(folder, outside)
    (outside / "secret_tail.bin").write_bytes(data[16:])


def _absolute(folder: Path, outside: Path) -> None:
    _paths(str(outside / "secret.bin"))(folder, outside)


def _topology(fn: Callable[[dict], Any]) -> Callable[[Path, Path], None]:
    return _edit(lambda doc: fn(doc["modelTopology"]))


#: name -> (base model, edit, what is wrong, load_model kwargs)
CASES: dict[str, tuple[str, Callable[[Path, Path], None], str, dict]] = {
    # weight paths
    "dotdot_escape": ("dense", _paths("../outside/secret.bin"), "path ../ leaves the folder", {}),
    "absolute_path": ("dense", _absolute, "absolute path to a file of the right size", {}),
    "etc_passwd": ("dense", _paths("/etc/passwd"), "absolute path /etc/passwd", {}),
    "symlink_out": (
        "dense",
        _weights_symlink(lambda o: str(o / "secret.bin")),
        "weights.bin is a symlink to a file outside",
        {},
    ),
    "symlink_dir_out": ("dense", _out_dir_link, "sub/ is a symlink to a folder outside", {}),
    "dev_zero_path": ("dense", _paths("/dev/zero"), "path /dev/zero (endless)", {}),
    "dev_zero_link": (
        "dense",
        _weights_symlink(lambda o: "/dev/zero"),
        "weights.bin links to /dev/zero",
        {},
    ),
    "fifo_weights": ("dense", _fifo("weights.bin"), "weights.bin is a FIFO (no writer)", {}),
    "fifo_model_json": ("dense", _fifo("model.json"), "model.json is a FIFO (no writer)", {}),
    "directory": ("dense", _directory, "the weight path is a directory", {}),
    "shard_escape": ("dense", _shard_escape, "second shard of a group leaves the folder", {}),
    "optimizer_escape": (
        "optimizer",
        _optimizer_escape,
        "the optimizer group's path leaves the folder",
        {},
    ),
    "non_string_path": ("dense", _paths(5), "paths [5]", {}),
    "null_path": ("dense", _paths(None), "paths [null]", {}),
    "list_path": ("dense", _paths(["weights.bin"]), "paths [[...]]", {}),
    "empty_path": ("dense", _paths(""), "paths ['']", {}),
    "paths_string": (
        "dense",
        _edit(lambda doc: _group(doc).__setitem__("paths", "weights.bin")),
        "paths is a string",
        {},
    ),
    # sizes
    "size_short": ("dense", _resize(-5), "weights.bin 5 bytes short", {}),
    "size_long": ("dense", _resize(8), "weights.bin 8 bytes long", {}),
    "negative_shape": (
        "dense",
        _edit(lambda doc: _spec(doc, 0).__setitem__("shape", [-3, -4])),
        "shape [-3, -4]",
        {},
    ),
    "huge_shape": (
        "dense",
        _edit(lambda doc: _spec(doc, 0).__setitem__("shape", [2**40, 2**40])),
        "shape [2^40, 2^40]",
        {},
    ),
    "float_shape": (
        "dense",
        _edit(lambda doc: _spec(doc, 0).__setitem__("shape", [3.0, 4.0])),
        "shape [3.0, 4.0]",
        {},
    ),
    "rank_100": (
        "dense",
        _edit(lambda doc: _spec(doc, 0).__setitem__("shape", [1] * 100)),
        "shape of 100 dimensions",
        {},
    ),
    "over_limit": (
        "dense",
        lambda f, o: None,
        "weights over max_weight_bytes",
        {"max_weight_bytes": 16},
    ),
    # topology sizes
    "huge_units": (
        "dense",
        _topology(lambda t: t["config"]["layers"][1]["config"].__setitem__("units", HUGE)),
        f"Dense units {HUGE} (manifest unchanged)",
        {},
    ),
    "huge_input_shape": (
        "dense",
        _topology(
            lambda t: t["config"]["layers"][0]["config"].__setitem__(
                "batch_input_shape", [None, HUGE]
            )
        ),
        f"input shape [None, {HUGE}]",
        {},
    ),
    "huge_filters": (
        "conv",
        _topology(lambda t: t["config"]["layers"][0]["config"].__setitem__("filters", HUGE)),
        f"Conv2D filters {HUGE}",
        {},
    ),
    "huge_kernel_size": (
        "conv",
        _topology(
            lambda t: t["config"]["layers"][0]["config"].__setitem__("kernel_size", [50000, 50000])
        ),
        "Conv2D kernel_size [50000, 50000]",
        {},
    ),
    "huge_embedding": (
        "embedding",
        _topology(lambda t: t["config"]["layers"][0]["config"].__setitem__("input_dim", HUGE)),
        f"Embedding input_dim {HUGE}",
        {},
    ),
    "overflow_units": (
        "dense",
        _topology(lambda t: t["config"]["layers"][1]["config"].__setitem__("units", 10**30)),
        "Dense units 10^30",
        {},
    ),
    "float_units": (
        "dense",
        _topology(lambda t: t["config"]["layers"][1]["config"].__setitem__("units", 2.5)),
        "Dense units 2.5",
        {},
    ),
    "bool_units": (
        "dense",
        _topology(lambda t: t["config"]["layers"][1]["config"].__setitem__("units", True)),
        "Dense units true",
        {},
    ),
    "string_units": (
        "dense",
        _topology(lambda t: t["config"]["layers"][1]["config"].__setitem__("units", "2")),
        "Dense units '2'",
        {},
    ),
    # JSON
    "deep_json": ("dense", _text("[" * 100_000 + "]" * 100_000), "100,000-deep array", {}),
    "deep_in_topology": ("dense", _deep_topology, "100,000-deep value inside a layer config", {}),
    "truncated_json": ("dense", _text('{"modelTopology": {"class_name": '), "truncated JSON", {}),
    "not_utf8": ("dense", _text(b'{"a": "\xff\xfe"}'), "bytes that are not UTF-8", {}),
    "json_array": ("dense", _text("[1, 2]"), "model.json is an array", {}),
    "nan_literal": ("dense", _replace_text('"units": 2', '"units": NaN'), "units NaN", {}),
    "huge_int_text": (
        "dense",
        _replace_text('"units": 2', '"units": ' + "9" * 5000),
        "5000-digit int",
        {},
    ),
    "overflow_float": ("dense", _replace_text('"units": 2', '"units": 1e999'), "units 1e999", {}),
    "huge_model_json": ("dense", _sparse_json, "model.json of 300 MB (sparse)", {}),
    # wrong types / missing keys
    "topology_list": (
        "dense",
        _edit(lambda d: d.__setitem__("modelTopology", [1])),
        "modelTopology []",
        {},
    ),
    "layers_int": (
        "dense",
        _topology(lambda t: t["config"].__setitem__("layers", 5)),
        "config.layers is 5",
        {},
    ),
    "class_name_list": (
        "dense",
        _topology(lambda t: t["config"]["layers"][0].__setitem__("class_name", ["Dense"])),
        "class_name is a list",
        {},
    ),
    "layer_config_string": (
        "dense",
        _topology(lambda t: t["config"]["layers"][0].__setitem__("config", "x")),
        "a layer's config is a string",
        {},
    ),
    "no_class_name": (
        "dense",
        _topology(lambda t: t["config"]["layers"][0].pop("class_name")),
        "a layer without class_name",
        {},
    ),
    "no_topology": ("dense", _edit(lambda d: d.pop("modelTopology")), "no modelTopology", {}),
    "manifest_dict": (
        "dense",
        _edit(lambda d: d.__setitem__("weightsManifest", {})),
        "weightsManifest {}",
        {},
    ),
    "group_list": (
        "dense",
        _edit(lambda d: d.__setitem__("weightsManifest", [[]])),
        "a group is []",
        {},
    ),
    "no_paths": ("dense", _edit(lambda d: _group(d).pop("paths")), "a group without paths", {}),
    "weights_not_list": (
        "dense",
        _edit(lambda d: _group(d).__setitem__("weights", {"a": 1})),
        "weights is an object",
        {},
    ),
    "entry_string": (
        "dense",
        _edit(lambda d: _group(d)["weights"].__setitem__(0, "d1/kernel")),
        "a weight entry is a string",
        {},
    ),
    "name_int": (
        "dense",
        _edit(lambda d: _spec(d, 0).__setitem__("name", 7)),
        "a weight name 7",
        {},
    ),
    "group_int": (
        "dense",
        _edit(lambda d: _spec(d, 0).__setitem__("group", 7)),
        "a weight group 7",
        {},
    ),
    "training_config_list": (
        "dense",
        _edit(lambda d: d.__setitem__("trainingConfig", [])),
        "trainingConfig []",
        {},
    ),
    # quantisation
    "nan_scale": ("dense", _quantised("NaN"), "uint8 scale NaN", {}),
    "nan_scale_string": ("dense", _quantised('"NaN"'), "uint8 scale the string 'NaN'", {}),
    "inf_min": ("dense", _quantised(1.0, "Infinity"), "uint8 min Infinity", {}),
    "overflowing_scale": (
        "dense",
        _quantised("1e308"),
        "uint8 scale 1e308 (dequantises to inf)",
        {},
    ),
    "bool_scale": ("dense", _quantised("true"), "uint8 scale true", {}),
    "unknown_quant_dtype": (
        "dense",
        _edit(lambda d: _spec(d, 0).__setitem__("quantization", {"dtype": "uint4"})),
        "quantization dtype uint4",
        {},
    ),
    # names and dtypes
    "duplicate_names": ("dense", _edit(_duplicate_name), "two entries named d1/bias", {}),
    "missing_weight": ("dense", _missing_weight, "the manifest lacks d2/bias", {}),
    "unknown_dtype": (
        "dense",
        _edit(lambda d: _spec(d, 0).__setitem__("dtype", "complex64")),
        "dtype complex64",
        {},
    ),
    "dtype_int": ("dense", _edit(lambda d: _spec(d, 0).__setitem__("dtype", 5)), "dtype 5", {}),
}


def build_corpus(root: Path, names: list[str] | None = None) -> list[Case]:
    """Write the hostile models (all of :data:`CASES`, or ``names``) under ``root`` and the
    files an escape would reach under ``root / "outside"``."""
    root = Path(root)
    outside = root / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    bases: dict[str, Path] = {}
    cases = []
    for name in names or list(CASES):
        kind, edit, what, kwargs = CASES[name]
        if kind not in bases:
            bases[kind] = _base(
                root / f"base_{kind}", "dense" if kind == "optimizer" else kind, kind == "optimizer"
            )
            if kind == "dense":
                size = (bases[kind] / "weights.bin").stat().st_size
                secret = (SECRET_MARK * (size // len(SECRET_MARK) + 1))[:size]
                (outside / "secret.bin").write_bytes(secret)
        folder = root / name
        shutil.copytree(bases[kind], folder, symlinks=True)
        edit(folder, outside)
        cases.append(Case(name, folder, what, kwargs))
    return cases


def _main() -> None:  # pragma: no cover - a manual comparison tool
    import subprocess
    import sys
    import tempfile

    if len(sys.argv) > 2:  # child: load one case and say what happened
        folder, kwargs = Path(sys.argv[1]), json.loads(sys.argv[2])
        from layers.saving import load_model

        try:
            load_model(folder, **kwargs)
            print("LOADED (no error)")
        except Exception as e:
            msg = str(e).replace(str(folder.parent), "<root>")
            print(f"{type(e).__name__}: {msg[:160]}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        cases = build_corpus(Path(tmp))
        for case in cases:
            cmd = [sys.executable, __file__, str(case.path), json.dumps(case.kwargs)]
            try:
                out = subprocess.run(
                    ["bash", "-c", 'ulimit -v 3000000; exec "$@"', "-", *cmd],
                    capture_output=True,
                    text=True,
                    timeout=20,
                )
                lines = (out.stdout.strip() or out.stderr.strip() or "?").splitlines()
                result = lines[-1]
            except subprocess.TimeoutExpired:
                result = "HANG (killed after 20 s)"
            print(f"{case.name:20s} | {case.what:45s} | {result}")


if __name__ == "__main__":
    _main()
