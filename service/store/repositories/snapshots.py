"""Surrogate snapshots: fitted models of a search, numbered 1, 2, ... per search."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.exceptions import NotFoundError
from service.store.domain import Snapshot, SnapshotInfo
from service.store.errors import boundary
from service.store.repositories.convert import to_snapshot_info
from service.store.tables import SearchRow, SurrogateSnapshotRow
from service.store.types import as_utc


class SurrogateSnapshotRepository:
    """Reads and writes surrogate snapshots inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @boundary
    def add(
        self,
        search_id: int,
        *,
        model_state: bytes,
        fit_metrics: dict[str, Any],
        n_observations: int,
        now: datetime,
    ) -> SnapshotInfo:
        """Store a fitted surrogate as the search's next version.

        Two refits of one search racing each other cannot share a version: the unique key
        (search, version) refuses the second with `StoreConflictError`.

        Raises:
            NotFoundError: No such search.
        """
        if self._session.get(SearchRow, search_id) is None:
            raise NotFoundError("search", search_id)
        latest = self._session.scalar(
            select(func.max(SurrogateSnapshotRow.version)).where(
                SurrogateSnapshotRow.search_id == search_id
            )
        )
        row = SurrogateSnapshotRow(
            search_id=search_id,
            version=(latest or 0) + 1,
            n_observations=n_observations,
            fit_metrics=copy.deepcopy(fit_metrics),
            model_state=bytes(model_state),
            created_at=as_utc(now),
        )
        self._session.add(row)
        self._session.flush()
        return to_snapshot_info(row)

    @boundary
    def latest(self, search_id: int) -> Snapshot | None:
        """The newest snapshot of a search with its model bytes, if any."""
        row = self._session.scalars(
            select(SurrogateSnapshotRow)
            .where(SurrogateSnapshotRow.search_id == search_id)
            .order_by(SurrogateSnapshotRow.version.desc())
            .limit(1)
        ).first()
        return None if row is None else Snapshot(to_snapshot_info(row), bytes(row.model_state))

    @boundary
    def get(self, search_id: int, version: int) -> Snapshot:
        """One snapshot with its model bytes.

        Raises:
            NotFoundError: The search has no such version.
        """
        row = self._session.scalars(
            select(SurrogateSnapshotRow).where(
                SurrogateSnapshotRow.search_id == search_id,
                SurrogateSnapshotRow.version == version,
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"surrogate snapshot of search {search_id}", version)
        return Snapshot(to_snapshot_info(row), bytes(row.model_state))

    @boundary
    def list(self, search_id: int) -> tuple[SnapshotInfo, ...]:
        """Metadata of every snapshot of a search, oldest first (model bytes not loaded)."""
        rows = self._session.execute(
            select(
                SurrogateSnapshotRow.id,
                SurrogateSnapshotRow.search_id,
                SurrogateSnapshotRow.version,
                SurrogateSnapshotRow.n_observations,
                SurrogateSnapshotRow.fit_metrics,
                SurrogateSnapshotRow.created_at,
            )
            .where(SurrogateSnapshotRow.search_id == search_id)
            .order_by(SurrogateSnapshotRow.version)
        )
        return tuple(SnapshotInfo(i, s, v, n, copy.deepcopy(m), c) for i, s, v, n, m, c in rows)
