"""The stakeholder HTML report: numbers equal the core's, self-contained, renders offline in a
real browser (Debian's chromium, network blocked). Screenshot: artifacts/screenshots/report.png."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import plotly.offline
import pytest
from sklearn.metrics import roc_auc_score

from tests.browser import (
    ARTIFACTS,
    block_network,
    chromium_missing_reason,
    next_frames,
    wait_until,
)
from uqviz.conformal import conformal_summary
from uqviz.metrics.scores import uncertainty
from uqviz.metrics.selective import ReferralIndex
from uqviz.metrics.summary import METRIC_INFO, metric_table
from uqviz.plots.report import (
    build_report,
    comparison_report,
    format_interval,
    format_metric,
    format_percent,
    format_policy_value,
    report_figures,
    significant,
    write_report,
)
from uqviz.plots.theme import method_label
from uqviz.policy import operating_point, policy_document
from uqviz.predictions import Predictions
from uqviz.rows import RowSet
from uqviz.stream import DEMO_MIX
from uqviz.study import Comparison, Study, bootstrap_resamples

N_IN, N_OOD, C = 240, 40, 4

def row_sets(predictions: dict) -> dict:
    return {m: RowSet(p) for m, p in predictions.items()}

RESAMPLES = 200
METHODS = ("softmax", "deep_ensemble")


def _synthetic(rng: np.random.Generator, samples: int, sharpness: float) -> Predictions:
    """Dirichlet probabilities leaning to the true class on ~80% of rows; OOD rows flat."""
    labels = rng.integers(0, C, N_IN)
    alpha = np.ones((samples, N_IN, C))
    hit = rng.random(N_IN) < 0.8
    target = np.where(hit, labels, (labels + 1) % C)
    alpha[:, np.arange(N_IN), target] += sharpness
    probs_in = _dirichlet(rng, alpha)
    probs_ood = _dirichlet(rng, np.full((samples, N_OOD, C), 1.5))
    probs = np.concatenate([probs_in, probs_ood], axis=1).astype(np.float32)
    probs /= probs.sum(axis=2, keepdims=True)
    return Predictions(
        probs=probs,
        labels=np.concatenate([labels, np.full(N_OOD, -1)]),
        group=np.array(["test"] * N_IN + ["ood:noise"] * N_OOD, dtype=object),
    )


def _dirichlet(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    g = rng.gamma(alpha)
    return g / g.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def predictions() -> dict[str, Predictions]:
    rng = np.random.default_rng(7)
    return {
        "softmax": _synthetic(rng, samples=1, sharpness=6.0).with_method("softmax"),
        "deep_ensemble": _synthetic(rng, samples=3, sharpness=3.0).with_method("deep_ensemble"),
    }


@pytest.fixture(scope="module")
def policy(predictions) -> dict:
    rows = predictions["deep_ensemble"].labelled_in_distribution()
    probs = rows.mean_probs
    index = ReferralIndex.from_scores(uncertainty(rows.probs, "entropy"),
                                      probs.argmax(axis=1) == rows.labels)
    point = operating_point(index, "budget", 0.2)
    return policy_document(dataset="synthetic", method="deep_ensemble", score="entropy",
                           mode="budget", point=point, when="2026-01-02")


@pytest.fixture(scope="module")
def conformal(predictions) -> dict:
    return {name: {"alpha": 0.1, "score": "aps",
                   **conformal_summary(p, alpha=0.1, score="aps", seed=1)}
            for name, p in predictions.items()}


@pytest.fixture(scope="module")
def report(predictions, policy, conformal) -> str:
    return build_report(row_sets(predictions), dataset_name="Synthetic <4 classes>",
                        dataset_description="Dirichlet probabilities & a few noise images.\n\n"
                                            "Second paragraph.",
                        policy=policy, conformal=conformal, n_resamples=RESAMPLES,
                        title="Quarterly model review", generated="2026-01-02 09:30")


class _Cells(HTMLParser):
    """Text of every element carrying ``data-metric``/``data-method`` or ``data-field``."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict] = {}
        self.rows: dict[str, str] = {}
        self._open: list[tuple[str, tuple, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-metric" in a:
            self._open.append((tag, ("cell", a["data-method"], a["data-metric"],
                                     "best" in a.get("class", "")), []))
        elif tag == "tr" and ("data-field" in a or "data-method" in a):
            self._open.append((tag, ("row", a.get("data-field") or a["data-method"]), []))

    def handle_data(self, data):
        for _, _, texts in self._open:
            texts.append(data)

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            _, key, texts = self._open.pop()
            text = " ".join("".join(texts).split())
            if key[0] == "cell":
                self.cells[(key[1], key[2])] = {"text": text, "best": key[3]}
            else:
                self.rows[key[1]] = text


def _parse(report: str) -> _Cells:
    parser = _Cells()
    parser.feed(report)
    return parser


# -- number formatting -------------------------------------------------------------------------
def test_numbers_keep_three_significant_figures():
    assert significant(0.000312) == "0.000312"
    assert significant(0.046) == "0.0460"
    assert significant(0.09996) == "0.100"
    assert significant(1.2734) == "1.27"
    assert significant(0.5) == "0.500"
    assert significant(1234.4) == "1234"
    assert significant(-0.01234) == "-0.0123"
    assert significant(0.0) == "0"
    assert significant(float("nan")) == "–"
    assert format_percent(0.98912) == "98.9%"
    assert format_percent(1.0) == "100%"
    assert format_metric("accuracy", 0.875) == "87.5%"
    assert format_metric("aurc", 0.0003124) == "0.000312"
    assert format_interval("aurc", 0.00025, 0.0004012) == "[0.000250, 0.000401]"
    assert format_interval("ece", float("nan"), 0.1) == ""
    assert format_policy_value("expected_referral_rate", 0.2) == "20.0%"
    assert format_policy_value("threshold", 0.123456) == "0.1235"
    assert format_policy_value("target_reached", True) == "yes"
    assert format_policy_value("n_test_cases", 12345) == "12,345"
    assert format_policy_value("expected_cost_per_case", None) == "–"


# -- contents ----------------------------------------------------------------------------------
def test_metric_cells_equal_the_core_table(report, predictions):
    table = metric_table(row_sets(predictions), n_resamples=RESAMPLES, seed=0)
    assert "ood_auroc" in table.metrics
    cells = _parse(report).cells
    assert len(cells) == len(table.methods) * len(table.metrics)
    for i, method in enumerate(table.methods):
        for j, metric in enumerate(table.metrics):
            text = cells[(method, metric)]["text"]
            assert text.startswith(format_metric(metric, table.value[i, j])), (method, metric)
            assert format_interval(metric, table.lower[i, j], table.upper[i, j]) in text
    for j, metric in enumerate(table.metrics):
        marked = [m for m in table.methods if cells[(m, metric)]["best"]]
        best = table.value[table.methods.index(table.best(metric)), j]
        assert marked == [m for i, m in enumerate(table.methods) if table.value[i, j] == best]
        assert all("★" in cells[(m, metric)]["text"] for m in marked)
        assert not any("★" in cells[(m, metric)]["text"] for m in table.methods
                       if m not in marked)


def test_metric_cells_match_hand_and_sklearn_values(report, predictions):
    cells = _parse(report).cells
    for name, p in predictions.items():
        rows = p.labelled_in_distribution()
        accuracy = float((rows.mean_probs.argmax(axis=1) == rows.labels).mean())
        assert cells[(name, "accuracy")]["text"].startswith(format_percent(accuracy))
        entropy_in = uncertainty(rows.probs, "entropy")
        entropy_out = uncertainty(p.ood_rows().probs, "entropy")
        auroc = roc_auc_score(np.r_[np.zeros(entropy_in.size), np.ones(entropy_out.size)],
                              np.r_[entropy_in, entropy_out])
        assert cells[(name, "ood_auroc")]["text"].startswith(significant(auroc))
    best_accuracy = max(predictions, key=lambda m: float(
        (predictions[m].labelled_in_distribution().mean_probs.argmax(axis=1)
         == predictions[m].labelled_in_distribution().labels).mean()))
    assert cells[(best_accuracy, "accuracy")]["best"]


def test_report_explains_every_metric_and_shows_the_context(report):
    for info in METRIC_INFO.values():
        if info.key == "classwise_ece":
            continue  # not a column of the table
        assert html.escape(info.meaning) in report, info.key
    assert "Quarterly model review" in report
    assert "2026-01-02 09:30" in report
    assert "Synthetic &lt;4 classes&gt;" in report and "<4 classes>" not in report
    assert "<p>Dirichlet probabilities &amp; a few noise images.</p><p>Second paragraph.</p>" \
        in report
    assert "How to read this report" in report
    assert "Deep ensemble" in report and "Softmax" in report


def test_policy_fields_are_shown(report, policy):
    rows = _parse(report).rows
    for key, value in policy.items():
        assert key in rows, key
        assert format_policy_value(key, value) in rows[key], key
    assert rows["expected_referral_rate"].endswith(format_percent(policy["expected_referral_rate"]))
    assert "Refer a case to a human when its <b>entropy</b> uncertainty is above" in report


def test_conformal_fields_are_shown(report, conformal):
    rows = _parse(report).rows
    for method, summary in conformal.items():
        text = rows[method]
        assert "APS" in text and "0.10" in text and "90.0%" in text
        for piece in (format_percent(summary["coverage"]), significant(summary["mean_set_size"]),
                      significant(summary["qhat"]), f"{summary['n_cal']:,}",
                      f"{summary['n_test']:,}"):
            assert piece in text, (method, piece)
        assert summary["n_cal"] + summary["n_test"] == N_IN


def test_equal_methods_tie_on_every_metric(predictions):
    same = predictions["softmax"]
    text = build_report(row_sets({"softmax": same, "copy": same.with_method("copy")}),
                        dataset_name="d", dataset_description="x", n_resamples=20)
    cells = _parse(text).cells
    assert cells and all(cell["best"] for cell in cells.values())
    assert text.count("A tie: these methods have the same value.") == 4


def test_optional_sections_are_left_out(predictions):
    text = build_report(row_sets(predictions), dataset_name="d", dataset_description="x",
                        n_resamples=20)
    assert 'id="referral"' not in text and 'id="conformal"' not in text
    assert 'href="#referral"' not in text


def test_cli_shaped_conformal_and_bad_inputs(predictions, conformal):
    cli = {"alpha": 0.2, "score": "lac",
           "methods": {m: {k: v for k, v in s.items() if k not in ("alpha", "score")}
                       for m, s in conformal.items()}}
    text = build_report(row_sets({"softmax": predictions["softmax"]}), dataset_name="d",
                        dataset_description="x", conformal=cli, n_resamples=20)
    rows = _parse(text).rows
    assert "LAC" in rows["softmax"] and "80.0%" in rows["softmax"]
    with pytest.raises(ValueError, match="at least one method"):
        build_report({}, dataset_name="d", dataset_description="x")
    with pytest.raises(ValueError, match="lacks qhat"):
        build_report(row_sets(predictions), dataset_name="d", dataset_description="x",
                     n_resamples=20,
                     conformal={"softmax": {"coverage": 0.9, "mean_set_size": 1.2, "n_cal": 1,
                                            "n_test": 1}})
    with pytest.raises(ValueError, match="no labelled in-distribution rows"):
        only_ood = predictions["softmax"].ood_rows()
        build_report(row_sets({"x": only_ood}), dataset_name="d", dataset_description="x")


def test_figures_are_drawn_on_the_scored_rows(predictions):
    figures = report_figures(row_sets(predictions))
    assert list(figures) == ["reliability_overlay", "reliability:softmax",
                             "reliability:deep_ensemble", "risk_coverage"]
    table = metric_table(row_sets(predictions), n_resamples=20)
    j = table.metrics.index("aurc")
    names = [t.name for t in figures["risk_coverage"].data]
    assert names == [f"{method_label(m)} · AURC {table.value[i, j]:.4f}"
                     for i, m in enumerate(table.methods)]
    assert all(len(t.x) == N_IN for t in figures["risk_coverage"].data)


# -- the same rows as the page, on a mixed stream ----------------------------------------------
def _with_shift_and_ood(rng: np.random.Generator, samples: int, sharpness: float) -> Predictions:
    """N_IN clean test rows, a corrupted copy of them in DEMO_MIX's shift group (blurrier
    probabilities) and 3 × N_OOD rows of its OOD group: every group the demo stream draws."""
    labels = rng.integers(0, C, N_IN)

    def rows(strength: float) -> np.ndarray:
        alpha = np.ones((samples, N_IN, C))
        hit = rng.random(N_IN) < 0.8
        alpha[:, np.arange(N_IN), np.where(hit, labels, (labels + 1) % C)] += strength
        return _dirichlet(rng, alpha)

    probs = np.concatenate([rows(sharpness), rows(sharpness / 3),
                            _dirichlet(rng, np.full((samples, 3 * N_OOD, C), 1.5))], axis=1)
    probs = probs.astype(np.float32)
    probs /= probs.sum(axis=2, keepdims=True)
    return Predictions(
        probs=probs, labels=np.concatenate([labels, labels, np.full(3 * N_OOD, -1)]),
        group=np.array(["test"] * N_IN + [DEMO_MIX.shift] * N_IN + [DEMO_MIX.ood] * (3 * N_OOD),
                       dtype=object))


@pytest.fixture(scope="module")
def mixed() -> Comparison:
    """Two methods' studies on the dashboard's default stream (DEMO_MIX)."""
    rng = np.random.default_rng(3)
    return Comparison({
        name: Study(_with_shift_and_ood(rng, samples, sharpness).with_method(name), DEMO_MIX)
        for name, samples, sharpness in (("softmax", 1, 6.0), ("deep_ensemble", 3, 3.0))})


def _array(value) -> np.ndarray:
    """A trace array as Plotly writes it into HTML: a list, or base64 with a dtype."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return array.reshape([int(k) for k in shape.split(",")]) if shape else array
    return np.asarray(value)


def _drawn(report: str) -> dict[str, list[dict]]:
    """The traces of every figure of the report, by the figure's div id, read from the HTML."""
    decoder = json.JSONDecoder()
    figures = {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', report):
        figures[match.group(1)], _ = decoder.raw_decode(report, match.end())
    return figures


def test_report_on_a_mixed_stream_counts_the_rows_the_page_counts(mixed):
    """The default stream mixes clean, shifted and OOD cases; the Compare page counts each
    study's labelled rows of it (``Study.rows``). The report's table, its "cases scored", its
    charts and its conformal summary count exactly those rows, never the clean test rows."""
    studies = mixed.studies
    n = {m: s.n for m, s in studies.items()}
    for s in studies.values():
        assert s.stream.n == N_IN and 0 < s.n < N_IN  # OOD rows are not scored
        assert set(s.origin) == {"test", DEMO_MIX.shift, DEMO_MIX.ood}
        assert s.predictions.labelled_in_distribution().n == N_IN  # what the report once drew
    conformal = {"alpha": 0.1, "score": "lac", "methods": {
        m: s.conformal(alpha=0.1, score="lac").summary() for m, s in studies.items()}}
    report = comparison_report(mixed, dataset_name="d", dataset_description="x",
                               conformal=conformal, generated="2026-01-02")

    # the metric table: the cases under each method, its numbers those of the page's rows
    shown_n = re.findall(r'<th scope="col" data-n="(\d+)"><span class="who">.*?'
                         r"<span>([^<]+)</span>", report)
    assert [(label, int(k)) for k, label in shown_n] == [
        (method_label(m), k) for m, k in n.items()]
    assert {int(k) for k in re.findall(r'data-n="(\d+)"', report)} == set(n.values())
    cells = _parse(report).cells
    table = mixed.metric_table()
    for i, (m, s) in enumerate(studies.items()):
        assert cells[(m, "accuracy")]["text"].startswith(format_percent(s.correct.mean()))
        j = table.metrics.index("ece")
        assert cells[(m, "ece")]["text"].startswith(significant(table.value[i, j]))
    assert f"({bootstrap_resamples(mixed.n):,} resamples)" in report

    # "cases scored" and the OOD cases of the stream
    methods_table = report[report.index('id="methods-table"'):]
    methods_table = methods_table[:methods_table.index("</table>")]
    for m, s in studies.items():
        row = methods_table[methods_table.index(f"<span>{method_label(m)}</span>"):]
        numbers = re.findall(r'<td class="num">([\d,]+)</td>', row)[:2]
        assert [int(k.replace(",", "")) for k in numbers] == [n[m], int(s.stream.is_ood.sum())]

    # the charts, as drawn in the HTML: bins count the page's rows, one curve point per row
    drawn = _drawn(report)
    overlay = drawn["report-fig-0"]
    for k, (m, s) in enumerate(studies.items(), start=1):
        line = next(t for t in overlay if t["name"].startswith(method_label(m)))
        assert _array(line["customdata"])[:, 2].sum() == n[m]
        counts = next(t for t in drawn[f"report-fig-{k}"] if t["name"] == "Rows in bin")
        assert _array(counts["y"]).sum() == n[m] == s.reliability.count.sum()
    curves = drawn[f"report-fig-{len(studies) + 1}"]
    assert [len(_array(t["x"])) for t in curves] == list(n.values())

    # the conformal sets split the same rows
    rows = _parse(report).rows
    for m, summary in conformal["methods"].items():
        assert summary["n_cal"] + summary["n_test"] == n[m]
        assert f"{summary['n_test']:,}" in rows[m]


def test_a_table_of_other_rows_is_refused(mixed):
    """The bug this guards: every row's predictions with the stream's table."""
    with pytest.raises(ValueError, match="computed on other rows"):
        build_report({m: s.all_rows for m, s in mixed.studies.items()},
                     dataset_name="d", dataset_description="x", table=mixed.metric_table())
    with pytest.raises(ValueError, match="methods"):
        build_report({"softmax": mixed.studies["softmax"].table_rows},
                     dataset_name="d", dataset_description="x", table=mixed.metric_table())


# -- self-contained ----------------------------------------------------------------------------
def test_plotly_is_inlined_once_and_nothing_is_fetched(report):
    plotly_js = plotly.offline.get_plotlyjs()
    assert report.count(plotly_js) == 1
    assert report.index(plotly_js) < report.index("</head>")
    rest = report.replace(plotly_js, "")
    assert not re.search(r"<script[^>]*\bsrc\s*=", report, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=", report, re.I)
    assert not re.search(r"@import|url\(", rest, re.I)
    assert not re.search(r"\bsrc\s*=", rest, re.I)
    assert not re.search(r"https?://", rest), re.search(r".{60}https?://.{60}", rest)
    # one script for plotly.js, one per figure
    assert len(re.findall(r"<script\b", rest)) == 1 + 4
    assert rest.count('class="plotly-graph-div"') == 4


def test_write_report_is_atomic(tmp_path):
    path = write_report(tmp_path / "sub" / "r.html", "<!DOCTYPE html><p>é</p>")
    assert path.read_text(encoding="utf-8") == "<!DOCTYPE html><p>é</p>"
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]
    with pytest.raises(ValueError, match="must be a str"):
        write_report(tmp_path / "x.html", b"bytes")


def test_report_module_does_not_import_streamlit():
    code = ("import sys, uqviz.plots.report; "
            "assert 'streamlit' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- a real browser, offline -------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or "")
def test_report_renders_offline_in_chromium(report, tmp_path, browser):
    path = write_report(tmp_path / "report.html", report)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        blocked = block_network(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function(
            "() => document.querySelectorAll('.plotly-graph-div').length > 0 && "
            "[...document.querySelectorAll('.plotly-graph-div')]"
            ".every(d => d.querySelector('.main-svg'))", timeout=20000)
        rendered = page.locator(".js-plotly-plot").count()
        with_svg = page.evaluate(
            "() => [...document.querySelectorAll('.js-plotly-plot')]"
            ".filter(d => d.querySelector('.main-svg .cartesianlayer .trace')).length")
        titles = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                               ".map(e => e.textContent)")
        height = page.evaluate("() => document.documentElement.scrollHeight")
        page.set_viewport_size({"width": 1280, "height": int(height)})
        wait_until(lambda: page.evaluate("() => window.innerHeight") == int(height),
                   timeout=30, what="the window to take the report's height")
        next_frames(page)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    finally:
        context.close()
    assert errors == []
    assert blocked == []
    assert rendered == with_svg == 4
    assert any("Reliability" in t for t in titles)
    assert any("Risk–coverage" in t for t in titles)
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000
