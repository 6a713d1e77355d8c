"""The run behind ``ModelSource``: streams of images, one pass computing every method asked for.

A ``Stream`` is a set of images read once (decoded ``batch_size`` at a time from a folder, or
generated for a built-in OOD set) and predicted as one or more groups: the test part is
predicted clean and under each corruption before the next batch is read. ``Engine.run`` first
reads the calibration part (when temperature scaling or the Mahalanobis score needs fitting),
then every stream, keeping only the models' outputs; it turns them into each method's arrays
(``probs``, ``labels``, ``group``, ``ids``, ``features``, ``logits``, the ``mahalanobis`` score)
at the end.

**Logits and fit rows.** ``logits`` (S, N, C) are the raw outputs of a model whose outputs are
logits (divided by T for temperature scaling; one per sample), and absent for a model that
outputs probabilities (a log-probability is a logit only up to a per-row constant, which
max-logit and energy would read as signal). When the config names a features output and the
folder has labelled calibration images, the calibration part is predicted by every method
asked for, as the test part is, and its rows are appended as group ``fit``
(``uqviz.predictions.FIT_GROUP``): the feature-space OOD scores fit on them and they are never
scored. The calibration part is read anyway (for the temperature and the Mahalanobis score),
so this costs its passes for the sampled methods only (about a third of a clean test pass).

Seeds: corruptions and built-in OOD images are seeded per (seed, name, batch number), MC-dropout
masks per (seed, group, batch number), so results are reproducible for a given batch size.

**On several processes** (``Engine.run(shares)``, ``uqviz.precompute.FabricShares``): batch k
of every stream (the calibration part too) is read and predicted by rank ``k % world`` only;
each rank's raw outputs go to rank 0 (``Shares.gather``), which puts the rows back in order
(``merge_shares``: by row, so as one process has them), fits the temperature and the
Mahalanobis score and assembles every method. A batch holds the same files and the same seeds
whatever the number of processes, so the predictions are the same arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from uqviz.predictions import FIT_GROUP, TEST_GROUP, ood_group
from uqviz.training import Progress
from uqviz.user_model.config import ModelConfig, UserModelError
from uqviz.user_model.images import Batch, ImageSet, iter_batches
from uqviz.user_model.loading import UserModel, first_line
from uqviz.user_model.methods import (
    ENSEMBLE,
    MAHALANOBIS,
    MC_DROPOUT,
    TEMPERATURE,
    TTA,
    USER_METHOD_LABELS,
    Mahalanobis,
    MethodSettings,
    augment,
    fit_temperature_on,
    to_probs,
    tta_augmentations,
)

GENERATED = "model:"
Transform = Callable[[torch.Tensor, int], torch.Tensor]
SAMPLE_AXIS_KEYS = ("members", "tta", "mc")  # raw outputs stacked (samples, rows, …)


class Shares(Protocol):
    """The processes a run is split over: this one's ``rank`` among ``world``."""

    rank: int
    world: int

    def gather(self, value: Any) -> list | None:
        """Every rank's ``value`` in rank order on rank 0; None on the others."""

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""


@dataclass(frozen=True)
class Alone:
    """One process: the whole run (``Shares`` of world 1)."""

    rank: int = 0
    world: int = 1

    def gather(self, value: Any) -> list:
        return [value]

    def broadcast(self, value: Any) -> Any:
        return value


ALONE = Alone()


def mix_seed(*parts: Any) -> int:
    """A 56-bit seed from any parts (stable across runs and platforms)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:7], "big")


@dataclass(frozen=True, eq=False)
class Stream:
    """Images read once and predicted as one or more groups.

    Attributes:
        ids: str (n,) each image's id (its path relative to its folder, or its number).
        labels: int64 (n,).
        batches: ``batches(batch_size, share=(0, 1))`` yields the decoded ``Batch`` es (of one
            process's share: those numbered k with ``k % world == rank``).
        groups: (group name, transform of a batch and its number, or None) per group.
        part: what the images are (``test part of DIR``), for the warnings; empty for
            generated images.
    """

    ids: np.ndarray
    labels: np.ndarray
    batches: Callable[..., Iterator[Batch]]
    groups: tuple[tuple[str, Transform | None], ...]
    part: str = ""


def image_stream(images: ImageSet, config: ModelConfig,
                 groups: tuple[tuple[str, Transform | None], ...], part: str) -> Stream:
    return Stream(np.asarray(images.files, dtype=str), images.labels,
                  lambda size, share=(0, 1): iter_batches(images, config, size, share), groups,
                  f"{images.root} ({part})")


def corruption(name: str, severity: int, seed: int) -> Transform:
    from uqviz.shifts import corrupt

    return lambda x, k: corrupt(x, name, severity, seed=mix_seed(seed, name, severity, k))


def generated_stream(name: str, n: int, shape: tuple[int, int, int], seed: int) -> Stream:
    """``n`` images of the built-in OOD set ``name``, made batch by batch (seeded per batch)."""
    from uqviz.data.base import DatasetSpec
    from uqviz.data.ood import load_ood

    spec = DatasetSpec(name=GENERATED, num_classes=2, class_names=("", ""),
                       input_shape=shape, source="your model", description="", load=None)

    def batches(size: int, share: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        rank, world = share
        for start in range(rank * size, n, world * size):
            k, rows = start // size, np.arange(start, min(n, start + size))
            yield Batch(rows, load_ood(name, spec, len(rows), mix_seed(seed, name, k)), (), k)

    ids = np.asarray([str(i) for i in range(n)], dtype=str)
    return Stream(ids, np.full(n, -1, dtype=np.int64), batches, ((ood_group(name), None),))


class _Outputs:
    """What the models gave on one group's rows, batch by batch."""

    KEYS = ("base", "feats", "members", "tta", "mc")

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in self.KEYS}

    def add(self, rows: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        self.rows.append(rows)
        for key, value in outputs.items():
            self.parts[key].append(value)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"rows": np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)}
        for key, parts in self.parts.items():
            if parts:
                out[key] = np.concatenate(parts, axis=1 if key in SAMPLE_AXIS_KEYS else 0)
        return out


def merge_shares(shares: list[dict]) -> tuple[dict[str, dict[str, np.ndarray]],
                                              dict[str, list[str]]]:
    """The raw outputs of every rank (``Engine.predict_share``'s) as one process has them:
    per group, the rows of all ranks sorted by row (each row is predicted by one rank), and per
    part the unreadable files in batch order."""
    groups = {}
    for group in shares[0]["groups"]:
        parts = [share["groups"][group] for share in shares]
        rows = np.concatenate([p["rows"] for p in parts])
        order = np.argsort(rows, kind="stable")
        merged = {"rows": rows[order]}
        for key in _Outputs.KEYS:
            pieces = [p[key] for p in parts if key in p]
            if pieces:
                axis = 1 if key in SAMPLE_AXIS_KEYS else 0
                merged[key] = np.take(np.concatenate(pieces, axis=axis), order, axis=axis)
        groups[group] = merged
    skipped = {}
    for part in shares[0]["skipped"]:
        pairs = sorted((pair for share in shares for pair in share["skipped"][part]),
                       key=lambda pair: pair[0])
        skipped[part] = [reason for _, reason in pairs]
    return groups, skipped


def skip_warning(part: str, reasons: list[str], total: int) -> str:
    """``DIR (test part): skipped 1 unreadable image of 40 (first: cat/3.png: …)``."""
    s = "s" if len(reasons) > 1 else ""
    return f"{part}: skipped {len(reasons)} unreadable image{s} of {total} (first: {reasons[0]})"


class Engine:
    """One run over the images computing every method asked for (see the module docstring).

    Args:
        models: the loaded models; the first makes every method's outputs but the ensemble's.
        settings: ``MethodSettings``.
        calibration: the labelled calibration images.
        streams: what to predict, in the order of the groups.
        root: the image folder, for messages.
        methods: the methods to compute.
        mahalanobis: features and labelled calibration images exist: fit the Mahalanobis
            score on the calibration features and keep the calibration part, predicted by
            every method, as the fit rows (group ``fit``).
        progress: called with the fraction done and a message.
    """

    def __init__(self, models: tuple[UserModel, ...], settings: MethodSettings,
                 calibration: ImageSet, streams: list[Stream], root: Path, methods: list[str],
                 mahalanobis: bool, progress: Progress) -> None:
        self.models, self.settings, self.methods = models, settings, methods
        self.config = models[0].config
        self.calibration, self.streams, self.root = calibration, streams, root
        self.mahalanobis, self.progress = mahalanobis, progress
        self.augs = tta_augmentations(self.settings.tta_samples, self.settings.seed,
                                      self.config.flips_preserve_label)
        self.warnings: list[str] = []
        self.skipped: dict[str, list[str]] = {}
        self._skipped: dict[str, list[tuple[int, str]]] = {}  # this process's, by batch
        self._part_sizes: dict[str, int] = {}
        self._stream_of: dict[str, Stream] = {}
        self._cal_stream: Stream | None = None

    # -- one batch -----------------------------------------------------------------------------
    def _run(self, model: UserModel, x: torch.Tensor,
             group: str) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            out, feats = model.run(x)
        except UserModelError:
            raise
        except Exception as err:
            raise UserModelError(f"{model.name} failed on images of {group}: "
                                 f"{first_line(err)}") from None
        if model.config.outputs == "probabilities":
            _check_probabilities(out, model)
        return out, feats

    def _outputs(self, x: torch.Tensor, group: str, batch_no: int,
                 needs: set[str]) -> dict[str, np.ndarray]:
        first = self.models[0]
        base, feats = self._run(first, x, group)
        out = {"base": base} if feats is None else {"base": base, "feats": feats}
        if ENSEMBLE in needs:
            out["members"] = np.stack([self._run(m, x, group)[0] for m in self.models[1:]])
        if TTA in needs:
            out["tta"] = np.stack([self._run(first, augment(x, a), group)[0]
                                   for a in self.augs[1:]])
        if MC_DROPOUT in needs:
            devices = [first.device] if first.device.type == "cuda" else []
            with first.dropout_sampling(), torch.random.fork_rng(devices=devices):
                torch.manual_seed(mix_seed(self.settings.seed, group, batch_no))
                out["mc"] = np.stack([self._run(first, x, group)[0]
                                      for _ in range(self.settings.mc_samples)])
        return out

    # -- streams -------------------------------------------------------------------------------
    def _predict(self, streams: list[Stream], needs: set[str], start: float, share_of: float,
                 share: tuple[int, int]) -> dict[str, dict[str, np.ndarray]]:
        """Raw outputs per group of this process's batches of ``streams``; the unreadable files
        go to ``self._skipped[part]`` as (batch number, reason)."""
        total = sum(len(s.ids) * len(s.groups) for s in streams) / share[1] or 1
        done = 0
        results: dict[str, _Outputs] = {}
        for stream in streams:
            for group, _ in stream.groups:
                results[group] = _Outputs()
                self._stream_of[group] = stream
            self._skipped.setdefault(stream.part, [])
            self._part_sizes[stream.part] = len(stream.ids)
            for batch in stream.batches(self.settings.batch_size, share):
                k = batch.number
                self._skipped[stream.part] += [(k, reason) for reason in batch.skipped]
                for group, transform in stream.groups:
                    if len(batch.rows):
                        x = batch.images if transform is None else transform(batch.images, k)
                        results[group].add(batch.rows, self._outputs(x, group, k, needs))
                    done += len(batch.rows) + len(batch.skipped)
                    self.progress(start + share_of * min(done / total, 1.0),
                                  f"predicting {group}")
        return {g: o.arrays() for g, o in results.items()}

    @property
    def _fitting(self) -> bool:
        """The calibration part is read: to fit the temperature or the Mahalanobis score."""
        return TEMPERATURE in self.methods or self.mahalanobis

    def predict_share(self, share: tuple[int, int] = (0, 1)) -> dict:
        """This process's share of the run (batches k with ``k % world == rank`` of the
        calibration part, when fitting, and of every stream): ``{"groups": {group: raw
        outputs}, "skipped": {part: [(batch number, reason)]}}``, plain arrays to gather."""
        self._skipped, self._part_sizes, self._stream_of = {}, {}, {}
        groups = {}
        start = 0.0
        if self._fitting:
            self._cal_stream = image_stream(self.calibration, self.config, ((FIT_GROUP, None),),
                                            "calibration part")
            needs = set(self.methods) if self.mahalanobis else set()
            groups |= self._predict([self._cal_stream], needs, 0.0, 0.25, share)
            start = 0.25
        groups |= self._predict(self.streams, set(self.methods), start, 1.0 - start, share)
        return {"groups": groups, "skipped": self._skipped}

    def _fit(self, out: dict[str, np.ndarray] | None
             ) -> tuple[float | None, Mahalanobis | None, tuple | None]:
        """The temperature, the Mahalanobis fit, and the fit rows (the calibration part's
        stream and outputs under every method, when there are features), each None when not
        wanted; ``out``: the calibration part's raw outputs."""
        if not self._fitting or out is None:
            return None, None, None
        stream = self._cal_stream
        if not len(out["rows"]):
            raise self._none_read(stream, "calibration")
        self._check_finite("the calibration part", [out["base"]], stream.ids[out["rows"]],
                           self.models[0])
        labels = self.calibration.labels[out["rows"]]
        wants_t = TEMPERATURE in self.methods
        temperature = fit_temperature_on(out["base"], labels, self.config.outputs,
                                         self.settings.seed) if wants_t else None
        maha = Mahalanobis.fit(out["feats"], labels) if self.mahalanobis else None
        return temperature, maha, ((stream, out) if self.mahalanobis else None)

    def _none_read(self, stream: Stream, part: str) -> UserModelError:
        return UserModelError(f"{self.root}: none of the {len(stream.ids)} {part} "
                              f"images could be read (first: {self.skipped[stream.part][0]})")

    def run(self, shares: Shares = ALONE
            ) -> tuple[dict[str, dict[str, np.ndarray]], UserModelError | None] | None:
        """Every method's arrays, and the first method that failed (or None); on several
        processes (``shares``), on rank 0 only (None on the others).

        Raises:
            UserModelError: a model failing, or no image of a part read (on rank 0, whichever
                rank met it).
        """
        try:
            mine = self.predict_share((shares.rank, shares.world))
        except UserModelError as err:  # sent to rank 0, which raises it: no rank waits
            mine = {"error": str(err)}
        gathered = shares.gather(mine)
        if gathered is None:
            return None
        errors = [g["error"] for g in gathered if "error" in g]
        if errors:
            raise UserModelError(errors[0])
        groups, skipped = merge_shares(gathered)
        return self.finish(groups, skipped)

    def finish(self, groups: dict[str, dict[str, np.ndarray]], skipped: dict[str, list[str]]
               ) -> tuple[dict[str, dict[str, np.ndarray]], UserModelError | None]:
        """Every method's arrays from the raw outputs of the whole run (``merge_shares``)."""
        self.skipped = {part: reasons for part, reasons in skipped.items() if reasons}
        self.warnings = [skip_warning(part, reasons, self._part_sizes[part])
                         for part, reasons in self.skipped.items()]
        temperature, maha, fit_rows = self._fit(groups.pop(FIT_GROUP, None))
        results = {g: (self._stream_of[g], out) for g, out in groups.items()}
        test_stream, test_out = results[TEST_GROUP]
        if not len(test_out["rows"]):
            raise self._none_read(test_stream, "test")
        if fit_rows is not None:
            results[FIT_GROUP] = fit_rows  # last: the fit rows, never scored
        results = {g: v for g, v in results.items() if len(v[1]["rows"])}
        computed: dict[str, dict[str, np.ndarray]] = {}
        failure = None
        for method in self.methods:
            try:
                computed[method] = self._assemble(method, results, temperature, maha)
            except UserModelError as err:
                failure = failure or err
        return computed, failure

    def predict_batch(self, x: torch.Tensor, temperature: float | None,
                      group: str = "your images") -> dict[str, np.ndarray]:
        """Each method's probabilities (S, N, C) on one batch of images (N, C, H, W) in
        [0, 1] at the model's input size (single pictures: the Your images page).

        Raises:
            UserModelError: the model fails, or gives NaN or infinite outputs (one line).
        """
        out = self._outputs(x, group, 0, set(self.methods))
        ids = np.asarray([f"{group}/{i}" for i in range(len(x))], dtype=str)
        computed = {}
        for method in self.methods:
            samples = self._samples(method, out)
            self._check_finite(USER_METHOD_LABELS[method], samples, ids,
                               None if method == ENSEMBLE else self.models[0])
            computed[method] = self.probabilities(method, samples, temperature)
        return computed

    # -- outputs to predictions ------------------------------------------------------------------
    def probabilities(self, method: str, samples: list[np.ndarray],
                      temperature: float | None) -> np.ndarray:
        """(S, N, C) probabilities of ``method`` from its raw samples (``_samples``): each
        through its model's output kind, divided by the fitted temperature for temperature
        scaling."""
        models = self.models if method == ENSEMBLE else [self.models[0]] * len(samples)
        t = temperature if method == TEMPERATURE else 1.0
        return np.stack([to_probs(raw, m.config.outputs, t)
                         for raw, m in zip(samples, models, strict=True)])

    def logits(self, method: str, samples: list[np.ndarray],
               temperature: float | None) -> np.ndarray | None:
        """float32 (S, N, C) logits of ``method`` (divided by the fitted temperature for
        temperature scaling); None when a model outputs probabilities (module docstring)."""
        models = self.models if method == ENSEMBLE else [self.models[0]]
        if any(m.config.outputs != "logits" for m in models):
            return None
        t = temperature if method == TEMPERATURE else 1.0
        return np.stack([np.asarray(raw, dtype=np.float32) / np.float32(t) for raw in samples])

    def _samples(self, method: str, out: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Raw outputs (N, C) per sample of ``method``, each with the model that made it."""
        if method == ENSEMBLE:
            return [out["base"], *out["members"]]
        if method == TTA:
            return [out["base"], *out["tta"]]
        if method == MC_DROPOUT:
            return list(out["mc"])
        return [out["base"]]

    def _assemble(self, method: str, results: dict, temperature: float | None,
                  maha: Mahalanobis | None) -> dict[str, np.ndarray]:
        rows_by_group = {g: out["rows"] for g, (_, out) in results.items()}
        samples = [np.concatenate(parts) for parts in zip(
            *(self._samples(method, out) for _, out in results.values()), strict=True)]
        ids = np.concatenate([
            np.asarray([(i if g == TEST_GROUP else f"{g}/{i}") for i in s.ids[rows_by_group[g]]],
                       dtype=str) for g, (s, _) in results.items()])
        self._check_finite(USER_METHOD_LABELS[method], samples, ids,
                           None if method == ENSEMBLE else self.models[0])
        probs = self.probabilities(method, samples, temperature)
        logits = self.logits(method, samples, temperature)
        arrays = {
            "probs": probs,
            "labels": np.concatenate([s.labels[rows_by_group[g]] for g, (s, _) in results.items()]),
            "group": np.concatenate([np.asarray([g] * len(r), dtype=str)
                                     for g, r in rows_by_group.items()]),
            "ids": ids,
            "warnings": np.asarray(self.warnings, dtype=str).reshape(-1),
            "temperature": np.asarray(np.nan if temperature is None else temperature),
        }
        if logits is not None:
            arrays["logits"] = logits
        if all("feats" in out for _, out in results.values()):
            features = np.concatenate([out["feats"] for _, out in results.values()])
            arrays["features"] = features.astype(np.float32)
            if maha is not None:
                arrays[MAHALANOBIS] = maha.score(features)
        return arrays

    def _check_finite(self, what: str, samples: list[np.ndarray], ids: np.ndarray,
                      model: UserModel | None) -> None:
        """One line naming how many rows have NaN or infinite outputs in any sample (and which
        of the two they are); the model is ``model``, or the k-th model for the first sample k
        with one (an ensemble)."""
        bad_by_sample = [~np.isfinite(raw).all(axis=1) for raw in samples]
        bad = np.logical_or.reduce(bad_by_sample)
        if bad.any():
            k = next(k for k, b in enumerate(bad_by_sample) if b.any())
            name = (model or self.models[k]).name
            has_nan = any(np.isnan(raw[b]).any() for raw, b in zip(samples, bad_by_sample,
                                                                    strict=True))
            has_inf = any(np.isinf(raw[b]).any() for raw, b in zip(samples, bad_by_sample,
                                                                    strict=True))
            kind = "NaN and infinite" if has_nan and has_inf else "NaN" if has_nan else "infinite"
            raise UserModelError(f"{name} gave {kind} outputs for {int(bad.sum())} of {len(bad)} "
                                 f"rows ({what}; first: {ids[np.argmax(bad)]})")


def _check_probabilities(out: np.ndarray, model: UserModel) -> None:
    finite = out[np.isfinite(out).all(axis=1)]
    if not len(finite):
        return
    sums = finite.sum(axis=1)
    worst = float(sums[np.argmax(np.abs(sums - 1.0))])
    if finite.min() < -1e-3 or abs(worst - 1.0) > 1e-3:
        raise UserModelError(f"{model.name}: outputs are not probabilities (a row sums to "
                             f"{worst:.4g}); set \"outputs\": \"logits\" in "
                             f"{model.config.source}")
