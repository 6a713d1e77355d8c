"""Seed-to-seed spread of every training outcome the tests assert.

A test that trains a network asserts what the method guarantees, with a margin beyond the
worst case measured here over 8 seeds (a different CPU changes the weights the way a different
seed does). The figures are written into the tests' comments; rerun after changing a model,
a training recipe or a test's threshold:

    .venv/bin/python benchmarks/seed_spread.py [--seeds 8] [--only digits,tiny,moons,...]

Prints one block per section (the quantity each test asserts on, per seed, and the worst
case) and saves ``benchmarks/results/seed_spread.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def digits_pipeline(seed: int) -> dict[str, float]:
    """What tests/test_cli.py::test_evaluate_on_digits_meets_the_bar asserts on, for the app's
    digits configuration with the weights' seed ``seed`` (the split stays at data seed 0)."""
    from uqviz.data import get_dataset
    from uqviz.methods import METHOD_IDS, MethodConfig, get_method
    from uqviz.methods.temperature import nll_at_temperature
    from uqviz.metrics.classification import negative_log_likelihood
    from uqviz.metrics.ood import ood_detection
    from uqviz.metrics.scores import entropy, mutual_information
    from uqviz.runs import EvalPlan, run_evaluation

    config = MethodConfig(seed=seed)  # the app's APP_CONFIG is MethodConfig()
    plan = EvalPlan(corruptions=("gaussian_noise",))
    preds = run_evaluation("digits", list(METHOD_IDS), config=config, plan=plan)
    out: dict[str, float] = {}
    for name, p in preds.items():
        test = p.in_group("test")
        out[f"{name}.accuracy"] = float((test.predicted == test.labels).mean())
        out[f"{name}.nll"] = float(negative_log_likelihood(test.mean_probs, test.labels))
        accs, ents = [], []
        for s in (1, 5):
            rows = p.in_group(f"gaussian_noise:{s}")
            accs.append(float((rows.predicted == rows.labels).mean()))
            ents.append(float(entropy(rows.probs).mean()))
        out[f"{name}.noise_acc_drop_1_to_5"] = accs[0] - accs[1]
        out[f"{name}.noise_entropy_rise_1_to_5"] = ents[1] - ents[0]
    ens = preds["deep_ensemble"]
    out["deep_ensemble.mi_auroc_gaussian_noise"] = ood_detection(
        mutual_information(ens.in_group("test").probs),
        mutual_information(ens.in_group("ood:gaussian_noise").probs)).auroc
    out["nll_ensemble_minus_softmax"] = out["deep_ensemble.nll"] - out["softmax.nll"]
    out["test_nll_temperature_minus_softmax"] = out["temperature.nll"] - out["softmax.nll"]
    spec = get_dataset("digits")
    data = spec.load(0)
    import torch

    temp = get_method("temperature", config).fit(spec, data, torch.device("cpu"))
    val_logits, _ = temp.logits(data.val_x, torch.device("cpu"))
    val_y = data.val_y.numpy()
    out["temperature.T"] = float(temp.temperature)
    out["val_nll_temperature_minus_softmax"] = (
        nll_at_temperature(val_logits, val_y, temp.temperature)
        - nll_at_temperature(val_logits, val_y, 1.0))
    return out


def tiny_methods(seed: int) -> dict[str, float]:
    """tests/test_methods.py::test_each_method_fits_and_predicts: accuracy on the tiny set."""
    import torch

    from tests.test_methods import FAST, _tiny_spec
    from uqviz.methods import METHOD_IDS, get_method

    spec = _tiny_spec()
    data = spec.load(0)
    config = FAST.__class__(**{**FAST.__dict__, "seed": seed})
    out = {}
    for method_id in METHOD_IDS:
        method = get_method(method_id, config).fit(spec, data, torch.device("cpu"))
        probs = method.predict(data.test_x, torch.device("cpu")).probs
        out[f"{method_id}.accuracy"] = float(
            (probs.mean(0).argmax(1) == data.test_y.numpy()).mean())
    return out


def moons(seed: int) -> dict[str, float]:
    """tests/test_teaching.py's two-moons assertions."""
    from tests.test_teaching import _far_points
    from uqviz.metrics.scores import entropy, mutual_information
    from uqviz.teaching.moons import MoonsSettings, fit_moons, predict_moons

    models = fit_moons(MoonsSettings(seed=seed))
    near = predict_moons(models, models.x)
    far = predict_moons(models, _far_points())
    out = {}
    for method, p in near.items():
        out[f"{method}.train_accuracy"] = float(
            (p.mean(axis=0).argmax(axis=1) == models.y).mean())
    for method in ("deep_ensemble", "prior_ensemble", "mc_dropout"):
        out[f"{method}.mi_near"] = float(mutual_information(near[method]).mean())
        out[f"{method}.mi_far"] = float(mutual_information(far[method]).mean())
        out[f"{method}.mi_far_over_near"] = out[f"{method}.mi_far"] / out[f"{method}.mi_near"]
    out["softmax.far_entropy"] = float(entropy(far["softmax"]).mean())
    out["deep_ensemble.far_entropy"] = float(entropy(far["deep_ensemble"]).mean())
    # SNGP: one prediction (S = 1), so its uncertainty is the entropy; uniformity around the
    # circle = the circle's least entropy as a share of its mean (1: the same all round)
    out["sngp.entropy_near"] = float(entropy(near["sngp"]).mean())
    out["sngp.entropy_far"] = float(entropy(far["sngp"]).mean())
    out["sngp.entropy_far_over_near"] = out["sngp.entropy_far"] / out["sngp.entropy_near"]
    for method in ("sngp", "deep_ensemble", "prior_ensemble"):
        h = entropy(far[method])
        out[f"{method}.far_uniformity"] = float(h.min() / h.mean())
    out["sngp_minus_deep_ensemble.far_uniformity"] = (out["sngp.far_uniformity"]
                                                      - out["deep_ensemble.far_uniformity"])
    import torch

    with torch.no_grad():
        out["sngp.variance_near"] = float(models.sngp.variance(torch.as_tensor(models.x)).mean())
        out["sngp.variance_far"] = float(models.sngp.variance(
            torch.as_tensor(_far_points(), dtype=torch.float32)).mean())
        out["sngp.largest_singular_value"] = max(
            float(torch.linalg.matrix_norm(b.weight(), ord=2)) for b in models.sngp.blocks)
    return out


def regression(seed: int) -> dict[str, float]:
    """tests/test_teaching.py's 1-D ensemble assertions."""
    from uqviz.teaching.regression1d import RegressionSettings, fit_ensemble_1d, region_spread

    plain = fit_ensemble_1d(RegressionSettings(prior="none", seed=seed))
    prior = fit_ensemble_1d(RegressionSettings(prior="random", beta=3.0, seed=seed))
    out = {}
    for name, fit in (("plain", plain), ("prior", prior)):
        s = region_spread(fit)
        out[f"{name}.gap_over_inside"] = s["gap"] / s["inside"]
        out[f"{name}.outside_over_inside"] = s["outside"] / s["inside"]
    pred = np.interp(plain.data.x, plain.x_grid, plain.mean)
    out["plain.rmse"] = float(np.sqrt(np.mean((pred - plain.data.y) ** 2)))
    out["plain.outside"] = region_spread(plain)["outside"]
    out["prior.outside"] = region_spread(prior)["outside"]
    out["prior_outside_over_plain_outside"] = (region_spread(prior)["outside"]
                                               / region_spread(plain)["outside"])
    return out


def aleatoric(seed: int) -> dict[str, float]:
    """tests/test_teaching.py's aleatoric/epistemic toy assertions."""
    from uqviz.teaching.decomposition import ToySettings, aleatoric_epistemic_toy, region_means

    def means(**kw):
        return region_means(aleatoric_epistemic_toy(ToySettings(seed=seed, **kw)))

    clean = means(label_noise=0.0, n_points=200)
    noisy = means(label_noise=0.3, n_points=200)
    few = means(label_noise=0.3, n_points=8)
    return {
        "few_epistemic": few["data"]["epistemic"], "many_epistemic": noisy["data"]["epistemic"],
        "noisy_minus_clean_aleatoric": noisy["noisy"]["aleatoric"] - clean["noisy"]["aleatoric"],
        "noisy_aleatoric_over_epistemic": noisy["noisy"]["aleatoric"]
        / noisy["noisy"]["epistemic"],
        "few_over_many_epistemic": few["data"]["epistemic"] / noisy["data"]["epistemic"],
    }


def active(seed: int) -> dict[str, float]:
    """tests/test_active.py: BALD against random from 100 labels on, mean over three seeds
    (the seed triple 3·seed, 3·seed + 1, 3·seed + 2)."""
    from uqviz.teaching.active import ActiveConfig, cached_run

    cfg = ActiveConfig()
    at = (100 - cfg.initial) // cfg.batch
    triple = (3 * seed, 3 * seed + 1, 3 * seed + 2)
    bald = np.mean([cached_run("bald", s, cfg) for s in triple], axis=0)
    rand = np.mean([cached_run("random", s, cfg) for s in triple], axis=0)
    return {"bald_minus_random_at_100": float(bald[at] - rand[at]),
            "bald_minus_random_from_100_to_200": float(np.mean(bald[at:] - rand[at:])),
            "random_at_100": float(rand[at])}


SECTIONS = {"digits": digits_pipeline, "tiny": tiny_methods, "moons": moons,
            "regression": regression, "aleatoric": aleatoric, "active": active}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                              / "seed_spread.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("UQVIZ_TORCH_THREADS", "1")
    os.environ.setdefault("UQVIZ_CACHE", tempfile.mkdtemp(prefix="uqviz-seeds-"))
    from uqviz.device import configure_threads

    configure_threads()
    path = Path(args.out)
    report = json.loads(path.read_text()) if path.exists() else {}
    for name in args.only.split(","):
        started = time.perf_counter()
        rows = [SECTIONS[name](seed) for seed in range(args.seeds)]
        keys = rows[0].keys()
        summary = {k: {"values": [round(r[k], 5) for r in rows],
                       "min": round(min(r[k] for r in rows), 5),
                       "max": round(max(r[k] for r in rows), 5)} for k in keys}
        report[name] = {"seeds": args.seeds, "seconds": round(time.perf_counter() - started, 1),
                        "quantities": summary}
        print(f"== {name} ({args.seeds} seeds, {report[name]['seconds']} s)")
        for k, v in summary.items():
            print(f"  {k:45s} min {v['min']:>10.5f}  max {v['max']:>10.5f}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
