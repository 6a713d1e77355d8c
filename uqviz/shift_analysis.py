"""Dataset shift: accuracy, calibration and uncertainty of each method as the test images get
more corrupted, and the rotated digit.

Predictions on the corruption suite hold, besides the clean test rows, one group per
corruption × severity named ``<corruption>:<severity>`` (severity 1–5; ``uqviz.predictions``).
**Severity 0 is the scored rows of a study** (``uqviz.study.Study.rows``: labelled, in
distribution, not corrupted), passed in as ``clean``: one definition for every page. Higher
severities are the labelled rows of their group, in the order of the clean test rows.

Per (method, corruption, severity) ``shift_metrics`` gives accuracy, ECE, NLL, the mean
uncertainty and the AUROC of telling wrong from right predictions by the uncertainty. A
trustworthy method loses accuracy gracefully and grows more uncertain as the shift grows.

numpy and pandas only (no streamlit, no plotly, no torch): ``python -m uqviz`` reaches it too.

References:
    Ovadia et al., "Can You Trust Your Model's Uncertainty? Evaluating Predictive Uncertainty
    Under Dataset Shift", NeurIPS 2019 (metrics against severity).
    Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
    Perturbations", ICLR 2019 (corruptions at five severities).
    Gal & Ghahramani, "Dropout as a Bayesian Approximation", ICML 2016 (the rotated digit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from uqviz.metrics.calibration import expected_calibration_error
from uqviz.metrics.classification import accuracy, negative_log_likelihood
from uqviz.metrics.guarantee import calibration_split
from uqviz.metrics.label_free import ESTIMATORS, estimate_accuracy, fit_reference
from uqviz.metrics.ood import ood_detection
from uqviz.metrics.scores import uncertainty
from uqviz.predictions import Predictions, parse_shift_group, shift_group

__all__ = [
    "LABEL_FREE_COLUMNS",
    "LABEL_FREE_ESTIMATORS",
    "MIN_LABEL_FREE_ROWS",
    "SEVERITY_LEVELS",
    "TABLE_COLUMNS",
    "Cases",
    "all_corruptions_table",
    "cases_at",
    "corrupted_rows",
    "evenly_spaced",
    "label_free_records",
    "label_free_series",
    "label_free_table",
    "rotation_frame",
    "severities_present",
    "severity_records",
    "severity_series",
    "severity_spread",
    "severity_table",
    "shift_corruptions",
    "shift_metrics",
    "shift_table",
]

SEVERITY_LEVELS = (0, 1, 2, 3, 4, 5)
TABLE_COLUMNS = ("method", "corruption", "severity", "n", "accuracy", "ece", "nll",
                 "mean_uncertainty", "auroc_wrong_vs_right")
LABEL_FREE_ESTIMATORS = ("atc_mc", "doc")
MIN_LABEL_FREE_ROWS = 4
LABEL_FREE_COLUMNS = ("method", "corruption", "severity", "n", "accuracy", "estimator",
                      "estimate", "low", "high")


# -- rows --------------------------------------------------------------------------------------
def shift_corruptions(p: Predictions, order: Iterable[str] = ()) -> tuple[str, ...]:
    """Corruption names present as ``<corruption>:<severity>`` groups: those named in ``order``
    first, in its order (e.g. the registry ``uqviz.shifts.CORRUPTIONS``), then the others in
    order of appearance."""
    names: list[str] = []
    for g in p.groups:
        parsed = parse_shift_group(g)
        if parsed is not None and parsed[0] not in names:
            names.append(parsed[0])
    known = [c for c in order if c in names]
    return (*known, *(c for c in names if c not in known))


def severities_present(p: Predictions, corruption: str) -> list[int]:
    """Severities of ``SEVERITY_LEVELS`` with rows of ``corruption`` (0, the clean rows, always)."""
    present = {parse_shift_group(g) for g in p.groups}
    return [s for s in SEVERITY_LEVELS if s == 0 or (corruption, s) in present]


def corrupted_rows(p: Predictions, corruption: str, severity: int) -> Predictions:
    """Labelled rows of ``<corruption>:<severity>`` (severity >= 1; severity 0 is the study's
    scored rows, see the module docstring)."""
    if severity < 1:
        raise ValueError(f"severity 0 is the clean rows (Study.rows); got severity {severity}")
    rows = p.in_group(shift_group(corruption, severity))
    return rows.select(rows.labels >= 0)


# -- metrics -----------------------------------------------------------------------------------
def shift_metrics(rows: Predictions, score: str, u: np.ndarray | None = None) -> dict[str, float]:
    """Accuracy, ECE, NLL, mean uncertainty and AUROC of telling wrong from right predictions
    (correct rows as "in", wrong rows as "out"; NaN when all are right or all wrong).

    Args:
        rows: labelled rows of one method at one severity.
        score: a key of ``uqviz.metrics.scores.UNCERTAINTY_SCORES``.
        u: (N,) the rows' uncertainty under ``score`` when already computed.

    References: Ovadia et al., NeurIPS 2019; Guo et al., ICML 2017 (ECE); Hendrycks & Gimpel,
    ICLR 2017 (AUROC of misclassification detection).
    """
    mean = rows.mean_probs
    u = uncertainty(rows.probs, score) if u is None else u
    correct = mean.argmax(axis=1) == rows.labels
    auroc = (ood_detection(u[correct], u[~correct]).auroc if 0 < correct.sum() < rows.n
             else float("nan"))
    return {"n": rows.n, "accuracy": accuracy(mean, rows.labels),
            "ece": expected_calibration_error(mean, rows.labels),
            "nll": negative_log_likelihood(mean, rows.labels),
            "mean_uncertainty": float(u.mean()), "auroc_wrong_vs_right": auroc}


def severity_records(p: Predictions, corruption: str, score: str, *, clean: Predictions,
                     clean_uncertainty: np.ndarray | None = None) -> list[dict]:
    """One record (``TABLE_COLUMNS``) per available severity 0–5 of ``corruption`` for one
    method: severity 0 scores ``clean`` (the study's scored rows, with their uncertainty
    ``clean_uncertainty`` when already computed), the others ``corrupted_rows``."""
    records = []
    for severity in severities_present(p, corruption):
        rows, u = ((clean, clean_uncertainty) if severity == 0
                   else (corrupted_rows(p, corruption, severity), None))
        records.append({"method": p.method, "corruption": corruption, "severity": severity,
                        **shift_metrics(rows, score, u)})
    return records


def label_free_records(p: Predictions, corruption: str, *, clean: Predictions,
                       estimators: Sequence[str] = LABEL_FREE_ESTIMATORS,
                       reference_share: float = 0.5, n_boot: int = 200,
                       seed: int = 0) -> list[dict]:
    """Accuracy estimated without labels beside the true one, per severity 0–5 of
    ``corruption`` for one method (``LABEL_FREE_COLUMNS``, one record per severity and
    estimator): how far to trust a label-free estimate under this shift.

    The clean rows (``clean``, the study's scored rows) are split by
    ``calibration_split(n, reference_share, seed)`` into a labelled reference
    (``uqviz.metrics.label_free.fit_reference``) and held-out rows. Severity 0's target is the
    held-out clean rows; severity k's the corrupted copies of the same rows when the group is a
    copy of the clean rows (as many rows, in their order), else all its labelled rows. The
    estimate's interval has level 95% (``estimate_accuracy``); ``accuracy`` is the target's
    true accuracy. The protocol of ``benchmarks/bench_label_free.py``. No records when there
    are fewer than ``MIN_LABEL_FREE_ROWS`` clean rows (too few to split).

    References: Guillory et al., ICCV 2021 (DoC); Garg et al., ICLR 2022 (ATC).
    """
    if clean.n < MIN_LABEL_FREE_ROWS:
        return []
    reference, held = calibration_split(clean.n, reference_share, seed)
    ref = clean.select(reference)
    fitted = fit_reference(ref.mean_probs, ref.labels, n_boot=n_boot, seed=seed,
                           with_temperature=any(ESTIMATORS[e].temperature for e in estimators))
    records = []
    for severity in severities_present(p, corruption):
        rows = clean if severity == 0 else corrupted_rows(p, corruption, severity)
        target = rows.select(held) if rows.n == clean.n else rows
        found = estimate_accuracy(fitted, target.mean_probs, estimators=tuple(estimators),
                                  seed=seed + 1, target_correct=target.predicted == target.labels)
        records += [{"method": p.method, "corruption": corruption, "severity": severity,
                     "n": target.n, "accuracy": found.true_accuracy, "estimator": e.estimator,
                     "estimate": e.estimate, "low": e.low, "high": e.high}
                    for e in found.estimates]
    return records


def label_free_table(studies: Iterable, corruption: str,
                     estimators: Sequence[str] = LABEL_FREE_ESTIMATORS) -> pd.DataFrame:
    """``label_free_records`` of each study (``uqviz.study.Study``, in order) as a DataFrame
    with the columns ``LABEL_FREE_COLUMNS``."""
    return pd.DataFrame.from_records(
        [r for s in studies for r in label_free_records(s.predictions, corruption,
                                                        clean=s.rows, estimators=estimators)],
        columns=list(LABEL_FREE_COLUMNS))


def label_free_series(table: pd.DataFrame, methods: Sequence[str]):
    """``(severities, {method: true accuracy}, {estimator: {method: (estimate, low, high)}})``
    of a ``label_free_table``, for lines against severity (the first method's severities);
    empty when the table is."""
    if table.empty:
        return np.zeros(0, dtype=np.int64), {}, {}
    first = table[(table.method == methods[0]) & (table.estimator == table.estimator.iloc[0])]
    truth = {m: table.loc[(table.method == m) & (table.estimator == table.estimator.iloc[0]),
                          "accuracy"].to_numpy() for m in methods}
    estimates = {e: {m: tuple(table.loc[(table.method == m) & (table.estimator == e), c]
                              .to_numpy() for c in ("estimate", "low", "high"))
                     for m in methods} for e in dict.fromkeys(table.estimator)}
    return first.severity.to_numpy(), truth, estimates


# -- tables ------------------------------------------------------------------------------------
def shift_table(records: Iterable[Mapping]) -> pd.DataFrame:
    """The records of ``severity_records`` as a DataFrame with the columns ``TABLE_COLUMNS``."""
    return pd.DataFrame.from_records(list(records), columns=list(TABLE_COLUMNS))


def severity_table(studies: Iterable, corruption: str, score: str) -> pd.DataFrame:
    """Rows (method, severity 0–5, accuracy, ece, nll, mean_uncertainty, auroc_wrong_vs_right)
    of ``corruption`` for each study (``uqviz.study.Study``, in order); severity 0 is the
    study's scored rows."""
    return shift_table(r for s in studies for r in s.shift_records(corruption, score))


def all_corruptions_table(studies: Iterable, score: str) -> pd.DataFrame:
    """``severity_table`` of every corruption present, stacked (severity 0 once per
    corruption)."""
    return shift_table(r for s in studies for c in shift_corruptions(s.predictions)
                       for r in s.shift_records(c, score))


def severity_series(table: pd.DataFrame, column: str,
                    methods: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(severities, {method: values})`` of one column of a ``severity_table``, for lines
    against severity (the severities of the first method)."""
    values = {m: table.loc[table.method == m, column].to_numpy() for m in methods}
    return table.loc[table.method == methods[0], "severity"].to_numpy(), values


def severity_spread(
    table: pd.DataFrame, column: str, methods: Sequence[str],
    severities: Sequence[int] = SEVERITY_LEVELS,
) -> dict[str, dict[int, np.ndarray]]:
    """``{method: {severity: values}}`` of one column of an ``all_corruptions_table``: the
    spread over the corruptions at each severity (NaN dropped), for box plots."""
    return {m: {s: table.loc[(table.method == m) & (table.severity == s), column]
                .dropna().to_numpy() for s in severities} for m in methods}


# -- a few rows shown as pictures --------------------------------------------------------------
def evenly_spaced(n: int, k: int) -> np.ndarray:
    """``k`` row indices spread evenly over ``0 … n-1`` (first and last included)."""
    return np.linspace(0, n - 1, k).round().astype(int)


@dataclass(frozen=True, eq=False)
class Cases:
    """A few rows of one method at one severity.

    Attributes:
        labels: (k,) true classes.
        predicted: (k,) predicted classes (argmax of the mean probabilities).
        correct: (k,) bool, the prediction is right.
        uncertainty: (k,) the uncertainty score of each row.
    """

    labels: np.ndarray
    predicted: np.ndarray
    correct: np.ndarray
    uncertainty: np.ndarray


def cases_at(rows: Predictions, u: np.ndarray, picks: np.ndarray) -> Cases:
    """``Cases`` of the rows ``picks`` of ``rows`` (``u``: the (N,) uncertainty of ``rows``)."""
    picks = np.asarray(picks)
    predicted = rows.probs[:, picks].mean(axis=0).argmax(axis=1)
    labels = rows.labels[picks]
    return Cases(labels, predicted, predicted == labels, np.asarray(u)[picks])


def rotation_frame(method: str, angles: Sequence[float], probs: np.ndarray,
                   score: str) -> pd.DataFrame:
    """Rows (method, angle, predicted, confidence, uncertainty) of one image rotated by each of
    ``angles``.

    Args:
        method: the method id.
        angles: (A,) rotation angles in degrees.
        probs: (S, A, C) sampled probabilities of the rotated images.
        score: a key of ``uqviz.metrics.scores.UNCERTAINTY_SCORES``.

    References: Gal & Ghahramani, ICML 2016 (uncertainty of a rotated digit).
    """
    mean = probs.mean(axis=0)
    return pd.DataFrame({"method": method, "angle": list(angles),
                         "predicted": mean.argmax(axis=1), "confidence": mean.max(axis=1),
                         "uncertainty": uncertainty(probs, score)})
