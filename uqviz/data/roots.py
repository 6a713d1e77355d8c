"""Data roots: the server folders a user may pick images from.

``UQVIZ_DATA_ROOTS`` lists them, separated by ``os.pathsep`` (``:`` on Linux and macOS, ``;`` on
Windows). ``data_folders`` lists the folders under them for a picker; ``resolve_data_path``
turns a path a user typed into a real folder, and refuses (``OutsideDataRoots``, one line) any
path that lies outside every root once ``..`` and symbolic links are resolved, so a link inside
a root cannot lead out of it. ``lies_inside`` is that test, shared with the folder scans
(``uqviz.data.folder.walk_images``), which skip a link that leads outside the scanned folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

ROOTS_ENV = "UQVIZ_DATA_ROOTS"


class OutsideDataRoots(ValueError):
    """A path that is not inside a data root (or no root is set); one-line message."""


def data_roots() -> tuple[Path, ...]:
    """The existing folders of ``UQVIZ_DATA_ROOTS``, resolved (links followed), in order."""
    raw = os.environ.get(ROOTS_ENV, "")
    roots = []
    for part in raw.split(os.pathsep):
        if part.strip():
            path = Path(part.strip()).expanduser().resolve()
            if path.is_dir() and path not in roots:
                roots.append(path)
    return tuple(roots)


def data_folders(depth: int = 1) -> list[Path]:
    """The folders under the data roots, ``depth`` levels down (1: their sub-folders), sorted
    per root; hidden folders, folders that cannot be listed and links whose real path leaves
    the roots are left out, at every depth."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    roots = data_roots()
    found: list[Path] = []
    for root in roots:
        level = [root]
        for _ in range(depth):
            level = sorted(p for parent in level for p in _children(parent)
                           if p.is_dir() and not p.name.startswith(".")
                           and lies_inside(p, roots))
            found += level
    return found


def _children(folder: Path) -> list[Path]:
    """The entries of a folder; none when it cannot be listed (permission denied, gone)."""
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def lies_inside(path: Path, roots: Path | Iterable[Path]) -> bool:
    """Whether the real path of ``path`` (``..`` and every link followed) is one of ``roots``
    or lies below one; ``roots`` are real paths (``Path.resolve()``)."""
    real = path.resolve()
    roots = (roots,) if isinstance(roots, Path) else roots
    return any(real == root or real.is_relative_to(root) for root in roots)


def resolve_data_path(path: str | Path) -> Path:
    """The real folder a user's path names, when it lies inside a data root.

    A relative path is taken relative to each root in turn (the first that has it wins).

    Raises:
        OutsideDataRoots: no root set, or the path (after resolving ``..`` and links) is
            outside every root.
        FileNotFoundError: it is inside a root but does not exist.
    """
    roots = data_roots()
    if not roots:
        raise OutsideDataRoots(f"no data folder is allowed: set {ROOTS_ENV} to the folders "
                               f"users may read (separated by {os.pathsep!r})")
    given = Path(str(path).removeprefix("folder:")).expanduser()
    candidates = [given] if given.is_absolute() else [root / given for root in roots]
    for candidate in candidates:
        resolved = candidate.resolve()
        if not lies_inside(resolved, roots):
            raise OutsideDataRoots(f"{path}: outside the data folders "
                                   f"({', '.join(map(str, roots))})")
        if resolved.exists():
            return resolved
    raise FileNotFoundError(f"{path}: no such folder in the data folders "
                            f"({', '.join(map(str, roots))})")
