"""The messages between worker daemons and the controller: the one definition of them.

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

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from protocol.base import Identifier, JSONValue, Message, Name
from protocol.errors import ErrorReason
from protocol.names import MAX_NAME_LENGTH, DataPathError, check_name
from protocol.paths import PROTOCOL_VERSION
from protocol.training import TrainingOptions

# --- registration --------------------------------------------------------------------------------


class EvaluatorKind(StrEnum):
    """How a batch is evaluated."""

    WEIGHT_SHARING = "weight_sharing"
    """Train the batch's members jointly in one super-network (BONAS)."""
    TABLE = "table"
    """Look the members up in a benchmark table (no training; no GPU needed)."""
    STANDALONE = "standalone"
    """Train each member alone from scratch (to confirm a final pick)."""


class WorkerCapabilities(Message):
    """What a worker runs on; the controller shows it and routes batches by ``evaluators``.

    Attributes:
        device: The torch device the daemon trains on (``"cpu"``, ``"cuda:0"``).
        device_name: The accelerator's name (``torch.cuda.get_device_name``), if any.
        memory_bytes: The accelerator's memory, or the host's RAM for a CPU worker.
        hostname: Host the daemon runs on.
        pid: Process id of the daemon on that host.
        version: bonas version of the daemon.
        evaluators: Evaluator kinds this worker can run.
    """

    device: Annotated[str, Field(min_length=1, max_length=64)]
    device_name: str | None = None
    memory_bytes: Annotated[int, Field(ge=0)] | None = None
    hostname: Annotated[str, Field(min_length=1, max_length=255)]
    pid: Annotated[int, Field(ge=0)]
    version: Annotated[str, Field(min_length=1, max_length=64)]
    evaluators: tuple[EvaluatorKind, ...] = tuple(EvaluatorKind)


class RegisterRequest(Message):
    """A daemon announcing itself.

    Attributes:
        name: Human-readable worker name (unique per host and device by convention).
        instance_id: Random id the daemon draws once per process; retried registrations carry
            the same one and get the same ``worker_id``.
        protocol_version: `PROTOCOL_VERSION` of the daemon.
    """

    name: Name
    instance_id: Identifier
    protocol_version: int = PROTOCOL_VERSION
    capabilities: WorkerCapabilities


class RegisterResponse(Message):
    """The controller's answer to a registration.

    Attributes:
        worker_id: Id to put in every later path.
        lease_seconds: How long a lease lasts without a heartbeat.
        heartbeat_interval_s: How often to send heartbeats (well under ``lease_seconds``).
        poll_interval_s: How long to wait between lease requests when no work is available.
    """

    worker_id: Identifier
    lease_seconds: Annotated[float, Field(gt=0)]
    heartbeat_interval_s: Annotated[float, Field(gt=0)]
    poll_interval_s: Annotated[float, Field(gt=0)] = 2.0

    @model_validator(mode="after")
    def _heartbeat_fits_lease(self) -> RegisterResponse:
        if self.heartbeat_interval_s >= self.lease_seconds:
            raise ValueError(
                f"heartbeat_interval_s ({self.heartbeat_interval_s}) must be shorter than "
                f"lease_seconds ({self.lease_seconds})"
            )
        return self


# --- evaluator specifications --------------------------------------------------------------------


def _data_name(value: str) -> str:
    """Refuse a path that is not a name relative to a data root (see `workers.data_roots`)."""
    try:
        check_name(value)
    except DataPathError as error:
        raise ValueError(f"path {error}") from None
    return value


DataName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_LENGTH), AfterValidator(_data_name)
]
"""A file or directory named relative to the data roots of the machine that reads it."""


class DatasetSpec(Message):
    """Which data a training evaluator uses; files are resolved on the worker's machine.

    Attributes:
        name: Loader name (``"digits"``, ``"cifar10"``, ``"cifar100"``, ``"imagefolder"``).
        path: Directory of the data, for loaders that read files, as a name relative to the
            worker's data roots (``cifar``, ``images/flowers``); absolute paths, ``..``
            and control characters are refused (`workers.data_roots.check_name`).
        options: Further loader options (``val_fraction``, ``split_seed``, ``max_train``,
            ``image_size``, ``augment``: see `workers.datasets.DatasetSpec`), checked by the
            worker.
    """

    name: Annotated[str, Field(min_length=1, max_length=64)] = "digits"
    path: DataName | None = None
    options: dict[str, JSONValue] = Field(default_factory=dict)


AnalyticMetric = Literal["params", "flops"]
"""A cost computed from the architecture alone (`surrogate.costs.cost_of`)."""

TableArchFormat = Literal["string", "json", "key", "matrix_ops", "naslib_tuple"]
"""How a table's architecture column is written (`surrogate.tables`)."""


class ExtraTableSpec(Message):
    """A second CSV whose columns are joined onto each row of the evaluator's table.

    HW-NAS-Bench's per-device latencies and energies, keyed by NASLib's tuple, are the use
    (docs/costs-measured.md): joined onto NAS-Bench-201's accuracy table they become metrics of
    every member, to report, constrain on and optimise.

    Attributes:
        path: The CSV, a name relative to the worker's data roots, as for the main table.
        arch_column: Column holding the architecture.
        arch_format: How that column is written (default ``"naslib_tuple"``, HW-NAS-Bench's).
        ops_column: Op-list column for ``"matrix_ops"``.
        columns: Its columns to add (empty: all its numeric columns); none may already be a
            column of the main table.
    """

    path: DataName
    arch_column: Annotated[str, Field(min_length=1)] = "net"
    arch_format: TableArchFormat = "naslib_tuple"
    ops_column: Annotated[str, Field(min_length=1)] = "ops"
    columns: tuple[Annotated[str, Field(min_length=1)], ...] = ()


class TableEvaluatorSpec(Message):
    """Evaluate by looking members up in a benchmark CSV (see `surrogate.tables.MetricTable`).

    Attributes:
        path: The CSV, as a name relative to the worker's data roots (``nb201/cifar10.csv``);
            absolute paths, ``..`` and control characters are refused.
        objective_column: Column whose value is the member's objective.
        metric_columns: Further columns to report as metrics (empty: every numeric column).
        arch_column: Column holding the architecture.
        arch_format: How that column is written (``"string"``, ``"json"``, ``"key"``,
            ``"matrix_ops"``, ``"naslib_tuple"``).
        ops_column: Op-list column for ``"matrix_ops"``.
        fidelity: Label of the fidelity the table measures (default: the objective column).
        extra_tables: Tables whose columns are joined onto every row (`ExtraTableSpec`); their
            columns count as the table's own for `objective_column` and `metric_columns`.
        analytic_metrics: ``params`` and/or ``flops`` to report for every member as computed by
            `surrogate.costs.cost_of` for the lease's space (counts, at the space's default
            network), replacing a table column of the same name: the figures the search's
            analytic constraints filter its candidates by, so that the check of each result
            agrees with the filter.
    """

    kind: Literal[EvaluatorKind.TABLE] = EvaluatorKind.TABLE
    path: DataName
    objective_column: Annotated[str, Field(min_length=1)]
    metric_columns: tuple[str, ...] = ()
    arch_column: str = "arch_str"
    arch_format: TableArchFormat = "string"
    ops_column: str = "ops"
    fidelity: str | None = None
    extra_tables: tuple[ExtraTableSpec, ...] = ()
    analytic_metrics: tuple[AnalyticMetric, ...] = ()


class _TrainingEvaluatorSpec(Message):
    """Fields shared by the evaluators that train.

    Attributes:
        dataset: The data to train and validate on.
        train: The trainer's options (`TrainingOptions`), validated by the service at
            submission and again as part of the lease; ``seed`` is taken from the lease,
            ``method`` from ``kind``.
        objective_metric: Which measured metric is the objective (default: validation
            accuracy in percent, on the held-out part of the training data).
        fidelity: Label of what the numbers measure (default ``"supernet"`` or
            ``"standalone"``); give different training budgets different labels.
    """

    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    train: TrainingOptions = Field(default_factory=TrainingOptions)
    objective_metric: Annotated[str, Field(min_length=1)] = "val_accuracy"
    fidelity: str | None = None


class WeightSharingEvaluatorSpec(_TrainingEvaluatorSpec):
    """Train the batch jointly in a super-network (BONAS), then evaluate each member."""

    kind: Literal[EvaluatorKind.WEIGHT_SHARING] = EvaluatorKind.WEIGHT_SHARING


class StandaloneEvaluatorSpec(_TrainingEvaluatorSpec):
    """Train every member alone from scratch, one after the other."""

    kind: Literal[EvaluatorKind.STANDALONE] = EvaluatorKind.STANDALONE


EvaluatorSpec = Annotated[
    TableEvaluatorSpec | WeightSharingEvaluatorSpec | StandaloneEvaluatorSpec,
    Field(discriminator="kind"),
]
"""How a search's batches are evaluated, discriminated by ``kind``."""


# --- leasing -------------------------------------------------------------------------------------


class LeaseRequest(Message):
    """Ask for work. ``evaluators`` narrows the kinds this worker takes (default: all it can)."""

    evaluators: tuple[EvaluatorKind, ...] | None = None


class BatchMember(Message):
    """One architecture of a leased batch.

    Attributes:
        key: The space's canonical key of the architecture (`SearchSpace.key`).
        arch: Its JSON form (`SearchSpace.to_json`).
    """

    key: Identifier
    arch: JSONValue


class Lease(Message):
    """A batch handed to one worker for a limited time.

    Attributes:
        batch_id: The batch.
        attempt: 1 for the first lease of the batch, incremented every time it is re-leased.
        lease_token: Secret of this lease; every heartbeat, report and release carries it.
        lease_expires_at: When the lease ends unless a heartbeat extends it (UTC).
        lease_seconds: Seconds left on the lease when this answer was made (the full duration
            for a new lease, less for a lease asked for again). Workers time it with their own
            monotonic clock from when they sent the request, so that clock skew between hosts
            does not matter.
        heartbeat_interval_s: How often to send heartbeats.
        search_id: The search the batch belongs to.
        space: The search space's description (`SearchSpace.describe()`), rebuilt with
            `surrogate.spaces.space_from_spec`.
        members: The architectures to evaluate (at least one; keys unique).
        evaluator: How to evaluate them.
        seed: Seed of the evaluation, for reproducible training.
    """

    batch_id: Identifier
    attempt: Annotated[int, Field(ge=1)]
    lease_token: Identifier
    lease_expires_at: datetime
    lease_seconds: Annotated[float, Field(gt=0)]
    heartbeat_interval_s: Annotated[float, Field(gt=0)]
    search_id: Identifier
    space: dict[str, JSONValue]
    members: Annotated[tuple[BatchMember, ...], Field(min_length=1)]
    evaluator: EvaluatorSpec
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0

    @field_validator("members")
    @classmethod
    def _unique_keys(cls, members: tuple[BatchMember, ...]) -> tuple[BatchMember, ...]:
        _check_unique([m.key for m in members], "member")
        return members


class LeaseResponse(Message):
    """A lease, or none and when to ask again."""

    lease: Lease | None = None
    retry_after_s: Annotated[float, Field(ge=0)] = 2.0


# --- heartbeats ----------------------------------------------------------------------------------


class Progress(Message):
    """Where the evaluation of a batch stands (shown to users; never trusted for control).

    Attributes:
        phase: What the worker is doing (``"warmup"``, ``"train"``, ``"calibrate"``,
            ``"evaluate"``, ``"lookup"``).
        epoch: Current epoch (0-based), if the evaluator trains in epochs.
        step: Optimiser steps (or lookups) done so far in the batch.
        total_steps: Steps planned for the batch.
        loss: Last training loss (finite), if any.
        member: Key of the member being trained or evaluated, if any.
    """

    phase: Annotated[str, Field(min_length=1, max_length=32)] = "train"
    epoch: Annotated[int, Field(ge=0)] | None = None
    step: Annotated[int, Field(ge=0)] = 0
    total_steps: Annotated[int, Field(ge=0)] | None = None
    loss: float | None = None
    member: str | None = None

    @field_validator("loss")
    @classmethod
    def _finite_loss(cls, loss: float | None) -> float | None:
        # A diverged loss is progress information, not an error: send it as "unknown".
        return loss if loss is None or math.isfinite(loss) else None


class HeartbeatRequest(Message):
    """Proof of life for a lease, with optional progress."""

    attempt: Annotated[int, Field(ge=1)]
    lease_token: Identifier
    progress: Progress | None = None


class HeartbeatStatus(StrEnum):
    OK = "ok"
    CANCEL = "cancel"
    LEASE_LOST = "lease_lost"


class HeartbeatResponse(Message):
    """The controller's answer to a heartbeat.

    Attributes:
        status: ``ok`` (lease extended), ``cancel`` (the search was cancelled: stop and release)
            or ``lease_lost`` (the lease is not the worker's any more: stop, report nothing).
        lease_expires_at: The new expiry, with ``ok``.
        lease_seconds: Time left on the lease from this answer, with ``ok``.
        reason: Why, with ``lease_lost`` (e.g. ``lease_expired``).
    """

    status: HeartbeatStatus
    lease_expires_at: datetime | None = None
    lease_seconds: Annotated[float, Field(gt=0)] | None = None
    reason: ErrorReason | None = None

    @model_validator(mode="after")
    def _ok_has_expiry(self) -> HeartbeatResponse:
        if self.status is HeartbeatStatus.OK and self.lease_seconds is None:
            raise ValueError("an 'ok' heartbeat answer must say how long the lease lasts")
        return self


# --- reports and releases ------------------------------------------------------------------------


class MemberReport(Message):
    """The outcome of one member of a batch.

    Attributes:
        key: The member's key, as in the lease.
        status: ``ok``, or ``failed`` when this member alone could not be evaluated (e.g. it is
            missing from a benchmark table); ``error`` then says why.
        metrics: Every measured metric (finite numbers), including the objective's.
        objective: The value of the search's objective metric (required when ``ok``).
        fidelity: What the numbers measure (e.g. ``"supernet"``, ``"standalone"``, a table
            column); results of different fidelities are never mixed up.
        evaluator: The evaluator kind that produced them.
        timings: Seconds spent, by phase (``"train"``, ``"evaluate"``, ``"total"``...).
        error: Why the member failed.
    """

    key: Identifier
    status: Literal["ok", "failed"] = "ok"
    metrics: dict[str, float] = Field(default_factory=dict)
    objective: float | None = None
    fidelity: Annotated[str, Field(min_length=1, max_length=200)]
    evaluator: EvaluatorKind
    timings: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    error: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MemberReport:
        bad = [name for name, value in self.metrics.items() if not math.isfinite(value)]
        if bad:
            raise ValueError(f"metrics must be finite; not finite: {bad}")
        if self.status == "ok":
            if self.objective is None or not math.isfinite(self.objective):
                raise ValueError("an 'ok' member needs a finite objective")
        elif not self.error:
            raise ValueError("a 'failed' member needs an error message")
        return self


class ReportRequest(Message):
    """The results of a whole batch, under the lease that produced them.

    Attributes:
        attempt: The lease's attempt.
        lease_token: The lease's token.
        report_id: Idempotency key drawn once per report and reused on every retry of it.
        members: One entry per member of the batch, each key exactly once.
    """

    attempt: Annotated[int, Field(ge=1)]
    lease_token: Identifier
    report_id: Identifier
    members: Annotated[tuple[MemberReport, ...], Field(min_length=1)]

    @field_validator("members")
    @classmethod
    def _unique_keys(cls, members: tuple[MemberReport, ...]) -> tuple[MemberReport, ...]:
        _check_unique([m.key for m in members], "reported member")
        return members


class ReportResponse(Message):
    """The controller stored the report.

    Attributes:
        stored: Member results stored by this request (0 for a duplicate).
        duplicate: The same ``report_id`` had been stored before; nothing was stored again.
    """

    stored: Annotated[int, Field(ge=0)]
    duplicate: bool = False


class ReleaseReason(StrEnum):
    SHUTDOWN = "shutdown"
    """The daemon is stopping; the batch is re-queued without counting against it."""
    CANCELLED = "cancelled"
    """The worker acknowledges a cancelled search."""
    ERROR = "error"
    """The evaluation failed; the attempt counts, and the batch fails after too many."""


class ReleaseRequest(Message):
    """Give a leased batch back without results."""

    attempt: Annotated[int, Field(ge=1)]
    lease_token: Identifier
    reason: ReleaseReason
    message: Annotated[str, Field(max_length=4000)] | None = None


class ReleaseResponse(Message):
    """The controller took the batch back.

    Attributes:
        requeued: The batch went back to the queue (false when it failed for good, or its
            search was cancelled).
    """

    requeued: bool


def _check_unique(keys: list[str], what: str) -> None:
    seen: set[str] = set()
    repeated: set[str] = set()
    for key in keys:
        (repeated if key in seen else seen).add(key)
    if repeated:
        duplicates = sorted(repeated)
        raise ValueError(f"{what} keys must be unique; repeated: {duplicates}")
