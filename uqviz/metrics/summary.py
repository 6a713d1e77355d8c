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
from uqviz.metrics.selective import area_under_risk_coverage, excess_aurc
from uqviz.rows import RowSet

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


def _selective_points(rows: RowSet) -> dict[str, float]:
    """The point estimates of the metric table on one row set's scored rows."""
    probs, labels, correct = rows.mean_probs, rows.labels, rows.correct
    u = rows.uncertainty("max_prob")
    return {
        "accuracy": float(correct.mean()),
        "nll": negative_log_likelihood(probs, labels),
        "brier": brier_score(probs, labels),
        "ece": expected_calibration_error(probs, labels),
        "adaptive_ece": adaptive_calibration_error(probs, labels),
        "mce": maximum_calibration_error(probs, labels),
        "aurc": area_under_risk_coverage(u, correct),
        "eaurc": excess_aurc(u, correct),
    }


def method_summary(rows: RowSet) -> dict:
    """Headline metrics of one method as plain, JSON-ready Python values.

    Args:
        rows: every row of the method (``RowSet``): its ``scored`` rows are measured, its
            ``ood`` rows are told apart from them.

    Returns:
        ``{"n", "num_classes", "samples", "accuracy", "accuracy_ci": [lo, hi], "nll",
        "brier", "ece", "adaptive_ece", "mce", "aurc", "eaurc"}`` plus, when there are OOD
        rows, ``"ood": {score: {"auroc", "aupr_in", "aupr_out", "fpr95"}}`` for scores
        ``max_prob``, ``entropy`` and (only when S > 1) ``mutual_information``.

    Raises:
        ValueError: when no labelled in-distribution row exists.
    """
    scored = rows.scored
    n_correct = int(scored.correct.sum())
    points = _selective_points(scored)
    summary = {
        "n": int(scored.n),
        "num_classes": int(scored.num_classes),
        "samples": int(scored.num_samples),
        "accuracy": points.pop("accuracy"),
        "accuracy_ci": list(wilson_ci(n_correct, scored.n)),
        **points,
    }
    if rows.ood is not None:
        keys = [k for k in OOD_SUMMARY_SCORES
                if k != "mutual_information" or rows.num_samples > 1]
        summary["ood"] = {}
        for key in keys:
            result = ood_detection(scored.uncertainty(key), rows.ood.uncertainty(key))
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
    rows: dict[str, RowSet], *, n_resamples: int = 1000, seed: int = 0
) -> MetricTable:
    """Point estimates and 95% percentile bootstrap intervals for every method and metric.

    Columns: ``accuracy, nll, brier, ece, adaptive_ece, mce, aurc, eaurc`` and, when any method
    has OOD rows, ``ood_auroc`` (entropy as the score; in-distribution and OOD rows resampled
    separately). All intervals are vectorised (``bootstrap_classification_cis``); methods with
    the same rows share the same resamples (same seed). The point estimates are read from the
    row sets (``RowSet``), so they are the numbers every page shows.

    Args:
        rows: method name -> every row of the method (``RowSet``; its ``scored`` rows are
            measured, its ``ood`` rows give the OOD AUROC).
        n_resamples: bootstrap resamples per interval.
        seed: bootstrap seed.

    References:
        Efron & Tibshirani, "An Introduction to the Bootstrap", 1993.
    """
    if not rows:
        raise ValueError("metric_table needs at least one method, got none")
    for name, r in rows.items():
        if not isinstance(r, RowSet):
            raise ValueError(f"metric_table takes row sets; {name!r} is a {type(r).__name__}")
    has_ood = any(r.ood is not None for r in rows.values())
    metrics = TABLE_METRICS + (("ood_auroc",) if has_ood else ())
    shape = (len(rows), len(metrics))
    value = np.full(shape, np.nan)
    lower = np.full(shape, np.nan)
    upper = np.full(shape, np.nan)
    for i, r in enumerate(rows.values()):
        scored = r.scored
        points = _selective_points(scored)
        cis = bootstrap_classification_cis(scored.mean_probs, scored.labels,
                                           n_resamples=n_resamples, seed=seed)
        if r.ood is not None:
            u_in = scored.uncertainty(OOD_TABLE_SCORE)
            u_out = r.ood.uncertainty(OOD_TABLE_SCORE)
            points["ood_auroc"] = ood_detection(u_in, u_out).auroc
            cis["ood_auroc"] = bootstrap_ood_auroc_ci(u_in, u_out, n_resamples=n_resamples,
                                                      seed=seed)
        for j, metric in enumerate(metrics):
            if metric in points:
                value[i, j] = points[metric]
                lower[i, j], upper[i, j] = cis[metric]
    return MetricTable(tuple(rows), metrics, value, lower, upper)

