"""Uncertainty methods behind one interface (``Method``) and a registry (``get_method``)."""

from __future__ import annotations

from uqviz.methods.base import Method, MethodConfig, MethodOutput
from uqviz.methods.ensemble import DeepEnsembleMethod
from uqviz.methods.mc_dropout import MCDropoutMethod
from uqviz.methods.prior import PriorEnsembleMethod
from uqviz.methods.softmax import SoftmaxMethod
from uqviz.methods.temperature import TemperatureMethod

METHODS: dict[str, type[Method]] = {
    cls.id: cls
    for cls in (SoftmaxMethod, TemperatureMethod, MCDropoutMethod, DeepEnsembleMethod,
                PriorEnsembleMethod)
}
METHOD_IDS: tuple[str, ...] = tuple(METHODS)


def get_method(name: str, config: MethodConfig | None = None) -> Method:
    """A new, unfitted method by id; ValueError listing the valid ids for an unknown one."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHOD_IDS)}") from None
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


__all__ = ["METHODS", "METHOD_IDS", "Method", "MethodConfig", "MethodOutput", "get_method",
           "parse_method_list"]
