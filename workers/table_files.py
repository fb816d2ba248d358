"""Benchmark tables read on a user's behalf: under the data roots, with sanitised errors.

Both the worker's table evaluator and the service's random-search baseline read a CSV that a
search names. `read_table` is the one way they do it: the name is resolved by
`workers.data_roots.DataRoots` (so nothing outside the operator's roots is opened), and every
failure becomes a `TableFileError` whose message names the table as the user gave it and the
kind of problem (``table 'x.csv': column 'arch_str' missing``, ``table 'x.csv': not a UTF-8
text file``), built from fixed text, the spec's own column names and at most a line number.
The lower layers' messages are never passed on, since they quote headers and cells.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.names import DataPathError, shown_name
from surrogate.spaces import SearchSpace
from surrogate.tables import MetricTable, TableError, TableOptions
from surrogate.tables_hw import join_tables
from workers.data_roots import DataRoots

logger = logging.getLogger(__name__)

MAX_TABLE_BYTES = 512 * 1024 * 1024
"""Larger files are refused before reading (NAS-Bench-201's full table is about 10 MB)."""

_LINE = re.compile(r":(\d+): ")


class TableFileError(ValueError):
    """A table named by a spec cannot be used; the message is safe to show to the user."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"table {shown_name(name)}: {problem}")


def resolve_table(roots: DataRoots, name: str) -> Path:
    """The real path of the table `name` under `roots`.

    Raises:
        TableFileError: The name is malformed, escapes its root or is found under no root.
    """
    try:
        return roots.resolve(name, expect="file")
    except DataPathError as error:
        raise TableFileError(name, error.problem) from None


def read_table(
    path: Path, name: str, space: SearchSpace[Any], options: TableOptions
) -> MetricTable[Any]:
    """Read the CSV at `path` (a result of `resolve_table` for `name`) as a benchmark table.

    Raises:
        TableFileError: The file is too large, unreadable, not UTF-8 text, not a CSV, lacks an
            architecture column, has no numeric column, or a row's architecture cannot be read.
    """
    _check_header(path, name, options)
    try:
        return MetricTable.from_csv(path, space, options)
    except TableError as error:
        logger.info("table %s: %s", path, error)  # the detail stays in the operator's log
        raise TableFileError(name, _problem(str(error), space, options)) from None
    except UnicodeDecodeError:
        raise TableFileError(name, "not a UTF-8 text file") from None
    except csv.Error:
        raise TableFileError(name, "not a CSV file") from None
    except OSError as error:
        raise TableFileError(name, f"cannot be read ({_strerror(error)})") from None


def _check_header(path: Path, name: str, options: TableOptions) -> None:
    try:
        size = path.stat().st_size
        if size > MAX_TABLE_BYTES:
            raise TableFileError(name, f"larger than {MAX_TABLE_BYTES // 2**20} MiB")
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError:
        raise TableFileError(name, "not a UTF-8 text file") from None
    except csv.Error:
        raise TableFileError(name, "not a CSV file") from None
    except OSError as error:
        raise TableFileError(name, f"cannot be read ({_strerror(error)})") from None
    if not header:
        raise TableFileError(name, "is empty (a CSV with a header row is expected)")
    columns = [options.arch_column]
    if options.arch_format == "matrix_ops":
        columns.append(options.ops_column)
    for column in columns:
        if column not in header:
            raise TableFileError(name, f"column {column!r} missing")


def _problem(message: str, space: SearchSpace[Any], options: TableOptions) -> str:
    """A safe description of a `TableError`, from fixed text and the line number only."""
    match = _LINE.search(message)
    where = f"line {match.group(1)}: " if match else ""
    if "no numeric metric column" in message:
        return "no numeric metric column"
    if "empty architecture" in message:
        return f"{where}empty architecture in column {options.arch_column!r}"
    if "cannot read architecture" in message:
        return (
            f"{where}the architecture cannot be read as one of space {space.name!r} in format "
            f"{options.arch_format!r}"
        )
    if "appears in" in message:
        return "an architecture appears in several rows"
    return "cannot be read as a benchmark table"


def _strerror(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else type(error).__name__


# --- extra tables joined onto the evaluator's (hardware costs) ------------------------------------


@dataclass(frozen=True)
class ExtraTable:
    """A second table whose columns are added to each row of an evaluator's table.

    HW-NAS-Bench's latencies and energies are the use: joined onto NAS-Bench-201's accuracy
    table, they become metrics of every member, to report and to constrain on.

    Attributes:
        name: The CSV, a name under the data roots like the evaluator's own table.
        options: How to read it (HW-NAS-Bench: `surrogate.tables_hw.HW_NAS_BENCH_OPTIONS`).
        columns: Its columns to add (empty: all its numeric columns).
    """

    name: str
    options: TableOptions
    columns: tuple[str, ...] = ()


def extra_tables_fingerprint(
    roots: DataRoots, extras: Sequence[ExtraTable]
) -> tuple[tuple[object, ...], ...]:
    """What identifies the extra tables as they are now, to add to a table cache's key.

    Raises:
        TableFileError: A name is refused or found under no root, or its file cannot be read.
    """
    prints: list[tuple[object, ...]] = []
    for extra in extras:
        path = resolve_table(roots, extra.name)
        try:
            stat = path.stat()
        except OSError as error:
            raise TableFileError(extra.name, f"cannot be read ({_strerror(error)})") from None
        prints.append((str(path), stat.st_mtime_ns, stat.st_size, extra.options, extra.columns))
    return tuple(prints)


def join_extra_tables(
    roots: DataRoots, table: MetricTable[Any], extras: Sequence[ExtraTable]
) -> MetricTable[Any]:
    """`table` with the columns of each of `extras` added (`surrogate.tables_hw.join_tables`).

    A member that an extra table lacks gets no value for its columns (a missing metric).

    Raises:
        TableFileError: An extra table cannot be read (see `read_table`), lacks a column to
            join, or would add a column that `table` already has.
    """
    for extra in extras:
        other = read_table(resolve_table(roots, extra.name), extra.name, table.space, extra.options)
        unknown = [c for c in extra.columns if c not in other.columns]
        if unknown:
            raise TableFileError(extra.name, f"columns {unknown} to join missing (or not numeric)")
        added = extra.columns or other.columns
        if extra.columns and (clashing := [c for c in added if c in table.columns]):
            raise TableFileError(extra.name, f"columns {clashing} are already in the table")
        if any(c in table.columns for c in added):
            # Named from the files only: say so without quoting their headers.
            raise TableFileError(extra.name, "shares columns with the table; name those to join")
        table = join_tables(table, other, added)
    return table
