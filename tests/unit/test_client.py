"""The controller client: what it sends, what it retries, how long it waits, when it gives up."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from protocol import (
    ErrorReason,
    HeartbeatRequest,
    HeartbeatStatus,
    LeaseResponse,
    ReleaseReason,
    ReleaseRequest,
    ReportRequest,
)
from workers.client import ControllerClient, RetryPolicy, _retry_after
from workers.exceptions import (
    AuthenticationError,
    ControllerRejectedError,
    ControllerUnavailableError,
    LeaseLostError,
    ProtocolViolationError,
    RequestInterruptedError,
    UnknownWorkerError,
)

Handler = Callable[[httpx.Request], httpx.Response]
HEARTBEAT_OK = {"status": "ok", "lease_seconds": 30.0}


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def scripted(*steps: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with `steps` in turn (the last one repeats); records requests."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        step = steps[min(len(seen), len(steps) - 1)]
        seen.append(request)
        if isinstance(step, Exception):
            raise step
        return step

    return handle, seen


def make_client(
    handler: Handler, fake: FakeTime, retry: RetryPolicy | None = None
) -> ControllerClient:
    return ControllerClient(
        "http://controller.test/prefix/",
        "secret-token",
        retry=retry or RetryPolicy(initial_delay_s=0.5, max_delay_s=4.0, deadline_s=60.0),
        transport=httpx.MockTransport(handler),
        rng=random.Random(0),
        sleep=fake.sleep,
        clock=fake.clock,
    )


def error(status: int, reason: str | None, detail: str = "no", **headers: str) -> httpx.Response:
    body = {"detail": detail} if reason is None else {"reason": reason, "detail": detail}
    return httpx.Response(status, json=body, headers=headers)


def heartbeat(client: ControllerClient, **kwargs: object) -> object:
    request = HeartbeatRequest(attempt=1, lease_token="tok")
    return client.heartbeat("w1", "b1", request, **kwargs)  # type: ignore[arg-type]


def test_sends_bearer_token_json_body_and_parses_the_answer() -> None:
    handler, seen = scripted(httpx.Response(200, json=HEARTBEAT_OK))
    fake = FakeTime()
    answer = heartbeat(make_client(handler, fake))
    assert answer.status is HeartbeatStatus.OK  # type: ignore[attr-defined]
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/prefix/api/v1/workers/w1/batches/b1/heartbeat"
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"attempt": 1, "lease_token": "tok", "progress": None}
    assert fake.sleeps == []


def test_network_errors_and_5xx_are_retried_with_growing_jittered_waits() -> None:
    handler, seen = scripted(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        error(503, "server_error"),
        error(500, None, "boom"),
        httpx.RemoteProtocolError("eof"),
        httpx.Response(200, json=HEARTBEAT_OK),
    )
    fake = FakeTime()
    heartbeat(make_client(handler, fake))
    assert len(seen) == 6
    caps = [0.5, 1.0, 2.0, 4.0, 4.0]
    assert len(fake.sleeps) == 5
    for wait, cap in zip(fake.sleeps, caps, strict=True):
        assert cap / 2 <= wait <= cap
    # Identical request bodies on every try: retries are safe because every call is idempotent.
    assert len({r.content for r in seen}) == 1


def test_retry_after_is_honoured_for_429_and_busy_409() -> None:
    handler, seen = scripted(
        error(429, "rate_limited", **{"Retry-After": "3"}),
        error(409, "busy", **{"Retry-After": "2.5"}),
        httpx.Response(200, json={"lease": None, "retry_after_s": 1.0}),
    )
    fake = FakeTime()
    answer = make_client(handler, fake).lease("w1")
    assert isinstance(answer, LeaseResponse) and answer.lease is None
    assert len(seen) == 3
    assert fake.sleeps[0] >= 3.0 and fake.sleeps[1] >= 2.5


def test_retry_after_is_capped_by_the_policy() -> None:
    handler, _ = scripted(
        error(503, None, **{"Retry-After": "3600"}), httpx.Response(200, json=HEARTBEAT_OK)
    )
    fake = FakeTime()
    heartbeat(make_client(handler, fake))
    assert fake.sleeps == [4.0]


@pytest.mark.parametrize(
    ("response", "expected", "reason"),
    [
        (error(409, "lease_expired"), LeaseLostError, ErrorReason.LEASE_EXPIRED),
        (error(409, "stale_attempt"), LeaseLostError, ErrorReason.STALE_ATTEMPT),
        (error(404, "unknown_batch"), LeaseLostError, ErrorReason.UNKNOWN_BATCH),
        (error(404, "unknown_worker"), UnknownWorkerError, ErrorReason.UNKNOWN_WORKER),
        (error(401, "unauthorized"), AuthenticationError, ErrorReason.UNAUTHORIZED),
        (error(403, None, "forbidden"), AuthenticationError, None),
        (error(422, None, "bad body"), ControllerRejectedError, None),
        (httpx.Response(400, text="plain text"), ControllerRejectedError, None),
    ],
)
def test_final_4xx_answers_are_raised_at_once(
    response: httpx.Response, expected: type, reason: ErrorReason | None
) -> None:
    handler, seen = scripted(response, httpx.Response(200, json=HEARTBEAT_OK))
    fake = FakeTime()
    with pytest.raises(ControllerRejectedError) as caught:
        heartbeat(make_client(handler, fake))
    assert type(caught.value) is expected
    assert caught.value.reason is reason
    assert len(seen) == 1 and fake.sleeps == []


def test_gives_up_at_the_deadline_with_the_last_failure() -> None:
    handler, seen = scripted(httpx.ConnectError("connection refused"))
    fake = FakeTime()
    policy = RetryPolicy(initial_delay_s=1.0, max_delay_s=8.0, deadline_s=20.0)
    with pytest.raises(ControllerUnavailableError, match="connection refused"):
        heartbeat(make_client(handler, fake), retry=policy)
    assert sum(fake.sleeps) <= 20.0
    assert len(seen) == len(fake.sleeps) + 1 >= 4


def test_gives_up_after_max_attempts() -> None:
    handler, seen = scripted(error(502, None))
    fake = FakeTime()
    with pytest.raises(ControllerUnavailableError, match="3 attempt"):
        heartbeat(make_client(handler, fake), retry=RetryPolicy(max_attempts=3))
    assert len(seen) == 3 and len(fake.sleeps) == 2


def test_a_stop_event_interrupts_the_wait() -> None:
    handler, seen = scripted(httpx.ConnectError("down"))
    client = make_client(handler, FakeTime(), retry=RetryPolicy(initial_delay_s=30, max_delay_s=60))
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(RequestInterruptedError):
        heartbeat(client, stop=stop)
    assert time.monotonic() - started < 5
    assert len(seen) == 1


def test_a_malformed_success_answer_is_a_protocol_violation() -> None:
    handler, seen = scripted(httpx.Response(200, json={"status": "maybe"}))
    with pytest.raises(ProtocolViolationError, match="HeartbeatResponse"):
        heartbeat(make_client(handler, FakeTime()))
    assert len(seen) == 1


def test_report_and_release_reach_their_paths() -> None:
    handler, seen = scripted(
        httpx.Response(200, json={"stored": 1, "duplicate": False}),
        httpx.Response(200, json={"requeued": True}),
    )
    client = make_client(handler, FakeTime())
    report = ReportRequest.model_validate(
        {
            "attempt": 1,
            "lease_token": "t",
            "report_id": "r1",
            "members": [
                {"key": "k", "objective": 1.0, "fidelity": "f", "evaluator": "table"},
            ],
        }
    )
    assert client.report("w1", "b1", report).stored == 1
    release = ReleaseRequest(attempt=1, lease_token="t", reason=ReleaseReason.SHUTDOWN)
    assert client.release("w1", "b1", release).requeued
    assert [r.url.path.rsplit("/", 1)[-1] for r in seen] == ["report", "release"]


def test_backoff_delays_stay_within_their_caps() -> None:
    policy = RetryPolicy(initial_delay_s=0.25, max_delay_s=10.0, multiplier=3.0)
    rng = random.Random(1)
    for n in range(200):
        cap = min(10.0, 0.25 * 3.0**n) if n < 60 else 10.0
        wait = policy.delay(n, rng)
        assert cap / 2 <= wait <= cap
    # Jitter: different workers wait different times after the same failure.
    assert len({round(policy.delay(3, rng), 9) for _ in range(20)}) > 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay_s": 0},
        {"initial_delay_s": 5, "max_delay_s": 1},
        {"multiplier": 0.5},
        {"max_attempts": 0},
    ],
)
def test_retry_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert _retry_after(httpx.Response(503, headers={"Retry-After": "7"})) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 50 < _retry_after(httpx.Response(503, headers={"Retry-After": later})) <= 60
    assert _retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) == 0.0
    assert _retry_after(httpx.Response(503)) == 0.0
