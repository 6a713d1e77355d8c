"""Running trained networks: one network, an ensemble (batched or looped), MC dropout.

All functions take CPU tensors, run on ``device`` (bf16 autocast on CUDA) and return CPU
float32 numpy arrays so results cache and plot alike.

Batched ensemble inference stacks the members' parameters with ``torch.func`` and maps the
forward pass over them with ``vmap``; batched MC dropout repeats each input T times in one large
batch. ``uqviz.device.prefers_batched`` picks the default per device from the benchmark.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from uqviz.device import autocast
from uqviz.models import has_active_dropout

DEFAULT_BATCH = 1024
# MC dropout repeats inputs T times: bound the rows of one forward pass.
MAX_ROWS_PER_PASS = 16384


class _LogitsAndFeatures(nn.Module):
    """Wraps a network so that ``forward`` returns (logits, features) in one pass."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inner = self.net.trainable if hasattr(self.net, "trainable") else self.net
        feats = inner.features(x)
        logits = inner.head(feats)
        if hasattr(self.net, "prior"):
            logits = logits + self.net.beta * self.net.prior(x)
        return logits, feats


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


@torch.no_grad()
def network_logits(net: nn.Module, x: torch.Tensor, device: torch.device,
                   batch_size: int = DEFAULT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and penultimate features (N, D) of one network in eval mode."""
    wrapped = _LogitsAndFeatures(net).to(device).eval()
    logits, feats = [], []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(device, non_blocking=True)
        with autocast(device):
            lo, fe = wrapped(xb)
        logits.append(_to_numpy(lo))
        feats.append(_to_numpy(fe))
    return np.concatenate(logits), np.concatenate(feats)


@torch.no_grad()
def ensemble_logits(nets: list[nn.Module], x: torch.Tensor, device: torch.device, *,
                    batched: bool, batch_size: int = DEFAULT_BATCH
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Logits (K, N, C) of K members of one architecture and member 0's features (N, D).

    ``batched`` runs all members in one vmapped call per batch; otherwise a loop over members.
    """
    if not batched:
        outs = [network_logits(net, x, device, batch_size) for net in nets]
        return np.stack([o[0] for o in outs]), outs[0][1]
    wrapped = [_LogitsAndFeatures(net).to(device).eval() for net in nets]
    params, buffers = stack_module_state(wrapped)
    base = copy.deepcopy(wrapped[0]).to("meta")

    def one(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    mapped = torch.vmap(one, in_dims=(0, 0, None))
    logits, feats = [], []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(device, non_blocking=True)
        with autocast(device):
            lo, fe = mapped(params, buffers, xb)
        logits.append(_to_numpy(lo))
        feats.append(_to_numpy(fe[0]))
    return np.concatenate(logits, axis=1), np.concatenate(feats)


@contextmanager
def _dropout_only_active(net: nn.Module):
    """A copy of ``net`` in eval mode with only its dropout layers sampling (the shared, cached
    network is never mutated)."""
    if not has_active_dropout(net):
        raise ValueError("MC dropout needs a network with a dropout layer of p > 0")
    sampler = copy.deepcopy(net).eval()
    for module in sampler.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.train()
    yield sampler


@torch.no_grad()
def mc_dropout_logits(net: nn.Module, x: torch.Tensor, device: torch.device, *, samples: int,
                      seed: int, batched: bool, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """Logits (T, N, C) of T stochastic passes with only dropout active (Gal & Ghahramani 2016).

    The deterministic trunk before the first dropout layer (``mc_trunk``, the convolutions)
    runs once per batch; only the stochastic tail (``mc_tail``) is sampled T times, which gives
    the same distribution as T full passes at a fraction of the cost. ``batched`` repeats the
    trunk's output T times and runs the tail in one large pass (bounded by MAX_ROWS_PER_PASS
    rows); otherwise T tail passes in a loop. Seeded; the global RNG state is restored.
    """
    rows = []
    with _dropout_only_active(net) as sampler, torch.random.fork_rng(
            devices=[device] if device.type == "cuda" else []):
        sampler = sampler.to(device)
        trunk = getattr(sampler, "mc_trunk", lambda t: t)
        tail = getattr(sampler, "mc_tail", sampler)
        torch.manual_seed(seed)
        per_pass = max(1, min(batch_size, MAX_ROWS_PER_PASS // samples)) if batched else batch_size
        for start in range(0, len(x), per_pass):
            xb = x[start:start + per_pass].to(device, non_blocking=True)
            with autocast(device):
                hb = trunk(xb)
                if batched:
                    lo = tail(hb.repeat(samples, *([1] * (hb.dim() - 1))))
                    rows.append(_to_numpy(lo).reshape(samples, len(xb), -1))
                else:
                    rows.append(np.stack([_to_numpy(tail(hb)) for _ in range(samples)]))
    return np.concatenate(rows, axis=1)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax over the last axis, float32."""
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z.astype(np.float32)
