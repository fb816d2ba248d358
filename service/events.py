"""The event log's vocabulary: every kind of event and the exact payload each one carries.

Every state change of a search or batch appends one event (as the last write of the transaction
that made the change, see `service.store.repositories.events`), so a client polling
``/api/v1/events?after=N`` sees a search's whole history in order. This module is the one place
that says what an event of each kind holds, for both sides of the log:

* writers (the controller, the use cases, the routers) build a payload object, e.g.
  ``BatchReported(batch_id=..., worker_id=..., attempt=..., stored=...)``, and append it with
  `EventRepository.append_payload`, which takes the kind from the class. The classes are frozen
  pydantic models that forbid unknown keys, so a writer cannot store a misspelt or missing key;
* readers (the dashboard) turn a stored row back into an object with `parse_event`.

It imports nothing from the rest of the service (no store, API, controller or dashboard), so every
layer can depend on it.

Reading old rows: stored events outlive the code that wrote them, so `parse_event` never raises.
Unknown keys of a known kind are dropped; keys that an older writer did not write are filled from
the class's `READ_DEFAULTS` (documented on each class); a kind this code does not know, or a row
that still does not fit its class, comes back as an `UnknownEvent` carrying the raw dict.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

logger = logging.getLogger(__name__)


class EventKind(enum.StrEnum):
    """Kinds of events; each has one payload class below (`PAYLOAD_CLASSES`)."""

    SEARCH_CREATED = "search.created"
    SEARCH_STARTED = "search.started"
    SEARCH_PAUSED = "search.paused"
    SEARCH_RESUMED = "search.resumed"
    SEARCH_CANCELLED = "search.cancelled"
    SEARCH_COMPLETED = "search.completed"
    SEARCH_FAILED = "search.failed"
    BATCH_PROPOSED = "batch.proposed"
    BATCH_LEASED = "batch.leased"
    BATCH_REPORTED = "batch.reported"
    BATCH_RELEASED = "batch.released"
    BATCH_REQUEUED = "batch.requeued"
    BATCH_FAILED = "batch.failed"
    SURROGATE_FITTED = "surrogate.fitted"

    @property
    def label(self) -> str:
        """A short phrase for people: ``batch.reported`` -> ``batch reported``."""
        return self.value.replace(".", " ")


class EventPayload(BaseModel):
    """Base of the payload classes: frozen, no keys beyond the declared ones.

    Attributes:
        KIND: The event kind this class is the payload of.
        READ_DEFAULTS: Values `parse_event` uses for keys that rows written by older code lack
            (writers must always give every field).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    KIND: ClassVar[EventKind]
    READ_DEFAULTS: ClassVar[Mapping[str, Any]] = {}

    @property
    def kind(self) -> EventKind:
        return self.KIND

    def to_json(self) -> dict[str, Any]:
        """The payload as stored in the log (a JSON object)."""
        return self.model_dump(mode="json")


# --- searches ---------------------------------------------------------------------------------


class SearchCreated(EventPayload):
    """A search was submitted (by the searches router)."""

    KIND = EventKind.SEARCH_CREATED
    name: str
    owner: str


class SearchStarted(EventPayload):
    """The controller moved a created search to running."""

    KIND = EventKind.SEARCH_STARTED


class SearchPaused(EventPayload):
    """A user paused the search."""

    KIND = EventKind.SEARCH_PAUSED


class SearchResumed(EventPayload):
    """A user resumed a paused search."""

    KIND = EventKind.SEARCH_RESUMED


class SearchCancelled(EventPayload):
    """A user cancelled the search; `batches_cancelled` batches in flight went with it."""

    KIND = EventKind.SEARCH_CANCELLED
    reason: str
    batches_cancelled: int


class SearchCompleted(EventPayload):
    """The controller completed the search (budget reached, space exhausted...)."""

    KIND = EventKind.SEARCH_COMPLETED
    reason: str
    evaluations: int
    batches_cancelled: int


class SearchFailed(EventPayload):
    """The controller gave up on the search (invalid spec, proposals failing...).

    The old key list of this kind named only ``reason``; rows that follow it read with 0
    evaluations and 0 batches cancelled.
    """

    KIND = EventKind.SEARCH_FAILED
    READ_DEFAULTS = {"evaluations": 0, "batches_cancelled": 0}
    reason: str
    evaluations: int
    batches_cancelled: int


# --- batches ----------------------------------------------------------------------------------


class BatchProposed(EventPayload):
    """The controller stored a new batch.

    Attributes:
        size: Architectures in the batch.
        keys: Their canonical keys, in batch order.
        surrogate_version: The surrogate version that chose them (None: chosen without one,
            e.g. the initial random batch).
        seconds: Wall time of the round that proposed them.
    """

    KIND = EventKind.BATCH_PROPOSED
    READ_DEFAULTS = {"surrogate_version": None}
    batch_id: int
    size: int
    keys: tuple[str, ...]
    surrogate_version: int | None
    seconds: float


class BatchLeased(EventPayload):
    """A worker leased a batch for the first time in this attempt."""

    KIND = EventKind.BATCH_LEASED
    batch_id: int
    worker_id: int
    attempt: int


class BatchReported(EventPayload):
    """A worker's report was stored: `stored` results of the batch's architectures."""

    KIND = EventKind.BATCH_REPORTED
    batch_id: int
    worker_id: int
    attempt: int
    stored: int


class BatchReleased(EventPayload):
    """A worker gave its batch back unreported.

    Attributes:
        reason: The worker's reason, with its message after a colon.
        state: The batch's state afterwards (``queued`` again, or ``failed``).
    """

    KIND = EventKind.BATCH_RELEASED
    batch_id: int
    worker_id: int
    attempt: int
    reason: str
    state: str


class BatchRequeued(EventPayload):
    """The reaper put a batch whose lease expired back in the queue."""

    KIND = EventKind.BATCH_REQUEUED
    batch_id: int
    reason: str


class BatchFailed(EventPayload):
    """The reaper failed a batch whose lease expired with no attempt left."""

    KIND = EventKind.BATCH_FAILED
    batch_id: int
    reason: str


# --- the surrogate ----------------------------------------------------------------------------


class SurrogateFitted(EventPayload):
    """The controller stored a surrogate version.

    Attributes:
        version: The snapshot's version.
        n_observations: Results it was fitted on.
        fit: The fit's report (``seconds``, ``final_loss``, ``epochs``...; empty when the
            strategy gave none).
    """

    KIND = EventKind.SURROGATE_FITTED
    READ_DEFAULTS = {"fit": {}}
    version: int
    n_observations: int
    fit: dict[str, Any]


PAYLOAD_CLASSES: tuple[type[EventPayload], ...] = (
    SearchCreated,
    SearchStarted,
    SearchPaused,
    SearchResumed,
    SearchCancelled,
    SearchCompleted,
    SearchFailed,
    BatchProposed,
    BatchLeased,
    BatchReported,
    BatchReleased,
    BatchRequeued,
    BatchFailed,
    SurrogateFitted,
)
"""One payload class per `EventKind`."""

_BY_KIND: dict[str, type[EventPayload]] = {cls.KIND.value: cls for cls in PAYLOAD_CLASSES}


def payload_class(kind: EventKind | str) -> type[EventPayload] | None:
    """The payload class of `kind`, or None for a kind this code does not know."""
    return _BY_KIND.get(str(kind))


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A stored event `parse_event` could not read as a known payload (kept for display).

    Attributes:
        kind: The stored kind, as written.
        data: The stored payload, as written.
        problem: Why it was not read (an unknown kind, or what did not fit its class).
    """

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    problem: str = "unknown kind"


AnyPayload = EventPayload | UnknownEvent
"""What `parse_event` returns."""


def parse_event(kind: str, payload: Mapping[str, Any]) -> AnyPayload:
    """A stored event's payload as its class, tolerant of old rows (see the module docstring).

    Never raises: a row that cannot be read comes back as an `UnknownEvent`.
    """
    cls = payload_class(kind)
    if cls is None:
        return UnknownEvent(kind=kind, data=dict(payload))
    known = {key: value for key, value in payload.items() if key in cls.model_fields}
    try:
        return cls.model_validate({**cls.READ_DEFAULTS, **known})
    except ValidationError as error:
        problem = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        logger.debug("unreadable %s event payload: %s", kind, problem)
        return UnknownEvent(kind=kind, data=dict(payload), problem=problem)
