"""Selective prediction: risk–coverage curves, referral curves and the referral workbench.

Inputs are an (N,) ``uncertainty`` (higher = more uncertain, e.g. ``uncertainty(probs, key)``)
and an (N,) boolean ``correct`` (the model's prediction was right).

* Risk–coverage: sort rows by uncertainty ascending (most confident first, stable sort); keeping
  the first ``k`` gives coverage ``k/N`` and selective risk ``errors among them / k``.
* Referral: cases with uncertainty ``> threshold`` go to a human; the rest are automated.
* Costs: an automated error costs ``c_e``, a review ``c_r``; reviewers right with probability
  ``q`` (the reviewers' accuracy) make an error on a referred case with probability ``1 − q``,
  so a referred case costs ``c_r + (1 − q)·c_e`` (``referred_case_cost``) and automating the
  ``m`` least uncertain of ``N`` cases costs, per case,
  ``cost(m) = ((m − correct among them)·c_e + (N − m)·(c_r + (1 − q)·c_e)) / N``
  (Chow 1970's reject rule with a reject cost that includes the reviewers' errors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from uqviz.metrics.classification import normal_quantile, wilson_ci
from uqviz.validation import check_scores_correct

__all__ = [
    "CompactReferral",
    "CostTable",
    "OneVsRestRates",
    "OperatingPoint",
    "OperatingPointTable",
    "ReferralCurve",
    "ReferralIndex",
    "RiskCoverageCurve",
    "area_under_risk_coverage",
    "cost_table",
    "coverage_at_risk",
    "downsample_curve",
    "excess_aurc",
    "one_vs_rest_rates",
    "operating_point_table",
    "oracle_aurc",
    "referral_curve",
    "referred_case_cost",
    "risk_at_coverage",
    "risk_coverage_curve",
    "team_accuracy_curve",
]


# -- risk–coverage -----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RiskCoverageCurve:
    """Selective risk at every coverage level k/N, k = 1..N.

    Attributes:
        coverage: (N,) ``k/N``.
        risk: (N,) errors among the k most confident rows divided by k.
        threshold: (N,) uncertainty of the k-th most confident row.
        aurc: mean of ``risk``.
        eaurc: ``aurc`` minus the AURC of an oracle ranking with the same errors.
    """

    coverage: np.ndarray
    risk: np.ndarray
    threshold: np.ndarray
    aurc: float
    eaurc: float


def _sorted_errors(uncertainty, correct):
    uncertainty, correct = check_scores_correct(uncertainty, correct)
    order = np.argsort(uncertainty, kind="stable")
    return uncertainty[order], ~correct[order]


def _risk(errors_sorted: np.ndarray) -> np.ndarray:
    return np.cumsum(errors_sorted) / np.arange(1, errors_sorted.size + 1)


def oracle_aurc(n: int, n_errors: int) -> float:
    """AURC of the oracle ranking (all correct rows before all errors).

    ``(1/N) sum_{k > N-e} (k - (N-e))/k = (e - (N-e)(H_N - H_{N-e})) / N`` with ``H`` the
    harmonic numbers.

    References:
        Geifman, Uziel & El-Yaniv, "Bias-Reduced Uncertainty Estimation for Deep Neural
        Classifiers", ICLR 2019.
    """
    if n < 1 or not 0 <= n_errors <= n:
        raise ValueError(f"need n >= 1 and 0 <= n_errors <= n, got n={n}, n_errors={n_errors}")
    kept_correct = n - n_errors
    k = np.arange(kept_correct + 1, n + 1, dtype=np.float64)
    return float(np.sum((k - kept_correct) / k) / n)


def risk_coverage_curve(uncertainty: np.ndarray, correct: np.ndarray) -> RiskCoverageCurve:
    """Risk–coverage curve: keep the k least uncertain rows, k = 1..N.

    Args:
        uncertainty: (N,) higher = more uncertain.
        correct: (N,) bool.

    References:
        El-Yaniv & Wiener, "On the Foundations of Noise-free Selective Classification", JMLR 11
        (2010); Geifman & El-Yaniv, NeurIPS 2017.
    """
    return ReferralIndex.from_scores(uncertainty, correct).risk_coverage()


def area_under_risk_coverage(uncertainty: np.ndarray, correct: np.ndarray) -> float:
    """AURC: mean selective risk over the N coverage levels, ``(1/N) sum_k E_k / k``.

    ``E_k`` is the number of errors among the k least uncertain rows (stable sort). Range 0–1,
    lower is better.

    References:
        Geifman, Uziel & El-Yaniv, ICLR 2019; torch-uncertainty ``AURC``.
    """
    _, errors = _sorted_errors(uncertainty, correct)
    return float(_risk(errors).mean())


def excess_aurc(uncertainty: np.ndarray, correct: np.ndarray) -> float:
    """E-AURC: ``AURC - AURC(oracle)``, the oracle ranking every correct row before every error.

    References:
        Geifman, Uziel & El-Yaniv, "Bias-Reduced Uncertainty Estimation for Deep Neural
        Classifiers", ICLR 2019.
    """
    _, errors = _sorted_errors(uncertainty, correct)
    return float(_risk(errors).mean()) - oracle_aurc(errors.size, int(errors.sum()))


def _check_fraction(name: str, value: float, *, allow_zero: bool) -> float:
    value = float(value)
    low_ok = value >= 0.0 if allow_zero else value > 0.0
    if not (low_ok and value <= 1.0):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def _ceil_count(fraction: float, n: int) -> int:
    """``ceil(fraction · n)`` robust to float noise (0.95 · 100 is 95, not 96)."""
    return int(math.ceil(round(fraction * n, 9)))


def risk_at_coverage(uncertainty: np.ndarray, correct: np.ndarray, coverage: float) -> float:
    """Selective risk when keeping the ``ceil(coverage · N)`` least uncertain rows.

    Args:
        coverage: in (0, 1].

    References:
        Geifman & El-Yaniv, "Selective Classification for Deep Neural Networks", NeurIPS 2017.
    """
    coverage = _check_fraction("coverage", coverage, allow_zero=False)
    _, errors = _sorted_errors(uncertainty, correct)
    k = max(1, _ceil_count(coverage, errors.size))
    return float(errors[:k].sum() / k)


def coverage_at_risk(uncertainty: np.ndarray, correct: np.ndarray, risk: float) -> float:
    """The largest coverage ``k/N`` whose selective risk is ``<= risk``; 0 when none is.

    References:
        Geifman & El-Yaniv, "Selective Classification for Deep Neural Networks", NeurIPS 2017.
    """
    risk = _check_fraction("risk", risk, allow_zero=True)
    _, errors = _sorted_errors(uncertainty, correct)
    ok = np.flatnonzero(_risk(errors) <= risk + 1e-12)
    return float((ok[-1] + 1) / errors.size) if ok.size else 0.0


def downsample_curve(
    x: np.ndarray, y: np.ndarray, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``max_points`` evenly spaced points of a curve, always the first and last.

    Args:
        x, y: (N,) curve coordinates.
        max_points: >= 2.

    Returns:
        ``(x, y)`` of length ``min(N, max_points)`` (copies).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    if x.size <= max_points:
        return x.copy(), y.copy()
    index = np.unique(np.round(np.linspace(0, x.size - 1, max_points)).astype(np.int64))
    return x[index], y[index]


# -- referral curve ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ReferralCurve:
    """Accuracy on the automated cases as the most uncertain ones are referred.

    Attributes:
        referred_fraction: (P,) fraction referred, from 0 up to (N-1)/N.
        accuracy_retained: (P,) accuracy on the cases not referred.
        random_baseline: (P,) accuracy when referring at random: the overall accuracy.
    """

    referred_fraction: np.ndarray
    accuracy_retained: np.ndarray
    random_baseline: np.ndarray


def referral_curve(
    uncertainty: np.ndarray, correct: np.ndarray, max_points: int = 2000
) -> ReferralCurve:
    """Refer the j most uncertain cases (j = 0..N-1) and score the rest.

    ``accuracy_retained(j/N) = 1 - risk at coverage (N-j)/N`` on the stable uncertainty order,
    downsampled to ``max_points`` points (ends kept).

    References:
        Leibig et al., "Leveraging uncertainty information from deep neural networks for
        disease detection", Scientific Reports 7, 17816 (2017).
    """
    return ReferralIndex.from_scores(uncertainty, correct).referral_curve(max_points)


def team_accuracy_curve(referred_fraction: np.ndarray, automated_accuracy: np.ndarray,
                        reviewer_accuracy: float) -> np.ndarray:
    """The team's accuracy when the model decides the automated cases and people the referred
    ones: ``acc_team(r) = (1 − r)·acc_automated(r) + r·q`` for a referred share ``r`` and
    reviewers right with probability ``q`` (a stratified mean with strata weights ``1 − r`` and
    ``r``; ``uqviz.team`` estimates the same from reviewed labels, with an interval). Where
    everything is referred (``r = 1``) it is ``q``.

    Args:
        referred_fraction: (P,) shares referred (``ReferralCurve.referred_fraction``).
        automated_accuracy: (P,) the model's accuracy on the automated cases at each share.
        reviewer_accuracy: q in [0, 1].

    Raises:
        ValueError: q outside [0, 1] or the two arrays of different shapes.

    References:
        Cochran, Sampling Techniques, 3rd ed., Wiley (1977), ch. 5 (stratified means);
        Leibig et al., Scientific Reports 7, 17816 (2017) (referral curves).
    """
    q = _check_reviewer_accuracy(reviewer_accuracy)
    r = np.asarray(referred_fraction, dtype=np.float64)
    a = np.asarray(automated_accuracy, dtype=np.float64)
    if r.shape != a.shape:
        raise ValueError(f"referred_fraction {r.shape} and automated_accuracy {a.shape} must "
                         "have the same shape")
    return np.where(r >= 1.0, q, (1.0 - r) * np.where(r >= 1.0, 0.0, a) + r * q)


def _check_reviewer_accuracy(value: float) -> float:
    q = float(value)
    if not 0.0 <= q <= 1.0:  # NaN fails too
        raise ValueError(f"reviewer accuracy must be in [0, 1], got {value}")
    return q


def referred_case_cost(cost_error: float, cost_review: float,
                       reviewer_accuracy: float = 1.0) -> float:
    """Expected cost of one referred case: ``c_r + (1 − q)·c_e``, the review plus the error the
    reviewers make with probability ``1 − q`` (``q = 1``: the review alone, exactly ``c_r``).

    Args:
        cost_error: ``c_e``, the cost of an error (the model's or a reviewer's), ≥ 0.
        cost_review: ``c_r``, the cost of a review, ≥ 0.
        reviewer_accuracy: q in [0, 1], how often reviewers are right.

    Raises:
        ValueError: a negative or non-finite cost, q outside [0, 1].

    References:
        Chow, "On optimum recognition error and reject tradeoff", IEEE Trans. Inf. Theory 16
        (1970) (the reject cost); Leibig et al., Scientific Reports 7, 17816 (2017).
    """
    ce = _check_cost("cost_error", cost_error)
    cr = _check_cost("cost_review", cost_review)
    return cr + (1.0 - _check_reviewer_accuracy(reviewer_accuracy)) * ce


# -- referral workbench ------------------------------------------------------------------------
@dataclass(frozen=True)
class OperatingPoint:
    """One referral policy: refer every case with uncertainty ``> threshold``.

    Attributes:
        threshold: uncertainty threshold; cases above it are referred.
        n: total cases.
        n_referred: cases referred to a human.
        referred_fraction: ``n_referred / n``.
        automated_accuracy: model accuracy on the automated cases (NaN when none).
        automated_accuracy_ci: 95% Wilson interval of it (NaN when none).
        automated_error_rate: ``1 - automated_accuracy``.
        referred_accuracy: model accuracy on the referred cases (NaN when none).
        referred_accuracy_ci: 95% Wilson interval of it.
        expected_cost: ``(automated errors · cost_error + n_referred · c_ref) / n`` with
            ``c_ref = referred_case_cost(cost_error, cost_review, q)`` (``cost_review`` when
            the reviewers are assumed right); NaN when no costs were given.
        reached: False when the requested target could not be met.
    """

    threshold: float
    n: int
    n_referred: int
    referred_fraction: float
    automated_accuracy: float
    automated_accuracy_ci: tuple[float, float]
    automated_error_rate: float
    referred_accuracy: float
    referred_accuracy_ci: tuple[float, float]
    expected_cost: float
    reached: bool = True

    @property
    def n_automated(self) -> int:
        return self.n - self.n_referred


def operating_point_from_counts(*, n: int, kept: int, correct_kept: int, correct_total: int,
                                threshold: float, confidence: float = 0.95,
                                cost_error: float | None = None,
                                cost_review: float | None = None,
                                reached: bool = True,
                                reviewer_accuracy: float = 1.0) -> OperatingPoint:
    """The operating point that automates ``kept`` of ``n`` cases, ``correct_kept`` of them
    right (``correct_total`` right in all): accuracies with Wilson intervals and, when both
    costs are given, ``(errors automated · cost_error + referred · c_ref) / n`` with
    ``c_ref = referred_case_cost(cost_error, cost_review, reviewer_accuracy)``."""
    n_ref = n - kept
    auto_acc = correct_kept / kept if kept else math.nan
    correct_ref = correct_total - correct_kept
    if cost_error is None and cost_review is None:
        cost = math.nan
    else:
        if cost_error is None or cost_review is None:
            raise ValueError("give both cost_error and cost_review, or neither")
        cost = ((kept - correct_kept) * _check_cost("cost_error", cost_error)
                + n_ref * referred_case_cost(cost_error, cost_review, reviewer_accuracy)) / n
    return OperatingPoint(
        threshold=float(threshold), n=n, n_referred=n_ref, referred_fraction=n_ref / n,
        automated_accuracy=auto_acc,
        automated_accuracy_ci=tuple(wilson_ci(correct_kept, kept, confidence)),
        automated_error_rate=1.0 - auto_acc,
        referred_accuracy=correct_ref / n_ref if n_ref else math.nan,
        referred_accuracy_ci=tuple(wilson_ci(correct_ref, n_ref, confidence)),
        expected_cost=cost, reached=bool(reached))


def _check_cost(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


@dataclass(frozen=True, eq=False)
class ReferralIndex:
    """Sorted scores and cumulative correct counts: each referral query is a binary search.

    Build with ``ReferralIndex.from_scores(uncertainty, correct)``. Keeping the ``m`` least
    uncertain cases is only possible where a threshold separates them from the rest, i.e. at
    ``m = 0``, ``m = N`` or where ``sorted[m-1] < sorted[m]`` (the "cuts"); every query returns
    such a point, so tied scores are never split.

    Attributes:
        sorted_uncertainty: (N,) float64 ascending.
        cum_correct: (N+1,) int64, ``cum_correct[m]`` = correct among the m least uncertain.
        cuts: (K,) int64 ascending valid kept-counts m.
        cut_accuracy_suffix_max: (K,) ``max_{j >= i}`` automated accuracy at ``cuts[j]``
            (NaN-free; -inf for m = 0), used by ``for_target_accuracy``.
        confidence: coverage of the Wilson intervals.

    References:
        Leibig et al., Scientific Reports 7, 17816 (2017); Chow, "On optimum recognition error
        and reject tradeoff", IEEE Trans. Inf. Theory 16 (1970) (cost-based rejection).
    """

    sorted_uncertainty: np.ndarray
    cum_correct: np.ndarray
    cuts: np.ndarray = field(repr=False)
    cut_accuracy_suffix_max: np.ndarray = field(repr=False)
    confidence: float = 0.95
    order: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_scores(
        cls, uncertainty: np.ndarray, correct: np.ndarray, *, confidence: float = 0.95
    ) -> ReferralIndex:
        """Sort once (O(N log N)); later queries are O(log N)."""
        uncertainty, correct = check_scores_correct(uncertainty, correct)
        order = np.argsort(uncertainty, kind="stable")
        sorted_u = uncertainty[order]
        cum = np.concatenate([[0], np.cumsum(correct[order], dtype=np.int64)])
        n = sorted_u.size
        inner = np.flatnonzero(sorted_u[1:] > sorted_u[:-1]) + 1
        cuts = np.concatenate([[0], inner, [n]]).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(cuts > 0, cum[cuts] / np.maximum(cuts, 1), -np.inf)
        suffix_max = np.maximum.accumulate(acc[::-1])[::-1]
        return cls(sorted_u, cum, cuts, suffix_max, confidence, order)

    @property
    def n(self) -> int:
        return int(self.sorted_uncertainty.size)

    @property
    def n_errors(self) -> int:
        return self.n - int(self.cum_correct[-1])

    def errors_kept(self) -> np.ndarray:
        """(N,) int64: errors among the k least uncertain cases, k = 1..N."""
        return np.arange(1, self.n + 1) - self.cum_correct[1:]

    def risk_coverage(self) -> RiskCoverageCurve:
        """The risk–coverage curve from the same sort (see ``risk_coverage_curve``)."""
        n = self.n
        risk = self.errors_kept() / np.arange(1, n + 1)
        aurc = float(risk.mean())
        return RiskCoverageCurve(coverage=np.arange(1, n + 1) / n, risk=risk,
                                 threshold=self.sorted_uncertainty, aurc=aurc,
                                 eaurc=aurc - oracle_aurc(n, self.n_errors))

    def referral_curve(self, max_points: int = 2000) -> ReferralCurve:
        """The referral curve from the same sort (see ``referral_curve``)."""
        n = self.n
        accuracy_kept = 1.0 - (self.errors_kept() / np.arange(1, n + 1))[::-1]
        referred, accuracy_kept = downsample_curve(np.arange(n) / n, accuracy_kept, max_points)
        return ReferralCurve(referred_fraction=referred, accuracy_retained=accuracy_kept,
                             random_baseline=np.full(referred.size, 1.0 - self.n_errors / n))

    def kept_rows(self, point: OperatingPoint) -> np.ndarray:
        """Row indices (into the scores given) of the automated cases, least uncertain first."""
        return self._order()[:point.n_automated]

    def keep_mask(self, point: OperatingPoint) -> np.ndarray:
        """(N,) bool: the cases the model decides at ``point``."""
        keep = np.zeros(self.n, dtype=bool)
        keep[self.kept_rows(point)] = True
        return keep

    def border_rows(self, point: OperatingPoint, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` automated cases just below the threshold (most uncertain first) and the
        ``k`` referred cases just above it (least uncertain first), as row indices."""
        order, m = self._order(), point.n_automated
        return order[max(0, m - k):m][::-1], order[m:m + k]

    def _order(self) -> np.ndarray:
        if self.order is None:
            raise ValueError("this index was built without row order; use from_scores")
        return self.order

    def _threshold_for_kept(self, m: int) -> float:
        if m == 0:
            return float(np.nextafter(self.sorted_uncertainty[0], -np.inf))
        return float(self.sorted_uncertainty[m - 1])

    def _point(self, m, threshold, cost_error, cost_review, reached=True) -> OperatingPoint:
        m = int(m)
        return operating_point_from_counts(
            n=self.n, kept=m, correct_kept=int(self.cum_correct[m]),
            correct_total=int(self.cum_correct[self.n]), threshold=threshold,
            confidence=self.confidence, cost_error=cost_error, cost_review=cost_review,
            reached=reached)

    def at_threshold(
        self, threshold: float, *, cost_error: float | None = None, cost_review: float | None = None
    ) -> OperatingPoint:
        """Refer every case with uncertainty ``> threshold``."""
        threshold = float(threshold)
        if math.isnan(threshold):
            raise ValueError("threshold must be a number, got nan")
        m = int(np.searchsorted(self.sorted_uncertainty, threshold, side="right"))
        return self._point(m, threshold, cost_error, cost_review)

    def at_budget(
        self,
        fraction_referred: float,
        *,
        cost_error: float | None = None,
        cost_review: float | None = None,
    ) -> OperatingPoint:
        """Refer at most the ``ceil(fraction · N)`` most uncertain cases.

        The budget is an upper bound: when scores tie across the cut, the tied cases all stay
        automated (a threshold cannot split them), so ``n_referred`` may be smaller than the
        budget; the point reports the actual count.
        """
        fraction = _check_fraction("fraction_referred", fraction_referred, allow_zero=True)
        n = self.n
        budget = min(n, _ceil_count(fraction, n))
        if budget == n:
            m = 0
        else:
            # keep at least n - budget rows: all ties of the (n - budget)-th smallest stay
            last_kept = self.sorted_uncertainty[n - budget - 1]
            m = int(np.searchsorted(self.sorted_uncertainty, last_kept, side="right"))
        return self._point(m, self._threshold_for_kept(m), cost_error, cost_review)

    def for_target_accuracy(
        self, target: float, *, cost_error: float | None = None, cost_review: float | None = None
    ) -> OperatingPoint:
        """The smallest referral rate whose automated accuracy is ``>= target``.

        When no threshold reaches the target, returns the refer-everything point with
        ``reached=False`` (automated accuracy NaN).
        """
        target = _check_fraction("target", target, allow_zero=True)
        # suffix max is non-increasing: find the last cut whose suffix max reaches the target;
        # that cut itself reaches it, and no later (larger m, less referral) cut does.
        reaching = int(np.searchsorted(-self.cut_accuracy_suffix_max, -(target - 1e-12),
                                       side="right"))
        if reaching == 0:
            return self._point(0, self._threshold_for_kept(0), cost_error, cost_review, False)
        m = int(self.cuts[reaching - 1])
        return self._point(m, self._threshold_for_kept(m), cost_error, cost_review)

    def for_costs(self, cost_error: float, cost_review: float, *,
                  reviewer_accuracy: float = 1.0) -> OperatingPoint:
        """Minimise the expected cost per case over all thresholds (ties: fewer referrals).

        ``cost(m) = ((m - correct among kept) · c_e + (N - m) · (c_r + (1 − q)·c_e)) / N``
        (module docstring; ``q = reviewer_accuracy``, 1: the reviewers always right).
        Vectorised over the distinct thresholds. The point's ``expected_cost`` is that cost.

        References:
            Chow, IEEE Trans. Inf. Theory 16 (1970).
        """
        ce = _check_cost("cost_error", cost_error)
        cr = referred_case_cost(cost_error, cost_review, reviewer_accuracy)
        m = self.cuts
        cost = ((m - self.cum_correct[m]) * ce + (self.n - m) * cr) / self.n
        best = cost.min()
        chosen = int(m[np.flatnonzero(cost <= best + 1e-12 * max(1.0, abs(best)))[-1]])
        return self._point(chosen, self._threshold_for_kept(chosen), ce, cr)

    def compact(self, max_points: int = 10_000) -> CompactReferral:
        """The index restricted to at most ``max_points`` cuts: every cut when there are that
        few, else the cuts nearest a grid of ``max_points`` quantiles of the kept count
        (``m ≈ q·N``, so the thresholds are quantiles of the scores), always with ``m = 0``
        and ``m = N``. The counts at every kept cut are exact; see ``CompactReferral``."""
        if max_points < 2:
            raise ValueError(f"max_points must be >= 2, got {max_points}")
        cuts = self.cuts
        if cuts.size <= max_points:
            kept = cuts.copy()
        else:
            targets = np.round(np.linspace(0, self.n, max_points)).astype(np.int64)
            above = np.minimum(np.searchsorted(cuts, targets), cuts.size - 1)
            below = np.maximum(above - 1, 0)
            nearer_below = targets - cuts[below] < cuts[above] - targets
            kept = cuts[np.unique(np.where(nearer_below, below, above))]
        thresholds = np.empty(kept.size, dtype=np.float64)
        thresholds[1:] = self.sorted_uncertainty[kept[1:] - 1]
        thresholds[0] = self._threshold_for_kept(0)  # kept[0] is always 0
        correct = self.cum_correct[kept].astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(kept > 0, correct / np.maximum(kept, 1), -np.inf)
        return CompactReferral(n=self.n, kept=kept.astype(np.int64), correct=correct,
                               thresholds=thresholds, exact=bool(kept.size == cuts.size),
                               confidence=self.confidence,
                               accuracy_suffix_max=np.maximum.accumulate(acc[::-1])[::-1])


@dataclass(frozen=True, eq=False)
class CompactReferral:
    """A ``ReferralIndex`` restricted to some of its cuts (``ReferralIndex.compact``): small
    enough to ship to a browser, and answering every query exactly as the full index would if
    only these cuts existed.

    Each kept cut is a count ``m`` of automated (least uncertain) cases that a threshold can
    separate; its threshold is the m-th smallest score (for ``m = 0``, just below the
    smallest), so ``ReferralIndex.at_threshold(thresholds[i])`` automates exactly
    ``kept[i]`` cases and every number at a kept cut is exact. When ``exact`` (every cut was
    kept) each query equals the full index's.

    Attributes:
        n: total cases.
        kept: (K,) int64 ascending kept counts, ``kept[0] = 0`` and ``kept[-1] = n``.
        correct: (K,) int64 correct predictions among the ``kept[i]`` least uncertain.
        thresholds: (K,) float64 strictly ascending threshold of each kept cut.
        exact: every cut of the full index is kept.
        confidence: coverage of the Wilson intervals.
        accuracy_suffix_max: (K,) ``max_{j >= i}`` automated accuracy at ``kept[j]`` (-inf
            for ``m = 0``), as ``ReferralIndex.cut_accuracy_suffix_max``.
    """

    n: int
    kept: np.ndarray
    correct: np.ndarray
    thresholds: np.ndarray
    exact: bool
    confidence: float = 0.95
    accuracy_suffix_max: np.ndarray = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return int(self.kept.size)

    @property
    def z(self) -> float:
        """The normal quantile of the Wilson intervals (``wilson_ci``'s, 1.96 for 95%)."""
        return normal_quantile(self.confidence)

    def _point(self, i: int, cost_error=None, cost_review=None, reached=True) -> OperatingPoint:
        return operating_point_from_counts(
            n=self.n, kept=int(self.kept[i]), correct_kept=int(self.correct[i]),
            correct_total=int(self.correct[-1]), threshold=self.thresholds[i],
            confidence=self.confidence, cost_error=cost_error, cost_review=cost_review,
            reached=reached)

    def position_at_threshold(self, threshold: float) -> int:
        """Index of the kept cut with the largest threshold ``<= threshold`` (0 below all)."""
        threshold = float(threshold)
        if math.isnan(threshold):
            raise ValueError("threshold must be a number, got nan")
        return max(0, int(np.searchsorted(self.thresholds, threshold, side="right")) - 1)

    def at_threshold(self, threshold: float, *, cost_error: float | None = None,
                     cost_review: float | None = None) -> OperatingPoint:
        """Refer above ``threshold``, snapped down to the kept cut at or below it (reported
        at that cut's threshold: the policy that automates exactly that many cases)."""
        return self._point(self.position_at_threshold(threshold), cost_error, cost_review)

    def at_budget(self, fraction_referred: float, *, cost_error: float | None = None,
                  cost_review: float | None = None) -> OperatingPoint:
        """Refer at most ``ceil(fraction · N)`` cases: the smallest kept cut automating at
        least ``N - budget`` (``ReferralIndex.at_budget`` restricted to the kept cuts)."""
        return self._point(self.position_at_budget(fraction_referred), cost_error, cost_review)

    def position_at_budget(self, fraction_referred: float) -> int:
        """Index of the kept cut ``at_budget(fraction_referred)`` answers at."""
        fraction = _check_fraction("fraction_referred", fraction_referred, allow_zero=True)
        budget = min(self.n, _ceil_count(fraction, self.n))
        return int(np.searchsorted(self.kept, self.n - budget, side="left"))

    def for_target_accuracy(self, target: float, *, cost_error: float | None = None,
                            cost_review: float | None = None) -> OperatingPoint:
        """The kept cut with the fewest referrals whose automated accuracy is ``>= target``;
        refer everything with ``reached=False`` when none is."""
        i, reached = self.position_for_target(target)
        return self._point(i, cost_error, cost_review, reached)

    def position_for_target(self, target: float) -> tuple[int, bool]:
        """Index of the kept cut ``for_target_accuracy(target)`` answers at, and whether the
        target is reached there."""
        target = _check_fraction("target", target, allow_zero=True)
        reaching = int(np.searchsorted(-self.accuracy_suffix_max, -(target - 1e-12),
                                       side="right"))
        return (0, False) if reaching == 0 else (reaching - 1, True)

    def for_costs(self, cost_error: float, cost_review: float, *,
                  reviewer_accuracy: float = 1.0) -> OperatingPoint:
        """The kept cut of least expected cost per case (ties: fewer referrals); reviewers
        right with probability ``reviewer_accuracy`` (``expected_costs``)."""
        return self._point(
            self.position_for_costs(cost_error, cost_review, reviewer_accuracy=reviewer_accuracy),
            cost_error, referred_case_cost(cost_error, cost_review, reviewer_accuracy))

    def expected_costs(self, cost_error: float, cost_review: float, *,
                       reviewer_accuracy: float = 1.0) -> np.ndarray:
        """(K,) the expected cost per case at each kept cut,
        ``((kept - correct) · c_e + (n - kept) · (c_r + (1 − q)·c_e)) / n`` (module docstring;
        ``q = reviewer_accuracy``, 1: the reviewers always right), the same operations as
        ``operating_point_from_counts``."""
        ce = _check_cost("cost_error", cost_error)
        cr = referred_case_cost(cost_error, cost_review, reviewer_accuracy)
        m = self.kept
        return ((m - self.correct) * ce + (self.n - m) * cr) / self.n

    def position_for_costs(self, cost_error: float, cost_review: float, *,
                           reviewer_accuracy: float = 1.0) -> int:
        """Index of the kept cut ``for_costs(cost_error, cost_review, reviewer_accuracy=q)``
        answers at: the least expected cost (``expected_costs``), ties (within 1e-12 relative)
        to fewer referrals.

        References:
            Chow, IEEE Trans. Inf. Theory 16 (1970).
        """
        cost = self.expected_costs(cost_error, cost_review, reviewer_accuracy=reviewer_accuracy)
        best = cost.min()
        return int(np.flatnonzero(cost <= best + 1e-12 * max(1.0, abs(best)))[-1])


@dataclass(frozen=True, eq=False)
class OperatingPointTable:
    """The operating point at every kept cut of a ``CompactReferral``, as columns: row ``i``
    is ``compact.at_threshold(compact.thresholds[i])`` (``operating_point_from_counts``), so a
    browser showing row ``i`` looks its numbers up and computes none.

    Attributes (each (K,), ``(K, 2)`` for the intervals):
        threshold: the cut's threshold (refer above it).
        n: total cases.
        n_automated: cases kept (``kept[i]``); ``n_referred = n - n_automated``.
        n_referred: cases referred.
        n_errors_automated: wrong predictions among the automated cases.
        referred_fraction: ``n_referred / n``.
        automated_accuracy: ``correct[i] / kept[i]`` (NaN where nothing is automated).
        automated_accuracy_ci: its Wilson interval (``wilson_ci``).
        automated_error_rate: ``1 - automated_accuracy``.
        referred_accuracy: model accuracy on the referred cases (NaN where none is).
        referred_accuracy_ci: its Wilson interval.
        random_accuracy: accuracy on every case (referring at random keeps it).
    """

    threshold: np.ndarray
    n: int
    n_automated: np.ndarray
    n_referred: np.ndarray
    n_errors_automated: np.ndarray
    referred_fraction: np.ndarray
    automated_accuracy: np.ndarray
    automated_accuracy_ci: np.ndarray
    automated_error_rate: np.ndarray
    referred_accuracy: np.ndarray
    referred_accuracy_ci: np.ndarray
    random_accuracy: float


def operating_point_table(compact: CompactReferral) -> OperatingPointTable:
    """Every kept cut's operating point at once: ``operating_point_from_counts`` over arrays,
    the same operations element by element (so row ``i`` equals ``compact.at_threshold(
    compact.thresholds[i])`` bit for bit; tested in tests/test_components_node.py).

    References:
        Leibig et al., Scientific Reports 7, 17816 (2017) (referral); Wilson, JASA 22 (1927).
    """
    kept, correct, n = compact.kept, compact.correct, compact.n
    total = int(correct[-1])
    n_ref = n - kept
    correct_ref = total - correct
    with np.errstate(invalid="ignore", divide="ignore"):
        auto_acc = np.where(kept > 0, correct / np.maximum(kept, 1), np.nan)
        ref_acc = np.where(n_ref > 0, correct_ref / np.maximum(n_ref, 1), np.nan)
    return OperatingPointTable(
        threshold=compact.thresholds.astype(np.float64), n=n, n_automated=kept.copy(),
        n_referred=n_ref, n_errors_automated=kept - correct, referred_fraction=n_ref / n,
        automated_accuracy=auto_acc,
        automated_accuracy_ci=np.column_stack(wilson_ci(correct, kept, compact.confidence)),
        automated_error_rate=1.0 - auto_acc, referred_accuracy=ref_acc,
        referred_accuracy_ci=np.column_stack(wilson_ci(correct_ref, n_ref, compact.confidence)),
        random_accuracy=total / n)


@dataclass(frozen=True, eq=False)
class CostTable:
    """The cost-optimal kept cut for every pair of offered costs (``cost_table``).

    Attributes:
        costs: (P,) the costs offered (of an automated error, and of a human review).
        position: (P, P) ``compact.position_for_costs(costs[e], costs[r],
            reviewer_accuracy=q)`` at ``[e, r]``.
        expected_cost: (P, P) the expected cost per case there, as ``for_costs`` reports it.
        reviewer_accuracy: q, how often the reviewers are right (1: always).
    """

    costs: np.ndarray
    position: np.ndarray
    expected_cost: np.ndarray
    reviewer_accuracy: float = 1.0


def cost_table(compact: CompactReferral, costs, *, reviewer_accuracy: float = 1.0) -> CostTable:
    """``CompactReferral.for_costs`` at every pair of ``costs``: the cut (its position) and the
    expected cost per case, ``[e, r]`` for an error costing ``costs[e]`` and a review
    ``costs[r]``, with reviewers right with probability ``reviewer_accuracy`` (a referred case
    costs ``costs[r] + (1 − q)·costs[e]``: ``referred_case_cost``).

    References:
        Chow, IEEE Trans. Inf. Theory 16 (1970).
    """
    costs = np.asarray(costs, dtype=np.float64)
    if costs.ndim != 1 or costs.size == 0:
        raise ValueError(f"costs must be a non-empty 1-D array, got shape {costs.shape}")
    q = _check_reviewer_accuracy(reviewer_accuracy)
    size = costs.size
    position = np.empty((size, size), dtype=np.int64)
    expected = np.empty((size, size), dtype=np.float64)
    for e, ce in enumerate(costs.tolist()):
        for r, cr in enumerate(costs.tolist()):
            i = compact.position_for_costs(ce, cr, reviewer_accuracy=q)
            position[e, r] = i
            expected[e, r] = compact.expected_costs(ce, cr, reviewer_accuracy=q)[i]
    return CostTable(costs=costs, position=position, expected_cost=expected,
                     reviewer_accuracy=q)


@dataclass(frozen=True)
class OneVsRestRates:
    """Sensitivity and specificity for one class treated as positive, with Wilson intervals.

    Attributes:
        positive: the positive class.
        sensitivity: ``TP / (TP + FN)`` among retained rows whose label is ``positive``.
        sensitivity_ci: 95% (or chosen) Wilson interval; NaN when no positives.
        specificity: ``TN / (TN + FP)`` among retained rows whose label is not ``positive``.
        specificity_ci: Wilson interval; NaN when no negatives.
        n_positive: retained rows with label ``positive``.
        n_negative: retained rows with another label.
    """

    positive: int
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    n_positive: int
    n_negative: int


def one_vs_rest_rates(
    predicted: np.ndarray,
    labels: np.ndarray,
    positive: int,
    keep_mask: np.ndarray | None = None,
    *,
    confidence: float = 0.95,
) -> OneVsRestRates:
    """One-vs-rest sensitivity and specificity on the retained (automated) cases.

    Args:
        predicted: (N,) predicted classes.
        labels: (N,) true classes.
        positive: the class treated as positive.
        keep_mask: (N,) bool, rows kept (not referred); all rows when None.
        confidence: coverage of the Wilson intervals.

    References:
        Altman & Bland, "Diagnostic tests 1: sensitivity and specificity", BMJ 308 (1994).
    """
    predicted = np.asarray(predicted)
    labels = np.asarray(labels)
    if predicted.ndim != 1 or predicted.shape != labels.shape:
        raise ValueError(
            f"predicted and labels must be 1-D of equal length, got {predicted.shape} "
            f"and {labels.shape}"
        )
    if keep_mask is None:
        keep = np.ones(labels.shape, dtype=bool)
    else:
        keep = np.asarray(keep_mask, dtype=bool)
        if keep.shape != labels.shape:
            raise ValueError(f"keep_mask must have shape {labels.shape}, got {keep.shape}")
    is_pos = labels[keep] == positive
    said_pos = predicted[keep] == positive
    n_pos = int(is_pos.sum())
    n_neg = int((~is_pos).sum())
    tp = int((is_pos & said_pos).sum())
    tn = int((~is_pos & ~said_pos).sum())
    return OneVsRestRates(
        positive=int(positive),
        sensitivity=tp / n_pos if n_pos else math.nan,
        sensitivity_ci=tuple(wilson_ci(tp, n_pos, confidence)),
        specificity=tn / n_neg if n_neg else math.nan,
        specificity_ci=tuple(wilson_ci(tn, n_neg, confidence)),
        n_positive=n_pos,
        n_negative=n_neg,
    )
