"""Three problems a newcomer met, each driven as a user meets it: the Your model page's uploader
offers exactly the model types this server takes (AppTest's own file_uploader); ``referral
--score knn --out`` is refused before any file is read; the Triage page names an uploaded labels
file by the name the user gave it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.app_fixtures import framed_page
from tests.user_model_fixtures import (
    COLOURS,
    export_torchscript,
    offered_model,
    train_tiny_net,
    write_config,
    write_folder,
)
from uqviz.user_model.loading import TORCH_UPLOADS_ENV

TIMEOUT = 240  # a limit, not a target
FEATURE_SCORES = ("knn", "vim", "mahalanobis", "relative_mahalanobis")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("newcomer")
    export_torchscript(train_tiny_net(steps=20), root / "net.pt")
    write_config(root)
    write_folder(root / "data" / "images", {c: 12 for c in COLOURS})
    write_folder(root / "data" / "new", {c: 3 for c in COLOURS}, seed=5)
    return root


# -- 1. the Your model page's uploader -------------------------------------------------------
def _model_uploader(at):
    (uploader,) = [u for u in at.get("file_uploader") if u.proto.id.endswith("model_files")]
    return uploader


def test_the_uploader_offers_onnx_only_unless_the_operator_allows_torch(monkeypatch):
    monkeypatch.delenv(TORCH_UPLOADS_ENV, raising=False)  # the default
    at = framed_page("pages/your_model.py", TIMEOUT)
    assert not at.exception, at.exception
    uploader = _model_uploader(at)
    assert list(uploader.proto.type) == [".onnx"]  # what the browser offers and Streamlit takes
    assert uploader.proto.label == "Model file(s): ONNX (.onnx)"
    assert uploader.proto.help.startswith("This server takes ONNX (.onnx) model files; ")
    # the browser refuses a .pt in the uploader ("files are not allowed."); the line above it
    # says which files and why
    assert any(c.value.startswith("TorchScript (`.pt`) and `torch.export` (`.pt2`) files are "
                                  "refused here") for c in at.caption)
    assert any("Models: ONNX (.onnx);" in m.value for m in at.markdown)

    monkeypatch.setenv(TORCH_UPLOADS_ENV, "1")
    at = framed_page("pages/your_model.py", TIMEOUT)
    assert not at.exception, at.exception
    uploader = _model_uploader(at)
    assert list(uploader.proto.type) == [".onnx", ".pt", ".pt2"]
    assert uploader.proto.label == ("Model file(s): ONNX (.onnx), TorchScript (.pt) or "
                                    "torch.export (.pt2)")
    assert "pickled checkpoints (torch.save) are refused" in uploader.proto.help


def test_a_torch_file_that_reaches_the_page_gets_one_line(workdir, monkeypatch):
    """A TorchScript file renamed ``.onnx`` passes the browser's filter; Add refuses it by its
    content in one line, and says what to do."""
    monkeypatch.delenv(TORCH_UPLOADS_ENV, raising=False)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((workdir / "data" / "images").rglob("*.png")):
            zf.write(path, f"pics/{path.parent.name}/{path.name}")
    at = framed_page("pages/your_model.py", TIMEOUT)
    _model_uploader(at).upload("net.onnx", (workdir / "net.pt").read_bytes())
    at.file_uploader(key="model_sidecar").upload("model.json",
                                                 (workdir / "model.json").read_bytes())
    at.file_uploader(key="model_images_zip").upload("pics.zip", archive.getvalue())
    at.run()
    at.button(key="model_add").click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert errors[0].startswith("net.onnx: torchscript uploads are off on this server"), errors
    assert "upload an ONNX export instead" in errors[0]


def test_a_file_of_no_accepted_type_is_named_with_the_types_this_server_takes(monkeypatch):
    from uqviz.ui import models

    monkeypatch.delenv(TORCH_UPLOADS_ENV, raising=False)
    with pytest.raises(ValueError, match=r"^upload at least one model file \(ONNX \(\.onnx\)\)$"):
        models.add_model([], images=Path("."))
    monkeypatch.setattr(models.st, "session_state", {})
    with pytest.raises(ValueError, match=r"^net\.pkl: not a model file; this server takes "
                                         r"ONNX \(\.onnx\)$"):
        models.add_model([("net.pkl", b"x")], images=Path("."))


# -- 2. referral --out with a feature score ---------------------------------------------------
def _fail_if_called(what: str):
    def called(*args, **kwargs):
        raise AssertionError(f"{what} was called before the score was refused")
    return called


@pytest.mark.parametrize("score", FEATURE_SCORES)
def test_referral_refuses_a_feature_score_for_out_before_reading(score, tmp_path, capsys,
                                                                 monkeypatch):
    import uqviz.__main__ as cli
    import uqviz.cli_triage

    monkeypatch.setattr(cli, "_read", _fail_if_called("reading the predictions file"))
    monkeypatch.setattr(uqviz.cli_triage, "model_predictions",
                        _fail_if_called("loading the model"))
    out = tmp_path / "policy.json"
    for source in ([str(tmp_path / "missing.csv")],  # no such file: the score error comes first
                   ["--model", str(tmp_path / "missing.onnx"), "--dataset",
                    f"folder:{tmp_path / 'none'}"]):
        rc = cli.main(["referral", *source, "--score", score, "--out", str(out),
                       "--target-accuracy", "0.9"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert err.startswith("error: --out: a policy on "), err
        assert f"({score}) cannot be exported" in err, err
        assert "scores that can be exported: max_prob" in err, err
        assert not out.exists()


def test_referral_refuses_knn_for_out_in_one_line_from_the_shell(tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "uqviz", "referral", str(tmp_path / "p.csv"),
                          "--score", "knn", "--out", str(tmp_path / "policy.json"),
                          "--target-accuracy", "0.9"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "error: --out: a policy on KNN distance (knn) cannot be exported: it needs parts fitted "
        "on the fit rows (a feature bank, class means or a principal space) that a policy does "
        "not carry; scores that can be exported: max_prob, margin, entropy, expected_entropy, "
        "mutual_information, variance, max_logit, energy, gen"], run.stderr


# -- 3. the Triage page's labels upload ------------------------------------------------------
@pytest.fixture(scope="module")
def offered(workdir):
    yield from offered_model(workdir)


def test_a_labels_file_is_named_by_its_uploaded_name(offered):
    at = framed_page("pages/triage.py", TIMEOUT, dataset=offered,
                     **{f"methods:{offered}": ["softmax"]},
                     triage_images_how="a folder on the server", ref_guarantee_target=80.0)
    (folder,) = [f for f in at.selectbox(key="triage_folder").options if f.endswith("new")]
    at.selectbox(key="triage_folder").set_value(folder)
    at.button(key="triage_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    first_id = next(iter(at.session_state["triage_result"].out.joinpath(
        "decisions.csv").read_text().splitlines()[1:])).split(",")[0]

    at.file_uploader(key="triage_labels").upload("my reviews.csv",
                                                 f"id,label\n{first_id},purple\n".encode())
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert errors == ["my reviews.csv: line 2: label 'purple' is not one of the classes "
                      "(red, green, blue); write 'none' for a case that is none of them"], errors

    at.file_uploader(key="triage_labels").clear().upload("reviewed.csv", b"\xff\xfe\x00bad")
    at.run()
    assert [e.value for e in at.error] == ["reviewed.csv: not a UTF-8 text file"]
