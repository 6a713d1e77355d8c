"""The pages' only way into the backend: cached calls keyed by small ids.

``st.cache_resource`` holds read-only objects (predictions, indexes); ``st.cache_data`` holds
small derived arrays. Training runs only from ``ensure_predictions``, which shows a progress bar
with the time left and then reads everything back from the disk cache.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from uqviz.data import DatasetUnavailable, get_dataset
from uqviz.data.base import DatasetSpec
from uqviz.device import configure_threads, default_device
from uqviz.methods import MethodConfig
from uqviz.metrics.scores import uncertainty
from uqviz.metrics.selective import ReferralCurve, ReferralIndex, referral_curve
from uqviz.metrics.summary import MetricTable, metric_table
from uqviz.predictions import Predictions
from uqviz.runs import EvalPlan, predictions_path, run_evaluation
from uqviz.ui.files import display_name, is_predictions_dataset, loaded_file

APP_PLAN = EvalPlan(corruptions=("gaussian_noise",))
APP_CONFIG = MethodConfig()
DATA_SEED = 0


class NoImages(ValueError):
    """The dataset is a predictions file: there are no images or models to show."""


@st.cache_resource(show_spinner=False)
def dataset_spec(name: str) -> DatasetSpec:
    if is_predictions_dataset(name):
        raise NoImages(f"{display_name(name)} holds predictions only: no images or model")
    return get_dataset(name)


@st.cache_resource(show_spinner=False)
def dataset_splits(name: str):
    return dataset_spec(name).load(DATA_SEED)


def describe_dataset(name: str) -> str:
    """One or two sentences about a dataset or a predictions file."""
    if is_predictions_dataset(name):
        loaded = loaded_file(name)
        first = next(iter(loaded.by_method.values()))
        return (f"your predictions file {loaded.source}: {loaded.num_rows:,} rows, "
                f"{len(loaded.by_method)} method(s), {first.num_classes} classes.")
    return dataset_spec(name).description


def missing_methods(dataset: str, methods: list[str]) -> list[str]:
    """Methods whose predictions are not yet in the disk cache (none for a file)."""
    if is_predictions_dataset(dataset):
        return []
    spec = dataset_spec(dataset)
    return [m for m in methods
            if not predictions_path(spec, DATA_SEED, m, APP_CONFIG, APP_PLAN).exists()]


def _progress_with_eta(bar, started: float):
    def progress(fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = time.perf_counter() - started
        eta = ""
        if 0.02 < fraction < 1.0:
            eta = f" · about {elapsed * (1 - fraction) / fraction:.0f} s left"
        bar.progress(fraction, text=f"{message}{eta}")

    return progress


def train_missing(dataset: str, methods: list[str]) -> None:
    """Train and predict the methods not yet cached, with a progress bar and time left."""
    todo = missing_methods(dataset, methods)
    if not todo:
        return
    configure_threads()
    bar = st.progress(0.0, text=f"Training {', '.join(todo)} on {dataset}…")
    run_evaluation(dataset_spec(dataset), todo, config=APP_CONFIG, plan=APP_PLAN,
                   device=default_device(), data_seed=DATA_SEED,
                   progress=_progress_with_eta(bar, time.perf_counter()))
    bar.empty()


@st.cache_resource(show_spinner=False, max_entries=32)
def method_predictions(dataset: str, method: str) -> Predictions:
    """One method's cached predictions (read-only; train first with ``train_missing``)."""
    if is_predictions_dataset(dataset):
        return loaded_file(dataset).by_method[method]
    results = run_evaluation(dataset_spec(dataset), [method], config=APP_CONFIG, plan=APP_PLAN,
                             device=default_device(), data_seed=DATA_SEED)
    return results[method]


def ensure_predictions(dataset: str, methods: list[str]) -> dict[str, Predictions] | None:
    """Predictions of every method, training what is missing; None (after an st.error that
    says what to do) when the dataset cannot be loaded."""
    if not methods:
        st.info("Choose at least one method in the sidebar.")
        return None
    try:
        train_missing(dataset, methods)
        return {m: method_predictions(dataset, m) for m in methods}
    except DatasetUnavailable as err:
        st.error(f"{err}\n\nChoose an offline dataset (digits or mnist5k) in the sidebar.")
    except ValueError as err:
        st.error(f"Could not prepare the predictions: {err}")
    return None


DISPLAY_LIMIT = 100_000


@st.cache_data(show_spinner=False, max_entries=8)
def display_sample(n_rows: int, limit: int = DISPLAY_LIMIT, seed: int = 0) -> np.ndarray:
    """Row indices to draw: all rows up to ``limit``, else a seeded random ``limit`` of them
    (a histogram of 100,000 points looks the same and loads fast)."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))


def bootstrap_resamples(n_rows: int) -> int:
    """1,000 resamples up to 20,000 rows, fewer above (intervals are narrow there anyway and
    the page must stay responsive): about 2·10⁷ resampled rows, at least 50."""
    return 1000 if n_rows <= 20_000 else max(50, int(2e7 // n_rows))


@st.cache_resource(show_spinner="Computing bootstrap intervals…", max_entries=16)
def comparison_table(dataset: str, methods: tuple[str, ...]) -> MetricTable:
    preds = {m: method_predictions(dataset, m) for m in methods}
    n = max(evaluation_rows(dataset, m).n for m in methods)
    return metric_table(preds, n_resamples=bootstrap_resamples(n), seed=0)


@st.cache_resource(show_spinner=False, max_entries=64)
def evaluation_rows(dataset: str, method: str) -> Predictions:
    """The clean, labelled test rows of one method."""
    return method_predictions(dataset, method).evaluation_rows()


@st.cache_resource(show_spinner=False, max_entries=64)
def uncertainty_scores(dataset: str, method: str, score: str) -> np.ndarray:
    return uncertainty(evaluation_rows(dataset, method).probs, score)


@st.cache_resource(show_spinner=False, max_entries=64)
def referral_curve_of(dataset: str, method: str, score: str) -> ReferralCurve:
    """The referral curve (downsampled), computed once per method and score, not per rerun."""
    rows = evaluation_rows(dataset, method)
    return referral_curve(uncertainty_scores(dataset, method, score),
                          rows.predicted == rows.labels)


@st.cache_resource(show_spinner=False, max_entries=64)
def score_order(dataset: str, method: str, score: str) -> np.ndarray:
    """Row indices sorted by the score, least uncertain first (stable)."""
    return np.argsort(uncertainty_scores(dataset, method, score), kind="stable")


@st.cache_resource(show_spinner=False, max_entries=64)
def referral_index(dataset: str, method: str, score: str) -> ReferralIndex:
    """Sorted scores and cumulative sums: every slider move is a binary search."""
    rows = evaluation_rows(dataset, method)
    correct = rows.predicted == rows.labels
    return ReferralIndex.from_scores(uncertainty_scores(dataset, method, score), correct)


POLICY_KEY = "referral_policy"


@st.cache_data(show_spinner=False, max_entries=8)
def report_html(dataset: str, methods: tuple[str, ...], policy_json: str | None,
                generated: str) -> str:
    """The stakeholder report (self-contained HTML) for the selected methods, with the last
    referral policy set on the referral page and a split-conformal summary (α = 0.1, LAC)."""
    import json

    from uqviz.conformal import conformal_summary
    from uqviz.plots.report import build_report
    from uqviz.ui.files import display_name

    preds = {m: method_predictions(dataset, m) for m in methods}
    rows = max(evaluation_rows(dataset, m).n for m in methods)
    conformal = {"alpha": 0.1, "score": "lac",
                 "methods": {m: conformal_summary(p, alpha=0.1, score="lac", cal_fraction=0.5,
                                                  seed=0) for m, p in preds.items()}}
    return build_report(preds, dataset_name=display_name(dataset),
                        dataset_description=describe_dataset(dataset),
                        policy=json.loads(policy_json) if policy_json else None,
                        conformal=conformal, n_resamples=bootstrap_resamples(rows),
                        generated=generated)


# -- confidence intervals page -----------------------------------------------------------------
def interval_resamples(n_rows: int) -> int:
    """Bootstrap resamples for the intervals page: as the Compare page (1,000 up to 20,000
    rows), but at least 100 so each 2.5% tail holds a few resamples (about 1 s per method at a
    million rows)."""
    return max(100, bootstrap_resamples(n_rows))


def _correct(dataset: str, method: str) -> np.ndarray:
    rows = evaluation_rows(dataset, method)
    return rows.predicted == rows.labels


@st.cache_resource(show_spinner="Computing the intervals over test-set sizes…", max_entries=64)
def interval_grid(dataset: str, method: str):
    """Wald, Wilson and bootstrap intervals of one method's accuracy on about 12 nested seeded
    subsamples from 20 rows to all of them (``uqviz.metrics.accuracy_intervals``)."""
    from uqviz.metrics.classification import accuracy_intervals, subsample_sizes

    correct = _correct(dataset, method)
    return accuracy_intervals(correct, subsample_sizes(correct.size),
                              n_resamples=interval_resamples(correct.size), seed=0)


@st.cache_resource(show_spinner=False, max_entries=256)
def intervals_at(dataset: str, method: str, size: int):
    """The three intervals on the first ``size`` rows of the same seeded permutation as
    ``interval_grid`` (so both agree where their sizes meet)."""
    from uqviz.metrics.classification import accuracy_intervals

    correct = _correct(dataset, method)
    return accuracy_intervals(correct, [size], n_resamples=interval_resamples(correct.size),
                              seed=0)


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
