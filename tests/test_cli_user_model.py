"""``python -m uqviz evaluate --model …``: a user's model files on their image folder, the
bundle it writes, and its one-line errors (exit code 2)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from tests.test_cli import run_cli
from tests.user_model_fixtures import export_torchscript, train_tiny_net, write_config, write_folder
from uqviz.__main__ import main
from uqviz.exchange import read_predictions
from uqviz.user_model.loading import EXPORT_HOW


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Two scripted checkpoints with one model.json, a labelled folder, an OOD folder."""
    root = tmp_path_factory.mktemp("cli_user_model")
    export_torchscript(train_tiny_net(seed=0, steps=40), root / "a.pt")
    export_torchscript(train_tiny_net(seed=1, steps=40), root / "b.pt")
    write_config(root)
    write_folder(root / "images", {"red": 6, "green": 6, "blue": 6})
    write_folder(root / "street", {"cars": 4}, seed=9)
    return root


def error_line(capsys, *args) -> str:
    """Run ``main`` in this process; it must exit 2 with exactly one line on stderr."""
    assert main(["evaluate", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    return err.strip().removeprefix("error: ")


@pytest.mark.slow
def test_evaluate_writes_the_bundle_for_every_method_that_applies(work, tmp_path):
    out = run_cli("evaluate", "--model", work / "a.pt", "--model", work / "b.pt",
                  "--dataset", f"folder:{work / 'images'}", "--ood", f"folder:{work / 'street'}",
                  "--corruptions", "gaussian_noise", "--mc-samples", "4", "--tta-samples", "3",
                  "--out", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    assert "images: calibration 6, test 12, ood 4; methods: softmax, temperature, tta, " \
           "mc_dropout, ensemble" in out.stderr
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert list(doc["methods"]) == ["softmax", "temperature", "tta", "mc_dropout", "ensemble"]
    assert doc["methods"]["ensemble"]["samples"] == 2 and doc["methods"]["tta"]["samples"] == 3
    assert doc["sizes"] == {"calibration": 6, "test": 12, "ood": 4}
    assert doc["models"] == ["a.pt", "b.pt"] and doc["temperature"] > 0
    assert set(doc["mahalanobis_ood"]) == {"ood:street", "ood:uniform_noise",
                                           "ood:gaussian_noise", "ood:natural_patches"}
    loaded = read_predictions(tmp_path / "out" / "predictions.parquet")
    p = loaded.by_method["softmax"]
    assert p.class_names == ("red", "green", "blue")
    assert {"red/0.png", "ood:street/cars/0.png", "gaussian_noise:3/blue/1.png"} <= set(p.ids)


@pytest.mark.slow
def test_a_pickle_is_refused_by_the_command_line_in_one_line(work, tmp_path):
    torch.save(train_tiny_net(steps=1), tmp_path / "model.pt")
    shutil.copy(work / "model.json", tmp_path)
    out = run_cli("evaluate", "--model", tmp_path / "model.pt",
                  "--dataset", f"folder:{work / 'images'}", "--out", tmp_path / "out")
    assert out.returncode == 2
    assert out.stderr == ("error: model.pt: a plain torch.save pickle is refused (loading a "
                          f"pickle can run any code); {EXPORT_HOW}\n")
    assert not (tmp_path / "out").exists()


def test_unlabelled_images_write_predictions_without_metrics(work, tmp_path, capsys):
    assert main(["evaluate", "--model", str(work / "a.pt"), "--dataset",
                 f"folder:{work / 'street' / 'cars'}", "--corruptions", "gaussian_noise",
                 "--methods", "softmax", "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert doc["methods"] == {} and doc["sizes"] == {"calibration": 0, "test": 4, "ood": 0}
    assert doc["mahalanobis_ood"].startswith("The Mahalanobis score needs labelled calibration")
    p = read_predictions(tmp_path / "out" / "predictions.parquet").by_method["softmax"]
    assert (p.labels == -1).all()
    assert "the images are unlabelled: no metrics" in capsys.readouterr().err


def test_evaluate_writes_logits_and_features_that_metrics_scores(work, tmp_path, capsys):
    """``predictions.npz`` beside the parquet: the logits, the features and the calibration
    part as fit rows, so ``metrics FILE --json`` prints the scores from logits and features."""
    assert main(["evaluate", "--model", str(work / "a.pt"), "--dataset",
                 f"folder:{work / 'images'}", "--ood", f"folder:{work / 'street'}",
                 "--corruptions", "gaussian_noise", "--methods", "softmax,temperature",
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"predictions.npz holds the logits and features too: python -m uqviz metrics " \
           f"{tmp_path / 'out' / 'predictions.npz'} --json gives the OOD scores" in err
    with np.load(tmp_path / "out" / "predictions.npz", allow_pickle=False) as z:
        assert list(z["methods"]) == ["softmax", "temperature"]
        assert z["logits_1"].shape == (1, z["labels_1"].size, 3)
        assert z["features_0"].shape == (z["labels_0"].size, 8)
        assert (z["group_0"] == "fit").sum() == 6 and (z["group_0"] == "ood:street").sum() == 4
    assert main(["metrics", str(tmp_path / "out" / "predictions.npz"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["methods"]
    for method in ("softmax", "temperature"):
        scores = doc[method]["ood_scores"]["scores"]
        assert {"max_logit", "energy", "gen", "knn", "vim", "mahalanobis",
                "relative_mahalanobis"} <= set(scores), method
        assert set(scores["knn"]["settings"]) >= {"k"} and "gamma" in scores["gen"]["settings"]


def test_flags_win_over_model_json_and_errors_are_one_line(work, tmp_path, capsys):
    model, images = work / "a.pt", f"folder:{work / 'images'}"
    out = tmp_path / "out"
    assert error_line(capsys, "--model", model, "--dataset", images, "--channels", "2",
                      "--out", out) == 'model.json: "channels" must be 1 or 3, got 2'
    assert error_line(capsys, "--model", model, "--dataset", images, "--classes", "a,b,c,d",
                      "--out", out) == "a.pt gives 3 outputs per image but model.json lists 4 " \
                                       "classes"
    assert error_line(capsys, "--model", model, "--dataset", images, "--methods", "ensemble",
                      "--out", out) == ("--methods ensemble: An ensemble needs two or more model "
                                        "files with the same classes; only a.pt was given")
    assert error_line(capsys, "--model", model, "--dataset", images, "--methods", "bayes",
                      "--out", out) == ("--methods bayes: unknown method 'bayes'; valid: softmax, "
                                        "temperature, tta, mc_dropout, ensemble")
    assert error_line(capsys, "--model", model, "--out", out) == (
        "--model needs --dataset folder:DIR (your images), got digits")
    assert error_line(capsys, "--model", model, "--dataset", f"folder:{work}", "--out", out) == (
        f'{work}: sub-folder "images" is not one of the model\'s classes (red, green, blue)')
    assert error_line(capsys, "--ood", f"folder:{work}", "--out", out) == (
        "--ood and --model-config go with --model (your own model file)")
    assert error_line(capsys, "--model", tmp_path / "none.pt", "--dataset", images,
                      "--out", out) == f"{tmp_path / 'none.pt'}: no such file"
    assert not out.exists()
