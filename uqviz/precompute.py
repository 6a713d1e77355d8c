"""Precomputing predictions on several processes, GPUs or nodes with Lightning Fabric.

``python -m uqviz precompute`` runs this module under Fabric's DDP strategy: Fabric's own
launcher starts the local processes, or torchrun / SLURM start them and Fabric reads its rank
from their environment. The strategy is used for its process group and collectives only: no
network is wrapped in DistributedDataParallel, because the work is split by network and by rows,
not by gradient.

The unit of work is one network. The distinct networks the requested methods need (the
baseline network shared by softmax, temperature scaling and MC dropout, and every ensemble
member) are dealt round-robin over the ranks; each rank trains its share (or reads it from the
cache) and broadcasts the weights, so every rank ends with every network in its own cache (a
node-local cache works as well as a shared one). Each method is then fitted from the cache on
every rank (temperature scaling fits T on the validation split; it is tiny and the same
everywhere). The evaluation rows (test, corrupted, OOD) are cut into shards of at most
``chunk_rows`` rows that never straddle two blocks and dealt round-robin over the ranks; each
rank builds only the blocks its shards come from (one at a time: a full corruption plan of a
large test set would not fit in memory once per process), predicts its shards with every
method, and ``all_gather`` brings the probabilities back, which rank 0 puts in order.

Precision: ``bf16-mixed`` runs every forward pass of prediction under Fabric's precision
plugin (``fabric.autocast()``, bf16 on CPU and CUDA). Training keeps the backend's
own precision (bf16 autocast of the forward pass on CUDA, float32 on CPU): an autocast around
``uqviz.training.fit_network`` would also cover the optimizer step, which autocast must not
(Adam stepped under CPU bf16 autocast with OneCycleLR's changing betas moved the weights
wrongly: 18% test accuracy on digits after 3 epochs, against 82% with only the forward pass
autocast). ``32`` sets ``UQVIZ_BF16=0`` for the run, so training and prediction are float32
on CUDA too; networks trained under bf16 are cached under their own key.

Results do not depend on the number of processes nor on ``chunk_rows``: a network's seed
comes from its recipe, not its rank, and MC-dropout masks are seeded per block of
``MC_SEED_ROWS`` rows by absolute row (each shard is predicted with its ``row_offset``), so the
bundle matches ``evaluate``'s, which predicts each block in one call.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from uqviz.cache import save_state_dict
from uqviz.data import get_dataset
from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.device import BF16_ENV
from uqviz.inference import MC_SEED_ROWS
from uqviz.methods import MethodConfig, get_method
from uqviz.methods.base import Method
from uqviz.methods.ensemble import DeepEnsembleMethod
from uqviz.methods.softmax import SoftmaxMethod
from uqviz.predictions import TEST_GROUP, Predictions, ood_group, shift_group
from uqviz.runs import EvalInput, EvalPlan, evaluation_inputs
from uqviz.training import (
    NetworkRecipe,
    Progress,
    member_recipes,
    no_progress,
    trained_network,
    weights_path,
)

ACCELERATORS = ("cpu", "cuda", "auto")
PRECISIONS = ("32", "bf16-mixed")
DEFAULT_CHUNK_ROWS = 2048
# set by torchrun (GROUP_RANK, RANK), SLURM (SLURM_PROCID) or by hand (NODE_RANK)
NODE_RANK_ENV = ("NODE_RANK", "GROUP_RANK", "RANK", "SLURM_PROCID")


@dataclass(frozen=True)
class LaunchConfig:
    """Where and how the processes run.

    Attributes:
        accelerator: ``cpu`` (gloo), ``cuda`` (NCCL, one process per GPU) or ``auto``.
        devices: processes per node (GPUs per node on CUDA).
        num_nodes: machines; world size = devices × num_nodes.
        precision: ``32`` or ``bf16-mixed`` (Fabric's precision plugin; autocast to bf16).
        chunk_rows: most rows of one prediction shard, the unit of row work; a multiple of
            ``uqviz.inference.MC_SEED_ROWS`` so that shards never split a block of rows whose
            MC-dropout masks share a seed.
    """

    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    precision: str = "32"
    chunk_rows: int = DEFAULT_CHUNK_ROWS

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"accelerator must be one of {', '.join(ACCELERATORS)}, "
                             f"got {self.accelerator!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")
        for name in ("devices", "num_nodes", "chunk_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.chunk_rows % MC_SEED_ROWS:
            raise ValueError(f"chunk_rows must be a multiple of {MC_SEED_ROWS} (MC-dropout "
                             f"masks are seeded per {MC_SEED_ROWS} rows), got {self.chunk_rows}")

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes


@dataclass(frozen=True)
class Shard:
    """Rows ``start:stop`` of evaluation block ``block``: one unit of prediction work."""

    block: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Block:
    """One evaluation block, described without its images: its group, its number of rows,
    whether its rows carry the test labels, and the one-block plan that builds it (None: the
    clean test split)."""

    group: str
    rows: int
    labelled: bool
    plan: EvalPlan | None


@dataclass(frozen=True)
class PrecomputeResult:
    """What rank 0 returns: predictions per method (in the order asked), the world size and
    wall-clock seconds of the ``train`` (networks), ``fit`` (methods) and ``predict`` phases."""

    predictions: dict[str, Predictions]
    world_size: int
    seconds: dict[str, float]


def parse_count(name: str, text: str) -> int:
    """``"2"`` -> 2 for a ``--devices``-like option; ValueError naming the option otherwise."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{name} must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value}")
    return value


def method_networks(method_id: str, config: MethodConfig) -> tuple[NetworkRecipe, ...]:
    """The networks ``method_id`` trains: the ensemble members, or the baseline network.

    A method of another kind returns no recipe: its ``fit`` trains what it needs on each rank.
    """
    method = get_method(method_id, config)
    if isinstance(method, DeepEnsembleMethod):
        return tuple(member_recipes(method.member_base(), config.members))
    if isinstance(method, SoftmaxMethod):
        return (config.base_recipe(),)
    return ()


def distinct_networks(methods: list[str], config: MethodConfig) -> tuple[NetworkRecipe, ...]:
    """Every network the methods need, each once, in the order the methods first need them
    (the deep ensemble's member 0 is the baseline network: counted once)."""
    seen: dict[NetworkRecipe, None] = {}
    for method_id in methods:
        for recipe in method_networks(method_id, config):
            seen.setdefault(recipe, None)
    return tuple(seen)


def owned(count: int, rank: int, world_size: int) -> list[int]:
    """Indices 0..count-1 dealt round-robin: those of ``rank`` among ``world_size`` ranks."""
    return list(range(rank, count, world_size))


def plan_shards(block_sizes: list[int], chunk_rows: int) -> tuple[Shard, ...]:
    """Each block cut into consecutive shards of at most ``chunk_rows`` rows (block order)."""
    return tuple(Shard(b, start, min(start + chunk_rows, size))
                 for b, size in enumerate(block_sizes)
                 for start in range(0, size, chunk_rows))


def evaluation_blocks(spec: DatasetSpec, n_test: int, plan: EvalPlan) -> tuple[Block, ...]:
    """The blocks of ``uqviz.runs.evaluation_inputs`` in its order (test, each corruption ×
    severity, each OOD set), described so that a rank builds only the blocks it predicts on."""
    blocks = [Block(TEST_GROUP, n_test, True, None)]
    for name in plan.corruption_names():
        for severity in plan.severities:
            one = EvalPlan(corruptions=(name,), severities=(severity,), ood_sets=(),
                           seed=plan.seed)
            blocks.append(Block(shift_group(name, severity), n_test, True, one))
    ood_names = spec.ood_sets if plan.ood_sets is None else plan.ood_sets
    for name in ood_names:
        one = EvalPlan(corruptions=(), ood_sets=(name,), ood_size=plan.ood_size, seed=plan.seed)
        blocks.append(Block(ood_group(name), plan.ood_size or n_test, False, one))
    return tuple(blocks)


def build_block(spec: DatasetSpec, data: DataSplits, block: Block) -> EvalInput:
    """The images and labels of ``block`` (its one-block plan through ``evaluation_inputs``)."""
    if block.plan is None:
        return EvalInput(TEST_GROUP, data.test_x, data.test_y.numpy())
    built = evaluation_inputs(spec, data, block.plan)[-1]
    if built.group != block.group or len(built.labels) != block.rows:
        raise RuntimeError(f"block {block.group} ({block.rows} rows) was built as "
                           f"{built.group} ({len(built.labels)} rows)")
    return built


def _train_and_share(fabric, spec: DatasetSpec, data: DataSplits,
                     recipes: tuple[NetworkRecipe, ...], data_seed: int,
                     progress: Progress) -> None:
    """Train each rank's share of ``recipes`` into its cache, then broadcast every network's
    weights from its owner so that each rank's cache holds them all."""
    rank, world = fabric.global_rank, fabric.world_size
    mine = owned(len(recipes), rank, world)
    nets = {}
    for k, i in enumerate(mine):
        def net_progress(f: float, msg: str, k: int = k, i: int = i) -> None:
            progress((k + f) / len(mine), f"network {i + 1}/{len(recipes)}: {msg}")

        nets[i] = trained_network(spec, data, recipes[i], fabric.device, net_progress,
                                  data_seed)
    if world == 1:
        return
    for i, recipe in enumerate(recipes):
        owner = i % world
        state = None
        if rank == owner:
            state = {k: v.detach().cpu() for k, v in nets.pop(i).state_dict().items()}
        state = fabric.broadcast(state, src=owner)
        path = weights_path(spec, recipe, data_seed, fabric.device)
        if rank != owner and not path.exists():
            save_state_dict(path, state)


def _fit_methods(fabric, spec: DatasetSpec, data: DataSplits, methods: list[str],
                 config: MethodConfig, data_seed: int) -> dict[str, Method]:
    """Every method fitted on this rank from the networks in its cache (outside autocast: a
    method whose networks were not dealt out trains them here)."""
    return {method_id: get_method(method_id, config).fit(spec, data, fabric.device, no_progress,
                                                         data_seed)
            for method_id in methods}


def _predict_shards(fabric, spec: DatasetSpec, data: DataSplits, fitted: dict[str, Method],
                    blocks: tuple[Block, ...], shards: list[Shard],
                    progress: Progress) -> dict[str, np.ndarray]:
    """Probabilities (S, rows, C) of each method on ``shards``, stacked along the rows. Each
    block is built once, when its first shard comes, and dropped after its last (a rank
    without shards predicts one test row to learn S and C, and returns zero rows)."""
    parts: dict[str, list[np.ndarray]] = {m: [] for m in fitted}
    built: EvalInput | None = None
    for k, shard in enumerate(shards):
        if built is None or built.group != blocks[shard.block].group:
            built = build_block(spec, data, blocks[shard.block])
        x = built.images[shard.start:shard.stop]
        for method_id, method in fitted.items():
            with fabric.autocast():
                parts[method_id].append(method.predict(x, fabric.device,
                                                       row_offset=shard.start).probs)
        progress((k + 1) / len(shards), f"predicted {shard.rows} rows of {built.group}")
    if not shards:
        for method_id, method in fitted.items():
            with fabric.autocast():
                parts[method_id].append(method.predict(data.test_x[:1], fabric.device).probs[:, :0])
    return {m: np.concatenate(p, axis=1) for m, p in parts.items()}


def _gather_rows(fabric, local: np.ndarray, shards: tuple[Shard, ...],
                 offsets: list[int]) -> np.ndarray:
    """Every rank's (S, rows_r, C) probabilities gathered and put back in row order (S, N, C).

    Ranks pad their rows to the largest share so that ``all_gather`` sees one shape.
    """
    world = fabric.world_size
    rows_of = [sum(shards[i].rows for i in owned(len(shards), r, world)) for r in range(world)]
    padded = np.zeros((local.shape[0], max(rows_of), local.shape[2]), dtype=np.float32)
    padded[:, :local.shape[1]] = local
    with warnings.catch_warnings():  # Lightning calls a gather torch marks as deprecated
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated")
        gathered = fabric.all_gather(torch.from_numpy(padded))
    gathered = gathered.reshape(world, *padded.shape).float().cpu().numpy()
    total = sum(s.rows for s in shards)
    out = np.empty((local.shape[0], total, local.shape[2]), dtype=np.float32)
    for r in range(world):
        at = 0
        for i in owned(len(shards), r, world):
            start = offsets[shards[i].block] + shards[i].start
            out[:, start:start + shards[i].rows] = gathered[r, :, at:at + shards[i].rows]
            at += shards[i].rows
    return out


def _work(fabric, spec: DatasetSpec, data: DataSplits, methods: list[str],
          config: MethodConfig, plan: EvalPlan, launch: LaunchConfig, data_seed: int,
          make_progress: Callable[[], Progress]) -> PrecomputeResult | None:
    from uqviz.device import configure_threads

    configure_threads()  # Fabric's launcher sets threads = cores / processes; keep ours
    rank, world = fabric.global_rank, fabric.world_size
    progress = make_progress() if rank == 0 else no_progress
    seconds = {}
    start = time.perf_counter()
    recipes = distinct_networks(methods, config)
    _train_and_share(fabric, spec, data, recipes, data_seed,
                     lambda f, m: progress(0.7 * f, m))
    seconds["train"] = time.perf_counter() - start
    start = time.perf_counter()
    fitted = _fit_methods(fabric, spec, data, methods, config, data_seed)
    seconds["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    blocks = evaluation_blocks(spec, len(data.test_y), plan)
    sizes = [b.rows for b in blocks]
    shards = plan_shards(sizes, launch.chunk_rows)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    mine = [shards[i] for i in owned(len(shards), rank, world)]
    local = _predict_shards(fabric, spec, data, fitted, blocks, mine,
                            lambda f, m: progress(0.7 + 0.25 * f, m))
    probs = {m: _gather_rows(fabric, local.pop(m), shards, offsets) for m in methods}
    seconds["predict"] = time.perf_counter() - start
    progress(1.0, "done")
    if rank != 0:
        return None
    test_y = data.test_y.numpy()
    labels = np.concatenate([test_y if b.labelled else np.full(b.rows, -1, dtype=np.int64)
                             for b in blocks])
    group = np.concatenate([np.full(b.rows, b.group, dtype=object) for b in blocks])
    predictions = {m: Predictions(probs[m], labels, group, method=m,
                                  class_names=spec.class_names) for m in methods}
    return PrecomputeResult(predictions, world, seconds)


def make_fabric(launch: LaunchConfig):
    """A Fabric with the DDP strategy for ``launch`` (not launched yet); Fabric's own errors
    (no GPU, too many devices, bf16 unsupported) pass through as they are."""
    from lightning.fabric import Fabric

    return Fabric(accelerator=launch.accelerator, devices=launch.devices,
                  num_nodes=launch.num_nodes, strategy="ddp", precision=launch.precision)


def stop_children(fabric) -> None:
    """Kill the processes Fabric's own launcher started (they would wait in a collective for
    the failed rank 0 until the process group times out); torchrun and srun do this
    themselves."""
    for proc in getattr(fabric.strategy.launcher, "procs", []):
        if proc.poll() is None:
            proc.kill()


@dataclass(frozen=True)
class FabricShares:
    """Fabric's processes as ``uqviz.user_model.engine.Shares``: this one's global rank among
    the world, objects gathered on rank 0 (``torch.distributed.gather_object``: gloo, or NCCL on
    the device Fabric set) and broadcast from it."""

    fabric: Any

    @property
    def rank(self) -> int:
        return self.fabric.global_rank

    @property
    def world(self) -> int:
        return self.fabric.world_size

    def gather(self, value: Any) -> list | None:
        out = [None] * self.world if self.rank == 0 else None
        torch.distributed.gather_object(value, out, dst=0)
        return out

    def broadcast(self, value: Any) -> Any:
        return self.fabric.broadcast(value, src=0)


def _user_model_work(fabric, source, methods: list[str],
                     make_progress: Callable[[], Progress]):
    from dataclasses import replace

    from uqviz.device import configure_threads, default_device

    configure_threads()  # Fabric's launcher sets threads = cores / processes; keep ours
    if fabric.device != default_device():  # one GPU per process
        source = replace(source, device=str(fabric.device))
    progress = make_progress() if fabric.global_rank == 0 else no_progress
    try:
        return source.run(methods, progress, FabricShares(fabric))
    finally:
        for model in source.__dict__.get("loaded", ()):  # those loaded (cached_property)
            model.close()


def run_user_model(source, methods: list[str], launch: LaunchConfig, *,
                   make_progress: Callable[[], Progress] = lambda: no_progress):
    """A user's model (``uqviz.user_model.ModelSource``) on its images over Fabric's processes
    (``launch``: CPU processes, GPUs or nodes, started by Fabric's own launcher, torchrun or
    SLURM as for ``run_precompute``): batch k of every part goes to rank ``k % world``, rank 0
    gathers the raw outputs and assembles the methods (``uqviz.user_model.engine``). The
    predictions are the same arrays for any number of processes.

    Returns:
        The ``UserRun`` on global rank 0; None on the other ranks.
    """
    if launch.num_nodes > 1 and not any(os.environ.get(v) for v in NODE_RANK_ENV):
        raise ValueError(f"num_nodes={launch.num_nodes} needs a launcher that tells each node "
                         "its rank: torchrun, SLURM's srun, or NODE_RANK, MASTER_ADDR and "
                         "MASTER_PORT set on every node")
    fabric = make_fabric(launch)
    try:
        return fabric.launch(_user_model_work, source, list(methods), make_progress)
    except BaseException:
        stop_children(fabric)
        raise
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def run_precompute(dataset: str | DatasetSpec, methods: list[str], *,
                   config: MethodConfig | None = None, plan: EvalPlan | None = None,
                   launch: LaunchConfig | None = None, data_seed: int = 0,
                   data_dir: str | None = None,
                   make_progress: Callable[[], Progress] = lambda: no_progress
                   ) -> PrecomputeResult | None:
    """Train the methods' networks and predict on the evaluation rows over Fabric's processes.

    Everything that can be wrong with the input (dataset, methods, plan, launch settings) is
    checked before any process starts. Call it the same way on every process: with Fabric's
    launcher, processes 1..N-1 re-run the same command line.

    Args:
        dataset: a dataset name (see ``uqviz.data.get_dataset``) or spec.
        methods: method ids, in the order the results are wanted.
        config: the methods' configuration (epochs, members, seeds …).
        plan: the corrupted and OOD rows besides the test split.
        launch: accelerator, devices, nodes, precision and shard size.
        data_seed: seed of the train / validation / test split.
        data_dir: where torchvision datasets live.
        make_progress: builds the progress callback; called on rank 0 only.

    Returns:
        On global rank 0 the predictions of every method on every row (S, N, C each, rows in
        the order of ``uqviz.runs.evaluation_inputs``); None on the other ranks.
    """
    spec = get_dataset(dataset, data_dir) if isinstance(dataset, str) else dataset
    config = config or MethodConfig()
    plan = plan or EvalPlan()
    launch = launch or LaunchConfig()
    if not methods:
        raise ValueError("no method given")
    for method_id in methods:
        get_method(method_id, config)
    plan.corruption_names()
    if launch.num_nodes > 1 and not any(os.environ.get(v) for v in NODE_RANK_ENV):
        raise ValueError(f"num_nodes={launch.num_nodes} needs a launcher that tells each node "
                         "its rank: torchrun, SLURM's srun, or NODE_RANK, MASTER_ADDR and "
                         "MASTER_PORT set on every node")
    data = spec.load(data_seed)
    bf16_before = os.environ.get(BF16_ENV)
    if launch.precision == "32":
        os.environ[BF16_ENV] = "0"  # float32 throughout, also on CUDA (children inherit it)
    fabric = make_fabric(launch)
    try:
        return fabric.launch(_work, spec, data, list(methods), config, plan, launch, data_seed,
                             make_progress)
    except BaseException:
        stop_children(fabric)
        raise
    finally:
        if bf16_before is None:
            os.environ.pop(BF16_ENV, None)
        else:
            os.environ[BF16_ENV] = bf16_before
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
