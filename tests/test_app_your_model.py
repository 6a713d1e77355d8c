"""A user's model on every analysis page under AppTest: a tiny TorchScript net and a folder of
PNGs made in the test, registered through ``uqviz.ui.models`` (AppTest cannot fill a
file_uploader) or offered by ``UQVIZ_MODELS``; the page's form logic is tested directly."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_fixtures import framed_page
from tests.user_model_fixtures import (
    export_torchscript,
    train_tiny_net,
    write_config,
    write_folder,
)
from uqviz.user_model import ModelSource, UserModelError
from uqviz.user_model.loading import TORCH_UPLOADS_ENV

TIMEOUT = 240
COUNTS = {"red": 12, "green": 12, "blue": 12}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("your_model")
    export_torchscript(train_tiny_net(), root / "net.pt")
    write_config(root)
    write_folder(root / "data" / "images", COUNTS)
    write_folder(root / "data" / "other", {"x": 8}, seed=3)
    return root


@pytest.fixture(scope="module")
def offered(workdir):
    """The model offered to every session through UQVIZ_MODELS, images under a data root."""
    mp = pytest.MonkeyPatch()
    mp.setenv("UQVIZ_DATA_ROOTS", str(workdir / "data"))
    mp.setenv("UQVIZ_MODELS", f"{workdir / 'net.pt'}=images")
    src = ModelSource.create([workdir / "net.pt"], workdir / "data" / "images")
    yield src.key
    mp.undo()


def _framed(page: str, **state) -> AppTest:
    return framed_page(page, TIMEOUT, **state)


def _ok(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_the_sidebar_lists_the_model_and_its_methods(offered):
    at = _framed("pages/home.py", dataset=offered)
    _ok(at)
    selector = at.sidebar.selectbox[0]
    assert offered in selector.options or selector.value == offered
    methods = at.sidebar.multiselect[0]
    assert {"softmax", "temperature", "tta", "mc_dropout"} <= set(methods.value)
    assert "ensemble" not in methods.options


@pytest.mark.parametrize("page, charts", [
    ("pages/compare.py", 5), ("pages/referral.py", 1), ("pages/conformal.py", 1),
    ("pages/shift.py", 6), ("pages/ood.py", 2),
])
def test_analysis_pages_run_on_the_model(offered, page, charts):
    at = _framed(page, dataset=offered, **{f"methods:{offered}": ["softmax", "tta"]})
    _ok(at)
    assert len(at.get("plotly_chart")) >= charts


def test_your_images_takes_pictures_for_the_model(offered):
    at = _framed("pages/your_images.py", dataset=offered, **{f"methods:{offered}": ["softmax"]})
    _ok(at)
    assert len(at.get("file_uploader")) == 1
    assert any("of your model" in c.value and "16×16" in c.value for c in at.caption)
    assert any("Upload a picture to see" in i.value for i in at.info)


@pytest.mark.parametrize("page", ["pages/data_models.py", "pages/embedding.py"])
def test_pages_that_need_a_built_in_dataset_say_so(offered, page):
    at = _framed(page, dataset=offered, **{f"methods:{offered}": ["softmax"]})
    _ok(at)
    if page == "pages/embedding.py":  # the tiny net has features: a map is drawn
        assert len(at.get("plotly_chart")) >= 1
    else:
        assert any("your own model" in i.value for i in at.info), [i.value for i in at.info]


def test_the_shift_page_shows_the_corrupted_images_of_the_model(offered):
    at = _framed("pages/shift.py", dataset=offered, **{f"methods:{offered}": ["softmax"]})
    _ok(at)
    (strip,) = at.get("bidi_component")  # the strip of corrupted test images, every severity
    data = json.loads(strip.proto.json)
    assert data["images"] and [len(level["pictures"]) for level in data["levels"]] == [8] * 6
    assert any("rotated digit" in i.value for i in at.info)


def test_the_page_registers_and_offers_analyse(workdir):
    """Registration through the page's own functions, then the page shows the result."""
    from uqviz.ui import models

    state: dict = {}
    mp = pytest.MonkeyPatch()
    mp.setattr(models.st, "session_state", state)
    try:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted((workdir / "data" / "images").rglob("*.png")):
                archive.write(path, f"pics/{path.parent.name}/{path.name}")
        data = models.images_folder(("pics.zip", buffer.getvalue()), None, "images")
        overrides = models.form_overrides(input_size="16 x 16", channels=3,
                                          classes="red, green, blue", features_output="1",
                                          mean="0.5, 0.5, 0.5", std="0.25 0.25 0.25")
        mp.delenv(TORCH_UPLOADS_ENV, raising=False)  # the default: ONNX uploads only
        with pytest.raises(UserModelError, match="^net.pt: torchscript uploads are off on this "
                                                 "server"):
            models.add_model([("net.pt", (workdir / "net.pt").read_bytes())],
                             overrides=overrides, images=data)
        assert "ONNX uploads only" in models.upload_policy()
        assert not data.exists()  # the refused Add removed its extraction
        mp.setenv(TORCH_UPLOADS_ENV, "1")  # the operator allowed TorchScript
        assert "also accepts TorchScript" in models.upload_policy()
        data = models.images_folder(("pics.zip", buffer.getvalue()), None, "images")
        source = models.add_model([("net.pt", (workdir / "net.pt").read_bytes())],
                                  overrides=overrides, images=data)
        folder = state[models.FOLDER_KEY].path
        assert data.is_relative_to(folder)
        assert source.sizes["test"] + source.sizes["calibration"] == sum(COUNTS.values())
        assert state[models.MODELS_KEY] == {source.key: source}
        with pytest.raises(UserModelError, match="not a model file"):
            models.add_model([("net.pkl", b"x")], overrides=overrides, images=data)
        with pytest.raises(UserModelError):  # garbage bytes: refused, nothing left behind
            models.add_model([("bad.pt", b"not a model")], overrides=overrides, images=data)
        assert not list(folder.glob("model-*/bad.pt"))
        with pytest.raises(UserModelError, match="input size"):
            models.form_overrides(input_size="big")
        assert list(state[models.MODELS_KEY]) == [source.key]  # nothing lost
        again = models.add_model([("net.pt", (workdir / "net.pt").read_bytes())],
                                 overrides=overrides,
                                 images=models.images_folder(("pics.zip", buffer.getvalue()),
                                                             None, "images"))
        # the same upload again replaces the first and deletes its model files; the zip's
        # bytes are the same, so its one extraction is kept and used by both
        assert list(state[models.MODELS_KEY]) == [again.key]
        assert data.exists() and again.data == source.data
        assert not any(p.exists() for p in map(Path, source.models))
        assert all(p.exists() for p in map(Path, again.models))
        assert source.label == again.label == "net.pt on pics (your model)"
        source = again
        state[models.FOLDER_KEY].remove()
        assert not folder.exists()
    finally:
        mp.undo()

    at = _framed("pages/your_model.py", **{models.MODELS_KEY: {source.key: source},
                                           "your_model_last": source.key})
    _ok(at)
    buttons = [b for b in at.button if b.label.startswith("Analyse ")]
    assert buttons and source.label in buttons[0].label
    buttons[0].click().run()
    assert at.session_state["dataset"] == source.key


def test_a_folder_outside_the_data_roots_is_refused(workdir, monkeypatch):
    from uqviz.data.roots import OutsideDataRoots
    from uqviz.ui.models import images_folder

    monkeypatch.setenv("UQVIZ_DATA_ROOTS", str(workdir / "data"))
    with pytest.raises(OutsideDataRoots):
        images_folder(None, str(workdir), "images")
