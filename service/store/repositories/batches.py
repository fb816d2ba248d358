"""Batches and the lease queue that hands them to workers.

A batch is ``queued`` until a worker leases it; the lease carries a random token and the attempt
number (1 for the first lease, 2 after one expiry or release, ...). The worker must present
(batch id, token, attempt) on heartbeats, reports, releases and failures. A lease lapses at
``lease_expires_at`` unless heartbeats extend it; `BatchRepository.requeue_expired` (the reaper)
puts lapsed batches back in the queue until they have used ``max_attempts`` leases, then marks them
failed.

Claiming is atomic. On PostgreSQL the oldest queued batch is locked with
``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers each skip rows another is claiming
instead of waiting on them. On SQLite every writing transaction starts with ``BEGIN IMMEDIATE`` (see
`service.store.engine`), so claims are serialised by the database write lock.

Row locks are ``FOR NO KEY UPDATE``: they exclude other writers of the row but not the key-share
locks that foreign-key checks take, so inserting an evaluation that refers to a locked batch, worker
or search does not wait (and cannot deadlock) on the lock holder.

Scoping: `lease_next` takes the name the worker's token serves (``serving``) and leases only
batches of searches of owners it serves (see `service.store.repositories.pools`).

Outages do not burn attempts. A worker that could not reach the controller for a while keeps its
batch if nobody else took it: a heartbeat or report that comes after the lease's expiry, under the
same token and attempt, on a batch that was not leased again, not finished and whose search is
running, is accepted (the heartbeat revives the lease), whether or not the reaper re-queued it
meanwhile. And time the controller itself could not work is not charged to leases:
`resume_leases` (at controller start) gives every lease at least one full lease length from
now, and `requeue_expired` with ``previous_sweep`` first extends leases by the gap when the
previous successful sweep is older than the lease length (the database was unreachable). A dead
worker's batch is still re-queued one lease length later; a late report after the batch was
leased again is still refused (stale attempt), so no result is counted twice.

Time: every method takes ``now`` (aware UTC) from the caller; the store never reads the database
clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service.exceptions import (
    InvalidReportError,
    LeaseRejectedError,
    LeaseRejection,
    NotFoundError,
)
from service.states import DEFAULT_MAX_ATTEMPTS
from service.store.domain import (
    DEFAULT_FIDELITY,
    IN_FLIGHT_BATCH_STATES,
    BatchRecord,
    BatchState,
    EvaluationInput,
    HeartbeatResult,
    Lease,
    LeaseMember,
    ReapOutcome,
    ReportOutcome,
    SearchState,
)
from service.store.errors import boundary
from service.store.repositories.convert import to_batch
from service.store.repositories.evaluations import insert_evaluation
from service.store.repositories.pools import served_owners_clause
from service.store.tables import ArchitectureRow, BatchMemberRow, BatchRow, SearchRow, WorkerRow
from service.store.types import as_utc

RowT = TypeVar("RowT", WorkerRow, BatchRow)


class BatchRepository:
    """Batches and their leases, inside the caller's session (never commits)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # -- creation and reads -------------------------------------------------------------------

    @boundary
    def create(
        self,
        search_id: int,
        architecture_ids: Sequence[int],
        *,
        now: datetime,
        fidelity: str = DEFAULT_FIDELITY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> BatchRecord:
        """Queue a batch of architectures of one search.

        Raises:
            ValueError: The batch is empty, repeats an architecture, or `max_attempts` < 1.
            NotFoundError: No such search, or an architecture is not in it.
        """
        now = as_utc(now)
        if not architecture_ids:
            raise ValueError("a batch needs at least one architecture")
        if len(set(architecture_ids)) != len(architecture_ids):
            raise ValueError(f"a batch repeats an architecture: {list(architecture_ids)}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if self._session.get(SearchRow, search_id) is None:
            raise NotFoundError("search", search_id)
        found = set(
            self._session.scalars(
                select(ArchitectureRow.id).where(
                    ArchitectureRow.id.in_(architecture_ids),
                    ArchitectureRow.search_id == search_id,
                )
            )
        )
        missing = [i for i in architecture_ids if i not in found]
        if missing:
            raise NotFoundError(f"architecture of search {search_id}", missing[0])
        row = BatchRow(
            search_id=search_id,
            state=BatchState.QUEUED.value,
            fidelity=fidelity,
            attempts=0,
            max_attempts=max_attempts,
            progress={},
            created_at=now,
            updated_at=now,
        )
        self._session.add(row)
        self._session.flush()
        self._session.add_all(
            BatchMemberRow(batch_id=row.id, architecture_id=arch_id, position=position)
            for position, arch_id in enumerate(architecture_ids)
        )
        self._session.flush()
        return to_batch(row, tuple(architecture_ids))

    @boundary
    def get(self, batch_id: int) -> BatchRecord:
        """The batch with id `batch_id`.

        Raises:
            NotFoundError: No such batch.
        """
        row = self._session.get(BatchRow, batch_id)
        if row is None:
            raise NotFoundError("batch", batch_id)
        return to_batch(row, self._member_ids(batch_id))

    @boundary
    def list(
        self, search_id: int, *, states: Collection[BatchState] | None = None
    ) -> tuple[BatchRecord, ...]:
        """The batches of a search, oldest first, optionally in some states."""
        query = select(BatchRow).where(BatchRow.search_id == search_id)
        if states is not None:
            query = query.where(BatchRow.state.in_([s.value for s in states]))
        rows = self._session.scalars(query.order_by(BatchRow.id)).all()
        return tuple(to_batch(row, self._member_ids(row.id)) for row in rows)

    @boundary
    def in_flight_architecture_ids(self, search_id: int) -> tuple[int, ...]:
        """Architectures in queued or leased batches: the proposer's pending points."""
        return tuple(
            self._session.scalars(
                select(BatchMemberRow.architecture_id)
                .join(BatchRow, BatchRow.id == BatchMemberRow.batch_id)
                .where(
                    BatchRow.search_id == search_id,
                    BatchRow.state.in_([s.value for s in IN_FLIGHT_BATCH_STATES]),
                )
                .order_by(BatchRow.id, BatchMemberRow.position)
            )
        )

    # -- the lease protocol -------------------------------------------------------------------

    @boundary
    def lease_next(
        self,
        worker_id: int,
        *,
        lease_seconds: float,
        now: datetime,
        evaluators: Collection[str] | None = None,
        serving: str | None = None,
    ) -> Lease | None:
        """`grant_next` without saying whether the lease is new."""
        granted = self.grant_next(
            worker_id,
            lease_seconds=lease_seconds,
            now=now,
            evaluators=evaluators,
            serving=serving,
        )
        return None if granted is None else granted[0]

    def grant_next(
        self,
        worker_id: int,
        *,
        lease_seconds: float,
        now: datetime,
        evaluators: Collection[str] | None = None,
        serving: str | None = None,
    ) -> tuple[Lease, bool] | None:
        """Lease the oldest queued batch of a running search to a worker.

        Idempotent per worker: a worker that already holds a live lease gets that same lease back
        (same token and attempt, expiry unchanged) instead of a second batch.

        With `evaluators`, only batches of searches whose evaluator kind is one of them (or
        that name none) are leased: a worker that cannot train never holds a training batch,
        and the batch waits, in order, for one that can.

        With `serving` (the owner name of the worker's token), only batches of searches whose
        owner that name serves (the name itself, or an owner granted to it as a pool) are leased;
        None serves every owner (admin tokens, and the store's own callers).

        Returns:
            ``(lease, new)``: `new` is True when this call granted the lease and False when it
            is the one the worker already held; None when no batch is waiting.

        Raises:
            NotFoundError: No such worker.
            ValueError: `lease_seconds` is not positive.
        """
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        now = as_utc(now)
        worker = self._locked(WorkerRow, worker_id, "worker")  # serialises calls per worker
        worker.last_seen_at = now
        held = self._session.scalars(
            select(BatchRow)
            .where(
                BatchRow.lease_worker_id == worker_id,
                BatchRow.state == BatchState.LEASED.value,
                BatchRow.lease_expires_at > now,
            )
            .order_by(BatchRow.id)
            .limit(1)
        ).first()
        if held is not None:  # leased under the scoping of its time; it runs to its end
            return self._lease(held), False
        row = self._session.scalars(
            select(BatchRow)
            .join(SearchRow, SearchRow.id == BatchRow.search_id)
            .where(
                BatchRow.state == BatchState.QUEUED.value,
                SearchRow.state == SearchState.RUNNING.value,
                *(() if serving is None else (served_owners_clause(serving),)),
                *(
                    ()
                    if evaluators is None
                    else (
                        or_(
                            SearchRow.evaluator_kind.is_(None),
                            SearchRow.evaluator_kind.in_(sorted(set(evaluators))),
                        ),
                    )
                ),
            )
            .order_by(BatchRow.id)
            .limit(1)
            .with_for_update(skip_locked=True, key_share=True, of=BatchRow)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            self._session.flush()
            return None
        row.state = BatchState.LEASED.value
        row.attempts += 1
        row.lease_worker_id = worker_id
        row.lease_token = secrets.token_urlsafe(24)
        row.lease_expires_at = now + timedelta(seconds=lease_seconds)
        row.heartbeat_at = now
        row.updated_at = now
        self._session.flush()
        return self._lease(row), True

    @boundary
    def heartbeat(
        self,
        batch_id: int,
        token: str,
        attempt: int,
        *,
        lease_seconds: float,
        now: datetime,
        progress: dict[str, Any] | None = None,
    ) -> HeartbeatResult:
        """Extend a live lease to ``now + lease_seconds`` and record the worker's progress.

        Never raises for a lost lease: the result says whether the lease still holds, why not,
        and whether the worker should stop because the batch or its search was cancelled.

        Raises:
            NotFoundError: No such batch.
        """
        now = as_utc(now)
        row = self._locked(BatchRow, batch_id, "batch")
        search_state = self._session.scalar(
            select(SearchRow.state).where(SearchRow.id == row.search_id)
        )
        rejection = _check_lease(
            row, token, attempt, now, revivable=search_state == SearchState.RUNNING.value
        )
        cancelled = search_state == SearchState.CANCELLED.value
        if rejection is None and cancelled:
            rejection = (LeaseRejection.CANCELLED, "the search was cancelled")
        if rejection is not None:
            reason, _ = rejection
            return HeartbeatResult(
                held=False,
                cancel=reason == LeaseRejection.CANCELLED,
                expires_at=None,
                reason=reason.value,
            )
        _revive(row)
        row.lease_expires_at = now + timedelta(seconds=lease_seconds)
        row.heartbeat_at = now
        row.updated_at = now
        if progress is not None:
            row.progress = dict(progress)
        self._touch_worker(row.lease_worker_id, now)
        self._session.flush()
        return HeartbeatResult(
            held=True, cancel=False, expires_at=row.lease_expires_at, reason=None
        )

    @boundary
    def report(
        self,
        batch_id: int,
        token: str,
        attempt: int,
        results: Sequence[EvaluationInput],
        *,
        now: datetime,
        report_id: str | None = None,
    ) -> ReportOutcome:
        """Store a leased batch's results and mark it done.

        `results` must hold exactly one result per member. The batch keeps `report_id`, the
        worker's idempotency key: a retry of the report that was stored (same lease, attempt and
        id) returns an outcome with ``duplicate=True`` and stores nothing; a different report of
        a reported lease is refused with reason ``already_reported``. Both are decided under the
        batch's row lock, so two concurrent copies of one report both see the same answer.

        Raises:
            NotFoundError: No such batch.
            LeaseRejectedError: The lease is not held, expired, stale, cancelled, or already
                reported.
            InvalidReportError: Results are missing, repeated or for architectures not in the batch.
            DuplicateEvaluationError: A member already has a result at the batch's fidelity.
        """
        now = as_utc(now)
        row = self._locked(BatchRow, batch_id, "batch")
        members = self._member_ids(batch_id)
        if _is_retry(row, token, attempt, report_id):
            return ReportOutcome(to_batch(row, members), (), duplicate=True)
        row = self._live(batch_id, token, attempt, now, revivable=True)
        _check_results(batch_id, members, results)
        evaluations = tuple(
            insert_evaluation(
                self._session,
                item,
                search_id=row.search_id,
                fidelity=row.fidelity,
                now=now,
                worker_id=row.lease_worker_id,
                batch_id=row.id,
                attempt=row.attempts,
            )
            for item in sorted(results, key=lambda r: members.index(r.architecture_id))
        )
        _revive(row)
        row.state = BatchState.DONE.value
        row.finished_at = now
        row.updated_at = now
        row.report_id = report_id
        self._touch_worker(row.lease_worker_id, now)
        self._session.flush()
        return ReportOutcome(to_batch(row, members), evaluations)

    @boundary
    def release(
        self,
        batch_id: int,
        token: str,
        attempt: int,
        *,
        now: datetime,
        reason: str,
        graceful: bool = False,
    ) -> BatchRecord:
        """Give a leased batch back: re-queued, or failed when it has no attempts left.

        A `graceful` release (a worker shutting down, not an error) does not use up one of the
        batch's attempts: the allowance grows by one, so preemptible or restarted workers never
        fail a batch. Attempt numbers still grow, since they identify leases.

        Raises:
            NotFoundError: No such batch.
            LeaseRejectedError: The lease is not live.
        """
        now = as_utc(now)
        row = self._live(batch_id, token, attempt, now)
        row.lease_expires_at = None
        if graceful:
            row.max_attempts += 1
        detail = f"released by worker {row.lease_worker_id} on attempt {row.attempts}: {reason}"
        self._requeue_or_fail(row, now, detail)
        self._touch_worker(row.lease_worker_id, now)
        self._session.flush()
        return to_batch(row, self._member_ids(batch_id))

    @boundary
    def fail(
        self, batch_id: int, token: str, attempt: int, *, now: datetime, reason: str
    ) -> BatchRecord:
        """Mark a leased batch failed for good (an error that another attempt would repeat).

        Raises:
            NotFoundError: No such batch.
            LeaseRejectedError: The lease is not live.
        """
        now = as_utc(now)
        row = self._live(batch_id, token, attempt, now)
        row.lease_expires_at = None
        row.state = BatchState.FAILED.value
        row.failure_reason = f"failed by worker {row.lease_worker_id}: {reason}"
        row.finished_at = now
        row.updated_at = now
        self._touch_worker(row.lease_worker_id, now)
        self._session.flush()
        return to_batch(row, self._member_ids(batch_id))

    @boundary
    def resume_leases(self, *, now: datetime, lease_seconds: float) -> int:
        """Give every lease at least `lease_seconds` from `now`; returns how many grew.

        Called when the controller starts: while it was down no worker could heartbeat, so the
        leases that ran out meanwhile were not the workers' fault. A dead worker's batch is still
        re-queued, one lease length later.

        Raises:
            ValueError: `lease_seconds` is not positive.
        """
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        now = as_utc(now)
        until = now + timedelta(seconds=lease_seconds)
        grown = 0
        for row in self._leased_rows():
            assert row.lease_expires_at is not None
            if row.lease_expires_at < until:
                row.lease_expires_at = until
                row.updated_at = now
                grown += 1
        self._session.flush()
        return grown

    @boundary
    def requeue_expired(
        self, *, now: datetime, previous_sweep: datetime | None = None
    ) -> tuple[ReapOutcome, ...]:
        """The reaper: re-queue every batch whose lease expired at or before `now`.

        A batch that has used all its attempts is marked failed instead, with the reason. Rows
        another transaction is working on are skipped (PostgreSQL); the next sweep gets them.

        Args:
            now: The sweep's time.
            previous_sweep: When the previous sweep of this reaper succeeded, if it ran. When
                that is longer ago than a lease's length, the database (or the controller) was
                unreachable for the gap, and so were the workers' heartbeats: each lease that was
                live at the previous sweep is first extended by the gap.
        """
        now = as_utc(now)
        if previous_sweep is not None:
            self._extend_for_gap(as_utc(previous_sweep), now)
        rows = self._session.scalars(
            select(BatchRow)
            .where(BatchRow.state == BatchState.LEASED.value, BatchRow.lease_expires_at <= now)
            .order_by(BatchRow.id)
            .with_for_update(skip_locked=True, key_share=True)
            .execution_options(populate_existing=True)
        ).all()
        outcomes = []
        for row in rows:
            expired_at = row.lease_expires_at
            assert expired_at is not None
            detail = (
                f"lease of worker {row.lease_worker_id} expired at {expired_at.isoformat()} "
                f"on attempt {row.attempts} of {row.max_attempts}"
            )
            self._requeue_or_fail(row, now, detail)
            outcomes.append(
                ReapOutcome(row.id, row.search_id, BatchState(row.state), row.failure_reason or "")
            )
        self._session.flush()
        return tuple(outcomes)

    @boundary
    def cancel_search(self, search_id: int, *, now: datetime, reason: str) -> int:
        """Cancel every queued or leased batch of a search; returns how many were cancelled.

        Holders learn it at their next heartbeat (``cancel=True``); their reports are refused.
        """
        now = as_utc(now)
        result = self._session.execute(
            update(BatchRow)
            .where(
                BatchRow.search_id == search_id,
                BatchRow.state.in_([s.value for s in IN_FLIGHT_BATCH_STATES]),
            )
            .values(
                state=BatchState.CANCELLED.value,
                failure_reason=reason,
                finished_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- helpers ------------------------------------------------------------------------------

    def _locked(self, table: type[RowT], ident: int, kind: str) -> RowT:
        row = self._session.scalars(
            select(table)
            .where(table.id == ident)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        ).one_or_none()
        if row is None:
            raise NotFoundError(kind, ident)
        return row

    def _live(
        self, batch_id: int, token: str, attempt: int, now: datetime, *, revivable: bool = False
    ) -> BatchRow:
        """The locked batch, if (token, attempt) is its live lease (or, when `revivable`, a lapsed
        lease that nobody took over, of a running search)."""
        row = self._locked(BatchRow, batch_id, "batch")
        if revivable:
            search_state = self._session.scalar(
                select(SearchRow.state).where(SearchRow.id == row.search_id)
            )
            revivable = search_state == SearchState.RUNNING.value
        rejection = _check_lease(row, token, attempt, now, revivable=revivable)
        if rejection is not None:
            raise LeaseRejectedError(batch_id, *rejection)
        return row

    def _leased_rows(self, *, live_after: datetime | None = None) -> Sequence[BatchRow]:
        query = select(BatchRow).where(BatchRow.state == BatchState.LEASED.value)
        if live_after is not None:
            query = query.where(BatchRow.lease_expires_at > live_after)
        return self._session.scalars(
            query.order_by(BatchRow.id)
            .with_for_update(skip_locked=True, key_share=True)
            .execution_options(populate_existing=True)
        ).all()

    def _extend_for_gap(self, previous_sweep: datetime, now: datetime) -> None:
        gap = now - previous_sweep
        if gap <= timedelta(0):
            return
        for row in self._leased_rows(live_after=previous_sweep):
            length = _lease_length(row)
            if length is not None and gap > length:
                assert row.lease_expires_at is not None
                row.lease_expires_at += gap
                row.updated_at = now
        self._session.flush()

    def _requeue_or_fail(self, row: BatchRow, now: datetime, detail: str) -> None:
        if row.attempts >= row.max_attempts:
            row.state = BatchState.FAILED.value
            row.failure_reason = f"{detail}; no attempts left"
            row.finished_at = now
        else:
            row.state = BatchState.QUEUED.value
            row.failure_reason = f"{detail}; re-queued"
        row.updated_at = now

    def _touch_worker(self, worker_id: int | None, now: datetime) -> None:
        if worker_id is not None:
            self._session.execute(
                update(WorkerRow)
                .where(WorkerRow.id == worker_id)
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )

    def _member_ids(self, batch_id: int) -> tuple[int, ...]:
        return tuple(
            self._session.scalars(
                select(BatchMemberRow.architecture_id)
                .where(BatchMemberRow.batch_id == batch_id)
                .order_by(BatchMemberRow.position)
            )
        )

    def _lease(self, row: BatchRow) -> Lease:
        assert row.lease_worker_id is not None
        assert row.lease_token is not None and row.lease_expires_at is not None
        members = self._session.execute(
            select(ArchitectureRow.id, ArchitectureRow.key, ArchitectureRow.arch)
            .join(BatchMemberRow, BatchMemberRow.architecture_id == ArchitectureRow.id)
            .where(BatchMemberRow.batch_id == row.id)
            .order_by(BatchMemberRow.position)
        )
        return Lease(
            batch_id=row.id,
            search_id=row.search_id,
            worker_id=row.lease_worker_id,
            token=row.lease_token,
            attempt=row.attempts,
            expires_at=row.lease_expires_at,
            fidelity=row.fidelity,
            members=tuple(LeaseMember(i, key, dict(arch)) for i, key, arch in members),
        )


def _lease_length(row: BatchRow) -> timedelta | None:
    """The length the lease was granted (or last extended) with: expiry minus last heartbeat."""
    if row.lease_expires_at is None or row.heartbeat_at is None:
        return None
    length = row.lease_expires_at - row.heartbeat_at
    return length if length > timedelta(0) else None


def _is_retry(row: BatchRow, token: str, attempt: int, report_id: str | None) -> bool:
    """Whether a report is a retry of the one that completed the batch (read under its lock)."""
    return (
        report_id is not None
        and row.report_id == report_id
        and row.state == BatchState.DONE.value
        and attempt == row.attempts
        and row.lease_token is not None
        and secrets.compare_digest(token.encode(), row.lease_token.encode())
    )


def _revive(row: BatchRow) -> None:
    """Take back a lapsed lease that nobody took over (a late heartbeat or report)."""
    if row.state == BatchState.QUEUED.value:
        row.state = BatchState.LEASED.value
        row.failure_reason = None


def _check_lease(
    row: BatchRow, token: str, attempt: int, now: datetime, *, revivable: bool = False
) -> tuple[LeaseRejection, str] | None:
    """Why (batch, token, attempt) is not a live lease at `now`, or None when it is.

    With `revivable` (the search is running), a lease that lapsed (expired, and perhaps re-queued
    by the reaper) but that nobody leased again counts as live: the same token and attempt, the
    batch leased or queued with that lease's expiry still on it (a release clears the expiry, so
    a released batch is never revived), not reported, not cancelled.
    """
    state = BatchState(row.state)
    if state == BatchState.CANCELLED:
        return LeaseRejection.CANCELLED, f"the batch was cancelled: {row.failure_reason}"
    if attempt < row.attempts:
        return (
            LeaseRejection.STALE_ATTEMPT,
            f"attempt {attempt} is stale; the batch was leased again (attempt {row.attempts})",
        )
    if attempt != row.attempts or row.lease_token is None:
        return LeaseRejection.NOT_HELD, f"no lease with attempt {attempt} exists"
    if not secrets.compare_digest(token.encode(), row.lease_token.encode()):
        return LeaseRejection.NOT_HELD, "the token does not match the batch's lease"
    if state == BatchState.DONE:
        return LeaseRejection.ALREADY_REPORTED, f"attempt {attempt} already reported its results"
    expires = row.lease_expires_at
    lapsed = expires is not None and expires <= now
    if lapsed and revivable and state in (BatchState.LEASED, BatchState.QUEUED):
        return None  # nobody took the batch over: the late heartbeat or report is the holder's
    if lapsed:
        assert expires is not None
        return (
            LeaseRejection.EXPIRED,
            f"the lease expired at {expires.isoformat()} "
            f"({row.failure_reason or 'not yet reaped'})",
        )
    if state != BatchState.LEASED:
        return LeaseRejection.NOT_HELD, f"the batch is {state.value}: {row.failure_reason}"
    return None


def _check_results(
    batch_id: int, members: tuple[int, ...], results: Sequence[EvaluationInput]
) -> None:
    ids = [r.architecture_id for r in results]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    missing = sorted(set(members) - set(ids))
    extra = sorted(set(ids) - set(members))
    problems = []
    if repeated:
        problems.append(f"repeated results for {repeated}")
    if missing:
        problems.append(f"no result for members {missing}")
    if extra:
        problems.append(f"results for architectures not in the batch: {extra}")
    if problems:
        raise InvalidReportError(
            f"report for batch {batch_id} does not match its members {list(members)}: "
            + "; ".join(problems)
        )
