"""The file being read: a path on disk or the bytes of an upload, and its kind by suffix."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from uqviz.exchange.layout import FILE_SUFFIXES
from uqviz.exchange.messages import file_error


@dataclass(frozen=True)
class SourceFile:
    """A file to read: ``path`` on disk, or ``data`` in memory (an upload); ``name`` goes into
    the messages."""

    name: str
    path: Path | None
    data: bytes | None

    def open(self):
        return io.BytesIO(self.data) if self.data is not None else str(self.path)

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def head(self, n: int) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with open(self.path, "rb") as f:
            return f.read(n)


def file_kind(name: str) -> str:
    """``csv``, ``parquet`` or ``npz``, from the file name's suffix."""
    suffix = Path(name).suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise file_error(
            Path(name).name,
            f"unknown file type {suffix or '(no extension)'!r}; expected "
            f"{', '.join(FILE_SUFFIXES)}",
        )
    return FILE_SUFFIXES[suffix]
