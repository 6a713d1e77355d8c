"""Runs: train the chosen methods on a dataset and predict on its test, corrupted and OOD sets.

Everything a page shows is computed from the ``Predictions`` this module returns. Predictions
are cached on disk (``.npz``) under a key of dataset, split seed, method configuration, the
evaluation plan and the cache version, so a second visit reads them back in milliseconds.

Each run's predictions carry the networks' logits (S, N, C) and penultimate features (N, D),
and end with a block of **fit rows** (group ``fit``, ``fit_input``): a seeded subset of at most
``EvalPlan.fit_rows`` labelled validation rows — held-out rows the networks never trained
on — on which the feature-space OOD scores fit their class means, feature bank and principal
space (``uqviz.metrics.ood_scores``). Fit rows are never scored: ``Study`` sets them aside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from uqviz.cache import cache_key, cache_root, held_lock, load_npz, save_npz
from uqviz.data import get_dataset
from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.data.ood import load_ood
from uqviz.methods import MethodConfig, get_method
from uqviz.predictions import (
    FIT_GROUP,
    TEST_GROUP,
    Predictions,
    concatenate,
    ood_group,
    shift_group,
)
from uqviz.shifts import CORRUPTIONS, corrupt
from uqviz.training import Progress, no_progress

SEVERITIES = (1, 2, 3, 4, 5)
# Bumped when predictions change for the same config (2: MC-dropout masks seeded per block of
# rows, uqviz.inference.MC_SEED_ROWS; 3: logits and a block of fit rows, issue 24).
PREDICTIONS_VERSION = 3
FIT_ROWS = 2000


@dataclass(frozen=True)
class EvalPlan:
    """Which rows a run predicts on besides the clean test split.

    Attributes:
        corruptions: corruption names applied to the test split (``all`` = every registered
            corruption); each at every severity in ``severities``.
        severities: severities 1–5 to apply.
        ood_sets: out-of-distribution set names; None = every set that applies to the dataset.
        ood_size: rows per OOD set; None = as many as the test split.
        seed: seeds the corruptions, the OOD sets and the choice of fit rows.
        fit_rows: at most this many labelled validation rows predicted as group ``fit``, for
            the feature-space OOD scores to fit on (0: none).
    """

    corruptions: tuple[str, ...] = ("gaussian_noise",)
    severities: tuple[int, ...] = SEVERITIES
    ood_sets: tuple[str, ...] | None = None
    ood_size: int | None = None
    seed: int = 0
    fit_rows: int = FIT_ROWS

    def corruption_names(self) -> tuple[str, ...]:
        names = tuple(CORRUPTIONS) if self.corruptions == ("all",) else self.corruptions
        for name in names:
            if name not in CORRUPTIONS:
                raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
        return names


FULL_PLAN = EvalPlan(corruptions=("all",))


def only_test_rows(plan: EvalPlan) -> EvalPlan:
    """``plan`` on the clean test rows alone: no corruption, no OOD set, no fit rows.

    Its predictions equal the test rows of ``plan``'s bit for bit: each block of rows is
    predicted in a call of its own (``_predict_and_save``), and MC-dropout masks are seeded by
    the row's place in its block (``uqviz.inference.mc_dropout_logits``). A page that needs
    only the clean test rows (the Story's first step) predicts them first (on the default, 449
    of 7,185 rows) and the rest after; they are cached under a key of their own.
    """
    return replace(plan, corruptions=(), ood_sets=(), fit_rows=0)


@dataclass(frozen=True)
class EvalInput:
    """One block of rows to predict on: its group name, images and labels (-1 = unknown)."""

    group: str
    images: torch.Tensor
    labels: np.ndarray


def evaluation_inputs(spec: DatasetSpec, data: DataSplits, plan: EvalPlan) -> list[EvalInput]:
    """The clean test split, each corruption × severity of it, and each OOD set."""
    test_y = data.test_y.numpy()
    blocks = [EvalInput(TEST_GROUP, data.test_x, test_y)]
    for name in plan.corruption_names():
        for severity in plan.severities:
            x = corrupt(data.test_x, name, severity, seed=plan.seed + severity)
            blocks.append(EvalInput(shift_group(name, severity), x, test_y))
    ood_names = spec.ood_sets if plan.ood_sets is None else plan.ood_sets
    n_ood = plan.ood_size or len(test_y)
    for name in ood_names:
        x = load_ood(name, spec, n_ood, plan.seed)
        blocks.append(EvalInput(ood_group(name), x, np.full(len(x), -1, dtype=np.int64)))
    return blocks


def fit_input(data: DataSplits, plan: EvalPlan) -> EvalInput | None:
    """The fit rows: a seeded subset (``plan.seed``) of at most ``plan.fit_rows`` validation
    rows, in their split order, labelled, in group ``fit``; None when ``plan.fit_rows`` is 0 or
    there is no validation split.

    Validation rows are held out from training, so their features spread as test features do
    (a network's training features sit closer to their class means than unseen ones).
    """
    if plan.fit_rows < 0:
        raise ValueError(f"fit_rows must be >= 0, got {plan.fit_rows}")
    n = len(data.val_y)
    if plan.fit_rows == 0 or n == 0:
        return None
    rows = np.arange(n)
    if n > plan.fit_rows:
        rows = np.sort(np.random.default_rng(plan.seed).choice(n, plan.fit_rows, replace=False))
    return EvalInput(FIT_GROUP, data.val_x[torch.from_numpy(rows)], data.val_y.numpy()[rows])


def _to_arrays(p: Predictions) -> dict[str, np.ndarray]:
    arrays = {"probs": p.probs, "labels": p.labels, "group": p.group.astype(str),
              "is_ood": p.is_ood}
    if p.features is not None:
        arrays["features"] = p.features
    if p.logits is not None:
        arrays["logits"] = p.logits
    return arrays


def _from_arrays(arrays: dict[str, np.ndarray], method: str,
                 class_names: tuple[str, ...]) -> Predictions:
    return Predictions(probs=arrays["probs"], labels=arrays["labels"],
                       group=arrays["group"].astype(object), is_ood=arrays["is_ood"],
                       features=arrays.get("features"), method=method,
                       class_names=class_names, logits=arrays.get("logits"))


@dataclass
class RunTimer:
    """Wall-clock seconds spent per method (training and prediction)."""

    seconds: dict[str, float] = field(default_factory=dict)


def predictions_path(spec: DatasetSpec, data_seed: int, method_id: str, config: MethodConfig,
                     plan: EvalPlan, device: torch.device | None = None):
    """Where one method's predictions for this dataset, split, config and plan are cached.

    The key also names what changes the numbers but not the config: bf16 autocast and
    ``torch.compile`` on ``device`` (default: ``default_device()``), and
    ``PREDICTIONS_VERSION``.
    """
    from uqviz.device import compile_requested, default_device, uses_bf16

    device = device or default_device()
    variant = [name for name, on in (("bf16", uses_bf16(device)),
                                     ("compiled", compile_requested())) if on]
    key = cache_key(spec.name, data_seed, method_id, config, plan, PREDICTIONS_VERSION, *variant)
    return cache_root() / "predictions" / f"{key}.npz"


def method_predictions(spec: DatasetSpec, data: DataSplits, method_id: str,
                       config: MethodConfig, plan: EvalPlan, device: torch.device,
                       progress: Progress = no_progress, data_seed: int = 0,
                       inputs: list[EvalInput] | None = None) -> Predictions:
    """Predictions of one method on every evaluation block and the fit rows (``fit_input``,
    last), from the disk cache when present."""
    path = predictions_path(spec, data_seed, method_id, config, plan, device)
    cached = load_npz(path)
    if cached is None:
        with held_lock(path):  # another process computing the same file: wait, then read it
            cached = load_npz(path)
            if cached is None:
                return _predict_and_save(spec, data, method_id, config, plan, device,
                                         progress, data_seed, inputs, path)
    progress(1.0, f"{method_id}: loaded from cache")
    return _from_arrays(cached, method_id, spec.class_names)


def _predict_and_save(spec: DatasetSpec, data: DataSplits, method_id: str,
                      config: MethodConfig, plan: EvalPlan, device: torch.device,
                      progress: Progress, data_seed: int, inputs: list[EvalInput] | None,
                      path: Path) -> Predictions:
    method = get_method(method_id, config)
    method.fit(spec, data, device, lambda f, m: progress(0.8 * f, f"{method_id}: {m}"), data_seed)
    blocks = list(inputs if inputs is not None else evaluation_inputs(spec, data, plan))
    fit = fit_input(data, plan)
    blocks += [fit] if fit is not None else []
    parts = []
    for i, block in enumerate(blocks):
        out = method.predict(block.images, device)
        parts.append(Predictions(out.probs, block.labels, np.full(len(block.labels), block.group,
                                 dtype=object), features=out.features, method=method_id,
                                 class_names=spec.class_names, logits=out.logits))
        progress(0.8 + 0.2 * (i + 1) / len(blocks), f"{method_id}: predicted {block.group}")
    result = concatenate(parts)
    save_npz(path, **_to_arrays(result))
    return result


def run_evaluation(dataset: str | DatasetSpec, methods: list[str], *,
                   config: MethodConfig | None = None, plan: EvalPlan | None = None,
                   device: torch.device | None = None, progress: Progress = no_progress,
                   data_seed: int = 0, data_dir: str | None = None,
                   timer: RunTimer | None = None) -> dict[str, Predictions]:
    """Train (or load) each method and predict on test, corrupted and OOD rows, then on the
    fit rows (group ``fit``, last; ``fit_input``).

    Returns predictions keyed by method id, in the order given.
    """
    from uqviz.device import default_device

    spec = get_dataset(dataset, data_dir) if isinstance(dataset, str) else dataset
    config = config or MethodConfig()
    plan = plan or EvalPlan()
    device = device or default_device()
    data = spec.load(data_seed)
    inputs: list[EvalInput] | None = None
    results: dict[str, Predictions] = {}
    for k, method_id in enumerate(methods):
        def method_progress(f: float, msg: str, k: int = k) -> None:
            progress((k + f) / len(methods), msg)

        cached = predictions_path(spec, data_seed, method_id, config, plan, device).exists()
        if inputs is None and not cached:
            inputs = evaluation_inputs(spec, data, plan)
        start = time.perf_counter()
        results[method_id] = method_predictions(spec, data, method_id, config, plan, device,
                                                method_progress, data_seed, inputs)
        if timer is not None:
            timer.seconds[method_id] = time.perf_counter() - start
    progress(1.0, "done")
    return results

