"""The three Learn pages and the glossary under AppTest: they run, draw their charts, and a
moved control changes what is drawn. No dataset or trained model is needed."""

from __future__ import annotations

import pytest

from tests.app_fixtures import framed_page

TIMEOUT = 120


def _charts(at) -> list:
    return list(at.get("plotly_chart"))


def _figure(at, index: int) -> dict:
    import json

    return json.loads(_charts(at)[index].proto.spec)


def _ok(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_regression_page_draws_both_figures_and_the_spread():
    at = framed_page("pages/learn_regression.py", TIMEOUT)
    _ok(at)
    assert len(_charts(at)) == 2
    main = _figure(at, 0)
    members = [t for t in main["data"] if t.get("name") == "each member"]
    assert len(members) == 10
    metrics = {m.label: float(m.value) for m in at.metric}
    assert metrics["σ in the gap"] > metrics["σ inside the data"]
    assert metrics["σ outside the data"] > metrics["σ inside the data"]
    four = _figure(at, 1)
    titles = [a["text"] for a in four["layout"]["annotations"]]
    assert titles[:4] == ["Plain ensemble", "With prior", "Prior + bootstrap",
                          "Sine prior + bootstrap"]


def test_regression_page_members_slider_and_no_prior():
    at = framed_page("pages/learn_regression.py", TIMEOUT)
    at.slider(key="reg_members").set_value(4)
    at.toggle(key="reg_show_members").set_value(False)
    at.run()
    _ok(at)
    main = _figure(at, 0)
    assert not [t for t in main["data"] if t.get("name") == "each member"]
    at.toggle(key="reg_show_members").set_value(True)
    at.radio(key="reg_prior").set_value("None")
    at.run()
    _ok(at)
    members = [t for t in _figure(at, 0)["data"] if t.get("name") == "each member"]
    assert len(members) == 4
    assert at.slider(key="reg_beta").proto.disabled


def test_moons_page_draws_one_row_per_score():
    at = framed_page("pages/learn_moons.py", TIMEOUT)
    _ok(at)
    (chart,) = _charts(at)
    fig = _figure(at, 0)
    heatmaps = [t for t in fig["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 3 * 5  # P(class 1), entropy, mutual information × five methods
    columns = [a["text"] for a in fig["layout"]["annotations"][:5]]
    assert columns == ["Softmax", "MC dropout", "Deep ensemble", "Prior ensemble", "SNGP"]
    at.pills(key="moons_scores").set_value(["expected_entropy"])
    at.run()
    _ok(at)
    heatmaps = [t for t in _figure(at, 0)["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 2 * 5


def test_moons_page_without_scores_says_how_to_add_one():
    at = framed_page("pages/learn_moons.py", TIMEOUT)
    at.pills(key="moons_scores").set_value([])
    at.run()
    _ok(at)
    assert at.info and "Pick an uncertainty score" in at.info[0].value


def test_aleatoric_page_numbers_are_the_app_scores():
    import numpy as np

    from uqviz.metrics.scores import entropy, expected_entropy, mutual_information
    from uqviz.teaching.decomposition import WORKED_EXAMPLE

    at = framed_page("pages/learn_aleatoric.py", TIMEOUT)
    _ok(at)
    assert len(_charts(at)) == 2
    p = np.array(WORKED_EXAMPLE)
    probs = np.stack([1 - p, p], axis=1)[:, None, :]
    text = " ".join(m.value for m in at.markdown)
    for value in (entropy(probs)[0], expected_entropy(probs)[0], mutual_information(probs)[0]):
        assert f"**{value:.3f}**" in text
    at.slider(key="ale_member_0").set_value(0.5)
    at.slider(key="ale_member_1").set_value(0.5)
    at.slider(key="ale_member_2").set_value(0.5)
    at.run()
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Mutual information (epistemic)** = 0.693 − 0.693 = **0.000**" in text


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_aleatoric_page_toy_sliders(noise):
    at = framed_page("pages/learn_aleatoric.py", TIMEOUT)
    at.slider(key="ale_noise").set_value(noise)
    at.slider(key="ale_points").set_value(100)
    at.run()
    _ok(at)
    fig = _figure(at, 1)
    flipped = [t for t in fig["data"] if t.get("name") == "flipped label (noise)"]
    n_flipped = len(flipped[0]["x"]) if flipped and "x" in flipped[0] else 0
    assert (n_flipped > 0) == (noise > 0)


def test_glossary_links_the_learn_pages():
    from uqviz.glossary import GLOSSARY

    at = framed_page("pages/glossary.py", TIMEOUT)
    _ok(at)
    pages = {t.page for t in GLOSSARY}
    assert {"pages/learn_regression.py", "pages/learn_moons.py",
            "pages/learn_aleatoric.py"} <= pages
    assert len(at.get("page_link")) == sum(t.page is not None for t in GLOSSARY)


def test_glossary_search_filters_terms():
    at = framed_page("pages/glossary.py", TIMEOUT)
    at.text_input(key="glossary_query").set_value("prior")
    at.run()
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "**Prior ensemble**" in text and "**NLL**" not in text
    at.text_input(key="glossary_query").set_value("zzz")
    at.run()
    assert at.info and "No term mentions" in at.info[0].value
