"""Safe extraction of an uploaded zip of class folders (``uqviz.data.zip_upload``)."""

from __future__ import annotations

import io
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from uqviz.data.zip_upload import ZipLimits, ZipRejected, extract_zip


def png_bytes(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes], *, symlinks: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def refusal(data: bytes, target, **kwargs) -> str:
    with pytest.raises(ZipRejected) as info:
        extract_zip(data, target, name="upload.zip", **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert not any(target.iterdir()), "a refused archive leaves nothing behind"
    return message


@pytest.fixture
def target(tmp_path):
    folder = tmp_path / "extract"
    folder.mkdir()
    return folder


def test_class_folders_are_extracted_and_non_images_skipped(target):
    data = make_zip({"cats/1.png": png_bytes(1), "cats/2.PNG": png_bytes(2),
                     "dogs/a/3.jpg": png_bytes(3), "notes.txt": b"hello",
                     "__MACOSX/cats/._1.png": b"junk", "dogs/.DS_Store": b"junk"})
    result = extract_zip(data, target, name="pets.zip")
    assert result.root == target.resolve() and result.images == 3
    assert sorted(result.skipped) == ["__MACOSX/cats/._1.png", "dogs/.DS_Store", "notes.txt"]
    assert (target / "cats" / "1.png").read_bytes() == png_bytes(1)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) \
        == ["cats/1.png", "cats/2.PNG", "dogs/a/3.jpg"]


def test_a_single_top_folder_becomes_the_root_and_sources_may_be_paths_or_files(tmp_path):
    data = make_zip({"pets/cats/1.png": png_bytes(1), "pets/dogs/2.png": png_bytes(2)})
    (tmp_path / "pets.zip").write_bytes(data)
    assert extract_zip(tmp_path / "pets.zip", tmp_path / "a").root == (tmp_path / "a" /
                                                                      "pets").resolve()
    assert extract_zip(io.BytesIO(data), tmp_path / "b").images == 2
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "old").write_text("x")
    with pytest.raises(ValueError, match="must be empty"):
        extract_zip(data, tmp_path / "c")


@pytest.mark.parametrize("name, why", [
    ("/etc/evil.png", "is an absolute path"),
    ("C:/evil.png", "is an absolute path"),
    ("\\\\server\\share\\evil.png", "is an absolute path"),
    ("cats/../../evil.png", "climbs out of the folder with '..'"),
    ("..\\evil.png", "climbs out of the folder with '..'"),
])
def test_zip_slip_paths_are_refused(target, name, why):
    data = make_zip({"cats/1.png": png_bytes(), name: png_bytes()})
    assert refusal(data, target) == f"upload.zip: refused, member {name!r} {why}"
    assert not (target.parent / "evil.png").exists()


def test_symlinks_are_refused(target):
    data = make_zip({"cats/1.png": png_bytes()}, symlinks=("cats/link.png",))
    assert refusal(data, target) == "upload.zip: refused, member 'cats/link.png' is a symbolic link"


def test_zip_bombs_are_refused(target):
    bomb = make_zip({"cats/1.png": png_bytes(), "cats/zeros.png": bytes(20 << 20)})
    message = refusal(bomb, target)
    assert message.startswith("upload.zip: refused, member 'cats/zeros.png' expands ")
    assert message.endswith(" times (more than 100: a zip bomb?)")
    many = make_zip({f"cats/{i}.png": png_bytes(i) for i in range(3)})
    assert refusal(many, target, limits=ZipLimits(max_total_bytes=100)).startswith(
        "upload.zip: refused, its images would take ")


def test_too_many_files_and_oversize_archives_are_refused(target):
    data = make_zip({f"cats/{i}.png": png_bytes(i) for i in range(5)})
    assert refusal(data, target, limits=ZipLimits(max_files=4)) == (
        "upload.zip: 5 files is more than the 4 allowed")
    assert refusal(data, target, limits=ZipLimits(max_archive_bytes=100)) == (
        f"upload.zip: {len(data):,} bytes is more than the 100 allowed")


def test_nothing_but_non_images_and_not_a_zip(target):
    assert refusal(make_zip({"a.txt": b"x", "b/c.csv": b"y"}), target) == (
        "upload.zip: no images in the archive (PNG, JPEG, BMP, TIFF or WebP); 2 other file(s) "
        "skipped")
    assert refusal(b"PK not really", target) == "upload.zip: not a zip archive"
