"""The dashboard's chart computations: the exact random-search baseline, the best-so-far steps
and their thinning, grid thinning of scatters, the Pareto front, and the small-sample tau."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from service.dashboard.baseline import (
    TableUnavailableError,
    TableValuesCache,
    draw_counts,
    expected_best,
)
from service.dashboard.scatter import pareto_front, thin_scatter
from service.dashboard.series import Result, best_steps, thin_indices
from service.search_spec import SearchSpec
from surrogate.ranking import kendall_tau
from surrogate.spaces import get_space

# --- the random-search baseline ----------------------------------------------------------------


def brute_force_best(values: list[float], n: int, maximize: bool) -> float:
    """E[best of n draws without replacement], by enumerating every subset."""
    pick = max if maximize else min
    subsets = list(itertools.combinations(values, n))
    return statistics.fmean(pick(s) for s in subsets)


@pytest.mark.parametrize("maximize", [True, False])
@pytest.mark.parametrize(
    "values",
    [
        [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0],  # with a tie
        [0.5, 0.5, 0.5],  # constant
        [7.0],
        [-2.0, 10.0, 3.5, 3.5, 3.5, 0.0, 8.25, -1.0, 4.0],
    ],
)
def test_expected_best_equals_enumeration_of_every_subset(
    values: list[float], maximize: bool
) -> None:
    sizes = list(range(1, len(values) + 1))
    got = expected_best(values, sizes, maximize=maximize)
    for n, value in zip(sizes, got, strict=True):
        assert value == pytest.approx(brute_force_best(values, n, maximize), rel=1e-12, abs=1e-12)


def test_expected_best_is_the_mean_for_one_draw_and_the_best_for_all() -> None:
    values = list(np.random.default_rng(0).uniform(10, 92, 15_625))
    first, last = expected_best(values, [1, len(values)], maximize=True)
    assert first == pytest.approx(statistics.fmean(values), rel=1e-9)
    assert last == pytest.approx(max(values), rel=1e-12)


def test_expected_best_rises_with_draws_and_stays_below_the_best() -> None:
    values = list(np.random.default_rng(1).normal(size=2000))
    sizes = draw_counts(2000, 300)
    curve = expected_best(values, sizes, maximize=True)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(curve))
    assert max(curve) <= max(values) + 1e-12


def test_expected_best_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        expected_best([], [1], maximize=True)
    with pytest.raises(ValueError, match="outside"):
        expected_best([1.0, 2.0], [3], maximize=True)
    with pytest.raises(ValueError, match="finite"):
        expected_best([1.0, math.nan], [1], maximize=True)


def test_draw_counts_are_dense_then_spaced_and_end_at_the_limit() -> None:
    assert draw_counts(50, 400) == list(range(1, 51))
    counts = draw_counts(10_000, 400)
    assert len(counts) <= 400
    assert counts[:100] == list(range(1, 101))
    assert counts == sorted(set(counts))
    assert counts[-1] == 10_000
    assert draw_counts(0, 10) == []


def table_spec(path: str, **overrides: object) -> SearchSpec:
    body: dict[str, object] = {
        "name": "t",
        "space": "nb201",
        "evaluator": {"kind": "table", "path": path},
        "objective": {"metric": "acc"},
        "budget": {"evaluations": 10},
        "batch_size": 2,
        "strategy": {"name": "random"},
    }
    body.update(overrides)
    return SearchSpec.model_validate(body)


def write_table(path: Path, rows: int) -> list[float]:
    space = get_space("nb201")
    values = []
    with path.open("w") as handle:
        handle.write("arch_str,acc\n")
        for index, arch in enumerate(itertools.islice(space.enumerate(), rows)):
            value = 50.0 + (index * 7919 % 101) / 4
            values.append(value)
            handle.write(f"{space.to_json(arch)['cell']},{value}\n")
    return values


def test_table_values_are_read_relative_to_the_data_root_and_cached(tmp_path: Path) -> None:
    values = write_table(tmp_path / "nb.csv", 40)
    cache = TableValuesCache([tmp_path])
    found = cache.values(table_spec("nb.csv"))
    assert sorted(found.values) == sorted(values)
    assert cache.values(table_spec("nb.csv")) is found  # same file version: not read again
    curve = cache.expected_best(found, [1, 40], maximize=True)
    assert curve == pytest.approx([statistics.fmean(values), max(values)])


def test_table_values_say_why_they_are_unavailable(tmp_path: Path) -> None:
    cache = TableValuesCache([tmp_path])
    with pytest.raises(TableUnavailableError, match="no such file under the data roots"):
        cache.values(table_spec("missing.csv"))
    with pytest.raises(TableUnavailableError, match="no data roots are configured"):
        TableValuesCache().values(table_spec("missing.csv"))
    write_table(tmp_path / "nb.csv", 5)
    constrained = table_spec(
        "nb.csv",
        constraints=[{"metric": "acc", "max": 60}],
        evaluator={"kind": "table", "path": "nb.csv", "report_columns": ["acc"]},
    )
    with pytest.raises(TableUnavailableError, match="constraints"):
        cache.values(constrained)
    other = table_spec("nb.csv", objective={"metric": "other"})
    with pytest.raises(TableUnavailableError, match="column 'other' missing"):
        cache.values(other)
    training = SearchSpec.model_validate(
        {
            "name": "w",
            "evaluator": {"kind": "weight_sharing"},
            "budget": {"evaluations": 4},
            "batch_size": 2,
        }
    )
    with pytest.raises(TableUnavailableError, match="table evaluator"):
        cache.values(training)


# --- best so far and its thinning ----------------------------------------------------------------


def results(values: list[float | None], feasible: list[bool] | None = None) -> list[Result]:
    flags = feasible or [True] * len(values)
    return [
        Result(architecture_id=i + 100, objective=v, feasible=f and v is not None, source="bo")
        for i, (v, f) in enumerate(zip(values, flags, strict=True))
    ]


def test_best_steps_follow_the_objective_direction_and_skip_failures() -> None:
    data = results([3.0, None, 2.0, 5.0, 5.0, 1.0, 7.0], [True] * 6 + [False])
    up = best_steps(data, maximize=True)
    assert [(s.index, s.value) for s in up] == [(1, 3.0), (4, 5.0)]  # 7.0 breaks a constraint
    down = best_steps(data, maximize=False)
    assert [(s.index, s.value, s.architecture_id) for s in down] == [
        (1, 3.0, 100),
        (3, 2.0, 102),
        (6, 1.0, 105),
    ]


def test_small_runs_are_not_thinned() -> None:
    data = results([1.0, None, 2.0])
    assert thin_indices(data, best_steps(data, maximize=True), cap=10) == (0, 2)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=3000),
    st.integers(10, 400),
    st.booleans(),
)
def test_thinning_keeps_every_step_the_ends_and_each_slices_extremes(
    values: list[float], cap: int, maximize: bool
) -> None:
    data = results(list(values))
    steps = best_steps(data, maximize=maximize)
    kept = thin_indices(data, steps, cap)
    assert len(kept) <= max(cap, len(values) if len(values) <= cap else cap)
    assert list(kept) == sorted(set(kept))
    if len(steps) + 2 <= cap:
        assert {s.index - 1 for s in steps} <= set(kept)
        assert {0, len(values) - 1} <= set(kept)
    if len(values) > cap:
        assert values.index(max(values)) in kept or max(values) in [values[i] for i in kept]
        assert min(values) in [values[i] for i in kept]


# --- scatters ------------------------------------------------------------------------------------


def dominated(i: int, costs: list[float], values: list[float], maximize: bool) -> bool:
    sign = 1 if maximize else -1
    return any(
        costs[j] <= costs[i]
        and sign * values[j] >= sign * values[i]
        and (costs[j] < costs[i] or sign * values[j] > sign * values[i])
        for j in range(len(costs))
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20).map(float), st.integers(0, 20).map(float)),
        min_size=1,
        max_size=60,
    ),
    st.booleans(),
)
def test_pareto_front_is_exactly_the_undominated_points_up_to_ties(
    points: list[tuple[float, float]], maximize: bool
) -> None:
    costs = [c for c, _ in points]
    values = [v for _, v in points]
    front = pareto_front(costs, values, maximize=maximize)
    assert [costs[i] for i in front] == sorted(costs[i] for i in front)
    for i in front:
        assert not dominated(i, costs, values, maximize)
    undominated = {(costs[i], values[i]) for i in range(len(points))} - {
        (costs[i], values[i]) for i in range(len(points)) if dominated(i, costs, values, maximize)
    }
    assert {(costs[i], values[i]) for i in front} == undominated  # one per distinct point


def test_thin_scatter_caps_points_keeps_the_asked_ones_and_covers_the_extent() -> None:
    rng = np.random.default_rng(3)
    xs = list(rng.normal(size=20_000))
    ys = list(rng.normal(size=20_000))
    keep = [5, 17, 19_999]
    kept = thin_scatter(xs, ys, cap=500, keep=keep)
    assert len(kept) <= 500 + len(keep)
    assert set(keep) <= set(kept)
    assert len(kept) > 250  # the grid is as fine as the cap allows
    assert min(xs[i] for i in kept) < -3 and max(xs[i] for i in kept) > 3
    assert thin_scatter(xs[:100], ys[:100], cap=500) == tuple(range(100))
    assert thin_scatter(xs, ys, cap=500, keep=keep) == kept  # deterministic


# --- tau -----------------------------------------------------------------------------------------


def test_small_sample_tau_is_scipys_tau_b_with_ties() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(2, 80))
        x = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.normal(size=n)
        y = rng.integers(0, 3, n).astype(float) if trial % 3 else rng.normal(size=n)
        mine = kendall_tau(list(x), list(y))
        constant = len(set(x)) < 2 or len(set(y)) < 2
        reference = None if n < 3 or constant else float(kendalltau(x, y).statistic)
        if reference is None or not math.isfinite(reference):
            assert mine is None
        else:
            assert mine == pytest.approx(reference, abs=1e-12)
