"""OOD detection vs scikit-learn / torchmetrics and a hand-worked case."""

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from torchmetrics.functional.classification import binary_auroc

from uqviz.metrics import OODResult, fpr_at_tpr, ood_detection


def test_hand_worked():
    u_in = np.array([0.1, 0.2, 0.3, 0.4])
    u_out = np.array([0.35, 0.5])
    result = ood_detection(u_in, u_out)
    assert isinstance(result, OODResult) and (result.n_in, result.n_out) == (4, 2)
    # pairs with u_in < u_out: 3 for .35, 4 for .5 -> 7/8
    assert result.auroc == pytest.approx(7 / 8)
    # ascending u: in in in out in out -> precision at each in 1, 1, 1, 4/5
    assert result.aupr_in == pytest.approx((1 + 1 + 1 + 0.8) / 4)
    # descending u: out(.5) P=1, in(.4), out(.35) P=2/3
    assert result.aupr_out == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # keeping 95% of 4 in-dist rows needs all 4: t = .4, accepts the .35 OOD row
    assert result.fpr95 == pytest.approx(0.5)


@pytest.mark.parametrize("rounded", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_against_sklearn(seed, rounded):
    rng = np.random.default_rng(seed)
    u_in = rng.normal(0.0, 1.0, 700)
    u_out = rng.normal(1.0, 1.0, 300)
    if rounded:  # many ties, including across the two sets
        u_in, u_out = np.round(u_in, 1), np.round(u_out, 1)
    result = ood_detection(u_in, u_out)
    y_in = np.concatenate([np.ones(700), np.zeros(300)])
    scores = np.concatenate([u_in, u_out])
    assert result.auroc == pytest.approx(roc_auc_score(y_in, -scores), abs=1e-12)
    assert result.aupr_in == pytest.approx(average_precision_score(y_in, -scores), abs=1e-12)
    assert result.aupr_out == pytest.approx(average_precision_score(1 - y_in, scores), abs=1e-12)
    fpr, tpr, _ = roc_curve(y_in, -scores, drop_intermediate=False)
    assert result.fpr95 == pytest.approx(fpr[np.searchsorted(tpr, 0.95, side="left")])
    if not rounded:  # torchmetrics squashes scores outside [0, 1] with a sigmoid; skip ties
        torch_auroc = float(binary_auroc(torch.from_numpy(-scores), torch.from_numpy(y_in).long()))
        assert result.auroc == pytest.approx(torch_auroc, abs=1e-6)


def test_extremes():
    perfect = ood_detection(np.array([0.1, 0.2, 0.3]), np.array([0.8, 0.9]))
    assert perfect.auroc == 1.0 and perfect.fpr95 == 0.0
    assert perfect.aupr_in == 1.0 and perfect.aupr_out == 1.0
    reversed_ = ood_detection(np.array([0.8, 0.9]), np.array([0.1, 0.2, 0.3]))
    assert reversed_.auroc == 0.0 and reversed_.fpr95 == 1.0
    same = ood_detection(np.full(5, 0.5), np.full(5, 0.5))
    assert same.auroc == 0.5 and same.fpr95 == 1.0


def test_fpr_at_tpr_levels():
    u_in = np.arange(100) / 100  # 0.00 .. 0.99
    u_out = np.array([0.5, 0.945, 0.95, 0.96])
    # 95th smallest in-dist value is .94: only the .5 OOD row is at or below it
    assert fpr_at_tpr(u_in, u_out, 0.95) == pytest.approx(1 / 4)
    # 50th smallest is .49: no OOD row; 51st is .50: the tie at .5 is accepted
    assert fpr_at_tpr(u_in, u_out, 0.5) == 0.0
    assert fpr_at_tpr(u_in, u_out, 0.51) == pytest.approx(1 / 4)
    assert fpr_at_tpr(u_in, u_out, 1.0) == 1.0  # t = .99 accepts every OOD row


def test_validation():
    with pytest.raises(ValueError, match="empty"):
        ood_detection(np.array([]), np.array([0.1]))
    with pytest.raises(ValueError, match="1-D"):
        ood_detection(np.zeros((2, 2)), np.array([0.1]))
    with pytest.raises(ValueError, match="NaN"):
        ood_detection(np.array([np.nan]), np.array([0.1]))
    with pytest.raises(ValueError, match="tpr"):
        fpr_at_tpr(np.array([0.1]), np.array([0.1]), 0.0)


@pytest.mark.parametrize("rounded", [False, True])
def test_auroc_by_ranks_equals_the_trapezoid(rounded):
    from uqviz.metrics.ood import auroc_by_ranks

    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 300), rng.normal(0.7, 1, 200)
    if rounded:  # many ties
        a, b = a.round(1), b.round(1)
    assert auroc_by_ranks(a, b) == pytest.approx(ood_detection(a, b).auroc, abs=1e-12)
    assert auroc_by_ranks(a, b) == pytest.approx(roc_auc_score(
        np.r_[np.zeros(a.size), np.ones(b.size)], np.r_[a, b]), abs=1e-12)
    assert auroc_by_ranks([0.1, 0.2], [0.2, 0.3]) == pytest.approx(0.875)  # (1 + ½ + 1 + 1)/4
    assert np.isnan(auroc_by_ranks([], [1.0]))
