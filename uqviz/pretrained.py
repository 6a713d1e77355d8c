"""Trained weights shipped in the repository (``assets/weights/``): the default dataset's
networks, so that a fresh clone serves the default without training and shows the same
networks on every machine.

Each file is a state dict named as the disk cache names it (``uqviz.training.weights_path``:
a hash of the dataset, its split seed, the network's recipe and the cache version), stored in
float16 (half the bytes; restored to float32 when read). ``manifest.json`` lists every file
with its SHA-256, the dataset, the recipe and the torch version that wrote it.

When ``uqviz.training.trained_network`` misses the cache it asks ``shipped_state`` for the
same name. A file is used only when its hash matches the manifest and its tensors' names and
shapes match the network the current code builds (the architecture check); otherwise the
network is trained as before. Changing a recipe changes the name, so stale files are never
found. ``UQVIZ_SHIPPED_WEIGHTS=0`` turns them off (to train from scratch).

Rebuild after changing a model or a recipe: ``python -m uqviz ship-weights --dataset digits``
(``uqviz.__main__``: trains every method's networks in a temporary cache, shipped weights off,
with the app's configuration, and writes them here with ``write_shipped``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "assets" / "weights"
MANIFEST = "manifest.json"
SHIPPED_ENV = "UQVIZ_SHIPPED_WEIGHTS"
MAX_BYTES = 5 * 2**20  # the whole directory stays under 5 MiB


def shipped_enabled() -> bool:
    return os.environ.get(SHIPPED_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(directory: Path = WEIGHTS_DIR) -> dict:
    """The manifest's ``files`` table; empty when there is none or it is not valid JSON."""
    try:
        files = json.loads((directory / MANIFEST).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def matches_architecture(state: dict, net: torch.nn.Module) -> bool:
    """True when ``state`` has exactly ``net``'s tensor names and shapes."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    return expected == {k: tuple(v.shape) for k, v in state.items()}


def shipped_state(name: str, net: torch.nn.Module, directory: Path = WEIGHTS_DIR) -> dict | None:
    """The float32 state dict shipped as ``name`` for ``net``; None when there is none, when
    shipped weights are turned off, or when the file fails its hash or the architecture check."""
    if not shipped_enabled():
        return None
    entry = read_manifest(directory).get(name)
    path = directory / name
    if not isinstance(entry, dict) or not path.is_file() or sha256_of(path) != entry.get("sha256"):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file means: train instead
        return None
    if not isinstance(state, dict) or not matches_architecture(state, net):
        return None
    reference = net.state_dict()
    return {k: v.to(reference[k].dtype) for k, v in state.items()}


def half_precision(state: dict) -> dict:
    """Floating-point tensors in float16 (others unchanged), contiguous, on the CPU."""
    return {k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in state.items()}


def write_shipped(weights: Iterable[Path], describe: Callable[[Path], dict],
                  directory: Path = WEIGHTS_DIR) -> dict:
    """Write each cached weights file in float16 under its own name, and the manifest.

    Args:
        weights: state-dict files as the disk cache wrote them.
        describe: file -> what the manifest says of it besides its hash.
    Returns the manifest written. Raises ValueError when the files exceed ``MAX_BYTES``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.pt"):
        old.unlink()
    files = {}
    for path in sorted(weights):
        target = directory / path.name
        torch.save(half_precision(torch.load(path, map_location="cpu", weights_only=True)),
                   target)
        files[path.name] = {"sha256": sha256_of(target), **describe(path)}
    total = sum((directory / name).stat().st_size for name in files)
    if total > MAX_BYTES:
        raise ValueError(f"the shipped weights take {total:,} bytes, over {MAX_BYTES:,}")
    manifest = {"format": 1, "torch": torch.__version__.split("+")[0], "bytes": total,
                "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
