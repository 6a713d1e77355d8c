"""The Out-of-distribution page's views: the score menu, the note on what each score needs, the
histograms of one score, the detection table (every score × method) and the OOD galleries.

Scores come from two registries and are asked for by key through ``Study.score_values``:
the probability scores (``UNCERTAINTY_SCORES``: max probability, entropy, mutual
information …) and the logit and feature scores (``LOGIT_FEATURE_SCORES``: max-logit, energy,
GEN, KNN, ViM, Mahalanobis, relative Mahalanobis), fitted on the fit rows
(``Study.ood_scores``). Every score is oriented alike: higher = more likely out of
distribution.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from uqviz.data.ood import OOD_SETS
from uqviz.formatting import significant
from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES
from uqviz.metrics.scores import UNCERTAINTY_SCORES
from uqviz.metrics.summary import OOD_SUMMARY_SCORES
from uqviz.plots import in_out_histogram_figure
from uqviz.predictions import OOD_PREFIX
from uqviz.sources import DATASET, PREDICTIONS_FILE, YOUR_MODEL
from uqviz.study import Comparison, OODTableRow, Study, display_rows
from uqviz.ui.state import method_label
from uqviz.ui.widgets import show_cases

DEFAULT_SCORE = "entropy"
GALLERY_SCORE = "entropy"  # galleries of clean images sort by a probability score
TABLE_MAX_HEIGHT = 600

OOD_TABLE_HELP = {
    "Needs": "What the score is computed from: probabilities, logits or penultimate features "
             "(fitted on the fit rows, never on the rows scored).",
    "AUROC": "Chance that a random in-distribution image gets a lower score than a random OOD "
             "image (0.5 = chance, 1 = perfect; higher is better). Click a column name to "
             "sort.",
    "95% CI": "95% bootstrap interval of the AUROC (in and out resampled separately); ★ marks "
              "the best AUROC.",
    "AUPR-in": "Average precision of finding the in-distribution images by low score "
               "(higher is better).",
    "AUPR-out": "Average precision of finding the OOD images by high score (higher is better).",
    "FPR95": "Share of OOD images let through when the threshold keeps 95% of the "
             "in-distribution images (lower is better).",
}


def ood_label(group: str) -> str:
    """``ood:gaussian_noise`` -> ``Gaussian noise``; unknown names as they are."""
    name = group.removeprefix(OOD_PREFIX)
    return OOD_SETS[name].label if name in OOD_SETS else name


def ood_description(group: str) -> str:
    """The built-in OOD set's one-line description; empty for a user's set."""
    name = group.removeprefix(OOD_PREFIX)
    return OOD_SETS[name].description if name in OOD_SETS else ""


def score_label(key: str) -> str:
    """Short label of a probability, logit or feature score."""
    return UNCERTAINTY_SCORES[key].label if key in UNCERTAINTY_SCORES else (
        LOGIT_FEATURE_SCORES[key].label)


def score_needs(key: str) -> str:
    """``probabilities``, ``logits``, ``features`` or ``logits and features``."""
    return "probabilities" if key in UNCERTAINTY_SCORES else LOGIT_FEATURE_SCORES[key].needs


def score_meaning(key: str) -> str:
    return UNCERTAINTY_SCORES[key].meaning if key in UNCERTAINTY_SCORES else (
        LOGIT_FEATURE_SCORES[key].meaning)


def gallery_score(key: str) -> str:
    """``key`` when it is a probability score (the galleries of clean images sort the stream
    by one), else ``GALLERY_SCORE``."""
    return key if key in UNCERTAINTY_SCORES else GALLERY_SCORE


def score_options(comp: Comparison) -> list[str]:
    """The scores at least one method has: the probability scores, then the logit and feature
    scores, each in its registry's order."""
    have = {k for s in comp.studies.values() for k in s.ood_score_keys()}
    return [k for k in [*OOD_SUMMARY_SCORES, *LOGIT_FEATURE_SCORES] if k in have]


def score_select(container, comp: Comparison) -> str:
    """The select box of the score the histograms show (key ``ood_score``)."""
    options = score_options(comp)
    return container.selectbox(
        "Score", options, key="ood_score", index=options.index(DEFAULT_SCORE),
        format_func=lambda k: f"{score_label(k)} ({score_needs(k)})",
        help=" ".join(f"{score_label(k)}: {score_meaning(k)}" for k in options))


def _fit_rows_wording(kind: str) -> str:
    if kind == DATASET:
        return "labelled validation images the networks never trained on"
    if kind == YOUR_MODEL:
        return "your labelled calibration images"
    return "the rows of group 'fit' in your file"


def _how_to_add(kind: str) -> str:
    if kind == YOUR_MODEL:
        return ("Logits come with \"outputs\": \"logits\"; features with \"features_output\" "
                "in your model.json; the fitted scores need labelled images (class "
                "sub-folders) for the calibration part.")
    return ("Add the arrays 'logits' ((N, C) or (S, N, C)) and 'features' ((N, D)) to an NPZ "
            "file, with labelled rows of group 'fit' to fit on (docs/ood_scores.md).")


def _reason(why: str, kind: str) -> str:
    """The core's reason, without its NPZ hint where the source is not a file."""
    return why if kind == PREDICTIONS_FILE else re.sub(r" \(NPZ array '\w+'\)", "", why)


def score_needs_note(comp: Comparison, kind: str) -> None:
    """Which scores need what, how many fit rows the fitted ones used, and which scores are
    unavailable for this source and why."""
    first = next(iter(comp.studies.values())).ood_scores
    st.caption(
        "**What each score needs.** Probability scores (max probability, entropy, mutual "
        "information) need only the probabilities. −max logit, energy and GEN need the "
        "logits; KNN, Mahalanobis and relative Mahalanobis need the penultimate features; ViM "
        "needs both. The feature scores fit class means, a feature bank or a principal space "
        f"on {first.n_fit:,} fit rows ({_fit_rows_wording(kind)}), never on the rows scored.")
    missing: dict[str, list[str]] = {}
    for m, s in comp.studies.items():
        for key, why in s.ood_scores.unavailable.items():
            missing.setdefault(f"{score_label(key)}: {_reason(why, kind)}",
                               []).append(method_label(m))
    if missing:
        lines = [f"- {what} ({', '.join(who) if len(who) < len(comp.studies) else 'every method'})"
                 for what, who in missing.items()]
        st.caption("**Not available here:**\n" + "\n".join(lines) + "\n\n" + _how_to_add(kind))


def _why_not(study: Study, key: str) -> str:
    if key in study.ood_scores.unavailable:
        return study.ood_scores.unavailable[key]
    return "one sample per image, so it is zero everywhere; pick another score"


def histogram_grid(comp: Comparison, group: str, key: str) -> None:
    """One histogram per method of ``key`` on the clean test rows and the rows of ``group``,
    three per line; a method without the score says why."""
    label, methods = score_label(key), list(comp.studies)
    for start in range(0, len(methods), 3):
        cols = st.columns(3)
        for col, m in zip(cols, methods[start:start + 3], strict=False):
            s = comp.studies[m]
            if key not in s.ood_score_keys():
                col.caption(f"**{method_label(m)}**: {label.lower()}: {_why_not(s, key)}.")
                continue
            u_in, u_out = s.score_values(None, key), s.score_values(group, key)
            col.plotly_chart(in_out_histogram_figure(
                u_in[display_rows(u_in.size)], u_out[display_rows(u_out.size)],
                score_label=label, method=m, in_name="Clean test", out_name=ood_label(group),
                title=method_label(m), height=360, legend_below=True,
                y_title="Share of its group"), theme=None, key=f"ood_hist_{m}")


def ood_frame(rows: list[OODTableRow], best: int) -> pd.DataFrame:
    """One row per method × score: what it needs, AUROC, its 95% CI (★ on the best AUROC),
    AUPR-in/out, FPR95."""
    return pd.DataFrame([{
        "Method": method_label(r.method), "Score": score_label(r.score),
        "Needs": score_needs(r.score), "AUROC": r.result.auroc,
        "95% CI": f"[{significant(r.auroc_ci[0])}, {significant(r.auroc_ci[1])}]"
                  + (" ★" if i == best else ""),
        "AUPR-in": r.result.aupr_in, "AUPR-out": r.result.aupr_out, "FPR95": r.result.fpr95,
    } for i, r in enumerate(rows)])


def ood_column_config() -> dict:
    """Help tooltips (and three decimals) for the detection table's columns."""
    text = ("Needs", "95% CI")
    return {k: (st.column_config.TextColumn(help=v) if k in text
                else st.column_config.NumberColumn(help=v, format="%.3f"))
            for k, v in OOD_TABLE_HELP.items()}


def detection_table(comp: Comparison, group: str) -> None:
    """Every score × method as a detector of ``group``: a sortable table."""
    table = ood_frame(*comp.ood_table(group))
    st.dataframe(table, hide_index=True, width="stretch", key="ood_table",
                 height=min(TABLE_MAX_HEIGHT, 35 * (len(table) + 1) + 3),
                 column_config=ood_column_config())


def ood_gallery(study: Study, images: np.ndarray, group: str, key: str) -> None:
    """The most and least suspicious images of ``group`` by ``key`` (predictive entropy where
    the method lacks the score), captioned with the predicted class and the score."""
    shown = key if key in study.ood_score_keys() else study.applicable_score(GALLERY_SCORE)
    u_out, pred_out = study.score_values(group, shown), study.group_predicted(group)
    if len(images) != u_out.size:
        st.warning(f"The regenerated OOD set has {len(images):,} images for {u_out.size:,} "
                   "rows; the images cannot be matched to their rows.")
        return
    most, least = study.group_extremes(group, shown)
    st.caption(f"Sorted by {score_label(shown).lower()} ({method_label(study.method)}). Each "
               "caption: the class the model predicts and the score u.")
    for title, rows in [("Highest score (flagged as unfamiliar)", most),
                        ("Lowest score (taken for a known class)", least)]:
        st.markdown(f"**{title}**")
        show_cases(images, rows,
                   [f"pred {study.rows.names[pred_out[i]]} · u={u_out[i]:.3f}" for i in rows])
