"""Triage with a logit-score policy (issues 22 and 24): an energy policy run by
``python -m uqviz triage`` on a user's model decides each image as thresholding
``energy_score`` of the model's own logits; a model that outputs probabilities is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_cli_triage import mixed_pixels, read_csv, write_images
from tests.user_model_fixtures import (
    CLASSES,
    export_torchscript,
    normalise,
    train_tiny_net,
    write_config,
)
from uqviz.__main__ import main
from uqviz.metrics.ood_scores import energy_score
from uqviz.metrics.selective import ReferralIndex
from uqviz.policy import Policy, policy_document


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A scripted model, its model.json and 24 new unlabelled images in nested folders."""
    root = tmp_path_factory.mktemp("energy_triage")
    export_torchscript(train_tiny_net(seed=0, steps=30), root / "a.pt")
    write_config(root)
    pixels, _ = mixed_pixels(np.random.default_rng(3), 24)
    write_images(root / "new", pixels, [f"d{i % 2}/img{i}.png" for i in range(24)])
    return root


def _own_logits(work, ids) -> np.ndarray:
    """(N, C) the model's logits on each image alone, read as triage reads it."""
    model = torch.jit.load(str(work / "a.pt")).eval()
    rows = []
    for name in ids:
        image = np.asarray(Image.open(work / "new" / name).convert("RGB"))
        x = normalise(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0)
        with torch.no_grad():
            rows.append(model(x)[0][0].double().numpy())
    return np.stack(rows)


def _energy_policy(work, threshold: float, config) -> dict:
    from uqviz.triage import model_record
    from uqviz.user_model.config import ensemble_configs

    index = ReferralIndex.from_scores(np.array([threshold - 1, threshold + 1]),
                                      np.array([True, False]))
    configs = ensemble_configs([str(work / "a.pt")], config)
    return policy_document(dataset="folder", method="softmax", score="energy",
                           mode="threshold", point=index.at_threshold(threshold),
                           when="today", classes=CLASSES,
                           score_settings={"temperature": 1.0},
                           model=model_record([work / "a.pt"], configs, temperature=None,
                                              tta_samples=8, seed=0))


def test_triage_with_an_energy_policy_thresholds_the_model_s_own_energy(work, tmp_path):
    ids = sorted(f"d{i % 2}/img{i}.png" for i in range(24))
    energy = energy_score(_own_logits(work, ids))
    threshold = float(np.median(energy))
    policy = tmp_path / "energy.json"
    policy.write_text(json.dumps(_energy_policy(work, threshold, None)))
    assert main(["triage", "--policy", str(policy), "--model", str(work / "a.pt"), "--images",
                 str(work / "new"), "--out", str(tmp_path / "out"), "--batch-size", "5"]) == 0
    rows = read_csv(tmp_path / "out" / "decisions.csv")
    assert [r["id"] for r in rows] == ids
    scores = np.array([float(r["score"]) for r in rows])
    np.testing.assert_allclose(scores, energy, atol=1e-4)
    clear = np.abs(energy - threshold) > 1e-4  # float32 batches against one image at a time
    refer = np.array([r["decision"] == "refer" for r in rows])
    np.testing.assert_array_equal(refer[clear], (energy > threshold)[clear])
    assert 0 < refer.sum() < len(rows)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["policy"]["score"] == "energy"


def test_an_energy_policy_on_a_model_that_outputs_probabilities_is_refused(work, tmp_path):
    from uqviz.triage import Triage

    folder = tmp_path / "probs"
    folder.mkdir()
    config = write_config(folder, outputs="probabilities")
    policy = Policy.from_document(_energy_policy(work, 0.0, str(config)))
    with pytest.raises(ValueError, match="'energy' is computed from logits but the model "
                                         "outputs probabilities"):
        Triage.create(policy, [work / "a.pt"], config=config)
