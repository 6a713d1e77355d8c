"""The weights shipped in assets/weights: a fresh cache serves the default without training,
and a file that fails its hash or the architecture check is never used."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from uqviz.pretrained import (
    MANIFEST,
    MAX_BYTES,
    SHIPPED_ENV,
    WEIGHTS_DIR,
    read_manifest,
    sha256_of,
    shipped_state,
    write_shipped,
)


def _net(width: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, 2))


@pytest.fixture
def shipped(tmp_path):
    """A directory holding one float32 state dict shipped as ``net.pt``."""
    source = tmp_path / "cache" / "net.pt"
    source.parent.mkdir()
    torch.save(_net().state_dict(), source)
    directory = tmp_path / "weights"
    write_shipped([source], lambda _p: {"dataset": "toy"}, directory)
    return directory


def test_the_repository_ships_the_default_within_its_budget():
    files = read_manifest()
    assert files, f"no {MANIFEST} in {WEIGHTS_DIR}"
    total = 0
    for name, entry in files.items():
        path = WEIGHTS_DIR / name
        assert sha256_of(path) == entry["sha256"], name
        assert entry["dataset"] == "digits"
        total += path.stat().st_size
    assert total <= MAX_BYTES
    assert sorted(p.name for p in WEIGHTS_DIR.glob("*.pt")) == sorted(files)


def test_a_fresh_cache_serves_the_default_from_the_shipped_weights(tmp_path, monkeypatch):
    """Every network of the default (digits, the app's configuration) is found in
    assets/weights and matches the architecture the code builds: nothing is trained. The
    networks are predicted on the clean test rows only (a network's cache name does not depend
    on the rows a plan predicts; the app's plan adds corrupted, OOD and fit rows)."""
    from uqviz.methods import METHOD_IDS
    from uqviz.runs import EvalPlan
    from uqviz.sources import TrainedSource

    monkeypatch.setenv("UQVIZ_CACHE", str(tmp_path))
    messages: list[str] = []
    test_rows_only = EvalPlan(corruptions=(), ood_sets=(), fit_rows=0)
    preds = TrainedSource("digits", test_rows_only).predictions(
        list(METHOD_IDS), progress=lambda _f, m: messages.append(m))
    assert not [m for m in messages if "epoch" in m], "a network was trained"
    assert any("loaded from the shipped weights" in m for m in messages)
    for name, p in preds.items():  # the shipped networks are the trained ones (float16)
        test = p.in_group("test")
        assert (test.predicted == test.labels).mean() > 0.93, name
    assert len(list((tmp_path / "weights").glob("*.pt"))) == len(read_manifest())


def test_shipped_weights_come_back_in_float32(shipped):
    state = shipped_state("net.pt", _net(), shipped)
    assert state is not None and all(v.dtype == torch.float32 for v in state.values())
    reference = _net().state_dict()
    for k, v in state.items():  # float16 rounding only
        assert torch.allclose(v, reference[k], rtol=1e-3, atol=1e-4)


def test_a_tampered_file_is_not_used(shipped):
    path = shipped / "net.pt"
    state = torch.load(path, weights_only=True)
    state["0.bias"] = state["0.bias"] + 1
    torch.save(state, path)
    assert shipped_state("net.pt", _net(), shipped) is None


def test_another_architecture_is_not_used(shipped):
    assert shipped_state("net.pt", _net(width=5), shipped) is None


def test_unknown_names_a_broken_manifest_and_switching_off(shipped, monkeypatch):
    assert shipped_state("other.pt", _net(), shipped) is None
    monkeypatch.setenv(SHIPPED_ENV, "0")
    assert shipped_state("net.pt", _net(), shipped) is None
    monkeypatch.delenv(SHIPPED_ENV)
    (shipped / MANIFEST).write_text("{not json", encoding="utf-8")
    assert shipped_state("net.pt", _net(), shipped) is None


def test_write_shipped_refuses_files_over_the_budget(tmp_path, monkeypatch):
    source = tmp_path / "big.pt"
    torch.save({"w": torch.zeros(2**20)}, source)  # 2 MiB in float16
    monkeypatch.setattr("uqviz.pretrained.MAX_BYTES", 2**20)
    with pytest.raises(ValueError, match="over"):
        write_shipped([source], lambda _p: {}, tmp_path / "weights")
    manifest = tmp_path / "weights" / MANIFEST
    assert not manifest.exists() or "big.pt" not in json.loads(manifest.read_text())["files"]


def test_ship_weights_refuses_a_dataset_that_is_not_built_in():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "uqviz", "ship-weights", "--dataset",
                           "folder:/nowhere"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "built-in dataset" in done.stderr
