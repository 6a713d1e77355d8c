"""The Dataset shift page's severity slider in a real browser: key press → strip and numbers
updated on screen.

Starts ``streamlit run app.py`` (of this checkout, or of ``--app-root``: another checkout, e.g.
the page before the component, for a before/after) and drives Debian's chromium through
Playwright on one of two sources:

* ``--source digits`` (default): the app's trained digits models (read from ``UQVIZ_CACHE``,
  trained and predicted on every corruption first when missing: many minutes). The strip has
  its eight pictures and captions; the timed text is the sentence "Eight test images at
  severity N; …" (the old page had it too, so ``--app-root`` on the old page times the same).
* ``--source file``: a synthetic predictions file of ``--rows`` rows × 10 classes × 2 methods
  with ``gaussian_noise:1..5`` groups (no images); the timed text is the numbers' caption
  "Whole test set, …" (new page only: the old page showed no numbers without images).

1. **First view**: from the navigation's start to the first animation frame in which the
   timed text is in the page (``performance.timeOrigin``), the server's work (studies,
   severity table, the strip's pictures) and the browser's until it paints.
2. **Slider**: finds the slider by its ARIA role and name, focuses it and presses → five
   times then ← five times, ``--moves`` presses in all (every press changes the severity).
   Each press is timed *inside the page*: from the keydown event's timestamp to the first
   animation frame after the timed text changed (a MutationObserver on the document and the
   components' shadow roots), without Playwright's round trips. Between presses the script
   waits until Streamlit is idle (a commit, or the old slider's rerun, has finished).

Prints median and p95 (target: p95 ≤ 50 ms). Never run by the tests.

Usage: .venv/bin/python benchmarks/bench_shift_browser.py [--source digits|file]
       [--rows 10000] [--moves 40] [--app-root DIR] [--json OUT] [--label new]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, free_port, settle  # noqa: E402

SLIDER = "Severity (0 = clean)"
TEXTS = {"digits": "Eight test images at severity", "file": "Whole test set"}

# Installed once per page: times key press → text changed → next frame, in the page.
PROBE = """(prefix) => {
  if (window.__bench) return;
  const b = window.__bench = {armed: false, start: null, changed: null, painted: null,
                              before: null, observed: new WeakSet()};
  const roots = () => {
    const found = [document];
    for (const host of document.querySelectorAll('[data-testid^="stBidiComponent"]'))
      if (host.shadowRoot) found.push(host.shadowRoot);
    return found;
  };
  b.text = () => {
    for (const r of roots())
      for (const el of r.querySelectorAll('p'))
        if (el.textContent.startsWith(prefix)) return el.textContent;
    return null;
  };
  const check = () => {
    if (b.start === null || b.changed !== null) return;
    const text = b.text();
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
    b.before = b.text(); b.start = null; b.changed = null; b.painted = null; b.armed = true;
  };
  window.addEventListener('keydown', (e) => {
    if (b.armed) { b.start = e.timeStamp; b.armed = false; }
  }, true);
}"""

# Installed before every navigation: on the shift page, the first frame with the text.
FIRST_VIEW = """(() => {
  if (!location.pathname.endsWith('/shift')) return;
  const prefix = '%PREFIX%';
  const found = () => {
    const roots = [document];
    for (const host of document.querySelectorAll('[data-testid^="stBidiComponent"]'))
      if (host.shadowRoot) roots.push(host.shadowRoot);
    for (const r of roots)
      for (const el of r.querySelectorAll('p'))
        if (el.textContent.startsWith(prefix)) return true;
    return false;
  };
  const frame = () => {
    if (found()) window.__firstView = performance.now();
    else requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();"""


def synthetic(n: int, classes: int = 10, seed: int = 0) -> dict:
    """Two methods on the clean rows and on gaussian_noise at severities 1–5, each block of
    ``n`` rows noisier as the severity grows."""
    from uqviz.predictions import Predictions

    rng = np.random.default_rng(seed)
    blocks = [("test", 0.0), *((f"gaussian_noise:{s}", 0.5 * s) for s in range(1, 6))]
    labels = rng.integers(0, classes, (len(blocks), n))
    groups = np.repeat([g for g, _ in blocks], n).astype(object)
    out = {}
    for method, strength in (("sharp", 3.0), ("soft", 1.5)):
        probs = []
        for y, (_, noise) in zip(labels, blocks, strict=True):
            logits = rng.normal(size=(n, classes)) * (1 + noise) + strength * np.eye(classes)[y]
            p = np.exp(logits - logits.max(1, keepdims=True))
            probs.append(p / p.sum(1, keepdims=True))
        out[method] = Predictions(np.concatenate(probs)[None].astype(np.float32), labels.ravel(),
                                  group=groups)
    return out


@contextmanager
def server(root: Path, timeout: float = 120.0):
    """``streamlit run app.py`` of ``root`` on a free local port (as tests/browser.py's
    streamlit_server does for this checkout); yields its URL."""
    port = free_port()
    env = dict(os.environ, UQVIZ_TORCH_THREADS=os.environ.get("UQVIZ_TORCH_THREADS", "1"))
    cmd = [sys.executable, "-m", "streamlit", "run", str(root / "app.py"),
           "--server.port", str(port), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"streamlit did not answer on {url} within {timeout} s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
    parser.add_argument("--source", choices=["digits", "file"], default="digits")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per block (file)")
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--app-root", default=str(ROOT), help="the checkout to serve")
    parser.add_argument("--json", default=None)
    parser.add_argument("--label", default="", help="a name for the run in the table")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from uqviz.exchange import write_predictions

    prefix = TEXTS[args.source]
    query = ""
    if args.source == "file":
        tmp = Path(tempfile.mkdtemp(prefix="uqviz-bench-"))
        path = tmp / "shift.csv"
        write_predictions(synthetic(args.rows), path)
        os.environ["UQVIZ_PREDICTIONS"] = str(path)
        os.environ.setdefault("UQVIZ_CACHE", str(tmp / "cache"))
        query = f"?dataset={quote_plus(f'{path.name} (your predictions)')}"
    latencies, changed = [], []
    with server(Path(args.app_root)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_init_script(FIRST_VIEW.replace("%PREFIX%", prefix))
        page.goto(f"{url}/{query}")  # Home first: the sidebar reads the file
        settle(page, timeout=1800)
        t0 = time.perf_counter()
        page.goto(f"{url}/shift{query}")
        page.get_by_text(prefix).first.wait_for(timeout=1_800_000)
        first_view_wall_s = time.perf_counter() - t0
        page.wait_for_function("window.__firstView !== undefined", timeout=60_000)
        first_view_s = page.evaluate("window.__firstView") / 1000
        settle(page, timeout=600)
        page.evaluate(PROBE, prefix)
        slider = page.get_by_role("slider", name=SLIDER).first
        slider.focus()
        page.keyboard.press("Home")
        _idle(page)
        page.wait_for_timeout(500)
        _idle(page)
        for i in range(args.moves):
            page.evaluate("window.__bench.arm()")
            page.keyboard.press("ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft")
            page.wait_for_function("window.__bench.painted !== null", timeout=60_000)
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
        "label": args.label, "source": args.source,
        "rows_per_block": args.rows if args.source == "file" else None,
        "app_root": str(Path(args.app_root).resolve()),
        "first_view_s": round(first_view_s, 2),
        "first_view_wall_s": round(first_view_wall_s, 2),
        "slider_moves": len(lat_ms),
        "slider_median_ms": round(statistics.median(lat_ms), 1),
        "slider_p95_ms": round(percentile(lat_ms, 0.95), 1),
        "slider_max_ms": round(lat_ms[-1], 1),
        "dom_changed_median_ms": round(statistics.median(changed), 1),
        "date": time.strftime("%Y-%m-%d"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "threads": os.environ.get("UQVIZ_TORCH_THREADS", "1"),
    }
    print("| run | source | first view of Dataset shift | wall | presses | "
          "key → on screen median | p95 | max |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    source = args.source if args.source == "digits" else f"file, {args.rows:,} rows × 6 blocks"
    print(f"| {args.label} | {source} | {first_view_s:.2f} s | {first_view_wall_s:.2f} s | "
          f"{len(lat_ms)} | {result['slider_median_ms']} ms | {result['slider_p95_ms']} ms | "
          f"{result['slider_max_ms']} ms |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
