"""The HTTP API: one router per resource, mounted under ``/api/v1`` (metrics at ``/metrics``)."""

from __future__ import annotations

from fastapi import APIRouter

from protocol import API_PREFIX
from service.api import (
    architectures,
    events,
    export,
    health,
    metrics,
    pareto,
    pools,
    searches,
    tokens,
    workers,
)
from service.schemas import ErrorResponse

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "A value out of range; `detail` says which."},
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked token."},
    403: {"model": ErrorResponse, "description": "The token's role may not do this."},
    404: {"model": ErrorResponse, "description": "No such resource (or not yours)."},
    409: {"model": ErrorResponse, "description": "Refused in the resource's current state."},
    422: {"model": ErrorResponse, "description": "Invalid input; `detail` says what is wrong."},
    503: {"model": ErrorResponse, "description": "The database is busy; retry after a pause."},
}


def api_router() -> APIRouter:
    """Every versioned router under ``/api/v1``, each documenting the error answers."""
    router = APIRouter(prefix=API_PREFIX)
    router.include_router(health.router)
    for module in (searches, architectures, pareto, export, workers, events, tokens, pools):
        router.include_router(module.router, responses=ERROR_RESPONSES)
    return router


__all__ = ["ERROR_RESPONSES", "api_router", "metrics"]
