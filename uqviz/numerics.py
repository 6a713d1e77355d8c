"""Small numerical functions shared by the core (numpy only: no torch, scipy, streamlit or
plotly), so that reading a predictions file does not load torch."""

from __future__ import annotations

import numpy as np

__all__ = ["finite_number", "softmax"]


def finite_number(value) -> float | None:
    """``float(value)`` when it is a finite number (a URL's or a widget's text, a stored
    value); None for anything else (text, None, NaN, ±inf)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def softmax(logits, axis: int = -1, *, temperature: float = 1.0, dtype=np.float64) -> np.ndarray:
    """Softmax of ``z = logits / temperature`` along ``axis``, computed stably in float64 as
    ``exp(z - max z) / sum exp(z - max z)`` and returned as ``dtype``.

    Subtracting the maximum leaves the result unchanged and keeps ``exp`` from overflowing:
    ``softmax([1e4, 1e4 + log 3]) = [0.25, 0.75]``.

    Args:
        logits: array of any shape with the classes along ``axis``.
        axis: the class axis.
        temperature: T > 0; T > 1 flattens the distribution, T < 1 sharpens it.
        dtype: dtype of the result (float32 for what methods return and caches keep).
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z.astype(dtype, copy=False)
