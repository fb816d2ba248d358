"""Frozen domain objects the store hands out; ORM rows never leave `service.store`.

JSON fields are deep copies of what the row held, so mutating them cannot reach the session.
All timestamps are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from service.states import IN_FLIGHT_BATCH_STATES as IN_FLIGHT_BATCH_STATES
from service.states import BatchState as BatchState
from service.states import Role as Role
from service.states import SearchState as SearchState

T = TypeVar("T")

DEFAULT_FIDELITY = "default"
"""The fidelity label used when a search evaluates every architecture the same way."""


SEARCH_TRANSITIONS: Mapping[SearchState, frozenset[SearchState]] = {
    SearchState.CREATED: frozenset(
        {SearchState.RUNNING, SearchState.CANCELLED, SearchState.FAILED}
    ),
    SearchState.RUNNING: frozenset(
        {SearchState.PAUSED, SearchState.COMPLETED, SearchState.CANCELLED, SearchState.FAILED}
    ),
    SearchState.PAUSED: frozenset(
        {SearchState.RUNNING, SearchState.COMPLETED, SearchState.CANCELLED, SearchState.FAILED}
    ),
    SearchState.COMPLETED: frozenset(),
    SearchState.CANCELLED: frozenset(),
    SearchState.FAILED: frozenset(),
}
"""Which state each search state may move to."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list plus the total count of matching rows."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class SearchRecord:
    """A search as stored."""

    id: int
    name: str
    owner: str
    state: SearchState
    spec: dict[str, Any]
    space_spec: dict[str, Any]
    budget_evaluations: int | None
    budget_wall_seconds: float | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    finished_reason: str | None
    paused_seconds: float = 0.0
    paused_at: datetime | None = None

    def running_seconds(self, now: datetime) -> float:
        """Seconds the search has run since it started, not counting its pauses."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at or now
        paused = self.paused_seconds
        if self.paused_at is not None:
            paused += max((end - self.paused_at).total_seconds(), 0.0)
        return max((end - self.started_at).total_seconds() - paused, 0.0)

    def wall_deadline(self) -> datetime | None:
        """When the wall-time budget runs out if the search keeps running (None: no budget,
        not started, or paused, when the clock does not run)."""
        if self.budget_wall_seconds is None or self.started_at is None:
            return None
        if self.paused_at is not None:
            return None
        return self.started_at + timedelta(seconds=self.budget_wall_seconds + self.paused_seconds)


@dataclass(frozen=True, slots=True)
class SearchCounts:
    """How much of a search has happened so far."""

    architectures: int
    evaluations: int
    batches: Mapping[BatchState, int]

    @property
    def batches_in_flight(self) -> int:
        """Batches queued or leased."""
        return sum(self.batches.get(state, 0) for state in IN_FLIGHT_BATCH_STATES)


@dataclass(frozen=True, slots=True)
class ProposalInfo:
    """What the proposer knew when it picked an architecture (all optional for random picks).

    Attributes:
        source: Who proposed it: ``"initial"``, ``"bo"``, a sampler name, ``"user"``.
        predicted_mean: Surrogate posterior mean of the objective at proposal time.
        predicted_std: Surrogate posterior standard deviation at proposal time.
        acquisition_value: The acquisition score that selected it.
        surrogate_version: Version of the surrogate snapshot that made the prediction.
        extra: Anything else worth keeping (JSON).
    """

    source: str
    predicted_mean: float | None = None
    predicted_std: float | None = None
    acquisition_value: float | None = None
    surrogate_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArchitectureInput:
    """An architecture to add to a search.

    Attributes:
        key: Canonical key from the search space (isomorphic architectures share it).
        arch: The architecture's JSON form (`SearchSpace.to_json`).
        proposal: What the proposer knew when it picked it.
    """

    key: str
    arch: dict[str, Any]
    proposal: ProposalInfo


@dataclass(frozen=True, slots=True)
class ArchitectureRecord:
    """An architecture of a search with the proposal info recorded when it was added."""

    id: int
    search_id: int
    key: str
    arch: dict[str, Any]
    proposal: ProposalInfo
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationInput:
    """A measured result as a worker reports it (the store adds fidelity, worker, batch, attempt).

    Attributes:
        architecture_id: Which architecture was measured.
        metrics: Metric name to value (JSON), e.g. ``{"val_acc": 0.91, "params": 1.2e6}``.
        objective: The scalar the search optimises, or None when the evaluation produced none.
        evaluator: Name of the evaluator that measured it.
        wall_seconds: Wall time of the evaluation.
        timings: Finer timings (JSON), e.g. ``{"train_s": 40.1, "eval_s": 2.3}``.
        started_at: When the evaluation started (aware UTC).
        finished_at: When it finished (aware UTC).
    """

    architecture_id: int
    metrics: dict[str, Any]
    objective: float | None
    evaluator: str
    wall_seconds: float | None = None
    timings: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """A stored result of one architecture at one fidelity."""

    id: int
    search_id: int
    architecture_id: int
    fidelity: str
    metrics: dict[str, Any]
    objective: float | None
    evaluator: str
    wall_seconds: float | None
    timings: dict[str, Any]
    started_at: datetime | None
    finished_at: datetime | None
    worker_id: int | None
    batch_id: int | None
    attempt: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArchitectureView:
    """An architecture with every result it has (listing and "best so far")."""

    architecture: ArchitectureRecord
    evaluations: tuple[EvaluationRecord, ...]

    def objective(self, fidelity: str | None = None) -> float | None:
        """The objective at `fidelity`, or at the last recorded fidelity when None."""
        chosen = [e for e in self.evaluations if fidelity is None or e.fidelity == fidelity]
        return chosen[-1].objective if chosen else None


@dataclass(frozen=True, slots=True)
class Observation:
    """A (architecture, result) pair: what the surrogate is refitted on."""

    architecture: ArchitectureRecord
    evaluation: EvaluationRecord


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A batch and its lease state (the lease token is not exposed here)."""

    id: int
    search_id: int
    state: BatchState
    fidelity: str
    member_ids: tuple[int, ...]
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
    report_id: str | None = None


@dataclass(frozen=True, slots=True)
class LeaseMember:
    """One architecture a leased batch asks the worker to evaluate."""

    architecture_id: int
    key: str
    arch: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on a batch; the (token, attempt) pair authenticates later calls.

    Attributes:
        batch_id: The leased batch.
        search_id: Its search.
        worker_id: The holder.
        token: Random secret of this lease; heartbeats, reports and releases must present it.
        attempt: 1 for the first lease of the batch, 2 after one expiry or release, ...
        expires_at: When the lease lapses without a heartbeat.
        fidelity: The fidelity at which to evaluate the members.
        members: The architectures to evaluate, in batch order.
    """

    batch_id: int
    search_id: int
    worker_id: int
    token: str
    attempt: int
    expires_at: datetime
    fidelity: str
    members: tuple[LeaseMember, ...]


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    """What a heartbeat learned: whether the lease still holds and whether to stop.

    Attributes:
        held: The lease is still the worker's and was extended.
        cancel: The batch or its search was cancelled; the worker should stop and drop the batch.
        expires_at: The new expiry when held.
        reason: Why the lease is not held, when it is not (a `LeaseRejection` value).
    """

    held: bool
    cancel: bool
    expires_at: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """The result of an accepted report: the finished batch and the stored evaluations.

    `duplicate` is True for a retry of the report that already completed the batch (same lease,
    attempt and report id): nothing was stored again and `evaluations` is empty.
    """

    batch: BatchRecord
    evaluations: tuple[EvaluationRecord, ...]
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ReapOutcome:
    """What the reaper did with one expired lease."""

    batch_id: int
    search_id: int
    state: BatchState
    reason: str


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A registered worker and the batch it currently holds, if any."""

    id: int
    name: str
    capabilities: dict[str, Any]
    registered_at: datetime
    last_seen_at: datetime
    current_batch_id: int | None
    has_token: bool


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """Metadata of a surrogate snapshot (without the model bytes)."""

    id: int
    search_id: int
    version: int
    n_observations: int
    fit_metrics: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A surrogate snapshot with its serialised model state."""

    info: SnapshotInfo
    model_state: bytes


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token as stored (never the secret itself)."""

    id: int
    prefix: str
    role: Role
    owner: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the token was revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One entry of the event log."""

    id: int
    search_id: int | None
    kind: str
    payload: dict[str, Any]
    created_at: datetime
