"""ReferralIndex queries and one-vs-rest rates against brute-force computations."""

import math

import numpy as np
import pytest
from sklearn.metrics import recall_score

from uqviz.metrics import ReferralIndex, one_vs_rest_rates, wilson_ci


def _data(seed, n=400):
    rng = np.random.default_rng(seed)
    uncertainty = np.round(rng.random(n), 2)  # many ties
    correct = rng.random(n) < 1.0 - 0.8 * uncertainty
    return uncertainty, correct


def _thresholds(uncertainty):
    """Every distinct policy: below the minimum (refer all) and at each distinct value."""
    values = np.unique(uncertainty)
    return np.concatenate([[values[0] - 1.0], values])


def _brute(uncertainty, correct, t):
    auto = uncertainty <= t
    return auto, int((~auto).sum()), (correct[auto].mean() if auto.any() else math.nan)


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_threshold_matches_masks(seed):
    uncertainty, correct = _data(seed)
    index = ReferralIndex.from_scores(uncertainty, correct)
    for t in np.concatenate([_thresholds(uncertainty), [0.333, 2.0]]):
        point = index.at_threshold(t, cost_error=5.0, cost_review=1.0)
        auto, n_ref, acc = _brute(uncertainty, correct, t)
        assert point.n_referred == n_ref and point.n == 400 and point.n_automated == auto.sum()
        assert point.referred_fraction == pytest.approx(n_ref / 400)
        assert _same(point.automated_accuracy, acc)
        assert _same(point.automated_error_rate, 1 - acc)
        ref_acc = correct[~auto].mean() if n_ref else math.nan
        assert _same(point.referred_accuracy, ref_acc)
        lo, hi = wilson_ci(int(correct[auto].sum()), int(auto.sum()))
        ci = point.automated_accuracy_ci
        assert _same(ci[0], lo) and _same(ci[1], hi)
        lo, hi = wilson_ci(int(correct[~auto].sum()), n_ref)
        ci = point.referred_accuracy_ci
        assert _same(ci[0], lo) and _same(ci[1], hi)
        cost = ((~correct & auto).sum() * 5.0 + n_ref * 1.0) / 400
        assert point.expected_cost == pytest.approx(cost)
        assert point.reached
    assert math.isnan(index.at_threshold(0.5).expected_cost)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_budget_is_the_largest_referral_within_budget(seed):
    uncertainty, correct = _data(seed)
    index = ReferralIndex.from_scores(uncertainty, correct)
    referable = sorted({int((uncertainty > t).sum()) for t in _thresholds(uncertainty)})
    for fraction in [0.0, 0.001, 0.05, 0.1, 0.25, 0.333, 0.5, 0.9, 0.999, 1.0]:
        budget = math.ceil(round(fraction * 400, 9))
        point = index.at_budget(fraction)
        assert point.n_referred == max(r for r in referable if r <= budget)
        # the reported threshold reproduces the point
        assert index.at_threshold(point.threshold).n_referred == point.n_referred
        assert (uncertainty > point.threshold).sum() == point.n_referred


def test_at_budget_ties_are_not_split():
    uncertainty = np.array([0.1, 0.2, 0.5, 0.5, 0.5, 0.9])
    correct = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    index = ReferralIndex.from_scores(uncertainty, correct)
    assert index.at_budget(1 / 6).n_referred == 1
    assert index.at_budget(2 / 6).n_referred == 1  # the three 0.5s cannot be split
    assert index.at_budget(4 / 6).n_referred == 4
    assert index.at_budget(1.0).n_referred == 6
    assert math.isnan(index.at_budget(1.0).automated_accuracy)
    assert math.isnan(index.at_budget(0.0).referred_accuracy)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_for_target_accuracy_brute_force(seed):
    uncertainty, correct = _data(seed)
    index = ReferralIndex.from_scores(uncertainty, correct)
    for target in [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0]:
        feasible = []
        for t in _thresholds(uncertainty):
            auto, n_ref, acc = _brute(uncertainty, correct, t)
            if auto.any() and acc >= target:
                feasible.append(n_ref)
        point = index.for_target_accuracy(target)
        if feasible:
            assert point.reached
            assert point.n_referred == min(feasible)
            assert point.automated_accuracy >= target
        else:
            assert not point.reached and point.n_referred == 400
            assert math.isnan(point.automated_accuracy)


def test_for_target_accuracy_unreachable():
    index = ReferralIndex.from_scores(np.array([0.1, 0.2]), np.array([False, False]))
    point = index.for_target_accuracy(0.5)
    assert not point.reached and point.n_referred == 2
    assert index.for_target_accuracy(0.0).n_referred == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_for_costs_brute_force(seed):
    uncertainty, correct = _data(seed)
    index = ReferralIndex.from_scores(uncertainty, correct)
    for cost_error, cost_review in [(1.0, 1.0), (10.0, 1.0), (1.0, 10.0), (3.0, 0.4), (0.0, 1.0)]:
        costs = []
        for t in _thresholds(uncertainty):
            auto, n_ref, _ = _brute(uncertainty, correct, t)
            costs.append((((~correct) & auto).sum() * cost_error + n_ref * cost_review) / 400)
        point = index.for_costs(cost_error, cost_review)
        assert point.expected_cost == pytest.approx(min(costs))
        again = index.at_threshold(point.threshold, cost_error=cost_error, cost_review=cost_review)
        assert again.expected_cost == pytest.approx(min(costs))
    # free review: no automated error is worth it, and among cost-0 policies the fewest referrals
    free_review = index.for_costs(1.0, 0.0)
    assert free_review.expected_cost == 0.0 and free_review.automated_accuracy == 1.0
    assert free_review.n_referred == min(
        n for t in _thresholds(uncertainty)
        for auto, n, acc in [_brute(uncertainty, correct, t)] if not auto.any() or acc == 1.0
    )
    # free errors: refer nothing
    assert index.for_costs(0.0, 1.0).n_referred == 0
    with pytest.raises(ValueError, match="cost_error"):
        index.for_costs(-1.0, 1.0)
    with pytest.raises(ValueError, match="both"):
        index.at_threshold(0.5, cost_error=1.0)


def test_index_validation():
    with pytest.raises(ValueError, match="empty"):
        ReferralIndex.from_scores(np.array([]), np.array([], dtype=bool))
    index = ReferralIndex.from_scores(np.array([0.2, 0.1]), np.array([True, False]))
    np.testing.assert_array_equal(index.sorted_uncertainty, [0.1, 0.2])
    np.testing.assert_array_equal(index.cum_correct, [0, 0, 1])
    with pytest.raises(ValueError, match="fraction_referred"):
        index.at_budget(1.5)
    with pytest.raises(ValueError, match="target"):
        index.for_target_accuracy(-0.1)


def test_one_vs_rest_rates_match_sklearn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 1000)
    predicted = np.where(rng.random(1000) < 0.7, labels, rng.integers(0, 4, 1000))
    keep = rng.random(1000) < 0.6
    for positive in range(4):
        rates = one_vs_rest_rates(predicted, labels, positive, keep)
        y_true = labels[keep] == positive
        y_pred = predicted[keep] == positive
        assert rates.sensitivity == pytest.approx(recall_score(y_true, y_pred))
        assert rates.specificity == pytest.approx(recall_score(~y_true, ~y_pred))
        tp = int((y_true & y_pred).sum())
        assert rates.sensitivity_ci == pytest.approx(wilson_ci(tp, int(y_true.sum())))
        assert rates.n_positive + rates.n_negative == keep.sum()
    everything = one_vs_rest_rates(predicted, labels, 0)
    assert everything.n_positive + everything.n_negative == 1000
    none_kept = one_vs_rest_rates(predicted, labels, 0, np.zeros(1000, dtype=bool))
    assert math.isnan(none_kept.sensitivity) and math.isnan(none_kept.specificity_ci[0])
    with pytest.raises(ValueError, match="keep_mask"):
        one_vs_rest_rates(predicted, labels, 0, keep[:-1])
