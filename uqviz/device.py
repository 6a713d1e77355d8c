"""Device choice and CPU threading: CUDA, then MPS, then CPU.

On CPU torch uses one thread by default (the two cores of a small machine are shared with the
browser and the Streamlit server); ``UQVIZ_TORCH_THREADS`` overrides.
"""

from __future__ import annotations

import contextlib
import os

import torch

THREADS_ENV = "UQVIZ_TORCH_THREADS"
DEVICE_ENV = "UQVIZ_DEVICE"


def configure_threads(default: int = 1) -> int:
    """Set torch's intra-op threads from ``UQVIZ_TORCH_THREADS`` (else ``default``, 1: on a
    small shared CPU one thread measured faster than two, see benchmarks/RESULTS.md); return
    the count."""
    raw = os.environ.get(THREADS_ENV, str(default))
    try:
        threads = max(1, int(raw))
    except ValueError as err:
        raise ValueError(f"{THREADS_ENV} must be a whole number, got {raw!r}") from err
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def default_device() -> torch.device:
    """CUDA when available, then Apple's MPS, then the CPU; ``UQVIZ_DEVICE`` overrides."""
    forced = os.environ.get(DEVICE_ENV)
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: torch.device | None = None) -> str:
    """A readable name: ``CPU (1 thread)`` or the GPU's name."""
    device = device or default_device()
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''})"


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prefers_batched(device: torch.device) -> bool:
    """Whether ensemble members and MC samples run as one batch by default on ``device``.

    Measured by ``benchmarks/bench_core.py``: batching wins on a GPU; on one or two CPU threads
    the loop is as fast or faster (see benchmarks/RESULTS.md), so the CPU default is the loop.
    """
    return device.type in ("cuda", "mps")
