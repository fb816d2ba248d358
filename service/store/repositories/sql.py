"""Small SQL helpers shared by the repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert_insert(session: Session, table: Any) -> Any:
    """An INSERT for `table` in the session's dialect, which offers ``on_conflict_do_nothing``.

    SQLite and PostgreSQL both support ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, which lets a
    writer add a row unless a unique key already holds it, without an IntegrityError aborting the
    caller's transaction.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {dialect!r}")


def is_postgresql(session: Session) -> bool:
    """Whether the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"
