"""``python -m uqviz monitor`` and ``estimate`` run for real on small files written here."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


def frame(n: int, rng: np.random.Generator, *, scale: float = 3.0, labelled: bool = True,
          classes: int = 4) -> pd.DataFrame:
    z = rng.normal(0.0, scale, (n, classes))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return pd.DataFrame({"label": labels if labelled else -1,
                         **{f"p_{i}": p[:, i] for i in range(classes)}})


def with_logits(n: int, rng: np.random.Generator, *, shift: float = 0.0,
                classes: int = 4) -> dict[str, np.ndarray]:
    """NPZ arrays: ``logits`` (the probabilities are their softmax), ``features`` (8 per row,
    the logits their first 4 times 1.5) and ``labels``; ``shift`` moves every feature."""
    labels = rng.integers(0, classes, n)
    features = 3.0 * np.eye(classes, 8)[labels] + rng.normal(size=(n, 8)) + shift
    return {"logits": 1.5 * features[:, :classes], "features": features, "labels": labels}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("cli-monitor")
    frame(400, rng).to_csv(root / "reference.csv", index=False)
    stream = pd.concat([frame(300, rng), frame(300, rng, scale=1.0)], ignore_index=True)
    stream.to_csv(root / "stream.csv", index=False)
    unlabelled = frame(300, rng, labelled=False)
    unlabelled.to_csv(root / "unlabelled.csv", index=False)
    dated = frame(300, rng)
    dated["id"] = np.arange(300)
    dated["time"] = np.repeat(["2024-05-02", "2024-05-01", "2024-05-03"], 100)
    dated.sample(frac=1.0, random_state=1).to_csv(root / "dated.csv", index=False)
    for name, n, shift in (("reference", 300, 0.0), ("stream_logits", 400, 1.5)):
        np.savez(root / f"{name}.npz", **with_logits(n, rng, shift=shift))
    (root / "policy.json").write_text(json.dumps({
        "method": "default", "score": "max_prob", "threshold": 0.5,
        "guarantee": {"target_accuracy": 0.7}}))
    return root


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uqviz", *argv], capture_output=True,
                          text=True, timeout=120)


def test_monitor_json_rows_and_alarm(files):
    out = run("monitor", str(files / "stream.csv"), "--reference", str(files / "reference.csv"),
              "--batch-size", "100", "--policy", str(files / "policy.json"), "--json",
              "--n-boot", "50")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [b["batch"] for b in doc["batches"]] == ["1", "2", "3", "4", "5", "6"]
    assert doc["threshold"] == 0.5 and doc["target_accuracy"] == 0.7
    first = doc["batches"][0]
    assert first["n"] == 100 and first["true_accuracy"] is not None
    low, high = first["estimate_interval"]
    assert low <= first["estimated_accuracy"] <= high
    # the stream turns at batch 4; before it, a false alarm has probability <= alpha (the
    # simulations of tests/test_monitor.py), so only the evidence after it is asserted here
    last = doc["batches"][-1]
    assert last["drift_alarm"] and last["drift_log10_martingale"] > np.log10(1 / 0.05) + 5
    assert doc["first_alarm"] is not None


def test_monitor_by_a_time_column_in_a_shuffled_file(files):
    out = run("monitor", str(files / "dated.csv"), "--reference", str(files / "reference.csv"),
              "--batch-column", "time", "--json", "--n-boot", "20")
    assert out.returncode == 0, out.stderr
    assert "ignored columns" not in out.stderr
    doc = json.loads(out.stdout)
    assert [b["batch"] for b in doc["batches"]] == ["2024-05-01", "2024-05-02", "2024-05-03"]
    assert [b["n"] for b in doc["batches"]] == [100, 100, 100]
    assert doc["first_alarm"] is None
    data = pd.read_csv(files / "dated.csv")
    day = data[data["time"] == "2024-05-01"]
    probs = day[[f"p_{i}" for i in range(4)]].to_numpy()
    truth = (probs.argmax(axis=1) == day["label"].to_numpy()).mean()
    assert doc["batches"][0]["true_accuracy"] == pytest.approx(truth)


def test_monitor_with_energy_is_energy_by_hand(files):
    from uqviz.metrics.ood_scores import energy_score
    from uqviz.monitor import reference_quantile

    out = run("monitor", str(files / "stream_logits.npz"), "--reference",
              str(files / "reference.npz"), "--score", "energy", "--batch-size", "100",
              "--threshold", "-3", "--json", "--n-boot", "5")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["score"] == "energy" and doc["score_settings"] == {"temperature": 1.0}
    with np.load(files / "reference.npz") as r, np.load(files / "stream_logits.npz") as s:
        e_ref, e_stream = energy_score(r["logits"]), energy_score(s["logits"])
    q = reference_quantile(e_ref, 0.95)
    assert doc["ood_threshold"] == pytest.approx(q)
    for b, row in enumerate(doc["batches"]):
        batch = e_stream[100 * b:100 * (b + 1)]
        assert row["referred_share"] == pytest.approx((batch > -3).mean())
        assert row["ood_share"] == pytest.approx((batch > q).mean())
    text = run("monitor", str(files / "stream_logits.npz"), "--reference",
               str(files / "reference.npz"), "--score", "knn", "--batch-size", "200",
               "--n-boot", "5")
    assert text.returncode == 0, text.stderr
    assert "score settings: k 1, bank_rows 150, normalised True; fitted on 150 reference " \
           "rows, calibrated on the other 150" in text.stdout


def test_estimate_json_every_estimator(files):
    out = run("estimate", str(files / "stream.csv"), "--reference", str(files / "reference.csv"),
              "--json", "--n-boot", "30")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [e["estimator"] for e in doc["estimates"]] == [
        "ac", "doc", "atc_mc", "atc_ne", "ac_ts", "doc_ts", "atc_mc_ts", "atc_ne_ts"]
    for e in doc["estimates"]:
        assert 0 <= e["low"] <= e["estimate"] <= e["high"] <= 1
    data = pd.read_csv(files / "stream.csv")
    probs = data[[f"p_{i}" for i in range(4)]].to_numpy()
    assert doc["true_accuracy"] == pytest.approx(
        (probs.argmax(axis=1) == data["label"].to_numpy()).mean())
    assert doc["n_target"] == 600 and doc["n_reference"] == 400


def test_estimate_without_labels_and_as_text(files):
    out = run("estimate", str(files / "unlabelled.csv"), "--reference",
              str(files / "reference.csv"), "--estimators", "doc,atc_mc", "--n-boot", "20")
    assert out.returncode == 0, out.stderr
    assert "DoC" in out.stdout and "ATC-MC" in out.stdout and "true accuracy" not in out.stdout
    doc = json.loads(run("estimate", str(files / "unlabelled.csv"), "--reference",
                         str(files / "reference.csv"), "--estimators", "doc", "--json",
                         "--n-boot", "20").stdout)
    assert doc["true_accuracy"] is None and doc["n_true"] == 0


BAD_INPUT = [
    (["monitor", "{s}", "--reference", "{u}", "--batch-size", "10"],
     "needs at least 2 rows with a label"),
    (["monitor", "{s}", "--reference", "{r}"], "one of the two"),
    (["monitor", "{s}", "--reference", "{r}", "--batch-size", "10", "--alpha", "2"],
     "--alpha must be between 0 and 1, got 2.0"),
    (["monitor", "{s}", "--reference", "{r}", "--batch-column", "day"], "no column 'day'"),
    (["monitor", "{s}", "--reference", "{r}", "--batch-size", "10", "--score", "x"],
     "--score must be one of"),
    (["monitor", "{s}", "--reference", "{r}", "--batch-size", "10", "--method", "m"],
     "no method 'm'"),
    (["monitor", "{s}", "--reference", "{r}", "--batch-size", "10", "--score", "energy"],
     "--score energy: Energy needs logits (NPZ array 'logits'); the reference and the stream "
     "have none (reference reference.csv, stream stream.csv)"),
    (["monitor", "{s}", "--reference", "{rn}", "--batch-size", "10", "--score", "vim"],
     "--score vim: ViM needs logits (NPZ array 'logits'); the stream has none"),
    (["estimate", "{s}", "--reference", "{r}", "--estimators", "magic"], "unknown magic"),
    (["estimate", "{s}", "--reference", "{missing}"], "missing.csv"),
]


def test_bad_input_is_one_line(files):
    """The first case through ``python -m uqviz``; all of them through ``main`` in one fresh
    interpreter (each start costs seconds on a loaded machine), stderr captured per call."""
    paths = {"s": files / "stream.csv", "r": files / "reference.csv",
             "rn": files / "reference.npz",
             "u": files / "unlabelled.csv", "missing": files / "missing.csv"}
    cases = [[a.format(**paths) for a in argv] for argv, _ in BAD_INPUT]
    out = run(*cases[0])
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert BAD_INPUT[0][1] in out.stderr
    code = ("import contextlib, io, json\nfrom uqviz.__main__ import main\nresults = []\n"
            f"for argv in {cases!r}:\n"
            "    err = io.StringIO()\n"
            "    with contextlib.redirect_stderr(err):\n"
            "        results.append([main(argv), err.getvalue()])\n"
            "print(json.dumps(results))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    for (code_, stderr), (_, message) in zip(json.loads(done.stdout), BAD_INPUT, strict=True):
        lines = stderr.strip().splitlines()
        assert code_ == 2 and len(lines) == 1 and message in lines[0], (message, stderr)


def test_no_torch(files):
    code = ("import sys, json\nfrom uqviz.__main__ import main\n"
            f"main(['estimate', {str(files / 'stream.csv')!r}, '--reference', "
            f"{str(files / 'reference.csv')!r}, '--n-boot', '5', '--json'])\n"
            f"main(['monitor', {str(files / 'stream.csv')!r}, '--reference', "
            f"{str(files / 'reference.csv')!r}, '--batch-size', '200', '--n-boot', '5', "
            "'--json'])\n"
            f"main(['monitor', {str(files / 'stream_logits.npz')!r}, '--reference', "
            f"{str(files / 'reference.npz')!r}, '--batch-size', '200', '--n-boot', '5', "
            "'--score', 'vim', '--json'])\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr
