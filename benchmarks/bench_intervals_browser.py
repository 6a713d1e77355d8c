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
from uqviz.exchange import write_predictions  # noqa: E402
from uqviz.predictions import Predictions  # noqa: E402

SLIDER = "Test rows used (a seeded random subsample)"

# Installed once per page: times key press → caption changed → next frame, in the page.
PROBE = """() => {
  if (window.__bench) return;
  const b = window.__bench = {armed: false, start: null, changed: null, painted: null,
                              before: null, observed: new WeakSet()};
  const roots = () => {
    const found = [document];
    for (const host of document.querySelectorAll('[data-testid^="stBidiComponent"]'))
      if (host.shadowRoot) found.push(host.shadowRoot);
    return found;
  };
  b.caption = () => {
    for (const r of roots()) {
      const el = r.querySelector('.cis-caption');
      if (el) return el.textContent;
    }
    return null;
  };
  const check = () => {
    if (b.start === null || b.changed !== null) return;
    const text = b.caption();
    if (text === null || text === b.before) return;
    b.changed = performance.now();
    requestAnimationFrame(() => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => { b.painted = performance.now(); };
      ch.port2.postMessage(0);
    });
  };
  const mo = new MutationObserver(check);
  const opts = {subtree: true, childList: true, characterData: true, attributes: false};
  b.arm = () => {
    for (const r of roots()) {
      if (!b.observed.has(r)) { mo.observe(r === document ? document.body : r, opts);
                                b.observed.add(r); }
    }
    b.before = b.caption(); b.start = null; b.changed = null; b.painted = null; b.armed = true;
  };
  window.addEventListener('keydown', (e) => {
    if (b.armed) { b.start = e.timeStamp; b.armed = false; }
  }, true);
}"""


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


def _idle(page, timeout_s: float = 60.0) -> None:
    """Until no script run is in progress (a pause may have committed and rerun)."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
        if state != "running" and page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        page.wait_for_timeout(20)


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


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

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="uqviz-bench-"))
    path = tmp / "bench.npz"
    write_predictions(synthetic(args.rows, args.methods), path)
    os.environ["UQVIZ_PREDICTIONS"] = str(path)
    os.environ.setdefault("UQVIZ_CACHE", str(tmp / "cache"))
    latencies, changed = [], []
    with streamlit_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        query = f"dataset={quote_plus(f'{path.name} (your predictions)')}"
        page.goto(f"{url}/?{query}")
        settle(page, timeout=600)
        t0 = time.perf_counter()
        start = "" if args.start == "end" else "&ci_rows=20"
        page.goto(f"{url}/intervals?{query}{start}")
        page.locator('.cis[data-ready="true"]').wait_for(timeout=600_000)
        first_view_s = time.perf_counter() - t0
        settle(page, timeout=600)
        resolution = page.locator(".cis-resolution").inner_text()
        page.evaluate(PROBE)
        slider = page.get_by_role("slider", name=SLIDER)
        slider.focus()
        key = "ArrowLeft" if args.start == "end" else "ArrowRight"
        for _ in range(args.moves):
            page.evaluate("window.__bench.arm()")
            page.keyboard.press(key)
            page.wait_for_function("window.__bench.painted !== null", timeout=30_000)
            times = page.evaluate("[window.__bench.start, window.__bench.changed, "
                                  "window.__bench.painted]")
            latencies.append(times[2] - times[0])
            changed.append(times[1] - times[0])
            _idle(page)
            page.wait_for_timeout(50)
            if not slider.evaluate("e => e.getRootNode().activeElement === e"):
                slider.focus()
        browser.close()
    lat_ms = sorted(latencies)
    result = {
        "label": args.label, "rows": args.rows, "methods": args.methods, "from": args.start,
        "resolution": resolution,
        "intervals_first_view_wall_s": round(first_view_s, 2),
        "slider_moves": len(lat_ms),
        "slider_median_ms": round(statistics.median(lat_ms), 1),
        "slider_p95_ms": round(percentile(lat_ms, 0.95), 1),
        "slider_max_ms": round(lat_ms[-1], 1),
        "dom_changed_median_ms": round(statistics.median(changed), 1),
        "date": time.strftime("%Y-%m-%d"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print("| run | rows | methods | from | first view (wall) | slider median | slider p95 | "
          "max |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {args.label} | {args.rows:,} | {args.methods} | {args.start} | "
          f"{first_view_s:.2f} s | {result['slider_median_ms']} ms | "
          f"{result['slider_p95_ms']} ms | {result['slider_max_ms']} ms |")
    print(resolution)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
