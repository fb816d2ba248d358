"""A toy objective over cell architectures, shared by the surrogate, proposer and sampler tests."""

from __future__ import annotations

from collections.abc import Mapping

from surrogate.spaces.base import SearchSpace, live_nodes

CELL_OP_VALUE: dict[str, float] = {
    "none": 0.0,
    "skip_connect": 1.0,
    "nor_conv_1x1": 2.0,
    "nor_conv_3x3": 3.0,
    "avg_pool_3x3": 0.5,
}
"""What each NAS-Bench-201 op adds to the toy accuracy (better ops, more)."""


def live_additive_value(
    space: SearchSpace[tuple[str, ...]],
    arch: tuple[str, ...],
    op_value: Mapping[str, float] = CELL_OP_VALUE,
    default: float = 0.5,
) -> float:
    """A made-up accuracy in percent: good ops on late edges add more.

    Only live edges count (in a cell space's graph, node `e + 1` holds edge `e`), as in a real
    network, where an op that no input-to-output path uses changes nothing; a surrogate that
    sees only live nodes (the default featurizer) can then learn it exactly.
    """
    live = live_nodes(space.to_graph(arch), space.zero_labels)
    return 50.0 + sum(
        (1 + i / 5) * op_value.get(op, default) for i, op in enumerate(arch) if live[i + 1]
    )
