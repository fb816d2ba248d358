"""Response model of the health check."""

from __future__ import annotations

from typing import Literal

from service.schemas.common import ApiModel


class HealthOut(ApiModel):
    """Liveness and readiness in one: the process answers and the database does too.

    Attributes:
        status: ``ok``.
        version: The bonas version serving.
        database: ``ok`` when a trivial query succeeded.
        schema_revision: The migration revision of the database.
    """

    status: Literal["ok"]
    version: str
    database: Literal["ok"]
    schema_revision: str | None
