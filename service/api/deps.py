"""What the routers declare besides the caller: the session, the clock and the controller's wake-up.

* `SessionDep` (from `service.auth`): a session whose transaction commits when the route returns.
  `ReadSessionDep` is the same for routes that only read: on SQLite it does not take the write
  lock, so reads never queue behind writes.
* `ClockDep`: the app's clock. `create_app` sets ``app.state.clock`` to `service.store.utcnow`; a
  test replaces it with any callable returning an aware UTC datetime. A router reads it once per
  request and hands the time to its use case (`service.usecases`), which never reads a clock.
* `WakeDep`: wakes the controller about a search. The controller must find the change committed,
  so a route that wakes it commits first (``session.commit()``) and wakes it after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.auth import EngineDep, SessionDep
from service.clock import Clock
from service.store import session_scope, utcnow

Wake = Callable[[int], None]
"""Wakes the controller about one search (given its id)."""


def get_clock(request: Request) -> Clock:
    """The app's clock (`utcnow` unless the app was given another)."""
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock


def notify(request: Request, search_id: int) -> None:
    """Wake the controller about `search_id` (call it once the change is committed)."""
    controller = getattr(request.app.state, "controller", None)
    if controller is not None:
        controller.notify(search_id)


def get_wake(request: Request) -> Wake:
    """`notify` bound to this request's app (a no-op when the app runs no controller)."""

    def wake(search_id: int) -> None:
        notify(request, search_id)

    return wake


def _read_session(engine: EngineDep) -> Iterator[Session]:
    with session_scope(engine, read_only=True) as session:
        yield session


ClockDep = Annotated[Clock, Depends(get_clock)]
ReadSessionDep = Annotated[Session, Depends(_read_session, scope="function")]
"""A read-only session, closed when the route returns."""
WakeDep = Annotated[Wake, Depends(get_wake)]

__all__ = [
    "Clock",
    "ClockDep",
    "ReadSessionDep",
    "SessionDep",
    "Wake",
    "WakeDep",
    "get_clock",
    "notify",
]
