"""``/api/v1/health``: the one endpoint without a token, for load balancers and compose."""

from __future__ import annotations

from fastapi import APIRouter

from protocol import ErrorReason
from service.auth import EngineDep
from service.errors import ApiError
from service.exceptions import StoreError
from service.schemas import ErrorResponse, HealthOut
from service.store.migrate import current_of
from workers.version import bonas_version

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Health check",
    responses={503: {"model": ErrorResponse, "description": "The database does not answer."}},
)
def health(engine: EngineDep) -> HealthOut:
    """``ok`` when the process answers and the database answers a query."""
    try:
        revision = current_of(engine)
    except StoreError as error:
        raise ApiError(
            503, ErrorReason.BUSY.value, f"the database does not answer: {error}"
        ) from error
    return HealthOut(status="ok", version=bonas_version(), database="ok", schema_revision=revision)
