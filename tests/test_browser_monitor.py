"""The Monitor page in a real browser (the session's Streamlit server on digits, Debian's
chromium): on the default it states when the alarm fired, beside the estimate and the truth,
draws its chart, and a moved α slider changes the sentence. Every check waits for a condition,
never a fixed time.

Screenshot: artifacts/screenshots/monitor.png.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    WAIT_S,
    chromium_missing_reason,
    exceptions,
    screenshot,
    settle,
    settle_until,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

ALARM = re.compile(r"The (drift|accuracy) alarm fired at batch (\d+) of (\d+) \(α = ([\d.]+)%\)")


def _sentence(page) -> str:
    found = page.locator('[data-testid="stMarkdownContainer"]', has_text=ALARM)
    return found.first.inner_text() if found.count() else ""


def test_the_monitor_page_shows_the_alarm_and_its_chart(page, app_url):
    from playwright.sync_api import expect

    from uqviz.monitor import demo_drift_stream, watch_stream
    from uqviz.sources import TrainedSource

    page.goto(f"{app_url}/monitor")
    settle(page)
    assert exceptions(page) == []
    expect(page.locator(".js-plotly-plot")).to_have_count(1, timeout=WAIT_S * 1000)
    text = settle_until(page, lambda: _sentence(page), what="the alarm sentence")
    p = TrainedSource("digits").predictions(["deep_ensemble"])["deep_ensemble"]
    core = watch_stream(demo_drift_stream(p), batch_size=20, alpha=0.05).summary
    found = ALARM.search(text)
    assert found and found.group(2) == core.alarm_batch and found.group(4) == "5", text
    assert "estimate without labels" in text and "true accuracy" in text
    assert page.locator(".js-plotly-plot").first.locator("text", has_text="drift alarm").count()
    screenshot(page, "monitor")

    slider = page.get_by_role("slider", name=re.compile("α"))
    slider.focus()
    for _ in range(4):  # 5% -> 1%
        page.keyboard.press("ArrowLeft")
    after = settle_until(page, lambda: "α = 1%" in (t := _sentence(page)) and t,
                         what="the sentence to name α = 1%")
    strict = watch_stream(demo_drift_stream(p), batch_size=20, alpha=0.01).summary
    assert ALARM.search(after).group(2) == strict.alarm_batch, after
    assert exceptions(page) == []
