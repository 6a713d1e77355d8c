"""Untrusted models and archives on the 'Your model' page and ``evaluate --model``, driven as a
user drives them: the page under AppTest (its file uploaders fed by a stand-in, as AppTest
cannot fill one) and the command line through ``main`` or a subprocess. Every problem is one
line, never a traceback, never the server's temporary path."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
import torch
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest
from torch import nn

from tests.app_fixtures import framed_page
from tests.test_cli import run_cli
from tests.user_model_fixtures import export_torchscript, train_tiny_net, write_config, write_folder
from uqviz.__main__ import main
from uqviz.ui import models
from uqviz.user_model import ModelSource
from uqviz.user_model.loading import TORCH_UPLOADS_ENV

TIMEOUT = 240
ONE_ROW = (r"{} gave 1 rows? of outputs for a batch of \d+ images; a model must return one "
           r"row per image")
CORRUPT = b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20


class Batchless(nn.Module):
    """TinyNet's outputs summed over the batch: one row whatever the batch size."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, feats = self.net(x)
        return logits.sum(0, keepdim=True), feats.sum(0, keepdim=True)


class Flat(nn.Module):
    """A linear model on the mean colour, no dropout (nothing runs it on a batch of two while
    it is added), its outputs summed over the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.mean(dim=(2, 3))
        return self.fc(h).sum(0, keepdim=True), h.sum(0, keepdim=True)


class Scaled(nn.Module):
    """TinyNet's logits times ``scale`` (inf: infinite outputs; nan: NaN outputs)."""

    def __init__(self, net: nn.Module, scale: float) -> None:
        super().__init__()
        self.net, self.scale = net, scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, feats = self.net(x)
        return (logits.abs() + 1.0) * self.scale, feats


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Models (good, batch-summing, infinite, NaN, a pickle) with one model.json; a labelled
    folder with one corrupt PNG among good ones, and the same as a zip."""
    root = tmp_path_factory.mktemp("untrusted")
    net = train_tiny_net(steps=20)
    export_torchscript(net, root / "net.pt")
    export_torchscript(Batchless(net).eval(), root / "m.pt", trace=True)
    export_torchscript(Flat().eval(), root / "flat.pt", trace=True)
    export_torchscript(Scaled(net, float("inf")).eval(), root / "inf.pt", trace=True)
    export_torchscript(Scaled(net, float("nan")).eval(), root / "nan.pt", trace=True)
    torch.save(net, root / "pickled.pt")
    write_config(root)
    write_folder(root / "data" / "pics", {"red": 6, "green": 6, "blue": 6})
    (root / "data" / "pics" / "red" / "bad.png").write_bytes(CORRUPT)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((root / "data" / "pics").rglob("*.png")):
            archive.write(path, f"pics/{path.parent.name}/{path.name}")
    (root / "pics.zip").write_bytes(buffer.getvalue())
    return root


def error_line(capsys, *args) -> str:
    """``main`` exits 2 with one line on stderr (after any progress bar's line)."""
    assert main(["evaluate", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.split("\n")[-2]
    assert err.endswith("\n") and last.startswith("error: ") and err.count("error:") == 1
    return last.removeprefix("error: ")


# -- the command line --------------------------------------------------------------------------
def test_a_model_that_gives_one_row_per_batch_is_named_in_one_line(work, tmp_path, capsys):
    line = error_line(capsys, "--model", work / "m.pt", "--dataset",
                      f"folder:{work / 'data' / 'pics'}", "--methods", "softmax",
                      "--corruptions", "gaussian_noise", "--out", tmp_path / "out")
    assert re.fullmatch(ONE_ROW.format("m\\.pt"), line), line


def test_infinite_and_nan_outputs_are_told_apart(work, tmp_path, capsys):
    for model, kind in (("inf.pt", "infinite"), ("nan.pt", "NaN")):
        line = error_line(capsys, "--model", work / model, "--dataset",
                          f"folder:{work / 'data' / 'pics'}", "--methods", "softmax",
                          "--corruptions", "gaussian_noise", "--out", tmp_path / "out")
        assert line.startswith(f"{model} gave {kind} outputs for "), line


def test_a_folder_given_as_the_model_is_called_a_folder(work, tmp_path, capsys):
    assert error_line(capsys, "--model", work / "data", "--dataset",
                      f"folder:{work / 'data' / 'pics'}", "--out", tmp_path / "out") == (
        f"{work / 'data'}: a folder, not a model file; give the model file inside it")


def test_an_os_error_is_one_line_with_the_file_name_only(work, tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("a file where the bundle's folder should go")
    line = error_line(capsys, "--model", work / "net.pt", "--dataset",
                      f"folder:{work / 'data' / 'pics'}", "--methods", "softmax",
                      "--corruptions", "gaussian_noise", "--out", out)
    assert line == "taken: file exists"


def test_errors_and_warnings_start_their_own_line_after_the_progress_bar(work, tmp_path):
    """In a pipe, a progress bar's text stays on its line: what follows starts a new one."""
    images = f"folder:{work / 'data' / 'pics'}"
    ok = run_cli("evaluate", "--model", work / "net.pt", "--dataset", images, "--methods",
                 "softmax", "--corruptions", "gaussian_noise", "--out", tmp_path / "out")
    assert ok.returncode == 0, ok.stderr
    lines = ok.stderr.split("\n")
    warning = [line for line in lines if "warning:" in line]
    assert len(warning) == 1 and warning[0].startswith(
        f"warning: {(work / 'data' / 'pics').resolve()} (test part): skipped 1 unreadable "
        "image of 13 (first: red/bad.png: "), ok.stderr
    assert any(line.startswith("images: calibration 6, test 13") for line in lines)
    failed = run_cli("evaluate", "--model", work / "m.pt", "--dataset", images, "--methods",
                     "softmax", "--corruptions", "gaussian_noise", "--out", tmp_path / "bad")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "%|" in failed.stderr  # a bar was drawn before the failure
    errors = [line for line in failed.stderr.split("\n") if "error:" in line]
    assert len(errors) == 1 and re.fullmatch("error: " + ONE_ROW.format("m\\.pt"),
                                             errors[0]), failed.stderr


# -- the page ----------------------------------------------------------------------------------
class Upload(io.BytesIO):
    """What ``st.file_uploader`` returns: the bytes and the file's name."""

    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name = name


@pytest.fixture
def uploads(monkeypatch):
    """Widget key -> the files its uploader holds (the page's uploaders read this dict)."""
    held: dict[str, object] = {}

    def file_uploader(self, label, *args, key=None, accept_multiple_files=False, **kwargs):
        value = held.get(key)
        return list(value or []) if accept_multiple_files else value

    monkeypatch.setattr(DeltaGenerator, "file_uploader", file_uploader)
    monkeypatch.setenv(TORCH_UPLOADS_ENV, "1")  # these tests upload TorchScript files
    return held


def _framed(page: str, **state) -> AppTest:
    return framed_page(page, TIMEOUT, **state)


def _add(at: AppTest) -> AppTest:
    at.button(key="model_add").click().run()
    assert not at.exception, at.exception
    return at


def _upload(held: dict, work: Path, model: str, archive: bytes | None = None,
            name: str = "pics.zip") -> None:
    held["model_files"] = [Upload(model, (work / model).read_bytes())]
    held["model_sidecar"] = Upload("model.json", (work / "model.json").read_bytes())
    held["model_images_zip"] = Upload(name, archive or (work / "pics.zip").read_bytes())


def _extracted(at: AppTest) -> list[Path]:
    """The extracted uploads in the session's folder (each named by its archive's SHA-256)."""
    folder = at.session_state[models.FOLDER_KEY].path
    return sorted(p for p in folder.iterdir() if p.is_dir() and len(p.name) == 64)


def test_the_page_lists_the_images_it_cannot_read(work, uploads):
    at = _framed("pages/your_model.py")
    _upload(uploads, work, "net.pt")
    _add(at)
    assert not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("Added net.pt on pics") for s in at.success), (
        [s.value for s in at.success], [i.value for i in at.info], [w.value for w in at.warning])
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("pics.zip/pics: skipped 1 unreadable image of 19 (first: "
                              "red/bad.png: "), warning
    assert "uqviz-session-" not in warning
    (expander,) = [e for e in at.expander if "unreadable" in e.label]
    assert expander.label == "The 1 unreadable image of pics.zip/pics"
    table = expander.dataframe[0].value
    assert list(table["file"]) == ["red/bad.png"]


def test_a_refused_model_leaves_no_extraction_however_often_add_is_pressed(work, uploads):
    at = _framed("pages/your_model.py")
    _upload(uploads, work, "pickled.pt")
    for _ in range(3):
        _add(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and "pickle is refused" in errors[0], errors
        assert _extracted(at) == []
    _upload(uploads, work, "net.pt")
    for _ in range(2):  # added, then the same upload again replaces it: one extraction
        _add(at)
        assert not at.error, [e.value for e in at.error]
        assert len(_extracted(at)) == 1
    (source,) = at.session_state[models.MODELS_KEY].values()
    assert Path(source.data).is_dir()
    _upload(uploads, work, "pickled.pt")  # refused on the same images
    _add(at)
    assert len(_extracted(at)) == 1  # the registered model still uses them


def test_the_batch_summing_model_fails_on_compare_with_one_line(work, monkeypatch):
    """Offered by UQVIZ_MODELS (a model of the session cannot be the sidebar's choice under
    AppTest: its label needs the session's state)."""
    monkeypatch.setenv("UQVIZ_DATA_ROOTS", str(work / "data"))
    monkeypatch.setenv("UQVIZ_MODELS", f"{work / 'flat.pt'}=pics")
    key = ModelSource.create([work / "flat.pt"], work / "data" / "pics").key
    at = _framed("pages/compare.py", dataset=key, **{f"methods:{key}": ["softmax"]})
    assert not at.exception, at.exception
    assert not at.sidebar.warning, [w.value for w in at.sidebar.warning]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and re.fullmatch(
        "Could not prepare the predictions: " + ONE_ROW.format("flat\\.pt"), errors[0]), errors


@pytest.mark.parametrize("members, why", [
    (lambda: {"pics/red.png": b"x", "pics/red.png/0.png": b"y"},
     "a file and a folder have the same name"),
    (lambda: {"pics/red/" + "a" * 300 + ".png": b"x"}, "file name too long"),
])
def test_an_archive_the_disk_refuses_is_one_line_without_the_server_path(work, uploads, members,
                                                                        why):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members().items():
            archive.writestr(name, data)
    at = _framed("pages/your_model.py")
    _upload(uploads, work, "net.pt", buffer.getvalue(), name="odd.zip")
    _add(at)
    (error,) = [e.value for e in at.error]
    assert error.startswith("odd.zip: ") and why in error, error
    assert "Errno" not in error and "uqviz-session-" not in error and "\n" not in error
    assert _extracted(at) == []


def test_a_pickle_offered_by_the_operator_is_not_offered_and_says_why(work, monkeypatch):
    monkeypatch.setenv("UQVIZ_DATA_ROOTS", str(work / "data"))
    monkeypatch.setenv("UQVIZ_MODELS", f"{work / 'pickled.pt'}=pics")
    at = _framed("pages/home.py")
    assert not at.exception, at.exception
    warnings = [w.value for w in at.sidebar.warning]
    assert len(warnings) == 1 and warnings[0].startswith(
        "UQVIZ_MODELS: a model is not offered: pickled.pt: a plain torch.save pickle is "
        "refused"), warnings
    assert str(work) not in warnings[0]
    assert not [o for o in at.sidebar.selectbox[0].options if o.startswith("model:")]


def test_by_default_the_page_refuses_a_torchscript_upload_in_one_line(work, uploads, monkeypatch):
    monkeypatch.delenv(TORCH_UPLOADS_ENV)
    at = _framed("pages/your_model.py")
    assert any("ONNX uploads only" in c.value for c in at.caption)
    _upload(uploads, work, "net.pt")
    _add(at)
    assert [e.value for e in at.error] == [
        "net.pt: torchscript uploads are off on this server (a torchscript file is a program "
        "torch runs); upload an ONNX export instead (torch.onnx.export(model, (example,), "
        f"path, external_data=False)), or ask the operator to set {TORCH_UPLOADS_ENV}=1"]
    assert _extracted(at) == []


def test_an_operator_entry_whose_folder_is_a_link_out_of_the_roots_is_refused(work, tmp_path,
                                                                              monkeypatch):
    root, outside = tmp_path / "root", tmp_path / "outside"
    write_folder(outside, {"red": 2, "green": 2, "blue": 2})
    root.mkdir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("UQVIZ_DATA_ROOTS", str(root))
    monkeypatch.setenv("UQVIZ_MODELS", f"{work / 'net.pt'}={root / 'linked'}")
    (problem,) = models.env_problems()
    assert problem.startswith("UQVIZ_MODELS: a model is not offered: ")
    assert problem.endswith("linked: outside the data folders (" + str(root) + ")")
    assert models.env_models() == {}
