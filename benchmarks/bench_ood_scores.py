"""Time the fitted OOD scores (uqviz.metrics.ood_scores) on the CPU: fit and score of KNN,
Mahalanobis, relative Mahalanobis and ViM on N rows × D float32 features (issue 24: 100,000 ×
512 in a few seconds).

Usage: ``python benchmarks/bench_ood_scores.py [--rows 100000] [--dim 512] [--fit 10000]
[--classes 10] [--repeats 3]``. Prints one Markdown row per score: fit and score time (median
of the repeats, ``time.perf_counter``), the CPU time of the process over all its threads
(``time.process_time``: on a busy machine, wall time on an idle one is about CPU time /
threads) and rows scored per second of wall time.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from uqviz.metrics.ood_scores import fit_knn, fit_mahalanobis, fit_vim


def _median_seconds(run, repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (all its threads), in seconds."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows scored")
    parser.add_argument("--dim", type=int, default=512, help="feature dimension D")
    parser.add_argument("--fit", type=int, default=10_000, help="fit rows (the KNN bank)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    means = rng.normal(0, 2, (args.classes, args.dim)).astype(np.float32)
    y = rng.integers(0, args.classes, args.fit)
    fit = means[y] + rng.normal(size=(args.fit, args.dim)).astype(np.float32)
    rows = means[rng.integers(0, args.classes, args.rows)] + rng.normal(
        size=(args.rows, args.dim)).astype(np.float32)
    head = rng.normal(0, 0.1, (args.classes, args.dim)).astype(np.float32)
    fit_logits, row_logits = fit @ head.T, rows @ head.T
    cases = {
        "knn (k = 50)": (lambda: fit_knn(fit, k=50), lambda f: f.score(rows)),
        "mahalanobis": (lambda: fit_mahalanobis(fit, y), lambda f: f.score(rows)),
        "relative_mahalanobis": (lambda: fit_mahalanobis(fit, y, relative=True),
                                 lambda f: f.score(rows)),
        "vim (least-squares head)": (lambda: fit_vim(fit, fit_logits),
                                     lambda f: f.score(rows, row_logits)),
    }
    print(f"{args.rows:,} rows × {args.dim} float32 features, {args.fit:,} fit rows, "
          f"{args.classes} classes; median of {args.repeats}; load average before "
          f"{os.getloadavg()[0]:.1f}")
    print("| score | fit: wall (CPU) s | score N rows: wall (CPU) s | rows/s |")
    print("|---|---|---|---|")
    for name, (fit_part, score) in cases.items():
        fitted = fit_part()
        fit_s, fit_cpu = _median_seconds(fit_part, args.repeats)
        score_s, score_cpu = _median_seconds(lambda f=fitted, s=score: s(f), args.repeats)
        print(f"| {name} | {fit_s:.2f} ({fit_cpu:.2f}) | {score_s:.2f} ({score_cpu:.2f}) | "
              f"{args.rows / score_s:,.0f} |")
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
