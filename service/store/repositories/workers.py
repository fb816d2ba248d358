"""Workers: registration by unique name, last-seen times, and the batch each one holds."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.exceptions import NotFoundError
from service.store.domain import BatchState, Page, WorkerRecord
from service.store.errors import boundary
from service.store.repositories.convert import check_page, to_worker
from service.store.repositories.sql import upsert_insert
from service.store.tables import BatchRow, WorkerRow
from service.store.types import as_utc


class WorkerRepository:
    """Reads and writes workers inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @boundary
    def register(
        self,
        name: str,
        *,
        capabilities: dict[str, Any],
        now: datetime,
        token_hash: str | None = None,
    ) -> WorkerRecord:
        """Register a worker, or refresh the registration of a known name.

        A restarted worker registers under its old name and keeps its id, so its history stays
        joined; its capabilities and (when given) token hash are replaced.
        """
        now = as_utc(now)
        stmt = (
            upsert_insert(self._session, WorkerRow)
            .values(
                name=name,
                token_hash=token_hash,
                capabilities=copy.deepcopy(capabilities),
                registered_at=now,
                last_seen_at=now,
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )
        self._session.execute(stmt)
        row = self._by_name(name)
        assert row is not None
        row.capabilities = copy.deepcopy(capabilities)
        row.last_seen_at = now
        if token_hash is not None:
            row.token_hash = token_hash
        self._session.flush()
        return to_worker(row, self._current_batch(row.id))

    @boundary
    def get(self, worker_id: int) -> WorkerRecord:
        """The worker with id `worker_id`.

        Raises:
            NotFoundError: No such worker.
        """
        row = self._session.get(WorkerRow, worker_id)
        if row is None:
            raise NotFoundError("worker", worker_id)
        return to_worker(row, self._current_batch(row.id))

    @boundary
    def get_by_name(self, name: str) -> WorkerRecord | None:
        """The worker registered under `name`, if any."""
        row = self._by_name(name)
        return None if row is None else to_worker(row, self._current_batch(row.id))

    @boundary
    def token_hash(self, worker_id: int) -> str | None:
        """The stored token hash of a worker (for the service to compare), if it has one.

        Raises:
            NotFoundError: No such worker.
        """
        row = self._session.get(WorkerRow, worker_id)
        if row is None:
            raise NotFoundError("worker", worker_id)
        return row.token_hash

    @boundary
    def touch(self, worker_id: int, *, now: datetime) -> None:
        """Record that a worker was seen at `now`.

        Raises:
            NotFoundError: No such worker.
        """
        row = self._session.get(WorkerRow, worker_id)
        if row is None:
            raise NotFoundError("worker", worker_id)
        row.last_seen_at = as_utc(now)
        self._session.flush()

    @boundary
    def list(self, *, limit: int = 50, offset: int = 0) -> Page[WorkerRecord]:
        """Workers, most recently seen first, with the batch each holds."""
        check_page(limit, offset)
        total = self._session.scalar(select(func.count()).select_from(WorkerRow)) or 0
        rows = self._session.scalars(
            select(WorkerRow)
            .order_by(WorkerRow.last_seen_at.desc(), WorkerRow.id)
            .limit(limit)
            .offset(offset)
        ).all()
        held: dict[int | None, int] = {
            worker: batch
            for worker, batch in self._session.execute(
                select(BatchRow.lease_worker_id, func.min(BatchRow.id))
                .where(
                    BatchRow.state == BatchState.LEASED.value,
                    BatchRow.lease_worker_id.in_([r.id for r in rows]),
                )
                .group_by(BatchRow.lease_worker_id)
            )
        }
        return Page(tuple(to_worker(r, held.get(r.id)) for r in rows), total, limit, offset)

    def _by_name(self, name: str) -> WorkerRow | None:
        return self._session.scalars(select(WorkerRow).where(WorkerRow.name == name)).one_or_none()

    def _current_batch(self, worker_id: int) -> int | None:
        return self._session.scalars(
            select(BatchRow.id)
            .where(BatchRow.lease_worker_id == worker_id, BatchRow.state == BatchState.LEASED.value)
            .order_by(BatchRow.id)
            .limit(1)
        ).first()
