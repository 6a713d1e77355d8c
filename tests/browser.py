"""A real Streamlit server and Debian's chromium through Playwright, for the browser tests.

No test waits a fixed time and then reads the page: on a loaded machine a rerun takes as long
as it takes. A test waits for a condition instead, with a deadline: Playwright's own waits
(``locator.wait_for``, ``page.wait_for_url``, ``expect(locator).to_have_text(...)``), or the
helpers here, which re-read until the condition holds (``wait_until``, ``read_until``,
``eventually_equal``). ``settle`` waits until the page's script has finished running; after an
action, a test first waits for a sign that the action's rerun has happened (a new title, a new
number, a new URL) and only then settles, since a rerun may not even have started when an
action returns (``settle_until``, ``open_page``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
POLL_S = 0.05  # how often the helpers re-read: a pause between reads, never a wait for an answer
WAIT_S = 60.0  # the default deadline of a condition


def chromium_missing_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(timeout: float = 90.0, *, app_root: Path = ROOT,
                     extra_env: dict[str, str] | None = None):
    """Run ``streamlit run app.py`` of ``app_root`` (this checkout unless another is named) on
    a free local port; yield its URL. The server's environment is this process's with
    ``UQVIZ_TORCH_THREADS=1``, then ``extra_env`` on top."""
    port = free_port()
    env = {**os.environ, "UQVIZ_TORCH_THREADS": "1", **(extra_env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_root / "app.py"),
           "--server.port", str(port), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    log = open(ROOT / "artifacts" / f"streamlit-{port}.log", "w") if _mk() else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=app_root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url), timeout=timeout,
                   what=f"streamlit to answer on {url}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _mk() -> bool:
    (ROOT / "artifacts").mkdir(exist_ok=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return True


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


# -- waiting for a condition -------------------------------------------------------------------
def read_until(read: Callable[[], Any], until: Callable[[Any], bool], *,
               timeout: float = WAIT_S) -> Any:
    """Call ``read()`` until ``until(value)`` holds or ``timeout`` seconds have passed; return
    the last value read (the caller asserts on it, so a failure shows what the page showed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value) or time.monotonic() >= deadline:
            return value
        time.sleep(POLL_S)


def wait_until(condition: Callable[[], Any], *, timeout: float = WAIT_S,
               what: str = "the condition") -> Any:
    """Call ``condition()`` until it returns something truthy, and return that; an
    AssertionError naming ``what`` after ``timeout`` seconds."""
    value = read_until(condition, bool, timeout=timeout)
    if not value:
        raise AssertionError(f"waited {timeout:g} s for {what}; last value {value!r}")
    return value


def eventually_equal(read: Callable[[], Any], expected: Any, *, timeout: float = WAIT_S,
                     what: str = "") -> Any:
    """Re-read until ``read()`` equals ``expected`` (what a web-first assertion does); an
    AssertionError with the difference after ``timeout`` seconds. Returns the value."""
    value = read_until(read, lambda v: v == expected, timeout=timeout)
    if value != expected:
        if isinstance(value, dict) and isinstance(expected, dict):
            diff = {k: (value.get(k), expected.get(k)) for k in {*value, *expected}
                    if value.get(k) != expected.get(k)}
            detail = f"differs in (shown, expected): {diff!r}"
        else:
            detail = f"shows {value!r}, expected {expected!r}"
        raise AssertionError(f"after {timeout:g} s{f' ({what})' if what else ''}: {detail}")
    return value


def page_is_idle(page) -> bool:
    """The script is not running, no "Running…" widget and no loading skeleton is shown."""
    state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
    return not (state == "running"
                or page.locator('[data-testid="stStatusWidget"]').count() > 0
                or page.locator('[data-testid="stMain"] [data-testid^="stSkeleton"]').count() > 0)


def settle(page, timeout: float = 180.0, quiet: float = 1.0) -> None:
    """Wait until the page's title is drawn, the script run has finished
    (``data-test-script-state``) and no element is still a loading skeleton, for ``quiet``
    seconds in a row. After an action, wait for its effect first (``settle_until``): its rerun
    may not have started yet."""
    page.wait_for_selector('[data-testid="stMain"] [data-testid="stHeading"]',
                           timeout=timeout * 1000)
    since: list[float] = []

    def quiet_long_enough() -> bool:
        if not page_is_idle(page):
            since.clear()
            return False
        since[:] = since or [time.monotonic()]
        return time.monotonic() - since[0] >= quiet

    wait_until(quiet_long_enough, timeout=timeout, what="the page to finish running")


def settle_until(page, condition: Callable[[], Any], *, timeout: float = 180.0,
                 what: str = "the page to change") -> Any:
    """Wait until ``condition()`` holds (a sign that an action's rerun has happened), then
    until the page has finished running, and return ``condition()``'s value, read again."""
    wait_until(condition, timeout=timeout, what=what)
    settle(page, timeout)
    return wait_until(condition, timeout=timeout, what=f"{what}, once the page settled")


def title_heading(page, title: str):
    """The page's ``st.title`` heading reading exactly ``title``."""
    return page.locator('[data-testid="stMain"] h1',
                        has_text=re.compile(rf"^\s*{re.escape(title)}\s*$")).first


def open_page(page, link, title: str, timeout: float = 180.0) -> None:
    """Click the link named ``link`` (a string or a pattern), wait until the page titled
    ``title`` is drawn (the old page's heading is there until then) and has run to its end."""
    page.get_by_role("link", name=link).first.click()
    title_heading(page, title).wait_for(timeout=timeout * 1000)
    settle(page, timeout)


def sidebar_dataset(page) -> str:
    """The dataset chosen in the sidebar (its selectbox is a combobox: the choice is its
    value, not its text)."""
    return page.locator('[data-testid="stSidebar"]').get_by_role(
        "combobox", name="Dataset").input_value()


def next_frames(page) -> None:
    """Return once the browser has drawn two more frames (layout and paint after a resize or
    a scroll)."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => "
                  "requestAnimationFrame(() => done(true))))")


def stable_box(locator, timeout: float = 30.0) -> dict:
    """The element's bounding box once it stops moving (a scroll has ended): the same box
    before and after two drawn frames."""
    page = locator.page

    def unmoved():
        before = locator.bounding_box()
        next_frames(page)
        after = locator.bounding_box()
        return after if before and before == after else None

    return wait_until(unmoved, timeout=timeout, what="the element to stop moving")


def screenshot(page, name: str) -> Path:
    """A PNG of the whole page: the viewport is stretched to the main area's scroll height
    (Streamlit scrolls inside its own container, so a full-page shot alone stops at 1,000 px)."""
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }")
    size = page.viewport_size or {"width": 1400, "height": 1000}
    tall = max(size["height"], int(height))
    page.set_viewport_size({"width": size["width"], "height": tall})
    wait_until(lambda: page.evaluate("() => window.innerHeight") == tall, timeout=30,
               what="the window to take its new height")
    next_frames(page)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def exceptions(page) -> list[str]:
    loc = page.locator('[data-testid="stException"]')
    return [loc.nth(i).inner_text()[:300] for i in range(loc.count())]


def have_chromium_binary() -> bool:
    return shutil.which("chromium") is not None or Path(CHROMIUM).exists()


def block_network(context) -> list[str]:
    """Abort every request of a browser context except ``file:`` ones; returns the list the
    aborted URLs are appended to (empty when the page loaded nothing from outside)."""
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return blocked
