"""The Conformal page's α slider in the browser, on a large predictions file.

Writes a synthetic predictions file of N rows × 10 classes (``bench_referral_browser.synthetic``)
and measures:

1. **The payload** (in this process, one thread): the time to compute what the component is
   sent for one setting of the page — one split at each of the slider's 50 levels
   (``ConformalSplit.levels`` of ``Study.conformal_split``: the split and its scores), the
   coverage averaged over ``number_of_draws`` splits (``Study.average_coverage``, which the
   page computed before the component too) and the base64 arrays — for LAC, randomized APS
   and RAPS; and its size as JSON.
2. **First view**: from the navigation's start to the first animation frame in which the
   component's caption ("This split: coverage …") is in the page.
3. **Slider**: focuses the α slider by its ARIA role and presses → (←, back from the top)
   ``--moves`` times, each timed *inside the page* from the keydown's timestamp to the first
   frame after the caption changed (``browser_timing.time_press``), i.e. key press →
   numbers on screen. Between presses the script waits past the commit (300 ms) until
   Streamlit is idle.

Prints median and p95 (target: p95 ≤ 50 ms). Never run by the tests.

Usage: .venv/bin/python benchmarks/bench_conformal_browser.py [--rows 100000] [--moves 60]
       [--json OUT] [--label after]
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

from benchmarks import browser_timing as timing  # noqa: E402
from benchmarks.bench_referral_browser import synthetic  # noqa: E402
from tests.browser import settle, streamlit_server  # noqa: E402
from uqviz.exchange import read_predictions, write_predictions  # noqa: E402

CAPTION = timing.TimedText('p, [role="status"]', "This split: coverage")
SLIDER = "α: allowed miss rate (target coverage 1 − α)"
SETTINGS = {"lac": dict(score="lac", randomized=True, lam=0.1, k_reg=1),
            "aps": dict(score="aps", randomized=True, lam=0.1, k_reg=1),
            "raps": dict(score="raps", randomized=True, lam=0.1, k_reg=1)}


def payload_times(path: Path) -> dict:
    """Seconds to build the component's data for each score, at the page's default split (50%
    calibrate, seed 0), on a fresh study each time (nothing cached)."""
    from uqviz.conformal import AVERAGE_ALPHAS, SLIDER_ALPHAS, number_of_draws
    from uqviz.sources import FileSource
    from uqviz.study import Study
    from uqviz.ui.components.conformal_alpha import build_payload

    source = FileSource.from_path(path, read_predictions(path))
    out = {}
    for name, settings in SETTINGS.items():
        study = Study(source.predictions(["model"])["model"])
        _ = study.mean_probs  # the rows' probabilities: the page has them before the slider
        settings = dict(settings, cal_fraction=0.5)
        n_draws = number_of_draws(study.n, study.rows.num_classes)
        t0 = time.perf_counter()
        levels = study.conformal_split(seed=0, **settings).levels(SLIDER_ALPHAS)
        t1 = time.perf_counter()
        average = study.average_coverage(AVERAGE_ALPHAS, n_draws, **settings)
        t2 = time.perf_counter()
        payload = build_payload(levels, average, study.rows.names)
        t3 = time.perf_counter()
        out[name] = {"rows": study.n, "levels_ms": round(1000 * (t1 - t0), 1),
                     "average_ms": round(1000 * (t2 - t1), 1), "n_draws": n_draws,
                     "encode_ms": round(1000 * (t3 - t2), 1),
                     "total_ms": round(1000 * (t3 - t0), 1),
                     "json_kb": round(len(json.dumps(payload)) / 1024, 1)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--json", default=None)
    parser.add_argument("--label", default="", help="a name for the run in the table")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="uqviz-bench-"))
    path = tmp / "bench.csv"
    write_predictions(synthetic(args.rows), path)
    payload = payload_times(path)

    timing.serve_predictions_file(path, tmp / "cache")
    presses = []
    query = timing.dataset_query(path)
    with (streamlit_server() as url,
          timing.chromium_page(timing.first_view_script("/conformal", CAPTION)) as page):
        page.goto(f"{url}/?{query}")
        settle(page, timeout=600)
        first_view_s, first_view_wall_s = timing.first_view(
            page, f"{url}/conformal?{query}", CAPTION, timeout_ms=600_000)
        settle(page, timeout=600)
        timing.install_probe(page, CAPTION)
        slider = page.get_by_role("slider", name=SLIDER)
        slider.focus()
        key = "ArrowRight"
        for _ in range(args.moves):
            alpha = float(slider.input_value())
            if alpha >= 0.5:
                key = "ArrowLeft"
            elif alpha <= 0.01:
                key = "ArrowRight"
            presses.append(timing.time_press(page, key))
            # past the commit: the fragment's rerun starts
            timing.between_presses(page, slider, commit_wait_ms=400, pause_ms=0)
    result = {
        "label": args.label, "rows": args.rows, "classes": 10,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "payload": payload,
        "conformal_first_view_s": round(first_view_s, 2),
        "conformal_first_view_wall_s": round(first_view_wall_s, 2),
        **timing.slider_figures(presses),
        **timing.run_facts(),
        "threads": os.environ.get("UQVIZ_TORCH_THREADS", "1"),
    }
    print(timing.markdown_table(
        ["score", "scored rows", "50 levels", "average (splits)", "encode", "total", "JSON"],
        [[name, f"{t['rows']:,}", f"{t['levels_ms']} ms", f"{t['average_ms']} ms ({t['n_draws']})",
          f"{t['encode_ms']} ms", f"{t['total_ms']} ms", f"{t['json_kb']} kB"]
         for name, t in payload.items()]))
    print()
    print(timing.markdown_table(
        ["run", "rows", "first view of Conformal", "wall", "slider median", "slider p95", "max"],
        [[args.label, f"{args.rows:,}", f"{first_view_s:.2f} s", f"{first_view_wall_s:.2f} s",
          f"{result['slider_median_ms']} ms", f"{result['slider_p95_ms']} ms",
          f"{result['slider_max_ms']} ms"]]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
