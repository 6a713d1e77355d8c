"""The Story page under AppTest: six steps whose numbers come from the core's ``story``."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app_fixtures import framed_page, pretrain_digits


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


def test_six_steps_with_charts_and_numbers_from_the_data():
    from uqviz.methods import METHOD_IDS
    from uqviz.story import story
    from uqviz.stream import DEMO_MIX
    from uqviz.ui.backend import comparison

    at = framed_page("pages/story.py")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    headings = [h.value for h in at.subheader]
    assert [h[:1] for h in headings] == list("123456")
    assert len(at.get("plotly_chart")) == 6
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
    assert {"compare", "referral", "ood", "monitor"} <= set(links)
    # step 6: the Monitor page's default numbers (the deep ensemble's demo drift stream)
    drift = core.drift.summary
    assert drift.first_alarm is not None
    assert headings[5].endswith(f"the alarm fires at batch {drift.alarm_batch}")
    from uqviz.ui.monitor import alarm_sentence, estimate_sentence

    assert any(alarm_sentence(drift) in m.value and estimate_sentence(drift) in m.value
               for m in at.markdown)


def test_the_last_step_is_the_monitor_pages_default():
    from uqviz.monitor import demo_drift_stream, watch_stream
    from uqviz.sources import TrainedSource
    from uqviz.story import drift_watch
    from uqviz.study import Study

    p = TrainedSource("digits").predictions(["deep_ensemble"])["deep_ensemble"]
    story_drift = drift_watch(Study(p)).summary
    page_default = watch_stream(demo_drift_stream(p), batch_size=20, alpha=0.05,
                                estimator="doc").summary
    assert story_drift == page_default
    assert story_drift.estimate.estimate > story_drift.true_accuracy  # the estimate lags


def test_a_clean_stream_still_tells_the_story():
    at = framed_page("pages/story.py", stream_shift="none", stream_ood="none")
    assert not at.exception, at.exception
    assert len(at.subheader) == 6


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
