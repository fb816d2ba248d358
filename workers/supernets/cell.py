"""Supernet of NAS-Bench-201-style cell spaces (`CellSpace`: NAS-Bench-201 and user cells).

The network is NAS-Bench-201's: a 3x3 conv stem, three stages of `cells_per_stage` cells at
widths C, 2C, 4C separated by residual reduction blocks, and a BN-ReLU-pool-linear head. Every
cell of the network repeats the same searched cell. In a cell, node `j` sums one edge from each
earlier node; edge `i -> j` holds the ops that the batch's members choose for it.

Shapes: `x` is `(B, in_channels, H, W)`; logits are `(B, num_classes)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from surrogate.spaces.cell import CellArch, CellSpace
from workers.supernets.base import (
    ClassifierHead,
    ResidualReduction,
    Supernet,
    SupernetConfig,
    add,
    mean_of,
    op_key,
)
from workers.supernets.exceptions import NotAMemberError
from workers.supernets.ops import build_op, check_op_names, is_zero_op


class SharedCell(nn.Module):
    """One cell: for each edge, a `ModuleDict` of the union's ops on that edge.

    Args:
        C: Width of every node.
        edges: `(source, target)` pairs in the space's edge order.
        edge_ops: For each edge, the op names of the union (zero ops hold no module).
    """

    def __init__(
        self, C: int, edges: Sequence[tuple[int, int]], edge_ops: Sequence[Sequence[str]]
    ) -> None:
        super().__init__()
        self.edge_list = tuple(edges)
        self.num_nodes = max(target for _, target in edges) + 1
        self.edge_ops = tuple(tuple(ops) for ops in edge_ops)
        self.edges = nn.ModuleList(
            nn.ModuleDict({op_key(op): build_op(op, C, C) for op in ops if not is_zero_op(op)})
            for ops in self.edge_ops
        )

    def forward(self, x: torch.Tensor, arch: CellArch | None) -> torch.Tensor:
        nodes = [x]
        for target in range(1, self.num_nodes):
            total: torch.Tensor | None = None
            for e, (source, edge_target) in enumerate(self.edge_list):
                if edge_target == target:
                    total = add(total, self._edge(e, nodes[source], arch))
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[-1]

    def _edge(self, e: int, x: torch.Tensor, arch: CellArch | None) -> torch.Tensor | None:
        ops: nn.ModuleDict = self.edges[e]  # type: ignore[assignment]
        if arch is None:
            return mean_of([op(x) for op in ops.values()])
        name = arch[e]
        if is_zero_op(name):
            return None
        if name not in self.edge_ops[e]:
            source, target = self.edge_list[e]
            raise NotAMemberError(
                f"op {name!r} on edge {source}->{target} is not in the supernet's union "
                f"{list(self.edge_ops[e])}"
            )
        result: torch.Tensor = ops[op_key(name)](x)
        return result


class CellSupernet(Supernet[CellArch]):
    """Weight-sharing NAS-Bench-201 network over the union of a batch of cells."""

    def __init__(self, space: CellSpace, archs: Sequence[CellArch], config: SupernetConfig) -> None:
        super().__init__(space, archs, config)
        check_op_names(space.ops)
        edge_ops = [
            tuple(op for op in space.ops if any(arch[e] == op for arch in archs))
            for e in range(space.num_edges)
        ]
        self.edge_ops = tuple(edge_ops)
        C = config.channels
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)
        )
        layers: list[nn.Module] = []
        width = C
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, width * 2))
                width *= 2
            layers.extend(
                SharedCell(width, space.edges, edge_ops) for _ in range(config.cells_per_stage)
            )
        self.layers = nn.ModuleList(layers)
        self.head = ClassifierHead(width, config.num_classes)

    def forward(self, x: torch.Tensor, arch: CellArch | None = None) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, arch) if isinstance(layer, SharedCell) else layer(x)
        result: torch.Tensor = self.head(x)
        return result
