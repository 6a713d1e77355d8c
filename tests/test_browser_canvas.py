"""The drawing canvas of "Your images" in a real browser: draw a digit with the mouse, then
every method chosen in the sidebar shows a prediction for it. Screenshot in
artifacts/screenshots/your_images_drawn.png."""

import math
import re
import time

import pytest

from tests.browser import (
    chromium_missing_reason,
    exceptions,
    screenshot,
    settle,
    stable_box,
    wait_until,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

CANVAS_KEY = "your_images_canvas"  # pages/your_images.py: CANVAS_KEY (st-key-<key> class)
# The component (streamlit-drawable-canvas 0.13, a custom component v2) renders in the page's
# own DOM inside an open shadow root, which Playwright's CSS selectors pierce; Fabric.js puts
# its pointer-event layer on top as canvas.upper-canvas. An iframe (components v1) is tried too.
CANVAS_SELECTORS = [f".st-key-{CANVAS_KEY} canvas.upper-canvas",
                    '[data-testid="stMain"] canvas.upper-canvas']
# A "0": an ellipse (centre, half-width, half-height as fractions of the canvas), 48 segments.
ZERO = [(0.5 + 0.22 * math.sin(2 * math.pi * k / 48), 0.5 - 0.32 * math.cos(2 * math.pi * k / 48))
        for k in range(49)]
SIDEBAR_METHOD_TAGS = ('[data-testid="stSidebar"] [data-testid="stMultiSelect"] '
                       '[data-testid="stMultiSelectTagsContainer"] [data-tag]')


def _drawing_surface(page, timeout: float = 120.0):
    """The canvas that takes the mouse: in the page (shadow DOM) or in a component iframe."""
    def visible_canvas():
        for selector in CANVAS_SELECTORS:
            loc = page.locator(selector)
            if loc.count() and loc.first.is_visible():
                return loc.first
        for i in range(page.locator('[data-testid="stMain"] iframe').count()):
            loc = page.frame_locator('[data-testid="stMain"] iframe').nth(i).locator(
                "canvas.upper-canvas")
            if loc.count() and loc.first.is_visible():
                return loc.first
        return None

    return wait_until(visible_canvas, timeout=timeout,
                      what="a drawing canvas on the Your images page")


def _draw(page, canvas, stroke) -> None:
    """One mouse stroke through ``stroke`` (fractions of the canvas), in page coordinates."""
    canvas.scroll_into_view_if_needed()
    box = stable_box(canvas)  # the scroll has ended: Fabric's offset is where the canvas is
    assert box and box["width"] > 100 and box["height"] > 100, box

    def at(fx, fy):
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    page.mouse.move(*at(*stroke[0]))
    page.mouse.down()
    for point in stroke[1:]:
        page.mouse.move(*at(*point), steps=3)
    page.mouse.up()


def _sidebar_methods(page) -> list[str]:
    """The labels of the methods chosen in the sidebar's multiselect, in order."""
    tags = page.locator(SIDEBAR_METHOD_TAGS)
    labels = [tags.nth(i).get_attribute("aria-label") or tags.nth(i).inner_text()
              for i in range(tags.count())]
    return list(dict.fromkeys(re.sub(r"\s+", " ", t).strip() for t in labels))


def _table_rows(page) -> list[list[str]]:
    """The body rows of the predictions table, from the grid's accessible cells (the cells
    themselves are painted on a canvas)."""
    rows = page.locator('[data-testid="stDataFrame"] [role="row"]')
    out = []
    for i in range(rows.count()):
        cells = rows.nth(i).locator('[role="gridcell"]')
        if cells.count():
            out.append([c.strip() for c in cells.all_text_contents()])
    return out


def _chart_predictions(page) -> dict[str, int]:
    """Per predictive-distribution chart: its title and the index of its tallest bar."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll(
            '[data-testid="stMain"] .js-plotly-plot')].map(d => {
            const title = d.layout && d.layout.title;
            const y = Array.from((d._fullData && d._fullData[0] && d._fullData[0].y) || []);
            return [title ? (title.text || title) : '', y.indexOf(Math.max(...y))];
        }))""")


def test_draw_a_digit_and_every_method_predicts_it(page, app_url):
    page.goto(f"{app_url}/your_images")
    settle(page)
    assert exceptions(page) == []

    methods = _sidebar_methods(page)
    from uqviz.methods import METHOD_IDS, METHODS

    assert methods == [METHODS[m].label for m in METHOD_IDS], (
        "the sidebar's default methods should be a dataset's default methods")
    caption = page.locator('[data-testid="stCaptionContainer"]',
                           has_text="looks at your pictures").first.inner_text()
    classes = re.search(r"classes ([^)]*)\)", caption).group(1).split(", ")
    assert classes == [str(d) for d in range(10)], caption

    drawing = page.locator('[data-testid="stHeading"]', has_text="your drawing")
    assert drawing.count() == 0 and page.locator('[data-testid="stDataFrame"]').count() == 0

    started = time.time()
    _draw(page, _drawing_surface(page), ZERO)
    drawing.wait_for(timeout=180_000)
    page.locator('[data-testid="stDataFrame"] [role="gridcell"]').nth(
        5 * len(methods) - 1).wait_for(state="attached", timeout=180_000)
    page.locator('[data-testid="stMain"] .js-plotly-plot').nth(len(methods) - 1).wait_for(
        timeout=180_000)
    settle(page)
    reacted = time.time() - started
    assert exceptions(page) == []

    rows = _table_rows(page)
    predicted = {row[0]: row[1] for row in rows}
    assert [row[0] for row in rows] == methods, rows
    for method, cls in predicted.items():
        assert cls in classes, f"{method} shows no class for the drawing: {cls!r}"
    # the drawing reaches the models upright and white on black: a clear "0" reads as 0
    assert sum(cls == "0" for cls in predicted.values()) * 2 >= len(methods), predicted
    for row in rows:
        assert 0.0 < float(row[2]) <= 1.0, row  # max prob.

    charts = _chart_predictions(page)
    assert sorted(charts) == sorted(methods), charts
    for method in methods:
        assert classes[charts[method]] == predicted[method], (method, charts, predicted)
        assert page.get_by_text(method, exact=True).count() >= 1

    path = screenshot(page, "your_images_drawn")
    assert path.exists() and path.stat().st_size > 20_000
    print(f"predictions {predicted}; page reacted in {reacted:.1f} s")
