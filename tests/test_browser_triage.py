"""Triage in a real browser, end to end: add a user's model (ONNX) and labelled images on the
Your model page, open Triage (the Referral page's guaranteed policy, built by the function
that makes its export), upload a zip of unlabelled images, read the referred share and the
review queue, download decisions.csv and review.zip, upload the reviewers' labels and read the
team's accuracy. Screenshot: artifacts/screenshots/triage.png."""

import csv
import io
import re
import zipfile

import numpy as np
import pytest
from PIL import Image

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
    coloured_pixels,
    export_onnx,
    train_tiny_net,
    write_config,
    write_folder,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_missing_reason() is not None,
                                 reason=chromium_missing_reason() or "")]

ERRORS = '[data-testid="stAlertContentError"]'


def _upload(page, label: str, path) -> None:
    box = page.locator('[data-testid="stFileUploader"]').filter(has_text=label).first
    box.locator('input[type="file"]').set_input_files(str(path))
    box.locator('[data-testid="stFileChipName"]', has_text=path.name).first.wait_for(
        timeout=WAIT_S * 1000)
    settle(page)


def _labelled(tmp_path):
    """Class folders, with grey images filed as red: errors the policy learns to refer."""
    images = write_folder(tmp_path / "pics", {"red": 12, "green": 12, "blue": 12})
    rng = np.random.default_rng(7)
    for i in range(8):
        Image.fromarray(coloured_pixels("grey", rng)).save(images / "red" / f"grey{i}.png")
    archive = tmp_path / "pics.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(images.rglob("*.png")):
            zf.write(path, f"pics/{path.parent.name}/{path.name}")
    return archive


def _unlabelled(tmp_path) -> tuple:
    """A flat zip of new images and their true classes (grey ones: red, as filed above)."""
    rng = np.random.default_rng(11)
    truth, archive = {}, tmp_path / "new.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for k, colour in enumerate(["red", "green", "blue", "grey"] * 3):
            buffer = io.BytesIO()
            Image.fromarray(coloured_pixels(colour, rng)).save(buffer, format="PNG")
            zf.writestr(f"img{k:02d}.png", buffer.getvalue())
            truth[f"img{k:02d}.png"] = "red" if colour == "grey" else colour
    return archive, truth


def test_triage_new_images_and_read_the_team(page, app_url, tmp_path):
    model = export_onnx(train_tiny_net(), tmp_path / "colours.onnx", external_data=False)
    sidecar = write_config(tmp_path)
    page.goto(f"{app_url}/your_model")
    settle(page)
    _upload(page, "Model file", model)
    _upload(page, "model.json", sidecar)
    _upload(page, "Images (.zip", _labelled(tmp_path))
    page.get_by_role("button", name="Add the model").click()
    page.get_by_text("Added colours.onnx on").wait_for(timeout=120_000)
    settle(page)
    page.get_by_role("button", name=re.compile("Analyse colours.onnx")).click()
    settle_until(page, lambda: "colours.onnx" in sidebar_dataset(page),
                 what="the sidebar to select the model")

    open_page(page, re.compile("Triage new images"), "Triage new images", timeout=300)
    assert exceptions(page) == [] and page.locator(ERRORS).count() == 0
    page.get_by_text(re.compile("Refer when ")).first.wait_for()
    archive, truth = _unlabelled(tmp_path)
    _upload(page, "Images (.zip)", archive)
    page.get_by_role("button", name="Triage", exact=True).click()
    page.get_by_text(re.compile(r"of 12 images referred")).wait_for(timeout=180_000)
    settle(page)
    assert exceptions(page) == [] and page.locator(ERRORS).count() == 0
    assert page.get_by_text(re.compile(r"the policy expected \d")).count() == 1

    with page.expect_download() as download:
        page.get_by_role("button", name="Download decisions.csv").click()
    rows = list(csv.DictReader(open(download.value.path(), encoding="utf-8")))
    assert sorted(r["id"] for r in rows) == sorted(truth)
    referred = [r["id"] for r in rows if r["decision"] == "refer"]
    assert referred, "the grey images should be referred"
    wait_until(lambda: page.locator('[data-testid="stImage"]').count() >= len(referred),
               what="the review queue's gallery")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download review.zip").click()
    with zipfile.ZipFile(download.value.path()) as review:
        names = review.namelist()
    assert "labels.csv" in names and len(names) == len(referred) + 1
    screenshot(page, "triage")

    labels = tmp_path / "reviewed.csv"
    labels.write_text("id,label\n" + "".join(f"{i},{c}\n" for i, c in truth.items()))
    _upload(page, "Labels (CSV", labels)
    page.get_by_text(re.compile(r"Team accuracy \d")).wait_for(timeout=60_000)
    assert exceptions(page) == [] and page.locator(ERRORS).count() == 0
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    screenshot(page, "triage_team")
