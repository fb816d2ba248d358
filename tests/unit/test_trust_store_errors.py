"""Store errors are the store's: outages of either backend become `StoreUnavailableError`."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError

from service.errors import store_error_answer
from service.exceptions import StoreConflictError, StoreError, StoreUnavailableError
from service.store.errors import translate_error

OUTAGE = StoreUnavailableError.OUTAGE


def _sqlite(message: str) -> OperationalError:
    return OperationalError("statement", {}, sqlite3.OperationalError(message))


def _pg(
    error: Exception, wrapper: type[OperationalError | InternalError] = OperationalError
) -> Any:
    return wrapper("statement", {}, error)


CASES = [
    (_sqlite("attempt to write a readonly database"), OUTAGE, "read-only"),
    (_sqlite("database or disk is full"), OUTAGE, "disk is full"),
    (_sqlite("unable to open database file"), OUTAGE, "cannot be opened"),
    (_sqlite("database is locked"), "busy", "contention"),
    (_pg(psycopg.errors.ReadOnlySqlTransaction("read-only"), InternalError), OUTAGE, "read-only"),
    (_pg(psycopg.errors.DiskFull("could not extend file")), OUTAGE, "out of a resource"),
    (_pg(psycopg.errors.AdminShutdown("terminating connection")), OUTAGE, "shutting down"),
    (_pg(psycopg.errors.ConnectionFailure("gone")), OUTAGE, "cannot be reached"),
    (_pg(psycopg.OperationalError("connection refused")), OUTAGE, "cannot be reached"),
    (_pg(psycopg.errors.SerializationFailure("retry")), "busy", "contention"),
]


@pytest.mark.parametrize(("error", "reason", "why"), CASES)
def test_outages_and_contention_are_unavailable_with_a_reason(
    error: OperationalError, reason: str, why: str
) -> None:
    translated = translate_error(error, "BatchRepository.lease_next")
    assert isinstance(translated, StoreUnavailableError)
    assert translated.reason == reason and why in str(translated)
    answer = store_error_answer(translated)
    assert answer.status_code == 503 and answer.reason == reason
    assert float(answer.headers["Retry-After"]) > 0


def test_bugs_stay_errors() -> None:
    missing = OperationalError("x", {}, sqlite3.OperationalError("no such table: batches"))
    assert type(translate_error(missing, "op")) is StoreError
    syntax = InternalError("x", {}, psycopg.errors.SyntaxError("syntax error"))
    assert type(translate_error(syntax, "op")) is StoreError
    assert store_error_answer(translate_error(syntax, "op")).status_code == 500
    unique = IntegrityError("x", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert isinstance(translate_error(unique, "op"), StoreConflictError)
