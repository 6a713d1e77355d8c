"""The "Your images" page under AppTest (which cannot upload: the browser test does that)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import framed_page, offer_predictions_file, pretrain_digits

TIMEOUT = 180
PAGE = "pages/your_images.py"


@pytest.fixture(scope="module", autouse=True)
def trained():
    pretrain_digits()


def _page(**state) -> AppTest:
    return framed_page(PAGE, TIMEOUT, **state)


def test_page_renders_the_uploader_without_error():
    at = _page()
    assert not at.exception, at.exception
    assert len(at.get("file_uploader")) == 1
    assert not at.error, [e.value for e in at.error]
    assert any("Upload a picture" in i.value for i in at.info)


def test_predictions_file_dataset_says_it_needs_a_trained_dataset(monkeypatch, tmp_path):
    at = _page(dataset=offer_predictions_file(monkeypatch, tmp_path / "mine.csv", rows=50))
    assert not at.exception, at.exception
    assert any("needs a trained dataset" in i.value for i in at.info)
    assert len(at.get("file_uploader")) == 0


def test_a_drawn_digit_goes_through_every_method():
    """What the page does with an upload, without the widget: prepare, then predict."""
    import torch

    from uqviz.data.user_images import preprocess
    from uqviz.methods import METHOD_IDS
    from uqviz.ui.backend import dataset_spec
    from uqviz.ui.shift_backend import fitted_method

    image = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(image).line([(140, 40), (140, 240)], fill=255, width=24)
    spec = dataset_spec("digits")
    x = preprocess(image, spec.input_shape).tensor[None]
    for method in METHOD_IDS:
        probs = fitted_method("digits", method).predict(x, torch.device("cpu")).probs
        assert probs.ndim == 3 and probs.shape[1:] == (1, len(spec.class_names))
        np.testing.assert_allclose(probs.sum(axis=2), 1.0, atol=1e-4)
