"""What the service benchmarks share: a throwaway database, a queued search, `bonas serve`.

`lease_rate.py` and `lease_abuse.py` both measure a real `bonas serve` on a migrated database
of their own that holds one running search with thousands of tiny NAS-Bench-201 batches already
queued, so that workers do nothing but lease and report. The three pieces live here once:

* `throwaway_database(admin_url, prefix)`: creates, migrates and finally drops a database;
* `seed_queued_search(url, ...)`: the running search and its queued batches;
* `serving(url, port, ...)`: `bonas serve` on the loopback interface until the block ends.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.store import (  # noqa: E402
    ArchitectureInput,
    ArchitectureRepository,
    BatchRepository,
    ProposalInfo,
    SearchRepository,
    SearchState,
    normalize_url,
    utcnow,
)
from service.store.migrate import upgrade  # noqa: E402
from surrogate.spaces import get_space  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_POSTGRES_URL = os.environ.get(
    "BONAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def throwaway_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new database on the server of `admin_url`, migrated to head, dropped afterwards.

    Yields:
        The new database's SQLAlchemy URL, as a string.
    """
    admin = normalize_url(admin_url)
    database = admin.set(database=f"{prefix}_{uuid.uuid4().hex[:10]}")
    name = database.database or ""
    with psycopg.connect(_libpq(admin), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = database.render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(_libpq(admin), autocommit=True) as connection:
            connection.execute(drop)


def seed_queued_search(
    session: Any,
    *,
    name: str,
    owner: str,
    batches: int,
    k: int,
    fidelity: str,
    objective: Mapping[str, Any],
) -> int:
    """A running table search of `owner` with `batches` queued batches of `k` NB201 cells.

    The caller owns the transaction (`session` is an open store session).

    Returns:
        The search's id.
    """
    space = get_space("nb201")
    cells = list(itertools.islice(space.enumerate(), batches * k))
    if len(cells) < batches * k:
        raise SystemExit(f"NAS-Bench-201 has only {len(cells)} cells; ask for fewer batches")
    spec = {
        "name": name,
        "space": "nb201",
        "evaluator": {"kind": "table", "path": "unused.csv", "fidelity": fidelity},
        "objective": dict(objective),
        "budget": {"evaluations": batches * k},
        "batch_size": k,
        "batches_in_flight": 64,
        "strategy": {"name": "random"},
    }
    searches = SearchRepository(session)
    search = searches.create(
        name=name,
        owner=owner,
        spec=spec,
        space_spec=space.describe(),
        now=utcnow(),
        budget_evaluations=batches * k,
    )
    searches.transition(search.id, SearchState.RUNNING, now=utcnow())
    items = [
        ArchitectureInput(space.key(c), space.to_json(c), ProposalInfo("initial")) for c in cells
    ]
    added = ArchitectureRepository(session).add_many(search.id, items, now=utcnow())
    ids = [record.id for record, _ in added]
    repository = BatchRepository(session)
    for start in range(0, len(ids), k):
        repository.create(search.id, ids[start : start + k], now=utcnow(), fidelity=fidelity)
    return search.id


@contextmanager
def serving(url: str, port: int, *, lease_seconds: float, log: Path | None = None) -> Iterator[str]:
    """`bonas serve` on `url`, answering on the loopback interface, stopped by SIGTERM after.

    Args:
        url: The (migrated) database.
        port: The port to listen on.
        lease_seconds: The service's lease length.
        log: Where the server's output goes (default: this process's stdout and stderr).

    Yields:
        The API's base URL, ``http://127.0.0.1:<port>``.
    """
    env = {
        **os.environ,
        "BONAS_DATABASE_URL": url,
        "BONAS_LEASE_SECONDS": str(lease_seconds),
        "BONAS_POLL_INTERVAL_S": "0.2",
        "BONAS_DB_POOL_SIZE": "20",
    }
    command = [
        sys.executable,
        "-c",
        "from service.cli.main import main; main()",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    if log is None:
        process = subprocess.Popen(command, env=env, cwd=REPO)
    else:
        print(f"bonas serve logs to {log}")
        with log.open("wb") as handle:
            process = subprocess.Popen(
                command, env=env, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT
            )
    try:
        base = f"http://{HOST}:{port}"
        _wait_until_healthy(process, base)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_healthy(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bonas serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("bonas serve did not answer within 120 s")


def _libpq(url: URL) -> str:
    """A libpq connection string for psycopg from a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
