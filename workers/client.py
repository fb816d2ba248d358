"""HTTP client of the controller's worker endpoints, with retries that ride out outages.

Every worker endpoint is idempotent (see `protocol`), so the client can retry any request
after a network error without fear of doing it twice. It retries network errors, 5xx, 429 and 409
with reason ``busy``, waiting with capped exponential backoff and jitter (and at least what a
``Retry-After`` header asks); it never retries any other 4xx, which it raises as the most
specific `workers.exceptions.ControllerRejectedError`.

How long to keep trying is a `RetryPolicy`; a `threading.Event` passed as ``stop`` cuts the
waiting short (the daemon sets it on SIGTERM, so a daemon waiting for a dead controller still
exits promptly).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from protocol import (
    HEARTBEAT_PATH,
    LEASE_PATH,
    REGISTER_PATH,
    RELEASE_PATH,
    REPORT_PATH,
    RETRYABLE_STATUS_CODES,
    ErrorBody,
    ErrorReason,
    HeartbeatRequest,
    HeartbeatResponse,
    LeaseRequest,
    LeaseResponse,
    RegisterRequest,
    RegisterResponse,
    ReleaseRequest,
    ReleaseResponse,
    ReportRequest,
    ReportResponse,
)
from workers.exceptions import (
    ControllerUnavailableError,
    ProtocolViolationError,
    RequestInterruptedError,
    rejection_for,
)
from workers.version import bonas_version

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class RetryPolicy:
    """How a request is retried.

    The n-th wait (n = 0, 1, ...) is drawn uniformly from ``[c / 2, c]`` with
    ``c = min(max_delay_s, initial_delay_s * multiplier ** n)``: exponential growth that a
    crowd of workers cannot synchronise on after an outage ("equal jitter").

    Attributes:
        initial_delay_s: Cap of the first wait.
        max_delay_s: Cap of any wait (also of a server's ``Retry-After``).
        multiplier: Growth of the cap from one wait to the next.
        deadline_s: Give up once this much time has passed since the first try
            (``None``: never give up on time).
        max_attempts: Give up after this many tries (``None``: no limit).
    """

    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0
    multiplier: float = 2.0
    deadline_s: float | None = 300.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial_delay_s <= 0 or self.max_delay_s < self.initial_delay_s:
            raise ValueError("need 0 < initial_delay_s <= max_delay_s")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, retry_number: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry_number` (0-based)."""
        # Cap the exponent so that a very long outage cannot overflow the float.
        cap = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** min(retry_number, 64))
        return cap / 2 + rng.uniform(0, cap / 2)


NO_RETRY = RetryPolicy(max_attempts=1)
"""Try once; raise on the first failure."""


class ControllerClient:
    """Typed calls to the worker endpoints of one controller.

    Not shared between threads: give each thread its own client (they are cheap).

    Args:
        base_url: The controller's root URL (``http://host:8000``), with any path prefix.
        token: Bearer token of the worker role.
        retry: Default retry policy of every call.
        timeout_s: Timeout of a single HTTP request.
        transport: An httpx transport (tests pass `httpx.MockTransport`).
        rng: Source of jitter (seeded in tests).
        sleep: How to wait when no stop event is given (tests pass a recorder).
        clock: Monotonic clock measuring retry deadlines.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"bonas-worker/{bonas_version()}",
            },
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=transport,
        )

    # --- endpoints ------------------------------------------------------------------------------

    def register(
        self,
        request: RegisterRequest,
        *,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
    ) -> RegisterResponse:
        return self._post(REGISTER_PATH, request, RegisterResponse, retry, stop)

    def lease(
        self,
        worker_id: str,
        request: LeaseRequest | None = None,
        *,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
    ) -> LeaseResponse:
        path = LEASE_PATH.format(worker_id=worker_id)
        return self._post(path, request or LeaseRequest(), LeaseResponse, retry, stop)

    def heartbeat(
        self,
        worker_id: str,
        batch_id: str,
        request: HeartbeatRequest,
        *,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
    ) -> HeartbeatResponse:
        path = HEARTBEAT_PATH.format(worker_id=worker_id, batch_id=batch_id)
        return self._post(path, request, HeartbeatResponse, retry, stop)

    def report(
        self,
        worker_id: str,
        batch_id: str,
        request: ReportRequest,
        *,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
    ) -> ReportResponse:
        path = REPORT_PATH.format(worker_id=worker_id, batch_id=batch_id)
        return self._post(path, request, ReportResponse, retry, stop)

    def release(
        self,
        worker_id: str,
        batch_id: str,
        request: ReleaseRequest,
        *,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
    ) -> ReleaseResponse:
        path = RELEASE_PATH.format(worker_id=worker_id, batch_id=batch_id)
        return self._post(path, request, ReleaseResponse, retry, stop)

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControllerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- machinery ------------------------------------------------------------------------------

    def _post(
        self,
        path: str,
        body: BaseModel,
        response_model: type[R],
        retry: RetryPolicy | None,
        stop: threading.Event | None,
    ) -> R:
        policy = retry or self.retry
        content = body.model_dump_json().encode()
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            outcome = self._try_once(path, content, response_model)
            if not isinstance(outcome, _Retryable):
                return outcome
            failure = outcome.why
            delay = policy.delay(attempt - 1, self._rng)
            delay = max(delay, min(outcome.retry_after_s, policy.max_delay_s))
            out_of_attempts = policy.max_attempts is not None and attempt >= policy.max_attempts
            elapsed = self._clock() - started
            out_of_time = policy.deadline_s is not None and elapsed + delay > policy.deadline_s
            if out_of_attempts or out_of_time:
                raise ControllerUnavailableError(
                    f"POST {path} failed after {attempt} attempt(s) over {elapsed:.1f} s: {failure}"
                )
            logger.warning(
                "POST %s failed (attempt %d: %s); retrying in %.2f s", path, attempt, failure, delay
            )
            self._wait(delay, stop, path)

    def _try_once(self, path: str, content: bytes, response_model: type[R]) -> R | _Retryable:
        """One HTTP exchange: the parsed answer, or a description of a retryable failure.

        Raises:
            ControllerRejectedError: A final refusal.
            ProtocolViolationError: A 2xx answer that does not parse as `response_model`.
        """
        try:
            response = self._http.post(
                path, content=content, headers={"Content-Type": "application/json"}
            )
        except httpx.TransportError as error:
            return _Retryable(f"{type(error).__name__}: {error}")
        status = response.status_code
        if 200 <= status < 300:
            try:
                return response_model.model_validate_json(response.content)
            except ValidationError as error:
                raise ProtocolViolationError(
                    f"POST {path}: the controller's answer is not a {response_model.__name__}: "
                    f"{error}"
                ) from error
        reason, detail = _error_of(response)
        if status in RETRYABLE_STATUS_CODES or (status == 409 and reason is ErrorReason.BUSY):
            return _Retryable(f"HTTP {status} ({detail[:200]})", _retry_after(response))
        raise rejection_for(status, reason, detail)

    def _wait(self, delay: float, stop: threading.Event | None, path: str) -> None:
        if stop is None:
            self._sleep(delay)
            return
        if stop.wait(delay):
            raise RequestInterruptedError(f"POST {path}: gave up retrying, the worker is stopping")


@dataclass(frozen=True)
class _Retryable:
    """A failed exchange worth retrying: why, and how long the server asked us to wait."""

    why: str
    retry_after_s: float = 0.0


def _error_of(response: httpx.Response) -> tuple[ErrorReason | None, str]:
    """Reason and message of an error answer, tolerating bodies that are not an `ErrorBody`."""
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        text = response.text.strip()
        return None, text[:1000] if text else response.reason_phrase
    return body.reason, body.detail


def _retry_after(response: httpx.Response) -> float:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), else 0."""
    value = response.headers.get("Retry-After")
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
