"""Heartbeats: keep a lease alive from a separate thread while the main thread trains.

`LeaseState` is what the two threads share: the latest progress (written by the evaluator, read
by the heartbeat thread) and whether the lease still belongs to the worker (written by the
heartbeat thread, read by the evaluator's `should_stop` and by the daemon before it reports).

The lease is also timed locally: every answer that extends it says how many seconds remain,
counted from when the request was *sent*, on this host's monotonic clock. If that time runs out
while the controller answers (heartbeats refused or never sent), the lease is treated as lost.

If it runs out while the controller cannot be reached (connection errors, 5xx such as a 503 for
a read-only database), the lease is *not* given up: an outage is not the worker's fault, and the
controller accepts a late heartbeat or report on a lease that nobody else took over (and extends
leases for the time it could not work). The worker keeps training and keeps retrying; the first
answer after the outage says whether the lease still holds (``ok``) or was taken over
(``lease_lost``), and only the latter ends the work. A report on a lease that was taken over is
refused, so nothing is counted twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from protocol import HeartbeatRequest, HeartbeatStatus, Lease, Progress
from workers.client import ControllerClient, RetryPolicy
from workers.exceptions import (
    ControllerRejectedError,
    ControllerUnavailableError,
    ProtocolViolationError,
    RequestInterruptedError,
)

logger = logging.getLogger(__name__)


class LeaseState:
    """Thread-safe state of the lease being worked on.

    Args:
        lease: The lease.
        granted_at: Monotonic time at which the lease request was sent.
        clock: Monotonic clock (tests pass a fake).
    """

    def __init__(
        self, lease: Lease, granted_at: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lease = lease
        self._clock = clock
        self._lock = threading.Lock()
        self._deadline = granted_at + lease.lease_seconds
        self._progress: Progress | None = None
        self._lost_reason: str | None = None
        self._cancelled = False
        self._unreachable = False

    # --- written by the evaluator ---------------------------------------------------------------

    def set_progress(self, progress: Progress) -> None:
        with self._lock:
            self._progress = progress

    @property
    def progress(self) -> Progress | None:
        with self._lock:
            return self._progress

    # --- written by the heartbeat thread --------------------------------------------------------

    def extend(self, sent_at: float, seconds_left: float) -> None:
        """Record an extension answered to a request sent at monotonic time `sent_at`."""
        with self._lock:
            self._deadline = max(self._deadline, sent_at + seconds_left)

    def mark_unreachable(self) -> None:
        """The last heartbeat could not reach the controller (connection error or 5xx)."""
        with self._lock:
            self._unreachable = True

    def mark_reachable(self) -> None:
        """The controller answered a heartbeat."""
        with self._lock:
            self._unreachable = False

    @property
    def unreachable(self) -> bool:
        """Whether the controller could not be reached at the last heartbeat."""
        with self._lock:
            return self._unreachable

    def mark_lost(self, reason: str) -> None:
        with self._lock:
            if self._lost_reason is None:
                self._lost_reason = reason

    def mark_cancelled(self) -> None:
        with self._lock:
            self._cancelled = True

    # --- read by the daemon ---------------------------------------------------------------------

    @property
    def lost_reason(self) -> str | None:
        """Why the lease is not the worker's any more, or None while it is (or may be: the
        local deadline does not count while the controller is unreachable)."""
        with self._lock:
            ran_out = self._clock() >= self._deadline
            if self._lost_reason is None and ran_out and not self._unreachable:
                self._lost_reason = "the lease ran out without a successful heartbeat"
            return self._lost_reason

    @property
    def cancelled(self) -> bool:
        with self._lock:
            return self._cancelled

    @property
    def ended(self) -> bool:
        """True once evaluation must stop: the lease is lost or the search was cancelled."""
        return self.cancelled or self.lost_reason is not None

    def seconds_left(self) -> float:
        with self._lock:
            return self._deadline - self._clock()


class Heartbeater:
    """Sends heartbeats for one lease every ``heartbeat_interval_s`` until stopped.

    Network failures are logged and retried at the next beat; an answer of ``cancel`` or
    ``lease_lost`` (or a refused heartbeat) is recorded in the `LeaseState` and ends the thread.

    Args:
        client: A client used by this thread only (closed when the thread ends).
        worker_id: The worker's id.
        state: The lease being kept alive.
        clock: Monotonic clock.
    """

    def __init__(
        self,
        client: ControllerClient,
        worker_id: str,
        state: LeaseState,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._worker_id = worker_id
        self._state = state
        self._clock = clock
        self._halt = threading.Event()
        lease = state.lease
        self.interval_s = lease.heartbeat_interval_s
        # Keep trying within one interval, then start afresh with the latest progress.
        self._retry = RetryPolicy(
            initial_delay_s=min(1.0, self.interval_s / 4),
            max_delay_s=max(self.interval_s / 2, min(1.0, self.interval_s / 4)),
            deadline_s=self.interval_s,
        )
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{lease.batch_id}", daemon=True
        )
        self.beats = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop sending heartbeats and wait for the thread (an in-flight request is abandoned)."""
        self._halt.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning("heartbeat thread still busy after %.0f s; leaving it", timeout_s)

    def _run(self) -> None:
        try:
            self._beat_until_stopped()
        finally:
            self._client.close()  # the thread owns its client

    def _beat_until_stopped(self) -> None:
        lease = self._state.lease
        while not self._halt.wait(self.interval_s):
            if self._state.ended:
                return
            request = HeartbeatRequest(
                attempt=lease.attempt, lease_token=lease.lease_token, progress=self._state.progress
            )
            sent_at = self._clock()
            try:
                answer = self._client.heartbeat(
                    self._worker_id, lease.batch_id, request, retry=self._retry, stop=self._halt
                )
            except RequestInterruptedError:
                return
            except ControllerUnavailableError as error:
                # An outage, not a lost lease: keep training, keep trying, report when back.
                self._state.mark_unreachable()
                logger.warning(
                    "heartbeat for batch %s: controller unreachable (%s); still training, "
                    "retrying (%.1f s left on the lease as last granted)",
                    lease.batch_id,
                    error,
                    self._state.seconds_left(),
                )
                continue
            except ProtocolViolationError as error:
                self._state.mark_reachable()
                logger.warning(
                    "heartbeat for batch %s failed (%s); %.1f s left on the lease",
                    lease.batch_id,
                    error,
                    self._state.seconds_left(),
                )
                continue
            except ControllerRejectedError as error:
                self._state.mark_reachable()
                self._state.mark_lost(f"heartbeat refused: {error}")
                return
            self.beats += 1
            if answer.status is HeartbeatStatus.OK:
                self._state.extend(sent_at, answer.lease_seconds or 0.0)
                self._state.mark_reachable()  # after the extension: never lost in between
            elif answer.status is HeartbeatStatus.CANCEL:
                logger.info("batch %s: the controller cancelled its search", lease.batch_id)
                self._state.mark_cancelled()
                return
            else:
                reason = answer.reason.value if answer.reason else "no reason given"
                self._state.mark_lost(f"controller says the lease is lost ({reason})")
                return
