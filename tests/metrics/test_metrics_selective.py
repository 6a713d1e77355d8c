"""Risk–coverage, AURC / E-AURC, referral curves: hand-worked cases and brute force."""

import numpy as np
import pytest

from uqviz.metrics import (
    area_under_risk_coverage,
    coverage_at_risk,
    downsample_curve,
    excess_aurc,
    oracle_aurc,
    referral_curve,
    risk_at_coverage,
    risk_coverage_curve,
)


def test_aurc_hand_worked():
    uncertainty = np.array([0.3, 0.1, 0.4, 0.2])
    correct = np.array([True, True, False, False])
    # sorted by uncertainty: .1 ok, .2 err, .3 ok, .4 err -> risks 0, 1/2, 1/3, 2/4
    expected = (0 + 1 / 2 + 1 / 3 + 2 / 4) / 4
    assert area_under_risk_coverage(uncertainty, correct) == pytest.approx(expected)
    # oracle with 2 errors in 4: risks 0, 0, 1/3, 2/4
    oracle = (1 / 3 + 2 / 4) / 4
    assert oracle_aurc(4, 2) == pytest.approx(oracle)
    assert excess_aurc(uncertainty, correct) == pytest.approx(expected - oracle)
    curve = risk_coverage_curve(uncertainty, correct)
    np.testing.assert_allclose(curve.coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.risk, [0, 1 / 2, 1 / 3, 1 / 2])
    np.testing.assert_allclose(curve.threshold, [0.1, 0.2, 0.3, 0.4])
    assert curve.aurc == pytest.approx(expected) and curve.eaurc == pytest.approx(expected - oracle)


def test_aurc_brute_force_and_oracle_formula():
    rng = np.random.default_rng(0)
    n = 300
    uncertainty = rng.random(n)
    correct = rng.random(n) < 1 - uncertainty  # informative score
    order = np.argsort(uncertainty, kind="stable")
    risks = [np.mean(~correct[order[:k]]) for k in range(1, n + 1)]
    assert area_under_risk_coverage(uncertainty, correct) == pytest.approx(np.mean(risks))
    oracle_order = np.argsort(~correct, kind="stable")
    oracle = np.mean([np.mean(~correct[oracle_order[:k]]) for k in range(1, n + 1)])
    assert oracle_aurc(n, int((~correct).sum())) == pytest.approx(oracle)
    # the oracle ranking has E-AURC 0; a random ranking is worse than the informative one
    assert excess_aurc((~correct).astype(float), correct) == pytest.approx(0.0, abs=1e-12)
    assert excess_aurc(rng.random(n), correct) > excess_aurc(uncertainty, correct)
    assert oracle_aurc(5, 0) == 0.0 and oracle_aurc(5, 5) == pytest.approx(1.0)


def test_ties_keep_the_input_order():
    uncertainty = np.array([0.5, 0.5, 0.5])
    correct = np.array([False, True, True])
    np.testing.assert_allclose(risk_coverage_curve(uncertainty, correct).risk, [1, 1 / 2, 1 / 3])


def test_risk_at_coverage_and_coverage_at_risk():
    uncertainty = np.arange(10) / 10
    correct = np.array([1, 1, 1, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
    # risks k=1..10: 0 0 0 1/4 1/5 1/6 2/7 3/8 3/9 4/10
    assert risk_at_coverage(uncertainty, correct, 0.3) == 0.0
    assert risk_at_coverage(uncertainty, correct, 0.35) == pytest.approx(1 / 4)
    assert risk_at_coverage(uncertainty, correct, 1.0) == pytest.approx(0.4)
    assert coverage_at_risk(uncertainty, correct, 0.0) == pytest.approx(0.3)
    assert coverage_at_risk(uncertainty, correct, 0.2) == pytest.approx(0.6)  # 1/6 <= .2
    assert coverage_at_risk(uncertainty, correct, 0.3) == pytest.approx(0.7)  # 2/7
    assert coverage_at_risk(uncertainty, correct, 0.34) == pytest.approx(0.9)  # 3/9 (not monotone)
    assert coverage_at_risk(np.array([0.1]), np.array([False]), 0.5) == 0.0
    with pytest.raises(ValueError, match="coverage"):
        risk_at_coverage(uncertainty, correct, 0.0)
    with pytest.raises(ValueError, match="risk"):
        coverage_at_risk(uncertainty, correct, 1.5)


def test_downsample_curve():
    x = np.arange(10_001) / 10_000
    y = x**2
    xs, ys = downsample_curve(x, y, max_points=100)
    assert xs.size <= 100 and xs[0] == 0.0 and xs[-1] == 1.0
    np.testing.assert_allclose(ys, xs**2)
    assert np.all(np.diff(xs) > 0)
    short_x, short_y = downsample_curve(x[:5], y[:5])
    np.testing.assert_array_equal(short_x, x[:5])
    with pytest.raises(ValueError, match="max_points"):
        downsample_curve(x, y, max_points=1)
    with pytest.raises(ValueError, match="equal length"):
        downsample_curve(x, y[:-1])


def test_referral_curve_hand_worked():
    uncertainty = np.array([0.1, 0.9, 0.5, 0.2])
    correct = np.array([True, False, True, False])
    curve = referral_curve(uncertainty, correct)
    # refer 0: 2/4; refer the .9 (wrong): 2/3; then the .5 (right): 1/2; then .2: 1/1
    np.testing.assert_allclose(curve.referred_fraction, [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(curve.accuracy_retained, [0.5, 2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(curve.random_baseline, [0.5] * 4)


def test_referral_curve_downsampled_keeps_ends():
    rng = np.random.default_rng(1)
    uncertainty = rng.random(50_000)
    correct = rng.random(50_000) < 0.8
    curve = referral_curve(uncertainty, correct, max_points=500)
    assert curve.referred_fraction.size <= 500
    assert curve.referred_fraction[0] == 0.0
    assert curve.referred_fraction[-1] == pytest.approx(1 - 1 / 50_000)
    assert curve.accuracy_retained[0] == pytest.approx(correct.mean())


def test_input_validation():
    with pytest.raises(ValueError, match="empty"):
        area_under_risk_coverage(np.array([]), np.array([], dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        area_under_risk_coverage(np.zeros(3), np.zeros(2, dtype=bool))
    with pytest.raises(ValueError, match="NaN"):
        risk_coverage_curve(np.array([0.1, np.nan]), np.array([True, False]))
    with pytest.raises(ValueError, match="0/1"):
        risk_coverage_curve(np.array([0.1, 0.2]), np.array([2, 0]))
