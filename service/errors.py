"""How errors become HTTP answers: one JSON shape, a 4xx for every bad input, never a stray 500.

Every error answer of the API has the body ``{"reason": ..., "detail": ...}`` (the worker
protocol's `protocol.ErrorBody`): ``reason`` is a short machine-readable word, ``detail`` a
sentence that says what was wrong and, where it helps, what is accepted.

Store errors keep their meaning: a missing row is a 404, a refused state change a 409, a refused
lease a 409 with the lease's reason, a locked or unreachable database a 503 that clients retry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from protocol import ErrorReason
from service.exceptions import (
    DuplicateEvaluationError,
    InvalidReportError,
    InvalidStateTransitionError,
    LeaseRejectedError,
    LeaseRejection,
    NotFoundError,
    StoreConflictError,
    StoreError,
    StoreUnavailableError,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 1
"""What a 503 for a busy database asks clients to wait, in seconds."""
OUTAGE_RETRY_AFTER_S = 5
"""What a 503 for a read-only, full or unreachable database asks clients to wait, in seconds."""

NOT_FOUND = "not_found"
INVALID_STATE = "invalid_state"
CONFLICT = "conflict"

_STATUS_REASONS: Mapping[int, str] = {
    400: ErrorReason.INVALID_REQUEST.value,
    401: ErrorReason.UNAUTHORIZED.value,
    403: ErrorReason.FORBIDDEN.value,
    404: NOT_FOUND,
    405: ErrorReason.INVALID_REQUEST.value,
    409: CONFLICT,
    413: ErrorReason.INVALID_REQUEST.value,
    415: ErrorReason.INVALID_REQUEST.value,
    422: ErrorReason.INVALID_REQUEST.value,
    429: ErrorReason.RATE_LIMITED.value,
}

LEASE_REASONS: Mapping[LeaseRejection, ErrorReason] = {
    LeaseRejection.EXPIRED: ErrorReason.LEASE_EXPIRED,
    LeaseRejection.STALE_ATTEMPT: ErrorReason.STALE_ATTEMPT,
    LeaseRejection.NOT_HELD: ErrorReason.STALE_ATTEMPT,
    LeaseRejection.CANCELLED: ErrorReason.STALE_ATTEMPT,
    LeaseRejection.ALREADY_REPORTED: ErrorReason.ALREADY_REPORTED,
}
"""The protocol reason of each store refusal (a cancelled batch is no longer the caller's).

`LeaseRejection.NOT_HELD` reads as ``stale_attempt`` (an older lease of the caller's) unless the
batch is leased to another worker: `lease_reason` then answers ``lease_not_held``."""


def lease_reason(rejection: LeaseRejection, *, held_by_another: bool = False) -> ErrorReason:
    """The protocol reason of a store refusal: the one mapping heartbeats, reports and releases use.

    Args:
        rejection: Why the store refused the lease.
        held_by_another: Whether the batch is now leased to a worker other than the caller.
    """
    if rejection is LeaseRejection.NOT_HELD and held_by_another:
        return ErrorReason.LEASE_NOT_HELD
    return LEASE_REASONS[rejection]


class ApiError(Exception):
    """An error the API answers on purpose, with its status, reason and message."""

    def __init__(
        self,
        status_code: int,
        reason: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.reason = reason
        self.detail = detail
        self.headers = dict(headers or {})


def error_response(
    status_code: int, reason: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON answer of an error."""
    return JSONResponse(
        {"reason": reason, "detail": detail}, status_code=status_code, headers=dict(headers or {})
    )


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One readable line per pydantic error: ``body.budget.evaluations: must be >= 1``."""
    lines = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = str(error.get("msg", "invalid value"))
        message = message.removeprefix("Value error, ")
        lines.append(f"{location or 'request'}: {message}")
    return "; ".join(lines) or "the request is invalid"


def store_error_answer(error: StoreError) -> ApiError:
    """The HTTP answer a store error deserves."""
    if isinstance(error, NotFoundError):
        reason = {"worker": ErrorReason.UNKNOWN_WORKER, "batch": ErrorReason.UNKNOWN_BATCH}.get(
            error.kind
        )
        return ApiError(404, reason.value if reason else NOT_FOUND, str(error))
    if isinstance(error, LeaseRejectedError):
        return ApiError(409, lease_reason(error.reason).value, str(error))
    if isinstance(error, DuplicateEvaluationError):
        return ApiError(409, ErrorReason.ALREADY_REPORTED.value, str(error))
    if isinstance(error, InvalidReportError):
        return ApiError(422, ErrorReason.INVALID_REPORT.value, str(error))
    if isinstance(error, InvalidStateTransitionError):
        return ApiError(409, INVALID_STATE, str(error))
    if isinstance(error, StoreUnavailableError):
        # The store's condition, never the caller's fault: 503, retried by every client.
        busy = error.reason == StoreUnavailableError.BUSY
        wait = RETRY_AFTER_S if busy else OUTAGE_RETRY_AFTER_S
        return ApiError(503, error.reason, str(error), {"Retry-After": str(wait)})
    if isinstance(error, StoreConflictError):
        # A uniqueness race with a concurrent writer: the same request will pass on a retry.
        return ApiError(409, ErrorReason.BUSY.value, str(error), {"Retry-After": "0"})
    return ApiError(500, ErrorReason.SERVER_ERROR.value, "the database failed; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the ``{reason, detail}`` shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status_code, error.reason, error.detail, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = describe_validation_errors(error.errors())
        return error_response(422, ErrorReason.INVALID_REQUEST.value, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        reason = _STATUS_REASONS.get(error.status_code, ErrorReason.INVALID_REQUEST.value)
        if error.status_code >= 500:
            reason = ErrorReason.SERVER_ERROR.value
        return error_response(error.status_code, reason, str(error.detail), error.headers)

    @app.exception_handler(StoreError)
    async def _store(request: Request, error: StoreError) -> JSONResponse:
        answer = store_error_answer(error)
        if answer.status_code >= 500:
            logger.error("%s %s: %s", request.method, request.url.path, error, exc_info=error)
        return error_response(answer.status_code, answer.reason, answer.detail, answer.headers)

    @app.exception_handler(ValueError)
    async def _bad_value(request: Request, error: ValueError) -> JSONResponse:
        # Repositories and builders refuse bad arguments with ValueError and a message; the
        # routers validate first, so this is the safety net that keeps bad input out of 5xx.
        logger.info("%s %s refused: %s", request.method, request.url.path, error)
        return error_response(400, ErrorReason.INVALID_REQUEST.value, str(error))

    @app.exception_handler(OverflowError)
    async def _too_large(request: Request, error: OverflowError) -> JSONResponse:
        # A number the database cannot hold (an id past 64 bits): bad input, not a server fault.
        return error_response(
            422, ErrorReason.INVALID_REQUEST.value, f"a number in the request is too large: {error}"
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(
            500, ErrorReason.SERVER_ERROR.value, "internal error; see the server log"
        )
