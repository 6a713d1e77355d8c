import numpy as np
import pytest

from uqviz.predictions import Predictions, concatenate, parse_shift_group


def _probs(rng, s, n, c):
    p = rng.random((s, n, c)).astype(np.float32)
    return p / p.sum(-1, keepdims=True)


def test_shapes_and_defaults(rng):
    p = Predictions(_probs(rng, 3, 5, 4), np.array([0, 1, 2, 3, -1]),
                    group=np.array(["test"] * 4 + ["ood:noise"], dtype=object))
    assert (p.num_samples, p.n, p.num_classes) == (3, 5, 4)
    assert p.is_ood.tolist() == [False] * 4 + [True]
    assert p.mean_probs.shape == (5, 4)
    assert p.labelled_in_distribution().n == 4
    assert p.ood_rows().n == 1


def test_two_dimensional_probs_become_one_sample(rng):
    p = Predictions(_probs(rng, 1, 4, 3)[0], np.zeros(4, dtype=int))
    assert p.probs.shape == (1, 4, 3)


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 1, 7, 0]), "labels must be in -1..2"),
    (np.array([0.5, 1, 2, 0]), "integers"),
    (np.array([0, 1]), "labels must have shape"),
])
def test_validation_names_the_problem(rng, labels, message):
    with pytest.raises(ValueError, match=message):
        Predictions(_probs(rng, 1, 4, 3), labels)


def test_nan_rejected(rng):
    probs = _probs(rng, 1, 4, 3)
    probs[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Predictions(probs, np.zeros(4, dtype=int))


def test_concatenate_and_select(rng):
    a = Predictions(_probs(rng, 2, 3, 3), np.array([0, 1, 2]), method="m")
    b = Predictions(_probs(rng, 2, 2, 3), np.array([-1, -1]),
                    group=np.array(["ood:x", "ood:x"], dtype=object), method="m")
    both = concatenate([a, b])
    assert both.n == 5 and both.is_ood.sum() == 2
    assert both.groups == ["test", "ood:x"]
    np.testing.assert_array_equal(both.select(both.is_ood).probs, b.probs)


def test_parse_shift_group():
    assert parse_shift_group("gaussian_noise:3") == ("gaussian_noise", 3)
    assert parse_shift_group("ood:gaussian_noise") is None
    assert parse_shift_group("test") is None
