"""The dashboard's read endpoints over a real server, on SQLite and PostgreSQL.

The controller is off: each test writes a search into the store as the controller and the workers
would have (architectures with predictions, batches leased and reported through the lease
protocol, events, surrogate-fitted events), then checks every chart against values computed
here from what was written.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine

from service.app import create_app
from service.dashboard.baseline import expected_best
from service.dashboard.scatter import pareto_front
from service.events import BatchReported, SurrogateFitted
from service.search_spec import SearchSpec
from service.settings import Settings
from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    BatchRepository,
    EvaluationInput,
    EvaluationRepository,
    EventRepository,
    ProposalInfo,
    Role,
    TokenRepository,
    WorkerRepository,
    session_scope,
    utcnow,
)
from surrogate.ranking import kendall_tau
from surrogate.spaces import get_space
from tests.integration.service_server import ServiceServer
from tests.support.store import start_search

OBJECTIVE = "acc"
SPACE = get_space("nb201")
ARCHS = list(itertools.islice(SPACE.enumerate(), 200))


def table_value(index: int) -> float:
    return 40.0 + (index * 7919 % 503) / 10


@dataclass
class Deployment:
    """A service without its controller, a search written by hand, and user tokens."""

    engine: Engine
    server: ServiceServer
    table: Path
    tokens: dict[str, str]
    search_id: int = 0
    worker_ids: list[int] = field(default_factory=list)
    next_arch: int = 0
    written: list[dict[str, Any]] = field(default_factory=list)

    def client(self, who: str | None) -> httpx.Client:
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=60)

    def get(self, path: str, who: str = "alice", **params: Any) -> Any:
        with self.client(who) as client:
            answer = client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def create_search(self, budget: int = 60, constraints: list[Any] | None = None) -> int:
        spec = SearchSpec.model_validate(
            {
                "name": "dash",
                "space": "nb201",
                "evaluator": {
                    "kind": "table",
                    "path": self.table.name,
                    "report_columns": [OBJECTIVE, "params"],
                },
                "objective": {"metric": OBJECTIVE},
                "constraints": constraints or [],
                "budget": {"evaluations": budget},
                "batch_size": 5,
                "strategy": {"name": "random"},
            }
        )
        now = utcnow()
        with session_scope(self.engine) as session:
            search_id = start_search(session, spec, now)
            workers = WorkerRepository(session)
            self.worker_ids = [
                workers.register(
                    name,
                    capabilities={"device": device, "hostname": "h", "evaluators": ["table"]},
                    now=now,
                ).id
                for name, device in (("gpu-a", "cuda:0"), ("gpu-b", "cuda:1"))
            ]
        self.search_id = search_id
        return search_id

    def batch(
        self,
        version: int | None,
        *,
        report: bool = True,
        progress: dict[str, Any] | None = None,
        lease_seconds: float = 60.0,
    ) -> int:
        """Propose 5 architectures (with predictions from `version`), lease and maybe report."""
        now = utcnow()
        members = list(range(self.next_arch, self.next_arch + 5))
        self.next_arch += 5
        rng = np.random.default_rng(len(self.written))
        with session_scope(self.engine) as session:
            events = EventRepository(session)
            if version is not None:
                events.append_payload(
                    SurrogateFitted(
                        version=version, n_observations=len(self.written), fit={"seconds": 2.0}
                    ),
                    now=now,
                    search_id=self.search_id,
                )
            inputs = []
            for i in members:
                proposal = ProposalInfo("initial")
                if version is not None:
                    predicted = table_value(i) + float(rng.normal(0, 5))
                    proposal = ProposalInfo("bo", predicted, 1.0, None, version)
                arch = SPACE.to_json(ARCHS[i])
                inputs.append(ArchitectureInput(SPACE.key(ARCHS[i]), arch, proposal))
            added = ArchitectureRepository(session).add_many(self.search_id, inputs, now=now)
            ids = [record.id for record, _ in added]
            batches = BatchRepository(session)
            batch = batches.create(self.search_id, ids, now=now, fidelity=OBJECTIVE)
            worker = self.worker_ids[batch.id % 2]
            lease = batches.lease_next(worker, lease_seconds=lease_seconds, now=now)
            assert lease is not None and lease.batch_id == batch.id
            if progress is not None:
                batches.heartbeat(
                    batch.id,
                    lease.token,
                    lease.attempt,
                    lease_seconds=lease_seconds,
                    now=now,
                    progress=progress,
                )
            if not report:
                return batch.id
            results = [
                EvaluationInput(
                    architecture_id=arch_id,
                    metrics={OBJECTIVE: table_value(i), "params": float(1000 + (i * 37) % 900)},
                    objective=table_value(i),
                    evaluator="table",
                )
                for arch_id, i in zip(ids, members, strict=True)
            ]
            batches.report(batch.id, lease.token, lease.attempt, results, now=now)
            events.append_payload(
                BatchReported(
                    batch_id=batch.id, worker_id=worker, attempt=lease.attempt, stored=len(results)
                ),
                now=now,
                search_id=self.search_id,
            )
        for arch_id, i in zip(ids, members, strict=True):
            predicted = None
            if version is not None:
                with session_scope(self.engine, read_only=True) as session:
                    predicted = ArchitectureRepository(session).get(arch_id).proposal.predicted_mean
            self.written.append(
                {
                    "id": arch_id,
                    "value": table_value(i),
                    "version": version,
                    "predicted": predicted,
                    "params": float(1000 + (i * 37) % 900),
                }
            )
        return batch.id


@pytest.fixture
def deployment(migrated_url: str, tmp_path: Path) -> Iterator[Deployment]:
    table = tmp_path / "nb201_small.csv"
    with table.open("w") as handle:
        handle.write(f"arch_str,{OBJECTIVE},params\n")
        for index, arch in enumerate(ARCHS):
            handle.write(f"{SPACE.to_json(arch)['cell']},{table_value(index)},{1000 + index}\n")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=migrated_url, lease_seconds=60.0, data_roots=[tmp_path]
    )
    app = create_app(settings, run_controller=False)
    server = ServiceServer(app)
    server.start()
    engine = app.state.engine
    tokens = {}
    with session_scope(engine) as session:
        repository = TokenRepository(session)
        for who, role in (("alice", Role.USER), ("bob", Role.USER), ("pool", Role.WORKER)):
            tokens[who] = repository.create(role=role, owner=who, now=utcnow())[1]
    try:
        yield Deployment(engine, server, table, tokens)
    finally:
        server.stop()


def base(search_id: int) -> str:
    return f"/api/v1/dashboard/searches/{search_id}"


def test_every_endpoint_needs_a_user_token_and_hides_other_users_searches(
    deployment: Deployment,
) -> None:
    search_id = deployment.create_search()
    paths = ["/api/v1/dashboard/summary"] + [
        f"{base(search_id)}/{name}"
        for name in ("series", "baseline", "surrogate", "tradeoff", "top", "batches")
    ]
    for path in paths:
        with deployment.client(None) as anonymous:
            assert anonymous.get(path).status_code == 401, path
        with deployment.client("pool") as worker:
            assert worker.get(path).status_code == 403, path
        with deployment.client("bob") as bob:
            answer = bob.get(path)
            assert answer.status_code == (200 if path.endswith("summary") else 404), path
    assert deployment.get("/api/v1/dashboard/summary", "bob")["searches"] == []
    with deployment.client("alice") as alice:
        assert alice.get(f"{base(99999)}/series").status_code == 404


def test_series_steps_points_and_incremental_catch_up(deployment: Deployment) -> None:
    search_id = deployment.create_search()
    deployment.batch(None)
    deployment.batch(1)
    first = deployment.get(f"{base(search_id)}/series")
    assert first["evaluations"] == 10
    assert first["points"]["value"] == [w["value"] for w in deployment.written]
    assert first["points"]["index"] == list(range(1, 11))

    deployment.batch(2)  # reported after the first read: caught up from the events
    with session_scope(deployment.engine) as session:  # a result without any event
        extra = ArchitectureRepository(session).add(
            search_id,
            ArchitectureInput(
                SPACE.key(ARCHS[150]), SPACE.to_json(ARCHS[150]), ProposalInfo("user")
            ),
            now=utcnow(),
        )[0]
        EvaluationRepository(session).record(
            EvaluationInput(extra.id, {OBJECTIVE: 99.0}, 99.0, "table"),
            now=utcnow(),
            fidelity=OBJECTIVE,
        )
    second = deployment.get(f"{base(search_id)}/series")
    values = [w["value"] for w in deployment.written] + [99.0]
    assert second["points"]["value"] == values
    best, steps = -1.0, []
    for index, value in enumerate(values, start=1):
        if value > best:
            best = value
            steps.append((index, value))
    assert list(zip(second["steps"]["index"], second["steps"]["value"], strict=True)) == steps
    assert second["quartiles"] == pytest.approx(list(np.quantile(values, [0.25, 0.5, 0.75])))
    thinned = deployment.get(f"{base(search_id)}/series", max_points=10)
    assert thinned["thinned"] is True and len(thinned["points"]["index"]) <= 10
    assert set(second["steps"]["index"]) <= set(thinned["points"]["index"])


def test_random_search_baseline_is_exact_over_the_table(deployment: Deployment) -> None:
    search_id = deployment.create_search(budget=60)
    answer = deployment.get(f"{base(search_id)}/baseline")
    assert answer["available"] is True
    values = [table_value(i) for i in range(len(ARCHS))]
    assert answer["table_size"] == len(ARCHS)
    assert answer["table_best"] == pytest.approx(max(values))
    assert answer["counts"] == list(range(1, 61))
    assert answer["expected"] == pytest.approx(expected_best(values, range(1, 61), maximize=True))
    constrained = deployment.create_search(constraints=[{"metric": "params", "max": 1500}])
    refused = deployment.get(f"{base(constrained)}/baseline")
    assert refused["available"] is False and "constraints" in refused["reason"]


def test_surrogate_versions_and_tau(deployment: Deployment) -> None:
    search_id = deployment.create_search()
    deployment.batch(None)
    for version in (1, 2, 3):
        deployment.batch(version)
    answer = deployment.get(f"{base(search_id)}/surrogate")
    assert [v["version"] for v in answer["versions"]] == [1, 2, 3]
    for version in answer["versions"]:
        rows = [w for w in deployment.written if w["version"] == version["version"]]
        expected = kendall_tau([w["predicted"] for w in rows], [w["value"] for w in rows])
        assert version["n"] == 5
        assert version["tau"] == pytest.approx(expected)
        assert version["fit_seconds"] == 2.0
    predicted = [w for w in deployment.written if w["version"] is not None]
    assert answer["n"] == 15
    assert answer["tau"] == pytest.approx(
        kendall_tau([w["predicted"] for w in predicted], [w["value"] for w in predicted])
    )
    assert sorted(answer["points"]["measured"]) == sorted(w["value"] for w in predicted)


def test_tradeoff_front_top_architectures_and_batches(deployment: Deployment) -> None:
    search_id = deployment.create_search()
    deployment.batch(None)
    deployment.batch(1)
    leased = deployment.batch(
        2, report=False, progress={"phase": "lookup", "step": 2, "total_steps": 5}
    )
    tradeoff = deployment.get(f"{base(search_id)}/tradeoff")
    assert tradeoff["metrics"] == ["params"]
    costs = [w["params"] for w in deployment.written]
    values = [w["value"] for w in deployment.written]
    front = pareto_front(costs, values, maximize=True)
    assert tradeoff["front"]["cost"] == [costs[i] for i in front]
    assert tradeoff["front"]["value"] == [values[i] for i in front]

    top = deployment.get(f"{base(search_id)}/top", limit=3)
    best = sorted(deployment.written, key=lambda w: -w["value"])[:3]
    assert [a["id"] for a in top["items"]] == [w["id"] for w in best]
    assert [a["rank"] for a in top["items"]] == [1, 2, 3]
    for item in top["items"]:
        (graph,) = item["graphs"]
        assert len(graph["nodes"]) == 4 and len(graph["edges"]) == 6

    batches = deployment.get(f"{base(search_id)}/batches")
    (row,) = batches["items"]
    assert row["id"] == leased and row["state"] == "leased"
    assert row["worker_name"] in {"gpu-a", "gpu-b"}
    assert row["progress"]["fraction"] == pytest.approx(0.4)
    assert 0 < row["expires_in"] <= 60
    assert batches["counts"]["done"] == 2


def test_summary_flags_stale_workers_and_explains_expired_leases(deployment: Deployment) -> None:
    search_id = deployment.create_search()
    deployment.batch(None)
    deployment.batch(None, report=False, lease_seconds=0.5)
    summary = deployment.get("/api/v1/dashboard/summary")
    (row,) = summary["searches"]
    assert (row["id"], row["state"], row["done"], row["in_flight"]) == (search_id, "running", 5, 5)
    assert row["best"] == max(w["value"] for w in deployment.written)
    assert {w["name"]: w["stale"] for w in summary["workers"]} == {"gpu-a": False, "gpu-b": False}
    assert summary["cursor"] >= 1
    assert summary["notices"] == []

    time.sleep(1.0)  # the lease lapses; then both workers go silent
    with session_scope(deployment.engine) as session:
        for worker_id in deployment.worker_ids:
            WorkerRepository(session).touch(worker_id, now=utcnow() - timedelta(minutes=10))
    summary = deployment.get("/api/v1/dashboard/summary")
    assert all(w["stale"] for w in summary["workers"])
    assert [n["code"] for n in summary["notices"]] == ["all_workers_stale"]
    codes = [n["code"] for n in summary["searches"][0]["notices"]]
    assert codes == ["leases_expired", "all_workers_stale"]
