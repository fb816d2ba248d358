"""The search use cases: submit, list, read and steer (pause, resume, cancel) a search.

Users see and steer their own searches, admins every search; to anyone else a search does not
exist (`summary.visible_search`). Each steering call moves the search in the store and appends
its event only when it changes something, so repeating a pause or a cancel is safe and leaves
one event. Every function answers with the search's summary (`summary.search_out`) at ``now``.

The controller does the searching: the caller commits, then wakes it about the search (the
answer's ``id``). No function here reads a clock or knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from service.auth import Principal
from service.errors import INVALID_STATE, ApiError
from service.events import SearchCancelled, SearchCreated, SearchPaused, SearchResumed
from service.schemas import Page, SearchOut
from service.search_spec import SearchSpec
from service.store import BatchRepository, EventRepository, SearchRepository, SearchState
from service.usecases.summary import search_out, visible_search


def submit_search(
    session: Session, principal: Principal, now: datetime, spec: SearchSpec
) -> SearchOut:
    """Store a search in state ``created`` for the caller and append ``search.created``; the
    controller starts it and proposes its batches."""
    search = SearchRepository(session).create(
        name=spec.name,
        owner=principal.owner,
        spec=spec.stored(),
        space_spec=spec.space_description(),
        now=now,
        budget_evaluations=spec.budget.evaluations,
        budget_wall_seconds=spec.budget.wall_seconds,
    )
    EventRepository(session).append_payload(
        SearchCreated(name=search.name, owner=search.owner),
        now=now,
        search_id=search.id,
    )
    return search_out(session, search, now)


def list_searches(
    session: Session,
    principal: Principal,
    now: datetime,
    *,
    states: Sequence[SearchState] | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[SearchOut]:
    """Searches, newest first: the caller's own, or everyone's (or `owner`'s) for an admin.

    A user naming another owner simply sees their own searches, as if no owner were named.
    """
    if not principal.is_admin:
        owner = principal.owner
    page = SearchRepository(session).list(
        owner=owner, states=list(states) if states else None, limit=limit, offset=offset
    )
    items = [search_out(session, search, now) for search in page.items]
    return Page[SearchOut](items=items, total=page.total, limit=limit, offset=offset)


def read_search(session: Session, principal: Principal, now: datetime, search_id: int) -> SearchOut:
    """State, counts (done, in flight, queued, failed), budget used and best so far.

    Raises:
        ApiError: 404 when the search does not exist or is another user's.
    """
    return search_out(session, visible_search(session, principal, search_id), now)


def pause_search(
    session: Session, principal: Principal, now: datetime, search_id: int
) -> SearchOut:
    """Stop handing out the search's batches (those leased finish and are stored) and append
    ``search.paused``; pausing a paused search changes nothing.

    Raises:
        ApiError: 404 when the search is not visible to the caller.
        InvalidStateTransitionError: The search has ended (the store's transition rules).
    """
    search = visible_search(session, principal, search_id)
    if search.state != SearchState.PAUSED:
        search = SearchRepository(session).transition(search_id, SearchState.PAUSED, now=now)
        EventRepository(session).append_payload(SearchPaused(), now=now, search_id=search_id)
    return search_out(session, search, now)


def resume_search(
    session: Session, principal: Principal, now: datetime, search_id: int
) -> SearchOut:
    """Hand out a paused search's batches again and append ``search.resumed``; a search that is
    active and not paused is left as it is.

    Raises:
        ApiError: 404 when the search is not visible to the caller; 409 when it has ended
            (a finished, failed or cancelled search cannot resume).
    """
    search = visible_search(session, principal, search_id)
    if search.state.terminal:
        raise ApiError(
            409, INVALID_STATE, f"search {search_id} is {search.state.value}; it cannot resume"
        )
    if search.state == SearchState.PAUSED:
        search = SearchRepository(session).transition(search_id, SearchState.RUNNING, now=now)
        EventRepository(session).append_payload(SearchResumed(), now=now, search_id=search_id)
    return search_out(session, search, now)


def cancel_search(
    session: Session, principal: Principal, now: datetime, search_id: int
) -> SearchOut:
    """End the search for good: cancel its queued and leased batches and append
    ``search.cancelled``; cancelling a cancelled search changes nothing.

    Workers holding a cancelled batch learn it at their next heartbeat; their reports are refused.

    Raises:
        ApiError: 404 when the search is not visible to the caller.
        InvalidStateTransitionError: The search has already finished or failed.
    """
    search = visible_search(session, principal, search_id)
    if search.state != SearchState.CANCELLED:
        reason = f"cancelled by {principal.owner}"
        search = SearchRepository(session).transition(
            search_id, SearchState.CANCELLED, now=now, reason=reason
        )
        cancelled = BatchRepository(session).cancel_search(search_id, now=now, reason=reason)
        EventRepository(session).append_payload(
            SearchCancelled(reason=reason, batches_cancelled=cancelled),
            now=now,
            search_id=search_id,
        )
    return search_out(session, search, now)
