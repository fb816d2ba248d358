"""Cost of a cell-space network: NAS-Bench-201 and the cells users declare (`CellSpace`).

The network is NAS-Bench-201's (and the worker's `CellSupernet` for one member): a 3x3
conv-BN stem, three stages of `cells_per_stage` copies of the cell at widths C, 2C, 4C with a
residual reduction block between stages, and a BN-ReLU-pool-linear head. Every edge of every
cell is priced, including edges whose node never reaches the output: the network computes
them, and NAS-Bench-201's own figures count them too (checked on the 9,445 rows of the table
that have them).
"""

from __future__ import annotations

import functools

from surrogate.costs.counting import Cost, FeatureMap
from surrogate.costs.network import (
    NetworkShape,
    classifier_head,
    conv_bn_stem,
    residual_reduction,
)
from surrogate.costs.ops import check_op_names, op_cost
from surrogate.spaces.cell import CellArch, CellSpace

NUM_STAGES = 3


def cell_cost(arch: CellArch, x: FeatureMap) -> Cost:
    """One cell at the width and resolution of `x`: every edge's op, `C -> C` at stride 1."""
    params = flops = 0
    for op in arch:
        cost, _ = op_cost(op, x, x.channels)
        params += cost.params
        flops += cost.flops
    return Cost(params, flops)


@functools.lru_cache(maxsize=64)
def skeleton(network: NetworkShape) -> tuple[Cost, tuple[FeatureMap, ...]]:
    """What does not depend on the cell: the stem, reductions and head, and the shape each
    stage's cells see."""
    total, x = conv_bn_stem(network.input, network.channels)
    stages = [x]
    for _ in range(1, NUM_STAGES):
        reduction, x = residual_reduction(x, 2 * x.channels)
        total = total + reduction
        stages.append(x)
    return total + classifier_head(x, network.num_classes), tuple(stages)


def cell_network_cost(space: CellSpace, arch: CellArch, network: NetworkShape) -> Cost:
    """Parameters and FLOPs of the network of `arch` (see the module docstring).

    Raises:
        InvalidArchitectureError: `arch` is not in `space`.
        CostModelError: The space names an op the model cannot price.
    """
    space.validate(arch)
    check_op_names(space.ops)
    total, stages = skeleton(network)
    for x in stages:
        total = total + cell_cost(arch, x) * network.cells_per_stage
    return total
