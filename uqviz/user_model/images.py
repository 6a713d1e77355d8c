"""A user's image folders, read for their model: labels by folder name, a seeded split, and
images decoded in batches from disk.

* **Labels** come from matching each sub-folder's *name* to the model's ``classes`` (never the
  folders' sorted order): ``dog/`` is class ``classes.index("dog")``. A sub-folder whose name is
  not a class is refused, naming it and the classes. A folder with no sub-folders is accepted
  unlabelled (labels -1). Images lying directly in a folder that has class sub-folders are left
  out; hidden folders and ``__MACOSX`` are ignored.
* **Links** are followed only while their real path stays inside the folder
  (``uqviz.data.folder.walk_images``). A class folder, sub-folder or image that is a link leading
  outside is kept as a row that is never read: it is skipped like an unreadable image, with the
  reason ``a link that leads outside the folder``. Each file is opened by its real path, checked
  again when it is read (``uqviz.data.folder.open_inside``), so a link put in place after the
  scan cannot lead out either.
* **Split**: labelled images are split, seeded and stratified by class, into a calibration part
  (fits temperature scaling and the Mahalanobis score) and a test part.
* **Streaming**: ``iter_batches`` decodes ``batch_size`` images at a time, so memory holds one
  batch of pixels, never the folder. Each image is read safely
  (``uqviz.data.user_images.read_user_image``: size limits, decompression bombs, truncation);
  one that cannot be read is skipped and counted, the rest go on. A batch's pixels must fit
  the input memory budget (``uqviz.user_model.config.check_input_budget``), checked before
  anything is allocated.
* **Preprocessing**: converted to 1 (``L``) or 3 (``RGB``) channels, resized to the model's
  ``input_size`` with Pillow's bilinear filter (antialiased when shrinking) unless it already has
  that size (then its pixels are kept exactly), and divided by 255: float32 (C, H, W) in [0, 1].
  The model's mean/std normalisation comes after (``UserModel.normalise``).

Row ids are the images' paths relative to their folder (POSIX separators).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from uqviz.data.base import stratified_holdout
from uqviz.data.folder import (
    IMAGE_EXTENSIONS,
    OUTSIDE_LINK,
    LeadsOutside,
    open_inside,
    walk_images,
)
from uqviz.data.user_images import (
    MAX_UPLOAD_BYTES,
    ImageRejected,
    PreparedImage,
    check_byte_count,
    read_user_image,
)
from uqviz.user_model.config import ModelConfig, UserModelError, check_input_budget

IGNORED_FOLDERS = frozenset({"__MACOSX"})
_WIDE_GREY = ("I", "F")


@dataclass(frozen=True, eq=False)
class ImageSet:
    """The image files of one folder, with their labels.

    Attributes:
        root: the folder (resolved).
        files: N paths relative to ``root`` (POSIX), the rows' ids; a link that leads
            outside ``root`` is a row too, skipped when read.
        labels: int64 (N,) index into the model's classes, -1 when unlabelled.
    """

    root: Path
    files: tuple[str, ...]
    labels: np.ndarray

    @property
    def labelled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, rows: np.ndarray) -> ImageSet:
        """The files at ``rows`` (indices), in that order."""
        return ImageSet(self.root, tuple(self.files[i] for i in rows), self.labels[rows])

    def fingerprint(self) -> str:
        """A hash of the files' names, sizes and modification times (not their bytes): it
        changes when the folder's content does."""
        digest = hashlib.sha256(str(self.root).encode())
        for name, label in zip(self.files, self.labels.tolist(), strict=True):
            digest.update(f"\n{name}|{label}|{_stat_key(self.root / name)}".encode())
        return digest.hexdigest()[:20]


def _stat_key(path: Path) -> str:
    """``size|mtime`` of a file, of the link itself when its target cannot be read."""
    try:
        info = path.stat()
    except OSError:
        try:
            info = path.lstat()
        except OSError:
            return "missing"
    return f"{info.st_size}|{info.st_mtime_ns}"


def _check_folder(root: Path) -> Path:
    if not root.exists():
        raise UserModelError(f"{root}: no such folder")
    if not root.is_dir():
        raise UserModelError(f"{root}: a file, not a folder of images")
    return root.resolve()


def _sub_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.name not in IGNORED_FOLDERS)


def _relative(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def _visible(paths: list[Path], root: Path) -> list[Path]:
    """``paths`` with those under a hidden folder or ``__MACOSX`` left out."""
    return [p for p in paths if not any(part.startswith(".") or part in IGNORED_FOLDERS
                                        for part in p.relative_to(root).parts)]


def _no_images(root: Path, outside: int = 0) -> UserModelError:
    kinds = ", ".join(sorted(e.lstrip(".").upper() for e in IMAGE_EXTENSIONS))
    links = (f"; {outside} link{'s' if outside > 1 else ''} that lead{'' if outside > 1 else 's'}"
             " outside the folder skipped") if outside else ""
    return UserModelError(f"{root}: no images in the folder ({kinds}){links}")


def scan_folder(path: str | Path, classes: tuple[str, ...] | None = None) -> ImageSet:
    """The images of a folder, labelled by sub-folder name when it has sub-folders.

    Args:
        path: a folder with one sub-folder per class (images anywhere below each), or a folder
            of images without sub-folders (unlabelled).
        classes: the model's class names; None reads every image below ``path`` unlabelled
            (an OOD folder).

    Returns:
        An ``ImageSet`` sorted by class folder name, then path.

    Raises:
        UserModelError: no such folder, no images, or a sub-folder that is not a class.
    """
    root = _check_folder(Path(path).expanduser())
    found = [(f, walk_images(f, root)) for f in _sub_folders(root)] if classes is not None else []
    folders = [(f, files, outside) for f, (files, outside) in found if files or outside]
    if not folders:
        files, outside = (_visible(paths, root) for paths in walk_images(root, root))
        if not files:
            raise _no_images(root, len(outside))
        names = _relative(sorted(files + outside), root)
        return ImageSet(root, tuple(names), np.full(len(names), -1, np.int64))
    names, labels = [], []
    for folder, files, outside in folders:
        if folder.name not in classes:
            raise UserModelError(f"{root}: sub-folder \"{folder.name}\" is not one of the model's "
                                 f"classes ({', '.join(classes)})")
        rows = _relative(sorted(files + outside), root)
        names += rows
        labels += [classes.index(folder.name)] * len(rows)
    if not any(files for _, files, _ in folders):
        raise _no_images(root, len(names))
    return ImageSet(root, tuple(names), np.asarray(labels, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class Split:
    """A labelled folder cut into a calibration part and a test part (both sorted by path)."""

    calibration: ImageSet
    test: ImageSet

    @property
    def sizes(self) -> dict[str, int]:
        return {"calibration": len(self.calibration), "test": len(self.test)}


def split_calibration(images: ImageSet, fraction: float, seed: int) -> Split:
    """Seeded, stratified: ``round(fraction × n_c)`` images of each class c go to calibration,
    the rest to test (``uqviz.data.base.stratified_holdout``). Unlabelled images all go to
    test and calibration is empty."""
    if not images.labelled:
        return Split(images.subset(np.arange(0)), images)
    test, calibration = stratified_holdout(images.labels, fraction, seed)
    return Split(images.subset(np.sort(calibration)), images.subset(np.sort(test)))


def _grey(image: Image.Image) -> Image.Image:
    """8-bit grey (``L``); 16-bit and float images scaled to their range first."""
    if image.mode.startswith("I;16") or image.mode in _WIDE_GREY:
        values = np.asarray(image, dtype=np.float64)
        top = values.max(initial=0.0)
        scale = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else 65535.0
        return Image.fromarray(np.round(np.clip(values / scale, 0, 1) * 255).astype(np.uint8))
    return image.convert("L")


def to_model_pixels(image: Image.Image, config: ModelConfig) -> np.ndarray:
    """uint8 (C, H, W) of a decoded picture: 1 or 3 channels, at the model's input size.

    An image already of that size is not resampled (its pixels are kept exactly); others are
    resized with Pillow's bilinear filter (antialiased when shrinking), the aspect ratio not
    kept.
    """
    image = _grey(image) if config.channels == 1 else image.convert("RGB")
    height, width = config.input_size
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def prepare_picture(image: Image.Image, config: ModelConfig) -> PreparedImage:
    """A single picture as the user's model sees it: exactly as its folder images are read
    (``to_model_pixels``, then value / 255; the model applies the sidecar's mean and std),
    with the steps in words."""
    height, width = config.input_size
    steps = [f"a {image.width}×{image.height} px {image.mode} picture read as "
             f"{'grey' if config.channels == 1 else 'RGB'}"]
    if image.size != (width, height):
        steps.append(f"resized to {width}×{height} px (bilinear)")
    else:
        steps.append(f"kept at {width}×{height} px")
    steps.append("pixels / 255, then your model's mean and std")
    pixels = torch.from_numpy(to_model_pixels(image, config).astype(np.float32) / 255.0)
    return PreparedImage(pixels, tuple(steps))


def read_pixels(path: Path, name: str, config: ModelConfig,
                root: Path | None = None) -> np.ndarray:
    """One file as uint8 (C, H, W), read by its real path only when that lies inside ``root``
    (a real path; default: the file's own folder).

    Raises:
        ImageRejected: a link that leads outside ``root``, more than ``MAX_UPLOAD_BYTES`` (from
            its size, before reading), or a file that cannot be read or decoded.
    """
    root = path.parent.resolve() if root is None else root
    try:
        with open_inside(path, root) as handle:
            check_byte_count(os.fstat(handle.fileno()).st_size, name)
            data = handle.read(MAX_UPLOAD_BYTES + 1)
    except LeadsOutside:
        raise ImageRejected(f"{name}: {OUTSIDE_LINK}") from None
    except OSError as err:
        raise ImageRejected(f"{name}: cannot be read ({err.strerror or 'input/output error'})") \
            from None
    return to_model_pixels(read_user_image(data, name), config)


@dataclass(frozen=True, eq=False)
class Batch:
    """A batch of decoded images.

    Attributes:
        rows: int64 (B,) positions of the images in the ``ImageSet``.
        images: float32 (B, C, H, W) in [0, 1].
        skipped: reasons, one line per file of this batch that could not be read.
        number: k, the batch's place among all the batches of its images (the slice of files
            ``k·batch_size`` on), whichever process decodes it.
    """

    rows: np.ndarray
    images: torch.Tensor
    skipped: tuple[str, ...]
    number: int = 0


def iter_batches(images: ImageSet, config: ModelConfig, batch_size: int,
                 share: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
    """Decode ``images`` ``batch_size`` files at a time (memory holds one batch).

    Yields a ``Batch`` per slice of ``batch_size`` files, even one whose files were all
    unreadable (then with no rows), so that slice k always covers files ``k·batch_size`` on.
    With ``share = (rank, world)`` only the slices k with ``k % world == rank`` are decoded
    (one process's share; the others are not read).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rank, world = share
    check_input_budget(config, min(batch_size, max(len(images), 1)))
    shape = config.input_shape
    for start in range(rank * batch_size, len(images), world * batch_size):
        names = images.files[start:start + batch_size]
        pixels = np.empty((len(names), *shape), dtype=np.uint8)
        kept, skipped = [], []
        for i, name in enumerate(names):
            try:
                pixels[len(kept)] = read_pixels(images.root / name, name, config, images.root)
                kept.append(start + i)
            except ImageRejected as err:
                skipped.append(str(err))
        x = torch.from_numpy(pixels[:len(kept)]).float().div_(255.0)
        yield Batch(np.asarray(kept, dtype=np.int64), x, tuple(skipped), start // batch_size)


def load_images(images: ImageSet, config: ModelConfig, rows: np.ndarray | None = None,
                batch_size: int = 256) -> torch.Tensor:
    """float32 (N, C, H, W) in [0, 1] of the readable images (of ``rows`` when given), in
    order; unreadable ones are left out as the predictions leave them out.

    Raises:
        UserModelError: the images together would not fit the input memory budget
            (``check_input_budget``), checked before any is read.
    """
    chosen = images if rows is None else images.subset(np.asarray(rows))
    check_input_budget(config, len(chosen))
    parts = [b.images for b in iter_batches(chosen, config, batch_size)]
    return torch.cat(parts) if parts else torch.empty((0, *config.input_shape))
