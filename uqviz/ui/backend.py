"""The pages' only way into the backend: sources and studies, cached by small keys.

A page names what the sidebar selected by its key (``digits``, or
``predictions:<file>#<fingerprint>``) and asks for a ``Comparison`` of the chosen methods
(``ensure_comparison``, which trains what is missing under a progress bar); each method's
``Study`` then answers every question once (``uqviz.study``). ``st.cache_resource`` holds the
sources' images and the studies; nothing else is cached here.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from uqviz.data import DatasetUnavailable
from uqviz.data.base import DatasetSpec
from uqviz.device import configure_threads
from uqviz.sources import (
    APP_PLAN,
    SHIFT_PLAN,
    NoImages,
    Source,
    TrainedSource,
    file_label,
    is_file_key,
)
from uqviz.stream import CLEAN, StreamMix
from uqviz.study import Comparison, Study, bootstrap_resamples
from uqviz.ui.files import file_source
from uqviz.ui.models import is_model_key, model_source

PLANS = {"app": APP_PLAN, "shift": SHIFT_PLAN}

__all__ = ["NoImages", "bootstrap_resamples"]


def source(key: str, plan: str = "app") -> Source:
    """The source a sidebar key names; ValueError for a file this session has not loaded."""
    if is_file_key(key):
        return file_source(key)
    if is_model_key(key):
        src = model_source(key)
        return src if plan == "app" else src.with_plan(PLANS[plan])
    return TrainedSource(key, PLANS[plan])


def _model_spec(src) -> DatasetSpec:
    """A ``DatasetSpec`` describing a user's model source (its classes and input shape); it
    has no splits to load (``dataset_splits`` raises NoImages)."""
    config = src.config
    sizes = src.sizes

    def load(seed: int):
        raise NoImages(f"{src.label} has no training split: it brings its own model")

    return DatasetSpec(
        name=src.key, num_classes=config.num_classes, class_names=tuple(config.classes),
        input_shape=config.input_shape, source="your model", load=load,
        description=(f"your model {src.name} ({config.describe()}) on the images of "
                     f"{src.data}: {sizes['calibration']:,} calibration and "
                     f"{sizes['test']:,} test images"
                     + (f", {sizes['ood']:,} out-of-distribution images." if sizes["ood"]
                        else ".")))


@st.cache_resource(show_spinner=False)
def dataset_spec(key: str) -> DatasetSpec:
    """The dataset behind a source with images (trained dataset or a user's model); NoImages
    for a predictions file."""
    src = source(key)
    if not src.has_images:
        raise NoImages(f"{src.label} holds predictions only: no images or model")
    if is_model_key(key):
        return _model_spec(src)
    return src.spec()


@st.cache_resource(show_spinner=False)
def dataset_splits(key: str):
    """Train/calibration/test splits of a trained dataset; NoImages for a predictions file or
    a user's model (no training split)."""
    dataset_spec(key)  # NoImages for a predictions file
    if is_model_key(key):
        raise NoImages(f"{source(key).label} brings its own model: it has no training split")
    return source(key).splits()


@st.cache_resource(show_spinner=False)
def test_images(key: str) -> np.ndarray:
    """(N, C, H, W) images of the clean test rows; NoImages for a predictions file."""
    dataset_spec(key)  # NoImages for a predictions file
    if is_model_key(key):
        return np.asarray(source(key).test_images())
    return dataset_splits(key).test_x.numpy()


def _model_group_images(key: str, group: str) -> np.ndarray:
    """A user's model source's rows of one group, made as its engine made them: corruptions
    are applied per batch of ``settings.batch_size`` test images with the engine's seeds."""
    import torch

    from uqviz.predictions import TEST_GROUP, parse_shift_group
    from uqviz.user_model.engine import corruption

    src = source(key)
    if group.startswith("ood:"):
        return src.ood_images(group)
    images = test_images(key)
    if group == TEST_GROUP:
        return images
    parsed = parse_shift_group(group)
    if parsed is None:
        raise ValueError(f"no images for group {group!r}")
    transform = corruption(*parsed, src.plan.seed)
    size = src.settings.batch_size
    blocks = [transform(torch.from_numpy(images[start:start + size]), k).numpy()
              for k, start in enumerate(range(0, len(images), size))]
    return np.concatenate(blocks) if blocks else images


@st.cache_resource(show_spinner="Regenerating the OOD images…", max_entries=4)
def ood_images(key: str, group: str) -> np.ndarray:
    """Images of an OOD group in the order of its rows; NoImages for a predictions file."""
    dataset_spec(key)  # NoImages for a predictions file
    return source(key).ood_images(group)


@st.cache_resource(show_spinner="Rebuilding the images…", max_entries=8)
def group_images(key: str, group: str) -> np.ndarray:
    """Images of one group of rows (test, a corruption at a severity, an OOD set); NoImages for
    a predictions file."""
    dataset_spec(key)  # NoImages for a predictions file
    if is_model_key(key):
        return _model_group_images(key, group)
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
    if isinstance(src, TrainedSource) or is_model_key(key):
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
            verb = "Training" if plan == "app" else "Predicting on every corruption:"
            name = src.label if is_model_key(key) else file_label(key)
            if is_model_key(key):
                verb = "Predicting" if plan == "app" else verb
            bar = st.progress(0.0, text=f"{verb} {', '.join(todo)} on {name}…")
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
    """The stakeholder report (self-contained HTML) for the selected methods: the Compare
    page's metric table (not recomputed), the last referral policy set on the Referral page
    and a split-conformal summary (α = 0.1, LAC)."""
    import json

    from uqviz.plots.report import build_report

    comp = comparison(key, methods, "app", mix)
    conformal = {"alpha": 0.1, "score": "lac", "methods": {
        m: s.conformal(alpha=0.1, score="lac").summary() for m, s in comp.studies.items()}}
    return build_report({m: s.predictions for m, s in comp.studies.items()},
                        dataset_name=file_label(key), dataset_description=(
                            f"{describe_dataset(key)}\n\nIncoming stream: {mix.describe()}."
                            if not mix.is_clean else describe_dataset(key)),
                        policy=json.loads(policy_json) if policy_json else None,
                        conformal=conformal, table=comp.metric_table(), generated=generated)


# -- confidence intervals page -----------------------------------------------------------------
# the page's bootstrap is exact (uqviz.metrics.classification.exact_bootstrap_ci): the limit of
# infinitely many resamples, the same in the browser (uqviz/ui/components/interval_subsample)
@st.cache_resource(show_spinner=False, max_entries=64)
def interval_hits(key: str, method: str) -> np.ndarray:
    """(N,) correct rows among the first n of the page's one seeded permutation (seed 0), for
    n = 1..N (``uqviz.metrics.classification.nested_subsample_hits``)."""
    from uqviz.metrics.classification import nested_subsample_hits

    return nested_subsample_hits(study(key, method).correct, seed=0)


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
