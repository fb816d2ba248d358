"""Entry point of the `bonas` command: one Typer app, one module per command group.

Command modules import their heavy dependencies (torch, SQLAlchemy, uvicorn) inside the command
functions, so that `bonas --help` answers at once.
"""

from __future__ import annotations

import logging

import typer

from service.cli import (
    bench_commands,
    client_commands,
    db_commands,
    demo_commands,
    pool_commands,
    serve_commands,
    spaces_commands,
    worker_commands,
)

app = typer.Typer(
    name="bonas",
    help="Neural architecture search by Bayesian optimisation, as a service.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(bench_commands.app, name="bench")
app.add_typer(pool_commands.app, name="pool")
app.command(name="spaces")(spaces_commands.list_spaces)
app.command(name="worker")(worker_commands.worker)
app.command(name="serve")(serve_commands.serve)
client_commands.register(app)
app.command(name="demo", help=demo_commands.HELP)(demo_commands.demo)


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    app()
