"""Your model in a real browser: upload an ONNX export (what the server takes by default), its
model.json and a zip of class folders on the 'Your model' page, click Analyse, then Compare and
Dataset shift draw charts.
Screenshot: artifacts/screenshots/your_model.png."""

import re
import zipfile

import pytest

from tests.browser import (
    WAIT_S,
    chromium_missing_reason,
    exceptions,
    open_page,
    screenshot,
    settle,
    settle_until,
    sidebar_dataset,
    wait_until,
)
from tests.user_model_fixtures import (
    export_onnx,
    train_tiny_net,
    write_config,
    write_folder,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]


CHARTS = '[data-testid="stPlotlyChart"]'


def _upload(page, label: str, path) -> None:
    """Give the uploader labelled ``label`` a file; return once it lists the file and the page
    has run."""
    box = page.locator('[data-testid="stFileUploader"]').filter(has_text=label).first
    box.locator('input[type="file"]').set_input_files(str(path))
    box.locator('[data-testid="stFileChipName"]', has_text=path.name).first.wait_for(
        timeout=WAIT_S * 1000)
    settle(page)


def _at_least(page, selector: str, n: int, timeout: float = 300) -> int:
    return wait_until(lambda: (k := page.locator(selector).count()) >= n and k,
                      timeout=timeout, what=f"{n} or more {selector}")


def test_upload_a_model_and_images_then_analyse(page, app_url, tmp_path):
    model = export_onnx(train_tiny_net(), tmp_path / "colours.onnx", external_data=False)
    sidecar = write_config(tmp_path)
    images = write_folder(tmp_path / "pics", {"red": 12, "green": 12, "blue": 12})
    archive = tmp_path / "pics.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(images.rglob("*.png")):
            zf.write(path, f"pics/{path.parent.name}/{path.name}")

    page.goto(f"{app_url}/your_model")
    settle(page)
    _upload(page, "Model file", model)
    _upload(page, "model.json", sidecar)
    _upload(page, "Images (.zip", archive)
    page.get_by_role("button", name="Add the model").click()
    page.get_by_text("Added colours.onnx on").wait_for(timeout=120_000)
    settle(page)
    assert exceptions(page) == []
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    screenshot(page, "your_model")
    page.get_by_role("button", name=re.compile("Analyse colours.onnx")).click()
    settle_until(page, lambda: "colours.onnx" in sidebar_dataset(page),
                 what="the sidebar to select the model")

    open_page(page, re.compile("Compare methods"), "Compare methods", timeout=300)
    assert exceptions(page) == []
    _at_least(page, CHARTS, 5)
    assert "colours.onnx" in page.url  # the sidebar's dataset, bound to the URL
    screenshot(page, "your_model_compare")

    open_page(page, re.compile("Dataset shift"), "Dataset shift", timeout=300)
    assert exceptions(page) == []
    _at_least(page, CHARTS, 6)
    screenshot(page, "your_model_shift")

    # Your images: a picture of the user's own (at another size) through every method
    picture = tmp_path / "my-red.png"
    from PIL import Image

    Image.open(sorted((images / "red").glob("*.png"))[0]).resize((48, 40)).save(picture)
    open_page(page, re.compile("Your images"), "Your images", timeout=300)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        str(picture))
    page.get_by_text("resized to 16×16 px (bilinear)").first.wait_for(timeout=120_000)
    settle(page, timeout=300)
    assert exceptions(page) == []
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    _at_least(page, '[data-testid="stDataFrame"]', 1, timeout=120)
    _at_least(page, CHARTS, 2, timeout=120)  # one per method
    screenshot(page, "your_model_images")
