"""An in-memory controller that speaks the worker protocol: the test fake of the controller's side.

It lives beside the protocol it fakes (as BoTorch ships `botorch.utils.testing`), so that a worker
test, or anyone writing another worker, can run against it without the service, its database or
its search loop; it imports only `protocol` and the HTTP stack (FastAPI, uvicorn).

It implements the controller's side of `protocol` faithfully (leases that expire,
idempotent leasing per worker, heartbeats that extend or cancel, reports idempotent per
``report_id`` and refused on a lease not held, re-queueing of expired leases up to a number of
attempts) but keeps everything in memory and has no search loop: a test puts batches in with
`MinimalController.add_batch` and reads what was stored.

`ControllerServer` serves it with uvicorn in a background thread on a free port, and can be
stopped and started again on the same port with its state intact, to play a controller outage.
The contract test ``tests/integration/test_worker_protocol_contract.py`` runs the same requests
against this fake and the real service, so the two cannot drift apart.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from protocol.errors import ErrorBody, ErrorReason
from protocol.messages import (
    BatchMember,
    EvaluatorKind,
    EvaluatorSpec,
    HeartbeatRequest,
    HeartbeatResponse,
    HeartbeatStatus,
    Lease,
    LeaseRequest,
    LeaseResponse,
    MemberReport,
    Progress,
    RegisterRequest,
    RegisterResponse,
    ReleaseReason,
    ReleaseRequest,
    ReleaseResponse,
    ReportRequest,
    ReportResponse,
    WorkerCapabilities,
)
from protocol.paths import (
    HEARTBEAT_PATH,
    LEASE_PATH,
    PROTOCOL_VERSION,
    REGISTER_PATH,
    RELEASE_PATH,
    REPORT_PATH,
)

Auth = Annotated[str | None, Header()]
"""The ``Authorization`` header (module level: FastAPI resolves annotations in module scope)."""


class RefusalError(Exception):
    """A request the controller refuses; answered as an `ErrorBody`."""

    def __init__(self, status_code: int, reason: ErrorReason, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.reason = reason
        self.detail = detail


@dataclass
class WorkerRecord:
    """A registered worker as the fake keeps it."""

    worker_id: str
    name: str
    instance_id: str
    capabilities: WorkerCapabilities
    last_seen: float


@dataclass
class StoredResult:
    """One member result as the controller stored it."""

    batch_id: str
    attempt: int
    worker_id: str
    member: MemberReport


@dataclass
class BatchRecord:
    """A batch and its lease, if any.

    ``state`` is ``queued``, ``leased``, ``done``, ``failed`` or ``cancelled``; ``failures``
    counts expiries and error releases (not shutdown releases) against ``max_attempts``.
    """

    batch_id: str
    search_id: str
    space: dict[str, Any]
    members: tuple[BatchMember, ...]
    evaluator: EvaluatorSpec
    seed: int
    max_attempts: int
    state: str = "queued"
    attempt: int = 0
    failures: int = 0
    worker_id: str | None = None
    lease_token: str | None = None
    expires_at: float = 0.0
    report_id: str | None = None
    reported_stored: int = 0
    expired_tokens: set[str] = field(default_factory=set)
    progress: list[Progress] = field(default_factory=list)
    failure_reason: str | None = None


class MinimalController:
    """The controller's worker endpoints over in-memory state.

    Args:
        token: The one bearer token accepted.
        lease_seconds: Lease duration granted and extended by heartbeats.
        heartbeat_interval_s: Heartbeat interval told to workers.
        poll_interval_s: Pause suggested to workers when there is no work.
        max_attempts: Expiries or error releases after which a batch fails.
        clock: Monotonic clock.
    """

    def __init__(
        self,
        token: str = "worker-token",
        lease_seconds: float = 5.0,
        heartbeat_interval_s: float = 1.0,
        poll_interval_s: float = 0.2,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.lease_seconds = lease_seconds
        self.heartbeat_interval_s = heartbeat_interval_s
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        self._clock = clock
        self._lock = threading.RLock()
        self.workers: dict[str, WorkerRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        self.results: list[StoredResult] = []
        self.events: list[tuple[str, str, str]] = []
        """(event, batch id, detail), e.g. ``("report_refused", "b1", "lease_expired")``."""
        self.cancelled_searches: set[str] = set()
        self._expire_on_report: set[str] = set()

    # --- what tests use -------------------------------------------------------------------------

    def add_batch(
        self,
        members: list[BatchMember],
        space: dict[str, Any],
        evaluator: EvaluatorSpec,
        *,
        search_id: str = "search-1",
        seed: int = 0,
        max_attempts: int | None = None,
    ) -> str:
        with self._lock:
            batch_id = f"batch-{len(self.batches) + 1}"
            self.batches[batch_id] = BatchRecord(
                batch_id=batch_id,
                search_id=search_id,
                space=space,
                members=tuple(members),
                evaluator=evaluator,
                seed=seed,
                max_attempts=max_attempts or self.max_attempts,
            )
            return batch_id

    def batch(self, batch_id: str) -> BatchRecord:
        with self._lock:
            self._reap()
            return self.batches[batch_id]

    def results_of(self, batch_id: str) -> list[StoredResult]:
        with self._lock:
            return [r for r in self.results if r.batch_id == batch_id]

    def events_of(self, kind: str) -> list[tuple[str, str, str]]:
        with self._lock:
            return [e for e in self.events if e[0] == kind]

    def expire_on_next_report(self, batch_id: str) -> None:
        """Make the lease of `batch_id` run out just before its next report arrives."""
        with self._lock:
            self._expire_on_report.add(batch_id)

    def cancel_search(self, search_id: str) -> None:
        with self._lock:
            self.cancelled_searches.add(search_id)

    def wait_for(
        self, predicate: Callable[[], object], timeout_s: float, what: str = "condition"
    ) -> None:
        """Poll `predicate()` (under the lock, after reaping) until true, or fail the test."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                self._reap()
                if predicate():
                    return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

    # --- the protocol ---------------------------------------------------------------------------

    def register(self, request: RegisterRequest) -> RegisterResponse:
        if request.protocol_version != PROTOCOL_VERSION:
            raise RefusalError(
                409, ErrorReason.PROTOCOL_MISMATCH, f"protocol {request.protocol_version} unknown"
            )
        with self._lock:
            existing = [w for w in self.workers.values() if w.instance_id == request.instance_id]
            if existing:
                record = existing[0]
            else:
                record = WorkerRecord(
                    worker_id=f"worker-{len(self.workers) + 1}",
                    name=request.name,
                    instance_id=request.instance_id,
                    capabilities=request.capabilities,
                    last_seen=self._clock(),
                )
                self.workers[record.worker_id] = record
            return RegisterResponse(
                worker_id=record.worker_id,
                lease_seconds=self.lease_seconds,
                heartbeat_interval_s=self.heartbeat_interval_s,
                poll_interval_s=self.poll_interval_s,
            )

    def lease(self, worker_id: str, request: LeaseRequest) -> LeaseResponse:
        with self._lock:
            worker = self._worker(worker_id)
            self._reap()
            held = [
                b for b in self.batches.values() if b.state == "leased" and b.worker_id == worker_id
            ]
            if held:
                return LeaseResponse(lease=self._lease_of(held[0]))
            kinds = set(request.evaluators or worker.capabilities.evaluators)
            for batch in self.batches.values():
                if batch.state != "queued" or batch.evaluator.kind not in kinds:
                    continue
                if batch.search_id in self.cancelled_searches:
                    continue
                batch.state = "leased"
                batch.attempt += 1
                batch.worker_id = worker_id
                batch.lease_token = secrets.token_urlsafe(16)
                batch.expires_at = self._clock() + self.lease_seconds
                self.events.append(("leased", batch.batch_id, f"{worker_id}#{batch.attempt}"))
                return LeaseResponse(lease=self._lease_of(batch))
            return LeaseResponse(lease=None, retry_after_s=self.poll_interval_s)

    def heartbeat(
        self, worker_id: str, batch_id: str, request: HeartbeatRequest
    ) -> HeartbeatResponse:
        with self._lock:
            self._worker(worker_id)
            self._reap()
            batch = self.batches.get(batch_id)
            if batch is None:
                return HeartbeatResponse(
                    status=HeartbeatStatus.LEASE_LOST, reason=ErrorReason.UNKNOWN_BATCH
                )
            try:
                self._check_holder(batch, worker_id, request.attempt, request.lease_token)
            except RefusalError as refusal:
                self.events.append(("heartbeat_refused", batch_id, refusal.reason.value))
                return HeartbeatResponse(status=HeartbeatStatus.LEASE_LOST, reason=refusal.reason)
            if request.progress is not None:
                batch.progress.append(request.progress)
            if batch.search_id in self.cancelled_searches:
                return HeartbeatResponse(status=HeartbeatStatus.CANCEL)
            batch.expires_at = self._clock() + self.lease_seconds
            return HeartbeatResponse(
                status=HeartbeatStatus.OK,
                lease_expires_at=_wall(self.lease_seconds),
                lease_seconds=self.lease_seconds,
            )

    def report(self, worker_id: str, batch_id: str, request: ReportRequest) -> ReportResponse:
        with self._lock:
            self._worker(worker_id)
            batch = self._batch(batch_id)
            if batch_id in self._expire_on_report:
                self._expire_on_report.discard(batch_id)
                if batch.state == "leased":
                    batch.expires_at = self._clock()
            self._reap()
            if batch.report_id is not None and batch.report_id == request.report_id:
                self.events.append(("report_duplicate", batch_id, request.report_id))
                return ReportResponse(stored=0, duplicate=True)
            try:
                if batch.state == "done" and request.lease_token == batch.lease_token:
                    raise RefusalError(409, ErrorReason.ALREADY_REPORTED, "this lease was reported")
                self._check_holder(batch, worker_id, request.attempt, request.lease_token)
                if batch.search_id in self.cancelled_searches:  # as the service: a late report
                    raise RefusalError(409, ErrorReason.STALE_ATTEMPT, "the search was cancelled")
            except RefusalError as refusal:
                self.events.append(("report_refused", batch_id, refusal.reason.value))
                raise
            expected = sorted(m.key for m in batch.members)
            if sorted(m.key for m in request.members) != expected:
                raise RefusalError(422, ErrorReason.INVALID_REPORT, f"members must be {expected}")
            fidelity = batch.evaluator.fidelity
            wrong = sorted(
                m.key for m in request.members if fidelity is not None and m.fidelity != fidelity
            )
            if wrong:
                raise RefusalError(
                    422,
                    ErrorReason.INVALID_REPORT,
                    f"the batch measures fidelity {fidelity!r}; members {wrong} report another",
                )
            for member in request.members:
                self.results.append(StoredResult(batch_id, batch.attempt, worker_id, member))
            batch.state = "done"
            batch.report_id = request.report_id
            batch.reported_stored = len(request.members)
            self.events.append(("reported", batch_id, f"{worker_id}#{batch.attempt}"))
            return ReportResponse(stored=len(request.members))

    def release(self, worker_id: str, batch_id: str, request: ReleaseRequest) -> ReleaseResponse:
        with self._lock:
            self._worker(worker_id)
            batch = self._batch(batch_id)
            self._reap()
            self._check_holder(batch, worker_id, request.attempt, request.lease_token)
            self.events.append(("released", batch_id, request.reason.value))
            batch.worker_id = None
            if (
                request.reason is ReleaseReason.CANCELLED
                or batch.search_id in self.cancelled_searches
            ):  # as the service: a release on a cancelled search only acknowledges it
                batch.state = "cancelled"
                return ReleaseResponse(requeued=False)
            if request.reason is ReleaseReason.ERROR:
                batch.failures += 1
                batch.failure_reason = request.message
                if batch.failures >= batch.max_attempts:
                    batch.state = "failed"
                    return ReleaseResponse(requeued=False)
            batch.state = "queued"
            return ReleaseResponse(requeued=True)

    # --- machinery ------------------------------------------------------------------------------

    def _worker(self, worker_id: str) -> WorkerRecord:
        worker = self.workers.get(worker_id)
        if worker is None:
            raise RefusalError(404, ErrorReason.UNKNOWN_WORKER, f"no worker {worker_id!r}")
        worker.last_seen = self._clock()
        return worker

    def _batch(self, batch_id: str) -> BatchRecord:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise RefusalError(404, ErrorReason.UNKNOWN_BATCH, f"no batch {batch_id!r}")
        return batch

    def _check_holder(self, batch: BatchRecord, worker_id: str, attempt: int, token: str) -> None:
        # The service's order: a re-leased batch makes an older attempt stale before anything else.
        if attempt < batch.attempt:
            raise RefusalError(409, ErrorReason.STALE_ATTEMPT, "the batch was leased again")
        if token in batch.expired_tokens:
            raise RefusalError(409, ErrorReason.LEASE_EXPIRED, "the lease expired")
        if batch.state != "leased" or token != batch.lease_token or attempt != batch.attempt:
            raise RefusalError(409, ErrorReason.STALE_ATTEMPT, "not the batch's current lease")
        if batch.worker_id != worker_id:
            raise RefusalError(409, ErrorReason.LEASE_NOT_HELD, "leased to another worker")

    def _reap(self) -> None:
        now = self._clock()
        for batch in self.batches.values():
            if batch.state != "leased" or batch.expires_at > now:
                continue
            assert batch.lease_token is not None
            batch.expired_tokens.add(batch.lease_token)
            batch.failures += 1
            batch.worker_id = None
            batch.state = "failed" if batch.failures >= batch.max_attempts else "queued"
            self.events.append(("expired", batch.batch_id, f"attempt {batch.attempt}"))

    def _lease_of(self, batch: BatchRecord) -> Lease:
        assert batch.lease_token is not None
        left = max(batch.expires_at - self._clock(), 1e-3)
        return Lease(
            batch_id=batch.batch_id,
            attempt=batch.attempt,
            lease_token=batch.lease_token,
            lease_expires_at=_wall(left),
            lease_seconds=left,
            heartbeat_interval_s=self.heartbeat_interval_s,
            search_id=batch.search_id,
            space=batch.space,
            members=batch.members,
            evaluator=batch.evaluator,
            seed=batch.seed,
        )

    # --- HTTP -----------------------------------------------------------------------------------

    def create_app(self) -> FastAPI:
        """A FastAPI app serving the worker endpoints of this controller."""
        app = FastAPI(title="bonas fake controller (tests)")

        def authorise(authorization: str | None) -> None:
            if authorization != f"Bearer {self.token}":
                raise RefusalError(401, ErrorReason.UNAUTHORIZED, "missing or unknown bearer token")

        @app.exception_handler(RefusalError)
        async def refused(request: Request, refusal: RefusalError) -> JSONResponse:
            body = ErrorBody(reason=refusal.reason, detail=refusal.detail)
            return JSONResponse(body.model_dump(mode="json"), status_code=refusal.status_code)

        @app.exception_handler(RequestValidationError)
        async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
            body = ErrorBody(reason=ErrorReason.INVALID_REQUEST, detail=str(error.errors())[:2000])
            return JSONResponse(body.model_dump(mode="json"), status_code=422)

        @app.post(REGISTER_PATH)
        def register(body: RegisterRequest, authorization: Auth = None) -> RegisterResponse:
            authorise(authorization)
            return self.register(body)

        @app.post(LEASE_PATH)
        def lease(worker_id: str, body: LeaseRequest, authorization: Auth = None) -> LeaseResponse:
            authorise(authorization)
            return self.lease(worker_id, body)

        @app.post(HEARTBEAT_PATH)
        def heartbeat(
            worker_id: str, batch_id: str, body: HeartbeatRequest, authorization: Auth = None
        ) -> HeartbeatResponse:
            authorise(authorization)
            return self.heartbeat(worker_id, batch_id, body)

        @app.post(REPORT_PATH)
        def report(
            worker_id: str, batch_id: str, body: ReportRequest, authorization: Auth = None
        ) -> ReportResponse:
            authorise(authorization)
            return self.report(worker_id, batch_id, body)

        @app.post(RELEASE_PATH)
        def release(
            worker_id: str, batch_id: str, body: ReleaseRequest, authorization: Auth = None
        ) -> ReleaseResponse:
            authorise(authorization)
            return self.release(worker_id, batch_id, body)

        return app


def _wall(seconds_from_now: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds_from_now)


def _free_port() -> int:
    """A TCP port on the loopback nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ControllerServer:
    """Serves a `MinimalController` over HTTP from a background thread.

    `stop` and `start` may be called repeatedly; the port stays the same, so workers see an
    outage and then the same controller again, state intact.
    """

    def __init__(self, controller: MinimalController, port: int | None = None) -> None:
        self.controller = controller
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._app = controller.create_app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake controller did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(10)
        self._server = None
        self._thread = None


__all__ = [
    "BatchRecord",
    "ControllerServer",
    "EvaluatorKind",
    "MinimalController",
    "StoredResult",
]
