"""CategoryEncoding checks its ids inside compiled ``fit`` steps too: an id outside
``[0, num_tokens)`` raises an IndexError on every backend (checked on the device by gather's
index check, so the step stays compiled) instead of encoding as a silent all-zero row."""

from __future__ import annotations

import numpy as np
import pytest

import layers


def _model():
    ids = layers.input(shape=[3], dtype="int32")
    m = layers.model(inputs=ids, outputs=layers.Dense(1)(layers.CategoryEncoding(5, "count")(ids)))
    m.compile(optimizer="sgd", loss="meanSquaredError")
    return m


@pytest.mark.parametrize(("row", "bad"), [(0, 7), (29, -1), (17, 5)])
def test_out_of_range_id_in_compiled_fit_raises(backend, row, bad):
    x = np.random.default_rng(0).integers(0, 5, (32, 3)).astype(np.int32)
    x[row, 1] = bad
    with pytest.raises(IndexError, match=rf"must be in \[0, 5\).*first bad one is {bad} "):
        _model().fit(x, np.ones((32, 1), np.float32), epochs=2, batch_size=8, verbose=0)


def test_in_range_ids_still_train(backend, caplog):
    x = np.random.default_rng(1).integers(0, 5, (32, 3)).astype(np.int32)
    with caplog.at_level("WARNING", logger="tensorweave.trace"):
        _model().fit(x, np.ones((32, 1), np.float32), epochs=2, batch_size=8, verbose=0)
    assert not [r for r in caplog.records if "eagerly" in r.getMessage()], caplog.text
