"""Named, frozen run settings: which dataset, network, ensemble size, MC samples and shifts.

``preset_config("cifar10")`` gives everything ``uqviz.runs.run_evaluation`` needs for the
CIFAR-size workload (ResNet-18, K = 5, T = 30, every corruption at every severity): meant for a
machine with a CUDA GPU and the CIFAR-10 files (``uqviz.data.torchvision_sets``; missing files
raise ``DatasetUnavailable`` with one line saying which files to copy where).
"""

from __future__ import annotations

from dataclasses import dataclass

from uqviz.methods import METHOD_IDS, MethodConfig
from uqviz.runs import SEVERITIES, EvalPlan
from uqviz.training import TrainConfig


@dataclass(frozen=True)
class Preset:
    """A named description of one evaluation run.

    Attributes:
        name: the preset's id.
        dataset: dataset id for ``uqviz.data.get_dataset``.
        arch: network architecture (``uqviz.models.ARCHITECTURES``).
        members: K, ensemble members (deep and prior ensembles).
        mc_samples: T, MC-dropout passes.
        corruptions: corruption names, or ``("all",)`` for every registered corruption.
        severities: severities 1–5 of each corruption.
        epochs: training epochs per network.
        batch_size: training batch size.
        lr: Adam's peak learning rate (one-cycle schedule).
        weight_decay: Adam's weight decay.
        dropout: dropout rate before the head (what MC dropout samples).
        methods: the methods the run trains and evaluates.
        description: one sentence for the command line's help.
    """

    name: str
    dataset: str
    arch: str
    members: int
    mc_samples: int
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    dropout: float
    methods: tuple[str, ...]
    description: str

    def train_config(self) -> TrainConfig:
        return TrainConfig(arch=self.arch, epochs=self.epochs, batch_size=self.batch_size,
                           lr=self.lr, weight_decay=self.weight_decay, dropout=self.dropout)

    def method_config(self, seed: int = 0) -> MethodConfig:
        """The ``MethodConfig`` of this preset (batched/looped: the device's recorded choice)."""
        return MethodConfig(train=self.train_config(), seed=seed, members=self.members,
                            mc_samples=self.mc_samples)

    def eval_plan(self, seed: int = 0) -> EvalPlan:
        """The ``EvalPlan``: these corruptions × severities and every OOD set that applies."""
        return EvalPlan(corruptions=self.corruptions, severities=self.severities, seed=seed)


@dataclass(frozen=True)
class PresetConfig:
    """What ``run_evaluation`` takes for a preset: dataset id, methods, config and plan."""

    preset: Preset
    dataset: str
    methods: tuple[str, ...]
    config: MethodConfig
    plan: EvalPlan


PRESETS: dict[str, Preset] = {
    "cifar10": Preset(
        name="cifar10", dataset="cifar10", arch="resnet18", members=5, mc_samples=30,
        corruptions=("all",), severities=SEVERITIES, epochs=30, batch_size=256, lr=2e-3,
        weight_decay=1e-4, dropout=0.2, methods=METHOD_IDS,
        description=("CIFAR-10 with a ResNet-18: 5-member deep and prior ensembles, 30 MC-"
                     "dropout samples, every corruption at severities 1–5 (a CUDA GPU and "
                     "the CIFAR-10 files are expected)."),
    ),
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ValueError listing the valid names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESET_NAMES)}") from None


def preset_config(name: str, *, seed: int = 0) -> PresetConfig:
    """Dataset, methods, ``MethodConfig`` and ``EvalPlan`` of preset ``name`` for
    ``uqviz.runs.run_evaluation(cfg.dataset, list(cfg.methods), config=cfg.config,
    plan=cfg.plan)``."""
    preset = get_preset(name)
    return PresetConfig(preset=preset, dataset=preset.dataset, methods=preset.methods,
                        config=preset.method_config(seed), plan=preset.eval_plan(seed))
