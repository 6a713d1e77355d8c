"""The Story's numbers on the default stream over weight seeds: how clear is the difference?

For each weight seed (the app's configuration otherwise; seed 0 is the shipped default), the
digits networks are trained (or read from ``UQVIZ_CACHE``) and ``uqviz.story.story`` computed on
the clean test rows and on the demo stream. Prints, per seed: softmax's and the deep
ensemble's share of the stream confidently wrong (with Wilson intervals, and whether they are
apart), the paired difference with its 95% bootstrap interval, and the paired difference of
the AUROCs telling wrong from right. Never run by the tests.

Usage: UQVIZ_CACHE=/tmp/seedcache .venv/bin/python benchmarks/story_spread.py [--seeds 8]
       [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from uqviz.methods import METHOD_IDS, MethodConfig
    from uqviz.sources import TrainedSource
    from uqviz.story import story
    from uqviz.stream import DEMO_MIX
    from uqviz.study import Comparison, Study

    rows = []
    for seed in range(args.seeds):
        preds = TrainedSource("digits", config=MethodConfig(seed=seed)).predictions(
            list(METHOD_IDS))
        s = story(Comparison({m: Study(p) for m, p in preds.items()}),
                  Comparison({m: Study(p, DEMO_MIX) for m, p in preds.items()}))
        base, better = s.confidently_wrong[s.baseline], s.confidently_wrong[s.better]
        row = {"seed": seed, "baseline": s.baseline, "better": s.better,
               "confidently_wrong": {s.baseline: base, s.better: better},
               "intervals_apart": base[1] > better[2],
               "fewer_confidently_wrong": s.fewer_confidently_wrong,
               "better_separation": s.better_separation,
               "certified": s.guarantee.certified.accuracy_bound,
               "heldout": (None if s.guarantee.heldout is None
                           else s.guarantee.heldout.automated_accuracy)}
        rows.append(row)
        g, a = s.fewer_confidently_wrong, s.better_separation
        print(f"seed {seed}: confidently wrong {100 * base[0]:.1f}% vs {100 * better[0]:.1f}% "
              f"(apart: {row['intervals_apart']}); fewer {100 * g[0]:.1f} points "
              f"[{100 * g[1]:.1f}, {100 * g[2]:.1f}]; AUROC gain {a[0]:+.3f} "
              f"[{a[1]:+.3f}, {a[2]:+.3f}]; certified {100 * row['certified']:.1f}%, "
              f"held-out {100 * (row['heldout'] or float('nan')):.1f}%", flush=True)
    paired = sum(r["fewer_confidently_wrong"][1] > 0 for r in rows)
    apart = sum(r["intervals_apart"] for r in rows)
    print(f"paired interval above 0 on {paired}/{len(rows)} seeds; Wilson intervals apart on "
          f"{apart}/{len(rows)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"mix": DEMO_MIX.describe(), "seeds": rows},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
