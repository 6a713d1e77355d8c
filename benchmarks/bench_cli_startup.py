"""Start-up of the command line on a predictions file: wall and CPU time of whole processes.

Writes a 2,000-row CSV (10 classes, one method, probabilities; seeded) and runs
``python -m uqviz metrics FILE --json``, ``conformal FILE --json``,
``referral FILE --target-accuracy 0.9 --json`` and ``report FILE --out r.html`` as separate
processes, ``--runs`` times each. With ``--before DIR`` (a checkout of an earlier commit, e.g.
``git archive HEAD~1 | tar -x -C /tmp/cli_before``) it runs the same commands from that tree
too, before and after alternating, checks that both print the same bytes, and prints both.
Wall time is what a user waits; CPU time (user + system, of the process and its children) moves
less with the load of a shared machine, so the load average is printed with the figures.

Bytecode: an installed package runs from cached bytecode, but this machine's shell sets
``PYTHONDONTWRITEBYTECODE=1``, so a checkout compiles every uqviz module on every run. By default
(``--bytecode cached``) the runs keep their bytecode in a temporary ``PYTHONPYCACHEPREFIX``,
written by a first untimed run of each command; ``--bytecode none`` runs as the shell does.

Prints a table (median [min–max] seconds) and, with ``--json``, writes the figures. Never run
by the tests.

Usage: .venv/bin/python benchmarks/bench_cli_startup.py [--runs 5] [--before DIR]
       [--commands metrics,conformal,referral,report] [--bytecode cached|none] [--json OUT]
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "metrics": ["metrics", "{csv}", "--json"],
    "conformal": ["conformal", "{csv}", "--json"],
    "referral": ["referral", "{csv}", "--target-accuracy", "0.9", "--json"],
    "report": ["report", "{csv}", "--out", "{out}/report.html"],
}


def write_csv(path: Path, n: int = 2000, classes: int = 10, seed: int = 0) -> None:
    """A predictions CSV in the exchange format: label, p_0 … p_{C-1}."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + rng.gamma(2, 1.5, (n, 1)) * np.eye(classes)[labels]
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    header = ",".join(["label", *(f"p_{k}" for k in range(classes))])
    rows = [",".join([str(y), *(repr(float(v)) for v in row)]) for y, row in zip(labels, p,
                                                                               strict=True)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def run_once(tree: Path, argv: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """(wall s, CPU s of the child, its stdout) of ``python -m uqviz argv`` run in ``tree``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "uqviz", *argv], cwd=tree, capture_output=True,
                          env={**env, "PYTHONPATH": str(tree)}, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: uqviz {' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}–{max(values):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", default=None, help="an earlier tree to compare with")
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--bytecode", choices=["cached", "none"], default="cached",
                        help="cached: bytecode kept between runs (as installed); none: compiled "
                             "on every run (PYTHONDONTWRITEBYTECODE=1)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    trees = {"after": ROOT} | ({"before": Path(args.before).resolve()} if args.before else {})
    names = [c.strip() for c in args.commands.split(",") if c.strip()]
    figures: dict = {"load_start": os.getloadavg(), "runs": args.runs, "bytecode": args.bytecode,
                     "commands": {}}
    with tempfile.TemporaryDirectory(prefix="uqviz-cli-") as tmp:
        env = dict(os.environ)
        if args.bytecode == "cached":
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        csv = Path(tmp) / "predictions.csv"
        write_csv(csv)
        for name in names:
            argv = [a.format(csv=csv, out=tmp) for a in COMMANDS[name]]
            for tree in trees.values():  # a first run writes the bytecode caches: not timed
                run_once(tree, argv, env)
            times = {label: {"wall": [], "cpu": []} for label in trees}
            outputs = {}
            for _ in range(args.runs):
                for label, tree in trees.items():  # alternating
                    wall, cpu, out = run_once(tree, argv, env)
                    times[label]["wall"].append(wall)
                    times[label]["cpu"].append(cpu)
                    outputs[label] = out
            same = len(set(outputs.values())) == 1
            figures["commands"][name] = {**times, "same_output": same}
            cells = "  ".join(f"{label}: wall {spread(t['wall'])} s, CPU {spread(t['cpu'])} s"
                              for label, t in times.items())
            print(f"{name:<10} {cells}" + ("" if same else "  OUTPUT DIFFERS"), flush=True)
    figures["load_end"] = os.getloadavg()
    print(f"load average at start {figures['load_start']}, at end {figures['load_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
