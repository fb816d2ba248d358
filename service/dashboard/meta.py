"""What the page learns once, at sign-in: the event kinds and the panels each one refreshes.

The page follows the service by polling the event log; for each event about the search on
screen it refetches the panels that `REFRESHES` names for the event's kind, so the page holds no
list of kinds of its own and a kind added to `service.events.EventKind` reaches it from here.
"""

from __future__ import annotations

from service.dashboard.schemas import EventKindOut, MetaOut
from service.events import EventKind

_RESULTS = ("series", "top", "tradeoff", "pareto", "surrogate", "batches")
_BATCHES = ("batches",)

REFRESHES: dict[EventKind, tuple[str, ...]] = {
    EventKind.SEARCH_CREATED: (),
    EventKind.SEARCH_STARTED: (),
    EventKind.SEARCH_PAUSED: (),
    EventKind.SEARCH_RESUMED: (),
    EventKind.SEARCH_CANCELLED: _BATCHES,
    EventKind.SEARCH_COMPLETED: _BATCHES,
    EventKind.SEARCH_FAILED: _BATCHES,
    EventKind.BATCH_PROPOSED: _BATCHES,
    EventKind.BATCH_LEASED: _BATCHES,
    EventKind.BATCH_REPORTED: _RESULTS,
    EventKind.BATCH_RELEASED: _BATCHES,
    EventKind.BATCH_REQUEUED: _BATCHES,
    EventKind.BATCH_FAILED: _BATCHES,
    EventKind.SURROGATE_FITTED: ("surrogate",),
}
"""The panels an event of each kind makes stale (the summary is read again after any event).

A report adds results (every chart, the Pareto front and its hypervolume among them) and frees
a batch; a fit adds a surrogate version; every
other change of a batch, and the end of a search (which cancels its batches), moves the batches
in flight."""


def meta_out() -> MetaOut:
    """Every event kind with its label and the panels it refreshes."""
    return MetaOut(
        event_kinds=[
            EventKindOut(kind=kind.value, label=kind.label, refreshes=list(REFRESHES[kind]))
            for kind in EventKind
        ]
    )
