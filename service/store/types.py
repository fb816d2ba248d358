"""Column types that behave the same on SQLite and PostgreSQL, and the application clock.

Time policy: every timestamp the store writes comes from the application clock (`utcnow`, or the
``now`` a caller passes), never from the database clock. Lease operations take ``now`` explicitly so
that the reaper, the API and the tests agree on one notion of time and tests can move it at will.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

JSONType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL."""

BigIntegerPK: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit on PostgreSQL; SQLite auto-increments only an ``INTEGER PRIMARY KEY`` (also 64-bit)."""


def utcnow() -> datetime:
    """The application clock: an aware datetime in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime; naive values are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; pass an aware UTC datetime")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as an aware UTC datetime on every backend.

    PostgreSQL stores ``timestamp with time zone``. SQLite has no such type: we store naive UTC
    text (SQLAlchemy's fixed-width ISO format, so that text comparison orders correctly) and attach
    UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
