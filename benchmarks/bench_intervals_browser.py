"""The Confidence intervals page's subsample slider in a real browser.

Writes a synthetic predictions file of N rows × 10 classes and ``--methods`` methods, starts
``streamlit run app.py`` with ``UQVIZ_PREDICTIONS`` pointing at it and drives Debian's
chromium through Playwright:

1. **First view**: opens Home with the file chosen, then the Confidence intervals page: the
   wall time of ``goto`` until the component says it is ready (``.cis[data-ready]``).
2. **Slider**: finds the slider by its ARIA role, focuses it and presses ← (or →)
   ``--moves`` times. Each press is timed *inside the page*: from the keydown event's
   timestamp to the first animation frame after the caption's text changed (a
   MutationObserver on the component's shadow root), so the figure is key press → numbers
   (accuracy, Wald, Wilson and exact bootstrap of every method, chart, table, warnings)
   updated on screen, without Playwright's round trips. Between presses the script waits
   until Streamlit is idle (a pause commits the size: a fragment rerun for the widths chart).

Prints median and p95 (target: p95 ≤ 50 ms). Never run by the tests.

Usage: .venv/bin/python benchmarks/bench_intervals_browser.py [--rows 10000] [--methods 3]
       [--moves 60] [--from end|start] [--json OUT] [--label before]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import browser_timing as timing  # noqa: E402
from tests.browser import settle, streamlit_server  # noqa: E402
from uqviz.exchange import write_predictions  # noqa: E402
from uqviz.predictions import Predictions  # noqa: E402

SLIDER = "Test rows used (a seeded random subsample)"
CAPTION = timing.TimedText(".cis-caption")


def synthetic(n: int, methods: int, classes: int = 10, seed: int = 0) -> dict[str, Predictions]:
    """``methods`` methods of different sharpness on the same labels (accuracies about
    70–95%)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    out = {}
    for m in range(methods):
        strength = rng.gamma(1.0 + m, 1.5, size=(n, 1))
        logits = rng.normal(size=(n, classes)) + strength * np.eye(classes)[labels]
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        out[f"model{m + 1}"] = Predictions(probs.astype(np.float32), labels)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--methods", type=int, default=3)
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--from", dest="start", choices=["end", "start"], default="end",
                        help="press ← from all rows (end) or → from 20 rows (start)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--label", default="", help="a name for the run in the table")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="uqviz-bench-"))
    path = tmp / "bench.npz"
    write_predictions(synthetic(args.rows, args.methods), path)
    timing.serve_predictions_file(path, tmp / "cache")
    presses = []
    query = timing.dataset_query(path)
    with streamlit_server() as url, timing.chromium_page() as page:
        page.goto(f"{url}/?{query}")
        settle(page, timeout=600)
        t0 = time.perf_counter()
        start = "" if args.start == "end" else "&ci_rows=20"
        page.goto(f"{url}/intervals?{query}{start}")
        page.locator('.cis[data-ready="true"]').wait_for(timeout=600_000)
        first_view_s = time.perf_counter() - t0
        settle(page, timeout=600)
        resolution = page.locator(".cis-resolution").inner_text()
        timing.install_probe(page, CAPTION)
        slider = page.get_by_role("slider", name=SLIDER)
        slider.focus()
        key = "ArrowLeft" if args.start == "end" else "ArrowRight"
        for _ in range(args.moves):
            presses.append(timing.time_press(page, key))
            timing.between_presses(page, slider)
    result = {
        "label": args.label, "rows": args.rows, "methods": args.methods, "from": args.start,
        "resolution": resolution,
        "intervals_first_view_wall_s": round(first_view_s, 2),
        **timing.slider_figures(presses),
        **timing.run_facts(),
    }
    print(timing.markdown_table(
        ["run", "rows", "methods", "from", "first view (wall)", "slider median", "slider p95",
         "max"],
        [[args.label, f"{args.rows:,}", str(args.methods), args.start, f"{first_view_s:.2f} s",
          f"{result['slider_median_ms']} ms", f"{result['slider_p95_ms']} ms",
          f"{result['slider_max_ms']} ms"]]))
    print(resolution)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
