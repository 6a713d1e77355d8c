"""The pages' only way into the backend: sources and studies, cached by small keys.

A page names what the sidebar selected by its key (``digits``,
``predictions:<file>#<fingerprint>`` or ``model:<name>#<fingerprint>``) and asks for a
``Comparison`` of the chosen methods (``ensure_comparison``, which trains what is missing under a
progress bar); each method's ``Study`` then answers every question once (``uqviz.study``).
``st.cache_resource`` holds the sources' images and the studies; nothing else is cached here.

``source(key)`` is the registry: the one function that reads a key's form. Everything else asks
the source it returns (``src.kind``, ``src.label``, ``uqviz.sources.Source``).
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from uqviz.data import DatasetUnavailable as DatasetUnavailable  # pages catch it
from uqviz.data.base import DatasetSpec
from uqviz.device import configure_threads
from uqviz.labels import method_label
from uqviz.policy import policy_document as policy_document  # the Referral page's download
from uqviz.runs import only_test_rows
from uqviz.sources import (
    APP_PLAN,
    DATASET,
    FILE_PREFIX,
    MODEL_KEY_PREFIX,
    PREDICTIONS_FILE,
    SHIFT_PLAN,
    YOUR_MODEL,
    NoImages,
    Source,
    TrainedSource,
)
from uqviz.story import CONFIDENT as CONFIDENT  # the Story page's numbers: story(comparisons)
from uqviz.story import REFERRED_SHARE as REFERRED_SHARE
from uqviz.story import STORY_SCORE as STORY_SCORE
from uqviz.story import TARGET_ACCURACY as TARGET_ACCURACY
from uqviz.story import story as story
from uqviz.stream import CLEAN, StreamMix
from uqviz.study import Comparison, Study, bootstrap_resamples
from uqviz.study import display_rows as display_rows  # the OOD page's shown rows
from uqviz.ui.files import file_source
from uqviz.ui.models import model_source

# "test": the app's clean test rows alone, predicted first on a cold start (first_view_plan)
PLANS = {"app": APP_PLAN, "shift": SHIFT_PLAN, "test": only_test_rows(APP_PLAN)}

__all__ = ["DATASET", "PREDICTIONS_FILE", "YOUR_MODEL", "NoImages", "bootstrap_resamples"]


# -- the registry: the one place that reads a key ----------------------------------------------
def source(key: str, plan: str = "app") -> Source:
    """The source a sidebar key names — a dataset's name, ``predictions:<file>#<fingerprint>``
    or ``model:<name>#<fingerprint>`` — predicting the rows of ``plan`` (``app`` or ``shift``;
    a file's rows are its own). ValueError for a file or model this session has not loaded."""
    if key.startswith(FILE_PREFIX):
        return file_source(key)
    if key.startswith(MODEL_KEY_PREFIX):
        src = model_source(key)
        return src if plan == "app" else src.with_plan(PLANS[plan])
    return TrainedSource(key, PLANS[plan])


def _key_label(key: str) -> str:
    """A source's label read from its key: ``predictions:preds.csv#ab12cd34`` -> ``preds.csv
    (your predictions)`` (a ``FileSource``'s label), ``model:net.pt#ab12cd34`` -> ``net.pt (your
    model)``; a dataset's name as it is."""
    for prefix, whose in ((FILE_PREFIX, "your predictions"), (MODEL_KEY_PREFIX, "your model")):
        if key.startswith(prefix):
            return f"{key.removeprefix(prefix).rsplit('#', 1)[0]} ({whose})"
    return key


def source_label(key: str) -> str:
    """What the sidebar and the pages call the source a key names, also when this session
    cannot load it; a predictions file is named without being read."""
    if key.startswith(FILE_PREFIX):
        return _key_label(key)
    try:
        return source(key).label
    except ValueError:  # a model this session has not loaded
        return _key_label(key)


@st.cache_resource(show_spinner=False)
def dataset_spec(key: str) -> DatasetSpec:
    """The dataset behind a source with images (a trained dataset, or a user's model's classes
    and input shape); NoImages for a predictions file."""
    return source(key).spec()


@st.cache_resource(show_spinner=False)
def dataset_splits(key: str):
    """Train/calibration/test splits of a trained dataset; NoImages for a predictions file or
    a user's model (no training split)."""
    return source(key).splits()


@st.cache_resource(show_spinner=False)
def test_images(key: str) -> np.ndarray:
    """(N, C, H, W) images of the clean test rows; NoImages for a predictions file."""
    return np.asarray(source(key).test_images())


@st.cache_resource(show_spinner="Regenerating the OOD images…", max_entries=4)
def ood_images(key: str, group: str) -> np.ndarray:
    """Images of an OOD group in the order of its rows; NoImages for a predictions file."""
    return source(key).ood_images(group)


@st.cache_resource(show_spinner="Rebuilding the images…", max_entries=8)
def group_images(key: str, group: str) -> np.ndarray:
    """Images of one group of rows (test, a corruption at a severity, an OOD set); NoImages for
    a predictions file."""
    return source(key).group_images(group)


def stream_images(key: str, study: Study) -> np.ndarray:
    """(M, C, H, W) the image of every row of a study's stream, in stream order; NoImages for
    a predictions file."""
    images = None
    for group, (rows, positions) in study.stream_locations().items():
        block = group_images(key, group)
        if images is None:
            images = np.zeros((study.stream.n, *block.shape[1:]), dtype=block.dtype)
        images[rows] = block[positions]
    return images


def row_images(key: str, study: Study) -> np.ndarray:
    """(N, C, H, W) the image of every scored row (``Study.rows``)."""
    return stream_images(key, study)[study.rows_in_stream]


def describe_dataset(key: str) -> str:
    """One or two sentences about a dataset or a predictions file."""
    src = source(key)
    if src.kind != PREDICTIONS_FILE:
        return dataset_spec(key).description
    first = next(iter(src.loaded.by_method.values()))
    return (f"your predictions file {src.loaded.source}: {src.loaded.num_rows:,} rows, "
            f"{len(src.methods)} method(s), {first.num_classes} classes.")


def missing_methods(key: str, methods: list[str], plan: str = "app") -> list[str]:
    """Methods whose predictions are not yet in the disk cache (none for a file)."""
    return source(key, plan).missing(methods)


def _progress_with_eta(bar, started: float):
    def progress(fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = time.perf_counter() - started
        eta = ""
        if 0.02 < fraction < 1.0:
            eta = f" · about {elapsed * (1 - fraction) / fraction:.0f} s left"
        bar.progress(fraction, text=f"{message}{eta}")

    return progress


def first_view_plan(key: str, methods: list[str]) -> str:
    """``"test"`` when a trained dataset's app predictions of ``methods`` are not all on disk
    (a cold start: a page then predicts the clean test rows first, ``uqviz.runs.only_test_rows``,
    and shows what needs only them), else ``"app"`` (also when the source cannot be read:
    ``ensure_comparison`` then says why)."""
    try:
        src = source(key)
        return "test" if src.kind == DATASET and src.missing(methods) else "app"
    except (DatasetUnavailable, ValueError):
        return "app"


@st.cache_resource(show_spinner=False, max_entries=64)
def study(key: str, method: str, plan: str = "app", mix: StreamMix = CLEAN) -> Study:
    """One method's study on a source and stream (train first with ``ensure_comparison``)."""
    return Study(source(key, plan).predictions([method])[method], mix)


@st.cache_resource(show_spinner=False, max_entries=16)
def comparison(key: str, methods: tuple[str, ...], plan: str = "app",
               mix: StreamMix = CLEAN) -> Comparison:
    return Comparison({m: study(key, m, plan, mix) for m in methods})


def ensure_comparison(key: str, methods: list[str], plan: str = "app",
                      mix: StreamMix = CLEAN) -> Comparison | None:
    """The studies of every chosen method, training and predicting what is missing under a
    progress bar with the time left; None (after an ``st.info``/``st.error`` that says what
    to do) when no method is chosen or the source cannot be loaded."""
    if not methods:
        st.info("Choose at least one method in the sidebar.")
        return None
    try:
        src = source(key, plan)
        todo = src.missing(methods)
        if todo:
            configure_threads()
            verb = ("Predicting on every corruption:" if plan == "shift"
                    else "Predicting" if src.kind == YOUR_MODEL
                    else "Preparing (networks trained or loaded, then predicting)")
            names = ", ".join(method_label(m) for m in todo)
            bar = st.progress(0.0, text=f"{verb} {names} on {src.label}…")
            src.predictions(todo, progress=_progress_with_eta(bar, time.perf_counter()))
            bar.empty()
        return comparison(key, tuple(methods), plan, mix)
    except DatasetUnavailable as err:
        st.error(f"{err}\n\nChoose an offline dataset (digits or mnist5k) in the sidebar.")
    except ValueError as err:  # UserModelError (PartialResults too) is a ValueError
        st.error(f"Could not prepare the predictions: {err}")
    return None


POLICY_KEY = "referral_policy"


@st.cache_data(show_spinner=False, max_entries=8)
def report_html(key: str, methods: tuple[str, ...], policy_json: str | None,
                generated: str, mix: StreamMix = CLEAN) -> str:
    """The stakeholder report (self-contained HTML) for the selected methods, on the rows the
    Compare page shows (each study's scored rows of the stream ``mix``): the page's metric
    table (not recomputed), the Out-of-distribution page's detection tables (every available
    score × method per OOD group, ``uqviz.plots.report.ood_report``), the last referral policy
    set on the Referral page and a split-conformal summary (α = 0.1, LAC)."""
    import json

    from uqviz.plots.report import comparison_report

    comp = comparison(key, methods, "app", mix)
    conformal = {"alpha": 0.1, "score": "lac", "methods": {
        m: s.conformal(alpha=0.1, score="lac").summary() for m, s in comp.studies.items()}}
    return comparison_report(comp, dataset_name=source_label(key), dataset_description=(
                                 f"{describe_dataset(key)}\n\nIncoming stream: {mix.describe()}."
                                 if not mix.is_clean else describe_dataset(key)),
                             policy=json.loads(policy_json) if policy_json else None,
                             conformal=conformal, generated=generated)


# -- confidence intervals page -----------------------------------------------------------------
@st.cache_resource(show_spinner="Computing the intervals over test-set sizes…", max_entries=64)
def interval_grid(key: str, method: str):
    """Wald, Wilson and exact-bootstrap intervals of one method's accuracy on about 12 nested
    seeded subsamples from 20 rows to all of them (``uqviz.metrics.accuracy_intervals``)."""
    from uqviz.metrics.classification import accuracy_intervals, subsample_sizes

    correct = study(key, method).correct
    return accuracy_intervals(correct, subsample_sizes(correct.size), n_resamples=None, seed=0)


# -- active learning page ----------------------------------------------------------------------
def missing_active_runs(strategies: tuple[str, ...], seeds: int) -> int:
    """How many (strategy, seed) runs of the default experiment are not yet on disk."""
    from uqviz.teaching.active import is_cached

    return sum(not is_cached(s, seed) for s in strategies for seed in range(seeds))


@st.cache_resource(show_spinner=False)
def active_pool_and_test_sizes() -> tuple[int, int]:
    """Images in the active-learning pool (digits train split) and test split."""
    from uqviz.teaching.active import pool_and_test_sizes

    return pool_and_test_sizes()


@st.cache_resource(show_spinner=False, max_entries=32)
def _active_result(strategies: tuple[str, ...], seeds: int):
    from uqviz.teaching.active import active_learning_experiment

    return active_learning_experiment(strategies, tuple(range(seeds)))


def active_learning(strategies: tuple[str, ...], seeds: int):
    """The active-learning curves (``uqviz.teaching.active``) of the strategies on seeds
    0 … seeds-1; runs not yet cached on disk are computed first, with a progress bar."""
    from uqviz.teaching.active import active_learning_experiment

    todo = missing_active_runs(strategies, seeds)
    if todo:
        configure_threads()
        bar = st.progress(0.0, text=f"Running {todo} active-learning run(s)…")
        active_learning_experiment(strategies, tuple(range(seeds)),
                                   progress=_progress_with_eta(bar, time.perf_counter()))
        bar.empty()
    return _active_result(strategies, seeds)


def ensure_stream_comparison(key: str, methods: list[str]) -> Comparison | None:
    """``ensure_comparison``, then the incoming-stream control (``uqviz.ui.state``), and the
    studies on the stream it sets; None after a message when the source cannot be loaded."""
    from uqviz.ui.state import stream_control

    comp = ensure_comparison(key, methods)
    if comp is None:
        return None
    groups = next(iter(comp.studies.values())).predictions.groups
    mix = stream_control(groups)
    if mix.is_clean:
        return comp
    try:
        return comparison(key, tuple(methods), "app", mix)
    except ValueError as err:
        st.error(f"Could not draw the stream {mix.describe()}: {err}")
        return None
