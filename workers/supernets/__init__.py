"""Weight-sharing supernets: one network over the union of a batch of architectures.

`build_supernet(space, archs, config)` returns the `Supernet` for the space's kind (cell spaces
including NAS-Bench-201, macro chains, NAS-Bench-101, DARTS). `supernet(x, arch)` runs one
member's path, `supernet(x)` the whole union, and `supernet.alone(arch)` builds that member on
its own with the same weights. The ops they are made of live in `workers.supernets.ops`.
"""

from __future__ import annotations

from workers.supernets.base import Supernet, SupernetConfig
from workers.supernets.cell import CellSupernet
from workers.supernets.darts import DartsSupernet
from workers.supernets.exceptions import (
    NotAMemberError,
    SupernetError,
    UnknownOpError,
    UnsupportedSpaceError,
)
from workers.supernets.macro import MacroSupernet
from workers.supernets.nb101 import NB101Supernet
from workers.supernets.ops import OPS, build_op
from workers.supernets.registry import build_supernet

__all__ = [
    "OPS",
    "CellSupernet",
    "DartsSupernet",
    "MacroSupernet",
    "NB101Supernet",
    "NotAMemberError",
    "Supernet",
    "SupernetConfig",
    "SupernetError",
    "UnknownOpError",
    "UnsupportedSpaceError",
    "build_op",
    "build_supernet",
]
