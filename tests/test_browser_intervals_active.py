"""The Confidence intervals and Active learning pages in a real browser: charts drawn, the
subsample slider moved, strategies changed. Screenshots go to artifacts/screenshots/."""

import pytest

from tests.browser import (
    WAIT_S,
    chromium_missing_reason,
    eventually_equal,
    exceptions,
    read_until,
    screenshot,
    settle,
    settle_until,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]


def _legend(page) -> list[str]:
    return page.locator(".js-plotly-plot .legendtext").all_text_contents()


def test_intervals_page_slider_shrinks_the_sample(page, app_url):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/intervals")
    settle(page)
    assert exceptions(page) == []
    page.locator('.cis[data-ready="true"]').wait_for(timeout=60_000)
    # the widths are the one Plotly chart; the comparison is SVG
    expect(page.locator(".js-plotly-plot")).to_have_count(1, timeout=WAIT_S * 1000)
    rows = page.locator(".cis-table-body tr").count()  # one per method
    assert rows >= 2 and page.locator(".cis-chart .cis-row").count() == 3 * rows
    expect(page.locator("text=/Accuracy on 4\\d\\d test rows/").first).to_be_visible()
    screenshot(page, "intervals")

    thumb = page.get_by_role("slider", name="Test rows used (a seeded random subsample)")
    thumb.focus()
    page.keyboard.press("Home")  # the smallest subsample: 20 rows, at once
    expect(page.locator("text=Accuracy on 20 test rows").first).to_be_visible(timeout=30_000)
    page.wait_for_url("**ci_rows=20*", timeout=30_000)  # committed after a pause
    settle_until(page, lambda: page.locator("text=n = 20 (slider)").count() >= 1,
                 what="the widths chart to mark 20 rows")
    assert exceptions(page) == []
    screenshot(page, "intervals-20-rows")


def test_active_learning_page_draws_and_reacts(page, app_url):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/learn_active")
    settle(page, timeout=300)
    assert exceptions(page) == []
    page.wait_for_selector(".js-plotly-plot")
    eventually_equal(lambda: _legend(page), ["Random", "Max entropy", "Min margin", "BALD"])
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(4, timeout=WAIT_S * 1000)
    screenshot(page, "learn-active")

    page.locator('[data-testid="stMain"] button[aria-label="Remove Max entropy"]').first.click()
    settle_until(page, lambda: "Max entropy" not in _legend(page),
                 what="the chart to drop Max entropy")
    assert exceptions(page) == []
    legend = read_until(lambda: _legend(page), lambda names: len(names) == 3)
    assert "Max entropy" not in legend and len(legend) == 3
