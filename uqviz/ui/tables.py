"""Metric tables as the pages show them: value [95% CI] per cell, ★ on the best per column."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from uqviz.formatting import significant
from uqviz.metrics.summary import METRIC_INFO, MetricTable
from uqviz.ui.state import method_label

TABLE_PARTS = (
    ("Accuracy and calibration", ("accuracy", "nll", "brier", "ece", "adaptive_ece")),
    ("Worst bin, ranking cases by uncertainty, and spotting unfamiliar inputs",
     ("mce", "aurc", "eaurc", "ood_auroc")),
)


def format_cell(value: float, lower: float, upper: float, best: bool) -> str:
    """``0.989 [0.980, 0.998] ★`` (the star when ``best``); ``–`` when there is no value.
    Three significant figures (``uqviz.formatting.significant``, as in the report), so small
    values such as AURC keep their information."""
    if math.isnan(value):
        return "–"
    return f"{significant(value)} [{significant(lower)}, {significant(upper)}]" + (
        " ★" if best else "")


def metric_frame(table: MetricTable, metrics: list[str]) -> pd.DataFrame:
    """One row per method, one formatted column per metric, labelled as in METRIC_INFO."""
    rows = []
    for i, method in enumerate(table.methods):
        row = {"Method": method_label(method)}
        for key in metrics:
            j = table.metrics.index(key)
            best = len(table.methods) > 1 and table.best(key) == method
            row[METRIC_INFO[key].label] = format_cell(table.value[i, j], table.lower[i, j],
                                                      table.upper[i, j], best)
        rows.append(row)
    return pd.DataFrame(rows)


def metric_column_config(metrics: list[str]) -> dict:
    """Help tooltips: each column's one-line meaning and which direction is better; the method
    column wide enough for the longest label ("Test-time augmentation")."""
    metric_columns = {
        METRIC_INFO[k].label: st.column_config.TextColumn(
            METRIC_INFO[k].label,
            help=f"{METRIC_INFO[k].meaning} "
                 f"({'higher' if METRIC_INFO[k].higher_is_better else 'lower'} is better)")
        for k in metrics
    }
    return {"Method": st.column_config.TextColumn("Method", width=170), **metric_columns}
