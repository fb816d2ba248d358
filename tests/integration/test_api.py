"""The HTTP API over a real server, on SQLite and PostgreSQL.

The controller loop is off in most tests: they put batches in the store themselves, so what the
API does is all that is measured. The last test runs the real controller with the API.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from protocol import (
    EvaluatorKind,
    HeartbeatRequest,
    HeartbeatStatus,
    Lease,
    LeaseRequest,
    MemberReport,
    Progress,
    RegisterRequest,
    ReleaseReason,
    ReleaseRequest,
    ReportRequest,
    WorkerCapabilities,
)
from service.app import create_app
from service.exceptions import DatabaseNotAtHeadError
from service.settings import Settings
from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    BatchRepository,
    ProposalInfo,
    SearchRepository,
    SearchState,
    session_scope,
    utcnow,
)
from tests.integration.service_server import ServiceServer
from workers.client import NO_RETRY, ControllerClient
from workers.exceptions import LeaseLostError

ADMIN_TOKEN = "test-admin-" + "x" * 24
NB201_ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
]


def spec(name: str = "s", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "space": "nb201",
        "evaluator": {"kind": "table", "path": "nb201.csv"},
        "objective": {"metric": "val_acc"},
        "budget": {"evaluations": 20},
        "batch_size": 2,
        "strategy": {"name": "random"},
    }
    base.update(overrides)
    return base


@dataclass
class Api:
    """A running service and tokens of every role."""

    server: ServiceServer
    engine: Engine
    admin: httpx.Client
    alice: httpx.Client
    bob: httpx.Client
    worker: httpx.Client
    worker_token: str
    opened: list[ControllerClient | httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str | None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self.opened.append(client)
        return client

    def worker_client(self, token: str | None = None) -> ControllerClient:
        client = ControllerClient(self.url, token or self.worker_token, retry=NO_RETRY)
        self.opened.append(client)
        return client

    def close(self) -> None:
        for client in [self.admin, *self.opened]:
            client.close()

    def submit(self, as_: httpx.Client, **overrides: Any) -> dict[str, Any]:
        answer = as_.post("/api/v1/searches", json=spec(**overrides))
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def queue_batch(self, search_id: int, archs: list[str]) -> int:
        """Start the search (if needed) and queue one batch of `archs`, as the controller would."""
        now = utcnow()
        with session_scope(self.engine) as session:
            searches = SearchRepository(session)
            if searches.get(search_id).state == SearchState.CREATED:
                searches.transition(search_id, SearchState.RUNNING, now=now)
            items = [
                ArchitectureInput(
                    key=arch,
                    arch={"cell": arch},
                    proposal=ProposalInfo("bo", predicted_mean=0.5, predicted_std=0.1),
                )
                for arch in archs
            ]
            added = ArchitectureRepository(session).add_many(search_id, items, now=now)
            batch = BatchRepository(session).create(
                search_id, [record.id for record, _ in added], now=now, fidelity="val_acc"
            )
        return batch.id


def _settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "admin_token": ADMIN_TOKEN,
        "lease_seconds": 30.0,
        "heartbeat_interval_s": 1.0,
        "poll_interval_s": 0.1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def make_api(migrated_url: str) -> Iterator[Callable[..., Api]]:
    """Start a service on the test database; keyword arguments override settings."""
    started: list[Api] = []

    def make(*, run_controller: bool = False, **overrides: Any) -> Api:
        app = create_app(_settings(migrated_url, **overrides), run_controller=run_controller)
        server = ServiceServer(app)
        server.start()
        admin = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )
        tokens = {}
        for role, owner in (("user", "alice"), ("user", "bob"), ("worker", "gpu-farm")):
            answer = admin.post("/api/v1/tokens", json={"role": role, "owner": owner})
            assert answer.status_code == 201, answer.text
            tokens[owner] = answer.json()["token"]
        for user in ("alice", "bob"):  # the shared worker pool serves both users
            answer = admin.put(f"/api/v1/pools/gpu-farm/owners/{user}")
            assert answer.status_code == 200, answer.text
        api = Api(server, app.state.engine, admin, *([None] * 3), tokens["gpu-farm"])  # type: ignore[arg-type]
        api.alice, api.bob, api.worker = (
            api.client(tokens[o]) for o in ("alice", "bob", "gpu-farm")
        )
        started.append(api)
        return api

    yield make
    for api in started:
        api.close()
        api.server.stop()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def register(client: ControllerClient, name: str = "w1", instance: str | None = None) -> str:
    capabilities = WorkerCapabilities(device="cpu", hostname="test", pid=1, version="0")
    request = RegisterRequest(
        name=name, instance_id=instance or uuid.uuid4().hex, capabilities=capabilities
    )
    return client.register(request).worker_id


def member_reports(keys: list[str], value: float = 0.5) -> tuple[MemberReport, ...]:
    return tuple(
        MemberReport(
            key=key,
            metrics={"val_acc": value + i / 100, "params": 1000.0 + i},
            objective=value + i / 100,
            fidelity="val_acc",
            evaluator=EvaluatorKind.TABLE,
            timings={"total": 0.01},
        )
        for i, key in enumerate(keys)
    )


def leased_batch(
    api: Api, worker: ControllerClient, worker_id: str, sid: int, keys: list[str]
) -> Lease:
    """Queue `keys` as one batch of search `sid` and lease it as `worker_id`."""
    api.queue_batch(sid, keys)
    lease = worker.lease(worker_id).lease
    assert lease is not None
    return lease


def evaluate_batch(
    api: Api, worker: ControllerClient, worker_id: str, sid: int, keys: list[str]
) -> None:
    """Queue `keys` as one batch, lease it and report `member_reports(keys)` for it."""
    lease = leased_batch(api, worker, worker_id, sid, keys)
    worker.report(
        worker_id,
        lease.batch_id,
        ReportRequest(
            attempt=1,
            lease_token=lease.lease_token,
            report_id="r",
            members=member_reports(keys),
        ),
    )


# --- health, metrics, auth ---------------------------------------------------------------------


def test_health_needs_no_token_and_metrics_do(api: Api) -> None:
    with api.client(None) as anonymous:
        health = anonymous.get("/api/v1/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["schema_revision"]
        refused = anonymous.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["reason"] == "unauthorized"
    api.submit(api.alice)
    assert api.alice.get("/metrics").status_code == 403  # the figures cover every user
    text = api.admin.get("/metrics").text
    assert 'bonas_searches{state="created"} 1' in text
    assert 'bonas_http_requests_total{method="POST",handler="create_search",status="201"} 1' in text


def _routes(api: Api) -> list[tuple[str, str]]:
    schema = api.admin.get("/openapi.json").json()
    routes = []
    for path, operations in schema["paths"].items():
        concrete = (
            path.replace("{search_id}", "1")
            .replace("{worker_id}", "1")
            .replace("{batch_id}", "1")
            .replace("{architecture_id}", "1")
            .replace("{token_id}", "1")
        )
        routes += [(method.upper(), concrete) for method in operations]
    return routes


def test_every_endpoint_but_health_needs_a_valid_token(api: Api) -> None:
    routes = _routes(api)
    assert len(routes) >= 20
    with api.client(None) as anonymous, api.client("bonas_not-a-real-token") as forged:
        for method, path in routes:
            if path == "/api/v1/health":
                continue
            for client in (anonymous, forged):
                answer = client.request(method, path, json={})
                assert answer.status_code == 401, (method, path, answer.text)
                assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_roles_are_enforced_on_every_endpoint(api: Api) -> None:
    """Users cannot use worker or token endpoints; workers only use worker endpoints."""
    worker_paths = [p for m, p in _routes(api) if "/workers/" in p and m == "POST"]
    token_paths = [(m, p) for m, p in _routes(api) if p.startswith("/api/v1/tokens")]
    user_paths = [
        (m, p) for m, p in _routes(api) if p.startswith(("/api/v1/searches", "/api/v1/events"))
    ]
    assert len(worker_paths) == 5 and token_paths and len(user_paths) >= 10
    for path in worker_paths:
        answer = api.alice.post(path, json={})
        assert answer.status_code == 403, (path, answer.text)
        assert "needs a admin or worker token" in answer.json()["detail"]
    for method, path in token_paths:
        for client in (api.alice, api.worker):
            assert client.request(method, path, json={}).status_code == 403, (method, path)
    for method, path in user_paths:
        answer = api.worker.request(method, path, json=spec())
        assert answer.status_code == 403, (method, path, answer.text)
    # what each role may do, it can
    assert api.worker.get("/api/v1/workers").status_code == 200
    assert api.alice.get("/api/v1/workers").status_code == 200
    assert api.alice.get("/api/v1/searches").status_code == 200


def test_tokens_are_created_listed_and_revoked(api: Api) -> None:
    created = api.admin.post(
        "/api/v1/tokens", json={"role": "user", "owner": "carol", "label": "laptop"}
    )
    assert created.status_code == 201
    secret, record = created.json()["token"], created.json()["record"]
    assert secret.startswith(record["prefix"]) and "token" not in record
    with api.client(secret) as carol:
        assert carol.get("/api/v1/searches").status_code == 200
        listed = api.admin.get("/api/v1/tokens", params={"owner": "carol"}).json()
        assert [t["id"] for t in listed["items"]] == [record["id"]] and listed["total"] == 1
        revoked = api.admin.delete(f"/api/v1/tokens/{record['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert carol.get("/api/v1/searches").status_code == 401
    assert api.admin.get("/api/v1/tokens", params={"owner": "carol"}).json()["total"] == 0
    assert api.admin.delete("/api/v1/tokens/99999").status_code == 404
    bad = api.admin.post("/api/v1/tokens", json={"role": "root", "owner": "x"})
    assert bad.status_code == 422 and "role" in bad.json()["detail"]


# --- searches ----------------------------------------------------------------------------------


def test_create_get_and_paginate_searches(api: Api) -> None:
    created = [api.submit(api.alice, name=f"a{i}") for i in range(3)]
    assert created[0]["state"] == "created" and created[0]["owner"] == "alice"
    assert created[0]["spec"]["batch_size"] == 2 and created[0]["space"]["type"] == "nb201"
    assert created[0]["counts"]["done"] == 0 and created[0]["best"] is None
    assert created[0]["budget"] == {
        "evaluations": 20,
        "wall_seconds": None,
        "evaluations_used": 0,
        "wall_seconds_used": None,
        "fraction_used": 0.0,
    }
    first = api.alice.get("/api/v1/searches", params={"limit": 2}).json()
    second = api.alice.get("/api/v1/searches", params={"limit": 2, "offset": 2}).json()
    assert first["total"] == second["total"] == 3
    assert [s["name"] for s in first["items"] + second["items"]] == ["a2", "a1", "a0"]
    assert (first["limit"], first["offset"], second["offset"]) == (2, 0, 2)
    one = api.alice.get(f"/api/v1/searches/{created[1]['id']}").json()
    assert one["name"] == "a1"
    running = api.alice.get("/api/v1/searches", params={"state": ["running", "paused"]}).json()
    assert running["total"] == 0


def test_users_see_only_their_own_searches(api: Api) -> None:
    mine = api.submit(api.alice, name="alice's")
    theirs = api.submit(api.bob, name="bob's")
    assert [s["name"] for s in api.alice.get("/api/v1/searches").json()["items"]] == ["alice's"]
    assert api.alice.get("/api/v1/searches", params={"owner": "bob"}).json()["items"][0][
        "name"
    ] == ("alice's")
    for path in ("", "/architectures", "/batches", "/best", "/best/export"):
        answer = api.alice.get(f"/api/v1/searches/{theirs['id']}{path}")
        assert answer.status_code == 404, path
        assert answer.json() == {
            "reason": "not_found",
            "detail": f"search {theirs['id']} does not exist",
        }
    for action in ("pause", "resume", "cancel"):
        assert api.alice.post(f"/api/v1/searches/{theirs['id']}/{action}").status_code == 404
    assert api.bob.get(f"/api/v1/searches/{theirs['id']}").status_code == 200
    everyone = api.admin.get("/api/v1/searches").json()
    assert {s["name"] for s in everyone["items"]} == {"alice's", "bob's"}
    only_bob = api.admin.get("/api/v1/searches", params={"owner": "bob"}).json()
    assert [s["name"] for s in only_bob["items"]] == ["bob's"]
    events = api.alice.get("/api/v1/events").json()
    assert {e["search_id"] for e in events["items"]} == {mine["id"]}
    assert events["next_after"] >= max(e["id"] for e in events["items"])
    assert api.alice.get("/api/v1/events", params={"search_id": theirs["id"]}).status_code == 404


BAD_SPECS: list[tuple[dict[str, Any], str]] = [
    ({"budget": {"evaluations": 0}}, "budget.evaluations: Input should be greater than"),
    ({"space": "nb999"}, "space: unknown search space 'nb999'"),
    ({"evaluator": {"kind": "oracle"}}, "evaluator"),
    ({"batch_size": 50, "budget": {"evaluations": 10}}, "batch_size (50) exceeds"),
    ({"strategy": {"name": "bonas", "samplers": {"psychic": 1}}}, "unknown sampler 'psychic'"),
    ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ({"budget": {}}, "a budget needs `evaluations`, `wall_seconds` or both"),
]


def test_bad_search_specs_get_422_with_a_message(api: Api) -> None:
    for change, expected in BAD_SPECS:
        answer = api.alice.post("/api/v1/searches", json=spec(**change))
        assert answer.status_code == 422, change
        assert answer.json()["reason"] == "invalid_request"
        assert expected in answer.json()["detail"], (change, answer.json())
    assert api.alice.get("/api/v1/searches").json()["total"] == 0


def test_bad_input_anywhere_is_a_4xx_with_a_message(api: Api) -> None:
    search = api.submit(api.alice)
    cases = [
        ("GET", "/api/v1/searches", {"limit": 0}, "limit"),
        ("GET", "/api/v1/searches", {"limit": 5000}, "limit"),
        ("GET", "/api/v1/searches", {"state": "sleeping"}, "state"),
        ("GET", f"/api/v1/searches/{search['id']}/architectures", {"sort": "colour"}, "sort"),
        ("GET", "/api/v1/events", {"after": -1}, "after"),
        ("GET", "/api/v1/searches/abc", {}, "search_id"),
        ("GET", "/api/v1/searches/987654", {}, "does not exist"),
        ("GET", f"/api/v1/searches/{search['id']}/best/export", {"format": "onnx"}, "format"),
    ]
    for method, path, params, expected in cases:
        answer = api.alice.request(method, path, params=params)
        assert 400 <= answer.status_code < 500, (path, params, answer.text)
        assert expected in answer.json()["detail"], (path, params, answer.json())
    broken = api.alice.post(
        "/api/v1/searches", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and "JSON" in broken.json()["detail"]


def test_pause_resume_cancel(api: Api) -> None:
    search = api.submit(api.alice)
    sid = search["id"]
    refused = api.alice.post(f"/api/v1/searches/{sid}/pause")
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(f"search {sid} is created; it cannot become paused")
    api.queue_batch(sid, NB201_ARCHS[:2])
    paused = api.alice.post(f"/api/v1/searches/{sid}/pause").json()
    assert paused["state"] == "paused"
    assert api.alice.post(f"/api/v1/searches/{sid}/pause").json()["state"] == "paused"
    worker = api.worker_client()
    worker_id = register(worker)
    assert worker.lease(worker_id).lease is None  # paused searches hand out nothing
    assert api.alice.post(f"/api/v1/searches/{sid}/resume").json()["state"] == "running"
    assert worker.lease(worker_id).lease is not None
    cancelled = api.alice.post(f"/api/v1/searches/{sid}/cancel").json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["finished_reason"] == "cancelled by alice"
    assert cancelled["counts"]["batches"]["cancelled"] == 1
    assert api.alice.post(f"/api/v1/searches/{sid}/cancel").status_code == 200
    again = api.alice.post(f"/api/v1/searches/{sid}/resume")
    assert again.status_code == 409 and "cannot resume" in again.json()["detail"]
    kinds = [e["kind"] for e in api.alice.get("/api/v1/events").json()["items"]]
    assert kinds == [
        "search.created",
        "search.paused",
        "search.resumed",
        "batch.leased",
        "search.cancelled",
    ]


# --- the worker protocol -----------------------------------------------------------------------


def test_worker_round_trip_with_the_worker_client(api: Api) -> None:
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = register(worker)
    empty = worker.lease(worker_id)
    assert empty.lease is None and empty.retry_after_s == pytest.approx(0.1)
    batch_id = api.queue_batch(sid, NB201_ARCHS[:3])
    lease = worker.lease(worker_id).lease
    assert lease is not None and lease.batch_id == str(batch_id) and lease.attempt == 1
    assert [m.key for m in lease.members] == NB201_ARCHS[:3]
    assert lease.space == {"type": "nb201"} and lease.evaluator.kind is EvaluatorKind.TABLE
    assert lease.evaluator.fidelity == "val_acc" and lease.heartbeat_interval_s == 1.0
    again = worker.lease(worker_id).lease
    assert again is not None
    assert (again.lease_token, again.attempt, again.batch_id) == (
        lease.lease_token,
        1,
        lease.batch_id,
    )
    assert again.lease_seconds <= lease.lease_seconds
    beat = worker.heartbeat(
        worker_id,
        lease.batch_id,
        HeartbeatRequest(
            attempt=1, lease_token=lease.lease_token, progress=Progress(phase="lookup", step=2)
        ),
    )
    assert beat.status is HeartbeatStatus.OK and beat.lease_seconds == pytest.approx(30, abs=1)
    workers = api.alice.get("/api/v1/workers").json()["items"]
    assert workers[0]["current_batch"]["id"] == batch_id and workers[0]["stale"] is False
    assert workers[0]["current_batch"]["progress"]["phase"] == "lookup"
    report = ReportRequest(
        attempt=1,
        lease_token=lease.lease_token,
        report_id="r1",
        members=member_reports(NB201_ARCHS[:3]),
    )
    assert worker.report(worker_id, lease.batch_id, report).stored == 3
    duplicate = worker.report(worker_id, lease.batch_id, report)
    assert duplicate.duplicate and duplicate.stored == 0
    different = report.model_copy(
        update={"report_id": "r2", "members": member_reports(NB201_ARCHS[:3], value=0.9)}
    )
    with pytest.raises(LeaseLostError, match=r"already.reported"):
        worker.report(worker_id, lease.batch_id, different)
    # The report id decides, not the payload: the same results under another id are another
    # report, and a retry under the stored id is a duplicate.
    with pytest.raises(LeaseLostError, match=r"already.reported"):
        worker.report(worker_id, lease.batch_id, report.model_copy(update={"report_id": "r3"}))
    assert worker.report(worker_id, lease.batch_id, report).duplicate
    search = api.alice.get(f"/api/v1/searches/{sid}").json()
    assert search["counts"]["done"] == 3 and search["counts"]["in_flight"] == 0
    assert search["best"]["key"] == NB201_ARCHS[2]
    assert search["best"]["objective"] == pytest.approx(0.52)
    assert search["best"]["prediction"]["mean"] == 0.5
    assert search["budget"]["evaluations_used"] == 3
    assert search["budget"]["fraction_used"] == pytest.approx(3 / 20)
    assert worker.lease(worker_id).lease is None
    stored = api.admin.get(f"/api/v1/searches/{sid}/architectures").json()["items"]
    assert [a["evaluations"][0]["metrics"]["val_acc"] for a in stored] == [0.5, 0.51, 0.52]
    assert all(len(a["evaluations"]) == 1 for a in stored)


def test_architectures_sorted_filtered_and_paginated(api: Api) -> None:
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = register(worker)
    evaluate_batch(api, worker, worker_id, sid, NB201_ARCHS[:3])
    api.queue_batch(sid, NB201_ARCHS[3:])
    path = f"/api/v1/searches/{sid}/architectures"
    best_first = api.alice.get(path, params={"sort": "objective", "descending": True}).json()
    assert [a["objective"] for a in best_first["items"]] == [0.52, 0.51, 0.5, None]
    assert best_first["total"] == 4
    page = api.alice.get(
        path, params={"sort": "objective", "descending": True, "limit": 2, "offset": 1}
    ).json()
    assert [a["objective"] for a in page["items"]] == [0.51, 0.5]
    pending = api.alice.get(path, params={"evaluated": False}).json()
    assert [a["key"] for a in pending["items"]] == [NB201_ARCHS[3]]
    assert pending["items"][0]["feasible"] is None
    one = api.alice.get(f"{path}/{best_first['items'][0]['id']}").json()
    assert one["key"] == NB201_ARCHS[2] and one["feasible"] is True
    assert api.alice.get(f"{path}/999999").status_code == 404
    batches = api.alice.get(f"/api/v1/searches/{sid}/batches").json()
    assert [b["state"] for b in batches["items"]] == ["done", "queued"]
    queued = api.alice.get(f"/api/v1/searches/{sid}/batches", params={"state": "queued"}).json()
    assert queued["total"] == 1 and len(queued["items"][0]["architecture_ids"]) == 1


def test_report_on_an_expired_lease_is_refused_with_the_reason(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(lease_seconds=0.5, heartbeat_interval_s=0.1)
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = register(worker)
    lease = leased_batch(api, worker, worker_id, sid, NB201_ARCHS[:2])
    time.sleep(0.7)
    # A lapsed lease nobody took over is still the worker's while its search runs (see
    # tests/integration/test_trust_leases.py); once the search stops running it is lost.
    with session_scope(api.engine) as session:
        SearchRepository(session).transition(sid, SearchState.PAUSED, now=utcnow())
    report = ReportRequest(
        attempt=1,
        lease_token=lease.lease_token,
        report_id="r",
        members=member_reports(NB201_ARCHS[:2]),
    )
    answer = api.worker.post(
        f"/api/v1/workers/{worker_id}/batches/{lease.batch_id}/report",
        content=report.model_dump_json(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 409
    assert answer.json()["reason"] == "lease_expired"
    assert "expired at" in answer.json()["detail"]
    beat = worker.heartbeat(
        worker_id, lease.batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.LEASE_LOST and beat.reason == "lease_expired"
    with session_scope(api.engine) as session:  # resumed, then the reaper's sweep
        SearchRepository(session).transition(sid, SearchState.RUNNING, now=utcnow())
        BatchRepository(session).requeue_expired(now=utcnow())
    other = api.worker_client()
    other_id = register(other, name="w2")
    second = other.lease(other_id).lease
    assert second is not None and second.attempt == 2 and second.batch_id == lease.batch_id
    stale = api.worker.post(
        f"/api/v1/workers/{worker_id}/batches/{lease.batch_id}/report",
        content=report.model_dump_json(),
        headers={"Content-Type": "application/json"},
    )
    assert stale.status_code == 409 and stale.json()["reason"] == "stale_attempt"
    assert api.alice.get(f"/api/v1/searches/{sid}").json()["counts"]["done"] == 0


def test_heartbeat_answers_cancel_and_late_reports_are_refused(api: Api) -> None:
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = register(worker)
    lease = leased_batch(api, worker, worker_id, sid, NB201_ARCHS[:2])
    api.alice.post(f"/api/v1/searches/{sid}/cancel")
    beat = worker.heartbeat(
        worker_id, lease.batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.CANCEL
    report = ReportRequest(
        attempt=1,
        lease_token=lease.lease_token,
        report_id="r",
        members=member_reports(NB201_ARCHS[:2]),
    )
    with pytest.raises(LeaseLostError):
        worker.report(worker_id, lease.batch_id, report)
    released = worker.release(
        worker_id,
        lease.batch_id,
        ReleaseRequest(attempt=1, lease_token=lease.lease_token, reason=ReleaseReason.CANCELLED),
    )
    assert released.requeued is False


def test_a_worker_is_leased_only_batches_of_evaluators_it_offers(api: Api) -> None:
    sid = api.submit(api.alice)["id"]
    kind = api.alice.get(f"/api/v1/searches/{sid}").json()["spec"]["evaluator"]["kind"]
    other_kinds = tuple(k for k in EvaluatorKind if k.value != kind)
    api.queue_batch(sid, NB201_ARCHS[:2])
    worker = api.worker_client()
    trainer_id = register(worker, name="trainer")
    assert worker.lease(trainer_id, LeaseRequest(evaluators=other_kinds)).lease is None
    taker_id = register(worker, name="taker")
    lease = worker.lease(taker_id, LeaseRequest(evaluators=(EvaluatorKind(kind),))).lease
    assert lease is not None and lease.attempt == 1


def test_release_requeues_and_the_next_lease_is_a_new_attempt(api: Api) -> None:
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = register(worker)
    lease = leased_batch(api, worker, worker_id, sid, NB201_ARCHS[:2])
    released = worker.release(
        worker_id,
        lease.batch_id,
        ReleaseRequest(
            attempt=1, lease_token=lease.lease_token, reason=ReleaseReason.ERROR, message="oom"
        ),
    )
    assert released.requeued is True
    again = worker.lease(worker_id).lease
    assert again is not None and again.attempt == 2 and again.lease_token != lease.lease_token
    beat = worker.heartbeat(
        worker_id, lease.batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.LEASE_LOST and beat.reason == "stale_attempt"
    events = api.alice.get("/api/v1/events", params={"search_id": sid}).json()["items"]
    released_event = next(e for e in events if e["kind"] == "batch.released")
    assert released_event["payload"]["reason"] == "error: oom"
    assert released_event["payload"]["state"] == "queued"


def test_worker_identity_and_unknown_ids(api: Api) -> None:
    worker = api.worker_client()
    same = uuid.uuid4().hex
    first = register(worker, name="host-cpu", instance=same)
    assert register(worker, name="host-cpu", instance=same) == first  # a retried registration
    second = register(worker, name="host-cpu")  # another live daemon with the same name
    assert second != first
    names = sorted(w["name"] for w in api.admin.get("/api/v1/workers").json()["items"])
    assert names[0] == "host-cpu" and names[1].startswith("host-cpu~")
    with api.client(
        api.admin.post("/api/v1/tokens", json={"role": "worker", "owner": "other"}).json()["token"]
    ) as intruder:
        taken = intruder.post(f"/api/v1/workers/{first}/lease", json={})
        assert taken.status_code == 403 and "another token" in taken.json()["detail"]
    unknown = api.worker.post("/api/v1/workers/424242/lease", json={})
    assert unknown.status_code == 404 and unknown.json()["reason"] == "unknown_worker"
    beat = worker.heartbeat(first, "4242", HeartbeatRequest(attempt=1, lease_token="x"))
    assert beat.status is HeartbeatStatus.LEASE_LOST and beat.reason == "unknown_batch"
    report = api.worker.post(
        f"/api/v1/workers/{first}/batches/4242/report",
        json={
            "attempt": 1,
            "lease_token": "x",
            "report_id": "r",
            "members": [json.loads(member_reports(["k"])[0].model_dump_json())],
        },
    )
    assert report.status_code == 404 and report.json()["reason"] == "unknown_batch"
    wrong = api.worker.post(
        "/api/v1/workers/register",
        json={"name": "w", "instance_id": "i", "protocol_version": 99, "capabilities": {}},
    )
    assert wrong.status_code == 422  # capabilities are incomplete: refused before the version
    old = RegisterRequest(
        name="w",
        instance_id="i",
        protocol_version=99,
        capabilities=WorkerCapabilities(device="cpu", hostname="h", pid=1, version="0"),
    )
    mismatch = api.worker.post(
        "/api/v1/workers/register",
        content=old.model_dump_json(),
        headers={"Content-Type": "application/json"},
    )
    assert mismatch.status_code == 409 and mismatch.json()["reason"] == "protocol_mismatch"


def test_report_with_wrong_members_or_fidelity_is_refused(api: Api) -> None:
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = register(worker)
    lease = leased_batch(api, worker, worker_id, sid, NB201_ARCHS[:2])
    path = f"/api/v1/workers/{worker_id}/batches/{lease.batch_id}/report"

    def send(members: tuple[MemberReport, ...]) -> httpx.Response:
        body = ReportRequest(
            attempt=1, lease_token=lease.lease_token, report_id="r", members=members
        )
        return api.worker.post(
            path, content=body.model_dump_json(), headers={"Content-Type": "application/json"}
        )

    missing = send(member_reports(NB201_ARCHS[:1]))
    assert missing.status_code == 422 and missing.json()["reason"] == "invalid_report"
    assert "no result for members" in missing.json()["detail"]
    stranger = send(member_reports([NB201_ARCHS[0], NB201_ARCHS[3]]))
    assert stranger.status_code == 422 and "has no members" in stranger.json()["detail"]
    wrong = tuple(
        m.model_copy(update={"fidelity": "supernet"}) for m in member_reports(NB201_ARCHS[:2])
    )
    assert "fidelity" in send(wrong).json()["detail"]
    failed = (
        member_reports(NB201_ARCHS[:1])[0],
        MemberReport(
            key=NB201_ARCHS[1],
            status="failed",
            error="not in the table",
            fidelity="val_acc",
            evaluator=EvaluatorKind.TABLE,
        ),
    )
    assert send(failed).status_code == 200
    stored = api.alice.get(
        f"/api/v1/searches/{sid}/architectures", params={"evaluated": True}
    ).json()["items"]
    assert [a["objective"] for a in stored] == [0.5, None]
    assert stored[1]["evaluations"][0]["metrics"]["error"] == "not in the table"
    assert stored[1]["feasible"] is False


def test_events_cursor(api: Api) -> None:
    first = api.submit(api.alice, name="one")["id"]
    second = api.submit(api.alice, name="two")["id"]
    page = api.alice.get("/api/v1/events", params={"limit": 1}).json()
    assert [e["search_id"] for e in page["items"]] == [first] and page["has_more"] is True
    rest = api.alice.get("/api/v1/events", params={"after": page["next_after"]}).json()
    assert [e["search_id"] for e in rest["items"]] == [second] and rest["has_more"] is False
    empty = api.alice.get("/api/v1/events", params={"after": rest["next_after"]}).json()
    assert empty["items"] == [] and empty["next_after"] == rest["next_after"]
    api.alice.post(f"/api/v1/searches/{first}/cancel")
    news = api.alice.get("/api/v1/events", params={"after": rest["next_after"]}).json()
    assert [e["kind"] for e in news["items"]] == ["search.cancelled"]
    only = api.alice.get("/api/v1/events", params={"search_id": second}).json()
    assert [e["kind"] for e in only["items"]] == ["search.created"]
    for _ in range(3):
        api.submit(api.bob)  # others' events: the cursor moves past them
    mine = api.alice.get("/api/v1/events", params={"after": news["next_after"], "limit": 2})
    assert mine.json()["items"] == [] and mine.json()["next_after"] > news["next_after"]


def test_export_best_as_genotype_and_module(api: Api) -> None:
    sid = api.submit(api.alice)["id"]
    assert api.alice.get(f"/api/v1/searches/{sid}/best").status_code == 404
    worker = api.worker_client()
    worker_id = register(worker)
    evaluate_batch(api, worker, worker_id, sid, NB201_ARCHS[:2])
    genotype = api.alice.get(f"/api/v1/searches/{sid}/best/export")
    assert genotype.status_code == 200
    assert "attachment" in genotype.headers["content-disposition"]
    body = genotype.json()
    assert body["arch"] == {"cell": NB201_ARCHS[1]} and body["objective"] == 0.51
    assert body["space"] == {"type": "nb201"} and body["objective_metric"] == "val_acc"
    weights = api.alice.get(
        f"/api/v1/searches/{sid}/best/export",
        params={"format": "state_dict", "channels": 4, "cells_per_stage": 1},
    )
    assert weights.status_code == 200
    import torch

    state = torch.load(io.BytesIO(weights.content), weights_only=True)
    assert any(name.endswith("weight") for name in state)


@pytest.mark.slow
def test_export_torchscript_runs_without_bonas_code(api: Api) -> None:
    import torch

    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = register(worker)
    evaluate_batch(api, worker, worker_id, sid, NB201_ARCHS[:1])
    module = api.alice.get(
        f"/api/v1/searches/{sid}/best/export",
        params={"format": "torchscript", "channels": 4, "cells_per_stage": 1},
    )
    assert module.status_code == 200
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        network = torch.jit.load(io.BytesIO(module.content))
    logits = network(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 10)


# --- with the controller -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_search_runs_to_its_budget_with_the_controller(make_api: Callable[..., Api]) -> None:
    api = make_api(run_controller=True)
    sid = api.submit(api.alice, budget={"evaluations": 6}, batch_size=2, batches_in_flight=2)["id"]
    worker = api.worker_client()
    worker_id = register(worker)
    deadline = time.monotonic() + 60
    reported: set[str] = set()
    while time.monotonic() < deadline:
        state = api.alice.get(f"/api/v1/searches/{sid}").json()["state"]
        if state == "completed":
            break
        lease = worker.lease(worker_id).lease
        if lease is None:
            time.sleep(0.1)
            continue
        keys = [m.key for m in lease.members]
        assert not reported & set(keys), "an architecture was handed out twice"
        reported |= set(keys)
        worker.report(
            worker_id,
            lease.batch_id,
            ReportRequest(
                attempt=lease.attempt,
                lease_token=lease.lease_token,
                report_id=uuid.uuid4().hex,
                members=member_reports(keys),
            ),
        )
    final = api.alice.get(f"/api/v1/searches/{sid}").json()
    assert final["state"] == "completed", final
    assert final["counts"]["done"] == 6 and final["best"] is not None
    kinds = {
        e["kind"] for e in api.alice.get("/api/v1/events", params={"limit": 1000}).json()["items"]
    }
    assert {"search.started", "batch.proposed", "batch.leased", "batch.reported"} <= kinds
    assert "search.completed" in kinds


def test_the_app_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(_settings(f"sqlite:///{tmp_path / 'empty.db'}"), run_controller=False)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pytest.fail("the app started on a database without the schema")

    with pytest.raises(DatabaseNotAtHeadError, match="Run `bonas db upgrade`"):
        asyncio.run(start())
    assert app.state.engine is None
