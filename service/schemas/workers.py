"""Response model of the workers list (registration and leasing use `protocol`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from service.schemas.common import ApiModel
from service.schemas.searches import BatchOut


class WorkerOut(ApiModel):
    """A registered worker.

    Attributes:
        name: The name it registered with.
        capabilities: Its device, host, version and evaluator kinds.
        last_seen_at: Its last request (lease, heartbeat, report or release).
        seen_seconds_ago: Seconds since then, when this answer was made.
        stale: Silent for longer than the stale threshold (a lease's length by default):
            probably dead or cut off.
        current_batch: The batch it holds, if any.
    """

    id: int
    name: str
    capabilities: dict[str, Any]
    registered_at: datetime
    last_seen_at: datetime
    seen_seconds_ago: float = Field(ge=0)
    stale: bool
    current_batch: BatchOut | None
