"""One worker-protocol contract, held by the real service and by the in-memory fake.

`protocol.fake_controller` stands in for the controller in the worker-daemon tests;
this suite keeps it honest. Each behaviour is written once, against a `Backend`: a
`ControllerClient` with a worker token plus the few things a test needs the controller itself to
do (queue a batch, cancel the search, let a lease expire and the reaper run). The behaviours are
the real service's; where the fake differed, the fake was fixed.

Backends: ``service-sqlite`` and ``service-postgresql`` (the app of `service.app` in process, over
HTTP, on a migrated database; see `tests/integration/test_api.py`'s ``make_api``) and ``fake``
(`MinimalController` served over HTTP with a fake clock).

Left out, because the fake does not model them: token scoping (owners, pools, another token's
worker), the revival of a lapsed lease that nobody took over while its search runs (the fake
refuses such a late report with ``lease_expired``, which the daemon tests rely on), worker-name
suffixing, and what the dashboard sees (events, worker lists).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import httpx
import pytest
from sqlalchemy import update

from protocol import (
    PROTOCOL_VERSION,
    REGISTER_PATH,
    REPORT_PATH,
    BatchMember,
    HeartbeatRequest,
    HeartbeatStatus,
    Lease,
    MemberReport,
    RegisterRequest,
    ReleaseReason,
    ReleaseRequest,
    ReportRequest,
    TableEvaluatorSpec,
    WorkerCapabilities,
)
from protocol.fake_controller import ControllerServer, MinimalController
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
from service.store.tables import BatchRow
from tests.integration.test_api import (  # noqa: F401  (make_api is a fixture used below)
    NB201_ARCHS,
    Api,
    make_api,
    member_reports,
)
from workers.client import NO_RETRY, ControllerClient

LEASE_SECONDS = 30.0
"""Lease length on both backends (long: no lease runs out unless a test expires it)."""


class Backend(Protocol):
    """What the contract needs of a controller."""

    client: ControllerClient
    raw: httpx.Client
    """Plain HTTP with the worker token, to read refusals' status and reason."""

    @property
    def url(self) -> str:
        """The controller's base URL."""

    def queue(self, archs: list[str], *, max_attempts: int = 3) -> str:
        """Queue one batch of NB201 `archs` (fidelity ``val_acc``); returns its id."""

    def cancel(self) -> None:
        """Cancel the search the batches belong to."""

    def expire(self, batch_id: str) -> None:
        """Let the batch's lease run out and the reaper sweep it."""

    def age(self, batch_id: str, seconds_left: float) -> None:
        """Let time pass until the batch's lease has only `seconds_left` to run."""


@dataclass
class ServiceBackend:
    """The real service, in process over HTTP (``make_api``), on one search of alice's."""

    api: Api
    search_id: int
    client: ControllerClient
    raw: httpx.Client

    @property
    def url(self) -> str:
        return self.api.url

    def queue(self, archs: list[str], *, max_attempts: int = 3) -> str:
        now = utcnow()
        with session_scope(self.api.engine) as session:
            searches = SearchRepository(session)
            if searches.get(self.search_id).state == SearchState.CREATED:
                searches.transition(self.search_id, SearchState.RUNNING, now=now)
            items = [
                ArchitectureInput(
                    key=arch,
                    arch={"cell": arch},
                    proposal=ProposalInfo("bo", predicted_mean=0.5, predicted_std=0.1),
                )
                for arch in archs
            ]
            added = ArchitectureRepository(session).add_many(self.search_id, items, now=now)
            batch = BatchRepository(session).create(
                self.search_id,
                [record.id for record, _ in added],
                now=now,
                fidelity="val_acc",
                max_attempts=max_attempts,
            )
        return str(batch.id)

    def cancel(self) -> None:
        answer = self.api.alice.post(f"/api/v1/searches/{self.search_id}/cancel")
        assert answer.status_code == 200, answer.text

    def expire(self, batch_id: str) -> None:
        past = utcnow() - timedelta(seconds=1)
        with session_scope(self.api.engine) as session:
            session.execute(
                update(BatchRow).where(BatchRow.id == int(batch_id)).values(lease_expires_at=past)
            )
        with session_scope(self.api.engine) as session:
            BatchRepository(session).requeue_expired(now=utcnow())

    def age(self, batch_id: str, seconds_left: float) -> None:
        soon = utcnow() + timedelta(seconds=seconds_left)
        with session_scope(self.api.engine) as session:
            session.execute(
                update(BatchRow).where(BatchRow.id == int(batch_id)).values(lease_expires_at=soon)
            )


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeBackend:
    """`MinimalController` over HTTP, with a fake clock."""

    controller: MinimalController
    clock: FakeClock
    url: str
    client: ControllerClient
    raw: httpx.Client
    search_id: str = "search-1"

    def queue(self, archs: list[str], *, max_attempts: int = 3) -> str:
        evaluator = TableEvaluatorSpec(
            path="nb201.csv", objective_column="val_acc", fidelity="val_acc"
        )
        members = [BatchMember(key=arch, arch={"cell": arch}) for arch in archs]
        return self.controller.add_batch(
            members,
            {"type": "nb201"},
            evaluator,
            search_id=self.search_id,
            max_attempts=max_attempts,
        )

    def cancel(self) -> None:
        self.controller.cancel_search(self.search_id)

    def expire(self, batch_id: str) -> None:
        self.clock.now += self.controller.lease_seconds + 1
        self.controller.batch(batch_id)  # reaps

    def age(self, batch_id: str, seconds_left: float) -> None:
        self.clock.now = self.controller.batch(batch_id).expires_at - seconds_left


@pytest.fixture(
    params=[
        "fake",
        pytest.param("sqlite", id="service-sqlite"),
        pytest.param("postgresql", id="service-postgresql", marks=pytest.mark.db),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    """Overrides conftest's ``backend``: the fake, or the service on a database."""
    return str(request.param)


@pytest.fixture
def controller(backend: str, request: pytest.FixtureRequest) -> Iterator[Backend]:
    opened: list[ControllerClient | httpx.Client] = []

    def raw_client(url: str, token: str) -> httpx.Client:
        client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        opened.append(client)
        return client

    server: ControllerServer | None = None
    chosen: Backend
    if backend == "fake":
        clock = FakeClock()
        fake = MinimalController(token="contract-token", lease_seconds=LEASE_SECONDS, clock=clock)
        server = ControllerServer(fake)
        server.start()
        client = ControllerClient(server.url, fake.token, retry=NO_RETRY)
        opened.append(client)
        chosen = FakeBackend(fake, clock, server.url, client, raw_client(server.url, fake.token))
    else:
        make: Callable[..., Api] = request.getfixturevalue("make_api")
        api = make(lease_seconds=LEASE_SECONDS)
        search_id = api.submit(api.alice)["id"]
        chosen = ServiceBackend(
            api, search_id, api.worker_client(), raw_client(api.url, api.worker_token)
        )
    yield chosen
    for each in opened:
        each.close()
    if server is not None:
        server.stop()


def register(controller: Backend, instance: str | None = None, name: str = "w1") -> str:
    capabilities = WorkerCapabilities(device="cpu", hostname="test", pid=1, version="0")
    request = RegisterRequest(
        name=name, instance_id=instance or uuid.uuid4().hex, capabilities=capabilities
    )
    return controller.client.register(request).worker_id


def lease_one(controller: Backend, worker_id: str) -> Lease:
    lease = controller.client.lease(worker_id).lease
    assert lease is not None
    return lease


def report_of(
    lease: Lease, members: tuple[MemberReport, ...], report_id: str = "r"
) -> ReportRequest:
    return ReportRequest(
        attempt=lease.attempt, lease_token=lease.lease_token, report_id=report_id, members=members
    )


def post_report(
    controller: Backend, worker_id: str, batch_id: str, body: ReportRequest
) -> httpx.Response:
    return controller.raw.post(
        REPORT_PATH.format(worker_id=worker_id, batch_id=batch_id),
        content=body.model_dump_json(),
        headers={"Content-Type": "application/json"},
    )


def release(controller: Backend, worker_id: str, lease: Lease, reason: ReleaseReason) -> bool:
    request = ReleaseRequest(
        attempt=lease.attempt, lease_token=lease.lease_token, reason=reason, message="why"
    )
    return controller.client.release(worker_id, lease.batch_id, request).requeued


# --- the contract ------------------------------------------------------------------------------


def test_re_registering_with_the_same_instance_id_returns_the_same_worker(
    controller: Backend,
) -> None:
    instance = uuid.uuid4().hex
    first = register(controller, instance)
    assert register(controller, instance) == first
    assert register(controller, name="w2") != first


def test_a_registration_of_another_protocol_version_is_refused(controller: Backend) -> None:
    old = RegisterRequest(
        name="w",
        instance_id="i",
        protocol_version=PROTOCOL_VERSION + 98,
        capabilities=WorkerCapabilities(device="cpu", hostname="h", pid=1, version="0"),
    )
    answer = controller.raw.post(
        REGISTER_PATH, content=old.model_dump_json(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 409 and answer.json()["reason"] == "protocol_mismatch"


def test_lease_is_empty_on_an_empty_queue_then_idempotent_per_worker(controller: Backend) -> None:
    worker_id = register(controller)
    empty = controller.client.lease(worker_id)
    assert empty.lease is None and empty.retry_after_s is not None and empty.retry_after_s > 0
    batch_id = controller.queue(NB201_ARCHS[:3])
    lease = lease_one(controller, worker_id)
    assert lease.batch_id == batch_id and lease.attempt == 1
    assert [m.key for m in lease.members] == NB201_ARCHS[:3]
    assert lease.evaluator.fidelity == "val_acc"
    again = lease_one(controller, worker_id)
    assert (again.batch_id, again.attempt, again.lease_token) == (
        lease.batch_id,
        1,
        lease.lease_token,
    )
    assert again.lease_seconds <= lease.lease_seconds
    assert controller.client.lease(register(controller, name="w2")).lease is None  # taken


def test_a_heartbeat_on_a_held_lease_answers_ok_and_extends_it(controller: Backend) -> None:
    worker_id = register(controller)
    batch_id = controller.queue(NB201_ARCHS[:2])
    lease = lease_one(controller, worker_id)
    controller.age(batch_id, seconds_left=5)
    assert lease_one(controller, worker_id).lease_seconds < 6
    beat = controller.client.heartbeat(
        worker_id, lease.batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.OK and beat.reason is None
    assert beat.lease_seconds == pytest.approx(LEASE_SECONDS, abs=1)
    assert beat.lease_expires_at is not None
    assert beat.lease_expires_at >= lease.lease_expires_at - timedelta(seconds=1)
    held = lease_one(controller, worker_id)
    assert held.lease_token == lease.lease_token and held.lease_seconds > LEASE_SECONDS - 2


def test_a_report_is_stored_once_and_its_retry_answers_duplicate(controller: Backend) -> None:
    worker_id = register(controller)
    controller.queue(NB201_ARCHS[:2])
    lease = lease_one(controller, worker_id)
    report = report_of(lease, member_reports(NB201_ARCHS[:2]))
    stored = controller.client.report(worker_id, lease.batch_id, report)
    assert stored.stored == 2 and not stored.duplicate
    retried = controller.client.report(worker_id, lease.batch_id, report)
    assert retried.duplicate and retried.stored == 0
    other = post_report(
        controller, worker_id, lease.batch_id, report_of(lease, report.members, "r2")
    )
    assert other.status_code == 409 and other.json()["reason"] == "already_reported"
    assert controller.client.lease(worker_id).lease is None


def test_a_report_with_unknown_keys_or_another_fidelity_is_refused(controller: Backend) -> None:
    worker_id = register(controller)
    controller.queue(NB201_ARCHS[:2])
    lease = lease_one(controller, worker_id)
    stranger = member_reports([NB201_ARCHS[0], NB201_ARCHS[3]])
    refused = post_report(controller, worker_id, lease.batch_id, report_of(lease, stranger))
    assert refused.status_code == 422 and refused.json()["reason"] == "invalid_report"
    missing = member_reports(NB201_ARCHS[:1])
    refused = post_report(controller, worker_id, lease.batch_id, report_of(lease, missing))
    assert refused.status_code == 422 and refused.json()["reason"] == "invalid_report"
    wrong = tuple(
        m.model_copy(update={"fidelity": "supernet"}) for m in member_reports(NB201_ARCHS[:2])
    )
    refused = post_report(controller, worker_id, lease.batch_id, report_of(lease, wrong))
    assert refused.status_code == 422 and refused.json()["reason"] == "invalid_report"
    assert "fidelity" in refused.json()["detail"]
    right = report_of(lease, member_reports(NB201_ARCHS[:2]))  # a refusal keeps the lease
    assert controller.client.report(worker_id, lease.batch_id, right).stored == 2


def test_after_a_cancel_heartbeats_answer_cancel_and_reports_are_refused(
    controller: Backend,
) -> None:
    worker_id = register(controller)
    controller.queue(NB201_ARCHS[:2])
    lease = lease_one(controller, worker_id)
    controller.cancel()
    beat = controller.client.heartbeat(
        worker_id, lease.batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.CANCEL
    late = post_report(
        controller, worker_id, lease.batch_id, report_of(lease, member_reports(NB201_ARCHS[:2]))
    )
    assert late.status_code == 409 and late.json()["reason"] == "stale_attempt"
    # Whatever reason the worker gives, releasing a cancelled batch only acknowledges it.
    assert release(controller, worker_id, lease, ReleaseReason.SHUTDOWN) is False
    assert controller.client.lease(worker_id).lease is None


def test_a_shutdown_release_requeues_without_spending_an_attempt(controller: Backend) -> None:
    worker_id = register(controller)
    batch_id = controller.queue(NB201_ARCHS[:2], max_attempts=1)
    lease = lease_one(controller, worker_id)
    assert release(controller, worker_id, lease, ReleaseReason.SHUTDOWN) is True
    again = lease_one(controller, worker_id)  # the one allowed attempt is still there
    assert again.batch_id == batch_id and again.attempt == 2
    assert again.lease_token != lease.lease_token
    assert release(controller, worker_id, again, ReleaseReason.ERROR) is False  # now it is spent
    assert controller.client.lease(worker_id).lease is None


def test_an_error_release_requeues_and_the_attempt_count_rises(controller: Backend) -> None:
    worker_id = register(controller)
    batch_id = controller.queue(NB201_ARCHS[:2])
    lease = lease_one(controller, worker_id)
    assert release(controller, worker_id, lease, ReleaseReason.ERROR) is True
    again = lease_one(controller, worker_id)
    assert again.batch_id == batch_id and again.attempt == 2
    assert again.lease_token != lease.lease_token
    beat = controller.client.heartbeat(
        worker_id, batch_id, HeartbeatRequest(attempt=1, lease_token=lease.lease_token)
    )
    assert beat.status is HeartbeatStatus.LEASE_LOST and beat.reason == "stale_attempt"


def test_a_stale_attempts_report_is_refused_with_409(controller: Backend) -> None:
    first = register(controller)
    batch_id = controller.queue(NB201_ARCHS[:2])
    lease = lease_one(controller, first)
    controller.expire(batch_id)
    second = register(controller, name="w2")
    taken = lease_one(controller, second)
    assert taken.batch_id == batch_id and taken.attempt == 2
    members = member_reports(NB201_ARCHS[:2])
    stale = post_report(controller, first, batch_id, report_of(lease, members))
    assert stale.status_code == 409 and stale.json()["reason"] == "stale_attempt"
    assert controller.client.report(second, batch_id, report_of(taken, members, "r2")).stored == 2
