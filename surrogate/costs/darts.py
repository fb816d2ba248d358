"""Cost of the DARTS evaluation network (`workers.supernets.darts`, one member).

DARTS's network without its auxiliary head: a 3x3 conv-BN stem to 3C channels, three stages
of `cells_per_stage` normal cells with a reduction cell before the second and third (which
halves the resolution and doubles C), global pooling and a linear layer. A cell turns its
inputs `c_{k-2}` and `c_{k-1}` into C channels (a factorised reduction for `c_{k-2}` after a
reduction cell, a 1x1 ReLU-Conv-BN otherwise), sums two ops into each of its 4 nodes and
concatenates the nodes (4C channels). In a reduction cell the ops on the two inputs have
stride 2. All four nodes are concatenated, so every op of a genotype is live.
"""

from __future__ import annotations

from typing import Any

from surrogate.costs.counting import Cost, FeatureMap
from surrogate.costs.network import NetworkShape, conv_bn_stem, pooled_classifier
from surrogate.costs.ops import op_cost
from surrogate.spaces.darts import (
    INPUTS_PER_NODE,
    NUM_NODES,
    CellGenotype,
    DartsGenotype,
    DartsSpace,
)

STEM_MULTIPLIER = 3
NUM_STAGES = 3


def darts_cell_cost(
    cell: CellGenotype,
    s0: FeatureMap,
    s1: FeatureMap,
    C: int,
    reduction: bool,
    reduction_prev: bool,
) -> tuple[Cost, FeatureMap]:
    """One cell from inputs of shapes `s0`, `s1` to its concatenated output."""
    # The preprocessing is a factorised reduction (the stride-2 identity) or a 1x1
    # ReLU-Conv-BN (`nor_conv_1x1`); priced through the op cache like the edges.
    if reduction_prev:
        total, _ = op_cost("skip_connect", s0, C, 2)
    else:
        total, _ = op_cost("nor_conv_1x1", s0, C)
    preprocess1, state = op_cost("nor_conv_1x1", s1, C)
    total = total + preprocess1
    stride = 2 if reduction else 1
    node = FeatureMap(C, -(-state.height // stride), -(-state.width // stride))
    for op, source in cell:
        if source < INPUTS_PER_NODE:
            cost, _ = op_cost(op, state, C, stride)
        else:
            cost, _ = op_cost(op, node, C)
        total = total + cost
    return total, node.with_channels(NUM_NODES * C)


def darts_network_cost(space: DartsSpace, arch: DartsGenotype, network: NetworkShape) -> Cost:
    """Parameters and FLOPs of the network of `arch` (see the module docstring).

    Raises:
        InvalidArchitectureError: `arch` is not in `space`.
    """
    space.validate(arch)
    total, s1 = conv_bn_stem(network.input, STEM_MULTIPLIER * network.channels)
    s0 = s1
    C = network.channels
    reduction_prev = False
    priced: dict[tuple[Any, ...], tuple[Cost, FeatureMap]] = {}
    for stage in range(NUM_STAGES):
        kinds = (["reduce"] if stage > 0 else []) + ["normal"] * network.cells_per_stage
        for kind in kinds:
            reduction = kind == "reduce"
            if reduction:
                C *= 2
            # The cells of a stage repeat one another's shapes: price each shape once.
            key = (kind, s0, s1, C, reduction_prev)
            if key not in priced:
                cell: CellGenotype = getattr(arch, kind)
                priced[key] = darts_cell_cost(cell, s0, s1, C, reduction, reduction_prev)
            cost, out = priced[key]
            total = total + cost
            s0, s1, reduction_prev = s1, out, reduction
    return total + pooled_classifier(s1, network.num_classes)
