"""The controller's side of the worker protocol: register, lease, heartbeat, report, release.

The request and response models, error reasons and paths are `protocol`'s; these
functions map them onto the store's lease queue (`service.store.BatchRepository`):

* register: one worker row per name. A second live daemon under a name already taken (two
  CPU daemons on one host both default to ``<host>-cpu``) gets the name suffixed with its
  instance id, so two processes never share a worker id and with it a lease. A registration
  retried with the same ``instance_id`` returns the same worker.
* lease: idempotent per worker (the store returns the lease the worker holds, with the time
  left on it, and says whether it granted a new one: only a new lease is an event).
* heartbeat: ``ok`` with the new expiry, ``cancel`` when the search was cancelled,
  ``lease_lost`` with the reason otherwise (never an error status for a lost lease).
* report: stored whole or not at all; a retry of a stored report (same lease, attempt and
  results) answers ``duplicate``; a different report for a reported lease, or any report on an
  expired, re-leased or cancelled lease, is refused with 409 and the reason.
* release: shutdown and error put the batch back in the queue (or fail it when its attempts are
  used up); a release that acknowledges a cancelled batch answers ``requeued: false``.

A worker may only act under the token it registered with (admins may act for any worker).

Scoping (`service.store.repositories.pools`): a worker token serves its owner name and the users
an admin granted that name to as a pool. It leases only those users' batches; a heartbeat, report
or release on any other batch is answered exactly as for a batch that does not exist (404
``unknown_batch``, or ``lease_lost`` for a heartbeat), so nothing about other users' work leaks.
An admin token serves everyone. A report is checked against its batch: keys, fidelity, finite
metrics and timings, and an objective within the search's declared ``objective.range``.

Every function takes the caller's session (the caller commits) and ``now``; none reads a clock.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from protocol import (
    PROTOCOL_VERSION,
    BatchMember,
    ErrorReason,
    HeartbeatRequest,
    HeartbeatResponse,
    HeartbeatStatus,
    Lease,
    LeaseRequest,
    MemberReport,
    RegisterRequest,
    ReleaseReason,
    ReleaseRequest,
    ReleaseResponse,
    ReportRequest,
    ReportResponse,
)
from service.auth import Principal
from service.errors import ApiError, lease_reason
from service.events import BatchLeased, BatchReleased, BatchReported
from service.exceptions import LeaseRejectedError, LeaseRejection, NotFoundError
from service.schemas import BatchOut, Page, WorkerOut
from service.search_spec import Objective, batch_seed, build_evaluator_spec
from service.settings import Settings
from service.states import BatchState
from service.store import (
    ArchitectureRepository,
    BatchRecord,
    BatchRepository,
    EvaluationInput,
    EventRepository,
    SearchRepository,
    WorkerRecord,
    WorkerRepository,
)
from service.store import Lease as StoredLease
from service.usecases.summary import batch_visible, spec_of

logger = logging.getLogger(__name__)

INSTANCE_KEY = "instance_id"
"""Where a worker's current instance id is kept in its stored capabilities."""
SUFFIX_CHARS = 8

ResponseT = TypeVar("ResponseT")


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """What `lease_batch` hands out.

    Attributes:
        lease: The lease in the protocol's form.
        new: True when this call granted it; False when it is the lease the worker already held
            (the store says which; only a new lease appends ``batch.leased``).
    """

    lease: Lease
    new: bool


@dataclass(frozen=True, slots=True)
class Outcome(Generic[ResponseT]):
    """A use case's answer and the search whose controller should be woken once it commits.

    Attributes:
        response: The protocol answer.
        wake: The search id to notify after the commit; None when nothing changed for it.
    """

    response: ResponseT
    wake: int | None


def register_worker(
    session: Session,
    now: datetime,
    principal: Principal,
    settings: Settings,
    body: RegisterRequest,
) -> WorkerRecord:
    """Register (or re-register) a worker daemon under a name no other live daemon holds.

    Raises:
        ApiError: 409 ``protocol_mismatch`` when the worker speaks another protocol version.
    """
    if body.protocol_version != PROTOCOL_VERSION:
        raise ApiError(
            409,
            ErrorReason.PROTOCOL_MISMATCH.value,
            f"this controller speaks worker protocol {PROTOCOL_VERSION}, "
            f"the worker speaks {body.protocol_version}; install matching bonas versions",
        )
    capabilities = {
        **body.capabilities.model_dump(mode="json"),
        INSTANCE_KEY: body.instance_id,
        "protocol_version": body.protocol_version,
    }
    repository = WorkerRepository(session)
    name = _free_name(repository, body.name, body.instance_id, now, settings.stale_seconds)
    worker = repository.register(
        name, capabilities=capabilities, now=now, token_hash=principal.token_hash
    )
    logger.info("worker %s registered as %d (%s)", name, worker.id, body.capabilities.device)
    return worker


def lease_batch(
    session: Session,
    now: datetime,
    principal: Principal,
    settings: Settings,
    worker_id: int,
    body: LeaseRequest,
) -> LeaseGrant | None:
    """The oldest queued batch this worker may evaluate, or the lease it already holds; None
    when nothing is waiting. A new lease appends ``batch.leased``."""
    check_worker(session, worker_id, principal)
    kinds = None if body.evaluators is None else [kind.value for kind in body.evaluators]
    granted = BatchRepository(session).grant_next(
        worker_id,
        lease_seconds=settings.lease_seconds,
        now=now,
        evaluators=kinds,
        serving=None if principal.is_admin else principal.owner,
    )
    if granted is None:
        return None
    held, new = granted
    lease = _protocol_lease(session, held, now, settings.heartbeat_seconds)
    if new:
        EventRepository(session).append_payload(
            BatchLeased(batch_id=held.batch_id, worker_id=worker_id, attempt=held.attempt),
            now=now,
            search_id=held.search_id,
        )
    return LeaseGrant(lease=lease, new=new)


def heartbeat(
    session: Session,
    now: datetime,
    principal: Principal,
    settings: Settings,
    worker_id: int,
    batch_id: int,
    body: HeartbeatRequest,
) -> HeartbeatResponse:
    """Extend a lease: ``ok`` (extended), ``cancel`` (search cancelled) or ``lease_lost`` and
    why; a batch the caller does not serve is lost as ``unknown_batch``."""
    check_worker(session, worker_id, principal)
    progress = None if body.progress is None else body.progress.model_dump(mode="json")
    try:
        served_batch(session, principal, batch_id)
        result = BatchRepository(session).heartbeat(
            batch_id,
            body.lease_token,
            body.attempt,
            lease_seconds=settings.lease_seconds,
            now=now,
            progress=progress,
        )
    except NotFoundError:
        return HeartbeatResponse(
            status=HeartbeatStatus.LEASE_LOST, reason=ErrorReason.UNKNOWN_BATCH
        )
    if result.held:
        assert result.expires_at is not None
        return HeartbeatResponse(
            status=HeartbeatStatus.OK,
            lease_expires_at=result.expires_at,
            lease_seconds=max((result.expires_at - now).total_seconds(), 1e-3),
        )
    if result.cancel:
        return HeartbeatResponse(status=HeartbeatStatus.CANCEL)
    reason = LeaseRejection(result.reason) if result.reason else LeaseRejection.NOT_HELD
    return HeartbeatResponse(status=HeartbeatStatus.LEASE_LOST, reason=lease_reason(reason))


def record_report(
    session: Session,
    now: datetime,
    principal: Principal,
    worker_id: int,
    batch_id: int,
    body: ReportRequest,
) -> Outcome[ReportResponse]:
    """Store the results of every member under the lease and append ``batch.reported``; a retry
    of the stored report answers ``duplicate`` and changes nothing.

    Raises:
        ApiError: 422 for a report that does not match its batch, 409 for a lease that is not
            (or no longer) the caller's.
        NotFoundError: No such batch, or one the caller does not serve.
    """
    check_worker(session, worker_id, principal)
    batch = served_batch(session, principal, batch_id)
    objective = spec_of(SearchRepository(session).get(batch.search_id)).objective
    inputs = evaluation_inputs(session, batch, body.members, now, objective)
    try:
        # A retry of the stored report is recognised under the batch's row lock, so two
        # concurrent copies of one report both answer ``duplicate``.
        outcome = BatchRepository(session).report(
            batch_id, body.lease_token, body.attempt, inputs, now=now, report_id=body.report_id
        )
    except LeaseRejectedError as refused:
        raise _lease_refusal(refused, batch, worker_id) from refused
    if outcome.duplicate:
        return Outcome(ReportResponse(stored=0, duplicate=True), wake=None)
    EventRepository(session).append_payload(
        BatchReported(
            batch_id=batch_id,
            worker_id=worker_id,
            attempt=body.attempt,
            stored=len(outcome.evaluations),
        ),
        now=now,
        search_id=batch.search_id,
    )
    return Outcome(ReportResponse(stored=len(outcome.evaluations)), wake=batch.search_id)


def release_batch(
    session: Session,
    now: datetime,
    principal: Principal,
    worker_id: int,
    batch_id: int,
    body: ReleaseRequest,
) -> Outcome[ReleaseResponse]:
    """Give a leased batch back unreported (re-queued, or failed once out of attempts) and
    append ``batch.released``; releasing a cancelled batch is acknowledged with no change.

    Raises:
        ApiError: 409 for a lease that is not (or no longer) the caller's.
        NotFoundError: No such batch, or one the caller does not serve.
    """
    check_worker(session, worker_id, principal)
    detail = body.reason.value + (f": {body.message}" if body.message else "")
    batch = served_batch(session, principal, batch_id)
    try:
        released = BatchRepository(session).release(
            batch_id,
            body.lease_token,
            body.attempt,
            now=now,
            reason=detail,
            graceful=body.reason is ReleaseReason.SHUTDOWN,
        )
    except LeaseRejectedError as refused:
        if refused.reason == LeaseRejection.CANCELLED:
            return Outcome(ReleaseResponse(requeued=False), wake=None)  # nothing left to do
        raise _lease_refusal(refused, batch, worker_id) from refused
    EventRepository(session).append_payload(
        BatchReleased(
            batch_id=batch_id,
            worker_id=worker_id,
            attempt=body.attempt,
            reason=detail,
            state=released.state.value,
        ),
        now=now,
        search_id=batch.search_id,
    )
    if body.reason is not ReleaseReason.SHUTDOWN:
        logger.info("batch %d released by worker %d: %s", batch_id, worker_id, detail)
    requeued = released.state == BatchState.QUEUED
    return Outcome(ReleaseResponse(requeued=requeued), wake=batch.search_id)


# --- the rules the use cases share -----------------------------------------------------------


def check_worker(session: Session, worker_id: int, principal: Principal) -> None:
    """Refuse a worker id registered under another token (admins may act for any worker)."""
    stored = WorkerRepository(session).token_hash(worker_id)
    if not principal.is_admin and stored is not None and stored != principal.token_hash:
        raise ApiError(
            403,
            ErrorReason.FORBIDDEN.value,
            f"worker {worker_id} was registered with another token",
        )


def served_batch(session: Session, principal: Principal, batch_id: int) -> BatchRecord:
    """The batch, if the caller's token serves its search.

    Raises:
        NotFoundError: No such batch, or one of a search the token does not serve (the same
            error, so that a worker cannot tell other users' batches from missing ones).
    """
    batch = BatchRepository(session).get(batch_id)
    if not batch_visible(session, principal, batch):
        raise NotFoundError("batch", batch_id)
    return batch


def evaluation_inputs(
    session: Session,
    batch: BatchRecord,
    members: tuple[MemberReport, ...],
    now: datetime,
    objective: Objective,
) -> list[EvaluationInput]:
    """The store's form of a report; refuses keys outside the batch, a wrong fidelity, numbers
    that are not finite and an objective outside the search's declared range."""
    views = ArchitectureRepository(session).views(batch.member_ids)
    ids = {view.architecture.key: view.architecture.id for view in views}
    unknown = sorted(m.key for m in members if m.key not in ids)
    if unknown:
        raise ApiError(
            422,
            ErrorReason.INVALID_REPORT.value,
            f"batch {batch.id} has no members {unknown}; its members are {sorted(ids)}",
        )
    wrong = sorted({m.fidelity for m in members} - {batch.fidelity})
    if wrong:
        raise ApiError(
            422,
            ErrorReason.INVALID_REPORT.value,
            f"batch {batch.id} is evaluated at fidelity {batch.fidelity!r}, "
            f"the report says {wrong}",
        )
    _check_numbers(batch, members, objective)
    inputs = []
    for member in members:
        metrics: dict[str, Any] = dict(member.metrics)
        if member.status == "failed":
            metrics["error"] = member.error
        inputs.append(
            EvaluationInput(
                architecture_id=ids[member.key],
                metrics=metrics,
                objective=member.objective if member.status == "ok" else None,
                evaluator=member.evaluator.value,
                wall_seconds=member.timings.get("total"),
                timings=dict(member.timings),
                finished_at=now,
            )
        )
    return inputs


def _free_name(
    repository: WorkerRepository, name: str, instance_id: str, now: datetime, stale_s: float
) -> str:
    """`name`, unless another live daemon holds it: then `name~<instance prefix>`."""
    suffixed = f"{name[: 200 - SUFFIX_CHARS - 1]}~{instance_id[:SUFFIX_CHARS]}"
    for candidate in (name, suffixed):
        existing = repository.get_by_name(candidate)
        if existing is None or existing.capabilities.get(INSTANCE_KEY) == instance_id:
            return candidate
        if (now - existing.last_seen_at).total_seconds() > stale_s:
            return candidate  # a restarted daemon takes over its silent predecessor's name
    return suffixed


def _protocol_lease(
    session: Session, held: StoredLease, now: datetime, heartbeat_s: float
) -> Lease:
    search = SearchRepository(session).get(held.search_id)
    try:
        spec = spec_of(search)
    except ValidationError:
        # A search stored by an older version whose spec the current rules refuse (say, an
        # absolute table path): the controller fails it at its next round. Until then no worker
        # gets it; the transaction rolls back, so the batch stays queued and no attempt is spent.
        raise ApiError(
            503,
            ErrorReason.BUSY.value,
            f"search {held.search_id} was stored with a spec this version refuses; "
            "the controller is retiring it, retry shortly",
            {"Retry-After": "5"},
        ) from None
    return Lease(
        batch_id=str(held.batch_id),
        attempt=held.attempt,
        lease_token=held.token,
        lease_expires_at=held.expires_at,
        lease_seconds=max((held.expires_at - now).total_seconds(), 1e-3),
        heartbeat_interval_s=heartbeat_s,
        search_id=str(held.search_id),
        space=search.space_spec,
        members=tuple(BatchMember(key=m.key, arch=m.arch) for m in held.members),
        evaluator=build_evaluator_spec(spec),
        seed=batch_seed(spec, held.batch_id),
    )


def _check_numbers(
    batch: BatchRecord, members: tuple[MemberReport, ...], objective: Objective
) -> None:
    """Refuse non-finite metrics or timings and an objective outside the declared range.

    The protocol models refuse NaN and infinite metrics already; this is the controller's own
    check of everything it stores, so that no report can make an impossible value a best.
    """
    problems = []
    for member in members:
        numbers = {**member.metrics, **{f"timings.{k}": v for k, v in member.timings.items()}}
        if member.objective is not None:
            numbers["objective"] = member.objective
        bad = sorted(name for name, value in numbers.items() if not math.isfinite(value))
        if bad:
            problems.append(f"{member.key}: not finite: {bad}")
        elif (
            member.status == "ok"
            and member.objective is not None
            and not objective.admits(member.objective)
        ):
            assert objective.range is not None
            problems.append(
                f"{member.key}: objective {member.objective!r} is outside the range "
                f"{list(objective.range)} declared for {objective.metric!r}"
            )
    if problems:
        raise ApiError(
            422,
            ErrorReason.INVALID_REPORT.value,
            f"batch {batch.id}: report refused; every metric, timing and objective must be a "
            f"finite number and the objective within its declared range: " + "; ".join(problems),
        )


def _lease_refusal(refused: LeaseRejectedError, batch: BatchRecord, worker_id: int) -> ApiError:
    held_by_another = batch.lease_worker_id not in (None, worker_id)
    reason = lease_reason(refused.reason, held_by_another=held_by_another)
    return ApiError(409, reason.value, str(refused))


# --- the workers list ---------------------------------------------------------------------------


def list_workers(
    session: Session,
    now: datetime,
    principal: Principal,
    *,
    stale_seconds: float,
    limit: int,
    offset: int,
) -> Page[WorkerOut]:
    """Workers, most recently seen first, each with a stale flag and the batch it holds.

    The current batch is shown only to those who may see it (its search's owner, a worker token
    serving that owner, an admin): the list never tells a user what others are running.
    """
    page = WorkerRepository(session).list(limit=limit, offset=offset)
    items = [_worker_out(session, principal, worker, now, stale_seconds) for worker in page.items]
    return Page[WorkerOut](items=items, total=page.total, limit=limit, offset=offset)


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
        if batch_visible(session, principal, batch):
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
