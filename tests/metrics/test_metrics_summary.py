"""method_summary, METRIC_INFO and metric_table on a small Predictions with OOD rows."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from uqviz.metrics import (
    METRIC_INFO,
    MetricTable,
    adaptive_calibration_error,
    area_under_risk_coverage,
    bootstrap_classification_cis,
    bootstrap_ood_auroc_ci,
    brier_score,
    entropy,
    excess_aurc,
    expected_calibration_error,
    maximum_calibration_error,
    method_summary,
    metric_table,
    mutual_information,
    negative_log_likelihood,
    ood_detection,
    wilson_ci,
)
from uqviz.predictions import Predictions
from uqviz.rows import RowSet


def _predictions(samples=3, with_ood=True, seed=0, sharpness=3.0, method="m"):
    rng = np.random.default_rng(seed)
    n_test, n_shift, n_unlabelled, n_ood, c = 200, 60, 15, (70 if with_ood else 0), 4
    n = n_test + n_shift + n_unlabelled + n_ood
    labels = rng.integers(0, c, n)
    logits = rng.normal(0, 1, (samples, n, c))
    logits[:, np.arange(n_test + n_shift), labels[: n_test + n_shift]] += sharpness
    probs = np.exp(logits)
    probs /= probs.sum(axis=2, keepdims=True)
    group = np.array(["test"] * n_test + ["blur:2"] * n_shift + ["test"] * n_unlabelled
                     + ["ood:noise"] * n_ood, dtype=object)
    labels[n_test + n_shift:] = -1
    return Predictions(probs=probs.astype(np.float32), labels=labels, group=group, method=method)


def test_method_summary_keys_values_and_json():
    p = _predictions()
    summary = method_summary(RowSet(p))
    assert list(summary) == ["n", "num_classes", "samples", "accuracy", "accuracy_ci", "nll",
                             "brier", "ece", "adaptive_ece", "mce", "aurc", "eaurc", "ood"]
    rows = p.labelled_in_distribution()
    assert summary["n"] == rows.n and summary["num_classes"] == 4 and summary["samples"] == 3
    assert 200 <= rows.n <= 260  # labelled, not OOD (whether shifted rows count is the contract's)
    mean = rows.probs.astype(np.float64).mean(axis=0)
    y = rows.labels
    correct = mean.argmax(1) == y
    u = 1 - mean.max(1)
    assert summary["accuracy"] == pytest.approx(correct.mean())
    assert summary["accuracy_ci"] == pytest.approx(list(wilson_ci(int(correct.sum()), rows.n)))
    assert summary["nll"] == pytest.approx(negative_log_likelihood(mean, y))
    assert summary["brier"] == pytest.approx(brier_score(mean, y))
    assert summary["ece"] == pytest.approx(expected_calibration_error(mean, y))
    assert summary["adaptive_ece"] == pytest.approx(adaptive_calibration_error(mean, y))
    assert summary["mce"] == pytest.approx(maximum_calibration_error(mean, y))
    assert summary["aurc"] == pytest.approx(area_under_risk_coverage(u, correct))
    assert summary["eaurc"] == pytest.approx(excess_aurc(u, correct))
    assert list(summary["ood"]) == ["max_prob", "entropy", "mutual_information"]
    for block in summary["ood"].values():
        assert list(block) == ["auroc", "aupr_in", "aupr_out", "fpr95"]
    out = p.ood_rows()
    expected = ood_detection(mutual_information(rows.probs), mutual_information(out.probs))
    assert summary["ood"]["mutual_information"]["auroc"] == pytest.approx(expected.auroc)
    assert summary["ood"]["entropy"]["fpr95"] == pytest.approx(
        ood_detection(entropy(rows.probs), entropy(out.probs)).fpr95
    )
    # sharp in-distribution predictions vs flat OOD ones: detectable
    assert summary["ood"]["entropy"]["auroc"] > 0.8
    decoded = json.loads(json.dumps(summary))
    assert decoded == summary
    for key in ("accuracy", "nll", "ece", "aurc"):
        assert type(summary[key]) is float


def test_method_summary_without_ood_or_samples():
    summary = method_summary(RowSet(_predictions(with_ood=False)))
    assert "ood" not in summary
    single = method_summary(RowSet(_predictions(samples=1)))
    assert list(single["ood"]) == ["max_prob", "entropy"]
    unlabelled = Predictions(probs=np.full((3, 2), 0.5), labels=np.full(3, -1))
    with pytest.raises(ValueError, match="no labelled in-distribution rows"):
        method_summary(RowSet(unlabelled))


def test_metric_info():
    assert list(METRIC_INFO) == ["accuracy", "nll", "brier", "ece", "adaptive_ece",
                                 "classwise_ece", "mce", "aurc", "eaurc", "ood_auroc"]
    for key, info in METRIC_INFO.items():
        assert info.key == key and info.label and info.meaning
        assert info.higher_is_better == (key in ("accuracy", "ood_auroc"))


def test_metric_table():
    sharp = _predictions(seed=1, sharpness=4.0, method="sharp")
    vague = _predictions(seed=2, sharpness=0.5, method="vague", samples=1)
    table = metric_table({"sharp": RowSet(sharp), "vague": RowSet(vague)}, n_resamples=200,
                         seed=0)
    assert isinstance(table, MetricTable)
    assert table.methods == ("sharp", "vague")
    assert table.metrics == ("accuracy", "nll", "brier", "ece", "adaptive_ece", "mce", "aurc",
                             "eaurc", "ood_auroc")
    assert table.value.shape == table.lower.shape == table.upper.shape == (2, 9)
    summary = method_summary(RowSet(sharp))
    for j, metric in enumerate(table.metrics[:-1]):
        assert table.value[0, j] == pytest.approx(summary[metric]), metric
    assert table.value[0, -1] == pytest.approx(summary["ood"]["entropy"]["auroc"])
    assert np.all(table.lower <= table.upper)
    acc = table.metrics.index("accuracy")
    assert np.all(table.lower[:, acc] <= table.value[:, acc])
    assert np.all(table.value[:, acc] <= table.upper[:, acc])
    # the intervals are the vectorised bootstrap ones, same seed
    rows = sharp.labelled_in_distribution()
    mean = rows.probs.astype(np.float64).mean(axis=0)
    cis = bootstrap_classification_cis(mean, rows.labels, n_resamples=200, seed=0)
    assert (table.lower[0, 3], table.upper[0, 3]) == pytest.approx(cis["ece"])
    ood = bootstrap_ood_auroc_ci(entropy(rows.probs), entropy(sharp.ood_rows().probs),
                                 n_resamples=200, seed=0)
    assert (table.lower[0, -1], table.upper[0, -1]) == pytest.approx(ood)
    assert table.best("accuracy") == "sharp"
    assert table.best("nll") == "sharp"
    with pytest.raises(ValueError, match="unknown metric"):
        table.best("classwise_ece")
    records = table.to_records()
    assert [r["method"] for r in records] == ["sharp", "vague"]
    assert records[1]["ece_lower"] == pytest.approx(table.lower[1, 3])
    assert set(records[0]) == {"method"} | {f"{m}{s}" for m in table.metrics
                                            for s in ("", "_lower", "_upper")}


def test_metric_table_ood_column_only_with_ood_rows():
    plain = metric_table({"a": RowSet(_predictions(with_ood=False))}, n_resamples=20)
    assert "ood_auroc" not in plain.metrics
    mixed = metric_table({"a": RowSet(_predictions(with_ood=False)), "b": RowSet(_predictions())},
                         n_resamples=20)
    column = mixed.metrics.index("ood_auroc")
    assert math.isnan(mixed.value[0, column]) and not math.isnan(mixed.value[1, column])
    assert mixed.best("ood_auroc") == "b"
    with pytest.raises(ValueError, match="at least one method"):
        metric_table({})


def test_metrics_import_no_torch_streamlit_or_plotly():
    code = ("import sys, uqviz.metrics; "
            "print([m for m in ('torch', 'streamlit', 'plotly') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
