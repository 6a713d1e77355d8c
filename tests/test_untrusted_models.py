"""Hostile model files, each built in its test: refused with one line, and no file appears.

Covers the attacks of "Safe with untrusted files" (docs/security.md): a ``.pt2`` with the
legacy format's pickle at its root, a ``.pt2`` whose symbolic size is Python, a ``.pt2`` whose
node calls a file operator or an arbitrary ``torch`` attribute, a TorchScript ``forward`` that
reads or writes a file with ``torch.from_file`` or ``torch.save``, a TorchScript ``__setstate__``
(run by ``torch.jit.load`` itself), browser uploads of torch formats, and a model that
allocates too much or never returns (its own process, with limits).
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from uqviz.user_model import load_model
from uqviz.user_model.config import ModelConfig, UserModelError
from uqviz.user_model.loading import TORCH_UPLOADS_ENV, check_upload
from uqviz.user_model.vetting import check_sym_expr
from uqviz.user_model.worker import pack, unpack

CONFIG = ModelConfig(input_size=(8, 8), channels=3, classes=("a", "b", "c"))
SAFE_TAIL = "an uploaded model may only compute its outputs"


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def error_of(path: Path) -> str:
    with pytest.raises(UserModelError) as caught:
        load_model(path, CONFIG)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def export_pt2(path: Path) -> Path:
    program = torch.export.export(Small().eval(), (torch.rand(2, 3, 8, 8),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, path)
    return path


def rewrite_zip(source: Path, target: Path, edit, extra: dict[str, bytes] | None = None) -> Path:
    """A copy of a zip with each entry's bytes passed through ``edit(name, data)``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, edit(name, src.read(name)))
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return target


class TouchOnLoad:
    """Unpickling this creates a file: the payload of a pickle attack."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# -- exported programs -------------------------------------------------------------------------
def test_a_pt2_with_the_legacy_format_at_its_root_is_refused_before_any_pickle(tmp_path):
    marker = tmp_path / "pwned-legacy"
    good = export_pt2(tmp_path / "good.pt2")
    hostile = rewrite_zip(good, tmp_path / "legacy.pt2", lambda _, data: data, {
        "version": b"8.0", "serialized_exported_program.json": b"{}",
        "serialized_state_dict.pt": pickle.dumps(TouchOnLoad(marker))})
    assert error_of(hostile) == (
        "legacy.pt2: refused, it holds entries of the legacy 2.7 format at the archive's root "
        f"(version), which torch would unpickle; {SAFE_TAIL}")
    assert not marker.exists()
    # the legacy format alone (no current entries) is not a model file at all
    legacy_only = tmp_path / "only.pt2"
    with zipfile.ZipFile(legacy_only, "w") as archive:
        archive.writestr("version", b"8.0")
        archive.writestr("archive_format", b"pt2")
        archive.writestr("serialized_state_dict.pt", pickle.dumps(TouchOnLoad(marker)))
    assert error_of(legacy_only).startswith("only.pt2: not a TorchScript, exported-program "
                                            "(.pt2) or ONNX model file")
    assert not marker.exists()


def test_a_pt2_whose_symbolic_size_is_python_is_refused(tmp_path):
    marker = tmp_path / "pwned-sympy"
    payload = (f"(__import__('os').system('touch {marker}'), "
               "Symbol('s77', positive=True, integer=True))[1]")

    def edit(name: str, data: bytes) -> bytes:
        if name.endswith("models/model.json"):
            return data.replace(b"Symbol('s77', positive=True, integer=True)",
                                json.dumps(payload)[1:-1].encode())
        return data

    good = export_pt2(tmp_path / "good.pt2")
    assert b"Symbol('s77'" in zipfile.ZipFile(good).read("good/models/model.json")
    hostile = rewrite_zip(good, tmp_path / "sympy.pt2", edit)
    assert error_of(hostile) == (
        f"sympy.pt2: refused, it holds a symbolic size with Python code (Subscript); {SAFE_TAIL}")
    assert not marker.exists()
    # the genuine file still loads and runs
    model = load_model(good, CONFIG)
    assert model.run(torch.rand(3, 3, 8, 8))[0].shape == (3, 3)


@pytest.mark.parametrize(("target", "why"), [
    ("torch.ops.aten.from_file.default", "the operator aten::from_file, which reads or writes "
                                         "files"),
    ("torch.serialization.os.system", "a call uqviz does not run (torch.serialization.os.system)"),
    ("torch.ops.mylib.evil.default", "the operator mylib::evil, outside the allowed namespaces "
                                     "(aten, prim)"),
])
def test_a_pt2_node_calling_anything_but_an_allowed_operator_is_refused(tmp_path, target, why):
    good = export_pt2(tmp_path / "good.pt2")

    def edit(name: str, data: bytes) -> bytes:
        return data.replace(b'"torch.ops.aten.relu.default"', json.dumps(target).encode())

    hostile = rewrite_zip(good, tmp_path / "op.pt2", edit)
    assert error_of(hostile) == f"op.pt2: refused, it holds {why}; {SAFE_TAIL}"


def test_symbolic_sizes_must_be_plain_arithmetic():
    for fine in ("s0", "s0 + 2*s1", "FloorDiv(s0, 2)", "Max(1, s3) - 1",
                 "Symbol('s77', positive=True, integer=True)", "Eq(Mod(s0, 4), 0)"):
        assert check_sym_expr(fine) is None, fine
    for bad, why in (
            ("__import__('os')", "a symbolic size calling '__import__'"),
            ("s0.__class__", "a symbolic size with Python code (Attribute)"),
            ("lambdify(s0, 'x')", "a symbolic size calling 'lambdify'"),
            ("Symbol('os; rm')", "a symbolic size with a string in it"),
            ("[s0 for s0 in s1]", "a symbolic size with Python code (ListComp)"),
            ("open(s0)", "a symbolic size calling 'open'"),
            ("s0 + open", "a symbolic size naming 'open'"),
            ("s0" + "+1" * 600, "a symbolic size of 1202 characters")):
        assert check_sym_expr(bad) == why, bad


# -- TorchScript --------------------------------------------------------------------------------
class ReadsAFile(nn.Module):
    def __init__(self, path: str, shared: bool) -> None:
        super().__init__()
        self.path, self.shared = path, shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        data = torch.from_file(self.path, shared=self.shared, size=3, dtype=torch.uint8)
        return x.flatten(1)[:, :3] * 0 + data.float()


class SavesAFile(nn.Module):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.save(x, self.path)
        return x.flatten(1)[:, :3]


class WritesOnLoad(nn.Module):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :3]

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.path = state[0]
        self.training = state[1]
        torch.from_file(self.path, shared=True, size=1, dtype=torch.uint8)


def scripted(module: nn.Module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    return path


@pytest.mark.parametrize("shared", [False, True])
def test_a_torchscript_forward_that_maps_a_file_is_refused(tmp_path, shared):
    secret = tmp_path / "outside" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(b"abc")
    target = tmp_path / "outside" / "created.bin"
    for path in (secret, target):
        model = scripted(ReadsAFile(str(path), shared), tmp_path / "reads.pt")
        assert error_of(model) == (
            "reads.pt: refused, it holds the operator aten::from_file, which reads or writes "
            f"files; {SAFE_TAIL}")
    assert not target.exists()
    assert secret.read_bytes() == b"abc"


def test_a_torchscript_forward_that_saves_a_file_is_refused(tmp_path):
    target = tmp_path / "written.pt"
    model = scripted(SavesAFile(str(target)), tmp_path / "saves.pt")
    assert error_of(model) == (
        f"saves.pt: refused, it holds the operator aten::save, which reads or writes files; "
        f"{SAFE_TAIL}")
    assert not target.exists()


def test_a_torchscript_setstate_is_refused_before_torch_jit_load_runs_it(tmp_path):
    target = tmp_path / "created-on-load.bin"
    model = scripted(WritesOnLoad(str(target)), tmp_path / "setstate.pt")
    assert error_of(model) == (
        "setstate.pt: refused, it holds a __getstate__ method, which torch.jit.load would run; "
        f"{SAFE_TAIL}")
    assert not target.exists()


def test_browser_uploads_take_onnx_and_torch_formats_only_when_the_operator_allows(
        tmp_path, monkeypatch):
    monkeypatch.delenv(TORCH_UPLOADS_ENV, raising=False)
    model = scripted(Small(), tmp_path / "small.pt")
    with pytest.raises(UserModelError) as caught:
        check_upload(model)
    assert str(caught.value) == (
        "small.pt: torchscript uploads are off on this server (a torchscript file is a program "
        "torch runs); upload an ONNX export instead (torch.onnx.export(model, (example,), "
        f"path, external_data=False)), or ask the operator to set {TORCH_UPLOADS_ENV}=1")
    monkeypatch.setenv(TORCH_UPLOADS_ENV, "1")
    assert check_upload(model) == "torchscript"


# -- limits of the model's own process --------------------------------------------------------
class AllocatesTooMuch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        big = torch.ones(42949672960, dtype=torch.uint8)
        return x.flatten(1)[:, :3] + big[:1].float()


class NeverReturns(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = x.sum()
        while bool(total > -1.0):
            total = total + 1.0
        return x.flatten(1)[:, :3]


def test_an_allocation_bomb_ends_in_one_line_and_the_server_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("UQVIZ_MODEL_MEMORY_MB", "1024")
    model = scripted(AllocatesTooMuch(), tmp_path / "bomb.pt")
    assert error_of(model).startswith("bomb.pt: ran out of memory (a model may use 1.0 GB on "
                                      "this server, UQVIZ_MODEL_MEMORY_MB)")
    fine = load_model(scripted(Small(), tmp_path / "fine.pt"), CONFIG)
    assert fine.run(torch.rand(2, 3, 8, 8))[0].shape == (2, 3)


def test_a_model_that_never_returns_is_stopped_after_the_time_limit(tmp_path, monkeypatch):
    # the loop spins a core until the limit: 8 s (not 20) is enough for the check, and any
    # part of the load request that runs past the limit gives the same one line
    monkeypatch.setenv("UQVIZ_MODEL_TIMEOUT_S", "8")
    model = scripted(NeverReturns(), tmp_path / "loop.pt")
    assert error_of(model) == ("loop.pt: stopped after 8 s loading it without an answer "
                               "(UQVIZ_MODEL_TIMEOUT_S sets the limit)")


def test_worker_messages_carry_no_pickle():
    header, arrays = unpack(pack({"ok": True}, [torch.arange(6).view(2, 3).numpy()]))
    assert header == {"ok": True, "arrays": 1} and arrays[0].tolist() == [[0, 1, 2], [3, 4, 5]]
    buf = io.BytesIO()
    np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
    head = json.dumps({"ok": True, "arrays": 1}).encode()
    forged = struct.pack("<Q", len(head)) + head + buf.getvalue()
    with pytest.raises(ValueError):
        unpack(forged)


def test_the_command_line_refuses_hostile_files_with_one_line(tmp_path):
    """The same refusals through ``python -m uqviz evaluate --model``: one ``error:`` line on
    its own, no traceback, no file created."""
    from tests.test_cli import run_cli
    from tests.user_model_fixtures import write_config, write_folder

    marker = tmp_path / "pwned-cli"
    good = export_pt2(tmp_path / "good.pt2")
    rewrite_zip(good, tmp_path / "legacy.pt2", lambda _, data: data, {
        "version": b"8.0", "serialized_state_dict.pt": pickle.dumps(TouchOnLoad(marker))})
    scripted(ReadsAFile(str(marker), True), tmp_path / "reads.pt")
    write_folder(tmp_path / "images", {"a": 2, "b": 2, "c": 2}, size=(8, 8))
    write_config(tmp_path, input_size=[8, 8], classes=["a", "b", "c"], features_output=None)
    for name, why in (("legacy.pt2", "entries of the legacy 2.7 format"),
                      ("reads.pt", "the operator aten::from_file")):
        done = run_cli("evaluate", "--model", tmp_path / name, "--dataset",
                       f"folder:{tmp_path / 'images'}", "--out", tmp_path / "out")
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        assert done.returncode != 0 and len(errors) == 1, done.stderr
        assert why in errors[0] and errors[0].lstrip().split(":")[0] in ("error", "uqviz"), \
            errors[0]
        assert "Traceback" not in done.stderr
    assert not marker.exists()


@pytest.mark.parametrize("location", ["/etc/hostname", "../../../../etc/hostname"])
def test_onnx_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((8, 3), dtype=np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "96")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
    graph = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2],
                                                keepdims=0),
                               helper.make_node("MatMul", ["m", "w"], ["y"])],
                              "g", [x], [y], [weight])
    path = tmp_path / "ext.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
                     .SerializeToString())
    assert error_of(path) == ("ext.onnx: refused, its external data lies outside the model's "
                              "folder; an uploaded model may only compute its outputs")


def test_onnx_weights_left_in_a_separate_file_say_how_to_export(tmp_path):
    """``torch.onnx.export`` writes the weights to ``NAME.data`` by default: given alone, the
    .onnx file gets one line naming the missing file and the export option, no server path."""
    from tests.user_model_fixtures import export_onnx, train_tiny_net

    export_onnx(train_tiny_net(steps=1), tmp_path / "alone.onnx")
    data = sorted(tmp_path.glob("alone.onnx*.data")) or sorted(tmp_path.glob("*.data"))
    assert data, "the exporter kept the weights inside the file"
    for extra in data:
        extra.unlink()
    message = error_of(tmp_path / "alone.onnx")
    assert message == (f"alone.onnx: its weights are in a separate file ({data[0].name}) that "
                       "was not given with it; export with torch.onnx.export(model, (example,), "
                       "path, external_data=False) to keep them inside the .onnx file")
    assert str(tmp_path) not in message
