"""``/api/v1/events``: the event log after a cursor, for polling clients such as the dashboard.

A client keeps the ``next_after`` of each answer and asks ``?after=<it>`` next time; users see
the events of their own searches only (`service.usecases.events` holds the rules).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import ReadSessionDep
from service.api.params import MAX_CURSOR, MAX_ID
from service.auth import UserDep
from service.schemas import EventsPage
from service.usecases import events
from service.usecases.events import MAX_EVENTS

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", summary="Events after a cursor")
def list_events(
    principal: UserDep,
    session: ReadSessionDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_CURSOR, description="The last event id already seen (0: all).")
    ] = 0,
    search_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this search's events.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS, description="Most events returned.")] = 100,
) -> EventsPage:
    """Events with id greater than ``after``, oldest first."""
    return events.list_events(session, principal, after=after, search_id=search_id, limit=limit)
