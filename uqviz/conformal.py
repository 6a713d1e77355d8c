"""Split conformal prediction sets for classification.

A nonconformity score ``s(x, y)`` says how unusual class ``y`` is for input ``x`` (larger is
stranger). Split conformal prediction scores the true labels of a calibration set,
``s_i = s(x_i, y_i)`` for ``i = 1..n``, takes ``qhat`` = the ``k``-th smallest of them with
``k = ceil((n + 1)(1 - alpha))`` (``+inf`` when ``k > n``) and predicts, for a test input, the set
``{y : s(x, y) <= qhat}``. When calibration and test rows are exchangeable,
``1 - alpha <= P(y in set) <= 1 - alpha + 1/(n + 1)`` (the upper bound needs scores without
ties). All scores here give sets that grow with ``qhat``, so sets are nested as ``alpha``
shrinks.

Scores, on (N, C) probabilities ``p``; ``p_(1) >= p_(2) >= ...`` the sorted probabilities, ``o(y)``
the 1-based rank of class ``y`` in that order (ties broken by the lower class index),
``cum(y) = sum_{j <= o(y)} p_(j)`` the mass down to and including ``y`` and ``u`` in [0, 1):

* ``lac`` (also called THR): ``1 - p_y``.
* ``aps``: ``cum(y) - u * p_y``; ``u ~ Uniform(0, 1)`` per row when randomized, else ``u = 0``
  for calibration, and test sets keep the class that crosses q̂ (never empty).
* ``raps``: ``cum(y) - u * p_y + lam * max(0, o(y) - k_reg)``.

With a fixed ``u`` per row the APS and RAPS sets are prefixes of the sorted classes.

**One split, every level.** ``ConformalSplit(probs, labels, score=..., cal_fraction=...,
seed=...)`` checks its arguments once, draws the split and the tie-breaking uniforms and
computes the scores once, and answers the sets at one level (``.sets(alpha)``), the counts
at many (``.levels(alphas)``, for the α slider), coverage and set size against α
(``.curve(alphas)``) and the coverage averaged over the splits of seeds ``0 … n-1``
(``.draws(alphas, n)``).

**Class-conditional (Mondrian) sets** (``ConformalSplit.sets(alpha, class_conditional=True)``): one
threshold per class, ``qhat_y`` = the ``k_y``-th smallest score among the ``n_y`` calibration
rows of class y, ``k_y = ceil((n_y + 1)(1 - alpha))`` (``+inf`` when ``k_y > n_y``), and the set
``{y : s(x, y) <= qhat_y}``. Class y's test rows are exchangeable with its calibration rows,
so ``P(y in set | Y = y) >= 1 - alpha`` for every class (Vovk 2003; the label-conditional
Mondrian predictor of Vovk, Gammerman & Shafer 2005, ch. 4.5). The price: a class with few
calibration rows gets a high (or infinite) threshold, and larger sets.

This module imports numpy and, for the Wilson interval, ``uqviz.metrics`` (numpy/scipy).

References:
    Vovk, Gammerman & Shafer, "Algorithmic Learning in a Random World", 2005 (split conformal).
    Sadinle, Lei & Wasserman, "Least Ambiguous Set-Valued Classifiers with Bounded Error
    Levels", JASA 2019 (LAC).
    Romano, Sesia & Candès, "Classification with Valid and Adaptive Coverage", NeurIPS 2020
    (APS).
    Angelopoulos, Bates, Malik & Jordan, "Uncertainty Sets for Image Classifiers using
    Conformal Prediction", ICLR 2021 (RAPS).
    Angelopoulos & Bates, "A Gentle Introduction to Conformal Prediction and Distribution-Free
    Uncertainty Quantification", 2021 (coverage bounds).
    Vovk, "Conditional validity of inductive conformal predictors", ACML 2012, and Vovk,
    Lindsay, Nouretdinov & Gammerman, "Mondrian confidence machine", 2003 (class-conditional
    sets); Löfström, Boström, Linusson & Johansson, "Bias reduction through conditional
    conformal prediction", Intelligent Data Analysis 19(6), 2015.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from uqviz.metrics.classification import wilson_ci
from uqviz.metrics.guarantee import calibration_split
from uqviz.validation import check_labels, check_probs

if TYPE_CHECKING:
    from uqviz.predictions import Predictions

__all__ = [
    "AVERAGE_ALPHAS",
    "CURVE_ALPHAS",
    "EXAMPLE_KINDS",
    "SCORE_NAMES",
    "SLIDER_ALPHAS",
    "AverageCoverage",
    "ClassCoverage",
    "ConformalCurve",
    "ConformalLevels",
    "ConformalResult",
    "ConformalSplit",
    "SetExamples",
    "class_coverage",
    "class_scores",
    "conformal_quantile",
    "conformal_summary",
    "conformity_scores",
    "covered_test_rows",
    "number_of_draws",
    "prediction_sets",
    "quantile_rank",
    "set_examples",
    "split_calibration",
    "split_sizes",
    "tie_breaking_uniforms",
]

SCORE_NAMES = ("lac", "aps", "raps")
# ceil((n + 1)(1 - alpha)) is taken after subtracting this, so that 90.00000000000001 -> 90.
_CEIL_TOLERANCE = 1e-9


# -- validation --------------------------------------------------------------------------------
def _check_score(score: str) -> str:
    if score not in SCORE_NAMES:
        raise ValueError(f"score must be one of {', '.join(SCORE_NAMES)}, got {score!r}")
    return score


def _check_alpha(alpha: float) -> float:
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return float(alpha)


def _check_alphas(alphas: np.ndarray) -> np.ndarray:
    """``alphas`` as a flat float64 array of miscoverage levels, each in (0, 1), not empty."""
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0:
        raise ValueError("alphas is empty")
    for a in alphas:
        _check_alpha(a)
    return alphas


def _check_raps(lam: float, k_reg: int) -> tuple[float, int]:
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    if isinstance(k_reg, bool) or int(k_reg) != k_reg or k_reg < 0:
        raise ValueError(f"k_reg must be an integer >= 0, got {k_reg}")
    return float(lam), int(k_reg)


def _check_cal_fraction(n: int, cal_fraction: float) -> float:
    """``cal_fraction`` in (0, 1) that leaves at least one calibration and one test row of
    ``n``."""
    if not 0.0 < float(cal_fraction) < 1.0:
        raise ValueError(f"cal_fraction must be in (0, 1), got {cal_fraction}")
    n_cal, n_test = split_sizes(n, cal_fraction)
    if n_cal < 1 or n_test < 1:
        raise ValueError(
            f"cal_fraction={cal_fraction} of n={n} rows leaves {n_cal} calibration and "
            f"{n_test} test rows; both need at least one"
        )
    return float(cal_fraction)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed}")
    return int(seed)


# -- scores, quantile, sets --------------------------------------------------------------------
def tie_breaking_uniforms(n: int, seed: int) -> np.ndarray:
    """(n,) Uniform[0, 1) draws for randomized APS/RAPS, one per row, from ``seed``.

    Drawn from ``np.random.default_rng([seed, 1])``, a stream independent of the calibration
    split drawn from ``np.random.default_rng(seed)``.
    """
    return np.random.default_rng([int(seed), 1]).uniform(size=int(n))


def class_scores(
    probs: np.ndarray,
    *,
    score: str = "lac",
    u: np.ndarray | None = None,
    lam: float = 0.01,
    k_reg: int = 5,
) -> np.ndarray:
    """Nonconformity score of every candidate class (see the module docstring).

    Args:
        probs: (N, C) class probabilities.
        score: ``lac``, ``aps`` or ``raps``.
        u: (N,) tie-breaking uniforms in [0, 1] for ``aps``/``raps``; None means ``u = 0``
            (non-randomized). Ignored by ``lac``.
        lam: RAPS penalty per class beyond rank ``k_reg``.
        k_reg: RAPS number of classes without penalty.

    Returns:
        (N, C) float64 scores; the set at threshold ``q`` is ``scores <= q``.

    References:
        Sadinle et al. 2019 (LAC); Romano et al. 2020 (APS); Angelopoulos et al. 2021 (RAPS).
    """
    probs = check_probs(probs)
    score = _check_score(score)
    if score == "lac":
        return 1.0 - probs
    n = probs.shape[0]
    if u is not None:
        u = np.asarray(u, dtype=np.float64)
        if u.shape != (n,):
            raise ValueError(f"u must have shape ({n},), got {u.shape}")
        if ((u < 0) | (u > 1)).any():
            raise ValueError(f"u must lie in [0, 1], found {u[(u < 0) | (u > 1)][0]}")
    if score == "raps":
        lam, k_reg = _check_raps(lam, k_reg)
    return _class_scores(probs, score, u, lam, k_reg)


def _class_scores(probs: np.ndarray, score: str, u: np.ndarray | None, lam: float,
                  k_reg: int) -> np.ndarray:
    """``class_scores`` on arguments already checked."""
    if score == "lac":
        return 1.0 - probs
    n, num_classes = probs.shape
    if u is None:
        u = np.zeros(n)
    order = np.argsort(-probs, axis=1, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=1)
    sorted_scores = np.cumsum(sorted_probs, axis=1) - u[:, None] * sorted_probs
    if score == "raps":
        rank = np.arange(1, num_classes + 1)
        sorted_scores += lam * np.maximum(0, rank - k_reg)[None, :]
    scores = np.empty_like(sorted_scores)
    np.put_along_axis(scores, order, sorted_scores, axis=1)
    return scores


def conformity_scores(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    score: str = "lac",
    u: np.ndarray | None = None,
    lam: float = 0.01,
    k_reg: int = 5,
) -> np.ndarray:
    """(N,) nonconformity score of the true label: ``class_scores(...)[i, labels[i]]``.

    References:
        Sadinle et al. 2019 (LAC); Romano et al. 2020 (APS); Angelopoulos et al. 2021 (RAPS).
    """
    all_scores = class_scores(probs, score=score, u=u, lam=lam, k_reg=k_reg)
    labels = check_labels(labels, *all_scores.shape)
    return all_scores[np.arange(labels.size), labels]


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """Split-conformal threshold: the ``k``-th smallest score, ``k = ceil((n + 1)(1 - alpha))``.

    This is the ``k/n`` empirical quantile taken without interpolation and never below the
    ``k``-th order statistic (``np.quantile(scores, k / n, method="inverted_cdf")``, MAPIE's
    ``method="lower"``). ``+inf`` when ``k > n`` (too few calibration rows for this alpha).

    Args:
        scores: (n,) calibration scores.
        alpha: miscoverage level in (0, 1).

    Returns:
        The threshold ``qhat``.

    References:
        Angelopoulos & Bates 2021, section 1 (the ``ceil((n+1)(1-alpha))/n`` quantile).
    """
    alpha = _check_alpha(alpha)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n = scores.size
    if n == 0:
        raise ValueError("scores is empty: need at least one calibration score")
    if not np.isfinite(scores).all():
        raise ValueError("scores contains NaN or inf")
    k = math.ceil((n + 1) * (1.0 - alpha) - _CEIL_TOLERANCE)
    if k > n:
        return math.inf
    return float(np.partition(scores, k - 1)[k - 1])


def prediction_sets(
    probs: np.ndarray,
    qhat: float,
    *,
    score: str = "lac",
    u: np.ndarray | None = None,
    lam: float = 0.01,
    k_reg: int = 5,
) -> np.ndarray:
    """(N, C) bool prediction sets ``{y : s(x, y) <= qhat}``; all classes when qhat is inf.

    References:
        Sadinle et al. 2019 (LAC); Romano et al. 2020 (APS); Angelopoulos et al. 2021 (RAPS).
    """
    return class_scores(probs, score=score, u=u, lam=lam, k_reg=k_reg) <= qhat


def split_calibration(n: int, cal_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The calibration/test split of ``n`` rows: ``uqviz.metrics.guarantee.calibration_split``
    (the one seeded split every calibration in uqviz uses: ``round(cal_fraction · n)`` rows
    drawn by ``np.random.default_rng(seed).permutation(n)``), where a conformal split also
    needs a test row.

    Returns:
        ``(cal_idx, test_idx)``: sorted int64 index arrays that partition ``0..n-1``.
    """
    return calibration_split(n, _check_cal_fraction(n, cal_fraction), seed)


# -- results -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ConformalResult:
    """Split-conformal sets on the test part of one calibration/test split.

    Attributes:
        score: ``lac``, ``aps`` or ``raps``.
        alpha: target miscoverage; the target coverage is ``1 - alpha``.
        qhat: threshold on the score (``inf`` when calibration is too small for alpha).
        sets: (n_test, C) bool prediction sets, rows in ``test_indices`` order.
        set_sizes: (n_test,) int64 number of classes in each set.
        coverage: fraction of test rows whose label is in the set.
        coverage_ci: 95% Wilson interval of the coverage.
        mean_set_size: mean of ``set_sizes``.
        per_class_coverage: (C,) coverage among test rows of each true class (NaN when none).
        n_cal: calibration rows.
        n_test: test rows.
        test_indices: (n_test,) rows of the input used as test rows.
        cal_indices: (n_cal,) rows of the input used for calibration.
        randomized: whether APS/RAPS used random tie-breaking ``u``.
        class_conditional: one threshold per class (Mondrian sets, module docstring).
        class_qhat: (C,) the per-class thresholds when ``class_conditional`` (``qhat`` is then
            their largest), else None.
        class_n_cal: (C,) calibration rows of each class.
        per_class_set_size: (C,) mean set size among the test rows of each true class (NaN
            when none).
    """

    score: str
    alpha: float
    qhat: float
    sets: np.ndarray
    set_sizes: np.ndarray
    coverage: float
    coverage_ci: tuple[float, float]
    mean_set_size: float
    per_class_coverage: np.ndarray
    n_cal: int
    n_test: int
    test_indices: np.ndarray
    cal_indices: np.ndarray
    randomized: bool
    class_conditional: bool = False
    class_qhat: np.ndarray | None = None
    class_n_cal: np.ndarray | None = None
    per_class_set_size: np.ndarray | None = None

    def summary(self) -> dict:
        """JSON-ready: ``qhat`` (None when infinite), ``coverage``, ``mean_set_size``,
        ``n_cal``, ``n_test``."""
        return {
            "qhat": float(self.qhat) if math.isfinite(self.qhat) else None,
            "coverage": float(self.coverage),
            "mean_set_size": float(self.mean_set_size),
            "n_cal": int(self.n_cal),
            "n_test": int(self.n_test),
        }

    def class_summary(self, names: tuple[str, ...] | list[str] | None = None) -> dict:
        """JSON-ready per class, keyed by class name (``names``; ``"0" … "C-1"`` when None):
        ``class_conditional``, ``coverage_per_class`` and ``set_size_per_class`` (None for a
        class without test rows), ``n_cal_per_class``, and ``qhat_per_class`` (None when
        infinite) for class-conditional sets."""
        num_classes = self.sets.shape[1]
        names = [str(x) for x in (names or range(num_classes))]
        if len(names) != num_classes:
            raise ValueError(f"{len(names)} class names for {num_classes} classes")

        def by_name(values) -> dict:
            return {name: float(v) if np.isfinite(v) else None
                    for name, v in zip(names, values, strict=True)}

        doc = {"class_conditional": bool(self.class_conditional),
               "coverage_per_class": by_name(self.per_class_coverage),
               "set_size_per_class": by_name(self.per_class_set_size),
               "n_cal_per_class": {name: int(v) for name, v in
                                   zip(names, self.class_n_cal, strict=True)}}
        if self.class_qhat is not None:
            doc["qhat_per_class"] = by_name(self.class_qhat)
        return doc


@dataclass(frozen=True, eq=False)
class ConformalCurve:
    """Coverage and mean set size as functions of alpha, on one fixed split (and fixed ``u``):
    ``ConformalSplit.curve``.

    Attributes:
        score: ``lac``, ``aps`` or ``raps``.
        alpha: (K,) miscoverage levels, as given.
        coverage: (K,) empirical test coverage.
        coverage_low: (K,) lower end of the 95% Wilson interval.
        coverage_high: (K,) upper end of the 95% Wilson interval.
        mean_set_size: (K,) mean number of classes per set.
        qhat: (K,) thresholds.
        n_cal: calibration rows.
        n_test: test rows.
    """

    score: str
    alpha: np.ndarray
    coverage: np.ndarray
    coverage_low: np.ndarray
    coverage_high: np.ndarray
    mean_set_size: np.ndarray
    qhat: np.ndarray
    n_cal: int
    n_test: int


@dataclass(frozen=True, eq=False)
class ConformalLevels:
    """One split's conformal sets at each of K levels α, as counts: what
    ``ConformalSplit.sets`` and ``class_coverage`` give at each level, without the (n_test, C)
    sets (``ConformalSplit.levels``).

    Attributes:
        score: ``lac``, ``aps`` or ``raps``.
        alpha: (K,) miscoverage levels, as given.
        qhat: (K,) thresholds (``conformal_quantile``; ``inf`` when calibration is too small).
        rank: (K,) ``quantile_rank(n_cal, alpha)``: q̂ is the rank-th smallest calibration
            score.
        hits: (K,) test rows whose set contains the true class.
        coverage: (K,) ``hits / n_test``.
        coverage_low, coverage_high: (K,) 95% Wilson interval of the coverage.
        mean_set_size: (K,) mean classes per set.
        size_counts: (K, C + 1) test rows whose set holds 0, 1, …, C classes.
        class_hits: (K, C) test rows of each true class whose set contains it.
        class_counts: (C,) test rows of each true class.
        n_cal: calibration rows.
        n_test: test rows.
    """

    score: str
    alpha: np.ndarray
    qhat: np.ndarray
    rank: np.ndarray
    hits: np.ndarray
    coverage: np.ndarray
    coverage_low: np.ndarray
    coverage_high: np.ndarray
    mean_set_size: np.ndarray
    size_counts: np.ndarray
    class_hits: np.ndarray
    class_counts: np.ndarray
    n_cal: int
    n_test: int

    def class_coverage(self, i: int) -> ClassCoverage:
        """``class_coverage`` of the split at level ``alpha[i]``."""
        counts = self.class_counts
        with np.errstate(invalid="ignore", divide="ignore"):
            coverage = np.where(counts > 0, self.class_hits[i] / np.maximum(counts, 1), np.nan)
        low, high = wilson_ci(self.class_hits[i], counts)
        return ClassCoverage(coverage, np.asarray(low), np.asarray(high), counts,
                             1.0 - float(self.alpha[i]))

    def slider_table(self) -> dict[str, np.ndarray]:
        """Every number the α slider shows at each level, row k for ``alpha[k]``: ``coverage``
        (K,), ``delta`` (K,) its distance to the target in points ``100·(coverage − (1 − α))``,
        ``size_share`` (K, C + 1) the share of test rows whose set holds 0 … C classes, and
        ``class_coverage``, ``class_low``, ``class_high`` (K, C) ``class_coverage(k)``'s
        coverage and 95% Wilson interval per class (NaN for a class without test rows)."""
        per_level = [self.class_coverage(k) for k in range(self.alpha.size)]
        return {
            "coverage": self.coverage,
            "delta": 100 * (self.coverage - (1 - self.alpha)),
            "size_share": self.size_counts / self.n_test,
            "class_coverage": np.stack([c.coverage for c in per_level]),
            "class_low": np.stack([c.low for c in per_level]),
            "class_high": np.stack([c.high for c in per_level]),
        }



@dataclass(frozen=True, eq=False)
class AverageCoverage:
    """Test coverage against alpha averaged over the splits of seeds ``0 … n_draws - 1``
    (``ConformalSplit.draws``).

    One split's coverage scatters around ``1 - alpha``; the guarantee
    ``1 - alpha <= E[coverage]`` is about the mean over splits (and tie-breaking draws), which
    this estimates.

    Attributes:
        alpha: (K,) miscoverage levels, as given.
        coverage: (K,) mean test coverage over the splits.
        n_draws: splits averaged.

    References:
        Angelopoulos & Bates 2021, section 1 (coverage holds on average over calibration sets).
    """

    alpha: np.ndarray
    coverage: np.ndarray
    n_draws: int

    def at(self, alpha: float) -> float:
        """The mean coverage at the level of ``self.alpha`` nearest to ``alpha``."""
        return float(self.coverage[np.argmin(np.abs(self.alpha - float(alpha)))])



# -- one split, every level --------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ConformalSplit:
    """One calibration/test split of labelled rows and its nonconformity scores, answering
    split conformal sets at any level (the procedure, scores and guarantee: module docstring).

    The rows are split by ``split_calibration(N, cal_fraction, seed)``; randomized APS/RAPS
    use ``tie_breaking_uniforms(N, seed)`` (one ``u`` per row); ``lac`` is never randomized.
    The arguments are checked once, on construction; the split, the uniforms and the scores
    are computed once, on first use (cached properties), and every answer reads them:

    * ``sets(alpha)``: the sets at one level, with coverage and per-class counts
      (``class_conditional=True``: one threshold per class, Mondrian sets);
    * ``levels(alphas)``: what ``sets`` and ``class_coverage`` give at each level, as counts;
    * ``curve(alphas)``: coverage and mean set size against α;
    * ``draws(alphas, n_draws)``: the coverage averaged over the splits of seeds
      ``0 … n_draws - 1`` (this split's settings, other seeds).

    The sets at every level come from one split and one ``u`` per row, so they are nested: a
    smaller α never removes a class.

    Non-randomized APS/RAPS calibrate on the cumulative mass including the true class
    (``u = 0``) and build test sets that keep every class whose higher-ranked mass is still
    below q̂ — the class that crosses q̂ is included (Romano et al. 2020; MAPIE's
    ``include_last_label``), so sets are never empty and coverage is at least 1 − α.

    Attributes:
        probs: (N, C) class probabilities (average stochastic samples first), kept as float64.
        labels: (N,) true classes 0..C-1, kept as int64.
        score: ``lac``, ``aps`` or ``raps``.
        cal_fraction: fraction of rows used for calibration, in (0, 1); both parts need a row.
        seed: seed of the split and of the tie-breaking uniforms, an integer >= 0.
        randomized: random tie-breaking for ``aps``/``raps`` (exact coverage); False
            calibrates on the cumulative mass including the class and keeps, in each test
            set, the class that crosses q̂ (never empty; coverage >= 1 − α).
        lam: RAPS penalty per class beyond rank ``k_reg``, >= 0.
        k_reg: RAPS number of classes without penalty, an integer >= 0.

    References:
        Vovk, Gammerman & Shafer 2005 (split conformal); Sadinle et al. 2019 (LAC); Romano et
        al. 2020 (APS); Angelopoulos et al. 2021 (RAPS); Angelopoulos & Bates 2021 (coverage
        of split conformal prediction); Vovk et al. 2003 and Löfström et al. 2015
        (class-conditional sets).
    """

    probs: np.ndarray
    labels: np.ndarray
    score: str = "lac"
    cal_fraction: float = 0.5
    seed: int = 0
    randomized: bool = True
    lam: float = 0.01
    k_reg: int = 5

    def __post_init__(self) -> None:
        probs = check_probs(self.probs)
        lam, k_reg = _check_raps(self.lam, self.k_reg)
        checked = {"probs": probs, "labels": check_labels(self.labels, *probs.shape),
                   "score": _check_score(self.score),
                   "cal_fraction": _check_cal_fraction(probs.shape[0], self.cal_fraction),
                   "seed": _check_seed(self.seed), "randomized": bool(self.randomized),
                   "lam": lam, "k_reg": k_reg}
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    # -- computed once ---------------------------------------------------------------------
    @cached_property
    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """``(cal_indices, test_indices)``: ``split_calibration(N, cal_fraction, seed)``."""
        return calibration_split(self.probs.shape[0], self.cal_fraction, self.seed)

    @property
    def cal_indices(self) -> np.ndarray:
        """(n_cal,) sorted rows used for calibration."""
        return self.split[0]

    @property
    def test_indices(self) -> np.ndarray:
        """(n_test,) sorted rows the sets are built for."""
        return self.split[1]

    @cached_property
    def uniforms(self) -> np.ndarray | None:
        """(N,) tie-breaking ``u`` of randomized APS/RAPS, ``tie_breaking_uniforms(N, seed)``;
        None for LAC and for non-randomized scores (``u = 0``)."""
        if self.score == "lac" or not self.randomized:
            return None
        return tie_breaking_uniforms(self.probs.shape[0], self.seed)

    @property
    def _keeps_crossing_class(self) -> bool:
        """Non-randomized APS/RAPS: test sets keep the class whose mass crosses q̂."""
        return self.score != "lac" and not self.randomized

    @cached_property
    def set_scores(self) -> np.ndarray:
        """(N, C) the scores the sets compare with q̂: row i's set at q̂ is
        ``set_scores[i] <= q̂``. ``class_scores`` with the rows' ``uniforms``; for
        non-randomized APS/RAPS the mass above the class (``u = 1``) shifted up by one ulp, so
        that ``set_scores <= q̂`` means ``mass above < q̂``."""
        if self._keeps_crossing_class:
            above = _class_scores(self.probs, self.score, np.ones(self.probs.shape[0]),
                                  self.lam, self.k_reg)
            return np.nextafter(above, np.inf)  # <= qhat  <=>  mass above < qhat
        return _class_scores(self.probs, self.score, self.uniforms, self.lam, self.k_reg)

    @cached_property
    def calibration_scores(self) -> np.ndarray:
        """(n_cal,) nonconformity score of each calibration row's true class,
        ``s(x_i, y_i)`` (non-randomized APS/RAPS: the mass down to and including it)."""
        cal = self.cal_indices
        if self._keeps_crossing_class:
            scores = _class_scores(self.probs[cal], self.score, None, self.lam, self.k_reg)
            return scores[np.arange(cal.size), self.labels[cal]]
        return self.set_scores[cal, self.labels[cal]]

    def _thresholds(self, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``alphas`` checked, and (K,) q̂ at each (``conformal_quantile``)."""
        alphas = _check_alphas(alphas)
        return alphas, np.array([conformal_quantile(self.calibration_scores, a)
                                 for a in alphas])

    def _test_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The test rows' (n_test, C) set scores, (n_test,) labels and (n_test,) scores of
        their true class."""
        test_idx = self.test_indices
        test_scores, test_labels = self.set_scores[test_idx], self.labels[test_idx]
        return test_scores, test_labels, test_scores[np.arange(test_idx.size), test_labels]

    # -- answers ---------------------------------------------------------------------------
    def sets(self, alpha: float, *, class_conditional: bool = False) -> ConformalResult:
        """Split conformal prediction sets at level ``1 - alpha`` for the test rows:
        ``{y : s(x, y) <= q̂}`` with q̂ = ``conformal_quantile(calibration_scores, alpha)``.

        Args:
            alpha: miscoverage level in (0, 1).
            class_conditional: one threshold per class, q̂_y from that class's calibration
                rows (``+inf`` for a class without any): coverage >= 1 − α within every class
                (Mondrian sets, module docstring).

        Returns:
            A ``ConformalResult`` for the test rows.

        References:
            Romano et al. 2020 (APS); Angelopoulos et al. 2021 (RAPS); Angelopoulos & Bates
            2021; Vovk et al. 2003 and Löfström et al. 2015 (class-conditional sets).
        """
        alpha = _check_alpha(alpha)
        cal_idx, test_idx = self.split
        cal_scores = self.calibration_scores
        test_scores, test_labels, _ = self._test_rows()
        num_classes = test_scores.shape[1]
        cal_labels = self.labels[cal_idx]
        class_n_cal = np.bincount(cal_labels, minlength=num_classes)
        class_qhat = None
        if class_conditional:
            class_qhat = np.array([conformal_quantile(cal_scores[cal_labels == c], alpha)
                                   if class_n_cal[c] else math.inf for c in range(num_classes)])
            qhat = float(class_qhat.max())
            sets = test_scores <= class_qhat[None, :]
        else:
            qhat = conformal_quantile(cal_scores, alpha)
            sets = test_scores <= qhat
        covered = sets[np.arange(test_idx.size), test_labels]
        per_class_n = np.bincount(test_labels, minlength=num_classes)
        per_class_hits = np.bincount(test_labels, weights=covered, minlength=num_classes)
        set_sizes = sets.sum(axis=1).astype(np.int64)
        per_class_size_sum = np.bincount(test_labels, weights=set_sizes, minlength=num_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.where(per_class_n > 0,
                                 per_class_hits / np.maximum(per_class_n, 1), np.nan)
            per_class_size = np.where(per_class_n > 0,
                                      per_class_size_sum / np.maximum(per_class_n, 1), np.nan)
        hits = int(covered.sum())
        return ConformalResult(
            score=self.score,
            alpha=alpha,
            qhat=qhat,
            sets=sets,
            set_sizes=set_sizes,
            coverage=hits / test_idx.size,
            coverage_ci=wilson_ci(hits, int(test_idx.size)),
            mean_set_size=float(set_sizes.mean()),
            per_class_coverage=per_class,
            n_cal=int(cal_idx.size),
            n_test=int(test_idx.size),
            test_indices=test_idx,
            cal_indices=cal_idx,
            randomized=self.uniforms is not None,
            class_conditional=bool(class_conditional),
            class_qhat=class_qhat,
            class_n_cal=class_n_cal,
            per_class_set_size=per_class_size,
        )

    def curve(self, alphas: np.ndarray) -> ConformalCurve:
        """Coverage, its 95% Wilson interval and mean set size at each level of ``alphas``,
        equal to ``sets(alpha)``'s at each. The sizes and hits at every q̂ come from one sort
        of the test scores and a binary search per level, not K passes over (n_test, C).

        Args:
            alphas: (K,) miscoverage levels in (0, 1).

        References:
            Angelopoulos & Bates 2021 (coverage of split conformal prediction).
        """
        alphas, qhats = self._thresholds(alphas)
        test_scores, _, true_scores = self._test_rows()
        n_test = true_scores.size
        # Sets are {y : s <= qhat}: the scores <= qhat among all test scores, and the true ones.
        sizes_total = np.searchsorted(np.sort(test_scores.ravel()), qhats, side="right")
        hits = np.searchsorted(np.sort(true_scores), qhats, side="right")
        coverage_low, coverage_high = wilson_ci(hits, np.full(hits.shape, n_test))
        return ConformalCurve(
            score=self.score,
            alpha=alphas,
            coverage=hits / n_test,
            coverage_low=coverage_low,
            coverage_high=coverage_high,
            mean_set_size=sizes_total / n_test,
            qhat=qhats,
            n_cal=int(self.cal_indices.size),
            n_test=int(n_test),
        )

    def levels(self, alphas: np.ndarray) -> ConformalLevels:
        """``sets`` at every level of ``alphas``, as counts, without the (n_test, C) sets.

        A row's set at q̂ holds ``size = #{y : s(x, y) <= q̂}`` classes, so ``size >= j``
        exactly when the j-th smallest of its C scores is ``<= q̂``: with each row's scores
        sorted and then each of those C columns sorted over the rows, the number of sets of
        at least j classes at every q̂ is one binary search (and likewise the hits of each
        class in its sorted true-class scores). The numbers equal ``sets``'s and
        ``class_coverage``'s at each level.

        Args:
            alphas: (K,) miscoverage levels in (0, 1).

        References:
            Angelopoulos & Bates 2021 (split conformal prediction).
        """
        alphas, qhats = self._thresholds(alphas)
        test_scores, test_labels, true_scores = self._test_rows()
        n_cal, (n_test, num_classes) = int(self.cal_indices.size), test_scores.shape
        # at_least[k, j - 1]: sets holding at least j classes at qhats[k]
        columns = np.sort(np.sort(test_scores, axis=1), axis=0)
        at_least = np.stack([np.searchsorted(columns[:, j], qhats, side="right")
                             for j in range(num_classes)], axis=1)
        bounds = np.concatenate([np.full((alphas.size, 1), n_test), at_least,
                                 np.zeros((alphas.size, 1), dtype=at_least.dtype)], axis=1)
        size_counts = -np.diff(bounds, axis=1)
        order = np.lexsort((true_scores, test_labels))  # by class, then by score
        class_counts = np.bincount(test_labels, minlength=num_classes)
        starts = np.concatenate([[0], np.cumsum(class_counts)])
        sorted_true = true_scores[order]
        class_hits = np.stack([np.searchsorted(sorted_true[starts[c]:starts[c + 1]], qhats,
                                               side="right") for c in range(num_classes)],
                              axis=1)
        hits = class_hits.sum(axis=1)
        low, high = wilson_ci(hits, np.full(hits.shape, n_test))
        return ConformalLevels(
            score=self.score,
            alpha=alphas,
            qhat=qhats,
            rank=np.array([quantile_rank(n_cal, a) for a in alphas], dtype=np.int64),
            hits=hits,
            coverage=hits / n_test,
            coverage_low=np.asarray(low),
            coverage_high=np.asarray(high),
            mean_set_size=at_least.sum(axis=1) / n_test,
            size_counts=size_counts,
            class_hits=class_hits,
            class_counts=class_counts,
            n_cal=n_cal,
            n_test=n_test,
        )

    def draws(self, alphas: np.ndarray, n_draws: int) -> AverageCoverage:
        """Mean of ``replace(self, seed=s).curve(alphas).coverage`` over
        ``s = 0 … n_draws - 1``: the coverage averaged over splits (and tie-breaking draws)
        with these settings, whatever ``self.seed`` is.

        Args:
            alphas: (K,) miscoverage levels in (0, 1).
            n_draws: splits to average (``number_of_draws`` suggests one), >= 1.

        References:
            Angelopoulos & Bates 2021 (coverage of split conformal prediction).
        """
        if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 1:
            raise ValueError(f"n_draws must be an integer >= 1, got {n_draws}")
        alphas = _check_alphas(alphas)
        mean = np.mean([(self if s == self.seed else replace(self, seed=s)).curve(alphas)
                        .coverage for s in range(int(n_draws))], axis=0)
        return AverageCoverage(alphas, mean, int(n_draws))


def conformal_summary(p: Predictions, *, alpha: float = 0.1, **kwargs) -> dict:
    """Split conformal on the labelled in-distribution rows of ``p``, samples averaged.

    Args:
        p: predictions of one method.
        alpha: miscoverage level.
        **kwargs: the settings of ``ConformalSplit`` (score, cal_fraction, seed, randomized,
            lam, k_reg).

    Returns:
        JSON-ready dict with ``qhat`` (float, or None when infinite), ``coverage`` and
        ``mean_set_size`` (floats), ``n_cal`` and ``n_test`` (ints).
    """
    rows = p.labelled_in_distribution()
    return ConformalSplit(rows.mean_probs, rows.labels, **kwargs).sets(alpha).summary()

# -- what the conformal page shows besides one split -------------------------------------------
MAX_DRAWS, MIN_DRAWS, DRAW_BUDGET = 100, 10, 2e7  # splits averaged; rows × classes × splits
EXAMPLE_KINDS = ("random", "largest", "missed")
CURVE_ALPHAS = np.linspace(0.01, 0.5, 25)  # the points of a coverage-against-α curve
# every α of the page's 0.01-step slider, 0.01 … 0.50 (k / 100, the doubles Python reads)
SLIDER_ALPHAS = np.round(np.arange(0.01, 0.505, 0.01), 2)
# the levels averaged over splits: the curve's and the slider's
AVERAGE_ALPHAS = np.unique(np.concatenate([CURVE_ALPHAS, SLIDER_ALPHAS]))


def split_sizes(n: int, cal_fraction: float) -> tuple[int, int]:
    """``(n_cal, n_test)`` of ``split_calibration(n, cal_fraction, seed)``: ``round(cal_fraction
    · n)`` and the rest; a split needs both >= 1."""
    n_cal = int(round(float(cal_fraction) * n))
    return n_cal, n - n_cal


def quantile_rank(n_cal: int, alpha: float) -> int:
    """``k = ceil((n_cal + 1)(1 - alpha))``: q̂ is the ``k``-th smallest calibration score
    (``conformal_quantile``; q̂ is infinite when ``k > n_cal``)."""
    return math.ceil((n_cal + 1) * (1.0 - _check_alpha(alpha)) - _CEIL_TOLERANCE)


def number_of_draws(n_rows: int, n_classes: int) -> int:
    """Calibration splits to average: ``DRAW_BUDGET / (rows × classes)``, clipped to
    ``MIN_DRAWS``–``MAX_DRAWS`` (100 splits for small sets, at least 10 for large files)."""
    return int(np.clip(DRAW_BUDGET // (n_rows * n_classes), MIN_DRAWS, MAX_DRAWS))


def covered_test_rows(result: ConformalResult, labels: np.ndarray) -> np.ndarray:
    """(n_test,) bool: the set of each test row contains its true class (``labels``: the
    (N,) labels ``result`` was computed on)."""
    return result.sets[np.arange(result.n_test), np.asarray(labels)[result.test_indices]]


@dataclass(frozen=True, eq=False)
class ClassCoverage:
    """Coverage among the test rows of each true class, with 95% Wilson intervals.

    Attributes:
        coverage: (C,) share of each class's test rows whose set contains it (NaN when none).
        low, high: (C,) ends of the 95% Wilson interval (NaN when the class has no test row).
        counts: (C,) test rows of each class.
        target: ``1 - alpha``.
    """

    coverage: np.ndarray
    low: np.ndarray
    high: np.ndarray
    counts: np.ndarray
    target: float


def class_coverage(result: ConformalResult, labels: np.ndarray) -> ClassCoverage:
    """Per-class coverage of ``result`` (the (N,) ``labels`` it was computed on) with Wilson
    intervals (``uqviz.metrics.classification.wilson_ci``). Conformal coverage is promised
    for all classes together, so a class may fall below ``1 - alpha``.

    References:
        Wilson, JASA 1927; Angelopoulos & Bates 2021, section 4.1 (class-conditional
        coverage).
    """
    test_labels = np.asarray(labels)[result.test_indices]
    num_classes = result.sets.shape[1]
    counts = np.bincount(test_labels, minlength=num_classes)
    hits = np.bincount(test_labels, weights=covered_test_rows(result, labels),
                       minlength=num_classes).round().astype(np.int64)
    low, high = wilson_ci(hits, counts)
    return ClassCoverage(result.per_class_coverage, np.asarray(low), np.asarray(high), counts,
                         1.0 - result.alpha)


@dataclass(frozen=True, eq=False)
class SetExamples:
    """A few test rows with their prediction sets.

    Attributes:
        rows: (k,) rows of the input (e.g. ``Study.rows``), to look up their images.
        members: each row's set, as class indices in increasing order.
        labels: (k,) true classes.
        covered: (k,) bool: the set contains the true class.
    """

    rows: np.ndarray
    members: list[tuple[int, ...]]
    labels: np.ndarray
    covered: np.ndarray

    def captions(self, names) -> list[str]:
        """``{3, 5} · true 5 ✓`` per row: the set, the true class, ✓ when the set holds it
        (``{}`` is an empty set); ``names``: the class names."""
        return [f"{{{', '.join(names[c] for c in members)}}} · true {names[true]} "
                f"{'✓' if ok else '✗'}"
                for members, true, ok in zip(self.members, self.labels, self.covered,
                                             strict=True)]


def set_examples(result: ConformalResult, labels: np.ndarray, kind: str, *, k: int = 8,
                 seed: int = 0) -> SetExamples:
    """Up to ``k`` test rows of ``result``: ``random`` (a permutation seeded by ``seed``),
    ``largest`` (largest sets first, ties in test-row order) or ``missed`` (sets without the
    true class, in test-row order; none when every set covers)."""
    if kind not in EXAMPLE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EXAMPLE_KINDS)}, got {kind!r}")
    covered = covered_test_rows(result, labels)
    if kind == "random":
        pick = np.random.default_rng(seed).permutation(result.n_test)[:k]
    elif kind == "largest":
        pick = np.argsort(-result.set_sizes, kind="stable")[:k]
    else:
        pick = np.flatnonzero(~covered)[:k]
    return SetExamples(rows=result.test_indices[pick],
                       members=[tuple(int(c) for c in np.flatnonzero(result.sets[i]))
                                for i in pick],
                       labels=np.asarray(labels)[result.test_indices[pick]],
                       covered=covered[pick])
