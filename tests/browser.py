"""A real Streamlit server and Debian's chromium through Playwright, for the browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "screenshots"


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


def _mk() -> bool:
    (ROOT / "artifacts").mkdir(exist_ok=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return True


def settle(page, timeout: float = 180.0) -> None:
    """Wait until the page's title is drawn, the script run has finished
    (``data-test-script-state``) and no element is still a loading skeleton, for a second."""
    page.wait_for_selector('[data-testid="stMain"] [data-testid="stHeading"]',
                           timeout=timeout * 1000)
    t0, quiet = time.time(), 0
    while time.time() - t0 < timeout:
        state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
        busy = (state == "running"
                or page.locator('[data-testid="stStatusWidget"]').count() > 0
                or page.locator('[data-testid="stMain"] [data-testid^="stSkeleton"]').count() > 0)
        quiet = 0 if busy else quiet + 1
        if quiet >= 4:
            return
        time.sleep(0.25)
    raise TimeoutError("the page kept running")


def screenshot(page, name: str) -> Path:
    """A PNG of the whole page: the viewport is stretched to the main area's scroll height
    (Streamlit scrolls inside its own container, so a full-page shot alone stops at 1,000 px)."""
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }")
    size = page.viewport_size or {"width": 1400, "height": 1000}
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    page.wait_for_timeout(400)
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
