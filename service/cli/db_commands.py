"""`bonas db ...`: manage the database schema (upgrade, current, check, downgrade)."""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    help="Manage the database schema with the migrations shipped with bonas.",
    no_args_is_help=True,
)

# Alembic announces each of its plugins at INFO when imported; keep its migration lines only.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

URL_HELP = (
    "Database URL (sqlite:///path.db or postgresql+psycopg://user@host/db). "
    "Default: BONAS_DATABASE_URL, .env, or sqlite:///./bonas-data/bonas.db."
)


def _url(url: str | None) -> str:
    if url:
        return url
    from service.settings import Settings

    return Settings().database_url


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision; `head` is the newest."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Create the schema in an empty database, or bring an existing one up to REVISION."""
    from service.exceptions import StoreError
    from service.store import migrate, safe_url

    target = _url(url)
    try:
        migrate.upgrade(target, revision)
        typer.echo(f"{safe_url(target)} is at revision {migrate.current(target)}")
    except StoreError as exc:
        raise _fail(exc) from exc


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision; `base` drops every bonas table."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Take the schema back to REVISION (data in dropped tables is lost)."""
    from service.exceptions import StoreError
    from service.store import migrate, safe_url

    target = _url(url)
    try:
        migrate.downgrade(target, revision)
        now = migrate.current(target)
        typer.echo(f"{safe_url(target)} is at revision {now or 'base (no bonas schema)'}")
    except StoreError as exc:
        raise _fail(exc) from exc


@app.command()
def current(url: str | None = typer.Option(None, "--url", help=URL_HELP)) -> None:
    """Show the database's schema revision and the revision this bonas needs."""
    from service.exceptions import StoreError
    from service.store import migrate, safe_url

    target = _url(url)
    try:
        found = migrate.current(target)
        needed = migrate.head()
    except StoreError as exc:
        raise _fail(exc) from exc
    shown = found or "none (no bonas schema)"
    status = "up to date" if found == needed else "run `bonas db upgrade`"
    typer.echo(f"{safe_url(target)}: revision {shown}; head {needed}: {status}")


@app.command()
def check(url: str | None = typer.Option(None, "--url", help=URL_HELP)) -> None:
    """Exit 0 when the database is at head and matches the tables the code declares."""
    from service.exceptions import StoreError
    from service.store import migrate, safe_url

    target = _url(url)
    try:
        migrate.check(target)
    except StoreError as exc:
        raise _fail(exc) from exc
    typer.echo(f"{safe_url(target)}: at head {migrate.head()}, no drift")
