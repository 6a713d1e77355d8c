"""ReferralIndex.compact: the cuts it keeps against brute force, and its queries against the
full index's (equal at every kept cut; equal everywhere when every cut is kept)."""

import math

import numpy as np
import pytest

from uqviz.metrics import ReferralIndex
from uqviz.metrics.classification import wilson_ci


def _data(seed, n=600, decimals=2):
    rng = np.random.default_rng(seed)
    uncertainty = rng.random(n)
    if decimals is not None:
        uncertainty = np.round(uncertainty, decimals)  # many ties
    correct = rng.random(n) < 1.0 - 0.8 * uncertainty
    return uncertainty, correct


def _same_point(a, b, *, threshold=True):
    for name in ("n", "n_referred", "reached"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("referred_fraction", "automated_accuracy", "automated_error_rate",
                 "referred_accuracy", "expected_cost", *(["threshold"] if threshold else [])):
        x, y = getattr(a, name), getattr(b, name)
        assert (math.isnan(x) and math.isnan(y)) or x == y, (name, x, y)
    for name in ("automated_accuracy_ci", "referred_accuracy_ci"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_points", [2, 7, 40, 10_000])
def test_kept_cuts_against_brute_force(seed, max_points):
    uncertainty, correct = _data(seed)
    index = ReferralIndex.from_scores(uncertainty, correct)
    compact = index.compact(max_points)
    assert compact.n == uncertainty.size
    assert compact.size <= max_points
    assert compact.kept[0] == 0 and compact.kept[-1] == compact.n
    assert np.all(np.diff(compact.kept) > 0) and np.all(np.diff(compact.thresholds) > 0)
    assert compact.exact == (compact.size == np.unique(uncertainty).size + 1)
    assert compact.thresholds[0] < uncertainty.min()
    for m, c, t in zip(compact.kept, compact.correct, compact.thresholds, strict=True):
        automated = uncertainty <= t  # the policy "refer above t" on every row
        assert automated.sum() == m  # a threshold separates exactly m cases: a cut
        assert correct[automated].sum() == c
        if m:
            assert t == uncertainty[automated].max()


def test_every_cut_kept_when_there_are_few():
    uncertainty, correct = _data(3)
    index = ReferralIndex.from_scores(uncertainty, correct)
    compact = index.compact(index.n + 1)
    assert compact.exact
    assert np.array_equal(compact.kept, index.cuts)
    assert np.array_equal(compact.correct, index.cum_correct[index.cuts])


def test_grid_is_the_quantiles_of_distinct_scores():
    uncertainty, correct = _data(4, n=1000, decimals=None)  # all distinct: every m is a cut
    compact = ReferralIndex.from_scores(uncertainty, correct).compact(11)
    assert compact.kept.tolist() == list(range(0, 1001, 100))
    assert compact.thresholds[5] == np.sort(uncertainty)[499]
    assert not compact.exact


def test_grid_picks_the_nearest_cut_to_each_quantile():
    uncertainty, correct = _data(5, n=2000, decimals=3)
    index = ReferralIndex.from_scores(uncertainty, correct)
    compact = index.compact(50)
    targets = np.round(np.linspace(0, index.n, 50))
    nearest = [index.cuts[np.argmin(np.abs(index.cuts - t))] for t in targets]
    assert set(compact.kept.tolist()) <= set(index.cuts.tolist())
    for t, m in zip(targets, nearest, strict=True):
        assert np.min(np.abs(compact.kept - t)) == abs(m - t)


def _queries():
    rng = np.random.default_rng(9)
    budgets = np.concatenate([[0.0, 1.0, 0.05, 0.1, 0.95], rng.random(30)])
    targets = np.concatenate([[0.0, 0.5, 0.9, 0.99, 1.0], 0.5 + 0.5 * rng.random(30)])
    costs = [(10.0, 1.0), (0.0, 1.0), (1.0, 0.0), (0.0, 0.0), (3.0, 3.0),
             *zip(10 * rng.random(20), rng.random(20), strict=True)]
    return budgets, targets, costs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_compact_answers_as_the_full_index(seed):
    uncertainty, correct = _data(seed)
    index = ReferralIndex.from_scores(uncertainty, correct)
    compact = index.compact(index.n + 1)
    budgets, targets, costs = _queries()
    for b in budgets:
        _same_point(compact.at_budget(b), index.at_budget(b))
    for a in targets:
        _same_point(compact.for_target_accuracy(a), index.for_target_accuracy(a))
    for ce, cr in costs:
        _same_point(compact.for_costs(ce, cr), index.for_costs(ce, cr))
    for t in compact.thresholds[1:]:
        _same_point(compact.at_threshold(t), index.at_threshold(t))
        _same_point(compact.at_threshold(t, cost_error=2.0, cost_review=0.5),
                    index.at_threshold(t, cost_error=2.0, cost_review=0.5))
    for t in np.random.default_rng(seed).random(20):  # between cuts: same cases, snapped
        _same_point(compact.at_threshold(t), index.at_threshold(t), threshold=False)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("max_points", [5, 30])
def test_grid_queries_are_the_full_index_restricted_to_the_kept_cuts(seed, max_points):
    uncertainty, correct = _data(seed)
    index = ReferralIndex.from_scores(uncertainty, correct)
    compact = index.compact(max_points)
    n, kept = index.n, compact.kept
    accuracy = np.where(kept > 0, compact.correct / np.maximum(kept, 1), np.nan)

    def at(m, **kw):  # the full index at the kept cut m (a threshold that separates m)
        return index.at_threshold(compact.thresholds[list(kept).index(m)], **kw)

    for t in compact.thresholds:  # at every kept cut: the full index's numbers, exactly
        _same_point(compact.at_threshold(t), index.at_threshold(t))
    budgets, targets, costs = _queries()
    for b in budgets:
        budget = math.ceil(round(b * n, 9))
        m = min(k for k in kept if n - k <= budget)  # most automated within the budget
        _same_point(compact.at_budget(b), at(m))
        assert compact.at_budget(b).n_referred <= budget
    for a in targets:
        ok = [k for k, acc in zip(kept, accuracy, strict=True) if k and acc >= a - 1e-12]
        point = compact.for_target_accuracy(a)
        if ok:
            _same_point(point, at(max(ok)))
        else:
            assert not point.reached and point.n_referred == n
    for ce, cr in costs:
        cost = ((kept - compact.correct) * ce + (n - kept) * cr) / n
        best = np.flatnonzero(cost <= cost.min() + 1e-12 * max(1.0, abs(cost.min())))[-1]
        _same_point(compact.for_costs(ce, cr), at(kept[best], cost_error=ce, cost_review=cr))


def test_wilson_quantile_and_errors():
    uncertainty, correct = _data(0)
    index = ReferralIndex.from_scores(uncertainty, correct)
    compact = index.compact(20)
    lo, hi = wilson_ci(8, 10)
    z = compact.z
    p, m = 0.8, 10.0
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    assert lo < centre < hi and z == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        index.compact(1)
    with pytest.raises(ValueError):
        compact.at_threshold(float("nan"))
    with pytest.raises(ValueError):
        compact.at_budget(1.5)
    with pytest.raises(ValueError):
        compact.for_costs(-1.0, 1.0)
    assert compact.at_threshold(-5.0).n_referred == index.n  # below every score: refer all
