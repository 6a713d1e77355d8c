"""The Triage page under AppTest: its explanation on the default dataset; with a user's model
(a tiny TorchScript net offered by ``UQVIZ_MODELS``), the Referral page's guaranteed policy
applied to a folder under ``UQVIZ_DATA_ROOTS`` decides as ``Policy.decide`` does on the model's
own outputs; a policy for other classes gets one error line; the team's report from labels."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app_fixtures import framed_page
from tests.user_model_fixtures import (
    COLOURS,
    export_torchscript,
    normalise,
    offered_model,
    train_tiny_net,
    write_config,
    write_folder,
)
from uqviz.policy import Policy

TIMEOUT = 240  # a limit, not a target
PAGE = "pages/triage.py"
NEW = {"red": 4, "green": 4, "blue": 4, "grey": 6}  # grey: no class of the model's


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("triage")
    export_torchscript(train_tiny_net(), root / "net.pt")
    write_config(root)
    write_folder(root / "data" / "images", {c: 12 for c in COLOURS})
    write_folder(root / "data" / "new", NEW, seed=5)
    (root / "data" / "new" / "broken.png").write_bytes(b"not an image")
    (root / "data" / "empty").mkdir()
    (root / "data" / "empty" / "notes.txt").write_text("no images here")
    return root


@pytest.fixture(scope="module")
def offered(workdir):
    yield from offered_model(workdir)


def _triage(offered, folder_name: str = "new", **state):
    at = framed_page(PAGE, TIMEOUT, dataset=offered, **{f"methods:{offered}": ["softmax"]},
                     triage_images_how="a folder on the server",
                     ref_guarantee_target=80.0, **state)  # reachable on 18 calibration images
    assert not at.exception, at.exception
    (folder,) = [f for f in at.selectbox(key="triage_folder").options
                 if f.endswith(folder_name)]
    at.selectbox(key="triage_folder").set_value(folder)
    return at.button(key="triage_run").click().run()


def _model_probs(workdir, ids: list[str]) -> np.ndarray:
    """The net's softmax on the images, computed here without uqviz: (1, N, C)."""
    net = torch.jit.load(str(workdir / "net.pt")).eval()
    pixels = np.stack([np.asarray(Image.open(workdir / "data" / "new" / i).convert("RGB"))
                       for i in ids])
    x = normalise(torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0)
    with torch.no_grad():
        return torch.softmax(net(x)[0], dim=1).numpy()[None]


def test_the_default_dataset_gets_the_explanation():
    at = framed_page(PAGE, TIMEOUT)
    assert not at.exception, at.exception
    assert any("Triage runs your own model" in i.value for i in at.info)


def _decided_as_the_policy_decides(workdir, at) -> tuple[object, list[str]]:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    result = at.session_state["triage_result"]
    rows = list(csv.DictReader(io.StringIO((result.out / "decisions.csv").read_text())))
    ids = [r["id"] for r in rows]
    assert len(ids) == sum(NEW.values()) and "broken.png" not in ids
    assert any("skipped" in w.value and "broken.png" in w.value for w in at.warning)
    expected = Policy.from_document(result.policy).decide(_model_probs(workdir, ids))
    assert [r["predicted"] for r in rows] == [result.classes[k] for k in expected.predicted]
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected.score, atol=1e-5)
    assert [r["decision"] == "refer" for r in rows] == expected.refer.tolist()
    assert any("images referred" in m.value for m in at.markdown)
    assert len(at.get("download_button")) == 3
    return result, ids


def test_a_folder_is_decided_as_the_policy_decides_on_the_model_outputs(workdir, offered):
    at = _triage(offered)
    result, _ = _decided_as_the_policy_decides(workdir, at)
    assert result.policy["model"]["files"][0]["name"] == "net.pt"  # the Referral page's export
    assert result.policy["guarantee"]["target_accuracy"] == pytest.approx(0.8)

    # the same policy with a lower threshold, uploaded: the grey images are referred
    doc = dict(result.policy, threshold=0.1)
    at = _triage(offered, triage_policy_from="a policy file (JSON)", triage_uploaded_policy=doc)
    result, ids = _decided_as_the_policy_decides(workdir, at)
    assert 0 < result.summary["referred"] < len(ids)
    captions = [img.caption for image in at.get("image") for img in image.proto.imgs]
    assert captions and captions[0].startswith("#1 grey/")  # the review queue's gallery

    # the team's report from labels: every case labelled (the automated ones audited)
    classes = result.classes
    labels = "id,label\n" + "".join(
        f"{i},{i.split('/')[0] if i.split('/')[0] in classes else classes[0]}\n" for i in ids)
    from uqviz.ui.triage import team_table

    table, sentence = team_table(result, "reviewed.csv", labels.encode())
    assert list(table["who"])[-1].startswith("Team") and "Team accuracy" in sentence
    with zipfile.ZipFile(result.out / "review.zip") as archive:
        assert "labels.csv" in archive.namelist()


def test_a_policy_for_other_classes_gets_one_error_line(workdir, offered):
    doc = {"format_version": 1, "method": "softmax", "score": "max_prob", "threshold": 0.2,
           "classes": ["cat", "dog", "bird"]}
    at = _triage(offered, triage_policy_from="a policy file (JSON)",
                 triage_uploaded_policy=doc)
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "classes" in at.error[0].value, [e.value for e in at.error]

    # after a good run in the same session, a refused policy's error stands alone: the earlier
    # run's share, downloads and queue are not shown under it
    at = _triage(offered)
    assert len(at.get("download_button")) == 3
    at.session_state["triage_uploaded_policy"] = doc
    at.radio(key="triage_policy_from").set_value("a policy file (JSON)")
    at.button(key="triage_run").click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "classes" in at.error[0].value, [e.value for e in at.error]
    assert not at.get("download_button")


def test_an_empty_folder_gets_one_error_line_and_the_page_keeps_working(offered):
    at = _triage(offered, "empty")
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "empty" in at.error[0].value, [e.value for e in at.error]
    assert at.button(key="triage_run")  # the controls are still there


def test_a_score_chosen_on_the_referral_page_carries_over_or_falls_back(offered):
    """The Referral page's score (session state ``ref_score``) is the Triage page's default
    when a policy can carry it (energy: the model gives logits); a feature score, whose fitted
    parts do not travel with a policy, is not offered and the first score is taken."""
    state = {"dataset": offered, f"methods:{offered}": ["softmax"],
             "triage_images_how": "a folder on the server"}
    at = framed_page(PAGE, TIMEOUT, ref_score="energy", **state)
    assert not at.exception, at.exception
    select = at.selectbox(key="triage_score")
    assert select.value == "energy" and "KNN distance" not in select.options  # shown labels
    at = framed_page(PAGE, TIMEOUT, ref_score="knn", **state)
    assert not at.exception, at.exception
    assert at.selectbox(key="triage_score").value == "max_prob"  # the first score
