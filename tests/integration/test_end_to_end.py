"""End to end: ``bonas serve`` and ``bonas worker`` processes, a search submitted over HTTP.

Each test runs on SQLite and on PostgreSQL. The service and the workers are real subprocesses
started with the ``bonas`` command line, talking real HTTP; the test reads the store directly to
check what was stored. A NAS-Bench-201 table evaluator makes every result known in advance: the
shared NB201 CSV when present, otherwise a CSV of the same shape with random values for all
15,625 cells written by the test, so these tests always run.

Faults: a worker killed with SIGKILL in the middle of a batch (the batch is re-leased after its
lease expires and finished by another worker), and the service killed with SIGKILL in the middle
of a search (a restarted service resumes it and completes it with nothing lost or repeated).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from service.store import (
    ArchitectureRepository,
    BatchRepository,
    BatchState,
    EvaluationRepository,
    Role,
    SearchRepository,
    SearchState,
    TokenRepository,
    make_engine,
    session_scope,
    utcnow,
)
from surrogate.spaces import get_space
from surrogate.tables import MetricTable
from tests.support.processes import (
    bonas_env,
    free_port,
    log_tails,
    spawn,
    submit_search,
    wait_until_healthy,
    worker_args,
)
from tests.support.processes import stop as stop_processes
from tests.support.tables import OBJECTIVE, REPORT
from tests.support.tables import nb201_csv as random_or_shared_nb201

pytestmark = pytest.mark.slow

FAST_BONAS = {
    "n_init": 10,
    "pool_size": 300,
    "fit": {"epochs": 20, "warm_epochs": 8, "gcn": {"num_layers": 2, "width": 32}},
}


# --- the table ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nb201_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared NB201 CSV, or an NB201-shaped one with random values for every cell."""
    return random_or_shared_nb201(tmp_path_factory.mktemp("nb201"))


@pytest.fixture(scope="module")
def nb201_table(nb201_csv: Path) -> MetricTable[Any]:
    return MetricTable.from_csv(nb201_csv, get_space("nb201"))


def table_spec(path: Path, budget: int, **overrides: Any) -> dict[str, Any]:
    """A table search naming `path` by its file name (workers get its folder as data root)."""
    spec: dict[str, Any] = {
        "name": "e2e-nb201",
        "space": "nb201",
        "evaluator": {"kind": "table", "path": path.name, "report_columns": [REPORT]},
        "objective": {"metric": OBJECTIVE},
        "budget": {"evaluations": budget},
        "batch_size": 5,
        "batches_in_flight": 2,
        "strategy": {"name": "bonas", "options": FAST_BONAS},
        "seed": 3,
    }
    spec.update(overrides)
    return spec


# --- processes ----------------------------------------------------------------------------------


@dataclass
class Deployment:
    """A service process, its workers and tokens, on one database."""

    url: str
    workdir: Path
    lease_seconds: float
    port: int = field(default_factory=free_port)
    service: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    user_token: str = ""
    worker_token: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_tokens(self) -> None:
        engine = make_engine(self.url)
        try:
            with session_scope(engine) as session:
                tokens = TokenRepository(session)
                _, self.user_token = tokens.create(role=Role.USER, owner="alice", now=utcnow())
                # alice's own workers: a worker token serves the searches of its owner
                _, self.worker_token = tokens.create(role=Role.WORKER, owner="alice", now=utcnow())
        finally:
            engine.dispose()

    def start_service(self, timeout_s: float = 120.0) -> None:
        env = bonas_env(
            BONAS_DATABASE_URL=self.url,
            BONAS_HOST="127.0.0.1",
            BONAS_PORT=str(self.port),
            BONAS_LEASE_SECONDS=str(self.lease_seconds),
            BONAS_REAP_INTERVAL_S="0.5",
            BONAS_MAX_ATTEMPTS="3",
        )
        log = self.workdir / f"service-{time.monotonic_ns()}.log"
        self.service = spawn(["serve"], env, self.workdir, log)
        wait_until_healthy(self.service, self.base, self.logs, timeout_s)

    def start_worker(self, name: str, data_root: Path | None = None) -> subprocess.Popen[bytes]:
        env = bonas_env(BONAS_WORKER_TOKEN=self.worker_token)
        roots = ("--data-root", str(data_root)) if data_root else ()
        args = worker_args(self.base, name, self.workdir / "scratch", *roots)
        process = spawn(args, env, self.workdir, self.workdir / f"{name}.log")
        self.workers[name] = process
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def stop(self) -> None:
        stop_processes([*self.workers.values(), self.service])

    def submit(self, spec: dict[str, Any]) -> int:
        return submit_search(self.base, self.user_token, spec, timeout_s=30)

    def logs(self) -> str:
        return log_tails(self.workdir)


@pytest.fixture
def deployment(migrated_url: str, tmp_path: Path) -> Iterator[Deployment]:
    deployed = Deployment(migrated_url, tmp_path, lease_seconds=30.0)
    deployed.create_tokens()
    try:
        yield deployed
    finally:
        deployed.stop()


@pytest.fixture
def store(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    try:
        yield engine
    finally:
        engine.dispose()


def wait_for(
    probe: Callable[[], Any], what: str, deployment: Deployment, timeout_s: float = 240.0
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{deployment.logs()}")


def search_state(engine: Engine, search_id: int) -> SearchState:
    with session_scope(engine, read_only=True) as session:
        return SearchRepository(session).get(search_id).state


def evaluation_count(engine: Engine, search_id: int) -> int:
    with session_scope(engine, read_only=True) as session:
        return EvaluationRepository(session).count(search_id)


def check_results(
    engine: Engine, search_id: int, table: MetricTable[Any], budget: int
) -> dict[str, Any]:
    """The search completed its budget; every result is the table's; nothing evaluated twice."""
    with session_scope(engine, read_only=True) as session:
        search = SearchRepository(session).get(search_id)
        observations = EvaluationRepository(session).observations(search_id)
        keys = [
            v.architecture.key
            for v in ArchitectureRepository(session).list(search_id, limit=1000).items
        ]
        batches = BatchRepository(session).list(search_id)
    assert search.state == SearchState.COMPLETED, search.finished_reason
    assert search.finished_reason == f"evaluation budget reached: {budget} of {budget} evaluations"
    assert len(observations) == budget
    evaluated = [o.architecture.key for o in observations]
    assert len(set(evaluated)) == budget
    assert len(keys) == len(set(keys))
    for item in observations:
        row = table.metrics_by_key(item.architecture.key)
        assert item.evaluation.objective == pytest.approx(row[OBJECTIVE], abs=1e-9)
        assert item.evaluation.metrics[REPORT] == pytest.approx(row[REPORT], abs=1e-9)
    return {"batches": batches, "observations": observations}


# --- tests --------------------------------------------------------------------------------------


def test_table_search_over_http_with_two_workers(
    deployment: Deployment, store: Engine, nb201_csv: Path, nb201_table: MetricTable[Any]
) -> None:
    deployment.start_service()
    deployment.start_worker("w1", nb201_csv.parent)
    deployment.start_worker("w2", nb201_csv.parent)
    budget = 40
    search_id = deployment.submit(table_spec(nb201_csv, budget))

    wait_for(lambda: search_state(store, search_id).terminal, "the search to finish", deployment)

    found = check_results(store, search_id, nb201_table, budget)
    workers = {o.evaluation.worker_id for o in found["observations"]}
    assert len(workers) == 2, "both workers took batches"
    versions = {o.architecture.proposal.surrogate_version for o in found["observations"]}
    assert len(versions - {None}) >= 2, "the surrogate proposed batches after the initial ones"


def test_a_worker_killed_mid_batch_loses_its_batch_to_another(
    migrated_url: str, tmp_path: Path, store: Engine
) -> None:
    deployment = Deployment(migrated_url, tmp_path, lease_seconds=4.0)
    deployment.create_tokens()
    try:
        deployment.start_service()
        doomed = deployment.start_worker("doomed")
        spec = {
            "name": "e2e-kill-worker",
            "space": "nb201",
            "evaluator": {
                "kind": "weight_sharing",
                "dataset": {"name": "digits"},
                "train": {"epochs": 1, "warmup_epochs": 0, "steps_per_member": 40, "channels": 4},
            },
            "budget": {"evaluations": 6},
            "batch_size": 3,
            "strategy": {"name": "random"},
        }
        search_id = deployment.submit(spec)

        def leased() -> int | None:
            with session_scope(store, read_only=True) as session:
                held = BatchRepository(session).list(search_id, states=[BatchState.LEASED])
            return held[0].id if held else None

        batch_id = wait_for(leased, "the first lease", deployment)
        deployment.kill(doomed)  # mid-batch: leased, not reported
        deployment.start_worker("rescuer")

        wait_for(
            lambda: search_state(store, search_id).terminal, "the search to finish", deployment
        )
        with session_scope(store, read_only=True) as session:
            batch = BatchRepository(session).get(batch_id)
            views = ArchitectureRepository(session).views(batch.member_ids)
            total = EvaluationRepository(session).count(search_id)
        assert search_state(store, search_id) == SearchState.COMPLETED
        assert batch.state == BatchState.DONE and batch.attempts == 2
        assert batch.failure_reason is not None and "expired" in batch.failure_reason
        for view in views:
            (result,) = view.evaluations  # exactly one result per member
            assert result.attempt == 2 and result.objective is not None
        assert total == 6
    finally:
        deployment.stop()


def test_a_killed_service_restarts_and_completes_with_nothing_lost(
    deployment: Deployment, store: Engine, nb201_csv: Path, nb201_table: MetricTable[Any]
) -> None:
    deployment.start_service()
    deployment.start_worker("w1", nb201_csv.parent)
    deployment.start_worker("w2", nb201_csv.parent)
    budget = 40
    search_id = deployment.submit(table_spec(nb201_csv, budget))
    wait_for(lambda: evaluation_count(store, search_id) >= 15, "15 results", deployment)
    assert deployment.service is not None

    deployment.kill(deployment.service)
    before = evaluation_count(store, search_id)
    assert search_state(store, search_id) == SearchState.RUNNING
    deployment.start_service()  # same database, same port: the workers reconnect

    wait_for(lambda: search_state(store, search_id).terminal, "the search to finish", deployment)
    found = check_results(store, search_id, nb201_table, budget)
    assert len(found["observations"]) >= before
    assert all(b.state in (BatchState.DONE, BatchState.CANCELLED) for b in found["batches"])
