"""Many workers leasing at once, each on its own connection: no batch is ever handed out twice.

PostgreSQL runs 32 worker threads (``FOR UPDATE SKIP LOCKED``); SQLite runs 8 (the immediate write
lock serialises them). A second test checks that concurrent event appends never let a cursor poller
skip an event.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    BatchRepository,
    BatchState,
    EvaluationInput,
    EvaluationRepository,
    EventRepository,
    ProposalInfo,
    SearchRepository,
    SearchState,
    WorkerRepository,
    make_engine,
    session_scope,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)
THREADS = {"sqlite": 8, "postgresql": 32}
BATCHES_PER_THREAD = 3


def _queue(engine: Engine, n_batches: int) -> None:
    with session_scope(engine) as s:
        search = SearchRepository(s).create(name="load", owner="t", spec={}, space_spec={}, now=T0)
        SearchRepository(s).transition(search.id, SearchState.RUNNING, now=T0)
        items = [ArchitectureInput(f"k{i}", {}, ProposalInfo("initial")) for i in range(n_batches)]
        added = ArchitectureRepository(s).add_many(search.id, items, now=T0)
        batches = BatchRepository(s)
        for record, _ in added:
            batches.create(search.id, [record.id], now=T0)


@pytest.mark.slow
def test_no_batch_is_leased_twice(backend: str, migrated_url: str) -> None:
    n_threads = THREADS[backend]
    n_batches = n_threads * BATCHES_PER_THREAD
    engine = make_engine(migrated_url, pool_size=n_threads, max_overflow=8)
    try:
        _queue(engine, n_batches)
        with session_scope(engine) as s:
            workers = [
                WorkerRepository(s).register(f"w{i}", capabilities={}, now=T0).id
                for i in range(n_threads)
            ]
        leased: list[tuple[int, int, int]] = []  # (batch, worker, attempt)
        errors: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(n_threads)

        def work(worker_id: int) -> None:
            try:
                start.wait()
                now = T0
                while True:
                    now += timedelta(milliseconds=1)
                    with session_scope(engine) as s:
                        lease = BatchRepository(s).lease_next(worker_id, lease_seconds=600, now=now)
                    if lease is None:
                        return
                    with lock:
                        leased.append((lease.batch_id, worker_id, lease.attempt))
                    results = [
                        EvaluationInput(m.architecture_id, {"w": worker_id}, 0.5, "fake")
                        for m in lease.members
                    ]
                    with session_scope(engine) as s:
                        BatchRepository(s).report(
                            lease.batch_id, lease.token, lease.attempt, results, now=now
                        )
            except BaseException as exc:
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.perf_counter() - began

        assert not errors, errors[:3]
        counts = Counter(batch for batch, _, _ in leased)
        assert sorted(counts) == sorted(set(counts)) and len(counts) == n_batches
        assert max(counts.values()) == 1, "a batch was leased twice"
        assert {attempt for _, _, attempt in leased} == {1}
        with session_scope(engine, read_only=True) as s:
            (search,) = SearchRepository(s).list().items
            states = {b.state for b in BatchRepository(s).list(search.id)}
            assert states == {BatchState.DONE}
            assert EvaluationRepository(s).count(search.id) == n_batches
        rate = 2 * n_batches / elapsed
        print(
            f"{backend}: {n_threads} workers, {n_batches} lease+report cycles, {rate:.0f} calls/s"
        )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_event_cursor_never_skips_under_concurrent_appends(backend: str, migrated_url: str) -> None:
    n_writers, per_writer = 8, 10
    engine = make_engine(migrated_url, pool_size=n_writers + 2)
    try:
        done = threading.Event()
        errors: list[BaseException] = []
        seen: list[int] = []

        def write(index: int) -> None:
            try:
                for i in range(per_writer):
                    with session_scope(engine) as s:
                        EventRepository(s).append("tick", {"w": index, "i": i}, now=T0)
                        time.sleep(0.002 * ((index + i) % 3))  # commit at uneven delays
            except BaseException as exc:
                errors.append(exc)

        def poll() -> None:
            cursor = 0
            while True:
                finished = done.is_set()
                with session_scope(engine, read_only=True) as s:
                    events = EventRepository(s).list_after(cursor, limit=1000)
                seen.extend(e.id for e in events)
                if events:
                    cursor = events[-1].id
                elif finished:
                    return
                time.sleep(0.001)

        writers = [threading.Thread(target=write, args=(i,)) for i in range(n_writers)]
        poller = threading.Thread(target=poll)
        poller.start()
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=60)
        done.set()
        poller.join(timeout=60)

        assert not errors, errors[:3]
        with session_scope(engine, read_only=True) as s:
            every = [e.id for e in EventRepository(s).list_after(0, limit=1000)]
        assert len(every) == n_writers * per_writer
        assert seen == every, "the cursor poller skipped or repeated an event"
    finally:
        engine.dispose()
