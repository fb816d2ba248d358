"""Cost of NAS-Bench-101's own network, the one its table was trained with.

The worker trains a weight-sharing variant (`surrogate.costs.nb101`); this is the benchmark's:
a 3x3 conv-BN-ReLU stem, three stacks of `cells_per_stage` cells with a 2x2 max pool and a
doubling of the width before the second and third, global pooling and a linear layer. In a
cell, the output concatenates the vertices that feed it, so its width is split among them
(the first `C % k` of the `k` get one channel more); every other vertex takes the widest of
its successors. A vertex fed by the input gets a 1x1 conv-BN-ReLU projection of it at the
vertex's width, and an input-to-output edge adds a projection at the full width; inputs from
wider vertices are truncated (free). Parameters equal NAS-Bench-101's `trainable_parameters`
(checked on 1,000 cells of the benchmark).
"""

from __future__ import annotations

from collections.abc import Sequence

from surrogate.costs.counting import ZERO, Cost, FeatureMap, pool2d
from surrogate.costs.network import NetworkShape, pooled_classifier
from surrogate.costs.ops import op_cost
from surrogate.spaces.nb101 import NasBench101Space, NB101Cell

NUM_STACKS = 3
PROJECTION = "conv1x1-bn-relu"


def vertex_channels(C_in: int, C_out: int, matrix: Sequence[Sequence[int]]) -> list[int]:
    """Width of each vertex of a cell whose output has `C_out` channels (see the docstring)."""
    n = len(matrix)
    channels = [0] * n
    channels[0], channels[-1] = C_in, C_out
    if n == 2:
        return channels
    feeding_output = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    share, extra = divmod(C_out, len(feeding_output))
    for rank, v in enumerate(feeding_output):
        channels[v] = share + (1 if rank < extra else 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            channels[v] = max(channels[dst] for dst in range(v + 1, n - 1) if matrix[v][dst])
    return channels


def benchmark_cell_cost(cell: NB101Cell, x: FeatureMap, C_out: int) -> Cost:
    """One cell from `x` to `C_out` channels at the same resolution."""
    n = cell.num_vertices
    widths = vertex_channels(x.channels, C_out, cell.matrix)
    total = ZERO
    for v in range(1, n - 1):
        if cell.matrix[0][v]:
            total = total + op_cost(PROJECTION, x, widths[v])[0]
        total = total + op_cost(cell.ops[v], x.with_channels(widths[v]), widths[v])[0]
    if cell.matrix[0][n - 1]:
        total = total + op_cost(PROJECTION, x, C_out)[0]
    return total


def nb101_benchmark_cost(space: NasBench101Space, cell: NB101Cell, network: NetworkShape) -> Cost:
    """Parameters and FLOPs of NAS-Bench-101's network of `cell` (128 channels, 3 cells per
    stack at the benchmark's size: `surrogate.costs.NB101_NETWORK`).

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
        first = benchmark_cell_cost(cell, x, width)
        x = x.with_channels(width)
        rest = benchmark_cell_cost(cell, x, width)
        total = total + first + rest * (network.cells_per_stage - 1)
    return total + pooled_classifier(x, network.num_classes)
