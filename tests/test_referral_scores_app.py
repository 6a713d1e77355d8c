"""The Referral page on any score (issue 24), with per-class targets and the cost mode counting
the reviewers' accuracy (issue 22), under AppTest: the numbers shown and exported are the
study's."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.test_app_referral import PAGE, TIMEOUT, _array, _component, _policy
from tests.test_ood_wiring import synthetic
from uqviz.exchange import read_predictions, write_predictions
from uqviz.metrics.guarantee import ClassTarget
from uqviz.sources import FileSource
from uqviz.study import Study
from uqviz.ui.backend import POLICY_KEY


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    """Test, corrupted, OOD and fit rows of one method with logits and features."""
    path = tmp_path_factory.mktemp("referral_scores") / "scores.npz"
    write_predictions({"m": synthetic(np.random.default_rng(11), samples=1)}, path)
    return path


def _page(monkeypatch, npz, *, mode=None) -> tuple[AppTest, Study]:
    from uqviz.ui.files import env_dataset_name

    monkeypatch.setenv("UQVIZ_PREDICTIONS", str(npz))
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.session_state["dataset"] = env_dataset_name(npz)
    if mode:
        at.session_state["ref_mode"] = mode
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    study = Study(FileSource.from_path(npz, read_predictions(npz)).predictions(["m"])["m"])
    return at, study


def _metrics(at: AppTest) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for m in at.metric:
        shown.setdefault(m.label, []).append(m.value)
    return shown


def test_energy_drives_the_workbench_the_guarantee_and_the_export(monkeypatch, npz):
    at, study = _page(monkeypatch, npz)
    select = at.selectbox(key="ref_score")
    assert list(select.options) == [select.format_func(k) for k in study.referral_score_keys()]
    assert "Energy (logits)" in select.options and "KNN distance (features)" in select.options
    select.set_value("energy").run()
    assert not at.exception, at.exception
    index = study.referral_index("energy")
    data = _component(at)
    assert np.array_equal(_array(data["kept"], "<i4"), index.cuts)
    thresholds = _array(data["thresholds"], "<f8")
    assert np.array_equal(thresholds[1:], index.sorted_uncertainty[index.cuts[1:] - 1])
    policy = _policy(at)
    assert policy["score"] == "energy" and policy["score_settings"] == {"temperature": 1.0}
    assert policy["expected_referral_rate"] == index.at_threshold(policy["threshold"]) \
        .referred_fraction
    guarantee = study.guaranteed_referral("energy", target_accuracy=0.95)
    assert policy["guarantee"]["threshold"] == guarantee.to_dict()["threshold"]
    shown = _metrics(at)  # the guarantee panel's numbers: calibration and held-out parts
    calibration, heldout = shown["Referred to a human"]
    assert calibration == f"{100 * guarantee.calibration.referred_fraction:.1f}%"
    assert heldout == f"{100 * guarantee.heldout.referred_fraction:.1f}%"
    assert len(at.get("plotly_chart")) == 3  # confusion matrix, the team, one-vs-rest


def test_a_feature_score_refers_but_is_not_exported(monkeypatch, npz):
    at, study = _page(monkeypatch, npz)
    at.selectbox(key="ref_score").set_value("knn").run()
    assert not at.exception, at.exception
    assert np.array_equal(_array(_component(at)["kept"], "<i4"), study.referral_index("knn").cuts)
    (info,) = [i.value for i in at.info if "No policy to export" in i.value]
    assert "(knn) cannot be exported" in info and "max_logit, energy, gen" in info
    assert not at.get("download_button") and POLICY_KEY not in at.session_state


def test_a_class_target_alone_and_with_the_accuracy_target(monkeypatch, npz):
    at, study = _page(monkeypatch, npz)
    score = at.selectbox(key="ref_score").value
    names = study.stream.names
    at.multiselect(key="ref_class_targets").select("1:recall").run()
    at.number_input(key="ref_ct_1_recall").set_value(80.0).run()
    assert not at.exception, at.exception
    targets = (ClassTarget(1, "recall", 0.8),)
    for with_accuracy in (True, False):
        at.checkbox(key="ref_guarantee_accuracy").set_value(with_accuracy).run()
        assert not at.exception, at.exception
        expected = study.guaranteed_referral(
            score, target_accuracy=0.95 if with_accuracy else None, class_targets=targets)
        (record,) = expected.to_dict()["class_targets"]
        (table,) = at.dataframe
        row = table.value.iloc[0]
        assert row["Target"] == f"recall of {names[1]} ≥ 80%"
        assert row["Certified"] == ("yes" if record["certified"] else "no")
        assert row["Bound reached"] == f"{100 * record['bound']:.2f}%"
        assert row["Automated cases"] == record["n"]
        verdict = (at.success if expected.certified.certified else at.warning)
        assert any("class target" in v.value or "targets" in v.value for v in verdict)
        # the exported policies record the class targets and the threshold that meets them
        guarantee = _policy(at)["guarantee"]
        assert guarantee["class_targets"] == [record]
        assert guarantee["target_accuracy"] == (0.95 if with_accuracy else None)
        assert guarantee["threshold"] == expected.to_dict()["threshold"]


def test_the_cost_mode_counts_the_reviewers_accuracy(monkeypatch, npz):
    at, study = _page(monkeypatch, npz, mode="cost")
    score = at.selectbox(key="ref_score").value
    index = study.referral_index(score)
    assert _policy(at)["expected_cost_per_case"] == index.for_costs(10.0, 1.0).expected_cost
    assert _component(at)["costNote"] == "(reviews assumed correct)."
    at.slider(key="ref_reviewer_accuracy").set_value(80).run()
    assert not at.exception, at.exception
    point = index.for_costs(10.0, 1.0, reviewer_accuracy=0.8)
    policy = _policy(at)
    assert policy["expected_cost_per_case"] == point.expected_cost
    assert policy["expected_referral_rate"] == point.referred_fraction
    assert policy["reviewer_accuracy"] == 0.8
    data = _component(at)
    assert "80%" in data["costNote"] and data["values"]["cost_error"] == 10.0
    cost_cut = _array(data["costCut"], "<i4").reshape(len(data["costs"]), -1)
    e, r = data["costs"].index(10.0), data["costs"].index(1.0)
    assert _array(data["kept"], "<i4")[cost_cut[e, r]] == point.n_automated
    assert any("reviewers right 80% of the time" in c.value for c in at.caption)
