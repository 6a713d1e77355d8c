"""Studies: every number the dashboard shows about one method, computed once, on first use.

A ``Study`` wraps one method's ``Predictions`` on one source. Each derived thing — the scored
rows, mean probabilities, predicted classes, right/wrong, each uncertainty score and its sort
order, the referral index and curves, reliability bins, confusion matrices, OOD detection,
conformal sets, the shift table — is computed lazily the first time a page (or the report, or
the command line) asks, and kept. A ``Comparison`` holds the studies of several methods on the
same source and the tables across them (the metric table with its bootstrap intervals, the OOD
detection table).

**Two row sets** (``uqviz.rows.RowSet``, each derived value computed once and read by every
page, the report, the command line and the browser tables):

* ``Study.stream_rows``: the incoming stream (``uqviz.stream``): referral, histograms and
  galleries count these rows; with the clean mix it is the scored rows themselves;
* ``Study.scored``: the stream's labelled in-distribution rows
  (``Predictions.labelled_in_distribution()``: a known label, not out-of-distribution, not a
  corrupted copy): accuracy, calibration and conformal sets score these. For a trained dataset
  and the clean mix these are the clean test rows; for a user's file, every labelled
  in-distribution group.

Row positions returned by a method (galleries, border cases) index the stream's rows unless
the docstring says otherwise.

**Fit rows** (group ``fit``, ``Predictions.fit_rows``) are set aside when the study is made:
``Study.predictions`` holds every other row, so no table, chart, stream, gallery, map or export
built from a study sees them; only ``Study.ood_scores`` fits on them (class means, the KNN
bank, ViM's principal space: ``uqviz.metrics.ood_scores.fit_ood_scores``).

**OOD scores**: a page asks for a score by key, a probability score of ``UNCERTAINTY_SCORES``
or a logit / feature score of ``LOGIT_FEATURE_SCORES``, and ``Study.score_values`` gives its
values on the scored rows or on one group; ``ood_detection``, ``ood_auroc_ci`` and
``Comparison.ood_table`` go through it. The row sets compute either kind (``RowSet.uncertainty``
with the study's fitted scores), so every referral query (index, curve, operating points, the
guarantee, galleries, one-vs-rest) takes any key of ``referral_score_keys()``.

No streamlit, no plotly: this module runs headless (``python -m uqviz`` uses it too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property, partial

import numpy as np

from uqviz.conformal import ConformalCurve, ConformalResult, ConformalSplit
from uqviz.metrics.bootstrap import bootstrap_ood_auroc_ci
from uqviz.metrics.calibration import ReliabilityBins, reliability_bins
from uqviz.metrics.classification import confusion_matrix
from uqviz.metrics.guarantee import DEFAULT_METHOD as GUARANTEE_METHOD
from uqviz.metrics.guarantee import METHOD_NAMES as GUARANTEE_METHODS
from uqviz.metrics.guarantee import CertifiedThreshold, calibration_split, certify_threshold
from uqviz.metrics.ood import OODResult, ood_detection
from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES, FittedOODScores, fit_ood_scores
from uqviz.metrics.scores import UNCERTAINTY_SCORES, uncertainty
from uqviz.metrics.selective import (
    OneVsRestRates,
    OperatingPoint,
    ReferralCurve,
    ReferralIndex,
    RiskCoverageCurve,
    one_vs_rest_rates,
)
from uqviz.metrics.summary import OOD_SUMMARY_SCORES, MetricTable, method_summary, metric_table
from uqviz.policy import operating_point
from uqviz.predictions import Predictions
from uqviz.rows import RowSet
from uqviz.stream import CLEAN, Stream, StreamMix, stream_predictions

BORDER_CASES = 8


def bootstrap_resamples(n_rows: int) -> int:
    """1,000 resamples up to 20,000 rows, fewer above (intervals are narrow there anyway and
    a page must stay responsive): about 2·10⁷ resampled rows, at least 50."""
    return 1000 if n_rows <= 20_000 else max(50, int(2e7 // n_rows))


def display_rows(n_rows: int, limit: int = 100_000, seed: int = 0) -> np.ndarray:
    """Row indices to draw: all rows up to ``limit``, else a seeded random ``limit`` of them."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))


def set_fit_rows_aside(p: Predictions) -> tuple[Predictions, Predictions | None]:
    """``p`` without its rows of group ``fit``, and its labelled in-distribution fit rows
    (``p.fit_rows()``; None when there are none).

    When the fit rows are the last rows (as ``uqviz.runs`` writes them) the rest shares
    ``p``'s arrays (slices, no copy); otherwise it is a selected copy.
    """
    is_fit = p.is_fit
    if not is_fit.any():
        return p, None
    fit = p.fit_rows()
    keep = np.flatnonzero(~is_fit)
    if keep.size and keep[-1] != keep.size - 1:
        return p.select(keep), (fit if fit.n else None)
    head = slice(0, keep.size)
    rest = Predictions(
        probs=p.probs[:, head], labels=p.labels[head], group=p.group[head],
        is_ood=p.is_ood[head], features=None if p.features is None else p.features[head],
        scores={k: v[head] for k, v in p.scores.items()}, method=p.method,
        class_names=p.class_names, ids=None if p.ids is None else p.ids[head],
        logits=None if p.logits is None else p.logits[:, head])
    return rest, (fit if fit.n else None)


def scores_for(num_samples: int, keys=OOD_SUMMARY_SCORES) -> list[str]:
    """The scores of ``keys`` that mean something for a method with ``num_samples`` samples
    (mutual information and other sample-spread scores need S > 1)."""
    return [k for k in keys if num_samples > 1 or not UNCERTAINTY_SCORES[k].needs_samples]


@dataclass(frozen=True, eq=False)
class ReferralDetail:
    """What the referral workbench shows beside the numbers at one operating point.

    Attributes:
        keep: (N,) bool, the automated cases (rows of ``Study.rows``).
        confusion: (C, C) confusion matrix of the automated cases (rows: true class).
        below: up to 8 automated rows just below the threshold, most uncertain first.
        above: up to 8 referred rows just above it, least uncertain first.
    """

    keep: np.ndarray
    confusion: np.ndarray
    below: np.ndarray
    above: np.ndarray


@dataclass(frozen=True, eq=False)
class GuaranteedReferral:
    """A threshold with a guarantee, chosen on one part of the stream, reported on another.

    Attributes:
        score: the uncertainty score thresholded.
        certified: the threshold and its guarantee (``CertifiedThreshold``).
        calibration: the operating point on the calibration part (what was chosen on).
        heldout: the operating point on the held-out part (None when every row calibrated).
        calibration_share: share of the stream used to choose.
        seed: seed of the split.
        class_names: the class names (for the per-class targets in ``to_dict``).
        score_settings: a logit or feature score's settings (``FittedOODScores.settings``:
            energy's T, GEN's γ and M, KNN's k …); None for a probability score.
    """

    score: str
    certified: CertifiedThreshold
    calibration: OperatingPoint
    heldout: OperatingPoint | None
    calibration_share: float
    seed: int
    class_names: tuple[str, ...] | None = None
    score_settings: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready (``python -m uqviz referral --json``): threshold (refer scores above
        it), referred_fraction and automated accuracy on the calibration part, certified,
        accuracy_bound, method (the guarantee's: ``ltt_fallback``, ``ltt_fixed_sequence`` or
        ``sgr``) and procedure (its name and reference), levels (the grid's size), and the
        held-out figures when there is a held-out part."""
        c, cal = self.certified, self.calibration
        doc = {
            "score": self.score, "target_accuracy": c.target_accuracy,
            "confidence": c.confidence, "certified": c.certified,
            "threshold": _json_number(c.threshold), "accuracy_bound": c.accuracy_bound,
            "referred_fraction": cal.referred_fraction,
            "automated_accuracy": _json_number(cal.automated_accuracy),
            "n_calibration": c.n_calibration, "calibration_share": self.calibration_share,
            "seed": self.seed, "method": c.method, "procedure": GUARANTEE_METHODS[c.method],
            "levels": c.levels,
        }
        if self.score_settings is not None:
            doc["score_settings"] = dict(self.score_settings)
        if c.class_targets:  # per class: certified and the bound reached (guarantee.py)
            doc["class_targets"] = [r.to_dict(self.class_names) for r in c.class_targets]
        if self.heldout is not None:
            h = self.heldout
            doc["heldout"] = {"n": h.n, "referred_fraction": h.referred_fraction,
                              "automated_accuracy": _json_number(h.automated_accuracy),
                              "automated_accuracy_ci95": [_json_number(v)
                                                          for v in h.automated_accuracy_ci]}
        return doc


def _json_number(x: float) -> float | None:
    """NaN as None; ±inf as the largest float of that sign (JSON has no infinity)."""
    if x != x:
        return None
    if x in (float("inf"), float("-inf")):
        return float(np.copysign(np.finfo(np.float64).max, x))
    return float(x)


@dataclass(frozen=True, eq=False)
class ClassConditionalComparison:
    """Marginal and class-conditional (Mondrian) split-conformal sets on one split.

    Marginal sets guarantee coverage ≥ 1 − α on average over the classes; Mondrian sets
    (one threshold per class from that class's calibration rows) within every class, at the
    price of larger sets where a class has few calibration rows (Vovk et al. 2003; Löfström et
    al. 2015; ``uqviz.conformal.ConformalSplit.sets``).

    Attributes:
        marginal: the sets with one threshold.
        mondrian: the sets with one threshold per class.
        names: the C class names.
    """

    marginal: ConformalResult
    mondrian: ConformalResult
    names: tuple[str, ...]

    @property
    def n_cal_per_class(self) -> np.ndarray:
        """(C,) calibration rows of each class."""
        return self.mondrian.class_n_cal

    @property
    def smallest_class(self) -> int:
        """The class with the fewest calibration rows (the first such)."""
        return int(np.argmin(self.n_cal_per_class))

    @property
    def size_cost(self) -> float:
        """Mean set size of the Mondrian sets minus that of the marginal sets (classes)."""
        return self.mondrian.mean_set_size - self.marginal.mean_set_size

    @property
    def worst_class_coverage(self) -> tuple[float, float]:
        """The lowest per-class coverage (marginal, Mondrian), over classes with test rows."""
        return (float(np.nanmin(self.marginal.per_class_coverage)),
                float(np.nanmin(self.mondrian.per_class_coverage)))

    def per_class(self) -> list[dict]:
        """One record per class: ``class``, ``n_cal``, and the coverage and mean set size of
        both sets among its test rows (NaN for a class without test rows)."""
        return [{"class": name, "n_cal": int(self.n_cal_per_class[c]),
                 "coverage_marginal": float(self.marginal.per_class_coverage[c]),
                 "coverage_mondrian": float(self.mondrian.per_class_coverage[c]),
                 "size_marginal": float(self.marginal.per_class_set_size[c]),
                 "size_mondrian": float(self.mondrian.per_class_set_size[c])}
                for c, name in enumerate(self.names)]


@dataclass(frozen=True, eq=False)
class Gallery:
    """Rows to show as pictures, in order, with the score that ordered them.

    Attributes:
        rows: row indices (into the rows the gallery was drawn from).
        score: the uncertainty score key used.
        total: how many rows qualified (e.g. every wrong prediction).
    """

    rows: np.ndarray
    score: str
    total: int


class Study:
    """Everything derived from one method's predictions on one source, computed once.

    Args:
        predictions: every row the method predicted (test, corrupted, OOD, fit rows); the
            rows of group ``fit`` are set aside (``fit_predictions``) and ``predictions`` keeps
            the others.

    Raises on first use of ``rows`` when no labelled in-distribution row exists.
    """

    def __init__(self, predictions: Predictions, mix: StreamMix = CLEAN) -> None:
        self.predictions, self.fit_predictions = set_fit_rows_aside(predictions)
        self.mix = mix
        self._memo: dict[tuple, object] = {}
        # fitted once, on first use, on the fit rows only (the row sets share it)
        self._fitted_scores = cache(partial(
            fit_ood_scores, self.fit_predictions if self.fit_predictions is not None
            else self.predictions))

    def _once(self, key: tuple, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def method(self) -> str:
        return self.predictions.method

    @property
    def num_samples(self) -> int:
        return self.predictions.num_samples

    # -- the row sets -----------------------------------------------------------------------
    @cached_property
    def _stream(self) -> tuple[Predictions, Stream]:
        return stream_predictions(self.predictions, self.mix)

    @cached_property
    def all_rows(self) -> RowSet:
        """Every row the method predicted (test, corrupted, OOD)."""
        return RowSet(self.predictions, self._fitted_scores)

    @cached_property
    def stream_rows(self) -> RowSet:
        """The incoming stream's rows (``uqviz.stream``): with the clean mix, the labelled
        in-distribution rows (the same row set as ``scored``); otherwise clean, shifted and
        OOD rows as mixed."""
        if self.mix.is_clean:
            return self.all_rows.scored
        return RowSet(self._stream[0], self._fitted_scores)

    @cached_property
    def scored(self) -> RowSet:
        """The stream's labelled rows: what accuracy, calibration and conformal sets score.

        Raises:
            ValueError: when there is none.
        """
        return self.stream_rows.scored

    @property
    def table_rows(self) -> RowSet:
        """What the metric table and the report score: every row for the clean mix (scored
        rows, and OOD AUROC against every OOD set), the stream's rows otherwise."""
        return self.all_rows if self.mix.is_clean else self.stream_rows

    @property
    def stream(self) -> Predictions:
        """The incoming stream's rows as ``Predictions`` (``stream_rows.predictions``)."""
        return self.stream_rows.predictions

    @property
    def origin(self) -> np.ndarray:
        """(M,) where each stream row came from: ``test``, a shift group or an OOD group."""
        return self._stream[1].origin

    @property
    def stream_index(self) -> np.ndarray:
        """(M,) each stream row's index in ``predictions``."""
        return self._stream[1].rows

    def stream_locations(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Where the stream's rows sit in their groups: ``{group: (stream rows, positions
        within the group)}`` (e.g. to fetch each row's image from its group's images)."""
        def compute():
            group = self.predictions.group.astype(str)
            out = {}
            for g in np.unique(group[self.stream_index]):
                members = np.flatnonzero(group == g)
                in_stream = np.flatnonzero(group[self.stream_index] == g)
                out[str(g)] = (in_stream, np.searchsorted(members, self.stream_index[in_stream]))
            return out
        return self._once(("locations",), compute)

    @cached_property
    def rows_in_stream(self) -> np.ndarray:
        """(N,) each scored row's index among the stream's rows."""
        s = self.stream
        return np.flatnonzero(s.scored_mask)

    @property
    def rows(self) -> Predictions:
        """The scored rows as ``Predictions`` (``scored.predictions``)."""
        return self.scored.predictions

    @property
    def n(self) -> int:
        return self.scored.n

    @property
    def mean_probs(self) -> np.ndarray:
        """(N, C) predictive distribution of the scored rows."""
        return self.scored.mean_probs

    @property
    def predicted(self) -> np.ndarray:
        """(N,) predicted class of the scored rows."""
        return self.scored.predicted

    @property
    def correct(self) -> np.ndarray:
        """(N,) bool: the prediction is right."""
        return self.scored.correct

    def uncertainty(self, score: str) -> np.ndarray:
        """(N,) uncertainty of the scored rows under ``score`` (a key of
        ``referral_score_keys()``: ``RowSet.uncertainty``)."""
        return self.scored.uncertainty(score)

    @property
    def stream_predicted(self) -> np.ndarray:
        """(M,) predicted class of every stream row."""
        return self.stream_rows.predicted

    @property
    def stream_correct(self) -> np.ndarray:
        """(M,) bool: right on a labelled row; an out-of-distribution row is never right (an
        automated OOD case is an error)."""
        return self.stream_rows.correct

    def stream_uncertainty(self, score: str) -> np.ndarray:
        """(M,) uncertainty of every stream row (any key of ``referral_score_keys()``)."""
        return self.stream_rows.uncertainty(score)

    def referral_score_keys(self) -> list[str]:
        """Every score a referral threshold can be set on: the probability scores
        (``UNCERTAINTY_SCORES``), then the logit and feature scores this method has
        (``ood_scores.available``: fitted on the fit rows)."""
        return [*UNCERTAINTY_SCORES, *self.ood_scores.available]

    def score_settings(self, score: str) -> dict | None:
        """The settings a logit or feature score was computed with (``FittedOODScores.settings``;
        e.g. energy's temperature, KNN's k); None for a probability score."""
        return None if score in UNCERTAINTY_SCORES else self.ood_scores.settings.get(score)

    def applicable_score(self, score: str, fallback: str = "entropy") -> str:
        """``score`` when it means something for this method, else ``fallback`` (one-sample
        methods have no spread between samples)."""
        return score if score in scores_for(self.num_samples, (score,)) else fallback

    def summary(self) -> dict:
        """Headline metrics as JSON-ready values (``uqviz.metrics.summary.method_summary``):
        what ``python -m uqviz metrics`` prints and ``evaluate`` writes."""
        return self._once(("summary",), lambda: method_summary(self.all_rows))

    # -- selective prediction and referral ----------------------------------------------------
    def referral_index(self, score: str) -> ReferralIndex:
        """The one sort of the stream's rows by ``score``: every referral query is a
        search."""
        return self.stream_rows.referral_index(score)

    def referral_curve(self, score: str) -> ReferralCurve:
        return self._once(("referral_curve", score),
                          lambda: self.referral_index(score).referral_curve())

    def risk_coverage(self, score: str) -> RiskCoverageCurve:
        return self._once(("risk_coverage", score),
                          lambda: self.referral_index(score).risk_coverage())

    def operating_point(self, score: str, mode: str, value, *,
                        reviewer_accuracy: float = 1.0) -> OperatingPoint:
        """The referral operating point set by one of ``uqviz.policy.REFERRAL_MODES`` (the
        cost mode with reviewers right with probability ``reviewer_accuracy``)."""
        return operating_point(self.referral_index(score), mode, value,
                               reviewer_accuracy=reviewer_accuracy)

    def guaranteed_referral(self, score: str, *, target_accuracy: float | None,
                            confidence: float = 0.95, calibration_share: float = 0.5,
                            seed: int = 0, method: str = GUARANTEE_METHOD,
                            class_targets: tuple = ()) -> GuaranteedReferral:
        """A threshold chosen on a calibration part of the stream with a guarantee
        (``uqviz.metrics.guarantee``; ``method``: ``ltt_fallback``, the default,
        ``ltt_fixed_sequence`` or ``sgr``), and what it does on the held-out rest;
        ``class_targets``: per-class recall/precision targets (``ClassTarget``), alone
        (``target_accuracy=None``) or with the accuracy target."""
        class_targets = tuple(class_targets)

        def compute():
            u, correct = self.stream_uncertainty(score), self.stream_correct
            cal, held = calibration_split(u.size, calibration_share, seed)
            predicted, labels = self.stream_predicted[cal], self.stream.labels[cal]
            chosen = certify_threshold(u[cal], correct[cal], target_accuracy=target_accuracy,
                                       confidence=confidence, method=method,
                                       class_targets=class_targets,
                                       predicted=predicted if class_targets else None,
                                       labels=labels if class_targets else None)
            calibration = ReferralIndex.from_scores(u[cal], correct[cal]).at_threshold(
                chosen.threshold)
            heldout = (ReferralIndex.from_scores(u[held], correct[held]).at_threshold(
                chosen.threshold) if held.size else None)
            return GuaranteedReferral(score, chosen, calibration, heldout, calibration_share,
                                      seed, self.stream.names, self.score_settings(score))
        key = ("guaranteed", score, target_accuracy, confidence, calibration_share, seed,
               method, class_targets)
        return self._once(key, compute)

    def referral_detail(self, score: str, point: OperatingPoint) -> ReferralDetail:
        """The automated cases' confusion matrix and the cases either side of the threshold."""
        index = self.referral_index(score)
        keep = index.keep_mask(point)
        below, above = index.border_rows(point, BORDER_CASES)
        labelled = keep & (self.stream.labels >= 0)
        matrix = confusion_matrix(self.stream_predicted[labelled], self.stream.labels[labelled],
                                  self.stream.num_classes)
        return ReferralDetail(keep, matrix, below, above)

    def one_vs_rest(self, score: str, point: OperatingPoint, positive: int) -> OneVsRestRates:
        """Sensitivity and specificity of class ``positive`` on the automated cases."""
        keep = self.referral_index(score).keep_mask(point) & (self.stream.labels >= 0)
        return one_vs_rest_rates(self.stream_predicted, self.stream.labels, positive, keep)

    def right_and_wrong(self, score: str, limit: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
        """``score`` of the right and of the wrong predictions, for histograms: every row up
        to ``limit`` rows, else a seeded random ``limit`` of them (a histogram of 100,000
        points looks the same and draws fast)."""
        def compute():
            u, correct = self.stream_uncertainty(score), self.stream_correct
            keep = display_rows(u.size, limit)
            return u[keep][correct[keep]], u[keep][~correct[keep]]
        return self._once(("right_wrong", score, limit), compute)

    # -- calibration and errors ---------------------------------------------------------------
    @cached_property
    def reliability(self) -> ReliabilityBins:
        """15 equal-width confidence bins of the scored rows."""
        return reliability_bins(self.mean_probs, self.scored.labels)

    @cached_property
    def confusion(self) -> np.ndarray:
        """(C, C) confusion matrix of the scored rows (rows: true class)."""
        return confusion_matrix(self.predicted, self.scored.labels, self.scored.num_classes)

    def most_uncertain(self, score: str, k: int = 8) -> Gallery:
        """The ``k`` stream rows with the highest uncertainty, most uncertain first (positions
        among the stream's rows)."""
        order = self.referral_index(score).order
        return Gallery(order[::-1][:k], score, order.size)

    def confidently_wrong(self, score: str, k: int = 8) -> Gallery:
        """The ``k`` wrong predictions among the stream's rows with the lowest uncertainty:
        those a threshold on ``score`` would not catch (positions among the stream's rows)."""
        order = self.referral_index(score).order
        wrong = order[~self.stream_correct[order]]
        return Gallery(wrong[:k], score, int(wrong.size))

    # -- out of distribution ------------------------------------------------------------------
    @cached_property
    def ood_groups(self) -> list[str]:
        """Groups made only of out-of-distribution rows, in order of first appearance."""
        p = self.predictions
        return [g for g in p.groups if p.is_ood[p.group == g].all()]

    def _group_mask(self, group: str) -> np.ndarray:
        return self._once(("mask", group), lambda: self.predictions.group == group)

    def group_uncertainty(self, group: str, score: str) -> np.ndarray:
        """(N_group,) uncertainty of the rows of ``group``, in their order."""
        return self._once(("group_u", group, score), lambda: uncertainty(
            self.predictions.probs[:, self._group_mask(group)], score))

    def group_predicted(self, group: str) -> np.ndarray:
        """(N_group,) predicted class of the rows of ``group``."""
        return self._once(("group_pred", group), lambda: self.predictions.probs[
            :, self._group_mask(group)].mean(axis=0).argmax(axis=1))

    def group_extremes(self, group: str, score: str,
                       k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows of ``group`` with the highest ``score`` (highest first; any key
        ``score_values`` takes) and the ``k`` lowest (lowest first), as indices into the
        group's rows."""
        def compute():
            order = np.argsort(self.score_values(group, score), kind="stable")
            return order[::-1][:k], order[:k]
        return self._once(("extremes", group, score, k), compute)

    @property
    def ood_scores(self) -> FittedOODScores:
        """The scores of ``LOGIT_FEATURE_SCORES`` fitted once on the fit rows
        (``fit_ood_scores``): what each needs, its settings, and why the others are
        unavailable (no logits, no features, no fit rows)."""
        return self._fitted_scores()

    def ood_score_keys(self) -> list[str]:
        """Every OOD score that applies: the probability scores for this many samples, then the
        available logit and feature scores."""
        return scores_for(self.num_samples) + self.ood_scores.available

    def score_values(self, group: str | None, key: str) -> np.ndarray:
        """(N,) OOD score ``key`` (higher = more likely out-of-distribution) of the scored
        rows (``group`` None) or of the rows of ``group``, in their order.

        ``key`` is a probability score of ``UNCERTAINTY_SCORES`` (``uncertainty``,
        ``group_uncertainty``) or a logit / feature score of ``LOGIT_FEATURE_SCORES``
        (``ood_scores.score``; ValueError saying why when it is unavailable).
        """
        if key in UNCERTAINTY_SCORES:
            return self.uncertainty(key) if group is None else self.group_uncertainty(group, key)
        if key not in LOGIT_FEATURE_SCORES:
            raise ValueError(f"unknown OOD score {key!r}; valid: "
                             f"{', '.join([*UNCERTAINTY_SCORES, *LOGIT_FEATURE_SCORES])}")
        if group is None:
            return self.uncertainty(key)  # the scored rows' row set keeps it
        return self._once(("score_values", group, key), lambda: self.ood_scores.score(
            key, self.predictions.select(self._group_mask(group))))

    def ood_detection(self, group: str, score: str) -> OODResult:
        """AUROC, AUPR-in/out and FPR95 of ``score`` (any key ``score_values`` takes) telling
        ``group`` from the scored rows."""
        return self._once(("ood", group, score), lambda: ood_detection(
            self.score_values(None, score), self.score_values(group, score)))

    def ood_auroc_ci(self, group: str, score: str) -> tuple[float, float]:
        """95% bootstrap interval of the AUROC (in and out resampled separately)."""
        def compute():
            u_in, u_out = self.score_values(None, score), self.score_values(group, score)
            return bootstrap_ood_auroc_ci(u_in, u_out, seed=0,
                                          n_resamples=bootstrap_resamples(u_in.size + u_out.size))
        return self._once(("ood_ci", group, score), compute)

    # -- conformal prediction -----------------------------------------------------------------
    def conformal_split(self, *, score: str = "lac", cal_fraction: float = 0.5, seed: int = 0,
                        randomized: bool = True, lam: float = 0.01,
                        k_reg: int = 5) -> ConformalSplit:
        """The calibration/test split of the scored rows under these settings, its scores
        computed once for every level (``uqviz.conformal.ConformalSplit``)."""
        args = dict(score=score, cal_fraction=cal_fraction, seed=seed, randomized=randomized,
                    lam=lam, k_reg=k_reg)
        # one float64 copy of the probabilities, shared by the splits of every setting
        probs = self._once(("conformal_probs",),
                           lambda: np.asarray(self.mean_probs, dtype=np.float64))
        return self._once(("conformal_split", *sorted(args.items())), lambda: ConformalSplit(
            probs, self.rows.labels, **args))

    def conformal(self, *, alpha: float, class_conditional: bool = False,
                  **settings) -> ConformalResult:
        """Split-conformal sets on the scored rows (``ConformalSplit.sets``; ``settings``:
        those of ``conformal_split``; ``class_conditional``: one threshold per class, Mondrian
        sets)."""
        split = self.conformal_split(**settings)
        return self._once(("conformal", split, alpha, bool(class_conditional)),
                          lambda: split.sets(alpha, class_conditional=class_conditional))

    def class_conditional_comparison(self, *, alpha: float, score: str = "lac",
                                     cal_fraction: float = 0.5, seed: int = 0,
                                     randomized: bool = True, lam: float = 0.01,
                                     k_reg: int = 5) -> ClassConditionalComparison:
        """Marginal and class-conditional (Mondrian) sets on the same split of the scored rows
        (``conformal`` with ``class_conditional`` False and True): per-class coverage and set
        size of both, and what one threshold per class costs."""
        args = dict(alpha=alpha, score=score, cal_fraction=cal_fraction, seed=seed,
                    randomized=randomized, lam=lam, k_reg=k_reg)
        return ClassConditionalComparison(self.conformal(**args),
                                          self.conformal(**args, class_conditional=True),
                                          self.rows.names)

    def conformal_curve(self, alphas: np.ndarray, **settings) -> ConformalCurve:
        """Coverage and set size against α on one split (``ConformalSplit.curve``;
        ``settings``: those of ``conformal_split``)."""
        split = self.conformal_split(**settings)
        return self._once(("conformal_curve", split, tuple(np.round(alphas, 9))),
                          lambda: split.curve(alphas))

    # -- conformal page -----------------------------------------------------------------------
    def average_coverage(self, alphas: np.ndarray, n_draws: int, **kwargs):
        """Coverage against α averaged over the splits of seeds 0 … ``n_draws`` - 1
        (``ConformalSplit.draws``; ``kwargs``: score, cal_fraction, randomized, lam, k_reg;
        the split of seed 0 is ``conformal_split``'s)."""
        split = self.conformal_split(**kwargs)
        return self._once(("average_coverage", split, tuple(np.round(alphas, 9)), int(n_draws)),
                          lambda: split.draws(alphas, n_draws))

    # -- shift --------------------------------------------------------------------------------
    def shift_rows(self, corruption: str, severity: int) -> Predictions:
        """Labelled rows of ``<corruption>:<severity>``; severity 0 is ``rows``, the scored
        rows (``uqviz.shift_analysis``)."""
        if severity == 0:
            return self.rows
        from uqviz.shift_analysis import corrupted_rows

        return self._once(("shift_rows", corruption, severity),
                          lambda: corrupted_rows(self.predictions, corruption, severity))

    def shift_uncertainty(self, corruption: str, severity: int, score: str) -> np.ndarray:
        """(N,) uncertainty of ``shift_rows(corruption, severity)`` under ``score``."""
        if severity == 0:
            return self.uncertainty(score)
        return self._once(("shift_u", corruption, severity, score), lambda: uncertainty(
            self.shift_rows(corruption, severity).probs, score))

    def shift_cases(self, corruption: str, severity: int, score: str, picks: np.ndarray):
        """Truth, prediction and ``score`` of the rows ``picks`` at one severity
        (``uqviz.shift_analysis.Cases``)."""
        from uqviz.shift_analysis import cases_at

        return cases_at(self.shift_rows(corruption, severity),
                        self.shift_uncertainty(corruption, severity, score), picks)

    def shift_records(self, corruption: str, score: str) -> list[dict]:
        """Accuracy, ECE, NLL, mean uncertainty and AUROC wrong-vs-right at each severity 0–5
        of ``corruption`` (``uqviz.shift_analysis.severity_records``; severity 0: ``rows``)."""
        from uqviz.shift_analysis import severity_records

        return self._once(("shift_records", corruption, score), lambda: severity_records(
            self.predictions, corruption, score, clean=self.rows,
            clean_uncertainty=self.uncertainty(score)))


@dataclass(frozen=True)
class OODTableRow:
    """One method × score as an OOD detector on one OOD group."""

    method: str
    score: str
    result: OODResult
    auroc_ci: tuple[float, float]


class Comparison:
    """The studies of several methods on one source, and the tables across them.

    Args:
        studies: method id -> Study, in the order the pages list the methods.
    """

    def __init__(self, studies: Mapping[str, Study]) -> None:
        if not studies:
            raise ValueError("a comparison needs at least one method, got none")
        self.studies = dict(studies)
        self._memo: dict[tuple, object] = {}

    @property
    def methods(self) -> list[str]:
        return list(self.studies)

    @property
    def n(self) -> int:
        """Labelled scored rows (the most of any method; the same rows for a trained source)."""
        return max(s.n for s in self.studies.values())

    @property
    def mix(self) -> StreamMix:
        return next(iter(self.studies.values())).mix

    def metric_table(self) -> MetricTable:
        """Every metric with 95% bootstrap intervals (``bootstrap_resamples(n)`` resamples)."""
        if "table" not in self._memo:
            self._memo["table"] = metric_table(
                {m: s.table_rows for m, s in self.studies.items()},
                n_resamples=bootstrap_resamples(self.n), seed=0)
        return self._memo["table"]

    @property
    def ood_groups(self) -> list[str]:
        """OOD groups present in every method's predictions."""
        first = next(iter(self.studies.values()))
        return [g for g in first.ood_groups
                if all(g in s.ood_groups for s in self.studies.values())]

    def ood_table(self, group: str) -> tuple[list[OODTableRow], int]:
        """One row per method × applicable score on ``group`` (``Study.ood_score_keys``: the
        probability scores, then the logit and feature scores each method has); and the index
        of the row with the best AUROC (-1 when there is a single row)."""
        rows = [OODTableRow(m, score, s.ood_detection(group, score), s.ood_auroc_ci(group, score))
                for m, s in self.studies.items() for score in s.ood_score_keys()]
        best = int(np.argmax([r.result.auroc for r in rows])) if len(rows) > 1 else -1
        return rows, best
