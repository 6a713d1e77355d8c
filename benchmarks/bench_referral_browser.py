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

CAPTION = "95% Wilson intervals"

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
    for (const r of roots())
      for (const el of r.querySelectorAll('p, [role="status"]'))
        if (el.textContent.startsWith('%CAPTION%')) return el.textContent;
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
}""".replace("%CAPTION%", CAPTION)


# Installed before every navigation: on the Referral page, the first frame with the caption.
FIRST_VIEW = """(() => {
  if (!location.pathname.endsWith('/referral')) return;
  const found = () => {
    const roots = [document];
    for (const host of document.querySelectorAll('[data-testid^="stBidiComponent"]'))
      if (host.shadowRoot) roots.push(host.shadowRoot);
    for (const r of roots)
      for (const el of r.querySelectorAll('p, [role="status"]'))
        if (el.textContent.startsWith('%CAPTION%')) return true;
    return false;
  };
  const frame = () => {
    if (found()) window.__firstView = performance.now();
    else requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();""".replace("%CAPTION%", CAPTION)


def synthetic(n: int, classes: int = 10, seed: int = 0) -> dict[str, Predictions]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    strength = rng.gamma(2.0, 1.5, size=(n, 1))
    logits = rng.normal(size=(n, classes)) + strength * np.eye(classes)[labels]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return {"model": Predictions(probs.astype(np.float32), labels)}


def _idle(page, timeout_s: float = 60.0) -> None:
    """Until no script run is in progress (a press may have started a rerun)."""
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
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--json", default=None)
    parser.add_argument("--label", default="", help="a name for the run in the table")
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
    latencies, changed = [], []
    with streamlit_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_init_script(FIRST_VIEW)
        # selectboxes bind their label to the URL (as a copied link carries it)
        query = f"dataset={quote_plus(f'{path.name} (your predictions)')}"
        t0 = time.perf_counter()
        page.goto(f"{url}/?{query}")
        settle(page, timeout=600)
        home_s = time.perf_counter() - t0
        chips = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
        if "Softmax" in chips.inner_text() or "model" not in chips.inner_text():
            raise RuntimeError(f"the link did not select {path.name}: {chips.inner_text()}")
        t0 = time.perf_counter()
        page.goto(f"{url}/referral?{query}")
        page.get_by_text(CAPTION).first.wait_for(timeout=600_000)
        first_view_wall_s = time.perf_counter() - t0
        page.wait_for_function("window.__firstView !== undefined", timeout=60_000)
        first_view_s = page.evaluate("window.__firstView") / 1000
        settle(page, timeout=600)
        page.evaluate(PROBE)
        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(args.moves):
            page.evaluate("window.__bench.arm()")
            page.keyboard.press("ArrowLeft")
            page.wait_for_function("window.__bench.painted !== null", timeout=30_000)
            times = page.evaluate("[window.__bench.start, window.__bench.changed, "
                                  "window.__bench.painted]")
            latencies.append(times[2] - times[0])
            changed.append(times[1] - times[0])
            _idle(page)
            page.wait_for_timeout(50)
            if not slider.evaluate("e => e === document.activeElement || "
                                   "e.getRootNode().activeElement === e"):
                slider.focus()
        browser.close()
    lat_ms = sorted(latencies)
    result = {
        "label": args.label, "rows": args.rows, "classes": 10, "format": args.format,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "read_predictions_s": round(read_s, 3),
        "home_with_file_s": round(home_s, 2),
        "referral_first_view_s": round(first_view_s, 2),
        "referral_first_view_wall_s": round(first_view_wall_s, 2),
        "slider_moves": len(lat_ms),
        "slider_median_ms": round(statistics.median(lat_ms), 1),
        "slider_p95_ms": round(percentile(lat_ms, 0.95), 1),
        "slider_max_ms": round(lat_ms[-1], 1),
        "dom_changed_median_ms": round(statistics.median(changed), 1),
        "date": time.strftime("%Y-%m-%d"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "threads": os.environ.get("UQVIZ_TORCH_THREADS", "1"),
    }
    print("| run | rows | file | read | first view of Referral (after read) | wall | "
          "slider median | slider p95 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {args.label} | {args.rows:,} | {result['file_mb']} MB {args.format} | "
          f"{read_s:.2f} s | {first_view_s:.2f} s | {first_view_wall_s:.2f} s | "
          f"{result['slider_median_ms']} ms | {result['slider_p95_ms']} ms |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
