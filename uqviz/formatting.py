"""How numbers are written, the same in the app's tables and the HTML report (no streamlit or
plotly)."""

from __future__ import annotations

import math

__all__ = ["significant"]


def significant(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant figures, never in exponent notation.

    The figures are counted on the rounded value, so a value that rounds up to the next power
    of ten keeps ``digits`` figures, not one more: 0.09996 -> ``"0.100"`` (not ``"0.1000"``).
    Integer digits beyond ``digits`` are kept (123.456 -> ``"123"``, 1234.5 -> ``"1234"``).

    Examples (``digits=3``): 0.000312 -> ``"0.000312"``, 0.00012345 -> ``"0.000123"``,
    0.046 -> ``"0.0460"``, 0.5 -> ``"0.500"``, 1.0 -> ``"1.00"``, 1.2734 -> ``"1.27"``,
    -0.01234 -> ``"-0.0123"``, 0 -> ``"0"``, NaN -> ``"–"``, ±inf -> ``"∞"`` / ``"−∞"``.

    Raises:
        ValueError: when ``digits`` < 1.
    """
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    value = float(value)
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0.0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    rounded = round(value, decimals)
    if rounded != 0.0:  # 0.09996 rounds to 0.1000: count the figures of the rounded value
        decimals = max(digits - 1 - math.floor(math.log10(abs(rounded))), 0)
    return f"{round(value, decimals):.{decimals}f}"


def json_ready(value):
    """``value`` with every NaN and ±inf float replaced by None, through dicts, lists and
    tuples (JSON has neither): what the command line prints with ``--json``."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
