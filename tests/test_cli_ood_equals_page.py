"""``python -m uqviz metrics --json``'s logit and feature OOD numbers are the Out-of-distribution
page's: the same ``Study`` the page builds for a predictions file (``uqviz.ui.backend.study``:
``Study(read_predictions(path).by_method[m])``), whose ``Comparison.ood_table`` the page's
detection table renders (``uqviz.ui.ood.detection_table``: ``ood_frame(*comp.ood_table(g))``).

The file has fit rows and corrupted rows besides the test and OOD rows, and more than 20,000
rows in all, so a bootstrap sized from every row of the file (``bootstrap_resamples(p.n)``: 966
resamples) would differ from the page's (``bootstrap_resamples(n_in + n_out)``: 1,000)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from uqviz.exchange import read_predictions, write_predictions
from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES
from uqviz.predictions import Predictions
from uqviz.study import Comparison, Study, bootstrap_resamples

CLASSES, DIM = 3, 6
GROUPS = {"fit": 9_000, "test": 1_500, "gaussian_noise:3": 9_000, "ood:near": 600,
          "ood:far": 600}


def predictions(rng: np.random.Generator) -> Predictions:
    """Features: class means 3·e_c plus N(0, 1) noise, moved by 1 for corrupted rows, by 2 and
    4 for the OOD groups; logits 1.5 × the first C feature coordinates plus noise."""
    groups = np.concatenate([[g] * n for g, n in GROUPS.items()]).astype(object)
    n = groups.size
    labels = rng.integers(0, CLASSES, n)
    shift = np.array([{"gaussian_noise:3": 1.0, "ood:near": 2.0, "ood:far": 4.0}.get(g, 0.0)
                      for g in groups])
    features = 3.0 * np.eye(CLASSES, DIM)[labels] + rng.normal(size=(n, DIM)) + shift[:, None]
    is_ood = np.array([g.startswith("ood:") for g in groups])
    logits = 1.5 * features[None, :, :CLASSES] + 0.3 * rng.normal(size=(1, n, CLASSES))
    probs = np.exp(logits - logits.max(axis=2, keepdims=True))
    probs /= probs.sum(axis=2, keepdims=True)
    return Predictions(probs.astype(np.float32), np.where(is_ood, -1, labels), group=groups,
                       is_ood=is_ood, features=features.astype(np.float32),
                       logits=logits.astype(np.float32), method="softmax")


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return write_predictions({"softmax": predictions(np.random.default_rng(0))},
                             tmp_path_factory.mktemp("ood") / "preds.npz")


@pytest.fixture(scope="module")
def cli(path) -> dict:
    import contextlib
    import io

    from uqviz.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["metrics", str(path), "--json"]) == 0
    return json.loads(out.getvalue())["methods"]["softmax"]["ood_scores"]


@pytest.fixture(scope="module")
def page(path) -> Comparison:
    """What the OOD page shows for the file (``uqviz.ui.backend.comparison``)."""
    return Comparison({m: Study(p) for m, p in read_predictions(path).by_method.items()})


def test_the_file_would_show_the_old_bootstrap_size(path, page):
    p = read_predictions(path).by_method["softmax"]
    assert p.n == sum(GROUPS.values()) > 20_000
    study = page.studies["softmax"]
    assert study.n == GROUPS["test"]  # fit and corrupted rows are not scored
    assert bootstrap_resamples(p.n) == 966
    assert bootstrap_resamples(study.n + GROUPS["ood:far"]) == 1000


def test_every_score_equals_the_pages_table(cli, page):
    from uqviz.ui.ood import ood_frame
    from uqviz.ui.tables import significant

    assert cli["unavailable"] == {}
    assert list(cli["scores"]) == list(LOGIT_FEATURE_SCORES)
    assert cli["n_fit"] == GROUPS["fit"]
    assert page.ood_groups == ["ood:near", "ood:far"]
    for group in page.ood_groups:
        rows, best = page.ood_table(group)
        frame = ood_frame(rows, best)  # the page's table, as rendered
        table = {r.score: (r, frame.iloc[i]) for i, r in enumerate(rows)}
        for key, entry in cli["scores"].items():
            got = entry["groups"][group]
            row, shown = table[key]
            assert got["auroc"] == row.result.auroc == shown["AUROC"], (group, key)
            assert got["auroc_ci"] == list(row.auroc_ci), (group, key)
            assert got["fpr95"] == row.result.fpr95 == shown["FPR95"], (group, key)
            assert got["aupr_in"] == row.result.aupr_in and got["aupr_out"] == row.result.aupr_out
            assert (got["n_in"], got["n_out"]) == (GROUPS["test"], GROUPS[group])
            low, high = got["auroc_ci"]
            interval = f"[{significant(low)}, {significant(high)}]"
            assert shown["95% CI"].removesuffix(" ★") == interval
            assert low <= got["auroc"] <= high


def test_the_pooled_numbers_use_the_pages_bootstrap_size(cli, page):
    """All OOD rows against the scored rows: the page's rule on n_in + n_out rows."""
    from uqviz.metrics.bootstrap import bootstrap_ood_auroc_ci
    from uqviz.metrics.ood import ood_detection

    study = page.studies["softmax"]
    for key in ("energy", "mahalanobis"):
        u_in = study.score_values(None, key)
        u_out = np.concatenate([study.score_values(g, key) for g in study.ood_groups])
        entry = cli["scores"][key]
        assert entry["auroc"] == pytest.approx(ood_detection(u_in, u_out).auroc, abs=1e-12)
        ci = bootstrap_ood_auroc_ci(u_in, u_out, seed=0, n_resamples=1000)
        assert entry["auroc_ci"] == pytest.approx(list(ci), abs=1e-12)
        assert (entry["n_in"], entry["n_out"]) == (1_500, 1_200)


def test_one_ood_group_is_that_groups_row(tmp_path):
    import contextlib
    import io

    from uqviz.__main__ import main

    p = predictions(np.random.default_rng(1))
    keep = np.isin(p.group.astype(str), ["fit", "test", "ood:far"])
    path = write_predictions({"softmax": p.select(keep)}, tmp_path / "one.npz")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["metrics", str(path), "--json"]) == 0
    scores = json.loads(out.getvalue())["methods"]["softmax"]["ood_scores"]["scores"]
    study = Study(read_predictions(path).by_method["softmax"])
    for key, entry in scores.items():
        assert "groups" not in entry
        assert entry["auroc"] == study.ood_detection("ood:far", key).auroc
        assert entry["auroc_ci"] == list(study.ood_auroc_ci("ood:far", key))
        assert entry["fpr95"] == study.ood_detection("ood:far", key).fpr95
