"""Reading and preparing a user's own image: safety checks and the MNIST-style recipe."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFile

from uqviz.data.user_images import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    ImageRejected,
    preprocess,
    read_user_image,
)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _dark_stroke_on_white(size=(300, 200)) -> Image.Image:
    """A thick dark '1'-like stroke off to the upper left of a white page."""
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).line([(40, 20), (60, 120)], fill=10, width=12)
    return image


def _centre_of_mass(x: torch.Tensor) -> tuple[float, float]:
    g = x[0].double().numpy()
    rows, cols = np.arange(g.shape[0]) + 0.5, np.arange(g.shape[1]) + 0.5
    return float(g.sum(1) @ rows / g.sum()), float(g.sum(0) @ cols / g.sum())


def test_dark_digit_on_white_becomes_light_on_dark_and_centred():
    image = read_user_image(_png(_dark_stroke_on_white()), "one.png")
    prepared = preprocess(image, (1, 28, 28))
    x = prepared.tensor
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert float(x.max()) > 0.8  # the ink is light
    border = torch.cat([x[0, 0], x[0, -1], x[0, :, 0], x[0, :, -1]])
    assert float(border.max()) < 0.05  # a dark, empty margin as in MNIST
    cy, cx = _centre_of_mass(x)
    assert abs(cy - 14) < 1.0 and abs(cx - 14) < 1.0
    assert any("inverted" in s for s in prepared.steps)
    assert any("centre of mass" in s for s in prepared.steps)


def test_light_ink_on_dark_is_not_inverted_and_small_side_fills_the_frame():
    image = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(image).ellipse([20, 10, 44, 54], outline=255, width=5)
    prepared = preprocess(image, (1, 8, 8))
    assert prepared.tensor.shape == (1, 8, 8)
    assert not any("inverted" in s for s in prepared.steps)
    # no margin for 8×8: the ink reaches the top and bottom rows
    assert float(prepared.tensor[0, 0].max()) > 0.2 and float(prepared.tensor[0, -1].max()) > 0.2


def test_blank_picture_is_resized_whole():
    prepared = preprocess(Image.new("L", (40, 30), 255), (1, 28, 28))
    assert any("no ink" in s for s in prepared.steps)
    assert float(prepared.tensor.max()) == 0.0  # inverted white page


def test_transparent_canvas_with_light_strokes_goes_on_black():
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(25, 5), (25, 45)], fill=(255, 255, 255, 255), width=6)
    prepared = preprocess(image, (1, 28, 28))
    assert not any("inverted" in s for s in prepared.steps)
    assert float(prepared.tensor.max()) > 0.8 and float(prepared.tensor[0, 0, 0]) == 0.0


def test_colour_image_is_centre_cropped_and_resized():
    array = np.zeros((100, 200, 3), dtype=np.uint8)
    array[:, :50] = (255, 0, 0)  # cropped away
    array[:, 50:150] = (0, 0, 255)
    prepared = preprocess(Image.fromarray(array), (3, 32, 32))
    x = prepared.tensor
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert torch.allclose(x[2], torch.ones(32, 32)) and float(x[0].max()) == 0.0
    assert any("centre-cropped" in s for s in prepared.steps)


def test_grey_picture_for_a_colour_model_gets_three_channels():
    prepared = preprocess(Image.new("L", (40, 40), 128), (3, 32, 32))
    assert prepared.tensor.shape == (3, 32, 32)
    assert torch.allclose(prepared.tensor, torch.full((3, 32, 32), 128 / 255), atol=1e-3)


@pytest.mark.parametrize("shape", [(2, 28, 28), (1, 0, 28), (28, 28)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape"):
        preprocess(Image.new("L", (10, 10)), shape)


def test_random_bytes_are_not_an_image():
    data = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    with pytest.raises(ImageRejected, match=r"^noise\.png: not an image"):
        read_user_image(data, "noise.png")


def test_empty_file():
    with pytest.raises(ImageRejected, match="empty"):
        read_user_image(b"", "empty.png")


def test_truncated_png():
    noise = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    data = _png(Image.fromarray(noise))
    with pytest.raises(ImageRejected, match=r"^cut\.png: truncated or corrupt"):
        read_user_image(data[: len(data) // 2], "cut.png")


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(ImageRejected, match=r"^big\.png: .* bytes is more than the 10 MiB"):
        read_user_image(b"\0" * (MAX_UPLOAD_BYTES + 1), "big.png")


def test_decompression_bomb_is_refused_from_the_header():
    bomb = _png(Image.new("L", (20000, 20000)))
    assert len(bomb) < MAX_UPLOAD_BYTES
    before = Image.MAX_IMAGE_PIXELS

    def never_decode(self):
        raise AssertionError("the pixels of a decompression bomb were decoded")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ImageFile.ImageFile, "load", never_decode)  # 400 M pixels are not decoded
        with pytest.raises(ImageRejected, match=r"^bomb\.png: .*(decompression bomb)"):
            read_user_image(bomb, "bomb.png")
    assert Image.MAX_IMAGE_PIXELS == before


def test_image_just_over_the_local_limit_is_refused():
    side = int(MAX_PIXELS**0.5) + 1
    data = _png(Image.new("1", (side, side)))
    with pytest.raises(ImageRejected, match="decompression bomb"):
        read_user_image(data, "wide.png")


def test_jpeg_reads_and_prepares():
    buffer = io.BytesIO()
    _dark_stroke_on_white().convert("RGB").save(buffer, format="JPEG")
    image = read_user_image(buffer.getvalue(), "one.jpg")
    assert preprocess(image, (1, 28, 28)).tensor.shape == (1, 28, 28)


def test_thin_stroke_reduced_to_8x8_still_reaches_white():
    image = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(image).line([(80, 60), (220, 60), (140, 260)], fill=20, width=10)
    prepared = preprocess(image, (1, 8, 8))
    assert float(prepared.tensor.max()) == pytest.approx(1.0)
    assert any("brightest pixel" in s for s in prepared.steps)
