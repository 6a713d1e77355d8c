"""Training one network, cached on disk, and running networks on a device.

Methods compose networks trained here: the softmax baseline, temperature scaling and MC dropout
share one network; a deep ensemble is K networks with different initialisations (member 0 is
the baseline network); a prior ensemble is K ``PriorNet``s.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from uqviz.cache import cache_key, cache_root, load_state_dict, save_state_dict
from uqviz.data.base import DatasetSpec, DataSplits
from uqviz.device import (
    autocast,
    compile_requested,
    compiled,
    memory_budget,
    to_device,
    uses_bf16,
    uses_channels_last,
)
from uqviz.models import PriorNet, build_model
from uqviz.pretrained import shipped_state

Progress = Callable[[float, str], None]
"""Progress callback: fraction done in [0, 1] and a short message."""


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that ignores its calls."""


@dataclass(frozen=True)
class TrainConfig:
    """How a network is trained.

    Attributes:
        arch: ``auto``, ``small_cnn`` or ``resnet18`` (see ``uqviz.models``).
        epochs: passes over the training set; None picks enough for about 600 optimizer steps
            (between 4 and 40 epochs).
        batch_size: training batch size.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        dropout: dropout probability of the network (MC dropout samples it).
    """

    arch: str = "auto"
    epochs: int | None = None
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.25

    def epochs_for(self, n_train: int) -> int:
        if self.epochs is not None:
            return self.epochs
        steps_per_epoch = max(1, math.ceil(n_train / self.batch_size))
        return int(min(40, max(4, math.ceil(600 / steps_per_epoch))))


@dataclass(frozen=True)
class NetworkRecipe:
    """One network to train: the training config, its seed, and an optional randomized prior.

    Attributes:
        train: the training configuration.
        seed: seeds the initialisation, the batch order and dropout during training.
        prior_beta: scale of a fixed random prior network added to the output (0 = none).
        bootstrap: train on a bootstrap resample of the training set (seeded by ``seed``).
    """

    train: TrainConfig
    seed: int
    prior_beta: float = 0.0
    bootstrap: bool = False


def build_network(spec: DatasetSpec, recipe: NetworkRecipe) -> nn.Module:
    """A freshly initialised network for ``recipe`` (deterministic in its seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        net = build_model(recipe.train.arch, spec.input_shape, spec.num_classes,
                          recipe.train.dropout)
        if recipe.prior_beta > 0:
            torch.manual_seed(recipe.seed + 1_000_003)
            prior = build_model(recipe.train.arch, spec.input_shape, spec.num_classes,
                                recipe.train.dropout)
            net = PriorNet(net, prior, recipe.prior_beta)
    return net


def _training_step(net: nn.Module, compile: bool) -> nn.Module:
    """The module whose forward the training loop calls: compiled when asked and possible
    (``torch.compile`` errors surface at the first call, where the loop falls back)."""
    if not compile:
        return net
    try:
        return compiled(net)
    except Exception as err:  # torch.compile unavailable on this platform
        warnings.warn(f"torch.compile failed, training eagerly ({type(err).__name__})",
                      RuntimeWarning, stacklevel=3)
        return net


def _rng_state(device: torch.device) -> tuple:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(device: torch.device, state: tuple) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def fit_network(net: nn.Module, data: DataSplits, recipe: NetworkRecipe, device: torch.device,
                progress: Progress = no_progress, *, channels_last: bool | None = None,
                compile: bool | None = None) -> nn.Module:
    """Train ``net`` with Adam and cross-entropy on the training split; returns it in eval mode.

    On CUDA: bf16 autocast, channels_last (``channels_last``; None = on CUDA), the training set
    copied to the GPU once when it fits ``uqviz.device.memory_budget`` (else each batch through
    pinned memory), and ``torch.compile`` when ``compile`` (None = ``UQVIZ_COMPILE``), falling
    back to eager mode with a warning if compiling fails.
    """
    cfg = recipe.train
    x, y = data.train_x, data.train_y
    rng = np.random.default_rng(recipe.seed)
    if recipe.bootstrap:
        idx = torch.from_numpy(rng.integers(0, len(y), size=len(y)))
        x, y = x[idx], y[idx]
    cl = uses_channels_last(device, channels_last)
    net = net.to(device)
    if cl:
        net = net.to(memory_format=torch.channels_last)
    if device.type == "cuda" and x.element_size() * x.numel() <= memory_budget(device) // 2:
        x, y = to_device(x, device, channels_last=cl), to_device(y, device)
    step_net = _training_step(net, compile_requested(compile))
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    epochs = cfg.epochs_for(len(y))
    steps_per_epoch = max(1, math.ceil(len(y) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr,
                                                total_steps=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()

    def backward_step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        """Forward and backward of one batch; a compiled step that fails in either (Inductor
        may compile the backward lazily) is redone eagerly, and training stays eager."""
        nonlocal step_net
        opt.zero_grad(set_to_none=True)
        rng = None if step_net is net else _rng_state(device)
        try:
            with autocast(device):
                loss = loss_fn(step_net(xb), yb)
            loss.backward()
        except Exception as err:
            if step_net is net:
                raise
            warnings.warn(f"torch.compile failed, training eagerly ({type(err).__name__})",
                          RuntimeWarning, stacklevel=2)
            step_net = net
            opt.zero_grad(set_to_none=True)
            _set_rng_state(device, rng)  # the eager redo draws the failed step's dropout masks
            with autocast(device):
                loss = loss_fn(net(xb), yb)
            loss.backward()

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(recipe.seed)
        net.train()
        for epoch in range(epochs):
            order = torch.from_numpy(rng.permutation(len(y))).to(x.device)
            for start in range(0, len(y), cfg.batch_size):
                batch = order[start:start + cfg.batch_size]
                xb = to_device(x[batch], device, channels_last=cl)
                yb = to_device(y[batch], device)
                backward_step(xb, yb)
                opt.step()
                sched.step()
            progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}")
    net.eval()
    return net


def trained_network(spec: DatasetSpec, data: DataSplits, recipe: NetworkRecipe,
                    device: torch.device, progress: Progress = no_progress,
                    data_seed: int = 0, *, channels_last: bool | None = None,
                    compile: bool | None = None) -> nn.Module:
    """The network for ``recipe``: read from the cache when present, else from the weights
    shipped in ``assets/weights`` (``uqviz.pretrained``; a bf16 or compiled network's name differs,
    so only plain float32 eager networks are found there),
    else trained; cached either way.

    The cache key covers the dataset, its split seed, the recipe, bf16 training, compiling and
    the cache version (not ``channels_last``, which changes speed only; see ``fit_network``).
    """
    path = weights_path(spec, recipe, data_seed, device, compile=compile)
    net = build_network(spec, recipe)
    for where, load in (("cache", lambda: load_state_dict(path)),
                        ("the shipped weights", lambda: shipped_state(path.name, net))):
        state = load()
        if state is None:
            continue
        try:
            net.load_state_dict(state)
        except (RuntimeError, KeyError):
            continue  # a stale entry: retrain and overwrite
        if where != "cache":
            save_state_dict(path, state)
        progress(1.0, f"loaded from {where}")
        return net.to(device).eval()
    net = fit_network(net, data, recipe, device, progress, channels_last=channels_last,
                      compile=compile)
    save_state_dict(path, {k: v.detach().cpu().contiguous() for k, v in
                           net.state_dict().items()})
    return net


def weights_path(spec: DatasetSpec, recipe: NetworkRecipe, data_seed: int,
                 device: torch.device, *, compile: bool | None = None) -> Path:
    """Where ``trained_network`` caches the weights of ``recipe`` trained on ``device``.

    Networks trained under bf16 autocast, or compiled (``compile``; None = ``UQVIZ_COMPILE``:
    Inductor draws its own dropout masks, so the weights differ), are cached apart from plain
    float32 eager ones."""
    variant = [name for name, on in (("bf16", uses_bf16(device)),
                                     ("compiled", compile_requested(compile))) if on]
    return cache_root() / "weights" / f"{cache_key(spec.name, data_seed, recipe, *variant)}.pt"


def member_recipes(base: NetworkRecipe, members: int) -> list[NetworkRecipe]:
    """K recipes differing only in seed (member 0 keeps the base seed)."""
    return [replace(base, seed=base.seed + 7919 * k) for k in range(members)]


def iter_batches(x: torch.Tensor, batch_size: int):
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size]
