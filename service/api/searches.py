"""``/api/v1/searches``: submit, list, read and steer searches (pause, resume, cancel).

Users see and steer their own searches; admins see all. The controller does the searching: this
router writes the change to the store, commits, and then wakes the controller with
``notify(search_id)``, so the controller always finds the change committed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from service.api.params import Limit, Offset, SearchId
from service.api.views import event_payload, search_out, visible_search
from service.auth import EngineDep, UserDep
from service.controller.events import EventKind
from service.errors import INVALID_STATE, ApiError
from service.schemas import Page, SearchOut
from service.search_spec import SearchSpec
from service.store import (
    BatchRepository,
    EventRepository,
    SearchRepository,
    SearchState,
    session_scope,
    utcnow,
)

router = APIRouter(prefix="/searches", tags=["searches"])


def notify(request: Request, search_id: int) -> None:
    """Wake the controller about `search_id` (after the change is committed)."""
    controller = getattr(request.app.state, "controller", None)
    if controller is not None:
        controller.notify(search_id)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Submit a search")
def create_search(
    spec: SearchSpec, principal: UserDep, engine: EngineDep, request: Request
) -> SearchOut:
    """Store a search in state ``created``; the controller starts it and proposes its batches."""
    now = utcnow()
    with session_scope(engine) as session:
        search = SearchRepository(session).create(
            name=spec.name,
            owner=principal.owner,
            spec=spec.stored(),
            space_spec=spec.space_description(),
            now=now,
            budget_evaluations=spec.budget.evaluations,
            budget_wall_seconds=spec.budget.wall_seconds,
        )
        EventRepository(session).append(
            EventKind.SEARCH_CREATED.value,
            {"name": search.name, "owner": search.owner},
            now=now,
            search_id=search.id,
        )
        answer = search_out(session, search, now)
    notify(request, search.id)
    return answer


@router.get("", summary="List searches")
def list_searches(
    principal: UserDep,
    engine: EngineDep,
    state: Annotated[list[SearchState] | None, Query(description="Keep these states.")] = None,
    owner: Annotated[
        str | None, Query(max_length=200, description="Admins only: one owner's searches.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SearchOut]:
    """Searches, newest first: a user's own, or everyone's for an admin."""
    if not principal.is_admin:
        owner = principal.owner  # a user asking for another owner simply sees their own
    now = utcnow()
    with session_scope(engine, read_only=True) as session:
        page = SearchRepository(session).list(
            owner=owner, states=state or None, limit=limit, offset=offset
        )
        items = [search_out(session, search, now) for search in page.items]
    return Page[SearchOut](items=items, total=page.total, limit=limit, offset=offset)


@router.get("/{search_id}", summary="Read a search")
def get_search(search_id: SearchId, principal: UserDep, engine: EngineDep) -> SearchOut:
    """State, counts (done, in flight, queued, failed), budget used and best so far."""
    now = utcnow()
    with session_scope(engine, read_only=True) as session:
        search = visible_search(session, principal, search_id)
        return search_out(session, search, now)


@router.post("/{search_id}/pause", summary="Pause a search")
def pause_search(
    search_id: SearchId, principal: UserDep, engine: EngineDep, request: Request
) -> SearchOut:
    """Stop handing out its batches; batches already leased finish and are stored."""
    answer = _transition(engine, principal, search_id, SearchState.PAUSED, EventKind.SEARCH_PAUSED)
    notify(request, search_id)
    return answer


@router.post("/{search_id}/resume", summary="Resume a paused search")
def resume_search(
    search_id: SearchId, principal: UserDep, engine: EngineDep, request: Request
) -> SearchOut:
    """Hand out its batches again (a search that is not paused is left as it is)."""
    now = utcnow()
    with session_scope(engine) as session:
        search = visible_search(session, principal, search_id)
        if search.state == SearchState.PAUSED:
            search = SearchRepository(session).transition(search_id, SearchState.RUNNING, now=now)
            EventRepository(session).append(
                EventKind.SEARCH_RESUMED.value, {}, now=now, search_id=search_id
            )
        elif search.state.terminal:
            raise ApiError(
                409, INVALID_STATE, f"search {search_id} is {search.state.value}; it cannot resume"
            )
        answer = search_out(session, search, now)
    notify(request, search_id)
    return answer


@router.post("/{search_id}/cancel", summary="Cancel a search")
def cancel_search(
    search_id: SearchId, principal: UserDep, engine: EngineDep, request: Request
) -> SearchOut:
    """End the search for good; its queued and leased batches are cancelled.

    Workers holding a cancelled batch learn it at their next heartbeat; their reports are refused.
    Cancelling a cancelled search changes nothing.
    """
    now = utcnow()
    with session_scope(engine) as session:
        search = visible_search(session, principal, search_id)
        if search.state != SearchState.CANCELLED:
            reason = f"cancelled by {principal.owner}"
            search = SearchRepository(session).transition(
                search_id, SearchState.CANCELLED, now=now, reason=reason
            )
            cancelled = BatchRepository(session).cancel_search(search_id, now=now, reason=reason)
            EventRepository(session).append(
                EventKind.SEARCH_CANCELLED.value,
                event_payload(reason=reason, batches_cancelled=cancelled),
                now=now,
                search_id=search_id,
            )
        answer = search_out(session, search, now)
    notify(request, search_id)
    return answer


def _transition(
    engine: EngineDep, principal: UserDep, search_id: int, to: SearchState, kind: EventKind
) -> SearchOut:
    now = utcnow()
    with session_scope(engine) as session:
        search = visible_search(session, principal, search_id)
        if search.state != to:
            search = SearchRepository(session).transition(search_id, to, now=now)
            EventRepository(session).append(kind.value, {}, now=now, search_id=search_id)
        return search_out(session, search, now)
