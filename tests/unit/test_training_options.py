"""Issue #14: training options are one typed model, validated once and shown in the OpenAPI schema.

`protocol.TrainingOptions` is the type of a search's ``evaluator.train`` and of a lease's; the
service validates it at submission without the worker's packages, the worker's parse of the lease
is its validation, and the trainer's `TrainOptions` is that model plus the method and the seed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from protocol import BatchMember, Lease, TrainingOptions, WeightSharingEvaluatorSpec
from service.app import create_app
from service.search_spec import SearchSpec, build_evaluator_spec
from service.settings import Settings
from workers.evaluators import EvaluatorContext
from workers.evaluators.standalone import StandaloneEvaluator
from workers.training import TrainOptions

REPO_ROOT = Path(__file__).resolve().parents[2]


def _trained_spec(train: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "trained",
        "space": "nb201",
        "evaluator": {"kind": "standalone", "train": train},
        "budget": {"evaluations": 4},
        "batch_size": 2,
        "strategy": {"name": "random"},
    }


def test_the_openapi_schema_shows_every_training_option_with_its_bounds() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url="sqlite://", admin_token="test-admin-" + "x" * 24
    )
    schemas = create_app(settings, run_controller=False).openapi()["components"]["schemas"]
    options = schemas["TrainingOptions"]
    assert options["type"] == "object" and options["additionalProperties"] is False
    properties = options["properties"]
    assert set(properties) == set(TrainingOptions.model_fields)
    assert properties["epochs"] == {
        "default": 10,
        "maximum": 1000,
        "minimum": 0,
        "title": "Epochs",
        "type": "integer",
    }
    assert properties["channels"]["maximum"] == 256 and properties["channels"]["minimum"] == 1
    assert properties["batch_size"]["maximum"] == 4096
    assert properties["lr"]["type"] == "number" and properties["lr"]["minimum"] == 0
    assert properties["schedule"]["enum"] == ["fair", "random"]
    assert "seed" not in properties and "method" not in properties
    # The submitted spec and the lease a worker receives name the same model.
    for holder in ("WeightSharingEvaluator", "StandaloneEvaluator", "WeightSharingEvaluatorSpec"):
        assert schemas[holder]["properties"]["train"] == {
            "$ref": "#/components/schemas/TrainingOptions"
        }


def test_the_defaults_are_those_the_trainer_had() -> None:
    assert TrainingOptions().model_dump() == {
        "epochs": 10,
        "warmup_epochs": 1,
        "steps_per_member": None,
        "schedule": "fair",
        "batch_size": 64,
        "eval_batch_size": 256,
        "lr": 0.025,
        "momentum": 0.9,
        "weight_decay": 3e-4,
        "grad_clip": 5.0,
        "channels": 8,
        "cells_per_stage": 1,
        "calibration_batches": 4,
        "amp": True,
        "channels_last": True,
        "log_every": 10,
        "cpu_threads": 1,
        "measure_latency": False,
        "latency_batch_size": 64,
    }


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"channels": 512}, "channels is 512, above its maximum of 256"),
        ({"epochs": 0}, "epochs must be >= 1 unless steps_per_member is set"),
        ({"lrr": 0.1}, "unknown training options ['lrr']; accepted: epochs, warmup_epochs"),
        ({"seed": 1}, "train.seed is set by the search"),
        ({"method": "standalone"}, "train.method is set by the search"),
        ({"lr": -0.1}, "lr\n  Input should be greater than or equal to 0"),
        ({"cpu_threads": 0}, "cpu_threads\n  Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_option_is_refused_with_a_message_naming_it(
    train: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingOptions.model_validate(train)
    assert message in str(caught.value)


def test_options_are_frozen() -> None:
    options = TrainingOptions(epochs=2)
    with pytest.raises(ValidationError):
        options.epochs = 3  # type: ignore[misc]


def test_a_spec_stored_with_the_old_keys_loads_and_reaches_the_lease_typed() -> None:
    # Before issue #14 the store kept only the options a user gave (a free mapping).
    stored = SearchSpec.model_validate(_trained_spec({})).stored()
    stored["evaluator"]["train"] = {"epochs": 2, "channels": 4, "steps_per_member": 3}
    spec = SearchSpec.from_stored(stored)
    assert spec.evaluator.kind == "standalone"
    assert isinstance(spec.evaluator.train, TrainingOptions)
    lease_spec = build_evaluator_spec(spec)
    assert lease_spec.train == TrainingOptions(epochs=2, channels=4, steps_per_member=3)
    # A lease written by an older controller (the same partial mapping) parses the same way.
    old_wire = {"kind": "weight_sharing", "train": {"epochs": 2, "channels": 4}}
    parsed = WeightSharingEvaluatorSpec.model_validate_json(json.dumps(old_wire))
    assert parsed.train == TrainingOptions(epochs=2, channels=4)


def test_the_worker_receives_typed_options_and_only_adds_method_and_seed() -> None:
    spec = SearchSpec.model_validate(_trained_spec({"epochs": 3, "schedule": "random"}))
    lease = Lease(
        batch_id="b",
        attempt=1,
        lease_token="t",
        lease_expires_at=datetime.now(UTC),
        lease_seconds=10.0,
        heartbeat_interval_s=1.0,
        search_id="s",
        space={"type": "nb201"},
        members=(BatchMember(key="k", arch="|none~0|"),),
        evaluator=build_evaluator_spec(spec),
        seed=11,
    )
    received = Lease.model_validate_json(lease.model_dump_json())  # as the daemon parses it
    assert isinstance(received.evaluator.train, TrainingOptions)
    assert received.evaluator.kind == "standalone"
    options = StandaloneEvaluator(EvaluatorContext()).train_options(received.evaluator, 11)
    assert isinstance(options, TrainOptions)
    assert options.method == "standalone" and options.seed == 11
    assert options.epochs == 3 and options.schedule == "random"
    assert options.model_dump(exclude={"method", "seed"}) == received.evaluator.train.model_dump()
    # One definition: the trainer's configuration is the protocol model plus two fields.
    assert set(TrainOptions.model_fields) == {*TrainingOptions.model_fields, "method", "seed"}


@pytest.mark.slow
def test_validating_a_training_spec_loads_nothing_of_the_worker() -> None:
    script = (
        "import json, sys\n"
        "from service.search_spec import SearchSpec\n"
        f"SearchSpec.model_validate(json.loads({json.dumps(json.dumps(_trained_spec({})))}))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('workers'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
