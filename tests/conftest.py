"""Shared fixtures: an isolated cache, one thread for torch, a tiny digits-like dataset."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("UQVIZ_TORCH_THREADS", "1")
os.environ.setdefault("UQVIZ_OFFLINE", "1")


# The slowest files, slowest first (pytest --durations on CI, 2026-12-07). `make test` hands
# files to its workers in collection order (--dist loadfile --no-loadscope-reorder: each worker
# starts with two files, then takes the next one whenever it finishes one), so these start
# first and the run ends on short files rather than with one worker busy and one idle. With
# the shared cache (``SHARED_CACHE_PARTS``) the order also decides who computes what: the first
# worker starts on test_app.py (the digits predictions, then the corruption suite), the second
# on files with caches of their own (test_user_model_fabric.py, test_user_model.py), so it
# reads those predictions rather than waiting for them; test_embedding.py compiles numba's
# UMAP before test_browser_embedding.py's background job needs it. A file of ``SAME_WORKER_AS``
# runs with the file it names.
SLOW_FILES_FIRST = (
    "test_app.py", "test_user_model_fabric.py", "test_embedding.py", "test_user_model.py",
    "test_browser.py", "test_active.py", "test_precompute.py", "test_cli_triage.py",
    "test_browser_referral_component.py", "test_browser_shift_component.py",
    "test_untrusted_models.py", "test_browser_embedding.py",
    "test_browser_interval_component.py", "test_cli.py", "test_browser_triage.py",
    "test_browser_your_model.py", "test_triage_demo.py", "test_browser_conformal_component.py",
    "test_untrusted_cli_page.py", "test_benchmarks.py", "test_pretrained.py", "test_teaching.py",
    "test_browser_first_visit.py", "test_cli_user_model.py",
)


# Files run by the worker that runs the file named (one unit of work of `--dist loadfile`, the
# named file's tests first): they draw the same pages in one process, so the second reads what
# the first computed from streamlit's caches (the Learn pages' networks, the shift page's
# tables) rather than computing it again in another worker's process or server.
SAME_WORKER_AS = {
    "test_app_learn.py": "test_app.py", "test_app_shift.py": "test_app.py",
    "test_browser_learn.py": "test_browser.py",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the files of ``SAME_WORKER_AS`` in their named file's unit."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SameWorkerScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            folder, _, name = path.rpartition("/")
            return f"{folder}/{SAME_WORKER_AS[name]}" if name in SAME_WORKER_AS else path

    return SameWorkerScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Slow files first (``SLOW_FILES_FIRST``), the rest in their usual order; the order of
    tests inside a file is kept."""
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# The parts of the cache the workers of one `pytest -n` run share (one directory per run, beside
# the workers' own temporary directories): what is computed from a key alone, written
# atomically, and in the case of predictions under a lock (``uqviz.cache.held_lock``), so the
# second worker to want the digits predictions (~16 CPU-s), the corruption suite's (every
# corruption, ~80 CPU-s) or numba's compiled UMAP (~25 CPU-s) waits for the first and reads
# them. The rest (UMAP maps, active-learning runs, a user's model) stays per worker: tests
# remove and fake those entries.
SHARED_CACHE_PARTS = ("predictions", "weights", "numba")


def _link_shared_parts(cache, shared) -> None:
    """Make each of ``SHARED_CACHE_PARTS`` under ``cache`` a link to the same part under
    ``shared``."""
    for part in SHARED_CACHE_PARTS:
        (shared / part).mkdir(parents=True, exist_ok=True)
        (cache / part).symlink_to(shared / part, target_is_directory=True)


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Every test session writes its cache in a fresh directory unless UQVIZ_CACHE is set
    by CI (then trained weights are reused between test modules of one run). Under
    pytest-xdist the workers of one run share ``SHARED_CACHE_PARTS`` (xdist gives each worker
    the basetemp ``<run's basetemp>/<worker>``)."""
    if not os.environ.get("UQVIZ_CACHE"):
        cache = tmp_path_factory.mktemp("uqviz-cache")
        if os.environ.get("PYTEST_XDIST_WORKER"):
            _link_shared_parts(cache, tmp_path_factory.getbasetemp().parent / "uqviz-shared")
        os.environ["UQVIZ_CACHE"] = str(cache)
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
