"""The Confidence intervals and Active learning pages in a real browser: charts drawn, the
subsample slider moved, strategies changed. Screenshots go to artifacts/screenshots/."""

import pytest

from tests.browser import chromium_missing_reason, exceptions, screenshot, settle

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]


def _legend(page) -> list[str]:
    return page.locator(".js-plotly-plot .legendtext").all_text_contents()


def test_intervals_page_slider_shrinks_the_sample(page, app_url):
    page.goto(f"{app_url}/intervals")
    settle(page)
    assert exceptions(page) == []
    page.locator('.cis[data-ready="true"]').wait_for(timeout=60_000)
    page.wait_for_selector(".js-plotly-plot")
    assert page.locator(".js-plotly-plot").count() == 1  # the widths; the comparison is SVG
    rows = page.locator(".cis-table-body tr").count()  # one per method
    assert rows >= 2 and page.locator(".cis-chart .cis-row").count() == 3 * rows
    assert page.locator("text=/Accuracy on 4\\d\\d test rows/").count() >= 1
    screenshot(page, "intervals")

    thumb = page.get_by_role("slider", name="Test rows used (a seeded random subsample)")
    thumb.focus()
    page.keyboard.press("Home")  # the smallest subsample: 20 rows, at once
    assert page.locator("text=Accuracy on 20 test rows").count() >= 1
    page.wait_for_url("**ci_rows=20*", timeout=30_000)  # committed after a pause
    settle(page)
    page.wait_for_timeout(500)
    assert exceptions(page) == []
    assert page.locator("text=n = 20 (slider)").count() >= 1
    screenshot(page, "intervals-20-rows")


def test_active_learning_page_draws_and_reacts(page, app_url):
    page.goto(f"{app_url}/learn_active")
    settle(page, timeout=300)
    assert exceptions(page) == []
    page.wait_for_selector(".js-plotly-plot")
    legend = _legend(page)
    assert legend == ["Random", "Max entropy", "Min margin", "BALD"]
    assert page.locator('[data-testid="stMetric"]').count() == 4
    screenshot(page, "learn-active")

    page.locator('[data-testid="stMain"] button[aria-label="Remove Max entropy"]').first.click()
    settle(page)
    assert exceptions(page) == []
    legend = _legend(page)
    assert "Max entropy" not in legend and len(legend) == 3
