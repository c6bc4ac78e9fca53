"""``ModelCheckpoint`` replaces the folder it saves to; a folder that is not a saved model
(no ``model.json``) and is not empty is refused, naming it, instead of being deleted."""

from __future__ import annotations

import numpy as np
import pytest

import layers as L  # noqa: N812
from layers.callbacks import save_atomically


def _model():
    m = L.sequential([L.Dense(units=1, input_shape=[2])])
    m.compile(optimizer="sgd", loss="meanSquaredError")
    return m


def test_foreign_folder_is_not_replaced(tmp_path):
    target = tmp_path / "home"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    cb = L.callbacks.ModelCheckpoint(str(target))
    with pytest.raises(FileExistsError, match=r"home.*not a saved model"):
        _model().fit(
            np.ones((4, 2), np.float32),
            np.ones((4, 1), np.float32),
            epochs=1,
            callbacks=[cb],
            verbose=0,
        )
    assert (target / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_previous_save_and_empty_folder_are_replaced(tmp_path):
    m = _model()
    for name in ("empty", "saved"):
        (tmp_path / name).mkdir()
    save_atomically(m, str(tmp_path / "saved"))
    for name in ("empty", "saved"):
        save_atomically(m, str(tmp_path / name))
        assert (tmp_path / name / "model.json").is_file()


@pytest.mark.parametrize("pattern", ["{val_loss}", "{0}", "{epoch:zz}"])
def test_bad_filepath_pattern_names_it(tmp_path, pattern):
    cb = L.callbacks.ModelCheckpoint(str(tmp_path / pattern))
    with pytest.raises(ValueError, match=r"model_checkpoint: filepath .* cannot be filled.*epoch"):
        _model().fit(
            np.ones((4, 2), np.float32),
            np.ones((4, 1), np.float32),
            epochs=1,
            callbacks=[cb],
            verbose=0,
        )
