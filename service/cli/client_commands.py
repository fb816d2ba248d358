"""`bonas submit`, `bonas status`, `bonas best`, `bonas pareto` (over HTTP) and `bonas token ...`
(on the database).

The HTTP commands use `service.client.BonasClient` with ``--server`` (BONAS_SERVER) and
``--token`` (BONAS_TOKEN). The token commands write to the database directly, so the first token
of a deployment can be made before anyone can authenticate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from service.client import BonasClient
    from service.schemas import ArchitectureOut, SearchOut

Server = Annotated[
    str,
    typer.Option(
        "--server", envvar="BONAS_SERVER", help="URL of the bonas service.", show_envvar=True
    ),
]
Token = Annotated[
    str,
    typer.Option(
        "--token",
        envvar="BONAS_TOKEN",
        help="API token (prefer the environment variable: command lines are visible to others).",
        show_envvar=True,
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database URL.",
        show_default="BONAS_DATABASE_URL, .env, or sqlite:///./bonas-data/bonas.db",
    ),
]
DEFAULT_SERVER = "http://127.0.0.1:8000"
T = TypeVar("T")

token_app = typer.Typer(help="Create, list and revoke API tokens (on the database).")


def register(app: typer.Typer) -> None:
    """Add these commands to the `bonas` app."""
    app.command(name="submit")(submit)
    app.command(name="status")(status)
    app.command(name="best")(best)
    app.command(name="pareto")(pareto)
    app.add_typer(token_app, name="token")


def submit(
    spec: Annotated[Path, typer.Argument(help="Search spec (YAML or JSON).", exists=True)],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the search until it ends.")] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.1, help="Seconds between polls.")] = 2.0,
    server: Server = DEFAULT_SERVER,
    token: Token = "",
) -> None:
    """Submit a search; with --wait, show its progress and end with the best architecture."""
    from service.client import load_spec_file

    console = Console()
    try:
        body = load_spec_file(spec)
    except (OSError, ValueError) as error:
        _fail(str(error))
    with _client(server, token) as client:
        search = _api(lambda: client.submit(body))
        console.print(f"submitted search [bold]{search.id}[/bold] ({escape(search.name)})")
        if not wait:
            return
        final = _api(lambda: client.wait(search.id, poll_s=poll, console=console))
    _show_search(console, final)
    if final.state.value != "completed":
        raise typer.Exit(code=1)


def status(
    search_id: Annotated[
        int | None, typer.Argument(help="A search; without it, list the searches.")
    ] = None,
    server: Server = DEFAULT_SERVER,
    token: Token = "",
) -> None:
    """Show one search (state, counts, budget, best) or list the searches."""
    console = Console()
    with _client(server, token) as client:
        if search_id is not None:
            _show_search(console, _api(lambda: client.get(search_id)))
            return
        page = _api(lambda: client.searches(limit=100))
    table = Table(title=f"searches ({page.total})")
    for column in ("id", "name", "owner", "state", "done", "in flight", "budget", "best"):
        table.add_column(column)
    for search in page.items:
        best = search.best.objective if search.best is not None else None
        table.add_row(
            str(search.id),
            search.name,
            search.owner,
            search.state.value,
            str(search.counts.done),
            str(search.counts.in_flight + search.counts.queued),
            str(search.budget.evaluations or "-"),
            "-" if best is None else f"{best:.4g}",
        )
    console.print(table)


def best(
    search_id: Annotated[int, typer.Argument(help="The search.")],
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write it to FILE: .json genotype, .pt TorchScript, .pth state dict.",
        ),
    ] = None,
    server: Server = DEFAULT_SERVER,
    token: Token = "",
) -> None:
    """Print the best architecture of a search; --export writes it to a file."""
    console = Console()
    with _client(server, token) as client:
        search = _api(lambda: client.get(search_id))
        found = _api(lambda: client.best(search_id))
        if found is None:
            _fail(f"search {search_id} has no measured architecture yet")
        _show_architecture(console, found, metric=search.objective)
        if export is not None:
            try:
                written = _api(lambda: client.export(search_id, export))
            except ValueError as error:
                _fail(str(error))
            console.print(f"written to {written}", soft_wrap=True)


def pareto(
    search_id: Annotated[int, typer.Argument(help="The search.")],
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write the front point --architecture names to FILE."),
    ] = None,
    architecture: Annotated[
        int | None, typer.Option("--architecture", help="The front point to export (its id).")
    ] = None,
    server: Server = DEFAULT_SERVER,
    token: Token = "",
) -> None:
    """Print the Pareto front of a search and its hypervolume; --export writes one point."""
    console = Console()
    with _client(server, token) as client:
        answer = _api(lambda: client.pareto(search_id))
        table = Table(title=f"Pareto front of search {search_id} ({len(answer.front)})")
        for column in ("id", "key", *(f"{o.metric} ({o.goal[:3]})" for o in answer.objectives)):
            table.add_column(column)
        for point in answer.front:
            values = ("-" if v is None else f"{v:.6g}" for v in point.values)
            table.add_row(str(point.architecture_id), point.key, *values)
        console.print(table)
        if answer.hypervolume:
            console.print(
                f"hypervolume after {len(answer.hypervolume)} results: {answer.hypervolume[-1]:.6g}"
            )
        if answer.note:
            console.print(escape(answer.note))
        if export is not None:
            if architecture is None:
                _fail("--export needs --architecture ID (one of the ids above)")
            try:
                written = _api(
                    lambda: client.export(search_id, export, architecture_id=architecture)
                )
            except ValueError as error:
                _fail(str(error))
            console.print(f"written to {written}", soft_wrap=True)


@token_app.command("create")
def create_token(
    role: Annotated[str, typer.Option("--role", help="admin, user or worker.")],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            "--owner",
            help="Owner the token acts for (a worker token: the user it serves).",
        ),
    ] = None,
    pool: Annotated[
        str | None,
        typer.Option(
            "--pool",
            help="Worker tokens: the pool the token belongs to (grant it with `bonas pool grant`).",
        ),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A note.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a token and print its secret (shown this once).

    A worker token serves one owner (``--owner alice``) or one pool (``--pool gpu-farm``, which
    serves the users an admin grants it to); it leases no other user's batches.
    """
    from service.store import Role, TokenRepository, session_scope, utcnow

    roles = [r.value for r in Role]
    if role not in roles:
        _fail(f"unknown role {role!r}; choose one of {', '.join(roles)}")
    if pool is not None and role != Role.WORKER.value:
        _fail("--pool is for worker tokens only; give users and admins --owner")
    if (name is None) == (pool is None):
        _fail("give exactly one of --owner (or --name) and --pool")
    name = name if pool is None else pool
    assert name is not None
    if not name.strip():
        _fail("the owner or pool name must not be empty")
    engine = _engine(database_url)
    try:
        with session_scope(engine) as session:
            record, secret = TokenRepository(session).create(
                role=Role(role), owner=name, label=label, now=utcnow()
            )
    finally:
        engine.dispose()
    typer.echo(secret)
    typer.echo(
        f"token {record.id} ({record.role.value} for {record.owner}) created; "
        "the secret above is not stored and cannot be shown again",
        err=True,
    )


@token_app.command("list")
def list_tokens(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List tokens (never their secrets)."""
    from service.store import TokenRepository, session_scope

    engine = _engine(database_url)
    try:
        with session_scope(engine, read_only=True) as session:
            records = TokenRepository(session).list(include_revoked=include_revoked)
    finally:
        engine.dispose()
    table = Table(title="tokens")
    for column in ("id", "prefix", "role", "owner", "label", "created", "revoked"):
        table.add_column(column)
    for r in records:
        table.add_row(
            str(r.id),
            r.prefix + "...",
            r.role.value,
            r.owner,
            r.label or "",
            r.created_at.isoformat(timespec="seconds"),
            r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "",
        )
    Console().print(table)


@token_app.command("revoke")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="The token's id (from `bonas token list`).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token at once."""
    from service.exceptions import NotFoundError
    from service.store import TokenRepository, session_scope, utcnow

    engine = _engine(database_url)
    try:
        with session_scope(engine) as session:
            record = TokenRepository(session).revoke(token_id, now=utcnow())
    except NotFoundError as error:
        _fail(str(error))
    finally:
        engine.dispose()
    typer.echo(f"token {record.id} ({record.owner}) revoked")


# --- helpers ---------------------------------------------------------------------------------


def _client(server: str, token: str) -> BonasClient:
    from service.client import BonasClient

    if not token:
        _fail("no token: pass --token or set BONAS_TOKEN (make one with `bonas token create`)")
    return BonasClient(server, token)


def _api(call: Callable[[], T]) -> T:
    """Run a client call; a refusal or an unreachable server ends the command with its message."""
    from service.client import BonasApiError

    try:
        return call()
    except BonasApiError as error:
        _fail(str(error))


def _engine(database_url: str | None) -> Engine:
    from service.exceptions import StoreError
    from service.settings import Settings
    from service.store import make_engine
    from service.store.migrate import ensure_at_head

    try:
        engine = make_engine(database_url or Settings().database_url)
        ensure_at_head(engine)
    except StoreError as error:
        _fail(str(error))
    return engine


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _show_search(console: Console, search: SearchOut) -> None:
    counts, budget = search.counts, search.budget
    console.print(
        f"[bold]search {search.id}[/bold] {escape(search.name)} ({escape(search.owner)}): "
        f"{search.state.value}"
    )
    if search.finished_reason:
        console.print(f"  finished: {escape(search.finished_reason)}", soft_wrap=True)
    limit = f" of {budget.evaluations}" if budget.evaluations else ""
    console.print(
        f"  evaluations: {counts.done}{limit}; in flight {counts.in_flight}, "
        f"queued {counts.queued}, failed {counts.failed}"
    )
    if budget.wall_seconds_used is not None:
        console.print(f"  running for {budget.wall_seconds_used:.0f} s")
    if search.best is not None:
        _show_architecture(console, search.best, metric=search.objective)


def _show_architecture(
    console: Console, architecture: ArchitectureOut, metric: str = "objective"
) -> None:
    value = architecture.objective
    shown = "-" if value is None else f"{value:.6g}"
    console.print(f"  best: [bold]{escape(architecture.key)}[/bold]", soft_wrap=True)
    console.print(f"  {metric}: {shown}")
    if architecture.evaluations:
        metrics = architecture.evaluations[-1].metrics
        listed = ", ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(metrics.items())
        )
        console.print(f"  metrics: {listed}", soft_wrap=True)
