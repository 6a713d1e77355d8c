"""``ModelSource``: a user's model files and image folders as a source of the dashboard.

It implements the ``uqviz.sources.Source`` protocol (kind ``"your model"``: images, but no
training split) and predicts, per method, on:

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

**Logits, features and fit rows** (issue 24): each method's predictions carry the logits
(S, N, C) when the model outputs logits, and the features when ``features_output`` is set.
With features and labelled calibration images, the calibration part is predicted by every
method and appended as rows of group ``fit``: the feature-space OOD scores (KNN, ViM,
Mahalanobis, relative Mahalanobis) fit on them; they are never scored
(``uqviz.study.Study`` sets them aside). Without features there are no fit rows (the logit
scores need none).

**Cache.** Each method's predictions are stored (``uqviz.cache``) under a key of the model
files' bytes (SHA-256), their configs, the folders' listings (names, sizes, modification
times), the plan, the settings and the device type. Methods are saved as soon as they are
computed, so a failure in one (say NaN outputs) loses nothing already computed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uqviz.cache import cache_key, cache_root, load_npz, save_npz
from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.data.user_images import ImageRejected
from uqviz.predictions import TEST_GROUP, Predictions, ood_group, parse_shift_group, shift_group
from uqviz.runs import EvalPlan
from uqviz.sources import MODEL_KEY_PREFIX, YOUR_MODEL, NoImages
from uqviz.training import Progress, no_progress
from uqviz.methods import MODEL_METHOD_IDS
from uqviz.user_model.config import MethodSettings, ModelConfig, UserModelError, ensemble_configs
from uqviz.user_model.engine import (
    ALONE,
    MAHALANOBIS,
    Engine,
    ImageStream,
    Shares,
    Transform,
    corruption,
    generated_stream,
    image_stream,
    skip_warning,
)
from uqviz.user_model.images import (
    ImageSet,
    load_images,
    read_pixels,
    scan_folder,
    split_calibration,
)
from uqviz.user_model.loading import UserModel
from uqviz.user_model.worker import load_model

MODEL_PREFIX = MODEL_KEY_PREFIX  # one prefix: uqviz.sources
USER_PLAN = EvalPlan(corruptions=("gaussian_noise",))
USER_PREDICTIONS_VERSION = 3  # 2: logits and fit rows (issue 24); 3: Mahalanobis from ood_scores


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


@dataclass(frozen=True)
class Unreadable:
    """The images of one folder that cannot be read (they are skipped by every run).

    Attributes:
        part: the folder as messages name it.
        total: images found in the folder.
        files: (file name relative to the folder, why) per unreadable image.
    """

    part: str
    total: int
    files: tuple[tuple[str, str], ...]

    @property
    def warning(self) -> str:
        """One line, as the command line warns: ``DIR: skipped 1 unreadable image of 40
        (first: cat/3.png: …)``."""
        return skip_warning(self.part, [f"{n}: {why}" for n, why in self.files], self.total)


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
        shown: (folder, name) pairs: how messages, warnings and the label name a folder
            (e.g. an uploaded zip extracted into a temporary folder is named by the zip's
            name, never by the server's path).
        device: where the models run (``cuda:1`` …); None: ``uqviz.device.default_device()``
            (one process per GPU sets its own, ``uqviz.precompute.run_user_model``).
    """

    models: tuple[str, ...]
    data: str
    configs: tuple[ModelConfig, ...]
    ood: str | None = None
    plan: EvalPlan = USER_PLAN
    settings: MethodSettings = field(default_factory=MethodSettings)
    shown: tuple[tuple[str, str], ...] = ()
    device: str | None = None

    kind = YOUR_MODEL
    has_images = True

    @classmethod
    def create(cls, models: list[str | Path], data: str | Path, *, ood: str | Path | None = None,
               config: str | Path | None = None, plan: EvalPlan = USER_PLAN,
               settings: MethodSettings | None = None, shown: dict[str, str] | None = None,
               **overrides: Any) -> ModelSource:
        """Read and check the configs now (one-line ``UserModelError``).

        Args:
            models: model file paths.
            data: image folder; a ``folder:`` prefix is accepted.
            ood: OOD image folder (``folder:`` prefix accepted).
            config: a config file for every model; None reads each model's sidecar.
            plan: see the class.
            settings: see the class.
            shown: folder -> the name messages give it (see the class).
            **overrides: config keys that win over the files (``input_size``, ``classes`` …).
        """
        if not models:
            raise UserModelError("give at least one model file")
        paths = tuple(str(Path(m).expanduser().resolve()) for m in models)
        for path in paths:
            if Path(path).is_dir():
                raise UserModelError(f"{path}: a folder, not a model file; give the model file "
                                     "inside it")
            if not Path(path).is_file():
                raise UserModelError(f"{path}: no such file")
        plan.corruption_names()  # validates
        configs = ensemble_configs(list(paths), config, **overrides)
        pairs = []
        for folder, name in (shown or {}).items():  # the resolved path too (scan_folder's)
            pairs += [(str(folder), name), (str(Path(folder).resolve()), name)]
        pairs = sorted(dict(pairs).items(), key=lambda p: -len(p[0]))  # longest first
        return cls(paths, _folder(data), configs, None if ood is None else _folder(ood), plan,
                   settings or MethodSettings(), tuple(pairs))

    def public(self, text: str) -> str:
        """``text`` with every folder of ``shown`` replaced by its name."""
        for folder, name in self.shown:
            text = text.replace(folder, name)
        return text

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
        return f"{self.name} on {Path(self.public(self.data)).name} (your model)"

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

    def spec(self) -> DatasetSpec:
        """Its classes, input shape and a description; there are no splits to load
        (``load`` raises ``NoImages``, as ``splits`` does)."""
        config, sizes = self.config, self.sizes
        return DatasetSpec(
            name=self.key, num_classes=config.num_classes, class_names=tuple(config.classes),
            input_shape=config.input_shape, source="your model",
            load=lambda seed: self.splits(),
            description=(f"your model {self.name} ({config.describe()}) on the images of "
                         f"{self.data}: {sizes['calibration']:,} calibration and "
                         f"{sizes['test']:,} test images"
                         + (f", {sizes['ood']:,} out-of-distribution images." if sizes["ood"]
                            else ".")))

    def splits(self) -> DataSplits:
        raise NoImages(f"{self.label} brings its own model: it has no training split")

    def test_images(self, rows: np.ndarray | None = None) -> np.ndarray:
        """float32 (N, C, H, W) in [0, 1] of the readable test images (of ``rows``, indices
        into the test files, when given), in the order of the ``test`` rows."""
        if rows is None:
            return self._test_pixels
        return load_images(self.split.test, self.config, rows).numpy()

    @cached_property
    def _test_pixels(self) -> np.ndarray:
        """Every readable test image, decoded once (the corrupted groups start from them)."""
        return load_images(self.split.test, self.config).numpy()

    def group_images(self, group: str) -> np.ndarray:
        """(N, C, H, W) the rows of one group, made as the engine made them: corruptions are
        applied per batch of ``settings.batch_size`` test images with the engine's seeds."""
        if group.startswith("ood:"):
            return self.ood_images(group)
        images = self.test_images()
        if group == TEST_GROUP:
            return images
        parsed = parse_shift_group(group)
        if parsed is None:
            raise ValueError(f"no images for group {group!r}")
        transform = corruption(*parsed, self.plan.seed)
        size = self.settings.batch_size
        blocks = [transform(torch.from_numpy(images[start:start + size]), k).numpy()
                  for k, start in enumerate(range(0, len(images), size))]
        return np.concatenate(blocks) if blocks else images

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

    def _builtin_streams(self) -> dict[str, ImageStream]:
        from uqviz.data.ood import BASIC_OOD_SETS

        names = BASIC_OOD_SETS if self.plan.ood_sets is None else self.plan.ood_sets
        n = self.plan.ood_size or len(self.split.test)
        return {ood_group(name): generated_stream(name, n, self.config.input_shape,
                                                   self.plan.seed) for name in names}

    def streams(self) -> list[ImageStream]:
        """What ``run`` predicts: the test part (clean, then each corruption × severity), the
        user's OOD folder, the built-in OOD sets."""
        variants: list[tuple[str, Transform | None]] = [(TEST_GROUP, None)]
        for name in self.plan.corruption_names():
            for severity in self.plan.severities:
                variants.append((shift_group(name, severity),
                                 corruption(name, severity, self.plan.seed)))
        streams = [image_stream(self.split.test, self.config, tuple(variants), "test part")]
        if self.ood:
            streams.append(image_stream(self.ood_images_set, self.config,
                                         ((self._user_ood_group, None),), "OOD images"))
        return streams + list(self._builtin_streams().values())

    # -- methods -------------------------------------------------------------------------------
    @cached_property
    def loaded(self) -> tuple[UserModel, ...]:
        """The model files loaded and probed (one-line ``UserModelError`` on a bad one)."""
        device = None if self.device is None else torch.device(self.device)
        return tuple(load_model(p, c, device, bf16=self.settings.bf16)
                     for p, c in zip(self.models, self.configs, strict=True))

    def why_not(self, method: str) -> str | None:
        """Why ``method`` does not apply to this model and these images (a sentence), or None
        when it does."""
        why = self._why_not(method)
        return None if why is None else self.public(why)

    def _why_not(self, method: str) -> str | None:
        if method not in MODEL_METHOD_IDS:
            return f"unknown method {method!r}; valid: {', '.join(MODEL_METHOD_IDS)}"
        if method == "temperature" and not len(self.split.calibration):
            return (f"Temperature scaling needs labelled calibration images to fit on, and "
                    f"{self._why_no_calibration()}")
        if method == "tta" and self.settings.tta_samples < 2:
            return "Test-time augmentation needs 2 or more samples (tta_samples)"
        if method == "mc_dropout":
            return self.loaded[0].why_no_dropout()
        if method == "ensemble" and len(self.models) < 2:
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
            return self.public("The Mahalanobis score needs labelled calibration images to fit "
                               f"class means on, and {self._why_no_calibration()}")
        return None

    @cached_property
    def unreadable(self) -> tuple[Unreadable, ...]:
        """The images of the folder (and of the OOD folder) that cannot be read, one
        ``Unreadable`` per folder with any; every image is decoded once, as a run reads it.

        Raises:
            UserModelError: no image of the folder can be read (one line).
        """
        found = []
        parts = [(self.images, self.data)]
        if self.ood:
            parts.append((self.ood_images_set, self.ood))
        for images, folder in parts:
            bad = []
            for name in images.files:
                try:
                    read_pixels(images.root / name, name, self.config, images.root)
                except ImageRejected as err:
                    bad.append((name, str(err).removeprefix(f"{name}: ")))
            if not bad:
                continue
            part = Unreadable(self.public(str(images.root)), len(images), tuple(bad))
            if folder == self.data and len(bad) == len(images):
                raise UserModelError(f"{part.part}: none of the {len(images)} images could be "
                                     f"read (first: {bad[0][0]}: {bad[0][1]})")
            found.append(part)
        return tuple(found)

    @property
    def methods(self) -> list[str]:
        """The methods that apply, in registry order (the models are loaded, then the folders
        read, so a bad model is reported first)."""
        _ = self.loaded
        return [m for m in MODEL_METHOD_IDS if self.why_not(m) is None]

    def _path(self, method: str) -> Path:
        return cache_root() / "user_model" / f"{cache_key(self.fingerprint, method)}.npz"

    def missing(self, methods: list[str]) -> list[str]:
        """Methods whose predictions are not yet in the disk cache."""
        return [m for m in methods if not self._path(m).exists()]

    def predictions(self, methods: list[str],
                    progress: Progress = no_progress) -> dict[str, Predictions]:
        """Each method's predictions, computing (and caching) those not cached."""
        return self.run(methods, progress).predictions

    def run(self, methods: list[str], progress: Progress = no_progress,
            shares: Shares = ALONE) -> UserRun | None:
        """Predictions plus warnings, split sizes and the fitted temperature.

        On several processes (``shares``; ``uqviz.precompute.run_user_model``) each predicts
        its share of the batches and rank 0 gets the same ``UserRun`` one process would; the
        other ranks get None. Rank 0 reads and writes the cache and tells the others what is
        left to compute.

        Raises:
            UserModelError: a method that does not apply, a bad model, image or output (one
                line); ``PartialResults`` when some methods were computed before one failed.
        """
        for method in methods:
            why = self.why_not(method)
            if why:
                raise UserModelError(why)
        try:
            return self._run(methods, progress, shares)
        except PartialResults as err:
            raise PartialResults(self.public(str(err)), err.predictions) from None
        except UserModelError as err:
            raise UserModelError(self.public(str(err))) from None

    def _run(self, methods: list[str], progress: Progress, shares: Shares) -> UserRun | None:
        stored = {m: load_npz(self._path(m)) for m in methods} if shares.rank == 0 else {}
        todo = shares.broadcast([m for m in methods if stored.get(m) is None])
        failure: UserModelError | None = None
        if todo:
            engine = Engine(self.loaded, self.settings, self.split.calibration,
                            self.streams(), self.images.root, todo,
                            self.why_no_mahalanobis() is None, progress)
            ran = engine.run(shares)
            if ran is None:
                return None  # not rank 0: rank 0 assembles
            computed, failure = ran
            for method, arrays in computed.items():
                save_npz(self._path(method), **arrays)
                stored[method] = arrays
        if shares.rank != 0:
            return None
        done = {m: a for m, a in stored.items() if a is not None}
        predictions = {m: self._from_arrays(m, a) for m, a in done.items()}
        if failure is not None:
            raise PartialResults(str(failure), predictions)
        progress(1.0, "done")
        warnings = dict.fromkeys(self.public(w) for a in done.values()
                                 for w in a["warnings"].tolist())
        temperature = done["temperature"]["temperature"].item() if "temperature" in done else None
        return UserRun(predictions, tuple(warnings), self.sizes, temperature)

    def predict_images(self, images: torch.Tensor, methods: list[str]) -> dict[str, np.ndarray]:
        """Each method's probabilities (S, N, C) on pictures (N, C, H, W) in [0, 1] at the
        model's input size (``prepare_picture``), with the temperature the run fitted on the
        calibration part (the run is computed first when it is not cached).

        Raises:
            UserModelError: a method that does not apply, a failing model, NaN outputs.
        """
        for method in methods:
            why = self.why_not(method)
            if why:
                raise UserModelError(why)
        temperature = self.run(["temperature"]).temperature if "temperature" in methods else None
        engine = Engine(self.loaded, self.settings, self.split.calibration, [],
                        self.images.root, list(methods), False, no_progress)
        return engine.predict_batch(torch.as_tensor(images, dtype=torch.float32), temperature)

    def _from_arrays(self, method: str, arrays: dict[str, np.ndarray]) -> Predictions:
        scores = {MAHALANOBIS: arrays[MAHALANOBIS]} if MAHALANOBIS in arrays else {}
        return Predictions(arrays["probs"], arrays["labels"], arrays["group"].astype(object),
                           features=arrays.get("features"), scores=scores, method=method,
                           class_names=self.config.classes, ids=arrays["ids"].astype(object),
                           logits=arrays.get("logits"))


