"""Supernet of the DARTS space (normal and reduction cells of 4 nodes, 2 inputs each).

The network is DARTS's evaluation network without auxiliary head or drop-path: a 3x3 conv stem
to 3C channels, three stages of `cells_per_stage` normal cells with a reduction cell between
stages (which halves the resolution and doubles C), and global pooling with a linear layer. A
cell preprocesses its two inputs `c_{k-2}` and `c_{k-1}` to C channels (a factorised reduction
for `c_{k-2}` after a reduction cell), computes its 4 nodes and concatenates them (4C
channels).

Weights are shared per `(cell type, node, input, op)`: node `i` of the union holds, for each
input some member feeds it from, the ops members apply on that input. A genotype's two pairs of
a node have distinct inputs, so each pair of a member maps to its own module.

Shapes: `x` is `(B, in_channels, H, W)`; logits are `(B, num_classes)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from surrogate.spaces.darts import (
    CELL_TYPES,
    INPUTS_PER_NODE,
    NUM_NODES,
    CellGenotype,
    DartsGenotype,
    DartsSpace,
)
from workers.supernets.base import Supernet, SupernetConfig, add, mean_of, op_key
from workers.supernets.exceptions import NotAMemberError
from workers.supernets.ops import FactorizedReduce, ReLUConvBN, build_op, is_zero_op

STEM_MULTIPLIER = 3

EdgeOps = dict[tuple[int, int], tuple[str, ...]]
"""`(node, input) -> op names` of one cell type's union."""


def union_edges(archs: Sequence[DartsGenotype], cell_type: str) -> EdgeOps:
    """The `(node, input)` edges of one cell type used by some member, with their ops."""
    used: dict[tuple[int, int], set[str]] = {}
    for arch in archs:
        cell: CellGenotype = getattr(arch, cell_type)
        for position, (op, source) in enumerate(cell):
            used.setdefault((position // INPUTS_PER_NODE, source), set()).add(op)
    return {edge: tuple(sorted(ops)) for edge, ops in sorted(used.items())}


class SharedDartsCell(nn.Module):
    """One DARTS cell of the union.

    Args:
        C_prev_prev: Width of `c_{k-2}`.
        C_prev: Width of `c_{k-1}`.
        C: Width of every node.
        reduction: Whether this cell halves the resolution (stride 2 on its inputs' edges).
        reduction_prev: Whether the previous cell did (then `c_{k-2}` is twice as large).
        cell_type: `"normal"` or `"reduce"`: which genotype cell it runs.
        edges: The union's edges of that cell type.
    """

    def __init__(
        self,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        cell_type: str,
        edges: EdgeOps,
    ) -> None:
        super().__init__()
        self.cell_type = cell_type
        self.edge_ops = dict(edges)
        self.preprocess0: nn.Module = (
            FactorizedReduce(C_prev_prev, C)
            if reduction_prev
            else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        )
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        self.edges = nn.ModuleDict()
        for (node, source), ops in self.edge_ops.items():
            stride = 2 if reduction and source < 2 else 1
            self.edges[f"{node}_{source}"] = nn.ModuleDict(
                {op_key(op): build_op(op, C, C, stride) for op in ops if not is_zero_op(op)}
            )
        self.reduction = reduction

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, arch: DartsGenotype | None
    ) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        cell: CellGenotype | None = None if arch is None else getattr(arch, self.cell_type)
        for node in range(NUM_NODES):
            if cell is None:
                total = self._node_union(node, states)
            else:
                total = self._node(node, states, cell)
            if total is None:
                total = self._zeros(states[1])
            states.append(total)
        return torch.cat(states[2:], dim=1)

    def _zeros(self, like: torch.Tensor) -> torch.Tensor:
        stride = 2 if self.reduction else 1
        return torch.zeros_like(like[:, :, ::stride, ::stride])

    def _node(
        self, node: int, states: list[torch.Tensor], cell: CellGenotype
    ) -> torch.Tensor | None:
        total: torch.Tensor | None = None
        for op, source in cell[node * INPUTS_PER_NODE : (node + 1) * INPUTS_PER_NODE]:
            if op not in self.edge_ops.get((node, source), ()):
                raise NotAMemberError(
                    f"{self.cell_type} node {node}: op {op!r} on input {source} is not in the "
                    "supernet's union"
                )
            if is_zero_op(op):
                continue
            edge: nn.ModuleDict = self.edges[f"{node}_{source}"]  # type: ignore[assignment]
            total = add(total, edge[op_key(op)](states[source]))
        return total

    def _node_union(self, node: int, states: list[torch.Tensor]) -> torch.Tensor | None:
        """Mean over the union's ops of each edge, summed and rescaled to 2 inputs."""
        total: torch.Tensor | None = None
        count = 0
        for (edge_node, source), _ in self.edge_ops.items():
            if edge_node != node:
                continue
            ops: nn.ModuleDict = self.edges[f"{node}_{source}"]  # type: ignore[assignment]
            count += 1
            total = add(total, mean_of([op(states[source]) for op in ops.values()]))
        if total is None or count <= INPUTS_PER_NODE:
            return total
        return total * (INPUTS_PER_NODE / count)


class DartsSupernet(Supernet[DartsGenotype]):
    """Weight-sharing DARTS network over the union of a batch of genotypes."""

    def __init__(
        self, space: DartsSpace, archs: Sequence[DartsGenotype], config: SupernetConfig
    ) -> None:
        super().__init__(space, archs, config)
        edges = {cell_type: union_edges(archs, cell_type) for cell_type in CELL_TYPES}
        C = config.channels
        C_stem = STEM_MULTIPLIER * C
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, C_stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_stem),
        )
        C_prev_prev, C_prev, C_curr = C_stem, C_stem, C
        reduction_prev = False
        cells: list[SharedDartsCell] = []
        for stage in range(3):
            kinds = ["reduce"] if stage > 0 else []
            kinds += ["normal"] * config.cells_per_stage
            for kind in kinds:
                reduction = kind == "reduce"
                if reduction:
                    C_curr *= 2
                cells.append(
                    SharedDartsCell(
                        C_prev_prev, C_prev, C_curr, reduction, reduction_prev, kind, edges[kind]
                    )
                )
                C_prev_prev, C_prev, reduction_prev = C_prev, NUM_NODES * C_curr, reduction
        self.cells = nn.ModuleList(cells)
        self.linear = nn.Linear(C_prev, config.num_classes)

    def forward(self, x: torch.Tensor, arch: DartsGenotype | None = None) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, arch)
        result: torch.Tensor = self.linear(s1.mean(dim=(2, 3)))
        return result
