"""The referral slider in a real browser, and large predictions files.

Writes a synthetic predictions file of N rows × 10 classes, starts ``streamlit run app.py``
with ``UQVIZ_PREDICTIONS`` pointing at it and drives Debian's chromium through Playwright:

1. **First view**: opens Home with the file chosen (the sidebar reads the file), then the
   Referral page: the time from the navigation's start to the first animation frame in which
   the numbers' caption ("95% Wilson intervals …") is in the page (a check on every frame,
   in the page, from ``performance.timeOrigin``), i.e. the page's own work after the file is
   read (scores, the one sort, the workbench's data) and the browser's until it paints the
   numbers. Also the wall time of ``goto`` until Playwright sees the caption, which adds
   Playwright's polling and waits while the main thread runs a long task (Plotly's bundle).
2. **Slider**: finds the slider by its ARIA role (``get_by_role("slider")``), focuses it and
   presses ← ``--moves`` times. Each press is timed *inside the page*: from the keydown
   event's timestamp to the first animation frame after the caption's text changed (a
   MutationObserver on the document and on the components' shadow roots), so the figure is
   key press → numbers updated on screen, without Playwright's round trips. Between presses
   the script waits until Streamlit is idle.

Prints median and p95 (targets: p95 ≤ 50 ms at 10k rows, ≤ 100 ms at 1M rows; first view
of Referral at 1M rows ≤ 3 s after the file is read). Never run by the tests.

Usage: .venv/bin/python benchmarks/bench_referral_browser.py [--rows 10000] [--moves 60]
       [--format csv|parquet] [--json OUT] [--label before]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import browser_timing as timing  # noqa: E402
from tests.browser import settle, streamlit_server  # noqa: E402
from uqviz.exchange import read_predictions, write_predictions  # noqa: E402
from uqviz.predictions import Predictions  # noqa: E402

CAPTION = timing.TimedText('p, [role="status"]', "95% Wilson intervals")


def synthetic(n: int, classes: int = 10, seed: int = 0) -> dict[str, Predictions]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    strength = rng.gamma(2.0, 1.5, size=(n, 1))
    logits = rng.normal(size=(n, classes)) + strength * np.eye(classes)[labels]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return {"model": Predictions(probs.astype(np.float32), labels)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--json", default=None)
    parser.add_argument("--label", default="", help="a name for the run in the table")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="uqviz-bench-"))
    path = tmp / f"bench.{args.format}"
    write_predictions(synthetic(args.rows), path)
    t0 = time.perf_counter()
    read_predictions(path)
    read_s = time.perf_counter() - t0

    timing.serve_predictions_file(path, tmp / "cache")
    presses = []
    query = timing.dataset_query(path)
    with (streamlit_server() as url,
          timing.chromium_page(timing.first_view_script("/referral", CAPTION)) as page):
        t0 = time.perf_counter()
        page.goto(f"{url}/?{query}")
        settle(page, timeout=600)
        home_s = time.perf_counter() - t0
        chips = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
        if "Softmax" in chips.inner_text() or "model" not in chips.inner_text():
            raise RuntimeError(f"the link did not select {path.name}: {chips.inner_text()}")
        first_view_s, first_view_wall_s = timing.first_view(
            page, f"{url}/referral?{query}", CAPTION, timeout_ms=600_000)
        settle(page, timeout=600)
        timing.install_probe(page, CAPTION)
        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(args.moves):
            presses.append(timing.time_press(page, "ArrowLeft"))
            timing.between_presses(page, slider)
    result = {
        "label": args.label, "rows": args.rows, "classes": 10, "format": args.format,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "read_predictions_s": round(read_s, 3),
        "home_with_file_s": round(home_s, 2),
        "referral_first_view_s": round(first_view_s, 2),
        "referral_first_view_wall_s": round(first_view_wall_s, 2),
        **timing.slider_figures(presses),
        **timing.run_facts(),
        "threads": os.environ.get("UQVIZ_TORCH_THREADS", "1"),
    }
    print(timing.markdown_table(
        ["run", "rows", "file", "read", "first view of Referral (after read)", "wall",
         "slider median", "slider p95"],
        [[args.label, f"{args.rows:,}", f"{result['file_mb']} MB {args.format}",
          f"{read_s:.2f} s", f"{first_view_s:.2f} s", f"{first_view_wall_s:.2f} s",
          f"{result['slider_median_ms']} ms", f"{result['slider_p95_ms']} ms"]]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
