"""Helpers of the figure tests: synthetic predictions and one trace of a figure by name."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def synthetic_predictions(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overconfident softmax outputs: (N, C) probs and labels right about 70% of the time."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * 3.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, c, size=n)
    right = rng.random(n) < 0.7
    labels[right] = probs[right].argmax(axis=1)
    return probs, labels


def trace_named(fig: go.Figure, name: str):
    matches = [t for t in fig.data if t.name == name]
    assert len(matches) == 1, f"expected one trace named {name!r}, got {[t.name for t in fig.data]}"
    return matches[0]


def tick_labels(axis) -> list[str]:
    """The labels of a linear axis (``tickmode="linear"``, as ``theme.rate_axis`` sets it), as
    Plotly writes them: every ``tick0 + k·dtick`` inside the range, in its d3 ``tickformat``
    (``.2f`` and ``.1%`` mean the same in Python's ``format``)."""
    assert axis.tickmode == "linear" and axis.dtick and axis.tickformat, axis
    lo, hi = axis.range
    step = float(axis.dtick)
    first = int(np.ceil((lo - float(axis.tick0)) / step - 1e-9))
    last = int(np.floor((hi - float(axis.tick0)) / step + 1e-9))
    return [format(float(axis.tick0) + k * step, axis.tickformat) for k in range(first, last + 1)]
