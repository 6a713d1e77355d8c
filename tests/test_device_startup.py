"""Start-up: deterministic kernels on the CPU without importing torch's compiler, whose own flag
is set when something is compiled."""

from __future__ import annotations

import subprocess
import sys

import torch


def test_configure_threads_sets_determinism_without_importing_the_compiler():
    code = ("import sys, torch\n"
            "from uqviz.device import configure_threads\n"
            "configure_threads()\n"
            "print(torch.are_deterministic_algorithms_enabled(),\n"
            "      torch.is_deterministic_algorithms_warn_only_enabled(),\n"
            "      'torch._inductor.config' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"UQVIZ_TORCH_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["True", "True", "False"]


def test_compiling_copies_the_determinism_into_the_compilers_config(monkeypatch):
    import torch._inductor.config as inductor_config

    from uqviz.device import compiled, configure_determinism

    monkeypatch.setenv("UQVIZ_COMPILE_BACKEND", "eager")
    assert configure_determinism(torch.device("cpu"))
    monkeypatch.setattr(inductor_config, "deterministic", False)
    fn = compiled(lambda x: x + 1)
    assert inductor_config.deterministic is True
    assert torch.equal(fn(torch.ones(2)), torch.full((2,), 2.0))
