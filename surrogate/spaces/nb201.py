"""NAS-Bench-201: the 4-node cell space with 5 ops (15,625 cells), with its official indices.

The benchmark numbers its cells in a fixed order: list every cell in lexicographic order of the
codes (edge order `0->1, 0->2, 1->2, 0->3, 1->3, 2->3`, ops in `NB201_OPS` order, first edge most
significant), then shuffle that list with Python's `random.Random(88).shuffle`. The published
tables (and `nb201_cifar10.csv` in the shared data) are in that order, row for row.

NASLib numbers the same cells by another tuple (`to_naslib_tuple`): edges in the order
`0->1, 0->2, 0->3, 1->2, 1->3, 2->3` and op ids `skip_connect, none, nor_conv_3x3, nor_conv_1x1,
avg_pool_3x3`.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

from surrogate.exceptions import InvalidArchitectureError
from surrogate.spaces.base import JSONValue
from surrogate.spaces.cell import CellArch, CellSpace

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_NUM_NODES = 4
NB201_SIZE = 15_625
NB201_SHUFFLE_SEED = 88
"""Seed of the `random.Random` whose `shuffle` fixes the official index order."""

NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGE_ORDER = (0, 1, 3, 2, 4, 5)
"""Our edge position of each edge in NASLib's order (0->1, 0->2, 0->3, 1->2, 1->3, 2->3)."""


@functools.cache
def _official_order() -> tuple[tuple[int, ...], ...]:
    """Codes of every cell, in official index order (built once, about 20 ms)."""
    codes = list(CellSpace("nb201", NB201_NUM_NODES, NB201_OPS)._enumerate_codes())
    random.Random(NB201_SHUFFLE_SEED).shuffle(codes)
    return tuple(codes)


@functools.cache
def _official_index() -> dict[tuple[int, ...], int]:
    return {codes: index for index, codes in enumerate(_official_order())}


class NasBench201Space(CellSpace):
    """The NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 ops, exactly 15,625 cells."""

    def __init__(self) -> None:
        super().__init__("nb201", NB201_NUM_NODES, NB201_OPS)

    def describe(self) -> dict[str, JSONValue]:
        return {"type": "nb201"}

    def index_of(self, arch: CellArch) -> int:
        """The official NAS-Bench-201 index of `arch`, in `[0, 15625)`."""
        return _official_index()[self.to_codes(arch)]

    def arch_at(self, index: int) -> CellArch:
        """The cell with official index `index`.

        Raises:
            InvalidArchitectureError: `index` is outside `[0, 15625)`.
        """
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < NB201_SIZE:
            raise InvalidArchitectureError(
                f"nb201: an index is an int in [0, {NB201_SIZE}), got {index!r}"
            )
        return self.from_codes(_official_order()[index])

    def to_naslib_tuple(self, arch: CellArch) -> tuple[int, ...]:
        """NASLib's 6-tuple of op ids, e.g. `(4, 3, 3, 0, 0, 0)`."""
        self.validate(arch)
        return tuple(NASLIB_OPS.index(arch[position]) for position in NASLIB_EDGE_ORDER)

    def from_naslib_tuple(self, values: Sequence[int]) -> CellArch:
        """Inverse of `to_naslib_tuple`.

        Raises:
            InvalidArchitectureError: Not 6 ids in `[0, 5)`.
        """
        ids = tuple(values)
        if len(ids) != len(NASLIB_EDGE_ORDER) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(NASLIB_OPS) for v in ids
        ):
            raise InvalidArchitectureError(
                f"nb201: a NASLib tuple is 6 op ids in [0, {len(NASLIB_OPS)}), got {values!r}"
            )
        arch = [""] * len(ids)
        for naslib_position, position in enumerate(NASLIB_EDGE_ORDER):
            arch[position] = NASLIB_OPS[ids[naslib_position]]
        return tuple(arch)
