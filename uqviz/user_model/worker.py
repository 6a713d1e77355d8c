"""A user's model loaded and run in a process of its own, with a memory and a time limit.

The server never loads a user's model file itself: ``ModelWorker`` hands the file to a child process
(``python -m uqviz.user_model.worker``, talking over two pipes of its own; one such process is
kept started and idle, so the next model does not wait for torch to import), which loads, vets
and probes the file (``uqviz.user_model.loading``)
and then answers requests: its outputs on a batch of images, with dropout sampling or not, and
why MC dropout cannot sample it. A crash, an endless loop or an allocation bomb ends that child,
not the server, and the user gets one line.

* **Memory**: on the CPU the child's address space is capped (``RLIMIT_AS``) at what it uses
  once torch is imported plus ``UQVIZ_MODEL_MEMORY_MB`` (default 8192); an allocation past it
  fails inside the child.
* **Time**: each request must be answered within ``UQVIZ_MODEL_TIMEOUT_S`` seconds (default
  300); past it the child is killed.
* **No pickle back**: the child's answers are a JSON header and ``.npy`` arrays read with
  ``allow_pickle=False``, so even a child that misbehaved could not make the server unpickle.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uqviz.user_model.config import ModelConfig, UserModelError
from uqviz.user_model.loading import (
    UserModel,
    first_line,
    is_out_of_memory,
    load_in_process,
    model_format,
)

MEMORY_ENV, TIMEOUT_ENV = "UQVIZ_MODEL_MEMORY_MB", "UQVIZ_MODEL_TIMEOUT_S"
DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S = 8192, 300.0


def memory_limit_bytes() -> int:
    """The memory a model's process may add once torch is loaded (``UQVIZ_MODEL_MEMORY_MB``)."""
    return int(float(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_MB)) * 2**20)


def timeout_seconds() -> float:
    """How long one request to a model's process may take (``UQVIZ_MODEL_TIMEOUT_S``)."""
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))


# -- messages: a JSON header and .npy arrays, never a pickle ---------------------------------------
def pack(header: dict[str, Any], arrays: list[np.ndarray] = ()) -> bytes:
    """``header`` as JSON, then each array as ``.npy`` (length-prefixed)."""
    buf = io.BytesIO()
    head = json.dumps({**header, "arrays": len(arrays)}).encode()
    buf.write(struct.pack("<Q", len(head)))
    buf.write(head)
    for array in arrays:
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def unpack(data: bytes) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The header and arrays of ``pack``; arrays are read with ``allow_pickle=False``."""
    buf = io.BytesIO(data)
    (size,) = struct.unpack("<Q", buf.read(8))
    header = json.loads(buf.read(size))
    arrays = [np.load(buf, allow_pickle=False) for _ in range(int(header.get("arrays", 0)))]
    return header, arrays


# -- the child ----------------------------------------------------------------------------
def _cap_memory(extra: int) -> None:
    """Cap the address space at its current size plus ``extra`` bytes (Linux)."""
    try:
        import resource

        with open("/proc/self/status") as fh:
            vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + extra, vm + extra))
    except (ImportError, OSError, StopIteration, ValueError):
        pass


def _error_line(err: BaseException, name: str, limit: int) -> str:
    if isinstance(err, UserModelError):
        return str(err)
    text = first_line(err)
    if is_out_of_memory(err):
        return (f"{name}: ran out of memory (a model may use {limit / 2**30:.1f} GB on this "
                f"server, {MEMORY_ENV}); try a smaller batch size or input size")
    return f"{name}: {text}"


def _serve(conn: Any) -> None:
    """The child's loop: wait for ``load``, then answer ``forward`` / ``why_no_dropout`` until
    ``close`` or the parent goes away."""
    try:
        request, _ = unpack(conn.recv_bytes())
    except EOFError:
        return
    path, memory = Path(request["path"]), int(request["memory"])
    torch.set_num_threads(max(1, int(request["threads"])))
    if request["device"] == "cpu":
        _cap_memory(memory)
    try:
        config = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in request["config"].items()}
        model = load_in_process(path, ModelConfig(**config), torch.device(request["device"]),
                                bool(request["bf16"]))
        conn.send_bytes(pack({"ok": True, "format": model.format,
                              "fixed_batch": model.fixed_batch,
                              "output_names": model.output_names,
                              "declared": _jsonable(model.declared_input()),
                              "input_hint": model._input_hint()}))
    except BaseException as err:  # noqa: BLE001 (one line back, whatever it was)
        conn.send_bytes(pack({"ok": False, "error": _error_line(err, path.name, memory)}))
        return
    while True:
        try:
            header, arrays = unpack(conn.recv_bytes())
        except EOFError:
            return
        try:
            if header["op"] == "close":
                return
            if header["op"] == "why_no_dropout":
                conn.send_bytes(pack({"ok": True, "value": model.why_no_dropout()}))
                continue
            x = torch.from_numpy(arrays[0])
            if header.get("dropout"):
                with model.dropout_sampling(check=False):
                    torch.manual_seed(int(header["seed"]))
                    outs = model.raw_outputs(x)
            else:
                outs = model.raw_outputs(x)
            conn.send_bytes(pack({"ok": True, "output_names": model.output_names}, outs))
        except BaseException as err:  # noqa: BLE001
            conn.send_bytes(pack({"ok": False, "error": _error_line(err, path.name, memory)}))


def _jsonable(shape: Any) -> Any:
    return None if shape is None else [d if isinstance(d, int) else str(d) for d in shape]


# -- the parent ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedInfo:
    """What the child reports once the model is loaded and probed."""

    format: str
    fixed_batch: int | None
    output_names: list[str] | None
    declared: tuple[Any, ...] | None
    input_hint: str


class _Duplex:
    """``send_bytes`` / ``recv_bytes`` / ``poll`` over a read and a write pipe (no pickle)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        from multiprocessing.connection import Connection

        self.reader = Connection(read_fd, writable=False)
        self.writer = Connection(write_fd, readable=False)

    def send_bytes(self, data: bytes) -> None:
        self.writer.send_bytes(data)

    def recv_bytes(self) -> bytes:
        return self.reader.recv_bytes()

    def poll(self, timeout: float) -> bool:
        return self.reader.poll(timeout)

    def close(self) -> None:
        for end in (self.reader, self.writer):
            try:
                end.close()
            except OSError:
                pass


_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


@dataclass
class _Child:
    """A started ``python -m uqviz.user_model.worker`` and its two pipe ends."""

    process: subprocess.Popen
    conn: _Duplex

    @classmethod
    def start(cls) -> _Child:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        python_path = os.pathsep.join(p for p in (_PACKAGE_PARENT, os.environ.get("PYTHONPATH"))
                                      if p)
        process = subprocess.Popen(
            [sys.executable, "-m", "uqviz.user_model.worker", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=_PACKAGE_PARENT,
            env={**os.environ, "PYTHONPATH": python_path})
        os.close(to_child_r)
        os.close(from_child_w)
        return cls(process, _Duplex(from_child_r, to_child_w))

    def stop(self) -> None:
        self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            pass


_spare: list[_Child] = []
_spare_lock = threading.Lock()


def _take_child() -> _Child:
    """The idle child started earlier, when there is one alive, else a new one; another is then
    started in the background for the next model."""
    with _spare_lock:
        child = next((c for c in _spare if c.process.poll() is None), None)
        _spare.clear()
        fresh = child or _Child.start()
        _spare.append(_Child.start())
    return fresh


@atexit.register
def _stop_spares() -> None:
    with _spare_lock:
        for child in _spare:
            child.stop()
        _spare.clear()


class ModelWorker:
    """The process of one model file: ``ModelWorker(path, config, …)`` returns once the file
    is loaded, vetted and probed there (or raises ``UserModelError``, one line)."""

    def __init__(self, path: Path, config: ModelConfig, device: str, bf16: bool,
                 threads: int) -> None:
        self.name = path.name
        fields = {k: list(v) if isinstance(v, tuple) else v
                  for k, v in ((k, getattr(config, k)) for k in (
                      "input_size", "channels", "classes", "mean", "std", "outputs",
                      "features_output", "flips_preserve_label", "source"))}
        self.child = _take_child()
        self.conn, self.process = self.child.conn, self.child.process
        self._finalizer = weakref.finalize(self, self.child.stop)
        header, _ = self.request({"op": "load", "path": str(Path(path).resolve()),
                                  "config": fields, "device": device, "bf16": bf16,
                                  "threads": threads, "memory": memory_limit_bytes()},
                                 doing="loading it")
        self.info = LoadedInfo(header["format"], header["fixed_batch"], header["output_names"],
                               None if header["declared"] is None else tuple(header["declared"]),
                               header["input_hint"])

    def _answer(self, doing: str) -> tuple[dict[str, Any], list[np.ndarray]]:
        limit = timeout_seconds()
        try:
            data = self.conn.recv_bytes() if self.conn.poll(limit) else None
        except (EOFError, OSError):
            data = None
        if data is None:
            alive = self.process.poll() is None
            self.close()
            if alive:
                raise UserModelError(f"{self.name}: stopped after {limit:g} s {doing} without an "
                                     f"answer ({TIMEOUT_ENV} sets the limit)")
            code = self.process.returncode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise UserModelError(f"{self.name}: the model's process ended while {doing} ({how}); "
                                 f"it may have crashed or run out of memory "
                                 f"({memory_limit_bytes() / 2**30:.1f} GB, {MEMORY_ENV})")
        header, arrays = unpack(data)
        if not header.get("ok"):
            raise UserModelError(str(header.get("error", f"{self.name}: failed"))[:400])
        return header, arrays

    def request(self, header: dict[str, Any], arrays: list[np.ndarray] = (),
                doing: str = "running it") -> tuple[dict[str, Any], list[np.ndarray]]:
        """Send one request and wait for its answer (``UserModelError`` on a refusal, a crash
        or a time-out, after which the process is gone)."""
        gone = UserModelError(f"{self.name}: the model's process has ended; load it again")
        if self.process.poll() is not None:
            raise gone
        try:
            self.conn.send_bytes(pack(header, arrays))
        except (OSError, ValueError):
            self.close()
            raise gone from None
        return self._answer(doing)

    def close(self) -> None:
        self._finalizer()


class WorkerModel(UserModel):
    """A model file loaded and run in its own process (``uqviz.user_model.worker``): this
    side normalises nothing and holds no graph; it sends images and reads outputs back."""

    def __init__(self, path: Path, config: ModelConfig, device: torch.device,
                 bf16: bool) -> None:
        super().__init__(path, config, device)
        self.format = model_format(path)
        self.worker = ModelWorker(path, config, str(device), bf16, torch.get_num_threads())
        info = self.worker.info
        self.fixed_batch, self.output_names = info.fixed_batch, info.output_names
        self._declared, self._hint = info.declared, info.input_hint
        self._sampling = False
        self._why_no_dropout: tuple[str | None] | None = None

    def declared_input(self) -> tuple[Any, ...] | None:
        return self._declared

    def _input_hint(self) -> str:
        return self._hint

    def raw_outputs(self, x: torch.Tensor) -> list[np.ndarray]:
        """Outputs from the model's process; under ``dropout_sampling`` the dropout seed is
        drawn from this process's torch generator, so a seeded caller gets seeded masks."""
        header: dict[str, Any] = {"op": "forward", "dropout": self._sampling}
        if self._sampling:
            header["seed"] = int(torch.randint(0, 2**62, (1,)).item())
        answer, outs = self.worker.request(header, [x.float().contiguous().numpy()])
        self.output_names = answer.get("output_names")
        return outs

    def why_no_dropout(self) -> str | None:
        if self._why_no_dropout is None:
            answer, _ = self.worker.request({"op": "why_no_dropout"},
                                            doing="checking its dropout")
            self._why_no_dropout = (answer.get("value"),)
        return self._why_no_dropout[0]

    @contextlib.contextmanager
    def dropout_sampling(self, check: bool = True) -> Iterator[None]:
        if check and self.why_no_dropout():
            raise UserModelError(self.why_no_dropout())
        self._sampling = True
        try:
            yield
        finally:
            self._sampling = False

    def probe(self) -> None:
        """Probed by the model's process when it loaded."""

    def close(self) -> None:
        """End the model's process (it also ends when this object is collected)."""
        self.worker.close()


def load_model(path: str | Path, config: ModelConfig, device: torch.device | None = None, *,
               bf16: bool = False) -> UserModel:
    """Load and probe one model file, in a process of its own (``uqviz.user_model.worker``)
    after the checks of ``uqviz.user_model.vetting``.

    Args:
        path: a TorchScript, exported-program (.pt2) or ONNX file.
        config: its ``ModelConfig``.
        device: where it runs; default ``uqviz.device.default_device()``.
        bf16: bf16 autocast for TorchScript and exported programs on CUDA (never ONNX).

    Raises:
        UserModelError: a pickle or other file, a refused operator or archive entry, an input
            shape or output width that does not match the config, a crash, a time-out or
            running out of memory (one line).
    """
    from uqviz.device import default_device

    path = Path(path)
    return WorkerModel(path, config, device or default_device(), bf16)


def main(argv: list[str]) -> None:
    """``python -m uqviz.user_model.worker READ_FD WRITE_FD``: one model's process."""
    conn = _Duplex(int(argv[0]), int(argv[1]))
    try:
        _serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
