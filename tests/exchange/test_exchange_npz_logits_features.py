"""NPZ files with ``logits`` beside ``probs`` and ``features`` (issue 24): kept on the
Predictions, written back, checked, rows with NaN dropped together."""

from __future__ import annotations

import numpy as np
import pytest

from tests.exchange.exchange_checks import read_error
from uqviz.exchange import read_predictions, write_predictions
from uqviz.numerics import softmax


def _arrays(n: int = 5, c: int = 3, d: int = 4, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c))
    return {"logits": logits, "features": rng.normal(size=(n, d)),
            "labels": np.array([0, 1, 2, 0, -1])[:n],
            "group": np.array(["fit", "fit", "test", "test", "ood:x"])[:n]}


def test_logits_and_features_are_kept(tmp_path):
    arrays = _arrays()
    path = tmp_path / "lf.npz"
    np.savez(path, **arrays)
    loaded = read_predictions(path)
    assert loaded.warnings == ()
    p = loaded.by_method["default"]
    np.testing.assert_allclose(p.logits[0], arrays["logits"], rtol=1e-6)
    np.testing.assert_allclose(p.features, arrays["features"], rtol=1e-6)
    np.testing.assert_allclose(p.probs[0], softmax(arrays["logits"]), rtol=1e-5)
    assert p.is_fit.tolist() == [True, True, False, False, False]
    assert p.labelled_in_distribution().n == 2


def test_logits_beside_probs_and_round_trip(tmp_path):
    arrays = _arrays()
    probs = np.stack([softmax(arrays["logits"])] * 2)
    path = tmp_path / "both.npz"
    np.savez(path, probs=probs, **arrays)
    p = read_predictions(path).by_method["default"]
    assert p.probs.shape == (2, 5, 3) and p.logits.shape == (1, 5, 3)
    out = write_predictions({"m": p}, tmp_path / "out.npz")
    again = read_predictions(out).by_method["m"]
    np.testing.assert_array_equal(again.logits, p.logits)
    np.testing.assert_array_equal(again.features, p.features)


def test_several_methods_carry_their_own(tmp_path):
    a, b = _arrays(seed=1), _arrays(seed=2)
    path = tmp_path / "two.npz"
    np.savez(path, methods=np.array(["a", "b"]), logits_0=a["logits"], labels_0=a["labels"],
             features_0=a["features"], logits_1=b["logits"], labels_1=b["labels"])
    loaded = read_predictions(path)
    np.testing.assert_allclose(loaded.by_method["a"].features, a["features"], rtol=1e-6)
    assert loaded.by_method["b"].features is None
    assert loaded.by_method["b"].logits is not None


def test_bad_shapes_and_values_are_one_line(tmp_path):
    arrays = _arrays()
    path = tmp_path / "bad.npz"
    np.savez(path, **{**arrays, "features": arrays["features"][:4]})
    assert read_error(path) == ("bad.npz: array 'features' must be (5, D) like 'logits''s 5 "
                                "examples, got shape (4, 4)")
    np.savez(path, probs=softmax(arrays["logits"]), **{**arrays, "logits": np.ones((5, 2))})
    assert "array 'logits' must be (5, 3) or (S, 5, 3)" in read_error(path)
    features = arrays["features"].copy()
    features[3, 1] = np.inf
    np.savez(path, **{**arrays, "features": features})
    assert read_error(path).startswith("bad.npz: features[3, 1] (0-based): value inf is not a "
                                       "finite number")
    loaded = read_predictions(path, drop_invalid=True)
    p = loaded.by_method["default"]
    assert p.n == 4 and p.features.shape == (4, 4) and p.logits.shape == (1, 4, 3)
    assert "in 'features'" in loaded.warnings[0]


@pytest.mark.parametrize("key", ["features", "logits"])
def test_strings_are_refused(tmp_path, key):
    arrays = _arrays()
    path = tmp_path / "text.npz"
    extra = {"probs": softmax(arrays["logits"])} if key == "logits" else {}
    np.savez(path, **{**arrays, **extra, key: np.full(arrays[key].shape, "x")})
    assert f"array {key!r} must hold numbers" in read_error(path)
