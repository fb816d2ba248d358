"""The states and roles that both the store and its clients name, free of SQLAlchemy.

They live outside `service.store` because importing anything of that package loads its engine
and SQLAlchemy: the response schemas and the user SDK (`service.client`) need these enumerations
and nothing else of the store. `service.store` re-exports them, so its users are unchanged.
"""

from __future__ import annotations

import enum


class SearchState(enum.StrEnum):
    """Life cycle of a search: created -> running <-> paused -> completed | cancelled | failed."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        """Whether no further transition is allowed."""
        return self in _TERMINAL_SEARCH_STATES


_TERMINAL_SEARCH_STATES = frozenset(
    {SearchState.COMPLETED, SearchState.CANCELLED, SearchState.FAILED}
)

DEFAULT_MAX_ATTEMPTS = 3
"""How many times a batch is leased (expiries and error releases) before it fails: the default
of the store, the controller and the ``max_attempts`` setting."""


class BatchState(enum.StrEnum):
    """Life cycle of a batch: queued -> leased -> done, or back to queued, or failed/cancelled."""

    QUEUED = "queued"
    LEASED = "leased"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


IN_FLIGHT_BATCH_STATES = frozenset({BatchState.QUEUED, BatchState.LEASED})
"""States of a batch whose architectures still await a result (pending points for the proposer)."""


class Role(enum.StrEnum):
    """What a token may do: admin manages tokens, user runs searches, worker leases and reports."""

    ADMIN = "admin"
    USER = "user"
    WORKER = "worker"
