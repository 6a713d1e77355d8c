"""Cached calls of the "Dataset shift" page: every corruption × severity, and the rotated digit.

Predictions on the full corruption suite (``SHIFT_PLAN``) reuse the networks cached on disk by
training, so only inference runs; ``ensure_shift_predictions`` shows a progress bar with the time
left while it does. Everything is keyed by small ids (dataset, method, corruption, score).

References: Ovadia et al., "Can You Trust Your Model's Uncertainty? Evaluating Predictive
Uncertainty Under Dataset Shift", NeurIPS 2019 (metrics against severity); Gal & Ghahramani,
"Dropout as a Bayesian Approximation", ICML 2016 (the rotated digit).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st
import torch

from uqviz.data import DatasetUnavailable
from uqviz.device import configure_threads, default_device
from uqviz.methods import Method, get_method
from uqviz.metrics.calibration import expected_calibration_error
from uqviz.metrics.classification import accuracy, negative_log_likelihood
from uqviz.metrics.ood import ood_detection
from uqviz.metrics.scores import uncertainty
from uqviz.predictions import Predictions, parse_shift_group, shift_group
from uqviz.runs import predictions_path, run_evaluation
from uqviz.shifts import ROTATION_ANGLES, corrupt, rotate
from uqviz.sources import APP_CONFIG, DATA_SEED, SHIFT_PLAN, is_file_key
from uqviz.ui.backend import _progress_with_eta, dataset_spec, dataset_splits
from uqviz.ui.files import file_source

SEVERITY_LEVELS = (0, 1, 2, 3, 4, 5)
TABLE_COLUMNS = ("method", "corruption", "severity", "n", "accuracy", "ece", "nll",
                 "mean_uncertainty", "auroc_wrong_vs_right")


def missing_shift_methods(dataset: str, methods: list[str]) -> list[str]:
    """Methods whose predictions on the full corruption suite are not yet on disk."""
    if is_file_key(dataset):
        return []
    spec = dataset_spec(dataset)
    return [m for m in methods
            if not predictions_path(spec, DATA_SEED, m, APP_CONFIG, SHIFT_PLAN).exists()]


@st.cache_resource(show_spinner=False, max_entries=32)
def shift_predictions(dataset: str, method: str) -> Predictions:
    """One method's predictions on the clean test set and every corruption × severity (or the
    rows of a predictions file)."""
    if is_file_key(dataset):
        return file_source(dataset).loaded.by_method[method]
    results = run_evaluation(dataset_spec(dataset), [method], config=APP_CONFIG, plan=SHIFT_PLAN,
                             device=default_device(), data_seed=DATA_SEED)
    return results[method]


def ensure_shift_predictions(dataset: str, methods: list[str]) -> dict[str, Predictions] | None:
    """Predictions on the corruption suite for every method, computing the missing ones under a
    progress bar (the corrupted inputs are built once for all of them); None after an
    ``st.error`` when the dataset cannot be loaded."""
    if not methods:
        st.info("Choose at least one method in the sidebar.")
        return None
    try:
        todo = missing_shift_methods(dataset, methods)
        if todo:
            configure_threads()
            bar = st.progress(0.0, text=f"Predicting {', '.join(todo)} on every corruption…")
            run_evaluation(dataset_spec(dataset), todo, config=APP_CONFIG, plan=SHIFT_PLAN,
                           device=default_device(), data_seed=DATA_SEED,
                           progress=_progress_with_eta(bar, time.perf_counter()))
            bar.empty()
        return {m: shift_predictions(dataset, m) for m in methods}
    except DatasetUnavailable as err:
        st.error(f"{err}\n\nChoose an offline dataset (digits or mnist5k) in the sidebar.")
    except ValueError as err:
        st.error(f"Could not prepare the shifted predictions: {err}")
    return None


def clean_rows(p: Predictions) -> Predictions:
    """Severity 0: the clean labelled test rows (``test`` group, else every labelled
    in-distribution row of a file)."""
    return p.evaluation_rows()


def shift_corruptions(p: Predictions) -> tuple[str, ...]:
    """Corruption names present as ``<corruption>:<severity>`` groups, in order of appearance."""
    names: list[str] = []
    for g in p.groups:
        parsed = parse_shift_group(g)
        if parsed is not None and parsed[0] not in names:
            names.append(parsed[0])
    return tuple(names)


def group_rows(p: Predictions, corruption: str, severity: int) -> Predictions:
    """Labelled rows of one corruption at one severity (0 = the clean rows)."""
    if severity == 0:
        return clean_rows(p)
    rows = p.in_group(shift_group(corruption, severity))
    return rows.select(rows.labels >= 0)


def shift_metrics(rows: Predictions, score: str) -> dict[str, float]:
    """Accuracy, ECE, NLL, mean uncertainty and AUROC of telling wrong from right predictions
    (correct rows as "in", wrong rows as "out"; NaN when all are right or all wrong).

    References: Ovadia et al., NeurIPS 2019; Guo et al., ICML 2017 (ECE); Hendrycks & Gimpel,
    ICLR 2017 (AUROC of misclassification detection).
    """
    mean = rows.mean_probs
    u = uncertainty(rows.probs, score)
    correct = rows.predicted == rows.labels
    auroc = (ood_detection(u[correct], u[~correct]).auroc if 0 < correct.sum() < rows.n
             else float("nan"))
    return {"n": rows.n, "accuracy": accuracy(mean, rows.labels),
            "ece": expected_calibration_error(mean, rows.labels),
            "nll": negative_log_likelihood(mean, rows.labels),
            "mean_uncertainty": float(u.mean()), "auroc_wrong_vs_right": auroc}


def severity_records(p: Predictions, corruption: str, score: str) -> list[dict]:
    """One record per available severity 0–5 of ``corruption`` for one method."""
    present = {parse_shift_group(g) for g in p.groups}
    records = []
    for severity in SEVERITY_LEVELS:
        if severity > 0 and (corruption, severity) not in present:
            continue
        records.append({"method": p.method, "corruption": corruption, "severity": severity,
                        **shift_metrics(group_rows(p, corruption, severity), score)})
    return records


@st.cache_data(show_spinner=False, max_entries=64)
def severity_table(dataset: str, methods: tuple[str, ...], corruption: str,
                   score: str) -> pd.DataFrame:
    """Rows (method, severity 0–5, accuracy, ece, nll, mean_uncertainty, auroc_wrong_vs_right);
    severity 0 is the clean test set."""
    records = [r for m in methods
               for r in severity_records(shift_predictions(dataset, m), corruption, score)]
    return pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))


@st.cache_data(show_spinner="Scoring every corruption…", max_entries=16)
def all_corruptions_table(dataset: str, methods: tuple[str, ...], score: str) -> pd.DataFrame:
    """``severity_table`` of every corruption present, stacked (severity 0 once per corruption)."""
    frames = []
    for m in methods:
        p = shift_predictions(dataset, m)
        frames.extend(severity_records(p, c, score) for c in shift_corruptions(p))
    records = [r for f in frames for r in f]
    return pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))


@st.cache_data(show_spinner=False, max_entries=32)
def corrupted_test_images(dataset: str, corruption: str, severity: int) -> np.ndarray:
    """The test split corrupted exactly as the plan did (seed ``plan.seed + severity``):
    float32 (N, C, H, W)."""
    x = dataset_splits(dataset).test_x
    return corrupt(x, corruption, severity, seed=SHIFT_PLAN.seed + severity).numpy()


@st.cache_resource(show_spinner="Loading the trained networks…", max_entries=8)
def fitted_method(dataset: str, method: str) -> Method:
    """A fitted method (networks read from the disk cache when trained before). Read-only."""
    spec = dataset_spec(dataset)
    return get_method(method, APP_CONFIG).fit(spec, dataset_splits(dataset), default_device(),
                                              data_seed=DATA_SEED)


@st.cache_data(show_spinner=False, max_entries=32)
def rotated_images(dataset: str, index: int) -> np.ndarray:
    """Test image ``index`` rotated by each of ``ROTATION_ANGLES``: float32 (13, C, H, W)."""
    x = dataset_splits(dataset).test_x[index: index + 1]
    return rotate(x.expand(len(ROTATION_ANGLES), *x.shape[1:]),
                  list(map(float, ROTATION_ANGLES))).numpy()


@st.cache_data(show_spinner="Predicting the rotated digit…", max_entries=64)
def rotated_predictions(dataset: str, method: str, index: int, score: str) -> pd.DataFrame:
    """Rows (method, angle, predicted, confidence, uncertainty) for the rotated test image."""
    images = torch.from_numpy(rotated_images(dataset, index))
    out = fitted_method(dataset, method).predict(images, default_device())
    mean = out.probs.mean(axis=0)
    return pd.DataFrame({"method": method, "angle": list(ROTATION_ANGLES),
                         "predicted": mean.argmax(axis=1), "confidence": mean.max(axis=1),
                         "uncertainty": uncertainty(out.probs, score)})
