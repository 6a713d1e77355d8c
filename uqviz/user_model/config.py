"""The sidecar of a user's model: what its inputs look like and what its outputs mean.

A ``model.json`` next to the model file (or ``<model name>.json``, which wins when both exist),
or a config given explicitly, holds:

* ``input_size``: ``[height, width]`` in pixels;
* ``channels``: 1 (grey) or 3 (RGB);
* ``mean`` and ``std``: one value per channel; the model sees ``(pixel / 255 - mean) / std``
  (default 0 and 1: pixels in [0, 1]);
* ``classes``: the class names, output i is ``classes[i]``;
* ``outputs``: ``"logits"`` (default) or ``"probabilities"``;
* ``features_output`` (optional): the index or name of the output that holds penultimate
  features, for a model with several outputs;
* ``flips_preserve_label`` (optional, default false): a mirrored image keeps its class (used by
  test-time augmentation).

Explicit values (keyword arguments, command-line flags) win over the file. Every problem raises
``UserModelError`` with one line that names the file, the key and the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIDECAR_NAME = "model.json"
OUTPUT_KINDS = ("logits", "probabilities")
KEYS = ("input_size", "channels", "mean", "std", "classes", "outputs", "features_output",
        "flips_preserve_label")
REQUIRED = ("input_size", "channels", "classes")


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
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, ensure_ascii=False)


def _fail(source: str, key: str, rule: str, value: Any) -> UserModelError:
    return UserModelError(f"{source}: \"{key}\" {rule}, got {_show(value)}")


def _number_list(source: str, key: str, value: Any, channels: int) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * channels
    if (not isinstance(value, (list, tuple)) or len(value) != channels
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise _fail(source, key, f"must have one number per channel ({channels})", value)
    return tuple(float(v) for v in value)


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
    channels = raw["channels"]
    if channels not in (1, 3) or isinstance(channels, bool):
        raise _fail(source, "channels", "must be 1 or 3", channels)
    mean = _number_list(source, "mean", raw.get("mean") or 0.0, channels)
    std = _number_list(source, "std", raw.get("std") or 1.0, channels)
    if min(std) <= 0:
        raise _fail(source, "std", "must be positive", std)
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


def sidecar_of(model_path: str | Path) -> Path | None:
    """``<model name>.json`` next to the model when it exists, else ``model.json``, else None."""
    path = Path(model_path)
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json"),
                      path.with_name(SIDECAR_NAME)):
        if candidate.is_file():
            return candidate
    return None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The keys of a config file, unchecked (``model_config`` checks them)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserModelError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise UserModelError(f"{path.name}: not a UTF-8 text file") from None
    except json.JSONDecodeError as err:
        raise UserModelError(f"{path.name}: not valid JSON (line {err.lineno}: {err.msg})") \
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
