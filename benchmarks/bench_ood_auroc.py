"""AUROC of every OOD score × method on a dataset's OOD sets, as the Out-of-distribution page
computes it (issue 24).

Trains (or reads from the cache) every registered method on the dataset with the app's plan
and configuration (``uqviz.sources.TrainedSource``), then asks each method's ``Study`` for the
AUROC of every score it has — the probability scores (``UNCERTAINTY_SCORES``) and the logit
and feature scores (``LOGIT_FEATURE_SCORES``, fitted on the fit rows: held-out validation
rows) — telling each OOD set from the clean test rows.

Usage: ``python benchmarks/bench_ood_auroc.py [--dataset digits] [--methods softmax,…]
[--json out.json]`` (``--methods``: default every method). Prints
one Markdown table: a row per method × score, a column per OOD set and their mean, and the
fit rows and seconds spent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uqviz.methods import METHOD_IDS, parse_method_list  # noqa: E402
from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES  # noqa: E402
from uqviz.metrics.scores import UNCERTAINTY_SCORES  # noqa: E402
from uqviz.sources import TrainedSource  # noqa: E402
from uqviz.study import Study  # noqa: E402


def score_label(key: str) -> str:
    return UNCERTAINTY_SCORES[key].label if key in UNCERTAINTY_SCORES else (
        LOGIT_FEATURE_SCORES[key].label)


def auroc_table(dataset: str, methods: list[str]) -> dict:
    """``{"dataset", "groups", "n_fit", "n_in", "seconds", "rows": [{"method", "score",
    "auroc": {group: value}}]}`` for every method and score."""
    start = time.perf_counter()
    predictions = TrainedSource(dataset).predictions(methods)
    trained = time.perf_counter() - start
    rows, groups, n_fit, n_in = [], [], 0, 0
    for method, p in predictions.items():
        study = Study(p)
        groups, n_fit, n_in = study.ood_groups, study.ood_scores.n_fit, study.n
        for key in study.ood_score_keys():
            rows.append({"method": method, "score": key,
                         "auroc": {g: study.ood_detection(g, key).auroc for g in groups}})
    return {"dataset": dataset, "groups": groups, "n_fit": n_fit, "n_in": n_in,
            "seconds": {"predictions": trained, "scores": time.perf_counter() - start - trained},
            "rows": rows}


def markdown(doc: dict) -> str:
    groups = doc["groups"]
    names = [g.removeprefix("ood:") for g in groups]
    lines = [f"| method | score | {' | '.join(names)} | mean |",
             "|---|---|" + "---|" * (len(groups) + 1)]
    for row in doc["rows"]:
        values = [row["auroc"][g] for g in groups]
        cells = " | ".join(f"{v:.3f}" for v in values)
        lines.append(f"| {row['method']} | {score_label(row['score'])} | {cells} | "
                     f"{np.mean(values):.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--methods", default=",".join(METHOD_IDS),
                        help="comma-separated method ids (default: every method)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    doc = auroc_table(args.dataset, parse_method_list(args.methods))
    print(f"{doc['dataset']}: {doc['n_in']:,} clean test rows against each OOD set; feature "
          f"scores fitted on {doc['n_fit']:,} fit rows; predictions "
          f"{doc['seconds']['predictions']:.0f} s, scores {doc['seconds']['scores']:.0f} s")
    print(markdown(doc))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)


if __name__ == "__main__":
    main()
