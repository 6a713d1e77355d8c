"""Speed on one device: the fast paths of ``uqviz.inference`` and ``uqviz.training``.

Usage::

    .venv/bin/python benchmarks/bench_gpu.py [--ci] [--device cpu|cuda] [--json OUT]
                                              [--sections ensemble,mc_dropout,...]

Sections (see benchmarks/README.md, "bench_gpu.py"):

- ``ensemble``: batched (vmap over stacked members) vs looped ensemble, K = 5, small CNN and
  ResNet-18;
- ``mc_dropout``: batched vs looped MC dropout, T = 30;
- ``precision``: bf16 autocast + channels_last vs float32 NCHW, ResNet-18 forward;
- ``compile``: ``torch.compile`` vs eager, ResNet-18 forward (small CNN on the CPU);
- ``throughput``: ResNet-18 inference in images/s and as a share of the measured matmul peak
  (bf16 on CUDA, float32 on the CPU), at 1.11 GFLOP per 32×32 image forward;
- ``training``: one training epoch (``uqviz.training.fit_network``);
- ``pipeline``: the CIFAR-size pipeline, K = 5 ensemble + T = 30 MC dropout over N images in
  1 clean + 19 corruptions × 5 severities = 96 blocks, and the CPU cost of making the
  corrupted copies (``uqviz.shifts.corrupt``).

Timing (shared with ``bench_core.py``): CUDA events after ``torch.cuda.synchronize``, or
``time.perf_counter`` on the CPU; median and p90 of at least 10 timed runs after warm-up runs,
variants alternating. Every row states dtype, channels_last, compile mode, batch, K/T and N.
Without CUDA the script runs the CPU sizes (``--ci``: tiny sizes, a few seconds) and prints
what it skipped; nothing is reported for a device that did not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_core import (  # noqa: E402  (puts the repository root on sys.path too)
    NUM_CLASSES,
    RESULTS_DIR,
    Workload,
    environment,
    fmt_s,
    images,
    markdown_table,
    measure,
    measure_interleaved,
    networks,
    save_report,
)

from uqviz.device import THREADS_ENV, configure_threads, device_name  # noqa: E402
from uqviz.inference import (  # noqa: E402
    DEFAULT_BATCH,
    ensemble_logits,
    mc_dropout_logits,
    network_logits,
)

MEMBERS = 5
MC_SAMPLES = 30
ISSUE_CORRUPTIONS = 19  # the issue's CIFAR-10-C count; blocks = 1 + 19 × 5
SEVERITY_COUNT = 5
RESNET18_GFLOP = 1.11  # per 32×32 image forward (0.56 GMACs; uqviz.models.ResNet18)
SECTIONS = ("ensemble", "mc_dropout", "precision", "compile", "throughput", "training",
            "pipeline")
TARGETS = {  # the issue's targets on an H100, checked only on CUDA
    ("ensemble", "small_cnn"): ("looped / batched", 2.5),
    ("ensemble", "resnet18"): ("looped / batched", 1.0),
    ("mc_dropout", "small_cnn"): ("looped / batched", 3.0),
    ("mc_dropout", "resnet18"): ("looped / batched", 3.0),
    ("throughput", "resnet18"): ("share of peak", 0.25),
}


@dataclass(frozen=True)
class Sizes:
    """Workloads and repeats for one mode (``ci``, ``cpu``, ``cuda``)."""

    mode: str
    repeats: int
    warmup: int
    small: Workload
    resnet: Workload | None
    precision: Workload
    compile: Workload | None
    throughput: Workload
    peak_matmul: int
    train_small: Workload
    train_resnet: Workload | None
    train_batch: int
    pipeline: Workload
    pipeline_blocks: int
    pipeline_end_to_end: bool
    corrupt_images: int


def sizes_for(device: torch.device, ci: bool) -> Sizes:
    """CUDA: the issue's sizes. CPU: small enough for one shared thread (``--ci``: tiny)."""
    blocks = 1 + ISSUE_CORRUPTIONS * SEVERITY_COUNT
    if device.type == "cuda":
        resnet = Workload("ResNet-18 32×32×3", "resnet18", (3, 32, 32), 8192)
        return Sizes("cuda", repeats=10, warmup=3,
                     small=Workload("small CNN 28×28", "small_cnn", (1, 28, 28), 50_000),
                     resnet=resnet, precision=resnet, compile=resnet,
                     throughput=replace(resnet, n_images=16_384), peak_matmul=8192,
                     train_small=Workload("small CNN 28×28", "small_cnn", (1, 28, 28), 54_000),
                     train_resnet=Workload("ResNet-18 32×32×3", "resnet18", (3, 32, 32), 45_000),
                     train_batch=256, pipeline=replace(resnet, n_images=10_000),
                     pipeline_blocks=blocks, pipeline_end_to_end=True, corrupt_images=10_000)
    if ci:
        tiny = Workload("small CNN 8×8", "small_cnn", (1, 8, 8), 64)
        tiny_resnet = Workload("ResNet-18 8×8×3", "resnet18", (3, 8, 8), 4)
        return Sizes("ci", repeats=10, warmup=1, small=tiny, resnet=None,
                     precision=tiny_resnet, compile=None, throughput=tiny_resnet,
                     peak_matmul=128, train_small=replace(tiny, n_images=128),
                     train_resnet=None, train_batch=64, pipeline=replace(tiny, n_images=32),
                     pipeline_blocks=3, pipeline_end_to_end=False, corrupt_images=16)
    resnet = Workload("ResNet-18 32×32×3", "resnet18", (3, 32, 32), 16)
    small = Workload("small CNN 28×28", "small_cnn", (1, 28, 28), 1000)
    return Sizes("cpu", repeats=10, warmup=1, small=small, resnet=resnet, precision=resnet,
                 compile=replace(small, n_images=256), throughput=replace(resnet, n_images=32),
                 peak_matmul=1024, train_small=replace(small, n_images=1000),
                 train_resnet=replace(resnet, n_images=64), train_batch=64,
                 pipeline=replace(small, n_images=200), pipeline_blocks=blocks,
                 pipeline_end_to_end=False, corrupt_images=200)


def _fast(device: torch.device) -> dict:
    """The device's default settings, stated in every row."""
    cuda = device.type == "cuda"
    return {"dtype": "bf16 autocast" if cuda else "float32", "channels_last": cuda,
            "compile": "eager"}


def _row(section: str, w: Workload, device: torch.device, timings: dict, **extra) -> dict:
    row = {"section": section, "workload": w.name, "arch": w.arch,
           "input_shape": list(w.input_shape), "n_images": w.n_images,
           "batch": DEFAULT_BATCH, **_fast(device), **extra}
    row["timings"] = {name: asdict(t) for name, t in timings.items()}
    return row


def _ratio(row: dict, slow: str, fast: str) -> float:
    return row["timings"][slow]["median_s"] / row["timings"][fast]["median_s"]


# -- sections ----------------------------------------------------------------------------------
def _batched_vs_looped(section: str, device: torch.device, s: Sizes,
                       call: Callable[..., object], count: dict) -> list[dict]:
    """``call(nets, x, device, batched=...)`` timed batched and looped for each workload."""
    rows = []
    for w in (s.small, s.resnet):
        if w is None:
            continue
        nets, x = networks(w, count.get("K", 1)), images(w)
        t = measure_interleaved({name: partial(call, nets, x, device, batched=batched)
                                 for name, batched in (("batched", True), ("looped", False))},
                                device, repeats=s.repeats, warmup=s.warmup)
        row = _row(section, w, device, t, **count)
        row["looped_over_batched"] = _ratio(row, "looped", "batched")
        rows.append(row)
    return rows


def bench_ensemble(device: torch.device, s: Sizes) -> list[dict]:
    return _batched_vs_looped("ensemble", device, s, ensemble_logits, {"K": MEMBERS})


def _mc_dropout(nets: list, x: torch.Tensor, device: torch.device, *, batched: bool) -> object:
    return mc_dropout_logits(nets[0], x, device, samples=MC_SAMPLES, seed=0, batched=batched)


def bench_mc_dropout(device: torch.device, s: Sizes) -> list[dict]:
    return _batched_vs_looped("mc_dropout", device, s, _mc_dropout, {"T": MC_SAMPLES})


def bench_precision(device: torch.device, s: Sizes) -> list[dict]:
    w = s.precision
    (fast, plain), x = networks(w, 1) + networks(w, 1), images(w)  # one layout per copy
    t = measure_interleaved(
        {"bf16_channels_last": partial(network_logits, fast, x, device, bf16=True,
                                       channels_last=True),
         "fp32_nchw": partial(network_logits, plain, x, device, bf16=False,
                              channels_last=False)},
        device, repeats=s.repeats, warmup=s.warmup)
    row = _row("precision", w, device, t, dtype="bf16 autocast vs float32",
               channels_last="on vs off")
    row["fp32_over_bf16"] = _ratio(row, "fp32_nchw", "bf16_channels_last")
    return [row]


def bench_compile(device: torch.device, s: Sizes) -> list[dict]:
    w = s.compile
    net, x = networks(w, 1)[0], images(w)
    started = time.perf_counter()
    network_logits(net, x[:DEFAULT_BATCH], device, compile=True)  # compiles once
    compile_s = time.perf_counter() - started
    t = measure_interleaved(
        {"compiled": partial(network_logits, net, x, device, compile=True),
         "eager": partial(network_logits, net, x, device, compile=False)},
        device, repeats=s.repeats, warmup=s.warmup)
    row = _row("compile", w, device, t, compile="inductor (default mode) vs eager",
               first_call_with_compile_s=compile_s)
    row["eager_over_compiled"] = _ratio(row, "eager", "compiled")
    return [row]


def _matmul(device: torch.device, n: int) -> tuple[Callable[[], object], str]:
    """An n×n×n matmul (bf16 on CUDA, float32 on the CPU) and its dtype's name."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, generator=gen).to(device, dtype)
    b = torch.rand(n, n, generator=gen).to(device, dtype)
    return partial(torch.matmul, a, b), str(dtype).removeprefix("torch.")


def bench_throughput(device: torch.device, s: Sizes) -> list[dict]:
    """ResNet-18 images/s and its share of the matmul peak, timed in alternation with the
    matmul so that load from other processes falls on both alike."""
    w = s.throughput
    net, x = networks(w, 1)[0], images(w)
    on_device = x.to(device)
    cl = device.type == "cuda"
    resident = net.to(device)
    if cl:
        resident = resident.to(memory_format=torch.channels_last)
        on_device = on_device.contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def forward_resident() -> None:
        for start in range(0, len(on_device), DEFAULT_BATCH):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cl):
                resident(on_device[start:start + DEFAULT_BATCH])

    matmul, dtype = _matmul(device, s.peak_matmul)
    t = measure_interleaved({"end_to_end": partial(network_logits, net, x, device),
                             "resident": forward_resident, "peak_matmul": matmul},
                            device, repeats=s.repeats, warmup=s.warmup)
    peak = {"n": s.peak_matmul, "dtype": dtype,
            "flops_per_s": 2 * s.peak_matmul ** 3 / t["peak_matmul"].median_s}
    row = _row("throughput", w, device, t, peak=peak, gflop_per_image=RESNET18_GFLOP)
    scale = RESNET18_GFLOP * (w.input_shape[1] * w.input_shape[2]) / (32 * 32)
    row["gflop_per_image_at_this_size"] = scale
    for name in ("end_to_end", "resident"):
        ips = w.n_images / row["timings"][name]["median_s"]
        row[f"{name}_images_per_s"] = ips
        row[f"{name}_share_of_peak"] = ips * scale * 1e9 / peak["flops_per_s"]
    return [row]


def bench_training(device: torch.device, s: Sizes) -> list[dict]:
    from uqviz.data.base import DataSplits
    from uqviz.models import build_model
    from uqviz.training import NetworkRecipe, TrainConfig, fit_network

    rows = []
    for w in (s.train_small, s.train_resnet):
        if w is None:
            continue
        x = images(w)
        y = torch.from_numpy(np.random.default_rng(0).integers(0, NUM_CLASSES, len(x)))
        data = DataSplits(x, y, x[:1], y[:1], x[:1], y[:1])
        recipe = NetworkRecipe(TrainConfig(arch=w.arch, epochs=1, batch_size=s.train_batch),
                               seed=0)
        net = build_model(w.arch, w.input_shape, NUM_CLASSES, 0.25)
        t = measure(partial(fit_network, net, data, recipe, device), device,
                    repeats=s.repeats, warmup=s.warmup)
        row = _row("training", w, device, {"epoch": t}, batch=s.train_batch)
        row["images_per_s"] = w.n_images / t.median_s
        rows.append(row)
    return rows


def bench_pipeline(device: torch.device, s: Sizes) -> list[dict]:
    from uqviz.shifts import CORRUPTIONS, corrupt

    w = s.pipeline
    nets, x = networks(w, MEMBERS), images(w)

    def one_block() -> None:
        ensemble_logits(nets, x, device)
        mc_dropout_logits(nets[0], x, device, samples=MC_SAMPLES, seed=0)

    t = {"block": measure(one_block, device, repeats=s.repeats, warmup=s.warmup)}
    if s.pipeline_end_to_end:
        t["all_blocks"] = measure(lambda: [one_block() for _ in range(s.pipeline_blocks)],
                                  device, repeats=1, warmup=0)
    row = _row("pipeline", w, device, t, K=MEMBERS, T=MC_SAMPLES, blocks=s.pipeline_blocks,
               batched_default="recorded table (uqviz.device.BATCHING)")
    row["pipeline_s"] = (t["all_blocks"].median_s if "all_blocks" in t
                         else t["block"].median_s * s.pipeline_blocks)
    row["pipeline_measured"] = "all_blocks" in t
    # making the corrupted copies (uqviz.shifts.corrupt runs on the images' device)
    cx = images(replace(w, n_images=s.corrupt_images)).to(device)
    per_corruption = {name: asdict(measure(partial(corrupt, cx, name, 3, seed=0), device,
                                           repeats=3, warmup=1))
                      for name in CORRUPTIONS}
    total = sum(v["median_s"] for v in per_corruption.values()) * SEVERITY_COUNT
    row["corruptions"] = {"images": s.corrupt_images, "severity_timed": 3,
                          "registered": len(CORRUPTIONS), "per_corruption": per_corruption,
                          "all_registered_x5_severities_s": total}
    return [row]


BENCHES: dict[str, Callable[[torch.device, Sizes], list[dict]]] = {
    "ensemble": bench_ensemble, "mc_dropout": bench_mc_dropout, "precision": bench_precision,
    "compile": bench_compile, "throughput": bench_throughput, "training": bench_training,
    "pipeline": bench_pipeline,
}


def skip_reason(section: str, device: torch.device, s: Sizes) -> str | None:
    """Why ``section`` (or part of it) does not run on this device and mode (None: all runs)."""
    if section in ("ensemble", "mc_dropout") and s.resnet is None:
        return ("ResNet-18 rows skipped in --ci mode (K × 11 M parameters per call on one CPU "
                "thread); run without --ci")
    if section == "compile" and s.compile is None:
        return ("skipped in --ci mode (inductor's first compile takes 20–90 s on a "
                "CPU); run without --ci")
    return None


# -- reporting ---------------------------------------------------------------------------------
def _t(row: dict, name: str) -> str:
    timing = row["timings"][name]
    return f"{fmt_s(timing['median_s'])} ({fmt_s(timing['p90_s'])})"


def _target(row: dict, device: torch.device, value: float) -> str:
    target = TARGETS.get((row["section"], row["arch"]))
    if target is None:
        return ""
    label, goal = target
    if device.type != "cuda":
        return f"target {goal:g} on an H100 (not checked on CPU)"
    return f"target ≥ {goal:g}: {'met' if value >= goal else 'NOT met'}"


def table(rows: list[dict], device: torch.device) -> str:
    """One Markdown table: what, settings, the two timings (median (p90)), the figure."""
    header = ["section", "workload", "N", "K/T", "dtype", "channels_last", "compile",
              "A median (p90)", "B median (p90)", "figure", "target"]
    body = []
    for r in rows:
        names = list(r["timings"])
        kt = (f"K={r['K']}" if "K" in r else "") + (f" T={r['T']}" if "T" in r else "")
        a = f"{names[0]}: {_t(r, names[0])}"
        b = f"{names[1]}: {_t(r, names[1])}" if len(names) > 1 else ""
        if r["section"] in ("ensemble", "mc_dropout"):
            figure, value = f"looped / batched {r['looped_over_batched']:.2f}×", r[
                "looped_over_batched"]
        elif r["section"] == "precision":
            figure, value = f"fp32 / bf16+CL {r['fp32_over_bf16']:.2f}×", r["fp32_over_bf16"]
        elif r["section"] == "compile":
            figure = (f"eager / compiled {r['eager_over_compiled']:.2f}× (compiling: "
                      f"{fmt_s(r['first_call_with_compile_s'])})")
            value = r["eager_over_compiled"]
        elif r["section"] == "throughput":
            figure = (f"{r['resident_images_per_s']:,.0f} img/s resident = "
                      f"{100 * r['resident_share_of_peak']:.1f}% of {r['peak']['dtype']} peak "
                      f"{r['peak']['flops_per_s'] / 1e12:.2f} TFLOP/s; end to end "
                      f"{r['end_to_end_images_per_s']:,.0f} img/s")
            value = r["resident_share_of_peak"]
        elif r["section"] == "training":
            figure, value = f"{r['images_per_s']:,.0f} img/s, batch {r['batch']}", 0.0
        else:
            c = r["corruptions"]
            figure = (f"{r['blocks']} blocks: {fmt_s(r['pipeline_s'])}"
                      f" ({'measured' if r['pipeline_measured'] else 'blocks × block median'})"
                      f"; corrupting {c['registered']} × 5 × {c['images']:,} images: "
                      f"{fmt_s(c['all_registered_x5_severities_s'])}")
            value = 0.0
        body.append([r["section"], r["workload"], f"{r['n_images']:,}", kt.strip() or "–",
                     r["dtype"], str(r["channels_last"]), r["compile"], a, b, figure,
                     _target(r, device, value)])
    return markdown_table(header, body)


def batching_from(rows: list[dict], device: torch.device) -> dict[str, dict]:
    """The batched/looped choice these rows support, per architecture, in the shape of
    ``uqviz.device.BATCHING`` (batched when it was faster: looped / batched > 1)."""
    found: dict[str, dict] = {}
    for r in rows:
        if r["section"] in ("ensemble", "mc_dropout"):
            entry = found.setdefault(r["arch"], {"device": device.type})
            entry[r["section"]] = bool(r["looped_over_batched"] > 1.0)
            entry[f"{r['section']}_looped_over_batched"] = round(r["looped_over_batched"], 3)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ci", action="store_true",
                        help="tiny CPU sizes (a few seconds): checks that the script works")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="default: CUDA when present, else the CPU")
    parser.add_argument("--json", type=Path, default=None, help="where to save the JSON")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, among {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = [x for x in sections if x not in SECTIONS]
    if unknown or not sections:
        parser.error(f"--sections must be among {', '.join(SECTIONS)}, got {args.sections!r}")

    threads = configure_threads()
    skipped: list[dict] = []
    name = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    if name == "cpu":
        skipped.append({"what": "all CUDA rows", "reason": "CUDA not available" if not
                        torch.cuda.is_available() else "--device cpu"})
    device = torch.device(name)
    s = sizes_for(device, args.ci)
    env = environment(device, threads, args.ci)
    env["mode"] = s.mode
    started = time.perf_counter()
    print(f"# uqviz one-device benchmark ({dt.date.today().isoformat()}): {device_name(device)}"
          f", torch {torch.__version__}, {THREADS_ENV}={os.environ.get(THREADS_ENV, '1')}, "
          f"mode {s.mode}")
    print(f"Each row: median (p90) of {s.repeats} timed runs after {s.warmup} warm-up; "
          f"{'CUDA events after synchronize' if device.type == 'cuda' else 'perf_counter'}.")
    rows: list[dict] = []
    for section in sections:
        reason = skip_reason(section, device, s)
        if reason:
            skipped.append({"what": section, "reason": reason})
            if section == "compile":
                continue
        rows += BENCHES[section](device, s)
    print()
    print(table(rows, device))
    for item in skipped:
        print(f"skipped: {item['what']}: {item['reason']}")
    batching = batching_from(rows, device)
    for arch, entry in batching.items():
        choice = ", ".join(
            f"{k}: {'batched' if entry[k] else 'looped'}"
            + (" (within 15%: noise on a shared machine)"
               if abs(entry[f"{k}_looped_over_batched"] - 1) < 0.15 else "")
            for k in ("ensemble", "mc_dropout") if k in entry)
        print(f"measured choice for ({device.type}, {arch}): {choice} "
              "(compare with uqviz.device.BATCHING)")
    report = {"device": name, "mode": s.mode, "sections": sections, "environment": env,
              "batching": batching,
              "repeats": s.repeats, "warmup": s.warmup, "rows": rows, "skipped": skipped,
              "wall_s": time.perf_counter() - started}
    out = args.json or RESULTS_DIR / (f"gpu_bench_{name}_{s.mode}_"
                                      f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
    save_report(report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
