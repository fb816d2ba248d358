"""Multi-objective search benchmark: hypervolume of whole searches against a tabular benchmark.

Each run spends a budget of distinct table queries on a search for the Pareto front of two or
three table columns (each maximised or minimised) and records, at chosen query counts, the
hypervolume of what it has measured so far. Methods on the same table and seeds:

* `bonas`: `surrogate.multiobjective.MultiObjectiveStrategy` (GCN + BLR per objective, batch
  qLogNEHVI over the pool), batches of `k`;
* `random`: distinct cells drawn uniformly;
* `nsga2` and `motpe`: Optuna's `NSGAIISampler` and its multi-objective `TPESampler`, over the
  same discrete space (one categorical parameter per coordinate of the space's codes, so for
  NB201 six edges of five ops), asking `k` trials at a time and telling them together. A trial
  that repeats an architecture already measured is told its stored values and does not count
  as a query (this favours Optuna: it never pays for a repeat); at most `50 * budget` trials.

Hypervolumes use `surrogate.pareto`: every objective is normalised to `[0, 1]` by its smallest
and largest value over the whole table (1 = best), and the reference point is `-margin`
(default 0.1) in every normalised objective. The ceiling is the hypervolume of the whole
table's front (the exact optimal front).

The table: the columns are read from `csv`; columns it lacks are looked up in `join_csv`, whose
rows are matched to the main table's rows by a key column in each (for NAS-Bench-201 and
HW-NAS-Bench: the NASLib op tuple, `naslib_tuple` in nb201_cifar10.csv and `net` in
hw_cifar10.csv; the tuples are compared as integer tuples, so spacing does not matter).

Optuna is an optional dependency (`pip install 'bonas[bench]'` or `pip install optuna`); it is
imported only when an Optuna method runs.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from surrogate.bench.search import BenchmarkError, resolve_space
from surrogate.pareto import DEFAULT_MARGIN, Direction, Normalisation, check_directions, hypervolume
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

logger = logging.getLogger(__name__)

MO_METHOD_NAMES: tuple[str, ...] = ("bonas", "random", "nsga2", "motpe")
DEFAULT_MO_CHECKPOINTS = (100, 200)
ANALYTIC_NB201: tuple[tuple[str, str, float], ...] = (
    ("params_M_cifar10", "params", 1e-6),
    ("flops_M_cifar10", "flops", 1e-6),
)


@dataclass(frozen=True)
class MultiBenchConfig:
    """What to run.

    Attributes:
        csv: The main table (one row per architecture of the space).
        objectives: `(column, direction)` pairs, 2 or 3.
        join_csv: A second table for the columns `csv` lacks, or None.
        join_key: `(key column of csv, key column of join_csv)`.
        space: Built-in space name or declaration file.
        arch_column: Architecture column of `csv` (the space's string form).
        k: Batch size.
        budget: Distinct queries per run.
        seeds: One run per seed and method.
        methods: Names from `MO_METHOD_NAMES`.
        checkpoints: Query counts at which the hypervolume is reported.
        margin: Reference point margin (see the module docstring).
        bonas: Fields of `MultiObjectiveOptions` other than the objectives (JSON-like), with
            `"bonas"` the fields of `BonasOptions`.
        known: Objective columns given to bonas as exact functions of the architecture (read
            from the table, with its gaps filled by `analytic`) instead of being modelled.
        analytic: `(column, cost, scale)`: a cell where `column` is empty takes
            `surrogate.costs.cost_of(space, arch)[cost] * scale` (NB201's table lacks params
            and FLOPs on 6,180 of its 15,625 rows; the cost model equals it on the others).
    """

    csv: str
    objectives: tuple[tuple[str, Direction], ...]
    join_csv: str | None = None
    join_key: tuple[str, str] = ("naslib_tuple", "net")
    space: str = "nb201"
    arch_column: str = "arch_str"
    k: int = 10
    budget: int = 200
    seeds: tuple[int, ...] = tuple(range(30))
    methods: tuple[str, ...] = MO_METHOD_NAMES
    checkpoints: tuple[int, ...] = DEFAULT_MO_CHECKPOINTS
    margin: float = DEFAULT_MARGIN
    bonas: dict[str, Any] = field(default_factory=dict)
    known: tuple[str, ...] = ()
    analytic: tuple[tuple[str, str, float], ...] = ANALYTIC_NB201

    def __post_init__(self) -> None:
        check_directions([d for _, d in self.objectives])
        unknown = [m for m in self.methods if m not in MO_METHOD_NAMES]
        if unknown:
            raise BenchmarkError(f"unknown methods {unknown}; choose from {MO_METHOD_NAMES}")
        if self.k < 1 or self.budget < 1 or not self.seeds or not self.methods:
            raise BenchmarkError("k and budget must be >= 1, with at least one seed and method")
        stray = set(self.known) - {c for c, _ in self.objectives}
        if stray:
            raise BenchmarkError(f"known columns {sorted(stray)} are not objectives")

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.objectives)

    @property
    def directions(self) -> tuple[Direction, ...]:
        return tuple(d for _, d in self.objectives)


@dataclass(frozen=True)
class ObjectiveTable:
    """Every architecture of the space with its objective values.

    Attributes:
        space: The search space.
        archs: The architectures, one per row.
        keys: Their canonical keys.
        Y: `(n, m)` float64 objective values in the table's units.
        index: Key -> row.
    """

    space: SearchSpace[Any]
    archs: list[Any]
    keys: list[str]
    Y: torch.Tensor
    index: dict[str, int]


def _tuple_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().strip("()[]").split(",") if part.strip())


def _read_rows(path: str) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as error:
        raise BenchmarkError(f"cannot read {path}: {error}") from error


def load_objective_table(config: MultiBenchConfig) -> ObjectiveTable:
    """Read the objectives of every architecture, joining `join_csv` where needed.

    Raises:
        BenchmarkError: A file or column is missing, a row has no match in the joined table,
            or an architecture appears twice.
    """
    space = resolve_space(config.space)
    rows = _read_rows(config.csv)
    if not rows:
        raise BenchmarkError(f"{config.csv} has no rows")
    joined: dict[tuple[int, ...], dict[str, str]] = {}
    missing = [c for c in config.columns if c not in rows[0]]
    if missing:
        if config.join_csv is None:
            raise BenchmarkError(f"columns {missing} are not in {config.csv}; give a join table")
        join_rows = _read_rows(config.join_csv)
        left, right = config.join_key
        if left not in rows[0] or not join_rows or right not in join_rows[0]:
            raise BenchmarkError(f"join columns {config.join_key} are missing")
        joined = {_tuple_key(r[right]): r for r in join_rows}
        absent = [c for c in missing if c not in join_rows[0]]
        if absent:
            raise BenchmarkError(f"columns {absent} are in neither table")
    archs: list[Any] = []
    keys: list[str] = []
    values: list[list[float]] = []
    index: dict[str, int] = {}
    for row in rows:
        arch = space.from_json(row[config.arch_column])
        key = space.key(arch)
        if key in index:
            raise BenchmarkError(f"architecture {key} appears twice in {config.csv}")
        other = joined.get(_tuple_key(row[config.join_key[0]])) if joined else None
        if missing and other is None:
            raise BenchmarkError(f"no row of {config.join_csv} matches {key}")
        source = [row if c in row else other for c in config.columns]
        values.append(
            [_float(s[c] if s else "") for s, c in zip(source, config.columns, strict=True)]
        )
        index[key] = len(archs)
        archs.append(arch)
        keys.append(key)
    Y = torch.tensor(values, dtype=torch.float64)
    _fill_analytic(space, archs, Y, config)
    return ObjectiveTable(space, archs, keys, Y, index)


def _fill_analytic(
    space: SearchSpace[Any], archs: list[Any], Y: torch.Tensor, config: MultiBenchConfig
) -> None:
    """Fill the empty cells of the analytic columns of `Y` from the cost model, in place."""
    for column, cost, scale in config.analytic:
        if column not in config.columns:
            continue
        j = config.columns.index(column)
        from surrogate.costs import cost_of

        for i in torch.isnan(Y[:, j]).nonzero().reshape(-1).tolist():
            Y[i, j] = cost_of(space, archs[i])[cost] * scale


def _float(text: str) -> float:
    text = (text or "").strip()
    return float(text) if text else math.nan


# --- runs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultiRunTrace:
    """One run: the rows it queried, in order, its hypervolume at each checkpoint, its time."""

    method: str
    seed: int
    rows: tuple[int, ...]
    hypervolume: dict[int, float]
    seconds: float
    trials: int


def run_method(
    table: ObjectiveTable, method: str, seed: int, config: MultiBenchConfig
) -> MultiRunTrace:
    """One whole search of `config.budget` distinct queries by `method`."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    if method == "random":
        rows, trials = _run_random(table, seed, config)
    elif method == "bonas":
        rows, trials = _run_bonas(table, seed, config)
    else:
        rows, trials = _run_optuna(table, seed, config, method)
    seconds = time.perf_counter() - start
    normalisation = table_normalisation(table, config)
    hv = {
        c: trace_hypervolume(table, rows[:c], normalisation, config.margin)
        for c in config.checkpoints
    }
    return MultiRunTrace(method, seed, tuple(rows), hv, seconds, trials)


def table_normalisation(table: ObjectiveTable, config: MultiBenchConfig) -> Normalisation:
    """Each objective's bounds over the whole table (the documented normalisation)."""
    return Normalisation.from_values(table.Y, config.directions)


def trace_hypervolume(
    table: ObjectiveTable, rows: Sequence[int], normalisation: Normalisation, margin: float
) -> float:
    """Normalised hypervolume of the queried rows (see the module docstring)."""
    if not rows:
        return 0.0
    Y = normalisation.apply(table.Y[list(rows)])
    return hypervolume(Y, torch.full((Y.shape[-1],), -margin, dtype=torch.float64))


def ceiling(table: ObjectiveTable, config: MultiBenchConfig) -> float:
    """Hypervolume of the whole table: the exact optimal front's."""
    normalisation = table_normalisation(table, config)
    return trace_hypervolume(table, range(len(table.archs)), normalisation, config.margin)


def _run_random(
    table: ObjectiveTable, seed: int, config: MultiBenchConfig
) -> tuple[list[int], int]:
    order = np.random.default_rng(seed).permutation(len(table.archs))[: config.budget]
    return [int(i) for i in order], len(order)


def _run_bonas(table: ObjectiveTable, seed: int, config: MultiBenchConfig) -> tuple[list[int], int]:
    from surrogate.multiobjective import (
        MultiObjectiveOptions,
        MultiObjectiveStrategy,
        ObjectiveSpec,
    )

    options = MultiObjectiveOptions(
        objectives=tuple(ObjectiveSpec(c, d) for c, d in config.objectives),
        **bonas_options(config.bonas),
    )
    columns = config.columns
    known = {c: _table_function(table, columns.index(c)) for c in config.known}
    strategy = MultiObjectiveStrategy(table.space, options, known=known)
    rng = np.random.default_rng(seed)
    rows: list[int] = []
    observations: list[Observation[Any]] = []
    while len(rows) < config.budget:
        wanted = min(config.k, config.budget - len(rows))
        proposals = strategy.propose(observations, [], wanted, rng).proposals
        if not proposals:
            break
        for proposal in proposals[:wanted]:
            row = table.index[table.space.key(proposal.arch)]
            if row in rows:
                raise BenchmarkError(f"bonas proposed row {row} twice (seed {seed})")
            rows.append(row)
            values = dict(zip(columns, table.Y[row].tolist(), strict=True))
            observations.append(Observation(proposal.arch, values[columns[0]], values))
    return rows, len(rows)


def bonas_options(raw: dict[str, Any]) -> dict[str, Any]:
    """`MultiBenchConfig.bonas` with its `bonas.fit` fields laid over the proposer's tuned
    `DEFAULT_FIT` (a plain dict would otherwise start from `FitOptions()`, BONAS's published
    settings)."""
    import dataclasses

    from surrogate.proposer import DEFAULT_FIT, BonasOptions

    out = dict(raw)
    inner = dict(out.get("bonas") or {})
    fit = inner.get("fit")
    if isinstance(fit, dict):
        fit = dict(fit)
        if isinstance(fit.get("gcn"), dict):
            fit["gcn"] = dataclasses.replace(DEFAULT_FIT.gcn, **fit["gcn"])
        inner["fit"] = dataclasses.replace(DEFAULT_FIT, **fit)
    out["bonas"] = BonasOptions(**inner)
    return out


def _table_function(table: ObjectiveTable, column: int) -> Callable[[Any], float]:
    def exact(arch: Any) -> float:
        return float(table.Y[table.index[table.space.key(arch)], column])

    return exact


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise BenchmarkError(
            "the nsga2 and motpe methods need Optuna: pip install 'bonas[bench]' "
            "(or .venv/bin/pip install optuna)"
        ) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _run_optuna(
    table: ObjectiveTable, seed: int, config: MultiBenchConfig, method: str = "nsga2"
) -> tuple[list[int], int]:
    optuna = _import_optuna()
    if method == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    directions = ["maximize" if d == "maximize" else "minimize" for d in config.directions]
    study = optuna.create_study(directions=directions, sampler=sampler)
    space = table.space
    cardinalities = space.cardinalities
    rows: list[int] = []
    seen: set[int] = set()
    trials = 0
    while len(rows) < config.budget and trials < 50 * config.budget:
        batch = [study.ask() for _ in range(min(config.k, config.budget - len(rows)))]
        for trial in batch:
            codes = [
                trial.suggest_categorical(f"x{i}", list(range(size)))
                for i, size in enumerate(cardinalities)
            ]
            row = table.index[space.key(space.from_codes(codes))]
            if row not in seen and len(rows) < config.budget:
                seen.add(row)
                rows.append(row)
            study.tell(trial, table.Y[row].tolist())
            trials += 1
    return rows, trials


# --- the whole benchmark ----------------------------------------------------------------------


@dataclass(frozen=True)
class MultiBenchResult:
    """Every run, the ceiling, and per-method mean and standard error at each checkpoint."""

    config: MultiBenchConfig
    traces: tuple[MultiRunTrace, ...]
    ceiling: float

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per method: runs, mean and standard error of the hypervolume per checkpoint, s/run."""
        out: dict[str, dict[str, Any]] = {}
        for method in self.config.methods:
            traces = [t for t in self.traces if t.method == method]
            if not traces:
                continue
            entry: dict[str, Any] = {"runs": len(traces), "mean": {}, "sem": {}}
            for c in self.config.checkpoints:
                values = np.array([t.hypervolume[c] for t in traces])
                entry["mean"][c] = float(values.mean())
                entry["sem"][c] = (
                    float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
                )
            entry["seconds_per_run"] = float(np.mean([t.seconds for t in traces]))
            entry["trials_per_run"] = float(np.mean([t.trials for t in traces]))
            out[method] = entry
        return out

    def format_table(self) -> str:
        checkpoints = self.config.checkpoints
        lines = [
            "method  runs  " + "  ".join(f"HV@{c} (mean ± s.e.)" for c in checkpoints) + "  s/run"
        ]
        for method, entry in self.summary().items():
            cells = "  ".join(
                f"{entry['mean'][c]:.4f} ± {entry['sem'][c]:.4f}" for c in checkpoints
            )
            lines.append(f"{method:<7} {entry['runs']:>4}  {cells}  {entry['seconds_per_run']:.1f}")
        lines.append(f"ceiling (exact front of the table): {self.ceiling:.4f}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "ceiling": self.ceiling,
            "summary": self.summary(),
            "runs": [asdict(t) for t in self.traces],
        }


def run_multi_benchmark(
    config: MultiBenchConfig,
    on_trace: Callable[[MultiRunTrace], None] | None = None,
    table: ObjectiveTable | None = None,
) -> MultiBenchResult:
    """Run every (seed, method) of `config`, seeds in the outer loop (so a cut-short run still
    has every method on the same seeds)."""
    table = table or load_objective_table(config)
    top = ceiling(table, config)
    traces: list[MultiRunTrace] = []
    for seed in config.seeds:
        for method in config.methods:
            trace = run_method(table, method, seed, config)
            traces.append(trace)
            logger.info("%s seed %d: %s (%.1f s)", method, seed, trace.hypervolume, trace.seconds)
            if on_trace is not None:
                on_trace(trace)
    return MultiBenchResult(config, tuple(traces), top)


def write_result(result: MultiBenchResult, path: Path) -> Path:
    """The result as JSON (summary and every run's rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=1, default=str))
    return path


__all__ = [
    "DEFAULT_MO_CHECKPOINTS",
    "MO_METHOD_NAMES",
    "MultiBenchConfig",
    "MultiBenchResult",
    "MultiRunTrace",
    "ObjectiveTable",
    "ceiling",
    "load_objective_table",
    "run_method",
    "run_multi_benchmark",
    "trace_hypervolume",
    "write_result",
]
