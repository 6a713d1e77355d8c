"""One image of the user's own, read safely and prepared the way the model's training data looks.

``read_user_image`` refuses what is not a readable image (``ImageRejected`` with a one-line
reason): files over ``MAX_UPLOAD_BYTES``, bytes Pillow cannot identify, truncated or corrupt
files, and decompression bombs (more than ``MAX_PIXELS`` pixels, checked from the header before
any pixel is decoded; Pillow's global limit is left as it is).

``preprocess`` turns a picture into a (C, H, W) float32 tensor in [0, 1]. For grey digit-like
data it follows the MNIST recipe: grey levels, light ink on a dark background (a light picture
is inverted), the ink's bounding box padded to a square with a margin, centred by its centre of
mass, resized with antialiasing. Colour pictures are centre-cropped to a square and resized.

References: LeCun et al., "Gradient-based learning applied to document recognition", Proc. IEEE
86(11), 1998 (MNIST: digits size-normalised into 20×20 and centred by centre of mass in 28×28).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

MAX_UPLOAD_BYTES = 10 * 2**20
MAX_PIXELS = 4096 * 4096
MNIST_MARGIN = 4 / 28  # per side: MNIST digits fill a 20×20 box inside 28×28
SMALL_SIDE = 16  # below this (scikit-learn's 8×8 digits) the ink fills the frame: no margin
WORKING_SIDE = 512  # large pictures are reduced to this before the finer steps
INK_LEVEL = 0.3  # ink: brighter than background + 0.3 × (brightest − background)
MIN_CONTRAST = 0.05  # below this range of grey levels there is no ink to find
_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError,
                Image.DecompressionBombError, Image.DecompressionBombWarning)


class ImageRejected(ValueError):
    """An uploaded file that is not a usable image; the message names the file and why."""


@dataclass(frozen=True)
class PreparedImage:
    """An image as the model sees it.

    Attributes:
        tensor: float32 (C, H, W) in [0, 1].
        steps: what was done to the picture, in order, in words.
    """

    tensor: torch.Tensor
    steps: tuple[str, ...]


def _check_size(image: Image.Image, name: str) -> None:
    pixels = image.width * image.height
    if pixels > MAX_PIXELS:
        raise ImageRejected(
            f"{name}: {image.width}×{image.height} = {pixels:,} pixels is more than the "
            f"{MAX_PIXELS:,} allowed (a decompression bomb?)")


def check_byte_count(count: int, name: str) -> None:
    """Refuse a file of more than ``MAX_UPLOAD_BYTES`` (``ImageRejected``), e.g. from its size
    on disk before any byte is read."""
    if count > MAX_UPLOAD_BYTES:
        raise ImageRejected(f"{name}: {count:,} bytes is more than the "
                            f"{MAX_UPLOAD_BYTES // 2**20} MiB allowed")


def read_user_image(data: bytes, name: str) -> Image.Image:
    """Decode an uploaded file fully, refusing anything unsafe or unreadable.

    Args:
        data: the file's bytes.
        name: the file name, for messages.

    Returns:
        The decoded image (pixels loaded, EXIF orientation applied).

    Raises:
        ImageRejected: too many bytes, not an image, truncated or corrupt, or too many pixels.
    """
    check_byte_count(len(data), name)
    if not data:
        raise ImageRejected(f"{name}: the file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                _check_size(probe, name)
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                _check_size(image, name)
                image.load()
                return ImageOps.exif_transpose(image)
        except ImageRejected:
            raise
        except Image.UnidentifiedImageError:
            raise ImageRejected(f"{name}: not an image Pillow can read (PNG, JPEG, BMP, TIFF "
                                "or WebP)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise ImageRejected(f"{name}: too many pixels, a decompression bomb ({err})") from None
        except _READ_ERRORS as err:
            raise ImageRejected(f"{name}: truncated or corrupt image ({err})") from None


def canvas_image(pixels) -> Image.Image | None:
    """The drawing of a canvas widget, (H, W, 4) RGBA values, as an image; None when nothing
    is drawn (every pixel black)."""
    if pixels is None:
        return None
    array = np.asarray(pixels)
    if array[..., :3].max() == 0:
        return None
    return Image.fromarray(array.astype(np.uint8)[..., :4], "RGBA")


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """RGB with transparency composited on black when the visible pixels are light (light
    strokes on a transparent canvas), else on white."""
    rgba = image.convert("RGBA")
    pixels = np.asarray(rgba, dtype=np.float32) / 255.0
    visible = pixels[..., 3] > 0.5
    light = visible.any() and pixels[visible, :3].mean() > 0.5
    background = Image.new("RGBA", rgba.size, (0, 0, 0, 255) if light else (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _grey_levels(image: Image.Image) -> np.ndarray:
    """(H, W) float32 in [0, 1]."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = values.max(initial=0.0)
        scale = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else 65535.0
        return np.clip(values / scale, 0.0, 1.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _resize(array: np.ndarray, height: int, width: int) -> torch.Tensor:
    """(C, h, w) -> (C, height, width) float32 in [0, 1], bilinear with antialiasing."""
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]
    if x.shape[-2:] != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True,
                          align_corners=False)
    return x[0].clamp(0.0, 1.0)


def _border(grey: np.ndarray) -> np.ndarray:
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def _centred_square(ink: np.ndarray, margin: float) -> np.ndarray:
    """The cropped ink on a square canvas with its centre of mass in the middle and at least
    ``margin`` × side of empty space on each side."""
    h, w = ink.shape
    total = float(ink.sum())
    rows, cols = np.arange(h) + 0.5, np.arange(w) + 0.5
    cy = float(ink.sum(axis=1) @ rows) / total
    cx = float(ink.sum(axis=0) @ cols) / total
    reach = max(cy, h - cy, cx, w - cx)
    side = math.ceil(2 * reach / (1 - 2 * margin))
    side += (side - h) % 2 if side > h else 0
    canvas = np.zeros((side, side), dtype=np.float32)
    top = min(max(round(side / 2 - cy), 0), side - h)
    left = min(max(round(side / 2 - cx), 0), side - w)
    canvas[top:top + h, left:left + w] = ink
    return canvas


def _prepare_grey(grey: np.ndarray, height: int, width: int, margin: float,
                  steps: list[str]) -> torch.Tensor:
    background = float(np.median(_border(grey)))
    if float(_border(grey).mean()) > 0.5:
        grey, background = 1.0 - grey, 1.0 - background
        steps.append("inverted: the background was light, the model knows light ink on dark")
    top = float(grey.max())
    if top - background < MIN_CONTRAST:
        steps.append("no ink found: the whole picture resized")
        return _resize(grey[None], height, width)
    stretched = np.clip((grey - background) / (top - background), 0.0, 1.0)
    steps.append("background set to black, brightest ink to white")
    mask = stretched > INK_LEVEL
    ys, xs = np.nonzero(mask)
    crop = stretched[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    steps.append(f"cropped to the ink ({crop.shape[1]}×{crop.shape[0]} px)")
    square = _centred_square(crop, margin)
    room = f"a {margin:.0%} margin" if margin else "no margin (small digits fill their frame)"
    steps.append(f"padded to a square with {room}, centred by centre of mass")
    steps.append(f"resized to {width}×{height} with antialiasing")
    resized = _resize(square[None], height, width)
    peak = float(resized.max())
    if 0.0 < peak < 1.0:
        resized = resized / peak
        steps.append("brightest pixel set to white again")
    return resized


def _prepare_colour(image: Image.Image, height: int, width: int,
                    steps: list[str]) -> torch.Tensor:
    side = min(image.size)
    if image.width != image.height:
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        steps.append(f"centre-cropped to a {side}×{side} square")
    rgb = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    steps.append(f"resized to {width}×{height} with antialiasing")
    return _resize(rgb, height, width)


def preprocess(image: Image.Image, input_shape: tuple[int, int, int], *,
               margin: float | None = None) -> PreparedImage:
    """Prepare a picture for a model trained on images of ``input_shape``.

    Args:
        image: any Pillow image (``read_user_image``'s result).
        input_shape: (C, H, W) with C = 1 (grey, digit-like: light ink on dark) or 3 (colour).
        margin: empty space on each side of a grey image's ink as a fraction of the side, in
            [0, 0.5); default 4/28 as in MNIST, 0 for sides under 16 px (8×8 digits fill the
            frame).

    Returns:
        ``PreparedImage`` with a float32 (C, H, W) tensor in [0, 1] and the steps taken.

    Raises:
        ValueError: for a shape that is not (1 or 3, H, W) or a margin outside [0, 0.5).
    """
    if len(input_shape) != 3 or input_shape[0] not in (1, 3) or min(input_shape[1:]) < 1:
        raise ValueError(f"input_shape must be (1 or 3, H, W), got {input_shape}")
    channels, height, width = (int(v) for v in input_shape)
    if margin is None:
        margin = MNIST_MARGIN if min(height, width) >= SMALL_SIDE else 0.0
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    steps: list[str] = []
    if max(image.size) > WORKING_SIDE:
        image = image.copy()
        image.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.LANCZOS)
        steps.append(f"reduced to {image.width}×{image.height} px")
    if _has_alpha(image):
        image = _flatten_alpha(image)
        steps.append("transparency flattened")
    if channels == 1:
        steps.insert(0, "converted to grey levels")
        tensor = _prepare_grey(_grey_levels(image), height, width, margin, steps)
    else:
        if image.mode != "RGB":
            image = image.convert("RGB")
            steps.insert(0, "converted to RGB")
        tensor = _prepare_colour(image, height, width, steps)
    return PreparedImage(tensor=tensor.contiguous(), steps=tuple(steps))
