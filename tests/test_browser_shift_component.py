"""The Dataset shift page's severity strip (a Custom Component v2) in a real browser.

* On digits (the session's trained server): at every severity, the eight pictures are the
  corrupted test images Python makes (``corrupted_test_images`` upscaled as the page always
  did), the captions are ``Study.shift_cases`` formatted as the page's f-strings formatted
  them, and each method's accuracy and mean uncertainty equal the ``severity_table`` the
  charts below use, to the digit shown.
* On a predictions file with corrupted groups (no images, severity 4 missing): the slider
  and the numbers, the file's caption, the URL (``?shift_severity=``) and a reload.
* The keyboard (arrows, PageUp/PageDown, Home/End) and the mouse (a click, a drag) move the
  slider, a native ``<input type="range">`` with a visible label.

Screenshot: artifacts/screenshots/shift-severity.png.
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

LABEL = "Severity (0 = clean)"
SCORE = "entropy"
CORRUPTION = "gaussian_noise"

SHOWN = """el => {
  const visible = (e) => e && getComputedStyle(e).display !== 'none';
  const cases = [...el.querySelectorAll('.ss-case')];
  return {
    severity: el.querySelector('.ss-output').textContent,
    pictures: cases.map(c => { const i = [...c.querySelectorAll('img')].filter(visible);
                               return i.length === 1 ? i[0].getAttribute('src') : i.length; }),
    captions: cases.map(c => [...c.querySelectorAll('.ss-case-caption > div')]
                        .map(d => d.textContent)),
    sentence: visible(el.querySelector('.ss-caption'))
              ? el.querySelector('.ss-caption').textContent : null,
    summary_caption: el.querySelector('.ss-summary-caption').textContent,
    summary: [...el.querySelectorAll('.ss-summary tbody tr')]
               .map(r => [...r.children].map(c => c.textContent)),
  };
}"""


def _shown(page) -> dict:
    return page.locator(".ss").evaluate(SHOWN)


def _open(page, url: str) -> None:
    page.goto(url)
    settle(page)
    page.locator('.ss[data-ready="true"]').wait_for(timeout=120_000)
    assert exceptions(page) == []


def _value(slider) -> int:
    return int(slider.input_value())


def _moves_to(slider, severity: int) -> int:
    """Wait until the slider stands at ``severity`` (after a key press or a click)."""
    return eventually_equal(lambda: _value(slider), severity, timeout=30, what="the severity")


def _shows(page, expected: dict, what="") -> dict:
    """Wait until the strip shows ``expected`` (it redraws on the slider's input event)."""
    return eventually_equal(lambda: _shown(page), expected, timeout=30, what=str(what))


def _expected(studies, table, severity: int, *, pictures=None, picks=None,
              unit: str = "images") -> dict:
    """What the strip shows at ``severity``, from the Python core, formatted with the page's
    f-strings (the captions as the page wrote them before the component)."""
    from uqviz.metrics.scores import UNCERTAINTY_SCORES
    from uqviz.shift_analysis import severity_series
    from uqviz.shifts import CORRUPTIONS
    from uqviz.ui.shift_strip import short_label
    from uqviz.ui.state import method_label

    methods = list(studies)
    names = studies[methods[0]].rows.names
    label = UNCERTAINTY_SCORES[SCORE].label
    x, accuracy = severity_series(table, "accuracy", methods)
    _, mean = severity_series(table, "mean_uncertainty", methods)
    _, n = severity_series(table, "n", methods)
    at = list(x).index(severity) if severity in x else None
    where = ("clean (severity 0)" if severity == 0
             else f"{CORRUPTIONS[CORRUPTION].label} at severity {severity}")
    shown = {
        "severity": str(severity),
        "summary_caption": (f"Whole test set, {where}: {n[methods[0]][at]:,} {unit}; "
                            f"uncertainty: {label}." if at is not None else
                            f"These predictions have no rows of {CORRUPTIONS[CORRUPTION].label} "
                            f"at severity {severity}."),
        "summary": [[method_label(m), "–" if at is None else f"{100 * accuracy[m][at]:.1f}%",
                     "–" if at is None else f"{mean[m][at]:.3f}"] for m in methods],
        "pictures": [], "captions": [], "sentence": None,
    }
    if pictures is not None:
        cases = {m: s.shift_cases(CORRUPTION, severity, SCORE, picks) for m, s in studies.items()}
        first = cases[methods[0]]
        shown["pictures"] = list(pictures[severity])
        shown["captions"] = [[f"true {names[first.labels[k]]}", *(
            f"{short_label(m)} {names[c.predicted[k]]}{'✓' if c.correct[k] else '✗'} "
            f"{c.uncertainty[k]:.2f}" for m, c in cases.items())] for k in range(len(picks))]
        shown["sentence"] = (f"Eight test images at severity {severity}; under each, every "
                             f"method's prediction (✓ right, ✗ wrong), then its {label}.")
    return shown


def _click_at(page, slider, severity: int) -> None:
    """A click where the thumb sits at ``severity`` (0–5; the thumb is ~16 px wide)."""
    box = slider.bounding_box()
    page.mouse.click(box["x"] + 8 + severity / 5 * (box["width"] - 16),
                     box["y"] + box["height"] / 2)


def _keys_and_mouse(page, check) -> None:
    """Every key and the mouse move the slider; ``check(severity)`` after each move (it waits
    for the strip to show that severity)."""
    from playwright.sync_api import expect

    slider = page.get_by_role("slider", name=LABEL)
    label = page.locator(".ss label.ss-label")
    expect(label).to_have_text(LABEL)  # visible, names the slider
    expect(label).to_be_visible()
    assert slider.get_attribute("min") == "0" and slider.get_attribute("max") == "5"
    slider.focus()
    page.keyboard.press("Home")
    _moves_to(slider, 0)
    expect(slider).to_have_attribute("aria-valuetext", "0 (clean)")
    check(0)
    for severity in range(1, 6):
        page.keyboard.press("ArrowRight")
        _moves_to(slider, severity)
        check(severity)
    page.keyboard.press("ArrowUp")  # stays at the end
    _moves_to(slider, 5)
    page.keyboard.press("PageDown")
    _moves_to(slider, 3)
    check(3)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowLeft")
    _moves_to(slider, 1)
    page.keyboard.press("PageUp")
    _moves_to(slider, 3)
    page.keyboard.press("End")
    _moves_to(slider, 5)
    check(5)
    page.keyboard.press("Home")
    _moves_to(slider, 0)

    for severity in (4, 1):
        _click_at(page, slider, severity)
        _moves_to(slider, severity)
        check(severity)
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 8 + 0.2 * (box["width"] - 16), y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, y, steps=8)
    _moves_to(slider, 5)
    check(5)  # while the button is down: no rerun yet
    page.mouse.up()


# -- digits: pictures, captions and numbers ---------------------------------------------------
@pytest.fixture(scope="module")
def digits_core():
    """The digits studies on the corruption suite and what the strip is built from, in this
    process (the server reads the same cached predictions)."""
    from uqviz.methods import METHOD_IDS
    from uqviz.shift_analysis import severity_table
    from uqviz.sources import SHIFT_PLAN, TrainedSource
    from uqviz.study import Study
    from uqviz.ui.backend import test_images
    from uqviz.ui.shift_strip import strip_picks, strip_pictures

    predictions = TrainedSource("digits", SHIFT_PLAN).predictions(list(METHOD_IDS))
    studies = {m: Study(predictions[m]) for m in METHOD_IDS}
    n_images = len(test_images("digits"))
    return {"studies": studies,
            "table": severity_table(studies.values(), CORRUPTION, SCORE),
            "picks": strip_picks(n_images),
            "pictures": strip_pictures("digits", CORRUPTION, n_images, (0, 1, 2, 3, 4, 5))}


def test_digits_strip_equals_the_core_at_every_severity(page, app_url, digits_core):
    _open(page, f"{app_url}/shift")
    assert "shift_severity=3" in page.url  # the default, in the URL
    core = digits_core
    first = _shows(page, _expected(core["studies"], core["table"], 3, pictures=core["pictures"],
                                   picks=core["picks"]), 3)
    assert len(first["captions"]) == 8 and all(len(c) == 6 for c in first["captions"])

    def check(severity):
        _shows(page, _expected(core["studies"], core["table"], severity,
                               pictures=core["pictures"], picks=core["picks"]), severity)

    _keys_and_mouse(page, check)
    # released at 5: committed to Python (session state, URL) without redrawing the strip
    page.wait_for_url(re.compile(r"shift_severity=5"), timeout=30_000)
    settle(page)
    check(5)
    # every picture is a different image at each severity (gaussian noise changes pixels)
    pictures = core["pictures"]
    assert all(len(set(pictures[s][k] for s in range(6))) == 6 for k in range(8))
    screenshot(page, "shift-severity")


# -- a predictions file: the numbers only -----------------------------------------------------
def _file_with_shift_groups(path) -> None:
    """Two methods on 3 classes, clean rows and gaussian_noise at severities 1, 2, 3 and 5
    (4 missing), noisier as the severity grows."""
    from uqviz.exchange import write_predictions
    from uqviz.predictions import Predictions

    rng = np.random.default_rng(5)
    blocks = [("test", 0.0), *((f"{CORRUPTION}:{s}", 0.7 * s) for s in (1, 2, 3, 5))]
    labels = rng.integers(0, 3, (len(blocks), 300))  # the same rows for both methods
    groups = np.repeat([g for g, _ in blocks], 300).astype(object)
    out = {}
    for method, sharpness in (("sharp", 5.0), ("soft", 2.5)):
        probs = []
        for y, (_, noise) in zip(labels, blocks, strict=True):
            logits = sharpness * np.eye(3)[y] + (1.0 + noise) * rng.normal(size=(300, 3))
            probs.append(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
        out[method] = Predictions(np.concatenate(probs)[None].astype(np.float32),
                                  labels.ravel(), group=groups)
    write_predictions(out, path)


@pytest.fixture(scope="module")
def served_file(tmp_path_factory):
    """A server offered the file through UQVIZ_PREDICTIONS; the file's studies and severity
    table in Python."""
    from tests.browser import streamlit_server
    from uqviz.exchange import read_predictions
    from uqviz.shift_analysis import severity_table
    from uqviz.sources import FileSource
    from uqviz.study import Study

    path = tmp_path_factory.mktemp("shift-component") / "shifted.csv"
    _file_with_shift_groups(path)
    predictions = FileSource.from_path(path, read_predictions(path)).predictions(["sharp", "soft"])
    studies = {m: Study(p) for m, p in predictions.items()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UQVIZ_PREDICTIONS", str(path))
        with streamlit_server() as url:
            query = f"dataset={quote_plus(f'{path.name} (your predictions)')}"
            yield {"url": f"{url}/shift?{query}", "studies": studies,
                   "table": severity_table(studies.values(), CORRUPTION, SCORE)}


def test_file_without_images_gets_the_slider_and_the_numbers(page, served_file):
    studies, table = served_file["studies"], served_file["table"]
    _open(page, served_file["url"] + "&shift_severity=1")  # a shared link
    assert page.get_by_text("A predictions file has no images to show.").is_visible()
    slider = page.get_by_role("slider", name=LABEL)
    _moves_to(slider, 1)
    _shows(page, _expected(studies, table, 1, unit="rows"), 1)
    assert page.locator(".ss-case").count() == 0 and page.locator(".ss img").count() == 0

    def check(severity):
        _shows(page, _expected(studies, table, severity, unit="rows"), severity)

    _keys_and_mouse(page, check)
    page.wait_for_url(re.compile(r"shift_severity=5"), timeout=30_000)
    settle(page)
    slider.focus()
    page.keyboard.press("ArrowLeft")  # to the missing severity: dashes, and it says so
    _moves_to(slider, 4)
    shown = read_until(lambda: _shown(page),
                       lambda s: s["summary"] == [["sharp", "–", "–"], ["soft", "–", "–"]])
    assert shown["summary"] == [["sharp", "–", "–"], ["soft", "–", "–"]]
    assert "no rows of Gaussian noise at severity 4" in shown["summary_caption"]
    page.wait_for_url(re.compile(r"shift_severity=4"), timeout=30_000)  # after a pause
    settle(page)
    page.reload()
    settle(page)
    page.locator('.ss[data-ready="true"]').wait_for(timeout=60_000)
    _moves_to(page.get_by_role("slider", name=LABEL), 4)
    _shows(page, shown, "after the reload")
    screenshot(page, "shift-severity-file")


def test_a_bad_severity_in_the_link_falls_back_to_the_default(page, served_file):
    _open(page, served_file["url"] + "&shift_severity=banana")
    _moves_to(page.get_by_role("slider", name=LABEL), 3)
    assert "shift_severity=3" in page.url
