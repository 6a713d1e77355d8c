"""The one-device benchmark runs on the CPU in CI-sized mode, prints its table, writes JSON with
the stated fields and says what it skipped."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_gpu.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_gpu  # noqa: E402


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "ci.json"
    env = {**os.environ, "UQVIZ_TORCH_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--ci", "--device", "cpu", "--json",
                           str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())


def test_ci_run_prints_the_table_and_what_it_skipped(ci_run):
    stdout, _ = ci_run
    assert "| section | workload | N | K/T | dtype |" in stdout
    for section in ("ensemble", "mc_dropout", "precision", "throughput", "training",
                    "pipeline"):
        assert f"| {section} |" in stdout
    assert "skipped: all CUDA rows" in stdout
    assert "skipped: compile: skipped in --ci mode" in stdout
    assert "median (p90) of 10 timed runs" in stdout
    assert "measured choice for (cpu, small_cnn)" in stdout


def test_ci_json_has_the_stated_fields(ci_run):
    _, report = ci_run
    assert report["device"] == "cpu" and report["mode"] == "ci"
    env = report["environment"]
    assert env["date_utc"] and env["device_name"] and env["torch"] == torch.__version__
    sections = {row["section"] for row in report["rows"]}
    assert sections == {"ensemble", "mc_dropout", "precision", "throughput", "training",
                        "pipeline"}
    for row in report["rows"]:
        for field in ("dtype", "batch", "compile", "channels_last", "n_images", "workload"):
            assert field in row, (row["section"], field)
        for timing in row["timings"].values():
            assert timing["runs"] >= 10 and timing["warmup"] >= 1
            assert 0 < timing["median_s"] <= timing["p90_s"]
    ensemble = next(r for r in report["rows"] if r["section"] == "ensemble")
    assert ensemble["K"] == 5 and ensemble["looped_over_batched"] > 0
    mc = next(r for r in report["rows"] if r["section"] == "mc_dropout")
    assert mc["T"] == 30
    throughput = next(r for r in report["rows"] if r["section"] == "throughput")
    assert 0 < throughput["resident_share_of_peak"] < 1.5
    assert throughput["peak"]["flops_per_s"] > 0
    pipeline = next(r for r in report["rows"] if r["section"] == "pipeline")
    assert pipeline["pipeline_s"] > 0 and pipeline["corruptions"]["registered"] >= 1
    assert set(report["batching"]["small_cnn"]) >= {"ensemble", "mc_dropout"}
    whats = [item["what"] for item in report["skipped"]]
    assert "all CUDA rows" in whats and "compile" in whats


def test_cuda_sizes_are_the_issues_workload():
    s = bench_gpu.sizes_for(torch.device("cuda"), ci=False)
    assert s.repeats >= 10 and s.warmup >= 1
    assert s.pipeline.n_images == 10_000 and s.pipeline.arch == "resnet18"
    assert s.pipeline_blocks == 1 + 19 * 5 and s.pipeline_end_to_end
    assert s.resnet is not None and s.resnet.input_shape == (3, 32, 32)
    assert s.compile is not None


def test_unknown_section_is_refused(capsys):
    with pytest.raises(SystemExit) as err:
        bench_gpu.main(["--sections", "ensemble,warp_drive"])
    assert err.value.code == 2
    assert "warp_drive" in capsys.readouterr().err
