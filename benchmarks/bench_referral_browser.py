"""The referral slider in a real browser, and large predictions files.

Writes a synthetic predictions file of N rows × 10 classes, starts ``streamlit run app.py``
with ``UQVIZ_PREDICTIONS`` pointing at it, opens the Referral page in Debian's chromium and
moves the threshold slider with the keyboard ``--moves`` times. For each move it measures the
time from the key press to the moment the numbers on screen change (the live line naming the
threshold and the count referred).
Prints median and p95 (target at N = 10,000: p95 under 200 ms), plus the time to read the
file and to build the page's first view. Never run by the tests.

Usage: .venv/bin/python benchmarks/bench_referral_browser.py [--rows 10000] [--moves 20]
       [--format csv|parquet] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, settle, streamlit_server  # noqa: E402
from uqviz.exchange import read_predictions, write_predictions  # noqa: E402
from uqviz.predictions import Predictions  # noqa: E402


def synthetic(n: int, classes: int = 10, seed: int = 0) -> dict[str, Predictions]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    strength = rng.gamma(2.0, 1.5, size=(n, 1))
    logits = rng.normal(size=(n, classes)) + strength * np.eye(classes)[labels]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return {"model": Predictions(probs.astype(np.float32), labels)}


def referred_text(page) -> str:
    """The live line under the numbers: it names the threshold (4 decimals) and the count
    referred, so it changes on every slider step."""
    return page.get_by_text("95% Wilson intervals").first.inner_text()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="uqviz-bench-"))
    path = tmp / f"bench.{args.format}"
    write_predictions(synthetic(args.rows), path)
    t0 = time.perf_counter()
    read_predictions(path)
    read_s = time.perf_counter() - t0

    os.environ["UQVIZ_PREDICTIONS"] = str(path)
    os.environ.setdefault("UQVIZ_CACHE", str(tmp / "cache"))
    latencies = []
    with streamlit_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        # selectboxes bind their label to the URL (as a copied link carries it)
        label = quote_plus(f"{path.name} (your predictions)")
        page.goto(f"{url}/referral?dataset={label}")
        settle(page, timeout=600)
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=600_000)
        first_view_s = time.perf_counter() - t0
        chips = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
        if "Softmax" in chips.inner_text() or "model" not in chips.inner_text():
            raise RuntimeError(f"the link did not select {path.name}: {chips.inner_text()}")
        slider = page.locator('[data-testid="stSlider"] input[type="range"]').first
        slider.focus()
        for _ in range(args.moves):
            before = referred_text(page)
            start = time.perf_counter()
            page.keyboard.press("ArrowLeft")
            deadline = start + 10
            while referred_text(page) == before and time.perf_counter() < deadline:
                page.wait_for_timeout(5)
            latencies.append(time.perf_counter() - start)
            page.wait_for_timeout(150)
            slider.focus()
        browser.close()
    lat_ms = sorted(1000 * x for x in latencies)
    p95 = lat_ms[min(len(lat_ms) - 1, int(round(0.95 * (len(lat_ms) - 1))))]
    result = {
        "rows": args.rows, "classes": 10, "format": args.format,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "read_predictions_s": round(read_s, 3),
        "referral_first_view_s": round(first_view_s, 2),
        "slider_moves": len(lat_ms),
        "slider_median_ms": round(statistics.median(lat_ms), 1),
        "slider_p95_ms": round(p95, 1),
        "slider_max_ms": round(lat_ms[-1], 1),
        "date": time.strftime("%Y-%m-%d"),
        "threads": os.environ.get("UQVIZ_TORCH_THREADS", "1"),
    }
    print("| rows | file | read | first view of Referral | slider median | slider p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {args.rows:,} | {result['file_mb']} MB {args.format} | {read_s:.2f} s | "
          f"{first_view_s:.1f} s | {result['slider_median_ms']} ms | "
          f"{result['slider_p95_ms']} ms |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
