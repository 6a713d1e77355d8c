"""Uncertainty methods behind one interface (``Method``) and the one registry (``METHODS``).

Every method is here, for a built-in dataset and for a user's model alike: ``METHOD_IDS`` are
those a built-in dataset runs by default (its trained networks), ``MODEL_METHOD_IDS`` those a
user's model files can run (``Method.applies_to``). Test-time augmentation runs on both; a
dataset runs it when asked by name (``--methods tta``)."""

from __future__ import annotations

from uqviz.methods.base import Method, MethodConfig, MethodOutput
from uqviz.methods.ensemble import CheckpointEnsembleMethod, DeepEnsembleMethod
from uqviz.methods.mc_dropout import MCDropoutMethod
from uqviz.methods.prior import PriorEnsembleMethod
from uqviz.methods.softmax import SoftmaxMethod
from uqviz.methods.temperature import TemperatureMethod
from uqviz.methods.tta import TTAMethod

METHODS: dict[str, type[Method]] = {
    cls.id: cls
    for cls in (SoftmaxMethod, TemperatureMethod, MCDropoutMethod, DeepEnsembleMethod,
                PriorEnsembleMethod, TTAMethod, CheckpointEnsembleMethod)
}
# a built-in dataset's methods by default (the app's sidebar, ``--methods all``)
METHOD_IDS: tuple[str, ...] = ("softmax", "temperature", "mc_dropout", "deep_ensemble",
                               "prior_ensemble")
# what a user's model files can run, in the Your model page's order
MODEL_METHOD_IDS: tuple[str, ...] = ("softmax", "temperature", "tta", "mc_dropout", "ensemble")
DATASET_METHOD_IDS: tuple[str, ...] = tuple(m for m, cls in METHODS.items()
                                            if "dataset" in cls.applies_to)


def get_method(name: str, config: MethodConfig | None = None) -> Method:
    """A new, unfitted method for a built-in dataset by id; ValueError listing the valid ids
    for an unknown one or one that runs only on a user's model."""
    cls = METHODS.get(name)
    if cls is None or "dataset" not in cls.applies_to:
        why = "" if cls is None else f" ({cls.label} runs only on your model files)"
        raise ValueError(f"unknown method {name!r}{why}; valid: "
                         f"{', '.join(DATASET_METHOD_IDS)}") from None
    return cls(config)


def parse_method_list(text: str) -> list[str]:
    """``"softmax, deep_ensemble"`` -> ids, validated; ``all`` means every method."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return list(METHOD_IDS)
    if not names:
        raise ValueError(f"no method given; valid: {', '.join(METHOD_IDS)}")
    for name in names:
        get_method(name)
    return names


__all__ = ["DATASET_METHOD_IDS", "METHODS", "METHOD_IDS", "MODEL_METHOD_IDS", "Method", "MethodConfig", "MethodOutput", "get_method",
           "parse_method_list"]
