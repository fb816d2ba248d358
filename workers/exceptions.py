"""Errors raised by the worker package; all derive from `WorkerError`.

The daemon's control flow rests on telling these apart: a network outage is retried, a lost
lease drops the batch silently, a refused token stops the daemon, and an evaluation error
releases the batch with its message so the controller can count the failed attempt.
"""

from __future__ import annotations

from protocol import LEASE_LOST_REASONS, ErrorReason


class WorkerError(Exception):
    """Base class of every error the worker package raises on purpose."""


# --- talking to the controller -------------------------------------------------------------------


class ControllerError(WorkerError):
    """Something went wrong talking to the controller."""


class ControllerUnavailableError(ControllerError):
    """The controller could not be reached (or kept failing) until the retries ran out."""


class RequestInterruptedError(ControllerUnavailableError):
    """Retries were abandoned because the daemon was asked to stop."""


class ProtocolViolationError(ControllerError):
    """The controller answered something the protocol does not allow (bad JSON, bad schema)."""


class ControllerRejectedError(ControllerError):
    """The controller refused the request with a final (non-retryable) 4xx answer.

    Attributes:
        status_code: The HTTP status.
        reason: The machine-readable reason of the `ErrorBody` (``None`` if the body had none).
        detail: The controller's message.
    """

    def __init__(self, status_code: int, reason: ErrorReason | None, detail: str) -> None:
        self.status_code = status_code
        self.reason = reason
        self.detail = detail
        label = reason.value if reason is not None else "no reason given"
        super().__init__(f"controller refused the request (HTTP {status_code}, {label}): {detail}")


class AuthenticationError(ControllerRejectedError):
    """The token was refused (401) or lacks the worker role (403): retrying cannot help."""


class UnknownWorkerError(ControllerRejectedError):
    """The controller does not know this worker id (it lost its state): register again."""


class LeaseLostError(ControllerRejectedError):
    """The lease is not the caller's any more (expired, re-leased, reported, or unknown batch)."""


def rejection_for(
    status_code: int, reason: ErrorReason | None, detail: str
) -> ControllerRejectedError:
    """The most specific `ControllerRejectedError` subclass for a refused request."""
    if status_code in (401, 403) or reason in (ErrorReason.UNAUTHORIZED, ErrorReason.FORBIDDEN):
        return AuthenticationError(status_code, reason, detail)
    if reason is ErrorReason.UNKNOWN_WORKER:
        return UnknownWorkerError(status_code, reason, detail)
    if reason in LEASE_LOST_REASONS:
        return LeaseLostError(status_code, reason, detail)
    return ControllerRejectedError(status_code, reason, detail)


# --- evaluating batches --------------------------------------------------------------------------


class EvaluationError(WorkerError):
    """A batch cannot be evaluated (bad evaluator options, missing table or dataset, ...).

    The daemon releases the batch with this message; the controller counts the attempt.
    """


class EvaluationStoppedError(WorkerError):
    """The evaluation stopped early because `should_stop()` said so; nothing is reported."""


class WorkerSetupError(WorkerError):
    """The daemon cannot start (unusable device, scratch directory, or a GPU already taken)."""
