"""``/api/v1/workers``: the controller's side of the worker protocol, and the workers list.

The request and response models, paths and error reasons are `protocol`'s; the rules
(name allocation, lease scoping, report checks, events) are `service.usecases.workers`'s. Each
route reads the time from the app's clock, opens one transaction, calls one use case, wakes the
controller once the transaction has committed when the use case says so, and returns the answer.

The workers list shows each worker's current batch only to those who may see it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from protocol import (
    HeartbeatRequest,
    HeartbeatResponse,
    LeaseRequest,
    LeaseResponse,
    RegisterRequest,
    RegisterResponse,
    ReleaseRequest,
    ReleaseResponse,
    ReportRequest,
    ReportResponse,
)
from service.api.deps import ClockDep, notify
from service.api.params import BatchId, Limit, Offset, WorkerId
from service.auth import EngineDep, Principal, PrincipalDep, SettingsDep, WorkerDep
from service.schemas import BatchOut, ErrorResponse, Page, WorkerOut
from service.store import BatchRepository, WorkerRecord, WorkerRepository, session_scope
from service.usecases import workers as usecases
from service.usecases.summary import batch_visible

router = APIRouter(prefix="/workers", tags=["workers"])

PROTOCOL_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown worker or batch."},
    409: {"model": ErrorResponse, "description": "The lease is not (or no longer) the caller's."},
}


@router.post("/register", summary="Register a worker", responses=PROTOCOL_ERRORS)
def register(
    body: RegisterRequest,
    principal: WorkerDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> RegisterResponse:
    """Register (or re-register) a worker daemon; the answer says how to lease and heartbeat."""
    with session_scope(engine) as session:
        worker = usecases.register_worker(session, clock(), principal, settings, body)
    return RegisterResponse(
        worker_id=str(worker.id),
        lease_seconds=settings.lease_seconds,
        heartbeat_interval_s=settings.heartbeat_seconds,
        poll_interval_s=settings.poll_interval_s,
    )


@router.get("", summary="List workers")
def list_workers(
    principal: PrincipalDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[WorkerOut]:
    """Workers, most recently seen first, with the batch each holds and a stale flag."""
    now = clock()
    with session_scope(engine, read_only=True) as session:
        page = WorkerRepository(session).list(limit=limit, offset=offset)
        items = [
            _worker_out(session, principal, worker, now, settings.stale_seconds)
            for worker in page.items
        ]
    return Page[WorkerOut](items=items, total=page.total, limit=limit, offset=offset)


@router.post("/{worker_id}/lease", summary="Lease a batch", responses=PROTOCOL_ERRORS)
def lease(
    worker_id: WorkerId,
    body: LeaseRequest,
    principal: WorkerDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> LeaseResponse:
    """The oldest queued batch of a running search that this worker can evaluate, or the lease
    the worker already holds."""
    with session_scope(engine) as session:
        grant = usecases.lease_batch(session, clock(), principal, settings, worker_id, body)
    if grant is None:
        return LeaseResponse(lease=None, retry_after_s=settings.poll_interval_s)
    return LeaseResponse(lease=grant.lease)


@router.post(
    "/{worker_id}/batches/{batch_id}/heartbeat",
    summary="Extend a lease",
    responses=PROTOCOL_ERRORS,
)
def heartbeat(
    worker_id: WorkerId,
    batch_id: BatchId,
    body: HeartbeatRequest,
    principal: WorkerDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> HeartbeatResponse:
    """``ok`` (extended), ``cancel`` (the search was cancelled) or ``lease_lost`` and why."""
    with session_scope(engine) as session:
        return usecases.heartbeat(session, clock(), principal, settings, worker_id, batch_id, body)


@router.post(
    "/{worker_id}/batches/{batch_id}/report",
    summary="Report a batch's results",
    responses={
        **PROTOCOL_ERRORS,
        422: {"model": ErrorResponse, "description": "The members do not match the batch."},
    },
)
def report(
    worker_id: WorkerId,
    batch_id: BatchId,
    body: ReportRequest,
    principal: WorkerDep,
    engine: EngineDep,
    clock: ClockDep,
    request: Request,
) -> ReportResponse:
    """Store the results of every member under the lease; idempotent for a retried report."""
    with session_scope(engine) as session:
        outcome = usecases.record_report(session, clock(), principal, worker_id, batch_id, body)
    if outcome.wake is not None:
        notify(request, outcome.wake)
    return outcome.response


@router.post(
    "/{worker_id}/batches/{batch_id}/release",
    summary="Give a batch back",
    responses=PROTOCOL_ERRORS,
)
def release(
    worker_id: WorkerId,
    batch_id: BatchId,
    body: ReleaseRequest,
    principal: WorkerDep,
    engine: EngineDep,
    clock: ClockDep,
    request: Request,
) -> ReleaseResponse:
    """Give a leased batch back unreported: re-queued, or failed once out of attempts."""
    with session_scope(engine) as session:
        outcome = usecases.release_batch(session, clock(), principal, worker_id, batch_id, body)
    if outcome.wake is not None:
        notify(request, outcome.wake)
    return outcome.response


def _worker_out(
    session: Session,
    principal: Principal,
    worker: WorkerRecord,
    now: datetime,
    stale_seconds: float,
) -> WorkerOut:
    seen = max(0.0, (now - worker.last_seen_at).total_seconds())
    current = None
    if worker.current_batch_id is not None:
        batch = BatchRepository(session).get(worker.current_batch_id)
        if batch_visible(session, principal, batch):  # others' batches are not shown
            current = BatchOut.of(batch)
    return WorkerOut(
        id=worker.id,
        name=worker.name,
        capabilities=worker.capabilities,
        registered_at=worker.registered_at,
        last_seen_at=worker.last_seen_at,
        seen_seconds_ago=seen,
        stale=seen > stale_seconds,
        current_batch=current,
    )
