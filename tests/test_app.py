"""Every page under streamlit's AppTest, on digits predictions cached by a fixture."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import pretrain_digits

TIMEOUT = 600  # a limit, not a target: the first Dataset shift run predicts 80 corruptions
PAGES = {
    "pages/home.py": {"plotly": 0},
    "pages/story.py": {"plotly": 5},
    "pages/data_models.py": {"plotly": 0, "dataframe": 1},
    "pages/compare.py": {"plotly": 5 + 5 + 1 + 1, "dataframe": 2},
    "pages/referral.py": {"plotly": 2},  # + the curve, drawn by the workbench component
    "pages/triage.py": {"plotly": 0},  # on digits: the one-line explanation
    "pages/monitor.py": {"plotly": 1},
    "pages/glossary.py": {"plotly": 0},
    "pages/upload.py": {"plotly": 0},
    "pages/your_model.py": {"plotly": 0},
    "pages/conformal.py": {"plotly": 1},  # + the two α charts, drawn by the component
    "pages/ood.py": {"plotly": 5, "dataframe": 1},
    "pages/shift.py": {"plotly": 8},
    "pages/your_images.py": {"plotly": 0},
    "pages/intervals.py": {"plotly": 1},  # + the comparison chart and table, in the component
    "pages/learn_regression.py": {"plotly": 2},
    "pages/learn_moons.py": {"plotly": 1},
    "pages/learn_aleatoric.py": {"plotly": 2},
    "pages/learn_active.py": {"plotly": 1},
}


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


def _app(page: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    return at


def _plotly_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


@pytest.mark.parametrize("page", list(PAGES))
def test_page_runs_without_exception(page):
    at = _app(page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    expected = PAGES[page]
    assert _plotly_count(at) >= expected["plotly"]
    if "dataframe" in expected:
        assert len(at.dataframe) >= expected["dataframe"]


def test_every_navigation_page_is_tested_and_every_glossary_link_is_a_page():
    from pathlib import Path

    from uqviz.glossary import GLOSSARY
    from uqviz.ui.navigation import SECTIONS, page_title

    root = Path(__file__).resolve().parents[1]
    paths = {e.path for entries in SECTIONS.values() for e in entries}
    assert all((root / p).is_file() for p in paths)
    assert set(PAGES) | {"pages/embedding.py"} == paths
    for term in GLOSSARY:
        if term.page:
            assert page_title(term.page)


def test_sidebar_has_dataset_methods_and_device():
    at = _app("pages/home.py")
    assert at.sidebar.selectbox(key="dataset").value == "digits"
    assert len(at.sidebar.multiselect(key="methods").value) == 5
    assert any("Device" in c.value for c in at.sidebar.caption)


def test_compare_table_equals_the_core():
    import pandas as pd

    from uqviz.metrics.summary import method_summary
    from uqviz.stream import CLEAN, DEMO_MIX
    from uqviz.ui.backend import study

    at = _app("pages/compare.py")
    for mix in (DEMO_MIX, CLEAN):  # the default stream, then the clean test rows (URL: none)
        if mix is CLEAN:
            at.selectbox(key="stream_shift").set_value("none")
            at.selectbox(key="stream_ood").set_value("none").run()
        assert not at.exception, at.exception
        df = pd.concat([d.value.set_index("Method") for d in at.dataframe], axis=1)
        row = df.loc["Deep ensemble"]
        core = method_summary(study("digits", "deep_ensemble", "app", mix).table_rows)
        for column, key in [("Accuracy", "accuracy"), ("NLL", "nll"), ("ECE", "ece"),
                            ("AURC", "aurc"), ("E-AURC", "eaurc"), ("Brier", "brier")]:
            shown = float(row[column].split(" ")[0])
            assert shown == pytest.approx(core[key], rel=5e-3, abs=1e-12), (mix, column)


def test_compare_overlay_toggle_draws_one_diagram():
    at = _app("pages/compare.py")
    before = _plotly_count(at)
    at.toggle(key="compare_overlay").set_value(True).run()
    assert not at.exception
    assert _plotly_count(at) == before - 4  # five diagrams become one


def _metric(at: AppTest, label: str) -> str:
    """A number of the referral workbench, as the page's policy states it (the numbers on
    screen are drawn by the component in the browser; tests/test_browser_referral_component.py
    checks they are the same)."""
    from uqviz.ui.backend import POLICY_KEY

    policy = json.loads(at.session_state[POLICY_KEY])
    if label == "Referred to a human":
        return f"{100 * policy['expected_referral_rate']:.1f}%"
    assert label == "Accuracy, automated", label
    return f"{100 * policy['expected_automated_accuracy']:.2f}%"


def test_referral_budget_and_target_modes():
    # the sliders are the workbench component's: a committed value lands in session state
    at = _app("pages/referral.py")
    at.radio(key="ref_mode").set_value("budget").run()
    at.session_state["ref_budget"] = 20.0
    at.run()
    assert not at.exception
    referred = float(_metric(at, "Referred to a human").rstrip("%"))
    assert 19.0 <= referred <= 21.5
    at.radio(key="ref_mode").set_value("target").run()
    at.session_state["ref_target"] = 99.5
    at.run()
    acc = float(_metric(at, "Accuracy, automated").rstrip("%"))
    assert acc >= 99.5


def test_referral_threshold_moves_the_numbers():
    at = _app("pages/referral.py")
    first = _metric(at, "Referred to a human")
    at.session_state["ref_threshold"] = 0.0  # the slider's minimum
    at.run()
    assert _metric(at, "Referred to a human") != first


def test_policy_document_contents():
    import numpy as np

    from uqviz.metrics.selective import ReferralIndex
    from uqviz.policy import operating_point, policy_document

    u = np.array([0.1, 0.2, 0.3, 0.4])
    index = ReferralIndex.from_scores(u, np.array([True, True, False, False]))
    point = operating_point(index, "budget", 0.5)
    doc = policy_document(dataset="d", method="m", score="entropy", mode="budget", point=point,
                          when="2026-11-22")
    text = json.dumps(doc)
    assert doc["expected_referral_rate"] == 0.5
    assert doc["expected_automated_accuracy"] == 1.0
    assert doc["threshold"] == pytest.approx(0.2)
    assert "NaN" not in text


def test_table_cells_keep_three_significant_figures():
    from uqviz.ui.tables import format_cell, significant

    assert significant(0.000312) == "0.000312"
    assert significant(0.98912) == "0.989"
    assert format_cell(0.5, 0.4, 0.61, True) == "0.500 [0.400, 0.610] ★"
    assert format_cell(float("nan"), 0, 0, False) == "–"
