"""Schema migrations, driven programmatically: upgrade, downgrade, current, check, ensure_at_head.

Alembic is configured in code from the installed ``migrations`` package, so every function here
works from any working directory without an ``alembic.ini`` (the root ``alembic.ini`` is for
developers who run the ``alembic`` command itself). The URL travels in ``Config.attributes``
rather than the ini options, so URLs containing ``%`` need no escaping.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

import migrations
from service.exceptions import DatabaseNotAtHeadError, SchemaDriftError, StoreError
from service.store.engine import make_engine, normalize_url, read_only_engine, safe_url
from service.store.errors import translate_error
from service.store.tables import metadata

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def context_options(dialect_name: str) -> dict[str, Any]:
    """Options for `MigrationContext.configure`, shared by env.py and `check`.

    SQLite cannot ALTER most things, so Alembic's batch mode (copy, alter, swap) is on there.
    SQLite does run DDL inside transactions (Alembic assumes it does not), and our engine emits the
    BEGIN itself, so a migration that fails half way rolls back entirely on both backends.
    """
    return {
        "target_metadata": metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
        "transactional_ddl": True,
    }


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic config pointing at the installed migrations, for `url` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.attributes["url"] = normalize_url(url).render_as_string(hide_password=False)
    return config


def head() -> str:
    """The revision the code needs (the single head of the migration scripts)."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise StoreError(f"no migration scripts found under {MIGRATIONS_DIR}")
    return revision


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (creating the schema in an empty database)."""
    logger.info("upgrading %s to %s", safe_url(url), revision)
    _run(command.upgrade, url, revision)


def downgrade(url: str | URL, revision: str) -> None:
    """Downgrade the database at `url` to `revision` (``base`` drops every table)."""
    logger.info("downgrading %s to %s", safe_url(url), revision)
    _run(command.downgrade, url, revision)


def current(url: str | URL) -> str | None:
    """The revision the database at `url` is at, or None when it has no bonas schema."""
    engine = make_engine(url)
    try:
        return current_of(engine)
    finally:
        engine.dispose()


def current_of(engine: Engine) -> str | None:
    """`current` for an existing engine."""
    try:
        with read_only_engine(engine).connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise translate_error(exc, "reading the schema revision") from exc


def ensure_at_head(engine: Engine) -> None:
    """Refuse to run on a database whose schema is not at `head`.

    Raises:
        DatabaseNotAtHeadError: The database is empty or at another revision; the message tells the
            user to run ``bonas db upgrade``.
    """
    found = current_of(engine)
    needed = head()
    if found != needed:
        raise DatabaseNotAtHeadError(found, needed, safe_url(engine.url))


def drift(url: str | URL) -> list[str]:
    """Differences between the migrated schema at `url` and `service.store.tables`."""
    engine = make_engine(url)
    try:
        with read_only_engine(engine).connect() as connection:
            options = context_options(connection.dialect.name)
            context = MigrationContext.configure(connection, opts=options)
            return [_describe(diff) for diff in compare_metadata(context, metadata)]
    except SQLAlchemyError as exc:
        raise translate_error(exc, "comparing the schema") from exc
    finally:
        engine.dispose()


def check(url: str | URL) -> None:
    """What ``alembic check`` does: the database is at head and the tables match the code.

    Raises:
        DatabaseNotAtHeadError: The database is not at head.
        SchemaDriftError: The migrated schema differs from the declared tables.
    """
    engine = make_engine(url)
    try:
        ensure_at_head(engine)
    finally:
        engine.dispose()
    differences = drift(url)
    if differences:
        raise SchemaDriftError(differences)


def _run(action: Any, url: str | URL, revision: str) -> None:
    try:
        action(alembic_config(url), revision)
    except SQLAlchemyError as exc:
        raise translate_error(exc, f"migrating to {revision}") from exc


def _describe(diff: Any) -> str:
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(item) for item in diff)
    operation, *args = diff
    return f"{operation}: " + ", ".join(_short(arg) for arg in args)


def _short(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name) if isinstance(name, str) else repr(value)
