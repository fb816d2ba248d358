"""``/api/v1/workers``: the controller's side of the worker protocol, and the workers list.

The request and response models, paths and error reasons are `protocol`'s; the rules
(name allocation, lease scoping, report checks, events) are `service.usecases.workers`'s. Each
route reads the time from the app's clock, calls one use case in its request's transaction, and
returns the answer; a report or release that the controller must act on is committed first and
then wakes the controller.

The workers list shows each worker's current batch only to those who may see it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

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
from service.api.deps import ClockDep, ReadSessionDep, SessionDep, WakeDep
from service.api.params import BatchId, Limit, Offset, WorkerId
from service.auth import PrincipalDep, SettingsDep, WorkerDep
from service.schemas import ErrorResponse, Page, WorkerOut
from service.usecases import workers as usecases

router = APIRouter(prefix="/workers", tags=["workers"])

PROTOCOL_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown worker or batch."},
    409: {"model": ErrorResponse, "description": "The lease is not (or no longer) the caller's."},
}


@router.post("/register", summary="Register a worker", responses=PROTOCOL_ERRORS)
def register(
    body: RegisterRequest,
    principal: WorkerDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> RegisterResponse:
    """Register (or re-register) a worker daemon; the answer says how to lease and heartbeat."""
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
    session: ReadSessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[WorkerOut]:
    """Workers, most recently seen first, with the batch each holds and a stale flag."""
    return usecases.list_workers(
        session,
        clock(),
        principal,
        stale_seconds=settings.stale_seconds,
        limit=limit,
        offset=offset,
    )


@router.post("/{worker_id}/lease", summary="Lease a batch", responses=PROTOCOL_ERRORS)
def lease(
    worker_id: WorkerId,
    body: LeaseRequest,
    principal: WorkerDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> LeaseResponse:
    """The oldest queued batch of a running search that this worker can evaluate, or the lease
    the worker already holds."""
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
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> HeartbeatResponse:
    """``ok`` (extended), ``cancel`` (the search was cancelled) or ``lease_lost`` and why."""
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
    session: SessionDep,
    clock: ClockDep,
    wake: WakeDep,
) -> ReportResponse:
    """Store the results of every member under the lease; idempotent for a retried report."""
    outcome = usecases.record_report(session, clock(), principal, worker_id, batch_id, body)
    session.commit()  # the controller must find the results committed
    if outcome.wake is not None:
        wake(outcome.wake)
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
    session: SessionDep,
    clock: ClockDep,
    wake: WakeDep,
) -> ReleaseResponse:
    """Give a leased batch back unreported: re-queued, or failed once out of attempts."""
    outcome = usecases.release_batch(session, clock(), principal, worker_id, batch_id, body)
    session.commit()
    if outcome.wake is not None:
        wake(outcome.wake)
    return outcome.response
