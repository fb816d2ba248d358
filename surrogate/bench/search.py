"""Search benchmark harness: whole searches, in-process, against a tabular benchmark.

Each run drives one `Strategy` from an empty history: propose a batch of `k` (nothing is ever
pending, since a table answers at once), look up the objective of each proposal in the table,
record it, repeat until the query budget is spent. The harness then reports, per method:

* the mean and standard deviation over seeds of the *reported* metric (for example test
  accuracy) of the best cell *by objective* (for example validation accuracy) found so far, at
  chosen query counts: the protocol of NAS-Bench-201, where search sees validation accuracy only;
* the median number of queries until the table's best-objective cell was found (runs that never
  found it are censored, and a median that falls on a censored run is reported as `> budget`);
* every query of every run, as a CSV, and a plot of best-so-far against queries
  (`surrogate.bench.plots`).

Methods are named (`random`, `evolution`, `local`, `bonas`) with options given as JSON-like
dicts, so the CLI and scripts can tune them without code (BONAS takes the fields of
`surrogate.proposer.BonasOptions`, its pool samplers included). Seeds may run in parallel
processes.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from surrogate import builder
from surrogate.builder import STRATEGY_NAMES
from surrogate.exceptions import SurrogateError, UnknownArchitectureError
from surrogate.spaces import BUILTIN_SPACE_NAMES, SearchSpace, get_space, load_space_file
from surrogate.strategy import Observation, Strategy
from surrogate.tables import MetricTable

logger = logging.getLogger(__name__)

METHOD_NAMES = STRATEGY_NAMES
DEFAULT_CHECKPOINTS = (50, 100, 150, 200, 300)


class BenchmarkError(SurrogateError):
    """A benchmark cannot run as configured, or a strategy broke the loop's contract."""


@dataclass(frozen=True)
class MethodSpec:
    """One method to benchmark.

    Attributes:
        name: Which strategy: one of `METHOD_NAMES`.
        options: Keyword options of the strategy's options class (JSON-like).
        label: Name shown in outputs; defaults to `name` (set it to compare two option sets of
            one method in the same run).
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if self.name not in METHOD_NAMES:
            raise BenchmarkError(
                f"unknown method {self.name!r}; choose from {', '.join(METHOD_NAMES)}"
            )

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class SearchBenchConfig:
    """What to run.

    Attributes:
        csv: The benchmark table.
        objective: Column the search maximises.
        report: Column reported for the best-by-objective cell.
        space: A built-in space name or a path to a space declaration (JSON or YAML).
        arch_column: Column of the architecture.
        arch_format: How to read it (see `surrogate.tables`).
        k: Batch size (proposals per call).
        budget: Queries per run.
        seeds: One run per seed and method.
        methods: The methods.
        checkpoints: Query counts at which the summary is reported.
        jobs: Parallel processes (1 runs everything in this process).
    """

    csv: str
    objective: str
    report: str
    space: str = "nb201"
    arch_column: str = "arch_str"
    arch_format: str = "string"
    k: int = 10
    budget: int = 300
    seeds: tuple[int, ...] = tuple(range(30))
    methods: tuple[MethodSpec, ...] = (MethodSpec("random"),)
    checkpoints: tuple[int, ...] = DEFAULT_CHECKPOINTS
    jobs: int = 1

    def __post_init__(self) -> None:
        if self.k < 1 or self.budget < 1 or self.jobs < 1:
            raise BenchmarkError(
                f"k, budget and jobs must be >= 1, got {self.k}, {self.budget}, {self.jobs}"
            )
        if not self.seeds or not self.methods:
            raise BenchmarkError("give at least one seed and one method")
        labels = [m.display for m in self.methods]
        if len(set(labels)) != len(labels):
            raise BenchmarkError(f"method labels must be distinct, got {labels}")


@dataclass(frozen=True)
class RunTrace:
    """Every query of one run, in order.

    Attributes:
        method: The method's label.
        seed: The run's seed.
        keys: Key of each queried architecture.
        objectives: Its objective (NaN when the table has none).
        reports: Its reported metric.
        seconds: Wall time of the run, table lookups included.
    """

    method: str
    seed: int
    keys: tuple[str, ...]
    objectives: tuple[float, ...]
    reports: tuple[float, ...]
    seconds: float

    def best_so_far(self, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Objective and reported metric of the best-by-objective cell after each query.

        Args:
            length: Pad (with the last value) or cut to this many queries.

        Returns:
            Two float arrays of shape `(length,)`; entry `q` describes queries `0..q`. NaN until
            a finite objective has been seen.
        """
        n = len(self.keys) if length is None else length
        best_objective = np.full(n, np.nan)
        best_report = np.full(n, np.nan)
        current_objective, current_report = -math.inf, math.nan
        for q in range(n):
            if q < len(self.keys):
                value = self.objectives[q]
                if math.isfinite(value) and value > current_objective:
                    current_objective, current_report = value, self.reports[q]
            if math.isfinite(current_objective):
                best_objective[q], best_report[q] = current_objective, current_report
        return best_objective, best_report

    def queries_to(self, targets: set[str]) -> int | None:
        """1-based query at which a key of `targets` was first found, or None."""
        for q, key in enumerate(self.keys, start=1):
            if key in targets:
                return q
        return None


@dataclass(frozen=True)
class MethodSummary:
    """Aggregates of one method over its seeds.

    Attributes:
        method: The method's label.
        runs: Number of seeds.
        mean: Mean reported metric of the best-by-objective cell, per checkpoint.
        std: Its standard deviation over seeds (ddof 1), per checkpoint.
        median_queries_to_best: Median queries until the best-objective cell was found;
            `inf` when the median falls on a run that never found it.
        found: Runs that found it within the budget.
        seconds_per_run: Mean wall time of a run.
    """

    method: str
    runs: int
    mean: dict[int, float]
    std: dict[int, float]
    median_queries_to_best: float
    found: int
    seconds_per_run: float


@dataclass(frozen=True)
class SearchBenchResult:
    """Everything a benchmark produced."""

    config: SearchBenchConfig
    traces: tuple[RunTrace, ...]
    summaries: tuple[MethodSummary, ...]
    best_keys: frozenset[str]
    best_objective: float
    best_report: float

    def format_table(self) -> str:
        """The summary as a fixed-width text table."""
        checkpoints = _checkpoints(self.config)
        header = [
            "method",
            "runs",
            *[f"@{c}" for c in checkpoints],
            "queries to best",
            "found",
            "s/run",
        ]
        rows = [header]
        for s in self.summaries:
            cells = [f"{s.mean[c]:.2f} ± {s.std[c]:.2f}" for c in checkpoints]
            rows.append(
                [
                    s.method,
                    str(s.runs),
                    *cells,
                    format_queries(s.median_queries_to_best, self.config.budget),
                    f"{s.found}/{s.runs}",
                    f"{s.seconds_per_run:.1f}",
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
        ]
        lines.append(
            f"best-{self.config.objective} cell: {self.config.report} = {self.best_report:.2f} "
            f"({self.config.objective} = {self.best_objective:.2f})"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (no per-query data)."""
        return {
            "config": {**asdict(self.config), "methods": [asdict(m) for m in self.config.methods]},
            "best_objective": self.best_objective,
            "best_report": self.best_report,
            "best_keys": sorted(self.best_keys),
            "summaries": [
                {
                    **asdict(s),
                    "median_queries_to_best": (
                        None if math.isinf(s.median_queries_to_best) else s.median_queries_to_best
                    ),
                    "median_queries_to_best_text": format_queries(
                        s.median_queries_to_best, self.config.budget
                    ),
                }
                for s in self.summaries
            ],
        }


def format_queries(median: float, budget: int) -> str:
    return f"> {budget}" if math.isinf(median) else f"{median:g}"


# --- building the pieces ----------------------------------------------------------------------


def resolve_space(name: str) -> SearchSpace[Any]:
    """A built-in space by name, or a space declared in a JSON or YAML file."""
    if name in BUILTIN_SPACE_NAMES:
        return get_space(name)
    path = Path(name)
    if path.is_file():
        return load_space_file(path)
    raise BenchmarkError(
        f"space {name!r} is neither a built-in ({', '.join(BUILTIN_SPACE_NAMES)}) nor a file"
    )


def load_table(config: SearchBenchConfig) -> tuple[SearchSpace[Any], MetricTable[Any]]:
    """The space and table of `config`, with the objective and report columns checked."""
    space = resolve_space(config.space)
    table = MetricTable.from_csv(
        config.csv, space, arch_column=config.arch_column, arch_format=config.arch_format
    )
    for column in (config.objective, config.report):
        if column not in table.columns:
            raise BenchmarkError(
                f"column {column!r} is not a metric of {config.csv}: {list(table.columns)}"
            )
    return space, table


def build_strategy(spec: MethodSpec, space: SearchSpace[Any]) -> Strategy[Any]:
    """The strategy that `spec` names, configured with its options (`surrogate.builder`)."""
    try:
        return builder.build_strategy(spec.name, space, spec.options)
    except ImportError as error:
        raise BenchmarkError(f"the bonas method needs surrogate.proposer: {error}") from error
    except ValueError as error:
        raise BenchmarkError(str(error)) from error


# --- running ----------------------------------------------------------------------------------


def run_one(
    space: SearchSpace[Any],
    table: MetricTable[Any],
    spec: MethodSpec,
    seed: int,
    config: SearchBenchConfig,
) -> RunTrace:
    """One whole search of `config.budget` queries by the method of `spec`.

    Raises:
        BenchmarkError: The strategy proposed an evaluated or repeated architecture, or one the
            table does not hold.
    """
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    strategy = build_strategy(spec, space)
    observations: list[Observation[Any]] = []
    keys: list[str] = []
    objectives: list[float] = []
    reports: list[float] = []
    seen: set[str] = set()
    start = time.perf_counter()
    while len(observations) < config.budget:
        wanted = min(config.k, config.budget - len(observations))
        proposals = strategy.propose(observations, [], wanted, rng).proposals
        if not proposals:
            logger.info("%s seed %d: the strategy has nothing left to propose", spec.display, seed)
            break
        for proposal in proposals[:wanted]:
            key = space.key(proposal.arch)
            if key in seen:
                raise BenchmarkError(f"{spec.display} proposed {key} twice (seed {seed})")
            seen.add(key)
            try:
                objective = table.value(proposal.arch, config.objective)
                report = table.value(proposal.arch, config.report)
            except UnknownArchitectureError as error:
                raise BenchmarkError(
                    f"{spec.display} proposed {key}, which the table lacks: search benchmarks "
                    "need a table that covers the whole space"
                ) from error
            observations.append(Observation(proposal.arch, objective))
            keys.append(key)
            objectives.append(objective)
            reports.append(report)
    return RunTrace(
        method=spec.display,
        seed=seed,
        keys=tuple(keys),
        objectives=tuple(objectives),
        reports=tuple(reports),
        seconds=time.perf_counter() - start,
    )


_WORKER: dict[str, Any] = {}


def _init_worker(config: SearchBenchConfig, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["space"], _WORKER["table"] = load_table(config)
    _WORKER["config"] = config


def _run_in_worker(spec: MethodSpec, seed: int) -> RunTrace:
    return run_one(_WORKER["space"], _WORKER["table"], spec, seed, _WORKER["config"])


def run_benchmark(
    config: SearchBenchConfig,
    on_trace: Callable[[RunTrace], None] | None = None,
    show_progress: bool = False,
) -> SearchBenchResult:
    """Run every (method, seed) of `config` and summarise.

    Args:
        config: What to run.
        on_trace: Called with each finished run (in completion order).
        show_progress: Show a rich progress bar over runs on the terminal.
    """
    space, table = load_table(config)
    tasks = [(spec, seed) for spec in config.methods for seed in config.seeds]
    traces: list[RunTrace] = []
    with _Progress(len(tasks), show_progress) as advance:

        def record(trace: RunTrace) -> None:
            traces.append(trace)
            advance(trace)
            if on_trace is not None:
                on_trace(trace)

        if config.jobs == 1:
            for spec, seed in tasks:
                record(run_one(space, table, spec, seed, config))
        else:
            threads = max(1, (multiprocessing.cpu_count() or 1) // config.jobs)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                config.jobs,
                mp_context=context,
                initializer=_init_worker,
                initargs=(config, threads),
            ) as pool:
                futures = [pool.submit(_run_in_worker, spec, seed) for spec, seed in tasks]
                for future in as_completed(futures):
                    record(future.result())
    order = {(spec.display, seed): i for i, (spec, seed) in enumerate(tasks)}
    traces.sort(key=lambda t: order[(t.method, t.seed)])
    best_key, best_objective = table.best(config.objective)
    table_keys = table.keys()  # MetricTable is not iterable itself
    best_keys = frozenset(
        key for key in table_keys if table.metrics_by_key(key)[config.objective] == best_objective
    )
    best_report = table.metrics_by_key(best_key)[config.report]
    return SearchBenchResult(
        config=config,
        traces=tuple(traces),
        summaries=tuple(summarise(traces, config, set(best_keys))),
        best_keys=best_keys,
        best_objective=best_objective,
        best_report=best_report,
    )


class _Progress:
    """Context manager yielding an `advance(trace)` callback, a rich bar when enabled."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self._bar: Any = None

    def __enter__(self) -> Callable[[RunTrace], None]:
        if not self.enabled:
            return lambda trace: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]search runs[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self._bar.__enter__()
        task = self._bar.add_task("", total=self.total)

        def advance(trace: RunTrace) -> None:
            self._bar.update(task, advance=1, description=f"{trace.method} seed {trace.seed}")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


# --- summarising ------------------------------------------------------------------------------


def _checkpoints(config: SearchBenchConfig) -> list[int]:
    return [c for c in config.checkpoints if 1 <= c <= config.budget]


def censored_median(values: Sequence[float]) -> float:
    """Median where `inf` marks a censored run; `inf` if the median touches a censored run."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return math.nan
    middle = ordered[(n - 1) // 2 : n // 2 + 1]
    return math.inf if any(math.isinf(v) for v in middle) else float(np.mean(middle))


def summarise(
    traces: Sequence[RunTrace], config: SearchBenchConfig, best_keys: set[str]
) -> list[MethodSummary]:
    """One `MethodSummary` per method, in the order of `config.methods`."""
    summaries = []
    for spec in config.methods:
        runs = [t for t in traces if t.method == spec.display]
        if not runs:
            continue
        curves = np.stack([t.best_so_far(config.budget)[1] for t in runs])
        mean, std = {}, {}
        for c in _checkpoints(config):
            column = curves[:, c - 1]
            mean[c] = float(np.nanmean(column)) if np.isfinite(column).any() else math.nan
            std[c] = float(np.nanstd(column, ddof=1)) if np.isfinite(column).sum() > 1 else 0.0
        hits = [t.queries_to(best_keys) for t in runs]
        summaries.append(
            MethodSummary(
                method=spec.display,
                runs=len(runs),
                mean=mean,
                std=std,
                median_queries_to_best=censored_median(
                    [math.inf if h is None else h for h in hits]
                ),
                found=sum(h is not None for h in hits),
                seconds_per_run=float(np.mean([t.seconds for t in runs])),
            )
        )
    return summaries


# --- outputs ----------------------------------------------------------------------------------


def write_runs_csv(result: SearchBenchResult, path: Path) -> None:
    """Every query of every run: method, seed, query (1-based), key, objective, report, and the
    objective and report of the best-by-objective cell so far."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "method",
                "seed",
                "query",
                "arch_key",
                "objective",
                "report",
                "best_objective",
                "best_report",
            ]
        )
        for trace in result.traces:
            best_objective, best_report = trace.best_so_far()
            for q, key in enumerate(trace.keys):
                writer.writerow(
                    [
                        trace.method,
                        trace.seed,
                        q + 1,
                        key,
                        repr(trace.objectives[q]),
                        repr(trace.reports[q]),
                        repr(float(best_objective[q])),
                        repr(float(best_report[q])),
                    ]
                )


def _finite_or_none(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_outputs(result: SearchBenchResult, out_dir: str | Path) -> dict[str, Path]:
    """Write `runs.csv`, `summary.json`, `summary.txt` and `best_so_far.png` into `out_dir`."""
    from surrogate.bench.plots import plot_best_so_far

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "runs": out / "runs.csv",
        "summary_json": out / "summary.json",
        "summary_text": out / "summary.txt",
        "plot": out / "best_so_far.png",
    }
    write_runs_csv(result, paths["runs"])
    summary = json.dumps(_finite_or_none(result.to_json()), indent=2, allow_nan=False)
    paths["summary_json"].write_text(summary + "\n")
    paths["summary_text"].write_text(result.format_table() + "\n")
    plot_best_so_far(result, paths["plot"])
    return paths
