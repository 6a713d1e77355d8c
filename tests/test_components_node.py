"""The components' JavaScript lookups and formatting under Node (``node --test tests/js/``),
on tables written by the real Python functions: the browser only looks up, formats and draws
what Python computed. And a check of the components' code itself: no statistic in it
(``STATISTICAL_JS``), which needs no Node.

Each ``tests/js/<component>.test.mjs`` reads ``<component>.json`` from the folder that
``UQVIZ_COMPONENT_TABLES`` names: the payload Python sends the component and what the Python
core gives at each slider position, formatted with the page's f-strings.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ROOT / "uqviz" / "ui" / "components"
NODE = shutil.which("node")

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


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
    infinite at the smallest α), and at every α of the slider what ``ConformalSplit.sets`` and
    ``class_coverage`` give, formatted as the page formatted them."""
    from uqviz.conformal import (
        AVERAGE_ALPHAS,
        SLIDER_ALPHAS,
        ConformalSplit,
        class_coverage,
        quantile_rank,
    )
    from uqviz.ui.components.conformal_alpha import build_payload

    rng = np.random.default_rng(3)
    rows, classes = 400, 4
    probs = rng.dirichlet(np.full(classes, 0.5), rows)
    labels = np.array([rng.choice(classes, p=p) for p in probs])
    settings = dict(score="lac", cal_fraction=0.15, randomized=True, lam=0.1, k_reg=1)
    names = [f"c{c}" for c in range(classes)]
    split = ConformalSplit(probs, labels, seed=0, **settings)
    levels, average = split.levels(SLIDER_ALPHAS), split.draws(AVERAGE_ALPHAS, 3)
    expected = []
    for alpha in SLIDER_ALPHAS:
        alpha = float(alpha)
        result = split.sets(alpha)
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


def _referral_texts(compact, point, mode: str, value: float | None = None) -> dict:
    """What the page showed before the component, from Python's own formatting (a NaN as
    "–"): the texts ``referral_workbench.js`` writes for ``point`` (a kept cut of
    ``compact``) in ``mode``."""
    i = int(np.searchsorted(compact.kept, point.n_automated))
    wrong = int(compact.kept[i] - compact.correct[i])

    def pct(x, d):
        return "–" if math.isnan(x) else f"{100 * x:.{d}f}%"

    def num(x, d):
        return "–" if math.isnan(x) else f"{100 * x:.{d}f}"

    lo, hi = point.automated_accuracy_ci
    rlo, rhi = point.referred_accuracy_ci
    return {
        "referredValue": f"{100 * point.referred_fraction:.1f}%",
        "referredHelp": f"{point.n_referred:,} of {point.n:,} cases; threshold "
                        f"{point.threshold:.4f}",
        "accuracyValue": pct(point.automated_accuracy, 2),
        "accuracyHelp": f"95% CI {num(lo, 2)}–{num(hi, 2)}% on {point.n_automated:,} cases",
        "errorValue": pct(point.automated_error_rate, 2),
        "errorHelp": f"{wrong:,} wrong of {point.n_automated:,} automated",
        "referredAccuracyValue": pct(point.referred_accuracy, 1),
        "referredAccuracyHelp": f"95% CI {num(rlo, 1)}–{num(rhi, 1)}%: how often the model "
                                "would have been right on the cases it hands over",
        "caption": f"95% Wilson intervals — automated accuracy {num(lo, 2)}–{num(hi, 2)}%; "
                   f"referred {point.n_referred:,} case{'s' * (point.n_referred != 1)} at "
                   f"threshold {point.threshold:.4f}.",
        "expectedCost": f"Expected cost per case: {point.expected_cost:.3f} (reviews assumed "
                        "correct)." if mode == "cost" else None,
        "warning": f"{value:.1f}% accuracy is not reachable with this score; showing the best "
                   "that is." if mode == "target" and not point.reached else None,
    }


def _point_numbers(p) -> list:
    return [p.threshold, p.n_referred, p.referred_fraction, p.automated_accuracy,
            *p.automated_accuracy_ci, p.automated_error_rate, p.referred_accuracy,
            *p.referred_accuracy_ci, p.reached, p.expected_cost]


def _referral_workbench_table() -> dict:
    """The workbench's payload on random scores with ties, more distinct than the threshold
    slider has positions (a grid of quantiles; the least uncertain case wrong, so a target of
    100% is not reached), and at every position of every slider (threshold, budget, target,
    both costs) the operating point ``CompactReferral`` gives and its texts formatted as the
    page formatted them."""
    from uqviz.metrics.selective import ReferralIndex
    from uqviz.ui.components.referral_workbench import COST_VALUES, SLIDERS, prepare
    from uqviz.ui.referral import snap_value

    rng = np.random.default_rng(4)
    uncertainty = np.round(rng.random(6000), 4)
    correct = rng.random(6000) < 0.85
    correct[uncertainty == uncertainty.min()] = False
    prepared = prepare(ReferralIndex.from_scores(uncertainty, correct))
    compact = prepared.compact
    assert not compact.exact and np.unique(uncertainty).size > compact.size
    expected = {"threshold": []}
    for i in range(1, compact.size):
        p = compact.at_threshold(compact.thresholds[i])
        expected["threshold"].append({"value": float(compact.thresholds[i]),
                                      "point": _point_numbers(p),
                                      "texts": _referral_texts(compact, p, "threshold")})
    for mode, query in (("budget", compact.at_budget), ("target", compact.for_target_accuracy)):
        c = SLIDERS[mode]
        expected[mode] = []
        for k in range(c["steps"] + 1):
            value = (c["offset"] + k) / c["scale"]
            assert snap_value(f"ref_{mode}", value) == value
            p = query(value / 100)
            expected[mode].append({"value": value, "point": _point_numbers(p),
                                   "texts": _referral_texts(compact, p, mode, value)})
    expected["cost"] = [
        {"value": [ce, cr], "point": _point_numbers(p),
         "texts": _referral_texts(compact, p, "cost")}
        for ce in COST_VALUES for cr in COST_VALUES for p in [compact.for_costs(ce, cr)]]
    return {"payload": prepared.payload, "expected": expected, "sliders": SLIDERS,
            "costs": list(COST_VALUES), "costLabels": [f"{c:g}" for c in COST_VALUES]}


def _interval_subsample_table() -> dict:
    """The subsample slider's payload for two methods on 3,000 rows ("sharp": along the page's
    shuffle the first 30 rows right, the 31st wrong, so Wald has zero width at n <= 30 and
    leaves [0, 1] just after; "rough": 75% right), and at about 100 of the sizes the slider
    offers (every one of the 40 smallest) what ``accuracy_intervals(correct, [n],
    n_resamples=None)`` gives on its own, formatted as the page formatted it."""
    from uqviz.metrics.classification import accuracy_intervals
    from uqviz.ui.components.interval_subsample import MethodRows, prepare

    rows = 3000
    rng = np.random.default_rng(5)
    order = np.random.default_rng(0).permutation(rows)
    sharp = np.empty(rows, dtype=bool)
    sharp[order] = np.r_[np.ones(30, dtype=bool), False, rng.random(rows - 31) < 0.97]
    correct = {"sharp": sharp, "rough": rng.random(rows) < 0.75}
    kinds = {"wald": "Normal approx. (Wald)", "wilson": "Wilson",
             "bootstrap": "Percentile bootstrap"}
    prepared = prepare([MethodRows(m, m.title(), "#123456", c) for m, c in correct.items()],
                       source="two.csv", kinds=kinds)

    def cell(lo, hi):
        return f"[{lo:.1%}, {hi:.1%}] · {100 * (hi - lo):.1f} pts"

    sizes = prepared.sizes
    # the small sizes (where the warnings are), the largest, and random ones between
    positions = sorted({*range(40), sizes.size - 1,
                        *np.random.default_rng(0).integers(40, sizes.size, 60).tolist()})
    expected = []
    for position in positions:
        size = int(sizes[position])
        table, notes, titles = [], [], []
        for m, c in correct.items():
            iv = accuracy_intervals(c, [size], n_resamples=None, seed=0)
            acc, label = iv.accuracy[0], m.title()
            table.append([label, f"{size:,}", f"{acc:.1%}", cell(*iv.wald[0]),
                          cell(*iv.wilson[0]), cell(*iv.bootstrap[0])])
            wald, wilson, boot = iv.wald_unclipped[0], iv.wilson[0], iv.bootstrap[0]
            if iv.wald_zero_width[0]:
                which = ("Wald's and the bootstrap's intervals are" if boot[0] == boot[1]
                         else "Wald's interval is")
                notes.append([label, f" scored {acc:.0%} on all {size} rows: {which} "
                              f"[{wald[0]:.0%}, {wald[1]:.0%}], zero width, claiming certainty "
                              f"from {size} rows. Wilson: [{wilson[0]:.1%}, {wilson[1]:.1%}]."])
            elif iv.wald_outside[0]:
                notes.append([label, f": Wald's interval [{wald[0]:.1%}, {wald[1]:.1%}] leaves "
                              "[0, 100%] (clipped in the table); Wilson stays inside: "
                              f"[{wilson[0]:.1%}, {wilson[1]:.1%}]."])
            for kind, kind_label in kinds.items():
                lo, hi = (iv.wald_unclipped if kind == "wald" else getattr(iv, kind))[0]
                titles.append(f"{label}, {kind_label}: accuracy {acc:.1%} [{lo:.1%}, {hi:.1%}], "
                              f"width {hi - lo:.1%}")
        expected.append({
            "position": position, "size": size,
            "output": f"{size:,} rows",
            "valuetext": f"{size:,} test rows",
            "caption": f"two.csv: each method's accuracy on {size:,} test rows (marker) with its "
                       "three 95% intervals (bars); the dotted line is 100%. Bootstrap: exact, as "
                       "with infinitely many resamples (the 2.5% and 97.5% quantiles of "
                       "Binomial(n, p̂)/n).",
            "axis": f"Accuracy on {size:,} test rows, with 95% intervals",
            "table": table, "notes": notes, "titles": titles,
        })
    seen = {"zero" if "zero width" in n[1] else "outside" for e in expected for n in e["notes"]}
    assert seen == {"zero", "outside"}, seen
    assert prepared.sizes.size < rows - 19, "3,000 rows: a grid of sizes, not every size"
    return {"payload": prepared.payload, "expected": expected}


@needs_node
def test_components_look_up_and_format_pythons_tables(tmp_path):
    tables = {"conformal_alpha": _conformal_alpha_table(),
              "interval_subsample": _interval_subsample_table(),
              "referral_workbench": _referral_workbench_table()}
    for name, table in tables.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(_json_ready(table), allow_nan=False),
                                               encoding="utf-8")
    done = subprocess.run([NODE, "--test", "tests/js/"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "UQVIZ_COMPONENT_TABLES": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "# skipped 0" in done.stdout and "# fail 0" in done.stdout, done.stdout[-3000:]


# -- no statistic in the components' JavaScript -------------------------------------------------
# What a statistic needs and a lookup, a format or a drawing does not: a square root, logarithm,
# exponential or power, a function named after an interval, a quantile or a distribution, a
# normal quantile z multiplying something, or a rate formed from counts (correct / kept, … / n).
# Comments and the text of strings are not code.
STATISTICAL_JS = re.compile(
    r"Math\.(?:sqrt|cbrt|hypot|log|log1p|log2|log10|exp|expm1|pow)\b"
    r"|\*\*"
    r"|\b(?:wilson|wald|clopper|quantile|binomial|bootstrap|normal|erf|ppf|cdf|pdf|variance"
    r"|stddev|mean)\w*\s*\("
    r"|\bz\s*\*"
    # a rate from counts: a count divided, or something divided by a count
    r"|\b(?:correct|hits|errors|wrong|kept|referred)\w*(?:\[[^\]]*\])?\s*/(?![/*])"
    r"|/\s*(?:\w+\.)?(?:n|m|kept|total|count|nRef)\b(?!\s*[.(\[])")


def js_code(source: str) -> str:
    """``source`` without its comments and the text of its string literals (quotes and the
    ``${...}`` expressions of template literals are kept: they are code)."""
    out: list[str] = []
    i, n = 0, len(source)
    stack: list[str] = []  # "`" inside a template literal, "{" inside one's ${...}
    while i < n:
        c, nxt = source[i], source[i + 1] if i + 1 < n else ""
        if stack and stack[-1] == "`":
            if c == "\\":
                i += 2
            elif c == "`":
                stack.pop()
                out.append(c)
                i += 1
            elif c == "$" and nxt == "{":
                stack.append("{")
                out.append("${")
                i += 2
            else:
                i += 1
            continue
        if c == "/" and nxt == "/":
            i = source.find("\n", i)
            i = n if i < 0 else i
        elif c == "/" and nxt == "*":
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "'\"":
            j = i + 1
            while j < n and source[j] != c:
                j += 2 if source[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        elif c == "`":
            stack.append("`")
            out.append(c)
            i += 1
        else:
            if stack and c == "{":
                stack.append("{")
            elif stack and c == "}":
                stack.pop()
            out.append(c)
            i += 1
    return "".join(out)


def statistical_code(source: str) -> list[str]:
    """The lines of JavaScript ``source`` whose code (``js_code``) matches ``STATISTICAL_JS``."""
    return [line.strip() for line in js_code(source).splitlines() if STATISTICAL_JS.search(line)]


def test_the_rule_finds_statistics_and_ignores_comments_and_strings():
    wilson = """export function wilson(k, m, z) {
  const half = z / denom * Math.sqrt(p * (1.0 - p) / m + z * z / (4.0 * m * m));
}"""
    assert len(statistical_code(wilson)) == 2
    assert statistical_code("const half = z * spread;")
    assert statistical_code("const q = binomialQuantiles(k, n, levels);")
    assert statistical_code("const w = a ** 2;")
    assert statistical_code("const acc = correct[i] / kept[i];")
    assert statistical_code("const share = (M.n - kept) / M.n;")
    assert statistical_code("const t = `${Math.log(x)} nats`;")
    assert statistical_code("// Math.sqrt in a comment\n/* wilson(k, n) */\n"
                            "const s = 'wilson(k, n) and Math.exp';\n"
                            "const t = `Wilson (z * 2) ${pyFixed(100 * x, 1)}%`;") == []
    assert statistical_code("setText(c.wilson, cell(iv.wilson, iv.width.wilson));") == []


@pytest.mark.parametrize("path", sorted(COMPONENTS.glob("*.js")), ids=lambda p: p.name)
def test_no_statistic_in_a_components_javascript(path):
    found = statistical_code(path.read_text(encoding="utf-8"))
    assert found == [], (f"{path.name} computes a statistic; send the numbers from Python, per "
                         f"slider position: {found}")
