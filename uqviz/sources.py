"""Sources: what the sidebar selects, as a type — a trained dataset or a predictions file.

Every source has a ``key`` (a short string for session state, links and caches), a label, its
methods, and each method's ``Predictions``. A ``TrainedSource`` trains (or reads from the disk
cache) the registry's methods on a dataset and also has images and networks; a ``FileSource``
holds the predictions a user brought and has neither. Pages ask ``source.has_images`` instead
of parsing names.

No streamlit, no plotly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uqviz.exchange import LoadedPredictions
from uqviz.methods import METHOD_IDS, MethodConfig
from uqviz.predictions import Predictions
from uqviz.runs import EvalPlan, predictions_path, run_evaluation
from uqviz.training import Progress, no_progress

FILE_PREFIX = "predictions:"
# Gaussian noise (the embedding map, the shift examples) and brightness (the demo stream: the
# corruption on which softmax and the ensembles differ most, benchmarks/stream_mixture.py)
APP_PLAN = EvalPlan(corruptions=("gaussian_noise", "brightness"))
SHIFT_PLAN = EvalPlan(corruptions=("all",))
APP_CONFIG = MethodConfig()
DATA_SEED = 0


class NoImages(ValueError):
    """The source holds predictions only: there are no images or networks to show."""


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

    def spec(self):
        from uqviz.data import get_dataset

        return get_dataset(self.dataset)

    def splits(self):
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

    def test_images(self) -> np.ndarray:
        raise NoImages(f"{self.label} holds predictions only: no images or model")


Source = TrainedSource | FileSource


def path_fingerprint(path: str | Path) -> str:
    """8 hex digits of a file on disk's path, size and modification time: they change when the
    file does, without reading it."""
    path = Path(path)
    stat = path.stat()
    token = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    return hashlib.sha256(token).hexdigest()[:8]


def file_key(name: str, fingerprint: str) -> str:
    return f"{FILE_PREFIX}{name}#{fingerprint}"


def is_file_key(key: str) -> bool:
    """Whether a sidebar key names a predictions file (``predictions:<name>#<fingerprint>``)."""
    return key.startswith(FILE_PREFIX)


MODEL_KEY_PREFIX = "model:"


def file_label(key: str) -> str:
    """The label of a sidebar key: ``predictions:preds.csv#ab12cd34`` -> ``preds.csv (your
    predictions)``, ``model:net.pt#ab12cd34`` -> ``net.pt (your model)``; a dataset's name as
    it is."""
    if is_file_key(key):
        return f"{key.removeprefix(FILE_PREFIX).rsplit('#', 1)[0]} (your predictions)"
    if key.startswith(MODEL_KEY_PREFIX):
        return f"{key.removeprefix(MODEL_KEY_PREFIX).rsplit('#', 1)[0]} (your model)"
    return key
