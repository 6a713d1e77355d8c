"""Benchmarks of the uqviz core: batched vs looped inference, training time, metric time.

Usage::

    .venv/bin/python benchmarks/bench_core.py [--quick] [--device cpu|cuda] [--json OUT]
                                               [--sections 1,2,3,4]

Sections (see benchmarks/README.md):

1. ``uqviz.inference.ensemble_logits`` with ``batched=True`` (vmap over stacked parameters) and
   ``batched=False`` (a loop over members): K = 5 networks over N images.
2. ``uqviz.inference.mc_dropout_logits`` batched (inputs repeated T times in one pass) and
   looped (T passes), T = 30.
3. Training time (``Method.fit``) of every method on ``digits`` and ``mnist5k``, each method with
   its own empty temporary ``UQVIZ_CACHE`` so nothing is read from the cache.
4. Time of ``uqviz.metrics.summary.method_summary`` and, separately, of the bootstrap intervals
   (``bootstrap_classification_cis``, ``bootstrap_ood_auroc_ci``) on synthetic Dirichlet
   predictions of 10k, 100k and 1M rows × 10 classes (numpy on the CPU whatever the device).

Timing: ``time.perf_counter`` on the CPU; on CUDA ``torch.cuda.synchronize()`` and CUDA events.
Each row reports the median and the 90th percentile of the timed runs after warm-up runs.
Without ``--device`` the CPU runs, then CUDA when present ("CUDA: not available, skipped"
otherwise). Threads come from ``UQVIZ_TORCH_THREADS`` (default 1). Results are printed as
Markdown tables and saved as JSON (``--json``, default ``benchmarks/results/<tag>.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout, uqviz not installed
    sys.path.insert(0, str(REPO_ROOT))

from uqviz.cache import CACHE_ENV  # noqa: E402
from uqviz.device import THREADS_ENV, configure_threads  # noqa: E402
from uqviz.inference import (  # noqa: E402
    DEFAULT_BATCH,
    MAX_ROWS_PER_PASS,
    ensemble_logits,
    mc_dropout_logits,
)
from uqviz.models import build_model  # noqa: E402

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
MEMBERS = 5
MC_SAMPLES = 30
NUM_CLASSES = 10
ALL_SECTIONS = (1, 2, 3, 4)


# -- settings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """One inference workload: a network architecture on inputs of one shape.

    Attributes:
        name: short label for the table.
        arch: ``small_cnn`` or ``resnet18`` (``uqviz.models``).
        input_shape: (C, H, W).
        n_images: N, the number of input images per timed call.
    """

    name: str
    arch: str
    input_shape: tuple[int, int, int]
    n_images: int


@dataclass(frozen=True)
class Settings:
    """Repeats and workload sizes for one device and mode."""

    repeats: int
    warmup: int
    ensemble: tuple[Workload, ...]
    mc_dropout: tuple[Workload, ...]
    train_all_on_mnist5k: bool
    metric_rows: tuple[int, ...]
    bootstrap_resamples: dict[int, int]


def settings_for(device: torch.device, quick: bool) -> Settings:
    """Workloads sized so the full CPU run stays near 10 minutes on one thread."""
    rows = (10_000, 100_000, 1_000_000)
    resamples = {10_000: 1000, 100_000: 100, 1_000_000: 4}
    if device.type == "cuda":
        return Settings(
            repeats=20, warmup=3,
            ensemble=(Workload("small CNN 8×8", "small_cnn", (1, 8, 8), 20_000),
                      Workload("small CNN 28×28", "small_cnn", (1, 28, 28), 20_000),
                      Workload("ResNet-18 32×32×3", "resnet18", (3, 32, 32), 4096)),
            mc_dropout=(Workload("small CNN 8×8", "small_cnn", (1, 8, 8), 20_000),
                        Workload("small CNN 28×28", "small_cnn", (1, 28, 28), 20_000),
                        Workload("ResNet-18 32×32×3", "resnet18", (3, 32, 32), 4096)),
            train_all_on_mnist5k=True, metric_rows=rows, bootstrap_resamples=resamples,
        )
    small = [Workload("small CNN 8×8", "small_cnn", (1, 8, 8), 1000),
             Workload("small CNN 28×28", "small_cnn", (1, 28, 28), 1000)]
    if not quick:
        small.append(Workload("ResNet-18 32×32×3", "resnet18", (3, 32, 32), 16))
    return Settings(
        repeats=3 if quick else 10, warmup=1,
        ensemble=tuple(small),
        mc_dropout=tuple(small),
        train_all_on_mnist5k=not quick, metric_rows=rows, bootstrap_resamples=resamples,
    )


# -- timing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Seconds of the timed runs (after ``warmup`` untimed runs), their median and p90."""

    median_s: float
    p90_s: float
    runs: int
    warmup: int
    times_s: tuple[float, ...]


def _time_one(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000.0
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def _timing(times: list[float], warmup: int) -> Timing:
    values = np.asarray(times)
    return Timing(float(np.median(values)), float(np.percentile(values, 90)), len(times), warmup,
                  tuple(float(t) for t in values))


def measure(fn: Callable[[], object], device: torch.device, *, repeats: int,
            warmup: int) -> Timing:
    """Time ``fn``: perf_counter on the CPU, synchronize + CUDA events on CUDA."""
    return measure_interleaved({"fn": fn}, device, repeats=repeats, warmup=warmup)["fn"]


def measure_interleaved(fns: dict[str, Callable[[], object]], device: torch.device, *,
                        repeats: int, warmup: int) -> dict[str, Timing]:
    """Time several variants in alternation (A, B, A, B, ...) after ``warmup`` runs of each, so
    that load from other processes on a shared machine falls on all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_time_one(fn, device))
    return {name: _timing(values, warmup) for name, values in times.items()}


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other processes on a shared machine)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call (long jobs such as training: no repeats)."""
    return measure(fn, device, repeats=1, warmup=0).median_s


def fmt_s(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- networks and inputs -----------------------------------------------------------------------
def networks(workload: Workload, count: int, seed: int = 0) -> list[torch.nn.Module]:
    """``count`` untrained networks of one architecture (timing does not depend on weights)."""
    nets = []
    with torch.random.fork_rng(devices=[]):
        for k in range(count):
            torch.manual_seed(seed + 7919 * k)
            nets.append(build_model(workload.arch, workload.input_shape, NUM_CLASSES,
                                    dropout=0.25).eval())
    return nets


def images(workload: Workload, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((workload.n_images, *workload.input_shape), generator=generator)


# -- sections ----------------------------------------------------------------------------------
def bench_ensemble(device: torch.device, s: Settings) -> list[dict]:
    rows = []
    for w in s.ensemble:
        nets, x = networks(w, MEMBERS), images(w)
        load_before = load_average()
        results = measure_interleaved(
            {"batched": partial(ensemble_logits, nets, x, device, batched=True),
             "looped": partial(ensemble_logits, nets, x, device, batched=False)},
            device, repeats=s.repeats, warmup=s.warmup)
        rows.append({"load_average_before": load_before, "load_average_after": load_average(),
                     "workload": w.name, "arch": w.arch, "input_shape": list(w.input_shape),
                     "members": MEMBERS, "n_images": w.n_images, "batch_size": DEFAULT_BATCH,
                     "batched": asdict(results["batched"]), "looped": asdict(results["looped"]),
                     "ratio_looped_over_batched":
                         results["looped"].median_s / results["batched"].median_s})
    return rows


def bench_mc_dropout(device: torch.device, s: Settings) -> list[dict]:
    rows = []
    for w in s.mc_dropout:
        net, x = networks(w, 1)[0], images(w)
        load_before = load_average()
        results = measure_interleaved(
            {name: partial(mc_dropout_logits, net, x, device, samples=MC_SAMPLES, seed=0,
                           batched=batched)
             for name, batched in (("batched", True), ("looped", False))},
            device, repeats=s.repeats, warmup=s.warmup)
        per_pass = max(1, min(DEFAULT_BATCH, MAX_ROWS_PER_PASS // MC_SAMPLES))
        rows.append({"load_average_before": load_before, "load_average_after": load_average(),
                     "workload": w.name, "arch": w.arch, "input_shape": list(w.input_shape),
                     "samples": MC_SAMPLES, "n_images": w.n_images,
                     "batched_images_per_pass": per_pass, "looped_batch_size": DEFAULT_BATCH,
                     "batched": asdict(results["batched"]), "looped": asdict(results["looped"]),
                     "ratio_looped_over_batched":
                         results["looped"].median_s / results["batched"].median_s})
    return rows


def _append_call(out: list, fn: Callable, *args: object) -> None:
    out.append(fn(*args))


def bench_training(device: torch.device, s: Settings) -> list[dict]:
    from uqviz.data import get_dataset
    from uqviz.methods import METHOD_IDS, MethodConfig, get_method

    config = MethodConfig()
    rows = []
    saved_cache = os.environ.get(CACHE_ENV)
    try:
        for name in ("digits", "mnist5k"):
            spec = get_dataset(name)
            data = spec.load(0)
            method_ids = METHOD_IDS if (name == "digits" or s.train_all_on_mnist5k) else (
                "softmax",)
            for method_id in method_ids:
                with tempfile.TemporaryDirectory(prefix="uqviz-bench-") as cache_dir:
                    os.environ[CACHE_ENV] = cache_dir
                    method = get_method(method_id, config)
                    fit_s = once(partial(method.fit, spec, data, device), device)
                    outputs = []
                    predict_s = once(partial(_append_call, outputs, method.predict, data.test_x,
                                             device), device)
                probs = outputs[0].probs
                accuracy = float((probs.mean(0).argmax(1) == data.test_y.numpy()).mean())
                rows.append({"dataset": name, "method": method_id, "n_train": len(data.train_y),
                             "n_test": len(data.test_y),
                             "epochs": config.train.epochs_for(len(data.train_y)),
                             "batch_size": config.train.batch_size,
                             "members": config.members, "mc_samples": config.mc_samples,
                             "batched_inference": config.use_batched(device),
                             "fit_s": fit_s, "predict_test_s": predict_s,
                             "test_accuracy": accuracy})
    finally:
        if saved_cache is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = saved_cache
    return rows


def synthetic_predictions(n_rows: int, seed: int = 0):
    """N rows × 10 classes: 90% labelled test rows drawn from Dirichlet(0.3) with labels sampled
    from their own probabilities (calibrated), 10% OOD rows from a flatter Dirichlet(1)."""
    from uqviz.predictions import Predictions

    rng = np.random.default_rng(seed)
    n_ood = n_rows // 10
    n_in = n_rows - n_ood
    probs_in = rng.dirichlet(np.full(NUM_CLASSES, 0.3), size=n_in)
    probs_out = rng.dirichlet(np.full(NUM_CLASSES, 1.0), size=n_ood)
    draws = rng.random(n_in)[:, None]
    labels_in = np.minimum((np.cumsum(probs_in, axis=1) < draws).sum(axis=1), NUM_CLASSES - 1)
    probs = np.concatenate([probs_in, probs_out]).astype(np.float32)
    labels = np.concatenate([labels_in, np.full(n_ood, -1)]).astype(np.int64)
    group = np.array(["test"] * n_in + ["ood:synthetic"] * n_ood, dtype=object)
    return Predictions(probs[None], labels, group)


def bench_metrics(s: Settings, repeats: int, warmup: int) -> list[dict]:
    from uqviz.metrics.bootstrap import bootstrap_classification_cis, bootstrap_ood_auroc_ci
    from uqviz.metrics.scores import uncertainty
    from uqviz.metrics.summary import OOD_TABLE_SCORE, method_summary

    cpu = torch.device("cpu")
    rows = []
    for n_rows in s.metric_rows:
        p = synthetic_predictions(n_rows)
        scored = p.labelled_in_distribution()
        ood = p.ood_rows()
        probs_in = scored.probs[0]
        u_in = uncertainty(scored.probs, OOD_TABLE_SCORE)
        u_out = uncertainty(ood.probs, OOD_TABLE_SCORE)
        resamples = s.bootstrap_resamples[n_rows]
        summary = measure(partial(method_summary, p), cpu, repeats=repeats, warmup=warmup)
        classification = measure(
            partial(bootstrap_classification_cis, probs_in, scored.labels, n_resamples=resamples,
                    seed=0),
            cpu, repeats=repeats, warmup=warmup)
        ood_ci = measure(partial(bootstrap_ood_auroc_ci, u_in, u_out, n_resamples=resamples,
                                 seed=0),
                         cpu, repeats=repeats, warmup=warmup)
        rows.append({"rows": n_rows, "in_distribution_rows": scored.n, "ood_rows": ood.n,
                     "classes": NUM_CLASSES, "samples": 1, "method_summary": asdict(summary),
                     "bootstrap_resamples": resamples,
                     "bootstrap_classification_cis": asdict(classification),
                     "bootstrap_ood_auroc_ci": asdict(ood_ci)})
    return rows


# -- reporting ---------------------------------------------------------------------------------
def ensemble_table(rows: list[dict], label: str) -> str:
    header = ["workload", "N", label, "batched median", "batched p90", "looped median",
              "looped p90", "looped / batched"]
    body = []
    for r in rows:
        count = r.get("members", r.get("samples"))
        body.append([r["workload"], str(r["n_images"]), str(count),
                     fmt_s(r["batched"]["median_s"]), fmt_s(r["batched"]["p90_s"]),
                     fmt_s(r["looped"]["median_s"]), fmt_s(r["looped"]["p90_s"]),
                     f"{r['ratio_looped_over_batched']:.2f}×"])
    return markdown_table(header, body)


def training_table(rows: list[dict]) -> str:
    header = ["dataset", "method", "train rows", "epochs", "fit (train)", "predict test",
              "test accuracy"]
    body = [[r["dataset"], r["method"], str(r["n_train"]), str(r["epochs"]), fmt_s(r["fit_s"]),
             fmt_s(r["predict_test_s"]), f"{r['test_accuracy']:.3f}"] for r in rows]
    return markdown_table(header, body)


def metrics_table(rows: list[dict]) -> str:
    header = ["rows (10% OOD)", "method_summary median", "p90", "bootstrap resamples R",
              "classification CIs median", "p90", "OOD AUROC CI median", "p90",
              "both CIs per 1000 resamples (extrapolated)"]
    body = []
    for r in rows:
        cls, ood = r["bootstrap_classification_cis"], r["bootstrap_ood_auroc_ci"]
        per_1000 = (cls["median_s"] + ood["median_s"]) * 1000 / r["bootstrap_resamples"]
        body.append([f"{r['rows']:,}", fmt_s(r["method_summary"]["median_s"]),
                     fmt_s(r["method_summary"]["p90_s"]), str(r["bootstrap_resamples"]),
                     fmt_s(cls["median_s"]), fmt_s(cls["p90_s"]), fmt_s(ood["median_s"]),
                     fmt_s(ood["p90_s"]), fmt_s(per_1000)])
    return markdown_table(header, body)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> dict:
    """The checkout's commit and whether ``uqviz/`` has uncommitted changes (None without git)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    status = git("status", "--porcelain", "--", "uqviz")
    return {"commit": git("rev-parse", "HEAD"),
            "uqviz_modified": None if status is None else bool(status)}


def environment(device: torch.device, threads: int, quick: bool) -> dict:
    info = {
        "git": git_revision(),
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": device.type,
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else cpu_model()),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "uqviz_torch_threads_env": os.environ.get(THREADS_ENV),
        "configured_threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "dtype": "bfloat16 autocast (float32 weights)" if device.type == "cuda" else "float32",
        "quick": quick,
    }
    return info


def run_device(device: torch.device, sections: tuple[int, ...], quick: bool,
               threads: int) -> dict:
    s = settings_for(device, quick)
    env = environment(device, threads, quick)
    print(f"\n## {device.type.upper()}: {env['device_name']}, torch threads "
          f"{env['torch_threads']}, dtype {env['dtype']}")
    print(f"Timed runs per row: {s.repeats} after {s.warmup} warm-up run(s)"
          + (" (--quick: fewer runs)" if quick else "") + "; median and p90.")
    result: dict = {"environment": env, "repeats": s.repeats, "warmup": s.warmup}
    if 1 in sections:
        print(f"\n### 1. Ensemble inference, K = {MEMBERS}, batch {DEFAULT_BATCH} "
              "(uqviz.inference.ensemble_logits)")
        if device.type == "cpu" and quick:
            print("ResNet-18 32×32×3 skipped on the CPU in --quick mode.")
        rows = bench_ensemble(device, s)
        result["ensemble"] = rows
        print(ensemble_table(rows, "K"), flush=True)
    if 2 in sections:
        per_pass = max(1, min(DEFAULT_BATCH, MAX_ROWS_PER_PASS // MC_SAMPLES))
        print(f"\n### 2. MC dropout, T = {MC_SAMPLES} (uqviz.inference.mc_dropout_logits: "
              "the conv trunk runs once per image, only the tail after it is sampled; "
              f"batched: the trunk output of {per_pass} images repeated T times in one tail "
              f"pass; looped: T tail passes per batch of {DEFAULT_BATCH})")
        if device.type == "cpu" and quick:
            print("ResNet-18 32×32×3 skipped on the CPU in --quick mode.")
        rows = bench_mc_dropout(device, s)
        result["mc_dropout"] = rows
        print(ensemble_table(rows, "T"), flush=True)
    if 3 in sections:
        print("\n### 3. Training time per method (Method.fit, empty temporary cache each; "
              "one run each)")
        if not s.train_all_on_mnist5k:
            print("--quick: only softmax is trained on mnist5k.")
        rows = bench_training(device, s)
        result["training"] = rows
        print(training_table(rows), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer timed runs on the CPU, no CPU ResNet-18, softmax only on "
                             "mnist5k")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="one device only (default: the CPU, then CUDA when present)")
    parser.add_argument("--json", type=Path, default=None, help="where to save the JSON results")
    parser.add_argument("--sections", default="1,2,3,4",
                        help="comma-separated sections to run (default 1,2,3,4)")
    args = parser.parse_args(argv)
    try:
        sections = tuple(sorted({int(x) for x in args.sections.split(",") if x.strip()}))
    except ValueError:
        parser.error(f"--sections must be numbers among {ALL_SECTIONS}, got {args.sections!r}")
    if not sections or not set(sections) <= set(ALL_SECTIONS):
        parser.error(f"--sections must be numbers among {ALL_SECTIONS}, got {args.sections!r}")

    threads = configure_threads()
    started = time.perf_counter()
    report: dict = {"sections": list(sections), "quick": args.quick, "devices": {}}
    print(f"# uqviz core benchmark ({dt.date.today().isoformat()}), "
          f"{platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
          f"{THREADS_ENV}={os.environ.get(THREADS_ENV, '(unset: 1)')}")

    device_sections = tuple(x for x in sections if x in (1, 2, 3))
    wanted = [args.device] if args.device else ["cpu", "cuda"]
    for name in wanted:
        if name == "cuda" and not torch.cuda.is_available():
            print("\nCUDA: not available, skipped")
            report["devices"]["cuda"] = {"skipped": "CUDA not available"}
            continue
        if device_sections:
            report["devices"][name] = run_device(torch.device(name), device_sections,
                                                 args.quick, threads)

    if 4 in sections:
        cpu_settings = settings_for(torch.device("cpu"), args.quick)
        print(f"\n### 4. Metrics on synthetic Dirichlet predictions, S = 1, {NUM_CLASSES} "
              f"classes (numpy, CPU); {cpu_settings.repeats} timed runs after "
              f"{cpu_settings.warmup} warm-up" + (" (--quick)" if args.quick else ""))
        rows = bench_metrics(cpu_settings, cpu_settings.repeats, cpu_settings.warmup)
        report["metrics"] = {"repeats": cpu_settings.repeats, "warmup": cpu_settings.warmup,
                             "rows": rows}
        print(metrics_table(rows), flush=True)

    report["wall_s"] = time.perf_counter() - started
    out = args.json
    if out is None:
        tag = args.device or ("cpu+cuda" if torch.cuda.is_available() else "cpu")
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = RESULTS_DIR / (f"core_{tag}_{threads}t{'_quick' if args.quick else ''}"
                             f"_{stamp}.json")
    save_report(report, out)
    return 0


def save_report(report: dict, out: Path) -> None:
    """Write the JSON report and print the run's wall time and where the file went."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWhole run: {fmt_s(report['wall_s'])}. JSON saved to {out}")


if __name__ == "__main__":
    sys.exit(main())
