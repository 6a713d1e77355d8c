"""Any score drives the referral threshold (issue 24): the row sets and the study compute the
logit and feature scores with the parts fitted on the fit rows, and every referral query
(index, curve, operating points, the guarantee, per-class targets) takes them; a policy
carries probability and logit scores, refuses feature scores, and runs on logits; the cost
mode counts the reviewers' accuracy (issue 22). No model, no torch."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import astuple

import numpy as np
import pytest

from tests.test_ood_wiring import SHIFT, synthetic
from uqviz.metrics.guarantee import ClassTarget, calibration_split, certify_threshold
from uqviz.metrics.ood_scores import (
    LOGIT_FEATURE_SCORES,
    energy_score,
    fit_knn,
    fit_ood_scores,
    gen_score,
    max_logit_score,
)
from uqviz.metrics.selective import (
    ReferralIndex,
    cost_table,
    referred_case_cost,
)
from uqviz.policy import (
    EXPORTABLE_SCORES,
    LOGIT_POLICY_SCORES,
    Policy,
    check_exportable,
    operating_point,
    policy_document,
)
from uqviz.predictions import Predictions
from uqviz.rows import RowSet
from uqviz.stream import StreamMix
from uqviz.study import Study


@pytest.fixture(scope="module")
def p() -> Predictions:
    """Test, corrupted, OOD and fit rows with logits (3 samples) and features."""
    return synthetic(np.random.default_rng(7), samples=3)


# -- the row sets and the study ----------------------------------------------------------------
@pytest.mark.parametrize("mix", [StreamMix(), SHIFT], ids=["clean", "mixed"])
def test_the_referral_index_on_energy_is_the_one_built_by_hand(p, mix):
    study = Study(p, mix)
    assert "energy" in study.referral_score_keys()
    by_hand = ReferralIndex.from_scores(energy_score(study.stream.logits), study.stream_correct)
    index = study.referral_index("energy")
    np.testing.assert_array_equal(index.sorted_uncertainty, by_hand.sorted_uncertainty)
    np.testing.assert_array_equal(index.order, by_hand.order)
    np.testing.assert_array_equal(index.cum_correct, by_hand.cum_correct)
    for mode, value in (("threshold", float(np.median(by_hand.sorted_uncertainty))),
                        ("budget", 0.2), ("target", 0.9), ("cost", (10.0, 1.0))):
        np.testing.assert_equal(astuple(study.operating_point("energy", mode, value)),
                                astuple(operating_point(by_hand, mode, value)))  # NaN == NaN
    curve, hand_curve = study.referral_curve("energy"), by_hand.referral_curve()
    np.testing.assert_array_equal(curve.accuracy_retained, hand_curve.accuracy_retained)


def test_feature_scores_use_the_parts_fitted_on_the_fit_rows_only(p):
    study = Study(p, SHIFT)
    fit = p.fit_rows()
    k = study.ood_scores.settings["knn"]["k"]
    by_hand = fit_knn(fit.features, k=k).score(study.stream.features)
    np.testing.assert_allclose(study.stream_uncertainty("knn"), by_hand, rtol=1e-6)
    # the galleries and the border cases follow the same order
    order = study.referral_index("knn").order
    np.testing.assert_array_equal(study.most_uncertain("knn").rows, order[::-1][:8])
    # the scored rows' values are score_values' (one cache for referral and OOD detection)
    assert study.score_values(None, "knn") is study.uncertainty("knn")


def test_logit_scores_equal_the_core_functions_on_every_logit_score(p):
    study = Study(p)
    logits = study.stream.logits
    for key, fn in (("max_logit", max_logit_score), ("energy", energy_score),
                    ("gen", gen_score)):
        np.testing.assert_array_equal(study.stream_uncertainty(key), fn(logits))


def test_the_guarantee_and_class_targets_on_energy_equal_certify_threshold(p):
    study = Study(p)
    targets = (ClassTarget(1, "recall", 0.8),)
    result = study.guaranteed_referral("energy", target_accuracy=0.8, confidence=0.9,
                                       class_targets=targets)
    u = energy_score(study.stream.logits)
    cal, _ = calibration_split(u.size, 0.5, 0)
    core = certify_threshold(u[cal], study.stream_correct[cal], target_accuracy=0.8,
                             confidence=0.9, class_targets=targets,
                             predicted=study.stream_predicted[cal],
                             labels=study.stream.labels[cal])
    assert result.certified == core
    doc = result.to_dict()
    assert doc["score"] == "energy" and doc["score_settings"] == {"temperature": 1.0}
    assert doc["class_targets"][0]["bound"] == core.class_targets[0].bound


def test_a_row_set_without_fitted_scores_says_why(p):
    rows = RowSet(p.labelled_in_distribution())
    with pytest.raises(ValueError, match="'energy' is computed from logits or features"):
        rows.uncertainty("energy")
    with pytest.raises(ValueError, match="unknown score 'nope'; valid: max_prob"):
        rows.uncertainty("nope")
    fitted = fit_ood_scores(p)
    calls = []
    rows = RowSet(p.labelled_in_distribution(), lambda: calls.append(1) or fitted)
    rows.uncertainty("entropy")
    assert calls == []  # nothing fitted for a probability score
    np.testing.assert_array_equal(rows.scored.uncertainty("vim"),
                                  fitted.score("vim", rows.predictions))


def test_an_unavailable_score_is_refused_with_its_reason(p):
    no_features = Predictions(p.probs, p.labels, p.group, logits=p.logits, method="m")
    study = Study(no_features)
    assert "energy" in study.referral_score_keys() and "knn" not in study.referral_score_keys()
    with pytest.raises(ValueError, match="needs features"):
        study.referral_index("knn")


# -- the policy --------------------------------------------------------------------------------
def _document(score: str, threshold: float, settings=None) -> dict:
    index = ReferralIndex.from_scores(np.array([0.1, 0.2]), np.array([True, False]))
    return policy_document(dataset="d", method="softmax", score=score, mode="threshold",
                           point=operating_point(index, "threshold", threshold), when="today",
                           classes=("a", "b", "c", "d"), score_settings=settings)


def test_a_logit_policy_decides_from_the_logits(p):
    logits = p.logits[:, :50]
    probs = p.probs[:, :50]
    assert set(LOGIT_POLICY_SCORES) == {"max_logit", "energy", "gen"}
    for score, fn in (("max_logit", max_logit_score), ("energy", energy_score),
                      ("gen", lambda x: gen_score(x, gamma=0.2, top_m=2))):
        u = fn(logits)
        threshold = float(np.median(u))
        policy = Policy.from_document(json.loads(json.dumps(_document(
            score, threshold, {"gamma": 0.2, "top_m": 2} if score == "gen" else None))))
        assert policy.needs_logits
        d = policy.decide(probs, logits=logits)
        np.testing.assert_array_equal(d.score, u)
        np.testing.assert_array_equal(d.refer, u > threshold)
        np.testing.assert_array_equal(d.predicted, probs.mean(0).argmax(1))
    with pytest.raises(ValueError, match="computed from logits: give the model's logits"):
        policy.decide(probs)
    with pytest.raises(ValueError, match=r"logits must be \(N, C\)"):
        policy.decide(probs, logits=logits[:, :10])
    # a probability policy ignores logits, as before
    plain = Policy.from_document(_document("entropy", 0.5))
    assert not plain.needs_logits
    np.testing.assert_array_equal(plain.decide(probs, logits=logits).refer,
                                  plain.decide(probs).refer)


def test_the_study_s_settings_go_into_the_exported_policy(p):
    study = Study(p)
    g = study.guaranteed_referral("gen", target_accuracy=0.8)
    point = g.heldout or g.calibration
    doc = policy_document(dataset="d", method="m", score="gen", mode="target", point=point,
                          when="today", guarantee=g.to_dict(), classes=study.stream.names)
    assert doc["score_settings"] == {"gamma": 0.1, "top_m": 4}
    policy = Policy.from_document(json.loads(json.dumps(doc)))
    d = policy.decide(study.stream.probs, logits=study.stream.logits)
    np.testing.assert_array_equal(d.score, study.stream_uncertainty("gen"))


@pytest.mark.parametrize("score", ["knn", "vim", "mahalanobis", "relative_mahalanobis"])
def test_a_feature_score_policy_is_refused_in_one_line(score):
    assert score not in EXPORTABLE_SCORES and LOGIT_FEATURE_SCORES[score].fitted
    with pytest.raises(ValueError) as err:
        _document(score, 0.1)
    message = str(err.value)
    assert "\n" not in message and f"({score}) cannot be exported" in message
    assert "scores that can be exported: max_prob" in message and "energy" in message
    with pytest.raises(ValueError, match="cannot be exported"):
        check_exportable(score)
    doc = _document("energy", 0.1)
    doc["score"] = score
    with pytest.raises(ValueError, match=f"p.json: .*\\({score}\\) cannot be exported"):
        Policy.from_document(doc, "p.json")


def test_bad_score_settings_are_one_line():
    doc = _document("energy", 0.1, {"temperature": "hot"})
    with pytest.raises(ValueError, match="p.json: score_settings must map temperature, gamma, "
                                         "top_m to numbers"):
        Policy.from_document(doc, "p.json")


# -- the cost mode with reviewers --------------------------------------------------------------
def test_costs_with_reviewers_hand_worked():
    # four cases, least uncertain first: right, right, wrong, wrong; an error costs 10, a
    # review 1. Reviewers right 80% of the time: a referred case costs 1 + 0.2·10 = 3, and
    # automating the m least uncertain costs ((errors among them)·10 + (4 − m)·3) / 4:
    #   m = 0: 12/4 = 3, m = 1: 9/4 = 2.25, m = 2: 6/4 = 1.5, m = 3: (10 + 3)/4 = 3.25,
    #   m = 4: 20/4 = 5  -> refer the two wrong ones, 1.5 per case.
    index = ReferralIndex.from_scores(np.array([0.1, 0.2, 0.3, 0.4]),
                                      np.array([True, True, False, False]))
    compact = index.compact()
    assert referred_case_cost(10, 1, 0.8) == pytest.approx(3.0)
    np.testing.assert_allclose(compact.expected_costs(10, 1, reviewer_accuracy=0.8),
                               [3.0, 2.25, 1.5, 3.25, 5.0])
    point = index.for_costs(10, 1, reviewer_accuracy=0.8)
    assert (point.n_referred, point.expected_cost) == (2, pytest.approx(1.5))
    # reviewers always right: the review alone, (0 + 2·1)/4 = 0.5 — the cost mode as before
    assert referred_case_cost(10, 1) == 1.0
    assert index.for_costs(10, 1).expected_cost == pytest.approx(0.5)
    # reviewers never right: a referral costs 11 > an error's 10, so refer nothing: 20/4 = 5
    never = index.for_costs(10, 1, reviewer_accuracy=0.0)
    assert (never.n_referred, never.expected_cost) == (0, pytest.approx(5.0))
    np.testing.assert_equal(astuple(compact.for_costs(10, 1, reviewer_accuracy=0.0)),
                            astuple(never))
    with pytest.raises(ValueError, match=r"reviewer accuracy must be in \[0, 1\], got 1.5"):
        index.for_costs(10, 1, reviewer_accuracy=1.5)


def test_the_cost_table_is_for_costs_with_the_reviewers_accuracy():
    rng = np.random.default_rng(2)
    index = ReferralIndex.from_scores(rng.random(500), rng.random(500) < 0.8)
    compact = index.compact()
    costs = [0.0, 0.5, 1.0, 4.0, 20.0]
    for q in (1.0, 0.9, 0.6):
        table = cost_table(compact, costs, reviewer_accuracy=q)
        assert table.reviewer_accuracy == q
        for e, ce in enumerate(costs):
            for r, cr in enumerate(costs):
                point = compact.for_costs(ce, cr, reviewer_accuracy=q)
                np.testing.assert_equal(  # every cut kept: the full index's answer
                    astuple(point), astuple(index.for_costs(ce, cr, reviewer_accuracy=q)))
                assert compact.kept[table.position[e, r]] == point.n_automated
                assert table.expected_cost[e, r] == point.expected_cost
    # worse reviewers never make referring more attractive
    lenient = cost_table(compact, costs, reviewer_accuracy=1.0).position
    strict = cost_table(compact, costs, reviewer_accuracy=0.6).position
    assert (strict >= lenient).all()


# -- the command line --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def npz(tmp_path_factory, p):
    from uqviz.exchange import write_predictions

    path = tmp_path_factory.mktemp("scores") / "preds.npz"
    write_predictions({"m": p}, path)
    return path


def test_the_command_line_sets_a_threshold_on_energy_and_refuses_to_export_knn(npz, p,
                                                                              tmp_path, capsys):
    from uqviz.__main__ import main

    out = subprocess.run([sys.executable, "-m", "uqviz", "referral", str(npz), "--score",
                          "energy", "--target-accuracy", "0.8", "--json", "--out",
                          str(tmp_path / "energy.json")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    study = Study(p)
    expected = study.guaranteed_referral("energy", target_accuracy=0.8).to_dict()
    assert doc["threshold"] == expected["threshold"] and doc["score"] == "energy"
    assert doc["score_settings"] == {"temperature": 1.0}
    policy = json.loads((tmp_path / "energy.json").read_text())
    assert policy["score"] == "energy" and policy["score_settings"] == {"temperature": 1.0}

    # a threshold on KNN: fine without --out; with it, one line naming what can be exported
    assert main(["referral", str(npz), "--score", "knn", "--target-accuracy", "0.8",
                 "--json"]) == 0
    knn = json.loads(capsys.readouterr().out)
    assert knn["score_settings"]["k"] == study.ood_scores.settings["knn"]["k"]
    for argv, words in (
            (["--score", "knn", "--out", tmp_path / "knn.json"],
             ["cannot be exported", "max_logit, energy, gen"]),
            (["--score", "nope"], ["--score must be one of", "relative_mahalanobis"])):
        assert main(["referral", str(npz), "--target-accuracy", "0.8",
                     *map(str, argv)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert all(w in err for w in words), err
    assert not (tmp_path / "knn.json").exists()

    # a target that cannot be certified: the policy is written, the score named by its label,
    # and a warning line says what the threshold guarantees instead
    assert main(["referral", str(npz), "--target-accuracy", "0.9999", "--out",
                 str(tmp_path / "missed.json")]) == 0
    captured = capsys.readouterr()
    assert "refer when 1 − max probability >" in captured.out or "refer every case" in \
        captured.out or "refer no case" in captured.out, captured.out
    assert "NOT certified" in captured.out
    assert "warning: the policy's target accuracy 99.99% was NOT certified" in captured.err
    assert json.loads((tmp_path / "missed.json").read_text())["guarantee"]["certified"] is False


def test_the_policy_decides_with_logits_as_thresholding_the_score(p):
    """``Policy.decide`` on the stream's probabilities and logits refers exactly the rows whose
    energy is above the threshold (the triage of a user's model does the same, batch by batch:
    tests/test_referral_scores_triage.py)."""
    study = Study(p)
    point = study.operating_point("energy", "budget", 0.3)
    doc = policy_document(dataset="d", method="m", score="energy", mode="budget", point=point,
                          when="today", score_settings=study.score_settings("energy"))
    policy = Policy.from_document(json.loads(json.dumps(doc)))
    d = policy.decide(study.stream.probs, logits=study.stream.logits)
    assert math.isfinite(point.threshold) and d.n_referred == point.n_referred > 0
    np.testing.assert_array_equal(d.refer, energy_score(study.stream.logits) > point.threshold)
