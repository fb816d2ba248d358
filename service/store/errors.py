"""Translation of SQLAlchemy errors into `service.exceptions` store errors at the store boundary."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)

from service.exceptions import StoreConflictError, StoreError, StoreUnavailableError

P = ParamSpec("P")
R = TypeVar("R")


def translate_error(exc: SQLAlchemyError, operation: str) -> StoreError:
    """Return the store error that describes `exc`, raised while doing `operation`."""
    detail = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    detail = detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
    if isinstance(exc, IntegrityError):
        return StoreConflictError(f"{operation} broke a database constraint: {detail}")
    outage = _outage(exc, detail)
    if outage is not None:
        return StoreUnavailableError(
            f"{operation} could not use the database ({outage}): {detail}",
            StoreUnavailableError.OUTAGE,
        )
    if isinstance(exc, OperationalError) and _busy(exc, detail):
        return StoreUnavailableError(
            f"{operation} could not use the database (contention with another transaction, "
            f"e.g. the SQLite write lock held past the busy timeout): {detail}",
            StoreUnavailableError.BUSY,
        )
    return StoreError(f"{operation} failed in the database: {detail}")


def boundary(method: Callable[P, R]) -> Callable[P, R]:
    """Decorate a repository method so SQLAlchemy errors leave it as store errors."""
    operation = method.__qualname__

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except SQLAlchemyError as exc:
            raise translate_error(exc, operation) from exc

    return wrapper


_SQLITE_OUTAGES = (
    ("readonly database", "the database is read-only"),
    ("database or disk is full", "the disk is full"),
    ("unable to open", "the database file cannot be opened"),
    ("disk i/o", "the disk failed"),
)
"""sqlite3 messages of a database that cannot be written now, and what each means."""

_SQLITE_BUSY = ("locked", "busy")

_POSTGRES_OUTAGES = (
    ("25006", "the database is read-only"),  # read_only_sql_transaction
    ("53", "the database server is out of a resource (disk, memory or connections)"),
    ("08", "the database server cannot be reached"),  # connection exceptions
    ("57P", "the database server is shutting down or restarting"),  # operator intervention
    ("58", "the database server had a system error"),  # system error (e.g. I/O)
    ("HV", "the database server had a system error"),
)
"""SQLSTATE classes (or codes) of a PostgreSQL server that cannot serve us now."""


def _outage(exc: SQLAlchemyError, detail: str) -> str | None:
    """Why the database cannot take writes (or any statement) now, or None for other errors.

    These are the store's conditions: a read-only, full, unreachable or restarting database.
    Classified by SQLSTATE on PostgreSQL (psycopg raises a read-only transaction as an
    InternalError, not an OperationalError) and by message on SQLite, whose error classes are
    too coarse (a missing table is an OperationalError too, and a bug, not an outage).
    """
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    if type(orig).__module__.startswith("sqlite3"):
        lowered = detail.lower()
        return next((why for words, why in _SQLITE_OUTAGES if words in lowered), None)
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return next((why for code, why in _POSTGRES_OUTAGES if sqlstate.startswith(code)), None)
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        # psycopg raises OperationalError without a SQLSTATE when the connection itself fails.
        return "the database server cannot be reached"
    return None


def _busy(exc: OperationalError, detail: str) -> bool:
    """Whether an OperationalError is transient contention (retry at once).

    On PostgreSQL every other OperationalError is (serialization failure, deadlock, statement
    timeout); sqlite3 also raises OperationalError for SQL errors such as a missing table, which
    are bugs rather than contention.
    """
    if type(exc.orig).__module__.startswith("sqlite3"):
        return any(word in detail.lower() for word in _SQLITE_BUSY)
    return True
