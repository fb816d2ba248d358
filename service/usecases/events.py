"""The event log after a cursor, for polling clients such as the dashboard.

A client keeps the ``next_after`` of each answer and asks for the events after it next time; it
never misses an event and never sees one twice (the store commits events in id order). Users
see the events of their own searches (and those of no search) only; the cursor still moves past
the others' events, so a poll never stalls on them. Admins see every event.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.auth import Principal
from service.schemas import EventOut, EventsPage
from service.store import EventRecord, EventRepository, SearchRepository
from service.usecases.summary import visible_search

MAX_EVENTS = 1000
"""Most events one answer holds."""
SCAN_ROUNDS = 10
"""Pages of other users' events a user's poll reads past before it answers with what it has."""


def list_events(
    session: Session,
    principal: Principal,
    *,
    after: int = 0,
    search_id: int | None = None,
    limit: int = 100,
) -> EventsPage:
    """Events with id greater than `after`, oldest first, that the caller may see.

    Raises:
        ApiError: 404 when `search_id` names a search the caller may not see.
    """
    if search_id is not None:
        visible_search(session, principal, search_id)
    if search_id is not None or principal.is_admin:
        found = EventRepository(session).list_after(after, limit=limit, search_id=search_id)
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
