"""`SearchSpec`: what a user submits to start a search, checked before anything is stored.

A spec names a search space, how architectures are evaluated, what is optimised (and under which
constraints), the budget, the batching, the strategy and the seed. Validation builds the space and
the strategy once, so that a bad space declaration, an unknown sampler or a misspelt option is
refused at submission with a message that says which field is wrong and what is accepted, rather
than failing later inside the controller loop.

A spec is validated once: at submission, and once per process for a stored one
(`SearchSpec.from_stored`, which keeps the validated object, and a spec submitted in the process
is kept already). Its space is built once per spec object (`SearchSpec.search_space`).

The builders turn a validated spec into the objects the controller and the lease need:

* `build_space(spec)`: the `SearchSpace` (the spec's own, built once);
* `build_strategy(spec, space)`: the `Strategy` (BONAS with its samplers, or a baseline);
* `build_evaluator_spec(spec)`: the evaluator spec a worker receives in every lease of the search
  (a `protocol` model);
* `batch_fidelity(spec)`: the fidelity label the search's batches and results are stored under.

Example (YAML, as ``bonas submit`` reads it)::

    name: nb201-table
    space: nb201
    evaluator: {kind: table, path: nb201_cifar10.csv, report_columns: [cifar10_test_200ep]}
    objective: {metric: cifar10valid_val_200ep_1seed}
    budget: {evaluations: 100}
    batch_size: 10
    strategy: {name: bonas, acquisition: ucb, samplers: {uniform: 1, mutation: 1}}
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol import (
    AnalyticMetric,
    DataName,
    DatasetSpec,
    ExtraTableSpec,
    StandaloneEvaluatorSpec,
    TableArchFormat,
    TableEvaluatorSpec,
    TrainingOptions,
    WeightSharingEvaluatorSpec,
)
from surrogate.acquisition import ACQUISITION_NAMES, AcquisitionName
from surrogate.builder import STRATEGY_NAMES, StrategyName
from surrogate.builder import build_strategy as surrogate_build_strategy
from surrogate.constraints import MetricConstraint
from surrogate.costs import cost_of
from surrogate.exceptions import SurrogateError
from surrogate.spaces import BUILTIN_SPACE_NAMES, SearchSpace, get_space, space_from_spec
from surrogate.strategy import Strategy

MAX_BATCH_SIZE = 1000
MAX_OBJECTIVES = 3
"""Most objectives of one search (hypervolume acquisitions grow quickly with their number)."""
MAX_BATCHES_IN_FLIGHT = 64
MAX_EVALUATIONS = 1_000_000
MAX_EXTRA_TABLES = 4
ANALYTIC_METRICS: tuple[AnalyticMetric, ...] = ("params", "flops")
"""Metrics a table search computes from the architecture (`surrogate.costs.cost_of`: counts at
the space's default network) rather than reads: a constraint on one filters the candidate pool,
an objective on one is known exactly, and the worker reports them for every member."""
SEED_LIMIT = 2**63

Name = Annotated[str, Field(min_length=1, max_length=200)]
ColumnName = Annotated[str, Field(min_length=1, max_length=200)]
JSONDict = dict[str, Any]


class _Spec(BaseModel):
    """Base of the spec models: immutable, and refusing unknown fields (typos fail loudly)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- evaluators -----------------------------------------------------------------------------------


class TableEvaluator(_Spec):
    """Look architectures up in a benchmark CSV (no training; no GPU).

    Attributes:
        path: The CSV, as a name relative to the data roots (``nb201/cifar10.csv``): each
            worker looks it up under its ``--data-root`` directories, the service (for the
            dashboard's baseline) under its ``BONAS_DATA_ROOTS``. Absolute paths, ``..``
            components, ``~`` and control characters are refused here with a 422; a name
            that is missing or leaves its root through a symlink is refused by the machine
            that reads it.
        arch_column: Column holding the architecture.
        arch_format: How that column is written (``string``, ``json``, ``key``, ``matrix_ops``,
            ``naslib_tuple``).
        ops_column: Op-list column, for ``matrix_ops``.
        report_columns: Further columns stored with each result (empty: every numeric column).
        fidelity: Label of what the table measures (default: the objective column).
        extra_tables: Tables joined onto every row by architecture, such as HW-NAS-Bench's
            per-device latencies keyed by NASLib's tuple (``{path: hw_cifar10.csv, columns:
            [edgegpu_latency]}``; see `protocol.ExtraTableSpec` and docs/costs-measured.md).
            Their columns are reported with each result and may be constrained or optimised;
            with `report_columns` given, each must name its `columns`.
    """

    kind: Literal["table"] = "table"
    path: DataName
    arch_column: ColumnName = "arch_str"
    arch_format: TableArchFormat = "string"
    ops_column: ColumnName = "ops"
    report_columns: tuple[ColumnName, ...] = ()
    fidelity: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    extra_tables: Annotated[tuple[ExtraTableSpec, ...], Field(max_length=MAX_EXTRA_TABLES)] = ()

    @model_validator(mode="after")
    def _extra_columns_named(self) -> TableEvaluator:
        if self.report_columns and any(not extra.columns for extra in self.extra_tables):
            raise ValueError(
                "with report_columns given, each of extra_tables must list its `columns`"
            )
        return self

    @property
    def reported_columns(self) -> frozenset[str]:
        """The columns stored with each result, when `report_columns` names them (the
        extra tables' columns included); empty when every numeric column is reported."""
        if not self.report_columns:
            return frozenset()
        return frozenset(
            (*self.report_columns, *(c for extra in self.extra_tables for c in extra.columns))
        )


class _TrainingEvaluator(_Spec):
    """Fields of the evaluators that train.

    Attributes:
        dataset: The data (``digits`` needs no files; ``cifar10``, ``cifar100`` and
            ``imagefolder`` read files on the workers' machines).
        train: Trainer options (`protocol.TrainingOptions`: ``epochs``, ``warmup_epochs``,
            ``channels``, ``batch_size``...), the very model a worker reads from the lease, so
            they are validated once, here, and a typo is refused before any batch is queued.
            Stored specs keep the same names, so older ones load unchanged.
        fidelity: Label of what the numbers measure; give different training budgets
            different labels.
    """

    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    train: TrainingOptions = Field(default_factory=TrainingOptions)
    fidelity: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class WeightSharingEvaluator(_TrainingEvaluator):
    """Train each batch jointly in a super-network (BONAS's method); fidelity ``supernet``."""

    kind: Literal["weight_sharing"] = "weight_sharing"


class StandaloneEvaluator(_TrainingEvaluator):
    """Train each architecture alone from scratch; fidelity ``standalone``."""

    kind: Literal["standalone"] = "standalone"


EvaluatorConfig = Annotated[
    TableEvaluator | WeightSharingEvaluator | StandaloneEvaluator, Field(discriminator="kind")
]


# --- objective, constraints, budget ---------------------------------------------------------------


class Objective(_Spec):
    """What the search optimises.

    Attributes:
        metric: The measured metric (a table column, or a trainer metric such as
            ``val_accuracy``).
        goal: ``maximize`` or ``minimize``.
        range: ``[lo, hi]``, the values the objective can take (``[0, 1]`` for an accuracy as
            a fraction, ``[0, 100]`` in percent). A worker's report whose objective falls outside
            is refused (422), so a faulty or hostile worker cannot make an impossible value the
            search's best. None accepts any finite value.
    """

    metric: ColumnName = "val_accuracy"
    goal: Literal["maximize", "minimize"] = "maximize"
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _valid_range(self) -> Objective:
        if self.range is not None:
            lo, hi = self.range
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError(
                    f"objective range {list(self.range)} is not accepted: give [lo, hi] with "
                    "finite lo <= hi"
                )
        return self

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"

    def admits(self, value: float) -> bool:
        """Whether `value` is a finite objective within the declared range (if any)."""
        if not math.isfinite(value):
            return False
        return self.range is None or self.range[0] <= value <= self.range[1]


class Constraint(_Spec):
    """A bound on a metric (e.g. ``params``, ``flops`` or ``edgegpu_latency``).

    An evaluated architecture that breaks a constraint is infeasible: it never becomes the best
    so far. How the strategy avoids infeasible architectures depends on the metric:

    * ``params`` and ``flops`` of a table search are *analytic*: computed from the architecture
      by `surrogate.costs.cost_of` for the spec's space, as counts (parameters, and FLOPs of
      one forward on one image; not millions) of the space's default network (NAS-Bench-201
      at C=16, N=5 on 32x32 images). The BONAS strategy removes every candidate that breaks
      the bound before acquisition, so none is proposed, and the worker reports the same
      counts with each result (replacing a table column of the same name). Over a space the
      cost model cannot price (a user cell with an op it does not know), and in a training
      search (where they are the trained network's own counts, as the trainer reports them),
      they are read from the results and modelled like any measured metric.
    * Any other metric is *measured*: known only after evaluation. BONAS models it from the
      results' metrics (one surrogate per constrained metric) and weighs each candidate by its
      probability of meeting the bound (see `surrogate.constraints`).

    The baselines (random, evolution, local) cannot model constraints; they see an infeasible
    result as no better than the worst result seen, so that they move away from it.

    Attributes:
        metric: The reported metric.
        max: Largest allowed value (inclusive).
        min: Smallest allowed value (inclusive).
    """

    metric: ColumnName
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> Constraint:
        if self.max is None and self.min is None:
            raise ValueError(f"constraint on {self.metric!r} needs `max`, `min` or both")
        for bound in (self.max, self.min):
            if bound is not None and not math.isfinite(bound):
                raise ValueError(f"constraint bounds on {self.metric!r} must be finite")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(
                f"constraint on {self.metric!r}: min ({self.min}) is above max ({self.max})"
            )
        return self

    def satisfied_by(self, metrics: dict[str, Any]) -> bool:
        """Whether `metrics` meet this constraint (a missing metric does not)."""
        value = metrics.get(self.metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False
        too_high = self.max is not None and value > self.max
        too_low = self.min is not None and value < self.min
        return not (too_high or too_low)


class Budget(_Spec):
    """When the search stops: after this many evaluations, this much wall time, or both.

    Attributes:
        evaluations: Stored results (one per architecture) after which no batch is proposed.
        wall_seconds: Seconds since the search started after which it completes.
    """

    evaluations: Annotated[int, Field(ge=1, le=MAX_EVALUATIONS)] | None = None
    wall_seconds: Annotated[float, Field(gt=0, le=365 * 24 * 3600)] | None = None

    @model_validator(mode="after")
    def _has_limit(self) -> Budget:
        if self.evaluations is None and self.wall_seconds is None:
            raise ValueError("a budget needs `evaluations`, `wall_seconds` or both")
        return self


# --- strategy -------------------------------------------------------------------------------------


class StrategyConfig(_Spec):
    """Which search strategy proposes the batches.

    Attributes:
        name: ``bonas`` (GCN surrogate + acquisition over a sampled pool), or a baseline:
            ``random``, ``evolution`` (regularized evolution), ``local`` (local search).
        acquisition: BONAS only: ``ucb``, ``logei``, ``lognei`` or ``ts`` (Thompson sampling).
        samplers: BONAS only: the candidate pool's samplers and their weights, e.g.
            ``{"uniform": 1, "mutation": {"weight": 2, "options": {"top_m": 5}}}`` (default:
            a uniform pool). Names: uniform, mutation, categorical, additive, ard,
            mc_dropout, balenas (see `surrogate.proposer.BonasOptions.samplers`).
        options: Options of the strategy: `surrogate.proposer.BonasOptions` fields for BONAS
            (``n_init``, ``pool_size``, ``max_batch_distance``, ``fit``...), the options of
            the baselines otherwise.
    """

    name: StrategyName = "bonas"
    acquisition: AcquisitionName | None = None
    samplers: JSONDict | None = None
    options: JSONDict = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bonas_only(self) -> StrategyConfig:
        if self.name != "bonas":
            given = [f for f in ("acquisition", "samplers") if getattr(self, f) is not None]
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise ValueError(
                    f"{' and '.join(given)} only {verb} to the 'bonas' strategy, not {self.name!r}"
                )
        if self.samplers is not None and not self.samplers:
            raise ValueError("samplers, when given, must name at least one sampler")
        for field_name in ("acquisition", "samplers"):
            if field_name in self.options and getattr(self, field_name) is not None:
                raise ValueError(f"give {field_name} either as `{field_name}` or in options")
        return self


# --- the spec -------------------------------------------------------------------------------------


class SearchSpec(_Spec):
    """A search as a user submits it.

    Attributes:
        name: Display name.
        space: A built-in space name (``nb201``, ``nb101``, ``darts``) or a declaration such as
            ``{"type": "cell", "name": "c", "num_nodes": 4, "ops": [...]}``.
        evaluator: How batches are evaluated (``table``, ``weight_sharing`` or ``standalone``).
        objective: The metric and whether to maximize or minimize it. In a multi-objective
            search it is the first of `objectives` (the one a single best is chosen by).
        objectives: For a multi-objective search, two or three objectives with their goals
            (e.g. maximize accuracy, minimize latency); the search then looks for their Pareto
            front. Empty (the default) for a single-objective search.
        constraints: Bounds on reported metrics that a result must meet to count.
        budget: When the search completes.
        batch_size: Architectures per batch (BONAS's k).
        batches_in_flight: Batches queued or leased at once (one per worker you expect).
        strategy: The strategy that proposes batches.
        seed: Seeds the strategy and the evaluations.
    """

    name: Name
    space: str | JSONDict = "nb201"
    evaluator: EvaluatorConfig
    objective: Objective = Field(default_factory=Objective)
    objectives: Annotated[tuple[Objective, ...], Field(max_length=MAX_OBJECTIVES)] = ()
    constraints: tuple[Constraint, ...] = ()
    budget: Budget
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] = 10
    batches_in_flight: Annotated[int, Field(ge=1, le=MAX_BATCHES_IN_FLIGHT)] = 1
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    seed: Annotated[int, Field(ge=0, lt=SEED_LIMIT)] = 0

    @model_validator(mode="before")
    @classmethod
    def _primary_objective(cls, data: Any) -> Any:
        """``objectives`` alone names the primary objective too (its first entry)."""
        if isinstance(data, dict) and data.get("objectives") and "objective" not in data:
            first = data["objectives"][0]
            return {**data, "objective": first}
        return data

    @field_validator("space")
    @classmethod
    def _known_space(cls, space: str | JSONDict) -> str | JSONDict:
        if isinstance(space, str) and space not in BUILTIN_SPACE_NAMES:
            raise ValueError(
                f"unknown search space {space!r}; give a built-in name "
                f"({', '.join(BUILTIN_SPACE_NAMES)}) or a declaration mapping with a `type`"
            )
        return space

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpec:
        try:
            size = self.search_space.size()
        except SurrogateError as error:
            raise ValueError(f"bad search space: {error}") from error
        if isinstance(self.evaluator, TableEvaluator) and self.evaluator.report_columns:
            reported = {
                *self.evaluator.reported_columns,
                self.objective.metric,
                *self.analytic_metrics,
            }
            missing = [c.metric for c in self.constraints if c.metric not in reported]
            if missing:
                raise ValueError(
                    f"constraints on {missing} need those columns in evaluator.report_columns "
                    f"or an extra table's columns (now {sorted(self.evaluator.reported_columns)})"
                )
            unreported = [o.metric for o in self.objectives if o.metric not in reported]
            if unreported:
                raise ValueError(
                    f"objectives {unreported} need those columns in evaluator.report_columns "
                    f"or an extra table's columns (now {sorted(self.evaluator.reported_columns)})"
                )
        if self.objectives:
            metrics = [o.metric for o in self.objectives]
            if len(self.objectives) < 2:
                raise ValueError("objectives needs two or three entries; for one, use `objective`")
            if len(set(metrics)) != len(metrics):
                raise ValueError(f"one entry per metric in objectives, got {metrics}")
            if self.objectives[0] != self.objective:
                raise ValueError(
                    "objective must be the first of objectives (or be left out); got "
                    f"{self.objective.metric!r} and {metrics}"
                )
        if self.constraints:
            metrics = [c.metric for c in self.constraints]
            if len(set(metrics)) != len(metrics):
                raise ValueError(f"one constraint per metric, got {metrics}")
        budget = self.budget.evaluations
        if budget is not None and self.batch_size > budget:
            raise ValueError(
                f"batch_size ({self.batch_size}) exceeds the evaluation budget ({budget})"
            )
        if size is not None and self.batch_size > size:
            raise ValueError(f"batch_size ({self.batch_size}) exceeds the space's size ({size})")
        self._check_cost_aware()
        build_strategy(self, self.search_space)  # raises ValueError naming the bad option
        return self

    def _check_cost_aware(self) -> None:
        """Refuse what the strategies cannot do with the constraints and objectives."""
        if self.multi_objective:
            if self.strategy.name != "bonas":
                raise ValueError(
                    f"a multi-objective search needs the 'bonas' strategy, not "
                    f"{self.strategy.name!r}"
                )
            if self.strategy.acquisition is not None:
                raise ValueError(
                    "a multi-objective search takes its acquisition in strategy.options "
                    "(acquisition: qlognehvi or qlognparego), not strategy.acquisition"
                )
            measured = [c.metric for c in self.constraints if c.metric not in self.analytic_metrics]
            if measured:
                raise ValueError(
                    f"a multi-objective search takes constraints on {list(ANALYTIC_METRICS)} of "
                    f"a table search only; {measured} would be measured (make them objectives)"
                )
            if set(self.analytic_metrics) >= {o.metric for o in self.objectives}:
                raise ValueError("at least one objective must be measured, not all analytic")

    @functools.cached_property
    def analytic_metrics(self) -> tuple[AnalyticMetric, ...]:
        """The spec's constrained or optimised metrics computed from the architecture: those
        of `ANALYTIC_METRICS` in a table search over a space the cost model prices (see
        `Constraint`), in order. Over a space it cannot price (an op it does not know), they
        are read from the table like any other column."""
        if not isinstance(self.evaluator, TableEvaluator):
            return ()
        named = {c.metric for c in self.constraints} | {o.metric for o in self.objectives}
        metrics = tuple(m for m in ANALYTIC_METRICS if m in named)
        if metrics:
            try:
                cost_of(self.search_space, self.search_space.sample(_probe_rng()))
            except SurrogateError:
                return ()
        return metrics

    @functools.cached_property
    def search_space(self) -> SearchSpace[Any]:
        """The spec's search space, built once per spec object (validation builds it first).

        A declared space is rebuilt from its declaration, which costs as much as validating
        it; keeping it here means one submission builds it once, and so does every later
        `from_stored` load of the same stored spec (that cache keeps the object).

        Raises:
            SurrogateError: The declaration is refused (only while validating).
        """
        return _space_of(self.space)

    # --- what the store keeps -----------------------------------------------------------------

    def stored(self) -> dict[str, Any]:
        """The JSON form stored with the search (`SearchSpec.from_stored` reads it back).

        The stored form is remembered with this spec, so that loading it in this process
        returns this object rather than validating it again.
        """
        stored = self.model_dump(mode="json")
        _LOADED.remember(_stored_key(stored), self)
        return stored

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> SearchSpec:
        """The validated spec of a stored search: validated by today's rules, once per process.

        Every part of the service that needs a stored search's spec (the controller's context,
        each proposal round, the API's and dashboard's views) loads it here. A stored spec is
        validated the first time it is seen (so one that today's rules refuse is refused
        again, and the caller retires its search) and the object is kept, with its built
        space, in a small cache keyed by the stored JSON; a spec submitted in this process is
        already there (`stored`).

        Raises:
            pydantic.ValidationError: Today's rules refuse the stored spec.
        """
        key = _stored_key(stored)
        spec = _LOADED.get(key)
        if spec is None:
            spec = cls.model_validate_json(key)
            _LOADED.remember(key, spec)
        return spec

    def space_description(self) -> dict[str, Any]:
        """The space's `describe()`, stored with the search and sent in every lease."""
        return self.search_space.describe()

    @property
    def all_objectives(self) -> tuple[Objective, ...]:
        """Every objective of the search: `objectives`, or `objective` alone."""
        return self.objectives or (self.objective,)

    @property
    def objective_metrics(self) -> tuple[str, ...]:
        """The metric of each objective, in order."""
        return tuple(o.metric for o in self.all_objectives)

    @property
    def multi_objective(self) -> bool:
        """Whether the search looks for a Pareto front (two or three objectives)."""
        return len(self.objectives) > 1

    def feasible(self, metrics: dict[str, Any]) -> bool:
        """Whether a result's metrics meet every constraint."""
        return all(c.satisfied_by(metrics) for c in self.constraints)


# --- stored specs -------------------------------------------------------------------------------

MAX_LOADED_SPECS = 256
"""Validated stored specs kept by `SearchSpec.from_stored` (one per active search suffices)."""


def _stored_key(stored: Mapping[str, Any]) -> str:
    """The canonical JSON text of a stored spec: the cache's key, and what is validated."""
    return json.dumps(stored, sort_keys=True, allow_nan=False)


class _LoadedSpecs:
    """A bounded, thread-safe map from stored JSON to its validated spec (least recent out)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._specs: OrderedDict[str, SearchSpec] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> SearchSpec | None:
        with self._lock:
            spec = self._specs.get(key)
            if spec is not None:
                self._specs.move_to_end(key)
            return spec

    def remember(self, key: str, spec: SearchSpec) -> None:
        with self._lock:
            self._specs[key] = spec
            self._specs.move_to_end(key)
            while len(self._specs) > self._size:
                self._specs.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._specs.clear()


_LOADED = _LoadedSpecs(MAX_LOADED_SPECS)


# --- builders -------------------------------------------------------------------------------------


def _probe_rng() -> Any:
    import numpy as np

    return np.random.default_rng(0)


def _space_of(space: str | JSONDict) -> SearchSpace[Any]:
    return get_space(space) if isinstance(space, str) else space_from_spec(space)


def build_space(spec: SearchSpec) -> SearchSpace[Any]:
    """The search space of `spec`: `SearchSpec.search_space`, built once per spec object."""
    return spec.search_space


def build_strategy(spec: SearchSpec, space: SearchSpace[Any]) -> Strategy[Any]:
    """A fresh strategy for `spec` over `space`, in its initial state.

    Raises:
        ValueError: An option or sampler is unknown or out of range (the message names it).
    """
    config = spec.strategy
    analytic = AnalyticCosts(space, spec.analytic_metrics) if spec.analytic_metrics else None
    constraints = (
        tuple(MetricConstraint(c.metric, min=c.min, max=c.max) for c in spec.constraints)
        if config.name == "bonas"
        else ()
    )
    known = {m: analytic.metric(m) for m in spec.analytic_metrics} if analytic else {}
    return surrogate_build_strategy(
        config.name,
        space,
        config.options,
        acquisition=config.acquisition,
        samplers=config.samplers,
        constraints=constraints,
        cost_of=analytic,
        objectives=tuple((o.metric, o.goal) for o in spec.objectives),
        known_objectives={m: f for m, f in known.items() if m in spec.objective_metrics},
    )


class AnalyticCosts:
    """`cost_of(space, arch)` restricted to the metrics a spec treats as analytic: the cost
    function the strategy's constraints filter by (a metric it does not return is modelled).

    Args:
        space: The spec's space.
        metrics: Which of `ANALYTIC_METRICS` to return.
    """

    def __init__(self, space: SearchSpace[Any], metrics: tuple[str, ...]) -> None:
        self.space = space
        self.metrics = metrics

    def __call__(self, arch: Any) -> dict[str, float]:
        costs = cost_of(self.space, arch)
        return {m: float(costs[m]) for m in self.metrics}

    def metric(self, name: str) -> Any:
        """One metric as a function of the architecture (an exact objective)."""
        return functools.partial(_one_cost, self.space, name)


def _one_cost(space: SearchSpace[Any], name: str, arch: Any) -> float:
    return float(cost_of(space, arch)[name])


def build_evaluator_spec(
    spec: SearchSpec,
) -> TableEvaluatorSpec | WeightSharingEvaluatorSpec | StandaloneEvaluatorSpec:
    """The evaluator spec that every lease of the search carries to the worker."""
    evaluator = spec.evaluator
    if isinstance(evaluator, TableEvaluator):
        return TableEvaluatorSpec(
            path=evaluator.path,
            objective_column=spec.objective.metric,
            metric_columns=_metric_columns(evaluator),
            arch_column=evaluator.arch_column,
            arch_format=evaluator.arch_format,
            ops_column=evaluator.ops_column,
            fidelity=batch_fidelity(spec),
            extra_tables=evaluator.extra_tables,
            analytic_metrics=spec.analytic_metrics,
        )
    kind = (
        WeightSharingEvaluatorSpec
        if isinstance(evaluator, WeightSharingEvaluator)
        else StandaloneEvaluatorSpec
    )
    return kind(
        dataset=evaluator.dataset,
        train=evaluator.train,
        objective_metric=spec.objective.metric,
        fidelity=batch_fidelity(spec),
    )


def _metric_columns(evaluator: TableEvaluator) -> tuple[str, ...]:
    """The columns a worker reports: `report_columns` and the extra tables' `columns` (empty,
    every numeric column of the joined table, when `report_columns` is)."""
    if not evaluator.report_columns:
        return ()
    joined = (c for extra in evaluator.extra_tables for c in extra.columns)
    return tuple(dict.fromkeys((*evaluator.report_columns, *joined)))


def batch_fidelity(spec: SearchSpec) -> str:
    """The fidelity label of the search's batches and results."""
    evaluator = spec.evaluator
    if evaluator.fidelity is not None:
        return evaluator.fidelity
    if isinstance(evaluator, TableEvaluator):
        return spec.objective.metric
    return "supernet" if isinstance(evaluator, WeightSharingEvaluator) else "standalone"


def batch_seed(spec: SearchSpec, batch_id: int) -> int:
    """The evaluation seed of one batch: distinct per batch, reproducible from the search seed."""
    return (spec.seed * 1_000_003 + batch_id) % SEED_LIMIT


__all__ = [
    "ACQUISITION_NAMES",
    "ANALYTIC_METRICS",
    "STRATEGY_NAMES",
    "AnalyticCosts",
    "Budget",
    "Constraint",
    "EvaluatorConfig",
    "Objective",
    "SearchSpec",
    "StandaloneEvaluator",
    "StrategyConfig",
    "TableEvaluator",
    "WeightSharingEvaluator",
    "batch_fidelity",
    "batch_seed",
    "build_evaluator_spec",
    "build_space",
    "build_strategy",
]
