"""Sources: what the sidebar selects, as one protocol — a trained dataset, a predictions file
or a user's own model with its images.

``Source`` is the protocol all three implement: ``TrainedSource`` (here: it trains, or reads
from the disk cache, the registry's methods on a dataset, and has images and networks),
``FileSource`` (here: the predictions a user brought; no images, no model) and
``uqviz.user_model.ModelSource`` (a user's model files run over their image folder). Each has
a ``key`` (a short string for session state, links and caches), a ``label``, a ``kind`` (what
it is, for the pages' wording), its methods and each method's ``Predictions``, and its images
by group. Code asks the source (``src.kind``, ``src.has_images``) — never the key's form: the
one function that reads a key is the registry, ``uqviz.ui.backend.source``.

No streamlit, no plotly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from uqviz.exchange import LoadedPredictions
from uqviz.methods import METHOD_IDS, MethodConfig
from uqviz.predictions import Predictions
from uqviz.runs import EvalPlan, predictions_path, run_evaluation
from uqviz.training import Progress, no_progress

if TYPE_CHECKING:
    from uqviz.data.base import DatasetSpec, DataSplits

# How keys are made (read back only by the registry, ``uqviz.ui.backend.source``): a trained
# dataset's key is its name, a file's ``predictions:<name>#<fingerprint>``, a user's model's
# ``model:<name>#<fingerprint>``.
FILE_PREFIX = "predictions:"
MODEL_KEY_PREFIX = "model:"
# Gaussian noise (the embedding map, the shift examples) and brightness (the demo stream: the
# corruption on which softmax and the ensembles differ most, benchmarks/stream_mixture.py)
APP_PLAN = EvalPlan(corruptions=("gaussian_noise", "brightness"))
SHIFT_PLAN = EvalPlan(corruptions=("all",))
APP_CONFIG = MethodConfig()
DATA_SEED = 0


SourceKind = Literal["dataset", "predictions file", "your model"]
DATASET: SourceKind = "dataset"
PREDICTIONS_FILE: SourceKind = "predictions file"
YOUR_MODEL: SourceKind = "your model"


class NoImages(ValueError):
    """The source has no such images: a predictions file has none, a user's model no training
    split."""


@runtime_checkable
class Source(Protocol):
    """What the sidebar selects. ``kind`` says which of the three it is:

    * ``"dataset"`` (``TrainedSource``): the registry's methods trained on a dataset; it has
      every image and a training split.
    * ``"predictions file"`` (``FileSource``): a file of predictions; every image method raises
      ``NoImages`` (``has_images`` is False).
    * ``"your model"`` (``uqviz.user_model.ModelSource``): a user's model and image folder; it
      has images but no training split (``splits`` raises ``NoImages``) and nothing to train.
    """

    @property
    def kind(self) -> SourceKind: ...

    @property
    def has_images(self) -> bool:
        """Whether the image methods answer (``kind`` is not ``"predictions file"``)."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str:
        """What the sidebar and messages call it."""

    @property
    def methods(self) -> list[str]:
        """The methods it offers, in registry order."""

    def missing(self, methods: list[str]) -> list[str]:
        """Those of ``methods`` whose predictions are not cached yet."""

    def predictions(self, methods: list[str],
                    progress: Progress = no_progress) -> dict[str, Predictions]:
        """Each method's predictions, computing (and caching) what is missing."""

    def spec(self) -> DatasetSpec:
        """Its classes, input shape and description; ``NoImages`` for a predictions file."""

    def splits(self) -> DataSplits:
        """Train / validation / test tensors; ``NoImages`` where there is no training split."""

    def test_images(self) -> np.ndarray:
        """(N, C, H, W) float images in [0, 1] of the clean test rows, in their order."""

    def group_images(self, group: str) -> np.ndarray:
        """(N, C, H, W) images of one group of rows (``test``, ``<corruption>:<severity>``,
        ``ood:<name>``), made as its predictions saw them."""

    def ood_images(self, group: str) -> np.ndarray:
        """(N, C, H, W) images of an ``ood:<name>`` group."""

    def with_plan(self, plan: EvalPlan) -> Source:
        """The same source predicted on the rows of another plan (a file: itself)."""


@dataclass(frozen=True)
class TrainedSource:
    """The registry's methods trained on a dataset (``digits``, ``mnist5k``, ``folder:DIR``…).

    Attributes:
        dataset: the dataset name ``uqviz.data.get_dataset`` knows.
        plan: which shifted and OOD rows are predicted besides the clean test split.
        config: the methods' configuration.
        data_seed: seeds the train / validation / test split.
    """

    dataset: str
    plan: EvalPlan = APP_PLAN
    config: MethodConfig = APP_CONFIG
    data_seed: int = DATA_SEED

    kind = DATASET
    has_images = True

    @property
    def key(self) -> str:
        return self.dataset

    @property
    def label(self) -> str:
        return self.dataset

    @property
    def methods(self) -> list[str]:
        return list(METHOD_IDS)

    def with_plan(self, plan: EvalPlan) -> TrainedSource:
        """The same dataset and methods predicted on other rows (e.g. every corruption)."""
        return TrainedSource(self.dataset, plan, self.config, self.data_seed)

    def spec(self) -> DatasetSpec:
        from uqviz.data import get_dataset

        return get_dataset(self.dataset)

    def splits(self) -> DataSplits:
        return self.spec().load(self.data_seed)

    def test_images(self) -> np.ndarray:
        """(N, C, H, W) float images of the clean test split, in the order of its rows."""
        return self.splits().test_x.numpy()

    def group_images(self, group: str) -> np.ndarray:
        """(N, C, H, W) images of any group of a run, as ``uqviz.runs.evaluation_inputs``
        made them: ``test``, ``<corruption>:<severity>`` or ``ood:<name>``."""
        from uqviz.predictions import TEST_GROUP, parse_shift_group
        from uqviz.shifts import corrupt

        if group.startswith("ood:"):
            return self.ood_images(group)
        test_x = self.splits().test_x
        if group == TEST_GROUP:
            return test_x.numpy()
        parsed = parse_shift_group(group)
        if parsed is None:
            raise ValueError(f"no images for group {group!r}")
        name, severity = parsed
        return corrupt(test_x, name, severity, seed=self.plan.seed + severity).numpy()

    def ood_images(self, group: str) -> np.ndarray:
        """(N, C, H, W) images of an ``ood:<name>`` group, regenerated as the run made them
        (the plan's seed and size), in the order of its rows."""
        from uqviz.data.ood import load_ood
        from uqviz.predictions import OOD_PREFIX

        spec, data = self.spec(), self.splits()
        n = self.plan.ood_size or len(data.test_y)
        return load_ood(group.removeprefix(OOD_PREFIX), spec, n, self.plan.seed).numpy()

    def missing(self, methods: list[str]) -> list[str]:
        """Methods whose predictions are not yet in the disk cache."""
        spec = self.spec()
        return [m for m in methods if not predictions_path(
            spec, self.data_seed, m, self.config, self.plan).exists()]

    def predictions(self, methods: list[str],
                    progress: Progress = no_progress) -> dict[str, Predictions]:
        """Each method's predictions, training and predicting what is not cached."""
        return run_evaluation(self.spec(), methods, config=self.config, plan=self.plan,
                              data_seed=self.data_seed, progress=progress)


@dataclass(frozen=True)
class FileSource:
    """A user's predictions file, read by ``uqviz.exchange``.

    Attributes:
        name: the file's name as the user knows it.
        fingerprint: 8 hex digits that change when the file's content does.
        loaded: what the reader found.
    """

    name: str
    fingerprint: str
    loaded: LoadedPredictions = field(compare=False, repr=False)

    kind = PREDICTIONS_FILE
    has_images = False

    @classmethod
    def from_bytes(cls, name: str, data: bytes, loaded: LoadedPredictions) -> FileSource:
        return cls(name, hashlib.sha256(data).hexdigest()[:8], loaded)

    @classmethod
    def from_path(cls, path: str | Path, loaded: LoadedPredictions) -> FileSource:
        return cls(Path(path).name, path_fingerprint(path), loaded)

    @property
    def key(self) -> str:
        return file_key(self.name, self.fingerprint)

    @property
    def label(self) -> str:
        return f"{self.name} (your predictions)"

    @property
    def methods(self) -> list[str]:
        return list(self.loaded.by_method)

    def missing(self, methods: list[str]) -> list[str]:
        return []

    def predictions(self, methods: list[str],
                    progress: Progress = no_progress) -> dict[str, Predictions]:
        return {m: self.loaded.by_method[m] for m in methods}

    def with_plan(self, plan: EvalPlan) -> FileSource:
        return self  # a file's rows are the rows it holds

    def _no_images(self) -> NoImages:
        return NoImages(f"{self.label} holds predictions only: no images or model")

    def spec(self) -> DatasetSpec:
        raise self._no_images()

    def splits(self) -> DataSplits:
        raise self._no_images()

    def test_images(self) -> np.ndarray:
        raise self._no_images()

    def group_images(self, group: str) -> np.ndarray:
        raise self._no_images()

    def ood_images(self, group: str) -> np.ndarray:
        raise self._no_images()


def path_fingerprint(path: str | Path) -> str:
    """8 hex digits of a file on disk's path, size and modification time: they change when the
    file does, without reading it."""
    path = Path(path)
    stat = path.stat()
    token = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    return hashlib.sha256(token).hexdigest()[:8]


def file_key(name: str, fingerprint: str) -> str:
    return f"{FILE_PREFIX}{name}#{fingerprint}"
