"""The wire protocol: what the models accept, refuse, and how they travel as JSON."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from protocol import (
    HEARTBEAT_PATH,
    LEASE_PATH,
    REGISTER_PATH,
    RELEASE_PATH,
    REPORT_PATH,
    WORKERS_PREFIX,
    ErrorBody,
    ErrorReason,
    EvaluatorKind,
    EvaluatorSpec,
    HeartbeatResponse,
    HeartbeatStatus,
    Lease,
    LeaseResponse,
    MemberReport,
    Progress,
    RegisterRequest,
    RegisterResponse,
    ReportRequest,
    StandaloneEvaluatorSpec,
    TableEvaluatorSpec,
    TrainingOptions,
    WeightSharingEvaluatorSpec,
)
from workers.exceptions import (
    AuthenticationError,
    ControllerRejectedError,
    LeaseLostError,
    UnknownWorkerError,
    rejection_for,
)


def lease_json(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "batch_id": "b1",
        "attempt": 2,
        "lease_token": "tok",
        "lease_expires_at": "2030-01-01T00:00:00Z",
        "lease_seconds": 30.0,
        "heartbeat_interval_s": 5.0,
        "search_id": "s1",
        "space": {"type": "nb201"},
        "members": [{"key": "k1", "arch": {"cell": "x"}}, {"key": "k2", "arch": "y"}],
        "evaluator": {"kind": "table", "path": "t.csv", "objective_column": "acc"},
        "seed": 7,
    }
    body.update(changes)
    return body


def ok_member(key: str = "k1", **changes: Any) -> dict[str, Any]:
    member: dict[str, Any] = {
        "key": key,
        "metrics": {"acc": 0.9, "loss": 0.3},
        "objective": 0.9,
        "fidelity": "supernet",
        "evaluator": "weight_sharing",
        "timings": {"train": 1.5},
    }
    member.update(changes)
    return member


def test_lease_round_trips_through_json() -> None:
    lease = Lease.model_validate(lease_json())
    assert isinstance(lease.evaluator, TableEvaluatorSpec)
    assert lease.lease_expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    again = Lease.model_validate_json(lease.model_dump_json())
    assert again == lease
    assert (
        LeaseResponse.model_validate_json(LeaseResponse(lease=lease).model_dump_json()).lease
        == lease
    )


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ({"kind": "table", "path": "a.csv", "objective_column": "acc"}, TableEvaluatorSpec),
        ({"kind": "weight_sharing"}, WeightSharingEvaluatorSpec),
        (
            {
                "kind": "standalone",
                "dataset": {"name": "cifar10", "path": "d"},
                "train": {"epochs": 1},
            },
            StandaloneEvaluatorSpec,
        ),
    ],
)
def test_evaluator_spec_is_chosen_by_kind(spec: dict[str, Any], cls: type) -> None:
    parsed = TypeAdapter(EvaluatorSpec).validate_python(spec)
    assert type(parsed) is cls
    assert parsed.kind == EvaluatorKind(spec["kind"])


def test_weight_sharing_defaults_to_digits() -> None:
    spec = WeightSharingEvaluatorSpec()
    assert spec.dataset.name == "digits"
    assert spec.train == TrainingOptions()


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "oracle"},
        {"kind": "table", "objective_column": "acc"},  # no path
        {"kind": "table", "path": "a.csv", "objective_column": "acc", "colour": "red"},
    ],
)
def test_bad_evaluator_specs_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(EvaluatorSpec).validate_python(bad)


def test_lease_refuses_repeated_member_keys_and_empty_batches() -> None:
    with pytest.raises(ValidationError, match="repeated"):
        Lease.model_validate(lease_json(members=[{"key": "k", "arch": 1}, {"key": "k", "arch": 2}]))
    with pytest.raises(ValidationError):
        Lease.model_validate(lease_json(members=[]))
    with pytest.raises(ValidationError):
        Lease.model_validate(lease_json(attempt=0))


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Lease.model_validate(lease_json(priority=3))


def test_models_are_frozen() -> None:
    lease = Lease.model_validate(lease_json())
    with pytest.raises(ValidationError):
        setattr(lease, "attempt", 5)  # noqa: B010


def test_member_report_rules() -> None:
    assert MemberReport.model_validate(ok_member()).status == "ok"
    with pytest.raises(ValidationError, match="finite objective"):
        MemberReport.model_validate(ok_member(objective=None))
    with pytest.raises(ValidationError, match="finite objective"):
        MemberReport.model_validate(ok_member(objective=math.inf))
    with pytest.raises(ValidationError, match="not finite"):
        MemberReport.model_validate(ok_member(metrics={"loss": math.nan}))
    with pytest.raises(ValidationError, match="error message"):
        MemberReport.model_validate(ok_member(status="failed", objective=None))
    failed = MemberReport.model_validate(ok_member(status="failed", objective=None, error="gone"))
    assert failed.error == "gone"
    with pytest.raises(ValidationError):
        MemberReport.model_validate(ok_member(timings={"train": -1.0}))


def test_report_request_needs_each_member_once() -> None:
    body = {"attempt": 1, "lease_token": "t", "report_id": "r", "members": [ok_member("a")]}
    assert len(ReportRequest.model_validate(body).members) == 1
    body["members"] = [ok_member("a"), ok_member("a")]
    with pytest.raises(ValidationError, match="repeated"):
        ReportRequest.model_validate(body)


def test_progress_turns_a_diverged_loss_into_unknown() -> None:
    assert Progress(loss=math.nan).loss is None
    assert Progress(loss=0.5, step=3).loss == 0.5
    with pytest.raises(ValidationError):
        Progress(step=-1)


def test_register_response_heartbeat_must_fit_in_lease() -> None:
    with pytest.raises(ValidationError, match="shorter"):
        RegisterResponse(worker_id="w", lease_seconds=5, heartbeat_interval_s=5)
    assert RegisterResponse(worker_id="w", lease_seconds=5, heartbeat_interval_s=1).poll_interval_s


def test_ok_heartbeat_says_how_long_the_lease_lasts() -> None:
    with pytest.raises(ValidationError):
        HeartbeatResponse(status=HeartbeatStatus.OK)
    lost = HeartbeatResponse.model_validate({"status": "lease_lost", "reason": "lease_expired"})
    assert lost.reason is ErrorReason.LEASE_EXPIRED


def test_register_request_validates_worker_name() -> None:
    capabilities = {"device": "cpu", "hostname": "h", "pid": 1, "version": "0"}
    request = RegisterRequest.model_validate(
        {"name": "h-cpu", "instance_id": "i", "capabilities": capabilities}
    )
    assert set(request.capabilities.evaluators) == set(EvaluatorKind)
    with pytest.raises(ValidationError):
        RegisterRequest.model_validate(
            {"name": "bad name/../", "instance_id": "i", "capabilities": capabilities}
        )


def test_error_body_tolerates_extra_fields_but_needs_a_known_reason() -> None:
    body = ErrorBody.model_validate({"reason": "stale_attempt", "detail": "x", "trace": "t"})
    assert body.reason is ErrorReason.STALE_ATTEMPT
    with pytest.raises(ValidationError):
        ErrorBody.model_validate({"reason": "because", "detail": "x"})


def test_paths_live_under_the_workers_prefix() -> None:
    assert REGISTER_PATH == "/api/v1/workers/register"
    assert LEASE_PATH.format(worker_id="w1") == "/api/v1/workers/w1/lease"
    for template in (HEARTBEAT_PATH, REPORT_PATH, RELEASE_PATH):
        path = template.format(worker_id="w1", batch_id="b9")
        assert path.startswith(f"{WORKERS_PREFIX}/w1/batches/b9/")
    assert len({HEARTBEAT_PATH, REPORT_PATH, RELEASE_PATH}) == 3


def test_json_schemas_build_for_openapi() -> None:
    for model in (Lease, ReportRequest, RegisterRequest, HeartbeatResponse, ErrorBody):
        schema = model.model_json_schema()
        assert schema["type"] == "object"
        assert schema.get("additionalProperties") is False or model is ErrorBody


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (401, ErrorReason.UNAUTHORIZED, AuthenticationError),
        (403, None, AuthenticationError),
        (404, ErrorReason.UNKNOWN_WORKER, UnknownWorkerError),
        (404, ErrorReason.UNKNOWN_BATCH, LeaseLostError),
        (409, ErrorReason.LEASE_EXPIRED, LeaseLostError),
        (409, ErrorReason.STALE_ATTEMPT, LeaseLostError),
        (409, ErrorReason.ALREADY_REPORTED, LeaseLostError),
        (422, ErrorReason.INVALID_REPORT, ControllerRejectedError),
        (400, None, ControllerRejectedError),
    ],
)
def test_refusals_map_to_specific_errors(
    status: int, reason: ErrorReason | None, expected: type
) -> None:
    error = rejection_for(status, reason, "why")
    assert type(error) is expected
    assert error.status_code == status and error.reason is reason
    assert "why" in str(error)
