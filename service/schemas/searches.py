"""Response models of searches, their architectures, batches and progress."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from service.schemas.common import ApiModel
from service.states import BatchState, SearchState

if TYPE_CHECKING:  # the records only type `of`; importing the store at run time loads SQLAlchemy
    from service.store import ArchitectureView, BatchRecord, EvaluationRecord, ProposalInfo


class EvaluationOut(ApiModel):
    """A measured result of an architecture.

    Attributes:
        fidelity: What the numbers measure (``supernet``, ``standalone``, a table column).
        metrics: Everything measured; a member that failed carries its reason under ``error``.
        objective: The value the search optimises, or None when the evaluation failed.
        worker_id: The worker that measured it.
        batch_id: The batch it was measured in.
        attempt: The lease attempt that reported it.
    """

    id: int
    fidelity: str
    metrics: dict[str, Any]
    objective: float | None
    evaluator: str
    wall_seconds: float | None
    timings: dict[str, Any]
    worker_id: int | None
    batch_id: int | None
    attempt: int | None
    created_at: datetime

    @classmethod
    def of(cls, record: EvaluationRecord) -> EvaluationOut:
        return cls.model_validate(record)


class PredictionOut(ApiModel):
    """What the proposer knew when it picked an architecture.

    Attributes:
        source: ``initial``, ``bo``, a sampler's name, ``user``...
        mean: The surrogate's posterior mean of the objective.
        std: Its posterior standard deviation.
        acquisition_value: The acquisition score that selected the architecture.
        surrogate_version: Which surrogate snapshot made the prediction.
        extra: Anything else the proposer kept.
    """

    source: str
    mean: float | None
    std: float | None
    acquisition_value: float | None
    surrogate_version: int | None
    extra: dict[str, Any]

    @classmethod
    def of(cls, proposal: ProposalInfo) -> PredictionOut:
        return cls(
            source=proposal.source,
            mean=proposal.predicted_mean,
            std=proposal.predicted_std,
            acquisition_value=proposal.acquisition_value,
            surrogate_version=proposal.surrogate_version,
            extra=dict(proposal.extra),
        )


class ArchitectureOut(ApiModel):
    """An architecture of a search with its prediction and measured results.

    Attributes:
        key: The space's canonical key (isomorphic architectures share it).
        arch: The architecture's JSON form in its space.
        objective: The objective at the search's fidelity, once measured.
        feasible: Whether the result meets the search's constraints (None until measured).
        prediction: The surrogate's prediction when the architecture was proposed.
        evaluations: Every result, at every fidelity.
    """

    id: int
    search_id: int
    key: str
    arch: Any
    created_at: datetime
    objective: float | None
    feasible: bool | None
    prediction: PredictionOut
    evaluations: list[EvaluationOut]

    @classmethod
    def of(cls, view: ArchitectureView, *, fidelity: str, feasible: bool | None) -> ArchitectureOut:
        architecture = view.architecture
        return cls(
            id=architecture.id,
            search_id=architecture.search_id,
            key=architecture.key,
            arch=architecture.arch,
            created_at=architecture.created_at,
            objective=view.objective(fidelity),
            feasible=feasible,
            prediction=PredictionOut.of(architecture.proposal),
            evaluations=[EvaluationOut.of(e) for e in view.evaluations],
        )


class CountsOut(ApiModel):
    """Where a search stands, in architectures.

    Attributes:
        architectures: Architectures proposed so far.
        done: Architectures with a stored result.
        in_flight: Architectures in batches a worker holds.
        queued: Architectures in batches waiting for a worker.
        failed: Architectures in batches that failed for good.
        batches: Batches per state.
    """

    architectures: int = Field(ge=0)
    done: int = Field(ge=0)
    in_flight: int = Field(ge=0)
    queued: int = Field(ge=0)
    failed: int = Field(ge=0)
    batches: dict[BatchState, int]


class BudgetOut(ApiModel):
    """The budget of a search and how much of it is used.

    Attributes:
        evaluations: Evaluations allowed, if limited.
        wall_seconds: Seconds of running allowed (pauses do not count), if limited.
        evaluations_used: Stored results so far.
        wall_seconds_used: Seconds the search has run, pauses not counted (until it finished),
            if it started.
        fraction_used: The larger used fraction of the two limits, between 0 and 1.
    """

    evaluations: int | None
    wall_seconds: float | None
    evaluations_used: int = Field(ge=0)
    wall_seconds_used: float | None
    fraction_used: float = Field(ge=0, le=1)


class SearchOut(ApiModel):
    """A search with its progress.

    Attributes:
        spec: The submitted `SearchSpec`, with defaults filled in.
        space: The search space's description (`SearchSpace.describe()`).
        objective: The optimised metric.
        maximize: Whether larger objectives are better.
        fidelity: The fidelity label the search's results are stored under.
        finished_reason: Why a finished search stopped (budget reached, cancelled by ...).
        best: The best feasible architecture so far, if any result is in.
    """

    id: int
    name: str
    owner: str
    state: SearchState
    spec: dict[str, Any]
    space: dict[str, Any]
    objective: str
    maximize: bool
    fidelity: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    finished_reason: str | None
    counts: CountsOut
    budget: BudgetOut
    best: ArchitectureOut | None


class BatchOut(ApiModel):
    """A batch and its lease.

    Attributes:
        architecture_ids: Its members, in batch order.
        attempts: Leases used so far.
        lease_worker_id: The worker holding (or last holding) it.
        progress: The worker's last reported progress (phase, epoch, step, loss...).
        failure_reason: Why the last lease ended without a report, or why the batch failed.
    """

    id: int
    search_id: int
    state: BatchState
    fidelity: str
    architecture_ids: list[int]
    attempts: int
    max_attempts: int
    lease_worker_id: int | None
    lease_expires_at: datetime | None
    heartbeat_at: datetime | None
    progress: dict[str, Any]
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, record: BatchRecord) -> BatchOut:
        return cls(
            id=record.id,
            search_id=record.search_id,
            state=record.state,
            fidelity=record.fidelity,
            architecture_ids=list(record.member_ids),
            attempts=record.attempts,
            max_attempts=record.max_attempts,
            lease_worker_id=record.lease_worker_id,
            lease_expires_at=record.lease_expires_at,
            heartbeat_at=record.heartbeat_at,
            progress=dict(record.progress),
            failure_reason=record.failure_reason,
            created_at=record.created_at,
            updated_at=record.updated_at,
            finished_at=record.finished_at,
        )


class GenotypeOut(ApiModel):
    """The best architecture as a portable genotype (``format=json`` of the export).

    Attributes:
        search_id: The search it came from.
        space: The space's description; `surrogate.spaces.space_from_spec` rebuilds the space.
        key: The canonical key.
        arch: The architecture's JSON form (`SearchSpace.from_json` reads it).
        objective: Its objective.
        metrics: Everything measured at the search's fidelity.
    """

    search_id: int
    space: dict[str, Any]
    key: str
    arch: Any
    objective: float | None
    objective_metric: str
    fidelity: str
    metrics: dict[str, Any]
