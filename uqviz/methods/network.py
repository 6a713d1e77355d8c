"""What a method needs from a classifier, and the one loop that runs a method's passes.

**The network protocol** (``Network``). A method never needs more of a classifier than this:

* ``name``: what messages call it;
* ``outputs``: ``"logits"`` or ``"probabilities"`` (what ``run`` returns);
* ``run(x) -> (raw, features)``: raw outputs float (N, C) and penultimate features (N, D), or
  None when the network gives none, for float images x (N, C, H, W) in [0, 1];
* ``dropout_sampling()``: a context in which ``run`` samples fresh dropout masks from torch's
  global generator (an error with one line when the network has no dropout to sample).

Two kinds implement it: a built-in trained network (``TorchNetwork``, over
``uqviz.inference.network_logits``) and a user's loaded model (``uqviz.user_model.loading.
UserModel``, which runs in a worker process of its own).

**Passes** (``Pass``). Each method says which forward passes make its S samples
(``Method.passes``): softmax and temperature scaling one pass of the first network, test-time
augmentation one pass per augmentation, MC dropout T passes with dropout sampling, an ensemble
one pass per network. ``run_passes`` runs the passes of several methods on one batch, each
distinct pass once (the plain pass of the first network is shared by softmax, temperature
scaling, the first TTA sample and the first ensemble member), and returns each method's samples.
MC dropout's passes run in order under one seed per batch (``dropout_seed``), in a forked
generator so that nothing else's randomness moves.

**Outputs to probabilities** (``to_probs``, ``as_logits``): a softmax of logits (divided by a
temperature), or given probabilities renormalised; log-probabilities stand in for the logits of
a model that outputs probabilities.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from uqviz.methods.augmentation import IDENTITY, Augmentation, augment

LOG_FLOOR = 1e-12
LOGITS, PROBABILITIES = "logits", "probabilities"


class Network(Protocol):
    """A classifier as the methods see it (module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def outputs(self) -> str: ...

    def run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]: ...

    def dropout_sampling(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class Pass:
    """One forward pass: network ``network`` (an index into the networks given) on the batch
    under ``augmentation``; ``dropout`` >= 0 makes it the ``dropout``-th dropout-sampling pass
    (−1: a plain pass in eval mode)."""

    network: int = 0
    augmentation: Augmentation = IDENTITY
    dropout: int = -1


PLAIN = Pass()


def run_passes(networks: Sequence[Network], x: torch.Tensor, wanted: dict[str, tuple[Pass, ...]],
               *, dropout_seed: int | None = None
               ) -> tuple[dict[str, list[np.ndarray]], np.ndarray | None]:
    """Each method's raw samples on the batch ``x``, and the first network's features.

    Args:
        networks: the networks the passes index.
        x: float images (N, C, H, W) in [0, 1].
        wanted: ``{method id: its passes}`` (``Method.passes``).
        dropout_seed: seeds the dropout-sampling passes (required when any is wanted).

    Returns:
        ``({method: [raw (N, C) per sample, in the order of its passes]}, features or None)``;
        every distinct pass runs once, and the plain pass of the first network always runs
        (it gives the features).
    """
    distinct = list(dict.fromkeys([PLAIN, *(p for ps in wanted.values() for p in ps)]))
    raw: dict[Pass, np.ndarray] = {}
    features = None
    for p in (p for p in distinct if p.dropout < 0):
        xa = x if p.augmentation == IDENTITY else augment(x, p.augmentation)
        out, feats = networks[p.network].run(xa)
        raw[p] = out
        if p == PLAIN:
            features = feats
    sampled = sorted((p for p in distinct if p.dropout >= 0), key=lambda p: p.dropout)
    if sampled:
        if dropout_seed is None:
            raise ValueError("dropout-sampling passes need a dropout_seed, got None")
        with _forked_generator(networks[0], dropout_seed), networks[0].dropout_sampling():
            for p in sampled:
                raw[p] = networks[p.network].run(x)[0]
    return {method: [raw[p] for p in passes] for method, passes in wanted.items()}, features


@contextmanager
def _forked_generator(network: Network, seed: int) -> Iterator[None]:
    device = getattr(network, "device", None)
    devices = [device] if isinstance(device, torch.device) and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# -- outputs to probabilities -------------------------------------------------------------------
def as_logits(raw: np.ndarray, outputs: str) -> np.ndarray:
    """Logits, or log-probabilities (floored at 1e-12) for a network that outputs
    probabilities (they differ from logits by a per-row constant, which a softmax ignores)."""
    if outputs == LOGITS:
        return raw
    return np.log(np.maximum(raw.astype(np.float64), LOG_FLOOR))


def to_probs(raw: np.ndarray, outputs: str, temperature: float = 1.0) -> np.ndarray:
    """float32 probabilities of raw outputs (…, C): a softmax of the logits divided by
    ``temperature`` (``uqviz.numerics.softmax``), or the given probabilities renormalised."""
    from uqviz.numerics import softmax

    if outputs == PROBABILITIES and temperature == 1.0:
        p = np.maximum(raw.astype(np.float64), 0.0)
        return (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)
    return softmax(as_logits(raw, outputs), temperature=temperature, dtype=np.float32)


# -- built-in networks ----------------------------------------------------------------------------
@dataclass(eq=False)
class TorchNetwork:
    """A built-in trained network (``uqviz.models``) as a ``Network``: ``run`` is
    ``uqviz.inference.network_logits`` (batched to the memory budget, eval mode); inside
    ``dropout_sampling`` it is one full pass of a copy with only the dropout layers sampling
    (``uqviz.inference.dropout_only_active``; the network itself is never changed). The built-in
    MC dropout method keeps its faster path (``uqviz.inference.mc_dropout_logits``: the trunk
    once, the dropout tail sampled, masks seeded per block of rows)."""

    net: torch.nn.Module
    device: torch.device
    name: str = "network"
    outputs: str = LOGITS
    _sampler: torch.nn.Module | None = field(default=None, init=False, repr=False)

    def run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        from uqviz.inference import network_logits, sampled_logits

        if self._sampler is not None:
            return sampled_logits(self._sampler, x, self.device)
        return network_logits(self.net, x, self.device)

    @contextmanager
    def dropout_sampling(self) -> Iterator[None]:
        from uqviz.inference import dropout_only_active

        with dropout_only_active(self.net) as sampler:
            self._sampler = sampler
            try:
                yield
            finally:
                self._sampler = None
