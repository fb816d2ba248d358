"""Plain explanations of why a search is not making progress (or why it stopped).

A dashboard that shows a flat line is useless unless it says why. The rules below look at what
the store knows (the search's state and budget, its queued and leased batches with their lease
expiry, and the registered workers with their last-seen times) and say, in words, what is going
on and what to do: no worker registered, every worker stale, every lease expired, no live
worker able to run the search's evaluator, budget reached, paused, waiting for the controller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Level = Literal["info", "warning", "error"]

START_GRACE_SECONDS = 30.0
"""How long a created search may wait for the controller before it is called stuck."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One explanation.

    Attributes:
        level: ``info`` (all is as expected), ``warning`` (progress is held up),
            ``error`` (nothing will happen until someone acts).
        code: A stable word for tests and styling (``no_workers``, ``leases_expired``...).
        title: One line.
        detail: What it means and what to do.
    """

    level: Level
    code: str
    title: str
    detail: str


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    """What the rules need to know about a worker."""

    id: int
    name: str
    stale: bool
    seen_seconds_ago: float
    busy: bool
    evaluators: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class LeaseFacts:
    """A leased batch: who holds it and until when."""

    batch_id: int
    worker_name: str | None
    expires_at: datetime | None
    attempts: int
    max_attempts: int


@dataclass(frozen=True, slots=True)
class SearchFacts:
    """What the rules need to know about a search."""

    state: str
    finished_reason: str | None
    created_at: datetime
    evaluator: str
    done: int
    budget_evaluations: int | None
    queued_batches: int
    leases: tuple[LeaseFacts, ...] = field(default_factory=tuple)


def worker_notices(workers: Sequence[WorkerFacts], stale_seconds: float) -> list[Notice]:
    """Notices about the worker pool as a whole (shown above the search list)."""
    if not workers:
        return [_no_workers()]
    if all(w.stale for w in workers):
        return [_all_stale(workers, stale_seconds)]
    return []


def search_notices(
    search: SearchFacts, workers: Sequence[WorkerFacts], stale_seconds: float, now: datetime
) -> list[Notice]:
    """Why `search` is or is not moving, most important first."""
    state = search.state
    if state == "completed":
        return [Notice("info", "completed", "Completed", search.finished_reason or "finished")]
    if state == "cancelled":
        return [Notice("info", "cancelled", "Cancelled", search.finished_reason or "cancelled")]
    if state == "failed":
        return [Notice("error", "failed", "Failed", search.finished_reason or "no reason given")]
    if state == "paused":
        return [
            Notice(
                "info",
                "paused",
                "Paused",
                "No batch is handed out while the search is paused; batches already leased "
                "finish and are stored. Resume it to continue.",
            )
        ]
    if state == "created":
        return [_not_started(search, now)]
    return _running(search, workers, stale_seconds, now)


def _running(
    search: SearchFacts, workers: Sequence[WorkerFacts], stale_seconds: float, now: datetime
) -> list[Notice]:
    notices: list[Notice] = []
    budget = search.budget_evaluations
    if budget is not None and search.done >= budget:
        notices.append(
            Notice(
                "info",
                "budget_reached",
                "Budget reached",
                f"{search.done} of {budget} evaluations are in; the controller is closing the "
                "search.",
            )
        )
        return notices
    expired = [
        lease for lease in search.leases if lease.expires_at is not None and lease.expires_at <= now
    ]
    if search.leases and len(expired) == len(search.leases):
        notices.append(_leases_expired(expired, now))
    if not workers:
        notices.append(_no_workers())
    elif all(w.stale for w in workers):
        notices.append(_all_stale(workers, stale_seconds))
    elif search.queued_batches:
        notices.extend(_queued(search, workers))
    if not search.leases and not search.queued_batches:
        notices.append(
            Notice(
                "info",
                "proposing",
                "Proposing the next batch",
                "No batch is queued or leased: the controller is refitting the surrogate and "
                "choosing the next architectures.",
            )
        )
    return notices


def _queued(search: SearchFacts, workers: Sequence[WorkerFacts]) -> list[Notice]:
    live = [w for w in workers if not w.stale]
    capable = [w for w in live if w.evaluators is None or search.evaluator in w.evaluators]
    batches = _plural(search.queued_batches, "batch", "batches")
    if not capable:
        names = ", ".join(w.name for w in live)
        return [
            Notice(
                "error",
                "no_capable_worker",
                f"No live worker runs {search.evaluator!r} evaluations",
                f"{batches} wait, but the live workers ({names}) do not offer the "
                f"{search.evaluator!r} evaluator. Start a worker that does.",
            )
        ]
    if all(w.busy for w in capable):
        return [
            Notice(
                "info",
                "workers_busy",
                "Waiting for a free worker",
                f"{batches} wait; every live worker is busy with a batch. "
                "More workers would evaluate them sooner.",
            )
        ]
    return []


def _no_workers() -> Notice:
    return Notice(
        "error",
        "no_workers",
        "No worker has registered",
        "Nothing evaluates the batches. Start a worker with a worker token: "
        "`BONAS_WORKER_TOKEN=... bonas worker --server <this service's URL>`.",
    )


def _all_stale(workers: Sequence[WorkerFacts], stale_seconds: float) -> Notice:
    freshest = min(workers, key=lambda w: w.seen_seconds_ago)
    count = _plural(len(workers), "registered worker", "registered workers")
    return Notice(
        "error",
        "all_workers_stale",
        "Every worker is stale",
        f"None of the {count} has been seen in the last {_duration(stale_seconds)} "
        f"(the most recent, {freshest.name}, {_duration(freshest.seen_seconds_ago)} ago). "
        "They have probably stopped or lost the network; restart them.",
    )


def _leases_expired(expired: Sequence[LeaseFacts], now: datetime) -> Notice:
    parts = []
    for lease in expired:
        assert lease.expires_at is not None
        ago = _duration((now - lease.expires_at).total_seconds())
        holder = lease.worker_name or "a worker"
        parts.append(
            f"batch {lease.batch_id} ({holder}, attempt {lease.attempts} of "
            f"{lease.max_attempts}, expired {ago} ago)"
        )
    return Notice(
        "warning",
        "leases_expired",
        "Every lease has expired",
        "The workers holding this search's batches stopped sending heartbeats: "
        + "; ".join(parts)
        + ". The reaper re-queues each one for another attempt, or fails it when its attempts "
        "are used up.",
    )


def _not_started(search: SearchFacts, now: datetime) -> Notice:
    waited = (now - search.created_at).total_seconds()
    if waited < START_GRACE_SECONDS:
        return Notice(
            "info", "starting", "Starting", "The controller is proposing the first batch."
        )
    return Notice(
        "warning",
        "not_started",
        "Not started",
        f"The search was created {_duration(waited)} ago and the controller has not started "
        "it. Is the service running its controller loop (`bonas serve`)?",
    )


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
