"""Response models of the event log, read by cursor."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from service.schemas.common import ApiModel

if TYPE_CHECKING:  # the record only types `of`; importing the store at run time loads SQLAlchemy
    from service.store import EventRecord


class EventOut(ApiModel):
    """One event: what happened (``kind``), to which search, with details (``payload``)."""

    id: int
    search_id: int | None
    kind: str
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, record: EventRecord) -> EventOut:
        return cls.model_validate(record)


class EventsPage(ApiModel):
    """Events after a cursor.

    Attributes:
        items: Events in id order.
        next_after: The cursor for the next poll (``?after=<next_after>``). It moves past events
            the caller may not see too, so it can be ahead of the last item's id.
        has_more: More events were waiting when this page was cut; poll again at once.
    """

    items: list[EventOut]
    next_after: int = Field(ge=0)
    has_more: bool
