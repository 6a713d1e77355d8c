"""Accuracy without labels: estimate a model's accuracy on an unlabelled target set from a
labelled reference set (the calibration part) and the target's predicted probabilities.

Notation: ``p_i`` (C,) the predictive distribution of row i (average the S samples first),
``conf_i = max_c p_ic`` its confidence, ``ŷ_i = argmax_c p_ic``. Reference rows ``R`` (labels
known: ``correct_i = 1[ŷ_i = y_i]``, accuracy ``acc_R = mean_R correct``), target rows ``T``
(labels unknown). Every estimator answers the same question: what share of the target rows
does the model get right?

Estimators (``ESTIMATORS``):

* ``ac`` — average confidence, ``mean_T conf_i``: right when the model is calibrated on the
  target (Hendrycks & Gimpel 2017 use it as the baseline).
* ``doc`` — difference of confidences, ``acc_R + mean_T conf − mean_R conf``: the
  reference's accuracy moved by how much the average confidence fell or rose
  (Guillory, Shankar, Ebrahimi, Darrell & Schmidt, ICCV 2021).
* ``atc_mc`` / ``atc_ne`` — average thresholded confidence: choose ``t`` on the reference so
  that the share of reference scores above it equals the reference accuracy,
  ``mean_R 1[s_i > t] = acc_R``, then estimate ``mean_T 1[s_i > t]``; the score is the
  maximum probability (``mc``) or the negative entropy ``sum_c p_ic log p_ic`` (``ne``)
  (Garg, Balakrishnan, Lipton, Neyshabur & Sedghi, ICLR 2022). ``t`` is ``s_(m)``, the m-th
  smallest reference score with ``m`` = the number of reference errors (``-inf`` when there
  are none), so exactly ``n_R − m`` reference scores are above it when there are no ties.
* ``*_ts`` — the same four on temperature-scaled probabilities
  ``p^T_i = softmax(log p_i / T)``, ``T`` the NLL-optimal temperature on the reference
  (Guo et al. 2017; ``temperature_from_probs``). ``ac_ts`` is the idea behind NannyML's
  confidence-based performance estimation (CBPE): calibrate on the reference, then read the
  expected accuracy off the calibrated confidences.

Interval (``estimate_accuracy``): reference and target rows are resampled together and
independently (``n_boot`` seeded resamples; every reference quantity — ``acc_R``, the mean
confidence, ``t`` and ``T`` — is recomputed on each reference resample), giving the bootstrap
standard error ``se_boot`` of the estimate. The interval is the normal one
``â ± z_{(1+level)/2} · sqrt(se_boot² + â(1 − â)/n_T)``, clipped to [0, 1]: the second term is
the binomial spread of the realised accuracy of the ``n_T`` target rows around the accuracy
on their distribution (at most ``â(1 − â)/n_T`` given the rows), so the interval is meant to
cover the accuracy measured on these very rows, not only the distribution's. It accounts for
sampling only: on a shifted target an estimator can be biased, and then no interval width
says so (``benchmarks/bench_label_free.py`` measures how far each one goes wrong on our
corruptions and out-of-distribution sets).

Log-probabilities are ``log max(p, 1e-12)``; numpy and scipy only (no torch).

References:
    Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution
    Examples in Neural Networks", ICLR 2017; Guo, Pleiss, Sun & Weinberger, "On Calibration of
    Modern Neural Networks", ICML 2017; Guillory et al., "Predicting with Confidence on Unseen
    Distributions", ICCV 2021; Garg et al., "Leveraging Unlabeled Data to Predict
    Out-of-Distribution Performance", ICLR 2022; NannyML, "Confidence-based Performance
    Estimation (CBPE)", https://nannyml.readthedocs.io; Efron & Tibshirani, "An Introduction to
    the Bootstrap", 1993, ch. 6 and 13.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from uqviz.metrics.temperature import nll_optimal_temperature
from uqviz.numerics import softmax
from uqviz.validation import check_probs, check_probs_labels

__all__ = [
    "ESTIMATORS",
    "AccuracyEstimate",
    "AccuracyEstimates",
    "EstimatorInfo",
    "LabelFreeReference",
    "atc_threshold",
    "average_confidence",
    "average_thresholded_confidence",
    "confidence_scores",
    "difference_of_confidences",
    "estimate_accuracy",
    "fit_reference",
    "temperature_from_probs",
    "temperature_scaled",
]

LOG_FLOOR = 1e-12
CONFIDENCE_SCORES = ("max_prob", "negative_entropy")


@dataclass(frozen=True)
class EstimatorInfo:
    """A label-free accuracy estimator: its short label and how it works in one line."""

    label: str
    description: str
    score: str  # the confidence score it averages or thresholds
    temperature: bool  # on temperature-scaled probabilities


ESTIMATORS: dict[str, EstimatorInfo] = {
    "ac": EstimatorInfo("AC", "average confidence on the target", "max_prob", False),
    "doc": EstimatorInfo("DoC", "reference accuracy + change of the average confidence",
                         "max_prob", False),
    "atc_mc": EstimatorInfo("ATC-MC", "share of target confidences above a threshold set on "
                                      "the reference", "max_prob", False),
    "atc_ne": EstimatorInfo("ATC-NE", "ATC with the negative entropy as the score",
                            "negative_entropy", False),
    "ac_ts": EstimatorInfo("AC-TS (CBPE)", "average confidence after temperature scaling "
                                           "on the reference", "max_prob", True),
    "doc_ts": EstimatorInfo("DoC-TS", "DoC after temperature scaling", "max_prob", True),
    "atc_mc_ts": EstimatorInfo("ATC-MC-TS", "ATC-MC after temperature scaling", "max_prob",
                               True),
    "atc_ne_ts": EstimatorInfo("ATC-NE-TS", "ATC-NE after temperature scaling",
                               "negative_entropy", True),
}


def _check_estimators(estimators) -> tuple[str, ...]:
    names = tuple(estimators)
    unknown = [e for e in names if e not in ESTIMATORS]
    if unknown or not names:
        raise ValueError(f"unknown estimator(s) {unknown or names!r}; valid: "
                         f"{', '.join(ESTIMATORS)}")
    return names


# -- building blocks ----------------------------------------------------------------------------


def confidence_scores(probs: np.ndarray, score: str = "max_prob") -> np.ndarray:
    """(N, C) probabilities -> (N,) confidence score, HIGHER = MORE CONFIDENT.

    ``max_prob``: ``max_c p_c``; ``negative_entropy``: ``sum_c p_c log p_c`` (0 log 0 = 0).
    """
    probs = check_probs(probs)
    if score == "max_prob":
        return probs.max(axis=1)
    if score == "negative_entropy":
        logs = np.log(np.where(probs > 0, probs, 1.0))
        return (probs * logs).sum(axis=1)
    raise ValueError(f"unknown confidence score {score!r}; valid: {', '.join(CONFIDENCE_SCORES)}")


def temperature_scaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row: (N, C) -> (N, C) float64 (``log max(p, 1e-12)``).

    ``log p`` are logits up to a per-row constant, which the softmax ignores, so this is
    temperature scaling of the network's logits when only its probabilities are known.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return softmax(np.log(np.maximum(check_probs(probs), LOG_FLOOR)), temperature=temperature)


def temperature_from_probs(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 minimising the NLL of ``softmax(log p / T)`` on (probs, labels).

    ``uqviz.metrics.temperature.nll_optimal_temperature`` (Brent's bounded method over
    log T in [-4, 4]) on the logits ``log max(p, 1e-12)``.

    References: Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks",
    ICML 2017.
    """
    probs, labels = check_probs_labels(probs, labels)
    return nll_optimal_temperature(np.log(np.maximum(probs, LOG_FLOOR)), labels)


def atc_threshold(reference_scores: np.ndarray, reference_correct: np.ndarray) -> float:
    """ATC's threshold: ``t = s_(m)``, the m-th smallest reference score, m = the number of
    reference errors (``-inf`` when m = 0), so that ``mean_R 1[s_i > t] = acc_R`` when the
    scores have no ties (with ties at ``t``, fewer rows are above it).

    References: Garg et al., "Leveraging Unlabeled Data to Predict Out-of-Distribution
    Performance", ICLR 2022, eq. (1).
    """
    scores = np.asarray(reference_scores, dtype=np.float64)
    correct = np.asarray(reference_correct, dtype=bool)
    if scores.ndim != 1 or scores.shape != correct.shape or scores.size == 0:
        raise ValueError(f"reference scores and correct must be non-empty (N,) arrays, got "
                         f"{scores.shape} and {correct.shape}")
    errors = int(scores.size - correct.sum())
    return -math.inf if errors == 0 else float(np.partition(scores, errors - 1)[errors - 1])


def average_confidence(target_probs: np.ndarray) -> float:
    """AC: ``mean_T max_c p_ic``, the accuracy a calibrated model expects on the target.

    References: Hendrycks & Gimpel, ICLR 2017 (the maximum softmax probability baseline).
    """
    return float(confidence_scores(target_probs).mean())


def difference_of_confidences(reference_probs: np.ndarray, reference_labels: np.ndarray,
                              target_probs: np.ndarray) -> float:
    """DoC: ``acc_R + mean_T conf − mean_R conf``.

    References: Guillory, Shankar, Ebrahimi, Darrell & Schmidt, "Predicting with Confidence on
    Unseen Distributions", ICCV 2021.
    """
    probs, labels = check_probs_labels(reference_probs, reference_labels)
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    return accuracy + average_confidence(target_probs) - float(probs.max(axis=1).mean())


def average_thresholded_confidence(reference_probs: np.ndarray, reference_labels: np.ndarray,
                                   target_probs: np.ndarray, *, score: str = "max_prob") -> float:
    """ATC: ``mean_T 1[s_i > t]`` with ``t = atc_threshold`` of the reference's scores.

    Args:
        reference_probs, reference_labels: (N_R, C), (N_R,) the labelled reference.
        target_probs: (N_T, C) the unlabelled target.
        score: ``max_prob`` (ATC-MC) or ``negative_entropy`` (ATC-NE).

    References: Garg, Balakrishnan, Lipton, Neyshabur & Sedghi, "Leveraging Unlabeled Data to
    Predict Out-of-Distribution Performance", ICLR 2022.
    """
    probs, labels = check_probs_labels(reference_probs, reference_labels)
    threshold = atc_threshold(confidence_scores(probs, score), probs.argmax(axis=1) == labels)
    return float((confidence_scores(target_probs, score) > threshold).mean())


# -- the reference, summarised once ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _ReferenceParts:
    """What every estimator needs from a reference: accuracy, mean confidence and the ATC
    thresholds, on raw or temperature-scaled probabilities; floats for the reference itself,
    (R,) arrays for its R resamples."""

    accuracy: float | np.ndarray
    mean_confidence: float | np.ndarray
    thresholds: dict[str, float | np.ndarray]  # confidence score -> ATC threshold


def _parts(probs: np.ndarray, correct: np.ndarray) -> _ReferenceParts:
    return _ReferenceParts(
        accuracy=float(correct.mean()),
        mean_confidence=float(probs.max(axis=1).mean()),
        thresholds={s: atc_threshold(confidence_scores(probs, s), correct)
                    for s in CONFIDENCE_SCORES})


def _stack(parts: list[_ReferenceParts]) -> _ReferenceParts:
    return _ReferenceParts(
        accuracy=np.array([p.accuracy for p in parts]),
        mean_confidence=np.array([p.mean_confidence for p in parts]),
        thresholds={s: np.array([p.thresholds[s] for p in parts]) for s in CONFIDENCE_SCORES})


def _rows(parts: _ReferenceParts, rows: slice) -> _ReferenceParts:
    return _ReferenceParts(parts.accuracy[rows], parts.mean_confidence[rows],
                           {s: v[rows] for s, v in parts.thresholds.items()})


@dataclass(frozen=True, eq=False)
class LabelFreeReference:
    """A labelled reference set summarised for the label-free estimators, with its bootstrap.

    Attributes:
        n: reference rows.
        raw: accuracy, mean confidence and ATC thresholds on the raw probabilities.
        temperature: the NLL-optimal T on the reference (NaN without ``with_temperature``).
        scaled: the same as ``raw`` on ``softmax(log p / T)`` (None without temperature).
        boot_raw, boot_temperature, boot_scaled: the same on each of the ``n_boot`` reference
            resamples, as (n_boot,) arrays.
        seed: seeds the reference resamples.
    """

    n: int
    raw: _ReferenceParts
    temperature: float
    scaled: _ReferenceParts | None
    boot_raw: _ReferenceParts
    boot_temperature: np.ndarray
    boot_scaled: _ReferenceParts | None
    seed: int

    @property
    def n_boot(self) -> int:
        return len(self.boot_raw.accuracy)

    @property
    def accuracy(self) -> float:
        return self.raw.accuracy


def fit_reference(probs: np.ndarray, labels: np.ndarray, *, n_boot: int = 200, seed: int = 0,
                  with_temperature: bool = True) -> LabelFreeReference:
    """Summarise a labelled reference for ``estimate_accuracy``: its accuracy, mean confidence,
    ATC thresholds and temperature, and the same on ``n_boot`` seeded resamples of its rows.

    Args:
        probs: (N, C) predictive distributions of the reference rows; (S, N, C) is averaged
            over the samples first.
        labels: (N,) true classes 0..C-1.
        n_boot: bootstrap resamples (>= 2).
        seed: seeds ``np.random.default_rng`` for the reference resamples.
        with_temperature: fit T (and on every resample) for the ``*_ts`` estimators.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 3:
        probs = probs.mean(axis=0)
    probs, labels = check_probs_labels(probs, labels)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    correct = probs.argmax(axis=1) == labels
    log_probs = np.log(np.maximum(probs, LOG_FLOOR))
    rng = np.random.default_rng(seed)
    boot_raw, boot_scaled, boot_t = [], [], []
    temperature, scaled = math.nan, None
    if with_temperature:
        temperature = nll_optimal_temperature(log_probs, labels)
        scaled = _parts(temperature_scaled(probs, temperature), correct)
    for _ in range(int(n_boot)):
        idx = rng.integers(0, labels.size, labels.size)
        boot_raw.append(_parts(probs[idx], correct[idx]))
        if with_temperature:
            t = nll_optimal_temperature(log_probs[idx], labels[idx])
            boot_t.append(t)
            boot_scaled.append(_parts(temperature_scaled(probs[idx], t), correct[idx]))
    return LabelFreeReference(
        n=int(labels.size), raw=_parts(probs, correct), temperature=temperature, scaled=scaled,
        boot_raw=_stack(boot_raw), boot_temperature=np.asarray(boot_t, dtype=np.float64),
        boot_scaled=_stack(boot_scaled) if with_temperature else None, seed=int(seed))


# -- estimates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracyEstimate:
    """One estimator's accuracy estimate on a target set.

    Attributes:
        estimator: a key of ``ESTIMATORS``.
        estimate: the estimated accuracy â in [0, 1].
        low, high: the interval ``â ± z·sqrt(se² + â(1 − â)/n_T)`` clipped to [0, 1].
        standard_error: ``se``, the bootstrap standard error over reference and target rows.
        level: the interval's nominal level.
    """

    estimator: str
    estimate: float
    low: float
    high: float
    standard_error: float
    level: float

    def to_dict(self) -> dict:
        return {"estimator": self.estimator, "label": ESTIMATORS[self.estimator].label,
                "estimate": self.estimate, "low": self.low, "high": self.high,
                "standard_error": self.standard_error, "level": self.level}


@dataclass(frozen=True)
class AccuracyEstimates:
    """Every estimator's answer on one target set, with the true accuracy when it is known.

    Attributes:
        estimates: one ``AccuracyEstimate`` per estimator asked for, in that order.
        n_reference, n_target: rows of each set.
        reference_accuracy: ``acc_R``.
        temperature: the reference's T (NaN when no ``*_ts`` estimator was asked for).
        true_accuracy: accuracy on the target rows whose truth is known (NaN when none).
        n_true: how many target rows the true accuracy counts.
    """

    estimates: tuple[AccuracyEstimate, ...]
    n_reference: int
    n_target: int
    reference_accuracy: float
    temperature: float
    true_accuracy: float = math.nan
    n_true: int = 0

    def __getitem__(self, estimator: str) -> AccuracyEstimate:
        for e in self.estimates:
            if e.estimator == estimator:
                return e
        raise KeyError(f"no estimate {estimator!r}; estimates: "
                       f"{', '.join(e.estimator for e in self.estimates)}")

    def to_dict(self) -> dict:
        return {"n_reference": self.n_reference, "n_target": self.n_target,
                "reference_accuracy": self.reference_accuracy,
                "temperature": None if math.isnan(self.temperature) else self.temperature,
                "true_accuracy": None if math.isnan(self.true_accuracy) else self.true_accuracy,
                "n_true": self.n_true,
                "estimates": [e.to_dict() for e in self.estimates]}


def _estimates(estimators, ref: _ReferenceParts, scaled: _ReferenceParts | None,
               conf, conf_ts, scores, scores_ts) -> dict[str, np.ndarray]:
    """Each estimator from a reference summary and the target's arrays: (n,) target arrays
    with float reference parts, or (R, n) target resamples with (R,) reference parts."""
    out = {}
    for name in estimators:
        info = ESTIMATORS[name]
        parts, c, s = (scaled, conf_ts, scores_ts) if info.temperature else (ref, conf, scores)
        kind = name.removesuffix("_ts")
        if kind == "ac":
            out[name] = c.mean(axis=-1)
        elif kind == "doc":
            out[name] = parts.accuracy + c.mean(axis=-1) - parts.mean_confidence
        else:
            threshold = np.asarray(parts.thresholds[info.score])[..., None]
            out[name] = (s[info.score] > threshold).mean(axis=-1)
    return out


def _target_arrays(probs: np.ndarray):
    """Confidence (max probability) and each confidence score along the last axis."""
    logs = np.log(np.where(probs > 0, probs, 1.0))
    conf = probs.max(axis=-1)
    return conf, {"max_prob": conf, "negative_entropy": (probs * logs).sum(axis=-1)}


CHUNK_ELEMENTS = 1 << 21


def estimate_accuracy(reference: LabelFreeReference, target_probs: np.ndarray, *,
                      estimators=tuple(ESTIMATORS), level: float = 0.95, seed: int = 1,
                      target_correct: np.ndarray | None = None) -> AccuracyEstimates:
    """Estimate the accuracy on unlabelled target rows with each estimator and its interval.

    The point estimate uses every reference and target row. For the interval, resample b
    (b = 1..``reference.n_boot``) pairs the b-th reference resample (``fit_reference``) with a
    resample of the target rows drawn from ``np.random.default_rng(seed)``, recomputes the
    estimate, and ``se`` is the standard deviation over the resamples; the interval is
    ``â ± z·sqrt(se² + â(1 − â)/n_T)`` (module docstring).

    Args:
        reference: ``fit_reference`` of the labelled reference.
        target_probs: (N_T, C) or (S, N_T, C) predictive distributions of the target rows.
        estimators: keys of ``ESTIMATORS`` (the ``*_ts`` ones need a reference fitted
            ``with_temperature``).
        level: the interval's nominal level in (0, 1).
        seed: seeds the target resamples.
        target_correct: optional (N_T,) correctness of the target rows where known (True,
            False, or for unknown rows pass a float array with NaN); gives ``true_accuracy``.

    Returns:
        ``AccuracyEstimates``.
    """
    names = _check_estimators(estimators)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    probs = np.asarray(target_probs, dtype=np.float64)
    if probs.ndim == 3:
        probs = probs.mean(axis=0)
    probs = check_probs(probs)
    if probs.shape[0] == 0:
        raise ValueError("the target set is empty: estimating accuracy needs at least one row")
    needs_t = any(ESTIMATORS[e].temperature for e in names)
    if needs_t and reference.scaled is None:
        raise ValueError(f"estimators {[e for e in names if ESTIMATORS[e].temperature]} need a "
                         "reference fitted with_temperature=True")
    n = probs.shape[0]
    log_probs = np.log(np.maximum(probs, LOG_FLOOR)) if needs_t else None
    conf, scores = _target_arrays(probs)
    conf_ts, scores_ts = (_target_arrays(softmax(log_probs, temperature=reference.temperature))
                          if needs_t else (None, None))
    point = _estimates(names, reference.raw, reference.scaled, conf, conf_ts, scores, scores_ts)

    rng = np.random.default_rng(seed)
    boots = {name: np.empty(reference.n_boot) for name in names}
    width = probs.shape[1] if needs_t else 1
    chunk = max(1, CHUNK_ELEMENTS // (n * width))
    for start in range(0, reference.n_boot, chunk):
        rows = slice(start, min(start + chunk, reference.n_boot))
        idx = rng.integers(0, n, size=(rows.stop - rows.start, n))
        c_ts = s_ts = scaled = None
        if needs_t:
            c_ts, s_ts = _target_arrays(softmax(  # (R, 1, 1) temperatures -> (R, n, C)
                log_probs[idx], temperature=reference.boot_temperature[rows, None, None]))
            scaled = _rows(reference.boot_scaled, rows)
        one = _estimates(names, _rows(reference.boot_raw, rows), scaled, conf[idx], c_ts,
                         {k: v[idx] for k, v in scores.items()}, s_ts)
        for name in names:
            boots[name][rows] = one[name]

    z = float(norm.ppf(0.5 + level / 2))
    estimates = []
    for name in names:
        a = float(point[name])
        se = float(np.std(boots[name], ddof=1))
        half = z * math.sqrt(se ** 2 + min(max(a, 0.0), 1.0) * (1 - min(max(a, 0.0), 1.0)) / n)
        estimates.append(AccuracyEstimate(name, a, max(0.0, a - half), min(1.0, a + half), se,
                                          float(level)))
    true_accuracy, n_true = _truth(target_correct, n)
    return AccuracyEstimates(tuple(estimates), reference.n, n, reference.accuracy,
                             reference.temperature if needs_t else math.nan, true_accuracy,
                             n_true)


def _truth(target_correct, n: int) -> tuple[float, int]:
    if target_correct is None:
        return math.nan, 0
    known = np.asarray(target_correct, dtype=np.float64)
    if known.shape != (n,):
        raise ValueError(f"target_correct must have shape ({n},), got {known.shape}")
    known = known[~np.isnan(known)]
    return (float(known.mean()), int(known.size)) if known.size else (math.nan, 0)
