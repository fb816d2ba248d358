"""``/api/v1/searches``: submit, list, read and steer searches (pause, resume, cancel).

The rules (who sees which search, which moves are allowed, the events) are
`service.usecases.searches`'s. A route reads the time from the app's clock, calls one use case
and returns its summary; a route that changes a search commits and then wakes the controller
about it, so the controller always finds the change committed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from service.api.deps import ClockDep, ReadSessionDep, SessionDep, WakeDep
from service.api.params import Limit, Offset, SearchId
from service.auth import UserDep
from service.schemas import Page, SearchOut
from service.search_spec import SearchSpec
from service.states import SearchState
from service.usecases import searches

router = APIRouter(prefix="/searches", tags=["searches"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Submit a search")
def create_search(
    spec: SearchSpec, principal: UserDep, session: SessionDep, clock: ClockDep, wake: WakeDep
) -> SearchOut:
    """Store a search in state ``created``; the controller starts it and proposes its batches."""
    answer = searches.submit_search(session, principal, clock(), spec)
    session.commit()  # the controller must find the search committed
    wake(answer.id)
    return answer


@router.get("", summary="List searches")
def list_searches(
    principal: UserDep,
    session: ReadSessionDep,
    clock: ClockDep,
    state: Annotated[list[SearchState] | None, Query(description="Keep these states.")] = None,
    owner: Annotated[
        str | None, Query(max_length=200, description="Admins only: one owner's searches.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SearchOut]:
    """Searches, newest first: a user's own, or everyone's for an admin."""
    return searches.list_searches(
        session, principal, clock(), states=state, owner=owner, limit=limit, offset=offset
    )


@router.get("/{search_id}", summary="Read a search")
def get_search(
    search_id: SearchId, principal: UserDep, session: ReadSessionDep, clock: ClockDep
) -> SearchOut:
    """State, counts (done, in flight, queued, failed), budget used and best so far."""
    return searches.read_search(session, principal, clock(), search_id)


@router.post("/{search_id}/pause", summary="Pause a search")
def pause_search(
    search_id: SearchId, principal: UserDep, session: SessionDep, clock: ClockDep, wake: WakeDep
) -> SearchOut:
    """Stop handing out its batches; batches already leased finish and are stored."""
    answer = searches.pause_search(session, principal, clock(), search_id)
    session.commit()
    wake(search_id)
    return answer


@router.post("/{search_id}/resume", summary="Resume a paused search")
def resume_search(
    search_id: SearchId, principal: UserDep, session: SessionDep, clock: ClockDep, wake: WakeDep
) -> SearchOut:
    """Hand out its batches again (a search that is not paused is left as it is)."""
    answer = searches.resume_search(session, principal, clock(), search_id)
    session.commit()
    wake(search_id)
    return answer


@router.post("/{search_id}/cancel", summary="Cancel a search")
def cancel_search(
    search_id: SearchId, principal: UserDep, session: SessionDep, clock: ClockDep, wake: WakeDep
) -> SearchOut:
    """End the search for good; its queued and leased batches are cancelled.

    Workers holding a cancelled batch learn it at their next heartbeat; their reports are refused.
    Cancelling a cancelled search changes nothing.
    """
    answer = searches.cancel_search(session, principal, clock(), search_id)
    session.commit()
    wake(search_id)
    return answer
