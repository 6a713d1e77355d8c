"""``python -m uqviz precompute`` on Lightning Fabric: 2 CPU processes (gloo) against 1.

The runs each get a fresh cache, so the 2-process run trains its own share of the networks; in
the 2-process run each rank even gets a cache of its own (as on two nodes without a shared
disk: a ``sitecustomize`` picks ``cache<LOCAL_RANK>``), so rank 1 can only hold rank 0's
networks through the broadcast. The bundles must agree.

Tolerance: both runs train every network from the same seed with the same float32 operations
on one thread, and cut the rows into the same shards whatever the number of processes (so even
MC dropout draws the same masks); the only freedom left is the summation order a kernel may
pick, a few float32 ulps (1e-6 at most on probabilities). 1e-5 is ten times that and ten times
below the 4 decimals the metric table prints; measured difference: 0 (bit-identical).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import torch

from uqviz.methods import MethodConfig
from uqviz.precompute import (
    LaunchConfig,
    distinct_networks,
    owned,
    parse_count,
    plan_shards,
    weights_path,
)
from uqviz.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PROB_TOLERANCE = 1e-5
SMALL = ["--dataset", "digits", "--methods", "softmax,temperature,mc_dropout,deep_ensemble",
         "--members", "2", "--mc-samples", "4", "--epochs", "3", "--corruptions",
         "gaussian_noise", "--accelerator", "cpu"]


PER_RANK_CACHE = """import os
os.environ["UQVIZ_CACHE"] = os.path.join({root!r}, "cache" + os.environ.get("LOCAL_RANK", "0"))
"""


def precompute(out: Path, cache: Path, devices: int, *extra: str):
    """Run the command; with ``devices`` > 1 rank r caches in ``cache / f"cache{r}"``."""
    env = dict(os.environ, UQVIZ_CACHE=str(cache), UQVIZ_TORCH_THREADS="1")
    if devices > 1:
        cache.mkdir(parents=True)
        (cache / "sitecustomize.py").write_text(PER_RANK_CACHE.format(root=str(cache)))
        env["PYTHONPATH"] = os.pathsep.join([str(cache), str(ROOT)])
    for name in ("NODE_RANK", "GROUP_RANK", "RANK", "LOCAL_RANK", "WORLD_SIZE", "SLURM_PROCID"):
        env.pop(name, None)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "uqviz", "precompute", *SMALL, "--devices",
                           str(devices), "--out", str(out), *extra], capture_output=True,
                          text=True, timeout=300, env=env, cwd=ROOT)
    return done, time.perf_counter() - start


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """The same small configuration with 1 and with 2 processes, each on a fresh cache."""
    root = tmp_path_factory.mktemp("precompute")
    runs = {}
    for devices in (1, 2):
        # the 2-process run also cuts the 449-row blocks into 128-row shards: MC-dropout masks
        # are seeded by absolute row, so neither the world size nor the shards change a number
        chunks = ("--chunk-rows", "128") if devices == 2 else ()
        done, seconds = precompute(root / f"out{devices}", root / f"cache{devices}", devices,
                                   *chunks)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[devices] = (root / f"out{devices}", root / f"cache{devices}", done, seconds)
        print(f"precompute with {devices} process(es): {seconds:.1f} s", file=sys.stderr)
    return runs


def test_two_processes_give_the_bundle_of_one(bundles):
    one = pd.read_parquet(bundles[1][0] / "predictions.parquet")
    two = pd.read_parquet(bundles[2][0] / "predictions.parquet")
    assert one.shape == two.shape and len(one) > 0
    for column in ("id", "method", "sample", "group", "is_ood", "label"):
        assert (one[column].astype(str).to_numpy() == two[column].astype(str).to_numpy()).all(), \
            column
    probs = [c for c in one.columns if c.startswith("p_")]
    assert len(probs) == 10
    gap = np.abs(one[probs].to_numpy() - two[probs].to_numpy()).max()
    assert gap <= PROB_TOLERANCE, gap
    assert set(one["method"].astype(str)) == {"softmax", "temperature", "mc_dropout",
                                             "deep_ensemble"}
    assert one.groupby("method", observed=True)["sample"].max().to_dict() == {
        "softmax": 0, "temperature": 0, "mc_dropout": 3, "deep_ensemble": 1}
    assert {"test", "gaussian_noise:5"} <= set(one["group"].astype(str))
    assert one.loc[one["is_ood"] == 1, "label"].eq(-1).all() and one["is_ood"].any()


def test_the_work_is_shared_between_the_processes(bundles):
    """With two processes rank 0 trains network 1 of 2 only (rank 1 trains the other: rank
    0's progress never names it), and each rank's own cache ends with both networks (the
    broadcast), the names ``trained_network`` gives them."""
    one_err, two_err = bundles[1][2].stderr, bundles[2][2].stderr
    assert "network 2/2" in one_err and "network 1/2" in two_err
    assert "network 2/2" not in two_err
    assert "Starting with 2 processes" in two_err
    doc = json.loads((bundles[2][0] / "metrics.json").read_text())
    assert doc["world_size"] == 2 and set(doc["seconds"]) == {"train", "fit", "predict"}
    from uqviz.data import get_dataset

    config = MethodConfig(train=TrainConfig(epochs=3), members=2, mc_samples=4)
    recipes = distinct_networks(["softmax", "temperature", "mc_dropout", "deep_ensemble"],
                                config)
    assert len(recipes) == 2  # the baseline network is the ensemble's member 0
    expected = {weights_path(get_dataset("digits"), r, 0, torch.device("cpu")).name
                for r in recipes}
    one_cache, two_root = bundles[1][1], bundles[2][1]
    for cache in (one_cache, two_root / "cache0", two_root / "cache1"):
        assert {p.name for p in (cache / "weights").glob("*.pt")} == expected, cache


def test_the_bundle_opens_like_evaluates(bundles, capsys):
    """``python -m uqviz metrics DIR/predictions.parquet`` reads it, with the same metrics as
    metrics.json."""
    from uqviz.__main__ import main

    out = bundles[2][0]
    assert main(["metrics", str(out / "predictions.parquet"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["methods"]
    saved = json.loads((out / "metrics.json").read_text())["methods"]
    for method, row in saved.items():
        assert got[method]["accuracy"] == pytest.approx(row["accuracy"])
        assert got[method]["nll"] == pytest.approx(row["nll"], rel=1e-5)
    assert (out / "predictions.parquet.classes.json").exists()


def test_the_bundle_equals_what_evaluate_predicts(bundles):
    """``run_evaluation`` (what ``evaluate`` runs) on the 1-process run's cached networks gives
    the same probabilities: each block is predicted in one call in both."""
    from uqviz.runs import EvalPlan, run_evaluation

    methods = ["softmax", "temperature", "mc_dropout", "deep_ensemble"]
    config = MethodConfig(train=TrainConfig(epochs=3), members=2, mc_samples=4)
    with patch.dict(os.environ, UQVIZ_CACHE=str(bundles[1][1])):
        expected = run_evaluation("digits", methods, config=config,
                                  plan=EvalPlan(corruptions=("gaussian_noise",)))
    table = pd.read_parquet(bundles[2][0] / "predictions.parquet")
    probs = [f"p_{j}" for j in range(10)]
    for method, p in expected.items():
        p = p.select(~p.is_fit)  # the bundle holds the evaluation blocks, not the fit rows
        rows = table[table["method"].astype(str) == method]
        got = rows[probs].to_numpy().reshape(p.num_samples, p.n, 10)
        assert np.abs(got - p.probs).max() <= PROB_TOLERANCE, method
        assert (rows["group"].astype(str).to_numpy()[:p.n] == p.group.astype(str)).all()


@pytest.mark.parametrize(("args", "message"), [
    (["--devices", "0"], "--devices must be a whole number >= 1, got 0"),
    (["--devices", "two"], "--devices must be a whole number >= 1, got 'two'"),
    (["--num-nodes", "-1"], "--num-nodes must be a whole number >= 1, got -1"),
    (["--accelerator", "tpu"], "accelerator must be one of cpu, cuda, auto, got 'tpu'"),
    (["--precision", "16"], "precision must be one of 32, bf16-mixed, got '16'"),
    (["--num-nodes", "2"], "num_nodes=2 needs a launcher"),
    (["--methods", "nope"], "unknown method 'nope'"),
    (["--corruptions", "nope"], "unknown corruption 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys, monkeypatch):
    from uqviz.__main__ import main

    for name in ("NODE_RANK", "GROUP_RANK", "RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["precompute", "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_unknown_dataset_through_a_real_process(tmp_path):
    done = subprocess.run([sys.executable, "-m", "uqviz", "precompute", "--dataset", "nope",
                           "--devices", "2", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: unknown dataset 'nope'; valid: digits, mnist5k, mnist, fashion_mnist, cifar10, "
        "svhn or folder:PATH"]


def test_shards_cover_every_row_once_whatever_the_world_size():
    shards = plan_shards([5, 0, 12], chunk_rows=4)
    assert [(s.block, s.start, s.stop) for s in shards] == [
        (0, 0, 4), (0, 4, 5), (2, 0, 4), (2, 4, 8), (2, 8, 12)]
    for world in (1, 2, 3, 8):
        dealt = sorted(i for r in range(world) for i in owned(len(shards), r, world))
        assert dealt == list(range(len(shards)))


def test_distinct_networks_counts_shared_networks_once():
    config = MethodConfig(members=3)
    assert len(distinct_networks(["softmax", "temperature", "mc_dropout"], config)) == 1
    assert len(distinct_networks(["deep_ensemble", "softmax"], config)) == 3
    recipes = distinct_networks(["softmax", "deep_ensemble", "prior_ensemble"], config)
    assert len(recipes) == 6 and recipes[0] == config.base_recipe()
    assert len({r.seed for r in recipes}) == 6


def test_launch_config_and_counts_validate():
    assert LaunchConfig(devices=2, num_nodes=3).world_size == 6
    assert parse_count("--devices", " 4 ") == 4
    with pytest.raises(ValueError, match="chunk_rows must be a whole number >= 1, got 0"):
        LaunchConfig(chunk_rows=0)
    with pytest.raises(ValueError, match="chunk_rows must be a multiple of 128"):
        LaunchConfig(chunk_rows=100)


def test_help():
    from uqviz.__main__ import main

    with pytest.raises(SystemExit) as done:
        main(["precompute", "--help"])
    assert done.value.code == 0


def test_bf16_mixed_on_cpu_changes_probabilities_a_little():
    """In-process, one process: ``bf16-mixed`` runs prediction under Fabric's bf16 autocast, so
    the probabilities move (a bf16 mantissa has 8 bits: ~0.4% relative) but stay within 0.02 of
    float32's; training is float32 in both (see ``uqviz.precompute``)."""
    from uqviz.precompute import run_precompute
    from uqviz.runs import EvalPlan

    config = MethodConfig(train=TrainConfig(epochs=3), members=2)
    plan = EvalPlan(corruptions=(), ood_sets=())
    probs = {}
    for precision in ("32", "bf16-mixed"):
        with patch.dict(os.environ):  # Fabric's launcher writes its variables into os.environ
            for name in ("NODE_RANK", "GROUP_RANK", "RANK", "LOCAL_RANK", "WORLD_SIZE",
                         "SLURM_PROCID"):
                os.environ.pop(name, None)
            result = run_precompute("digits", ["softmax"], config=config, plan=plan,
                                    launch=LaunchConfig(precision=precision))
        assert result.world_size == 1
        probs[precision] = result.predictions["softmax"].probs
    gap = np.abs(probs["32"] - probs["bf16-mixed"]).max()
    assert 0 < gap < 0.02, gap


def test_blocks_are_built_as_evaluation_inputs_builds_them():
    from uqviz.data import get_dataset
    from uqviz.precompute import build_block, evaluation_blocks
    from uqviz.runs import EvalPlan, evaluation_inputs

    spec = get_dataset("digits")
    data = spec.load(0)
    plan = EvalPlan(corruptions=("gaussian_noise", "rotate"), severities=(1, 3), seed=2)
    expected = evaluation_inputs(spec, data, plan)
    blocks = evaluation_blocks(spec, len(data.test_y), plan)
    assert [b.group for b in blocks] == [e.group for e in expected]
    for block, want in zip(blocks, expected, strict=True):
        got = build_block(spec, data, block)
        assert torch.equal(got.images, want.images) and (got.labels == want.labels).all()
        assert block.rows == len(want.labels) and block.labelled == (want.labels >= 0).all()
