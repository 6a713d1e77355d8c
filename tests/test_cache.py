"""The disk cache: atomic writes, and damaged files read as missing (then recomputed)."""

import numpy as np
import pytest

from uqviz.cache import atomic_write, cache_key, load_npz, save_npz


def test_a_truncated_or_garbage_npz_reads_as_missing(tmp_path):
    path = save_npz(tmp_path / "a.npz", probs=np.ones((3, 2), dtype=np.float32))
    assert load_npz(path)["probs"].shape == (3, 2)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    assert load_npz(path) is None
    path.write_bytes(b"not a zip at all")
    assert load_npz(path) is None
    assert load_npz(tmp_path / "missing.npz") is None


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")

    def failing(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, failing)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_cache_key_is_stable_and_sensitive():
    assert cache_key("digits", 0, {"a": 1}) == cache_key("digits", 0, {"a": 1})
    assert cache_key("digits", 0) != cache_key("digits", 1)


def test_a_held_lock_makes_a_second_process_wait_for_the_first(tmp_path):
    """Two processes computing the same cached file take turns: the second enters only after
    the first has left (its start is after the first's end), whatever the machine's load."""
    import subprocess
    import sys

    code = ("import sys, time; from pathlib import Path; from uqviz.cache import held_lock\n"
            "p = Path(sys.argv[1]); log = Path(sys.argv[2])\n"
            "with held_lock(p):\n"
            "    log.open('a').write(f'in {sys.argv[3]}\\n')\n"
            "    time.sleep(0.5)\n"
            "    log.open('a').write(f'out {sys.argv[3]}\\n')\n")
    log = tmp_path / "log.txt"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "x.npz"), str(log),
                               str(k)]) for k in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    lines = log.read_text().split()
    events = list(zip(lines[::2], lines[1::2], strict=True))
    assert [e[0] for e in events] == ["in", "out", "in", "out"]
    assert events[0][1] == events[1][1] and events[2][1] == events[3][1]
