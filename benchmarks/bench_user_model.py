"""Benchmark of a user's own model (``uqviz.user_model``): inference speed and streaming memory.

Usage::

    .venv/bin/python benchmarks/bench_user_model.py [--sections 1,2,3] [--batches 5]
                                                     [--images 500,5000]

Sections:

1. **Images per second** of a ResNet-18 (torchvision ``resnet18(weights=None)``, random
   weights, 10 classes) exported to TorchScript (``torch.jit.script``) and ONNX
   (``torch.onnx.export``, run by onnxruntime) at 3 × 224 × 224, through
   ``UserModel.run`` (mean/std normalisation included) on the CPU, beside the eager network as
   a baseline: batch 32, two warm-up batches, then the median (and range) over ``--batches``
   timed batches.
2. **Peak memory while streaming a folder**: folders of many small PNGs (40 × 40, three class
   folders) are predicted end to end by ``ModelSource`` (decode, resize to 64 × 64, a small
   scripted CNN; softmax and temperature scaling, so the calibration part is read too; no
   corruptions or OOD sets) in a fresh process each, which reports its peak resident set size
   (``VmHWM``). A bounded stream shows about the same peak for
   500 and 5,000 images; holding the decoded images would add N × 3 × 64 × 64 × 4 bytes
   (printed for comparison).

3. **The model's own process** (``uqviz.user_model.worker``): the wall time of
   ``load_model`` for a small scripted CNN with a warm spare process, with none (the first
   model of a server: torch imports in the child) and in this process (``load_in_process``,
   as before the worker), and the time of one batch of 64 images at 64 × 64 in this process
   and through the worker's pipes (median of ``--batches`` after the warm-up).

Threads come from ``UQVIZ_TORCH_THREADS`` (default 1) for torch and onnxruntime alike. Figures
are printed only; nothing is asserted, and the test suite never runs this script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from uqviz.device import configure_threads  # noqa: E402

SIDE, CLASSES, WARM_UP = 224, 10, 2
STREAM_SIDE, STREAM_CLASSES = 64, ("a", "b", "c")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _config(side: int, classes: tuple[str, ...]):
    from uqviz.user_model import ModelConfig

    return ModelConfig((side, side), 3, classes, IMAGENET_MEAN, IMAGENET_STD)


def images_per_second(batches: int) -> None:
    """Section 1: ResNet-18 at 224 × 224 as TorchScript and ONNX, batch 32, CPU."""
    from torchvision.models import resnet18

    from uqviz.user_model import load_model
    from uqviz.user_model.loading import TorchModel

    net = resnet18(weights=None, num_classes=CLASSES).eval()
    example = torch.rand(2, 3, SIDE, SIDE)
    config = _config(SIDE, tuple(f"class {i}" for i in range(CLASSES)))
    x = torch.rand(32, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
    print(f"## 1. ResNet-18, 3×{SIDE}×{SIDE}, batch 32, CPU, {torch.get_num_threads()} "
          f"thread(s), median of {batches} batches after {WARM_UP} warm-up\n")
    print("| format | images/s (median) | min–max | ms per batch (median) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(net).save(f"{tmp}/resnet18.pt")
        torch.onnx.export(net, (example,), f"{tmp}/resnet18.onnx", input_names=["x"],
                          output_names=["logits"], dynamic_shapes=({0: "batch"},),
                          verbose=False)
        for name in ("eager", "resnet18.pt", "resnet18.onnx"):
            if name == "eager":
                model = TorchModel(Path(name), config, torch.device("cpu"), net, "eager PyTorch")
            else:
                model = load_model(f"{tmp}/{name}", config, torch.device("cpu"))
            for _ in range(WARM_UP):  # TorchScript's profiling executor optimises on run 2
                model.run(x)
            seconds = []
            for _ in range(batches):
                start = time.perf_counter()
                model.run(x)
                seconds.append(time.perf_counter() - start)
            rates = [32 / s for s in seconds]
            print(f"| {model.format} | {statistics.median(rates):.1f} | {min(rates):.1f}–"
                  f"{max(rates):.1f} | {1000 * statistics.median(seconds):.0f} |")
    print()


class _SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(16, len(STREAM_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _write_folder(root: Path, n: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / STREAM_CLASSES[i % len(STREAM_CLASSES)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            folder / f"{i:05d}.png")


def stream_child(model: str, folder: str) -> None:
    """In a fresh process: predict a folder end to end, print JSON with the peak RSS."""
    from uqviz.runs import EvalPlan
    from uqviz.user_model import ModelSource

    configure_threads()
    source = ModelSource(models=(model,), data=folder,
                         configs=(_config(STREAM_SIDE, STREAM_CLASSES),),
                         plan=EvalPlan(corruptions=(), ood_sets=()))
    start = time.perf_counter()
    predictions = source.predictions(["softmax", "temperature"])["softmax"]
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": predictions.n, "seconds": seconds, "peak_bytes": peak_rss()}))


def peak_rss() -> int:
    """Peak resident set size of this process in bytes: ``VmHWM`` from /proc (reset by exec,
    unlike ``ru_maxrss``, which keeps the forked parent's pages), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def streaming_memory(sizes: list[int]) -> None:
    """Section 2: peak RSS of streaming folders of ``sizes`` images, one process each."""
    print(f"## 2. Peak memory predicting a folder of 40×40 PNGs at {STREAM_SIDE}×{STREAM_SIDE} "
          "(fresh process each, batch 64)\n")
    print("| images | rows predicted | peak RSS (MiB) | decoded images if held (MiB) | "
          "images/s end to end |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(_SmallCNN().eval()).save(f"{tmp}/small.pt")
        env = dict(os.environ, UQVIZ_CACHE=f"{tmp}/cache")
        for n in sizes:
            folder = Path(tmp) / f"images_{n}"
            _write_folder(folder, n)
            out = subprocess.run([sys.executable, __file__, "--stream-child", f"{tmp}/small.pt",
                                  str(folder)], capture_output=True, text=True, env=env,
                                 check=True)
            doc = json.loads(out.stdout.strip().splitlines()[-1])
            held = n * 3 * STREAM_SIDE * STREAM_SIDE * 4 / 2**20
            print(f"| {n:,} | {doc['rows']:,} | {doc['peak_bytes'] / 2**20:.0f} | {held:.0f} | "
                  f"{n / doc['seconds']:.0f} |")
    print()


def worker_overhead(batches: int) -> None:
    """Section 3: loading and one batch through the model's own process against in-process."""
    from uqviz.user_model import worker
    from uqviz.user_model.loading import load_in_process

    config = _config(STREAM_SIDE, STREAM_CLASSES)
    x = torch.rand(64, 3, STREAM_SIDE, STREAM_SIDE, generator=torch.Generator().manual_seed(0))
    print(f"## 3. The model's own process: small CNN, batch 64 at {STREAM_SIDE}×{STREAM_SIDE}, "
          f"median of {batches}\n")
    print("| how | load (s) | one batch (ms, median) | min–max (ms) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "small.pt"
        torch.jit.script(_SmallCNN().eval()).save(str(path))
        worker._stop_spares()
        rows = []
        for how in ("worker, no spare (cold)", "worker, warm spare", "in this process"):
            if how.startswith("worker, warm"):
                time.sleep(20)  # let the spare started by the cold load import torch
            start = time.perf_counter()
            model = (load_in_process(path, config, torch.device("cpu")) if how.startswith("in")
                     else worker.load_model(path, config, torch.device("cpu")))
            load = time.perf_counter() - start
            for _ in range(WARM_UP):
                model.run(x)
            seconds = []
            for _ in range(batches):
                start = time.perf_counter()
                model.run(x)
                seconds.append(1000 * (time.perf_counter() - start))
            rows.append(f"| {how} | {load:.2f} | {statistics.median(seconds):.1f} | "
                        f"{min(seconds):.1f}–{max(seconds):.1f} |")
        print("\n".join(rows))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="1,2,3")
    parser.add_argument("--batches", type=int, default=5, help="timed batches (section 1)")
    parser.add_argument("--images", default="500,5000", help="folder sizes (section 2)")
    parser.add_argument("--stream-child", nargs=2, metavar=("MODEL", "FOLDER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stream_child:
        stream_child(*args.stream_child)
        return
    configure_threads()
    sections = {s.strip() for s in args.sections.split(",")}
    if "1" in sections:
        images_per_second(args.batches)
    if "2" in sections:
        streaming_memory([int(n) for n in args.images.split(",")])
    if "3" in sections:
        worker_overhead(args.batches)


if __name__ == "__main__":
    main()
