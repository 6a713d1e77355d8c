"""Device choice, CPU threading and the speed settings of one device.

CUDA, then MPS, then CPU. On CPU torch uses one thread by default (the two cores of a small
machine are shared with the browser and the Streamlit server); ``UQVIZ_TORCH_THREADS``
overrides. On CUDA: bf16 autocast, channels_last for convolutional networks, pinned host memory
for copies, and ``torch.compile`` when ``UQVIZ_COMPILE=1``.

Whether ensemble members and MC-dropout samples run batched or in a loop is read from
``BATCHING``, a table per (device type, architecture) filled in from the benchmarks
(``benchmarks/bench_core.py`` sections 1–2, ``benchmarks/bench_gpu.py``; figures in
``benchmarks/RESULTS.md``). Each entry names the measurement that set it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

THREADS_ENV = "UQVIZ_TORCH_THREADS"
DEVICE_ENV = "UQVIZ_DEVICE"
COMPILE_ENV = "UQVIZ_COMPILE"
COMPILE_BACKEND_ENV = "UQVIZ_COMPILE_BACKEND"
MEMORY_BUDGET_ENV = "UQVIZ_MEMORY_BUDGET_MB"
BF16_ENV = "UQVIZ_BF16"
# share of the free GPU memory one batched pass may fill (the rest: weights, the allocator)
CUDA_BUDGET_SHARE = 0.5
CPU_MEMORY_BUDGET = 1 << 30
# A fixed default on CUDA too: MC-dropout masks follow the rows per pass, so a budget that
# tracked free memory would make predictions depend on what else the GPU holds. Only when less
# than twice this is free does the budget shrink to half the free memory.
CUDA_MEMORY_BUDGET = 4 << 30


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
    configure_determinism()
    return threads


def configure_determinism(device: torch.device | None = None) -> bool:
    """Ask torch for deterministic kernels where that costs nothing: on the CPU (its kernels
    are deterministic already; the flag makes any that are not warn). On CUDA it would slow
    scatter/index kernels and needs a cuBLAS workspace setting, so it is left off there.

    Reproducible bit for bit: the same machine, the same torch build and thread count. Not
    across CPUs: another instruction set (AVX-512, AVX2, or ``ATEN_CPU_CAPABILITY=default``)
    or thread count sums floats in another order, training drifts from there, and the tests
    assert what each method guarantees with margins measured over seeds instead
    (``benchmarks/seed_spread.py``). Returns whether the flag is on.
    """
    device = device or default_device()
    on = device.type == "cpu"
    if torch.are_deterministic_algorithms_enabled() != on:
        # ``torch.use_deterministic_algorithms`` sets this flag of ATen's kernels and imports
        # torch's compiler (``torch._inductor``, about 4 s of every start-up) to copy it into
        # the compiler's config, which only ``torch.compile`` reads: ``compiled`` copies it there
        # when something is compiled.
        torch._C._set_deterministic_algorithms(on, warn_only=True)
    return on


def compiled(fn):
    """``torch.compile(fn)`` with the ``compile_backend``, after the compiler's determinism
    setting is made the one ``configure_determinism`` gave ATen."""
    torch.use_deterministic_algorithms(
        torch.are_deterministic_algorithms_enabled(),
        warn_only=torch.is_deterministic_algorithms_warn_only_enabled())
    return torch.compile(fn, backend=compile_backend())


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


def uses_bf16(device: torch.device, bf16: bool | None = None) -> bool:
    """Whether forward passes on ``device`` run under bf16 autocast: ``bf16`` when given, else
    ``UQVIZ_BF16`` (0 / 1) when set, else on CUDA only."""
    if bf16 is not None:
        return bool(bf16)
    raw = os.environ.get(BF16_ENV, "").strip().lower()
    if raw:
        if raw not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"{BF16_ENV} must be 0 or 1, got {raw!r}")
        return raw in ("1", "true", "yes", "on")
    return device.type == "cuda"


def autocast(device: torch.device, *, bf16: bool | None = None
             ) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing elsewhere; ``bf16`` True / False (or ``UQVIZ_BF16``)
    forces it on / off on any device (the CPU supports bf16 autocast too, slowly)."""
    bf16 = uses_bf16(device, bf16)
    if bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class BatchingChoice:
    """Batched or looped inference for one (device type, architecture), and why.

    Attributes:
        ensemble: run the K members as one vmapped call (else a loop over members).
        mc_dropout: run the T dropout samples as one large pass (else T passes).
        source: the measurement that set the choice, or why there is none yet.
    """

    ensemble: bool
    mc_dropout: bool
    source: str


_CPU_SOURCE = ("benchmarks/RESULTS.md §1–2 and §5: bench_core.py runs A, B and bench_gpu.py "
               "(2026-11-22, 1 CPU thread): the loop is {}")
_GPU_PENDING = ("not measured yet (no GPU was lent when the table was written): batched by "
                "design; run benchmarks/bench_gpu.py on the GPU and update this entry")

BATCHING: dict[tuple[str, str], BatchingChoice] = {
    ("cpu", "small_cnn"): BatchingChoice(
        ensemble=False, mc_dropout=False,
        source=_CPU_SOURCE.format("1.4–2.5× faster for the ensemble; MC dropout within "
                                  "noise (looped / batched 0.70–1.14×)")),
    ("cpu", "resnet18"): BatchingChoice(
        ensemble=False, mc_dropout=False,
        source=_CPU_SOURCE.format("1.5–1.7× faster for the ensemble; MC dropout within "
                                  "noise (looped / batched 0.86–1.18×)")),
    ("cuda", "small_cnn"): BatchingChoice(True, True, _GPU_PENDING),
    ("cuda", "resnet18"): BatchingChoice(True, True, _GPU_PENDING),
    ("mps", "small_cnn"): BatchingChoice(True, True, _GPU_PENDING),
    ("mps", "resnet18"): BatchingChoice(True, True, _GPU_PENDING),
}
"""The recorded batched/looped choice per (device type, architecture)."""

_DEVICE_DEFAULT = {"cpu": False, "cuda": True, "mps": True}
WORKLOADS = ("ensemble", "mc_dropout")


def batching_choice(device: torch.device, arch: str | None = None) -> BatchingChoice:
    """The recorded choice for ``device`` and architecture ``arch`` (``small_cnn``,
    ``resnet18``); an unknown or missing architecture gets the device's default."""
    entry = BATCHING.get((device.type, arch)) if arch is not None else None
    if entry is not None:
        return entry
    batched = _DEVICE_DEFAULT.get(device.type, False)
    return BatchingChoice(batched, batched,
                          f"no entry for ({device.type}, {arch}): the device's default")


def prefers_batched(device: torch.device, *, arch: str | None = None,
                    workload: str = "ensemble") -> bool:
    """Whether ensemble members (``workload="ensemble"``) or MC samples (``"mc_dropout"``)
    run as one batch by default on ``device`` for architecture ``arch``.

    Read from the recorded table ``BATCHING`` (measured by ``benchmarks/bench_core.py``): on
    one CPU thread the loop is as fast or faster for both architectures, so the CPU default is
    the loop; on a GPU batching is the default (GPU figures: see ``BATCHING[...].source``).
    Without ``arch`` the device's default (the same for every architecture in the table).
    """
    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {', '.join(WORKLOADS)}, got {workload!r}")
    choice = batching_choice(device, arch)
    return choice.ensemble if workload == "ensemble" else choice.mc_dropout


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def compile_requested(compile: bool | None = None) -> bool:
    """``compile`` when given, else whether ``UQVIZ_COMPILE`` is set to 1 / true / yes / on."""
    return _env_flag(COMPILE_ENV) if compile is None else bool(compile)


def compile_backend() -> str:
    """The ``torch.compile`` backend: ``UQVIZ_COMPILE_BACKEND``, else ``inductor``."""
    return os.environ.get(COMPILE_BACKEND_ENV, "").strip() or "inductor"


def uses_channels_last(device: torch.device, channels_last: bool | None = None) -> bool:
    """``channels_last`` when given, else True on CUDA (tensor cores read NHWC natively)."""
    return device.type == "cuda" if channels_last is None else bool(channels_last)


def memory_budget(device: torch.device) -> int:
    """Bytes one batched pass may use for activations on ``device``.

    ``UQVIZ_MEMORY_BUDGET_MB`` when set; on CUDA 4 GiB, or half of the free memory when less
    is free (a fixed size keeps seeded MC-dropout masks reproducible); elsewhere 1 GiB.
    """
    raw = os.environ.get(MEMORY_BUDGET_ENV)
    if raw:
        try:
            megabytes = float(raw)
        except ValueError as err:
            raise ValueError(f"{MEMORY_BUDGET_ENV} must be a number of MB, got {raw!r}") from err
        if megabytes <= 0:
            raise ValueError(f"{MEMORY_BUDGET_ENV} must be > 0, got {raw!r}")
        return int(megabytes * (1 << 20))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return min(CUDA_MEMORY_BUDGET, int(free * CUDA_BUDGET_SHARE))
    return CPU_MEMORY_BUDGET


def to_device(x: torch.Tensor, device: torch.device, *,
              channels_last: bool = False) -> torch.Tensor:
    """Copy a CPU batch to ``device``: through pinned memory and without blocking on CUDA,
    in channels_last layout for 4-D images when asked."""
    if device.type == "cuda" and x.device.type == "cpu":
        x = x.pin_memory()
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
