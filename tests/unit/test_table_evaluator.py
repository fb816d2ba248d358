"""The table evaluator: lookups in a benchmark CSV, member failures and batch failures."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from protocol import (
    BatchMember,
    EvaluatorKind,
    Lease,
    Progress,
    TableEvaluatorSpec,
    WeightSharingEvaluatorSpec,
)
from surrogate.spaces import get_space
from workers.data_roots import DataRoots
from workers.evaluators import EvaluatorContext, SpaceCache
from workers.evaluators.table import TableEvaluator
from workers.exceptions import EvaluationError, EvaluationStoppedError

NB201 = get_space("nb201")
ARCHS = [NB201.sample(np.random.default_rng(seed)) for seed in range(4)]


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_str", "valid_acc", "train_time"])
        writer.writerows(rows)


@pytest.fixture
def table_dir(tmp_path: Path) -> Path:
    rows = [(NB201.key(a), f"{60 + i}.5", f"{10 * (i + 1)}") for i, a in enumerate(ARCHS[:3])]
    rows[2] = (rows[2][0], "", "30")  # a row without the objective
    write_csv(tmp_path / "bench.csv", rows)
    return tmp_path


def make_lease(archs: list[Any], spec: Any, **changes: Any) -> Lease:
    fields: dict[str, Any] = {
        "batch_id": "b",
        "attempt": 1,
        "lease_token": "t",
        "lease_expires_at": datetime.now(UTC),
        "lease_seconds": 10.0,
        "heartbeat_interval_s": 1.0,
        "search_id": "s",
        "space": NB201.describe(),
        "members": [BatchMember(key=NB201.key(a), arch=NB201.to_json(a)) for a in archs],
        "evaluator": spec,
    }
    fields.update(changes)
    return Lease(**fields)


def evaluator(root: Path) -> TableEvaluator:
    return TableEvaluator(EvaluatorContext(data_roots=DataRoots.of([root])), SpaceCache())


def spec(**changes: Any) -> TableEvaluatorSpec:
    fields: dict[str, Any] = {"path": "bench.csv", "objective_column": "valid_acc", **changes}
    return TableEvaluatorSpec(**fields)


def test_members_get_their_rows_and_absent_ones_fail(table_dir: Path) -> None:
    progress: list[Progress] = []
    reports = evaluator(table_dir).evaluate(
        make_lease(ARCHS, spec()), progress.append, lambda: False
    )
    assert [r.key for r in reports] == [NB201.key(a) for a in ARCHS]
    first, second, no_value, absent = reports
    assert first.status == "ok" and first.objective == 60.5
    assert first.metrics == {"valid_acc": 60.5, "train_time": 10.0}
    assert first.fidelity == "valid_acc" and first.evaluator is EvaluatorKind.TABLE
    assert second.objective == 61.5
    assert no_value.status == "failed" and "no 'valid_acc' value" in (no_value.error or "")
    assert no_value.objective is None
    assert absent.status == "failed" and "not in the benchmark table" in (absent.error or "")
    assert [p.step for p in progress] == [0, 1, 2, 3, 4]
    assert progress[-1].total_steps == 4 and progress[0].phase == "lookup"


def test_metric_columns_and_fidelity_can_be_chosen(table_dir: Path) -> None:
    chosen = spec(metric_columns=("train_time",), fidelity="nb201-200ep")
    (report,) = evaluator(table_dir).evaluate(
        make_lease(ARCHS[:1], chosen), lambda p: None, lambda: False
    )
    assert report.metrics == {"train_time": 10.0}
    assert report.objective == 60.5 and report.fidelity == "nb201-200ep"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"path": "nowhere.csv"}, "'nowhere.csv': no such file under the data roots"),
        ({"objective_column": "test_acc"}, "objective column 'test_acc'"),
        ({"metric_columns": ("flops",)}, "flops"),
        ({"arch_column": "arch"}, "column 'arch' missing"),
    ],
)
def test_a_batch_that_cannot_be_looked_up_fails_as_a_whole(
    table_dir: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluator(table_dir).evaluate(
            make_lease(ARCHS, spec(**changes)), lambda p: None, lambda: False
        )


def test_a_key_that_disagrees_with_the_worker_fails_the_batch(table_dir: Path) -> None:
    lease = make_lease(ARCHS[:1], spec())
    wrong = lease.model_copy(
        update={"members": (BatchMember(key="not-the-key", arch=NB201.to_json(ARCHS[0])),)}
    )
    with pytest.raises(EvaluationError, match="does not match"):
        evaluator(table_dir).evaluate(wrong, lambda p: None, lambda: False)


def test_a_bad_space_or_architecture_fails_the_batch(table_dir: Path) -> None:
    with pytest.raises(EvaluationError, match="search space"):
        evaluator(table_dir).evaluate(
            make_lease(ARCHS[:1], spec(), space={"type": "nb999"}), lambda p: None, lambda: False
        )
    bad = make_lease(ARCHS[:1], spec()).model_copy(
        update={"members": (BatchMember(key="k", arch={"cell": "|bogus~0|"}),)}
    )
    with pytest.raises(EvaluationError, match="not an architecture"):
        evaluator(table_dir).evaluate(bad, lambda p: None, lambda: False)


def test_wrong_kind_of_batch_is_refused(table_dir: Path) -> None:
    with pytest.raises(EvaluationError, match="weight_sharing"):
        evaluator(table_dir).evaluate(
            make_lease(ARCHS[:1], WeightSharingEvaluatorSpec()), lambda p: None, lambda: False
        )


def test_stops_between_lookups(table_dir: Path) -> None:
    calls = iter([False, True])
    with pytest.raises(EvaluationStoppedError, match="after 1 of 4"):
        evaluator(table_dir).evaluate(
            make_lease(ARCHS, spec()), lambda p: None, lambda: next(calls)
        )


def test_the_table_is_read_once_and_again_when_the_file_changes(table_dir: Path) -> None:
    ev = evaluator(table_dir)
    first = ev.table(spec(), NB201)
    assert ev.table(spec(), NB201) is first
    path = table_dir / "bench.csv"
    write_csv(path, [(NB201.key(ARCHS[0]), "99.0", "1")])
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = ev.table(spec(), NB201)
    assert second is not first and second.value(ARCHS[0], "valid_acc") == 99.0


def test_the_table_is_looked_up_under_every_data_root_in_turn(
    table_dir: Path, tmp_path_factory: Any
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    ev = TableEvaluator(EvaluatorContext(data_roots=DataRoots.of([elsewhere, table_dir])))
    (report,) = ev.evaluate(make_lease(ARCHS[:1], spec()), lambda p: None, lambda: False)
    assert report.objective == 60.5


def test_a_worker_without_data_roots_reads_no_table(table_dir: Path) -> None:
    with pytest.raises(EvaluationError, match="no data roots are configured"):
        TableEvaluator(EvaluatorContext()).evaluate(
            make_lease(ARCHS[:1], spec()), lambda p: None, lambda: False
        )
