"""Proposal rounds in child processes: a time limit per round, and a round one can stop.

The expensive part of a round (rebuilding the strategy, refitting the surrogate, scoring the
pool) is a pure function of the search's spec, its strategy state, its observations and its
pending architectures: `propose_round` takes a `RoundJob` holding exactly those and returns a
`RoundOutcome` (the proposals, the surrogate snapshots of each refit, and the strategy's state
afterwards). Nothing in it touches the store, so it can run anywhere.

`RoundProcesses` runs each job in a fresh child process and waits for it with a deadline.

Why a process per round, and not threads or a per-search long-lived worker:

* A thread cannot be stopped. A refit that a user made slow (or that hangs in native code)
  would hold its thread, its search's lock and, on shutdown, the service itself; a process is
  killed at once, on its deadline, when its search is cancelled or paused, or on SIGTERM.
* Rounds of different searches run in different processes, so one search's refit never holds
  another's (the controller runs several rounds at once), and torch's intra-op threads of one
  refit cannot contend with the API's event loop for the GIL.
* A one-shot process needs no protocol, keeps no state that could drift from the store, and
  leaves nothing behind when it dies; a long-lived process per search would keep a torch
  runtime in memory for every active search. The state that rounds carry (the strategy's
  ``state_dict``) travels in the job and comes back in the outcome, and the controller keeps the
  latest one in memory, as it kept the strategy object before.
* The children come from a ``forkserver`` whose server has imported torch, BoTorch and the
  surrogate once, so a child starts in tens of milliseconds rather than the seconds a
  ``spawn`` (fresh interpreter, fresh imports) would take; unlike a bare ``fork`` of the
  service, a child never inherits the service's threads, locks or database connections.

A child that exits without an answer (killed, out of memory, crashed in native code) is a
`RoundError`; one past its deadline is a `RoundTimeoutError`; one stopped by `interrupt` or
`close` is a `RoundInterrupted`, which is not an error of the search.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any, Literal

logger = logging.getLogger(__name__)

PRELOAD = (
    "torch",
    "botorch",
    "service.controller.isolation",
    "service.search_spec",
    "surrogate.proposer",
    "surrogate.samplers.mc_dropout",
    "surrogate.samplers.balenas",
    "service.controller.warmup",
)
"""Modules the fork server imports once, so that every child starts with them loaded (the last
runs one tiny round, so that children also start with torch's lazy initialisation done)."""

KILL_WAIT_S = 5.0
"""How long to wait for a killed child to be reaped before giving up on it."""


class RoundError(RuntimeError):
    """A round's child process failed (an exception in the strategy, or the process died)."""


class RoundTimeoutError(RoundError):
    """A round ran past its time limit and its process was killed."""


class RoundInterrupted(Exception):  # noqa: N818 (not an error: the round was asked to stop)
    """A round was stopped on purpose (its search was cancelled or paused, or shutdown)."""


# --- the job, and its pure computation ----------------------------------------------------------


@dataclass(frozen=True)
class RoundJob:
    """Everything a round's proposals depend on (picklable plain data).

    Attributes:
        search_id: The search (for messages only).
        spec: The stored spec (`SearchSpec.stored()`).
        state: The strategy's `state_dict` (`encode_state` bytes) to start from, if any.
        snapshot_version: The surrogate version `state` was stored as, when it comes from a
            stored snapshot (a strategy that cannot load it keeps numbering from there).
        observations: ``(architecture JSON, value, metrics)`` triples, as the strategy sees
            them: the value maximised, the metrics the result's finite numeric metrics in user
            units (`Observation.metrics`: what measured constraints and further objectives are
            modelled from). A pair ``(architecture JSON, value)`` has no metrics.
        pending: Architectures in flight (JSON), never to be proposed again.
        excluded: Keys of every architecture evaluated or in flight.
        sizes: Size of each batch to propose.
        seed: The search's seed.
        rounds_so_far: Batches the search created before (seeds the generators).
        torch_threads: Intra-op threads torch may use (None: torch's default).
    """

    search_id: int
    spec: dict[str, Any]
    state: bytes | None
    snapshot_version: int | None
    observations: Sequence[tuple[Any, float] | tuple[Any, float, dict[str, float]]]
    pending: list[Any]
    excluded: list[str]
    sizes: tuple[int, ...]
    seed: int
    rounds_so_far: int
    torch_threads: int | None = 1


@dataclass(frozen=True)
class ProposedArchitecture:
    """One proposal, with its architecture as JSON."""

    arch: Any
    predicted_mean: float | None
    predicted_std: float | None
    acquisition_value: float | None
    surrogate_version: int | None
    source: str
    extra: dict[str, Any]


@dataclass(frozen=True)
class RefitSnapshot:
    """The strategy's state right after a refit, and the fit's report."""

    version: int
    state: bytes
    fit: dict[str, Any]
    n_observations: int


@dataclass
class RoundOutcome:
    """What a round proposed.

    Attributes:
        batches: The proposals of each batch (duplicates already dropped).
        snapshots: One per refit during the round, in order.
        state: The strategy's state after the round (start of the next one).
        seconds: Time spent proposing.
        notes: Warnings the round raised, for the controller's log.
    """

    batches: list[list[ProposedArchitecture]] = field(default_factory=list)
    snapshots: list[RefitSnapshot] = field(default_factory=list)
    state: bytes = b""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def propose_round(job: RoundJob) -> RoundOutcome:
    """Rebuild the strategy of `job`, propose its batches, and return them with the new state.

    Raises:
        ValueError: The spec no longer validates.
    """
    import numpy as np

    from service.controller.snapshots import decode_state, encode_state, fit_report_metrics
    from service.search_spec import SearchSpec, build_strategy

    started = time.perf_counter()
    if job.torch_threads is not None:
        import torch

        torch.set_num_threads(job.torch_threads)
    spec = SearchSpec.from_stored(job.spec)  # validated once per process, space and all
    space = spec.search_space
    strategy = build_strategy(spec, space)
    outcome = RoundOutcome()
    if job.state is not None:
        try:
            strategy.load_state_dict(decode_state(job.state))
        except Exception as error:  # any failure to restore means: start the model afresh
            outcome.notes.append(
                f"snapshot v{job.snapshot_version} does not load ({error}); refitting from scratch"
            )
            if job.snapshot_version is not None:  # keep numbering in step with the store
                strategy.continue_versions_from(job.snapshot_version)
    from surrogate.strategy import Observation

    observations = [
        Observation(space.from_json(item[0]), item[1], item[2] if len(item) > 2 else {})
        for item in job.observations
    ]
    pending = [space.from_json(a) for a in job.pending]
    excluded = set(job.excluded)
    for index, size in enumerate(job.sizes):
        rng = np.random.default_rng([job.seed, job.rounds_so_far + index])
        proposed = strategy.propose(observations, pending, size, rng)
        if proposed.refit is not None:
            outcome.snapshots.append(
                RefitSnapshot(
                    version=proposed.refit.version,
                    state=encode_state(strategy.state_dict()),
                    fit=fit_report_metrics(proposed.refit.fit),
                    n_observations=len(observations),
                )
            )
        batch: list[ProposedArchitecture] = []
        for proposal in proposed.proposals:
            key = space.key(proposal.arch)
            if key in excluded:
                outcome.notes.append(f"strategy repeated {key}; dropped")
                continue
            excluded.add(key)
            pending.append(proposal.arch)
            batch.append(
                ProposedArchitecture(
                    arch=space.to_json(proposal.arch),
                    predicted_mean=proposal.predicted_mean,
                    predicted_std=proposal.predicted_std,
                    acquisition_value=proposal.acquisition_value,
                    surrogate_version=proposal.surrogate_version,
                    source=proposal.source,
                    extra=dict(proposal.extra),
                )
            )
        outcome.batches.append(batch[:size])
    outcome.state = encode_state(strategy.state_dict())
    outcome.seconds = time.perf_counter() - started
    return outcome


# --- running jobs in child processes ------------------------------------------------------------


def _child_main(connection: Connection, job: RoundJob) -> None:
    """Entry point of a round's child: run the job, send back the outcome or the error."""
    try:
        message: tuple[str, Any] = ("ok", propose_round(job))
    except BaseException as error:  # everything goes back to the parent as text
        text = f"{type(error).__name__}: {error}"
        message = ("error", (text, traceback.format_exc()))
    try:
        connection.send(message)
    finally:
        connection.close()


@dataclass
class _Running:
    process: BaseProcess
    interrupted: bool = False


class RoundProcesses:
    """Runs `RoundJob`s in child processes, each with a deadline, and stops them on demand.

    Thread-safe: the controller's threads call `run` concurrently (one round per search at a
    time), and `interrupt` or `close` from any thread.

    Args:
        timeout_s: Seconds a round may take before its process is killed.
        method: The multiprocessing start method (``forkserver`` by default; ``spawn`` works
            too, at a few seconds per round for the imports).
    """

    def __init__(
        self, timeout_s: float, *, method: Literal["forkserver", "spawn"] = "forkserver"
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"a round's time limit must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self._context: ForkServerContext | SpawnContext
        if method == "forkserver":
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(list(PRELOAD))
        else:
            self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}
        self._closed = False

    def run(self, job: RoundJob) -> RoundOutcome:
        """Run `job` in a child and return its outcome (blocks up to the time limit).

        Raises:
            RoundTimeoutError: The round ran past the time limit (its process was killed).
            RoundInterrupted: `interrupt(job.search_id)` or `close` stopped it.
            RoundError: The strategy raised, or the process died without an answer.
        """
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child_main,
            args=(sender, job),
            name=f"bonas-round-{job.search_id}",
            daemon=True,
        )
        with self._lock:
            if self._closed:
                raise RoundInterrupted("the controller is stopping")
            if job.search_id in self._running:
                raise RoundError(f"search {job.search_id} already has a round in progress")
            running = _Running(process)
            self._running[job.search_id] = running
        try:
            process.start()  # outside the lock: the fork server's first start takes seconds
        except BaseException:
            with self._lock:
                self._running.pop(job.search_id, None)
            receiver.close()
            sender.close()
            raise
        sender.close()  # the child holds the only writer: EOF when it dies
        with self._lock:
            if running.interrupted:  # interrupted while it started
                _kill(process)
        try:
            return self._wait(job, running, receiver)
        finally:
            receiver.close()
            with self._lock:
                self._running.pop(job.search_id, None)
            _reap(process)

    def interrupt(self, search_id: int) -> bool:
        """Kill the round of `search_id` in progress, if any; whether one was running."""
        with self._lock:
            running = self._running.get(search_id)
            if running is None:
                return False
            running.interrupted = True
            _kill(running.process)
        logger.info("search %d: round in progress stopped", search_id)
        return True

    def prestart(self) -> None:
        """Launch the fork server now, so that its imports overlap with other start-up work
        rather than delaying the first round (a no-op when it runs, or with ``spawn``)."""
        if isinstance(self._context, ForkServerContext):
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def open(self) -> None:
        """Accept rounds again after `close` (a controller started anew)."""
        with self._lock:
            self._closed = False

    def close(self) -> None:
        """Kill every round in progress and refuse new ones (shutdown)."""
        with self._lock:
            self._closed = True
            for running in self._running.values():
                running.interrupted = True
                _kill(running.process)

    def in_progress(self) -> tuple[int, ...]:
        """Searches with a round running now."""
        with self._lock:
            return tuple(sorted(self._running))

    def _wait(self, job: RoundJob, running: _Running, receiver: Connection) -> RoundOutcome:
        deadline = time.monotonic() + self.timeout_s
        process = running.process
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill(process)
                raise RoundTimeoutError(
                    f"the round of search {job.search_id} exceeded its time limit of "
                    f"{_seconds(self.timeout_s)} and was stopped (round_timeout_s; "
                    "smaller strategy options, such as fewer fit epochs or a smaller pool, "
                    "make rounds faster)"
                )
            ready = wait([receiver, process.sentinel], timeout=remaining)
            if running.interrupted:
                raise RoundInterrupted(f"the round of search {job.search_id} was stopped")
            if receiver in ready:
                try:
                    status, payload = receiver.recv()
                except (EOFError, OSError):
                    status, payload = "died", None
                return _answer(job, status, payload, process)
            if ready:  # the process ended; an answer sent just before may still be buffered
                if receiver.poll(0):
                    continue
                return _answer(job, "died", None, process)


def _answer(job: RoundJob, status: str, payload: Any, process: BaseProcess) -> RoundOutcome:
    if status == "ok" and isinstance(payload, RoundOutcome):
        return payload
    if status == "error":
        text, trace = payload
        logger.debug("search %d: round failed in its process:\n%s", job.search_id, trace)
        raise RoundError(text)
    process.join(KILL_WAIT_S)
    raise RoundError(
        f"the round's process of search {job.search_id} exited without an answer "
        f"(exit code {process.exitcode}; killed, out of memory, or crashed)"
    )


def _kill(process: BaseProcess) -> None:
    if process.is_alive():
        process.kill()


def _reap(process: BaseProcess) -> None:
    process.join(1.0)  # a child that answered exits by itself
    _kill(process)
    process.join(KILL_WAIT_S)
    if process.exitcode is not None:
        process.close()


def _seconds(value: float) -> str:
    return f"{value:g} s" if math.isfinite(value) else "inf"
