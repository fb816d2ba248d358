"""`SearchRunner`: one synchronous round of the BONAS loop for one search, over the store.

A round reads where the search stands, decides what it needs (start, complete, fail, or more
batches in flight), proposes outside any transaction (refitting the surrogate can take seconds),
then writes the proposals, their batch, the surrogate snapshot and the events in one transaction
that first re-checks that the search is still running. Everything a round needs is read from the
store, so rounds are idempotent and a fresh runner over the same database continues where an old
one stopped: strategies are rebuilt from the stored spec plus the latest surrogate snapshot, and
the random generator of round ``r`` is seeded by ``(seed, r)``.

The proposal itself is `service.controller.isolation.propose_round`, a pure function of a
`RoundJob`. Given `RoundProcesses`, the runner runs it in a child process with a time limit
(the controller does); without, in the calling thread (scripts and unit tests). Between rounds
the runner keeps each search's strategy state (bytes), not a live strategy object.

Minimised objectives are negated, since strategies maximise. Each observation also carries the
result's metrics (`Observation.metrics`), from which BONAS models measured constraints and
further objectives. How infeasible results (breaking a constraint) are shown depends on whether
the strategy knows the constraints: BONAS does (analytic ones filter its pool; measured ones are
modelled, and its acquisition weighs feasibility), so it sees each result's true value, since
pushing infeasible values down would teach its objective surrogate a cliff that is not in the
objective; the baselines do not, so they see an infeasible result as no better than the worst
result seen.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.controller.isolation import RoundJob, RoundOutcome, RoundProcesses, propose_round
from service.controller.snapshots import prediction_metrics
from service.events import (
    BatchFailed,
    BatchProposed,
    BatchRequeued,
    EventPayload,
    SearchCompleted,
    SearchFailed,
    SearchStarted,
    SurrogateFitted,
)
from service.exceptions import InvalidStateTransitionError, StoreUnavailableError
from service.search_spec import SearchSpec, batch_fidelity
from service.states import DEFAULT_MAX_ATTEMPTS
from service.store import (
    ArchitectureInput,
    ArchitectureRecord,
    ArchitectureRepository,
    BatchRepository,
    BatchState,
    EvaluationRepository,
    EventRepository,
    ProposalInfo,
    SearchRecord,
    SearchRepository,
    SearchState,
    SurrogateSnapshotRepository,
    session_scope,
    utcnow,
)
from service.store import Observation as StoredObservation
from surrogate.spaces import SearchSpace
from surrogate.strategy import Proposal

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

FAILED_BATCHES_LIMIT = 3
"""A search fails when this many batches in a row (and more than half of all) failed."""

PAGE = 1000


@dataclass(frozen=True)
class StepResult:
    """What one round did.

    Attributes:
        search_id: The search.
        state: Its state after the round.
        batch_ids: Batches created by this round.
        reason: Why the search finished, when this round finished it.
        wake_in_s: Seconds until the search's wall-time budget runs out (the caller should
            step it again then), if it has one and is running.
    """

    search_id: int
    state: SearchState
    batch_ids: tuple[int, ...] = ()
    reason: str | None = None
    wake_in_s: float | None = None


@dataclass
class _Context:
    """A running search's spec and space, and its strategy's state, kept between rounds.

    Attributes:
        state: The strategy's `state_dict` (encoded) after the last round, or the latest
            snapshot's when the runner has not run a round of the search yet.
        snapshot_version: The snapshot's version while `state` is a stored snapshot's.
    """

    spec: SearchSpec
    space: SearchSpace[Any]
    fidelity: str
    state: bytes | None = None
    snapshot_version: int | None = None


@dataclass(frozen=True)
class _Plan:
    """What a running search needs now."""

    sizes: tuple[int, ...] = ()
    finish: tuple[SearchState, str] | None = None
    rounds_so_far: int = 0
    in_flight_batches: int = 0


@dataclass
class _Snapshot:
    version: int
    state: bytes
    metrics: dict[str, Any]
    n_observations: int


@dataclass
class _Draft:
    """Proposals made outside the transaction, waiting to be written."""

    batches: list[list[Proposal[Any]]] = field(default_factory=list)
    snapshots: list[_Snapshot] = field(default_factory=list)
    seconds: float = 0.0
    state: bytes = b""


class SearchRunner:
    """Runs rounds of searches; thread-safe (one round per search at a time).

    Args:
        engine: The store's engine.
        max_attempts: Leases a batch gets before it fails.
        clock: Source of "now" (aware UTC); tests pass a fake one.
        rounds: Where proposals are computed: child processes with a time limit, or None for
            the calling thread (no limit).
        torch_threads: Intra-op threads torch may use while proposing (None: its default).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        clock: Clock = utcnow,
        rounds: RoundProcesses | None = None,
        torch_threads: int | None = 1,
    ) -> None:
        self._engine = engine
        self._max_attempts = max_attempts
        self._clock = clock
        self._last_reap: datetime | None = None  # the previous successful sweep (outage gaps)
        self._rounds = rounds
        self._torch_threads = torch_threads
        self._contexts: dict[int, _Context] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    # --- public ------------------------------------------------------------------------------

    def step(self, search_id: int) -> StepResult:
        """One round for one search: start it, top up its batches in flight, or finish it.

        Raises:
            NotFoundError: No such search.
            StoreError: The database failed (the round left nothing half written).
            RoundError: The proposal failed or ran past its time limit (nothing was written).
            RoundInterrupted: The proposal was stopped by `RoundProcesses.interrupt`.
        """
        with self._lock(search_id):
            search = self._read(search_id)
            if search.state == SearchState.CREATED:
                search = self._start(search)
            if search.state.terminal:
                self._contexts.pop(search_id, None)
                self._cancel_leftovers(search)
                return StepResult(search_id, search.state, reason=search.finished_reason)
            if search.state == SearchState.PAUSED:
                return StepResult(search_id, search.state)
            try:
                context = self._context(search)
            except ValueError as error:
                return self._finish(search, SearchState.FAILED, f"invalid search spec: {error}")
            return self._round(search, context)

    def reap(self) -> tuple[int, ...]:
        """Re-queue batches whose lease expired (or fail them when out of attempts).

        Returns:
            The searches that lost a batch for good (they need a replacement proposed).
        """
        now = self._clock()
        with session_scope(self._engine) as session:
            outcomes = BatchRepository(session).requeue_expired(
                now=now, previous_sweep=self._last_reap
            )
            events = EventRepository(session)
            for outcome in outcomes:
                lost = BatchFailed if outcome.state == BatchState.FAILED else BatchRequeued
                events.append_payload(
                    lost(batch_id=outcome.batch_id, reason=outcome.reason),
                    now=now,
                    search_id=outcome.search_id,
                )
        self._last_reap = now
        for outcome in outcomes:
            logger.info("batch %d %s: %s", outcome.batch_id, outcome.state, outcome.reason)
        return tuple(sorted({o.search_id for o in outcomes if o.state == BatchState.FAILED}))

    def resume_leases(self, lease_seconds: float) -> int:
        """At controller start: give every lease `lease_seconds` from now (workers could not
        heartbeat while the controller was down); returns how many leases grew.

        A database that cannot take writes now (read-only, full, unreachable) does not stop the
        controller from starting: the leases are left as they are and 0 is returned.
        """
        try:
            with session_scope(self._engine) as session:
                return BatchRepository(session).resume_leases(
                    now=self._clock(), lease_seconds=lease_seconds
                )
        except StoreUnavailableError as error:
            logger.warning("leases not resumed at start: %s", error)
            return 0

    def resumable(self) -> tuple[int, ...]:
        """Searches a (re)started controller must look at: created, running or paused."""
        with session_scope(self._engine, read_only=True) as session:
            searches = SearchRepository(session)
            active = [s.id for s in searches.list_active()]
            created = _all_ids(searches, SearchState.CREATED)
        return tuple(sorted({*active, *created}))

    def fail(self, search_id: int, reason: str) -> StepResult:
        """Mark a search failed (unless it already finished), cancelling its batches."""
        with self._lock(search_id):
            search = self._read(search_id)
            if search.state.terminal:
                return StepResult(search_id, search.state, reason=search.finished_reason)
            return self._finish(search, SearchState.FAILED, reason)

    def forget(self, search_id: int) -> None:
        """Drop the cached strategy of a search (the next round rebuilds it from the store)."""
        self._contexts.pop(search_id, None)

    def interruptible(self, search_id: int) -> bool:
        """Whether a round of `search_id` should stop: the search finished or was paused."""
        state = self._read(search_id).state
        return state.terminal or state == SearchState.PAUSED

    # --- the round ---------------------------------------------------------------------------

    def _round(self, search: SearchRecord, context: _Context) -> StepResult:
        now = self._clock()
        plan = self._plan(search, context, now)
        wake = _wake_in(search, now)
        if plan.finish is not None:
            return self._finish(search, *plan.finish)
        if not plan.sizes:
            return StepResult(search.id, search.state, wake_in_s=wake)
        draft = self._propose(search, context, plan)
        if not any(draft.batches) and plan.in_flight_batches == 0:
            return self._finish(
                search, SearchState.COMPLETED, "the search space is exhausted: nothing left to try"
            )
        batch_ids = self._write(search, context, draft)
        if batch_ids is None:  # the search changed state meanwhile; the draft is void
            self._contexts.pop(search.id, None)
            return StepResult(search.id, self._read(search.id).state)
        context.state, context.snapshot_version = draft.state, None
        return StepResult(search.id, SearchState.RUNNING, batch_ids, wake_in_s=wake)

    def _plan(self, search: SearchRecord, context: _Context, now: datetime) -> _Plan:
        spec = context.spec
        with session_scope(self._engine, read_only=True) as session:
            counts = SearchRepository(session).counts(search.id)
            evaluations = EvaluationRepository(session).count(search.id, context.fidelity)
            in_flight = len(BatchRepository(session).in_flight_architecture_ids(search.id))
            failure = _failure(session, search.id, counts.batches)
        rounds = sum(counts.batches.values())
        budget = search.budget_evaluations
        if budget is not None and evaluations >= budget:
            reason = f"evaluation budget reached: {evaluations} of {budget} evaluations"
            return _Plan(finish=(SearchState.COMPLETED, reason))
        deadline = search.wall_deadline()
        if deadline is not None and now >= deadline:
            reason = (
                f"wall-time budget reached: {search.budget_wall_seconds:g} s "
                f"after {evaluations} evaluations"
            )
            return _Plan(finish=(SearchState.COMPLETED, reason))
        if failure is not None:
            return _Plan(finish=(SearchState.FAILED, failure))
        remaining = math.inf if budget is None else budget - evaluations - in_flight
        sizes = []
        for _ in range(spec.batches_in_flight - counts.batches_in_flight):
            size = int(min(spec.batch_size, remaining))
            if size <= 0:
                break
            sizes.append(size)
            remaining -= size
        return _Plan(tuple(sizes), None, rounds, counts.batches_in_flight)

    def _propose(self, search: SearchRecord, context: _Context, plan: _Plan) -> _Draft:
        stored, unevaluated = self._history(search.id, context.fidelity)
        excluded = {r.key for r in unevaluated} | {o.architecture.key for o in stored}
        pending = [r.arch for r in unevaluated]
        pending += [o.architecture.arch for o in stored if o.evaluation.objective is None]
        job = RoundJob(
            search_id=search.id,
            spec=context.spec.stored(),
            state=context.state,
            snapshot_version=context.snapshot_version,
            observations=_observations(context.spec, stored),
            pending=pending,
            excluded=sorted(excluded),
            sizes=plan.sizes,
            seed=context.spec.seed,
            rounds_so_far=plan.rounds_so_far,
            torch_threads=self._torch_threads,
        )
        outcome = propose_round(job) if self._rounds is None else self._rounds.run(job)
        for note in outcome.notes:
            logger.warning("search %d: %s", search.id, note)
        return _draft(context.space, outcome, stored)

    def _write(
        self, search: SearchRecord, context: _Context, draft: _Draft
    ) -> tuple[int, ...] | None:
        now = self._clock()
        spec = context.spec
        with session_scope(self._engine) as session:
            searches = SearchRepository(session)
            current = searches.get(search.id)
            if current.state != SearchState.RUNNING:
                return None
            room = spec.batches_in_flight - searches.counts(search.id).batches_in_flight
            snapshots = SurrogateSnapshotRepository(session)
            events: list[EventPayload] = []
            for snap in draft.snapshots:
                info = snapshots.add(
                    search.id,
                    model_state=snap.state,
                    fit_metrics=snap.metrics,
                    n_observations=snap.n_observations,
                    now=now,
                )
                if info.version != snap.version:
                    logger.warning(
                        "search %d: snapshot stored as version %d, strategy is at %d",
                        search.id,
                        info.version,
                        snap.version,
                    )
                events.append(
                    SurrogateFitted(
                        version=info.version,
                        n_observations=snap.n_observations,
                        fit=snap.metrics.get("fit", {}),
                    )
                )
            batch_ids = []
            for proposals in draft.batches[: max(room, 0)]:
                batch_id = self._write_batch(session, search.id, context, proposals, now)
                if batch_id is None:
                    continue
                batch_ids.append(batch_id)
                events.append(
                    BatchProposed(
                        batch_id=batch_id,
                        size=len(proposals),
                        keys=tuple(context.space.key(p.arch) for p in proposals),
                        surrogate_version=proposals[0].surrogate_version,
                        seconds=round(draft.seconds, 3),
                    )
                )
            log = EventRepository(session)
            for payload in events:
                log.append_payload(payload, now=now, search_id=search.id)
        return tuple(batch_ids)

    def _write_batch(
        self,
        session: Session,
        search_id: int,
        context: _Context,
        proposals: Sequence[Proposal[Any]],
        now: datetime,
    ) -> int | None:
        if not proposals:
            return None
        sign = _prediction_sign(context.spec)
        items = [_architecture_input(context.space, p, sign) for p in proposals]
        added = ArchitectureRepository(session).add_many(search_id, items, now=now)
        fresh = [record.id for record, created in added if created]
        if len(fresh) != len(added):
            logger.warning("search %d: dropped proposals that already existed", search_id)
        if not fresh:
            return None
        batch = BatchRepository(session).create(
            search_id,
            fresh,
            now=now,
            fidelity=context.fidelity,
            max_attempts=self._max_attempts,
        )
        return batch.id

    # --- state changes -----------------------------------------------------------------------

    def _start(self, search: SearchRecord) -> SearchRecord:
        now = self._clock()
        with session_scope(self._engine) as session:
            try:
                started = SearchRepository(session).transition(
                    search.id, SearchState.RUNNING, now=now
                )
            except InvalidStateTransitionError:  # cancelled meanwhile
                return SearchRepository(session).get(search.id)
            EventRepository(session).append_payload(SearchStarted(), now=now, search_id=search.id)
        logger.info("search %d started", search.id)
        return started

    def _finish(self, search: SearchRecord, state: SearchState, reason: str) -> StepResult:
        now = self._clock()
        with session_scope(self._engine) as session:
            searches = SearchRepository(session)
            try:
                finished = searches.transition(search.id, state, now=now, reason=reason)
            except InvalidStateTransitionError:  # someone else finished it first
                finished = searches.get(search.id)
                return StepResult(search.id, finished.state, reason=finished.finished_reason)
            cancelled = BatchRepository(session).cancel_search(
                search.id, now=now, reason=f"search {state.value}: {reason}"
            )
            evaluations = searches.counts(search.id).evaluations
            ended = SearchCompleted if state == SearchState.COMPLETED else SearchFailed
            EventRepository(session).append_payload(
                ended(reason=reason, evaluations=evaluations, batches_cancelled=cancelled),
                now=now,
                search_id=search.id,
            )
        self._contexts.pop(search.id, None)
        logger.info("search %d %s: %s", search.id, state.value, reason)
        return StepResult(search.id, finished.state, reason=reason)

    def _cancel_leftovers(self, search: SearchRecord) -> None:
        """Cancel batches still in flight of a finished search (e.g. cancelled by a router)."""
        with session_scope(self._engine, read_only=True) as session:
            left = SearchRepository(session).counts(search.id).batches_in_flight
        if not left:
            return
        with session_scope(self._engine) as session:
            reason = f"search {search.state.value}: {search.finished_reason or 'finished'}"
            BatchRepository(session).cancel_search(search.id, now=self._clock(), reason=reason)

    # --- reading -----------------------------------------------------------------------------

    def _read(self, search_id: int) -> SearchRecord:
        with session_scope(self._engine, read_only=True) as session:
            return SearchRepository(session).get(search_id)

    def _context(self, search: SearchRecord) -> _Context:
        """The cached context, or one rebuilt from the stored spec and latest snapshot.

        Raises:
            ValueError: The stored spec no longer validates.
        """
        context = self._contexts.get(search.id)
        if context is not None:
            return context
        try:
            spec = SearchSpec.from_stored(search.spec)
        except ValidationError as error:
            raise ValueError(str(error)) from error
        context = _Context(spec, spec.search_space, batch_fidelity(spec))
        with session_scope(self._engine, read_only=True) as session:
            snapshot = SurrogateSnapshotRepository(session).latest(search.id)
        if snapshot is not None:
            context.state = snapshot.model_state
            context.snapshot_version = snapshot.info.version
        self._contexts[search.id] = context
        return context

    def _history(
        self, search_id: int, fidelity: str
    ) -> tuple[tuple[StoredObservation, ...], list[ArchitectureRecord]]:
        """Every observation at the search's fidelity, and every architecture without one."""
        with session_scope(self._engine, read_only=True) as session:
            stored = EvaluationRepository(session).observations(search_id, fidelity)
            architectures = ArchitectureRepository(session)
            unevaluated: list[ArchitectureRecord] = []
            offset = 0
            while True:
                page = architectures.list(
                    search_id, evaluated=False, fidelity=fidelity, limit=PAGE, offset=offset
                )
                unevaluated.extend(view.architecture for view in page.items)
                offset += PAGE
                if offset >= page.total:
                    break
        return stored, unevaluated

    def _lock(self, search_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(search_id, threading.Lock())


# --- helpers ----------------------------------------------------------------------------------


def _observations(
    spec: SearchSpec, stored: Sequence[StoredObservation]
) -> list[tuple[Any, float] | tuple[Any, float, dict[str, float]]]:
    """What the strategy sees, as ``(architecture JSON, value, metrics)``: finite results,
    maximised, with their finite numeric metrics (the objective's too, in user units); for a
    strategy that does not model constraints, infeasible ones pushed to the bottom."""
    sign = 1.0 if spec.objective.maximize else -1.0
    rows = [
        (o, sign * o.evaluation.objective)
        for o in stored
        if o.evaluation.objective is not None and math.isfinite(o.evaluation.objective)
    ]
    if not rows:
        return []
    penalise = bool(spec.constraints) and spec.strategy.name != "bonas"
    worst = min(value for _, value in rows)
    return [
        (
            o.architecture.arch,
            min(value, worst) if penalise and not spec.feasible(o.evaluation.metrics) else value,
            _numeric_metrics(spec, o),
        )
        for o, value in rows
    ]


def _numeric_metrics(spec: SearchSpec, observation: StoredObservation) -> dict[str, float]:
    """A result's finite numeric metrics, with the objective under its metric's name."""
    metrics = {
        name: float(value)
        for name, value in observation.evaluation.metrics.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }
    objective = observation.evaluation.objective
    if objective is not None:
        metrics[spec.objective.metric] = float(objective)
    return metrics


def _draft(
    space: SearchSpace[Any], outcome: RoundOutcome, stored: Sequence[StoredObservation]
) -> _Draft:
    """A round's outcome as the proposals and snapshots `_write` stores."""
    draft = _Draft(seconds=outcome.seconds, state=outcome.state)
    for batch in outcome.batches:
        draft.batches.append(
            [
                Proposal(
                    arch=space.from_json(p.arch),
                    predicted_mean=p.predicted_mean,
                    predicted_std=p.predicted_std,
                    acquisition_value=p.acquisition_value,
                    surrogate_version=p.surrogate_version,
                    source=p.source,
                    extra=dict(p.extra),
                )
                for p in batch
            ]
        )
    if outcome.snapshots:
        predictions = prediction_metrics(stored)
        for snap in outcome.snapshots:
            draft.snapshots.append(
                _Snapshot(
                    version=snap.version,
                    state=snap.state,
                    metrics={"fit": snap.fit, "predictions": predictions},
                    n_observations=snap.n_observations,
                )
            )
    return draft


def _prediction_sign(spec: SearchSpec) -> float:
    """What turns a proposal's predicted mean into the user's units: a single-objective
    strategy predicts the maximised value (negated for a minimised objective); the
    multi-objective one predicts each objective in the user's units already."""
    return 1.0 if spec.objective.maximize or spec.multi_objective else -1.0


def _architecture_input(
    space: SearchSpace[Any], proposal: Proposal[Any], sign: float
) -> ArchitectureInput:
    mean = proposal.predicted_mean
    return ArchitectureInput(
        key=space.key(proposal.arch),
        arch=space.to_json(proposal.arch),
        proposal=ProposalInfo(
            source=proposal.source or "strategy",
            predicted_mean=None if mean is None else sign * mean,
            predicted_std=proposal.predicted_std,
            acquisition_value=proposal.acquisition_value,
            surrogate_version=proposal.surrogate_version,
            extra=dict(proposal.extra),
        ),
    )


def _wake_in(search: SearchRecord, now: datetime) -> float | None:
    deadline = search.wall_deadline()
    return None if deadline is None else max((deadline - now).total_seconds(), 0.0)


def _failure(session: Session, search_id: int, batches: Mapping[BatchState, int]) -> str | None:
    """Why the search should fail: its last batches all failed (a broken evaluator, say)."""
    failed = batches.get(BatchState.FAILED, 0)
    if failed < FAILED_BATCHES_LIMIT or failed <= batches.get(BatchState.DONE, 0):
        return None
    repository = BatchRepository(session)
    finished = repository.list(search_id, states=(BatchState.DONE, BatchState.FAILED))
    last = finished[-FAILED_BATCHES_LIMIT:]
    if any(b.state != BatchState.FAILED for b in last):
        return None
    return (
        f"the last {FAILED_BATCHES_LIMIT} batches failed ({failed} of {len(finished)} finished "
        f"batches); last failure: {last[-1].failure_reason}"
    )


def _all_ids(searches: SearchRepository, state: SearchState) -> list[int]:
    ids: list[int] = []
    offset = 0
    while True:
        page = searches.list(states=[state], limit=PAGE, offset=offset)
        ids.extend(s.id for s in page.items)
        offset += PAGE
        if offset >= page.total:
            return ids
