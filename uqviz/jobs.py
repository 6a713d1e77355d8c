"""A lock file that lets one process, among many, run a background job for a result file.

Several processes (Streamlit sessions, servers, the command line) may want the same result;
only one should compute it. The protocol:

* The lock is a file next to the result (``<result>.lock``) holding JSON ``{"pid", "started"}``:
  the id of the process that owns the job.
* ``claim_lock`` creates it with ``O_CREAT | O_EXCL`` (one claimant wins) and one write, so a
  reader sees it whole or empty. The claimant then names the job's own process with
  ``write_lock``, which replaces the file atomically (a temporary file renamed over it), never
  leaving it empty.
* A lock is stale only when the process it names is gone — however long a live job runs; a
  process that exited but was never waited for (a zombie) counts as gone — or, when it names no
  process (being written, or abandoned half-written), once it is older than
  ``LOCK_GRACE_SECONDS``.
* A stale lock is removed only under an exclusive ``flock`` on ``<lock>.guard`` (released by
  the system when its holder dies), and only if it still holds the bytes that were judged
  stale: it is renamed aside and put back when another process has claimed it meanwhile.

Headless: nothing here imports streamlit or plotly.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from uqviz.cache import atomic_write

LOCK_GRACE_SECONDS = 30.0  # a lock naming no process (being written, or abandoned) waits this


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has: False)."""
    if pid <= 0:  # os.kill(0 or -1, 0) would ask about a process group, or every process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a child that exited but was never waited for (a zombie) answers the signal
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass(frozen=True)
class HeldLock:
    """What a lock file held when read: its bytes, its process id (None when unreadable) and
    its modification time."""

    content: bytes
    pid: int | None
    mtime: float


def _lock_bytes(pid: int) -> bytes:
    return json.dumps({"pid": pid, "started": time.time()}).encode()


def read_lock(lock: Path) -> HeldLock | None:
    """The lock's content, process id and time (one open file: all from the same lock), or
    None when there is no lock."""
    try:
        with open(lock, "rb") as fh:
            content, mtime = fh.read(), os.fstat(fh.fileno()).st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        return HeldLock(b"", None, time.time())
    try:
        pid = int(json.loads(content)["pid"])
    except (ValueError, KeyError, TypeError):
        pid = None
    return HeldLock(content, pid, mtime)


def lock_is_stale(held: HeldLock) -> bool:
    """A lock is stale once its process is gone (however long a live job runs); a lock naming
    no process, once it is older than ``LOCK_GRACE_SECONDS``."""
    if held.pid is None:
        return time.time() - held.mtime > LOCK_GRACE_SECONDS
    return not pid_alive(held.pid)


def _remove_lock_if(lock: Path, content: bytes) -> bool:
    """Remove the lock only if it still holds ``content`` (the stale lock that was judged):
    it is renamed aside first and put back when another process has claimed it since."""
    aside = lock.with_name(f".{uuid.uuid4().hex}.{lock.name}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return True
    try:
        if aside.read_bytes() == content:
            return True
        try:
            os.link(aside, lock)  # put it back, unless yet another claim came meanwhile
        except FileExistsError:
            pass
        return False
    finally:
        aside.unlink(missing_ok=True)


@contextmanager
def _removal_guard(lock: Path):
    """Serialises the removal of stale locks among processes and threads: an exclusive
    ``flock`` on ``<lock>.guard`` (released by the system when its holder dies)."""
    try:
        import fcntl
    except ImportError:  # no flock here: the content check of ``_remove_lock_if`` remains
        yield
        return
    with open(lock.with_name(f"{lock.name}.guard"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def remove_stale_lock(lock: Path) -> bool:
    """Remove the lock if it is stale; True when no lock is left."""
    with _removal_guard(lock):
        held = read_lock(lock)
        if held is None:
            return True
        return lock_is_stale(held) and _remove_lock_if(lock, held.content)


def claim_lock(lock: Path) -> bool:
    """Create the lock file exclusively, naming this process; a stale lock is replaced. False
    when a live lock is held by another claim."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not remove_stale_lock(lock):
                return False
            continue
        with os.fdopen(fd, "wb") as fh:  # one write: a reader sees it whole or empty
            fh.write(_lock_bytes(os.getpid()))
        return True
    return False


def write_lock(lock: Path, pid: int) -> None:
    """Name the job's process in the lock, replacing it whole (never an empty file)."""
    atomic_write(lock, lambda tmp: tmp.write_bytes(_lock_bytes(pid)))


def release_lock(lock: Path) -> bool:
    """Give up this process's claim when its job did not start: the lock is removed only if it
    still names this process (and holds what was read). True when it was removed."""
    held = read_lock(lock)
    return held is not None and held.pid == os.getpid() and _remove_lock_if(lock, held.content)
