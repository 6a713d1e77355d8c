"""Turning image tensors into pictures for st.image (numpy only)."""

from __future__ import annotations

import numpy as np


def to_uint8_hwc(image: np.ndarray, scale: int = 1) -> np.ndarray:
    """One image (C, H, W) in [0, 1] -> (H·scale, W·scale, 3) uint8, nearest-neighbour upscale."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[None]
    rgb = np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image[:3]
    rgb = np.clip(rgb.transpose(1, 2, 0), 0, 1)
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    return (rgb * 255).round().astype(np.uint8)


def tile_images(images: np.ndarray, columns: int, scale: int = 1, pad: int = 2) -> np.ndarray:
    """A grid picture of N images (N, C, H, W) in [0, 1], ``columns`` per row, white padding."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("tile_images needs at least one image, got 0")
    tiles = [to_uint8_hwc(im, scale) for im in images]
    h, w = tiles[0].shape[:2]
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + c * (w + pad):pad + c * (w + pad) + w] = tile
    return grid


def upscale_for_display(height: int) -> int:
    """An integer zoom that shows small images at about 56 px."""
    return max(1, 56 // max(1, height))


def framed_pictures(images: np.ndarray, rows: np.ndarray, width: int,
                    pad: int = 3) -> list[np.ndarray]:
    """The images of ``rows`` (from (N, C, H, W) in [0, 1]) upscaled to about ``width`` px,
    each in a white frame of ``pad`` px that keeps neighbouring tiles apart."""
    scale = max(1, (width - 2 * pad) // images.shape[2])
    pictures = [to_uint8_hwc(images[i], scale) for i in rows]
    return [np.pad(p, ((pad, pad), (pad, pad), (0, 0)), constant_values=255) for p in pictures]
