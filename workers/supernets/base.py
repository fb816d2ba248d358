"""`Supernet`: the weight-sharing network of one batch of architectures, and its common parts.

A supernet is built from the *union* of a batch: on each edge (or layer, or vertex) it holds
only the ops that some member uses, so that a batch of similar architectures shares one small
network instead of the whole space's. Two forwards are defined:

* `forward(x, arch)` runs exactly one member's path;
* `forward(x, None)` runs the whole union (every op of every edge, averaged), which is what
  warm-up trains. BONAS's public code claims a union warm-up but trains single paths; this is
  the real thing.

`alone(arch)` builds the same class from the single architecture `arch` and copies the shared
weights into it: the stand-alone network of that member, whose parameter names are a subset of
the supernet's. Its forward equals the supernet's forward along `arch`, which the unit tests
check for every space.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import nn

from surrogate.spaces.base import SearchSpace
from workers.supernets.exceptions import SupernetError
from workers.supernets.ops import ReLUConvBN

A = TypeVar("A")


@dataclass(frozen=True)
class SupernetConfig:
    """Size of the network around the searched cells or layers.

    Attributes:
        num_classes: Outputs of the classifier.
        in_channels: Channels of the input images.
        channels: Width of the first stage; each reduction doubles it.
        cells_per_stage: Cells per stage for cell spaces (NAS-Bench-201 uses 5, DARTS
            networks use about 2 to 6, NAS-Bench-101 uses 3); macro spaces ignore it.
    """

    num_classes: int = 10
    in_channels: int = 3
    channels: int = 16
    cells_per_stage: int = 1

    def __post_init__(self) -> None:
        for name in ("num_classes", "in_channels", "channels", "cells_per_stage"):
            if getattr(self, name) < 1:
                raise SupernetError(f"{name} must be positive, got {getattr(self, name)}")


class Supernet(nn.Module, ABC, Generic[A]):
    """Weight-sharing network over the union of a batch of architectures of one space.

    Args:
        space: The search space the architectures belong to.
        archs: The batch (at least one architecture; duplicates are harmless).
        config: Network size.
    """

    def __init__(self, space: SearchSpace[A], archs: Sequence[A], config: SupernetConfig) -> None:
        super().__init__()
        if not archs:
            raise SupernetError("a supernet needs at least one architecture")
        for arch in archs:
            space.validate(arch)
        self.space = space
        self.config = config
        self.members: tuple[A, ...] = tuple(archs)

    @abstractmethod
    def forward(self, x: torch.Tensor, arch: A | None = None) -> torch.Tensor:
        """Logits of the member `arch`, or of the whole union when `arch` is None.

        Args:
            x: `(B, in_channels, H, W)` images.
            arch: A member of the union, or None for the union forward.

        Returns:
            `(B, num_classes)` logits.

        Raises:
            NotAMemberError: `arch` uses an op that the union does not hold.
        """

    def alone(self, arch: A) -> Supernet[A]:
        """`arch` built on its own, holding this supernet's weights (and BN statistics)."""
        device = next(self.parameters()).device
        with torch.device(device):
            network = type(self)(self.space, [arch], self.config)
        own = self.state_dict()
        network.load_state_dict({name: own[name] for name in network.state_dict()})
        network.train(self.training)
        return network

    def count_parameters(self, arch: A) -> int:
        """Trainable parameters of `arch`'s own network (built on the meta device: no memory)."""
        with torch.device("meta"):
            network = type(self)(self.space, [arch], self.config)
        return sum(p.numel() for p in network.parameters())


class ResidualReduction(nn.Module):
    """NAS-Bench-201's reduction block: a stride-2 residual block that doubles the width.

    Two 3x3 ReLU-Conv-BN (the first with stride 2), plus a shortcut of 2x2 average pooling and
    a 1x1 convolution.
    """

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, 2, ceil_mode=True), nn.Conv2d(C_in, C_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv_b(self.conv_a(x)) + self.shortcut(x)
        return out


class ClassifierHead(nn.Module):
    """BN, ReLU, global average pooling, linear layer."""

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(C)
        self.linear = nn.Linear(C, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.relu(self.bn(x)).mean(dim=(2, 3))
        result: torch.Tensor = self.linear(pooled)
        return result


def op_key(name: str) -> str:
    """Module name under which an op is registered (names may hold `-`; never `.`)."""
    if "." in name:
        raise SupernetError(f"op name {name!r} cannot contain '.'")
    return name


def mean_of(outputs: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """Average of the tensors, or None for an empty list (a union edge with only zero ops)."""
    if not outputs:
        return None
    total = outputs[0]
    for out in outputs[1:]:
        total = total + out
    return total / len(outputs) if len(outputs) > 1 else total


def add(total: torch.Tensor | None, value: torch.Tensor | None) -> torch.Tensor | None:
    """`total + value`, where None stands for an exact zero."""
    if value is None:
        return total
    return value if total is None else total + value
