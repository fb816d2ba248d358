"""The dashboard's plain explanations of why a search is (not) moving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.dashboard.diagnostics import (
    LeaseFacts,
    SearchFacts,
    WorkerFacts,
    search_notices,
    worker_notices,
)

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
STALE = 120.0


def worker(
    name: str = "w1",
    *,
    stale: bool = False,
    busy: bool = False,
    seen: float = 3.0,
    evaluators: tuple[str, ...] | None = ("table",),
) -> WorkerFacts:
    return WorkerFacts(1, name, stale, seen, busy, evaluators)


def search(state: str = "running", **overrides: object) -> SearchFacts:
    fields: dict[str, object] = {
        "state": state,
        "finished_reason": None,
        "created_at": NOW - timedelta(minutes=5),
        "evaluator": "table",
        "done": 10,
        "budget_evaluations": 100,
        "queued_batches": 0,
        "leases": (),
    }
    fields.update(overrides)
    return SearchFacts(**fields)  # type: ignore[arg-type]


def codes(facts: SearchFacts, workers: list[WorkerFacts]) -> list[str]:
    return [n.code for n in search_notices(facts, workers, STALE, NOW)]


def test_no_worker_registered() -> None:
    assert codes(search(queued_batches=1), []) == ["no_workers"]
    (notice,) = worker_notices([], STALE)
    assert notice.level == "error"
    assert "bonas worker" in notice.detail


def test_every_worker_stale() -> None:
    workers = [worker("a", stale=True, seen=300), worker("b", stale=True, seen=75)]
    assert codes(search(queued_batches=1), workers) == ["all_workers_stale"]
    (notice,) = worker_notices(workers, STALE)
    assert "the most recent, b, 75 s ago" in notice.detail
    assert worker_notices([worker("a", stale=True), worker("b")], STALE) == []


def test_every_lease_expired() -> None:
    leases = (LeaseFacts(7, "gpu-0", NOW - timedelta(seconds=40), 2, 3),)
    notices = search_notices(search(leases=leases), [worker(busy=True)], STALE, NOW)
    assert notices[0].code == "leases_expired"
    assert "batch 7 (gpu-0, attempt 2 of 3, expired 40 s ago)" in notices[0].detail
    live = (LeaseFacts(8, "gpu-1", NOW + timedelta(seconds=40), 1, 3),)
    assert codes(search(leases=leases + live), [worker(busy=True)]) == []


def test_budget_reached_paused_finished_and_not_started() -> None:
    assert codes(search(done=100), [worker()]) == ["budget_reached"]
    assert codes(search("paused"), []) == ["paused"]
    done = search_notices(search("completed", finished_reason="budget reached"), [], STALE, NOW)
    assert (done[0].code, done[0].detail) == ("completed", "budget reached")
    assert codes(search("failed", finished_reason="boom"), []) == ["failed"]
    assert codes(search("cancelled"), []) == ["cancelled"]
    assert codes(search("created", created_at=NOW - timedelta(seconds=5)), []) == ["starting"]
    assert codes(search("created"), []) == ["not_started"]


def test_queued_batches_without_a_worker_that_can_run_them() -> None:
    trainer = worker(evaluators=("weight_sharing",))
    notices = search_notices(search(queued_batches=2), [trainer], STALE, NOW)
    assert [n.code for n in notices] == ["no_capable_worker"]
    assert "2 batches wait" in notices[0].detail
    assert codes(search(queued_batches=1), [worker(busy=True)]) == ["workers_busy"]
    assert codes(search(queued_batches=1), [worker()]) == []  # an idle worker will take it
    assert codes(search(queued_batches=1), [worker(evaluators=None)]) == []  # unknown: assume yes


def test_nothing_queued_or_leased_means_the_controller_is_proposing() -> None:
    assert codes(search(), [worker()]) == ["proposing"]
