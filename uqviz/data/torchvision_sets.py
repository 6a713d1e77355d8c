"""Datasets downloaded once by torchvision: MNIST, Fashion-MNIST, CIFAR-10 and SVHN.

The official training split becomes train + validation (a seeded stratified hold-out of 10 %
per class); the official test split is the test set. Files live under the data directory:
``data_dir`` when given, else ``$UQVIZ_DATA_DIR``, else ``~/.cache/uqviz/data``.

Downloads happen only when allowed: ``UQVIZ_OFFLINE=1`` forbids them. Before downloading, the
dataset's host is probed with a short timeout, so a closed network fails in seconds. When the
files are missing and cannot be fetched, ``DatasetUnavailable`` says in one line which files to
copy where.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch

from uqviz.data.base import (
    TORCHVISION,
    DatasetSpec,
    DatasetUnavailable,
    DataSplits,
    stratified_holdout,
)

DATA_DIR_ENV = "UQVIZ_DATA_DIR"
OFFLINE_ENV = "UQVIZ_OFFLINE"
DEFAULT_DATA_DIR = Path("~/.cache/uqviz/data")
VALIDATION_FRACTION = 0.1
PROBE_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class TorchvisionSet:
    """What uqviz needs to know about one torchvision dataset.

    Attributes:
        name: registry id.
        title: readable name.
        class_names: the C class names.
        input_shape: (channels, height, width).
        subfolder: folder under the data directory that holds the archives ("" for the root).
        archives: file names (inside ``subfolder``) a user can copy in instead of downloading.
        url: one download address, probed before downloading.
        is_digits: digits-like grayscale data.
        description: one or two sentences for the UI.
    """

    name: str
    title: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    subfolder: str
    archives: tuple[str, ...]
    url: str
    is_digits: bool
    description: str


_MNIST_ARCHIVES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)

TORCHVISION_SETS: dict[str, TorchvisionSet] = {
    "mnist": TorchvisionSet(
        name="mnist", title="MNIST", class_names=tuple(str(d) for d in range(10)),
        input_shape=(1, 28, 28), subfolder="MNIST/raw", archives=_MNIST_ARCHIVES,
        url="https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        is_digits=True,
        description=(
            "MNIST handwritten digits (28×28 grey): 54,000 train, 6,000 validation, 10,000 "
            "test. Downloaded once by torchvision (about 12 MB)."
        ),
    ),
    "fashion_mnist": TorchvisionSet(
        name="fashion_mnist", title="Fashion-MNIST",
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
        input_shape=(1, 28, 28), subfolder="FashionMNIST/raw", archives=_MNIST_ARCHIVES,
        url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        is_digits=False,
        description=(
            "Fashion-MNIST clothing photos (28×28 grey, 10 kinds): 54,000 train, 6,000 "
            "validation, 10,000 test. Downloaded once by torchvision (about 30 MB)."
        ),
    ),
    "cifar10": TorchvisionSet(
        name="cifar10", title="CIFAR-10",
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                     "ship", "truck"),
        input_shape=(3, 32, 32), subfolder="", archives=("cifar-10-python.tar.gz",),
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        is_digits=False,
        description=(
            "CIFAR-10 colour photos (32×32, 10 classes): 45,000 train, 5,000 validation, "
            "10,000 test. Downloaded once by torchvision (about 170 MB)."
        ),
    ),
    "svhn": TorchvisionSet(
        name="svhn", title="SVHN", class_names=tuple(str(d) for d in range(10)),
        input_shape=(3, 32, 32), subfolder="", archives=("train_32x32.mat", "test_32x32.mat"),
        url="http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
        is_digits=False,
        description=(
            "SVHN house-number digits from Street View (32×32 colour): about 66,000 train, "
            "7,300 validation, 26,000 test. Downloaded once by torchvision (about 580 MB)."
        ),
    ),
}

TORCHVISION_DATASETS: tuple[str, ...] = tuple(TORCHVISION_SETS)


def default_data_dir() -> Path:
    """``$UQVIZ_DATA_DIR`` when set, else ``~/.cache/uqviz/data`` (user-expanded)."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """An absolute data directory: ``data_dir`` when given, else :func:`default_data_dir`."""
    return (Path(data_dir).expanduser() if data_dir is not None else default_data_dir()).resolve()


def downloads_allowed() -> bool:
    """False when ``UQVIZ_OFFLINE`` is set to 1 / true / yes."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("1", "true", "yes")


def get_torchvision_set(name: str) -> TorchvisionSet:
    """The TorchvisionSet called ``name``; ValueError listing the valid names otherwise."""
    if name not in TORCHVISION_SETS:
        raise ValueError(
            f"unknown torchvision dataset {name!r}; valid: {', '.join(TORCHVISION_DATASETS)}"
        )
    return TORCHVISION_SETS[name]


def _torchvision_class(name: str) -> Any:
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST,
            "cifar10": datasets.CIFAR10, "svhn": datasets.SVHN}[name]


def _construct(name: str, root: Path, train: bool, download: bool) -> Any:
    cls = _torchvision_class(name)
    if name == "svhn":
        return cls(str(root), split="train" if train else "test", download=download)
    return cls(str(root), train=train, download=download)


def _archive_md5s(name: str) -> dict[str, str]:
    """Expected MD5 of each copy-in archive, from torchvision's own tables."""
    cls = _torchvision_class(name)
    if name in ("mnist", "fashion_mnist"):
        return dict(cls.resources)
    if name == "cifar10":
        return {cls.filename: cls.tgz_md5}
    return {filename: md5 for _, filename, md5 in
            (cls.split_list["train"], cls.split_list["test"])}


def archives_present(name: str, root: Path) -> bool:
    """Whether every archive of ``name`` is in ``root`` with torchvision's checksum.

    When true, torchvision's ``download=True`` only extracts them and touches no network.
    """
    from torchvision.datasets.utils import check_integrity

    folder = root / get_torchvision_set(name).subfolder
    return all(check_integrity(str(folder / file), md5)
               for file, md5 in _archive_md5s(name).items())


def is_available_offline(name: str, data_dir: str | Path | None = None) -> bool:
    """Whether ``name`` can be loaded here without any network access."""
    root = resolve_data_dir(data_dir)
    if archives_present(name, root):
        return True
    try:
        _construct(name, root, train=True, download=False)
        _construct(name, root, train=False, download=False)
    except (RuntimeError, OSError, ValueError):
        return False
    return True


def unavailable_message(name: str, root: Path, reason: str) -> str:
    """One line: which dataset is missing, where, why, and which files to copy in."""
    info = get_torchvision_set(name)
    folder = root / info.subfolder if info.subfolder else root
    files = ", ".join(info.archives)
    return (f"{name} is not in {root} and could not be downloaded ({reason}). Run once with "
            f"network, or copy {files} into {folder}.")


def _probe(url: str, timeout: float) -> str | None:
    """None when a TCP connection to the URL's host opens within ``timeout``; else why not."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return None
    except OSError as err:
        return f"no network: {type(err).__name__}"


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _open_both(name: str, root: Path) -> tuple[Any, Any]:
    """torchvision's train and test datasets; downloads only when needed and allowed."""
    try:
        return (_construct(name, root, train=True, download=False),
                _construct(name, root, train=False, download=False))
    except (RuntimeError, OSError):
        pass
    if archives_present(name, root):
        return (_construct(name, root, train=True, download=True),
                _construct(name, root, train=False, download=True))
    if not downloads_allowed():
        raise DatasetUnavailable(unavailable_message(name, root, f"{OFFLINE_ENV}=1"))
    reason = _probe(get_torchvision_set(name).url, PROBE_TIMEOUT_S)
    if reason is not None:
        raise DatasetUnavailable(unavailable_message(name, root, reason))
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            return (_construct(name, root, train=True, download=True),
                    _construct(name, root, train=False, download=True))
    except Exception as err:  # any download failure becomes one clear line
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DatasetUnavailable(
            unavailable_message(name, root, f"download failed: {first_line[:120]}")
        ) from err


def _images_labels(name: str, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, C, H, W) and int64 labels (N,) straight from torchvision's arrays."""
    if name in ("mnist", "fashion_mnist"):
        images = np.asarray(dataset.data, dtype=np.uint8)[:, None]
        labels = np.asarray(dataset.targets, dtype=np.int64)
    elif name == "cifar10":
        images = np.asarray(dataset.data, dtype=np.uint8).transpose(0, 3, 1, 2)
        images = np.ascontiguousarray(images)
        labels = np.asarray(dataset.targets, dtype=np.int64)
    else:
        images = np.asarray(dataset.data, dtype=np.uint8)
        labels = np.asarray(dataset.labels, dtype=np.int64)
    return images, labels


@functools.lru_cache(maxsize=2)
def torchvision_arrays(
    name: str, root: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cached uint8 arrays ``(train_images, train_labels, test_images, test_labels)``.

    Images are (N, C, H, W) uint8; labels int64. Raises DatasetUnavailable when the files are
    missing and cannot be downloaded.
    """
    get_torchvision_set(name)
    train, test = _open_both(name, Path(root))
    return (*_images_labels(name, train), *_images_labels(name, test))


def _to_float(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().div_(255.0)


def load_torchvision_splits(name: str, data_dir: str | Path | None, seed: int) -> DataSplits:
    """Train / validation (10 % stratified hold-out of train) / test, deterministic per seed."""
    train_x, train_y, test_x, test_y = torchvision_arrays(name, str(resolve_data_dir(data_dir)))
    kept, held = stratified_holdout(train_y, VALIDATION_FRACTION, seed)
    return DataSplits(
        _to_float(train_x[kept]), torch.from_numpy(train_y[kept]),
        _to_float(train_x[held]), torch.from_numpy(train_y[held]),
        _to_float(test_x), torch.from_numpy(test_y.copy()),
    )


def torchvision_spec(name: str, data_dir: str | Path | None = None,
                     ood_sets: tuple[str, ...] = ()) -> DatasetSpec:
    """DatasetSpec of a torchvision dataset; nothing is read or downloaded until ``load``."""
    info = get_torchvision_set(name)
    root = resolve_data_dir(data_dir)
    return DatasetSpec(
        name=name, num_classes=len(info.class_names), class_names=info.class_names,
        input_shape=info.input_shape, source=TORCHVISION, description=info.description,
        load=functools.partial(load_torchvision_splits, name, root),
        ood_sets=ood_sets, is_digits=info.is_digits,
    )
