"""`bonas worker`: run a worker daemon that leases batches from a controller and evaluates them."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer


def worker(
    server: Annotated[
        str,
        typer.Option(
            "--server", envvar="BONAS_SERVER", help="URL of the controller, e.g. http://host:8000."
        ),
    ],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar="BONAS_WORKER_TOKEN",
            help="Bearer token with the worker role (prefer the environment variable: "
            "command lines are visible to other users).",
        ),
    ],
    device: Annotated[
        str, typer.Option("--device", help="Device to train on: cpu, cuda or cuda:N.")
    ] = "cpu",
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Worker name shown by the controller.", show_default="<host>-<device>"
        ),
    ] = None,
    scratch: Annotated[
        Path | None,
        typer.Option(
            "--scratch",
            help="Base directory for scratch files; each daemon uses its own subdirectory.",
            show_default="~/.cache/bonas/workers",
        ),
    ] = None,
    data_roots: Annotated[
        list[Path] | None,
        typer.Option(
            "--data-root",
            envvar="BONAS_DATA_ROOTS",
            metavar="DIR",
            help="A directory whose tables and datasets searches may name, by paths relative "
            "to it (repeat for several; BONAS_DATA_ROOTS takes them separated by ':'). "
            "Nothing outside these directories is read on a search's behalf.",
            show_default="none: only the file-less digits dataset can be used",
        ),
    ] = None,
    max_batches: Annotated[
        int | None,
        typer.Option("--max-batches", min=1, help="Exit after reporting this many batches."),
    ] = None,
    evaluators: Annotated[
        str | None,
        typer.Option(
            "--evaluators",
            help="Comma-separated evaluator kinds to take (table, weight_sharing, standalone); "
            "batches of other searches are left to other workers.",
            show_default="every kind this installation runs",
        ),
    ] = None,
) -> None:
    """Run one worker daemon (one per GPU): lease a batch, evaluate it, report, repeat.

    SIGTERM or Ctrl-C stops it at the next training step and hands its batch back unreported.
    """
    # Until the daemon installs its own handlers (it releases its lease on a signal), a stop
    # signal during the slow imports below just ends the process cleanly: nothing is held yet.
    signal.signal(signal.SIGTERM, _exit_before_start)
    signal.signal(signal.SIGINT, _exit_before_start)
    from protocol import EvaluatorKind
    from workers.daemon import DaemonOptions, run_daemon

    kinds = None
    if evaluators is not None:
        names = [name.strip() for name in evaluators.split(",") if name.strip()]
        accepted = [kind.value for kind in EvaluatorKind]
        unknown = [name for name in names if name not in accepted]
        if unknown or not names:
            raise typer.BadParameter(
                f"unknown evaluator kinds {unknown}; accepted: {', '.join(accepted)}",
                param_hint="--evaluators",
            )
        kinds = tuple(EvaluatorKind(name) for name in names)
    missing = [str(root) for root in data_roots or () if not root.expanduser().is_dir()]
    if missing:  # checked here, not while parsing, so that a command line parses anywhere
        raise typer.BadParameter(
            f"data roots {missing} are not directories", param_hint="--data-root"
        )
    optional = {
        "scratch_base": scratch,
        "data_roots": tuple(data_roots) if data_roots else None,
        "max_batches": max_batches,
        "evaluators": kinds,
    }
    options = DaemonOptions(
        server=server,
        token=token,
        device=device,
        name=name,
        **{key: value for key, value in optional.items() if value is not None},  # type: ignore[arg-type]
    )
    code = run_daemon(options)
    if code:
        raise typer.Exit(code=code)


def _exit_before_start(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
