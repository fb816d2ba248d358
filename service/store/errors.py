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
    if isinstance(exc, OperationalError) and _unavailable(exc, detail):
        hint = (
            " (another process held the SQLite write lock past the busy timeout)"
            if "locked" in detail
            else ""
        )
        return StoreUnavailableError(f"{operation} could not use the database{hint}: {detail}")
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


_SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o", "readonly database")


def _unavailable(exc: OperationalError, detail: str) -> bool:
    """Whether an OperationalError means "database not usable now" rather than a bad statement.

    psycopg raises OperationalError only for connection trouble; sqlite3 also raises it for SQL
    errors such as a missing table, which are bugs rather than outages.
    """
    if type(exc.orig).__module__.startswith("sqlite3"):
        return any(word in detail.lower() for word in _SQLITE_UNAVAILABLE)
    return True
