"""The background job's lock file (``uqviz.jobs``): claimed once, stale only when its process is
gone, removed only if unchanged, rewritten whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from uqviz import jobs


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def _write(lock: Path, pid, age: float = 0.0) -> bytes:
    content = b"" if pid is None else json.dumps({"pid": pid, "started": 0}).encode()
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_bytes(content)
    stamp = time.time() - age
    os.utime(lock, (stamp, stamp))
    return content


def test_importing_the_lock_module_loads_no_streamlit():
    code = ("import sys, uqviz.jobs\n"
            "print(','.join(sorted(k for k in sys.modules\n"
            "               if k.split('.')[0] in ('streamlit', 'plotly')\n"
            "               or k.startswith(('uqviz.ui', 'uqviz.plots')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_a_long_running_job_keeps_its_lock(tmp_path):
    """Only a lock whose process is gone is stale, however old: a live job running for an
    hour gets no duplicate."""
    lock = tmp_path / "map.lock"
    live = _write(lock, os.getpid(), age=3600)
    assert not jobs.claim_lock(lock)
    assert lock.read_bytes() == live
    _write(lock, _dead_pid(), age=1)
    assert jobs.claim_lock(lock)
    assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_lock_naming_no_process_waits_a_grace_period(tmp_path):
    """An empty lock (being written) is not stale at once, nor live for ever; a pid <= 0 is
    never taken for a live process (os.kill(-1, 0) would signal every process)."""
    assert not jobs.pid_alive(-1) and not jobs.pid_alive(0)
    lock = tmp_path / "map.lock"
    _write(lock, None, age=1)
    assert not jobs.claim_lock(lock)
    held = jobs.read_lock(lock)
    assert held is not None and held.pid is None
    assert not jobs.lock_is_stale(held)  # still being written: wait
    _write(lock, None, age=jobs.LOCK_GRACE_SECONDS + 30)
    assert jobs.lock_is_stale(jobs.read_lock(lock))  # abandoned
    assert jobs.claim_lock(lock)


def test_a_stale_lock_claimed_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    """Two processes judge the same lock stale; the first replaces it, and the second must not
    remove the first one's fresh lock (nor start a second job)."""
    lock = tmp_path / "map.lock"
    _write(lock, 4_000_000, age=1)  # beyond any pid: its process is gone
    theirs = json.dumps({"pid": os.getpid(), "started": 1}).encode()
    real = jobs.pid_alive

    def judged_then_claimed(pid):
        if pid == 4_000_000:  # between our reading and our removing, another claim lands
            lock.write_bytes(theirs)
            return False
        return real(pid)

    monkeypatch.setattr(jobs, "pid_alive", judged_then_claimed)
    assert not jobs.claim_lock(lock)
    assert lock.read_bytes() == theirs
    assert {p.name for p in tmp_path.iterdir()} <= {"map.lock", "map.lock.guard"}


def test_only_one_of_many_claims_on_a_stale_lock_wins(tmp_path):
    lock = tmp_path / "map.lock"
    for _ in range(20):
        _write(lock, _dead_pid(), age=1)
        barrier = threading.Barrier(6)
        won: list[bool] = []

        def claim(barrier=barrier, won=won):
            barrier.wait()
            won.append(jobs.claim_lock(lock))

        threads = [threading.Thread(target=claim) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(won) == 1, won
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_the_lock_is_rewritten_whole(tmp_path):
    """Naming the job's process replaces the lock at once: a reader never sees it empty."""
    lock = tmp_path / "map.lock"
    _write(lock, 1)
    seen: list[bytes] = []
    done = threading.Event()

    def read():
        while not done.is_set():
            seen.append(lock.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for pid in range(2, 400):
            jobs.write_lock(lock, pid)
    finally:
        done.set()
        reader.join()
    assert seen and all(json.loads(s)["pid"] > 0 for s in seen)


def test_a_stale_lock_is_removed_and_a_live_one_kept(tmp_path):
    lock = tmp_path / "map.lock"
    assert jobs.remove_stale_lock(lock)  # no lock: nothing left
    live = _write(lock, os.getpid())
    assert not jobs.remove_stale_lock(lock)
    assert lock.read_bytes() == live
    _write(lock, _dead_pid())
    assert jobs.remove_stale_lock(lock)
    assert not lock.exists()


def test_a_claim_is_released_only_by_its_own_process(tmp_path):
    lock = tmp_path / "map.lock"
    assert not jobs.release_lock(lock)
    other = _write(lock, _dead_pid())
    assert not jobs.release_lock(lock)
    assert lock.read_bytes() == other
    lock.unlink()
    assert jobs.claim_lock(lock)
    assert jobs.release_lock(lock)
    assert not lock.exists()


def test_a_job_that_exited_unwaited_is_not_taken_for_alive():
    """A child that exited but was not yet waited for (a zombie) still answers a signal; its
    lock must not hold other processes off for ever."""
    child = subprocess.Popen(["true"])
    try:
        for _ in range(200):
            state = Path(f"/proc/{child.pid}/stat")
            if not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        assert not jobs.pid_alive(child.pid)
    finally:
        child.wait()
    assert jobs.pid_alive(os.getpid())
