"""Networks: a small CNN with dropout (inputs up to 32×32) and a CIFAR-style ResNet-18.

Every network exposes ``features(x) -> (N, D)`` (the penultimate layer, used by the embedding
map) and ``head(features) -> logits``; ``forward(x) == head(features(x))``.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES = ("small_cnn", "resnet18")
# channel dropout drops whole feature maps: a smaller rate regularises as much
CHANNEL_DROPOUT_SHARE = 0.4


class SmallCNN(nn.Module):
    """Two 3×3 conv blocks, adaptive pooling to 4×4, a 128-unit layer; channel dropout
    (``Dropout2d``) on the pooled feature map and dropout before the output layer, so MC dropout
    has something to sample. Channel dropout draws 64 random numbers per image instead of
    1,024, which makes MC sampling several times cheaper on a CPU."""

    arch = "small_cnn"

    def __init__(self, in_channels: int, num_classes: int, image_size: int,
                 width: int = 32, hidden: int = 128, dropout: float = 0.25) -> None:
        super().__init__()
        pool = nn.MaxPool2d(2) if image_size >= 16 else nn.Identity()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), pool,
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.dense = nn.Sequential(nn.Dropout2d(dropout * CHANNEL_DROPOUT_SHARE), nn.Flatten(),
                                   nn.Linear(2 * width * 16, hidden), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(x))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def mc_trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic part before the first dropout layer (computed once for MC)."""
        return self.conv(x)

    def mc_tail(self, trunk: torch.Tensor) -> torch.Tensor:
        """The stochastic rest: dropout and the dense layers, sampled T times."""
        return self.head(self.dense(trunk))


class GlobalAvgPool(nn.Module):
    """Mean over the spatial axes: (N, C, H, W) -> (N, C). The same as ``AdaptiveAvgPool2d(1)``
    then ``Flatten``, but with a ``vmap`` batching rule in channels_last layout (the adaptive
    pool falls back to a per-member loop there)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (3×3 stem, no max-pool; He et al. 2016), dropout before the head.

    About 11.2 M parameters and 0.56 GMACs (1.11 GFLOP) per 32×32 image forward.
    """

    arch = "resnet18"

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU())
        layers, in_planes = [], 64
        for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.pool = GlobalAvgPool()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.layers(self.stem(x)))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def mc_trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def mc_tail(self, trunk: torch.Tensor) -> torch.Tensor:
        return self.head(trunk)


class PriorNet(nn.Module):
    """Randomized prior function (Osband et al. 2018): ``f(x) + beta * p(x)`` where ``p`` is a
    fixed, randomly initialised copy of the architecture that is never trained.

    References: Osband, Aslanides & Cassirer, "Randomized Prior Functions for Deep
    Reinforcement Learning", NeurIPS 2018.
    """

    def __init__(self, trainable: nn.Module, prior: nn.Module, beta: float) -> None:
        super().__init__()
        self.trainable = trainable
        self.prior = prior
        self.prior.requires_grad_(False)
        self.beta = float(beta)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trainable.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            prior_logits = self.prior(x)
        return self.trainable(x) + self.beta * prior_logits

    def train(self, mode: bool = True) -> PriorNet:
        super().train(mode)
        self.prior.eval()  # the prior is a fixed function: no dropout, no batch-norm updates
        return self


def build_model(arch: str, input_shape: tuple[int, int, int], num_classes: int,
                dropout: float) -> nn.Module:
    """A fresh network for ``input_shape`` (C, H, W); ``arch`` in ARCHITECTURES or ``auto``
    (ResNet-18 for 32×32 colour, the small CNN otherwise)."""
    c, h, w = input_shape
    if arch == "auto":
        arch = "resnet18" if (c == 3 and h >= 32) else "small_cnn"
    if arch == "small_cnn":
        if max(h, w) > 64:
            raise ValueError(f"small_cnn is for inputs up to 64×64, got {h}×{w}")
        return SmallCNN(c, num_classes, max(h, w), dropout=dropout)
    if arch == "resnet18":
        return ResNet18(c, num_classes, dropout=dropout)
    raise ValueError(f"unknown architecture {arch!r}; valid: auto, {', '.join(ARCHITECTURES)}")


def architecture_of(model: nn.Module) -> str | None:
    """``small_cnn`` or ``resnet18`` for a network built here (a ``PriorNet`` has its trainable
    network's); None for any other module."""
    inner = model.trainable if isinstance(model, PriorNet) else model
    return getattr(inner, "arch", None)


def has_active_dropout(model: nn.Module) -> bool:
    """True when the model holds at least one dropout layer with p > 0."""
    return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules())
