"""The confidence intervals' subsample component in a real browser, on a predictions file of two
methods.

* What it shows (table, warnings, caption, chart labels and tooltips) equals the Python core's
  ``accuracy_intervals(correct, [n], n_resamples=None)`` formatted as the page formatted it, to
  the digit shown, at both ends and at random sizes (the browser computes none of it: it looks
  up Python's table, tests/test_components_node.py).
* The keyboard (arrows, PageUp/PageDown, Home/End) and the mouse move the slider (a native
  ``<input type="range">`` with a visible label) and the numbers; the committed size reaches
  the URL, the widths chart and a reload.

Screenshot: artifacts/screenshots/interval-subsample.png.
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus

import numpy as np
import pytest

from tests.browser import (
    chromium_missing_reason,
    eventually_equal,
    exceptions,
    read_until,
    screenshot,
    settle,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

ROWS = 3000
SMALLEST = 20
CLASSES = 4


def _probs(correct: np.ndarray, labels: np.ndarray, rng) -> np.ndarray:
    """Random probabilities whose top class is the label exactly where ``correct``."""
    probs = rng.dirichlet(np.ones(CLASSES), correct.size)
    rows = np.arange(correct.size)
    top = probs.argmax(1)
    wrong = (labels + 1 + rng.integers(0, CLASSES - 1, correct.size)) % CLASSES
    want = np.where(correct, labels, wrong)
    probs[rows, top], probs[rows, want] = probs[rows, want], probs[rows, top].copy()
    return probs.astype(np.float32)


def _write(path) -> None:
    """Method "sharp": along the page's shuffle (seed 0) the first 30 rows right, the 31st
    wrong, then 97% right (Wald has zero width at n <= 30 and leaves [0, 1] just after);
    method "rough": 75% right."""
    from uqviz.exchange import write_predictions
    from uqviz.predictions import Predictions

    rng = np.random.default_rng(5)
    labels = rng.integers(0, CLASSES, ROWS)
    order = np.random.default_rng(0).permutation(ROWS)
    sharp = np.empty(ROWS, dtype=bool)
    sharp[order] = np.r_[np.ones(30, dtype=bool), False, rng.random(ROWS - 31) < 0.97]
    rough = rng.random(ROWS) < 0.75
    write_predictions({name: Predictions(_probs(correct, labels, rng)[None], labels)
                       for name, correct in (("sharp", sharp), ("rough", rough))}, path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server offered the predictions file through UQVIZ_PREDICTIONS; each method's
    correctness in Python."""
    from tests.browser import streamlit_server
    from uqviz.exchange import read_predictions
    from uqviz.sources import FileSource
    from uqviz.study import Study

    path = tmp_path_factory.mktemp("interval-component") / "two.csv"
    _write(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UQVIZ_PREDICTIONS", str(path))
        preds = FileSource.from_path(path, read_predictions(path)).predictions(["sharp", "rough"])
        correct = {m: Study(p).correct for m, p in preds.items()}
        with streamlit_server() as url:
            query = f"dataset={quote_plus(f'{path.name} (your predictions)')}"
            yield {"url": f"{url}/intervals?{query}", "correct": correct,
                   "source": f"{path.name} (your predictions)"}


def _open(page, url):
    page.goto(url)
    settle(page)
    page.locator('.cis[data-ready="true"]').wait_for(timeout=60_000)
    assert exceptions(page) == []


SHOWN = """el => {
  const texts = (sel) => [...el.querySelectorAll(sel)].map((e) => e.textContent);
  return {
    output: el.querySelector('.cis-output').textContent,
    caption: el.querySelector('.cis-caption').textContent,
    axis: el.querySelector('.cis-axis-title').textContent,
    table: [...el.querySelectorAll('.cis-table-body tr')]
      .map((tr) => [...tr.children].map((td) => td.textContent)),
    header: texts('.cis-table th'),
    notes: el.querySelector('.cis-warning').hidden ? [] : texts('.cis-notes li'),
    titles: texts('.cis-row title'),
    labels: texts('.cis-row-label'),
  };
}"""


def _shown(page) -> dict:
    return page.locator(".cis").evaluate(SHOWN)


def _shows(page, served, size: int) -> dict:
    """Wait until the component shows the core's numbers at ``size`` rows."""
    return eventually_equal(lambda: _shown(page), _expected(served, size), timeout=30,
                            what=f"{size} rows")


def _pct(x: float, d: int) -> str:
    return f"{x:.{d}%}"


def _expected(served, size: int) -> dict:
    """The page's own formatting (before the component) of the core's intervals at ``size``."""
    from uqviz.metrics.classification import accuracy_intervals

    def cell(lo, hi):
        return f"[{lo:.1%}, {hi:.1%}] · {100 * (hi - lo):.1f} pts"

    labels = {"sharp": "sharp", "rough": "rough"}
    kinds = {"wald": "Normal approx. (Wald)", "wilson": "Wilson",
             "bootstrap": "Percentile bootstrap"}
    table, notes, titles, row_labels = [], [], [], []
    for m, correct in served["correct"].items():
        iv = accuracy_intervals(correct, [size], n_resamples=None, seed=0)
        acc = iv.accuracy[0]
        table.append([labels[m], f"{size:,}", f"{acc:.1%}", cell(*iv.wald[0]),
                      cell(*iv.wilson[0]), cell(*iv.bootstrap[0])])
        wald, wilson, boot = iv.wald_unclipped[0], iv.wilson[0], iv.bootstrap[0]
        if iv.wald_zero_width[0]:
            which = "Wald's and the bootstrap's intervals are" if boot[0] == boot[1] else \
                "Wald's interval is"
            notes.append(f"{labels[m]} scored {acc:.0%} on all {size} rows: {which} "
                         f"[{wald[0]:.0%}, {wald[1]:.0%}], zero width, claiming certainty "
                         f"from {size} rows. Wilson: [{wilson[0]:.1%}, {wilson[1]:.1%}].")
        elif iv.wald_outside[0]:
            notes.append(f"{labels[m]}: Wald's interval [{wald[0]:.1%}, {wald[1]:.1%}] "
                         "leaves [0, 100%] (clipped in the table); Wilson stays inside: "
                         f"[{wilson[0]:.1%}, {wilson[1]:.1%}].")
        for kind, label in kinds.items():
            lo, hi = (iv.wald_unclipped if kind == "wald" else getattr(iv, kind))[0]
            row_labels.append(f"{labels[m]} · {label}")
            titles.append(f"{labels[m]}, {label}: accuracy {acc:.1%} [{lo:.1%}, {hi:.1%}], "
                          f"width {hi - lo:.1%}")
    return {
        "output": f"{size:,} rows",
        "caption": f"{served['source']}: each method's accuracy on {size:,} test rows (marker) "
                   "with its three 95% intervals (bars); the dotted line is 100%. Bootstrap: "
                   "exact, as with infinitely many resamples (the 2.5% and 97.5% quantiles of "
                   "Binomial(n, p̂)/n).",
        "axis": f"Accuracy on {size:,} test rows, with 95% intervals",
        "table": table,
        "header": ["Method", "n", "Accuracy", *kinds.values()],
        "notes": notes,
        "titles": titles,
        "labels": row_labels,
    }


def _slider(page):
    return page.get_by_role("slider", name="Test rows used (a seeded random subsample)")


def _size(slider) -> int:
    return int(slider.get_attribute("aria-valuetext").removesuffix(" test rows")
               .replace(",", ""))


def _size_becomes(slider, size: int) -> int:
    return eventually_equal(lambda: _size(slider), size, timeout=30, what="the slider's size")


def _sizes() -> list[int]:
    """The sizes the slider offers on ROWS rows: every one at the small end, then a grid."""
    from uqviz.ui.components.interval_subsample import slider_sizes

    sizes = slider_sizes(ROWS).tolist()
    assert sizes[:20] == list(range(SMALLEST, SMALLEST + 20)) and sizes[-1] == ROWS
    return sizes


def test_the_numbers_are_the_cores_at_every_size_tried(page, served):
    sizes = _sizes()
    _open(page, served["url"])
    slider = _slider(page)
    top = len(sizes) - 1
    assert slider.get_attribute("max") == str(top)
    _shows(page, served, ROWS)  # all rows by default
    rng = np.random.default_rng(0)
    positions = [0, top, 10, 11, 12, 13, 20, *rng.integers(0, top + 1, 10)]
    seen_notes = set()
    for position in positions:
        slider.fill(str(position))
        size = sizes[position]
        _size_becomes(slider, size)
        shown = _shows(page, served, size)
        seen_notes |= {"zero" if "zero width" in n else "outside" for n in shown["notes"]}
    assert seen_notes == {"zero", "outside"}  # both warnings were shown and checked
    assert exceptions(page) == []


def test_keyboard_and_mouse_move_the_numbers_and_commit(page, served):
    sizes = _sizes()
    _open(page, served["url"])
    slider = _slider(page)
    assert page.get_by_text("Test rows used (a seeded random subsample)").is_visible()
    top = len(sizes) - 1
    caption = page.locator(".cis-caption")
    slider.focus()
    page.keyboard.press("ArrowLeft")
    _size_becomes(slider, sizes[-2])
    below = f"on {sizes[-2]:,} test rows"
    assert below in read_until(caption.inner_text, lambda text: below in text)
    page.keyboard.press("ArrowRight")
    _size_becomes(slider, ROWS)
    page.keyboard.press("PageDown")
    _size_becomes(slider, sizes[top - round(top / 10)])
    _shows(page, served, sizes[top - round(top / 10)])
    page.keyboard.press("PageUp")
    _size_becomes(slider, ROWS)
    page.keyboard.press("Home")
    _size_becomes(slider, SMALLEST)
    shown = _shows(page, served, SMALLEST)
    assert "zero width" in shown["notes"][0]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowDown")
    _size_becomes(slider, SMALLEST)
    # the key presses are committed after a pause: the URL and the widths chart follow
    page.wait_for_url(re.compile(r"ci_rows=20(&|$)"), timeout=30_000)
    settle(page)
    page.get_by_text("n = 20 (slider)").first.wait_for(timeout=30_000)
    screenshot(page, "interval-subsample")
    slider.focus()
    page.keyboard.press("End")
    _size_becomes(slider, ROWS)

    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.click(box["x"] + 0.25 * box["width"], y)
    clicked = sizes.index(read_until(lambda: _size(slider), lambda n: n != ROWS))
    assert 0.15 * top < clicked < 0.35 * top
    _shows(page, served, sizes[clicked])
    page.mouse.move(box["x"] + 0.3 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], y, steps=8)
    size = read_until(lambda: _size(slider),
                      lambda n: 0.6 * top < sizes.index(n) < 0.8 * top)
    _shows(page, served, size)  # updated during the drag, before release
    page.mouse.up()
    assert 0.6 * top < sizes.index(size) < 0.8 * top
    # released: committed to Python (URL, the widths chart)
    page.wait_for_url(re.compile(f"ci_rows={size}(&|$)"), timeout=30_000)
    settle(page)
    page.get_by_text(f"n = {size:,} (slider)").first.wait_for(timeout=30_000)
    page.reload()  # the size survives a reload (and a shared link)
    _open(page, page.url)
    _size_becomes(_slider(page), size)
    _shows(page, served, size)


def test_a_link_with_a_size_opens_there(page, served):
    _open(page, f"{served['url']}&ci_rows=31")
    _size_becomes(_slider(page), 31)
    shown = _shows(page, served, 31)
    assert any("leaves [0, 100%]" in n for n in shown["notes"])
    _open(page, f"{served['url']}&ci_rows=abc")  # not a number: all rows, no traceback
    _size_becomes(_slider(page), ROWS)
