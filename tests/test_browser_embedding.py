"""The embedding map in a real browser: the PCA map at once, the UMAP map once the background
job (a real ``python -m uqviz embed`` subprocess) has written it, then a box selection with the
mouse lists the images. Screenshots go to artifacts/screenshots/.

This is the test that waits for UMAP: about a minute on two busy cores when numba compiles
from scratch (an empty cache), seconds once ``<cache>/numba`` is filled."""

import re
import time

import pytest

from tests.browser import (
    ARTIFACTS,
    WAIT_S,
    chromium_missing_reason,
    exceptions,
    screenshot,
    settle,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

UMAP_WAIT_S = 300


def _forget_umap(method: str) -> None:
    """Remove a cached UMAP (and its lock) so that the page must compute it in the background."""
    from uqviz.embedding import umap_path
    from uqviz.sources import TrainedSource
    from uqviz.study import Study
    from uqviz.ui.embedding_backend import UMAP_PARAMS

    # the rows the page maps: the study's, with the fit rows set aside
    preds = Study(TrainedSource("digits").predictions([method])[method]).predictions
    path = umap_path(preds.features, UMAP_PARAMS)
    assert len(preds.features) == len(preds.labels)
    for p in (path, path.with_suffix(".lock"), path.with_suffix(".log")):
        p.unlink(missing_ok=True)


def test_pca_at_once_then_umap_then_box_selection_lists_images(page, app_url):
    from playwright.sync_api import expect

    _forget_umap("softmax")
    start = time.perf_counter()
    page.goto(f"{app_url}/embedding")
    settle(page)
    assert exceptions(page) == []
    expect(page.locator('[data-testid="stPlotlyChart"] .gtitle').first).to_have_text(
        re.compile(r"^PCA of Softmax"), timeout=WAIT_S * 1000)
    assert page.get_by_text("Computing the UMAP map in the background").count() == 1
    pca_s = time.perf_counter() - start
    screenshot(page, "embedding_pca")

    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .gtitle')]"
        ".some(t => t.textContent.startsWith('UMAP of'))", timeout=UMAP_WAIT_S * 1000)
    umap_s = time.perf_counter() - start
    print(f"embedding page: PCA map after {pca_s:.1f} s, UMAP map after {umap_s:.1f} s")
    settle(page)
    assert exceptions(page) == []
    assert page.get_by_text("Computing the UMAP map").count() == 0
    assert page.locator('[data-testid="stRadio"]').count() == 1  # UMAP / PCA switch
    screenshot(page, "embedding_umap")

    # hover the most uncertain dot (drawn last): set, labels, prediction and scores
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        const t = gd._fullData[0], n = t.x.length - 1, L = gd._fullLayout;
        const r = gd.getBoundingClientRect();
        return [r.left + L._size.l + L.xaxis.l2p(t.x[n]), r.top + L._size.t + L.yaxis.l2p(t.y[n])];
    }""")
    page.mouse.move(x, y)
    hover = page.locator(".hoverlayer .hovertext").first
    expect(hover).to_contain_text("Predictive entropy", timeout=10_000)
    text = hover.text_content() or ""
    assert "true:" in text and "predicted:" in text and "Predictive entropy" in text, text
    page.screenshot(path=str(ARTIFACTS / "embedding_hover.png"))  # the viewport, hover kept

    page.get_by_text("Select dots on the map").wait_for()
    drag = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
    box = drag.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=12)
    page.mouse.up()
    heading = page.get_by_text(re.compile(r"^[\d,]+ selected images$"))
    heading.wait_for(timeout=60_000)
    settle(page)
    assert exceptions(page) == []
    selected = int(heading.inner_text().split()[0].replace(",", ""))
    assert 0 < selected < 4490
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1, timeout=WAIT_S * 1000)
    screenshot(page, "embedding_selection")

    # another colouring: one legend entry per severity, clean and OOD included
    page.locator('[data-testid="stSelectbox"]', has_text="Colour by").click()
    page.get_by_role("option", name="Corruption severity").click()
    page.get_by_text("blue = clean, yellow to purple = severity 1 to 5").wait_for()
    settle(page)
    assert exceptions(page) == []
    legend = page.locator('[data-testid="stPlotlyChart"] .legend .traces')
    expect(legend).to_have_count(7, timeout=WAIT_S * 1000)  # Clean, 1–5, OOD
    screenshot(page, "embedding_severity")
