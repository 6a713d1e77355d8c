"""The first visit of a freshly started server, as a newcomer (or a page-watching tool such as
``look_at_pages.py``) sees it: while the page computes, the "Running…" indicator shows; once it
has finished, the sidebar lists the app's own pages, all of them, and Streamlit's old
``pages/`` folder list ("app", "compare", …) never comes back after the app's navigation."""

import pytest

from tests.browser import chromium_missing_reason, read_until, settle, streamlit_server
from uqviz.ui.navigation import SECTIONS

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

NAV_LINKS = '[data-testid="stSidebarNav"] a, [data-testid="stSidebarNavLink"]'


def _nav_titles(page) -> list[str]:
    """The sidebar's link texts, read in one go (the list may be redrawn between two calls)."""
    texts = page.evaluate(
        "(sel) => [...document.querySelectorAll(sel)].map(a => a.innerText)", NAV_LINKS)
    return [t for t in (x.split("\n")[-1].strip() for x in texts) if t]


def test_a_deep_link_on_a_fresh_server_shows_the_app_navigation_and_its_progress(browser):
    titles = {e.title for entries in SECTIONS.values() for e in entries}
    with streamlit_server() as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/glossary")
            snapshots: list[list[str]] = []
            running: list[bool] = []

            def first_run_done() -> bool:
                """Record the sidebar and the "Running…" widget; done once the title is drawn
                and the script no longer runs."""
                snapshots.append(_nav_titles(page))
                running.append(page.locator('[data-testid="stStatusWidget"]').count() > 0)
                state = page.locator('[data-testid="stApp"]').get_attribute(
                    "data-test-script-state")
                return bool(page.locator('[data-testid="stMain"] h1').count()
                            and state == "notRunning")

            read_until(first_run_done, bool, timeout=90)  # settle() waits on if it runs longer
            running_shown = any(running)
            settle(page)
            final = _nav_titles(page)
        finally:
            page.close()
    assert running_shown, "no 'Running…' indicator while the first run computed"
    assert set(final) == titles and len(final) == len(titles)  # none behind "View more"
    first_own = next(i for i, s in enumerate(snapshots) if s and set(s) <= titles)
    later = {t for s in snapshots[first_own:] for t in s}
    assert later <= titles, sorted(later - titles)
