"""Engines and sessions: SQLite (WAL, foreign keys, immediate write locks) or PostgreSQL.

The caller owns the transaction: `session_scope` commits when its block ends and rolls back when it
raises; repositories only flush.

SQLite detail: Python's sqlite3 begins transactions lazily and as readers, so two writers that both
read first can deadlock on the upgrade to a write lock ("database is locked" in the middle of a
transaction, which no busy timeout cures). Following SQLAlchemy's documented pysqlite recipe we turn
off the driver's own transaction handling and emit ``BEGIN IMMEDIATE`` ourselves, so a writing
transaction takes the write lock up front and waits (up to the busy timeout) for its turn.
Read-only blocks can pass ``read_only=True`` to begin with a plain deferred ``BEGIN`` and run
alongside writers (WAL lets readers and one writer proceed together).

PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from service.exceptions import StoreError
from service.store.errors import translate_error

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0
_READ_ONLY_OPTION = "bonas_read_only"


def normalize_url(url: str | URL) -> URL:
    """Parse `url`, reading ``postgresql://`` and ``postgres://`` as psycopg 3.

    Raises:
        StoreError: The URL cannot be parsed or names a backend other than SQLite or PostgreSQL.
    """
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        parsed = make_url(text)
    except Exception as exc:  # ArgumentError or ValueError, depending on the defect
        raise StoreError(f"cannot parse database URL {text!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {backend!r} in {parsed!r}; use sqlite:///path/to/file.db "
            "or postgresql+psycopg://user@host/dbname"
        )
    return parsed


def is_sqlite(url: str | URL) -> bool:
    """Whether `url` names a SQLite database."""
    return normalize_url(url).get_backend_name() == "sqlite"


def safe_url(url: str | URL) -> str:
    """`url` with its password hidden, for messages and logs."""
    return normalize_url(url).render_as_string(hide_password=True)


def make_engine(
    url: str | URL,
    *,
    echo: bool = False,
    pool_size: int = 10,
    max_overflow: int = 40,
    sqlite_foreign_keys: bool = True,
    sqlite_busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
) -> Engine:
    """Create an engine for `url` with the store's connection policy.

    Args:
        url: SQLite or PostgreSQL URL. The directory of a SQLite file is created if missing.
        echo: Log SQL statements.
        pool_size: Connections kept open (PostgreSQL).
        max_overflow: Extra connections allowed under load (PostgreSQL).
        sqlite_foreign_keys: Enforce foreign keys on SQLite. Migrations turn this off while they
            rebuild tables and check the keys afterwards.
        sqlite_busy_timeout_s: How long a SQLite transaction waits for the write lock before it
            fails with `StoreUnavailableError`.

    Returns:
        The engine. Dispose of it when done.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(
            parsed,
            echo=echo,
            foreign_keys=sqlite_foreign_keys,
            busy_timeout_s=sqlite_busy_timeout_s,
        )
    return create_engine(
        parsed,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
    )


def _make_sqlite_engine(
    url: URL, *, echo: bool, foreign_keys: bool, busy_timeout_s: float
) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {
        "echo": echo,
        "connect_args": {"timeout": busy_timeout_s, "check_same_thread": False},
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, or each would see its own DB
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see module docstring
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def read_only_engine(engine: Engine) -> Engine:
    """`engine` with deferred SQLite transactions (no write lock up front); shares the pool."""
    return engine.execution_options(**{_READ_ONLY_OPTION: True})


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """Open a session whose transaction commits at the end of the block or rolls back on error.

    Args:
        engine: From `make_engine`.
        read_only: The block only reads. On SQLite it then does not take the write lock; on
            PostgreSQL it changes nothing. Writing in a read-only block on SQLite may fail with
            `StoreUnavailableError` under contention.

    Yields:
        A session whose objects stay readable after commit (``expire_on_commit=False``).

    Raises:
        StoreError: Any database failure, with the SQLAlchemy error chained as its cause.
    """
    bind = read_only_engine(engine) if read_only else engine
    session = Session(bind=bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except SQLAlchemyError as exc:
        _rollback_quietly(session)
        raise translate_error(exc, "transaction") from exc
    except BaseException:
        _rollback_quietly(session)
        raise
    finally:
        session.close()


def _rollback_quietly(session: Session) -> None:
    """Roll back without hiding the error that caused the rollback."""
    try:
        session.rollback()
    except SQLAlchemyError:
        logger.warning("rollback failed after an error", exc_info=True)
