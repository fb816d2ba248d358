"""``/api/v1/events``: the event log after a cursor, for polling clients such as the dashboard.

A client keeps the ``next_after`` of each answer and asks ``?after=<it>`` next time; it never
misses an event and never sees one twice (the store commits events in id order). Users see the
events of their own searches only; the cursor still moves past the others' events, so a poll
never stalls on them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from service.api.params import MAX_CURSOR, MAX_ID
from service.api.views import visible_search
from service.auth import EngineDep, Principal, UserDep
from service.schemas import EventOut, EventsPage
from service.store import EventRecord, EventRepository, SearchRepository, session_scope

router = APIRouter(prefix="/events", tags=["events"])

MAX_EVENTS = 1000
SCAN_ROUNDS = 10
"""Pages of other users' events a user's poll reads past before it answers with what it has."""


@router.get("", summary="Events after a cursor")
def list_events(
    principal: UserDep,
    engine: EngineDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_CURSOR, description="The last event id already seen (0: all).")
    ] = 0,
    search_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this search's events.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS, description="Most events returned.")] = 100,
) -> EventsPage:
    """Events with id greater than ``after``, oldest first."""
    with session_scope(engine, read_only=True) as session:
        events = EventRepository(session)
        if search_id is not None:
            visible_search(session, principal, search_id)
        if search_id is not None or principal.is_admin:
            found = events.list_after(after, limit=limit, search_id=search_id)
            return _page(list(found), after, full=len(found) == limit)
        return _own_events(session, principal, after, limit)


def _own_events(session: Session, principal: Principal, after: int, limit: int) -> EventsPage:
    owned = _owned_search_ids(session, principal.owner)
    events = EventRepository(session)
    kept: list[EventRecord] = []
    cursor = after
    for _ in range(SCAN_ROUNDS):
        found = events.list_after(cursor, limit=limit)
        for event in found:
            cursor = event.id
            if event.search_id is None or event.search_id in owned:
                kept.append(event)
                if len(kept) == limit:
                    return _page(kept, cursor, full=True)
        if len(found) < limit:
            return _page(kept, cursor, full=False)
    return _page(kept, cursor, full=True)


def _owned_search_ids(session: Session, owner: str) -> set[int]:
    searches = SearchRepository(session)
    owned: set[int] = set()
    offset = 0
    while True:
        page = searches.list(owner=owner, limit=MAX_EVENTS, offset=offset)
        owned.update(search.id for search in page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return owned


def _page(events: list[EventRecord], cursor: int, *, full: bool) -> EventsPage:
    next_after = max([cursor, *(event.id for event in events)])
    return EventsPage(items=[EventOut.of(e) for e in events], next_after=next_after, has_more=full)
