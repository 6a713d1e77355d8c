"""``folder:PATH`` datasets built from generated images, with corrupt and oversized files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from uqviz.data import DatasetUnavailable, get_dataset
from uqviz.data.base import FOLDER
from uqviz.data.folder import read_folder


def _save_gray(path, value: int, size=(20, 14), fmt=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8), mode="L").save(path, format=fmt)


def _gray_folder(root, per_class: int = 10):
    """Classes 'b_ones' (grey level 200) and 'a_zeros' (50), PNGs of several sizes."""
    for i in range(per_class):
        _save_gray(root / "b_ones" / f"{i}.png", 200, size=(20 + i, 14 + 2 * i))
        _save_gray(root / "a_zeros" / f"{i}.png", 50, size=(40, 40))
    return root


def test_grey_folder_with_a_corrupt_file(tmp_path):
    root = _gray_folder(tmp_path / "imgs")
    (root / "a_zeros" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (root / "a_zeros" / "notes.txt").write_text("ignored: not an image extension")
    (root / ".hidden").mkdir()
    spec = get_dataset(f"folder:{root}")
    assert spec.source == FOLDER and spec.name == f"folder:{root.resolve()}"
    assert spec.class_names == ("a_zeros", "b_ones") and spec.num_classes == 2
    assert spec.input_shape == (1, 28, 28)
    assert spec.warnings == ("Skipped 1 unreadable image file (for example a_zeros/broken.png).",)
    assert "20 images in 2 classes" in spec.description and "1 unreadable" in spec.description
    splits = spec.load(0)
    assert splits.sizes == {"train": 12, "validation": 4, "test": 4}
    x = torch.cat([splits.train_x, splits.val_x, splits.test_x])
    y = torch.cat([splits.train_y, splits.val_y, splits.test_y])
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    # a uniform image stays uniform through the resize: class 0 is 50/255, class 1 is 200/255
    assert torch.allclose(x[y == 0], torch.tensor(50 / 255), atol=1e-6)
    assert torch.allclose(x[y == 1], torch.tensor(200 / 255), atol=1e-6)
    assert torch.equal(spec.load(0).train_x, splits.train_x)


def test_any_colour_image_makes_the_set_rgb_32(tmp_path):
    root = _gray_folder(tmp_path, per_class=4)
    colour = np.zeros((50, 60, 3), dtype=np.uint8)
    colour[..., 0] = 255
    Image.fromarray(colour).save(root / "b_ones" / "red.jpg", quality=95)
    Image.fromarray(colour).save(root / "b_ones" / "red.webp")
    Image.fromarray(colour).save(root / "a_zeros" / "red.bmp")
    Image.fromarray(colour).convert("RGBA").save(root / "a_zeros" / "red.tiff")
    images = read_folder(root)
    assert images.images.shape == (12, 3, 32, 32) and images.skipped == ()
    grey = images.images[images.images[:, 1].mean(axis=(1, 2)) > 0.1]
    np.testing.assert_allclose(grey[:, 0], grey[:, 2], atol=1e-6)  # grey repeated on 3 channels
    red = images.images[images.images[:, 1].mean(axis=(1, 2)) < 0.1]
    assert len(red) == 4 and red[:, 0].min() > 0.95 and red[:, 1:].max() < 0.05


def test_sixteen_bit_grey_is_scaled_to_the_unit_range(tmp_path):
    root = _gray_folder(tmp_path, per_class=3)
    deep = Image.fromarray(np.full((10, 10), 49151, dtype=np.uint16))  # 3/4 of 65535
    assert deep.mode.startswith("I;16")
    deep.save(root / "b_ones" / "deep.png")
    images = read_folder(root, image_size=8)
    assert images.images.shape == (7, 1, 8, 8)
    levels = sorted({round(float(v), 4) for v in images.images.reshape(7, -1).mean(axis=1)})
    assert levels == [round(50 / 255, 4), 0.75, round(200 / 255, 4)]


def test_decompression_bombs_are_skipped(tmp_path, monkeypatch):
    root = _gray_folder(tmp_path, per_class=3)
    _save_gray(root / "a_zeros" / "warns.png", 10, size=(45, 40))  # 1,800 px: over the limit
    _save_gray(root / "a_zeros" / "errors.png", 10, size=(60, 60))  # 3,600 px: over twice it
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_700)  # the 40×40 class images pass
    images = read_folder(root)
    assert sorted(images.skipped) == ["a_zeros/errors.png", "a_zeros/warns.png"]
    assert len(images.labels) == 6


def test_changed_folder_is_read_again(tmp_path):
    root = _gray_folder(tmp_path, per_class=3)
    assert len(read_folder(root).labels) == 6
    _save_gray(root / "a_zeros" / "new.png", 50)
    assert len(read_folder(root).labels) == 7


def test_empty_class_folder_is_left_out_with_a_warning(tmp_path):
    root = _gray_folder(tmp_path, per_class=3)
    (root / "c_empty").mkdir()
    (root / "c_empty" / "bad.jpg").write_bytes(b"garbage")
    spec = get_dataset(f"folder:{root}")
    assert spec.class_names == ("a_zeros", "b_ones")
    assert any("c_empty" in w for w in spec.warnings)
    assert any("fewer than 5 images" in w for w in spec.warnings)


@pytest.mark.parametrize("layout,message", [
    ("missing", "does not exist"),
    ("file", "is a file, not a folder"),
    ("no_classes", "has no class sub-folders"),
    ("one_class", "has only one class sub-folder (only)"),
    ("no_images", "has no image files"),
    ("unreadable", "none of its 2 image files could be read"),
    ("one_readable_class", "readable images in only one class (a)"),
])
def test_unusable_folders_raise_a_clear_message(layout, message, tmp_path):
    root = tmp_path / "root"
    if layout == "file":
        root.write_text("x")
    elif layout == "no_classes":
        root.mkdir()
        _save_gray(root / "loose.png", 1)
    elif layout == "one_class":
        _save_gray(root / "only" / "0.png", 1)
    elif layout == "no_images":
        (root / "a").mkdir(parents=True)
        (root / "b").mkdir()
        (root / "a" / "x.txt").write_text("text")
    elif layout == "unreadable":
        for name in ("a", "b"):
            (root / name).mkdir(parents=True)
            (root / name / "x.png").write_bytes(b"nope")
    elif layout == "one_readable_class":
        _save_gray(root / "a" / "0.png", 1)
        (root / "b").mkdir()
        (root / "b" / "x.png").write_bytes(b"nope")
    with pytest.raises(DatasetUnavailable, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_dataset(f"folder:{root}")
