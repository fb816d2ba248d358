"""NAS-Bench-101's own network, priced by `nb101_benchmark_cost`, has the benchmark's parameter
counts exactly, and NASLib's FLOPs once the global pooling (which NASLib's network computes
with a functional mean that its counter does not see) is left out."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest

from surrogate.costs import NB101_NETWORK, nb101_benchmark_cost
from surrogate.costs.counting import FeatureMap, global_average_pool
from surrogate.spaces.nb101 import NasBench101Space
from tests.conftest import require_shared_file

pytestmark = pytest.mark.data

OPERATIONS = {
    -1: "input",
    -2: "output",
    0: "conv3x3-bn-relu",
    1: "conv1x1-bn-relu",
    2: "maxpool3x3",
}
PADDING = -3


def _matches_printed(count: int, printed: str) -> bool:
    value = Decimal(printed)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return abs(Decimal(count) / 10**6 - value) <= Decimal(5) * Decimal(10) ** (exponent - 1)


def test_params_equal_the_benchmarks_trainable_parameters_on_1000_cells() -> None:
    path = require_shared_file("nasbench101/source/nasbench-vis/data-1k.json")
    data = json.loads(path.read_text())
    space = NasBench101Space()
    rows = list(
        zip(data["operations"], data["adjacency"], data["trainable_parameters"], strict=True)
    )
    assert len(rows) == 1_000
    mismatched = []
    for labels, adjacency, expected in rows:
        ops = [OPERATIONS[label] for label in labels if label != PADDING]
        matrix = [row[: len(ops)] for row in adjacency[: len(ops)]]
        cell = space.from_json({"matrix": matrix, "ops": ops})
        if nb101_benchmark_cost(space, cell, NB101_NETWORK).params != expected:
            mismatched.append((ops, matrix))
    assert mismatched == []


def test_params_and_flops_match_naslibs_figures() -> None:
    path = require_shared_file("nasbench101/nb101_subsets.csv")
    with path.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["naslib_flops_M"]]
    assert len(rows) == 500
    space = NasBench101Space()
    final = FeatureMap(4 * NB101_NETWORK.channels, 8, 8)
    unseen_pool = global_average_pool(final).flops
    mismatched = []
    for row in rows:
        cell = space.from_json(
            {"matrix": json.loads(row["adjacency"]), "ops": json.loads(row["ops"])}
        )
        cost = nb101_benchmark_cost(space, cell, NB101_NETWORK)
        if not (
            _matches_printed(cost.params, row["naslib_params_M"])
            and _matches_printed(cost.flops - unseen_pool, row["naslib_flops_M"])
        ):
            mismatched.append(row["nb101_hash"])
    assert mismatched == []
