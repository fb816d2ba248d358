"""The wire protocol between worker daemons and the controller: the one definition of it.

A package of its own because both sides import it and neither may import the other
(``tests/unit/test_import_rules.py``): `protocol.paths` (version, prefix, endpoint paths),
`protocol.errors` (the reasons of refused requests, for every endpoint), `protocol.messages`
(the request and reply models, and a worker's life in requests), `protocol.training` (the
training options), `protocol.names` (what a data name in a spec may be) and
`protocol.fake_controller` (an in-memory controller for testing workers against).
Everything but the fake is re-exported here.
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
    AnalyticMetric,
    BatchMember,
    DataName,
    DatasetSpec,
    EvaluatorKind,
    EvaluatorSpec,
    ExtraTableSpec,
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
    TableArchFormat,
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
    "AnalyticMetric",
    "BatchMember",
    "DataName",
    "DataPathError",
    "DatasetSpec",
    "ErrorBody",
    "ErrorReason",
    "EvaluatorKind",
    "EvaluatorSpec",
    "ExtraTableSpec",
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
    "TableArchFormat",
    "TableEvaluatorSpec",
    "TrainingOptions",
    "WeightSharingEvaluatorSpec",
    "WorkerCapabilities",
    "check_name",
    "shown_name",
]
