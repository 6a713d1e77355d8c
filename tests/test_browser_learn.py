"""The Learn pages in a real browser: each renders its charts without an exception, a moved
control redraws, and a screenshot of each lands in artifacts/screenshots/.

Every check after a moved control waits for what the control should change (the new numbers,
the new text), never a fixed time: on a loaded machine a rerun takes seconds."""

import re

import pytest

from tests.browser import (
    WAIT_S,
    chromium_missing_reason,
    exceptions,
    screenshot,
    settle,
    settle_until,
    title_heading,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

PAGES = {"learn_regression": 2, "learn_moons": 1, "learn_aleatoric": 2}


@pytest.mark.parametrize("path", list(PAGES))
def test_learn_page_renders(page, app_url, path):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/{path}")
    settle(page)
    assert exceptions(page) == []
    expect(page.locator(".js-plotly-plot")).to_have_count(PAGES[path], timeout=WAIT_S * 1000)
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
    # four members instead of ten: the σ shown change; read them once the rerun has finished
    after = settle_until(page, lambda: (v := values.all_inner_texts()) != before and v,
                         what="the σ shown to change with four members")
    assert len(after) == 3
    assert exceptions(page) == []
    assert float(after[1]) > float(after[0]) and float(after[2]) > float(after[0])
    screenshot(page, "learn_regression_4_members")


def test_aleatoric_worked_example_follows_the_sliders(page, app_url):
    from playwright.sync_api import expect

    from uqviz.teaching.decomposition import WORKED_EXAMPLE, decompose

    page.goto(f"{app_url}/learn_aleatoric")
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    assert "**" not in main.inner_text()
    assert "0.185" in main.inner_text()  # mutual information of 0.9, 0.6, 0.2
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    thumb.focus()
    for _ in range(8):  # 0.9 -> 0.5
        page.keyboard.press("ArrowLeft")
    moved = decompose([0.5, *WORKED_EXAMPLE[1:]])
    terms = " + ".join(f"H({p:.2f})" for p in moved.member_probs[:, 1])
    expected = (f"Mutual information (epistemic) = {moved.total:.3f} − {moved.aleatoric:.3f} = "
                f"{moved.epistemic:.3f} nats")
    settle_until(page, lambda: expected in main.inner_text() and terms in main.inner_text(),
                 what=f"the worked example of 0.5, 0.6, 0.2 ({expected})")
    expect(main).not_to_contain_text("0.185")
    assert exceptions(page) == []
    screenshot(page, "learn_aleatoric_moved")


def test_glossary_search_and_links_to_learn_pages(page, app_url):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/glossary")
    settle(page)
    links = page.locator('[data-testid="stPageLink"]')
    total = links.count()
    box = page.get_by_label("Find a term")
    box.fill("prior")
    box.press("Enter")
    settle_until(page, lambda: 0 < links.count() < total,
                 what=f"the search to keep some of the {total} links")
    assert exceptions(page) == []
    screenshot(page, "glossary_search")
    page.get_by_text("See it: Ensembles in 1-D").first.click()
    heading = title_heading(page, "Ensembles in 1-D")
    heading.wait_for(timeout=WAIT_S * 1000)
    settle(page)
    expect(page.locator('[data-testid="stMain"] h1').first).to_have_text(
        re.compile(r"^\s*Ensembles in 1-D\s*$"))
