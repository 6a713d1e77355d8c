"""A referral threshold with a guarantee: selection with guaranteed risk.

Goal: choose a threshold on an uncertainty score such that, with probability at least
``1 − δ`` over the calibration data, the accuracy on the cases the model decides itself (the
*automated* cases, score below the threshold) is at least ``A`` on future data from the same
distribution. Out-of-distribution rows count as errors when automated (pass them with
``correct = False``).

Method (Geifman & El-Yaniv 2017, "Selection with guaranteed risk", with a fixed search grid):

* Sort the n calibration scores, ``s_(1) ≤ … ≤ s_(n)``. A fixed grid of G coverage levels
  ``c_j = j / G`` gives ranks ``k_j = ⌊c_j · n⌋ + 1`` (``k_G = n + 1``: automate everything).
* Candidate j automates the calibration rows scored strictly below ``v_j = s_(k_j)``
  (``v_G = +∞``): ``m_j`` rows, ``e_j`` of them errors. Given ``v_j``, those rows are i.i.d.
  draws from the cases below ``v_j``, so ``e_j ~ Binomial(m_j, r(v_j))`` with ``r(v)`` the
  true error rate of the automated cases at threshold v.
* The one-sided Clopper–Pearson bound ``U_j = Beta⁻¹(1 − δ/G; e_j + 1, m_j − e_j)`` exceeds
  ``r(v_j)`` with probability at least ``1 − δ/G``; by the union bound all G bounds hold at once
  with probability at least ``1 − δ``.
* Certified: the candidates with ``U_j ≤ 1 − A``; the chosen one automates the most. Its
  threshold (refer scores ``≥ v_j``) has accuracy at least ``1 − U_j ≥ A`` with probability at
  least ``1 − δ``. When no candidate reaches A, the best that can be certified, ``max_j 1 − U_j``,
  is reported with its threshold.

The guarantee is marginal over calibration draws (simulated in
``tests/metrics/test_metrics_guarantee.py``). The union bound over G levels costs width: G = 20
(coverage in steps of 5%) by default. Measured (A = 0.95, 1 − δ = 0.9, error rate
0.01 + 0.3·s² for scores s ~ U(0, 1)): the coverage chosen is 46% of the oracle's at n = 1,000
(G = 5: 51%, G = 50: 37%) and 80% at n = 5,000; no violation in 150 draws.

References:
    Geifman & El-Yaniv, "Selective Classification for Deep Neural Networks", NeurIPS 2017
    (SGR: a binomial tail bound with a union bound over the search); Clopper & Pearson,
    Biometrika 26 (1934).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

from uqviz.validation import check_scores_correct

DEFAULT_LEVELS = 20
METHOD_NAME = "SGR (Geifman & El-Yaniv 2017): Clopper–Pearson bounds, union bound over the grid"


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
    return float(beta.ppf(1.0 - delta, errors + 1, n - errors))


@dataclass(frozen=True)
class CertifiedThreshold:
    """The threshold chosen on calibration data and what it guarantees.

    Attributes:
        target_accuracy: A, asked for.
        confidence: 1 − δ.
        certified: whether A is guaranteed at this confidence.
        threshold: refer a case when its score is > threshold (``inf``: refer none,
            ``-inf``: refer all).
        accuracy_bound: the guaranteed accuracy on automated cases at ``threshold``
            (``≥ target_accuracy`` when certified; else the best certifiable, possibly 0).
        coverage: share of the calibration cases automated at ``threshold``.
        n_calibration: calibration cases.
        n_automated: calibration cases automated.
        errors: errors among them.
        levels: G, the grid of coverage levels searched (the union bound's size).
    """

    target_accuracy: float
    confidence: float
    certified: bool
    threshold: float
    accuracy_bound: float
    coverage: float
    n_calibration: int
    n_automated: int
    errors: int
    levels: int

    @property
    def referred_fraction(self) -> float:
        return 1.0 - self.coverage


def certify_threshold(uncertainty: np.ndarray, correct: np.ndarray, *, target_accuracy: float,
                      confidence: float = 0.95,
                      levels: int = DEFAULT_LEVELS) -> CertifiedThreshold:
    """The largest-coverage threshold whose automated accuracy is at least ``target_accuracy``
    with probability at least ``confidence`` (module docstring).

    Args:
        uncertainty: (n,) calibration scores, higher = more uncertain.
        correct: (n,) bool, the model was right (False for out-of-distribution rows).
        target_accuracy: A in (0, 1].
        confidence: 1 − δ in (0, 1).
        levels: G ≥ 1 coverage levels searched.
    """
    if not 0 < target_accuracy <= 1:
        raise ValueError(f"target_accuracy must be in (0, 1], got {target_accuracy}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    u, ok = check_scores_correct(uncertainty, correct)
    n = u.size
    order = np.argsort(u, kind="stable")
    sorted_u = u[order]
    cum_correct = np.concatenate([[0], np.cumsum(ok[order], dtype=np.int64)])
    delta = (1.0 - confidence) / levels
    candidates = []
    for j in range(1, levels + 1):
        rank = math.floor(j / levels * n) + 1  # 1-based; n + 1 = automate everything
        if rank > n:
            value, m = math.inf, n
        else:
            value = float(sorted_u[rank - 1])
            m = int(np.searchsorted(sorted_u, value, side="left"))  # strictly below
        errors = m - int(cum_correct[m])
        bound = 1.0 - binomial_upper_bound(errors, m, delta)
        candidates.append((m, value, errors, bound))
    reaching = [c for c in candidates if c[3] >= target_accuracy - 1e-12]
    certified = bool(reaching)
    m, value, errors, bound = (max(reaching, key=lambda c: (c[0], c[3])) if certified
                               else max(candidates, key=lambda c: (c[3], c[0])))
    if m == 0:
        threshold = -math.inf
    elif math.isinf(value):
        threshold = math.inf
    else:
        threshold = float(np.nextafter(value, -math.inf))  # refer scores >= value
    return CertifiedThreshold(
        target_accuracy=float(target_accuracy), confidence=float(confidence),
        certified=certified, threshold=threshold, accuracy_bound=float(max(bound, 0.0)),
        coverage=m / n, n_calibration=n, n_automated=m, errors=errors, levels=levels)


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
