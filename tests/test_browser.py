"""The real app in a real browser: every page, the referral slider, budget, target, export,
a shared link. Screenshots go to artifacts/screenshots/."""

import json
import re
import time

import pytest

from tests.browser import (
    ARTIFACTS,
    block_network,
    chromium_missing_reason,
    exceptions,
    screenshot,
    settle,
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


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders(page, app_url, path):
    page.goto(f"{app_url}/{path}")
    settle(page)
    assert exceptions(page) == []
    if path == "compare":
        page.wait_for_selector('[data-testid="stPlotlyChart"]')
        assert page.locator('[data-testid="stPlotlyChart"]').count() >= 10
        assert page.locator(".js-plotly-plot").count() >= 10
    if path == "referral":
        assert page.locator(WORKBENCH_METRICS).count() >= 4
    screenshot(page, path or "home")


def test_referral_slider_budget_target_export_and_link(page, app_url):
    # the clean test rows (the incoming stream set to none through the link)
    page.goto(f"{app_url}/referral?stream_shift=none&stream_ood=none")
    settle(page)
    before = _metric_value(page, "Referred to a human")
    thumb = page.get_by_role("slider").first
    thumb.focus()
    for _ in range(40):
        page.keyboard.press("ArrowLeft")
    settle(page)
    page.wait_for_timeout(500)
    after = _metric_value(page, "Referred to a human")
    assert after != before, "moving the slider did not change the share referred"

    page.get_by_text("a referral budget").click()
    settle(page)
    thumb = page.get_by_role("slider").first
    thumb.focus()
    for _ in range(20):  # 10% + 20 × 0.5% = 20%
        page.keyboard.press("ArrowRight")
    settle(page)
    page.wait_for_timeout(500)
    referred = float(_metric_value(page, "Referred to a human").rstrip("%"))
    assert 18.0 <= referred <= 22.0
    assert "ref_budget=20" in page.url

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
    assert _metric_value(page, "Referred to a human") == f"{referred:.1f}%"
    assert _metric_value(page, "Accuracy, automated") == accuracy

    page.get_by_text("a target accuracy").click()
    settle(page)
    time.sleep(0.3)
    acc = float(_metric_value(page, "Accuracy, automated").rstrip("%"))
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
    settle(page)
    screenshot(page, "upload")
    page.get_by_role("link", name=re.compile("Compare methods")).click()
    settle(page)
    assert exceptions(page) == []
    page.wait_for_selector('[data-testid="stPlotlyChart"]')
    assert page.get_by_text("my-model.csv (your predictions)").count() >= 1
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 7
    screenshot(page, "compare-upload")
    page.get_by_role("link", name=re.compile("Referral threshold")).click()
    settle(page)
    assert exceptions(page) == []
    assert page.locator(WORKBENCH_METRICS).count() >= 4
    for link, charts in [("Conformal prediction", 1), ("Out-of-distribution", 1)]:
        page.get_by_role("link", name=re.compile(link)).click()
        settle(page)
        assert exceptions(page) == [], link
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, link
        assert page.locator('[data-testid="stPlotlyChart"]').count() >= charts, link
        assert page.get_by_text("holds predictions only").count() >= 1, link
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
        settle(page)
        page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=30_000)
        message = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
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
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=120_000)
    settle(page)
    error = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert "notes.png" in error and "not an image" in error
    assert exceptions(page) == []
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 5  # one per method
    screenshot(page, "your-images")
