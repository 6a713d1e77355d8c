"""A user's own images: ``folder:PATH`` with one sub-folder per class.

The sorted sub-folder names are the class names. Images of any size in PNG, JPEG, BMP, TIFF or
WebP, colour or grey, anywhere inside a class folder, are read with Pillow and resized (plain
bilinear resize, Pillow's antialiasing) to 28×28 when every image is grey (1 channel) and to
32×32 otherwise (3 channels; grey images are repeated over the channels). Unreadable or corrupt
files, and images larger than ``PIL.Image.MAX_IMAGE_PIXELS`` (decompression bombs), are skipped
and counted in the spec's ``warnings``. The images are split 60 / 20 / 20, stratified by class.

Symbolic links are followed only while their real path stays inside the folder
(``walk_images``): a class folder, sub-folder or image that is a link leading outside is skipped
and counted in the ``warnings`` too, and each file is opened by its real path, checked again at
read time (``open_inside``).
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from uqviz.data.base import FOLDER, DatasetSpec, DatasetUnavailable, DataSplits, splits_from_arrays
from uqviz.data.roots import lies_inside

FOLDER_PREFIX = "folder:"
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
GRAY_SIZE = 28
COLOUR_SIZE = 32
FEW_IMAGES_PER_CLASS = 5
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})
_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                Image.DecompressionBombWarning)
OUTSIDE_LINK = "a link that leads outside the folder"
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class LeadsOutside(OSError):
    """A path whose real path (links followed) lies outside the folder being read."""


@dataclass(frozen=True)
class FolderImages:
    """Everything read from an image folder.

    Attributes:
        images: float32 (N, C, H, W) in [0, 1].
        labels: int64 (N,) index into ``class_names``.
        class_names: sorted names of the class folders that hold at least one readable image.
        skipped: paths (relative to the folder) of image files that could not be read.
        empty_classes: class folders with no readable image (left out of ``class_names``).
        outside_links: paths (relative to the folder) of the class folders, sub-folders and
            image files left out because they are links whose real path leaves the folder.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    skipped: tuple[str, ...]
    empty_classes: tuple[str, ...]
    outside_links: tuple[str, ...] = ()


def _is_gray_mode(image: Image.Image) -> bool:
    if image.mode.startswith("I;16") or image.mode in _GRAY_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = image.getpalette() or []
        rgb = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
        return bool((rgb == rgb[:, :1]).all())
    return False


def _check_pixels(image: Image.Image) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.width * image.height > limit:
        raise Image.DecompressionBombError(
            f"{image.width}×{image.height} pixels exceed PIL.Image.MAX_IMAGE_PIXELS = {limit}"
        )


def _gray_array(image: Image.Image, size: int) -> np.ndarray:
    """A grey image resized to (size, size), float32 in [0, 1]."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        if image.mode == "F":
            scale = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
        else:
            wide = image.mode.startswith("I;16") or values.max(initial=0) > 255
            scale = 65535.0 if wide else 255.0
        image = Image.fromarray(np.clip(values / scale, 0.0, 1.0).astype(np.float32), mode="F")
        resized = image.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(resized, dtype=np.float32)
    resized = image.convert("L").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / 255.0


def open_inside(path: Path, root: Path) -> BinaryIO:
    """``path`` opened for reading by its real path, when that lies inside ``root`` (a real
    path).

    The path is resolved once and that real path is opened without following a link at its
    end and without waiting on a pipe, so a link (or pipe) put in place after a folder was
    scanned cannot lead the read out of ``root``.

    Raises:
        LeadsOutside: the real path is outside ``root`` (the message is ``OUTSIDE_LINK``).
        OSError: it cannot be opened, or is not a regular file.
    """
    real = path.resolve()
    if not lies_inside(real, root):
        raise LeadsOutside(OUTSIDE_LINK)
    fd = os.open(real, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_image(path: Path, size: int, channels: int, root: Path) -> np.ndarray:
    """One image as float32 (channels, size, size) in [0, 1]; raises one of _READ_ERRORS."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with open_inside(path, root) as handle, Image.open(handle) as image:
            _check_pixels(image)
            if image.format == "JPEG":
                image.draft(image.mode, (size, size))
            image.load()
            image = ImageOps.exif_transpose(image)
            if _is_gray_mode(image):
                gray = _gray_array(image, size)
                return np.repeat(gray[None], channels, axis=0)
            if channels == 1:
                return _gray_array(image.convert("RGB"), size)[None]
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0


def _peek_gray(path: Path, root: Path) -> bool | None:
    """Whether an image is grey, from its header only; None when it cannot be opened."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_inside(path, root) as handle, Image.open(handle) as image:
                _check_pixels(image)
                return _is_gray_mode(image)
    except _READ_ERRORS:
        return None


def class_folders(root: Path) -> list[Path]:
    """The sorted sub-folders of ``root`` (hidden ones left out), links included."""
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _entries(folder: Path) -> list[os.DirEntry]:
    """The entries of a folder; none when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []


def _kind(entry: os.DirEntry) -> str:
    """``dir``, ``file`` (a regular file) or ``other``, links followed."""
    try:
        return "dir" if entry.is_dir() else "file" if entry.is_file() else "other"
    except OSError:
        return "other"


def walk_images(folder: Path, root: Path) -> tuple[list[Path], list[Path]]:
    """The image files anywhere under ``folder`` (by extension), and the links met on the way
    whose real path leaves ``root`` (a real path); both sorted, paths as found under ``folder``.

    A link (to a folder or a file) whose real path stays inside ``root`` is followed, each real
    folder once (a loop ends); one that leads outside is not followed, only listed: the
    folder itself when it is such a link, sub-folders, and files with an image extension
    (dangling ones too).
    """
    if not lies_inside(folder, root):
        return [], [folder]
    files: list[Path] = []
    outside: list[Path] = []
    start = folder.resolve()
    seen, stack = {start}, [(folder, start)]
    while stack:
        here, real_here = stack.pop()
        for entry in _entries(here):
            path, kind = here / entry.name, _kind(entry)
            real = path.resolve() if entry.is_symlink() else real_here / entry.name
            if kind != "dir" and not _is_image_name(entry.name):
                continue
            if not lies_inside(real, root):
                outside.append(path)
            elif kind == "dir" and real not in seen:
                seen.add(real)
                stack.append((path, real))
            elif kind == "file":
                files.append(path)
    return sorted(files), sorted(outside)


def image_files(folder: Path, root: Path | None = None) -> list[Path]:
    """Image files anywhere under ``folder`` by extension, sorted; links whose real path leaves
    ``root`` (default: the folder's own real path) are left out (``walk_images``)."""
    return walk_images(folder, folder.resolve() if root is None else root)[0]


@dataclass(frozen=True)
class _Scan:
    """A class folder as found: its class folders (inside it), their image files with the
    class index, and the links that lead outside it."""

    folders: list[Path]
    files: list[tuple[int, Path]]
    outside: list[Path]


def _scan(root: Path) -> _Scan:
    """Class folders and image files of ``root`` (a real path), links leading outside it
    left out and listed."""
    folders, outside = [], []
    for folder in class_folders(root):
        (folders if lies_inside(folder, root) else outside).append(folder)
    files = []
    for index, folder in enumerate(folders):
        found, away = walk_images(folder, root)
        files += [(index, path) for path in found]
        outside += away
    return _Scan(folders, files, sorted(outside))


def _links_note(scan: _Scan) -> str:
    count = len(scan.outside)
    return (f" ({count} link{'s' if count > 1 else ''} that lead{'' if count > 1 else 's'} "
            "outside the folder skipped)") if count else ""


def _listing(root: Path, scan: _Scan) -> tuple[tuple[str, int, int], ...]:
    """(relative path, size, mtime) of every image file of ``scan`` (size -1 for a link that
    leads outside): the cache key of a folder's content."""
    rows = [(str(path.relative_to(root)), -1, -1) for path in scan.outside]
    for _, path in scan.files:
        try:
            info = path.stat()
            rows.append((str(path.relative_to(root)), info.st_size, info.st_mtime_ns))
        except OSError:
            rows.append((str(path.relative_to(root)), -1, -1))
    return tuple(rows)


def _check_root(root: Path) -> _Scan:
    if not root.exists():
        raise DatasetUnavailable(f"image folder {root} does not exist.")
    if not root.is_dir():
        raise DatasetUnavailable(f"{root} is a file, not a folder of class sub-folders.")
    scan = _scan(root)
    folders = scan.folders
    if not folders:
        raise DatasetUnavailable(
            f"image folder {root} has no class sub-folders{_links_note(scan)}; put each "
            f"class's images in {root}/<class name>/."
        )
    if len(folders) < 2:
        raise DatasetUnavailable(
            f"image folder {root} has only one class sub-folder ({folders[0].name})"
            f"{_links_note(scan)}; a classifier needs at least 2."
        )
    return scan


@functools.lru_cache(maxsize=4)
def _read_folder_cached(root: str, image_size: int | None,
                        listing: tuple[tuple[str, int, int], ...]) -> FolderImages:
    del listing  # only part of the cache key: the folder's content
    base = Path(root)
    scan = _check_root(base)
    folders, files = scan.folders, scan.files
    if not files:
        raise DatasetUnavailable(
            f"image folder {base} has no image files (PNG, JPEG, BMP, TIFF or WebP) in its "
            f"class sub-folders{_links_note(scan)}."
        )
    gray_flags = [_peek_gray(path, base) for _, path in files]
    readable = [flag for flag in gray_flags if flag is not None]
    channels = 1 if readable and all(readable) else 3
    size = image_size or (GRAY_SIZE if channels == 1 else COLOUR_SIZE)
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[str] = []
    for (index, path), flag in zip(files, gray_flags, strict=True):
        try:
            if flag is None:
                raise OSError("cannot open")
            images.append(_read_image(path, size, channels, base))
            labels.append(index)
        except _READ_ERRORS:
            skipped.append(str(path.relative_to(base)))
    if not images:
        raise DatasetUnavailable(
            f"image folder {base}: none of its {len(files)} image files could be read."
        )
    present = sorted(set(labels))
    if len(present) < 2:
        raise DatasetUnavailable(
            f"image folder {base} has readable images in only one class "
            f"({folders[present[0]].name}); a classifier needs at least 2."
        )
    remap = np.full(len(folders), -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    return FolderImages(
        images=np.stack(images).astype(np.float32),
        labels=remap[np.asarray(labels, dtype=np.int64)],
        class_names=tuple(folders[i].name for i in present),
        skipped=tuple(skipped),
        empty_classes=tuple(f.name for i, f in enumerate(folders) if i not in set(present)),
        outside_links=tuple(str(path.relative_to(base)) for path in scan.outside),
    )


def read_folder(path: str | Path, image_size: int | None = None) -> FolderImages:
    """Read (and cache, keyed by the folder's file listing) every image of a class folder.

    Args:
        path: folder with one sub-folder per class.
        image_size: side of the square images; default 28 (all grey) or 32 (colour).

    Raises:
        DatasetUnavailable: missing path, no class folders, fewer than 2 classes, or no
            readable image.
    """
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
    root = Path(path).expanduser().resolve()
    return _read_folder_cached(str(root), image_size, _listing(root, _check_root(root)))


def folder_warnings(images: FolderImages) -> tuple[str, ...]:
    """Readable sentences about what was skipped or is thin in a folder."""
    notes = []
    if images.skipped:
        count = len(images.skipped)
        notes.append(f"Skipped {count} unreadable image file{'s' if count > 1 else ''} "
                     f"(for example {images.skipped[0]}).")
    if images.outside_links:
        count = len(images.outside_links)
        notes.append(f"Skipped {count} link{'s' if count > 1 else ''} that lead"
                     f"{'' if count > 1 else 's'} outside the folder (for example "
                     f"{images.outside_links[0]}).")
    if images.empty_classes:
        notes.append("Left out class folders with no readable image: "
                     f"{', '.join(images.empty_classes)}.")
    counts = np.bincount(images.labels, minlength=len(images.class_names))
    thin = [name for name, n in zip(images.class_names, counts, strict=True)
            if n < FEW_IMAGES_PER_CLASS]
    if thin:
        notes.append(f"Classes with fewer than {FEW_IMAGES_PER_CLASS} images (validation and "
                     f"test may miss them): {', '.join(thin)}.")
    return tuple(notes)


def folder_spec(path: str | Path, image_size: int | None = None,
                ood_sets: tuple[str, ...] = ()) -> DatasetSpec:
    """DatasetSpec of an image folder; reads the images now (to know classes and shape)."""
    images = read_folder(path, image_size)
    root = Path(path).expanduser().resolve()
    n, c, h, w = images.images.shape
    notes = folder_warnings(images)
    description = (
        f"{n:,} images in {len(images.class_names)} classes from {root}, resized to "
        f"{h}×{w} {'grey' if c == 1 else 'colour'}, split 60/20/20 into train / validation / "
        "test."
    )
    if images.skipped:
        description += f" {len(images.skipped)} unreadable file(s) skipped."
    if images.outside_links:
        description += (f" {len(images.outside_links)} link(s) leading outside the folder "
                        "skipped.")

    def load(seed: int) -> DataSplits:
        return splits_from_arrays(images.images, images.labels, seed)

    return DatasetSpec(
        name=f"{FOLDER_PREFIX}{root}", num_classes=len(images.class_names),
        class_names=images.class_names, input_shape=(c, h, w), source=FOLDER,
        description=description, load=load, ood_sets=ood_sets, warnings=notes,
    )
