"""`bonas pool grant|revoke|list`: which users a worker pool serves (on the database).

A worker token created with ``--pool NAME`` leases only batches of searches whose owner was
granted to ``NAME`` (see `service.store.repositories.pools`). Like the token commands these
write to the database directly, so they work before any admin token exists.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from service.cli.client_commands import DatabaseUrl, _engine, _fail

app = typer.Typer(help="Grant worker pools to users (on the database).", no_args_is_help=True)

Pool = Annotated[str, typer.Argument(help="The pool (a worker token's --pool).")]
Owner = Annotated[str, typer.Argument(help="The user whose searches the pool serves.")]


@app.command("grant")
def grant(pool: Pool, owner: Owner, database_url: DatabaseUrl = None) -> None:
    """Let the pool's workers lease the user's batches."""
    from service.store import PoolRepository, session_scope, utcnow

    engine = _engine(database_url)
    try:
        with session_scope(engine) as session:
            PoolRepository(session).grant(pool, owner, now=utcnow())
    except ValueError as error:
        _fail(str(error))
    finally:
        engine.dispose()
    typer.echo(f"pool {pool} now serves {owner}")


@app.command("revoke")
def revoke(pool: Pool, owner: Owner, database_url: DatabaseUrl = None) -> None:
    """Stop the pool's workers from leasing the user's batches (held leases run to their end)."""
    from service.store import PoolRepository, session_scope

    engine = _engine(database_url)
    try:
        with session_scope(engine) as session:
            existed = PoolRepository(session).revoke(pool, owner)
    finally:
        engine.dispose()
    if not existed:
        _fail(f"pool {pool!r} is not granted to {owner!r}; `bonas pool list` shows the grants")
    typer.echo(f"pool {pool} no longer serves {owner}")


@app.command("list")
def list_grants(
    pool: Annotated[str | None, typer.Option("--pool", help="Only this pool.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List the grants, by pool then user."""
    from service.store import PoolRepository, session_scope

    engine = _engine(database_url)
    try:
        with session_scope(engine, read_only=True) as session:
            grants = PoolRepository(session).list(pool=pool)
    finally:
        engine.dispose()
    table = Table(title="pool grants")
    for column in ("pool", "owner", "granted"):
        table.add_column(column)
    for g in grants:
        table.add_row(g.pool, g.owner, g.granted_at.isoformat(timespec="seconds"))
    Console().print(table)
