"""Alembic environment: finds the database URL, connects, and runs the migration scripts.

URL, first found wins: ``config.attributes["url"]`` (set by `service.store.migrate`), the
``sqlalchemy.url`` option of an ini file, then the service settings (``BONAS_DATABASE_URL``,
``.env``, or the default SQLite file). A caller may also hand over a live connection in
``config.attributes["connection"]``.

SQLite: foreign keys are switched off while migrating, because batch mode rebuilds tables by copying
them (dropping a referenced table with keys on would cascade or fail); the keys are checked with
``PRAGMA foreign_key_check`` before the migration commits.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from service.exceptions import StoreError
from service.settings import Settings
from service.store.engine import make_engine, normalize_url
from service.store.migrate import context_options

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return str(url) if url else Settings().database_url


def _migrate(connection: Connection) -> None:
    dialect = connection.dialect.name
    context.configure(connection=connection, **context_options(dialect))
    with context.begin_transaction():
        context.run_migrations()
        if dialect == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise StoreError(f"migration left rows with dangling foreign keys: {broken[:5]}")


def run_migrations_offline() -> None:
    """Emit the SQL for the migrations instead of running it (``alembic upgrade --sql``)."""
    url = normalize_url(_url())
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(url.get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations against a live database."""
    given = config.attributes.get("connection")
    if given is not None:
        _migrate(given)
        return
    engine = make_engine(_url(), sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
