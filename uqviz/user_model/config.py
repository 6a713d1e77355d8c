"""The sidecar of a user's model: what its inputs look like and what its outputs mean.

A ``model.json`` next to the model file (or ``<model name>.json``, which wins when both exist),
or a config given explicitly, holds:

* ``input_size``: ``[height, width]`` in pixels, each at most ``MAX_SIDE`` (4096);
* ``channels``: 1 (grey) or 3 (RGB);
* ``mean`` and ``std``: one finite value per channel; the model sees
  ``(pixel / 255 - mean) / std`` (default 0 and 1: pixels in [0, 1]); ``|mean|`` at most
  ``MEAN_LIMIT`` and ``std`` between ``STD_MIN`` and ``STD_MAX``;
* ``classes``: the class names, output i is ``classes[i]``;
* ``outputs``: ``"logits"`` (default) or ``"probabilities"``;
* ``features_output`` (optional): the index or name of the output that holds penultimate
  features, for a model with several outputs;
* ``flips_preserve_label`` (optional, default false): a mirrored image keeps its class (used by
  test-time augmentation).

Explicit values (keyword arguments, command-line flags) win over the file. Every problem raises
``UserModelError`` with one line that names the file, the key and the value; a file that cannot
be read (a folder, no permission, too large, nested too deeply) is named by its name only, never
by its path on the server.

A batch of input images takes ``estimated_batch_bytes`` of memory as float32;
``check_input_budget`` refuses (one line) a batch above ``input_budget_bytes()``:
``INPUT_BUDGET_BYTES`` (2 GiB), or ``UQVIZ_INPUT_BUDGET_MB`` MiB when that is set.
"""

from __future__ import annotations

import errno
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIDECAR_NAME = "model.json"
OUTPUT_KINDS = ("logits", "probabilities")
KEYS = ("input_size", "channels", "mean", "std", "classes", "outputs", "features_output",
        "flips_preserve_label")
REQUIRED = ("input_size", "channels", "classes")
MAX_SIDE = 4096
MEAN_LIMIT = 1e6
STD_MIN, STD_MAX = 1e-6, 1e6
MAX_CONFIG_BYTES = 1 << 20
INPUT_BUDGET_BYTES = 2 << 30
BUDGET_ENV = "UQVIZ_INPUT_BUDGET_MB"
_FLOAT_BYTES = 4
_OS_REASONS = {errno.EISDIR: "a folder, not a file", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.ENAMETOOLONG: "file name too long",
               errno.ENOENT: "no such file", errno.ENOTDIR: "no such file",
               errno.ELOOP: "too many levels of symbolic links"}


class UserModelError(ValueError):
    """A problem with a user's model, its config or its images: the message is one line."""


@dataclass(frozen=True)
class ModelConfig:
    """How a user's model reads images and what its outputs mean.

    Attributes:
        input_size: (H, W) of the model's input in pixels.
        channels: 1 or 3.
        mean: one value per channel, subtracted after pixels are divided by 255.
        std: one positive value per channel, dividing after the mean is subtracted.
        classes: C class names; output i is ``classes[i]``.
        outputs: ``"logits"`` or ``"probabilities"``.
        features_output: index or name of the output holding (N, D) penultimate features, or
            None.
        flips_preserve_label: whether a horizontal flip keeps an image's class.
        source: where the values came from (a file name or ``arguments``), for messages.
    """

    input_size: tuple[int, int]
    channels: int
    classes: tuple[str, ...]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    outputs: str = "logits"
    features_output: int | str | None = None
    flips_preserve_label: bool = False
    source: str = field(default="arguments", compare=False)

    def __post_init__(self) -> None:
        checked = _validated(self._raw(), self.source)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def _raw(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in KEYS}

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image as the model takes it."""
        return (self.channels, *self.input_size)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        """``model.json (channels 3, input_size [32, 32])``: the input, for messages."""
        h, w = self.input_size
        return f"{self.source} (channels {self.channels}, input_size [{h}, {w}])"

    def same_task(self, other: ModelConfig) -> str | None:
        """Why two models cannot form an ensemble (other classes, input size or channels), or
        None when they can."""
        for key in ("classes", "input_size", "channels"):
            mine, theirs = getattr(self, key), getattr(other, key)
            if mine != theirs:
                return f"{key} {_show(theirs)} in {other.source} but {_show(mine)} in {self.source}"
        return None


def _show(value: Any) -> str:
    """A value as JSON, lists and tuples as ``[a, b]``; inf and NaN as ``inf``, ``nan``."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _fail(source: str, key: str, rule: str, value: Any) -> UserModelError:
    return UserModelError(f"{source}: \"{key}\" {rule}, got {_show(value)}")


def _number_list(source: str, key: str, value: Any, channels: int) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * channels
    if (not isinstance(value, (list, tuple)) or len(value) != channels
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise _fail(source, key, f"must have one number per channel ({channels})", value)
    return tuple(_as_float(v) for v in value)


def _as_float(value: int | float) -> float:
    """``float(value)``, an int too large for a float becoming ±inf."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _check_range(source: str, key: str, values: tuple[float, ...], low: float,
                 high: float) -> None:
    if not all(math.isfinite(v) and low <= v <= high for v in values):
        raise _fail(source, key, f"must be finite numbers between {low:g} and {high:g}", values)


def _validated(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Every key checked and normalised (tuples, floats); raises UserModelError."""
    for key in REQUIRED:
        if raw.get(key) in (None, (), []):
            raise UserModelError(f"{source}: \"{key}\" is missing; a model config needs "
                                 f"{', '.join(REQUIRED)} (and mean, std)")
    size = raw["input_size"]
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise _fail(source, "input_size", "must be [height, width] in whole pixels", size)
    if max(size) > MAX_SIDE:
        raise _fail(source, "input_size", f"must be at most {MAX_SIDE} pixels a side", size)
    channels = raw["channels"]
    if channels not in (1, 3) or isinstance(channels, bool):
        raise _fail(source, "channels", "must be 1 or 3", channels)
    mean = _number_list(source, "mean", raw.get("mean") or 0.0, channels)
    std = _number_list(source, "std", raw.get("std") or 1.0, channels)
    _check_range(source, "mean", mean, -MEAN_LIMIT, MEAN_LIMIT)
    if min(std) <= 0:
        raise _fail(source, "std", "must be positive", std)
    _check_range(source, "std", std, STD_MIN, STD_MAX)
    classes = raw["classes"]
    if (not isinstance(classes, (list, tuple)) or len(classes) < 2
            or not all(isinstance(c, str) and c.strip() for c in classes)):
        raise _fail(source, "classes", "must be a list of 2 or more names", classes)
    repeated = sorted({c for c in classes if list(classes).count(c) > 1})
    if repeated:
        raise _fail(source, "classes", f"must be distinct names ({repeated[0]!r} repeats)",
                    classes)
    outputs = raw.get("outputs") or "logits"
    if outputs not in OUTPUT_KINDS:
        raise _fail(source, "outputs", "must be \"logits\" or \"probabilities\"", outputs)
    feats = raw.get("features_output")
    if feats is not None and (isinstance(feats, bool) or not isinstance(feats, (int, str))
                              or (isinstance(feats, int) and feats < 0) or feats == ""):
        raise _fail(source, "features_output", "must be an output index (0, 1, …) or name",
                    feats)
    flips = raw.get("flips_preserve_label")
    flips = False if flips is None else flips
    if not isinstance(flips, bool):
        raise _fail(source, "flips_preserve_label", "must be true or false", flips)
    return {"input_size": (size[0], size[1]), "channels": channels, "mean": mean, "std": std,
            "classes": tuple(classes), "outputs": outputs, "features_output": feats,
            "flips_preserve_label": flips}


def estimated_batch_bytes(config: ModelConfig, batch_size: int) -> int:
    """Bytes of one batch of ``batch_size`` input images as float32 (B, C, H, W): the least
    a batch takes (the model's own activations come on top)."""
    return batch_size * math.prod(config.input_shape) * _FLOAT_BYTES


def input_budget_bytes() -> int:
    """The memory one batch of input images may take: ``UQVIZ_INPUT_BUDGET_MB`` MiB when set,
    else ``INPUT_BUDGET_BYTES``.

    Raises:
        UserModelError: the variable is set but not a positive number.
    """
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return INPUT_BUDGET_BYTES
    try:
        mib = float(raw)
    except ValueError:
        mib = math.nan
    if not (math.isfinite(mib) and mib > 0):
        raise UserModelError(f"{BUDGET_ENV} must be a positive number of MiB, got {raw!r}")
    return int(mib * 2**20)


def _size(count: int) -> str:
    """``12.0 GiB`` (or ``512.0 MiB`` below a GiB)."""
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def check_input_budget(config: ModelConfig, batch_size: int) -> None:
    """Refuse a batch whose float32 pixels (``estimated_batch_bytes``) exceed the budget
    (``input_budget_bytes``), before anything is allocated.

    Raises:
        UserModelError: ``a batch of 64 images of 3×4096×4096 needs 12.0 GiB, above the 2.0 GiB
            budget; lower input_size or the batch size``.
    """
    need, budget = estimated_batch_bytes(config, batch_size), input_budget_bytes()
    if need > budget:
        shape = "×".join(str(v) for v in config.input_shape)
        images = "image" if batch_size == 1 else "images"
        raise UserModelError(f"a batch of {batch_size} {images} of {shape} needs {_size(need)}, "
                             f"above the {_size(budget)} budget; lower input_size or the batch "
                             "size")


def sidecar_of(model_path: str | Path) -> Path | None:
    """``<model name>.json`` next to the model when it exists, else ``model.json``, else None."""
    path = Path(model_path)
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json"),
                      path.with_name(SIDECAR_NAME)):
        if candidate.is_file():
            return candidate
    return None


def _os_reason(err: OSError) -> str:
    """Why a file could not be read, in words, without its path."""
    return _OS_REASONS.get(err.errno, (err.strerror or "cannot be read").lower())


def _read_text(path: Path) -> str:
    """The UTF-8 text of a config file of at most ``MAX_CONFIG_BYTES``; raises UserModelError
    naming only the file's name."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise UserModelError(f"{path.name}: {_os_reason(err)}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise UserModelError(f"{path.name}: more than the {MAX_CONFIG_BYTES // 2**20} MiB a "
                             "model config may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserModelError(f"{path.name}: not a UTF-8 text file") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The keys of a config file, unchecked (``model_config`` checks them).

    Raises:
        UserModelError: one line naming the file (by its name): it cannot be read, is too large,
            not UTF-8, not JSON, nested too deeply, not one object, or has an unknown key.
    """
    path = Path(path)
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserModelError(f"{path.name}: not valid JSON (line {err.lineno}: {err.msg})") \
            from None
    except RecursionError:
        raise UserModelError(f"{path.name}: nested too deeply to be a model config") from None
    except ValueError:  # an integer of more digits than int() takes
        raise UserModelError(f"{path.name}: not valid JSON (a number with too many digits)") \
            from None
    if not isinstance(data, dict):
        raise UserModelError(f"{path.name}: must hold one JSON object "
                             f"{{\"input_size\": …, \"classes\": …}}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise UserModelError(f"{path.name}: unknown key \"{unknown[0]}\"; valid: "
                             f"{', '.join(KEYS)}")
    return data


def model_config(model_path: str | Path, config_path: str | Path | None = None,
                 **overrides: Any) -> ModelConfig:
    """The config of one model: ``config_path`` or the sidecar next to the model, with
    ``overrides`` (keys of ``KEYS``; None values are ignored) winning over the file.

    Raises:
        UserModelError: no config found, an unknown key or a bad value (one line).
    """
    bad = sorted(set(overrides) - set(KEYS))
    if bad:
        raise UserModelError(f"unknown model config key \"{bad[0]}\"; valid: {', '.join(KEYS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    path = Path(config_path) if config_path is not None else sidecar_of(model_path)
    if path is None and not set(REQUIRED) <= set(given):
        raise UserModelError(
            f"{Path(model_path).name}: no {SIDECAR_NAME} next to it; write one with "
            f"{', '.join(KEYS[:5])} (and optionally {', '.join(KEYS[5:])}) or give a config")
    raw = read_config_file(path) if path is not None else {}
    source = path.name if path is not None else "arguments"
    merged = {**raw, **given}
    return ModelConfig(**{k: merged.get(k) for k in KEYS}, source=source)


def ensemble_configs(model_paths: list[str | Path], config_path: str | Path | None = None,
                     **overrides: Any) -> tuple[ModelConfig, ...]:
    """One config per model, refusing models that cannot form an ensemble (other classes,
    input size or channels; the message names both models)."""
    configs = tuple(model_config(p, config_path, **overrides) for p in model_paths)
    for path, config in zip(model_paths[1:], configs[1:], strict=True):
        why = configs[0].same_task(config)
        if why:
            raise UserModelError(f"{Path(path).name} and {Path(model_paths[0]).name} cannot "
                                 f"form an ensemble: {why}")
    return configs


@dataclass(frozen=True)
class MethodSettings:
    """How the methods run on a user's model.

    Attributes:
        tta_samples: S passes of test-time augmentation (the first is the image itself).
        mc_samples: T MC-dropout passes.
        seed: seeds the split, the augmentations, the dropout masks and the corruptions.
        cal_fraction: share of each class's labelled images kept for calibration.
        batch_size: images decoded and predicted at a time (also cuts the seeds of dropout
            masks and corruptions, so it is part of the cache key).
        bf16: bf16 autocast for torch models on CUDA (never for ONNX).
    """

    tta_samples: int = 8
    mc_samples: int = 30
    seed: int = 0
    cal_fraction: float = 0.3
    batch_size: int = 64
    bf16: bool = False

    def __post_init__(self) -> None:
        for name in ("tta_samples", "mc_samples", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.cal_fraction < 1:
            raise ValueError(f"cal_fraction must be between 0 and 1, got {self.cal_fraction}")
