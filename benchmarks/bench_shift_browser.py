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
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import browser_timing as timing  # noqa: E402
from tests.browser import settle, streamlit_server  # noqa: E402

SLIDER = "Severity (0 = clean)"
TEXTS = {"digits": timing.TimedText("p", "Eight test images at severity"),
         "file": timing.TimedText("p", "Whole test set")}


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["digits", "file"], default="digits")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per block (file)")
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--app-root", default=str(ROOT), help="the checkout to serve")
    parser.add_argument("--json", default=None)
    parser.add_argument("--label", default="", help="a name for the run in the table")
    args = parser.parse_args()

    from uqviz.exchange import write_predictions

    timed = TEXTS[args.source]
    query = ""
    if args.source == "file":
        tmp = Path(tempfile.mkdtemp(prefix="uqviz-bench-"))
        path = tmp / "shift.csv"
        write_predictions(synthetic(args.rows), path)
        timing.serve_predictions_file(path, tmp / "cache")
        query = f"?{timing.dataset_query(path)}"
    presses = []
    threads = {"UQVIZ_TORCH_THREADS": os.environ.get("UQVIZ_TORCH_THREADS", "1")}
    with (streamlit_server(120.0, app_root=Path(args.app_root), extra_env=threads) as url,
          timing.chromium_page(timing.first_view_script("/shift", timed)) as page):
        page.goto(f"{url}/{query}")  # Home first: the sidebar reads the file
        settle(page, timeout=1800)
        first_view_s, first_view_wall_s = timing.first_view(
            page, f"{url}/shift{query}", timed, timeout_ms=1_800_000)
        settle(page, timeout=600)
        timing.install_probe(page, timed)
        slider = page.get_by_role("slider", name=SLIDER).first
        slider.focus()
        page.keyboard.press("Home")
        timing.idle(page)
        page.wait_for_timeout(500)
        timing.idle(page)
        for i in range(args.moves):
            key = "ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft"
            presses.append(timing.time_press(page, key, timeout_ms=60_000))
            timing.between_presses(page, slider)
    result = {
        "label": args.label, "source": args.source,
        "rows_per_block": args.rows if args.source == "file" else None,
        "app_root": str(Path(args.app_root).resolve()),
        "first_view_s": round(first_view_s, 2),
        "first_view_wall_s": round(first_view_wall_s, 2),
        **timing.slider_figures(presses),
        **timing.run_facts(),
        "threads": os.environ.get("UQVIZ_TORCH_THREADS", "1"),
    }
    source = args.source if args.source == "digits" else f"file, {args.rows:,} rows × 6 blocks"
    print(timing.markdown_table(
        ["run", "source", "first view of Dataset shift", "wall", "presses",
         "key → on screen median", "p95", "max"],
        [[args.label, source, f"{first_view_s:.2f} s", f"{first_view_wall_s:.2f} s",
          str(result["slider_moves"]), f"{result['slider_median_ms']} ms",
          f"{result['slider_p95_ms']} ms", f"{result['slider_max_ms']} ms"]]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
