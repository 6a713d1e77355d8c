"""The guaranteed referral threshold by simulation: is it valid, and how much does it automate?

For each score/error model (true error rate and coverage known exactly), each calibration size
n and each method, ``--draws`` calibration sets are drawn; for each, the threshold chosen is
scored by its true error rate on the automated cases (a *violation* when above 1 − A) and its
true coverage as a share of the oracle's (the largest coverage whose error rate is ≤ 1 − A;
0 when nothing is certified). Valid means violation rate ≤ δ (+ 3 binomial SE of the
simulation). Methods: SGR (``uqviz.metrics.guarantee``, G = 20) and Learn then Test with
fixed-sequence or fallback testing, with grid variants.

    .venv/bin/python benchmarks/guarantee_power.py [--draws 1000] [--n 200,500,1000,5000]
        [--confidence 0.95] [--models quadratic,step,...] [--methods sgr,ltt,...]

Prints one markdown table (violation rate / share of the oracle's coverage) and saves
``benchmarks/results/guarantee_power.json``. About 5 minutes at the defaults on one core.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uqviz.metrics.guarantee import (  # noqa: E402
    LTT_DESIGNS,
    LttDesign,
    certify_threshold,
    ltt_choice,
    ltt_grid,
)

FINE = np.linspace(0.0, 1.0, 200_001)


@dataclass(frozen=True)
class ScoreModel:
    """Scores s and P(error | s): s ~ U(0, 1) (``values`` None) or a discrete distribution.

    Attributes:
        name: short name.
        target: A, the accuracy to guarantee.
        error_rate: P(error | s), vectorised.
        values, probs: the discrete scores and their probabilities (None: U(0, 1)).
        what: one line for the table.
    """

    name: str
    target: float
    error_rate: object
    what: str
    values: np.ndarray | None = None
    probs: np.ndarray | None = None

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        s = rng.random(n) if self.values is None else rng.choice(self.values, n, p=self.probs)
        return s, rng.random(n) >= self.error_rate(s)

    def coverage_and_risk(self, threshold: float) -> tuple[float, float]:
        """True share automated and true error rate on automated of 'refer s > threshold'."""
        if self.values is not None:
            below = self.values <= threshold
            coverage = float(self.probs[below].sum())
            errors = float((self.probs[below] * self.error_rate(self.values[below])).sum())
            return coverage, errors / coverage if coverage else 0.0
        if threshold < 0:
            return 0.0, 0.0
        x = FINE if threshold >= 1 else np.append(FINE[FINE < threshold], threshold)
        coverage = min(threshold, 1.0)
        return coverage, float(np.trapezoid(self.error_rate(x), x) / coverage)

    def oracle_coverage(self) -> float:
        """The largest true coverage whose true error rate is ≤ 1 − A."""
        if self.values is not None:
            best = 0.0
            for t in np.append(self.values, math.inf):
                coverage, risk = self.coverage_and_risk(t)
                if coverage and risk <= 1 - self.target:
                    best = max(best, coverage)
            return best
        p = self.error_rate(FINE)
        cumulative = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(FINE))])
        risk = np.where(FINE > 0, cumulative / np.maximum(FINE, 1e-300), p[0])
        fine = risk <= 1 - self.target
        return float(FINE[fine].max()) if fine.any() else 0.0


def _band(s):  # easy, a band of hard cases, easy again, then harder and harder
    return 0.005 + 0.15 * ((s >= 0.1) & (s < 0.2)) + np.maximum(s - 0.7, 0.0)


_TIES = np.append(0.0, np.arange(1, 21) / 20)  # 40% of scores exactly 0 (saturated softmax)
_TIE_PROBS = np.append(0.4, np.full(20, 0.03))

MODELS = [
    ScoreModel("quadratic", 0.95, lambda s: 0.01 + 0.3 * s ** 2,
               "error rate 0.01 + 0.3 s² (the docstring's model)"),
    ScoreModel("step", 0.95, lambda s: np.where(s < 0.5, 0.02, 0.3),
               "2% below s = 0.5, 30% above"),
    ScoreModel("band", 0.95, _band,
               "non-monotone: 0.5%, a band of 15.5% at s in [0.1, 0.2), then 0.5% + (s − 0.7)+"),
    ScoreModel("hard-easy", 0.95, lambda s: np.where(s < 0.1, 0.2, 0.01),
               "hard cases that look easy: the least uncertain 10% wrong 20% of the time"),
    ScoreModel("ties", 0.95, lambda s: np.where(s == 0, 0.005, 0.01 + 0.3 * s ** 2),
               "discrete: 40% of scores exactly 0, the rest on 20 levels", _TIES, _TIE_PROBS),
    ScoreModel("barely", 0.95, lambda s: 0.04 + 0.3 * s ** 2,
               "target barely reachable: 0.04 + 0.3 s² (oracle coverage 0.32)"),
    ScoreModel("quadratic-99", 0.99, lambda s: 0.001 + 0.05 * s ** 2, "A = 0.99: 0.001 + 0.05 s²"),
]


@dataclass(frozen=True)
class Variant:
    """A method as run here: SGR through ``certify_threshold``; LTT through ``ltt_grid`` and
    ``ltt_choice`` with a design (the same code, without the search for the highest A that
    runs when A is not certified)."""

    name: str
    design: LttDesign | None = None  # None: SGR

    def threshold(self, s: np.ndarray, correct: np.ndarray, target: float, delta: float,
                  seed: int) -> float:
        """'Refer s > threshold' (-inf: nothing certified)."""
        if self.design is None:
            result = certify_threshold(s, correct, target_accuracy=target,
                                       confidence=1 - delta, method="sgr")
            return result.threshold if result.certified else -math.inf
        grid = ltt_grid(s, correct, self.design.grid_rows(s.size), seed)
        chosen = ltt_choice(grid, target, delta, self.design)
        value = math.nan if chosen is None else float(grid.values[chosen])
        if chosen is None or not (s < value).any():
            return -math.inf
        return math.inf if math.isinf(value) else float(np.nextafter(value, -math.inf))


FS = LTT_DESIGNS["ltt_fixed_sequence"]
FB = LTT_DESIGNS["ltt_fallback"]
VARIANTS = [
    Variant("sgr"),
    Variant("fs-A^m", LttDesign(start_weight=1.0, anchors=0, start_error_share=0.0)),
    Variant("fs", FS),
    Variant("fs-20rows", LttDesign(start_weight=1.0, anchors=0, grid_share=0.0)),
    Variant("fallback", FB),
    Variant("fallback-20rows", LttDesign(grid_share=0.0)),
    Variant("fallback-10%", LttDesign(grid_share=0.1, max_grid_rows=500)),
]
VARIANT_NOTES = {
    "sgr": "SGR, G = 20 coverage levels, union bound (method='sgr')",
    "fs-A^m": "LTT fixed sequence, start at the smallest m with A^m <= delta, grid 5% of n",
    "fs": "LTT fixed sequence, start where half the allowed error rate is rejected "
          "(<= 25% of rows), grid 5% of n (method='ltt_fixed_sequence')",
    "fs-20rows": "as fs, 20 grid rows at every n",
    "fallback": "LTT fallback: delta/2 on the start, delta/10 on 5 anchors out to +inf, grid 5% "
                "of n, 20-200 rows (method='ltt_fallback', the default)",
    "fallback-20rows": "as fallback, 20 grid rows at every n",
    "fallback-10%": "as fallback, grid 10% of n (up to 500 rows)",
}


def simulate(model: ScoreModel, variant: Variant, n: int, draws: int, delta: float,
             seed: int = 0) -> dict:
    """Violation rate and mean share of the oracle's coverage over ``draws`` calibration sets
    (the same sets for every variant: same seed)."""
    rng = np.random.default_rng(seed)
    oracle = model.oracle_coverage()
    violations, shares = 0, []
    for draw in range(draws):
        s, correct = model.draw(rng, n)
        t = variant.threshold(s, correct, model.target, delta, seed=draw)
        if t == -math.inf:
            shares.append(0.0)
            continue
        coverage, risk = model.coverage_and_risk(t)
        violations += risk > 1 - model.target
        shares.append(coverage / oracle)
    return {"violation_rate": violations / draws, "oracle_share": float(np.mean(shares)),
            "certified_rate": float(np.mean(np.array(shares) > 0))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--n", default="200,500,1000,5000")
    parser.add_argument("--confidence", type=float, default=0.95, help="1 − δ")
    parser.add_argument("--models", default=",".join(m.name for m in MODELS))
    parser.add_argument("--methods", default=",".join(v.name for v in VARIANTS))
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" /
                                              "guarantee_power.json"))
    args = parser.parse_args()
    delta = 1 - args.confidence
    sizes = [int(x) for x in args.n.split(",")]
    models = [m for m in MODELS if m.name in args.models.split(",")]
    variants = [v for v in VARIANTS if v.name in args.methods.split(",")]
    allowed = delta + 3 * math.sqrt(delta * (1 - delta) / args.draws)
    print(f"{args.draws} draws per cell, 1 − δ = {args.confidence}; cell: violation rate / "
          f"coverage as a share of the oracle's; valid: violation rate ≤ {allowed:.3f} "
          f"(δ + 3 SE)\n")
    for v in variants:
        print(f"- {v.name}: {VARIANT_NOTES[v.name]}")
    for m in models:
        print(f"- {m.name} (A = {m.target}, oracle coverage {m.oracle_coverage():.3f}): {m.what}")
    print("\n| model | n | " + " | ".join(v.name for v in variants) + " |")
    print("|---|---|" + "---|" * len(variants))
    rows = []
    for model in models:
        for n in sizes:
            start = time.perf_counter()
            cells = {v.name: simulate(model, v, n, args.draws, delta) for v in variants}
            rows.append({"model": model.name, "n": n, "target": model.target,
                         "oracle_coverage": model.oracle_coverage(), "cells": cells})
            print(f"| {model.name} | {n:,} | " + " | ".join(
                f"{c['violation_rate']:.3f} / {100 * c['oracle_share']:.0f}%"
                for c in cells.values()) + f" |  <!-- {time.perf_counter() - start:.0f} s -->",
                flush=True)
    worst = max(c["violation_rate"] for r in rows for c in r["cells"].values())
    print(f"\nlargest violation rate: {worst:.3f} (allowed {allowed:.3f})")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "draws": args.draws, "confidence": args.confidence, "allowed": allowed,
        "variants": {v.name: VARIANT_NOTES[v.name] for v in variants},
        "models": {m.name: m.what for m in models}, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
