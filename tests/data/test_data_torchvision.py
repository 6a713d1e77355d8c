"""torchvision datasets: clear failures without files or network, loading from local files.

No test here opens a network connection: downloads are forbidden with UQVIZ_OFFLINE=1, and
``socket.create_connection`` is replaced by a function that fails the test if called (except
where a test probes a closed port on this machine).
"""

from __future__ import annotations

import dataclasses
import gzip
import socket
import struct
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from uqviz.data import DatasetUnavailable, get_dataset, is_available_offline
from uqviz.data import torchvision_sets as tv


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to open a network connection: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("UQVIZ_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _fresh_cache():
    tv.torchvision_arrays.cache_clear()
    yield
    tv.torchvision_arrays.cache_clear()


def test_cifar10_missing_offline_says_what_to_copy_where(tmp_path, no_network):
    with pytest.raises(DatasetUnavailable) as info:
        get_dataset("cifar10", tmp_path).load(0)
    message = str(info.value)
    assert message == (
        f"cifar10 is not in {tmp_path} and could not be downloaded (UQVIZ_OFFLINE=1). "
        f"Run once with network, or copy cifar-10-python.tar.gz into {tmp_path}."
    )
    assert "\n" not in message


@pytest.mark.parametrize("name,files,folder", [
    ("mnist", "train-images-idx3-ubyte.gz", "MNIST/raw"),
    ("fashion_mnist", "t10k-labels-idx1-ubyte.gz", "FashionMNIST/raw"),
    ("svhn", "train_32x32.mat, test_32x32.mat", ""),
])
def test_every_torchvision_set_fails_in_one_line(name, files, folder, tmp_path, no_network):
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailable) as info:
        get_dataset(name, tmp_path).load(0)
    message = str(info.value)
    assert message.startswith(f"{name} is not in {tmp_path} and could not be downloaded")
    assert files in message and str(tmp_path / folder) in message and "\n" not in message
    assert time.perf_counter() - start < 5
    assert not is_available_offline(name, tmp_path)


def test_closed_network_fails_fast_without_offline_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("UQVIZ_OFFLINE", raising=False)
    assert tv.downloads_allowed()
    # the probe of a closed local port is refused at once; no outside host is contacted
    closed = dataclasses.replace(tv.TORCHVISION_SETS["cifar10"], url="http://127.0.0.1:9/x.gz")
    monkeypatch.setitem(tv.TORCHVISION_SETS, "cifar10", closed)
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailable, match=r"could not be downloaded \(no network: "):
        tv.load_torchvision_splits("cifar10", tmp_path, 0)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("value,allowed", [("1", False), ("true", False), ("0", True), ("", True)])
def test_offline_flag(value, allowed, monkeypatch):
    monkeypatch.setenv("UQVIZ_OFFLINE", value)
    assert tv.downloads_allowed() is allowed


def test_data_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("UQVIZ_DATA_DIR", str(tmp_path / "d"))
    assert tv.default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("UQVIZ_DATA_DIR")
    assert str(tv.default_data_dir()).endswith(".cache/uqviz/data")


def _write_idx(path, array: np.ndarray) -> None:
    """An uncompressed IDX file as torchvision reads it (big-endian dims, uint8 data)."""
    magic = 0x0800 + array.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_mnist(root, n_train: int, n_test: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, array in arrays.items():
        _write_idx(raw / name, array)
    return arrays


def test_mnist_from_local_files_splits_train_into_train_and_validation(tmp_path, no_network):
    arrays = _fake_mnist(tmp_path, n_train=200, n_test=50)
    assert is_available_offline("mnist", tmp_path)
    splits = get_dataset("mnist", tmp_path).load(0)
    assert splits.sizes == {"train": 180, "validation": 20, "test": 50}
    np.testing.assert_array_equal(np.bincount(splits.val_y.numpy()), np.full(10, 2))
    assert splits.train_x.shape == (180, 1, 28, 28) and splits.train_x.dtype == torch.float32
    expected_test = torch.from_numpy(arrays["t10k-images-idx3-ubyte"] / 255.0).float()[:, None]
    assert torch.allclose(splits.test_x, expected_test)
    np.testing.assert_array_equal(splits.test_y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    train_rows = {row.tobytes() for row in arrays["train-images-idx3-ubyte"].astype(np.uint8)}
    for x in (splits.train_x, splits.val_x):
        assert {row.tobytes() for row in (x[:, 0] * 255).round().byte().numpy()} <= train_rows
    again, other = get_dataset("mnist", tmp_path).load(0), get_dataset("mnist", tmp_path).load(1)
    assert torch.equal(again.val_x, splits.val_x) and not torch.equal(other.val_y, splits.val_y)


def test_gzipped_archives_alone_are_not_mistaken_for_a_dataset(tmp_path, no_network):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    with gzip.open(raw / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"not the real file")
    assert not tv.archives_present("mnist", tmp_path)  # checksum differs
    with pytest.raises(DatasetUnavailable, match="UQVIZ_OFFLINE=1"):
        get_dataset("mnist", tmp_path).load(0)


def test_cifar_and_svhn_arrays_become_nchw(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    cifar = {True: rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8),
             False: rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)}
    svhn = {True: rng.integers(0, 256, (100, 3, 32, 32), dtype=np.uint8),
            False: rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8)}

    def fake_construct(name, root, train, download):
        if name == "cifar10":
            labels = list(np.arange(len(cifar[train])) % 10)
            return SimpleNamespace(data=cifar[train], targets=labels)
        return SimpleNamespace(data=svhn[train], labels=np.arange(len(svhn[train])) % 10)

    monkeypatch.setattr(tv, "_construct", fake_construct)
    splits = get_dataset("cifar10", tmp_path).load(0)
    assert splits.sizes == {"train": 90, "validation": 10, "test": 10}
    expected = torch.from_numpy(cifar[False].transpose(0, 3, 1, 2) / 255.0).float()
    assert torch.allclose(splits.test_x, expected)
    splits = get_dataset("svhn", tmp_path).load(0)
    assert torch.allclose(splits.test_x, torch.from_numpy(svhn[False] / 255.0).float())
    assert splits.test_x.shape == (10, 3, 32, 32)
