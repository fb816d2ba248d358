"""Architectures of a search: add with dedup by canonical key; sorted, filtered, paginated lists."""

from __future__ import annotations

import copy
import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import Session

from service.exceptions import NotFoundError
from service.store.domain import (
    ArchitectureInput,
    ArchitectureRecord,
    ArchitectureView,
    EvaluationRecord,
    Page,
)
from service.store.errors import boundary
from service.store.repositories.convert import check_page, to_architecture, to_evaluation
from service.store.repositories.sql import upsert_insert
from service.store.tables import ArchitectureRow, EvaluationRow, SearchRow
from service.store.types import as_utc


class ArchitectureSort(enum.StrEnum):
    """Orders an architecture list may take (ties broken by id, oldest first)."""

    ID = "id"
    CREATED_AT = "created_at"
    OBJECTIVE = "objective"
    PREDICTED_MEAN = "predicted_mean"
    PREDICTED_STD = "predicted_std"
    ACQUISITION_VALUE = "acquisition_value"


_SORT_COLUMNS = {
    ArchitectureSort.ID: ArchitectureRow.id,
    ArchitectureSort.CREATED_AT: ArchitectureRow.created_at,
    ArchitectureSort.PREDICTED_MEAN: ArchitectureRow.predicted_mean,
    ArchitectureSort.PREDICTED_STD: ArchitectureRow.predicted_std,
    ArchitectureSort.ACQUISITION_VALUE: ArchitectureRow.acquisition_value,
}


class ArchitectureRepository:
    """Reads and writes the architectures of searches inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @boundary
    def add(
        self, search_id: int, item: ArchitectureInput, *, now: datetime
    ) -> tuple[ArchitectureRecord, bool]:
        """Add an architecture unless the search already has one with the same key.

        Safe under concurrent writers: the insert skips a key another transaction stored.

        Returns:
            The stored architecture (the existing one for a known key) and whether it is new.

        Raises:
            NotFoundError: No such search.
        """
        return self.add_many(search_id, [item], now=now)[0]

    @boundary
    def add_many(
        self, search_id: int, items: Sequence[ArchitectureInput], *, now: datetime
    ) -> tuple[tuple[ArchitectureRecord, bool], ...]:
        """`add` for several architectures, in order; a key repeated in `items` is added once."""
        now = as_utc(now)
        if self._session.get(SearchRow, search_id) is None:
            raise NotFoundError("search", search_id)
        results: list[tuple[ArchitectureRecord, bool]] = []
        for item in items:
            stmt = (
                upsert_insert(self._session, ArchitectureRow)
                .values(
                    search_id=search_id,
                    key=item.key,
                    arch=copy.deepcopy(item.arch),
                    source=item.proposal.source,
                    predicted_mean=item.proposal.predicted_mean,
                    predicted_std=item.proposal.predicted_std,
                    acquisition_value=item.proposal.acquisition_value,
                    surrogate_version=item.proposal.surrogate_version,
                    proposal_info=copy.deepcopy(item.proposal.extra),
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["search_id", "key"])
                .returning(ArchitectureRow.id)
            )
            created = self._session.execute(stmt).scalar_one_or_none() is not None
            row = self._by_key(search_id, item.key)
            assert row is not None  # inserted above or already present
            results.append((to_architecture(row), created))
        return tuple(results)

    @boundary
    def get(self, architecture_id: int) -> ArchitectureRecord:
        """The architecture with id `architecture_id`.

        Raises:
            NotFoundError: No such architecture.
        """
        row = self._session.get(ArchitectureRow, architecture_id)
        if row is None:
            raise NotFoundError("architecture", architecture_id)
        return to_architecture(row)

    @boundary
    def get_by_key(self, search_id: int, key: str) -> ArchitectureRecord | None:
        """The architecture of a search with canonical key `key`, if any."""
        row = self._by_key(search_id, key)
        return None if row is None else to_architecture(row)

    @boundary
    def keys(self, search_id: int) -> frozenset[str]:
        """Every canonical key already in a search (what the proposer must not propose again)."""
        return frozenset(
            self._session.scalars(
                select(ArchitectureRow.key).where(ArchitectureRow.search_id == search_id)
            )
        )

    @boundary
    def count(self, search_id: int) -> int:
        """How many architectures a search holds."""
        return (
            self._session.scalar(select(func.count()).where(ArchitectureRow.search_id == search_id))
            or 0
        )

    @boundary
    def list(
        self,
        search_id: int,
        *,
        sort: ArchitectureSort = ArchitectureSort.ID,
        descending: bool = False,
        evaluated: bool | None = None,
        fidelity: str | None = None,
        source: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[ArchitectureView]:
        """A page of a search's architectures with their results.

        Args:
            search_id: The search.
            sort: Order. ``objective`` uses the result at `fidelity`; without a fidelity, the
                highest objective over fidelities when descending, the lowest when ascending
                (so "best first" works for maximised and minimised objectives alike).
                Architectures without a value sort last either way.
            descending: Reverse the order.
            evaluated: Keep only architectures with (True) or without (False) a result at
                `fidelity` (at any fidelity when None).
            fidelity: Restricts `evaluated` and the objective sort; the page still carries all
                results of each architecture.
            source: Keep only architectures proposed by this source.
            limit: Page size, 1 to 1000.
            offset: Rows to skip.
        """
        check_page(limit, offset)
        query = self._filtered(search_id, evaluated=evaluated, fidelity=fidelity, source=source)
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        query, column = self._sort_column(query, search_id, sort, descending, fidelity)
        ordered = column.desc() if descending else column.asc()
        rows = self._session.scalars(
            query.order_by(ordered.nulls_last(), ArchitectureRow.id).limit(limit).offset(offset)
        ).all()
        return Page(self._views(rows), total, limit, offset)

    @boundary
    def views(self, architecture_ids: Sequence[int]) -> tuple[ArchitectureView, ...]:
        """Architectures with their results, in the order of `architecture_ids`.

        Raises:
            NotFoundError: One of the ids does not exist.
        """
        rows = self._session.scalars(
            select(ArchitectureRow).where(ArchitectureRow.id.in_(architecture_ids))
        ).all()
        by_id = {row.id: row for row in rows}
        missing = [i for i in architecture_ids if i not in by_id]
        if missing:
            raise NotFoundError("architecture", missing[0])
        return self._views([by_id[i] for i in architecture_ids])

    def _filtered(
        self, search_id: int, *, evaluated: bool | None, fidelity: str | None, source: str | None
    ) -> Select[Any]:
        query = select(ArchitectureRow).where(ArchitectureRow.search_id == search_id)
        if source is not None:
            query = query.where(ArchitectureRow.source == source)
        if evaluated is not None:
            has_result = exists().where(EvaluationRow.architecture_id == ArchitectureRow.id)
            if fidelity is not None:
                has_result = has_result.where(EvaluationRow.fidelity == fidelity)
            query = query.where(has_result if evaluated else ~has_result)
        return query

    def _sort_column(
        self,
        query: Select[Any],
        search_id: int,
        sort: ArchitectureSort,
        descending: bool,
        fidelity: str | None,
    ) -> tuple[Select[Any], ColumnElement[Any]]:
        if sort != ArchitectureSort.OBJECTIVE:
            return query, _SORT_COLUMNS[sort].expression
        aggregate = func.max if descending else func.min
        best = select(
            EvaluationRow.architecture_id.label("architecture_id"),
            aggregate(EvaluationRow.objective).label("objective"),
        ).where(EvaluationRow.search_id == search_id)
        if fidelity is not None:
            best = best.where(EvaluationRow.fidelity == fidelity)
        sub = best.group_by(EvaluationRow.architecture_id).subquery()
        query = query.outerjoin(sub, sub.c.architecture_id == ArchitectureRow.id)
        return query, sub.c.objective

    def _views(self, rows: Sequence[ArchitectureRow]) -> tuple[ArchitectureView, ...]:
        ids = [row.id for row in rows]
        results: dict[int, list[EvaluationRecord]] = {i: [] for i in ids}
        if ids:
            for evaluation in self._session.scalars(
                select(EvaluationRow)
                .where(EvaluationRow.architecture_id.in_(ids))
                .order_by(EvaluationRow.id)
            ):
                results[evaluation.architecture_id].append(to_evaluation(evaluation))
        return tuple(ArchitectureView(to_architecture(row), tuple(results[row.id])) for row in rows)

    def _by_key(self, search_id: int, key: str) -> ArchitectureRow | None:
        return self._session.scalars(
            select(ArchitectureRow).where(
                ArchitectureRow.search_id == search_id, ArchitectureRow.key == key
            )
        ).one_or_none()
