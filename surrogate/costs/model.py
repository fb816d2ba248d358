"""`architecture_cost` and `cost_of`: the cost of any architecture of any built-in or user space.

The cost is analytic: it is read off the network that the worker would build for the
architecture (`workers.supernets`), layer by layer, without building or training anything.
`architecture_cost` takes the network's shape; `cost_of` uses each kind of space's default
shape (`default_network`), the size at which its benchmark or paper reports costs, which is
what a params or FLOPs budget on a candidate pool is stated against.
"""

from __future__ import annotations

from typing import Any

from surrogate.costs.cell import cell_network_cost
from surrogate.costs.counting import Cost
from surrogate.costs.darts import darts_network_cost
from surrogate.costs.exceptions import CostModelError
from surrogate.costs.macro import macro_network_cost
from surrogate.costs.nb101 import nb101_network_cost
from surrogate.costs.network import NB201_CIFAR10, NetworkShape
from surrogate.spaces.base import SearchSpace
from surrogate.spaces.cell import CellSpace
from surrogate.spaces.darts import DartsSpace
from surrogate.spaces.macro import MacroSpace
from surrogate.spaces.nb101 import NasBench101Space

NB101_NETWORK = NetworkShape(channels=128, cells_per_stage=3)
"""NAS-Bench-101's sizes (128 stem channels, 3 cells per stack) on CIFAR-10 images."""

DARTS_NETWORK = NetworkShape(channels=36, cells_per_stage=6)
"""DARTS's CIFAR-10 evaluation network: C = 36, 20 cells (3 x 6 normal, 2 reduction)."""

MACRO_NETWORK = NetworkShape(channels=16)
"""A macro chain at NAS-Bench-201's first-stage width on CIFAR-10 images."""


def default_network(space: SearchSpace[Any]) -> NetworkShape:
    """The network shape `cost_of` prices `space`'s architectures at.

    NAS-Bench-201 and user cells: `NB201_CIFAR10`; NAS-Bench-101: `NB101_NETWORK`; DARTS:
    `DARTS_NETWORK`; macro spaces: `MACRO_NETWORK`.

    Raises:
        CostModelError: The cost model has no network for this kind of space.
    """
    if isinstance(space, CellSpace):
        return NB201_CIFAR10
    if isinstance(space, NasBench101Space):
        return NB101_NETWORK
    if isinstance(space, DartsSpace):
        return DARTS_NETWORK
    if isinstance(space, MacroSpace):
        return MACRO_NETWORK
    raise _unsupported(space)


def architecture_cost(space: SearchSpace[Any], arch: Any, network: NetworkShape) -> Cost:
    """Parameters and FLOPs (counts, per image) of `arch`'s network of shape `network`.

    Raises:
        InvalidArchitectureError: `arch` is not in `space`.
        CostModelError: The space is of a kind the model has no network for, or names an op
            it cannot price.
    """
    if isinstance(space, CellSpace):
        return cell_network_cost(space, arch, network)
    if isinstance(space, NasBench101Space):
        return nb101_network_cost(space, arch, network)
    if isinstance(space, DartsSpace):
        return darts_network_cost(space, arch, network)
    if isinstance(space, MacroSpace):
        return macro_network_cost(space, arch, network)
    raise _unsupported(space)


def cost_of(space: SearchSpace[Any], arch: Any) -> dict[str, float]:
    """`{"params": ..., "flops": ...}` of `arch` at its space's default network shape.

    Both are counts (not millions): parameters, and FLOPs of one forward pass on one image.
    A plain callable for filtering candidate pools by a budget.

    Raises:
        InvalidArchitectureError: `arch` is not in `space`.
        CostModelError: See `architecture_cost`.
    """
    return architecture_cost(space, arch, default_network(space)).as_dict()


def _unsupported(space: SearchSpace[Any]) -> CostModelError:
    return CostModelError(
        f"no cost model for search space {getattr(space, 'name', '?')!r} "
        f"({type(space).__name__}); supported: cell spaces (NAS-Bench-201 and user cells), "
        "macro spaces, NAS-Bench-101, DARTS"
    )
