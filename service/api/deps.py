"""The clock routers read the time from, so that tests can pass a fake one instead of sleeping.

`create_app` sets ``app.state.clock`` to `service.store.utcnow`; a test replaces it with any
callable returning an aware UTC datetime. A router reads it once per request and hands the time
to its use case (`service.usecases`), which never reads a clock itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from service.store import utcnow

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""


def get_clock(request: Request) -> Clock:
    """The app's clock (`utcnow` unless the app was given another)."""
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]
