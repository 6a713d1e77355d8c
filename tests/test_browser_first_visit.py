"""The first visit of a freshly started server, as a newcomer (or a page-watching tool) sees it:
the app's own navigation from the first paint, never Streamlit's old ``pages/`` folder list."""

import time

import pytest

from tests.browser import chromium_missing_reason, settle, streamlit_server
from uqviz.ui.navigation import SECTIONS

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

NAV_LINKS = '[data-testid="stSidebarNav"] a, [data-testid="stSidebarNavLink"]'


def test_a_deep_link_on_a_fresh_server_never_shows_the_pages_folder_navigation(browser):
    titles = {e.title for entries in SECTIONS.values() for e in entries}
    with streamlit_server() as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/glossary")
            seen: list[str] = []
            deadline = time.time() + 60
            while time.time() < deadline:
                links = page.locator(NAV_LINKS)
                seen += [links.nth(i).inner_text().split("\n")[-1] for i in range(links.count())]
                if page.locator('[data-testid="stMain"] h1').count():
                    break
                time.sleep(0.1)
            settle(page)
            links = page.locator(NAV_LINKS)
            final = {links.nth(i).inner_text().split("\n")[-1] for i in range(links.count())}
        finally:
            page.close()
    assert seen, "no navigation was drawn"
    assert set(seen) <= titles, sorted(set(seen) - titles)  # e.g. "app", "learn active"
    assert final == titles  # every page listed, none behind "View more"
