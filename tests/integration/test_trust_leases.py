"""Issue #10, worker scoping and store outages: over a real server, on SQLite and PostgreSQL.

* A worker token serves its owner or the users its pool is granted to: a worker of another owner
  is refused alice's batch, and cannot heartbeat, report or release it.
* A report is checked against its batch: non-finite numbers and an objective outside the
  search's declared range are refused.
* A read-only database is the store's condition: 503 ``store_unavailable`` on lease and report,
  and a search whose rounds fail on it keeps running once writes come back.
* A lease that expired during an outage, and that nobody took over, accepts its late report;
  concurrent copies of one report all answer 200 (one stored, the others ``duplicate``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from protocol import HeartbeatRequest, HeartbeatStatus, ReportRequest
from service.controller import Controller
from service.exceptions import StoreUnavailableError
from service.search_spec import SearchSpec
from service.settings import Settings
from service.store import (
    BatchRepository,
    BatchState,
    EvaluationRepository,
    SearchRepository,
    SearchState,
    session_scope,
    utcnow,
)
from tests.integration import test_api as base
from tests.integration.store_outage import ReadOnlySwitch
from tests.support.store import create_search
from workers.client import NO_RETRY, ControllerClient

Api = base.Api
ARCHS = base.NB201_ARCHS
make_api = base.make_api  # the fixture, shared with test_api


def _token(api: Api, role: str, owner: str) -> str:
    answer = api.admin.post("/api/v1/tokens", json={"role": role, "owner": owner})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def _worker(api: Api, owner: str, name: str) -> tuple[ControllerClient, str, httpx.Client]:
    """A worker daemon's client, its worker id, and raw HTTP under the same token."""
    token = _token(api, "worker", owner)
    client = api.worker_client(token)
    return client, base.register(client, name=name), api.client(token)


def _post(http: httpx.Client, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, str) else body.model_dump_json()
    return http.post(path, content=content, headers={"Content-Type": "application/json"})


def _report(lease_token: str, keys: list[str], value: float = 0.5, report_id: str = "r") -> Any:
    return ReportRequest(
        attempt=1,
        lease_token=lease_token,
        report_id=report_id,
        members=base.member_reports(keys, value),
    )


def _batch(api: Api, batch_id: int) -> Any:
    with session_scope(api.engine, read_only=True) as session:
        return BatchRepository(session).get(batch_id)


# --- worker scoping --------------------------------------------------------------------------


def test_a_worker_of_another_owner_is_refused_alices_batch(make_api: Callable[..., Api]) -> None:
    api = make_api()
    sid = api.submit(api.alice)["id"]
    batch_id = api.queue_batch(sid, ARCHS[:2])
    bobs, bobs_id, bobs_http = _worker(api, "bob", "bobs-worker")
    farm, farm_id, _ = _worker(api, "farm-2", "farm-worker")
    assert bobs.lease(bobs_id).lease is None  # alice's batch is not bob's to take
    assert farm.lease(farm_id).lease is None  # the pool serves nobody yet
    granted = api.admin.put("/api/v1/pools/farm-2/owners/alice")
    assert granted.status_code == 200 and granted.json()["owner"] == "alice"
    lease = farm.lease(farm_id).lease
    assert lease is not None and int(lease.batch_id) == batch_id

    # Even knowing the lease's token, bob's worker cannot touch the batch; the answers are
    # those for a batch that does not exist, so they say nothing about alice's work.
    base_path = f"/api/v1/workers/{bobs_id}/batches"
    beat = bobs.heartbeat(
        bobs_id, lease.batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.LEASE_LOST and beat.reason == "unknown_batch"
    forged = _post(
        bobs_http, f"{base_path}/{batch_id}/report", _report(lease.lease_token, ARCHS[:2], 1e300)
    )
    missing = _post(bobs_http, f"{base_path}/999999/report", _report(lease.lease_token, ARCHS[:2]))
    assert forged.status_code == missing.status_code == 404
    assert forged.json()["reason"] == missing.json()["reason"] == "unknown_batch"
    assert forged.json()["detail"] == missing.json()["detail"].replace("999999", str(batch_id))
    release = {"attempt": 1, "lease_token": lease.lease_token, "reason": "error", "message": "x"}
    for _ in range(3):
        refused = _post(bobs_http, f"{base_path}/{batch_id}/release", json.dumps(release))
        assert refused.status_code == 404 and refused.json()["reason"] == "unknown_batch"
    held = _batch(api, batch_id)
    assert held.state == BatchState.LEASED and held.attempts == 1 and held.failure_reason is None
    assert api.alice.get(f"/api/v1/searches/{sid}").json()["counts"]["done"] == 0

    stored = farm.report(farm_id, lease.batch_id, _report(lease.lease_token, ARCHS[:2]))
    assert stored.stored == 2 and not stored.duplicate


def test_an_admin_token_serves_everyone_and_a_users_own_worker_serves_them(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    alice_batch = api.queue_batch(api.submit(api.alice)["id"], ARCHS[:1])
    bob_batch = api.queue_batch(api.submit(api.bob)["id"], ARCHS[1:2])
    own, own_id, _ = _worker(api, "bob", "bobs-own")
    lease = own.lease(own_id).lease
    assert lease is not None and int(lease.batch_id) == bob_batch
    admin = api.worker_client(base.ADMIN_TOKEN)
    admins = admin.lease(base.register(admin, name="admin-worker")).lease
    assert admins is not None and int(admins.batch_id) == alice_batch


def test_pools_are_granted_and_revoked_by_admins_only(make_api: Callable[..., Api]) -> None:
    api = make_api()
    assert api.alice.put("/api/v1/pools/mine/owners/alice").status_code == 403
    assert api.worker.get("/api/v1/pools").status_code == 403
    assert api.admin.put("/api/v1/pools/gpu-farm/owners/carol").status_code == 200
    listed = api.admin.get("/api/v1/pools", params={"pool": "gpu-farm"}).json()
    assert [g["owner"] for g in listed["items"]] == ["alice", "bob", "carol"]
    assert api.admin.delete("/api/v1/pools/gpu-farm/owners/carol").status_code == 204
    again = api.admin.delete("/api/v1/pools/gpu-farm/owners/carol")
    assert again.status_code == 404 and again.json()["reason"] == "not_found"
    # The revoked pool no longer leases that user's batches.
    assert api.admin.delete("/api/v1/pools/gpu-farm/owners/alice").status_code == 204
    api.queue_batch(api.submit(api.alice)["id"], ARCHS[:1])
    worker = api.worker_client()
    assert worker.lease(base.register(worker)).lease is None


def test_the_workers_list_and_dashboard_show_a_user_only_their_own_batches(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    batch_id = api.queue_batch(api.submit(api.alice)["id"], ARCHS[:2])
    worker = api.worker_client()
    assert worker.lease(base.register(worker)).lease is not None

    def shown(http: httpx.Client) -> tuple[Any, Any]:
        (listed,) = http.get("/api/v1/workers").json()["items"]
        (row,) = http.get("/api/v1/dashboard/summary").json()["workers"]
        return (listed["current_batch"] or {}).get("id"), row["current_batch_id"]

    assert shown(api.alice) == (batch_id, batch_id)
    assert shown(api.admin) == (batch_id, batch_id)
    assert shown(api.bob) == (None, None)


# --- report checks ---------------------------------------------------------------------------


def test_reports_not_finite_or_outside_the_objective_range_are_refused(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    sid = api.submit(api.alice, objective={"metric": "val_acc", "range": [0, 1]})["id"]
    worker = api.worker_client()
    worker_id = base.register(worker)
    lease = base.leased_batch(api, worker, worker_id, sid, ARCHS[:2])
    path = f"/api/v1/workers/{worker_id}/batches/{lease.batch_id}/report"
    huge = _post(api.worker, path, _report(lease.lease_token, ARCHS[:2], 1e300))
    assert huge.status_code == 422 and huge.json()["reason"] == "invalid_report"
    assert "outside the range [0.0, 1.0]" in huge.json()["detail"]
    raw = json.loads(_report(lease.lease_token, ARCHS[:2]).model_dump_json())
    for field, value in (("objective", "NaN"), ("objective", "Infinity"), ("timings", "Inf")):
        body = json.loads(json.dumps(raw))
        if field == "timings":
            body["members"][0]["timings"] = {"total": "__X__"}
        else:
            body["members"][0]["objective"] = "__X__"
        text = json.dumps(body).replace('"__X__"', value if value != "Inf" else "Infinity")
        refused = _post(api.worker, path, text)
        assert refused.status_code == 422, (field, value, refused.text)
    assert api.alice.get(f"/api/v1/searches/{sid}").json()["counts"]["done"] == 0
    assert _post(api.worker, path, _report(lease.lease_token, ARCHS[:2])).status_code == 200
    bad_range = api.alice.post(
        "/api/v1/searches", json=base.spec(objective={"metric": "val_acc", "range": [1, 0]})
    )
    assert bad_range.status_code == 422 and "range" in bad_range.json()["detail"]


# --- store outages ---------------------------------------------------------------------------


def test_a_read_only_database_answers_503_on_lease_and_report(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = base.register(worker)
    other = api.worker_client()
    other_id = base.register(other, name="w2")
    lease = base.leased_batch(api, worker, worker_id, sid, ARCHS[:2])
    second = api.queue_batch(sid, ARCHS[2:4])
    switch = ReadOnlySwitch(api.engine)
    switch.on()
    try:
        leased = _post(api.worker, f"/api/v1/workers/{other_id}/lease", "{}")
        report = _post(
            api.worker,
            f"/api/v1/workers/{worker_id}/batches/{lease.batch_id}/report",
            _report(lease.lease_token, ARCHS[:2]),
        )
        for answer in (leased, report):
            assert answer.status_code == 503, answer.text
            assert answer.json()["reason"] == "store_unavailable"
            assert "read-only" in answer.json()["detail"]
            assert float(answer.headers["Retry-After"]) > 0
    finally:
        switch.off()
    stored = worker.report(worker_id, lease.batch_id, _report(lease.lease_token, ARCHS[:2]))
    assert stored.stored == 2
    again = other.lease(other_id).lease
    assert again is not None and int(again.batch_id) == second and again.attempt == 1


def test_a_lease_that_expired_during_an_outage_accepts_its_late_report(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(lease_seconds=0.5, heartbeat_interval_s=0.1)
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = base.register(worker)
    lease = base.leased_batch(api, worker, worker_id, sid, ARCHS[:2])
    switch = ReadOnlySwitch(api.engine)
    switch.on()
    try:
        time.sleep(0.7)  # the lease runs out while nobody can write
        with pytest.raises(StoreUnavailableError), session_scope(api.engine) as session:
            BatchRepository(session).requeue_expired(now=utcnow())  # the reaper cannot run
    finally:
        switch.off()
    beat = worker.heartbeat(
        worker_id, lease.batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.OK  # nobody took it over: revived
    stored = worker.report(worker_id, lease.batch_id, _report(lease.lease_token, ARCHS[:2]))
    assert stored.stored == 2
    done = _batch(api, int(lease.batch_id))
    assert done.state == BatchState.DONE and done.attempts == 1


def test_concurrent_copies_of_one_report_all_answer_200(make_api: Callable[..., Api]) -> None:
    api = make_api()
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = base.register(worker)
    lease = base.leased_batch(api, worker, worker_id, sid, ARCHS[:3])
    copies = 6
    clients = [ControllerClient(api.url, api.worker_token, retry=NO_RETRY) for _ in range(copies)]
    api.opened.extend(clients)
    start = threading.Barrier(copies)
    answers: list[Any] = []
    errors: list[BaseException] = []

    def send(client: ControllerClient) -> None:
        start.wait()
        try:
            answers.append(
                client.report(worker_id, lease.batch_id, _report(lease.lease_token, ARCHS[:3]))
            )
        except BaseException as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(answers) == copies
    assert sorted(a.duplicate for a in answers) == [False] + [True] * (copies - 1)
    assert sum(a.stored for a in answers) == 3
    with session_scope(api.engine, read_only=True) as session:
        assert EvaluationRepository(session).count(sid) == 3


SMALL_SPACE = {"type": "cell", "name": "small", "num_nodes": 4, "ops": ["none", "skip", "conv"]}


def test_a_search_keeps_running_through_failed_rounds_on_a_read_only_database(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Five and more rounds fail on a read-only database; none counts against the search."""
    spec = SearchSpec.model_validate(
        {
            "name": "outage",
            "space": SMALL_SPACE,
            "evaluator": {"kind": "table", "path": "unused.csv"},
            "objective": {"metric": "score"},
            "budget": {"evaluations": 40},
            "batch_size": 2,
            "batches_in_flight": 1,
            "strategy": {"name": "random"},
            "seed": 3,
        }
    )
    with session_scope(engine) as session:
        search = create_search(session, spec, utcnow())
    settings = Settings(_env_file=None, database_url=str(engine.url), lease_seconds=30)  # type: ignore[call-arg]
    controller = Controller(engine, settings, max_errors=5)
    switch = ReadOnlySwitch(engine)

    def unavailable() -> int:
        return sum("database unavailable" in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        await controller.start()
        try:
            switch.on()  # the created search cannot even be started
            for failed in range(1, 8):
                controller.notify(search.id)
                await _until(lambda failed=failed: unavailable() >= failed)  # type: ignore[misc]
            switch.off()
            controller.notify(search.id)
            await _until(lambda: _batches(engine, search.id))
        finally:
            await controller.stop()

    with caplog.at_level(logging.WARNING, logger="service.controller"):
        asyncio.run(scenario())
    assert unavailable() >= 7
    assert not [r for r in caplog.records if "round failed" in r.getMessage()]
    with session_scope(engine, read_only=True) as session:
        stored = SearchRepository(session).get(search.id)
    assert stored.state == SearchState.RUNNING, stored.finished_reason


def _batches(engine: Engine, search_id: int) -> tuple[Any, ...]:
    with session_scope(engine, read_only=True) as session:
        return BatchRepository(session).list(search_id)


async def _until(probe: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting for the controller")
