"""Supernet of macro spaces (`MacroSpace`): a chain of layers, each choosing one op.

The network: a 3x3 conv-BN-ReLU stem to C channels, the searched layers, and a
BN-ReLU-pool-linear head. Every searched op keeps its input's shape; residual reduction blocks
(stride 2, doubling the width) sit after the first and second third of the layers when there
are at least three, so that a long chain does not run at full resolution throughout.

Shapes: `x` is `(B, in_channels, H, W)`; logits are `(B, num_classes)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from surrogate.spaces.macro import MacroArch, MacroSpace
from workers.supernets.base import (
    ClassifierHead,
    ResidualReduction,
    Supernet,
    SupernetConfig,
    mean_of,
    op_key,
)
from workers.supernets.exceptions import NotAMemberError
from workers.supernets.ops import ConvBNReLU, build_op, check_op_names, is_zero_op


def reduction_after(num_layers: int) -> frozenset[int]:
    """Indices of the layers followed by a reduction block (none for fewer than 3 layers)."""
    if num_layers < 3:
        return frozenset()
    return frozenset({num_layers // 3 - 1, (2 * num_layers) // 3 - 1})


class ChoiceLayer(nn.Module):
    """One searched layer: the union's ops for it, each `C -> C` at stride 1."""

    def __init__(self, index: int, C: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.index = index
        self.op_names = tuple(ops)
        self.ops = nn.ModuleDict({op_key(op): build_op(op, C, C) for op in ops})

    def forward(self, x: torch.Tensor, arch: MacroArch | None) -> torch.Tensor:
        if arch is None:
            result = mean_of([op(x) for name, op in self.ops.items() if not is_zero_op(name)])
            return result if result is not None else torch.zeros_like(x)
        name = arch[self.index]
        if name not in self.op_names:
            raise NotAMemberError(
                f"op {name!r} of layer {self.index} is not in the supernet's union "
                f"{list(self.op_names)}"
            )
        out: torch.Tensor = self.ops[op_key(name)](x)
        return out


class MacroSupernet(Supernet[MacroArch]):
    """Weight-sharing chain network over the union of a batch of macro architectures."""

    def __init__(
        self, space: MacroSpace, archs: Sequence[MacroArch], config: SupernetConfig
    ) -> None:
        super().__init__(space, archs, config)
        for layer in space.layers:
            check_op_names(layer.ops)
        width = config.channels
        self.stem = ConvBNReLU(config.in_channels, width, 3)
        reductions = reduction_after(space.num_layers)
        blocks: list[nn.Module] = []
        for index, layer in enumerate(space.layers):
            used = tuple(op for op in layer.ops if any(arch[index] == op for arch in archs))
            blocks.append(ChoiceLayer(index, width, used))
            if index in reductions:
                blocks.append(ResidualReduction(width, width * 2))
                width *= 2
        self.blocks = nn.ModuleList(blocks)
        self.head = ClassifierHead(width, config.num_classes)

    def forward(self, x: torch.Tensor, arch: MacroArch | None = None) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, arch) if isinstance(block, ChoiceLayer) else block(x)
        result: torch.Tensor = self.head(x)
        return result
