"""Shared fixtures: an isolated cache, one thread for torch, a tiny digits-like dataset."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("UQVIZ_TORCH_THREADS", "1")
os.environ.setdefault("UQVIZ_OFFLINE", "1")


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
