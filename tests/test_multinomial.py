"""multinomial (TF.js ``multinomial``) on every backend: shapes, frequencies, seeds, errors."""

from __future__ import annotations

import numpy as np
import pytest

import engine as tw


def test_frequencies_follow_the_distribution(backend):
    p = np.array([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]], np.float32)
    n = 20000
    s = tw.multinomial(tw.tensor(np.log(p)), n, seed=0)
    assert s.shape == (2, n) and s.dtype == "int32"
    got = np.stack([np.bincount(r, minlength=3) / n for r in s.numpy()])
    # 5 standard deviations of a binomial frequency at n=20000 is < 0.018
    np.testing.assert_allclose(got, p, atol=0.018)


def test_normalized_probabilities_and_1d_input(backend):
    s = tw.multinomial(tw.tensor([0.0, 1.0, 0.0]), 50, seed=3, normalized=True)
    assert s.shape == (50,) and set(s.tolist()) == {1}
    # an unnormalised row of probabilities: draws scale by the row's total
    s = tw.multinomial(tw.tensor([[2.0, 2.0]]), 4000, seed=4, normalized=True).numpy()
    assert abs(s.mean() - 0.5) < 0.05 and set(np.unique(s)) == {0, 1}


def test_same_seed_same_samples_on_every_backend(backend):
    logits = np.array([[0.5, -1.0, 2.0, 0.0]], np.float32)
    got = tw.multinomial(tw.tensor(logits), 64, seed=11).numpy()
    with tw.backend_scope("numpy"):
        ref = tw.multinomial(tw.tensor(logits), 64, seed=11).numpy()
    np.testing.assert_array_equal(got, ref)
    assert ((got >= 0) & (got < 4)).all()


@pytest.mark.parametrize(
    ("logits", "n", "match"),
    [
        (np.zeros((2, 2, 2), np.float32), 1, "1-D or 2-D"),
        (np.zeros((2, 0), np.float32), 1, "at least one class"),
        (np.zeros((3,), np.float32), 0, "num_samples must be >= 1"),
    ],
)
def test_bad_arguments_raise(logits, n, match):
    with pytest.raises(ValueError, match=match):
        tw.multinomial(tw.tensor(logits), n)
    with pytest.raises(ValueError, match="num_samples"):
        tw.multinomial(tw.tensor([0.0, 1.0]), 2.5)
