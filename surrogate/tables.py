"""Benchmark tables: a CSV that maps architectures to measured metrics.

Tabular benchmarks (NAS-Bench-201, NAS-Bench-101 subsets, or a user's own measurements) let a
search run without training anything: the "evaluation" of an architecture is a lookup. The same
`MetricTable` serves the benchmark harness, the table evaluator of the workers and the tests.

Rows are matched to architectures by the space's canonical key, so that any spelling of an
architecture that the space accepts (an NB201 string, an NB101 matrix in any vertex order, a
user space's JSON) finds its row. How the architecture column is read is chosen by `arch_format`:

* ``"string"``: the column holds the space's text form (NB201's ``|op~0|+...``), parsed by
  `SearchSpace.from_json`;
* ``"json"``: the column holds the JSON form of the architecture;
* ``"key"``: the column holds canonical keys (for example NB101's module hash); such a table can
  answer queries but cannot list its architectures;
* ``"matrix_ops"``: two JSON columns, an adjacency matrix and an op list (NB101 exports);
* ``"naslib_tuple"``: NASLib's text of an NB201 cell, ``"(4, 3, 3, 0, 0, 0)"``
  (`surrogate.naslib`; HW-NAS-Bench's cost tables are keyed so).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast, get_args

from surrogate.exceptions import (
    InvalidArchitectureError,
    SurrogateError,
    UnknownArchitectureError,
)
from surrogate.naslib import arch_from_naslib_text
from surrogate.spaces.base import SearchSpace

A = TypeVar("A")

ArchFormat = Literal["string", "json", "key", "matrix_ops", "naslib_tuple"]
DuplicatePolicy = Literal["mean", "first", "error"]


class TableError(SurrogateError, ValueError):
    """A benchmark table cannot be read as asked (missing file, column or malformed rows)."""


@dataclass(frozen=True)
class TableOptions:
    """How to read a benchmark CSV.

    Attributes:
        arch_column: Column holding the architecture (for ``"matrix_ops"``, the matrix column).
        arch_format: How to read that column (see the module docstring).
        ops_column: The op-list column, used with ``"matrix_ops"`` only.
        on_duplicate: What to do when two rows name the same architecture: average their
            numeric columns (benchmarks often repeat an architecture over seeds), keep the first,
            or refuse the file.
    """

    arch_column: str = "arch_str"
    arch_format: ArchFormat = "string"
    ops_column: str = "ops"
    on_duplicate: DuplicatePolicy = "mean"

    def __post_init__(self) -> None:
        # Callers such as the bench CLI pass plain strings: a misspelt format must not silently
        # read the table as matrices.
        formats = get_args(ArchFormat)
        if self.arch_format not in formats:
            raise TableError(
                f"unknown arch_format {self.arch_format!r}; accepted: {', '.join(formats)}"
            )
        policies = get_args(DuplicatePolicy)
        if self.on_duplicate not in policies:
            raise TableError(
                f"unknown on_duplicate {self.on_duplicate!r}; accepted: {', '.join(policies)}"
            )


class MetricTable(Generic[A]):
    """Metrics of architectures of one space, looked up by canonical key.

    Build it with `MetricTable.from_csv`. Numeric columns become metrics; an empty cell is a
    missing value (NaN). Non-numeric columns other than the architecture columns are ignored.
    """

    def __init__(
        self,
        space: SearchSpace[A],
        rows: dict[str, dict[str, float]],
        archs: dict[str, A] | None,
        columns: Sequence[str],
        source: str = "",
    ) -> None:
        self.space = space
        self._rows = rows
        self._archs = archs
        self.columns: tuple[str, ...] = tuple(columns)
        self.source = source

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        space: SearchSpace[A],
        options: TableOptions | None = None,
        **overrides: Any,
    ) -> MetricTable[A]:
        """Read a CSV benchmark table.

        Args:
            path: The CSV file (a header row, then one row per measurement).
            space: The search space its architectures belong to.
            options: How to read it; keyword `overrides` replace single fields
                (``MetricTable.from_csv(p, space, arch_column="arch", arch_format="json")``).

        Raises:
            TableError: The file is missing, a named column is absent, no numeric column exists,
                a row's architecture cannot be read, or duplicates are refused.
        """
        opts = options or TableOptions()
        if overrides:
            opts = TableOptions(**{**opts.__dict__, **overrides})
        path = Path(path)
        if not path.is_file():
            raise TableError(f"benchmark table {str(path)!r} does not exist")
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            raw_rows = list(reader)
        arch_columns = _arch_columns(opts)
        missing = [c for c in arch_columns if c not in header]
        if missing:
            raise TableError(
                f"{path.name}: column(s) {missing} not found; the columns are {header}"
            )
        metric_columns = _numeric_columns(raw_rows, [c for c in header if c not in arch_columns])
        if not metric_columns:
            raise TableError(f"{path.name}: no numeric metric column found among {header}")
        grouped: dict[str, list[dict[str, float]]] = {}
        archs: dict[str, A] | None = None if opts.arch_format == "key" else {}
        for line_number, raw in enumerate(raw_rows, start=2):
            key, arch = _read_arch(space, raw, opts, f"{path.name}:{line_number}")
            if archs is not None and arch is not None:
                archs.setdefault(key, arch)
            grouped.setdefault(key, []).append(
                {c: _to_float(raw.get(c, "")) for c in metric_columns}
            )
        rows = _merge_duplicates(grouped, opts.on_duplicate, path.name)
        return cls(space, rows, archs, metric_columns, source=str(path))

    # --- queries ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, arch: object) -> bool:
        try:
            # `in` accepts any object; the space rejects foreign ones with the errors caught below.
            return self.space.key(cast(A, arch)) in self._rows
        except (InvalidArchitectureError, TypeError, AttributeError):
            return False

    def keys(self) -> Iterator[str]:
        return iter(self._rows)

    def metrics(self, arch: A) -> dict[str, float]:
        """All metrics of `arch` (missing values are NaN).

        Raises:
            UnknownArchitectureError: `arch` has no row in the table.
        """
        return dict(self._row(self.space.key(arch)))

    def metrics_by_key(self, key: str) -> dict[str, float]:
        return dict(self._row(key))

    def value(self, arch: A, column: str) -> float:
        """One metric of `arch`.

        Raises:
            UnknownArchitectureError: `arch` has no row in the table.
            TableError: `column` is not a metric column of the table.
        """
        self._check_column(column)
        return self._row(self.space.key(arch))[column]

    def archs(self) -> list[A]:
        """Every architecture in the table, in file order.

        Raises:
            TableError: The table was read by key and holds no architectures.
        """
        if self._archs is None:
            raise TableError("this table was read by key and cannot list its architectures")
        return list(self._archs.values())

    def best(self, column: str) -> tuple[str, float]:
        """Key and value of the row with the largest finite `column`."""
        self._check_column(column)
        finite = [(k, r[column]) for k, r in self._rows.items() if math.isfinite(r[column])]
        if not finite:
            raise TableError(f"column {column!r} has no finite value")
        return max(finite, key=lambda item: item[1])

    def _row(self, key: str) -> dict[str, float]:
        try:
            return self._rows[key]
        except KeyError:
            where = f" ({self.source})" if self.source else ""
            raise UnknownArchitectureError(
                f"architecture {key} is not in the benchmark table{where}; the table has "
                f"{len(self._rows)} architectures of space {self.space.name!r}"
            ) from None

    def _check_column(self, column: str) -> None:
        if column not in self.columns:
            raise TableError(f"no metric column {column!r}; the table has {list(self.columns)}")


def _arch_columns(opts: TableOptions) -> list[str]:
    if opts.arch_format == "matrix_ops":
        return [opts.arch_column, opts.ops_column]
    return [opts.arch_column]


def _read_arch(
    space: SearchSpace[Any], raw: dict[str, str], opts: TableOptions, where: str
) -> tuple[str, Any]:
    """Key and architecture of one row (the architecture is `None` for key-only tables)."""
    text = (raw.get(opts.arch_column) or "").strip()
    if not text:
        raise TableError(f"{where}: empty architecture in column {opts.arch_column!r}")
    try:
        if opts.arch_format == "key":
            return text, None
        if opts.arch_format == "string":
            arch = space.from_json(text)
        elif opts.arch_format == "json":
            arch = space.from_json(json.loads(text))
        elif opts.arch_format == "naslib_tuple":
            arch = arch_from_naslib_text(space, text)
        else:
            matrix = json.loads(text)
            ops = json.loads(raw.get(opts.ops_column) or "null")
            arch = space.from_json({"matrix": matrix, "ops": ops})
    except (InvalidArchitectureError, json.JSONDecodeError) as error:
        raise TableError(f"{where}: cannot read architecture {text[:80]!r}: {error}") from error
    return space.key(arch), arch


def _numeric_columns(rows: list[dict[str, str]], candidates: list[str]) -> list[str]:
    """Columns whose every non-empty cell parses as a number (and at least one is non-empty)."""
    numeric = []
    for column in candidates:
        values = [(r.get(column) or "").strip() for r in rows]
        filled = [v for v in values if v]
        if filled and all(_is_number(v) for v in filled):
            numeric.append(column)
    return numeric


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.lower() not in {"true", "false"}


def _to_float(text: str | None) -> float:
    text = (text or "").strip()
    return float(text) if text else math.nan


def _merge_duplicates(
    grouped: dict[str, list[dict[str, float]]], policy: DuplicatePolicy, name: str
) -> dict[str, dict[str, float]]:
    merged: dict[str, dict[str, float]] = {}
    for key, measurements in grouped.items():
        if len(measurements) == 1 or policy == "first":
            merged[key] = measurements[0]
            continue
        if policy == "error":
            raise TableError(f"{name}: architecture {key} appears in {len(measurements)} rows")
        merged[key] = {
            column: _nanmean([m[column] for m in measurements]) for column in measurements[0]
        }
    return merged


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.fmean(finite) if finite else math.nan
