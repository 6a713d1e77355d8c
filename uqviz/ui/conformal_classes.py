"""The Conformal page's class-conditional (Mondrian) panel: marginal and per-class sets side by
side, per class, with the smallest class's calibration size and what one threshold per class
costs in set size. The numbers are ``Study.class_conditional_comparison``'s; this only shows
them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from uqviz.study import ClassConditionalComparison, Study

MONDRIAN_KEY = "conf_mondrian"
MONDRIAN_HELP = ("Marginal sets reach 1 − α on average over the classes: a rare or hard class "
                 "can be covered far less often. Class-conditional (Mondrian) sets calibrate "
                 "one threshold per class on that class's calibration images, so coverage "
                 "reaches 1 − α within every class; a class with few calibration images pays "
                 "with larger sets.")


def mondrian_toggle(container) -> bool:
    """The "Class-conditional (Mondrian)" toggle (key ``conf_mondrian``)."""
    return container.toggle("Class-conditional (Mondrian)", key=MONDRIAN_KEY,
                            help=MONDRIAN_HELP)


def class_frame(comparison: ClassConditionalComparison) -> pd.DataFrame:
    """One row per class: calibration images, coverage and mean set size of both sets."""
    return pd.DataFrame([{
        "Class": r["class"], "Calibration images": r["n_cal"],
        "Coverage, marginal": r["coverage_marginal"],
        "Coverage, class-conditional": r["coverage_mondrian"],
        "Set size, marginal": r["size_marginal"],
        "Set size, class-conditional": r["size_mondrian"],
    } for r in comparison.per_class()])


def class_conditional_panel(study: Study, alpha: float, seed: int, settings: dict) -> None:
    """Per-class coverage and set size of the marginal and the class-conditional sets at
    ``alpha`` on the split ``seed`` (``settings``: score, cal_fraction, randomized, lam,
    k_reg)."""
    comparison = study.class_conditional_comparison(alpha=alpha, seed=seed, **settings)
    marginal, mondrian = comparison.marginal, comparison.mondrian
    smallest = comparison.smallest_class
    worst_marginal, worst_mondrian = comparison.worst_class_coverage
    st.subheader("Class-conditional (Mondrian) sets beside the marginal ones")
    st.caption(f"{MONDRIAN_HELP} Same split (seed {seed}), α = {alpha:g}.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Calibration, smallest class",
              f"{int(comparison.n_cal_per_class[smallest]):,}",
              help=f"Class {comparison.names[smallest]}: its threshold rests on this many "
                   "images (∞, the whole label set, when fewer than 1/α − 1).")
    c2.metric("Mean set size, marginal", f"{marginal.mean_set_size:.2f}")
    c3.metric("Mean set size, class-conditional", f"{mondrian.mean_set_size:.2f}",
              delta=f"{comparison.size_cost:+.2f} classes", delta_color="inverse",
              help="What one threshold per class costs in mean set size.")
    c4.metric("Worst class's coverage", f"{worst_mondrian:.1%}",
              delta=f"{100 * (worst_mondrian - worst_marginal):+.1f} points vs marginal "
                    f"({worst_marginal:.1%})",
              help=f"The lowest coverage among the classes; target {1 - alpha:.0%}.")
    st.caption("Per class, on the test part of the split: coverage (share of its images whose "
               "set holds the true class) and mean set size, marginal and class-conditional.")
    number = st.column_config.NumberColumn
    st.dataframe(class_frame(comparison), hide_index=True, width="stretch",
                 key="conf_class_table", column_config={
                     "Coverage, marginal": number(format="percent"),
                     "Coverage, class-conditional": number(format="percent"),
                     "Set size, marginal": number(format="%.2f"),
                     "Set size, class-conditional": number(format="%.2f")})
