"""Constrained search benchmark: the best objective under a bound on a cost, against a table.

Each scenario bounds one metric of the table (`MetricConstraint`): parameters, say, which is
*analytic* (known from the architecture alone, so the constrained strategy filters its pool with
it), or a device latency, which is *measured* (known only once a cell is queried, so the
constrained strategy models it from the metrics of its observations). Methods:

* `random-feasible`: uniform random search over the table's feasible cells only (an oracle of
  feasibility, as a user who could enumerate the feasible set would have);
* `bonas`: the unconstrained default, blind to the bound (one run per seed serves every
  scenario, scored under each);
* `bonas-penalty`: the service's behaviour today: the bound is checked after each result, and an
  infeasible result is shown to the strategy as no better than the worst seen so far;
* `bonas-constrained`: `BonasStrategy` with the scenario's constraint (pool filter when
  analytic, feasibility model when measured).

Every run is scored as NAS-Bench-201's protocol does, restricted to feasible cells: the reported
metric (test accuracy) of the feasible queried cell with the best objective (validation accuracy)
after each number of queries, NaN until one feasible cell has been queried; beside it the
fraction of queries that broke the bound.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from surrogate.bench.search import BenchmarkError, RunTrace, resolve_space
from surrogate.constraints import MetricConstraint
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation, Proposal, ProposalRound, Strategy
from surrogate.tables import MetricTable

logger = logging.getLogger(__name__)

ConstrainedMethod = Literal["random-feasible", "bonas", "bonas-penalty", "bonas-constrained"]
CONSTRAINED_METHODS: tuple[str, ...] = get_args(ConstrainedMethod)


@dataclass(frozen=True)
class Scenario:
    """One bound to search under.

    Attributes:
        name: Shown in outputs.
        constraint: The bound, on a column of the (joined) table.
        analytic: Whether the constrained strategy may compute the metric before querying (a
            cost function reads it from the table) or must model it from its observations.
    """

    name: str
    constraint: MetricConstraint
    analytic: bool


@dataclass(frozen=True)
class ConstrainedBenchConfig:
    """What to run.

    Attributes:
        csv: The benchmark table.
        objective: Column the search maximises.
        report: Column reported for the best feasible cell.
        scenarios: The bounds, each run separately (the unconstrained method once for all).
        hw_csv: An HW-NAS-Bench cost table to join onto `csv` (None: none).
        hw_columns: Its columns to join.
        space, arch_column, arch_format: How to read `csv` (see `surrogate.tables`).
        k: Batch size.
        budget: Queries per run.
        seeds: One run per seed, method and scenario.
        methods: Names from `CONSTRAINED_METHODS`.
        bonas_options: `BonasOptions` fields of every BONAS method.
        checkpoints: Query counts of the summary.
        jobs: Parallel processes.
    """

    csv: str
    objective: str
    report: str
    scenarios: tuple[Scenario, ...]
    hw_csv: str | None = None
    hw_columns: tuple[str, ...] = ()
    space: str = "nb201"
    arch_column: str = "arch_str"
    arch_format: str = "string"
    k: int = 10
    budget: int = 200
    seeds: tuple[int, ...] = tuple(range(30))
    methods: tuple[str, ...] = CONSTRAINED_METHODS
    bonas_options: dict[str, Any] = field(default_factory=dict)
    checkpoints: tuple[int, ...] = (10, 50, 100, 200)
    jobs: int = 1

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in CONSTRAINED_METHODS]
        if unknown:
            raise BenchmarkError(
                f"unknown method(s) {unknown}; choose from {', '.join(CONSTRAINED_METHODS)}"
            )
        if not self.scenarios or not self.seeds or not self.methods:
            raise BenchmarkError("give at least one scenario, seed and method")
        if self.k < 1 or self.budget < 1 or self.jobs < 1:
            raise BenchmarkError("k, budget and jobs must be >= 1")


@dataclass(frozen=True)
class ScenarioSummary:
    """One method under one scenario, over its seeds.

    Attributes:
        scenario, method: Which.
        runs: Seeds run.
        mean, std: Reported metric of the best feasible cell found, per checkpoint (over the
            runs that found a feasible cell by then).
        found_feasible: Per checkpoint, the runs with a feasible cell by then.
        infeasible_fraction: Mean fraction of queries that broke the bound.
        seconds_per_run: Mean wall time of a run.
    """

    scenario: str
    method: str
    runs: int
    mean: dict[int, float]
    std: dict[int, float]
    found_feasible: dict[int, int]
    infeasible_fraction: float
    seconds_per_run: float


# --- the pieces -----------------------------------------------------------------------------


def load_joined_table(config: ConstrainedBenchConfig) -> tuple[SearchSpace[Any], MetricTable[Any]]:
    """The space and table of `config`, the hardware columns joined on, every column checked."""
    space = resolve_space(config.space)
    table: MetricTable[Any] = MetricTable.from_csv(
        config.csv, space, arch_column=config.arch_column, arch_format=config.arch_format
    )
    if config.hw_csv is not None:
        from surrogate.tables_hw import join_tables, read_hw_nas_bench

        hw = read_hw_nas_bench(config.hw_csv, space)  # type: ignore[arg-type]
        table = join_tables(table, hw, config.hw_columns)
    needed = [config.objective, config.report, *(s.constraint.metric for s in config.scenarios)]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise BenchmarkError(f"column(s) {missing} are not metrics of the table: {table.columns}")
    return space, table


def feasible_keys(table: MetricTable[Any], constraint: MetricConstraint) -> list[str]:
    """Keys of the table's cells that meet `constraint`, in the table's order."""
    keys = table.keys()  # a MetricTable is not iterable itself
    return [k for k in keys if constraint.satisfied_by(table.metrics_by_key(k))]


class FeasibleRandomSearch(Strategy[Any]):
    """Uniform random search without repetition over a given feasible set of architectures."""

    name = "random-feasible"

    def __init__(self, space: SearchSpace[Any], feasible: Sequence[Any]) -> None:
        super().__init__(space)
        self.feasible = list(feasible)

    def propose(
        self,
        observations: Sequence[Observation[Any]],
        pending: Sequence[Any],
        k: int,
        rng: np.random.Generator,
    ) -> ProposalRound[Any]:
        seen = {self.space.key(o.arch) for o in observations}
        seen.update(self.space.key(a) for a in pending)
        picked: list[Any] = []
        for i in rng.permutation(len(self.feasible)):
            arch = self.feasible[int(i)]
            if self.space.key(arch) not in seen:
                picked.append(arch)
                if len(picked) == k:
                    break
        return ProposalRound(tuple(Proposal(arch=a, source=self.name) for a in picked))


def build_method(
    method: str,
    scenario: Scenario | None,
    space: SearchSpace[Any],
    table: MetricTable[Any],
    bonas_options: Mapping[str, Any],
) -> Strategy[Any]:
    """The strategy of `method` under `scenario` (None only for the unconstrained `bonas`)."""
    from surrogate.builder import build_strategy

    if method == "bonas" or method == "bonas-penalty":
        return build_strategy("bonas", space, bonas_options)
    assert scenario is not None
    if method == "random-feasible":
        keys = set(feasible_keys(table, scenario.constraint))
        return FeasibleRandomSearch(space, [a for a in table.archs() if space.key(a) in keys])
    metric = scenario.constraint.metric

    def cost_of(arch: Any) -> dict[str, float]:
        return {metric: table.value(arch, metric)}

    return build_strategy(
        "bonas",
        space,
        bonas_options,
        constraints=[scenario.constraint],
        cost_of=cost_of if scenario.analytic else None,
    )


def run_constrained(
    space: SearchSpace[Any],
    table: MetricTable[Any],
    method: str,
    scenario: Scenario | None,
    seed: int,
    config: ConstrainedBenchConfig,
) -> RunTrace:
    """One search of `config.budget` queries; its `RunTrace.method` is `method[@scenario]`."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    strategy = build_method(method, scenario, space, table, config.bonas_options)
    metric = None if scenario is None else scenario.constraint.metric
    observations: list[Observation[Any]] = []
    keys: list[str] = []
    objectives: list[float] = []
    reports: list[float] = []
    start = time.perf_counter()
    while len(observations) < config.budget:
        wanted = min(config.k, config.budget - len(observations))
        proposals = strategy.propose(observations, [], wanted, rng).proposals[:wanted]
        if not proposals:
            break
        for proposal in proposals:
            key = space.key(proposal.arch)
            if key in keys:
                raise BenchmarkError(f"{method} proposed {key} twice (seed {seed})")
            row = table.metrics_by_key(key)
            value, metrics = row[config.objective], {}
            if metric is not None:
                metrics = {metric: row[metric]}
            observations.append(Observation(proposal.arch, value, metrics))
            keys.append(key)
            objectives.append(value)
            reports.append(row[config.report])
        if method == "bonas-penalty":
            assert scenario is not None
            observations = penalised(observations, scenario.constraint)
    label = method if scenario is None else f"{method}@{scenario.name}"
    return RunTrace(
        label, seed, tuple(keys), tuple(objectives), tuple(reports), time.perf_counter() - start
    )


def penalised(
    observations: Sequence[Observation[Any]], constraint: MetricConstraint
) -> list[Observation[Any]]:
    """The service's rule: an infeasible result counts as no better than the worst seen."""
    values = [o.value for o in observations if math.isfinite(o.value)]
    if not values:
        return list(observations)
    worst = min(values)
    return [
        o
        if constraint.satisfied_by(o.metrics)
        else Observation(o.arch, min(o.value, worst), o.metrics)
        for o in observations
    ]


# --- running ----------------------------------------------------------------------------------


def tasks_of(config: ConstrainedBenchConfig) -> list[tuple[str, Scenario | None, int]]:
    """Every (method, scenario, seed) to run; the blind `bonas` once per seed."""
    tasks: list[tuple[str, Scenario | None, int]] = []
    for seed in config.seeds:
        for method in config.methods:
            if method == "bonas":
                tasks.append((method, None, seed))
            else:
                tasks.extend((method, scenario, seed) for scenario in config.scenarios)
    return tasks


_WORKER: dict[str, Any] = {}


def _init_worker(config: ConstrainedBenchConfig, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["space"], _WORKER["table"] = load_joined_table(config)
    _WORKER["config"] = config


def _run_in_worker(method: str, scenario: Scenario | None, seed: int) -> RunTrace:
    return run_constrained(
        _WORKER["space"], _WORKER["table"], method, scenario, seed, _WORKER["config"]
    )


def run_constrained_benchmark(
    config: ConstrainedBenchConfig, on_trace: Callable[[RunTrace], None] | None = None
) -> list[RunTrace]:
    """Every run of `config` (in completion order when parallel)."""
    tasks = tasks_of(config)
    traces: list[RunTrace] = []

    def record(trace: RunTrace) -> None:
        traces.append(trace)
        logger.info("%s seed %d: %.1f s", trace.method, trace.seed, trace.seconds)
        if on_trace is not None:
            on_trace(trace)

    if config.jobs == 1:
        space, table = load_joined_table(config)
        for method, scenario, seed in tasks:
            record(run_constrained(space, table, method, scenario, seed, config))
        return traces
    threads = max(1, (multiprocessing.cpu_count() or 1) // config.jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        config.jobs, mp_context=context, initializer=_init_worker, initargs=(config, threads)
    ) as pool:
        futures = [pool.submit(_run_in_worker, *task) for task in tasks]
        for future in as_completed(futures):
            record(future.result())
    return traces


# --- scoring ----------------------------------------------------------------------------------


def feasible_best_so_far(
    trace: RunTrace, table: MetricTable[Any], constraint: MetricConstraint, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reported metric of the best-objective feasible cell after each query (NaN before the
    first feasible one), and whether each query was feasible."""
    best_report = np.full(length, np.nan)
    feasible = np.zeros(len(trace.keys), dtype=bool)
    best, report = -math.inf, math.nan
    for q in range(length):
        if q < len(trace.keys):
            feasible[q] = constraint.satisfied_by(table.metrics_by_key(trace.keys[q]))
            value = trace.objectives[q]
            if feasible[q] and math.isfinite(value) and value > best:
                best, report = value, trace.reports[q]
        best_report[q] = report
    return best_report, feasible


def summarise_constrained(
    traces: Sequence[RunTrace], table: MetricTable[Any], config: ConstrainedBenchConfig
) -> list[ScenarioSummary]:
    """One summary per (scenario, method), in the config's order."""
    summaries = []
    checkpoints = [c for c in config.checkpoints if 1 <= c <= config.budget]
    for scenario in config.scenarios:
        for method in config.methods:
            label = method if method == "bonas" else f"{method}@{scenario.name}"
            runs = [t for t in traces if t.method == label]
            if not runs:
                continue
            scored = [
                feasible_best_so_far(t, table, scenario.constraint, config.budget) for t in runs
            ]
            curves = np.stack([curve for curve, _ in scored])
            mean, std, found = {}, {}, {}
            for c in checkpoints:
                column = curves[:, c - 1]
                ok = np.isfinite(column)
                found[c] = int(ok.sum())
                mean[c] = float(column[ok].mean()) if ok.any() else math.nan
                std[c] = float(column[ok].std(ddof=1)) if ok.sum() > 1 else 0.0
            summaries.append(
                ScenarioSummary(
                    scenario=scenario.name,
                    method=method,
                    runs=len(runs),
                    mean=mean,
                    std=std,
                    found_feasible=found,
                    infeasible_fraction=float(np.mean([1 - f.mean() for _, f in scored])),
                    seconds_per_run=float(np.mean([t.seconds for t in runs])),
                )
            )
    return summaries


def table_ceiling(
    table: MetricTable[Any], config: ConstrainedBenchConfig, scenario: Scenario
) -> dict[str, float]:
    """The feasible cell with the best objective: its objective and reported metric, and the
    fraction of the table that is feasible."""
    keys = feasible_keys(table, scenario.constraint)
    rows = [table.metrics_by_key(k) for k in keys]
    best = max(rows, key=lambda r: r[config.objective])
    return {
        "objective": best[config.objective],
        "report": best[config.report],
        "feasible_fraction": len(keys) / len(table),
    }


def format_summaries(summaries: Sequence[ScenarioSummary], ceilings: Mapping[str, Any]) -> str:
    """The summaries as a fixed-width text table, one block per scenario."""
    lines = []
    for scenario in dict.fromkeys(s.scenario for s in summaries):
        ceiling = ceilings[scenario]
        lines.append(
            f"{scenario}: best feasible cell reports {ceiling['report']:.2f} "
            f"({ceiling['feasible_fraction']:.1%} of the table feasible)"
        )
        for s in (s for s in summaries if s.scenario == scenario):
            cells = "  ".join(
                f"@{c}: {s.mean[c]:.2f} ± {s.std[c]:.2f} ({s.found_feasible[c]}/{s.runs})"
                for c in s.mean
            )
            lines.append(
                f"  {s.method:18s} {cells}  infeasible {s.infeasible_fraction:.1%}  "
                f"{s.seconds_per_run:.1f} s/run"
            )
    return "\n".join(lines)


def write_json(
    path: str | Path,
    config: ConstrainedBenchConfig,
    traces: Sequence[RunTrace],
    table: MetricTable[Any],
) -> dict[str, Any]:
    """Summaries, ceilings and every trace's keys as JSON (NaN written as null)."""
    summaries = summarise_constrained(traces, table, config)
    ceilings = {s.name: table_ceiling(table, config, s) for s in config.scenarios}
    payload = {
        "config": asdict(config),
        "ceilings": ceilings,
        "summaries": [asdict(s) for s in summaries],
        "seeds_run": sorted({t.seed for t in traces}),
        "traces": [asdict(t) for t in traces],
        "text": format_summaries(summaries, ceilings),
    }
    text = json.dumps(_nan_to_none(payload), indent=1, allow_nan=False)
    Path(path).write_text(text + "\n")
    return payload


def read_traces(paths: Sequence[str | Path]) -> list[RunTrace]:
    """The traces of JSON files that `write_json` wrote (to merge runs made separately)."""
    traces = []
    for path in paths:
        for t in json.loads(Path(path).read_text())["traces"]:
            objectives = tuple(math.nan if v is None else float(v) for v in t["objectives"])
            reports = tuple(math.nan if v is None else float(v) for v in t["reports"])
            traces.append(
                RunTrace(
                    t["method"], t["seed"], tuple(t["keys"]), objectives, reports, t["seconds"]
                )
            )
    return traces


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value
