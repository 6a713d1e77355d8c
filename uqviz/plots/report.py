"""One self-contained HTML report for stakeholders: metrics, charts, policy, conformal sets.

``build_report`` returns a single HTML document that opens offline: Plotly's JavaScript is
inlined once in the head, every figure is a ``<div>`` drawn by a small inline script, the CSS is
inline and no address outside the file is ever fetched (no CDN, no web fonts). ``write_report``
saves it atomically.

What it scores: for every method, a row set (``uqviz.rows.RowSet``) whose ``scored`` rows
(known label, neither OOD nor corrupted, the S samples averaged) the metric table, the figures
and the counts all read, as ``uqviz.metrics.summary.metric_table`` does; so the ECE in a
reliability diagram's title and the AURC in the risk–coverage legend are the table's numbers.
``comparison_report`` hands it a ``Comparison``'s row sets (``Study.table_rows``, whose scored
rows are ``Study.scored``: the scored rows of the incoming stream) and its metric table, so
that the report counts the rows the dashboard's pages count; ``build_report`` refuses a metric
table whose accuracy is not that of the rows it is given.

The "Unfamiliar inputs" section (``OODReport``, made by ``ood_report`` from a ``Comparison``)
gives, per out-of-distribution group, every available score × method as the Out-of-distribution
page shows it (``Comparison.ood_table``: ``Study.ood_detection`` and ``Study.ood_auroc_ci``, not
recomputed): AUROC with its 95% interval, AUPR-in, AUPR-out and FPR95, each score's settings
(KNN's k, ViM's dimension, GEN's γ and M) beside it, and one line naming the scores that are
unavailable and why (no logits, no features, no fit rows).

Numbers: three significant figures, never in exponent notation (``0.000312``, ``0.0460``,
``1.27``); accuracies and coverages as percentages (``98.9%``).

Plotly only (no streamlit, no torch).
"""

from __future__ import annotations

import html as html_lib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.offline

import uqviz
from uqviz.cache import atomic_write
from uqviz.formatting import significant
from uqviz.metrics.calibration import reliability_bins
from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES
from uqviz.metrics.scores import UNCERTAINTY_SCORES
from uqviz.metrics.selective import risk_coverage_curve
from uqviz.metrics.summary import METRIC_INFO, MetricTable, metric_table
from uqviz.plots.calibration import reliability_figure, reliability_overlay_figure
from uqviz.plots.selective import risk_coverage_figure
from uqviz.plots.theme import (
    ACCENT,
    GRID_COLOR,
    MUTED_COLOR,
    TEXT_COLOR,
    method_color,
    method_label,
)
from uqviz.policy import REFERRAL_MODES
from uqviz.predictions import OOD_PREFIX
from uqviz.rows import RowSet
from uqviz.study import Comparison, OODTableRow, bootstrap_resamples

__all__ = [
    "CONFORMAL_FIELDS",
    "OODReport",
    "PERCENT_METRICS",
    "PLOTLY_CONFIG",
    "REPORT_CURVE_POINTS",
    "build_report",
    "comparison_report",
    "format_interval",
    "format_metric",
    "format_percent",
    "format_policy_value",
    "format_score_settings",
    "ood_report",
    "report_figures",
    "significant",
    "write_report",
]

# Curves keep at most this many points, so every line is SVG (prints and needs no WebGL).
REPORT_CURVE_POINTS = 1000
RELIABILITY_BIN_COUNT = 15
PERCENT_METRICS = frozenset({"accuracy"})
PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
CONFORMAL_FIELDS = ("qhat", "coverage", "mean_set_size", "n_cal", "n_test")

HEADLINES = (
    ("accuracy", "Most accurate", "Share of cases the model gets right."),
    ("ece", "Best calibrated", "Its stated confidence matches how often it is right."),
    ("aurc", "Best at ranking its own mistakes",
     "Its most uncertain cases are the ones it gets wrong."),
    ("ood_auroc", "Best at spotting unfamiliar inputs",
     "It is more uncertain on inputs unlike its training data."),
)

POLICY_LABELS = {
    "dataset": "Dataset",
    "method": "Method",
    "score": "Uncertainty score",
    "set_by": "Threshold chosen by",
    "rule": "Rule",
    "threshold": "Threshold",
    "expected_referral_rate": "Expected share referred to a human",
    "expected_automated_accuracy": "Expected accuracy on the automated cases",
    "expected_automated_accuracy_ci95": "… 95% interval",
    "expected_automated_error_rate": "Expected error rate on the automated cases",
    "model_accuracy_on_referred": "Model accuracy on the referred cases",
    "model_accuracy_on_referred_ci95": "… 95% interval",
    "expected_cost_per_case": "Expected cost per case",
    "target_reached": "Target reached",
    "n_test_cases": "Test cases it was measured on",
    "date": "Set on",
}
POLICY_PERCENT_FIELDS = frozenset({
    "expected_referral_rate",
    "expected_automated_accuracy",
    "expected_automated_accuracy_ci95",
    "expected_automated_error_rate",
    "model_accuracy_on_referred",
    "model_accuracy_on_referred_ci95",
})


# -- numbers -----------------------------------------------------------------------------------
def format_percent(fraction: float, digits: int = 3) -> str:
    """A fraction as a percentage with ``digits`` significant figures: ``0.98912 -> "98.9%"``."""
    text = significant(100.0 * float(fraction), digits)
    return text if text in ("–", "∞", "−∞") else f"{text}%"


def format_metric(metric: str, value: float) -> str:
    """A metric value as the report prints it: percentages for ``PERCENT_METRICS``, else three
    significant figures; ``"–"`` when NaN (e.g. OOD AUROC of a method without OOD rows)."""
    if metric in PERCENT_METRICS:
        return format_percent(value)
    return significant(value)


def format_interval(metric: str, lower: float, upper: float) -> str:
    """The 95% interval of a metric: ``"[0.0250, 0.0401]"``; ``""`` when either end is NaN."""
    if math.isnan(float(lower)) or math.isnan(float(upper)):
        return ""
    return f"[{format_metric(metric, lower)}, {format_metric(metric, upper)}]"


def format_policy_value(key: str, value) -> str:
    """One field of a referral policy (``uqviz.policy.policy_document``) as text.

    Rates and accuracies as percentages, intervals as ``[a, b]``, the threshold with four
    significant figures, booleans as yes/no, counts with thousands separators, None as ``–``.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ", ".join(format_policy_value(key, v) for v in value) + "]"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if key in POLICY_PERCENT_FIELDS:
            return format_percent(value)
        return significant(value, 4 if key == "threshold" else 3)
    if key == "set_by":
        return REFERRAL_MODES.get(str(value), str(value))
    if key == "method":
        return method_label(str(value))
    return str(value)


# -- figures -----------------------------------------------------------------------------------
def _scored_rows(rows: Mapping[str, RowSet]) -> dict[str, RowSet]:
    """Each method's scored row set (``RowSet.scored``)."""
    if not rows:
        raise ValueError("a report needs at least one method, got none")
    scored = {}
    for name, r in rows.items():
        if not isinstance(r, RowSet):
            raise ValueError(f"rows[{name!r}] must be a RowSet, got {type(r).__name__}")
        scored[name] = r.scored
    return scored


def report_figures(rows: Mapping[str, RowSet]) -> dict[str, go.Figure]:
    """The report's figures, in the order they appear.

    Keys: ``"reliability_overlay"``, then ``"reliability:<method>"`` per method, then
    ``"risk_coverage"``. All are drawn on the rows the metric table scores, with 15
    equal-width confidence bins and ``1 − max probability`` as the uncertainty.

    Args:
        rows: method name -> its row set (``RowSet``; its scored rows are drawn).

    Raises:
        ValueError: when there is no method or a method has no labelled in-distribution row.
    """
    bins = {}
    curves = {}
    for name, r in _scored_rows(rows).items():
        bins[name] = reliability_bins(r.mean_probs, r.labels, n_bins=RELIABILITY_BIN_COUNT)
        curves[name] = risk_coverage_curve(r.uncertainty("max_prob"), r.correct)
    figures = {"reliability_overlay": reliability_overlay_figure(
        bins, title="Reliability: how often each method is right at each confidence")}
    for name, b in bins.items():
        figures[f"reliability:{name}"] = reliability_figure(b, method=name, height=470)
    figures["risk_coverage"] = risk_coverage_figure(curves, max_points=REPORT_CURVE_POINTS)
    return figures


def _figure_html(fig: go.Figure, div_id: str, caption: str) -> str:
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config=PLOTLY_CONFIG)
    return (f'<figure class="figure" data-figure="{html_lib.escape(div_id)}">{body}'
            f"<figcaption>{caption}</figcaption></figure>")


# -- html pieces -------------------------------------------------------------------------------
def _e(text) -> str:
    return html_lib.escape(str(text), quote=True)


def _swatch(method: str) -> str:
    return (f'<span class="who"><span class="swatch" style="background:{method_color(method)}">'
            f"</span><span>{_e(method_label(method))}</span></span>")


def _paragraphs(text: str) -> str:
    parts = [p.strip() for p in str(text).split("\n\n") if p.strip()]
    return "".join(f"<p>{_e(p)}</p>" for p in parts)


def _best_methods(table: MetricTable) -> dict[str, tuple[str, ...]]:
    """metric -> the best methods (``MetricTable.best`` and any method with exactly the same
    value, e.g. two equal accuracies), for columns where at least one method has a value."""
    best = {}
    for j, metric in enumerate(table.metrics):
        if not np.isnan(table.value[:, j]).all():
            top = table.value[table.methods.index(table.best(metric)), j]
            best[metric] = tuple(m for i, m in enumerate(table.methods)
                                 if table.value[i, j] == top)
    return best


def _check_table(table: MetricTable, rows: Mapping[str, RowSet]) -> None:
    """A metric table handed in must score these rows: same methods, same accuracy."""
    if tuple(table.methods) != tuple(rows):
        raise ValueError(f"the metric table's methods {', '.join(table.methods)} are not the "
                         f"report's {', '.join(rows)}")
    if "accuracy" not in table.metrics:
        return
    j = table.metrics.index("accuracy")
    for i, (name, p) in enumerate(rows.items()):
        accuracy = float(p.correct.mean())
        if not abs(table.value[i, j] - accuracy) <= 1e-9:
            raise ValueError(
                f"the metric table's accuracy of {name!r} ({table.value[i, j]:.6f}) is not that "
                f"of the {p.n:,} rows the report scores ({accuracy:.6f}): the table was "
                "computed on other rows")


def _metric_table_html(table: MetricTable, rows: Mapping[str, RowSet]) -> str:
    best = _best_methods(table) if len(table.methods) > 1 else {}
    head = "".join(f'<th scope="col" data-n="{rows[m].n}">{_swatch(m)}'
                   f'<span class="n">{rows[m].n:,} cases</span></th>' for m in table.methods)
    body = []
    for j, metric in enumerate(table.metrics):
        info = METRIC_INFO[metric]
        direction = "↑ higher is better" if info.higher_is_better else "↓ lower is better"
        cells = []
        for i, method in enumerate(table.methods):
            value, lo, hi = table.value[i, j], table.lower[i, j], table.upper[i, j]
            is_best = method in best.get(metric, ())
            star = ' <span class="star" title="best of the methods">★</span>' if is_best else ""
            interval = format_interval(metric, lo, hi)
            ci = f'<span class="ci">{_e(interval)}</span>' if interval else ""
            cells.append(
                f'<td class="cell{" best" if is_best else ""}" data-metric="{_e(metric)}" '
                f'data-method="{_e(method)}"><span class="v">{_e(format_metric(metric, value))}'
                f"</span>{star}{ci}</td>")
        body.append(
            f'<tr><th scope="row" class="metric">{_e(info.label)}'
            f'<span class="dir">{direction}</span></th>{"".join(cells)}'
            f'<td class="meaning">{_e(info.meaning)}</td></tr>')
    return (
        '<div class="table-wrap"><table class="metrics" id="metric-table">'
        f'<thead><tr><th scope="col">Metric</th>{head}<th scope="col">What it measures</th>'
        f'</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _overlaps(table: MetricTable, metric: str, method: str) -> list[str]:
    j = table.metrics.index(metric)
    i = table.methods.index(method)
    lo, hi = table.lower[i, j], table.upper[i, j]
    others = []
    for k, other in enumerate(table.methods):
        olo, ohi = table.lower[k, j], table.upper[k, j]
        if k != i and not np.isnan(olo) and not np.isnan(ohi) and olo <= hi and lo <= ohi:
            others.append(other)
    return others


def _summary_html(table: MetricTable) -> str:
    cards = []
    several = len(table.methods) > 1
    best = _best_methods(table)
    for metric, heading, gloss in HEADLINES:
        if metric not in best:
            continue
        j = table.metrics.index(metric)
        leaders = best[metric]
        i = table.methods.index(leaders[0])
        value = format_metric(metric, table.value[i, j])
        label = METRIC_INFO[metric].label
        note, title = "", label
        if several:
            title = heading
            if len(leaders) > 1:
                note = "A tie: these methods have the same value."
            else:
                overlap = _overlaps(table, metric, leaders[0])
                note = ("95% intervals overlap with "
                        + ", ".join(_e(method_label(m)) for m in overlap)
                        + ": the lead may be chance." if overlap
                        else "Ahead of every other method beyond the 95% intervals.")
        who = " &amp; ".join(_swatch(m) for m in leaders)
        cards.append(
            f'<div class="card" data-metric="{_e(metric)}">'
            f'<div class="card-title">{_e(title)}</div>'
            f'<div class="card-method">{who}</div>'
            f'<div class="card-value">{_e(label)} {_e(value)}</div>'
            f'<div class="card-gloss">{_e(gloss)}</div>'
            + (f'<div class="card-note">{note}</div>' if note else "") + "</div>")
    return f'<div class="cards">{"".join(cards)}</div>'


def _methods_html(every: Mapping[str, RowSet], rows: Mapping[str, RowSet]) -> str:
    body = []
    for name, p in every.items():
        samples = p.num_samples
        kind = "one prediction" if samples == 1 else f"{samples} samples averaged"
        n_ood = 0 if p.ood is None else p.ood.n
        body.append(
            f"<tr><th scope=\"row\">{_swatch(name)}</th><td>{_e(kind)}</td>"
            f"<td class=\"num\">{rows[name].n:,}</td>"
            f"<td class=\"num\">{n_ood:,}</td>"
            f"<td class=\"num\">{p.num_classes:,}</td></tr>")
    return (
        '<div class="table-wrap"><table class="plain" id="methods-table"><thead><tr>'
        '<th scope="col">Method</th><th scope="col">Predictions per case</th>'
        '<th scope="col" class="num">Cases scored</th>'
        '<th scope="col" class="num">Unfamiliar (OOD) cases</th>'
        '<th scope="col" class="num">Classes</th></tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>'
    )


def _policy_html(policy: Mapping) -> str:
    if not isinstance(policy, Mapping):
        raise ValueError(f"policy must be a dict, got {type(policy).__name__}")
    sentence = ""
    if policy.get("threshold") is not None and policy.get("score"):
        parts = [f"Refer a case to a human when its <b>{_e(policy['score'])}</b> uncertainty is "
                 f"above <b>{_e(format_policy_value('threshold', policy['threshold']))}</b>"]
        if policy.get("method"):
            parts.append(f" (method: {_e(method_label(str(policy['method'])))})")
        parts.append(".")
        if policy.get("expected_referral_rate") is not None:
            parts.append(" Expect about <b>"
                         + _e(format_percent(policy["expected_referral_rate"]))
                         + "</b> of cases to go to a human")
            if policy.get("expected_automated_accuracy") is not None:
                parts.append(" and <b>"
                             + _e(format_percent(policy["expected_automated_accuracy"]))
                             + "</b> accuracy on the cases the model handles alone")
                ci = policy.get("expected_automated_accuracy_ci95")
                if ci and all(v is not None for v in ci):
                    parts.append(" (95% interval "
                                 + _e(format_policy_value("expected_automated_accuracy_ci95", ci))
                                 + ")")
            parts.append(".")
        sentence = f'<p class="lead callout">{"".join(parts)}</p>'
    rows = "".join(
        f'<tr data-field="{_e(key)}"><th scope="row">'
        f"{_e(POLICY_LABELS.get(key, str(key).replace('_', ' ').capitalize()))}</th>"
        f"<td>{_e(format_policy_value(key, value))}</td></tr>"
        for key, value in policy.items())
    return (f"{sentence}<div class=\"table-wrap\"><table class=\"plain fields\" "
            f"id=\"policy-table\"><tbody>{rows}</tbody></table></div>")


def _conformal_rows(conformal: Mapping) -> dict[str, dict]:
    """Accept ``{method: summary}`` or the command line's ``{"methods": {...}}`` (with optional
    shared ``alpha`` and ``score``); each summary as ``uqviz.conformal.conformal_summary``
    returns it, optionally with ``alpha`` and ``score``."""
    if not isinstance(conformal, Mapping):
        raise ValueError(f"conformal must be a dict, got {type(conformal).__name__}")
    shared = {}
    if "methods" in conformal and isinstance(conformal["methods"], Mapping):
        shared = {k: conformal[k] for k in ("alpha", "score") if k in conformal}
        conformal = conformal["methods"]
    rows = {}
    for method, summary in conformal.items():
        if not isinstance(summary, Mapping):
            raise ValueError(f"conformal[{method!r}] must be a dict, got "
                             f"{type(summary).__name__}")
        missing = [k for k in CONFORMAL_FIELDS if k not in summary]
        if missing:
            raise ValueError(f"conformal[{method!r}] lacks {', '.join(missing)}; "
                             f"got keys {', '.join(map(str, summary))}")
        rows[str(method)] = {**shared, **summary}
    return rows


def _conformal_html(conformal: Mapping) -> str:
    body = []
    for method, row in _conformal_rows(conformal).items():
        alpha = row.get("alpha")
        alpha_text = "–" if alpha is None else significant(alpha, 2)
        target = "–" if alpha is None else format_percent(1.0 - float(alpha))
        qhat = row["qhat"]
        qhat_text = "∞ (every class)" if qhat is None or math.isinf(qhat) else significant(qhat)
        body.append(
            f'<tr data-method="{_e(method)}"><th scope="row">{_swatch(method)}</th>'
            f'<td>{_e(str(row.get("score", "–")).upper())}</td>'
            f'<td class="num">{_e(alpha_text)}</td><td class="num">{_e(target)}</td>'
            f'<td class="num">{_e(format_percent(row["coverage"]))}</td>'
            f'<td class="num">{_e(significant(row["mean_set_size"]))}</td>'
            f'<td class="num">{_e(qhat_text)}</td>'
            f'<td class="num">{int(row["n_cal"]):,}</td>'
            f'<td class="num">{int(row["n_test"]):,}</td></tr>')
    return (
        '<div class="table-wrap"><table class="plain" id="conformal-table"><thead><tr>'
        '<th scope="col">Method</th><th scope="col">Score</th><th scope="col" class="num">α</th>'
        '<th scope="col" class="num">Target coverage (1&#8239;−&#8239;α)</th>'
        '<th scope="col" class="num">Coverage reached</th>'
        '<th scope="col" class="num">Mean set size</th>'
        '<th scope="col" class="num">Score cut-off q̂</th>'
        '<th scope="col" class="num">Calibration cases</th>'
        '<th scope="col" class="num">Test cases</th></tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>'
    )


# -- unfamiliar inputs (out-of-distribution detection) ------------------------------------------
OOD_FIELDS = (("auroc", "AUROC"), ("aupr_in", "AUPR-in"), ("aupr_out", "AUPR-out"),
              ("fpr95", "FPR95"))


@dataclass(frozen=True, eq=False)
class OODReport:
    """What the "Unfamiliar inputs" section shows, taken from a ``Comparison`` (``ood_report``).

    Attributes:
        tables: OOD group -> ``(rows, best)`` as ``Comparison.ood_table`` returns them: one
            ``OODTableRow`` per method × available score (``Study.ood_detection``,
            ``Study.ood_auroc_ci``) and the index of the best AUROC (-1 for a single row).
        settings: method -> score -> its settings (``Study.ood_scores.settings``: KNN's k,
            ViM's dimension, GEN's γ and M …); probability scores have none.
        unavailable: method -> score -> why it cannot be computed
            (``Study.ood_scores.unavailable``: no logits, no features, no fit rows).
        n_fit: method -> fit rows the fitted scores were fitted on.
    """

    tables: dict[str, tuple[list[OODTableRow], int]]
    settings: dict[str, dict[str, dict]]
    unavailable: dict[str, dict[str, str]]
    n_fit: dict[str, int]

    @property
    def groups(self) -> list[str]:
        return list(self.tables)


def ood_report(comparison: Comparison) -> OODReport:
    """The OOD page's numbers for the report: ``Comparison.ood_table`` of every OOD group and
    each study's fitted scores' settings and reasons (nothing is recomputed here)."""
    studies = comparison.studies
    return OODReport(
        tables={g: comparison.ood_table(g) for g in comparison.ood_groups},
        settings={m: dict(s.ood_scores.settings) for m, s in studies.items()},
        unavailable={m: dict(s.ood_scores.unavailable) for m, s in studies.items()},
        n_fit={m: s.ood_scores.n_fit for m, s in studies.items()})


def _score_label(key: str) -> str:
    if key in UNCERTAINTY_SCORES:
        return UNCERTAINTY_SCORES[key].label
    return LOGIT_FEATURE_SCORES[key].label if key in LOGIT_FEATURE_SCORES else key


def _score_needs(key: str) -> str:
    return LOGIT_FEATURE_SCORES[key].needs if key in LOGIT_FEATURE_SCORES else "probabilities"


def _group_label(group: str) -> str:
    """``ood:uniform_noise`` -> ``Uniform noise``."""
    name = group.removeprefix(OOD_PREFIX).replace("_", " ").strip()
    return name[:1].upper() + name[1:] if name else group


def format_score_settings(key: str, settings: Mapping) -> str:
    """A score's settings as the report prints them beside it: ``k = 5 (bank of 4,000 fit
    rows)`` for KNN, ``dimension 64, α = 3.1 (head fitted by least squares)`` for ViM, ``γ =
    0.1, M = 10`` for GEN, ``T = 1`` for energy, ``10 classes, shared covariance`` for
    (relative) Mahalanobis; ``–`` for a score without settings."""
    s = dict(settings)
    if key == "knn" and "k" in s:
        bank = f" (bank of {int(s['bank_rows']):,} fit rows)" if "bank_rows" in s else ""
        return f"k = {int(s['k']):,}{bank}"
    if key == "vim" and "dim" in s:
        head = {"least_squares": " (head fitted by least squares)",
                "given": " (the network's head)"}.get(s.get("head"), "")
        alpha = f", α = {significant(s['alpha'])}" if "alpha" in s else ""
        return f"dimension {int(s['dim']):,}{alpha}{head}"
    if key == "gen" and "gamma" in s:
        return f"γ = {float(s['gamma']):g}, M = {int(s['top_m']):,}"
    if key == "energy" and "temperature" in s:
        return f"T = {float(s['temperature']):g}"
    if key in ("mahalanobis", "relative_mahalanobis") and "classes" in s:
        return f"{int(s['classes']):,} classes, {str(s.get('covariance', '')).split(' ')[0]} " \
               "covariance"
    if not s:
        return "–"
    return ", ".join(f"{k} = {significant(v) if isinstance(v, float) else v}"
                     for k, v in s.items())


def _number_cell(field: str, value: float) -> str:
    return (f'<td class="num" data-field="{field}" data-value="{float(value)!r}">'
            f"{_e(significant(value))}</td>")


def _ood_table_html(group: str, rows: list[OODTableRow], best: int, ood: OODReport,
                    index: int) -> str:
    body = []
    for i, r in enumerate(rows):
        res, (low, high) = r.result, r.auroc_ci
        star = (' <span class="star" title="best AUROC">★</span>' if i == best else "")
        settings = format_score_settings(r.score, ood.settings.get(r.method, {}).get(r.score,
                                                                                      {}))
        best_class = ' class="best"' if i == best else ""
        body.append(
            f'<tr data-method="{_e(r.method)}" data-score="{_e(r.score)}"{best_class}>'
            f'<th scope="row">{_swatch(r.method)}</th>'
            f"<td>{_e(_score_label(r.score))}</td><td>{_e(_score_needs(r.score))}</td>"
            f'<td data-field="settings">{_e(settings)}</td>'
            f'<td class="num" data-field="auroc" data-value="{float(res.auroc)!r}">'
            f"{_e(significant(res.auroc))}{star}</td>"
            f'<td class="num" data-field="auroc_ci" data-value="{float(low)!r} {float(high)!r}">'
            f"{_e(format_interval('auroc', low, high))}</td>"
            + "".join(_number_cell(f, getattr(res, f)) for f, _ in OOD_FIELDS[1:]) + "</tr>")
    n_out = rows[0].result.n_out if rows else 0
    heads = "".join(f'<th scope="col" class="num">{label}</th>' for _, label in OOD_FIELDS[1:])
    return (
        f'<h3>{_e(_group_label(group))} <span class="note">({n_out:,} cases)</span></h3>'
        f'<div class="table-wrap"><table class="plain ood" id="ood-table-{index}" '
        f'data-group="{_e(group)}"><thead><tr><th scope="col">Method</th>'
        '<th scope="col">Score</th><th scope="col">Needs</th><th scope="col">Settings</th>'
        '<th scope="col" class="num">AUROC</th><th scope="col" class="num">95% interval</th>'
        f"{heads}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _unavailable_line(ood: OODReport) -> str:
    """One line: the unavailable scores grouped by why and by the methods that lack them
    (no method named when every method does)."""
    lacking: dict[tuple[str, str], list[str]] = {}
    for method, missing in ood.unavailable.items():
        for key, why in missing.items():
            lacking.setdefault((key, why), []).append(method)
    if not lacking:
        return ""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (key, why), methods in lacking.items():
        groups.setdefault((why, tuple(methods)), []).append(_score_label(key))
    parts = []
    for (why, methods), labels in groups.items():
        who = ("" if len(methods) == len(ood.unavailable)
               else f" ({', '.join(method_label(m) for m in methods)})")
        parts.append(f"{', '.join(labels)}{who}: {why}")
    return ('<p class="note" id="ood-unavailable"><b>Not available:</b> '
            f"{_e('; '.join(parts))}.</p>")


def _ood_html(ood: OODReport) -> str:
    fit = sorted(set(ood.n_fit.values()))
    fitted = any(LOGIT_FEATURE_SCORES[k].fitted for s in ood.settings.values() for k in s)
    fit_text = (f" Scores from features are fitted on {', '.join(f'{n:,}' for n in fit)} "
                "labelled fit rows, never on the cases scored." if fitted else "")
    tables = "".join(_ood_table_html(g, *ood.tables[g], ood, i)
                     for i, g in enumerate(ood.groups))
    return (
        '<p class="note">Each score ranks cases by how unfamiliar they look (higher = more '
        "likely unfamiliar). <b>AUROC</b>: the chance that a random unfamiliar case scores "
        "higher than a random test case (0.5 is chance, 1 is perfect), with its 95% bootstrap "
        "interval; <b>AUPR-in / AUPR-out</b>: average precision of finding the test cases by a "
        "low score / the unfamiliar cases by a high score; <b>FPR95</b>: the share of "
        "unfamiliar cases let through when 95% of test cases are kept (lower is better). ★ "
        f"marks the best AUROC.{fit_text}</p>{tables}{_unavailable_line(ood)}")


HOW_TO_READ = """
<p>The model looks at each case (an image) and gives a probability to every possible answer.
This report asks two questions about those probabilities: <b>is the model right</b>, and
<b>does it know when it might be wrong</b>? A model that is sometimes wrong can still be
useful if its uncertain cases can be sent to a person.</p>
<ul>
<li><b>The metric table</b> gives each number with its <b>95% interval</b> in brackets: the
range the number would plausibly take on another sample of cases. When the intervals of two
methods overlap, the difference between them may be chance. The ★ marks the best method on
each row; the arrow says whether higher or lower is better.</li>
<li><b>Reliability diagrams</b> compare confidence with reality. Among the cases where the
model says “90% sure”, about 90% should be right: bars on the dashed diagonal are honest, bars
below it are over-confident.</li>
<li><b>The risk–coverage chart</b> shows what happens when the most uncertain cases are set
aside for a person: the line should fall quickly to the left, meaning the error rate on the
cases the model keeps drops as more uncertain cases are referred.</li>
<li><b>The referral policy</b> (when present) is the rule chosen in the dashboard: which cases
go to a person, and the accuracy to expect on the rest. <b>Conformal sets</b> (when present)
replace a single answer by a short list of answers that contains the truth with a chosen
probability, such as 90%.</li>
</ul>
<p>All numbers are measured on labelled test cases that the model did not train on.
Unfamiliar (out-of-distribution) cases are only used to test whether the model notices
them.</p>
"""

CSS = f"""
*,*::before,*::after{{box-sizing:border-box}}
html{{-webkit-text-size-adjust:100%}}
body{{margin:0;background:#F1F3F5;color:{TEXT_COLOR};
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}}
.report{{max-width:1160px;margin:0 auto;padding:32px 28px 48px;background:#FFFFFF;
min-height:100vh;box-shadow:0 0 0 1px {GRID_COLOR}}}
header.top{{border-bottom:3px solid {ACCENT};padding-bottom:14px;margin-bottom:8px}}
header.top .kicker{{text-transform:uppercase;letter-spacing:.08em;font-size:12px;
color:{ACCENT};font-weight:700}}
h1{{font-size:30px;line-height:1.2;margin:4px 0 6px}}
.meta{{color:{MUTED_COLOR};font-size:14px}}
.meta b{{color:{TEXT_COLOR};font-weight:600}}
nav.toc{{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13.5px;padding:10px 0 4px}}
nav.toc a{{color:{ACCENT};text-decoration:none}}
nav.toc a:hover{{text-decoration:underline}}
section{{margin-top:34px}}
h2{{font-size:21px;margin:0 0 10px;padding-bottom:6px;border-bottom:1px solid {GRID_COLOR}}}
h3{{font-size:16px;margin:22px 0 8px}}
p{{margin:8px 0}}
p.lead{{font-size:16px}}
.note{{color:{MUTED_COLOR};font-size:13.5px}}
.howto{{background:#F8F9FF;border:1px solid #DBE4FF;border-left:4px solid {ACCENT};
border-radius:8px;padding:6px 20px 8px}}
.howto ul{{padding-left:20px;margin:6px 0}}
.howto li{{margin:5px 0}}
.cards{{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:14px}}
.card{{border:1px solid {GRID_COLOR};border-radius:10px;padding:14px 16px;background:#FFFFFF;
box-shadow:0 1px 2px rgba(0,0,0,.04)}}
.card-title{{font-size:12.5px;text-transform:uppercase;letter-spacing:.05em;
color:{MUTED_COLOR};font-weight:600}}
.card-method{{font-size:18px;font-weight:700;margin:6px 0 2px}}
.card-value{{font-size:14px;font-variant-numeric:tabular-nums}}
.card-gloss{{font-size:13px;color:{MUTED_COLOR};margin-top:6px}}
.card-note{{font-size:12.5px;margin-top:6px;color:{TEXT_COLOR}}}
.swatch{{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:7px;
vertical-align:baseline;box-shadow:0 0 0 1px rgba(0,0,0,.12)}}
.table-wrap{{overflow-x:auto;margin:8px 0}}
table{{border-collapse:collapse;width:100%;font-size:14px}}
th,td{{padding:8px 10px;border-bottom:1px solid {GRID_COLOR};text-align:left;
vertical-align:top}}
thead th{{background:#F8F9FA;font-weight:600;border-bottom:2px solid #DEE2E6;
vertical-align:bottom}}
table.metrics thead th{{min-width:120px}}
thead .who{{display:inline-flex;align-items:baseline}}
thead .who .swatch{{flex:none}}
thead .n{{display:block;font-weight:400;font-size:12px;color:{MUTED_COLOR}}}
tbody tr:nth-child(even){{background:#FCFCFD}}
th.num{{text-align:right}}
td.num{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
table.metrics th.metric{{white-space:nowrap;font-weight:600}}
table.metrics .dir{{display:block;font-weight:400;font-size:12px;color:{MUTED_COLOR}}}
table.metrics td.cell{{font-variant-numeric:tabular-nums;white-space:nowrap}}
table.metrics td.cell .v{{font-weight:600;font-size:15px}}
table.metrics td.cell .ci{{display:block;font-size:12px;color:{MUTED_COLOR}}}
table.metrics td.best{{background:#EDF2FF}}
table.metrics .star{{color:{ACCENT}}}
table.ood tr.best td{{background:#EDF2FF}}
table.ood .star{{color:{ACCENT}}}
table.ood td[data-field="settings"]{{font-size:13px;color:#495057}}
table.metrics td.meaning{{font-size:13px;color:#495057;min-width:200px;width:38%}}
tbody th{{white-space:nowrap}}
table.fields{{max-width:820px}}
table.fields th{{width:45%;font-weight:500;color:#495057;white-space:normal}}
.callout{{background:#F8F9FF;border:1px solid #DBE4FF;border-left:4px solid {ACCENT};
border-radius:8px;padding:10px 18px}}
.figure{{margin:12px 0;border:1px solid {GRID_COLOR};border-radius:10px;padding:10px 10px 6px;
background:#FFFFFF;min-width:0}}
.figure figcaption{{font-size:13.5px;color:#495057;padding:4px 6px 6px}}
.figure-grid{{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:14px}}
.figure-grid .figure{{margin:0}}
footer{{margin-top:40px;padding-top:12px;border-top:1px solid {GRID_COLOR};font-size:12.5px;
color:{MUTED_COLOR}}}
@media (max-width:720px){{.report{{padding:18px 12px}}
.figure-grid{{grid-template-columns:1fr}}}}
@media print{{body{{background:#FFFFFF}}.report{{box-shadow:none;max-width:none;padding:0}}
nav.toc{{display:none}}.figure,.card,table{{break-inside:avoid}}section{{break-inside:auto}}
.modebar{{display:none!important}}}}
"""


# -- the report --------------------------------------------------------------------------------
def build_report(
    predictions: Mapping[str, RowSet],
    *,
    dataset_name: str,
    dataset_description: str,
    policy: dict | None = None,
    conformal: dict | None = None,
    n_resamples: int = 1000,
    title: str = "uqviz report",
    generated: str | None = None,
    seed: int = 0,
    table: MetricTable | None = None,
    ood: OODReport | None = None,
) -> str:
    """One self-contained HTML document comparing methods, for readers who are not experts.

    Contents: title, date and dataset; key findings; how to read the report; the methods
    compared; the metric table (``metric_table``: value and 95% bootstrap interval per cell,
    ★ on the best method per metric, each metric's one-line meaning); the reliability overlay
    and one reliability diagram per method; the risk–coverage curves; the unfamiliar inputs
    (``ood``: every score × method per OOD group) when given and holding an OOD group; the
    referral policy and the conformal summary when given. Plotly's JavaScript is inlined
    once; nothing is fetched from the network when the file is opened.

    Args:
        predictions: method name -> its row set (``RowSet``: its ``scored`` rows are
            measured, its ``ood`` rows give the OOD AUROC).
        dataset_name: shown in the title block.
        dataset_description: plain text (paragraphs separated by blank lines), escaped.
        policy: a referral policy, e.g. ``uqviz.policy.policy_document(...)``; shown as a
            sentence and a table of its fields.
        conformal: method -> ``uqviz.conformal.conformal_summary(...)`` dict, plus optional
            ``alpha`` and ``score`` keys; or the command line's ``{"alpha", "score",
            "methods": {...}}``.
        n_resamples: bootstrap resamples per interval.
        title: the document title.
        generated: the date text to print; default: now, ``YYYY-MM-DD HH:MM``.
        seed: bootstrap seed.
        table: the metric table of these predictions when the caller has it already (the
            dashboard's Compare page): reused instead of rerunning the bootstrap; it must
            score the same rows (``comparison_report`` passes both from one ``Comparison``).
        ood: the OOD page's detection tables, settings and unavailable scores
            (``ood_report`` of the same ``Comparison``; ``comparison_report`` passes it).

    Returns:
        The HTML document as a string (about 5 MB, mostly Plotly's JavaScript).

    Raises:
        ValueError: when there is no method, a method has no labelled in-distribution row,
            ``table`` scores other methods or rows, or ``policy``/``conformal`` are not shaped
            as described.

    References:
        Efron & Tibshirani, "An Introduction to the Bootstrap", 1993 (intervals); Guo et al.,
        ICML 2017 (reliability); Geifman & El-Yaniv, NeurIPS 2017 (risk–coverage); Angelopoulos
        & Bates, "A Gentle Introduction to Conformal Prediction", 2021.
    """
    rows = _scored_rows(predictions)
    policy_section = _policy_html(policy) if policy is not None else ""
    conformal_section = _conformal_html(conformal) if conformal is not None else ""
    if table is None:
        table = metric_table(dict(predictions), n_resamples=n_resamples, seed=seed)
    else:
        _check_table(table, rows)
    figures = report_figures(predictions)
    when = generated if generated is not None else datetime.now().strftime("%Y-%m-%d %H:%M")
    methods_text = ", ".join(method_label(m) for m in predictions)

    overlay = _figure_html(
        figures["reliability_overlay"], "report-fig-0",
        "One line per method: each point is a group of cases with similar confidence. "
        "Points on the dashed diagonal are honest; points below it mean the method is more "
        "confident than it is right. The legend gives each method's ECE (lower is better).")
    per_method = []
    for k, name in enumerate(predictions, start=1):
        per_method.append(_figure_html(
            figures[f"reliability:{name}"], f"report-fig-{k}",
            f"{_e(method_label(name))}: bars are the accuracy in each confidence range; the "
            "hatched part is the gap to the confidence (over-confidence when above the bar). "
            "The grey bars below count the cases in each range."))
    risk = _figure_html(
        figures["risk_coverage"], f"report-fig-{len(predictions) + 1}",
        "Read from right to left: at 100% coverage every case is kept; moving left, the most "
        "uncertain cases are set aside. A line that drops fast means the method's uncertainty "
        "points at its own mistakes. AURC in the legend: lower is better.")

    nav_items = [("summary", "Key findings"), ("how-to-read", "How to read this report"),
                 ("dataset", "Dataset"), ("metrics", "Metrics"),
                 ("calibration", "Reliability"), ("selective", "Risk–coverage")]
    show_ood = ood is not None and bool(ood.groups)
    if show_ood:
        nav_items.append(("ood", "Unfamiliar inputs"))
    if policy is not None:
        nav_items.append(("referral", "Referral policy"))
    if conformal is not None:
        nav_items.append(("conformal", "Conformal sets"))
    nav = "".join(f'<a href="#{anchor}">{_e(text)}</a>' for anchor, text in nav_items)

    sections = [
        f'<section id="summary"><h2>Key findings</h2>{_summary_html(table)}</section>',
        f'<section id="how-to-read"><h2>How to read this report</h2>'
        f'<div class="howto">{HOW_TO_READ}</div></section>',
        f'<section id="dataset"><h2>Dataset: {_e(dataset_name)}</h2>'
        f"{_paragraphs(dataset_description)}<h3>Methods compared</h3>"
        f"{_methods_html(predictions, rows)}</section>",
        '<section id="metrics"><h2>Metrics</h2>'
        f'<p class="note">Each cell: the value, then its 95% bootstrap interval '
        f"({n_resamples:,} resamples); under each method, the number of cases it is measured "
        "on. ★ marks the best method on each row.</p>"
        f"{_metric_table_html(table, rows)}</section>",
        f'<section id="calibration"><h2>Reliability: is the confidence honest?</h2>{overlay}'
        f'<div class="figure-grid">{"".join(per_method)}</div></section>',
        f'<section id="selective"><h2>Risk–coverage: setting uncertain cases aside</h2>'
        f"{risk}</section>",
    ]
    if show_ood:
        sections.append('<section id="ood"><h2>Unfamiliar inputs: does the model notice '
                        f"them?</h2>{_ood_html(ood)}</section>")
    if policy is not None:
        sections.append('<section id="referral"><h2>Referral policy</h2>'
                        f"{policy_section}</section>")
    if conformal is not None:
        sections.append(
            '<section id="conformal"><h2>Conformal prediction sets</h2>'
            '<p class="note">Instead of one answer, each case gets the set of classes whose '
            "score is below q̂. The coverage reached should be close to the target 1 − α; a "
            "smaller mean set size is more informative.</p>"
            f"{conformal_section}</section>")

    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="uqviz {_e(uqviz.__version__)}">',
        f"<title>{_e(title)} · {_e(dataset_name)}</title>",
        f"<style>{CSS}</style>",
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        '</head><body><main class="report">',
        '<header class="top"><div class="kicker">Uncertainty report</div>',
        f"<h1>{_e(title)}</h1>",
        f'<div class="meta">Dataset <b>{_e(dataset_name)}</b> · Methods <b>'
        f"{_e(methods_text)}</b> · Generated <b>{_e(when)}</b></div>",
        f'<nav class="toc">{nav}</nav></header>',
        *sections,
        f"<footer>Made with uqviz {_e(uqviz.__version__)}. This file is self-contained: the "
        f"charts' code (Plotly.js {_e(plotly.offline.get_plotlyjs_version())}) is inside it, "
        "so it opens without a network connection. Hover over a chart for exact values.</footer>",
        "</main></body></html>\n",
    ])


def comparison_report(comparison: Comparison, **kwargs) -> str:
    """``build_report`` of a ``Comparison``: the rows each ``Study`` scores on its stream
    (``Study.scored``, the rows the dashboard's pages count) for the figures and the cases
    scored, the comparison's metric table on those rows (not recomputed) and the number of
    bootstrap resamples it was computed with, and its OOD detection tables (``ood_report``:
    the Out-of-distribution page's numbers).

    Args:
        comparison: the studies of the methods to report, on one source and stream.
        **kwargs: the other arguments of ``build_report`` (``dataset_name``,
            ``dataset_description``, ``policy``, ``conformal``, ``title``, ``generated``).
    """
    return build_report({m: s.table_rows for m, s in comparison.studies.items()},
                        table=comparison.metric_table(), ood=ood_report(comparison),
                        n_resamples=bootstrap_resamples(comparison.n), **kwargs)


def write_report(path: str | Path, html: str) -> Path:
    """Write the report to ``path`` as UTF-8, atomically (temporary file, then rename).

    Returns:
        The path written.
    """
    if not isinstance(html, str):
        raise ValueError(f"html must be a str, got {type(html).__name__}")

    def write(tmp: Path) -> None:
        tmp.write_text(html, encoding="utf-8")

    return atomic_write(Path(path), write)
