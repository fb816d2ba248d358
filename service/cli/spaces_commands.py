"""`bonas spaces`: list the built-in search spaces (and any user declarations) with their sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def list_spaces(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="User space declarations (JSON or YAML) to check beside the built-ins.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the search spaces: name, size, encoding width and graph size.

    A user declaration given as FILES is validated; a bad one is reported with what is wrong.
    """
    from surrogate.exceptions import SurrogateError
    from surrogate.spaces import BUILTIN_SPACE_NAMES, get_space, load_space_file

    console = Console()
    table = Table(title="bonas search spaces")
    for column in ("name", "kind", "architectures", "code width", "max graph nodes"):
        table.add_column(column, justify="right" if column != "name" else "left")
    spaces = [("built-in", get_space(name)) for name in BUILTIN_SPACE_NAMES]
    failed = False
    for path in files or []:
        try:
            spaces.append((str(path), load_space_file(path)))
        except SurrogateError as error:
            console.print(f"[red]{path}: {error}[/red]")
            failed = True
    for kind, space in spaces:
        size = space.size()
        table.add_row(
            space.name,
            kind,
            f"{size:,}" if size is not None else "unbounded",
            str(space.encoding_width),
            str(space.max_nodes),
        )
    console.print(table)
    if failed:
        raise typer.Exit(code=2)
