"""The words and figures the Story, Dataset shift and Embedding map pages take from
``uqviz.ui`` (``uqviz.ui.story``, ``uqviz.ui.shift_backend``, ``uqviz.ui.embedding_backend``):
hand-worked sentences, and a rate's axis kept inside [0, 1]. Small synthetic inputs, no
AppTest (the pages themselves run in tests/test_app_story.py, test_app_shift.py and
test_app_embedding.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest


def test_story_numbers_in_words():
    from uqviz.ui.story import ci, gap_text, pct, separation_comparison

    assert pct(0.1234) == "12.3%"
    assert pct(0.5, digits=0) == "50%"
    assert ci((0.114, 0.101, 0.128)) == "11.4% (95% CI 10.1%–12.8%)"
    assert gap_text((0.058, 0.031, 0.082)) == \
        "5.8 fewer per 100 (paired 95% CI +3.1 to +8.2 points)."
    assert gap_text((-0.01, -0.03, 0.01)) == ("1.0 more per 100 (paired 95% CI -3.0 to +1.0 "
                                              "points, an interval that includes no difference).")
    assert separation_comparison((0.05, 0.01, 0.09)) == "better than"
    assert separation_comparison((-0.05, -0.09, -0.01)) == "worse than"
    assert separation_comparison((0.01, -0.02, 0.04)) == "about as well as"


def test_story_first_steps_word_the_story_and_name_their_charts():
    from uqviz.ui.story import clean_step, confidently_wrong_step, drift_step, story_caption

    s = SimpleNamespace(
        baseline="softmax", better="deep_ensemble", n_clean=500, n_stream=1000,
        mix="clean 80%, noise 20%",
        clean_accuracy={"softmax": (0.95, 0.93, 0.97), "deep_ensemble": (0.96, 0.94, 0.98)},
        confidently_wrong={"softmax": (0.114, 0.1, 0.13), "deep_ensemble": (0.056, 0.04, 0.07)},
        fewer_confidently_wrong=(0.058, 0.031, 0.082), drift=None)
    assert story_caption("Digits", s) == ("Digits · incoming stream of 1,000 cases: clean 80%, "
                                          "noise 20%. Every number below is computed from the "
                                          "data shown.")
    first = clean_step(s)
    assert first.heading == "1 · On clean test images, Softmax is right 95.0% of the time"
    assert first.text == ("Accuracy on 500 clean test images: Softmax 95.0% (95% CI "
                          "93.0%–97.0%); every method is close.")
    assert (first.chart_key, first.link_page) == ("story_clean", "pages/compare.py")
    second = confidently_wrong_step(s)
    assert second.heading.endswith("Softmax is confidently wrong on 11.4% of the cases")
    assert "Deep ensemble is confidently wrong on 5.8 fewer per 100" in second.text
    assert second.figure.layout.xaxis.title.text == \
        "Share of the stream wrong with ≥ 90% confidence"
    assert drift_step(s) is None


def test_shift_words():
    from uqviz.ui.shift_backend import (
        SEVERITY_CURVES,
        corruption_caption,
        corruption_label,
        severity_boxes_caption,
    )

    assert corruption_label("gaussian_noise") == "Gaussian noise"
    assert corruption_label("my_blur") == "my_blur"  # a predictions file's own name
    assert corruption_caption("my_blur") is None
    assert corruption_caption("gaussian_noise").startswith("**Gaussian noise** — ")
    assert list(SEVERITY_CURVES) == ["accuracy", "ece", "nll", "mean_uncertainty",
                                     "auroc_wrong_vs_right"]
    assert {k for k, c in SEVERITY_CURVES.items() if c.rate} == {"accuracy", "ece",
                                                                  "auroc_wrong_vs_right"}
    table = pd.DataFrame({"corruption": ["a", "b", "a"], "method": ["m"] * 3})
    assert "over the 2 corruptions" in severity_boxes_caption(table, "ece")


@pytest.mark.parametrize("column", ["accuracy", "ece", "auroc_wrong_vs_right"])
def test_a_rate_against_severity_keeps_its_axis_inside_0_1(column):
    from uqviz.ui.shift_backend import severity_curve_figure

    severities = np.arange(6)
    table = pd.DataFrame({"method": ["softmax"] * 6 + ["deep_ensemble"] * 6,
                          "severity": np.concatenate([severities, severities]),
                          column: np.r_[np.linspace(0.99, 0.2, 6), np.linspace(0.98, 0.4, 6)]})
    fig = severity_curve_figure(table, column, ["softmax", "deep_ensemble"])
    low, high = fig.layout.yaxis.range
    assert 0 <= low < 0.2 and 0.99 < high <= 1
    assert fig.layout.showlegend is (column == "accuracy")


def test_embedding_words():
    from uqviz.embedding import Embedding
    from uqviz.sources import PREDICTIONS_FILE, YOUR_MODEL
    from uqviz.ui.embedding_backend import (
        map_axis_titles,
        no_features_message,
        selection_caption,
        shared_map_caption,
    )

    coords, rows = np.zeros((3, 2)), np.arange(3)
    assert map_axis_titles(Embedding(coords, rows, "umap")) == ("UMAP 1", "UMAP 2")
    assert map_axis_titles(Embedding(coords, rows, "pca", explained=(0.4, 0.25))) == \
        ("PC 1 (40% of variance)", "PC 2 (25% of variance)")
    assert shared_map_caption("deep_ensemble", []) is None
    one = shared_map_caption("deep_ensemble", ["softmax"])
    assert one.startswith("Softmax uses the same network's features as Deep ensemble")
    two = shared_map_caption("deep_ensemble", ["softmax", "temperature", "mc_dropout"])
    assert two.startswith("Softmax, Temperature scaling and MC dropout use the same")
    assert selection_caption(10, "entropy", 200) == "Most uncertain first by predictive entropy."
    assert selection_caption(300, "entropy", 200).endswith("; the first 200 shown.")
    assert "features_output" in no_features_message("My model", YOUR_MODEL)
    assert "(digits or mnist5k)" in no_features_message("file.csv", PREDICTIONS_FILE)
