"""``PredictionsFileError`` and the words of its one-line messages: the file, the place (a row
counted as in a spreadsheet, a cell, an array index) and the problem, with the hints that
several messages share."""

from __future__ import annotations

import math

ROW_CONVENTION = "header = row 1"
LOGITS_HINT = (
    "these look like logits, not probabilities: pass logits_to_probs=True (--softmax on the "
    "command line, the 'Apply softmax' checkbox in the app) to apply a softmax"
)
DROP_HINT = "pass drop_invalid=True (--drop-invalid on the command line) to drop them"
NO_ID_HINT = (
    "without an 'id' column the samples are matched by position, so every sample must list the "
    "examples in the same order; add an 'id' column to give rows in any order"
)
SAME_IDS = "every sample of a method must list the same ids (in any order)"
SAME_LABEL = "the same id must have the same label in every method"
_MAX_LISTED = 8


class PredictionsFileError(ValueError):
    """A predictions file that cannot be used; the message is one line: file, place, problem."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def file_error(source: str, problem: str, where: str | None = None) -> PredictionsFileError:
    text = f"{source}: {where}: {problem}" if where else f"{source}: {problem}"
    return PredictionsFileError(one_line(text))


def row_place(row_number: int) -> str:
    return f"row {int(row_number)} ({ROW_CONVENTION})"


def cell_place(row_number: int, column: str) -> str:
    return f"{row_place(row_number)}, column {column}"


def listing_of(values, limit: int = _MAX_LISTED) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(values[:limit])
    return shown + (f", … ({len(values) - limit} more)" if len(values) > limit else "")


def and_more(count: int, noun: str = "rows") -> str:
    return f" (and {count - 1} more {noun})" if count > 1 else ""


def row_count(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def shown_value(value: float) -> str:
    """A parsed cell: ``empty`` where it is missing (NaN), else the number."""
    return "empty" if math.isnan(value) else number_text(value)


def number_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"
