"""Active learning on scikit-learn's digits: random, entropy, margin and BALD acquisition.

The pool is the digits training split (898 images, labels hidden until acquired), accuracy is
measured on the test split (449 images). Each run starts from ``initial`` labels, two per class
(balanced, drawn with the run's seed), and then acquires ``batch`` labels per round until
``budget`` labels: after every round a small MLP with dropout (64 → 128 → 10, p = 0.5) is
retrained FROM SCRATCH (full-batch Adam, ``steps`` steps) on the labels so far, as in Gal et al.
The acquisition scores come from ``T`` MC-dropout samples on the pool and reuse
``uqviz.metrics.scores``: ``entropy`` (highest predictive entropy), ``margin`` (smallest
top-1 − top-2 gap of the mean prediction) and ``bald`` (highest mutual information); ``random``
draws uniformly. Accuracy uses the network with dropout off.

Every (strategy, seed) run is cached on disk as a small ``.npz`` under a key of the whole
configuration (``uqviz.cache``: atomic writes), so the page computes it once. The default
configuration's runs for seeds 0–4 (every seed the page offers) ship in
``assets/teaching/active_learning.json``: a fresh clone shows the page at once, with the same
curves on every machine (as the default's shipped weights do). They are read only for the
configuration and key they were written for, and ``UQVIZ_SHIPPED_WEIGHTS=0`` ignores them too.
Rebuild them after changing the experiment: ``python -m uqviz.teaching.active --ship``.

Command line: ``python -m uqviz.teaching.active [--seeds 3] [--budget 200]`` prints the mean
accuracy per strategy at a few label counts and the run time.

References:
    Gal, Islam & Ghahramani, "Deep Bayesian Active Learning with Image Data", ICML 2017;
    Houlsby et al., "Bayesian Active Learning for Classification and Preference Learning", 2011.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from uqviz.cache import atomic_write, cache_key, cache_root, load_npz, save_npz
from uqviz.metrics.scores import uncertainty

__all__ = [
    "STRATEGIES",
    "ActiveConfig",
    "ActiveLearningResult",
    "LearningCurve",
    "acquisition_scores",
    "active_learning_run",
    "active_learning_experiment",
    "cached_run",
    "learning_curves",
    "pool_and_test_sizes",
    "run_key",
    "shipped_run",
    "write_shipped_runs",
]

STRATEGIES: dict[str, str] = {
    "random": "Random",
    "entropy": "Max entropy",
    "margin": "Min margin",
    "bald": "BALD",
}
_SCORE_KEY = {"entropy": "entropy", "margin": "margin", "bald": "mutual_information"}
DATA_SEED = 0

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ActiveConfig:
    """One active-learning experiment.

    Attributes:
        initial: labels to start from (balanced: ``initial // 10`` per class).
        batch: labels acquired per round.
        budget: labels at the end.
        mc_samples: T, dropout samples for the acquisition scores.
        hidden: hidden units of the MLP.
        dropout: dropout probability.
        steps: full-batch Adam steps per (re)training.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
    """

    initial: int = 20
    batch: int = 10
    budget: int = 200
    mc_samples: int = 20
    hidden: int = 128
    dropout: float = 0.5
    steps: int = 150
    lr: float = 1e-2
    weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        if self.initial < 10 or self.initial % 10:
            raise ValueError(f"initial must be a positive multiple of 10 (balanced over the "
                             f"10 digits), got {self.initial}")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.budget < self.initial:
            raise ValueError(f"budget must be >= initial ({self.initial}), got {self.budget}")
        if self.mc_samples < 2:
            raise ValueError(f"mc_samples must be >= 2 for BALD, got {self.mc_samples}")

    @property
    def label_counts(self) -> np.ndarray:
        """(R,) labels after each round: initial, initial + batch, …, budget."""
        counts = list(range(self.initial, self.budget, self.batch)) + [self.budget]
        return np.array(sorted(set(counts)), dtype=np.int64)


@dataclass(frozen=True)
class LearningCurve:
    """Test accuracy against labels for one strategy, over seeds.

    Attributes:
        strategy: id in ``STRATEGIES``.
        label: readable name of the strategy.
        n_labels: (R,) labels after each round.
        accuracy: (seeds, R) test accuracy of each run.
        mean: (R,) mean over seeds.
        lower, upper: (R,) mean ± one standard deviation over seeds (ddof = 1; mean alone
            for one seed), clipped to [0, 1].
    """

    strategy: str
    label: str
    n_labels: np.ndarray
    accuracy: np.ndarray
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def up_to(self, labels: int) -> LearningCurve:
        """The curve cut at ``labels`` labels (rounds with more labels dropped)."""
        keep = self.n_labels <= labels
        if not keep.any():
            raise ValueError(f"the curve starts at {self.n_labels[0]} labels, got {labels}")
        return replace(self, n_labels=self.n_labels[keep], accuracy=self.accuracy[:, keep],
                       mean=self.mean[keep], lower=self.lower[keep], upper=self.upper[keep])

    def spread_at(self, labels: int) -> float:
        """Standard deviation over seeds (ddof = 1) of the accuracy at ``labels`` labels; NaN
        for one seed."""
        hit = np.flatnonzero(self.n_labels == labels)
        if hit.size == 0:
            raise ValueError(f"no round ends at {labels} labels; rounds: {self.n_labels.tolist()}")
        column = self.accuracy[:, hit[0]]
        return float(column.std(ddof=1)) if column.size > 1 else float("nan")

    def at(self, labels: int) -> float:
        """Mean accuracy at ``labels`` labels (a label count of the curve)."""
        hit = np.flatnonzero(self.n_labels == labels)
        if hit.size == 0:
            raise ValueError(f"no round ends at {labels} labels; rounds: {self.n_labels.tolist()}")
        return float(self.mean[hit[0]])


@dataclass(frozen=True)
class ActiveLearningResult:
    """Curves of several strategies on the same seeds and the time it took."""

    config: ActiveConfig
    seeds: tuple[int, ...]
    curves: dict[str, LearningCurve]
    seconds: float


def _mlp(cfg: ActiveConfig, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, cfg.hidden), nn.ReLU(),
                             nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 10))


def _train(cfg: ActiveConfig, x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
    """A fresh MLP trained full-batch on (x, y); returned in eval mode."""
    net = _mlp(cfg, seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        net.train()
        for _ in range(cfg.steps):
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x), y).backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def _mc_probs(net: nn.Module, x: torch.Tensor, samples: int, seed: int) -> np.ndarray:
    """(T, N, C) softmax probabilities with dropout on (the MLP has only dropout as a
    stochastic layer)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net.train()
        logits = net(x.repeat(samples, 1, 1, 1)).reshape(samples, len(x), -1)
        net.eval()
    return torch.softmax(logits, dim=-1).numpy()


def acquisition_scores(strategy: str, mc_probs: np.ndarray, rng: np.random.Generator
                       ) -> np.ndarray:
    """Per-pool-row acquisition score, HIGHER = acquire first.

    Args:
        strategy: ``random``, ``entropy``, ``margin`` or ``bald``.
        mc_probs: (T, N, C) MC-dropout probabilities on the pool.
        rng: draws the random scores (``random`` only).

    Returns:
        (N,) float64: uniform noise for ``random``; else ``uncertainty(mc_probs, key)`` with key
        ``entropy``, ``margin`` (1 − margin) or ``mutual_information``.

    References:
        Gal, Islam & Ghahramani, ICML 2017 (the four acquisition functions compared).
    """
    if strategy == "random":
        return rng.random(mc_probs.shape[1])
    if strategy not in _SCORE_KEY:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    return uncertainty(mc_probs, _SCORE_KEY[strategy])


def _initial_labels(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    picks = [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
             for c in range(10)]
    return np.concatenate(picks)


def _digits_tensors():
    from uqviz.data import get_dataset

    data = get_dataset("digits").load(DATA_SEED)
    return data.train_x, data.train_y, data.test_x, data.test_y


def pool_and_test_sizes() -> tuple[int, int]:
    """Number of images in the pool (digits train split) and in the test split."""
    pool_x, _, test_x, _ = _digits_tensors()
    return len(pool_x), len(test_x)


def active_learning_run(strategy: str, seed: int, cfg: ActiveConfig = ActiveConfig(),
                        data=None, progress: Progress | None = None) -> np.ndarray:
    """One active-learning run; returns (R,) test accuracy after each round.

    Args:
        strategy: one of ``STRATEGIES``.
        seed: seeds the initial labels, the networks, dropout and random acquisition.
        cfg: the experiment.
        data: ``(pool_x, pool_y, test_x, test_y)`` tensors; digits train/test by default.
        progress: called with the fraction of rounds done.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    pool_x, pool_y, test_x, test_y = data if data is not None else _digits_tensors()
    labels_np = pool_y.numpy()
    if cfg.budget > len(labels_np):
        raise ValueError(f"budget {cfg.budget} exceeds the pool of {len(labels_np)} images")
    rng = np.random.default_rng(seed)
    chosen = _initial_labels(labels_np, cfg.initial // 10, rng)
    counts = cfg.label_counts
    accuracy = np.empty(len(counts))
    net: nn.Module | None = None
    for r, target in enumerate(counts):
        if net is not None and len(chosen) < target:
            unlabelled = np.setdiff1d(np.arange(len(labels_np)), chosen)
            mc = _mc_probs(net, pool_x[unlabelled], cfg.mc_samples, seed * 1000 + r)
            score = acquisition_scores(strategy, mc, rng)
            best = np.argsort(-score, kind="stable")[:target - len(chosen)]
            chosen = np.concatenate([chosen, unlabelled[best]])
        idx = torch.from_numpy(chosen)
        net = _train(cfg, pool_x[idx], pool_y[idx], seed * 1000 + r)
        with torch.no_grad():
            accuracy[r] = float((net(test_x).argmax(1) == test_y).float().mean())
        if progress is not None:
            progress((r + 1) / len(counts), f"{STRATEGIES[strategy]}, seed {seed}: "
                                            f"{target} labels")
    return accuracy


def run_key(strategy: str, seed: int, cfg: ActiveConfig) -> str:
    """The name of one run in the disk cache and in the shipped file."""
    return cache_key("active", strategy, seed, cfg)


def _run_path(strategy: str, seed: int, cfg: ActiveConfig):
    return cache_root() / "active" / f"{run_key(strategy, seed, cfg)}.npz"


SHIPPED_RUNS = Path(__file__).resolve().parents[2] / "assets" / "teaching" / "active_learning.json"
SHIPPED_SEEDS = (0, 1, 2, 3, 4)  # the page's seed slider goes up to 5


def shipped_run(strategy: str, seed: int, cfg: ActiveConfig = ActiveConfig(),
                path: Path = SHIPPED_RUNS) -> np.ndarray | None:
    """(R,) accuracy of a shipped run, or None: not shipped, another configuration (the key
    differs), rounds that do not match ``cfg``, an unreadable file, or shipped files turned
    off (``UQVIZ_SHIPPED_WEIGHTS=0``)."""
    from uqviz.pretrained import shipped_enabled

    if not shipped_enabled():
        return None
    try:
        runs = json.loads(Path(path).read_text(encoding="utf-8"))["runs"]
        accuracy = np.asarray(runs[run_key(strategy, seed, cfg)]["accuracy"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if accuracy.shape != cfg.label_counts.shape or not np.all((accuracy >= 0) & (accuracy <= 1)):
        return None
    return accuracy


def is_cached(strategy: str, seed: int, cfg: ActiveConfig = ActiveConfig()) -> bool:
    """Whether the run is already in the disk cache or shipped."""
    return _run_path(strategy, seed, cfg).exists() or shipped_run(strategy, seed, cfg) is not None


def cached_run(strategy: str, seed: int, cfg: ActiveConfig = ActiveConfig(), data=None,
               progress: Progress | None = None) -> np.ndarray:
    """``active_learning_run`` read from the disk cache, else shipped, else computed and
    cached."""
    path = _run_path(strategy, seed, cfg)
    stored = load_npz(path)
    if stored is not None and stored.get("accuracy", np.empty(0)).shape == cfg.label_counts.shape:
        return stored["accuracy"]
    shipped = shipped_run(strategy, seed, cfg)
    if shipped is not None:
        return shipped
    accuracy = active_learning_run(strategy, seed, cfg, data, progress)
    save_npz(path, accuracy=accuracy, n_labels=cfg.label_counts)
    return accuracy


def learning_curves(accuracy: dict[str, np.ndarray], n_labels: np.ndarray
                    ) -> dict[str, LearningCurve]:
    """Mean and ± one standard deviation band over seeds.

    Args:
        accuracy: ``{strategy: (seeds, R) accuracy}``.
        n_labels: (R,) labels per round.
    """
    curves = {}
    for strategy, acc in accuracy.items():
        acc = np.atleast_2d(np.asarray(acc, dtype=np.float64))
        if acc.shape[1] != len(n_labels):
            raise ValueError(f"{strategy}: accuracy has {acc.shape[1]} rounds, "
                             f"n_labels has {len(n_labels)}")
        mean = acc.mean(axis=0)
        sd = acc.std(axis=0, ddof=1) if acc.shape[0] > 1 else np.zeros_like(mean)
        curves[strategy] = LearningCurve(strategy, STRATEGIES.get(strategy, strategy),
                                         np.asarray(n_labels), acc, mean,
                                         np.clip(mean - sd, 0, 1), np.clip(mean + sd, 0, 1))
    return curves


def active_learning_experiment(strategies: Sequence[str] = tuple(STRATEGIES),
                               seeds: Sequence[int] = (0, 1, 2),
                               cfg: ActiveConfig = ActiveConfig(),
                               progress: Progress | None = None) -> ActiveLearningResult:
    """Every (strategy, seed) run (cached per run) and their curves.

    ``progress(fraction, message)`` is called after every round of every run computed.
    """
    if not strategies:
        raise ValueError("choose at least one strategy")
    if not seeds:
        raise ValueError("choose at least one seed")
    started = time.perf_counter()
    data = None
    todo = [(s, seed) for s in strategies for seed in seeds]
    results: dict[str, list[np.ndarray]] = {s: [] for s in strategies}
    for i, (strategy, seed) in enumerate(todo):
        if data is None and not is_cached(strategy, seed, cfg):
            data = _digits_tensors()
        inner = None
        if progress is not None:
            def inner(f, msg, i=i):
                progress((i + f) / len(todo), msg)
        results[strategy].append(cached_run(strategy, seed, cfg, data, inner))
    curves = learning_curves({s: np.stack(a) for s, a in results.items()}, cfg.label_counts)
    return ActiveLearningResult(cfg, tuple(seeds), curves, time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m uqviz.teaching.active",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, …)")
    parser.add_argument("--budget", type=int, default=ActiveConfig.budget)
    parser.add_argument("--ship", action="store_true",
                        help=f"compute the default's runs for seeds {SHIPPED_SEEDS} from "
                             "scratch and write them to assets/teaching/active_learning.json")
    args = parser.parse_args(argv)
    from uqviz.device import configure_threads

    configure_threads()
    if args.ship:
        path = write_shipped_runs()
        print(f"wrote {path}")
        return
    try:
        cfg = ActiveConfig(budget=args.budget)
        result = active_learning_experiment(seeds=tuple(range(args.seeds)), cfg=cfg)
    except ValueError as err:
        parser.error(str(err))  # one line on stderr, exit code 2
    marks = [n for n in (20, 50, 100, 150, 200) if n in cfg.label_counts]
    print(f"{'strategy':<28}" + "".join(f"{n:>8}" for n in marks))
    for s, curve in result.curves.items():
        print(f"{STRATEGIES[s]:<28}" + "".join(f"{curve.at(n):>8.3f}" for n in marks))
    print(f"{len(result.curves)} strategies × {args.seeds} seeds: {result.seconds:.1f} s "
          f"(runs already cached are read back)")


def write_shipped_runs(path: Path = SHIPPED_RUNS, cfg: ActiveConfig = ActiveConfig(),
                       seeds: Sequence[int] = SHIPPED_SEEDS) -> Path:
    """Compute every strategy's run on ``seeds`` from scratch (in a temporary cache, shipped
    runs off) and write them to ``path`` as JSON: the configuration, the torch version and
    ``runs``: ``{run_key: {strategy, seed, n_labels, accuracy}}``."""
    import os

    from uqviz.cache import CACHE_ENV
    from uqviz.pretrained import SHIPPED_ENV

    saved = {k: os.environ.get(k) for k in (CACHE_ENV, SHIPPED_ENV)}
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CACHE_ENV], os.environ[SHIPPED_ENV] = tmp, "0"
        try:
            data = _digits_tensors()
            for strategy in STRATEGIES:
                for seed in seeds:
                    accuracy = active_learning_run(strategy, seed, cfg, data)
                    runs[run_key(strategy, seed, cfg)] = {
                        "strategy": strategy, "seed": seed,
                        "n_labels": cfg.label_counts.tolist(),
                        "accuracy": [float(a) for a in accuracy]}
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    document = {"config": vars(cfg), "data_seed": DATA_SEED, "torch": torch.__version__,
                "runs": runs}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(Path(path), lambda tmp: tmp.write_text(json.dumps(document, indent=1)))


if __name__ == "__main__":
    main()
