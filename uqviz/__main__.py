"""Command line: ``python -m uqviz {train,evaluate,precompute,metrics,conformal,referral,embed,
report,ship-weights,triage,team} …``
(``--help``).

Bad input exits with code 2 and one line on stderr saying what is wrong and where; never a
traceback. Progress bars (tqdm, on stderr) are closed before any other line goes to stderr,
which then starts on a line of its own (``note``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from uqviz.formatting import json_ready

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


_BARS: list = []  # the progress bars open
_DRAWN = {"since_newline": False}  # a bar was drawn on stderr since the last line ended


def _tqdm_progress(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, unit="‰", leave=False, file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
    _BARS.append(bar)
    _DRAWN["since_newline"] = True

    def progress(fraction: float, message: str) -> None:
        bar.n = int(1000 * min(max(fraction, 0.0), 1.0))
        bar.set_postfix_str(message[:60], refresh=True)
        _DRAWN["since_newline"] = True
        if fraction >= 1.0 and message == "done":
            bar.close()

    return progress


def _end_progress() -> None:
    """Close the progress bars still open (a bar left by a run that failed) and end the line
    they were drawn on: a closed bar clears its line on a terminal, but a file or a pipe keeps
    its text, so a newline follows there."""
    while _BARS:
        _BARS.pop().close()
    if _DRAWN["since_newline"]:
        _DRAWN["since_newline"] = False
        isatty = getattr(sys.stderr, "isatty", None)
        if not (isatty and isatty()):
            sys.stderr.write("\n")
            sys.stderr.flush()


def note(text: str) -> None:
    """One line on stderr, on a line of its own after any progress bar."""
    _end_progress()
    print(text, file=sys.stderr)


RUN_DEFAULTS = {"dataset": "digits", "members": 5, "mc_samples": 30}


def _apply_preset(args: argparse.Namespace) -> None:
    """Fill the run options left unset from ``--preset`` (or the plain defaults): an option
    given on the command line wins over the preset."""
    preset = None
    if getattr(args, "preset", None):
        from uqviz.presets import get_preset

        preset = get_preset(args.preset)
    for name, default in RUN_DEFAULTS.items():
        if hasattr(args, name) and getattr(args, name) is None:
            setattr(args, name, getattr(preset, name) if preset else default)
    if preset is not None:
        if getattr(args, "corruptions", None) is None:
            args.corruptions = ",".join(preset.corruptions)
        if args.epochs is None:
            args.epochs = preset.epochs
    args.preset_spec = preset


def _method_config(args: argparse.Namespace):
    from dataclasses import replace

    from uqviz.methods import MethodConfig
    from uqviz.training import TrainConfig

    preset = getattr(args, "preset_spec", None)
    train = (replace(preset.train_config(), epochs=args.epochs) if preset
             else TrainConfig(epochs=args.epochs))
    return MethodConfig(train=train, seed=args.seed, members=args.members,
                        mc_samples=args.mc_samples, prior_beta=args.prior_beta,
                        bootstrap=args.bootstrap)


def _plan(args: argparse.Namespace):
    from uqviz.runs import EvalPlan

    corruptions = tuple(c.strip() for c in args.corruptions.split(",") if c.strip())
    preset = getattr(args, "preset_spec", None)
    severities = {"severities": preset.severities} if preset else {}
    plan = EvalPlan(corruptions=corruptions, seed=args.seed, **severities)
    plan.corruption_names()  # validates
    return plan


def cmd_ship_weights(args: argparse.Namespace) -> int:
    """Train the app's networks on a built-in dataset from scratch and write them, in float16
    with their hashes, to assets/weights (uqviz.pretrained)."""
    import os
    import tempfile

    from uqviz.cache import CACHE_ENV
    from uqviz.data import BUILTIN_DATASETS
    from uqviz.methods import METHOD_IDS
    from uqviz.pretrained import SHIPPED_ENV, WEIGHTS_DIR, write_shipped
    from uqviz.sources import TrainedSource

    if args.dataset not in BUILTIN_DATASETS:
        raise CliError(f"--dataset must be a built-in dataset ({', '.join(BUILTIN_DATASETS)}), "
                       f"got {args.dataset!r}")
    with tempfile.TemporaryDirectory(prefix="uqviz-ship-") as tmp:
        os.environ[CACHE_ENV], os.environ[SHIPPED_ENV] = tmp, "0"  # train from scratch
        source = TrainedSource(args.dataset)
        source.predictions(list(METHOD_IDS), progress=_tqdm_progress("training"))
        described = {"dataset": args.dataset, "config": repr(source.config),
                     "data_seed": source.data_seed}
        try:
            manifest = write_shipped(list((Path(tmp) / "weights").glob("*.pt")),
                                     lambda _path: described)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    print(f"{len(manifest['files'])} networks, {manifest['bytes']:,} bytes in {WEIGHTS_DIR}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from uqviz.data import get_dataset
    from uqviz.device import default_device
    from uqviz.methods import get_method, parse_method_list

    spec = get_dataset(args.dataset, args.data_dir)
    methods = parse_method_list(args.methods)
    data = spec.load(args.data_seed)
    device = default_device()
    config = _method_config(args)
    for method_id in methods:
        get_method(method_id, config).fit(spec, data, device, _tqdm_progress(method_id),
                                          args.data_seed)
        note(f"{method_id}: trained (cached)")
    return 0


def _launch(args: argparse.Namespace):
    """``--accelerator --devices --num-nodes`` (and ``--precision --chunk-rows`` where the
    command has them) as a ``LaunchConfig``; one line on a bad value."""
    from uqviz.precompute import LaunchConfig, parse_count

    try:
        return LaunchConfig(accelerator=args.accelerator,
                            devices=parse_count("--devices", args.devices),
                            num_nodes=parse_count("--num-nodes", args.num_nodes),
                            precision=getattr(args, "precision", "32"),
                            chunk_rows=parse_count("--chunk-rows",
                                                   getattr(args, "chunk_rows", "2048")))
    except ValueError as err:
        raise CliError(str(err)) from None


def _one_process(launch) -> bool:
    return launch.world_size == 1 and launch.accelerator == "cpu"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from uqviz.runs import RunTimer, run_evaluation

    launch = _launch(args)
    if args.model:
        return _evaluate_user_model(args, launch)
    if args.ood or args.model_config:
        raise CliError("--ood and --model-config go with --model (your own model file)")
    if not _one_process(launch):
        raise CliError("evaluate runs on several processes with --model (your own model); "
                       "for a built-in dataset use precompute")
    timer = RunTimer()
    results = run_evaluation(args.dataset, _method_list(args), config=_method_config(args),
                             plan=_plan(args), progress=_tqdm_progress("evaluate"),
                             data_seed=args.data_seed, data_dir=args.data_dir, timer=timer)
    _write_bundle(Path(args.out), results, {"dataset": args.dataset, "seconds": timer.seconds})
    return 0


def _user_model_source(args: argparse.Namespace):
    """``ModelSource`` of ``--model`` files and the ``--dataset folder:DIR`` images; config
    flags win over model.json."""
    from uqviz.user_model import MethodSettings, ModelSource

    if not args.dataset.startswith("folder:"):
        raise CliError(f"--model needs --dataset folder:DIR (your images), got {args.dataset}")
    if args.ood and not args.ood.startswith("folder:"):
        raise CliError(f"--ood must be folder:DIR, got {args.ood}")
    features = args.features_output
    overrides = {
        "input_size": args.input_size, "channels": args.channels, "mean": args.mean,
        "std": args.std, "outputs": args.outputs,
        "classes": args.classes and [c.strip() for c in args.classes.split(",") if c.strip()],
        "features_output": int(features) if features and features.isdigit() else features,
        "flips_preserve_label": args.flips_preserve_label,
    }
    settings = MethodSettings(tta_samples=args.tta_samples, mc_samples=args.mc_samples,
                              seed=args.seed, cal_fraction=args.cal_fraction,
                              batch_size=args.batch_size, bf16=args.bf16)
    return ModelSource.create(args.model, args.dataset, ood=args.ood, config=args.model_config,
                              plan=_plan(args), settings=settings, **overrides)


def _evaluate_user_model(args: argparse.Namespace, launch) -> int:
    """``evaluate --model …`` (and ``precompute --model …``): predict with the user's model on
    their images and write the bundle; ``--methods all`` means every method that applies. On
    several processes (``launch``) through Lightning Fabric (``uqviz.precompute.run_user_model``):
    the images' batches are shared out and rank 0 writes the same files one process would."""
    import time

    from uqviz.metrics.ood import ood_detection
    from uqviz.user_model import MAHALANOBIS

    start = time.perf_counter()
    source = _user_model_source(args)
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    methods = source.methods if names == ["all"] else names
    for method in methods:
        why = source.why_not(method)
        if why:
            raise CliError(f"--methods {method}: {why}")
    if _one_process(launch):
        run = source.run(methods, _tqdm_progress("evaluate"))
    else:
        from uqviz.precompute import run_user_model

        try:
            run = run_user_model(source, methods, launch,
                                 make_progress=lambda: _tqdm_progress("evaluate"))
        except ValueError as err:
            raise CliError(str(err)) from None
        if run is None:
            return 0  # not global rank 0: rank 0 writes the bundle
    for warning in run.warnings:
        note(f"warning: {warning}")
    sizes = ", ".join(f"{part} {n}" for part, n in run.sizes.items())
    note(f"images: {sizes}; methods: {', '.join(methods)}")
    extra = {"models": [Path(m).name for m in source.models], "dataset": args.dataset,
             "ood": args.ood, "sizes": run.sizes, "temperature": run.temperature,
             "warnings": list(run.warnings), "seconds": time.perf_counter() - start,
             "world_size": launch.world_size, "accelerator": launch.accelerator}
    from uqviz.triage import model_record  # what a policy from this file records (triage)

    extra["model"] = model_record(source.models, source.configs, temperature=run.temperature,
                                  tta_samples=args.tta_samples, seed=args.seed)
    first = next(iter(run.predictions.values()))
    if MAHALANOBIS in first.scores:
        score, rows = first.scores[MAHALANOBIS], first.labelled_in_distribution()
        extra["mahalanobis_ood"] = {
            group: vars(ood_detection(rows.scores[MAHALANOBIS], score[first.group == group]))
            for group in first.groups if group.startswith("ood:") and rows.n}
    else:
        extra["mahalanobis_ood"] = source.why_no_mahalanobis()
    out = Path(args.out)
    if first.labelled_in_distribution().n:
        _write_bundle(out, run.predictions, extra)
        return 0
    from uqviz.cache import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    written = _write_predictions_files(out, run.predictions)
    summary = {**extra, "methods": {}}
    atomic_write(out / "metrics.json",
                 lambda tmp: tmp.write_text(json.dumps(json_ready(summary), indent=2)))
    note(f"the images are unlabelled: no metrics; wrote {_wrote(written, out)}")
    return 0


def _print_table(methods: dict[str, dict]) -> None:
    _end_progress()  # stdout may share the terminal with the bars
    cols = ["n", "samples", "accuracy", "nll", "brier", "ece", "adaptive_ece", "mce", "aurc",
            "eaurc"]
    width = max(10, *(len(m) for m in methods))
    print(f"{'method':<{width}} " + " ".join(f"{c:>12}" for c in cols))
    for name, row in methods.items():
        cells = []
        for c in cols:
            v = row[c]
            cells.append(f"{v:>12d}" if isinstance(v, int) else f"{v:>12.4f}")
        print(f"{name:<{width}} " + " ".join(cells))
        for score, ood in row.get("ood", {}).items():
            print(f"{'':<{width}}   OOD by {score}: AUROC {ood['auroc']:.4f}  "
                  f"AUPR-in {ood['aupr_in']:.4f}  AUPR-out {ood['aupr_out']:.4f}  "
                  f"FPR95 {ood['fpr95']:.4f}")


def _read(args: argparse.Namespace):
    from uqviz.exchange import read_predictions

    loaded = read_predictions(args.file, drop_invalid=args.drop_invalid,
                              logits_to_probs=args.softmax)
    for warning in loaded.warnings:
        note(f"warning: {warning}")
    return loaded


def cmd_metrics(args: argparse.Namespace) -> int:
    from uqviz.study import Study

    loaded = _read(args)
    methods = {}
    for name, p in loaded.by_method.items():
        if not (p.labelled_in_distribution().n):
            raise CliError(f"{args.file}: method {name!r} has no labelled in-distribution rows "
                           "to score")
        study = Study(p)  # as the pages build it for this file (uqviz.ui.backend.study)
        methods[name] = study.summary()
        if p.logits is not None or p.features is not None:  # OOD scores from logits/features
            methods[name] = {**methods[name], "ood_scores": _ood_scores(study)}
    if args.json:
        print(json.dumps(json_ready({"methods": methods})))
    else:
        _print_table(methods)
        _print_ood_scores(methods)
    return 0


def _ood_scores(study) -> dict:
    """The logit and feature scores' OOD detection, read from ``study`` (a ``uqviz.study.Study``
    of one method's rows, as the Out-of-distribution page and the report build it): every number
    of ``"groups"`` is the page's table row (``Study.ood_detection``, ``Study.ood_auroc_ci``, as
    ``Comparison.ood_table``), and the top-level numbers are all OOD rows against the scored
    rows: one OOD group's row when it holds every OOD row, else the pooled OOD rows, with the
    page's bootstrap size (``bootstrap_resamples(n_in + n_out)``, seed 0).

    Returns:
        JSON-ready ``{"n_fit", "scores": {key: {"needs", "settings", "auroc", "auroc_ci",
        "aupr_in", "aupr_out", "fpr95", "n_in", "n_out", "groups": {group: {...}}}},
        "unavailable": {key: why}}`` (``groups`` only with several OOD groups); ``scores`` is
        empty without OOD rows.
    """
    from uqviz.metrics.bootstrap import bootstrap_ood_auroc_ci
    from uqviz.metrics.ood import ood_detection
    from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES
    from uqviz.study import bootstrap_resamples

    fitted, p = study.ood_scores, study.predictions
    doc = {"n_fit": fitted.n_fit, "scores": {}, "unavailable": dict(fitted.unavailable)}
    if not p.is_ood.any():
        return doc
    groups = study.ood_groups
    whole = groups[0] if len(groups) == 1 and (p.is_ood == (p.group == groups[0])).all() else None

    def entry(result, ci) -> dict:
        return {"auroc": result.auroc, "auroc_ci": list(ci), "aupr_in": result.aupr_in,
                "aupr_out": result.aupr_out, "fpr95": result.fpr95, "n_in": result.n_in,
                "n_out": result.n_out}

    def group_entry(group: str, key: str) -> dict:
        return entry(study.ood_detection(group, key), study.ood_auroc_ci(group, key))

    def pooled_entry(key: str) -> dict:
        u_in = study.score_values(None, key)
        u_out = fitted.score(key, p.select(p.is_ood))
        return entry(ood_detection(u_in, u_out), bootstrap_ood_auroc_ci(
            u_in, u_out, seed=0, n_resamples=bootstrap_resamples(u_in.size + u_out.size)))

    for key in fitted.available:
        row = {"needs": LOGIT_FEATURE_SCORES[key].needs, "settings": fitted.settings[key],
               **(group_entry(whole, key) if whole is not None else pooled_entry(key))}
        if len(groups) > 1:
            row["groups"] = {g: group_entry(g, key) for g in groups}
        doc["scores"][key] = row
    return doc


def _print_ood_scores(methods: dict[str, dict]) -> None:
    for name, row in methods.items():
        doc = row.get("ood_scores")
        if not doc:
            continue
        for key, r in doc["scores"].items():
            settings = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in r["settings"].items())
            low, high = r["auroc_ci"]
            print(f"{name}: OOD by {key} ({settings or 'no settings'}): AUROC {r['auroc']:.4f} "
                  f"[{low:.4f}, {high:.4f}]  AUPR-in {r['aupr_in']:.4f}  AUPR-out "
                  f"{r['aupr_out']:.4f}  FPR95 {r['fpr95']:.4f}")
        for key, why in doc["unavailable"].items():
            print(f"{name}: OOD by {key}: not computed ({why})")


def cmd_conformal(args: argparse.Namespace) -> int:
    from uqviz.study import Study

    if not 0 < args.alpha < 1:
        raise CliError(f"--alpha must be between 0 and 1, got {args.alpha}")
    if not 0 < args.cal_fraction < 1:
        raise CliError(f"--cal-fraction must be between 0 and 1, got {args.cal_fraction}")
    loaded = _read(args)
    methods = {}
    for name, p in loaded.by_method.items():
        result = Study(p.select(~p.is_fit)).conformal(  # rows of group fit are never scored
            alpha=args.alpha, score=args.score, cal_fraction=args.cal_fraction, seed=args.seed,
            randomized=not args.non_randomized, lam=args.lam, k_reg=args.k_reg,
            class_conditional=args.class_conditional)
        methods[name] = {**result.summary(), **result.class_summary(p.names)}
    if args.json:
        print(json.dumps(json_ready({"methods": methods})))
    else:
        for name, row in methods.items():
            qhat = "inf" if row["qhat"] is None else f"{row['qhat']:.4f}"
            kind = "class-conditional " if row["class_conditional"] else ""
            print(f"{name}: {kind}qhat {qhat}  coverage {row['coverage']:.4f} "
                  f"(target {1 - args.alpha:.2f})  mean set size {row['mean_set_size']:.3f}  "
                  f"n_cal {row['n_cal']}  n_test {row['n_test']}")
            for c, coverage in row["coverage_per_class"].items():
                size = row["set_size_per_class"][c]
                print(f"  class {c}: coverage "
                      f"{'-' if coverage is None else f'{coverage:.4f}'}  mean set size "
                      f"{'-' if size is None else f'{size:.3f}'}  n_cal "
                      f"{row['n_cal_per_class'][c]}")
    return 0


def cmd_referral(args: argparse.Namespace) -> int:
    from uqviz.metrics.guarantee import METHOD_NAMES
    from uqviz.metrics.ood_scores import LOGIT_FEATURE_SCORES
    from uqviz.metrics.scores import UNCERTAINTY_SCORES
    from uqviz.policy import check_exportable
    from uqviz.study import Study

    if args.score not in UNCERTAINTY_SCORES and args.score not in LOGIT_FEATURE_SCORES:
        raise CliError(f"--score must be one of "
                       f"{', '.join([*UNCERTAINTY_SCORES, *LOGIT_FEATURE_SCORES])}, got "
                       f"{args.score!r}")
    if args.out:  # a policy carries probability and logit scores only (uqviz.policy)
        try:
            check_exportable(args.score)
        except ValueError as err:
            raise CliError(f"--out: {err}") from None
    if args.guarantee_method not in METHOD_NAMES:
        raise CliError(f"--guarantee-method must be one of {', '.join(METHOD_NAMES)}, got "
                       f"{args.guarantee_method!r}")
    if args.target_accuracy is None and not args.class_target:
        raise CliError("give --target-accuracy, --class-target or both")
    for name, value, top in (("--target-accuracy", args.target_accuracy, 1.0),
                             ("--confidence", args.confidence, 1.0 - 1e-12),
                             ("--calibration-share", args.calibration_share, 1.0)):
        if value is not None and not 0 < value <= top:
            raise CliError(f"{name} must be between 0 and 1, got {value}")
    if getattr(args, "model", None):  # --model PATH --dataset folder:DIR (uqviz.cli_triage)
        from uqviz.cli_triage import model_predictions

        loaded = model_predictions(args)
    elif args.file is None:
        raise CliError("give a predictions file, or --model PATH --dataset folder:DIR")
    else:
        loaded = _read(args)
    method = args.method or next(iter(loaded.by_method))
    if method not in loaded.by_method:
        raise CliError(f"{args.file}: no method {method!r}; methods: "
                       f"{', '.join(loaded.by_method)}")
    study = Study(loaded.by_method[method])
    class_targets = _class_targets(args.class_target or [], loaded.by_method[method].names)
    try:
        result = study.guaranteed_referral(
            args.score, target_accuracy=args.target_accuracy, confidence=args.confidence,
            calibration_share=args.calibration_share, seed=args.seed,
            method=args.guarantee_method, class_targets=class_targets)
    except ValueError as err:
        why = str(err)
        if args.model:  # a model's outputs, not a file's arrays: say what to set
            why = why.replace("(NPZ array 'features')", "(set features_output in model.json)"
                              ).replace("(NPZ array 'logits')",
                                        '(set "outputs": "logits" in model.json)')
        raise CliError(f"{args.file}: {why}") from None
    guarantee = result.to_dict()  # its "method" is the guarantee's; here "method" is the model's
    doc = {"method": method, "guarantee_method": guarantee.pop("method"), **guarantee}
    if args.out:  # the policy document triage runs (uqviz.cli_triage)
        from uqviz.cli_triage import write_referral_policy

        write_referral_policy(args, method, loaded, result)
    if args.json:
        print(json.dumps(json_ready(doc)))
        return 0
    verdict = ("certified" if doc["certified"] else "NOT certified; the best that can be: "
               f"{doc['accuracy_bound']:.4f}")
    asked = ("every class target" if args.target_accuracy is None else
             f"accuracy on automated >= {args.target_accuracy}"
             f"{' and every class target' if class_targets else ''}")
    from uqviz.policy import rule_words

    threshold = result.certified.threshold
    print(f"{method}: {rule_words(args.score, threshold)} "
          f"({100 * doc['referred_fraction']:.1f}% of {doc['n_calibration']:,} calibration "
          f"rows); {asked} with probability "
          f">= {args.confidence}: {verdict} ({doc['guarantee_method']})")
    for t in doc.get("class_targets", []):
        print(f"  {t['class']} {t['metric']} >= {t['level']}: "
              f"{'certified' if t['certified'] else 'NOT certified'} (bound {t['bound']:.4f} "
              f"on {t['n']:,} automated rows)")
    if "heldout" in doc:
        h = doc["heldout"]
        print(f"held-out ({h['n']:,} rows): {100 * h['referred_fraction']:.1f}% referred, "
              f"accuracy on automated {h['automated_accuracy']:.4f}")
    return 0


def _class_targets(texts: list[str], names: tuple[str, ...]) -> tuple:
    """``CLASS:recall:0.95`` / ``CLASS:precision:0.9`` -> ``ClassTarget``s (CLASS: a class name
    or a 0-based index)."""
    from uqviz.metrics.guarantee import CLASS_METRICS, ClassTarget

    targets = []
    for text in texts:
        name, _, rest = text.rpartition(":")
        name, _, metric = name.rpartition(":")
        if not name or metric not in CLASS_METRICS:
            raise CliError(f"--class-target {text!r} must be CLASS:recall:LEVEL or "
                           f"CLASS:precision:LEVEL")
        if name in names:
            index = names.index(name)
        elif name.isdigit() and int(name) < len(names):
            index = int(name)
        else:
            raise CliError(f"--class-target {text!r}: no class {name!r}; classes: "
                           f"{', '.join(names)}")
        try:
            targets.append(ClassTarget(index, metric, float(rest)))
        except ValueError as err:
            raise CliError(f"--class-target {text!r}: {err}") from None
    return tuple(targets)


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from uqviz.embedding import UmapParams, cached_umap, embed_predictions, umap_path

    params = UmapParams(n_neighbors=args.n_neighbors, min_dist=args.min_dist, seed=args.seed,
                        max_points=args.max_points)
    if args.features:
        features = np.load(args.features, allow_pickle=False)
        result, path = cached_umap(features, params, method=args.method), umap_path(features,
                                                                                  params)
        source = args.features
    else:
        from uqviz.runs import EvalPlan  # torch: only when the features come from a dataset

        corruptions = tuple(c.strip() for c in args.corruptions.split(",") if c.strip())
        plan = EvalPlan(corruptions=corruptions)
        plan.corruption_names()  # validates
        result, path = embed_predictions(args.dataset, args.method, params, plan=plan,
                                         data_seed=args.data_seed, data_dir=args.data_dir,
                                         progress=_tqdm_progress("predictions"))
        source = f"{args.method} on {args.dataset}"
    note(f"UMAP of {source}: {result.n:,} points (computed in {result.seconds:.1f} s) -> "
         f"{path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import date

    from uqviz.plots.report import comparison_report, write_report
    from uqviz.study import Comparison, Study

    if args.file:
        by_method = _read(args).by_method
        name, description = Path(args.file).name, f"Predictions read from {args.file}."
    else:
        from uqviz.data import get_dataset
        from uqviz.runs import run_evaluation

        spec = get_dataset(args.dataset, args.data_dir)
        by_method = run_evaluation(spec, _method_list(args), config=_method_config(args),
                                   plan=_plan(args), progress=_tqdm_progress("evaluate"),
                                   data_seed=args.data_seed)
        name, description = spec.name, spec.description
    studies = {m: Study(p) for m, p in by_method.items()}
    conformal = {"alpha": args.alpha, "score": args.score,
                 "methods": {m: s.conformal(alpha=args.alpha, score=args.score,
                                            cal_fraction=0.5, seed=args.seed).summary()
                             for m, s in studies.items()}}
    html = comparison_report(Comparison(studies), dataset_name=name,
                             dataset_description=description,
                             conformal=conformal, generated=date.today().isoformat())
    write_report(args.out, html)
    note(f"wrote {args.out}")
    return 0


def cmd_precompute(args: argparse.Namespace) -> int:
    from uqviz.precompute import run_precompute

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out}: exists and is not a directory")
    launch = _launch(args)
    if args.model:  # a user's model: its images' batches shared out (uqviz.precompute)
        args.bf16 = args.bf16 or launch.precision == "bf16-mixed"
        return _evaluate_user_model(args, launch)
    if args.ood or args.model_config:
        raise CliError("--ood and --model-config go with --model (your own model file)")
    result = run_precompute(args.dataset, _method_list(args), config=_method_config(args),
                            plan=_plan(args), launch=launch, data_seed=args.data_seed,
                            data_dir=args.data_dir,
                            make_progress=lambda: _tqdm_progress("precompute"))
    if result is None:
        return 0  # not global rank 0: rank 0 writes the bundle
    _write_bundle(out, result.predictions,
                  {"dataset": args.dataset, "world_size": result.world_size,
                   "accelerator": launch.accelerator, "precision": launch.precision,
                   "seconds": result.seconds})
    return 0


NPZ_NOTE = ("predictions.npz holds the logits and features too: python -m uqviz metrics "
            "{path} --json gives the OOD scores from them (max_logit, energy, gen, knn, vim, "
            "mahalanobis, relative_mahalanobis)")


def _write_predictions_files(out: Path, results: dict) -> list[Path]:
    """``out/predictions.parquet`` (probabilities) and, when a method has logits or features,
    ``out/predictions.npz`` (every method in one file, with its ``logits``, ``features`` and the
    fit rows as group ``fit``: the exchange format's NPZ, ``uqviz.exchange``)."""
    from uqviz.exchange import write_predictions

    written = [write_predictions(results, out / "predictions.parquet")]
    if any(p.logits is not None or p.features is not None for p in results.values()):
        written.append(write_predictions(results, out / "predictions.npz"))
    return written


def _wrote(written: list[Path], out: Path) -> str:
    """``wrote A, B and metrics.json`` with the NPZ note when one was written."""
    names = ", ".join(str(p) for p in written)
    npz = [p for p in written if p.suffix == ".npz"]
    return (f"wrote {names} and {out / 'metrics.json'}"
            + (f"; {NPZ_NOTE.format(path=npz[0])}" if npz else ""))


def _write_bundle(out: Path, results: dict, extra: dict) -> None:
    """``out/predictions.parquet`` (with ``out/predictions.npz`` when the methods have logits
    or features: ``_write_predictions_files``) and ``out/metrics.json`` (``extra`` + metrics per
    method), the bundle ``evaluate`` writes; prints the metric table."""
    from uqviz.cache import atomic_write
    from uqviz.study import Study

    out.mkdir(parents=True, exist_ok=True)
    written = _write_predictions_files(out, results)
    summary = {**extra, "methods": {m: Study(p).summary() for m, p in results.items()}}
    atomic_write(out / "metrics.json",
                 lambda tmp: tmp.write_text(json.dumps(json_ready(summary), indent=2)))
    _print_table(summary["methods"])
    note(_wrote(written, out))


def _method_list(args: argparse.Namespace) -> list[str]:
    from uqviz.methods import parse_method_list

    return parse_method_list(args.methods)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help="named settings, e.g. cifar10 (ResNet-18, K = 5, T = 30, every "
                        "corruption × severity); options given explicitly override it")
    p.add_argument("--dataset", default=None,
                   help="digits (default), mnist5k, mnist, fashion_mnist, cifar10, svhn or "
                        "folder:PATH")
    p.add_argument("--methods", default="all",
                   help="comma-separated: softmax,temperature,mc_dropout,deep_ensemble,"
                        "prior_ensemble (or all), and tta by name; with --model: softmax,"
                        "temperature,tta,mc_dropout,ensemble (or all that apply)")
    p.add_argument("--data-dir", default=None, help="where torchvision datasets live")
    p.add_argument("--seed", type=int, default=0, help="seed of the networks and shifts")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the train/val/test split")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: auto)")
    p.add_argument("--members", type=int, default=None, help="ensemble size K (default 5)")
    p.add_argument("--mc-samples", type=int, default=None, help="MC-dropout passes T (default 30)")
    p.add_argument("--prior-beta", type=float, default=1.0, help="prior scale β")
    p.add_argument("--bootstrap", action="store_true",
                   help="bootstrap the training set per prior-ensemble member")


def _add_file_options(p: argparse.ArgumentParser, file_optional: bool = False) -> None:
    p.add_argument("file", nargs="?" if file_optional else None,
                   help="predictions file: CSV, Parquet or NPZ (exchange format)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--drop-invalid", action="store_true",
                   help="drop rows with NaN/inf values (counted in a warning)")
    p.add_argument("--softmax", action="store_true",
                   help="the p_* columns hold logits: apply a softmax")


def _add_user_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "your model", "predict with your own model file(s) on --dataset folder:DIR instead of "
        "training; flags below win over model.json; --methods all = every method that applies "
        "(softmax, temperature, tta, mc_dropout, ensemble); --corruptions as above (all = 80 "
        "corrupted copies of the test part; gaussian_noise is 5)")
    g.add_argument("--model", action="append", default=None, metavar="PATH",
                   help="TorchScript (.pt), exported program (.pt2) or ONNX file; repeat for "
                        "an ensemble of checkpoints")
    g.add_argument("--ood", default=None, metavar="folder:DIR",
                   help="a folder of out-of-distribution images")
    g.add_argument("--model-config", default=None, metavar="JSON",
                   help="the model's config (default: model.json next to the model)")
    g.add_argument("--input-size", type=int, nargs=2, default=None, metavar=("H", "W"))
    g.add_argument("--channels", type=int, default=None, help="1 or 3")
    g.add_argument("--mean", type=float, nargs="+", default=None, help="one per channel")
    g.add_argument("--std", type=float, nargs="+", default=None, help="one per channel")
    g.add_argument("--classes", default=None, help="comma-separated; output i is class i")
    g.add_argument("--outputs", choices=["logits", "probabilities"], default=None)
    g.add_argument("--features-output", default=None,
                   help="index or name of the output with penultimate features")
    g.add_argument("--flips-preserve-label", action="store_true", default=None,
                   help="a mirrored image keeps its class (test-time augmentation flips)")
    g.add_argument("--tta-samples", type=int, default=8, help="test-time augmentation passes")
    g.add_argument("--cal-fraction", type=float, default=0.3,
                   help="share of each class's images kept to calibrate")
    g.add_argument("--batch-size", type=int, default=64, help="images per batch")
    g.add_argument("--bf16", action="store_true",
                   help="bf16 autocast on CUDA (TorchScript and .pt2 only)")


def _add_launch_options(p) -> None:
    p.add_argument("--accelerator", default="cpu", help="cpu (gloo), cuda (NCCL) or auto")
    p.add_argument("--devices", default="1", help="processes per node (GPUs per node on cuda); "
                                                  "the results do not depend on it")
    p.add_argument("--num-nodes", default="1", help="machines taking part (torchrun or SLURM; "
                                                    "--out must be a folder rank 0 sees)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m uqviz",
                                     description="uqviz: see when an image classifier does not "
                                                 "know. Headless commands.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train (and cache) methods on a dataset")
    _add_run_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("ship-weights", help="train the default's networks from scratch and "
                                            "write them to assets/weights (float16, hashed)")
    p.add_argument("--dataset", default="digits", help="a built-in dataset (default digits)")
    p.set_defaults(func=cmd_ship_weights)

    p = sub.add_parser("evaluate", help="train what is not cached, predict on test, corrupted "
                                        "and OOD sets, write predictions.parquet and "
                                        "metrics.json, and predictions.npz with the logits and "
                                        "features (for metrics' OOD scores: max_logit, energy, "
                                        "gen, knn, vim, mahalanobis, relative_mahalanobis)")
    _add_run_options(p)
    p.add_argument("--out", required=True,
                   help="output directory: predictions.parquet, metrics.json and, when the "
                        "methods give logits or features, predictions.npz (python -m uqviz "
                        "metrics OUT/predictions.npz --json prints the OOD scores from them)")
    p.add_argument("--corruptions", default=None,
                   help="comma-separated corruption names, or all (default)")
    _add_user_model_options(p)
    g = p.add_argument_group("scale (with --model)", "predict your model on several processes, "
                             "GPUs or nodes (Lightning Fabric; torchrun and SLURM as for "
                             "precompute): the images' batches are shared out, the files are "
                             "the same for any number of processes")
    _add_launch_options(g)
    p.set_defaults(func=cmd_evaluate, corruptions_default="all")

    p = sub.add_parser("metrics", help="metrics of a predictions file")
    _add_file_options(p)
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("conformal", help="split conformal prediction sets on a predictions file")
    _add_file_options(p)
    p.add_argument("--alpha", type=float, default=0.1, help="miscoverage level α")
    p.add_argument("--score", choices=["lac", "aps", "raps"], default="lac")
    p.add_argument("--cal-fraction", type=float, default=0.5,
                   help="share of labelled rows used for calibration")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration split")
    p.add_argument("--non-randomized", action="store_true",
                   help="APS/RAPS without the randomized tie-break")
    p.add_argument("--lam", type=float, default=0.01, help="RAPS λ")
    p.add_argument("--k-reg", type=int, default=5, help="RAPS k_reg")
    p.add_argument("--class-conditional", action="store_true",
                   help="one threshold per class (Mondrian sets): coverage >= 1 − α within "
                        "every class, not only on average")
    p.set_defaults(func=cmd_conformal)

    p = sub.add_parser("referral", help="a referral threshold with a guarantee on a "
                       "predictions file: accuracy on automated cases >= A with probability "
                       ">= confidence (Learn then Test)")
    _add_file_options(p, file_optional=True)  # or --model … --dataset folder:DIR
    p.add_argument("--method", default=None, help="the method (default: the file's first)")
    p.add_argument("--score", default="max_prob",
                   help="the score thresholded: a probability score (max_prob, entropy …) or "
                        "a logit or feature score (max_logit, energy, gen; knn, vim, "
                        "mahalanobis, relative_mahalanobis, fitted on the rows of group "
                        "'fit'); --out takes probability and logit scores only")
    p.add_argument("--target-accuracy", type=float, default=None,
                   help="A: the accuracy to guarantee on automated cases")
    p.add_argument("--class-target", action="append", default=None,
                   metavar="CLASS:METRIC:LEVEL",
                   help="a per-class target on the automated cases, e.g. 3:recall:0.95 or "
                        "cat:precision:0.9 (CLASS a name or 0-based index); repeat for several; "
                        "certified together with --target-accuracy when given")
    p.add_argument("--confidence", type=float, default=0.95, help="1 − δ")
    p.add_argument("--calibration-share", type=float, default=0.5,
                   help="share of the labelled rows used to choose (1: all; no held-out "
                        "figures)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration split")
    p.add_argument("--guarantee-method", default="ltt_fallback",
                   help="how the threshold is certified: ltt_fallback (Learn then Test with "
                        "fallback testing, the default), ltt_fixed_sequence or sgr (selection "
                        "with guaranteed risk)")
    p.add_argument("--out", default=None, metavar="JSON",
                   help="write the policy triage runs (with the model files' SHA-256 and "
                        "model.json when the file is evaluate --model's)")
    from uqviz.cli_triage import add_referral_model_options

    add_referral_model_options(p)
    p.set_defaults(func=cmd_referral)

    p = sub.add_parser("embed", help="UMAP of one method's penultimate-layer features on test, "
                                     "corrupted and OOD rows, cached for the embedding map "
                                     "(trains what is not cached)")
    p.add_argument("--dataset", default="digits",
                   help="digits, mnist5k, mnist, fashion_mnist, cifar10, svhn or folder:PATH")
    p.add_argument("--method", default="softmax", help="one method id (default softmax)")
    p.add_argument("--features", default=None,
                   help="embed an (N, D) .npy array instead of a dataset's features")
    p.add_argument("--corruptions", default="gaussian_noise",
                   help="corrupted rows to embed, as the dashboard (default gaussian_noise)")
    p.add_argument("--data-dir", default=None, help="where torchvision datasets live")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the train/val/test split")
    p.add_argument("--seed", type=int, default=0, help="seed of the UMAP layout")
    p.add_argument("--n-neighbors", type=int, default=15, help="UMAP neighbourhood size")
    p.add_argument("--min-dist", type=float, default=0.1, help="UMAP minimum distance")
    p.add_argument("--max-points", type=int, default=20_000,
                   help="rows above this are sampled (seeded)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("report", help="one self-contained HTML report (opens offline) from a "
                                      "dataset (trains what is not cached) or a predictions file")
    p.add_argument("file", nargs="?", default=None,
                   help="predictions file (CSV, Parquet, NPZ); omit to use --dataset")
    _add_run_options(p)
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--corruptions", default=None,
                   help="corruptions to predict on when training (default gaussian_noise)")
    p.add_argument("--alpha", type=float, default=0.1, help="conformal miscoverage α")
    p.add_argument("--score", choices=["lac", "aps", "raps"], default="lac",
                   help="conformal score")
    p.add_argument("--drop-invalid", action="store_true", help="as for metrics")
    p.add_argument("--softmax", action="store_true", help="as for metrics")
    p.set_defaults(func=cmd_report, corruptions_default="gaussian_noise")

    p = sub.add_parser("precompute", help="evaluate on several processes, GPUs or nodes "
                                          "(Lightning Fabric, DDP): predictions.parquet, "
                                          "predictions.npz and metrics.json as evaluate writes "
                                          "them; a built-in dataset or --model")
    _add_run_options(p)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--corruptions", default=None,
                   help="comma-separated corruption names, or all (default)")
    _add_launch_options(p)
    p.add_argument("--precision", default="32",
                   help="32 or bf16-mixed (with --model: as --bf16)")
    p.add_argument("--chunk-rows", default="2048",
                   help="most rows per prediction shard (the unit of row work; with --model the "
                        "unit is a batch of --batch-size images)")
    _add_user_model_options(p)
    p.set_defaults(func=cmd_precompute, corruptions_default="all")

    from uqviz.cli_triage import add_team_parser, add_triage_parser

    add_triage_parser(sub)
    add_team_parser(sub)

    from uqviz.cli_monitor import add_estimate_parser, add_monitor_parser

    add_monitor_parser(sub)
    add_estimate_parser(sub)
    return parser


def uses_torch(args: argparse.Namespace) -> bool:
    """Whether the command runs torch. Those that only read a predictions file (``metrics``,
    ``conformal``, ``referral``, ``report FILE``) or a features array (``embed --features``)
    import no torch: loading it and its compiler was most of their run (benchmarks/RESULTS.md,
    "Command line on a predictions file")."""
    if args.command in ("metrics", "conformal", "referral", "team", "monitor", "estimate"):
        return bool(getattr(args, "model", None))  # referral --model predicts
    if args.command == "report":
        return args.file is None
    if args.command == "embed":
        return args.features is None
    return True


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _BARS.clear()
    _DRAWN["since_newline"] = False
    try:
        if uses_torch(args):
            from uqviz.device import configure_threads

            configure_threads()  # one thread unless UQVIZ_TORCH_THREADS says more (RESULTS.md)
        _apply_preset(args)
        if getattr(args, "corruptions", "") is None:
            args.corruptions = args.corruptions_default
        return args.func(args)
    except KeyboardInterrupt:
        note("interrupted")
        return 130
    except Exception as err:  # every user error ends as one line, never a traceback
        note(f"error: {_one_line(err)}")
        return EXIT_BAD_INPUT


def _one_line(err: Exception) -> str:
    """The error in one line; an ``OSError`` named by its file's name (never a temporary
    folder's path) and without its ``[Errno N]``."""
    text = str(err).strip() or type(err).__name__
    if isinstance(err, OSError):
        reason = ("no such file" if isinstance(err, FileNotFoundError)
                  else err.strerror or text)
        reason = reason[:1].lower() + reason[1:]
        text = f"{Path(str(err.filename)).name}: {reason}" if err.filename else reason
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
