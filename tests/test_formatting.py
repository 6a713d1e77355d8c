"""The one number formatter, on hand-worked cases, and the app's tables use it."""

import math

import pytest

from uqviz.formatting import significant


@pytest.mark.parametrize("value, digits, expected", [
    # 0.09996: 3 figures would be 0.0999|6 -> 0.1000 by position, but 0.100 has 3 figures
    (0.09996, 3, "0.100"),
    (0.5, 3, "0.500"),
    (1.0, 3, "1.00"),
    # 0.00012345: first figure at 1e-4, so 3 figures are 6 decimals: 0.000123|45 -> 0.000123
    (0.00012345, 3, "0.000123"),
    # 123.456: 3 figures end at the units; integer digits are never dropped
    (123.456, 3, "123"),
    (1234.5, 3, "1234"),
    (999.6, 3, "1000"),
    (0.9996, 3, "1.00"),
    (-0.01234, 3, "-0.0123"),
    (0.046, 3, "0.0460"),
    (0.98912, 3, "0.989"),
    (0.000312, 3, "0.000312"),
    (0.12345, 4, "0.1235"),
    (0.12345, 1, "0.1"),
    (0.0, 3, "0"),
    (math.nan, 3, "–"),
    (math.inf, 3, "∞"),
    (-math.inf, 3, "−∞"),
])
def test_significant_by_hand(value, digits, expected):
    assert significant(value, digits) == expected


def test_significant_rejects_no_digits():
    with pytest.raises(ValueError, match="digits"):
        significant(1.0, 0)


def test_tables_use_the_core_formatter():
    from uqviz.ui import tables

    assert tables.significant is significant
    assert tables.format_cell(0.09996, 0.09, 0.5, False) == "0.100 [0.0900, 0.500]"
