"""The Conformal page's α slider component in a real browser, on a random predictions file.

* What it shows equals the Python core's (``ConformalSplit.sets``, ``class_coverage``,
  ``quantile_rank``, ``ConformalSplit.draws``), formatted as the page formatted it, at several
  α including both ends: the four numbers, the caption, the warning when q̂ is infinite, and
  the two charts' bars (their hover texts) and target line.
* The keyboard (arrows, PageUp/PageDown, Home/End) and the mouse move the slider (a native
  ``<input type="range">`` with a visible label) and the numbers; the committed α reaches the
  server: the curve's dotted line moves to 1 − α.

Screenshot: artifacts/screenshots/conformal-alpha.png.
"""

from __future__ import annotations

import math
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
    settle_until,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

ROWS = 900  # 50% calibrate: q̂ finite at every α; 10%: 90 rows, q̂ infinite at α = 0.01
CLASSES = 5
LABEL = "α: allowed miss rate (target coverage 1 − α)"
SETTINGS = dict(score="lac", randomized=True, lam=0.1, k_reg=1)  # the page's defaults


def _random_predictions(path) -> None:
    """Random predictions whose labels are drawn from the model's own probabilities (sets of
    every size), a tenth of the rows repeated (tied scores)."""
    from uqviz.exchange import write_predictions
    from uqviz.predictions import Predictions

    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(CLASSES, 0.4), ROWS - ROWS // 10)
    probs = np.concatenate([probs, probs[: ROWS // 10]]).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    labels = np.array([rng.choice(CLASSES, p=row / row.sum())
                       for row in probs.astype(np.float64)])
    write_predictions({"m": Predictions(probs[None], labels)}, path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server offered a random predictions file through UQVIZ_PREDICTIONS; the file's
    scored rows in Python."""
    from tests.browser import streamlit_server
    from uqviz.exchange import read_predictions
    from uqviz.sources import FileSource
    from uqviz.study import Study

    path = tmp_path_factory.mktemp("conformal-component") / "random.csv"
    _random_predictions(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UQVIZ_PREDICTIONS", str(path))
        study = Study(FileSource.from_path(path, read_predictions(path)).predictions(["m"])["m"])
        with streamlit_server() as url:
            query = f"dataset={quote_plus(f'{path.name} (your predictions)')}"
            yield {"url": f"{url}/conformal?{query}", "rows": study.rows}


def _open(page, served):
    page.goto(served["url"])
    settle(page)
    page.locator('.ca[data-ready="true"]').wait_for(timeout=60_000)
    assert exceptions(page) == []


SHOWN = """el => {
  const m = (name, part) => {
    const found = el.querySelector(`[data-metric="${name}"] .ca-metric-${part}`);
    return found ? found.textContent : null;
  };
  const titles = (sel) => [...el.querySelectorAll(`${sel} .ca-bars rect title`)]
    .map((t) => t.textContent);
  const warning = el.querySelector('.ca-warning');
  return {alpha: el.querySelector('.ca-output').textContent,
          coverage: m('coverage', 'value'), delta: m('coverage', 'delta'),
          coverage_help: m('coverage', 'help'), target: m('target', 'value'),
          average_label: m('average', 'label'), average: m('average', 'value'),
          average_help: m('average', 'help'), size: m('size', 'value'),
          size_help: m('size', 'help'),
          caption: el.querySelector('.ca-caption').textContent,
          warning: warning.hidden ? null : warning.textContent,
          sizes: titles('.ca-sizes'), classes: titles('.ca-classes')};
}"""


def _shown(page) -> dict:
    return page.locator(".ca").evaluate(SHOWN)


def _shows(page, expected: dict, what="") -> dict:
    """Wait until the component shows ``expected`` (it redraws on the slider's input event)."""
    return eventually_equal(lambda: _shown(page), expected, timeout=30, what=str(what))


_AVERAGES: dict = {}  # coverage averaged over splits, by calibration share (one file)


def _expected(rows, alpha: float, cal_share: int = 50) -> dict:
    """What the page showed before the component, with its own f-strings, from the core."""
    from uqviz.conformal import (
        AVERAGE_ALPHAS,
        ConformalSplit,
        class_coverage,
        number_of_draws,
        quantile_rank,
    )

    split = ConformalSplit(rows.mean_probs, rows.labels, seed=0, cal_fraction=cal_share / 100,
                           **SETTINGS)
    result = split.sets(alpha)
    n_draws = number_of_draws(rows.n, rows.num_classes)
    if cal_share not in _AVERAGES:
        _AVERAGES[cal_share] = split.draws(AVERAGE_ALPHAS, n_draws)
    average = _AVERAGES[cal_share]
    lo, hi = result.coverage_ci
    shares = np.bincount(result.set_sizes, minlength=rows.num_classes + 1) / result.n_test
    per_class = class_coverage(result, rows.labels)
    return {
        "alpha": f"{alpha:.2f}",
        "coverage": f"{result.coverage:.1%}",
        "delta": f"{100 * (result.coverage - (1 - alpha)):+.1f} pts vs target",
        "coverage_help": f"Share of the {result.n_test:,} test images whose set contains the "
                         f"true class; 95% CI {100 * lo:.1f}–{100 * hi:.1f}%.",
        "target": f"{1 - alpha:.0%}",
        "average_label": f"Average of {n_draws} splits",
        "average": f"{average.at(alpha):.1%}",
        "average_help": f"Mean coverage over {n_draws} random calibration/test splits (seeds "
                        f"0–{n_draws - 1}): the guarantee is about this average.",
        "size": f"{result.mean_set_size:.2f}",
        "size_help": f"Classes per set, out of {rows.num_classes}.",
        "caption": f"This split: coverage {result.coverage:.1%} (95% interval {100 * lo:.1f}–"
                   f"{100 * hi:.1f}%) on {result.n_test:,} test images, against the target "
                   f"{1 - alpha:.0%}. Sets keep every class whose score is at most q̂ = "
                   f"{result.qhat:.4f}, the {quantile_rank(result.n_cal, alpha)}-th smallest of "
                   f"{result.n_cal:,} calibration scores.",
        "warning": f"{result.n_cal} calibration images are too few for α = {alpha:.2f}: every "
                   "set holds all classes. Raise α or the calibration share."
        if math.isinf(result.qhat) else None,
        # the charts' hover texts, as the Plotly figures' hovertemplates printed them
        "sizes": [f"Set size {j}\nShare of rows {share:.1%}" for j, share in enumerate(shares)],
        "classes": [f"Class {name}: {cov:.1%} of {count} images" for name, cov, count
                    in zip(rows.names, per_class.coverage, per_class.counts, strict=True)],
    }


def _geometry(page) -> dict:
    """Where the class chart's target line and whiskers are, in the chart's coordinates."""
    return page.locator(".ca").evaluate("""el => ({
      target: Number(el.querySelector('.ca-target').getAttribute('y1')),
      whiskers: [...el.querySelectorAll('.ca-whiskers path')].map((p) => p.getAttribute('d')),
    })""")


def _y(value: float) -> float:
    """The class chart's y of a share (0 … 1.05 over the plot's 226 → 36 px)."""
    return 226 - value / 1.05 * (226 - 36)


def test_the_numbers_are_the_cores_at_every_alpha_shown(page, served):
    from uqviz.conformal import ConformalSplit, class_coverage

    rows = served["rows"]
    _open(page, served)
    slider = page.get_by_role("slider", name=LABEL)
    assert slider.get_attribute("min") == "0.01" and slider.get_attribute("max") == "0.5"
    _shows(page, _expected(rows, 0.1), "the default α")
    rng = np.random.default_rng(0)
    for k in [1, 50, 2, 49, *rng.integers(1, 51, 8)]:
        alpha = round(k / 100, 2)
        slider.fill(f"{alpha:g}")
        _shows(page, _expected(rows, alpha), alpha)
        result = ConformalSplit(rows.mean_probs, rows.labels, seed=0, cal_fraction=0.5,
                                **SETTINGS).sets(alpha)
        per_class = class_coverage(result, rows.labels)
        target = pytest.approx(_y(1 - alpha), abs=0.01)
        geometry = read_until(lambda: _geometry(page), lambda g, t=target: g["target"] == t)
        assert geometry["target"] == target
        for d, lo, hi in zip(geometry["whiskers"], per_class.low, per_class.high, strict=True):
            ys = [float(v) for v in d.replace("M", " ").replace("V", " ").replace("H", " ")
                  .replace(",", " ").split()]
            assert ys[1] == pytest.approx(_y(lo), abs=0.01)
            assert ys[2] == pytest.approx(_y(hi), abs=0.01)


def _alpha(slider) -> float:
    return float(slider.input_value())


def _alpha_becomes(slider, alpha: float) -> float:
    return eventually_equal(lambda: _alpha(slider), alpha, timeout=30, what="α")


def test_keyboard_and_mouse_move_the_numbers_and_commit(page, served):
    rows = served["rows"]
    _open(page, served)
    assert page.get_by_text(LABEL).is_visible()
    slider = page.get_by_role("slider", name=LABEL)
    slider.focus()
    before = _shown(page)
    page.keyboard.press("ArrowLeft")
    _alpha_becomes(slider, 0.09)
    _shows(page, _expected(rows, 0.09), 0.09)
    assert slider.get_attribute("aria-valuetext") == "0.09: target coverage 91%"
    page.keyboard.press("ArrowRight")
    _alpha_becomes(slider, 0.1)
    _shows(page, before, 0.1)
    page.keyboard.press("PageUp")
    _alpha_becomes(slider, 0.15)
    assert read_until(lambda: _shown(page)["target"], lambda t: t == "85%") == "85%"
    page.keyboard.press("PageDown")
    _alpha_becomes(slider, 0.1)
    page.keyboard.press("Home")
    _alpha_becomes(slider, 0.01)
    _shows(page, _expected(rows, 0.01), 0.01)
    page.keyboard.press("End")
    _alpha_becomes(slider, 0.5)
    _shows(page, _expected(rows, 0.5), 0.5)

    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.click(box["x"] + 0.25 * box["width"], y)
    clicked = read_until(lambda: _alpha(slider), lambda a: a != 0.5)
    assert 0.08 < clicked < 0.18
    _shows(page, _expected(rows, clicked), clicked)
    page.mouse.move(box["x"] + 0.3 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"], y, steps=8)
    dragged = read_until(lambda: _alpha(slider), lambda a: 0.3 < a < 0.42)
    _shows(page, _expected(rows, dragged), dragged)  # before the release: no Python yet
    page.mouse.up()
    assert 0.3 < dragged < 0.42
    # released: Python hears the α; the curve's dotted line moves to 1 − α
    page.wait_for_function(
        """x => [...document.querySelectorAll('.js-plotly-plot')].some((gd) =>
             (gd.layout.shapes || []).some((s) => Math.abs(s.x0 - x) < 1e-9))""",
        arg=1 - dragged, timeout=30_000)
    settle(page)
    assert exceptions(page) == []
    _shows(page, _expected(rows, dragged), dragged)
    screenshot(page, "conformal-alpha")


def test_infinite_threshold_warns_and_alpha_survives_new_settings(page, served):
    rows = served["rows"]
    _open(page, served)
    slider = page.get_by_role("slider", name=LABEL)
    slider.focus()
    page.keyboard.press("Home")
    _alpha_becomes(slider, 0.01)
    _shows(page, _expected(rows, 0.01), 0.01)  # 450 calibration rows: q̂ finite at 0.01
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')].some((gd) =>
             (gd.layout.shapes || []).some((s) => Math.abs(s.x0 - 0.99) < 1e-9))""",
        timeout=30_000)
    settle(page)
    assert page.get_by_role("slider").count() == 1  # α's is the page's one slider
    share = page.get_by_role("spinbutton", name="Share of test images used to calibrate (%)")
    share.fill("10")
    share.press("Enter")  # 10%: a full rerun with new data; α stays at 0.01
    warning = page.locator(".ca-warning:not([hidden])")
    settle_until(page, lambda: warning.count() == 1,
                 what="the warning of 90 calibration rows")
    page.locator('.ca[data-ready="true"]').wait_for(timeout=60_000)
    shown = _shows(page, _expected(rows, 0.01, cal_share=10), "10% calibration")
    assert shown["warning"].startswith("90 calibration images are too few for α = 0.01")
    slider.focus()
    page.keyboard.press("ArrowRight")
    _alpha_becomes(slider, 0.02)
    assert _shows(page, _expected(rows, 0.02, cal_share=10), 0.02)["warning"] is None
