"""A user's own model and images, made in the test: a tiny CNN trained for a second on
synthetic class-coloured images, exported to TorchScript, ``.pt2`` and ONNX, and folders of
PNGs. Nothing is downloaded."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

CLASSES = ("red", "green", "blue")  # deliberately not in sorted order
COLOURS = {"red": (200, 40, 40), "green": (40, 170, 60), "blue": (50, 60, 200)}
SIZE = 16
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


class TinyNet(nn.Module):
    """conv → batch norm → ReLU → mean pool → dropout → linear; returns (logits, features)."""

    def __init__(self, classes: int = 3, channels: int = 3, dropout: float = 0.3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))
        return self.fc(self.drop(h)), h


def coloured_pixels(label: str, rng: np.random.Generator, height: int = SIZE,
                    width: int = SIZE) -> np.ndarray:
    """uint8 (H, W, 3): the class colour (grey for other names) plus noise."""
    noise = rng.normal(0.0, 35.0, (height, width, 3))
    colour = COLOURS.get(label, (128, 128, 128))
    return np.clip(np.asarray(colour)[None, None] + noise, 0, 255).astype(np.uint8)


def normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def train_tiny_net(seed: int = 0, steps: int = 80) -> TinyNet:
    """A TinyNet fitted (Adam, about a second) to tell the three colours apart."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, 192)
    x = torch.from_numpy(np.stack([coloured_pixels(CLASSES[k], rng) for k in labels]))
    x = normalise(x.permute(0, 3, 1, 2).float() / 255.0)
    y = torch.from_numpy(labels)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x)[0], y).backward()
        opt.step()
    return net.eval()


def write_folder(root: Path, counts: dict[str, int], *, seed: int = 0,
                 size: tuple[int, int] = (SIZE, SIZE)) -> Path:
    """PNG images of each class in ``root/<class>/<i>.png`` (H, W = ``size``); folders are
    created in the order of ``counts``."""
    rng = np.random.default_rng(seed)
    for label, n in counts.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(coloured_pixels(label, rng, *size)).save(root / label / f"{i}.png")
    return root


def write_config(folder: Path, name: str = "model.json", **overrides) -> Path:
    config = {"input_size": [SIZE, SIZE], "channels": 3, "mean": list(MEAN), "std": list(STD),
              "classes": list(CLASSES), "features_output": 1, **overrides}
    path = folder / name
    path.write_text(json.dumps(config))
    return path


def export_torchscript(net: nn.Module, path: Path, trace: bool = False) -> Path:
    module = torch.jit.trace(net, torch.rand(2, 3, SIZE, SIZE)) if trace else torch.jit.script(net)
    module.save(str(path))
    return path


def export_pt2(net: nn.Module, path: Path, batch: int | None = None) -> Path:
    example = (torch.rand(batch or 2, 3, SIZE, SIZE),)
    shapes = None if batch else ({0: torch.export.Dim("batch")},)
    torch.export.save(torch.export.export(net, example, dynamic_shapes=shapes), str(path))
    return path


def export_onnx(net: nn.Module, path: Path, external_data: bool = True) -> Path:
    """ONNX through the dynamo exporter (onnxscript), batch size left free; the weights in a
    ``.data`` file beside it (the exporter's default) or, ``external_data=False``, inside it
    (one file to upload)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.rand(2, 3, SIZE, SIZE),), str(path), input_names=["x"],
                          output_names=["logits", "features"], dynamic_shapes=({0: "batch"},),
                          verbose=False, external_data=external_data)
    return path


def offered_model(workdir: Path):
    """A generator for a module fixture: ``workdir/net.pt`` offered by the operator
    (``UQVIZ_MODELS``, ``UQVIZ_DATA_ROOTS`` = ``workdir/data``) with ``data/images``; yields
    the model's sidebar key and undoes the settings after."""
    import pytest

    from uqviz.user_model import ModelSource

    mp = pytest.MonkeyPatch()
    mp.setenv("UQVIZ_DATA_ROOTS", str(workdir / "data"))
    mp.setenv("UQVIZ_MODELS", f"{workdir / 'net.pt'}=images")
    yield ModelSource.create([workdir / "net.pt"], workdir / "data" / "images").key
    mp.undo()
