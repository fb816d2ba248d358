"""The service's notion of time: a `Clock`, and `ManualClock`, the fake that tests drive.

Routers read the app's clock once per request (`service.api.deps.ClockDep`) and the controller
reads its own; use cases and repositories take ``now`` and never read a clock. A test that
replaces the clock with a `ManualClock` moves time by calling `advance`, so lease expiry, wall
budgets and stale workers are tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from service.store import utcnow

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""


class ManualClock:
    """A clock that moves only when told to (starts at `start`, or at the real time now)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start if start is not None else utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by `seconds` and return the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now
