"""The event log: append-only, read by cursor (``after`` the last id a client saw).

Cursor safety: a client that read up to id N must never later find a committed event with id <= N.
On PostgreSQL ids come from a sequence at insert time, so two transactions could commit out of id
order and a poller could skip the slower one. `EventRepository.append` therefore takes a
transaction-scoped advisory lock before inserting, which makes appends commit in id order. The lock
is held until the caller's transaction ends, so append events as the last step of a transaction. On
SQLite, writers are already serialised by the database lock.

Writers append typed payloads (`append_payload` with a class of `service.events`, which fixes the
kind and the keys); `append` takes a kind and a raw dict, for tests and imports of old logs.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.events import EventPayload
from service.store.domain import EventRecord
from service.store.errors import boundary
from service.store.repositories.convert import MAX_PAGE_SIZE, to_event
from service.store.repositories.sql import is_postgresql
from service.store.tables import EventRow
from service.store.types import as_utc

EVENT_APPEND_LOCK = 0x626F6E6173  # "bonas": the advisory-lock key that orders event appends


class EventRepository:
    """Appends and reads events inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @boundary
    def append(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        now: datetime,
        search_id: int | None = None,
    ) -> EventRecord:
        """Append an event; call it last in the transaction (see the module docstring)."""
        if is_postgresql(self._session):
            self._session.execute(select(func.pg_advisory_xact_lock(EVENT_APPEND_LOCK)))
        row = EventRow(
            search_id=search_id, kind=kind, payload=copy.deepcopy(payload), created_at=as_utc(now)
        )
        self._session.add(row)
        self._session.flush()
        return to_event(row)

    def append_payload(
        self, payload: EventPayload, *, now: datetime, search_id: int | None = None
    ) -> EventRecord:
        """Append the event `payload` describes (its kind comes from its class); call it last in
        the transaction, like `append`."""
        return self.append(payload.KIND.value, payload.to_json(), now=now, search_id=search_id)

    @boundary
    def list_after(
        self, after: int = 0, *, limit: int = 100, search_id: int | None = None
    ) -> tuple[EventRecord, ...]:
        """Events with id greater than `after`, in id order, at most `limit` of them.

        Raises:
            ValueError: `limit` is outside 1..1000 or `after` is negative.
        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
        if after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        query = select(EventRow).where(EventRow.id > after)
        if search_id is not None:
            query = query.where(EventRow.search_id == search_id)
        rows = self._session.scalars(query.order_by(EventRow.id).limit(limit))
        return tuple(to_event(r) for r in rows)

    @boundary
    def last_id(self) -> int:
        """The id of the newest event, or 0 when the log is empty."""
        return self._session.scalar(select(func.max(EventRow.id))) or 0
