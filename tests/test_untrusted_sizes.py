"""Sizes in the configs of the preprocessing layers are untrusted like ``units``: a loaded
``Resizing``/``CenterCrop``/``CategoryEncoding`` whose ``height``/``width``/``num_tokens``
is beyond ``0..2**31-1`` is refused at load time, naming the layer and the value (these layers
have no weights, so the weight guard cannot catch them; their first call would allocate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import layers as L  # noqa: N812
from layers.saving import ModelLoadError, load_model, save_model


def _model(kind: str):
    if kind == "resizing":
        return L.sequential([L.Resizing(height=3, width=3, input_shape=[4, 4, 1], name="c")])
    if kind == "center_crop":
        return L.sequential([L.CenterCrop(height=2, width=2, input_shape=[4, 4, 1], name="c")])
    return L.sequential([L.CategoryEncoding(num_tokens=4, input_shape=[3], name="c")])


@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [
        ("resizing", "height", 10**9 * 10),
        ("resizing", "width", 10**30),
        ("center_crop", "height", 2**31),
        ("category_encoding", "num_tokens", 10**12),
    ],
)
def test_huge_size_without_weights_is_refused(tmp_path: Path, kind, key, value):
    save_model(_model(kind), tmp_path)
    doc = json.loads((tmp_path / "model.json").read_text())
    doc["modelTopology"]["config"]["layers"][0]["config"][key] = value
    (tmp_path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelLoadError, match=rf"layer 'c' has {key} {value}.*0\.\.2147483647"):
        load_model(tmp_path)


@pytest.mark.parametrize("kind", ["resizing", "center_crop", "category_encoding"])
def test_ordinary_sizes_still_load(tmp_path: Path, kind):
    save_model(_model(kind), tmp_path)
    assert load_model(tmp_path).outputs[0].shape == _model(kind).outputs[0].shape
