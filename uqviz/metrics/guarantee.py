"""A referral threshold with a guarantee: Learn then Test, or selection with guaranteed risk.

Goal: choose a threshold on an uncertainty score such that, with probability at least
``1 − δ`` over the calibration data, the accuracy on the cases the model decides itself (the
*automated* cases, score below the threshold) is at least ``A`` on future data from the same
distribution. Out-of-distribution rows count as errors when automated (pass them with
``correct = False``). Write ``r(λ)`` for the true error rate of the cases scored below λ and
``α = 1 − A``; the guarantee is ``P(r(λ̂) ≤ α) ≥ 1 − δ``.

**Learn then Test** (``method="ltt_fallback"``, the default, and ``"ltt_fixed_sequence"``;
Angelopoulos, Bates, Candès, Jordan & Lei 2021):

* *Grid.* ``G`` calibration rows drawn at random (seeded; 5% of n, at least 20, at most 200,
  at most n/4) are set aside: their scores, sorted, are the candidate thresholds
  ``λ_1 < … < λ_L`` (ties merged), and ``λ_{L+1} = +∞`` (automate everything). Their errors are
  never looked at. The other ``n − G`` rows are the *test rows*.
* *Test.* Candidate j automates the test rows scored strictly below ``λ_j``: ``m_j`` rows,
  ``e_j`` of them errors. ``H_j: r(λ_j) > α`` is tested with the exact binomial p-value
  ``p_j = P(Binomial(m_j, α) ≤ e_j)`` (1 when ``m_j = 0``).
* *Order and start.* From the most confident outward. A hypothesis with few rows cannot be
  rejected (``A^m > δ``), so the sequence starts at the first candidate whose expected number
  of test rows, read from the grid rows alone (``(n − G) · #{grid scores < λ_j} / G``), reaches
  ``m_start``: the smallest m at which a score with half the allowed error rate is rejected,
  ``P(Binomial(m, α) ≤ ⌊α·m/2⌋) ≤ δ_start``, but at most a quarter of the test rows and at
  least the smallest m with ``A^m ≤ δ_start``. It depends on n, A and δ only.
* *Fixed sequence* (``ltt_fixed_sequence``): reject ``H_j`` while ``p_j ≤ δ``, stop at the first
  non-rejection (``δ_start = δ``).
* *Fallback* (``ltt_fallback``; Wiens 2003): half of δ is put on the start, a tenth on each of
  five anchors spaced evenly (in expected test rows) from the start to +∞; ``H_j`` is tested at
  its own weight plus the level of ``H_{j−1}`` when that was rejected, so an unbroken chain
  carries the whole δ and a break (hard cases that look easy, a band of hard cases) does not
  end the search (``δ_start = δ/2``).
* *Choice.* The largest rejected candidate; refer scores ``≥ λ_ĵ``. None rejected: refer all.

*Why it holds* (no continuity needed: ties are fine). Given the grid rows, the candidates,
the start and the weights are fixed (they use the grid rows' scores, n, A and δ, never an
error), and the test rows are still i.i.d. and independent of them; for a fixed λ, the test
rows below it are i.i.d. draws of the cases below λ, so given ``m_j``,
``e_j ~ Binomial(m_j, r(λ_j))`` and under ``H_j`` ``P(p_j ≤ x) ≤ x``. The fallback procedure
(fixed sequence is its special case with all weight on the first hypothesis) makes a false
rejection with probability at most the sum of its weights, δ, for any dependence between the
p-values (a false rejection needs the first rejected true ``H_j`` to fall below a level made
of its own weight and those of the false hypotheses since the previous true one; these
budgets partition the weights). So, given the grid rows and hence marginally, the chosen
threshold has ``r(λ̂) ≤ α`` with probability at least 1 − δ. Why not order statistics of all
rows as candidates, as SGR does: SGR's union bound needs each bound valid given its own
``v_j`` only, which holds; fixed sequence needs more. Which hypothesis is the first true one
depends on the inner order statistics, which are correlated with the errors below the outer
ones; and conditioning on all the grid's order statistics fixes how many rows fall between
consecutive ones, so ``e_j`` is then no longer ``Binomial(m_j, r(v_j))``. Holding out G rows
(5% of n) makes the argument exact, at the price of testing on n − G rows.

**SGR** (``method="sgr"``; Geifman & El-Yaniv 2017, with a fixed grid): coverage levels
``c_j = j / G`` (G = 20) give ranks ``k_j = ⌊c_j · n⌋ + 1``; candidate j automates the rows
strictly below ``v_j = s_(k_j)``; the one-sided Clopper–Pearson bound
``U_j = Beta⁻¹(1 − δ/G; e_j + 1, m_j − e_j)`` holds for every j at once with probability
≥ 1 − δ by the union bound; the largest-coverage candidate with ``U_j ≤ α`` is chosen.

**When A cannot be certified**, ``accuracy_bound`` is the highest accuracy that can:
LTT: the largest ``A'`` on a grid of 0.0001 below A at which the same procedure (its start
recomputed for ``A'``) certifies, found by bisection (``A'`` certifies, ``A' + 0.0001`` does
not), with the threshold it certifies there; because ``A'`` is searched for after seeing the
data, it says what these data support — the 1 − δ guarantee is for a target set in advance.
SGR: ``max_j 1 − U_j``, with its threshold, which holds with probability ≥ 1 − δ because all
G bounds hold at once.

**Per-class targets** (``class_targets``, LTT only): "recall of class k ≥ R" (among the
automated rows whose true class is k, the share predicted k) and "precision of class k ≥ P"
(among the automated rows predicted k, the share that are k; an automated OOD row predicted k
is an error), alone or with the overall accuracy target. Each target t is a binomial risk on
its own rows: at candidate j, ``m_jt`` test rows of its population (true class k, resp.
predicted k) are automated, ``e_jt`` of them errors, and ``p_jt = P(Binomial(m_jt, 1 − level_t)
≤ e_jt)``, valid given ``m_jt`` as above. Candidate j must meet every target, ``H_j = ∪_t H_jt``,
tested with ``p_j = max_t p_jt`` (an intersection–union test: ``P(p_j ≤ x) ≤ P(p_jt ≤ x) ≤ x``
for a true ``H_jt``, no correction for the number of targets). The start is the latest of the
targets' starts, each from its population's expected test rows on the grid rows (their
predicted classes and labels: held out, so still independent of the test rows); the anchors
and the fallback procedure are unchanged, so the joint guarantee holds with probability
≥ 1 − δ. Each target's ``bound`` is the one-sided Clopper–Pearson lower bound (level δ) of its
metric on the test rows automated at the chosen threshold (≥ its level when certified: an
exact binomial test rejects at level ≤ δ exactly when that bound clears the level).

Measured by ``benchmarks/guarantee_power.py`` (1,000 draws per cell, 1 − δ = 0.95, A = 0.95,
error rate 0.01 + 0.3·s² for s ~ U(0, 1); coverage chosen as a share of the oracle's), at
n = 500 / 1,000 / 5,000: SGR 13% / 38% / 80%, LTT fallback 21% / 54% / 89%, fixed sequence
29% / 59% / 77%. Fixed sequence is the strongest on a monotone error rate with little data,
but one early non-rejection ends it: it certifies nothing when the most confident cases are
the hard ones (0% where SGR reaches 68% and the fallback 71% at n = 1,000) or behind a band of
hard cases (1% against 57% and 56%). The fallback is the default: valid in all 28 settings
(7 score/error models × 4 sizes; largest violation rate 0.035 at δ = 0.05, 0.058 at δ = 0.1)
and at least SGR's coverage in 26 of them (the others: 4% against 8%, 56% against 57%).

References:
    Angelopoulos, Bates, Candès, Jordan & Lei, "Learn then Test: Calibrating Predictive
    Algorithms to Achieve Risk Control", arXiv:2110.01052 (2021); Wiens, "A fixed sequence
    Bonferroni procedure for testing multiple endpoints", Pharmaceutical Statistics 2 (2003)
    (the fallback procedure); Geifman & El-Yaniv, "Selective Classification for Deep Neural
    Networks", NeurIPS 2017 (SGR); Clopper & Pearson, Biometrika 26 (1934).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import betaincinv

try:  # the kernel of scipy.stats.binom.cdf, without importing scipy.stats (binomial_cdf)
    from scipy.special._ufuncs import _binom_cdf
except ImportError:  # a scipy that moved it: the distribution itself
    from scipy.stats import binom

    _binom_cdf = binom.cdf

from uqviz.validation import check_scores_correct

METHOD_NAMES = {
    "ltt_fallback": "Learn then Test (Angelopoulos et al. 2021): exact binomial tests at "
                    "thresholds set by held-out grid rows, fallback procedure (Wiens 2003) "
                    "from the most confident outward",
    "ltt_fixed_sequence": "Learn then Test (Angelopoulos et al. 2021): exact binomial tests at "
                          "thresholds set by held-out grid rows, fixed-sequence testing from "
                          "the most confident outward",
    "sgr": "SGR (Geifman & El-Yaniv 2017): Clopper–Pearson bounds, union bound over the grid",
}
DEFAULT_METHOD = "ltt_fallback"
METHOD_NAME = METHOD_NAMES[DEFAULT_METHOD]
SGR_LEVELS = 20
SEARCH_STEPS = 10_000  # A' = k / 10,000 searched when A cannot be certified (LTT)


def binomial_upper_bound(errors: int, n: int, delta: float) -> float:
    """One-sided Clopper–Pearson upper bound on a binomial rate: the largest p with
    ``P(Binomial(n, p) ≤ errors) ≥ δ``; 1 when ``n = 0``.

    References: Clopper & Pearson, "The use of confidence or fiducial limits illustrated in the
    case of the binomial", Biometrika 26 (1934).
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    if n < 0 or not 0 <= errors <= max(n, 0):
        raise ValueError(f"need 0 <= errors <= n, got errors={errors}, n={n}")
    if n == 0 or errors == n:
        return 1.0
    return float(betaincinv(errors + 1, n - errors, 1.0 - delta))  # beta.ppf(1 - δ, e + 1, n - e)


def binomial_p_value(errors, n, risk: float) -> np.ndarray:
    """The exact p-value of ``H: error rate > risk`` after ``errors`` errors in ``n`` cases:
    ``P(Binomial(n, risk) ≤ errors)``, 1 where ``n = 0`` (elementwise)."""
    errors, n = np.asarray(errors), np.asarray(n)
    return np.where(n > 0, binomial_cdf(errors, np.maximum(n, 1), risk), 1.0)


def binomial_cdf(k, n, p) -> np.ndarray:
    """``P(Binomial(n, p) ≤ k)`` (elementwise; k rounded down; 0 below k = 0, 1 from k = n on), as
    ``scipy.stats.binom.cdf`` computes it, with the same Boost kernel, without importing
    scipy.stats (about 1 s of a command line run). ``scipy.special.bdtr`` differs from it by up
    to thousands of ulp (Cephes), enough to move a threshold, so it is not used;
    ``tests/test_cli_imports.py`` checks the equality on a grid. For ``n ≥ 1`` and ``0 ≤ p ≤ 1``.
    """
    k = np.floor(np.asarray(k, dtype=float))
    n, p = np.asarray(n), np.asarray(p, dtype=float)
    inside = _binom_cdf(np.clip(k, 0, np.maximum(n - 1, 0)), n, p)
    return np.where(k >= n, 1.0, np.where(k < 0, 0.0, inside))


@lru_cache(maxsize=4096)
def first_rejectable_size(risk: float, level: float, error_share: float, n_max: int) -> int | None:
    """The smallest m at which ``error_share · risk · m`` errors (rounded down) still reject
    ``H: error rate > risk`` at ``level``, i.e. ``P(Binomial(m, risk) ≤ ⌊error_share·risk·m⌋)
    ≤ level``; with ``error_share = 0``: the smallest m with ``(1 − risk)^m ≤ level``. None when
    no m ≤ n_max does."""
    if level <= 0 or risk <= 0 or n_max < 1:
        return None
    if level >= 1 or risk >= 1:
        return 1
    if error_share == 0:
        m = max(1, math.ceil(math.log(level) / math.log1p(-risk)) - 1)
        while (1 - risk) ** m > level:
            m += 1
        return m if m <= n_max else None
    m = np.arange(1, n_max + 1)
    rejected = binomial_cdf(np.floor(error_share * risk * m), m, risk) <= level
    return int(m[np.argmax(rejected)]) if rejected.any() else None


def fallback_rejections(p_values, weights) -> np.ndarray:
    """The fallback procedure (Wiens 2003) over hypotheses in a fixed order: ``H_j`` is tested at
    ``level_j = weights_j + level_{j−1}`` when ``H_{j−1}`` was rejected, else ``weights_j``;
    rejected when ``p_j ≤ level_j`` (and ``level_j > 0``). The chance of any false rejection is
    at most ``sum(weights)``. All weight on the first hypothesis is fixed-sequence testing."""
    p, w = np.asarray(p_values, dtype=float), np.asarray(weights, dtype=float)
    rejected = np.zeros(p.size, dtype=bool)
    level = 0.0
    for j in range(p.size):
        level = w[j] + (level if j and rejected[j - 1] else 0.0)
        rejected[j] = level > 0 and p[j] <= level
    return rejected


@dataclass(frozen=True)
class LttDesign:
    """How Learn then Test lays out its search (chosen with benchmarks/guarantee_power.py).

    Attributes:
        grid_share: share of the calibration rows held out as grid rows ...
        min_grid_rows: ... at least this many ...
        max_grid_rows: ... at most this many (and at most a quarter of the rows).
        start_weight: share of δ put on the first hypothesis (1: fixed sequence).
        anchors: the rest of δ is split evenly over this many anchors, spaced evenly in
            expected test rows from the start to +∞ (0: no rest).
        start_error_share: the start is where this share of the allowed error rate is still
            rejected (``first_rejectable_size``) ...
        start_cap: ... but at most this share of the test rows.
    """

    grid_share: float = 0.05
    min_grid_rows: int = 20
    max_grid_rows: int = 200
    start_weight: float = 0.5
    anchors: int = 5
    start_error_share: float = 0.5
    start_cap: float = 0.25

    def grid_rows(self, n: int) -> int:
        rows = min(max(round(self.grid_share * n), self.min_grid_rows), self.max_grid_rows)
        return max(0, min(rows, n // 4))


LTT_DESIGNS = {
    "ltt_fallback": LttDesign(),
    "ltt_fixed_sequence": LttDesign(start_weight=1.0, anchors=0),
}
CLASS_METRICS = {
    "recall": "among the automated cases of true class k, the share predicted k",
    "precision": "among the automated cases predicted k, the share of true class k",
}


@dataclass(frozen=True)
class ClassTarget:
    """A per-class target on the automated cases (module docstring, "Per-class targets").

    Attributes:
        class_index: k, 0-based.
        metric: ``recall`` or ``precision`` (``CLASS_METRICS``).
        level: the least value to guarantee, in (0, 1].
    """

    class_index: int
    metric: str
    level: float

    def __post_init__(self) -> None:
        if isinstance(self.class_index, bool) or int(self.class_index) != self.class_index or (
                self.class_index < 0):
            raise ValueError(f"class_index must be an integer >= 0, got {self.class_index!r}")
        if self.metric not in CLASS_METRICS:
            raise ValueError(f"metric must be one of {', '.join(CLASS_METRICS)}, got "
                             f"{self.metric!r}")
        if not 0 < float(self.level) <= 1:
            raise ValueError(f"level must be in (0, 1], got {self.level}")

    def rows_and_errors(self, predicted: np.ndarray,
                        labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(population, error) bool masks: recall: true class k, predicted otherwise;
        precision: predicted k, true class otherwise (unknown labels, -1, included)."""
        is_true, is_predicted = labels == self.class_index, predicted == self.class_index
        if self.metric == "recall":
            return is_true, ~is_predicted
        return is_predicted, ~is_true


@dataclass(frozen=True)
class ClassTargetResult:
    """What the chosen threshold gives one ``ClassTarget`` on the LTT test rows.

    Attributes:
        target: the target.
        certified: its bound reaches its level (all are, when the threshold is certified).
        bound: one-sided Clopper–Pearson lower bound (level δ) of the metric on the automated
            test rows of its population; 0 when there are none.
        value: the metric on those rows (NaN when none).
        n: those rows; errors: the errors among them.
    """

    target: ClassTarget
    certified: bool
    bound: float
    value: float
    n: int
    errors: int

    def to_dict(self, names=None) -> dict:
        k = self.target.class_index
        return {"class": str(names[k]) if names is not None else str(k), "class_index": k,
                "metric": self.target.metric, "level": self.target.level,
                "certified": self.certified, "bound": self.bound,
                "value": None if self.n == 0 else self.value, "n": self.n,
                "errors": self.errors}


@dataclass(frozen=True)
class LttGrid:
    """The candidate thresholds set by the grid rows, and the test rows' counts below each.

    Attributes:
        values: (L + 1,) candidate thresholds ascending, the grid rows' distinct scores then
            +∞; candidate j automates scores strictly below ``values[j]``.
        expected: (L + 1,) test rows expected below each, from the grid rows alone:
            ``n_test · #{grid scores < value} / grid_rows`` (``n_test`` for +∞).
        automated: (L + 1,) test rows below each (``m_j``).
        errors: (L + 1,) errors among them (``e_j``).
        n_test: test rows (calibration rows that are not grid rows).
        grid_rows: G, rows held out to set the candidates.
    """

    values: np.ndarray
    expected: np.ndarray
    automated: np.ndarray
    errors: np.ndarray
    n_test: int
    grid_rows: int


def grid_row_mask(n: int, grid_rows: int, seed: int) -> np.ndarray:
    """(n,) bool: ``grid_rows`` rows drawn at random with ``seed``, whatever the data."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, grid_rows, replace=False)] = True
    return mask


def ltt_grid(u: np.ndarray, ok: np.ndarray, grid_rows: int, seed: int) -> LttGrid:
    """Hold out ``grid_rows`` seeded rows; their scores are the candidates (module docstring)."""
    is_grid = grid_row_mask(u.size, grid_rows, seed)
    grid = np.sort(u[is_grid])
    order = np.argsort(u[~is_grid], kind="stable")
    test_u = u[~is_grid][order]
    cum_errors = np.concatenate([[0], np.cumsum(~ok[~is_grid][order], dtype=np.int64)])
    values = np.append(np.unique(grid), math.inf)
    n_test = int(test_u.size)
    expected = n_test * np.searchsorted(grid, values, side="left") / max(grid_rows, 1)
    expected[-1] = n_test
    automated = np.searchsorted(test_u, values, side="left")
    return LttGrid(values, expected, automated, cum_errors[automated], n_test, grid_rows)


def ltt_weights(expected: np.ndarray, n_test: int, target_accuracy: float, delta: float,
                design: LttDesign) -> np.ndarray:
    """(L + 1,) the share of δ on each candidate (0 before the start): the start and anchors
    from the expected test rows, n, A and δ only — never from the test rows' errors."""
    start = _start_index(expected, n_test, 1.0 - target_accuracy, delta, design)
    if start is None:
        return np.zeros(expected.size)
    return _weights_from(start, expected, n_test, delta, design)


def _start_index(expected: np.ndarray, n_test: int, risk: float, delta: float,
                 design: LttDesign) -> int | None:
    """The first candidate whose expected test rows reach the start size (module docstring),
    None when no size up to ``n_test`` can be rejected."""
    start_level = delta * design.start_weight
    floor = first_rejectable_size(risk, start_level, 0.0, max(n_test, 1))
    if floor is None:
        return None
    cap = design.start_cap * n_test
    wanted = first_rejectable_size(risk, start_level, design.start_error_share,
                                   max(int(cap), 1)) or cap
    start_size = max(floor, min(wanted, cap))
    reach = expected >= start_size - 1e-9
    return int(np.argmax(reach)) if reach.any() else expected.size - 1


def _weights_from(start: int, expected: np.ndarray, n_test: int, delta: float,
                  design: LttDesign) -> np.ndarray:
    """δ's shares: the start's, then the anchors' (spaced in ``expected`` test rows)."""
    weights = np.zeros(expected.size)
    weights[start] += delta * design.start_weight
    if design.anchors and design.start_weight < 1:
        steps = np.arange(1, design.anchors + 1) / design.anchors
        for size in expected[start] + (n_test - expected[start]) * steps:
            anchor = np.flatnonzero(expected >= size - 1e-9)
            weights[anchor[0] if anchor.size else expected.size - 1] += (
                delta * (1 - design.start_weight) / design.anchors)
    return weights


def ltt_choice(grid: LttGrid, target_accuracy: float, delta: float,
               design: LttDesign) -> int | None:
    """Index of the largest candidate rejected (module docstring), or None."""
    weights = ltt_weights(grid.expected, grid.n_test, target_accuracy, delta, design)
    if not weights.any():
        return None
    p = binomial_p_value(grid.errors, grid.automated, 1.0 - target_accuracy)
    rejected = fallback_rejections(p, weights)
    return int(np.flatnonzero(rejected)[-1]) if rejected.any() else None


@dataclass(frozen=True)
class CertifiedThreshold:
    """The threshold chosen on calibration data and what it guarantees.

    Attributes:
        target_accuracy: A, asked for.
        confidence: 1 − δ.
        certified: whether A is guaranteed at this confidence.
        threshold: refer a case when its score is > threshold (``inf``: refer none,
            ``-inf``: refer all).
        accuracy_bound: the guaranteed accuracy on automated cases at ``threshold``: LTT: A
            when certified; SGR: ``1 − U_j ≥ A``. When not certified, the highest accuracy
            that can be (module docstring), possibly 0.
        coverage: share of the calibration cases automated at ``threshold``.
        n_calibration: calibration cases.
        n_automated: calibration cases automated.
        errors: errors among them.
        levels: the grid's size: LTT: the grid rows held out, whose scores are the candidate
            thresholds; SGR: G, the coverage levels searched (the union bound's size).
        method: ``ltt_fallback``, ``ltt_fixed_sequence`` or ``sgr`` (``METHOD_NAMES``).
        class_targets: what the threshold gives each per-class target (``ClassTargetResult``),
            in the order asked; empty without per-class targets.
    """

    target_accuracy: float | None
    confidence: float
    certified: bool
    threshold: float
    accuracy_bound: float
    coverage: float
    n_calibration: int
    n_automated: int
    errors: int
    levels: int
    method: str = DEFAULT_METHOD
    class_targets: tuple[ClassTargetResult, ...] = ()

    @property
    def referred_fraction(self) -> float:
        return 1.0 - self.coverage


def _refer_at_or_above(value: float, m: int) -> float:
    """The ``threshold`` (refer scores > it) that automates the scores strictly below value."""
    if m == 0:
        return -math.inf
    return math.inf if math.isinf(value) else float(np.nextafter(value, -math.inf))


def _ltt(u, ok, target, delta, design, levels, seed):
    grid = ltt_grid(u, ok, design.grid_rows(u.size) if levels is None
                    else max(0, min(levels, u.size - 1)), seed)
    chosen, bound = ltt_choice(grid, target, delta, design), target
    if chosen is None:  # the highest A' on the search grid that certifies (bisection)
        bound = 0.0
        lo, hi = 1, math.ceil(target * SEARCH_STEPS - 1e-9)
        if hi > lo and ltt_choice(grid, lo / SEARCH_STEPS, delta, design) is not None:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if ltt_choice(grid, mid / SEARCH_STEPS, delta,
                                                 design) is not None else (lo, mid)
            bound = lo / SEARCH_STEPS
            chosen = ltt_choice(grid, bound, delta, design)
    value = math.inf if chosen is None else float(grid.values[chosen])
    m = 0 if chosen is None else (u.size if math.isinf(value) else int((u < value).sum()))
    return value, m, bound, grid.grid_rows


def _ltt_targets(u, ok, predicted, labels, target, class_targets, delta, design, levels, seed):
    """Learn then Test with several targets at once (module docstring, "Per-class targets"):
    ``(value, m, results)``, results one ``ClassTargetResult`` per class target."""
    grid_rows = design.grid_rows(u.size) if levels is None else max(0, min(levels, u.size - 1))
    is_grid = grid_row_mask(u.size, grid_rows, seed)
    test = ~is_grid
    values = np.append(np.unique(u[is_grid]), math.inf)
    n_test, per_grid_row = int(test.sum()), int(test.sum()) / max(grid_rows, 1)
    all_rows = np.ones(u.size, dtype=bool)
    targets = ([(all_rows, ~ok, 1.0 - target)] if target is not None else []) + [
        (*t.rows_and_errors(predicted, labels), 1.0 - t.level) for t in class_targets]
    p_values, starts, counts = np.zeros(values.size), [], []
    for population, error, risk in targets:
        grid_u = np.sort(u[is_grid & population])
        expected = per_grid_row * np.searchsorted(grid_u, values, side="left")
        order = np.argsort(u[test & population], kind="stable")
        test_u = u[test & population][order]
        cum_errors = np.concatenate([[0], np.cumsum(error[test & population][order],
                                                    dtype=np.int64)])
        automated = np.searchsorted(test_u, values, side="left")
        errors = cum_errors[automated]
        starts.append(_start_index(expected, int(round(expected[-1])), risk, delta, design))
        p_values = np.maximum(p_values, binomial_p_value(errors, automated, risk))
        counts.append((automated, errors))
    chosen = None
    if all(start is not None for start in starts):
        expected_all = per_grid_row * np.searchsorted(np.sort(u[is_grid]), values, side="left")
        expected_all[-1] = n_test
        weights = _weights_from(max(starts), expected_all, n_test, delta, design)
        rejected = fallback_rejections(p_values, weights)
        chosen = int(np.flatnonzero(rejected)[-1]) if rejected.any() else None
    value = math.inf if chosen is None else float(values[chosen])
    m = 0 if chosen is None else (u.size if math.isinf(value) else int((u < value).sum()))
    results = []
    for t, (automated, errors) in zip(class_targets, counts[len(targets) - len(class_targets):],
                                      strict=True):
        n_t, e_t = (0, 0) if chosen is None else (int(automated[chosen]), int(errors[chosen]))
        bound = 1.0 - binomial_upper_bound(e_t, n_t, delta)
        results.append(ClassTargetResult(t, chosen is not None and bound >= t.level - 1e-9,
                                         float(bound), 1.0 - e_t / n_t if n_t else math.nan,
                                         n_t, e_t))
    return value, m, chosen is not None, tuple(results), grid_rows


def _sgr(u, ok, target, delta, levels):
    n = u.size
    order = np.argsort(u, kind="stable")
    sorted_u = u[order]
    cum_correct = np.concatenate([[0], np.cumsum(ok[order], dtype=np.int64)])
    candidates = []
    for j in range(1, levels + 1):
        rank = math.floor(j / levels * n) + 1  # 1-based; n + 1 = automate everything
        if rank > n:
            value, m = math.inf, n
        else:
            value = float(sorted_u[rank - 1])
            m = int(np.searchsorted(sorted_u, value, side="left"))  # strictly below
        errors = m - int(cum_correct[m])
        bound = 1.0 - binomial_upper_bound(errors, m, delta / levels)
        candidates.append((m, value, bound))
    reaching = [c for c in candidates if c[2] >= target - 1e-12]
    m, value, bound = (max(reaching, key=lambda c: (c[0], c[2])) if reaching
                       else max(candidates, key=lambda c: (c[2], c[0])))
    return value, m, max(bound, 0.0), bool(reaching)


def certify_threshold(uncertainty: np.ndarray, correct: np.ndarray, *,
                      target_accuracy: float | None,
                      confidence: float = 0.95, method: str = DEFAULT_METHOD,
                      levels: int | None = None, seed: int = 0,
                      design: LttDesign | None = None,
                      class_targets: tuple[ClassTarget, ...] | list[ClassTarget] = (),
                      predicted: np.ndarray | None = None,
                      labels: np.ndarray | None = None) -> CertifiedThreshold:
    """The largest-coverage threshold whose automated accuracy is at least ``target_accuracy``
    with probability at least ``confidence`` (module docstring); with ``class_targets``, one
    that meets every per-class target and the accuracy target (when given) at once.

    Args:
        uncertainty: (n,) calibration scores, higher = more uncertain.
        correct: (n,) bool, the model was right (False for out-of-distribution rows).
        target_accuracy: A in (0, 1]; None for per-class targets alone.
        confidence: 1 − δ in (0, 1).
        method: ``ltt_fallback`` (default), ``ltt_fixed_sequence`` or ``sgr``.
        levels: the grid's size: LTT: grid rows held out (default ``LttDesign.grid_rows``);
            SGR: coverage levels G ≥ 1 (default 20).
        seed: which rows are the grid rows (LTT).
        design: the LTT layout (default ``LTT_DESIGNS[method]``; benchmarks vary it).
        class_targets: per-class recall or precision targets (``ClassTarget``; LTT only).
        predicted: (n,) predicted classes; labels: (n,) true classes, -1 when unknown
            (needed with ``class_targets``).

    With class targets, ``accuracy_bound`` is A when certified and 0 otherwise (no search for
    the highest A'); each target's bound is in ``class_targets``.
    """
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHOD_NAMES)}")
    class_targets = tuple(class_targets)
    if target_accuracy is None and not class_targets:
        raise ValueError("give target_accuracy, class_targets or both")
    if target_accuracy is not None and not 0 < target_accuracy <= 1:
        raise ValueError(f"target_accuracy must be in (0, 1], got {target_accuracy}")
    if class_targets and method == "sgr":
        raise ValueError("per-class targets are certified with Learn then Test "
                         "(ltt_fallback or ltt_fixed_sequence), not sgr")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if levels is not None and levels < (1 if method == "sgr" else 0):
        raise ValueError(f"levels must be >= {1 if method == 'sgr' else 0}, got {levels}")
    u, ok = check_scores_correct(uncertainty, correct)
    delta = 1.0 - confidence
    results: tuple[ClassTargetResult, ...] = ()
    if class_targets:
        predicted, labels = _check_classes(predicted, labels, u.size)
        value, m, certified, results, levels = _ltt_targets(
            u, ok, predicted, labels, target_accuracy, class_targets, delta,
            design or LTT_DESIGNS[method], levels, seed)
        bound = (target_accuracy or 0.0) if certified else 0.0
    elif method == "sgr":
        levels = SGR_LEVELS if levels is None else levels
        value, m, bound, certified = _sgr(u, ok, target_accuracy, delta, levels)
    else:
        value, m, bound, levels = _ltt(u, ok, target_accuracy, delta,
                                       design or LTT_DESIGNS[method], levels, seed)
        certified = bound >= target_accuracy
    automated = u < value
    return CertifiedThreshold(
        target_accuracy=None if target_accuracy is None else float(target_accuracy),
        confidence=float(confidence),
        certified=certified, threshold=_refer_at_or_above(value, m),
        accuracy_bound=float(bound), coverage=m / u.size, n_calibration=int(u.size),
        n_automated=m, errors=int((~ok[automated]).sum()) if m else 0, levels=int(levels),
        method=method, class_targets=results)


def _check_classes(predicted, labels, n: int) -> tuple[np.ndarray, np.ndarray]:
    if predicted is None or labels is None:
        raise ValueError("class_targets need predicted and labels, (n,) each")
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    for name, values in (("predicted", predicted), ("labels", labels)):
        if values.shape != (n,) or values.dtype.kind not in "iu":
            raise ValueError(f"{name} must be integer ({n},), got {values.dtype} "
                             f"{values.shape}")
    return predicted, labels


def calibration_split(n: int, calibration_share: float, seed: int) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Seeded random split of n rows into (calibration, held-out) index arrays, sorted; with
    ``calibration_share = 1`` every row calibrates and the held-out part is empty."""
    if not 0 < calibration_share <= 1:
        raise ValueError(f"calibration_share must be in (0, 1], got {calibration_share}")
    order = np.random.default_rng(seed).permutation(n)
    n_cal = n if calibration_share == 1 else int(round(calibration_share * n))
    if not 1 <= n_cal <= n:
        raise ValueError(f"{n} rows are too few for a calibration share of "
                         f"{calibration_share}")
    return np.sort(order[:n_cal]), np.sort(order[n_cal:])
