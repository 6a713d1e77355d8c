"""The exported policy runs: ``uqviz.policy.load`` / ``Policy.decide`` / ``check_model``, the
triage's share check, and the team's arithmetic (``uqviz.team``), against hand-worked cases,
scipy and simulation. No model, no torch."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import binomtest

from uqviz.metrics.scores import uncertainty
from uqviz.metrics.selective import ReferralIndex
from uqviz.policy import (
    POLICY_FORMAT,
    Policy,
    load,
    model_provenance,
    operating_point,
    policy_document,
)
from uqviz.team import (
    NONE_LABEL,
    Accuracy,
    DecisionTable,
    audit_guarantee,
    read_labels,
    team_accuracy,
    team_report,
)
from uqviz.triage import check_share, queue_order, review_name

CLASSES = ("cat", "dog", "owl")
MODEL = model_provenance([("a.pt", "ab" * 32)], {"classes": list(CLASSES), "input_size": [8, 8]},
                         settings={"temperature": None, "tta_samples": 8, "seed": 0})


def document(threshold=0.3, score="max_prob", model=MODEL) -> dict:
    u = np.array([0.1, 0.2, 0.3, 0.4])
    index = ReferralIndex.from_scores(u, np.array([True, True, False, False]))
    point = operating_point(index, "threshold", threshold)
    return policy_document(dataset="d", method="softmax", score=score, mode="threshold",
                           point=point, when="2026-12-07", classes=CLASSES, model=model)


def test_the_document_round_trips_and_holds_what_runs_it(tmp_path):
    doc = document()
    assert doc["format_version"] == POLICY_FORMAT and doc["uqviz_version"]
    assert doc["classes"] == list(CLASSES) and doc["model"]["files"][0]["sha256"] == "ab" * 32
    # scores above 0.3: 1 of 4 referred; Wilson 95% interval by scipy
    ci = binomtest(1, 4).proportion_ci(method="wilson")
    assert doc["expected_referral_rate_ci95"] == pytest.approx([ci.low, ci.high])
    (tmp_path / "p.json").write_text(json.dumps(doc))
    policy = load(tmp_path / "p.json")
    assert (policy.method, policy.score, policy.threshold) == ("softmax", "max_prob", 0.3)
    assert policy.classes == CLASSES and policy.expected_referral_rate == 0.25
    assert policy.settings["tta_samples"] == 8


def test_decide_is_the_score_function_and_the_threshold():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=(4, 50))  # (S, N, C)
    for score in ("max_prob", "entropy", "mutual_information"):
        policy = Policy.from_document(document(threshold=0.5, score=score))
        d = policy.decide(probs)
        mean = probs.mean(axis=0)
        assert np.array_equal(d.predicted, mean.argmax(1))
        assert np.allclose(d.probability, mean.max(1))
        assert np.array_equal(d.score, uncertainty(probs, score))
        assert np.array_equal(d.refer, uncertainty(probs, score) > 0.5)
        assert np.array_equal(d.top_classes[:, 0], d.predicted)
        assert (np.diff(d.top_probabilities, axis=1) <= 0).all()


def test_hand_worked_decisions():
    policy = Policy.from_document(document(threshold=0.35))
    d = policy.decide(np.array([[0.8, 0.15, 0.05], [0.5, 0.2, 0.3], [0.1, 0.2, 0.7]]))
    # max_prob uncertainty is 1 - max p: 0.2, 0.5, 0.3 -> refer only the second (> 0.35)
    assert d.predicted.tolist() == [0, 0, 2]
    assert d.refer.tolist() == [False, True, False] and d.n_referred == 1
    assert d.top_classes[1].tolist() == [0, 2, 1]


def test_infinite_thresholds_come_back_from_json():
    doc = document()
    doc["threshold"] = float(np.finfo(np.float64).max)  # how to_dict writes +inf
    assert Policy.from_document(doc).threshold == math.inf
    assert not Policy.from_document(doc).decide(np.full((2, 3), 1 / 3)).refer.any()


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("score"), 'p.json: no "score"; is it a policy exported by uqviz?'),
    (lambda d: d.update(score="nope"), "p.json: unknown score 'nope'"),
    (lambda d: d.update(threshold="high"), "p.json: threshold must be a number, got 'high'"),
    (lambda d: d.update(format_version=99), "p.json: format_version 99 is newer"),
    (lambda d: d.update(classes="cat"), "p.json: classes must be a list of names"),
])
def test_a_bad_policy_file_is_one_line(tmp_path, change, message):
    doc = document()
    change(doc)
    (tmp_path / "p.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError) as err:
        load(tmp_path / "p.json")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_another_model_class_list_or_config_is_refused():
    policy = Policy.from_document(document())
    policy.check_model([("renamed.pt", "ab" * 32)], CLASSES,
                       {"classes": list(CLASSES), "input_size": (8, 8)})  # same bytes: fine
    with pytest.raises(ValueError, match=r"the policy is for the classes \(cat, dog, owl\) but "
                                         r"the model has \(cat, dog, fox\): refused"):
        policy.check_model([("a.pt", "ab" * 32)], ("cat", "dog", "fox"))
    with pytest.raises(ValueError, match="another model, refused"):
        policy.check_model([("a.pt", "cd" * 32)], CLASSES)
    with pytest.raises(ValueError, match="another model, refused"):
        policy.check_model([("a.pt", "ab" * 32), ("b.pt", "ef" * 32)], CLASSES)
    with pytest.raises(ValueError, match=r"model.json has input_size \[8, 8\] but the one given "
                                         r"has \[16, 16\]"):
        policy.check_model([("a.pt", "ab" * 32)], CLASSES,
                           {"classes": list(CLASSES), "input_size": [16, 16]})
    with pytest.raises(ValueError, match="the policy is for 3 classes, the probabilities have 2"):
        policy.decide(np.full((2, 2), 0.5))


def test_share_check_warns_only_when_the_intervals_part():
    same = check_share(30, 100, 0.3, (0.25, 0.35))
    ci = binomtest(30, 100).proportion_ci(method="wilson")
    assert same.ci95 == pytest.approx((ci.low, ci.high)) and not same.disagree
    assert same.warning is None
    shifted = check_share(60, 100, 0.3, (0.25, 0.35))
    assert shifted.disagree and "more than the 30.0% the policy expected" in shifted.warning
    assert check_share(0, 0, 0.3, None).n == 0
    assert not check_share(5, 10, None, None).disagree


def test_share_check_false_alarms_are_rare_by_simulation():
    """Same share p = 0.2 when set (n = 2,000) and in triage (n = 500): the interval-overlap
    check warns in well under 5% of draws (Schenker & Gentleman: about 0.6% for equal
    widths); 4,000 seeded draws, so a rate above 2% would be 9+ standard errors off."""
    rng = np.random.default_rng(1)
    alarms = 0
    for _ in range(4000):
        k0 = rng.binomial(2000, 0.2)
        from uqviz.metrics.classification import wilson_ci

        expected_ci = wilson_ci(k0, 2000)
        alarms += check_share(int(rng.binomial(500, 0.2)), 500, k0 / 2000, expected_ci).disagree
    assert alarms / 4000 < 0.02


def test_review_names_and_queue_order():
    assert review_name(1, "scans/day1/a.png") == "0001__scans__day1__a.png"
    assert review_name(12, "b.png", width=5) == "00012__b.png"
    assert queue_order(np.array([0.2, 0.9, 0.2, 0.5])).tolist() == [1, 3, 0, 2]


def test_audit_against_the_guarantee_hand_worked_and_scipy():
    # 90 right of 100 against A = 0.95: P(Binomial(100, 0.05) >= 10) = 0.0282
    audit = audit_guarantee(90, 100, 0.95)
    assert audit.p_value == pytest.approx(0.028188, abs=1e-5) and audit.verdict == "violated"
    assert audit.p_value == pytest.approx(
        binomtest(10, 100, 0.05, alternative="greater").pvalue)
    # lower bound: one-sided 95% Clopper-Pearson (scipy's two-sided 90% interval's low end)
    cp = binomtest(90, 100).proportion_ci(confidence_level=0.90, method="exact")
    assert audit.lower_bound == pytest.approx(cp.low)
    assert audit_guarantee(199, 200, 0.95).verdict == "confirmed"
    assert audit_guarantee(95, 100, 0.95).verdict == "consistent"
    assert audit_guarantee(0, 0, 0.95).verdict == "no audit"


def test_the_audit_rarely_cries_violation_when_the_guarantee_holds():
    """True accuracy exactly A = 0.95 (the worst case the guarantee allows), 150 audited: the
    exact test says "violated" in at most 5% of draws; 4,000 seeded draws (s.e. 0.35%)."""
    rng = np.random.default_rng(2)
    correct = rng.binomial(150, 0.95, size=4000)
    rate = np.mean([audit_guarantee(int(k), 150, 0.95).verdict == "violated" for k in correct])
    assert rate <= 0.05 + 0.01


def test_team_accuracy_hand_worked_and_its_interval_covers():
    # 80 automated (40 audited, 36 right), 20 referred, people assumed right:
    # 0.8 * 0.9 + 0.2 * 1 = 0.92; Agresti–Coull: ñ = 40 + z² = 43.8415, p̃ = (36 + z²/2)/ñ
    # = 0.865 … , var = 0.8² · p̃(1 − p̃)/ñ
    z = 1.959964
    n_tilde = 40 + z * z
    p_tilde = (36 + z * z / 2) / n_tilde
    estimate, (lo, hi) = team_accuracy(80, 20, Accuracy.of(36, 40), 1.0, None)
    assert estimate == pytest.approx(0.92)
    half = z * math.sqrt(0.64 * p_tilde * (1 - p_tilde) / n_tilde)
    assert estimate - lo == pytest.approx(half, rel=1e-5)
    assert hi == 1.0  # 0.92 + 0.081, clipped to [0, 1]
    # an audit without an error does not make the interval vanish: 15 of 15 audited of 51
    # automated, 9 referred: half = z · (51/60) · sqrt(0.00486) (adjusted_variance's case)
    estimate, (lo, hi) = team_accuracy(51, 9, Accuracy.of(15, 15), 1.0, None)
    assert estimate == 1.0 and hi == 1.0
    assert 1.0 - lo == pytest.approx(z * 51 / 60 * math.sqrt(0.0048589), rel=1e-3)
    assert lo < 0.9
    # coverage by simulation: 2,000 seeded draws, model 0.9 on 200 audited, people 0.97 on 100
    rng = np.random.default_rng(3)
    truth, covered = 0.7 * 0.9 + 0.3 * 0.97, 0
    for _ in range(2000):
        people = Accuracy.of(int(rng.binomial(100, 0.97)), 100)
        _, (lo, hi) = team_accuracy(700, 300, Accuracy.of(int(rng.binomial(200, 0.9)), 200),
                                    people.accuracy, people)
        covered += lo <= truth <= hi
    assert covered / 2000 >= 0.92  # nominal 0.95; the normal approximation, s.e. 0.5%


def test_team_report_and_labels(tmp_path):
    table = DecisionTable(("a", "b", "c", "d"), ("cat", "dog", "owl", "cat"),
                          np.array([False, False, True, True]))
    report = team_report(table, {"a": "cat", "b": "cat", "c": "owl", "d": "dog"}, target=0.9,
                         second_opinion={"c": "owl", "d": "cat"})
    assert (report.audited.correct, report.audited.n) == (1, 2)
    assert (report.model_on_referred.correct, report.model_on_referred.n) == (1, 2)
    assert report.reviewers.accuracy == 0.5 and not report.reviewer_accuracy_assumed
    assert report.team_accuracy == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    (tmp_path / "l.csv").write_text("id,label\na,cat\nb,\n")
    assert read_labels(tmp_path / "l.csv", table.ids, CLASSES) == {"a": "cat"}
    (tmp_path / "twice.csv").write_text("id,label\na,cat\na,dog\n")
    with pytest.raises(ValueError, match="line 3: id 'a' is labelled twice"):
        read_labels(tmp_path / "twice.csv", table.ids, CLASSES)
    # a case that is none of the classes: "none" (any case), "other" or "-"; the model is
    # wrong on it
    (tmp_path / "none.csv").write_text("id,label\na,None\nb,other\nc,-\nd,cat\n")
    labels = read_labels(tmp_path / "none.csv", table.ids, CLASSES)
    assert labels == {"a": NONE_LABEL, "b": NONE_LABEL, "c": NONE_LABEL, "d": "cat"}
    report = team_report(table, labels)
    assert (report.audited.correct, report.audited.n) == (0, 2)
    (tmp_path / "bad.csv").write_text("id,label\na,cross\n")
    with pytest.raises(ValueError, match="write 'none' for a case that is none of them"):
        read_labels(tmp_path / "bad.csv", table.ids, CLASSES)
    (tmp_path / "cols.csv").write_text("name,label\na,cat\n")
    with pytest.raises(ValueError, match='no column "id"'):
        read_labels(tmp_path / "cols.csv", table.ids, CLASSES)


def test_team_on_the_command_line_imports_no_torch(tmp_path):
    (tmp_path / "decisions.csv").write_text(
        "id,predicted,probability,score,decision\na.png,cat,0.9,0.1,automate\n"
        "b.png,dog,0.5,0.5,refer\n")
    (tmp_path / "summary.json").write_text(json.dumps({"classes": list(CLASSES),
                                                       "policy": {"target_accuracy": 0.9}}))
    (tmp_path / "labels.csv").write_text("id,label\na.png,cat\nb.png,owl\n")
    code = ("import json, sys\nfrom uqviz.__main__ import main\n"
            f"code = main(['team', {str(tmp_path / 'decisions.csv')!r}, '--labels', "
            f"{str(tmp_path / 'labels.csv')!r}, '--json'])\n"
            "print(json.dumps([code, 'torch' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == [0, False], out.stderr
    doc = json.loads(lines[0])
    assert doc["audited"]["accuracy"] == 1.0 and doc["team_accuracy"] == 1.0


def test_an_uncertified_guarantee_says_what_the_threshold_does_guarantee():
    """A policy whose target was not certified guarantees only the accuracy the procedure
    certified at its threshold (``accuracy_bound``); triage and team compare with that, and
    say in words that the target was not certified."""
    from uqviz.policy import guarantee_warning, guaranteed_accuracy, rule_words

    certified = {"certified": True, "target_accuracy": 0.95, "accuracy_bound": 0.95}
    missed = {"certified": False, "target_accuracy": 0.99, "accuracy_bound": 0.9634}
    nothing = {"certified": False, "target_accuracy": 0.99, "accuracy_bound": 0.0}
    assert guaranteed_accuracy(certified) == 0.95 and guarantee_warning(certified) is None
    assert guaranteed_accuracy(missed) == pytest.approx(0.9634)
    assert guarantee_warning(missed) == ("the policy's target accuracy 99% was NOT certified: "
                                         "its threshold guarantees only 96.34% on automated "
                                         "cases")
    assert guaranteed_accuracy(nothing) is None and "carries no guarantee" in guarantee_warning(
        nothing)
    assert guaranteed_accuracy(None) is None and guarantee_warning(None) is None
    assert rule_words("max_prob", 0.114429) == "refer when 1 − max probability > 0.114429"
    assert rule_words("energy", 1.5) == "refer when Energy > 1.5"
    assert rule_words("max_prob", math.inf).startswith("refer no case")
    assert rule_words("max_prob", 1.7976931348623157e308).startswith("refer no case")
    assert rule_words("max_prob", -math.inf) == "refer every case"
    # the team's audit is against what is guaranteed, not the missed target
    table = DecisionTable(("a", "b"), ("cat", "dog"), np.array([False, False]))
    report = team_report(table, {"a": "cat", "b": "dog"}, target=guaranteed_accuracy(missed))
    assert report.guarantee.target == pytest.approx(0.9634)


def test_target_reached_compares_the_measured_accuracy_with_the_guarantees_target():
    """The certified export's ``target_reached`` says whether the accuracy measured at its
    threshold (held-out part) reaches the guarantee's target: 0.75 < 0.99 is not reached."""
    index = ReferralIndex.from_scores(np.array([0.1, 0.2, 0.3, 0.9]),
                                      np.array([True, True, False, True]))
    point = operating_point(index, "threshold", 0.5)  # automates the first three: 2 of 3 right
    assert point.automated_accuracy == pytest.approx(2 / 3)
    missed = policy_document(dataset="d", method="m", score="max_prob", mode="target",
                             point=point, when="today",
                             guarantee={"target_accuracy": 0.99, "certified": False})
    met = policy_document(dataset="d", method="m", score="max_prob", mode="target",
                          point=point, when="today",
                          guarantee={"target_accuracy": 0.6, "certified": True})
    assert missed["target_reached"] is False and met["target_reached"] is True
