"""Evaluations: measured results, one per (architecture, fidelity), and the observations."""

from __future__ import annotations

import copy
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.exceptions import DuplicateEvaluationError, NotFoundError
from service.store.domain import (
    DEFAULT_FIDELITY,
    ArchitectureView,
    EvaluationInput,
    EvaluationRecord,
    Observation,
)
from service.store.errors import boundary
from service.store.repositories.architectures import ArchitectureRepository
from service.store.repositories.convert import to_architecture, to_evaluation
from service.store.repositories.sql import upsert_insert
from service.store.tables import ArchitectureRow, EvaluationRow
from service.store.types import as_utc


def insert_evaluation(
    session: Session,
    item: EvaluationInput,
    *,
    search_id: int,
    fidelity: str,
    now: datetime,
    worker_id: int | None = None,
    batch_id: int | None = None,
    attempt: int | None = None,
) -> EvaluationRecord:
    """Insert one result unless the (architecture, fidelity) pair already has one.

    The unique key decides, so two concurrent reports cannot both count: the loser gets
    `DuplicateEvaluationError` and its transaction stays usable for the caller to roll back.
    """
    stmt = (
        upsert_insert(session, EvaluationRow)
        .values(
            search_id=search_id,
            architecture_id=item.architecture_id,
            fidelity=fidelity,
            metrics=copy.deepcopy(item.metrics),
            objective=item.objective,
            evaluator=item.evaluator,
            wall_seconds=item.wall_seconds,
            timings=copy.deepcopy(item.timings),
            started_at=None if item.started_at is None else as_utc(item.started_at),
            finished_at=None if item.finished_at is None else as_utc(item.finished_at),
            worker_id=worker_id,
            batch_id=batch_id,
            attempt=attempt,
            created_at=as_utc(now),
        )
        .on_conflict_do_nothing(index_elements=["architecture_id", "fidelity"])
        .returning(EvaluationRow.id)
    )
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is None:
        raise DuplicateEvaluationError(item.architecture_id, fidelity)
    row = session.get(EvaluationRow, new_id)
    assert row is not None
    return to_evaluation(row)


class EvaluationRepository:
    """Reads and writes evaluations inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @boundary
    def record(
        self,
        item: EvaluationInput,
        *,
        now: datetime,
        fidelity: str = DEFAULT_FIDELITY,
        worker_id: int | None = None,
        batch_id: int | None = None,
        attempt: int | None = None,
    ) -> EvaluationRecord:
        """Store a result outside the lease protocol (imports, user-supplied results, tests).

        Workers report through `BatchRepository.report`, which also checks the lease.

        Raises:
            NotFoundError: No such architecture.
            DuplicateEvaluationError: The architecture already has a result at `fidelity`.
        """
        architecture = self._session.get(ArchitectureRow, item.architecture_id)
        if architecture is None:
            raise NotFoundError("architecture", item.architecture_id)
        return insert_evaluation(
            self._session,
            item,
            search_id=architecture.search_id,
            fidelity=fidelity,
            now=now,
            worker_id=worker_id,
            batch_id=batch_id,
            attempt=attempt,
        )

    @boundary
    def get(
        self, architecture_id: int, fidelity: str = DEFAULT_FIDELITY
    ) -> EvaluationRecord | None:
        """The result of an architecture at a fidelity, if measured."""
        row = self._session.scalars(
            select(EvaluationRow).where(
                EvaluationRow.architecture_id == architecture_id,
                EvaluationRow.fidelity == fidelity,
            )
        ).one_or_none()
        return None if row is None else to_evaluation(row)

    @boundary
    def count(self, search_id: int, fidelity: str | None = None) -> int:
        """How many results a search has (at one fidelity, or at all)."""
        query = select(func.count()).where(EvaluationRow.search_id == search_id)
        if fidelity is not None:
            query = query.where(EvaluationRow.fidelity == fidelity)
        return self._session.scalar(query) or 0

    @boundary
    def observations(self, search_id: int, fidelity: str | None = None) -> tuple[Observation, ...]:
        """Every (architecture, result) pair of a search in the order the results arrived.

        This is what the controller refits the surrogate on.
        """
        query = (
            select(ArchitectureRow, EvaluationRow)
            .join(EvaluationRow, EvaluationRow.architecture_id == ArchitectureRow.id)
            .where(EvaluationRow.search_id == search_id)
            .order_by(EvaluationRow.id)
        )
        if fidelity is not None:
            query = query.where(EvaluationRow.fidelity == fidelity)
        return tuple(
            Observation(to_architecture(arch), to_evaluation(evaluation))
            for arch, evaluation in self._session.execute(query)
        )

    @boundary
    def best(
        self, search_id: int, *, maximize: bool, fidelity: str | None = None
    ) -> ArchitectureView | None:
        """The architecture with the best objective so far (earliest wins a tie), if any."""
        query = select(EvaluationRow.architecture_id).where(
            EvaluationRow.search_id == search_id, EvaluationRow.objective.is_not(None)
        )
        if fidelity is not None:
            query = query.where(EvaluationRow.fidelity == fidelity)
        order = EvaluationRow.objective.desc() if maximize else EvaluationRow.objective.asc()
        architecture_id = self._session.scalars(
            query.order_by(order, EvaluationRow.id).limit(1)
        ).first()
        if architecture_id is None:
            return None
        return ArchitectureRepository(self._session).views([architecture_id])[0]
