"""Your model in a real browser: upload a TorchScript net, its model.json and a zip of class
folders on the 'Your model' page, click Analyse, then Compare and Dataset shift draw charts.
Screenshot: artifacts/screenshots/your_model.png."""

import re
import zipfile

import pytest

from tests.browser import chromium_missing_reason, exceptions, screenshot, settle
from tests.user_model_fixtures import (
    export_torchscript,
    train_tiny_net,
    write_config,
    write_folder,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]


def _uploader(page, label: str):
    box = page.locator('[data-testid="stFileUploader"]').filter(has_text=label).first
    return box.locator('input[type="file"]')


def test_upload_a_model_and_images_then_analyse(page, app_url, tmp_path):
    model = export_torchscript(train_tiny_net(), tmp_path / "colours.pt")
    sidecar = write_config(tmp_path)
    images = write_folder(tmp_path / "pics", {"red": 12, "green": 12, "blue": 12})
    archive = tmp_path / "pics.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(images.rglob("*.png")):
            zf.write(path, f"pics/{path.parent.name}/{path.name}")

    page.goto(f"{app_url}/your_model")
    settle(page)
    _uploader(page, "Model file").set_input_files(str(model))
    settle(page)
    _uploader(page, "model.json").set_input_files(str(sidecar))
    settle(page)
    _uploader(page, "Images (.zip").set_input_files(str(archive))
    settle(page)
    page.get_by_role("button", name="Add the model").click()
    page.get_by_text("Added colours.pt on").wait_for(timeout=120_000)
    settle(page)
    assert exceptions(page) == []
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    screenshot(page, "your_model")
    page.get_by_role("button", name=re.compile("Analyse colours.pt")).click()
    settle(page)

    page.get_by_role("link", name=re.compile("Compare methods")).click()
    settle(page, timeout=300)
    assert exceptions(page) == []
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=300_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 5
    assert "colours.pt" in page.url  # the sidebar's dataset, bound to the URL
    screenshot(page, "your_model_compare")

    page.get_by_role("link", name=re.compile("Dataset shift")).click()
    settle(page, timeout=300)
    assert exceptions(page) == []
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=300_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 6
    screenshot(page, "your_model_shift")

    # Your images: a picture of the user's own (at another size) through every method
    picture = tmp_path / "my-red.png"
    from PIL import Image

    Image.open(sorted((images / "red").glob("*.png"))[0]).resize((48, 40)).save(picture)
    page.get_by_role("link", name=re.compile("Your images")).click()
    settle(page, timeout=300)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        str(picture))
    settle(page, timeout=300)
    assert exceptions(page) == []
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    page.get_by_text("resized to 16×16 px (bilinear)").first.wait_for(timeout=120_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2  # one per method
    screenshot(page, "your_model_images")
