"""Row -> domain conversions shared by the repositories (deep copies of every JSON field)."""

from __future__ import annotations

import copy
from typing import Any

from service.store.domain import (
    ArchitectureRecord,
    BatchRecord,
    BatchState,
    EvaluationRecord,
    EventRecord,
    ProposalInfo,
    Role,
    SearchRecord,
    SearchState,
    SnapshotInfo,
    TokenRecord,
    WorkerRecord,
)
from service.store.tables import (
    ApiTokenRow,
    ArchitectureRow,
    BatchRow,
    EvaluationRow,
    EventRow,
    SearchRow,
    SurrogateSnapshotRow,
    WorkerRow,
)


def _json(value: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(value)


def to_search(row: SearchRow) -> SearchRecord:
    """Freeze a search row."""
    return SearchRecord(
        id=row.id,
        name=row.name,
        owner=row.owner,
        state=SearchState(row.state),
        spec=_json(row.spec),
        space_spec=_json(row.space_spec),
        budget_evaluations=row.budget_evaluations,
        budget_wall_seconds=row.budget_wall_seconds,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        finished_reason=row.finished_reason,
        paused_seconds=float(row.paused_seconds or 0.0),
        paused_at=row.paused_at,
    )


def to_architecture(row: ArchitectureRow) -> ArchitectureRecord:
    """Freeze an architecture row."""
    return ArchitectureRecord(
        id=row.id,
        search_id=row.search_id,
        key=row.key,
        arch=_json(row.arch),
        proposal=ProposalInfo(
            source=row.source,
            predicted_mean=row.predicted_mean,
            predicted_std=row.predicted_std,
            acquisition_value=row.acquisition_value,
            surrogate_version=row.surrogate_version,
            extra=_json(row.proposal_info),
        ),
        created_at=row.created_at,
    )


def to_evaluation(row: EvaluationRow) -> EvaluationRecord:
    """Freeze an evaluation row."""
    return EvaluationRecord(
        id=row.id,
        search_id=row.search_id,
        architecture_id=row.architecture_id,
        fidelity=row.fidelity,
        metrics=_json(row.metrics),
        objective=row.objective,
        evaluator=row.evaluator,
        wall_seconds=row.wall_seconds,
        timings=_json(row.timings),
        started_at=row.started_at,
        finished_at=row.finished_at,
        worker_id=row.worker_id,
        batch_id=row.batch_id,
        attempt=row.attempt,
        created_at=row.created_at,
    )


def to_batch(row: BatchRow, member_ids: tuple[int, ...]) -> BatchRecord:
    """Freeze a batch row with its member architecture ids (in batch order)."""
    return BatchRecord(
        id=row.id,
        search_id=row.search_id,
        state=BatchState(row.state),
        fidelity=row.fidelity,
        member_ids=member_ids,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        lease_worker_id=row.lease_worker_id,
        lease_expires_at=row.lease_expires_at,
        heartbeat_at=row.heartbeat_at,
        progress=_json(row.progress),
        failure_reason=row.failure_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        report_id=row.report_id,
    )


def to_worker(row: WorkerRow, current_batch_id: int | None) -> WorkerRecord:
    """Freeze a worker row with the id of the batch it holds, if any."""
    return WorkerRecord(
        id=row.id,
        name=row.name,
        capabilities=_json(row.capabilities),
        registered_at=row.registered_at,
        last_seen_at=row.last_seen_at,
        current_batch_id=current_batch_id,
        has_token=row.token_hash is not None,
    )


def to_snapshot_info(row: SurrogateSnapshotRow) -> SnapshotInfo:
    """Freeze a snapshot row's metadata."""
    return SnapshotInfo(
        id=row.id,
        search_id=row.search_id,
        version=row.version,
        n_observations=row.n_observations,
        fit_metrics=_json(row.fit_metrics),
        created_at=row.created_at,
    )


def to_token(row: ApiTokenRow) -> TokenRecord:
    """Freeze a token row (the hash stays behind)."""
    return TokenRecord(
        id=row.id,
        prefix=row.prefix,
        role=Role(row.role),
        owner=row.owner,
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def to_event(row: EventRow) -> EventRecord:
    """Freeze an event row."""
    return EventRecord(
        id=row.id,
        search_id=row.search_id,
        kind=row.kind,
        payload=_json(row.payload),
        created_at=row.created_at,
    )


MAX_PAGE_SIZE = 1000


def check_page(limit: int, offset: int) -> None:
    """Refuse page bounds outside ``1 <= limit <= 1000`` and ``offset >= 0``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
