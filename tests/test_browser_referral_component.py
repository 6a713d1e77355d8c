"""The referral workbench component in a real browser, on a random predictions file.

* What it shows equals the Python core's operating point (``ReferralIndex.at_threshold /
  at_budget / for_target_accuracy / for_costs`` and ``wilson_ci``), to the digit shown, in
  every mode.
* The keyboard (arrows, PageUp/PageDown, Home/End) and the mouse move the slider (a native
  ``<input type="range">`` with a visible label) and the numbers; the committed value reaches
  the URL, the policy export and a reload. The two costs are sliders too (``COST_VALUES``).

Screenshot: artifacts/screenshots/referral-workbench.png.
"""

from __future__ import annotations

import json
import math
import re
from urllib.parse import quote_plus

import numpy as np
import pytest

from tests.browser import (
    WAIT_S,
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

ROWS = 2000  # fewer distinct scores than the slider's positions: every cut is offered
SCORE = "entropy"



def _random_predictions(path) -> None:
    """Random predictions whose labels are drawn from the model's own probabilities (so that
    confidence means something and targets up to ~100% are reachable), a tenth of the rows
    repeated (tied scores)."""
    from uqviz.exchange import write_predictions
    from uqviz.predictions import Predictions

    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.full(5, 0.3), ROWS - ROWS // 10)
    probs = np.concatenate([probs, probs[: ROWS // 10]]).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=row / row.sum()) for row in probs.astype(np.float64)])
    write_predictions({"m": Predictions(probs[None], labels)}, path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server offered a random predictions file through UQVIZ_PREDICTIONS (as
    tests/app_fixtures.py's offer_predictions_file does); the file's index in Python."""
    from tests.browser import streamlit_server
    from uqviz.exchange import read_predictions
    from uqviz.metrics.scores import UNCERTAINTY_SCORES
    from uqviz.sources import FileSource
    from uqviz.study import Study

    path = tmp_path_factory.mktemp("referral-component") / "random.csv"
    _random_predictions(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UQVIZ_PREDICTIONS", str(path))
        study = Study(FileSource.from_path(path, read_predictions(path)).predictions(["m"])["m"])
        with streamlit_server() as url:
            query = (f"dataset={quote_plus(f'{path.name} (your predictions)')}"
                     f"&ref_score={quote_plus(UNCERTAINTY_SCORES[SCORE].label)}")
            yield {"url": f"{url}/referral?{query}", "index": study.referral_index(SCORE)}


def _open(page, served):
    page.goto(served["url"])
    settle(page)
    page.locator('.wb[data-ready="true"]').wait_for(timeout=60_000)
    assert exceptions(page) == []


SHOWN = """el => {
  const m = (name, part) => el.querySelector(`[data-metric="${name}"] .wb-metric-${part}`)
    .textContent;
  return {referred: m('referred', 'value'), accuracy: m('accuracy', 'value'),
          error: m('error', 'value'), referred_accuracy: m('referred-accuracy', 'value'),
          referred_help: m('referred', 'help'), accuracy_help: m('accuracy', 'help'),
          caption: el.querySelector('.wb-caption').textContent,
          warning: el.querySelector('.wb-warning').hidden ? null
                   : el.querySelector('.wb-warning').textContent,
          cost: el.querySelector('.wb-expected-cost').hidden ? null
                : el.querySelector('.wb-expected-cost').textContent};
}"""


def _shown(page) -> dict:
    return page.locator(".wb").evaluate(SHOWN)


def _shows(page, expected: dict, what="") -> dict:
    """Wait until the workbench shows ``expected`` (it redraws on the slider's input event)."""
    return eventually_equal(lambda: _shown(page), expected, timeout=30, what=str(what))


def _expected(point, *, cost: bool = False, target: float | None = None) -> dict:
    """What the page showed before the component, from Python's own formatting (a NaN as
    "–")."""
    def pct(x, d):
        return "–" if math.isnan(x) else f"{100 * x:.{d}f}%"

    def num(x, d):
        return "–" if math.isnan(x) else f"{100 * x:.{d}f}"

    lo, hi = point.automated_accuracy_ci
    return {
        "referred": f"{100 * point.referred_fraction:.1f}%",
        "accuracy": pct(point.automated_accuracy, 2),
        "error": pct(point.automated_error_rate, 2),
        "referred_accuracy": pct(point.referred_accuracy, 1),
        "referred_help": f"{point.n_referred:,} of {point.n:,} cases; threshold "
                         f"{point.threshold:.4f}",
        "accuracy_help": f"95% CI {num(lo, 2)}–{num(hi, 2)}% on {point.n_automated:,} cases",
        "caption": f"95% Wilson intervals — automated accuracy {num(lo, 2)}–{num(hi, 2)}%; "
                   f"referred {point.n_referred:,} case{'s' * (point.n_referred != 1)} at "
                   f"threshold {point.threshold:.4f}.",
        "warning": None if target is None or point.reached else
        f"{target:.1f}% accuracy is not reachable with this score; showing the best that is.",
        "cost": f"Expected cost per case: {point.expected_cost:.3f} (reviews assumed correct)."
        if cost else None,
    }


MODE_CONTROLS = {  # what each mode shows: its slider, or the costs' inputs
    "a referral budget": ("slider", "Share of cases sent to a human (%)"),
    "a target accuracy": ("slider", "Target accuracy on automated cases (%)"),
    "costs": ("slider", "Cost of an automated error"),
}


def _mode(page, label: str) -> None:
    """Choose a referral mode; return once its control is drawn and the rerun has ended."""
    page.get_by_text(label, exact=True).click()
    role, name = MODE_CONTROLS[label]
    page.get_by_role(role, name=name).wait_for(timeout=WAIT_S * 1000)
    settle(page)


def test_the_numbers_are_the_cores_in_every_mode(page, served):
    from uqviz.ui.components.referral_workbench import COST_VALUES

    COST_VALUES = list(COST_VALUES)  # noqa: N806 (the cost sliders' values)
    index = served["index"]
    thresholds = index.compact(index.n + 1).thresholds  # every cut: the slider's positions
    rng = np.random.default_rng(0)
    _open(page, served)
    slider = page.get_by_role("slider", name="Threshold on the score (refer above)")
    assert slider.get_attribute("max") == str(thresholds.size - 2)
    for position in [0, thresholds.size - 2, *rng.integers(0, thresholds.size - 1, 12)]:
        slider.fill(str(position))
        _shows(page, _expected(index.at_threshold(thresholds[position + 1])), position)

    _mode(page, "a referral budget")
    slider = page.get_by_role("slider", name="Share of cases sent to a human (%)")
    for budget in [0.0, 100.0, 10.0, 0.5, *(rng.integers(0, 201, 12) / 2)]:
        slider.fill(f"{budget:g}")
        point = index.at_budget(budget / 100)
        _shows(page, _expected(point), budget)
        assert point.n_referred <= math.ceil(budget / 100 * index.n)

    _mode(page, "a target accuracy")
    slider = page.get_by_role("slider", name="Target accuracy on automated cases (%)")
    best = int(1000 * index.cut_accuracy_suffix_max[1])  # highest reachable, in tenths of %
    targets = [500, 1000, 990, best, best + 1, *rng.integers(500, 1001, 12)]
    assert best > 900 and index.for_target_accuracy(0.9).n_referred < index.n
    for tenths in [t for t in targets if 500 <= t <= 1000]:
        target = tenths / 10
        slider.fill(f"{target:g}")
        _shows(page, _expected(index.for_target_accuracy(target / 100), target=target), target)

    _mode(page, "costs")
    errors = page.get_by_role("slider", name="Cost of an automated error")
    reviews = page.get_by_role("slider", name="Cost of a human review")
    assert errors.get_attribute("max") == str(len(COST_VALUES) - 1)
    assert errors.get_attribute("aria-valuetext") == "10"  # the defaults: 10 and 1
    assert reviews.get_attribute("aria-valuetext") == "1"
    for ce, cr in [(10.0, 1.0), (0.0, 1.0), (1.0, 0.0), (5.0, 5.0), (2.5, 0.8),
                   *rng.choice(COST_VALUES, (6, 2)).tolist()]:
        errors.fill(str(COST_VALUES.index(ce)))
        reviews.fill(str(COST_VALUES.index(cr)))
        eventually_equal(lambda: (errors.get_attribute("aria-valuetext"),
                                  reviews.get_attribute("aria-valuetext")),
                         (f"{ce:g}", f"{cr:g}"), timeout=30, what="the costs")
        _shows(page, _expected(index.for_costs(ce, cr), cost=True), (ce, cr))


def _position(slider) -> int:
    return int(slider.get_attribute("aria-valuenow") or slider.input_value())


def test_keyboard_and_mouse_move_the_numbers_and_commit(page, served):
    index = served["index"]
    _open(page, served)
    slider = page.get_by_role("slider", name="Threshold on the score (refer above)")
    assert page.get_by_text("Threshold on the score (refer above)").is_visible()
    top = int(slider.get_attribute("max"))
    caption = page.locator(".wb-caption")
    slider.focus()
    start, before = _position(slider), caption.inner_text()

    def moves_to(position: int) -> None:
        eventually_equal(lambda: _position(slider), position, timeout=30, what="the position")

    page.keyboard.press("ArrowLeft")
    moves_to(start - 1)
    assert read_until(caption.inner_text, lambda text: text != before) != before
    page.keyboard.press("ArrowRight")
    moves_to(start)
    eventually_equal(caption.inner_text, before, timeout=30, what="the caption")
    page.keyboard.press("PageDown")
    moves_to(start - round(top / 10))
    page.keyboard.press("PageUp")
    moves_to(start)
    page.keyboard.press("Home")
    moves_to(0)
    page.keyboard.press("End")
    moves_to(top)
    assert read_until(lambda: _shown(page)["referred"], lambda r: r == "0.0%") == "0.0%"

    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.click(box["x"] + 0.25 * box["width"], y)
    clicked = read_until(lambda: _position(slider), lambda p: p != top)
    assert 0.15 * top < clicked < 0.35 * top
    page.mouse.move(box["x"] + 0.3 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], y, steps=8)
    read_until(lambda: _position(slider), lambda p: 0.6 * top < p < 0.8 * top)
    dragged = read_until(lambda: _shown(page), lambda shown: shown["referred"] != "0.0%")
    page.mouse.up()
    assert 0.6 * top < _position(slider) < 0.8 * top
    assert dragged["referred"] != "0.0%"
    # released: the value is committed to Python (URL, policy export, the panels below)
    threshold = index.compact(index.n + 1).thresholds[_position(slider) + 1]
    page.wait_for_url(re.compile(f"ref_threshold={re.escape(repr(float(threshold)))}"),
                      timeout=30_000)
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Export policy")).click()
    policy = json.loads(open(download.value.path()).read())
    point = index.at_threshold(threshold)
    assert policy["threshold"] == threshold
    assert policy["expected_referral_rate"] == point.referred_fraction
    _shows(page, _expected(point), "after the release")
    screenshot(page, "referral-workbench")

    _mode(page, "a referral budget")
    slider = page.get_by_role("slider", name="Share of cases sent to a human (%)")
    slider.focus()
    for _ in range(7):  # 10% + 7 × 0.5%
        page.keyboard.press("ArrowRight")
    eventually_equal(lambda: slider.get_attribute("aria-valuetext"), "13.5%", timeout=30)
    page.wait_for_url(re.compile(r"ref_budget=13\.5"), timeout=30_000)
    settle(page)
    shown = _shows(page, _expected(index.at_budget(0.135)), "13.5%")
    page.reload()  # mode and value survive a reload (and a shared link)
    settle(page)
    page.locator('.wb[data-ready="true"]').wait_for(timeout=60_000)
    assert "ref_mode=a+referral+budget" in page.url  # the radio binds its label
    eventually_equal(lambda: page.get_by_role("slider", name="Share of cases sent to a human (%)")
                     .get_attribute("aria-valuetext"), "13.5%", timeout=30)
    _shows(page, shown, "after the reload")
