"""Supernet of NAS-Bench-101 cells.

NAS-Bench-101's own network splits a cell's output width among the vertices that feed the
output, so a vertex's width depends on the whole graph and two cells could not share its
weights. Here, as in NAS-Bench-1Shot1's weight-sharing version of the space, every vertex has
the cell's full width and the output vertex *sums* its inputs (NAS-Bench-101 concatenates).
Everything else follows NAS-Bench-101: a vertex sums its inputs and applies its op; an edge from
the cell's input goes through a 1x1 conv-BN-ReLU projection owned by the receiving vertex; the
network is a 3x3 conv stem, three stacks of `cells_per_stage` cells, a 2x2 max pool and a
doubling of the width between stacks, then global pooling and a linear layer.

Weights are shared by *vertex position*: a pruned cell of `n` vertices puts its interior
vertices at positions `1 .. n-2` and its output at position 6 (the layout of the space's codes),
and position `p` holds one module per op that some member places there.

Shapes: `x` is `(B, in_channels, H, W)`; logits are `(B, num_classes)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from surrogate.spaces.nb101 import MAX_VERTICES, NB101_OPS, NasBench101Space, NB101Cell
from workers.supernets.base import ClassifierHead, Supernet, SupernetConfig, add, mean_of, op_key
from workers.supernets.exceptions import NotAMemberError
from workers.supernets.ops import ConvBNReLU, build_op

OUTPUT_POSITION = MAX_VERTICES - 1


def positions(cell: NB101Cell) -> list[int]:
    """Position of each vertex of a pruned cell: its index, except the output at 6."""
    n = cell.num_vertices
    return [*range(n - 1), OUTPUT_POSITION]


def position_edges(cell: NB101Cell) -> set[tuple[int, int]]:
    """The cell's edges in position coordinates."""
    where = positions(cell)
    n = cell.num_vertices
    return {(where[i], where[j]) for i in range(n) for j in range(n) if cell.matrix[i][j]}


class SharedNB101Cell(nn.Module):
    """One cell of the union: per interior position the union's ops, per receiving position
    the projection of the cell's input.

    Args:
        C_in: Width of the cell's input.
        C_out: Width of every vertex and of the output.
        position_ops: For positions 1..5, the op names members place there (maybe none).
        input_targets: Positions that receive an edge from the input in some member.
        union_edges: All edges of all members, in position coordinates.
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        position_ops: Sequence[Sequence[str]],
        input_targets: Sequence[int],
        union_edges: set[tuple[int, int]],
    ) -> None:
        super().__init__()
        self.position_ops = tuple(tuple(ops) for ops in position_ops)
        self.union_edges = frozenset(union_edges)
        self.vertices = nn.ModuleList(
            nn.ModuleDict({op_key(op): build_op(op, C_out, C_out) for op in ops})
            for ops in self.position_ops
        )
        self.projections = nn.ModuleDict(
            {str(p): ConvBNReLU(C_in, C_out, 1) for p in sorted(input_targets)}
        )

    def forward(self, x: torch.Tensor, cell: NB101Cell | None) -> torch.Tensor:
        if cell is None:
            return self._union(x)
        where = positions(cell)
        n = cell.num_vertices
        outputs: list[torch.Tensor | None] = [x] + [None] * (n - 1)
        for v in range(1, n):
            total: torch.Tensor | None = None
            for u in range(v):
                if cell.matrix[u][v]:
                    total = add(total, self._from(u, where[v], x, outputs[u]))
            if v == n - 1:
                assert total is not None  # a pruned cell's output has an input
                return total
            outputs[v] = self._vertex(where[v], cell.ops[v], total)
        raise AssertionError("unreachable: the loop returns at the output vertex")

    def _from(
        self, u: int, target: int, x: torch.Tensor, value: torch.Tensor | None
    ) -> torch.Tensor | None:
        if u == 0:
            if str(target) not in self.projections:
                raise NotAMemberError(
                    f"no member of the union has an edge from the input to position {target}"
                )
            out: torch.Tensor = self.projections[str(target)](x)
            return out
        return value

    def _vertex(self, position: int, op: str, value: torch.Tensor | None) -> torch.Tensor:
        ops = self.position_ops[position - 1]
        if op not in ops:
            raise NotAMemberError(
                f"op {op!r} at vertex position {position} is not in the supernet's union {ops}"
            )
        assert value is not None  # a pruned cell's interior vertex has an input
        module: nn.ModuleDict = self.vertices[position - 1]  # type: ignore[assignment]
        out: torch.Tensor = module[op_key(op)](value)
        return out

    def _union(self, x: torch.Tensor) -> torch.Tensor:
        """Every union edge, and at each position the mean of the union's ops."""
        outputs: dict[int, torch.Tensor] = {}
        for target in [*range(1, OUTPUT_POSITION), OUTPUT_POSITION]:
            total: torch.Tensor | None = None
            for source, edge_target in sorted(self.union_edges):
                if edge_target != target:
                    continue
                value = self.projections[str(target)](x) if source == 0 else outputs.get(source)
                total = add(total, value)
            if total is None:
                continue
            if target == OUTPUT_POSITION:
                return total
            module: nn.ModuleDict = self.vertices[target - 1]
            mean = mean_of([op(total) for op in module.values()])
            if mean is not None:
                outputs[target] = mean
        raise AssertionError("unreachable: every member's output has an input")


class NB101Supernet(Supernet[NB101Cell]):
    """Weight-sharing NAS-Bench-101-style network over the union of a batch of cells."""

    def __init__(
        self, space: NasBench101Space, archs: Sequence[NB101Cell], config: SupernetConfig
    ) -> None:
        super().__init__(space, archs, config)
        position_ops: list[list[str]] = [[] for _ in range(OUTPUT_POSITION - 1)]
        union_edges: set[tuple[int, int]] = set()
        for cell in archs:
            where = positions(cell)
            for v in range(1, cell.num_vertices - 1):
                position_ops[where[v] - 1].append(cell.ops[v])
            union_edges |= position_edges(cell)
        ops = [tuple(op for op in NB101_OPS if op in used) for used in position_ops]
        input_targets = sorted({target for source, target in union_edges if source == 0})
        width = config.channels
        self.stem = ConvBNReLU(config.in_channels, width, 3)
        layers: list[nn.Module] = []
        for stack in range(3):
            C_in = width
            if stack > 0:
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                width *= 2
            for index in range(config.cells_per_stage):
                layers.append(
                    SharedNB101Cell(
                        C_in if index == 0 else width, width, ops, input_targets, union_edges
                    )
                )
        self.layers = nn.ModuleList(layers)
        self.head = ClassifierHead(width, config.num_classes)

    def forward(self, x: torch.Tensor, arch: NB101Cell | None = None) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, arch) if isinstance(layer, SharedNB101Cell) else layer(x)
        result: torch.Tensor = self.head(x)
        return result
