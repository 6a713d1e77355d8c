"""A ``.zip`` of class folders uploaded by a user, extracted safely into a folder of ours.

Everything is checked from the archive's central directory before a byte is written, and the
archive is refused whole (``ZipRejected``, one line) when any of these holds:

* it is not a zip, is encrypted, or is larger than ``ZipLimits.max_archive_bytes``;
* a member's path is absolute (``/x``, ``C:\\x``, ``\\\\server\\x``), climbs out with ``..``, or
  the member is a symbolic link (zip-slip);
* it holds more than ``max_files`` files;
* its files would take more than ``max_total_bytes`` once extracted, or a file of more than
  ``RATIO_MIN_BYTES`` is compressed more than ``max_ratio`` times (a zip bomb); while extracting,
  no member may produce more bytes than it declared (a lying header is caught there too);
* no image (PNG, JPEG, BMP, TIFF, WebP by extension) is left once the rest is skipped.

Files that are not images (by extension), and macOS's ``__MACOSX/`` and hidden files, are
skipped and counted. Every path written is checked to lie inside the target folder; nothing is
written anywhere else, and a refused archive leaves nothing behind. A member that cannot be
written (a file and a folder of the same name, a name too long for the disk) refuses the archive
with one line naming the member, never the server's folder.

``extract_upload`` extracts an upload once: into a folder named by the SHA-256 of its bytes, so
the same bytes given again reuse that folder; ``remove_extraction`` deletes it.
"""

from __future__ import annotations

import errno
import hashlib
import io
import shutil
import stat
import tempfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from uqviz.data.folder import IMAGE_EXTENSIONS

RATIO_MIN_BYTES = 1 << 20
CHUNK = 1 << 20
NAME_PART_SHOWN = 40
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError)
_OS_REASONS = {errno.ENAMETOOLONG: "file name too long", errno.EACCES: "permission denied",
               errno.ENOSPC: "no space left on the server",
               errno.EDQUOT: "no space left on the server"}


class ZipRejected(ValueError):
    """An uploaded archive that is refused; the message names the archive and why."""


@dataclass(frozen=True)
class ZipLimits:
    """What an uploaded archive may hold.

    Attributes:
        max_archive_bytes: size of the .zip itself.
        max_total_bytes: sum of the extracted files' sizes.
        max_ratio: largest uncompressed / compressed size of one file (of RATIO_MIN_BYTES or
            more) and of the whole archive.
        max_files: number of files (folders not counted).
    """

    max_archive_bytes: int = 1 << 30
    max_total_bytes: int = 4 << 30
    max_ratio: float = 100.0
    max_files: int = 200_000


@dataclass(frozen=True)
class Extracted:
    """What ``extract_zip`` wrote.

    Attributes:
        root: the folder holding the class folders: the target, or the archive's single
            top-level folder when everything lies inside one.
        images: number of image files written.
        skipped: archive paths of the files left out (not images, hidden, ``__MACOSX``).
    """

    root: Path
    images: int
    skipped: tuple[str, ...]


def _member(name: str) -> str:
    """A member's name quoted for a message, each part longer than ``NAME_PART_SHOWN``
    characters cut short (``'a/bbbb…'``)."""
    parts = [p if len(p) <= NAME_PART_SHOWN else p[:NAME_PART_SHOWN // 2] + "…"
             for p in name.split("/")]
    return repr("/".join(parts))


def _unsafe_reason(name: str, info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return "is an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "climbs out of the folder with '..'"
    return None


def _is_skipped(parts: tuple[str, ...]) -> bool:
    return (any(p.startswith(".") or p == "__MACOSX" for p in parts)
            or Path(parts[-1]).suffix.lower() not in IMAGE_EXTENSIONS)


def _plan(archive: zipfile.ZipFile, label: str, size: int,
          limits: ZipLimits) -> tuple[list[tuple[zipfile.ZipInfo, tuple[str, ...]]], list[str]]:
    """The members to write (with their path parts) and those skipped; raises ZipRejected."""
    files = [i for i in archive.infolist() if not i.is_dir()]
    if len(files) > limits.max_files:
        raise ZipRejected(f"{label}: {len(files):,} files is more than the "
                          f"{limits.max_files:,} allowed")
    keep, skipped, total = [], [], 0
    for info in archive.infolist():
        why = _unsafe_reason(info.filename, info)
        if why:
            raise ZipRejected(f"{label}: refused, member {_member(info.filename)} {why}")
        if info.flag_bits & 0x1:
            raise ZipRejected(f"{label}: refused, member {_member(info.filename)} is encrypted")
        if info.is_dir():
            continue
        parts = tuple(p for p in PurePosixPath(info.filename.replace("\\", "/")).parts
                      if p not in ("", "."))
        if not parts or _is_skipped(parts):
            skipped.append(info.filename)
            continue
        if (info.file_size >= RATIO_MIN_BYTES
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
            raise ZipRejected(f"{label}: refused, member {_member(info.filename)} expands "
                              f"{info.file_size / max(info.compress_size, 1):,.0f} times (more "
                              f"than {limits.max_ratio:g}: a zip bomb?)")
        total += info.file_size
        keep.append((info, parts))
    if total > limits.max_total_bytes:
        raise ZipRejected(f"{label}: refused, its images would take {total:,} bytes once "
                          f"extracted, more than the {limits.max_total_bytes:,} allowed")
    if total >= RATIO_MIN_BYTES and total > limits.max_ratio * max(size, 1):
        raise ZipRejected(f"{label}: refused, it expands {total / max(size, 1):,.0f} times "
                          f"(more than {limits.max_ratio:g}: a zip bomb?)")
    if not keep:
        raise ZipRejected(f"{label}: no images in the archive (PNG, JPEG, BMP, TIFF or WebP); "
                          f"{len(skipped)} other file(s) skipped")
    return keep, skipped


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: BinaryIO, label: str) -> None:
    written = 0
    with archive.open(info) as src:
        while block := src.read(CHUNK):
            written += len(block)
            if written > info.file_size:
                raise ZipRejected(f"{label}: refused, member {_member(info.filename)} holds "
                                  f"more bytes than its header declares ({info.file_size:,})")
            out.write(block)


def _write(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, label: str) -> None:
    """One member written to ``path`` (its folders made first); raises ZipRejected, one line
    without the server's folder."""
    member = _member(info.filename)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as out:
            _copy(archive, info, out, label)
    except FileExistsError:
        twice = path.is_file()
        raise ZipRejected(f"{label}: refused, member {member} " + (
            "appears twice" if twice else "could not be extracted (a file and a folder have "
            "the same name)")) from None
    except _CORRUPT as err:
        raise ZipRejected(f"{label}: member {member} is corrupt ({err})") from None
    except NotImplementedError:
        raise ZipRejected(f"{label}: member {member} uses a compression method that is not "
                          "supported") from None
    except OSError as err:
        reason = _OS_REASONS.get(err.errno, (err.strerror or "input/output error").lower())
        raise ZipRejected(f"{label}: member {member} could not be extracted ({reason})") \
            from None


def _common_root(target: Path, parts: list[tuple[str, ...]]) -> Path:
    firsts = {p[0] for p in parts}
    if len(firsts) == 1 and all(len(p) > 2 for p in parts):
        return target / firsts.pop()
    return target


def extract_zip(source: str | Path | bytes | BinaryIO, target: str | Path, *,
                name: str | None = None, limits: ZipLimits | None = None) -> Extracted:
    """Extract the images of a zip of class folders into ``target``, safely.

    Args:
        source: the archive: a path, its bytes, or a binary file object (an upload).
        target: an empty folder of ours (e.g. a ``tempfile.mkdtemp()``); created if missing.
        name: the archive's name, for messages (default: the file name, else ``upload.zip``).
        limits: size, ratio and count limits (``ZipLimits()`` by default).

    Returns:
        ``Extracted``: where the class folders are, how many images were written, what was
        skipped.

    Raises:
        ZipRejected: one line naming the archive and why (see the module docstring); nothing
            is left in ``target`` then.
        ValueError: ``target`` is not empty.
    """
    limits = limits or ZipLimits()
    if isinstance(source, (str, Path)):
        label = name or Path(source).name
        size = Path(source).stat().st_size
        handle: BinaryIO = open(source, "rb")  # noqa: SIM115 (closed below)
    else:
        label = name or getattr(source, "name", None) or "upload.zip"
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        size = handle.seek(0, io.SEEK_END)
        handle.seek(0)
    label = Path(str(label)).name
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    base = target.resolve()
    if any(base.iterdir()):
        raise ValueError(f"{target}: the folder to extract into must be empty")
    try:
        if size > limits.max_archive_bytes:
            raise ZipRejected(f"{label}: {size:,} bytes is more than the "
                              f"{limits.max_archive_bytes:,} allowed")
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError):
            raise ZipRejected(f"{label}: not a zip archive") from None
        with archive:
            keep, skipped = _plan(archive, label, size, limits)
            try:
                for info, parts in keep:
                    path = base.joinpath(*parts)
                    if not path.resolve().is_relative_to(base):
                        raise ZipRejected(f"{label}: refused, member "
                                          f"{_member(info.filename)} would land outside the "
                                          "folder")
                    _write(archive, info, path, label)
            except BaseException:
                for child in list(base.iterdir()):
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
                raise
    finally:
        if isinstance(source, (str, Path)):
            handle.close()
    return Extracted(_common_root(base, [p for _, p in keep]), len(keep), tuple(skipped))


def _is_digest(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _root_of(folder: Path) -> Path:
    """The root ``extract_zip`` gave for what was extracted into ``folder``."""
    base = folder.resolve()
    return _common_root(base, [p.relative_to(base).parts for p in base.rglob("*")
                               if p.is_file()])


def extract_upload(data: bytes, name: str, dest_parent: str | Path, *,
                   limits: ZipLimits | None = None) -> Path:
    """Extract an uploaded zip once: into ``dest_parent/<SHA-256 of data>``.

    The same bytes given again (pressing Add twice) reuse that folder instead of making a
    new copy. The archive is extracted into a hidden folder first and renamed when complete,
    so a refused or interrupted extraction is never reused and leaves nothing behind.

    Args:
        data: the archive's bytes.
        name: its file name, for messages.
        dest_parent: the folder holding the extractions (created if missing).
        limits: as for ``extract_zip``.

    Returns:
        The folder holding the class folders (``Extracted.root``).

    Raises:
        ZipRejected: as ``extract_zip`` (one line naming the archive).
    """
    parent = Path(dest_parent)
    parent.mkdir(parents=True, exist_ok=True)
    folder = parent / hashlib.sha256(data).hexdigest()
    if folder.is_dir():
        return _root_of(folder)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=parent))
    try:
        extract_zip(data, partial, name=name, limits=limits)
        try:
            partial.rename(folder)
        except OSError as err:
            if not folder.is_dir():  # not the same upload extracted meanwhile
                raise ZipRejected(f"{Path(name).name}: could not be extracted "
                                  f"({(err.strerror or 'input/output error').lower()})") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return _root_of(folder)


def remove_extraction(root: str | Path, dest_parent: str | Path) -> None:
    """Delete the extraction of ``extract_upload`` in ``dest_parent`` that holds ``root``
    (the folder it returned); nothing when it is gone already. It is renamed away first, so a
    removal cut short is never reused.

    Raises:
        ValueError: ``root`` is not inside an extraction of ``dest_parent``.
    """
    parent = Path(dest_parent).resolve()
    real = Path(root).resolve()
    parts = real.relative_to(parent).parts if real.is_relative_to(parent) else ()
    if not parts or not _is_digest(parts[0]):
        raise ValueError(f"{root}: not an extracted upload of {dest_parent}")
    trash = parent / f".removing-{uuid.uuid4().hex}"
    try:
        (parent / parts[0]).rename(trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)
