"""Shared fixtures: an isolated cache, one thread for torch, a tiny digits-like dataset."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("UQVIZ_TORCH_THREADS", "1")
os.environ.setdefault("UQVIZ_OFFLINE", "1")


# The slowest files, slowest first (pytest --durations on CI, 2026-12-07). `make test` hands
# files to its workers in collection order (--dist loadfile --no-loadscope-reorder), so these
# start first and the run ends on short files rather than with one worker busy and one idle.
SLOW_FILES_FIRST = (
    "test_app.py", "test_browser.py", "test_embedding.py", "test_browser_referral_component.py",
    "test_browser_shift_component.py", "test_browser_learn.py", "test_browser_embedding.py",
    "test_precompute.py", "test_browser_triage.py", "test_untrusted_models.py",
    "test_untrusted_cli_page.py", "test_cli_triage.py", "test_browser_interval_component.py",
    "test_teaching.py", "test_browser_conformal_component.py", "test_browser_your_model.py",
    "test_cli_user_model.py", "test_cli.py",
)


def pytest_collection_modifyitems(config, items):
    """Slow files first (``SLOW_FILES_FIRST``), the rest in their usual order; the order of
    tests inside a file is kept."""
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Every test session writes its cache in a fresh directory unless UQVIZ_CACHE is set
    by CI (then trained weights are reused between test modules of one run)."""
    if not os.environ.get("UQVIZ_CACHE"):
        os.environ["UQVIZ_CACHE"] = str(tmp_path_factory.mktemp("uqviz-cache"))
    from uqviz.device import configure_threads

    configure_threads()
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def app_url():
    """One real Streamlit server for every browser test of the session, on digits models
    trained (or read from the cache) beforehand."""
    from tests.app_fixtures import pretrain_digits
    from tests.browser import streamlit_server

    pretrain_digits()
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright, shared by the browser tests."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page (1400×1000, downloads accepted) for one test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    # every Playwright wait (a locator's read, a click) waits for its condition up to 2 minutes,
    # not the 30 s default: a loaded two-core machine can take that long to redraw a page
    context.set_default_timeout(120_000)
    pg = context.new_page()
    yield pg
    context.close()
