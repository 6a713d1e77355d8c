"""The Story page under AppTest: five steps whose numbers come from the core's ``story``."""

from __future__ import annotations

import numpy as np
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
    # the default (digits, the shipped seed-0 networks, the demo stream) shows the difference
    # beyond its interval: softmax 11.4% against the deep ensemble's 5.6% confidently wrong,
    # 5.8 fewer per 100 on the same cases (paired 95% CI 3.1 to 8.2)
    gap = core.fewer_confidently_wrong
    assert gap[1] > 0, gap
    assert any("fewer per 100 (paired 95% CI" in m.value for m in at.markdown)
    links = [link.proto.page for link in at.get("page_link")]
    assert {"compare", "referral", "ood"} <= set(links)


def test_a_clean_stream_still_tells_the_story():
    at = framed_page("pages/story.py", stream_shift="none", stream_ood="none")
    assert not at.exception, at.exception
    assert len(at.subheader) == 5


def test_paired_gap_is_the_mean_difference_with_a_paired_interval():
    from uqviz.story import paired_gap

    base = np.array([1, 1, 1, 0, 0, 1, 0, 0] * 25, dtype=bool)  # 50%
    other = np.array([0, 1, 0, 0, 0, 0, 0, 0] * 25, dtype=bool)  # 12.5%: a subset of base
    value, lo, hi = paired_gap(base, other)
    assert value == pytest.approx(0.375)
    assert 0 < lo < value < hi
    # the same cases: the paired interval is narrower than the unpaired (two-sample) one
    from uqviz.metrics.bootstrap import bootstrap_two_sample_ci

    ulo, uhi = bootstrap_two_sample_ci(lambda a, b: a.mean() - b.mean(), base.astype(float),
                                       other.astype(float), n_resamples=2000, seed=0)
    assert hi - lo < uhi - ulo
    assert all(np.isnan(paired_gap(np.array([]), np.array([]))))
