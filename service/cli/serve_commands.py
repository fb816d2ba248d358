"""`bonas serve`: run the API and the controller loop under uvicorn.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, gives requests in progress
`GRACEFUL_SHUTDOWN_S` to finish (every endpoint answers in well under a second; workers wait
between polls on their side), then runs the app's shutdown, whose controller kills any round in
progress rather than waiting for it: the service exits within a few seconds, and the store keeps
only whole transactions.
"""

from __future__ import annotations

from typing import Annotated

import typer

GRACEFUL_SHUTDOWN_S = 3
"""Seconds uvicorn waits for requests in progress after SIGTERM before it cancels them."""


def serve(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to bind.", show_default="BONAS_HOST or 127.0.0.1"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="Port to bind.", show_default="BONAS_PORT or 8000"
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Database URL (sqlite:///path.db or postgresql+psycopg://user@host/db).",
            show_default="BONAS_DATABASE_URL, .env, or sqlite:///./bonas-data/bonas.db",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn's log level (info, warning, debug).")
    ] = "info",
) -> None:
    """Serve the REST API and run the search loop, until Ctrl-C or SIGTERM.

    The database must be migrated first (`bonas db upgrade`); settings come from BONAS_*
    environment variables or .env, and these options override them.
    """
    import uvicorn
    from pydantic import ValidationError

    from service.app import create_app
    from service.exceptions import StoreError
    from service.settings import Settings
    from service.store import make_engine, safe_url
    from service.store.migrate import ensure_at_head

    overrides = {"host": host, "port": port, "database_url": database_url}
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as error:
        typer.echo(f"error: bad settings: {error}", err=True)
        raise typer.Exit(code=2) from error
    try:  # refuse early, with the fix, rather than from inside uvicorn's lifespan
        engine = make_engine(settings.database_url)
        try:
            ensure_at_head(engine)
        finally:
            engine.dispose()
    except StoreError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(
        f"bonas API on http://{settings.host}:{settings.port} "
        f"(database {safe_url(settings.database_url)})"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
