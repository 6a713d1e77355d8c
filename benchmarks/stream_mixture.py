"""Which incoming stream shows the methods apart? Measures candidate mixtures on a dataset.

For each candidate ``StreamMix`` (a corruption at a severity and an out-of-distribution set,
each at a share of the stream), computes every method's metric table on the stream (95%
bootstrap intervals) and counts the metrics where the softmax baseline's interval and an
ensemble's do not overlap, with the gap between them. The demo's default mixture
(``uqviz.stream.DEMO_MIX``) is the one with the clearest separation; the figures go to
``benchmarks/RESULTS.md``.

Usage: .venv/bin/python benchmarks/stream_mixture.py [--dataset digits] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METRICS = ("accuracy", "nll", "brier", "ece", "aurc", "ood_auroc")


def separation(table, base: str, other: str) -> dict[str, float]:
    """Per metric: the gap between the two methods' intervals (> 0: they do not overlap),
    signed so that positive favours ``other``."""
    from uqviz.metrics.summary import METRIC_INFO

    out = {}
    i, j = table.methods.index(base), table.methods.index(other)
    for metric in METRICS:
        if metric not in table.metrics:
            continue
        k = table.metrics.index(metric)
        if METRIC_INFO[metric].higher_is_better:
            gap = table.lower[j, k] - table.upper[i, k]
        else:
            gap = table.lower[i, k] - table.upper[j, k]
        out[metric] = float(gap)
    return out


def referral_figures(study) -> dict[str, tuple[float, float, float]]:
    """Accuracy on the automated stream cases (OOD automated = error) after referring the most
    uncertain 10% and 20% by entropy: (value, Wilson 95% lower, upper)."""
    out = {}
    for share in (10, 20):
        point = study.operating_point("entropy", "budget", share / 100)
        lo, hi = point.automated_accuracy_ci
        out[f"accuracy_at_{share}pct"] = (point.automated_accuracy, lo, hi)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from uqviz.methods import METHOD_IDS
    from uqviz.sources import TrainedSource
    from uqviz.stream import StreamMix
    from uqviz.study import Comparison, Study

    preds = TrainedSource(args.dataset).predictions(list(METHOD_IDS))
    first = next(iter(preds.values()))
    shifts = [g for g in first.groups if ":" in g and not g.startswith("ood:")
              and g.endswith((":3", ":5"))]
    oods = [g for g in first.groups if g.startswith("ood:")]
    results = []
    for shift, shift_share, ood, ood_share in itertools.product(
            [None, *shifts], (0.0, 0.2, 0.4), oods, (0.0, 0.1, 0.2)):
        if (shift is None) != (shift_share == 0):
            continue
        mix = StreamMix(shift=shift, shift_share=shift_share, ood=ood if ood_share else None,
                        ood_share=ood_share)
        if ood_share == 0 and ood != oods[0]:
            continue
        comp = Comparison({m: Study(p, mix) for m, p in preds.items()})
        table = comp.metric_table()
        seps = {other: separation(table, "softmax", other)
                for other in ("deep_ensemble", "prior_ensemble")}
        referral = {m: referral_figures(s) for m, s in comp.studies.items()}
        for other in ("deep_ensemble", "prior_ensemble"):
            for key in ("accuracy_at_10pct", "accuracy_at_20pct"):
                base, alt = referral["softmax"][key], referral[other][key]
                seps[other][f"referral_{key}"] = alt[1] - base[2]  # alt's lower − base's upper
        clear = sum(gap > 0 for s in seps.values() for gap in s.values())
        results.append({"mix": mix.describe(), "mix_fields": mix.to_dict(), "clear": clear,
                        "separations": seps,
                        "values": {m: dict(zip(table.metrics, table.value[i].round(4).tolist(),
                                               strict=True))
                                   for i, m in enumerate(table.methods)}})
        print(f"{clear:2d} metrics apart  {mix.describe()}")
    best = max(results, key=lambda r: (r["clear"], sum(max(g, 0) for s in r["separations"]
                                                      .values() for g in s.values())))
    print("clearest:", best["mix"])
    for other, seps in best["separations"].items():
        print(f"  softmax vs {other}: " + ", ".join(f"{k} {v:+.4f}" for k, v in seps.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"dataset": args.dataset, "results": results,
                                               "best": best}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
