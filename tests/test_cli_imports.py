"""The commands that read a predictions file (or a features array) only import no torch:
loading torch and its compiler took about 5 s of a 7 s ``referral`` run (benchmarks/RESULTS.md,
"Command line on a predictions file")."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from uqviz.__main__ import build_parser, uses_torch


@pytest.fixture(scope="module")
def predictions_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 400
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + rng.gamma(2, 1.5, (n, 1)) * np.eye(3)[labels]
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    path = tmp_path_factory.mktemp("cli-imports") / "preds.csv"
    pd.DataFrame({"label": labels, **{f"p_{i}": p[:, i] for i in range(3)}}).to_csv(
        path, index=False)
    return path


def file_commands(csv, tmp) -> dict[str, list[str]]:
    """Each command that reads a file only, with the arguments of a run that succeeds (embed:
    a missing features file, so that no UMAP is computed; the path up to reading it is the
    command's)."""
    return {
        "metrics": ["metrics", str(csv), "--json"],
        "conformal": ["conformal", str(csv), "--json"],
        "referral": ["referral", str(csv), "--target-accuracy", "0.6", "--json"],
        "report": ["report", str(csv), "--out", str(tmp / "report.html")],
        "embed": ["embed", "--features", str(tmp / "missing.npy")],
    }


def test_commands_on_a_predictions_file_import_no_torch(predictions_csv, tmp_path):
    """Each command runs as ``python -m uqviz`` runs it (``main`` in a fresh interpreter); after
    each, whether torch is loaded. One interpreter for all: torch, once loaded, stays, so the
    first command that loads it is the one named."""
    commands = file_commands(predictions_csv, tmp_path)
    code = (
        "import json, sys\n"
        "from uqviz.__main__ import main\n"
        "loaded = {}\n"
        f"for name, argv in {commands!r}.items():\n"
        "    code = main(argv)\n"
        "    loaded[name] = [code, 'torch' in sys.modules]\n"
        "print(json.dumps(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    expected_codes = {name: 2 if name == "embed" else 0 for name in commands}
    assert {name: code for name, (code, _) in loaded.items()} == expected_codes, out.stderr
    assert "no such file" in out.stderr  # embed read the missing features file, and said so
    torch_after = [name for name, (_, torch) in loaded.items() if torch]
    assert not torch_after, f"torch loaded by {torch_after[0]}"
    assert (tmp_path / "report.html").stat().st_size > 0


def test_the_other_commands_still_set_torch_threads(tmp_path):
    parse = build_parser().parse_args
    for argv in (["train"], ["evaluate", "--out", "x"], ["precompute", "--out", "x"],
                 ["ship-weights"], ["report", "--out", "r.html"], ["embed"]):
        assert uses_torch(parse(argv)), argv
    for argv in (["metrics", "f.csv"], ["conformal", "f.csv"],
                 ["referral", "f.csv", "--target-accuracy", "0.9"],
                 ["report", "f.csv", "--out", "r.html"], ["embed", "--features", "f.npy"]):
        assert not uses_torch(parse(argv)), argv
