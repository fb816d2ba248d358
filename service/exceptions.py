"""Errors raised by the bonas service on purpose; all derive from `ServiceError`.

The store wraps every `SQLAlchemyError` into a `StoreError` at its boundary, so code above the
store (routers, the controller loop, the CLI) never imports SQLAlchemy to handle a database failure.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class ServiceError(Exception):
    """Base class of every error the service raises on purpose."""


class StoreError(ServiceError):
    """A database operation failed; the message says which one and why."""


class StoreUnavailableError(StoreError):
    """The database cannot take this operation now: unreachable, read-only, full, shutting down,
    or locked past the busy timeout.

    It is the store's condition, not the caller's fault nor a search's: the API answers 503 with
    `reason` and a ``Retry-After``, and the controller never counts it toward failing a search.

    Attributes:
        reason: ``busy`` (a lock held past the timeout: retry at once) or ``store_unavailable``
            (an outage: read-only, full or unreachable database; retry after a pause).
    """

    BUSY = "busy"
    OUTAGE = "store_unavailable"

    def __init__(self, message: str, reason: str = OUTAGE) -> None:
        super().__init__(message)
        self.reason = reason


class StoreConflictError(StoreError):
    """A write broke a uniqueness or foreign-key rule, usually because of a concurrent writer."""


class NotFoundError(StoreError, LookupError):
    """A row asked for by id or name does not exist."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident!r} does not exist")
        self.kind = kind
        self.ident = ident


class DuplicateEvaluationError(StoreConflictError):
    """An architecture already has a result at this fidelity; a result is never counted twice."""

    def __init__(self, architecture_id: int, fidelity: str) -> None:
        super().__init__(
            f"architecture {architecture_id} already has an evaluation at fidelity {fidelity!r}"
        )
        self.architecture_id = architecture_id
        self.fidelity = fidelity


class InvalidStateTransitionError(StoreError, ValueError):
    """A search or batch was asked to move to a state its current state does not allow."""


class InvalidReportError(StoreError, ValueError):
    """A worker's report does not match the batch it claims to answer (missing or extra members)."""


class LeaseRejection(enum.StrEnum):
    """Why the store refused an operation on a batch lease."""

    NOT_HELD = "not_held"
    """The token or attempt does not belong to the batch's current lease."""
    EXPIRED = "expired"
    """The lease ran past its expiry; the reaper re-queues the batch or marks it failed."""
    STALE_ATTEMPT = "stale_attempt"
    """The attempt number is older than the batch's current attempt: the batch was leased again."""
    CANCELLED = "cancelled"
    """The batch (or its search) was cancelled."""
    ALREADY_REPORTED = "already_reported"
    """This lease and attempt already reported its results; the batch is done."""


class LeaseRejectedError(StoreError):
    """A report, release or failure was refused for a lease; `reason` says why."""

    def __init__(self, batch_id: int, reason: LeaseRejection, detail: str) -> None:
        super().__init__(f"batch {batch_id}: lease refused ({reason.value}): {detail}")
        self.batch_id = batch_id
        self.reason = reason
        self.detail = detail


class DatabaseNotAtHeadError(StoreError):
    """The database schema is not at the migration head this code needs."""

    def __init__(self, current: str | None, head: str, url: str) -> None:
        where = f"the database at {url}"
        state = "has no bonas schema" if current is None else f"is at revision {current}"
        super().__init__(
            f"{where} {state}, but this version of bonas needs revision {head}. "
            f"Run `bonas db upgrade` (with `--url {url}` or BONAS_DATABASE_URL set), "
            "then start again."
        )
        self.current = current
        self.head = head
        self.url = url


class SchemaDriftError(StoreError):
    """The migrated schema differs from the declared tables (what `alembic check` finds)."""

    def __init__(self, differences: Sequence[str]) -> None:
        listing = "\n  ".join(differences)
        super().__init__(
            f"the database schema differs from service.store.tables in {len(differences)} "
            f"place(s); write a migration for:\n  {listing}"
        )
        self.differences = tuple(differences)
