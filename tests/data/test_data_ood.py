"""Out-of-distribution sets: shapes matched to the dataset, ranges, seeds, statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from uqviz.data import OOD_SETS, get_dataset, load_ood, ood_sets_for
from uqviz.data.ood import match_channels, photo_pool


@pytest.fixture(scope="module")
def specs():
    return {name: get_dataset(name) for name in ("digits", "mnist5k", "mnist", "cifar10")}


def test_sets_that_apply_to_each_dataset(specs):
    basic = ("uniform_noise", "gaussian_noise", "natural_patches")
    assert ood_sets_for(specs["digits"]) == (*basic, "mnist5k")
    assert ood_sets_for(specs["mnist5k"]) == (*basic, "digits")
    assert ood_sets_for(specs["mnist"]) == (*basic, "digits")  # mnist5k is a subset of MNIST
    assert ood_sets_for(specs["cifar10"]) == basic
    for spec in specs.values():
        assert spec.ood_sets == ood_sets_for(spec) and set(spec.ood_sets) <= set(OOD_SETS)


@pytest.mark.parametrize("dataset", ["digits", "mnist5k", "cifar10"])
def test_every_set_matches_the_input_shape_and_is_seeded(dataset, specs):
    spec = specs[dataset]
    for name in spec.ood_sets:
        x = load_ood(name, spec, 40, seed=5)
        assert x.shape == (40, *spec.input_shape) and x.dtype == torch.float32
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        assert torch.equal(x, load_ood(name, spec, 40, seed=5))
        assert not torch.equal(x, load_ood(name, spec, 40, seed=6))
        assert x.flatten(1).std(dim=1).min() > 0.02  # no blank images


def test_noise_statistics_match_their_distributions(specs):
    uniform = load_ood("uniform_noise", specs["cifar10"], 200, seed=0).numpy().ravel()
    assert abs(uniform.mean() - 0.5) < 0.005 and abs(uniform.var() - 1 / 12) < 0.002
    gauss = load_ood("gaussian_noise", specs["cifar10"], 200, seed=0).numpy().ravel()
    # N(0.5, 0.25²) clipped to [0, 1]: mass beyond ±2σ sits on the bounds
    below = stats.norm.cdf(-2)
    assert abs((gauss == 0).mean() - below) < 0.003 and abs((gauss == 1).mean() - below) < 0.003
    clipped = np.clip(stats.norm(0.5, 0.25).rvs(10**6, random_state=1), 0, 1)
    assert abs(gauss.std() - clipped.std()) < 0.003


def test_natural_patches_look_like_photos_not_noise(specs):
    def neighbour_correlation(x: torch.Tensor) -> float:
        a, b = x[..., :, :-1].flatten(), x[..., :, 1:].flatten()
        return float(np.corrcoef(a.numpy(), b.numpy())[0, 1])

    patches = load_ood("natural_patches", specs["mnist5k"], 100, seed=0)
    noise = load_ood("uniform_noise", specs["mnist5k"], 100, seed=0)
    assert neighbour_correlation(patches) > 0.8 and abs(neighbour_correlation(noise)) < 0.05
    assert len(photo_pool()) >= 10  # scikit-learn's two photos and scikit-image's bundled ones


def test_other_digits_are_resized_real_digits(specs):
    from uqviz.data.offline import digits_arrays, mnist5k_arrays

    for source, target in (("mnist5k", "digits"), ("digits", "mnist5k")):
        x = load_ood(source, specs[target], 30, seed=0)
        assert x.shape == (30, *specs[target].input_shape)
        images = torch.from_numpy((mnist5k_arrays() if source == "mnist5k" else digits_arrays())[0])
        resized = torch.nn.functional.interpolate(images, size=x.shape[-2:], mode="bilinear",
                                                  antialias=True).clamp(0, 1)
        nearest = torch.cdist(x.flatten(1), resized.flatten(1),
                              compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values
        assert float(nearest.max()) < 1e-4  # every OOD image is one resized source digit
    many = load_ood("digits", specs["mnist5k"], 2000, seed=0)  # more than the 1,797 digits
    assert many.shape == (2000, 1, 28, 28)


def test_channel_matching_uses_luminance():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(match_channels(rgb, 1), torch.tensor(0.299).view(1, 1, 1, 1))
    assert match_channels(torch.ones(2, 1, 4, 4), 3).shape == (2, 3, 4, 4)


def test_bad_requests_are_rejected(specs):
    with pytest.raises(ValueError, match="unknown OOD set 'svhn'; valid: uniform_noise, "):
        load_ood("svhn", specs["digits"], 5)
    with pytest.raises(ValueError, match="n must be a non-negative number of images, got -1"):
        load_ood("uniform_noise", specs["digits"], -1)
    with pytest.raises(ValueError, match="is the dataset itself"):
        load_ood("digits", specs["digits"], 5)
    assert load_ood("natural_patches", specs["digits"], 0).shape == (0, 1, 8, 8)
