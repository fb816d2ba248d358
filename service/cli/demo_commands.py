"""`bonas demo`: the whole product on one machine, in a few minutes, with nothing to download.

The demo starts the service on a SQLite file under ``./bonas-data/``, migrates it, creates a user
token and a worker token, starts one local worker process (``bonas worker``), submits a real
NAS-Bench-201 search, shows its progress, and ends by printing the best architecture found.

* Default: weight-sharing training on scikit-learn's digits (bundled with scikit-learn, so no
  files are needed): every batch of 8 NB201 cells is trained jointly in one super-network on
  the CPU, and each cell is ranked by its accuracy on a held-out validation split.
* ``--table PATH``: the same search against a NAS-Bench-201 CSV (a table evaluator: each
  "evaluation" is a lookup), the way the benchmark results of the project are produced. The
  CSV's folder becomes the data root of the worker and of the service, and the search names
  the table by its file name, as any search must (see `workers.data_roots`).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from service.schemas import SearchOut

DEMO_DB = "demo.db"
NB201_OBJECTIVE = "cifar10valid_val_200ep_1seed"
NB201_REPORT = "cifar10_test_200ep"
TERMINAL_STATES = ("completed", "cancelled", "failed")

HELP = "\n\n".join(
    (
        "Run a complete NAS-Bench-201 search on this machine and print the best cell.",
        "Starts the service on SQLite under ./bonas-data (a fresh database file each run unless "
        "--keep), one local worker process, and a BONAS search of NB201 cells on scikit-learn's "
        "digits with weight-sharing training: 64 evaluations in batches of 8 (20 epochs per "
        "batch, two batches in flight). On a 2-core CPU it takes 1 to 3 minutes; a "
        "7-minute wall-time budget guarantees that it ends well under 10. It prints the best "
        "cell (its NB201 string), its validation accuracy and the dashboard URL.",
        "With --table PATH the search looks cells up in a NAS-Bench-201 CSV instead (100 "
        "evaluations, objective cifar10valid_val_200ep_1seed, test accuracy shown beside it); "
        "about a minute.",
    )
)


@dataclass(frozen=True)
class DemoPlan:
    """What the demo runs: the search spec and how long to wait for it."""

    spec: dict[str, Any]
    budget: int
    timeout_s: float
    metric_label: str
    report_column: str | None = None


def demo(
    table: Annotated[
        Path | None,
        typer.Option(
            "--table",
            help="A NAS-Bench-201 CSV (e.g. ../shared/data/nasbench201/nb201_cifar10.csv): "
            "run a table-evaluator search on it instead of training.",
            exists=True,
            dir_okay=False,
            readable=True,
            resolve_path=True,
        ),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the database and logs go.")
    ] = Path("bonas-data"),
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep the previous demo database instead of starting afresh."),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="API port (0: a free one).")
    ] = 0,
    budget: Annotated[
        int | None,
        typer.Option("--budget", min=1, help="Evaluations (default 64, or 100 with --table)."),
    ] = None,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="Training epochs per batch (weight sharing).")
    ] = 20,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the search.")] = 0,
    stay: Annotated[
        bool,
        typer.Option("--stay", help="Keep serving the dashboard after the search, until Ctrl-C."),
    ] = False,
) -> None:
    from rich.console import Console

    console = Console()
    plan = table_plan(table, budget, seed) if table else training_plan(budget, epochs, seed)
    data_roots = [table.parent] if table else []
    _quiet_logs()
    data_dir = data_dir.resolve()
    url = _prepare_database(data_dir, keep)
    user_token, worker_token = _create_tokens(url)
    settings = _settings(url, port or _free_port(), data_roots)
    console.print(f"[bold]bonas demo[/bold]: service on {settings.host}:{settings.port}, {url}")
    server = _start_server(settings)
    base = f"http://{settings.host}:{settings.port}"
    worker = _start_worker(base, worker_token, data_dir, data_roots)
    try:
        search = _run_search(console, base, user_token, plan, worker, data_dir)
        _print_result(console, base, search, plan)
        console.print(f"Dashboard token (user role): {user_token}", markup=False)
        if stay:
            console.print("Serving the dashboard until Ctrl-C.")
        else:
            console.print(
                "(The service stops now; run again with --keep --stay, or serve this database "
                f"with `BONAS_DATABASE_URL={url} bonas serve`, to browse it.)",
                markup=False,
            )
        if stay:
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
    finally:
        _stop_worker(worker)
        server.stop()


demo.__doc__ = HELP


# --- plans ----------------------------------------------------------------------------------------


def training_plan(budget: int | None, epochs: int, seed: int) -> DemoPlan:
    """The default demo: weight sharing on digits, sized for a 2-core CPU."""
    evaluations = budget or 64
    batch = min(8, evaluations)
    spec = {
        "name": "demo-nb201-digits",
        "space": "nb201",
        "evaluator": {
            "kind": "weight_sharing",
            "dataset": {"name": "digits"},
            "train": {"epochs": epochs, "warmup_epochs": 2},
        },
        "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "budget": {"evaluations": evaluations, "wall_seconds": 420.0},
        "batch_size": batch,
        "batches_in_flight": 2,
        "strategy": _bonas(batch),
        "seed": seed,
    }
    return DemoPlan(spec, evaluations, timeout_s=540.0, metric_label="validation accuracy")


def table_plan(table: Path, budget: int | None, seed: int) -> DemoPlan:
    """The second example: the same search against a NAS-Bench-201 table.

    The spec names the table by its file name: the demo makes the table's folder the data
    root of its worker and of its service.

    Raises:
        typer.BadParameter: The CSV lacks the NAS-Bench-201 columns the search needs.
    """
    with table.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    missing = [c for c in ("arch_str", NB201_OBJECTIVE) if c not in header]
    if missing:
        raise typer.BadParameter(
            f"{table} lacks the NAS-Bench-201 column(s) {missing}; expected a CSV with arch_str "
            f"and {NB201_OBJECTIVE} (and optionally {NB201_REPORT})",
            param_hint="--table",
        )
    report = NB201_REPORT if NB201_REPORT in header else None
    evaluations = budget or 100
    batch = min(10, evaluations)
    spec = {
        "name": "demo-nb201-table",
        "space": "nb201",
        "evaluator": {
            "kind": "table",
            "path": table.name,
            "report_columns": [NB201_OBJECTIVE, *([report] if report else [])],
        },
        "objective": {"metric": NB201_OBJECTIVE, "goal": "maximize"},
        "budget": {"evaluations": evaluations},
        "batch_size": batch,
        "batches_in_flight": 1,
        "strategy": _bonas(batch),
        "seed": seed,
    }
    return DemoPlan(spec, evaluations, 540.0, "validation accuracy (200 epochs)", report)


def _bonas(batch: int) -> dict[str, Any]:
    """BONAS with a smaller pool and shorter fits than the defaults, to suit a small CPU."""
    return {
        "name": "bonas",
        "acquisition": "ucb",
        "samplers": {"uniform": 1, "mutation": 1},
        "options": {
            "n_init": batch,
            "pool_size": 2000,
            "fit": {"epochs": 60, "warm_epochs": 20},
        },
    }


# --- the service and the worker -------------------------------------------------------------------


def _quiet_logs() -> None:
    """Keep the progress bar readable: only warnings from the service's loggers."""
    for name in (
        "service",
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "workers",
        "httpx",
        "alembic",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def _prepare_database(data_dir: Path, keep: bool) -> str:
    from service.store.migrate import upgrade

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DEMO_DB
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


def _create_tokens(url: str) -> tuple[str, str]:
    from service.store import Role, TokenRepository, make_engine, session_scope, utcnow

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            tokens = TokenRepository(session)
            _, user = tokens.create(role=Role.USER, owner="demo", now=utcnow(), label="demo user")
            _, worker = tokens.create(
                # Owned by the demo user: a worker serves the searches of its token's owner.
                role=Role.WORKER,
                owner="demo",
                now=utcnow(),
                label="demo worker",
            )
    finally:
        engine.dispose()
    return user, worker


def _settings(url: str, port: int, data_roots: list[Path]) -> Any:
    from service.settings import Settings

    return Settings(
        database_url=url, host="127.0.0.1", port=port, lease_seconds=60.0, data_roots=data_roots
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    """The app under uvicorn in a background thread of this process."""

    def __init__(self, settings: Any) -> None:
        import uvicorn

        from service.app import create_app

        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="bonas-api")

    def start(self, timeout_s: float = 60.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise typer.Exit(_fail("the service did not start; see the messages above"))
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)


def _start_server(settings: Any) -> _Server:
    server = _Server(settings)
    server.start()
    return server


def _start_worker(
    base: str, token: str, data_dir: Path, data_roots: list[Path]
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BONAS_WORKER_TOKEN": token}
    env.pop("BONAS_DATA_ROOTS", None)  # the demo's roots are exactly the ones given below
    command = [
        sys.executable,
        "-c",
        "from service.cli.main import main; main()",
        "worker",
        "--server",
        base,
        "--device",
        "cpu",
        "--name",
        "demo-worker",
        "--scratch",
        str(data_dir / "scratch"),
        *(arg for root in data_roots for arg in ("--data-root", str(root))),
    ]
    with (data_dir / "worker.log").open("wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


# --- the search ----------------------------------------------------------------------------------


def _run_search(
    console: Any,
    base: str,
    token: str,
    plan: DemoPlan,
    worker: subprocess.Popen[bytes],
    data_dir: Path,
) -> SearchOut:
    """Submit the plan's search through the client and follow it to the end with a progress bar.

    The loop is the client's `wait`, plus a watch on the worker process: if it dies, the demo
    says so at once instead of waiting for a search that cannot progress.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from service.client import BonasApiError, BonasClient

    with BonasClient(base, token) as client:
        try:
            search = client.submit(plan.spec)
        except BonasApiError as error:
            raise typer.Exit(_fail(f"the search was refused: {error}")) from error
        started = time.monotonic()
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("evaluations", total=plan.budget, status="starting")
            while search.state.value not in TERMINAL_STATES:
                if worker.poll() is not None:
                    log = data_dir / "worker.log"
                    raise typer.Exit(_fail(f"the worker exited ({worker.returncode}); see {log}"))
                if time.monotonic() - started > plan.timeout_s:
                    client.cancel(search.id)
                    raise typer.Exit(_fail(f"the search took over {plan.timeout_s:.0f} s"))
                time.sleep(1.0)
                search = client.get(search.id)
                progress.update(task, completed=search.counts.done, status=_status(search))
    return search


def _status(search: SearchOut) -> str:
    flight = search.counts.in_flight + search.counts.queued
    best = search.best.objective if search.best is not None else None
    shown = "best -" if best is None else f"best {best:.2f}"
    return f"in flight {flight}  {shown}"


def _print_result(console: Any, base: str, search: SearchOut, plan: DemoPlan) -> None:
    console.print(f"Search {search.id} {search.state.value}: {search.finished_reason or ''}")
    best = search.best
    if best is None or best.objective is None:
        raise typer.Exit(_fail("no architecture was evaluated"))
    cell = best.arch.get("cell", best.arch) if isinstance(best.arch, dict) else best.arch
    console.print("[bold]Best architecture[/bold]:")
    console.print(str(cell), markup=False, highlight=False, soft_wrap=True)
    console.print(f"{plan.metric_label}: {best.objective:.2f}")
    if plan.report_column:
        metrics = best.evaluations[-1].metrics if best.evaluations else {}
        if plan.report_column in metrics:
            console.print(f"{plan.report_column}: {float(metrics[plan.report_column]):.2f}")
    console.print(f"Dashboard: {base}/#search={search.id}")


def _fail(message: str) -> int:
    typer.echo(f"bonas demo: {message}", err=True)
    return 1
