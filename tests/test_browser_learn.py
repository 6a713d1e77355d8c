"""The Learn pages in a real browser: each renders its charts without an exception, a moved
control redraws, and a screenshot of each lands in artifacts/screenshots/."""

import pytest

from tests.browser import chromium_missing_reason, exceptions, screenshot, settle

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

PAGES = {"learn_regression": 2, "learn_moons": 1, "learn_aleatoric": 2}


def _charts(page) -> int:
    page.wait_for_selector(".js-plotly-plot")
    return page.locator(".js-plotly-plot").count()


@pytest.mark.parametrize("path", list(PAGES))
def test_learn_page_renders(page, app_url, path):
    page.goto(f"{app_url}/{path}")
    settle(page)
    assert exceptions(page) == []
    assert _charts(page) == PAGES[path]
    screenshot(page, path)


def test_regression_members_slider_redraws(page, app_url):
    page.goto(f"{app_url}/learn_regression")
    settle(page)
    values = page.locator('[data-testid="stMetricValue"]')
    before = values.all_inner_texts()
    assert len(before) == 3
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    thumb.focus()
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    settle(page)
    page.wait_for_timeout(500)
    assert exceptions(page) == []
    after = values.all_inner_texts()
    assert after != before, "four members instead of ten should change the σ shown"
    assert float(after[1]) > float(after[0]) and float(after[2]) > float(after[0])
    screenshot(page, "learn_regression_4_members")


def test_aleatoric_worked_example_follows_the_sliders(page, app_url):
    page.goto(f"{app_url}/learn_aleatoric")
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    assert "**" not in main.inner_text()
    assert "0.185" in main.inner_text()  # mutual information of 0.9, 0.6, 0.2
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    thumb.focus()
    for _ in range(8):  # 0.9 -> 0.5
        page.keyboard.press("ArrowLeft")
    settle(page)
    page.wait_for_timeout(500)
    assert exceptions(page) == []
    assert "0.185" not in main.inner_text()
    screenshot(page, "learn_aleatoric_moved")


def test_glossary_search_and_links_to_learn_pages(page, app_url):
    page.goto(f"{app_url}/glossary")
    settle(page)
    links = page.locator('[data-testid="stPageLink"]')
    total = links.count()
    box = page.get_by_label("Find a term")
    box.fill("prior")
    box.press("Enter")
    settle(page)
    page.wait_for_timeout(500)
    assert exceptions(page) == []
    assert 0 < links.count() < total
    screenshot(page, "glossary_search")
    page.get_by_text("See it: Ensembles in 1-D").first.click()
    settle(page)
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Ensembles in 1-D"
