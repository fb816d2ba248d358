"""The worker-protocol use cases driven directly over a session, with a fake clock.

No HTTP and no sleeping: each call gets its time from `ManualClock`, so a lease's whole life
(lease, repeat lease, heartbeat, expiry, late report) runs in a few milliseconds and the
assertions can name exact expiries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from protocol import (
    ErrorReason,
    EvaluatorKind,
    HeartbeatRequest,
    HeartbeatStatus,
    LeaseRequest,
    MemberReport,
    RegisterRequest,
    ReportRequest,
    WorkerCapabilities,
)
from service.auth import Principal
from service.clock import ManualClock
from service.errors import ApiError
from service.events import EventKind
from service.search_spec import SearchSpec, batch_fidelity
from service.settings import Settings
from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    BatchRepository,
    BatchState,
    EventRepository,
    ProposalInfo,
    Role,
    session_scope,
)
from service.usecases.workers import (
    LeaseGrant,
    heartbeat,
    lease_batch,
    record_report,
    register_worker,
)
from tests.integration import test_api as base
from tests.support.store import start_search

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LEASE_S = 30.0
SPEC = SearchSpec.model_validate(
    {
        "name": "usecases",
        "space": {"type": "cell", "name": "small", "num_nodes": 4, "ops": ["none", "skip", "conv"]},
        "evaluator": {"kind": "table", "path": "unused.csv"},
        "objective": {"metric": "score"},
        "budget": {"evaluations": 10},
        "batch_size": 2,
        "strategy": {"name": "random"},
    }
)
KEYS = ["a", "b"]

make_api = base.make_api  # the fixture, shared with test_api


def _principal(owner: str = "alice") -> Principal:
    return Principal(role=Role.WORKER, owner=owner, token_id=None, token_hash=f"hash-{owner}")


def _settings(engine: Engine) -> Settings:
    return Settings(_env_file=None, database_url=str(engine.url), lease_seconds=LEASE_S)  # type: ignore[call-arg]


def _register(engine: Engine, clock: ManualClock, settings: Settings, name: str) -> int:
    body = RegisterRequest(
        name=name,
        instance_id=f"instance-{name}",
        capabilities=WorkerCapabilities(device="cpu", hostname="host", pid=1, version="0"),
    )
    with session_scope(engine) as session:
        return register_worker(session, clock(), _principal(), settings, body).id


def _queue(engine: Engine) -> tuple[int, int]:
    """A running search of alice's with one queued batch; returns (search id, batch id)."""
    with session_scope(engine) as session:
        search_id = start_search(session, SPEC, T0)
        items = [ArchitectureInput(k, {"cell": k}, ProposalInfo("initial")) for k in KEYS]
        added = ArchitectureRepository(session).add_many(search_id, items, now=T0)
        batch = BatchRepository(session).create(
            search_id, [record.id for record, _ in added], now=T0, fidelity=batch_fidelity(SPEC)
        )
    return search_id, batch.id


def _lease(engine: Engine, clock: ManualClock, settings: Settings, worker_id: int) -> LeaseGrant:
    with session_scope(engine) as session:
        grant = lease_batch(session, clock(), _principal(), settings, worker_id, LeaseRequest())
    assert grant is not None
    return grant


def _report(token: str) -> ReportRequest:
    members = tuple(
        MemberReport(
            key=key,
            metrics={"score": 0.5 + i / 10},
            objective=0.5 + i / 10,
            fidelity=batch_fidelity(SPEC),
            evaluator=EvaluatorKind.TABLE,
            timings={"total": 0.01},
        )
        for i, key in enumerate(KEYS)
    )
    return ReportRequest(attempt=1, lease_token=token, report_id="r1", members=members)


def _kinds(engine: Engine, search_id: int) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        return [e.kind for e in EventRepository(session).list_after(search_id=search_id)]


def test_a_lease_lives_heartbeats_expires_and_takes_its_late_report(engine: Engine) -> None:
    clock = ManualClock(T0)
    settings = _settings(engine)
    search_id, batch_id = _queue(engine)
    worker_id = _register(engine, clock, settings, "w1")

    first = _lease(engine, clock, settings, worker_id)
    assert first.new
    assert first.lease.batch_id == str(batch_id)
    assert first.lease.lease_expires_at == T0 + timedelta(seconds=LEASE_S)
    assert first.lease.lease_seconds == LEASE_S

    clock.advance(5)  # the store hands the held lease back, with the time left on it
    repeat = _lease(engine, clock, settings, worker_id)
    assert not repeat.new
    assert repeat.lease.lease_token == first.lease.lease_token
    assert repeat.lease.lease_seconds == LEASE_S - 5
    assert _kinds(engine, search_id).count(EventKind.BATCH_LEASED.value) == 1

    beat_at = clock.advance(5)
    with session_scope(engine) as session:
        beat = heartbeat(
            session,
            clock(),
            _principal(),
            settings,
            worker_id,
            batch_id,
            HeartbeatRequest(attempt=1, lease_token=first.lease.lease_token),
        )
    assert beat.status is HeartbeatStatus.OK
    assert beat.lease_expires_at == beat_at + timedelta(seconds=LEASE_S)

    with session_scope(engine) as session:  # one second before the extended expiry: still held
        assert BatchRepository(session).requeue_expired(now=clock.advance(LEASE_S - 1)) == ()
    with session_scope(engine) as session:  # at beat + lease_seconds the lease lapses
        reaped = BatchRepository(session).requeue_expired(now=clock.advance(1))
    assert [(r.batch_id, r.state) for r in reaped] == [(batch_id, BatchState.QUEUED)]

    clock.advance(3)  # nobody re-leased the batch: the late report is still the batch's result
    with session_scope(engine) as session:
        outcome = record_report(
            session, clock(), _principal(), worker_id, batch_id, _report(first.lease.lease_token)
        )
    assert outcome.response.stored == len(KEYS)
    assert not outcome.response.duplicate
    assert outcome.wake == search_id
    with session_scope(engine, read_only=True) as session:
        assert BatchRepository(session).get(batch_id).state is BatchState.DONE
    assert _kinds(engine, search_id).count(EventKind.BATCH_REPORTED.value) == 1

    with session_scope(engine) as session:  # a retry changes nothing and wakes nobody
        retry = record_report(
            session, clock(), _principal(), worker_id, batch_id, _report(first.lease.lease_token)
        )
    assert retry.response.duplicate and retry.wake is None


def test_a_late_report_after_a_re_lease_is_refused(engine: Engine) -> None:
    clock = ManualClock(T0)
    settings = _settings(engine)
    _, batch_id = _queue(engine)
    first_worker = _register(engine, clock, settings, "w1")
    second_worker = _register(engine, clock, settings, "w2")
    first = _lease(engine, clock, settings, first_worker)

    with session_scope(engine) as session:
        BatchRepository(session).requeue_expired(now=clock.advance(LEASE_S))
    second = _lease(engine, clock, settings, second_worker)
    assert second.new and second.lease.attempt == 2

    with session_scope(engine) as session, pytest.raises(ApiError) as refused:
        record_report(
            session,
            clock(),
            _principal(),
            first_worker,
            batch_id,
            _report(first.lease.lease_token),
        )
    assert refused.value.status_code == 409
    assert refused.value.reason == ErrorReason.STALE_ATTEMPT.value


def test_the_routes_read_the_time_from_the_apps_clock(make_api: Callable[..., base.Api]) -> None:
    """`ClockDep`: a fake clock on ``app.state`` is the time the worker routes act at."""
    api = make_api(lease_seconds=LEASE_S)
    clock = ManualClock(T0)
    api.server.app.state.clock = clock
    sid = api.submit(api.alice)["id"]
    worker = api.worker_client()
    worker_id = base.register(worker)
    lease = base.leased_batch(api, worker, worker_id, sid, base.NB201_ARCHS[:2])
    assert lease.lease_expires_at == T0 + timedelta(seconds=LEASE_S)
    assert lease.lease_seconds == LEASE_S

    clock.advance(10)
    beat = worker.heartbeat(
        worker_id, lease.batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.OK
    assert beat.lease_expires_at == T0 + timedelta(seconds=10 + LEASE_S)
