"""Throughput of ``triage`` against the bare model forward pass on the same batches.

A ResNet-18 (random weights, 10 classes) at 64×64 is exported to TorchScript or ONNX; N random
PNGs are written to a temporary folder. Both sides decode the same files in the same batches
(``uqviz.user_model.images.iter_batches``):

* **bare**: the model in this process (``torch.jit.load`` or an onnxruntime session on the
  CPU), normalised input, forward pass, nothing else;
* **triage**: ``uqviz.triage.Triage`` as ``python -m uqviz triage`` runs it: the model in its
  worker process (vetted, memory- and time-limited), the policy's decisions per batch, and
  ``decisions.csv``, ``review_queue.csv``, ``review.zip`` and ``summary.json`` written.

The worker is started and warmed on the first pass (not timed), as the bare model is loaded
before its timing; ``--repeats`` timed passes of each, interleaved (bare, triage, bare, …) so
that a shared machine's changing load falls on both, and the best of each is kept.

    python benchmarks/bench_triage.py --images 512 --runtime torchscript

``--memory 1000,10000,100000``: peak memory instead. For each count, ``python -m uqviz triage``
runs in a fresh process on that many 32×32 PNGs (hard links to one pool) with a tiny
TorchScript model, a policy referring about a fifth; the process reports its own peak resident
set (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and that of its largest child, the model's
worker (``RUSAGE_CHILDREN``, once the worker is stopped and waited for), beside a process that
only imports torch and ``uqviz.triage`` (the floor). Flat memory: images stream in batches.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CLASSES = [f"c{i}" for i in range(10)]
MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout, uqviz not installed
    sys.path.insert(0, str(REPO_ROOT))


def make_model(folder: Path, runtime: str, size: int) -> Path:
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18(num_classes=len(CLASSES)).eval()
    example = torch.rand(2, 3, size, size)
    if runtime == "onnx":
        path = folder / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (example,), str(path), input_names=["x"],
                              output_names=["logits"], dynamic_shapes=({0: "batch"},),
                              external_data=False)
    else:
        path = folder / "model.pt"
        torch.jit.trace(net, example).save(str(path))
    (folder / "model.json").write_text(json.dumps({
        "input_size": [size, size], "channels": 3, "mean": MEAN, "std": STD,
        "classes": CLASSES}))
    return path


def make_images(folder: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / f"part{i % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            sub / f"{i:06d}.png")
    return folder


def bare_pass(model_path: Path, runtime: str, images, config, batch_size: int) -> float:
    from uqviz.user_model.images import iter_batches

    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    if runtime == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()  # the worker's threads (uqviz.user_model.loading)
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(model_path), options,
                                       providers=["CPUExecutionProvider"])
        forward = lambda x: session.run(None, {"x": x.numpy()})[0]  # noqa: E731
    else:
        module = torch.jit.load(str(model_path)).eval()

        def forward(x):
            with torch.inference_mode():
                return module(x).numpy()
    start = time.perf_counter()
    for batch in iter_batches(images, config, batch_size):
        forward((batch.images - mean) / std)
    return time.perf_counter() - start


def triage_pass(triage, images, out: Path) -> float:
    from uqviz.triage import write_outputs

    start = time.perf_counter()
    write_outputs(out, triage.batches(images), triage.classes, triage.policy, images.root)
    return time.perf_counter() - start


RUSAGE = """
import json, resource, sys
{body}
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({{"rc": rc, "self_mib": me.ru_maxrss / 1024, "child_mib": kids.ru_maxrss / 1024}}))
"""


def peak_memory(body: str) -> dict:
    """Run ``body`` (Python setting ``rc``) in a fresh interpreter; its peak RSS and its largest
    child's, in MiB, and the wall time."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUSAGE.format(body=body)], capture_output=True,
                          text=True, env=env, check=True)
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    return {**doc, "seconds": round(time.perf_counter() - start, 1)}


def make_tiny_model(folder: Path, size: int) -> Path:
    """conv 3→8 → ReLU → mean pool → linear 8→10, traced to TorchScript (random weights)."""
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, len(CLASSES))).eval()
    path = folder / "tiny.pt"
    torch.jit.trace(net, torch.rand(2, 3, size, size)).save(str(path))
    (folder / "model.json").write_text(json.dumps({
        "input_size": [size, size], "channels": 3, "mean": MEAN, "std": STD,
        "classes": CLASSES}))
    return path


def _quantile_threshold(model: Path, pool: Path, config, q: float) -> float:
    """The q-quantile of ``1 − max p`` (the max_prob score) of the model on 512 pool images."""
    from uqviz.user_model.images import ImageSet, iter_batches

    files = tuple(str(f.relative_to(pool)) for f in sorted(pool.rglob("*.png"))[:512])
    images = ImageSet(pool, files, np.full(len(files), -1, dtype=np.int64))
    x = next(iter_batches(images, config, len(files))).images
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        probs = torch.softmax(torch.jit.load(str(model))(x), dim=1)
    return float(np.quantile(1.0 - probs.max(dim=1).values.numpy(), q))


def memory_main(counts: list[int], size: int, batch_size: int) -> None:
    from uqviz.policy import model_provenance
    from uqviz.triage import config_values
    from uqviz.user_model.config import model_config
    from uqviz.user_model.source import file_digest

    with tempfile.TemporaryDirectory(prefix="bench-triage-memory-") as tmp:
        tmp = Path(tmp)
        model = make_tiny_model(tmp, size)
        config = model_config(model)
        record = model_provenance([(model.name, file_digest(model))], config_values(config),
                                  settings={"temperature": None, "tta_samples": 8, "seed": 0})
        start = time.perf_counter()
        pool = make_images(tmp / "pool", max(counts), size)
        made = time.perf_counter() - start
        policy = tmp / "policy.json"  # refers the most uncertain fifth of the first 512 images
        policy.write_text(json.dumps({"method": "softmax", "score": "max_prob",
                                      "threshold": _quantile_threshold(model, pool, config, 0.8),
                                      "classes": CLASSES, "model": record}))
        files = sorted(pool.rglob("*.png"))
        floor = peak_memory("import torch, uqviz.triage\nrc = 0")
        print(json.dumps({"floor": floor, "pool_seconds": round(made, 1)}), flush=True)
        for n in counts:
            folder = tmp / f"images{n}"
            for f in files[:n]:
                target = folder / f.relative_to(pool)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(f, target)
            argv = ["triage", "--policy", str(policy), "--model", str(model), "--images",
                    str(folder), "--out", str(tmp / f"out{n}"), "--batch-size", str(batch_size)]
            result = peak_memory(f"from uqviz.__main__ import main\nrc = main({argv!r})")
            summary = json.loads((tmp / f"out{n}" / "summary.json").read_text())
            print(json.dumps({"images": n, **result, "referred": summary["referred"],
                              "review_zip_mib": round((tmp / f"out{n}" / "review.zip")
                                                      .stat().st_size / 2**20, 1)}),
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--runtime", choices=["torchscript", "onnx"], default="torchscript")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", default=None, metavar="N,N,…",
                        help="peak memory of triage at these image counts (32×32, tiny model)")
    args = parser.parse_args()
    if args.memory:
        memory_main([int(n) for n in args.memory.split(",")], 32, args.batch_size)
        return

    from uqviz.device import configure_threads
    from uqviz.policy import Policy
    from uqviz.triage import Triage, model_record
    from uqviz.user_model.config import model_config

    configure_threads()
    with tempfile.TemporaryDirectory(prefix="bench-triage-") as tmp:
        tmp = Path(tmp)
        model_path = make_model(tmp, args.runtime, args.size)
        config = model_config(model_path)
        record = model_record([model_path], [config], temperature=None, tta_samples=8, seed=0)
        policy = Policy.from_document({"method": "softmax", "score": "max_prob",
                                       "threshold": 0.5, "classes": CLASSES, "model": record})
        triage = Triage.create(policy, [model_path], batch_size=args.batch_size)
        images = triage.scan(make_images(tmp / "images", args.images, args.size))
        triage_pass(triage, images, tmp / "warm")  # the worker started and warmed
        bare_pass(model_path, args.runtime, images, config, args.batch_size)
        bare, full = math.inf, math.inf
        for k in range(args.repeats):  # interleaved: a shared machine's load falls on both
            bare = min(bare, bare_pass(model_path, args.runtime, images, config,
                                       args.batch_size))
            full = min(full, triage_pass(triage, images, tmp / f"out{k}"))
        triage.close()
    n = len(images)
    print(json.dumps({"runtime": args.runtime, "images": n, "size": args.size,
                      "batch_size": args.batch_size, "threads": torch.get_num_threads(),
                      "bare_images_per_s": round(n / bare, 1),
                      "triage_images_per_s": round(n / full, 1),
                      "ratio": round(bare / full, 3)}))


if __name__ == "__main__":
    main()
