"""The one table of method labels: what every page, plot, glossary entry and report calls a
method. Torch-free, so figure builders and the glossary read it without loading a network; the
registry's ``Method.label`` reads it too."""

from __future__ import annotations

METHOD_LABELS: dict[str, str] = {
    "softmax": "Softmax",
    "temperature": "Temperature scaling",
    "mc_dropout": "MC dropout",
    "deep_ensemble": "Deep ensemble",
    "prior_ensemble": "Prior ensemble",
    "tta": "Test-time augmentation",
    "ensemble": "Your ensemble",
}


def method_label(method_id: str) -> str:
    """The label of a registered method; a user's own method names (from a predictions file)
    as they are."""
    return METHOD_LABELS.get(method_id, method_id)
