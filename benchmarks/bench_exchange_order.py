"""Reading a predictions file whose rows are shuffled vs the same file sorted.

With an ``id`` column the reader aligns the samples of each method on ``id``, so the rows of a
long-format file may come in any order. This script writes, for each layout (ids × samples) and
format, a file as ``write_predictions`` writes it (sorted: method, sample, ascending id) and the
same rows randomly shuffled (samples interleaved), checks that both read to identical
predictions, and prints the median read time of each (wall clock, and CPU time of the process)
and the ratio shuffled / sorted (target: at most 2). It prints figures and never asserts on
time; it is not run by the tests.

Usage: .venv/bin/python benchmarks/bench_exchange_order.py [--layouts 100000x10,1000000x1]
       [--formats csv,parquet] [--classes 10] [--repeats 5] [--ids int|text] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from uqviz.exchange import read_predictions, write_predictions  # noqa: E402
from uqviz.predictions import Predictions  # noqa: E402


def synthetic(n: int, samples: int, classes: int, ids: str, seed: int = 0) -> Predictions:
    """One method: (samples, n, classes) float32 probabilities, labels, two groups, ids."""
    rng = np.random.default_rng(seed)
    probs = rng.random((samples, n, classes), dtype=np.float32) + 0.01
    probs /= probs.sum(axis=2, keepdims=True)
    labels = rng.integers(0, classes, n)
    group = np.where(rng.random(n) < 0.9, "test", "ood:noise").astype(object)
    labels[group != "test"] = -1
    row_ids = (np.arange(n, dtype=np.int64) if ids == "int"
               else np.asarray([f"img{i:07d}" for i in range(n)], dtype=object))
    return Predictions(probs, labels, group=group, ids=row_ids)


def shuffled_copy(sorted_path: Path, out: Path, seed: int = 1) -> None:
    """The rows of ``sorted_path`` in a random order, written in the same format."""
    if sorted_path.suffix == ".parquet":
        table = pq.read_table(sorted_path)
    else:  # keep the written text of every value: float32 columns parse back exactly
        names = pa_csv.read_csv(sorted_path, read_options=pa_csv.ReadOptions(
            skip_rows_after_names=10**9)).column_names
        types = {n: pa.float32() for n in names if n.startswith("p_")}
        table = pa_csv.read_csv(sorted_path,
                                convert_options=pa_csv.ConvertOptions(column_types=types))
    table = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    if out.suffix == ".parquet":
        pq.write_table(table, out)
    else:
        pa_csv.write_csv(table, out)


def same_predictions(a, b) -> bool:
    if sorted(a.by_method) != sorted(b.by_method):
        return False
    for key, p in a.by_method.items():
        q = b.by_method[key]
        if not (np.array_equal(p.probs, q.probs) and np.array_equal(p.labels, q.labels)
                and list(p.group) == list(q.group) and np.array_equal(p.is_ood, q.is_ood)
                and list(p.ids) == list(q.ids)):
            return False
    return True


def median_read_seconds(paths: list[Path], repeats: int) -> list[tuple[float, float]]:
    """Per path, the median wall-clock and CPU seconds (all threads of this process) of
    ``read_predictions``; the paths take turns in each round, so that a busy machine slows them
    alike. CPU time is the steadier figure when other jobs share the cores."""
    times = [([], []) for _ in paths]
    for _ in range(repeats):
        for path, (wall, cpu) in zip(paths, times, strict=True):
            start, start_cpu = time.perf_counter(), time.process_time()
            read_predictions(path)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return [(statistics.median(wall), statistics.median(cpu)) for wall, cpu in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", default="100000x10,1000000x1",
                        help="comma-separated IDSxSAMPLES (default 100000x10,1000000x1)")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ids", choices=["int", "text"], default="int")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    results = []
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"medians of {args.repeats} reads, {args.ids} ids, {args.classes} classes")
    print(f"{'layout':>12} {'format':>8} {'rows':>10} {'MB':>6} {'sorted s':>9} "
          f"{'shuffled s':>10} {'ratio':>6} {'sorted cpu':>10} {'shuffled cpu':>12} "
          f"{'cpu ratio':>9} identical")
    with tempfile.TemporaryDirectory(prefix="bench_exchange_order_") as tmp:
        for layout in args.layouts.split(","):
            n, samples = (int(x) for x in layout.lower().split("x"))
            preds = {"model": synthetic(n, samples, args.classes, args.ids)}
            for fmt in args.formats.split(","):
                sorted_path = Path(tmp) / f"sorted_{layout}.{fmt}"
                shuffled_path = Path(tmp) / f"shuffled_{layout}.{fmt}"
                write_predictions(preds, sorted_path)
                shuffled_copy(sorted_path, shuffled_path)
                identical = same_predictions(read_predictions(sorted_path),
                                             read_predictions(shuffled_path))
                (sorted_s, sorted_cpu), (shuffled_s, shuffled_cpu) = median_read_seconds(
                    [sorted_path, shuffled_path], args.repeats)
                row = {"layout": layout, "format": fmt, "rows": n * samples,
                       "ids": args.ids, "classes": args.classes, "repeats": args.repeats,
                       "mb": round(shuffled_path.stat().st_size / 2**20, 1),
                       "sorted_s": round(sorted_s, 3), "shuffled_s": round(shuffled_s, 3),
                       "ratio": round(shuffled_s / sorted_s, 2),
                       "sorted_cpu_s": round(sorted_cpu, 3),
                       "shuffled_cpu_s": round(shuffled_cpu, 3),
                       "cpu_ratio": round(shuffled_cpu / sorted_cpu, 2), "identical": identical}
                results.append(row)
                print(f"{layout:>12} {fmt:>8} {row['rows']:>10,} {row['mb']:>6} "
                      f"{sorted_s:>9.3f} {shuffled_s:>10.3f} {row['ratio']:>6.2f} "
                      f"{sorted_cpu:>10.3f} {shuffled_cpu:>12.3f} {row['cpu_ratio']:>9.2f} "
                      f"{'yes' if identical else 'NO'}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
