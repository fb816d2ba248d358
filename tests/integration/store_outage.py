"""Make a test database read-only and writable again, as an operator or a full disk would.

PostgreSQL: ``ALTER DATABASE ... SET default_transaction_read_only`` on the per-test database
(every new session of it is read-only; the engine's pooled connections are dropped so that the
setting takes effect), as a standby or an operator's emergency switch does. SQLite: ``PRAGMA
query_only`` on every connection the engine hands out, which makes SQLite refuse each write with
"attempt to write a readonly database", as it does for a read-only file (root ignores chmod, so
a file mode cannot be used in tests run as root).
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url


class ReadOnlySwitch:
    """Turns `engine`'s database read-only (`on`) and writable (`off`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.read_only = False
        if self.sqlite:
            event.listen(engine, "checkout", self._on_checkout)

    def _on_checkout(self, dbapi_connection: object, record: object, proxy: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        try:
            cursor.execute(f"PRAGMA query_only={1 if self.read_only else 0}")
        finally:
            cursor.close()

    def on(self) -> None:
        self._set(True)

    def off(self) -> None:
        self._set(False)

    def _set(self, read_only: bool) -> None:
        self.read_only = read_only
        if self.sqlite:
            return
        url = make_url(self.engine.url.render_as_string(hide_password=False))
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(libpq, autocommit=True) as connection:
            connection.execute("SET default_transaction_read_only = off")
            connection.execute(
                sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(
                    sql.Identifier(url.database or ""), sql.SQL("on" if read_only else "off")
                )
            )
        self.engine.dispose()  # new connections pick the setting up


__all__ = ["ReadOnlySwitch"]
