"""Corruptions of test images at five severities: the dataset shifts the dashboard applies.

Every corruption maps a batch ``x`` float (N, C, H, W) in [0, 1] (C = 1 or 3, 8×8 to 32×32 and
beyond) to a batch of the same shape, float32, clipped to [0, 1]. The work is vectorised over
the batch in torch (JPEG alone goes through Pillow image by image), and every random draw comes
from a ``torch.Generator`` seeded by the caller, never from the global RNG, so a corruption is a
deterministic function of ``(x, name, severity, seed)``. Severity 0 returns ``x`` unchanged.

Severity parameters follow MNIST-C (Mu & Gilmer 2019, which reuses the ImageNet-C values of
Hendrycks & Dietterich 2019 at 28×28) for noise, brightness, JPEG and the geometric transforms,
and CIFAR-10-C (Hendrycks & Dietterich 2019) for contrast and fog. Blur sizes are given in
pixels of a 32×32 image and scaled with the image side ``s`` by ``max(s, 16) / 32`` (so an 8×8
image is blurred like a 16×16 one: a blur narrower than half a pixel would be invisible);
translations are fractions of the side. Pixelation uses wider factors than MNIST-C so that all
five severities stay distinct on 8×8 images. The plasma fractal of ImageNet-C's fog is replaced
by spectral 1/f noise with the same roughness (amplitude decay per octave).

References: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", ICLR 2019; Mu & Gilmer, "MNIST-C: A Robustness Benchmark for
Computer Vision", ICML 2019 workshop.
"""

from __future__ import annotations

import io
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

SEVERITIES = (1, 2, 3, 4, 5)
FAMILIES = ("noise", "blur", "weather", "digital", "geometric")
ROTATION_ANGLES = tuple(range(0, 181, 15))
REFERENCE_SIDE = 32
MIN_BLUR_SIDE = 16

GAUSSIAN_NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
SHOT_NOISE_PHOTONS = (60.0, 25.0, 12.0, 5.0, 3.0)
IMPULSE_NOISE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)
SPECKLE_NOISE_STD = (0.15, 0.2, 0.35, 0.45, 0.6)
GAUSSIAN_BLUR_SIGMA = (0.8, 1.1, 1.4, 1.8, 2.4)
MOTION_BLUR_LENGTH = (2.0, 3.0, 4.5, 6.0, 8.0)
DEFOCUS_BLUR_RADIUS = (1.2, 1.6, 2.0, 2.6, 3.2)
CONTRAST_FACTOR = (0.75, 0.5, 0.4, 0.3, 0.15)
BRIGHTNESS_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)
FOG_STRENGTH_DECAY = ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75))
PIXELATE_FACTOR = (0.75, 0.6, 0.5, 0.4, 0.3)
JPEG_QUALITY = (25, 18, 15, 10, 7)
ROTATE_RADIANS = (0.2, 0.4, 0.6, 0.8, 1.0)
TRANSLATE_FRACTION = tuple(k / 28 for k in (1, 2, 3, 4, 5))
SHEAR_FACTOR = (0.2, 0.4, 0.6, 0.8, 1.0)
SCALE_FACTOR = (0.9, 0.8, 0.7, 0.6, 0.5)

Transform = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Corruption:
    """One corruption of the suite.

    Attributes:
        name: registry id (``gaussian_noise`` …), used in group names ``name:severity``.
        label: short readable name for the UI.
        family: one of ``FAMILIES``.
        description: one sentence on what it does.
        levels: five readable parameter values, for severities 1–5.
    """

    name: str
    label: str
    family: str
    description: str
    levels: tuple[str, ...]


# ---------------------------------------------------------------- validation and helpers


def validate_severity(severity: int) -> int:
    """``severity`` as an int in 0–5 (0 = clean); ValueError otherwise."""
    if isinstance(severity, bool):
        raise ValueError(f"severity must be 0–5, got {severity}")
    try:
        value = operator.index(severity)
    except TypeError as err:
        raise ValueError(f"severity must be 0–5, got {severity!r}") from err
    if not 0 <= value <= 5:
        raise ValueError(f"severity must be 0–5, got {value}")
    return value


def get_corruption(name: str) -> Corruption:
    """The Corruption called ``name``; ValueError listing the valid names otherwise."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name]


def corruptions_in(family: str) -> tuple[str, ...]:
    """Names of the corruptions of one family."""
    if family not in FAMILIES:
        raise ValueError(f"unknown corruption family {family!r}; valid: {', '.join(FAMILIES)}")
    return tuple(name for name, c in CORRUPTIONS.items() if c.family == family)


def _check_batch(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"x must be shaped (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must hold floats in [0, 1], got dtype {x.dtype}")
    return x.float()


def _blur_scale(x: torch.Tensor) -> float:
    """Pixels of this image per pixel of a 32×32 one, for sides of 16 px and more."""
    return max(min(x.shape[-2:]), MIN_BLUR_SIDE) / REFERENCE_SIDE


def _randn(shape: Sequence[int], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=generator).to(like.device)


def _rand(shape: Sequence[int], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(tuple(shape), generator=generator).to(like.device)


def _random_signs(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=generator).float() * 2 - 1


def _pad(x: torch.Tensor, radius: int) -> torch.Tensor:
    mode = "reflect" if radius < min(x.shape[-2:]) else "replicate"
    return F.pad(x, (radius, radius, radius, radius), mode=mode)


def _filter_shared(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of every image with one (k, k) kernel, reflecting at borders."""
    channels = x.shape[1]
    radius = kernel.shape[-1] // 2
    weight = kernel.to(x.device, x.dtype).expand(channels, 1, *kernel.shape[-2:])
    return F.conv2d(_pad(x, radius), weight, groups=channels)


def _resample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Apply (P, H) ``rows`` and (Q, W) ``cols`` linear maps to every channel: (N, C, P, Q)."""
    return rows.to(x.device) @ x @ cols.to(x.device).T


def reflect_index(index: torch.Tensor, size: int) -> torch.Tensor:
    """Map indices outside [0, size) back inside by mirroring about the edge pixels."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def filter_matrix(size: int, line: torch.Tensor) -> torch.Tensor:
    """(size, size) matrix correlating a signal with ``line`` (k,), borders mirrored."""
    radius = line.shape[0] // 2
    rows = torch.arange(size)[:, None].expand(size, line.shape[0])
    cols = reflect_index(rows + torch.arange(-radius, radius + 1)[None, :], size)
    matrix = torch.zeros((size, size), dtype=torch.float64)
    matrix.index_put_((rows.reshape(-1), cols.reshape(-1)),
                      line.double().expand(size, -1).reshape(-1), accumulate=True)
    return matrix.float()


def _filter_separable(x: torch.Tensor, line: torch.Tensor) -> torch.Tensor:
    """Correlate every channel with ``line`` (k,) along columns and rows (two matrix products)."""
    h, w = x.shape[-2:]
    return _resample(x, filter_matrix(h, line), filter_matrix(w, line))


def _filter_per_image(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Correlate image i (all channels) with its own kernel ``kernels[i]`` (k, k)."""
    n, c, h, w = x.shape
    radius = kernels.shape[-1] // 2
    padded = _pad(x, radius).reshape(1, n * c, h + 2 * radius, w + 2 * radius)
    weight = kernels.to(x.device, x.dtype).repeat_interleave(c, dim=0)[:, None]
    return F.conv2d(padded, weight, groups=n * c).reshape(n, c, h, w)


def gaussian_kernel(sigma: float, max_radius: int) -> torch.Tensor:
    """Normalised 1-D Gaussian (k,), radius ceil(3σ) capped at ``max_radius``; the 2-D blur
    is its outer product, applied as two 1-D passes."""
    radius = max(1, min(math.ceil(3 * sigma), max_radius))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    line = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (line / line.sum()).float()


def disk_kernel(radius: float, max_radius: int, supersample: int = 16) -> torch.Tensor:
    """Antialiased disk (k, k): each weight is the share of its pixel inside the circle."""
    half = max(1, min(math.ceil(radius + 0.5), max_radius))
    sub = (torch.arange(supersample, dtype=torch.float64) + 0.5) / supersample - 0.5
    centres = torch.arange(-half, half + 1, dtype=torch.float64)
    coords = (centres[:, None] + sub[None, :]).reshape(-1)
    inside = (coords[:, None] ** 2 + coords[None, :] ** 2) <= radius**2
    size = 2 * half + 1
    weights = inside.reshape(size, supersample, size, supersample).double().mean(dim=(1, 3))
    return (weights / weights.sum()).float()


def line_kernels(length: float, angles: torch.Tensor, max_radius: int) -> torch.Tensor:
    """Per-image motion kernels (N, k, k): a centred segment of ``length`` px at ``angles``.

    The segment is sampled densely and splatted bilinearly, so sub-pixel lengths still blur.
    """
    half = max(1, min(math.ceil(length / 2) + 1, max_radius))
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    samples = max(2, math.ceil(4 * length) + 1)
    steps = torch.linspace(-length / 2, length / 2, samples, dtype=torch.float64)
    angles = angles.double()
    px = steps[None, :] * torch.cos(angles)[:, None]  # (N, m)
    py = steps[None, :] * torch.sin(angles)[:, None]
    wx = torch.relu(1 - (grid[None, None, :] - px[..., None]).abs())  # (N, m, k)
    wy = torch.relu(1 - (grid[None, None, :] - py[..., None]).abs())
    kernels = torch.einsum("nmy,nmx->nyx", wy, wx)
    return (kernels / kernels.sum(dim=(1, 2), keepdim=True)).float()


def warp_affine(x: torch.Tensor, matrices: torch.Tensor,
                translations: torch.Tensor | None = None) -> torch.Tensor:
    """Apply per-image pixel maps ``p -> A p + t`` about the image centre (bilinear, zeros out).

    Args:
        x: (N, C, H, W).
        matrices: (N, 2, 2) forward maps A in (x right, y down) pixel coordinates.
        translations: optional (N, 2) shifts t in pixels (x, y).
    """
    n, _, h, w = x.shape
    matrices = matrices.to(torch.float64)
    inverse = torch.linalg.inv(matrices)
    half = torch.tensor([w / 2, h / 2], dtype=torch.float64)
    linear = inverse * half[None, None, :] / half[None, :, None]
    if translations is None:
        offset = torch.zeros((n, 2), dtype=torch.float64)
    else:
        offset = -(inverse @ translations.to(torch.float64)[..., None])[..., 0] / half
    theta = torch.cat([linear, offset[..., None]], dim=2).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _rotation_matrices(radians: torch.Tensor) -> torch.Tensor:
    """Counter-clockwise (as seen on screen) rotations in y-down pixel coordinates."""
    cos, sin = torch.cos(radians), torch.sin(radians)
    return torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)


def rotate(x: torch.Tensor, degrees: float | Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Rotate images counter-clockwise about their centre by ``degrees`` (any angle).

    Bilinear interpolation; corners brought in from outside the image are black (0).

    Args:
        x: float (N, C, H, W) in [0, 1].
        degrees: one angle for the whole batch, or N angles.

    Returns:
        float32 (N, C, H, W) clipped to [0, 1].
    """
    x = _check_batch(x)
    angles = torch.as_tensor(degrees, dtype=torch.float64).flatten()
    if angles.numel() == 1:
        angles = angles.expand(x.shape[0])
    if angles.numel() != x.shape[0]:
        raise ValueError(f"degrees must be one angle or {x.shape[0]}, got {angles.numel()}")
    if not torch.isfinite(angles).all():
        raise ValueError(f"degrees must be finite, got {degrees}")
    if x.shape[0] == 0:
        return x.clone()
    return warp_affine(x, _rotation_matrices(torch.deg2rad(angles))).clamp_(0.0, 1.0)


# ---------------------------------------------------------------- the corruptions


def _gaussian_noise(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    return x + GAUSSIAN_NOISE_STD[severity - 1] * _randn(x.shape, g, x)


def _shot_noise(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    photons = SHOT_NOISE_PHOTONS[severity - 1]
    rates = (x.detach().cpu().clamp(0, 1) * photons).double()
    return (torch.poisson(rates, generator=g) / photons).to(x.device, x.dtype)


def _impulse_noise(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    amount = IMPULSE_NOISE_AMOUNT[severity - 1]
    u = _rand(x.shape, g, x)
    salted = torch.where(u > 1 - amount / 2, torch.ones_like(x), x)
    return torch.where(u < amount / 2, torch.zeros_like(x), salted)


def _speckle_noise(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    return x + x * SPECKLE_NOISE_STD[severity - 1] * _randn(x.shape, g, x)


def _gaussian_blur(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    sigma = GAUSSIAN_BLUR_SIGMA[severity - 1] * _blur_scale(x)
    return _filter_separable(x, gaussian_kernel(sigma, min(x.shape[-2:]) - 1))


def _motion_blur(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    length = MOTION_BLUR_LENGTH[severity - 1] * _blur_scale(x)
    angles = torch.rand((x.shape[0],), generator=g, dtype=torch.float64) * math.pi
    return _filter_per_image(x, line_kernels(length, angles, min(x.shape[-2:]) - 1))


def _defocus_blur(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    radius = DEFOCUS_BLUR_RADIUS[severity - 1] * _blur_scale(x)
    return _filter_shared(x, disk_kernel(radius, min(x.shape[-2:]) - 1))


def _contrast(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    means = x.mean(dim=(2, 3), keepdim=True)
    return (x - means) * CONTRAST_FACTOR[severity - 1] + means


def _brightness(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    # Adds to HSV value V = max over channels, keeping hue and saturation: RGB scales by V'/V.
    value = x.amax(dim=1, keepdim=True)
    brighter = (value + BRIGHTNESS_SHIFT[severity - 1]).clamp(max=1.0)
    ratio = brighter / value.clamp_min(1e-12)
    return torch.where(value > 0, x * ratio, brighter.expand_as(x))


def fractal_noise(n: int, height: int, width: int, decay: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Smooth cloud-like noise (n, 1, height, width) in [0, 1], min–max normalised per image.

    White noise filtered to amplitude ∝ f^-(1 + log2 decay): each octave up is ``decay``
    times fainter, like the diamond-square plasma fractal of ImageNet-C's fog.
    """
    side = max(height, width)
    noise = torch.randn((n, side, side), generator=generator, dtype=torch.float64)
    freq = torch.fft.fftfreq(side, dtype=torch.float64)
    radius = torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2)
    radius[0, 0] = 1.0
    gain = radius ** -(1.0 + math.log2(decay))
    gain[0, 0] = 0.0
    field = torch.fft.ifft2(torch.fft.fft2(noise) * gain).real[:, :height, :width]
    low = field.amin(dim=(1, 2), keepdim=True)
    high = field.amax(dim=(1, 2), keepdim=True)
    return ((field - low) / (high - low).clamp_min(1e-12)).float()[:, None]


def _fog(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    strength, decay = FOG_STRENGTH_DECAY[severity - 1]
    n, _, h, w = x.shape
    fog = fractal_noise(n, h, w, decay, g).to(x.device, x.dtype)
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x + strength * fog) * peak / (peak + strength)


def box_resample_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """(size_out, size_in) box-filter resampling along one axis, like Pillow's ``BOX``.

    Output pixel i averages the input over a window of width ``max(size_in / size_out, 1)``
    input pixels centred on it, each input pixel weighted by its overlap with the window.
    """
    step = size_in / size_out
    width = max(step, 1.0)
    centres = (torch.arange(size_out, dtype=torch.float64) + 0.5) * step
    low, high = (centres - width / 2)[:, None], (centres + width / 2)[:, None]
    starts = torch.arange(size_in, dtype=torch.float64)[None, :]
    overlap = (torch.minimum(high, starts + 1) - torch.maximum(low, starts)).clamp_min(0.0)
    return (overlap / overlap.sum(dim=1, keepdim=True)).float()


def _pixelate(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    # Box filter down to a fraction of the resolution, then box filter back up (as MNIST-C).
    h, w = x.shape[-2:]
    factor = PIXELATE_FACTOR[severity - 1]
    small_h, small_w = max(1, round(h * factor)), max(1, round(w * factor))
    coarse = _resample(x, box_resample_matrix(h, small_h), box_resample_matrix(w, small_w))
    return _resample(coarse, box_resample_matrix(small_h, h), box_resample_matrix(small_w, w))


def _jpeg(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    quality = JPEG_QUALITY[severity - 1]
    pixels = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    out = np.empty(pixels.shape, dtype=np.float32)
    for i, image in enumerate(pixels):
        array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        if array.ndim == 3 and array.shape[2] != 3:
            raise ValueError(f"jpeg needs 1 or 3 channels, got {image.shape[0]}")
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer), dtype=np.float32)
        out[i] = decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)
    return torch.from_numpy(out / 255.0).to(x.device)


def _rotate(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    radians = ROTATE_RADIANS[severity - 1] * _random_signs(x.shape[0], g).double()
    return warp_affine(x, _rotation_matrices(radians))


def _translate(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    fraction = TRANSLATE_FRACTION[severity - 1]
    signs = torch.stack([_random_signs(n, g), _random_signs(n, g)], dim=1).double()
    shifts = signs * torch.tensor([w * fraction, h * fraction], dtype=torch.float64)
    identity = torch.eye(2, dtype=torch.float64).expand(n, 2, 2)
    return warp_affine(x, identity, shifts)


def _shear(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    matrices = torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)
    matrices[:, 0, 1] = SHEAR_FACTOR[severity - 1] * _random_signs(n, g).double()
    return warp_affine(x, matrices)


def _scale(x: torch.Tensor, severity: int, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    matrices = SCALE_FACTOR[severity - 1] * torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)
    return warp_affine(x, matrices)


def _levels(template: str, values: Sequence[float | int | tuple]) -> tuple[str, ...]:
    return tuple(template.format(*(v if isinstance(v, tuple) else (v,))) for v in values)


_SUITE: tuple[tuple[Corruption, Transform], ...] = (
    (Corruption("gaussian_noise", "Gaussian noise", "noise",
                "Adds independent normal noise to every pixel (sensor noise).",
                _levels("σ = {}", GAUSSIAN_NOISE_STD)), _gaussian_noise),
    (Corruption("shot_noise", "Shot noise", "noise",
                "Poisson photon-count noise: pixels become counts of few photons.",
                _levels("{:g} photons at white", SHOT_NOISE_PHOTONS)), _shot_noise),
    (Corruption("impulse_noise", "Impulse noise", "noise",
                "Salt-and-pepper: a share of pixel values set to black or white.",
                _levels("{:.0%} of values", IMPULSE_NOISE_AMOUNT)), _impulse_noise),
    (Corruption("speckle_noise", "Speckle noise", "noise",
                "Multiplicative normal noise: brighter pixels get noisier.",
                _levels("σ = {}", SPECKLE_NOISE_STD)), _speckle_noise),
    (Corruption("gaussian_blur", "Gaussian blur", "blur",
                "Gaussian smoothing, as from a soft lens.",
                _levels("σ = {} px at 32 px", GAUSSIAN_BLUR_SIGMA)), _gaussian_blur),
    (Corruption("motion_blur", "Motion blur", "blur",
                "Smearing along a random direction per image, as from a moving camera.",
                _levels("{} px streak at 32 px", MOTION_BLUR_LENGTH)), _motion_blur),
    (Corruption("defocus_blur", "Defocus blur", "blur",
                "Averaging over a disk, as from an out-of-focus lens.",
                _levels("disk radius {} px at 32 px", DEFOCUS_BLUR_RADIUS)), _defocus_blur),
    (Corruption("contrast", "Contrast", "digital",
                "Pulls every pixel towards the image's mean colour.",
                _levels("contrast × {}", CONTRAST_FACTOR)), _contrast),
    (Corruption("brightness", "Brightness", "weather",
                "Raises the HSV value (brightness) of every pixel, keeping hue and saturation.",
                _levels("V + {}", BRIGHTNESS_SHIFT)), _brightness),
    (Corruption("fog", "Fog", "weather",
                "Overlays smooth fractal haze and lowers the contrast.",
                _levels("haze {}, roughness {}", FOG_STRENGTH_DECAY)), _fog),
    (Corruption("pixelate", "Pixelate", "digital",
                "Averages blocks of pixels: the image at a lower resolution, enlarged.",
                _levels("{:.0%} resolution", PIXELATE_FACTOR)), _pixelate),
    (Corruption("jpeg", "JPEG compression", "digital",
                "Lossy JPEG compression artefacts (blocks, ringing).",
                _levels("quality {}", JPEG_QUALITY)), _jpeg),
    (Corruption("rotate", "Rotation", "geometric",
                "Rotates each image about its centre, clockwise or anticlockwise at random.",
                tuple(f"±{math.degrees(r):.0f}°" for r in ROTATE_RADIANS)), _rotate),
    (Corruption("translate", "Translation", "geometric",
                "Shifts each image diagonally in a random direction.",
                tuple(f"{f:.1%} of the side" for f in TRANSLATE_FRACTION)), _translate),
    (Corruption("shear", "Shear", "geometric",
                "Slants each image horizontally, left or right at random.",
                _levels("shear ±{}", SHEAR_FACTOR)), _shear),
    (Corruption("scale", "Zoom out", "geometric",
                "Shrinks each image about its centre.",
                _levels("size × {}", SCALE_FACTOR)), _scale),
)

CORRUPTIONS: dict[str, Corruption] = {c.name: c for c, _ in _SUITE}
_TRANSFORMS: dict[str, Transform] = {c.name: f for c, f in _SUITE}


def corrupt(x: torch.Tensor, name: str, severity: int, *, seed: int = 0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt a batch of images.

    Args:
        x: float (N, C, H, W) in [0, 1], C = 1 or 3, on any device.
        name: a key of ``CORRUPTIONS``.
        severity: 0 (returns ``x`` unchanged) to 5.
        seed: seeds a fresh CPU ``torch.Generator`` for the random draws.
        generator: a CPU generator to use instead of ``seed`` (advanced by the call).

    Returns:
        float32 (N, C, H, W) clipped to [0, 1], on ``x``'s device.

    References:
        Hendrycks & Dietterich 2019 (ImageNet-C, CIFAR-10-C); Mu & Gilmer 2019 (MNIST-C).
    """
    transform = _TRANSFORMS.get(name)
    if transform is None:
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    severity = validate_severity(severity)
    x = _check_batch(x)
    if severity == 0 or x.shape[0] == 0:
        return x
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed))
    return transform(x, severity, generator).float().clamp_(0.0, 1.0)


def corrupt_pictures(pictures: Sequence[torch.Tensor], name: str, severity: int, *,
                     seed: int = 0) -> torch.Tensor:
    """Pictures, each float (C, H, W) in [0, 1] of one shape, stacked into one batch and
    corrupted by ``corrupt`` (seeded): float32 (N, C, H, W)."""
    return corrupt(torch.stack(list(pictures)), name, severity, seed=seed)


def image_batch(images: np.ndarray) -> torch.Tensor:
    """A numpy batch of images (N, C, H, W), as ``rotate`` returns it after ``.numpy()``, as
    the tensor the methods predict on (memory shared, no copy)."""
    return torch.from_numpy(images)
