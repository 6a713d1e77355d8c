"""``evaluate --model`` and ``precompute --model`` on several processes (Lightning Fabric, two
CPU processes over gloo): the images' batches are shared out and rank 0 writes the same
predictions, array for array, as one process; and the logits and features ``evaluate`` writes
in ``predictions.npz`` give ``metrics`` its OOD scores."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.test_cli import run_cli
from tests.user_model_fixtures import export_torchscript, train_tiny_net, write_config, write_folder
from uqviz.user_model.engine import merge_shares


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Two scripted checkpoints (dropout inside), model.json with the features output, a
    labelled folder of 30 images with an unreadable file, an OOD folder."""
    root = tmp_path_factory.mktemp("fabric_user_model")
    export_torchscript(train_tiny_net(seed=0, steps=30), root / "a.pt")
    export_torchscript(train_tiny_net(seed=1, steps=30), root / "b.pt")
    write_config(root)
    write_folder(root / "images", {"red": 10, "green": 10, "blue": 10})
    (root / "images" / "green" / "broken.png").write_bytes(b"not an image")
    write_folder(root / "street", {"cars": 5}, seed=9)
    return root


def evaluate(work, out, *extra, command="evaluate"):
    """One run in a fresh cache (the second would read the first's predictions otherwise)."""
    os.environ["UQVIZ_CACHE"], before = str(out) + "-cache", os.environ.get("UQVIZ_CACHE")
    try:
        return run_cli(command, "--model", work / "a.pt", "--model", work / "b.pt", "--dataset",
                       f"folder:{work / 'images'}", "--ood", f"folder:{work / 'street'}",
                       "--corruptions", "gaussian_noise", "--mc-samples", 3, "--tta-samples", 2,
                       "--batch-size", 4, "--out", out, *extra)
    finally:
        os.environ["UQVIZ_CACHE"] = before or ""


def arrays(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.slow
def test_two_processes_write_the_same_predictions_as_one(work, tmp_path):
    """``evaluate`` on one process, ``precompute --model --devices 2`` on two: every array of
    every method (MC dropout, test-time augmentation, the ensemble and temperature scaling
    included; logits, features, fit rows) is the same, so is every metric."""
    one = evaluate(work, tmp_path / "one")
    assert one.returncode == 0, one.stderr
    two = evaluate(work, tmp_path / "two", "--devices", 2, command="precompute")
    assert two.returncode == 0, two.stderr
    a, b = arrays(tmp_path / "one" / "predictions.npz"), arrays(tmp_path / "two" /
                                                                  "predictions.npz")
    assert list(a["methods"]) == ["softmax", "temperature", "tta", "mc_dropout", "ensemble"]
    assert a.keys() == b.keys() and "logits_4" in a and "features_3" in a
    assert (a["group_0"] == "fit").sum() > 0  # the calibration part, for fitting only
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert (tmp_path / "one" / "predictions.parquet").read_bytes() == \
        (tmp_path / "two" / "predictions.parquet").read_bytes()
    doc_one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    doc_two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert doc_two["world_size"] == 2 and doc_one["world_size"] == 1
    assert doc_one["warnings"] == doc_two["warnings"] and "broken.png" in doc_one["warnings"][0]
    assert doc_one["methods"] == doc_two["methods"]


def test_merge_puts_every_ranks_rows_back_in_order():
    """Rank 0 had batches 0 and 2 (rows 0-1, 4), rank 1 batch 1 (rows 2-3): merged, the rows
    and every output come back in row order, the samples axis kept, skipped files by batch."""
    def share(rows, skipped):
        rows = np.asarray(rows)
        return {"groups": {"test": {"rows": rows, "base": rows[:, None] * 1.0,
                                    "mc_dropout": np.stack([rows * 1.0, -rows * 1.0])[..., None]}},
                "skipped": {"part": skipped}}

    groups, skipped = merge_shares([share([0, 1, 4], [(0, "a"), (2, "c")]),
                                    share([2, 3], [(1, "b")])])
    np.testing.assert_array_equal(groups["test"]["rows"], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(groups["test"]["base"][:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(groups["test"]["mc_dropout"][1, :, 0], [0, -1, -2, -3, -4])
    assert skipped == {"part": ["a", "b", "c"]}
