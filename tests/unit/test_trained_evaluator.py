"""The training evaluators' translation between the wire and `workers.training`."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from protocol import (
    BatchMember,
    DatasetSpec,
    EvaluatorKind,
    Lease,
    StandaloneEvaluatorSpec,
    WeightSharingEvaluatorSpec,
)
from surrogate.spaces import get_space
from workers.data_roots import DataRoots
from workers.evaluators import EvaluatorContext, create_evaluator
from workers.evaluators.standalone import StandaloneEvaluator
from workers.evaluators.weight_sharing import WeightSharingEvaluator
from workers.exceptions import EvaluationError, EvaluationStoppedError
from workers.training import MemberResult

NB201 = get_space("nb201")


def make_lease(spec: Any, seed: int = 5) -> Lease:
    archs = [NB201.sample(np.random.default_rng(s)) for s in range(2)]
    return Lease(
        batch_id="b",
        attempt=1,
        lease_token="t",
        lease_expires_at=datetime.now(UTC),
        lease_seconds=10.0,
        heartbeat_interval_s=1.0,
        search_id="s",
        space=NB201.describe(),
        members=tuple(BatchMember(key=NB201.key(a), arch=NB201.to_json(a)) for a in archs),
        evaluator=spec,
        seed=seed,
    )


def test_create_evaluator_builds_each_training_kind() -> None:
    context = EvaluatorContext()
    assert isinstance(
        create_evaluator(EvaluatorKind.WEIGHT_SHARING, context), WeightSharingEvaluator
    )
    assert isinstance(create_evaluator(EvaluatorKind.STANDALONE, context), StandaloneEvaluator)


def test_train_options_take_method_from_the_kind_and_seed_from_the_lease() -> None:
    evaluator = WeightSharingEvaluator(EvaluatorContext())
    spec = WeightSharingEvaluatorSpec(train={"epochs": 2, "channels": 4})
    options = evaluator.train_options(spec, seed=7)
    assert options.method == "weight_sharing" and options.seed == 7
    assert options.epochs == 2 and options.channels == 4
    standalone = StandaloneEvaluator(EvaluatorContext())
    assert standalone.train_options(StandaloneEvaluatorSpec(), 1).method == "standalone"


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"method": "standalone"}, "train.method is set by the search"),
        ({"seed": 99}, "train.seed is set by the search"),
        ({"learning_rate": 0.1}, "unknown training options"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_train_options_are_refused_when_the_lease_is_parsed(
    train: dict[str, Any], message: str
) -> None:
    # The lease's own model validates the options: no evaluator parses them a second time.
    good = make_lease(WeightSharingEvaluatorSpec()).model_dump(mode="json")
    bad = {**good, "evaluator": {**good["evaluator"], "train": train}}
    with pytest.raises(ValidationError, match=message):
        Lease.model_validate_json(json.dumps(bad))


def test_dataset_paths_resolve_on_the_worker_and_options_pass_through(tmp_path: Path) -> None:
    evaluator = WeightSharingEvaluator(EvaluatorContext(data_roots=DataRoots.of([tmp_path])))
    cifar = DatasetSpec(name="cifar10", path="cifar", options={"max_train": 10})
    with pytest.raises(EvaluationError, match="'cifar': no such file under the data roots"):
        evaluator.dataset(cifar)
    (tmp_path / "cifar").mkdir()
    with pytest.raises(EvaluationError, match="cannot load dataset 'cifar10'") as caught:
        evaluator.dataset(cifar)
    assert "no CIFAR training batches" in str(caught.value)
    assert str(tmp_path) not in str(caught.value)  # the worker's own paths are not shown
    with pytest.raises(EvaluationError, match="bad dataset description"):
        evaluator.dataset(DatasetSpec(name="digits", options={"colour": True}))
    with pytest.raises(EvaluationError, match="bad dataset description"):
        evaluator.dataset(DatasetSpec(name="mnist"))


def test_loaded_datasets_are_kept_between_batches() -> None:
    evaluator = WeightSharingEvaluator(EvaluatorContext())
    spec = DatasetSpec(name="digits", options={"val_fraction": 0.2})
    assert evaluator.dataset(spec) is evaluator.dataset(spec)


def test_a_stop_request_stops_before_training() -> None:
    evaluator = WeightSharingEvaluator(EvaluatorContext())
    spec = WeightSharingEvaluatorSpec(train={"steps_per_member": 5, "warmup_epochs": 0})
    with pytest.raises(EvaluationStoppedError):
        evaluator.evaluate(make_lease(spec), lambda p: None, lambda: True)


def test_the_other_kind_of_batch_is_refused() -> None:
    with pytest.raises(EvaluationError, match="cannot run a standalone batch"):
        WeightSharingEvaluator(EvaluatorContext()).evaluate(
            make_lease(StandaloneEvaluatorSpec()), lambda p: None, lambda: False
        )


def test_results_become_reports_and_a_diverged_member_fails() -> None:
    evaluator = WeightSharingEvaluator(EvaluatorContext())
    good = MemberResult(
        key="k1",
        arch=None,
        metrics={"val_accuracy": 80.0, "val_loss": math.nan, "params": 100},
        timings={"train_s": 1.0, "odd_s": -1.0},
    )
    report = evaluator._report(good, "val_accuracy", "supernet")
    assert report.status == "ok" and report.objective == 80.0
    assert report.metrics == {"val_accuracy": 80.0, "params": 100.0}
    assert report.timings == {"train_s": 1.0}
    diverged = MemberResult(key="k2", arch=None, metrics={"val_accuracy": math.nan})
    failed = evaluator._report(diverged, "val_accuracy", "supernet")
    assert failed.status == "failed" and "diverged" in (failed.error or "")
    with pytest.raises(EvaluationError, match="measured no 'top5'"):
        evaluator._report(good, "top5", "supernet")
