"""The worker daemon: register, then lease, evaluate and report one batch at a time.

One daemon drives one device (one per GPU). Its main thread evaluates; a `Heartbeater` thread
keeps the lease alive and learns when it is lost or the search cancelled. The rules that keep
results exact:

* a batch is reported whole or not at all: on SIGTERM/SIGINT the evaluator stops at its next
  step and the daemon *releases* the lease (reason ``shutdown``), reporting nothing;
* a daemon never reports on a lease it no longer holds (the heartbeat said ``lease_lost`` or
  ``cancel``, or its own clock says the lease ran out), and a report the controller refuses is
  not counted as done;
* every request is idempotent and retried with backoff, so the controller may be down for a
  while: the daemon waits for it (a stop signal cuts the wait short).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from protocol import (
    EvaluatorKind,
    Lease,
    LeaseRequest,
    MemberReport,
    RegisterRequest,
    ReleaseReason,
    ReleaseRequest,
    ReportRequest,
)
from workers.client import ControllerClient, RetryPolicy
from workers.data_roots import DataRoots
from workers.evaluators import (
    Evaluator,
    EvaluatorContext,
    SpaceCache,
    available_kinds,
    check_reports,
    create_evaluator,
)
from workers.exceptions import (
    AuthenticationError,
    ControllerRejectedError,
    ControllerUnavailableError,
    EvaluationError,
    EvaluationStoppedError,
    LeaseLostError,
    RequestInterruptedError,
    UnknownWorkerError,
    WorkerSetupError,
)
from workers.heartbeat import Heartbeater, LeaseState
from workers.host import (
    acquire_host_resources,
    default_scratch_base,
    default_worker_name,
    describe_host,
    normalise_device,
    safe_name,
)
from workers.version import bonas_version

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SETUP_ERROR = 2


@dataclass(frozen=True)
class DaemonOptions:
    """How a daemon runs.

    Attributes:
        server: The controller's URL.
        token: Bearer token with the worker role.
        device: ``"cpu"`` or ``"cuda:N"``.
        name: Worker name (default ``<host>-<device>``).
        scratch_base: Directory under which the daemon makes its own scratch directory.
        data_roots: The only directories whose tables and datasets a spec may name (names
            relative to them; none: no file is read, digits still train).
        max_batches: Exit after this many reported batches (``None``: run until stopped).
        request_timeout_s: Timeout of one HTTP request.
        report_deadline_s: How long to keep trying to deliver a report.
        release_deadline_s: How long to keep trying to release a lease.
        max_idle_wait_s: Longest pause between two lease requests when there is no work.
        evaluators: Evaluator kinds to take (``None``: every kind this installation can run);
            the controller leases this worker only batches of searches that use one of them.
    """

    server: str
    token: str
    device: str = "cpu"
    name: str | None = None
    scratch_base: Path = field(default_factory=default_scratch_base)
    data_roots: tuple[Path, ...] = ()
    max_batches: int | None = None
    request_timeout_s: float = 30.0
    report_deadline_s: float = 600.0
    release_deadline_s: float = 15.0
    max_idle_wait_s: float = 30.0
    evaluators: tuple[EvaluatorKind, ...] | None = None


@dataclass
class DaemonSummary:
    """What a daemon did, logged when it exits.

    Attributes:
        reported: Batches whose report the controller accepted.
        lost: Batches dropped because the lease was lost or the report refused.
        released: Batches given back (shutdown, cancelled search).
        failed: Batches released because their evaluation failed.
    """

    reported: int = 0
    lost: int = 0
    released: int = 0
    failed: int = 0


class WorkerDaemon:
    """Runs the lease loop against one controller.

    Args:
        options: How to run.
        client_factory: Makes a new `ControllerClient` (one per thread); tests inject their own.
        evaluators: Evaluators to use instead of building them by kind (the daemon then asks
            only for batches of these kinds); tests inject doubles.
        clock: Monotonic clock timing the leases.
    """

    def __init__(
        self,
        options: DaemonOptions,
        *,
        client_factory: Callable[[], ControllerClient] | None = None,
        evaluators: Mapping[EvaluatorKind, Evaluator] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.device = normalise_device(options.device)
        self.name = safe_name(options.name or default_worker_name(self.device))
        self.instance_id = uuid.uuid4().hex
        self.summary = DaemonSummary()
        self.worker_id: str | None = None
        self._stop = threading.Event()
        self._clock = clock
        self._client_factory = client_factory or self._default_client
        self._client = self._client_factory()
        self._evaluators: dict[EvaluatorKind, Evaluator] = dict(evaluators or {})
        self._kinds = tuple(self._evaluators) or _chosen_kinds(options.evaluators)
        self._spaces = SpaceCache()
        # Registration and leasing wait for the controller as long as it takes.
        self._patient = RetryPolicy(initial_delay_s=0.5, max_delay_s=15.0, deadline_s=None)

    # --- control ---------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop at the evaluator's next step, release the lease, and leave `run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        """Make SIGTERM and SIGINT stop the daemon gracefully; a second one kills it at once.

        Must be called from the main thread.
        """

        def handle(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            logger.warning("%s received: stopping at the next step and releasing the lease", name)
            self.request_stop()
            signal.signal(signum, signal.SIG_DFL)

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    # --- the loop --------------------------------------------------------------------------------

    def run(self) -> DaemonSummary:
        """Serve batches until stopped or ``max_batches`` are reported.

        Raises:
            AuthenticationError: The controller refused the token.
            WorkerSetupError: The device or scratch directory is unusable.
        """
        resources = acquire_host_resources(self.options.scratch_base, self.name, self.device)
        context = EvaluatorContext(
            device=self.device,
            scratch_dir=resources.scratch_dir,
            data_roots=DataRoots.of(self.options.data_roots),
        )
        try:
            self._register()
            while not self._done():
                state = self._next_lease()
                if state is not None:
                    self._serve(state, context)
        except RequestInterruptedError:
            pass
        finally:
            self._client.close()
            resources.close()
        logger.info(
            "worker %s exits: %d batch(es) reported, %d lost, %d released, %d failed",
            self.name,
            self.summary.reported,
            self.summary.lost,
            self.summary.released,
            self.summary.failed,
        )
        return self.summary

    def _done(self) -> bool:
        limit = self.options.max_batches
        return self._stop.is_set() or (limit is not None and self.summary.reported >= limit)

    def _register(self) -> None:
        capabilities = describe_host(self.device, self._kinds, bonas_version())
        request = RegisterRequest(
            name=self.name, instance_id=self.instance_id, capabilities=capabilities
        )
        answer = self._client.register(request, retry=self._patient, stop=self._stop)
        self.worker_id = answer.worker_id
        logger.info(
            "registered with %s as %s (id %s, %s, lease %.0f s)",
            self.options.server,
            self.name,
            answer.worker_id,
            self.device,
            answer.lease_seconds,
        )

    def _next_lease(self) -> LeaseState | None:
        """Ask for a batch; wait the controller's suggested pause if there is none."""
        assert self.worker_id is not None
        requested_at = self._clock()
        try:
            answer = self._client.lease(
                self.worker_id,
                LeaseRequest(evaluators=self._kinds),
                retry=self._patient,
                stop=self._stop,
            )
        except UnknownWorkerError:
            logger.warning("the controller no longer knows this worker; registering again")
            self._register()
            return None
        if answer.lease is None:
            self._stop.wait(min(max(answer.retry_after_s, 0.05), self.options.max_idle_wait_s))
            return None
        # The lease is timed from when it was asked for: never later than the controller's clock.
        return LeaseState(answer.lease, requested_at, self._clock)

    # --- one batch -------------------------------------------------------------------------------

    def _serve(self, state: LeaseState, context: EvaluatorContext) -> None:
        lease = state.lease
        logger.info(
            "leased batch %s (attempt %d, %d member(s), %s evaluator, search %s)",
            lease.batch_id,
            lease.attempt,
            len(lease.members),
            lease.evaluator.kind.value,
            lease.search_id,
        )
        assert self.worker_id is not None
        heartbeater = Heartbeater(self._client_factory(), self.worker_id, state, self._clock)
        heartbeater.start()
        reports: list[MemberReport] | None = None
        error: str | None = None
        started = self._clock()
        try:
            evaluator = self._evaluator(lease.evaluator.kind, context)
            reports = evaluator.evaluate(
                lease, state.set_progress, lambda: self._stop.is_set() or state.ended
            )
            check_reports(lease, reports)
        except EvaluationStoppedError as stopped:
            logger.info("batch %s: evaluation stopped (%s)", lease.batch_id, stopped)
            reports = None
        except EvaluationError as failure:
            error = str(failure)
            reports = None
        except Exception as bug:  # an evaluator bug must not kill the daemon or strand the lease
            # The traceback stays in this log: its messages may quote data files, and the
            # release message is shown to the search's owner.
            logger.exception("batch %s: unexpected error in the evaluator", lease.batch_id)
            error = (
                f"unexpected error in the evaluator ({type(bug).__name__}); see the worker's log"
            )
            reports = None
        finally:
            heartbeater.stop()
        logger.info("batch %s: evaluation took %.1f s", lease.batch_id, self._clock() - started)
        self._settle(state, reports, error)

    def _settle(
        self, state: LeaseState, reports: list[MemberReport] | None, error: str | None
    ) -> None:
        """Report, release or drop the batch, depending on how its evaluation ended."""
        lease = state.lease
        lost = state.lost_reason
        if lost is not None:
            logger.warning("batch %s: lease lost (%s); reporting nothing", lease.batch_id, lost)
            self.summary.lost += 1
        elif state.cancelled:
            self._release(lease, ReleaseReason.CANCELLED, "search cancelled")
            self.summary.released += 1
        elif error is not None:
            logger.error("batch %s failed: %s", lease.batch_id, error)
            self._release(lease, ReleaseReason.ERROR, error[-4000:])
            self.summary.failed += 1
        elif reports is None:
            self._release(lease, ReleaseReason.SHUTDOWN, "worker stopping")
            self.summary.released += 1
        else:
            self._report(lease, reports)

    def _report(self, lease: Lease, reports: list[MemberReport]) -> None:
        assert self.worker_id is not None
        request = ReportRequest(
            attempt=lease.attempt,
            lease_token=lease.lease_token,
            report_id=uuid.uuid4().hex,
            members=tuple(reports),
        )
        retry = RetryPolicy(max_delay_s=15.0, deadline_s=self.options.report_deadline_s)
        try:
            answer = self._client.report(
                self.worker_id, lease.batch_id, request, retry=retry, stop=self._stop
            )
        except LeaseLostError as refused:
            logger.warning("batch %s: report refused, not counted: %s", lease.batch_id, refused)
            self.summary.lost += 1
            return
        except ControllerUnavailableError as error:
            logger.error("batch %s: report not delivered, dropped: %s", lease.batch_id, error)
            self.summary.lost += 1
            return
        except ControllerRejectedError as refused:
            if isinstance(refused, AuthenticationError):
                raise
            logger.error("batch %s: report refused: %s", lease.batch_id, refused)
            self.summary.lost += 1
            return
        self.summary.reported += 1
        ok = sum(r.status == "ok" for r in reports)
        logger.info(
            "batch %s reported: %d member(s) ok, %d failed%s",
            lease.batch_id,
            ok,
            len(reports) - ok,
            " (duplicate)" if answer.duplicate else "",
        )

    def _release(self, lease: Lease, reason: ReleaseReason, message: str) -> None:
        """Give the lease back; if the controller cannot be told, the lease simply expires."""
        assert self.worker_id is not None
        request = ReleaseRequest(
            attempt=lease.attempt, lease_token=lease.lease_token, reason=reason, message=message
        )
        retry = RetryPolicy(max_delay_s=5.0, deadline_s=self.options.release_deadline_s)
        try:
            answer = self._client.release(self.worker_id, lease.batch_id, request, retry=retry)
        except (ControllerUnavailableError, ControllerRejectedError) as error:
            logger.warning("batch %s: release failed (%s); it will expire", lease.batch_id, error)
            return
        logger.info(
            "batch %s released (%s)%s",
            lease.batch_id,
            reason.value,
            ", back in the queue" if answer.requeued else "",
        )

    def _evaluator(self, kind: EvaluatorKind, context: EvaluatorContext) -> Evaluator:
        if kind not in self._evaluators:
            self._evaluators[kind] = create_evaluator(kind, context, self._spaces)
        return self._evaluators[kind]

    def _default_client(self) -> ControllerClient:
        return ControllerClient(
            self.options.server, self.options.token, timeout_s=self.options.request_timeout_s
        )


def _chosen_kinds(wanted: tuple[EvaluatorKind, ...] | None) -> tuple[EvaluatorKind, ...]:
    """The kinds a daemon offers: `wanted` (checked against this installation) or all it can.

    Raises:
        WorkerSetupError: `wanted` is empty or names a kind this installation cannot run.
    """
    available = available_kinds()
    if wanted is None:
        return available
    missing = [kind.value for kind in wanted if kind not in available]
    if not wanted or missing:
        raise WorkerSetupError(
            f"cannot offer evaluators {missing or '[]'}; this installation runs "
            f"{', '.join(kind.value for kind in available)}"
        )
    return tuple(dict.fromkeys(wanted))


def run_daemon(options: DaemonOptions) -> int:
    """Run a daemon in this process with signal handling; returns the process exit code."""
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # httpx logs every request at INFO: one line per heartbeat is noise, not news.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        daemon = WorkerDaemon(options)
        daemon.install_signal_handlers()
        daemon.run()
    except AuthenticationError as error:
        logger.error("the controller refused this worker's token: %s", error)
        return EXIT_SETUP_ERROR
    except WorkerSetupError as error:
        logger.error("cannot start the worker: %s", error)
        return EXIT_SETUP_ERROR
    return EXIT_OK
