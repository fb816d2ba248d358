"""`SearchSpec`: what a user submits to start a search, checked before anything is stored.

A spec names a search space, how architectures are evaluated, what is optimised (and under which
constraints), the budget, the batching, the strategy and the seed. Validation builds the space and
the strategy once, so that a bad space declaration, an unknown sampler or a misspelt option is
refused at submission with a message that says which field is wrong and what is accepted, rather
than failing later inside the controller loop.

The builders turn a validated spec into the objects the controller and the lease need:

* `build_space(spec)`: the `SearchSpace`;
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

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol import (
    DataName,
    DatasetSpec,
    StandaloneEvaluatorSpec,
    TableEvaluatorSpec,
    WeightSharingEvaluatorSpec,
)
from surrogate.acquisition import ACQUISITION_NAMES, AcquisitionName
from surrogate.builder import STRATEGY_NAMES, StrategyName
from surrogate.builder import build_strategy as surrogate_build_strategy
from surrogate.exceptions import SurrogateError
from surrogate.spaces import BUILTIN_SPACE_NAMES, SearchSpace, get_space, space_from_spec
from surrogate.strategy import Strategy

MAX_BATCH_SIZE = 1000
MAX_BATCHES_IN_FLIGHT = 64
MAX_EVALUATIONS = 1_000_000
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
        arch_format: How that column is written (``string``, ``json``, ``key``, ``matrix_ops``).
        ops_column: Op-list column, for ``matrix_ops``.
        report_columns: Further columns stored with each result (empty: every numeric column).
        fidelity: Label of what the table measures (default: the objective column).
    """

    kind: Literal["table"] = "table"
    path: DataName
    arch_column: ColumnName = "arch_str"
    arch_format: Literal["string", "json", "key", "matrix_ops"] = "string"
    ops_column: ColumnName = "ops"
    report_columns: tuple[ColumnName, ...] = ()
    fidelity: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class _TrainingEvaluator(_Spec):
    """Fields of the evaluators that train.

    Attributes:
        dataset: The data (``digits`` needs no files; ``cifar10``, ``cifar100`` and
            ``imagefolder`` read files on the workers' machines).
        train: Trainer options (`workers.training.TrainOptions` fields, e.g. ``epochs``,
            ``warmup_epochs``, ``channels``, ``batch_size``), checked at submission as a
            worker will read them, so that a typo is refused before any batch is queued.
        fidelity: Label of what the numbers measure; give different training budgets
            different labels.
    """

    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    train: JSONDict = Field(default_factory=dict)
    fidelity: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @field_validator("train")
    @classmethod
    def _plain_options(cls, train: JSONDict) -> JSONDict:
        for name, value in train.items():
            if name in ("seed", "method"):
                raise ValueError(
                    f"train.{name} is set by the search (the seed from `seed`, the method from "
                    "the evaluator kind); remove it"
                )
            if value is not None and not isinstance(value, bool | int | float | str):
                raise ValueError(f"train.{name} must be a number, a string or a boolean")
        return train

    @model_validator(mode="after")
    def _options_a_worker_accepts(self) -> _TrainingEvaluator:
        # Imported here: the trainer (and torch's heavier modules) load only for such specs.
        from workers.training.exceptions import TrainingError
        from workers.training.options import TrainOptions

        method = getattr(self, "kind", "weight_sharing")
        try:
            TrainOptions.from_dict({**self.train, "method": method, "seed": 0})
        except (TrainingError, ValueError, TypeError) as error:
            raise ValueError(f"train: {error}") from None
        return self


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
    """A bound on a metric the evaluator reports (e.g. ``params`` or ``flops_M_cifar10``).

    An evaluated architecture that breaks a constraint is infeasible: it never becomes the best
    so far, and the strategy sees it as no better than the worst feasible result, so that it
    learns to stay away from that region.

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
        objective: The metric and whether to maximize or minimize it.
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
    constraints: tuple[Constraint, ...] = ()
    budget: Budget
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] = 10
    batches_in_flight: Annotated[int, Field(ge=1, le=MAX_BATCHES_IN_FLIGHT)] = 1
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    seed: Annotated[int, Field(ge=0, lt=SEED_LIMIT)] = 0

    @field_validator("space")
    @classmethod
    def _known_space(cls, space: str | JSONDict) -> str | JSONDict:
        if isinstance(space, str) and space not in BUILTIN_SPACE_NAMES:
            raise ValueError(
                f"unknown search space {space!r}; give a built-in name "
                f"({', '.join(BUILTIN_SPACE_NAMES)}) or a declaration mapping with a `type`"
            )
        try:
            _space_of(space)
        except SurrogateError as error:
            raise ValueError(f"bad search space: {error}") from error
        return space

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpec:
        if isinstance(self.evaluator, TableEvaluator) and self.evaluator.report_columns:
            reported = {*self.evaluator.report_columns, self.objective.metric}
            missing = [c.metric for c in self.constraints if c.metric not in reported]
            if missing:
                raise ValueError(
                    f"constraints on {missing} need those columns in evaluator.report_columns "
                    f"(now {list(self.evaluator.report_columns)})"
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
        size = build_space(self).size()
        if size is not None and self.batch_size > size:
            raise ValueError(f"batch_size ({self.batch_size}) exceeds the space's size ({size})")
        build_strategy(self, build_space(self))  # raises ValueError naming the bad option
        return self

    # --- what the store keeps -----------------------------------------------------------------

    def stored(self) -> dict[str, Any]:
        """The JSON form stored with the search (`SearchSpec.model_validate` reads it back)."""
        return self.model_dump(mode="json")

    def space_description(self) -> dict[str, Any]:
        """The space's `describe()`, stored with the search and sent in every lease."""
        return build_space(self).describe()

    def feasible(self, metrics: dict[str, Any]) -> bool:
        """Whether a result's metrics meet every constraint."""
        return all(c.satisfied_by(metrics) for c in self.constraints)


# --- builders -------------------------------------------------------------------------------------


def _space_of(space: str | JSONDict) -> SearchSpace[Any]:
    return get_space(space) if isinstance(space, str) else space_from_spec(space)


def build_space(spec: SearchSpec) -> SearchSpace[Any]:
    """The search space of `spec` (built-in spaces are shared instances)."""
    return _space_of(spec.space)


def build_strategy(spec: SearchSpec, space: SearchSpace[Any]) -> Strategy[Any]:
    """A fresh strategy for `spec` over `space`, in its initial state.

    Raises:
        ValueError: An option or sampler is unknown or out of range (the message names it).
    """
    config = spec.strategy
    return surrogate_build_strategy(
        config.name,
        space,
        config.options,
        acquisition=config.acquisition,
        samplers=config.samplers,
    )


def build_evaluator_spec(
    spec: SearchSpec,
) -> TableEvaluatorSpec | WeightSharingEvaluatorSpec | StandaloneEvaluatorSpec:
    """The evaluator spec that every lease of the search carries to the worker."""
    evaluator = spec.evaluator
    if isinstance(evaluator, TableEvaluator):
        return TableEvaluatorSpec(
            path=evaluator.path,
            objective_column=spec.objective.metric,
            metric_columns=evaluator.report_columns,
            arch_column=evaluator.arch_column,
            arch_format=evaluator.arch_format,
            ops_column=evaluator.ops_column,
            fidelity=batch_fidelity(spec),
        )
    kind = (
        WeightSharingEvaluatorSpec
        if isinstance(evaluator, WeightSharingEvaluator)
        else StandaloneEvaluatorSpec
    )
    return kind(
        dataset=evaluator.dataset,
        train=dict(evaluator.train),
        objective_metric=spec.objective.metric,
        fidelity=batch_fidelity(spec),
    )


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
    "STRATEGY_NAMES",
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
