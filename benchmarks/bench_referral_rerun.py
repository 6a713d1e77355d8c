"""Server-side work of one referral slider move, measured under Streamlit's AppTest.

Writes a synthetic predictions file (N rows × 10 classes, one method), opens the Referral page
on it through ``app.py``'s frame, then moves the budget slider ``--moves`` times. For each move
it times the script rerun and counts how often the expensive derived arrays are
computed: ``Predictions.predicted`` / ``mean_probs`` (an (S, N, C) mean), and ``np.argsort``
(a sort of N scores). Prints the median and p90 rerun time and the counts per move. Never run
by the tests; figures go to benchmarks/RESULTS.md.

Usage: .venv/bin/python benchmarks/bench_referral_rerun.py [--rows 10000] [--moves 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from benchmarks.bench_referral_browser import synthetic  # noqa: E402

COUNTED = ("predicted", "mean_probs", "argsort")
CALLS = dict.fromkeys(COUNTED, 0)


def _count_calls() -> None:
    """Wrap ``Predictions.predicted`` / ``mean_probs`` and ``np.argsort`` with counters (the
    script runs in AppTest's thread, out of a profiler's reach)."""
    import numpy as np

    from uqviz.predictions import Predictions

    for name in ("predicted", "mean_probs"):
        attr = Predictions.__dict__[name]
        getter = attr.func if hasattr(attr, "func") else attr.fget

        def counted(self, _get=getter, _name=name):
            CALLS[_name] += 1
            return _get(self)

        setattr(Predictions, name, property(counted))
    argsort = np.argsort

    def counted_argsort(*a, **k):
        CALLS["argsort"] += 1
        return argsort(*a, **k)

    np.argsort = counted_argsort


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--dataset", default=None,
                        help="a trained dataset (e.g. digits) instead of a synthetic file")
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    from uqviz.exchange import write_predictions
    from uqviz.ui.files import env_dataset_name

    _count_calls()
    tmp = Path(tempfile.mkdtemp(prefix="uqviz-bench-"))
    path = tmp / f"bench_{args.rows}.parquet"
    write_predictions(synthetic(args.rows), path)
    os.environ["UQVIZ_PREDICTIONS"] = str(path)
    os.environ.setdefault("UQVIZ_CACHE", str(tmp / "cache"))
    dataset = args.dataset or env_dataset_name(path)

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["dataset"] = dataset
    at.session_state["ref_mode"] = "budget"
    at.run()
    started = time.perf_counter()
    at.switch_page("pages/referral.py").run()
    first = time.perf_counter() - started
    if at.exception or at.error:
        print(at.exception or [e.value for e in at.error])
        return 1
    print("on screen:", [m.value for m in at.metric])
    times, counts = [], []
    for k in range(args.moves):
        slider = at.slider(key="ref_budget")
        slider.set_value(5.0 + k)
        before = dict(CALLS)
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
        counts.append({k: CALLS[k] - before[k] for k in COUNTED})
        if at.exception:
            print(at.exception)
            return 1
    times_ms = sorted(1000 * t for t in times)
    p90 = times_ms[min(len(times_ms) - 1, int(0.9 * len(times_ms)))]
    what = args.dataset or f"rows {args.rows:,}"
    print(f"{what}: first view {first:.2f} s; rerun per slider move median "
          f"{statistics.median(times_ms):.0f} ms, p90 {p90:.0f} ms ({args.moves} moves)")
    per_move = {k: statistics.median(c[k] for c in counts) for k in COUNTED}
    print("calls per move (median): " + ", ".join(f"{k} {v:g}" for k, v in per_move.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
