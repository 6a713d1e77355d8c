"""Cold start of the default: a fresh server and an empty cache, until the Story shows.

Starts ``streamlit run app.py`` with an empty ``UQVIZ_CACHE`` (so nothing is cached: the
shipped weights, or training with ``--no-shipped``, then every prediction), opens the Story
page in Debian's chromium and records, from the moment the server process starts:

* ``server``: the health endpoint answers;
* ``first_chart``: the Story's first chart is on screen (step 1: on a cold start the page
  predicts the clean test rows first, ``uqviz.runs.only_test_rows``);
* ``story``: all six charts are on screen and the script has finished.

Prints the figures (seconds) with the load average at the start (the machine's other work
slows every phase: compare runs at a similar load) and, with ``--json``, writes them. Never run
by the tests.

Usage: .venv/bin/python benchmarks/cold_start.py [--no-shipped] [--runs N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHARTS = '[data-testid="stPlotlyChart"], .js-plotly-plot'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-shipped", action="store_true",
                        help="ignore assets/weights (UQVIZ_SHIPPED_WEIGHTS=0): train")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--runs", type=int, default=1, help="cold starts, one after another")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    label = "training (no shipped weights)" if args.no_shipped else "shipped weights"
    runs = []
    for _ in range(args.runs):
        load = os.getloadavg()[0]
        figures = cold_start(args.no_shipped, args.timeout)
        runs.append({"load": load, **figures})
        print(f"cold start, {label}, load {load:.1f}: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in figures.items()), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"shipped": not args.no_shipped, "runs": runs},
                                              indent=1))
    return 0


def cold_start(no_shipped: bool, timeout: float) -> dict[str, float]:
    """One cold start: seconds from the server's start to each milestone."""
    from playwright.sync_api import sync_playwright

    from tests.browser import streamlit_server

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="uqviz-cold-") as cache:
        env = {"UQVIZ_CACHE": cache, "UQVIZ_SHIPPED_WEIGHTS": "0" if no_shipped else "1"}
        start = time.perf_counter()
        with streamlit_server(120, extra_env=env) as url, sync_playwright() as pw:
            figures["server"] = time.perf_counter() - start
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/story")
            page.locator(CHARTS).first.wait_for(timeout=timeout * 1000)
            figures["first_chart"] = time.perf_counter() - start
            deadline = time.time() + timeout
            while time.time() < deadline:
                done = page.locator('[data-testid="stApp"]').get_attribute(
                    "data-test-script-state") == "notRunning"
                if done and page.locator('[data-testid="stPlotlyChart"]').count() >= 6:
                    break
                time.sleep(0.1)
            figures["story"] = time.perf_counter() - start
            browser.close()
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
