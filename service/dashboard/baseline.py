"""The random-search baseline of a table-evaluator search, computed exactly.

Random search over a benchmark table draws architectures uniformly without replacement. After
``n`` draws from ``N`` values sorted ascending, ``v_1 <= ... <= v_N``, the best (largest) drawn
value is at most ``v_k`` exactly when all ``n`` draws come from the ``k`` smallest, so

    P(max <= v_k) = C(k, n) / C(N, n)        (zero for k < n),

and, summing the survival function over the gaps between sorted values,

    E[max of n] = v_N - sum_{k=n}^{N-1} (v_{k+1} - v_k) * C(k, n) / C(N, n).

This is exact (ties included: equal values are simply zero-width gaps); the binomial ratios are
evaluated in logarithms, ``log C(k, n) - log C(N, n) = log k! - log (k-n)! - log N! + log (N-n)!``,
with the log-factorials accumulated once. A minimised objective is handled by negating.

The table is read on the service's machine, and only under the service's own data roots
(``BONAS_DATA_ROOTS``; `workers.data_roots` holds the rules, the same ones workers apply under
theirs). With no root configured the service reads nothing and the baseline is "not
available". A table that cannot be used is reported by its name in the spec and the kind of
problem (`workers.table_files`): the answer never quotes the file, so a user cannot read the
service's files through a crafted table path.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protocol.names import shown_name
from service.search_spec import SearchSpec, TableEvaluator, build_space
from surrogate.exceptions import SurrogateError
from surrogate.tables import TableOptions
from workers.data_roots import DataRoots
from workers.table_files import TableFileError, read_table, resolve_table

logger = logging.getLogger(__name__)

DENSE_PREFIX = 100
"""Every draw count up to this one is computed; beyond it, evenly spaced counts."""


def expected_best(values: Sequence[float], sizes: Sequence[int], *, maximize: bool) -> list[float]:
    """Expected best of `n` uniform draws without replacement from `values`, for each `n`.

    Args:
        values: The population (finite numbers; at least one).
        sizes: Draw counts, each between 1 and ``len(values)``.
        maximize: Best means largest (else smallest).

    Returns:
        One expectation per size.

    Raises:
        ValueError: `values` is empty or not finite, or a size is out of range.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0 or not np.all(np.isfinite(data)):
        raise ValueError("the population must be a non-empty list of finite numbers")
    total = data.size
    sorted_values = np.sort(data if maximize else -data)
    gaps = np.diff(sorted_values)  # gaps[k - 1] = v_{k+1} - v_k, for k = 1..N-1
    log_factorial = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, total + 1)))))
    answers = []
    for n in sizes:
        if not 1 <= n <= total:
            raise ValueError(f"draw count {n} is outside 1..{total}")
        k = np.arange(n, total)  # k = n..N-1
        log_ratio = (
            log_factorial[k]
            - log_factorial[k - n]
            - log_factorial[total]
            + log_factorial[total - n]
        )
        best = sorted_values[-1] - float(np.sum(gaps[k - 1] * np.exp(log_ratio)))
        answers.append(best if maximize else -best)
    return answers


def draw_counts(limit: int, cap: int) -> list[int]:
    """Draw counts at which to evaluate the curve: all up to `DENSE_PREFIX`, then evenly spaced.

    The curve is smooth and concave, so a few hundred counts draw it exactly at any width.
    """
    if limit <= 0:
        return []
    if limit <= cap:
        return list(range(1, limit + 1))
    dense = list(range(1, min(DENSE_PREFIX, cap // 2) + 1))
    rest = cap - len(dense)
    start = dense[-1]
    spaced = {start + math.ceil((limit - start) * (i + 1) / rest) for i in range(rest)}
    return dense + sorted(c for c in spaced if c > start)


@dataclass(frozen=True, slots=True)
class TableValues:
    """The objective values of a benchmark table (one per architecture, duplicates merged).

    Attributes:
        path: The table's name, as the spec gives it (never a path of the service's machine).
        values: The finite values of the objective column.
        version: Identifies the file's content (path, mtime, size, reading options).
    """

    path: str
    values: tuple[float, ...]
    version: tuple[object, ...]


class TableUnavailableError(Exception):
    """The baseline cannot be computed; the message says why, for the page to show."""


class TableValuesCache:
    """Objective columns of benchmark tables, read once per file version (mtime and size).

    Args:
        data_roots: The directories tables are looked up under (none: no table is read).
        max_tables: How many tables to keep.
    """

    def __init__(self, data_roots: DataRoots | Sequence[Path] = (), max_tables: int = 4) -> None:
        self._roots = data_roots if isinstance(data_roots, DataRoots) else DataRoots.of(data_roots)
        self._max_tables = max_tables
        self._cache: OrderedDict[tuple[object, ...], TableValues] = OrderedDict()
        self._curves: OrderedDict[tuple[object, ...], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def values(self, spec: SearchSpec) -> TableValues:
        """The objective values of the table a table-evaluator search reads.

        Raises:
            TableUnavailableError: Not a table search, constraints present, or the file cannot be
                read here (the message says which).
        """
        evaluator = spec.evaluator
        if not isinstance(evaluator, TableEvaluator):
            raise TableUnavailableError("the search does not use a table evaluator")
        if spec.constraints:
            raise TableUnavailableError(
                "the search has constraints; the random-search baseline is drawn for "
                "unconstrained table searches only"
            )
        if not self._roots:
            raise TableUnavailableError(
                "the service reads no benchmark table: no data roots are configured "
                "(BONAS_DATA_ROOTS); workers read tables on their machines"
            )
        try:
            path = resolve_table(self._roots, evaluator.path)
            stat = path.stat()
        except TableFileError as error:
            raise TableUnavailableError(
                f"{error} (the service looks tables up under its own data roots, "
                "BONAS_DATA_ROOTS; workers read them under theirs)"
            ) from None
        except OSError:
            raise TableUnavailableError(
                f"table {shown_name(evaluator.path)}: cannot be read"
            ) from None
        key = (
            str(path),
            stat.st_mtime_ns,
            stat.st_size,
            evaluator.arch_column,
            evaluator.arch_format,
            evaluator.ops_column,
            spec.objective.metric,
            repr(spec.space),
        )
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = self._read(path, spec, key)
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self._max_tables:
                self._cache.popitem(last=False)
        return found

    def expected_best(
        self, table: TableValues, sizes: Sequence[int], *, maximize: bool
    ) -> list[float]:
        """`expected_best` over a table's values, remembered per table, sizes and direction."""
        key = (table.version, tuple(sizes), maximize)
        with self._lock:
            if key in self._curves:
                self._curves.move_to_end(key)
                return self._curves[key]
        curve = expected_best(table.values, sizes, maximize=maximize)
        with self._lock:
            self._curves[key] = curve
            while len(self._curves) > 4 * self._max_tables:
                self._curves.popitem(last=False)
        return curve

    def _read(self, path: Path, spec: SearchSpec, version: tuple[object, ...]) -> TableValues:
        evaluator = spec.evaluator
        assert isinstance(evaluator, TableEvaluator)
        options = TableOptions(
            arch_column=evaluator.arch_column,
            arch_format=evaluator.arch_format,
            ops_column=evaluator.ops_column,
        )
        name = evaluator.path
        try:
            table = read_table(path, name, build_space(spec), options)
        except TableFileError as error:
            raise TableUnavailableError(str(error)) from None
        except SurrogateError:
            raise TableUnavailableError("the search's space cannot be built") from None
        column = spec.objective.metric
        if column not in table.columns:
            raise TableUnavailableError(
                f"table {shown_name(name)}: column {column!r} missing (or not numeric)"
            )
        everything = (table.metrics_by_key(key)[column] for key in table.keys())  # noqa: SIM118
        values = tuple(v for v in everything if math.isfinite(v))
        if not values:
            raise TableUnavailableError(
                f"table {shown_name(name)}: column {column!r} holds no finite value"
            )
        logger.info("read %d values of %s from %s", len(values), column, path)
        return TableValues(name, values, version)
