"""The machine-readable reasons of refused requests, shared by every endpoint of the service.

The service answers each 4xx/5xx with an `ErrorBody`; the daemon and the SDK branch on its
``reason``, never on the prose of ``detail``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict

from protocol.base import Message


class ErrorReason(StrEnum):
    """Machine-readable reason of a refused request (the ``reason`` of an `ErrorBody`)."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    UNKNOWN_WORKER = "unknown_worker"
    UNKNOWN_BATCH = "unknown_batch"
    LEASE_EXPIRED = "lease_expired"
    """The lease ran out before this request (no heartbeat in time); the batch was re-queued."""
    STALE_ATTEMPT = "stale_attempt"
    """The attempt or token is not the batch's current lease (it was re-leased or finished)."""
    LEASE_NOT_HELD = "lease_not_held"
    """The batch is leased, but to another worker."""
    ALREADY_REPORTED = "already_reported"
    """This lease already has a different report stored."""
    INVALID_REPORT = "invalid_report"
    """The report's members do not match the leased batch."""
    PROTOCOL_MISMATCH = "protocol_mismatch"
    INVALID_REQUEST = "invalid_request"
    BUSY = "busy"
    """A transient conflict (e.g. a locked database): retry after a pause."""
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"


LEASE_LOST_REASONS = frozenset(
    {
        ErrorReason.LEASE_EXPIRED,
        ErrorReason.STALE_ATTEMPT,
        ErrorReason.LEASE_NOT_HELD,
        ErrorReason.UNKNOWN_BATCH,
        ErrorReason.ALREADY_REPORTED,
    }
)
"""Reasons meaning: the caller does not hold this lease; drop the batch, report nothing."""


class ErrorBody(Message):
    """Body of every 4xx/5xx answer of the worker endpoints.

    ``detail`` is FastAPI's conventional field, so generic HTTP clients show the message.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    reason: ErrorReason
    detail: str
