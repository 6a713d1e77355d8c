"""Reading NPZ files (``uqviz.exchange.npz``): (N, C) and (S, N, C) arrays, probabilities or
logits, examples with NaN or inf."""

from __future__ import annotations

import numpy as np

from tests.exchange.exchange_checks import read_error
from uqviz.exchange import read_predictions


def test_npz_two_dimensional_probs_and_logits(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, probs=np.array([[0.25, 0.75], [1.0, 0.0]]), labels=np.array([1, -1]),
             group=np.array(["test", "ood:noise"]), method=np.array("mine"))
    p = read_predictions(path).by_method["mine"]
    assert p.probs.shape == (1, 2, 2)
    np.testing.assert_array_equal(p.is_ood, [False, True])
    path = tmp_path / "logits.npz"
    np.savez(path, logits=np.zeros((3, 2, 4)), labels=np.array([0, 3]))
    p = read_predictions(path).by_method["default"]
    np.testing.assert_allclose(p.probs, np.full((3, 2, 4), 0.25))


def test_npz_non_finite_values_are_named_or_dropped(tmp_path):
    path = tmp_path / "nan.npz"
    probs = np.full((2, 3, 2), 0.5)
    probs[1, 2, 0] = np.nan
    probs[0, 2] = [0.9, 0.9]  # not checked: the example is dropped with its NaN
    np.savez(path, probs=probs, labels=np.array([0, 1, 1]))
    assert read_error(path) == (
        "nan.npz: probs[1, 2, 0] (0-based): value NaN is not a finite number; 1 example(s) have "
        "NaN or inf values; pass drop_invalid=True (--drop-invalid on the command line) to drop "
        "them")
    loaded = read_predictions(path, drop_invalid=True)
    assert loaded.warnings == ("dropped 1 example(s) of method 'default' with NaN or inf values "
                               "in 'probs' (first at probs[1, 2, 0] (0-based))",)
    assert loaded.by_method["default"].probs.shape == (2, 2, 2)
    assert loaded.num_rows == 6
