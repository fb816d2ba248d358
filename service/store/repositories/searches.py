"""Searches: creation, listing, state transitions and progress counts."""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.exceptions import InvalidStateTransitionError, NotFoundError
from service.store.domain import (
    SEARCH_TRANSITIONS,
    BatchState,
    Page,
    SearchCounts,
    SearchRecord,
    SearchState,
)
from service.store.errors import boundary
from service.store.repositories.convert import check_page, to_search
from service.store.tables import ArchitectureRow, BatchRow, EvaluationRow, SearchRow
from service.store.types import as_utc

ACTIVE_STATES = (SearchState.RUNNING, SearchState.PAUSED)


class SearchRepository:
    """Reads and writes searches inside the caller's session (never commits)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @boundary
    def create(
        self,
        *,
        name: str,
        owner: str,
        spec: dict[str, Any],
        space_spec: dict[str, Any],
        now: datetime,
        budget_evaluations: int | None = None,
        budget_wall_seconds: float | None = None,
    ) -> SearchRecord:
        """Store a new search in state ``created``.

        Raises:
            ValueError: A budget is not positive.
        """
        if budget_evaluations is not None and budget_evaluations <= 0:
            raise ValueError(f"budget_evaluations must be positive, got {budget_evaluations}")
        if budget_wall_seconds is not None and budget_wall_seconds <= 0:
            raise ValueError(f"budget_wall_seconds must be positive, got {budget_wall_seconds}")
        now = as_utc(now)
        row = SearchRow(
            name=name,
            owner=owner,
            state=SearchState.CREATED.value,
            spec=copy.deepcopy(spec),
            space_spec=copy.deepcopy(space_spec),
            evaluator_kind=evaluator_kind_of(spec),
            budget_evaluations=budget_evaluations,
            budget_wall_seconds=budget_wall_seconds,
            created_at=now,
            updated_at=now,
        )
        self._session.add(row)
        self._session.flush()
        return to_search(row)

    @boundary
    def get(self, search_id: int) -> SearchRecord:
        """The search with id `search_id`.

        Raises:
            NotFoundError: No such search.
        """
        return to_search(self._row(search_id))

    @boundary
    def list(
        self,
        *,
        owner: str | None = None,
        states: Collection[SearchState] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[SearchRecord]:
        """Searches, newest first, optionally of one owner and in some states."""
        check_page(limit, offset)
        query = select(SearchRow)
        if owner is not None:
            query = query.where(SearchRow.owner == owner)
        if states is not None:
            query = query.where(SearchRow.state.in_([s.value for s in states]))
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self._session.scalars(
            query.order_by(SearchRow.id.desc()).limit(limit).offset(offset)
        ).all()
        return Page(tuple(to_search(r) for r in rows), total, limit, offset)

    @boundary
    def list_active(self) -> tuple[SearchRecord, ...]:
        """Running and paused searches, oldest first: what a restarted controller resumes."""
        rows = self._session.scalars(
            select(SearchRow)
            .where(SearchRow.state.in_([s.value for s in ACTIVE_STATES]))
            .order_by(SearchRow.id)
        ).all()
        return tuple(to_search(r) for r in rows)

    @boundary
    def transition(
        self, search_id: int, to: SearchState, *, now: datetime, reason: str | None = None
    ) -> SearchRecord:
        """Move a search to state `to`, recording when it started, how long it was paused and
        why it finished.

        Moving to the state it is already in is a no-op, so repeated pause or cancel calls are safe.

        Raises:
            NotFoundError: No such search.
            InvalidStateTransitionError: `SEARCH_TRANSITIONS` does not allow the move.
        """
        now = as_utc(now)
        row = self._row(search_id, lock=True)
        current = SearchState(row.state)
        if current == to:
            return to_search(row)
        if to not in SEARCH_TRANSITIONS[current]:
            allowed = ", ".join(sorted(s.value for s in SEARCH_TRANSITIONS[current])) or "none"
            raise InvalidStateTransitionError(
                f"search {search_id} is {current.value}; it cannot become {to.value} "
                f"(allowed: {allowed})"
            )
        row.state = to.value
        row.updated_at = now
        if to == SearchState.RUNNING and row.started_at is None:
            row.started_at = now
        if current == SearchState.PAUSED and row.paused_at is not None:
            paused_for = (now - as_utc(row.paused_at)).total_seconds()
            row.paused_seconds = (row.paused_seconds or 0.0) + max(paused_for, 0.0)
            row.paused_at = None
        if to == SearchState.PAUSED:
            row.paused_at = now
        if to.terminal:
            row.finished_at = now
            row.finished_reason = reason
        self._session.flush()
        return to_search(row)

    @boundary
    def counts(self, search_id: int) -> SearchCounts:
        """Architectures, evaluations and batches per state of a search."""
        self._row(search_id)
        architectures = self._session.scalar(
            select(func.count()).where(ArchitectureRow.search_id == search_id)
        )
        evaluations = self._session.scalar(
            select(func.count()).where(EvaluationRow.search_id == search_id)
        )
        batch_rows = self._session.execute(
            select(BatchRow.state, func.count())
            .where(BatchRow.search_id == search_id)
            .group_by(BatchRow.state)
        ).all()
        return SearchCounts(
            architectures=architectures or 0,
            evaluations=evaluations or 0,
            batches={BatchState(state): count for state, count in batch_rows},
        )

    def _row(self, search_id: int, *, lock: bool = False) -> SearchRow:
        query = select(SearchRow).where(SearchRow.id == search_id)
        if lock:  # re-read under the row lock, not from the identity map
            query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
        row = self._session.scalars(query).one_or_none()
        if row is None:
            raise NotFoundError("search", search_id)
        return row


def evaluator_kind_of(spec: dict[str, Any]) -> str | None:
    """The evaluator kind a stored spec names (`spec["evaluator"]["kind"]`), if any.

    Leases filter on it (see `BatchRepository.lease_next`); a spec without one may go to any
    worker.
    """
    evaluator = spec.get("evaluator")
    kind = evaluator.get("kind") if isinstance(evaluator, dict) else None
    return kind if isinstance(kind, str) else None
