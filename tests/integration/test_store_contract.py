"""The store's contract, written once and run against SQLite and PostgreSQL.

Every test gets a fresh database built by the migrations (see conftest.py). Time is explicit: the
tests pass ``now`` and move it to expire leases instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from service.exceptions import (
    DuplicateEvaluationError,
    InvalidReportError,
    InvalidStateTransitionError,
    LeaseRejectedError,
    LeaseRejection,
    NotFoundError,
    StoreConflictError,
    StoreError,
    StoreUnavailableError,
)
from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    ArchitectureSort,
    BatchRepository,
    BatchState,
    EvaluationInput,
    EvaluationRepository,
    EventRepository,
    Lease,
    PoolRepository,
    ProposalInfo,
    Role,
    SearchRepository,
    SearchState,
    SurrogateSnapshotRepository,
    TokenRepository,
    WorkerRepository,
    hash_token,
    make_engine,
    session_scope,
)
from service.store.tables import ApiTokenRow, WorkerRow
from tests.integration.store_outage import ReadOnlySwitch

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LEASE_S = 60.0


def _search(engine: Engine, *, running: bool = True, owner: str = "alice") -> int:
    with session_scope(engine) as s:
        repo = SearchRepository(s)
        search = repo.create(
            name="nb201", owner=owner, spec={"space": "nb201"}, space_spec={"k": 1}, now=T0
        )
        if running:
            repo.transition(search.id, SearchState.RUNNING, now=T0)
        return search.id


def _archs(engine: Engine, search_id: int, n: int, *, prefix: str = "a") -> list[int]:
    items = [
        ArchitectureInput(f"{prefix}{i}", {"ops": [i]}, ProposalInfo("initial")) for i in range(n)
    ]
    with session_scope(engine) as s:
        added = ArchitectureRepository(s).add_many(search_id, items, now=T0)
    return [record.id for record, _ in added]


def _worker(engine: Engine, name: str = "w1") -> int:
    with session_scope(engine) as s:
        return WorkerRepository(s).register(name, capabilities={"gpu": False}, now=T0).id


def _batch(engine: Engine, search_id: int, arch_ids: list[int], max_attempts: int = 3) -> int:
    with session_scope(engine) as s:
        return BatchRepository(s).create(search_id, arch_ids, now=T0, max_attempts=max_attempts).id


def _lease(engine: Engine, worker_id: int, now: datetime = T0) -> Lease | None:
    with session_scope(engine) as s:
        return BatchRepository(s).lease_next(worker_id, lease_seconds=LEASE_S, now=now)


def _results(lease: Lease, base: float = 0.5) -> list[EvaluationInput]:
    return [
        EvaluationInput(m.architecture_id, {"acc": base + i / 100}, base + i / 100, "table")
        for i, m in enumerate(lease.members)
    ]


def _report(engine: Engine, lease: Lease, now: datetime) -> None:
    with session_scope(engine) as s:
        BatchRepository(s).report(
            lease.batch_id, lease.token, lease.attempt, _results(lease), now=now
        )


@pytest.fixture
def running(engine: Engine) -> Iterator[tuple[Engine, int]]:
    """An engine and the id of a running search."""
    yield engine, _search(engine)


# -- engine and sessions --------------------------------------------------------------------------


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        SearchRepository(s).create(name="x", owner="o", spec={}, space_spec={}, now=T0)
        raise RuntimeError("boom")
    with session_scope(engine, read_only=True) as s:
        assert SearchRepository(s).list().total == 0


def test_database_errors_leave_as_store_errors(engine: Engine) -> None:
    _worker(engine, "dup")
    with pytest.raises(StoreConflictError, match="constraint"), session_scope(engine) as s:
        s.add(WorkerRow(name="dup", capabilities={}, registered_at=T0, last_seen_at=T0))
    with (
        pytest.raises(StoreError, match="transaction failed") as caught,
        session_scope(engine) as s,
    ):
        s.execute(text("SELECT no_such_column FROM searches"))
    assert "no_such_column" in str(caught.value)


def test_repository_errors_name_the_operation(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with session_scope(engine) as s:
            s.execute(text("DROP TABLE events"))
        with (
            pytest.raises(StoreError, match=r"EventRepository\.last_id"),
            session_scope(engine) as s,
        ):
            EventRepository(s).last_id()
    finally:
        engine.dispose()


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="naive"), session_scope(engine) as s:
        SearchRepository(s).create(
            name="x", owner="o", spec={}, space_spec={}, now=datetime(2025, 1, 1)
        )


def test_sqlite_writers_take_the_lock_at_begin(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "locks.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}", sqlite_busy_timeout_s=0.2)
    try:
        with engine.connect() as raw:
            assert raw.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert raw.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            raw.rollback()
        with session_scope(engine) as holder:
            SearchRepository(holder).create(name="x", owner="o", spec={}, space_spec={}, now=T0)
            # A second writer cannot even begin (BEGIN IMMEDIATE) while the first holds the lock...
            with pytest.raises(StoreUnavailableError, match="locked"), session_scope(engine) as s:
                SearchRepository(s).list()
            # ...but a read-only block reads the last committed state alongside it (WAL).
            with session_scope(engine, read_only=True) as reader:
                assert SearchRepository(reader).list().total == 0
        with session_scope(engine, read_only=True) as reader:
            assert SearchRepository(reader).list().total == 1
    finally:
        engine.dispose()


# -- searches -------------------------------------------------------------------------------------


def test_search_round_trip_is_frozen_and_detached(engine: Engine) -> None:
    with session_scope(engine) as s:
        created = SearchRepository(s).create(
            name="run",
            owner="alice",
            spec={"nested": {"k": [1, 2]}},
            space_spec={"space": "nb201"},
            now=T0,
            budget_evaluations=100,
            budget_wall_seconds=3600.0,
        )
        created.spec["nested"]["k"].append(3)  # mutating the copy must not reach the store
    with pytest.raises(dataclasses.FrozenInstanceError):
        created.name = "other"  # type: ignore[misc]
    with session_scope(engine) as s:
        got = SearchRepository(s).get(created.id)
    assert got.spec == {"nested": {"k": [1, 2]}}
    assert got.state == SearchState.CREATED
    assert got.created_at == T0 and got.created_at.tzinfo is not None
    assert (got.budget_evaluations, got.budget_wall_seconds) == (100, 3600.0)


def test_search_transitions(engine: Engine) -> None:
    search_id = _search(engine, running=False)
    t1, t2 = T0 + timedelta(seconds=5), T0 + timedelta(seconds=9)
    with session_scope(engine) as s:
        repo = SearchRepository(s)
        started = repo.transition(search_id, SearchState.RUNNING, now=t1)
        assert started.started_at == t1 and started.finished_at is None
        assert repo.transition(search_id, SearchState.PAUSED, now=t1).state == SearchState.PAUSED
        assert repo.transition(search_id, SearchState.PAUSED, now=t1).state == SearchState.PAUSED
        repo.transition(search_id, SearchState.RUNNING, now=t1)
        done = repo.transition(search_id, SearchState.COMPLETED, now=t2, reason="budget")
        assert (done.finished_at, done.finished_reason) == (t2, "budget")
        assert done.started_at == t1
        with pytest.raises(InvalidStateTransitionError, match="completed"):
            repo.transition(search_id, SearchState.RUNNING, now=t2)
        with pytest.raises(NotFoundError):
            repo.transition(9999, SearchState.RUNNING, now=t2)


def test_search_list_filters_and_paginates(engine: Engine) -> None:
    ids = [_search(engine, owner="alice") for _ in range(5)] + [_search(engine, owner="bob")]
    paused = _search(engine, owner="alice", running=False)
    with session_scope(engine) as s:
        repo = SearchRepository(s)
        page = repo.list(owner="alice", limit=2, offset=1)
        assert page.total == 6 and len(page.items) == 2
        assert [x.id for x in page.items] == [ids[4], ids[3]]  # newest first
        assert [x.id for x in repo.list(states=[SearchState.CREATED]).items] == [paused]
        assert {x.id for x in repo.list_active()} == set(ids)
        with pytest.raises(ValueError, match="limit"):
            repo.list(limit=0)
        with pytest.raises(NotFoundError, match="search 12345"):
            repo.get(12345)


def test_search_counts(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    arch_ids = _archs(engine, search_id, 4)
    _batch(engine, search_id, arch_ids[:2])
    _batch(engine, search_id, arch_ids[2:])
    lease = _lease(engine, _worker(engine))
    assert lease is not None
    _report(engine, lease, T0)
    with session_scope(engine) as s:
        counts = SearchRepository(s).counts(search_id)
    assert (counts.architectures, counts.evaluations) == (4, 2)
    assert counts.batches == {BatchState.DONE: 1, BatchState.QUEUED: 1}
    assert counts.batches_in_flight == 1


# -- architectures and evaluations ----------------------------------------------------------------


def test_architectures_deduplicate_by_key(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    other = _search(engine)
    proposal = ProposalInfo("bo", 0.7, 0.1, 0.75, 3, {"pool": 100})
    with session_scope(engine) as s:
        repo = ArchitectureRepository(s)
        first, created = repo.add(search_id, ArchitectureInput("k1", {"a": 1}, proposal), now=T0)
        again, created_again = repo.add(
            search_id, ArchitectureInput("k1", {"a": 2}, ProposalInfo("initial")), now=T0
        )
        elsewhere, created_elsewhere = repo.add(
            other, ArchitectureInput("k1", {"a": 1}, proposal), now=T0
        )
        twice = repo.add_many(
            search_id,
            [ArchitectureInput(k, {}, ProposalInfo("initial")) for k in ("k2", "k2", "k1")],
            now=T0,
        )
        assert created and not created_again and created_elsewhere
        assert again == first and again.arch == {"a": 1} and again.proposal == proposal
        assert elsewhere.id != first.id
        assert [c for _, c in twice] == [True, False, False]
        assert twice[0][0].id == twice[1][0].id
        assert repo.keys(search_id) == {"k1", "k2"} and repo.count(search_id) == 2
        assert repo.get_by_key(search_id, "k2") == twice[0][0]
        assert repo.get_by_key(search_id, "zz") is None
        with pytest.raises(NotFoundError):
            repo.add(4242, ArchitectureInput("k", {}, proposal), now=T0)
        with pytest.raises(NotFoundError):
            repo.get(4242)


def test_architecture_list_sorts_filters_paginates(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    means = [0.3, None, 0.9, 0.5, 0.1]
    items = [
        ArchitectureInput(f"k{i}", {"i": i}, ProposalInfo("bo" if m else "initial", m))
        for i, m in enumerate(means)
    ]
    with session_scope(engine) as s:
        ids = [r.id for r, _ in ArchitectureRepository(s).add_many(search_id, items, now=T0)]
        evals = EvaluationRepository(s)
        for arch_id, objective in [(ids[0], 0.6), (ids[2], 0.2), (ids[3], 0.8)]:
            evals.record(EvaluationInput(arch_id, {"acc": objective}, objective, "t"), now=T0)
        evals.record(EvaluationInput(ids[1], {"acc": 0.95}, 0.95, "t"), fidelity="low", now=T0)
    with session_scope(engine, read_only=True) as s:
        repo = ArchitectureRepository(s)
        best_first = repo.list(search_id, sort=ArchitectureSort.OBJECTIVE, descending=True)
        assert [v.architecture.id for v in best_first.items] == [
            ids[1],
            ids[3],
            ids[0],
            ids[2],
            ids[4],
        ]
        at_default = repo.list(
            search_id, sort=ArchitectureSort.OBJECTIVE, descending=True, fidelity="default"
        )
        assert [v.architecture.id for v in at_default.items] == [
            ids[3],
            ids[0],
            ids[2],
            ids[1],
            ids[4],
        ]
        ascending = repo.list(search_id, sort=ArchitectureSort.OBJECTIVE)
        assert [v.architecture.id for v in ascending.items][:2] == [ids[2], ids[0]]
        assert ascending.items[-1].architecture.id == ids[4]  # unevaluated sorts last

        by_mean = repo.list(search_id, sort=ArchitectureSort.PREDICTED_MEAN, descending=True)
        assert [v.architecture.id for v in by_mean.items] == [
            ids[2],
            ids[3],
            ids[0],
            ids[4],
            ids[1],
        ]

        pending = repo.list(search_id, evaluated=False)
        assert [v.architecture.id for v in pending.items] == [ids[4]]
        not_at_default = repo.list(search_id, evaluated=False, fidelity="default")
        assert {v.architecture.id for v in not_at_default.items} == {ids[1], ids[4]}
        assert repo.list(search_id, source="initial").total == 1

        page = repo.list(search_id, limit=2, offset=2)
        assert page.total == 5 and [v.architecture.id for v in page.items] == ids[2:4]
        view = page.items[1]
        assert view.objective() == 0.8 and view.evaluations[0].metrics == {"acc": 0.8}
        assert repo.list(search_id, limit=2, offset=10).items == ()
        assert [v.architecture.id for v in repo.views([ids[3], ids[0]])] == [ids[3], ids[0]]


def test_duplicate_evaluation_is_refused_and_transaction_survives(
    running: tuple[Engine, int],
) -> None:
    engine, search_id = running
    (arch_id,) = _archs(engine, search_id, 1)
    with session_scope(engine) as s:
        repo = EvaluationRepository(s)
        first = repo.record(EvaluationInput(arch_id, {"acc": 0.5}, 0.5, "t"), now=T0)
        with pytest.raises(DuplicateEvaluationError, match="already has an evaluation"):
            repo.record(EvaluationInput(arch_id, {"acc": 0.9}, 0.9, "t"), now=T0)
        other = repo.record(
            EvaluationInput(arch_id, {"acc": 0.7}, 0.7, "t"), fidelity="epochs=12", now=T0
        )
        assert other.fidelity == "epochs=12"
    with session_scope(engine) as s:
        repo = EvaluationRepository(s)
        assert repo.get(arch_id) == first
        assert repo.count(search_id) == 2 and repo.count(search_id, "default") == 1
        with pytest.raises(NotFoundError):
            repo.record(EvaluationInput(777, {}, None, "t"), now=T0)


def test_observations_and_best(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    arch_ids = _archs(engine, search_id, 4)
    with session_scope(engine) as s:
        repo = EvaluationRepository(s)
        assert repo.best(search_id, maximize=True) is None
        for arch_id, objective in zip(arch_ids, [0.4, 0.9, None, 0.1], strict=True):
            repo.record(EvaluationInput(arch_id, {}, objective, "t"), now=T0)
    with session_scope(engine) as s:
        repo = EvaluationRepository(s)
        observed = repo.observations(search_id)
        assert [o.architecture.id for o in observed] == arch_ids
        assert observed[1].evaluation.objective == 0.9 and observed[1].architecture.key == "a1"
        best = repo.best(search_id, maximize=True)
        worst = repo.best(search_id, maximize=False)
        assert best is not None and best.architecture.id == arch_ids[1]
        assert worst is not None and worst.architecture.id == arch_ids[3]
        assert repo.observations(search_id, fidelity="other") == ()


# -- the lease queue ------------------------------------------------------------------------------


def test_batch_create_validates(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    arch_ids = _archs(engine, search_id, 2)
    foreign = _archs(engine, _search(engine), 1, prefix="f")
    with session_scope(engine) as s:
        repo = BatchRepository(s)
        with pytest.raises(ValueError, match="at least one"):
            repo.create(search_id, [], now=T0)
        with pytest.raises(ValueError, match="repeats"):
            repo.create(search_id, [arch_ids[0], arch_ids[0]], now=T0)
        with pytest.raises(NotFoundError):
            repo.create(search_id, [arch_ids[0], foreign[0]], now=T0)
        batch = repo.create(search_id, arch_ids[::-1], now=T0, fidelity="f1", max_attempts=2)
        assert batch.member_ids == tuple(arch_ids[::-1]) and batch.state == BatchState.QUEUED
        assert repo.get(batch.id) == batch
        assert repo.in_flight_architecture_ids(search_id) == tuple(arch_ids[::-1])


def test_lease_takes_oldest_batch_of_running_searches_only(engine: Engine) -> None:
    paused = _search(engine, running=False)
    live = _search(engine)
    _batch(engine, paused, _archs(engine, paused, 1))
    first = _batch(engine, live, _archs(engine, live, 2))
    second = _batch(engine, live, _archs(engine, live, 1, prefix="b"))
    w1, w2, w3 = _worker(engine, "w1"), _worker(engine, "w2"), _worker(engine, "w3")
    lease1, lease2 = _lease(engine, w1), _lease(engine, w2)
    assert lease1 is not None and lease2 is not None
    assert (lease1.batch_id, lease2.batch_id) == (first, second)
    assert lease1.attempt == 1 and lease1.expires_at == T0 + timedelta(seconds=LEASE_S)
    assert [m.key for m in lease1.members] == ["a0", "a1"]
    assert lease1.members[1].arch == {"ops": [1]} and lease1.fidelity == "default"
    assert _lease(engine, w3) is None  # the paused search's batch waits
    with session_scope(engine) as s:
        w = WorkerRepository(s)
        assert w.get(w1).current_batch_id == first and w.get(w3).current_batch_id is None
        with pytest.raises(NotFoundError):
            BatchRepository(s).lease_next(999, lease_seconds=LEASE_S, now=T0)
        with pytest.raises(ValueError, match="lease_seconds"):
            BatchRepository(s).lease_next(w3, lease_seconds=0, now=T0)


def test_lease_goes_only_to_workers_that_run_the_evaluator(engine: Engine) -> None:
    def search(spec: dict[str, object]) -> int:
        with session_scope(engine) as s:
            repo = SearchRepository(s)
            search_id = repo.create(name="x", owner="o", spec=spec, space_spec={}, now=T0).id
            repo.transition(search_id, SearchState.RUNNING, now=T0)
        return search_id

    trains = search({"evaluator": {"kind": "weight_sharing"}})
    looks_up = search({"evaluator": {"kind": "table", "path": "t.csv"}})
    unnamed = search({})
    first = _batch(engine, trains, _archs(engine, trains, 1))
    second = _batch(engine, looks_up, _archs(engine, looks_up, 1))
    third = _batch(engine, unnamed, _archs(engine, unnamed, 1))

    def lease(worker: int, evaluators: list[str] | None) -> int | None:
        with session_scope(engine) as s:
            held = BatchRepository(s).lease_next(
                worker, lease_seconds=LEASE_S, now=T0, evaluators=evaluators
            )
        return None if held is None else held.batch_id

    table_only = _worker(engine, "cpu-box")
    assert lease(table_only, ["table"]) == second  # skips the older training batch
    assert lease(table_only, ["table"]) == second  # and keeps it: one lease per worker
    standalone_only = _worker(engine, "other")
    assert lease(standalone_only, ["standalone"]) == third  # a search naming no kind: anyone
    assert lease(_worker(engine, "idle"), ["standalone"]) is None
    assert lease(_worker(engine, "gpu-box"), ["weight_sharing", "table"]) == first


def test_a_report_keeps_its_report_id(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    batch_id = _batch(engine, search_id, _archs(engine, search_id, 2))
    lease = _lease(engine, _worker(engine))
    assert lease is not None and lease.batch_id == batch_id
    with session_scope(engine) as s:
        repo = BatchRepository(s)
        assert repo.get(batch_id).report_id is None
        outcome = repo.report(
            batch_id, lease.token, lease.attempt, _results(lease), now=T0, report_id="abc"
        )
        assert outcome.batch.report_id == "abc"
    with session_scope(engine) as s:
        assert BatchRepository(s).get(batch_id).report_id == "abc"


def test_lease_is_idempotent_per_worker(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    _batch(engine, search_id, _archs(engine, search_id, 1, prefix="b"))
    worker = _worker(engine)
    first = _lease(engine, worker)
    again = _lease(engine, worker, T0 + timedelta(seconds=10))
    assert first is not None and again == first
    with session_scope(engine) as s:
        assert len(BatchRepository(s).list(search_id, states=[BatchState.QUEUED])) == 1


def test_heartbeat_extends_and_reports_loss(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    worker = _worker(engine)
    lease = _lease(engine, worker)
    assert lease is not None
    t1 = T0 + timedelta(seconds=50)
    with session_scope(engine) as s:
        repo = BatchRepository(s)
        beat = repo.heartbeat(
            lease.batch_id, lease.token, 1, lease_seconds=LEASE_S, now=t1, progress={"step": 3}
        )
        assert beat.held and not beat.cancel and beat.reason is None
        assert beat.expires_at == t1 + timedelta(seconds=LEASE_S)
        batch = repo.get(lease.batch_id)
        assert batch.progress == {"step": 3} and batch.heartbeat_at == t1
        wrong = repo.heartbeat(lease.batch_id, "forged", 1, lease_seconds=LEASE_S, now=t1)
        assert not wrong.held and wrong.reason == LeaseRejection.NOT_HELD
        assert WorkerRepository(s).get(worker).last_seen_at == t1
    late = t1 + timedelta(seconds=LEASE_S)
    with session_scope(engine) as s:  # a lapsed lease of a search that is not running is lost
        SearchRepository(s).transition(search_id, SearchState.PAUSED, now=late)
        expired = BatchRepository(s).heartbeat(
            lease.batch_id, lease.token, 1, lease_seconds=LEASE_S, now=late
        )
        assert not expired.held and not expired.cancel
        assert expired.reason == LeaseRejection.EXPIRED


def test_report_stores_results_once(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    arch_ids = _archs(engine, search_id, 3)
    _batch(engine, search_id, arch_ids)
    worker = _worker(engine)
    lease = _lease(engine, worker)
    assert lease is not None
    t1 = T0 + timedelta(seconds=30)
    with session_scope(engine) as s:
        repo = BatchRepository(s)
        with pytest.raises(InvalidReportError, match="no result for members"):
            repo.report(lease.batch_id, lease.token, 1, _results(lease)[:2], now=t1)
        extra = [*_results(lease), EvaluationInput(999, {}, 0.1, "t")]
        with pytest.raises(InvalidReportError, match="not in the batch"):
            repo.report(lease.batch_id, lease.token, 1, extra, now=t1)
        outcome = repo.report(lease.batch_id, lease.token, 1, _results(lease)[::-1], now=t1)
    assert outcome.batch.state == BatchState.DONE and outcome.batch.finished_at == t1
    assert [e.architecture_id for e in outcome.evaluations] == arch_ids
    first = outcome.evaluations[0]
    assert (first.worker_id, first.batch_id, first.attempt) == (worker, lease.batch_id, 1)
    with pytest.raises(LeaseRejectedError) as caught, session_scope(engine) as s:
        BatchRepository(s).report(lease.batch_id, lease.token, 1, _results(lease), now=t1)
    assert caught.value.reason == LeaseRejection.ALREADY_REPORTED
    with session_scope(engine) as s:
        assert EvaluationRepository(s).count(search_id) == 3
        assert BatchRepository(s).in_flight_architecture_ids(search_id) == ()
    assert _lease(engine, worker, t1) is None  # done, and no lease is held any more


def test_report_refused_on_expired_lease(running: tuple[Engine, int]) -> None:
    """A lapsed lease is refused once its search no longer runs (here: paused)."""
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 2))
    lease = _lease(engine, _worker(engine))
    assert lease is not None
    late = lease.expires_at + timedelta(seconds=1)
    with session_scope(engine) as s:
        SearchRepository(s).transition(search_id, SearchState.PAUSED, now=late)
    with pytest.raises(LeaseRejectedError, match="expired") as caught, session_scope(engine) as s:
        BatchRepository(s).report(lease.batch_id, lease.token, 1, _results(lease), now=late)
    assert caught.value.reason == LeaseRejection.EXPIRED
    with session_scope(engine) as s:  # after the reaper has run, too
        BatchRepository(s).requeue_expired(now=late)
    with pytest.raises(LeaseRejectedError) as caught, session_scope(engine) as s:
        BatchRepository(s).report(lease.batch_id, lease.token, 1, _results(lease), now=late)
    assert caught.value.reason == LeaseRejection.EXPIRED
    with session_scope(engine) as s:
        assert EvaluationRepository(s).count(search_id) == 0


def test_report_refused_for_stale_attempt(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    slow, fast = _worker(engine, "slow"), _worker(engine, "fast")
    old = _lease(engine, slow)
    assert old is not None
    t1 = old.expires_at
    with session_scope(engine) as s:
        (reaped,) = BatchRepository(s).requeue_expired(now=t1)
    assert reaped.state == BatchState.QUEUED and "re-queued" in reaped.reason
    new = _lease(engine, fast, t1)
    assert new is not None and new.batch_id == old.batch_id and new.attempt == 2
    assert new.token != old.token
    with pytest.raises(LeaseRejectedError) as caught, session_scope(engine) as s:
        BatchRepository(s).report(old.batch_id, old.token, 1, _results(old), now=t1)
    assert caught.value.reason == LeaseRejection.STALE_ATTEMPT
    with pytest.raises(LeaseRejectedError) as caught, session_scope(engine) as s:
        BatchRepository(s).report(old.batch_id, old.token, 2, _results(old), now=t1)
    assert caught.value.reason == LeaseRejection.NOT_HELD
    _report(engine, new, t1)
    with session_scope(engine) as s:
        (evaluation,) = EvaluationRepository(s).observations(search_id)
        assert (evaluation.evaluation.worker_id, evaluation.evaluation.attempt) == (fast, 2)


def test_requeue_then_fail_after_max_attempts(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    batch_id = _batch(engine, search_id, _archs(engine, search_id, 1), max_attempts=2)
    worker = _worker(engine)
    now = T0
    for attempt in (1, 2):
        lease = _lease(engine, worker, now)
        assert lease is not None and lease.attempt == attempt
        with session_scope(engine) as s:
            repo = BatchRepository(s)
            assert repo.requeue_expired(now=now + timedelta(seconds=LEASE_S - 1)) == ()
            now = now + timedelta(seconds=LEASE_S)
            (outcome,) = repo.requeue_expired(now=now)
    assert outcome.state == BatchState.FAILED and "no attempts left" in outcome.reason
    with session_scope(engine) as s:
        batch = BatchRepository(s).get(batch_id)
        assert batch.state == BatchState.FAILED and batch.attempts == 2
        assert batch.finished_at == now and "attempt 2 of 2" in (batch.failure_reason or "")
    assert _lease(engine, worker, now) is None


def test_release_and_fail(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    batch_id = _batch(engine, search_id, _archs(engine, search_id, 1), max_attempts=3)
    worker = _worker(engine)
    lease = _lease(engine, worker)
    assert lease is not None
    with session_scope(engine) as s:
        released = BatchRepository(s).release(
            batch_id, lease.token, 1, now=T0, reason="shutting down"
        )
    assert released.state == BatchState.QUEUED and "shutting down" in (
        released.failure_reason or ""
    )
    with pytest.raises(LeaseRejectedError) as caught, session_scope(engine) as s:
        BatchRepository(s).report(batch_id, lease.token, 1, _results(lease), now=T0)
    assert caught.value.reason == LeaseRejection.NOT_HELD
    again = _lease(engine, worker)
    assert again is not None and again.attempt == 2
    with session_scope(engine) as s:
        failed = BatchRepository(s).fail(batch_id, again.token, 2, now=T0, reason="bad arch")
    assert failed.state == BatchState.FAILED and "bad arch" in (failed.failure_reason or "")
    with pytest.raises(LeaseRejectedError), session_scope(engine) as s:
        BatchRepository(s).release(batch_id, again.token, 2, now=T0, reason="x")


def test_graceful_release_does_not_use_up_an_attempt(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    batch_id = _batch(engine, search_id, _archs(engine, search_id, 1), max_attempts=1)
    worker = _worker(engine)
    for attempt in (1, 2, 3):  # a worker restarted three times: the batch stays queued
        lease = _lease(engine, worker)
        assert lease is not None and lease.attempt == attempt
        with session_scope(engine) as s:
            released = BatchRepository(s).release(
                batch_id, lease.token, attempt, now=T0, reason="shutdown", graceful=True
            )
        assert released.state == BatchState.QUEUED
    lease = _lease(engine, worker)
    assert lease is not None
    with session_scope(engine) as s:  # an error release does count: the allowance is spent
        failed = BatchRepository(s).release(batch_id, lease.token, 4, now=T0, reason="crash")
    assert failed.state == BatchState.FAILED


def test_cancel_tells_holders_to_stop(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    _batch(engine, search_id, _archs(engine, search_id, 1, prefix="b"))
    lease = _lease(engine, _worker(engine))
    assert lease is not None
    with session_scope(engine) as s:
        SearchRepository(s).transition(search_id, SearchState.CANCELLED, now=T0, reason="user")
        assert BatchRepository(s).cancel_search(search_id, now=T0, reason="search cancelled") == 2
    with session_scope(engine) as s:
        beat = BatchRepository(s).heartbeat(
            lease.batch_id, lease.token, 1, lease_seconds=LEASE_S, now=T0
        )
        assert beat.cancel and not beat.held and beat.reason == LeaseRejection.CANCELLED
        states = {b.state for b in BatchRepository(s).list(search_id)}
        assert states == {BatchState.CANCELLED}
    with pytest.raises(LeaseRejectedError) as caught, session_scope(engine) as s:
        BatchRepository(s).report(lease.batch_id, lease.token, 1, _results(lease), now=T0)
    assert caught.value.reason == LeaseRejection.CANCELLED


def test_heartbeat_says_cancel_when_only_the_search_was_cancelled(
    running: tuple[Engine, int],
) -> None:
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    lease = _lease(engine, _worker(engine))
    assert lease is not None
    with session_scope(engine) as s:
        SearchRepository(s).transition(search_id, SearchState.CANCELLED, now=T0)
        beat = BatchRepository(s).heartbeat(
            lease.batch_id, lease.token, 1, lease_seconds=LEASE_S, now=T0
        )
    assert beat.cancel and beat.reason == LeaseRejection.CANCELLED


# -- workers, snapshots, tokens, events -----------------------------------------------------------


def test_worker_registration_is_an_upsert(engine: Engine) -> None:
    t1 = T0 + timedelta(minutes=1)
    with session_scope(engine) as s:
        repo = WorkerRepository(s)
        first = repo.register("gpu-1", capabilities={"gpus": 1}, now=T0)
        again = repo.register("gpu-1", capabilities={"gpus": 2}, now=t1, token_hash="ab" * 32)
        other = repo.register("gpu-2", capabilities={}, now=T0)
        assert again.id == first.id and again.capabilities == {"gpus": 2}
        assert again.registered_at == T0 and again.last_seen_at == t1 and again.has_token
        assert repo.token_hash(first.id) == "ab" * 32 and not first.has_token
        repo.touch(other.id, now=t1 + timedelta(seconds=1))
        page = repo.list(limit=1)
        assert page.total == 2 and page.items[0].name == "gpu-2"
        assert repo.get_by_name("nope") is None
        with pytest.raises(NotFoundError):
            repo.get(999)


def test_surrogate_snapshots_are_versioned(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    with session_scope(engine) as s:
        repo = SurrogateSnapshotRepository(s)
        assert repo.latest(search_id) is None
        one = repo.add(
            search_id, model_state=b"\x00\x01", fit_metrics={"rmse": 0.1}, n_observations=10, now=T0
        )
        two = repo.add(
            search_id, model_state=b"\xff" * 1000, fit_metrics={}, n_observations=20, now=T0
        )
    assert (one.version, two.version) == (1, 2)
    with session_scope(engine) as s:
        repo = SurrogateSnapshotRepository(s)
        latest = repo.latest(search_id)
        assert latest is not None and latest.info == two and latest.model_state == b"\xff" * 1000
        assert repo.get(search_id, 1).model_state == b"\x00\x01"
        assert repo.list(search_id) == (one, two)
        with pytest.raises(NotFoundError):
            repo.get(search_id, 3)


def test_tokens_hash_verify_revoke(engine: Engine) -> None:
    with session_scope(engine) as s:
        repo = TokenRepository(s)
        admin, admin_secret = repo.create(role=Role.ADMIN, owner="root", now=T0)
        worker, worker_secret = repo.create(role=Role.WORKER, owner="farm", now=T0, label="w")
        stored = s.scalars(select(ApiTokenRow.token_hash)).all()
    assert admin_secret not in stored and hash_token(admin_secret) in stored
    assert admin_secret != worker_secret and admin_secret.startswith(admin.prefix)
    with session_scope(engine) as s:
        repo = TokenRepository(s)
        found = repo.verify(worker_secret)
        assert found == worker and found.role == Role.WORKER and found.label == "w"
        assert repo.verify(admin_secret + "x") is None
        revoked = repo.revoke(admin.id, now=T0)
        assert revoked.revoked and repo.revoke(admin.id, now=T0 + timedelta(1)).revoked_at == T0
        assert repo.verify(admin_secret) is None
        assert repo.list() == (worker,)
        assert len(repo.list(include_revoked=True)) == 2
        assert repo.list(owner="root") == ()


def test_event_cursor(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    ids = []
    for i in range(5):  # separate transactions, as the service appends them
        with session_scope(engine) as s:
            event = EventRepository(s).append(
                "batch_done", {"i": i}, now=T0, search_id=search_id if i % 2 == 0 else None
            )
            ids.append(event.id)
    assert ids == sorted(ids) and len(set(ids)) == 5
    with session_scope(engine, read_only=True) as s:
        repo = EventRepository(s)
        assert [e.id for e in repo.list_after(0)] == ids
        assert [e.payload["i"] for e in repo.list_after(ids[1], limit=2)] == [2, 3]
        assert [e.id for e in repo.list_after(0, search_id=search_id)] == ids[::2]
        assert repo.list_after(ids[-1]) == () and repo.last_id() == ids[-1]
        with pytest.raises(ValueError, match="limit"):
            repo.list_after(0, limit=5000)
    with session_scope(engine) as s:  # ids are never reused, even after the newest is deleted
        s.execute(text(f"DELETE FROM events WHERE id = {ids[-1]}"))
    with session_scope(engine) as s:
        assert EventRepository(s).append("x", {}, now=T0).id > ids[-1]


# -- worker scoping, outages and late leases (issue #10) ----------------------------------------


def _lease_serving(engine: Engine, worker_id: int, serving: str | None) -> Lease | None:
    with session_scope(engine) as s:
        return BatchRepository(s).lease_next(
            worker_id, lease_seconds=LEASE_S, now=T0, serving=serving
        )


def test_lease_next_serves_only_the_token_owner_and_granted_pools(engine: Engine) -> None:
    alice = _search(engine, owner="alice")
    _batch(engine, alice, _archs(engine, alice, 1))
    bobs_worker, farm_worker, alices_worker = (_worker(engine, n) for n in ("b", "f", "a"))
    assert _lease_serving(engine, bobs_worker, "bob") is None  # alice's batch is not bob's
    assert _lease_serving(engine, farm_worker, "gpu-farm") is None  # pool not granted yet
    with session_scope(engine) as s:
        pools = PoolRepository(s)
        pools.grant("gpu-farm", "alice", now=T0)
        assert pools.grant("gpu-farm", "alice", now=T0 + timedelta(1)).granted_at == T0
        assert pools.serves("gpu-farm", "alice") and not pools.serves("gpu-farm", "bob")
        assert pools.serves("bob", "bob")
    leased = _lease_serving(engine, farm_worker, "gpu-farm")
    assert leased is not None and leased.search_id == alice
    _batch(engine, alice, _archs(engine, alice, 1, prefix="b"))
    with session_scope(engine) as s:
        assert PoolRepository(s).revoke("gpu-farm", "alice")
        assert not PoolRepository(s).revoke("gpu-farm", "alice")
        assert PoolRepository(s).list() == ()
    assert _lease_serving(engine, bobs_worker, "bob") is None
    own = _lease_serving(engine, alices_worker, "alice")
    assert own is not None and own.batch_id != leased.batch_id
    with session_scope(engine) as s, pytest.raises(ValueError, match="pool name"):
        PoolRepository(s).grant("", "alice", now=T0)


def test_late_heartbeat_and_report_on_a_lease_nobody_took_over_are_accepted(
    running: tuple[Engine, int],
) -> None:
    """An outage longer than the lease neither loses the work nor charges an attempt."""
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 2))
    lease = _lease(engine, _worker(engine))
    assert lease is not None
    late = lease.expires_at + timedelta(seconds=5)
    with session_scope(engine) as s:  # expired, not yet reaped: the heartbeat revives it
        beat = BatchRepository(s).heartbeat(
            lease.batch_id, lease.token, 1, lease_seconds=LEASE_S, now=late
        )
        assert beat.held and beat.expires_at == late + timedelta(seconds=LEASE_S)
    later = late + timedelta(seconds=LEASE_S + 1)
    with session_scope(engine) as s:  # expired again and re-queued by the reaper
        (outcome,) = BatchRepository(s).requeue_expired(now=later)
        assert outcome.state == BatchState.QUEUED
    with session_scope(engine) as s:  # still nobody else's: the late report is accepted
        stored = BatchRepository(s).report(
            lease.batch_id, lease.token, 1, _results(lease), now=later, report_id="r1"
        )
        assert stored.batch.state == BatchState.DONE and stored.batch.attempts == 1
        assert len(stored.evaluations) == 2 and not stored.duplicate
    with session_scope(engine) as s:
        assert EvaluationRepository(s).count(search_id) == 2
        again = BatchRepository(s).report(
            lease.batch_id, lease.token, 1, _results(lease), now=later, report_id="r1"
        )
        assert again.duplicate and again.evaluations == ()
        with pytest.raises(LeaseRejectedError) as caught:
            BatchRepository(s).report(
                lease.batch_id, lease.token, 1, _results(lease), now=later, report_id="r2"
            )
        assert caught.value.reason == LeaseRejection.ALREADY_REPORTED
        assert EvaluationRepository(s).count(search_id) == 2


def test_late_report_after_the_batch_was_leased_again_is_refused(
    running: tuple[Engine, int],
) -> None:
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    first = _lease(engine, _worker(engine, "slow"))
    assert first is not None
    late = first.expires_at + timedelta(seconds=1)
    with session_scope(engine) as s:
        BatchRepository(s).requeue_expired(now=late)
    second = _lease(engine, _worker(engine, "fast"), now=late)
    assert second is not None and second.attempt == 2
    with session_scope(engine) as s:
        beat = BatchRepository(s).heartbeat(
            first.batch_id, first.token, 1, lease_seconds=LEASE_S, now=late
        )
        assert not beat.held and beat.reason == LeaseRejection.STALE_ATTEMPT
    with pytest.raises(LeaseRejectedError) as caught, session_scope(engine) as s:
        BatchRepository(s).report(first.batch_id, first.token, 1, _results(first), now=late)
    assert caught.value.reason == LeaseRejection.STALE_ATTEMPT
    _report(engine, second, late)
    with session_scope(engine) as s:
        assert EvaluationRepository(s).count(search_id) == 1


def test_a_released_batch_is_not_revived(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    lease = _lease(engine, _worker(engine))
    assert lease is not None
    with session_scope(engine) as s:
        BatchRepository(s).release(lease.batch_id, lease.token, 1, now=T0, reason="error: x")
    with pytest.raises(LeaseRejectedError) as caught, session_scope(engine) as s:
        BatchRepository(s).report(lease.batch_id, lease.token, 1, _results(lease), now=T0)
    assert caught.value.reason == LeaseRejection.NOT_HELD


def test_reaper_extends_leases_by_an_outage_gap_and_still_reaps_dead_workers(
    running: tuple[Engine, int],
) -> None:
    engine, search_id = running
    batch_id = _batch(engine, search_id, _archs(engine, search_id, 1))
    lease = _lease(engine, _worker(engine))  # expires at T0 + 60 s
    assert lease is not None
    swept = T0 + timedelta(seconds=10)
    back = T0 + timedelta(seconds=200)  # no sweep for 190 s: the database was unreachable
    with session_scope(engine) as s:
        assert BatchRepository(s).requeue_expired(now=back, previous_sweep=swept) == ()
        extended = BatchRepository(s).get(batch_id)
        assert extended.state == BatchState.LEASED
        assert extended.lease_expires_at == lease.expires_at + (back - swept)
    dead = T0 + timedelta(seconds=251)  # the worker never came back: reaped, as usual
    with session_scope(engine) as s:
        (outcome,) = BatchRepository(s).requeue_expired(
            now=dead, previous_sweep=dead - timedelta(seconds=5)
        )
        assert outcome.batch_id == batch_id and outcome.state == BatchState.QUEUED


def test_a_short_gap_between_sweeps_extends_nothing(running: tuple[Engine, int]) -> None:
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    lease = _lease(engine, _worker(engine))
    assert lease is not None
    now = lease.expires_at + timedelta(seconds=1)
    with session_scope(engine) as s:
        (outcome,) = BatchRepository(s).requeue_expired(
            now=now, previous_sweep=now - timedelta(seconds=LEASE_S / 2)
        )
        assert outcome.state == BatchState.QUEUED


def test_resume_leases_gives_every_lease_a_full_length_from_now(
    running: tuple[Engine, int],
) -> None:
    """At controller start: workers could not heartbeat while it was down."""
    engine, search_id = running
    batch_id = _batch(engine, search_id, _archs(engine, search_id, 1))
    assert _lease(engine, _worker(engine)) is not None
    restart = T0 + timedelta(seconds=500)
    with session_scope(engine) as s:
        assert BatchRepository(s).resume_leases(now=restart, lease_seconds=LEASE_S) == 1
        assert BatchRepository(s).requeue_expired(now=restart) == ()
        resumed = BatchRepository(s).get(batch_id)
        assert resumed.lease_expires_at == restart + timedelta(seconds=LEASE_S)
        assert BatchRepository(s).resume_leases(now=restart, lease_seconds=LEASE_S) == 0
    with session_scope(engine) as s:  # a dead worker's batch is re-queued a lease later
        (outcome,) = BatchRepository(s).requeue_expired(now=restart + timedelta(seconds=LEASE_S))
        assert outcome.state == BatchState.QUEUED


def test_a_read_only_database_is_the_stores_condition(running: tuple[Engine, int]) -> None:
    """Writes on a read-only database raise StoreUnavailableError (503), not a plain error."""
    engine, search_id = running
    _batch(engine, search_id, _archs(engine, search_id, 1))
    worker = _worker(engine)
    switch = ReadOnlySwitch(engine)
    switch.on()
    try:
        with pytest.raises(StoreUnavailableError, match="read-only") as caught:
            _lease(engine, worker)
        assert caught.value.reason == StoreUnavailableError.OUTAGE
        with session_scope(engine, read_only=True) as s:  # reads still work
            assert BatchRepository(s).list(search_id)[0].state == BatchState.QUEUED
    finally:
        switch.off()
    assert _lease(engine, worker) is not None
