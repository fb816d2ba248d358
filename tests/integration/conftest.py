"""Database fixtures for the integration tests: every test runs on SQLite and on PostgreSQL.

PostgreSQL: each test gets a fresh database on the server at ``BONAS_TEST_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), dropped afterwards. When the server
is unreachable the PostgreSQL cases are skipped, unless ``BONAS_REQUIRE_POSTGRES=1`` (CI), which
turns the skip into a failure. PostgreSQL cases carry the ``db`` marker.

Migrated databases are copies of one template that the migrations built at the start of the
session (``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, a file copy on SQLite): the schema always
comes from the migrations, never from ``create_all``, and each test starts from an empty store.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from service.store import make_engine, normalize_url
from service.store.migrate import ensure_at_head, upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.db)]


def _libpq(url: URL) -> str:
    """A libpq connection string for psycopg from a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresServer:
    """Creates and drops throwaway databases on a test server.

    Creating a database costs the server a few hundred milliseconds of I/O, so a background thread
    prepares the next migrated copy while a test runs and drops finished ones afterwards; one thread
    does both, so the template is never copied twice at once.
    """

    def __init__(self, url: URL) -> None:
        self.url = url
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-test-dbs")
        self._ready: deque[Future[URL]] = deque()

    def create(self, template: str | None = None) -> URL:
        name = f"bonas_test_{uuid.uuid4().hex[:16]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(_libpq(self.url), autocommit=True) as connection:
            connection.execute(statement)
        return self.url.set(database=name)

    def take_copy(self, template: str) -> URL:
        """A fresh copy of `template`, and start preparing the next one."""
        if not self._ready:
            self._ready.append(self._background.submit(self.create, template))
        url = self._ready.popleft().result()
        self._ready.append(self._background.submit(self.create, template))
        return url

    def drop(self, url: URL) -> None:
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(url.database or "")
        )
        with psycopg.connect(_libpq(self.url), autocommit=True) as connection:
            connection.execute(statement)

    def drop_later(self, url: URL) -> None:
        """Drop `url` in the background (before `close` returns)."""
        self._background.submit(self.drop, url)

    def drop_template_later(self, template: URL) -> None:
        """Drop the copies prepared but not used, then `template` itself (all in the background)."""
        while self._ready:
            self.drop_later(self._ready.popleft().result())
        self.drop_later(template)

    def close(self) -> None:
        """Wait for every pending drop."""
        self._background.shutdown(wait=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test PostgreSQL server; skips (or fails, when required) if it cannot be reached."""
    url = normalize_url(os.environ.get("BONAS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        message = f"PostgreSQL unreachable at {url!r}: {exc}"
        if os.environ.get("BONAS_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (BONAS_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    server = PostgresServer(url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: ``sqlite`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty database (no schema)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'bonas.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create()
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        server.drop_later(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A PostgreSQL database migrated to head once per session (name of the template)."""
    url = postgres_server.create()
    try:
        upgrade(url)
        yield url.database or ""
    finally:
        postgres_server.drop_template_later(url)


@pytest.fixture
def migrated_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database at the migration head, holding no rows."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "bonas.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.take_copy(request.getfixturevalue("postgres_template"))
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        server.drop_later(url)


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated database, checked to be at head."""
    engine = make_engine(migrated_url)
    ensure_at_head(engine)
    try:
        yield engine
    finally:
        engine.dispose()
