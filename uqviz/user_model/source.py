"""``ModelSource``: a user's model files and image folders as a source of the dashboard.

It has the interface of ``uqviz.sources.TrainedSource`` (``key``, ``label``, ``methods``,
``has_images``, ``missing``, ``predictions``, ``test_images``) and predicts, per method, on:

* ``test``: the test part of the user's labelled folder (or the whole unlabelled folder);
* ``<corruption>:<severity>``: the plan's corruptions (``uqviz.shifts.corrupt``) applied to the
  test images at the model's resolution, in [0, 1], before mean/std normalisation;
* ``ood:<folder name>``: the user's OOD folder, when given;
* ``ood:<set>``: the built-in OOD sets (``uqviz.data.ood``) generated at the model's input
  shape.

**One read of the images.** Images are decoded ``batch_size`` at a time; each batch is
predicted clean and under every corruption, by every method asked for, before the next is read.
Memory holds one batch of pixels and the outputs (S × N × C floats per method), never the
folder. The calibration part is read once more first when temperature scaling or the
Mahalanobis score needs fitting.

**Cache.** Each method's predictions are stored (``uqviz.cache``) under a key of the model
files' bytes (SHA-256), their configs, the folders' listings (names, sizes, modification
times), the plan, the settings and the device type. Methods are saved as soon as they are
computed, so a failure in one (say NaN outputs) loses nothing already computed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uqviz.cache import cache_key, cache_root, load_npz, save_npz
from uqviz.predictions import TEST_GROUP, Predictions, ood_group, shift_group
from uqviz.runs import EvalPlan
from uqviz.training import Progress, no_progress
from uqviz.user_model.config import ModelConfig, UserModelError, ensemble_configs
from uqviz.user_model.images import (
    Batch,
    ImageSet,
    iter_batches,
    load_images,
    scan_folder,
    split_calibration,
)
from uqviz.user_model.loading import UserModel, first_line, load_model
from uqviz.user_model.methods import (
    ENSEMBLE,
    MAHALANOBIS,
    MC_DROPOUT,
    TEMPERATURE,
    TTA,
    USER_METHOD_LABELS,
    USER_METHODS,
    Mahalanobis,
    MethodSettings,
    augment,
    fit_temperature_on,
    to_probs,
    tta_augmentations,
)

MODEL_PREFIX = "model:"
USER_PLAN = EvalPlan(corruptions=("gaussian_noise",))
USER_PREDICTIONS_VERSION = 1
Transform = Callable[[torch.Tensor, int], torch.Tensor]


def _mix(*parts: Any) -> int:
    """A 56-bit seed from any parts (stable across runs and platforms)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:7], "big")


def _folder(path: str | Path) -> str:
    """A folder path as given, without a ``folder:`` prefix."""
    return str(path).removeprefix("folder:")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Stream:
    """Images read once and predicted as one or more groups.

    Attributes:
        ids: str (n,) each image's id (its path relative to its folder, or its number).
        labels: int64 (n,).
        batches: ``batches(batch_size)`` yields the decoded ``Batch`` es.
        groups: (group name, transform of a batch and its number, or None) per group.
        part: what the images are (``test part of DIR``), for the warnings; empty for
            generated images.
    """

    ids: np.ndarray
    labels: np.ndarray
    batches: Callable[[int], Iterator[Batch]]
    groups: tuple[tuple[str, Transform | None], ...]
    part: str = ""


def _image_stream(images: ImageSet, config: ModelConfig,
                  groups: tuple[tuple[str, Transform | None], ...], part: str) -> Stream:
    return Stream(np.asarray(images.files, dtype=str), images.labels,
                  lambda size: iter_batches(images, config, size), groups,
                  f"{images.root} ({part})")


def _corruption(name: str, severity: int, seed: int) -> Transform:
    from uqviz.shifts import corrupt

    return lambda x, k: corrupt(x, name, severity, seed=_mix(seed, name, severity, k))


def _generated_stream(name: str, n: int, shape: tuple[int, int, int], seed: int) -> Stream:
    """``n`` images of the built-in OOD set ``name``, made batch by batch (seeded per batch)."""
    from uqviz.data.base import DatasetSpec
    from uqviz.data.ood import load_ood

    spec = DatasetSpec(name=MODEL_PREFIX, num_classes=2, class_names=("", ""),
                       input_shape=shape, source="your model", description="", load=None)

    def batches(size: int) -> Iterator[Batch]:
        for k, start in enumerate(range(0, n, size)):
            rows = np.arange(start, min(n, start + size))
            yield Batch(rows, load_ood(name, spec, len(rows), _mix(seed, name, k)), ())

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
        axis = {"members": 1, "tta": 1, "mc": 1}
        out = {"rows": np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)}
        for key, parts in self.parts.items():
            if parts:
                out[key] = np.concatenate(parts, axis=axis.get(key, 0))
        return out


@dataclass(frozen=True)
class UserRun:
    """Predictions of a user's model and what happened on the way.

    Attributes:
        predictions: method id -> ``Predictions``, in the order asked.
        warnings: one line each (unreadable images skipped).
        sizes: images per part: calibration, test, ood (files found, before skipping).
        temperature: the fitted temperature when temperature scaling ran, else None.
    """

    predictions: dict[str, Predictions]
    warnings: tuple[str, ...]
    sizes: dict[str, int]
    temperature: float | None = None


class PartialResults(UserModelError):
    """A method failed (one-line message); ``predictions`` holds the methods that did not (they
    are cached too)."""

    def __init__(self, message: str, predictions: dict[str, Predictions]) -> None:
        super().__init__(message)
        self.predictions = predictions


@dataclass(frozen=True)
class ModelSource:
    """A user's model file(s), image folder and optional OOD folder, as a dashboard source.

    Build it with ``ModelSource.create`` (reads and checks the configs). Models and folders are
    read on first use and kept.

    Attributes:
        models: paths of the model files (several: an ensemble of checkpoints).
        data: the image folder (class sub-folders, or none for unlabelled images).
        configs: one ``ModelConfig`` per model (same classes, input size and channels).
        ood: an out-of-distribution image folder, or None.
        plan: corruptions × severities of the test images and the built-in OOD sets
            (``ood_sets`` None: uniform noise, Gaussian noise and photo patches; ``ood_size``
            None: as many as the test part).
        settings: the methods' settings (samples, seed, split, batch size).
    """

    models: tuple[str, ...]
    data: str
    configs: tuple[ModelConfig, ...]
    ood: str | None = None
    plan: EvalPlan = USER_PLAN
    settings: MethodSettings = field(default_factory=MethodSettings)

    has_images = True

    @classmethod
    def create(cls, models: list[str | Path], data: str | Path, *, ood: str | Path | None = None,
               config: str | Path | None = None, plan: EvalPlan = USER_PLAN,
               settings: MethodSettings | None = None, **overrides: Any) -> ModelSource:
        """Read and check the configs now (one-line ``UserModelError``).

        Args:
            models: model file paths.
            data: image folder; a ``folder:`` prefix is accepted.
            ood: OOD image folder (``folder:`` prefix accepted).
            config: a config file for every model; None reads each model's sidecar.
            plan: see the class.
            settings: see the class.
            **overrides: config keys that win over the files (``input_size``, ``classes`` …).
        """
        if not models:
            raise UserModelError("give at least one model file")
        paths = tuple(str(Path(m).expanduser().resolve()) for m in models)
        for path in paths:
            if not Path(path).is_file():
                raise UserModelError(f"{path}: no such file")
        plan.corruption_names()  # validates
        configs = ensemble_configs(list(paths), config, **overrides)
        return cls(paths, _folder(data), configs, None if ood is None else _folder(ood), plan,
                   settings or MethodSettings())

    def with_plan(self, plan: EvalPlan) -> ModelSource:
        """The same model and images predicted on other rows (e.g. every corruption)."""
        return replace(self, plan=plan)

    # -- what it is ----------------------------------------------------------------------------
    @property
    def config(self) -> ModelConfig:
        return self.configs[0]

    @property
    def name(self) -> str:
        first = Path(self.models[0]).name
        return first if len(self.models) == 1 else f"{first}+{len(self.models) - 1}"

    @cached_property
    def fingerprint(self) -> str:
        """20 hex digits of the models' bytes, configs, folders, plan, settings, device."""
        from uqviz.device import default_device

        ood = self.ood_images_set.fingerprint() if self.ood else None
        return cache_key("user_model", [file_digest(Path(p)) for p in self.models],
                         [{**c.__dict__, "source": None} for c in self.configs],
                         self.images.fingerprint(), ood, self.plan, self.settings,
                         default_device().type, USER_PREDICTIONS_VERSION)

    @property
    def key(self) -> str:
        return f"{MODEL_PREFIX}{self.name}#{self.fingerprint[:8]}"

    @property
    def label(self) -> str:
        return f"{self.name} on {Path(self.data).name} (your model)"

    # -- images --------------------------------------------------------------------------------
    @cached_property
    def images(self) -> ImageSet:
        return scan_folder(self.data, self.config.classes)

    @cached_property
    def split(self):
        """The calibration and test parts (``uqviz.user_model.images.Split``)."""
        return split_calibration(self.images, self.settings.cal_fraction, self.settings.seed)

    @cached_property
    def ood_images_set(self) -> ImageSet | None:
        return None if self.ood is None else scan_folder(self.ood)

    @property
    def sizes(self) -> dict[str, int]:
        ood = len(self.ood_images_set) if self.ood else 0
        return {**self.split.sizes, "ood": ood}

    def test_images(self, rows: np.ndarray | None = None) -> np.ndarray:
        """float32 (N, C, H, W) in [0, 1] of the readable test images (of ``rows``, indices
        into the test files, when given), in the order of the ``test`` rows."""
        return load_images(self.split.test, self.config, rows).numpy()

    def ood_images(self, group: str) -> np.ndarray:
        """(N, C, H, W) in [0, 1] of an ``ood:<name>`` group, as the predictions saw them."""
        if self.ood and group == self._user_ood_group:
            return load_images(self.ood_images_set, self.config).numpy()
        stream = self._builtin_streams().get(group)
        if stream is None:
            raise ValueError(f"{self.label} has no OOD group {group!r}")
        return torch.cat([b.images for b in stream.batches(self.settings.batch_size)]).numpy()

    @property
    def _user_ood_group(self) -> str:
        return ood_group(Path(self.ood).name) if self.ood else ""

    def _builtin_streams(self) -> dict[str, Stream]:
        from uqviz.data.ood import BASIC_OOD_SETS

        names = BASIC_OOD_SETS if self.plan.ood_sets is None else self.plan.ood_sets
        n = self.plan.ood_size or len(self.split.test)
        return {ood_group(name): _generated_stream(name, n, self.config.input_shape,
                                                   self.plan.seed) for name in names}

    def _streams(self) -> list[Stream]:
        variants: list[tuple[str, Transform | None]] = [(TEST_GROUP, None)]
        for name in self.plan.corruption_names():
            for severity in self.plan.severities:
                variants.append((shift_group(name, severity),
                                 _corruption(name, severity, self.plan.seed)))
        streams = [_image_stream(self.split.test, self.config, tuple(variants), "test part")]
        if self.ood:
            streams.append(_image_stream(self.ood_images_set, self.config,
                                         ((self._user_ood_group, None),), "OOD images"))
        return streams + list(self._builtin_streams().values())

    # -- methods -------------------------------------------------------------------------------
    @cached_property
    def loaded(self) -> tuple[UserModel, ...]:
        """The model files loaded and probed (one-line ``UserModelError`` on a bad one)."""
        return tuple(load_model(p, c, bf16=self.settings.bf16)
                     for p, c in zip(self.models, self.configs, strict=True))

    def why_not(self, method: str) -> str | None:
        """Why ``method`` does not apply to this model and these images (a sentence), or None
        when it does."""
        if method not in USER_METHODS:
            return f"unknown method {method!r}; valid: {', '.join(USER_METHODS)}"
        if method == TEMPERATURE and not len(self.split.calibration):
            return (f"Temperature scaling needs labelled calibration images to fit on, and "
                    f"{self._why_no_calibration()}")
        if method == TTA and self.settings.tta_samples < 2:
            return "Test-time augmentation needs 2 or more samples (tta_samples)"
        if method == MC_DROPOUT:
            return self.loaded[0].why_no_dropout()
        if method == ENSEMBLE and len(self.models) < 2:
            return (f"An ensemble needs two or more model files with the same classes; "
                    f"only {self.name} was given")
        return None

    def _why_no_calibration(self) -> str:
        if not self.images.labelled:
            return f"{self.images.root} has no class sub-folders (its images are unlabelled)"
        return (f"no class of {self.images.root} has enough images to set some aside "
                f"(calibration fraction {self.settings.cal_fraction})")

    def why_no_mahalanobis(self) -> str | None:
        """Why the Mahalanobis OOD score is not computed, or None when it is."""
        if self.config.features_output is None:
            return (f"The Mahalanobis score needs the model's penultimate features: set "
                    f"\"features_output\" in {self.config.source}")
        if len(self.split.calibration) < 2:
            return ("The Mahalanobis score needs labelled calibration images to fit class "
                    f"means on, and {self._why_no_calibration()}")
        return None

    @property
    def methods(self) -> list[str]:
        """The methods that apply, in registry order (the models are loaded, then the folders
        read, so a bad model is reported first)."""
        _ = self.loaded
        return [m for m in USER_METHODS if self.why_not(m) is None]

    def _path(self, method: str) -> Path:
        return cache_root() / "user_model" / f"{cache_key(self.fingerprint, method)}.npz"

    def missing(self, methods: list[str]) -> list[str]:
        """Methods whose predictions are not yet in the disk cache."""
        return [m for m in methods if not self._path(m).exists()]

    def predictions(self, methods: list[str],
                    progress: Progress = no_progress) -> dict[str, Predictions]:
        """Each method's predictions, computing (and caching) those not cached."""
        return self.run(methods, progress).predictions

    def run(self, methods: list[str], progress: Progress = no_progress) -> UserRun:
        """Predictions plus warnings, split sizes and the fitted temperature.

        Raises:
            UserModelError: a method that does not apply, a bad model, image or output (one
                line); ``PartialResults`` when some methods were computed before one failed.
        """
        for method in methods:
            why = self.why_not(method)
            if why:
                raise UserModelError(why)
        stored = {m: load_npz(self._path(m)) for m in methods}
        todo = [m for m in methods if stored[m] is None]
        failure: UserModelError | None = None
        if todo:
            computed, failure = _Engine(self, todo, progress).run()
            for method, arrays in computed.items():
                save_npz(self._path(method), **arrays)
                stored[method] = arrays
        done = {m: a for m, a in stored.items() if a is not None}
        predictions = {m: self._from_arrays(m, a) for m, a in done.items()}
        if failure is not None:
            raise PartialResults(str(failure), predictions)
        progress(1.0, "done")
        warnings = dict.fromkeys(w for a in done.values() for w in a["warnings"].tolist())
        temperature = done[TEMPERATURE]["temperature"].item() if TEMPERATURE in done else None
        return UserRun(predictions, tuple(warnings), self.sizes, temperature)

    def _from_arrays(self, method: str, arrays: dict[str, np.ndarray]) -> Predictions:
        scores = {MAHALANOBIS: arrays[MAHALANOBIS]} if MAHALANOBIS in arrays else {}
        return Predictions(arrays["probs"], arrays["labels"], arrays["group"].astype(object),
                           features=arrays.get("features"), scores=scores, method=method,
                           class_names=self.config.classes, ids=arrays["ids"].astype(object))


def _skip_warning(part: str, reasons: list[str], total: int) -> str:
    """``DIR (test part): skipped 1 unreadable image of 40 (first: cat/3.png: …)``."""
    s = "s" if len(reasons) > 1 else ""
    return f"{part}: skipped {len(reasons)} unreadable image{s} of {total} (first: {reasons[0]})"


class _Engine:
    """One run over the images computing every method asked for (see the module docstring)."""

    def __init__(self, source: ModelSource, methods: list[str], progress: Progress) -> None:
        self.source, self.methods, self.progress = source, methods, progress
        self.models = source.loaded
        self.settings = source.settings
        self.augs = tta_augmentations(self.settings.tta_samples, self.settings.seed,
                                      source.config.flips_preserve_label)
        self.warnings: list[str] = []
        self.skipped: dict[str, list[str]] = {}

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
                torch.manual_seed(_mix(self.settings.seed, group, batch_no))
                out["mc"] = np.stack([self._run(first, x, group)[0]
                                      for _ in range(self.settings.mc_samples)])
        return out

    # -- streams -------------------------------------------------------------------------------
    def _predict(self, streams: list[Stream], needs: set[str], start: float,
                 share: float) -> dict[str, tuple[Stream, dict[str, np.ndarray]]]:
        total = sum(len(s.ids) * len(s.groups) for s in streams) or 1
        done = 0
        results: dict[str, tuple[Stream, _Outputs]] = {}
        for stream in streams:
            for group, _ in stream.groups:
                results[group] = (stream, _Outputs())
            skipped: list[str] = []
            for k, batch in enumerate(stream.batches(self.settings.batch_size)):
                skipped += batch.skipped
                for group, transform in stream.groups:
                    if len(batch.rows):
                        x = batch.images if transform is None else transform(batch.images, k)
                        results[group][1].add(batch.rows, self._outputs(x, group, k, needs))
                    done += len(batch.rows) + len(batch.skipped)
                    self.progress(start + share * done / total, f"predicting {group}")
            if skipped:
                self.warnings.append(_skip_warning(stream.part, skipped, len(stream.ids)))
                self.skipped[stream.part] = skipped
        return {g: (s, o.arrays()) for g, (s, o) in results.items()}

    def _fit(self) -> tuple[float | None, Mahalanobis | None]:
        source = self.source
        wants_t = TEMPERATURE in self.methods
        wants_m = source.why_no_mahalanobis() is None
        if not (wants_t or wants_m):
            return None, None
        cal = source.split.calibration
        stream = _image_stream(cal, source.config, (("calibration", None),), "calibration part")
        _, out = self._predict([stream], set(), 0.0, 0.25)["calibration"]
        if not len(out["rows"]):
            raise self._none_read(stream, "calibration")
        labels = cal.labels[out["rows"]]
        temperature = fit_temperature_on(out["base"], labels, source.config.outputs,
                                         self.settings.seed) if wants_t else None
        maha = Mahalanobis.fit(out["feats"], labels) if wants_m else None
        return temperature, maha

    def _none_read(self, stream: Stream, part: str) -> UserModelError:
        return UserModelError(f"{self.source.images.root}: none of the {len(stream.ids)} {part} "
                              f"images could be read (first: {self.skipped[stream.part][0]})")

    def run(self) -> tuple[dict[str, dict[str, np.ndarray]], UserModelError | None]:
        temperature, maha = self._fit()
        start = 0.25 if (temperature is not None or maha is not None) else 0.0
        streams = self.source._streams()
        results = self._predict(streams, set(self.methods), start, 1.0 - start)
        test_stream, test_out = results[TEST_GROUP]
        if not len(test_out["rows"]):
            raise self._none_read(test_stream, "test")
        results = {g: v for g, v in results.items() if len(v[1]["rows"])}
        computed: dict[str, dict[str, np.ndarray]] = {}
        failure = None
        for method in self.methods:
            try:
                computed[method] = self._assemble(method, results, temperature, maha)
            except UserModelError as err:
                failure = failure or err
        return computed, failure

    # -- outputs to predictions ------------------------------------------------------------------
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
        self._check_finite(method, samples, ids)
        models = self.models if method == ENSEMBLE else [self.models[0]] * len(samples)
        t = temperature if method == TEMPERATURE else 1.0
        probs = np.stack([to_probs(raw, m.config.outputs, t)
                          for raw, m in zip(samples, models, strict=True)])
        arrays = {
            "probs": probs,
            "labels": np.concatenate([s.labels[rows_by_group[g]] for g, (s, _) in results.items()]),
            "group": np.concatenate([np.asarray([g] * len(r), dtype=str)
                                     for g, r in rows_by_group.items()]),
            "ids": ids,
            "warnings": np.asarray(self.warnings, dtype=str).reshape(-1),
            "temperature": np.asarray(np.nan if temperature is None else temperature),
        }
        if all("feats" in out for _, out in results.values()):
            features = np.concatenate([out["feats"] for _, out in results.values()])
            arrays["features"] = features.astype(np.float32)
            if maha is not None:
                arrays[MAHALANOBIS] = maha.score(features)
        return arrays

    def _check_finite(self, method: str, samples: list[np.ndarray], ids: np.ndarray) -> None:
        """One line naming how many rows have NaN (or infinite) outputs in any sample."""
        bad_by_sample = [~np.isfinite(raw).all(axis=1) for raw in samples]
        bad = np.logical_or.reduce(bad_by_sample)
        if bad.any():
            k = next(k for k, b in enumerate(bad_by_sample) if b.any())
            model = self.models[k] if method == ENSEMBLE else self.models[0]
            raise UserModelError(
                f"{model.name} gave NaN outputs for {int(bad.sum())} of {len(bad)} rows "
                f"({USER_METHOD_LABELS[method]}; first: {ids[np.argmax(bad)]})")


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

