"""Compare on a predictions file whose labelled rows lie in several groups: the numbers, the
charts and the caption's count are computed on one row set (the labelled in-distribution rows
of every group), as the study defines it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.app_fixtures import framed_page


@pytest.fixture
def two_group_file(tmp_path, monkeypatch):
    from uqviz.ui.files import env_dataset_name

    rng = np.random.default_rng(4)
    n = 300
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[labels]
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    group = np.where(np.arange(n) < 120, "validation", "test")  # two labelled groups
    path = tmp_path / "two_groups.csv"
    pd.DataFrame({"label": labels, "group": group,
                  **{f"p_{i}": p[:, i] for i in range(3)}}).to_csv(path, index=False)
    monkeypatch.setenv("UQVIZ_PREDICTIONS", str(path))
    return env_dataset_name(path), labels, p


def test_table_charts_and_caption_score_the_same_rows(two_group_file):
    dataset, labels, probs = two_group_file
    at = framed_page("pages/compare.py", dataset=dataset)
    assert not at.exception, at.exception
    n = len(labels)  # every labelled row of both groups
    assert any(f"{n:,} labelled rows" in c.value for c in at.caption)
    table = pd.concat([d.value.set_index("Method") for d in at.dataframe], axis=1)
    accuracy = float((probs.argmax(1) == labels).mean())
    assert float(table.loc["default", "Accuracy"].split(" ")[0]) == pytest.approx(accuracy,
                                                                                 abs=5e-4)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    reliability = [s for s in specs if "ECE" in str(s["layout"].get("title", {}).get("text"))]
    assert reliability, "no reliability diagram"
    from uqviz.formatting import significant
    from uqviz.metrics.calibration import expected_calibration_error

    ece = expected_calibration_error(probs, labels)  # on every labelled row of both groups
    assert reliability[0]["layout"]["title"]["text"].endswith(f"ECE {significant(ece)}")
    histograms = [s for s in specs if [t.get("type") for t in s["data"]] == ["histogram"] * 2]
    shown = [int(t["name"].rsplit("n=", 1)[1].rstrip(")").replace(",", ""))
             for t in histograms[0]["data"]]
    assert sum(shown) == n  # right + wrong
