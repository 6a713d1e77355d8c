"""Dataset-shift analysis (uqviz.shift_analysis) on small predictions made by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uqviz.metrics.calibration import expected_calibration_error
from uqviz.metrics.classification import accuracy, negative_log_likelihood
from uqviz.metrics.scores import uncertainty
from uqviz.predictions import Predictions
from uqviz.shift_analysis import (
    TABLE_COLUMNS,
    all_corruptions_table,
    cases_at,
    corrupted_rows,
    evenly_spaced,
    rotation_frame,
    severities_present,
    severity_records,
    severity_series,
    severity_spread,
    severity_table,
    shift_corruptions,
    shift_metrics,
)
from uqviz.study import Study

N = 60


def _block(rng, group: str, noise: float, labels: np.ndarray | None = None):
    y = rng.integers(0, 3, N) if labels is None else labels
    logits = 3.0 * np.eye(3)[y] + (1.0 + noise) * rng.normal(size=(2, N, 3))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return probs, y, [group] * N


def _predictions(method: str = "m", seed: int = 0) -> Predictions:
    """Clean ``test`` rows, fog at severities 1 and 3, noise at 2, an OOD block and unlabelled
    rows in the fog group (they must not count)."""
    rng = np.random.default_rng(seed)
    blocks = [_block(rng, "test", 1.5), _block(rng, "fog:1", 0.5), _block(rng, "noise:2", 1.0),
              _block(rng, "fog:3", 2.0), _block(rng, "ood:x", 0.0, np.full(N, -1)),
              _block(rng, "fog:3", 0.0, np.full(N, -1))]
    probs = np.concatenate([b[0] for b in blocks], axis=1)
    labels = np.concatenate([b[1] for b in blocks])
    group = np.array(sum((b[2] for b in blocks), []), dtype=object)
    return Predictions(probs, labels, group=group, is_ood=group == "ood:x", method=method)


def test_corruptions_severities_and_rows():
    p = _predictions()
    assert shift_corruptions(p) == ("fog", "noise")
    assert shift_corruptions(p, order=["noise", "blur", "fog"]) == ("noise", "fog")
    assert severities_present(p, "fog") == [0, 1, 3]
    assert severities_present(p, "absent") == [0]
    rows = corrupted_rows(p, "fog", 3)
    assert rows.n == N and (rows.labels >= 0).all() and set(rows.group) == {"fog:3"}
    with pytest.raises(ValueError, match="severity 0 is the clean rows"):
        corrupted_rows(p, "fog", 0)


def test_shift_metrics_by_hand():
    rows = corrupted_rows(_predictions(), "fog", 3)
    mean, labels = rows.probs.mean(axis=0), rows.labels
    u = uncertainty(rows.probs, "entropy")
    correct = mean.argmax(axis=1) == labels
    assert 0 < correct.sum() < rows.n
    diff = u[~correct][:, None] - u[correct][None, :]  # AUROC by pair counting
    m = shift_metrics(rows, "entropy")
    assert m["n"] == N
    assert m["accuracy"] == pytest.approx(correct.mean())
    assert m["accuracy"] == pytest.approx(accuracy(mean, labels))
    assert m["ece"] == pytest.approx(expected_calibration_error(mean, labels))
    assert m["nll"] == pytest.approx(negative_log_likelihood(mean, labels))
    assert m["mean_uncertainty"] == pytest.approx(u.mean())
    assert m["auroc_wrong_vs_right"] == pytest.approx(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
    assert shift_metrics(rows, "entropy", u) == m
    all_right = rows.select(correct)
    assert np.isnan(shift_metrics(all_right, "entropy")["auroc_wrong_vs_right"])


def test_severity_zero_is_the_study_rows():
    p = _predictions()
    study = Study(p)
    records = study.shift_records("fog", "entropy")
    assert [r["severity"] for r in records] == [0, 1, 3]
    assert list(records[0]) == list(TABLE_COLUMNS)
    assert records[0] == {"method": "m", "corruption": "fog", "severity": 0,
                          **shift_metrics(study.rows, "entropy")}
    assert records == severity_records(p, "fog", "entropy", clean=study.rows)
    assert study.shift_records("fog", "entropy") is records  # memoised
    assert study.shift_rows("fog", 0) is study.rows
    np.testing.assert_array_equal(study.shift_uncertainty("fog", 0, "entropy"),
                                  study.uncertainty("entropy"))
    np.testing.assert_array_equal(study.shift_uncertainty("fog", 3, "entropy"),
                                  uncertainty(corrupted_rows(p, "fog", 3).probs, "entropy"))


def test_tables_series_and_spread():
    studies = [Study(_predictions("a", 0)), Study(_predictions("b", 1))]
    table = severity_table(studies, "fog", "entropy")
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table.method) == ["a"] * 3 + ["b"] * 3
    x, values = severity_series(table, "accuracy", ["a", "b"])
    assert list(x) == [0, 1, 3]
    assert list(values["b"]) == [r["accuracy"] for r in studies[1].shift_records("fog", "entropy")]

    everything = all_corruptions_table(studies, "entropy")
    assert len(everything) == 2 * (3 + 2)  # fog: 0, 1, 3; noise: 0, 2 (severity 0 per corruption)
    assert set(everything.corruption) == {"fog", "noise"}
    spread = severity_spread(everything, "ece", ["a"])
    assert [len(spread["a"][s]) for s in range(6)] == [2, 1, 1, 1, 0, 0]
    fog_1 = everything[(everything.method == "a") & (everything.severity == 1)].ece
    np.testing.assert_allclose(spread["a"][1], fog_1)
    nan_table = pd.DataFrame({"method": ["a", "a"], "severity": [1, 1], "x": [np.nan, 0.5]})
    assert list(severity_spread(nan_table, "x", ["a"], (1,))["a"][1]) == [0.5]


def test_cases_evenly_spaced_and_rotation():
    assert list(evenly_spaced(10, 4)) == [0, 3, 6, 9]
    assert list(evenly_spaced(3, 3)) == [0, 1, 2]
    study = Study(_predictions())
    picks = evenly_spaced(N, 8)
    cases = study.shift_cases("fog", 1, "entropy", picks)
    rows = study.shift_rows("fog", 1)
    np.testing.assert_array_equal(cases.predicted, rows.predicted[picks])
    np.testing.assert_array_equal(cases.labels, rows.labels[picks])
    np.testing.assert_array_equal(cases.correct, rows.predicted[picks] == rows.labels[picks])
    np.testing.assert_allclose(cases.uncertainty,
                               uncertainty(rows.probs, "entropy")[picks])
    assert cases_at(rows, uncertainty(rows.probs, "entropy"), picks).labels.tolist() == \
        cases.labels.tolist()

    probs = np.array([[[0.7, 0.3], [0.2, 0.8]], [[0.9, 0.1], [0.4, 0.6]]])  # S=2, A=2, C=2
    frame = rotation_frame("m", [0, 90], probs, "entropy")
    assert list(frame.columns) == ["method", "angle", "predicted", "confidence", "uncertainty"]
    assert list(frame.angle) == [0, 90] and list(frame.predicted) == [0, 1]
    np.testing.assert_allclose(frame.confidence, [0.8, 0.7])
    np.testing.assert_allclose(frame.uncertainty, uncertainty(probs, "entropy"))
