"""The commands that read a predictions file (or a features array) only import no torch:
loading torch and its compiler took about 5 s of a 7 s ``referral`` run (benchmarks/RESULTS.md,
"Command line on a predictions file"). ``metrics``, ``conformal`` and ``referral`` import neither
scipy.stats (about 1 s) nor pandas (about 0.5 s): the quantiles and the binomial distribution
come from scipy.special, with the same numbers, and the file reader takes its arrays from Arrow
without pandas (``uqviz.exchange.arrow``); ``benchmarks/bench_cli_startup.py`` times them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.special import betaincinv, ndtri

from uqviz.__main__ import build_parser, uses_torch
from uqviz.exchange.arrow import numbers_array
from uqviz.metrics.classification import normal_quantile
from uqviz.metrics.guarantee import binomial_cdf, binomial_p_value, binomial_upper_bound

HEAVY = ("torch", "scipy.stats", "pandas")  # the modules a file command once loaded


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
        f"    loaded[name] = [code, [m for m in {HEAVY!r} if m in sys.modules]]\n"
        "print(json.dumps(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    expected_codes = {name: 2 if name == "embed" else 0 for name in commands}
    assert {name: code for name, (code, _) in loaded.items()} == expected_codes, out.stderr
    assert "no such file" in out.stderr  # embed read the missing features file, and said so
    torch_after = [name for name, (_, heavy) in loaded.items() if "torch" in heavy]
    assert not torch_after, f"torch loaded by {torch_after[0]}"
    for name in ("metrics", "conformal", "referral"):  # report's plotly is another matter
        assert loaded[name][1] == [], f"{name} loaded {loaded[name][1]}"
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


def test_the_scipy_special_functions_give_scipy_stats_numbers_exactly():
    """``normal_quantile``, ``binomial_upper_bound`` and ``binomial_cdf`` (``binomial_p_value``)
    give bit for bit what ``norm.ppf``, ``beta.ppf`` and ``binom.cdf`` give, on grids that hold
    the intervals', LTT's and SGR's arguments and random ones (0 ulp apart). ``bdtr`` (Cephes)
    would not: it differs from ``binom.cdf`` (Boost) by up to thousands of ulp."""
    rng = np.random.default_rng(0)
    q = np.concatenate([rng.random(10_000), np.linspace(0, 1, 1001), [1e-300, 1 - 2**-53]])
    np.testing.assert_array_equal(ndtri(q), stats.norm.ppf(q))
    for confidence in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1 - 1e-9):
        assert normal_quantile(confidence) == stats.norm.ppf(0.5 + confidence / 2)

    n = np.repeat(np.arange(1, 121), 120)
    errors = np.tile(np.arange(120), 120)
    small = errors < n
    n = np.concatenate([n[small], rng.integers(1, 200_000, 4_000)])
    errors = np.concatenate([errors[small], (rng.random(4_000) * n[-4_000:]).astype(int)])
    errors = np.minimum(errors, n - 1)
    for delta in (0.5, 0.2, 0.1, 0.05, 0.01, 0.001, 1e-9):
        np.testing.assert_array_equal(betaincinv(errors + 1, n - errors, 1 - delta),
                                      stats.beta.ppf(1 - delta, errors + 1, n - errors))
    for e, m in ((0, 1), (3, 10), (49, 1000), (999, 1000), (12_345, 98_765)):
        assert binomial_upper_bound(e, m, 0.05) == stats.beta.ppf(0.95, e + 1, m - e)

    k = np.concatenate([errors, errors - 1, n, n + 3, errors + 0.5]).astype(float)
    trials = np.concatenate([n, n, n, n, n])
    for risk in (0.0, 1e-6, 0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.9, 0.999, 1.0):
        np.testing.assert_array_equal(binomial_cdf(k, trials, risk),
                                      stats.binom.cdf(k, trials, risk))
    risks = rng.random(k.size)
    np.testing.assert_array_equal(binomial_cdf(k, trials, risks), stats.binom.cdf(k, trials, risks))
    np.testing.assert_array_equal(binomial_p_value([0, 3, 0], [0, 10, 5], 0.1),
                                  [1.0, stats.binom.cdf(3, 10, 0.1), stats.binom.cdf(0, 5, 0.1)])


def _arrow_columns():
    """Integer and float columns as the file reader meets them: with nulls, in chunks, sliced."""
    floats = [0.5, None, -1e300, float("nan"), 2.0, None, 3.25, 7.0, None, 1.0]
    ints = [3, None, -7, 2**40, 0, None, 1, 2, 3, 4]
    yield pa.chunked_array([floats[:3], floats[3:9], [], floats[9:]], pa.float64())
    yield pa.chunked_array([[x for x in floats if x is not None]], pa.float64())
    yield pa.chunked_array([ints[:4], ints[4:]], pa.int64())
    yield pa.chunked_array([[x for x in ints if x is not None]], pa.int64())
    yield pa.array([x if x is None else x % 2**31 for x in ints], pa.int32()).slice(3, 6)
    yield pa.array([abs(x) for x in ints if x is not None], pa.uint64()).slice(1)
    yield pa.array(floats, pa.float32()).slice(1, 8)
    yield pa.array([None] * 9, pa.int8()).slice(2)
    yield pa.chunked_array([], pa.float64())
    yield pa.array(["a", None, "b"]).dictionary_encode().indices
    yield pa.array(["x", "y", None])  # not numbers: to_numpy itself


@pytest.mark.parametrize("column", list(_arrow_columns()), ids=lambda c: str(c.type))
def test_numbers_array_is_what_to_numpy_gives(column):
    got, expected = numbers_array(column), column.to_numpy(zero_copy_only=False)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # NaN where the other has NaN
    if got.dtype.kind in "iuf":
        got[:0] = 0  # a writable copy, as the reader may write into it
