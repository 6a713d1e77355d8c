"""Loading a user's model file without pickle, and running it on batches of images.

Three formats are read, recognised by their content rather than their name:

* **TorchScript** (``torch.jit.script(model).save(path)`` or ``torch.jit.trace``): a zip with a
  ``code/`` folder, read by ``torch.jit.load``, whose unpickler rebuilds TorchScript objects
  only.
* **Exported program** (``torch.export.save``, ``.pt2``): a zip with an ``archive_format``
  entry, read by ``torch.export.load`` after checking that no part of it would go through
  pickle: weights and constants stored raw (none marked ``use_pickle``), no custom or opaque
  objects, no AOTInductor / ExecuTorch native code, and sample inputs that load with
  ``torch.load(weights_only=True)`` (``torch.export.load`` would otherwise retry them with a
  full unpickler).
* **ONNX**: run by onnxruntime, with ``CUDAExecutionProvider`` when available, else on the CPU.

Anything else, notably a plain ``torch.save`` pickle of a module or a state dict, is refused
with one line: loading a pickle can run any code, and how to export instead.

A loaded ``UserModel`` takes float32 (N, C, H, W) images in [0, 1], normalises them with the
config's mean and std, runs on CUDA when present (optionally under bf16 autocast; never for
ONNX) and returns float32 (N, C) outputs and, when the config names a ``features_output``,
(N, D) features. A probe pass at load time checks the input shape (named against the config's)
and the width of the outputs (against the number of classes).
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
import zipfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from uqviz.device import autocast
from uqviz.user_model.config import ModelConfig, UserModelError
from uqviz.user_model.vetting import (
    vet_exported_program,
    vet_torchscript_archive,
    vet_torchscript_graph,
)

TORCHSCRIPT, EXPORTED, ONNX = "torchscript", "exported program", "ONNX"
EXPORT_HOW = ("export it with torch.jit.script(model).save(path) (or torch.jit.trace(model, "
              "example).save(path)), torch.export.save(torch.export.export(model, (example,)), "
              "path) or torch.onnx.export(model, (example,), path, external_data=False)")
DROPOUT_NAMES = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                           "FeatureAlphaDropout"})
OUT_OF_MEMORY = ("can't allocate memory", "out of memory", "bad_alloc", "failed to allocate",
                 "cannot allocate memory")
PROB_TOLERANCE = 1e-3
PROBE_SEED = 1234


def _refuse_pickle(name: str) -> UserModelError:
    return UserModelError(f"{name}: a plain torch.save pickle is refused (loading a pickle can "
                          f"run any code); {EXPORT_HOW}")


def _not_a_model(name: str) -> UserModelError:
    return UserModelError(f"{name}: not a TorchScript, exported-program (.pt2) or ONNX model "
                          f"file; {EXPORT_HOW}")


def first_line(err: BaseException) -> str:
    """The line of an exception's message that says what went wrong (for a TorchScript
    interpreter error, its last line, which names the failing operation's error), at most 300
    characters."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if lines[0].startswith("The following operation failed in the TorchScript interpreter"):
        return lines[-1][:300]
    return lines[0][:300]


def is_out_of_memory(err: BaseException) -> bool:
    """Whether an exception is an allocation that failed (``MemoryError`` or torch's and
    onnxruntime's allocator messages)."""
    text = str(err).lower()
    return isinstance(err, MemoryError) or any(s in text for s in OUT_OF_MEMORY)


def model_format(path: str | Path) -> str:
    """``TORCHSCRIPT``, ``EXPORTED`` or ``ONNX``, read from the file's content (nothing is
    unpickled).

    Raises:
        UserModelError: a missing file, a pickle, or anything that is not a model file.
    """
    path = Path(path)
    if not path.is_file():
        raise UserModelError(f"{path}: no such file" if not path.exists()
                             else f"{path}: a folder, not a model file")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            entries = [PurePosixPath(n) for n in archive.namelist()]
        tails = {"/".join(e.parts[1:]) for e in entries}
        if "archive_format" in tails:
            return EXPORTED
        if "constants.pkl" in tails and any(t.startswith("code/") for t in tails):
            return TORCHSCRIPT
        if "data.pkl" in tails:
            raise _refuse_pickle(path.name)
        raise _not_a_model(path.name)
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head[:1] == b"\x80":  # pickle protocol 2+ (a legacy torch.save file)
        raise _refuse_pickle(path.name)
    if path.suffix.lower() == ".onnx" or head[:1] == b"\x08":  # ModelProto.ir_version first
        return ONNX
    raise _not_a_model(path.name)


def _as_list(out: Any) -> tuple[list[Any], list[str] | None]:
    """A model's outputs as a list, with their names when it returned a dict."""
    if isinstance(out, dict):
        return list(out.values()), [str(k) for k in out]
    if isinstance(out, (tuple, list)):
        return list(out), None
    return [out], None


class UserModel:
    """One loaded model file; ``run`` maps images in [0, 1] to outputs (and features). A
    ``uqviz.methods.network.Network``: the methods run their passes on it.

    Attributes:
        path: the model file.
        format: ``TORCHSCRIPT``, ``EXPORTED`` or ``ONNX``.
        config: its ``ModelConfig``.
        device: where it runs.
        fixed_batch: the batch size the model was exported with when it only takes that one
            (inputs are then padded), else None.
    """

    format = ""

    def __init__(self, path: Path, config: ModelConfig, device: torch.device) -> None:
        self.path, self.config, self.device = path, config, device
        self.fixed_batch: int | None = None
        self.output_names: list[str] | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def outputs(self) -> str:
        """``"logits"`` or ``"probabilities"`` (``model.json``)."""
        return self.config.outputs

    # -- to implement ------------------------------------------------------------------------
    def _forward(self, x: torch.Tensor) -> list[np.ndarray]:
        """Raw outputs of normalised float32 (B, C, H, W) CPU inputs, as float32 arrays."""
        raise NotImplementedError

    def declared_input(self) -> tuple[Any, ...] | None:
        """The input shape stored in the file (symbolic sizes as strings), when there is one."""
        return None

    def why_no_dropout(self) -> str | None:
        """Why MC dropout cannot sample this model, or None when it can."""
        return (f"{self.name} is an {self.format} model: its dropout layers are fixed in "
                "inference mode and cannot be switched on; export it with "
                "torch.jit.script(model).save(path) to sample dropout")

    @contextlib.contextmanager
    def dropout_sampling(self) -> Iterator[None]:
        """Inside: only the dropout layers sample, every other layer stays in eval mode."""
        raise UserModelError(self.why_no_dropout() or f"{self.name}: no dropout")
        yield  # pragma: no cover

    # -- shared ------------------------------------------------------------------------------
    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """(x - mean) / std per channel of float32 (B, C, H, W) images in [0, 1]."""
        mean = torch.tensor(self.config.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.config.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (x.float() - mean) / std

    def _chunks(self, x: torch.Tensor) -> list[list[np.ndarray]]:
        if self.fixed_batch is None:
            return [self._forward(x)]
        outs = []
        for start in range(0, len(x), self.fixed_batch):
            part = x[start:start + self.fixed_batch]
            pad = self.fixed_batch - len(part)
            if pad:
                part = torch.cat([part, part.new_zeros((pad, *part.shape[1:]))])
            outs.append([o[:len(part) - pad] for o in self._forward(part)])
        return outs

    def raw_outputs(self, x: torch.Tensor) -> list[np.ndarray]:
        """Every output of the model on images in [0, 1], each float32 (B, …).

        Raises:
            UserModelError: an output without one row per image (one line naming the model).
        """
        chunks = self._chunks(self.normalise(x))
        outs = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        for out in outs:
            if out.ndim == 0 or len(out) != len(x):
                rows = "a single value" if out.ndim == 0 else f"{len(out)} rows of outputs"
                raise UserModelError(f"{self.name} gave {rows} for a batch of {len(x)} images; "
                                     "a model must return one row per image")
        return outs

    def _pick(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        feats_at = self.config.features_output
        if isinstance(feats_at, str):
            if not self.output_names or feats_at not in self.output_names:
                names = ", ".join(self.output_names or []) or "none"
                raise UserModelError(f"{self.config.source}: \"features_output\" \"{feats_at}\" "
                                     f"is not an output of {self.name} (named outputs: {names})")
            feats_at = self.output_names.index(feats_at)
        if feats_at is not None and feats_at >= len(outputs):
            raise UserModelError(f"{self.config.source}: \"features_output\" {feats_at} but "
                                 f"{self.name} has {len(outputs)} output(s)")
        main = next(i for i in range(len(outputs)) if i != feats_at) if len(outputs) > 1 else 0
        logits = outputs[main].reshape(len(outputs[main]), -1)
        feats = None if feats_at is None else outputs[feats_at].reshape(len(logits), -1)
        return logits, feats

    def run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Outputs float32 (B, C) (logits or probabilities, as the config says) and features
        float32 (B, D) or None, for float32 (B, C, H, W) images in [0, 1] on the CPU."""
        return self._pick(self.raw_outputs(x))

    def probe(self) -> None:
        """One pass on a random image: checks the input shape and the output width against
        the config, with one-line messages naming both."""
        expected = (self.config.channels, *self.config.input_size)
        declared = self.declared_input()
        config = self.config.describe()
        if declared is not None and len(declared) == 4 and any(
                isinstance(d, int) and d != e for d, e in zip(declared[1:], expected,
                                                              strict=True)):
            shown = ", ".join(str(d) if isinstance(d, int) else "N" for d in declared)
            raise UserModelError(f"{self.name}: the model takes input ({shown}) but "
                                 f"{config} gives (N, {', '.join(map(str, expected))})")
        x = torch.rand((self.fixed_batch or 1, *expected),
                       generator=torch.Generator().manual_seed(PROBE_SEED))
        try:
            logits, _ = self.run(x)
        except UserModelError:
            raise
        except Exception as err:
            if is_out_of_memory(err):
                raise
            raise UserModelError(
                f"{self.name}: the model fails on input (N, {', '.join(map(str, expected))}) "
                f"from {config}{self._input_hint()}: {first_line(err)}") from None
        if logits.shape[1] != self.config.num_classes:
            raise UserModelError(f"{self.name} gives {logits.shape[1]} outputs per image but "
                                 f"{self.config.source} lists {self.config.num_classes} classes")

    def _input_hint(self) -> str:
        return ""


class TorchModel(UserModel):
    """A TorchScript module or an exported program's module, run by torch."""

    def __init__(self, path: Path, config: ModelConfig, device: torch.device,
                 module: Any, fmt: str, bf16: bool = False) -> None:
        super().__init__(path, config, device)
        self.module, self.format, self.bf16 = module, fmt, bf16
        self._declared: tuple[Any, ...] | None = None

    @torch.no_grad()
    def _forward(self, x: torch.Tensor) -> list[np.ndarray]:
        with autocast(self.device, bf16=self.bf16):
            out = self.module(x.to(self.device))
        values, names = _as_list(out)
        self.output_names = names
        return [v.detach().float().cpu().numpy() for v in values]

    def declared_input(self) -> tuple[Any, ...] | None:
        return self._declared

    def _input_hint(self) -> str:
        """The channels the first convolution takes, when they differ from the config's."""
        for _, param in self.module.named_parameters():
            if param.dim() == 4:
                if param.shape[1] != self.config.channels:
                    return f" (its first convolution takes {param.shape[1]} channels)"
                break
        return ""

    # -- MC dropout (TorchScript) ------------------------------------------------------------
    def dropout_modules(self) -> list[Any]:
        """The submodules that are dropout layers with p > 0 (TorchScript keeps their type
        name in ``original_name``)."""
        if self.format != TORCHSCRIPT:
            return []
        return [m for _, m in self.module.named_modules()
                if getattr(m, "original_name", "") in DROPOUT_NAMES
                and float(getattr(m, "p", 1.0)) > 0]

    @cached_property
    def _dropout_problem(self) -> str | None:
        if self.format != TORCHSCRIPT:
            return super().why_no_dropout()
        if not self.dropout_modules():
            return f"{self.name} has no dropout layer (with p > 0) to sample"
        x = torch.rand((self.fixed_batch or 2, *self.config.input_shape),
                       generator=torch.Generator().manual_seed(PROBE_SEED))
        with self.dropout_sampling(check=False), torch.random.fork_rng(
                devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(PROBE_SEED)
            first, second = self.raw_outputs(x)[0], self.raw_outputs(x)[0]
        if np.array_equal(first, second):
            return (f"{self.name} has dropout layers, but switching them on changes nothing "
                    "(a traced model records dropout as off); export it with "
                    "torch.jit.script(model).save(path) to sample dropout")
        return None

    def why_no_dropout(self) -> str | None:
        return self._dropout_problem

    @contextlib.contextmanager
    def dropout_sampling(self, check: bool = True) -> Iterator[None]:
        if check and self.why_no_dropout():
            raise UserModelError(self.why_no_dropout())
        layers = self.dropout_modules()
        self.module.eval()
        try:
            for layer in layers:
                layer.train()
            yield
        finally:
            self.module.eval()


class OnnxModel(UserModel):
    """An ONNX model run by onnxruntime."""

    format = ONNX

    def __init__(self, path: Path, config: ModelConfig, device: torch.device,
                 session: Any) -> None:
        super().__init__(path, config, device)
        self.session = session
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise UserModelError(f"{path.name}: the model takes {len(inputs)} inputs; uqviz "
                                 "feeds one batch of images")
        self.input = inputs[0]
        self.output_names = [o.name for o in session.get_outputs()]
        first = self.input.shape[0] if self.input.shape else None
        self.fixed_batch = first if isinstance(first, int) and first > 0 else None
        self.dtype = np.float16 if self.input.type == "tensor(float16)" else np.float32

    def declared_input(self) -> tuple[Any, ...] | None:
        return tuple(self.input.shape)

    def _forward(self, x: torch.Tensor) -> list[np.ndarray]:
        outs = self.session.run(None, {self.input.name: x.numpy().astype(self.dtype)})
        return [np.asarray(o, dtype=np.float32) for o in outs]


def onnx_providers(device: torch.device) -> list[str]:
    """``CUDAExecutionProvider`` (then the CPU) when onnxruntime has it and ``device`` is
    CUDA, else the CPU."""
    import onnxruntime as ort

    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _load_onnx(path: Path, config: ModelConfig, device: torch.device) -> OnnxModel:
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserModelError(f"{path.name}: ONNX models need onnxruntime (pip install "
                             "onnxruntime==1.32.0)") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=onnx_providers(device))
    except Exception as err:
        if path.suffix.lower() != ".onnx":
            raise _not_a_model(path.name) from None
        raise _onnx_refusal(path, str(err)) from None
    return OnnxModel(path, config, device, session)


def _onnx_refusal(path: Path, text: str) -> UserModelError:
    """One line for an ONNX file onnxruntime will not load, without the server's paths."""
    if "External data" in text and "does not exist" in text:
        missing = re.findall(r'"([^"]+)"', text)
        shown = Path(missing[-1]).name if missing else "a .data file"
        return UserModelError(
            f"{path.name}: its weights are in a separate file ({shown}) that was not given "
            f"with it; export with torch.onnx.export(model, (example,), path, "
            f"external_data=False) to keep them inside the .onnx file")
    if "External data" in text:
        return UserModelError(f"{path.name}: refused, its external data lies outside the "
                              "model's folder; an uploaded model may only compute its outputs")
    return UserModelError(f"{path.name}: not a readable ONNX model ({first_line(Exception(text))})")


def _exported_input(program: Any) -> tuple[Any, ...] | None:
    """The shape of an exported program's first user input (symbolic sizes as strings)."""
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs and "val" in node.meta:
            return tuple(int(d) if str(d).lstrip("-").isdigit() else str(d)
                         for d in node.meta["val"].shape)
    return None


def _load_torch(path: Path, fmt: str, config: ModelConfig, device: torch.device,
                bf16: bool) -> TorchModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if fmt == TORCHSCRIPT:
                vet_torchscript_archive(path)
                module = torch.jit.load(str(path), map_location=device).eval()
                vet_torchscript_graph(module, path)
                return TorchModel(path, config, device, module, fmt, bf16)
            program = _load_exported(path)
        except UserModelError:
            raise
        except Exception as err:
            raise UserModelError(f"{path.name}: not a loadable {fmt} file "
                                 f"({first_line(err)})") from None
    model = TorchModel(path, config, device, program.module().to(device), fmt, bf16)
    declared = _exported_input(program)
    model._declared = declared
    if declared and isinstance(declared[0], int):
        model.fixed_batch = declared[0]
    return model


def _load_exported(path: Path) -> Any:
    """The exported program of a vetted ``.pt2`` file, read by the current format's reader only
    (``torch.export.load`` would fall back to the legacy format, which unpickles)."""
    from torch.export.pt2_archive._package import load_pt2

    vet_exported_program(path)
    programs = load_pt2(str(path)).exported_programs
    if "model" not in programs:
        raise UserModelError(f"{path.name}: not a loadable {EXPORTED} file (no program named "
                             "model in it)")
    return programs["model"]


def load_in_process(path: Path, config: ModelConfig, device: torch.device,
                    bf16: bool = False) -> UserModel:
    """Load, vet and probe one model file in this process (``uqviz.user_model.worker`` calls it
    in the model's own process; nothing else should)."""
    fmt = model_format(path)
    model = _load_onnx(path, config, device) if fmt == ONNX else _load_torch(
        path, fmt, config, device, bf16)
    model.probe()
    return model


TORCH_UPLOADS_ENV = "UQVIZ_ALLOW_TORCH_UPLOADS"


def torch_uploads_allowed() -> bool:
    """Whether the operator lets browser uploads be TorchScript or ``.pt2`` files
    (``UQVIZ_ALLOW_TORCH_UPLOADS=1``); ONNX uploads are always accepted."""
    return os.environ.get(TORCH_UPLOADS_ENV, "").strip().lower() in ("1", "true", "yes")


def check_upload(path: str | Path) -> str:
    """The format of a model file uploaded through the browser, refusing TorchScript and
    exported programs unless the operator allowed them (``torch_uploads_allowed``).

    Raises:
        UserModelError: a pickle, not a model file, or a torch format that is not allowed.
    """
    path = Path(path)
    fmt = model_format(path)
    if fmt != ONNX and not torch_uploads_allowed():
        raise UserModelError(
            f"{path.name}: {fmt} uploads are off on this server (a {fmt} file is a program "
            f"torch runs); upload an ONNX export instead (torch.onnx.export(model, (example,), "
            f"path, external_data=False)), or ask the operator to set {TORCH_UPLOADS_ENV}=1")
    return fmt
