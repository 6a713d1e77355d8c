"""Command line: ``triage`` (a policy applied to new images, the review queue written) and
``team`` (the model's, the reviewers' and the team's accuracy from reviewed labels).

The arithmetic lives in ``uqviz.triage`` and ``uqviz.team``; this module parses, calls and
prints. ``team`` reads CSVs only and imports no torch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from uqviz.formatting import json_ready


def _cli_error(message: str) -> Exception:
    """A user error: ``uqviz.__main__.main`` prints it as one line and exits 2 (a ValueError:
    importing ``CliError`` from ``uqviz.__main__`` would make an import cycle)."""
    return ValueError(message)


def _note(text: str) -> None:
    """One line on stderr (triage draws no progress bar, so none is open)."""
    print(text, file=sys.stderr)


def _triage_launch(args: argparse.Namespace):
    from uqviz.precompute import LaunchConfig, parse_count

    return LaunchConfig(accelerator=args.accelerator,
                        devices=parse_count("--devices", args.devices),
                        num_nodes=parse_count("--num-nodes", args.num_nodes))


def _check_triage_inputs(args: argparse.Namespace) -> None:
    """``--images`` (your model's new images) or ``--dataset [--group]`` (the built-in demo):
    one of the two, each with what goes with it."""
    if (args.images is None) == (args.demo_dataset is None):
        raise _cli_error("give --images DIR|ZIP (with --model), or --dataset NAME --group G "
                         "(the built-in demo), not " + ("both" if args.images else "neither"))
    if args.demo_group is not None and args.demo_dataset is None:
        raise _cli_error("--group goes with --dataset (the built-in demo)")
    if args.demo_dataset is not None and (args.model or args.model_config):
        raise _cli_error("--model and --model-config go with --images; --dataset runs the "
                         "built-in method's own networks")


def cmd_triage(args: argparse.Namespace) -> int:
    """``triage --policy P --model M … --images DIR|ZIP --out OUT`` or ``triage --policy P
    --dataset NAME --group G --out OUT`` (``uqviz.triage``)."""
    from uqviz.policy import load
    from uqviz.triage import DemoTriage, Triage, opened_images, run_on_processes, write_outputs

    _check_triage_inputs(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise _cli_error(f"--out {out}: exists and is not a directory")
    try:
        launch = _triage_launch(args)
        policy = load(args.policy)
        if args.demo_dataset is not None:
            triage = DemoTriage.create(policy, args.demo_dataset, args.demo_group or "test",
                                       batch_size=args.batch_size)
        else:
            triage = Triage.create(policy, args.model or [], config=args.model_config,
                                   batch_size=args.batch_size)
    except ValueError as err:
        raise _cli_error(str(err)) from None
    one_process = launch.world_size == 1 and launch.accelerator == "cpu"
    if args.demo_dataset is not None:
        try:
            images = triage.scan()
            shown = f"{args.demo_dataset} {triage.group}"
            if one_process:
                summary = write_outputs(out, triage.batches(images), triage.classes, policy,
                                        None, source=shown, pictures=images.picture)
            else:
                summary = run_on_processes(triage, images, out, launch, source=shown)
        except ValueError as err:
            raise _cli_error(str(err)) from None
        finally:
            triage.close()
        return _print_triage(summary, out)
    try:
        with opened_images(args.images) as root:
            images = triage.scan(root)
            shown = Path(args.images).name
            if one_process:
                summary = write_outputs(out, triage.batches(images), triage.classes, policy,
                                        root, source=shown)
            else:
                summary = run_on_processes(triage, images, out, launch, source=shown)
    except ValueError as err:
        raise _cli_error(str(err).replace(str(Path(args.images).resolve()),
                                          Path(args.images).name)) from None
    finally:
        triage.close()
    return _print_triage(summary, out)


def _print_triage(summary: dict | None, out: Path) -> int:
    if summary is None:
        return 0  # not global rank 0: rank 0 writes the outputs
    if summary["skipped"]:
        first = summary["skipped"][0]
        _note(f"warning: skipped {len(summary['skipped'])} unreadable image(s) of "
              f"{summary['images']} (first: {first['id']}: {first['why']}); listed in "
              "summary.json")
    if summary["shift_warning"]:
        _note(f"warning: {summary['shift_warning']}")
    if summary.get("guarantee_warning"):
        _note(f"warning: {summary['guarantee_warning']}")
    lo, hi = summary["referred_share_ci95"]
    print(f"{summary['decided']:,} images: {summary['automated']:,} automated, "
          f"{summary['referred']:,} referred ({100 * summary['referred_share']:.1f}%, 95% "
          f"interval {100 * lo:.1f}–{100 * hi:.1f}%) -> {out}")
    return 0


def _target(summary_path: Path) -> tuple[float | None, list[str] | None]:
    """The guarantee's target and the classes from ``summary.json`` beside the decisions."""
    if not summary_path.is_file():
        return None, None
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        policy = summary["policy"]  # what the threshold guarantees (its target if certified)
        target = policy.get("guaranteed_accuracy", policy.get("target_accuracy"))
        return target, list(summary["classes"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _cli_error(f"{summary_path.name}: not the summary.json triage writes") from None


def cmd_team(args: argparse.Namespace) -> int:
    """``team OUT/decisions.csv --labels reviewed.csv`` (``uqviz.team``)."""
    from uqviz.team import read_decisions, read_labels, team_report

    decisions_path = Path(args.decisions)
    try:
        decisions = read_decisions(decisions_path)
        target, classes = _target(decisions_path.with_name("summary.json"))
        if args.policy:
            from uqviz.policy import load

            policy = load(args.policy)
            from uqviz.policy import guaranteed_accuracy

            target = guaranteed_accuracy(policy.guarantee) if policy.guarantee else target
            classes = list(policy.classes) if policy.classes else classes
        if classes is None:
            raise _cli_error(f"{decisions_path.name}: no summary.json beside it to name the "
                             "classes; give --policy")
        labels = read_labels(args.labels, decisions.ids, classes)
        second = (read_labels(args.second_opinion, decisions.ids, classes)
                  if args.second_opinion else None)
        report = team_report(decisions, labels, target=target, second_opinion=second,
                             reviewer_accuracy=args.reviewer_accuracy)
    except ValueError as err:
        raise _cli_error(str(err)) from None
    doc = json_ready(report.to_dict())
    if args.json:
        print(json.dumps(doc))
        return 0
    print(_team_text(report))
    return 0


def _pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.1f}%"


def _team_text(r) -> str:
    a, g = r.audited, r.guarantee
    lines = [f"{r.n:,} cases: {r.n_automated:,} automated, {r.n_referred:,} referred "
             f"({r.reviewed:,} of them reviewed)"]
    if a.n:
        target = "" if g.target is None else f" against the guarantee >= {_pct(g.target)}"
        lines.append(f"model on the audited automated cases: {_pct(a.accuracy)} of {a.n:,} "
                     f"[{_pct(a.ci95[0])}, {_pct(a.ci95[1])}]{target}: {g.verdict}")
    else:
        lines.append("model on the automated cases: no audit (label a random sample of them)")
    if r.reviewers is not None:
        lines.append(f"reviewers against the second opinion: {_pct(r.reviewers.accuracy)} of "
                     f"{r.reviewers.n:,}")
    people = "assumed" if r.reviewer_accuracy_assumed else "measured"
    lines.append(f"team: {_pct(r.team_accuracy)} [{_pct(r.team_ci95[0])}, "
                 f"{_pct(r.team_ci95[1])}] (people {_pct(r.reviewer_accuracy)}, {people})")
    return "\n".join(lines)




def add_triage_parser(sub) -> None:
    p = sub.add_parser("triage", help="apply a referral policy to new, unlabelled images: "
                                      "decisions.csv, review_queue.csv, review.zip, summary.json")
    p.add_argument("--policy", required=True, help="the policy JSON (referral --out, or the "
                                                   "Referral page's export)")
    p.add_argument("--model", action="append", default=None, metavar="PATH",
                   help="the model file(s) the policy was made for (repeat for an ensemble)")
    p.add_argument("--model-config", default=None, metavar="JSON",
                   help="the model's config (default: model.json next to the model)")
    p.add_argument("--images", default=None, metavar="DIR|ZIP",
                   help="a folder (nested folders too) or a .zip of images; no labels needed")
    p.add_argument("--dataset", default=None, metavar="NAME", dest="demo_dataset",
                   help="instead of --images, the built-in demo: a group of a built-in "
                        "dataset's rows (id = the row's position), decided by the built-in "
                        "method's own networks; the policy must have been exported for it")
    p.add_argument("--group", default=None, metavar="G", dest="demo_group",
                   help="with --dataset: test (default), a corruption and severity such as "
                        "brightness:5, or an OOD set such as ood:uniform_noise")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch-size", type=int, default=64,
                   help="images per batch (with --dataset rounded up to a multiple of 128, so "
                        "that MC dropout draws the masks of the whole group)")
    p.add_argument("--accelerator", default="cpu", help="cpu (gloo), cuda (NCCL) or auto")
    p.add_argument("--devices", default="1", help="processes per node (GPUs per node on cuda); "
                                                  "the decisions do not depend on it")
    p.add_argument("--num-nodes", default="1", help="machines taking part (torchrun or SLURM; "
                                                    "--out must be a folder all of them see)")
    p.set_defaults(func=cmd_triage)


def add_team_parser(sub) -> None:
    p = sub.add_parser("team", help="the model's, the reviewers' and the team's accuracy from "
                                    "reviewed labels (id,label) of a triage")
    p.add_argument("decisions", help="decisions.csv written by triage (summary.json beside it)")
    p.add_argument("--labels", required=True,
                   help="CSV id,label (class names): the referred cases and any audit sample of "
                        "the automated ones (review.zip's labels.csv filled in)")
    p.add_argument("--second-opinion", default=None, metavar="CSV",
                   help="an independent second review id,label of some of the same cases, taken "
                        "as the reference for the reviewers' accuracy")
    p.add_argument("--reviewer-accuracy", type=float, default=1.0,
                   help="the reviewers' accuracy assumed without a second opinion (default 1)")
    p.add_argument("--policy", default=None, help="the policy (when summary.json is not beside "
                                                  "decisions.csv)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_team)


def _recorded(predictions_file: Path) -> dict:
    """``metrics.json`` beside a predictions file (what ``evaluate`` wrote), or {}."""
    metrics = predictions_file.with_name("metrics.json")
    if not metrics.is_file() or metrics.stat().st_size > (16 << 20):
        return {}
    try:
        doc = json.loads(metrics.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _recorded_model(predictions_file: Path) -> dict | None:
    """The model record ``evaluate --model`` wrote in ``metrics.json`` beside its predictions
    file (``uqviz.triage.model_record``), or None."""
    model = _recorded(predictions_file).get("model")
    return model if isinstance(model, dict) else None


def _policy_dataset(predictions_file: Path, model: dict | None) -> str:
    """The dataset a policy from this file names: the built-in dataset ``evaluate --dataset
    NAME`` recorded beside it (so that ``triage --dataset NAME`` runs the policy), else the
    file's name."""
    dataset = _recorded(predictions_file).get("dataset")
    if model is None and isinstance(dataset, str) and dataset and ":" not in dataset:
        return dataset
    return predictions_file.name


def _json_policy(value):
    """NaN as None, ±inf as the largest float of that sign (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _json_policy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_policy(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and math.isinf(value):
        return math.copysign(1.7976931348623157e308, value)
    return value


def write_referral_policy(args: argparse.Namespace, method: str, loaded, result) -> Path:
    """``referral … --out policy.json``: the policy document (``uqviz.policy.policy_document``)
    at the certified threshold, its expected referred share measured on the held-out part (the
    calibration part when every row calibrated), with the model record of ``evaluate --model``
    when ``metrics.json`` beside the file has one."""
    from datetime import date

    from uqviz.policy import policy_document

    file = Path(str(args.file).removeprefix("folder:"))
    model = getattr(loaded, "model", None) or _recorded_model(file)
    classes = loaded.by_method[method].class_names
    if classes is None and model and model.get("config"):
        classes = model["config"].get("classes")
    doc = policy_document(dataset=_policy_dataset(file, model), method=method,
                          score=args.score, mode="target",
                          point=result.heldout or result.calibration,
                          when=date.today().isoformat(), guarantee=result.to_dict(),
                          classes=classes, model=model)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(json.dumps(_json_policy(doc), indent=2), encoding="utf-8")
    tmp.replace(out)
    _note(f"wrote {out}" + ("" if model else " (no model record: the policy will run on any "
                                               "model with the same classes)"))
    from uqviz.policy import guarantee_warning

    warning = guarantee_warning(doc.get("guarantee"))
    if warning:
        _note(f"warning: {warning}")
    return out


@dataclass(frozen=True)
class ModelPredictions:
    """``referral --model … --dataset folder:DIR``'s predictions, as ``read_predictions`` gives
    a file's (``by_method``), with the model record the policy keeps (``model``)."""

    by_method: dict
    model: dict
    warnings: tuple[str, ...] = ()


def model_predictions(args: argparse.Namespace) -> ModelPredictions:
    """Predict with ``--model`` on the labelled ``--dataset folder:DIR`` (the method asked, by
    default softmax; no corruptions, no OOD sets: the policy is set on the clean test part)."""
    from uqviz.runs import EvalPlan
    from uqviz.triage import model_record
    from uqviz.user_model import MethodSettings, ModelSource

    if not (args.dataset or "").startswith("folder:"):
        raise _cli_error(f"--model needs --dataset folder:DIR (labelled images), got "
                         f"{args.dataset}")
    method = args.method or "softmax"
    settings = MethodSettings(tta_samples=args.tta_samples, seed=args.seed,
                              cal_fraction=args.cal_fraction, batch_size=args.batch_size)
    source = ModelSource.create(args.model, args.dataset, config=args.model_config,
                                plan=EvalPlan(corruptions=(), ood_sets=()), settings=settings)
    why = source.why_not(method)
    if why:
        raise _cli_error(f"--method {method}: {why}")
    run = source.run([method])
    args.file = args.dataset  # messages name the folder
    args.method = method
    record = model_record(source.models, source.configs, temperature=run.temperature,
                          tta_samples=args.tta_samples, seed=args.seed)
    return ModelPredictions(run.predictions, record, tuple(run.warnings))


def add_referral_model_options(p: argparse.ArgumentParser) -> None:
    """``referral --model PATH [--model …] --dataset folder:DIR``: set the policy on a user's
    model and labelled images directly."""
    g = p.add_argument_group("your model", "instead of a predictions file: predict with your "
                             "model file(s) on labelled images (class sub-folders)")
    g.add_argument("--model", action="append", default=None, metavar="PATH",
                   help="TorchScript, .pt2 or ONNX file; repeat for an ensemble")
    g.add_argument("--model-config", default=None, metavar="JSON",
                   help="the model's config (default: model.json next to the model)")
    g.add_argument("--dataset", default=None, metavar="folder:DIR", help="labelled images")
    g.add_argument("--tta-samples", type=int, default=8, help="test-time augmentation passes")
    g.add_argument("--cal-fraction", type=float, default=0.3,
                   help="share of each class's images kept to fit temperature scaling")
    g.add_argument("--batch-size", type=int, default=64, help="images per batch")
