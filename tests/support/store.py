"""Searches written straight into the store, for tests and benchmarks that run no controller."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.search_spec import SearchSpec
from service.store import SearchRecord, SearchRepository, SearchState


def create_search(
    session: Session, spec: SearchSpec, now: datetime, owner: str = "alice"
) -> SearchRecord:
    """Store `spec` as a search owned by `owner`, in state ``created``, with the spec's budgets."""
    return SearchRepository(session).create(
        name=spec.name,
        owner=owner,
        spec=spec.stored(),
        space_spec=spec.space_description(),
        now=now,
        budget_evaluations=spec.budget.evaluations,
        budget_wall_seconds=spec.budget.wall_seconds,
    )


def start_search(session: Session, spec: SearchSpec, now: datetime, owner: str = "alice") -> int:
    """Store `spec` as a search owned by `owner` and move it to ``running``, as the service would.

    Returns:
        The new search's id.
    """
    search = create_search(session, spec, now, owner)
    SearchRepository(session).transition(search.id, SearchState.RUNNING, now=now)
    return search.id


__all__ = ["create_search", "start_search"]
