"""Dataset types: what a dataset is and the splits it yields.

Images are float32 tensors in [0, 1] shaped N×C×H×W; labels are int64 tensors (N,).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

OFFLINE = "offline package"
TORCHVISION = "torchvision download"
FOLDER = "image folder"


class DatasetUnavailable(RuntimeError):
    """A dataset that cannot be loaded here; the message says how to provide it."""


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test tensors of one dataset."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_y), "validation": len(self.val_y), "test": len(self.test_y)}

    def examples_per_class(self, k: int, num_classes: int) -> np.ndarray:
        """(num_classes · k,) float images in [0, 1], (N, C, H, W): the first ``k`` training
        images of each class, class by class (fewer when a class has fewer)."""
        labels = self.train_y.numpy()
        picks = np.concatenate([np.flatnonzero(labels == c)[:k] for c in range(num_classes)])
        return self.train_x[picks].numpy()


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset and how to load it.

    Attributes:
        name: registry id (``digits``, ``mnist5k``, ``folder:PATH`` …).
        num_classes: C.
        class_names: C readable names.
        input_shape: (channels, height, width) of the tensors the model sees.
        source: one of OFFLINE, TORCHVISION, FOLDER.
        description: one or two sentences for the UI and the report.
        load: ``load(seed) -> DataSplits``; raises DatasetUnavailable with a helpful message.
        ood_sets: names of out-of-distribution sets that apply (see ``uqviz.data.ood``).
        is_digits: digits-like grayscale data (enables the rotated-digit and canvas views).
        warnings: problems met while building the spec that did not stop it (for example
            unreadable files skipped in an image folder), one readable sentence each.
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    source: str
    description: str
    load: Callable[[int], DataSplits]
    ood_sets: tuple[str, ...] = ()
    is_digits: bool = False
    warnings: tuple[str, ...] = ()


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of a seeded stratified train / validation / test split.

    Every class is shuffled with ``np.random.default_rng(seed)`` and cut by ``fractions``
    (which must sum to 1), so each split has (about) the class proportions of the whole.
    """
    if abs(sum(fractions) - 1) > 1e-9 or min(fractions) <= 0:
        raise ValueError(f"fractions must be positive and sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_train = int(round(fractions[0] * len(idx)))
        n_val = int(round(fractions[1] * len(idx)))
        parts[0].append(idx[:n_train])
        parts[1].append(idx[n_train:n_train + n_val])
        parts[2].append(idx[n_train + n_val:])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def splits_from_arrays(
    images: np.ndarray, labels: np.ndarray, seed: int,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> DataSplits:
    """DataSplits from all images (N, C, H, W) in [0, 1] and labels (N,), stratified."""
    tr, va, te = stratified_split(labels, fractions, seed)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return DataSplits(x[tr], y[tr], x[va], y[va], x[te], y[te])


def stratified_holdout(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)`` of a seeded stratified hold-out of ``fraction`` of each class.

    Used to carve a validation set out of a fixed training split (torchvision datasets).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be strictly between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_held = int(round(fraction * len(idx)))
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return rng.permutation(np.concatenate(kept)), rng.permutation(np.concatenate(held))
