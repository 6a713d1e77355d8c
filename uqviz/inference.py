"""Running trained networks: one network, an ensemble (batched or looped), MC dropout.

All functions take CPU tensors, run on ``device`` and return CPU float32 numpy arrays so results
cache and plot alike. On CUDA they use bf16 autocast, channels_last for convolutional networks
and pinned memory for host→device copies; ``torch.compile`` runs when ``UQVIZ_COMPILE=1`` (or
``compile=True``) and falls back to eager mode, with a warning, when compiling fails.

Batched ensemble inference stacks the members' parameters with ``torch.func`` and maps the
forward pass over them with ``vmap``; batched MC dropout repeats each input T times in one large
batch. ``batched=None`` reads the recorded choice for the device and architecture
(``uqviz.device.BATCHING``, set by the benchmarks). A batched pass is cut into chunks so that
rows × copies × activation bytes per row stays within ``uqviz.device.memory_budget``.
"""

from __future__ import annotations

import copy
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from uqviz.device import (
    autocast,
    compile_requested,
    compiled,
    memory_budget,
    prefers_batched,
    to_device,
    uses_channels_last,
)
from uqviz.models import architecture_of, has_active_dropout

DEFAULT_BATCH = 1024
# MC dropout repeats inputs T times: bound the rows of one forward pass.
MAX_ROWS_PER_PASS = 16384
# MC-dropout masks are seeded per block of this many rows (see mc_dropout_logits); 128 keeps
# the looped CPU path as fast as 1,024-row batches (32 measured about 25% slower).
MC_SEED_ROWS = 128
# tensors alive at once in an inference forward pass (input, output, a residual, workspace),
# as a multiple of the largest single activation
LIVE_ACTIVATIONS = 4
ACTIVATION_BYTES = 4  # float32; bf16 activations take half, so the estimate is conservative


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


# -- memory budget -----------------------------------------------------------------------------
def _largest_activation(module: nn.Module, run: Callable[[], object]) -> int:
    """Largest output numel of any leaf module of ``module`` while ``run()`` executes."""
    largest = [0]

    def hook(_m: nn.Module, _inp: object, out: object) -> None:
        if isinstance(out, torch.Tensor):
            largest[0] = max(largest[0], out.numel())

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if next(m.children(), None) is None]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return largest[0]


_SIZES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _remembered(net: nn.Module, key: tuple, compute: Callable[[], int]) -> int:
    """A per-network memo for sizes that depend on the architecture only, not the weights."""
    per_net = _SIZES.setdefault(net, {})
    if key not in per_net:
        per_net[key] = compute()
    return per_net[key]


def activation_bytes_per_row(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Estimated activation memory of one input row in an inference pass of ``net``.

    Runs the network once on the ``meta`` device (shapes only, no arithmetic, no memory) and
    takes LIVE_ACTIVATIONS × the largest leaf-module output × 4 bytes; remembered per network
    and input shape.

    Args:
        net: any network of ``uqviz.models``.
        input_shape: (C, H, W) of one image.
    """
    return _remembered(net, ("activation", tuple(input_shape)),
                       lambda: _activation_bytes(net, tuple(input_shape)))


def _activation_bytes(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    skeleton = copy.deepcopy(net).to("meta").eval()
    x = torch.empty((1, *input_shape), device="meta")
    with torch.no_grad():
        numel = max(x.numel(), _largest_activation(skeleton, lambda: skeleton(x)))
    return LIVE_ACTIVATIONS * numel * ACTIVATION_BYTES


def rows_per_pass(batch_size: int, copies: int, bytes_per_row: int, budget: int) -> int:
    """Input rows of one pass: at most ``batch_size``, and ``rows × copies × bytes_per_row``
    within ``budget`` bytes (at least one row).

    Args:
        batch_size: the largest batch asked for.
        copies: how many times each row is processed in the pass (K members, T samples).
        bytes_per_row: activation bytes of one row (``activation_bytes_per_row``).
        budget: bytes available (``uqviz.device.memory_budget``).
    """
    if batch_size < 1 or copies < 1:
        raise ValueError(f"batch_size and copies must be >= 1, got {batch_size} and {copies}")
    return int(max(1, min(batch_size, budget // max(1, copies * bytes_per_row))))


def _budget(device: torch.device, given: int | None) -> int:
    if given is not None and given <= 0:
        raise ValueError(f"memory_budget must be > 0 bytes, got {given}")
    return memory_budget(device) if given is None else int(given)


# -- compile -----------------------------------------------------------------------------------
class _CompiledOrEager:
    """Calls the ``torch.compile``d function; if compiling or running it fails, warns once and
    calls the eager function from then on."""

    def __init__(self, eager: Callable) -> None:
        self.eager = eager
        self.failed: str | None = None
        try:
            self.compiled: Callable | None = compiled(eager)
        except Exception as err:  # torch.compile itself unavailable (platform, Python version)
            self._fail(err)

    def _fail(self, err: Exception) -> None:
        self.compiled = None
        first_line = (str(err).strip().splitlines() or [""])[0][:200]
        self.failed = f"{type(err).__name__}: {first_line}" if first_line else type(err).__name__
        warnings.warn(f"torch.compile failed, running eagerly ({self.failed})", RuntimeWarning,
                      stacklevel=3)

    def __call__(self, *args: object) -> object:
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as err:  # any compile-time failure: the eager path is the truth
                self._fail(err)
        return self.eager(*args)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights_signature(net: nn.Module) -> tuple:
    return tuple((p.data_ptr(), p._version) for p in net.parameters())


def _cached(net: nn.Module, key: tuple, build: Callable[[], Callable]) -> Callable:
    """One compiled callable per network, key and weights (recompiled when weights change)."""
    per_net = _COMPILED.setdefault(net, {})
    signature = _weights_signature(net)
    hit = per_net.get(key)
    if hit is None or hit[0] != signature:
        hit = (signature, build())
        per_net[key] = hit
    return hit[1]


# -- one network -------------------------------------------------------------------------------
def _prepare(net: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def _batches(x: torch.Tensor, rows: int, device: torch.device,
             channels_last: bool) -> Iterator[torch.Tensor]:
    for start in range(0, len(x), rows):
        yield to_device(x[start:start + rows], device, channels_last=channels_last)


@torch.no_grad()
def network_logits(net: nn.Module, x: torch.Tensor, device: torch.device,
                   batch_size: int = DEFAULT_BATCH, *, channels_last: bool | None = None,
                   compile: bool | None = None, bf16: bool | None = None,
                   memory_budget: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and penultimate features (N, D) of one network in eval mode.

    Args:
        net: the network (moved to ``device``; its layout becomes channels_last when asked).
        x: images (N, C, H, W) on the CPU.
        device: where to run.
        batch_size: largest batch of one forward pass.
        channels_last: NHWC layout; None = on CUDA only.
        compile: ``torch.compile`` the forward pass; None = ``UQVIZ_COMPILE``.
        bf16: bf16 autocast; None = on CUDA only.
        memory_budget: activation bytes one pass may use; None = ``uqviz.device.memory_budget``.
    """
    cl = uses_channels_last(device, channels_last)
    wrapped = _prepare(_LogitsAndFeatures(net), device, cl).eval()
    forward: Callable = wrapped
    if compile_requested(compile):
        forward = _cached(net, ("network", device.type, cl),
                          lambda: _CompiledOrEager(_LogitsAndFeatures(net)))
    rows = batch_size
    if len(x) > 0:
        rows = rows_per_pass(batch_size, 1, activation_bytes_per_row(net, tuple(x.shape[1:])),
                             _budget(device, memory_budget))
    logits, feats = [], []
    for xb in _batches(x, rows, device, cl):
        with autocast(device, bf16=bf16):
            lo, fe = forward(xb)
        logits.append(lo)
        feats.append(fe)
    if not logits:
        raise ValueError("network_logits needs at least one image, got 0")
    return _to_numpy(torch.cat(logits)), _to_numpy(torch.cat(feats))


# -- ensembles ---------------------------------------------------------------------------------
def _vmapped_members(base: nn.Module) -> Callable:
    def one(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    return torch.vmap(one, in_dims=(0, 0, None))


@torch.no_grad()
def ensemble_logits(nets: list[nn.Module], x: torch.Tensor, device: torch.device, *,
                    batched: bool | None = None, batch_size: int = DEFAULT_BATCH,
                    channels_last: bool | None = None, compile: bool | None = None,
                    bf16: bool | None = None, memory_budget: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Logits (K, N, C) of K members of one architecture and member 0's features (N, D).

    ``batched`` runs all members in one vmapped call per chunk (Lakshminarayanan et al. 2017's
    ensemble as one stacked network); False loops over members; None reads the recorded choice
    for the device and architecture (``uqviz.device.prefers_batched``). A batched chunk holds
    at most ``batch_size`` images and K × rows × activation bytes within ``memory_budget``.
    Other options as in ``network_logits``.
    """
    if not nets:
        raise ValueError("an ensemble needs at least one network, got 0")
    if batched is None:
        batched = prefers_batched(device, arch=architecture_of(nets[0]), workload="ensemble")
    options = {"channels_last": channels_last, "compile": compile, "bf16": bf16,
               "memory_budget": memory_budget}
    if not batched:
        outs = [network_logits(net, x, device, batch_size, **options) for net in nets]
        return np.stack([o[0] for o in outs]), outs[0][1]
    cl = uses_channels_last(device, channels_last)
    wrapped = [_prepare(_LogitsAndFeatures(net), device, cl).eval() for net in nets]
    params, buffers = stack_module_state(wrapped)
    base = copy.deepcopy(wrapped[0]).to("meta")
    if compile_requested(compile):
        mapped = _cached(nets[0], ("ensemble", len(nets), device.type, cl),
                         lambda: _CompiledOrEager(_vmapped_members(base)))
    else:
        mapped = _vmapped_members(base)
    rows = rows_per_pass(batch_size, len(nets),
                         activation_bytes_per_row(nets[0], tuple(x.shape[1:])),
                         _budget(device, memory_budget)) if len(x) else batch_size
    logits, feats = [], []
    for xb in _batches(x, rows, device, cl):
        with autocast(device, bf16=bf16):
            lo, fe = mapped(params, buffers, xb)
        logits.append(lo)
        feats.append(fe[0])
    if not logits:
        raise ValueError("ensemble_logits needs at least one image, got 0")
    return _to_numpy(torch.cat(logits, dim=1)), _to_numpy(torch.cat(feats))


# -- MC dropout --------------------------------------------------------------------------------
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


dropout_only_active = _dropout_only_active  # public: ``uqviz.methods.network.TorchNetwork``


@torch.no_grad()
def sampled_logits(sampler: nn.Module, x: torch.Tensor, device: torch.device,
                   batch_size: int = DEFAULT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and features (N, D) of one full pass of ``sampler`` (a network from
    ``dropout_only_active``: its dropout layers sample from torch's global generator), in
    batches of ``batch_size``; unlike ``network_logits`` the modes are left as they are."""
    wrapped = _LogitsAndFeatures(sampler).to(device)
    logits, feats = [], []
    for start in range(0, len(x), batch_size):
        lo, fe = wrapped(to_device(x[start:start + batch_size], device, channels_last=False))
        logits.append(lo)
        feats.append(fe)
    if not logits:
        raise ValueError("sampled_logits needs at least one image, got 0")
    return _to_numpy(torch.cat(logits)), _to_numpy(torch.cat(feats))


def mc_rows_per_pass(net: nn.Module, input_shape: tuple[int, ...], samples: int,
                     batch_size: int, budget: int) -> int:
    """Images per batched MC-dropout pass: at most ``batch_size`` and MAX_ROWS_PER_PASS // T,
    and the trunk (once per image) plus T copies of the tail within ``budget`` bytes."""
    trunk_bytes = activation_bytes_per_row(net, input_shape)
    tail_bytes = _remembered(net, ("mc_tail", tuple(input_shape)),
                             lambda: _tail_bytes(net, tuple(input_shape)))
    by_budget = budget // max(1, trunk_bytes + samples * tail_bytes)
    return int(max(1, min(batch_size, MAX_ROWS_PER_PASS // samples, by_budget)))


def _tail_bytes(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    skeleton = copy.deepcopy(net).to("meta").eval()
    trunk = getattr(skeleton, "mc_trunk", lambda t: t)
    tail = getattr(skeleton, "mc_tail", skeleton)
    with torch.no_grad():
        hidden = trunk(torch.empty((1, *input_shape), device="meta"))
        tail_numel = max(hidden.numel(), _largest_activation(skeleton, lambda: tail(hidden)))
    return LIVE_ACTIVATIONS * tail_numel * ACTIVATION_BYTES


def mc_seed_blocks(n: int, row_offset: int = 0) -> list[tuple[int, int, int]]:
    """``(start, stop, block)`` of the rows 0..n-1 cut where the absolute row index
    ``row_offset + i`` crosses a multiple of ``MC_SEED_ROWS``; ``block`` is the absolute block
    number that seeds the rows' dropout masks."""
    if n < 0 or row_offset < 0:
        raise ValueError(f"n and row_offset must be >= 0, got {n} and {row_offset}")
    blocks, start = [], 0
    while start < n:
        block = (row_offset + start) // MC_SEED_ROWS
        stop = min(n, (block + 1) * MC_SEED_ROWS - row_offset)
        blocks.append((start, stop, block))
        start = stop
    return blocks


def _block_seed(seed: int, block: int) -> int:
    return (seed * 1_000_003 + block) % (2**63 - 1)


def _passes(blocks: list[tuple[int, int, int]], rows: int) -> list[list[tuple[int, int, int]]]:
    """Consecutive seed blocks grouped into passes of at most ``rows`` rows (a block larger
    than ``rows`` is a pass of its own: blocks are never split)."""
    passes: list[list[tuple[int, int, int]]] = []
    for block in blocks:
        if passes and block[1] - passes[-1][0][0] <= rows:
            passes[-1].append(block)
        else:
            passes.append([block])
    return passes


@torch.no_grad()
def mc_dropout_logits(net: nn.Module, x: torch.Tensor, device: torch.device, *, samples: int,
                      seed: int, batched: bool | None = None, batch_size: int = DEFAULT_BATCH,
                      channels_last: bool | None = None, bf16: bool | None = None,
                      memory_budget: int | None = None, row_offset: int = 0) -> np.ndarray:
    """Logits (T, N, C) of T stochastic passes with only dropout active.

    The deterministic trunk before the first dropout layer (``mc_trunk``, the convolutions)
    runs once per batch; only the stochastic tail (``mc_tail``) is sampled T times, which gives
    the same distribution as T full passes at a fraction of the cost. ``batched`` repeats the
    trunk's output T times and runs the tail in one large pass (bounded by MAX_ROWS_PER_PASS
    rows and by ``memory_budget``, see ``mc_rows_per_pass``); False runs T tail passes in a
    loop; None reads the recorded choice for the device and architecture. Not compiled: the
    tail is a few small layers.

    Reproducible however the rows are cut: the dropout masks of each block of
    ``MC_SEED_ROWS`` rows are drawn from a seed of (``seed``, the block's absolute number),
    where row i of ``x`` is absolute row ``row_offset + i``. So predicting a block of rows in
    one call, or in shards whose offsets are multiples of ``MC_SEED_ROWS`` (as
    ``uqviz.precompute`` does), or with any memory budget, gives the same samples. The global
    RNG state is restored.

    References: Gal & Ghahramani, "Dropout as a Bayesian Approximation: Representing Model
    Uncertainty in Deep Learning", ICML 2016.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if batched is None:
        batched = prefers_batched(device, arch=architecture_of(net), workload="mc_dropout")
    cl = uses_channels_last(device, channels_last)
    rows = []
    with _dropout_only_active(net) as sampler, torch.random.fork_rng(
            devices=[device] if device.type == "cuda" else []):
        sampler = _prepare(sampler, device, cl)
        trunk = getattr(sampler, "mc_trunk", lambda t: t)
        tail = getattr(sampler, "mc_tail", sampler)
        per_pass = batch_size
        if batched and len(x):
            per_pass = mc_rows_per_pass(net, tuple(x.shape[1:]), samples, batch_size,
                                        _budget(device, memory_budget))
        for group in _passes(mc_seed_blocks(len(x), row_offset), per_pass):
            first = group[0][0]
            xb = to_device(x[first:group[-1][1]], device, channels_last=cl)
            with autocast(device, bf16=bf16):
                hidden = trunk(xb)
                for start, stop, block in group:
                    torch.manual_seed(_block_seed(seed, block))
                    hb = hidden[start - first:stop - first]
                    if batched:
                        lo = tail(hb.repeat(samples, *([1] * (hb.dim() - 1))))
                        rows.append(lo.reshape(samples, len(hb), -1))
                    else:
                        rows.append(torch.stack([tail(hb) for _ in range(samples)]))
    if not rows:
        raise ValueError("mc_dropout_logits needs at least one image, got 0")
    return _to_numpy(torch.cat(rows, dim=1))
