"""The controller's rounds against a real store (SQLite and PostgreSQL).

Workers are played by the test through the store's lease queue: lease a batch, "measure" each
member with a deterministic function of its architecture, report. Time is a fake clock, so lease
expiry and wall-time budgets are exact. Strategies use small options (tiny pools, short fits) and
small user-declared cell spaces, so that every round takes well under a second.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any, NamedTuple

import pytest
from sqlalchemy import Engine

from service.clock import ManualClock
from service.controller import Controller, StepResult
from service.events import EventKind
from service.search_spec import SearchSpec
from service.settings import Settings
from service.store import (
    ArchitectureRepository,
    BatchRecord,
    BatchRepository,
    BatchState,
    EvaluationInput,
    EvaluationRepository,
    EventRepository,
    SearchRecord,
    SearchRepository,
    SearchState,
    SurrogateSnapshotRepository,
    WorkerRepository,
    session_scope,
)
from tests.support.store import create_search as store_search

SMALL_SPACE = {"type": "cell", "name": "small", "num_nodes": 4, "ops": ["none", "skip", "conv"]}
"""729 architectures: big enough for a surrogate, small enough to enumerate at once."""

TINY_SPACE = {"type": "cell", "name": "tiny", "num_nodes": 3, "ops": ["skip", "conv"]}
"""8 architectures: exhausted within a few batches."""

FAST_BONAS = {
    "n_init": 6,
    "pool_size": 120,
    "fit": {"epochs": 15, "warm_epochs": 5, "gcn": {"num_layers": 2, "width": 16}},
}


def spec_dict(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "test",
        "space": SMALL_SPACE,
        "evaluator": {"kind": "table", "path": "unused.csv"},
        "objective": {"metric": "score"},
        "budget": {"evaluations": 30},
        "batch_size": 4,
        "batches_in_flight": 1,
        "strategy": {"name": "bonas", "options": FAST_BONAS},
        "seed": 7,
    }
    spec.update(overrides)
    return spec


def score(arch: dict[str, Any]) -> float:
    """A deterministic objective: more convolutions are better, plus a hashed tie-breaker."""
    text = str(sorted(arch.items()))
    noise = int(hashlib.sha256(text.encode()).hexdigest()[:6], 16) / 16**6
    return 10.0 * text.count("conv") + noise


def create_search(engine: Engine, clock: ManualClock, **overrides: Any) -> SearchRecord:
    spec = SearchSpec.model_validate(spec_dict(**overrides))
    with session_scope(engine) as session:
        return store_search(session, spec, clock())


def make_controller(engine: Engine, clock: ManualClock, max_attempts: int = 3) -> Controller:
    settings = Settings(database_url=str(engine.url), lease_seconds=10, max_attempts=max_attempts)
    return Controller(engine, settings, clock=clock)


def register_worker(engine: Engine, clock: ManualClock, name: str = "w1") -> int:
    with session_scope(engine) as session:
        return WorkerRepository(session).register(name, capabilities={}, now=clock()).id


def batches(engine: Engine, search_id: int, *states: BatchState) -> tuple[BatchRecord, ...]:
    with session_scope(engine, read_only=True) as session:
        return BatchRepository(session).list(search_id, states=states or None)


def work_one(
    engine: Engine, clock: ManualClock, worker_id: int, metrics: bool = True
) -> int | None:
    """Lease the next batch as `worker_id`, measure it with `score`, report; the batch id."""
    with session_scope(engine) as session:
        lease = BatchRepository(session).lease_next(worker_id, lease_seconds=10, now=clock())
    if lease is None:
        return None
    results = [
        EvaluationInput(
            architecture_id=m.architecture_id,
            metrics={"score": score(m.arch), "params": 1.0} if metrics else {},
            objective=score(m.arch),
            evaluator="table",
        )
        for m in lease.members
    ]
    with session_scope(engine) as session:
        BatchRepository(session).report(
            lease.batch_id, lease.token, lease.attempt, results, now=clock()
        )
    return lease.batch_id


class FirstBatchDone(NamedTuple):
    """A search whose first batch the controller proposed and worker ``w1`` reported."""

    clock: ManualClock
    search: SearchRecord
    controller: Controller
    worker: int


def first_batch_done(engine: Engine, **overrides: Any) -> FirstBatchDone:
    """Create a search from `overrides`, step its controller once and have a worker report."""
    clock = ManualClock()
    search = create_search(engine, clock, **overrides)
    controller = make_controller(engine, clock)
    worker = register_worker(engine, clock)
    controller.step(search.id)
    work_one(engine, clock, worker)
    return FirstBatchDone(clock, search, controller, worker)


def event_kinds(engine: Engine, search_id: int) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        return [e.kind for e in EventRepository(session).list_after(0, search_id=search_id)]


def all_keys(engine: Engine, search_id: int) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        page = ArchitectureRepository(session).list(search_id, limit=1000)
    return [view.architecture.key for view in page.items]


def run_to_end(
    engine: Engine, controller: Controller, clock: ManualClock, search_id: int, worker_id: int
) -> StepResult:
    result = controller.step(search_id)
    for _ in range(100):
        if result.state.terminal:
            return result
        assert work_one(engine, clock, worker_id) is not None, "a running search has work"
        clock.advance(1)
        result = controller.step(search_id)
    raise AssertionError("the search did not finish in 100 rounds")


# --- rounds -----------------------------------------------------------------------------------


def test_initial_batches_fill_the_flight_and_a_second_step_adds_nothing(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(engine, clock, batches_in_flight=2)
    controller = make_controller(engine, clock)

    result = controller.step(search.id)

    assert result.state == SearchState.RUNNING
    assert len(result.batch_ids) == 2
    queued = batches(engine, search.id, BatchState.QUEUED)
    assert [len(b.member_ids) for b in queued] == [4, 4]
    with session_scope(engine, read_only=True) as session:
        page = ArchitectureRepository(session).list(search.id)
        assert SearchRepository(session).get(search.id).started_at == clock()
    assert {v.architecture.proposal.source for v in page.items} == {"initial"}
    assert len(set(all_keys(engine, search.id))) == 8
    assert event_kinds(engine, search.id) == [
        EventKind.SEARCH_STARTED,
        EventKind.BATCH_PROPOSED,
        EventKind.BATCH_PROPOSED,
    ]
    again = controller.step(search.id)
    assert again.batch_ids == ()
    assert len(batches(engine, search.id)) == 2


def test_refit_after_report_records_predictions_and_a_snapshot(engine: Engine) -> None:
    clock, search, controller, worker = first_batch_done(engine, batch_size=6)

    result = controller.step(search.id)  # 6 observations = n_init: the surrogate is fitted

    assert len(result.batch_ids) == 1
    with session_scope(engine, read_only=True) as session:
        batch = BatchRepository(session).get(result.batch_ids[0])
        views = ArchitectureRepository(session).views(batch.member_ids)
        snapshots = SurrogateSnapshotRepository(session).list(search.id)
    assert [s.version for s in snapshots] == [1]
    assert snapshots[0].n_observations == 6
    assert snapshots[0].fit_metrics["fit"]["num_observations"] == 6
    for view in views:
        proposal = view.architecture.proposal
        assert proposal.surrogate_version == 1
        assert proposal.predicted_mean is not None and proposal.predicted_std is not None
        assert proposal.predicted_std > 0 and proposal.acquisition_value is not None
    assert EventKind.SURROGATE_FITTED in event_kinds(engine, search.id)

    # The next refit scores version 1 out of sample: tau over the 6 architectures it proposed.
    work_one(engine, clock, worker)
    controller.step(search.id)
    with session_scope(engine, read_only=True) as session:
        latest = SurrogateSnapshotRepository(session).latest(search.id)
    assert latest is not None and latest.info.version == 2
    scored = latest.info.fit_metrics["predictions"]["by_version"]["1"]
    assert scored["n"] == 6 and scored["tau"] is not None and -1 <= scored["tau"] <= 1


def test_pending_architectures_are_never_proposed_again(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(
        engine,
        clock,
        space=TINY_SPACE,
        batch_size=3,
        batches_in_flight=2,
        budget={"evaluations": 8},
        strategy={"name": "random"},
    )
    controller = make_controller(engine, clock)
    worker = register_worker(engine, clock)
    controller.step(search.id)
    first = batches(engine, search.id)
    work_one(engine, clock, worker)  # one batch measured, the other still queued (pending)

    result = controller.step(search.id)

    in_flight = batches(engine, search.id, BatchState.QUEUED)
    assert len(in_flight) == 2 and first[1].id in {b.id for b in in_flight}
    new = next(b for b in in_flight if b.id == result.batch_ids[0])
    assert len(new.member_ids) == 2  # only two of the eight architectures were left
    keys = all_keys(engine, search.id)
    assert len(keys) == len(set(keys)) == 8


def test_no_architecture_twice_and_the_budget_ends_the_search(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(engine, clock, budget={"evaluations": 22}, batch_size=5)
    controller = make_controller(engine, clock)
    worker = register_worker(engine, clock)

    result = run_to_end(engine, controller, clock, search.id, worker)

    assert result.state == SearchState.COMPLETED
    assert result.reason == "evaluation budget reached: 22 of 22 evaluations"
    with session_scope(engine, read_only=True) as session:
        stored = SearchRepository(session).get(search.id)
        evaluations = EvaluationRepository(session).count(search.id)
    assert stored.finished_reason == result.reason and stored.finished_at is not None
    assert evaluations == 22  # the last batch was cut to 2 so as not to overshoot
    assert [len(b.member_ids) for b in batches(engine, search.id)] == [5, 5, 5, 5, 2]
    keys = all_keys(engine, search.id)
    assert len(keys) == len(set(keys)) == 22
    assert event_kinds(engine, search.id)[-1] == EventKind.SEARCH_COMPLETED
    assert controller.step(search.id).batch_ids == ()


def test_wall_time_budget_completes_and_cancels_batches_in_flight(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(engine, clock, budget={"wall_seconds": 60}, strategy={"name": "random"})
    controller = make_controller(engine, clock)
    first = controller.step(search.id)
    assert first.wake_in_s == pytest.approx(60)

    clock.advance(61)
    result = controller.step(search.id)

    assert result.state == SearchState.COMPLETED
    assert result.reason is not None and result.reason.startswith("wall-time budget reached")
    assert [b.state for b in batches(engine, search.id)] == [BatchState.CANCELLED]


def test_time_spent_paused_does_not_count_against_the_wall_time_budget(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(engine, clock, budget={"wall_seconds": 60}, strategy={"name": "random"})
    controller = make_controller(engine, clock)
    controller.step(search.id)
    clock.advance(40)
    with session_scope(engine) as session:
        SearchRepository(session).transition(search.id, SearchState.PAUSED, now=clock())
    clock.advance(3600)  # an hour paused
    with session_scope(engine) as session:
        resumed = SearchRepository(session).transition(search.id, SearchState.RUNNING, now=clock())
    assert resumed.paused_seconds == pytest.approx(3600) and resumed.paused_at is None
    assert resumed.running_seconds(clock()) == pytest.approx(40)
    assert controller.step(search.id).wake_in_s == pytest.approx(20)  # 20 s of running left
    clock.advance(21)
    result = controller.step(search.id)
    assert result.state == SearchState.COMPLETED
    assert result.reason is not None and result.reason.startswith("wall-time budget reached")


def test_exhausted_space_completes_the_search(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(
        engine,
        clock,
        space=TINY_SPACE,
        batch_size=3,
        budget={"evaluations": 100},
        strategy={"name": "random"},
    )
    controller = make_controller(engine, clock)
    worker = register_worker(engine, clock)

    result = run_to_end(engine, controller, clock, search.id, worker)

    assert result.state == SearchState.COMPLETED
    assert result.reason is not None and "exhausted" in result.reason
    assert len(set(all_keys(engine, search.id))) == 8


def test_reaper_requeues_an_expired_lease_then_fails_the_batch(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(engine, clock, strategy={"name": "random"})
    controller = make_controller(engine, clock, max_attempts=2)
    worker = register_worker(engine, clock)
    (batch_id,) = controller.step(search.id).batch_ids
    lost_keys = set(all_keys(engine, search.id))

    for attempt in (1, 2):
        with session_scope(engine) as session:
            lease = BatchRepository(session).lease_next(worker, lease_seconds=10, now=clock())
        assert lease is not None and lease.batch_id == batch_id and lease.attempt == attempt
        clock.advance(6)  # a regular sweep finds the lease live (sweeps more than a lease
        assert controller.reap() == ()  # apart would mean an outage, and extend leases)
        clock.advance(5)  # the worker died: no heartbeat, no report
        lost = controller.reap()
        state = batches(engine, search.id)[0].state
        if attempt == 1:
            assert lost == () and state == BatchState.QUEUED
        else:
            assert lost == (search.id,) and state == BatchState.FAILED

    failed = batches(engine, search.id)[0]
    assert failed.failure_reason is not None and "no attempts left" in failed.failure_reason
    kinds = event_kinds(engine, search.id)
    assert kinds.count(EventKind.BATCH_REQUEUED) == 1 and kinds[-1] == EventKind.BATCH_FAILED

    replacement = controller.step(search.id)  # the lost batch is replaced by new architectures
    (new_id,) = replacement.batch_ids
    with session_scope(engine, read_only=True) as session:
        new = BatchRepository(session).get(new_id)
        new_keys = {
            v.architecture.key for v in ArchitectureRepository(session).views(new.member_ids)
        }
    assert new_keys.isdisjoint(lost_keys)


def test_failing_batches_fail_the_search(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(engine, clock, strategy={"name": "random"})
    controller = make_controller(engine, clock, max_attempts=1)
    worker = register_worker(engine, clock)
    result = controller.step(search.id)
    for _ in range(3):  # a broken evaluator: every batch fails
        with session_scope(engine) as session:
            repository = BatchRepository(session)
            lease = repository.lease_next(worker, lease_seconds=10, now=clock())
            assert lease is not None
            repository.fail(lease.batch_id, lease.token, lease.attempt, now=clock(), reason="boom")
        result = controller.step(search.id)

    assert result.state == SearchState.FAILED
    assert result.reason is not None and "boom" in result.reason
    assert event_kinds(engine, search.id)[-1] == EventKind.SEARCH_FAILED


def test_pause_resume_and_cancel_are_respected(engine: Engine) -> None:
    clock, search, controller, _ = first_batch_done(engine, strategy={"name": "random"})
    with session_scope(engine) as session:
        SearchRepository(session).transition(search.id, SearchState.PAUSED, now=clock())

    assert controller.step(search.id).batch_ids == ()
    assert batches(engine, search.id, BatchState.QUEUED) == ()

    with session_scope(engine) as session:
        SearchRepository(session).transition(search.id, SearchState.RUNNING, now=clock())
    assert len(controller.step(search.id).batch_ids) == 1

    with session_scope(engine) as session:
        SearchRepository(session).transition(
            search.id, SearchState.CANCELLED, now=clock(), reason="by alice"
        )
    result = controller.step(search.id)
    assert result.state == SearchState.CANCELLED
    assert batches(engine, search.id)[-1].state == BatchState.CANCELLED


def test_minimised_objective_and_constraints_reach_the_strategy(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(
        engine,
        clock,
        batch_size=6,
        objective={"metric": "score", "goal": "minimize"},
        constraints=[{"metric": "params", "max": 0.5}],
    )
    controller = make_controller(engine, clock)
    worker = register_worker(engine, clock)
    controller.step(search.id)
    work_one(engine, clock, worker)  # every result has params 1.0: all infeasible
    (batch_id,) = controller.step(search.id).batch_ids
    with session_scope(engine, read_only=True) as session:
        views = ArchitectureRepository(session).views(
            BatchRepository(session).get(batch_id).member_ids
        )
    means = [v.architecture.proposal.predicted_mean for v in views]
    # Predictions are in the user's units (positive scores), not the negated internal ones.
    assert all(m is not None and m > 0 for m in means)


# --- restart ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_new_controller_resumes_where_the_old_one_stood(engine: Engine) -> None:
    clock = ManualClock()
    search = create_search(engine, clock, batch_size=4, budget={"evaluations": 24})
    worker = register_worker(engine, clock)
    old = make_controller(engine, clock)
    old.step(search.id)
    for _ in range(3):
        work_one(engine, clock, worker)
        old.step(search.id)
    with session_scope(engine, read_only=True) as session:
        version_before = SurrogateSnapshotRepository(session).latest(search.id)
    assert version_before is not None
    del old  # the service was killed: nothing survives but the store

    new = make_controller(engine, clock)
    assert new.step(search.id).batch_ids == ()  # the batch in flight is still there
    work_one(engine, clock, worker)
    (batch_id,) = new.step(search.id).batch_ids

    with session_scope(engine, read_only=True) as session:
        latest = SurrogateSnapshotRepository(session).latest(search.id)
        views = ArchitectureRepository(session).views(
            BatchRepository(session).get(batch_id).member_ids
        )
    assert latest is not None and latest.info.version == version_before.info.version + 1
    assert {v.architecture.proposal.surrogate_version for v in views} == {latest.info.version}
    result = run_to_end(engine, new, clock, search.id, worker)
    assert result.state == SearchState.COMPLETED
    keys = all_keys(engine, search.id)
    assert len(keys) == len(set(keys)) == 24


def test_started_controller_runs_searches_off_the_event_loop(engine: Engine) -> None:
    clock = ManualClock()
    created = create_search(engine, clock, strategy={"name": "random"})
    controller = make_controller(engine, clock)

    async def scenario() -> list[BatchRecord]:
        await controller.start()  # resumes the created search without a notification
        try:
            found = await _until(lambda: batches(engine, created.id))
            later = create_search(engine, clock, strategy={"name": "random"})
            controller.notify(later.id)
            await _until(lambda: batches(engine, later.id))
            return [*found, *batches(engine, later.id)]
        finally:
            await controller.stop()

    found = asyncio.run(scenario())
    assert len(found) == 2 and not controller.running


async def _until(probe: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting for the controller")


def test_the_event_loop_stays_responsive_while_the_surrogate_refits(engine: Engine) -> None:
    slow_fit = {**FAST_BONAS, "pool_size": 400, "fit": {"epochs": 1200, "warm_epochs": 1200}}
    # After one reported batch, the next round refits the surrogate: seconds of torch.
    _, search, controller, _ = first_batch_done(
        engine, batch_size=6, strategy={"options": slow_fit}
    )

    async def scenario() -> tuple[float, float]:
        gaps: list[float] = []
        started = time.monotonic()
        await controller.start()
        try:
            last = time.monotonic()
            while len(batches(engine, search.id)) < 2:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
                assert now - started < 120, "the round did not finish"
        finally:
            await controller.stop()
        return time.monotonic() - started, max(gaps)

    took, worst_gap = asyncio.run(scenario())
    assert took > 1.0, "the refit was too quick to show anything"
    # On the loop, the round would stall it for its whole length; in the pool, only the GIL's
    # hand-overs (and a loaded host's scheduling) delay it, by a fraction of a second.
    limit = min(took / 4, 1.5)
    assert worst_gap < limit, f"the loop stalled {worst_gap:.2f} s in a {took:.2f} s round"


def test_an_unreadable_snapshot_is_refitted_and_versions_stay_in_step(engine: Engine) -> None:
    clock, search, controller, worker = first_batch_done(engine, batch_size=6)
    controller.step(search.id)  # snapshot v1
    with session_scope(engine) as session:  # v2 is garbage (say, written by a broken release)
        SurrogateSnapshotRepository(session).add(
            search.id, model_state=b"not a state", fit_metrics={}, n_observations=6, now=clock()
        )
    work_one(engine, clock, worker)

    (batch_id,) = make_controller(engine, clock).step(search.id).batch_ids

    with session_scope(engine, read_only=True) as session:
        latest = SurrogateSnapshotRepository(session).latest(search.id)
        views = ArchitectureRepository(session).views(
            BatchRepository(session).get(batch_id).member_ids
        )
    assert latest is not None and latest.info.version == 3
    assert {v.architecture.proposal.surrogate_version for v in views} == {3}
