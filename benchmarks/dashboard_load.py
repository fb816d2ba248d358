"""Load check of the dashboard: its API calls timed on a search with 10,000 evaluations.

A search is written straight into a fresh SQLite store the way the controller and the workers
would have left it: NB201 architectures proposed in batches of 10 (the first batches random,
the others with a surrogate prediction and a snapshot per version, whose fit metrics hold the
per-version taus like the controller's), each batch leased and reported through the lease
protocol with the benchmark table's values, a few thousand events, four workers, one batch
leased with progress. The service then runs under uvicorn on a free port, and every call the
dashboard makes is timed over real HTTP: the first (cold) call, then the median and 95th
percentile over repeats. Last, what the page does after each reported batch is timed: a new
batch is reported, then the six panel calls are made in parallel, as the page makes them.

    python benchmarks/dashboard_load.py                 # 10,000 evaluations, 30 repeats
    python benchmarks/dashboard_load.py --evaluations 2000 --repeats 10

The NB201 table is read from ../shared/data beside the checkout when present; otherwise a table
of the same shape with random values is written to the work directory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import uvicorn  # noqa: E402

from service.app import create_app  # noqa: E402
from service.events import (  # noqa: E402
    BatchLeased,
    BatchProposed,
    BatchReported,
    SurrogateFitted,
)
from service.search_spec import SearchSpec  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.store import (  # noqa: E402
    ArchitectureInput,
    ArchitectureRepository,
    BatchRepository,
    EvaluationInput,
    EventRepository,
    ProposalInfo,
    Role,
    SurrogateSnapshotRepository,
    TokenRepository,
    WorkerRepository,
    make_engine,
    session_scope,
    utcnow,
)
from service.store.migrate import upgrade  # noqa: E402
from surrogate.spaces import get_space  # noqa: E402
from surrogate.tables import MetricTable  # noqa: E402
from tests.support.processes import free_port  # noqa: E402
from tests.support.store import start_search  # noqa: E402
from tests.support.tables import OBJECTIVE, REPORTED, nb201_csv  # noqa: E402

BATCH = 10
INITIAL_BATCHES = 10


class LoadSearch:
    """A search written straight into the store, batch by batch, as the service would leave it.

    Args:
        url: The (migrated) database.
        table_path: The NB201 table whose values the results take.
        evaluations: The search's budget.
        seed: Orders the architectures and draws the predictions.
    """

    def __init__(self, url: str, table_path: Path, evaluations: int, seed: int = 0) -> None:
        self.space = get_space("nb201")
        self.table = MetricTable.from_csv(table_path, self.space)
        spec = SearchSpec.model_validate(
            {
                "name": f"load-{evaluations}",
                "space": "nb201",
                "evaluator": {"kind": "table", "path": table_path.name, "report_columns": REPORTED},
                "objective": {"metric": OBJECTIVE},
                "budget": {"evaluations": evaluations},
                "batch_size": BATCH,
                "batches_in_flight": 2,
            }
        )
        self.rng = np.random.default_rng(seed)
        archs = list(self.space.enumerate())
        self.archs = [archs[i] for i in self.rng.permutation(len(archs))]
        self.batches = 0
        self.by_version: dict[str, Any] = {}
        self.engine = make_engine(url)
        now = utcnow()
        with session_scope(self.engine) as session:
            search_id = start_search(session, spec, now)
            self.workers = [
                WorkerRepository(session)
                .register(
                    f"gpu-{i}",
                    capabilities={
                        "device": f"cuda:{i}",
                        "hostname": "node1",
                        "evaluators": ["table"],
                    },
                    now=now,
                )
                .id
                for i in range(4)
            ]
            _, self.token = TokenRepository(session).create(role=Role.USER, owner="alice", now=now)
        self.search_id = search_id

    def add_batch(self, stage: str = "reported") -> None:
        """Propose a batch (with a new surrogate version after the initial ones); then lease
        it (``leased``, with progress) and report it (``reported``), or leave it ``queued``."""
        b = self.batches
        self.batches += 1
        members = self.archs[b * BATCH : (b + 1) * BATCH]
        version = b - INITIAL_BATCHES + 1 if b >= INITIAL_BATCHES else None
        truths = [self.table.value(a, OBJECTIVE) for a in members]
        now = utcnow()
        with session_scope(self.engine) as session:
            events = EventRepository(session)
            if version is not None:
                self._fit(session, version, b * BATCH, now)
            added = ArchitectureRepository(session).add_many(
                self.search_id,
                [
                    ArchitectureInput(
                        key=self.space.key(a),
                        arch=self.space.to_json(a),
                        proposal=_proposal(version, truth, self.rng),
                    )
                    for a, truth in zip(members, truths, strict=True)
                ],
                now=now,
            )
            ids = [record.id for record, _ in added]
            batches = BatchRepository(session)
            batch = batches.create(self.search_id, ids, now=now, fidelity=OBJECTIVE)
            proposed = BatchProposed(
                batch_id=batch.id,
                size=len(ids),
                keys=tuple(self.space.key(a) for a in members),
                surrogate_version=version,
                seconds=0.0,
            )
            events.append_payload(proposed, now=now, search_id=self.search_id)
            if stage == "queued":
                return
            worker = self.workers[3] if stage == "leased" else self.workers[b % 3]
            lease = batches.lease_next(worker, lease_seconds=3600, now=now)
            assert lease is not None and lease.batch_id == batch.id
            leased = BatchLeased(batch_id=batch.id, worker_id=worker, attempt=lease.attempt)
            events.append_payload(leased, now=now, search_id=self.search_id)
            if stage == "leased":
                progress = {"phase": "lookup", "step": 4, "total_steps": BATCH}
                batches.heartbeat(
                    batch.id,
                    lease.token,
                    lease.attempt,
                    lease_seconds=3600,
                    now=now,
                    progress=progress,
                )
                return
            results = [
                EvaluationInput(
                    architecture_id=i,
                    metrics={c: self.table.value(a, c) for c in (OBJECTIVE, *REPORTED)},
                    objective=truth,
                    evaluator="table",
                )
                for i, a, truth in zip(ids, members, truths, strict=True)
            ]
            batches.report(batch.id, lease.token, lease.attempt, results, now=now)
            reported = BatchReported(
                batch_id=batch.id, worker_id=worker, attempt=lease.attempt, stored=len(results)
            )
            events.append_payload(reported, now=now, search_id=self.search_id)

    def _fit(self, session: Any, version: int, n_observations: int, now: Any) -> None:
        """A snapshot whose fit metrics hold every version's tau, as the controller's do."""
        self.by_version[str(version)] = {"tau": float(self.rng.uniform(0.2, 0.7)), "n": BATCH}
        fit = {"seconds": 1.5, "final_loss": 0.01, "epochs": 100}
        SurrogateSnapshotRepository(session).add(
            self.search_id,
            model_state=bytes(2048),
            fit_metrics={
                "fit": fit,
                "predictions": {"by_version": dict(self.by_version), "all": {"tau": 0.5}},
            },
            n_observations=n_observations,
            now=now,
        )
        EventRepository(session).append_payload(
            SurrogateFitted(version=version, n_observations=n_observations, fit=fit),
            now=now,
            search_id=self.search_id,
        )


def populate(url: str, table_path: Path, evaluations: int) -> LoadSearch:
    """A search with `evaluations` results and one batch leased with progress (by a fourth
    worker, so that the batches reported later go to the other three)."""
    search = LoadSearch(url, table_path, evaluations)
    for _ in range((evaluations + BATCH - 1) // BATCH):
        search.add_batch("reported")
    search.add_batch("leased")
    return search


def _proposal(version: int | None, truth: float, rng: np.random.Generator) -> ProposalInfo:
    if version is None:
        return ProposalInfo(source="initial")
    return ProposalInfo(
        source="bo",
        predicted_mean=truth + float(rng.normal(0, 3)),
        predicted_std=float(rng.uniform(0.5, 2)),
        acquisition_value=truth,
        surrogate_version=version,
    )


def time_refresh(base: str, search: LoadSearch, repeats: int) -> dict[str, Any]:
    """Time what the page does after each reported batch: its panels fetched in parallel."""
    prefix = f"/api/v1/dashboard/searches/{search.search_id}"
    paths = [
        "/api/v1/dashboard/summary",
        f"{prefix}/series",
        f"{prefix}/surrogate",
        f"{prefix}/tradeoff",
        f"{prefix}/top",
        f"{prefix}/batches",
    ]
    headers = {"Authorization": f"Bearer {search.token}"}
    samples = []
    with (
        httpx.Client(base_url=base, headers=headers, timeout=120) as client,
        ThreadPoolExecutor(len(paths)) as pool,
    ):
        for _ in range(repeats):
            search.add_batch("reported")
            started = time.perf_counter()
            for answer in pool.map(client.get, paths):
                answer.raise_for_status()
            samples.append(time.perf_counter() - started)
    samples.sort()
    return {
        "call": "refresh after a batch",
        "path": "6 calls in parallel",
        "bytes": 0,
        "cold_ms": samples[0] * 1000,
        "median_ms": statistics.median(samples) * 1000,
        "p95_ms": samples[min(len(samples) - 1, int(0.95 * len(samples)))] * 1000,
    }


def time_calls(base: str, token: str, search_id: int, repeats: int) -> list[dict[str, Any]]:
    """Time every dashboard call: the first (cold) one, then the median and p95 of repeats."""
    prefix = f"/api/v1/dashboard/searches/{search_id}"
    calls = [
        ("summary", "/api/v1/dashboard/summary"),
        ("series", f"{prefix}/series"),
        ("baseline", f"{prefix}/baseline"),
        ("surrogate", f"{prefix}/surrogate"),
        ("tradeoff", f"{prefix}/tradeoff"),
        ("top (6 cells)", f"{prefix}/top"),
        ("batches", f"{prefix}/batches"),
        ("events poll", "/api/v1/events?after=0&limit=500"),
        ("page (index.html)", "/"),
    ]
    rows = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for name, path in calls:
            started = time.perf_counter()
            answer = client.get(path)
            cold = time.perf_counter() - started
            answer.raise_for_status()
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                samples.append(time.perf_counter() - started)
            samples.sort()
            rows.append(
                {
                    "call": name,
                    "path": path,
                    "bytes": len(answer.content),
                    "cold_ms": cold * 1000,
                    "median_ms": statistics.median(samples) * 1000,
                    "p95_ms": samples[min(len(samples) - 1, int(0.95 * len(samples)))] * 1000,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--evaluations", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="Also write the rows here.")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bonas-dashboard-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    table = nb201_csv(workdir)
    url = f"sqlite:///{workdir / 'bonas.db'}"
    upgrade(url)
    started = time.perf_counter()
    search = populate(url, table, args.evaluations)
    print(f"populated {args.evaluations} evaluations in {time.perf_counter() - started:.1f} s")

    port = free_port()
    settings = Settings(database_url=url, port=port, data_roots=[table.parent])
    app = create_app(settings, run_controller=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        base = f"http://127.0.0.1:{port}"
        rows = time_calls(base, search.token, search.search_id, args.repeats)
        rows.append(time_refresh(base, search, args.repeats))
    finally:
        server.should_exit = True
        thread.join(30)

    print(f"\n{args.evaluations} evaluations, {args.repeats} repeats, SQLite, one client")
    print("(cold: the first call; for the refresh, the fastest of the repeats)")
    print(f"{'call':<24}{'KiB':>8}{'cold ms':>10}{'median ms':>12}{'p95 ms':>10}")
    for row in rows:
        print(
            f"{row['call']:<24}{row['bytes'] / 1024:>8.1f}{row['cold_ms']:>10.1f}"
            f"{row['median_ms']:>12.1f}{row['p95_ms']:>10.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
