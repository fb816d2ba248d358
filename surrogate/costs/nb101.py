"""Cost of the worker's NAS-Bench-101 network (`workers.supernets.nb101`, one member).

This is not NAS-Bench-101's own network: there a vertex's width depends on how many vertices
feed the output (the output concatenates them), while the worker gives every vertex the
cell's full width and sums at the output, so that cells can share weights. The rest follows
NAS-Bench-101: a 3x3 conv-BN-ReLU stem, three stacks of `cells_per_stage` cells, a 2x2 max
pool (ceil mode) and a doubling of the width before the second and third stacks, then BN,
ReLU, global pooling and a linear layer. In a cell, every interior vertex applies its op at
the cell's width, and every edge from the cell's input goes through a 1x1 conv-BN-ReLU
projection owned by the receiving vertex (the output included). Cells are pruned, so every
vertex is live.
"""

from __future__ import annotations

from surrogate.costs.counting import ZERO, Cost, FeatureMap, pool2d
from surrogate.costs.network import NetworkShape, classifier_head
from surrogate.costs.ops import op_cost
from surrogate.spaces.nb101 import NasBench101Space, NB101Cell

NUM_STACKS = 3


def nb101_cell_cost(cell: NB101Cell, x: FeatureMap, C_out: int) -> tuple[Cost, FeatureMap]:
    """One cell from `x` to `C_out` channels at the same resolution."""
    n = cell.num_vertices
    inner = x.with_channels(C_out)
    total = ZERO
    for v in range(1, n - 1):
        cost, _ = op_cost(cell.ops[v], inner, C_out)
        total = total + cost
    projection, _ = op_cost("conv1x1-bn-relu", x, C_out)
    projected = sum(cell.matrix[0][v] for v in range(1, n))
    return total + projection * projected, inner


def nb101_network_cost(space: NasBench101Space, cell: NB101Cell, network: NetworkShape) -> Cost:
    """Parameters and FLOPs of the network of `cell` (see the module docstring).

    Raises:
        InvalidArchitectureError: `cell` is not in `space`.
    """
    space.validate(cell)
    total, x = op_cost("conv3x3-bn-relu", network.input, network.channels)
    width = network.channels
    for stack in range(NUM_STACKS):
        if stack > 0:
            pool, x = pool2d(x, 2, 2, 0, ceil_mode=True)
            total = total + pool
            width *= 2
        # Every cell of a stack after the first sees the same shape: price it once.
        first, x = nb101_cell_cost(cell, x, width)
        rest, _ = nb101_cell_cost(cell, x, width)
        total = total + first + rest * (network.cells_per_stage - 1)
    return total + classifier_head(x, network.num_classes)
