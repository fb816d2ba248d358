"""`build_supernet`: the supernet class that serves a given search space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from surrogate.spaces.base import SearchSpace
from surrogate.spaces.cell import CellSpace
from surrogate.spaces.darts import DartsSpace
from surrogate.spaces.macro import MacroSpace
from surrogate.spaces.nb101 import NasBench101Space
from workers.supernets.base import Supernet, SupernetConfig
from workers.supernets.cell import CellSupernet
from workers.supernets.darts import DartsSupernet
from workers.supernets.exceptions import UnsupportedSpaceError
from workers.supernets.macro import MacroSupernet
from workers.supernets.nb101 import NB101Supernet


def build_supernet(
    space: SearchSpace[Any], archs: Sequence[Any], config: SupernetConfig
) -> Supernet[Any]:
    """The weight-sharing network over the union of `archs`, for any supported space.

    Raises:
        UnsupportedSpaceError: No supernet is defined for this kind of space.
        UnknownOpError: The space names an op the ops library cannot build.
        InvalidArchitectureError: An architecture is not in `space`.
    """
    if isinstance(space, CellSpace):
        return CellSupernet(space, archs, config)
    if isinstance(space, MacroSpace):
        return MacroSupernet(space, archs, config)
    if isinstance(space, NasBench101Space):
        return NB101Supernet(space, archs, config)
    if isinstance(space, DartsSpace):
        return DartsSupernet(space, archs, config)
    raise UnsupportedSpaceError(
        f"no supernet for search space {getattr(space, 'name', '?')!r} "
        f"({type(space).__name__}); supported: "
        "cell spaces (NAS-Bench-201 and user cells), macro spaces, NAS-Bench-101, DARTS"
    )
