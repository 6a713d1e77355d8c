"""The augmentations of test-time augmentation (``uqviz.methods.tta``): square crops of 85–95 %
of the side at a seeded place, resized back, and mirrors where they keep the label."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """A square crop of ``side`` × the image side whose centre is moved by ``(dx, dy)`` (in
    half-sides, within the image), resized back to the full size, then mirrored if ``flip``;
    the default is the image itself."""

    side: float = 1.0
    dx: float = 0.0
    dy: float = 0.0
    flip: bool = False


IDENTITY = Augmentation()
CROP_RANGE = (0.85, 0.95)


def tta_augmentations(samples: int, seed: int, flips: bool) -> tuple[Augmentation, ...]:
    """``samples`` augmentations: the identity, then seeded random crops (and flips when
    ``flips``)."""
    if samples < 1:
        raise ValueError(f"test-time augmentation needs at least 1 sample, got {samples}")
    rng = np.random.default_rng(seed)
    drawn = [IDENTITY]
    for _ in range(samples - 1):
        side = float(rng.uniform(*CROP_RANGE))
        dx, dy = (float(v) for v in rng.uniform(-(1 - side), 1 - side, size=2))
        drawn.append(Augmentation(side, dx, dy, bool(flips and rng.random() < 0.5)))
    return tuple(drawn)


def augment(x: torch.Tensor, aug: Augmentation) -> torch.Tensor:
    """Apply one augmentation to float (B, C, H, W) images (bilinear; identity is a no-op)."""
    if aug == IDENTITY:
        return x
    theta = torch.tensor([[-aug.side if aug.flip else aug.side, 0.0, aug.dx],
                          [0.0, aug.side, aug.dy]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
