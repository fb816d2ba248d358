"""Names of the events in the store's log, shared by the controller and the API routers.

Every state change of a search or batch appends one event (`EventRepository.append`, as the last
write of the transaction that made the change), so a polling client that reads
``/events?after=N`` sees a search's whole history in order. Payloads are small JSON objects; the
keys each kind carries are listed beside it.
"""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    """Kinds of events; the payload keys of each are given in its comment."""

    SEARCH_CREATED = "search.created"  # name, owner
    SEARCH_STARTED = "search.started"  # (none)
    SEARCH_PAUSED = "search.paused"  # (none)
    SEARCH_RESUMED = "search.resumed"  # (none)
    SEARCH_CANCELLED = "search.cancelled"  # reason, batches_cancelled
    SEARCH_COMPLETED = "search.completed"  # reason, evaluations, batches_cancelled
    SEARCH_FAILED = "search.failed"  # reason
    BATCH_PROPOSED = "batch.proposed"  # batch_id, size, keys, surrogate_version, seconds
    BATCH_LEASED = "batch.leased"  # batch_id, worker_id, attempt
    BATCH_REPORTED = "batch.reported"  # batch_id, worker_id, attempt, stored
    BATCH_RELEASED = "batch.released"  # batch_id, worker_id, attempt, reason, state
    BATCH_REQUEUED = "batch.requeued"  # batch_id, reason (the reaper re-queued an expired lease)
    BATCH_FAILED = "batch.failed"  # batch_id, reason
    SURROGATE_FITTED = "surrogate.fitted"  # version, n_observations, fit metrics
