"""The guaranteed referral threshold: hand-worked bounds, a reference, and the guarantee
checked by simulation on distributions whose true error rates are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from uqviz.metrics.guarantee import binomial_upper_bound, calibration_split, certify_threshold


def test_upper_bound_by_hand_and_against_scipy():
    # no error in 10: P(Bin(10, p) = 0) = (1 - p)^10 = δ  →  p = 1 - δ^(1/10)
    assert binomial_upper_bound(0, 10, 0.05) == pytest.approx(1 - 0.05 ** 0.1, rel=1e-9)
    for errors, n, delta in [(3, 50, 0.05), (17, 400, 0.01), (1, 7, 0.2)]:
        two_sided = binomtest(errors, n).proportion_ci(confidence_level=1 - 2 * delta,
                                                       method="exact")
        assert binomial_upper_bound(errors, n, delta) == pytest.approx(two_sided.high, rel=1e-7)
    assert binomial_upper_bound(0, 0, 0.05) == 1.0 and binomial_upper_bound(5, 5, 0.05) == 1.0
    with pytest.raises(ValueError, match="delta must be in"):
        binomial_upper_bound(1, 10, 0.0)


def test_a_perfect_ranking_is_certified_at_the_cut_by_hand():
    # 100 rows: the 80 least uncertain are right, the 20 most uncertain wrong
    u = np.arange(100, dtype=float)
    correct = u < 80
    result = certify_threshold(u, correct, target_accuracy=0.9, confidence=0.95, levels=10)
    # levels automate 10, 20, …, 80 rows error-free (then 90 with 10 errors); at δ/G = 0.005
    # 80 rows without error bound the error rate by 1 − 0.005^(1/80) = 0.0641 < 0.1
    assert result.certified and result.n_automated == 80 and result.errors == 0
    assert result.accuracy_bound == pytest.approx(0.005 ** (1 / 80), rel=1e-9)
    assert result.threshold < 80 and result.threshold >= 79  # refer u >= 80
    assert result.coverage == pytest.approx(0.8)


def test_an_unreachable_target_says_so_and_gives_the_best_certifiable():
    rng = np.random.default_rng(0)
    u = rng.random(200)
    correct = rng.random(200) > 0.3  # 70% right whatever the score
    result = certify_threshold(u, correct, target_accuracy=0.99, confidence=0.95)
    assert not result.certified
    assert 0 < result.accuracy_bound < 0.99
    higher = certify_threshold(u, correct, target_accuracy=result.accuracy_bound)
    assert higher.certified and higher.accuracy_bound == pytest.approx(result.accuracy_bound)


def test_everything_automated_when_every_case_is_right():
    # 500 right at δ/G = 0.0025: accuracy ≥ 0.0025^(1/500) = 0.988
    result = certify_threshold(np.ones(500), np.ones(500, dtype=bool), target_accuracy=0.98)
    assert result.accuracy_bound == pytest.approx(0.0025 ** (1 / 500))
    assert result.certified and result.threshold == math.inf and result.coverage == 1.0


def _simulate(p_error, true_risk, *, n, target, confidence, draws, seed):
    """Violation rate of the guarantee and the mean coverage chosen, scores ~ U(0, 1) and
    P(error | s) = p_error(s); ``true_risk(v)`` is the exact error rate of the cases s < v."""
    rng = np.random.default_rng(seed)
    violations, coverages = 0, []
    for _ in range(draws):
        s = rng.random(n)
        correct = rng.random(n) >= p_error(s)
        r = certify_threshold(s, correct, target_accuracy=target, confidence=confidence)
        if not r.certified:
            coverages.append(0.0)
            continue
        v = 1.0 if math.isinf(r.threshold) else float(np.nextafter(r.threshold, math.inf))
        violations += true_risk(v) > 1 - target
        coverages.append(min(v, 1.0))
    return violations / draws, float(np.mean(coverages))


def _monotone(s):  # P(err | s) = 0.01 + 0.3 s²: r(v) = 0.01 + 0.1 v², A = 0.95 at v = √0.4
    return 0.01 + 0.3 * s ** 2


def _monotone_risk(v):
    return 0.01 + 0.1 * v ** 2


def _hard_cases_look_easy(s):  # the least uncertain 10% are wrong 20% of the time, others 1%
    return np.where(s < 0.1, 0.2, 0.01)


def _hard_risk(v):  # r(v) = (0.019 + 0.01 v) / v above 0.1: A = 0.95 at v = 0.475
    return 0.2 if v <= 0.1 else (0.019 + 0.01 * v) / v


@pytest.mark.parametrize("p_error,true_risk", [(_monotone, _monotone_risk),
                                               (_hard_cases_look_easy, _hard_risk)])
def test_the_guarantee_holds_by_simulation(p_error, true_risk):
    """1 − δ = 0.9, A = 0.95, n = 1,000 calibration cases, 400 draws: the violation rate is at
    most δ plus three binomial standard errors of the simulation."""
    delta, draws = 0.1, 400
    rate, coverage = _simulate(p_error, true_risk, n=1000, target=0.95, confidence=1 - delta,
                               draws=draws, seed=1)
    assert rate <= delta + 3 * math.sqrt(delta * (1 - delta) / draws), rate
    assert coverage > 0  # something was certified: the check was not vacuous


def test_the_threshold_is_not_needlessly_conservative():
    """With 5,000 calibration cases the coverage certified is at least 70% of the oracle's
    (measured 80%; the bound's width and the union over 20 levels cost the rest)."""
    _, coverage = _simulate(_monotone, _monotone_risk, n=5000, target=0.95, confidence=0.9,
                            draws=60, seed=2)
    assert coverage >= 0.7 * math.sqrt(0.4), coverage


def test_calibration_split_is_seeded_disjoint_and_complete():
    cal, held = calibration_split(10, 0.5, seed=3)
    assert len(cal) == len(held) == 5 and not set(cal) & set(held)
    np.testing.assert_array_equal(np.sort(np.r_[cal, held]), np.arange(10))
    again, _ = calibration_split(10, 0.5, seed=3)
    np.testing.assert_array_equal(cal, again)
    everything, none = calibration_split(7, 1.0, seed=0)
    assert len(everything) == 7 and len(none) == 0
    with pytest.raises(ValueError, match="calibration_share"):
        calibration_split(10, 0.0, seed=0)
