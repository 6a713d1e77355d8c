"""The Story page under AppTest: five steps whose numbers come from the core's ``story``."""

from __future__ import annotations

import pytest

from tests.app_fixtures import framed_page, pretrain_digits


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


def test_five_steps_with_charts_and_numbers_from_the_data():
    from uqviz.methods import METHOD_IDS
    from uqviz.story import story
    from uqviz.stream import DEMO_MIX
    from uqviz.ui.backend import comparison

    at = framed_page("pages/story.py")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    headings = [h.value for h in at.subheader]
    assert [h[:1] for h in headings] == list("12345")
    assert len(at.get("plotly_chart")) == 5
    methods = tuple(METHOD_IDS)
    core = story(comparison("digits", methods), comparison("digits", methods, "app", DEMO_MIX))
    assert f"right {100 * core.clean_accuracy['softmax'][0]:.1f}%" in headings[0]
    assert f"wrong on {100 * core.confidently_wrong['softmax'][0]:.1f}%" in headings[1]
    point = core.referral["deep_ensemble"]
    assert f"to {100 * point.automated_error_rate:.1f}%" in headings[3]
    assert f"at least {100 * core.guarantee.certified.accuracy_bound:.1f}%" in headings[4]
    links = [link.proto.page for link in at.get("page_link")]
    assert {"compare", "referral", "ood"} <= set(links)


def test_a_clean_stream_still_tells_the_story():
    at = framed_page("pages/story.py", stream_shift="none", stream_ood="none")
    assert not at.exception, at.exception
    assert len(at.subheader) == 5
