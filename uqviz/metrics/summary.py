"""One dict per method (command line, exports) and one table over methods (dashboard).

Both score the rows ``p.labelled_in_distribution()`` selects (known label, not OOD) with the
S samples averaged; selective metrics use ``1 - max prob`` as the uncertainty. OOD detection
compares the OOD rows with those scored rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqviz.metrics.bootstrap import (
    TABLE_METRICS,
    bootstrap_classification_cis,
    bootstrap_ood_auroc_ci,
)
from uqviz.metrics.calibration import (
    adaptive_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
)
from uqviz.metrics.classification import (
    brier_score,
    negative_log_likelihood,
    wilson_ci,
)
from uqviz.metrics.ood import ood_detection
from uqviz.metrics.scores import mean_probabilities, uncertainty
from uqviz.metrics.selective import area_under_risk_coverage, excess_aurc
from uqviz.predictions import Predictions

__all__ = [
    "METRIC_INFO",
    "MetricInfo",
    "MetricTable",
    "OOD_TABLE_SCORE",
    "method_summary",
    "metric_table",
]

OOD_SUMMARY_SCORES = ("max_prob", "entropy", "mutual_information")
OOD_TABLE_SCORE = "entropy"


@dataclass(frozen=True)
class MetricInfo:
    """How to show one metric: short label, one-line meaning (a tooltip), direction."""

    key: str
    label: str
    meaning: str
    higher_is_better: bool


METRIC_INFO: dict[str, MetricInfo] = {
    info.key: info
    for info in (
        MetricInfo("accuracy", "Accuracy", "Share of rows whose most likely class is right.", True),
        MetricInfo("nll", "NLL", "Mean −log probability given to the true class (nats); "
                   "punishes confident mistakes.", False),
        MetricInfo("brier", "Brier", "Mean squared distance between the probabilities and the "
                   "one-hot truth, summed over classes (0–2).", False),
        MetricInfo("ece", "ECE", "Average gap between confidence and accuracy over 15 "
                   "equal-width confidence bins.", False),
        MetricInfo("adaptive_ece", "Adaptive ECE", "Like ECE, but with 15 bins holding equal "
                   "numbers of rows.", False),
        MetricInfo("classwise_ece", "Class-wise ECE", "ECE of every class's probability "
                   "against that class occurring, averaged over classes.", False),
        MetricInfo("mce", "MCE", "Largest gap between confidence and accuracy in any "
                   "confidence bin.", False),
        MetricInfo("aurc", "AURC", "Mean error rate of the kept rows as more uncertain rows are "
                   "set aside (area under the risk–coverage curve).", False),
        MetricInfo("eaurc", "E-AURC", "AURC minus the best AURC possible with the same "
                   "mistakes: the cost of ranking uncertainty imperfectly.", False),
        MetricInfo("ood_auroc", "OOD AUROC", "Chance that a random in-distribution row is less "
                   "uncertain (entropy) than a random out-of-distribution row.", True),
    )
}


def _scored_rows(p: Predictions) -> Predictions:
    rows = p.labelled_in_distribution()
    if rows.n == 0:
        raise ValueError(
            f"method {p.method!r} has no labelled in-distribution rows to score "
            f"(labels all -1 or every row OOD, N={p.n})"
        )
    return rows


def method_summary(p: Predictions) -> dict:
    """Headline metrics of one method as plain, JSON-ready Python values.

    Returns:
        ``{"n", "num_classes", "samples", "accuracy", "accuracy_ci": [lo, hi], "nll",
        "brier", "ece", "adaptive_ece", "mce", "aurc", "eaurc"}`` plus, when ``p`` has OOD
        rows, ``"ood": {score: {"auroc", "aupr_in", "aupr_out", "fpr95"}}`` for scores
        ``max_prob``, ``entropy`` and (only when S > 1) ``mutual_information``.

    Raises:
        ValueError: when no labelled in-distribution row exists.
    """
    rows = _scored_rows(p)
    probs = mean_probabilities(rows.probs)
    labels = rows.labels
    correct = probs.argmax(axis=1) == labels
    n_correct = int(correct.sum())
    confidence_u = 1.0 - probs.max(axis=1)
    summary = {
        "n": int(rows.n),
        "num_classes": int(rows.num_classes),
        "samples": int(rows.num_samples),
        "accuracy": n_correct / rows.n,
        "accuracy_ci": list(wilson_ci(n_correct, rows.n)),
        "nll": negative_log_likelihood(probs, labels),
        "brier": brier_score(probs, labels),
        "ece": expected_calibration_error(probs, labels),
        "adaptive_ece": adaptive_calibration_error(probs, labels),
        "mce": maximum_calibration_error(probs, labels),
        "aurc": area_under_risk_coverage(confidence_u, correct),
        "eaurc": excess_aurc(confidence_u, correct),
    }
    if p.is_ood.any():
        out = p.ood_rows()
        keys = [k for k in OOD_SUMMARY_SCORES if k != "mutual_information" or p.num_samples > 1]
        summary["ood"] = {}
        for key in keys:
            result = ood_detection(uncertainty(rows.probs, key), uncertainty(out.probs, key))
            summary["ood"][key] = {
                "auroc": result.auroc,
                "aupr_in": result.aupr_in,
                "aupr_out": result.aupr_out,
                "fpr95": result.fpr95,
            }
    return summary


@dataclass(frozen=True, eq=False)
class MetricTable:
    """Metrics of several methods with bootstrap intervals.

    Attributes:
        methods: M method names (rows).
        metrics: K metric keys of ``METRIC_INFO`` (columns).
        value: (M, K) point estimates (NaN where a method lacks the data, e.g. no OOD rows).
        lower: (M, K) lower ends of the 95% percentile bootstrap intervals.
        upper: (M, K) upper ends.
    """

    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def _column(self, metric: str) -> int:
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; table has: {', '.join(self.metrics)}")
        return self.metrics.index(metric)

    def best(self, metric: str) -> str:
        """The method with the best point estimate of ``metric`` (direction from METRIC_INFO)."""
        column = self.value[:, self._column(metric)]
        if np.isnan(column).all():
            raise ValueError(f"no method has a value for {metric!r}")
        higher = METRIC_INFO[metric].higher_is_better
        index = np.nanargmax(column) if higher else np.nanargmin(column)
        return self.methods[int(index)]

    def to_records(self) -> list[dict]:
        """One dict per method: ``method``, then ``<metric>``, ``<metric>_lower``,
        ``<metric>_upper`` for every metric (plain floats, NaN where missing)."""
        records = []
        for i, method in enumerate(self.methods):
            record: dict = {"method": method}
            for j, metric in enumerate(self.metrics):
                record[metric] = float(self.value[i, j])
                record[f"{metric}_lower"] = float(self.lower[i, j])
                record[f"{metric}_upper"] = float(self.upper[i, j])
            records.append(record)
        return records


def metric_table(
    predictions: dict[str, Predictions], *, n_resamples: int = 1000, seed: int = 0
) -> MetricTable:
    """Point estimates and 95% percentile bootstrap intervals for every method and metric.

    Columns: ``accuracy, nll, brier, ece, adaptive_ece, mce, aurc, eaurc`` and, when any method
    has OOD rows, ``ood_auroc`` (entropy as the score; in-distribution and OOD rows resampled
    separately). All intervals are vectorised (``bootstrap_classification_cis``); methods with
    the same rows share the same resamples (same seed).

    Args:
        predictions: method name -> Predictions.
        n_resamples: bootstrap resamples per interval.
        seed: bootstrap seed.

    References:
        Efron & Tibshirani, "An Introduction to the Bootstrap", 1993.
    """
    if not predictions:
        raise ValueError("metric_table needs at least one method, got none")
    has_ood = any(bool(p.is_ood.any()) for p in predictions.values())
    metrics = TABLE_METRICS + (("ood_auroc",) if has_ood else ())
    shape = (len(predictions), len(metrics))
    value = np.full(shape, np.nan)
    lower = np.full(shape, np.nan)
    upper = np.full(shape, np.nan)
    for i, p in enumerate(predictions.values()):
        rows = _scored_rows(p)
        probs = mean_probabilities(rows.probs)
        labels = rows.labels
        correct = probs.argmax(axis=1) == labels
        u = 1.0 - probs.max(axis=1)
        points = {
            "accuracy": float(correct.mean()),
            "nll": negative_log_likelihood(probs, labels),
            "brier": brier_score(probs, labels),
            "ece": expected_calibration_error(probs, labels),
            "adaptive_ece": adaptive_calibration_error(probs, labels),
            "mce": maximum_calibration_error(probs, labels),
            "aurc": area_under_risk_coverage(u, correct),
            "eaurc": excess_aurc(u, correct),
        }
        cis = bootstrap_classification_cis(probs, labels, n_resamples=n_resamples, seed=seed)
        if has_ood and p.is_ood.any():
            out = p.ood_rows()
            u_in = uncertainty(rows.probs, OOD_TABLE_SCORE)
            u_out = uncertainty(out.probs, OOD_TABLE_SCORE)
            points["ood_auroc"] = ood_detection(u_in, u_out).auroc
            cis["ood_auroc"] = bootstrap_ood_auroc_ci(u_in, u_out, n_resamples=n_resamples,
                                                      seed=seed)
        for j, metric in enumerate(metrics):
            if metric in points:
                value[i, j] = points[metric]
                lower[i, j], upper[i, j] = cis[metric]
    return MetricTable(tuple(predictions), metrics, value, lower, upper)

