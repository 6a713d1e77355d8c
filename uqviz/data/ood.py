"""Out-of-distribution inputs that need no download, matched to a dataset's input shape.

* ``uniform_noise``: every pixel i.i.d. uniform on [0, 1].
* ``gaussian_noise``: every pixel i.i.d. normal, mean 0.5, standard deviation 0.25, clipped to
  [0, 1] (the noise baselines of Hendrycks & Gimpel 2017 and Hendrycks et al. 2019).
* ``natural_patches``: random square crops (32–160 px, randomly mirrored, flat ones redrawn) of
  the photos that ship with scikit-learn (``china.jpg``, ``flower.jpg``) and scikit-image
  (astronaut, coffee, chelsea, camera, rocket, …), resized with antialiasing.
* ``digits`` / ``mnist5k``: the other bundled digit set, resized, for the digit datasets
  (same classes, other writers, scanner and resolution: a dataset shift treated as OOD).

Colour sources become grey by ITU-R 601 luminance when the dataset is grey; grey sources are
repeated over three channels when it is colour. Every set is deterministic per seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from uqviz.data.base import DatasetSpec

LUMINANCE_WEIGHTS = (0.299, 0.587, 0.114)
PATCH_SIDE_RANGE = (32, 160)
FLAT_PATCH_STD = 0.03
MAX_DRAWS = 20
GAUSSIAN_MEAN = 0.5
GAUSSIAN_STD = 0.25
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket", "brick", "grass",
                  "gravel", "coins", "moon", "hubble_deep_field", "immunohistochemistry")


@dataclass(frozen=True)
class OODSet:
    """One out-of-distribution set: registry id, readable label, one-line description."""

    name: str
    label: str
    description: str


OOD_SETS: dict[str, OODSet] = {
    "uniform_noise": OODSet("uniform_noise", "Uniform noise",
                            "Every pixel drawn independently and uniformly from [0, 1]."),
    "gaussian_noise": OODSet("gaussian_noise", "Gaussian noise",
                             "Every pixel drawn independently from N(0.5, 0.25²), clipped."),
    "natural_patches": OODSet("natural_patches", "Natural photo patches",
                              "Random crops of the photos bundled with scikit-learn and "
                              "scikit-image (a cat, a coffee cup, a rocket, textures …)."),
    "digits": OODSet("digits", "Other digits (scikit-learn 8×8)",
                     "scikit-learn's 8×8 digits resized: same classes, other writers and "
                     "resolution."),
    "mnist5k": OODSet("mnist5k", "Other digits (MNIST)",
                      "MNIST digits resized: same classes, other writers and resolution."),
}
BASIC_OOD_SETS = ("uniform_noise", "gaussian_noise", "natural_patches")
_OTHER_DIGITS = {"digits": ("mnist5k",), "mnist5k": ("digits",), "mnist": ("digits",)}


def ood_sets_for(spec: DatasetSpec) -> tuple[str, ...]:
    """Names of the OOD sets that apply to ``spec``: the noises, photo patches, other digits."""
    return ood_sets_for_name(spec.name)


def ood_sets_for_name(dataset_name: str) -> tuple[str, ...]:
    """:func:`ood_sets_for` from a dataset's registry name alone (used while building specs)."""
    return BASIC_OOD_SETS + _OTHER_DIGITS.get(dataset_name, ())


def resize_images(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of (N, C, h, w) to (N, C, height, width), antialiased when shrinking."""
    if images.shape[-2:] == (height, width):
        return images
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False,
                         antialias=True).clamp_(0.0, 1.0)


def match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, c, H, W) -> (N, channels, H, W): luminance for 3 -> 1, repetition for 1 -> 3."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMINANCE_WEIGHTS, dtype=images.dtype).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)
    if have == 1:
        return images.expand(-1, channels, -1, -1).contiguous()
    raise ValueError(f"cannot convert {have} channels to {channels}")


@functools.lru_cache(maxsize=1)
def photo_pool() -> tuple[torch.Tensor, ...]:
    """The bundled photos as float32 (c, h, w) tensors in [0, 1] (c = 1 or 3)."""
    from sklearn.datasets import load_sample_images

    arrays = list(load_sample_images().images)
    try:
        import skimage.data
    except ImportError:  # scikit-image is optional: scikit-learn's two photos suffice
        skimage = None
    if skimage is not None:
        for name in SKIMAGE_PHOTOS:
            try:
                arrays.append(getattr(skimage.data, name)())
            except Exception:  # a photo missing from this install (or needing a download)
                continue
    pool = []
    for array in arrays:
        array = np.asarray(array)
        if array.ndim == 3:
            array = array[..., :3].transpose(2, 0, 1)
        else:
            array = array[None]
        pool.append(torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32) / 255.0))
    return tuple(pool)


def natural_patches(n: int, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """``n`` random square photo crops shaped (n, *shape), deterministic per seed.

    A crop that comes out flat (standard deviation under ``FLAT_PATCH_STD``: sky, black space)
    is drawn again, up to ``MAX_DRAWS`` times.
    """
    channels, height, width = shape
    rng = np.random.default_rng(seed)
    pool = photo_pool()
    out = torch.empty((n, channels, height, width), dtype=torch.float32)
    for i in range(n):
        for _ in range(MAX_DRAWS):
            photo = pool[int(rng.integers(len(pool)))]
            limit = min(photo.shape[1], photo.shape[2])
            side = int(rng.integers(min(PATCH_SIDE_RANGE[0], limit),
                                    min(PATCH_SIDE_RANGE[1], limit) + 1))
            top = int(rng.integers(photo.shape[1] - side + 1))
            left = int(rng.integers(photo.shape[2] - side + 1))
            crop = photo[None, :, top:top + side, left:left + side]
            patch = match_channels(resize_images(crop, height, width), channels)
            if rng.random() < 0.5:
                patch = patch.flip(-1)
            if float(patch.std()) >= FLAT_PATCH_STD:
                break
        out[i] = patch[0]
    return out


def other_digits(name: str, n: int, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """``n`` images of the bundled digit set ``name`` resized to ``shape``, seeded sample."""
    from uqviz.data.offline import digits_arrays, mnist5k_arrays

    images, _ = digits_arrays() if name == "digits" else mnist5k_arrays()
    rng = np.random.default_rng(seed)
    index = rng.choice(len(images), size=n, replace=n > len(images))
    picked = torch.from_numpy(images[index])
    return resize_images(match_channels(picked, shape[0]), shape[1], shape[2]).contiguous()


def load_ood(name: str, spec: DatasetSpec, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` images of the OOD set ``name`` shaped like ``spec``'s inputs.

    Args:
        name: one of ``OOD_SETS``.
        spec: the in-distribution dataset (its ``input_shape`` (C, H, W) is matched).
        n: number of images.
        seed: makes the set deterministic.

    Returns:
        float32 (n, C, H, W) in [0, 1].
    """
    if name not in OOD_SETS:
        raise ValueError(f"unknown OOD set {name!r}; valid: {', '.join(OOD_SETS)}")
    if n < 0:
        raise ValueError(f"n must be a non-negative number of images, got {n}")
    if name == spec.name:
        raise ValueError(f"OOD set {name!r} is the dataset itself; pick another of "
                         f"{', '.join(ood_sets_for(spec))}")
    shape = tuple(spec.input_shape)
    if name == "uniform_noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand((n, *shape), generator=generator)
    if name == "gaussian_noise":
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn((n, *shape), generator=generator)
        return (GAUSSIAN_MEAN + GAUSSIAN_STD * noise).clamp_(0.0, 1.0)
    if name == "natural_patches":
        return natural_patches(n, shape, seed)
    return other_digits(name, n, shape, seed)
