"""The wire protocol between worker daemons and the controller: the one definition of it.

A package of its own because both sides import it and neither may import the other
(``tests/unit/test_import_rules.py``): `protocol.paths` (version, prefix, endpoint paths),
`protocol.errors` (the reasons of refused requests, for every endpoint), `protocol.messages`
(the request and reply models), `protocol.training` (the training options a search sets and a
lease carries), `protocol.names` (what a data name in a spec may be).

The controller (``service/``) imports these models to validate what workers send and to shape its
answers; the daemon (``workers/``) imports them to build requests and parse replies. Nothing else
defines the worker endpoints, so the two sides cannot drift apart.

A worker's life, in requests (all ``POST``, JSON bodies, ``Authorization: Bearer <token>``):

1. ``REGISTER_PATH``: `RegisterRequest` -> `RegisterResponse` (a ``worker_id``). Idempotent per
   ``instance_id``: a retried registration returns the same worker.
2. ``LEASE_PATH``: `LeaseRequest` -> `LeaseResponse`. Either a `Lease` on one batch, or none and
   how long to wait before asking again. Idempotent per worker: while a worker holds a lease,
   asking again returns that same lease (same attempt and token), so a lost reply loses nothing.
3. ``HEARTBEAT_PATH``: `HeartbeatRequest` -> `HeartbeatResponse`, every
   ``heartbeat_interval_s`` while the batch is evaluated. ``ok`` extends the lease by
   ``lease_seconds``; ``cancel`` means the search was cancelled (stop, release with reason
   ``cancelled``); ``lease_lost`` means the lease is no longer the worker's (expired, re-leased,
   or the batch is gone): stop and report nothing.
4. ``REPORT_PATH``: `ReportRequest` -> `ReportResponse`, once, with every member of the batch
   (nothing partial: a batch is reported whole or not at all). Idempotent per ``report_id``: a
   retry of the same report answers ``duplicate=True`` and stores nothing twice.
5. ``RELEASE_PATH``: `ReleaseRequest` -> `ReleaseResponse`, instead of a report, when the worker
   gives the batch back (shutdown, cancelled, or an error it cannot recover from).

Errors are HTTP 4xx/5xx whose body is an `ErrorBody`: a human ``detail`` and a machine-readable
``reason`` (`ErrorReason`). Status codes: 401/403 bad or insufficient token; 404 unknown worker or
batch; 409 the lease is not (or no longer) the caller's (``lease_expired``, ``stale_attempt``,
``lease_not_held``, ``already_reported``) or, with reason ``busy``, a transient write conflict;
422 malformed body; 429 too many requests; 5xx server trouble. A client retries network errors,
5xx, 429 and 409 ``busy`` (honouring ``Retry-After``), and nothing else: every other 4xx is final.

Identifiers are strings (the controller may use integers or UUIDs underneath). Times are UTC.
"""

from __future__ import annotations

from protocol.base import (
    Identifier,
    JSONValue,
    Message,
    Name,
)
from protocol.errors import (
    LEASE_LOST_REASONS,
    ErrorBody,
    ErrorReason,
)
from protocol.messages import (
    BatchMember,
    DataName,
    DatasetSpec,
    EvaluatorKind,
    EvaluatorSpec,
    HeartbeatRequest,
    HeartbeatResponse,
    HeartbeatStatus,
    Lease,
    LeaseRequest,
    LeaseResponse,
    MemberReport,
    Progress,
    RegisterRequest,
    RegisterResponse,
    ReleaseReason,
    ReleaseRequest,
    ReleaseResponse,
    ReportRequest,
    ReportResponse,
    StandaloneEvaluatorSpec,
    TableEvaluatorSpec,
    WeightSharingEvaluatorSpec,
    WorkerCapabilities,
)
from protocol.names import (
    MAX_NAME_LENGTH,
    NAME_RULE,
    DataPathError,
    check_name,
    shown_name,
)
from protocol.paths import (
    API_PREFIX,
    HEARTBEAT_PATH,
    LEASE_PATH,
    PROTOCOL_VERSION,
    REGISTER_PATH,
    RELEASE_PATH,
    REPORT_PATH,
    RETRYABLE_STATUS_CODES,
    WORKERS_PREFIX,
)
from protocol.training import (
    TRAINING_MAXIMA,
    TrainingOptions,
)

__all__ = [
    "API_PREFIX",
    "HEARTBEAT_PATH",
    "LEASE_LOST_REASONS",
    "LEASE_PATH",
    "MAX_NAME_LENGTH",
    "NAME_RULE",
    "PROTOCOL_VERSION",
    "REGISTER_PATH",
    "RELEASE_PATH",
    "REPORT_PATH",
    "RETRYABLE_STATUS_CODES",
    "TRAINING_MAXIMA",
    "WORKERS_PREFIX",
    "BatchMember",
    "DataName",
    "DataPathError",
    "DatasetSpec",
    "ErrorBody",
    "ErrorReason",
    "EvaluatorKind",
    "EvaluatorSpec",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "HeartbeatStatus",
    "Identifier",
    "JSONValue",
    "Lease",
    "LeaseRequest",
    "LeaseResponse",
    "MemberReport",
    "Message",
    "Name",
    "Progress",
    "RegisterRequest",
    "RegisterResponse",
    "ReleaseReason",
    "ReleaseRequest",
    "ReleaseResponse",
    "ReportRequest",
    "ReportResponse",
    "StandaloneEvaluatorSpec",
    "TableEvaluatorSpec",
    "TrainingOptions",
    "WeightSharingEvaluatorSpec",
    "WorkerCapabilities",
    "check_name",
    "shown_name",
]
