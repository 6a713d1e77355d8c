"""The disk cache: trained weights and predictions under a hashed key, written atomically.

Root: ``UQVIZ_CACHE`` or ``~/.cache/uqviz``. Every file is written to a temporary name in the
same directory and then renamed with ``os.replace``, so a reader never sees half a file and an
interrupted run leaves no corrupt entry. Weights are read back with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV = "UQVIZ_CACHE"
CACHE_VERSION = 2


def cache_root() -> Path:
    """The cache directory (created on demand)."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "uqviz").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_key(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (dataclasses are turned into dicts) and the
    cache version."""
    def plain(x: Any) -> Any:
        return asdict(x) if is_dataclass(x) and not isinstance(x, type) else x

    text = json.dumps([CACHE_VERSION, *map(plain, parts)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def held_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock tied to ``path`` (``<path>.lock``, ``fcntl.flock``) while the
    block runs: processes that would compute the same cached file (two test workers, two
    sessions of one server, a server and the command line) take turns, and the later ones
    then read what the first wrote. Where ``fcntl`` is missing (Windows), no lock is held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_write(path, write)


def load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cached ``.npz``, or None when missing or unreadable (then recomputed)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def save_state_dict(path: Path, state: dict) -> Path:
    import torch

    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state_dict(path: Path) -> dict | None:
    """A cached state dict read with ``weights_only=True``; None when missing or corrupt."""
    import torch

    if not Path(path).exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a corrupt cache entry is recomputed, never fatal
        return None
