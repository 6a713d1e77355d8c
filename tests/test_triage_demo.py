"""``python -m uqviz triage --dataset NAME --group G``: a policy exported for a built-in dataset
run on one of its groups with the built-in method's own networks; the decisions equal
thresholding the method's mean probabilities on that group (MC dropout included); a policy
for another dataset is refused in one line; two processes write the same files."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.test_cli import run_cli
from uqviz.__main__ import main
from uqviz.metrics.scores import uncertainty
from uqviz.metrics.selective import ReferralIndex
from uqviz.policy import load, operating_point, policy_document
from uqviz.sources import TrainedSource


def write_policy(path, method: str, threshold: float, dataset: str = "digits",
                 score: str = "entropy") -> dict:
    """A policy as the Referral page exports it for a built-in dataset (no model record)."""
    index = ReferralIndex.from_scores(np.array([0.1, 0.5, 0.9]), np.array([True, True, False]))
    doc = policy_document(dataset=dataset, method=method, score=score, mode="threshold",
                          point=operating_point(index, "threshold", threshold),
                          when="2026-12-08", classes=[str(d) for d in range(10)])
    path.write_text(json.dumps(doc))
    return doc


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def group_probs(method: str, group: str) -> np.ndarray:
    """The method's own probabilities (S, N, C) on the group, as the pages have them."""
    p = TrainedSource("digits").predictions([method])[method]
    return p.probs[:, p.group == group]


@pytest.mark.parametrize(("method", "group"), [("softmax", "test"),
                                               ("mc_dropout", "brightness:5")])
def test_decisions_equal_the_methods_own_probabilities(method, group, tmp_path, capsys):
    probs = group_probs(method, group)
    score = uncertainty(probs, "entropy")
    threshold = float(np.quantile(score, 0.8))
    write_policy(tmp_path / "p.json", method, threshold)
    assert main(["triage", "--policy", str(tmp_path / "p.json"), "--dataset", "digits",
                 "--group", group, "--batch-size", "100", "--out", str(tmp_path / "out")]) == 0
    assert "images:" in capsys.readouterr().out
    rows = read_csv(tmp_path / "out" / "decisions.csv")
    assert [r["id"] for r in rows] == [str(i) for i in range(probs.shape[1])]
    mean = probs.mean(axis=0)
    np.testing.assert_array_equal([int(r["predicted"]) for r in rows], mean.argmax(axis=1))
    np.testing.assert_allclose([float(r["score"]) for r in rows], score, rtol=1e-5, atol=1e-6)
    refer = np.array([r["decision"] == "refer" for r in rows])
    np.testing.assert_array_equal(refer, score > threshold)
    queue = read_csv(tmp_path / "out" / "review_queue.csv")
    assert len(queue) == refer.sum() and queue[0]["file"].endswith(f"__{queue[0]['id']}.png")
    with zipfile.ZipFile(tmp_path / "out" / "review.zip") as archive:
        image = Image.open(io.BytesIO(archive.read(queue[0]["file"])))
        assert image.size == (8, 8) and image.mode == "L"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["decided"] == probs.shape[1] and summary["source"] == f"digits {group}"


def test_a_policy_for_another_dataset_or_a_bad_group_is_refused(tmp_path, capsys):
    write_policy(tmp_path / "p.json", "softmax", 0.5, dataset="mnist5k")
    write_policy(tmp_path / "q.json", "softmax", 0.5)
    write_policy(tmp_path / "r.json", "tta", 0.5)
    out = str(tmp_path / "out")

    def error(*args) -> str:
        assert main(["triage", *args, "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        return err.strip().removeprefix("error: ")

    p, q, r = (str(tmp_path / f"{n}.json") for n in "pqr")
    assert error("--policy", p, "--dataset", "digits") == (
        "the policy was exported for 'mnist5k', not for the built-in dataset 'digits': refused")
    assert error("--policy", r, "--dataset", "digits") == (
        "the policy's method 'tta' is not a built-in method (softmax, temperature, mc_dropout, "
        "deep_ensemble, prior_ensemble)")
    assert error("--policy", q, "--dataset", "digits", "--group", "blur:9").startswith(
        "--group 'blur:9': not a group of digits; give test, a corruption and severity")
    assert error("--policy", q, "--dataset", "digits", "--images", str(tmp_path)) == (
        "give --images DIR|ZIP (with --model), or --dataset NAME --group G (the built-in demo), "
        "not both")
    assert error("--policy", q) == ("give --images DIR|ZIP (with --model), or --dataset NAME "
                                    "--group G (the built-in demo), not neither")
    assert error("--policy", q, "--images", str(tmp_path), "--group", "test") == (
        "--group goes with --dataset (the built-in demo)")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_two_processes_write_the_same_files_on_an_ood_group(tmp_path):
    """MC dropout on ``ood:uniform_noise`` (449 rows, batches of 128): one process and two
    (Lightning Fabric, gloo) write the same bytes."""
    score = uncertainty(group_probs("mc_dropout", "ood:uniform_noise"), "entropy")
    write_policy(tmp_path / "p.json", "mc_dropout", float(np.quantile(score, 0.5)))
    args = ["triage", "--policy", tmp_path / "p.json", "--dataset", "digits", "--group",
            "ood:uniform_noise"]
    assert main([*map(str, args), "--out", str(tmp_path / "out1")]) == 0
    out = run_cli(*args, "--devices", 2, "--out", tmp_path / "out2")
    assert out.returncode == 0, out.stderr
    for name in ("decisions.csv", "review_queue.csv", "review.zip", "summary.json"):
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()
    assert load(tmp_path / "p.json").method == "mc_dropout"


def test_a_policy_from_the_command_line_on_evaluates_bundle_runs_on_the_demo(tmp_path, capsys):
    """``referral FILE --out`` on the predictions ``evaluate --dataset digits`` wrote names the
    built-in dataset (from ``metrics.json`` beside the file), so ``triage --dataset digits``
    runs it; a file without that record keeps its own name, and is refused for the demo."""
    from uqviz.exchange import write_predictions

    p = TrainedSource("digits").predictions(["softmax"])["softmax"]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write_predictions({"softmax": p}, bundle / "predictions.parquet")
    (bundle / "metrics.json").write_text(json.dumps({"dataset": "digits"}))
    assert main(["referral", str(bundle / "predictions.parquet"), "--target-accuracy", "0.9",
                 "--out", str(tmp_path / "policy.json")]) == 0
    assert json.loads((tmp_path / "policy.json").read_text())["dataset"] == "digits"
    assert main(["triage", "--policy", str(tmp_path / "policy.json"), "--dataset", "digits",
                 "--group", "test", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "decisions.csv").is_file()
    (bundle / "metrics.json").unlink()
    assert main(["referral", str(bundle / "predictions.parquet"), "--target-accuracy", "0.9",
                 "--out", str(tmp_path / "other.json")]) == 0
    assert json.loads((tmp_path / "other.json").read_text())["dataset"] == "predictions.parquet"
    capsys.readouterr()
