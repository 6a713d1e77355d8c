"""Metric tables as the pages show them: value [95% CI] per cell, ★ on the best per column."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from uqviz.formatting import significant
from uqviz.metrics.scores import UNCERTAINTY_SCORES
from uqviz.metrics.summary import METRIC_INFO, MetricTable
from uqviz.study import OODTableRow
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
    """Help tooltips: each column's one-line meaning and which direction is better."""
    return {
        METRIC_INFO[k].label: st.column_config.TextColumn(
            METRIC_INFO[k].label,
            help=f"{METRIC_INFO[k].meaning} "
                 f"({'higher' if METRIC_INFO[k].higher_is_better else 'lower'} is better)")
        for k in metrics
    }


OOD_TABLE_HELP = {
    "AUROC [95% CI]": "Chance that a random in-distribution image gets a lower score than a "
                      "random OOD image (0.5 = chance, 1 = perfect; higher is better). 95% "
                      "bootstrap interval; ★ marks the best.",
    "AUPR-in": "Average precision of finding the in-distribution images by low score "
               "(higher is better).",
    "AUPR-out": "Average precision of finding the OOD images by high score (higher is better).",
    "FPR95": "Share of OOD images let through when the threshold keeps 95% of the "
             "in-distribution images (lower is better).",
}


def ood_frame(rows: list[OODTableRow], best: int) -> pd.DataFrame:
    """One row per method × score: AUROC [95% CI] (★ on the best), AUPR-in/out, FPR95."""
    return pd.DataFrame([{
        "Method": method_label(r.method), "Score": UNCERTAINTY_SCORES[r.score].label,
        "AUROC [95% CI]": format_cell(r.result.auroc, *r.auroc_ci, best=i == best),
        "AUPR-in": r.result.aupr_in, "AUPR-out": r.result.aupr_out, "FPR95": r.result.fpr95,
    } for i, r in enumerate(rows)])


def ood_column_config() -> dict:
    """Help tooltips for the OOD detection table's columns."""
    first = "AUROC [95% CI]"
    return {first: st.column_config.TextColumn(help=OOD_TABLE_HELP[first]),
            **{k: st.column_config.NumberColumn(help=v, format="%.3f")
               for k, v in OOD_TABLE_HELP.items() if k != first}}
