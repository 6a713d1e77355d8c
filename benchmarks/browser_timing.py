"""What the browser benchmarks share: a key press timed inside the page, a page's first view,
Streamlit's idle state, the slider's figures and their Markdown table.

Definitions:

* **Timed text**: the first element matching a CSS ``selector`` whose text starts with
  ``prefix``, in the document or in a Custom Component's shadow root (``TimedText``).
* **Key press → on screen**: from the keydown event's timestamp to the first animation frame
  after the timed text changed (a MutationObserver on the document and on the components'
  shadow roots; the frame is taken as the message after the next ``requestAnimationFrame``),
  measured *inside the page*, without Playwright's round trips (``time_press``).
* **First view**: from the navigation's start (``performance.timeOrigin``) to the first
  animation frame in which the timed text is in the page (``first_view``), and the wall time
  of ``goto`` until Playwright sees it.
* **p95**: the value at rank ``round(0.95 · (n − 1))`` of the sorted values (``percentile``).

Used by bench_referral_browser.py, bench_conformal_browser.py, bench_intervals_browser.py and
bench_shift_browser.py; never run by the tests.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

from tests.browser import CHROMIUM, CHROMIUM_ARGS

VIEWPORT = {"width": 1400, "height": 1000}


@dataclass(frozen=True)
class TimedText:
    """The text a benchmark times: the first element matching ``selector`` (in the document
    or a component's shadow root) whose text starts with ``prefix`` ("" takes the first)."""

    selector: str
    prefix: str = ""


@dataclass(frozen=True)
class Press:
    """One key press, timed in the page from the keydown event's timestamp: ``changed_ms`` to
    the DOM change of the timed text, ``on_screen_ms`` to the first frame after it."""

    on_screen_ms: float
    changed_ms: float


# Installed once per page (page.evaluate(PROBE, {selector, prefix})): times key press → timed
# text changed → next frame, in the page.
PROBE = """({selector, prefix}) => {
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
      for (const el of r.querySelectorAll(selector))
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

# Installed before every navigation (first_view_script): on the page whose path ends with
# %PATH%, the first frame with the timed text.
_FIRST_VIEW = """(() => {
  if (!location.pathname.endsWith(%PATH%)) return;
  const selector = %SELECTOR%;
  const prefix = %PREFIX%;
  const found = () => {
    const roots = [document];
    for (const host of document.querySelectorAll('[data-testid^="stBidiComponent"]'))
      if (host.shadowRoot) roots.push(host.shadowRoot);
    for (const r of roots)
      for (const el of r.querySelectorAll(selector))
        if (el.textContent.startsWith(prefix)) return true;
    return false;
  };
  const frame = () => {
    if (found()) window.__firstView = performance.now();
    else requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();"""


def first_view_script(page_path: str, timed: TimedText) -> str:
    """The init script that records, on the page whose path ends with ``page_path`` (e.g.
    ``/referral``), the first frame with ``timed`` in ``window.__firstView``."""
    return (_FIRST_VIEW.replace("%PATH%", json.dumps(page_path))
            .replace("%SELECTOR%", json.dumps(timed.selector))
            .replace("%PREFIX%", json.dumps(timed.prefix)))


def dataset_query(path: Path) -> str:
    """The query that selects a predictions file in the sidebar (selectboxes bind their label
    to the URL, as a copied link carries it)."""
    return f"dataset={quote_plus(f'{path.name} (your predictions)')}"


def serve_predictions_file(path: Path, cache: Path) -> None:
    """Point the server to start at ``path`` (``UQVIZ_PREDICTIONS``); ``cache`` unless a
    ``UQVIZ_CACHE`` is set."""
    os.environ["UQVIZ_PREDICTIONS"] = str(path)
    os.environ.setdefault("UQVIZ_CACHE", str(cache))


@contextmanager
def chromium_page(init_script: str | None = None) -> Iterator:
    """A page of Debian's headless chromium (1400 × 1000), with ``init_script`` installed
    before every navigation."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        if init_script is not None:
            page.add_init_script(init_script)
        yield page
        browser.close()


def first_view(page, url: str, timed: TimedText, timeout_ms: float) -> tuple[float, float]:
    """Open ``url`` (whose page has ``first_view_script`` installed for ``timed``); returns
    (seconds from the navigation's start to the first frame with the text, in the page;
    the wall seconds of ``goto`` until Playwright sees the text)."""
    t0 = time.perf_counter()
    page.goto(url)
    page.get_by_text(timed.prefix).first.wait_for(timeout=timeout_ms)
    wall_s = time.perf_counter() - t0
    page.wait_for_function("window.__firstView !== undefined", timeout=60_000)
    return page.evaluate("window.__firstView") / 1000, wall_s


def install_probe(page, timed: TimedText) -> None:
    """Install ``PROBE`` for ``timed`` on the open page."""
    page.evaluate(PROBE, {"selector": timed.selector, "prefix": timed.prefix})


def time_press(page, key: str, timeout_ms: float = 30_000) -> Press:
    """Press ``key`` on the focused element and time it in the page (``install_probe`` first)."""
    page.evaluate("window.__bench.arm()")
    page.keyboard.press(key)
    page.wait_for_function("window.__bench.painted !== null", timeout=timeout_ms)
    start, changed, painted = page.evaluate(
        "[window.__bench.start, window.__bench.changed, window.__bench.painted]")
    return Press(on_screen_ms=painted - start, changed_ms=changed - start)


def idle(page, timeout_s: float = 60.0) -> None:
    """Until no script run is in progress (a press or a commit may have started a rerun)."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
        if state != "running" and page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        page.wait_for_timeout(20)


def between_presses(page, slider, *, commit_wait_ms: int = 0, pause_ms: int = 50) -> None:
    """Wait ``commit_wait_ms`` (past a component's commit, so that the rerun it starts has
    begun), until Streamlit is idle, then ``pause_ms``; focus ``slider`` again if a rerun took
    the focus away (in a shadow root the document's active element is the host)."""
    if commit_wait_ms:
        page.wait_for_timeout(commit_wait_ms)
    idle(page)
    if pause_ms:
        page.wait_for_timeout(pause_ms)
    if not slider.evaluate("e => e === document.activeElement || "
                           "e.getRootNode().activeElement === e"):
        slider.focus()


def percentile(sorted_values: list[float], q: float) -> float:
    """The value at rank ``round(q · (n − 1))`` of ``sorted_values`` (n values, ascending)."""
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


def slider_figures(presses: list[Press]) -> dict:
    """The figures of the timed presses (ms, one decimal): count, median, p95 and max key
    press → on screen, and the median key press → DOM changed."""
    on_screen = sorted(p.on_screen_ms for p in presses)
    return {
        "slider_moves": len(on_screen),
        "slider_median_ms": round(statistics.median(on_screen), 1),
        "slider_p95_ms": round(percentile(on_screen, 0.95), 1),
        "slider_max_ms": round(on_screen[-1], 1),
        "dom_changed_median_ms": round(statistics.median(p.changed_ms for p in presses), 1),
    }


def run_facts() -> dict:
    """When and under what load the run was made: the date and the 1/5/15-minute load
    averages."""
    return {"date": time.strftime("%Y-%m-%d"),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: ``header``, the ``| --- |`` line, then one line per row."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
