"""The components' JavaScript lookups and formatting under Node (``node --test tests/js/``),
on tables written by the real Python functions: the browser only looks up, formats and draws
what Python computed.

Each ``tests/js/<component>.test.mjs`` reads ``<component>.json`` from the folder that
``UQVIZ_COMPONENT_TABLES`` names: the payload Python sends the component and what the Python
core gives at each slider position, formatted with the page's f-strings.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _json_ready(value):
    """NaN (not JSON) as null, numpy values as Python ones."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


def _conformal_alpha_table() -> dict:
    """The α slider's payload on random predictions (a calibration share so small that q̂ is
    infinite at the smallest α), and at every α of the slider what ``split_conformal`` and
    ``class_coverage`` give, formatted as the page formatted them."""
    from uqviz.conformal import (
        AVERAGE_ALPHAS,
        SLIDER_ALPHAS,
        class_coverage,
        conformal_at_levels,
        coverage_over_draws,
        quantile_rank,
        split_conformal,
    )
    from uqviz.ui.components.conformal_alpha import build_payload

    rng = np.random.default_rng(3)
    rows, classes = 400, 4
    probs = rng.dirichlet(np.full(classes, 0.5), rows)
    labels = np.array([rng.choice(classes, p=p) for p in probs])
    settings = dict(score="lac", cal_fraction=0.15, randomized=True, lam=0.1, k_reg=1)
    names = [f"c{c}" for c in range(classes)]
    levels = conformal_at_levels(probs, labels, alphas=SLIDER_ALPHAS, seed=0, **settings)
    average = coverage_over_draws(probs, labels, alphas=AVERAGE_ALPHAS, n_draws=3, **settings)
    expected = []
    for alpha in SLIDER_ALPHAS:
        alpha = float(alpha)
        result = split_conformal(probs, labels, alpha=alpha, seed=0, **settings)
        per_class = class_coverage(result, labels)
        lo, hi = result.coverage_ci
        shares = np.bincount(result.set_sizes, minlength=classes + 1) / result.n_test
        hits = np.rint(per_class.coverage * per_class.counts).astype(int)
        expected.append({
            "alpha": alpha,
            "coverage": result.coverage,
            "classes": [[h, n, c, low, high] for h, n, c, low, high in zip(
                hits, per_class.counts, per_class.coverage, per_class.low, per_class.high,
                strict=True)],
            "texts": {
                "output": f"{alpha:.2f}",
                "valuetext": f"{alpha:.2f}: target coverage {1 - alpha:.0%}",
                "coverageValue": f"{result.coverage:.1%}",
                "coverageDelta": f"{100 * (result.coverage - (1 - alpha)):+.1f} pts vs target",
                "coverageHelp": f"Share of the {result.n_test:,} test images whose set contains "
                                f"the true class; 95% CI {100 * lo:.1f}–{100 * hi:.1f}%.",
                "targetValue": f"{1 - alpha:.0%}",
                "averageValue": f"{average.at(alpha):.1%}",
                "sizeValue": f"{result.mean_set_size:.2f}",
                "caption": f"This split: coverage {result.coverage:.1%} (95% interval "
                           f"{100 * lo:.1f}–{100 * hi:.1f}%) on {result.n_test:,} test images, "
                           f"against the target {1 - alpha:.0%}. Sets keep every class whose "
                           f"score is at most q̂ = {result.qhat:.4f}, the "
                           f"{quantile_rank(result.n_cal, alpha)}-th smallest of "
                           f"{result.n_cal:,} calibration scores.",
                "warning": f"{result.n_cal} calibration images are too few for α = "
                           f"{alpha:.2f}: every set holds all classes. Raise α or the "
                           "calibration share." if math.isinf(result.qhat) else None,
            },
            "titles": {
                "sizes": [f"Set size {j}\nShare of rows {s:.1%}" for j, s in enumerate(shares)],
                "classes": [f"Class {name}: {c:.1%} of {n} images" for name, c, n
                            in zip(names, per_class.coverage, per_class.counts, strict=True)],
            },
        })
    assert any(e["texts"]["warning"] for e in expected), "no level with an infinite q̂"
    return {"payload": build_payload(levels, average, names), "expected": expected,
            "step": float(SLIDER_ALPHAS[1] - SLIDER_ALPHAS[0])}


def _referral_workbench_table() -> dict:
    """The workbench's payload on random scores with ties (the least uncertain case wrong, so
    a target of 100% is not reached), and at every position of the budget and target sliders
    the operating point ``CompactReferral`` gives."""
    from uqviz.metrics.selective import ReferralIndex
    from uqviz.ui.components.referral_workbench import MAX_COST, SLIDERS, prepare
    from uqviz.ui.referral import snap_value

    rng = np.random.default_rng(4)
    uncertainty = np.round(rng.random(700), 2)
    correct = rng.random(700) < 0.85
    correct[uncertainty == uncertainty.min()] = False
    prepared = prepare(ReferralIndex.from_scores(uncertainty, correct))
    compact = prepared.compact
    expected = {}
    for mode, query in (("budget", compact.at_budget), ("target", compact.for_target_accuracy)):
        c = SLIDERS[mode]
        expected[mode] = []
        for k in range(c["steps"] + 1):
            value = (c["offset"] + k) / c["scale"]
            assert snap_value(f"ref_{mode}", value) == value
            p = query(value / 100)
            expected[mode].append({"value": value, "point": [
                p.threshold, p.n_referred, p.referred_fraction, p.automated_accuracy,
                *p.automated_accuracy_ci, p.automated_error_rate, p.referred_accuracy,
                *p.referred_accuracy_ci, p.reached]})
    return {"payload": prepared.payload, "expected": expected, "sliders": SLIDERS,
            "maxCost": MAX_COST}


def test_components_look_up_and_format_pythons_tables(tmp_path):
    tables = {"conformal_alpha": _conformal_alpha_table(),
              "referral_workbench": _referral_workbench_table()}
    for name, table in tables.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(_json_ready(table), allow_nan=False),
                                               encoding="utf-8")
    done = subprocess.run([NODE, "--test", "tests/js/"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "UQVIZ_COMPONENT_TABLES": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "# skipped 0" in done.stdout and "# fail 0" in done.stdout, done.stdout[-3000:]
