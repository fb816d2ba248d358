"""The table evaluator: members are looked up in a benchmark CSV instead of being trained.

It lets a whole search run without a GPU (NAS-Bench-201 and the like), and it is what the
end-to-end tests use, since its results are known in advance. The CSV is read once per daemon
(until the file changes) and shared by every batch that names it.

The spec's path is a name under the worker's data roots (`workers.data_roots`), read through
`workers.table_files`: an error names the table as the spec gives it and the kind of problem,
never a line of the file, so that what the user reads back in the batch's release message,
events and ``finished_reason`` tells nothing about files they may not read.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from typing import Any

from protocol import (
    EvaluatorKind,
    Lease,
    MemberReport,
    Progress,
    TableEvaluatorSpec,
)
from protocol.names import shown_name
from surrogate.costs import cost_of
from surrogate.exceptions import SurrogateError, UnknownArchitectureError
from surrogate.spaces import SearchSpace
from surrogate.tables import MetricTable, TableOptions
from workers.evaluators.base import (
    Evaluator,
    EvaluatorContext,
    ProgressCallback,
    SpaceCache,
    StopCheck,
    parse_members,
)
from workers.exceptions import EvaluationError, EvaluationStoppedError
from workers.table_files import (
    ExtraTable,
    TableFileError,
    extra_tables_fingerprint,
    join_extra_tables,
    read_table,
    resolve_table,
)

_TableKey = tuple[str, int, int, str, str, str, str, tuple[tuple[object, ...], ...]]


class TableEvaluator(Evaluator):
    """Looks every member of a batch up in the CSV that the evaluator spec names.

    A member missing from the table, or whose objective cell is empty, is reported ``failed``
    (retrying elsewhere cannot help); a missing file or column fails the whole batch.
    """

    kind = EvaluatorKind.TABLE

    def __init__(
        self, context: EvaluatorContext, spaces: SpaceCache | None = None, max_tables: int = 4
    ) -> None:
        super().__init__(context)
        self._spaces = spaces or SpaceCache()
        self._tables: OrderedDict[_TableKey, MetricTable[Any]] = OrderedDict()
        self._max_tables = max_tables
        self._lock = threading.Lock()

    def evaluate(
        self, lease: Lease, progress: ProgressCallback, should_stop: StopCheck
    ) -> list[MemberReport]:
        spec = lease.evaluator
        if not isinstance(spec, TableEvaluatorSpec):
            raise EvaluationError(f"the table evaluator cannot run a {spec.kind.value!r} batch")
        space = self._spaces.get(lease.space)
        table = self.table(spec, space)
        shown = shown_name(spec.path)
        if spec.objective_column not in table.columns:
            raise EvaluationError(
                f"table {shown}: objective column {spec.objective_column!r} missing (or not "
                "numeric)"
            )
        unknown = [c for c in spec.metric_columns if c not in table.columns]
        if unknown:
            raise EvaluationError(
                f"table {shown}: metric columns {unknown} missing (or not numeric)"
            )
        columns = spec.metric_columns or table.columns
        archs = parse_members(space, lease)
        reports = []
        total = len(archs)
        for index, (member, arch) in enumerate(zip(lease.members, archs, strict=True)):
            if should_stop():
                raise EvaluationStoppedError(f"stopped after {index} of {total} lookups")
            progress(Progress(phase="lookup", step=index, total_steps=total, member=member.key))
            reports.append(self._lookup(spec, table, member.key, arch, columns, space))
        progress(Progress(phase="lookup", step=total, total_steps=total))
        return reports

    def table(self, spec: TableEvaluatorSpec, space: SearchSpace[Any]) -> MetricTable[Any]:
        """The table a spec names, with its extra tables joined, read once and kept while its
        files are unchanged (the extra tables' names, columns and files are part of the key).

        Raises:
            EvaluationError: The name is refused, the file is missing under the data roots or
                cannot be read as asked (a sanitised message: see `workers.table_files`).
        """
        extras = _extra_tables(spec)
        try:
            path = resolve_table(self.context.data_roots, spec.path)
            stat = path.stat()
            joined = extra_tables_fingerprint(self.context.data_roots, extras)
        except TableFileError as error:
            raise EvaluationError(str(error)) from None
        except OSError:
            raise EvaluationError(f"table {shown_name(spec.path)}: cannot be read") from None
        cache_key: _TableKey = (
            str(path),
            stat.st_mtime_ns,
            stat.st_size,
            json.dumps(space.describe(), sort_keys=True),
            spec.arch_column,
            spec.arch_format,
            spec.ops_column,
            joined,
        )
        with self._lock:
            if cache_key in self._tables:
                self._tables.move_to_end(cache_key)
                return self._tables[cache_key]
        options = TableOptions(
            arch_column=spec.arch_column, arch_format=spec.arch_format, ops_column=spec.ops_column
        )
        try:
            table = read_table(path, spec.path, space, options)
            table = join_extra_tables(self.context.data_roots, table, extras)
        except TableFileError as error:
            raise EvaluationError(str(error)) from None
        with self._lock:
            self._tables[cache_key] = table
            while len(self._tables) > self._max_tables:
                self._tables.popitem(last=False)
        return table

    def _lookup(
        self,
        spec: TableEvaluatorSpec,
        table: MetricTable[Any],
        key: str,
        arch: Any,
        columns: tuple[str, ...],
        space: SearchSpace[Any],
    ) -> MemberReport:
        started = time.perf_counter()
        fidelity = spec.fidelity or spec.objective_column
        try:
            row = table.metrics(arch)
        except UnknownArchitectureError:
            return _failed(key, fidelity, f"not in the benchmark table {shown_name(spec.path)}")
        objective = row[spec.objective_column]
        if not math.isfinite(objective):
            return _failed(key, fidelity, f"the table has no {spec.objective_column!r} value")
        metrics = {c: row[c] for c in columns if math.isfinite(row[c])}
        if spec.analytic_metrics:
            try:
                costs = cost_of(space, arch)
            except SurrogateError as error:
                return _failed(key, fidelity, f"no analytic cost for this space ({error})")
            metrics.update({m: float(costs[m]) for m in spec.analytic_metrics})
        return MemberReport(
            key=key,
            metrics=metrics,
            objective=objective,
            fidelity=fidelity,
            evaluator=EvaluatorKind.TABLE,
            timings={"total": time.perf_counter() - started},
        )


def _extra_tables(spec: TableEvaluatorSpec) -> list[ExtraTable]:
    """The spec's extra tables as `workers.table_files` reads them."""
    return [
        ExtraTable(
            extra.path,
            TableOptions(
                arch_column=extra.arch_column,
                arch_format=extra.arch_format,
                ops_column=extra.ops_column,
            ),
            extra.columns,
        )
        for extra in spec.extra_tables
    ]


def _failed(key: str, fidelity: str, error: str) -> MemberReport:
    return MemberReport(
        key=key, status="failed", fidelity=fidelity, evaluator=EvaluatorKind.TABLE, error=error
    )
