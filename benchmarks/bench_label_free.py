"""Accuracy without labels on our own suite: each estimator's estimate against the true
accuracy, for every method × corruption × severity and every OOD set of the default dataset.

The default (digits, the shipped networks) is predicted with every corruption
(``uqviz.sources.SHIFT_PLAN``; read from ``UQVIZ_CACHE`` when there, else predicted — minutes
on a CPU). For each of ``--splits`` seeded splits, half of the clean test rows are the
labelled reference and the other half the clean target; each corrupted group's target is the
corrupted copy of that other half (the same images never sit on both sides). OOD sets are
targets whose true accuracy is 0 (an OOD case cannot be classified right: the stream's
counting rule). Per estimator and kind of target (clean, corrupted, OOD): the mean absolute
error, the worst absolute error and the share of 95% intervals covering the true accuracy.

Usage: .venv/bin/python benchmarks/bench_label_free.py [--splits 5] [--n-boot 100]
       [--json OUT] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=100)
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()

    from uqviz.methods import METHOD_IDS
    from uqviz.metrics.label_free import ESTIMATORS, estimate_accuracy, fit_reference
    from uqviz.predictions import TEST_GROUP, parse_shift_group
    from uqviz.sources import SHIFT_PLAN, TrainedSource

    start = time.perf_counter()
    predictions = TrainedSource("digits").with_plan(SHIFT_PLAN).predictions(list(METHOD_IDS))
    print(f"predictions: {time.perf_counter() - start:.1f} s", flush=True)
    names = tuple(ESTIMATORS)
    records = []  # (method, group, kind, estimator, estimate, low, high, truth)
    for method, p in predictions.items():
        probs, labels, group = p.mean_probs, p.labels, p.group.astype(str)
        test = np.flatnonzero(group == TEST_GROUP)
        for split in range(args.splits):
            order = np.random.default_rng(split).permutation(test.size)
            ref_pos, target_pos = np.sort(order[: test.size // 2]), np.sort(order[test.size // 2:])
            ref = test[ref_pos]
            fitted = fit_reference(probs[ref], labels[ref], n_boot=args.n_boot, seed=split)
            for g in p.groups:
                rows = np.flatnonzero(group == g)
                if g == TEST_GROUP or parse_shift_group(g) is not None:
                    rows = rows[target_pos]  # the same images as the clean target
                    kind = "clean" if g == TEST_GROUP else "corrupted"
                    truth = float((probs[rows].argmax(axis=1) == labels[rows]).mean())
                else:
                    kind, truth = "ood", 0.0
                got = estimate_accuracy(fitted, probs[rows], estimators=names,
                                        seed=1000 + split)
                for e in got.estimates:
                    records.append((method, g, kind, e.estimator, e.estimate, e.low, e.high,
                                    truth))
        print(f"{method}: done at {time.perf_counter() - start:.0f} s", flush=True)

    table = {}
    for kind in ("clean", "corrupted", "ood"):
        for name in names:
            sel = [r for r in records if r[2] == kind and r[3] == name]
            err = np.array([abs(r[4] - r[7]) for r in sel])
            cover = np.array([r[5] <= r[7] <= r[6] for r in sel])
            table[(kind, name)] = {"n": len(sel), "mae": float(err.mean()),
                                   "worst": float(err.max()), "coverage": float(cover.mean())}
    n_corrupted = len({r[1] for r in records if r[2] == "corrupted"})
    n_ood = len({r[1] for r in records if r[2] == "ood"})
    print(f"{len(predictions)} methods, {n_corrupted} corruption × severity groups, "
          f"{n_ood} OOD sets, {args.splits} reference/target splits "
          f"({time.perf_counter() - start:.0f} s)")
    header = "| estimator | " + " | ".join(
        f"{k} MAE | {k} worst | {k} coverage" for k in ("clean", "corrupted", "ood")) + " |"
    print(header)
    print("|" + " --- |" * 10)
    for name in names:
        cells = []
        for kind in ("clean", "corrupted", "ood"):
            t = table[(kind, name)]
            cells += [f"{100 * t['mae']:.1f}", f"{100 * t['worst']:.1f}",
                      f"{100 * t['coverage']:.0f}%"]
        print(f"| {ESTIMATORS[name].label} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "splits": args.splits, "n_boot": args.n_boot,
            "table": {f"{k}/{n}": v for (k, n), v in table.items()},
            "records": [list(r) for r in records]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
