"""The real app in a real browser: every page, the referral slider, budget, target, export,
a shared link. Screenshots go to artifacts/screenshots/."""

import json
import re

import pytest

from tests.browser import (
    ARTIFACTS,
    WAIT_S,
    block_network,
    chromium_missing_reason,
    eventually_equal,
    exceptions,
    open_page,
    read_until,
    screenshot,
    settle,
    settle_until,
    sidebar_dataset,
    wait_until,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

PAGES = ["", "story", "data_models", "upload", "your_model", "compare", "referral", "conformal",
         "shift", "ood", "your_images", "intervals", "learn_regression", "learn_moons",
         "learn_aleatoric", "learn_active", "glossary"]


def _metric_value(page, label: str) -> str:
    """A number of the referral workbench (a custom component: role="group" per metric)."""
    box = page.get_by_role("group", name=label, exact=True).first
    return box.locator(".wb-metric-value").inner_text()


WORKBENCH_METRICS = "[data-metric]"  # the referral workbench's four numbers
CHARTS = '[data-testid="stPlotlyChart"]'
ERRORS = '[data-testid="stAlertContentError"]'


def _at_least(page, selector: str, n: int, what: str) -> int:
    """Wait until the page holds ``n`` or more elements matching ``selector``; their count."""
    return wait_until(lambda: (k := page.locator(selector).count()) >= n and k,
                      what=f"{n} or more {what}")


def _percent(text: str) -> float:
    """``"97.5%"`` -> 97.5; NaN for the dash of an empty share."""
    try:
        return float(text.rstrip("%"))
    except ValueError:
        return float("nan")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders(page, app_url, path):
    page.goto(f"{app_url}/{path}")
    settle(page)
    assert exceptions(page) == []
    if path == "compare":
        _at_least(page, CHARTS, 10, "chart elements")
        _at_least(page, ".js-plotly-plot", 10, "drawn Plotly charts")
    if path == "referral":
        _at_least(page, WORKBENCH_METRICS, 4, "numbers of the referral workbench")
    screenshot(page, path or "home")


def test_referral_slider_budget_target_export_and_link(page, app_url):
    # the clean test rows (the incoming stream set to none through the link)
    page.goto(f"{app_url}/referral?stream_shift=none&stream_ood=none")
    settle(page)
    before = _metric_value(page, "Referred to a human")
    thumb = page.locator("#wb-slider")  # the workbench threshold (the page has other sliders)
    thumb.focus()
    for _ in range(40):
        page.keyboard.press("ArrowLeft")
    after = read_until(lambda: _metric_value(page, "Referred to a human"),
                       lambda v: v != before)
    assert after != before, "moving the slider did not change the share referred"

    page.get_by_text("a referral budget").click()
    thumb = page.get_by_role("slider", name="Share of cases sent to a human (%)")
    thumb.wait_for(timeout=WAIT_S * 1000)
    settle(page)
    thumb.focus()
    for _ in range(20):  # 10% + 20 × 0.5% = 20%
        page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"ref_budget=20(\.0)?(&|$)"), timeout=WAIT_S * 1000)
    settle(page)
    referred = _percent(read_until(lambda: _metric_value(page, "Referred to a human"),
                                   lambda v: 18.0 <= _percent(v) <= 22.0))
    assert 18.0 <= referred <= 22.0

    with page.expect_download() as dl:
        page.get_by_role("button", name=re.compile("Export policy")).click()
    policy = json.loads(open(dl.value.path()).read())
    assert policy["dataset"] == "digits" and policy["set_by"] == "budget"
    assert policy["expected_referral_rate"] == pytest.approx(referred / 100, abs=0.001)
    assert 0.9 < policy["expected_automated_accuracy"] <= 1.0
    assert len(policy["expected_automated_accuracy_ci95"]) == 2

    shared = page.url
    accuracy = _metric_value(page, "Accuracy, automated")
    page.goto(shared)
    settle(page)
    page.locator('.wb[data-ready="true"]').wait_for(timeout=WAIT_S * 1000)
    eventually_equal(lambda: (_metric_value(page, "Referred to a human"),
                              _metric_value(page, "Accuracy, automated")),
                     (f"{referred:.1f}%", accuracy), what="the shared link's numbers")

    page.get_by_text("a target accuracy").click()
    page.get_by_role("slider", name="Target accuracy on automated cases (%)").wait_for(
        timeout=WAIT_S * 1000)
    settle(page)
    acc = _percent(read_until(lambda: _metric_value(page, "Accuracy, automated"),
                              lambda v: _percent(v) >= 99.0))
    assert acc >= 99.0
    screenshot(page, "referral-target")


def test_upload_predictions_then_analyse_and_refuse_bad_files(page, app_url, tmp_path):
    from tests.malformed_corpus import write_malformed_corpus
    from tests.test_app_files import synthetic_predictions
    from uqviz.exchange import write_predictions

    good = tmp_path / "my-model.csv"
    write_predictions(synthetic_predictions(), good)
    page.goto(f"{app_url}/upload")
    settle(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        str(good))
    page.get_by_text("Read 1,800 rows").wait_for(timeout=60_000)
    settle(page)
    page.get_by_role("button", name=re.compile("Analyse")).click()
    settle_until(page, lambda: "my-model.csv" in sidebar_dataset(page),
                 what="the sidebar to select the file")
    screenshot(page, "upload")
    open_page(page, re.compile("Compare methods"), "Compare methods")
    assert exceptions(page) == []
    page.get_by_text("my-model.csv (your predictions)").first.wait_for(timeout=WAIT_S * 1000)
    _at_least(page, CHARTS, 7, "charts on Compare")
    screenshot(page, "compare-upload")
    open_page(page, re.compile("Referral threshold"), "Referral threshold")
    assert exceptions(page) == []
    _at_least(page, WORKBENCH_METRICS, 4, "numbers of the referral workbench")
    for link, title, charts in [("Conformal prediction", "Conformal prediction", 1),
                                ("Out-of-distribution", "Out-of-distribution inputs", 1)]:
        open_page(page, re.compile(link), title)
        page.get_by_text("holds predictions only").first.wait_for(timeout=WAIT_S * 1000)
        _at_least(page, CHARTS, charts, f"charts on {title}")
        assert exceptions(page) == [], link
        assert page.locator(ERRORS).count() == 0, link
    screenshot(page, "ood-upload")

    corpus = write_malformed_corpus(tmp_path / "bad")
    page.goto(f"{app_url}/upload")
    settle(page)
    tried = 0
    for path, expected in corpus:
        if tried >= 15:
            break
        if path.suffix not in (".csv", ".parquet", ".npz"):
            continue
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
            str(path))
        # the previous file's error stays until this file's run replaces it
        error = page.locator(ERRORS).filter(has_text=path.name).first
        error.wait_for(timeout=WAIT_S * 1000)
        settle(page)
        message = page.locator(ERRORS).first.inner_text()
        assert path.name in message and expected.lower() in message.lower(), message
        assert exceptions(page) == []
        tried += 1
    assert tried == 15
    screenshot(page, "upload-error")


def test_report_downloads_from_compare_and_renders_offline(browser, page, app_url, tmp_path):
    page.goto(f"{app_url}/referral")
    settle(page)  # sets a referral policy that the report includes
    page.goto(f"{app_url}/compare")
    settle(page)
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name=re.compile("Download the report")).click()
    path = tmp_path / "report.html"
    dl.value.save_as(path)
    html = path.read_text()
    assert "<script src=" not in html and "Deep ensemble" in html

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked = block_network(context)
    report = context.new_page()
    report.goto(path.as_uri(), wait_until="load")
    report.wait_for_function(
        "() => document.querySelectorAll('.plotly-graph-div').length > 0 && "
        "[...document.querySelectorAll('.plotly-graph-div')]"
        ".every(d => d.querySelector('.main-svg'))", timeout=30_000)
    assert report.locator(".js-plotly-plot").count() == 1 + 5 + 1  # overlay, 5 methods, RC
    assert blocked == []
    height = report.evaluate("() => document.documentElement.scrollHeight")
    report.set_viewport_size({"width": 1280, "height": int(height)})
    report.screenshot(path=str(ARTIFACTS / "report-from-app.png"), full_page=True)
    context.close()


def test_your_images_classifies_a_png_and_refuses_a_non_image(page, app_url, tmp_path):
    from PIL import Image, ImageDraw

    seven = tmp_path / "seven.png"
    picture = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(picture).line([(25, 25), (95, 25), (50, 100)], fill=0, width=12)
    picture.save(seven)
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"these are not pixels")
    page.goto(f"{app_url}/your_images")
    settle(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        [str(seven), str(notes)])
    page.locator(ERRORS).filter(has_text="notes.png").first.wait_for(timeout=120_000)
    settle(page)
    error = page.locator(ERRORS).first.inner_text()
    assert "notes.png" in error and "not an image" in error
    assert exceptions(page) == []
    wait_until(lambda: page.locator(CHARTS).count() >= 5, timeout=120,
               what="a chart per method")  # one per method
    screenshot(page, "your-images")
