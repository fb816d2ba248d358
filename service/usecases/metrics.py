"""What the Prometheus endpoint reports about the store: searches, batches, evaluations, workers.

Counted here, over a caller's session and time, so that `service.api.metrics` only renders the
figures in the exposition format. The figures cover every user's searches; the route is for
admin tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from service.states import BatchState, SearchState
from service.store import SearchRepository, WorkerRepository

PAGE = 1000
"""Rows read per query while counting."""


@dataclass(frozen=True)
class StoreGauges:
    """Counts of what the store holds at one moment.

    Attributes:
        searches: Searches by state (every state present, zero when none).
        batches: Batches by state (every state present).
        evaluations: Stored evaluation results.
        workers: Registered workers by whether they are stale (``True``) or not.
    """

    searches: dict[SearchState, int]
    batches: dict[BatchState, int]
    evaluations: int
    workers: dict[bool, int]


def store_gauges(session: Session, now: datetime, *, stale_seconds: float) -> StoreGauges:
    """Count searches, batches, evaluations and workers (a worker is stale when unseen for more
    than `stale_seconds` at `now`)."""
    searches: dict[SearchState, int] = dict.fromkeys(SearchState, 0)
    batches: dict[BatchState, int] = dict.fromkeys(BatchState, 0)
    evaluations = 0
    repository = SearchRepository(session)
    offset = 0
    while True:
        page = repository.list(limit=PAGE, offset=offset)
        for search in page.items:
            searches[search.state] += 1
            counts = repository.counts(search.id)
            evaluations += counts.evaluations
            for state, n in counts.batches.items():
                batches[state] += n
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    workers = {False: 0, True: 0}
    offset = 0
    while True:
        found = WorkerRepository(session).list(limit=PAGE, offset=offset)
        for worker in found.items:
            workers[(now - worker.last_seen_at).total_seconds() > stale_seconds] += 1
        offset += len(found.items)
        if not found.items or offset >= found.total:
            break
    return StoreGauges(searches, batches, evaluations, workers)
