"""The run behind ``ModelSource``: streams of images, one pass computing every method asked for.

The methods are ``uqviz.methods``' (the one registry): each says which forward passes make its
samples (``Method.passes``), and ``uqviz.methods.network.run_passes`` runs them on the loaded
models (each a ``uqviz.methods.network.Network``), every distinct pass once per batch.

An ``ImageStream`` is a set of images read once (decoded ``batch_size`` at a time from a folder, or
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
from uqviz.labels import method_label
from uqviz.methods import METHODS
from uqviz.methods.network import PLAIN, run_passes, to_probs
from uqviz.methods.temperature import fit_temperature_on_outputs
from uqviz.methods.tta import tta_augmentations
from uqviz.metrics.ood_scores import MahalanobisFit, fit_mahalanobis
from uqviz.user_model.config import MethodSettings, ModelConfig, UserModelError
from uqviz.user_model.images import Batch, ImageSet, iter_batches
from uqviz.user_model.loading import UserModel, first_line

GENERATED = "model:"
Transform = Callable[[torch.Tensor, int], torch.Tensor]
TEMPERATURE = "temperature"
MAHALANOBIS = "mahalanobis"  # the per-row score a run adds (``uqviz.metrics.ood_scores``)
BASE, FEATURES = "base", "feats"  # the first model's plain outputs and features, per batch


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
class ImageStream:
    """Images read once and predicted as one or more groups (not ``uqviz.stream.Stream``, the
    dashboard's incoming stream of predictions).

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
                 groups: tuple[tuple[str, Transform | None], ...], part: str) -> ImageStream:
    return ImageStream(np.asarray(images.files, dtype=str), images.labels,
                  lambda size, share=(0, 1): iter_batches(images, config, size, share), groups,
                  f"{images.root} ({part})")


def corruption(name: str, severity: int, seed: int) -> Transform:
    from uqviz.shifts import corrupt

    return lambda x, k: corrupt(x, name, severity, seed=mix_seed(seed, name, severity, k))


def generated_stream(name: str, n: int, shape: tuple[int, int, int], seed: int) -> ImageStream:
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
    return ImageStream(ids, np.full(n, -1, dtype=np.int64), batches, ((ood_group(name), None),))


def _sample_axis(key: str) -> int:
    """Where rows run in a raw output: a method's samples are (S, N, C), the first model's plain
    outputs and features (N, …)."""
    return 1 if key in METHODS else 0


class _Outputs:
    """What the models gave on one group's rows, batch by batch: ``base`` and ``feats`` (the
    first model's plain pass) and each method's samples stacked (S, N, C)."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, rows: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        self.rows.append(rows)
        for key, value in outputs.items():
            self.parts.setdefault(key, []).append(value)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"rows": np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)}
        for key, parts in self.parts.items():
            out[key] = np.concatenate(parts, axis=_sample_axis(key))
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
        keys = dict.fromkeys(k for p in parts for k in p if k != "rows")
        for key in keys:
            pieces = [p[key] for p in parts if key in p]
            axis = _sample_axis(key)
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
                 calibration: ImageSet, streams: list[ImageStream], root: Path, methods: list[str],
                 mahalanobis: bool, progress: Progress) -> None:
        self.models, self.settings, self.methods = models, settings, methods
        self.config = models[0].config
        self.calibration, self.streams, self.root = calibration, streams, root
        self.mahalanobis, self.progress = mahalanobis, progress
        self.augs = tta_augmentations(self.settings.tta_samples, self.settings.seed,
                                      self.config.flips_preserve_label)
        self.passes = {m: METHODS[m].passes(networks=len(models),
                                            mc_samples=self.settings.mc_samples,
                                            augmentations=self.augs) for m in methods}
        self.warnings: list[str] = []
        self.skipped: dict[str, list[str]] = {}
        self._skipped: dict[str, list[tuple[int, str]]] = {}  # this process's, by batch
        self._part_sizes: dict[str, int] = {}
        self._stream_of: dict[str, ImageStream] = {}
        self._cal_stream: ImageStream | None = None

    # -- one batch -----------------------------------------------------------------------------
    def _outputs(self, x: torch.Tensor, group: str, batch_no: int,
                 needs: set[str]) -> dict[str, np.ndarray]:
        """The first model's plain outputs (``base``) and features (``feats``), and each method
        in ``needs``' samples (S, N, C), on one batch (``run_passes``; MC dropout's masks seeded
        per (seed, group, batch number))."""
        wanted = {m: self.passes[m] for m in self.methods if m in needs}
        networks = [_Guarded(m, group) for m in self.models]
        samples, feats = run_passes(networks, x, {BASE: (PLAIN,), **wanted},
                                    dropout_seed=mix_seed(self.settings.seed, group, batch_no))
        out = {BASE: samples.pop(BASE)[0]}
        if feats is not None:
            out[FEATURES] = feats
        return out | {m: np.stack(v) for m, v in samples.items()}

    # -- streams -------------------------------------------------------------------------------
    def _predict(self, streams: list[ImageStream], needs: set[str], start: float, share_of: float,
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
             ) -> tuple[float | None, MahalanobisFit | None, tuple | None]:
        """The temperature, the Mahalanobis fit, and the fit rows (the calibration part's
        stream and outputs under every method, when there are features), each None when not
        wanted; ``out``: the calibration part's raw outputs."""
        if not self._fitting or out is None:
            return None, None, None
        stream = self._cal_stream
        if not len(out["rows"]):
            raise self._none_read(stream, "calibration")
        self._check_finite("the calibration part", [out[BASE]], stream.ids[out["rows"]],
                           [0])
        labels = self.calibration.labels[out["rows"]]
        wants_t = TEMPERATURE in self.methods
        temperature = fit_temperature_on_outputs(out[BASE], labels, self.config.outputs,
                                                 self.settings.seed) if wants_t else None
        maha = fit_mahalanobis(out[FEATURES], labels) if self.mahalanobis else None
        return temperature, maha, ((stream, out) if self.mahalanobis else None)

    def _none_read(self, stream: ImageStream, part: str) -> UserModelError:
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
        return {m: probs for m, (probs, _) in self.batch_outputs(x, temperature, group).items()}

    def batch_outputs(self, x: torch.Tensor, temperature: float | None, group: str
                      ) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Each method's probabilities and logits (``logits``; None for a model that outputs
        probabilities) on one batch, from the same passes (triage decides on either)."""
        out = self._outputs(x, group, 0, set(self.methods))
        ids = np.asarray([f"{group}/{i}" for i in range(len(x))], dtype=str)
        computed = {}
        for method in self.methods:
            samples = list(out[method])
            self._check_finite(method_label(method), samples, ids, self._networks_of(method))
            computed[method] = (self.probabilities(method, samples, temperature),
                                self.logits(method, samples, temperature))
        return computed

    # -- outputs to predictions ------------------------------------------------------------------
    def _networks_of(self, method: str) -> list[int]:
        """The model (its index) that made each of ``method``'s samples."""
        return [p.network for p in self.passes[method]]

    def probabilities(self, method: str, samples: list[np.ndarray],
                      temperature: float | None) -> np.ndarray:
        """(S, N, C) probabilities of ``method`` from its raw samples: each through its model's
        output kind, divided by the fitted temperature for temperature scaling."""
        t = temperature if method == TEMPERATURE else 1.0
        return np.stack([to_probs(raw, self.models[k].config.outputs, t)
                         for raw, k in zip(samples, self._networks_of(method), strict=True)])

    def logits(self, method: str, samples: list[np.ndarray],
               temperature: float | None) -> np.ndarray | None:
        """float32 (S, N, C) logits of ``method`` (divided by the fitted temperature for
        temperature scaling); None when a model outputs probabilities (module docstring)."""
        if any(self.models[k].config.outputs != "logits" for k in self._networks_of(method)):
            return None
        t = temperature if method == TEMPERATURE else 1.0
        return np.stack([np.asarray(raw, dtype=np.float32) / np.float32(t) for raw in samples])

    def _assemble(self, method: str, results: dict, temperature: float | None,
                  maha: MahalanobisFit | None) -> dict[str, np.ndarray]:
        rows_by_group = {g: out["rows"] for g, (_, out) in results.items()}
        samples = list(np.concatenate([out[method] for _, out in results.values()], axis=1))
        ids = np.concatenate([
            np.asarray([(i if g == TEST_GROUP else f"{g}/{i}") for i in s.ids[rows_by_group[g]]],
                       dtype=str) for g, (s, _) in results.items()])
        self._check_finite(method_label(method), samples, ids, self._networks_of(method))
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
        if all(FEATURES in out for _, out in results.values()):
            features = np.concatenate([out[FEATURES] for _, out in results.values()])
            arrays["features"] = features.astype(np.float32)
            if maha is not None:
                arrays[MAHALANOBIS] = maha.score(features)
        return arrays

    def _check_finite(self, what: str, samples: list[np.ndarray], ids: np.ndarray,
                      networks: list[int]) -> None:
        """One line naming how many rows have NaN or infinite outputs in any sample (and which
        of the two they are), and the model (``networks``: the index of the model that made
        each sample) of the first sample with one."""
        bad_by_sample = [~np.isfinite(raw).all(axis=1) for raw in samples]
        bad = np.logical_or.reduce(bad_by_sample)
        if bad.any():
            k = next(k for k, b in enumerate(bad_by_sample) if b.any())
            name = self.models[networks[k]].name
            has_nan = any(np.isnan(raw[b]).any() for raw, b in zip(samples, bad_by_sample,
                                                                    strict=True))
            has_inf = any(np.isinf(raw[b]).any() for raw, b in zip(samples, bad_by_sample,
                                                                    strict=True))
            kind = "NaN and infinite" if has_nan and has_inf else "NaN" if has_nan else "infinite"
            raise UserModelError(f"{name} gave {kind} outputs for {int(bad.sum())} of {len(bad)} "
                                 f"rows ({what}; first: {ids[np.argmax(bad)]})")


@dataclass(frozen=True, eq=False)
class _Guarded:
    """A loaded model as a ``Network`` whose failures are one ``UserModelError`` line naming
    it and the group, and whose "probabilities" are checked to be probabilities."""

    model: UserModel
    group: str

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def outputs(self) -> str:
        return self.model.config.outputs

    @property
    def device(self) -> torch.device:
        return self.model.device

    def dropout_sampling(self):
        return self.model.dropout_sampling()

    def run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            out, feats = self.model.run(x)
        except UserModelError:
            raise
        except Exception as err:
            raise UserModelError(f"{self.model.name} failed on images of {self.group}: "
                                 f"{first_line(err)}") from None
        if self.outputs == "probabilities":
            _check_probabilities(out, self.model)
        return out, feats


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
