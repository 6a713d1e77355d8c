"""``python -m uqviz referral``: a threshold with a guarantee, as one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from uqviz.exchange import read_predictions
from uqviz.metrics.guarantee import METHOD_NAMES, certify_threshold
from uqviz.metrics.scores import uncertainty


@pytest.fixture(scope="module")
def predictions_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 3000
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + rng.gamma(2, 1.5, (n, 1)) * np.eye(3)[labels]
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    path = tmp_path_factory.mktemp("referral") / "preds.csv"
    pd.DataFrame({"label": labels, **{f"p_{i}": p[:, i] for i in range(3)}}).to_csv(
        path, index=False)
    return path


def _run(*args):
    return subprocess.run([sys.executable, "-m", "uqviz", "referral", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_json_has_the_threshold_and_its_guarantee(predictions_csv):
    out = _run(predictions_csv, "--target-accuracy", 0.95, "--confidence", 0.95, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for key in ("threshold", "referred_fraction", "certified", "accuracy_bound", "heldout"):
        assert key in doc
    assert doc["certified"] and doc["accuracy_bound"] >= 0.95
    assert doc["n_calibration"] == 1500 and doc["heldout"]["n"] == 1500
    assert doc["method"] == "default" and doc["score"] == "max_prob"
    # "method" is the predictions' method; the guarantee's is "guarantee_method"
    assert doc["guarantee_method"] == "ltt_fallback"
    assert doc["procedure"] == METHOD_NAMES["ltt_fallback"] and "Learn then Test" in doc[
        "procedure"]
    assert doc["levels"] == 75  # grid rows: 5% of 1,500


@pytest.mark.parametrize("guarantee_method", ["ltt_fallback", "ltt_fixed_sequence", "sgr"])
def test_each_guarantee_method_matches_the_core(predictions_csv, guarantee_method):
    out = _run(predictions_csv, "--target-accuracy", 0.97, "--calibration-share", 1,
               "--guarantee-method", guarantee_method, "--json")
    doc = json.loads(out.stdout)
    p = read_predictions(predictions_csv).by_method["default"]
    core = certify_threshold(uncertainty(p.probs, "max_prob"), p.predicted == p.labels,
                             target_accuracy=0.97, method=guarantee_method)
    assert doc["guarantee_method"] == core.method == guarantee_method
    assert doc["threshold"] == pytest.approx(core.threshold) and doc["levels"] == core.levels
    assert doc["certified"] == core.certified
    assert doc["accuracy_bound"] == pytest.approx(core.accuracy_bound)


def test_the_policy_json_names_the_guarantee_method(predictions_csv):
    from uqviz.policy import policy_document
    from uqviz.study import Study

    study = Study(read_predictions(predictions_csv).by_method["default"])
    guarantee = study.guaranteed_referral("max_prob", target_accuracy=0.95)
    doc = policy_document(dataset="file", method="default", score="max_prob", mode="threshold",
                          point=guarantee.calibration, when="today",
                          guarantee=guarantee.to_dict())
    assert doc["method"] == "default" and doc["guarantee"]["method"] == "ltt_fallback"
    assert doc["guarantee"]["procedure"] == METHOD_NAMES["ltt_fallback"]
    sgr = study.guaranteed_referral("max_prob", target_accuracy=0.95, method="sgr").to_dict()
    assert sgr["method"] == "sgr" and sgr["levels"] == 20


def test_calibration_share_one_uses_every_labelled_row_and_matches_the_core(predictions_csv):
    out = _run(predictions_csv, "--target-accuracy", 0.97, "--calibration-share", 1, "--json")
    doc = json.loads(out.stdout)
    assert "heldout" not in doc and doc["n_calibration"] == 3000
    p = read_predictions(predictions_csv).by_method["default"]
    u = uncertainty(p.probs, "max_prob")
    core = certify_threshold(u, p.predicted == p.labels, target_accuracy=0.97)
    assert doc["threshold"] == pytest.approx(core.threshold)
    assert doc["accuracy_bound"] == pytest.approx(core.accuracy_bound)
    assert doc["certified"] == core.certified
    assert doc["referred_fraction"] == pytest.approx(1 - core.coverage)


def test_an_unreachable_target_is_reported_not_certified(predictions_csv):
    doc = json.loads(_run(predictions_csv, "--target-accuracy", 0.9999, "--json").stdout)
    assert doc["certified"] is False and 0 < doc["accuracy_bound"] < 0.9999


@pytest.mark.parametrize("args,message", [
    (("--target-accuracy", 1.5), "--target-accuracy must be between 0 and 1"),
    (("--target-accuracy", 0.9, "--confidence", 1), "--confidence must be between 0 and 1"),
    (("--target-accuracy", 0.9, "--score", "vibes"), "--score must be one of"),
    (("--target-accuracy", 0.9, "--method", "nope"), "no method 'nope'"),
    (("--target-accuracy", 0.9, "--guarantee-method", "vibes"),
     "--guarantee-method must be one of ltt_fallback, ltt_fixed_sequence, sgr"),
])
def test_bad_options_are_one_line_errors(predictions_csv, args, message):
    out = _run(predictions_csv, *args)
    assert out.returncode == 2 and message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
