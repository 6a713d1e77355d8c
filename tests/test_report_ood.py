"""The report's "Unfamiliar inputs" section (``uqviz.plots.report``): every number is the
Study's (``ood_detection``, ``ood_auroc_ci``: the Out-of-distribution page's), each score's
settings are printed beside it, and a file without logits or features gets the probability
scores and one line saying why the others are missing."""

from __future__ import annotations

import html
import re
import subprocess
import sys

import numpy as np
import pytest

from uqviz.formatting import significant
from uqviz.plots.report import comparison_report, format_score_settings
from uqviz.predictions import Predictions
from uqviz.study import Comparison, Study

CLASSES, DIM = 3, 6


def predictions(rng: np.random.Generator, *, samples: int = 1, with_logits: bool = True,
                method: str = "softmax") -> Predictions:
    """120 fit rows, 200 test rows, 80 rows of each of two OOD groups (features moved by 2
    and by 4); logits are 1.5 × the first C feature coordinates (+ noise per sample)."""
    groups = ["fit"] * 120 + ["test"] * 200 + ["ood:near"] * 80 + ["ood:far"] * 80
    n = len(groups)
    labels = rng.integers(0, CLASSES, n)
    shift = np.array([{"ood:near": 2.0, "ood:far": 4.0}.get(g, 0.0) for g in groups])
    features = 3.0 * np.eye(CLASSES, DIM)[labels] + rng.normal(size=(n, DIM)) + shift[:, None]
    is_ood = np.array([g.startswith("ood:") for g in groups])
    labels = np.where(is_ood, -1, labels)
    logits = 1.5 * features[None, :, :CLASSES] + 0.3 * rng.normal(size=(samples, n, CLASSES))
    probs = np.exp(logits - logits.max(axis=2, keepdims=True))
    probs /= probs.sum(axis=2, keepdims=True)
    return Predictions(probs.astype(np.float32), labels, group=np.array(groups, dtype=object),
                       features=features.astype(np.float32) if with_logits else None,
                       logits=logits.astype(np.float32) if with_logits else None,
                       method=method)


def ood_section(report: str) -> str:
    (section,) = re.findall(r'<section id="ood">(.*?)</section>', report, flags=re.S)
    return section


def table_rows(section: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """(group, method, score) -> {field: data-value or text}."""
    out = {}
    for group, table in re.findall(r'<table class="plain ood" id="ood-table-\d+" '
                                   r'data-group="([^"]*)">(.*?)</table>', section, flags=re.S):
        for method, score, row in re.findall(r'<tr data-method="([^"]*)" data-score="([^"]*)"'
                                             r'[^>]*>(.*?)</tr>', table, flags=re.S):
            cells = {}
            for field, value, text in re.findall(
                    r'<td[^>]*data-field="([^"]*)"(?: data-value="([^"]*)")?>(.*?)</td>', row):
                cells[field] = value
                cells[field + "_text"] = html.unescape(re.sub(r"<.*?>", "", text)).strip()
            out[html.unescape(group), method, score] = cells
    return out


@pytest.fixture(scope="module")
def comparison():
    rng = np.random.default_rng(0)
    return Comparison({"softmax": Study(predictions(rng)),
                       "deep_ensemble": Study(predictions(rng, samples=3, with_logits=False,
                                                          method="deep_ensemble"))})


@pytest.fixture(scope="module")
def report(comparison):
    return comparison_report(comparison, dataset_name="toy", dataset_description="Toy data.",
                             generated="2026-01-01")


def test_every_number_is_the_studys(comparison, report):
    rows = table_rows(ood_section(report))
    expected = {(g, m, k) for g in ("ood:near", "ood:far")
                for m, s in comparison.studies.items() for k in s.ood_score_keys()}
    assert set(rows) == expected
    assert {k for _, m, k in rows if m == "softmax"} >= {
        "max_logit", "energy", "gen", "knn", "vim", "mahalanobis", "relative_mahalanobis"}
    for (group, method, score), cells in rows.items():
        study = comparison.studies[method]
        result = study.ood_detection(group, score)
        for field in ("auroc", "aupr_in", "aupr_out", "fpr95"):
            value = getattr(result, field)
            assert float(cells[field]) == value, (group, method, score, field)
            assert cells[field + "_text"].rstrip(" ★") == significant(value)
        low, high = study.ood_auroc_ci(group, score)
        assert [float(v) for v in cells["auroc_ci"].split()] == [low, high]
        assert cells["auroc_ci_text"] == f"[{significant(low)}, {significant(high)}]"
        assert cells["settings_text"] == format_score_settings(
            score, study.ood_scores.settings.get(score, {}))


def test_each_scores_settings_are_beside_it(comparison, report):
    rows = table_rows(ood_section(report))
    settings = comparison.studies["softmax"].ood_scores.settings
    knn = rows["ood:far", "softmax", "knn"]["settings_text"]
    assert knn == f"k = {settings['knn']['k']} (bank of 120 fit rows)"
    assert rows["ood:far", "softmax", "vim"]["settings_text"].startswith(
        f"dimension {settings['vim']['dim']}, α = ")
    assert rows["ood:far", "softmax", "gen"]["settings_text"] == "γ = 0.1, M = 3"
    assert rows["ood:far", "softmax", "energy"]["settings_text"] == "T = 1"
    assert rows["ood:far", "softmax", "mahalanobis"]["settings_text"] == (
        "3 classes, shared covariance")
    assert rows["ood:far", "deep_ensemble", "entropy"]["settings_text"] == "–"
    assert "fitted on 120 labelled fit rows" in ood_section(report)
    assert '<a href="#ood">Unfamiliar inputs</a>' in report


def test_a_method_without_logits_gets_the_probability_scores_and_the_reason(report):
    rows = table_rows(ood_section(report))
    assert {k for _, m, k in rows if m == "deep_ensemble"} == {
        "max_prob", "entropy", "mutual_information"}
    (line,) = re.findall(r'<p class="note" id="ood-unavailable">(.*?)</p>', ood_section(report))
    line = html.unescape(line)
    assert line == (
        "<b>Not available:</b> −max logit, Energy, GEN, ViM (Deep ensemble): needs logits (NPZ "
        "array 'logits'); KNN distance, Mahalanobis, Relative Mahalanobis (Deep ensemble): "
        "needs features (NPZ array 'features').")


def test_a_file_without_logits_says_why_once(tmp_path):
    rng = np.random.default_rng(1)
    p = predictions(rng, with_logits=False)
    report = comparison_report(Comparison({"softmax": Study(p)}), dataset_name="toy",
                               dataset_description="x", generated="2026-01-01")
    section = ood_section(report)
    assert {k for _, _, k in table_rows(section)} == {"max_prob", "entropy"}
    (line,) = re.findall(r'<p class="note" id="ood-unavailable">(.*?)</p>', section)
    line = html.unescape(line)
    assert line == (  # the only method lacks them: no method named
        "<b>Not available:</b> −max logit, Energy, GEN, ViM: needs logits (NPZ array "
        "'logits'); KNN distance, Mahalanobis, Relative Mahalanobis: needs features (NPZ "
        "array 'features').")


def test_no_section_without_ood_rows(rng):
    p = predictions(rng)
    study = Study(p.select(~p.is_ood))
    report = comparison_report(Comparison({"softmax": study}), dataset_name="toy",
                               dataset_description="x", generated="2026-01-01")
    assert 'id="ood"' not in report


def test_the_command_line_report_has_the_section(tmp_path):
    rng = np.random.default_rng(2)
    p = predictions(rng)
    path = tmp_path / "preds.npz"
    np.savez(path, logits=p.logits[0], features=p.features, labels=p.labels,
             group=p.group.astype(str))
    out = subprocess.run([sys.executable, "-m", "uqviz", "report", str(path), "--out",
                          str(tmp_path / "r.html")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = table_rows(ood_section((tmp_path / "r.html").read_text(encoding="utf-8")))
    study = Study(p.with_method("default"))
    assert float(rows["ood:near", "default", "knn"]["auroc"]) == pytest.approx(
        study.ood_detection("ood:near", "knn").auroc, rel=1e-6)
